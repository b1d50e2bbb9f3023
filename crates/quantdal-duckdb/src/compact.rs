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

/// Bytes of DuckDB's batches joined into one.
pub const GROUP_BYTES: usize = 4 << 20;

#[derive(Default)]
pub struct Compactor {
    group: Vec<RecordBatch>,
    bytes: usize,
}

impl Compactor {
    /// Takes a batch (empty ones are skipped); returns the group joined once it holds [`GROUP_BYTES`].
    pub fn push(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.bytes += batch.get_array_memory_size();
        self.group.push(batch);
        if self.bytes < GROUP_BYTES {
            return Ok(None);
        }
        self.finish()
    }

    /// The rest of the group joined, if any. A group of one batch is handed on as it is (`concat` would
    /// return a slice of it, not a copy); only a result's last batch can be one.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.bytes = 0;
        let group = std::mem::take(&mut self.group);
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

    #[test]
    fn batches_come_out_joined_in_order_with_nothing_lost() {
        let mut compactor = Compactor::default();
        let mut out = Vec::new();
        let mut input = Vec::new();
        for i in 0..200 {
            let b = batch(i * 2_048, 2_048);
            input.push(b.clone());
            out.extend(compactor.push(b).unwrap_or_else(|e| panic!("push: {e}")));
            // Empty batches are skipped.
            let empty = batch(0, 0);
            assert!(compactor
                .push(empty)
                .unwrap_or_else(|e| panic!("push: {e}"))
                .is_none());
        }
        out.extend(compactor.finish().unwrap_or_else(|e| panic!("finish: {e}")));
        assert!(out.len() > 1 && out.len() < 50, "{} batches", out.len());
        let schema = input[0].schema();
        let expected = concat_batches(&schema, &input).unwrap_or_else(|e| panic!("{e}"));
        let got = concat_batches(&schema, &out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, expected);
        assert_eq!(got.column(1).null_count(), expected.column(1).null_count());
    }

    #[test]
    fn nothing_in_gives_nothing_out() {
        let mut compactor = Compactor::default();
        assert!(compactor
            .finish()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
    }
}
