//! Parquet lake views (`lake:` in quantdal.yaml) as a DuckDB table function.
//!
//! The bundled DuckDB build does not include the `parquet` extension (building it in would add minutes to
//! the cold C++ build, and an unbundled `read_parquet` makes DuckDB try to download the extension from the
//! internet). So `quantdal_lake_scan(token)` reads the files with the Rust `parquet` crate instead and
//! streams them into DuckDB chunk by chunk, reading only the columns the query uses (projection pushdown):
//! nothing is imported and memory stays at one record batch per scan. A view is registered for the
//! duration of one statement ([`LakeRegistration`]), so only the files of configured views are ever read.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{
    record_batch_to_duckdb_data_chunk, to_duckdb_logical_type_for_field, BindInfo, InitInfo,
    TableFunctionInfo, VTab,
};
use duckdb::Connection;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use quantdal_core::{Error, ErrorKind, LakeView, Result};

use crate::errors::from_duckdb;

/// Name the scan is registered under on every connection.
pub const LAKE_SCAN: &str = "quantdal_lake_scan";

/// DuckDB's standard vector size: the most rows one output chunk takes.
const VECTOR_SIZE: usize = 2048;

/// One file of a view and the `key=value` folders above it (hive partitioning).
#[derive(Debug, Clone)]
struct LakeFile {
    path: PathBuf,
    partitions: Vec<String>,
}

/// A view resolved to files, with the columns every file must have, then the partition columns.
#[derive(Debug)]
struct LakeSource {
    name: String,
    files: Vec<LakeFile>,
    /// Columns stored in the files.
    file_schema: SchemaRef,
    /// Names of the partition columns (Utf8), after the file columns.
    partition_columns: Vec<String>,
}

impl LakeSource {
    fn schema(&self) -> Schema {
        let mut fields: Vec<Field> = self
            .file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(
            self.partition_columns
                .iter()
                .map(|p| Field::new(p, DataType::Utf8, true)),
        );
        Schema::new(fields)
    }
}

static SOURCES: LazyLock<Mutex<HashMap<u64, Arc<LakeSource>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
// Far from small literals, so a number typed in a query never selects a registration by accident.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1 << 62);

/// A lake view made readable by `quantdal_lake_scan(<token>)` until dropped.
#[derive(Debug)]
pub struct LakeRegistration {
    token: u64,
    files: usize,
}

impl LakeRegistration {
    /// Resolves the view's files (a file, a glob, or every `.parquet` under a folder) and reads the first
    /// file's schema; every other file must have the same columns.
    pub fn new(view: &LakeView) -> Result<LakeRegistration> {
        let files = resolve_files(view)?;
        let first = files.first().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "lake view `{}`: no Parquet file matches {}",
                    view.name,
                    view.path.display()
                ),
            )
        })?;
        let file_schema = read_schema(&first.path)?;
        let partition_columns = partition_names(&first.partitions);
        for f in &files {
            if partition_names(&f.partitions) != partition_columns {
                return Err(Error::config(format!(
                    "lake view `{}`: {} is partitioned by other keys than {}",
                    view.name,
                    f.path.display(),
                    first.path.display()
                )));
            }
        }
        let source = LakeSource {
            name: view.name.clone(),
            files,
            file_schema,
            partition_columns,
        };
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let files = source.files.len();
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, Arc::new(source));
        Ok(LakeRegistration { token, files })
    }

    /// The table expression reading this view.
    pub fn table_function(&self) -> String {
        format!("{LAKE_SCAN}({})", self.token)
    }

    pub fn token(&self) -> u64 {
        self.token
    }

    pub fn files(&self) -> usize {
        self.files
    }
}

impl Drop for LakeRegistration {
    fn drop(&mut self) {
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.token);
    }
}

fn partition_names(partitions: &[String]) -> Vec<String> {
    partitions
        .iter()
        .filter_map(|p| p.split_once('=').map(|(k, _)| k.to_string()))
        .collect()
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

fn read_schema(path: &Path) -> Result<SchemaRef> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| io_error(path, e))?;
    Ok(builder.schema().clone())
}

