//! The write path: what the store knows about each table it writes, group commit, and the statements each
//! layout saves with.
//!
//! **Group commit.** A live feed is many small concurrent saves. Each one alone pays a full DuckDB commit
//! (WAL write and sync) and a statement plan, and writes to one table are serialised, so they queue. Saves
//! join their table's queue ([`quantdal_core::group`], one group at a time per table), and a group is
//! written as one transaction under the table's lock; its guarantees per caller are those of a lone save.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute;
use arrow::datatypes::{DataType, Int64Type};
use duckdb::vtab::arrow::ArrowBatchRegistration;
use duckdb::{Connection, ToSql};
use quantdal_core::group::{merge_batches, GroupLane};
use quantdal_core::load::Scalar;
use quantdal_core::{Error, NeutralType, Result, TableSpec, TimePrecision};
use tokio::sync::Mutex as AsyncMutex;

use crate::ddl::{self, quote, Layout};
use crate::errors::from_duckdb;
use crate::pool::Pool;
use crate::series_bounds::{SeriesBounds, SeriesTimes};
use crate::sql::{self, Bound};
use crate::{split_rows, strip_timezones, ARROW_SCAN};

/// Rows one group transaction takes at most: enough to amortise a commit over a feed's bursts, small enough
/// that merging (a copy of the batches) stays cheap next to the insert.
pub(crate) const GROUP_ROWS: usize = 262_144;

/// What this process knows about a table. One process owns a file read-write, and every write of this
/// process holds the table's lock while it changes the table, so the knowledge stays true between writes.
#[derive(Debug, Default)]
pub(crate) struct TableState {
    /// Read from the file (once per table per process, at the first write).
    known: bool,
    layout: Option<Layout>,
    /// The table holds no row: a save is a plain INSERT.
    empty: bool,
    /// Every row held has its time at or before this (class ticks; days for DATE). Exact after saves, an
    /// upper bound after deletes; `None` when unknown or empty.
    max_time: Option<i64>,
    /// The same bound per series (series layout).
    series: SeriesBounds,
}

impl TableState {
    /// The table was emptied (truncate, or recreated).
    pub(crate) fn reset_empty(&mut self, layout: Layout) {
        *self = TableState {
            known: true,
            layout: Some(layout),
            empty: true,
            max_time: None,
            series: SeriesBounds::starting_at(None),
        };
    }

    /// After a failed write, what it may have left is unknown (a commit can fail after its rows reached the
    /// file): bounds at the largest time make the rest of the group delete before inserting (no save can
    /// lower them), and the next group reads the table again.
    fn distrust(&mut self) {
        self.known = false;
        self.empty = false;
        self.max_time = Some(i64::MAX);
        self.series = SeriesBounds::starting_at(Some(i64::MAX));
    }

    /// Forget everything (the table was changed in a way not tracked, e.g. migrated).
    pub(crate) fn forget(&mut self) {
        *self = TableState::default();
    }
}

/// One table's write queue (group commit, one group at a time: DuckDB serialises writes to a table) and the
/// lock every change of the table holds.
pub(crate) struct Lane {
    pub(crate) state: Arc<AsyncMutex<TableState>>,
    group: GroupLane,
}

impl Default for Lane {
    fn default() -> Self {
        Lane {
            state: Arc::default(),
            group: GroupLane::new(1, GROUP_ROWS),
        }
    }
}

/// What a write needs from the store, owned, so a group can run on a task of its own.
#[derive(Clone)]
pub(crate) struct Writer {
    pub(crate) pool: Arc<Pool>,
    /// Slices a batch is scanned in (DuckDB's thread count).
    pub(crate) parallelism: usize,
}

/// Saves `batch` (validated, non-empty) through the table's queue; returns once it is committed.
pub(crate) async fn save(
    writer: &Writer,
    lane: &Arc<Lane>,
    spec: &Arc<TableSpec>,
    batch: RecordBatch,
) -> Result<u64> {
    lane.group
        .save(batch, |batches| {
            let (writer, spec, state) = (writer.clone(), spec.clone(), lane.state.clone());
            async move {
                let members = batches.len();
                let mut state = state.lock_owned().await;
                tokio::task::spawn_blocking(move || {
                    write_group(&writer, &spec, &mut state, &batches)
                })
                .await
                .unwrap_or_else(|e| {
                    let message = format!("blocking write task failed: {e}");
                    (0..members)
                        .map(|_| Err(Error::store(message.clone())))
                        .collect()
                })
            }
        })
        .await
}

