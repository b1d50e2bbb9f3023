//! `PostgresStore`: the `Store` trait on a bb8 pool. Saves COPY binary data in one transaction (straight into
//! the table when no key can conflict, else through a session staging table and `ON CONFLICT DO UPDATE`);
//! loads stream through a portal in chunks decoded straight into Arrow.

mod admin;
mod partitioned;
mod versioned;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, RecordBatch};
use async_trait::async_trait;
use futures::{SinkExt, StreamExt, TryStreamExt};
use quantdal_core::bars::{bar_schema, InfoBar};
use quantdal_core::group::{write_merged, GroupLane};
use quantdal_core::load::Scalar;
use quantdal_core::output::projected_schema;
use quantdal_core::versions::history_schema;
use quantdal_core::{
    kline_schema, BatchStream, Error, ErrorKind, Gauge, Interval, Migration, Operation,
    ProvisionStatus, Query, Result, StatementText, Store, StoreInfo, StoreKind, TableSpec,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use crate::catalog::{differences, live_table, migrate, Fix};
use crate::conn::{ConnectionSpec, PoolOptions};
use crate::copy_in::Encoder;
use crate::ddl::{table_statements, timescale_features, timescale_statements};
use crate::decode::BatchDecoder;
use crate::errors::from_pg;
use crate::pool::{self, Pool};
use crate::rollup;
use crate::sql::{self, Statement};

/// A save of at least this many rows into an empty table is followed by ANALYZE.
const ANALYZE_AFTER_ROWS: u64 = 10_000;

/// Group commit (quantdal_core::group): transactions of one table written at once, each taking the saves
/// queued meanwhile, and the rows one of them takes at most. Two overlap one group's commit with the next
/// group's COPY; more would only split a feed's saves into smaller groups.
const GROUP_LEADERS: usize = 2;
const GROUP_ROWS: usize = 262_144;

/// Rows per portal fetch, and so per Arrow batch of a load.
const LOAD_CHUNK_ROWS: i32 = 32_768;

/// `timescale:` in the store settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimescaleMode {
    /// Use the extension when the server offers it; plain tables otherwise.
    Auto,
    /// Require it: provisioning fails when the server lacks it.
    On,
    /// Never use it.
    Off,
}

