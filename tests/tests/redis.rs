//! The realtime suite and Redis-specific checks against the server in `QUANTDAL_TEST_REDIS_URL` (CI sets it
//! with `QUANTDAL_REQUIRE_SERVICES=1`). Every test keeps its keys under a prefix of its own, deleted when it
//! ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use quantdal::{Dal, ErrorKind, Load, OpenOptions, ProvisionStatus, Settings};
use quantdal_tests::realtime::{quote, quotes_batch, quotes_from, realtime_catalog};
use quantdal_tests::services::{
    redis_realtime_dal, redis_row_field, redis_test_prefix, service_url, CleanupGuard,
};

const REDIS: &str = "QUANTDAL_TEST_REDIS_URL";

async fn harness(dir: &Path) -> Option<Dal> {
    let url = service_url(REDIS)?;
    Some(redis_realtime_dal(&url, false, std::slice::from_ref(&url), dir).await)
}

quantdal_tests::realtime_tests!(harness);

fn conn(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn prefix_of(dal: &Dal) -> String {
    let spec = dal.spec("quotes").unwrap();
    spec.options
        .redis
        .as_ref()
        .unwrap()
        .key_prefix
        .clone()
        .unwrap()
}

/// A provisioned `Dal` on the realtime fixture, its key prefix, and a plain connection to look at the keys.
async fn provisioned(url: &str, dir: &Path) -> (Dal, String, redis::Connection) {
    let dal = redis_realtime_dal(url, false, &[url.to_string()], dir).await;
    dal.provision().await.unwrap();
    let prefix = prefix_of(&dal);
    (dal, prefix, conn(url))
}

/// The newest rows are one hash per class, `<prefix>:{<class>}:latest`, series → the row as a MessagePack map
/// any client can read (docs/redis.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_rows_are_packed_rows_any_client_can_read() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (dal, prefix, mut c) = provisioned(&url, dir.path()).await;
    dal.save(
        "quotes",
        &quotes_batch(&[quote("600000.SH", 1_704_159_000_123, 10.5)]),
    )
    .await
    .unwrap();
    let field = |name: &str| redis_row_field(&url, &prefix, "quotes", "600000.SH", name);
    assert_eq!(field("price").as_deref(), Some("10.5"));
    assert_eq!(field("ts").as_deref(), Some("1704159000123"));
    assert_eq!(field("symbol").as_deref(), Some("600000.SH"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:{{quotes}}:latest"))
        .query(&mut c)
        .unwrap();
    assert_eq!(
        ttl, -1,
        "series expire through the index, never the class's hash"
    );
    let schema: String = redis::cmd("GET")
        .arg(format!("{prefix}:{{quotes}}:schema"))
        .query(&mut c)
        .unwrap();
    assert!(schema.contains("\"precision\":\"ms\""), "{schema}");
}

/// Series written by the layout before rows were packed (a hash of one field per column, stream entries of
/// one field per column) are read as they are, and replaced by the first newer save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_of_the_earlier_layout_are_read_then_replaced() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (dal, prefix, mut c) = provisioned(&url, dir.path()).await;
    let key = format!("{prefix}:{{quotes}}:l:OLD");
    let history = format!("{prefix}:{{quotes}}:h:OLD");
    let q = quote("OLD", 5000, 7.25);
    let old_row: Vec<String> = [
        ("ts", q.ts.to_string()),
        ("symbol", q.symbol.clone()),
        ("price", q.price.to_string()),
        ("bid1", q.bid1.unwrap().to_string()),
        ("ask1", q.ask1.unwrap().to_string()),
        ("volume", q.volume.to_string()),
        ("status", q.status.clone().unwrap()),
    ]
    .into_iter()
    .flat_map(|(f, v)| [f.to_string(), v])
    .collect();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(&old_row)
        .query(&mut c)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&history)
        .arg("5000-0")
        .arg(&old_row)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(format!("{prefix}:{{quotes}}:series"))
        .arg(1)
        .arg("OLD")
        .query(&mut c)
        .unwrap();
    let held = quotes_from(&dal.latest("quotes", Load::all()).await.unwrap());
    assert_eq!(held, vec![quote("OLD", 5000, 7.25)]);

    // An older row leaves the held one; a newer one replaces the hash with a packed row.
    dal.save("quotes", &quotes_batch(&[quote("OLD", 4000, 1.0)]))
        .await
        .unwrap();
    assert_eq!(
        quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()),
        vec![quote("OLD", 5000, 7.25)]
    );
    dal.save("quotes", &quotes_batch(&[quote("OLD", 6000, 8.5)]))
        .await
        .unwrap();
    let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
    assert_eq!(kind, "none", "the earlier layout's hash was replaced");
    assert_eq!(
        redis_row_field(&url, &prefix, "quotes", "OLD", "price").as_deref(),
        Some("8.5")
    );
    let recent = quotes_from(
        &dal.load("quotes", Load::all().symbols(["OLD"]))
            .await
            .unwrap(),
    );
    assert_eq!(
        recent,
        vec![quote("OLD", 5000, 7.25), quote("OLD", 6000, 8.5)],
        "history entries of both layouts"
    );
}

