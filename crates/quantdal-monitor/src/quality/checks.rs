//! The inline checks, vectorised with Arrow kernels over a batch already in the class schema. Each returns
//! how many rows are bad, a mask of them (for quarantine) and what it measured.

use std::collections::HashMap;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, UInt32Array,
};
use arrow::compute::kernels::{boolean, cmp};
use arrow::compute::{cast, prep_null_mask_filter, take};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::row::{RowConverter, SortField};
use quantdal_core::time::NANOS_PER_DAY;
use quantdal_core::types::unit_nanos;
use quantdal_core::{Result, TableSpec};
use serde_json::{json, Map, Value};

use super::roles::ResolvedQuality;

/// Bad rows of one check: a mask (`None` when there are none) and measurements.
pub struct Found {
    pub mask: Option<BooleanArray>,
    pub bad: usize,
    pub measured: Value,
}

impl Found {
    fn from_mask(mask: Option<BooleanArray>, measured: Value) -> Found {
        let mask = mask.map(|m| {
            if m.null_count() > 0 {
                prep_null_mask_filter(&m)
            } else {
                m
            }
        });
        let bad = mask.as_ref().map_or(0, |m| m.true_count());
        Found {
            mask: mask.filter(|_| bad > 0),
            bad,
            measured,
        }
    }
}

fn or(acc: Option<BooleanArray>, next: BooleanArray) -> Result<Option<BooleanArray>> {
    // Nulls mean "not bad": clear them before combining so `or` cannot turn a row null.
    let next = if next.null_count() > 0 {
        prep_null_mask_filter(&next)
    } else {
        next
    };
    Ok(Some(match acc {
        Some(a) => boolean::or(&a, &next)?,
        None => next,
    }))
}

