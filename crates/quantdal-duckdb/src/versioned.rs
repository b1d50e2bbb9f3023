//! Versioned classes on the embedded store (docs/versions.md): a save appends a revision for each key whose
//! values changed, reads go through the as-of state, a delete appends tombstones. The statement shapes are
//! `quantdal_core::versions`'; this module binds them for DuckDB and runs the writes. Writes run under the
//! table's write lock (write.rs), so one save's stamp is newer than every stamp before it.

use arrow::array::RecordBatch;
use duckdb::types::Value as DuckValue;
use duckdb::vtab::arrow::ArrowBatchRegistration;
use duckdb::{Connection, ToSql};
use quantdal_core::bars::{bars_sql, InfoBar};
use quantdal_core::load::Query;
use quantdal_core::versions::{self, ParamBinder, KNOWN_AT_COLUMN};
use quantdal_core::{NeutralType, Result, SqlDialect, TableSpec};

use crate::ddl::quote;
use crate::errors::from_duckdb;
use crate::sql::{self, DuckBinder, Marks, Statement};
use crate::write::max_time_sql;
use crate::{split_rows, strip_timezones, ARROW_SCAN};

/// `statement` (a read of sql.rs, naming the table once) over the as-of state of a versioned class; other
/// classes' statements come back unchanged.
pub(crate) fn read(spec: &TableSpec, query: &Query, statement: Statement) -> Result<Statement> {
    if spec.versions.is_none() {
        return Ok(statement);
    }
    let relation = quote(&spec.table);
    let mut params = Vec::new();
    let cte = versions::as_of_cte(
        spec,
        &relation,
        query,
        SqlDialect::Duckdb,
        &mut DuckBinder::positional(&mut params),
    );
    let sql = versions::wrap(&relation, &statement.sql, &cte)?;
    // The CTE comes first in the text, so its values are the first `?`.
    params.extend(statement.params);
    Ok(Statement { sql, params })
}

/// Every revision of the keys `query` selects (`Store::history`).
pub(crate) fn history(spec: &TableSpec, query: &Query) -> Statement {
    let mut params = Vec::new();
    let sql = versions::history(
        spec,
        &quote(&spec.table),
        query,
        &mut DuckBinder::positional(&mut params),
    );
    Statement { sql, params }
}

/// Information-driven bars in one statement (over the as-of state for versioned classes). Numbered marks:
/// the generator binds the threshold after the filter that follows it in the text.
pub(crate) fn bars(spec: &TableSpec, bar: InfoBar, query: &Query) -> Result<Statement> {
    let relation = quote(&spec.table);
    let mut params = Vec::new();
    let (cte, body) = {
        let mut binder = DuckBinder {
            params: &mut params,
            marks: Marks::Numbered { offset: 0 },
        };
        let cte = spec
            .versions
            .is_some()
            .then(|| versions::as_of_cte(spec, &relation, query, SqlDialect::Duckdb, &mut binder));
        let body = bars_sql(spec, bar, &relation, query, SqlDialect::Duckdb, &mut binder)?;
        (cte, body)
    };
    let sql = match cte {
        Some(cte) => versions::wrap(&relation, &body, &cte)?,
        None => body,
    };
    Ok(Statement { sql, params })
}

