//! Data and arithmetic shared by the benchmarks: the same deterministic tick-shaped rows everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};

pub type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `rows` ticks over 500 symbols, 3 s apart, on a 0.01 price grid.
pub fn ticks(rows: usize) -> AnyResult<RecordBatch> {
    let grid = tick_grid(0, 500, rows.div_ceil(500), 1_704_159_000_000, 3_000)?;
    Ok(grid.slice(0, rows.min(grid.num_rows())))
}

/// `series` symbols (numbered from `first_series`) × `per` ticks each, `step_ms` apart from `start_ms`, on a
/// 0.01 price grid, grouped by symbol. The same seed every call, so every benchmark saves the same values.
pub fn tick_grid(
    first_series: usize,
    series: usize,
    per: usize,
    start_ms: i64,
    step_ms: i64,
) -> AnyResult<RecordBatch> {
    let n = series * per;
    let mut ts = Vec::with_capacity(n);
    let mut sym = Vec::with_capacity(n);
    let mut price = Vec::with_capacity(n);
    let mut vol = Vec::with_capacity(n);
    let mut amt = Vec::with_capacity(n);
    let mut bp = Vec::with_capacity(n);
    let mut bv = Vec::with_capacity(n);
    let mut ap = Vec::with_capacity(n);
    let mut av = Vec::with_capacity(n);
    let mut dir = Vec::with_capacity(n);
    let mut state: u64 = 42;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for s in first_series..first_series + series {
        let name = format!(
            "{:06}.{}",
            600_000 + s,
            if s % 2 == 0 { "SH" } else { "SZ" }
        );
        let mut cents = 1_000 + (next() % 5_000) as i64;
        for i in 0..per {
            cents = (cents + (next() % 3) as i64 - 1).max(1);
            let p = cents as f64 / 100.0;
            let v = ((next() % 50) as i64 + 1) * 100;
            ts.push(start_ms + i as i64 * step_ms);
            sym.push(name.clone());
            price.push(p);
            vol.push(v);
            amt.push(p * v as f64);
            bp.push(p - 0.01);
            bv.push(((next() % 90) as i64 + 1) * 100);
            ap.push(p + 0.01);
            av.push(((next() % 90) as i64 + 1) * 100);
            dir.push(Some(["B", "S", "N"][(next() % 3) as usize]));
        }
    }
    Ok(RecordBatch::try_from_iter(vec![
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")) as _,
        ),
        ("symbol", Arc::new(StringArray::from(sym)) as _),
        ("price", Arc::new(Float64Array::from(price)) as _),
        ("volume", Arc::new(Int64Array::from(vol)) as _),
        ("amount", Arc::new(Float64Array::from(amt)) as _),
        ("bid_price1", Arc::new(Float64Array::from(bp)) as _),
        ("bid_volume1", Arc::new(Int64Array::from(bv)) as _),
        ("ask_price1", Arc::new(Float64Array::from(ap)) as _),
        ("ask_volume1", Arc::new(Int64Array::from(av)) as _),
        ("direction", Arc::new(StringArray::from(dir)) as _),
    ])?)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

/// The batch with its timestamps tz-less at the same unit: DuckDB's Appender and Arrow scan take UTC that way.
pub fn strip_tz(batch: &RecordBatch) -> AnyResult<RecordBatch> {
    let schema = Arc::new(arrow::datatypes::Schema::new(
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                arrow::datatypes::DataType::Timestamp(u, _) => f
                    .as_ref()
                    .clone()
                    .with_data_type(arrow::datatypes::DataType::Timestamp(*u, None)),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    Ok(quantdal_core::output::conform_batch(batch, &schema)?)
}

/// Raw DuckDB's bulk path: the Appender (`append_record_batch`) into `tick_data`, one transaction.
pub fn append_in_one_transaction(
    conn: &duckdb::Connection,
    batch: &RecordBatch,
) -> AnyResult<Duration> {
    let plain = strip_tz(batch)?;
    let started = std::time::Instant::now();
    conn.execute_batch("BEGIN TRANSACTION")?;
    {
        let mut app = conn.appender("tick_data")?;
        app.append_record_batch(plain)?;
        app.flush()?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(started.elapsed())
}

/// Writes `batch` as one zstd Parquet file (the density every store is compared with); returns the time taken.
pub fn write_parquet(path: &std::path::Path, batch: &RecordBatch) -> AnyResult<Duration> {
    let started = Instant::now();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(
            parquet::basic::ZstdLevel::default(),
        ))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path)?,
        batch.schema(),
        Some(props),
    )?;
    w.write(batch)?;
    w.close()?;
    Ok(started.elapsed())
}

pub const DAY_MS: i64 = 86_400_000;
/// 2024-01-02 01:30 UTC, the first tick of day 0.
pub const FIRST_DAY_MS: i64 = 1_704_159_000_000;

/// Day `d` of a market: `rows` ticks over 500 symbols, 3 s apart, from [`FIRST_DAY_MS`] plus `d` days.
pub fn tick_day(rows: usize, d: usize) -> AnyResult<RecordBatch> {
    tick_grid(0, 500, rows / 500, FIRST_DAY_MS + d as i64 * DAY_MS, 3_000)
}

/// A range load of day `d` of `tick_data` through `Dal::load`: rows and time taken.
pub async fn load_day(dal: &quantdal::Dal, d: usize) -> AnyResult<(usize, Duration)> {
    let start = FIRST_DAY_MS + d as i64 * DAY_MS;
    let load = quantdal::Load::all()
        .since(quantdal::Timestamp::from_nanos(start * 1_000_000))
        .until(quantdal::Timestamp::from_nanos(
            (start + DAY_MS) * 1_000_000,
        ));
    let started = Instant::now();
    let batches = dal.load("tick_data", load).await?;
    Ok((
        batches.iter().map(|b| b.num_rows()).sum(),
        started.elapsed(),
    ))
}
