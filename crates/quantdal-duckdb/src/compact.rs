//! DuckDB's Arrow batches regrouped into larger ones, in buffers of their own.
//!
//! DuckDB hands a result over in 2,048-row batches imported through the C Data Interface. Each carries its
//! buffers' spare capacity (offsets and string data grown to a power of two: about a fifth above the data
//! for ticks), and its columns are freed only together, when the last of them is dropped. Joined into
//! batches of about [`GROUP_BYTES`], a result is smaller to hold (an ordered chunk is held whole), cheaper
//! per batch for its consumer, and each column can be freed on its own (a DataFrame conversion drops a
//! column once it is converted: `quantdal_core::columns`).

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

use quantdal_core::{Error, Result};

use crate::errors::from_duckdb;
use crate::sql::Statement;

/// Bytes of DuckDB's batches joined into one.
pub const GROUP_BYTES: usize = 4 << 20;

/// Runs `statement` on the prepared `stmt` and streams its result, regrouped.
pub fn stream<'s>(
    stmt: &'s mut duckdb::Statement<'_>,
    statement: &Statement,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + 's> {
    let batches = stmt
        .stream_arrow(duckdb::params_from_iter(statement.params.iter()))
        .map_err(from_duckdb)?;
    Ok(regrouped(batches.map(|b| b.map_err(from_duckdb))))
}

/// `batches` joined into batches of about [`GROUP_BYTES`], in order; empty batches are skipped, the first
/// error ends the iteration.
pub fn regrouped<I>(batches: I) -> Regrouped<I>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    Regrouped {
        batches,
        group: Vec::new(),
        bytes: 0,
        done: false,
    }
}

pub struct Regrouped<I> {
    batches: I,
    group: Vec<RecordBatch>,
    bytes: usize,
    done: bool,
}

impl<I: Iterator<Item = Result<RecordBatch>>> Iterator for Regrouped<I> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        while self.bytes < GROUP_BYTES {
            match self.batches.next() {
                Some(Ok(batch)) if batch.num_rows() == 0 => {}
                Some(Ok(batch)) => {
                    self.bytes += batch.get_array_memory_size();
                    self.group.push(batch);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        self.bytes = 0;
        join(std::mem::take(&mut self.group)).transpose()
    }
}

/// The group as one batch in new buffers. A group of one batch is handed on as it is (`concat` would
/// return a slice of it, not a copy); only a result's last group can be one batch.
fn join(group: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
    let Some(first) = group.first() else {
        return Ok(None);
    };
    if group.len() == 1 {
        return Ok(group.into_iter().next());
    }
    concat_batches(&first.schema(), &group)
        .map(Some)
        .map_err(|e| Error::store(format!("joining DuckDB's batches: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(first: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let n = Int64Array::from_iter_values(first..first + rows);
        let s: StringArray = (first..first + rows)
            .map(|i| (i % 3 != 0).then(|| format!("v{i}")))
            .collect();
        RecordBatch::try_new(schema, vec![Arc::new(n), Arc::new(s)])
            .unwrap_or_else(|e| panic!("test batch: {e}"))
    }

    fn regroup(input: Vec<Result<RecordBatch>>) -> Vec<Result<RecordBatch>> {
        regrouped(input.into_iter()).collect()
    }

    #[test]
    fn batches_come_out_joined_in_order_with_nothing_lost() {
        let input: Vec<RecordBatch> = (0..200).map(|i| batch(i * 2_048, 2_048)).collect();
        // Empty batches between them are skipped.
        let with_empties = input
            .iter()
            .flat_map(|b| [Ok(b.clone()), Ok(batch(0, 0))])
            .collect();
        let out = regroup(with_empties)
            .into_iter()
            .collect::<Result<Vec<_>>>()
            .unwrap_or_else(|e| panic!("regroup: {e}"));
        assert!(out.len() > 1 && out.len() < 50, "{} batches", out.len());
        let schema = input[0].schema();
        let expected = concat_batches(&schema, &input).unwrap_or_else(|e| panic!("{e}"));
        let got = concat_batches(&schema, &out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, expected);
        assert_eq!(got.column(1).null_count(), expected.column(1).null_count());
    }

    #[test]
    fn an_error_ends_the_batches() {
        let out = regroup(vec![
            Ok(batch(0, 10)),
            Err(Error::store("gone")),
            Ok(batch(10, 10)),
        ]);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }

    #[test]
    fn nothing_in_gives_nothing_out() {
        assert!(regroup(Vec::new()).is_empty());
        assert!(regroup(vec![Ok(batch(0, 0))]).is_empty());
    }
}
