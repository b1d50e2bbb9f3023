//! The conformance suite against the embedded DuckDB store: one fresh database file per test, in its own
//! temporary folder. Each check is its own `#[tokio::test]` (expanded by `conformance_tests!`), so a failure
//! names the check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use quantdal::Dal;
use quantdal_tests::{conformance, embedded_dal, STORE};

async fn harness(dir: &Path) -> Option<Dal> {
    Some(embedded_dal(dir).await)
}

quantdal_tests::conformance_tests!(harness);

/// `run_all` drives every check itself, each on a fresh `Dal` (what a store without per-test isolation uses).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_fresh_files() {
    let root = tempfile::tempdir().expect("temporary folder");
    let next = AtomicUsize::new(0);
    conformance::run_all(|| {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::SeqCst).to_string());
        async move { embedded_dal(&dir).await }
    })
    .await;
    assert_eq!(next.load(Ordering::SeqCst), 28, "one fresh Dal per check");
}

/// DuckDB-specific: the DDL uses the exact-precision timestamp types; classes whose key holds the time column
/// get no index (the series layout: the save path keeps the key unique), the others a PRIMARY KEY.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duckdb_ddl_keeps_precision_and_keys() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = embedded_dal(dir.path()).await;
    let plan = dal.provision_plan().expect("provision_plan");
    let ddl = |class: &str| -> String {
        plan[STORE]
            .iter()
            .find(|(c, _)| c == class)
            .map(|(_, d)| d.join(";\n"))
            .unwrap_or_else(|| panic!("no DDL for {class}"))
    };
    assert!(
        ddl("ticks").contains("\"ts\" TIMESTAMP_MS NOT NULL"),
        "{}",
        ddl("ticks")
    );
    assert!(!ddl("ticks").contains("PRIMARY KEY"), "{}", ddl("ticks"));
    assert!(
        ddl("ns_ticks").contains("\"ts\" TIMESTAMP_NS NOT NULL"),
        "{}",
        ddl("ns_ticks")
    );
    assert!(
        ddl("daily").contains("\"turnover\" DECIMAL(18,4) NOT NULL"),
        "{}",
        ddl("daily")
    );
    assert!(
        ddl("daily").contains("\"trade_date\" DATE NOT NULL"),
        "{}",
        ddl("daily")
    );
    assert!(!ddl("bars").contains("PRIMARY KEY"), "{}", ddl("bars"));
    assert!(
        ddl("instruments").contains("PRIMARY KEY (\"code\")"),
        "{}",
        ddl("instruments")
    );
    assert_eq!(
        dal.stores()
            .map(|s| (s.name.clone(), s.kind))
            .collect::<Vec<_>>(),
        vec![(STORE.to_string(), quantdal::StoreKind::Duckdb)]
    );
}

/// DuckDB-specific: the data outlives the `Dal`, and provisioning an existing file reports every table present.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duckdb_file_persists_across_opens() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let rows = quantdal_tests::fixtures::tick_grid();
    {
        let dal = embedded_dal(dir.path()).await;
        conformance::prepare(&dal).await;
        dal.save("ticks", &quantdal_tests::fixtures::ticks_batch(&rows))
            .await
            .expect("save");
    }
    let dal = embedded_dal(dir.path()).await;
    let entries = dal.provision().await.expect("provision");
    assert!(
        entries
            .iter()
            .all(|e| e.status == quantdal::ProvisionStatus::AlreadyPresent),
        "{entries:?}"
    );
    assert_eq!(dal.count("ticks").await.expect("count"), 30);
    let loaded = dal
        .load("ticks", quantdal::Load::all())
        .await
        .expect("load");
    assert_eq!(
        quantdal_tests::fixtures::ticks_from(&loaded),
        quantdal_tests::fixtures::sorted_ticks(rows)
    );
}

/// The realtime suite on the embedded store: the semantics Redis must match.
mod realtime {
    use std::path::Path;

    use quantdal::Dal;

    async fn harness(dir: &Path) -> Option<Dal> {
        Some(quantdal_tests::services::realtime_dal("kind: duckdb\npath: rt.duckdb", dir).await)
    }

    quantdal_tests::realtime_tests!(harness);
}

