//! On-demand quality checks (`quantdal check`, and on schedule in `quantdal serve`): freshness,
//! completeness and consistency per class, read through the `Dal` (so they work on every store) and
//! computed over Arrow arrays. Each result is a quality_checks row, recorded through the monitor.

mod calendar;
mod completeness;
mod consistency;
mod freshness;

use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit, TimestampNanosecondType};
use quantdal_core::quality::Limit;
use quantdal_core::{Error, Result, TableSpec};
use quantdal_monitor::quality::parse_duration_ns;
use quantdal_monitor::{next_id, now_us, CheckStatus, QualityCheckRecord, Record};

use crate::Dal;

pub(crate) use calendar::Calendar;

/// One check's verdict before it becomes a record.
pub(crate) struct Verdict {
    pub status: CheckStatus,
    pub rows: i64,
    pub bad_rows: i64,
    pub measured: serde_json::Value,
    pub threshold: String,
}

impl Dal {
    /// Runs the on-demand checks configured for `class` (or every class), records each result in the
    /// monitoring store and returns them. A check that cannot run (e.g. the store is away) is a `fail`
    /// row saying why, so one broken class does not hide the others.
    pub async fn run_checks(&self, class: Option<&str>) -> Result<Vec<QualityCheckRecord>> {
        let specs: Vec<_> = match class {
            Some(c) => vec![self.spec(c)?],
            None => self.config.catalog.classes().to_vec(),
        };
        let calendar = Calendar::load(self).await;
        let now_ns = now_us().saturating_mul(1000);
        let mut out = Vec::new();
        for spec in specs {
            let Some(q) = spec.quality.clone() else {
                continue;
            };
            let mut plan: Vec<&str> = Vec::new();
            if q.freshness.is_some() {
                plan.push("freshness");
            }
            if q.completeness.is_some() {
                plan.push("completeness");
            }
            if q.consistency.is_some() {
                plan.push("consistency");
            }
            for check in plan {
                let started = Instant::now();
                let verdict = match check {
                    "freshness" => freshness::run(self, &spec, &q, &calendar, now_ns).await,
                    "completeness" => completeness::run(self, &spec, &q, &calendar, now_ns).await,
                    _ => consistency::run(self, &spec, &q, &calendar, now_ns).await,
                };
                let verdict = verdict.unwrap_or_else(|e| Verdict {
                    status: CheckStatus::Fail,
                    rows: 0,
                    bad_rows: 0,
                    measured: serde_json::json!({ "error": e.to_string() }),
                    threshold: String::new(),
                });
                let record = QualityCheckRecord {
                    id: next_id(),
                    time_us: now_us(),
                    class: spec.name.clone(),
                    check: check.to_string(),
                    status: verdict.status,
                    rows: verdict.rows,
                    bad_rows: verdict.bad_rows,
                    measured: verdict.measured.to_string(),
                    threshold: verdict.threshold,
                    duration_us: started.elapsed().as_micros() as i64,
                    op_id: None,
                };
                if let Some(m) = self.monitor() {
                    m.record(Record::Quality(record.clone()));
                }
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// Grades a count of bad items against limits, like the inline checks.
pub(crate) fn grade(bad: usize, total: usize, warn: Limit, fail: Limit) -> CheckStatus {
    if fail.exceeded(bad, total) {
        CheckStatus::Fail
    } else if warn.exceeded(bad, total) {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    }
}

pub(crate) fn duration_ns(text: &str) -> Result<i64> {
    parse_duration_ns(text).map_err(Error::config)
}

/// The time column of a batch as UTC nanoseconds (DATE → midnight).
pub(crate) fn time_ns(spec: &TableSpec, batch: &RecordBatch) -> Result<Vec<Option<i64>>> {
    let time = spec.time.as_ref().ok_or_else(|| {
        Error::config("the class has no time column").with_class(spec.name.clone())
    })?;
    let col = batch
        .column_by_name(&time.column)
        .ok_or_else(|| Error::store(format!("result lacks the time column `{}`", time.column)))?;
    let ns = cast(col, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    let ns = ns.as_primitive::<TimestampNanosecondType>();
    Ok(ns.iter().collect())
}

/// The series key of each row: tag values joined with `/`.
pub(crate) fn series_keys(spec: &TableSpec, batch: &RecordBatch) -> Result<Vec<String>> {
    let cols: Vec<ArrayRef> = spec
        .series_columns()
        .iter()
        .map(|c| {
            let a = batch
                .column_by_name(c)
                .ok_or_else(|| Error::store(format!("result lacks the series column `{c}`")))?;
            Ok(cast(a, &DataType::Utf8)?)
        })
        .collect::<Result<_>>()?;
    let strings: Vec<&StringArray> = cols.iter().map(|a| a.as_string::<i32>()).collect();
    Ok((0..batch.num_rows())
        .map(|i| {
            strings
                .iter()
                .map(|s| if s.is_null(i) { "" } else { s.value(i) })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect())
}

pub(crate) const DAY_NS: i64 = 86_400_000_000_000;
