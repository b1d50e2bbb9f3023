//! Live subscriptions: every save appends one entry (the saved rows as Arrow IPC) to the class's feed
//! stream; a subscriber reads it with `XREAD BLOCK` on a connection of its own, from the feed's end at the
//! time it subscribed, and keeps its place across reconnections.
//!
//! Delivery: at least once and in save order (so in order per series); a subscriber that falls further
//! behind than the feed keeps (`feed_seconds`) receives a `Store` error saying how far it fell behind, then
//! continues from the oldest entry still held.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use futures::StreamExt;
use quantdal_core::output::{conform_batch, projected_schema};
use quantdal_core::{eval, BatchStream, Error, Query, Result, TableSpec};
use redis::Value;
use tokio::sync::mpsc;

use crate::conn::{Conn, Connector};
use crate::errors::from_redis;

const BLOCK_MS: u64 = 1000;
const READ_COUNT: usize = 256;

/// Starts a subscription; the returned stream ends only when dropped.
pub async fn subscribe(
    connector: Arc<Connector>,
    spec: Arc<TableSpec>,
    feed_key: String,
    query: Query,
) -> Result<BatchStream> {
    let mut conn = connector.dedicated().await?;
    let start = last_id(&mut conn, &connector, &feed_key).await?;
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(16);
    tokio::spawn(async move {
        let mut reader = Reader {
            connector,
            spec,
            key: feed_key,
            query,
            last: start,
        };
        reader.run(conn, tx).await;
    });
    Ok(tokio_stream(rx))
}

fn tokio_stream(mut rx: mpsc::Receiver<Result<RecordBatch>>) -> BatchStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

async fn last_id(conn: &mut Conn, connector: &Connector, key: &str) -> Result<String> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await
        .map_err(|e| from_redis(&e, &connector.scrub))?;
    Ok(first_entry_id(&reply).unwrap_or_else(|| "0-0".into()))
}

fn first_entry_id(reply: &Value) -> Option<String> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Value::Array(parts) = entries.first()? else {
        return None;
    };
    text(parts.first()?)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn parse_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

struct Reader {
    connector: Arc<Connector>,
    spec: Arc<TableSpec>,
    key: String,
    query: Query,
    last: String,
}

impl Reader {
    async fn run(&mut self, mut conn: Conn, tx: mpsc::Sender<Result<RecordBatch>>) {
        let mut backoff = Duration::from_millis(50);
        let mut check_gap = false;
        loop {
            if tx.is_closed() {
                return;
            }
            if check_gap {
                match self.gap(&mut conn).await {
                    Ok(Some(e)) => {
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => {}
                }
                check_gap = false;
            }
            match self.read(&mut conn).await {
                Ok(entries) => {
                    backoff = Duration::from_millis(50);
                    // A full read means the subscriber may be behind: look for trimmed entries next time.
                    check_gap = entries.len() >= READ_COUNT;
                    for (id, payload) in entries {
                        self.last = id;
                        match self.decode(&payload) {
                            Ok(Some(batch)) => {
                                if tx.send(Ok(batch)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                if tx.send(Err(e)).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(feed = %self.key, error = %e, "subscription read failed; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if let Ok(c) = self.connector.dedicated().await {
                        conn = c;
                        check_gap = true;
                    }
                }
            }
        }
    }

    async fn read(&self, conn: &mut Conn) -> Result<Vec<(String, Vec<u8>)>> {
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last)
            .query_async(conn)
            .await
            .map_err(|e| from_redis(&e, &self.connector.scrub))?;
        let mut out = Vec::new();
        let streams = match &reply {
            Value::Array(s) => s
                .iter()
                .filter_map(|s| match s {
                    Value::Array(kv) => kv.get(1).cloned(),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            Value::Map(m) => m.iter().map(|(_, v)| v.clone()).collect(),
            _ => Vec::new(),
        };
        for entries in streams {
            let Value::Array(entries) = entries else {
                continue;
            };
            for entry in entries {
                let Value::Array(parts) = entry else { continue };
                let (Some(id), Some(Value::Array(fields))) =
                    (parts.first().and_then(text), parts.get(1))
                else {
                    continue;
                };
                let payload = fields
                    .chunks(2)
                    .find_map(|kv| match (kv.first(), kv.get(1)) {
                        (Some(k), Some(Value::BulkString(v)))
                            if text(k).as_deref() == Some("ipc") =>
                        {
                            Some(v.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                out.push((id, payload));
            }
        }
        Ok(out)
    }

    /// Entries trimmed from the feed after our last read: they are lost to this subscriber.
    async fn gap(&self, conn: &mut Conn) -> Result<Option<Error>> {
        let info: Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async(conn)
            .await
            .map_err(|e| from_redis(&e, &self.connector.scrub))?;
        let fields: Vec<(String, Value)> = match info {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|c| Some((text(c.first()?)?, c.get(1)?.clone())))
                .collect(),
            Value::Map(m) => m
                .into_iter()
                .filter_map(|(k, v)| Some((text(&k)?, v)))
                .collect(),
            _ => Vec::new(),
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(deleted) = get("max-deleted-entry-id").and_then(text) else {
            return Ok(None);
        };
        if parse_id(&deleted) > parse_id(&self.last) {
            return Ok(Some(
                Error::store(format!(
                    "the subscriber fell behind the feed of {}: saves up to {deleted} were trimmed before it read \
                     them (the feed keeps `feed_seconds` of saves); continuing with the oldest one held",
                    self.spec.name
                ))
                .with_class(self.spec.name.clone()),
            ));
        }
        Ok(None)
    }

    fn decode(&self, payload: &[u8]) -> Result<Option<RecordBatch>> {
        let reader = StreamReader::try_new(Cursor::new(payload), None)
            .map_err(|e| Error::store(format!("feed entry is not Arrow IPC: {e}")))?;
        let target = self.spec.arrow_schema();
        let mut out = Vec::new();
        for batch in reader {
            let batch = conform_batch(&batch?, &target)?;
            let selected = eval::filter(&self.spec, &self.query, &batch)?;
            if selected.num_rows() > 0 {
                out.push(eval::project(&self.query, &selected)?);
            }
        }
        match out.len() {
            0 => Ok(None),
            1 => Ok(out.pop()),
            _ => Ok(Some(arrow::compute::concat_batches(
                &projected_schema(&self.spec, &self.query.columns),
                &out,
            )?)),
        }
    }
}
