//! The embedded store's operational entry points: guarded read-only SQL, per-series summaries in one
//! GROUP BY, storage figures from DuckDB's block accounting, and compaction by copying the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use duckdb::{AccessMode, Config, Connection};
use futures::StreamExt;
use quantdal_core::admin::{
    human_bytes, time_ns, FileCompaction, FileStorage, StorageReport, TableCheck, TableStorage,
};
use quantdal_core::{
    BatchStream, Error, ErrorKind, Query, Result, SeriesSummary, SqlRequest, TableSpec,
};

use crate::ddl::quote;
use crate::errors::{self, from_duckdb};
use crate::{sql, DuckDbStore};

/// Cancels a running statement at its deadline from a timer thread, unless the statement ends first.
struct Deadline {
    cancel: Option<std::sync::mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
}

impl Deadline {
    fn start(conn: &Connection, timeout: Duration) -> Deadline {
        let (cancel, wait) = std::sync::mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let handle = conn.interrupt_handle();
        let flag = fired.clone();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                flag.store(true, Ordering::SeqCst);
                handle.interrupt();
            }
        });
        Deadline {
            cancel: Some(cancel),
            fired,
        }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
    }
}

pub(crate) fn timeout_error(timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "the statement ran past its time limit of {} ms and was cancelled (sql.timeout_ms in quantdal.yaml, \
             or --timeout)",
            timeout.as_millis()
        ),
    )
}

