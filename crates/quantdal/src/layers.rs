//! Cross-cutting concerns as `Store` decorators: each wraps a store and is a store, so the router stays
//! free of special cases. Monitoring (operation log, slow queries, quality) plugs in the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use quantdal_core::settings::RetrySettings;
use quantdal_core::{
    BatchStream, Gauge, InfoBar, Interval, Migration, Operation, ProvisionStatus, Query, Result,
    StatementText, Store, StoreInfo, TableSpec,
};

/// Wraps a store in another store.
pub trait Layer: Send + Sync {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store>;
}

/// Records every call in the monitoring store (see `quantdal_monitor::MonitorLayer`).
impl Layer for quantdal_monitor::MonitorLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        quantdal_monitor::MonitorLayer::layer(self, inner)
    }
}

/// Retries operations that failed with a temporary error (a write conflict, a store briefly away).
/// Safe for saves because a save is an idempotent upsert; reads are naturally safe.
#[derive(Debug, Clone)]
pub struct RetryLayer {
    settings: RetrySettings,
}

impl RetryLayer {
    pub fn new(settings: RetrySettings) -> Self {
        RetryLayer { settings }
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(RetryStore {
            inner,
            settings: self.settings.clone(),
        })
    }
}

#[derive(Debug)]
struct RetryStore {
    inner: Arc<dyn Store>,
    settings: RetrySettings,
}

impl RetryStore {
    async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        let mut attempt = 1;
        let mut backoff = Duration::from_millis(self.settings.initial_backoff_ms);
        loop {
            match op().await {
                Err(e) if e.is_temporary() && attempt < self.settings.max_attempts => {
                    tracing::warn!(attempt, error = %e, "temporary failure, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff =
                        (backoff * 2).min(Duration::from_millis(self.settings.max_backoff_ms));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl Store for RetryStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }
    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.run(|| self.inner.provision(spec)).await
    }
    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        self.run(|| self.inner.save(spec, batch.clone())).await
    }
    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.run(|| self.inner.load(spec, query.clone())).await
    }
    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        self.run(|| self.inner.latest(spec, query.clone())).await
    }
    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.run(|| self.inner.kline(spec, interval, query.clone()))
            .await
    }
    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.run(|| self.inner.bars(spec, bar, query.clone())).await
    }
    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.run(|| self.inner.history(spec, query.clone())).await
    }
    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        self.run(|| self.inner.delete(spec, query.clone())).await
    }
    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        self.run(|| self.inner.count(spec)).await
    }
    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.inner.check(spec).await
    }
    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        self.inner.migrate(spec).await
    }
    fn provision_notes(&self, spec: &TableSpec) -> Vec<String> {
        self.inner.provision_notes(spec)
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
        self.inner.gauges()
    }
    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
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

/// Emits a `tracing` event per operation with class, store, rows and duration; logs at warn level past the
/// configured threshold. The monitoring DB layer records the same facts durably.
#[derive(Debug, Clone)]
pub struct TracingLayer {
    pub warn_after: Duration,
}

impl Layer for TracingLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(TracingStore {
            inner,
            warn_after: self.warn_after,
        })
    }
}

#[derive(Debug)]
struct TracingStore {
    inner: Arc<dyn Store>,
    warn_after: Duration,
}

impl TracingStore {
    fn record<T>(
        &self,
        op: &'static str,
        spec: &TableSpec,
        started: Instant,
        result: &Result<T>,
        rows: Option<u64>,
    ) {
        let elapsed = started.elapsed();
        let store = &self.inner.info().name;
        match result {
            Ok(_) if elapsed >= self.warn_after => tracing::warn!(
                op, class = %spec.name, store = %store, rows, elapsed_us = elapsed.as_micros() as u64, "slow operation"
            ),
            Ok(_) => tracing::debug!(
                op, class = %spec.name, store = %store, rows, elapsed_us = elapsed.as_micros() as u64, "ok"
            ),
            Err(e) => tracing::warn!(
                op, class = %spec.name, store = %store, error_kind = %e.kind(), elapsed_us = elapsed.as_micros() as u64, "failed"
            ),
        }
    }
}

#[async_trait]
impl Store for TracingStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }
    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let t = Instant::now();
        let r = self.inner.provision(spec).await;
        self.record("provision", spec, t, &r, None);
        r
    }
    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        let t = Instant::now();
        let r = self.inner.save(spec, batch).await;
        let rows = r.as_ref().ok().copied();
        self.record("save", spec, t, &r, rows);
        r
    }
    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let t = Instant::now();
        let r = self.inner.load(spec, query).await;
        self.record("load", spec, t, &r, None);
        r
    }
    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let t = Instant::now();
        let r = self.inner.latest(spec, query).await;
        let rows = r
            .as_ref()
            .ok()
            .map(|b| b.iter().map(|b| b.num_rows() as u64).sum());
        self.record("latest", spec, t, &r, rows);
        r
    }
    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let t = Instant::now();
        let r = self.inner.kline(spec, interval, query).await;
        let rows = r
            .as_ref()
            .ok()
            .map(|b| b.iter().map(|b| b.num_rows() as u64).sum());
        self.record("kline", spec, t, &r, rows);
        r
    }
    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let t = Instant::now();
        let r = self.inner.bars(spec, bar, query).await;
        let rows = r
            .as_ref()
            .ok()
            .map(|b| b.iter().map(|b| b.num_rows() as u64).sum());
        self.record("kline", spec, t, &r, rows);
        r
    }
    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let t = Instant::now();
        let r = self.inner.history(spec, query).await;
        self.record("load", spec, t, &r, None);
        r
    }
    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        let t = Instant::now();
        let r = self.inner.delete(spec, query).await;
        let rows = r.as_ref().ok().copied();
        self.record("delete", spec, t, &r, rows);
        r
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
        self.inner.provision_notes(spec)
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
        self.inner.gauges()
    }
    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
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
