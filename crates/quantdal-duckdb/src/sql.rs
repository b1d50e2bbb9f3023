//! Resolved queries → DuckDB SQL with `?` placeholders and the values to bind. Identifiers come from the
//! spec; every value is a parameter.

use duckdb::types::Value as DuckValue;
use quantdal_core::load::{Condition, Op, Order, Query, Scalar};
use quantdal_core::spec::KlineSource;
use quantdal_core::{Interval, NeutralType, TableSpec, TimePrecision, Timestamp};

use crate::ddl::{column_type, quote};

/// SQL text and its parameters, in placeholder order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<DuckValue>,
}

/// Bound timestamps travel as exact ISO text cast to the column type: the driver's native timestamp binding
/// goes through microseconds and would truncate nanosecond classes.
fn timestamp_text(ticks: i64, precision: TimePrecision) -> String {
    let nanos = ticks.saturating_mul(precision.nanos_per_tick());
    Timestamp::from_nanos(nanos)
        .to_datetime()
        .format("%Y-%m-%d %H:%M:%S%.9f")
        .to_string()
}

fn placeholder(
    spec: &TableSpec,
    column: usize,
    value: &Scalar,
    params: &mut Vec<DuckValue>,
) -> String {
    let c = &spec.columns[column];
    match value {
        Scalar::Timestamp(t) => {
            params.push(DuckValue::Text(timestamp_text(*t, spec.precision())));
            format!("CAST(? AS {})", column_type(c.data_type, spec.precision()))
        }
        Scalar::Decimal(v, p, s) => {
            params.push(DuckValue::Text(decimal_text(*v, *s)));
            format!("CAST(? AS DECIMAL({p},{s}))")
        }
        other => {
            params.push(match other {
                Scalar::Bool(b) => DuckValue::Boolean(*b),
                Scalar::Int32(i) => DuckValue::Int(*i),
                Scalar::Int64(i) => DuckValue::BigInt(*i),
                Scalar::Float32(f) => DuckValue::Float(*f),
                Scalar::Float64(f) => DuckValue::Double(*f),
                Scalar::Utf8(s) => DuckValue::Text(s.clone()),
                Scalar::Date(d) => DuckValue::Date32(*d),
                Scalar::Timestamp(_) | Scalar::Decimal(..) => DuckValue::Null,
            });
            "?".into()
        }
    }
}

fn decimal_text(unscaled: i128, scale: i8) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale.max(0) as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

fn condition_sql(spec: &TableSpec, c: &Condition, params: &mut Vec<DuckValue>) -> String {
    let column = quote(&spec.columns[c.column].name);
    match c.op {
        Op::IsNull | Op::IsNotNull => format!("{column} {}", c.op.sql()),
        Op::In => {
            let list: Vec<String> = c
                .values
                .iter()
                .map(|v| placeholder(spec, c.column, v, params))
                .collect();
            format!("{column} IN ({})", list.join(", "))
        }
        Op::Between => {
            let low = placeholder(spec, c.column, &c.values[0], params);
            let high = placeholder(spec, c.column, &c.values[1], params);
            format!("{column} BETWEEN {low} AND {high}")
        }
        op => {
            let v = placeholder(spec, c.column, &c.values[0], params);
            format!("{column} {} {v}", op.sql())
        }
    }
}

/// ` WHERE …` (or nothing) for the time bounds and conditions of `query`.
pub fn where_clause(spec: &TableSpec, query: &Query, params: &mut Vec<DuckValue>) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &query.time {
        let is_date = spec.columns[t.column].data_type == NeutralType::Date;
        let bound = |ticks: i64| {
            if is_date {
                Scalar::Date(i32::try_from(ticks).unwrap_or(if ticks < 0 {
                    i32::MIN
                } else {
                    i32::MAX
                }))
            } else {
                Scalar::Timestamp(ticks)
            }
        };
        let column = quote(&spec.columns[t.column].name);
        if let Some(s) = t.start {
            let p = placeholder(spec, t.column, &bound(s), params);
            parts.push(format!("{column} >= {p}"));
        }
        if let Some(e) = t.end {
            let p = placeholder(spec, t.column, &bound(e), params);
            parts.push(format!("{column} < {p}"));
        }
    }
    for c in &query.conditions {
        parts.push(condition_sql(spec, c, params));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    }
}

