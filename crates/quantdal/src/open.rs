//! Building a `Dal` from settings: resolving each class's route, checking the store can hold it, opening the
//! stores that are used and wrapping them in layers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use quantdal_core::{
    Catalog, Error, ErrorKind, Result, Settings, Store, StoreKind, StoreSettings, TableSpec,
    TimePrecision,
};
use quantdal_duckdb::{DuckDbOptions, DuckDbStore};
use quantdal_postgres::{PostgresOptions, PostgresStore};

use quantdal_monitor::Monitor;

use crate::layers::{Layer, RetryLayer, TracingLayer};

/// How a `Dal` opens its stores.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Open embedded files read-only, so several reader processes can share a file no writer holds.
    pub read_only: bool,
}

pub(crate) struct Opened {
    pub routes: HashMap<String, Arc<dyn Store>>,
    pub stores: BTreeMap<String, Arc<dyn Store>>,
    pub monitor: Option<Monitor>,
    /// PostgreSQL stores unwrapped, for pool gauges.
    pub pools: Vec<Arc<PostgresStore>>,
}

/// Checks every class resolves to a defined store that can hold it.
pub(crate) fn check_routes(settings: &Settings, catalog: &Catalog) -> Result<()> {
    let source = settings.source_name();
    let mut td_precision: HashMap<(String, String), (TimePrecision, String)> = HashMap::new();
    let mut tables: HashMap<(String, String), String> = HashMap::new();
    for spec in catalog.classes() {
        let store = settings.resolve(&spec.store).ok_or_else(|| {
            Error::config(format!(
                "store: `{}` is neither a store nor a route in {source} (routes: {})",
                spec.store,
                settings
                    .routes
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_class(spec.name.clone())
        })?;
        check_precision(spec, store, &mut td_precision)?;
        if store.kind == StoreKind::Tdengine {
            // A class TDengine cannot hold (no time column, no series, a key other than series + time) fails
            // here, at config time, not at its first save.
            quantdal_tdengine::layout(spec).map_err(|e| {
                e.with_message_prefix(format_args!("store `{}`", store.name))
                    .with_class(spec.name.clone())
            })?;
        }
        // Several class-level store names may resolve to one concrete store (the embedded default does).
        if let Some(other) =
            tables.insert((store.name.clone(), spec.table.clone()), spec.name.clone())
        {
            return Err(Error::config(format!(
                "table: `{}` is also the table of class `{other}`, and both resolve to store `{}`",
                spec.table, store.name
            ))
            .with_class(spec.name.clone()));
        }
    }
    Ok(())
}

fn check_precision(
    spec: &TableSpec,
    store: &StoreSettings,
    td_precision: &mut HashMap<(String, String), (TimePrecision, String)>,
) -> Result<()> {
    let Some(time) = &spec.time else {
        return Ok(());
    };
    match store.kind {
        StoreKind::Postgres if time.precision == TimePrecision::Ns => Err(Error::config(format!(
            "time.precision: ns cannot be held by store `{}` (PostgreSQL timestamps are microseconds); \
             declare us or route the class to a store that keeps nanoseconds",
            store.name
        ))
        .with_class(spec.name.clone())),
        StoreKind::Tdengine => {
            let db = spec
                .options
                .tdengine
                .as_ref()
                .map(|o| o.database.clone())
                .unwrap_or_else(|| "quantdal".into());
            let entry = td_precision
                .entry((store.name.clone(), db.clone()))
                .or_insert((time.precision, spec.name.clone()));
            if entry.0 != time.precision {
                return Err(Error::config(format!(
                    "time.precision: {} differs from class `{}` ({}) in TDengine database `{db}`; one TDengine \
                     database has one precision",
                    time.precision, entry.1, entry.0
                ))
                .with_class(spec.name.clone()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn open_store(
    settings: &StoreSettings,
    application: &str,
    options: &OpenOptions,
    pools: &mut Vec<Arc<PostgresStore>>,
) -> Result<Arc<dyn Store>> {
    match settings.kind {
        StoreKind::Duckdb => {
            let name = settings.name.clone();
            let duck = DuckDbOptions {
                path: settings.path.clone(),
                read_only: settings.read_only || options.read_only,
                threads: settings.threads,
                memory_limit: settings.memory_limit.clone(),
                pool_size: settings
                    .pool_size
                    .map(|n| n as usize)
                    .unwrap_or(DuckDbOptions::default().pool_size),
            };
            // Opening DuckDB touches the file system and may wait on its lock: keep it off the async threads.
            let store = tokio::task::spawn_blocking(move || DuckDbStore::open(&name, duck))
                .await
                .map_err(|e| Error::store(format!("open task failed: {e}")))??;
            Ok(Arc::new(store))
        }
        StoreKind::Postgres => {
            let pg = PostgresOptions::from_settings(settings, application)?;
            let store = Arc::new(PostgresStore::open(&settings.name, pg).await?);
            pools.push(store.clone());
            Ok(store)
        }
        StoreKind::Tdengine => Ok(Arc::new(
            quantdal_tdengine::TdengineStore::open(settings).await?,
        )),
        other => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "store `{}` is of kind {other}, which this build does not include yet; route its classes to an \
                 embedded or PostgreSQL store (see docs/configuration.md)",
                settings.name
            ),
        )),
    }
}

pub(crate) async fn open_stores(
    settings: &Settings,
    catalog: &Catalog,
    options: &OpenOptions,
) -> Result<Opened> {
    check_routes(settings, catalog)?;
    let monitoring = crate::monitoring::start(settings, catalog)?;
    // Monitoring outermost: a retried call is one operations row, timed as the caller saw it. Its span
    // and warn lines replace the tracing layer's.
    let mut layers: Vec<Box<dyn Layer>> = vec![Box::new(RetryLayer::new(settings.retry.clone()))];
    let monitor = match monitoring {
        Some((monitor, layer)) => {
            layers.push(Box::new(layer));
            Some(monitor)
        }
        None => {
            layers.push(Box::new(TracingLayer {
                warn_after: Duration::from_millis(settings.monitoring.warn_ms),
            }));
            None
        }
    };
    let mut pools = Vec::new();
    let mut stores: BTreeMap<String, Arc<dyn Store>> = BTreeMap::new();
    let mut routes = HashMap::new();
    for spec in catalog.classes() {
        let Some(target) = settings.resolve(&spec.store) else {
            continue;
        };
        let store = match stores.get(&target.name) {
            Some(s) => s.clone(),
            None => {
                let raw = open_store(target, &settings.application, options, &mut pools)
                    .await
                    .map_err(|e| e.with_class(spec.name.clone()))?;
                let layered = layers.iter().fold(raw, |inner, layer| layer.layer(inner));
                stores.insert(target.name.clone(), layered.clone());
                layered
            }
        };
        routes.insert(spec.name.clone(), store);
    }
    Ok(Opened {
        routes,
        stores,
        monitor,
        pools,
    })
}
