//! Import from and export to Parquet / CSV files, chosen by extension.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use quantdal::{BatchStream, Dal, Error, ErrorKind, Load, Result, SaveOptions, TableSpec};
use quantdal_core::output::projected_schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Parquet,
    Csv,
}

pub fn file_kind(path: &Path) -> Result<FileKind> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("parquet") | Some("pq") => Ok(FileKind::Parquet),
        Some("csv") => Ok(FileKind::Csv),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!("{}: use a .parquet or .csv file", path.display()),
        )),
    }
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, e.to_string()).with_file(path.display().to_string())
}

/// What an import did.
pub struct ImportSummary {
    pub rows: u64,
    pub seconds: f64,
    /// Chunks that went to the spool (their store was unavailable) and reach it later.
    pub spooled_chunks: u64,
    pub spooled_rows: u64,
}

/// All or nothing: the whole file is read and validated (parsed, typed, checked against the class as a
/// save would) before the first row is written, reading it in chunks so memory stays bounded; then it is
/// read again and saved chunk by chunk. A bad value anywhere is an error naming file, row and column, with
/// nothing written. A store that is unavailable mid-way takes the rest into its spool.
pub async fn import(
    dal: &Dal,
    class: &str,
    path: &Path,
    time_format: Option<String>,
    chunk_rows: usize,
    show_progress: bool,
) -> Result<ImportSummary> {
    let options = SaveOptions {
        timestamp_format: time_format.clone(),
    };
    let started = Instant::now();
    let (reader, total) = open_chunks(dal, class, path, &time_format, chunk_rows)?;
    let bar = progress(show_progress, total, "validating");
    let mut rows = 0u64;
    for chunk in reader {
        let batch = chunk?;
        dal.validate(class, &batch, &options)
            .map_err(|e| import_error(e, class, path, rows, 0))?;
        rows += batch.num_rows() as u64;
        bar.set_position(rows);
    }
    bar.finish_and_clear();

    let (reader, _) = open_chunks(dal, class, path, &time_format, chunk_rows)?;
    let bar = progress(show_progress, rows, "saving");
    let mut summary = ImportSummary {
        rows: 0,
        seconds: 0.0,
        spooled_chunks: 0,
        spooled_rows: 0,
    };
    for chunk in reader {
        let batch = chunk?;
        let report = dal
            .save_with(class, &batch, &options)
            .await
            .map_err(|e| import_error(e, class, path, summary.rows, summary.rows))?;
        if report.spooled {
            summary.spooled_chunks += 1;
            summary.spooled_rows += report.rows;
        }
        summary.rows += report.rows;
        bar.set_position(summary.rows);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

type Chunks = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;
/// A file reader's batches, before their errors are given file and row context.
type FileBatches =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send>;

/// The file's rows in chunks of the class's columns; read errors name file, row and (for CSV) column.
fn open_chunks(
    dal: &Dal,
    class: &str,
    path: &Path,
    time_format: &Option<String>,
    chunk_rows: usize,
) -> Result<(Chunks, u64)> {
    let spec = dal.spec(class)?;
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let (reader, total, csv_fields): (FileBatches, u64, Option<Arc<Schema>>) =
        match file_kind(path)? {
            FileKind::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| file_err(path, e))?;
                let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
                let reader = builder
                    .with_batch_size(chunk_rows.max(1))
                    .build()
                    .map_err(|e| file_err(path, e))?;
                (Box::new(reader), total, None)
            }
            FileKind::Csv => {
                // The CSV columns in file order, to name the column of a value the reader cannot parse.
                let schema = csv_schema(&spec, path, time_format.is_some())?;
                let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                    .with_header(true)
                    .with_batch_size(chunk_rows.max(1))
                    .build(file)
                    .map_err(|e| file_err(path, e))?;
                (Box::new(reader), 0, Some(schema))
            }
        };
    let (class, path) = (class.to_string(), path.to_path_buf());
    let mut rows = 0u64;
    let chunks = reader.map(move |batch| {
        let batch = batch.map_err(|e| {
            // Read errors surface in the validating pass, before anything is written.
            let mut err = Error::invalid_batch(format!(
                "cannot read rows after row {rows}: {e} (nothing was saved)"
            ))
            .with_file(path.display().to_string())
            .with_class(class.clone());
            if let Some(schema) = &csv_fields {
                let (column, row) = csv_error_place(&e.to_string(), schema);
                if let Some(column) = column {
                    err = err.with_column(column);
                }
                if let Some(row) = row {
                    err = err.with_row(row);
                }
            }
            err
        })?;
        rows += batch.num_rows() as u64;
        Ok(batch)
    });
    Ok((Box::new(chunks), total))
}

