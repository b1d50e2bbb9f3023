//! The monitor layer and writer: one row per call, slow statements, a locked store, overflow, alerts, spill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use quantdal_core::{Interval, Result};
use quantdal_monitor::{
    AlertStatus, Filter, MetricDelta, Monitor, MonitorLayer, OpStatus, Record, Sink, SlowLevel,
};

use common::*;

fn all() -> Filter {
    Filter::default().limit(100_000)
}

async fn op_total(db: &quantdal_monitor::MonitorDb) -> f64 {
    db.metric_totals()
        .await
        .unwrap()
        .iter()
        .filter(|m| m.metric == "quantdal_operations_total")
        .map(|m| m.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_operations_row_per_call_under_16_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    let rounds = 10;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let q = query(&spec);
            for _ in 0..rounds {
                store.save(&spec, ticks(10, "600000.SH")).await.unwrap();
                // A load read to the end, and one dropped after its first batch.
                let mut s = store.load(&spec, q.clone()).await.unwrap();
                while s.next().await.is_some() {}
                let mut s = store.load(&spec, q.clone()).await.unwrap();
                s.next().await;
                drop(s);
                store.latest(&spec, q.clone()).await.unwrap();
                store
                    .kline(&spec, Interval::from_seconds(60).unwrap(), q.clone())
                    .await
                    .unwrap();
                store.delete(&spec, q.clone()).await.unwrap();
                if t == 0 {
                    store.provision(&spec).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    monitor.flush().await.unwrap();
    let ops = db.ops(&all()).await.unwrap();
    assert_eq!(ops.len(), 16 * rounds * 6 + rounds);
    let ids: HashSet<_> = ops.iter().map(|o| o.id.clone()).collect();
    assert_eq!(ids.len(), ops.len(), "ids are unique");
    let count = |op: &str, status: OpStatus| {
        ops.iter()
            .filter(|o| o.operation == op && o.status == status)
            .count()
    };
    assert_eq!(count("save", OpStatus::Ok), 16 * rounds);
    assert_eq!(count("load", OpStatus::Ok), 16 * rounds);
    assert_eq!(count("load", OpStatus::Partial), 16 * rounds);
    assert_eq!(count("provision", OpStatus::Ok), rounds);
    let save = ops.iter().find(|o| o.operation == "save").unwrap();
    assert_eq!(save.rows, Some(10));
    assert!(save.bytes.unwrap() > 0);
    assert_eq!(save.application, "test-app");
    assert_eq!(save.pid, i64::from(std::process::id()));
    assert_eq!(
        (save.store.as_str(), save.kind.as_str()),
        ("fake", "duckdb")
    );
    let full_load = ops
        .iter()
        .find(|o| o.operation == "load" && o.status == OpStatus::Ok)
        .unwrap();
    assert_eq!(full_load.rows, Some(0));
    assert_eq!(monitor.dropped(), 0);
    assert_eq!(op_total(&db).await, ops.len() as f64);
    monitor.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_operations_are_recorded_and_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let mut fake = FakeStore::new();
    fake.fail_saves = true;
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(fake));
    let spec = spec("tick_data");
    for _ in 0..3 {
        assert!(store.save(&spec, ticks(2, "A")).await.is_err());
        monitor.flush().await.unwrap();
    }
    let ops = db.ops(&all()).await.unwrap();
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| o.status == OpStatus::Failed
        && o.error_kind.as_deref() == Some("unavailable")
        && o.error_message
            .as_deref()
            .unwrap()
            .contains("fake store is down")));
    let alerts = db.alerts(&all(), false).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.occurrences, 3);
    assert_eq!(a.dedup_key, "failed:fake:tick_data:save:unavailable");
    assert!(db.ack(a.id).await.unwrap());
    assert_eq!(
        db.alerts(&all(), false).await.unwrap()[0].status,
        AlertStatus::Acknowledged
    );
    assert!(db.resolve(a.id).await.unwrap());
    assert!(db.alerts(&all(), false).await.unwrap().is_empty());
    assert!(
        !db.ack(a.id).await.unwrap(),
        "a resolved alert cannot be acknowledged"
    );
    // The problem recurs: the same row reopens.
    assert!(store.save(&spec, ticks(2, "A")).await.is_err());
    monitor.flush().await.unwrap();
    let alerts = db.alerts(&all(), true).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].status, alerts[0].occurrences),
        (AlertStatus::Open, 4)
    );
    monitor.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_operations_record_their_statement() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.warn_after = Duration::from_millis(20);
    o.slow_after = Duration::from_millis(60);
    let (monitor, db) = start(dir.path(), o);
    let spec = spec("tick_data");
    let q = query(&spec);
    let mut fast = FakeStore::new();
    fast.delay = Duration::ZERO;
    let mut warn = FakeStore::new();
    warn.delay = Duration::from_millis(30);
    let mut slow = FakeStore::new();
    slow.delay = Duration::from_millis(80);
    let layer = MonitorLayer::new(monitor.clone());
    layer
        .layer(Arc::new(fast))
        .latest(&spec, q.clone())
        .await
        .unwrap();
    layer
        .layer(Arc::new(warn))
        .latest(&spec, q.clone())
        .await
        .unwrap();
    let slow_store = layer.layer(Arc::new(slow));
    let mut s = slow_store.load(&spec, q.clone()).await.unwrap();
    while s.next().await.is_some() {}
    monitor.flush().await.unwrap();
    let rows = db.slow(&all()).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_level = |l: SlowLevel| rows.iter().find(|r| r.level == l).unwrap();
    let w = by_level(SlowLevel::Warn);
    assert_eq!(w.operation, "latest");
    assert_eq!(
        w.statement,
        "SELECT /* latest */ * FROM tick_data WHERE ts >= ? AND ts < ?"
    );
    assert_eq!(w.parameters, 2);
    let s = by_level(SlowLevel::Slow);
    assert_eq!((s.operation.as_str(), s.rows), ("load", Some(0)));
    assert!(s.duration_us >= 60_000);
    let ops = db.ops(&all()).await.unwrap();
    assert!(ops.iter().any(|o| o.id == s.op_id));
    // Only past slow_ms does it alert.
    let alerts = db.alerts(&all(), false).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].dedup_key, "slow:fake:tick_data:load");
    let top = db.top_slow(&all()).await.unwrap();
    assert_eq!(top[0].operation, "load");
    monitor.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_sqlite_store_does_not_slow_saves_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    // Another connection holds the write lock.
    let blocker = rusqlite::Connection::open(dir.path().join("monitoring.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let batch = ticks(5, "A");
    let started = std::time::Instant::now();
    for _ in 0..200 {
        store.save(&spec, batch.clone()).await.unwrap();
    }
    let save_time = started.elapsed();
    // The writer could not write: everything went to the spill.
    let flushed = monitor.flush().await;
    assert!(
        flushed.is_err(),
        "records wait in the spill while the DB is locked"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".spill-")));
    assert!(
        save_time < Duration::from_secs(5),
        "saves took {save_time:?}"
    );
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    monitor.flush().await.unwrap();
    let ops = db.ops(&all()).await.unwrap();
    assert_eq!(ops.len(), 200);
    assert_eq!(op_total(&db).await, 200.0);
    assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".spill-")));
    monitor.shutdown().await.unwrap();
}

