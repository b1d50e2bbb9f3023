//! TDengine store benchmark (docs/benchmarks.md): the demo's `tick_data` schema, `SERIES` symbols × `PER`
//! ticks spread over one day; one run of save, range load into Arrow, `latest` of every series and a 5-minute
//! `kline`, plus the process's peak RSS. Against any TDengine DSN:
//!
//! TDENGINE_DSN=taos://root:taosdata@localhost:6030 \
//!   cargo run --release -p quantdal-examples --features quantdal/tdengine-native --example bench_tdengine -- \
//!   [all|save|stream] [SERIES] [PER] [PARQUET_OUT]
//!
//! `all` (default) provisions database `qd_bench` (dropped first), saves, then reads.
//! `save` only saves (peak RSS of a save); `stream` only streams every row of the class (peak RSS of a large
//! load, which must stay bounded). With PARQUET_OUT the rows are also written there (zstd) for
//! `scripts/tdengine_baseline.py`, which does the same work with taospy and measures bytes on disk.

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use futures::StreamExt;
use quantdal::{Catalog, Dal, Load, OpenOptions, Order, Settings, Timestamp};
use quantdal_tdengine::TdengineStore;

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::AnyResult;

/// 2024-01-02 00:00 UTC.
const START: i64 = 1_704_153_600_000;

const CATALOG: &str = r#"
version: 1
classes:
  - name: tick_data
    category: market
    store: td
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE, nullable: false }
      - { name: bid_price1, type: DOUBLE, nullable: false }
      - { name: bid_volume1, type: BIGINT, nullable: false }
      - { name: ask_price1, type: DOUBLE, nullable: false }
      - { name: ask_volume1, type: BIGINT, nullable: false }
      - { name: direction, type: VARCHAR(1), nullable: true }
    kline: { price: price, volume: volume, amount: amount }
    options: { tdengine: { database: qd_bench } }
"#;

/// `series` symbols × `per` ticks each, evenly over one day, on a 0.01 price grid; grouped by symbol.
fn ticks(series: usize, per: usize, first_series: usize) -> AnyResult<RecordBatch> {
    let step = 86_400_000 / per.max(1) as i64;
    bench_data::tick_grid(first_series, series, per, START, step)
}

/// Peak resident set of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn rate(rows: usize, d: Duration) -> String {
    format!("{:.0} rows/s", rows as f64 / d.as_secs_f64())
}

async fn open(dsn: &str) -> AnyResult<Dal> {
    let yaml = format!(
        "version: 1\ntables: bench.yaml\nstores:\n  td:\n    kind: tdengine\n    dsn: \"{dsn}\"\n"
    );
    let settings = Settings::from_yaml(
        &yaml,
        "<bench settings>",
        std::path::Path::new("."),
        &|_| None,
    )?;
    let catalog = Catalog::from_yaml(CATALOG, "bench")?;
    Ok(Dal::from_parts(settings, catalog, OpenOptions::default()).await?)
}

