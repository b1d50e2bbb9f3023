//! A sink opened on first use: a data process starts (and keeps saving) while the monitoring store is
//! locked or down; until it opens, writes fail and the monitor spills, then replays once it does.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use quantdal_core::Result;
use tokio::sync::Mutex;

use crate::effects::MetricDelta;
use crate::record::Record;
use crate::sink::Sink;

/// Opens the real sink; called again after each failure.
pub type SinkOpener = Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn Sink>>> + Send + Sync>;

pub struct LazySink {
    /// For `Debug` only: where the sink lives (no secrets).
    location: String,
    opener: SinkOpener,
    sink: Mutex<Option<Arc<dyn Sink>>>,
}

impl std::fmt::Debug for LazySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySink")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl LazySink {
    pub fn new(location: impl Into<String>, opener: SinkOpener) -> Self {
        LazySink {
            location: location.into(),
            opener,
            sink: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Sink for LazySink {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        // Only the writer task calls this, so the lock is never contended.
        let mut guard = self.sink.lock().await;
        let sink = match guard.as_ref() {
            Some(s) => s.clone(),
            None => {
                let s = (self.opener)().await?;
                *guard = Some(s.clone());
                s
            }
        };
        drop(guard);
        sink.write(records, extra).await
    }
}
