//! The durable spool: a save whose store is unavailable (a temporary error the retry layer could not get
//! past) is written to a local, checksummed, fsynced Arrow IPC record and succeeds as *spooled*; a replayer
//! puts the records into the store in order once it answers again.
//!
//! Order per class: while a class has records in the spool (its folder exists), every save of that class
//! goes to the spool too, so a newer row can never reach the store before an older spooled one. The replayer
//! applies a record, then deletes it, then removes the class folder when the last one is gone; a crash in
//! between re-applies one record at the next start, which is harmless (saves are upserts). One replayer per
//! spool folder across processes holds `replay.lock`; other processes keep appending and leave the replaying
//! to it (and take over when it exits).

mod files;
mod replay;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use quantdal_core::{
    BatchStream, Error, ErrorKind, Gauge, Interval, Migration, Operation, ProvisionStatus, Query,
    Result, StatementText, Store, StoreInfo, TableSpec,
};
use quantdal_monitor::Monitor;

pub use files::{Record, SpoolDir};

use crate::layers::Layer;

/// What one class has waiting, for `quantdal spool status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolStatus {
    pub store: String,
    pub class: String,
    pub batches: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Spooling time of the oldest record, ns since the epoch.
    pub oldest_ns: Option<i64>,
    /// Records set aside (damaged, or refused by the store for good).
    pub failed: u64,
}

/// One store's spool: its folder, its limit, and the replayer's wake-up.
pub struct Spool {
    pub(crate) store: String,
    pub(crate) dir: SpoolDir,
    max_bytes: u64,
    /// Bytes held, kept current by this process (other processes' records are counted at each scan).
    bytes: AtomicU64,
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) monitor: Option<Monitor>,
    pub(crate) specs: HashMap<String, Arc<TableSpec>>,
    /// Monotonic counters for /metrics.
    pub(crate) spooled_total: AtomicU64,
    pub(crate) replayed_total: AtomicU64,
    /// The store below the spool layer, set when the layer wraps it: replays must go there. Replaying through
    /// the layered store would meet this spool again, which still holds the class, and re-spool every record.
    target: std::sync::OnceLock<Arc<dyn Store>>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("store", &self.store)
            .field("dir", &self.dir.root())
            .finish_non_exhaustive()
    }
}

impl Spool {
    pub fn open(
        store: &str,
        root: PathBuf,
        max_bytes: u64,
        specs: HashMap<String, Arc<TableSpec>>,
        monitor: Option<Monitor>,
    ) -> Result<Arc<Spool>> {
        let dir = SpoolDir::open(&root).map_err(|e| {
            e.with_message_prefix(format_args!(
                "store `{store}`: the spool folder is not usable"
            ))
        })?;
        let bytes = dir.bytes()?;
        Ok(Arc::new(Spool {
            store: store.to_string(),
            dir,
            max_bytes,
            bytes: AtomicU64::new(bytes),
            wake: tokio::sync::Notify::new(),
            monitor,
            specs,
            spooled_total: AtomicU64::new(0),
            replayed_total: AtomicU64::new(0),
            target: std::sync::OnceLock::new(),
        }))
    }

    /// Whether `class` has records waiting (in this or any other process).
    pub fn holds(&self, class: &str) -> bool {
        self.dir.root().join(class).is_dir()
    }

    /// Writes `batch` durably; a full spool or an unusable disk is an error, and nothing was kept.
    pub fn append(&self, spec: &TableSpec, batch: &RecordBatch, cause: &Error) -> Result<Record> {
        let held = self.bytes.load(Ordering::Relaxed);
        let estimate = batch.get_array_memory_size() as u64;
        if held.saturating_add(estimate) > self.max_bytes {
            // Recount: the replayer (maybe in another process) may have drained since.
            let held = self.dir.bytes()?;
            self.bytes.store(held, Ordering::Relaxed);
            if held.saturating_add(estimate) > self.max_bytes {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "store `{}` is unavailable ({}) and its spool is full ({held} of {} bytes, this batch \
                         needs about {estimate}); the batch was not saved",
                        self.store,
                        cause.message(),
                        self.max_bytes
                    ),
                )
                .set_temporary(false)
                .with_class(spec.name.clone()));
            }
        }
        let started = Instant::now();
        let start_us = quantdal_monitor::now_us();
        let result = self.dir.append(&spec.name, batch);
        if let Some(m) = &self.monitor {
            m.record_operation(
                "spool_write",
                &spec.name,
                &spec.table,
                &self.info(),
                Some(batch.num_rows() as u64),
                start_us,
                started.elapsed(),
                result.as_ref().err(),
            );
        }
        let record = result.map_err(|e| {
            e.with_message_prefix(format_args!(
                "store `{}` is unavailable ({}) and the batch could not be spooled",
                self.store,
                cause.message()
            ))
            .with_class(spec.name.clone())
        })?;
        self.bytes.fetch_add(record.bytes, Ordering::Relaxed);
        self.spooled_total.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        Ok(record)
    }

    pub(crate) fn forget_bytes(&self, bytes: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(bytes))
            });
    }

    pub(crate) fn info(&self) -> StoreInfo {
        StoreInfo {
            name: format!("{}:spool", self.store),
            kind: quantdal_core::StoreKind::Duckdb,
            location: self.dir.root().display().to_string(),
            capabilities: quantdal_core::Capabilities::RELATIONAL,
        }
    }

    /// What every class has waiting.
    pub fn status(&self) -> Result<Vec<SpoolStatus>> {
        status_of(&self.store, &self.dir)
    }
}

