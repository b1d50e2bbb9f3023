//! Inline data-quality checks on a save: run the enabled checks, grade them against thresholds, and apply
//! the class policy (reject / warn / quarantine).

mod checks;
mod config;
mod roles;

use std::time::Instant;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::boolean;
use quantdal_core::{Error, Result, TableSpec};

pub use config::{
    parse_duration_ns, Checks, ColumnRoles, Limit, Ohlc, Policy, QualityConfig, Thresholds,
};
pub use roles::ResolvedQuality;

use crate::id::next_id;
use crate::record::{CheckStatus, QualityCheckRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    Nulls,
    Validity,
    Duplicates,
    Future,
    Order,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Nulls => "nulls",
            Check::Validity => "validity",
            Check::Duplicates => "duplicates",
            Check::Future => "future",
            Check::Order => "order",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub check: Check,
    pub status: CheckStatus,
    pub bad_rows: usize,
    pub measured: serde_json::Value,
    /// e.g. `warn > 0 rows, fail > 1%`.
    pub threshold: String,
    pub duration_us: i64,
    /// Bad rows, when there are any.
    pub mask: Option<BooleanArray>,
}

#[derive(Debug, Clone)]
pub struct QualityReport {
    pub class: String,
    pub rows: usize,
    pub outcomes: Vec<CheckOutcome>,
}

/// Runs every enabled check on `batch` (in the class schema). `now_ns` is the reference for `future`.
pub fn check_batch(
    q: &ResolvedQuality,
    spec: &TableSpec,
    batch: &RecordBatch,
    now_ns: i64,
) -> Result<QualityReport> {
    let rows = batch.num_rows();
    let mut outcomes = Vec::with_capacity(5);
    let checks = &q.checks;
    let plan = [
        (Check::Nulls, &checks.nulls),
        (Check::Validity, &checks.validity),
        (Check::Duplicates, &checks.duplicates),
        (Check::Future, &checks.future),
        (Check::Order, &checks.order),
    ];
    for (check, thresholds) in plan {
        if !thresholds.enabled {
            continue;
        }
        let started = Instant::now();
        let found = match check {
            Check::Nulls => checks::nulls(q, batch)?,
            Check::Validity => checks::validity(q, batch)?,
            Check::Duplicates => checks::duplicates(spec, batch)?,
            Check::Future => checks::future(q, spec, batch, now_ns)?,
            Check::Order => checks::order(spec, batch)?,
        };
        let status = if thresholds.fail.exceeded(found.bad, rows) {
            CheckStatus::Fail
        } else if thresholds.warn.exceeded(found.bad, rows) {
            CheckStatus::Warn
        } else {
            CheckStatus::Pass
        };
        outcomes.push(CheckOutcome {
            check,
            status,
            bad_rows: found.bad,
            measured: found.measured,
            threshold: format!("warn > {}, fail > {}", thresholds.warn, thresholds.fail),
            duration_us: started.elapsed().as_micros() as i64,
            mask: found.mask,
        });
    }
    Ok(QualityReport {
        class: q.class.clone(),
        rows,
        outcomes,
    })
}

/// A row kept out of the save by the quarantine policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub row_index: usize,
    /// Failed checks, comma-separated.
    pub reason: String,
    /// The row as a JSON object.
    pub row: String,
}

/// What the policy makes of a checked batch.
#[derive(Debug)]
pub enum Decision {
    /// Save this batch (all rows).
    Save(RecordBatch),
    /// Save nothing; return this error.
    Reject(Error),
    /// Save `good`; record `rejected`.
    Quarantine {
        good: RecordBatch,
        rejected: Vec<Rejected>,
    },
}

impl QualityReport {
    /// The worst status of any check.
    pub fn status(&self) -> CheckStatus {
        self.outcomes
            .iter()
            .map(|o| o.status)
            .max()
            .unwrap_or(CheckStatus::Pass)
    }

    /// One quality_checks row per check run.
    pub fn records(&self, time_us: i64, op_id: Option<&str>) -> Vec<QualityCheckRecord> {
        self.outcomes
            .iter()
            .map(|o| QualityCheckRecord {
                id: next_id(),
                time_us,
                class: self.class.clone(),
                check: o.check.as_str().to_string(),
                status: o.status,
                rows: self.rows as i64,
                bad_rows: o.bad_rows as i64,
                measured: o.measured.to_string(),
                threshold: o.threshold.clone(),
                duration_us: o.duration_us,
                op_id: op_id.map(str::to_string),
            })
            .collect()
    }

    /// Applies `policy` to `batch` (the batch these results are for).
    pub fn decide(&self, policy: Policy, batch: RecordBatch) -> Result<Decision> {
        match policy {
            Policy::Warn => Ok(Decision::Save(batch)),
            Policy::Reject => {
                let failed: Vec<String> = self
                    .outcomes
                    .iter()
                    .filter(|o| o.status == CheckStatus::Fail)
                    .map(|o| {
                        format!(
                            "{} ({} of {} rows; {}; {})",
                            o.check.as_str(),
                            o.bad_rows,
                            self.rows,
                            o.measured,
                            o.threshold
                        )
                    })
                    .collect();
                if failed.is_empty() {
                    return Ok(Decision::Save(batch));
                }
                Ok(Decision::Reject(
                    Error::invalid_batch(format!(
                        "rejected by quality checks: {}",
                        failed.join("; ")
                    ))
                    .with_class(self.class.clone())
                    .with_operation("save"),
                ))
            }
            Policy::Quarantine => {
                let acting: Vec<&CheckOutcome> = self
                    .outcomes
                    .iter()
                    .filter(|o| o.status != CheckStatus::Pass)
                    .filter(|o| o.mask.is_some())
                    .collect();
                let mut bad: Option<BooleanArray> = None;
                for o in &acting {
                    if let Some(m) = &o.mask {
                        bad = Some(match bad {
                            Some(b) => boolean::or(&b, m)?,
                            None => m.clone(),
                        });
                    }
                }
                let Some(bad) = bad.filter(|b| b.true_count() > 0) else {
                    return Ok(Decision::Save(batch));
                };
                let idx = checks::indices(&bad);
                let json = checks::rows_as_json(&batch, &idx)?;
                let rejected = idx
                    .values()
                    .iter()
                    .zip(json)
                    .map(|(&i, row)| {
                        let i = i as usize;
                        let reason = acting
                            .iter()
                            .filter(|o| o.mask.as_ref().is_some_and(|m| m.value(i)))
                            .map(|o| o.check.as_str())
                            .collect::<Vec<_>>()
                            .join(",");
                        Rejected {
                            row_index: i,
                            reason,
                            row,
                        }
                    })
                    .collect();
                let good = filter_record_batch(&batch, &boolean::not(&bad)?)?;
                Ok(Decision::Quarantine { good, rejected })
            }
        }
    }
}
