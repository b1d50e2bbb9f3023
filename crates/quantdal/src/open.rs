//! Building a `Dal` from settings: resolving each class's route, checking the store can hold it, opening the
//! stores that are used and wrapping them in layers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use quantdal_core::backend::check_capabilities;
use quantdal_core::{Catalog, Error, OpenContext, Result, Settings, Store, TableSpec};

use quantdal_monitor::Monitor;

use crate::backends;
use crate::cache::CacheLayer;
use crate::layers::{Layer, RetryLayer, TracingLayer};
use crate::spool::{Spool, SpoolLayer};

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
    pub spools: HashMap<String, Arc<Spool>>,
}

/// Checks every class resolves to a defined store that can hold it: the store's declared capabilities
/// first, then whatever its backend checks across the classes it holds.
pub(crate) fn check_routes(settings: &Settings, catalog: &Catalog) -> Result<()> {
    let source = settings.source_name();
    let mut tables: HashMap<(String, String), String> = HashMap::new();
    let mut by_store: BTreeMap<String, Vec<&TableSpec>> = BTreeMap::new();
    for spec in catalog.classes() {
        let store = settings.route_for(&spec.name, &spec.store).ok_or_else(|| {
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
        let backend = backends::of(store).map_err(|e| e.with_class(spec.name.clone()))?;
        check_capabilities(store, &backend.capabilities(), spec)?;
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
        by_store.entry(store.name.clone()).or_default().push(spec);
    }
    for (name, specs) in &by_store {
        if let Some(store) = settings.stores.get(name) {
            backends::of(store)?.check_classes(store, specs)?;
        }
    }
    check_cache(settings, catalog)
}

fn check_cache(settings: &Settings, catalog: &Catalog) -> Result<()> {
    let Some(cache) = &settings.cache else {
        return Ok(());
    };
    let source = settings.source_name();
    let fail = |m: String| Err(Error::config(m).with_file(source.clone()));
    if let Some(store) = settings.stores.get(&cache.store) {
        if !backends::of(store)?.capabilities().latest_cache {
            return fail(format!(
                "cache.store: store `{}` is of kind {}, which cannot serve as a latest-row cache (use a redis store)",
                store.name, store.kind
            ));
        }
    }
    for route in &cache.routes {
        if !settings.routes.contains_key(route) {
            return fail(format!("cache.routes: `{route}` is not a route or store"));
        }
    }
    for class in &cache.classes {
        let Some(spec) = catalog.get(class) else {
            return fail(format!("cache.classes: `{class}` is not a class"));
        };
        if spec.time.is_none() || spec.series_columns().is_empty() {
            return fail(format!(
                "cache.classes: `{class}` has no time column or no series, so it has no newest row per series"
            ));
        }
    }
    Ok(())
}

/// The classes the latest-row cache serves: those on its routes, those it lists, those declaring
/// `cache: true`; never the classes the cache store holds itself.
pub(crate) fn cached_classes(settings: &Settings, catalog: &Catalog) -> HashSet<String> {
    let Some(cache) = &settings.cache else {
        return HashSet::new();
    };
    catalog
        .classes()
        .iter()
        .filter(|spec| {
            spec.cache || cache.routes.contains(&spec.store) || cache.classes.contains(&spec.name)
        })
        .filter(|spec| {
            settings.route_for(&spec.name, &spec.store).map(|s| &s.name) != Some(&cache.store)
        })
        // A class without time or series has no newest row per series to cache.
        .filter(|spec| spec.time.is_some() && !spec.series_columns().is_empty())
        .map(|spec| spec.name.clone())
        .collect()
}

async fn open_cache(
    settings: &Settings,
    catalog: &Catalog,
    context: &OpenContext,
    monitor: Option<Monitor>,
) -> Result<Option<CacheLayer>> {
    let Some(cache) = &settings.cache else {
        return Ok(None);
    };
    let classes = cached_classes(settings, catalog);
    if classes.is_empty() {
        return Ok(None);
    }
    let store = settings
        .stores
        .get(&cache.store)
        .ok_or_else(|| Error::config(format!("cache.store: `{}` is not a store", cache.store)))?;
    let mut store = store.clone();
    if store.statement_timeout_ms.is_none() {
        store.statement_timeout_ms = Some(cache.timeout_ms);
    }
    let opened = backends::of(&store)?
        .latest_cache(&store, cache, context)
        .await?
        .ok_or_else(|| {
            Error::config(format!(
                "cache.store: store `{}` is of kind {}, which cannot serve as a latest-row cache (use a redis store)",
                store.name, store.kind
            ))
        })?;
    Ok(Some(CacheLayer::new(
        opened,
        classes,
        Duration::from_millis(cache.timeout_ms),
        monitor,
    )))
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
    let context = OpenContext {
        application: settings.application.clone(),
        read_only: options.read_only,
    };
    let mut layers: Vec<Box<dyn Layer>> = vec![Box::new(RetryLayer::new(settings.retry.clone()))];
    let monitor = monitoring.as_ref().map(|(m, _)| m.clone());
    if let Some(cache) = open_cache(settings, catalog, &context, monitor.clone()).await? {
        layers.push(Box::new(cache));
    }
    // Outside the cache: a spooled save never reaches it, and replays go through it.
    let spools = open_spools(settings, catalog, monitor.clone(), options)?;
    if !spools.is_empty() {
        layers.push(Box::new(SpoolLayer::new(spools.clone())));
    }
    match monitoring {
        Some((_, layer)) => layers.push(Box::new(layer)),
        None => layers.push(Box::new(TracingLayer {
            warn_after: Duration::from_millis(settings.monitoring.warn_ms),
        })),
    }
    let mut stores: BTreeMap<String, Arc<dyn Store>> = BTreeMap::new();
    let mut routes = HashMap::new();
    for spec in catalog.classes() {
        let Some(target) = settings.route_for(&spec.name, &spec.store) else {
            continue;
        };
        let store = match stores.get(&target.name) {
            Some(s) => s.clone(),
            None => {
                let raw = backends::of(target)?
                    .open(target, &context)
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
        spools,
    })
}

/// The spool of every store that has one and holds classes (none for read-only opens: they save nothing).
fn open_spools(
    settings: &Settings,
    catalog: &Catalog,
    monitor: Option<Monitor>,
    options: &OpenOptions,
) -> Result<HashMap<String, Arc<Spool>>> {
    let mut out = HashMap::new();
    if options.read_only {
        return Ok(out);
    }
    for store in settings.stores.values() {
        let Some(spool) = &store.spool else { continue };
        let specs: HashMap<String, Arc<TableSpec>> = catalog
            .classes()
            .iter()
            .filter(|c| settings.route_for(&c.name, &c.store).map(|s| &s.name) == Some(&store.name))
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        if specs.is_empty() {
            continue;
        }
        let opened = Spool::open(
            &store.name,
            spool.dir.clone(),
            spool.max_bytes,
            specs,
            monitor.clone(),
        )?;
        out.insert(store.name.clone(), opened);
    }
    Ok(out)
}
