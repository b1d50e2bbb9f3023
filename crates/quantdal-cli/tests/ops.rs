//! The operations commands end to end through the `quantdal` binary: `sql` (guardrails, limits, timeout,
//! lake views, file output), `overview`, `copy` (resume, verification, route switch), `db audit`,
//! `db compact`, `backup` / `restore` — on embedded DuckDB always, and between DuckDB and PostgreSQL when
//! `QUANTDAL_TEST_PG_URL` is set.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::time::Duration;

use arrow::array::RecordBatch;
use common::{assert_one_line_error, Env};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// An env whose embedded store holds the demo's rows for `symbols` symbols.
fn demo_env(symbols: usize) -> Env {
    let env = Env::new();
    env.ok(&["demo", "--symbols", &symbols.to_string()]);
    env
}

/// Appends YAML to the env's quantdal.yaml.
fn append_config(env: &Env, yaml: &str) {
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    text.push_str(yaml);
    std::fs::write(&env.config, text).unwrap();
}

/// Adds a second embedded store `other` in `other.duckdb`.
fn add_other_store(env: &Env) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replace(
        "stores:\n",
        "stores:\n  other: { kind: duckdb, path: other.duckdb }\n",
    );
    std::fs::write(&env.config, text).unwrap();
}

fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

/// The single value of a one-row, one-column `quantdal sql` result.
fn scalar(env: &Env, statement: &str) -> String {
    let out = env.ok(&["--format", "csv", "sql", statement]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{statement}: {out}");
    lines[1].to_string()
}

fn count(env: &Env, class: &str) -> u64 {
    scalar(env, &format!("SELECT count(*) FROM {class}"))
        .parse()
        .unwrap()
}

/// A class's rows as sorted CSV lines (the order of a full load is not part of the comparison).
fn rows_of(env: &Env, class: &str) -> Vec<String> {
    let out = env.ok(&["--format", "csv", "load", class]);
    let mut lines: Vec<String> = out.lines().skip(1).map(str::to_string).collect();
    lines.sort();
    lines
}

fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// sql
// ---------------------------------------------------------------------------------------------------------

#[test]
fn sql_reads_classes_and_refuses_everything_else() {
    let env = demo_env(4);
    let ticks = count(&env, "tick_data");
    assert!(ticks > 1000, "{ticks}");

    // Aggregates, joins of two classes on one store, CTEs.
    let per_symbol = env.ok(&[
        "--format",
        "csv",
        "sql",
        "WITH t AS (SELECT symbol, count(*) AS n FROM tick_data GROUP BY symbol) \
         SELECT t.symbol, t.n, s.name IS NOT NULL AS named FROM t JOIN symbols s ON s.symbol = t.symbol \
         ORDER BY t.symbol",
    ]);
    let lines: Vec<&str> = per_symbol.lines().collect();
    assert_eq!(lines[0], "symbol,n,named");
    assert_eq!(lines.len(), 5, "{per_symbol}");
    let total: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, ticks);

    // Refused before any store sees them: one line on stderr, exit 1, nothing changed.
    for (statement, needle) in [
        ("DELETE FROM tick_data", "not a query"),
        ("DROP TABLE tick_data", "not a query"),
        ("SELECT 1; DELETE FROM tick_data", "2 statements"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function"),
        ("SELECT * FROM information_schema.tables", "system catalogs"),
        ("SELECT * FROM duckdb_settings()", "table function"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT * FROM no_such_class", "not a class or lake view"),
        ("SELEC 1", "cannot parse"),
    ] {
        let line = env.fails(&["sql", statement]);
        assert!(line.contains(needle), "{statement}: {line}");
    }
    assert_eq!(count(&env, "tick_data"), ticks, "nothing was deleted");

    // The row limit: at most --max-rows rows, and a note on stderr saying more matched.
    let run = env.run(&[
        "--format",
        "csv",
        "sql",
        "SELECT ts, symbol, price FROM tick_data",
        "--max-rows",
        "7",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 8, "{}", run.stdout);
    assert!(run.stderr.contains("more rows matched"), "{}", run.stderr);
    // A LIMIT under the row limit is kept, and then nothing is truncated.
    let run = env.run(&[
        "--format",
        "csv",
        "sql",
        "SELECT price FROM tick_data LIMIT 3",
    ]);
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    // The statement timeout cancels a long query with a typed one-line error.
    let started = std::time::Instant::now();
    let line = env.fails(&[
        "sql",
        "SELECT count(*) FROM tick_data a, tick_data b, tick_data c WHERE a.price + b.price > c.price",
        "--timeout",
        "300ms",
    ]);
    assert!(
        line.contains("timed out") || line.contains("timeout"),
        "{line}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout did not stop the statement"
    );

    // Parquet output keeps the column types.
    let file = env.path("out/result.parquet");
    let out = env.ok(&[
        "sql",
        "SELECT ts, symbol, price FROM tick_data ORDER BY ts, symbol LIMIT 100",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.starts_with("wrote 100 rows to"), "{out}");
    let batches = read_parquet(&file);
    let schema = batches[0].schema();
    assert_eq!(
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        ["ts", "symbol", "price"]
    );
    assert!(matches!(
        schema.field(0).data_type(),
        arrow::datatypes::DataType::Timestamp(_, Some(_))
    ));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
}

#[test]
fn sql_reads_parquet_lake_views_without_importing_them() {
    let env = demo_env(3);
    let ticks = count(&env, "tick_data");
    // A hive-partitioned folder (symbol=…/part.parquet) and a glob over the same files.
    let symbols = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT DISTINCT symbol FROM tick_data ORDER BY symbol",
    ]);
    for symbol in symbols.lines().skip(1) {
        let file = env.path(&format!("lake/ticks/symbol={symbol}/part.parquet"));
        env.ok(&[
            "export",
            "tick_data",
            file.to_str().unwrap(),
            "--symbol",
            symbol,
            "--columns",
            "ts,price,volume",
        ]);
    }
    append_config(
        &env,
        "lake:\n  archive: { path: lake/ticks }\n  archive_files: { path: \"lake/ticks/*/*.parquet\" }\n",
    );
    assert_eq!(
        scalar(&env, "SELECT count(*) FROM archive_files"),
        ticks.to_string()
    );
    // The partition key is a column of the folder view, and a lake view joins a class on the embedded store.
    let joined = scalar(
        &env,
        "SELECT count(*) FROM archive a JOIN tick_data t ON t.symbol = a.symbol AND t.ts = a.ts \
         AND t.price = a.price",
    );
    assert_eq!(joined, ticks.to_string());
    // Nothing was imported: the store holds no table for the view.
    let audit = json(&env, &["db", "audit"]);
    let undeclared = &audit["stores"][0]["undeclared_tables"];
    assert_eq!(undeclared, &Value::Array(Vec::new()), "{audit}");
}

// ---------------------------------------------------------------------------------------------------------
// overview, audit
// ---------------------------------------------------------------------------------------------------------

#[test]
fn overview_and_audit_report_every_series_and_the_file() {
    let env = demo_env(4);
    let ticks = count(&env, "tick_data");
    let overview = json(&env, &["overview", "tick_data"]);
    let class = &overview[0];
    assert_eq!(class["class"], "tick_data");
    let series = class["series"].as_array().unwrap();
    assert_eq!(series.len(), 4);
    let rows: u64 = series.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, ticks);
    assert_eq!(class["rows"].as_u64(), Some(ticks));
    for s in series {
        assert!(s["first_ns"].as_i64() <= s["last_ns"].as_i64(), "{s}");
    }
    // Every class at once, as a table.
    let table = env.ok(&["overview"]);
    assert!(table.contains("daily_kline"), "{table}");

    let audit = json(&env, &["db", "audit", "--json"]);
    assert_eq!(audit["version"], 1);
    let store = &audit["stores"][0];
    assert_eq!(store["kind"], "duckdb");
    let classes = store["classes"].as_array().unwrap();
    let ticks_row = classes.iter().find(|c| c["class"] == "tick_data").unwrap();
    assert_eq!(ticks_row["status"], "present");
    assert_eq!(ticks_row["rows"].as_u64(), Some(ticks));
    assert_eq!(ticks_row["series"].as_u64(), Some(4));
    assert!(
        ticks_row["table_bytes"].as_u64().unwrap() > 0,
        "{ticks_row}"
    );
    assert!(
        ticks_row["last_write"].is_string(),
        "from monitoring: {ticks_row}"
    );
    let file = &store["file"];
    assert!(
        file["file_bytes"].as_u64().unwrap() >= file["live_bytes"].as_u64().unwrap(),
        "{file}"
    );
    assert!(
        audit["monitoring"]["bytes"].as_u64().unwrap() > 0,
        "{audit}"
    );
    assert_eq!(audit["spool"], Value::Array(Vec::new()));
    // The table form names the file and the class rows.
    let text = env.ok(&["db", "audit"]);
    assert!(text.contains("tick_data"), "{text}");
    assert!(text.contains("q.duckdb"), "{text}");
}

// ---------------------------------------------------------------------------------------------------------
// copy
// ---------------------------------------------------------------------------------------------------------

#[test]
fn copy_resumes_verifies_reports_mismatches_and_switches_the_route() {
    let env = demo_env(4);
    add_other_store(&env);
    append_config(&env, "# the team's own note, kept by --switch\n");
    let before = rows_of(&env, "daily_kline");

    let report = json(&env, &["copy", "daily_kline", "--to", "other"]);
    assert_eq!(report["from"], "embedded");
    assert_eq!(report["to"], "other");
    assert_eq!(report["series"], 4);
    assert_eq!(report["series_skipped"], 0);
    assert_eq!(report["rows_copied"].as_u64(), Some(before.len() as u64));
    assert_eq!(report["rows_target"].as_u64(), Some(before.len() as u64));
    assert_eq!(report["checksum_source"], report["checksum_target"]);
    assert_eq!(report["mismatches"], Value::Array(Vec::new()));
    assert_eq!(report["switch"]["applied"], false);
    assert_eq!(report["switch"]["new"], "  daily_kline: other");

    // A re-run finds every series complete and copies nothing.
    let again = json(&env, &["copy", "daily_kline", "--to", "other"]);
    assert_eq!(again["series_skipped"], 4);
    assert_eq!(again["rows_copied"], 0);

    // One value changed on the target (same rows, same span): the verification names the series.
    // A second config in the same folder (store paths are relative to it) that routes the class to `other`.
    let other_config = env.path("other.yaml");
    let yaml = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("routes:\n", "routes:\n  daily_kline: other\n");
    std::fs::write(&other_config, yaml).unwrap();
    let row_file = env.path("row.csv");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantdal"))
            .arg("--config")
            .arg(&other_config)
            .args(args)
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "export",
        "daily_kline",
        row_file.to_str().unwrap(),
        "--limit",
        "1",
    ]);
    let text = std::fs::read_to_string(&row_file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let close = header.iter().position(|c| *c == "close").unwrap();
    let symbol_at = header.iter().position(|c| *c == "symbol").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let symbol = cells[symbol_at].clone();
    cells[close] = format!("{}", cells[close].parse::<f64>().unwrap() + 1.0);
    lines[1] = cells.join(",");
    std::fs::write(&row_file, lines.join("\n") + "\n").unwrap();
    run(&["import", "daily_kline", row_file.to_str().unwrap()]);
    let run_copy = env.run(&["copy", "daily_kline", "--to", "other", "--switch"]);
    assert_eq!(run_copy.code, Some(1), "{}", run_copy.stdout);
    assert!(run_copy.stdout.contains("MISMATCH"), "{}", run_copy.stdout);
    assert!(run_copy.stdout.contains(&symbol), "{}", run_copy.stdout);
    assert!(
        !std::fs::read_to_string(&env.config)
            .unwrap()
            .contains("daily_kline: other"),
        "a failed verification does not switch the route"
    );

    // Repaired by copying the series again (saves are upserts), then switched in place.
    let fixed = json(
        &env,
        &[
            "copy",
            "daily_kline",
            "--to",
            "other",
            "--symbol",
            &symbol,
            "--full",
        ],
    );
    assert_eq!(fixed["mismatches"], Value::Array(Vec::new()), "{fixed}");
    let out = env.ok(&["copy", "daily_kline", "--to", "other", "--switch"]);
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("switched"), "{out}");
    let yaml = std::fs::read_to_string(&env.config).unwrap();
    assert!(yaml.contains("  daily_kline: other\n"), "{yaml}");
    assert!(
        yaml.contains("# the team's own note, kept by --switch"),
        "{yaml}"
    );
    // Loads now read the target, which holds the same rows.
    assert_eq!(rows_of(&env, "daily_kline"), before);
    let line = env.fails(&["copy", "daily_kline", "--to", "other"]);
    assert!(line.contains("same store"), "{line}");
    let line = env.fails(&["copy", "daily_kline", "--to", "nowhere"]);
    assert!(line.contains("not a store"), "{line}");
}

