//! quantdal-core: the backend-neutral heart of quantdal — data-class specs and their YAML, Arrow type
//! mapping, batch validation, the `Load` query model, the `Store` trait and the error type.

pub mod admin;
pub mod backend;
pub mod bars;
pub mod cache;
pub mod catalog;
pub mod columns;
pub mod error;
pub mod eval;
pub mod fnv;
pub mod group;
pub mod kline;
pub mod load;
pub mod options;
pub mod output;
pub mod quality;
pub mod settings;
pub mod spec;
pub mod sqlgen;
pub mod store;
pub mod time;
pub mod types;
pub mod validate;
pub mod versions;

pub use admin::{FileCompaction, SeriesSummary, SqlDialect, SqlRequest, StorageReport};
pub use backend::{Backend, Capabilities, Gauge, OpenContext};
pub use bars::InfoBar;
pub use cache::{LatestCache, SeriesKey};
pub use catalog::Catalog;
pub use error::{Error, ErrorKind, Result};
pub use kline::{kline_schema, Interval};
pub use load::{col, Load, Op, Order, Predicate, Query, Scalar, Value};
pub use settings::{
    CacheSettings, LakeView, MonitoringStore, Settings, SqlSettings, StoreKind, StoreSettings,
};
pub use spec::{Category, ColumnSpec, TableSpec, Versions};
pub use store::{
    BatchStream, Migration, Operation, ProvisionStatus, StatementText, Store, StoreInfo,
};
pub use time::Timestamp;
pub use types::{NeutralType, TimePrecision};
pub use validate::{normalize_batch, SaveOptions};

/// The shipped class catalog, so `Dal::embedded` works from any folder.
pub const BUILTIN_TABLE_CONFIG: &str = include_str!("../../../config/table_config.yaml");
