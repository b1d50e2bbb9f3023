//! `quantdal serve`: the web dashboard over the monitoring store, with scheduled quality checks and a
//! daily prune. The data stores are opened only for each check run (read-only, then closed), so serving
//! never holds an embedded file's lock against the applications writing it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quantdal::monitor::quality::parse_duration_ns;
use quantdal::monitor::serve::{serve_on, Dashboard, Gauge};
use quantdal::monitor::{now_us, Retention};
use quantdal::{Config, Dal, Error, ErrorKind, OpenOptions, Result};

use crate::monitor_cmd;

pub async fn run(config: Config, addr: SocketAddr, check_every: &str) -> Result<()> {
    let every = match check_every {
        "off" | "0" => None,
        text => Some(Duration::from_nanos(
            parse_duration_ns(text)
                .map_err(|m| Error::invalid_query(format!("--check-every: {m}")))?
                as u64,
        )),
    };
    let db = monitor_cmd::open(&config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read the bound address: {e}")))?;
    // Pool gauges as of the last check run (the only time this process holds the stores open).
    let gauges: Arc<Mutex<Vec<Gauge>>> = Arc::default();
    if let Some(every) = every {
        tokio::spawn(check_loop(config.clone(), every, gauges.clone()));
    }
    tokio::spawn(prune_loop(config.clone(), db.clone()));
    let dashboard = Dashboard::new(db).with_gauges(Arc::new(move || {
        gauges.lock().map(|g| g.clone()).unwrap_or_default()
    }));
    println!("quantdal dashboard on http://{bound}/ (JSON under /api, Prometheus at /metrics)");
    serve_on(listener, dashboard).await
}

async fn check_loop(config: Config, every: Duration, gauges: Arc<Mutex<Vec<Gauge>>>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let dal = match Dal::from_config(config.clone(), OpenOptions { read_only: true }).await {
            Ok(dal) => dal,
            Err(e) => {
                tracing::warn!(error = %e, "scheduled quality checks skipped: cannot open the stores");
                continue;
            }
        };
        if let Err(e) = dal.run_checks(None).await {
            tracing::warn!(error = %e, "scheduled quality checks failed");
        }
        if let Ok(mut g) = gauges.lock() {
            *g = dal.gauges();
        }
        if let Err(e) = dal.close().await {
            tracing::warn!(error = %e, "check results wait in the spill file");
        }
    }
}

async fn prune_loop(config: Config, db: quantdal::monitor::MonitorDb) {
    let retention = Retention::from(&config.settings.monitoring.retention);
    let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        tick.tick().await;
        match db.prune(&retention, now_us()).await {
            Ok(r) => tracing::info!(?r, "pruned the monitoring store"),
            Err(e) => tracing::warn!(error = %e, "pruning the monitoring store failed"),
        }
    }
}
