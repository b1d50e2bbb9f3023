//! The conformance suite and PostgreSQL-specific checks against the server in `QUANTDAL_TEST_PG_URL`. Each
//! test works in its own schema, dropped when it ends; without the variable every test skips (CI sets it and
//! `QUANTDAL_REQUIRE_SERVICES=1`, so there they fail instead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use quantdal::SaveOptions;
use quantdal::{Dal, ErrorKind, Load, ProvisionStatus};
use quantdal_core::normalize_batch;
use quantdal_tests::fixtures::{ticks_batch as tick_batch, Daily, Tick, T0};
use quantdal_tests::services::{postgres_dal, service_url, CleanupGuard};

const PG: &str = "QUANTDAL_TEST_PG_URL";

async fn harness(dir: &Path) -> Option<Dal> {
    let url = service_url(PG)?;
    Some(postgres_dal(&url, dir, "").await)
}

quantdal_tests::conformance_tests!(harness);

async fn admin(url: &str) -> tokio_postgres::Client {
    quantdal_postgres::connect_client(url, "quantdal-tests-admin")
        .await
        .expect("admin connection")
}

fn schema_of(dal: &Dal) -> String {
    let loc = dal.settings().stores["main"].schema.clone();
    loc.expect("test store has a schema")
}

/// `check` sees missing tables, is clean after `provision` (which has nothing to note for classes without a
/// `timescale:` section), reports dropped / extra / retyped columns, and `migrate` restores the dropped column
/// but refuses to drop the extra one or change a type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_migrate_report_drift() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dal = postgres_dal(&url, dir.path(), "").await;
    let schema = schema_of(&dal);

    let before = dal.check().await.unwrap();
    assert!(before
        .iter()
        .filter(|e| e.store == "main")
        .all(|e| e.status == ProvisionStatus::Missing));

    let provisioned = dal.provision().await.unwrap();
    let admin = admin(&url).await;
    for e in provisioned.iter().filter(|e| e.store == "main") {
        assert!(e.notes.is_empty(), "{}: {:?}", e.class, e.notes);
    }
    let after = dal.check().await.unwrap();
    for e in &after {
        assert_eq!(e.status, ProvisionStatus::AlreadyPresent, "{}", e.class);
    }

    // Drift: an index gone, a column gone, a column nobody declared, a type changed.
    admin
        .batch_execute(&format!(
            "ALTER TABLE \"{schema}\".ticks DROP COLUMN side; \
             ALTER TABLE \"{schema}\".ticks ADD COLUMN legacy INT; \
             ALTER TABLE \"{schema}\".bars ALTER COLUMN amount TYPE NUMERIC(20,2);"
        ))
        .await
        .unwrap();
    let drift = dal.check().await.unwrap();
    let ticks = drift.iter().find(|e| e.class == "ticks").unwrap();
    let ProvisionStatus::Drift(items) = &ticks.status else {
        panic!("ticks: {}", ticks.status)
    };
    assert!(
        items.iter().any(|d| d == "column side is missing"),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|d| d == "column legacy is not in the spec"),
        "{items:?}"
    );
    let bars = drift.iter().find(|e| e.class == "bars").unwrap();
    assert!(
        matches!(&bars.status, ProvisionStatus::Drift(d) if d.iter().any(|x| x.contains("numeric(20,2)"))),
        "{}",
        bars.status
    );

    let migrated = dal.migrate().await.unwrap();
    let ticks = migrated.iter().find(|e| e.class == "ticks").unwrap();
    assert!(
        ticks
            .migration
            .applied
            .iter()
            .any(|a| a.contains("ADD COLUMN")),
        "{:?}",
        ticks.migration
    );
    assert!(
        ticks
            .migration
            .refused
            .iter()
            .any(|r| r.contains("legacy") && r.contains("DROP COLUMN")),
        "{:?}",
        ticks.migration
    );
    let bars = migrated.iter().find(|e| e.class == "bars").unwrap();
    assert!(
        bars.migration
            .refused
            .iter()
            .any(|r| r.contains("ALTER COLUMN")),
        "{:?}",
        bars.migration
    );
    let again = dal.check().await.unwrap();
    let ticks = again.iter().find(|e| e.class == "ticks").unwrap();
    assert_eq!(
        ticks.status,
        ProvisionStatus::Drift(vec!["column legacy is not in the spec".into()])
    );
}

