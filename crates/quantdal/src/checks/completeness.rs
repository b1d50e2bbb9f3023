//! Expected bars per session (bar width × the sessions of each open day) against the bars held, per
//! series, with the missing intervals listed.

use std::collections::{BTreeMap, HashSet};

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use quantdal_core::quality::{parse_session, QualityConfig};
use quantdal_core::{Error, Result, TableSpec, Timestamp};
use serde_json::json;

use super::{duration_ns, grade, series_keys, time_ns, Calendar, Verdict, DAY_NS};
use crate::{Dal, Load};

const MINUTE_NS: i64 = 60_000_000_000;
/// Missing intervals listed in `measured`; the count covers them all.
const LISTED: usize = 20;

pub(crate) async fn run(
    dal: &Dal,
    spec: &TableSpec,
    q: &QualityConfig,
    calendar: &Calendar,
    now_ns: i64,
) -> Result<Verdict> {
    let Some(c) = &q.completeness else {
        return Err(Error::config("no completeness section"));
    };
    let offset = i64::from(c.utc_offset_hours) * 3_600_000_000_000;
    let sessions: Vec<(u32, u32)> = c
        .sessions
        .iter()
        .map(|s| parse_session(s).map_err(Error::config))
        .collect::<Result<_>>()?;
    let local_now = now_ns + offset;
    let days = calendar.open_days_back(local_now.div_euclid(DAY_NS), c.days);
    let Some(&first) = days.first() else {
        return Err(Error::config("no open trading day in the window"));
    };
    let start = Timestamp(first * DAY_NS - offset);
    let rows = dal.load(&spec.name, Load::all().since(start)).await?;
    let has_freq_column = spec.column_index("frequency").is_some();
    let fixed = match &c.frequency {
        Some(f) => Some(duration_ns(f)?),
        None if has_freq_column => None,
        None => Some(DAY_NS),
    };
    // series → (bar width, slots present as local ns of bar start)
    let mut present: BTreeMap<String, (i64, HashSet<i64>)> = BTreeMap::new();
    for b in &rows {
        let keys = series_keys(spec, b)?;
        let times = time_ns(spec, b)?;
        let freqs = match (fixed, b.column_by_name("frequency")) {
            (None, Some(f)) => Some(cast(f, &DataType::Utf8)?),
            _ => None,
        };
        for (i, (k, t)) in keys.into_iter().zip(times).enumerate() {
            let Some(t) = t else { continue };
            let width = match (&freqs, fixed) {
                (_, Some(w)) => w,
                (Some(f), None) => match duration_ns(f.as_string::<i32>().value(i)) {
                    Ok(w) => w,
                    Err(_) => continue,
                },
                (None, None) => continue,
            };
            let local = if width >= DAY_NS { t } else { t + offset };
            present
                .entry(k)
                .or_insert_with(|| (width, HashSet::new()))
                .1
                .insert(local);
        }
    }
    let mut expected_total = 0usize;
    let mut missing_total = 0usize;
    let mut listed: Vec<serde_json::Value> = Vec::new();
    for (series, (width, slots)) in &present {
        for &day in &days {
            let expected = expected_slots(day, *width, &sessions, local_now);
            expected_total += expected.len();
            let mut run: Option<(i64, i64)> = None;
            for slot in expected {
                if slots.contains(&slot) {
                    if let Some(r) = run.take() {
                        push_interval(&mut listed, series, r, *width);
                    }
                    continue;
                }
                missing_total += 1;
                run = match run {
                    Some((a, b)) if b + width == slot => Some((a, slot)),
                    Some(r) => {
                        push_interval(&mut listed, series, r, *width);
                        Some((slot, slot))
                    }
                    None => Some((slot, slot)),
                };
            }
            if let Some(r) = run {
                push_interval(&mut listed, series, r, *width);
            }
        }
    }
    Ok(Verdict {
        status: grade(missing_total, expected_total, c.warn, c.fail),
        rows: expected_total as i64,
        bad_rows: missing_total as i64,
        measured: json!({
            "series": present.len(),
            "days": days.len(),
            "expected": expected_total,
            "missing": missing_total,
            "calendar": calendar.has_rows(),
            "missing_intervals": listed,
        }),
        threshold: format!("missing bars: warn > {}, fail > {}", c.warn, c.fail),
    })
}

/// Bar starts of one open day in local ns (UTC midnight for daily bars); today's bars only once ended.
fn expected_slots(day: i64, width: i64, sessions: &[(u32, u32)], local_now: i64) -> Vec<i64> {
    if width >= DAY_NS {
        let start = day * DAY_NS;
        let last_close = sessions.iter().map(|s| s.1).max().unwrap_or(0);
        let ended = local_now >= start + i64::from(last_close) * MINUTE_NS;
        return if ended { vec![start] } else { Vec::new() };
    }
    let mut out = Vec::new();
    for &(a, b) in sessions {
        let mut t = day * DAY_NS + i64::from(a) * MINUTE_NS;
        let end = day * DAY_NS + i64::from(b) * MINUTE_NS;
        while t + width <= end && t + width <= local_now {
            out.push(t);
            t += width;
        }
    }
    out
}

fn push_interval(
    listed: &mut Vec<serde_json::Value>,
    series: &str,
    (a, b): (i64, i64),
    width: i64,
) {
    if listed.len() >= LISTED {
        return;
    }
    let fmt = |ns: i64| {
        Timestamp(ns)
            .to_datetime()
            .format(if width >= DAY_NS {
                "%Y-%m-%d"
            } else {
                "%Y-%m-%d %H:%M"
            })
            .to_string()
    };
    listed.push(json!({ "series": series, "from": fmt(a), "to": fmt(b + width), "bars": (b - a) / width + 1 }));
}
