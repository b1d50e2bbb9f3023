//! quantdal-monitor: what the data layer did, durably. A store decorator records one row per operation
//! (plus slow statements and inline data-quality results) through a bounded channel to a batching writer;
//! the writer puts them in a monitoring store (embedded SQLite or PostgreSQL), spilling to a local file when
//! that store is away. The same store answers the CLI and the dashboard.

mod db;
mod ddl;
mod effects;
mod id;
mod layer;
mod lazy;
mod monitor;
mod postgres;
pub mod quality;
mod rate;
mod record;
pub mod serve;
mod sink;
mod spill;
mod sql;
mod sqlite;
mod writer;

pub use db::{
    Filter, LastWrite, LatencyRow, MetricTotal, MinutePoint, MonitorDb, PruneReport, Retention,
    SlowStatement,
};
pub use ddl::{ddl, Dialect};
pub use effects::{MetricDelta, LATENCY_BUCKETS};
pub use id::next_id;
pub use layer::{MonitorLayer, MonitoredStore};
pub use lazy::{LazySink, SinkOpener};
pub use monitor::{Identity, Monitor, MonitorOptions};
pub use postgres::PostgresSink;
pub use record::{
    format_us, now_us, Alert, AlertLevel, AlertStatus, CheckStatus, OpStatus, OperationRecord,
    QualityCheckRecord, Record, RejectRecord, SlowLevel, SlowQuery,
};
pub use sink::Sink;
pub use sqlite::SqliteSink;
