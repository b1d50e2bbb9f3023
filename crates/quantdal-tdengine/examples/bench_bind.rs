//! Client-side cost of a TDengine save without a server: 1,000,000 tick rows of the shipped `tick_data`
//! class (Arrow, normalised) → grouped by series → bound stmt columns (`ColumnView`s) per sub-table.
//!
//! cargo run --release -p quantdal-tdengine --example bench_bind [-- <rows> <symbols> <runs>]

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use quantdal_core::Catalog;
use quantdal_tdengine::bind::{group_series, series_views};
use quantdal_tdengine::layout;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let symbols = args.get(1).copied().unwrap_or(1_000).max(1);
    let runs = args.get(2).copied().unwrap_or(7).max(1);

    let catalog = Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "<built-in>")?;
    let spec = catalog
        .get("tick_data")
        .ok_or("tick_data is not in the catalog")?
        .clone();
    let layout = layout(&spec)?;

    // Grouped by symbol, increasing time: the shape a feed handler or a Parquet file gives.
    let per = rows.div_ceil(symbols);
    let names: Vec<String> = (0..symbols)
        .map(|s| format!("{:06}.SH", 600_000 + s))
        .collect();
    let symbol: Vec<&str> = (0..rows).map(|i| names[i / per].as_str()).collect();
    let ts: Vec<i64> = (0..rows)
        .map(|i| 1_704_159_000_000 + (i % per) as i64 * 10)
        .collect();
    let price: Vec<f64> = (0..rows).map(|i| 10.0 + (i % 97) as f64 * 0.01).collect();
    let volume: Vec<i64> = (0..rows).map(|i| 100 + (i % 50) as i64).collect();
    let direction: Vec<Option<&str>> = (0..rows)
        .map(|i| match i % 3 {
            0 => Some("B"),
            1 => Some("S"),
            _ => None,
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        Arc::new(StringArray::from(symbol)),
        Arc::new(Float64Array::from(price.clone())),
        Arc::new(Int64Array::from(volume.clone())),
        Arc::new(Float64Array::from(
            price
                .iter()
                .zip(&volume)
                .map(|(p, v)| p * *v as f64)
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            price.iter().map(|p| p - 0.01).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(volume.clone())),
        Arc::new(Float64Array::from(
            price.iter().map(|p| p + 0.01).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(volume)),
        Arc::new(StringArray::from(direction)),
    ];
    let batch = RecordBatch::try_new(spec.arrow_schema(), columns)?;

    let mut best = f64::MAX;
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let series = group_series(&spec, &layout, &batch)?;
        let mut bound = 0usize;
        for s in &series {
            let views = series_views(&spec, &layout, s)?;
            bound += views.first().map(|v| v.len()).unwrap_or(0);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(bound, rows);
        assert_eq!(series.len(), symbols);
        best = best.min(secs);
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{rows} rows, {symbols} series, {} columns: best {:.1} ms ({:.2} M rows/s), median {:.1} ms ({:.2} M rows/s) over {runs} runs",
        spec.columns.len(),
        best * 1e3,
        rows as f64 / best / 1e6,
        median * 1e3,
        rows as f64 / median / 1e6,
    );
    Ok(())
}
