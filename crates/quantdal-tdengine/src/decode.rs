//! The driver's raw blocks → Arrow, column by column: fixed-width values are read element-wise into Arrow
//! buffers, strings are appended straight into an Arrow builder. No per-row serde, no per-row
//! allocation. Storage forms are turned back into the class types here (midnight ticks → DATE, unscaled
//! BIGINT → DECIMAL), then [`conform_batch`] labels timestamps UTC and widens to the target schema.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, RecordBatch, RecordBatchOptions,
    StringBuilder, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use quantdal_core::output::conform_batch;
use quantdal_core::{Error, NeutralType, Result, TableSpec, TimePrecision};
use taos::{ColumnView, Precision, RawBlock};

/// How one result column becomes its output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// Same value, maybe a wider or relabelled type (handled by `conform_batch`).
    Plain,
    /// Midnight ticks of the database precision → Date32.
    Date,
    /// Unscaled BIGINT → Decimal128(precision, scale).
    Decimal(u8, i8),
}

/// The conversion each spec column needs on the way out.
pub fn conv_of(spec: &TableSpec, column: usize) -> Conv {
    match spec.columns[column].data_type {
        NeutralType::Date => Conv::Date,
        NeutralType::Decimal { precision, scale } => Conv::Decimal(precision, scale),
        _ => Conv::Plain,
    }
}

fn nanos_per_tick(p: Precision) -> i64 {
    match p {
        Precision::Millisecond => 1_000_000,
        Precision::Microsecond => 1_000,
        Precision::Nanosecond => 1,
    }
}

/// Ticks of `from` nanoseconds → ticks of `to`, exactly (a coarser target with a remainder is an error).
fn rescale(v: i64, from: i64, to: i64) -> Result<i64> {
    if from == to {
        return Ok(v);
    }
    match v.checked_mul(from) {
        Some(n) if n % to == 0 => Ok(n / to),
        _ => Err(Error::store(format!(
            "timestamp {v} cannot be represented at the class precision"
        ))),
    }
}

/// One driver column → Arrow, in its natural type; timestamps in `precision` (the class's).
pub fn view_to_array(view: &ColumnView, precision: TimePrecision) -> Result<ArrayRef> {
    Ok(match view {
        ColumnView::Bool(v) => Arc::new(v.iter().collect::<BooleanArray>()),
        ColumnView::TinyInt(v) => Arc::new(v.iter().collect::<Int8Array>()),
        ColumnView::SmallInt(v) => Arc::new(v.iter().collect::<Int16Array>()),
        // Element-wise (read_unaligned inside the driver): its `as_raw_slice` builds a slice over a possibly
        // unaligned buffer, which is undefined behaviour.
        ColumnView::Int(v) => Arc::new(v.iter().collect::<Int32Array>()),
        ColumnView::BigInt(v) => Arc::new(v.iter().collect::<Int64Array>()),
        ColumnView::Float(v) => Arc::new(v.iter().collect::<Float32Array>()),
        ColumnView::Double(v) => Arc::new(v.iter().collect::<Float64Array>()),
        ColumnView::UTinyInt(v) => Arc::new(v.iter().collect::<UInt8Array>()),
        ColumnView::USmallInt(v) => Arc::new(v.iter().collect::<UInt16Array>()),
        ColumnView::UInt(v) => Arc::new(v.iter().collect::<UInt32Array>()),
        ColumnView::UBigInt(v) => Arc::new(v.iter().collect::<UInt64Array>()),
        ColumnView::Timestamp(v) => {
            let from = nanos_per_tick(v.precision());
            let to = precision.nanos_per_tick();
            let values = v
                .iter()
                .map(|t| t.map(|t| rescale(t.as_raw_i64(), from, to)).transpose())
                .collect::<Result<Vec<Option<i64>>>>()?;
            match precision {
                TimePrecision::Ms => Arc::new(TimestampMillisecondArray::from(values)),
                TimePrecision::Us => Arc::new(TimestampMicrosecondArray::from(values)),
                TimePrecision::Ns => Arc::new(TimestampNanosecondArray::from(values)),
            }
        }
        ColumnView::VarChar(v) => {
            let mut b = StringBuilder::with_capacity(v.len(), v.len() * 8);
            for s in v.iter() {
                b.append_option(s.map(|s| s.as_str()));
            }
            Arc::new(b.finish())
        }
        ColumnView::NChar(v) => {
            let mut b = StringBuilder::with_capacity(v.len(), v.len() * 8);
            for s in v.iter() {
                b.append_option(s);
            }
            Arc::new(b.finish())
        }
        other => {
            return Err(Error::store(format!(
                "TDengine returned a {:?} column, which quantdal does not read",
                other.as_ty()
            )))
        }
    })
}

fn apply(array: ArrayRef, conv: Conv, ticks_per_day: i64) -> Result<ArrayRef> {
    match conv {
        Conv::Plain => Ok(array),
        Conv::Date => {
            if !matches!(array.data_type(), DataType::Timestamp(_, _)) {
                return Ok(array);
            }
            let as_ints = arrow::compute::cast(&array, &DataType::Int64)?;
            let ticks = as_ints.as_primitive::<Int64Type>().values();
            let days = ticks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if array.is_null(i) {
                        return Ok(0);
                    }
                    if t.rem_euclid(ticks_per_day) != 0 {
                        return Err(Error::store(format!(
                            "DATE value {t} is not a midnight (UTC) in the database"
                        )));
                    }
                    i32::try_from(t.div_euclid(ticks_per_day))
                        .map_err(|_| Error::store(format!("DATE value {t} is out of range")))
                })
                .collect::<Result<Vec<i32>>>()?;
            Ok(Arc::new(Date32Array::new(
                ScalarBuffer::from(days),
                array.nulls().cloned(),
            )))
        }
        Conv::Decimal(p, s) => {
            let Some(ints) = array.as_primitive_opt::<Int64Type>() else {
                return Ok(array);
            };
            let values: Vec<i128> = ints.values().iter().map(|v| i128::from(*v)).collect();
            let d = Decimal128Array::new(ScalarBuffer::from(values), ints.nulls().cloned())
                .with_precision_and_scale(p, s)?;
            Ok(Arc::new(d))
        }
    }
}

/// A raw block → a batch in `schema`, column `k` converted by `convs[k]`.
pub fn decode_block(
    block: &RawBlock,
    convs: &[Conv],
    schema: &SchemaRef,
    precision: TimePrecision,
) -> Result<RecordBatch> {
    let ticks_per_day = 86_400_000_000_000 / precision.nanos_per_tick();
    let views = block.column_views();
    if views.len() != convs.len() {
        return Err(Error::store(format!(
            "TDengine returned {} columns where {} were expected",
            views.len(),
            convs.len()
        )));
    }
    let columns = views
        .iter()
        .zip(convs)
        .map(|(v, c)| apply(view_to_array(v, precision)?, *c, ticks_per_day))
        .collect::<Result<Vec<_>>>()?;
    // Unlabelled first, so conform_batch sees the driver's shapes and does the casts.
    let fields: Vec<arrow::datatypes::Field> = columns
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::datatypes::Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    let natural = RecordBatch::try_new_with_options(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(block.nrows())),
    )?;
    conform_batch(&natural, schema)
}
