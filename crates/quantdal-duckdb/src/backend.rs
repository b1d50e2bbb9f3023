//! The embedded store's entry point for the facade's backend list.

use std::sync::Arc;

use async_trait::async_trait;
use quantdal_core::{
    Backend, Capabilities, Error, OpenContext, Result, SqlDialect, Store, StoreKind, StoreSettings,
    TableSpec,
};

use crate::{create_statements, DuckDbOptions, DuckDbStore};

/// `kind: duckdb`.
pub struct DuckDbBackend;

/// A file is opened read-write by one process at a time (DuckDB's own rule).
pub const CAPABILITIES: Capabilities = Capabilities {
    shared_between_processes: false,
    sql: Some(SqlDialect::Duckdb),
    // Every revision with its knowledge time, as-of reads, tombstones (docs/versions.md).
    versions: true,
    ..Capabilities::RELATIONAL
};

#[async_trait]
impl Backend for DuckDbBackend {
    fn kind(&self) -> StoreKind {
        StoreKind::Duckdb
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn compact_file(
        &self,
        store: &StoreSettings,
        keep: usize,
        dry_run: bool,
    ) -> Result<Option<quantdal_core::FileCompaction>> {
        match &store.path {
            Some(path) => {
                crate::compact_file(path, &crate::CompactOptions { keep, dry_run }).map(Some)
            }
            None => Err(Error::new(
                quantdal_core::ErrorKind::Unsupported,
                format!(
                    "store `{}` is in memory: there is no file to compact",
                    store.name
                ),
            )),
        }
    }

    fn provision_plan(&self, _store: &StoreSettings, spec: &TableSpec) -> Result<Vec<String>> {
        Ok(create_statements(spec))
    }

    async fn open(&self, store: &StoreSettings, context: &OpenContext) -> Result<Arc<dyn Store>> {
        let name = store.name.clone();
        let options = DuckDbOptions {
            path: store.path.clone(),
            read_only: store.read_only || context.read_only,
            threads: store.threads,
            memory_limit: store
                .memory_limit
                .clone()
                .or(DuckDbOptions::default().memory_limit),
            checkpoint_threshold: store
                .checkpoint_threshold
                .clone()
                .or(DuckDbOptions::default().checkpoint_threshold),
            order_chunk_rows: store
                .order_chunk_rows
                .unwrap_or(DuckDbOptions::default().order_chunk_rows),
            pool_size: store
                .pool_size
                .map(|n| n as usize)
                .unwrap_or(DuckDbOptions::default().pool_size),
        };
        // Opening DuckDB touches the file system and may wait on its lock: keep it off the async threads.
        let opened = tokio::task::spawn_blocking(move || DuckDbStore::open(&name, options))
            .await
            .map_err(|e| Error::store(format!("open task failed: {e}")))??;
        Ok(Arc::new(opened))
    }
}
