//! The monitoring store itself: DDL files, two real processes on one SQLite file, PostgreSQL, the dashboard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quantdal_monitor::serve::{serve_on, Dashboard, Gauge};
use quantdal_monitor::{ddl, Dialect, Filter, Monitor, MonitorDb, MonitorLayer, OpStatus, Sink};

use common::*;

fn all() -> Filter {
    Filter::default().limit(100_000)
}

#[test]
fn ddl_files_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/monitoring");
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let path = dir.join(format!("{}.sql", d.as_str()));
        let want = ddl(d);
        if std::env::var_os("QUANTDAL_UPDATE_SCHEMAS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date: rerun with QUANTDAL_UPDATE_SCHEMAS=1",
            path.display()
        );
    }
}

const CHILD_ENV: &str = "QUANTDAL_MONITOR_CHILD_DB";
const CHILD_OPS: usize = 1500;

/// The writer half of the two-process test; does nothing unless started by it.
#[tokio::test]
async fn two_process_writer_child() {
    let Some(db_path) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let dir = db_path.parent().unwrap();
    let (monitor, _db) = start(dir, options(dir));
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    let q = query(&spec);
    for i in 0..CHILD_OPS {
        store.latest(&spec, q.clone()).await.unwrap();
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
    }
    monitor.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_process_reads_while_an_application_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("monitoring.db");
    let reader = sqlite(dir.path());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "two_process_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // This process writes too, through its own monitor: writers from two processes take turns.
    let (monitor, _) = start(dir.path(), options(dir.path()));
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    let mut seen = Vec::new();
    let status = loop {
        store.count(&spec).await.unwrap();
        let n = reader
            .ops(&all())
            .await
            .expect("reads never fail while the other process writes")
            .len();
        seen.push(n);
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "writer process failed: {status}");
    monitor.shutdown().await.unwrap();
    let ops = reader.ops(&all()).await.unwrap();
    let from_child = ops.iter().filter(|o| o.operation == "latest").count();
    let from_parent = ops.iter().filter(|o| o.operation == "count").count();
    assert_eq!(from_child, CHILD_OPS);
    assert_eq!(from_parent, seen.len());
    assert!(ops.iter().any(|o| o.pid != i64::from(std::process::id())));
    // The reader saw the other process's rows arrive while it was still writing.
    assert!(
        seen.iter().any(|&n| n > 0 && n < CHILD_OPS),
        "never saw a partial count: {seen:?}"
    );
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_serves_page_json_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let mut failing = FakeStore::new();
    failing.fail_saves = true;
    let layer = MonitorLayer::new(monitor.clone());
    let ok = layer.layer(Arc::new(FakeStore::new()));
    let bad = layer.layer(Arc::new(failing));
    let spec = spec("tick_data");
    for _ in 0..5 {
        ok.save(&spec, ticks(3, "A")).await.unwrap();
        ok.latest(&spec, query(&spec)).await.unwrap();
    }
    bad.save(&spec, ticks(3, "A")).await.unwrap_err();
    monitor.flush().await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gauges = Arc::new(|| {
        vec![Gauge {
            metric: "quantdal_pool_connections".into(),
            help: "Pooled connections.".into(),
            labels: "store=\"warehouse\",state=\"idle\"".into(),
            value: 3.0,
        }]
    });
    let server = tokio::spawn(serve_on(
        listener,
        Dashboard::new(db.clone()).with_gauges(gauges),
    ));
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http_get(addr, path));

    let (status, page) = get("/").await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("data-points"));
    assert!(!page.contains("<script src"), "the page is self-contained");

    let (status, body) = get("/api/ops_per_minute?since=1h").await.unwrap();
    assert_eq!(status, 200);
    let points: serde_json::Value = serde_json::from_str(&body).unwrap();
    let total: i64 = points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["operations"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 11);

    let (_, body) = get("/api/latency").await.unwrap();
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{body}");
    let (_, body) = get("/api/alerts").await.unwrap();
    assert!(
        body.contains("failed:fake:tick_data:save:unavailable"),
        "{body}"
    );
    assert_eq!(get("/api/slow").await.unwrap().0, 200);
    assert_eq!(get("/api/quality?class=tick_data").await.unwrap().0, 200);
    assert_eq!(get("/api/ops?since=nonsense").await.unwrap().0, 400);

    let (status, metrics) = get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains(
        "quantdal_operations_total{store=\"fake\",operation=\"save\",class=\"tick_data\",status=\"ok\"} 5"
    ), "{metrics}");
    assert!(metrics.contains("quantdal_operation_errors_total{store=\"fake\",operation=\"save\",class=\"tick_data\",kind=\"unavailable\"} 1"));
    assert!(metrics.contains(
        "quantdal_operation_duration_seconds_count{store=\"fake\",operation=\"latest\"} 5"
    ));
    assert!(metrics.contains(
        "quantdal_operation_rows_total{store=\"fake\",operation=\"save\",class=\"tick_data\"} 15"
    ));
    assert!(metrics.contains("quantdal_pool_connections{store=\"warehouse\",state=\"idle\"} 3"));
    server.abort();
    monitor.shutdown().await.unwrap();
}

