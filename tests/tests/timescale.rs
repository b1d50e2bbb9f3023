//! TimescaleDB continuous aggregates serving `kline`, against the server in `QUANTDAL_TEST_TIMESCALE_URL` (a
//! PostgreSQL with the extension preloaded; none runs in CI, so these skip there and say so). The fixture's
//! classes get rollups — ticks 1m → 5m → 15m → 1h → 4h → 1d, bars 5m → 15m → 1h, daily weekly — and the whole
//! conformance suite runs over them, so every kline it checks goes through the views.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use quantdal::{col, Dal, Load};
use quantdal_core::Catalog;
use quantdal_tests::fixtures::{at, ticks_batch, Tick, FIXTURE};
use quantdal_tests::services::{
    optional_service_url, postgres_dal_over, test_schema, CleanupGuard,
};

const TIMESCALE: &str = "QUANTDAL_TEST_TIMESCALE_URL";

/// The fixture with rollups on its three kline classes.
fn catalog() -> Catalog {
    let with_rollups = FIXTURE
        .replacen(
            "    kline: { price: price, volume: volume, amount: amount }\n",
            "    kline: { price: price, volume: volume, amount: amount }\n    \
             options: { timescale: { chunk_interval: \"1 day\", rollups: [1d, 4h, 1h, 15m, 5m, 1m] } }\n",
            1,
        )
        .replacen(
            "    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: amount }\n",
            "    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: amount }\n    \
             options: { timescale: { rollups: [5m, 15m, 1h] } }\n",
            1,
        )
        .replacen(
            "    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: turnover }\n",
            "    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: turnover }\n    \
             options: { timescale: { rollups: [ { name: daily_weekly, interval: \"1 week\" } ] } }\n",
            1,
        );
    assert_eq!(with_rollups.matches("rollups:").count(), 3);
    let start = with_rollups.find("- name: ns_ticks").unwrap();
    let (head, tail) = with_rollups.split_at(start);
    let tail = tail.replacen("store: main", "store: nanos", 1);
    Catalog::from_yaml(&format!("{head}{tail}"), "fixture with rollups").unwrap()
}

async fn timescale_dal(url: &str, dir: &Path) -> Dal {
    let schema = test_schema(url);
    postgres_dal_over(
        url,
        &schema,
        dir,
        "timescale: on",
        "max_attempts: 3",
        catalog(),
    )
    .await
}

async fn harness(dir: &Path) -> Option<Dal> {
    let url = optional_service_url(TIMESCALE)?;
    Some(timescale_dal(&url, dir).await)
}

mod conformance {
    quantdal_tests::conformance_tests!(super::harness);
}

async fn admin(url: &str) -> tokio_postgres::Client {
    quantdal_postgres::connect_client(url, "quantdal-tests-admin")
        .await
        .expect("admin connection")
}

fn schema_of(dal: &Dal) -> String {
    dal.settings().stores["main"].schema.clone().unwrap()
}

/// One bar as compared here: series, start, open, high, low, close, volume, amount, count.
type Bar = (String, i64, [f64; 4], i64, f64, i64);

fn bars_of(batches: &[RecordBatch]) -> Vec<Bar> {
    let mut out = Vec::new();
    for b in batches {
        let f = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let symbol = b
            .column_by_name("symbol")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>()
            .clone();
        let (open, high, low, close, amount) =
            (f("open"), f("high"), f("low"), f("close"), f("amount"));
        let int = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (volume, count) = (int("volume"), int("count"));
        for i in 0..b.num_rows() {
            assert!(!open.is_null(i) && !amount.is_null(i));
            out.push((
                symbol.value(i).to_string(),
                ts.value(i),
                [open.value(i), high.value(i), low.value(i), close.value(i)],
                volume.value(i),
                amount.value(i),
                count.value(i),
            ));
        }
    }
    out
}

/// Equal bars; amounts (sums of doubles, added in another order through the views) to 1e-9 relative.
fn assert_same_bars(got: &[Bar], want: &[Bar], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: bar count");
    for (g, w) in got.iter().zip(want) {
        let close = (g.4 - w.4).abs() <= 1e-9 * w.4.abs().max(1.0);
        assert!(
            g.0 == w.0 && g.1 == w.1 && g.2 == w.2 && g.3 == w.3 && g.5 == w.5 && close,
            "{what}: {g:?} != {w:?}"
        );
    }
}

const A: &str = "600000.SH";
const B: &str = "000001.SZ";
const C: &str = "AAPL.O";
/// 2024-01-01 00:00 UTC, a Monday.
const DAY0: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 86_400_000;

