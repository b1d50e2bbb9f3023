//! Server stores in tests: their URLs come from the environment; a test without its server skips, unless
//! `QUANTDAL_REQUIRE_SERVICES=1` (CI), where it fails. Each test gets its own PostgreSQL schema, dropped when
//! the test ends, pass or fail.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use quantdal::{Catalog, Dal, OpenOptions, Settings};

use crate::fixtures::FIXTURE;

pub fn services_required() -> bool {
    std::env::var("QUANTDAL_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The server URL in `var`, or `None` (printing why) when unset; panics when services are required.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !services_required(),
                "{var} is not set but QUANTDAL_REQUIRE_SERVICES=1"
            );
            eprintln!("{var} is not set: skipping");
            None
        }
    }
}

thread_local! {
    static CLEANUPS: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` when the current test ends (each test runs on its own thread; the conformance macro holds the
/// guard that drains these).
pub fn after_test(f: impl FnOnce() + 'static) {
    CLEANUPS.with(|c| c.borrow_mut().push(Box::new(f)));
}

pub struct CleanupGuard;

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        let pending = CLEANUPS.with(|c| std::mem::take(&mut *c.borrow_mut()));
        for f in pending.into_iter().rev() {
            f();
        }
    }
}

static SCHEMA_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A schema name unique to this process and call.
pub fn unique_schema(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        SCHEMA_SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Drops `schema` on its own thread and runtime: usable from `Drop`, even while a test unwinds.
pub fn drop_schema_now(url: &str, schema: &str) {
    let url = url.to_string();
    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cleanup runtime");
        rt.block_on(async {
            match quantdal_postgres::connect_client(&url, "quantdal-tests-cleanup").await {
                Ok(client) => {
                    if let Err(e) = client.batch_execute(&sql).await {
                        eprintln!("cleanup `{sql}`: {e}");
                    }
                }
                Err(e) => eprintln!("cleanup `{sql}`: {e}"),
            }
        });
    })
    .join();
    if joined.is_err() {
        eprintln!("cleanup `DROP SCHEMA {schema}` panicked");
    }
}

/// A fresh schema on the test server, dropped when the test ends.
pub fn test_schema(url: &str) -> String {
    let schema = unique_schema("qd_test");
    let (u, s) = (url.to_string(), schema.clone());
    after_test(move || drop_schema_now(&u, &s));
    schema
}

/// The fixture catalog with `ns_ticks` routed to store `nanos`: PostgreSQL keeps microseconds, so the
/// nanosecond class lives on an embedded file beside it (an explicit route, as a user would write it).
pub fn fixture_catalog_with_nanos_elsewhere() -> Catalog {
    let start = FIXTURE
        .find("- name: ns_ticks")
        .expect("ns_ticks in the fixture");
    let (head, tail) = FIXTURE.split_at(start);
    let tail = tail.replacen("store: main", "store: nanos", 1);
    Catalog::from_yaml(&format!("{head}{tail}"), "fixture").expect("fixture catalog")
}

/// A `Dal` over the fixture catalog on PostgreSQL at `url` in a fresh schema (dropped after the test), the
/// nanosecond class on DuckDB in `dir`. `extra` is more YAML for the postgres store (e.g. `timescale: off`).
pub async fn postgres_dal(url: &str, dir: &Path, extra: &str) -> Dal {
    let schema = test_schema(url);
    postgres_dal_in(url, &schema, dir, extra, "max_attempts: 3").await
}

/// As [`postgres_dal`] in a given schema, with the `retry:` body given.
pub async fn postgres_dal_in(url: &str, schema: &str, dir: &Path, extra: &str, retry: &str) -> Dal {
    postgres_dal_over(
        url,
        schema,
        dir,
        extra,
        retry,
        fixture_catalog_with_nanos_elsewhere(),
    )
    .await
}

/// As [`postgres_dal_in`] over a given catalog (its `main` classes on PostgreSQL, `nanos` on DuckDB).
pub async fn postgres_dal_over(
    url: &str,
    schema: &str,
    dir: &Path,
    extra: &str,
    retry: &str,
    catalog: Catalog,
) -> Dal {
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\napplication: quantdal-tests\nstores:\n  main:\n    kind: postgres\n    url: \"{url}\"\n    schema: {schema}\n{extra}  nanos:\n    kind: duckdb\n    path: nanos.duckdb\nretry:\n  {retry}\n"
    );
    let settings = Settings::from_yaml(&yaml, "<postgres test settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("postgres test settings: {e}\n{yaml}"));
    Dal::from_parts(settings, catalog, OpenOptions::default())
        .await
        .unwrap_or_else(|e| panic!("opening PostgreSQL: {e}"))
}

/// A server store that does not run on these machines (TDengine): its tests skip when the variable is unset,
/// even under `QUANTDAL_REQUIRE_SERVICES=1`, and say so.
pub fn optional_service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("{var} is not set (no such server here): skipping");
            None
        }
    }
}

/// The fixture catalog for TDengine: the series classes go to `main` in a database of their own (`ns_ticks` in
/// a second one, since a TDengine database has one precision); `instruments` (no time column, which TDengine
/// cannot hold) goes to `side`.
pub fn fixture_catalog_for_tdengine(database: &str) -> Catalog {
    let mut yaml = String::new();
    let mut class = String::new();
    for line in FIXTURE.lines() {
        if let Some(name) = line.trim().strip_prefix("- name: ") {
            class = name.to_string();
        }
        if line.trim() == "store: main" && class == "instruments" {
            yaml.push_str(&line.replace("store: main", "store: side"));
        } else {
            yaml.push_str(line);
        }
        yaml.push('\n');
        if line.trim().starts_with("time: {") {
            let db = if class == "ns_ticks" {
                format!("{database}_ns")
            } else {
                database.to_string()
            };
            // One vgroup per database: each test creates two databases, and a small server (2 cores:
            // `supportVnodes` 9) runs out of vnodes when parallel tests take the default two each.
            yaml.push_str(&format!(
                "    options: {{ tdengine: {{ database: {db}, vgroups: 1 }} }}\n"
            ));
        }
    }
    Catalog::from_yaml(&yaml, "fixture").expect("fixture catalog for TDengine")
}

static PREFIX_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A Redis key prefix unique to this process and call; its keys are deleted when the test ends.
pub fn redis_test_prefix(nodes: &[String]) -> String {
    let prefix = format!(
        "qdt{}x{}",
        std::process::id(),
        PREFIX_SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let (n, p) = (nodes.to_vec(), prefix.clone());
    after_test(move || delete_redis_keys(&n, &p));
    prefix
}

/// Deletes every key under `prefix` on each node (a cluster is scanned node by node).
pub fn delete_redis_keys(nodes: &[String], prefix: &str) {
    for node in nodes {
        let pattern = format!("{prefix}:*");
        let result = redis::Client::open(node.as_str()).and_then(|c| {
            let mut conn = c.get_connection()?;
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn)?;
            for k in keys {
                let _: i64 = redis::cmd("DEL").arg(&k).query(&mut conn)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            eprintln!("cleanup of {pattern} on {node}: {e}");
        }
    }
}

/// The text of `field` in the packed row (a MessagePack map, docs/redis.md) of `series` in the newest-rows hash
/// `<prefix>:{<class>}:latest`; `None` when the series holds no row or the row has no such field (a null).
pub fn redis_row_field(
    url: &str,
    prefix: &str,
    class: &str,
    series: &str,
    field: &str,
) -> Option<String> {
    use quantdal_redis::rowpack::{Packed, Reader};
    let mut c = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("a Redis connection");
    let bytes: Option<Vec<u8>> = redis::cmd("HGET")
        .arg(format!("{prefix}:{{{class}}}:latest"))
        .arg(series)
        .query(&mut c)
        .expect("HGET");
    let bytes = bytes?;
    let mut r = Reader::new(&bytes);
    for _ in 0..r.map_len().expect("a packed row") {
        let (name, value) = (r.key().expect("a key"), r.value().expect("a value"));
        if name == field {
            return match value {
                Packed::Nil => None,
                Packed::Bool(b) => Some(b.to_string()),
                Packed::Int(i) => Some(i.to_string()),
                Packed::BigUInt(u) => Some(u.to_string()),
                Packed::F32(f) => Some(f.to_string()),
                Packed::F64(f) => Some(f.to_string()),
                Packed::Str(s) => Some(s.to_string()),
            };
        }
    }
    None
}

/// Writes the first row of `batch` as the newest row of `series` (`<prefix>:{<class>}:latest`), packed as
/// quantdal packs it (`time`: the time column), as another writer of the class would.
pub fn redis_plant_row(
    url: &str,
    (prefix, class, series): (&str, &str, &str),
    batch: &arrow::array::RecordBatch,
    time: &str,
) {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let time = schema.index_of(time).expect("the time column");
    let packer = quantdal_redis::rowpack::RowPacker::new(&names, batch, time).expect("a packer");
    let mut row = Vec::new();
    packer.pack(0, &mut row);
    let mut c = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("a Redis connection");
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}:{{{class}}}:latest"))
        .arg(series)
        .arg(row)
        .query(&mut c)
        .expect("HSET");
}

/// A `Dal` over the realtime fixture on the Redis store at `url` (`cluster`: seed URLs, comma-separated;
/// `nodes`: every master, for cleanup), keys under a prefix of the test's own.
pub async fn redis_realtime_dal(url: &str, cluster: bool, nodes: &[String], dir: &Path) -> Dal {
    let prefix = redis_test_prefix(nodes);
    let yaml = format!(
        "version: 1\ntables: realtime.yaml\napplication: quantdal-tests\nstores:\n  main:\n    kind: redis\n    url: \"{url}\"\n    cluster: {cluster}\n"
    );
    let settings = Settings::from_yaml(&yaml, "<redis test settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("redis test settings: {e}\n{yaml}"));
    Dal::from_parts(
        settings,
        crate::realtime::realtime_catalog(&prefix),
        OpenOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("opening Redis: {e}"))
}

/// A `Dal` over the realtime fixture on a store described by `store_yaml` (relational stores).
pub async fn realtime_dal(store_yaml: &str, dir: &Path) -> Dal {
    let indented: String = store_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!("version: 1\ntables: realtime.yaml\nstores:\n  main:\n{indented}");
    let settings = Settings::from_yaml(&yaml, "<realtime settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("realtime settings: {e}\n{yaml}"));
    Dal::from_parts(
        settings,
        crate::realtime::realtime_catalog("qd"),
        OpenOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("opening the store under test: {e}"))
}

/// A redis-server of the test's own on a free loopback port, stopped when dropped; it also stops by itself
/// after its lifetime (it runs under `timeout`), so a test binary that dies, or a static server that is
/// never dropped, leaves nothing running for long.
pub struct RedisServer {
    pub port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
    lifetime_s: u32,
    child: Option<std::process::Child>,
}

/// A loopback port that is free now (and whose cluster bus port, +10000, is too).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = l.local_addr().expect("local address").port();
        drop(l);
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Whether `redis-server` and `redis-cli` are on this machine.
pub fn redis_binaries_present() -> bool {
    ["redis-server", "redis-cli"].iter().all(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

impl RedisServer {
    /// Starts a server on `port` in `dir` with `args` (e.g. `--cluster-enabled yes`), waiting until it
    /// answers PING.
    pub fn start(port: u16, dir: &Path, args: &[&str]) -> RedisServer {
        RedisServer::start_for(port, dir, args, 600)
    }

    /// As [`RedisServer::start`], stopping by itself after `lifetime_s` seconds at the latest.
    pub fn start_for(port: u16, dir: &Path, args: &[&str], lifetime_s: u32) -> RedisServer {
        let mut server = RedisServer {
            port,
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            lifetime_s,
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server: SIGTERM to `timeout`, which passes it on to redis-server (a SIGKILL would orphan it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            for _ in 0..100 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        std::fs::create_dir_all(&self.dir).expect("server folder");
        let port = self.port.to_string();
        let mut cmd = std::process::Command::new("timeout");
        cmd.arg(self.lifetime_s.to_string())
            .arg("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &self.dir.display().to_string()])
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.child = Some(cmd.spawn().expect("start redis-server"));
        for _ in 0..100 {
            let up = redis::Client::open(self.url().as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if up.is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server on port {port} did not answer");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A three-master Redis Cluster on loopback ports, made with `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("cluster folder");
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        for p in &ports {
            // Kept in a static by the tests, so never dropped: it stops by itself after 5 minutes.
            nodes.push(RedisServer::start_for(
                *p,
                &dir.path().join(p.to_string()),
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
                300,
            ));
        }
        let mut create = std::process::Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for p in &ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for _ in 0..200 {
            let ok = nodes.iter().all(|n| {
                redis::Client::open(n.url().as_str())
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if ok {
                return RedisCluster { nodes, _dir: dir };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the Redis Cluster did not reach cluster_state:ok");
    }

    /// Seed URLs, comma-separated (the `url` of a `cluster: true` store).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }
}