pub(crate) fn progress(show: bool, total: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = if total > 0 {
        ProgressBar::new(total)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{elapsed_precise}}] {{bar:40}} {{human_pos}}/{{human_len}} rows ({{per_sec}}) {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A chunk's error in file terms: rows counted from the first data row of the file, and what was written.
fn import_error(e: Error, class: &str, path: &Path, rows_before: u64, written: u64) -> Error {
    let note = if written == 0 {
        format!("{} (nothing was saved)", e.message())
    } else {
        format!(
            "{} (the store refused a chunk after {written} rows were saved; the file itself is valid, so \
             re-running the import once the cause is fixed is safe: saves are upserts)",
            e.message()
        )
    };
    let mut err = Error::new(e.kind(), note)
        .with_class(class.to_string())
        .with_file(path.display().to_string())
        .set_temporary(e.is_temporary());
    if let Some(row) = e.row() {
        err = err.with_row(rows_before as usize + row);
    }
    if let Some(column) = e.column() {
        err = err.with_column(column.to_string());
    }
    err
}

/// Where arrow's CSV reader failed. A value it cannot parse is named by the column's position in the file and
/// a line counted from 0 at the header ("… for column 2 at line 3 …"); a record of the wrong width by a line
/// counted from 1 at the header ("incorrect number of fields for line 4 …"). Returns the column's name and
/// the data row counted from 0, as validation errors count rows.
fn csv_error_place(message: &str, schema: &Schema) -> (Option<String>, Option<usize>) {
    let number_after = |key: &str| -> Option<usize> {
        let rest = &message[message.find(key)? + key.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let column = number_after("for column ")
        .or_else(|| number_after("Error parsing column "))
        .and_then(|i| schema.fields().get(i))
        .map(|f| f.name().clone());
    let row = number_after(" at line ")
        .and_then(|line| line.checked_sub(1))
        .or_else(|| number_after("for line ").and_then(|line| line.checked_sub(2)));
    (column, row)
}

/// The CSV header picks the columns; their types come from the class, so values are parsed, not guessed.
fn csv_schema(spec: &TableSpec, path: &Path, timestamps_as_text: bool) -> Result<Arc<Schema>> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let mut header = String::new();
    BufReader::new(file)
        .read_line(&mut header)
        .map_err(|e| file_err(path, e))?;
    let full = spec.arrow_schema();
    let mut fields = Vec::new();
    for name in header.trim_end_matches(['\r', '\n']).split(',') {
        let name = name.trim().trim_matches('"');
        let i = spec.column_index(name).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownColumn,
                "the CSV header names a column the class does not declare",
            )
            .with_class(spec.name.clone())
            .with_column(name.to_string())
            .with_file(path.display().to_string())
        })?;
        let field = full.field(i);
        let ty = match field.data_type() {
            DataType::Timestamp(_, _) | DataType::Date32 if timestamps_as_text => DataType::Utf8,
            t => t.clone(),
        };
        fields.push(Field::new(name, ty, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Streams the class's rows matching `load` into a file; returns rows written.
pub async fn export(dal: &Dal, class: &str, path: &Path, load: Load) -> Result<u64> {
    file_kind(path)?;
    // The columns the load returns, for a file with no rows (a projection keeps only its columns).
    let spec = dal.spec(class)?;
    let schema = projected_schema(&spec, &load.resolve(&spec)?.columns);
    let stream = dal.load_stream(class, load).await?;
    write_file(path, schema, stream).await
}

/// Writes a stream of batches to a Parquet (zstd) or CSV file, by extension; `schema` gives the columns
/// of a file with no rows. Returns rows written.
pub async fn write_file(path: &Path, schema: SchemaRef, mut stream: BatchStream) -> Result<u64> {
    let kind = file_kind(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_err(path, e))?;
    }
    let file = File::create(path).map_err(|e| file_err(path, e))?;
    let mut rows = 0u64;
    match kind {
        FileKind::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut writer: Option<ArrowWriter<File>> = None;
            let mut file = Some(file);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if writer.is_none() {
                    let f = file
                        .take()
                        .ok_or_else(|| file_err(path, "file already taken"))?;
                    writer = Some(
                        ArrowWriter::try_new(f, batch.schema(), Some(props.clone()))
                            .map_err(|e| file_err(path, e))?,
                    );
                }
                if let Some(w) = writer.as_mut() {
                    w.write(&batch).map_err(|e| file_err(path, e))?;
                }
                rows += batch.num_rows() as u64;
            }
            match writer {
                Some(w) => {
                    w.close().map_err(|e| file_err(path, e))?;
                }
                None => {
                    // No rows: still write a valid file with the columns of the load.
                    let f = file
                        .take()
                        .ok_or_else(|| file_err(path, "file already taken"))?;
                    ArrowWriter::try_new(f, schema, Some(props))
                        .map_err(|e| file_err(path, e))?
                        .close()
                        .map_err(|e| file_err(path, e))?;
                }
            }
        }
        FileKind::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                writer.write(&batch)?;
                rows += batch.num_rows() as u64;
            }
            if rows == 0 {
                // No rows: still write the header line.
                writer.write(&RecordBatch::new_empty(schema))?;
            }
        }
    }
    Ok(rows)
}