/// Two days of ticks, every 7 s from 01:30 to 05:30 UTC, for three symbols: prices on a deterministic walk.
fn ticks(day: i64) -> Vec<Tick> {
    let mut out = Vec::new();
    for (n, symbol) in [A, B, C].iter().enumerate() {
        let mut price = 10.0 + n as f64;
        let start = DAY0 + day * DAY_MS + 5_400_000;
        for i in 0..(4 * 3_600 / 7) {
            let step = ((i * 7919 + n as i64 * 104_729) % 21) as f64 - 10.0;
            price = (price + step * 0.01).max(1.0);
            let volume = 100 * (1 + (i % 13));
            out.push(Tick {
                ts: start + i * 7_000,
                symbol: (*symbol).to_string(),
                price: (price * 100.0).round() / 100.0,
                volume,
                amount: (price * 100.0).round() / 100.0 * volume as f64,
                side: None,
            });
        }
    }
    out
}

/// Bars served as the request allows (from the views) against bars from the table (a filter on a
/// non-series column rules the views out), for every width a desk asks for.
async fn assert_served_equals_table(dal: &Dal, load: Load, what: &str) {
    for width in ["1m", "5m", "15m", "30m", "1h", "2h", "4h", "1d"] {
        let served = bars_of(&dal.kline("ticks", width, load.clone()).await.unwrap());
        let table = dal
            .kline("ticks", width, load.clone().filter(col("price").gt(0.0)))
            .await
            .unwrap();
        assert!(!served.is_empty(), "{what} {width}: no bars");
        assert_same_bars(&served, &bars_of(&table), &format!("{what} {width}"));
    }
}

async fn refresh_all(admin: &tokio_postgres::Client, schema: &str, views: &[&str]) {
    for view in views {
        admin
            .batch_execute(&format!(
                "CALL refresh_continuous_aggregate('\"{schema}\".\"{view}\"', NULL, NULL)"
            ))
            .await
            .unwrap_or_else(|e| panic!("refresh {view}: {e}"));
    }
}

/// The materialization hypertable behind a view.
async fn materialized(admin: &tokio_postgres::Client, schema: &str, view: &str) -> String {
    admin
        .query_one(
            "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) \
             FROM timescaledb_information.continuous_aggregates WHERE view_schema = $1 AND view_name = $2",
            &[&schema, &view],
        )
        .await
        .unwrap()
        .get(0)
}

/// Sets the high of one materialized bar (returning the old one), so that a kline showing the mark was read
/// from the view and one not showing it was computed from the table.
async fn set_high(
    admin: &tokio_postgres::Client,
    schema: &str,
    view: &str,
    (symbol, ts): (&str, i64),
    high: f64,
) -> f64 {
    let table = materialized(admin, schema, view).await;
    let rows = admin
        .query(
            &format!(
                "UPDATE {table} AS m SET high = $3 FROM {table} AS old \
                 WHERE m.symbol = $1 AND m.ts = to_timestamp($2::float8 / 1000) \
                   AND old.symbol = m.symbol AND old.ts = m.ts RETURNING old.high::float8"
            ),
            &[&symbol, &(ts as f64), &high],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "one materialized {view} bar of {symbol} at {ts}"
    );
    rows[0].get(0)
}

async fn high_of(dal: &Dal, width: &str, load: Load, (symbol, ts): (&str, i64)) -> f64 {
    let bars = bars_of(&dal.kline("ticks", width, load).await.unwrap());
    bars.iter()
        .find(|b| b.0 == symbol && b.1 == ts)
        .unwrap_or_else(|| panic!("a {width} bar of {symbol} at {ts}"))
        .2[1]
}

const TICK_VIEWS: [&str; 6] = [
    "ticks_1m",
    "ticks_5m",
    "ticks_15m",
    "ticks_1h",
    "ticks_4h",
    "ticks_1d",
];

