//! Resolved queries → PostgreSQL SQL with `$n` placeholders and typed parameters. Identifiers come from the
//! spec; every value is a parameter.

use bytes::{BufMut, BytesMut};
use quantdal_core::load::{Order, Query, Scalar};
use quantdal_core::spec::KlineSource;
use quantdal_core::sqlgen::{self, order_by, order_columns, projection, Binder};
use quantdal_core::versions::ParamBinder;
use quantdal_core::{Interval, NeutralType, TableSpec, TimePrecision};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use crate::binary::{put_numeric, PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use crate::ddl::{qualified, quote};

/// A bound value with the PostgreSQL type it is sent as.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub value: Scalar,
    pub ty: Type,
    /// Microseconds per tick for timestamps (1000 for ms classes).
    micros_per_tick: i64,
}

impl Param {
    fn new(spec: &TableSpec, column_type: NeutralType, value: Scalar) -> Param {
        let ty = match (&value, column_type) {
            (Scalar::Bool(_), _) => Type::BOOL,
            (Scalar::Int32(_), _) => Type::INT4,
            (Scalar::Int64(_), _) => Type::INT8,
            (Scalar::Float32(_), _) => Type::FLOAT4,
            (Scalar::Float64(_), _) => Type::FLOAT8,
            (Scalar::Decimal(..), _) => Type::NUMERIC,
            (Scalar::Utf8(_), NeutralType::Json) => Type::JSONB,
            (Scalar::Utf8(_), NeutralType::Varchar { .. }) => Type::VARCHAR,
            (Scalar::Utf8(_), _) => Type::TEXT,
            (Scalar::Timestamp(_), _) => Type::TIMESTAMPTZ,
            (Scalar::Date(_), _) => Type::DATE,
        };
        Param {
            value,
            ty,
            micros_per_tick: match spec.precision() {
                TimePrecision::Ms => 1_000,
                TimePrecision::Us | TimePrecision::Ns => 1,
            },
        }
    }
    fn float8(v: f64) -> Param {
        Param {
            value: Scalar::Float64(v),
            ty: Type::FLOAT8,
            micros_per_tick: 1,
        }
    }
    pub fn int8(v: i64) -> Param {
        Param {
            value: Scalar::Int64(v),
            ty: Type::INT8,
            micros_per_tick: 1,
        }
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.value {
            Scalar::Bool(b) => out.put_u8(u8::from(*b)),
            Scalar::Int32(v) => out.put_i32(*v),
            Scalar::Int64(v) => out.put_i64(*v),
            Scalar::Float32(v) => out.put_f32(*v),
            Scalar::Float64(v) => out.put_f64(*v),
            Scalar::Decimal(v, _, s) => put_numeric(out, *v, (*s).max(0) as u16),
            Scalar::Utf8(s) => {
                if self.ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(s.as_bytes())
            }
            Scalar::Timestamp(t) => out.put_i64(
                t.checked_mul(self.micros_per_tick)
                    .and_then(|m| m.checked_sub(PG_EPOCH_MICROS))
                    .ok_or("timestamp out of PostgreSQL's range")?,
            ),
            Scalar::Date(d) => out.put_i32(d.saturating_sub(PG_EPOCH_DAYS)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        // The statement is prepared with each parameter's own `ty`, so whatever the server asks for is it.
        true
    }

    to_sql_checked!();
}

/// SQL text and its parameters, in placeholder order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn types(&self) -> Vec<Type> {
        self.params.iter().map(|p| p.ty.clone()).collect()
    }
}

fn placeholder(spec: &TableSpec, column: usize, value: &Scalar, params: &mut Vec<Param>) -> String {
    params.push(Param::new(
        spec,
        spec.columns[column].data_type,
        value.clone(),
    ));
    format!("${}", params.len())
}

/// Values become `$n` placeholders with their PostgreSQL types, numbered after those already in the list.
pub(crate) struct PgBinder<'a>(pub(crate) &'a mut Vec<Param>);

impl Binder for PgBinder<'_> {
    fn bind(&mut self, spec: &TableSpec, column: usize, value: &Scalar) -> String {
        placeholder(spec, column, value, self.0)
    }
}

