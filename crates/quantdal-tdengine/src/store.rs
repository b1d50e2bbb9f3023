//! `TdengineStore`: pooled connections (one pool per endpoint of the DSN), provisioning, stmt-bound saves,
//! Arrow loads. Async all the way: the driver's blocking helpers panic inside a runtime.

use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{new_null_array, ArrayRef, RecordBatch};
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use quantdal_core::output::projected_schema;
use quantdal_core::{
    kline_schema, BatchStream, Error, ErrorKind, Interval, Migration, Operation, ProvisionStatus,
    Query, Result, StatementText, Store, StoreInfo, StoreKind, StoreSettings, TableSpec,
};
use taos::{AsyncBindable, AsyncFetchable, AsyncQueryable, AsyncTBuilder, Value};

use crate::bind::{self, Series};
use crate::ddl::{self, LiveColumn, LiveDatabase};
use crate::decode::{conv_of, decode_block, Conv};
use crate::dsn::{self, InsertMode, TdDsn};
use crate::errors::from_taos;
use crate::forward;
use crate::ordered;
use crate::sql::{self, Built, DeletePlan, Render};
use crate::types::{layout, Layout};

const DEFAULT_POOL: usize = 8;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows bound before each stmt execute: a failed save then reports every earlier chunk as written.
const EXECUTE_EVERY_ROWS: usize = 200_000;
/// A stmt execute slower than this may have been retried inside libtaos, whose acknowledgement is then
/// confirmed with the server (see `save_stmt`).
const CONFIRM_AFTER: Duration = Duration::from_millis(250);

struct Endpoint {
    address: String,
    pool: taos::TaosPool,
}

pub struct TdengineStore {
    info: StoreInfo,
    pub(crate) dsn: TdDsn,
    endpoints: Vec<Endpoint>,
    /// Endpoint in use; moves on when one stops answering.
    current: AtomicUsize,
    connect_timeout: Duration,
    /// `DESCRIBE` of each super-table, keyed `db.stable`, refreshed by provision.
    schemas: Mutex<HashMap<String, Arc<Vec<LiveColumn>>>>,
    /// KEEP and cache model of each database, refreshed by provision.
    databases: Mutex<HashMap<String, LiveDatabase>>,
    /// Sub-tables of each super-table that carry a pre-0.2 name (tag tuple only), keyed `db.stable`: a series
    /// found there keeps being written there, so an upsert never leaves a second copy under the new name.
    legacy: Mutex<HashMap<String, Arc<HashSet<String>>>>,
    /// Chunk queries an ordered load keeps in flight (each holds a pooled connection).
    load_parallel: usize,
}

impl std::fmt::Debug for TdengineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdengineStore")
            .field("info", &self.info)
            .field("endpoints", &self.dsn.endpoints())
            .finish_non_exhaustive()
    }
}

fn with_context(spec: &TableSpec, op: Operation) -> impl Fn(Error) -> Error + '_ {
    move |e: Error| {
        e.with_message_prefix(format_args!("super-table {}", spec.table))
            .with_class(spec.name.clone())
            .with_operation(op.as_str())
    }
}

pub(crate) fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::VarChar(s) | Value::NChar(s) => Some(s.clone()),
        Value::Json(j) => Some(j.to_string()),
        _ => None,
    }
}

pub(crate) fn value_int(v: &Value) -> Option<i64> {
    match v {
        Value::TinyInt(x) => Some(i64::from(*x)),
        Value::SmallInt(x) => Some(i64::from(*x)),
        Value::Int(x) => Some(i64::from(*x)),
        Value::BigInt(x) => Some(*x),
        Value::UTinyInt(x) => Some(i64::from(*x)),
        Value::USmallInt(x) => Some(i64::from(*x)),
        Value::UInt(x) => Some(i64::from(*x)),
        Value::UBigInt(x) => i64::try_from(*x).ok(),
        _ => None,
    }
}

/// A timestamp value as ticks of its precision.
fn value_ticks(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) => Some(t.as_raw_i64()),
        other => value_int(other),
    }
}

/// `DESCRIBE` rows → live columns (field, type, length, note, encode, compress).
pub fn live_columns(rows: &[Vec<Value>]) -> Vec<LiveColumn> {
    rows.iter()
        .filter_map(|r| {
            Some(LiveColumn {
                name: value_text(r.first()?)?,
                type_name: value_text(r.get(1)?)?,
                length: r.get(2).and_then(value_int).unwrap_or(0).max(0) as u32,
                is_tag: r
                    .get(3)
                    .and_then(value_text)
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case("TAG")),
                encode: r.get(4).and_then(value_text),
                compress: r.get(5).and_then(value_text),
            })
        })
        .collect()
}

/// Sorts by `keys` (ascending, or descending for every key), then keeps the first `limit` rows.
fn sort_and_limit(
    batch: &RecordBatch,
    keys: &[usize],
    desc: bool,
    limit: Option<u64>,
) -> Result<RecordBatch> {
    let sorted = if keys.is_empty() || batch.num_rows() < 2 {
        batch.clone()
    } else {
        let columns: Vec<SortColumn> = keys
            .iter()
            .map(|&k| SortColumn {
                values: batch.column(k).clone(),
                options: Some(SortOptions {
                    descending: desc,
                    nulls_first: desc,
                }),
            })
            .collect();
        let indices = lexsort_to_indices(&columns, None)?;
        take_record_batch(batch, &indices)?
    };
    Ok(match limit {
        Some(n) if (n as usize) < sorted.num_rows() => sorted.slice(0, n as usize),
        _ => sorted,
    })
}

