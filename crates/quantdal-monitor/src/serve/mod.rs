//! The web dashboard: one self-contained page (no CDN: charts are inline SVG drawn by plain JS), a JSON
//! endpoint behind every panel, and Prometheus text at `/metrics`. With a [`DataAccess`] it also serves
//! the data explorer (guarded read-only SQL) and the per-class coverage view.

mod explorer;
mod metrics;
mod words;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use quantdal_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// For implementing [`DataAccess`] without a direct dependency on async-trait.
pub use async_trait::async_trait;
pub use explorer::{rows_json, ColumnInfo, DataAccess, SqlAnswer, SqlResponse, MAX_COVERAGE_DAYS};
pub use metrics::{render as render_metrics, Gauge};
pub use words::{age_words, describe as describe_measured, Described};

use crate::db::{Filter, MonitorDb};
use crate::quality::parse_duration_ns;
use crate::record::now_us;

const PAGE: &str = include_str!("page.html");

/// Live gauges of the serving process (pool sizes, its own monitor's dropped count), read per scrape.
pub type GaugeSource = Arc<dyn Fn() -> Vec<Gauge> + Send + Sync>;

#[derive(Clone)]
pub struct Dashboard {
    pub db: MonitorDb,
    pub gauges: Option<GaugeSource>,
    /// The data stores, for the explorer and coverage; without it those endpoints answer 501.
    pub data: Option<Arc<dyn DataAccess>>,
}

impl Dashboard {
    pub fn new(db: MonitorDb) -> Self {
        Dashboard {
            db,
            gauges: None,
            data: None,
        }
    }
    pub fn with_gauges(mut self, gauges: GaugeSource) -> Self {
        self.gauges = Some(gauges);
        self
    }
    pub fn with_data(mut self, data: Arc<dyn DataAccess>) -> Self {
        self.data = Some(data);
        self
    }
}

/// `?since=1h&class=tick_data&limit=100`; `since` defaults to one hour.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    since: Option<String>,
    class: Option<String>,
    limit: Option<u32>,
}

impl Params {
    fn filter(&self) -> Result<Filter> {
        let window = match &self.since {
            Some(s) => parse_duration_ns(s).map_err(Error::invalid_query)?,
            None => 3_600_000_000_000,
        };
        Ok(Filter {
            since_us: now_us() - window / 1000,
            class: self.class.clone().filter(|c| !c.is_empty()),
            limit: self.limit.unwrap_or(1000).min(100_000),
        })
    }
}

/// An error as `{error, kind, refused}`: the page tells a refused statement and a timeout apart from a
/// failure by `kind` and `refused`, not by parsing the message.
#[derive(Debug)]
struct ApiError(Error);

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidQuery | ErrorKind::UnknownClass | ErrorKind::UnknownColumn => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        // The embedded file is held by a writer, or a server is down: try again later.
        ErrorKind::Locked | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.0;
        (
            status_of(e.kind()),
            Json(serde_json::json!({
                "error": e.to_string(),
                "kind": e.kind().as_str(),
                "refused": e.message().starts_with("refused:"),
            })),
        )
            .into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

type ApiResult<T> = std::result::Result<Json<T>, ApiError>;

/// The routes, for embedding in another axum app or testing without a socket.
pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/ops_per_minute", get(ops_per_minute))
        .route("/api/latency", get(latency))
        .route("/api/slow", get(slow))
        .route("/api/quality", get(quality))
        .route("/api/alerts", get(alerts))
        .route("/api/ops", get(ops))
        .route("/api/sql", post(explorer::sql))
        .route("/api/overview", get(explorer::overview))
        .route("/api/coverage", get(explorer::coverage))
        .route("/metrics", get(metrics_text))
        .with_state(dashboard)
}

/// Serves the dashboard on `addr` until the task is cancelled.
pub async fn serve(addr: SocketAddr, dashboard: Dashboard) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot listen on {addr}: {e}")))?;
    serve_on(listener, dashboard).await
}

/// Serves on an already-bound listener (tests bind port 0).
pub async fn serve_on(listener: tokio::net::TcpListener, dashboard: Dashboard) -> Result<()> {
    axum::serve(listener, router(dashboard))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("dashboard server failed: {e}")))
}

async fn ops_per_minute(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<crate::db::MinutePoint>> {
    Ok(Json(d.db.ops_per_minute(&p.filter()?).await?))
}

async fn latency(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<crate::db::LatencyRow>> {
    Ok(Json(d.db.latency(&p.filter()?).await?))
}

async fn slow(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<crate::db::SlowStatement>> {
    Ok(Json(d.db.top_slow(&p.filter()?).await?))
}

/// A quality_checks row with what it measured in words (`summary`, and `details` such as the stalest
/// series), next to the stored JSON.
#[derive(Debug, Clone, Serialize)]
pub struct QualityRow {
    #[serde(flatten)]
    pub record: crate::record::QualityCheckRecord,
    pub summary: String,
    pub details: Vec<String>,
}

async fn quality(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<QualityRow>> {
    let rows = d.db.quality_status(&p.filter()?).await?;
    Ok(Json(
        rows.into_iter()
            .map(|record| {
                let w = words::describe(&record.check, &record.measured);
                QualityRow {
                    record,
                    summary: w.summary,
                    details: w.details,
                }
            })
            .collect(),
    ))
}

async fn alerts(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<crate::record::Alert>> {
    // Open alerts regardless of age unless `since` is given.
    let mut f = p.filter()?;
    if p.since.is_none() {
        f.since_us = 0;
    }
    Ok(Json(d.db.alerts(&f, false).await?))
}

async fn ops(
    State(d): State<Dashboard>,
    Query(p): Query<Params>,
) -> ApiResult<Vec<crate::record::OperationRecord>> {
    Ok(Json(d.db.ops(&p.filter()?).await?))
}

async fn metrics_text(State(d): State<Dashboard>) -> std::result::Result<Response, ApiError> {
    let totals = d.db.metric_totals().await?;
    let gauges = d.gauges.as_ref().map(|g| g()).unwrap_or_default();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&totals, &gauges),
    )
        .into_response())
}