impl ParamBinder for PgBinder<'_> {
    fn bind_stamp(&mut self, spec: &TableSpec, ticks: i64) -> String {
        self.0.push(Param::new(
            spec,
            NeutralType::Timestamp,
            Scalar::Timestamp(ticks),
        ));
        format!("${}", self.0.len())
    }
    fn bind_f64(&mut self, value: f64) -> String {
        self.0.push(Param::float8(value));
        format!("${}", self.0.len())
    }
    fn bind_i64(&mut self, value: i64) -> String {
        self.0.push(Param::int8(value));
        format!("${}", self.0.len())
    }
}

/// ` WHERE …` (or nothing) for the time bounds and conditions of `query`.
pub fn where_clause(spec: &TableSpec, query: &Query, params: &mut Vec<Param>) -> String {
    sqlgen::where_clause(spec, query, &mut PgBinder(params))
}

pub fn limit(query: &Query, params: &mut Vec<Param>) -> String {
    match query.limit {
        Some(n) => {
            params.push(Param::int8(i64::try_from(n).unwrap_or(i64::MAX)));
            format!(" LIMIT ${}", params.len())
        }
        None => String::new(),
    }
}

pub fn select(spec: &TableSpec, schema: &str, query: &Query) -> Statement {
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let order = order_by(&order_columns(spec), query.order);
    let limit = limit(query, &mut params);
    Statement {
        sql: format!(
            "SELECT {} FROM {}{filter}{order}{limit}",
            projection(spec, query),
            qualified(schema, &spec.table)
        ),
        params,
    }
}

/// Last row per series with `DISTINCT ON`, which PostgreSQL serves from the key index (series, time).
pub fn latest(spec: &TableSpec, schema: &str, query: &Query) -> Option<Statement> {
    let time = spec.time.as_ref()?;
    let series: Vec<String> = spec
        .series_columns()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let series_q: Vec<String> = series.iter().map(|s| quote(s)).collect();
    let distinct = if series.is_empty() {
        String::new()
    } else {
        format!("DISTINCT ON ({}) ", series_q.join(", "))
    };
    let mut inner_order = series_q.clone();
    inner_order.push(format!("{} DESC", quote(&time.column)));
    let inner_limit = if series.is_empty() { " LIMIT 1" } else { "" };
    let outer_order = order_by(&series, query.order);
    let limit = limit(query, &mut params);
    let columns = projection(spec, query);
    // The inner query picks the rows (it must select the series columns for DISTINCT ON); the outer one
    // projects and orders them as asked.
    Some(Statement {
        sql: format!(
            "SELECT {columns} FROM (SELECT {distinct}* FROM {}{filter} ORDER BY {}{inner_limit}) AS \"latest\"{outer_order}{limit}",
            qualified(schema, &spec.table),
            inner_order.join(", ")
        ),
        params,
    })
}

/// Bars start at 1970-01-05 00:00 UTC, a Monday, as on every store: for widths dividing a day this is
/// epoch alignment, and weekly bars start on Mondays.
pub const BAR_ORIGIN: &str = "TIMESTAMPTZ '1970-01-05 00:00:00+00'";

/// OHLCV bars; `time_bucket` with TimescaleDB (its `first`/`last` aggregates), `date_bin` otherwise.
pub fn kline(
    spec: &TableSpec,
    schema: &str,
    interval: Interval,
    query: &Query,
    timescale: bool,
) -> Option<Statement> {
    let source = spec.kline.as_ref()?;
    let mut params = vec![Param::int8(interval.seconds())];
    let filter = where_clause(spec, query, &mut params);
    let input = BarInput::table(spec, schema, source);
    let body = bars_from(spec, &input, &filter, timescale)?;
    let order = bar_order(spec, query.order, "\"__bucket\"");
    let limit = limit(query, &mut params);
    Some(Statement {
        sql: format!("{body}{order}{limit}"),
        params,
    })
}

/// What bars are computed from: the class table (one row per tick or bar) or a continuous aggregate of it
/// (one row per finer bar, whose `count` column holds the rows it stands for).
pub struct BarInput<'a> {
    pub relation: String,
    pub open: &'a str,
    pub high: &'a str,
    pub low: &'a str,
    pub close: &'a str,
    pub volume: &'a str,
    pub amount: Option<&'a str>,
    pub count: &'static str,
}

