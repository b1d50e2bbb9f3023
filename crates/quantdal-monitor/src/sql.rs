//! Engine-neutral SQL plumbing: bound parameters, result cells, and the write plan shared by both sinks
//! (insert records idempotently, then apply alerts and metric totals for the rows actually inserted, so a
//! replayed record changes nothing).

use std::collections::{BTreeMap, HashSet};

use quantdal_core::{Error, Result};

use crate::effects::{self, AlertEvent, MetricDelta};
use crate::record::Record;

/// A bound parameter. Both drivers bind `Option<T>`, so nulls keep their type.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}
impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Float(Some(v))
    }
}
impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(Some(v.to_string()))
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(Some(v))
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Param::Text(v)
    }
}

/// One result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// Typed access to a result row, with errors naming the column index instead of panicking.
pub struct RowRef<'a>(pub &'a [Cell]);

impl RowRef<'_> {
    fn cell(&self, i: usize) -> Result<&Cell> {
        self.0
            .get(i)
            .ok_or_else(|| Error::store(format!("monitoring query: no column {i}")))
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Float(v) => Ok(Some(*v as i64)),
            Cell::Text(t) => t
                .parse()
                .map(Some)
                .map_err(|_| Error::store(format!("monitoring query: column {i} is not a number"))),
        }
    }
    pub fn int(&self, i: usize) -> Result<i64> {
        Ok(self.opt_int(i)?.unwrap_or(0))
    }
    pub fn float(&self, i: usize) -> Result<f64> {
        match self.cell(i)? {
            Cell::Null => Ok(0.0),
            Cell::Int(v) => Ok(*v as f64),
            Cell::Float(v) => Ok(*v),
            Cell::Text(t) => t
                .parse()
                .map_err(|_| Error::store(format!("monitoring query: column {i} is not a number"))),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t.clone())),
            Cell::Int(v) => Ok(Some(v.to_string())),
            Cell::Float(v) => Ok(Some(v.to_string())),
        }
    }
    pub fn text(&self, i: usize) -> Result<String> {
        Ok(self.opt_text(i)?.unwrap_or_default())
    }
    pub fn parsed<T>(&self, i: usize, parse: fn(&str) -> Option<T>) -> Result<T> {
        let t = self.text(i)?;
        parse(&t).ok_or_else(|| Error::store(format!("monitoring query: unexpected value `{t}`")))
    }
}

/// A statement with `$1…$n` placeholders (SQLite reads these as numbered parameters too).
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Param>,
}

/// Which table an insert went to: ids are unique per table, not across tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Operations,
    SlowQueries,
    QualityChecks,
    Rejects,
}

impl Table {
    fn of(record: &Record) -> Table {
        match record {
            Record::Operation(_) => Table::Operations,
            Record::Slow(_) => Table::SlowQueries,
            Record::Quality(_) => Table::QualityChecks,
            Record::Reject(_) => Table::Rejects,
        }
    }
    fn header(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Table::Operations => ("operations", "id", "id, start_us, operation, class, store, kind, table_name, row_count, byte_count, status, error_kind, error_message, duration_us, application, host, pid"),
            Table::SlowQueries => ("slow_queries", "op_id", "op_id, start_us, class, store, operation, statement, parameters, row_count, duration_us, level"),
            Table::QualityChecks => ("quality_checks", "id", "id, time_us, class, check_name, status, row_count, bad_rows, measured, threshold, duration_us, op_id"),
            Table::Rejects => ("rejects", "id", "id, time_us, op_id, class, reason, row_index, row_json"),
        }
    }
}

fn values(record: &Record) -> Vec<Param> {
    match record {
        Record::Operation(r) => vec![
            r.id.as_str().into(),
            r.start_us.into(),
            r.operation.as_str().into(),
            r.class.as_str().into(),
            r.store.as_str().into(),
            r.kind.as_str().into(),
            r.table.as_str().into(),
            r.rows.into(),
            r.bytes.into(),
            r.status.as_str().into(),
            r.error_kind.clone().into(),
            r.error_message.clone().into(),
            r.duration_us.into(),
            r.application.as_str().into(),
            r.host.as_str().into(),
            r.pid.into(),
        ],
        Record::Slow(r) => vec![
            r.op_id.as_str().into(),
            r.start_us.into(),
            r.class.as_str().into(),
            r.store.as_str().into(),
            r.operation.as_str().into(),
            r.statement.as_str().into(),
            r.parameters.into(),
            r.rows.into(),
            r.duration_us.into(),
            r.level.as_str().into(),
        ],
        Record::Quality(r) => vec![
            r.id.as_str().into(),
            r.time_us.into(),
            r.class.as_str().into(),
            r.check.as_str().into(),
            r.status.as_str().into(),
            r.rows.into(),
            r.bad_rows.into(),
            r.measured.as_str().into(),
            r.threshold.as_str().into(),
            r.duration_us.into(),
            r.op_id.clone().into(),
        ],
        Record::Reject(r) => vec![
            r.id.as_str().into(),
            r.time_us.into(),
            r.op_id.as_str().into(),
            r.class.as_str().into(),
            r.reason.as_str().into(),
            r.row_index.into(),
            r.row.as_str().into(),
        ],
    }
}

