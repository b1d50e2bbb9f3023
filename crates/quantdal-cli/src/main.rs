//! `quantdal`: provision, import, export, query and demo from the shell. Errors print one line and exit 1.

mod args;
mod backup_cmd;
mod check_cmd;
mod copy_cmd;
mod db_cmd;
mod demo;
mod filters;
mod io;
mod monitor_cmd;
mod output;
mod overview_cmd;
mod run;
mod serve_cmd;
mod spool_cmd;
mod sql_cmd;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUANTDAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    };
    // Output is written and monitoring flushed: let client libraries skip their slow exit hooks.
    quantdal::prepare_exit();
    code
}
