//! Growth of a PostgreSQL class (docs/benchmarks.md "Storage density and growth", issue 13): DAYS successive
//! days of ROWS `tick_data` rows (500 symbols, the generator every benchmark uses) saved one day at a time
//! through `Dal::save`, on a plain table (`timescale: off`: BRIN on time), on the same with daily native
//! partitions (`postgres: { partition: 1d }`) and, when TIMESCALE_URL is set, on a TimescaleDB hypertable
//! (chunks of one day). Printed per day: rows/s and the rows already held; at the
//! end: bytes per row of the table with its indexes next to zstd Parquet of the same rows, a range load of
//! the first and the last day, then (TimescaleDB) the same after every chunk is compressed — what the
//! class's compression policy does to chunks past `compression.after` — and the refresh workflow (truncate,
//! save a day again).
//!
//! POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test TIMESCALE_URL=postgres://postgres@127.0.0.1:5433/test \
//!   cargo run --release -p quantdal-examples --example bench_growth_pg -- [ROWS] [DAYS]

use std::path::Path;
use std::time::Instant;

use quantdal::{Catalog, Dal, OpenOptions, Settings};
use tokio_postgres::Client;

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{load_day, rate, tick_day, write_parquet, AnyResult};

const SCHEMA: &str = "quantdal_bench_growth";
const SYMBOLS: usize = 500;

/// How the class's table is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Plain,
    Partitioned,
    Hypertable,
}