// ---------------------------------------------------------------------------------------------------------
// compact
// ---------------------------------------------------------------------------------------------------------

#[test]
fn compact_shrinks_a_churned_file_and_keeps_every_row() {
    let env = demo_env(6);
    // Churn: the demo re-saved (same seed, so same keys) and big deletes, repeatedly.
    for _ in 0..3 {
        env.ok(&["demo", "--symbols", "6"]);
        env.ok(&["delete", "tick_data", "--where", "volume < 300"]);
        env.ok(&["delete", "depth_data", "--where", "level > 3"]);
    }
    let classes = ["tick_data", "depth_data", "daily_kline", "minute_kline"];
    let before: Vec<Vec<String>> = classes.iter().map(|c| rows_of(&env, c)).collect();
    let size_before = std::fs::metadata(env.db()).unwrap().len();

    let dry = json(&env, &["db", "compact", "--dry-run"]);
    assert_eq!(dry[0]["dry_run"], true);
    assert_eq!(std::fs::metadata(env.db()).unwrap().len(), size_before);
    assert!(duckdb_backups(&env).is_empty(), "a dry run writes nothing");

    let done = json(&env, &["db", "compact", "--keep", "1"]);
    let file = &done[0]["file"];
    let after = std::fs::metadata(env.db()).unwrap().len();
    assert_eq!(file["bytes_after"].as_u64(), Some(after));
    assert!(
        after < size_before,
        "the file shrinks: {size_before} -> {after}"
    );
    assert!(file["backup"].is_string(), "{file}");
    let now: Vec<Vec<String>> = classes.iter().map(|c| rows_of(&env, c)).collect();
    assert!(now == before, "every row survives");

    // --keep 1 leaves one backup however often it runs.
    env.ok(&["db", "compact", "--keep", "1"]);
    assert_eq!(duckdb_backups(&env).len(), 1);

    // Another process holding the file (a writer): a one-line error naming it, and no swap.
    let mut holder = env.spawn(&["demo", "--symbols", "300", "--days", "3"]);
    std::thread::sleep(Duration::from_secs(2));
    let run = env.run(&["db", "compact"]);
    let still_running = matches!(holder.try_wait(), Ok(None));
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(still_running, "the writer ended before the compaction ran");
    assert_one_line_error(&run, "compact while another process holds the file");
    assert!(
        run.stderr.contains("q.duckdb") && run.stderr.contains("another process"),
        "{}",
        run.stderr
    );
    assert_eq!(duckdb_backups(&env).len(), 1, "nothing was swapped");
}

