//! `quantdal db audit`: per store and class — rows, series, first and last time, bytes on disk, last write
//! (from monitoring), drift, tables no class declares; spool depth; the monitoring store's size; for an
//! embedded file, its size against live data and the command that reclaims the rest.
//!
//! The JSON (`--json`) is the stable form: `version` 1, fields only ever added. Sizes are bytes, times are
//! UTC text (`YYYY-MM-DD[ HH:MM:SS]`), absent facts are `null`, and a part that could not be read carries an
//! `error` string instead of failing the audit.

use std::collections::BTreeMap;
use std::sync::Arc;

use quantdal_core::settings::MonitoringStore;
use quantdal_core::{ErrorKind, Load, ProvisionStatus, Result, TableSpec};
use serde::Serialize;

use crate::overview::time_text;
use crate::Dal;

pub const AUDIT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub version: u32,
    pub generated_at: String,
    pub config: Option<String>,
    pub stores: Vec<StoreAudit>,
    pub spool: Vec<SpoolAudit>,
    pub monitoring: MonitoringAudit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreAudit {
    pub store: String,
    pub kind: String,
    pub location: String,
    pub classes: Vec<ClassAudit>,
    /// Tables in the store's namespace (schema / file) that no class declares.
    pub undeclared_tables: Vec<String>,
    pub file: Option<FileAudit>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassAudit {
    pub class: String,
    pub table: String,
    /// `present`, `missing`, `drift`, or `unknown` when the store cannot compare.
    pub status: String,
    pub drift: Vec<String>,
    pub rows: Option<u64>,
    pub series: Option<u64>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub table_bytes: Option<u64>,
    pub index_bytes: Option<u64>,
    /// Newest successful save or delete the monitoring store still holds.
    pub last_write: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileAudit {
    pub path: String,
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Bytes of blocks holding data.
    pub live_bytes: u64,
    /// Bytes of free blocks: what compaction gives back.
    pub reclaimable_bytes: u64,
    /// The command that reclaims them, when there is anything to reclaim.
    pub reclaim_command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpoolAudit {
    pub store: String,
    pub class: String,
    pub batches: u64,
    pub rows: u64,
    pub bytes: u64,
    pub oldest: Option<String>,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitoringAudit {
    pub enabled: bool,
    pub location: String,
    pub bytes: Option<u64>,
    pub error: Option<String>,
}

fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    time_text(now - now.rem_euclid(1_000_000_000))
}

impl Dal {
    /// Audits every store the classes route to (see the module docs). Only reads.
    pub async fn audit(&self) -> Result<AuditReport> {
        let settings = &self.config().settings;
        let (last_writes, monitoring) = monitoring_facts(settings).await;
        let mut by_store: BTreeMap<String, Vec<Arc<TableSpec>>> = BTreeMap::new();
        for c in self.classes() {
            by_store
                .entry(c.store.clone())
                .or_default()
                .push(self.spec(&c.class)?);
        }
        let mut stores = Vec::new();
        for (name, specs) in by_store {
            let Some(first) = specs.first() else { continue };
            let (_, store) = self.store_for(&first.name)?;
            let info = store.info().clone();
            let storage = store.storage(&specs).await;
            let (tables, undeclared, file, mut notes, mut error) = match storage {
                Ok(r) => (r.tables, r.undeclared, r.file, r.notes, None),
                Err(e) if e.kind() == ErrorKind::Unsupported => (
                    Vec::new(),
                    Vec::new(),
                    None,
                    vec![format!("{} does not report sizes", info.kind)],
                    None,
                ),
                Err(e) => (
                    Vec::new(),
                    Vec::new(),
                    None,
                    Vec::new(),
                    Some(e.to_string()),
                ),
            };
            let mut classes = Vec::new();
            for spec in &specs {
                let size = tables.iter().find(|t| t.class == spec.name);
                let mut row = ClassAudit {
                    class: spec.name.clone(),
                    table: spec.table.clone(),
                    status: "unknown".into(),
                    drift: Vec::new(),
                    rows: None,
                    series: None,
                    first: None,
                    last: None,
                    table_bytes: size.and_then(|s| s.table_bytes),
                    index_bytes: size.and_then(|s| s.index_bytes),
                    last_write: last_writes
                        .get(&(spec.name.clone(), name.clone()))
                        .map(|us| time_text(us.saturating_mul(1000))),
                    error: None,
                };
                match store.check(spec).await {
                    Ok(ProvisionStatus::Missing) => row.status = "missing".into(),
                    Ok(ProvisionStatus::Drift(d)) => {
                        row.status = "drift".into();
                        row.drift = d;
                    }
                    Ok(_) => row.status = "present".into(),
                    Err(e) if e.kind() == ErrorKind::Unsupported => {}
                    Err(e) => row.error = Some(e.to_string()),
                }
                if row.status != "missing" && row.error.is_none() {
                    match self.summarize(&spec.name, Load::all(), false).await {
                        Ok(series) => {
                            row.rows = Some(series.iter().map(|s| s.rows).sum());
                            row.series = Some(series.len() as u64);
                            row.first = series
                                .iter()
                                .filter_map(|s| s.first_ns)
                                .min()
                                .map(time_text);
                            row.last = series.iter().filter_map(|s| s.last_ns).max().map(time_text);
                        }
                        Err(e) => row.error = Some(e.to_string()),
                    }
                }
                classes.push(row);
            }
            if error.is_none() && classes.iter().all(|c| c.error.is_some()) {
                error = classes.first().and_then(|c| c.error.clone());
            }
            let file = file.map(|f| FileAudit {
                reclaim_command: (f.free_bytes > 0).then(|| {
                    let config = settings
                        .file
                        .as_ref()
                        .map(|p| format!(" --config {}", p.display()))
                        .unwrap_or_default();
                    format!("quantdal{config} db compact --store {name}")
                }),
                path: f.path,
                file_bytes: f.file_bytes,
                wal_bytes: f.wal_bytes,
                live_bytes: f.used_bytes,
                reclaimable_bytes: f.free_bytes,
            });
            notes.sort();
            stores.push(StoreAudit {
                store: name,
                kind: info.kind.to_string(),
                location: info.location.clone(),
                classes,
                undeclared_tables: undeclared,
                file,
                notes,
                error,
            });
        }
        let spool = self
            .config()
            .spool_status()?
            .into_iter()
            .map(|s| SpoolAudit {
                store: s.store,
                class: s.class,
                batches: s.batches,
                rows: s.rows,
                bytes: s.bytes,
                oldest: s.oldest_ns.map(time_text),
                failed: s.failed,
            })
            .collect();
        Ok(AuditReport {
            version: AUDIT_VERSION,
            generated_at: now_text(),
            config: settings.file.as_ref().map(|p| p.display().to_string()),
            stores,
            spool,
            monitoring,
        })
    }
}

/// Last writes by (class, store) and the monitoring store's size; a monitoring store that is off, away
/// or not created yet gives none and says why.
async fn monitoring_facts(
    settings: &quantdal_core::Settings,
) -> (BTreeMap<(String, String), i64>, MonitoringAudit) {
    let mut audit = MonitoringAudit {
        enabled: settings.monitoring.enabled,
        location: crate::monitoring::location(settings),
        bytes: None,
        error: None,
    };
    let mut last = BTreeMap::new();
    if !settings.monitoring.enabled {
        return (last, audit);
    }
    if let MonitoringStore::Embedded { path } = &settings.monitoring.store {
        // Reading must not create it.
        if !path.exists() {
            audit.error = Some("not created yet (no command has recorded anything)".into());
            return (last, audit);
        }
    }
    match crate::monitoring::open_db(settings).await {
        Ok(db) => {
            match db.size_bytes().await {
                Ok(b) => {
                    let extra = match &settings.monitoring.store {
                        MonitoringStore::Embedded { path } => ["-wal", "-shm"]
                            .iter()
                            .filter_map(|s| {
                                let mut p = path.as_os_str().to_owned();
                                p.push(s);
                                std::fs::metadata(std::path::PathBuf::from(p)).ok()
                            })
                            .map(|m| m.len())
                            .sum(),
                        MonitoringStore::Postgres { .. } => 0,
                    };
                    audit.bytes = Some(b + extra);
                }
                Err(e) => audit.error = Some(e.to_string()),
            }
            match db.last_writes().await {
                Ok(rows) => {
                    for r in rows {
                        last.insert((r.class, r.store), r.time_us);
                    }
                }
                Err(e) => audit.error = Some(e.to_string()),
            }
        }
        Err(e) => audit.error = Some(e.to_string()),
    }
    (last, audit)
}