/// The newest knowledge time the table holds, in class ticks.
fn newest_stamp(conn: &Connection, spec: &TableSpec) -> Result<Option<i64>> {
    let expr = max_time_sql(
        &quote(KNOWN_AT_COLUMN),
        NeutralType::Timestamp,
        spec.precision(),
    );
    conn.query_row(
        &format!("SELECT {expr} FROM {}", quote(&spec.table)),
        [],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map_err(from_duckdb)
}

/// The stamp of a write stamped with its commit time; `None` for classes with their own knowledge column.
fn save_stamp(conn: &Connection, spec: &TableSpec) -> Result<Option<i64>> {
    match spec.versions.as_ref().and_then(|v| v.known_at.as_ref()) {
        Some(_) => Ok(None),
        None => Ok(Some(versions::commit_stamp(
            spec,
            newest_stamp(conn, spec)?,
        ))),
    }
}

/// Runs `body` in one transaction, rolled back when it fails.
fn transaction<T>(conn: &Connection, body: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(from_duckdb)?;
    let result = body().and_then(|v| {
        conn.execute_batch("COMMIT")
            .map_err(from_duckdb)
            .map(|()| v)
    });
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Executes `sql` whose `$1…$n` are the `scans` and whose later marks are `params`.
fn execute(
    conn: &Connection,
    sql: &str,
    scans: &[ArrowBatchRegistration],
    params: &[DuckValue],
) -> Result<usize> {
    // `ToSql` is implemented for references to registrations.
    let refs: Vec<&ArrowBatchRegistration> = scans.iter().collect();
    let mut all: Vec<&dyn ToSql> = refs.iter().map(|r| r as &dyn ToSql).collect();
    all.extend(params.iter().map(|p| p as &dyn ToSql));
    conn.prepare(sql)
        .and_then(|mut s| s.execute(duckdb::params_from_iter(all.iter())))
        .map_err(from_duckdb)
}

/// Appends a revision for each row of `batch` (validated, non-empty) whose key's revision in force holds
/// other values, or is a tombstone, or does not exist; identical re-saves add nothing. One transaction, the
/// batch read through the Arrow scan (one slice per DuckDB thread).
pub(crate) fn save(
    conn: &Connection,
    parallelism: usize,
    spec: &TableSpec,
    batch: &RecordBatch,
) -> Result<()> {
    let relation = quote(&spec.table);
    let slices = split_rows(&strip_timezones(batch)?, parallelism);
    let source = format!(
        "({})",
        (1..=slices.len())
            .map(|i| format!("SELECT * FROM {ARROW_SCAN}(${i})"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    );
    let registrations: Vec<ArrowBatchRegistration> = slices
        .iter()
        .cloned()
        .map(ArrowBatchRegistration::new)
        .collect();
    transaction(conn, || {
        let stamp = save_stamp(conn, spec)?;
        if let Some(delete) = versions::delete_replaced(spec, &relation, &source) {
            execute(conn, &delete, &registrations, &[])?;
        }
        let mut params = Vec::new();
        let insert = versions::insert_revisions(
            spec,
            &relation,
            &source,
            stamp,
            &mut DuckBinder {
                params: &mut params,
                marks: Marks::Numbered {
                    offset: slices.len(),
                },
            },
        );
        execute(conn, &insert, &registrations, &params)?;
        Ok(())
    })
}

/// Appends a tombstone for every key of the as-of-now state that `query` selects; returns how many.
pub(crate) fn delete(conn: &Connection, spec: &TableSpec, query: &Query) -> Result<u64> {
    let relation = quote(&spec.table);
    transaction(conn, || {
        let stamp = versions::commit_stamp(spec, newest_stamp(conn, spec)?);
        let mut params = Vec::new();
        let mark = DuckBinder::positional(&mut params).bind_stamp(spec, stamp);
        let everything = versions::tombstone_selection(spec, query);
        let select = read(spec, &everything, sql::select(spec, &everything))?;
        // The stamp's mark comes before the selection's in the text.
        params.extend(select.params);
        let insert = versions::insert_tombstones(spec, &relation, &mark, &select.sql);
        let n = execute(conn, &insert, &[], &params)?;
        Ok(n as u64)
    })
}

/// `SELECT count(*)` of the keys as known now.
pub(crate) fn count(spec: &TableSpec) -> Result<Statement> {
    let everything = quantdal_core::Load::all().resolve(spec)?;
    read(
        spec,
        &everything,
        Statement {
            sql: format!("SELECT count(*) FROM {}", quote(&spec.table)),
            params: Vec::new(),
        },
    )
}