/// The files of a view, sorted by path: a single file, the matches of a glob (`*`, `?`, `**`), or every
/// `.parquet` file below a folder, with the folder's `key=value` segments when `hive` is on.
fn resolve_files(view: &LakeView) -> Result<Vec<LakeFile>> {
    let text = view.path.to_string_lossy().to_string();
    let mut out = Vec::new();
    if text.contains(['*', '?', '[']) {
        // The fixed folder before the first wildcard component, then the pattern below it.
        let mut base = PathBuf::new();
        let mut pattern = Vec::new();
        for c in view.path.components() {
            let s = c.as_os_str().to_string_lossy().to_string();
            if pattern.is_empty() && !s.contains(['*', '?', '[']) {
                base.push(c);
            } else {
                pattern.push(s);
            }
        }
        walk_glob(&base, &pattern, &mut Vec::new(), view.hive, &mut out)?;
    } else if view.path.is_dir() {
        walk_folder(&view.path, &mut Vec::new(), view.hive, &mut out)?;
    } else if view.path.is_file() {
        out.push(LakeFile {
            path: view.path.clone(),
            partitions: Vec::new(),
        });
    } else {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "lake view `{}`: {} does not exist",
                view.name,
                view.path.display()
            ),
        ));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn hive_segment(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().to_string();
    name.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|_| name.clone())
}

fn walk_folder(
    dir: &Path,
    partitions: &mut Vec<String>,
    hive: bool,
    out: &mut Vec<LakeFile>,
) -> Result<()> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            let segment = if hive { hive_segment(&entry) } else { None };
            let pushed = segment.is_some();
            if let Some(s) = segment {
                partitions.push(s);
            }
            walk_folder(&entry, partitions, hive, out)?;
            if pushed {
                partitions.pop();
            }
        } else if entry.extension().is_some_and(|e| e == "parquet") {
            out.push(LakeFile {
                path: entry,
                partitions: partitions.clone(),
            });
        }
    }
    Ok(())
}

fn walk_glob(
    dir: &Path,
    pattern: &[String],
    partitions: &mut Vec<String>,
    hive: bool,
    out: &mut Vec<LakeFile>,
) -> Result<()> {
    let Some((first, rest)) = pattern.split_first() else {
        return Ok(());
    };
    if !dir.is_dir() {
        return Ok(());
    }
    if first == "**" {
        // Zero folders, then one more folder and `**` again.
        walk_glob(dir, rest, partitions, hive, out)?;
        for entry in sorted_entries(dir)? {
            if entry.is_dir() {
                let segment = if hive { hive_segment(&entry) } else { None };
                let pushed = segment.is_some();
                if let Some(s) = segment {
                    partitions.push(s);
                }
                walk_glob(&entry, pattern, partitions, hive, out)?;
                if pushed {
                    partitions.pop();
                }
            }
        }
        return Ok(());
    }
    for entry in sorted_entries(dir)? {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !wildcard_match(first, &name) {
            continue;
        }
        if rest.is_empty() {
            if entry.is_file() {
                out.push(LakeFile {
                    path: entry,
                    partitions: partitions.clone(),
                });
            }
        } else if entry.is_dir() {
            let segment = if hive { hive_segment(&entry) } else { None };
            let pushed = segment.is_some();
            if let Some(s) = segment {
                partitions.push(s);
            }
            walk_glob(&entry, rest, partitions, hive, out)?;
            if pushed {
                partitions.pop();
            }
        }
    }
    Ok(())
}

/// `*` any run of characters, `?` one character, `[abc]` one of a set; everything else literally.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => match (rest.iter().position(|&c| c == ']'), n.split_first()) {
                (Some(end), Some((c, n_rest))) => {
                    rest[..end].contains(c) && go(&rest[end + 1..], n_rest)
                }
                _ => false,
            },
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Registers the scan on a connection (table functions live in the database catalog, so once per database).
pub(crate) fn register(conn: &Connection) -> Result<()> {
    match conn.register_table_function::<LakeVTab>(LAKE_SCAN) {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("already exists") => Ok(()),
        Err(e) => Err(from_duckdb(e)),
    }
}

struct LakeVTab;

struct LakeBind {
    source: Arc<LakeSource>,
}

/// Where a scan is: the file being read, its reader, and the rows of the current batch not yet emitted.
struct ScanState {
    next_file: usize,
    reader: Option<(ParquetRecordBatchReader, Vec<String>)>,
    current: Option<(RecordBatch, usize)>,
}

struct LakeInit {
    /// Projected columns, as indexes into the view's schema (file columns, then partitions).
    columns: Vec<u64>,
    state: Mutex<ScanState>,
}

type BoxError = Box<dyn std::error::Error>;

impl VTab for LakeVTab {
    type BindData = LakeBind;
    type InitData = LakeInit;