/// The shipped catalog without tick_data's continuous aggregates: their refresh jobs would run in the
/// background of the measured saves (their cost is the views', measured in tests/tests/timescale.rs). With
/// `partitioned`, tick_data also gets daily native partitions.
fn catalog(partitioned: bool) -> AnyResult<Catalog> {
    let yaml = quantdal_core::BUILTIN_TABLE_CONFIG;
    let start = yaml
        .find("rollups: [1m, 5m, 15m, 1h, 4h, 1d]")
        .ok_or("tick_data rollups")?;
    let line_start = yaml[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = start + yaml[start..].find('\n').unwrap_or(yaml.len() - start) + 1;
    let mut stripped = format!("{}{}", &yaml[..line_start], &yaml[line_end..]);
    if partitioned {
        let anchor = "      tdengine: { database: market, keep: 3650, duration: 10 }\n";
        let at = stripped
            .find(anchor)
            .ok_or("tick_data's tdengine options")?
            + anchor.len();
        stripped.insert_str(at, "      postgres: { partition: 1d }\n");
    }
    Ok(Catalog::from_yaml(&stripped, "<built-in, no rollups>")?)
}

async fn open(url: &str, layout: Layout, dir: &Path) -> AnyResult<Dal> {
    let mode = if layout == Layout::Hypertable {
        "on"
    } else {
        "off"
    };
    let yaml = format!(
        "version: 1\napplication: quantdal-bench\ntables: table_config.yaml\nstores:\n  pg:\n    kind: postgres\n    url: \"{url}\"\n    schema: {SCHEMA}\n    timescale: {mode}\nroutes:\n  tdengine: pg\n  postgres: pg\n  redis: pg\nmonitoring:\n  enabled: false\n"
    );
    let settings = Settings::from_yaml(&yaml, "<bench>", dir, &|_| None)?;
    Ok(Dal::from_parts(
        settings,
        catalog(layout == Layout::Partitioned)?,
        OpenOptions::default(),
    )
    .await?)
}

async fn admin(url: &str) -> AnyResult<Client> {
    Ok(quantdal_postgres::connect_client(url, "quantdal-bench-admin").await?)
}

async fn table_bytes(client: &Client, layout: Layout) -> AnyResult<i64> {
    let sql = match layout {
        Layout::Hypertable => format!("SELECT hypertable_size('{SCHEMA}.tick_data')::int8"),
        Layout::Partitioned => format!(
            "SELECT sum(pg_total_relation_size(relid))::int8 FROM pg_partition_tree('{SCHEMA}.tick_data')"
        ),
        Layout::Plain => format!("SELECT pg_total_relation_size('{SCHEMA}.tick_data')::int8"),
    };
    Ok(client.query_one(&sql, &[]).await?.get(0))
}

async fn run(
    url: &str,
    layout: Layout,
    rows: usize,
    days: usize,
    parquet_bytes: u64,
) -> AnyResult<()> {
    let label = match layout {
        Layout::Hypertable => "TimescaleDB hypertable",
        Layout::Partitioned => "plain table, daily partitions",
        Layout::Plain => "plain table",
    };
    let client = admin(url).await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let dir = tempfile::tempdir()?;
    let dal = open(url, layout, dir.path()).await?;
    dal.provision().await?;
    println!("\n{label} ({url})");
    println!("day | rows held before | Dal::save rows/s");
    let mut first = 0.0;
    let mut later = Vec::new();
    let per_day = rows / SYMBOLS * SYMBOLS;
    for d in 0..days {
        let batch = tick_day(rows, d)?;
        let t = Instant::now();
        dal.save("tick_data", &batch).await?;
        let r = rate(batch.num_rows(), t.elapsed());
        if d == 0 {
            first = r;
        } else {
            later.push(r);
        }
        println!("{d} | {} | {r:.0}", d * per_day);
    }
    let total = (per_day * days) as f64;
    assert_eq!(
        dal.count("tick_data").await? as f64,
        total,
        "every row saved once"
    );
    client
        .batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.tick_data"))
        .await?;
    let bytes = table_bytes(&client, layout).await?;
    let mean = later.iter().sum::<f64>() / later.len().max(1) as f64;
    println!(
        "save: day 0 {first:.0} rows/s, later days mean {mean:.0} ({:.2}x), last day {:.0} ({:.2}x)",
        mean / first,
        later.last().copied().unwrap_or(first),
        later.last().copied().unwrap_or(first) / first
    );
    println!(
        "bytes/row (table + indexes, after VACUUM): {:.1} = {:.2}x zstd Parquet ({:.1})",
        bytes as f64 / total,
        bytes as f64 / parquet_bytes as f64,
        parquet_bytes as f64 / total
    );
    let (n0, t0) = load_day(&dal, 0).await?;
    let (n1, t1) = load_day(&dal, days - 1).await?;
    println!(
        "range load of one day ({n0} rows): first day {:.0} rows/s, last day {:.0} rows/s",
        rate(n0, t0),
        rate(n1, t1)
    );
    if layout == Layout::Hypertable {
        let t = Instant::now();
        let chunks: i64 = client
            .query_one(
                &format!(
                    "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('{SCHEMA}.tick_data') c"
                ),
                &[],
            )
            .await?
            .get(0);
        let compress = t.elapsed();
        let bytes = table_bytes(&client, Layout::Hypertable).await?;
        println!(
            "compressed {chunks} chunks in {:.1} s: bytes/row {:.1} = {:.2}x zstd Parquet",
            compress.as_secs_f64(),
            bytes as f64 / total,
            bytes as f64 / parquet_bytes as f64
        );
        let (c0, ct0) = load_day(&dal, 0).await?;
        let (c1, ct1) = load_day(&dal, days - 1).await?;
        assert_eq!((c0, c1), (n0, n1), "the same rows from compressed chunks");
        println!(
            "range load of one compressed day: first day {:.0} rows/s, last day {:.0} rows/s",
            rate(c0, ct0),
            rate(c1, ct1)
        );
        // A restatement into a compressed day: the upsert path on compressed chunks.
        let batch = tick_day(rows, 0)?.slice(0, 10_000);
        let t = Instant::now();
        dal.save("tick_data", &batch).await?;
        println!(
            "upsert of 10,000 existing rows into a compressed chunk: {:.0} rows/s",
            rate(batch.num_rows(), t.elapsed())
        );
    }
    let t = Instant::now();
    dal.truncate("tick_data").await?;
    let truncate = t.elapsed();
    let batch = tick_day(rows, 0)?;
    let t = Instant::now();
    dal.save("tick_data", &batch).await?;
    println!(
        "refresh: truncate of {total} rows {:.3} s, then day 0 again {:.0} rows/s (into the empty table: {first:.0})",
        truncate.as_secs_f64(),
        rate(batch.num_rows(), t.elapsed())
    );
    dal.close().await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let days: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let lake = tempfile::tempdir()?;
    let mut parquet_bytes = 0;
    for d in 0..days {
        let path = lake.path().join(format!("day{d:03}.parquet"));
        write_parquet(&path, &tick_day(rows, d)?)?;
        parquet_bytes += std::fs::metadata(&path)?.len();
    }
    let plain = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    run(&plain, Layout::Plain, rows, days, parquet_bytes).await?;
    run(&plain, Layout::Partitioned, rows, days, parquet_bytes).await?;
    if let Ok(url) = std::env::var("TIMESCALE_URL") {
        run(&url, Layout::Hypertable, rows, days, parquet_bytes).await?;
    }
    Ok(())
}
