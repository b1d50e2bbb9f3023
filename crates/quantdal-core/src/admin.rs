//! What a store offers to the operational commands beyond save / load: guarded read-only SQL, per-series
//! summaries (`overview`, the dashboard's coverage view), storage figures (`db audit`) and maintenance
//! (`db compact`). Every entry point has a default on [`crate::Store`], so a store implements only what it
//! can do and the facade never downcasts.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::load::{Order, Query};
use crate::spec::TableSpec;
use crate::store::BatchStream;
use crate::time::NANOS_PER_DAY;

/// The SQL a store speaks, so the facade's guard parses a statement with the right grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    Duckdb,
    Postgres,
    Tdengine,
}

/// One statement the facade's SQL guard (`quantdal::sql`) has parsed, checked to be a single read-only
/// SELECT over declared classes, and rewritten to the store's own table names. Stores run it on a read-only
/// connection or transaction and stop it at `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRequest {
    pub sql: String,
    /// Rows the caller will read at most (the statement already carries a LIMIT one above it).
    pub max_rows: u64,
    pub timeout: Duration,
}

/// One series of a class: rows held and the time they span; with `by_day`, rows per UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesSummary {
    /// The series key's values as text, in `spec.series_columns()` order (empty for a class without one).
    pub series: Vec<String>,
    pub rows: u64,
    /// Nanoseconds since the epoch; `None` for classes without a time column.
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// (days since 1970-01-01, rows), ascending; empty unless asked for.
    pub days: Vec<(i32, u64)>,
}

/// Bytes one class's table takes in its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStorage {
    pub class: String,
    pub table: String,
    pub table_bytes: Option<u64>,
    pub index_bytes: Option<u64>,
}

/// An embedded file: its size on disk against the blocks live data uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStorage {
    pub path: String,
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Bytes of blocks holding data.
    pub used_bytes: u64,
    /// Bytes of free blocks inside the file: what `quantdal db compact` gives back.
    pub free_bytes: u64,
}

/// What a store holds on disk, for `quantdal db audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageReport {
    pub tables: Vec<TableStorage>,
    /// Tables in the store's namespace that no class declares.
    pub undeclared: Vec<String>,
    pub file: Option<FileStorage>,
    pub notes: Vec<String>,
}

/// What compacting an embedded file found and did (`quantdal db compact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCompaction {
    pub path: String,
    pub dry_run: bool,
    pub bytes_before: u64,
    /// The fresh file's size (for a dry run: the bytes in use, about what a copy takes).
    pub bytes_after: u64,
    pub tables: Vec<TableCheck>,
    /// The previous file, kept beside the new one.
    pub backup: Option<String>,
    /// Older backups removed to keep `keep`.
    pub removed_backups: Vec<String>,
}

/// Rows and an order-independent checksum of one table, on both sides of a compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    pub table: String,
    pub rows: u64,
    pub checksum: String,
}

/// `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

pub(crate) fn unsupported(store: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("store `{store}` does not offer {what}"),
    )
}

/// The time column's value as nanoseconds since the epoch, per row (`None` for nulls).
pub fn time_ns(array: &dyn Array) -> Result<Vec<Option<i64>>> {
    use arrow::array::{
        Date32Array, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampNanosecondArray, TimestampSecondArray,
    };
    fn collect<A: Array>(a: &A, f: impl Fn(usize) -> i64) -> Vec<Option<i64>> {
        (0..a.len())
            .map(|i| if a.is_null(i) { None } else { Some(f(i)) })
            .collect()
    }
    let any = array.as_any();
    let bad = || Error::store(format!("time column of type {}", array.data_type()));
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let a = any
                .downcast_ref::<TimestampNanosecondArray>()
                .ok_or_else(bad)?;
            collect(a, |i| a.value(i))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = any
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(bad)?;
            collect(a, |i| a.value(i).saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = any
                .downcast_ref::<TimestampMillisecondArray>()
                .ok_or_else(bad)?;
            collect(a, |i| a.value(i).saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            let a = any.downcast_ref::<TimestampSecondArray>().ok_or_else(bad)?;
            collect(a, |i| a.value(i).saturating_mul(1_000_000_000))
        }
        DataType::Date32 => {
            let a = any.downcast_ref::<Date32Array>().ok_or_else(bad)?;
            collect(a, |i| i64::from(a.value(i)).saturating_mul(NANOS_PER_DAY))
        }
        _ => return Err(bad()),
    })
}

/// The load [`summarize_stream`] needs: the series columns and the time column, in no particular order.
pub fn summary_query(spec: &TableSpec, mut query: Query) -> Query {
    let mut columns: Vec<usize> = spec
        .series_columns()
        .iter()
        .filter_map(|c| spec.column_index(c))
        .collect();
    if let Some(t) = spec
        .time
        .as_ref()
        .and_then(|t| spec.column_index(&t.column))
    {
        columns.push(t);
    }
    query.columns = columns;
    query.order = Order::Unordered;
    query.limit = None;
    query
}

/// One series so far: rows, first and last time (ns), rows per day.
type Running = (u64, Option<i64>, Option<i64>, BTreeMap<i32, u64>);

/// Per-series summaries of a stream loaded with [`summary_query`]: what stores without a faster path
/// (a GROUP BY in the store) answer `summarize` with.
pub async fn summarize_stream(
    spec: &TableSpec,
    mut stream: BatchStream,
    by_day: bool,
) -> Result<Vec<SeriesSummary>> {
    let series_columns = spec.series_columns();
    let time = spec.time.as_ref().map(|t| t.column.clone());
    let mut acc: BTreeMap<Vec<String>, Running> = BTreeMap::new();
    let options = FormatOptions::default().with_null("");
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let keys = series_text(&batch, &series_columns, &options)?;
        let times = match &time {
            Some(t) => match batch.column_by_name(t) {
                Some(c) => time_ns(c.as_ref())?,
                None => vec![None; batch.num_rows()],
            },
            None => vec![None; batch.num_rows()],
        };
        for (key, t) in keys.into_iter().zip(times) {
            let e = acc.entry(key).or_default();
            e.0 += 1;
            if let Some(t) = t {
                e.1 = Some(e.1.map_or(t, |f| f.min(t)));
                e.2 = Some(e.2.map_or(t, |l| l.max(t)));
                if by_day {
                    *e.3.entry(t.div_euclid(NANOS_PER_DAY) as i32).or_default() += 1;
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|(series, (rows, first_ns, last_ns, days))| SeriesSummary {
            series,
            rows,
            first_ns,
            last_ns,
            days: days.into_iter().collect(),
        })
        .collect())
}

/// Each row's series key as text (`""` for nulls), in `columns` order.
pub fn series_text(
    batch: &RecordBatch,
    columns: &[&str],
    options: &FormatOptions<'_>,
) -> Result<Vec<Vec<String>>> {
    let mut formatters = Vec::with_capacity(columns.len());
    for c in columns {
        let array = batch
            .column_by_name(c)
            .ok_or_else(|| Error::store(format!("summary batch has no column {c}")))?;
        formatters.push(ArrayFormatter::try_new(array.as_ref(), options)?);
    }
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect()
        })
        .collect())
}
