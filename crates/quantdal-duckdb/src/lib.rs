//! quantdal-duckdb: the embedded store, and the default. One DuckDB file holds every class.
//!
//! Concurrency: every call runs on tokio's blocking pool with its own pooled connection. Reads run in
//! parallel (DuckDB's MVCC gives each a snapshot). Writes to one table are serialised by an async lock per
//! table, so concurrent saves never hit DuckDB's optimistic write-write conflicts; writes to different
//! tables proceed in parallel.

mod admin;
mod backend;
mod compact;
mod ddl;
mod errors;
pub mod lake;
mod ordered;
mod pool;
mod series_bounds;
mod sql;
mod versioned;
mod write;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use duckdb::vtab::arrow::ArrowVTab;
use duckdb::{AccessMode, Config, Connection};
use futures::StreamExt;
use quantdal_core::bars::{bar_schema, InfoBar};
use quantdal_core::output::{conform_batch, projected_schema};
use quantdal_core::versions::{
    history_schema, is_revision_column, DELETED_COLUMN, KNOWN_AT_COLUMN,
};
use quantdal_core::{
    kline_schema, BatchStream, Error, ErrorKind, Interval, Migration, NeutralType, Operation,
    ProvisionStatus, Query, Result, StatementText, Store, StoreInfo, StoreKind, TableSpec,
};

pub use admin::{backups, compact_file, CompactOptions};
pub use backend::{DuckDbBackend, CAPABILITIES};
pub use ddl::{column_type, create_statements};
pub use sql::{Statement, BAR_ORIGIN};

use errors::from_duckdb;
use pool::Pool;

/// Name the Arrow scan table function is registered under on each connection.
const ARROW_SCAN: &str = "quantdal_arrow_scan";

/// DuckDB's memory limit unless the store sets `memory_limit`: DuckDB's own default is 80 % of the machine's
/// RAM, so a sort or aggregate over a large result (a load's ORDER BY, an export) would grow until it has
/// it. Under a limit, DuckDB spills those to `<file>.tmp` and the process stays bounded (docs/benchmarks.md,
/// "Memory").
pub const DEFAULT_MEMORY_LIMIT: &str = "256MB";

/// DuckDB's `checkpoint_threshold` unless the store sets one. A commit that takes the write-ahead log past it
/// checkpoints before it returns, and every writer of the table waits meanwhile: at DuckDB's 16MB a live feed
/// met one every fraction of a second, and those waits were its 99th percentile (49–51 ms against 18–22 at
/// 64MB, docs/benchmarks.md "Live-feed ingest"). The price is a longer log to replay after a crash: 0.3 s
/// for 64MB.
pub const DEFAULT_CHECKPOINT_THRESHOLD: &str = "64MB";

#[derive(Debug, Clone)]
pub struct DuckDbOptions {
    pub path: Option<PathBuf>,
    pub read_only: bool,
    pub threads: Option<u32>,
    pub memory_limit: Option<String>,
    pub checkpoint_threshold: Option<String>,
    /// Rows an ordered load puts in order at a time (see `ordered`).
    pub order_chunk_rows: u64,
    /// Connections kept idle for reuse.
    pub pool_size: usize,
}

impl Default for DuckDbOptions {
    fn default() -> Self {
        DuckDbOptions {
            path: None,
            read_only: false,
            threads: None,
            memory_limit: Some(DEFAULT_MEMORY_LIMIT.into()),
            checkpoint_threshold: Some(DEFAULT_CHECKPOINT_THRESHOLD.into()),
            order_chunk_rows: ordered::CHUNK_ROWS,
            pool_size: 16,
        }
    }
}

