//! The neutral column types of the YAML and their Arrow form. Each store maps these to its own DDL.

use std::fmt;
use std::str::FromStr;

use arrow::datatypes::{DataType, TimeUnit};

/// Precision of a class's timestamps, declared in the YAML and kept end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimePrecision {
    Ms,
    Us,
    Ns,
}

impl TimePrecision {
    pub fn unit(self) -> TimeUnit {
        match self {
            TimePrecision::Ms => TimeUnit::Millisecond,
            TimePrecision::Us => TimeUnit::Microsecond,
            TimePrecision::Ns => TimeUnit::Nanosecond,
        }
    }
    /// Nanoseconds in one tick of this precision.
    pub fn nanos_per_tick(self) -> i64 {
        match self {
            TimePrecision::Ms => 1_000_000,
            TimePrecision::Us => 1_000,
            TimePrecision::Ns => 1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TimePrecision::Ms => "ms",
            TimePrecision::Us => "us",
            TimePrecision::Ns => "ns",
        }
    }
}

impl FromStr for TimePrecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ms" => Ok(TimePrecision::Ms),
            "us" => Ok(TimePrecision::Us),
            "ns" => Ok(TimePrecision::Ns),
            other => Err(format!(
                "unknown precision `{other}` (expected ms, us or ns)"
            )),
        }
    }
}

impl fmt::Display for TimePrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn unit_nanos(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// A column type as the YAML names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeutralType {
    Timestamp,
    Date,
    Bool,
    Int,
    BigInt,
    Float,
    Double,
    Decimal { precision: u8, scale: i8 },
    Varchar { length: u32 },
    Text,
    Json,
}

impl NeutralType {
    /// The Arrow type of this column at the API; timestamps take the class precision, always UTC.
    pub fn arrow_type(self, precision: TimePrecision) -> DataType {
        match self {
            NeutralType::Timestamp => DataType::Timestamp(precision.unit(), Some("UTC".into())),
            NeutralType::Date => DataType::Date32,
            NeutralType::Bool => DataType::Boolean,
            NeutralType::Int => DataType::Int32,
            NeutralType::BigInt => DataType::Int64,
            NeutralType::Float => DataType::Float32,
            NeutralType::Double => DataType::Float64,
            NeutralType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            NeutralType::Varchar { .. } | NeutralType::Text | NeutralType::Json => DataType::Utf8,
        }
    }

    pub fn is_string(self) -> bool {
        matches!(
            self,
            NeutralType::Varchar { .. } | NeutralType::Text | NeutralType::Json
        )
    }
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            NeutralType::Int
                | NeutralType::BigInt
                | NeutralType::Float
                | NeutralType::Double
                | NeutralType::Decimal { .. }
        )
    }
}

impl fmt::Display for NeutralType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeutralType::Timestamp => f.write_str("TIMESTAMP"),
            NeutralType::Date => f.write_str("DATE"),
            NeutralType::Bool => f.write_str("BOOL"),
            NeutralType::Int => f.write_str("INT"),
            NeutralType::BigInt => f.write_str("BIGINT"),
            NeutralType::Float => f.write_str("FLOAT"),
            NeutralType::Double => f.write_str("DOUBLE"),
            NeutralType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
            NeutralType::Varchar { length } => write!(f, "VARCHAR({length})"),
            NeutralType::Text => f.write_str("TEXT"),
            NeutralType::Json => f.write_str("JSON"),
        }
    }
}

