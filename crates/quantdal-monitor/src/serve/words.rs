//! What a quality check measured, in words and numbers for the dashboard ("18 days stale, 10 of 10
//! series") instead of the JSON object the check stored. The JSON stays in the monitoring store and in
//! `quantdal monitor quality --format json`; this is only how the page says it.

pub use quantdal_core::time::age_words;
use serde_json::{Map, Value};

/// A sentence for the table cell, and the listed items (stalest series, missing intervals, mismatched
/// days) for the fold under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Described {
    pub summary: String,
    pub details: Vec<String>,
}

/// "1 row", "3 rows".
fn plural(n: i64, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn int(m: &Map<String, Value>, key: &str) -> Option<i64> {
    m.get(key).and_then(Value::as_i64)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Describes one quality_checks row. `measured` is the stored JSON text; anything unexpected in it is
/// still said as `key value` pairs, never as JSON.
pub fn describe(check: &str, measured: &str) -> Described {
    let value: Value = serde_json::from_str(measured).unwrap_or(Value::Null);
    let Value::Object(m) = value else {
        return Described {
            summary: if measured.trim().is_empty() {
                "nothing measured".into()
            } else {
                measured.to_string()
            },
            details: Vec::new(),
        };
    };
    if let Some(e) = m.get("error") {
        return Described {
            summary: format!("could not run: {}", text(e)),
            details: Vec::new(),
        };
    }
    match check {
        "freshness" => freshness(&m),
        "completeness" => completeness(&m),
        "consistency" => consistency(&m),
        "nulls" => per_key(&m, "no nulls in required columns", |k, n| {
            format!("{k}: {}", plural(n, "null"))
        }),
        "validity" => per_key(&m, "every rule holds", |k, n| {
            format!("{} break {k}", plural(n, "row"))
        }),
        "duplicates" => counted(&m, "duplicate_rows", "no duplicate keys", "duplicate row"),
        "order" => counted(&m, "out_of_order_rows", "in time order", "row out of order"),
        "future" => future(&m),
        _ => Described {
            summary: pairs(&m),
            details: Vec::new(),
        },
    }
}

/// The freshness check leaves closed days out of its ages (trade_calendar, else weekends), so its whole
/// days are trading days.
fn trading_age(seconds: i64) -> String {
    age_words(seconds).replace(" day", " trading day")
}

fn freshness(m: &Map<String, Value>) -> Described {
    let series = int(m, "series").unwrap_or(0);
    if series == 0 {
        return Described {
            summary: "no rows".into(),
            details: Vec::new(),
        };
    }
    let age = trading_age(int(m, "age_s").unwrap_or(0));
    let stale = int(m, "stale_series").unwrap_or(0);
    let summary = if stale > 0 {
        format!("{age} stale, {stale} of {series} series")
    } else {
        format!("newest row {age} old, 0 of {series} series stale")
    };
    let details = m
        .get("stalest")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let name = s.get("series").map(text)?;
                    let age = s.get("age_s").and_then(Value::as_i64)?;
                    Some(format!("{name}: {} behind", trading_age(age)))
                })
                .collect()
        })
        .unwrap_or_default();
    Described { summary, details }
}