/// A class TTL expires a series: reads skip it at once, and the next save deletes its row, history and
/// index entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expires_series() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = redis_test_prefix(std::slice::from_ref(&url));
    let yaml = quantdal_tests::realtime::REALTIME_FIXTURE
        .replace("@PREFIX@", &prefix)
        .replace("history: 50,", "history: 50, ttl_seconds: 1,");
    let catalog = quantdal::Catalog::from_yaml(&yaml, "ttl fixture").unwrap();
    let settings = Settings::from_yaml(
        &format!(
            "version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: redis\n    url: \"{url}\"\n"
        ),
        "ttl",
        dir.path(),
        &|_| None,
    )
    .unwrap();
    let dal = Dal::from_parts(settings, catalog, OpenOptions::default())
        .await
        .unwrap();
    dal.provision().await.unwrap();
    dal.save("quotes", &quotes_batch(&[quote("A", 1_000, 1.0)]))
        .await
        .unwrap();
    let mut c = conn(&url);
    assert_eq!(
        quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()).len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()).is_empty());
    assert!(
        quotes_from(
            &dal.latest("quotes", Load::all().symbols(["A"]))
                .await
                .unwrap()
        )
        .is_empty(),
        "a named series past its TTL is gone too"
    );
    assert_eq!(dal.count("quotes").await.unwrap(), 0);
    dal.save("quotes", &quotes_batch(&[quote("B", 2_000, 2.0)]))
        .await
        .unwrap();
    let held: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{prefix}:{{quotes}}:latest"))
        .query(&mut c)
        .unwrap();
    assert_eq!(held, ["B"], "the save deleted the expired series' row");
    let history: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}:{{quotes}}:h:A"))
        .query(&mut c)
        .unwrap();
    assert_eq!(history, 0, "and its history");
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}:{{quotes}}:series"))
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(members, ["B"], "the expired series left the index");
}

/// A key of another type in the way fails the whole save before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_key_fails_the_save_atomically() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (dal, prefix, mut c) = provisioned(&url, dir.path()).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:{{quotes}}:l:B"))
        .arg("not a hash")
        .query(&mut c)
        .unwrap();
    let err = dal
        .save(
            "quotes",
            &quotes_batch(&[quote("A", 1, 1.0), quote("B", 1, 2.0)]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    assert!(
        quotes_from(
            &dal.latest("quotes", Load::all().symbols(["A"]))
                .await
                .unwrap()
        )
        .is_empty(),
        "series A was not written"
    );
}

/// `provision --check` reports a schema that changed under the rows held; `migrate` records an added
/// nullable column and refuses a type change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_schema_drift() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = redis_test_prefix(std::slice::from_ref(&url));
    let open = |yaml: String| {
        let url = url.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let settings = Settings::from_yaml(
                &format!("version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: redis\n    url: \"{url}\"\n"),
                "drift",
                &dir,
                &|_| None,
            )
            .unwrap();
            let catalog = quantdal::Catalog::from_yaml(&yaml, "drift fixture").unwrap();
            Dal::from_parts(settings, catalog, OpenOptions::default())
                .await
                .unwrap()
        }
    };
    let base = quantdal_tests::realtime::REALTIME_FIXTURE.replace("@PREFIX@", &prefix);
    open(base.clone()).await.provision().await.unwrap();
    let added = base.replace(
        "      - { name: status, type: VARCHAR(8), nullable: true }",
        "      - { name: status, type: VARCHAR(8), nullable: true }\n      - { name: venue, type: VARCHAR(8), nullable: true }",
    );
    let dal = open(added).await;
    let check = dal.check().await.unwrap();
    let quotes = check.iter().find(|e| e.class == "quotes").unwrap();
    assert_eq!(
        quotes.status,
        ProvisionStatus::Drift(vec!["column venue is not in the schema Redis holds".into()])
    );
    let migrated = dal.migrate().await.unwrap();
    assert_eq!(
        migrated
            .iter()
            .find(|e| e.class == "quotes")
            .unwrap()
            .migration
            .applied
            .len(),
        1
    );
    assert_eq!(
        dal.check()
            .await
            .unwrap()
            .iter()
            .find(|e| e.class == "quotes")
            .unwrap()
            .status,
        ProvisionStatus::AlreadyPresent
    );
    let retyped = base.replace("name: volume, type: BIGINT", "name: volume, type: DOUBLE");
    let dal = open(retyped).await;
    let refused = dal.migrate().await.unwrap();
    let q = refused.iter().find(|e| e.class == "quotes").unwrap();
    assert!(q.migration.applied.is_empty());
    assert!(
        q.migration.refused[0].contains("column volume is BIGINT in Redis, DOUBLE in the spec"),
        "{:?}",
        q.migration.refused
    );
}

