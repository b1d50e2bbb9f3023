//! The `quality:` section of a class in `table_config.yaml`: policy, thresholds per check, column roles.
//! It lives in core so the catalog parses it with the rest of the class (line numbers, unknown fields); the
//! monitoring crate resolves it against the spec and runs the checks.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    #[serde(default)]
    pub policy: Policy,
    /// How far past now a timestamp may lie before the `future` check counts it: `500ms`, `30s`, `5m`,
    /// `1h`, `1d`.
    #[serde(default = "default_tolerance")]
    pub future_tolerance: String,
    /// Columns that must not be null, beyond those the class declares `nullable: false`.
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub columns: ColumnRoles,
    #[serde(default)]
    pub checks: Checks,
    /// On demand (`quantdal check`, `serve`): how old the newest row may be.
    #[serde(default)]
    pub freshness: Option<Freshness>,
    /// On demand: expected bars per session against the rows held.
    #[serde(default)]
    pub completeness: Option<Completeness>,
    /// On demand: this class's daily values against another class aggregated to days.
    #[serde(default)]
    pub consistency: Option<Consistency>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            policy: Policy::default(),
            future_tolerance: default_tolerance(),
            required: Vec::new(),
            columns: ColumnRoles::default(),
            checks: Checks::default(),
            freshness: None,
            completeness: None,
            consistency: None,
        }
    }
}

/// Age of the newest row (per class and per series), counted in trading time when the calendar has rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Durations: `30m`, `1d`…
    pub warn: String,
    pub fail: String,
}

/// Missing bars of each series per session, from the bar width and the trading calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completeness {
    /// Bar width when the class has no `frequency` column (`1m`, `1d`); defaults to `1d` for DATE time.
    #[serde(default)]
    pub frequency: Option<String>,
    /// Trading sessions of a day in exchange-local `HH:MM-HH:MM`, for intraday bars.
    #[serde(default = "default_sessions")]
    pub sessions: Vec<String>,
    /// Exchange time zone offset from UTC in hours (8 for China).
    #[serde(default = "default_utc_offset")]
    pub utc_offset_hours: i32,
    /// Trading days checked, newest first.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Missing bars, as a count or a share of expected bars.
    #[serde(default)]
    pub warn: Limit,
    #[serde(default)]
    pub fail: Limit,
}

fn default_sessions() -> Vec<String> {
    vec!["09:30-11:30".into(), "13:00-15:00".into()]
}
fn default_utc_offset() -> i32 {
    8
}
fn default_days() -> u32 {
    5
}

/// Days on which this class and `against` aggregated to days disagree by more than `tolerance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    /// The finer class (e.g. `minute_kline`), aggregated to days.
    pub against: String,
    /// Relative difference allowed per value (`"0.1%"`).
    #[serde(default = "default_tolerance_share")]
    pub tolerance: Limit,
    /// Trading days compared, newest first.
    #[serde(default = "default_days")]
    pub days: u32,
    #[serde(default)]
    pub warn: Limit,
    #[serde(default)]
    pub fail: Limit,
}

fn default_tolerance_share() -> Limit {
    Limit::Fraction(0.001)
}