pub struct DuckDbStore {
    info: StoreInfo,
    pool: Arc<Pool>,
    read_only: bool,
    /// Slices a save's batch is scanned in (DuckDB's thread count).
    insert_parallelism: usize,
    order_chunk_rows: u64,
    /// Per table: its write lock, what is known about it, and its group-commit queue (write.rs).
    lanes: Mutex<HashMap<String, Arc<write::Lane>>>,
    /// Tables known to exist in the file, checked once per table per process (see `ensure_table`).
    present: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for DuckDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuckDbStore")
            .field("info", &self.info)
            .finish()
    }
}

pub(crate) fn register_functions(conn: &Connection) -> Result<()> {
    match conn.register_table_function::<ArrowVTab>(ARROW_SCAN) {
        Ok(()) => {}
        // Table functions live in the database catalog: the first connection's registration is shared.
        Err(e) if e.to_string().contains("already exists") => {}
        Err(e) => return Err(from_duckdb(e)),
    }
    lake::register(conn)
}

impl DuckDbStore {
    /// Opens (creating if needed) the file at `options.path`, or an in-memory database when there is none.
    pub fn open(name: &str, options: DuckDbOptions) -> Result<DuckDbStore> {
        let location = options
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ":memory:".into());
        let mut config = Config::default()
            .access_mode(if options.read_only {
                AccessMode::ReadOnly
            } else {
                AccessMode::ReadWrite
            })
            .map_err(from_duckdb)?;
        // `preserve_insertion_order` stays on (its default): saves turn it off for their insert only
        // (write.rs, `unordered`), because with it off ORDER BY results of several chunks can interleave.
        if let Some(t) = options.threads {
            config = config.threads(i64::from(t)).map_err(from_duckdb)?;
        }
        if let Some(m) = &options.memory_limit {
            config = config.max_memory(m).map_err(from_duckdb)?;
        }
        if let Some(t) = &options.checkpoint_threshold {
            config = config
                .with("checkpoint_threshold", t)
                .map_err(from_duckdb)?;
        }
        let conn = match &options.path {
            Some(path) => {
                if options.read_only && !path.exists() {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("the embedded store {location} does not exist yet: run `quantdal provision` or `quantdal demo` first"),
                    ));
                }
                create_parent(path)?;
                Connection::open_with_flags(path, config).map_err(|e| {
                    let err = from_duckdb(e);
                    if err.kind() == ErrorKind::Locked {
                        errors::locked(&location, err)
                    } else {
                        err
                    }
                })?
            }
            None => Connection::open_in_memory_with_flags(config).map_err(from_duckdb)?,
        };
        register_functions(&conn)?;
        Ok(DuckDbStore {
            info: StoreInfo {
                name: name.to_string(),
                kind: StoreKind::Duckdb,
                location,
                capabilities: CAPABILITIES,
            },
            pool: Arc::new(Pool::new(conn, options.pool_size.max(1))),
            read_only: options.read_only,
            insert_parallelism: options.threads.map(|t| t as usize).unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(usize::from)
                    .unwrap_or(1)
            }),
            order_chunk_rows: options.order_chunk_rows.max(1),
            lanes: Mutex::new(HashMap::new()),
            present: Mutex::new(HashSet::new()),
        })
    }

    fn lane(&self, table: &str) -> Result<Arc<write::Lane>> {
        let mut lanes = self
            .lanes
            .lock()
            .map_err(|_| Error::store("write lane table poisoned"))?;
        Ok(lanes.entry(table.to_string()).or_default().clone())
    }

    fn writer(&self) -> write::Writer {
        write::Writer {
            pool: self.pool.clone(),
            parallelism: self.insert_parallelism,
        }
    }

    /// Makes sure the class's table exists: the embedded store creates what it needs on first use (a
    /// writable file provisions the class); a read-only one says to run `quantdal provision`.
    async fn ensure_table(&self, spec: &Arc<TableSpec>) -> Result<()> {
        let known = |s: &Self| {
            s.present
                .lock()
                .map(|p| p.contains(&spec.table))
                .unwrap_or(false)
        };
        if known(self) {
            return Ok(());
        }
        let table = spec.table.clone();
        let exists = self
            .blocking(move |conn| Ok(!live_columns(conn, &table)?.is_empty()))
            .await?;
        if !exists {
            if self.read_only {
                return Err(errors::not_provisioned(&self.info.name, spec));
            }
            self.provision(spec).await?;
        }
        if let Ok(mut p) = self.present.lock() {
            p.insert(spec.table.clone());
        }
        Ok(())
    }

    fn check_writable(&self, spec: &TableSpec) -> Result<()> {
        if self.read_only {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the embedded store {} is open read-only",
                    self.info.location
                ),
            )
            .with_class(spec.name.clone()));
        }
        Ok(())
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|e| Error::store(format!("blocking task failed: {e}")))?
    }

    /// Runs a SELECT and collects its batches conformed to `schema`.
    async fn query_all(
        &self,
        statement: Statement,
        schema: Arc<Schema>,
    ) -> Result<Vec<RecordBatch>> {
        self.blocking(move |conn| {
            let mut stmt = conn.prepare(&statement.sql).map_err(from_duckdb)?;
            let mut out = Vec::new();
            for batch in compact::stream(&mut stmt, &statement)? {
                out.push(conform_batch(&batch?, &schema)?);
            }
            if out.is_empty() {
                out.push(RecordBatch::new_empty(schema));
            }
            Ok(out)
        })
        .await
    }
}

