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
    assert_eq!(next.load(Ordering::SeqCst), 29, "one fresh Dal per check");
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

/// Ordered loads are put in order by the store chunk by chunk (crates/quantdal-duckdb/src/ordered.rs): many
/// chunks (100,000 rows each here), a series larger than a chunk, a series whose rows were saved out of time
/// order (a back-fill), a projection without the order columns and filters all give the answer of a full
/// sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_ordered_loads_match_a_full_sort() {
    use quantdal::{col, Load, Order};
    use quantdal_tests::fixtures::{ticks_batch, ticks_from, Tick};
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = small_chunks(dir.path()).await;
    let start = 1_704_159_000_000i64;
    // 30 small series interleaved (12,000 rows each), one of 300,000 rows (larger than a chunk).
    let small: Vec<String> = (0..30).map(|s| format!("{:06}.SZ", 30 - s)).collect();
    let mut rows: Vec<Tick> = (0..360_000)
        .map(|i| {
            Tick::new(
                &small[i % 30],
                start + (i / 30) as i64 * 1000,
                i as f64,
                100,
            )
        })
        .collect();
    rows.extend((0..300_000).map(|i| Tick::new("999999.SH", start + i * 10, -(i as f64), 1)));
    for chunk in rows.chunks(100_000) {
        dal.save("ticks", &ticks_batch(chunk)).await.expect("save");
    }
    // A back-fill: older rows of one series saved after its newer ones.
    let backfill: Vec<Tick> = (1..=5_000)
        .map(|i| Tick::new(&small[7], start - i * 1000, 1e9 + i as f64, 7))
        .collect();
    dal.save("ticks", &ticks_batch(&backfill))
        .await
        .expect("back-fill");
    rows.extend(backfill);
    let mut expected: Vec<Tick> = rows;
    expected.sort_by(|a, b| (&a.symbol, a.ts).cmp(&(&b.symbol, b.ts)));

    let keys = |t: &[Tick]| -> Vec<(String, i64, f64)> {
        t.iter()
            .map(|t| (t.symbol.clone(), t.ts, t.price))
            .collect()
    };
    let check = |what: &str, got: Vec<(String, i64, f64)>, want: Vec<(String, i64, f64)>| {
        assert_eq!(got.len(), want.len(), "{what}: row count");
        if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
            panic!("{what}: row {i}: got {:?}, want {:?}", got[i], want[i]);
        }
    };
    for order in [Order::Asc, Order::Desc] {
        let want: Vec<Tick> = match order {
            Order::Desc => expected.iter().rev().cloned().collect(),
            _ => expected.clone(),
        };
        let got = ticks_from(
            &dal.load("ticks", Load::all().order(order))
                .await
                .expect("load"),
        );
        check(&format!("{order:?}"), keys(&got), keys(&want));

        // Only the price: the order columns are read for ordering and dropped again.
        let prices = dal
            .load("ticks", Load::all().columns(["price"]).order(order))
            .await
            .expect("load prices");
        assert_eq!(prices[0].num_columns(), 1, "{order:?}: projection");
        let got_prices: Vec<f64> = prices
            .iter()
            .flat_map(|b| {
                let a = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Float64Array>();
                a.expect("price is f64").values().to_vec()
            })
            .collect();
        let want_prices: Vec<f64> = want.iter().map(|t| t.price).collect();
        assert!(got_prices == want_prices, "{order:?}: prices out of order");

        // A time range, symbols and a condition, which the chunk's own series range must not loosen.
        let ms = |t: i64| quantdal::Timestamp::from_millis(t).expect("in range");
        let filtered = Load::range(ms(start + 50_000)..ms(start + 2_000_000))
            .symbols(["000003.SZ", "000024.SZ", "999999.SH"])
            .filter(col("price").lt(200_000.0))
            .order(order);
        let got = ticks_from(&dal.load("ticks", filtered).await.expect("filtered load"));
        let want_filtered: Vec<Tick> = want
            .iter()
            .filter(|t| t.ts >= start + 50_000 && t.ts < start + 2_000_000)
            .filter(|t| ["000003.SZ", "000024.SZ", "999999.SH"].contains(&t.symbol.as_str()))
            .filter(|t| t.price < 200_000.0)
            .cloned()
            .collect();
        assert!(!want_filtered.is_empty());
        check(
            &format!("{order:?} filtered"),
            keys(&got),
            keys(&want_filtered),
        );
    }
}

async fn small_chunks(dir: &Path) -> Dal {
    let dal = quantdal_tests::fixture_dal(
        "kind: duckdb\npath: test.duckdb\norder_chunk_rows: 100000",
        dir,
    )
    .await;
    dal.provision().await.expect("provision");
    dal
}