/// Parses `DOUBLE`, `DECIMAL(18,4)`, `VARCHAR(16)`… Length, precision and scale may also come from the
/// column's own `length` / `precision` / `scale` fields; the caller merges them.
pub fn parse_type(
    text: &str,
    length: Option<u32>,
    precision: Option<u8>,
    scale: Option<i8>,
) -> Result<NeutralType, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (name, args) = match upper.find('(') {
        Some(open) => {
            let close = upper
                .strip_suffix(')')
                .ok_or_else(|| format!("type `{text}`: missing closing parenthesis"))?;
            let args: Vec<&str> = close[open + 1..].split(',').map(str::trim).collect();
            (upper[..open].trim().to_string(), args)
        }
        None => (upper.clone(), Vec::new()),
    };
    let num = |s: &str| -> Result<u32, String> {
        s.parse::<u32>()
            .map_err(|_| format!("type `{text}`: `{s}` is not a whole number"))
    };
    let no_args = |t: NeutralType| -> Result<NeutralType, String> {
        if args.is_empty() {
            Ok(t)
        } else {
            Err(format!("type `{text}` takes no arguments"))
        }
    };
    match name.as_str() {
        "TIMESTAMP" => no_args(NeutralType::Timestamp),
        "DATE" => no_args(NeutralType::Date),
        "BOOL" | "BOOLEAN" => no_args(NeutralType::Bool),
        "INT" | "INTEGER" => no_args(NeutralType::Int),
        "BIGINT" => no_args(NeutralType::BigInt),
        "FLOAT" | "REAL" => no_args(NeutralType::Float),
        "DOUBLE" => no_args(NeutralType::Double),
        "TEXT" => no_args(NeutralType::Text),
        "JSON" => no_args(NeutralType::Json),
        "DECIMAL" | "NUMERIC" => {
            let (p, s) = match args.as_slice() {
                [] => (
                    precision.map(u32::from),
                    scale.map(|s| s.max(0) as u32).or(Some(0)),
                ),
                [p] => (Some(num(p)?), Some(0)),
                [p, s] => (Some(num(p)?), Some(num(s)?)),
                _ => return Err(format!("type `{text}`: DECIMAL takes (precision, scale)")),
            };
            let p = p.ok_or_else(|| format!("type `{text}`: DECIMAL needs a precision"))?;
            let s = s.unwrap_or(0);
            if !(1..=38).contains(&p) {
                return Err(format!("type `{text}`: precision must be 1..=38"));
            }
            if s > p {
                return Err(format!(
                    "type `{text}`: scale {s} is larger than precision {p}"
                ));
            }
            Ok(NeutralType::Decimal {
                precision: p as u8,
                scale: s as i8,
            })
        }
        "VARCHAR" => {
            let length = match args.as_slice() {
                [] => length.ok_or_else(|| {
                    format!("type `{text}`: VARCHAR needs a length (VARCHAR(n) or `length: n`)")
                })?,
                [n] => num(n)?,
                _ => return Err(format!("type `{text}`: VARCHAR takes one length")),
            };
            if length == 0 || length > 65_535 {
                return Err(format!("type `{text}`: length must be 1..=65535"));
            }
            Ok(NeutralType::Varchar { length })
        }
        _ => Err(format!(
            "unknown type `{text}` (expected TIMESTAMP, DATE, BOOL, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), VARCHAR(n), TEXT or JSON)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_neutral_type() {
        assert_eq!(
            parse_type("double", None, None, None),
            Ok(NeutralType::Double)
        );
        assert_eq!(
            parse_type("DECIMAL(18, 4)", None, None, None),
            Ok(NeutralType::Decimal {
                precision: 18,
                scale: 4
            })
        );
        assert_eq!(
            parse_type("DECIMAL", None, Some(20), Some(2)),
            Ok(NeutralType::Decimal {
                precision: 20,
                scale: 2
            })
        );
        assert_eq!(
            parse_type("VARCHAR(16)", None, None, None),
            Ok(NeutralType::Varchar { length: 16 })
        );
        assert_eq!(
            parse_type("VARCHAR", Some(32), None, None),
            Ok(NeutralType::Varchar { length: 32 })
        );
        for (text, t) in [
            ("TIMESTAMP", NeutralType::Timestamp),
            ("DATE", NeutralType::Date),
            ("BOOL", NeutralType::Bool),
            ("INT", NeutralType::Int),
            ("BIGINT", NeutralType::BigInt),
            ("FLOAT", NeutralType::Float),
            ("TEXT", NeutralType::Text),
            ("JSON", NeutralType::Json),
        ] {
            assert_eq!(parse_type(text, None, None, None), Ok(t));
            assert_eq!(parse_type(&t.to_string(), None, None, None), Ok(t));
        }
    }

    #[test]
    fn rejects_malformed_types() {
        for bad in [
            "DOUBEL",
            "VARCHAR",
            "VARCHAR(0)",
            "DECIMAL(40,2)",
            "DECIMAL(4,6)",
            "DECIMAL(a,b)",
            "INT(4)",
            "DECIMAL(18,4",
        ] {
            assert!(parse_type(bad, None, None, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamp_arrow_type_carries_precision_and_utc() {
        assert_eq!(
            NeutralType::Timestamp.arrow_type(TimePrecision::Ns),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
    }
}
