//! A normalised Arrow batch → one group per series (sub-table), each with its tag values and its rows as
//! whole stmt columns. Grouping is vectorised: tag columns are encoded once with arrow's row format, runs of
//! equal tags are found by comparing neighbours, and a series' rows are zero-copy slices when they are
//! contiguous (the usual shape of market data).

use std::collections::HashMap;
use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::concat;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
};
use arrow::row::{RowConverter, SortField};
use quantdal_core::{Error, Result, TableSpec, TimePrecision};
use taos::{ColumnView, Value};

use crate::naming::{subtable_name, TagValue};
use crate::sql::{escape, float_literal};
use crate::types::{Layout, TdType};

/// The rows of one series.
#[derive(Debug, Clone)]
pub struct Series {
    pub table: String,
    pub tags: Vec<TagValue>,
    /// Insert columns (time, then data columns), this series' rows only.
    pub rows: RecordBatch,
    /// Index in the caller's batch of this series' first row (for error messages).
    pub first_row: usize,
}

fn err(spec: &TableSpec, column: usize, row: usize, table: Option<&str>, message: String) -> Error {
    let message = match table {
        Some(t) => format!("sub-table {t}: {message}"),
        None => message,
    };
    Error::invalid_batch(message)
        .with_class(spec.name.clone())
        .with_column(spec.columns[column].name.clone())
        .with_row(row)
}