/// Rows per multi-row statement: well under SQLite's 32766 and PostgreSQL's 65535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// `(placeholders for rows × width starting at $1)`.
fn placeholders(rows: usize, width: usize) -> String {
    let mut s = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * width + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// Multi-row inserts that skip ids already present and return the ids they did insert.
pub fn insert_statements(records: &[Record]) -> Vec<(Table, Stmt)> {
    let mut by_table: BTreeMap<u8, (Table, Vec<&Record>)> = BTreeMap::new();
    for r in records {
        let t = Table::of(r);
        by_table.entry(t as u8).or_insert((t, Vec::new())).1.push(r);
    }
    let mut out = Vec::new();
    for (_, (table, rows)) in by_table {
        let (name, key, columns) = table.header();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let params: Vec<Param> = chunk.iter().flat_map(|r| values(r)).collect();
            let width = params.len() / chunk.len();
            let sql = format!(
                "INSERT INTO {name} ({columns}) VALUES {} ON CONFLICT ({key}) DO NOTHING RETURNING {key}",
                placeholders(chunk.len(), width)
            );
            out.push((table, Stmt { sql, params }));
        }
    }
    out
}

/// The records whose ids the inserts returned.
pub fn inserted<'a>(records: &'a [Record], ids: &HashSet<(Table, String)>) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| ids.contains(&(Table::of(r), r.id().to_string())))
        .collect()
}

/// Alert upserts and metric increments for newly inserted records, plus `extra` metric deltas.
pub fn effect_statements(inserted: &[&Record], extra: &[MetricDelta]) -> Vec<Stmt> {
    let (alerts, mut metrics) = effects::derive(inserted);
    metrics.extend(extra.iter().cloned());
    let metrics = effects::merge_metrics(metrics);
    let mut out = Vec::new();
    for chunk in alerts.chunks(ROWS_PER_STATEMENT) {
        out.push(alert_upsert(chunk));
    }
    for chunk in metrics.chunks(ROWS_PER_STATEMENT) {
        let params = chunk
            .iter()
            .flat_map(|m| {
                [
                    Param::from(m.metric.as_str()),
                    m.labels.as_str().into(),
                    m.value.into(),
                ]
            })
            .collect();
        out.push(Stmt {
            sql: format!(
                "INSERT INTO metric_totals (metric, labels, value) VALUES {} \
                 ON CONFLICT (metric, labels) DO UPDATE SET value = metric_totals.value + excluded.value",
                placeholders(chunk.len(), 3)
            ),
            params,
        });
    }
    out
}

fn alert_upsert(alerts: &[AlertEvent]) -> Stmt {
    let params = alerts
        .iter()
        .flat_map(|a| {
            [
                Param::from(a.dedup_key.as_str()),
                a.level.as_str().into(),
                a.class.clone().into(),
                a.store.clone().into(),
                a.first_seen_us.into(),
                a.last_seen_us.into(),
                a.occurrences.into(),
                (if a.resolved { "resolved" } else { "open" }).into(),
                a.message.as_str().into(),
            ]
        })
        .collect();
    // A repeat updates the one row: count, last seen, latest message; a resolved alert that recurs reopens;
    // an event saying the condition ended (a drained spool) resolves it.
    let sql = format!(
        "INSERT INTO alerts (dedup_key, level, class, store, first_seen_us, last_seen_us, occurrences, status, message) \
         VALUES {} ON CONFLICT (dedup_key) DO UPDATE SET \
         occurrences = alerts.occurrences + excluded.occurrences, \
         last_seen_us = CASE WHEN excluded.last_seen_us > alerts.last_seen_us THEN excluded.last_seen_us ELSE alerts.last_seen_us END, \
         message = excluded.message, \
         level = CASE WHEN excluded.level = 'critical' THEN 'critical' ELSE alerts.level END, \
         status = CASE WHEN excluded.status = 'resolved' THEN 'resolved' \
                       WHEN alerts.status = 'resolved' THEN 'open' ELSE alerts.status END",
        placeholders(alerts.len(), 9)
    );
    Stmt { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(2, 2), "($1, $2), ($3, $4)");
    }
}