/// Chunked ordered loads while saves commit: every load reads one snapshot (two connections pinned
/// together, or one connection when a write is running), so it never sees a series its plan did not list,
/// never a torn save, and always comes back in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_ordered_loads_during_saves_read_one_snapshot() {
    use quantdal::Load;
    use quantdal_tests::fixtures::{ticks_batch, ticks_from, Tick};
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = std::sync::Arc::new(small_chunks(dir.path()).await);
    let start = 1_704_159_000_000i64;
    // Even-numbered series first; each save then adds one odd-numbered series of 10,000 rows, which sorts
    // between two listed ones, so a chunk read from a later snapshot than its plan would return it.
    let base: Vec<Tick> = (0..300_000)
        .map(|i| {
            Tick::new(
                &format!("{:06}.SZ", (i % 30) * 2),
                start + (i / 30) as i64,
                1.0,
                1,
            )
        })
        .collect();
    for chunk in base.chunks(100_000) {
        dal.save("ticks", &ticks_batch(chunk)).await.expect("save");
    }
    let writer = {
        let dal = dal.clone();
        tokio::spawn(async move {
            for s in 0..12 {
                let series: Vec<Tick> = (0..10_000)
                    .map(|i| Tick::new(&format!("{:06}.SZ", s * 2 + 1), start + i, 2.0, 2))
                    .collect();
                dal.save("ticks", &ticks_batch(&series))
                    .await
                    .expect("save");
            }
        })
    };
    let mut loads = 0;
    while !writer.is_finished() || loads < 3 {
        let got = ticks_from(&dal.load("ticks", Load::all()).await.expect("load"));
        assert_eq!(
            (got.len() - 300_000) % 10_000,
            0,
            "a torn read: {} rows",
            got.len()
        );
        assert!(
            got.windows(2)
                .all(|w| (&w[0].symbol, w[0].ts) < (&w[1].symbol, w[1].ts)),
            "out of order"
        );
        loads += 1;
    }
    writer.await.expect("writer");
    assert_eq!(dal.count("ticks").await.expect("count"), 420_000);
}

/// A series of two columns (symbol, frequency): chunk bounds compare both, lexicographically.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_ordered_loads_of_two_column_series() {
    use quantdal::{Load, Order};
    use quantdal_tests::fixtures::{bars_batch, bars_from, Bar};
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = small_chunks(dir.path()).await;
    let series: Vec<(String, &str)> = ["B", "A", "C"]
        .iter()
        .flat_map(|s| ["5m", "1m"].map(|f| (s.to_string(), f)))
        .collect();
    let bars: Vec<Bar> = (0..240_000)
        .map(|i| {
            let (symbol, frequency) = &series[i % series.len()];
            let ts = 1_704_159_000_000 + (i / series.len()) as i64 * 60_000;
            Bar::new(symbol, frequency, ts, i as f64, 0.0, 0.0, 0.0, 1, 0.0)
        })
        .collect();
    for chunk in bars.chunks(60_000) {
        dal.save("bars", &bars_batch(chunk)).await.expect("save");
    }
    let mut want: Vec<(String, String, i64, f64)> = bars
        .iter()
        .map(|b| (b.symbol.clone(), b.frequency.clone(), b.ts, b.open))
        .collect();
    want.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    for order in [Order::Asc, Order::Desc] {
        let got: Vec<(String, String, i64, f64)> = bars_from(
            &dal.load("bars", Load::all().order(order))
                .await
                .expect("load"),
        )
        .into_iter()
        .map(|b| (b.symbol, b.frequency, b.ts, b.open))
        .collect();
        let want: Vec<_> = match order {
            Order::Desc => want.iter().rev().cloned().collect(),
            _ => want.clone(),
        };
        assert_eq!(got.len(), want.len(), "{order:?}: row count");
        if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
            panic!("{order:?}: row {i}: got {:?}, want {:?}", got[i], want[i]);
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

/// Size of `test.duckdb.wal` after one save of 50,000 ticks into a store with this `checkpoint_threshold`.
async fn log_after_a_save(threshold: &str) -> u64 {
    use quantdal_tests::fixtures::{ticks_batch, Tick};
    let dir = tempfile::tempdir().expect("temporary folder");
    let dal = quantdal_tests::fixture_dal(
        &format!("kind: duckdb\npath: test.duckdb\ncheckpoint_threshold: {threshold}"),
        dir.path(),
    )
    .await;
    dal.provision().await.expect("provision");
    let rows: Vec<Tick> = (0..50_000)
        .map(|i| Tick::new(&format!("S{:03}", i % 100), 1_704_159_000_000 + i, 10.0, 1))
        .collect();
    dal.save("ticks", &ticks_batch(&rows)).await.expect("save");
    let log = std::fs::metadata(dir.path().join("test.duckdb.wal")).map_or(0, |m| m.len());
    dal.close().await.expect("close");
    log
}

/// `checkpoint_threshold` reaches DuckDB: a save that takes the write-ahead log past it is folded into the
/// file before the save returns; under a larger threshold the log keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoint_threshold_decides_when_a_commit_checkpoints() {
    let kept = log_after_a_save("1GB").await;
    let folded = log_after_a_save("256KB").await;
    assert!(
        kept > 1 << 20,
        "a 1GB threshold keeps the save in the log ({kept} bytes)"
    );
    assert!(
        folded < kept / 10,
        "a 256KB threshold checkpoints at the commit ({folded} bytes left against {kept})"
    );
}
