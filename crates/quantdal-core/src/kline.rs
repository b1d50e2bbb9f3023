//! Kline (OHLCV bar) intervals and the output schema every store produces.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::spec::{KlineSource, TableSpec};

/// A bar width: `30s`, `1m`, `5m`, `1h`, `1d`. Bars are aligned to the Unix epoch in UTC and labelled by
/// their start; a bar holds `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    seconds: i64,
}

impl Interval {
    pub fn from_seconds(seconds: i64) -> Option<Interval> {
        (seconds > 0).then_some(Interval { seconds })
    }
    pub fn seconds(self) -> i64 {
        self.seconds
    }
    pub fn micros(self) -> i64 {
        self.seconds * 1_000_000
    }
    pub fn nanos(self) -> i64 {
        self.seconds * 1_000_000_000
    }
}

impl FromStr for Interval {
    type Err = Error;
    fn from_str(text: &str) -> Result<Interval> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(split);
        let n: i64 = n.parse().map_err(|_| {
            Error::invalid_query(format!(
                "interval `{t}`: expected a number then s, m, h or d"
            ))
        })?;
        let per = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => {
                return Err(Error::invalid_query(format!(
                    "interval `{t}`: unit must be s, m, h or d"
                )))
            }
        };
        n.checked_mul(per)
            .and_then(Interval::from_seconds)
            .filter(|i| i.seconds <= 366 * 86_400)
            .ok_or_else(|| {
                Error::invalid_query(format!("interval `{t}` must be between 1s and 366d"))
            })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s % 3_600 == 0 {
            write!(f, "{}h", s / 3_600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// Series columns, then the bar start (named like the class's time column), open, high, low, close, volume,
/// amount and `count` (ticks, or source bars, in the bar). Volume stays an integer when the source's is.
pub fn kline_schema(spec: &TableSpec) -> Result<SchemaRef> {
    let source = spec.kline.as_ref().ok_or_else(|| {
        Error::invalid_query(
            "the class declares no `kline:` source, so bars cannot be computed from it",
        )
        .with_class(spec.name.clone())
    })?;
    let time = spec.time_column().ok_or_else(|| {
        Error::invalid_query("the class has no time column").with_class(spec.name.clone())
    })?;
    let schema = spec.arrow_schema();
    let mut fields: Vec<Field> = Vec::new();
    for s in spec.series_columns() {
        if let Some(i) = spec.column_index(s) {
            fields.push(schema.field(i).clone());
        }
    }
    fields.push(Field::new(
        &time.name,
        time.data_type.arrow_type(spec.precision()),
        false,
    ));
    for name in ["open", "high", "low", "close"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    let volume = match source {
        KlineSource::Ticks { volume, .. } | KlineSource::Bars { volume, .. } => volume,
    };
    let volume_type = match spec.column(volume).map(|c| c.data_type) {
        Some(crate::types::NeutralType::Int | crate::types::NeutralType::BigInt) => DataType::Int64,
        _ => DataType::Float64,
    };
    fields.push(Field::new("volume", volume_type, true));
    fields.push(Field::new("amount", DataType::Float64, true));
    fields.push(Field::new("count", DataType::Int64, false));
    Ok(Arc::new(Schema::new(fields)))
}

/// Checks an interval can label bars of this class exactly.
pub fn check_interval(spec: &TableSpec, interval: Interval) -> Result<()> {
    let is_date = spec
        .time_column()
        .is_some_and(|c| c.data_type == crate::types::NeutralType::Date);
    if is_date && interval.seconds() % 86_400 != 0 {
        return Err(Error::invalid_query(format!(
            "interval {interval} is finer than a day, but the class's time column is a DATE"
        ))
        .with_class(spec.name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_intervals() {
        for (text, secs) in [
            ("30s", 30),
            ("1m", 60),
            ("5m", 300),
            ("1h", 3600),
            ("1d", 86400),
            ("90m", 5400),
        ] {
            let i: Interval = text.parse().unwrap();
            assert_eq!(i.seconds(), secs);
        }
        assert_eq!("90m".parse::<Interval>().unwrap().to_string(), "90m");
        assert_eq!("120m".parse::<Interval>().unwrap().to_string(), "2h");
        for bad in ["", "5", "m", "0m", "-1m", "5w", "999999d"] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
    }
}