impl<'a> BarInput<'a> {
    pub fn table(spec: &TableSpec, schema: &str, source: &'a KlineSource) -> BarInput<'a> {
        let (open, high, low, close, volume, amount) = source.columns();
        BarInput {
            relation: qualified(schema, &spec.table),
            open,
            high,
            low,
            close,
            volume,
            amount,
            count: "count(*)",
        }
    }
}

/// `SELECT <series>, <bar start>, open … count FROM <input> <filter> GROUP BY <series>, <bar>`, unordered.
/// The bar width is parameter `$1`; `filter` is a `WHERE` clause over the input's columns (or empty).
pub fn bars_from(
    spec: &TableSpec,
    input: &BarInput<'_>,
    filter: &str,
    timescale: bool,
) -> Option<String> {
    let time = spec.time_column()?;
    let source = spec.kline.as_ref()?;
    let series: Vec<String> = spec.series_columns().iter().map(|s| quote(s)).collect();
    let series_list = series.join(", ");
    let sep = if series.is_empty() { "" } else { ", " };
    let t = quote(&time.name);
    let is_date = time.data_type == NeutralType::Date;
    let stride = "make_interval(secs => $1)";
    // DATE columns are bucketed as UTC midnights and come back as dates.
    let source_time = if is_date {
        format!("({t}::timestamp AT TIME ZONE 'UTC')")
    } else {
        t.clone()
    };
    let bucket = if timescale {
        format!("time_bucket({stride}, {source_time}, {BAR_ORIGIN})")
    } else {
        format!("date_bin({stride}, {source_time}, {BAR_ORIGIN})")
    };
    let bucket_out = if is_date {
        "(\"__bucket\" AT TIME ZONE 'UTC')::date".to_string()
    } else {
        "\"__bucket\"".to_string()
    };
    let first = |c: &str| {
        if timescale {
            format!("first({}, {t})", quote(c))
        } else {
            format!("(array_agg({} ORDER BY {t}))[1]", quote(c))
        }
    };
    let last = |c: &str| {
        if timescale {
            format!("last({}, {t})", quote(c))
        } else {
            format!("(array_agg({} ORDER BY {t} DESC))[1]", quote(c))
        }
    };
    let amount_sql = match input.amount {
        Some(a) => format!("sum({})::float8", quote(a)),
        None => "NULL::float8".into(),
    };
    let aggregates = format!(
        "{}::float8 AS \"open\", max({})::float8 AS \"high\", min({})::float8 AS \"low\", {}::float8 AS \"close\", \
         sum({}){} AS \"volume\", {amount_sql} AS \"amount\", {}::bigint AS \"count\"",
        first(input.open),
        quote(input.high),
        quote(input.low),
        last(input.close),
        quote(input.volume),
        volume_cast(spec, source),
        input.count,
    );
    Some(format!(
        "SELECT {series_list}{sep}{bucket_out} AS {t}, {aggregates} FROM (SELECT *, {bucket} AS \"__bucket\" FROM {}{filter}) AS \"src\" \
         GROUP BY {series_list}{sep}\"__bucket\"",
        input.relation
    ))
}

/// Bars' volume type: BIGINT when the class counts shares in integers, DOUBLE otherwise.
pub fn volume_cast(spec: &TableSpec, source: &KlineSource) -> &'static str {
    match spec.column(source.columns().4).map(|c| c.data_type) {
        Some(NeutralType::Int | NeutralType::BigInt) => "::bigint",
        _ => "::float8",
    }
}

/// ` ORDER BY <series>, <time>` in the query's direction (nothing for unordered), `time` being the bar-start
/// expression of the statement it ends.
pub fn bar_order(spec: &TableSpec, order: Order, time: &str) -> String {
    let dir = if order == Order::Desc { " DESC" } else { "" };
    if order == Order::Unordered {
        return String::new();
    }
    let mut cols: Vec<String> = spec
        .series_columns()
        .iter()
        .map(|s| format!("{}{dir}", quote(s)))
        .collect();
    cols.push(format!("{time}{dir}"));
    format!(" ORDER BY {}", cols.join(", "))
}