/// Up to `parts` contiguous slices of at least 64k rows each (zero-copy).
fn split_rows(batch: &RecordBatch, parts: usize) -> Vec<RecordBatch> {
    let n = batch.num_rows();
    let parts = parts.clamp(1, (n / 65_536).max(1));
    let size = n.div_ceil(parts);
    (0..n)
        .step_by(size.max(1))
        .map(|start| batch.slice(start, size.min(n - start)))
        .collect()
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create folder {}: {e}", dir.display()),
            )
        }),
        _ => Ok(()),
    }
}

/// DuckDB maps tz-labelled Arrow timestamps to microsecond TIMESTAMPTZ; the class's exact-unit column
/// types take the same instants unlabelled.
fn strip_timezones(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut changed = false;
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                changed = true;
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(*unit, None))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    if !changed {
        return Ok(batch.clone());
    }
    let schema = Arc::new(Schema::new(fields));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                let data = c
                    .to_data()
                    .into_builder()
                    .data_type(f.data_type().clone())
                    .build()?;
                Ok(arrow::array::make_array(data))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn with_context<'a>(spec: &'a TableSpec, op: &'static str) -> impl Fn(Error) -> Error + 'a {
    move |e: Error| {
        e.with_message_prefix(format_args!("table {}", spec.table))
            .with_class(spec.name.clone())
            .with_operation(op)
    }
}

