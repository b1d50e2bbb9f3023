//! How one class sits in Redis: its keys, TTL, history and feed lengths, and the encoding of its rows into
//! the save script's arguments.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use quantdal_core::load::{Condition, Op, Query};
use quantdal_core::{Error, Result, TableSpec, TimePrecision};

use crate::codec::{scalar_text, ColumnText};
use crate::keys::{decode_member, encode_component, member, ClassKeys};

/// Rows of history per series when the class does not say.
pub const DEFAULT_HISTORY: u32 = 1000;
/// Seconds of saves the feed keeps when the class does not say.
pub const DEFAULT_FEED_SECONDS: u32 = 60;

#[derive(Debug, Clone)]
pub struct ClassLayout {
    pub keys: ClassKeys,
    pub ttl_ms: u64,
    pub history: u32,
    pub feed_ms: u64,
    /// Column positions of the tags, in tag order.
    pub tags: Vec<usize>,
    pub time: usize,
}

impl ClassLayout {
    /// A realtime class stored in Redis.
    pub fn of(spec: &TableSpec) -> Result<ClassLayout> {
        let options = spec.options.redis.clone().unwrap_or_default();
        ClassLayout::build(
            spec,
            ClassKeys::new(spec),
            options.ttl_seconds,
            options.history.unwrap_or(DEFAULT_HISTORY),
            options.feed_seconds.unwrap_or(DEFAULT_FEED_SECONDS),
        )
    }

    /// A class cached in Redis for another store: newest row and feed only, under the cache's prefix.
    pub fn cached(spec: &TableSpec, prefix: &str, ttl_seconds: Option<u64>) -> Result<ClassLayout> {
        let feed = spec
            .options
            .redis
            .as_ref()
            .and_then(|r| r.feed_seconds)
            .unwrap_or(DEFAULT_FEED_SECONDS);
        ClassLayout::build(
            spec,
            ClassKeys::with_prefix(prefix, &spec.name),
            ttl_seconds,
            0,
            feed,
        )
    }

    fn build(
        spec: &TableSpec,
        keys: ClassKeys,
        ttl_seconds: Option<u64>,
        history: u32,
        feed_seconds: u32,
    ) -> Result<ClassLayout> {
        let time = spec
            .time
            .as_ref()
            .and_then(|t| spec.column_index(&t.column))
            .ok_or_else(|| {
                Error::config(
                    "Redis keeps the newest row per series by time: the class needs a time column",
                )
                .with_class(spec.name.clone())
            })?;
        let series = spec.series_columns();
        if series.is_empty() {
            return Err(Error::config(
                "Redis keeps one row per series: the class needs tags (or a key besides its time column)",
            )
            .with_class(spec.name.clone()));
        }
        let tags = series.iter().filter_map(|c| spec.column_index(c)).collect();
        Ok(ClassLayout {
            keys,
            ttl_ms: ttl_seconds.unwrap_or(0).saturating_mul(1000),
            history: history.min(i32::MAX as u32),
            feed_ms: u64::from(feed_seconds) * 1000,
            tags,
            time,
        })
    }

