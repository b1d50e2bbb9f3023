//! Data and arithmetic shared by the benchmarks: the same deterministic tick-shaped rows everywhere.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};

pub type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `rows` ticks over 500 symbols, 3 s apart, on a 0.01 price grid.
pub fn ticks(rows: usize) -> AnyResult<RecordBatch> {
    let symbols = 500;
    let per = rows.div_ceil(symbols);
    let start = 1_704_159_000_000i64;
    let (mut ts, mut sym, mut price, mut vol, mut amt) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut bp, mut bv, mut ap, mut av, mut dir) = (vec![], vec![], vec![], vec![], vec![]);
    let mut state: u64 = 42;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    'outer: for s in 0..symbols {
        let name = format!(
            "{:06}.{}",
            600_000 + s,
            if s % 2 == 0 { "SH" } else { "SZ" }
        );
        let mut cents = 1_000 + (next() % 5_000) as i64;
        for i in 0..per {
            if ts.len() == rows {
                break 'outer;
            }
            cents = (cents + (next() % 3) as i64 - 1).max(1);
            let p = cents as f64 / 100.0;
            let v = ((next() % 50) as i64 + 1) * 100;
            ts.push(start + i as i64 * 3_000);
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
