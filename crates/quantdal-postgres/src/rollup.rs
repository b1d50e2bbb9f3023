//! TimescaleDB continuous aggregates of a class (`timescale.rollups`): the views provisioning creates, each
//! rolled up from the coarsest finer view whose width divides its own (1m → 5m → 15m → 1h → 4h → 1d), and the
//! choice of one to serve `kline`.
//!
//! A view serves bars of width W when its own width divides W, the requested time bounds fall on its bucket
//! edges, and the query filters on series columns only. Whether it is *fresh* for the requested range is
//! decided in the snapshot the read sees (one repeatable-read transaction): a range with a change not yet
//! refreshed into the view — or into any view it is rolled up from — is read from the class table instead.
//! Views are real-time (`materialized_only = false`), so buckets past the last refresh come from the table
//! as well.

use quantdal_core::load::Query;
use quantdal_core::options::RollupOptions;
use quantdal_core::{Error, Interval, NeutralType, Result, TableSpec, TimePrecision};
use tokio_postgres::Client;

use crate::ddl::{literal, qualified, quote};
use crate::sql::{self, bar_order, bars_from, BarInput, Param, Statement};

/// Bars and rollups start at 1970-01-05 (a Monday), in seconds since the Unix epoch: [`sql::BAR_ORIGIN`].
const ORIGIN_SECONDS: i64 = 4 * 86_400;
/// `time_bucket`'s own default origin (2000-01-03, also a Monday), which views created without one use.
const TIMESCALE_DEFAULT_ORIGIN_SECONDS: i64 = 946_857_600;

/// TimescaleDB's earliest time (4714-11-24 00:00 UTC BC) in its internal microseconds. Its materialization
/// invalidation log keeps a permanent entry below it, which an open range start must not overlap.
const TIMESCALE_MIN_MICROS: i64 = -210_866_803_200_000_000;

/// A rollup's bucket width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Width {
    /// Seconds (`5m`, `4h`, `1 week`).
    Fixed(i64),
    /// A calendar interval (`1 month`, `1 year`): buckets of varying length, not used for `kline`.
    Calendar(String),
}

/// One continuous aggregate of a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    pub view: String,
    pub width: Width,
    /// The view it is rolled up from; `None`: the class table.
    pub parent: Option<String>,
}

/// The class's rollups, validated, fixed widths finest first then calendar ones, each with the view it is
/// rolled up from.
pub fn plan(spec: &TableSpec) -> Result<Vec<Rollup>> {
    let Some(options) = spec.options.timescale.as_ref() else {
        return Ok(Vec::new());
    };
    if options.rollups.is_empty() {
        return Ok(Vec::new());
    }
    let config_error = |message: String| Error::config(message).with_class(spec.name.clone());
    if spec.versions.is_some() {
        return Err(config_error(
            "timescale.rollups cannot aggregate a versioned class (every revision is a row of its table)"
                .into(),
        ));
    }
    if spec.kline.is_none() {
        return Err(config_error(
            "timescale.rollups needs a `kline` source on the class to know its OHLCV columns"
                .into(),
        ));
    }
    let mut rollups: Vec<Rollup> = Vec::new();
    for option in &options.rollups {
        let view = option.view_name(&spec.table);
        if !quantdal_core::spec::is_identifier(&view) || view == spec.table {
            return Err(config_error(format!(
                "timescale.rollups name `{view}` is not a lower-case identifier other than the table's"
            )));
        }
        let width = width(spec, option)?;
        let is_date = spec
            .time_column()
            .is_some_and(|t| t.data_type == NeutralType::Date);
        if let (true, Width::Fixed(seconds)) = (is_date, &width) {
            if seconds % 86_400 != 0 {
                return Err(config_error(format!(
                    "timescale.rollups `{view}`: a class timed by DATE rolls up whole days only"
                )));
            }
        }
        if let Some(same) = rollups.iter().find(|r| r.view == view || r.width == width) {
            return Err(config_error(format!(
                "timescale.rollups `{view}` repeats `{}` (same name or width)",
                same.view
            )));
        }
        rollups.push(Rollup {
            view,
            width,
            parent: None,
        });
    }
    rollups.sort_by_key(|r| match r.width {
        Width::Fixed(seconds) => (0, seconds),
        Width::Calendar(_) => (1, 0),
    });
    for i in 0..rollups.len() {
        let Width::Fixed(seconds) = rollups[i].width else {
            continue;
        };
        rollups[i].parent = rollups[..i]
            .iter()
            .rev()
            .find_map(|finer| match finer.width {
                Width::Fixed(f) if seconds % f == 0 => Some(finer.view.clone()),
                _ => None,
            });
    }
    Ok(rollups)
}

