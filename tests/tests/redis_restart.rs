//! A Redis restart under a live `Dal`: saves fail with a temporary `Unavailable` while the server is down and
//! succeed again once it is back, on the same `Dal`, without reopening. The server is this test's own
//! (a free loopback port), so no other test sees it go away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use quantdal::{Dal, ErrorKind, Load, OpenOptions, Settings};
use quantdal_tests::realtime::{quote, quotes_batch, quotes_from, realtime_catalog};
use quantdal_tests::services::{free_port, redis_binaries_present, services_required, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_fails_temporarily_while_down_then_recovers_without_reopening() {
    if !redis_binaries_present() {
        assert!(!services_required(), "redis-server is not installed");
        eprintln!("redis-server is not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start(free_port(), &dir.path().join("redis"), &[]);
    let settings = Settings::from_yaml(
        &format!(
            // No spool here: the point is the error the caller sees (tests/tests/spool.rs covers spooling).
            "version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: redis\n    url: \"{}\"\n    connect_timeout_ms: 300\n    spool: {{ enabled: false }}\nretry:\n  max_attempts: 2\n  initial_backoff_ms: 20\n",
            server.url()
        ),
        "restart",
        dir.path(),
        &|_| None,
    )
    .unwrap();
    let dal = Dal::from_parts(settings, realtime_catalog("qdr"), OpenOptions::default())
        .await
        .unwrap();
    dal.provision().await.unwrap();
    dal.save("quotes", &quotes_batch(&[quote("A", 1, 1.0)]))
        .await
        .unwrap();

    server.stop();
    let err = dal
        .save("quotes", &quotes_batch(&[quote("A", 2, 2.0)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");
    let err = dal.latest("quotes", Load::all()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    server.restart();
    // The connection manager reconnects on its own; give it the first attempt or two.
    let mut saved = None;
    for _ in 0..50 {
        match dal
            .save("quotes", &quotes_batch(&[quote("A", 3, 3.0)]))
            .await
        {
            Ok(r) => {
                saved = Some(r);
                break;
            }
            Err(e) => {
                assert!(e.is_temporary(), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(
        saved.is_some(),
        "the same Dal saves again once Redis is back"
    );
    assert_eq!(
        quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()),
        vec![quote("A", 3, 3.0)]
    );
}
