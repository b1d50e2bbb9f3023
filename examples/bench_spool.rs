//! Spool benchmark (docs/benchmarks.md, docs/spool.md): what the spool layer costs while PostgreSQL is up,
//! how fast saves go into the spool while it is down, and how fast a spool drains into it afterwards.
//!
//! POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p quantdal-examples --example bench_spool -- [SAVES] [ROWS_PER_SAVE] [ROUNDS]
//!
//! 1. Store up: SAVES consecutive tick saves of ROWS_PER_SAVE distinct rows each, into an emptied table, with
//!    the spool on and with it off (same store, same schema), rounds alternating; medians.
//! 2. Store down: the same saves to a store whose URL points at a closed loopback port (connection refused,
//!    retry off): each is written to the spool, fsynced, and acknowledged as spooled.
//! 3. Replay: a second `Dal` on the live server opens the same spool folder, and `spool_replay` drains it;
//!    the table must then hold every row exactly once.
//!
//! Monitoring is off in every `Dal`, so the figures are the spool's own.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use quantdal::{Catalog, Dal, Load, OpenOptions, Settings};

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{median, rate, ticks, AnyResult};

const SCHEMA: &str = "qd_bench_spool";

async fn open(url: &str, spool: Option<&Path>) -> AnyResult<Dal> {
    let spool = match spool {
        Some(dir) => format!("{{ enabled: true, dir: \"{}\" }}", dir.display()),
        None => "{ enabled: false }".to_string(),
    };
    let yaml = format!(
        "version: 1\napplication: quantdal-bench\ntables: table_config.yaml\nstores:\n  pg:\n    kind: postgres\n    url: \"{url}\"\n    schema: {SCHEMA}\n    timescale: off\n    pool_size: 4\n    connect_timeout_ms: 1000\n    spool: {spool}\nroutes:\n  tdengine: pg\n  postgres: pg\n  redis: pg\nmonitoring:\n  enabled: false\nretry:\n  max_attempts: 1\n"
    );
    let settings = Settings::from_yaml(&yaml, "<bench>", Path::new("."), &|_| None)?;
    let catalog = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    Ok(Dal::from_parts(settings, catalog, OpenOptions::default()).await?)
}

/// Saves every slice in order; the elapsed time and how many saves were acknowledged as spooled.
async fn save_all(dal: &Dal, slices: &[RecordBatch]) -> AnyResult<(Duration, usize)> {
    let t = Instant::now();
    let mut spooled = 0;
    for s in slices {
        if dal.save("tick_data", s).await?.spooled {
            spooled += 1;
        }
    }
    Ok((t.elapsed(), spooled))
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| -> AnyResult<usize> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (saves, per_save, rounds) = (arg(1, 200)?, arg(2, 5_000)?, arg(3, 5)?);
    let url = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let rows = saves * per_save;
    let all = ticks(rows)?;
    let slices: Vec<RecordBatch> = (0..saves)
        .map(|i| all.slice(i * per_save, per_save))
        .collect();

    let admin = quantdal_postgres::connect_client(&url, "quantdal-bench-admin").await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let work = tempfile::tempdir()?;
    let up_spool = work.path().join("spool-up");
    let with_spool = open(&url, Some(&up_spool)).await?;
    let without_spool = open(&url, None).await?;
    with_spool.provision().await?;

    // 1. Store up: on and off alternate, so drift in the server's state hits both alike.
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (dal, times) in [(&with_spool, &mut on), (&without_spool, &mut off)] {
            admin
                .batch_execute(&format!("TRUNCATE {SCHEMA}.tick_data"))
                .await?;
            let (elapsed, spooled) = save_all(dal, &slices).await?;
            if spooled != 0 {
                return Err(format!("{spooled} saves spooled with the store up").into());
            }
            times.push(elapsed);
        }
        eprintln!(
            "round {round}: spool on {:?}, off {:?}",
            on[round], off[round]
        );
    }

    // 2. Store down: a closed port on loopback refuses at once (port 1 is never listened on here).
    let spool_dir = work.path().join("spool-down");
    let down = open("postgres://postgres@127.0.0.1:1/test", Some(&spool_dir)).await?;
    let (into_spool, spooled) = save_all(&down, &slices).await?;
    if spooled != saves {
        return Err(format!("{spooled} of {saves} saves spooled with the store down").into());
    }
    let bytes: u64 = down.spool_status()?.iter().map(|s| s.bytes).sum();
    drop(down);

    // 3. Replay into the live server.
    admin
        .batch_execute(&format!("TRUNCATE {SCHEMA}.tick_data"))
        .await?;
    let t = Instant::now();
    let back = open(&url, Some(&spool_dir)).await?;
    let left = back.spool_replay().await?;
    let replay = t.elapsed();
    let pending: u64 = left.iter().map(|s| s.rows).sum();
    let held = back.count("tick_data").await?;
    let distinct = back
        .load("tick_data", Load::default().columns(["ts"]))
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    if pending != 0 || held != rows as u64 || distinct != rows {
        return Err(format!(
            "after replay: {held} rows held ({distinct} loaded), {pending} still spooled; expected {rows}"
        )
        .into());
    }
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;

    let (on, off) = (median(on), median(off));
    println!(
        "Spool on PostgreSQL: {saves} saves x {per_save} tick rows ({rows} rows), {rounds} rounds (medians)"
    );
    println!("| case | time | rows/s |");
    println!("|---|---:|---:|");
    println!(
        "| store up, spool off | {off:.2?} | {:.0} |",
        rate(rows, off)
    );
    println!("| store up, spool on | {on:.2?} | {:.0} |", rate(rows, on));
    println!(
        "| store down: into the spool (fsync per save) | {into_spool:.2?} | {:.0} |",
        rate(rows, into_spool)
    );
    println!(
        "| replay into the live store (open + drain) | {replay:.2?} | {:.0} |",
        rate(rows, replay)
    );
    println!(
        "spool on / off: {:+.1}%; spool held {:.1} MB ({:.1} bytes/row); after replay {held} rows, 0 pending",
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        bytes as f64 / 1e6,
        bytes as f64 / rows as f64
    );
    Ok(())
}
