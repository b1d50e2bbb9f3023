//! The conformance suite against the TDengine in `QUANTDAL_TEST_TDENGINE_DSN` (e.g.
//! `taos+ws://root:taosdata@host:6041`). No TDengine runs on the project's machines, so without the variable
//! every test skips, also in CI; docs/tdengine.md says how to run it against the official container. Each test
//! gets databases of its own, dropped when it ends; the classes TDengine cannot hold run on DuckDB beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use quantdal::{Dal, OpenOptions, Settings};
use quantdal_tests::services::{
    after_test, fixture_catalog_for_tdengine, optional_service_url, unique_schema,
};

const DSN: &str = "QUANTDAL_TEST_TDENGINE_DSN";

async fn harness(dir: &Path) -> Option<Dal> {
    let dsn = optional_service_url(DSN)?;
    let database = unique_schema("qd_test");
    let yaml = format!(
        "version: 1\ntables: fixture.yaml\nstores:\n  main:\n    kind: tdengine\n    dsn: \"{dsn}\"\n  side:\n    kind: duckdb\n    path: side.duckdb\n"
    );
    let settings = Settings::from_yaml(&yaml, "<tdengine test settings>", dir, &|_| None)
        .unwrap_or_else(|e| panic!("tdengine test settings: {e}"));
    let dal = Dal::from_parts(
        settings,
        fixture_catalog_for_tdengine(&database),
        OpenOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("opening TDengine: {e}"));
    after_test(move || drop_databases(&dsn, &database));
    Some(dal)
}

/// Drops the test's databases on a thread and runtime of its own (runs from `Drop`, also on failure).
fn drop_databases(dsn: &str, database: &str) {
    let dsn = dsn.to_string();
    let statements = [
        format!("DROP DATABASE IF EXISTS {database}"),
        format!("DROP DATABASE IF EXISTS {database}_ns"),
    ];
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let settings = quantdal_core::StoreSettings {
                name: "cleanup".into(),
                kind: quantdal_core::StoreKind::Tdengine,
                path: None,
                read_only: false,
                threads: None,
                memory_limit: None,
                pool_size: Some(1),
                url: Some(dsn),
                read_url: None,
                timescale: None,
                schema: None,
                connect_timeout_ms: None,
                statement_timeout_ms: None,
                idle_timeout_ms: None,
            };
            match quantdal_tdengine::TdengineStore::open(&settings).await {
                Ok(store) => {
                    for sql in statements {
                        if let Err(e) = store.execute(&sql).await {
                            eprintln!("cleanup `{sql}`: {e}");
                        }
                    }
                }
                Err(e) => eprintln!("cleanup: {e}"),
            }
        });
    })
    .join();
}

quantdal_tests::conformance_tests!(harness);
