//! DuckDB errors → quantdal errors, by kind.

use duckdb::Error as DuckError;
use quantdal_core::{Error, ErrorKind};

pub fn from_duckdb(err: DuckError) -> Error {
    let text = err.to_string();
    let kind = if text.contains("Could not set lock on file") || text.contains("Conflicting lock") {
        ErrorKind::Locked
    } else if text.contains("Transaction conflict") || text.contains("write-write conflict") {
        ErrorKind::Conflict
    } else if text.contains("Catalog Error: Table with name") && text.contains("does not exist") {
        // Dropped behind our back after it was checked: say what to do, not only DuckDB's words.
        return Error::new(
            ErrorKind::Config,
            format!("{text} (run `quantdal provision` to create the class's table)"),
        )
        .with_source(err);
    } else {
        ErrorKind::Store
    };
    Error::new(kind, text).with_source(err)
}

/// A class whose table the file does not have (a read-only open cannot create it).
pub fn not_provisioned(store: &str, spec: &quantdal_core::TableSpec) -> Error {
    Error::new(
        ErrorKind::Config,
        format!(
            "table `{}` does not exist in store `{store}` yet: run `quantdal provision` (or save to the class \
             from a process that opens the file read-write, which creates it)",
            spec.table
        ),
    )
    .with_class(spec.name.clone())
}

/// The locked-file error, saying what another process can and cannot do.
pub fn locked(path: &str, err: Error) -> Error {
    let holder = err
        .message()
        .split("Conflicting lock is held in ")
        .nth(1)
        .map(|s| s.split(". See").next().unwrap_or(s).trim().to_string());
    Error::new(
        ErrorKind::Locked,
        format!(
            "the embedded store {path} is open in another process{}. DuckDB lets one process open a file \
             read-write, and no other process can open it, not even read-only, until that process closes it. \
             Stop that process (or run this command inside it), or use a server store (PostgreSQL) for \
             concurrent access",
            holder.map(|h| format!(" ({h})")).unwrap_or_default()
        ),
    )
}
