//! The realtime conformance suite: what a realtime class (the latest quote / position per series) must do on
//! every store — Redis, where such classes live in production, and the relational stores they can move to.
//! Each check takes a [`Dal`] over [`REALTIME_FIXTURE`] whose classes route to the store under test, provisions
//! it, and asserts exact values. What a store declares it cannot do (kline, range deletes, subscriptions, in
//! its `Capabilities`) must fail with `Unsupported` naming the store; a store that can must do it.
//!
//! The observable contract: `latest` is the newest row per series (an older row saved later never replaces
//! it); saves are atomic and idempotent; `load` of the recent rows of a series (the last N, a range, a
//! predicate) returns exactly what a relational store returns, as long as N is within the class's history.

use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::StreamExt;
use quantdal::{col, Dal, ErrorKind, Load, Order, ProvisionStatus, StoreKind};

use crate::fixtures::*;

/// The realtime classes. `quotes` keeps 50 rows of history per series on Redis (`positions` only the newest);
/// every class routes to store `main`.
pub const REALTIME_FIXTURE: &str = r#"
version: 1
defaults:
  precision: ms
classes:
  - name: quotes
    category: realtime
    description: "Latest quote per symbol, with a short history."
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(32) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: bid1, type: DOUBLE, nullable: true }
      - { name: ask1, type: DOUBLE, nullable: true }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: status, type: VARCHAR(8), nullable: true }
    options: { redis: { history: 50, key_prefix: "@PREFIX@" } }
  - name: positions
    category: realtime
    description: "Latest position per account and symbol."
    store: main
    time: { column: ts, precision: us }
    tags: [account, symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: account, type: VARCHAR(16) }
      - { name: symbol, type: VARCHAR(32) }
      - { name: quantity, type: BIGINT, nullable: false }
      - { name: avg_cost, type: "DECIMAL(18,4)", nullable: false }
      - { name: updated, type: DATE, nullable: true }
      - { name: active, type: BOOL, nullable: false }
      - { name: note, type: JSON, nullable: true }
    options: { redis: { history: 0, key_prefix: "@PREFIX@" } }
"#;

pub const REALTIME_CLASSES: [&str; 2] = ["quotes", "positions"];

