//! tokio-postgres errors → quantdal's typed errors. The server's message is kept; its DETAIL is not, because
//! PostgreSQL puts row values there ("Key (symbol)=(…) already exists").

use quantdal_core::{Error, ErrorKind};
use tokio_postgres::error::SqlState;

pub fn from_pg(err: tokio_postgres::Error) -> Error {
    let (kind, temporary, message) = classify(&err);
    Error::new(kind, message)
        .set_temporary(temporary)
        .with_source(err)
}

fn classify(err: &tokio_postgres::Error) -> (ErrorKind, bool, String) {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        let message = match db.column() {
            Some(column) => format!("{} (column {column})", db.message()),
            None => db.message().to_string(),
        };
        let (kind, temporary) = match code.code() {
            // Connection exceptions, operator intervention (server shutting down / terminated backend),
            // too many connections.
            c if c.starts_with("08") => (ErrorKind::Unavailable, true),
            "57P01" | "57P02" | "57P03" | "53300" => (ErrorKind::Unavailable, true),
            // Authentication and missing database: retrying cannot help.
            c if c.starts_with("28") => (ErrorKind::Unavailable, false),
            "3D000" => (ErrorKind::Unavailable, false),
            // Serialization failure and deadlock: the whole transaction can be retried.
            "40001" | "40P01" => (ErrorKind::Conflict, true),
            // Data that does not fit the table: the caller's batch is at fault.
            c if c.starts_with("22") => (ErrorKind::InvalidBatch, false),
            "23502" | "23514" | "23505" | "21000" => (ErrorKind::InvalidBatch, false),
            _ => (ErrorKind::Store, false),
        };
        let hint = if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
            " (run `quantdal provision`)"
        } else if *code == SqlState::CARDINALITY_VIOLATION {
            " (the batch holds a key twice)"
        } else {
            ""
        };
        return (
            kind,
            temporary,
            format!("PostgreSQL {}: {message}{hint}", code.code()),
        );
    }
    if err.is_closed() {
        return (
            ErrorKind::Unavailable,
            true,
            "PostgreSQL connection closed".into(),
        );
    }
    // I/O errors, timeouts and TLS failures: the server is away or unreachable for now.
    let text = err.to_string();
    let io = std::error::Error::source(err)
        .map(|s| s.is::<std::io::Error>())
        .unwrap_or(false);
    if io || text.contains("timeout") || text.contains("connection") {
        return (
            ErrorKind::Unavailable,
            true,
            format!("PostgreSQL unreachable: {text}"),
        );
    }
    (ErrorKind::Store, false, format!("PostgreSQL: {text}"))
}