impl TdengineStore {
    /// Connects to the DSN in `settings.url` (several addresses = a cluster: the first that answers is used,
    /// the others take over when it stops). Fails with `Config` for a malformed DSN, `Unsupported` for a native
    /// DSN without the `native` feature, `Unavailable` when no endpoint answers; messages never carry the
    /// password.
    pub async fn open(settings: &StoreSettings) -> Result<TdengineStore> {
        let text = settings.url.as_deref().ok_or_else(|| {
            Error::config(format!(
                "store `{}`: a tdengine store needs `dsn`",
                settings.name
            ))
        })?;
        let parsed = dsn::parse(text)?;
        parsed.check_supported(text)?;
        if parsed.transport == dsn::Transport::Native {
            crate::exit::native_connection_opened();
        }
        let scrub = |m: &str| parsed.scrub(m);
        let pool_size = settings
            .pool_size
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_POOL)
            .max(1);
        let mut endpoints = Vec::with_capacity(parsed.addresses.len());
        for (i, address) in parsed.endpoints().into_iter().enumerate() {
            let endpoint = parsed
                .endpoint(i)
                .ok_or_else(|| Error::config("TDengine dsn lists no address"))?;
            let builder = taos::TaosBuilder::from_dsn(endpoint).map_err(|e| {
                if parsed.transport == dsn::Transport::Native {
                    // The native client is a C library loaded at run time: without it there is nothing to
                    // connect with, whatever the server does.
                    Error::config(format!(
                        "TDengine dsn `{}`: cannot load libtaos, the TDengine client library a native \
                         (taos://) connection needs: {}. Install the TDengine client, or set TAOS_LIBRARY_PATH \
                         to the libtaos.so file (or its directory), or connect with taos+ws:// through taosAdapter",
                        dsn::redacted(text),
                        scrub(&e.to_string())
                    ))
                } else {
                    Error::config(format!(
                        "TDengine dsn `{}`: {}",
                        dsn::redacted(text),
                        scrub(&e.to_string())
                    ))
                }
            })?;
            let pool = builder.pool().map_err(|e| from_taos(e, &scrub))?;
            pool.resize(pool_size);
            endpoints.push(Endpoint { address, pool });
        }
        let store = TdengineStore {
            info: StoreInfo {
                name: settings.name.clone(),
                kind: StoreKind::Tdengine,
                location: dsn::redacted(text),
                capabilities: crate::CAPABILITIES,
            },
            connect_timeout: settings
                .connect_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            dsn: parsed,
            endpoints,
            current: AtomicUsize::new(0),
            schemas: Mutex::new(HashMap::new()),
            databases: Mutex::new(HashMap::new()),
            legacy: Mutex::new(HashMap::new()),
            load_parallel: pool_size.min(2),
        };
        store.probe().await?;
        Ok(store)
    }

    /// Runs one statement that returns no rows (administration, e.g. dropping a test database).
    pub async fn execute(&self, sql: &str) -> Result<()> {
        let (idx, conn) = self.conn().await?;
        conn.exec(sql).await.map_err(|e| self.failed(idx, e))?;
        Ok(())
    }

    /// Finds an endpoint that answers, starting from the first.
    async fn probe(&self) -> Result<()> {
        let mut failures = Vec::new();
        for i in 0..self.endpoints.len() {
            self.current.store(i, Ordering::Relaxed);
            let attempt = async {
                let (idx, conn) = self.conn().await?;
                conn.exec("SELECT SERVER_VERSION()")
                    .await
                    .map_err(|e| self.failed(idx, e))
            };
            match attempt.await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Unavailable && !e.is_temporary() => {
                    return Err(e.with_message_prefix(format_args!(
                        "TDengine at {}",
                        self.endpoints[i].address
                    )))
                }
                Err(e) => failures.push(format!("{}: {}", self.endpoints[i].address, e.message())),
            }
        }
        self.current.store(0, Ordering::Relaxed);
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "no TDengine endpoint of `{}` answered: {}",
                self.info.location,
                failures.join("; ")
            ),
        ))
    }

    /// A pooled connection to the endpoint in use.
    pub(crate) async fn conn(
        &self,
    ) -> Result<(usize, impl Deref<Target = taos::Taos> + Send + 'static)> {
        let idx = self.current.load(Ordering::Relaxed) % self.endpoints.len().max(1);
        let endpoint = self
            .endpoints
            .get(idx)
            .ok_or_else(|| Error::config("TDengine dsn lists no address"))?;
        match tokio::time::timeout(self.connect_timeout, endpoint.pool.get()).await {
            Ok(Ok(conn)) => Ok((idx, conn)),
            Ok(Err(e)) => {
                let text = self.dsn.scrub(&e.to_string());
                // The pool wraps the driver's error: an authentication failure inside it is permanent.
                let typed = crate::errors::from_text(&text, &|m| self.dsn.scrub(m))
                    .filter(|t| t.kind() == ErrorKind::Unavailable && !t.is_temporary());
                if let Some(t) = typed {
                    return Err(
                        t.with_message_prefix(format_args!("TDengine at {}", endpoint.address))
                    );
                }
                self.advance(idx);
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("TDengine at {}: {text}", endpoint.address),
                ))
            }
            Err(_) => {
                self.advance(idx);
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "TDengine at {} did not answer within {} ms",
                        endpoint.address,
                        self.connect_timeout.as_millis()
                    ),
                ))
            }
        }
    }

    /// Moves to the next endpoint after `idx` failed (only if no one moved already).
    fn advance(&self, idx: usize) {
        let next = (idx + 1) % self.endpoints.len().max(1);
        let _ = self
            .current
            .compare_exchange(idx, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A driver error on endpoint `idx`, typed; connection errors move on to the next endpoint.
    pub(crate) fn failed(&self, idx: usize, err: taos::Error) -> Error {
        let e = from_taos(err, &|m| self.dsn.scrub(m));
        if e.kind() == ErrorKind::Unavailable && e.is_temporary() {
            self.advance(idx);
        }
        e
    }

    async fn exec(&self, sql: &str) -> Result<usize> {
        let (idx, conn) = self.conn().await?;
        conn.exec(sql).await.map_err(|e| self.failed(idx, e))
    }

    /// A small result as driver values (metadata, counts; administration tools use it too).
    pub async fn values(&self, sql: &str) -> Result<Vec<Vec<Value>>> {
        let (idx, conn) = self.conn().await?;
        let mut rs = conn.query(sql).await.map_err(|e| self.failed(idx, e))?;
        let mut out = Vec::new();
        let mut blocks = rs.blocks();
        while let Some(block) = blocks.next().await {
            let block = block.map_err(|e| self.failed(idx, e))?;
            out.extend(block.to_values());
        }
        Ok(out)
    }

    /// Every block of a query, decoded into `schema`.
    async fn batches(
        &self,
        sql: &str,
        convs: &[Conv],
        schema: &SchemaRef,
        layout: &Layout,
    ) -> Result<Vec<RecordBatch>> {
        let (idx, conn) = self.conn().await?;
        let mut rs = conn.query(sql).await.map_err(|e| self.failed(idx, e))?;
        let mut out = Vec::new();
        let mut blocks = rs.blocks();
        while let Some(block) = blocks.next().await {
            let block = block.map_err(|e| self.failed(idx, e))?;
            if block.nrows() > 0 {
                out.push(decode_block(&block, convs, schema, layout.precision)?);
            }
        }
        Ok(out)
    }

    async fn describe(&self, layout: &Layout) -> Result<Arc<Vec<LiveColumn>>> {
        let rows = self
            .values(&format!("DESCRIBE {}", sql::stable_ref(layout)))
            .await?;
        let live = Arc::new(live_columns(&rows));
        if let Ok(mut cache) = self.schemas.lock() {
            cache.insert(sql::stable_ref(layout), live.clone());
        }
        Ok(live)
    }

    async fn live_schema(&self, layout: &Layout) -> Result<Arc<Vec<LiveColumn>>> {
        let cached = self
            .schemas
            .lock()
            .ok()
            .and_then(|c| c.get(&sql::stable_ref(layout)).cloned());
        match cached {
            Some(live) => Ok(live),
            None => self.describe(layout).await,
        }
    }

    async fn stable_exists(&self, layout: &Layout) -> Result<bool> {
        let rows = self
            .values(&format!(
                "SELECT stable_name FROM information_schema.ins_stables WHERE db_name = {} AND stable_name = {}",
                sql::escape(&layout.database).map_err(Error::store)?,
                sql::escape(&layout.stable).map_err(Error::store)?
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// The class's database as the server has it, or `None` when it does not exist.
    async fn read_database(&self, layout: &Layout) -> Result<Option<LiveDatabase>> {
        let rows = self
            .values(&format!(
                "SELECT `precision`, `keep`, `cachemodel` FROM information_schema.ins_databases WHERE name = {}",
                sql::escape(&layout.database).map_err(Error::store)?
            ))
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let text = |i: usize| row.get(i).and_then(value_text).unwrap_or_default();
        let keep = text(1);
        let live = LiveDatabase {
            precision: text(0),
            keep_minutes: ddl::parse_keep_minutes(&keep).ok_or_else(|| {
                Error::store(format!(
                    "database {}: cannot read its KEEP from `{keep}`",
                    layout.database
                ))
            })?,
            cache_model: text(2),
        };
        if let Ok(mut cache) = self.databases.lock() {
            cache.insert(layout.database.clone(), live.clone());
        }
        Ok(Some(live))
    }

    async fn live_database(&self, layout: &Layout) -> Result<LiveDatabase> {
        let cached = self
            .databases
            .lock()
            .ok()
            .and_then(|c| c.get(&layout.database).cloned());
        match cached {
            Some(live) => Ok(live),
            None => self.read_database(layout).await?.ok_or_else(|| {
                Error::store(format!(
                    "database {} does not exist (run provision to create it)",
                    layout.database
                ))
            }),
        }
    }

    /// Every sub-table of the class's super-table, read once per process and super-table: a series whose
    /// current name is absent but whose legacy name is present keeps being written under the legacy name.
    async fn existing_tables(&self, layout: &Layout) -> Result<Arc<HashSet<String>>> {
        let key = sql::stable_ref(layout);
        if let Some(found) = self.legacy.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(found);
        }
        let found: Arc<HashSet<String>> =
            Arc::new(self.subtables(layout).await?.into_iter().collect());
        if let Ok(mut cache) = self.legacy.lock() {
            cache.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The super-table's sub-tables, as the server lists them now.
    async fn subtables(&self, layout: &Layout) -> Result<Vec<String>> {
        let rows = self
            .values(&format!(
                "SELECT table_name FROM information_schema.ins_tables WHERE db_name = {} AND stable_name = {}",
                sql::escape(&layout.database).map_err(Error::store)?,
                sql::escape(&layout.stable).map_err(Error::store)?
            ))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.first().and_then(value_text))
            .collect())
    }

    /// Drops whole sub-tables, and forgets the listing the legacy-name routing holds (a dropped series is
    /// written under its current name when it comes back).
    async fn drop_subtables(&self, layout: &Layout, tables: &[String]) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        for statement in sql::drop_subtables(layout, tables)? {
            self.exec(&statement).await?;
        }
        if let Ok(mut cache) = self.legacy.lock() {
            cache.remove(&sql::stable_ref(layout));
        }
        Ok(())
    }

    /// Points series that were first written under their legacy name back at that sub-table.
    async fn route_legacy(&self, layout: &Layout, series: &mut [Series]) -> Result<()> {
        let existing = self.existing_tables(layout).await?;
        if existing.is_empty() {
            return Ok(());
        }
        for s in series.iter_mut() {
            if !existing.contains(&s.table) {
                let legacy = crate::naming::legacy_subtable_name(&s.tags);
                if existing.contains(&legacy) {
                    s.table = legacy;
                }
            }
        }
        Ok(())
    }

    /// Refuses a batch holding a row older than the database's KEEP before anything is sent (TDengine would
    /// refuse it with a bare `Timestamp data out of range`, possibly after other series were written).
    fn check_keep(
        &self,
        spec: &TableSpec,
        layout: &Layout,
        live: &LiveDatabase,
        batch: &RecordBatch,
    ) -> Result<()> {
        let per_tick = layout.precision.nanos_per_tick();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let now_ticks =
            i64::try_from(now / u128::try_from(per_tick).unwrap_or(1)).unwrap_or(i64::MAX);
        let ticks_per_minute = 60_000_000_000 / per_tick;
        let oldest = now_ticks.saturating_sub(live.keep_minutes.saturating_mul(ticks_per_minute));
        if let Some((row, ticks)) = bind::first_before(batch, layout, oldest) {
            let column = &spec.columns[layout.time].name;
            return Err(Error::invalid_batch(format!(
                "{column} = {} is older than database {}'s KEEP of {} (TDengine refuses rows older than now - KEEP); \
                 raise options.tdengine.keep and run provision --migrate",
                describe_ticks(ticks, layout),
                layout.database,
                ddl::keep_days_text(live.keep_minutes)
            ))
            .with_class(spec.name.clone())
            .with_column(column.clone())
            .with_row(row));
        }
        Ok(())
    }

    /// `began`: when the save started, so a stall anywhere in it (metadata reads included) is noticed.
    async fn save_stmt(
        &self,
        spec: &TableSpec,
        layout: &Layout,
        series: &[Series],
        began: std::time::Instant,
    ) -> Result<u64> {
        // Converted before anything is sent: a bad value fails the save with nothing written.
        let views = series
            .iter()
            .map(|s| bind::series_views(spec, layout, s))
            .collect::<Result<Vec<_>>>()?;
        let template = sql::insert_template(spec, layout);
        let mut progress = Progress::new(series);
        // Before the first row is bound, a failure (the server gone) has written nothing, and says so.
        let (idx, conn) = self.conn().await.map_err(|e| progress.failed(0, e))?;
        let fail = |e| self.failed(idx, e);
        conn.exec(format!("USE {}", sql::ident(&layout.database)))
            .await
            .map_err(|e| progress.failed(0, fail(e)))?;
        let mut stmt = taos::Stmt::init(&*conn)
            .await
            .map_err(|e| progress.failed(0, fail(e)))?;
        stmt.prepare(&template.sql)
            .await
            .map_err(|e| progress.failed(0, fail(e)))?;
        let mut pending = 0usize;
        for (k, (s, cols)) in series.iter().zip(&views).enumerate() {
            let tags: Vec<Value> = s
                .tags
                .iter()
                .map(|t| bind::tag_to_value(t, layout.precision))
                .collect();
            let step = async {
                stmt.set_tbname_tags(&s.table, &tags).await?;
                stmt.bind(cols).await?;
                stmt.add_batch().await?;
                Ok::<_, taos::Error>(())
            };
            step.await.map_err(|e| progress.failed(k, fail(e)))?;
            pending += s.rows.num_rows();
            if pending >= EXECUTE_EVERY_ROWS || k + 1 == series.len() {
                let affected = stmt
                    .execute()
                    .await
                    .map_err(|e| progress.failed(progress.done, fail(e)))?;
                // Only rows the server counted are confirmed (an execute that gave up after libtaos's own
                // retries could report fewer).
                if affected < pending {
                    self.advance(idx);
                    return Err(progress.failed(
                        progress.done,
                        Error::new(
                            ErrorKind::Unavailable,
                            format!(
                                "TDengine confirmed {affected} of the {pending} rows sent in the last chunk \
                                 (the server went away or refused them)"
                            ),
                        )
                        .set_temporary(true),
                    ));
                }
                progress.done = k + 1;
                pending = 0;
            }
        }
        // A save slow enough to have gone through libtaos's own reconnect retries ends with one round trip
        // to the server on the same connection (SERVER_VERSION() would not do: the client answers it from
        // its cache), so a success is only reported while the server is there to have counted it. An early
        // live run seemed to show a stmt execute succeeding across a SIGKILL; it was the facade's spool
        // answering (the test went through it), and since then every killed save has failed in the execute
        // itself (tests/tests/tdengine.rs, docs/tdengine.md). The probe stays as a guard at no cost to fast
        // saves: it cost a quarter of the live-feed throughput when made after every save (16 writers × 200
        // rows: 121k → 158k rows/s without it).
        let confirmed = if began.elapsed() >= CONFIRM_AFTER {
            conn.exec("SELECT COUNT(*) FROM information_schema.ins_dnodes")
                .await
                .map(|_| ())
        } else {
            Ok(())
        };
        if let Err(e) = confirmed {
            let e = fail(e);
            return Err(Progress::new(series).failed(
                0,
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "TDengine did not answer after the save, so the client's acknowledgements cannot be \
                         trusted ({}); a save is an upsert, so retrying the whole batch is safe",
                        e.message()
                    ),
                )
                .set_temporary(true),
            ));
        }
        Ok(progress.rows_done())
    }

    /// A load in (series, time) order, sorted in the client chunk by chunk (see [`crate::ordered`]).
    async fn load_ordered(
        &self,
        spec: &TableSpec,
        layout: &Layout,
        query: Query,
    ) -> Result<BatchStream> {
        let desc = query.order == quantdal_core::Order::Desc;
        let counts = sql::series_counts(spec, layout, &query)?;
        let chunks = ordered::plan(&self.values(&counts.sql).await?, layout.tags.len(), desc)?;
        let schema = projected_schema(spec, &query.columns);
        let time_schema = projected_schema(spec, &[layout.time]);
        let chunk_schema = ordered::chunk_schema(&schema, time_schema.field(0));
        let mut convs: Vec<Conv> = query.columns.iter().map(|&c| conv_of(spec, c)).collect();
        convs.push(conv_of(spec, layout.time));
        let statements = chunks
            .iter()
            .map(|c| sql::select_subtables(spec, layout, &query, &c.tables).map(|b| b.sql))
            .collect::<Result<Vec<_>>>()?;
        // Two chunks in flight (one being read while the next is scanned), each on its own connection.
        let parallel = if chunks.len() > 1 {
            self.load_parallel
        } else {
            1
        };
        let mut conns = Vec::with_capacity(parallel);
        for _ in 0..parallel {
            conns.push(self.conn().await?.1);
        }
        let (tx, stream) = forward::channel(8);
        let layout = layout.clone();
        let class = spec.name.clone();
        let table = spec.table.clone();
        let scrub_dsn = self.dsn.clone();
        tokio::spawn(async move {
            let conns = conns;
            let fetches = futures::stream::iter(chunks.into_iter().zip(statements).enumerate())
                .map(|(k, (chunk, statement))| {
                    let conn = &conns[k % conns.len()];
                    let (convs, chunk_schema, layout) = (&convs, &chunk_schema, &layout);
                    async move {
                        ordered::fetch_chunk(
                            conn,
                            &statement,
                            &chunk,
                            convs,
                            chunk_schema,
                            layout,
                            desc,
                        )
                        .await
                    }
                })
                .buffered(parallel)
                .flat_map(|fetched| {
                    let items: Vec<Result<RecordBatch>> = match fetched {
                        Ok(batches) => batches.into_iter().map(Ok).collect(),
                        Err(ordered::ChunkError::Driver(e)) => {
                            vec![Err(from_taos(e, &|m| scrub_dsn.scrub(m)))]
                        }
                        Err(ordered::ChunkError::Typed(e)) => vec![Err(e)],
                    };
                    futures::stream::iter(items)
                })
                .map(|item| {
                    item.map_err(|e| {
                        e.with_message_prefix(format_args!("super-table {table}"))
                            .with_class(class.clone())
                            .with_operation("load")
                    })
                });
            forward::send_all(fetches, tx, schema.clone()).await;
        });
        Ok(stream)
    }

    async fn save_sql(&self, spec: &TableSpec, layout: &Layout, series: &[Series]) -> Result<u64> {
        let statements = bind::insert_statements(spec, layout, series, self.dsn.max_sql_bytes)?;
        let mut progress = Progress::new(series);
        for (sql, complete) in statements {
            let first_open = progress.done;
            self.exec(&sql)
                .await
                .map_err(|e| progress.failed(first_open, e))?;
            progress.done = complete;
        }
        Ok(progress.rows_done())
    }
}

