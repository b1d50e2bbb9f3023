//! Checks a caller's Arrow batch against a class and returns it in the class's exact schema (column order,
//! types, UTC timestamps at the declared precision). Lossless conversions are applied; anything that would
//! lose information is an error naming the class, column and first offending row. Nothing is written
//! before this passes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Float64Array,
    Int32Array, Int64Array, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::compute::kernels::{boolean, cmp};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimeUnit, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_row::{RowConverter, SortField};
use chrono::{NaiveDate, NaiveDateTime};

use crate::error::{Error, ErrorKind, Result};
use crate::load::decimal_from_text;
use crate::spec::{ColumnSpec, DefaultValue, TableSpec};
use crate::time::NANOS_PER_DAY;
use crate::types::{unit_nanos, NeutralType};

/// Options of one save.
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// chrono format for string timestamp columns, e.g. `%Y-%m-%d %H:%M:%S%.f` (read as UTC). Strings are
    /// only converted to timestamps when a format is given, so a guess never moves a row in time.
    pub timestamp_format: Option<String>,
}

impl SaveOptions {
    pub fn timestamp_format(mut self, format: impl Into<String>) -> Self {
        self.timestamp_format = Some(format.into());
        self
    }
}

/// Returns `batch` in the class schema, or the first problem found.
pub fn normalize_batch(
    spec: &TableSpec,
    batch: &RecordBatch,
    options: &SaveOptions,
) -> Result<RecordBatch> {
    let fail = |e: Error| e.with_class(spec.name.clone()).with_operation("save");
    let schema = batch.schema();
    let mut provided: HashMap<&str, usize> = HashMap::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        if spec.column(field.name()).is_none() {
            return Err(fail(
                Error::new(
                    ErrorKind::UnknownColumn,
                    "the batch has a column the class does not declare",
                )
                .with_column(field.name().clone()),
            ));
        }
        if provided.insert(field.name().as_str(), i).is_some() {
            return Err(fail(
                Error::invalid_batch("the batch has this column twice")
                    .with_column(field.name().clone()),
            ));
        }
    }

    let rows = batch.num_rows();
    let target = spec.arrow_schema();
    let mut arrays = Vec::with_capacity(spec.columns.len());
    for (column, field) in spec.columns.iter().zip(target.fields()) {
        let array = match provided.get(column.name.as_str()) {
            Some(&i) => conform_array(spec, column, field.data_type(), batch.column(i), options)
                .map_err(|e| fail(e.with_column(column.name.clone())))?,
            None => fill_missing(spec, column, field.data_type(), rows)
                .map_err(|e| fail(e.with_column(column.name.clone())))?,
        };
        if !column.nullable && array.null_count() > 0 {
            let row = first_null(&array);
            let what = if spec.time.as_ref().is_some_and(|t| t.column == column.name) {
                "a row has no timestamp (rows are never stamped with the current time)"
            } else {
                "null in a non-null column"
            };
            return Err(fail(
                Error::invalid_batch(what)
                    .with_column(column.name.clone())
                    .with_row(row),
            ));
        }
        arrays.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let normalized = RecordBatch::try_new_with_options(target, arrays, &options)?;
    // A batch holds each key once. Stores disagree on which duplicate would win (DuckDB's upsert silently
    // keeps the first), so refuse rather than let the store guess.
    if let Some((first, second)) = find_duplicate_key(spec, &normalized)? {
        return Err(duplicate_key_error(spec, first, second));
    }
    Ok(normalized)
}

fn first_null(array: &ArrayRef) -> usize {
    (0..array.len()).find(|&r| array.is_null(r)).unwrap_or(0)
}

fn fill_missing(
    spec: &TableSpec,
    column: &ColumnSpec,
    ty: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    match &column.default {
        Some(default) => {
            let text = match default {
                DefaultValue::Bool(b) => b.to_string(),
                DefaultValue::Int(i) => i.to_string(),
                DefaultValue::Float(f) => f.to_string(),
                DefaultValue::Text(s) => s.clone(),
            };
            let strings: ArrayRef = Arc::new(StringArray::from(vec![text.as_str(); rows]));
            Ok(cast_with_options(&strings, ty, &CastOptions::default())?)
        }
        None if column.nullable => Ok(new_null_array(ty, rows)),
        None => Err(Error::invalid_batch(format!(
            "a required column of `{}` is missing from the batch",
            spec.name
        ))),
    }
}