/// PostgreSQL sink and queries on a per-run schema, including a connection killed mid-run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_round_trip() {
    let Ok(url) = std::env::var("QUANTDAL_TEST_PG_URL") else {
        assert!(
            std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "QUANTDAL_TEST_PG_URL is required when QUANTDAL_REQUIRE_SERVICES=1"
        );
        eprintln!("skipping postgres_store_round_trip: QUANTDAL_TEST_PG_URL is not set");
        return;
    };
    let schema = format!(
        "qdmon_{}_{}",
        std::process::id(),
        quantdal_monitor::now_us()
    );
    let app = format!("qdmon-test-{}", std::process::id());
    let admin = Arc::new(
        quantdal_postgres::connect_client(&url, "qdmon-admin")
            .await
            .unwrap(),
    );
    let (killer, schema_name) = (admin.clone(), schema.clone());
    let result = async move {
        let (admin, schema) = (killer, schema_name);
        let db = MonitorDb::connect_postgres(&url, Some(&schema), &app)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let monitor =
            Monitor::start(Arc::new(db.clone()) as Arc<dyn Sink>, options(dir.path())).unwrap();
        let mut failing = FakeStore::new();
        failing.fail_saves = true;
        let layer = MonitorLayer::new(monitor.clone());
        let ok = layer.layer(Arc::new(FakeStore::new()));
        let bad = layer.layer(Arc::new(failing));
        let spec = spec("tick_data");
        for _ in 0..20 {
            ok.save(&spec, ticks(2, "A")).await.unwrap();
        }
        bad.save(&spec, ticks(2, "A")).await.unwrap_err();
        bad.save(&spec, ticks(2, "A")).await.unwrap_err();
        monitor.flush().await.unwrap();
        // The server drops our connection: records spill, then replay over a new connection.
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap();
        for _ in 0..10 {
            ok.save(&spec, ticks(2, "A")).await.unwrap();
        }
        let _ = monitor.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        monitor.flush().await.unwrap();
        let ops = db.ops(&all()).await.unwrap();
        assert_eq!(ops.len(), 32);
        assert_eq!(
            ops.iter().filter(|o| o.status == OpStatus::Failed).count(),
            2
        );
        let alerts = db.alerts(&all(), false).await.unwrap();
        assert_eq!((alerts.len(), alerts[0].occurrences), (1, 2));
        assert!(db.ack(alerts[0].id).await.unwrap());
        assert!(db.resolve(alerts[0].id).await.unwrap());
        let latency = db.latency(&all()).await.unwrap();
        assert_eq!(latency[0].operations, 32);
        let per_minute = db.ops_per_minute(&all()).await.unwrap();
        assert_eq!(per_minute.iter().map(|p| p.operations).sum::<i64>(), 32);
        let totals = db.metric_totals().await.unwrap();
        let n: f64 = totals
            .iter()
            .filter(|m| m.metric == "quantdal_operations_total")
            .map(|m| m.value)
            .sum();
        assert_eq!(n, 32.0);
        assert!(db.top_slow(&all()).await.unwrap().is_empty());
        assert!(db.quality_status(&all()).await.unwrap().is_empty());
        let pruned = db
            .prune(
                &quantdal_monitor::Retention::default(),
                quantdal_monitor::now_us() + 91 * 86_400_000_000,
            )
            .await
            .unwrap();
        assert_eq!((pruned.operations, pruned.alerts), (32, 1));
        monitor.shutdown().await.unwrap();
    };
    // Drop the schema even when an assertion fails.
    let outcome = tokio::spawn(result).await;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
