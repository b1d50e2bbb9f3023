//! The durable spool against live PostgreSQL: an outage during a run of saves loses nothing and duplicates
//! nothing; a process killed with a full spool has it replayed by the next open; a damaged record is set
//! aside while the good ones are replayed; a full spool refuses the save it cannot keep. The server is
//! stopped and started with `pg_ctlcluster` (this is a test binary of its own, and its tests take turns, so
//! nothing else sees the server go away).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use quantdal::{Dal, ErrorKind, Load, OpenOptions, Settings};
use quantdal_tests::fixtures::{ticks_batch, ticks_from, Tick, T0};
use quantdal_tests::services::{
    fixture_catalog_with_nanos_elsewhere, service_url, services_required, test_schema, CleanupGuard,
};

const PG: &str = "QUANTDAL_TEST_PG_URL";
/// A PostgreSQL URL nothing answers: every save is "store away" (temporary Unavailable).
const DOWN: &str = "postgres://postgres@127.0.0.1:1/test?connect_timeout=1";

/// The tests of this binary take turns: they stop the server or count on it staying up.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn spooled_dal(url: &str, schema: &str, dir: &Path, spool: &str) -> Dal {
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\napplication: quantdal-tests\nstores:\n  main:\n    kind: postgres\n    url: \"{url}\"\n    schema: {schema}\n    connect_timeout_ms: 1000\n    spool: {{ dir: spool, {spool} }}\n  nanos:\n    kind: duckdb\n    path: nanos.duckdb\nretry:\n  max_attempts: 2\n  initial_backoff_ms: 20\n  max_backoff_ms: 100\n"
    );
    let settings = Settings::from_yaml(&yaml, "<spool test>", dir, &|_| None).unwrap();
    Dal::from_parts(
        settings,
        fixture_catalog_with_nanos_elsewhere(),
        OpenOptions::default(),
    )
    .await
    .unwrap()
}

fn batch_of(i: i64, rows: i64) -> Vec<Tick> {
    (0..rows)
        .map(|k| {
            Tick::new(
                &format!("S{}", k % 7),
                T0 + i * 1_000 + k,
                (i * 100 + k) as f64,
                k,
            )
        })
        .collect()
}

