//! Daily values of a class against a finer class aggregated to days in the store (`kline 1d`): each
//! symbol-day whose open, high, low, close or volume differs by more than the tolerance is bad.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use quantdal_core::quality::{Limit, QualityConfig};
use quantdal_core::{Error, Result, TableSpec, Timestamp};
use serde_json::json;

use super::{grade, series_keys, time_ns, Calendar, Verdict, DAY_NS};
use crate::{col, Dal, Load};

const FIELDS: [&str; 5] = ["open", "high", "low", "close", "volume"];

pub(crate) async fn run(
    dal: &Dal,
    spec: &TableSpec,
    q: &QualityConfig,
    calendar: &Calendar,
    now_ns: i64,
) -> Result<Verdict> {
    let Some(c) = &q.consistency else {
        return Err(Error::config("no consistency section"));
    };
    let days = calendar.open_days_back(now_ns.div_euclid(DAY_NS), c.days);
    let Some(&first) = days.first() else {
        return Err(Error::config("no open trading day in the window"));
    };
    let start = Timestamp(first * DAY_NS);
    let daily = dal.load(&spec.name, Load::all().since(start)).await?;
    let against = dal.spec(&c.against)?;
    let mut load = Load::all().since(start);
    // Bars of several widths would be counted twice: aggregate the finest only.
    if against.column_index("frequency").is_some() {
        load = load.filter(col("frequency").eq("1m"));
    }
    let agg = dal.kline(&c.against, "1d", load).await?;
    let theirs = by_symbol_day(&against, &agg)?;
    let ours = by_symbol_day(spec, &daily)?;
    let tolerance = match c.tolerance {
        Limit::Fraction(f) => f,
        Limit::Rows(n) => n as f64,
    };
    let mut compared = 0usize;
    let mut bad = 0usize;
    let mut missing = 0usize;
    let mut examples = Vec::new();
    for (key, mine) in &ours {
        let Some(other) = theirs.get(key) else {
            missing += 1;
            continue;
        };
        compared += 1;
        let off: Vec<&str> = FIELDS
            .iter()
            .zip(mine.iter().zip(other))
            .filter(|(_, (a, b))| rel_diff(**a, **b) > tolerance)
            .map(|(f, _)| *f)
            .collect();
        if !off.is_empty() {
            bad += 1;
            if examples.len() < 10 {
                examples.push(json!({ "series": key.0, "day": Timestamp(key.1 * DAY_NS).to_datetime().format("%Y-%m-%d").to_string(), "fields": off }));
            }
        }
    }
    Ok(Verdict {
        status: grade(bad, compared, c.warn, c.fail),
        rows: compared as i64,
        bad_rows: bad as i64,
        measured: json!({
            "against": c.against,
            "compared": compared,
            "mismatched": bad,
            "without_finer_bars": missing,
            "examples": examples,
        }),
        threshold: format!(
            "per value within {}; mismatched days: warn > {}, fail > {}",
            c.tolerance, c.warn, c.fail
        ),
    })
}

fn rel_diff(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs())
}

/// (symbol key without frequency, UTC day) → open, high, low, close, volume.
fn by_symbol_day(
    spec: &TableSpec,
    batches: &[RecordBatch],
) -> Result<HashMap<(String, i64), [f64; 5]>> {
    let mut out = HashMap::new();
    for b in batches {
        let keys = series_keys(spec, b)?;
        let times = time_ns(spec, b)?;
        let values = FIELDS
            .iter()
            .map(|f| {
                let a = b
                    .column_by_name(f)
                    .ok_or_else(|| Error::store(format!("result lacks `{f}`")))?;
                Ok(cast(a, &DataType::Float64)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let values: Vec<_> = values
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for (i, (k, t)) in keys.into_iter().zip(times).enumerate() {
            let Some(t) = t else { continue };
            if values.iter().any(|v| v.is_null(i)) {
                continue;
            }
            // The series key of minute bars carries the frequency: keep the symbol part only.
            let symbol = k.split('/').next().unwrap_or_default().to_string();
            let row = [0, 1, 2, 3, 4].map(|j| values[j].value(i));
            out.insert((symbol, t.div_euclid(DAY_NS)), row);
        }
    }
    Ok(out)
}
