//! Stop and start the real PostgreSQL server under a live `Dal`: saves fail with a temporary `Unavailable`
//! error while it is down, write nothing, and succeed again once it is back, with no reopen. This is its own
//! test binary (cargo runs test binaries one after another), so no other test sees the server go away.
//! Needs `pg_ctlcluster` and the right to use it (CI runs as root); otherwise it skips, or fails under
//! `QUANTDAL_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use quantdal::ErrorKind;
use quantdal_tests::fixtures::{ticks_batch, Tick, T0};
use quantdal_tests::services::{
    postgres_dal_in, service_url, services_required, test_schema, CleanupGuard,
};

/// `(version, cluster)` of the local cluster, when `pg_ctlcluster` can manage it.
fn local_cluster() -> Option<(String, String)> {
    let versions = std::fs::read_dir("/etc/postgresql").ok()?;
    let version = versions
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()?;
    Command::new("pg_ctlcluster").arg("--help").output().ok()?;
    Some((version, "main".into()))
}

fn pg_ctl(version: &str, cluster: &str, action: &str) -> bool {
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", version, cluster, action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// Starts the server again however the test ends.
struct Restart(String, String);
impl Drop for Restart {
    fn drop(&mut self) {
        pg_ctl(&self.0, &self.1, "start");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stop_and_start_under_a_live_dal() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url("QUANTDAL_TEST_PG_URL") else {
        return;
    };
    let Some((version, cluster)) = local_cluster() else {
        assert!(
            !services_required(),
            "pg_ctlcluster is needed to stop and start the server"
        );
        eprintln!("no pg_ctlcluster: skipping");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = test_schema(&url);
    // No spool: this is about the error a caller sees (tests/tests/spool.rs has the spooled outage).
    let dal = postgres_dal_in(
        &url,
        &schema,
        dir.path(),
        "spool: { enabled: false }",
        "max_attempts: 1",
    )
    .await;
    dal.provision().await.unwrap();
    let first = ticks_batch(&[Tick::new("A.SH", T0, 1.0, 1)]);
    dal.save("ticks", &first).await.unwrap();

    let restart = Restart(version.clone(), cluster.clone());
    if !pg_ctl(&version, &cluster, "stop") {
        assert!(
            !services_required(),
            "pg_ctlcluster stop failed (not allowed here?)"
        );
        eprintln!("cannot stop the server here: skipping");
        return;
    }
    let second = ticks_batch(&[Tick::new("A.SH", T0 + 1, 2.0, 2)]);
    let err = dal.save("ticks", &second).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(err.class(), Some("ticks"));

    drop(restart);
    // The same Dal, no reopen: wait for the server to accept connections, then save.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match dal.save("ticks", &second).await {
            Ok(report) => {
                assert_eq!(report.rows, 1);
                break;
            }
            Err(e) if Instant::now() < deadline && e.kind() == ErrorKind::Unavailable => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("the pool did not recover: {e}"),
        }
    }
    assert_eq!(dal.count("ticks").await.unwrap(), 2);
}
