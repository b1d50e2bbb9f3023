//! Monitoring through a real embedded `Dal`: one operations row per call under concurrency, flushed by
//! `Dal::close`.

// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use quantdal::monitor::{Filter, MonitorDb};
use quantdal::{Dal, Load};

fn ticks(symbol: &str, n: usize) -> RecordBatch {
    let f = |v: f64| Arc::new(Float64Array::from(vec![v; n])) as ArrayRef;
    let i = |v: i64| Arc::new(Int64Array::from(vec![v; n])) as ArrayRef;
    let ts: Vec<i64> = (0..n as i64)
        .map(|k| 1_704_159_000_000 + k * 3000)
        .collect();
    RecordBatch::try_from_iter([
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")) as ArrayRef,
        ),
        (
            "symbol",
            Arc::new(StringArray::from(vec![symbol; n])) as ArrayRef,
        ),
        ("price", f(10.0)),
        ("volume", i(100)),
        ("amount", f(1000.0)),
        ("bid_price1", f(9.99)),
        ("bid_volume1", i(1)),
        ("ask_price1", f(10.01)),
        ("ask_volume1", i(1)),
        (
            "direction",
            Arc::new(StringArray::from(vec![Some("B"); n])) as ArrayRef,
        ),
    ])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_operations_row_per_call_under_16_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let dal = Arc::new(Dal::embedded(dir.path()).await.unwrap());
    dal.provision().await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let dal = dal.clone();
            tokio::spawn(async move {
                let symbol = format!("{t:06}.SH");
                dal.save("tick_data", &ticks(&symbol, 50)).await.unwrap();
                dal.load("tick_data", Load::all().symbols([symbol.as_str()]))
                    .await
                    .unwrap();
                dal.latest("tick_data", Load::all().symbols([symbol.as_str()]))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let dal = Arc::into_inner(dal).unwrap();
    dal.close().await.unwrap();

    let db = MonitorDb::open_sqlite(
        dir.path().join("quantdal-monitor.db"),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let ops = db
        .ops(&Filter::default().class("tick_data").limit(10_000))
        .await
        .unwrap();
    for op in ["save", "load", "latest"] {
        let n = ops.iter().filter(|o| o.operation == op).count();
        assert_eq!(n, 16, "{op}: {n} rows");
    }
    assert!(ops.iter().all(|o| o.status.as_str() == "ok"));
    let ids: std::collections::HashSet<_> = ops.iter().map(|o| &o.id).collect();
    assert_eq!(ids.len(), ops.len());
    // Inline quality checks ran on every save (tick_data has a quality section).
    let quality = db
        .quality(&Filter::default().class("tick_data").limit(10_000))
        .await
        .unwrap();
    assert_eq!(quality.iter().filter(|q| q.check == "validity").count(), 16);
}

/// The monitoring DB locked by another writer (as a dashboard or a second application might): every save
/// still succeeds, its records wait in the spill file, and all of them are in the DB once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saves_are_unaffected_while_the_monitoring_db_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let dal = Dal::embedded(dir.path()).await.unwrap();
    dal.provision().await.unwrap();
    dal.flush().await.unwrap();
    let holder = rusqlite::Connection::open(dir.path().join("quantdal-monitor.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    for k in 0..30 {
        let report = dal
            .save("tick_data", &ticks(&format!("{k:06}.SZ"), 20))
            .await
            .unwrap();
        assert_eq!(report.rows, 20);
    }
    // Still locked: a flush cannot reach the DB, and says so without failing any save.
    let _ = dal.flush().await;
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    dal.close().await.unwrap();

    let db = MonitorDb::open_sqlite(
        dir.path().join("quantdal-monitor.db"),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let saves = db
        .ops(&Filter::default().class("tick_data").limit(10_000))
        .await
        .unwrap()
        .into_iter()
        .filter(|op| op.operation == "save")
        .count();
    assert_eq!(
        saves, 30,
        "every save recorded once, after the lock was released"
    );
}

/// `monitoring.url`: the monitoring store on PostgreSQL (`QUANTDAL_TEST_PG_URL`, a schema of its own,
/// dropped afterwards), created by `provision`, one row per call, readable by the dashboard's queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitoring_store_on_postgres() {
    let url = match std::env::var("QUANTDAL_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "QUANTDAL_TEST_PG_URL is not set but QUANTDAL_REQUIRE_SERVICES=1"
            );
            eprintln!("QUANTDAL_TEST_PG_URL is not set: skipping");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("qd_mon_{}", std::process::id());
    let yaml = format!(
        "version: 1\ntables: t.yaml\nstores:\n  embedded:\n    kind: duckdb\n    path: q.duckdb\n\
         routes:\n  tdengine: embedded\n  postgres: embedded\n  redis: embedded\n\
         monitoring:\n  url: \"{url}\"\n  schema: {schema}\n"
    );
    let settings = quantdal::Settings::from_yaml(&yaml, "<test>", dir.path(), &|_| None).unwrap();
    let catalog =
        quantdal::Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>").unwrap();
    let dal = Dal::from_parts(settings, catalog, quantdal::OpenOptions::default())
        .await
        .unwrap();
    let outcome = async {
        dal.provision().await.unwrap();
        dal.save("tick_data", &ticks("600000.SH", 10))
            .await
            .unwrap();
        dal.load("tick_data", Load::all()).await.unwrap();
    };
    outcome.await;
    dal.close().await.unwrap();
    let db = MonitorDb::connect_postgres(&url, Some(&schema), "quantdal-tests")
        .await
        .unwrap();
    let ops = db
        .ops(&Filter::default().class("tick_data").limit(1_000))
        .await
        .unwrap();
    let admin = quantdal_postgres::connect_client(&url, "quantdal-tests-admin")
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
    assert_eq!(ops.iter().filter(|o| o.operation == "save").count(), 1);
    assert_eq!(ops.iter().filter(|o| o.operation == "load").count(), 1);
}
