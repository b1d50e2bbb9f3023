//! The neutral spec → TDengine: column types and the super-table layout (time column, data columns, tags).
//! Everything a class needs that TDengine cannot give is refused here, once, with a reason.

use std::fmt;

use quantdal_core::spec::is_identifier;
use quantdal_core::{Error, ErrorKind, NeutralType, Result, TableSpec, TimePrecision};

/// Bytes given to TEXT and JSON columns (TDengine needs a declared length).
pub const TEXT_BYTES: u32 = 4096;
/// TDengine 3.0.5+ limits: a VARCHAR data column, a VARCHAR tag.
pub const MAX_COLUMN_BYTES: u32 = 65_517;
pub const MAX_TAG_BYTES: u32 = 16_382;
/// Database used when a class gives no `tdengine:` options (the facade assumes the same).
pub const DEFAULT_DATABASE: &str = "quantdal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdType {
    Timestamp,
    Bool,
    Int,
    BigInt,
    Float,
    Double,
    /// Length in bytes.
    VarChar(u32),
}

impl TdType {
    /// The name `DESCRIBE` reports (BINARY is an alias of VARCHAR).
    pub fn name(self) -> &'static str {
        match self {
            TdType::Timestamp => "TIMESTAMP",
            TdType::Bool => "BOOL",
            TdType::Int => "INT",
            TdType::BigInt => "BIGINT",
            TdType::Float => "FLOAT",
            TdType::Double => "DOUBLE",
            TdType::VarChar(_) => "VARCHAR",
        }
    }

    /// The (encode, compress) stages quantdal gives a data column, where they differ from TDengine's defaults
    /// (`None`: the default is kept). zstd instead of lz4 as the second stage, and doubles compressed as raw
    /// bytes rather than delta-d first: 1M demo ticks took 10.71 bytes/row after FLUSH instead of 16.73
    /// (zstd Parquet: 9.18), loads equally fast (docs/benchmarks.md). Strings and BOOL already default to zstd.
    pub fn compression(self) -> Option<(Option<&'static str>, &'static str)> {
        match self {
            TdType::Timestamp | TdType::Int | TdType::BigInt => Some((None, "zstd")),
            TdType::Float | TdType::Double => Some((Some("disabled"), "zstd")),
            TdType::Bool | TdType::VarChar(_) => None,
        }
    }
}

impl fmt::Display for TdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TdType::VarChar(n) => write!(f, "VARCHAR({n})"),
            other => f.write_str(other.name()),
        }
    }
}

/// The TDengine type holding a neutral type. VARCHAR(n) counts characters, TDengine bytes, so it gets 4n
/// bytes (any n-character UTF-8 string fits). DECIMAL(p ≤ 18, s) is stored as its unscaled BIGINT: exact,
/// ordered like the decimal, and bindable with stmt (TDengine's own DECIMAL, 3.3.6+, is neither a tag type nor
/// stmt-bindable).
pub fn td_type(ty: NeutralType, is_tag: bool) -> std::result::Result<TdType, String> {
    let cap = if is_tag {
        MAX_TAG_BYTES
    } else {
        MAX_COLUMN_BYTES
    };
    Ok(match ty {
        NeutralType::Timestamp | NeutralType::Date => TdType::Timestamp,
        NeutralType::Bool => TdType::Bool,
        NeutralType::Int => TdType::Int,
        NeutralType::BigInt => TdType::BigInt,
        NeutralType::Float => TdType::Float,
        NeutralType::Double => TdType::Double,
        NeutralType::Decimal { precision, .. } if precision <= 18 => TdType::BigInt,
        NeutralType::Decimal { precision, scale } => {
            return Err(format!(
                "DECIMAL({precision},{scale}) needs more than 18 digits, which TDengine cannot hold exactly \
                 (declare precision ≤ 18 or route the class to PostgreSQL)"
            ))
        }
        NeutralType::Varchar { length } => TdType::VarChar(length.saturating_mul(4).min(cap)),
        NeutralType::Text | NeutralType::Json => TdType::VarChar(TEXT_BYTES.min(cap)),
    })
}

/// How one class sits in TDengine. Indexes are into `spec.columns`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub database: String,
    pub stable: String,
    pub precision: TimePrecision,
    /// The timestamp primary key (TDengine's first column).
    pub time: usize,
    /// Data columns after the time column, in spec order.
    pub values: Vec<usize>,
    /// Tag columns, in the class's series order.
    pub tags: Vec<usize>,
    /// TDengine type of every spec column (by spec index).
    pub types: Vec<TdType>,
}

