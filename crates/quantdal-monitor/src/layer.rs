//! The store decorator: exactly one operations row per call (a load when its stream ends or is dropped),
//! a slow-query row past the thresholds, a `tracing` span with the same fields, and inline quality checks
//! on saves. Everything leaves through `Monitor::record`, which never waits.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use futures::Stream;
use quantdal_core::{
    BatchStream, Error, Gauge, Interval, Migration, Operation, ProvisionStatus, Query, Result,
    StatementText, Store, StoreInfo, TableSpec,
};
use tracing::Instrument;

use crate::id::next_id;
use crate::monitor::Monitor;
use crate::quality::{check_batch, Decision, Policy, QualityConfig, ResolvedQuality};
use crate::record::{
    now_us, OpStatus, OperationRecord, Record, RejectRecord, SlowLevel, SlowQuery,
};

/// Wraps stores in [`MonitoredStore`]; the facade adapts it to its `Layer` trait.
#[derive(Debug, Clone)]
pub struct MonitorLayer {
    monitor: Monitor,
    quality: Arc<HashMap<String, ResolvedQuality>>,
}

impl MonitorLayer {
    pub fn new(monitor: Monitor) -> Self {
        MonitorLayer {
            monitor,
            quality: Arc::new(HashMap::new()),
        }
    }

    /// Inline quality checks for these classes; each config is checked against its spec here.
    pub fn with_quality(
        mut self,
        classes: impl IntoIterator<Item = (Arc<TableSpec>, QualityConfig)>,
    ) -> Result<Self> {
        let mut map = HashMap::new();
        for (spec, config) in classes {
            map.insert(spec.name.clone(), ResolvedQuality::new(&spec, &config)?);
        }
        self.quality = Arc::new(map);
        Ok(self)
    }

    pub fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(MonitoredStore {
            inner,
            monitor: self.monitor.clone(),
            quality: self.quality.clone(),
        })
    }
}

#[derive(Debug)]
pub struct MonitoredStore {
    inner: Arc<dyn Store>,
    monitor: Monitor,
    quality: Arc<HashMap<String, ResolvedQuality>>,
}

impl MonitoredStore {
    pub fn new(inner: Arc<dyn Store>, monitor: Monitor) -> Self {
        MonitoredStore {
            inner,
            monitor,
            quality: Arc::new(HashMap::new()),
        }
    }
}

/// One call in flight.
struct Call {
    id: String,
    op: Operation,
    start_us: i64,
    started: Instant,
    span: tracing::Span,
}

impl Call {
    fn begin(op: Operation, spec: &TableSpec, info: &StoreInfo) -> Call {
        let id = next_id();
        let span = tracing::info_span!(
            "quantdal_op",
            op = op.as_str(),
            class = %spec.name,
            store = %info.name,
            kind = %info.kind,
            table = %spec.table,
            op_id = %id,
            rows = tracing::field::Empty,
            bytes = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        );
        Call {
            id,
            op,
            start_us: now_us(),
            started: Instant::now(),
            span,
        }
    }
}

/// How a call ended.
struct Outcome<'a> {
    status: OpStatus,
    rows: Option<u64>,
    bytes: Option<u64>,
    error: Option<&'a Error>,
}

