//! Stores hand back whatever Arrow their driver produces; this brings it to the exact schema the API
//! promises (UTC timestamps at the class precision, Utf8 strings, declared decimals).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::spec::TableSpec;

/// The class schema restricted to `columns` (indexes into the spec), in that order.
pub fn projected_schema(spec: &TableSpec, columns: &[usize]) -> SchemaRef {
    let full = spec.arrow_schema();
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|&i| full.field(i).clone())
            .collect::<Vec<_>>(),
    ))
}

/// Casts each column of `batch` (by position) to `target`; a no-op for columns already matching.
pub fn conform_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != target.fields().len() {
        return Err(Error::store(format!(
            "store returned {} columns where {} were expected",
            batch.num_columns(),
            target.fields().len()
        )));
    }
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(array, field)| conform_array(array, field.data_type(), &options))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let opts = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &opts,
    )?)
}

fn conform_array(array: &ArrayRef, target: &DataType, options: &CastOptions) -> Result<ArrayRef> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    // Arrow instants are UTC whatever the label: change the unit on unlabelled arrays (arrow's cast would
    // need chrono-tz to parse "UTC"), then put the target's label on.
    if let (DataType::Timestamp(from, _), DataType::Timestamp(to, _)) = (array.data_type(), target)
    {
        let unlabelled = relabel(array, DataType::Timestamp(*from, None))?;
        let converted = if from == to {
            unlabelled
        } else {
            cast_with_options(&unlabelled, &DataType::Timestamp(*to, None), options)?
        };
        return relabel(&converted, target.clone());
    }
    Ok(cast_with_options(array, target, options)?)
}

fn relabel(array: &ArrayRef, data_type: DataType) -> Result<ArrayRef> {
    let data = array
        .to_data()
        .into_builder()
        .data_type(data_type)
        .build()?;
    Ok(arrow::array::make_array(data))
}