/// Writes a group; one result per batch, in order.
fn write_group(
    writer: &Writer,
    spec: &TableSpec,
    state: &mut TableState,
    batches: &[RecordBatch],
) -> Vec<Result<u64>> {
    let conn = match writer.pool.get() {
        Ok(c) => c,
        Err(e) => return batches.iter().map(|_| Err(copy(&e))).collect(),
    };
    if !state.known {
        match read_state(&conn, spec) {
            Ok(s) => *state = s,
            Err(e) => return batches.iter().map(|_| Err(copy(&e))).collect(),
        }
    }
    let alone = |state: &mut TableState| -> Vec<Result<u64>> {
        batches
            .iter()
            .map(|b| write(&conn, writer.parallelism, spec, state, b).map(|()| b.num_rows() as u64))
            .collect()
    };
    if batches.len() == 1 {
        return alone(state);
    }
    // Keys collide across batches (or merging failed): in arrival order, one by one.
    let Some(merged) = merge_batches(spec, batches) else {
        return alone(state);
    };
    match write(&conn, writer.parallelism, spec, state, &merged) {
        Ok(()) => batches.iter().map(|b| Ok(b.num_rows() as u64)).collect(),
        Err(_) => alone(state),
    }
}

/// The same error for each member of a group that failed before writing.
fn copy(e: &Error) -> Error {
    Error::new(e.kind(), e.message().to_string()).set_temporary(e.is_temporary())
}

/// The table's layout, and whether it holds rows and up to which time, from the file.
fn read_state(conn: &Connection, spec: &TableSpec) -> Result<TableState> {
    let indexed: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() \
             AND schema_name = 'main' AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
            [&spec.table],
            |r| r.get(0),
        )
        .map_err(from_duckdb)?;
    let layout = match ddl::layout(spec) {
        Layout::Plain => Layout::Plain,
        // Files made before the series layout key every keyed table with a PRIMARY KEY: keep using it.
        _ if indexed > 0 => Layout::Indexed,
        // A keyed table without its index (made by hand, or a series table): merge by deleting first.
        _ => Layout::Series,
    };
    let table = quote(&spec.table);
    let max_time = match time_in_key(spec) {
        Some((column, ty)) => {
            let expr = max_time_sql(&quote(column), ty, spec.precision());
            conn.query_row(&format!("SELECT {expr} FROM {table}"), [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(from_duckdb)?
        }
        None => None,
    };
    let empty = match max_time {
        Some(_) => false,
        None => !conn
            .query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| {
                r.get::<_, bool>(0)
            })
            .map_err(from_duckdb)?,
    };
    Ok(TableState {
        known: true,
        layout: Some(layout),
        empty,
        max_time,
        series: SeriesBounds::starting_at(max_time),
    })
}

/// The newest time held, as class ticks (days for DATE). `epoch_ms` of a TIMESTAMP_MS fails in this DuckDB
/// build, so milliseconds go through the (lossless) microsecond type.
pub(crate) fn max_time_sql(column: &str, ty: NeutralType, precision: TimePrecision) -> String {
    match (ty, precision) {
        (NeutralType::Date, _) => format!("CAST(max({column}) - DATE '1970-01-01' AS BIGINT)"),
        (_, TimePrecision::Ms) => format!("epoch_ms(CAST(max({column}) AS TIMESTAMP))"),
        (_, TimePrecision::Us) => format!("epoch_us(max({column}))"),
        (_, TimePrecision::Ns) => format!("epoch_ns(max({column}))"),
    }
}

/// The time column and its type, when it is part of the key (so every replaced row lies in the batch's
/// time range).
fn time_in_key(spec: &TableSpec) -> Option<(&str, NeutralType)> {
    let time = spec.time_column()?;
    spec.key
        .iter()
        .any(|k| k == &time.name)
        .then_some((time.name.as_str(), time.data_type))
}

