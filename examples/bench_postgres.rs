//! PostgreSQL store benchmark (docs/benchmarks.md): 1,000,000 tick rows (10 columns, keyed on symbol + ts)
//! saved into an empty keyed table, saved again (every row conflicts), loaded back by time range into Arrow;
//! and 10,000 daily bars upserted into a table that already holds them. Medians over the rounds.
//!
//! POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p quantdal-examples --example bench_postgres -- [ROWS] [ROUNDS] [PARQUET_OUT]
//!
//! With PARQUET_OUT the tick rows are also written there, for `scripts/pg_baseline.py` to load the very same
//! data (see `scripts/bench_postgres.sh`, which runs both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use quantdal::{Catalog, Dal, Load, OpenOptions, Settings, Timestamp};

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{median, rate, ticks, AnyResult};

const SCHEMA: &str = "qd_bench";

async fn open(url: &str) -> AnyResult<Dal> {
    // Every class on PostgreSQL, plain tables (the same on any server), in a schema of its own.
    let yaml = format!(
        "version: 1\napplication: quantdal-bench\ntables: table_config.yaml\nstores:\n  pg:\n    kind: postgres\n    url: \"{url}\"\n    schema: {SCHEMA}\n    timescale: off\n    pool_size: 4\nroutes:\n  tdengine: pg\n  postgres: pg\n  redis: pg\nretry:\n  max_attempts: 1\n"
    );
    let settings = Settings::from_yaml(&yaml, "<bench>", std::path::Path::new("."), &|_| None)?;
    let catalog = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    Ok(Dal::from_parts(settings, catalog, OpenOptions::default()).await?)
}

