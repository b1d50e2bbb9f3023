//! The one tokio runtime every `Dal` of the process shares, and `run`: drive a store call on it with the GIL
//! released.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::{internal, to_py_err};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// How often a waiting call takes the GIL back to look for Ctrl-C (`KeyboardInterrupt`). Short enough to
/// feel immediate, long enough that the wake-ups cost nothing measurable.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The shared multi-thread runtime, built on first use. One per process, not per `Dal`: stores spawn their
/// pools' background tasks on it, and two `Dal`s in one process then share its threads.
pub fn runtime() -> PyResult<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("quantdal")
        .build()
        .map_err(|e| internal(format!("cannot start the tokio runtime: {e}")))?;
    // Two threads may race to build it; the loser's runtime is dropped here, outside any runtime context.
    let _ = RUNTIME.set(rt);
    RUNTIME
        .get()
        .ok_or_else(|| internal("the tokio runtime vanished after being set"))
}

/// Runs `fut` on the shared runtime and waits for it without holding the GIL, so other Python threads run
/// meanwhile. Every `SIGNAL_POLL` it re-takes the GIL for a moment to check for Ctrl-C: then the task is
/// cancelled and `KeyboardInterrupt` raised. A cancelled save is still all-or-nothing (the store runs one
/// statement or transaction), so an interrupted call leaves either every row or none.
///
/// A panic inside the task is caught by tokio and becomes a `quantdal.StoreError`, never a Rust panic
/// crossing into Python.
pub fn run<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = quantdal::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    let mut handle = rt.spawn(fut);
    loop {
        let waited = py
            .detach(|| rt.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut handle).await }));
        match waited {
            Ok(Ok(Ok(value))) => return Ok(value),
            Ok(Ok(Err(e))) => return Err(to_py_err(py, e)),
            Ok(Err(join)) => {
                return Err(internal(format!(
                    "the store call stopped unexpectedly (a bug in quantdal): {join}"
                )))
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    handle.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}
