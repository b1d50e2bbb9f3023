//! The validated, backend-neutral description of one data class. Stores build DDL and I/O from this only,
//! so every identifier that reaches SQL has passed [`is_identifier`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use crate::options::BackendOptions;
use crate::quality::QualityConfig;
use crate::types::{NeutralType, TimePrecision};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Market,
    Reference,
    Derived,
    Transaction,
    Meta,
    Realtime,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Market => "market",
            Category::Reference => "reference",
            Category::Derived => "derived",
            Category::Transaction => "transaction",
            Category::Meta => "meta",
            Category::Realtime => "realtime",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub data_type: NeutralType,
    pub nullable: bool,
    /// Default as written in the YAML; stores render it as a bound-free literal of the column type.
    pub default: Option<DefaultValue>,
    pub comment: Option<String>,
}

/// A column default, already checked against the column type.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSpec {
    pub column: String,
    /// Precision of TIMESTAMP time columns; DATE time columns ignore it.
    pub precision: TimePrecision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// Which columns a kline is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KlineSource {
    /// Trades / snapshots: one price per row.
    Ticks {
        price: String,
        volume: String,
        amount: Option<String>,
    },
    /// Bars: rolled up into coarser bars.
    Bars {
        open: String,
        high: String,
        low: String,
        close: String,
        volume: String,
        amount: Option<String>,
    },
}

/// The columns a bar is built from: (open, high, low, close, volume, amount). Ticks are bars whose open,
/// high, low and close are all the tick price.
pub type OhlcvColumns<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, Option<&'a str>);

impl KlineSource {
    pub fn columns(&self) -> OhlcvColumns<'_> {
        match self {
            KlineSource::Ticks {
                price,
                volume,
                amount,
            } => (price, price, price, price, volume, amount.as_deref()),
            KlineSource::Bars {
                open,
                high,
                low,
                close,
                volume,
                amount,
            } => (open, high, low, close, volume, amount.as_deref()),
        }
    }
}

/// `versions:` — the class keeps every revision of each key, with the time it became known, so loads can
/// ask for the data as it was known at an instant (`Load::as_of`). See docs/versions.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// The column holding each row's knowledge time; `None`: the save's commit time (UTC).
    pub known_at: Option<String>,
}

/// The column of a versioned table holding each revision's knowledge time (also its name in `history`).
pub const KNOWN_AT_COLUMN: &str = "_known_at";
/// The column of a versioned table marking a revision as a deletion (a tombstone).
pub const DELETED_COLUMN: &str = "_deleted";

#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub category: Category,
    pub description: String,
    /// The class-level store name (`tdengine`, `postgres`, `redis`, …); the router resolves it.
    pub store: String,
    pub table: String,
    pub columns: Vec<ColumnSpec>,
    pub tags: Vec<String>,
    pub time: Option<TimeSpec>,
    pub key: Vec<String>,
    pub indexes: Vec<IndexSpec>,
    pub kline: Option<KlineSource>,
    pub options: BackendOptions,
    /// The class's `quality:` section: inline checks on saves and on-demand checks (`quantdal check`).
    pub quality: Option<QualityConfig>,
    /// `cache: true`: the newest row per series is written through to the latest-row cache when
    /// `quantdal.yaml` names one (`cache.store`), and `latest` reads it first.
    pub cache: bool,
    /// `versions:`: every revision of a key is kept, with its knowledge time.
    pub versions: Option<Versions>,
    /// Precision of every TIMESTAMP column: the time column's, else the catalog default.
    precision: TimePrecision,
    schema: SchemaRef,
    positions: HashMap<String, usize>,
}

impl TableSpec {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        category: Category,
        description: String,
        store: String,
        table: String,
        columns: Vec<ColumnSpec>,
        tags: Vec<String>,
        time: Option<TimeSpec>,
        key: Vec<String>,
        indexes: Vec<IndexSpec>,
        kline: Option<KlineSource>,
        options: BackendOptions,
        default_precision: TimePrecision,
    ) -> Self {
        let precision = time
            .as_ref()
            .map(|t| t.precision)
            .unwrap_or(default_precision);
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.arrow_type(precision), c.nullable))
            .collect();
        let positions = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        TableSpec {
            name,
            category,
            description,
            store,
            table,
            columns,
            tags,
            time,
            key,
            indexes,
            kline,
            options,
            quality: None,
            cache: false,
            versions: None,
            precision,
            schema: Arc::new(Schema::new(fields)),
            positions,
        }
    }

    /// The Arrow schema every save is normalised to and every load returns (before projection).
    pub fn arrow_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.positions.get(name).map(|&i| &self.columns[i])
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }
    pub fn time_column(&self) -> Option<&ColumnSpec> {
        self.time.as_ref().and_then(|t| self.column(&t.column))
    }
    /// Timestamp precision of the class (the catalog's `defaults.precision` when it has no time column).
    pub fn precision(&self) -> TimePrecision {
        self.precision
    }
    pub fn is_key(&self, column: &str) -> bool {
        self.key.iter().any(|k| k == column)
    }
    pub fn is_tag(&self, column: &str) -> bool {
        self.tags.iter().any(|k| k == column)
    }
    /// Columns that are neither key nor tag: the ones an upsert overwrites.
    pub fn value_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns
            .iter()
            .filter(|c| !self.is_key(&c.name) && !self.is_tag(&c.name))
    }
    /// The series key: the tags, or the key without its time column when no tags are declared.
    pub fn series_columns(&self) -> Vec<&str> {
        if !self.tags.is_empty() {
            return self.tags.iter().map(String::as_str).collect();
        }
        let time = self.time.as_ref().map(|t| t.column.as_str());
        self.key
            .iter()
            .map(String::as_str)
            .filter(|k| Some(*k) != time)
            .collect()
    }
}

/// Identifiers reach SQL unquoted-safe: lower-case ASCII letters, digits and `_`, starting with a letter or
/// `_`, at most 63 bytes (PostgreSQL's limit, the tightest of the stores).
pub fn is_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_strict() {
        assert!(is_identifier("tick_data"));
        assert!(is_identifier("_x1"));
        for bad in [
            "",
            "1m",
            "Tick",
            "a-b",
            "a b",
            "a;drop",
            "\"x\"",
            &"a".repeat(64),
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
