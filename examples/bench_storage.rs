//! Storage density and growth of the embedded store (docs/benchmarks.md "Storage"). DAYS successive days of
//! ROWS tick_data rows each (500 symbols) are saved one day at a time, side by side, into:
//!
//! * quantdal's embedded store (`Dal::save`: validation, upsert on the key, the series layout);
//! * raw DuckDB, the same columns with `PRIMARY KEY (symbol, ts)` (the upsert-capable table a DuckDB user
//!   writes by hand), through the Appender;
//! * one zstd Parquet file per day (a Parquet lake: no key, no upsert).
//!
//! Reported per day: save time; at the end: bytes per row of each, range loads of the first and the last
//! day, and the refresh workflow (truncate, then save a day again).
//!
//! cargo run --release -p quantdal-examples --example bench_storage -- [ROWS] [DAYS]

use std::path::Path;
use std::time::{Duration, Instant};

use quantdal::Dal;

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{
    append_in_one_transaction, load_day, rate, tick_day, write_parquet, AnyResult, DAY_MS,
    FIRST_DAY_MS,
};

const SYMBOLS: usize = 500;

const KEYED_DDL: &str = "CREATE TABLE tick_data (ts TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, \
    price DOUBLE NOT NULL, volume BIGINT NOT NULL, amount DOUBLE NOT NULL, bid_price1 DOUBLE NOT NULL, \
    bid_volume1 BIGINT NOT NULL, ask_price1 DOUBLE NOT NULL, ask_volume1 BIGINT NOT NULL, direction VARCHAR, \
    PRIMARY KEY (symbol, ts))";

