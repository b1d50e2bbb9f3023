//! Redis store benchmark (docs/benchmarks.md): one save of the latest quotes of 5,000 symbols
//! (`realtime_quotes`: 11 columns, history and live feed on), `latest` of all 5,000 and of 100 symbols into
//! Arrow. Medians over the rounds; each round saves newer quotes, so every save writes every series.
//!
//! REDIS_URL=redis://127.0.0.1:6379/0 \
//!   cargo run --release -p quantdal-examples --example bench_redis -- [SYMBOLS] [ROUNDS] [PARQUET_OUT]
//!
//! With PARQUET_OUT the first round's quotes are written there for `scripts/redis_baseline.py`, which
//! does the same work with redis-py (see `scripts/bench_redis.sh`, which runs both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use quantdal::{Catalog, Dal, Load, OpenOptions, Settings};
use redis::AsyncCommands;

#[path = "bench_data.rs"]
#[allow(dead_code)] // shared with the other benchmarks, which use the rest of it
mod bench_data;
use bench_data::{median, AnyResult};

fn quotes(symbols: &[String], ts: i64, round: usize) -> AnyResult<RecordBatch> {
    let n = symbols.len();
    let price: Vec<f64> = (0..n)
        .map(|i| 10.0 + (i % 500) as f64 * 0.37 + round as f64 * 0.01)
        .collect();
    let f = |delta: f64| {
        Arc::new(Float64Array::from_iter_values(
            price.iter().map(|p| p + delta),
        )) as _
    };
    Ok(RecordBatch::try_from_iter(vec![
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![ts; n]).with_timezone("UTC")) as _,
        ),
        ("symbol", Arc::new(StringArray::from(symbols.to_vec())) as _),
        ("price", f(0.0)),
        ("open", f(-0.2)),
        ("high", f(0.3)),
        ("low", f(-0.4)),
        ("pre_close", f(-0.1)),
        (
            "volume",
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i as i64 * 7919) % 1_000_000),
            )) as _,
        ),
        ("amount", f(1000.0)),
        ("bid1", f(-0.01)),
        ("ask1", f(0.01)),
    ])?)
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let parquet_out = args.get(3);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let yaml = format!(
        "version: 1\napplication: quantdal-bench\ntables: t.yaml\nstores:\n  cache:\n    kind: redis\n    url: \"{url}\"\nroutes:\n  redis: cache\nmonitoring:\n  enabled: false\nretry:\n  max_attempts: 1\n"
    );
    let settings = Settings::from_yaml(&yaml, "<bench>", std::path::Path::new("."), &|_| None)?;
    // Only the realtime class: the other classes route to stores this benchmark does not define.
    let all = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    let spec = all.get("realtime_quotes").ok_or("realtime_quotes")?;
    let text = quantdal_core::BUILTIN_TABLE_CONFIG;
    let start = text.find("  - name: realtime_quotes").ok_or("class text")?;
    let end = text[start + 10..]
        .find("\n  - name: ")
        .map(|e| start + 10 + e)
        .unwrap_or(text.len());
    let catalog = Catalog::from_yaml(
        &format!("version: 1\nclasses:\n{}", &text[start..end]),
        "<bench class>",
    )?;
    assert_eq!(
        catalog.get("realtime_quotes").map(|s| s.columns.len()),
        Some(spec.columns.len())
    );
    let dal = Dal::from_parts(settings, catalog, OpenOptions::default()).await?;
    dal.truncate("realtime_quotes").await?;
    dal.provision().await?;

    let symbols: Vec<String> = (0..n)
        .map(|i| format!("{:06}.{}", i, if i % 2 == 0 { "SH" } else { "SZ" }))
        .collect();
    let some: Vec<&str> = symbols
        .iter()
        .step_by(n / 100)
        .take(100)
        .map(String::as_str)
        .collect();
    if let Some(path) = parquet_out {
        let batch = quotes(&symbols, 1_704_159_000_000, 0)?;
        let file = std::fs::File::create(path)?;
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        w.write(&batch)?;
        w.close()?;
    }
    let (mut save, mut all_latest, mut some_latest) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let batch = quotes(&symbols, 1_704_159_000_000 + round as i64 * 1000, round)?;
        let t = Instant::now();
        let report = dal.save("realtime_quotes", &batch).await?;
        save.push(t.elapsed());
        assert_eq!(report.rows as usize, n);
        let t = Instant::now();
        let got: usize = dal
            .latest("realtime_quotes", Load::all())
            .await?
            .iter()
            .map(|b| b.num_rows())
            .sum();
        all_latest.push(t.elapsed());
        assert_eq!(got, n);
        let t = Instant::now();
        let got: usize = dal
            .latest("realtime_quotes", Load::all().symbols(some.clone()))
            .await?
            .iter()
            .map(|b| b.num_rows())
            .sum();
        some_latest.push(t.elapsed());
        assert_eq!(got, some.len());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("quantdal redis, {n} symbols, {rounds} rounds (median):");
    println!("  save {n} latest quotes: {:.2} ms", ms(median(save)));
    println!("  latest of {n}:          {:.2} ms", ms(median(all_latest)));
    println!(
        "  latest of {}:           {:.2} ms",
        some.len(),
        ms(median(some_latest))
    );
    memory_report(&url, n, rounds).await?;
    dal.truncate("realtime_quotes").await?;
    Ok(())
}

/// `MEMORY USAGE` of every key the class holds, by kind: the newest-rows hash, the history streams, then the
/// other per-class keys (series index, live feed, schema).
async fn memory_report(url: &str, series: usize, entries: usize) -> AnyResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let (mut latest, mut history, mut class_keys) = (0u64, 0u64, Vec::new());
    let mut keys: Vec<String> = Vec::new();
    let mut iter: redis::AsyncIter<String> = conn.scan_match("*{realtime_quotes}:*").await?;
    while let Some(key) = iter.next_item().await {
        keys.push(key?);
    }
    drop(iter);
    for key in keys {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await?;
        let bytes = bytes.unwrap_or(0);
        if key.ends_with("}:latest") {
            latest += bytes;
        } else if key.contains("}:h:") {
            history += bytes;
        } else {
            class_keys.push((key, bytes));
        }
    }
    let per = |b: u64| b as f64 / series as f64;
    println!(
        "  memory per series: newest row {:.0} B, history stream of {entries} rows {:.0} B, both {:.0} B",
        per(latest),
        per(history),
        per(latest + history)
    );
    for (key, bytes) in class_keys {
        println!(
            "  class key {key}: {bytes} B ({:.0} B per series)",
            per(bytes)
        );
    }
    Ok(())
}
