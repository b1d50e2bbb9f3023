//! Resolved queries → DuckDB SQL with `?` placeholders and the values to bind. Identifiers come from the
//! spec; every value is a parameter.

use duckdb::types::Value as DuckValue;
use quantdal_core::load::{Order, Query, Scalar};
use quantdal_core::spec::KlineSource;
use quantdal_core::sqlgen::{self, order_by, order_columns, projection, Binder};
use quantdal_core::versions::ParamBinder;
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

pub(crate) fn placeholder(
    spec: &TableSpec,
    column: usize,
    value: &Scalar,
    params: &mut Vec<DuckValue>,
) -> String {
    marked(spec, column, value, params, Marks::Positional)
}

/// How a statement marks its parameters: `?` in text order, or `$n` where a generator binds values in
/// another order than they appear (information bars bind the threshold after the filter it precedes;
/// `offset` leaves `$1…$offset` to values bound outside the binder, the Arrow scans of a save).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marks {
    Positional,
    Numbered { offset: usize },
}

impl Marks {
    /// The mark of the parameter just pushed onto `params`.
    fn last(self, params: &[DuckValue]) -> String {
        match self {
            Marks::Positional => "?".into(),
            Marks::Numbered { offset } => format!("${}", offset + params.len()),
        }
    }
}

fn marked(
    spec: &TableSpec,
    column: usize,
    value: &Scalar,
    params: &mut Vec<DuckValue>,
    marks: Marks,
) -> String {
    let c = &spec.columns[column];
    match value {
        Scalar::Timestamp(t) => {
            params.push(DuckValue::Text(timestamp_text(*t, spec.precision())));
            format!(
                "CAST({} AS {})",
                marks.last(params),
                column_type(c.data_type, spec.precision())
            )
        }
        Scalar::Decimal(v, p, s) => {
            params.push(DuckValue::Text(decimal_text(*v, *s)));
            format!("CAST({} AS DECIMAL({p},{s}))", marks.last(params))
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
            marks.last(params)
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

/// Values become placeholders (timestamps and decimals as casts of exact text, see `placeholder`).
pub(crate) struct DuckBinder<'a> {
    pub(crate) params: &'a mut Vec<DuckValue>,
    pub(crate) marks: Marks,
}

impl<'a> DuckBinder<'a> {
    pub(crate) fn positional(params: &'a mut Vec<DuckValue>) -> Self {
        DuckBinder {
            params,
            marks: Marks::Positional,
        }
    }
}

impl Binder for DuckBinder<'_> {
    fn bind(&mut self, spec: &TableSpec, column: usize, value: &Scalar) -> String {
        marked(spec, column, value, self.params, self.marks)
    }
}

impl ParamBinder for DuckBinder<'_> {
    fn bind_stamp(&mut self, spec: &TableSpec, ticks: i64) -> String {
        self.params
            .push(DuckValue::Text(timestamp_text(ticks, spec.precision())));
        format!(
            "CAST({} AS {})",
            self.marks.last(self.params),
            column_type(NeutralType::Timestamp, spec.precision())
        )
    }
    fn bind_f64(&mut self, value: f64) -> String {
        self.params.push(DuckValue::Double(value));
        format!("CAST({} AS DOUBLE)", self.marks.last(self.params))
    }
    fn bind_i64(&mut self, value: i64) -> String {
        self.params.push(DuckValue::BigInt(value));
        self.marks.last(self.params)
    }
}

/// ` WHERE …` (or nothing) for the time bounds and conditions of `query`.
pub fn where_clause(spec: &TableSpec, query: &Query, params: &mut Vec<DuckValue>) -> String {
    sqlgen::where_clause(spec, query, &mut DuckBinder::positional(params))
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
    // Ticks are bars whose open, high, low and close are all the tick price.
    let (open, high, low, close, volume, amount) = match source {
        KlineSource::Ticks {
            price,
            volume,
            amount,
        } => (price, price, price, price, volume, amount),
        KlineSource::Bars {
            open,
            high,
            low,
            close,
            volume,
            amount,
        } => (open, high, low, close, volume, amount),
    };
    let aggregates = format!(
        "CAST(arg_min({}, {t}) AS DOUBLE) AS \"open\", CAST(max({}) AS DOUBLE) AS \"high\", \
         CAST(min({}) AS DOUBLE) AS \"low\", CAST(arg_max({}, {t}) AS DOUBLE) AS \"close\", \
         {} AS \"volume\", {} AS \"amount\", count(*) AS \"count\"",
        quote(open),
        quote(high),
        quote(low),
        quote(close),
        volume_cast(volume),
        amount_sql(amount)
    );
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

/// `column BETWEEN low AND high`: a range the rows a merge replaces must fall in, so DuckDB's zone maps skip
/// the row groups outside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub column: usize,
    pub low: Scalar,
    pub high: Scalar,
}

