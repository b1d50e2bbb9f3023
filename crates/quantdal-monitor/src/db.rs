//! The monitoring store as the CLI and dashboard see it: writes through a [`Sink`], and the queries behind
//! every panel, identical on SQLite and PostgreSQL (integer-microsecond times, `$n` parameters).

mod audit;

pub use audit::LastWrite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use quantdal_core::Result;
use serde::{Deserialize, Serialize};

use crate::ddl::Dialect;
use crate::effects::MetricDelta;
use crate::postgres::PostgresSink;
use crate::record::{
    Alert, AlertLevel, AlertStatus, CheckStatus, OpStatus, OperationRecord, QualityCheckRecord,
    Record, RejectRecord, SlowLevel, SlowQuery,
};
use crate::sink::{Backend, Sink};
use crate::sql::{Param, RowRef};
use crate::sqlite::SqliteSink;

/// Which rows a query returns: since a time, optionally one class, at most `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub since_us: i64,
    pub class: Option<String>,
    pub limit: u32,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            since_us: 0,
            class: None,
            limit: 1000,
        }
    }
}

impl Filter {
    /// Rows of the last `window`.
    pub fn last(window: Duration) -> Filter {
        Filter {
            since_us: crate::record::now_us() - window.as_micros() as i64,
            ..Filter::default()
        }
    }
    pub fn class(mut self, class: impl Into<String>) -> Filter {
        self.class = Some(class.into());
        self
    }
    pub fn limit(mut self, limit: u32) -> Filter {
        self.limit = limit;
        self
    }
    fn params(&self) -> Vec<Param> {
        vec![
            self.since_us.into(),
            self.class.clone().unwrap_or_default().into(),
            i64::from(self.limit).into(),
        ]
    }
}

/// `$1` since, `$2` class ('' = all); `$3` (limit) is used by the caller.
const WHERE_OPS: &str = "start_us >= $1 AND (CAST($2 AS TEXT) = '' OR class = $2)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinutePoint {
    pub minute_us: i64,
    pub class: String,
    pub store: String,
    pub status: OpStatus,
    pub operations: i64,
    pub rows: i64,
    pub max_duration_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    pub store: String,
    pub operation: String,
    pub operations: i64,
    pub p50_us: i64,
    pub p95_us: i64,
    pub p99_us: i64,
    pub max_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowStatement {
    pub store: String,
    pub class: String,
    pub operation: String,
    pub statement: String,
    pub occurrences: i64,
    pub max_duration_us: i64,
    pub avg_duration_us: f64,
    pub last_seen_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTotal {
    pub metric: String,
    pub labels: String,
    pub value: f64,
}

/// Days to keep, per table. Alerts are pruned only once resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "days_7")]
    pub operations_days: u32,
    #[serde(default = "days_30")]
    pub slow_queries_days: u32,
    #[serde(default = "days_90")]
    pub quality_checks_days: u32,
    #[serde(default = "days_30")]
    pub rejects_days: u32,
    #[serde(default = "days_90")]
    pub alerts_days: u32,
}

fn days_7() -> u32 {
    7
}
fn days_30() -> u32 {
    30
}
fn days_90() -> u32 {
    90
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            operations_days: 7,
            slow_queries_days: 30,
            quality_checks_days: 90,
            rejects_days: 30,
            alerts_days: 90,
        }
    }
}

impl From<&quantdal_core::settings::RetentionSettings> for Retention {
    fn from(r: &quantdal_core::settings::RetentionSettings) -> Self {
        Retention {
            operations_days: r.operations_days,
            slow_queries_days: r.slow_queries_days,
            quality_checks_days: r.quality_checks_days,
            rejects_days: r.rejects_days,
            alerts_days: r.alerts_days,
        }
    }
}

/// Rows removed per table by [`MonitorDb::prune`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    pub operations: u64,
    pub slow_queries: u64,
    pub quality_checks: u64,
    pub rejects: u64,
    pub alerts: u64,
}

#[derive(Debug, Clone)]
pub struct MonitorDb {
    backend: Arc<dyn Backend>,
}

