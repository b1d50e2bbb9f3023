//! Embedded-store benchmark (docs/benchmarks.md). Every variant writes the same 1,000,000 tick rows
//! (10 columns, keyed on symbol + ts) into an empty keyed table in a fresh file, in one process, alternating
//! variants each round so machine noise hits them alike; the median of the rounds is reported.
//!
//! cargo run --release -p quantdal-examples --example bench_embedded -- [ROWS] [ROUNDS]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use duckdb::vtab::arrow::{ArrowBatchRegistration, ArrowVTab};
use futures::TryStreamExt;
use quantdal::{Dal, Load, Timestamp};
use quantdal_core::{normalize_batch, SaveOptions};

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{append_in_one_transaction, median, rate, strip_tz, ticks, AnyResult};

/// Plain DuckDB: same DDL, one `INSERT INTO … SELECT * FROM arrow(?)` (no upsert clause, no validation).
fn raw_duckdb_insert(
    dir: &Path,
    spec: &quantdal::TableSpec,
    batch: &RecordBatch,
) -> AnyResult<Duration> {
    let conn = duckdb::Connection::open(dir.join("raw.duckdb"))?;
    conn.register_table_function::<ArrowVTab>("arrow")?;
    for stmt in quantdal_duckdb::create_statements(spec) {
        conn.execute_batch(&stmt)?;
    }
    // DuckDB takes tz-less timestamps at the column's exact unit (see the store).
    let plain = strip_tz(batch)?;
    let started = Instant::now();
    let reg = ArrowBatchRegistration::new(plain);
    conn.execute("INSERT INTO tick_data SELECT * FROM arrow(?)", [&reg])?;
    Ok(started.elapsed())
}

/// Plain DuckDB through its Appender (`append_record_batch`) into the same keyed table, one transaction.
fn raw_duckdb_appender(
    dir: &Path,
    spec: &quantdal::TableSpec,
    batch: &RecordBatch,
) -> AnyResult<Duration> {
    let conn = duckdb::Connection::open(dir.join("raw_app.duckdb"))?;
    for stmt in quantdal_duckdb::create_statements(spec) {
        conn.execute_batch(&stmt)?;
    }
    append_in_one_transaction(&conn, batch)
}

async fn fresh_dal(dir: &Path) -> AnyResult<Dal> {
    let dal = Dal::embedded(dir).await?;
    dal.provision().await?;
    Ok(dal)
}

