//! A Rust `BatchStream` as a `pyarrow.RecordBatchReader` that pulls lazily.
//!
//! A pump task on the shared runtime moves batches from the store's stream into a small channel; the
//! reader's `next()` waits on that channel. pyarrow calls `next()` with the GIL released (`read_next_batch`
//! and `read_all` run `with nogil`), so a slow store blocks no other Python thread, and nothing here touches
//! Python. Dropping the reader closes the channel, which ends the pump and drops the store's stream, which
//! cancels the rest of the read.

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use futures::StreamExt;
use quantdal::BatchStream;
use tokio::sync::mpsc;

/// Batches read ahead of the consumer: enough to overlap the store's work with Python's, small enough that
/// an abandoned reader holds little memory.
const READ_AHEAD: usize = 4;

pub struct StreamReader {
    schema: SchemaRef,
    first: Option<RecordBatch>,
    rx: mpsc::Receiver<quantdal::Result<RecordBatch>>,
}

impl StreamReader {
    /// `first` is a batch already taken from `stream` (to learn the schema before Python sees the reader).
    pub fn spawn(
        rt: &tokio::runtime::Runtime,
        schema: SchemaRef,
        first: Option<RecordBatch>,
        mut stream: BatchStream,
    ) -> StreamReader {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        rt.spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                // A closed channel means Python dropped the reader: stop reading.
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        StreamReader { schema, first, rx }
    }
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        // Not `Runtime::block_on`: this runs on whatever thread pyarrow uses, and futures' executor works
        // on any of them (the channel needs no tokio context to be received from).
        futures::executor::block_on(self.rx.recv())
            .map(|item| item.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for StreamReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
