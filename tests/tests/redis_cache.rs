//! The latest-row cache: classes held by DuckDB (and PostgreSQL) with Redis in front for `latest`. Writes go
//! through after the primary store commits; `latest` by symbols reads Redis first and the store for what it
//! lacks; deletes invalidate; with Redis away or slow, the data path goes on and the monitoring DB says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use quantdal::{Dal, Load, OpenOptions, Settings};
use quantdal_tests::fixtures::{ticks_batch, ticks_from, Tick, T0};
use quantdal_tests::services::{
    delete_redis_keys, free_port, redis_binaries_present, redis_plant_row, redis_row_field,
    service_url, services_required, test_schema, CleanupGuard, RedisServer,
};
use quantdal_tests::{fixture_catalog, tempfile};

const REDIS: &str = "QUANTDAL_TEST_REDIS_URL";

fn tick(symbol: &str, ts: i64, price: f64) -> Tick {
    Tick {
        symbol: symbol.into(),
        ts,
        price,
        volume: 100,
        amount: price * 100.0,
        side: Some("B".into()),
    }
}

/// A `Dal` over the fixture catalog on `primary_yaml`, with `ticks` cached in the Redis at `redis_url`
/// under `prefix`.
async fn cached_dal(primary_yaml: &str, redis_url: &str, prefix: &str, dir: &Path) -> Dal {
    let primary: String = primary_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\nstores:\n  main:\n{primary}  cache:\n    kind: redis\n    url: \"{redis_url}\"\n    connect_timeout_ms: 200\ncache:\n  store: cache\n  classes: [ticks]\n  key_prefix: {prefix}\n  timeout_ms: 300\n"
    );
    let settings = Settings::from_yaml(&yaml, "<cache settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    Dal::from_parts(settings, fixture_catalog(), OpenOptions::default())
        .await
        .unwrap()
}

fn prefix(url: &str) -> String {
    quantdal_tests::services::redis_test_prefix(&[url.to_string()])
}

fn redis_cmd(url: &str, args: &[&str]) {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let _: redis::Value = cmd.query(&mut c).unwrap();
}

