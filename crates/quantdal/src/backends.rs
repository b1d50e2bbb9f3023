//! The one place store kinds are registered. The rest of the facade asks this list, never a `match` on kind.

use quantdal_core::{Backend, Error, ErrorKind, Result, StoreKind, StoreSettings};

static BACKENDS: &[&dyn Backend] = &[
    &quantdal_duckdb::DuckDbBackend,
    &quantdal_postgres::PostgresBackend,
    &quantdal_tdengine::TdengineBackend,
    &quantdal_redis::RedisBackend,
];

/// The backend of a store's kind, or `Unsupported` naming the store.
pub fn of(store: &StoreSettings) -> Result<&'static dyn Backend> {
    of_kind(store.kind).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "store `{}` is of kind {}, which this build does not include",
                store.name, store.kind
            ),
        )
    })
}

pub fn of_kind(kind: StoreKind) -> Option<&'static dyn Backend> {
    BACKENDS.iter().copied().find(|b| b.kind() == kind)
}
