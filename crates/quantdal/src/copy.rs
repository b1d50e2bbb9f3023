//! `quantdal copy CLASS --to STORE`: moves a class between configured stores and proves the copy.
//!
//! The rows stream from the source series by series and are saved to the target in chunks (upserts, so a
//! chunk that is saved twice changes nothing). A series whose rows, first and last time already match on
//! the target is skipped, so a re-run after an interruption continues where the last one stopped. Then
//! both sides are read in full and compared per series: row counts and an order-independent checksum of
//! every row ([`crate::checksum`]). The route switch — one line under `routes:` in quantdal.yaml, naming
//! the class — is printed, or applied with `--switch`, editing that line only, so comments and layout stay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use futures::StreamExt;
use quantdal_core::{
    Catalog, Error, ErrorKind, Load, Order, Result, SeriesSummary, Settings, Value,
};
use serde::Serialize;

use crate::checksum::Fingerprint;
use crate::{Config, Dal, OpenOptions};

/// Progress of a copy: rows saved so far of the rows to copy.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone, Default)]
pub struct CopyOptions {
    /// The store to read; default: where the class is routed now.
    pub from: Option<String>,
    /// Only the rows matching this (range, symbols, predicates); the default is every row.
    pub load: Load,
    /// Rows per save.
    pub chunk_rows: usize,
    /// Copy every series, also those that look complete on the target (same rows and span): repairs a
    /// target whose values differ.
    pub full: bool,
    pub progress: Option<Progress>,
}

/// What a copy did and what its verification found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyReport {
    pub class: String,
    pub from: String,
    pub to: String,
    pub series: usize,
    /// Series already complete on the target (left alone: a resumed copy).
    pub series_skipped: usize,
    pub rows_copied: u64,
    pub rows_source: u64,
    pub rows_target: u64,
    pub checksum_source: String,
    pub checksum_target: String,
    /// Per-series differences after the copy; empty when the two sides agree.
    pub mismatches: Vec<String>,
    pub seconds: f64,
    /// The line that routes the class to the target.
    pub switch: RouteSwitch,
}