impl TimescaleMode {
    pub fn parse(text: Option<&str>) -> Result<TimescaleMode> {
        match text.unwrap_or("auto") {
            "auto" => Ok(TimescaleMode::Auto),
            "on" => Ok(TimescaleMode::On),
            "off" => Ok(TimescaleMode::Off),
            other => Err(Error::config(format!(
                "timescale `{other}` is not one of auto, on, off"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub url: String,
    /// A read replica for loads, `latest` and `kline`.
    pub read_url: Option<String>,
    pub schema: String,
    pub timescale: TimescaleMode,
    pub pool: PoolOptions,
}

/// Whether TimescaleDB is in use, and if not, why (for `provision`'s notes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Timescale {
    InUse(String),
    NotUsed(String),
}

pub struct PostgresStore {
    info: StoreInfo,
    pool: Pool,
    read_pool: Option<Pool>,
    schema: String,
    mode: TimescaleMode,
    timescale: Mutex<Option<Timescale>>,
    /// Group-commit queues, by qualified table.
    lanes: Mutex<HashMap<String, Arc<GroupLane>>>,
    /// Partitioned classes' tables and the periods known to have a partition, by qualified table.
    partitions: Mutex<HashMap<String, partitioned::KnownPartitions>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("info", &self.info)
            .field("schema", &self.schema)
            .finish()
    }
}

fn with_context<'a>(
    spec: &'a TableSpec,
    schema: &'a str,
    op: &'static str,
) -> impl Fn(Error) -> Error + 'a {
    move |e: Error| {
        e.with_message_prefix(format_args!("table {schema}.{}", spec.table))
            .with_class(spec.name.clone())
            .with_operation(op)
    }
}

impl PostgresStore {
    /// Builds the pools without connecting: the first operation connects, so an application can start while
    /// the database is still coming up.
    pub async fn open(name: &str, options: PostgresOptions) -> Result<PostgresStore> {
        let spec = ConnectionSpec::parse(&options.url, &options.pool)?;
        let location = spec.location.clone();
        let pool = pool::build(spec, &options.pool).await?;
        let read_pool = match &options.read_url {
            Some(url) => {
                Some(pool::build(ConnectionSpec::parse(url, &options.pool)?, &options.pool).await?)
            }
            None => None,
        };
        Ok(PostgresStore {
            info: StoreInfo {
                name: name.to_string(),
                kind: StoreKind::Postgres,
                location,
                capabilities: crate::CAPABILITIES,
            },
            pool,
            read_pool,
            schema: options.schema,
            mode: options.timescale,
            timescale: Mutex::new(None),
            lanes: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// Connections open / idle, for monitoring.
    pub fn pool_state(&self) -> (u32, u32) {
        self.pool.state()
    }

    fn schema_of<'a>(&'a self, spec: &'a TableSpec) -> &'a str {
        spec.options
            .postgres
            .as_ref()
            .and_then(|p| p.schema.as_deref())
            .unwrap_or(&self.schema)
    }

    async fn conn(&self) -> Result<pool::Pooled> {
        self.pool.get().await
    }

    async fn read_conn(&self) -> Result<pool::Pooled> {
        match &self.read_pool {
            Some(p) => p.get().await,
            None => self.conn().await,
        }
    }

    fn timescale_state(&self) -> Option<Timescale> {
        self.timescale.lock().map(|g| g.clone()).unwrap_or(None)
    }

    /// The class's continuous aggregates able to serve a kline; none (bars from the table) when the catalog
    /// cannot be read, which is logged and never fails the kline.
    async fn usable_rollups(
        &self,
        client: &tokio_postgres::Client,
        spec: &TableSpec,
        schema: &str,
        candidates: &[(String, i64)],
    ) -> Vec<rollup::Usable> {
        match rollup::usable(client, spec, schema, candidates).await {
            Ok(views) => views,
            Err(e) => {
                tracing::warn!(
                    class = %spec.name,
                    error = %e,
                    "continuous aggregates not readable; kline computed from the table"
                );
                Vec::new()
            }
        }
    }

    /// Every row deleted by TRUNCATE, which gives the space back at once: a DELETE would leave every row dead
    /// for vacuum, and a re-import after it ran at 0.4× the speed of one into a fresh table
    /// (docs/benchmarks.md). The count is taken under the same lock, so it is exact.
    async fn truncate(&self, spec: &TableSpec, schema: &str) -> Result<u64> {
        let table = crate::ddl::qualified(schema, &spec.table);
        let mut conn = self.conn().await?;
        let tx = conn.client.transaction().await.map_err(from_pg)?;
        tx.batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .await
            .map_err(from_pg)?;
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(from_pg)?
            .get(0);
        tx.batch_execute(&format!("TRUNCATE {table}"))
            .await
            .map_err(from_pg)?;
        tx.commit().await.map_err(from_pg)?;
        Ok(rows as u64)
    }

    /// Bars from the first usable rollup that is fresh for the query's range, or `None` (bars from the
    /// table). The choice and the read share one repeatable-read snapshot, so a restatement committed in
    /// between cannot make a stale view look fresh. (One statement with a branch per view and one for the
    /// table, gated on the choice, was tried: PostgreSQL's executor start-up over the table's branch cost
    /// seconds on millions of rows even when the branch never ran.)
    async fn kline_from_rollups(
        &self,
        spec: &TableSpec,
        schema_name: &str,
        interval: Interval,
        query: &Query,
        candidates: &[(String, i64)],
        schema: &arrow::datatypes::SchemaRef,
    ) -> Result<Option<Vec<RecordBatch>>> {
        let mut conn = self.read_conn().await?;
        let views = self
            .usable_rollups(&conn.client, spec, schema_name, candidates)
            .await;
        if views.is_empty() {
            return Ok(None);
        }
        let tx = conn
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(from_pg)?;
        let pick = rollup::pick(spec, query, &views);
        let picked: i32 = tx
            .query_typed(&pick.sql, &typed(&pick.params))
            .await
            .map_err(from_pg)?
            .first()
            .map(|row| row.get(0))
            .unwrap_or(0);
        let Some(view) = usize::try_from(picked)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| views.get(i))
        else {
            return Ok(None);
        };
        let Some(statement) = rollup::kline(spec, schema_name, interval, query, view) else {
            return Ok(None);
        };
        let rows = tx
            .query_typed_raw(&statement.sql, typed(&statement.params))
            .await
            .map_err(from_pg)?;
        let batches = decode_all(rows, schema.clone()).await?;
        tx.commit().await.map_err(from_pg)?;
        Ok(Some(batches))
    }

    /// An unversioned save: its partitions made sure of, then written through the table's group-commit lane.
    async fn save_grouped(
        &self,
        spec: &Arc<TableSpec>,
        schema: &str,
        batch: RecordBatch,
    ) -> Result<u64> {
        self.ensure_partitions(spec, schema, &batch).await?;
        let lane = self.lane(schema, &spec.table)?;
        let (pool, spec, schema) = (self.pool.clone(), spec.clone(), schema.to_string());
        lane.save(batch, move |batches| {
            let (pool, spec, schema) = (pool.clone(), spec.clone(), schema.clone());
            async move { write_merged(&spec, batches, |b| save_rows(&pool, &spec, &schema, b)).await }
        })
        .await
    }

    /// The group-commit queue of a table.
    fn lane(&self, schema: &str, table: &str) -> Result<Arc<GroupLane>> {
        let mut lanes = self
            .lanes
            .lock()
            .map_err(|_| Error::store("write queues poisoned"))?;
        Ok(lanes
            .entry(format!("{schema}.{table}"))
            .or_insert_with(|| Arc::new(GroupLane::new(GROUP_LEADERS, GROUP_ROWS)))
            .clone())
    }

    fn uses_timescale(&self) -> bool {
        matches!(self.timescale_state(), Some(Timescale::InUse(_)))
    }

    /// Finds out (once) whether TimescaleDB is there; with `create`, installs it when available.
    async fn detect_timescale(
        &self,
        client: &tokio_postgres::Client,
        create: bool,
    ) -> Result<Timescale> {
        if let Some(known) = self.timescale_state() {
            if matches!(known, Timescale::InUse(_)) || !create {
                return Ok(known);
            }
        }
        let state = if self.mode == TimescaleMode::Off {
            Timescale::NotUsed("`timescale: off` in the store settings".into())
        } else {
            let installed: Option<String> = client
                .query_opt(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                    &[],
                )
                .await
                .map_err(from_pg)?
                .map(|r| r.get(0));
            match installed {
                Some(v) => Timescale::InUse(v),
                None => {
                    let available = client
                        .query_opt(
                            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
                            &[],
                        )
                        .await
                        .map_err(from_pg)?
                        .is_some();
                    // CREATE EXTENSION without the library preloaded is FATAL: it ends the session.
                    let preloaded = if available {
                        let libs: String = client
                            .query_one("SELECT current_setting('shared_preload_libraries')", &[])
                            .await
                            .map_err(from_pg)?
                            .get(0);
                        libs.split(',').any(|l| l.trim() == "timescaledb")
                    } else {
                        false
                    };
                    if !available {
                        Timescale::NotUsed(
                            "the server does not offer the timescaledb extension".into(),
                        )
                    } else if !preloaded {
                        Timescale::NotUsed(
                            "timescaledb is installed on the server but not in shared_preload_libraries".into(),
                        )
                    } else if !create {
                        Timescale::NotUsed("the timescaledb extension is not created yet".into())
                    } else {
                        match client
                            .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                            .await
                        {
                            Ok(()) => {
                                let v: String = client
                                    .query_one(
                                        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                                        &[],
                                    )
                                    .await
                                    .map_err(from_pg)?
                                    .get(0);
                                Timescale::InUse(v)
                            }
                            Err(e) => Timescale::NotUsed(format!(
                                "CREATE EXTENSION timescaledb failed: {}",
                                from_pg(e).message()
                            )),
                        }
                    }
                }
            }
        };
        if self.mode == TimescaleMode::On {
            if let Timescale::NotUsed(why) = &state {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("store `{}` has `timescale: on` but {why}", self.info.name),
                ));
            }
        }
        if let Ok(mut g) = self.timescale.lock() {
            *g = Some(state.clone());
        }
        Ok(state)
    }