#[async_trait]
impl Store for DuckDbStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let spec = spec.clone();
        let read_only = self.read_only;
        let ctx = spec.clone();
        self.blocking(move |conn| {
            let existing = live_columns(conn, &spec.table)?;
            if existing.is_empty() {
                if read_only {
                    return Ok(ProvisionStatus::Drift(vec![
                        "table is missing (store is read-only)".into(),
                    ]));
                }
                let tx_sql = format!(
                    "BEGIN TRANSACTION;\n{};\nCOMMIT;",
                    create_statements(&spec).join(";\n")
                );
                if let Err(e) = conn.execute_batch(&tx_sql) {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(from_duckdb(e));
                }
                return Ok(ProvisionStatus::Created);
            }
            let drift = drift(&spec, &existing);
            if !read_only {
                // Indexes are additive and idempotent: create any that are missing.
                for stmt in create_statements(&spec)
                    .iter()
                    .filter(|s| s.starts_with("CREATE ") && s.contains("INDEX"))
                {
                    conn.execute_batch(stmt).map_err(from_duckdb)?;
                }
            }
            Ok(if drift.is_empty() {
                ProvisionStatus::AlreadyPresent
            } else {
                ProvisionStatus::Drift(drift)
            })
        })
        .await
        .map_err(with_context(&ctx, "provision"))
    }

    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let spec = spec.clone();
        let ctx = spec.clone();
        self.blocking(move |conn| {
            let existing = live_columns(conn, &spec.table)?;
            if existing.is_empty() {
                return Ok(ProvisionStatus::Missing);
            }
            let drift = drift(&spec, &existing);
            Ok(if drift.is_empty() {
                ProvisionStatus::AlreadyPresent
            } else {
                ProvisionStatus::Drift(drift)
            })
        })
        .await
        .map_err(with_context(&ctx, "check"))
    }

    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        self.check_writable(spec)?;
        let spec = spec.clone();
        let ctx = spec.clone();
        self.blocking(move |conn| {
            let existing = live_columns(conn, &spec.table)?;
            let mut migration = Migration::default();
            if existing.is_empty() {
                migration
                    .refused
                    .push("table is missing: run `quantdal provision` to create it".into());
                return Ok(migration);
            }
            for c in &spec.columns {
                if existing.iter().any(|(n, _, _)| n == &c.name) {
                    continue;
                }
                if c.nullable || c.default.is_some() {
                    let stmt = ddl::add_column(&spec, c);
                    conn.execute_batch(&stmt).map_err(from_duckdb)?;
                    migration
                        .applied
                        .push(format!("column {} is missing: {stmt}", c.name));
                } else {
                    migration.refused.push(format!(
                        "column {} is missing and NOT NULL without a default: add it as nullable, backfill, \
                         then recreate the table with the constraint (DuckDB cannot add NOT NULL to a column)",
                        c.name
                    ));
                }
            }
            for d in drift(&spec, &existing) {
                if !d.ends_with("is missing") {
                    migration.refused.push(format!(
                        "{d}: changing or dropping a column may lose data; do it by hand once nothing needs it"
                    ));
                }
            }
            Ok(migration)
        })
        .await
        .map_err(with_context(&ctx, "migrate"))
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        self.check_writable(spec)?;
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        self.ensure_table(spec).await?;
        let lane = self.lane(&spec.table)?;
        write::save(&self.writer(), &lane, spec, batch)
            .await
            .map_err(with_context(spec, "save"))
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.ensure_table(spec).await?;
        let statement = versioned::read(spec, &query, sql::select(spec, &query))?;
        let schema = projected_schema(spec, &query.columns);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(8);
        let pool = self.pool.clone();
        let ctx = spec.clone();
        let chunk_rows = self.order_chunk_rows;
        let columns = ordered::order_columns(spec, &query);
        // Ordered in the client, a load is several statements, on two connections when it can: both must
        // read one snapshot. Every write to the table commits under its lane's lock, so none can commit
        // while the two snapshots are taken. A load never waits for a write: when one is running, the
        // load reads its chunks on one connection (one transaction, one snapshot) instead.
        let snapshot_lock = match columns {
            Some(_) => self.lane(&spec.table)?.state.clone().try_lock_owned().ok(),
            None => None,
        };
        tokio::task::spawn_blocking(move || {
            let mut snapshot_lock = snapshot_lock;
            let run = || -> Result<()> {
                let conn = match columns {
                    Some(_) => ordered::Snapshot::begin(pool.get()?, &ctx.table)?,
                    None => ordered::Snapshot::plain(pool.get()?),
                };
                if let Some(columns) = columns {
                    let second = match snapshot_lock.take() {
                        Some(_writes_held) => {
                            Some(ordered::Snapshot::begin(pool.get()?, &ctx.table)?)
                        }
                        None => None,
                    };
                    let plan = ordered::plan(&conn, &ctx, &query, &columns, chunk_rows)?;
                    if let Some(plan) = plan {
                        let mut send = |batch| tx.blocking_send(batch).is_ok();
                        let second = second.filter(|_| plan.chunks.len() > 1);
                        let sent = ordered::run(
                            &conn, second, &ctx, &query, &columns, &plan, &schema, &mut send,
                        )?;
                        if !sent {
                            let _ = tx.blocking_send(Ok(RecordBatch::new_empty(schema)));
                        }
                        return Ok(());
                    }
                }
                let mut stmt = conn.prepare(&statement.sql).map_err(from_duckdb)?;
                let mut sent = false;
                for batch in compact::stream(&mut stmt, &statement)? {
                    let batch = batch?;
                    sent = true;
                    // A closed channel means the caller dropped the stream: stop reading.
                    if tx.blocking_send(conform_batch(&batch, &schema)).is_err() {
                        return Ok(());
                    }
                }
                if !sent {
                    let _ = tx.blocking_send(Ok(RecordBatch::new_empty(schema)));
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = tx.blocking_send(Err(with_context(&ctx, "load")(e)));
            }
        });
        Ok(tokio_stream_from(rx))
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        self.ensure_table(spec).await?;
        let statement = sql::latest(spec, &query).ok_or_else(|| {
            Error::invalid_query("the class has no time column, so it has no latest row per series")
                .with_class(spec.name.clone())
        })?;
        let statement = versioned::read(spec, &query, statement)?;
        let schema = projected_schema(spec, &query.columns);
        self.query_all(statement, schema)
            .await
            .map_err(with_context(spec, "latest"))
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.ensure_table(spec).await?;
        let schema = kline_schema(spec)?;
        let statement = sql::kline(spec, interval, &query).ok_or_else(|| {
            Error::invalid_query("the class declares no kline source").with_class(spec.name.clone())
        })?;
        let statement = versioned::read(spec, &query, statement)?;
        self.query_all(statement, schema)
            .await
            .map_err(with_context(spec, "kline"))
    }

    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.ensure_table(spec).await?;
        let schema = bar_schema(spec)?;
        let statement = versioned::bars(spec, bar, &query)?;
        self.query_all(statement, schema)
            .await
            .map_err(with_context(spec, "kline"))
    }

    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        self.ensure_table(spec).await?;
        let schema = history_schema(spec, &query.columns);
        let batches = self
            .query_all(versioned::history(spec, &query), schema)
            .await
            .map_err(with_context(spec, "history"))?;
        Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        self.check_writable(spec)?;
        self.ensure_table(spec).await?;
        let lane = self.lane(&spec.table)?;
        let mut state = lane.state.lock().await;
        if spec.versions.is_some() {
            // A tombstone per key, even for "every row": the history stays readable as of earlier times.
            let owned = spec.clone();
            return self
                .blocking(move |conn| versioned::delete(conn, &owned, &query))
                .await
                .map_err(with_context(spec, "delete"));
        }
        if query.time.is_none() && query.conditions.is_empty() {
            let owned = spec.clone();
            let (n, fresh) = self
                .blocking(move |conn| write::truncate(conn, &owned))
                .await
                .map_err(with_context(spec, "truncate"))?;
            match fresh {
                Some(layout) => state.reset_empty(layout),
                None => state.forget(),
            }
            return Ok(n);
        }
        let statement = sql::delete(spec, &query);
        self.blocking(move |conn| {
            let n = conn
                .execute(
                    &statement.sql,
                    duckdb::params_from_iter(statement.params.iter()),
                )
                .map_err(from_duckdb)?;
            Ok(n as u64)
        })
        .await
        .map_err(with_context(spec, "delete"))
    }

    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        query: Option<&Query>,
    ) -> Option<StatementText> {
        let statement = match (operation, query) {
            (Operation::Save, _) => {
                let scan = [format!("{ARROW_SCAN}(?)")];
                return Some(StatementText {
                    sql: sql::upsert(spec, &scan),
                    parameters: 1,
                });
            }
            (Operation::Load, Some(q)) => versioned::read(spec, q, sql::select(spec, q)).ok()?,
            (Operation::Latest, Some(q)) => versioned::read(spec, q, sql::latest(spec, q)?).ok()?,
            // The width is a bound parameter, so any interval gives the same text.
            (Operation::Kline, Some(q)) => {
                versioned::read(spec, q, sql::kline(spec, Interval::from_seconds(60)?, q)?).ok()?
            }
            (Operation::Delete, Some(q)) => sql::delete(spec, q),
            (Operation::Count, _) => {
                return Some(StatementText {
                    sql: format!("SELECT count(*) FROM {}", ddl::quote(&spec.table)),
                    parameters: 0,
                })
            }
            _ => return None,
        };
        Some(StatementText {
            parameters: statement.params.len(),
            sql: statement.sql,
        })
    }

    async fn sql(&self, request: &quantdal_core::SqlRequest) -> Result<BatchStream> {
        admin::run_sql(self, request).await
    }

    async fn summarize(
        &self,
        spec: &Arc<TableSpec>,
        query: Query,
        by_day: bool,
    ) -> Result<Vec<quantdal_core::SeriesSummary>> {
        admin::summarize(self, spec, query, by_day).await
    }

    async fn storage(&self, specs: &[Arc<TableSpec>]) -> Result<quantdal_core::StorageReport> {
        admin::storage(self, specs).await
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        self.ensure_table(spec).await?;
        // A versioned class holds the keys as known now (its revisions are `history`).
        let statement = versioned::count(spec)?;
        self.blocking(move |conn| {
            let n: i64 = conn
                .query_row(
                    &statement.sql,
                    duckdb::params_from_iter(statement.params.iter()),
                    |r| r.get(0),
                )
                .map_err(from_duckdb)?;
            Ok(n.max(0) as u64)
        })
        .await
        .map_err(with_context(spec, "count"))
    }
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>) -> BatchStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// (name, reported type, nullable) of each live column, in order; empty when the table does not exist.
fn live_columns(conn: &Connection, table: &str) -> Result<Vec<(String, String, bool)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(from_duckdb)?;
    let rows = stmt
        .query_map([table], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)? == "YES",
            ))
        })
        .map_err(from_duckdb)?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(from_duckdb)
}

