//! `quantdal watch`: prints the rows saved to a class as they arrive, one block per save.

use std::time::Duration;

use futures::StreamExt;
use quantdal::monitor::quality::parse_duration_ns;
use quantdal::{Dal, Error, Load, Result};

use crate::args::Format;
use crate::output::print_batches;

/// A duration flag (`30s`, `5m`); errors name the flag.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration> {
    let ns = parse_duration_ns(text).map_err(|m| Error::invalid_query(format!("{flag}: {m}")))?;
    Ok(Duration::from_nanos(ns.max(0) as u64))
}

pub async fn run(
    dal: &Dal,
    class: &str,
    load: Load,
    max_rows: Option<u64>,
    until: Option<Duration>,
    format: Format,
) -> Result<()> {
    let mut stream = dal.subscribe(class, load).await?;
    eprintln!("watching {class}; new rows print as they are saved (Ctrl-C stops)");
    let deadline = until.map(|d| tokio::time::Instant::now() + d);
    let mut seen = 0u64;
    loop {
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, stream.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
            None => stream.next().await,
        };
        let Some(item) = next else { break };
        match item {
            Ok(batch) => {
                let batch = match max_rows {
                    Some(max) => batch.slice(0, batch.num_rows().min((max - seen) as usize)),
                    None => batch,
                };
                seen += batch.num_rows() as u64;
                print_batches(&[batch], format)?;
            }
            // A subscriber that fell behind is told, and goes on.
            Err(e) => eprintln!("warning: {e}"),
        }
        if max_rows.is_some_and(|m| seen >= m) {
            break;
        }
    }
    Ok(())
}
