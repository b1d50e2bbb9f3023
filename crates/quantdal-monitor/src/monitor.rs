//! The handle the data path holds: `record` never waits (a full channel counts the record as dropped), and
//! one background task does all monitoring I/O.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quantdal_core::settings::MonitoringSettings;
use quantdal_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::rate::RateLimit;
use crate::record::{OpStatus, OperationRecord, Record};
use crate::sink::Sink;
use crate::spill::Spill;
use crate::writer::{Msg, Writer};

/// Who is calling: stamped on every operation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub application: String,
    pub host: String,
    pub pid: i64,
}

impl Identity {
    pub fn current(application: &str) -> Identity {
        Identity {
            application: application.to_string(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: i64::from(std::process::id()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub application: String,
    /// Operations at least this slow get a `warn` slow-query row and a warn-level log line.
    pub warn_after: Duration,
    /// Operations at least this slow get a `slow` slow-query row and an alert.
    pub slow_after: Duration,
    /// Records the channel holds before new ones are dropped.
    pub capacity: usize,
    /// Records per write to the store.
    pub batch_size: usize,
    /// Longest a record waits in the buffer.
    pub flush_interval: Duration,
    /// Wait between attempts to reach a failed store.
    pub retry_interval: Duration,
    /// Names the spill files: `<dir>/<stem>.spill-<pid>.jsonl`; for SQLite, the DB file itself.
    pub spill_base: PathBuf,
}

impl MonitorOptions {
    pub fn new(application: impl Into<String>, spill_base: impl Into<PathBuf>) -> Self {
        MonitorOptions {
            application: application.into(),
            warn_after: Duration::from_millis(200),
            slow_after: Duration::from_millis(1000),
            capacity: 16_384,
            batch_size: 512,
            flush_interval: Duration::from_millis(500),
            retry_interval: Duration::from_secs(2),
            spill_base: spill_base.into(),
        }
    }

    /// Thresholds and buffering from `quantdal.yaml`'s `monitoring:` section.
    pub fn with_settings(mut self, settings: &MonitoringSettings) -> Self {
        self.warn_after = Duration::from_millis(settings.warn_ms);
        self.slow_after = Duration::from_millis(settings.slow_ms);
        self.capacity = settings.capacity;
        self.batch_size = settings.batch_size;
        self.flush_interval = Duration::from_millis(settings.flush_ms);
        self
    }
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    drop_log: RateLimit,
    identity: Identity,
    warn_after: Duration,
    slow_after: Duration,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Cheap to clone; every clone feeds the same writer task.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("application", &self.inner.identity.application)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// Starts the writer task on the current tokio runtime. Spill files left by earlier runs are replayed
    /// first.
    pub fn start(sink: Arc<dyn Sink>, options: MonitorOptions) -> Result<Monitor> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("the monitor must be started inside a tokio runtime"))?;
        let spill = Spill::open(&options.spill_base)?;
        let identity = Identity::current(&options.application);
        let (tx, rx) = mpsc::channel(options.capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            rx,
            sink,
            spill,
            batch_size: options.batch_size.max(1),
            flush_interval: options.flush_interval,
            retry_interval: options.retry_interval,
            dropped: dropped.clone(),
            labels: (identity.application.clone(), identity.host.clone()),
            buf: Vec::with_capacity(options.batch_size.max(1)),
            dropped_reported: 0,
            next_retry: tokio::time::Instant::now(),
            sink_log: RateLimit::new(Duration::from_secs(30)),
        };
        let task = handle.spawn(writer.run());
        Ok(Monitor {
            inner: Arc::new(Inner {
                tx,
                dropped,
                drop_log: RateLimit::new(Duration::from_secs(10)),
                identity,
                warn_after: options.warn_after,
                slow_after: options.slow_after,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// Queues a record without waiting; false (and counted as dropped) when the channel is full or closed.
    pub fn record(&self, record: Record) -> bool {
        match self.inner.tx.try_send(Msg::Record(record)) {
            Ok(()) => true,
            Err(_) => {
                let total = self.inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if self.inner.drop_log.allow() {
                    tracing::warn!(
                        dropped_total = total,
                        "monitoring channel full or closed; dropping records"
                    );
                }
                false
            }
        }
    }

    /// Records one operation done beside a store call (a latest-row cache write or read, a spool replay):
    /// the same operations row a store call gets, so failures raise the same alerts.
    #[allow(clippy::too_many_arguments)]
    pub fn record_operation(
        &self,
        operation: &str,
        class: &str,
        table: &str,
        store: &quantdal_core::StoreInfo,
        rows: Option<u64>,
        start_us: i64,
        duration: Duration,
        error: Option<&quantdal_core::Error>,
    ) -> bool {
        let identity = &self.inner.identity;
        self.record(Record::Operation(OperationRecord {
            id: crate::id::next_id(),
            start_us,
            operation: operation.to_string(),
            class: class.to_string(),
            store: store.name.clone(),
            kind: store.kind.as_str().to_string(),
            table: table.to_string(),
            rows: rows.map(|r| r as i64),
            bytes: None,
            status: if error.is_some() {
                OpStatus::Failed
            } else {
                OpStatus::Ok
            },
            error_kind: error.map(|e| e.kind().as_str().to_string()),
            error_message: error.map(|e| crate::layer::truncate(e.to_string(), 2000)),
            duration_us: duration.as_micros() as i64,
            application: identity.application.clone(),
            host: identity.host.clone(),
            pid: identity.pid,
        }))
    }

    /// Records dropped so far because the channel was full (or the monitor shut down).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    pub fn warn_after(&self) -> Duration {
        self.inner.warn_after
    }

    pub fn slow_after(&self) -> Duration {
        self.inner.slow_after
    }

    /// Waits until every record queued before this call is in the store, or spilled: `Err(Unavailable)`
    /// then says records are waiting in the spill file.
    pub async fn flush(&self) -> Result<()> {
        self.control(Msg::Flush).await
    }

    /// Flushes everything (channel and spill) and stops the writer. Records sent afterwards are dropped.
    /// `Err(Unavailable)` when the store is still down: the spill file keeps them for the next start.
    pub async fn shutdown(&self) -> Result<()> {
        let result = self.control(Msg::Shutdown).await;
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        result
    }

    async fn control(&self, msg: fn(oneshot::Sender<Result<()>>) -> Msg) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self.inner.tx.send(msg(reply)).await.is_err() {
            return Ok(()); // already shut down: nothing left to flush
        }
        answer.await.unwrap_or(Ok(()))
    }
}
