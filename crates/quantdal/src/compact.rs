//! `quantdal db compact`: the embedded file is rewritten (copied into a fresh file under DuckDB's exclusive
//! lock, verified per table, swapped atomically, the old file kept as a timestamped backup); server stores
//! reclaim space in place (PostgreSQL `VACUUM (ANALYZE)` of the class tables).

use std::sync::Arc;

use quantdal_core::{Catalog, Error, ErrorKind, FileCompaction, Result, TableSpec};
use serde::Serialize;

use crate::{Config, Dal, OpenOptions};

/// What compaction did for one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreCompaction {
    pub store: String,
    pub kind: String,
    pub dry_run: bool,
    /// The embedded file's rewrite.
    pub file: Option<FileCompaction>,
    /// Statements a server store ran (or would run, for a dry run).
    pub statements: Vec<String>,
    pub note: Option<String>,
}

/// Compacts `store` (or every store that holds classes).
pub async fn compact(
    config: &Config,
    store: Option<&str>,
    keep: usize,
    dry_run: bool,
) -> Result<Vec<StoreCompaction>> {
    let mut targets: Vec<(String, Vec<Arc<TableSpec>>)> = Vec::new();
    for c in config.classes() {
        let spec = config
            .catalog
            .get(&c.class)
            .cloned()
            .ok_or_else(|| Error::config("class vanished from the catalog"))?;
        match targets.iter_mut().find(|(s, _)| *s == c.store) {
            Some((_, specs)) => specs.push(spec),
            None => targets.push((c.store.clone(), vec![spec])),
        }
    }
    if let Some(name) = store {
        if !config.settings.stores.contains_key(name) {
            return Err(Error::config(format!(
                "`{name}` is not a store in {}",
                config.settings.source_name()
            )));
        }
        targets.retain(|(s, _)| s == name);
        if targets.is_empty() {
            targets.push((name.to_string(), Vec::new()));
        }
    }
    let mut out = Vec::new();
    for (name, specs) in targets {
        let settings = config
            .settings
            .stores
            .get(&name)
            .cloned()
            .ok_or_else(|| Error::config(format!("store `{name}` is not configured")))?;
        let backend = crate::backends::of(&settings)?;
        let kind = settings.kind.to_string();
        let file_settings = settings.clone();
        let file = tokio::task::spawn_blocking(move || {
            backend.compact_file(&file_settings, keep, dry_run)
        })
        .await
        .map_err(|e| Error::store(format!("compaction task failed: {e}")))??;
        if let Some(file) = file {
            out.push(StoreCompaction {
                store: name,
                kind,
                dry_run,
                file: Some(file),
                statements: Vec::new(),
                note: None,
            });
            continue;
        }
        if specs.is_empty() {
            out.push(StoreCompaction {
                store: name,
                kind,
                dry_run,
                file: None,
                statements: Vec::new(),
                note: Some("no class is routed to this store".into()),
            });
            continue;
        }
        if dry_run {
            out.push(StoreCompaction {
                store: name,
                kind,
                dry_run,
                file: None,
                statements: Vec::new(),
                note: Some(format!(
                    "would reclaim space in place for {} class tables ({})",
                    specs.len(),
                    specs
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
            continue;
        }
        let mut routed = config.settings.clone();
        for s in &specs {
            routed.routes.insert(s.name.clone(), name.clone());
        }
        let dal = Dal::from_parts(
            routed,
            Catalog::from_specs(specs.clone())?,
            OpenOptions { read_only: false },
        )
        .await?;
        let result = match dal.store_for(&specs[0].name) {
            Ok((_, s)) => s.compact(&specs).await,
            Err(e) => Err(e),
        };
        let _ = dal.close().await;
        match result {
            Ok(statements) => out.push(StoreCompaction {
                store: name,
                kind,
                dry_run,
                file: None,
                statements,
                note: None,
            }),
            Err(e) if e.kind() == ErrorKind::Unsupported => out.push(StoreCompaction {
                store: name,
                kind,
                dry_run,
                file: None,
                statements: Vec::new(),
                note: Some(e.message().to_string()),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
