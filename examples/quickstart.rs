//! The shortest useful program: open the embedded store, save ticks, read them back, compute 1-minute bars.
//!
//! cargo run --release -p quantdal-examples --example quickstart

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use quantdal::{col, Dal, Load, Timestamp};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let dal = Dal::embedded(dir.path()).await?;
    dal.provision().await?;

    // 2024-01-02 09:30:00 CST = 01:30 UTC; one tick every 3 seconds for two minutes.
    let start_ms = 1_704_159_000_000i64;
    let n = 40;
    let ts: Vec<i64> = (0..n).map(|i| start_ms + i * 3_000).collect();
    let price: Vec<f64> = (0..n).map(|i| 10.0 + (i % 7) as f64 * 0.01).collect();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")) as _,
        ),
        (
            "symbol",
            Arc::new(StringArray::from(vec!["600000.SH"; n as usize])) as _,
        ),
        ("price", Arc::new(Float64Array::from(price.clone())) as _),
        (
            "volume",
            Arc::new(Int64Array::from(vec![100i64; n as usize])) as _,
        ),
        (
            "amount",
            Arc::new(Float64Array::from(
                price.iter().map(|p| p * 100.0).collect::<Vec<_>>(),
            )) as _,
        ),
        (
            "bid_price1",
            Arc::new(Float64Array::from(
                price.iter().map(|p| p - 0.01).collect::<Vec<_>>(),
            )) as _,
        ),
        (
            "bid_volume1",
            Arc::new(Int64Array::from(vec![500i64; n as usize])) as _,
        ),
        (
            "ask_price1",
            Arc::new(Float64Array::from(
                price.iter().map(|p| p + 0.01).collect::<Vec<_>>(),
            )) as _,
        ),
        (
            "ask_volume1",
            Arc::new(Int64Array::from(vec![700i64; n as usize])) as _,
        ),
    ])?;

    let report = dal.save("tick_data", &batch).await?;
    println!(
        "saved {} rows into {} ({}) in {:?}",
        report.rows, report.table, report.store, report.elapsed
    );

    let from = Timestamp::from_millis(start_ms).ok_or("bad time")?;
    let until = Timestamp::from_millis(start_ms + 60_000).ok_or("bad time")?;
    let first_minute = dal
        .load(
            "tick_data",
            Load::range(from..until)
                .symbols(["600000.SH"])
                .filter(col("price").gt(10.02)),
        )
        .await?;
    println!(
        "{}",
        arrow::util::pretty::pretty_format_batches(&first_minute)?
    );

    let bars = dal
        .kline("tick_data", "1m", Load::all().symbols(["600000.SH"]))
        .await?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&bars)?);
    Ok(())
}