/// Tag value of `row` in `array` (already normalised: tags are never null).
fn tag_value(
    array: &ArrayRef,
    row: usize,
    layout: &Layout,
) -> std::result::Result<TagValue, String> {
    if array.is_null(row) {
        return Err("tag is null".into());
    }
    Ok(match array.data_type() {
        DataType::Utf8 => TagValue::Str(array.as_string::<i32>().value(row).to_string()),
        DataType::Int32 => TagValue::Int(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => TagValue::BigInt(array.as_primitive::<Int64Type>().value(row)),
        DataType::Boolean => TagValue::Bool(array.as_boolean().value(row)),
        DataType::Float32 => TagValue::Float(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => TagValue::Double(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(..) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            TagValue::BigInt(
                i64::try_from(v).map_err(|_| format!("decimal {v} exceeds 18 digits"))?,
            )
        }
        DataType::Date32 => {
            let d = array.as_primitive::<Date32Type>().value(row);
            TagValue::Ticks(
                i64::from(d)
                    .checked_mul(layout.ticks_per_day())
                    .ok_or("date out of range")?,
            )
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            TagValue::Ticks(array.as_primitive::<TimestampMillisecondType>().value(row))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            TagValue::Ticks(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            TagValue::Ticks(array.as_primitive::<TimestampNanosecondType>().value(row))
        }
        other => return Err(format!("Arrow type {other} cannot be a TDengine tag")),
    })
}

/// Longest UTF-8 value of a string column, in bytes, and the first row holding a value above `limit`.
fn first_too_long(array: &StringArray, limit: usize) -> Option<(usize, usize)> {
    let offsets = array.value_offsets();
    (0..array.len()).find_map(|i| {
        let len = (offsets[i + 1] - offsets[i]) as usize;
        (len > limit && array.is_valid(i)).then_some((i, len))
    })
}

/// Groups `batch` (in the class's exact schema) by series. Checks what TDengine would reject only after part
/// of a save went through: string values longer than their declared bytes, null tags.
pub fn group_series(spec: &TableSpec, layout: &Layout, batch: &RecordBatch) -> Result<Vec<Series>> {
    let n = batch.num_rows();
    if n == 0 {
        return Ok(Vec::new());
    }
    let tag_arrays: Vec<ArrayRef> = layout
        .tags
        .iter()
        .map(|&i| batch.column(i).clone())
        .collect();
    let converter = RowConverter::new(
        tag_arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&tag_arrays)?;

    // Runs of equal tags, then runs of one series gathered together.
    let mut groups: Vec<(usize, Vec<Range<usize>>)> = Vec::new();
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut start = 0;
    for i in 1..=n {
        if i < n && rows.row(i) == rows.row(i - 1) {
            continue;
        }
        let key = rows.row(start);
        let g = *index.entry(key.data()).or_insert_with(|| {
            groups.push((start, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(start..i);
        start = i;
    }

    let insert = layout.insert_columns();
    let projected = batch.project(&insert)?;
    let mut out = Vec::with_capacity(groups.len());
    for (first_row, ranges) in groups {
        let mut tags = Vec::with_capacity(layout.tags.len());
        for (k, &col) in layout.tags.iter().enumerate() {
            let v = tag_value(&tag_arrays[k], first_row, layout)
                .map_err(|m| err(spec, col, first_row, None, m))?;
            tags.push(v);
        }
        let table = subtable_name(&layout.stable, &tags);
        for (v, &col) in tags.iter().zip(&layout.tags) {
            if let (TagValue::Str(s), TdType::VarChar(max)) = (v, layout.types[col]) {
                if s.len() > max as usize {
                    return Err(err(
                        spec,
                        col,
                        first_row,
                        Some(&table),
                        format!(
                            "tag value of {} bytes is longer than its TDengine VARCHAR({max})",
                            s.len()
                        ),
                    ));
                }
            }
        }
        let rows = if ranges.len() == 1 {
            projected.slice(ranges[0].start, ranges[0].len())
        } else {
            let parts: Vec<RecordBatch> = ranges
                .iter()
                .map(|r| projected.slice(r.start, r.len()))
                .collect();
            let columns = (0..projected.num_columns())
                .map(|c| {
                    let arrays: Vec<&dyn Array> =
                        parts.iter().map(|p| p.column(c).as_ref()).collect();
                    concat(&arrays)
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            RecordBatch::try_new(projected.schema(), columns)?
        };
        out.push(Series {
            table,
            tags,
            rows,
            first_row,
        });
    }
    check_lengths(spec, layout, batch, &out)?;
    Ok(out)
}

/// The first row whose time is before `oldest` (ticks of the database precision; DATE as midnight ticks).
pub fn first_before(batch: &RecordBatch, layout: &Layout, oldest: i64) -> Option<(usize, i64)> {
    let array = batch.column(layout.time);
    let per_day = layout.ticks_per_day();
    let ticks = |row: usize| -> Option<i64> {
        if array.is_null(row) {
            return None;
        }
        match array.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                Some(array.as_primitive::<TimestampMillisecondType>().value(row))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Some(array.as_primitive::<TimestampMicrosecondType>().value(row))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Some(array.as_primitive::<TimestampNanosecondType>().value(row))
            }
            DataType::Date32 => Some(
                i64::from(array.as_primitive::<Date32Type>().value(row)).saturating_mul(per_day),
            ),
            _ => None,
        }
    };
    // The vectorised minimum first: a batch within KEEP (the usual case) costs one pass.
    let min = match array.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            arrow::compute::min(array.as_primitive::<TimestampMillisecondType>())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            arrow::compute::min(array.as_primitive::<TimestampMicrosecondType>())
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            arrow::compute::min(array.as_primitive::<TimestampNanosecondType>())
        }
        DataType::Date32 => arrow::compute::min(array.as_primitive::<Date32Type>())
            .map(|d| i64::from(d).saturating_mul(per_day)),
        _ => None,
    }?;
    if min >= oldest {
        return None;
    }
    (0..batch.num_rows()).find_map(|row| ticks(row).filter(|t| *t < oldest).map(|t| (row, t)))
}

/// Data-column strings longer than the TDengine column's bytes (VARCHAR(n) holds 4n bytes, so only TEXT /
/// JSON values and very long VARCHARs can hit this).
fn check_lengths(
    spec: &TableSpec,
    layout: &Layout,
    batch: &RecordBatch,
    series: &[Series],
) -> Result<()> {
    for &col in &layout.values {
        let TdType::VarChar(max) = layout.types[col] else {
            continue;
        };
        let Some(strings) = batch.column(col).as_string_opt::<i32>() else {
            continue;
        };
        if let Some((row, len)) = first_too_long(strings, max as usize) {
            let table = series
                .iter()
                .filter(|s| s.first_row <= row)
                .map(|s| s.table.as_str())
                .next_back();
            return Err(err(
                spec,
                col,
                row,
                table,
                format!("value of {len} bytes is longer than its TDengine VARCHAR({max})"),
            ));
        }
    }
    Ok(())
}

/// A tag as the stmt API takes it.
pub fn tag_to_value(tag: &TagValue, precision: TimePrecision) -> Value {
    match tag {
        TagValue::Str(s) => Value::VarChar(s.clone()),
        TagValue::Int(v) => Value::Int(*v),
        TagValue::BigInt(v) => Value::BigInt(*v),
        TagValue::Bool(v) => Value::Bool(*v),
        TagValue::Float(v) => Value::Float(*v),
        TagValue::Double(v) => Value::Double(*v),
        TagValue::Ticks(t) => Value::Timestamp(match precision {
            TimePrecision::Ms => taos::taos_query::common::Timestamp::Milliseconds(*t),
            TimePrecision::Us => taos::taos_query::common::Timestamp::Microseconds(*t),
            TimePrecision::Ns => taos::taos_query::common::Timestamp::Nanoseconds(*t),
        }),
    }
}

/// A tag as a SQL literal (fallback path).
pub fn tag_literal(tag: &TagValue) -> std::result::Result<String, String> {
    Ok(match tag {
        TagValue::Str(s) => escape(s)?,
        TagValue::Int(v) => v.to_string(),
        TagValue::BigInt(v) | TagValue::Ticks(v) => v.to_string(),
        TagValue::Bool(v) => v.to_string(),
        TagValue::Float(v) => float_literal(f64::from(*v))?,
        TagValue::Double(v) => float_literal(*v)?,
    })
}

macro_rules! primitive_view {
    ($array:expr, $ty:ty, $make:path) => {{
        let a = $array.as_primitive::<$ty>();
        if a.null_count() == 0 {
            $make(a.values().to_vec())
        } else {
            $make(a.iter().collect::<Vec<_>>())
        }
    }};
}

fn timestamp_view(values: Vec<Option<i64>>, precision: TimePrecision) -> ColumnView {
    match precision {
        TimePrecision::Ms => ColumnView::from_millis_timestamp(values),
        TimePrecision::Us => ColumnView::from_micros_timestamp(values),
        TimePrecision::Ns => ColumnView::from_nanos_timestamp(values),
    }
}

fn timestamp_values<T: arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
    a: &arrow::array::PrimitiveArray<T>,
) -> Vec<Option<i64>> {
    if a.null_count() == 0 {
        a.values().iter().map(|v| Some(*v)).collect()
    } else {
        a.iter().collect()
    }
}

/// One Arrow column → one stmt column. Timestamps are already in the class (= database) precision; DATE
/// becomes midnight ticks, DECIMAL its unscaled BIGINT.
pub fn column_view(array: &ArrayRef, layout: &Layout) -> std::result::Result<ColumnView, String> {
    Ok(match array.data_type() {
        DataType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            ColumnView::from_bools(a.iter().collect::<Vec<_>>())
        }
        DataType::Int32 => primitive_view!(array, Int32Type, ColumnView::from_ints),
        DataType::Int64 => primitive_view!(array, Int64Type, ColumnView::from_big_ints),
        DataType::Float32 => primitive_view!(array, Float32Type, ColumnView::from_floats),
        DataType::Float64 => primitive_view!(array, Float64Type, ColumnView::from_doubles),
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            ColumnView::from_varchar::<&str, _, _, _>(a.iter().collect::<Vec<Option<&str>>>())
        }
        DataType::Decimal128(..) => {
            let a = array.as_primitive::<Decimal128Type>();
            let values = a
                .iter()
                .map(|v| v.map(i64::try_from).transpose())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| "decimal value exceeds 18 digits".to_string())?;
            ColumnView::from_big_ints(values)
        }
        DataType::Date32 => {
            let per_day = layout.ticks_per_day();
            let values = array
                .as_primitive::<Date32Type>()
                .iter()
                .map(|d| {
                    d.map(|d| i64::from(d).checked_mul(per_day))
                        .map(|t| t.ok_or(()))
                        .transpose()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| "date out of range".to_string())?;
            timestamp_view(values, layout.precision)
        }
        DataType::Timestamp(unit, _) => {
            if *unit != layout.precision.unit() {
                return Err(format!(
                    "timestamps are {unit:?}, the database precision is {}",
                    layout.precision
                ));
            }
            let values = match unit {
                TimeUnit::Millisecond => {
                    timestamp_values(array.as_primitive::<TimestampMillisecondType>())
                }
                TimeUnit::Microsecond => {
                    timestamp_values(array.as_primitive::<TimestampMicrosecondType>())
                }
                TimeUnit::Nanosecond => {
                    timestamp_values(array.as_primitive::<TimestampNanosecondType>())
                }
                TimeUnit::Second => {
                    return Err("second timestamps are not a class precision".into())
                }
            };
            timestamp_view(values, layout.precision)
        }
        other => {
            return Err(format!(
                "Arrow type {other} has no TDengine column type here"
            ))
        }
    })
}

/// The stmt columns of one series, in insert order.
pub fn series_views(spec: &TableSpec, layout: &Layout, series: &Series) -> Result<Vec<ColumnView>> {
    let insert = layout.insert_columns();
    series
        .rows
        .columns()
        .iter()
        .zip(&insert)
        .map(|(a, &col)| {
            column_view(a, layout)
                .map_err(|m| err(spec, col, series.first_row, Some(&series.table), m))
        })
        .collect()
}

/// One row as `(v1, v2, …)` SQL text (fallback path).
pub fn row_literal(
    columns: &[ArrayRef],
    row: usize,
    layout: &Layout,
    out: &mut String,
) -> std::result::Result<(), String> {
    out.push('(');
    for (k, a) in columns.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        if a.is_null(row) {
            out.push_str("NULL");
            continue;
        }
        let text = match a.data_type() {
            DataType::Boolean => a.as_boolean().value(row).to_string(),
            DataType::Int32 => a.as_primitive::<Int32Type>().value(row).to_string(),
            DataType::Int64 => a.as_primitive::<Int64Type>().value(row).to_string(),
            DataType::Float32 => {
                float_literal(f64::from(a.as_primitive::<Float32Type>().value(row)))?
            }
            DataType::Float64 => float_literal(a.as_primitive::<Float64Type>().value(row))?,
            DataType::Utf8 => escape(a.as_string::<i32>().value(row))?,
            DataType::Decimal128(..) => {
                let v = a.as_primitive::<Decimal128Type>().value(row);
                i64::try_from(v)
                    .map_err(|_| format!("decimal {v} exceeds 18 digits"))?
                    .to_string()
            }
            DataType::Date32 => i64::from(a.as_primitive::<Date32Type>().value(row))
                .checked_mul(layout.ticks_per_day())
                .ok_or("date out of range")?
                .to_string(),
            DataType::Timestamp(TimeUnit::Millisecond, _) => a
                .as_primitive::<TimestampMillisecondType>()
                .value(row)
                .to_string(),
            DataType::Timestamp(TimeUnit::Microsecond, _) => a
                .as_primitive::<TimestampMicrosecondType>()
                .value(row)
                .to_string(),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => a
                .as_primitive::<TimestampNanosecondType>()
                .value(row)
                .to_string(),
            other => return Err(format!("Arrow type {other} has no TDengine literal")),
        };
        out.push_str(&text);
    }
    out.push(')');
    Ok(())
}

/// Multi-table `INSERT INTO a USING … VALUES (…)… b USING … VALUES (…)…` statements, each at most
/// `max_bytes` long, covering every row of every series in order. Each comes with how many series are complete
/// once it and every statement before it have run (for partial-failure reports).
pub fn insert_statements(
    spec: &TableSpec,
    layout: &Layout,
    series: &[Series],
    max_bytes: usize,
) -> Result<Vec<(String, usize)>> {
    const INSERT: &str = "INSERT INTO ";
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut sql = String::from(INSERT);
    let mut row_text = String::new();
    for (s_idx, s) in series.iter().enumerate() {
        let tag_literals = s
            .tags
            .iter()
            .zip(&layout.tags)
            .map(|(t, &col)| {
                tag_literal(t).map_err(|m| err(spec, col, s.first_row, Some(&s.table), m))
            })
            .collect::<Result<Vec<_>>>()?;
        let head = crate::sql::insert_head(spec, layout, &s.table, &tag_literals);
        let columns = s.rows.columns();
        let mut head_written = false;
        for row in 0..s.rows.num_rows() {
            row_text.clear();
            row_literal(columns, row, layout, &mut row_text).map_err(|m| {
                Error::invalid_batch(format!("sub-table {}: {m}", s.table))
                    .with_class(spec.name.clone())
                    .with_row(s.first_row + row)
            })?;
            let need = row_text.len() + 1 + if head_written { 0 } else { head.len() + 1 };
            if sql.len() + need > max_bytes && sql.len() > INSERT.len() {
                out.push((std::mem::replace(&mut sql, String::from(INSERT)), s_idx));
                head_written = false;
            }
            if !head_written {
                if sql.len() > INSERT.len() {
                    sql.push(' ');
                }
                sql.push_str(&head);
                head_written = true;
            } else {
                sql.push(' ');
            }
            if sql.len() + row_text.len() > max_bytes {
                return Err(Error::invalid_batch(format!(
                    "sub-table {}: one row needs {} bytes of SQL, more than the {max_bytes}-byte limit",
                    s.table,
                    INSERT.len() + head.len() + row_text.len()
                ))
                .with_class(spec.name.clone())
                .with_row(s.first_row + row));
            }
            sql.push_str(&row_text);
        }
    }
    if sql.len() > INSERT.len() {
        out.push((sql, series.len()));
    }
    Ok(out)
}
