//! Python arguments → `quantdal::Load`, and Arrow across the boundary (PyCapsule interface, zero-copy).
//!
//! The Python layer (`quantdal/__init__.py`) has already normalised what users pass: times are nanoseconds
//! or the CLI's strings, `where` items are grammar strings or `(column, op, [values])`, and values are
//! `None | bool | int | float | str | TimeValue`. This side turns those into exactly the `Load`,
//! `Predicate` and `Value` a Rust caller would build, so binding and coercion are the Rust API's own.

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow::pyarrow::{FromPyArrow, IntoPyArrow};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use quantdal::{Error, Load, Op, Order, Predicate, Timestamp, Value};

use crate::errors::to_py_err;

/// An instant handed over from Python as nanoseconds since the epoch (UTC), so a `where` value that is a
/// datetime becomes `Value::Time` exactly as `col("ts").gt(datetime)` would in Rust, not a string.
#[pyclass(module = "quantdal._quantdal", frozen, eq, hash, skip_from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeValue {
    #[pyo3(get)]
    pub ns: i64,
}

#[pymethods]
impl TimeValue {
    #[new]
    fn new(ns: i64) -> Self {
        TimeValue { ns }
    }
    fn __repr__(&self) -> String {
        format!("TimeValue({})", Timestamp::from_nanos(self.ns))
    }
}

/// A range bound: nanoseconds since the epoch (UTC) or text in the CLI's forms.
#[derive(FromPyObject)]
pub enum TimeArg {
    Ns(i64),
    Text(String),
}

impl TimeArg {
    fn timestamp(&self, which: &str) -> quantdal::Result<Timestamp> {
        match self {
            TimeArg::Ns(ns) => Ok(Timestamp::from_nanos(*ns)),
            TimeArg::Text(t) => {
                Timestamp::parse(t).map_err(|m| Error::invalid_query(format!("{which}: {m}")))
            }
        }
    }
}

/// One `where` item.
#[derive(FromPyObject)]
pub enum WhereItem<'py> {
    Text(String),
    Tuple(String, String, Vec<Bound<'py, PyAny>>),
}

/// Everything a load-like call takes, as the Python layer passes it (a dict with every key present).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct QueryArgs<'py> {
    pub start: Option<TimeArg>,
    pub end: Option<TimeArg>,
    pub symbols: Option<Vec<String>>,
    pub tags: Option<Vec<(String, Vec<Bound<'py, PyAny>>)>>,
    pub columns: Option<Vec<String>>,
    #[pyo3(item("where"))]
    pub filters: Vec<WhereItem<'py>>,
    pub order: String,
    pub limit: Option<u64>,
    pub as_of: Option<TimeArg>,
}

/// A Python scalar → `Value`. Integers stay integers (a value past i64 is an error, never a float), so a
/// BIGINT or DECIMAL column is compared exactly.
pub fn value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.cast::<PyInt>().is_ok() {
        return v.extract::<i64>().map(Value::Int).map_err(|_| {
            to_py_err(
                v.py(),
                Error::invalid_query(format!("{v} does not fit a 64-bit integer")),
            )
        });
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::Str(s.to_cow()?.into_owned()));
    }
    if let Ok(t) = v.cast::<TimeValue>() {
        return Ok(Value::Time(Timestamp::from_nanos(t.get().ns)));
    }
    Err(PyTypeError::new_err(format!(
        "cannot use a {} as a filter value (use None, bool, int, float, str, Decimal, datetime or date)",
        v.get_type().name()?
    )))
}

fn op(text: &str) -> Option<Op> {
    match text.trim().to_ascii_lowercase().as_str() {
        "is null" | "is_null" => Some(Op::IsNull),
        "is not null" | "is_not_null" => Some(Op::IsNotNull),
        "not in" => None,
        other => Op::parse(other),
    }
}