fn conform_array(
    spec: &TableSpec,
    column: &ColumnSpec,
    target: &DataType,
    array: &ArrayRef,
    options: &SaveOptions,
) -> Result<ArrayRef> {
    let source = array.data_type();
    let out: ArrayRef = match (column.data_type, source) {
        (_, s) if s == target => array.clone(),
        (NeutralType::Timestamp, DataType::Timestamp(unit, _)) => {
            convert_timestamp(array, *unit, spec.precision().unit())?
        }
        (NeutralType::Timestamp, DataType::Date32) => {
            let days = array.as_primitive::<Date32Type>();
            let per_day = NANOS_PER_DAY / spec.precision().nanos_per_tick();
            timestamp_array(
                checked_map(days, |d| i64::from(d).checked_mul(per_day))?,
                spec.precision().unit(),
            )
        }
        (NeutralType::Timestamp, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            let format = options.timestamp_format.as_deref().ok_or_else(|| {
                Error::invalid_batch(
                    "string timestamps need an explicit format (SaveOptions::timestamp_format / --time-format)",
                )
            })?;
            parse_timestamps(
                &as_utf8(array)?,
                format,
                spec.precision().nanos_per_tick(),
                spec.precision().unit(),
            )?
        }
        (NeutralType::Date, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            parse_dates(&as_utf8(array)?, options.timestamp_format.as_deref())?
        }
        (NeutralType::Date, DataType::Timestamp(unit, _)) => timestamp_to_date(array, *unit)?,
        (NeutralType::Int, _) => Arc::new(to_int32(array)?),
        (NeutralType::BigInt, _) => Arc::new(to_int64(array)?),
        (NeutralType::Double, DataType::Float32) => lossless_cast(array, target)?,
        (NeutralType::Double, _) if is_integer(source) => Arc::new(int_to_f64(array)?),
        (
            NeutralType::Float,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16,
        ) => lossless_cast(array, target)?,
        (NeutralType::Decimal { scale, .. }, DataType::Decimal128(_, s)) if *s <= scale => {
            lossless_cast(array, target)?
        }
        (NeutralType::Decimal { .. }, s) if is_integer(s) => lossless_cast(array, target)?,
        (NeutralType::Decimal { precision, scale }, DataType::Float64 | DataType::Float32) => {
            float_to_decimal(array, precision, scale)?
        }
        (t, DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _))
            if t.is_string() =>
        {
            lossless_cast(array, target)?
        }
        (_, s) => {
            return Err(Error::invalid_batch(format!(
                "Arrow type {s} cannot be stored losslessly as {} (expected {target})",
                column.data_type
            )))
        }
    };
    check_values(column, &out)?;
    Ok(out)
}

