//! `quantdal spool status | replay | discard CLASS`.

use quantdal::spool::SpoolStatus;
use quantdal::{Config, Dal, OpenOptions, Result};

use crate::args::{Format, SpoolCommand};
use crate::output::print_rows;

fn when(ns: Option<i64>) -> String {
    match ns.and_then(|n| chrono::DateTime::from_timestamp(n.div_euclid(1_000_000_000), 0)) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => "-".into(),
    }
}

fn print(status: &[SpoolStatus], format: Format) -> Result<()> {
    let rows: Vec<Vec<String>> = status
        .iter()
        .map(|s| {
            vec![
                s.store.clone(),
                s.class.clone(),
                s.batches.to_string(),
                s.rows.to_string(),
                s.bytes.to_string(),
                when(s.oldest_ns),
                s.failed.to_string(),
            ]
        })
        .collect();
    print_rows(
        &[
            "store",
            "class",
            "batches",
            "rows",
            "bytes",
            "oldest",
            "set_aside",
        ],
        &rows,
        format,
    )
}

/// Runs the command; returns (batches left, records set aside) for the exit status.
pub async fn run(config: Config, action: SpoolCommand, format: Format) -> Result<(bool, bool)> {
    match action {
        SpoolCommand::Status => {
            let status = config.spool_status()?;
            print(&status, format)?;
            Ok((false, false))
        }
        SpoolCommand::Replay => {
            let dal = Dal::from_config(config, OpenOptions::default()).await?;
            let left = dal.spool_replay().await;
            let status = dal.spool_status();
            if let Err(e) = dal.close().await {
                eprintln!("note: monitoring records kept in the spill file for the next run: {e}");
            }
            left?;
            let status = status?;
            print(&status, format)?;
            Ok((
                status.iter().any(|s| s.batches > 0),
                status.iter().any(|s| s.failed > 0),
            ))
        }
        SpoolCommand::Discard { class } => {
            let rows = config.spool_discard(&class)?;
            println!("discarded {rows} spooled rows of {class}");
            Ok((false, false))
        }
    }
}
