//! The replayer: one task per spool, woken by a new record and every few seconds, that holds the spool
//! folder's lock (so one process replays a folder at a time), saves each class's records in order through
//! the store (its retry and cache layers included), and deletes each record once the store has it. While
//! the store is away — or refuses the batch (a table not provisioned yet, a server-side constraint) — it
//! backs off (100 ms doubling to 5 s) and tries again: the record stays, the failure is in the monitoring DB
//! (an alert), and only a human discards it. A damaged record (bad length or checksum) is the one thing set
//! aside, since no retry can mend it.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quantdal_core::{Error, Result, Store};

use super::{store_away, Record, Spool};

const IDLE_POLL: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) fn start(spool: Arc<Spool>, store: Arc<dyn Store>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // The task holds a weak reference between passes: it ends once the `Dal` (and so the spool) is dropped.
    let weak = Arc::downgrade(&spool);
    drop(spool);
    handle.spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Some(spool) = weak.upgrade() else { return };
            let outcome = replay_once(&spool, store.as_ref()).await;
            let wait = match outcome {
                Ok(Progress::Idle) => {
                    backoff = FIRST_BACKOFF;
                    IDLE_POLL
                }
                Ok(Progress::Drained) => {
                    backoff = FIRST_BACKOFF;
                    Duration::ZERO
                }
                Ok(Progress::Busy) => IDLE_POLL,
                Ok(Progress::StoreAway) | Err(_) => {
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            if let Err(e) = &outcome {
                tracing::warn!(store = %spool.store, error = %e, "spool replay failed; retrying");
            }
            if wait.is_zero() {
                continue;
            }
            // Holding the spool while waiting delays the task's end by at most one wait after the `Dal` goes.
            let _ = tokio::time::timeout(wait, spool.wake.notified()).await;
        }
    });
}

pub(crate) enum Progress {
    /// Nothing to do.
    Idle,
    /// Another replayer (this process's or another's) holds the folder.
    Busy,
    /// Records were replayed; look again at once.
    Drained,
    /// The store is still away.
    StoreAway,
}

/// The folder's replay lock; `None` while another process holds it.
fn lock(spool: &Spool) -> Result<Option<File>> {
    let path = spool.dir.root().join("replay.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            Error::from(e).with_message_prefix(format_args!("spool lock {}", path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::from(e)),
    }
}

/// One pass over every class: replays all it can.
pub(crate) async fn replay_once(spool: &Spool, store: &dyn Store) -> Result<Progress> {
    let classes = spool.dir.classes()?;
    if classes.is_empty() {
        return Ok(Progress::Idle);
    }
    let Some(_lock) = lock(spool)? else {
        return Ok(Progress::Busy);
    };
    let mut replayed_any = false;
    for class in classes {
        let Some(spec) = spool.specs.get(&class).cloned() else {
            // A class this configuration does not route here: leave its records for one that does.
            continue;
        };
        for record in spool.dir.records(&class)? {
            match replay_record(spool, store, &spec, &record).await? {
                true => replayed_any = true,
                false => return Ok(Progress::StoreAway),
            }
        }
        // Empty now: saves of this class go straight to the store again (unless one just spooled).
        if std::fs::remove_dir(spool.dir.root().join(&class)).is_ok() {
            if let Some(m) = &spool.monitor {
                m.record_operation(
                    "spool_drained",
                    &class,
                    &spec.table,
                    &spool.info(),
                    Some(0),
                    quantdal_monitor::now_us(),
                    Duration::ZERO,
                    None,
                );
            }
        }
    }
    Ok(if replayed_any {
        Progress::Drained
    } else {
        Progress::Idle
    })
}

/// Saves one record; `Ok(false)` when the store is still away (the record stays).
async fn replay_record(
    spool: &Spool,
    store: &dyn Store,
    spec: &Arc<quantdal_core::TableSpec>,
    record: &Record,
) -> Result<bool> {
    let started = Instant::now();
    let start_us = quantdal_monitor::now_us();
    let batch = match spool.dir.read(record) {
        Ok(b) => b,
        Err(e) => {
            // Damaged (a truncated or altered file): reported, kept aside, never applied.
            let aside = spool.dir.set_aside(record)?;
            tracing::error!(class = %record.class, file = %aside.display(), error = %e,
                "damaged spool record set aside; the records after it are replayed");
            record_op(spool, spec, record, start_us, started, Some(&e));
            return Ok(true);
        }
    };
    match store.save(spec, batch).await {
        Ok(_) => {
            spool.dir.remove(record)?;
            spool.forget_bytes(record.bytes);
            spool.replayed_total.fetch_add(1, Ordering::Relaxed);
            record_op(spool, spec, record, start_us, started, None);
            Ok(true)
        }
        Err(e) if store_away(&e) => Ok(false),
        Err(e) => {
            // Refused (not provisioned yet, a constraint, a changed type): kept, retried, reported.
            tracing::error!(class = %record.class, file = %record.path.display(), error = %e,
                "the store refused a spooled batch; it stays in the spool and is retried");
            record_op(spool, spec, record, start_us, started, Some(&e));
            Ok(false)
        }
    }
}

fn record_op(
    spool: &Spool,
    spec: &quantdal_core::TableSpec,
    record: &Record,
    start_us: i64,
    started: Instant,
    error: Option<&Error>,
) {
    if let Some(m) = &spool.monitor {
        m.record_operation(
            "spool_replay",
            &spec.name,
            &spec.table,
            &spool.info(),
            Some(record.rows),
            start_us,
            started.elapsed(),
            error,
        );
    }
}