/// Per-value rules the Arrow type alone does not carry: VARCHAR(n) length and JSON well-formedness.
fn check_values(column: &ColumnSpec, array: &ArrayRef) -> Result<()> {
    match column.data_type {
        NeutralType::Varchar { length } => {
            let strings = array.as_string::<i32>();
            let limit = length as usize;
            let offsets = strings.value_offsets();
            for row in 0..strings.len() {
                // Bytes bound chars from above: only long byte strings need a char count.
                let bytes = (offsets[row + 1] - offsets[row]) as usize;
                if bytes > limit
                    && strings.is_valid(row)
                    && strings.value(row).chars().count() > limit
                {
                    return Err(Error::invalid_batch(format!(
                        "value is longer than VARCHAR({length})"
                    ))
                    .with_row(row));
                }
            }
        }
        NeutralType::Json => {
            let strings = array.as_string::<i32>();
            for row in 0..strings.len() {
                if strings.is_valid(row)
                    && serde_json::from_str::<serde::de::IgnoredAny>(strings.value(row)).is_err()
                {
                    return Err(Error::invalid_batch("value is not valid JSON").with_row(row));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// Casts with arrow's safe cast, then reports the first row a non-null value became null (overflow).
fn lossless_cast(array: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    let out = cast_with_options(array, target, &CastOptions::default())?;
    if out.null_count() != array.null_count() {
        let row = (0..array.len())
            .find(|&r| array.is_valid(r) && out.is_null(r))
            .unwrap_or(0);
        return Err(Error::invalid_batch(format!("value does not fit {target}")).with_row(row));
    }
    Ok(out)
}

fn checked_map<T: ArrowPrimitiveType, O: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    f: impl Fn(T::Native) -> Option<O::Native>,
) -> Result<PrimitiveArray<O>> {
    let out: PrimitiveArray<O> = array.unary_opt(f);
    if out.null_count() == array.null_count() {
        return Ok(out);
    }
    let row = (0..array.len())
        .find(|&r| array.is_valid(r) && out.is_null(r))
        .unwrap_or(0);
    Err(Error::invalid_batch("value cannot be converted without loss").with_row(row))
}

fn to_int64(array: &ArrayRef) -> Result<Int64Array> {
    Ok(match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().clone(),
        DataType::Int8 => array.as_primitive::<Int8Type>().unary(i64::from),
        DataType::Int16 => array.as_primitive::<Int16Type>().unary(i64::from),
        DataType::Int32 => array.as_primitive::<Int32Type>().unary(i64::from),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().unary(i64::from),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().unary(i64::from),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().unary(i64::from),
        DataType::UInt64 => checked_map(array.as_primitive::<UInt64Type>(), |v| {
            i64::try_from(v).ok()
        })?,
        other => {
            return Err(Error::invalid_batch(format!(
                "Arrow type {other} cannot be stored losslessly as BIGINT"
            )))
        }
    })
}

fn to_int32(array: &ArrayRef) -> Result<Int32Array> {
    if array.data_type() == &DataType::Int32 {
        return Ok(array.as_primitive::<Int32Type>().clone());
    }
    let wide = to_int64(array).map_err(|_| {
        Error::invalid_batch(format!(
            "Arrow type {} cannot be stored losslessly as INT",
            array.data_type()
        ))
    })?;
    checked_map(&wide, |v| i32::try_from(v).ok())
}

/// Integers convert to DOUBLE only while they are exact (|v| <= 2^53).
fn int_to_f64(array: &ArrayRef) -> Result<Float64Array> {
    const EXACT: i64 = 1 << 53;
    let wide = to_int64(array)?;
    checked_map::<Int64Type, Float64Type>(&wide, |v| {
        (-EXACT..=EXACT).contains(&v).then_some(v as f64)
    })
}

fn float_to_decimal(array: &ArrayRef, precision: u8, scale: i8) -> Result<ArrayRef> {
    let values: Vec<Option<f64>> = match array.data_type() {
        DataType::Float32 => array
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        _ => array.as_primitive::<Float64Type>().iter().collect(),
    };
    let mut out = Vec::with_capacity(values.len());
    for (row, v) in values.into_iter().enumerate() {
        out.push(match v {
            Some(f) if f.is_finite() => Some(
                decimal_from_text(&f.to_string(), precision, scale).map_err(|m| {
                    Error::invalid_batch(format!(
                        "{m}: a float converts to DECIMAL only when exact"
                    ))
                    .with_row(row)
                })?,
            ),
            Some(_) => {
                return Err(
                    Error::invalid_batch("NaN or infinity cannot be a DECIMAL").with_row(row)
                )
            }
            None => None,
        });
    }
    Ok(Arc::new(
        Decimal128Array::from(out).with_precision_and_scale(precision, scale)?,
    ))
}

fn timestamp_array(values: Int64Array, unit: TimeUnit) -> ArrayRef {
    let (_, buffer, nulls) = values.into_parts();
    let utc = Some(Arc::<str>::from("UTC"));
    match unit {
        TimeUnit::Millisecond => {
            Arc::new(TimestampMillisecondArray::new(buffer, nulls).with_timezone_opt(utc))
        }
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::new(buffer, nulls).with_timezone_opt(utc))
        }
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::new(buffer, nulls).with_timezone_opt(utc))
        }
        TimeUnit::Second => Arc::new(
            PrimitiveArray::<TimestampSecondType>::new(buffer, nulls).with_timezone_opt(utc),
        ),
    }
}

/// The raw i64 ticks of any timestamp array (zero-copy).
fn timestamp_ticks(array: &ArrayRef) -> Int64Array {
    let data = array.to_data();
    let nulls = data.nulls().cloned();
    let values =
        arrow::buffer::ScalarBuffer::new(data.buffers()[0].clone(), data.offset(), data.len());
    Int64Array::new(values, nulls)
}

