//! The TDengine store's operational entry points: guarded read-only SQL (`quantdal sql`, decoded from the
//! result's own field list) and `COMPACT DATABASE` for `quantdal db compact`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use quantdal_core::{BatchStream, Error, ErrorKind, Result, SqlRequest, TableSpec};
use taos::{AsyncFetchable, AsyncQueryable};

use crate::decode::{decode_result_block, result_schema};
use crate::errors::from_taos;
use crate::forward;
use crate::sql::{escape, ident};
use crate::TdengineStore;

/// How long `db compact` waits for the server to finish a compaction before reporting it as still running.
const COMPACT_WAIT: Duration = Duration::from_secs(600);
const COMPACT_POLL: Duration = Duration::from_millis(500);

fn timed_out(request: &SqlRequest) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "the statement ran past its time limit of {} ms and was stopped (sql.timeout_ms in quantdal.yaml, \
             or --timeout)",
            request.timeout.as_millis()
        ),
    )
}

/// Runs a statement the facade's guard checked (one SELECT over super-tables), streaming its blocks as Arrow
/// batches in the result's own schema; the first batch always comes, so an empty result keeps its columns.
/// TDengine has no read-only transaction: the guard is what keeps the statement a read. At the deadline the
/// client stops reading and frees the result.
pub(crate) async fn run_sql(store: &TdengineStore, request: &SqlRequest) -> Result<BatchStream> {
    let deadline = tokio::time::Instant::now() + request.timeout;
    let (idx, conn) = store.conn().await?;
    let rs = match tokio::time::timeout_at(deadline, conn.query(request.sql.as_str())).await {
        Ok(rs) => rs.map_err(|e| store.failed(idx, e))?,
        Err(_) => return Err(timed_out(request)),
    };
    let schema = result_schema(rs.fields(), rs.precision())?;
    let scrub_dsn = store.dsn.clone();
    let (tx, stream) = forward::channel(4);
    let request = request.clone();
    tokio::spawn(async move {
        // The connection stays checked out until the result is read or dropped.
        let _conn = conn;
        let mut rs = rs;
        let blocks = rs.blocks();
        // Past the deadline the next item is the timeout, which ends the read.
        let batches = futures::stream::unfold(blocks, |mut blocks| async {
            let item = match tokio::time::timeout_at(deadline, blocks.next()).await {
                Err(_) => Err(timed_out(&request)),
                Ok(None) => return None,
                Ok(Some(block)) => block
                    .map_err(|e| from_taos(e, &|m| scrub_dsn.scrub(m)))
                    .and_then(|b| decode_result_block(&b, &schema)),
            };
            Some((item, blocks))
        });
        forward::send_all(batches, tx, schema.clone()).await;
    });
    Ok(stream)
}

/// `COMPACT DATABASE` of every database holding one of `specs`' super-tables (once each, existing ones
/// only), waiting for the server to finish each; returns the statements with their compaction ids. A server
/// that does not offer compaction (the community edition) is `Unsupported`, which `db compact` reports as a
/// note.
pub(crate) async fn compact(
    store: &TdengineStore,
    specs: &[Arc<TableSpec>],
) -> Result<Vec<String>> {
    let databases: BTreeSet<String> = specs
        .iter()
        .map(|s| crate::database_of(s.as_ref()))
        .collect();
    let mut done = Vec::new();
    for db in databases {
        let exists = store
            .values(&format!(
                "SELECT name FROM information_schema.ins_databases WHERE name = {}",
                escape(&db).map_err(Error::store)?
            ))
            .await?;
        if exists.is_empty() {
            continue;
        }
        let statement = format!("COMPACT DATABASE {}", ident(&db));
        let started = Instant::now();
        // The answer is one row (result, id, reason); the compaction itself runs on in the vnodes.
        let rows = store.values(&statement).await.map_err(|e| {
            if e.kind() == ErrorKind::Unsupported {
                // The community edition's mnode answers 0x0100 to every COMPACT (an enterprise feature there).
                Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{statement} is refused by this TDengine server (0x0100 Operation not supported): its \
                         community edition offers no compaction; nothing was changed"
                    ),
                )
            } else {
                e.with_message_prefix(format_args!("database {db}"))
            }
        })?;
        let row = rows.first();
        let id = row.and_then(|r| r.get(1)).and_then(crate::store::value_int);
        let result = row
            .and_then(|r| r.first())
            .and_then(crate::store::value_text)
            .unwrap_or_default();
        let Some(id) = id else {
            let reason = row
                .and_then(|r| r.get(2))
                .and_then(crate::store::value_text)
                .unwrap_or_default();
            return Err(Error::store(format!(
                "database {db}: `{statement}` answered `{result}` without a compaction id ({reason})"
            )));
        };
        let finished = wait_for_compaction(store, id).await?;
        let seconds = started.elapsed().as_secs_f64();
        done.push(if finished {
            format!("{statement} -- compaction {id} finished in {seconds:.1} s")
        } else {
            format!(
                "{statement} -- compaction {id} still running after {seconds:.0} s (SHOW COMPACT {id} follows it)"
            )
        });
    }
    Ok(done)
}

/// Polls `information_schema.ins_compacts` until compaction `id` is gone (finished), up to [`COMPACT_WAIT`].
async fn wait_for_compaction(store: &TdengineStore, id: i64) -> Result<bool> {
    let started = Instant::now();
    loop {
        let rows = store
            .values(&format!(
                "SELECT compact_id FROM information_schema.ins_compacts WHERE compact_id = {id}"
            ))
            .await?;
        if rows.is_empty() {
            return Ok(true);
        }
        if started.elapsed() >= COMPACT_WAIT {
            return Ok(false);
        }
        tokio::time::sleep(COMPACT_POLL).await;
    }
}