/// The first half of a series-layout save: `DELETE FROM t USING (SELECT key FROM <scan> [UNION ALL …]) AS
/// b WHERE t.k = b.k … [AND t.c BETWEEN ? AND ?]…` removes the rows whose keys the batch holds. `params`
/// are the bounds' values, bound after the scans' pointers (the scans come first in the text).
pub fn delete_keys(spec: &TableSpec, scans: &[String], bounds: &[Bound]) -> Statement {
    let table = quote(&spec.table);
    let key = spec
        .key
        .iter()
        .map(|k| quote(k))
        .collect::<Vec<_>>()
        .join(", ");
    let selects: Vec<String> = scans
        .iter()
        .map(|scan| format!("SELECT {key} FROM {scan}"))
        .collect();
    let mut conditions: Vec<String> = spec
        .key
        .iter()
        .map(|k| format!("{table}.{0} = \"__batch\".{0}", quote(k)))
        .collect();
    let mut params = Vec::new();
    for b in bounds {
        let low = placeholder(spec, b.column, &b.low, &mut params);
        let high = placeholder(spec, b.column, &b.high, &mut params);
        conditions.push(format!(
            "{table}.{} BETWEEN {low} AND {high}",
            quote(&spec.columns[b.column].name)
        ));
    }
    Statement {
        sql: format!(
            "DELETE FROM {table} USING ({}) AS \"__batch\" WHERE {}",
            selects.join(" UNION ALL "),
            conditions.join(" AND ")
        ),
        params,
    }
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

#[cfg(test)]
mod snapshots {
    //! The SQL every generator emits, with its parameters, for a small catalog that covers each column
    //! type, precision and key shape. A change shows up in review as a diff of `src/snapshots/*.snap`.

    use quantdal_core::{col, Catalog, Interval, Load, Order, TableSpec, Timestamp};

    use super::*;

    const CATALOG: &str = r#"
version: 1
classes:
  - name: ticks
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE }
      - { name: lots, type: INT }
      - { name: fee, type: "DECIMAL(18,4)" }
      - { name: side, type: VARCHAR(1) }
      - { name: auction, type: BOOL }
      - { name: settle, type: DATE }
    kline: { price: price, volume: volume, amount: amount }

  - name: ns_ticks
    category: market
    store: main
    time: { column: ts, precision: ns }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: size, type: DOUBLE, nullable: false }
    kline: { price: price, volume: size }

  - name: bars
    category: market
    store: main
    time: { column: ts, precision: us }
    tags: [symbol, frequency]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: frequency, type: VARCHAR(8) }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE, nullable: false }
    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: amount }

  - name: daily
    category: market
    store: main
    time: { column: trade_date }
    tags: [symbol]
    columns:
      - { name: trade_date, type: DATE }
      - { name: symbol, type: VARCHAR(16) }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: turnover, type: "DECIMAL(18,4)", nullable: false }
    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: turnover }

  - name: orders
    category: transaction
    store: main
    time: { column: ts, precision: us }
    key: [order_id]
    columns:
      - { name: order_id, type: VARCHAR(64) }
      - { name: ts, type: TIMESTAMP }
      - { name: status, type: VARCHAR(16), nullable: false }

  - name: instruments
    category: reference
    store: main
    key: [code]
    columns:
      - { name: code, type: VARCHAR(16) }
      - { name: name, type: TEXT, nullable: false }
      - { name: lot_size, type: INT, nullable: false }

  - name: memberships
    category: reference
    store: main
    key: [index_code, symbol]
    columns:
      - { name: index_code, type: VARCHAR(16) }
      - { name: symbol, type: VARCHAR(16) }

  - name: events
    category: meta
    store: main
    columns:
      - { name: message, type: TEXT, nullable: false }
      - { name: level, type: INT }