/// The fixture with every Redis key under `prefix` (tests sharing one server never see each other's keys).
pub fn realtime_catalog(prefix: &str) -> quantdal::Catalog {
    quantdal::Catalog::from_yaml(
        &REALTIME_FIXTURE.replace("@PREFIX@", prefix),
        "realtime fixture",
    )
    .unwrap_or_else(|e| panic!("the realtime fixture: {e}"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub symbol: String,
    pub ts: i64,
    pub price: f64,
    pub bid1: Option<f64>,
    pub ask1: Option<f64>,
    pub volume: i64,
    pub status: Option<String>,
}

pub fn quote(symbol: &str, ts: i64, price: f64) -> Quote {
    Quote {
        symbol: symbol.into(),
        ts,
        price,
        bid1: Some(price - 0.01),
        ask1: Some(price + 0.01),
        volume: (price * 100.0) as i64,
        status: Some("T".into()),
    }
}

pub fn quotes_batch(rows: &[Quote]) -> RecordBatch {
    batch(vec![
        ("ts", ts_ms(rows.iter().map(|q| q.ts))),
        ("symbol", strs(rows.iter().map(|q| q.symbol.as_str()))),
        ("price", f64s(rows.iter().map(|q| q.price))),
        (
            "bid1",
            Arc::new(arrow::array::Float64Array::from(
                rows.iter().map(|q| q.bid1).collect::<Vec<_>>(),
            )),
        ),
        (
            "ask1",
            Arc::new(arrow::array::Float64Array::from(
                rows.iter().map(|q| q.ask1).collect::<Vec<_>>(),
            )),
        ),
        ("volume", i64s(rows.iter().map(|q| q.volume))),
        ("status", opt_strs(rows.iter().map(|q| q.status.as_deref()))),
    ])
}

pub fn quotes_from(batches: &[RecordBatch]) -> Vec<Quote> {
    rows(batches, |b, r| Quote {
        symbol: read_str(b, "symbol", r).unwrap_or_default(),
        ts: read_ts_ms(b, "ts", r).unwrap_or_default(),
        price: read_f64(b, "price", r).unwrap_or_default(),
        bid1: read_f64(b, "bid1", r),
        ask1: read_f64(b, "ask1", r),
        volume: read_i64(b, "volume", r).unwrap_or_default(),
        status: read_str(b, "status", r),
    })
}

/// Provisions the realtime classes (twice: the second finds them) and checks they start empty.
pub async fn prepare_realtime(dal: &Dal) {
    for round in 0..2 {
        let entries = dal
            .provision()
            .await
            .unwrap_or_else(|e| panic!("provision: {e}"));
        for e in &entries {
            let ok = match round {
                0 => matches!(
                    e.status,
                    ProvisionStatus::Created | ProvisionStatus::AlreadyPresent
                ),
                _ => e.status == ProvisionStatus::AlreadyPresent,
            };
            assert!(ok, "provision round {round} of `{}`: {}", e.class, e.status);
        }
    }
    for e in dal.check().await.unwrap_or_else(|e| panic!("check: {e}")) {
        assert_eq!(
            e.status,
            ProvisionStatus::AlreadyPresent,
            "check of `{}`",
            e.class
        );
    }
    for class in REALTIME_CLASSES {
        assert_eq!(
            dal.count(class).await.unwrap_or(u64::MAX),
            0,
            "`{class}` starts empty"
        );
    }
}

async fn save_quotes(dal: &Dal, rows: &[Quote]) {
    dal.save("quotes", &quotes_batch(rows))
        .await
        .unwrap_or_else(|e| panic!("save quotes: {e}"));
}

async fn latest_quotes(dal: &Dal, load: Load) -> Vec<Quote> {
    quotes_from(
        &dal.latest("quotes", load)
            .await
            .unwrap_or_else(|e| panic!("latest quotes: {e}")),
    )
}

async fn load_quotes(dal: &Dal, load: Load) -> Vec<Quote> {
    quotes_from(
        &dal.load("quotes", load)
            .await
            .unwrap_or_else(|e| panic!("load quotes: {e}")),
    )
}

fn capabilities(dal: &Dal) -> quantdal::Capabilities {
    dal.store_for("quotes")
        .map(|(_, s)| s.info().capabilities)
        .unwrap_or_else(|e| panic!("store of quotes: {e}"))
}

const A: &str = "600000.SH";
const B: &str = "000001.SZ";
const C: &str = "300750.SZ";

/// 3 symbols × 5 quotes, shuffled across two saves.
fn grid() -> Vec<Quote> {
    let mut out = Vec::new();
    for (i, s) in [A, B, C].iter().enumerate() {
        for k in 0..5 {
            out.push(quote(
                s,
                T0 + k * 3_000,
                10.0 * (i + 1) as f64 + k as f64 / 100.0,
            ));
        }
    }
    out
}

pub async fn rt_latest_is_newest_per_series(dal: &Dal) {
    let g = grid();
    // Newest rows first in one save, the rest in a second: order of arrival must not matter.
    let (newer, older): (Vec<Quote>, Vec<Quote>) =
        g.iter().cloned().partition(|q| q.ts >= T0 + 9_000);
    save_quotes(dal, &newer).await;
    save_quotes(dal, &older).await;
    let want: Vec<Quote> = [B, C, A]
        .iter()
        .map(|s| {
            g.iter()
                .filter(|q| &q.symbol == s)
                .max_by_key(|q| q.ts)
                .cloned()
                .unwrap()
        })
        .collect();
    assert_eq!(
        latest_quotes(dal, Load::all()).await,
        want,
        "newest row per series, series order"
    );
    assert_eq!(
        latest_quotes(dal, Load::all().symbols([A])).await,
        vec![want[2].clone()],
        "one symbol"
    );
    assert_eq!(
        latest_quotes(
            dal,
            Load::all().symbols([A, B, "NOPE.XX"]).order(Order::Desc)
        )
        .await,
        vec![want[2].clone(), want[0].clone()],
        "descending, unknown symbols absent"
    );
    let projected = dal
        .latest(
            "quotes",
            Load::all().symbols([C]).columns(["price", "symbol"]),
        )
        .await
        .unwrap();
    assert_eq!(
        projected[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        ["price", "symbol"]
    );
    assert_eq!(read_f64(&projected[0], "price", 0), Some(want[1].price));
}

pub async fn rt_older_row_never_replaces_newer(dal: &Dal) {
    save_quotes(dal, &[quote(A, T0 + 10_000, 10.5)]).await;
    // A late, older quote (out-of-order delivery).
    save_quotes(dal, &[quote(A, T0 + 5_000, 9.5)]).await;
    let got = latest_quotes(dal, Load::all().symbols([A])).await;
    assert_eq!(got, vec![quote(A, T0 + 10_000, 10.5)]);
}

pub async fn rt_resave_is_idempotent(dal: &Dal) {
    let g = grid();
    save_quotes(dal, &g).await;
    let latest = latest_quotes(dal, Load::all()).await;
    let loaded = load_quotes(dal, Load::all()).await;
    let count = dal.count("quotes").await.unwrap();
    save_quotes(dal, &g).await;
    assert_eq!(
        latest_quotes(dal, Load::all()).await,
        latest,
        "latest after a retried save"
    );
    assert_eq!(
        load_quotes(dal, Load::all()).await,
        loaded,
        "history after a retried save"
    );
    assert_eq!(
        dal.count("quotes").await.unwrap(),
        count,
        "count after a retried save"
    );
    assert_eq!(count, 15);
}

pub async fn rt_newest_row_is_rewritten(dal: &Dal) {
    save_quotes(dal, &[quote(A, T0, 1.0)]).await;
    save_quotes(dal, &[quote(A, T0, 2.0)]).await;
    assert_eq!(
        latest_quotes(dal, Load::all()).await,
        vec![quote(A, T0, 2.0)]
    );
    assert_eq!(
        load_quotes(dal, Load::all()).await,
        vec![quote(A, T0, 2.0)],
        "one row per key, last write wins"
    );
}

pub async fn rt_load_recent_rows(dal: &Dal) {
    let g = grid();
    save_quotes(dal, &g).await;
    let of_a: Vec<Quote> = g.iter().filter(|q| q.symbol == A).cloned().collect();
    let last3: Vec<Quote> = of_a.iter().rev().take(3).cloned().collect();
    assert_eq!(
        load_quotes(dal, Load::all().symbols([A]).order(Order::Desc).limit(3)).await,
        last3,
        "the last 3 rows, newest first"
    );
    assert_eq!(
        load_quotes(
            dal,
            Load::range(at(T0 + 3_000)..at(T0 + 9_000)).symbols([A])
        )
        .await,
        of_a[1..3].to_vec(),
        "[start, end)"
    );
    let cheap: Vec<Quote> = g.iter().filter(|q| q.price < 20.03).cloned().collect();
    let mut cheap_sorted = cheap.clone();
    cheap_sorted.sort_by(|a, b| (&a.symbol, a.ts).cmp(&(&b.symbol, b.ts)));
    assert_eq!(
        load_quotes(dal, Load::all().filter(col("price").lt(20.03))).await,
        cheap_sorted,
        "a predicate over every series"
    );
    assert_eq!(cheap_sorted.len(), 8);
    let batches = dal
        .load(
            "quotes",
            Load::all().symbols([B]).columns(["ts", "volume"]).limit(2),
        )
        .await
        .unwrap();
    assert_eq!(total_rows(&batches), 2);
    assert_eq!(batches[0].num_columns(), 2);
}

pub async fn rt_latest_after_predicates(dal: &Dal) {
    let g = grid();
    save_quotes(dal, &g).await;
    // The newest row per series among those with price below the series' last two.
    let got = latest_quotes(dal, Load::all().filter(col("volume").lt(1003))).await;
    let want: Vec<Quote> = [B, C, A]
        .iter()
        .filter_map(|s| {
            g.iter()
                .filter(|q| &q.symbol == s && q.volume < 1003)
                .max_by_key(|q| q.ts)
                .cloned()
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(want.len(), 1, "only {A}'s early quotes pass");
}

pub async fn rt_nulls_round_trip(dal: &Dal) {
    let mut q1 = quote(A, T0, 10.0);
    q1.bid1 = None;
    q1.status = None;
    save_quotes(dal, std::slice::from_ref(&q1)).await;
    assert_eq!(latest_quotes(dal, Load::all()).await, vec![q1]);
    let q2 = quote(A, T0 + 1, 10.1);
    save_quotes(dal, std::slice::from_ref(&q2)).await;
    assert_eq!(latest_quotes(dal, Load::all()).await, vec![q2]);
    let mut q3 = quote(A, T0 + 2, 10.2);
    q3.ask1 = None;
    save_quotes(dal, std::slice::from_ref(&q3)).await;
    assert_eq!(
        latest_quotes(dal, Load::all()).await,
        vec![q3],
        "a value that became null"
    );
}

pub async fn rt_any_tag_value_is_safe(dal: &Dal) {
    let symbols = [
        "a:b",
        "a",
        "b",
        "{x}",
        "x}",
        "with space",
        "ünï ✓",
        "%41",
        "A",
        "a%3Ab",
        "",
    ];
    let rows: Vec<Quote> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| quote(s, T0 + i as i64, 1.0 + i as f64))
        .collect();
    save_quotes(dal, &rows).await;
    for (i, s) in symbols.iter().enumerate() {
        assert_eq!(
            latest_quotes(dal, Load::all().symbols([*s])).await,
            vec![rows[i].clone()],
            "symbol {s:?}"
        );
    }
    assert_eq!(
        latest_quotes(dal, Load::all()).await.len(),
        symbols.len(),
        "distinct series"
    );
}

/// account, symbol, ts (us), quantity, avg_cost (unscaled, scale 4), updated, active, note.
type PositionIn<'a> = (
    &'a str,
    &'a str,
    i64,
    i64,
    i128,
    Option<i32>,
    bool,
    Option<&'a str>,
);

fn positions_batch(rows: &[PositionIn<'_>]) -> RecordBatch {
    batch(vec![
        (
            "ts",
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        ("account", strs(rows.iter().map(|r| r.0))),
        ("symbol", strs(rows.iter().map(|r| r.1))),
        ("quantity", i64s(rows.iter().map(|r| r.3))),
        (
            "avg_cost",
            decimals(rows.iter().map(|r| Some(r.4)).collect(), 18, 4),
        ),
        ("updated", opt_dates(rows.iter().map(|r| r.5).collect())),
        (
            "active",
            opt_bools(rows.iter().map(|r| Some(r.6)).collect()),
        ),
        ("note", opt_strs(rows.iter().map(|r| r.7))),
    ])
}

pub async fn rt_multi_tag_series_and_types(dal: &Dal) {
    let t = T0 * 1000;
    let rows = [
        (
            "acc1",
            A,
            t + 1,
            100,
            105_000,
            Some(day(2024, 1, 2)),
            true,
            Some(r#"{"k":1}"#),
        ),
        ("acc1", A, t + 2, 200, 105_500, None, true, None),
        (
            "acc1",
            B,
            t + 3,
            -50,
            92_123,
            Some(day(2023, 12, 29)),
            false,
            // In PostgreSQL's canonical jsonb spacing, so every store gives the text back unchanged.
            Some("[1, 2]"),
        ),
        ("acc2", A, t + 4, 7, 1, None, true, None),
    ];
    dal.save("positions", &positions_batch(&rows))
        .await
        .unwrap();
    let got = dal
        .latest("positions", Load::all().tag("account", ["acc1"]))
        .await
        .unwrap();
    let got: Vec<PositionRow> = rows_of(&got);
    assert_eq!(
        got,
        vec![
            (
                "acc1".into(),
                B.into(),
                t + 3,
                -50,
                Some(92_123),
                Some(day(2023, 12, 29)),
                Some(false),
                Some("[1, 2]".into())
            ),
            (
                "acc1".into(),
                A.into(),
                t + 2,
                200,
                Some(105_500),
                None,
                Some(true),
                None
            ),
        ],
        "newest per (account, symbol), exact microseconds, decimals, dates, bools and JSON"
    );
    let both = dal
        .latest(
            "positions",
            Load::all().tag("account", ["acc2"]).symbols([A]),
        )
        .await
        .unwrap();
    assert_eq!(total_rows(&both), 1);
}

type PositionRow = (
    String,
    String,
    i64,
    i64,
    Option<i128>,
    Option<i32>,
    Option<bool>,
    Option<String>,
);

fn rows_of(batches: &[RecordBatch]) -> Vec<PositionRow> {
    let us = arrow::datatypes::DataType::Timestamp(
        arrow::datatypes::TimeUnit::Microsecond,
        Some("UTC".into()),
    );
    rows(batches, |b, r| {
        let ts = typed(b, "ts", &us)
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .map(|a| a.value(r))
            .unwrap_or_default();
        (
            read_str(b, "account", r).unwrap_or_default(),
            read_str(b, "symbol", r).unwrap_or_default(),
            ts,
            read_i64(b, "quantity", r).unwrap_or_default(),
            read_decimal(b, "avg_cost", 18, 4, r),
            read_date(b, "updated", r),
            read_bool(b, "active", r),
            read_str(b, "note", r),
        )
    })
}

pub async fn rt_errors_match_every_store(dal: &Dal) {
    let err = dal
        .load("quotes", Load::all().columns(["nope"]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.class(), err.column()),
        (ErrorKind::UnknownColumn, Some("quotes"), Some("nope"))
    );
    let err = dal
        .latest("quotes", Load::all().filter(col("volume").gt("x")))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.column()),
        (ErrorKind::InvalidQuery, Some("volume"))
    );
    let mut bad = vec![quote(A, T0, 1.0), quote(B, T0, 2.0)];
    bad.push(quote(A, T0, 3.0));
    let err = dal.save("quotes", &quotes_batch(&bad)).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class(), err.row()),
        (ErrorKind::InvalidBatch, Some("quotes"), Some(2)),
        "{err}"
    );
    let nulls = batch(vec![
        ("ts", ts_ms([T0, T0])),
        ("symbol", strs([A, B])),
        (
            "price",
            Arc::new(arrow::array::Float64Array::from(vec![Some(1.0), None])),
        ),
        ("volume", i64s([1, 2])),
    ]);
    let err = dal.save("quotes", &nulls).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.column(), err.row()),
        (ErrorKind::InvalidBatch, Some("price"), Some(1))
    );
    assert_eq!(
        dal.count("quotes").await.unwrap(),
        0,
        "nothing of a refused batch is written"
    );
    let store = dal.store_for("quotes").unwrap().1.info().name.clone();
    let k = dal.kline("quotes", "1m", Load::all()).await;
    match k {
        Ok(_) => panic!("quotes has no kline source: kline must fail"),
        Err(e) if capabilities(dal).kline => assert_eq!(e.kind(), ErrorKind::InvalidQuery, "{e}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains(&store), "names the store: {e}");
        }
    }
}

