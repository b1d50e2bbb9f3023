//! Versioned classes on PostgreSQL (docs/versions.md): a save appends a revision for each key whose values
//! changed, reads go through the as-of state, a delete appends tombstones. The statement shapes are
//! `quantdal_core::versions`'; this module binds them and runs the writes. A write holds the table in SHARE
//! ROW EXCLUSIVE mode (writers wait for each other, readers do not), so its stamp is newer than every stamp
//! committed before it.

use arrow::array::RecordBatch;
use futures::StreamExt;
use quantdal_core::bars::{bars_sql, InfoBar};
use quantdal_core::load::Query;
use quantdal_core::versions::{self, ParamBinder, KNOWN_AT_COLUMN};
use quantdal_core::{Load, Result, SqlDialect, TableSpec, TimePrecision};
use tokio_postgres::Transaction;

use super::{typed, PostgresStore};
use crate::ddl::{qualified, quote};
use crate::errors::from_pg;
use crate::pool;
use crate::sql::{self, PgBinder, Statement};

/// `statement` (a read of sql.rs, naming the table once) over the as-of state of a versioned class; other
/// classes' statements come back unchanged.
pub(crate) fn read(
    spec: &TableSpec,
    schema: &str,
    query: &Query,
    statement: Statement,
) -> Result<Statement> {
    if spec.versions.is_none() {
        return Ok(statement);
    }
    let relation = qualified(schema, &spec.table);
    // Numbered after the statement's own parameters, wherever the CTE sits in the text.
    let mut params = statement.params;
    let cte = versions::as_of_cte(
        spec,
        &relation,
        query,
        SqlDialect::Postgres,
        &mut PgBinder(&mut params),
    );
    Ok(Statement {
        sql: versions::wrap(&relation, &statement.sql, &cte)?,
        params,
    })
}

/// Every revision of the keys `query` selects (`Store::history`).
pub(crate) fn history(spec: &TableSpec, schema: &str, query: &Query) -> Statement {
    let mut params = Vec::new();
    let sql = versions::history(
        spec,
        &qualified(schema, &spec.table),
        query,
        &mut PgBinder(&mut params),
    );
    Statement { sql, params }
}

/// Information-driven bars in one statement, over the as-of state for versioned classes.
pub(crate) fn bars(
    spec: &TableSpec,
    schema: &str,
    bar: InfoBar,
    query: &Query,
) -> Result<Statement> {
    let relation = qualified(schema, &spec.table);
    let mut params = Vec::new();
    let body = bars_sql(
        spec,
        bar,
        &relation,
        query,
        SqlDialect::Postgres,
        &mut PgBinder(&mut params),
    )?;
    let body = Statement { sql: body, params };
    read(spec, schema, query, body)
}

/// `SELECT count(*)` of the keys as known now.
pub(crate) fn count(spec: &TableSpec, schema: &str) -> Result<Statement> {
    let everything = Load::all().resolve(spec)?;
    read(
        spec,
        schema,
        &everything,
        Statement {
            sql: sql::count(spec, schema),
            params: Vec::new(),
        },
    )
}

/// Takes the table's write lock for this transaction and returns the newest knowledge time it holds (class
/// ticks), read from the `_known_at` index.
async fn lock_and_read_newest(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    table: &str,
) -> Result<Option<i64>> {
    tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
        .await
        .map_err(from_pg)?;
    let micros: Option<i64> = tx
        .query_one(
            &format!(
                "SELECT (extract(epoch FROM max({})) * 1000000)::bigint FROM {table}",
                quote(KNOWN_AT_COLUMN)
            ),
            &[],
        )
        .await
        .map_err(from_pg)?
        .get(0);
    let per_tick = match spec.precision() {
        TimePrecision::Ms => 1_000,
        TimePrecision::Us | TimePrecision::Ns => 1,
    };
    Ok(micros.map(|m| m.div_euclid(per_tick)))
}

/// The whole-statement text of a versioned save, for slow-query records.
pub(crate) fn save_statement(spec: &TableSpec, schema: &str) -> String {
    let stage = quote(&sql::staging_name(spec, schema));
    let mut params = Vec::new();
    let insert = versions::insert_revisions(
        spec,
        &qualified(schema, &spec.table),
        &stage,
        Some(0),
        &mut PgBinder(&mut params),
    );
    format!("{}; {insert}", sql::copy_in(spec, &stage))
}

impl PostgresStore {
    /// A versioned save: COPY into the session's staging table, then one INSERT … SELECT of the rows whose
    /// values differ from their key's revision in force (after replacing same-stamp revisions for classes
    /// with their own knowledge column), in one transaction.
    pub(crate) async fn save_versioned(
        &self,
        spec: &TableSpec,
        schema: &str,
        batch: &RecordBatch,
    ) -> Result<u64> {
        let mut conn = self.conn().await?;
        let pool::PgConnection { client, staging } = &mut *conn;
        let table = qualified(schema, &spec.table);
        let tx = client.transaction().await.map_err(from_pg)?;
        let newest = lock_and_read_newest(&tx, spec, &table).await?;
        let stamp = match spec.versions.as_ref().and_then(|v| v.known_at.as_ref()) {
            Some(_) => None,
            None => Some(versions::commit_stamp(spec, newest)),
        };
        let stage = sql::staging_name(spec, schema);
        let created_now = !staging.contains(&stage);
        if created_now {
            tx.batch_execute(&sql::create_staging(spec, schema))
                .await
                .map_err(from_pg)?;
        }
        let stage_q = quote(&stage);
        Self::copy(&tx, &sql::copy_in(spec, &stage_q), spec, batch).await?;
        if let Some(delete) = versions::delete_replaced(spec, &table, &stage_q) {
            tx.batch_execute(&delete).await.map_err(from_pg)?;
        }
        let mut params = Vec::new();
        let insert =
            versions::insert_revisions(spec, &table, &stage_q, stamp, &mut PgBinder(&mut params));
        tx.execute_typed(&insert, &typed(&params))
            .await
            .map_err(from_pg)?;
        tx.commit().await.map_err(from_pg)?;
        if created_now {
            staging.insert(stage);
        }
        Ok(batch.num_rows() as u64)
    }

    /// A tombstone for every key of the as-of-now state that `query` selects; returns how many.
    pub(crate) async fn delete_versioned(
        &self,
        spec: &TableSpec,
        schema: &str,
        query: &Query,
    ) -> Result<u64> {
        let mut conn = self.conn().await?;
        let table = qualified(schema, &spec.table);
        let tx = conn.client.transaction().await.map_err(from_pg)?;
        let stamp = versions::commit_stamp(spec, lock_and_read_newest(&tx, spec, &table).await?);
        let everything = versions::tombstone_selection(spec, query);
        let select = read(
            spec,
            schema,
            &everything,
            sql::select(spec, schema, &everything),
        )?;
        let mut params = select.params;
        let mark = PgBinder(&mut params).bind_stamp(spec, stamp);
        let insert = versions::insert_tombstones(spec, &table, &mark, &select.sql);
        let n = tx
            .execute_typed(&insert, &typed(&params))
            .await
            .map_err(from_pg)?;
        tx.commit().await.map_err(from_pg)?;
        Ok(n)
    }

    /// Runs a read and collects it as one stream of batches (for `history`).
    pub(crate) async fn read_all_stream(
        &self,
        statement: Statement,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<quantdal_core::BatchStream> {
        let batches = self.query_all(statement, schema).await?;
        Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
    }
}
