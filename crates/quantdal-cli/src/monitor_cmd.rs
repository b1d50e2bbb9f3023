//! `quantdal monitor …` and `quantdal alerts …`: the terminal dashboard over the monitoring store.

use clap::{Args, Subcommand};
use quantdal::monitor::quality::parse_duration_ns;
use quantdal::monitor::{format_us, now_us, Filter, MonitorDb, Retention};
use quantdal::{Config, Error, ErrorKind, Result};

use crate::args::Format;
use crate::output::print_rows;

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Operations, newest first.
    Ops(Window),
    /// Slow statements (past monitoring.warn_ms), newest first.
    Slow(Window),
    /// Latest quality check result per class and check.
    Quality(Window),
    /// Open and acknowledged alerts.
    Alerts(Window),
    /// Delete rows older than monitoring.retention (resolved alerts only).
    Prune,
}

#[derive(Debug, Clone, Args)]
pub struct Window {
    /// How far back: 30s, 15m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Only this class.
    #[arg(long)]
    pub class: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Open and acknowledged alerts (`--all` adds resolved ones).
    List {
        #[command(flatten)]
        window: Window,
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge an open alert.
    Ack { id: i64 },
    /// Resolve an alert (it reopens if the problem recurs).
    Resolve { id: i64 },
}

impl Window {
    fn filter(&self) -> Result<Filter> {
        let ns = parse_duration_ns(&self.since)
            .map_err(|m| Error::invalid_query(format!("--since: {m}")))?;
        Ok(Filter {
            since_us: now_us() - ns / 1000,
            class: self.class.clone(),
            limit: self.limit,
        })
    }
}

pub async fn open(config: &Config) -> Result<MonitorDb> {
    if !config.settings.monitoring.enabled {
        return Err(Error::config(
            "monitoring.enabled is false: there is no monitoring store to read",
        ));
    }
    quantdal::monitoring::open_db(&config.settings).await
}

fn ms(us: i64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// JSON prints the records whole; table and CSV print the columns a human scans.
fn emit<T>(
    items: &[T],
    json: serde_json::Result<serde_json::Value>,
    format: Format,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<()> {
    if format == Format::Json {
        let text = json
            .and_then(|v| serde_json::to_string_pretty(&v))
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    print_rows(headers, &rows, format)
}

pub async fn run(config: &Config, command: MonitorCommand, format: Format) -> Result<()> {
    let db = open(config).await?;
    match command {
        MonitorCommand::Ops(w) => {
            let ops = db.ops(&w.filter()?).await?;
            emit(
                &ops,
                serde_json::to_value(&ops),
                format,
                &[
                    "start",
                    "operation",
                    "class",
                    "store",
                    "rows",
                    "status",
                    "ms",
                    "error",
                ],
                |o| {
                    vec![
                        format_us(o.start_us),
                        o.operation.clone(),
                        o.class.clone(),
                        o.store.clone(),
                        opt(&o.rows),
                        o.status.as_str().into(),
                        ms(o.duration_us),
                        opt(&o.error_message),
                    ]
                },
            )
        }
        MonitorCommand::Slow(w) => {
            let slow = db.slow(&w.filter()?).await?;
            emit(
                &slow,
                serde_json::to_value(&slow),
                format,
                &[
                    "start",
                    "level",
                    "class",
                    "store",
                    "operation",
                    "ms",
                    "rows",
                    "statement",
                ],
                |s| {
                    vec![
                        format_us(s.start_us),
                        s.level.as_str().into(),
                        s.class.clone(),
                        s.store.clone(),
                        s.operation.clone(),
                        ms(s.duration_us),
                        opt(&s.rows),
                        s.statement.clone(),
                    ]
                },
            )
        }
        MonitorCommand::Quality(w) => {
            let q = db.quality_status(&w.filter()?).await?;
            emit(
                &q,
                serde_json::to_value(&q),
                format,
                &[
                    "time",
                    "class",
                    "check",
                    "status",
                    "rows",
                    "bad",
                    "measured",
                    "threshold",
                ],
                |r| {
                    vec![
                        format_us(r.time_us),
                        r.class.clone(),
                        r.check.clone(),
                        r.status.as_str().into(),
                        r.rows.to_string(),
                        r.bad_rows.to_string(),
                        r.measured.clone(),
                        r.threshold.clone(),
                    ]
                },
            )
        }
        MonitorCommand::Alerts(w) => list_alerts(&db, &w, false, format).await,
        MonitorCommand::Prune => {
            let retention = Retention::from(&config.settings.monitoring.retention);
            let r = db.prune(&retention, now_us()).await?;
            println!(
                "pruned operations {}, slow_queries {}, quality_checks {}, rejects {}, alerts {}",
                r.operations, r.slow_queries, r.quality_checks, r.rejects, r.alerts
            );
            Ok(())
        }
    }
}

async fn list_alerts(db: &MonitorDb, w: &Window, all: bool, format: Format) -> Result<()> {
    // Alerts matter until handled, however old: the window applies to when they were last seen.
    let alerts = db.alerts(&w.filter()?, all).await?;
    emit(
        &alerts,
        serde_json::to_value(&alerts),
        format,
        &[
            "id",
            "level",
            "status",
            "class",
            "store",
            "count",
            "last seen",
            "message",
        ],
        |a| {
            vec![
                a.id.to_string(),
                a.level.as_str().into(),
                a.status.as_str().into(),
                opt(&a.class),
                opt(&a.store),
                a.occurrences.to_string(),
                format_us(a.last_seen_us),
                a.message.clone(),
            ]
        },
    )
}

pub async fn alerts(config: &Config, command: Option<AlertsCommand>, format: Format) -> Result<()> {
    let db = open(config).await?;
    let command = command.unwrap_or(AlertsCommand::List {
        window: Window {
            since: "3650d".into(),
            class: None,
            limit: 100,
        },
        all: false,
    });
    match command {
        AlertsCommand::List { window, all } => list_alerts(&db, &window, all, format).await,
        AlertsCommand::Ack { id } => {
            if !db.ack(id).await? {
                return Err(Error::invalid_query(format!(
                    "no unresolved alert with id {id}"
                )));
            }
            println!("alert {id} acknowledged");
            Ok(())
        }
        AlertsCommand::Resolve { id } => {
            if !db.resolve(id).await? {
                return Err(Error::invalid_query(format!(
                    "no unresolved alert with id {id}"
                )));
            }
            println!("alert {id} resolved");
            Ok(())
        }
    }
}