/// A kline width (`5m`) or a PostgreSQL interval (`1 week`, `1 month`).
fn width(spec: &TableSpec, option: &RollupOptions) -> Result<Width> {
    let text = option.interval.trim();
    if let Ok(interval) = text.parse::<Interval>() {
        return Ok(Width::Fixed(interval.seconds()));
    }
    let mut parts = text.split_whitespace();
    let seconds_per = |unit: &str| match unit.trim_end_matches('s') {
        "second" => Some(Some(1)),
        "minute" => Some(Some(60)),
        "hour" => Some(Some(3_600)),
        "day" => Some(Some(86_400)),
        "week" => Some(Some(604_800)),
        "month" | "year" => Some(None),
        _ => None,
    };
    if let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) {
        if let (Ok(n @ 1..), Some(per)) = (n.parse::<i64>(), seconds_per(unit)) {
            return Ok(match per {
                Some(per) => Width::Fixed(n * per),
                None => Width::Calendar(format!("{n} {unit}")),
            });
        }
    }
    Err(Error::config(format!(
        "timescale.rollups interval `{text}` is neither a kline width like `5m` nor an interval like `1 week`"
    ))
    .with_class(spec.name.clone()))
}

/// The statements that create a rollup (idempotent): the view, real-time reads for views made before, and
/// its refresh policy.
pub fn statements(spec: &TableSpec, schema: &str, rollup: &Rollup) -> Vec<String> {
    let (Some(time), Some(source)) = (spec.time_column(), spec.kline.as_ref()) else {
        return Vec::new();
    };
    let t = quote(&time.name);
    let series = series_list(spec);
    let (width, bucket) = match &rollup.width {
        Width::Fixed(seconds) => {
            // Whole days as days: `time_bucket` over a DATE column takes no sub-day interval.
            let width = if seconds % 86_400 == 0 {
                format!("INTERVAL '{} days'", seconds / 86_400)
            } else {
                format!("INTERVAL '{seconds} seconds'")
            };
            let origin = if time.data_type == NeutralType::Date {
                "DATE '1970-01-05'"
            } else {
                sql::BAR_ORIGIN
            };
            let bucket = format!("time_bucket({width}, {t}, {origin})");
            (width, bucket)
        }
        Width::Calendar(text) => {
            let width = format!("INTERVAL {}", literal(text));
            let bucket = format!("time_bucket({width}, {t})");
            (width, bucket)
        }
    };
    let aggregates = match &rollup.parent {
        None => {
            let (open, high, low, close, volume, amount) = source.columns();
            let amount = amount
                .map(|a| format!(", sum({}) AS \"amount\"", quote(a)))
                .unwrap_or_default();
            format!(
                "first({}, {t}) AS \"open\", max({}) AS \"high\", min({}) AS \"low\", last({}, {t}) AS \"close\", \
                 sum({}) AS \"volume\"{amount}, count(*) AS \"count\" FROM {}",
                quote(open),
                quote(high),
                quote(low),
                quote(close),
                quote(volume),
                qualified(schema, &spec.table)
            )
        }
        Some(parent) => {
            let amount = if source.columns().5.is_some() {
                ", sum(\"amount\") AS \"amount\""
            } else {
                ""
            };
            format!(
                "first(\"open\", {t}) AS \"open\", max(\"high\") AS \"high\", min(\"low\") AS \"low\", \
                 last(\"close\", {t}) AS \"close\", sum(\"volume\") AS \"volume\"{amount}, sum(\"count\") AS \"count\" \
                 FROM {}",
                qualified(schema, parent)
            )
        }
    };
    let view = qualified(schema, &rollup.view);
    // Refresh as often as a bucket closes, between once a minute and once an hour.
    let schedule = match rollup.width {
        Width::Fixed(seconds) => seconds.clamp(60, 3_600),
        Width::Calendar(_) => 3_600,
    };
    vec![
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {view} WITH (timescaledb.continuous, \
             timescaledb.materialized_only = false) AS SELECT {series}{bucket} AS {t}, {aggregates} \
             GROUP BY {series}{bucket} WITH NO DATA"
        ),
        format!("ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only = false)"),
        // `if_not_exists` alone is not enough: TimescaleDB refuses a second policy on a hierarchical view
        // before it looks at that flag.
        format!(
            "SELECT add_continuous_aggregate_policy({}, start_offset => NULL, end_offset => {width}, \
             schedule_interval => INTERVAL '{schedule} seconds', if_not_exists => TRUE) \
             WHERE NOT EXISTS (SELECT 1 FROM _timescaledb_config.bgw_job j \
             JOIN _timescaledb_catalog.continuous_agg ca ON ca.mat_hypertable_id = j.hypertable_id \
             WHERE j.proc_name = 'policy_refresh_continuous_aggregate' \
             AND ca.user_view_schema = {} AND ca.user_view_name = {})",
            literal(&view),
            literal(schema),
            literal(&rollup.view)
        ),
    ]
}