    async fn query_all(
        &self,
        statement: Statement,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        let conn = self.read_conn().await?;
        let params = typed(&statement.params);
        let rows = conn
            .client
            .query_typed_raw(&statement.sql, params)
            .await
            .map_err(from_pg)?;
        decode_all(rows, schema).await
    }

    /// Keys of the first, middle and last row: if none is in the table the batch very likely adds only new
    /// rows, and COPY straight in is worth trying.
    fn probe_keys(spec: &TableSpec, batch: &RecordBatch) -> Result<Vec<Vec<Scalar>>> {
        let n = batch.num_rows();
        let mut rows = vec![0, n / 2, n.saturating_sub(1)];
        rows.dedup();
        let key_columns: Vec<usize> = spec
            .key
            .iter()
            .filter_map(|k| spec.column_index(k))
            .collect();
        rows.iter()
            .map(|&r| {
                key_columns
                    .iter()
                    .map(|&c| scalar_at(batch.column(c).as_ref(), r))
                    .collect()
            })
            .collect()
    }

    async fn copy(
        tx: &Transaction<'_>,
        copy_sql: &str,
        spec: &TableSpec,
        batch: &RecordBatch,
    ) -> Result<()> {
        let sink = tx.copy_in(copy_sql).await.map_err(from_pg)?;
        futures::pin_mut!(sink);
        let mut encoder = Encoder::new(spec, batch)?;
        while let Some(chunk) = encoder.next_chunk() {
            sink.feed(chunk).await.map_err(from_pg)?;
        }
        sink.finish().await.map_err(from_pg)?;
        Ok(())
    }
}

/// One transaction writing `batch`: COPY straight in when no probed key is there, else through the session's
/// staging table and an upsert.
async fn save_rows(pool: &Pool, spec: &TableSpec, schema: &str, batch: RecordBatch) -> Result<u64> {
    let batch = &batch;
    let mut conn = pool.get().await?;
    let pool::PgConnection { client, staging } = &mut *conn;
    let rows = batch.num_rows() as u64;
    let table = crate::ddl::qualified(schema, &spec.table);
    let mut tx = client.transaction().await.map_err(from_pg)?;
    if spec.key.is_empty() {
        PostgresStore::copy(&tx, &sql::copy_in(spec, &table), spec, batch).await?;
        tx.commit().await.map_err(from_pg)?;
        return Ok(rows);
    }
    let probe = sql::any_key_exists(spec, schema, &PostgresStore::probe_keys(spec, batch)?);
    let params = typed(&probe.params);
    let (exists, was_empty): (bool, bool) = {
        let stream = tx
            .query_typed_raw(&probe.sql, params)
            .await
            .map_err(from_pg)?;
        futures::pin_mut!(stream);
        match stream.next().await {
            Some(row) => {
                let row = row.map_err(from_pg)?;
                (row.get(0), row.get(1))
            }
            None => (true, false),
        }
    };
    if !exists {
        // No probed key is there: COPY straight in. A conflict elsewhere in the batch aborts only the
        // savepoint, and the staging merge below takes over.
        let savepoint = tx.savepoint("quantdal_direct").await.map_err(from_pg)?;
        match PostgresStore::copy(&savepoint, &sql::copy_in(spec, &table), spec, batch).await {
            Ok(()) => {
                savepoint.commit().await.map_err(from_pg)?;
                tx.commit().await.map_err(from_pg)?;
                if was_empty && rows >= ANALYZE_AFTER_ROWS {
                    // The planner knows nothing of a table just filled in bulk (autovacuum analyzes it
                    // only later) and would sort a range load on disk instead of using the key index.
                    if let Err(e) = client.batch_execute(&format!("ANALYZE {table}")).await {
                        tracing::warn!(table = %table, error = %e, "ANALYZE after a bulk load failed");
                    }
                }
                return Ok(rows);
            }
            Err(e) if is_unique_violation(&e) => {
                savepoint.rollback().await.map_err(from_pg)?;
            }
            Err(e) => return Err(e),
        }
    }
    let stage = sql::staging_name(spec, schema);
    let created_now = !staging.contains(&stage);
    if created_now {
        tx.batch_execute(&sql::create_staging(spec, schema))
            .await
            .map_err(from_pg)?;
    }
    let stage_q = crate::ddl::quote(&stage);
    PostgresStore::copy(&tx, &sql::copy_in(spec, &stage_q), spec, batch).await?;
    tx.execute(&sql::merge_from_staging(spec, schema), &[])
        .await
        .map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)?;
    // Only now: had the transaction rolled back, the temp table's creation would have gone with it.
    if created_now {
        staging.insert(stage);
    }
    Ok(rows)
}

