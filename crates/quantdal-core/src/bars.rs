//! Information-driven bars: `ticks:N`, `volume:V` and `dollar:D` instead of a clock.
//!
//! **The boundary rule.** Within each series, rows are taken in time order (the range and predicates of the
//! load apply first). Each row has a *measure*: 1 for `ticks`, the source's volume for `volume`, and for
//! `dollar` the source's amount (or price × volume for ticks without an amount column). With `S` the sum of
//! the measure over the series' *earlier* rows (0 for its first row), a row belongs to bar `floor(S / T)`,
//! `T` being the threshold. So a bar closes on the row that brings it to the threshold, a row is never
//! split, the overshoot counts toward the next bar (bar k covers cumulative measure `[kT, (k+1)T)` at its
//! rows' starts), and one row larger than `T` leaves bar numbers unused. `S` is computed as a float:
//! integer volumes are exact up to 2^53. Nulls measure 0.
//!
//! A bar carries the time-bar fields (series, time = its first row's time, open, high, low, close, volume,
//! amount, count) plus `first_time` and `last_time`. The SQL stores compute bars with a window sum
//! ([`bars_sql`]); every other store runs [`compute`] over its load stream, with the same arithmetic, so the
//! results are the same everywhere.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow_row::{OwnedRow, RowConverter, SortField};
use futures::StreamExt;

use crate::admin::SqlDialect;
use crate::error::{Error, Result};
use crate::kline::kline_schema;
use crate::load::{Order, Query};
use crate::spec::{KlineSource, TableSpec};
use crate::sqlgen::{self, quote};
use crate::store::BatchStream;
use crate::types::NeutralType;
use crate::versions::ParamBinder;

/// Names of the two columns information bars add to the time-bar fields.
pub const FIRST_TIME: &str = "first_time";
pub const LAST_TIME: &str = "last_time";

/// What closes a bar: a number of rows, an amount of volume, or an amount of money traded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InfoBar {
    Ticks(u64),
    Volume(f64),
    Dollar(f64),
}

impl InfoBar {
    /// The threshold `T` of the boundary rule.
    pub fn threshold(self) -> f64 {
        match self {
            InfoBar::Ticks(n) => n as f64,
            InfoBar::Volume(v) | InfoBar::Dollar(v) => v,
        }
    }

    /// Whether `text` names information bars (`kind:threshold`) rather than a time interval.
    pub fn is_info_bar(text: &str) -> bool {
        text.contains(':')
    }
}

impl FromStr for InfoBar {
    type Err = Error;
    fn from_str(text: &str) -> Result<InfoBar> {
        let t = text.trim();
        let bad = |why: &str| {
            Error::invalid_query(format!(
                "bars `{t}`: {why} (expected ticks:N, volume:V or dollar:D)"
            ))
        };
        let (kind, value) = t
            .split_once(':')
            .ok_or_else(|| bad("no `:` between kind and threshold"))?;
        let value = value.trim().replace('_', "");
        match kind.trim() {
            "ticks" => match value.parse::<u64>() {
                Ok(n) if n > 0 => Ok(InfoBar::Ticks(n)),
                _ => Err(bad(
                    "the number of ticks must be a whole number of at least 1",
                )),
            },
            kind @ ("volume" | "dollar") => match value.parse::<f64>() {
                // Up to 2^53 every integer threshold is exact, as the sums it divides.
                Ok(v) if v.is_finite() && v > 0.0 && v <= 9_007_199_254_740_992.0 => {
                    Ok(if kind == "volume" {
                        InfoBar::Volume(v)
                    } else {
                        InfoBar::Dollar(v)
                    })
                }
                _ => Err(bad("the threshold must be a positive number up to 2^53")),
            },
            _ => Err(bad("the kind must be ticks, volume or dollar")),
        }
    }
}

impl fmt::Display for InfoBar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfoBar::Ticks(n) => write!(f, "ticks:{n}"),
            InfoBar::Volume(v) => write!(f, "volume:{v}"),
            InfoBar::Dollar(v) => write!(f, "dollar:{v}"),
        }
    }
}

/// What a row contributes to its series' running sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Every row counts 1.
    One,
    /// A numeric column of the class.
    Column(String),
    /// Price × volume (ticks without an amount column).
    Product(String, String),
}