/// A sink whose writes wait until released: the channel fills up behind it.
#[derive(Debug)]
struct StuckSink {
    inner: quantdal_monitor::MonitorDb,
    open: tokio::sync::Semaphore,
}

#[async_trait]
impl Sink for StuckSink {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        let _permit = self.open.acquire().await;
        self.inner.write(records, extra).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_overflow_is_counted_never_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let sink = Arc::new(StuckSink {
        inner: db.clone(),
        open: tokio::sync::Semaphore::new(0),
    });
    let mut o = options(dir.path());
    o.capacity = 8;
    o.batch_size = 4;
    let monitor = Monitor::start(sink.clone(), o).unwrap();
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    let q = query(&spec);
    for _ in 0..100 {
        store.latest(&spec, q.clone()).await.unwrap();
    }
    let dropped = monitor.dropped();
    // At most one batch in the stuck write, one being gathered and the channel's 8.
    assert!(dropped >= 100 - 16, "dropped {dropped}");
    sink.open.add_permits(1_000);
    monitor.flush().await.unwrap();
    let written = db.ops(&all()).await.unwrap().len() as u64;
    assert_eq!(written + dropped, 100);
    let totals = db.metric_totals().await.unwrap();
    let reported = totals
        .iter()
        .find(|m| m.metric == "quantdal_monitor_dropped_records_total")
        .unwrap();
    assert_eq!(reported.value, dropped as f64);
    assert!(reported.labels.contains("application=\"test-app\""));
    monitor.shutdown().await.unwrap();
}

/// Fails while `down`; optionally fails after `fail_after` successful writes; logs the ids it wrote.
#[derive(Debug)]
struct FlakySink {
    inner: quantdal_monitor::MonitorDb,
    down: AtomicBool,
    fail_after: AtomicUsize,
    written: Mutex<Vec<String>>,
}