/// The series columns, quoted, each followed by `, ` (the head of a select list and of a GROUP BY).
fn series_list(spec: &TableSpec) -> String {
    spec.series_columns()
        .iter()
        .map(|s| format!("{}, ", quote(s)))
        .collect()
}

/// Rollups that could serve bars of `interval` for `query`, coarsest first (name, width in seconds).
pub fn candidates(spec: &TableSpec, interval: Interval, query: &Query) -> Vec<(String, i64)> {
    let Some(time) = spec.time_column() else {
        return Vec::new();
    };
    if query.as_of.is_some() || spec.versions.is_some() {
        return Vec::new();
    }
    let series = spec.series_columns();
    let on_series = query
        .conditions
        .iter()
        .all(|c| series.contains(&spec.columns[c.column].name.as_str()));
    if !on_series {
        return Vec::new();
    }
    let is_date = time.data_type == NeutralType::Date;
    let nanos_of = |ticks: i64| {
        let per_tick = if is_date {
            86_400 * 1_000_000_000
        } else {
            i128::from(spec.precision().nanos_per_tick())
        };
        i128::from(ticks) * per_tick
    };
    // A bound on a bucket edge: the bars it cuts are whole buckets of the view.
    let aligned = |bound: Option<i64>, width: i64| {
        bound.is_none_or(|ticks| {
            (nanos_of(ticks) - i128::from(ORIGIN_SECONDS) * 1_000_000_000)
                .rem_euclid(i128::from(width) * 1_000_000_000)
                == 0
        })
    };
    let Ok(rollups) = plan(spec) else {
        return Vec::new();
    };
    let mut out: Vec<(String, i64)> = rollups
        .into_iter()
        .filter_map(|r| match r.width {
            Width::Fixed(w) => Some((r.view, w)),
            Width::Calendar(_) => None,
        })
        .filter(|&(_, w)| interval.seconds() % w == 0)
        .filter(|&(_, w)| {
            query
                .time
                .as_ref()
                .is_none_or(|b| aligned(b.start, w) && aligned(b.end, w))
        })
        .collect();
    out.reverse();
    out
}

/// A rollup found in the catalog and able to serve: its materialization hypertable id and width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usable {
    pub view: String,
    pub materialization: i32,
    pub width: i64,
}