pub async fn rt_delete_series(dal: &Dal) {
    save_quotes(dal, &grid()).await;
    let deleted = dal
        .delete("quotes", Load::all().symbols([A]))
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    let left: Vec<String> = latest_quotes(dal, Load::all())
        .await
        .into_iter()
        .map(|q| q.symbol)
        .collect();
    assert_eq!(left, [B, C]);
    let ranged = dal
        .delete("quotes", Load::range(at(T0)..at(T0 + 3_000)).symbols([B]))
        .await;
    if capabilities(dal).delete_by_range {
        assert_eq!(ranged.unwrap(), 1);
    } else {
        let e = ranged.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    }
    dal.truncate("quotes").await.unwrap();
    assert_eq!(dal.count("quotes").await.unwrap(), 0);
    assert!(latest_quotes(dal, Load::all()).await.is_empty());
}

pub async fn rt_subscribe_delivers_saved_rows(dal: &Dal) {
    let sub = dal.subscribe("quotes", Load::all().symbols([A])).await;
    if !capabilities(dal).subscriptions {
        match sub {
            Ok(_) => panic!("a store without a feed must refuse subscriptions"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
        }
        return;
    }
    let Ok(mut sub) = sub else {
        panic!("subscribe on a store with a feed");
    };
    let g = grid();
    save_quotes(dal, &g[..7]).await;
    save_quotes(dal, &g[7..]).await;
    let want: Vec<Quote> = g.iter().filter(|q| q.symbol == A).cloned().collect();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
            .await
            .expect("subscription delivers within 10 s")
            .expect("the stream does not end")
            .expect("no error");
        got.extend(quotes_from(&[next]));
    }
    assert_eq!(got, want, "only the subscribed series, in save order");
}