#[async_trait]
impl Sink for MonitorDb {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        self.backend.write(records, extra).await
    }
}

impl MonitorDb {
    /// The embedded store (creates the file and tables). Blocking.
    pub fn open_sqlite(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<MonitorDb> {
        Ok(MonitorDb {
            backend: Arc::new(SqliteSink::open(path, busy_timeout)?),
        })
    }

    pub async fn connect_postgres(
        url: &str,
        schema: Option<&str>,
        application: &str,
    ) -> Result<MonitorDb> {
        Ok(MonitorDb {
            backend: Arc::new(PostgresSink::connect(url, schema, application).await?),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    /// Operations, newest first.
    pub async fn ops(&self, filter: &Filter) -> Result<Vec<OperationRecord>> {
        let sql = format!(
            "SELECT id, start_us, operation, class, store, kind, table_name, row_count, byte_count, status, \
             error_kind, error_message, duration_us, application, host, pid \
             FROM operations WHERE {WHERE_OPS} ORDER BY start_us DESC, id DESC LIMIT $3"
        );
        let rows = self.backend.query(&sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(OperationRecord {
                    id: r.text(0)?,
                    start_us: r.int(1)?,
                    operation: r.text(2)?,
                    class: r.text(3)?,
                    store: r.text(4)?,
                    kind: r.text(5)?,
                    table: r.text(6)?,
                    rows: r.opt_int(7)?,
                    bytes: r.opt_int(8)?,
                    status: r.parsed(9, OpStatus::parse)?,
                    error_kind: r.opt_text(10)?,
                    error_message: r.opt_text(11)?,
                    duration_us: r.int(12)?,
                    application: r.text(13)?,
                    host: r.text(14)?,
                    pid: r.int(15)?,
                })
            })
            .collect()
    }

    /// Slow-query rows, newest first.
    pub async fn slow(&self, filter: &Filter) -> Result<Vec<SlowQuery>> {
        let sql = format!(
            "SELECT op_id, start_us, class, store, operation, statement, parameters, row_count, duration_us, level \
             FROM slow_queries WHERE {WHERE_OPS} ORDER BY start_us DESC, op_id DESC LIMIT $3"
        );
        let rows = self.backend.query(&sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(SlowQuery {
                    op_id: r.text(0)?,
                    start_us: r.int(1)?,
                    class: r.text(2)?,
                    store: r.text(3)?,
                    operation: r.text(4)?,
                    statement: r.text(5)?,
                    parameters: r.int(6)?,
                    rows: r.opt_int(7)?,
                    duration_us: r.int(8)?,
                    level: r.parsed(9, SlowLevel::parse)?,
                })
            })
            .collect()
    }

    /// Slow statements grouped by text, slowest first (the view `top_slow_statements` over a window).
    pub async fn top_slow(&self, filter: &Filter) -> Result<Vec<SlowStatement>> {
        let sql = format!(
            "SELECT store, class, operation, statement, COUNT(*) AS occurrences, MAX(duration_us), \
             CAST(AVG(duration_us) AS DOUBLE PRECISION), MAX(start_us) \
             FROM slow_queries WHERE {WHERE_OPS} GROUP BY store, class, operation, statement \
             ORDER BY MAX(duration_us) DESC LIMIT $3"
        );
        let rows = self.backend.query(&sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(SlowStatement {
                    store: r.text(0)?,
                    class: r.text(1)?,
                    operation: r.text(2)?,
                    statement: r.text(3)?,
                    occurrences: r.int(4)?,
                    max_duration_us: r.int(5)?,
                    avg_duration_us: r.float(6)?,
                    last_seen_us: r.int(7)?,
                })
            })
            .collect()
    }

    /// Quality results, newest first.
    pub async fn quality(&self, filter: &Filter) -> Result<Vec<QualityCheckRecord>> {
        let sql = "SELECT id, time_us, class, check_name, status, row_count, bad_rows, measured, threshold, duration_us, op_id \
             FROM quality_checks WHERE time_us >= $1 AND (CAST($2 AS TEXT) = '' OR class = $2) \
             ORDER BY time_us DESC, id DESC LIMIT $3";
        self.quality_rows(sql, filter).await
    }

    /// The latest result per class and check (the view `quality_latest` over a window).
    pub async fn quality_status(&self, filter: &Filter) -> Result<Vec<QualityCheckRecord>> {
        let sql = "SELECT id, time_us, class, check_name, status, row_count, bad_rows, measured, threshold, duration_us, op_id \
             FROM (SELECT q.*, ROW_NUMBER() OVER (PARTITION BY class, check_name ORDER BY time_us DESC, id DESC) AS rn \
                   FROM quality_checks q WHERE time_us >= $1 AND (CAST($2 AS TEXT) = '' OR class = $2)) latest \
             WHERE rn = 1 ORDER BY class, check_name LIMIT $3";
        self.quality_rows(sql, filter).await
    }

    async fn quality_rows(&self, sql: &str, filter: &Filter) -> Result<Vec<QualityCheckRecord>> {
        let rows = self.backend.query(sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(QualityCheckRecord {
                    id: r.text(0)?,
                    time_us: r.int(1)?,
                    class: r.text(2)?,
                    check: r.text(3)?,
                    status: r.parsed(4, CheckStatus::parse)?,
                    rows: r.int(5)?,
                    bad_rows: r.int(6)?,
                    measured: r.text(7)?,
                    threshold: r.text(8)?,
                    duration_us: r.int(9)?,
                    op_id: r.opt_text(10)?,
                })
            })
            .collect()
    }

