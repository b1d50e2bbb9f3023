//! The realtime suite on a three-master Redis Cluster this test binary starts on loopback ports (and stops
//! when it exits; each server also stops by itself after 15 minutes). Every class is one hash slot (its
//! keys share the `{class}` hash tag), so a save of many series is one atomic script on one node.
//! Runs where `redis-server` is installed; under `QUANTDAL_REQUIRE_SERVICES=1` a missing binary fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use quantdal::{Dal, Load};
use quantdal_tests::realtime::{quote, quotes_batch, quotes_from};
use quantdal_tests::services::{
    redis_binaries_present, redis_realtime_dal, services_required, CleanupGuard, RedisCluster,
};

static CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();

fn cluster() -> Option<&'static RedisCluster> {
    CLUSTER
        .get_or_init(|| {
            if !redis_binaries_present() {
                assert!(
                    !services_required(),
                    "redis-server is not installed but QUANTDAL_REQUIRE_SERVICES=1"
                );
                eprintln!("redis-server is not installed: skipping the cluster tests");
                return None;
            }
            Some(RedisCluster::start())
        })
        .as_ref()
}

async fn harness(dir: &Path) -> Option<Dal> {
    let c = cluster()?;
    Some(redis_realtime_dal(&c.url(), true, &c.node_urls(), dir).await)
}

quantdal_tests::realtime_tests!(harness);

/// Many series of one class land on one node (one slot), and one save writes them all or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_is_one_slot_and_saves_are_atomic_across_series() {
    let _cleanup = CleanupGuard;
    let Some(c) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dal = redis_realtime_dal(&c.url(), true, &c.node_urls(), dir.path()).await;
    dal.provision().await.unwrap();
    let symbols: Vec<String> = (0..500).map(|i| format!("S{i:03}:{{x}}")).collect();
    let rows: Vec<_> = symbols.iter().map(|s| quote(s, 1_000, 1.0)).collect();
    dal.save("quotes", &quotes_batch(&rows)).await.unwrap();
    assert_eq!(
        quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()).len(),
        500
    );
    let spec = dal.spec("quotes").unwrap();
    let prefix = spec
        .options
        .redis
        .as_ref()
        .unwrap()
        .key_prefix
        .clone()
        .unwrap();
    // Every key of the class is on the node that owns slot {quotes}.
    let holders: Vec<usize> = c
        .nodes
        .iter()
        .map(|n| {
            let mut conn = redis::Client::open(n.url().as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:{{quotes}}:*"))
                .query(&mut conn)
                .unwrap();
            keys.len()
        })
        .collect();
    assert_eq!(
        holders.iter().filter(|&&n| n > 0).count(),
        1,
        "keys per node: {holders:?}"
    );
    assert_eq!(
        holders.iter().sum::<usize>(),
        500 + 4,
        "history per series; newest rows, index, schema, feed"
    );

    // A foreign key in the way of the 250th series: the whole save is refused, nothing changes.
    let owner = c
        .nodes
        .iter()
        .find(|n| {
            let mut conn = redis::Client::open(n.url().as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:{{quotes}}:*"))
                .query(&mut conn)
                .unwrap();
            !keys.is_empty()
        })
        .unwrap();
    let mut conn = redis::Client::open(owner.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let blocked = format!("{prefix}:{{quotes}}:l:NEW250");
    let _: () = redis::cmd("SET")
        .arg(&blocked)
        .arg("x")
        .query(&mut conn)
        .unwrap();
    let mut newer: Vec<_> = symbols.iter().map(|s| quote(s, 2_000, 2.0)).collect();
    newer.insert(250, quote("NEW250", 2_000, 2.0));
    assert!(dal.save("quotes", &quotes_batch(&newer)).await.is_err());
    let after = quotes_from(&dal.latest("quotes", Load::all()).await.unwrap());
    assert!(after.iter().all(|q| q.ts == 1_000), "no series moved on");
}
