//! The PostgreSQL store's entry point for the facade's backend list.

use std::sync::Arc;

use async_trait::async_trait;
use quantdal_core::{
    Backend, Capabilities, OpenContext, Result, SqlDialect, Store, StoreKind, StoreSettings,
    TableSpec, TimePrecision,
};

use crate::{provision_statements, PostgresOptions, PostgresStore};

/// `kind: postgres`.
pub struct PostgresBackend;

/// PostgreSQL timestamps are microseconds.
pub const CAPABILITIES: Capabilities = Capabilities {
    finest_precision: TimePrecision::Us,
    sql: Some(SqlDialect::Postgres),
    // Every revision with its knowledge time, as-of reads, tombstones (docs/versions.md).
    versions: true,
    ..Capabilities::RELATIONAL
};

#[async_trait]
impl Backend for PostgresBackend {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn sql_relation(&self, store: &StoreSettings, spec: &TableSpec) -> Vec<String> {
        vec![schema_of(store, spec), spec.table.clone()]
    }

    fn provision_plan(&self, store: &StoreSettings, spec: &TableSpec) -> Result<Vec<String>> {
        let schema = schema_of(store, spec);
        Ok(provision_statements(spec, &schema))
    }

    async fn open(&self, store: &StoreSettings, context: &OpenContext) -> Result<Arc<dyn Store>> {
        let options = PostgresOptions::from_settings(store, &context.application)?;
        Ok(Arc::new(PostgresStore::open(&store.name, options).await?))
    }
}

/// The schema a class's table lives in: the class's own `options.postgres.schema`, else the store's, else
/// `public` (what the store itself uses).
fn schema_of(store: &StoreSettings, spec: &TableSpec) -> String {
    spec.options
        .postgres
        .as_ref()
        .and_then(|p| p.schema.clone())
        .or_else(|| store.schema.clone())
        .unwrap_or_else(|| "public".into())
}
