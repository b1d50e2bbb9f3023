//! A latest-row cache in Redis for classes held by another store: the newest row per series (same keys and
//! encoding as a realtime class, under the cache's prefix), and the class's live feed. Writes go through the
//! same atomic script, so an older row never replaces a newer one the cache holds.

use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use quantdal_core::{
    BatchStream, LatestCache, Query, Result, SeriesKey, StoreInfo, StoreKind, TableSpec,
};
use redis::Script;

use crate::codec::scalar_text;
use crate::conn::Connector;
use crate::keys::member;
use crate::layout::ClassLayout;
use crate::{feed, ops};

pub struct RedisCache {
    info: StoreInfo,
    connector: Arc<Connector>,
    script: Script,
    prefix: String,
    ttl_seconds: Option<u64>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    pub(crate) fn new(
        name: &str,
        connector: Connector,
        prefix: &str,
        ttl_seconds: Option<u64>,
    ) -> RedisCache {
        RedisCache {
            info: StoreInfo {
                name: name.to_string(),
                kind: StoreKind::Redis,
                location: connector.location.clone(),
                capabilities: crate::CAPABILITIES,
            },
            connector: Arc::new(connector),
            script: ops::save_script(),
            prefix: prefix.to_string(),
            ttl_seconds,
        }
    }

    fn layout(&self, spec: &TableSpec) -> Result<ClassLayout> {
        let ttl = spec
            .options
            .redis
            .as_ref()
            .and_then(|r| r.ttl_seconds)
            .or(self.ttl_seconds);
        ClassLayout::cached(spec, &self.prefix, ttl)
    }

    fn members(series: &[SeriesKey]) -> Vec<String> {
        series
            .iter()
            .map(|key| member(&key.iter().map(scalar_text).collect::<Vec<_>>()))
            .collect()
    }
}

#[async_trait]
impl LatestCache for RedisCache {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    async fn put(&self, spec: &Arc<TableSpec>, batch: &RecordBatch, publish: bool) -> Result<()> {
        let mut layout = self.layout(spec)?;
        if !publish {
            layout.feed_ms = 0;
        }
        ops::save(&self.connector, &self.script, spec, &layout, batch).await?;
        Ok(())
    }

    async fn get(
        &self,
        spec: &Arc<TableSpec>,
        series: &[SeriesKey],
    ) -> Result<(RecordBatch, Vec<usize>)> {
        let layout = self.layout(spec)?;
        ops::read_latest(
            &self.connector,
            spec,
            &layout,
            &Self::members(series),
            false,
        )
        .await
    }

    async fn invalidate(&self, spec: &Arc<TableSpec>, series: Option<&[SeriesKey]>) -> Result<()> {
        let layout = self.layout(spec)?;
        let members = match series {
            Some(s) => Self::members(s),
            None => ops::all_members(&self.connector, &layout).await?,
        };
        ops::delete_members(&self.connector, &layout, &members).await?;
        Ok(())
    }

    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let layout = self.layout(spec)?;
        feed::subscribe(
            self.connector.clone(),
            spec.clone(),
            layout.keys.feed(),
            query,
        )
        .await
    }
}
