//! `quantdal serve`: the web dashboard over the monitoring store, with scheduled quality checks and a
//! daily prune. The data stores are opened only for each check run and each explorer / coverage request
//! (read-only, then closed), so serving never holds an embedded file's lock against the applications
//! writing it between those moments.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quantdal::monitor::quality::parse_duration_ns;
use quantdal::monitor::serve::{async_trait, serve_on, Dashboard, DataAccess, Gauge, SqlAnswer};
use quantdal::monitor::{now_us, Retention};
use quantdal::sql::SqlOptions;
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
    let dashboard = Dashboard::new(db)
        .with_gauges(Arc::new(move || {
            gauges.lock().map(|g| g.clone()).unwrap_or_default()
        }))
        .with_data(Arc::new(StoreAccess {
            config: config.clone(),
            turn: tokio::sync::Mutex::new(()),
        }));
    println!("quantdal dashboard on http://{bound}/ (JSON under /api, Prometheus at /metrics)");
    serve_on(listener, dashboard).await
}

/// Rows the explorer shows at most (fewer when `sql.max_rows` says so): a page, not an export.
const EXPLORER_MAX_ROWS: u64 = 1000;

/// The explorer's and the coverage view's way to the data: a read-only `Dal` per request, closed after
/// it. Requests take turns, so at most one extra reader has the stores open at any moment.
struct StoreAccess {
    config: Config,
    turn: tokio::sync::Mutex<()>,
}

impl StoreAccess {
    async fn open(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Dal)> {
        let turn = self.turn.lock().await;
        let dal = Dal::from_config(self.config.clone(), OpenOptions { read_only: true }).await?;
        Ok((turn, dal))
    }
}

async fn close(dal: Dal) {
    if let Err(e) = dal.close().await {
        tracing::warn!(error = %e, "monitoring records of a dashboard request wait in the spill file");
    }
}

fn encoding(e: serde_json::Error) -> Error {
    Error::store(format!("cannot encode the answer as JSON: {e}"))
}

#[async_trait]
impl DataAccess for StoreAccess {
    async fn sql(&self, text: &str) -> Result<SqlAnswer> {
        let (_turn, dal) = self.open().await?;
        let options = SqlOptions {
            max_rows: Some(self.config.settings.sql.max_rows.min(EXPLORER_MAX_ROWS)),
            timeout: None,
        };
        let out = dal.sql(text, options).await;
        close(dal).await;
        let out = out?;
        Ok(SqlAnswer {
            summary: serde_json::to_value(out.summary()).map_err(encoding)?,
            batches: out.batches,
        })
    }

    async fn overview(&self) -> Result<serde_json::Value> {
        let (_turn, dal) = self.open().await?;
        let out = dal.overview(None).await;
        close(dal).await;
        serde_json::to_value(out?).map_err(encoding)
    }

    async fn coverage(&self, class: &str, days: u32) -> Result<serde_json::Value> {
        let (_turn, dal) = self.open().await?;
        let out = dal.coverage(class, days).await;
        close(dal).await;
        serde_json::to_value(out?).map_err(encoding)
    }
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