    /// Quarantined rows, newest first.
    pub async fn rejects(&self, filter: &Filter) -> Result<Vec<RejectRecord>> {
        let sql = "SELECT id, time_us, op_id, class, reason, row_index, row_json FROM rejects \
             WHERE time_us >= $1 AND (CAST($2 AS TEXT) = '' OR class = $2) ORDER BY time_us DESC, row_index LIMIT $3";
        let rows = self.backend.query(sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(RejectRecord {
                    id: r.text(0)?,
                    time_us: r.int(1)?,
                    op_id: r.text(2)?,
                    class: r.text(3)?,
                    reason: r.text(4)?,
                    row_index: r.int(5)?,
                    row: r.text(6)?,
                })
            })
            .collect()
    }

    /// Alerts seen since `filter.since_us`, most recent first; resolved ones only when asked.
    pub async fn alerts(&self, filter: &Filter, include_resolved: bool) -> Result<Vec<Alert>> {
        let sql = "SELECT id, dedup_key, level, class, store, first_seen_us, last_seen_us, occurrences, status, message \
             FROM alerts WHERE last_seen_us >= $1 AND (CAST($2 AS TEXT) = '' OR class = $2) \
             AND (status <> 'resolved' OR CAST($3 AS BIGINT) = 1) ORDER BY last_seen_us DESC, id DESC LIMIT $4";
        // Numbered in order of first use: SQLite numbers `$n` parameters by appearance.
        let mut params = filter.params();
        params.insert(2, i64::from(include_resolved).into());
        let rows = self.backend.query(sql, params).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(Alert {
                    id: r.int(0)?,
                    dedup_key: r.text(1)?,
                    level: r.parsed(2, AlertLevel::parse)?,
                    class: r.opt_text(3)?,
                    store: r.opt_text(4)?,
                    first_seen_us: r.int(5)?,
                    last_seen_us: r.int(6)?,
                    occurrences: r.int(7)?,
                    status: r.parsed(8, AlertStatus::parse)?,
                    message: r.text(9)?,
                })
            })
            .collect()
    }

    /// Marks an open alert acknowledged; false when no unresolved alert has this id.
    pub async fn ack(&self, id: i64) -> Result<bool> {
        let n = self
            .backend
            .execute(
                "UPDATE alerts SET status = 'acknowledged' WHERE id = $1 AND status <> 'resolved'",
                vec![id.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Marks an alert resolved (it reopens if the problem recurs); false when no alert has this id.
    pub async fn resolve(&self, id: i64) -> Result<bool> {
        let n = self
            .backend
            .execute(
                "UPDATE alerts SET status = 'resolved' WHERE id = $1",
                vec![id.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Operations per minute by class, store and status, oldest first (the view `ops_per_minute`).
    pub async fn ops_per_minute(&self, filter: &Filter) -> Result<Vec<MinutePoint>> {
        let sql = format!(
            "SELECT (start_us / 60000000) * 60000000 AS minute_us, class, store, status, COUNT(*), \
             CAST(SUM(COALESCE(row_count, 0)) AS BIGINT), MAX(duration_us) \
             FROM operations WHERE {WHERE_OPS} \
             GROUP BY (start_us / 60000000) * 60000000, class, store, status \
             ORDER BY minute_us, class, store, status LIMIT $3"
        );
        let rows = self.backend.query(&sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(MinutePoint {
                    minute_us: r.int(0)?,
                    class: r.text(1)?,
                    store: r.text(2)?,
                    status: r.parsed(3, OpStatus::parse)?,
                    operations: r.int(4)?,
                    rows: r.int(5)?,
                    max_duration_us: r.int(6)?,
                })
            })
            .collect()
    }

    /// Nearest-rank p50 / p95 / p99 per store and operation (the view `latency_percentiles`).
    pub async fn latency(&self, filter: &Filter) -> Result<Vec<LatencyRow>> {
        let sql = format!(
            "SELECT store, operation, MAX(n), \
             MIN(CASE WHEN rn * 100 >= n * 50 THEN duration_us END), \
             MIN(CASE WHEN rn * 100 >= n * 95 THEN duration_us END), \
             MIN(CASE WHEN rn * 100 >= n * 99 THEN duration_us END), \
             MAX(duration_us) \
             FROM (SELECT store, operation, duration_us, \
                   ROW_NUMBER() OVER (PARTITION BY store, operation ORDER BY duration_us) AS rn, \
                   COUNT(*) OVER (PARTITION BY store, operation) AS n \
                   FROM operations WHERE {WHERE_OPS}) ranked \
             GROUP BY store, operation ORDER BY store, operation LIMIT $3"
        );
        let rows = self.backend.query(&sql, filter.params()).await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(LatencyRow {
                    store: r.text(0)?,
                    operation: r.text(1)?,
                    operations: r.int(2)?,
                    p50_us: r.int(3)?,
                    p95_us: r.int(4)?,
                    p99_us: r.int(5)?,
                    max_us: r.int(6)?,
                })
            })
            .collect()
    }

    /// Every monotonic total (the source of `/metrics`).
    pub async fn metric_totals(&self) -> Result<Vec<MetricTotal>> {
        let rows = self
            .backend
            .query(
                "SELECT metric, labels, value FROM metric_totals ORDER BY metric, labels",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(MetricTotal {
                    metric: r.text(0)?,
                    labels: r.text(1)?,
                    value: r.float(2)?,
                })
            })
            .collect()
    }

    /// Deletes rows older than their table's retention (alerts: resolved ones only).
    pub async fn prune(&self, retention: &Retention, now_us: i64) -> Result<PruneReport> {
        let cutoff = |days: u32| now_us - i64::from(days) * 86_400_000_000;
        let run = |sql: &'static str, days: u32| {
            let backend = self.backend.clone();
            async move { backend.execute(sql, vec![cutoff(days).into()]).await }
        };
        Ok(PruneReport {
            operations: run(
                "DELETE FROM operations WHERE start_us < $1",
                retention.operations_days,
            )
            .await?,
            slow_queries: run(
                "DELETE FROM slow_queries WHERE start_us < $1",
                retention.slow_queries_days,
            )
            .await?,
            quality_checks: run(
                "DELETE FROM quality_checks WHERE time_us < $1",
                retention.quality_checks_days,
            )
            .await?,
            rejects: run(
                "DELETE FROM rejects WHERE time_us < $1",
                retention.rejects_days,
            )
            .await?,
            alerts: run(
                "DELETE FROM alerts WHERE status = 'resolved' AND last_seen_us < $1",
                retention.alerts_days,
            )
            .await?,
        })
    }
}