/// Which of `candidates` exist as continuous aggregates with the expected buckets (width, Monday origin, no
/// offset or time zone) and real-time reads, in the candidates' order.
pub async fn usable(
    client: &Client,
    spec: &TableSpec,
    schema: &str,
    candidates: &[(String, i64)],
) -> std::result::Result<Vec<Usable>, tokio_postgres::Error> {
    let is_date = spec
        .time_column()
        .is_some_and(|t| t.data_type == NeutralType::Date);
    let names: Vec<&str> = candidates.iter().map(|(n, _)| n.as_str()).collect();
    let rows = client
        .query(
            "SELECT ca.user_view_name::text, ca.mat_hypertable_id, \
                    extract(epoch FROM bf.bucket_width::interval)::int8, \
                    CASE WHEN bf.bucket_origin IS NULL THEN NULL \
                         WHEN $3 THEN extract(epoch FROM bf.bucket_origin::date)::int8 \
                         ELSE extract(epoch FROM bf.bucket_origin::timestamptz)::int8 END, \
                    bf.bucket_offset IS NULL AND bf.bucket_timezone IS NULL AND NOT ca.materialized_only \
             FROM _timescaledb_catalog.continuous_agg ca \
             JOIN _timescaledb_catalog.continuous_aggs_bucket_function bf USING (mat_hypertable_id) \
             WHERE ca.user_view_schema = $1 AND ca.user_view_name = ANY($2)",
            &[&schema, &names, &is_date],
        )
        .await?;
    let mut found = Vec::new();
    for (name, width) in candidates {
        let Some(row) = rows.iter().find(|r| r.get::<_, &str>(0) == name) else {
            continue;
        };
        let origin: Option<i64> = row.get(3);
        let origin = origin.unwrap_or(TIMESCALE_DEFAULT_ORIGIN_SECONDS);
        let plain: bool = row.get(4);
        let fits = row.get::<_, i64>(2) == *width && (origin - ORIGIN_SECONDS) % width == 0;
        if plain && fits {
            found.push(Usable {
                view: name.clone(),
                materialization: row.get(1),
                width: *width,
            });
        }
    }
    Ok(found)
}

/// The statement choosing which of `views` serves the query's range: the 1-based position of the first one
/// with nothing in range awaiting a refresh — in it or in any view it is rolled up from — or 0 (the class
/// table). Run in the same snapshot as the read it decides (store.rs: one repeatable-read transaction).
pub fn pick(spec: &TableSpec, query: &Query, views: &[Usable]) -> Statement {
    let (lo, hi) = bounds_micros(spec, query);
    let params = vec![Param::int8(lo), Param::int8(hi)];
    let views_list: Vec<String> = views
        .iter()
        .enumerate()
        .map(|(i, v)| format!("({}, {})", i + 1, v.materialization))
        .collect();
    Statement {
        sql: format!(
            "WITH RECURSIVE \"__chain\"(k, mat, raw, parent) AS (\
               SELECT v.k, ca.mat_hypertable_id, ca.raw_hypertable_id, ca.parent_mat_hypertable_id \
               FROM (VALUES {}) AS v(k, id) \
               JOIN _timescaledb_catalog.continuous_agg ca ON ca.mat_hypertable_id = v.id \
               UNION ALL \
               SELECT c.k, p.mat_hypertable_id, p.raw_hypertable_id, p.parent_mat_hypertable_id \
               FROM \"__chain\" c JOIN _timescaledb_catalog.continuous_agg p ON p.mat_hypertable_id = c.parent) \
             SELECT coalesce(min(\"fresh\".k), 0)::int4 FROM (\
               SELECT c.k FROM \"__chain\" c \
               LEFT JOIN _timescaledb_catalog.continuous_aggs_watermark w ON w.mat_hypertable_id = c.mat \
               GROUP BY c.k HAVING NOT bool_or(\
                 EXISTS (SELECT 1 FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log h \
                         WHERE h.hypertable_id = c.raw AND h.lowest_modified_value < $2 \
                           AND h.greatest_modified_value >= $1) \
                 OR EXISTS (SELECT 1 FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log m \
                         WHERE m.materialization_id = c.mat \
                           AND m.lowest_modified_value < least($2, coalesce(w.watermark, $1)) \
                           AND m.greatest_modified_value >= $1))) AS \"fresh\"",
            views_list.join(", ")
        ),
        params,
    }
}

