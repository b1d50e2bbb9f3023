//! The one task that talks to the monitoring store: batches records by size and interval, spills them to a
//! local file when the store fails, and replays the spill (in order) once the store answers again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quantdal_core::{Error, ErrorKind, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::effects::{render_labels, MetricDelta};
use crate::rate::RateLimit;
use crate::record::Record;
use crate::sink::Sink;
use crate::spill::{Spill, SpillReader};

// Nearly every message is a record: boxing it would cost an allocation per operation to save a few
// hundred bytes on the rare control messages.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Record(Record),
    /// Write (or spill) everything received so far, try a replay, then answer with the spill state.
    Flush(oneshot::Sender<Result<()>>),
    /// Like `Flush`, then stop.
    Shutdown(oneshot::Sender<Result<()>>),
}

pub(crate) struct Writer {
    pub rx: mpsc::Receiver<Msg>,
    pub sink: Arc<dyn Sink>,
    pub spill: Spill,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub retry_interval: Duration,
    pub dropped: Arc<AtomicU64>,
    /// `application`, `host` labels of the dropped-records counter.
    pub labels: (String, String),
    pub buf: Vec<Record>,
    pub dropped_reported: u64,
    pub next_retry: Instant,
    pub sink_log: RateLimit,
}

impl Writer {
    pub async fn run(mut self) {
        let mut deadline = Instant::now() + self.flush_interval;
        // Records spilled by an earlier run go first.
        self.replay().await;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Msg::Record(r))) => {
                    self.buf.push(r);
                    // Take what is already queued without waiting, up to a batch.
                    while self.buf.len() < self.batch_size {
                        match self.rx.try_recv() {
                            Ok(Msg::Record(r)) => self.buf.push(r),
                            Ok(other) => {
                                if self.control(other).await {
                                    return;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    if self.buf.len() >= self.batch_size {
                        self.flush().await;
                    }
                }
                Ok(Some(other)) => {
                    if self.control(other).await {
                        return;
                    }
                }
                Ok(None) => {
                    self.flush().await;
                    self.replay().await;
                    return;
                }
                Err(_) => {
                    self.flush().await;
                    if self.spill.is_pending() && Instant::now() >= self.next_retry {
                        self.replay().await;
                    }
                    deadline = Instant::now() + self.flush_interval;
                }
            }
        }
    }

    /// Handles a flush or shutdown; true when the task should stop.
    async fn control(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Record(r) => {
                self.buf.push(r);
                false
            }
            Msg::Flush(reply) => {
                self.flush().await;
                self.replay().await;
                let _ = reply.send(self.state());
                false
            }
            Msg::Shutdown(reply) => {
                // Records queued before the shutdown request are part of "everything".
                while let Ok(msg) = self.rx.try_recv() {
                    match msg {
                        Msg::Record(r) => self.buf.push(r),
                        Msg::Flush(r) | Msg::Shutdown(r) => {
                            let _ = r.send(Ok(()));
                        }
                    }
                }
                self.rx.close();
                self.flush().await;
                self.replay().await;
                let _ = reply.send(self.state());
                true
            }
        }
    }

    fn state(&self) -> Result<()> {
        if self.spill.is_pending() {
            Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the monitoring store is unreachable; records are kept in {} and replayed on the next start",
                    self.spill.path().display()
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// The dropped-records increment since the last successful write, and the count it brings us to.
    fn dropped_delta(&self) -> (Vec<MetricDelta>, u64) {
        let now = self.dropped.load(Ordering::Relaxed);
        if now == self.dropped_reported {
            return (Vec::new(), now);
        }
        let delta = MetricDelta {
            metric: "quantdal_monitor_dropped_records_total".into(),
            labels: render_labels(&[("application", &self.labels.0), ("host", &self.labels.1)]),
            value: (now - self.dropped_reported) as f64,
        };
        (vec![delta], now)
    }

    /// Writes the buffer, or appends it to the spill when the store failed or a spill is still pending
    /// (new records must stay behind spilled ones).
    async fn flush(&mut self) {
        let (extra, dropped_now) = self.dropped_delta();
        if self.buf.is_empty() && extra.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.buf);
        if !self.spill.is_pending() {
            match self.sink.write(&records, &extra).await {
                Ok(()) => {
                    self.dropped_reported = dropped_now;
                    return;
                }
                Err(e) => self.sink_failed(&e),
            }
        }
        if let Err(e) = self.spill.append(&records) {
            // Nowhere left to put them: count them as dropped rather than block or grow without bound.
            self.dropped
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, records = records.len(), "cannot spill monitoring records; dropped");
        }
    }

    fn sink_failed(&mut self, e: &Error) {
        self.next_retry = Instant::now() + self.retry_interval;
        if self.sink_log.allow() {
            tracing::warn!(error = %e, spill = %self.spill.path().display(), "monitoring store unavailable; spilling records locally");
        }
    }

    /// Replays spilled files in order; stops at the first failure (what was written stays written: ids
    /// make a repeat harmless).
    async fn replay(&mut self) {
        while let Some(path) = self.spill.next_file().map(|p| p.to_path_buf()) {
            let mut reader = match SpillReader::open(&path) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::Io && !path.exists() => {
                    let _ = self.spill.finish_file();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read monitoring spill file");
                    return;
                }
            };
            loop {
                let chunk = match reader.chunk(self.batch_size) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read monitoring spill file");
                        return;
                    }
                };
                if chunk.is_empty() {
                    break;
                }
                if let Err(e) = self.sink.write(&chunk, &[]).await {
                    self.sink_failed(&e);
                    return;
                }
            }
            if let Err(e) = self.spill.finish_file() {
                tracing::warn!(error = %e, "cannot remove a replayed monitoring spill file");
                return;
            }
        }
    }
}