/// File plus WAL, after a checkpoint so the WAL is folded in.
fn duckdb_bytes(path: &Path) -> u64 {
    let wal = {
        let mut p = path.as_os_str().to_owned();
        p.push(".wal");
        std::path::PathBuf::from(p)
    };
    [path.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn load_day_raw(conn: &duckdb::Connection, d: usize) -> AnyResult<(usize, Duration)> {
    let start = FIRST_DAY_MS + d as i64 * DAY_MS;
    let started = Instant::now();
    let mut stmt = conn.prepare(
        "SELECT * FROM tick_data WHERE ts >= make_timestamp(?::BIGINT * 1000) AND ts < make_timestamp(?::BIGINT * 1000) \
         ORDER BY symbol, ts",
    )?;
    let rows: usize = stmt
        .query_arrow([start, start + DAY_MS])?
        .map(|b| b.num_rows())
        .sum();
    Ok((rows, started.elapsed()))
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let days: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let dal = Dal::embedded(dir.path().join("q")).await?;
    dal.provision().await?;
    let keyed_path = dir.path().join("keyed.duckdb");
    let keyed = duckdb::Connection::open(&keyed_path)?;
    keyed.execute_batch(KEYED_DDL)?;
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake)?;

    println!("day | rows in table before | quantdal Dal::save rows/s | raw DuckDB keyed Appender rows/s | Parquet write rows/s");
    let mut totals = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut first_save = 0.0;
    let mut later = Vec::new();
    for d in 0..days {
        let batch = tick_day(rows, d)?;
        let n = batch.num_rows();
        // Alternate which store goes first, so neither always meets a machine busy with the other's checkpoint.
        let (q, k) = if d % 2 == 0 {
            let t = Instant::now();
            dal.save("tick_data", &batch).await?;
            let q = t.elapsed();
            (q, append_in_one_transaction(&keyed, &batch)?)
        } else {
            let k = append_in_one_transaction(&keyed, &batch)?;
            let t = Instant::now();
            dal.save("tick_data", &batch).await?;
            (t.elapsed(), k)
        };
        let p = write_parquet(&lake.join(format!("day{d:03}.parquet")), &batch)?;
        totals.0 += q;
        totals.1 += k;
        totals.2 += p;
        if d == 0 {
            first_save = rate(n, q);
        } else {
            later.push(rate(n, q));
        }
        println!(
            "{d} | {} | {:.0} | {:.0} | {:.0}",
            d * n,
            rate(n, q),
            rate(n, k),
            rate(n, p)
        );
    }
    let total_rows = (rows / SYMBOLS * SYMBOLS * days) as f64;
    let count = dal.count("tick_data").await?;
    assert_eq!(count as f64, total_rows, "every row saved once");

    // Range loads while the stores are open, before their files are measured.
    let (first_rows, first_load) = load_day(&dal, 0).await?;
    let (last_rows, last_load) = load_day(&dal, days - 1).await?;
    let (_, raw_first) = load_day_raw(&keyed, 0)?;
    let (_, raw_last) = load_day_raw(&keyed, days - 1)?;

    dal.close().await?;
    keyed.execute_batch("CHECKPOINT")?;
    drop(keyed);
    let quantdal_file = dir.path().join("q").join("quantdal.duckdb");
    let q_bytes = duckdb_bytes(&quantdal_file);
    let k_bytes = duckdb_bytes(&keyed_path);
    let p_bytes: u64 = std::fs::read_dir(&lake)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();

    // Where the embedded file's bytes are: used blocks, and per column the compression DuckDB chose.
    {
        let conn = duckdb::Connection::open(&quantdal_file)?;
        let (block, used, free): (i64, i64, i64) = conn.query_row(
            "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size()",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        println!(
            "embedded file: {} used blocks ({:.1} bytes/row), {} free blocks of {} bytes",
            used,
            (used * block) as f64 / (rows / SYMBOLS * SYMBOLS * days) as f64,
            free,
            block
        );
        let mut stmt = conn.prepare(
            "SELECT column_name, compression, count(*) AS segments, sum(count) AS values \
             FROM pragma_storage_info('tick_data') WHERE segment_type <> 'VALIDITY' \
             GROUP BY ALL ORDER BY column_name, segments DESC",
        )?;
        let mut rows_info = stmt.query([])?;
        while let Some(r) = rows_info.next()? {
            let (c, comp, segs, vals): (String, String, i64, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            println!("  {c}: {comp} x{segs} segments, {vals} values");
        }
    }

    // Refresh: delete everything, then save day 0 again (compare with day 0 into the empty table).
    let dal = Dal::embedded(dir.path().join("q")).await?;
    let t = Instant::now();
    dal.truncate("tick_data").await?;
    let truncate = t.elapsed();
    let batch = tick_day(rows, 0)?;
    let t = Instant::now();
    dal.save("tick_data", &batch).await?;
    let resave = t.elapsed();
    dal.close().await?;

    let per = |b: u64| b as f64 / total_rows;
    println!();
    println!("rows: {total_rows}");
    println!(
        "bytes/row: quantdal embedded {:.1} ({:.2}x Parquet) | raw DuckDB keyed {:.1} ({:.2}x) | zstd Parquet {:.1}",
        per(q_bytes),
        q_bytes as f64 / p_bytes as f64,
        per(k_bytes),
        k_bytes as f64 / p_bytes as f64,
        per(p_bytes)
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "Dal::save: day 0 {:.0} rows/s, later days mean {:.0} rows/s ({:.2}x), last day {:.0}",
        first_save,
        mean(&later),
        mean(&later) / first_save,
        later.last().copied().unwrap_or(first_save)
    );
    println!(
        "totals: quantdal {:.2}s, raw keyed {:.2}s, Parquet {:.2}s",
        totals.0.as_secs_f64(),
        totals.1.as_secs_f64(),
        totals.2.as_secs_f64()
    );
    println!(
        "range load of one day ({first_rows} rows): quantdal first day {:.0} rows/s, last day {:.0} rows/s | raw keyed {:.0} / {:.0}",
        rate(first_rows, first_load),
        rate(last_rows, last_load),
        rate(first_rows, raw_first),
        rate(last_rows, raw_last)
    );
    println!(
        "refresh: truncate of {total_rows} rows {:.3}s, then day 0 again {:.0} rows/s (into the empty table: {:.0})",
        truncate.as_secs_f64(),
        rate(rows / SYMBOLS * SYMBOLS, resave),
        first_save
    );
    Ok(())
}
