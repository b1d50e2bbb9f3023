//! Monitoring overhead (docs/benchmarks.md): `Dal::save` of the same tick rows into a fresh embedded
//! store with monitoring on (inline quality checks of the shipped tick_data config included) and off,
//! alternating variants each round; then the p99 of 1,000 small loads on and off. Medians reported.
//!
//! cargo run --release -p quantdal-examples --example bench_monitoring -- [ROWS] [ROUNDS]

use std::time::{Duration, Instant};

use quantdal::{Catalog, Dal, Load, OpenOptions, Settings};

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{median, rate, ticks, AnyResult};

async fn open(dir: &std::path::Path, monitoring: bool) -> AnyResult<Dal> {
    let mut settings = Settings::embedded(dir.join("q.duckdb"), "<built-in>".into());
    settings.monitoring.enabled = monitoring;
    let catalog = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    Ok(Dal::from_parts(settings, catalog, OpenOptions::default()).await?)
}

async fn save_once(batch: &arrow::array::RecordBatch, monitoring: bool) -> AnyResult<Duration> {
    let dir = tempfile::tempdir()?;
    let dal = open(dir.path(), monitoring).await?;
    dal.provision().await?;
    let started = Instant::now();
    dal.save("tick_data", batch).await?;
    let took = started.elapsed();
    dal.close().await?;
    Ok(took)
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99).div_ceil(100) - 1]
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(5);
    let batch = ticks(rows)?;

    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which variant goes first so drift hits both alike.
        for monitoring in [round % 2 == 0, round % 2 != 0] {
            let d = save_once(&batch, monitoring).await?;
            if monitoring {
                on.push(d)
            } else {
                off.push(d)
            }
        }
    }
    let (m_on, m_off) = (median(on), median(off));
    println!(
        "save {rows} ticks: monitoring on {:.3}s ({:.0} rows/s), off {:.3}s ({:.0} rows/s), overhead {:+.1}%",
        m_on.as_secs_f64(),
        rate(rows, m_on),
        m_off.as_secs_f64(),
        rate(rows, m_off),
        (m_on.as_secs_f64() / m_off.as_secs_f64() - 1.0) * 100.0
    );

    // Small loads: one symbol, 20 rows, from a store holding the batch.
    let symbol = {
        let col = batch.column_by_name("symbol").ok_or("no symbol column")?;
        arrow::array::AsArray::as_string::<i32>(col.as_ref())
            .value(0)
            .to_string()
    };
    let (mut p_on, mut p_off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for monitoring in [round % 2 == 0, round % 2 != 0] {
            let dir = tempfile::tempdir()?;
            let dal = open(dir.path(), monitoring).await?;
            dal.provision().await?;
            dal.save("tick_data", &batch.slice(0, batch.num_rows().min(100_000)))
                .await?;
            let mut lat = Vec::with_capacity(1000);
            for _ in 0..1000 {
                let started = Instant::now();
                dal.load(
                    "tick_data",
                    Load::all().symbols([symbol.as_str()]).limit(20),
                )
                .await?;
                lat.push(started.elapsed());
            }
            dal.close().await?;
            if monitoring {
                p_on.push(p99(lat))
            } else {
                p_off.push(p99(lat))
            }
        }
    }
    let (q_on, q_off) = (median(p_on), median(p_off));
    println!(
        "1000 small loads, p99: monitoring on {:.3} ms, off {:.3} ms, overhead {:+.1}%",
        q_on.as_secs_f64() * 1e3,
        q_off.as_secs_f64() * 1e3,
        (q_on.as_secs_f64() / q_off.as_secs_f64() - 1.0) * 100.0
    );
    Ok(())
}
