//! Where the writer task puts records. Two implementations: embedded SQLite and PostgreSQL.

use async_trait::async_trait;
use quantdal_core::Result;

use crate::ddl::Dialect;
use crate::effects::MetricDelta;
use crate::record::Record;
use crate::sql::{Cell, Param};

#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Writes `records` (idempotently by id) and their alerts and metric totals, plus `extra` metric
    /// increments, in one transaction.
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()>;
}

/// A sink that can also be queried: what [`crate::MonitorDb`] wraps.
#[async_trait]
pub trait Backend: Sink {
    fn dialect(&self) -> Dialect;
    async fn query(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Vec<Cell>>>;
    /// Rows changed.
    async fn execute(&self, sql: &str, params: Vec<Param>) -> Result<u64>;
}