fn quantdal_binary() -> PathBuf {
    std::env::var_os("QUANTDAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap_or_default();
            // target/release/examples/bench_embedded → target/release/quantdal
            exe.parent()
                .and_then(Path::parent)
                .map(|d| d.join("quantdal"))
                .unwrap_or_default()
        })
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let batch = ticks(rows)?;
    let probe = tempfile::tempdir()?;
    let spec = Dal::embedded(probe.path()).await?.spec("tick_data")?;
    let normalized = normalize_batch(&spec, &batch, &SaveOptions::default())?;

    // The same rows as a Parquet file for `quantdal import`.
    let parquet_path = probe.path().join("ticks.parquet");
    {
        let file = std::fs::File::create(&parquet_path)?;
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        w.write(&batch)?;
        w.close()?;
    }
    let bin = quantdal_binary();
    let have_bin = bin.exists();

    let mut appender = vec![];
    let mut resave = vec![];
    let (mut raw, mut store, mut dal_t, mut validate, mut import, mut load, mut load_store) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let dir = tempfile::tempdir()?;
        raw.push(raw_duckdb_insert(dir.path(), &spec, &batch)?);
        appender.push(raw_duckdb_appender(dir.path(), &spec, &batch)?);

        // Alternate which of the two goes first, so neither always meets a cold or a busy machine.
        for variant in [round % 2, 1 - round % 2] {
            let dir = tempfile::tempdir()?;
            let dal = fresh_dal(dir.path()).await?;
            if variant == 0 {
                let (spec, direct) = dal.store_for("tick_data")?;
                let t = Instant::now();
                direct.save(&spec, normalized.clone()).await?;
                store.push(t.elapsed());
                let t = Instant::now();
                let q = Load::all().resolve(&spec)?;
                let batches = direct.load(&spec, q).await?.try_collect::<Vec<_>>().await?;
                load_store.push(t.elapsed());
                assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), rows);
            } else {
                let t = Instant::now();
                let _ = normalize_batch(&spec, &batch, &SaveOptions::default())?;
                validate.push(t.elapsed());
                let t = Instant::now();
                let report = dal.save("tick_data", &batch).await?;
                dal_t.push(t.elapsed());
                assert_eq!(report.rows as usize, rows);
                // The same rows again: every row conflicts, so this measures the upsert path.
                let t = Instant::now();
                dal.save("tick_data", &batch).await?;
                resave.push(t.elapsed());
                let range = Timestamp::from_millis(1_704_159_000_000).ok_or("time")?
                    ..Timestamp::from_millis(1_704_159_000_000 + 86_400_000).ok_or("time")?;
                let t = Instant::now();
                let batches = dal.load("tick_data", Load::range(range)).await?;
                load.push(t.elapsed());
                assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), rows);
            }
            drop(dal);
        }

        if have_bin {
            let dir = tempfile::tempdir()?;
            let cfg = dir.path().join("quantdal.yaml");
            let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/table_config.yaml");
            std::fs::write(
                &cfg,
                format!(
                    "version: 1\ntables: {}\nstores:\n  embedded:\n    kind: duckdb\n    path: q.duckdb\nroutes:\n  tdengine: embedded\n  postgres: embedded\n  redis: embedded\n",
                    tables.display()
                ),
            )?;
            let ok = std::process::Command::new(&bin)
                .arg("--config")
                .arg(&cfg)
                .arg("provision")
                .output()?;
            if !ok.status.success() {
                return Err(
                    format!("provision failed: {}", String::from_utf8_lossy(&ok.stderr)).into(),
                );
            }
            let t = Instant::now();
            let out = std::process::Command::new(&bin)
                .arg("--config")
                .arg(&cfg)
                .arg("import")
                .arg("tick_data")
                .arg(&parquet_path)
                .arg("--chunk-rows")
                .arg(rows.to_string())
                .output()?;
            import.push(t.elapsed());
            if !out.status.success() {
                return Err(
                    format!("import failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
                );
            }
        }
        eprintln!("round {} done", round + 1);
    }

    let (raw, store, dal_t, validate, load, load_store) = (
        median(raw),
        median(store),
        median(dal_t),
        median(validate),
        median(load),
        median(load_store),
    );
    println!("rows: {rows}, rounds: {rounds} (median)\n");
    println!("| measurement | time | rows/s | ratio |");
    println!("|---|---:|---:|---|");
    println!("| raw DuckDB `INSERT … SELECT FROM arrow(?)` into the keyed table | {:.3} s | {:.0} | baseline |", raw.as_secs_f64(), rate(rows, raw));
    let appender = median(appender);
    let resave = median(resave);
    println!(
        "| `Dal::save` again, same rows (every row conflicts: upsert path) | {:.3} s | {:.0} | {:.2}× raw |",
        resave.as_secs_f64(),
        rate(rows, resave),
        rate(rows, resave) / rate(rows, raw)
    );
    println!(
        "| raw DuckDB Appender (`append_record_batch`) into the keyed table, one transaction | {:.3} s | {:.0} | {:.2}× raw |",
        appender.as_secs_f64(),
        rate(rows, appender),
        rate(rows, appender) / rate(rows, raw)
    );
    println!(
        "| `DuckDbStore::save` (upsert, no router/validation) | {:.3} s | {:.0} | {:.2}× raw |",
        store.as_secs_f64(),
        rate(rows, store),
        rate(rows, store) / rate(rows, raw)
    );
    println!(
        "| `Dal::save` (router + validation + layers + upsert) | {:.3} s | {:.0} | {:.2}× raw |",
        dal_t.as_secs_f64(),
        rate(rows, dal_t),
        rate(rows, dal_t) / rate(rows, raw)
    );
    println!(
        "| of which `normalize_batch` alone | {:.1} ms | | {:.1}% of `Dal::save` |",
        validate.as_secs_f64() * 1e3,
        validate.as_secs_f64() / dal_t.as_secs_f64() * 100.0
    );
    println!(
        "| router + validation overhead (`Dal::save` vs store) | | | {:+.1}% |",
        (dal_t.as_secs_f64() / store.as_secs_f64() - 1.0) * 100.0
    );
    if !import.is_empty() {
        let import = median(import);
        println!("| `quantdal import` of the same rows from Parquet (whole process) | {:.3} s | {:.0} | {:.2}× `Dal::save` time |", import.as_secs_f64(), rate(rows, import), import.as_secs_f64() / dal_t.as_secs_f64());
    } else {
        println!(
            "| `quantdal import` | skipped: {} not built | | |",
            bin.display()
        );
    }
    println!(
        "| `Dal::load` by time range (all rows) | {:.3} s | {:.0} | |",
        load.as_secs_f64(),
        rate(rows, load)
    );
    println!(
        "| store `load` direct (all rows) | {:.3} s | {:.0} | |",
        load_store.as_secs_f64(),
        rate(rows, load_store)
    );
    Ok(())
}