fn predicate(py: Python<'_>, item: &WhereItem<'_>) -> PyResult<Predicate> {
    match item {
        WhereItem::Text(text) => quantdal::filters::parse_predicate(text)
            .map_err(|e| to_py_err(py, e.with_message_prefix(format!("where '{text}'")))),
        WhereItem::Tuple(column, op_text, values) => {
            let op = op(op_text).ok_or_else(|| {
                to_py_err(
                    py,
                    Error::invalid_query(format!(
                        "unknown operator `{op_text}` (use = != < <= > >= in between 'is null' 'is not null')"
                    ))
                    .with_column(column.clone()),
                )
            })?;
            Ok(Predicate {
                column: column.clone(),
                op,
                values: values.iter().map(value).collect::<PyResult<_>>()?,
            })
        }
    }
}

fn order(text: &str) -> quantdal::Result<Order> {
    match text.to_ascii_lowercase().as_str() {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        "unordered" | "none" => Ok(Order::Unordered),
        other => Err(Error::invalid_query(format!(
            "order must be \"asc\", \"desc\" or \"unordered\", not {other:?}"
        ))),
    }
}

/// The `Load` a Rust caller would write for these arguments.
pub fn build_load(py: Python<'_>, q: &QueryArgs<'_>) -> PyResult<Load> {
    let err = |e: Error| to_py_err(py, e);
    let mut load = Load::all();
    if let Some(s) = &q.start {
        load = load.since(s.timestamp("start").map_err(err)?);
    }
    if let Some(e) = &q.end {
        load = load.until(e.timestamp("end").map_err(err)?);
    }
    if let Some(symbols) = &q.symbols {
        load = load.symbols(symbols.iter());
    }
    for (column, values) in q.tags.iter().flatten() {
        let values: Vec<Value> = values.iter().map(value).collect::<PyResult<_>>()?;
        load = load.tag(column, values);
    }
    if let Some(columns) = &q.columns {
        load = load.columns(columns.iter().cloned());
    }
    for item in &q.filters {
        load = load.filter(predicate(py, item)?);
    }
    load = load.order(order(&q.order).map_err(err)?);
    if let Some(n) = q.limit {
        load = load.limit(n);
    }
    if let Some(t) = &q.as_of {
        load = load.as_of(t.timestamp("as_of").map_err(err)?);
    }
    Ok(load)
}

/// Reads any Arrow PyCapsule producer (`__arrow_c_stream__`: pyarrow Table / RecordBatchReader, polars
/// DataFrame, …; or `__arrow_c_array__`: a RecordBatch) into batches. The buffers are the producer's own
/// memory (C Data Interface), so nothing is copied. The GIL stays held: a producer may be Python code.
pub fn import_batches(data: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let py = data.py();
    if data.hasattr(intern!(py, "__arrow_c_stream__"))? {
        let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
            to_py_err(
                py,
                Error::invalid_batch(format!("reading the Arrow stream: {e}")),
            )
        })?;
        return Ok((schema, batches));
    }
    if data.hasattr(intern!(py, "__arrow_c_array__"))? {
        let batch = RecordBatch::from_pyarrow_bound(data)?;
        return Ok((batch.schema(), vec![batch]));
    }
    Err(PyTypeError::new_err(format!(
        "save takes a pyarrow Table / RecordBatch / RecordBatchReader, a polars or pandas DataFrame, or any \
         object with the Arrow PyCapsule interface; got {}",
        data.get_type().name()?
    )))
}

/// The names of the `TIMESTAMP` columns of `class` that arrive without a time zone.
pub fn naive_timestamp_columns(spec: &quantdal::TableSpec, schema: &SchemaRef) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::Timestamp(_, None)))
        .filter(|f| {
            spec.column(f.name())
                .is_some_and(|c| matches!(c.data_type, quantdal_core::NeutralType::Timestamp))
        })
        .map(|f| f.name().clone())
        .collect()
}

/// Batches → `pyarrow.Table`, through one C stream (`RecordBatchReader.read_all`, which runs without the
/// GIL): the table's buffers are the Rust batches' memory, not a copy.
pub fn to_table(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyAny>> {
    let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
        batches.into_iter().map(Ok),
        schema,
    ));
    reader
        .into_pyarrow(py)?
        .call_method0(intern!(py, "read_all"))
}

/// The schema of a result: its first batch's (stores always yield one, even for no rows), else `fallback`.
pub fn result_schema(batches: &[RecordBatch], fallback: impl FnOnce() -> SchemaRef) -> SchemaRef {
    batches.first().map(|b| b.schema()).unwrap_or_else(fallback)
}
