//! UTC instants at nanosecond resolution and exact conversions to a column's unit.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// An instant in UTC, nanoseconds since the epoch (covers 1677-09-21 to 2262-04-11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

impl Timestamp {
    pub fn from_nanos(n: i64) -> Self {
        Timestamp(n)
    }
    pub fn from_micros(us: i64) -> Option<Self> {
        us.checked_mul(1_000).map(Timestamp)
    }
    pub fn from_millis(ms: i64) -> Option<Self> {
        ms.checked_mul(1_000_000).map(Timestamp)
    }
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Accepts RFC 3339 (`2024-01-02T09:30:00.5+08:00`), `YYYY-MM-DD HH:MM:SS[.fff]` and
    /// `YYYY-MM-DD` (both read as UTC).
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let t = text.trim();
        let from_dt = |dt: DateTime<Utc>| {
            dt.timestamp_nanos_opt()
                .map(Timestamp)
                .ok_or_else(|| format!("`{t}` is outside 1677..2262"))
        };
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return from_dt(dt.with_timezone(&Utc));
        }
        for fmt in [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
                return from_dt(Utc.from_utc_datetime(&naive));
            }
        }
        if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return from_dt(Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN)));
        }
        Err(format!(
            "`{t}` is not a timestamp (use RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` in UTC, or `YYYY-MM-DD`)"
        ))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        // Out-of-range instants saturate; they can only widen a range, never shift data.
        Timestamp(dt.timestamp_nanos_opt().unwrap_or(if dt.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }
}

impl From<NaiveDate> for Timestamp {
    fn from(d: NaiveDate) -> Self {
        Timestamp::from(Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.fZ"))
    }
}

/// Smallest tick count `t` (of `nanos_per_tick`) with `t * nanos_per_tick >= nanos`: the exact lower bound
/// of `[start, …)` in a coarser unit, so nothing is dropped or added by rounding.
pub fn ceil_ticks(nanos: i64, nanos_per_tick: i64) -> i64 {
    nanos.div_euclid(nanos_per_tick) + i64::from(nanos.rem_euclid(nanos_per_tick) != 0)
}

/// `Some(t)` when `nanos` is a whole number of ticks.
pub fn exact_ticks(nanos: i64, nanos_per_tick: i64) -> Option<i64> {
    (nanos.rem_euclid(nanos_per_tick) == 0).then(|| nanos.div_euclid(nanos_per_tick))
}

/// "18 days", "3 hours", "42 seconds": a duration for people (the dashboard, overviews).
pub fn age_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s >= 2 * 3_600 {
        (s / 3_600, "hour")
    } else if s >= 2 * 60 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms_as_utc() {
        let a = Timestamp::parse("2024-01-02T01:30:00Z").unwrap();
        let b = Timestamp::parse("2024-01-02 09:30:00+08:00").unwrap();
        let c = Timestamp::parse("2024-01-02 01:30:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        let d = Timestamp::parse("2024-01-02").unwrap();
        assert_eq!(d.nanos() % NANOS_PER_DAY, 0);
        assert_eq!(
            Timestamp::parse("2024-01-02 01:30:00.000000123")
                .unwrap()
                .nanos()
                - a.nanos(),
            123
        );
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn ceil_is_exact_for_negative_and_positive() {
        assert_eq!(ceil_ticks(1_000_000, 1_000_000), 1);
        assert_eq!(ceil_ticks(1_000_001, 1_000_000), 2);
        assert_eq!(ceil_ticks(-1, 1_000_000), 0);
        assert_eq!(ceil_ticks(-1_000_000, 1_000_000), -1);
        assert_eq!(exact_ticks(3_000, 1_000), Some(3));
        assert_eq!(exact_ticks(3_001, 1_000), None);
    }
}