impl QualityConfig {
    /// What the catalog can check without the monitoring crate: durations parse, named columns exist.
    /// Errors are `(field under quality., message)`.
    pub fn validate(
        &self,
        columns: &[crate::spec::ColumnSpec],
        has_time: bool,
    ) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| (f.to_string(), m);
        parse_duration_ns(&self.future_tolerance).map_err(|m| err("future_tolerance", m))?;
        let known = |f: &str, c: &str| -> Result<(), (String, String)> {
            if columns.iter().any(|col| col.name == c) {
                Ok(())
            } else {
                Err(err(f, format!("`{c}` is not a column of the class")))
            }
        };
        for c in &self.required {
            known("required", c)?;
        }
        let r = &self.columns;
        for c in r.prices.iter().flatten() {
            known("columns.prices", c)?;
        }
        for c in r.volumes.iter().flatten() {
            known("columns.volumes", c)?;
        }
        if let Some(o) = &r.ohlc {
            for c in [&o.open, &o.high, &o.low, &o.close] {
                known("columns.ohlc", c)?;
            }
        }
        for [b, a] in r.bid_ask.iter().flatten() {
            known("columns.bid_ask", b)?;
            known("columns.bid_ask", a)?;
        }
        if let Some(l) = &r.level {
            known("columns.level", l)?;
        }
        let needs_time = |f: &str| -> Result<(), (String, String)> {
            if has_time {
                Ok(())
            } else {
                Err(err(f, "needs a class with a time column".into()))
            }
        };
        if let Some(f) = &self.freshness {
            needs_time("freshness")?;
            let w = parse_duration_ns(&f.warn).map_err(|m| err("freshness.warn", m))?;
            let x = parse_duration_ns(&f.fail).map_err(|m| err("freshness.fail", m))?;
            if w > x {
                return Err(err("freshness.warn", "is longer than fail".into()));
            }
        }
        if let Some(c) = &self.completeness {
            needs_time("completeness")?;
            if let Some(f) = &c.frequency {
                parse_duration_ns(f).map_err(|m| err("completeness.frequency", m))?;
            }
            for s in &c.sessions {
                parse_session(s).map_err(|m| err("completeness.sessions", m))?;
            }
            if !(-14..=14).contains(&c.utc_offset_hours) {
                return Err(err(
                    "completeness.utc_offset_hours",
                    "must be within -14..14".into(),
                ));
            }
        }
        if let Some(c) = &self.consistency {
            needs_time("consistency")?;
            if c.against.is_empty() {
                return Err(err(
                    "consistency.against",
                    "names the class to compare with".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `09:30-11:30` → minutes since midnight `(570, 690)`.
pub fn parse_session(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{text}` is not a session (HH:MM-HH:MM)");
    let minutes = |t: &str| -> Result<u32, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b) = (minutes(a)?, minutes(b)?);
    if a >= b {
        return Err(bad());
    }
    Ok((a, b))
}

fn default_tolerance() -> String {
    "5m".into()
}

/// What a save does when checks find bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// A check at `fail` stops the save: nothing written, an error returned.
    Reject,
    /// Everything is written; results are recorded (and alert).
    #[default]
    Warn,
    /// Rows flagged by any check not at `pass` go to the rejects table; the rest are saved.
    Quarantine,
}

/// Which columns play which part. Unset roles follow name conventions (see docs/monitoring.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRoles {
    /// Must be > 0 (and not NaN).
    #[serde(default)]
    pub prices: Option<Vec<String>>,
    /// Must be ≥ 0.
    #[serde(default)]
    pub volumes: Option<Vec<String>>,
    #[serde(default)]
    pub ohlc: Option<Ohlc>,
    /// `[bid, ask]` pairs: bid ≤ ask.
    #[serde(default)]
    pub bid_ask: Option<Vec<[String; 2]>>,
    /// Book level column, within `levels`.
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default = "default_levels")]
    pub levels: [i64; 2],
}

impl Default for ColumnRoles {
    fn default() -> Self {
        ColumnRoles {
            prices: None,
            volumes: None,
            ohlc: None,
            bid_ask: None,
            level: None,
            levels: default_levels(),
        }
    }
}

fn default_levels() -> [i64; 2] {
    [1, 10]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ohlc {
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    #[serde(default)]
    pub nulls: Thresholds,
    #[serde(default)]
    pub validity: Thresholds,
    #[serde(default)]
    pub duplicates: Thresholds,
    #[serde(default)]
    pub future: Thresholds,
    #[serde(default)]
    pub order: Thresholds,
}

/// A check is at `warn` when more rows than `warn` are bad, at `fail` past `fail`. The defaults (0 and 0)
/// fail on any bad row; relax with e.g. `fail: "1%"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub warn: Limit,
    #[serde(default)]
    pub fail: Limit,
}

fn yes() -> bool {
    true
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            enabled: true,
            warn: Limit::default(),
            fail: Limit::default(),
        }
    }
}

/// A number of rows (`3`) or a share of the batch (`"0.5%"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLimit", into = "RawLimit")]
pub enum Limit {
    Rows(u64),
    Fraction(f64),
}

impl Default for Limit {
    fn default() -> Self {
        Limit::Rows(0)
    }
}

impl Limit {
    /// True when `bad` of `rows` is past this limit.
    pub fn exceeded(self, bad: usize, rows: usize) -> bool {
        match self {
            Limit::Rows(n) => bad as u64 > n,
            Limit::Fraction(f) => bad as f64 > f * rows as f64,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Rows(n) => write!(f, "{n} rows"),
            Limit::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawLimit {
    Rows(u64),
    Text(String),
}

impl TryFrom<RawLimit> for Limit {
    type Error = String;
    fn try_from(raw: RawLimit) -> Result<Self, String> {
        match raw {
            RawLimit::Rows(n) => Ok(Limit::Rows(n)),
            RawLimit::Text(t) => {
                let bad = || {
                    format!("`{t}` is not a limit: use a row count (3) or a percentage (\"0.5%\")")
                };
                match t.trim().strip_suffix('%') {
                    Some(p) => {
                        let p: f64 = p.trim().parse().map_err(|_| bad())?;
                        if !(0.0..=100.0).contains(&p) {
                            return Err(bad());
                        }
                        Ok(Limit::Fraction(p / 100.0))
                    }
                    None => t.trim().parse().map(Limit::Rows).map_err(|_| bad()),
                }
            }
        }
    }
}

impl From<Limit> for RawLimit {
    fn from(l: Limit) -> RawLimit {
        match l {
            Limit::Rows(n) => RawLimit::Rows(n),
            Limit::Fraction(f) => RawLimit::Text(format!("{}%", f * 100.0)),
        }
    }
}

/// `500ms`, `30s`, `5m`, `1h`, `1d` → nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 30s, 5m, 1h, 1d)"))?;
    let scale: i64 = match unit.trim() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => {
            return Err(format!(
                "`{text}` is not a duration (e.g. 500ms, 30s, 5m, 1h, 1d)"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_rejects_typos() {
        let c: QualityConfig = serde_json::from_str(
            r#"{"policy":"quarantine","future_tolerance":"30s",
                "checks":{"validity":{"warn":0,"fail":"1%"},"order":{"enabled":false}}}"#,
        )
        .unwrap();
        assert_eq!(c.policy, Policy::Quarantine);
        assert_eq!(c.checks.validity.fail, Limit::Fraction(0.01));
        assert!(!c.checks.order.enabled);
        assert!(serde_json::from_str::<QualityConfig>(r#"{"polcy":"warn"}"#).is_err());
        assert!(
            serde_json::from_str::<QualityConfig>(r#"{"checks":{"nulls":{"warn":"x"}}}"#).is_err()
        );
        assert_eq!(parse_duration_ns("5m"), Ok(300_000_000_000));
        assert!(parse_duration_ns("5 parsecs").is_err());
        assert!(Limit::Fraction(0.01).exceeded(2, 100));
        assert!(!Limit::Fraction(0.01).exceeded(1, 100));
        assert!(Limit::Rows(0).exceeded(1, 100));
    }
}