#[async_trait]
impl Sink for FlakySink {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        let left = self.fail_after.load(Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) || left == 0 {
            return Err(quantdal_core::Error::new(
                quantdal_core::ErrorKind::Unavailable,
                "monitoring DB is down",
            ));
        }
        self.fail_after.store(left - 1, Ordering::SeqCst);
        self.inner.write(records, extra).await?;
        self.written
            .lock()
            .unwrap()
            .extend(records.iter().map(|r| r.id().to_string()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilled_records_replay_in_order_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let sink = Arc::new(FlakySink {
        inner: db.clone(),
        down: AtomicBool::new(true),
        fail_after: AtomicUsize::new(usize::MAX),
        written: Mutex::new(Vec::new()),
    });
    let mut o = options(dir.path());
    o.batch_size = 10;
    let monitor = Monitor::start(sink.clone(), o).unwrap();
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    for _ in 0..95 {
        store.save(&spec, ticks(1, "A")).await.unwrap();
    }
    assert!(monitor.flush().await.is_err());
    // Back up, but only for 3 writes: the replay stops part-way.
    sink.fail_after.store(3, Ordering::SeqCst);
    sink.down.store(false, Ordering::SeqCst);
    assert!(monitor.flush().await.is_err());
    assert_eq!(db.ops(&all()).await.unwrap().len(), 30);
    // New records queue behind the spill.
    for _ in 0..5 {
        store.save(&spec, ticks(1, "A")).await.unwrap();
    }
    sink.fail_after.store(usize::MAX, Ordering::SeqCst);
    monitor.flush().await.unwrap();
    let ops = db.ops(&all()).await.unwrap();
    assert_eq!(ops.len(), 100);
    assert_eq!(
        op_total(&db).await,
        100.0,
        "replayed records are not counted twice"
    );
    // Written order = recorded order (ids carry a per-process sequence), repeats only from the re-sent chunk.
    let written = sink.written.lock().unwrap().clone();
    let mut seen = HashSet::new();
    let first_time: Vec<&String> = written.iter().filter(|id| seen.insert(*id)).collect();
    let mut sorted = first_time.clone();
    sorted.sort();
    assert_eq!(first_time, sorted);
    assert_eq!(first_time.len(), 100);
    monitor.shutdown().await.unwrap();
}

#[tokio::test]
async fn spill_left_by_a_previous_run_is_replayed_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let sink = Arc::new(FlakySink {
        inner: db.clone(),
        down: AtomicBool::new(true),
        fail_after: AtomicUsize::new(usize::MAX),
        written: Mutex::new(Vec::new()),
    });
    let monitor = Monitor::start(sink.clone(), options(dir.path())).unwrap();
    let store = MonitorLayer::new(monitor.clone()).layer(Arc::new(FakeStore::new()));
    let spec = spec("tick_data");
    for _ in 0..7 {
        store.save(&spec, ticks(1, "A")).await.unwrap();
    }
    assert!(
        monitor.shutdown().await.is_err(),
        "shutdown says records are waiting"
    );
    assert!(db.ops(&all()).await.unwrap().is_empty());
    let (monitor, db) = start(dir.path(), options(dir.path()));
    monitor.flush().await.unwrap();
    assert_eq!(db.ops(&all()).await.unwrap().len(), 7);
    monitor.shutdown().await.unwrap();
}

#[tokio::test]
async fn percentiles_are_nearest_rank() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let now = quantdal_monitor::now_us();
    for d in 1..=100 {
        monitor.record(Record::Operation(quantdal_monitor::OperationRecord {
            id: quantdal_monitor::next_id(),
            start_us: now - d,
            operation: "load".into(),
            class: "tick_data".into(),
            store: "embedded".into(),
            kind: "duckdb".into(),
            table: "tick_data".into(),
            rows: Some(1),
            bytes: None,
            status: OpStatus::Ok,
            error_kind: None,
            error_message: None,
            duration_us: d * 1000,
            application: "a".into(),
            host: "h".into(),
            pid: 1,
        }));
    }
    monitor.flush().await.unwrap();
    let l = db.latency(&all()).await.unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(
        (
            l[0].operations,
            l[0].p50_us,
            l[0].p95_us,
            l[0].p99_us,
            l[0].max_us
        ),
        (100, 50_000, 95_000, 99_000, 100_000)
    );
    let per_minute = db.ops_per_minute(&all()).await.unwrap();
    assert_eq!(per_minute.iter().map(|p| p.operations).sum::<i64>(), 100);
    // Retention: nothing is older than a day here; a cut-off in the future removes everything.
    let kept = db
        .prune(&quantdal_monitor::Retention::default(), now)
        .await
        .unwrap();
    assert_eq!(kept.operations, 0);
    let pruned = db
        .prune(
            &quantdal_monitor::Retention::default(),
            now + 8 * 86_400_000_000,
        )
        .await
        .unwrap();
    assert_eq!(pruned.operations, 100);
    monitor.shutdown().await.unwrap();
}