pub fn delete(spec: &TableSpec, schema: &str, query: &Query) -> Statement {
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    Statement {
        sql: format!("DELETE FROM {}{filter}", qualified(schema, &spec.table)),
        params,
    }
}

pub fn count(spec: &TableSpec, schema: &str) -> String {
    format!("SELECT count(*) FROM {}", qualified(schema, &spec.table))
}

/// `COPY … FROM STDIN (FORMAT binary)` into `table` (the class table or its staging table).
pub fn copy_in(spec: &TableSpec, target: &str) -> String {
    let columns: Vec<String> = spec.columns.iter().map(|c| quote(&c.name)).collect();
    format!(
        "COPY {target} ({}) FROM STDIN (FORMAT binary)",
        columns.join(", ")
    )
}

/// Name of the per-session staging table of a class. It carries a hash of the column layout, so a migrated
/// table gets a fresh one instead of a stale copy.
pub fn staging_name(spec: &TableSpec, schema: &str) -> String {
    let mut parts: Vec<String> = vec![schema.to_string(), spec.table.clone()];
    for c in &spec.columns {
        parts.push(c.name.clone());
        parts.push(c.data_type.to_string());
    }
    format!("qd_stage_{:016x}", quantdal_core::fnv::stable_hash(&parts))
}

/// `CREATE TEMP TABLE` for the staging table: the class's columns without constraints, emptied at commit.
/// A versioned table has revision columns the batch does not carry, so its staging table lists the class's
/// columns instead of copying the table's.
pub fn create_staging(spec: &TableSpec, schema: &str) -> String {
    if spec.versions.is_some() {
        let columns: Vec<String> = spec
            .columns
            .iter()
            .map(|c| crate::ddl::column_definition(spec, c))
            .collect();
        return format!(
            "CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS",
            quote(&staging_name(spec, schema)),
            columns.join(", ")
        );
    }
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        quote(&staging_name(spec, schema)),
        qualified(schema, &spec.table)
    )
}

/// Staging table → class table: insert, and on a key conflict overwrite the value columns (last write wins).
pub fn merge_from_staging(spec: &TableSpec, schema: &str) -> String {
    let columns: Vec<String> = spec.columns.iter().map(|c| quote(&c.name)).collect();
    let list = columns.join(", ");
    let updates: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| !spec.is_key(&c.name))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
        .collect();
    // Rows identical to what is stored are left alone: a retried save (the usual reason for a conflict on
    // every row) then writes no new row versions, no index entries and no WAL.
    let values: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| !spec.is_key(&c.name))
        .map(|c| quote(&c.name))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let table = "\"target\"";
        format!(
            "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
            updates.join(", "),
            values
                .iter()
                .map(|v| format!("{table}.{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            values
                .iter()
                .map(|v| format!("EXCLUDED.{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "INSERT INTO {} AS \"target\" ({list}) SELECT {list} FROM {} ON CONFLICT ({}) {action}",
        qualified(schema, &spec.table),
        quote(&staging_name(spec, schema)),
        spec.key
            .iter()
            .map(|k| quote(k))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Whether any of the given keys is already in the table (decides between COPY straight in and the staging
/// merge), and whether the table is empty (a bulk load into it is followed by ANALYZE). The keys are bound as
/// one row-valued IN list.
pub fn any_key_exists(spec: &TableSpec, schema: &str, probes: &[Vec<Scalar>]) -> Statement {
    let mut params = Vec::new();
    let key_columns: Vec<usize> = spec
        .key
        .iter()
        .filter_map(|k| spec.column_index(k))
        .collect();
    let tuples: Vec<String> = probes
        .iter()
        .map(|values| {
            let ps: Vec<String> = values
                .iter()
                .zip(&key_columns)
                .map(|(v, &c)| placeholder(spec, c, v, &mut params))
                .collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    let key_list: Vec<String> = spec.key.iter().map(|k| quote(k)).collect();
    Statement {
        sql: format!(
            "SELECT EXISTS (SELECT 1 FROM {0} WHERE ({1}) IN ({2})), NOT EXISTS (SELECT 1 FROM {0})",
            qualified(schema, &spec.table),
            key_list.join(", "),
            tuples.join(", ")
        ),
        params,
    }
}