impl CopyReport {
    pub fn verified(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// A one-class configuration: the class routed to `store`, nothing else opened.
fn one_class(config: &Config, class: &str, store: &str) -> Result<(Settings, Catalog)> {
    let spec = config.catalog.get(class).cloned().ok_or_else(|| {
        Error::new(ErrorKind::UnknownClass, "no such class").with_class(class.to_string())
    })?;
    if !config.settings.stores.contains_key(store) {
        return Err(Error::config(format!(
            "`{store}` is not a store in {} (stores: {})",
            config.settings.source_name(),
            config
                .settings
                .stores
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut settings = config.settings.clone();
    settings.routes.insert(class.to_string(), store.to_string());
    Ok((settings, Catalog::from_specs(vec![spec])?))
}

/// Opens `class` on `store` alone (read-only for a source).
pub(crate) async fn open_on(
    config: &Config,
    class: &str,
    store: &str,
    read_only: bool,
) -> Result<Dal> {
    let (settings, catalog) = one_class(config, class, store)?;
    Dal::from_parts(settings, catalog, OpenOptions { read_only }).await
}

/// The store `class` is routed to now.
pub fn current_store(config: &Config, class: &str) -> Result<String> {
    let spec = config.catalog.get(class).ok_or_else(|| {
        Error::new(ErrorKind::UnknownClass, "no such class").with_class(class.to_string())
    })?;
    config
        .settings
        .route_for(&spec.name, &spec.store)
        .map(|s| s.name.clone())
        .ok_or_else(|| Error::config("class has no store route").with_class(class.to_string()))
}

/// The filter that selects one series, from its key values as text.
fn series_load(base: &Load, columns: &[&str], values: &[String]) -> Load {
    columns
        .iter()
        .zip(values)
        .fold(base.clone(), |load, (c, v)| {
            load.tag(c, [Value::Str(v.clone())])
        })
}

/// Copies `class` to store `to` and verifies the result (see the module docs).
pub async fn copy_class(
    config: &Config,
    class: &str,
    to: &str,
    options: CopyOptions,
) -> Result<CopyReport> {
    let started = Instant::now();
    let from = match &options.from {
        Some(f) => f.clone(),
        None => current_store(config, class)?,
    };
    if from == to {
        return Err(Error::invalid_query(format!(
            "the class is read from `{from}` and would be written to the same store; name another with --to \
             (or --from)"
        ))
        .with_class(class.to_string()));
    }
    let source = open_on(config, class, &from, true).await?;
    let target = open_on(config, class, to, false).await?;
    let outcome = run_copy(
        &source, &target, config, class, &from, to, &options, started,
    )
    .await;
    let closed = (source.close().await, target.close().await);
    let report = outcome?;
    // Monitoring that is away keeps its records in the spill file; the copy itself is done.
    let _ = closed;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn run_copy(
    source: &Dal,
    target: &Dal,
    config: &Config,
    class: &str,
    from: &str,
    to: &str,
    options: &CopyOptions,
    started: Instant,
) -> Result<CopyReport> {
    let spec = source.spec(class)?;
    for entry in target.provision().await? {
        if let quantdal_core::ProvisionStatus::Drift(d) = entry.status {
            return Err(Error::new(
                ErrorKind::Mismatch,
                format!(
                    "the table on `{to}` differs from the class spec ({}); fix it (`quantdal provision --migrate`) \
                     before copying into it",
                    d.join("; ")
                ),
            )
            .with_class(class.to_string()));
        }
    }
    let load = options.load.clone().order(Order::Unordered);
    let chunk_rows = options.chunk_rows.max(1);
    let wanted = source.summarize(class, options.load.clone(), false).await?;
    let present: BTreeMap<Vec<String>, SeriesSummary> = target
        .summarize(class, options.load.clone(), false)
        .await?
        .into_iter()
        .map(|s| (s.series.clone(), s))
        .collect();
    let total: u64 = wanted.iter().map(|s| s.rows).sum();
    let columns = spec.series_columns();
    let mut copied = 0u64;
    let mut skipped = 0usize;
    let mut done = 0u64;
    let report = |n: u64| {
        if let Some(p) = &options.progress {
            p(n, total);
        }
    };
    report(0);
    for s in &wanted {
        // Same rows and span on the target: copied by an earlier run (the final check proves it).
        if !options.full && present.get(&s.series) == Some(s) {
            skipped += 1;
            done += s.rows;
            report(done);
            continue;
        }
        let series = if columns.is_empty() {
            load.clone()
        } else {
            series_load(&load, &columns, &s.series)
        };
        let mut stream = source.load_stream(class, series).await?;
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0usize;
        loop {
            let next = stream.next().await.transpose()?;
            let flush = match &next {
                Some(b) => {
                    pending_rows += b.num_rows();
                    pending.push(b.clone());
                    pending_rows >= chunk_rows
                }
                None => pending_rows > 0,
            };
            if flush {
                let batch = arrow::compute::concat_batches(&spec.arrow_schema(), &pending)?;
                pending.clear();
                pending_rows = 0;
                let saved = target.save(class, &batch).await?;
                copied += saved.rows;
                done += saved.rows;
                report(done.min(total));
            }
            if next.is_none() {
                break;
            }
        }
    }
    let verify_load = options.load.clone().order(Order::Unordered);
    let left = Fingerprint::of_stream(&spec, source.load_stream(class, verify_load.clone()).await?)
        .await?;
    let right =
        Fingerprint::of_stream(&spec, target.load_stream(class, verify_load).await?).await?;
    let mismatches = left.differences(from, &right, to);
    let switch = route_switch(config, class, to, false)?;
    Ok(CopyReport {
        class: class.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        series: wanted.len(),
        series_skipped: skipped,
        rows_copied: copied,
        rows_source: left.total.rows,
        rows_target: right.total.rows,
        checksum_source: left.total.checksum(),
        checksum_target: right.total.checksum(),
        mismatches,
        seconds: started.elapsed().as_secs_f64(),
        switch,
    })
}

/// The YAML line that routes a class to a store, and whether it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSwitch {
    /// The quantdal.yaml to change (`None` for the built-in embedded configuration).
    pub file: Option<String>,
    /// 1-based line the route is (or would be) on.
    pub line: Option<usize>,
    /// The line as it is now, when the class already has a route of its own.
    pub old: Option<String>,
    /// The line to write.
    pub new: String,
    pub applied: bool,
}

/// Computes (and with `apply`, writes) `routes: { <class>: <store> }` in the config file, editing one line:
/// an existing route of the class is changed in place (its comment kept), else a line is added at the end
/// of the `routes:` block with the block's indentation. The edited file is re-read and checked before it
/// replaces the old one, atomically.
pub fn route_switch(config: &Config, class: &str, store: &str, apply: bool) -> Result<RouteSwitch> {
    let Some(file) = config.settings.file.clone() else {
        let new = format!("  {class}: {store}");
        if apply {
            return Err(Error::config(
                "no quantdal.yaml is in use (the built-in embedded configuration): write one with this route",
            ));
        }
        return Ok(RouteSwitch {
            file: None,
            line: None,
            old: None,
            new,
            applied: false,
        });
    };
    let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
    let (edited, line, old, new) = edit_routes(&text, class, store)
        .map_err(|m| Error::config(m).with_file(file.display().to_string()))?;
    if apply && old.as_deref() != Some(new.as_str()) {
        write_checked(&file, &edited, class, store)?;
    }
    Ok(RouteSwitch {
        file: Some(file.display().to_string()),
        line: Some(line),
        old,
        new,
        applied: apply,
    })
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

fn write_checked(file: &Path, edited: &str, class: &str, store: &str) -> Result<()> {
    let tmp: PathBuf = {
        let mut s = file.as_os_str().to_owned();
        s.push(format!(".switch-{}.tmp", std::process::id()));
        s.into()
    };
    std::fs::write(&tmp, edited).map_err(|e| io(&tmp, e))?;
    let checked = Settings::from_path(&tmp).and_then(|s| {
        if s.routes.get(class).map(String::as_str) == Some(store) {
            Ok(())
        } else {
            Err(Error::config("the edited file does not route the class"))
        }
    });
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::config(format!(
            "the route switch would break {}: {e}; nothing was changed",
            file.display()
        )));
    }
    std::fs::rename(&tmp, file).map_err(|e| io(file, e))
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The edited text, the 1-based line of the route, the old line (if any) and the new one.
fn edit_routes(
    text: &str,
    class: &str,
    store: &str,
) -> std::result::Result<(String, usize, Option<String>, String), String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bare = |l: &str| l.trim_end_matches(['\n', '\r']).to_string();
    let start = lines.iter().position(|l| {
        let b = bare(l);
        b.starts_with("routes:") && indent_of(&b) == 0
    });
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let Some(start) = start else {
        // No routes block: append one.
        let new = format!("  {class}: {store}");
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        out.push_str(&format!("routes:{newline}{new}{newline}"));
        let line = out.lines().count();
        return Ok((out, line, None, new));
    };
    let head = bare(lines[start]);
    let rest = head["routes:".len()..].trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!(
            "`routes:` is written inline (`{head}`); add `{class}: {store}` to it by hand, or write the routes \
             one per line"
        ));
    }
    // The block: indented lines (and blank or comment lines between them) after `routes:`.
    let mut end = start + 1;
    let mut last_entry = None;
    let mut entry_indent = None;
    while end < lines.len() {
        let b = bare(lines[end]);
        let t = b.trim();
        if t.is_empty() || (t.starts_with('#') && indent_of(&b) > 0) {
            end += 1;
            continue;
        }
        if indent_of(&b) == 0 {
            break;
        }
        entry_indent.get_or_insert(indent_of(&b));
        last_entry = Some(end);
        if let Some((key, value)) = t.split_once(':') {
            if key.trim().trim_matches(['"', '\'']) == class {
                let comment = value
                    .find(" #")
                    .map(|i| value[i..].to_string())
                    .unwrap_or_default();
                let new = format!("{}{class}: {store}{comment}", " ".repeat(indent_of(&b)));
                let mut out: String = lines[..end].concat();
                out.push_str(&new);
                out.push_str(if lines[end].ends_with("\r\n") {
                    "\r\n"
                } else if lines[end].ends_with('\n') {
                    "\n"
                } else {
                    ""
                });
                out.push_str(&lines[end + 1..].concat());
                return Ok((out, end + 1, Some(b.clone()), new));
            }
        }
        end += 1;
    }
    let indent = entry_indent.unwrap_or(2);
    let new = format!("{}{class}: {store}", " ".repeat(indent));
    let at = last_entry.map(|l| l + 1).unwrap_or(start + 1);
    let mut out: String = lines[..at].concat();
    if !out.ends_with('\n') {
        out.push_str(newline);
    }
    out.push_str(&new);
    out.push_str(newline);
    out.push_str(&lines[at..].concat());
    Ok((out, at + 1, None, new))
}

#[cfg(test)]
mod tests {
    use super::edit_routes;

    #[test]
    fn adds_a_route_line_and_keeps_comments() {
        let text = "version: 1\n# stores\nstores:\n  a: { kind: duckdb }\nroutes:\n  # ticks\n  tdengine: a   # hot\n  postgres: a\nmonitoring: {}\n";
        let (out, line, old, new) = edit_routes(text, "daily_kline", "b").unwrap();
        assert_eq!(old, None);
        assert_eq!(new, "  daily_kline: b");
        assert_eq!(line, 9);
        assert_eq!(
            out,
            "version: 1\n# stores\nstores:\n  a: { kind: duckdb }\nroutes:\n  # ticks\n  tdengine: a   # hot\n  postgres: a\n  daily_kline: b\nmonitoring: {}\n"
        );
        let (again, line, old, _) = edit_routes(&out, "daily_kline", "a").unwrap();
        assert_eq!(old.as_deref(), Some("  daily_kline: b"));
        assert_eq!(line, 9);
        assert!(again.contains("  daily_kline: a\nmonitoring"));
        let (c, _, _, _) = edit_routes("version: 1\n  \nx: 1", "k", "s").unwrap();
        assert_eq!(c, "version: 1\n  \nx: 1\nroutes:\n  k: s\n");
        assert!(edit_routes("routes: { a: b }\n", "k", "s").is_err());
        let (d, _, _, _) = edit_routes("routes:\n  tdengine: a # keep\n", "tdengine", "b").unwrap();
        assert_eq!(d, "routes:\n  tdengine: b # keep\n");
    }
}
