//! Result blocks to a caller's stream: a task reads and decodes them while the caller consumes, through a
//! bounded channel, so memory stays bounded and dropping the stream stops the read.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use quantdal_core::{BatchStream, Result};
use tokio::sync::mpsc;

/// A bounded channel and the caller's stream over its receiving end.
pub(crate) fn channel(capacity: usize) -> (mpsc::Sender<Result<RecordBatch>>, BatchStream) {
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(capacity);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed();
    (tx, stream)
}

/// Sends `batches` down `tx`: empty ones are skipped, the first error is sent and ends the read, and a result
/// with no rows still sends one empty batch so the caller learns its columns. Returns early when the caller
/// dropped its stream.
pub(crate) async fn send_all(
    batches: impl Stream<Item = Result<RecordBatch>>,
    tx: mpsc::Sender<Result<RecordBatch>>,
    schema: SchemaRef,
) {
    let mut batches = std::pin::pin!(batches);
    let mut sent = false;
    while let Some(item) = batches.next().await {
        match item {
            Ok(b) if b.num_rows() == 0 => continue,
            Ok(b) => {
                sent = true;
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
    if !sent {
        let _ = tx.send(Ok(RecordBatch::new_empty(schema))).await;
    }
}
