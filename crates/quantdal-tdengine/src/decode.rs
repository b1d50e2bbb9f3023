//! The driver's raw blocks → Arrow, column by column: fixed-width values are read element-wise into Arrow
//! buffers, strings are appended straight into an Arrow builder. No per-row serde, no per-row
//! allocation. Storage forms are turned back into the class types here (midnight ticks → DATE, unscaled
//! BIGINT → DECIMAL), then [`conform_batch`] labels timestamps UTC and widens to the target schema.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, RecordBatch,
    RecordBatchOptions, StringBuilder, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use quantdal_core::output::conform_batch;
use quantdal_core::{Error, NeutralType, Result, TableSpec, TimePrecision};
use taos::{ColumnView, Precision, RawBlock, Ty};

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
        // Only in caller SQL results (`quantdal sql`): class columns never have these types.
        ColumnView::Json(v) => {
            let mut b = StringBuilder::with_capacity(v.len(), v.len() * 8);
            for s in v.iter() {
                b.append_option(s.map(|s| s.as_str()));
            }
            Arc::new(b.finish())
        }
        ColumnView::VarBinary(v) => {
            let mut b = BinaryBuilder::with_capacity(v.len(), v.len() * 8);
            for s in v.iter() {
                b.append_option(s);
            }
            Arc::new(b.finish())
        }
        ColumnView::Geometry(v) => {
            let mut b = BinaryBuilder::with_capacity(v.len(), v.len() * 8);
            for s in v.iter() {
                b.append_option(s);
            }
            Arc::new(b.finish())
        }
    })
}

/// The class precision a result's timestamps are read at (the database's own).
pub fn time_precision(p: Precision) -> TimePrecision {
    match p {
        Precision::Millisecond => TimePrecision::Ms,
        Precision::Microsecond => TimePrecision::Us,
        Precision::Nanosecond => TimePrecision::Ns,
    }
}

/// The Arrow schema of a caller's SQL result (`quantdal sql`), from the driver's field list: every TDengine
/// type in its natural Arrow type, timestamps UTC at the database precision. Values are the stored forms (a
/// class's DECIMAL column is its unscaled BIGINT, a DATE column a midnight TIMESTAMP).
pub fn result_schema(fields: &[taos::Field], precision: Precision) -> Result<SchemaRef> {
    let unit = match precision {
        Precision::Millisecond => TimeUnit::Millisecond,
        Precision::Microsecond => TimeUnit::Microsecond,
        Precision::Nanosecond => TimeUnit::Nanosecond,
    };
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let dt = match f.ty() {
            Ty::Bool => DataType::Boolean,
            Ty::TinyInt => DataType::Int8,
            Ty::SmallInt => DataType::Int16,
            Ty::Int => DataType::Int32,
            Ty::BigInt => DataType::Int64,
            Ty::UTinyInt => DataType::UInt8,
            Ty::USmallInt => DataType::UInt16,
            Ty::UInt => DataType::UInt32,
            Ty::UBigInt => DataType::UInt64,
            Ty::Float => DataType::Float32,
            Ty::Double => DataType::Float64,
            Ty::Timestamp => DataType::Timestamp(unit, Some("UTC".into())),
            Ty::VarChar | Ty::NChar | Ty::Json => DataType::Utf8,
            Ty::VarBinary | Ty::Geometry => DataType::Binary,
            other => {
                return Err(Error::invalid_query(format!(
                "result column `{}` is of TDengine type {other:?}, which the SQL command does not \
                     convert; cast it, e.g. `CAST({} AS DOUBLE)`",
                f.name(),
                f.name()
            )))
            }
        };
        out.push(Field::new(f.name(), dt, true));
    }
    Ok(Arc::new(Schema::new(out)))
}

/// A raw block of a caller's SQL result → a batch in `schema` (from [`result_schema`]).
pub fn decode_result_block(block: &RawBlock, schema: &SchemaRef) -> Result<RecordBatch> {
    let precision = time_precision(block.precision());
    let views = block.column_views();
    if views.len() != schema.fields().len() {
        return Err(Error::store(format!(
            "TDengine returned {} columns where its header announced {}",
            views.len(),
            schema.fields().len()
        )));
    }
    let columns = views
        .iter()
        .zip(schema.fields())
        .map(|(v, f)| {
            let array = view_to_array(v, precision)?;
            // Timestamps come unlabelled; the schema says UTC (a relabelling, values unchanged).
            if array.data_type() == f.data_type() {
                Ok(array)
            } else {
                Ok(arrow::compute::cast(&array, f.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(block.nrows())),
    )?)
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
    let views = block.column_views();
    if views.len() != convs.len() {
        return Err(Error::store(format!(
            "TDengine returned {} columns where {} were expected",
            views.len(),
            convs.len()
        )));
    }
    decode_views(views, block.nrows(), convs, schema, precision)
}

/// The block's first `convs.len()` columns, decoded as [`decode_block`] does; the columns after them are left
/// to the caller (an ordered load reads TBNAME in place).
pub fn decode_leading(
    block: &RawBlock,
    convs: &[Conv],
    schema: &SchemaRef,
    precision: TimePrecision,
) -> Result<RecordBatch> {
    let views = block.column_views();
    if views.len() < convs.len() {
        return Err(Error::store(format!(
            "TDengine returned {} columns where at least {} were expected",
            views.len(),
            convs.len()
        )));
    }
    decode_views(
        &views[..convs.len()],
        block.nrows(),
        convs,
        schema,
        precision,
    )
}

fn decode_views(
    views: &[ColumnView],
    nrows: usize,
    convs: &[Conv],
    schema: &SchemaRef,
    precision: TimePrecision,
) -> Result<RecordBatch> {
    let ticks_per_day = 86_400_000_000_000 / precision.nanos_per_tick();
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
        &RecordBatchOptions::new().with_row_count(Some(nrows)),
    )?;
    conform_batch(&natural, schema)
}
