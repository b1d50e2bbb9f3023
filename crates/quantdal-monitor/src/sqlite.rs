//! The embedded monitoring store: SQLite in WAL mode in a file of its own. WAL lets a dashboard process read
//! while an application process writes (DuckDB would lock the second process out), writers from several
//! processes take turns, and `busy_timeout` bounds how long a write waits before the monitor spills.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use quantdal_core::{Error, ErrorKind, Result};
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, ToSql, TransactionBehavior};

use crate::ddl::{ddl, Dialect};
use crate::effects::MetricDelta;
use crate::record::Record;
use crate::sink::{Backend, Sink};
use crate::sql::{effect_statements, insert_statements, inserted, Cell, Param};

#[derive(Debug, Clone)]
pub struct SqliteSink {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteSink {
    /// Opens (creating when missing) the file and its tables. Blocking: call it off the async threads or at
    /// start-up.
    pub fn open(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<SqliteSink> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::from(e).with_file(dir.display().to_string()))?;
        }
        let fail = |e: rusqlite::Error| map_err(e).with_file(path.display().to_string());
        let conn = Connection::open(&path).map_err(fail)?;
        conn.busy_timeout(busy_timeout).map_err(fail)?;
        // journal_mode returns a row; WAL persists in the file, so later openers inherit it.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                ErrorKind::Store,
                format!("could not switch the monitoring DB to WAL (journal_mode is {mode})"),
            )
            .with_file(path.display().to_string()));
        }
        // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.execute_batch(&ddl(Dialect::Sqlite)).map_err(fail)?;
        Ok(SqliteSink {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| Error::store("monitoring DB connection poisoned"))?;
            f(&mut guard).map_err(map_err)
        })
        .await
        .map_err(|e| Error::store(format!("monitoring DB task failed: {e}")))?
    }
}

fn map_err(e: rusqlite::Error) -> Error {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let kind = if busy {
        ErrorKind::Locked
    } else {
        ErrorKind::Store
    };
    Error::new(kind, format!("monitoring DB (sqlite): {e}")).set_temporary(busy)
}

fn bind(params: &[Param]) -> Vec<&dyn ToSql> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(v) => v as &dyn ToSql,
            Param::Float(v) => v as &dyn ToSql,
            Param::Text(v) => v as &dyn ToSql,
        })
        .collect()
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null | ValueRef::Blob(_) => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

fn query_rows(conn: &Connection, sql: &str, params: &[Param]) -> rusqlite::Result<Vec<Vec<Cell>>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let width = stmt.column_count();
    let mut rows = stmt.query(params_from_iter(bind(params)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(cell(row.get_ref(i)?));
        }
        out.push(cells);
    }
    Ok(out)
}

#[async_trait]
impl Sink for SqliteSink {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        let records = records.to_vec();
        let extra = extra.to_vec();
        self.with_conn(move |conn| {
            // IMMEDIATE takes the write lock up front, so a busy DB fails here (after busy_timeout), not
            // half-way through.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = HashSet::new();
            for (table, stmt) in insert_statements(&records) {
                for row in query_rows(&tx, &stmt.sql, &stmt.params)? {
                    if let Some(Cell::Text(id)) = row.into_iter().next() {
                        ids.insert((table, id));
                    }
                }
            }
            for stmt in effect_statements(&inserted(&records, &ids), &extra) {
                tx.prepare_cached(&stmt.sql)?
                    .execute(params_from_iter(bind(&stmt.params)))?;
            }
            tx.commit()
        })
        .await
    }
}

#[async_trait]
impl Backend for SqliteSink {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    async fn query(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Vec<Cell>>> {
        let sql = sql.to_string();
        self.with_conn(move |conn| query_rows(conn, &sql, &params))
            .await
    }
    async fn execute(&self, sql: &str, params: Vec<Param>) -> Result<u64> {
        let sql = sql.to_string();
        self.with_conn(move |conn| {
            conn.prepare_cached(&sql)?
                .execute(params_from_iter(bind(&params)))
                .map(|n| n as u64)
        })
        .await
    }
}