/// Runs a guarded statement in a READ ONLY transaction, streaming its batches; the first batch always comes,
/// so callers see the columns of an empty result.
pub(crate) async fn run_sql(store: &DuckDbStore, request: &SqlRequest) -> Result<BatchStream> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(8);
    let pool = store.pool.clone();
    let request = request.clone();
    tokio::task::spawn_blocking(move || {
        let run = || -> Result<()> {
            let conn = pool.get()?;
            // A second guard behind the parser's: DuckDB itself refuses any write in this transaction.
            conn.execute_batch("BEGIN TRANSACTION READ ONLY")
                .map_err(from_duckdb)?;
            let deadline = Deadline::start(&conn, request.timeout);
            let outcome = (|| -> Result<()> {
                let mut stmt = conn.prepare(&request.sql).map_err(from_duckdb)?;
                let batches = stmt.stream_arrow([]).map_err(from_duckdb)?;
                let schema = batches.get_schema();
                let mut sent = false;
                for batch in batches {
                    let batch = batch.map_err(from_duckdb)?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    sent = true;
                    if tx.blocking_send(Ok(batch)).is_err() {
                        return Ok(());
                    }
                }
                if !sent {
                    let _ = tx.blocking_send(Ok(RecordBatch::new_empty(schema)));
                }
                Ok(())
            })();
            let fired = deadline.fired();
            drop(deadline);
            let _ = conn.execute_batch("ROLLBACK");
            match outcome {
                Err(_) if fired => Err(timeout_error(request.timeout)),
                // The stream stops early without an error when DuckDB is interrupted mid-read.
                Ok(()) if fired => Err(timeout_error(request.timeout)),
                other => other,
            }
        };
        if let Err(e) = run() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok(receiver_stream(rx))
}

fn receiver_stream(mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>) -> BatchStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Series, rows, first and last time (and rows per UTC day) in one GROUP BY each.
pub(crate) async fn summarize(
    store: &DuckDbStore,
    spec: &Arc<TableSpec>,
    query: Query,
    by_day: bool,
) -> Result<Vec<SeriesSummary>> {
    store.ensure_table(spec).await?;
    let series: Vec<String> = spec
        .series_columns()
        .iter()
        .map(|c| format!("CAST({} AS VARCHAR)", quote(c)))
        .collect();
    let time = spec.time.as_ref().map(|t| quote(&t.column));
    let mut params = Vec::new();
    let filter = sql::where_clause(spec, &query, &mut params);
    let group = if series.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", series.join(", "))
    };
    let mut select = series.clone();
    select.push("count(*)".into());
    if let Some(t) = &time {
        select.push(format!("min({t})"));
        select.push(format!("max({t})"));
    }
    let main = format!(
        "SELECT {} FROM {}{filter}{group}",
        select.join(", "),
        quote(&spec.table)
    );
    let days = match (&time, by_day) {
        (Some(t), true) => {
            let mut keys = series.clone();
            keys.push(format!("CAST({t} AS DATE)"));
            Some(format!(
                "SELECT {}, count(*) FROM {}{filter} GROUP BY {}",
                keys.join(", "),
                quote(&spec.table),
                keys.join(", ")
            ))
        }
        _ => None,
    };
    let n = series.len();
    store
        .blocking(move |conn| {
            let mut out: BTreeMap<Vec<String>, SeriesSummary> = BTreeMap::new();
            let mut stmt = conn.prepare(&main).map_err(from_duckdb)?;
            for batch in stmt
                .query_arrow(duckdb::params_from_iter(params.iter()))
                .map_err(from_duckdb)?
            {
                let keys = key_text(&batch, n);
                let rows = batch.column(n).as_primitive::<Int64Type>();
                let (first, last) = if batch.num_columns() > n + 1 {
                    (
                        time_ns(batch.column(n + 1).as_ref())?,
                        time_ns(batch.column(n + 2).as_ref())?,
                    )
                } else {
                    (vec![None; batch.num_rows()], vec![None; batch.num_rows()])
                };
                for (i, key) in keys.into_iter().enumerate() {
                    out.insert(
                        key.clone(),
                        SeriesSummary {
                            series: key,
                            rows: rows.value(i).max(0) as u64,
                            first_ns: first[i],
                            last_ns: last[i],
                            days: Vec::new(),
                        },
                    );
                }
            }
            if let Some(days) = days {
                let mut stmt = conn.prepare(&days).map_err(from_duckdb)?;
                for batch in stmt
                    .query_arrow(duckdb::params_from_iter(params.iter()))
                    .map_err(from_duckdb)?
                {
                    let keys = key_text(&batch, n);
                    let day = time_ns(batch.column(n).as_ref())?;
                    let rows = batch.column(n + 1).as_primitive::<Int64Type>();
                    for (i, key) in keys.into_iter().enumerate() {
                        if let (Some(entry), Some(d)) = (out.get_mut(&key), day[i]) {
                            entry.days.push((
                                d.div_euclid(quantdal_core::time::NANOS_PER_DAY) as i32,
                                rows.value(i).max(0) as u64,
                            ));
                        }
                    }
                }
                for s in out.values_mut() {
                    s.days.sort_unstable();
                }
            }
            // A class with no rows has no group when it has series columns; without them it has one row of 0.
            Ok(out.into_values().filter(|s| s.rows > 0).collect())
        })
        .await
        .map_err(|e| e.with_class(spec.name.clone()).with_operation("summarize"))
}

fn key_text(batch: &RecordBatch, n: usize) -> Vec<Vec<String>> {
    (0..batch.num_rows())
        .map(|row| {
            (0..n)
                .map(|c| {
                    let a = batch.column(c).as_string::<i32>();
                    if a.is_null(row) {
                        String::new()
                    } else {
                        a.value(row).to_string()
                    }
                })
                .collect()
        })
        .collect()
}

