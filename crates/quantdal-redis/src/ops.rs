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

    let mut invocation = script.prepare_invoke();
    invocation.key(layout.keys.index()).key(layout.keys.feed());
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
    invocation.arg(time_name);

    let mut text = String::new();
    let mut row_pairs = |row: usize, pairs: &mut Vec<String>, nulls: &mut Vec<String>| {
        for (c, column) in columns.iter().enumerate() {
            text.clear();
            if column.write(row, &mut text) {
                pairs.push(names[c].to_string());
                pairs.push(text.clone());
            } else {
                nulls.push(names[c].to_string());
            }
        }
    };
    for s in &series {
        invocation
            .key(layout.keys.latest(&s.member))
            .key(layout.keys.history(&s.member));
        let newest = *s.rows.last().unwrap_or(&0);
        let newest_ticks = columns[layout.time].ticks(newest).ok_or_else(|| {
            Error::invalid_batch("a row has no time")
                .with_class(spec.name.clone())
                .with_column(time_name)
                .with_row(newest)
        })?;
        let (mut pairs, mut nulls) = (Vec::new(), Vec::new());
        row_pairs(newest, &mut pairs, &mut nulls);
        invocation
            .arg(&s.member)
            .arg(newest_ticks.to_string())
            .arg(pairs.len() / 2)
            .arg(pairs)
            .arg(nulls.len())
            .arg(nulls);
        if layout.history == 0 {
            invocation.arg(0);
            continue;
        }
        invocation.arg(s.rows.len());
        for &row in &s.rows {
            let ticks = columns[layout.time].ticks(row).unwrap_or(i64::MIN);
            let id = stream_id(spec, layout.time, ticks).ok_or_else(|| {
                Error::invalid_batch(
                    "Redis history is ordered by stream ids, which start at 1970-01-01: the row is older",
                )
                .with_class(spec.name.clone())
                .with_column(time_name)
                .with_row(row)
            })?;
            let (mut pairs, mut nulls) = (Vec::new(), Vec::new());
            row_pairs(row, &mut pairs, &mut nulls);
            invocation.arg(id).arg(pairs.len() / 2).arg(pairs);
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

/// Every series the class's index lists (expired ones are trimmed by saves; reads skip any left).
pub async fn all_members(connector: &Connector, layout: &ClassLayout) -> Result<Vec<String>> {
    let mut conn = connector.conn().await?;
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(layout.keys.index())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .map_err(|e| from_redis(&e, &connector.scrub))?;
    Ok(members)
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

/// The newest rows of `members` (class schema, in `members` order), with the positions of members that
/// hold none (never written, expired or deleted).
pub async fn read_latest(
    connector: &Connector,
    spec: &TableSpec,
    layout: &ClassLayout,
    members: &[String],
) -> Result<(RecordBatch, Vec<usize>)> {
    let mut decoder = RowDecoder::new(spec)?;
    let mut missing = Vec::new();
    if members.is_empty() {
        return Ok((decoder.finish()?, missing));
    }
    let mut pipe = redis::pipe();
    for m in members {
        pipe.cmd("HGETALL").arg(layout.keys.latest(m));
    }
    let replies = pipeline(connector, &pipe).await?;
    for (i, reply) in replies.iter().enumerate() {
        let fields = pairs(reply);
        if fields.is_empty() {
            missing.push(i);
            continue;
        }
        decoder.push(&layout.keys.latest(&members[i]), &fields)?;
    }
    Ok((decoder.finish()?, missing))
}

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
            if let Value::Array(parts) = entry {
                if let Some(fields) = parts.get(1) {
                    decoder.push(&key, &pairs(fields))?;
                }
            }
        }
    }
    decoder.finish()
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
    let mut pipe = redis::pipe();
    for m in members {
        if layout.history > 0 {
            pipe.cmd("XLEN").arg(layout.keys.history(m));
        } else {
            pipe.cmd("EXISTS").arg(layout.keys.latest(m));
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
    for chunk in members.chunks(1000) {
        let mut del = redis::cmd("DEL");
        for m in chunk {
            del.arg(layout.keys.latest(m)).arg(layout.keys.history(m));
        }
        pipe.add_command(del).ignore();
        pipe.cmd("ZREM")
            .arg(layout.keys.index())
            .arg(chunk)
            .ignore();
    }
    pipeline(connector, &pipe).await?;
    Ok(held)
}