/// Every row of a result as Arrow batches of up to [`LOAD_CHUNK_ROWS`] rows (one empty batch for none).
async fn decode_all(
    rows: tokio_postgres::RowStream,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Vec<RecordBatch>> {
    futures::pin_mut!(rows);
    let mut decoder = BatchDecoder::new(schema, 1024)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await {
        decoder.push(&row.map_err(from_pg)?)?;
        if decoder.rows() >= LOAD_CHUNK_ROWS as usize {
            out.push(decoder.finish()?);
        }
    }
    if decoder.rows() > 0 || out.is_empty() {
        out.push(decoder.finish()?);
    }
    Ok(out)
}

/// Bound parameters with their types, as `query_typed` takes them.
fn typed(params: &[sql::Param]) -> Vec<(&(dyn ToSql + Sync), tokio_postgres::types::Type)> {
    params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), p.ty.clone()))
        .collect()
}

fn is_unique_violation(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .and_then(|pg| pg.code())
        .map(|c| *c == SqlState::UNIQUE_VIOLATION)
        .unwrap_or(false)
}

/// The key value of one cell as a bindable scalar (key columns are never null).
fn scalar_at(array: &dyn Array, row: usize) -> Result<Scalar> {
    use arrow::datatypes::{DataType, TimeUnit};
    let storable = !matches!(
        array.data_type(),
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Nanosecond, _)
    );
    Scalar::of_cell(array, row)
        .filter(|_| storable)
        .ok_or_else(|| {
            Error::invalid_batch(format!(
                "key column of type {} cannot be stored in PostgreSQL",
                array.data_type()
            ))
        })
}

