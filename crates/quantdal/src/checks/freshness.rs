//! Age of the newest row, per class and per series; closed calendar days are not counted.

use quantdal_core::quality::QualityConfig;
use quantdal_core::{Error, Result, TableSpec};
use quantdal_monitor::CheckStatus;
use serde_json::json;

use super::{duration_ns, series_keys, time_ns, Calendar, Verdict, DAY_NS};
use crate::{Dal, Load};

pub(crate) async fn run(
    dal: &Dal,
    spec: &TableSpec,
    q: &QualityConfig,
    calendar: &Calendar,
    now_ns: i64,
) -> Result<Verdict> {
    let Some(f) = &q.freshness else {
        return Err(Error::config("no freshness section"));
    };
    let (warn, fail) = (duration_ns(&f.warn)?, duration_ns(&f.fail)?);
    let batches = dal.latest(&spec.name, Load::all()).await?;
    let age = |t: i64| {
        let wall = now_ns - t;
        let closed = calendar.closed_days_between(t.div_euclid(DAY_NS), now_ns.div_euclid(DAY_NS));
        (wall - closed * DAY_NS).max(0)
    };
    let mut series: Vec<(String, i64)> = Vec::new();
    for b in &batches {
        let keys = series_keys(spec, b)?;
        for (k, t) in keys.into_iter().zip(time_ns(spec, b)?) {
            if let Some(t) = t {
                series.push((k, age(t)));
            }
        }
    }
    let threshold = format!("warn > {}, fail > {}", f.warn, f.fail);
    let Some(newest) = series.iter().map(|s| s.1).min() else {
        return Ok(Verdict {
            status: CheckStatus::Fail,
            rows: 0,
            bad_rows: 0,
            measured: json!({ "series": 0, "note": "no rows" }),
            threshold,
        });
    };
    series.sort_by_key(|s| std::cmp::Reverse(s.1));
    let stale = series.iter().filter(|s| s.1 > warn).count();
    let very_stale = series.iter().filter(|s| s.1 > fail).count();
    let mut status = if newest > fail {
        CheckStatus::Fail
    } else if newest > warn {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    // The class is fresh but some series lag: worth a warning, not a failure of the class.
    if status == CheckStatus::Pass && very_stale > 0 {
        status = CheckStatus::Warn;
    }
    let stalest: Vec<_> = series
        .iter()
        .take(10)
        .map(|(k, a)| json!({ "series": k, "age_s": a / 1_000_000_000 }))
        .collect();
    Ok(Verdict {
        status,
        rows: series.len() as i64,
        bad_rows: stale as i64,
        measured: json!({
            "age_s": newest / 1_000_000_000,
            "series": series.len(),
            "stale_series": stale,
            "trading_time": calendar.has_rows(),
            "stalest": stalest,
        }),
        threshold,
    })
}
