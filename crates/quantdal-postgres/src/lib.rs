//! PostgreSQL / TimescaleDB store for quantdal: a bb8 pool of tokio-postgres connections (TLS by rustls),
//! binary COPY saves with `ON CONFLICT` upserts, Arrow loads, provisioning with hypertables, compression,
//! retention and continuous aggregates when TimescaleDB is there, and drift checks against the live catalog.

mod backend;
pub mod binary;
pub mod catalog;
pub mod conn;
pub mod copy_in;
pub mod ddl;
pub mod decode;
mod errors;
pub mod partitions;
pub mod pool;
pub mod rollup;
pub mod sql;
mod store;
pub mod tls;

use std::time::Duration;

use quantdal_core::{Result, StoreSettings};

pub use backend::{PostgresBackend, CAPABILITIES};
pub use conn::{ConnectionSpec, PoolOptions, TlsMode};
pub use errors::from_pg;
pub use store::{PostgresOptions, PostgresStore, TimescaleMode};

impl PostgresOptions {
    /// Options from a `kind: postgres` store in `quantdal.yaml`.
    pub fn from_settings(settings: &StoreSettings, application: &str) -> Result<PostgresOptions> {
        let url = settings.url.clone().ok_or_else(|| {
            quantdal_core::Error::config(format!("store `{}` has no url", settings.name))
        })?;
        let defaults = PoolOptions::default();
        Ok(PostgresOptions {
            url,
            read_url: settings.read_url.clone(),
            schema: settings.schema.clone().unwrap_or_else(|| "public".into()),
            timescale: TimescaleMode::parse(settings.timescale.as_deref())?,
            pool: PoolOptions {
                size: settings.pool_size.unwrap_or(defaults.size),
                connect_timeout: settings
                    .connect_timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(defaults.connect_timeout),
                statement_timeout: settings.statement_timeout_ms.map(Duration::from_millis),
                idle_timeout: settings
                    .idle_timeout_ms
                    .map(Duration::from_millis)
                    .or(defaults.idle_timeout),
                application_name: application.to_string(),
            },
        })
    }
}

/// One client outside any pool (its connection task is spawned on the current runtime), with the same URL
/// handling and TLS as the store: for the monitoring sink and tools.
pub async fn connect_client(url: &str, application_name: &str) -> Result<tokio_postgres::Client> {
    let options = PoolOptions {
        application_name: application_name.to_string(),
        ..PoolOptions::default()
    };
    let spec = ConnectionSpec::parse(url, &options)?;
    pool::Manager::new(spec)?.connect_client().await
}

/// DDL `provision` would run for `spec` on plain PostgreSQL, for `provision --dry-run` (no connection; the
/// TimescaleDB statements depend on the server and are listed after, commented).
pub fn provision_statements(spec: &quantdal_core::TableSpec, schema: &str) -> Vec<String> {
    let declared = partitions::declared(spec);
    let mut out = ddl::table_statements(spec, schema, true, matches!(declared, Ok(Some(_))));
    if let Err(e) = &declared {
        out.push(format!("-- partitions: {}", e.message()));
    }
    match ddl::timescale_statements(spec, schema) {
        Ok(ts) if !ts.is_empty() => {
            out.push(
                "-- with TimescaleDB instead of the BRIN index (provision detects the extension):"
                    .into(),
            );
            out.extend(ts.into_iter().map(|s| format!("-- {s}")));
        }
        Ok(_) => {}
        Err(e) => out.push(format!("-- TimescaleDB: {}", e.message())),
    }
    out
}