/// Bars of `interval` read from `view`: its rows as they are when its width is the interval, else
/// re-aggregated (30m from a 15m view).
pub fn kline(
    spec: &TableSpec,
    schema: &str,
    interval: Interval,
    query: &Query,
    view: &Usable,
) -> Option<Statement> {
    let time = spec.time_column()?;
    let source = spec.kline.as_ref()?;
    let mut params = vec![Param::int8(interval.seconds())];
    let filter = sql::where_clause(spec, query, &mut params);
    let t = quote(&time.name);
    let series = series_list(spec);
    let amount_name = source.columns().5.map(|_| "amount");
    let relation = qualified(schema, &view.view);
    let bars = if view.width == interval.seconds() {
        let amount = if amount_name.is_some() {
            "\"amount\"::float8"
        } else {
            "NULL::float8"
        };
        format!(
            "SELECT {series}{t}, \"open\"::float8 AS \"open\", \"high\"::float8 AS \"high\", \
             \"low\"::float8 AS \"low\", \"close\"::float8 AS \"close\", \"volume\"{} AS \"volume\", \
             {amount} AS \"amount\", \"count\"::bigint AS \"count\" FROM {relation}{filter}",
            sql::volume_cast(spec, source),
        )
    } else {
        let input = BarInput {
            relation,
            open: "open",
            high: "high",
            low: "low",
            close: "close",
            volume: "volume",
            amount: amount_name,
            count: "sum(\"count\")",
        };
        bars_from(spec, &input, &filter, true)?
    };
    let order = bar_order(spec, query.order, &t);
    let limit = sql::limit(query, &mut params);
    Some(Statement {
        sql: format!("SELECT * FROM ({bars}) AS \"bars\"{order}{limit}"),
        params,
    })
}

/// The query's time bounds as TimescaleDB's internal time (microseconds since the Unix epoch), unbounded
/// ends as the extremes of its range.
fn bounds_micros(spec: &TableSpec, query: &Query) -> (i64, i64) {
    let is_date = spec
        .time_column()
        .is_some_and(|t| t.data_type == NeutralType::Date);
    let micros = |ticks: i64| {
        if is_date {
            ticks.saturating_mul(86_400_000_000)
        } else {
            match spec.precision() {
                TimePrecision::Ms => ticks.saturating_mul(1_000),
                TimePrecision::Us => ticks,
                TimePrecision::Ns => ticks.div_euclid(1_000),
            }
        }
    };
    let bounds = query.time.as_ref();
    (
        bounds
            .and_then(|b| b.start)
            .map_or(TIMESCALE_MIN_MICROS, micros)
            .max(TIMESCALE_MIN_MICROS),
        bounds.and_then(|b| b.end).map_or(i64::MAX, micros),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantdal_core::Catalog;

    fn spec(rollups: &str) -> TableSpec {
        let yaml = format!(
            r#"
version: 1
classes:
  - name: ticks
    category: market
    store: main
    table: ticks
    time: {{ column: ts, precision: ms }}
    tags: [symbol]
    columns:
      - {{ name: ts, type: TIMESTAMP, nullable: false }}
      - {{ name: symbol, type: VARCHAR(16), nullable: false }}
      - {{ name: price, type: DOUBLE, nullable: false }}
      - {{ name: volume, type: BIGINT, nullable: false }}
    kline: {{ price: price, volume: volume }}
    options:
      timescale: {{ rollups: {rollups} }}
"#
        );
        Catalog::from_yaml(&yaml, "test")
            .unwrap()
            .get("ticks")
            .unwrap()
            .as_ref()
            .clone()
    }

    #[test]
    fn each_rollup_is_built_from_the_coarsest_finer_one_dividing_it() {
        let plan = plan(&spec(
            r#"[1d, 4h, 1h, 15m, 5m, 1m, { name: weekly, interval: "1 week" }, { name: monthly, interval: "1 month" }, 45m]"#,
        ))
        .unwrap();
        let chain: Vec<(&str, Option<&str>)> = plan
            .iter()
            .map(|r| (r.view.as_str(), r.parent.as_deref()))
            .collect();
        assert_eq!(
            chain,
            [
                ("ticks_1m", None),
                ("ticks_5m", Some("ticks_1m")),
                ("ticks_15m", Some("ticks_5m")),
                ("ticks_45m", Some("ticks_15m")),
                ("ticks_1h", Some("ticks_15m")),
                ("ticks_4h", Some("ticks_1h")),
                ("ticks_1d", Some("ticks_4h")),
                ("weekly", Some("ticks_1d")),
                ("monthly", None),
            ]
        );
    }

    #[test]
    fn bad_rollups_are_config_errors_naming_the_class() {
        for bad in [
            r#"[7x]"#,
            r#"[5m, "5 minutes"]"#,
            r#"[{ name: Bad, interval: 5m }]"#,
        ] {
            let err = plan(&spec(bad)).unwrap_err();
            assert_eq!(err.kind(), quantdal_core::ErrorKind::Config, "{bad}: {err}");
            assert!(err.to_string().contains("ticks"), "{err}");
        }
    }
}
