//! `RedisStore`: realtime classes in Redis — the newest row per series (one packed value, expiring by the
//! class's TTL), a capped stream of recent rows per series, an index of series, and a live feed. Loads read the history
//! (or the newest rows when a class keeps none) and apply the query in memory with the same semantics as
//! the SQL stores; what Redis cannot do is a typed `Unsupported` error naming the store.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use async_trait::async_trait;
use futures::StreamExt;
use quantdal_core::{
    eval, BatchStream, Error, ErrorKind, Interval, Migration, Operation, ProvisionStatus, Query,
    Result, StatementText, Store, StoreInfo, StoreKind, TableSpec,
};
use redis::Script;

use crate::codec::ColumnText;
use crate::conn::Connector;
use crate::errors::from_redis;
use crate::layout::{id_range, ClassLayout};
use crate::{feed, ops, schema};

pub struct RedisStore {
    info: StoreInfo,
    connector: Arc<Connector>,
    script: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn context<'a>(spec: &'a TableSpec, op: &'static str) -> impl Fn(Error) -> Error + 'a {
    move |e: Error| e.with_class(spec.name.clone()).with_operation(op)
}

impl RedisStore {
    pub(crate) fn new(name: &str, connector: Connector) -> RedisStore {
        RedisStore {
            info: StoreInfo {
                name: name.to_string(),
                kind: StoreKind::Redis,
                location: connector.location.clone(),
                capabilities: crate::CAPABILITIES,
            },
            connector: Arc::new(connector),
            script: ops::save_script(),
        }
    }

    fn unsupported(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "store `{}` (redis) {what}: it keeps the newest row and a short recent history per series; \
                 route the class to a store that keeps its history",
                self.info.name
            ),
        )
    }

    /// The live series a query can touch: those it names, else every series in the index that passes its
    /// tag conditions.
    async fn members(&self, layout: &ClassLayout, query: &Query) -> Result<Vec<String>> {
        if let Some(named) = layout.named_members(query) {
            return ops::live_members(&self.connector, layout, named).await;
        }
        let all = ops::all_members(&self.connector, layout).await?;
        Ok(all
            .into_iter()
            .filter(|m| layout.member_matches(query, m))
            .collect())
    }

    /// Every row the query can see before it is applied: the history of its series, with each series'
    /// newest row standing in for the history entry of the same time (a re-save of the newest row rewrites
    /// it; stream entries cannot be rewritten). Without history, the newest rows.
    async fn candidate_rows(
        &self,
        spec: &Arc<TableSpec>,
        layout: &ClassLayout,
        query: &Query,
    ) -> Result<RecordBatch> {
        let members = self.members(layout, query).await?;
        let (latest, _) = ops::read_latest(&self.connector, spec, layout, &members, true).await?;
        if layout.history == 0 {
            return Ok(latest);
        }
        let range = id_range(spec, layout.time, query);
        let history = ops::read_history(
            &self.connector,
            spec,
            layout,
            &members,
            (&range.0, &range.1),
        )
        .await?;
        let newest = row_keys(layout, &latest)?;
        let keep: Vec<bool> = row_keys_vec(layout, &history)?
            .into_iter()
            .map(|k| !newest.contains(&k))
            .collect();
        let kept =
            arrow::compute::filter_record_batch(&history, &arrow::array::BooleanArray::from(keep))?;
        Ok(concat_batches(&spec.arrow_schema(), [&latest, &kept])?)
    }
}

/// (series, time) of every row, as a set.
fn row_keys(layout: &ClassLayout, batch: &RecordBatch) -> Result<HashSet<(String, i64)>> {
    Ok(row_keys_vec(layout, batch)?.into_iter().collect())
}

/// (series, time) of every row, in row order.
fn row_keys_vec(layout: &ClassLayout, batch: &RecordBatch) -> Result<Vec<(String, i64)>> {
    let columns = batch
        .columns()
        .iter()
        .map(ColumnText::new)
        .collect::<Result<Vec<_>>>()?;
    Ok((0..batch.num_rows())
        .map(|r| {
            (
                layout.member_of(&columns, r),
                columns[layout.time].ticks(r).unwrap_or(i64::MIN),
            )
        })
        .collect())
}

