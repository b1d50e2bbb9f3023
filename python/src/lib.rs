//! `quantdal._quantdal`: the native half of the Python package. The public API (argument normalisation,
//! DataFrame conversions, docstrings) is `quantdal/__init__.py`; this module wraps `quantdal::Dal` with
//! simple argument types.
//!
//! Every store call goes through [`runtime::run`]: one process-wide tokio runtime, the GIL released while
//! the call runs. Arrow crosses the boundary through the C Data / Stream interfaces (arrow-rs'
//! `pyarrow` feature), so batches are shared, not copied, in both directions.

mod convert;
mod errors;
mod heap;
mod runtime;
mod stream;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::pyarrow::{IntoPyArrow, ToPyArrow};
use futures::StreamExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quantdal::{Config, Dal, Error, OpenOptions, SaveOptions};
use quantdal_core::columns::ColumnsBuilder;
use quantdal_core::output::projected_schema;

use convert::{build_load, QueryArgs, TimeValue};
use errors::{kind_from_str, to_py_err, IntoPy};
use stream::StreamReader;

fn join_error(e: arrow::error::ArrowError) -> Error {
    Error::store(format!("joining the result's columns: {e}"))
}

/// The CLI's resolution (crates/quantdal-cli/src/run.rs): an explicit path, else `$QUANTDAL_CONFIG`, else
/// `./config/quantdal.yaml` when present, else an embedded store in `./data` with the built-in classes.
fn resolve_config(path: Option<PathBuf>) -> quantdal::Result<Config> {
    let explicit = path.or_else(|| {
        std::env::var_os("QUANTDAL_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(
                Error::config("config file not found").with_file(path.display().to_string())
            );
        }
        return Config::load(&path);
    }
    let default = PathBuf::from("config/quantdal.yaml");
    if default.exists() {
        Config::load(&default)
    } else {
        Config::embedded("data")
    }
}

/// A `quantdal::Dal`. Use `quantdal.Dal`, which wraps this with the documented arguments.
#[pyclass(module = "quantdal._quantdal", name = "Dal", frozen)]
struct PyDal {
    /// `None` once closed. The lock is held only to clone or take the `Arc`, never across a store call, so
    /// calls from many threads run concurrently.
    inner: RwLock<Option<Arc<Dal>>>,
}

impl PyDal {
    fn new(dal: Dal) -> Self {
        PyDal {
            inner: RwLock::new(Some(Arc::new(dal))),
        }
    }

    fn dal(&self) -> PyResult<Arc<Dal>> {
        self.inner
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| PyValueError::new_err("this Dal is closed"))
    }

    fn open_with(py: Python<'_>, config: Config, read_only: bool) -> PyResult<PyDal> {
        let dal = runtime::run(py, async move {
            Dal::from_config(config, OpenOptions { read_only }).await
        })?;
        Ok(PyDal::new(dal))
    }
}

impl Drop for PyDal {
    fn drop(&mut self) {
        // Dropping the stores may touch tokio (pools, monitoring writer): do it inside the runtime's context.
        let dal = self.inner.get_mut().ok().and_then(Option::take);
        if let (Some(dal), Ok(rt)) = (dal, runtime::runtime()) {
            let _guard = rt.enter();
            drop(dal);
        }
    }
}

#[pymethods]
impl PyDal {
    #[staticmethod]
    #[pyo3(signature = (path=None, read_only=false))]
    fn open(py: Python<'_>, path: Option<PathBuf>, read_only: bool) -> PyResult<PyDal> {
        let config = resolve_config(path).py_err(py)?;
        PyDal::open_with(py, config, read_only)
    }

    #[staticmethod]
    #[pyo3(signature = (dir, read_only=false))]
    fn embedded(py: Python<'_>, dir: PathBuf, read_only: bool) -> PyResult<PyDal> {
        let config = Config::embedded(dir).py_err(py)?;
        PyDal::open_with(py, config, read_only)
    }

    /// Flushes monitoring, stops its writer and releases the stores (the embedded file's lock included).
    /// Returns the monitoring error's text when its store was away (records wait in the spill file).
    fn close(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let dal = self.inner.write().ok().and_then(|mut g| g.take());
        let Some(dal) = dal else { return Ok(None) };
        let rt = runtime::runtime()?;
        let note = py.detach(move || {
            let note = rt.block_on(async {
                match dal.monitor() {
                    Some(m) => m.shutdown().await.err().map(|e| e.to_string()),
                    None => None,
                }
            });
            let _guard = rt.enter();
            drop(dal);
            note
        });
        Ok(note)
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let dal = self.dal()?;
        runtime::run(py, async move { dal.flush().await })
    }

    fn is_closed(&self) -> bool {
        self.inner.read().map(|g| g.is_none()).unwrap_or(true)
    }

