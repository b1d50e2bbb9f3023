//! Monitoring wiring: the monitoring store from `quantdal.yaml`, the monitor a `Dal` starts when it opens,
//! and the layer that records every store call. Nothing here may stop a data call: the store is opened
//! lazily by the writer task, so a locked or stopped monitoring DB costs a spill file, never an error.

use std::sync::Arc;
use std::time::Duration;

use quantdal_core::settings::MonitoringStore;
use quantdal_core::{Catalog, Error, Result, Settings, TableSpec};
use quantdal_monitor::quality::{QualityConfig, ResolvedQuality};
use quantdal_monitor::{
    LazySink, Monitor, MonitorDb, MonitorLayer, MonitorOptions, Sink, SinkOpener,
};

/// Opens the monitoring store named by the settings, creating its tables (idempotent).
pub async fn open_db(settings: &Settings) -> Result<MonitorDb> {
    let m = &settings.monitoring;
    match &m.store {
        MonitoringStore::Embedded { path } => {
            let path = path.clone();
            let busy = Duration::from_millis(m.busy_timeout_ms);
            tokio::task::spawn_blocking(move || MonitorDb::open_sqlite(path, busy))
                .await
                .map_err(|e| Error::store(format!("monitoring open task failed: {e}")))?
        }
        MonitoringStore::Postgres { url, schema } => {
            MonitorDb::connect_postgres(url, schema.as_deref(), &settings.application).await
        }
    }
}

/// Where the monitoring store lives, for humans (password hidden).
pub fn location(settings: &Settings) -> String {
    match &settings.monitoring.store {
        MonitoringStore::Embedded { path } => path.display().to_string(),
        MonitoringStore::Postgres { url, schema } => format!(
            "{} (schema {})",
            quantdal_core::settings::redact_url(url),
            schema.as_deref().unwrap_or("search_path")
        ),
    }
}

/// The quality section of every class that has one.
pub(crate) fn quality_configs(catalog: &Catalog) -> Vec<(Arc<TableSpec>, QualityConfig)> {
    catalog
        .classes()
        .iter()
        .filter_map(|s| Some((s.clone(), s.quality.clone()?)))
        .collect()
}

/// Checks each class's quality section against its columns (types, roles), whether or not monitoring is on.
pub(crate) fn check_quality(settings: &Settings, catalog: &Catalog) -> Result<()> {
    for (spec, config) in quality_configs(catalog) {
        ResolvedQuality::new(&spec, &config)
            .map_err(|e| e.with_file(settings.tables.display().to_string()))?;
        if let Some(c) = &config.consistency {
            if catalog.get(&c.against).is_none() {
                return Err(Error::config(format!(
                    "quality.consistency.against: `{}` is not a class",
                    c.against
                ))
                .with_class(spec.name.clone())
                .with_file(settings.tables.display().to_string()));
            }
        }
    }
    Ok(())
}

/// Starts the monitor and builds its layer, or `None` (with a warning) when monitoring is off or cannot
/// start (e.g. the spill folder is not writable): the data path runs either way.
pub(crate) fn start(
    settings: &Settings,
    catalog: &Catalog,
) -> Result<Option<(Monitor, MonitorLayer)>> {
    let m = &settings.monitoring;
    if !m.enabled {
        return Ok(None);
    }
    let opener: SinkOpener = {
        let settings = settings.clone();
        Arc::new(move || {
            let settings = settings.clone();
            Box::pin(async move {
                let db: Arc<dyn Sink> = Arc::new(open_db(&settings).await?);
                Ok(db)
            })
        })
    };
    let sink = Arc::new(LazySink::new(location(settings), opener));
    let options =
        MonitorOptions::new(settings.application.clone(), m.spill_base.clone()).with_settings(m);
    let monitor = match Monitor::start(sink, options) {
        Ok(monitor) => monitor,
        Err(e) => {
            tracing::warn!(error = %e, "monitoring disabled for this process: cannot start the monitor");
            return Ok(None);
        }
    };
    let layer = MonitorLayer::new(monitor.clone()).with_quality(quality_configs(catalog))?;
    Ok(Some((monitor, layer)))
}
