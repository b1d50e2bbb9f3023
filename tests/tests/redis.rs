//! The realtime suite and Redis-specific checks against the server in `QUANTDAL_TEST_REDIS_URL` (CI sets it
//! with `QUANTDAL_REQUIRE_SERVICES=1`). Every test keeps its keys under a prefix of its own, deleted when it
//! ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use quantdal::{Dal, ErrorKind, Load, OpenOptions, ProvisionStatus, Settings};
use quantdal_tests::realtime::{quote, quotes_batch, quotes_from, realtime_catalog};
use quantdal_tests::services::{redis_realtime_dal, redis_test_prefix, service_url, CleanupGuard};

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

/// Keys are `<prefix>:{<class>}:l:<series>`: readable hashes any client can use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_readable_hashes_with_ttl() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(REDIS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dal = redis_realtime_dal(&url, false, std::slice::from_ref(&url), dir.path()).await;
    dal.provision().await.unwrap();
    dal.save(
        "quotes",
        &quotes_batch(&[quote("600000.SH", 1_704_159_000_123, 10.5)]),
    )
    .await
    .unwrap();
    let prefix = prefix_of(&dal);
    let mut c = conn(&url);
    let key = format!("{prefix}:{{quotes}}:l:600000.SH");
    let fields: std::collections::BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(&key).query(&mut c).unwrap();
    assert_eq!(fields["price"], "10.5");
    assert_eq!(fields["ts"], "1704159000123");
    assert_eq!(fields["symbol"], "600000.SH");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert_eq!(ttl, -1, "the fixture's quotes have no TTL");
    let schema: String = redis::cmd("GET")
        .arg(format!("{prefix}:{{quotes}}:schema"))
        .query(&mut c)
        .unwrap();
    assert!(schema.contains("\"precision\":\"ms\""), "{schema}");
}

/// A class TTL expires a series' keys, and the next save trims the index.
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
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:{{quotes}}:l:A"))
        .query(&mut c)
        .unwrap();
    assert!((1..=1000).contains(&ttl), "PTTL {ttl}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(quotes_from(&dal.latest("quotes", Load::all()).await.unwrap()).is_empty());
    dal.save("quotes", &quotes_batch(&[quote("B", 2_000, 2.0)]))
        .await
        .unwrap();
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
    let dal = redis_realtime_dal(&url, false, std::slice::from_ref(&url), dir.path()).await;
    dal.provision().await.unwrap();
    let prefix = prefix_of(&dal);
    let mut c = conn(&url);
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