fn duckdb_backups(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("q.duckdb.bak-") && !n.ends_with(".wal"))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// backup, restore
// ---------------------------------------------------------------------------------------------------------

#[test]
fn backup_restores_verified_and_refuses_damage_and_other_specs() {
    let env = demo_env(3);
    add_other_store(&env);
    let dir = env.path("backup");
    let dir_text = dir.to_str().unwrap().to_string();
    let manifest = json(&env, &["backup", &dir_text]);
    let entries = manifest["classes"].as_array().unwrap();
    let ticks = entries.iter().find(|c| c["class"] == "tick_data").unwrap();
    assert_eq!(ticks["rows"].as_u64(), Some(count(&env, "tick_data")));
    assert_eq!(ticks["series"], 3);
    assert!(ticks["first"].is_string() && ticks["last"].is_string());
    assert!(dir.join("manifest.json").is_file());
    assert!(dir.join("tick_data.parquet").is_file());

    // Into another store: every class verified against the manifest.
    let restored = json(&env, &["restore", &dir_text, "--to", "other"]);
    let restored = restored.as_array().unwrap();
    assert_eq!(restored.len(), entries.len());
    for r in restored {
        assert_eq!(r["verified"], true, "{r}");
        assert_eq!(r["store"], "other");
    }
    // Restoring again is safe (upserts) and changes nothing.
    let again = json(
        &env,
        &[
            "restore",
            &dir_text,
            "--to",
            "other",
            "--class",
            "tick_data",
        ],
    );
    assert_eq!(again[0]["verified"], true);
    assert_eq!(again[0]["rows_target"], ticks["rows"]);

    // A damaged file: refused before anything is written. The target is a fresh embedded file
    // (`third.duckdb`, every class routed to it) in a folder of its own.
    let fresh = Env::new();
    std::fs::write(
        &fresh.config,
        std::fs::read_to_string(&env.config)
            .unwrap()
            .replace("path: q.duckdb", "path: third.duckdb"),
    )
    .unwrap();
    let damaged = env.path("damaged");
    copy_dir(&dir, &damaged);
    let file = damaged.join("daily_kline.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let line = fresh.fails(&["restore", damaged.to_str().unwrap()]);
    assert!(
        line.contains("damaged") && line.contains("daily_kline"),
        "{line}"
    );
    if fresh.path("third.duckdb").exists() {
        let overview = json(&fresh, &["overview"]);
        let rows: u64 = overview
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rows"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(rows, 0, "nothing restored: {overview}");
    }

    // A manifest whose spec is not the target's: refused, naming the difference.
    let other_spec = env.path("other_spec");
    copy_dir(&dir, &other_spec);
    let path = other_spec.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in m["classes"].as_array_mut().unwrap() {
        if c["class"] == "daily_kline" {
            let columns = c["spec"]["columns"].as_array_mut().unwrap();
            let close = columns
                .iter_mut()
                .find(|col| col["name"] == "close")
                .unwrap();
            close["name"] = Value::String("close_price".into());
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let line = fresh.fails(&[
        "restore",
        other_spec.to_str().unwrap(),
        "--class",
        "daily_kline",
    ]);
    assert!(line.contains("refused") && line.contains("close"), "{line}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------

fn pg_url() -> Option<String> {
    match std::env::var("QUANTDAL_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "QUANTDAL_TEST_PG_URL is not set"
            );
            eprintln!("QUANTDAL_TEST_PG_URL is not set: skipping");
            None
        }
    }
}

/// Drops the test's schema however the test ends.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                &self.url,
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .status();
    }
}

fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-Atqc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// With TimescaleDB on the server: compresses every chunk of the class hypertables in `schema` and returns
/// how many chunks are compressed (`None` on plain PostgreSQL, where the test takes the plain path).
fn compress_hypertables(url: &str, schema: &str) -> Option<u64> {
    if psql(
        url,
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'",
    ) != "1"
    {
        return None;
    }
    psql(
        url,
        &format!(
            "SELECT count(compress_chunk(c, true)) FROM timescaledb_information.hypertables h, \
             LATERAL show_chunks(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) c \
             WHERE h.hypertable_schema = '{schema}'"
        ),
    );
    Some(
        psql(
            url,
            &format!(
                "SELECT count(*) FROM timescaledb_information.chunks \
                 WHERE hypertable_schema = '{schema}' AND is_compressed"
            ),
        )
        .parse()
        .unwrap(),
    )
}

/// The demo on the embedded store, copied to PostgreSQL and back into a fresh DuckDB file, every copy
/// verified row by row; then sql, audit, compact and a backup / restore on PostgreSQL.
/// On TimescaleDB the class tables are hypertables and every chunk is compressed before the round trip back,
/// a re-copy upserts into the compressed chunks, and the restore writes into them.
#[test]
fn postgres_copy_round_trip_and_operations() {
    let Some(url) = pg_url() else { return };
    let schema = Schema {
        url: url.clone(),
        name: format!("qd_cli_ops_{}", std::process::id()),
    };
    let env = demo_env(3);
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "stores:\n",
        &format!(
            "stores:\n  warehouse: {{ kind: postgres, url: \"{url}\", schema: {} }}\n  back: {{ kind: duckdb, path: back.duckdb }}\n",
            schema.name
        ),
    );
    std::fs::write(&env.config, text).unwrap();

    for class in ["daily_kline", "tick_data", "symbols", "order_records"] {
        let there = json(&env, &["copy", class, "--to", "warehouse"]);
        assert_eq!(there["mismatches"], Value::Array(Vec::new()), "{there}");
        let back = json(
            &env,
            &["copy", class, "--from", "warehouse", "--to", "back"],
        );
        assert_eq!(back["mismatches"], Value::Array(Vec::new()), "{back}");
        // The same rows on all three stores, by the order-independent checksum of every row.
        assert_eq!(there["checksum_source"], back["checksum_target"], "{class}");
        assert_eq!(there["rows_source"], back["rows_target"], "{class}");
    }
    let ticks = count(&env, "tick_data");
    assert_eq!(
        psql(
            &url,
            &format!("SELECT count(*) FROM {}.tick_data", schema.name)
        ),
        ticks.to_string()
    );

    let compressed = compress_hypertables(&url, &schema.name);
    eprintln!("compressed chunks: {compressed:?}");
    if let Some(chunks) = compressed {
        assert!(chunks > 0, "no chunk was compressed");
        for class in ["daily_kline", "tick_data"] {
            // Read back from compressed chunks, and written again into them (upserts), both verified.
            let back = json(
                &env,
                &[
                    "copy",
                    class,
                    "--from",
                    "warehouse",
                    "--to",
                    "back",
                    "--full",
                ],
            );
            assert_eq!(back["mismatches"], Value::Array(Vec::new()), "{back}");
            let again = json(&env, &["copy", class, "--to", "warehouse", "--full"]);
            assert_eq!(again["mismatches"], Value::Array(Vec::new()), "{again}");
            assert_eq!(again["checksum_target"], back["checksum_source"], "{class}");
        }
    }

    // Switch daily_kline and tick_data to PostgreSQL; sql then runs there, in a READ ONLY transaction.
    env.ok(&["copy", "daily_kline", "--to", "warehouse", "--switch"]);
    env.ok(&["copy", "tick_data", "--to", "warehouse", "--switch"]);
    assert_eq!(count(&env, "tick_data"), ticks);
    let joined = scalar(
        &env,
        "SELECT count(DISTINCT d.symbol) FROM daily_kline d JOIN tick_data t USING (symbol)",
    );
    assert_eq!(joined, "3");
    let line = env.fails(&["sql", "SELECT * FROM pg_stat_activity"]);
    assert!(line.contains("not a class"), "{line}");
    let line = env.fails(&["sql", "SELECT pg_sleep(5)"]);
    assert!(line.contains("refused"), "{line}");
    let line = env.fails(&[
        "sql",
        "SELECT count(*) FROM tick_data a, tick_data b, tick_data c",
        "--timeout",
        "300ms",
    ]);
    assert!(
        line.contains("timed out") || line.contains("timeout"),
        "{line}"
    );
    let line = env.fails(&[
        "sql",
        "SELECT count(*) FROM tick_data t JOIN symbols s USING (symbol)",
    ]);
    assert!(line.contains("spans stores"), "{line}");

    // Audit on PostgreSQL: bytes of table and indexes, and a table no class declares.
    psql(
        &url,
        &format!("CREATE TABLE {}.scratch_notes (x int)", schema.name),
    );
    let audit = json(&env, &["db", "audit"]);
    let pg = audit["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["store"] == "warehouse")
        .unwrap()
        .clone();
    assert_eq!(pg["kind"], "postgres");
    let row = pg["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "tick_data")
        .unwrap()
        .clone();
    assert_eq!(row["rows"].as_u64(), Some(ticks));
    assert!(row["table_bytes"].as_u64().unwrap_or(0) > 0, "{pg}");
    assert!(row["index_bytes"].as_u64().unwrap_or(0) > 0, "{pg}");
    assert!(
        pg["undeclared_tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap_or_default().contains("scratch_notes")),
        "{pg}"
    );

    // Compact on PostgreSQL: VACUUM (ANALYZE) of the class tables.
    let done = json(&env, &["db", "compact", "--store", "warehouse"]);
    let statements = done[0]["statements"].as_array().unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s.as_str().unwrap().contains("VACUUM")
                && s.as_str().unwrap().contains("tick_data")),
        "{done}"
    );

    // Back up from PostgreSQL, restore into the embedded store, verified.
    let dir = env.path("pg_backup");
    let dir_text = dir.to_str().unwrap().to_string();
    json(
        &env,
        &[
            "backup",
            &dir_text,
            "--class",
            "tick_data",
            "--class",
            "daily_kline",
        ],
    );
    let restored = json(&env, &["restore", &dir_text, "--to", "back"]);
    for r in restored.as_array().unwrap() {
        assert_eq!(r["verified"], true, "{r}");
    }
    if compressed.is_some() {
        // Into the hypertables again, onto compressed chunks: upserts of identical rows, verified.
        assert!(compress_hypertables(&url, &schema.name).unwrap_or(0) > 0);
        let restored = json(&env, &["restore", &dir_text, "--to", "warehouse"]);
        for r in restored.as_array().unwrap() {
            assert_eq!(r["verified"], true, "{r}");
        }
        assert_eq!(count(&env, "tick_data"), ticks);
    }
}

// ---------------------------------------------------------------------------------------------------------
// TDengine
// ---------------------------------------------------------------------------------------------------------

/// Drops the test's TDengine database through the `taos` shell, when one is on the PATH, however the test ends.
struct TdDatabase {
    dsn: String,
    name: String,
}

impl Drop for TdDatabase {
    fn drop(&mut self) {
        // taos://user:password@host:port → the shell's flags; the password goes by argument, never printed.
        let Some(rest) = self.dsn.split_once("://").map(|(_, r)| r) else {
            return;
        };
        let (user, password, host) = match rest.split_once('@') {
            Some((userinfo, host)) => {
                let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (u, p, host)
            }
            None => ("root", "taosdata", rest),
        };
        let (host, port) = host
            .trim_end_matches('/')
            .split_once(':')
            .unwrap_or((host, "6030"));
        let _ = std::process::Command::new("taos")
            .args(["-h", host, "-P", port, "-u", user])
            .arg(format!("-p{password}"))
            .args(["-s", &format!("DROP DATABASE IF EXISTS {}", self.name)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The demo's tick data copied into TDengine and back into a fresh DuckDB file (verified), then `sql` over the
/// super-table (its guardrails included), `db compact` running `COMPACT DATABASE`, and a backup from TDengine
/// restored verified. Needs `QUANTDAL_TEST_TDENGINE_DSN` and a binary built with `tdengine-native` for a
/// `taos://` DSN.
#[test]
fn tdengine_copy_sql_and_compact() {
    let dsn = match std::env::var("QUANTDAL_TEST_TDENGINE_DSN") {
        Ok(dsn) => dsn,
        Err(_) => {
            eprintln!("QUANTDAL_TEST_TDENGINE_DSN is not set: skipping");
            return;
        }
    };
    let database = TdDatabase {
        dsn: dsn.clone(),
        name: format!("qd_cli_ops_{}", std::process::id()),
    };
    let env = demo_env(3);
    // The shipped catalog with the TDengine classes in a database of this test's own.
    let tables = std::fs::read_to_string(common::table_config())
        .unwrap()
        .replace(
            "database: market, keep: 3650, duration: 10",
            &format!(
                "database: {}, keep: 3650, duration: 10, vgroups: 1",
                database.name
            ),
        );
    std::fs::write(env.path("tables.yaml"), tables).unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap();
    let tables_line = text.lines().find(|l| l.starts_with("tables:")).unwrap();
    let text = text.replace(tables_line, "tables: tables.yaml").replace(
        "stores:\n",
        &format!(
            "stores:\n  market: {{ kind: tdengine, dsn: \"{dsn}\", pool_size: 2 }}\n  back: {{ kind: duckdb, path: back.duckdb }}\n"
        ),
    );
    std::fs::write(&env.config, text).unwrap();

    let there = json(&env, &["copy", "tick_data", "--to", "market", "--switch"]);
    assert_eq!(there["mismatches"], Value::Array(Vec::new()), "{there}");
    let back = json(
        &env,
        &["copy", "tick_data", "--from", "market", "--to", "back"],
    );
    assert_eq!(back["mismatches"], Value::Array(Vec::new()), "{back}");
    assert_eq!(there["checksum_source"], back["checksum_target"]);
    let ticks = there["rows_source"].as_u64().unwrap();

    // sql now runs on TDengine, against the class's super-table.
    assert_eq!(count(&env, "tick_data"), ticks);
    let out = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT symbol, count(*) AS n, last(ts) AS last_ts FROM tick_data GROUP BY symbol ORDER BY symbol",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("symbol,n,last_ts"), "{out}");
    let summed: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(summed, ticks);
    let out = env.ok(&["sql", "SELECT * FROM tick_data", "--max-rows", "5"]);
    assert!(out.lines().count() >= 5, "{out}");
    for (statement, needle) in [
        ("DELETE FROM tick_data", "not a query"),
        ("SELECT * FROM information_schema.ins_dnodes", "not a class"),
        (
            "SELECT count(*) FROM tick_data t JOIN symbols s ON t.symbol = s.symbol",
            "spans stores",
        ),
    ] {
        let line = env.fails(&["sql", statement]);
        assert!(line.contains(needle), "{statement}: {line}");
    }
    assert_eq!(count(&env, "tick_data"), ticks);

    // COMPACT DATABASE, or on the community edition (which refuses it with 0x0100) a note and exit 0.
    let done = json(&env, &["db", "compact", "--store", "market"]);
    let statements = done[0]["statements"].as_array().unwrap();
    let compacted = statements.iter().any(|s| {
        s.as_str()
            .unwrap()
            .starts_with(&format!("COMPACT DATABASE `{}`", database.name))
    });
    let refused = done[0]["note"]
        .as_str()
        .is_some_and(|n| n.contains("COMPACT DATABASE") && n.contains("0x0100"));
    assert!(compacted || refused, "{done}");
    assert_eq!(count(&env, "tick_data"), ticks);

    let dir = env.path("td_backup");
    let dir_text = dir.to_str().unwrap().to_string();
    json(&env, &["backup", &dir_text, "--class", "tick_data"]);
    let restored = json(&env, &["restore", &dir_text, "--to", "back"]);
    for r in restored.as_array().unwrap() {
        assert_eq!(r["verified"], true, "{r}");
    }
}