"#;

    fn spec(name: &str) -> std::sync::Arc<TableSpec> {
        let catalog = Catalog::from_yaml(CATALOG, "<sql snapshots>").unwrap();
        catalog.get(name).unwrap().clone()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn query(spec: &TableSpec, load: Load) -> Query {
        load.resolve(spec).unwrap()
    }

    fn interval(text: &str) -> Interval {
        text.parse().unwrap()
    }

    fn show(statement: &Statement) -> String {
        format!("{}\n\nparams: {:#?}", statement.sql, statement.params)
    }

    #[test]
    fn select_with_range_symbols_every_op_projection_desc_and_limit() {
        let spec = spec("ticks");
        let load = Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 07:00:00.0005"))
            .symbols(["600000.SH", "000001.SZ"])
            .columns(["ts", "symbol", "price", "volume", "fee"])
            .filter(col("price").eq(10.5))
            .filter(col("price").ne(11))
            .filter(col("volume").lt(1_000))
            .filter(col("volume").le("2000"))
            .filter(col("lots").gt(1))
            .filter(col("lots").ge(2))
            .filter(col("side").is_in(["B", "S"]))
            .filter(col("fee").between("0.5", 1.25))
            .filter(col("amount").is_null())
            .filter(col("settle").is_not_null())
            .filter(col("ts").ne(at("2024-01-02 02:00:00.123")))
            .filter(col("auction").eq(false))
            .filter(col("settle").ge("2024-01-03"))
            .order(Order::Desc)
            .limit(50);
        insta::assert_snapshot!("select_filtered", show(&select(&spec, &query(&spec, load))));
    }

    #[test]
    fn select_defaults() {
        let ticks = spec("ticks");
        insta::assert_snapshot!(
            "select_all_ticks",
            show(&select(&ticks, &query(&ticks, Load::all())))
        );
        let ns = spec("ns_ticks");
        let load = Load::all()
            .since(at("2024-01-02 01:30:00.000000001"))
            .order(Order::Unordered);
        insta::assert_snapshot!(
            "select_ns_since_unordered",
            show(&select(&ns, &query(&ns, load)))
        );
        let instruments = spec("instruments");
        insta::assert_snapshot!(
            "select_all_instruments",
            show(&select(&instruments, &query(&instruments, Load::all())))
        );
        let events = spec("events");
        insta::assert_snapshot!(
            "select_all_keyless",
            show(&select(&events, &query(&events, Load::all().limit(3))))
        );
    }

    #[test]
    fn latest_per_series() {
        let ticks = spec("ticks");
        let load = Load::all()
            .until(at("2024-01-03"))
            .symbols(["600000.SH"])
            .columns(["symbol", "ts", "price"]);
        insta::assert_snapshot!(
            "latest_ticks",
            show(&latest(&ticks, &query(&ticks, load)).unwrap())
        );
        let orders = spec("orders");
        let load = Load::all().filter(col("status").eq("filled")).limit(10);
        insta::assert_snapshot!(
            "latest_orders_series_from_key",
            show(&latest(&orders, &query(&orders, load)).unwrap())
        );
        let instruments = spec("instruments");
        assert_eq!(
            latest(&instruments, &query(&instruments, Load::all())),
            None
        );
    }

    #[test]
    fn kline_from_ticks() {
        let ticks = spec("ticks");
        let load = Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 02:30:00"))
            .symbols(["600000.SH"]);
        insta::assert_snapshot!(
            "kline_ticks_1m",
            show(&kline(&ticks, interval("1m"), &query(&ticks, load)).unwrap())
        );
        let ns = spec("ns_ticks");
        let load = Load::all().order(Order::Unordered);
        insta::assert_snapshot!(
            "kline_ns_ticks_5m_double_volume_no_amount",
            show(&kline(&ns, interval("5m"), &query(&ns, load)).unwrap())
        );
        let instruments = spec("instruments");
        assert_eq!(
            kline(
                &instruments,
                interval("1m"),
                &query(&instruments, Load::all())
            ),
            None
        );
    }

    #[test]
    fn kline_from_bars() {
        let bars = spec("bars");
        let load = Load::range(at("2024-01-02")..at("2024-01-03"))
            .filter(col("frequency").eq("1m"))
            .order(Order::Desc)
            .limit(100);
        insta::assert_snapshot!(
            "kline_bars_1h",
            show(&kline(&bars, interval("1h"), &query(&bars, load)).unwrap())
        );
    }

    #[test]
    fn kline_on_a_date_class() {
        let daily = spec("daily");
        let load = Load::range(at("2024-01-01")..at("2024-04-01")).symbols(["600000.SH"]);
        insta::assert_snapshot!(
            "kline_daily_7d",
            show(&kline(&daily, interval("7d"), &query(&daily, load)).unwrap())
        );
    }

    #[test]
    fn delete_statements() {
        let ticks = spec("ticks");
        let load = Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 02:30:00"))
            .symbols(["600000.SH"]);
        insta::assert_snapshot!("delete_ticks", show(&delete(&ticks, &query(&ticks, load))));
        let daily = spec("daily");
        // A range that does not fall on midnight: the DATE bounds round up (ceiling) on both ends.
        let load = Load::range(at("2024-01-01 12:00:00")..at("2024-01-05"))
            .filter(col("turnover").gt("1000.5"));
        insta::assert_snapshot!("delete_daily", show(&delete(&daily, &query(&daily, load))));
        let instruments = spec("instruments");
        let load = Load::all().filter(col("code").is_in(["600000.SH", "000001.SZ"]));
        insta::assert_snapshot!(
            "delete_instruments",
            show(&delete(&instruments, &query(&instruments, load)))
        );
    }

    /// Every generated statement prepares and runs (on empty tables) in DuckDB with its parameters bound.
    #[test]
    fn every_statement_runs_in_duckdb() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let catalog = Catalog::from_yaml(CATALOG, "<sql snapshots>").unwrap();
        for spec in catalog.classes() {
            for statement in crate::ddl::create_statements(spec) {
                conn.execute_batch(&statement).unwrap();
            }
        }
        let ticks = spec("ticks");
        let daily = spec("daily");
        let bars = spec("bars");
        let ns = spec("ns_ticks");
        let orders = spec("orders");
        let range = || Load::range(at("2024-01-01 12:00:00")..at("2024-01-05 00:00:00.0005"));
        let filtered = range()
            .symbols(["600000.SH"])
            .filter(col("price").ge(1))
            .filter(col("fee").between("0.5", 1.25))
            .filter(col("settle").lt("2024-02-01"))
            .filter(col("auction").eq(true))
            .filter(col("ts").ne(at("2024-01-02 02:00:00.123")))
            .filter(col("side").is_not_null())
            .order(Order::Desc)
            .limit(5);
        let statements = [
            select(&ticks, &query(&ticks, filtered.clone())),
            latest(&ticks, &query(&ticks, filtered.clone())).unwrap(),
            latest(&orders, &query(&orders, Load::all())).unwrap(),
            kline(&ticks, interval("1m"), &query(&ticks, filtered)).unwrap(),
            kline(&ns, interval("5m"), &query(&ns, range())).unwrap(),
            kline(&bars, interval("1h"), &query(&bars, range())).unwrap(),
            kline(&daily, interval("7d"), &query(&daily, range())).unwrap(),
            select(
                &daily,
                &query(&daily, range().filter(col("turnover").gt("1000.5"))),
            ),
        ];
        for statement in statements {
            let mut stmt = conn
                .prepare(&statement.sql)
                .unwrap_or_else(|e| panic!("{e}\n{}", statement.sql));
            let mut rows = stmt
                .query(duckdb::params_from_iter(statement.params.iter()))
                .unwrap_or_else(|e| panic!("{e}\n{}", statement.sql));
            assert!(rows.next().unwrap().is_none(), "{}", statement.sql);
        }
        let deletes = [
            delete(&ticks, &query(&ticks, range().symbols(["600000.SH"]))),
            delete(&daily, &query(&daily, range())),
        ];
        for statement in deletes {
            let n = conn
                .execute(
                    &statement.sql,
                    duckdb::params_from_iter(statement.params.iter()),
                )
                .unwrap_or_else(|e| panic!("{e}\n{}", statement.sql));
            assert_eq!(n, 0);
        }
    }

    #[test]
    fn upsert_by_key_shape() {
        let scan = ["quantdal_arrow_scan(?)".to_string()];
        insta::assert_snapshot!("upsert_keyed", upsert(&spec("instruments"), &scan));
        insta::assert_snapshot!("upsert_series_keyed", upsert(&spec("ticks"), &scan));
        insta::assert_snapshot!("upsert_all_key", upsert(&spec("memberships"), &scan));
        insta::assert_snapshot!("upsert_keyless", upsert(&spec("events"), &scan));
        // Several scans (slices of one batch) are one statement.
        let scans = [
            "quantdal_arrow_scan(?)".to_string(),
            "quantdal_arrow_scan(?)".to_string(),
        ];
        insta::assert_snapshot!("upsert_two_scans", upsert(&spec("instruments"), &scans));
        // The empty-table path: the same column list, no conflict clause.
        insta::assert_snapshot!("insert_keyed", insert(&spec("instruments"), &scan));
        insta::assert_snapshot!("insert_two_scans", insert(&spec("memberships"), &scans));
    }
}
