//! `quantdal db audit` and `quantdal db compact`.

use quantdal::audit::AuditReport;
use quantdal::compact::StoreCompaction;
use quantdal::{Config, Result};
use quantdal_core::admin::human_bytes;

use crate::args::{DbCommand, Format};
use crate::output::{print_json, print_rows};
use crate::run::{close, open};

fn bytes(n: Option<u64>) -> String {
    n.map(human_bytes).unwrap_or_else(|| "-".into())
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

pub async fn run(config: Config, action: DbCommand, format: Format) -> Result<()> {
    match action {
        DbCommand::Audit { json } => {
            let dal = open(config, true).await?;
            let report = dal.audit().await;
            close(dal).await;
            let report = report?;
            if json || format == Format::Json {
                print_json(&report)
            } else {
                print_audit(&report, format)
            }
        }
        DbCommand::Compact {
            store,
            keep,
            dry_run,
        } => {
            let done = quantdal::compact::compact(&config, store.as_deref(), keep, dry_run).await?;
            if format == Format::Json {
                print_json(&done)
            } else {
                print_compaction(&done);
                Ok(())
            }
        }
    }
}

fn print_audit(report: &AuditReport, format: Format) -> Result<()> {
    let mut rows = Vec::new();
    for s in &report.stores {
        for c in &s.classes {
            rows.push(vec![
                s.store.clone(),
                c.class.clone(),
                c.table.clone(),
                match (&c.error, c.drift.is_empty()) {
                    (Some(e), _) => format!("error: {e}"),
                    (None, false) => format!("drift: {}", c.drift.join("; ")),
                    (None, true) => c.status.clone(),
                },
                c.rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                c.series
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
                text(&c.first),
                text(&c.last),
                bytes(c.table_bytes),
                bytes(c.index_bytes),
                text(&c.last_write),
            ]);
        }
    }
    print_rows(
        &[
            "store",
            "class",
            "table",
            "status",
            "rows",
            "series",
            "first",
            "last",
            "table_bytes",
            "index_bytes",
            "last_write",
        ],
        &rows,
        format,
    )?;
    if format != Format::Table {
        return Ok(());
    }
    for s in &report.stores {
        println!();
        println!("store `{}` ({}) at {}", s.store, s.kind, s.location);
        if let Some(e) = &s.error {
            println!("  error: {e}");
        }
        if let Some(f) = &s.file {
            println!(
                "  file {}: {} (+ {} WAL), {} live, {} reclaimable",
                f.path,
                human_bytes(f.file_bytes),
                human_bytes(f.wal_bytes),
                human_bytes(f.live_bytes),
                human_bytes(f.reclaimable_bytes)
            );
            if let Some(cmd) = &f.reclaim_command {
                println!("  reclaim with: {cmd}");
            }
        }
        if !s.undeclared_tables.is_empty() {
            println!(
                "  tables no class declares: {}",
                s.undeclared_tables.join(", ")
            );
        }
        for n in &s.notes {
            println!("  note: {n}");
        }
    }
    println!();
    let spooled: u64 = report.spool.iter().map(|s| s.rows).sum();
    if report.spool.is_empty() {
        println!("spool: empty");
    } else {
        println!(
            "spool: {spooled} rows in {} batches waiting (`quantdal spool status`)",
            report.spool.iter().map(|s| s.batches).sum::<u64>()
        );
    }
    let m = &report.monitoring;
    match (&m.error, m.enabled) {
        (_, false) => println!("monitoring: off"),
        (Some(e), true) => println!("monitoring: {} ({e})", m.location),
        (None, true) => println!("monitoring: {} ({})", m.location, bytes(m.bytes)),
    }
    Ok(())
}

fn print_compaction(done: &[StoreCompaction]) {
    for c in done {
        let verb = if c.dry_run {
            "would compact"
        } else {
            "compacted"
        };
        if let Some(f) = &c.file {
            println!(
                "{verb} store `{}` ({}): {} {} → {} ({} tables, every row count and checksum equal)",
                c.store,
                c.kind,
                f.path,
                human_bytes(f.bytes_before),
                human_bytes(f.bytes_after),
                f.tables.len()
            );
            if let Some(b) = &f.backup {
                println!("  previous file kept as {b}");
            }
            for r in &f.removed_backups {
                println!("  removed old backup {r}");
            }
        } else {
            println!("{verb} store `{}` ({})", c.store, c.kind);
        }
        for s in &c.statements {
            println!("  {s}");
        }
        if let Some(n) = &c.note {
            println!("  note: {n}");
        }
    }
}
