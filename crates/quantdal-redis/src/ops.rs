//! The Redis commands behind saves and reads, shared by the realtime store and the latest-row cache.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::ipc::writer::StreamWriter;
use quantdal_core::{Error, Result, TableSpec};
use redis::{Script, Value};

use crate::codec::{ColumnText, RowDecoder};
use crate::conn::{Conn, Connector};
use crate::errors::from_redis;
use crate::layout::{group, stream_id, ClassLayout};
use crate::rowpack::RowPacker;
use crate::scripts;

/// The compiled save script (its SHA is computed once; `EVALSHA` falls back to `EVAL` after a restart).
pub fn save_script() -> Script {
    Script::new(scripts::SAVE)
}

/// What one save did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveOutcome {
    /// Series whose newest row was written.
    pub written: u64,
    /// Series whose held row is newer than the batch's (left as they were).
    pub stale: u64,
    /// Rows added to history streams.
    pub added: u64,
}

/// The batch as Arrow IPC, the feed's payload.
pub fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    {
        let mut writer = StreamWriter::try_new(&mut out, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Runs one atomic save of `batch` (validated, class schema): newest row per series unless a newer one is
/// held, history rows when the layout keeps history, and the feed entry when it has a feed.
pub async fn save(
    connector: &Connector,
    script: &Script,
    spec: &Arc<TableSpec>,
    layout: &ClassLayout,
    batch: &RecordBatch,
) -> Result<SaveOutcome> {
    if batch.num_rows() == 0 {
        return Ok(SaveOutcome::default());
    }
    let columns = batch
        .columns()
        .iter()
        .map(ColumnText::new)
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
    let series = group(layout, &columns, batch);
    let time_name = names[layout.time];
    let time = &columns[layout.time];
    let no_time = |row: usize| {
        Error::invalid_batch("a row has no time")
            .with_class(spec.name.clone())
            .with_column(time_name)
            .with_row(row)
    };
    let packer = RowPacker::new(&names, batch, layout.time)?;

    let mut invocation = script.prepare_invoke();
    invocation
        .key(layout.keys.index())
        .key(layout.keys.feed())
        .key(layout.keys.latest_rows());
    invocation
        .arg(series.len())
        .arg(layout.ttl_ms)
        .arg(layout.history)
        .arg(layout.feed_ms);
    if layout.feed_ms > 0 {
        invocation.arg(ipc_bytes(batch)?);
    } else {
        invocation.arg("");
    }
    invocation
        .arg(packer.time_position())
        .arg(packer.time_head())
        .arg(time_name)
        .arg(layout.keys.base());

    let mut row_bytes = Vec::with_capacity(256);
    for s in &series {
        invocation.arg(&s.member).arg(s.rows.len());
        if layout.history == 0 {
            let newest = *s.rows.last().unwrap_or(&0);
            time.ticks(newest).ok_or_else(|| no_time(newest))?;
            row_bytes.clear();
            packer.pack(newest, &mut row_bytes);
            invocation.arg(&row_bytes);
            continue;
        }
        for &row in &s.rows {
            let ticks = time.ticks(row).ok_or_else(|| no_time(row))?;
            let id = stream_id(spec, layout.time, ticks).ok_or_else(|| {
                Error::invalid_batch(
                    "Redis history is ordered by stream ids, which start at 1970-01-01: the row is older",
                )
                .with_class(spec.name.clone())
                .with_column(time_name)
                .with_row(row)
            })?;
            row_bytes.clear();
            packer.pack(row, &mut row_bytes);
            invocation.arg(id).arg(&row_bytes);
        }
    }
    let mut conn = connector.conn().await?;
    let (written, stale, added): (u64, u64, u64) = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(|e| from_redis(&e, &connector.scrub))?;
    Ok(SaveOutcome {
        written,
        stale,
        added,
    })
}

/// Every live series of the class (the index, less the series whose TTL has passed).
pub async fn all_members(connector: &Connector, layout: &ClassLayout) -> Result<Vec<String>> {
    let mut range = redis::cmd("ZRANGE");
    range.arg(layout.keys.index());
    if layout.ttl_ms == 0 {
        range.arg(0).arg(-1);
    } else {
        // The server filters by score, so only live members cross the wire (it stamped them by its clock).
        let time = pipeline(connector, redis::pipe().cmd("TIME")).await?;
        let cutoff = expiry_cutoff(layout, time.first())?;
        range.arg(cutoff as i64).arg("+inf").arg("BYSCORE");
    }
    let replies = pipeline(connector, redis::pipe().add_command(range)).await?;
    Ok(match replies.first() {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    })
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        _ => None,
    }
}

/// Field / value pairs of a hash reply or a stream entry's field list.
fn pairs(v: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    match v {
        Value::Array(items) | Value::Set(items) => items
            .chunks(2)
            .filter_map(|c| Some((bytes(c.first()?)?, bytes(c.get(1)?)?)))
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

async fn pipeline(connector: &Connector, pipe: &redis::Pipeline) -> Result<Vec<Value>> {
    let mut conn: Conn = connector.conn().await?;
    pipe.query_async(&mut conn)
        .await
        .map_err(|e| from_redis(&e, &connector.scrub))
}

fn text(v: &Value) -> Option<String> {
    String::from_utf8(bytes(v)?).ok()
}

fn score(v: &Value) -> Option<f64> {
    match v {
        Value::Double(d) => Some(*d),
        Value::Int(i) => Some(*i as f64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        other => text(other)?.parse().ok(),
    }
}

/// The oldest index score (server ms of a series' last write) still live: `-inf` without a TTL. `time` is
/// the server's `TIME` reply: series expire by the server clock, which the save script stamps them with.
fn expiry_cutoff(layout: &ClassLayout, time: Option<&Value>) -> Result<f64> {
    if layout.ttl_ms == 0 {
        return Ok(f64::NEG_INFINITY);
    }
    let parts: Vec<i64> = match time {
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| text(p)?.parse().ok()).collect(),
        _ => Vec::new(),
    };
    match parts.as_slice() {
        [secs, micros] => Ok((secs * 1000 + micros / 1000) as f64 - layout.ttl_ms as f64),
        _ => Err(Error::store("Redis TIME gave an unexpected reply")),
    }
}

/// Whether each of `members` is live: its newest row was written less than the class TTL ago.
async fn liveness(
    connector: &Connector,
    layout: &ClassLayout,
    members: &[String],
) -> Result<Vec<bool>> {
    if layout.ttl_ms == 0 || members.is_empty() {
        return Ok(vec![true; members.len()]);
    }
    let mut pipe = redis::pipe();
    pipe.cmd("TIME");
    for chunk in members.chunks(CHUNK) {
        pipe.cmd("ZMSCORE").arg(layout.keys.index()).arg(chunk);
    }
    let replies = pipeline(connector, &pipe).await?;
    let cutoff = expiry_cutoff(layout, replies.first())?;
    Ok(replies[1..]
        .iter()
        .flat_map(|r| match r {
            Value::Array(items) => items
                .iter()
                .map(|v| score(v).unwrap_or(f64::NEG_INFINITY))
                .collect(),
            _ => Vec::new(),
        })
        .map(|s| s >= cutoff)
        .chain(std::iter::repeat(false))
        .take(members.len())
        .collect())
}

/// Only the live ones of `members`.
pub async fn live_members(
    connector: &Connector,
    layout: &ClassLayout,
    members: Vec<String>,
) -> Result<Vec<String>> {
    let live = liveness(connector, layout, &members).await?;
    Ok(members
        .into_iter()
        .zip(live)
        .filter_map(|(m, l)| l.then_some(m))
        .collect())
}

/// The newest rows of `members` (class schema, in `members` order), with the positions of members that
/// hold none (never written, expired or deleted). `liveness_known`: the members were just found live (from
/// the index), so the TTL need not be checked again.
pub async fn read_latest(
    connector: &Connector,
    spec: &TableSpec,
    layout: &ClassLayout,
    members: &[String],
    liveness_known: bool,
) -> Result<(RecordBatch, Vec<usize>)> {
    let mut decoder = RowDecoder::new(spec)?;
    let mut missing = Vec::new();
    if members.is_empty() {
        return Ok((decoder.finish()?, missing));
    }
    let live = if liveness_known {
        vec![true; members.len()]
    } else {
        liveness(connector, layout, members).await?
    };
    let hash = layout.keys.latest_rows();
    let mut pipe = redis::pipe();
    for chunk in members.chunks(CHUNK) {
        pipe.cmd("HMGET").arg(&hash).arg(chunk);
    }
    let replies = pipeline(connector, &pipe).await?;
    let held: Vec<&Value> = replies
        .iter()
        .flat_map(|r| match r {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect();
    // A live member with no packed row holds none, or a hash of the layout before rows were packed (one
    // field per column): only those are asked for one, so a store with none pays one round trip for misses.
    let unpacked: Vec<usize> = (0..members.len())
        .filter(|&i| live[i] && !matches!(held.get(i), Some(Value::BulkString(_))))
        .collect();
    let mut hashes = std::collections::HashMap::new();
    if !unpacked.is_empty() {
        let mut pipe = redis::pipe();
        for &i in &unpacked {
            pipe.cmd("HGETALL")
                .arg(layout.keys.legacy_latest(&members[i]));
        }
        let replies = pipeline(connector, &pipe).await?;
        hashes.extend(unpacked.iter().copied().zip(replies.iter().map(pairs)));
    }
    for (i, member) in members.iter().enumerate() {
        match (live[i], held.get(i), hashes.get(&i)) {
            (true, Some(Value::BulkString(row)), _) => {
                decoder.push_packed(&format_args!("{hash} field {member}"), row)?
            }
            (true, _, Some(fields)) if !fields.is_empty() => {
                decoder.push(&layout.keys.legacy_latest(member), fields)?
            }
            _ => missing.push(i),
        }
    }
    Ok((decoder.finish()?, missing))
}

/// Members per `HMGET` / `ZMSCORE` / `HDEL`: long enough to amortise a command, short enough not to stall
/// the server.
const CHUNK: usize = 1000;

/// The history rows of `members` within `[low, high]` stream ids (class schema), in member then time order.
pub async fn read_history(
    connector: &Connector,
    spec: &TableSpec,
    layout: &ClassLayout,
    members: &[String],
    (low, high): (&str, &str),
) -> Result<RecordBatch> {
    let mut decoder = RowDecoder::new(spec)?;
    if members.is_empty() {
        return decoder.finish();
    }
    let mut pipe = redis::pipe();
    for m in members {
        pipe.cmd("XRANGE")
            .arg(layout.keys.history(m))
            .arg(low)
            .arg(high);
    }
    let replies = pipeline(connector, &pipe).await?;
    for (i, reply) in replies.iter().enumerate() {
        let Value::Array(entries) = reply else {
            continue;
        };
        let key = layout.keys.history(&members[i]);
        for entry in entries {
            let Value::Array(parts) = entry else {
                continue;
            };
            let Some(fields) = parts.get(1) else {
                continue;
            };
            match packed_entry(fields) {
                Some(row) => decoder.push_packed(&key, row)?,
                // An entry written before rows were packed: one field per column.
                None => decoder.push(&key, &pairs(fields))?,
            }
        }
    }
    decoder.finish()
}

/// The row of a stream entry written as one packed `row` field.
fn packed_entry(fields: &Value) -> Option<&[u8]> {
    match fields {
        Value::Array(items) if items.len() == 2 => match (&items[0], &items[1]) {
            (Value::BulkString(f), Value::BulkString(row)) if f == b"row" => Some(row),
            _ => None,
        },
        _ => None,
    }
}

/// Rows held per member: history entries when the class keeps history, else 1 for a live latest row.
pub async fn count_rows(
    connector: &Connector,
    layout: &ClassLayout,
    members: &[String],
) -> Result<u64> {
    if members.is_empty() {
        return Ok(0);
    }
    let live = liveness(connector, layout, members).await?;
    let mut pipe = redis::pipe();
    for (m, _) in members.iter().zip(live).filter(|(_, l)| *l) {
        if layout.history > 0 {
            pipe.cmd("XLEN").arg(layout.keys.history(m));
        } else {
            pipe.cmd("HEXISTS").arg(layout.keys.latest_rows()).arg(m);
            pipe.cmd("EXISTS").arg(layout.keys.legacy_latest(m));
        }
    }
    let replies = pipeline(connector, &pipe).await?;
    Ok(replies
        .iter()
        .map(|v| match v {
            Value::Int(n) => (*n).max(0) as u64,
            _ => 0,
        })
        .sum())
}

/// Removes `members` entirely (latest row, history, index entry) in one MULTI/EXEC; returns the rows
/// they held.
pub async fn delete_members(
    connector: &Connector,
    layout: &ClassLayout,
    members: &[String],
) -> Result<u64> {
    if members.is_empty() {
        return Ok(0);
    }
    let held = count_rows(connector, layout, members).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for chunk in members.chunks(CHUNK) {
        let mut del = redis::cmd("DEL");
        for m in chunk {
            del.arg(layout.keys.legacy_latest(m))
                .arg(layout.keys.history(m));
        }
        pipe.add_command(del).ignore();
        pipe.cmd("HDEL")
            .arg(layout.keys.latest_rows())
            .arg(chunk)
            .ignore();
        pipe.cmd("ZREM")
            .arg(layout.keys.index())
            .arg(chunk)
            .ignore();
    }
    pipeline(connector, &pipe).await?;
    Ok(held)
}