/// What each class of a spool folder holds (read from the file names; no record is opened).
pub fn status_of(store: &str, dir: &SpoolDir) -> Result<Vec<SpoolStatus>> {
    let mut classes = dir.classes()?;
    let failed_root = dir.root().join(files::FAILED);
    if failed_root.is_dir() {
        classes.extend(SpoolDir::open(&failed_root)?.classes()?);
    }
    classes.sort();
    classes.dedup();
    let mut out = Vec::new();
    for class in classes {
        let records = dir.records(&class)?;
        let failed = dir.failed(&class)?;
        out.push(SpoolStatus {
            store: store.to_string(),
            batches: records.len() as u64,
            rows: records.iter().map(|r| r.rows).sum(),
            bytes: records.iter().map(|r| r.bytes).sum(),
            oldest_ns: records.first().map(|r| r.spooled_ns),
            failed: failed.len() as u64,
            class,
        });
    }
    Ok(out)
}

/// Deletes the records of `class` (pending and set aside); returns (rows, bytes).
pub fn discard_in(dir: &SpoolDir, class: &str) -> Result<(u64, u64)> {
    let (mut rows, mut bytes) = (0, 0);
    for r in dir.records(class)?.into_iter().chain(dir.failed(class)?) {
        dir.remove(&r)?;
        rows += r.rows;
        bytes += r.bytes;
    }
    let _ = std::fs::remove_dir(dir.root().join(class));
    let _ = std::fs::remove_dir(dir.root().join(files::FAILED).join(class));
    Ok((rows, bytes))
}

/// Replays `spool` into its store until it is empty or the store is away (the CLI's `spool replay`).
/// While another replayer holds the folder it waits for it, up to 30 s.
pub async fn replay_now(spool: &Spool) -> Result<()> {
    let Some(target) = spool.target.get().cloned() else {
        return Err(Error::store(format!(
            "the spool of store `{}` is not attached to its store",
            spool.store
        )));
    };
    let store = target.as_ref();
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match replay::replay_once(spool, store).await? {
            replay::Progress::Drained => continue,
            replay::Progress::Idle => return Ok(()),
            replay::Progress::Busy if Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            replay::Progress::Busy => {
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!(
                        "another process is replaying the spool of store `{}` ({})",
                        spool.store,
                        spool.dir.root().display()
                    ),
                ))
            }
            replay::Progress::StoreAway => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "store `{}` is still unavailable; the spool keeps its batches",
                        spool.store
                    ),
                ))
            }
        }
    }
}

/// Wraps each store that has a spool.
pub struct SpoolLayer {
    spools: HashMap<String, Arc<Spool>>,
}

impl SpoolLayer {
    pub fn new(spools: HashMap<String, Arc<Spool>>) -> SpoolLayer {
        SpoolLayer { spools }
    }
}

impl Layer for SpoolLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        match self.spools.get(&inner.info().name) {
            Some(spool) => {
                let spooled: Arc<dyn Store> = Arc::new(SpooledStore {
                    inner: inner.clone(),
                    spool: spool.clone(),
                });
                let _ = spool.target.set(inner.clone());
                replay::start(spool.clone(), inner);
                spooled
            }
            None => inner,
        }
    }
}

#[derive(Debug)]
struct SpooledStore {
    inner: Arc<dyn Store>,
    spool: Arc<Spool>,
}

/// Whether an error means "the store is away for now" (what the spool is for).
fn store_away(e: &Error) -> bool {
    e.kind() == ErrorKind::Unavailable && e.is_temporary()
}

tokio::task_local! {
    /// Set by a save that went to the spool, read by the facade for its `SaveReport`.
    pub(crate) static SPOOLED: std::cell::Cell<bool>;
}

fn mark_spooled() {
    let _ = SPOOLED.try_with(|s| s.set(true));
}

#[async_trait]
impl Store for SpooledStore {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.inner.provision(spec).await
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        if self.spool.holds(&spec.name) {
            // Older batches of this class are still waiting: keep the order.
            let cause = Error::new(ErrorKind::Unavailable, "earlier batches are still spooled");
            let record = self.spool.append(spec, &batch, &cause)?;
            mark_spooled();
            return Ok(record.rows);
        }
        match self.inner.save(spec, batch.clone()).await {
            Err(e) if store_away(&e) => {
                let record = self.spool.append(spec, &batch, &e)?;
                tracing::warn!(class = %spec.name, store = %self.spool.store, rows = record.rows, error = %e,
                    "store unavailable: batch spooled for replay");
                mark_spooled();
                Ok(record.rows)
            }
            other => other,
        }
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.inner.load(spec, query).await
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
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
        if self.spool.holds(&spec.name) {
            // A delete now would run before the spooled saves land, and they would bring the rows back.
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "store `{}` still has spooled batches of this class; deleting now would be undone when \
                     they are replayed (see `quantdal spool status`)",
                    self.spool.store
                ),
            )
            .with_class(spec.name.clone()));
        }
        self.inner.delete(spec, query).await
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
        let mut out = self.inner.gauges();
        let labels = format!("store=\"{}\"", self.spool.store);
        let (batches, rows) = self
            .spool
            .status()
            .map(|s| {
                (
                    s.iter().map(|c| c.batches).sum::<u64>(),
                    s.iter().map(|c| c.rows).sum::<u64>(),
                )
            })
            .unwrap_or((0, 0));
        out.push(Gauge {
            metric: "quantdal_spool_batches".into(),
            help: "Batches waiting in a store's spool.".into(),
            labels: labels.clone(),
            value: batches as f64,
        });
        out.push(Gauge {
            metric: "quantdal_spool_rows".into(),
            help: "Rows waiting in a store's spool.".into(),
            labels: labels.clone(),
            value: rows as f64,
        });
        out.push(Gauge {
            metric: "quantdal_spool_bytes".into(),
            help: "Bytes of a store's spool.".into(),
            labels,
            value: self.spool.bytes.load(Ordering::Relaxed) as f64,
        });
        out
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
