//! quantdal's cross-store conformance suite, in the shape of object_store's `integration.rs`: every check in
//! [`conformance`] takes a [`Dal`] built over the suite's own catalog ([`fixtures::FIXTURE`]), whose classes
//! all route to one store named [`STORE`]. A store's test file builds such a `Dal` and expands
//! [`conformance_tests!`], which gives one `#[tokio::test]` per check:
//!
//! ```ignore
//! async fn harness(dir: &std::path::Path) -> Option<quantdal::Dal> {
//!     Some(quantdal_tests::embedded_dal(dir).await)
//! }
//! quantdal_tests::conformance_tests!(harness);
//! ```
//!
//! A harness returns `None` when its store is not available (a server store whose URL is not set), which
//! skips the test; it must return a `Dal` whose tables do not exist yet (each test provisions them).

// A test suite reports failures by panicking: unwrap / expect are the point here, not a hazard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod fixtures;
pub mod pit;
pub mod realtime;
pub mod services;

use std::path::Path;

use quantdal::{Catalog, Dal, OpenOptions, Settings};

pub use tempfile;

/// The store name every fixture class routes to.
pub const STORE: &str = "main";

/// The fixture catalog.
pub fn fixture_catalog() -> Catalog {
    Catalog::from_yaml(fixtures::FIXTURE, "fixture")
        .unwrap_or_else(|e| panic!("the fixture catalog: {e}"))
}

/// A `Dal` over the fixture catalog whose store `main` is described by `store_yaml`, the mapping that goes
/// under `stores.main` in `quantdal.yaml` (e.g. `"kind: duckdb\npath: test.duckdb"`); relative paths resolve
/// against `base`. The tables are not provisioned.
pub async fn fixture_dal(store_yaml: &str, base: &Path) -> Dal {
    catalog_dal(store_yaml, base, fixture_catalog()).await
}

/// As [`fixture_dal`], over another catalog whose classes route to [`STORE`] (e.g. [`pit::pit_catalog`]).
pub async fn catalog_dal(store_yaml: &str, base: &Path, catalog: Catalog) -> Dal {
    let indented: String = store_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!("version: 1\ntables: fixture.yaml\nstores:\n  {STORE}:\n{indented}");
    let settings = Settings::from_yaml(&yaml, "<conformance settings>", base, &|_| None)
        .unwrap_or_else(|e| panic!("conformance settings: {e}\n{yaml}"));
    Dal::from_parts(settings, catalog, OpenOptions::default())
        .await
        .unwrap_or_else(|e| panic!("opening the store under test: {e}"))
}

/// An embedded DuckDB store at `dir/test.duckdb` holding the fixture catalog (not provisioned).
pub async fn embedded_dal(dir: &Path) -> Dal {
    fixture_dal("kind: duckdb\npath: test.duckdb", dir).await
}

/// Expands to one `#[tokio::test]` per conformance check, each on a fresh `Dal` from `$harness`, an
/// `async fn(&Path) -> Option<Dal>` given its own temporary folder.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:path) => {
        $crate::__conformance_test!(unprovisioned $harness, provision_is_idempotent);
        $crate::__conformance_test!(provisioned $harness, save_report_and_upsert);
        $crate::__conformance_test!(provisioned $harness, upsert_with_series_out_of_step);
        $crate::__conformance_test!(provisioned $harness, load_by_range);
        $crate::__conformance_test!(provisioned $harness, load_by_symbols);
        $crate::__conformance_test!(provisioned $harness, load_projection_and_schema);
        $crate::__conformance_test!(provisioned $harness, load_predicates);
        $crate::__conformance_test!(provisioned $harness, load_order_and_limit);
        $crate::__conformance_test!(provisioned $harness, load_stream_matches_load);
        $crate::__conformance_test!(provisioned $harness, latest_per_series);
        $crate::__conformance_test!(provisioned $harness, kline_from_ticks);
        $crate::__conformance_test!(provisioned $harness, kline_from_bars);
        $crate::__conformance_test!(provisioned $harness, kline_weekly_on_dates);
        $crate::__conformance_test!(provisioned $harness, precision_ns_round_trip);
        $crate::__conformance_test!(provisioned $harness, precision_finer_than_class_is_refused);
        $crate::__conformance_test!(provisioned $harness, precision_coarser_units_widen_exactly);
        $crate::__conformance_test!(provisioned $harness, precision_offset_zone_is_same_instant);
        $crate::__conformance_test!(provisioned $harness, unknown_class_is_refused);
        $crate::__conformance_test!(provisioned $harness, batch_shape_errors);
        $crate::__conformance_test!(provisioned $harness, null_errors);
        $crate::__conformance_test!(provisioned $harness, duplicate_key_in_batch);
        $crate::__conformance_test!(provisioned $harness, value_rule_errors);
        $crate::__conformance_test!(provisioned $harness, query_errors);
        $crate::__conformance_test!(provisioned $harness, bad_last_row_writes_nothing);
        $crate::__conformance_test!(provisioned $harness, lossless_casts_accepted);
        $crate::__conformance_test!(provisioned $harness, delete_and_truncate);
        $crate::__conformance_test!(shared $harness, concurrent_saves_and_loads);
        $crate::__conformance_test!(provisioned $harness, typed_round_trip);
        $crate::__conformance_test!(provisioned $harness, reference_class_upsert);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    (unprovisioned $harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            // Declared first so it drops last: after the `Dal`, it runs what the harness registered.
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::conformance::$check(&dal).await;
        }
    };
    (provisioned $harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            // Declared first so it drops last: after the `Dal`, it runs what the harness registered.
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::conformance::prepare(&dal).await;
            $crate::conformance::$check(&dal).await;
        }
    };
    (shared $harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            // Declared first so it drops last: after the `Dal`, it runs what the harness registered.
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::conformance::prepare(&dal).await;
            $crate::conformance::$check(::std::sync::Arc::new(dal)).await;
        }
    };
}
