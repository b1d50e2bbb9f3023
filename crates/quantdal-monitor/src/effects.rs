//! What newly written records imply beyond their own rows: alerts (deduplicated by key) and the monotonic
//! totals behind `/metrics`.

use std::collections::BTreeMap;

use crate::record::{AlertLevel, CheckStatus, OpStatus, Record, SlowLevel};

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub dedup_key: String,
    pub level: AlertLevel,
    pub class: Option<String>,
    pub store: Option<String>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub occurrences: i64,
    pub message: String,
    /// The condition ended (a spool drained): the alert is resolved rather than raised.
    pub resolved: bool,
}

/// An increment of one Prometheus series; `labels` is the rendered label set (`a="x",b="y"`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDelta {
    pub metric: String,
    pub labels: String,
    pub value: f64,
}

impl MetricDelta {
    pub fn new(metric: &str, labels: &[(&str, &str)], value: f64) -> Self {
        MetricDelta {
            metric: metric.to_string(),
            labels: render_labels(labels),
            value,
        }
    }
}

pub fn render_labels(labels: &[(&str, &str)]) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Alerts (merged per dedup key) and metric increments for `records`.
pub fn derive(records: &[&Record]) -> (Vec<AlertEvent>, Vec<MetricDelta>) {
    let mut alerts: BTreeMap<String, AlertEvent> = BTreeMap::new();
    let mut metrics = Vec::new();
    let mut raise = |e: AlertEvent| match alerts.get_mut(&e.dedup_key) {
        Some(a) => {
            a.occurrences += e.occurrences;
            a.first_seen_us = a.first_seen_us.min(e.first_seen_us);
            if e.last_seen_us >= a.last_seen_us {
                a.last_seen_us = e.last_seen_us;
                a.message = e.message;
                a.resolved = e.resolved;
            }
            a.level = a.level.max(e.level);
        }
        None => {
            alerts.insert(e.dedup_key.clone(), e);
        }
    };
    for record in records {
        match record {
            Record::Operation(r) => {
                let base = [
                    ("store", r.store.as_str()),
                    ("operation", r.operation.as_str()),
                    ("class", r.class.as_str()),
                ];
                let with_status = [base[0], base[1], base[2], ("status", r.status.as_str())];
                metrics.push(MetricDelta::new(
                    "quantdal_operations_total",
                    &with_status,
                    1.0,
                ));
                if let Some(rows) = r.rows {
                    metrics.push(MetricDelta::new(
                        "quantdal_operation_rows_total",
                        &base,
                        rows as f64,
                    ));
                }
                if let Some(bytes) = r.bytes {
                    metrics.push(MetricDelta::new(
                        "quantdal_operation_bytes_total",
                        &base,
                        bytes as f64,
                    ));
                }
                let seconds = r.duration_us as f64 / 1e6;
                let hist = [base[0], base[1]];
                for le in LATENCY_BUCKETS {
                    if seconds <= le {
                        let le = le.to_string();
                        metrics.push(MetricDelta::new(
                            "quantdal_operation_duration_seconds_bucket",
                            &[hist[0], hist[1], ("le", &le)],
                            1.0,
                        ));
                    }
                }
                metrics.push(MetricDelta::new(
                    "quantdal_operation_duration_seconds_bucket",
                    &[hist[0], hist[1], ("le", "+Inf")],
                    1.0,
                ));
                metrics.push(MetricDelta::new(
                    "quantdal_operation_duration_seconds_sum",
                    &hist,
                    seconds,
                ));
                metrics.push(MetricDelta::new(
                    "quantdal_operation_duration_seconds_count",
                    &hist,
                    1.0,
                ));
                // A spool holding batches is an open alert until it drains.
                let spool_key = || format!("spool:{}:{}", r.store, r.class);
                match (r.operation.as_str(), r.status) {
                    ("spool_write", OpStatus::Ok) => raise(AlertEvent {
                        dedup_key: spool_key(),
                        level: AlertLevel::Warning,
                        class: Some(r.class.clone()),
                        store: Some(r.store.clone()),
                        first_seen_us: r.start_us,
                        last_seen_us: r.start_us,
                        occurrences: 1,
                        message: format!(
                            "batches of {} are waiting in {}: the store was unavailable; they are replayed when \
                             it answers",
                            r.class, r.store
                        ),
                        resolved: false,
                    }),
                    ("spool_drained", _) => raise(AlertEvent {
                        dedup_key: spool_key(),
                        level: AlertLevel::Warning,
                        class: Some(r.class.clone()),
                        store: Some(r.store.clone()),
                        first_seen_us: r.start_us,
                        last_seen_us: r.start_us,
                        occurrences: 0,
                        message: format!("the spooled batches of {} reached the store", r.class),
                        resolved: true,
                    }),
                    _ => {}
                }
                if r.status == OpStatus::Failed {
                    let kind = r.error_kind.as_deref().unwrap_or("unknown");
                    metrics.push(MetricDelta::new(
                        "quantdal_operation_errors_total",
                        &[base[0], base[1], base[2], ("kind", kind)],
                        1.0,
                    ));
                    let level = match kind {
                        "unavailable" | "locked" | "store" | "io" | "conflict" => {
                            AlertLevel::Critical
                        }
                        _ => AlertLevel::Warning,
                    };
                    raise(AlertEvent {
                        dedup_key: format!("failed:{}:{}:{}:{kind}", r.store, r.class, r.operation),
                        level,
                        class: Some(r.class.clone()),
                        store: Some(r.store.clone()),
                        first_seen_us: r.start_us,
                        last_seen_us: r.start_us,
                        occurrences: 1,
                        message: format!(
                            "{} of {} on {} failed: {}",
                            r.operation,
                            r.class,
                            r.store,
                            r.error_message.as_deref().unwrap_or(kind)
                        ),
                        resolved: false,
                    });
                }
            }
            Record::Slow(r) => {
                metrics.push(MetricDelta::new(
                    "quantdal_slow_queries_total",
                    &[
                        ("store", &r.store),
                        ("operation", &r.operation),
                        ("class", &r.class),
                        ("level", r.level.as_str()),
                    ],
                    1.0,
                ));
                // Past `warn_ms` is logged and listed; past `slow_ms` it also raises an alert.
                if r.level == SlowLevel::Slow {
                    raise(AlertEvent {
                        dedup_key: format!("slow:{}:{}:{}", r.store, r.class, r.operation),
                        level: AlertLevel::Warning,
                        class: Some(r.class.clone()),
                        store: Some(r.store.clone()),
                        first_seen_us: r.start_us,
                        last_seen_us: r.start_us,
                        occurrences: 1,
                        message: format!(
                            "slow {} of {} on {}: {} ms",
                            r.operation,
                            r.class,
                            r.store,
                            r.duration_us / 1000
                        ),
                        resolved: false,
                    });
                }
            }
            Record::Quality(r) => {
                metrics.push(MetricDelta::new(
                    "quantdal_quality_checks_total",
                    &[
                        ("class", &r.class),
                        ("check", &r.check),
                        ("status", r.status.as_str()),
                    ],
                    1.0,
                ));
                if r.status != CheckStatus::Pass {
                    raise(AlertEvent {
                        dedup_key: format!("quality:{}:{}", r.class, r.check),
                        level: if r.status == CheckStatus::Fail {
                            AlertLevel::Critical
                        } else {
                            AlertLevel::Warning
                        },
                        class: Some(r.class.clone()),
                        store: None,
                        first_seen_us: r.time_us,
                        last_seen_us: r.time_us,
                        occurrences: 1,
                        message: format!(
                            "quality check {} on {}: {} ({} of {} rows bad; {})",
                            r.check, r.class, r.status, r.bad_rows, r.rows, r.threshold
                        ),
                        resolved: false,
                    });
                }
            }
            Record::Reject(r) => metrics.push(MetricDelta::new(
                "quantdal_rejected_rows_total",
                &[("class", &r.class)],
                1.0,
            )),
        }
    }
    (alerts.into_values().collect(), metrics)
}

/// Sums deltas of the same series, so one upsert per series per batch (PostgreSQL refuses a statement that
/// touches the same row twice).
pub fn merge_metrics(deltas: Vec<MetricDelta>) -> Vec<MetricDelta> {
    let mut merged: BTreeMap<(String, String), f64> = BTreeMap::new();
    for d in deltas {
        *merged.entry((d.metric, d.labels)).or_default() += d.value;
    }
    merged
        .into_iter()
        .map(|((metric, labels), value)| MetricDelta {
            metric,
            labels,
            value,
        })
        .collect()
}