/// `timescale: on` on a server that cannot load the extension is an error naming the store; `off` provisions
/// plain tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timescale_modes() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let admin = admin(&url).await;
    let preloaded: String = admin
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])
        .await
        .unwrap()
        .get(0);
    let dir = tempfile::tempdir().unwrap();
    let off = postgres_dal(&url, dir.path(), "timescale: off").await;
    let report = off.provision().await.unwrap();
    assert!(report.iter().all(|e| e.status == ProvisionStatus::Created));
    if !preloaded.contains("timescaledb") {
        let on = postgres_dal(&url, dir.path(), "timescale: on").await;
        let err = on.provision().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("timescale: on"), "{err}");
        assert_eq!(err.class(), Some("ticks"));
    }
}

/// The store itself (validation bypassed) turns server-side data errors into typed errors naming class and
/// table, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_data_errors_are_typed_and_write_nothing() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dal = postgres_dal(&url, dir.path(), "").await;
    dal.provision().await.unwrap();
    let (spec, store) = dal.store_for("ticks").unwrap();

    // A key twice in one batch: the merge cannot update a row twice.
    let norm = |spec: &quantdal::TableSpec, b: RecordBatch| {
        normalize_batch(spec, &b, &SaveOptions::default()).unwrap()
    };
    // Normalised one row at a time: the facade's validation would (rightly) refuse the pair.
    let one = norm(&spec, tick_batch(&[Tick::new("A.SH", T0, 1.0, 1)]));
    let again = norm(&spec, tick_batch(&[Tick::new("A.SH", T0, 2.0, 2)]));
    let dup = arrow::compute::concat_batches(&one.schema(), [&one, &again]).unwrap();
    let err = store.save(&spec, dup).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch, "{err}");
    assert_eq!(err.class(), Some("ticks"));
    assert!(err.to_string().contains(".ticks"), "{err}");
    assert_eq!(dal.count("ticks").await.unwrap(), 0);

    // A string longer than VARCHAR(1).
    let mut long = norm(&spec, tick_batch(&[Tick::new("A.SH", T0, 1.0, 1)]));
    let side = spec.column_index("side").unwrap();
    let mut cols: Vec<ArrayRef> = long.columns().to_vec();
    cols[side] = Arc::new(StringArray::from(vec![Some("BUY")]));
    long = RecordBatch::try_new(long.schema(), cols).unwrap();
    let err = store.save(&spec, long).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch, "{err}");
    assert!(err.to_string().contains("22001"), "{err}");
    assert_eq!(dal.count("ticks").await.unwrap(), 0);

    // A NUMERIC(18,4) value with 16 integer digits.
    let (spec, store) = dal.store_for("daily").unwrap();
    let batch = norm(
        &spec,
        quantdal_tests::fixtures::daily_batch(&[Daily::new("A.SH", 0, 1.0, 1, 10_000)]),
    );
    let turnover = spec.column_index("turnover").unwrap();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols[turnover] = Arc::new(
        Decimal128Array::from(vec![Some(10i128.pow(19))])
            .with_precision_and_scale(18, 4)
            .unwrap(),
    );
    let batch = RecordBatch::try_new(batch.schema(), cols).unwrap();
    let err = store.save(&spec, batch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch, "{err}");
    assert!(err.to_string().contains("22003"), "{err}");
    assert_eq!(dal.count("daily").await.unwrap(), 0);
}

/// Connection problems are typed and never show the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_are_typed() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();

    // Nothing listens on port 1.
    let refused = postgres_dal(
        "postgres://postgres:s3cret@127.0.0.1:1/test?connect_timeout=2",
        dir.path(),
        "",
    )
    .await;
    let err = refused.count("ticks").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    assert_eq!(err.class(), Some("ticks"));
    assert!(!err.to_string().contains("s3cret"), "{err}");

    // A database that does not exist.
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
    let missing = postgres_dal(&format!("{base}/quantdal_no_such_db"), dir.path(), "").await;
    let err = missing.count("ticks").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!err.is_temporary());
    assert!(err.to_string().contains("3D000"), "{err}");

    // TLS that must verify the server against the public roots: a local self-signed server fails it.
    let admin = admin(&url).await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl == "on" {
        let sep = if url.contains('?') { '&' } else { '?' };
        let required = postgres_dal(&format!("{url}{sep}sslmode=require"), dir.path(), "").await;
        required.provision().await.unwrap();
        let tls: bool = admin
            .query_one(
                "SELECT bool_or(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'quantdal-tests'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(tls, "sslmode=require connections are encrypted");
        let verify = postgres_dal(&format!("{url}{sep}sslmode=verify-full"), dir.path(), "").await;
        let err = verify.count("ticks").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    }
}

