//! Dispatch: resolve the config, open the stores as the command needs (read-only for reads), run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use quantdal::{Config, Dal, Error, ErrorKind, OpenOptions, ProvisionStatus, Result};

use crate::args::{Cli, Command};
use crate::output::{print_batches, print_rows, print_stream};
use crate::{check_cmd, demo, filters, io, monitor_cmd, serve_cmd};

/// `--config` / `QUANTDAL_CONFIG`, else `config/quantdal.yaml` when present, else an embedded store in `data/`.
fn resolve_config(cli: &Cli) -> Result<Config> {
    if let Some(path) = &cli.config {
        if !path.exists() {
            return Err(
                Error::config("config file not found").with_file(path.display().to_string())
            );
        }
        return Config::load(path);
    }
    let default = PathBuf::from("config/quantdal.yaml");
    if default.exists() {
        Config::load(&default)
    } else {
        Config::embedded("data")
    }
}

pub(crate) async fn open(config: Config, read_only: bool) -> Result<Dal> {
    Dal::from_config(config, OpenOptions { read_only }).await
}

/// Flushes the monitoring records of a command; a monitoring store that is away is no reason to fail.
pub(crate) async fn close(dal: Dal) {
    if let Err(e) = dal.close().await {
        eprintln!("note: monitoring records kept in the spill file for the next run: {e}");
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let config = resolve_config(&cli)?;
    let format = cli.format;
    match cli.command {
        Command::Classes => {
            let rows: Vec<Vec<String>> = config
                .classes()
                .into_iter()
                .map(|c| {
                    vec![
                        c.class,
                        c.category.to_string(),
                        c.store,
                        c.kind.to_string(),
                        c.table,
                    ]
                })
                .collect();
            print_rows(
                &["class", "category", "store", "kind", "table"],
                &rows,
                format,
            )?;
        }
        Command::Provision { dry_run: true, .. } => {
            for (store, classes) in config.provision_plan()? {
                println!("-- store: {store}");
                for (class, statements) in classes {
                    println!("-- class: {class}");
                    for s in statements {
                        if s.starts_with("--") {
                            println!("{s}");
                        } else {
                            println!("{s};");
                        }
                    }
                    println!();
                }
            }
        }
        Command::Provision { migrate: true, .. } => {
            let dal = open(config, false).await?;
            let report = dal.migrate().await?;
            let refused = report.iter().any(|e| !e.migration.refused.is_empty());
            let mut rows: Vec<Vec<String>> = Vec::new();
            for e in report {
                for a in e.migration.applied {
                    rows.push(vec![e.class.clone(), e.store.clone(), "applied".into(), a]);
                }
                for r in e.migration.refused {
                    rows.push(vec![e.class.clone(), e.store.clone(), "refused".into(), r]);
                }
            }
            print_rows(&["class", "store", "action", "change"], &rows, format)?;
            close(dal).await;
            if refused {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Provision { check, .. } => {
            // `--check` opens read-only: it must work beside a running writer and change nothing.
            let dal = open(config, check).await?;
            let report = if check {
                dal.check().await?
            } else {
                dal.provision().await?
            };
            close(dal).await;
            let failed = report.iter().any(|e| {
                matches!(
                    e.status,
                    ProvisionStatus::Drift(_) | ProvisionStatus::Missing
                )
            });
            let notes: Vec<String> = report
                .iter()
                .flat_map(|e| {
                    e.notes
                        .iter()
                        .map(move |n| format!("note: {}: {n}", e.class))
                })
                .collect();
            let rows: Vec<Vec<String>> = report
                .into_iter()
                .map(|e| vec![e.class, e.store, e.table, e.status.to_string()])
                .collect();
            print_rows(&["class", "store", "table", "status"], &rows, format)?;
            // On stderr, so `--format json|csv` output stays machine-readable.
            for n in notes {
                eprintln!("{n}");
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Import {
            class,
            file,
            time_format,
            chunk_rows,
        } => {
            let dal = open(config, false).await?;
            let summary = io::import(
                &dal,
                &class,
                &file,
                time_format,
                chunk_rows,
                std::io::stderr().is_terminal(),
            )
            .await?;
            close(dal).await;
            println!(
                "imported {} rows into {class} in {:.2}s ({:.0} rows/s)",
                summary.rows,
                summary.seconds,
                summary.rows as f64 / summary.seconds.max(1e-9)
            );
            if summary.spooled_chunks > 0 {
                println!(
                    "note: the store was unavailable: {} rows ({} chunks) are in the local spool and reach it when \
                     it answers (`quantdal spool status`)",
                    summary.spooled_rows, summary.spooled_chunks
                );
            }
        }
        Command::Export {
            class,
            file,
            filter,
        } => {
            let dal = open(config, true).await?;
            let load = filters::build_load(&filter)?;
            let rows = io::export(&dal, &class, &file, load).await?;
            close(dal).await;
            println!("exported {rows} rows of {class} to {}", file.display());
        }
        Command::Load { class, filter } => {
            let dal = open(config, true).await?;
            let stream = dal
                .load_stream(&class, filters::build_load(&filter)?)
                .await?;
            let printed = print_stream(stream, format).await;
            close(dal).await;
            printed?;
        }
        Command::Latest { class, filter } => {
            let dal = open(config, true).await?;
            let batches = dal.latest(&class, filters::build_load(&filter)?).await?;
            close(dal).await;
            print_batches(&batches, format)?;
        }
        Command::Kline {
            class,
            interval,
            filter,
        } => {
            let dal = open(config, true).await?;
            let batches = dal
                .kline(&class, &interval, filters::build_load(&filter)?)
                .await?;
            close(dal).await;
            print_batches(&batches, format)?;
        }
        Command::History { class, filter } => {
            let dal = open(config, true).await?;
            let batches = dal.history(&class, filters::build_load(&filter)?).await?;
            close(dal).await;
            print_batches(&batches, format)?;
        }
        Command::Watch {
            class,
            symbols,
            columns,
            predicates,
            max_rows,
            duration,
        } => {
            let dal = open(config, true).await?;
            let filter = crate::args::FilterArgs {
                symbols,
                columns,
                predicates,
                ..Default::default()
            };
            let until = duration
                .as_deref()
                .map(|d| crate::watch::parse_duration("--for", d))
                .transpose()?;
            let outcome = crate::watch::run(
                &dal,
                &class,
                filters::build_load(&filter)?,
                max_rows,
                until,
                format,
            )
            .await;
            close(dal).await;
            outcome?;
        }
        Command::Delete { class, filter, all } => {
            let dal = open(config, false).await?;
            let load = filters::build_load(&filter)?;
            let deleted = if all {
                if load != quantdal::Load::all() {
                    return Err(Error::invalid_query(
                        "--all deletes every row; drop the filters or drop --all",
                    ));
                }
                dal.truncate(&class).await?
            } else if load.is_unfiltered() {
                return Err(Error::new(
                    ErrorKind::InvalidQuery,
                    "refusing to delete without a filter: give --symbol/--start/--end/--where, or --all",
                )
                .with_class(class));
            } else {
                dal.delete(&class, load).await?
            };
            close(dal).await;
            println!("deleted {deleted} rows from {class}");
        }
        Command::Demo {
            symbols,
            days,
            seed,
        } => {
            let dal = open(config, false).await?;
            demo::run(&dal, symbols, days, seed).await?;
            close(dal).await;
        }
        Command::Sql {
            statement,
            max_rows,
            timeout,
            output,
        } => {
            crate::sql_cmd::run(
                config,
                &statement,
                max_rows,
                timeout.as_deref(),
                output.as_deref(),
                format,
            )
            .await?
        }
        Command::Overview { class } => {
            crate::overview_cmd::run(config, class.as_deref(), format).await?
        }
        Command::Copy {
            class,
            to,
            from,
            filter,
            switch,
            full,
            chunk_rows,
        } => {
            let args = crate::copy_cmd::CopyArgs {
                class,
                to,
                from,
                load: filters::build_load(&filter)?,
                switch,
                full,
                chunk_rows,
            };
            if !crate::copy_cmd::run(config, args, format).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Db { action } => crate::db_cmd::run(config, action, format).await?,
        Command::Backup { dir, classes } => {
            crate::backup_cmd::run_backup(config, &dir, &classes, format).await?
        }
        Command::Restore {
            dir,
            classes,
            to,
            chunk_rows,
        } => {
            let verified = crate::backup_cmd::run_restore(
                config,
                &dir,
                &classes,
                to.as_deref(),
                chunk_rows,
                format,
            )
            .await?;
            if !verified {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Spool { action } => {
            let (left, failed) = crate::spool_cmd::run(config, action, format).await?;
            if left || failed {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Monitor { what } => monitor_cmd::run(&config, what, format).await?,
        Command::Alerts { action } => monitor_cmd::alerts(&config, action, format).await?,
        Command::Check { class } => {
            let dal = open(config, true).await?;
            let failed = check_cmd::run(&dal, class.as_deref(), format).await;
            close(dal).await;
            if failed? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Serve { addr, check_every } => {
            serve_cmd::run(config, addr, &check_every).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
