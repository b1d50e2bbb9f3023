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

pub mod audit;
mod backends;
pub mod backup;
mod cache;
mod checks;
pub mod checksum;
pub mod compact;
mod config;
pub mod copy;
pub mod filters;
pub mod layers;
pub mod monitoring;
mod open;
pub mod overview;
pub mod spool;
pub mod sql;

/// Call once before the process exits: stores whose client library waits at exit (libtaos's heartbeat
/// join, ~1.2 s after native TDengine connections) are told not to. The CLI does this.
pub fn prepare_exit() {
    quantdal_tdengine::prepare_exit();
}

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
    col, BatchStream, Capabilities, Catalog, Category, Error, ErrorKind, InfoBar, Interval, Load,
    Migration, Op, Order, Predicate, ProvisionStatus, Result, SaveOptions, Settings, Store,
    StoreInfo, StoreKind, TableSpec, Timestamp, Value,
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
    /// The store was unavailable: the batch is in the local spool, durably, and reaches the store when it
    /// answers again (it is not visible to loads until then).
    pub spooled: bool,
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
    spools: HashMap<String, Arc<spool::Spool>>,
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
            spools: opened.spools,
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

    /// Live gauges for `/metrics`: what each store reports (pool connections…) and this process's
    /// dropped monitoring records.
    pub fn gauges(&self) -> Vec<monitor::serve::Gauge> {
        let mut out: Vec<_> = self.stores.values().flat_map(|s| s.gauges()).collect();
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
        let (rows, spooled) = spool::SPOOLED
            .scope(std::cell::Cell::new(false), async {
                let rows = store.save(&spec, normalized).await?;
                Ok::<_, Error>((rows, spool::SPOOLED.with(|s| s.get())))
            })
            .await?;
        let info = store.info();
        Ok(SaveReport {
            class: spec.name.clone(),
            store: info.name.clone(),
            kind: info.kind,
            table: spec.table.clone(),
            rows,
            elapsed: started.elapsed(),
            spooled,
        })
    }

    /// Checks `batch` against `class` exactly as `save` would (types, nulls, keys, lengths) without saving
    /// it: an import validates a whole file this way before writing any of it.
    pub fn validate(&self, class: &str, batch: &RecordBatch, options: &SaveOptions) -> Result<()> {
        let spec = self.spec(class)?;
        normalize_batch(&spec, batch, options).map(|_| ())
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
    /// class's ticks or finer bars; or information-driven bars, `ticks:N`, `volume:V` or `dollar:D`, which
    /// add each bar's `first_time` and `last_time` (the boundary rule: `quantdal_core::bars`,
    /// docs/versions.md).
    pub async fn kline(&self, class: &str, interval: &str, load: Load) -> Result<Vec<RecordBatch>> {
        if InfoBar::is_info_bar(interval) {
            return self.info_bars(class, interval, load).await;
        }
        let (spec, store) = self.route(class)?;
        let info = store.info();
        if !info.capabilities.kline {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "store `{}` ({}) does not compute kline bars; route the class to a store that keeps its \
                     history",
                    info.name, info.kind
                ),
            )
            .with_class(class.to_string()));
        }
        let interval: Interval = interval
            .parse()
            .map_err(|e: Error| e.with_class(class.to_string()))?;
        check_interval(&spec, interval)?;
        let query = load.resolve(&spec)?;
        store.kline(&spec, interval, query).await
    }

    async fn info_bars(&self, class: &str, bars: &str, load: Load) -> Result<Vec<RecordBatch>> {
        let (spec, store) = self.route(class)?;
        let bar: InfoBar = bars
            .parse()
            .map_err(|e: Error| e.with_class(class.to_string()))?;
        let info = store.info();
        if !info.capabilities.full_history {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "store `{}` ({}) keeps only recent rows, so bars over its history would be partial; route the \
                     class to a store that keeps its history",
                    info.name, info.kind
                ),
            )
            .with_class(class.to_string()));
        }
        quantdal_core::bars::check_bars(&spec, bar)?;
        let query = load.resolve(&spec)?;
        store.bars(&spec, bar, query).await
    }

    /// Every revision of the keys of a versioned class that `load` selects (its range and filters apply to
    /// each revision; `as_of` keeps the revisions known by then), with `_known_at` (when it became known)
    /// and `_deleted` (a tombstone), in key order then knowledge order. Pin one key with tag filters and an
    /// equality on each other key column.
    pub async fn history(&self, class: &str, load: Load) -> Result<Vec<RecordBatch>> {
        let (spec, store) = self.route(class)?;
        if spec.versions.is_none() {
            return Err(Error::invalid_query(
                "the class keeps no revisions (declare `versions: true` in table_config.yaml)",
            )
            .with_class(class.to_string()));
        }
        let query = load.resolve(&spec)?;
        store.history(&spec, query).await?.try_collect().await
    }

    /// Deletes the rows matching `load`, which must name a range or a filter (see [`Dal::truncate`]). On a
    /// versioned class a delete is a tombstone: the keys' history stays, and loads as of an earlier time
    /// still see the rows.
    pub async fn delete(&self, class: &str, load: Load) -> Result<u64> {
        let (spec, store) = self.route(class)?;
        if load.as_of.is_some() {
            return Err(Error::invalid_query(
                "a delete applies to the rows as known now: as_of does not apply to it",
            )
            .with_class(class.to_string()));
        }
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

    /// The rows saved to `class` from now on (by any process) whose series match `load`'s tag filters, as
    /// Arrow batches projected as `load` says. Needs the class on Redis or in the latest-row cache;
    /// at-least-once and in save order (docs/redis.md). The stream ends only when dropped.
    pub async fn subscribe(&self, class: &str, load: Load) -> Result<BatchStream> {
        let (spec, store) = self.route(class)?;
        if load.start.is_some() || load.end.is_some() || load.limit.is_some() {
            return Err(Error::invalid_query(
                "a subscription delivers rows as they are saved: it takes tag filters, predicates and columns, \
                 not a time range or limit",
            )
            .with_class(class.to_string()));
        }
        let query = load.resolve(&spec)?;
        store.subscribe(&spec, query).await
    }

    /// What every store's spool holds, per class.
    pub fn spool_status(&self) -> Result<Vec<spool::SpoolStatus>> {
        let mut out = Vec::new();
        for s in self.spools.values() {
            out.extend(s.status()?);
        }
        out.sort_by(|a, b| (&a.store, &a.class).cmp(&(&b.store, &b.class)));
        Ok(out)
    }

    /// Replays every spool now (rather than waiting for the background replayer); returns what is left.
    pub async fn spool_replay(&self) -> Result<Vec<spool::SpoolStatus>> {
        for s in self.spools.values() {
            spool::replay_now(s).await?;
        }
        self.spool_status()
    }

    /// The store a class routes to, for callers that want to bypass the router (benchmarks, tools).
    pub fn store_for(&self, class: &str) -> Result<(Arc<TableSpec>, Arc<dyn Store>)> {
        let (spec, store) = self.route(class)?;
        Ok((spec, store.clone()))
    }
}
