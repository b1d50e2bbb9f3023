//! Live-feed ingest (docs/benchmarks.md, issue 13): WRITERS concurrent tasks, each saving BATCH-row tick
//! batches of its own symbols through `Dal::save` as fast as the store answers, for SECONDS, monitoring on.
//! Prints rows/s sustained, saves/s, and the latency of each save (p50 / p99 / max), then checks that every
//! acknowledged row is in the store.
//!
//! cargo run --release -p quantdal-examples --example bench_feed -- embedded [WRITERS] [BATCH] [SECONDS]
//! POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p quantdal-examples --example bench_feed -- postgres [WRITERS] [BATCH] [SECONDS]
//! TDENGINE_DSN=taos://root:taosdata@localhost:6030 cargo run --release -p quantdal-examples \
//!   --features quantdal/tdengine-native --example bench_feed -- tdengine [WRITERS] [BATCH] [SECONDS]
//!
//! On TDengine `tick_data` (database `market` of the built-in table config) is emptied first; the classes
//! routed to PostgreSQL and Redis stay on an embedded file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, DurationMillisecondArray, RecordBatch, TimestampMillisecondArray,
};
use arrow::compute::kernels::numeric::add;
use quantdal::{Catalog, Dal, OpenOptions, Settings};

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{tick_grid, AnyResult};

const SCHEMA: &str = "quantdal_bench_feed";
/// Symbols per writer: a batch holds BATCH / SYMBOLS ticks of each, the next batch the following ticks.
const SYMBOLS: usize = 50;
const STEP_MS: i64 = 3_000;

async fn open(store: &str, dir: &std::path::Path) -> AnyResult<Dal> {
    let catalog = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    let settings = match store {
        "embedded" => Settings::embedded(dir.join("feed.duckdb"), "<built-in>".into()),
        "postgres" => {
            let url = postgres_url();
            let yaml = format!(
                "version: 1\napplication: quantdal-bench\ntables: table_config.yaml\nstores:\n  pg:\n    kind: postgres\n    url: \"{url}\"\n    schema: {SCHEMA}\n    timescale: off\nroutes:\n  tdengine: pg\n  postgres: pg\n  redis: pg\n"
            );
            Settings::from_yaml(&yaml, "<bench>", dir, &|_| None)?
        }
        "tdengine" => {
            let dsn = std::env::var("TDENGINE_DSN")
                .unwrap_or_else(|_| "taos://root:taosdata@localhost:6030".into());
            let local = dir.join("local.duckdb");
            let yaml = format!(
                "version: 1\napplication: quantdal-bench\ntables: table_config.yaml\nstores:\n  td:\n    kind: tdengine\n    dsn: \"{dsn}\"\n  local:\n    kind: duckdb\n    path: \"{}\"\nroutes:\n  tdengine: td\n  postgres: local\n  redis: local\n",
                local.display()
            );
            Settings::from_yaml(&yaml, "<bench>", dir, &|_| None)?
        }
        other => return Err(format!("store `{other}`: embedded, postgres or tdengine").into()),
    };
    assert!(
        settings.monitoring.enabled,
        "the feed is measured with monitoring on"
    );
    Ok(Dal::from_parts(settings, catalog, OpenOptions::default()).await?)
}

/// Writer `w`'s batch number `i`: its symbols' next ticks (the base batch shifted forward in time).
fn batch_at(base: &RecordBatch, i: i64, per: i64) -> AnyResult<RecordBatch> {
    let ts = base.column(0);
    let shift = DurationMillisecondArray::new_scalar(i * per * STEP_MS);
    let shifted: ArrayRef = add(ts, &shift)?;
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns[0] = Arc::new(
        shifted
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or("timestamp column")?
            .clone()
            .with_timezone("UTC"),
    );
    Ok(RecordBatch::try_new(base.schema(), columns)?)
}

/// Drops the benchmark's schema on the PostgreSQL server (before a run, and after it).
async fn drop_schema() -> AnyResult<()> {
    let admin = quantdal_postgres::connect_client(&postgres_url(), "quantdal-bench-admin").await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    Ok(())
}

fn postgres_url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).cloned().unwrap_or_else(|| "embedded".into());
    let writers: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(16);
    let batch: usize = args.get(3).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let seconds: u64 = args.get(4).map(|a| a.parse()).transpose()?.unwrap_or(20);
    let per = batch.div_ceil(SYMBOLS);

    let dir = tempfile::tempdir()?;
    if store == "postgres" {
        drop_schema().await?;
    }
    let dal = Arc::new(open(&store, dir.path()).await?);
    dal.provision().await?;
    if store == "tdengine" {
        dal.truncate("tick_data").await?;
    }
    let bases: Vec<RecordBatch> = (0..writers)
        .map(|w| {
            let grid = tick_grid(w * SYMBOLS, SYMBOLS, per, 1_704_159_000_000, STEP_MS)?;
            Ok(grid.slice(0, batch.min(grid.num_rows())))
        })
        .collect::<AnyResult<_>>()?;
    // Warm-up, not measured: each writer's first batch (pool connections, plans, table state).
    for base in &bases {
        dal.save("tick_data", base).await?;
    }

    let duration = Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for base in bases {
        let dal = dal.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut rows = 0usize;
            let mut i = 1;
            while started.elapsed() < duration {
                let next = batch_at(&base, i, per as i64).map_err(|e| e.to_string())?;
                let t = Instant::now();
                dal.save("tick_data", &next)
                    .await
                    .map_err(|e| e.to_string())?;
                latencies.push(t.elapsed());
                rows += next.num_rows();
                i += 1;
            }
            Ok::<_, String>((latencies, rows))
        }));
    }
    let mut latencies = Vec::new();
    let mut rows = 0;
    for task in tasks {
        let (l, r) = task.await??;
        latencies.extend(l);
        rows += r;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let held = dal.count("tick_data").await?;
    let expected = rows + writers * batch;
    println!(
        "{store}: {writers} writers x {batch}-row batches, {:.1} s: {rows} rows, {:.0} rows/s, {:.0} saves/s; \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; rows held {held} (expected {expected})",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50).as_secs_f64() * 1e3,
        percentile(&latencies, 99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    assert_eq!(held as usize, expected, "every acknowledged row is held");
    if let Ok(dal) = Arc::try_unwrap(dal) {
        dal.close().await?;
    }
    if store == "postgres" {
        drop_schema().await?;
    }
    Ok(())
}
