//! The one seam a store kind plugs in at. Each store crate exports one [`Backend`] value; the facade keeps
//! them in one list and never matches on a kind. A backend checks classes against the store's limits at
//! config time, prints the offline DDL plan, opens a store from its settings, and declares what the store
//! can do ([`Capabilities`]), so the router and the conformance suite know what to expect of it — the shape
//! of OpenDAL's `Capability`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::admin::{FileCompaction, SqlDialect};
use crate::cache::LatestCache;
use crate::error::{Error, Result};
use crate::settings::{CacheSettings, StoreKind, StoreSettings};
use crate::spec::TableSpec;
use crate::store::Store;
use crate::types::TimePrecision;

/// What a store can do. The facade refuses at config time what a store cannot hold (a finer precision, a
/// class without a time column, a versioned class); operations a store cannot serve are typed
/// `Unsupported` errors naming the store; the conformance suite skips (and says so) what is declared absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Keeps every row saved. `false`: the newest row per series plus a bounded recent history (Redis).
    pub full_history: bool,
    /// Finest time precision a time column can have here.
    pub finest_precision: TimePrecision,
    /// Holds classes without a time column (reference tables keyed by code).
    pub untimed_classes: bool,
    /// Holds classes whose key is not series + time.
    pub any_key: bool,
    /// Computes kline bars in the store.
    pub kline: bool,
    /// Deletes by a time range (with or without series filters).
    pub delete_by_range: bool,
    /// Deletes by predicates on data columns (not only series and time).
    pub delete_by_predicate: bool,
    /// Several processes may read and write the same store at once.
    pub shared_between_processes: bool,
    /// Delivers saved rows to live subscribers.
    pub subscriptions: bool,
    /// Can serve as the latest-row cache of classes held elsewhere (`cache.store`).
    pub latest_cache: bool,
    /// Runs guarded read-only SQL (`quantdal sql`), in this grammar; `None`: the store has no SQL.
    pub sql: Option<SqlDialect>,
    /// Holds versioned classes (`versions:`): every revision of a key with its knowledge time, as-of reads,
    /// history and tombstone deletes.
    pub versions: bool,
}

impl Capabilities {
    /// A relational store that holds anything the spec can say (DuckDB, PostgreSQL).
    pub const RELATIONAL: Capabilities = Capabilities {
        full_history: true,
        finest_precision: TimePrecision::Ns,
        untimed_classes: true,
        any_key: true,
        kline: true,
        delete_by_range: true,
        delete_by_predicate: true,
        shared_between_processes: true,
        subscriptions: false,
        latest_cache: false,
        sql: None,
        versions: false,
    };
}

/// What opening a store needs besides its own settings.
#[derive(Debug, Clone, Default)]
pub struct OpenContext {
    /// Name in logs and server-side session names (`application_name` on PostgreSQL).
    pub application: String,
    /// Open embedded files read-only, so several reader processes can share a file no writer holds.
    pub read_only: bool,
}

/// A store kind: the entry point of one store crate.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;

    /// What stores of this kind can do; every store it opens reports the same in its `StoreInfo`.
    fn capabilities(&self) -> Capabilities;

    /// Checks, at config time, the classes routed to one store of this kind against what the store can hold
    /// beyond its [`Capabilities`] (which the facade checks for every kind). Errors name the class.
    fn check_classes(&self, store: &StoreSettings, specs: &[&TableSpec]) -> Result<()> {
        let _ = (store, specs);
        Ok(())
    }

    /// The statements `provision` would run for one class, computed without connecting.
    fn provision_plan(&self, store: &StoreSettings, spec: &TableSpec) -> Result<Vec<String>>;

    /// Connects (or opens the file) and returns the store, unwrapped by any layer.
    async fn open(&self, store: &StoreSettings, context: &OpenContext) -> Result<Arc<dyn Store>>;

    /// The name a class's table has in this store's SQL, as identifier parts (`["public", "daily_kline"]`),
    /// for the SQL guard's rewrite of class names. The default is the bare table name.
    fn sql_relation(&self, store: &StoreSettings, spec: &TableSpec) -> Vec<String> {
        let _ = store;
        vec![spec.table.clone()]
    }

    /// Compacts a store that is a local file by rewriting it (the embedded DuckDB file), with the file
    /// closed everywhere else; blocking. `None`: this kind is compacted in place (`Store::compact`).
    fn compact_file(
        &self,
        store: &StoreSettings,
        keep: usize,
        dry_run: bool,
    ) -> Result<Option<FileCompaction>> {
        let _ = (store, keep, dry_run);
        Ok(None)
    }

    /// A latest-row cache on a store of this kind, for `cache.store` in `quantdal.yaml`; `None` when the
    /// kind cannot serve as one.
    async fn latest_cache(
        &self,
        store: &StoreSettings,
        cache: &CacheSettings,
        context: &OpenContext,
    ) -> Result<Option<Arc<dyn LatestCache>>> {
        let _ = (store, cache, context);
        Ok(None)
    }
}

/// Checks one class against a store's declared capabilities; the facade runs it for every class.
pub fn check_capabilities(
    store: &StoreSettings,
    capabilities: &Capabilities,
    spec: &TableSpec,
) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::config(format!(
            "store `{}` ({}) cannot hold this class: {why}",
            store.name, store.kind
        ))
        .with_class(spec.name.clone()))
    };
    if spec.versions.is_some() && !capabilities.versions {
        return refuse(
            "it is versioned (`versions:` in table_config.yaml) and this store keeps no revisions; route the class \
             to PostgreSQL or the embedded DuckDB file, which keep every revision with its knowledge time"
                .into(),
        );
    }
    match &spec.time {
        None if !capabilities.untimed_classes => refuse(
            "it has no time column; route it to a relational store (PostgreSQL or the embedded file)"
                .into(),
        ),
        Some(time) if time.precision > capabilities.finest_precision => refuse(format!(
            "time.precision {} is finer than the store keeps ({}); declare {} or route the class elsewhere",
            time.precision, capabilities.finest_precision, capabilities.finest_precision
        )),
        _ => Ok(()),
    }
}

/// A gauge sample a store reports for `/metrics` (pool connections, spool depth…).
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub metric: String,
    pub help: String,
    /// Rendered label set, e.g. `store="embedded"`.
    pub labels: String,
    pub value: f64,
}
