//! Group commit for a store whose transactions cost more than the rows in them: a live feed is many small
//! concurrent saves, and each one alone pays a transaction's round trips and a durable commit. A save joins
//! its table's queue; a save that finds a free leader slot takes every queued batch (up to a row budget) and
//! writes them as one transaction, and each caller is answered once that transaction committed.
//!
//! Per caller, the guarantees stay those of a lone save:
//!
//! * only validated batches are queued, so a bad batch never enters a group;
//! * batches whose keys collide are not merged (the merged batch would hold a key twice): they are written
//!   one after another in arrival order, so the later one wins as it would have alone;
//! * when a group's transaction fails, its members are written again one at a time, each in its own
//!   transaction, so one caller's server-side error never fails another caller's save;
//! * the group runs on a task of its own, so a caller that stops waiting never leaves the others unanswered
//!   (its own rows are committed all the same, as a lone save already past its commit would be).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::compute;
use tokio::sync::{oneshot, Semaphore};

use crate::validate::find_duplicate_key;
use crate::{Error, Result, TableSpec};

struct Pending {
    batch: RecordBatch,
    done: oneshot::Sender<Result<u64>>,
}

/// One table's queue of saves waiting for a group, and its leader slots.
pub struct GroupLane {
    queue: Mutex<VecDeque<Pending>>,
    leaders: Arc<Semaphore>,
    max_rows: usize,
}

impl GroupLane {
    /// `leaders`: groups of this table written at the same time (1 where the store serialises writes to a
    /// table); `max_rows`: the rows one group takes at most (a lone larger batch is still one group).
    pub fn new(leaders: usize, max_rows: usize) -> GroupLane {
        GroupLane {
            queue: Mutex::new(VecDeque::new()),
            leaders: Arc::new(Semaphore::new(leaders.max(1))),
            max_rows,
        }
    }

    fn push(&self, batch: RecordBatch) -> Result<oneshot::Receiver<Result<u64>>> {
        let (done, rx) = oneshot::channel();
        self.queue
            .lock()
            .map_err(|_| Error::store("write queue poisoned"))?
            .push_back(Pending { batch, done });
        Ok(rx)
    }

    /// The queued batches, oldest first, up to the row budget (at least one batch when any is queued).
    fn take(&self) -> Result<Vec<Pending>> {
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| Error::store("write queue poisoned"))?;
        let mut group = Vec::new();
        let mut rows = 0;
        while let Some(next) = queue.front() {
            let n = next.batch.num_rows();
            if !group.is_empty() && rows + n > self.max_rows {
                break;
            }
            rows += n;
            if let Some(p) = queue.pop_front() {
                group.push(p);
            }
        }
        Ok(group)
    }

    /// Saves `batch` (validated, non-empty) as part of a group; returns once the group holding it committed.
    /// `write` writes one group and returns one result per batch, in order (see [`write_merged`]).
    pub async fn save<W, Fut>(&self, batch: RecordBatch, write: W) -> Result<u64>
    where
        W: Fn(Vec<RecordBatch>) -> Fut,
        Fut: Future<Output = Vec<Result<u64>>> + Send + 'static,
    {
        let mut rx = self.push(batch)?;
        loop {
            let permit = self
                .leaders
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::store("write queue closed"))?;
            match rx.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(Error::store("the group writer stopped before answering"))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group = self.take()?;
            if group.is_empty() {
                // Another leader took this save into its group: wait for that group's answer.
                drop(permit);
                return rx
                    .await
                    .map_err(|_| Error::store("the group writer stopped before answering"))?;
            }
            let (batches, answers): (Vec<RecordBatch>, Vec<_>) =
                group.into_iter().map(|p| (p.batch, p.done)).unzip();
            let job = write(batches);
            let run = tokio::spawn(async move {
                let results = job.await;
                drop(permit);
                for (answer, result) in answers.into_iter().zip(results) {
                    // A caller that stopped waiting dropped its receiver.
                    let _ = answer.send(result);
                }
            });
            if let Err(e) = run.await {
                return Err(Error::store(format!("group write task failed: {e}")));
            }
        }
    }
}