async fn latest_ticks(dal: &Dal, symbols: &[&str]) -> Vec<Tick> {
    ticks_from(
        &dal.latest("ticks", Load::all().symbols(symbols.to_vec()))
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_reads_first_fills_and_invalidates() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = prefix(&url);
    let dal = cached_dal("kind: duckdb\npath: main.duckdb", &url, &p, dir.path()).await;
    dal.provision().await.unwrap();
    let rows = vec![
        tick("A", T0, 1.0),
        tick("A", T0 + 1, 1.1),
        tick("B", T0, 2.0),
    ];
    dal.save("ticks", &ticks_batch(&rows)).await.unwrap();

    assert_eq!(
        redis_row_field(&url, &p, "ticks", "A", "price").as_deref(),
        Some("1.1"),
        "written through"
    );
    assert_eq!(
        latest_ticks(&dal, &["A", "B"]).await,
        vec![rows[1].clone(), rows[2].clone()]
    );

    // Read first: a value only the cache holds comes back.
    redis_plant_row(
        &url,
        (&p, "ticks", "A"),
        &ticks_batch(&[tick("A", T0 + 1, 99.0)]),
        "ts",
    );
    assert_eq!(
        latest_ticks(&dal, &["A"]).await[0].price,
        99.0,
        "latest came from the cache"
    );

    // A series the cache lacks comes from the store, and is filled in.
    redis_cmd(&url, &["HDEL", &format!("{p}:{{ticks}}:latest"), "B"]);
    assert_eq!(latest_ticks(&dal, &["B"]).await, vec![rows[2].clone()]);
    assert_eq!(
        redis_row_field(&url, &p, "ticks", "B", "price").as_deref(),
        Some("2"),
        "filled"
    );

    // An older row saved later does not replace the cached newer one; a newer one does.
    dal.save("ticks", &ticks_batch(&[tick("B", T0 - 5, 7.0)]))
        .await
        .unwrap();
    assert_eq!(latest_ticks(&dal, &["B"]).await, vec![rows[2].clone()]);

    // Deletes invalidate: the store's newest row shows again.
    dal.delete("ticks", Load::all().symbols(["A"]))
        .await
        .unwrap();
    assert_eq!(
        redis_row_field(&url, &p, "ticks", "A", "price"),
        None,
        "invalidated"
    );
    assert!(latest_ticks(&dal, &["A"]).await.is_empty());
    dal.delete(
        "ticks",
        Load::range(quantdal_tests::fixtures::at(T0)..quantdal_tests::fixtures::at(T0 + 1)),
    )
    .await
    .unwrap();
    assert_eq!(
        latest_ticks(&dal, &["B"]).await,
        vec![tick("B", T0 - 5, 7.0)],
        "a range delete invalidates the class"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_primary_with_redis_cache() {
    let _cleanup = CleanupGuard;
    let (Some(url), Some(pg)) = (service_url(REDIS), service_url("QUANTDAL_TEST_PG_URL")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = test_schema(&pg);
    let p = prefix(&url);
    let catalog_yaml = format!("kind: postgres\nurl: \"{pg}\"\nschema: {schema}");
    // ns_ticks cannot live on PostgreSQL: route it to the cache's sibling embedded file instead.
    let primary: String = catalog_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\nstores:\n  main:\n{primary}  nanos:\n    kind: duckdb\n    path: n.duckdb\n  cache:\n    kind: redis\n    url: \"{url}\"\ncache:\n  store: cache\n  classes: [ticks]\n  key_prefix: {p}\n"
    );
    let settings = Settings::from_yaml(&yaml, "<pg cache>", dir.path(), &|_| None).unwrap();
    let dal = Dal::from_parts(
        settings,
        quantdal_tests::services::fixture_catalog_with_nanos_elsewhere(),
        OpenOptions::default(),
    )
    .await
    .unwrap();
    dal.provision().await.unwrap();
    let rows: Vec<Tick> = (0..50)
        .map(|i| tick(&format!("S{}", i % 5), T0 + i, i as f64))
        .collect();
    dal.save("ticks", &ticks_batch(&rows)).await.unwrap();
    let want: Vec<Tick> = (45..50)
        .map(|i| tick(&format!("S{}", i % 5), T0 + i, i as f64))
        .collect();
    assert_eq!(
        latest_ticks(&dal, &["S0", "S1", "S2", "S3", "S4"]).await,
        want
    );
    assert_eq!(
        redis_row_field(&url, &p, "ticks", "S4", "price").as_deref(),
        Some("49")
    );
}

/// Redis stopped, then slow (paused): saves succeed, `latest` answers from the store, failures are in the
/// monitoring DB, and a cache that missed writes is never trusted until it was cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_down_or_slow_never_fails_the_data_path() {
    if !redis_binaries_present() {
        assert!(!services_required(), "redis-server is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start(free_port(), &dir.path().join("redis"), &[]);
    let url = server.url();
    let dal = cached_dal("kind: duckdb\npath: main.duckdb", &url, "qdcd", dir.path()).await;
    dal.provision().await.unwrap();
    dal.save("ticks", &ticks_batch(&[tick("A", T0, 1.0)]))
        .await
        .unwrap();
    assert_eq!(
        redis_row_field(&url, "qdcd", "ticks", "A", "price").as_deref(),
        Some("1")
    );

    // Slow: the write-through times out (Redis may apply it later), so the cache is not trusted until cleared.
    redis_cmd(&url, &["CLIENT", "PAUSE", "1500", "ALL"]);
    dal.save("ticks", &ticks_batch(&[tick("A", T0 + 1, 2.0)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        latest_ticks(&dal, &["A"]).await,
        vec![tick("A", T0 + 1, 2.0)],
        "never the stale row"
    );

    // Down: saves and latest go on without it.
    server.stop();
    dal.save("ticks", &ticks_batch(&[tick("A", T0 + 2, 3.0)]))
        .await
        .unwrap();
    assert_eq!(
        latest_ticks(&dal, &["A"]).await,
        vec![tick("A", T0 + 2, 3.0)]
    );
    server.restart();
    assert_eq!(
        latest_ticks(&dal, &["A"]).await,
        vec![tick("A", T0 + 2, 3.0)]
    );
    // The cache client reconnects on its own backoff, which a loaded machine (the whole suite in parallel)
    // can stretch past any fixed sleep; the save is idempotent, so it is repeated until it writes through.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        dal.save("ticks", &ticks_batch(&[tick("A", T0 + 3, 4.0)]))
            .await
            .unwrap();
        if redis_row_field(&url, "qdcd", "ticks", "A", "price").as_deref() == Some("4") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes through again within 15 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    dal.flush().await.unwrap();
    let db = quantdal::monitor::MonitorDb::open_sqlite(
        dir.path().join("quantdal-monitor.db"),
        Duration::from_secs(2),
    )
    .unwrap();
    let ops = db.ops(&quantdal::monitor::Filter::default()).await.unwrap();
    let failed: Vec<_> = ops
        .iter()
        .filter(|o| o.operation.starts_with("cache_") && o.status.as_str() == "failed")
        .collect();
    assert!(
        !failed.is_empty(),
        "cache failures are recorded: {:?}",
        ops.iter()
            .map(|o| (&o.operation, o.status.as_str()))
            .collect::<Vec<_>>()
    );
    assert!(failed
        .iter()
        .all(|o| o.store == "cache" && o.kind == "redis"));
    delete_redis_keys(&[url], "qdcd");
}

/// Two `Dal`s (as two processes would be) on one Redis: one subscribes, the other saves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_saves_from_another_dal() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = prefix(&url);
    let reader = cached_dal("kind: duckdb\npath: r.duckdb", &url, &p, dir.path()).await;
    let writer_dir = tempfile::tempdir().unwrap();
    let writer = cached_dal("kind: duckdb\npath: w.duckdb", &url, &p, writer_dir.path()).await;
    writer.provision().await.unwrap();
    let mut sub = reader
        .subscribe("ticks", Load::all().symbols(["A"]).columns(["ts", "price"]))
        .await
        .unwrap();
    writer
        .save(
            "ticks",
            &ticks_batch(&[
                tick("A", T0, 1.0),
                tick("B", T0, 2.0),
                tick("A", T0 + 1, 3.0),
            ]),
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.num_rows(), 2);
    assert_eq!(got.num_columns(), 2);
    assert_eq!(
        quantdal_tests::fixtures::read_f64(&got, "price", 1),
        Some(3.0)
    );
}