/// Changes unit exactly: finer → coarser only when no row has a remainder; Arrow instants are UTC already,
/// so any source time zone (or none, read as UTC) is re-labelled `UTC`.
fn convert_timestamp(array: &ArrayRef, from: TimeUnit, to: TimeUnit) -> Result<ArrayRef> {
    let ticks = timestamp_ticks(array);
    let (f, t) = (unit_nanos(from), unit_nanos(to));
    let converted = if f == t {
        ticks
    } else if f > t {
        let factor = f / t;
        checked_map::<Int64Type, Int64Type>(&ticks, |v| v.checked_mul(factor)).map_err(|e| {
            Error::invalid_batch(format!("timestamp overflows at {to:?} precision"))
                .with_row(e.row().unwrap_or(0))
        })?
    } else {
        let factor = t / f;
        checked_map::<Int64Type, Int64Type>(&ticks, |v| (v % factor == 0).then(|| v / factor))
            .map_err(|e| {
                Error::invalid_batch(format!(
                    "timestamp has {from:?} detail the class's {to:?} precision would truncate"
                ))
                .with_row(e.row().unwrap_or(0))
            })?
    };
    Ok(timestamp_array(converted, to))
}

fn timestamp_to_date(array: &ArrayRef, unit: TimeUnit) -> Result<ArrayRef> {
    let ticks = timestamp_ticks(array);
    let per_day = NANOS_PER_DAY / unit_nanos(unit);
    let days = checked_map::<Int64Type, Date32Type>(&ticks, |v| {
        (v % per_day == 0)
            .then(|| i32::try_from(v / per_day).ok())
            .flatten()
    })
    .map_err(|e| {
        Error::invalid_batch("timestamp is not midnight UTC, so it is not a date")
            .with_row(e.row().unwrap_or(0))
    })?;
    Ok(Arc::new(days))
}

fn as_utf8(array: &ArrayRef) -> Result<StringArray> {
    Ok(
        cast_with_options(array, &DataType::Utf8, &CastOptions::default())?
            .as_string::<i32>()
            .clone(),
    )
}

fn parse_timestamps(
    strings: &StringArray,
    format: &str,
    nanos_per_tick: i64,
    unit: TimeUnit,
) -> Result<ArrayRef> {
    let mut out = Vec::with_capacity(strings.len());
    for (row, s) in strings.iter().enumerate() {
        out.push(match s {
            None => None,
            Some(s) => {
                let nanos = NaiveDateTime::parse_from_str(s.trim(), format)
                    .ok()
                    .and_then(|dt| dt.and_utc().timestamp_nanos_opt())
                    .ok_or_else(|| {
                        Error::invalid_batch(format!(
                            "`{s}` does not match the timestamp format `{format}`"
                        ))
                        .with_row(row)
                    })?;
                if nanos % nanos_per_tick != 0 {
                    return Err(Error::invalid_batch(format!(
                        "`{s}` is finer than the class precision and would be truncated"
                    ))
                    .with_row(row));
                }
                Some(nanos / nanos_per_tick)
            }
        });
    }
    Ok(timestamp_array(Int64Array::from(out), unit))
}

fn parse_dates(strings: &StringArray, format: Option<&str>) -> Result<ArrayRef> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let format = format.unwrap_or("%Y-%m-%d");
    let mut out = Vec::with_capacity(strings.len());
    for (row, s) in strings.iter().enumerate() {
        out.push(match s {
            None => None,
            Some(s) => {
                let date = NaiveDate::parse_from_str(s.trim(), format).map_err(|_| {
                    Error::invalid_batch(format!("`{s}` does not match the date format `{format}`"))
                        .with_row(row)
                })?;
                Some((date - epoch).num_days() as i32)
            }
        });
    }
    Ok(Arc::new(Date32Array::from(out)))
}

/// First pair of rows `(earlier, later)` sharing the class key, if any. `normalize_batch` runs it on every
/// save: DuckDB's upsert does not fail on an in-batch duplicate, it silently keeps the first row.
///
/// Market data usually arrives grouped by series with time increasing; such a batch cannot hold a duplicate
/// key, and proving it takes a few vectorised comparisons. Anything else takes the exact hash check.
pub fn find_duplicate_key(spec: &TableSpec, batch: &RecordBatch) -> Result<Option<(usize, usize)>> {
    if batch.num_rows() < 2 || spec.key.is_empty() {
        return Ok(None);
    }
    if grouped_and_increasing(spec, batch)? {
        return Ok(None);
    }
    first_duplicate_key(spec, batch)
}