fn floats(batch: &RecordBatch, i: usize) -> Result<Float64Array> {
    Ok(cast(batch.column(i), &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

fn ints(array: &ArrayRef) -> Result<Int64Array> {
    Ok(cast(array, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

fn name(batch: &RecordBatch, i: usize) -> &str {
    batch.schema_ref().field(i).name()
}

/// Nulls in required columns.
pub fn nulls(q: &ResolvedQuality, batch: &RecordBatch) -> Result<Found> {
    let mut mask = None;
    let mut measured = Map::new();
    for &i in &q.required {
        let column = batch.column(i);
        if column.null_count() == 0 {
            continue;
        }
        measured.insert(name(batch, i).to_string(), json!(column.null_count()));
        mask = or(mask, arrow::compute::is_null(column)?)?;
    }
    Ok(Found::from_mask(mask, Value::Object(measured)))
}

/// Prices > 0, volumes ≥ 0, low ≤ open/close ≤ high, bid ≤ ask, level within range. Nulls are the null
/// check's business, not this one's.
pub fn validity(q: &ResolvedQuality, batch: &RecordBatch) -> Result<Found> {
    let mut mask = None;
    let mut measured = Map::new();
    let mut rule = |label: String, bad: BooleanArray| -> Result<()> {
        let bad = if bad.null_count() > 0 {
            prep_null_mask_filter(&bad)
        } else {
            bad
        };
        let n = bad.true_count();
        if n > 0 {
            measured.insert(label, json!(n));
            mask = or(mask.take(), bad)?;
        }
        Ok(())
    };
    let zero = Float64Array::new_scalar(0.0);
    // Arrow orders NaN above every number and equal to itself, so `= NaN` finds NaNs.
    let nan = Float64Array::new_scalar(f64::NAN);
    for &i in &q.prices {
        let p = floats(batch, i)?;
        let bad = boolean::or(&cmp::lt_eq(&p, &zero)?, &cmp::eq(&p, &nan)?)?;
        rule(format!("{} > 0", name(batch, i)), bad)?;
    }
    for &i in &q.volumes {
        let v = floats(batch, i)?;
        let bad = boolean::or(&cmp::lt(&v, &zero)?, &cmp::eq(&v, &nan)?)?;
        rule(format!("{} >= 0", name(batch, i)), bad)?;
    }
    if let Some([o, h, l, c]) = q.ohlc {
        let (open, high, low, close) = (
            floats(batch, o)?,
            floats(batch, h)?,
            floats(batch, l)?,
            floats(batch, c)?,
        );
        let (on, hn, ln, cn) = (
            name(batch, o),
            name(batch, h),
            name(batch, l),
            name(batch, c),
        );
        rule(format!("{ln} <= {on}"), cmp::gt(&low, &open)?)?;
        rule(format!("{ln} <= {cn}"), cmp::gt(&low, &close)?)?;
        rule(format!("{on} <= {hn}"), cmp::gt(&open, &high)?)?;
        rule(format!("{cn} <= {hn}"), cmp::gt(&close, &high)?)?;
        rule(format!("{ln} <= {hn}"), cmp::gt(&low, &high)?)?;
    }
    for &(b, a) in &q.bid_ask {
        let (bid, ask) = (floats(batch, b)?, floats(batch, a)?);
        rule(
            format!("{} <= {}", name(batch, b), name(batch, a)),
            cmp::gt(&bid, &ask)?,
        )?;
    }
    if let Some((i, lo, hi)) = q.level {
        let level = ints(batch.column(i))?;
        let bad = boolean::or(
            &cmp::lt(&level, &Int64Array::new_scalar(lo))?,
            &cmp::gt(&level, &Int64Array::new_scalar(hi))?,
        )?;
        rule(format!("{} in {lo}..{hi}", name(batch, i)), bad)?;
    }
    Ok(Found::from_mask(mask, Value::Object(measured)))
}

/// Rows whose key already appeared earlier in the batch (the first occurrence is kept).
pub fn duplicates(spec: &TableSpec, batch: &RecordBatch) -> Result<Found> {
    if spec.key.is_empty() || quantdal_core::validate::find_duplicate_key(spec, batch)?.is_none() {
        return Ok(Found::from_mask(None, json!({ "duplicate_rows": 0 })));
    }
    let columns: Vec<ArrayRef> = spec
        .key
        .iter()
        .filter_map(|k| spec.column_index(k).map(|i| batch.column(i).clone()))
        .collect();
    let rows = encode(&columns)?;
    let mut seen = std::collections::HashSet::with_capacity(rows.num_rows());
    let bad: Vec<bool> = rows.iter().map(|r| !seen.insert(r)).collect();
    let mask = BooleanArray::from(bad);
    let n = mask.true_count();
    Ok(Found::from_mask(Some(mask), json!({ "duplicate_rows": n })))
}

fn encode(columns: &[ArrayRef]) -> Result<arrow::row::Rows> {
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    Ok(converter.convert_columns(columns)?)
}

/// The time column in nanoseconds-per-unit terms: values as i64 and the nanoseconds in one unit.
fn time_values(spec: &TableSpec, batch: &RecordBatch) -> Result<Option<(Int64Array, i64)>> {
    let Some(i) = spec
        .time
        .as_ref()
        .and_then(|t| spec.column_index(&t.column))
    else {
        return Ok(None);
    };
    let column = batch.column(i);
    let unit = match column.data_type() {
        DataType::Timestamp(unit, _) => unit_nanos(*unit),
        DataType::Date32 => NANOS_PER_DAY,
        _ => return Ok(None),
    };
    Ok(Some((ints(column)?, unit)))
}

/// Timestamps later than now + tolerance.
pub fn future(
    q: &ResolvedQuality,
    spec: &TableSpec,
    batch: &RecordBatch,
    now_ns: i64,
) -> Result<Found> {
    let Some((t, unit)) = time_values(spec, batch)? else {
        return Ok(Found::from_mask(None, json!({})));
    };
    // t·unit > limit ⇔ t > ⌊limit / unit⌋ for integer t.
    let limit = now_ns
        .saturating_add(q.future_tolerance_ns)
        .div_euclid(unit);
    let mask = cmp::gt(&t, &Int64Array::new_scalar(limit))?;
    let found = Found::from_mask(Some(mask), Value::Null);
    let measured = match &found.mask {
        Some(m) => {
            let latest = arrow::compute::max(
                &arrow::compute::filter(&t, m)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            );
            json!({ "future_rows": found.bad, "latest_ns": latest.map(|v| v.saturating_mul(unit)), "now_ns": now_ns })
        }
        None => json!({ "future_rows": 0 }),
    };
    Ok(Found { measured, ..found })
}

/// Rows older than a row before them in the same series (compared with the series' running maximum).
pub fn order(spec: &TableSpec, batch: &RecordBatch) -> Result<Found> {
    let none = || Found::from_mask(None, json!({ "out_of_order_rows": 0 }));
    let n = batch.num_rows();
    let Some((t, _)) = time_values(spec, batch)? else {
        return Ok(none());
    };
    if n < 2 {
        return Ok(none());
    }
    let (next, prev) = (t.slice(1, n - 1), t.slice(0, n - 1));
    // Fast path: time never decreases across the whole batch, so no series can go backwards.
    let rising = cmp::gt_eq(&next, &prev)?;
    if rising.null_count() == 0 && rising.true_count() == n - 1 {
        return Ok(none());
    }
    // Usual market data: one run per series, each in time order. Proven with vectorised comparisons; only
    // other batches pay for the per-row hash below.
    if quantdal_core::validate::series_runs_in_time_order(spec, batch, false)? {
        return Ok(none());
    }
    let series: Vec<ArrayRef> = spec
        .series_columns()
        .iter()
        .filter_map(|c| spec.column_index(c).map(|i| batch.column(i).clone()))
        .collect();
    let mut bad = vec![false; n];
    if series.is_empty() {
        let mut max = i64::MIN;
        for (i, v) in t.iter().enumerate() {
            let Some(v) = v else { continue };
            bad[i] = v < max;
            max = max.max(v);
        }
    } else {
        let rows = encode(&series)?;
        let mut latest: HashMap<arrow::row::Row<'_>, i64> = HashMap::new();
        for (i, key) in rows.iter().enumerate() {
            if t.is_null(i) {
                continue;
            }
            let v = t.value(i);
            let max = latest.entry(key).or_insert(v);
            bad[i] = v < *max;
            *max = (*max).max(v);
        }
    }
    let mask = BooleanArray::from(bad);
    let count = mask.true_count();
    Ok(Found::from_mask(
        Some(mask),
        json!({ "out_of_order_rows": count }),
    ))
}

/// Row indexes set in `mask`.
pub fn indices(mask: &BooleanArray) -> UInt32Array {
    UInt32Array::from(
        (0..mask.len())
            .filter(|&i| mask.value(i))
            .map(|i| i as u32)
            .collect::<Vec<_>>(),
    )
}

/// The rows at `idx` as JSON objects, one string per row.
pub fn rows_as_json(batch: &RecordBatch, idx: &UInt32Array) -> Result<Vec<String>> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let picked = RecordBatch::try_new(batch.schema(), columns)?;
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
        writer.write(&picked)?;
        writer.finish()?;
    }
    Ok(String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect())
}