impl<'a> Outcome<'a> {
    fn failed(error: &'a Error) -> Outcome<'a> {
        Outcome {
            status: OpStatus::Failed,
            rows: None,
            bytes: None,
            error: Some(error),
        }
    }

    fn of<T>(result: &'a Result<T>, rows: impl FnOnce(&T) -> Option<u64>) -> Outcome<'a> {
        match result {
            Ok(v) => Outcome {
                status: OpStatus::Ok,
                rows: rows(v),
                bytes: None,
                error: None,
            },
            Err(e) => Outcome {
                status: OpStatus::Failed,
                rows: None,
                bytes: None,
                error: Some(e),
            },
        }
    }
}

/// Everything needed to write an operation's rows, owned so a load stream can carry it.
#[derive(Clone)]
struct Recorder {
    inner: Arc<dyn Store>,
    monitor: Monitor,
    spec: Arc<TableSpec>,
}

impl Recorder {
    fn finish(&self, call: &Call, outcome: Outcome<'_>, query: Option<&Query>) {
        let elapsed = call.started.elapsed();
        let duration_us = elapsed.as_micros() as i64;
        let info = self.inner.info();
        let identity = self.monitor.identity();
        let span = &call.span;
        span.record("status", outcome.status.as_str());
        span.record("duration_us", duration_us);
        if let Some(r) = outcome.rows {
            span.record("rows", r);
        }
        if let Some(b) = outcome.bytes {
            span.record("bytes", b);
        }
        let level = if elapsed >= self.monitor.slow_after() {
            Some(SlowLevel::Slow)
        } else if elapsed >= self.monitor.warn_after() {
            Some(SlowLevel::Warn)
        } else {
            None
        };
        span.in_scope(|| match (outcome.error, level) {
            (Some(e), _) => tracing::warn!(error_kind = %e.kind(), error = %e, "operation failed"),
            (None, Some(level)) => tracing::warn!(level = level.as_str(), "slow operation"),
            (None, None) => tracing::debug!("operation done"),
        });
        self.monitor.record(Record::Operation(OperationRecord {
            id: call.id.clone(),
            start_us: call.start_us,
            operation: call.op.as_str().to_string(),
            class: self.spec.name.clone(),
            store: info.name.clone(),
            kind: info.kind.as_str().to_string(),
            table: self.spec.table.clone(),
            rows: outcome.rows.map(|r| r as i64),
            bytes: outcome.bytes.map(|b| b as i64),
            status: outcome.status,
            error_kind: outcome.error.map(|e| e.kind().as_str().to_string()),
            error_message: outcome.error.map(|e| truncate(e.to_string(), 2000)),
            duration_us,
            application: identity.application.clone(),
            host: identity.host.clone(),
            pid: identity.pid,
        }));
        if let Some(level) = level {
            let statement = self.inner.statement(&self.spec, call.op, query);
            let (statement, parameters) = match statement {
                Some(StatementText { sql, parameters }) => (sql, parameters as i64),
                None => (
                    format!(
                        "{} {} (statement not reported by the store)",
                        call.op, self.spec.table
                    ),
                    0,
                ),
            };
            self.monitor.record(Record::Slow(SlowQuery {
                op_id: call.id.clone(),
                start_us: call.start_us,
                class: self.spec.name.clone(),
                store: info.name.clone(),
                operation: call.op.as_str().to_string(),
                statement,
                parameters,
                rows: outcome.rows.map(|r| r as i64),
                duration_us,
                level,
            }));
        }
    }
}

pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn batch_rows(batches: &[RecordBatch]) -> Option<u64> {
    Some(batches.iter().map(|b| b.num_rows() as u64).sum())
}

impl MonitoredStore {
    fn recorder(&self, spec: &Arc<TableSpec>) -> Recorder {
        Recorder {
            inner: self.inner.clone(),
            monitor: self.monitor.clone(),
            spec: spec.clone(),
        }
    }

    /// Quality checks and policy for a save; `Err` when the policy rejects the batch.
    fn screen(
        &self,
        spec: &TableSpec,
        call: &Call,
        batch: RecordBatch,
    ) -> Result<(RecordBatch, usize)> {
        let Some(q) = self.quality.get(&spec.name) else {
            return Ok((batch, 0));
        };
        let report = check_batch(q, spec, &batch, call.start_us.saturating_mul(1000))?;
        let time_us = now_us();
        for r in report.records(time_us, Some(&call.id)) {
            self.monitor.record(Record::Quality(r));
        }
        match report.decide(q.policy, batch)? {
            Decision::Save(b) => Ok((b, 0)),
            Decision::Reject(e) => Err(e),
            Decision::Quarantine { good, rejected } => {
                let n = rejected.len();
                for r in rejected {
                    self.monitor.record(Record::Reject(RejectRecord {
                        id: format!("{}:{}", call.id, r.row_index),
                        time_us,
                        op_id: call.id.clone(),
                        class: spec.name.clone(),
                        reason: r.reason,
                        row_index: r.row_index as i64,
                        row: r.row,
                    }));
                }
                Ok((good, n))
            }
        }
    }
}

#[async_trait]
impl Store for MonitoredStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let call = Call::begin(Operation::Provision, spec, self.inner.info());
        let r = self
            .inner
            .provision(spec)
            .instrument(call.span.clone())
            .await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |_| None), None);
        r
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        let call = Call::begin(Operation::Save, spec, self.inner.info());
        let bytes = batch.get_array_memory_size() as u64;
        // Under `warn` the checks decide nothing about what is written: run them on a blocking thread while
        // the store writes, so they add no latency to the save.
        if let Some(q) = self
            .quality
            .get(&spec.name)
            .filter(|q| q.policy == Policy::Warn)
        {
            let (q, check_spec, check_batch_ref) = (q.clone(), spec.clone(), batch.clone());
            let now_ns = call.start_us.saturating_mul(1000);
            let checks = tokio::task::spawn_blocking(move || {
                check_batch(&q, &check_spec, &check_batch_ref, now_ns)
            });
            let (r, report) = tokio::join!(
                self.inner.save(spec, batch).instrument(call.span.clone()),
                checks
            );
            match report {
                Ok(Ok(report)) => {
                    for rec in report.records(now_us(), Some(&call.id)) {
                        self.monitor.record(Record::Quality(rec));
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(class = %spec.name, error = %e, "quality checks failed")
                }
                Err(e) => {
                    tracing::warn!(class = %spec.name, error = %e, "quality check task failed")
                }
            }
            let mut outcome = Outcome::of(&r, |n| Some(*n));
            outcome.bytes = Some(bytes);
            self.recorder(spec).finish(&call, outcome, None);
            return r;
        }
        let (batch, quarantined) = match self.screen(spec, &call, batch) {
            Ok(v) => v,
            Err(e) => {
                self.recorder(spec).finish(&call, Outcome::failed(&e), None);
                return Err(e);
            }
        };
        let r = self
            .inner
            .save(spec, batch)
            .instrument(call.span.clone())
            .await;
        let mut outcome = Outcome::of(&r, |n| Some(*n));
        outcome.bytes = Some(bytes);
        if quarantined > 0 && outcome.status == OpStatus::Ok {
            outcome.status = OpStatus::Partial;
        }
        self.recorder(spec).finish(&call, outcome, None);
        r
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let call = Call::begin(Operation::Load, spec, self.inner.info());
        let kept = query.clone();
        let r = self
            .inner
            .load(spec, query)
            .instrument(call.span.clone())
            .await;
        match r {
            Ok(stream) => Ok(Box::pin(CountingStream {
                inner: stream,
                state: Some(StreamState {
                    recorder: self.recorder(spec),
                    call,
                    query: kept,
                    rows: 0,
                    bytes: 0,
                    error: None,
                }),
            })),
            Err(e) => {
                self.recorder(spec)
                    .finish(&call, Outcome::failed(&e), Some(&kept));
                Err(e)
            }
        }
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let call = Call::begin(Operation::Latest, spec, self.inner.info());
        let kept = query.clone();
        let r = self
            .inner
            .latest(spec, query)
            .instrument(call.span.clone())
            .await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |b| batch_rows(b)), Some(&kept));
        r
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let call = Call::begin(Operation::Kline, spec, self.inner.info());
        let kept = query.clone();
        let r = self
            .inner
            .kline(spec, interval, query)
            .instrument(call.span.clone())
            .await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |b| batch_rows(b)), Some(&kept));
        r
    }

    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: quantdal_core::InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let call = Call::begin(Operation::Kline, spec, self.inner.info());
        let kept = query.clone();
        let r = self
            .inner
            .bars(spec, bar, query)
            .instrument(call.span.clone())
            .await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |b| batch_rows(b)), Some(&kept));
        r
    }

    // Revisions are read for audits and backtest checks; forwarded unrecorded, like `subscribe`.
    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.inner.history(spec, query).await
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        let call = Call::begin(Operation::Delete, spec, self.inner.info());
        let kept = query.clone();
        let r = self
            .inner
            .delete(spec, query)
            .instrument(call.span.clone())
            .await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |n| Some(*n)), Some(&kept));
        r
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        let call = Call::begin(Operation::Count, spec, self.inner.info());
        let r = self.inner.count(spec).instrument(call.span.clone()).await;
        self.recorder(spec)
            .finish(&call, Outcome::of(&r, |n| Some(*n)), None);
        r
    }

    // Checks and migrations are schema work, not data operations: forwarded unrecorded.
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