    fn classes<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let dal = self.dal()?;
        dal.classes()
            .into_iter()
            .map(|c| {
                let d = PyDict::new(py);
                d.set_item("cls", c.class)?;
                d.set_item("category", c.category.to_string())?;
                d.set_item("route", c.route)?;
                d.set_item("store", c.store)?;
                d.set_item("kind", c.kind.to_string())?;
                d.set_item("table", c.table)?;
                d.set_item("description", c.description)?;
                Ok(d)
            })
            .collect()
    }

    /// The class's Arrow schema (what `load` returns with every column).
    fn schema<'py>(&self, py: Python<'py>, cls: &str) -> PyResult<Bound<'py, PyAny>> {
        let spec = self.dal()?.spec(cls).py_err(py)?;
        spec.arrow_schema().as_ref().to_pyarrow(py)
    }

    fn provision<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let dal = self.dal()?;
        let entries = runtime::run(py, async move { dal.provision().await })?;
        entries
            .into_iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("cls", e.class)?;
                d.set_item("store", e.store)?;
                d.set_item("table", e.table)?;
                d.set_item("status", e.status.to_string())?;
                d.set_item("notes", e.notes)?;
                Ok(d)
            })
            .collect()
    }

    #[pyo3(signature = (cls, data, naive_utc=false, timestamp_format=None))]
    fn save<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        data: &Bound<'py, PyAny>,
        naive_utc: bool,
        timestamp_format: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dal = self.dal()?;
        let spec = dal.spec(&cls).py_err(py)?;
        let (schema, batches) = convert::import_batches(data)?;
        if !naive_utc {
            if let Some(column) = convert::naive_timestamp_columns(&spec, &schema)
                .into_iter()
                .next()
            {
                return Err(to_py_err(
                    py,
                    Error::invalid_batch(
                        "timestamps without a time zone: say which zone they are in (pandas: \
                         `s.dt.tz_localize(\"UTC\")` or the exchange's zone; polars: \
                         `.dt.replace_time_zone(\"UTC\")`), or pass naive=\"utc\" to read them as UTC",
                    )
                    .with_class(cls)
                    .with_column(column)
                    .with_operation("save"),
                ));
            }
        }
        let mut options = SaveOptions::default();
        if let Some(format) = timestamp_format {
            options = options.timestamp_format(format);
        }
        let report = runtime::run(py, async move {
            // A save is one atomic batch; a multi-chunk source is joined here, off the GIL (one copy, the
            // same `combine_chunks` would make). A single chunk goes through untouched.
            let batch = match batches.len() {
                1 => batches
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| RecordBatch::new_empty(schema)),
                0 => RecordBatch::new_empty(schema),
                _ => concat_batches(&schema, &batches).map_err(|e| {
                    Error::invalid_batch(format!("joining the input's chunks: {e}"))
                })?,
            };
            dal.save_with(&cls, &batch, &options).await
        })?;
        let d = PyDict::new(py);
        d.set_item("cls", report.class)?;
        d.set_item("store", report.store)?;
        d.set_item("kind", report.kind.to_string())?;
        d.set_item("table", report.table)?;
        d.set_item("rows", report.rows)?;
        d.set_item("elapsed", report.elapsed.as_secs_f64())?;
        Ok(d)
    }

    /// Rows of `cls` as a `pyarrow.Table`: the store's batches as they came, shared, not copied.
    fn load<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec_schema = dal.spec(&cls).py_err(py)?.arrow_schema();
        let batches = runtime::run(py, async move { dal.load(&cls, load).await })?;
        let schema = convert::result_schema(&batches, || spec_schema);
        convert::to_table(py, schema, batches)
    }

    /// Rows of `cls` for a DataFrame conversion: `(pyarrow.Schema, [pyarrow.Array, ...])`, one array per
    /// column, each exported on its own so the conversion can free a column once it is converted
    /// (`quantdal_core::columns`).
    fn load_columns<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Vec<Bound<'py, PyAny>>)> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec_schema = dal.spec(&cls).py_err(py)?.arrow_schema();
        let (schema, columns) = runtime::run(py, async move {
            let mut stream = dal.load_stream(&cls, load).await?;
            let mut columns: Option<ColumnsBuilder> = None;
            while let Some(batch) = stream.next().await.transpose()? {
                columns
                    .get_or_insert_with(|| ColumnsBuilder::new(batch.schema()))
                    .push(&batch)
                    .map_err(join_error)?;
            }
            let builder = columns.unwrap_or_else(|| ColumnsBuilder::new(spec_schema));
            // What the load freed on the way (a store's decode buffers) goes back before the joins.
            heap::trim();
            let schema = builder.schema();
            let columns = builder.finish(heap::trim).map_err(join_error)?;
            Ok::<_, Error>((schema, columns))
        })?;
        let arrays = columns
            .into_iter()
            .map(|column| column.to_data().to_pyarrow(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((schema.as_ref().to_pyarrow(py)?, arrays))
    }

    /// Rows of `cls` as a streaming `pyarrow.RecordBatchReader`.
    fn load_batches<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        // The first batch is read before returning, so errors in the request (unknown class or column, bad
        // value, store away) raise here as `quantdal.Error`, and the reader knows its schema.
        let spec_schema = dal.spec(&cls).py_err(py)?.arrow_schema();
        let (first, stream) = runtime::run(py, async move {
            let mut stream = dal.load_stream(&cls, load).await?;
            let first = stream.next().await.transpose()?;
            Ok::<_, Error>((first, stream))
        })?;
        let schema = first.as_ref().map_or(spec_schema, |b| b.schema());
        let reader = StreamReader::spawn(runtime::runtime()?, schema, first, stream);
        let boxed: Box<dyn arrow::array::RecordBatchReader + Send> = Box::new(reader);
        boxed.into_pyarrow(py)
    }

    fn latest<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec_schema = dal.spec(&cls).py_err(py)?.arrow_schema();
        let batches = runtime::run(py, async move { dal.latest(&cls, load).await })?;
        let schema = convert::result_schema(&batches, || spec_schema);
        convert::to_table(py, schema, batches)
    }

    fn kline<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        interval: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec = dal.spec(&cls).py_err(py)?;
        let batches = runtime::run(py, async move { dal.kline(&cls, &interval, load).await })?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => quantdal_core::kline_schema(&spec).py_err(py)?,
        };
        convert::to_table(py, schema, batches)
    }

    /// Every revision of the selected keys of a versioned class, with `_known_at` and `_deleted`.
    fn history<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec = dal.spec(&cls).py_err(py)?;
        let query = load.resolve(&spec).py_err(py)?;
        let batches = runtime::run(py, async move { dal.history(&cls, load).await })?;
        let schema = convert::result_schema(&batches, || {
            quantdal_core::versions::history_schema(&spec, &query.columns)
        });
        convert::to_table(py, schema, batches)
    }

    fn delete(&self, py: Python<'_>, cls: String, q: QueryArgs<'_>) -> PyResult<u64> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        runtime::run(py, async move { dal.delete(&cls, load).await })
    }

    fn truncate(&self, py: Python<'_>, cls: String) -> PyResult<u64> {
        let dal = self.dal()?;
        runtime::run(py, async move { dal.truncate(&cls).await })
    }

    fn count(&self, py: Python<'_>, cls: String) -> PyResult<u64> {
        let dal = self.dal()?;
        runtime::run(py, async move { dal.count(&cls).await })
    }

    /// Rows saved from now on, as an endless streaming `pyarrow.RecordBatchReader`.
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        cls: String,
        q: QueryArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dal = self.dal()?;
        let load = build_load(py, &q)?;
        let spec = dal.spec(&cls).py_err(py)?;
        let query = load.resolve(&spec).py_err(py)?;
        let schema = projected_schema(&spec, &query.columns);
        let stream = runtime::run(py, async move { dal.subscribe(&cls, load).await })?;
        let reader = StreamReader::spawn(runtime::runtime()?, schema, None, stream);
        let boxed: Box<dyn arrow::array::RecordBatchReader + Send> = Box::new(reader);
        boxed.into_pyarrow(py)
    }

    fn __repr__(&self) -> String {
        match self.dal() {
            Ok(dal) => format!(
                "Dal(stores=[{}])",
                dal.stores()
                    .map(|s| format!("{} ({}, {})", s.name, s.kind, s.location))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(_) => "Dal(closed)".to_string(),
        }
    }
}

/// Raises the `quantdal.Error` subclass of `kind` with every context field set: lets the test suite check
/// the mapping of kinds that no local store can be made to produce on demand (`conflict`, `io`).
#[pyfunction]
#[pyo3(signature = (kind, message, cls=None, column=None, row=None))]
fn _raise_error(
    py: Python<'_>,
    kind: &str,
    message: &str,
    cls: Option<String>,
    column: Option<String>,
    row: Option<usize>,
) -> PyResult<()> {
    let kind = kind_from_str(kind)
        .ok_or_else(|| PyValueError::new_err(format!("no error kind `{kind}`")))?;
    let mut e = Error::new(kind, message);
    if let Some(c) = cls {
        e = e.with_class(c);
    }
    if let Some(c) = column {
        e = e.with_column(c);
    }
    if let Some(r) = row {
        e = e.with_row(r);
    }
    Err(to_py_err(py, e))
}

/// The native part of quantdal; use the `quantdal` package.
#[pymodule]
fn _quantdal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDal>()?;
    m.add_class::<TimeValue>()?;
    m.add_function(wrap_pyfunction!(_raise_error, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
