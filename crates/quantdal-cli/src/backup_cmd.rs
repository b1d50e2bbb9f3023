//! `quantdal backup DIR` and `quantdal restore DIR`: zstd Parquet per class with a checksummed manifest,
//! restored into any configured store and verified against it.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use indicatif::ProgressBar;
use quantdal::backup::{backup, restore, Progress};
use quantdal::{Config, Result};

use crate::args::Format;
use crate::output::{print_json, print_rows};
use crate::run::{close, open};

/// A spinner naming the class being written and its rows so far.
fn spinner(what: &'static str) -> (ProgressBar, Progress) {
    let bar = crate::io::progress(std::io::stderr().is_terminal(), 0, what);
    let shown = bar.clone();
    let progress: Progress = Arc::new(move |class, rows| {
        shown.set_message(class.to_string());
        shown.set_position(rows);
    });
    (bar, progress)
}

pub async fn run_backup(
    config: Config,
    dir: &Path,
    classes: &[String],
    format: Format,
) -> Result<()> {
    let dal = open(config, true).await?;
    let (bar, progress) = spinner("backing up");
    let manifest = backup(&dal, dir, classes, Some(progress)).await;
    bar.finish_and_clear();
    close(dal).await;
    let manifest = manifest?;
    if format == Format::Json {
        return print_json(&manifest);
    }
    let rows: Vec<Vec<String>> = manifest
        .classes
        .iter()
        .map(|c| {
            vec![
                c.class.clone(),
                c.store.clone(),
                c.rows.to_string(),
                c.series.to_string(),
                c.first.clone().unwrap_or_else(|| "-".into()),
                c.last.clone().unwrap_or_else(|| "-".into()),
                c.file.clone(),
                c.file_bytes.to_string(),
                c.checksum.clone(),
            ]
        })
        .collect();
    print_rows(
        &[
            "class", "store", "rows", "series", "first", "last", "file", "bytes", "checksum",
        ],
        &rows,
        format,
    )?;
    for s in &manifest.skipped {
        eprintln!("note: skipped {s}");
    }
    println!(
        "backed up {} classes to {} (manifest.json)",
        manifest.classes.len(),
        dir.display()
    );
    Ok(())
}

/// Restores and verifies; `Ok(false)` when a class does not match its manifest entry afterwards.
pub async fn run_restore(
    config: Config,
    dir: &Path,
    classes: &[String],
    to: Option<&str>,
    chunk_rows: usize,
    format: Format,
) -> Result<bool> {
    let (bar, progress) = spinner("restoring");
    let restored = restore(&config, dir, classes, to, chunk_rows, Some(progress)).await;
    bar.finish_and_clear();
    let restored = restored?;
    let verified = restored.iter().all(|r| r.verified);
    if format == Format::Json {
        print_json(&restored)?;
        return Ok(verified);
    }
    let rows: Vec<Vec<String>> = restored
        .iter()
        .map(|r| {
            vec![
                r.class.clone(),
                r.store.clone(),
                r.rows.to_string(),
                r.rows_target.to_string(),
                if r.verified {
                    "verified".into()
                } else {
                    format!("MISMATCH: {}", r.mismatches.join("; "))
                },
            ]
        })
        .collect();
    print_rows(
        &["class", "store", "rows_restored", "rows_on_target", "check"],
        &rows,
        format,
    )?;
    Ok(verified)
}
