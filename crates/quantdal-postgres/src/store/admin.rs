//! The PostgreSQL store's operational entry points: guarded read-only SQL (a READ ONLY transaction with
//! `statement_timeout`), per-series summaries in one GROUP BY, sizes from the catalog, VACUUM (ANALYZE).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::{StreamExt, TryStreamExt};
use quantdal_core::admin::{StorageReport, TableStorage};
use quantdal_core::{
    BatchStream, Error, ErrorKind, Query, Result, SeriesSummary, SqlRequest, TableSpec,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::Row;

use super::PostgresStore;
use crate::binary::{get_f32, get_f64, get_i16, get_i32, get_i64, PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use crate::ddl::{qualified, quote};
use crate::errors::from_pg;

/// Rows fetched from the portal per round trip.
const SQL_CHUNK_ROWS: i32 = 4096;

fn sql_error(e: tokio_postgres::Error, request: &SqlRequest, started: Instant) -> Error {
    // A statement cancelled by `statement_timeout` has been seen (once, under load) to surface as 25P02
    // "transaction is aborted" instead of 57014; past the deadline, either means the time limit.
    let past_deadline = started.elapsed() >= request.timeout;
    match e.code() {
        Some(c)
            if *c == SqlState::QUERY_CANCELED
                || (*c == SqlState::IN_FAILED_SQL_TRANSACTION && past_deadline) =>
        {
            Error::new(
            ErrorKind::Timeout,
            format!(
                "the statement ran past its time limit of {} ms and was cancelled (sql.timeout_ms in \
                 quantdal.yaml, or --timeout)",
                request.timeout.as_millis()
            ),
        )
        }
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => Error::invalid_query(format!(
            "refused by PostgreSQL: the statement would write in a read-only transaction ({})",
            e.as_db_error().map(|d| d.message()).unwrap_or("")
        )),
        _ => from_pg(e),
    }
}

/// Runs a guarded statement in a READ ONLY transaction with `statement_timeout`, streaming the rows through
/// a portal as Arrow batches; the first batch always comes, so an empty result still has its columns.
pub(crate) async fn run_sql(store: &PostgresStore, request: &SqlRequest) -> Result<BatchStream> {
    let mut conn = store.read_conn().await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(4);
    let request = request.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        let run = async {
            let transaction = conn
                .client
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .map_err(from_pg)?;
            // SET takes no parameters; the value is a number formatted here, never caller text.
            transaction
                .batch_execute(&format!(
                    "SET LOCAL statement_timeout = {}",
                    request.timeout.as_millis().max(1)
                ))
                .await
                .map_err(from_pg)?;
            let prepared = transaction
                .prepare(&request.sql)
                .await
                .map_err(|e| sql_error(e, &request, started))?;
            let schema = result_schema(prepared.columns())?;
            let portal = transaction
                .bind(&prepared, &[])
                .await
                .map_err(|e| sql_error(e, &request, started))?;
            let mut sent = false;
            loop {
                let rows: Vec<Row> = transaction
                    .query_portal_raw(&portal, SQL_CHUNK_ROWS)
                    .await
                    .map_err(|e| sql_error(e, &request, started))?
                    .try_collect()
                    .await
                    .map_err(|e| sql_error(e, &request, started))?;
                let n = rows.len();
                if n > 0 || !sent {
                    sent = true;
                    let batch = decode_rows(&schema, &rows)?;
                    if tx.send(Ok(batch)).await.is_err() {
                        return Ok(());
                    }
                }
                if n < SQL_CHUNK_ROWS as usize {
                    break;
                }
            }
            // Nothing to keep: the transaction only read.
            transaction.rollback().await.map_err(from_pg)?;
            Ok::<(), Error>(())
        };
        if let Err(e) = run.await {
            let _ = tx.send(Err(e)).await;
        }
    });
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed())
}

