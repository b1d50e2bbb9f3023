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
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\napplication: quantdal-tests\nstores:\n  main:\n    kind: postgres\n    url: \"{url}\"\n    schema: {schema}\n{extra}  nanos:\n    kind: duckdb\n    path: nanos.duckdb\nretry:\n  {retry}\n"
    );
    let settings = Settings::from_yaml(&yaml, "<postgres test settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("postgres test settings: {e}\n{yaml}"));
    Dal::from_parts(
        settings,
        fixture_catalog_with_nanos_elsewhere(),
        OpenOptions::default(),
    )
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
            yaml.push_str(&format!(
                "    options: {{ tdengine: {{ database: {db} }} }}\n"
            ));
        }
    }
    Catalog::from_yaml(&yaml, "fixture").expect("fixture catalog for TDengine")
}
