//! What the monitor writes: one row per operation, slow statements, quality results, quarantined rows.
//! These are also the lines of the spill file, so they (de)serialise with serde.

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// RFC 3339 with microseconds, for people (the rows themselves keep integer microseconds).
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// `partial`: part of the work was done (quarantined rows left out, a load stream dropped early).
    OpStatus { Ok => "ok", Failed => "failed", Partial => "partial" }
);
text_enum!(SlowLevel { Warn => "warn", Slow => "slow" });
// Ordered so that `max` is the worst.
text_enum!(CheckStatus { Pass => "pass", Warn => "warn", Fail => "fail" });
text_enum!(AlertLevel { Warning => "warning", Critical => "critical" });
text_enum!(AlertStatus { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" });

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: String,
    pub start_us: i64,
    pub operation: String,
    pub class: String,
    /// Store name from `quantdal.yaml`.
    pub store: String,
    /// Store kind (duckdb, postgres, …).
    pub kind: String,
    pub table: String,
    pub rows: Option<i64>,
    pub bytes: Option<i64>,
    pub status: OpStatus,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub duration_us: i64,
    pub application: String,
    pub host: String,
    pub pid: i64,
}

/// An operation past the warn or slow threshold, with the statement the store ran (placeholders only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowQuery {
    pub op_id: String,
    pub start_us: i64,
    pub class: String,
    pub store: String,
    pub operation: String,
    pub statement: String,
    pub parameters: i64,
    pub rows: Option<i64>,
    pub duration_us: i64,
    pub level: SlowLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityCheckRecord {
    pub id: String,
    pub time_us: i64,
    pub class: String,
    pub check: String,
    pub status: CheckStatus,
    pub rows: i64,
    pub bad_rows: i64,
    /// JSON object of what was measured (counts per column or rule).
    pub measured: String,
    /// The thresholds applied, e.g. `warn > 0 rows, fail > 1%`.
    pub threshold: String,
    pub duration_us: i64,
    /// The save that ran the check inline; `None` for on-demand checks.
    pub op_id: Option<String>,
}

/// A row kept out of a save by the quarantine policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectRecord {
    pub id: String,
    pub time_us: i64,
    pub op_id: String,
    pub class: String,
    /// Checks the row failed, comma-separated.
    pub reason: String,
    /// Index of the row in the saved batch.
    pub row_index: i64,
    /// The row as a JSON object.
    pub row: String,
}

/// One item on the monitor channel and one line of the spill file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Operation(OperationRecord),
    Slow(SlowQuery),
    Quality(QualityCheckRecord),
    Reject(RejectRecord),
}

impl Record {
    /// The primary key in its table (`slow_queries` is keyed by the operation's id).
    pub fn id(&self) -> &str {
        match self {
            Record::Operation(r) => &r.id,
            Record::Slow(r) => &r.op_id,
            Record::Quality(r) => &r.id,
            Record::Reject(r) => &r.id,
        }
    }
}

/// An alerts row as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub dedup_key: String,
    pub level: AlertLevel,
    pub class: Option<String>,
    pub store: Option<String>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub occurrences: i64,
    pub status: AlertStatus,
    pub message: String,
}
