//! One error type for every layer: a kind (what went wrong, for matching), whether retrying can help,
//! the operation, and the class / column / row / file it concerns. Messages never carry secrets or row values
//! beyond the one offending cell the caller needs to find.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration file is unreadable, malformed or inconsistent.
    Config,
    /// The class is not declared in the table config.
    UnknownClass,
    /// A column named by the caller is not declared for the class.
    UnknownColumn,
    /// An Arrow batch does not fit the class spec (columns, types, nulls, keys, timestamps).
    InvalidBatch,
    /// A load request (range, tags, predicates, interval) is malformed for the class.
    InvalidQuery,
    /// The store's file is held by another process.
    Locked,
    /// The store could not be reached or opened.
    Unavailable,
    /// Two writers collided; the operation can be retried as a whole.
    Conflict,
    /// The store rejected the operation (constraint, type, statement).
    Store,
    /// The operation or store kind is not supported by this build or this store.
    Unsupported,
    /// Reading or writing a local file failed.
    Io,
    /// The statement ran past its time limit and was cancelled (`sql.timeout_ms`).
    Timeout,
    /// Two sides that must agree do not: a copy or restore whose verification found different rows, or a
    /// backup whose spec does not match the target's.
    Mismatch,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::UnknownClass => "unknown_class",
            ErrorKind::UnknownColumn => "unknown_column",
            ErrorKind::InvalidBatch => "invalid_batch",
            ErrorKind::InvalidQuery => "invalid_query",
            ErrorKind::Locked => "locked",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Store => "store",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "io",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Boxed so `Result<T, Error>` stays one pointer wide on the hot path.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    temporary: bool,
    operation: Option<&'static str>,
    class: Option<String>,
    column: Option<String>,
    row: Option<usize>,
    file: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            temporary: matches!(kind, ErrorKind::Conflict | ErrorKind::Unavailable),
            operation: None,
            class: None,
            column: None,
            row: None,
            file: None,
            source: None,
        }))
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    pub fn invalid_batch(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidBatch, message)
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidQuery, message)
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Store, message)
    }

    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.operation.get_or_insert(operation);
        self
    }
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.0.class.get_or_insert_with(|| class.into());
        self
    }
    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.0.column = Some(column.into());
        self
    }
    pub fn with_row(mut self, row: usize) -> Self {
        self.0.row = Some(row);
        self
    }
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.0.file.get_or_insert_with(|| file.into());
        self
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }
    /// Puts `prefix: ` before the message, keeping kind, context and source.
    pub fn with_message_prefix(mut self, prefix: impl std::fmt::Display) -> Self {
        self.0.message = format!("{prefix}: {}", self.0.message);
        self
    }
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.0.temporary = temporary;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// True when the same call may succeed if retried unchanged (a write conflict, a store briefly away).
    pub fn is_temporary(&self) -> bool {
        self.0.temporary
    }
    pub fn message(&self) -> &str {
        &self.0.message
    }
    pub fn operation(&self) -> Option<&'static str> {
        self.0.operation
    }
    pub fn class(&self) -> Option<&str> {
        self.0.class.as_deref()
    }
    pub fn column(&self) -> Option<&str> {
        self.0.column.as_deref()
    }
    /// Zero-based index of the first offending row in the caller's batch.
    pub fn row(&self) -> Option<usize> {
        self.0.row
    }
    pub fn file(&self) -> Option<&str> {
        self.0.file.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if let Some(op) = self.0.operation {
            write!(f, " during {op}")?;
        }
        let mut context = Vec::new();
        if let Some(file) = &self.0.file {
            context.push(format!("file {file}"));
        }
        if let Some(class) = &self.0.class {
            context.push(format!("class {class}"));
        }
        if let Some(column) = &self.0.column {
            context.push(format!("column {column}"));
        }
        if let Some(row) = self.0.row {
            context.push(format!("row {row}"));
        }
        if !context.is_empty() {
            write!(f, " ({})", context.join(", "))?;
        }
        write!(f, ": {}", self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(err: arrow::error::ArrowError) -> Self {
        Error::new(ErrorKind::InvalidBatch, err.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_context_in_order() {
        let err = Error::invalid_batch("null in non-null column")
            .with_operation("save")
            .with_class("tick_data")
            .with_column("price")
            .with_row(7);
        assert_eq!(
            err.to_string(),
            "invalid_batch during save (class tick_data, column price, row 7): null in non-null column"
        );
        assert!(!err.is_temporary());
        assert!(Error::new(ErrorKind::Conflict, "x").is_temporary());
    }
}