fn drift(spec: &TableSpec, live: &[(String, String, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for c in &spec.columns {
        // information_schema reports the very names the DDL used.
        let expected = column_type(c.data_type, spec.precision());
        match live.iter().find(|(n, _, _)| n == &c.name) {
            None => out.push(format!("column {} is missing", c.name)),
            Some((_, ty, nullable)) => {
                if !ty.eq_ignore_ascii_case(&expected) {
                    out.push(format!("column {} is {ty}, spec says {expected}", c.name));
                }
                if *nullable != c.nullable {
                    out.push(format!(
                        "column {} is {}, spec says {}",
                        c.name,
                        if *nullable { "nullable" } else { "NOT NULL" },
                        if c.nullable { "nullable" } else { "NOT NULL" }
                    ));
                }
            }
        }
    }
    if spec.versions.is_some() {
        let wanted = [
            (
                KNOWN_AT_COLUMN,
                column_type(NeutralType::Timestamp, spec.precision()),
            ),
            (DELETED_COLUMN, "BOOLEAN".to_string()),
        ];
        for (name, ty) in wanted {
            match live.iter().find(|(n, _, _)| n == name) {
                None => out.push(format!(
                    "revision column {name} is absent: the table was made for an unversioned class; copy the \
                     class into a new table to keep revisions"
                )),
                Some((_, live_ty, _)) if !live_ty.eq_ignore_ascii_case(&ty) => {
                    out.push(format!("column {name} is {live_ty}, a versioned class needs {ty}"))
                }
                Some(_) => {}
            }
        }
    }
    for (name, _, _) in live {
        if spec.column(name).is_none() && !is_revision_column(spec, name) {
            out.push(format!("column {name} is not in the spec"));
        }
    }
    out
}