/// URLs: malformed is Config; unreachable is Unavailable and temporary; a wrong ACL password is
/// Unavailable, not temporary, and never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_typed_and_secret_free() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let open = |store_url: String| {
        let dir = dir.path().to_path_buf();
        async move {
            let settings = Settings::from_yaml(
                &format!("version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: redis\n    url: \"{store_url}\"\n    connect_timeout_ms: 500\n"),
                "conn",
                &dir,
                &|_| None,
            )
            .unwrap();
            Dal::from_parts(settings, realtime_catalog("qdconn"), OpenOptions::default()).await
        }
    };
    let err = open("http://nope".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let err = open("redis://:hunter2@[::1".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let dal = open("redis://127.0.0.1:1/0".into()).await.unwrap();
    let err = dal
        .latest("quotes", Load::all().symbols(["A"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");

    // An ACL user on the live server, then a wrong password for it.
    let user = format!("qdtest{}", std::process::id());
    let mut c = conn(&url);
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">right-pass")
        .arg("~*")
        .arg("+@all")
        .query(&mut c)
        .unwrap();
    let base = url.trim_start_matches("redis://");
    let host = base.split('/').next().unwrap();
    let dal = open(format!("redis://{user}:wrong-pass-s3cr3t@{host}/0"))
        .await
        .unwrap();
    let err = dal
        .latest("quotes", Load::all().symbols(["A"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert!(!err.to_string().contains("wrong-pass-s3cr3t"), "{err}");
    let dal = open(format!("redis://{user}:right-pass@{host}/0"))
        .await
        .unwrap();
    assert!(dal
        .latest("quotes", Load::all().symbols(["A"]))
        .await
        .is_ok());
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query(&mut c)
        .unwrap();
}

/// `rediss://` against a server whose certificate a CA of the test's own signed: verified with
/// `tls_ca_file`, refused without it (the web PKI roots do not know that CA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_own_ca_verifies_the_server() {
    use quantdal_tests::services::{
        free_port, redis_binaries_present, services_required, RedisServer,
    };
    let openssl = std::process::Command::new("openssl")
        .arg("version")
        .output();
    if !redis_binaries_present() || !openssl.is_ok_and(|o| o.status.success()) {
        assert!(!services_required(), "redis-server and openssl are needed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=qd-ca 2>/dev/null");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null");
    sh("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > ext.cnf && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile ext.cnf 2>/dev/null");
    let port = free_port();
    let p = port.to_string();
    let _server = RedisServer::start_for(
        free_port(),
        &d.join("redis"),
        &[
            "--tls-port",
            &p,
            "--tls-cert-file",
            &d.join("server.crt").display().to_string(),
            "--tls-key-file",
            &d.join("server.key").display().to_string(),
            "--tls-ca-cert-file",
            &d.join("ca.crt").display().to_string(),
            "--tls-auth-clients",
            "no",
        ],
        120,
    );
    let open = |extra: &str| {
        let yaml = format!(
            "version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: redis\n    url: \"rediss://localhost:{port}/0\"\n    connect_timeout_ms: 1000\n{extra}"
        );
        let settings = Settings::from_yaml(&yaml, "tls", d, &|_| None).unwrap();
        Dal::from_parts(settings, realtime_catalog("qdtls"), OpenOptions::default())
    };
    let dal = open("    tls_ca_file: ca.crt\n").await.unwrap();
    dal.provision().await.unwrap();
    dal.save("quotes", &quotes_batch(&[quote("A", 1, 1.0)]))
        .await
        .unwrap();
    assert_eq!(
        quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()).len(),
        1
    );
    let untrusting = open("").await.unwrap();
    let err = untrusting.latest("quotes", Load::all()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}