/// A role with a password, connected with the wrong one: needs password authentication for that role
/// (`.ci/run` adds the pg_hba line); a server that trusts everyone cannot show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_authentication_error() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let admin = admin(&url).await;
    admin
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'quantdal_pw_test') THEN \
             CREATE ROLE quantdal_pw_test LOGIN PASSWORD 'right-password'; END IF; END $$",
        )
        .await
        .unwrap();
    let host = url
        .split_once('@')
        .map(|(_, h)| h)
        .unwrap_or("127.0.0.1:5432/test");
    let dir = tempfile::tempdir().unwrap();
    let dal = postgres_dal(
        &format!("postgres://quantdal_pw_test:wrong-password@{host}"),
        dir.path(),
        "",
    )
    .await;
    match dal.count("ticks").await {
        Err(err) if err.to_string().contains("28P01") => {
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
            assert!(!err.is_temporary());
            assert_eq!(err.class(), Some("ticks"));
            assert!(!err.to_string().contains("wrong-password"), "{err}");
        }
        // Logged in (the table is simply missing, or there): the server did not check the password.
        other => {
            assert!(
                !quantdal_tests::services::services_required(),
                "the server accepted a wrong password ({other:?}): add `host all quantdal_pw_test 127.0.0.1/32 \
                 scram-sha-256` to pg_hba.conf, as .ci/run does"
            );
            eprintln!("the server does not check passwords for quantdal_pw_test: skipping");
        }
    }
}

/// Kill the pool's connections in the middle of a large save: the save fails as a whole (nothing written),
/// and the next save on the same `Dal` succeeds on fresh connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_connections_mid_save_write_nothing_and_recover() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = quantdal_tests::services::test_schema(&url);
    // One attempt only and no spool, so the failure is seen rather than retried or spooled away.
    let dal = quantdal_tests::services::postgres_dal_in(
        &url,
        &schema,
        dir.path(),
        "spool: { enabled: false }",
        "max_attempts: 1",
    )
    .await;
    dal.provision().await.unwrap();
    let rows: Vec<Tick> = (0..400_000)
        .map(|i| {
            Tick::new(
                if i % 2 == 0 { "A.SH" } else { "B.SH" },
                T0 + i64::from(i),
                1.0,
                1,
            )
        })
        .collect();
    let batch = tick_batch(&rows);
    let admin = admin(&url).await;
    let dal = Arc::new(dal);
    let saver = {
        let dal = dal.clone();
        let batch = batch.clone();
        tokio::spawn(async move { dal.save("ticks", &batch).await })
    };
    // Terminate as soon as the COPY is running.
    let mut killed = 0i64;
    for _ in 0..400 {
        killed = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'quantdal-tests' AND query LIKE 'COPY%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if killed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let result = saver.await.unwrap();
    if killed > 0 {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_temporary(), "{err}");
        assert_eq!(err.class(), Some("ticks"));
    } else {
        // The save finished before a terminate could land: still all rows, never part.
        result.unwrap();
    }
    let n = dal.count("ticks").await.unwrap();
    assert!(n == 0 || n == 400_000, "all or nothing, got {n}");
    // The pool replaces the dead connection.
    let report = dal.save("ticks", &batch).await.unwrap();
    assert_eq!(report.rows, 400_000);
    assert_eq!(dal.count("ticks").await.unwrap(), 400_000);
    assert!(killed > 0, "no COPY was seen to terminate");
}

/// Loads return exact Arrow types: Decimal128 for NUMERIC, Date32 for DATE, UTC timestamps, JSON as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_stream_many_batches_in_order() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dal = postgres_dal(&url, dir.path(), "").await;
    dal.provision().await.unwrap();
    let rows: Vec<Tick> = (0..150_000)
        .map(|i| Tick::new("A.SH", T0 + i64::from(i), f64::from(i), i64::from(i)))
        .collect();
    dal.save("ticks", &tick_batch(&rows)).await.unwrap();
    let batches = dal.load("ticks", Load::all()).await.unwrap();
    assert!(
        batches.len() >= 3,
        "streamed in portal chunks: {}",
        batches.len()
    );
    let mut expected = 0i64;
    for b in &batches {
        let vol = b
            .column_by_name("volume")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let price = b
            .column_by_name("price")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            assert_eq!(vol.value(i), expected);
            assert_eq!(price.value(i), expected as f64);
            expected += 1;
        }
        assert!(!vol.is_nullable() || vol.null_count() == 0);
    }
    assert_eq!(expected, 150_000);
}