/// Series columns then time (or the key when there is no time column): the natural row order.
fn order_columns(spec: &TableSpec) -> Vec<String> {
    match &spec.time {
        Some(t) => {
            let mut cols: Vec<String> = spec
                .series_columns()
                .into_iter()
                .map(String::from)
                .collect();
            cols.push(t.column.clone());
            cols
        }
        None => spec.key.clone(),
    }
}

fn order_by(columns: &[String], order: Order) -> String {
    let dir = match order {
        Order::Asc => "",
        Order::Desc => " DESC",
        Order::Unordered => return String::new(),
    };
    if columns.is_empty() {
        return String::new();
    }
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("{}{dir}", quote(c)))
        .collect();
    format!(" ORDER BY {}", list.join(", "))
}

fn limit(query: &Query, params: &mut Vec<DuckValue>) -> String {
    match query.limit {
        Some(n) => {
            params.push(DuckValue::UBigInt(n));
            " LIMIT ?".into()
        }
        None => String::new(),
    }
}

fn projection(spec: &TableSpec, query: &Query) -> String {
    query
        .columns
        .iter()
        .map(|&i| quote(&spec.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn select(spec: &TableSpec, query: &Query) -> Statement {
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let order = order_by(&order_columns(spec), query.order);
    let limit = limit(query, &mut params);
    Statement {
        sql: format!(
            "SELECT {} FROM {}{filter}{order}{limit}",
            projection(spec, query),
            quote(&spec.table)
        ),
        params,
    }
}

/// Last row per series: the window keeps the newest row of each partition after the filters apply.
pub fn latest(spec: &TableSpec, query: &Query) -> Option<Statement> {
    let time = spec.time.as_ref()?;
    let series = spec.series_columns();
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let partition = if series.is_empty() {
        String::new()
    } else {
        format!(
            "PARTITION BY {} ",
            series
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let order = order_by(
        &series.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        query.order,
    );
    let limit = limit(query, &mut params);
    Some(Statement {
        sql: format!(
            "SELECT {} FROM {}{filter} QUALIFY row_number() OVER ({partition}ORDER BY {} DESC) = 1{order}{limit}",
            projection(spec, query),
            quote(&spec.table),
            quote(&time.column)
        ),
        params,
    })
}

/// Bars are aligned to 1970-01-05 00:00 UTC, a Monday: for widths that divide a day this is epoch alignment,
/// and weekly bars start on Mondays.
pub const BAR_ORIGIN: &str = "1970-01-05 00:00:00";

pub fn kline(spec: &TableSpec, interval: Interval, query: &Query) -> Option<Statement> {
    let time = spec.time_column()?;
    let source = spec.kline.as_ref()?;
    let series: Vec<String> = spec.series_columns().iter().map(|s| quote(s)).collect();
    let series_list = series.join(", ");
    let sep = if series.is_empty() { "" } else { ", " };
    let is_date = time.data_type == NeutralType::Date;
    let mut params = Vec::new();
    let bucket = if is_date {
        params.push(DuckValue::BigInt(interval.seconds() / 86_400));
        params.push(DuckValue::Text(BAR_ORIGIN[..10].to_string()));
        format!(
            "time_bucket(to_days(CAST(? AS INTEGER)), {}, CAST(? AS DATE))",
            quote(&time.name)
        )
    } else {
        params.push(DuckValue::BigInt(interval.seconds()));
        params.push(DuckValue::Text(BAR_ORIGIN.to_string()));
        // Back to the column's own type, so the bar start comes out in the class unit (time_bucket yields
        // microsecond TIMESTAMP, which the output conversion cannot relabel to `UTC` across units).
        format!(
            "CAST(time_bucket(to_seconds(CAST(? AS BIGINT)), CAST({} AS TIMESTAMP), CAST(? AS TIMESTAMP)) AS {})",
            quote(&time.name),
            column_type(time.data_type, spec.precision())
        )
    };
    let t = quote(&time.name);
    let volume_cast = |v: &str| match spec.column(v).map(|c| c.data_type) {
        Some(NeutralType::Int | NeutralType::BigInt) => {
            format!("CAST(sum({}) AS BIGINT)", quote(v))
        }
        _ => format!("CAST(sum({}) AS DOUBLE)", quote(v)),
    };
    let amount_sql = |a: &Option<String>| match a {
        Some(a) => format!("CAST(sum({}) AS DOUBLE)", quote(a)),
        None => "CAST(NULL AS DOUBLE)".into(),
    };
    let aggregates = match source {
        KlineSource::Ticks {
            price,
            volume,
            amount,
        } => {
            let p = quote(price);
            format!(
                "CAST(arg_min({p}, {t}) AS DOUBLE) AS \"open\", CAST(max({p}) AS DOUBLE) AS \"high\", \
                 CAST(min({p}) AS DOUBLE) AS \"low\", CAST(arg_max({p}, {t}) AS DOUBLE) AS \"close\", \
                 {} AS \"volume\", {} AS \"amount\", count(*) AS \"count\"",
                volume_cast(volume),
                amount_sql(amount)
            )
        }
        KlineSource::Bars {
            open,
            high,
            low,
            close,
            volume,
            amount,
        } => format!(
            "CAST(arg_min({}, {t}) AS DOUBLE) AS \"open\", CAST(max({}) AS DOUBLE) AS \"high\", \
             CAST(min({}) AS DOUBLE) AS \"low\", CAST(arg_max({}, {t}) AS DOUBLE) AS \"close\", \
             {} AS \"volume\", {} AS \"amount\", count(*) AS \"count\"",
            quote(open),
            quote(high),
            quote(low),
            quote(close),
            volume_cast(volume),
            amount_sql(amount)
        ),
    };
    let filter = where_clause(spec, query, &mut params);
    let dir = if query.order == Order::Desc {
        " DESC"
    } else {
        ""
    };
    let order = if query.order == Order::Unordered {
        String::new()
    } else {
        let mut cols: Vec<String> = series.iter().map(|s| format!("{s}{dir}")).collect();
        cols.push(format!("\"__bucket\"{dir}"));
        format!(" ORDER BY {}", cols.join(", "))
    };
    let limit = limit(query, &mut params);
    Some(Statement {
        sql: format!(
            "SELECT {series_list}{sep}\"__bucket\" AS {t}, {aggregates} FROM (SELECT *, {bucket} AS \"__bucket\" FROM {}{filter}) \
             GROUP BY {series_list}{sep}\"__bucket\"{order}{limit}",
            quote(&spec.table)
        ),
        params,
    })
}

pub fn delete(spec: &TableSpec, query: &Query) -> Statement {
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    Statement {
        sql: format!("DELETE FROM {}{filter}", quote(&spec.table)),
        params,
    }
}

/// `INSERT … SELECT … FROM <scan> [UNION ALL SELECT … FROM <scan>]…` with no conflict handling (for tables
/// known to be empty).
pub fn insert(spec: &TableSpec, scans: &[String]) -> String {
    let list = spec
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let selects: Vec<String> = scans
        .iter()
        .map(|scan| format!("SELECT {list} FROM {scan}"))
        .collect();
    format!(
        "INSERT INTO {} ({list}) {}",
        quote(&spec.table),
        selects.join(" UNION ALL ")
    )
}

/// `INSERT … SELECT … FROM <arrow scan>` upserting on the class key (last write wins).
pub fn upsert(spec: &TableSpec, scans: &[String]) -> String {
    let head = insert(spec, scans);
    if spec.key.is_empty() {
        return head;
    }
    let key = spec
        .key
        .iter()
        .map(|k| quote(k))
        .collect::<Vec<_>>()
        .join(", ");
    let updates: Vec<String> = spec
        .value_columns()
        .map(|c| format!("{0} = excluded.{0}", quote(&c.name)))
        .collect();
    if updates.is_empty() {
        format!("{head} ON CONFLICT ({key}) DO NOTHING")
    } else {
        format!(
            "{head} ON CONFLICT ({key}) DO UPDATE SET {}",
            updates.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_keeps_scale() {
        assert_eq!(decimal_text(100_100, 4), "10.0100");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(7, 0), "7");
    }

    #[test]
    fn timestamp_text_is_exact_to_the_nanosecond() {
        assert_eq!(
            timestamp_text(1_500_000_000_000_123, TimePrecision::Us),
            "2017-07-14 02:40:00.000123000"
        );
        assert_eq!(
            timestamp_text(1, TimePrecision::Ns),
            "1970-01-01 00:00:00.000000001"
        );
    }
}