/// Writes a group as one merged batch through `write` when no key appears in two of its batches and that
/// write succeeds; otherwise each batch alone, in order. One result per batch.
pub async fn write_merged<F, Fut>(
    spec: &TableSpec,
    batches: Vec<RecordBatch>,
    write: F,
) -> Vec<Result<u64>>
where
    F: Fn(RecordBatch) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    if batches.len() > 1 {
        if let Some(merged) = merge_batches(spec, &batches) {
            if write(merged).await.is_ok() {
                return batches.iter().map(|b| Ok(b.num_rows() as u64)).collect();
            }
        }
    }
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        results.push(write(batch).await);
    }
    results
}

/// The batches as one, when they share a schema and no key appears in two of them.
pub fn merge_batches(spec: &TableSpec, batches: &[RecordBatch]) -> Option<RecordBatch> {
    let merged = compute::concat_batches(&batches[0].schema(), batches).ok()?;
    match find_duplicate_key(spec, &merged) {
        Ok(None) => Some(merged),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use crate::Catalog;

    fn spec() -> Arc<TableSpec> {
        let yaml = r#"
version: 1
classes:
  - name: ticks
    category: market
    store: main
    table: ticks
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
"#;
        Catalog::from_yaml(yaml, "test")
            .unwrap()
            .get("ticks")
            .unwrap()
            .clone()
    }

    fn batch(symbol: &str, times: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("volume", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(times.to_vec()).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![symbol; times.len()])),
                Arc::new(Int64Array::from(vec![1; times.len()])),
            ],
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_share_transactions_and_each_gets_its_answer() {
        let lane = Arc::new(GroupLane::new(1, 1_000));
        let spec = spec();
        let transactions = Arc::new(AtomicUsize::new(0));
        let mut saves = Vec::new();
        for w in 0..32 {
            let (lane, spec, transactions) = (lane.clone(), spec.clone(), transactions.clone());
            saves.push(tokio::spawn(async move {
                let b = batch(&format!("S{w}"), &[1, 2, 3]);
                lane.save(b, |batches| {
                    let (spec, transactions) = (spec.clone(), transactions.clone());
                    async move {
                        write_merged(&spec, batches, |merged| {
                            let transactions = transactions.clone();
                            async move {
                                transactions.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                Ok(merged.num_rows() as u64)
                            }
                        })
                        .await
                    }
                })
                .await
            }));
        }
        for save in saves {
            assert_eq!(save.await.unwrap().unwrap(), 3);
        }
        let n = transactions.load(Ordering::SeqCst);
        assert!(n < 32, "32 saves in {n} transactions");
    }

    #[tokio::test]
    async fn colliding_or_failing_groups_are_written_one_batch_at_a_time() {
        let spec = spec();
        let written = Arc::new(Mutex::new(Vec::new()));
        let write = |b: RecordBatch| {
            let written = written.clone();
            async move {
                written.lock().unwrap().push(b.num_rows());
                if b.num_rows() >= 5 {
                    Err(Error::store("server refused"))
                } else {
                    Ok(b.num_rows() as u64)
                }
            }
        };
        // Same key in two batches: not merged, in order.
        let results = write_merged(&spec, vec![batch("A", &[1, 2]), batch("A", &[2])], write).await;
        assert_eq!(*written.lock().unwrap(), [2, 1]);
        assert!(results.iter().all(|r| r.is_ok()));
        written.lock().unwrap().clear();
        // The merged write fails (5 rows or more): each alone, and only the failing one fails.
        let results = write_merged(
            &spec,
            vec![batch("A", &[1, 2, 3, 4, 5]), batch("B", &[1])],
            write,
        )
        .await;
        assert_eq!(*written.lock().unwrap(), [6, 5, 1]);
        assert!(results[0].is_err() && results[1].is_ok());
    }
}
