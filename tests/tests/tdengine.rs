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
                pool_size: Some(1),
                url: Some(dsn),
                ..quantdal_core::StoreSettings::new("cleanup", quantdal_core::StoreKind::Tdengine)
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

// ---- TDengine-specific checks against the live server (also skipped without the variable) ----

mod live {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::array::TimestampMillisecondArray;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use quantdal::{Catalog, Dal, ErrorKind, Load, OpenOptions, ProvisionStatus, Settings};
    use quantdal_tests::services::{after_test, optional_service_url, unique_schema};

    use super::{drop_databases, DSN};

    const TWO_CLASSES: &str = r#"
version: 1
classes:
  - name: ticks_a
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
    kline: { price: price, volume: volume }
    options: { tdengine: { database: DB, vgroups: 1 } }
  - name: ticks_b
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
    options: { tdengine: { database: DB, vgroups: 1 } }
  - name: ticks_c
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
    options: { tdengine: { database: DB_ns, vgroups: 1, keep: 30 } }
"#;

    /// A `Dal` over [`TWO_CLASSES`] in a database of its own (dropped after the test), with `retry` as the
    /// body of `retry:`.
    async fn dal(dir: &Path, dsn: &str, retry: &str) -> (Dal, String) {
        dal_with(dir, dsn, retry, "").await
    }