/// Waits until every spool is empty (the background replayer works on its own).
async fn drained(dal: &Dal, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = dal.spool_status().unwrap();
        if status.iter().all(|s| s.batches == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "spool not drained: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn local_cluster() -> Option<String> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()?;
    Command::new("pg_ctlcluster").arg("--help").output().ok()?;
    Some(version)
}

fn pg_ctl(version: &str, action: &str) -> bool {
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", version, "main", action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

struct Restart(String);
impl Drop for Restart {
    fn drop(&mut self) {
        pg_ctl(&self.0, "start");
    }
}

/// The server stopped during 100 consecutive saves and started again: every save succeeds, and afterwards
/// every row is there exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_during_100_saves_loses_and_duplicates_nothing() {
    let _turn = TURN.lock().await;
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let Some(version) = local_cluster() else {
        assert!(!services_required(), "pg_ctlcluster is needed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = test_schema(&url);
    let dal = spooled_dal(&url, &schema, dir.path(), "max_bytes: 100000000").await;
    dal.provision().await.unwrap();
    let restart = Restart(version.clone());
    let mut spooled = 0;
    for i in 0..100 {
        if i == 20 {
            assert!(pg_ctl(&version, "stop"), "pg_ctlcluster stop");
        }
        if i == 60 {
            assert!(pg_ctl(&version, "start"), "pg_ctlcluster start");
        }
        let report = dal
            .save("ticks", &ticks_batch(&batch_of(i, 50)))
            .await
            .unwrap();
        assert_eq!(report.rows, 50);
        spooled += usize::from(report.spooled);
    }
    drop(restart);
    assert!(
        spooled >= 40,
        "saves while the server was down were spooled ({spooled})"
    );
    drained(&dal, Duration::from_secs(60)).await;
    let rows = ticks_from(&dal.load("ticks", Load::all()).await.unwrap());
    assert_eq!(rows.len(), 5_000, "every row once");
    let mut want: Vec<Tick> = (0..100).flat_map(|i| batch_of(i, 50)).collect();
    want.sort_by(|a, b| (&a.symbol, a.ts).cmp(&(&b.symbol, b.ts)));
    assert_eq!(rows, want);
    dal.flush().await.unwrap();
}

/// A process killed (SIGKILL) with batches in its spool: the next open replays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spool_left_by_a_killed_process_is_replayed_at_open() {
    if let Ok(dir) = std::env::var("QUANTDAL_SPOOL_CHILD") {
        // The child: save into a store that is down, say so, then wait to be killed.
        let dal = spooled_dal(DOWN, "unused", Path::new(&dir), "max_bytes: 100000000").await;
        for i in 0..5 {
            assert!(
                dal.save("ticks", &ticks_batch(&batch_of(i, 10)))
                    .await
                    .unwrap()
                    .spooled
            );
        }
        println!("SPOOLED");
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let _turn = TURN.lock().await;
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spool_left_by_a_killed_process_is_replayed_at_open",
            "--nocapture",
        ])
        .env("QUANTDAL_SPOOL_CHILD", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !line.contains("SPOOLED") {
        line.clear();
        assert!(Instant::now() < deadline, "the child did not spool");
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            panic!("the child exited before spooling");
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let left = std::fs::read_dir(dir.path().join("spool/ticks"))
        .unwrap()
        .count();
    assert_eq!(left, 5, "the killed process left its five records");
    // Opening replays them (the tables must exist first: provision, then open the spooling Dal).
    let schema = test_schema(&url);
    spooled_dal(
        &url,
        &schema,
        &dir.path().join("provision"),
        "enabled: false",
    )
    .await
    .provision()
    .await
    .unwrap();
    let dal = spooled_dal(&url, &schema, dir.path(), "max_bytes: 100000000").await;
    drained(&dal, Duration::from_secs(30)).await;
    assert_eq!(dal.count("ticks").await.unwrap(), 50);
}

/// A damaged last record is detected, reported and set aside; the good ones are replayed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_record_is_set_aside_and_the_rest_replayed() {
    let _turn = TURN.lock().await;
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    {
        let down = spooled_dal(DOWN, "unused", dir.path(), "max_bytes: 100000000").await;
        for i in 0..3 {
            assert!(
                down.save("ticks", &ticks_batch(&batch_of(i, 10)))
                    .await
                    .unwrap()
                    .spooled
            );
        }
    }
    let class_dir = dir.path().join("spool/ticks");
    let mut files: Vec<_> = std::fs::read_dir(&class_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let last = files.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let schema = test_schema(&url);
    let dal = spooled_dal(&url, &schema, dir.path(), "max_bytes: 100000000").await;
    dal.provision().await.unwrap();
    let status = dal.spool_replay().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].batches, status[0].failed), (0, 1), "{status:?}");
    assert_eq!(
        dal.count("ticks").await.unwrap(),
        20,
        "the two good batches, once"
    );
    let again = dal.spool_replay().await.unwrap();
    assert_eq!(again[0].failed, 1);
    assert_eq!(
        dal.count("ticks").await.unwrap(),
        20,
        "nothing applied twice"
    );
}

/// A spool at its limit refuses the save it cannot keep — typed, loud — and keeps everything it took.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_spool_refuses_and_loses_nothing() {
    let _turn = TURN.lock().await;
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut kept = 0;
    {
        let down = spooled_dal(DOWN, "unused", dir.path(), "max_bytes: 60000").await;
        let mut refused = None;
        for i in 0..50 {
            match down.save("ticks", &ticks_batch(&batch_of(i, 20))).await {
                Ok(r) => {
                    assert!(r.spooled);
                    kept += 1;
                }
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let e = refused.expect("the spool fills up");
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(e.to_string().contains("spool is full"), "{e}");
        assert_eq!(e.class(), Some("ticks"));
    }
    assert!(kept > 0);
    let schema = test_schema(&url);
    let dal = spooled_dal(&url, &schema, dir.path(), "max_bytes: 60000").await;
    dal.provision().await.unwrap();
    drained(&dal, Duration::from_secs(30)).await;
    assert_eq!(
        dal.count("ticks").await.unwrap(),
        kept * 20,
        "every batch the spool took"
    );
}

/// An unwritable spool folder is an error at open, not a surprise during an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_spool_folder_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spool"),
        b"a file where the folder should be",
    )
    .unwrap();
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\nstores:\n  main:\n    kind: postgres\n    url: \"{DOWN}\"\n  nanos:\n    kind: duckdb\n    path: nanos.duckdb\nmonitoring:\n  enabled: false\n"
    );
    let mut settings = Settings::from_yaml(&yaml, "<spool test>", dir.path(), &|_| None).unwrap();
    if let Some(s) = settings
        .stores
        .get_mut("main")
        .and_then(|m| m.spool.as_mut())
    {
        s.dir = dir.path().join("spool/main");
    }
    let err = Dal::from_parts(
        settings,
        fixture_catalog_with_nanos_elsewhere(),
        OpenOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("spool"), "{err}");
}