fn source(spec: &TableSpec) -> Result<&KlineSource> {
    spec.kline.as_ref().ok_or_else(|| {
        Error::invalid_query(
            "the class declares no `kline:` source, so bars cannot be computed from it",
        )
        .with_class(spec.name.clone())
    })
}

/// The measure of `bar` on this class, or why the class cannot give it.
pub fn measure(spec: &TableSpec, bar: InfoBar) -> Result<Measure> {
    let source = source(spec)?;
    let (_, _, _, _, volume, amount) = source.columns();
    Ok(match bar {
        InfoBar::Ticks(_) => Measure::One,
        InfoBar::Volume(_) => Measure::Column(volume.to_string()),
        InfoBar::Dollar(_) => {
            match (amount, source) {
                (Some(a), _) => Measure::Column(a.to_string()),
                (None, KlineSource::Ticks { price, volume, .. }) => {
                    Measure::Product(price.clone(), volume.clone())
                }
                (None, KlineSource::Bars { .. }) => return Err(Error::invalid_query(
                    "dollar bars from bars need an `amount` column in the class's `kline:` source",
                )
                .with_class(spec.name.clone())),
            }
        }
    })
}

/// Checks the class can give `bar`: a kline source, a time column, and rows unique by series and time (the
/// order the boundary rule walks must be the same on every store).
pub fn check_bars(spec: &TableSpec, bar: InfoBar) -> Result<()> {
    measure(spec, bar)?;
    let time = spec.time.as_ref().ok_or_else(|| {
        Error::invalid_query("the class has no time column").with_class(spec.name.clone())
    })?;
    let mut identity: Vec<&str> = spec.series_columns();
    identity.push(&time.column);
    let unique = spec.key.iter().all(|k| identity.contains(&k.as_str()))
        && identity.iter().all(|c| spec.is_key(c));
    if !unique {
        return Err(Error::invalid_query(format!(
            "information bars walk each series in time order, so they need rows unique by series and time; the \
             key of this class is ({})",
            spec.key.join(", ")
        ))
        .with_class(spec.name.clone()));
    }
    Ok(())
}

/// The output schema: [`kline_schema`] plus `first_time` and `last_time` (the time column's type).
pub fn bar_schema(spec: &TableSpec) -> Result<SchemaRef> {
    let base = kline_schema(spec)?;
    let time = spec.time_column().ok_or_else(|| {
        Error::invalid_query("the class has no time column").with_class(spec.name.clone())
    })?;
    let ty = time.data_type.arrow_type(spec.precision());
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(FIRST_TIME, ty.clone(), false));
    fields.push(Field::new(LAST_TIME, ty, false));
    Ok(Arc::new(Schema::new(fields)))
}

fn is_integer(spec: &TableSpec, column: &str) -> bool {
    matches!(
        spec.column(column).map(|c| c.data_type),
        Some(NeutralType::Int | NeutralType::BigInt)
    )
}

