//! quantdal: one API for quantitative-trading data. `save` and `load` Arrow batches by data class; a router
//! sends each call to the store the class is configured for (TDengine, PostgreSQL, Redis, or the embedded
//! DuckDB default).
//!
//! ```no_run
//! # async fn demo(batch: arrow::array::RecordBatch) -> quantdal::Result<()> {
//! use quantdal::{Dal, Load};
//! let dal = Dal::embedded("data").await?;
//! dal.provision().await?;
//! dal.save("tick_data", &batch).await?;
//! let bars = dal.kline("tick_data", "5m", Load::all().symbols(["600000.SH"])).await?;
//! # Ok(()) }
//! ```

mod checks;
mod config;
pub mod layers;
pub mod monitoring;
mod open;

/// The monitoring crate: records, the monitoring store's queries, the dashboard server.
pub use quantdal_monitor as monitor;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use futures::TryStreamExt;

pub use config::{Config, ProvisionPlan};
pub use open::OpenOptions;
pub use quantdal_core::{
    col, BatchStream, Catalog, Category, Error, ErrorKind, Interval, Load, Migration, Op, Order,
    Predicate, ProvisionStatus, Result, SaveOptions, Settings, Store, StoreInfo, StoreKind,
    TableSpec, Timestamp, Value,
};

use quantdal_core::kline::check_interval;
use quantdal_core::normalize_batch;

/// What one save did.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveReport {
    pub class: String,
    pub store: String,
    pub kind: StoreKind,
    pub table: String,
    pub rows: u64,
    pub elapsed: Duration,
}

/// One class as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassInfo {
    pub class: String,
    pub category: Category,
    /// The class-level store name from the table config (`tdengine`, `postgres`, …).
    pub route: String,
    /// The concrete store it resolves to, and that store's kind.
    pub store: String,
    pub kind: StoreKind,
    pub table: String,
    pub description: String,
}

/// What `provision` found or did for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionEntry {
    pub class: String,
    pub store: String,
    pub table: String,
    pub status: ProvisionStatus,
    /// What the store left out for this class and why (e.g. TimescaleDB features without the extension).
    pub notes: Vec<String>,
}

/// What `Dal::migrate` did for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationEntry {
    pub class: String,
    pub store: String,
    pub table: String,
    pub migration: Migration,
}

/// The data-access layer: a catalog of classes and the stores they route to.
pub struct Dal {
    config: Config,
    routes: HashMap<String, Arc<dyn Store>>,
    stores: BTreeMap<String, Arc<dyn Store>>,
    monitor: Option<monitor::Monitor>,
    pools: Vec<Arc<quantdal_postgres::PostgresStore>>,
}

impl std::fmt::Debug for Dal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dal")
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .field("classes", &self.config.catalog.classes().len())
            .finish()
    }
}

