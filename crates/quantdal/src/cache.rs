//! The latest-row cache layer. For the classes `cache:` names, a save that the primary store committed is
//! written through to the cache (newest row per series, never replacing a newer one); `latest` by series
//! reads the cache first and asks the store only for series the cache lacks (filling them in); deletes
//! invalidate. The cache never blocks or fails the data path: each cache call has a timeout, a failure is
//! logged and recorded in the monitoring DB, and after one the class's cache is not trusted (reads go to
//! the store) until its entries could be invalidated, so it never serves a row older than the store's.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use async_trait::async_trait;
use quantdal_core::load::{Condition, Op};
use quantdal_core::{
    eval, BatchStream, Error, ErrorKind, Gauge, Interval, LatestCache, Migration, Operation,
    ProvisionStatus, Query, Result, SeriesKey, StatementText, Store, StoreInfo, TableSpec,
};
use quantdal_monitor::Monitor;

use crate::layers::Layer;

/// After a failed cache call, how long writes skip the cache before trying it again.
const COOL_DOWN: Duration = Duration::from_secs(1);

/// Shared by every store the layer wraps: the cache, which classes use it, and its health.
pub struct CacheLayer {
    shared: Arc<Shared>,
}

struct Shared {
    cache: Arc<dyn LatestCache>,
    classes: HashSet<String>,
    timeout: Duration,
    monitor: Option<Monitor>,
    /// Classes whose cache may hold rows older than the store's (a write or invalidation failed).
    untrusted: Mutex<HashSet<String>>,
    /// Unix ms before which writes skip the cache (after a failure).
    paused_until_ms: AtomicU64,
    /// Whether the last cache call succeeded (a gauge).
    healthy: AtomicBool,
}

impl CacheLayer {
    pub fn new(
        cache: Arc<dyn LatestCache>,
        classes: HashSet<String>,
        timeout: Duration,
        monitor: Option<Monitor>,
    ) -> CacheLayer {
        CacheLayer {
            shared: Arc::new(Shared {
                cache,
                classes,
                timeout,
                monitor,
                untrusted: Mutex::new(HashSet::new()),
                paused_until_ms: AtomicU64::new(0),
                healthy: AtomicBool::new(true),
            }),
        }
    }
}

impl Layer for CacheLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(CachedStore {
            inner,
            shared: self.shared.clone(),
        })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    fn caches(&self, spec: &TableSpec) -> bool {
        self.classes.contains(&spec.name)
    }

    fn trusted(&self, spec: &TableSpec) -> bool {
        self.untrusted
            .lock()
            .map(|u| !u.contains(&spec.name))
            .unwrap_or(false)
    }

    fn distrust(&self, spec: &TableSpec) {
        if let Ok(mut u) = self.untrusted.lock() {
            u.insert(spec.name.clone());
        }
    }

    fn trust(&self, spec: &TableSpec) {
        if let Ok(mut u) = self.untrusted.lock() {
            u.remove(&spec.name);
        }
    }

    fn paused(&self) -> bool {
        now_ms() < self.paused_until_ms.load(Ordering::Relaxed)
    }

    /// Runs one cache call under the timeout, recording it; `None` when it failed (already reported).
    async fn call<T, F>(
        &self,
        operation: &str,
        spec: &TableSpec,
        rows: Option<u64>,
        f: F,
    ) -> Option<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let start_us = quantdal_monitor::now_us();
        let result = match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the latest-row cache `{}` did not answer within {} ms",
                    self.cache.info().name,
                    self.timeout.as_millis()
                ),
            )),
        };
        let error = result.as_ref().err();
        if let Some(m) = &self.monitor {
            m.record_operation(
                operation,
                &spec.name,
                &spec.table,
                self.cache.info(),
                rows,
                start_us,
                started.elapsed(),
                error,
            );
        }
        match result {
            Ok(v) => {
                self.healthy.store(true, Ordering::Relaxed);
                Some(v)
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                self.paused_until_ms
                    .store(now_ms() + COOL_DOWN.as_millis() as u64, Ordering::Relaxed);
                tracing::warn!(class = %spec.name, cache = %self.cache.info().name, operation, error = %e,
                    "latest-row cache call failed; the data path goes on without it");
                None
            }
        }
    }

    /// Clears a distrusted class's cache so it can be trusted again.
    async fn restore_trust(&self, spec: &Arc<TableSpec>) {
        if self.paused() {
            return;
        }
        if self
            .call(
                "cache_invalidate",
                spec,
                None,
                self.cache.invalidate(spec, None),
            )
            .await
            .is_some()
        {
            self.trust(spec);
        }
    }
}