    /// The series of row `row`.
    pub fn member_of(&self, columns: &[ColumnText<'_>], row: usize) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        self.write_member(columns, row, &mut out, &mut scratch);
        out
    }

    /// Writes the series of row `row` into `out` (cleared first), as [`member`] would, without allocating
    /// per row (`scratch` holds one tag's text).
    pub fn write_member(
        &self,
        columns: &[ColumnText<'_>],
        row: usize,
        out: &mut String,
        scratch: &mut String,
    ) {
        out.clear();
        for (i, &c) in self.tags.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            scratch.clear();
            columns[c].write(row, scratch);
            encode_component(scratch, out);
        }
    }

    /// The members a query names exactly: when every tag column has an `=` / `IN` condition, their
    /// combinations; otherwise `None` (every series must be considered).
    pub fn named_members(&self, query: &Query) -> Option<Vec<String>> {
        let mut per_tag: Vec<Vec<String>> = Vec::with_capacity(self.tags.len());
        for &tag in &self.tags {
            let mut values: Option<Vec<String>> = None;
            for c in conditions_on(query, tag) {
                if !matches!(c.op, Op::Eq | Op::In) {
                    continue;
                }
                let texts: Vec<String> = c.values.iter().map(scalar_text).collect();
                values = Some(match values {
                    // Two conditions on one tag: rows must satisfy both.
                    Some(prev) => prev.into_iter().filter(|v| texts.contains(v)).collect(),
                    None => texts,
                });
            }
            per_tag.push(values?);
        }
        let mut out = vec![Vec::<String>::new()];
        for values in per_tag {
            let mut next = Vec::with_capacity(out.len() * values.len());
            for prefix in &out {
                for v in &values {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    next.push(p);
                }
            }
            out = next;
        }
        let mut members: Vec<String> = out.iter().map(|t| member(t)).collect();
        members.sort();
        members.dedup();
        Some(members)
    }

    /// Whether the query restricts only tags with `=` / `IN` (and no time range): what a whole-series
    /// delete can serve.
    pub fn selects_whole_series(&self, query: &Query) -> bool {
        query.time.is_none()
            && query
                .conditions
                .iter()
                .all(|c| self.tags.contains(&c.column) && matches!(c.op, Op::Eq | Op::In))
    }

    /// Whether `member`'s tag values pass the query's `=` / `IN` tag conditions (members from the index).
    pub fn member_matches(&self, query: &Query, member: &str) -> bool {
        if !query
            .conditions
            .iter()
            .any(|c| self.tags.contains(&c.column))
        {
            return true;
        }
        let Some(texts) = decode_member(member) else {
            return false;
        };
        self.tags.iter().zip(texts.iter()).all(|(&tag, text)| {
            conditions_on(query, tag)
                .filter(|c| matches!(c.op, Op::Eq | Op::In))
                .all(|c| c.values.iter().any(|v| &scalar_text(v) == text))
        })
    }
}

fn conditions_on(query: &Query, column: usize) -> impl Iterator<Item = &Condition> {
    query.conditions.iter().filter(move |c| c.column == column)
}

/// Ticks per millisecond of a time column, for stream ids `<ms>-<sub-ms ticks>`.
fn ticks_per_ms(spec: &TableSpec, time: usize) -> Option<i64> {
    match spec.arrow_schema().field(time).data_type() {
        DataType::Date32 => None,
        _ => Some(match spec.precision() {
            TimePrecision::Ms => 1,
            TimePrecision::Us => 1_000,
            TimePrecision::Ns => 1_000_000,
        }),
    }
}

/// The stream id of a row time: exact and increasing with time, so the stream keeps rows in time order and
/// a repeated row maps to the id it already has.
pub fn stream_id(spec: &TableSpec, time: usize, ticks: i64) -> Option<String> {
    if ticks < 0 {
        return None;
    }
    let (ms, sub) = match ticks_per_ms(spec, time) {
        Some(per) => (ticks / per, ticks % per),
        None => (ticks.checked_mul(86_400_000)?, 0),
    };
    // Built by hand: this runs once per saved row, and `format!` costs more than the rest of it.
    let mut id = String::with_capacity(24);
    push_digits(ms.unsigned_abs(), &mut id);
    id.push('-');
    push_digits(sub.unsigned_abs(), &mut id);
    Some(id)
}

/// Appends the decimal digits of `v`.
fn push_digits(mut v: u64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// The lowest / highest stream id of a time range `[start, end)` in ticks (both inclusive ids for XRANGE).
pub fn id_range(spec: &TableSpec, time: usize, query: &Query) -> (String, String) {
    let Some(t) = &query.time else {
        return ("-".into(), "+".into());
    };
    let low = match t.start {
        Some(s) => stream_id(spec, time, s.max(0)).unwrap_or_else(|| "-".into()),
        None => "-".into(),
    };
    let high = match t.end {
        Some(e) if e <= 0 => "0-0".into(),
        Some(e) => stream_id(spec, time, e - 1).unwrap_or_else(|| "+".into()),
        None => "+".into(),
    };
    (low, high)
}

/// One series of a batch, rows sorted by time.
pub struct SeriesRows {
    pub member: String,
    pub rows: Vec<usize>,
}

/// Groups a batch's rows by series, each in time order (the newest last).
pub fn group(
    layout: &ClassLayout,
    columns: &[ColumnText<'_>],
    batch: &RecordBatch,
) -> Vec<SeriesRows> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<SeriesRows> = Vec::new();
    let (mut m, mut scratch) = (String::new(), String::new());
    for row in 0..batch.num_rows() {
        layout.write_member(columns, row, &mut m, &mut scratch);
        match index.get(m.as_str()) {
            Some(&i) => out[i].rows.push(row),
            None => {
                index.insert(m.clone(), out.len());
                out.push(SeriesRows {
                    member: m.clone(),
                    rows: vec![row],
                });
            }
        }
    }
    let time = &columns[layout.time];
    for s in &mut out {
        s.rows.sort_by_key(|&r| time.ticks(r).unwrap_or(i64::MIN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::push_digits;

    #[test]
    fn digits_are_decimal() {
        for v in [0u64, 7, 10, 1_704_159_000_123, u64::MAX] {
            let mut s = String::from("x");
            push_digits(v, &mut s);
            assert_eq!(s, format!("x{v}"));
        }
    }
}