/// Which series a save has confirmed written, for the partial-failure report.
struct Progress<'a> {
    series: &'a [Series],
    done: usize,
}

impl<'a> Progress<'a> {
    fn new(series: &'a [Series]) -> Self {
        Progress { series, done: 0 }
    }
    fn rows_done(&self) -> u64 {
        self.series[..self.done]
            .iter()
            .map(|s| s.rows.num_rows() as u64)
            .sum()
    }
    /// TDengine has no multi-table transaction: say what is known to be written and what is not.
    fn failed(&self, at: usize, err: Error) -> Error {
        if self.done == 0 && at == 0 {
            return err.with_message_prefix(format_args!(
                "nothing confirmed written (first sub-table {})",
                self.series.first().map(|s| s.table.as_str()).unwrap_or("-")
            ));
        }
        let failing = self
            .series
            .get(at.max(self.done))
            .map(|s| s.table.as_str())
            .unwrap_or("-");
        err.with_message_prefix(format_args!(
            "partial save: {} of {} series written ({} rows); {} series not confirmed, from sub-table {failing}; \
             a save is an upsert, so retrying the whole batch is safe",
            self.done,
            self.series.len(),
            self.rows_done(),
            self.series.len() - self.done
        ))
    }
}

#[async_trait]
impl Store for TdengineStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let ctx = with_context(spec, Operation::Provision);
        let layout = layout(spec).map_err(&ctx)?;
        let run = async {
            self.exec(&ddl::create_database(spec, &layout)).await?;
            let mut drift = Vec::new();
            if let Some(db) = self.read_database(&layout).await? {
                if !db.precision.eq_ignore_ascii_case(layout.precision.as_str()) {
                    drift.push(format!(
                        "database {} has precision {}, the class declares {}",
                        layout.database, db.precision, layout.precision
                    ));
                }
                // Widening changes (a longer KEEP, the last-row cache) are applied; a shorter KEEP is reported.
                let found = ddl::database_drift(spec, &layout, &db);
                for alter in &found.alters {
                    self.exec(alter).await?;
                }
                drift.extend(
                    found
                        .differences
                        .into_iter()
                        .filter(|d| d.contains("lowering KEEP")),
                );
                if !found.alters.is_empty() {
                    self.read_database(&layout).await?;
                }
            }
            if !self.stable_exists(&layout).await? {
                self.exec(&ddl::create_stable(spec, &layout)).await?;
                self.describe(&layout).await?;
                return Ok(if drift.is_empty() {
                    ProvisionStatus::Created
                } else {
                    ProvisionStatus::Drift(drift)
                });
            }
            let live = self.describe(&layout).await?;
            let found = ddl::drift(spec, &layout, &live);
            for alter in &found.alters {
                self.exec(alter).await?;
            }
            if !found.alters.is_empty() {
                self.describe(&layout).await?;
            }
            drift.extend(found.differences);
            Ok(if drift.is_empty() {
                ProvisionStatus::AlreadyPresent
            } else {
                ProvisionStatus::Drift(drift)
            })
        };
        run.await.map_err(ctx)
    }

    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let ctx = with_context(spec, Operation::Provision);
        let layout = layout(spec).map_err(&ctx)?;
        let run = async {
            let Some(db) = self.read_database(&layout).await? else {
                return Ok(ProvisionStatus::Missing);
            };
            let mut drift = Vec::new();
            if !db.precision.eq_ignore_ascii_case(layout.precision.as_str()) {
                drift.push(format!(
                    "database {} has precision {}, the class declares {}",
                    layout.database, db.precision, layout.precision
                ));
            }
            drift.extend(ddl::database_drift(spec, &layout, &db).differences);
            if !self.stable_exists(&layout).await? {
                return Ok(ProvisionStatus::Missing);
            }
            let live = self.describe(&layout).await?;
            let found = ddl::drift(spec, &layout, &live);
            drift.extend(found.alters.iter().map(|a| format!("needs `{a}`")));
            drift.extend(found.differences);
            Ok(if drift.is_empty() {
                ProvisionStatus::AlreadyPresent
            } else {
                ProvisionStatus::Drift(drift)
            })
        };
        run.await.map_err(ctx)
    }

    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        let ctx = with_context(spec, Operation::Provision);
        let layout = layout(spec).map_err(&ctx)?;
        let run = async {
            let mut out = Migration::default();
            let Some(db) = self.read_database(&layout).await? else {
                out.refused.push(format!(
                    "database {} does not exist: run provision",
                    layout.database
                ));
                return Ok(out);
            };
            let found = ddl::database_drift(spec, &layout, &db);
            for alter in found.alters {
                self.exec(&alter).await?;
                out.applied.push(alter);
            }
            out.refused.extend(
                found
                    .differences
                    .into_iter()
                    .filter(|d| d.contains("lowering KEEP")),
            );
            self.read_database(&layout).await?;
            if !self.stable_exists(&layout).await? {
                out.refused.push(format!(
                    "super-table {} does not exist: run provision",
                    sql::stable_ref(&layout)
                ));
                return Ok(out);
            }
            let live = self.describe(&layout).await?;
            let found = ddl::drift(spec, &layout, &live);
            for alter in found.alters {
                self.exec(&alter).await?;
                out.applied.push(alter);
            }
            out.refused.extend(found.differences);
            self.describe(&layout).await?;
            Ok(out)
        };
        run.await.map_err(ctx)
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        let began = std::time::Instant::now();
        let ctx = with_context(spec, Operation::Save);
        let layout = layout(spec).map_err(&ctx)?;
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        let mut series = bind::group_series(spec, &layout, &batch).map_err(&ctx)?;
        // The server is read before anything is written: a failure there (a server that went away) says so,
        // as a failure while writing says what was confirmed.
        let nothing_sent = |e: Error| ctx(e.with_message_prefix("nothing written"));
        let database = self.live_database(&layout).await.map_err(nothing_sent)?;
        self.check_keep(spec, &layout, &database, &batch)
            .map_err(&ctx)?;
        let live = self.live_schema(&layout).await.map_err(nothing_sent)?;
        if let Some((column, why)) = ddl::incompatibility(spec, &layout, &live) {
            let table = series.first().map(|s| s.table.as_str()).unwrap_or("-");
            return Err(ctx(
                Error::store(format!("sub-table {table}: {why}")).with_column(column)
            ));
        }
        self.route_legacy(&layout, &mut series)
            .await
            .map_err(nothing_sent)?;
        let written = match self.dsn.insert_mode {
            InsertMode::Stmt => self.save_stmt(spec, &layout, &series, began).await,
            InsertMode::Sql => self.save_sql(spec, &layout, &series).await,
        };
        written.map_err(ctx)
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let ctx = with_context(spec, Operation::Load);
        let layout = layout(spec).map_err(&ctx)?;
        if query.order != quantdal_core::Order::Unordered && query.limit.is_none() {
            return self.load_ordered(spec, &layout, query).await.map_err(ctx);
        }
        let built = sql::select(spec, &layout, &query, Render::Literals).map_err(&ctx)?;
        let schema = projected_schema(spec, &query.columns);
        let convs: Vec<Conv> = query.columns.iter().map(|&c| conv_of(spec, c)).collect();
        let (idx, conn) = self.conn().await.map_err(&ctx)?;
        let rs = conn
            .query(built.sql.as_str())
            .await
            .map_err(|e| ctx(self.failed(idx, e)))?;
        let (tx, stream) = forward::channel(8);
        let precision = layout.precision;
        let class = spec.name.clone();
        let table = spec.table.clone();
        let scrub_dsn = self.dsn.clone();
        tokio::spawn(async move {
            // The connection stays checked out until the stream ends or is dropped.
            let _conn = conn;
            let mut rs = rs;
            let batches = rs.blocks().map(|block| {
                block
                    .map_err(|e| from_taos(e, &|m| scrub_dsn.scrub(m)))
                    .and_then(|b| decode_block(&b, &convs, &schema, precision))
                    .map_err(|e| {
                        e.with_message_prefix(format_args!("super-table {table}"))
                            .with_class(class.clone())
                            .with_operation("load")
                    })
            });
            forward::send_all(batches, tx, schema.clone()).await;
        });
        Ok(stream)
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let ctx = with_context(spec, Operation::Latest);
        let layout = layout(spec).map_err(&ctx)?;
        let built = sql::latest(spec, &layout, &query, Render::Literals).map_err(&ctx)?;
        let fetched = sql::latest_columns(&layout, &query);
        let fetch_schema = projected_schema(spec, &fetched);
        let convs: Vec<Conv> = fetched.iter().map(|&c| conv_of(spec, c)).collect();
        let batches = self
            .batches(&built.sql, &convs, &fetch_schema, &layout)
            .await
            .map_err(&ctx)?;
        let all = concat_batches(&fetch_schema, &batches).map_err(|e| ctx(e.into()))?;
        let keys: Vec<usize> = (0..layout.tags.len()).collect();
        let sorted = if query.order == quantdal_core::Order::Unordered {
            sort_and_limit(&all, &[], false, query.limit)
        } else {
            sort_and_limit(
                &all,
                &keys,
                query.order == quantdal_core::Order::Desc,
                query.limit,
            )
        }
        .map_err(&ctx)?;
        let positions: Vec<usize> = query
            .columns
            .iter()
            .filter_map(|c| fetched.iter().position(|f| f == c))
            .collect();
        Ok(vec![sorted
            .project(&positions)
            .map_err(|e| ctx(e.into()))?])
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let ctx = with_context(spec, Operation::Kline);
        let layout = layout(spec).map_err(&ctx)?;
        quantdal_core::kline::check_interval(spec, interval).map_err(&ctx)?;
        let schema = kline_schema(spec).map_err(&ctx)?;
        let built = sql::kline(spec, &layout, interval, &query, Render::Literals)
            .map_err(&ctx)?
            .ok_or_else(|| ctx(Error::invalid_query("the class declares no kline source")))?;
        let has_amount = matches!(
            &spec.kline,
            Some(quantdal_core::spec::KlineSource::Ticks {
                amount: Some(_),
                ..
            }) | Some(quantdal_core::spec::KlineSource::Bars {
                amount: Some(_),
                ..
            })
        );
        let amount_at = layout.tags.len() + 6;
        let fetch_fields: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| has_amount || *i != amount_at)
            .map(|(_, f)| f.as_ref().clone())
            .collect();
        let fetch_schema = Arc::new(Schema::new(fetch_fields));
        let mut convs: Vec<Conv> = layout.tags.iter().map(|&c| conv_of(spec, c)).collect();
        convs.push(conv_of(spec, layout.time));
        convs.extend(std::iter::repeat_n(
            Conv::Plain,
            fetch_schema.fields().len() - convs.len(),
        ));
        let batches = self
            .batches(&built.sql, &convs, &fetch_schema, &layout)
            .await
            .map_err(&ctx)?;
        let fetched = concat_batches(&fetch_schema, &batches).map_err(|e| ctx(e.into()))?;
        let full = if has_amount {
            fetched
        } else {
            let mut columns: Vec<ArrayRef> = fetched.columns().to_vec();
            columns.insert(
                amount_at,
                new_null_array(&DataType::Float64, fetched.num_rows()),
            );
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| ctx(e.into()))?
        };
        let keys: Vec<usize> = (0..=layout.tags.len()).collect();
        let out = match query.order {
            quantdal_core::Order::Unordered => sort_and_limit(&full, &[], false, query.limit),
            order => sort_and_limit(
                &full,
                &keys,
                order == quantdal_core::Order::Desc,
                query.limit,
            ),
        }
        .map_err(&ctx)?;
        Ok(vec![out])
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        let ctx = with_context(spec, Operation::Delete);
        let layout = layout(spec).map_err(&ctx)?;
        let plan = sql::delete_plan(spec, &layout, &query, Render::Literals).map_err(&ctx)?;
        let run = async {
            match plan {
                DeletePlan::Stable { count, delete } => {
                    let n = first_int(&self.values(&count.sql).await?);
                    if n > 0 {
                        self.exec(&delete.sql).await?;
                    }
                    Ok(n)
                }
                DeletePlan::Everything { count } => {
                    let n = first_int(&self.values(&count.sql).await?);
                    let tables = self.subtables(&layout).await?;
                    self.drop_subtables(&layout, &tables).await?;
                    Ok(n)
                }
                DeletePlan::Subtables { select, whole } => {
                    let rows = self.values(&select.sql).await?;
                    let mut total = 0u64;
                    let mut dropped = Vec::new();
                    for r in rows {
                        let (Some(table), Some(n)) =
                            (r.first().and_then(value_text), r.get(1).and_then(value_int))
                        else {
                            continue;
                        };
                        total += n.max(0) as u64;
                        if whole {
                            dropped.push(table);
                            continue;
                        }
                        let stmt =
                            sql::delete_subtable(spec, &layout, &table, &query, Render::Literals)?;
                        self.exec(&stmt.sql).await?;
                    }
                    self.drop_subtables(&layout, &dropped).await?;
                    Ok(total)
                }
                DeletePlan::Rows { select } => {
                    // TDengine deletes by timestamp only: find the matching rows first, then delete exactly
                    // their timestamps, sub-table by sub-table.
                    let rows = self.values(&select.sql).await?;
                    let mut by_table: HashMap<String, Vec<(i64, bool)>> = HashMap::new();
                    for r in &rows {
                        if let (Some(table), Some(ts), Some(flag)) = (
                            r.first().and_then(value_text),
                            r.get(1).and_then(value_ticks),
                            r.get(2).and_then(value_int),
                        ) {
                            by_table.entry(table).or_default().push((ts, flag == 1));
                        }
                    }
                    let mut total = 0u64;
                    for (table, ticks) in by_table.iter_mut() {
                        total += ticks.iter().filter(|r| r.1).count() as u64;
                        for stmt in sql::delete_rows(spec, &layout, table, ticks)? {
                            self.exec(&stmt).await?;
                        }
                    }
                    Ok(total)
                }
            }
        };
        run.await.map_err(ctx)
    }

    async fn sql(&self, request: &quantdal_core::SqlRequest) -> Result<BatchStream> {
        crate::admin::run_sql(self, request).await
    }

    async fn compact(&self, specs: &[Arc<TableSpec>]) -> Result<Vec<String>> {
        crate::admin::compact(self, specs).await
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        let ctx = with_context(spec, Operation::Count);
        let layout = layout(spec).map_err(&ctx)?;
        let built = sql::count(spec, &layout, None).map_err(&ctx)?;
        Ok(first_int(&self.values(&built.sql).await.map_err(ctx)?))
    }

    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        query: Option<&Query>,
    ) -> Option<StatementText> {
        statement_text(spec, operation, query)
    }
}