    /// `store_lines`: extra settings of the store, each line indented under it.
    async fn dal_with(dir: &Path, dsn: &str, retry: &str, store_lines: &str) -> (Dal, String) {
        let database = unique_schema("qd_live");
        let yaml = format!(
            "version: 1\ntables: t.yaml\nstores:\n  main:\n    kind: tdengine\n    dsn: \"{dsn}\"\n{store_lines}retry:\n  {retry}\n"
        );
        let settings =
            Settings::from_yaml(&yaml, "<tdengine live settings>", dir, &|_| None).unwrap();
        let catalog = Catalog::from_yaml(&TWO_CLASSES.replace("DB", &database), "t").unwrap();
        let dal = Dal::from_parts(settings, catalog, OpenOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening TDengine: {e}"));
        let (d, db) = (dsn.to_string(), database.clone());
        after_test(move || drop_databases(&d, &db));
        (dal, database)
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false),
            Field::new("volume", DataType::Int64, false),
        ]))
    }

    /// `series` symbols × `per` rows, one millisecond apart from `start_ms`, grouped by symbol.
    fn ticks(series: usize, per: usize, start_ms: i64) -> RecordBatch {
        let n = series * per;
        let mut ts = Vec::with_capacity(n);
        let mut sym = Vec::with_capacity(n);
        for s in 0..series {
            for i in 0..per {
                ts.push(start_ms + i as i64);
                sym.push(format!("S{s:05}.SH"));
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(sym)),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| 10.0 + (i % 100) as f64 / 100.0),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i % 1000) as i64),
            )),
        ];
        RecordBatch::try_new(schema(), columns).unwrap()
    }

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    /// Defect 1: two classes in one database with the same tag tuple get distinct sub-tables.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn classes_sharing_a_database_and_tags_do_not_collide() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, _) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        let batch = ticks(3, 10, now_ms() - 60_000);
        assert_eq!(dal.save("ticks_a", &batch).await.unwrap().rows, 30);
        assert_eq!(dal.save("ticks_b", &batch).await.unwrap().rows, 30);
        assert_eq!(dal.count("ticks_a").await.unwrap(), 30);
        assert_eq!(dal.count("ticks_b").await.unwrap(), 30);
    }

    /// Defect 2: a row older than the database's KEEP is refused before anything is sent, typed and named;
    /// `check` reports a KEEP that differs from the class.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_older_than_keep_are_refused_before_sending() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, database) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        // ticks_c keeps 30 days: a batch whose second series starts 40 days ago.
        let recent = ticks(1, 5, now_ms() - 60_000);
        let old = ticks(1, 5, now_ms() - 40 * 86_400_000);
        let both = arrow::compute::concat_batches(&schema(), &[recent, old]).unwrap();
        let err = dal.save("ticks_c", &both).await.unwrap_err();
        eprintln!("older than KEEP: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidBatch, "{err}");
        assert_eq!(err.class(), Some("ticks_c"));
        assert_eq!(err.column(), Some("ts"));
        assert_eq!(err.row(), Some(5), "{err}");
        assert!(err.message().contains("KEEP of 30 days"), "{err}");
        assert_eq!(dal.count("ticks_c").await.unwrap(), 0, "nothing was sent");
        // The default KEEP holds a century of history.
        let history = ticks(1, 5, -2_208_988_800_000); // 1900-01-01
        assert_eq!(dal.save("ticks_a", &history).await.unwrap().rows, 5);
        // A KEEP changed behind quantdal's back is reported by check, and widened by migrate.
        let admin = admin(&dsn).await;
        admin
            .execute(&format!("ALTER DATABASE {database} KEEP 3650"))
            .await
            .unwrap();
        let checked = dal.check().await.unwrap();
        let a = checked.iter().find(|e| e.class == "ticks_a").unwrap();
        match &a.status {
            ProvisionStatus::Drift(d) => {
                assert!(d.iter().any(|m| m.contains("KEEP 3650 days")), "{d:?}")
            }
            other => panic!("expected drift, got {other:?}"),
        }
    }

    async fn admin(dsn: &str) -> quantdal_tdengine::TdengineStore {
        let settings = quantdal_core::StoreSettings {
            pool_size: Some(1),
            url: Some(dsn.to_string()),
            ..quantdal_core::StoreSettings::new("admin", quantdal_core::StoreKind::Tdengine)
        };
        quantdal_tdengine::TdengineStore::open(&settings)
            .await
            .unwrap()
    }

    /// Defect 3: delete by a data-column predicate removes exactly the matching rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_by_value_predicate() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, _) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        let start = now_ms() - 3_600_000;
        dal.save("ticks_a", &ticks(4, 250, start)).await.unwrap();
        // volume = i % 1000 over 1000 rows: 100 rows have volume >= 900.
        let at = |ms: i64| quantdal::Timestamp::from_millis(ms).unwrap();
        let load = || Load::range(at(start)..at(start + 1000));
        let removed = dal
            .delete("ticks_a", load().filter(quantdal::col("volume").ge(900i64)))
            .await
            .unwrap();
        assert_eq!(removed, 100);
        assert_eq!(dal.count("ticks_a").await.unwrap(), 900);
        let left = dal
            .load("ticks_a", load().filter(quantdal::col("volume").ge(900i64)))
            .await
            .unwrap();
        assert_eq!(left.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    }

    /// Issue 13: a delete with no time bound removes whole series, so their sub-tables are dropped (their space
    /// comes back at once; DELETE leaves tombstones the community edition never compacts), and the series come
    /// back on the next save. Another class sharing the database and the tags keeps everything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unbounded_deletes_drop_sub_tables() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, database) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        let batch = ticks(4, 250, now_ms() - 3_600_000);
        dal.save("ticks_a", &batch).await.unwrap();
        dal.save("ticks_b", &batch).await.unwrap();
        let admin = admin(&dsn).await;
        let subtables = |stable: &'static str| {
            let admin = &admin;
            let database = database.clone();
            async move {
                let rows = admin
                    .values(&format!(
                        "SELECT COUNT(*) FROM information_schema.ins_tables WHERE db_name = '{database}' \
                         AND stable_name = '{stable}'"
                    ))
                    .await
                    .unwrap();
                rows[0][0].to_string().unwrap()
            }
        };
        assert_eq!(subtables("ticks_a").await, "4");

        let one = dal
            .delete("ticks_a", Load::all().symbols(["S00001.SH"]))
            .await
            .unwrap();
        assert_eq!(one, 250);
        assert_eq!(subtables("ticks_a").await, "3");
        assert_eq!(dal.count("ticks_a").await.unwrap(), 750);

        assert_eq!(dal.truncate("ticks_a").await.unwrap(), 750);
        assert_eq!(subtables("ticks_a").await, "0");
        assert_eq!(dal.count("ticks_a").await.unwrap(), 0);
        assert_eq!(subtables("ticks_b").await, "4");
        assert_eq!(dal.count("ticks_b").await.unwrap(), 1_000);

        // The same series again: sub-tables are created anew, every row held once.
        dal.save("ticks_a", &batch).await.unwrap();
        assert_eq!(dal.count("ticks_a").await.unwrap(), 1_000);
        assert_eq!(subtables("ticks_a").await, "4");
    }

    /// `quantdal sql` on TDengine: class names resolve to their super-tables, results of any shape come back as
    /// Arrow (aggregates, timestamps at the database precision, an empty result with its columns), the row limit
    /// and the deadline hold, and nothing but one SELECT over classes reaches the server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sql_reads_super_tables_with_guardrails() {
        use arrow::array::Array;
        use quantdal::sql::SqlOptions;
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, _) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        let start = now_ms() - 60_000;
        dal.save("ticks_a", &ticks(3, 10, start)).await.unwrap();
        dal.save("ticks_b", &ticks(2, 5, start)).await.unwrap();
        let run = |text: &'static str, options: SqlOptions| {
            let dal = &dal;
            async move { dal.sql(text, options).await }
        };

        let out = run(
            "SELECT symbol, count(*) AS n, max(price) AS top, sum(volume) AS vol FROM ticks_a \
             GROUP BY symbol ORDER BY symbol",
            SqlOptions::default(),
        )
        .await
        .unwrap();
        eprintln!("statement sent: {}", out.statement);
        assert!(out.statement.contains("`ticks_a`"), "{}", out.statement);
        assert_eq!((out.rows, out.truncated), (3, false));
        let batch = arrow::compute::concat_batches(&out.batches[0].schema(), &out.batches).unwrap();
        let schema = batch.schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &DataType::Utf8,
                &DataType::Int64,
                &DataType::Float64,
                &DataType::Int64
            ]
        );
        let symbols = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(symbols.value(0), "S00000.SH");
        let n = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(n.values().iter().sum::<i64>(), 30);

        // Timestamps at the database precision, labelled UTC; a string literal in double quotes is a string.
        let out = run(
            "SELECT ts, price FROM ticks_a WHERE symbol = \"S00001.SH\" ORDER BY ts",
            SqlOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(out.rows, 10);
        let ts = out.batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(ts.timezone(), Some("UTC"));
        assert_eq!(ts.value(0), start);

        // An empty result keeps its columns; the row limit cuts and says so.
        let out = run(
            "SELECT ts, price FROM ticks_a WHERE price < 0",
            SqlOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(out.rows, 0);
        assert_eq!(out.batches[0].num_columns(), 2);
        let out = run(
            "SELECT * FROM ticks_b",
            SqlOptions {
                max_rows: Some(7),
                timeout: None,
            },
        )
        .await
        .unwrap();
        assert_eq!((out.rows, out.truncated), (7, true));

        // The deadline: a statement still unanswered at its time limit is a typed timeout.
        let err = run(
            "SELECT count(*) FROM ticks_a",
            SqlOptions {
                max_rows: None,
                timeout: Some(Duration::from_micros(1)),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

        // Refused before the server sees anything, and nothing changed.
        for (text, needle) in [
            ("DELETE FROM ticks_a", "not a query"),
            (
                "SELECT * FROM information_schema.ins_databases",
                "system catalogs",
            ),
            ("SELECT * FROM ticks_a; DROP DATABASE x", "2 statements"),
            (
                "SELECT * FROM ticks_a WHERE symbol = 'S0''1'",
                "quote or backslash",
            ),
            ("SELECT * FROM nowhere", "not a class"),
        ] {
            let err = run(text, SqlOptions::default()).await.unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        assert_eq!(dal.count("ticks_a").await.unwrap(), 30);
    }

    /// `db compact` runs `COMPACT DATABASE` once per database of the store's classes and waits for it (or, on
    /// the community edition, which refuses it, reports a note); every row survives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compact_runs_compact_database_and_keeps_every_row() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (dal, database) = dal(dir.path(), &dsn, "max_attempts: 1").await;
        dal.provision().await.unwrap();
        let start = now_ms() - 3_600_000;
        dal.save("ticks_a", &ticks(4, 250, start)).await.unwrap();
        dal.save("ticks_a", &ticks(4, 250, start)).await.unwrap();
        dal.save("ticks_c", &ticks(2, 50, start)).await.unwrap();
        let done = quantdal::compact::compact(dal.config(), Some("main"), 2, false)
            .await
            .unwrap();
        eprintln!("compact: {done:?}");
        assert_eq!(done.len(), 1);
        let statements = &done[0].statements;
        match &done[0].note {
            // The community edition refuses every COMPACT (0x0100): a note, nothing changed.
            Some(note) => {
                assert!(statements.is_empty(), "{done:?}");
                assert!(
                    note.contains("COMPACT DATABASE") && note.contains("0x0100"),
                    "{note}"
                );
            }
            None => {
                assert_eq!(statements.len(), 2, "{statements:?}");
                for db in [database.clone(), format!("{database}_ns")] {
                    assert!(
                        statements.iter().any(|s| s
                            .starts_with(&format!("COMPACT DATABASE `{db}` -- compaction"))
                            && s.contains("finished")),
                        "{db}: {statements:?}"
                    );
                }
            }
        }
        assert_eq!(dal.count("ticks_a").await.unwrap(), 1000);
        assert_eq!(dal.count("ticks_c").await.unwrap(), 100);
        // A dry run names what it would do and runs nothing.
        let dry = quantdal::compact::compact(dal.config(), Some("main"), 2, true)
            .await
            .unwrap();
        assert!(dry[0].statements.is_empty(), "{dry:?}");
        assert!(
            dry[0].note.as_deref().unwrap_or("").contains("ticks_a"),
            "{dry:?}"
        );
    }

    /// A wrong password: Unavailable, not temporary, password never printed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_password_is_permanent_unavailable_without_the_password() {
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        // scheme://user:password@host → the same with another password.
        let (scheme, rest) = dsn.split_once("://").unwrap();
        let (userinfo, host) = rest.split_once('@').unwrap();
        let user = userinfo.split(':').next().unwrap();
        let settings = quantdal_core::StoreSettings {
            url: Some(format!("{scheme}://{user}:Wr0ng-pw-x9@{host}")),
            ..quantdal_core::StoreSettings::new("pw", quantdal_core::StoreKind::Tdengine)
        };
        let err = quantdal_tdengine::TdengineStore::open(&settings)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(!err.is_temporary(), "{err}");
        assert!(!err.to_string().contains("Wr0ng-pw-x9"), "{err}");
        eprintln!("wrong password: {err}");
    }

    /// taosd SIGKILLed during a 1M-row save: a temporary error saying what TDengine confirmed; after a restart
    /// the same `Dal` saves again and the counts are exact. Needs `QUANTDAL_TEST_TDENGINE_KILL` and
    /// `QUANTDAL_TEST_TDENGINE_START` (shell commands that kill and start the server under test); run it alone:
    /// `cargo test --release -p quantdal-tests --test tdengine -- --test-threads=1 killed`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn killed_server_during_save_then_restart() {
        let _cleanup = quantdal_tests::services::CleanupGuard;
        let Some(dsn) = optional_service_url(DSN) else {
            return;
        };
        let (Ok(kill), Ok(start)) = (
            std::env::var("QUANTDAL_TEST_TDENGINE_KILL"),
            std::env::var("QUANTDAL_TEST_TDENGINE_START"),
        ) else {
            eprintln!("QUANTDAL_TEST_TDENGINE_KILL / _START not set: skipping");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        // No spool: it would keep the batch for later and answer Ok, and the error is what is tested here.
        let (dal, _) = dal_with(
            dir.path(),
            &dsn,
            "max_attempts: 1",
            "    spool: { enabled: false }\n",
        )
        .await;
        let dal = Arc::new(dal);
        dal.provision().await.unwrap();
        let batch = ticks(1_000, 1_000, now_ms() - 86_400_000);
        let (spec, store) = dal.store_for("ticks_a").unwrap();
        let began = std::time::Instant::now();
        let saving = {
            let batch = batch.clone();
            tokio::spawn(async move { store.save(&spec, batch).await })
        };
        // The store sends 1M rows in well under a second: kill the server while the first chunks are in flight.
        tokio::time::sleep(Duration::from_millis(
            std::env::var("QUANTDAL_TEST_TDENGINE_KILL_AFTER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(150),
        ))
        .await;
        let finished_before_kill = saving.is_finished();
        let killed = std::process::Command::new("sh")
            .arg("-c")
            .arg(&kill)
            .status()
            .unwrap();
        assert!(killed.success(), "{kill}");
        let killed_at = began.elapsed();
        let outcome = saving.await.unwrap();
        eprintln!(
            "kill sent after {killed_at:?} (save finished before: {finished_before_kill}); save returned after \
             {:?}: {:?}",
            began.elapsed(),
            outcome.as_ref().map_err(|e| e.to_string())
        );
        let started = std::process::Command::new("sh")
            .arg("-c")
            .arg(&start)
            .status()
            .unwrap();
        assert!(started.success(), "{start}");
        // The same Dal (and store): its pool reconnects once the server answers again.
        let (spec, store) = dal.store_for("ticks_a").unwrap();
        match outcome {
            // A save the store acknowledged (it can finish before the kill lands) must have survived it.
            Ok(rows) => {
                assert_eq!(rows, 1_000_000);
                let counted = once_restarted("count after restart", || dal.count("ticks_a")).await;
                assert_eq!(counted, 1_000_000, "acknowledged rows lost by the kill");
            }
            Err(err) => {
                assert!(err.is_temporary(), "{err}");
                assert!(
                    err.message().contains("written")
                        || err.message().contains("nothing confirmed"),
                    "{err}"
                );
            }
        }
        let saved =
            once_restarted("retry after restart", || store.save(&spec, batch.clone())).await;
        assert_eq!(saved, 1_000_000);
        assert_eq!(dal.count("ticks_a").await.unwrap(), 1_000_000);
    }

    /// `op`'s result once the restarted server answers: temporary errors are waited out (up to 30 s), any
    /// other fails the test.
    async fn once_restarted<T, F, Fut>(what: &str, mut op: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = quantdal::Result<T>>,
    {
        for _ in 0..60 {
            match op().await {
                Ok(value) => return value,
                Err(e) if e.is_temporary() => {
                    eprintln!("waiting for the restarted server: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Err(e) => panic!("{what}: {e}"),
            }
        }
        panic!("{what}: the server did not answer within 30 s")
    }
}
