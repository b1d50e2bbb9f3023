//! The TDengine store's entry point for the facade's backend list.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use quantdal_core::{
    Backend, Capabilities, Error, OpenContext, Result, SqlDialect, Store, StoreKind, StoreSettings,
    TableSpec, TimePrecision,
};

use crate::{layout, try_provision_statements, TdengineStore};

/// `kind: tdengine`.
pub struct TdengineBackend;

/// Super-tables need a timestamp first column and rows unique by time within a sub-table (series).
pub const CAPABILITIES: Capabilities = Capabilities {
    full_history: true,
    finest_precision: TimePrecision::Ns,
    untimed_classes: false,
    any_key: false,
    kline: true,
    delete_by_range: true,
    // TDengine's DELETE filters on time only; the store finds the matching rows per sub-table first and
    // deletes exactly their timestamps.
    delete_by_predicate: true,
    shared_between_processes: true,
    subscriptions: false,
    latest_cache: false,
    // Backquoted identifiers, single- or double-quoted strings: MySQL's lexical rules.
    sql: Some(SqlDialect::Tdengine),
    // A sub-table keeps one row per timestamp: there is no place for a key's earlier revisions.
    versions: false,
};

/// The database a class's super-table lives in.
pub fn database_of(spec: &TableSpec) -> String {
    spec.options
        .tdengine
        .as_ref()
        .map(|o| o.database.clone())
        .unwrap_or_else(|| "quantdal".into())
}

#[async_trait]
impl Backend for TdengineBackend {
    fn kind(&self) -> StoreKind {
        StoreKind::Tdengine
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// A class TDengine cannot hold (a key that isn't series + time, DECIMAL wider than 18 digits) fails
    /// here, not at its first save; so do two classes disagreeing on one database's precision.
    fn check_classes(&self, store: &StoreSettings, specs: &[&TableSpec]) -> Result<()> {
        let mut precision: HashMap<String, (TimePrecision, &str)> = HashMap::new();
        let mut keeps: HashMap<String, (u32, &str)> = HashMap::new();
        for spec in specs {
            let l = layout(spec).map_err(|e| {
                e.with_message_prefix(format_args!("store `{}`", store.name))
                    .with_class(spec.name.clone())
            })?;
            // One database has one KEEP: two classes asking for different ones would see rows refused by the
            // other's choice.
            let keep = crate::ddl::keep_days(spec, &l);
            let first = keeps
                .entry(l.database.clone())
                .or_insert((keep, spec.name.as_str()));
            if first.0 != keep {
                return Err(Error::config(format!(
                    "options.tdengine.keep: {keep} days differs from class `{}` ({} days) in TDengine database \
                     `{}`; one TDengine database has one KEEP",
                    first.1, first.0, l.database
                ))
                .with_class(spec.name.clone()));
            }
            let db = database_of(spec);
            let here = spec.precision();
            let first = precision
                .entry(db.clone())
                .or_insert((here, spec.name.as_str()));
            if first.0 != here {
                return Err(Error::config(format!(
                    "time.precision: {here} differs from class `{}` ({}) in TDengine database `{db}`; one \
                     TDengine database has one precision",
                    first.1, first.0
                ))
                .with_class(spec.name.clone()));
            }
        }
        Ok(())
    }

    /// `database.super_table`: statements name the database, so no connection needs a `USE`.
    fn sql_relation(&self, _store: &StoreSettings, spec: &TableSpec) -> Vec<String> {
        vec![database_of(spec), spec.table.clone()]
    }

    fn provision_plan(&self, _store: &StoreSettings, spec: &TableSpec) -> Result<Vec<String>> {
        try_provision_statements(spec)
    }

    async fn open(&self, store: &StoreSettings, _context: &OpenContext) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(TdengineStore::open(store).await?))
    }
}