/// The Arrow column of each result column; a type without a conversion is refused with the cast to use.
fn result_schema(columns: &[tokio_postgres::Column]) -> Result<SchemaRef> {
    let mut fields = Vec::with_capacity(columns.len());
    for c in columns {
        let ty = c.type_();
        let dt = match *ty {
            Type::BOOL => DataType::Boolean,
            Type::INT2 | Type::INT4 => DataType::Int32,
            Type::INT8 | Type::OID => DataType::Int64,
            Type::FLOAT4 => DataType::Float32,
            Type::FLOAT8 => DataType::Float64,
            Type::DATE => DataType::Date32,
            Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
            // NUMERIC carries no fixed scale in a result: exact decimal text, never a rounded float.
            Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::CHAR
            | Type::JSON
            | Type::JSONB
            | Type::UUID => DataType::Utf8,
            _ => {
                return Err(Error::invalid_query(format!(
                    "result column `{}` is of PostgreSQL type {ty}, which the SQL command does not convert; \
                     cast it, e.g. `{}::text`",
                    c.name(),
                    c.name()
                )))
            }
        };
        fields.push(Field::new(c.name(), dt, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Any cell as its raw bytes (binary format).
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn decode_rows(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let cells: Vec<Option<&[u8]>> = rows
            .iter()
            .map(|r| {
                r.try_get::<_, Option<Raw<'_>>>(i)
                    .map(|c| c.map(|c| c.0))
                    .map_err(|e| Error::store(format!("reading result column {i}: {e}")))
            })
            .collect::<Result<_>>()?;
        let ty = rows.first().map(|r| r.columns()[i].type_().clone());
        let bad = |what: &str| Error::store(format!("column {}: cannot read {what}", field.name()));
        let array: ArrayRef = match field.data_type() {
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                for c in &cells {
                    b.append_option(c.map(|r| r.first().copied().unwrap_or(0) != 0));
                }
                Arc::new(b.finish())
            }
            DataType::Int32 => {
                let mut b = Int32Builder::with_capacity(rows.len());
                let small = ty.as_ref() == Some(&Type::INT2);
                for c in &cells {
                    b.append_option(match c {
                        None => None,
                        Some(r) if small => Some(i32::from(get_i16(r).ok_or_else(|| bad("INT2"))?)),
                        Some(r) => Some(get_i32(r).ok_or_else(|| bad("INT4"))?),
                    });
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(rows.len());
                let oid = ty.as_ref() == Some(&Type::OID);
                for c in &cells {
                    b.append_option(match c {
                        None => None,
                        Some(r) if oid => Some(i64::from(u32::from_be_bytes(
                            (*r).try_into().map_err(|_| bad("OID"))?,
                        ))),
                        Some(r) => Some(get_i64(r).ok_or_else(|| bad("INT8"))?),
                    });
                }
                Arc::new(b.finish())
            }
            DataType::Float32 => {
                let mut b = Float32Builder::with_capacity(rows.len());
                for c in &cells {
                    b.append_option(
                        c.map(|r| get_f32(r).ok_or_else(|| bad("FLOAT4")))
                            .transpose()?,
                    );
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(rows.len());
                for c in &cells {
                    b.append_option(
                        c.map(|r| get_f64(r).ok_or_else(|| bad("FLOAT8")))
                            .transpose()?,
                    );
                }
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::with_capacity(rows.len());
                for c in &cells {
                    b.append_option(
                        c.map(|r| {
                            get_i32(r)
                                .and_then(|d| d.checked_add(PG_EPOCH_DAYS))
                                .ok_or_else(|| bad("DATE (infinity?)"))
                        })
                        .transpose()?,
                    );
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(_, tz) => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len());
                for c in &cells {
                    b.append_option(
                        c.map(|r| {
                            get_i64(r)
                                .and_then(|t| t.checked_add(PG_EPOCH_MICROS))
                                .ok_or_else(|| bad("timestamp (infinity?)"))
                        })
                        .transpose()?,
                    );
                }
                Arc::new(b.finish().with_timezone_opt(tz.clone()))
            }
            _ => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                for c in &cells {
                    match c {
                        None => b.append_null(),
                        Some(r) => b.append_value(text_cell(ty.as_ref(), r).ok_or_else(|| {
                            bad(&ty.as_ref().map(|t| t.to_string()).unwrap_or_default())
                        })?),
                    }
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )?)
}

fn text_cell(ty: Option<&Type>, raw: &[u8]) -> Option<String> {
    match ty {
        Some(t) if *t == Type::NUMERIC => numeric_text(raw),
        // JSONB's binary form is a version byte, then the text.
        Some(t) if *t == Type::JSONB => std::str::from_utf8(raw.get(1..)?).ok().map(String::from),
        Some(t) if *t == Type::UUID => {
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            (hex.len() == 32).then(|| {
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            })
        }
        _ => std::str::from_utf8(raw).ok().map(String::from),
    }
}

/// A binary NUMERIC as exact decimal text, with the value's own display scale.
pub(crate) fn numeric_text(raw: &[u8]) -> Option<String> {
    if raw.len() < 8 {
        return None;
    }
    let ndigits = i16::from_be_bytes([raw[0], raw[1]]);
    let weight = i32::from(i16::from_be_bytes([raw[2], raw[3]]));
    let sign = u16::from_be_bytes([raw[4], raw[5]]);
    let dscale = u16::from_be_bytes([raw[6], raw[7]]) as usize;
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    if ndigits < 0 || raw.len() < 8 + 2 * ndigits as usize {
        return None;
    }
    let digits: Vec<u16> = (0..ndigits as usize)
        .map(|i| u16::from_be_bytes([raw[8 + 2 * i], raw[9 + 2 * i]]))
        .collect();
    // Base-10000 digit i has exponent weight - i.
    let digit_at = |exp: i32| -> u16 {
        let i = weight - exp;
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut int = String::new();
    for exp in (0..=weight.max(0)).rev() {
        let d = digit_at(exp);
        if int.is_empty() {
            if d != 0 {
                int = d.to_string();
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut exp = -1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit_at(exp)));
        exp -= 1;
    }
    frac.truncate(dscale);
    let negative = sign == 0x4000 && (int != "0" || frac.chars().any(|c| c != '0'));
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&int);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

/// Series, rows, first and last time (and rows per UTC day) in one GROUP BY each.
pub(crate) async fn summarize(
    store: &PostgresStore,
    spec: &Arc<TableSpec>,
    query: Query,
    by_day: bool,
) -> Result<Vec<SeriesSummary>> {
    let schema_name = store.schema_of(spec).to_string();
    let table = qualified(&schema_name, &spec.table);
    let series: Vec<String> = spec
        .series_columns()
        .iter()
        .map(|c| format!("CAST({} AS TEXT)", quote(c)))
        .collect();
    let time = spec.time.as_ref().map(|t| quote(&t.column));
    // The class's WHERE clause, generated like a load's (every value bound).
    let mut bound = Vec::new();
    let filter = crate::sql::where_clause(spec, &query, &mut bound);
    let group = if series.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", series.join(", "))
    };
    // Times as microseconds since the epoch (DATE columns at midnight UTC).
    let epoch = |t: &str| format!("CAST(EXTRACT(EPOCH FROM {t}) * 1000000 AS BIGINT)");
    let mut select = series.clone();
    select.push("count(*)".into());
    if let Some(t) = &time {
        select.push(epoch(&format!("min({t})")));
        select.push(epoch(&format!("max({t})")));
    }
    let main = format!("SELECT {} FROM {table}{filter}{group}", select.join(", "));
    let n = series.len();
    let params: Vec<(&(dyn ToSql + Sync), Type)> = bound
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), p.ty.clone()))
        .collect();
    let ctx = |e: Error| e.with_class(spec.name.clone()).with_operation("summarize");
    let conn = store.read_conn().await.map_err(ctx)?;
    let rows = conn
        .client
        .query_typed(&main, &params)
        .await
        .map_err(|e| ctx(from_pg(e)))?;
    let mut out: BTreeMap<Vec<String>, SeriesSummary> = BTreeMap::new();
    for row in rows {
        let key: Vec<String> = (0..n)
            .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
            .collect();
        let count: i64 = row.get(n);
        let (first, last) = if time.is_some() {
            (
                row.get::<_, Option<i64>>(n + 1)
                    .map(|u| u.saturating_mul(1000)),
                row.get::<_, Option<i64>>(n + 2)
                    .map(|u| u.saturating_mul(1000)),
            )
        } else {
            (None, None)
        };
        if count > 0 {
            out.insert(
                key.clone(),
                SeriesSummary {
                    series: key,
                    rows: count as u64,
                    first_ns: first,
                    last_ns: last,
                    days: Vec::new(),
                },
            );
        }
    }
    if let (Some(t), true) = (&time, by_day) {
        // Days since the epoch of the UTC day each row falls on.
        let day = format!("CAST(floor(EXTRACT(EPOCH FROM {t}) / 86400) AS INTEGER)");
        let mut keys = series.clone();
        keys.push(day);
        let sql = format!(
            "SELECT {}, count(*) FROM {table}{filter} GROUP BY {}",
            keys.join(", "),
            keys.join(", ")
        );
        let rows = conn
            .client
            .query_typed(&sql, &params)
            .await
            .map_err(|e| ctx(from_pg(e)))?;
        for row in rows {
            let key: Vec<String> = (0..n)
                .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                .collect();
            let d: Option<i32> = row.get(n);
            let count: i64 = row.get(n + 1);
            if let (Some(entry), Some(d)) = (out.get_mut(&key), d) {
                entry.days.push((d, count.max(0) as u64));
            }
        }
        for s in out.values_mut() {
            s.days.sort_unstable();
        }
    }
    Ok(out.into_values().collect())
}

/// Table and index bytes from the catalog (hypertables through TimescaleDB's own size function), and
/// tables in the store's schema that no class declares.
pub(crate) async fn storage(
    store: &PostgresStore,
    specs: &[Arc<TableSpec>],
) -> Result<StorageReport> {
    let conn = store.read_conn().await?;
    let timescale: bool = conn
        .client
        .query_opt(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .map_err(from_pg)?
        .is_some();
    let mut report = StorageReport::default();
    let mut schemas: Vec<String> = Vec::new();
    for spec in specs {
        let schema = store.schema_of(spec).to_string();
        if !schemas.contains(&schema) {
            schemas.push(schema.clone());
        }
        let name = qualified(&schema, &spec.table);
        let exists = conn
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
            .await
            .map_err(from_pg)?
            .get::<_, bool>(0);
        if !exists {
            report.tables.push(TableStorage {
                class: spec.name.clone(),
                table: spec.table.clone(),
                table_bytes: None,
                index_bytes: None,
            });
            continue;
        }
        let hyper = timescale
            && conn
                .client
                .query_opt(
                    "SELECT 1 FROM timescaledb_information.hypertables \
                     WHERE hypertable_schema = $1 AND hypertable_name = $2",
                    &[&schema, &spec.table],
                )
                .await
                .map_err(from_pg)?
                .is_some();
        let (table_bytes, index_bytes): (i64, i64) = if hyper {
            let row = conn
                .client
                .query_one(
                    "SELECT COALESCE(table_bytes, 0) + COALESCE(toast_bytes, 0), COALESCE(index_bytes, 0) \
                     FROM hypertable_detailed_size(CAST(CAST($1 AS text) AS regclass))",
                    &[&name],
                )
                .await
                .map_err(from_pg)?;
            (row.get(0), row.get(1))
        } else {
            let row = conn
                .client
                .query_one(
                    // A partitioned parent holds nothing itself: its bytes are its partitions'.
                    "SELECT CAST(sum(pg_table_size(r)) AS bigint), CAST(sum(pg_indexes_size(r)) AS bigint) \
                     FROM (SELECT relid AS r FROM pg_partition_tree(CAST(CAST($1 AS text) AS regclass)) \
                           UNION SELECT CAST(CAST($1 AS text) AS regclass)) AS t",
                    &[&name],
                )
                .await
                .map_err(from_pg)?;
            (row.get(0), row.get(1))
        };
        report.tables.push(TableStorage {
            class: spec.name.clone(),
            table: spec.table.clone(),
            table_bytes: Some(table_bytes.max(0) as u64),
            index_bytes: Some(index_bytes.max(0) as u64),
        });
    }
    let declared: std::collections::HashSet<(String, String)> = specs
        .iter()
        .map(|s| (store.schema_of(s).to_string(), s.table.clone()))
        .collect();
    for schema in &schemas {
        let rows = conn
            .client
            .query(
                "SELECT table_name FROM information_schema.tables t WHERE table_schema = $1 \
                 AND table_type = 'BASE TABLE' AND NOT EXISTS (SELECT 1 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = t.table_schema \
                 AND c.relname = t.table_name AND c.relispartition) ORDER BY table_name",
                &[schema],
            )
            .await
            .map_err(from_pg)?;
        for r in rows {
            let t: String = r.get(0);
            // Staging tables of saves are temporary; anything else undeclared is reported.
            if !declared.contains(&(schema.clone(), t.clone())) {
                report.undeclared.push(format!("{schema}.{t}"));
            }
        }
    }
    Ok(report)
}

/// `VACUUM (ANALYZE)` of every class table that exists (not in a transaction, so on a pooled connection
/// of its own); returns the statements run.
pub(crate) async fn vacuum(store: &PostgresStore, specs: &[Arc<TableSpec>]) -> Result<Vec<String>> {
    let conn = store.conn().await?;
    let mut done = Vec::new();
    for spec in specs {
        let name = qualified(store.schema_of(spec), &spec.table);
        let exists = conn
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
            .await
            .map_err(from_pg)?
            .get::<_, bool>(0);
        if !exists {
            continue;
        }
        let statement = format!("VACUUM (ANALYZE) {name}");
        conn.client
            .batch_execute(&statement)
            .await
            .map_err(|e| from_pg(e).with_class(spec.name.clone()))?;
        done.push(statement);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::numeric_text;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ndigits as u16, weight as u16, sign, dscale] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_as_text() {
        // 12345.678 = [1, 2345, 6780] weight 1, dscale 3
        assert_eq!(
            numeric_text(&numeric(3, 1, 0, 3, &[1, 2345, 6780])).as_deref(),
            Some("12345.678")
        );
        assert_eq!(
            numeric_text(&numeric(1, -1, 0x4000, 2, &[5000])).as_deref(),
            Some("-0.50")
        );
        assert_eq!(
            numeric_text(&numeric(0, 0, 0, 0, &[])).as_deref(),
            Some("0")
        );
        assert_eq!(
            numeric_text(&numeric(1, 2, 0, 0, &[7])).as_deref(),
            Some("700000000")
        );
    }
}