impl Layout {
    /// Time column then data columns: the column order of every insert.
    pub fn insert_columns(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(1 + self.values.len());
        out.push(self.time);
        out.extend_from_slice(&self.values);
        out
    }
    pub fn is_tag(&self, column: usize) -> bool {
        self.tags.contains(&column)
    }
    /// Ticks of the database precision in one day (DATE values are stored as midnight UTC).
    pub fn ticks_per_day(&self) -> i64 {
        86_400_000_000_000 / self.precision.nanos_per_tick()
    }
}

fn unsupported(spec: &TableSpec, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, message).with_class(spec.name.clone())
}

/// Checks the class fits a super-table and says how. A TDengine row is unique by (sub-table, timestamp), so
/// the class key must be exactly its series columns plus its time column.
pub fn layout(spec: &TableSpec) -> Result<Layout> {
    let time = spec.time_column().ok_or_else(|| {
        unsupported(
            spec,
            "TDengine tables need a timestamp first column; this class has no time column",
        )
    })?;
    let time_index = spec.column_index(&time.name).unwrap_or_default();
    let series = spec.series_columns();
    if series.is_empty() {
        return Err(unsupported(
            spec,
            "TDengine super-tables need at least one tag; this class has no series columns",
        ));
    }
    let mut expected_key: Vec<&str> = series.clone();
    expected_key.push(&time.name);
    let mut key: Vec<&str> = spec.key.iter().map(String::as_str).collect();
    key.sort_unstable();
    expected_key.sort_unstable();
    if key != expected_key {
        return Err(unsupported(
            spec,
            format!(
                "TDengine keeps one row per (series, time); the class key ({}) is not its series columns plus `{}`",
                spec.key.join(", "),
                time.name
            ),
        ));
    }
    let tags: Vec<usize> = series.iter().filter_map(|s| spec.column_index(s)).collect();
    let values: Vec<usize> = (0..spec.columns.len())
        .filter(|i| *i != time_index && !tags.contains(i))
        .collect();
    if values.is_empty() {
        return Err(unsupported(
            spec,
            "TDengine super-tables need at least one data column besides time and tags",
        ));
    }
    let mut types = Vec::with_capacity(spec.columns.len());
    for (i, c) in spec.columns.iter().enumerate() {
        let t = td_type(c.data_type, tags.contains(&i))
            .map_err(|m| unsupported(spec, m).with_column(c.name.clone()))?;
        types.push(t);
    }
    let tag_bytes: u32 = tags
        .iter()
        .map(|&i| match types[i] {
            TdType::VarChar(n) => n,
            _ => 8,
        })
        .sum();
    if tag_bytes > MAX_TAG_BYTES {
        return Err(unsupported(
            spec,
            format!("tags take {tag_bytes} bytes; TDengine allows 16 KB of tag values per table"),
        ));
    }
    let database = spec
        .options
        .tdengine
        .as_ref()
        .map(|o| o.database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    if !is_identifier(&database) {
        return Err(Error::config(format!(
            "options.tdengine.database `{database}` must be a lower-case identifier"
        ))
        .with_class(spec.name.clone()));
    }
    Ok(Layout {
        database,
        stable: spec.table.clone(),
        precision: spec.precision(),
        time: time_index,
        values,
        tags,
        types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_mapping() {
        let cases = [
            (NeutralType::Timestamp, false, "TIMESTAMP"),
            (NeutralType::Date, false, "TIMESTAMP"),
            (NeutralType::Bool, false, "BOOL"),
            (NeutralType::Int, true, "INT"),
            (NeutralType::BigInt, false, "BIGINT"),
            (NeutralType::Float, false, "FLOAT"),
            (NeutralType::Double, false, "DOUBLE"),
            (
                NeutralType::Decimal {
                    precision: 18,
                    scale: 4,
                },
                false,
                "BIGINT",
            ),
            (NeutralType::Varchar { length: 16 }, true, "VARCHAR(64)"),
            (
                NeutralType::Varchar { length: 65_535 },
                false,
                "VARCHAR(65517)",
            ),
            (
                NeutralType::Varchar { length: 65_535 },
                true,
                "VARCHAR(16382)",
            ),
            (NeutralType::Text, false, "VARCHAR(4096)"),
            (NeutralType::Json, false, "VARCHAR(4096)"),
        ];
        for (ty, tag, want) in cases {
            assert_eq!(td_type(ty, tag).unwrap().to_string(), want, "{ty}");
        }
        assert!(td_type(
            NeutralType::Decimal {
                precision: 19,
                scale: 2
            },
            false
        )
        .is_err());
    }
}