/// Blocks per class table, the file against its used and free blocks, and tables no class declares.
pub(crate) async fn storage(
    store: &DuckDbStore,
    specs: &[Arc<TableSpec>],
) -> Result<StorageReport> {
    let specs: Vec<Arc<TableSpec>> = specs.to_vec();
    let path = (store.info.location != ":memory:").then(|| PathBuf::from(&store.info.location));
    store
        .blocking(move |conn| {
            let (block_size, used_blocks, free_blocks) = database_size(conn)?;
            let live = live_tables(conn)?;
            let mut report = StorageReport::default();
            let mut table_blocks = 0u64;
            for spec in &specs {
                if !live.contains(&spec.table) {
                    report.tables.push(TableStorage {
                        class: spec.name.clone(),
                        table: spec.table.clone(),
                        table_bytes: None,
                        index_bytes: None,
                    });
                    continue;
                }
                let blocks: i64 = conn
                    .query_row(
                        "SELECT count(DISTINCT block_id) FROM pragma_storage_info(?) WHERE block_id >= 0",
                        [&spec.table],
                        |r| r.get(0),
                    )
                    .map_err(from_duckdb)?;
                let blocks = blocks.max(0) as u64;
                table_blocks += blocks;
                report.tables.push(TableStorage {
                    class: spec.name.clone(),
                    table: spec.table.clone(),
                    table_bytes: Some(blocks * block_size),
                    // DuckDB does not report the size of an index (ART) per table.
                    index_bytes: None,
                });
            }
            let declared: std::collections::HashSet<&str> =
                specs.iter().map(|s| s.table.as_str()).collect();
            report.undeclared = live
                .iter()
                .filter(|t| !declared.contains(t.as_str()))
                .cloned()
                .collect();
            if let Some(path) = &path {
                let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let wal_bytes = std::fs::metadata(wal_path(path))
                    .map(|m| m.len())
                    .unwrap_or(0);
                report.file = Some(FileStorage {
                    path: path.display().to_string(),
                    file_bytes,
                    wal_bytes,
                    used_bytes: used_blocks * block_size,
                    free_bytes: free_blocks * block_size,
                });
                report.notes.push(format!(
                    "{} of the used blocks hold indexes, catalog and tables no class declares (DuckDB does not \
                     report index sizes per table); rows not checkpointed yet live in the WAL",
                    human_bytes(used_blocks.saturating_sub(table_blocks) * block_size)
                ));
            }
            Ok(report)
        })
        .await
}