struct StreamState {
    recorder: Recorder,
    call: Call,
    query: Query,
    rows: u64,
    bytes: u64,
    error: Option<Error>,
}

impl StreamState {
    fn finish(self, status: OpStatus) {
        let error = self.error.as_ref();
        let status = if error.is_some() {
            OpStatus::Failed
        } else {
            status
        };
        self.recorder.finish(
            &self.call,
            Outcome {
                status,
                rows: Some(self.rows),
                bytes: Some(self.bytes),
                error,
            },
            Some(&self.query),
        );
    }
}

/// Counts rows and bytes of a load; records the operation when the stream ends, fails, or is dropped
/// early (`partial`).
struct CountingStream {
    inner: BatchStream,
    state: Option<StreamState>,
}

impl Stream for CountingStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = match &this.state {
            Some(s) => {
                let _entered = s.call.span.enter();
                this.inner.as_mut().poll_next(cx)
            }
            None => this.inner.as_mut().poll_next(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                if let Some(s) = this.state.as_mut() {
                    s.rows += batch.num_rows() as u64;
                    s.bytes += batch.get_array_memory_size() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(s) = this.state.as_mut() {
                    s.error = Some(Error::new(e.kind(), e.message().to_string()));
                }
            }
            Poll::Ready(None) => {
                if let Some(s) = this.state.take() {
                    s.finish(OpStatus::Ok);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl Drop for CountingStream {
    fn drop(&mut self) {
        if let Some(s) = self.state.take() {
            s.finish(OpStatus::Partial);
        }
    }
}