/// The bars of `bar` as one SELECT over `relation` (the table, as the store names it), in the store's
/// dialect, with the query's filters, order and limit. Everything variable is bound through `binder`.
pub fn bars_sql(
    spec: &TableSpec,
    bar: InfoBar,
    relation: &str,
    query: &Query,
    dialect: SqlDialect,
    binder: &mut impl ParamBinder,
) -> Result<String> {
    check_bars(spec, bar)?;
    let source = source(spec)?;
    let time = spec
        .time_column()
        .ok_or_else(|| Error::invalid_query("the class has no time column"))?;
    let t = quote(&time.name);
    let pg = dialect == SqlDialect::Postgres;
    let float = if pg { "DOUBLE PRECISION" } else { "DOUBLE" };
    let as_float = |e: &str| format!("CAST({e} AS {float})");
    let series: Vec<String> = spec.series_columns().iter().map(|s| quote(s)).collect();
    let partition = if series.is_empty() {
        String::new()
    } else {
        format!("PARTITION BY {} ", series.join(", "))
    };
    let group = {
        let mut g = series.clone();
        g.push("\"__bar\"".into());
        g.join(", ")
    };
    let (open, high, low, close, volume, amount) = source.columns();
    let measure = match measure(spec, bar)? {
        Measure::One => "1".to_string(),
        Measure::Column(c) => quote(&c),
        Measure::Product(p, v) => format!("{} * {}", as_float(&quote(&p)), as_float(&quote(&v))),
    };
    let first = |c: &str| {
        if pg {
            format!("CAST((array_agg({} ORDER BY {t}))[1] AS {float})", quote(c))
        } else {
            format!("CAST(arg_min({}, {t}) AS {float})", quote(c))
        }
    };
    let last = |c: &str| {
        if pg {
            format!(
                "CAST((array_agg({} ORDER BY {t} DESC))[1] AS {float})",
                quote(c)
            )
        } else {
            format!("CAST(arg_max({}, {t}) AS {float})", quote(c))
        }
    };
    let volume_sql = if is_integer(spec, volume) {
        format!("CAST(sum({}) AS BIGINT)", quote(volume))
    } else {
        as_float(&format!("sum({})", quote(volume)))
    };
    let amount_sql = match amount {
        Some(a) => as_float(&format!("sum({})", quote(a))),
        None => format!("CAST(NULL AS {float})"),
    };
    let filter = sqlgen::where_clause(spec, query, binder);
    let threshold = binder.bind_f64(bar.threshold());
    let series_select = if series.is_empty() {
        String::new()
    } else {
        format!("{}, ", series.join(", "))
    };
    let dir = match query.order {
        Order::Desc => " DESC",
        _ => "",
    };
    let order = if query.order == Order::Unordered {
        String::new()
    } else {
        let mut cols: Vec<String> = series.iter().map(|s| format!("{s}{dir}")).collect();
        cols.push(format!("min({t}){dir}"));
        format!(" ORDER BY {}", cols.join(", "))
    };
    let limit = match query.limit {
        Some(n) => format!(
            " LIMIT {}",
            binder.bind_i64(i64::try_from(n).unwrap_or(i64::MAX))
        ),
        None => String::new(),
    };
    // The exclusive running sum: the measure of the series' earlier rows only.
    let running = format!(
        "{} / {threshold}",
        as_float(&format!(
            "coalesce(sum(\"__m\") OVER ({partition}ORDER BY {t} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
        ))
    );
    Ok(format!(
        "SELECT {series_select}min({t}) AS {t}, {} AS \"open\", {} AS \"high\", {} AS \"low\", {} AS \"close\", \
         {volume_sql} AS \"volume\", {amount_sql} AS \"amount\", count(*) AS \"count\", min({t}) AS \"{FIRST_TIME}\", \
         max({t}) AS \"{LAST_TIME}\" FROM (SELECT *, floor({running}) AS \"__bar\" FROM (SELECT *, {measure} AS \"__m\" \
         FROM {relation}{filter}) AS \"_src\") AS \"_bars\" GROUP BY {group}{order}{limit}",
        first(open),
        as_float(&format!("max({})", quote(high))),
        as_float(&format!("min({})", quote(low))),
        last(close),
    ))
}

/// The load [`compute`] reads: series, time and the source columns, in series-then-time order, unlimited.
/// Returns it with the order and limit the bars themselves take.
pub fn source_query(spec: &TableSpec, query: Query) -> Result<(Query, Order, Option<u64>)> {
    let source = source(spec)?;
    let time = spec
        .time
        .as_ref()
        .ok_or_else(|| Error::invalid_query("the class has no time column"))?;
    let (o, h, l, c, v, a) = source.columns();
    let mut names: Vec<&str> = spec.series_columns();
    names.push(&time.column);
    names.extend([o, h, l, c, v]);
    names.extend(a);
    let mut columns = Vec::new();
    for name in names {
        let i = spec
            .column_index(name)
            .ok_or_else(|| Error::store(format!("kline column `{name}` is not declared")))?;
        if !columns.contains(&i) {
            columns.push(i);
        }
    }
    let (order, limit) = (query.order, query.limit);
    Ok((
        Query {
            columns,
            order: Order::Asc,
            limit: None,
            ..query
        },
        order,
        limit,
    ))
}

/// A running sum kept exactly where the measure is an integer.
#[derive(Debug, Clone, Copy)]
enum Sum {
    Int(i128),
    Float(f64),
}

impl Sum {
    fn as_f64(self) -> f64 {
        match self {
            Sum::Int(i) => i as f64,
            Sum::Float(f) => f,
        }
    }
}