/// A result of many DuckDB chunks keeps the class order (series, then time) in both directions: rows saved
/// interleaved across symbols, so the file's order is not the answer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_results_keep_their_order() {
    use quantdal::{Load, Order};
    use quantdal_tests::fixtures::{ticks_batch, ticks_from, Tick};
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = embedded_dal(dir.path()).await;
    let symbols: Vec<String> = (0..20).map(|s| format!("{:06}.SZ", 20 - s)).collect();
    let rows: Vec<Tick> = (0..200_000)
        .map(|i| {
            Tick::new(
                &symbols[i % 20],
                1_704_159_000_000 + (i / 20) as i64 * 1000,
                10.0,
                100,
            )
        })
        .collect();
    for chunk in rows.chunks(50_000) {
        dal.save("ticks", &ticks_batch(chunk)).await.expect("save");
    }
    let mut expected: Vec<(String, i64)> = rows.iter().map(|t| (t.symbol.clone(), t.ts)).collect();
    expected.sort();
    for order in [Order::Asc, Order::Desc] {
        let got: Vec<(String, i64)> = ticks_from(
            &dal.load("ticks", Load::all().order(order))
                .await
                .expect("load"),
        )
        .into_iter()
        .map(|t| (t.symbol, t.ts))
        .collect();
        let want: Vec<(String, i64)> = match order {
            Order::Desc => expected.iter().rev().cloned().collect(),
            _ => expected.clone(),
        };
        let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
        assert_eq!(got.len(), want.len(), "{order:?}: row count");
        if let Some(i) = first_wrong {
            let from = i.saturating_sub(2);
            panic!(
                "{order:?}: row {i} out of order; got {:?}, want {:?}",
                &got[from..(i + 3).min(got.len())],
                &want[from..(i + 3).min(want.len())]
            );
        }
    }
}

/// Point-in-time (versioned classes) and information-driven bars on the embedded store.
mod pit {
    use std::path::Path;

    use quantdal::Dal;

    async fn harness(dir: &Path) -> Option<Dal> {
        Some(
            quantdal_tests::catalog_dal(
                "kind: duckdb\npath: pit.duckdb",
                dir,
                quantdal_tests::pit::pit_catalog(),
            )
            .await,
        )
    }

    quantdal_tests::pit_tests!(harness);

    /// The versioned revisions survive closing and reopening the file (read-only included), and a save
    /// after reopening is newer than every revision before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn revisions_persist_across_opens() {
        use quantdal::Load;
        use quantdal_tests::fixtures::{tick_grid, ticks_batch};
        let dir = tempfile::tempdir().expect("temporary folder");
        {
            let dal = harness(dir.path()).await.expect("dal");
            quantdal_tests::pit::prepare(&dal).await;
            dal.save("vticks", &ticks_batch(&tick_grid()))
                .await
                .expect("save");
        }
        let dal = harness(dir.path()).await.expect("dal");
        let mut changed = tick_grid();
        changed.truncate(3);
        for t in &mut changed {
            t.price += 1.0;
        }
        dal.save("vticks", &ticks_batch(&changed))
            .await
            .expect("save after reopening");
        let history = dal.history("vticks", Load::all()).await.expect("history");
        let n: usize = history.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, 33, "30 first revisions + 3 changed");
        assert_eq!(dal.count("vticks").await.expect("count"), 30);
    }
}

/// A versioned class routed to a store that keeps no revisions (TDengine, Redis) is refused when the
/// configuration is checked, before anything connects, with a message naming the class and what to do.
#[test]
fn versioned_class_is_refused_on_tdengine_and_redis() {
    let catalog = quantdal::Catalog::from_yaml(
        r#"
version: 1
classes:
  - name: restated
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    versions: true
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: close, type: DOUBLE }
"#,
        "versioned",
    )
    .expect("catalog");
    let dir = tempfile::tempdir().expect("temporary folder");
    for store in [
        "kind: tdengine\n    dsn: \"taos://127.0.0.1:6030\"",
        "kind: redis\n    url: \"redis://127.0.0.1:6379/0\"",
        "kind: duckdb\n    path: ok.duckdb",
    ] {
        let yaml = format!("version: 1\ntables: t.yaml\nstores:\n  main:\n    {store}\n");
        let settings = quantdal::Settings::from_yaml(&yaml, "versions", dir.path(), &|_| None)
            .expect("settings");
        let checked = quantdal::Config::new(settings, catalog.clone());
        if store.contains("duckdb") {
            checked.expect("the embedded store keeps revisions");
            continue;
        }
        let e = checked.expect_err("a versioned class on a store without revisions");
        assert_eq!(
            (e.kind(), e.class()),
            (quantdal::ErrorKind::Config, Some("restated")),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("it is versioned")
                && text.contains("route the class to PostgreSQL or the embedded DuckDB"),
            "{text}"
        );
    }
}