pub async fn rt_concurrent_saves(dal: Arc<Dal>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let dal = dal.clone();
        tasks.push(tokio::spawn(async move {
            let symbol = format!("S{w}");
            for k in 0..20 {
                dal.save("quotes", &quotes_batch(&[quote(&symbol, T0 + k, k as f64)]))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let latest = latest_quotes(&dal, Load::all()).await;
    assert_eq!(latest.len(), 8);
    assert!(latest.iter().all(|q| q.ts == T0 + 19 && q.price == 19.0));
}

/// The kind of the store under test.
pub fn kind(dal: &Dal) -> StoreKind {
    dal.store_for("quotes").unwrap().1.info().kind
}

/// Expands to one `#[tokio::test]` per realtime check, each on a fresh `Dal` from `$harness`, an
/// `async fn(&Path) -> Option<Dal>`.
#[macro_export]
macro_rules! realtime_tests {
    ($harness:path) => {
        $crate::__realtime_test!($harness, rt_latest_is_newest_per_series);
        $crate::__realtime_test!($harness, rt_older_row_never_replaces_newer);
        $crate::__realtime_test!($harness, rt_resave_is_idempotent);
        $crate::__realtime_test!($harness, rt_newest_row_is_rewritten);
        $crate::__realtime_test!($harness, rt_load_recent_rows);
        $crate::__realtime_test!($harness, rt_latest_after_predicates);
        $crate::__realtime_test!($harness, rt_nulls_round_trip);
        $crate::__realtime_test!($harness, rt_any_tag_value_is_safe);
        $crate::__realtime_test!($harness, rt_multi_tag_series_and_types);
        $crate::__realtime_test!($harness, rt_errors_match_every_store);
        $crate::__realtime_test!($harness, rt_delete_series);
        $crate::__realtime_test!($harness, rt_subscribe_delivers_saved_rows);
        $crate::__realtime_test!(shared $harness, rt_concurrent_saves);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __realtime_test {
    ($harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::realtime::prepare_realtime(&dal).await;
            $crate::realtime::$check(&dal).await;
        }
    };
    (shared $harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::realtime::prepare_realtime(&dal).await;
            $crate::realtime::$check(::std::sync::Arc::new(dal)).await;
        }
    };
}