#[derive(Debug)]
struct Acc {
    series: RecordBatch,
    first: i64,
    last: i64,
    open: Option<f64>,
    close: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    volume: Option<Sum>,
    amount: Option<f64>,
    count: i64,
}

fn add(sum: Option<Sum>, v: Option<Sum>) -> Option<Sum> {
    match (sum, v) {
        (s, None) => s,
        (None, v) => v,
        (Some(Sum::Int(a)), Some(Sum::Int(b))) => Some(Sum::Int(a + b)),
        (Some(a), Some(b)) => Some(Sum::Float(a.as_f64() + b.as_f64())),
    }
}

/// SQL's max (`greater`) or min over non-null values.
fn extreme(a: Option<f64>, b: Option<f64>, greater: bool) -> Option<f64> {
    match (a, b) {
        (None, v) | (v, None) => v,
        (Some(x), Some(y)) => Some(if greater { x.max(y) } else { x.min(y) }),
    }
}

fn floats(batch: &RecordBatch, i: usize) -> Result<Float64Array> {
    Ok(cast(batch.column(i), &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

fn ints(batch: &RecordBatch, i: usize) -> Result<Int64Array> {
    let column = batch.column(i);
    let as_int = match column.data_type() {
        // Same buffers, read as plain integers (ticks since the epoch).
        DataType::Timestamp(unit, _) => {
            let data = column
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, None))
                .build()?;
            cast(&arrow::array::make_array(data), &DataType::Int64)?
        }
        _ => cast(column, &DataType::Int64)?,
    };
    Ok(as_int.as_primitive::<Int64Type>().clone())
}

fn time_array(values: Vec<i64>, ty: &DataType) -> Result<ArrayRef> {
    Ok(match ty {
        DataType::Date32 => Arc::new(Date32Array::from(
            values
                .into_iter()
                .map(|v| i32::try_from(v).map_err(|_| Error::store("date out of range")))
                .collect::<Result<Vec<i32>>>()?,
        )),
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Millisecond => {
                Arc::new(TimestampMillisecondArray::from(values).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Microsecond => {
                Arc::new(TimestampMicrosecondArray::from(values).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Nanosecond => {
                Arc::new(TimestampNanosecondArray::from(values).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Second => return Err(Error::store("second timestamps are not a class unit")),
        },
        other => return Err(Error::store(format!("{other} is not a time type"))),
    })
}

/// Bars of `bar` over `stream` (rows of [`source_query`], series then time), by the boundary rule above;
/// then ordered (series then bar start, both descending for `Desc`) and limited.
pub async fn compute(
    spec: &TableSpec,
    bar: InfoBar,
    mut stream: BatchStream,
    order: Order,
    limit: Option<u64>,
) -> Result<Vec<RecordBatch>> {
    check_bars(spec, bar)?;
    let schema = bar_schema(spec)?;
    let (source_q, _, _) = source_query(spec, crate::load::Load::all().resolve(spec)?)?;
    let position = |name: &str| -> Result<usize> {
        let i = spec
            .column_index(name)
            .ok_or_else(|| Error::store(format!("`{name}` is not declared")))?;
        source_q
            .columns
            .iter()
            .position(|&c| c == i)
            .ok_or_else(|| Error::store(format!("`{name}` is not in the source load")))
    };
    let source = source(spec)?;
    let (o, h, l, c, v, a) = source.columns();
    let time_name = spec
        .time
        .as_ref()
        .map(|t| t.column.clone())
        .unwrap_or_default();
    let series_names = spec.series_columns();
    let series_pos: Vec<usize> = series_names
        .iter()
        .map(|s| position(s))
        .collect::<Result<_>>()?;
    let (time_pos, o_pos, h_pos, l_pos, c_pos, v_pos) = (
        position(&time_name)?,
        position(o)?,
        position(h)?,
        position(l)?,
        position(c)?,
        position(v)?,
    );
    let a_pos = a.map(position).transpose()?;
    let volume_is_int = is_integer(spec, v);
    let measure = measure(spec, bar)?;
    let measure_pos = match &measure {
        Measure::One => None,
        Measure::Column(m) => Some((position(m)?, is_integer(spec, m))),
        Measure::Product(..) => None,
    };
    let threshold = bar.threshold();

    let schema_ref = stream_schema_fields(spec, &source_q);
    // Series boundaries are found by comparing the encoded series columns of consecutive rows; a class
    // without series columns is one series.
    let converter = if series_pos.is_empty() {
        None
    } else {
        Some(RowConverter::new(
            series_pos
                .iter()
                .map(|&i| SortField::new(schema_ref[i].data_type().clone()))
                .collect(),
        )?)
    };
    let mut finished: Vec<Acc> = Vec::new();
    let mut current: Option<OwnedRow> = None;
    let mut running = Sum::Int(0);
    let mut open: BTreeMap<i64, Acc> = BTreeMap::new();
    let flush = |open: &mut BTreeMap<i64, Acc>, finished: &mut Vec<Acc>| {
        let mut bars: Vec<Acc> = std::mem::take(open).into_values().collect();
        bars.sort_by_key(|b| b.first);
        finished.extend(bars);
    };

    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let series_cols: Vec<ArrayRef> = series_pos
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = converter
            .as_ref()
            .map(|c| c.convert_columns(&series_cols))
            .transpose()?;
        let times = ints(&batch, time_pos)?;
        let (opens, highs, lows, closes) = (
            floats(&batch, o_pos)?,
            floats(&batch, h_pos)?,
            floats(&batch, l_pos)?,
            floats(&batch, c_pos)?,
        );
        let volume_int = if volume_is_int {
            Some(ints(&batch, v_pos)?)
        } else {
            None
        };
        let volume_float = floats(&batch, v_pos)?;
        let amounts = a_pos.map(|p| floats(&batch, p)).transpose()?;
        let measure_int = match measure_pos {
            Some((p, true)) => Some(ints(&batch, p)?),
            _ => None,
        };
        let measure_float = match (&measure, measure_pos) {
            (_, Some((p, false))) => Some(floats(&batch, p)?),
            (Measure::Product(p, q), _) => {
                let (p, q) = (floats(&batch, position(p)?)?, floats(&batch, position(q)?)?);
                Some(
                    p.iter()
                        .zip(q.iter())
                        .map(|(a, b)| a.zip(b).map(|(a, b)| a * b))
                        .collect::<Float64Array>(),
                )
            }
            _ => None,
        };
        let series_batch = RecordBatch::try_new(
            Arc::new(Schema::new(
                series_pos
                    .iter()
                    .map(|&i| schema_ref[i].clone())
                    .collect::<Vec<_>>(),
            )),
            series_cols.clone(),
        )?;
        for row in 0..batch.num_rows() {
            let key = rows.as_ref().map(|r| r.row(row));
            let same = match (&current, key) {
                (Some(c), Some(k)) => c.row() == k,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !same {
                flush(&mut open, &mut finished);
                current = Some(match key {
                    Some(k) => k.owned(),
                    None => empty_row()?,
                });
                running = if measure_float.is_some() {
                    Sum::Float(0.0)
                } else {
                    Sum::Int(0)
                };
            }
            let id = (running.as_f64() / threshold).floor();
            // Bar numbers are integers below 2^53 for any sum a float keeps exactly.
            let id = id as i64;
            let contribution = match (&measure, &measure_int, &measure_float) {
                (Measure::One, _, _) => Some(Sum::Int(1)),
                (_, Some(m), _) => m.is_valid(row).then(|| Sum::Int(i128::from(m.value(row)))),
                (_, _, Some(m)) => m.is_valid(row).then(|| Sum::Float(m.value(row))),
                _ => None,
            };
            if let Some(s) = add(Some(running), contribution) {
                running = s;
            }
            let value = |a: &Float64Array| a.is_valid(row).then(|| a.value(row));
            let t = times.value(row);
            let vol = match &volume_int {
                Some(vi) => vi
                    .is_valid(row)
                    .then(|| Sum::Int(i128::from(vi.value(row)))),
                None => value(&volume_float).map(Sum::Float),
            };
            let amount = amounts.as_ref().and_then(value);
            match open.get_mut(&id) {
                None => {
                    open.insert(
                        id,
                        Acc {
                            series: series_batch.slice(row, 1),
                            first: t,
                            last: t,
                            open: value(&opens),
                            close: value(&closes),
                            high: value(&highs),
                            low: value(&lows),
                            volume: vol,
                            amount,
                            count: 1,
                        },
                    );
                }
                Some(acc) => {
                    if t < acc.first {
                        acc.first = t;
                        acc.open = value(&opens);
                    }
                    if t > acc.last {
                        acc.last = t;
                        acc.close = value(&closes);
                    }
                    acc.high = extreme(acc.high, value(&highs), true);
                    acc.low = extreme(acc.low, value(&lows), false);
                    acc.volume = add(acc.volume, vol);
                    acc.amount = match (acc.amount, amount) {
                        (Some(x), Some(y)) => Some(x + y),
                        (x, y) => x.or(y),
                    };
                    acc.count += 1;
                }
            }
        }
    }
    flush(&mut open, &mut finished);
    if order == Order::Desc {
        finished.reverse();
    }
    if let Some(n) = limit {
        finished.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    Ok(vec![bars_batch(&schema, series_names.len(), &finished)?])
}

/// A stand-in series key for classes without series columns.
fn empty_row() -> Result<OwnedRow> {
    let converter = RowConverter::new(vec![SortField::new(DataType::Boolean)])?;
    let rows =
        converter.convert_columns(&[Arc::new(arrow::array::BooleanArray::from(vec![true]))])?;
    Ok(rows.row(0).owned())
}

/// The fields of the source load's batches, in its column order.
fn stream_schema_fields(spec: &TableSpec, query: &Query) -> Vec<Field> {
    let full = spec.arrow_schema();
    query
        .columns
        .iter()
        .map(|&i| full.field(i).clone())
        .collect()
}

fn bars_batch(schema: &SchemaRef, series: usize, bars: &[Acc]) -> Result<RecordBatch> {
    if bars.is_empty() {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for s in 0..series {
        let parts: Vec<&dyn Array> = bars.iter().map(|b| b.series.column(s).as_ref()).collect();
        columns.push(concat(&parts)?);
    }
    let time_type = schema.field(series).data_type().clone();
    columns.push(time_array(
        bars.iter().map(|b| b.first).collect(),
        &time_type,
    )?);
    for pick in [
        |b: &Acc| b.open,
        |b: &Acc| b.high,
        |b: &Acc| b.low,
        |b: &Acc| b.close,
    ] {
        columns.push(Arc::new(bars.iter().map(pick).collect::<Float64Array>()));
    }
    let volume_type = schema.field(series + 5).data_type();
    columns.push(if volume_type == &DataType::Int64 {
        Arc::new(
            bars.iter()
                .map(|b| {
                    b.volume.map(|v| match v {
                        Sum::Int(i) => i64::try_from(i).unwrap_or(i64::MAX),
                        Sum::Float(f) => f as i64,
                    })
                })
                .collect::<Int64Array>(),
        )
    } else {
        Arc::new(
            bars.iter()
                .map(|b| b.volume.map(Sum::as_f64))
                .collect::<Float64Array>(),
        )
    });
    columns.push(Arc::new(
        bars.iter().map(|b| b.amount).collect::<Float64Array>(),
    ));
    columns.push(Arc::new(Int64Array::from(
        bars.iter().map(|b| b.count).collect::<Vec<_>>(),
    )));
    columns.push(time_array(
        bars.iter().map(|b| b.first).collect(),
        &time_type,
    )?);
    columns.push(time_array(
        bars.iter().map(|b| b.last).collect(),
        &time_type,
    )?);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bar_kinds() {
        assert_eq!("ticks:100".parse::<InfoBar>().unwrap(), InfoBar::Ticks(100));
        assert_eq!(
            "volume:1_000".parse::<InfoBar>().unwrap(),
            InfoBar::Volume(1000.0)
        );
        assert_eq!(
            "dollar:2.5e6".parse::<InfoBar>().unwrap(),
            InfoBar::Dollar(2_500_000.0)
        );
        for bad in [
            "ticks:0",
            "ticks:1.5",
            "volume:-1",
            "dollar:nan",
            "minutes:5",
            "ticks",
        ] {
            assert!(bad.parse::<InfoBar>().is_err(), "{bad}");
        }
        assert_eq!(InfoBar::Ticks(5).to_string(), "ticks:5");
        assert!(InfoBar::is_info_bar("volume:10"));
        assert!(!InfoBar::is_info_bar("5m"));
    }
}
