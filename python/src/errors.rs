//! `quantdal::Error` → the Python hierarchy in `quantdal/errors.py` (`quantdal.Error` and one subclass per
//! kind), carrying kind, class, column, row, file, operation and the temporary flag.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use quantdal::{Error, ErrorKind};

/// The Python class name of each kind. `ErrorKind` is non-exhaustive: a kind added later falls back to the
/// base class until it gets its own.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "ConfigError",
        ErrorKind::UnknownClass => "UnknownClassError",
        ErrorKind::UnknownColumn => "UnknownColumnError",
        ErrorKind::InvalidBatch => "InvalidBatchError",
        ErrorKind::InvalidQuery => "InvalidQueryError",
        ErrorKind::Locked => "LockedError",
        ErrorKind::Unavailable => "UnavailableError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::Store => "StoreError",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::Io => "IoError",
        _ => "Error",
    }
}

/// Every kind, by the name `ErrorKind::as_str` gives it (for the test hook below).
pub fn kind_from_str(name: &str) -> Option<ErrorKind> {
    [
        ErrorKind::Config,
        ErrorKind::UnknownClass,
        ErrorKind::UnknownColumn,
        ErrorKind::InvalidBatch,
        ErrorKind::InvalidQuery,
        ErrorKind::Locked,
        ErrorKind::Unavailable,
        ErrorKind::Conflict,
        ErrorKind::Store,
        ErrorKind::Unsupported,
        ErrorKind::Io,
    ]
    .into_iter()
    .find(|k| k.as_str() == name)
}

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("quantdal.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let class = errors_module(py)?.getattr(class_name(e.kind()))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", e.kind().as_str())?;
    kwargs.set_item("message", e.message())?;
    kwargs.set_item("cls", e.class())?;
    kwargs.set_item("column", e.column())?;
    kwargs.set_item("row", e.row())?;
    kwargs.set_item("file", e.file())?;
    kwargs.set_item("operation", e.operation())?;
    kwargs.set_item("temporary", e.is_temporary())?;
    // str(err) is the Rust Display: kind, operation, context and message on one line, as the CLI prints it.
    let value = class.call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}

/// The Python exception for a quantdal error. If the Python side cannot be reached (a broken install) the
/// error still surfaces, as a `RuntimeError` with the same text.
pub fn to_py_err(py: Python<'_>, e: Error) -> PyErr {
    build(py, &e).unwrap_or_else(|import| {
        let err = PyRuntimeError::new_err(e.to_string());
        err.set_cause(py, Some(import));
        err
    })
}

/// For failures inside the binding itself (the runtime, a task that stopped): a `quantdal.StoreError`.
pub fn internal(message: impl Into<String>) -> PyErr {
    let e = Error::store(message);
    Python::attach(|py| to_py_err(py, e))
}

/// Converts `quantdal::Result` into `PyResult`.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for quantdal::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}