impl Dal {
    /// Opens the stores described by a `quantdal.yaml`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Dal> {
        Dal::open_with(path, OpenOptions::default()).await
    }

    pub async fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Dal> {
        Dal::from_config(Config::load(path)?, options).await
    }

    pub async fn from_config(config: Config, options: OpenOptions) -> Result<Dal> {
        Dal::from_parts(config.settings, config.catalog, options).await
    }

    /// Every class in one embedded file `dir/quantdal.duckdb`, with the built-in class catalog.
    pub async fn embedded(dir: impl AsRef<Path>) -> Result<Dal> {
        Dal::embedded_with(dir, OpenOptions::default()).await
    }

    pub async fn embedded_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Dal> {
        Dal::from_config(Config::embedded(dir)?, options).await
    }

    /// Builds from already-loaded settings and catalog (tests, embedding applications).
    pub async fn from_parts(
        settings: Settings,
        catalog: Catalog,
        options: OpenOptions,
    ) -> Result<Dal> {
        let opened = open::open_stores(&settings, &catalog, &options).await?;
        Ok(Dal {
            config: Config { settings, catalog },
            routes: opened.routes,
            stores: opened.stores,
            monitor: opened.monitor,
            pools: opened.pools,
        })
    }

    /// The running monitor, when `monitoring.enabled` (and it could start).
    pub fn monitor(&self) -> Option<&monitor::Monitor> {
        self.monitor.as_ref()
    }

    /// Waits until every monitoring record made so far is in the monitoring store. `Err(Unavailable)`
    /// when the store is away: the records wait in the spill file and are replayed later.
    pub async fn flush(&self) -> Result<()> {
        match &self.monitor {
            Some(m) => m.flush().await,
            None => Ok(()),
        }
    }

    /// Flushes monitoring and stops its writer. Call it before a clean exit: records still queued when
    /// the runtime stops are lost (they are never in the way of the data, so nothing else waits for them).
    pub async fn close(self) -> Result<()> {
        match &self.monitor {
            Some(m) => m.shutdown().await,
            None => Ok(()),
        }
    }

    /// Live gauges for `/metrics`: PostgreSQL pool connections and this process's dropped records.
    pub fn gauges(&self) -> Vec<monitor::serve::Gauge> {
        let mut out = Vec::new();
        for pool in &self.pools {
            let (open, idle) = pool.pool_state();
            let labels = format!("store=\"{}\"", pool.info().name);
            out.push(monitor::serve::Gauge {
                metric: "quantdal_pool_connections".into(),
                help: "Open connections of a store's pool.".into(),
                labels: labels.clone(),
                value: f64::from(open),
            });
            out.push(monitor::serve::Gauge {
                metric: "quantdal_pool_idle_connections".into(),
                help: "Idle connections of a store's pool.".into(),
                labels,
                value: f64::from(idle),
            });
        }
        if let Some(m) = &self.monitor {
            out.push(monitor::serve::Gauge {
                metric: "quantdal_monitor_dropped_records".into(),
                help: "Monitoring records this process dropped because the channel was full."
                    .into(),
                labels: String::new(),
                value: m.dropped() as f64,
            });
        }
        out
    }

    pub fn settings(&self) -> &Settings {
        &self.config.settings
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The spec of a class, or `UnknownClass`.
    pub fn spec(&self, class: &str) -> Result<Arc<TableSpec>> {
        self.config.catalog.get(class).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownClass,
                format!(
                    "no such class in {} (known: {})",
                    self.config.settings.tables.display(),
                    self.config
                        .catalog
                        .classes()
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_class(class.to_string())
        })
    }

    fn route(&self, class: &str) -> Result<(Arc<TableSpec>, &Arc<dyn Store>)> {
        let spec = self.spec(class)?;
        let store = self.routes.get(class).ok_or_else(|| {
            Error::config("class has no store route").with_class(class.to_string())
        })?;
        Ok((spec, store))
    }

    pub fn classes(&self) -> Vec<ClassInfo> {
        self.config.classes()
    }

    /// Every store in use, by name.
    pub fn stores(&self) -> impl Iterator<Item = &StoreInfo> {
        self.stores.values().map(|s| s.info())
    }

    /// The DDL `provision` would run, grouped by store, without touching any store.
    pub fn provision_plan(&self) -> Result<ProvisionPlan> {
        self.config.provision_plan()
    }

    /// Creates every missing table and reports, per class, created / already present / drift. Idempotent.
    pub async fn provision(&self) -> Result<Vec<ProvisionEntry>> {
        let mut out = Vec::with_capacity(self.config.catalog.classes().len());
        for spec in self.config.catalog.classes() {
            let (spec, store) = self.route(&spec.name)?;
            let status = store.provision(&spec).await?;
            out.push(ProvisionEntry {
                class: spec.name.clone(),
                store: store.info().name.clone(),
                table: spec.table.clone(),
                notes: store.provision_notes(&spec),
                status,
            });
        }
        if self.config.settings.monitoring.enabled {
            monitoring::open_db(&self.config.settings).await?;
        }
        Ok(out)
    }

    /// Compares every live table with its spec and changes nothing: missing, present, or drift per class.
    pub async fn check(&self) -> Result<Vec<ProvisionEntry>> {
        let mut out = Vec::with_capacity(self.config.catalog.classes().len());
        for spec in self.config.catalog.classes() {
            let (spec, store) = self.route(&spec.name)?;
            let status = store.check(&spec).await?;
            out.push(ProvisionEntry {
                class: spec.name.clone(),
                store: store.info().name.clone(),
                table: spec.table.clone(),
                notes: Vec::new(),
                status,
            });
        }
        Ok(out)
    }

    /// Applies the additive part of every class's drift (new columns, indexes, relaxed NOT NULL) and lists
    /// what it refused, with what a human must do instead.
    pub async fn migrate(&self) -> Result<Vec<MigrationEntry>> {
        let mut out = Vec::with_capacity(self.config.catalog.classes().len());
        for spec in self.config.catalog.classes() {
            let (spec, store) = self.route(&spec.name)?;
            let migration = store.migrate(&spec).await?;
            out.push(MigrationEntry {
                class: spec.name.clone(),
                store: store.info().name.clone(),
                table: spec.table.clone(),
                migration,
            });
        }
        Ok(out)
    }

    /// Upserts `batch` into `class`: validated first, then all rows or none; safe to retry.
    pub async fn save(&self, class: &str, batch: &RecordBatch) -> Result<SaveReport> {
        self.save_with(class, batch, &SaveOptions::default()).await
    }

    pub async fn save_with(
        &self,
        class: &str,
        batch: &RecordBatch,
        options: &SaveOptions,
    ) -> Result<SaveReport> {
        let started = Instant::now();
        let (spec, store) = self.route(class)?;
        let normalized = normalize_batch(&spec, batch, options)?;
        let rows = store.save(&spec, normalized).await?;
        let info = store.info();
        Ok(SaveReport {
            class: spec.name.clone(),
            store: info.name.clone(),
            kind: info.kind,
            table: spec.table.clone(),
            rows,
            elapsed: started.elapsed(),
        })
    }

    /// Rows of `class` matching `load`, as a stream of batches (for results too large to hold at once).
    pub async fn load_stream(&self, class: &str, load: Load) -> Result<BatchStream> {
        let (spec, store) = self.route(class)?;
        let query = load.resolve(&spec)?;
        store.load(&spec, query).await
    }

    /// Rows of `class` matching `load`.
    pub async fn load(&self, class: &str, load: Load) -> Result<Vec<RecordBatch>> {
        self.load_stream(class, load).await?.try_collect().await
    }

    /// The newest row of each series matching `load`.
    pub async fn latest(&self, class: &str, load: Load) -> Result<Vec<RecordBatch>> {
        let (spec, store) = self.route(class)?;
        let query = load.resolve(&spec)?;
        store.latest(&spec, query).await
    }

    /// OHLCV + amount + count bars of `interval` (`1m`, `5m`, `1h`, `1d`…) computed in the store from the
    /// class's ticks or finer bars.
    pub async fn kline(&self, class: &str, interval: &str, load: Load) -> Result<Vec<RecordBatch>> {
        let (spec, store) = self.route(class)?;
        let interval: Interval = interval
            .parse()
            .map_err(|e: Error| e.with_class(class.to_string()))?;
        check_interval(&spec, interval)?;
        let query = load.resolve(&spec)?;
        store.kline(&spec, interval, query).await
    }

    /// Deletes the rows matching `load`, which must name a range or a filter (see [`Dal::truncate`]).
    pub async fn delete(&self, class: &str, load: Load) -> Result<u64> {
        let (spec, store) = self.route(class)?;
        if load.is_unfiltered() {
            return Err(Error::invalid_query(
                "delete without a range or filter would remove every row; use truncate for that",
            )
            .with_class(class.to_string()));
        }
        if load.limit.is_some() || load.order != Order::default() {
            return Err(Error::invalid_query(
                "delete removes every matching row: limit and order do not apply to it",
            )
            .with_class(class.to_string()));
        }
        let query = load.resolve(&spec)?;
        store.delete(&spec, query).await
    }

    /// Deletes every row of `class`.
    pub async fn truncate(&self, class: &str) -> Result<u64> {
        let (spec, store) = self.route(class)?;
        let query = Load::all().resolve(&spec)?;
        store.delete(&spec, query).await
    }

    /// Rows currently held for `class`.
    pub async fn count(&self, class: &str) -> Result<u64> {
        let (spec, store) = self.route(class)?;
        store.count(&spec).await
    }

    /// The store a class routes to, for callers that want to bypass the router (benchmarks, tools).
    pub fn store_for(&self, class: &str) -> Result<(Arc<TableSpec>, Arc<dyn Store>)> {
        let (spec, store) = self.route(class)?;
        Ok((spec, store.clone()))
    }
}