fn whole_day() -> AnyResult<Load> {
    Ok(Load::range(
        Timestamp::from_millis(START).ok_or("start")?
            ..Timestamp::from_millis(START + 86_400_000).ok_or("end")?,
    ))
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "all".into());
    let series: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1_000);
    let per: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1_000);
    let parquet_out = args.get(4).cloned();
    let dsn = std::env::var("TDENGINE_DSN")
        .unwrap_or_else(|_| "taos://root:taosdata@localhost:6030".into());
    let dal = open(&dsn).await?;
    let rows = series * per;

    if mode == "stream" {
        // Every row of the class, batch by batch: memory must not grow with the result.
        let t = Instant::now();
        let mut stream = dal.load_stream("tick_data", whole_day()?).await?;
        let mut n = 0usize;
        while let Some(batch) = stream.next().await {
            n += batch?.num_rows();
        }
        let d = t.elapsed();
        println!(
            "stream: {n} rows in {:.3} s = {}; peak RSS {:.0} MiB",
            d.as_secs_f64(),
            rate(n, d),
            peak_rss_mib()
        );
        return Ok(());
    }

    if mode == "all" {
        // A fresh database, so its files hold exactly these rows.
        admin(&dsn)
            .await?
            .execute("DROP DATABASE IF EXISTS qd_bench")
            .await?;
    }
    dal.provision().await?;
    // Large saves are generated and sent in slices of 1,000 series (1M rows at the default shape).
    let chunk_series = (1_000_000 / per.max(1)).clamp(1, series);
    let mut save_time = Duration::ZERO;
    let mut first = 0;
    while first < series {
        let n = chunk_series.min(series - first);
        let batch = ticks(n, per, first)?;
        if let (Some(path), 0) = (&parquet_out, first) {
            let file = std::fs::File::create(path)?;
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))?;
            writer.write(&batch)?;
            writer.close()?;
        }
        let t = Instant::now();
        dal.save("tick_data", &batch).await?;
        save_time += t.elapsed();
        first += n;
    }
    println!(
        "save: {rows} rows in {:.3} s = {}; peak RSS {:.0} MiB",
        save_time.as_secs_f64(),
        rate(rows, save_time),
        peak_rss_mib()
    );
    if mode == "save" {
        return Ok(());
    }

    // Straight after the save the rows are still in the vnodes' write buffers; after FLUSH DATABASE they are
    // read from the data files, as history is.
    time_loads(&dal, "in write buffer").await?;
    let admin = admin(&dsn).await?;
    admin.execute("FLUSH DATABASE qd_bench").await?;
    // FLUSH returns before the files are written: wait until their size holds still (or 5 s without a data
    // dir to look at), so the loads below read files, not a flush in progress.
    match std::env::var("TD_DATA_DIR") {
        Ok(dir) => {
            let mut bytes = vnode_bytes(&admin, &dir).await?;
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = vnode_bytes(&admin, &dir).await?;
                if now == bytes {
                    break;
                }
                bytes = now;
            }
            for (what, b) in bytes {
                println!(
                    "on disk, {what}: {b} bytes = {:.2} bytes/row",
                    b as f64 / rows as f64
                );
            }
        }
        Err(_) => tokio::time::sleep(Duration::from_secs(5)).await,
    }
    time_loads(&dal, "after FLUSH").await?;

    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let latest = dal.latest("tick_data", Load::all()).await?;
        times.push(t.elapsed());
        found = latest.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    times.sort();
    println!(
        "latest: {found} series, median {:.1} ms (of 5)",
        times[2].as_secs_f64() * 1e3
    );

    let mut times = Vec::new();
    let mut bars = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let k = dal.kline("tick_data", "5m", whole_day()?).await?;
        times.push(t.elapsed());
        bars = k.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    times.sort();
    println!(
        "kline 5m: {bars} bars, median {:.1} ms (of 5)",
        times[2].as_secs_f64() * 1e3
    );

    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let k = dal
            .kline("tick_data", "5m", whole_day()?.symbols(["600500.SH"]))
            .await?;
        times.push(t.elapsed());
        bars = k.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    times.sort();
    println!(
        "kline 5m of one series: {bars} bars, median {:.1} ms (of 5)",
        times[2].as_secs_f64() * 1e3
    );
    Ok(())
}

/// A range load of the whole day, in the default order (series, time) and unordered: median of 3.
async fn time_loads(dal: &Dal, when: &str) -> AnyResult<()> {
    for (label, order) in [("ordered", Order::Asc), ("unordered", Order::Unordered)] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let loaded = dal.load("tick_data", whole_day()?.order(order)).await?;
            times.push(t.elapsed());
            n = loaded.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        times.sort();
        println!(
            "load {label}, {when}: {n} rows into Arrow, median {:.3} s = {} (of 3; fastest {:.3} s)",
            times[1].as_secs_f64(),
            rate(n, times[1]),
            times[0].as_secs_f64()
        );
    }
    Ok(())
}

/// The store itself, for administration the facade does not offer (FLUSH DATABASE, vgroup ids).
async fn admin(dsn: &str) -> AnyResult<TdengineStore> {
    let settings = quantdal_core::StoreSettings {
        url: Some(dsn.to_string()),
        ..quantdal_core::StoreSettings::new("admin", quantdal_core::StoreKind::Tdengine)
    };
    Ok(TdengineStore::open(&settings).await?)
}

/// Bytes of the benchmark database's vnode data files (`tsdb`) and write-ahead log (`wal`) under the server's
/// dataDir.
async fn vnode_bytes(admin: &TdengineStore, data_dir: &str) -> AnyResult<Vec<(&'static str, u64)>> {
    let vgroups = admin
        .values("SELECT vgroup_id FROM information_schema.ins_vgroups WHERE db_name = 'qd_bench'")
        .await?;
    let mut out = Vec::new();
    for sub in ["tsdb", "wal"] {
        let mut total = 0;
        for row in &vgroups {
            let id = row
                .first()
                .and_then(|v| v.to_string().ok())
                .unwrap_or_default();
            let dir = std::path::Path::new(data_dir).join(format!("vnode/vnode{id}/{sub}"));
            total += dir_bytes(&dir)?;
        }
        out.push((sub, total));
    }
    Ok(out)
}

fn dir_bytes(dir: &std::path::Path) -> AnyResult<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
