//! Prometheus text exposition of the monitoring store's monotonic totals, plus live gauges from the
//! serving process (pool stats, its own dropped records).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::db::MetricTotal;
use crate::effects::LATENCY_BUCKETS;

/// A gauge sample supplied by the embedding process (the stores report them).
pub use quantdal_core::Gauge;

const HISTOGRAM: &str = "quantdal_operation_duration_seconds";

fn help(metric: &str) -> &'static str {
    match metric {
        "quantdal_operations_total" => "Store operations by store, operation, class and status.",
        "quantdal_operation_rows_total" => "Rows saved, loaded or deleted.",
        "quantdal_operation_bytes_total" => "Arrow bytes saved or loaded.",
        "quantdal_operation_errors_total" => "Failed operations by error kind.",
        "quantdal_slow_queries_total" => "Operations past the warn or slow threshold.",
        "quantdal_quality_checks_total" => "Inline and on-demand quality check results.",
        "quantdal_rejected_rows_total" => "Rows quarantined by quality checks.",
        "quantdal_monitor_dropped_records_total" => {
            "Monitoring records dropped because the channel was full."
        }
        HISTOGRAM => "Operation latency.",
        _ => "quantdal metric.",
    }
}

fn le_of(labels: &str) -> Option<(String, f64)> {
    let start = labels.find("le=\"")?;
    let rest = &labels[start + 4..];
    let end = rest.find('"')?;
    let le = &rest[..end];
    let value = if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().ok()?
    };
    let mut base = labels[..start].trim_end_matches(',').to_string();
    let tail = rest[end + 1..].trim_start_matches(',');
    if !tail.is_empty() {
        if !base.is_empty() {
            base.push(',');
        }
        base.push_str(tail);
    }
    Some((base, value))
}

fn le_text(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        v.to_string()
    }
}

fn series(out: &mut String, metric: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{metric} {value}");
    } else {
        let _ = writeln!(out, "{metric}{{{labels}}} {value}");
    }
}

pub fn render(totals: &[MetricTotal], gauges: &[Gauge]) -> String {
    let mut out = String::new();
    let mut counters: BTreeMap<&str, Vec<&MetricTotal>> = BTreeMap::new();
    // Histogram buckets per label set, completed with zero buckets so every series has every `le`.
    let mut buckets: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for t in totals {
        match t.metric.as_str() {
            "quantdal_operation_duration_seconds_bucket" => {
                if let Some((base, le)) = le_of(&t.labels) {
                    buckets
                        .entry(base)
                        .or_default()
                        .insert(le.to_bits(), t.value);
                }
            }
            "quantdal_operation_duration_seconds_sum" => {
                sums.entry(t.labels.clone()).or_default().0 = t.value
            }
            "quantdal_operation_duration_seconds_count" => {
                sums.entry(t.labels.clone()).or_default().1 = t.value
            }
            m => counters.entry(m).or_default().push(t),
        }
    }
    for (metric, rows) in counters {
        let _ = writeln!(out, "# HELP {metric} {}", help(metric));
        let _ = writeln!(out, "# TYPE {metric} counter");
        for r in rows {
            series(&mut out, metric, &r.labels, r.value);
        }
    }
    if !sums.is_empty() {
        let _ = writeln!(out, "# HELP {HISTOGRAM} {}", help(HISTOGRAM));
        let _ = writeln!(out, "# TYPE {HISTOGRAM} histogram");
        for (labels, (sum, count)) in &sums {
            let have = buckets.get(labels);
            for le in LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]) {
                let v = have
                    .and_then(|b| b.get(&le.to_bits()))
                    .copied()
                    .unwrap_or(0.0);
                let l = if labels.is_empty() {
                    format!("le=\"{}\"", le_text(le))
                } else {
                    format!("{labels},le=\"{}\"", le_text(le))
                };
                series(&mut out, &format!("{HISTOGRAM}_bucket"), &l, v);
            }
            series(&mut out, &format!("{HISTOGRAM}_sum"), labels, *sum);
            series(&mut out, &format!("{HISTOGRAM}_count"), labels, *count);
        }
    }
    let mut by_metric: BTreeMap<&str, Vec<&Gauge>> = BTreeMap::new();
    for g in gauges {
        by_metric.entry(&g.metric).or_default().push(g);
    }
    for (metric, rows) in by_metric {
        let _ = writeln!(out, "# HELP {metric} {}", rows[0].help);
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for g in rows {
            series(&mut out, metric, &g.labels, g.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_complete_and_ordered() {
        let t = |m: &str, l: &str, v: f64| MetricTotal {
            metric: m.into(),
            labels: l.into(),
            value: v,
        };
        let text = render(
            &[
                t(
                    "quantdal_operation_duration_seconds_bucket",
                    "store=\"e\",operation=\"save\",le=\"10\"",
                    1.0,
                ),
                t(
                    "quantdal_operation_duration_seconds_bucket",
                    "store=\"e\",operation=\"save\",le=\"+Inf\"",
                    1.0,
                ),
                t(
                    "quantdal_operation_duration_seconds_sum",
                    "store=\"e\",operation=\"save\"",
                    6.0,
                ),
                t(
                    "quantdal_operation_duration_seconds_count",
                    "store=\"e\",operation=\"save\"",
                    1.0,
                ),
                t("quantdal_operations_total", "store=\"e\"", 3.0),
            ],
            &[],
        );
        assert!(text.contains(
            "# TYPE quantdal_operations_total counter\nquantdal_operations_total{store=\"e\"} 3\n"
        ));
        let buckets: Vec<&str> = text.lines().filter(|l| l.contains("_bucket")).collect();
        assert_eq!(buckets.len(), LATENCY_BUCKETS.len() + 1);
        assert!(buckets[0].ends_with("le=\"0.001\"} 0"));
        assert!(buckets[LATENCY_BUCKETS.len() - 1].ends_with("le=\"10\"} 1"));
        assert!(buckets[LATENCY_BUCKETS.len()].ends_with("le=\"+Inf\"} 1"));
    }
}
