//! Printing Arrow batches and listings as a table, CSV or JSON.

use std::io::{BufWriter, Write};

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use futures::StreamExt;
use quantdal::{BatchStream, Error, ErrorKind, Result};

use crate::args::Format;

/// Rows shown in table format before the rest is summarised (CSV and JSON print everything).
const TABLE_ROWS: usize = 200;

fn io_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write output: {e}"))
}

pub fn print_batches(batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let mut shown = Shown::default();
            for b in batches {
                shown.take(b);
            }
            shown.print(&mut out)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                writer.write(b)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
            writeln!(out).map_err(io_err)?;
        }
    }
    Ok(())
}

/// Prints a result as it streams in, holding one batch at a time (a table keeps its first rows only), so
/// the output of any size takes bounded memory.
pub async fn print_stream(mut stream: BatchStream, format: Format) -> Result<()> {
    let mut out = BufWriter::new(std::io::stdout());
    match format {
        Format::Table => {
            let mut shown = Shown::default();
            while let Some(batch) = stream.next().await {
                shown.take(&batch?);
            }
            shown.print(&mut out)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            while let Some(batch) = stream.next().await {
                writer.write(&batch?)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut out);
            while let Some(batch) = stream.next().await {
                writer.write(&batch?)?;
            }
            writer.finish()?;
            writeln!(out).map_err(io_err)?;
        }
    }
    out.flush().map_err(io_err)
}

/// The first [`TABLE_ROWS`] rows of a result, and how many there were in all.
#[derive(Default)]
struct Shown {
    rows: Vec<RecordBatch>,
    kept: usize,
    total: usize,
}

impl Shown {
    fn take(&mut self, batch: &RecordBatch) {
        let take = batch.num_rows().min(TABLE_ROWS - self.kept);
        if take > 0 {
            self.rows.push(batch.slice(0, take));
            self.kept += take;
        }
        self.total += batch.num_rows();
    }

    fn print(&self, out: &mut impl Write) -> Result<()> {
        if self.total > 0 {
            writeln!(out, "{}", pretty_format_batches(&self.rows)?).map_err(io_err)?;
        }
        if self.total > TABLE_ROWS {
            writeln!(
                out,
                "… {} more rows (use --limit, or --format csv|json for all)",
                self.total - TABLE_ROWS
            )
            .map_err(io_err)?;
        }
        writeln!(out, "{} rows", self.total).map_err(io_err)
    }
}

/// A listing: a header and rows of text cells.
pub fn print_rows(header: &[&str], rows: &[Vec<String>], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let widths: Vec<usize> = header
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([h.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(header.to_vec())).map_err(io_err)?;
            for r in rows {
                writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))
                    .map_err(io_err)?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(",")).map_err(io_err)?;
            for r in rows {
                let cells: Vec<String> = r
                    .iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                writeln!(out, "{}", cells.join(",")).map_err(io_err)?;
            }
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        header
                            .iter()
                            .zip(r)
                            .map(|(h, c)| (h.to_string(), serde_json::Value::String(c.clone())))
                            .collect(),
                    )
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::Array(items)).map_err(io_err)?;
        }
    }
    Ok(())
}

/// A report as indented JSON (the stable form of `db audit`, `copy`, `backup`…).
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the report: {e}")))?;
    let stdout = std::io::stdout();
    writeln!(stdout.lock(), "{text}").map_err(io_err)
}