/// A timestamp in ticks of the database precision, as UTC text for messages.
fn describe_ticks(ticks: i64, layout: &Layout) -> String {
    let nanos = i128::from(ticks) * i128::from(layout.precision.nanos_per_tick());
    i64::try_from(nanos)
        .ok()
        .and_then(arrow::temporal_conversions::timestamp_ns_to_datetime)
        .map(|t| format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S%.f")))
        .unwrap_or_else(|| format!("{ticks} ticks"))
}

fn first_int(rows: &[Vec<Value>]) -> u64 {
    rows.first()
        .and_then(|r| r.first())
        .and_then(value_int)
        .unwrap_or(0)
        .max(0) as u64
}

/// The statement each operation runs, with `?` for every value (for slow-query records).
pub fn statement_text(
    spec: &TableSpec,
    operation: Operation,
    query: Option<&Query>,
) -> Option<StatementText> {
    let layout = layout(spec).ok()?;
    let built: Built = match (operation, query) {
        (Operation::Provision, _) => Built {
            sql: ddl::create_stable(spec, &layout),
            parameters: 0,
        },
        (Operation::Save, _) => sql::insert_template(spec, &layout),
        (Operation::Count, _) => sql::count(spec, &layout, None).ok()?,
        (Operation::Load, Some(q)) => sql::select(spec, &layout, q, Render::Placeholders).ok()?,
        (Operation::Latest, Some(q)) => sql::latest(spec, &layout, q, Render::Placeholders).ok()?,
        (Operation::Kline, Some(q)) => {
            // The interval is not known here; a one-minute window stands for it.
            let interval = Interval::from_seconds(60)?;
            sql::kline(spec, &layout, interval, q, Render::Placeholders).ok()??
        }
        (Operation::Delete, Some(q)) => {
            match sql::delete_plan(spec, &layout, q, Render::Placeholders).ok()? {
                DeletePlan::Stable { delete, .. } => delete,
                // What decides the rows; the DROP TABLEs that follow name sub-tables the server lists.
                DeletePlan::Everything { count } => count,
                DeletePlan::Subtables { select, .. } | DeletePlan::Rows { select } => select,
            }
        }
        _ => return None,
    };
    Some(StatementText {
        sql: built.sql,
        parameters: built.parameters,
    })
}