/// Provisioning creates the chain of views with refresh policies; kline reads them when the request lines up
/// with their buckets and nothing in range awaits a refresh, and reads the table otherwise — with the same
/// bars either way: before any refresh (real-time), after one, after a restatement, and past the last refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_aggregates_serve_kline() {
    let _cleanup = CleanupGuard;
    let Some(url) = optional_service_url(TIMESCALE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dal = timescale_dal(&url, dir.path()).await;
    dal.provision().await.unwrap();
    let schema = schema_of(&dal);
    let admin = admin(&url).await;

    // Each view rolled up from the one before it; a refresh policy on each.
    let chain: Vec<(String, Option<String>)> = admin
        .query(
            "SELECT ca.user_view_name::text, p.user_view_name::text \
             FROM _timescaledb_catalog.continuous_agg ca \
             LEFT JOIN _timescaledb_catalog.continuous_agg p ON p.mat_hypertable_id = ca.parent_mat_hypertable_id \
             WHERE ca.user_view_schema = $1 AND ca.user_view_name::text LIKE 'ticks\\_%' ORDER BY ca.mat_hypertable_id",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: Vec<(String, Option<String>)> = TICK_VIEWS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                v.to_string(),
                (i > 0).then(|| TICK_VIEWS[i - 1].to_string()),
            )
        })
        .collect();
    assert_eq!(chain, want);
    let policies: i64 = admin
        .query_one(
            "SELECT count(*) FROM _timescaledb_config.bgw_job j \
             JOIN _timescaledb_catalog.continuous_agg ca ON ca.mat_hypertable_id = j.hypertable_id \
             WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND ca.user_view_schema = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(policies, 10, "a refresh policy per view");
    // Provisioning twice is a no-op.
    dal.provision().await.unwrap();

    dal.save("ticks", &ticks_batch(&ticks(0))).await.unwrap();
    dal.save("ticks", &ticks_batch(&ticks(1))).await.unwrap();
    let two_days = Load::range(at(DAY0)..at(DAY0 + 2 * DAY_MS));
    assert_served_equals_table(&dal, Load::all(), "before any refresh").await;

    refresh_all(&admin, &schema, &TICK_VIEWS).await;
    assert_served_equals_table(&dal, Load::all(), "refreshed").await;
    assert_served_equals_table(&dal, two_days.clone(), "refreshed, two days").await;
    assert_served_equals_table(&dal, two_days.clone().symbols([B]), "refreshed, one symbol").await;

    // Read from the views: a mark made in one shows, in its width and in widths rolled up from it at read
    // time (30m from 15m); a range not on the view's bucket edges is computed from the table.
    let bar = (A, DAY0 + 5_400_000);
    let original = set_high(&admin, &schema, "ticks_15m", bar, 1e9).await;
    assert_eq!(high_of(&dal, "15m", Load::all(), bar).await, 1e9);
    assert_eq!(high_of(&dal, "30m", two_days.clone(), bar).await, 1e9);
    let unaligned = Load::range(at(bar.1 + 60_000)..at(DAY0 + DAY_MS));
    assert!(high_of(&dal, "15m", unaligned, bar).await < 1e3);
    // 5m bars come from ticks_5m, not marked.
    assert!(high_of(&dal, "5m", Load::all(), bar).await < 1e3);

    // A restatement in the marked bar's range: until a refresh, the range is read from the table.
    let mut restated = ticks(0)[..1].to_vec();
    assert_eq!((restated[0].symbol.as_str(), restated[0].ts), bar);
    restated[0].price += 0.5;
    restated[0].amount = restated[0].price * restated[0].volume as f64;
    dal.save("ticks", &ticks_batch(&restated)).await.unwrap();
    let high = high_of(&dal, "15m", Load::all(), bar).await;
    assert!(
        (original..1e3).contains(&high),
        "restated range read from the table: {high}"
    );
    assert_served_equals_table(&dal, Load::all(), "after a restatement").await;
    // The other day's views stay in use: a mark on day 1 shows.
    let day1_bar = (C, DAY0 + DAY_MS + 3_600_000);
    let day1 = Load::range(at(DAY0 + DAY_MS)..at(DAY0 + 2 * DAY_MS));
    let day1_high = set_high(&admin, &schema, "ticks_1h", day1_bar, 1e9).await;
    assert_eq!(high_of(&dal, "1h", day1.clone(), day1_bar).await, 1e9);
    set_high(&admin, &schema, "ticks_1h", day1_bar, day1_high).await;
    assert_eq!(high_of(&dal, "1h", day1, day1_bar).await, day1_high);

    // The refresh materializes the restated bar again (the mark is gone), and it is read from the view.
    refresh_all(&admin, &schema, &TICK_VIEWS).await;
    assert_served_equals_table(&dal, two_days.clone(), "refreshed after the restatement").await;
    let restated_high = set_high(&admin, &schema, "ticks_15m", bar, 1e9).await;
    assert_eq!(restated_high, high);
    assert_eq!(high_of(&dal, "15m", Load::all(), bar).await, 1e9);
    set_high(&admin, &schema, "ticks_15m", bar, restated_high).await;
    refresh_all(&admin, &schema, &TICK_VIEWS).await;

    // A third day, saved after the last refresh: real-time reads put it in every width.
    dal.save("ticks", &ticks_batch(&ticks(2))).await.unwrap();
    assert_served_equals_table(&dal, Load::all(), "past the last refresh").await;
    let third = bars_of(&dal.kline("ticks", "1d", Load::all()).await.unwrap());
    assert_eq!(third.iter().filter(|b| b.1 == DAY0 + 2 * DAY_MS).count(), 3);
}

/// A class timed by DATE: the weekly view serves 7d bars (Monday to Sunday), as the table does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weekly_view_serves_date_classes() {
    let _cleanup = CleanupGuard;
    let Some(url) = optional_service_url(TIMESCALE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dal = timescale_dal(&url, dir.path()).await;
    dal.provision().await.unwrap();
    let schema = schema_of(&dal);
    let admin = admin(&url).await;
    quantdal_tests::conformance::prepare(&dal).await;
    quantdal_tests::conformance::kline_weekly_on_dates(&dal).await;
    refresh_all(&admin, &schema, &["daily_weekly"]).await;
    quantdal_tests::conformance::kline_weekly_on_dates(&dal).await;
    let materialized: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".daily_weekly"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(materialized > 0);
}
