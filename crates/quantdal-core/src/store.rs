//! The one trait every backend implements, and every layer (retry, tracing, monitoring) implements too, so
//! the router never grows a special case per concern.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::admin::{SeriesSummary, SqlRequest, StorageReport};
use crate::backend::{Capabilities, Gauge};
use crate::bars::InfoBar;
use crate::error::Result;
use crate::kline::Interval;
use crate::load::Query;
use crate::settings::StoreKind;
use crate::spec::TableSpec;

/// Batches of a load, in order; dropping the stream cancels the rest of the read. Loads, `latest` and
/// `kline` always yield at least one batch, so callers see the result schema even when no row matches.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Name in `quantdal.yaml` (`embedded`, `warehouse`, …).
    pub name: String,
    pub kind: StoreKind,
    /// Where it lives, for humans: a file path or a URL with the password hidden.
    pub location: String,
    /// What it can do (its backend's declaration).
    pub capabilities: Capabilities,
}

/// What `provision` found for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionStatus {
    Created,
    AlreadyPresent,
    /// The table exists but differs from the spec; each entry says how.
    Drift(Vec<String>),
    /// The table does not exist (reported by checks, which create nothing).
    Missing,
}

impl fmt::Display for ProvisionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionStatus::Created => f.write_str("created"),
            ProvisionStatus::AlreadyPresent => f.write_str("already present"),
            ProvisionStatus::Drift(d) => write!(f, "drift: {}", d.join("; ")),
            ProvisionStatus::Missing => f.write_str("missing"),
        }
    }
}

/// What `migrate` did for one class: additive changes applied, destructive ones refused with what a human
/// must do instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    pub applied: Vec<String>,
    pub refused: Vec<String>,
}

/// The operations a store serves, as monitoring and tracing name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Provision,
    Save,
    Load,
    Latest,
    Kline,
    Delete,
    Count,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Provision => "provision",
            Operation::Save => "save",
            Operation::Load => "load",
            Operation::Latest => "latest",
            Operation::Kline => "kline",
            Operation::Delete => "delete",
            Operation::Count => "count",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of a statement a store runs, with placeholders where the values go: what slow-query logs show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    pub sql: String,
    /// Bound parameters the statement takes.
    pub parameters: usize,
}

#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    fn info(&self) -> &StoreInfo;

    /// Creates what is missing, idempotently, and reports drift it does not fix.
    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus>;

    /// Compares the live table with the spec and changes nothing: `Missing`, `AlreadyPresent` or `Drift`.
    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let _ = spec;
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "store `{}` cannot check its tables against the spec",
                self.info().name
            ),
        ))
    }

    /// Applies the additive part of the drift (new columns, indexes, relaxed NOT NULL) and refuses the rest.
    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        let _ = spec;
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!("store `{}` cannot migrate its tables", self.info().name),
        ))
    }

    /// What provisioning this class on this store leaves out and why (e.g. TimescaleDB features on a server
    /// without the extension), for `provision` to print.
    fn provision_notes(&self, _spec: &TableSpec) -> Vec<String> {
        Vec::new()
    }

    /// Upserts a batch already normalised to `spec`'s schema: all rows or none. Returns rows written.
    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64>;

    /// Rows matching `query`, projected, ordered and limited as it says.
    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream>;

    /// The last row (by time) of each series matching `query`.
    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>>;

    /// OHLCV bars of `interval` computed in the store from ticks or finer bars.
    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>>;

    /// Information-driven bars (`ticks:N`, `volume:V`, `dollar:D`; the rule is in [`crate::bars`]). The
    /// default computes them in Rust over [`Store::load`]; SQL stores compute them in the store.
    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        crate::bars::check_bars(spec, bar)?;
        let (source, order, limit) = crate::bars::source_query(spec, query)?;
        let stream = self.load(spec, source).await?;
        crate::bars::compute(spec, bar, stream, order, limit).await
    }

    /// Every revision of the keys matching `query` with its knowledge time and tombstone flag (versioned
    /// classes; the schema is [`crate::versions::history_schema`]).
    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let _ = (spec, query);
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "store `{}` ({}) keeps no revisions",
                self.info().name,
                self.info().kind
            ),
        ))
    }

    /// Deletes rows matching `query`; returns how many.
    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64>;

    /// Rows currently held for the class (used by provisioning reports and tests).
    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64>;

    /// The main statement `operation` runs for `query` (placeholders, never values), for slow-query
    /// records. Stores that cannot say return `None`; layers forward to the store they wrap.
    fn statement(
        &self,
        _spec: &TableSpec,
        _operation: Operation,
        _query: Option<&Query>,
    ) -> Option<StatementText> {
        None
    }

    /// The rows saved from now on whose series match `query`'s tag conditions (across processes), for
    /// stores that carry a live feed.
    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let _ = (spec, query);
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "store `{}` ({}) has no live feed; route the class to Redis or give it a latest-row cache \
                 (`cache:` in quantdal.yaml)",
                self.info().name,
                self.info().kind
            ),
        ))
    }

    /// Live gauges for `/metrics` (pool connections, spool depth…); layers add their own to the inner's.
    fn gauges(&self) -> Vec<Gauge> {
        Vec::new()
    }

    /// Runs one statement the facade's SQL guard checked and rewrote (`quantdal sql`): on a read-only
    /// connection or transaction, cancelled at `request.timeout`. The only way caller SQL reaches a store.
    async fn sql(&self, request: &SqlRequest) -> Result<BatchStream> {
        let _ = request;
        Err(crate::admin::unsupported(
            &self.info().name,
            "read-only SQL",
        ))
    }

    /// Rows and first / last time per series of the rows matching `query` (and rows per UTC day with
    /// `by_day`), for `quantdal overview` and the dashboard's coverage view. The default reads the series and
    /// time columns through `load`; SQL stores answer with one GROUP BY.
    async fn summarize(
        &self,
        spec: &Arc<TableSpec>,
        query: Query,
        by_day: bool,
    ) -> Result<Vec<SeriesSummary>> {
        let stream = self
            .load(spec, crate::admin::summary_query(spec, query))
            .await?;
        crate::admin::summarize_stream(spec, stream, by_day).await
    }

    /// Bytes on disk per class table, tables no class declares, and the embedded file's free space.
    async fn storage(&self, specs: &[Arc<TableSpec>]) -> Result<StorageReport> {
        let _ = specs;
        Err(crate::admin::unsupported(
            &self.info().name,
            "storage figures",
        ))
    }

    /// Reclaims space and refreshes statistics in place (PostgreSQL `VACUUM (ANALYZE)`, TDengine `COMPACT
    /// DATABASE`); returns what it ran. The embedded file is compacted by copying it instead
    /// (`quantdal db compact`), which needs the file closed.
    async fn compact(&self, specs: &[Arc<TableSpec>]) -> Result<Vec<String>> {
        let _ = specs;
        Err(crate::admin::unsupported(
            &self.info().name,
            "in-place compaction",
        ))
    }
}
