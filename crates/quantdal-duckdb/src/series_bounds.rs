//! The newest time held per series, so that a save whose every row is newer than its own series' newest
//! is known to replace nothing and appends without the delete-by-key pass.
//!
//! A live feed's series each move forward, but they are not in step: one writer's batch often starts before
//! another writer's last tick, so the table's newest time alone rarely proves that a save only appends, and
//! each group commit then paid a delete joining the batch against the table's recent rows.

use arrow::array::{AsArray, RecordBatch};
use arrow::buffer::ScalarBuffer;
use arrow::compute;
use arrow::datatypes::{DataType, Int64Type};
use arrow_row::{RowConverter, Rows, SortField};
use quantdal_core::fnv::ShortKeyMap;
use quantdal_core::{Result, TableSpec};

/// Series remembered per table at most: about 64 bytes each (the encoded key, a time, the map's slot), so at
/// most ~17 MB a table. Past it, the map is cleared and the floor raised to the table's newest time, which
/// bounds every series: saves stay correct and only lose the shortcut until the map fills again.
const MAX_SERIES: usize = 262_144;

/// Upper bounds on the time of every row held, per series. Exact after saves; still bounds after deletes.
#[derive(Debug, Default)]
pub(crate) struct SeriesBounds {
    /// Every row of a series absent from `newest` has its time at or before this; `None`: no such row.
    floor: Option<i64>,
    /// Per series (its key columns in arrow's row encoding): no row of it is newer than this.
    newest: ShortKeyMap<Box<[u8]>, i64>,
}

/// A batch's series keys and times (class ticks; days for DATE), row by row.
pub(crate) struct SeriesTimes {
    series: Rows,
    times: ScalarBuffer<i64>,
}

impl SeriesTimes {
    /// `None` when the class has no series columns (its key is the time alone) or no time column in it.
    pub(crate) fn of(
        spec: &TableSpec,
        batch: &RecordBatch,
        time_index: usize,
    ) -> Result<Option<SeriesTimes>> {
        let columns = spec
            .series_columns()
            .iter()
            .map(|name| spec.column_index(name).map(|i| batch.column(i).clone()))
            .collect::<Option<Vec<_>>>();
        let Some(columns) = columns.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let converter = RowConverter::new(
            columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let series = converter.convert_columns(&columns)?;
        let times = compute::cast(batch.column(time_index), &DataType::Int64)?;
        // The cast of a timestamp only relabels its buffer; this clone shares it.
        let times = times.as_primitive::<Int64Type>().values().clone();
        Ok(Some(SeriesTimes { series, times }))
    }
}

impl SeriesBounds {
    /// Bounds for a table whose rows are all at or before `newest_held` (`None`: it is empty).
    pub(crate) fn starting_at(newest_held: Option<i64>) -> SeriesBounds {
        SeriesBounds {
            floor: newest_held,
            newest: ShortKeyMap::default(),
        }
    }

    fn bound(&self, series: &[u8]) -> Option<i64> {
        self.newest.get(series).copied().or(self.floor)
    }

    /// Whether every row is newer than everything its series holds: then no key of the batch is held.
    pub(crate) fn all_newer(&self, batch: &SeriesTimes) -> bool {
        batch
            .series
            .iter()
            .zip(batch.times.iter())
            .all(|(series, &t)| self.bound(series.as_ref()).is_none_or(|b| t > b))
    }

    /// Takes in a batch that was written. `table_newest` bounds every row of the table after the write.
    pub(crate) fn record(&mut self, batch: &SeriesTimes, table_newest: Option<i64>) {
        for (series, &t) in batch.series.iter().zip(batch.times.iter()) {
            let key = series.as_ref();
            match self.newest.get_mut(key) {
                Some(b) => *b = (*b).max(t),
                None => {
                    let b = self.floor.map_or(t, |f| f.max(t));
                    self.newest.insert(key.into(), b);
                }
            }
        }
        if self.newest.len() > MAX_SERIES {
            *self = SeriesBounds::starting_at(table_newest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn times(symbols: &[&str], ts: &[i64]) -> SeriesTimes {
        let schema = Arc::new(Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new("ts", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(symbols.to_vec())),
                Arc::new(Int64Array::from(ts.to_vec())),
            ],
        )
        .unwrap();
        let converter = RowConverter::new(vec![SortField::new(DataType::Utf8)]).unwrap();
        SeriesTimes {
            series: converter
                .convert_columns(&[batch.column(0).clone()])
                .unwrap(),
            times: ScalarBuffer::from(ts.to_vec()),
        }
    }

    #[test]
    fn series_out_of_step_still_append() {
        let mut bounds = SeriesBounds::starting_at(None);
        let first = times(&["A", "A", "B"], &[10, 11, 50]);
        assert!(bounds.all_newer(&first), "an empty table holds no key");
        bounds.record(&first, Some(50));
        // A is behind B's newest tick, but ahead of its own.
        assert!(bounds.all_newer(&times(&["A", "B"], &[12, 51])));
        assert!(!bounds.all_newer(&times(&["A"], &[11])), "A's 11 is held");
        assert!(!bounds.all_newer(&times(&["B", "A"], &[60, 5])));
    }

    #[test]
    fn unseen_series_are_bounded_by_the_floor() {
        let mut bounds = SeriesBounds::starting_at(Some(100));
        assert!(!bounds.all_newer(&times(&["C"], &[100])), "C may hold 100");
        assert!(bounds.all_newer(&times(&["C"], &[101])));
        bounds.record(&times(&["C"], &[101]), Some(101));
        assert!(bounds.all_newer(&times(&["C"], &[102])));
        assert!(
            !bounds.all_newer(&times(&["D"], &[100])),
            "D keeps the floor"
        );
    }

    #[test]
    fn bounds_at_the_largest_time_never_prove_an_append() {
        // What the writer keeps after a failed write, until it reads the table again.
        let mut bounds = SeriesBounds::starting_at(Some(i64::MAX));
        bounds.record(&times(&["A"], &[5]), Some(i64::MAX));
        assert!(!bounds.all_newer(&times(&["A"], &[6])));
        assert!(!bounds.all_newer(&times(&["B"], &[i64::MAX - 1])));
    }

    #[test]
    fn a_full_map_falls_back_to_the_table_bound() {
        let mut bounds = SeriesBounds::starting_at(None);
        bounds.newest = (0..MAX_SERIES as u32)
            .map(|i| (Box::<[u8]>::from(i.to_be_bytes().as_slice()), 1))
            .collect();
        bounds.record(&times(&["A"], &[7]), Some(7));
        assert!(bounds.newest.is_empty());
        assert!(!bounds.all_newer(&times(&["Z"], &[7])));
        assert!(bounds.all_newer(&times(&["Z"], &[8])));
    }
}