/// Several hosts: the first refuses, the second is the server; `target_session_attrs=read-write` picks a
/// writable one. A read replica URL (here the same server) serves loads while saves use the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_hosts_and_read_replica() {
    let _cleanup = CleanupGuard;
    let Some(url) = service_url(PG) else { return };
    let Some((head, tail)) = url.split_once('@') else {
        panic!("{PG} has no user@host part")
    };
    let Some((host, rest)) = tail.split_once('/') else {
        panic!("{PG} has no /database part")
    };
    let sep = if rest.contains('?') { '&' } else { '?' };
    let several = format!(
        "{head}@127.0.0.1:1,{host}/{rest}{sep}target_session_attrs=read-write&connect_timeout=2"
    );
    let dir = tempfile::tempdir().unwrap();
    let dal = postgres_dal(&several, dir.path(), &format!("read_url: \"{url}\"")).await;
    dal.provision().await.unwrap();
    dal.save("ticks", &tick_batch(&[Tick::new("A.SH", T0, 1.0, 1)]))
        .await
        .unwrap();
    let rows: usize = dal
        .load("ticks", Load::all())
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 1);
    assert_eq!(
        dal.latest("ticks", Load::all()).await.unwrap()[0].num_rows(),
        1
    );
}

/// The realtime suite on PostgreSQL: the semantics Redis must match.
mod realtime {
    use std::path::Path;

    use quantdal::Dal;
    use quantdal_tests::services::{realtime_dal, service_url, test_schema};

    async fn harness(dir: &Path) -> Option<Dal> {
        let url = service_url(super::PG)?;
        let schema = test_schema(&url);
        Some(
            realtime_dal(
                &format!("kind: postgres\nurl: \"{url}\"\nschema: {schema}"),
                dir,
            )
            .await,
        )
    }

    quantdal_tests::realtime_tests!(harness);
}

/// Point-in-time (versioned classes) and information-driven bars on PostgreSQL, each test in its own schema:
/// the same checks, with the same expected values, as on the embedded store (tests/tests/duckdb.rs).
mod pit {
    use std::path::Path;

    use quantdal::Dal;
    use quantdal_tests::services::{service_url, test_schema};

    async fn harness(dir: &Path) -> Option<Dal> {
        let url = service_url(super::PG)?;
        let schema = test_schema(&url);
        Some(
            quantdal_tests::catalog_dal(
                &format!("kind: postgres\nurl: \"{url}\"\nschema: {schema}"),
                dir,
                quantdal_tests::pit::pit_catalog(),
            )
            .await,
        )
    }

    quantdal_tests::pit_tests!(harness);

    /// Concurrent saves of one versioned class serialise on the table lock: every revision gets its own
    /// knowledge time and none is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_versioned_saves_get_distinct_stamps() {
        use quantdal::Load;
        use quantdal_tests::fixtures::{ticks_batch, Tick, T0};
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let dir = tempfile::tempdir().expect("temporary folder");
        let Some(dal) = harness(dir.path()).await else {
            return;
        };
        quantdal_tests::pit::prepare(&dal).await;
        let dal = std::sync::Arc::new(dal);
        let saves = (0..8).map(|k| {
            let dal = dal.clone();
            tokio::spawn(async move {
                let row = Tick::new("600000.SH", T0, 10.0 + f64::from(k), 100);
                dal.save("vticks", &ticks_batch(&[row]))
                    .await
                    .expect("save");
            })
        });
        for s in saves {
            s.await.expect("task");
        }
        let history = dal.history("vticks", Load::all()).await.expect("history");
        let stamps: Vec<i64> = quantdal_tests::fixtures::rows(&history, |b, r| {
            quantdal_tests::fixtures::read_ts_ms(b, "_known_at", r).expect("_known_at")
        });
        assert_eq!(stamps.len(), 8, "{stamps:?}");
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    }
}