/// True when the key is series + time and each series occupies one run of rows with strictly increasing time.
fn grouped_and_increasing(spec: &TableSpec, batch: &RecordBatch) -> Result<bool> {
    let Some(time) = &spec.time else {
        return Ok(false);
    };
    let series = spec.series_columns();
    let key_is_series_time = spec.key.len() == series.len() + 1
        && spec
            .key
            .iter()
            .all(|k| k == &time.column || series.contains(&k.as_str()));
    if !key_is_series_time {
        return Ok(false);
    }
    series_runs_in_time_order(spec, batch, true)
}

/// True when each series occupies one run of rows and time within each run increases (strictly, or never
/// decreases): the vectorised proof that no row of a series comes before an earlier one. False means "not
/// proven", not "out of order".
pub fn series_runs_in_time_order(
    spec: &TableSpec,
    batch: &RecordBatch,
    strict: bool,
) -> Result<bool> {
    let Some(time) = &spec.time else {
        return Ok(false);
    };
    let series = spec.series_columns();
    let n = batch.num_rows();
    if n < 2 {
        return Ok(true);
    }
    let column = |name: &str| -> Result<ArrayRef> {
        let i = batch.schema().index_of(name).map_err(|_| {
            Error::invalid_batch("key column missing").with_column(name.to_string())
        })?;
        Ok(batch.column(i).clone())
    };
    let next = |a: &ArrayRef| a.slice(1, n - 1);
    let prev = |a: &ArrayRef| a.slice(0, n - 1);
    // same[i]: row i+1 continues the series of row i.
    let mut same: Option<BooleanArray> = None;
    let mut series_arrays = Vec::with_capacity(series.len());
    for s in &series {
        let a = column(s)?;
        let eq = cmp::eq(&next(&a), &prev(&a))?;
        same = Some(match same {
            Some(acc) => boolean::and(&acc, &eq)?,
            None => eq,
        });
        series_arrays.push(a);
    }
    let t = column(&time.column)?;
    let increasing = if strict {
        cmp::gt(&next(&t), &prev(&t))?
    } else {
        cmp::gt_eq(&next(&t), &prev(&t))?
    };
    let ok = match &same {
        Some(same) => boolean::or(&boolean::not(same)?, &increasing)?,
        None => increasing,
    };
    if ok.null_count() > 0 || ok.true_count() != n - 1 {
        return Ok(false);
    }
    let Some(same) = same else { return Ok(true) };
    // Each series must start only once: compare the first row of every run.
    let starts: Vec<u32> = std::iter::once(0u32)
        .chain((0..n - 1).filter(|&i| !same.value(i)).map(|i| i as u32 + 1))
        .collect();
    let indices = arrow::array::UInt32Array::from(starts);
    let firsts = series_arrays
        .iter()
        .map(|a| arrow::compute::take(a.as_ref(), &indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let converter = RowConverter::new(
        firsts
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&firsts)?;
    let mut seen = std::collections::HashSet::with_capacity(rows.num_rows());
    Ok(rows.iter().all(|r| seen.insert(r)))
}

/// First pair of rows `(earlier, later)` sharing the class key, by exact comparison of the encoded key.
pub fn first_duplicate_key(
    spec: &TableSpec,
    batch: &RecordBatch,
) -> Result<Option<(usize, usize)>> {
    if spec.key.is_empty() {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(spec.key.len());
    let mut fields = Vec::with_capacity(spec.key.len());
    for k in &spec.key {
        let i = batch
            .schema()
            .index_of(k)
            .map_err(|_| Error::invalid_batch("key column missing").with_column(k.clone()))?;
        columns.push(batch.column(i).clone());
        fields.push(SortField::new(batch.column(i).data_type().clone()));
    }
    let converter = RowConverter::new(fields)?;
    let rows = converter.convert_columns(&columns)?;
    let mut seen = HashMap::with_capacity(rows.num_rows());
    for (i, row) in rows.iter().enumerate() {
        if let Some(first) = seen.insert(row, i) {
            return Ok(Some((first, i)));
        }
    }
    Ok(None)
}

/// The typed error for a duplicate key inside one batch (saves reject it rather than guess which row wins).
pub fn duplicate_key_error(spec: &TableSpec, first: usize, second: usize) -> Error {
    Error::invalid_batch(format!(
        "rows {first} and {second} have the same key ({}); a batch may hold each key once",
        spec.key.join(", ")
    ))
    .with_class(spec.name.clone())
    .with_column(spec.key.join(","))
    .with_row(second)
    .with_operation("save")
}