/// `symbols` × `days` daily bars.
fn daily_bars(symbols: usize, days: usize) -> AnyResult<RecordBatch> {
    let n = symbols * days;
    let mut date = Vec::with_capacity(n);
    let mut sym = Vec::with_capacity(n);
    let mut price = Vec::with_capacity(n);
    let mut volume = Vec::with_capacity(n);
    for s in 0..symbols {
        for d in 0..days {
            date.push(19_723 + d as i32);
            sym.push(format!("{:06}.SZ", s));
            price.push(10.0 + (s % 97) as f64 + d as f64 * 0.01);
            volume.push(((s * 31 + d * 7) % 10_000) as i64 * 100);
        }
    }
    let f = |delta: f64| {
        Arc::new(Float64Array::from_iter_values(
            price.iter().map(|p| p + delta),
        )) as _
    };
    Ok(RecordBatch::try_from_iter(vec![
        ("trade_date", Arc::new(Date32Array::from(date)) as _),
        ("symbol", Arc::new(StringArray::from(sym)) as _),
        ("open", f(0.0)),
        ("high", f(0.5)),
        ("low", f(-0.5)),
        ("close", f(0.25)),
        ("pre_close", f(-0.1)),
        ("volume", Arc::new(Int64Array::from(volume)) as _),
        ("amount", f(1_000.0)),
        (
            "adj_factor",
            Arc::new(Float64Array::from(vec![1.0; n])) as _,
        ),
        ("pct_chg", Arc::new(Float64Array::from(vec![0.35; n])) as _),
        (
            "is_suspended",
            Arc::new(BooleanArray::from(vec![false; n])) as _,
        ),
    ])?)
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let parquet_out = args.get(3).cloned();
    let url = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());

    let batch = ticks(rows)?;
    if let Some(path) = &parquet_out {
        let file = std::fs::File::create(path)?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        writer.write(&batch)?;
        writer.close()?;
    }
    let admin = quantdal_postgres::connect_client(&url, "quantdal-bench-admin").await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let dal = open(&url).await?;
    dal.provision().await?;

    let (first, last) = {
        let ts = batch
            .column_by_name("ts")
            .ok_or("ts")?
            .as_any()
            .downcast_ref::<arrow::array::TimestampMillisecondArray>()
            .ok_or("ts type")?;
        let min = arrow::compute::min(ts).ok_or("empty")?;
        let max = arrow::compute::max(ts).ok_or("empty")?;
        (min, max + 1)
    };
    let range = Load::range(
        Timestamp::from_millis(first).ok_or("ts range")?
            ..Timestamp::from_millis(last).ok_or("ts range")?,
    );

    // Profiling aid: QUANTDAL_BENCH_ONLY_LOADS=N saves once, then only loads N times.
    if let Some(n) = std::env::var("QUANTDAL_BENCH_ONLY_LOADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        dal.save("tick_data", &batch).await?;
        for _ in 0..n {
            let t = Instant::now();
            let loaded = dal.load("tick_data", range.clone()).await?;
            let got: usize = loaded.iter().map(|b| b.num_rows()).sum();
            eprintln!("load {got} rows in {:?}", t.elapsed());
        }
        return Ok(());
    }
    let (mut fresh, mut again, mut loads) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        // TRUNCATE, not DELETE: every round starts from a really empty table and index.
        admin
            .batch_execute(&format!("TRUNCATE {SCHEMA}.tick_data"))
            .await?;
        let t = Instant::now();
        dal.save("tick_data", &batch).await?;
        fresh.push(t.elapsed());

        let t = Instant::now();
        dal.save("tick_data", &batch).await?;
        again.push(t.elapsed());

        let t = Instant::now();
        let loaded = dal.load("tick_data", range.clone()).await?;
        loads.push(t.elapsed());
        let n: usize = loaded.iter().map(|b| b.num_rows()).sum();
        if n != rows {
            return Err(format!("loaded {n} rows, expected {rows}").into());
        }
        eprintln!(
            "round {round}: save {:?}, re-save {:?}, load {:?}",
            fresh[round], again[round], loads[round]
        );
    }

    // Re-saving the very rows skips unchanged ones (the usual retry); a changed price rewrites every row.
    let changed = {
        let price = batch.column_by_name("price").ok_or("price")?;
        let bumped = arrow::compute::kernels::numeric::add(
            price,
            &arrow::array::Float64Array::new_scalar(0.01),
        )?;
        let idx = batch.schema().index_of("price")?;
        let mut cols = batch.columns().to_vec();
        cols[idx] = bumped;
        RecordBatch::try_new(batch.schema(), cols)?
    };
    let mut rewrites = Vec::new();
    for _ in 0..rounds {
        admin
            .batch_execute(&format!("TRUNCATE {SCHEMA}.tick_data"))
            .await?;
        dal.save("tick_data", &batch).await?;
        let t = Instant::now();
        dal.save("tick_data", &changed).await?;
        rewrites.push(t.elapsed());
    }

    let bars = daily_bars(1_000, 10)?;
    dal.save("daily_kline", &bars).await?;
    let mut upserts: Vec<Duration> = Vec::new();
    for _ in 0..(rounds * 5).max(10) {
        let t = Instant::now();
        dal.save("daily_kline", &bars).await?;
        upserts.push(t.elapsed());
    }

    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let (s, r, l, u) = (median(fresh), median(again), median(loads), median(upserts));
    let w = median(rewrites);
    println!(
        "PostgreSQL store, {rows} tick rows, {rounds} rounds (medians), url tls: {}",
        tls_of(&url)
    );
    println!("| operation | time | rows/s |");
    println!("|---|---|---|");
    println!(
        "| save into empty keyed table | {s:.2?} | {:.0} |",
        rate(rows, s)
    );
    println!(
        "| re-save, every row conflicts (same values) | {r:.2?} | {:.0} |",
        rate(rows, r)
    );
    println!(
        "| re-save, every row conflicts (price changed) | {w:.2?} | {:.0} |",
        rate(rows, w)
    );
    println!(
        "| load by time range into Arrow | {l:.2?} | {:.0} |",
        rate(rows, l)
    );
    println!(
        "| upsert 10,000 daily bars already held | {u:.2?} | {:.0} |",
        rate(10_000, u)
    );
    Ok(())
}

fn tls_of(url: &str) -> &'static str {
    if url.contains("sslmode=disable") {
        "off"
    } else if url.contains("sslmode=require") || url.contains("sslmode=verify") {
        "required"
    } else {
        "prefer (encrypted when the server offers TLS)"
    }
}
