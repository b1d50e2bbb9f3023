//! The Redis store's entry point for the facade's backend list.

use std::sync::Arc;

use async_trait::async_trait;
use quantdal_core::{
    Backend, CacheSettings, Capabilities, LatestCache, OpenContext, Result, Store, StoreKind,
    StoreSettings, TableSpec, TimePrecision,
};

use crate::cache::RedisCache;
use crate::conn::Connector;
use crate::layout::ClassLayout;
use crate::schema;
use crate::store::RedisStore;

/// `kind: redis`.
pub struct RedisBackend;

/// The newest row per series and a short history: no kline, whole-series deletes only.
pub const CAPABILITIES: Capabilities = Capabilities {
    full_history: false,
    finest_precision: TimePrecision::Ns,
    untimed_classes: false,
    any_key: false,
    kline: false,
    delete_by_range: false,
    delete_by_predicate: false,
    shared_between_processes: true,
    subscriptions: true,
    latest_cache: true,
    sql: None,
    // The newest row per series and a capped stream: revisions would be evicted.
    versions: false,
};

#[async_trait]
impl Backend for RedisBackend {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn check_classes(&self, store: &StoreSettings, specs: &[&TableSpec]) -> Result<()> {
        for spec in specs {
            ClassLayout::of(spec).map_err(|e| {
                e.with_message_prefix(format_args!("store `{}`", store.name))
                    .with_class(spec.name.clone())
            })?;
        }
        Ok(())
    }

    /// What `provision` writes: the schema record. Series keys are created by saves.
    fn provision_plan(&self, _store: &StoreSettings, spec: &TableSpec) -> Result<Vec<String>> {
        let layout = ClassLayout::of(spec)?;
        let k = &layout.keys;
        Ok(vec![
            format!("SET {} '{}' NX", k.schema(), schema::record(spec)),
            format!(
                "-- newest row per series: HASH {} (series -> MessagePack row){}",
                k.latest_rows(),
                if layout.ttl_ms > 0 {
                    format!(
                        ", a series expires {} ms after its last write",
                        layout.ttl_ms
                    )
                } else {
                    String::new()
                }
            ),
            format!(
                "-- recent rows: STREAM {} (MAXLEN {}); series index: ZSET {}; live feed: STREAM {} ({} s)",
                k.history("<series>"),
                layout.history,
                k.index(),
                k.feed(),
                layout.feed_ms / 1000
            ),
        ])
    }

    async fn open(&self, store: &StoreSettings, _context: &OpenContext) -> Result<Arc<dyn Store>> {
        let connector = Connector::new(store)?;
        Ok(Arc::new(RedisStore::new(&store.name, connector)))
    }

    async fn latest_cache(
        &self,
        store: &StoreSettings,
        cache: &CacheSettings,
        _context: &OpenContext,
    ) -> Result<Option<Arc<dyn LatestCache>>> {
        let connector = Connector::new(store)?;
        Ok(Some(Arc::new(RedisCache::new(
            &store.name,
            connector,
            &cache.key_prefix,
            cache.ttl_seconds,
        ))))
    }
}