#[async_trait]
impl Store for PostgresStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    fn gauges(&self) -> Vec<Gauge> {
        let (open, idle) = self.pool_state();
        let labels = format!("store=\"{}\"", self.info.name);
        vec![
            Gauge {
                metric: "quantdal_pool_connections".into(),
                help: "Open connections of a store's pool.".into(),
                labels: labels.clone(),
                value: f64::from(open),
            },
            Gauge {
                metric: "quantdal_pool_idle_connections".into(),
                help: "Idle connections of a store's pool.".into(),
                labels,
                value: f64::from(idle),
            },
        ]
    }

    async fn provision(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let schema = self.schema_of(spec).to_string();
        let ctx = with_context(spec, &schema, "provision");
        let mut conn = self.conn().await.map_err(&ctx)?;
        let client = &mut conn.client;
        let timescale = self.detect_timescale(client, true).await.map_err(&ctx)?;
        let in_use = matches!(timescale, Timescale::InUse(_));
        // Hypertables stand in for the BRIN index; classes that are not hypertables keep it.
        let brin = !(in_use && crate::ddl::wants_hypertable(spec));
        let partitioned = brin && crate::partitions::declared(spec).map_err(&ctx)?.is_some();
        let ts_statements = if in_use {
            timescale_statements(spec, &schema).map_err(&ctx)?
        } else {
            Vec::new()
        };
        let live = live_table(client, &schema, &spec.table)
            .await
            .map_err(&ctx)?;
        let status = match live {
            None => {
                let tx = client.transaction().await.map_err(from_pg).map_err(&ctx)?;
                // Two processes provisioning at once would race on the catalog; one waits for the other.
                tx.batch_execute("SELECT pg_advisory_xact_lock(7262636431)")
                    .await
                    .map_err(from_pg)
                    .map_err(&ctx)?;
                for stmt in table_statements(spec, &schema, brin, partitioned) {
                    tx.batch_execute(&stmt)
                        .await
                        .map_err(from_pg)
                        .map_err(&ctx)?;
                }
                // Continuous aggregates cannot be created inside a transaction block; what follows their
                // creation (real-time reads, refresh policy) comes after it.
                let (in_tx, after): (Vec<_>, Vec<_>) = ts_statements.iter().partition(|s| {
                    !s.contains("MATERIALIZED VIEW")
                        && !s.contains("add_continuous_aggregate_policy")
                });
                for stmt in in_tx {
                    tx.batch_execute(stmt)
                        .await
                        .map_err(from_pg)
                        .map_err(&ctx)?;
                }
                tx.commit().await.map_err(from_pg).map_err(&ctx)?;
                for stmt in after {
                    client
                        .batch_execute(stmt)
                        .await
                        .map_err(from_pg)
                        .map_err(&ctx)?;
                }
                ProvisionStatus::Created
            }
            Some(live) => {
                let diffs = differences(spec, &schema, &live, brin);
                // Missing indexes and the Timescale setup are additive and idempotent: create them.
                for d in &diffs {
                    if let Fix::Additive(stmt) = &d.fix {
                        if stmt.starts_with("CREATE ") {
                            client
                                .batch_execute(stmt)
                                .await
                                .map_err(from_pg)
                                .map_err(&ctx)?;
                        }
                    }
                }
                for stmt in &ts_statements {
                    client
                        .batch_execute(stmt)
                        .await
                        .map_err(from_pg)
                        .map_err(&ctx)?;
                }
                let remaining: Vec<String> = diffs
                    .into_iter()
                    .filter(|d| !matches!(&d.fix, Fix::Additive(s) if s.starts_with("CREATE ")))
                    .map(|d| d.description)
                    .collect();
                if remaining.is_empty() {
                    ProvisionStatus::AlreadyPresent
                } else {
                    ProvisionStatus::Drift(remaining)
                }
            }
        };
        Ok(status)
    }

    async fn check(&self, spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        let schema = self.schema_of(spec).to_string();
        let ctx = with_context(spec, &schema, "check");
        // A bad `postgres.partition` is reported here too, not only when provisioning.
        crate::partitions::declared(spec).map_err(&ctx)?;
        let conn = self.conn().await.map_err(&ctx)?;
        let in_use = matches!(
            self.detect_timescale(&conn.client, false)
                .await
                .map_err(&ctx)?,
            Timescale::InUse(_)
        );
        let brin = !(in_use && crate::ddl::wants_hypertable(spec));
        Ok(
            match live_table(&conn.client, &schema, &spec.table)
                .await
                .map_err(&ctx)?
            {
                None => ProvisionStatus::Missing,
                Some(live) => {
                    let diffs = differences(spec, &schema, &live, brin);
                    if diffs.is_empty() {
                        ProvisionStatus::AlreadyPresent
                    } else {
                        ProvisionStatus::Drift(diffs.into_iter().map(|d| d.description).collect())
                    }
                }
            },
        )
    }

    async fn migrate(&self, spec: &Arc<TableSpec>) -> Result<Migration> {
        let schema = self.schema_of(spec).to_string();
        let ctx = with_context(spec, &schema, "migrate");
        let mut conn = self.conn().await.map_err(&ctx)?;
        let in_use = matches!(
            self.detect_timescale(&conn.client, false)
                .await
                .map_err(&ctx)?,
            Timescale::InUse(_)
        );
        let brin = !(in_use && crate::ddl::wants_hypertable(spec));
        match live_table(&conn.client, &schema, &spec.table)
            .await
            .map_err(&ctx)?
        {
            None => Ok(Migration {
                applied: Vec::new(),
                refused: vec!["table is missing: run `quantdal provision` to create it".into()],
            }),
            Some(live) => {
                let diffs = differences(spec, &schema, &live, brin);
                migrate(&mut conn.client, &diffs).await.map_err(&ctx)
            }
        }
    }

    fn provision_notes(&self, spec: &TableSpec) -> Vec<String> {
        match self.timescale_state() {
            Some(Timescale::NotUsed(why)) => {
                let features = timescale_features(spec);
                if features.is_empty() {
                    return Vec::new();
                }
                let brin = crate::ddl::brin_index_name(spec).unwrap_or_default();
                vec![format!(
                    "TimescaleDB not used ({why}): skipped {}; plain table with BRIN index {brin}",
                    features.join(", ")
                )]
            }
            _ => Vec::new(),
        }
    }

    async fn save(&self, spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        let schema = self.schema_of(spec).to_string();
        let saved = if spec.versions.is_some() {
            self.save_versioned(spec, &schema, &batch).await
        } else {
            match self.save_grouped(spec, &schema, batch.clone()).await {
                Err(e) if partitioned::is_missing_partition(&e) => {
                    self.forget_partitions(&crate::ddl::qualified(&schema, &spec.table));
                    self.save_grouped(spec, &schema, batch).await
                }
                saved => saved,
            }
        };
        saved.map_err(with_context(spec, &schema, "save"))
    }

    async fn load(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let schema_name = self.schema_of(spec).to_string();
        let statement = versioned::read(
            spec,
            &schema_name,
            &query,
            sql::select(spec, &schema_name, &query),
        )?;
        let schema = projected_schema(spec, &query.columns);
        let conn = self
            .read_conn()
            .await
            .map_err(with_context(spec, &schema_name, "load"))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        // The reader fetches chunk k+1 from the portal while the decoder turns chunk k into Arrow, so the
        // server and the client work at the same time.
        let (rows_tx, mut rows_rx) =
            tokio::sync::mpsc::channel::<Result<Vec<tokio_postgres::Row>>>(2);
        let decode_schema = schema.clone();
        tokio::spawn(async move {
            let mut sent = false;
            while let Some(item) = rows_rx.recv().await {
                let rows = match item {
                    Ok(rows) => rows,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let batch =
                    BatchDecoder::new(decode_schema.clone(), rows.len()).and_then(|mut d| {
                        for row in &rows {
                            d.push(row)?;
                        }
                        d.finish()
                    });
                let failed = batch.is_err();
                if rows.is_empty() && sent {
                    continue;
                }
                sent = true;
                // A closed channel means the caller dropped the stream: the reader stops at its next send.
                if tx.send(batch).await.is_err() || failed {
                    return;
                }
            }
        });
        let ctx_spec = spec.clone();
        tokio::spawn(async move {
            let mut conn = conn;
            let run = async {
                let transaction = conn
                    .client
                    .build_transaction()
                    .read_only(true)
                    .start()
                    .await
                    .map_err(from_pg)?;
                let prepared = transaction
                    .prepare_typed(&statement.sql, &statement.types())
                    .await
                    .map_err(from_pg)?;
                let portal = transaction
                    .bind_raw(&prepared, statement.params.iter())
                    .await
                    .map_err(from_pg)?;
                loop {
                    let stream = transaction
                        .query_portal_raw(&portal, LOAD_CHUNK_ROWS)
                        .await
                        .map_err(from_pg)?;
                    let rows: Vec<tokio_postgres::Row> =
                        stream.try_collect().await.map_err(from_pg)?;
                    let n = rows.len();
                    if rows_tx.send(Ok(rows)).await.is_err() {
                        return Ok(());
                    }
                    if n < LOAD_CHUNK_ROWS as usize {
                        break;
                    }
                }
                transaction.commit().await.map_err(from_pg)?;
                Ok::<(), Error>(())
            };
            // Errors travel behind the rows already read, so the stream yields them in order.
            if let Err(e) = run.await {
                let ctx = with_context(&ctx_spec, &schema_name, "load");
                let _ = rows_tx.send(Err(ctx(e))).await;
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    async fn latest(&self, spec: &Arc<TableSpec>, query: Query) -> Result<Vec<RecordBatch>> {
        let schema_name = self.schema_of(spec).to_string();
        let statement = sql::latest(spec, &schema_name, &query).ok_or_else(|| {
            Error::invalid_query("the class has no time column, so it has no latest row per series")
                .with_class(spec.name.clone())
        })?;
        let statement = versioned::read(spec, &schema_name, &query, statement)?;
        let schema = projected_schema(spec, &query.columns);
        self.query_all(statement, schema)
            .await
            .map_err(with_context(spec, &schema_name, "latest"))
    }

    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        interval: Interval,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let schema_name = self.schema_of(spec).to_string();
        let ctx = with_context(spec, &schema_name, "kline");
        let schema = kline_schema(spec)?;
        let no_source = || {
            Error::invalid_query("the class declares no kline source").with_class(spec.name.clone())
        };
        if self.timescale_state().is_none() {
            let conn = self.read_conn().await.map_err(&ctx)?;
            self.detect_timescale(&conn.client, false)
                .await
                .map_err(&ctx)?;
        }
        let candidates = rollup::candidates(spec, interval, &query);
        if self.uses_timescale() && !candidates.is_empty() {
            let served = self
                .kline_from_rollups(spec, &schema_name, interval, &query, &candidates, &schema)
                .await
                .map_err(&ctx)?;
            if let Some(batches) = served {
                return Ok(batches);
            }
        }
        let statement = sql::kline(spec, &schema_name, interval, &query, self.uses_timescale())
            .ok_or_else(no_source)?;
        let statement = versioned::read(spec, &schema_name, &query, statement)?;
        self.query_all(statement, schema).await.map_err(&ctx)
    }

    async fn bars(
        &self,
        spec: &Arc<TableSpec>,
        bar: InfoBar,
        query: Query,
    ) -> Result<Vec<RecordBatch>> {
        let schema_name = self.schema_of(spec).to_string();
        let schema = bar_schema(spec)?;
        let statement = versioned::bars(spec, &schema_name, bar, &query)?;
        self.query_all(statement, schema)
            .await
            .map_err(with_context(spec, &schema_name, "kline"))
    }

    async fn history(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream> {
        let schema_name = self.schema_of(spec).to_string();
        let statement = versioned::history(spec, &schema_name, &query);
        self.read_all_stream(statement, history_schema(spec, &query.columns))
            .await
            .map_err(with_context(spec, &schema_name, "history"))
    }

    async fn delete(&self, spec: &Arc<TableSpec>, query: Query) -> Result<u64> {
        let schema_name = self.schema_of(spec).to_string();
        if spec.versions.is_some() {
            // A tombstone per key, even for "every row": the history stays readable as of earlier times.
            return self
                .delete_versioned(spec, &schema_name, &query)
                .await
                .map_err(with_context(spec, &schema_name, "delete"));
        }
        if query.time.is_none() && query.conditions.is_empty() {
            return self
                .truncate(spec, &schema_name)
                .await
                .map_err(with_context(spec, &schema_name, "truncate"));
        }
        let statement = sql::delete(spec, &schema_name, &query);
        let run = async {
            let conn = self.conn().await?;
            let params = typed(&statement.params);
            conn.client
                .execute_typed(&statement.sql, &params)
                .await
                .map_err(from_pg)
        };
        run.await
            .map_err(with_context(spec, &schema_name, "delete"))
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

    async fn compact(&self, specs: &[Arc<TableSpec>]) -> Result<Vec<String>> {
        admin::vacuum(self, specs).await
    }

    async fn count(&self, spec: &Arc<TableSpec>) -> Result<u64> {
        let schema_name = self.schema_of(spec).to_string();
        let run = async {
            // A versioned class holds the keys as known now (its revisions are `history`).
            let statement = versioned::count(spec, &schema_name)?;
            let conn = self.conn().await?;
            let params = typed(&statement.params);
            let n: i64 = conn
                .client
                .query_typed(&statement.sql, &params)
                .await
                .map_err(from_pg)?
                .first()
                .map(|r| r.get(0))
                .unwrap_or_default();
            Ok(n.max(0) as u64)
        };
        run.await.map_err(with_context(spec, &schema_name, "count"))
    }

    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        query: Option<&Query>,
    ) -> Option<StatementText> {
        let schema = self.schema_of(spec);
        let statement = match (operation, query) {
            (Operation::Save, _) if spec.versions.is_some() => Statement {
                sql: versioned::save_statement(spec, schema),
                params: Vec::new(),
            },
            (Operation::Save, _) => {
                let text = if spec.key.is_empty() {
                    sql::copy_in(spec, &crate::ddl::qualified(schema, &spec.table))
                } else {
                    format!(
                        "{}; {}",
                        sql::copy_in(spec, &crate::ddl::quote(&sql::staging_name(spec, schema))),
                        sql::merge_from_staging(spec, schema)
                    )
                };
                Statement {
                    sql: text,
                    params: Vec::new(),
                }
            }
            (Operation::Load, Some(q)) => {
                versioned::read(spec, schema, q, sql::select(spec, schema, q)).ok()?
            }
            (Operation::Latest, Some(q)) => {
                versioned::read(spec, schema, q, sql::latest(spec, schema, q)?).ok()?
            }
            (Operation::Kline, Some(q)) => {
                let day = Interval::from_seconds(86_400)?;
                let statement = sql::kline(spec, schema, day, q, self.uses_timescale())?;
                versioned::read(spec, schema, q, statement).ok()?
            }
            (Operation::Delete, Some(q)) => sql::delete(spec, schema, q),
            (Operation::Count, _) => Statement {
                sql: sql::count(spec, schema),
                params: Vec::new(),
            },
            _ => return None,
        };
        Some(StatementText {
            parameters: statement.params.len(),
            sql: statement.sql,
        })
    }
}
