//! Printing Arrow batches and listings as a table, CSV or JSON.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use quantdal::{Error, ErrorKind, Result};

use crate::args::Format;

/// Rows shown in table format before the rest is summarised (CSV and JSON print everything).
const TABLE_ROWS: usize = 200;

fn io_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write output: {e}"))
}

pub fn print_batches(batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    match format {
        Format::Table => {
            let mut shown = Vec::new();
            let mut left = TABLE_ROWS;
            for b in batches {
                if left == 0 {
                    break;
                }
                let take = b.num_rows().min(left);
                shown.push(b.slice(0, take));
                left -= take;
            }
            if total > 0 {
                writeln!(out, "{}", pretty_format_batches(&shown)?).map_err(io_err)?;
            }
            if total > TABLE_ROWS {
                writeln!(
                    out,
                    "… {} more rows (use --limit, or --format csv|json for all)",
                    total - TABLE_ROWS
                )
                .map_err(io_err)?;
            }
            writeln!(out, "{total} rows").map_err(io_err)?;
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
