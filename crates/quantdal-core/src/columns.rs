//! A result's batches rebuilt as one array per column, a column at a time.
//!
//! For conversions that copy a result into columns of their own (pandas with numpy dtypes, polars) or can
//! take one contiguous array over without a copy (pandas' numeric columns, polars): each column's chunks
//! are joined and dropped before the next column is joined, so the conversion's peak is the result plus
//! one column, and a joined array shares buffers with no other column, so exported on its own it is freed
//! as soon as its consumer drops it. That holds when the batches' columns own their buffers, as the stores'
//! loads hand them out (DuckDB's imported batches, whose columns are freed together, are regrouped into
//! batches of their own first: `quantdal_duckdb`'s `compact`); with other batches the columns are still
//! right, only freed later.

use arrow::array::{new_empty_array, Array, ArrayRef, RecordBatch};
use arrow::compute::concat;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

/// Batches in, as they arrive from a stream; one array per field of the schema out.
pub struct ColumnsBuilder {
    schema: SchemaRef,
    chunks: Vec<Vec<ArrayRef>>,
}

impl ColumnsBuilder {
    pub fn new(schema: SchemaRef) -> Self {
        let chunks = vec![Vec::new(); schema.fields().len()];
        ColumnsBuilder { schema, chunks }
    }

    /// The schema of the columns built.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Takes `batch`'s columns (in the schema's order).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        if batch.num_columns() != self.chunks.len() {
            return Err(ArrowError::SchemaError(format!(
                "a batch of {} columns in a result of {}",
                batch.num_columns(),
                self.chunks.len()
            )));
        }
        if batch.num_rows() > 0 {
            for (chunks, column) in self.chunks.iter_mut().zip(batch.columns()) {
                chunks.push(column.clone());
            }
        }
        Ok(())
    }

    /// One array per field: each column's chunks joined, then dropped, one column at a time;
    /// `released` runs after each drop (the Python package hands the freed heap back to the OS there).
    /// A column of one chunk is handed on as it is.
    pub fn finish(self, mut released: impl FnMut()) -> Result<Vec<ArrayRef>, ArrowError> {
        let mut columns = Vec::with_capacity(self.chunks.len());
        for (field, mut chunks) in self.schema.fields().iter().zip(self.chunks) {
            let column = match chunks.len() {
                0 => new_empty_array(field.data_type()),
                1 => chunks.remove(0),
                _ => {
                    let parts: Vec<&dyn Array> = chunks.iter().map(|a| a.as_ref()).collect();
                    let joined = concat(&parts)?;
                    drop(parts);
                    drop(chunks);
                    released();
                    joined
                }
            };
            columns.push(column);
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Float64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("price", DataType::Float64, true),
        ]))
    }

    fn batch(first: i64, rows: i64) -> RecordBatch {
        let symbols: StringArray = (first..first + rows)
            .map(|i| Some(format!("S{}", i % 7)))
            .collect();
        let ts =
            TimestampMillisecondArray::from_iter_values(first..first + rows).with_timezone("UTC");
        let price: Float64Array = (first..first + rows)
            .map(|i| (i % 5 != 0).then_some(i as f64 / 4.0))
            .collect();
        RecordBatch::try_new(
            schema(),
            vec![Arc::new(symbols), Arc::new(ts), Arc::new(price)],
        )
        .unwrap_or_else(|e| panic!("test batch: {e}"))
    }

    /// The columns built from `batches`, and how many times memory was released on the way.
    fn run(batches: Vec<RecordBatch>) -> (Vec<ArrayRef>, usize) {
        let mut releases = 0;
        let mut builder = ColumnsBuilder::new(schema());
        for batch in &batches {
            builder.push(batch).unwrap_or_else(|e| panic!("push: {e}"));
        }
        drop(batches);
        let columns = builder
            .finish(|| releases += 1)
            .unwrap_or_else(|e| panic!("finish: {e}"));
        (columns, releases)
    }

    #[test]
    fn rows_keep_their_order_and_nulls_across_batches() {
        let mut batches: Vec<RecordBatch> = (0..10).map(|i| batch(i * 100, 100)).collect();
        batches.insert(3, batch(0, 0));
        let expected = arrow::compute::concat_batches(&schema(), &batches)
            .unwrap_or_else(|e| panic!("concat: {e}"));
        let (columns, releases) = run(batches);
        assert_eq!(releases, 3, "one release per joined column");
        assert_eq!(columns.len(), 3);
        for (i, column) in columns.iter().enumerate() {
            assert_eq!(column.as_ref(), expected.column(i).as_ref(), "column {i}");
        }
        assert_eq!(columns[2].null_count(), 200);
    }

    #[test]
    fn a_single_batch_is_handed_on_without_a_copy() {
        let source = batch(0, 50);
        let source_prices = source
            .column(2)
            .as_primitive::<Float64Type>()
            .values()
            .clone();
        let (columns, releases) = run(vec![source]);
        assert_eq!(releases, 0);
        let prices = columns[2].as_primitive::<Float64Type>().values();
        assert_eq!(prices.inner().as_ptr(), source_prices.inner().as_ptr());
    }

    #[test]
    fn a_batch_of_another_width_is_refused() {
        let mut builder = ColumnsBuilder::new(schema());
        let narrow = batch(0, 5)
            .project(&[0, 1])
            .unwrap_or_else(|e| panic!("project: {e}"));
        assert!(builder.push(&narrow).is_err());
    }

    #[test]
    fn no_batches_give_empty_columns_of_the_schema() {
        let (columns, releases) = run(Vec::new());
        assert_eq!(releases, 0);
        let types: Vec<&DataType> = columns.iter().map(|c| c.data_type()).collect();
        let schema = schema();
        let expected: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(types, expected);
        assert!(columns.iter().all(|c| c.is_empty()));
    }
}