/// Smallest and largest value of column `index` as class ticks (days for DATE); `None` if all null.
fn int_range(batch: &RecordBatch, index: usize) -> Result<Option<(i64, i64)>> {
    let column = compute::cast(batch.column(index), &DataType::Int64)?;
    let values = column.as_primitive::<Int64Type>();
    Ok(compute::min(values).zip(compute::max(values)))
}

/// Bounds on the batch's time column and its text series columns: a replaced row must lie inside them.
fn bounds(spec: &TableSpec, batch: &RecordBatch) -> Result<Vec<Bound>> {
    let mut out = Vec::new();
    if let Some((name, ty)) = time_in_key(spec) {
        if let (Some(i), Some((lo, hi))) = (
            spec.column_index(name),
            spec.column_index(name)
                .map(|i| int_range(batch, i))
                .transpose()?
                .flatten(),
        ) {
            let scalar = |v: i64| -> Result<Scalar> {
                Ok(match ty {
                    NeutralType::Date => Scalar::Date(
                        i32::try_from(v).map_err(|_| Error::store("date out of range"))?,
                    ),
                    _ => Scalar::Timestamp(v),
                })
            };
            out.push(Bound {
                column: i,
                low: scalar(lo)?,
                high: scalar(hi)?,
            });
        }
    }
    for s in spec.series_columns() {
        let Some(i) = spec.column_index(s) else {
            continue;
        };
        if let Some(text) = batch.column(i).as_string_opt::<i32>() {
            if let (Some(lo), Some(hi)) = (compute::min_string(text), compute::max_string(text)) {
                out.push(Bound {
                    column: i,
                    low: Scalar::Utf8(lo.to_string()),
                    high: Scalar::Utf8(hi.to_string()),
                });
            }
        }
    }
    Ok(out)
}

/// Writes one batch atomically in the table's layout and updates what is known about the table.
fn write(
    conn: &Connection,
    parallelism: usize,
    spec: &TableSpec,
    state: &mut TableState,
    batch: &RecordBatch,
) -> Result<()> {
    let written = write_layout(conn, parallelism, spec, state, batch);
    if written.is_err() {
        state.distrust();
    }
    written
}