#[derive(Debug)]
struct CachedStore {
    inner: Arc<dyn Store>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.cache.info().name)
            .field("classes", &self.classes.len())
            .finish_non_exhaustive()
    }
}

/// The series a query names exactly (every tag with `=` / `IN`) as keys, when it restricts nothing else.
fn named_series(spec: &TableSpec, query: &Query) -> Option<Vec<SeriesKey>> {
    // The cache holds what is known now: a point-in-time read goes to the store.
    if query.time.is_some() || query.as_of.is_some() || spec.tags.is_empty() {
        return None;
    }
    let tags: Vec<usize> = spec
        .tags
        .iter()
        .filter_map(|t| spec.column_index(t))
        .collect();
    let on_tags = |c: &Condition| tags.contains(&c.column) && matches!(c.op, Op::Eq | Op::In);
    if !query.conditions.iter().all(on_tags) {
        return None;
    }
    let mut keys: Vec<SeriesKey> = vec![Vec::new()];
    for &tag in &tags {
        let mut values: Option<Vec<quantdal_core::load::Scalar>> = None;
        for c in query.conditions.iter().filter(|c| c.column == tag) {
            values = Some(match values {
                Some(prev) => prev.into_iter().filter(|v| c.values.contains(v)).collect(),
                None => c.values.clone(),
            });
        }
        let values = values?;
        keys = keys
            .iter()
            .flat_map(|k| {
                values.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    keys.dedup();
    Some(keys)
}

/// The query restricted to `series` of a single-tag class, with every column (to fill the cache).
fn query_for(spec: &TableSpec, query: &Query, series: &[SeriesKey]) -> Option<Query> {
    let tag = spec.column_index(spec.tags.first()?)?;
    if spec.tags.len() != 1 {
        return None;
    }
    Some(Query {
        columns: (0..spec.columns.len()).collect(),
        time: None,
        conditions: vec![Condition {
            column: tag,
            op: Op::In,
            values: series.iter().filter_map(|k| k.first().cloned()).collect(),
        }],
        order: query.order,
        limit: None,
        as_of: None,
    })
}

impl CachedStore {
    async fn latest_via_cache(
        &self,
        spec: &Arc<TableSpec>,
        query: &Query,
        series: Vec<SeriesKey>,
    ) -> Result<Option<Vec<RecordBatch>>> {
        let shared = &self.shared;
        let Some((found, missing)) = shared
            .call(
                "cache_read",
                spec,
                Some(series.len() as u64),
                shared.cache.get(spec, &series),
            )
            .await
        else {
            return Ok(None);
        };
        let mut parts = vec![found];
        if !missing.is_empty() {
            let lacking: Vec<SeriesKey> = missing.iter().map(|&i| series[i].clone()).collect();
            let Some(store_query) = query_for(spec, query, &lacking) else {
                return Ok(None);
            };
            let from_store = self.inner.latest(spec, store_query).await?;
            let schema = spec.arrow_schema();
            let filled = concat_batches(&schema, &from_store)?;
            if filled.num_rows() > 0 && !shared.paused() {
                shared
                    .call(
                        "cache_fill",
                        spec,
                        Some(filled.num_rows() as u64),
                        shared.cache.put(spec, &filled, false),
                    )
                    .await;
            }
            parts.push(filled);
        }
        let all = concat_batches(&spec.arrow_schema(), &parts)?;
        let ordered = eval::sort_and_limit(spec, &all, query.order, query.limit)?;
        Ok(Some(vec![eval::project(query, &ordered)?]))
    }
}

#[async_trait]
impl Store for CachedStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.inner.provision(spec).await
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        if !self.shared.caches(spec) {
            return self.inner.save(spec, batch).await;
        }
        let rows = self.inner.save(spec, batch.clone()).await?;
        let shared = &self.shared;
        // Skipped (cooling down after a failure) or failed: the cache may now hold an older row.
        let written = !shared.paused()
            && shared
                .call(
                    "cache_write",
                    spec,
                    Some(batch.num_rows() as u64),
                    shared.cache.put(spec, &batch, true),
                )
                .await
                .is_some();
        if !written {
            shared.distrust(spec);
        }
        Ok(rows)
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.inner.load(spec, query).await
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let shared = &self.shared;
        // The cache holds the newest row as known now; an as-of read is the store's to answer.
        if shared.caches(spec) && query.as_of.is_none() {
            if !shared.trusted(spec) {
                shared.restore_trust(spec).await;
            }
            if shared.trusted(spec) && !shared.paused() {
                if let Some(series) = named_series(spec, &query) {
                    if let Some(out) = self.latest_via_cache(spec, &query, series).await? {
                        return Ok(out);
                    }
                }
            }
        }
        self.inner.latest(spec, query).await
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.inner.kline(spec, interval, query).await
    }

    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: quantdal_core::InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.inner.bars(spec, bar, query).await
    }

    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.inner.history(spec, query).await
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        if !self.shared.caches(spec) {
            return self.inner.delete(spec, query).await;
        }
        let series = named_series(spec, &query);
        let deleted = self.inner.delete(spec, query).await?;
        let shared = &self.shared;
        // A range or predicate delete may remove a series' newest row: forget the whole class.
        let invalidated = shared
            .call(
                "cache_invalidate",
                spec,
                None,
                shared.cache.invalidate(spec, series.as_deref()),
            )
            .await;
        if invalidated.is_none() {
            shared.distrust(spec);
        }
        Ok(deleted)
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        self.inner.count(spec).await
    }

    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.inner.check(spec).await
    }

    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        self.inner.migrate(spec).await
    }

    fn provision_notes(&self, spec: &TableSpec) -> Vec<String> {
        let mut notes = self.inner.provision_notes(spec);
        if self.shared.caches(spec) {
            notes.push(format!(
                "newest row per series cached in `{}`",
                self.shared.cache.info().name
            ));
        }
        notes
    }

    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        query: Option<&Query>,
    ) -> Option<StatementText> {
        self.inner.statement(spec, operation, query)
    }

    fn gauges(&self) -> Vec<Gauge> {
        let mut out = self.inner.gauges();
        out.push(Gauge {
            metric: "quantdal_cache_healthy".into(),
            help: "1 when the last call to the latest-row cache succeeded.".into(),
            labels: format!("cache=\"{}\"", self.shared.cache.info().name),
            value: if self.shared.healthy.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        });
        out
    }

    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        if self.shared.caches(spec) {
            return self.shared.cache.subscribe(spec, query).await;
        }
        self.inner.subscribe(spec, query).await
    }

    async fn sql(&self, request: &quantdal_core::SqlRequest) -> Result<BatchStream> {
        self.inner.sql(request).await
    }
    async fn summarize(
        &self,
        spec: &Arc<TableSpec>,
        query: Query,
        by_day: bool,
    ) -> Result<Vec<quantdal_core::SeriesSummary>> {
        self.inner.summarize(spec, query, by_day).await
    }
    async fn storage(&self, specs: &[Arc<TableSpec>]) -> Result<quantdal_core::StorageReport> {
        self.inner.storage(specs).await
    }
    async fn compact(&self, specs: &[Arc<TableSpec>]) -> Result<Vec<String>> {
        self.inner.compact(specs).await
    }
}