    fn bind(bind: &BindInfo) -> std::result::Result<LakeBind, BoxError> {
        let token = bind.get_parameter(0).to_uint64();
        let source = SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
            .cloned()
            .ok_or("no lake view is registered under this token")?;
        for field in source.schema().fields() {
            bind.add_result_column(field.name(), to_duckdb_logical_type_for_field(field)?);
        }
        Ok(LakeBind { source })
    }

    fn init(init: &InitInfo) -> std::result::Result<LakeInit, BoxError> {
        // One reader per scan keeps the files in order; DuckDB parallelises the rest of the plan.
        init.set_max_threads(1);
        Ok(LakeInit {
            columns: init.get_column_indices(),
            state: Mutex::new(ScanState {
                next_file: 0,
                reader: None,
                current: None,
            }),
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> std::result::Result<(), BoxError> {
        let source = &func.get_bind_data().source;
        let init = func.get_init_data();
        let mut state = init.state.lock().map_err(|_| "lake scan state poisoned")?;
        loop {
            if let Some((batch, offset)) = state.current.take() {
                if offset < batch.num_rows() {
                    let len = (batch.num_rows() - offset).min(VECTOR_SIZE);
                    let chunk = project(source, &batch.slice(offset, len), &init.columns)?;
                    state.current = Some((batch, offset + len));
                    record_batch_to_duckdb_data_chunk(&chunk, output)?;
                    return Ok(());
                }
            }
            if let Some((reader, partitions)) = state.reader.as_mut() {
                match reader.next() {
                    Some(batch) => {
                        let batch = with_partitions(batch?, partitions)?;
                        state.current = Some((batch, 0));
                        continue;
                    }
                    None => state.reader = None,
                }
            }
            let Some(file) = source.files.get(state.next_file) else {
                output.set_len(0);
                return Ok(());
            };
            state.next_file += 1;
            state.reader = Some((
                open_reader(source, file, &init.columns)?,
                file.partitions.clone(),
            ));
        }
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::UBigint)])
    }
}

/// A reader of the file columns among `columns`, checked against the view's columns.
fn open_reader(
    source: &LakeSource,
    file: &LakeFile,
    columns: &[u64],
) -> std::result::Result<ParquetRecordBatchReader, BoxError> {
    let handle = File::open(&file.path).map_err(|e| format!("{}: {e}", file.path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(handle)?;
    if builder.schema().fields() != source.file_schema.fields() {
        return Err(format!(
            "lake view `{}`: {} has other columns than the view's first file",
            source.name,
            file.path.display()
        )
        .into());
    }
    let n = source.file_schema.fields().len() as u64;
    let mut roots: Vec<usize> = columns
        .iter()
        .filter(|&&c| c < n)
        .map(|&c| c as usize)
        .collect();
    roots.sort_unstable();
    roots.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    Ok(builder
        .with_projection(mask)
        .with_batch_size(8 * VECTOR_SIZE)
        .build()?)
}

/// Appends the file's partition values (all rows alike) after its projected columns.
fn with_partitions(
    batch: RecordBatch,
    partitions: &[String],
) -> std::result::Result<RecordBatch, BoxError> {
    if partitions.is_empty() {
        return Ok(batch);
    }
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for p in partitions {
        let (key, value) = p.split_once('=').unwrap_or((p.as_str(), ""));
        fields.push(Field::new(key, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(vec![value; batch.num_rows()])));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The chunk DuckDB asked for: the projected columns in its order. A column index past the view's
/// columns is DuckDB's row id (asked for by `count(*)`), answered with the row number.
fn project(
    source: &LakeSource,
    batch: &RecordBatch,
    columns: &[u64],
) -> std::result::Result<RecordBatch, BoxError> {
    let schema = source.schema();
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for &c in columns {
        match schema.fields().get(c as usize) {
            Some(field) => {
                let array = batch
                    .column_by_name(field.name())
                    .ok_or_else(|| format!("column {} was not read", field.name()))?;
                fields.push(field.as_ref().clone());
                arrays.push(array.clone());
            }
            None => {
                fields.push(Field::new("rowid", DataType::Int64, false));
                arrays.push(Arc::new(Int64Array::from_iter_values(
                    0..batch.num_rows() as i64,
                )));
            }
        }
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.parquet", "a.parquet"));
        assert!(!wildcard_match("*.parquet", "a.csv"));
        assert!(wildcard_match("day=2024-0?-*", "day=2024-01-02"));
        assert!(wildcard_match("[ab].parquet", "b.parquet"));
        assert!(!wildcard_match("[ab].parquet", "c.parquet"));
    }
}