fn write_layout(
    conn: &Connection,
    parallelism: usize,
    spec: &TableSpec,
    state: &mut TableState,
    batch: &RecordBatch,
) -> Result<()> {
    if spec.versions.is_some() {
        // Revisions append; none of the layouts' replace-by-key paths apply.
        return crate::versioned::save(conn, parallelism, spec, batch);
    }
    let layout = state.layout.unwrap_or_else(|| ddl::layout(spec));
    let time_index = time_in_key(spec).and_then(|(name, _)| spec.column_index(name));
    let time_range = time_index
        .map(|i| int_range(batch, i))
        .transpose()?
        .flatten();
    let scan_batch = strip_timezones(batch)?;
    // The Arrow table function scans on one thread; one slice per DuckDB thread joined by UNION ALL lets
    // the insert pipelines run in parallel.
    let slices = split_rows(&scan_batch, parallelism);
    let scans = vec![format!("{ARROW_SCAN}(?)"); slices.len()];
    let insert = || -> Result<()> {
        let sql = match layout {
            Layout::Indexed if !state.empty => sql::upsert(spec, &scans),
            _ => sql::insert(spec, &scans),
        };
        let registrations: Vec<ArrowBatchRegistration> = slices
            .iter()
            .cloned()
            .map(ArrowBatchRegistration::new)
            .collect();
        // One statement: DuckDB runs it atomically.
        unordered(conn, || {
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.execute(duckdb::params_from_iter(registrations.iter())))
                .map_err(from_duckdb)
        })?;
        Ok(())
    };
    // Tracked per series up to a group's size: a larger batch (a file's import) would spend more on the
    // per-row bookkeeping than it can save, and resets the bounds to the table's instead.
    let series_times = match (layout, time_index) {
        (Layout::Series, Some(i)) if batch.num_rows() <= GROUP_ROWS => {
            SeriesTimes::of(spec, batch, i)?
        }
        _ => None,
    };
    // A series table that is empty, or holds nothing at or after the batch's first time, or whose every
    // series holds nothing at or after the batch's first time of that series, cannot hold any of its keys:
    // appending is the whole save (the daily import's case, and the live feed's).
    let appends = state.empty
        || match (state.max_time, time_range) {
            (Some(max), Some((first, _))) => first > max,
            _ => false,
        }
        || series_times
            .as_ref()
            .is_some_and(|s| state.series.all_newer(s));
    if layout != Layout::Series || appends {
        insert()?;
    } else {
        let delete = sql::delete_keys(spec, &scans, &bounds(spec, batch)?);
        let registrations: Vec<ArrowBatchRegistration> = slices
            .iter()
            .cloned()
            .map(ArrowBatchRegistration::new)
            .collect();
        // `ToSql` is implemented for references to registrations.
        let refs: Vec<&ArrowBatchRegistration> = registrations.iter().collect();
        let mut params: Vec<&dyn ToSql> = refs.iter().map(|r| r as &dyn ToSql).collect();
        params.extend(delete.params.iter().map(|p| p as &dyn ToSql));
        conn.execute_batch("BEGIN TRANSACTION")
            .map_err(from_duckdb)?;
        let body = conn
            .prepare_cached(&delete.sql)
            .and_then(|mut s| s.execute(duckdb::params_from_iter(params.iter())))
            .map_err(from_duckdb)
            .and_then(|_| insert())
            .and_then(|()| conn.execute_batch("COMMIT").map_err(from_duckdb));
        if let Err(e) = body {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    state.empty = false;
    if let Some((_, last)) = time_range {
        state.max_time = Some(state.max_time.map_or(last, |m| m.max(last)));
    }
    match &series_times {
        Some(s) => state.series.record(s, state.max_time),
        None => state.series = SeriesBounds::starting_at(state.max_time),
    }
    Ok(())
}

/// Runs `insert` with `preserve_insertion_order` off for this session, so DuckDB may run the insert pipelines
/// in parallel (rows are always read back with an ORDER BY). Only around the insert: with the setting off, this
/// DuckDB also lets a sorted result of several chunks come back interleaved (tests/tests/duckdb.rs,
/// `large_results_keep_their_order`), so every other statement runs with the default.
fn unordered<T>(conn: &Connection, insert: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("SET SESSION preserve_insertion_order = false")
        .map_err(from_duckdb)?;
    let result = insert();
    conn.execute_batch("SET SESSION preserve_insertion_order = true")
        .map_err(from_duckdb)?;
    result
}

/// Removes every row; returns how many, and the layout when the table was made anew.
///
/// A table whose columns match the spec is dropped and created again in one transaction: its blocks are
/// free at the next checkpoint (run at once), and a re-import runs as into a fresh class, with no deleted
/// rows to skip and no index entries to keep. A table that drifted from the spec keeps its columns: a plain
/// DELETE, so nothing the spec does not describe is lost.
pub(crate) fn truncate(conn: &Connection, spec: &TableSpec) -> Result<(u64, Option<Layout>)> {
    let table = quote(&spec.table);
    let live = crate::live_columns(conn, &spec.table)?;
    let fresh = !live.is_empty() && crate::drift(spec, &live).is_empty();
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(from_duckdb)?;
    let body = || -> Result<u64> {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(from_duckdb)?;
        if fresh {
            conn.execute_batch(&format!("DROP TABLE {table}"))
                .map_err(from_duckdb)?;
            for statement in ddl::create_statements(spec) {
                conn.execute_batch(&statement).map_err(from_duckdb)?;
            }
        } else {
            conn.execute_batch(&format!("DELETE FROM {table}"))
                .map_err(from_duckdb)?;
        }
        conn.execute_batch("COMMIT").map_err(from_duckdb)?;
        Ok(n.max(0) as u64)
    };
    let n = match body() {
        Ok(n) => n,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    };
    // Gives the dropped table's blocks back now; a reader holding an older snapshot may make DuckDB decline,
    // and then the next automatic checkpoint does it.
    let _ = conn.execute_batch("CHECKPOINT");
    Ok((n, fresh.then(|| ddl::layout(spec))))
}