fn completeness(m: &Map<String, Value>) -> Described {
    let days = int(m, "days").unwrap_or(0);
    let series = int(m, "series").unwrap_or(0);
    let expected = int(m, "expected").unwrap_or(0);
    let missing = int(m, "missing").unwrap_or(0);
    let span = format!("last {}", plural(days, "trading day"));
    let summary = if expected == 0 {
        format!("no bars expected in the {span} ({series} series held)")
    } else {
        format!("{missing} of {expected} bars missing in the {span}, {series} series")
    };
    let details = m
        .get("missing_intervals")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|i| {
                    let bars = i.get("bars").and_then(Value::as_i64).unwrap_or(0);
                    format!(
                        "{}: {} → {} ({})",
                        i.get("series").map(text).unwrap_or_default(),
                        i.get("from").map(text).unwrap_or_default(),
                        i.get("to").map(text).unwrap_or_default(),
                        plural(bars, "bar")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Described { summary, details }
}

fn consistency(m: &Map<String, Value>) -> Described {
    let compared = int(m, "compared").unwrap_or(0);
    let mismatched = int(m, "mismatched").unwrap_or(0);
    let against = m.get("against").map(text).unwrap_or_default();
    let mut summary = if compared == 0 {
        format!("no day to compare against {against}")
    } else {
        format!("{mismatched} of {compared} days differ from {against}")
    };
    if let Some(n) = int(m, "without_finer_bars").filter(|n| *n > 0) {
        summary.push_str(&format!(", {} without {against} bars", plural(n, "day")));
    }
    let details = m
        .get("examples")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    format!(
                        "{} {}: {} differ",
                        e.get("series").map(text).unwrap_or_default(),
                        e.get("day").map(text).unwrap_or_default(),
                        e.get("fields").map(text).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Described { summary, details }
}

fn future(m: &Map<String, Value>) -> Described {
    let n = int(m, "future_rows").unwrap_or(0);
    if n == 0 {
        return Described {
            summary: "no rows in the future".into(),
            details: Vec::new(),
        };
    }
    let mut summary = format!("{} in the future", plural(n, "row"));
    if let (Some(latest), Some(now)) = (int(m, "latest_ns"), int(m, "now_ns")) {
        summary.push_str(&format!(
            ", the latest {} ahead",
            age_words((latest - now) / 1_000_000_000)
        ));
    }
    Described {
        summary,
        details: Vec::new(),
    }
}

/// `{"price > 0": 3}` → "3 rows break price > 0".
fn per_key(m: &Map<String, Value>, none: &str, say: impl Fn(&str, i64) -> String) -> Described {
    let parts: Vec<String> = m
        .iter()
        .filter_map(|(k, v)| v.as_i64().map(|n| say(k, n)))
        .collect();
    Described {
        summary: if parts.is_empty() {
            none.to_string()
        } else {
            parts.join("; ")
        },
        details: Vec::new(),
    }
}

fn counted(m: &Map<String, Value>, key: &str, none: &str, unit: &str) -> Described {
    let n = int(m, key).unwrap_or(0);
    Described {
        summary: if n == 0 {
            none.to_string()
        } else {
            // "3 rows out of order": pluralise the first word only.
            let (first, rest) = unit.split_once(' ').unwrap_or((unit, ""));
            format!("{} {rest}", plural(n, first))
                .trim_end()
                .to_string()
        },
        details: Vec::new(),
    }
}

/// Keys and values of an object this page has no sentence for, e.g. a newer check's.
fn pairs(m: &Map<String, Value>) -> String {
    if m.is_empty() {
        return "nothing measured".into();
    }
    m.iter()
        .map(|(k, v)| match v {
            Value::Array(a) => format!(
                "{}: {}",
                k.replace('_', " "),
                plural(a.len() as i64, "item")
            ),
            Value::Object(o) => format!("{}: {}", k.replace('_', " "), pairs(o)),
            v => format!("{} {}", k.replace('_', " "), text(v)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_in_words() {
        let d = describe(
            "freshness",
            r#"{"age_s":1555200,"series":10,"stale_series":10,"trading_time":true,
                "stalest":[{"series":"000001.SZ","age_s":1555200},{"series":"600000.SH","age_s":7200}]}"#,
        );
        assert_eq!(d.summary, "18 trading days stale, 10 of 10 series");
        assert_eq!(
            d.details,
            vec![
                "000001.SZ: 18 trading days behind",
                "600000.SH: 2 hours behind"
            ]
        );
        let fresh = describe(
            "freshness",
            r#"{"age_s":42,"series":3,"stale_series":0,"stalest":[]}"#,
        );
        assert_eq!(
            fresh.summary,
            "newest row 42 seconds old, 0 of 3 series stale"
        );
        assert_eq!(
            describe("freshness", r#"{"series":0,"note":"no rows"}"#).summary,
            "no rows"
        );
    }

    #[test]
    fn completeness_and_consistency_in_words() {
        let d = describe(
            "completeness",
            r#"{"series":2,"days":5,"expected":2400,"missing":30,"calendar":true,
                "missing_intervals":[{"series":"000001.SZ","from":"2024-01-02 09:30","to":"2024-01-02 10:00","bars":30}]}"#,
        );
        assert_eq!(
            d.summary,
            "30 of 2400 bars missing in the last 5 trading days, 2 series"
        );
        assert_eq!(
            d.details,
            vec!["000001.SZ: 2024-01-02 09:30 → 2024-01-02 10:00 (30 bars)"]
        );
        assert_eq!(
            describe(
                "completeness",
                r#"{"series":1,"days":1,"expected":0,"missing":0,"missing_intervals":[]}"#
            )
            .summary,
            "no bars expected in the last 1 trading day (1 series held)"
        );
        let c = describe(
            "consistency",
            r#"{"against":"minute_kline","compared":20,"mismatched":1,"without_finer_bars":2,
                "examples":[{"series":"000001.SZ","day":"2024-01-02","fields":["high","close"]}]}"#,
        );
        assert_eq!(
            c.summary,
            "1 of 20 days differ from minute_kline, 2 days without minute_kline bars"
        );
        assert_eq!(c.details, vec!["000001.SZ 2024-01-02: high, close differ"]);
    }

    #[test]
    fn inline_checks_in_words() {
        assert_eq!(
            describe("nulls", "{}").summary,
            "no nulls in required columns"
        );
        assert_eq!(
            describe("nulls", r#"{"price":1,"volume":3}"#).summary,
            "price: 1 null; volume: 3 nulls"
        );
        assert_eq!(
            describe("validity", r#"{"price > 0":3}"#).summary,
            "3 rows break price > 0"
        );
        assert_eq!(
            describe("order", r#"{"out_of_order_rows":1}"#).summary,
            "1 row out of order"
        );
        assert_eq!(
            describe("duplicates", r#"{"duplicate_rows":0}"#).summary,
            "no duplicate keys"
        );
        assert_eq!(
            describe(
                "future",
                r#"{"future_rows":2,"latest_ns":7200000000000,"now_ns":0}"#
            )
            .summary,
            "2 rows in the future, the latest 2 hours ahead"
        );
        assert_eq!(
            describe("freshness", r#"{"error":"unavailable: store away"}"#).summary,
            "could not run: unavailable: store away"
        );
        let other = describe("newer_check", r#"{"lag_s":3,"examples":[1,2]}"#).summary;
        assert!(
            other.contains("examples: 2 items") && other.contains("lag s 3"),
            "{other}"
        );
        assert!(!other.contains('{'));
    }
}