fn database_size(conn: &Connection) -> Result<(u64, u64, u64)> {
    conn.query_row(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() LIMIT 1",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )
    .map(|(b, u, f)| (b.max(0) as u64, u.max(0) as u64, f.max(0) as u64))
    .map_err(from_duckdb)
}

fn live_tables(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal \
             AND database_name = current_database() ORDER BY table_name",
        )
        .map_err(from_duckdb)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(from_duckdb)?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(from_duckdb)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactOptions {
    /// Timestamped backups of the previous file to keep (0: none).
    pub keep: usize,
    pub dry_run: bool,
}

/// Compacts an embedded file: under DuckDB's exclusive lock (the file open read-write here, so no other
/// process can have it), copies every table into a fresh file, checks per-table row counts and checksums
/// against the original, then swaps the fresh file in with one atomic rename, keeping the previous file as
/// `<file>.bak-<UTC time>`. Blocking; a file another process holds is a `Locked` error naming it.
pub fn compact_file(path: &Path, options: &CompactOptions) -> Result<FileCompaction> {
    let location = path.display().to_string();
    if !path.is_file() {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("the embedded store {location} does not exist"),
        ));
    }
    let config = Config::default()
        .access_mode(AccessMode::ReadWrite)
        .map_err(from_duckdb)?
        .with("autoinstall_known_extensions", "false")
        .map_err(from_duckdb)?
        .with("autoload_known_extensions", "false")
        .map_err(from_duckdb)?;
    let conn = Connection::open_with_flags(path, config).map_err(|e| {
        let err = from_duckdb(e);
        if err.kind() == ErrorKind::Locked {
            errors::locked(&location, err)
        } else {
            err
        }
    })?;
    // Everything in the WAL goes into the file first, so the copy and the sizes see all rows.
    conn.execute_batch("CHECKPOINT").map_err(from_duckdb)?;
    let bytes_before = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let tables = live_tables(&conn)?;
    let source_db: String = conn
        .query_row("SELECT current_database()", [], |r| r.get(0))
        .map_err(from_duckdb)?;
    let before = tables
        .iter()
        .map(|t| {
            table_check(
                &conn,
                &format!("{}.main.{}", quote(&source_db), quote(t)),
                t,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    if options.dry_run {
        let (block_size, used, _) = database_size(&conn)?;
        return Ok(FileCompaction {
            path: location,
            dry_run: true,
            bytes_before,
            bytes_after: used * block_size,
            tables: before,
            backup: None,
            removed_backups: Vec::new(),
        });
    }
    let fresh = sibling(path, &format!("compact-{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let _ = std::fs::remove_file(wal_path(&fresh));
    let attach = format!(
        "ATTACH '{}' AS quantdal_fresh",
        fresh.display().to_string().replace('\'', "''")
    );
    let copy = || -> Result<Vec<TableCheck>> {
        conn.execute_batch(&attach).map_err(from_duckdb)?;
        conn.execute_batch(&format!(
            "COPY FROM DATABASE {} TO quantdal_fresh",
            quote(&source_db)
        ))
        .map_err(from_duckdb)?;
        let after = tables
            .iter()
            .map(|t| table_check(&conn, &format!("quantdal_fresh.main.{}", quote(t)), t))
            .collect::<Result<Vec<_>>>()?;
        conn.execute_batch("DETACH quantdal_fresh")
            .map_err(from_duckdb)?;
        Ok(after)
    };
    let after = match copy() {
        Ok(after) => after,
        Err(e) => {
            let _ = conn.execute_batch("DETACH DATABASE IF EXISTS quantdal_fresh");
            let _ = std::fs::remove_file(&fresh);
            return Err(e);
        }
    };
    if after != before {
        let _ = std::fs::remove_file(&fresh);
        let diff: Vec<String> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b != a)
            .map(|(b, a)| format!("{}: {} rows before, {} after", b.table, b.rows, a.rows))
            .collect();
        return Err(Error::new(
            ErrorKind::Mismatch,
            format!(
                "the compacted copy of {location} does not match the original ({}); the original is untouched",
                diff.join("; ")
            ),
        ));
    }
    let stamp = chrono_stamp();
    let backup = sibling(path, &format!("bak-{stamp}"));
    // The previous file stays reachable under the backup name; the rename then swaps atomically, so the
    // file's path never points at nothing.
    if std::fs::hard_link(path, &backup).is_err() {
        std::fs::copy(path, &backup).map_err(|e| io(&backup, e))?;
    }
    std::fs::rename(&fresh, path).map_err(|e| io(path, e))?;
    drop(conn);
    let bytes_after = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let removed_backups = prune_backups(path, options.keep)?;
    let kept = backup.exists().then(|| backup.display().to_string());
    Ok(FileCompaction {
        path: location,
        dry_run: false,
        bytes_before,
        bytes_after,
        tables: after,
        backup: kept,
        removed_backups,
    })
}

fn table_check(conn: &Connection, qualified: &str, table: &str) -> Result<TableCheck> {
    let sql = format!(
        "SELECT count(*), CAST(COALESCE(bit_xor(hash(r)), 0) AS VARCHAR) || ':' || \
         CAST(COALESCE(sum(CAST(hash(r) AS HUGEINT)), 0) AS VARCHAR) FROM {qualified} AS r"
    );
    let (rows, checksum): (i64, String) = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(from_duckdb)?;
    Ok(TableCheck {
        table: table.to_string(),
        rows: rows.max(0) as u64,
        checksum,
    })
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

/// `<file>.<suffix>` in the file's folder.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

fn chrono_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    quantdal_core::Timestamp::from_nanos(now)
        .to_datetime()
        .format("%Y%m%dT%H%M%S%.3fZ")
        .to_string()
}

/// Backups of `path` (`<file>.bak-*`), oldest first.
pub fn backups(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(
        "{}.bak-",
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().starts_with(&prefix))
                        .unwrap_or(false)
                        && !p.to_string_lossy().ends_with(".wal")
                })
                .collect()
        })
        .unwrap_or_default();
    // The stamp sorts in time order.
    out.sort();
    out
}

fn prune_backups(path: &Path, keep: usize) -> Result<Vec<String>> {
    let all = backups(path);
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in all.into_iter().take(excess) {
        std::fs::remove_file(&old).map_err(|e| io(&old, e))?;
        let _ = std::fs::remove_file(wal_path(&old));
        removed.push(old.display().to_string());
    }
    Ok(removed)
}