/// The newest row per series of `batch`.
fn newest_per_series(layout: &ClassLayout, batch: &RecordBatch) -> Result<RecordBatch> {
    let keys = row_keys_vec(layout, batch)?;
    let mut best: std::collections::HashMap<&str, (i64, usize)> = Default::default();
    for (row, (member, ticks)) in keys.iter().enumerate() {
        let e = best.entry(member.as_str()).or_insert((*ticks, row));
        if *ticks > e.0 {
            *e = (*ticks, row);
        }
    }
    let mut rows: Vec<u32> = best.values().map(|(_, r)| *r as u32).collect();
    rows.sort_unstable();
    Ok(arrow::compute::take_record_batch(
        batch,
        &arrow::array::UInt32Array::from(rows),
    )?)
}

#[async_trait]
impl Store for RedisStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let ctx = context(spec, "provision");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let record = schema::record(spec).to_string();
        let mut conn = self.connector.conn().await.map_err(&ctx)?;
        let created: bool = redis::cmd("SET")
            .arg(layout.keys.schema())
            .arg(&record)
            .arg("NX")
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(|e| ctx(from_redis(&e, &self.connector.scrub)))?
            .is_some();
        if created {
            return Ok(ProvisionStatus::Created);
        }
        self.check(spec).await
    }

    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let ctx = context(spec, "check");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let mut conn = self.connector.conn().await.map_err(&ctx)?;
        let held: Option<String> = redis::cmd("GET")
            .arg(layout.keys.schema())
            .query_async(&mut conn)
            .await
            .map_err(|e| ctx(from_redis(&e, &self.connector.scrub)))?;
        let Some(held) = held else {
            return Ok(ProvisionStatus::Missing);
        };
        let recorded: serde_json::Value = serde_json::from_str(&held).map_err(|e| {
            ctx(Error::store(format!(
                "key `{}` does not hold a quantdal schema record: {e}",
                layout.keys.schema()
            )))
        })?;
        let diff = schema::differences(&recorded, spec);
        Ok(if diff.is_empty() {
            ProvisionStatus::AlreadyPresent
        } else {
            ProvisionStatus::Drift(diff)
        })
    }

    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        let ctx = context(spec, "migrate");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let mut conn = self.connector.conn().await.map_err(&ctx)?;
        let held: Option<String> = redis::cmd("GET")
            .arg(layout.keys.schema())
            .query_async(&mut conn)
            .await
            .map_err(|e| ctx(from_redis(&e, &self.connector.scrub)))?;
        let mut out = Migration::default();
        let Some(held) = held else {
            return Ok(out);
        };
        let recorded: serde_json::Value = serde_json::from_str(&held).unwrap_or_default();
        let diff = schema::differences(&recorded, spec);
        if diff.is_empty() {
            return Ok(out);
        }
        if schema::additive(&recorded, spec) {
            let _: () = redis::cmd("SET")
                .arg(layout.keys.schema())
                .arg(schema::record(spec).to_string())
                .query_async(&mut conn)
                .await
                .map_err(|e| ctx(from_redis(&e, &self.connector.scrub)))?;
            out.applied = diff;
        } else {
            out.refused = diff
                .into_iter()
                .map(|d| {
                    format!(
                        "{d}: rows held were encoded under the old schema; delete them (`quantdal delete {} --all`) \
                         and provision again",
                        spec.name
                    )
                })
                .collect();
        }
        Ok(out)
    }

    fn provision_notes(&self, spec: &TableSpec) -> Vec<String> {
        match ClassLayout::of(spec) {
            Ok(l) if l.ttl_ms == 0 => {
                vec!["no ttl_seconds: series keys never expire (options.redis.ttl_seconds)".into()]
            }
            _ => Vec::new(),
        }
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        let ctx = context(spec, "save");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let outcome = ops::save(&self.connector, &self.script, spec, &layout, &batch)
            .await
            .map_err(&ctx)?;
        Ok(if layout.history > 0 {
            // Rows kept somewhere: in history (newest included), or as a rewritten newest row.
            outcome.added.max(outcome.written)
        } else {
            outcome.written
        })
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let ctx = context(spec, "load");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let rows = self
            .candidate_rows(spec, &layout, &query)
            .await
            .map_err(&ctx)?;
        let out = eval::apply(spec, &query, &rows).map_err(&ctx)?;
        Ok(futures::stream::iter([Ok(out)]).boxed())
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let ctx = context(spec, "latest");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let only_tags = layout.selects_whole_series(&query);
        let newest = if only_tags {
            // The common case (the latest quote of these symbols): the newest-row keys alone.
            let members = self.members(&layout, &query).await.map_err(&ctx)?;
            ops::read_latest(&self.connector, spec, &layout, &members, true)
                .await
                .map_err(&ctx)?
                .0
        } else {
            // Newest row per series among the rows that match: over the recent history.
            let rows = self
                .candidate_rows(spec, &layout, &query)
                .await
                .map_err(&ctx)?;
            let matching = eval::filter(spec, &query, &rows).map_err(&ctx)?;
            newest_per_series(&layout, &matching).map_err(&ctx)?
        };
        let ordered =
            eval::sort_and_limit(spec, &newest, query.order, query.limit).map_err(&ctx)?;
        Ok(vec![eval::project(&query, &ordered).map_err(&ctx)?])
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        _interval: Interval,
        _query: Query,
    ) -> Result<Vec<RecordBatch>> {
        Err(self
            .unsupported("does not compute kline bars")
            .with_class(spec.name.clone()))
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        let ctx = context(spec, "delete");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        if !layout.selects_whole_series(&query) {
            return Err(ctx(self.unsupported(
                "deletes whole series only (by tag values, or every series)",
            )));
        }
        let members = self.members(&layout, &query).await.map_err(&ctx)?;
        ops::delete_members(&self.connector, &layout, &members)
            .await
            .map_err(&ctx)
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        let ctx = context(spec, "count");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        let members = ops::all_members(&self.connector, &layout)
            .await
            .map_err(&ctx)?;
        ops::count_rows(&self.connector, &layout, &members)
            .await
            .map_err(&ctx)
    }

    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let ctx = context(spec, "subscribe");
        let layout = ClassLayout::of(spec).map_err(&ctx)?;
        if layout.feed_ms == 0 {
            return Err(ctx(Error::new(
                ErrorKind::Unsupported,
                "the class has no live feed (options.redis.feed_seconds: 0)",
            )));
        }
        feed::subscribe(
            self.connector.clone(),
            spec.clone(),
            layout.keys.feed(),
            query,
        )
        .await
        .map_err(&ctx)
    }

    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        _query: Option<&Query>,
    ) -> Option<StatementText> {
        let layout = ClassLayout::of(spec).ok()?;
        let sql = match operation {
            Operation::Save => format!(
                "EVALSHA <save script> {} + {} per series",
                layout.keys.latest_rows(),
                layout.keys.history("<series>")
            ),
            Operation::Load => format!(
                "XRANGE {} <start> <end> (per series)",
                layout.keys.history("<series>")
            ),
            Operation::Latest => format!(
                "HMGET {} <series> (per 1,000 series)",
                layout.keys.latest_rows()
            ),
            Operation::Delete => format!(
                "HDEL {} <series>; DEL {}",
                layout.keys.latest_rows(),
                layout.keys.history("<series>")
            ),
            Operation::Count => format!("XLEN {} (per series)", layout.keys.history("<series>")),
            Operation::Provision => format!("SET {} <schema> NX", layout.keys.schema()),
            Operation::Kline => return None,
        };
        Some(StatementText { sql, parameters: 0 })
    }
}
