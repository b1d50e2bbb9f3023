//! Point-in-time data: the storage model of versioned classes and the SQL the relational stores share.
//!
//! A versioned class's table holds every revision of each key: the class's columns plus [`KNOWN_AT_COLUMN`]
//! (when the revision became known: the save's commit time, or the class's `versions.known_at` column) and
//! [`DELETED_COLUMN`] (a tombstone), with the primary key (class key…, `_known_at`). Every read goes through
//! the *as-of state*: per key, the newest revision with `_known_at <= t` (no bound: the newest), dropped when
//! it is a tombstone. The stores build their ordinary SELECT / latest / kline statements and this module puts
//! the as-of state in place of the table ([`wrap`]), so the filters, order and bars apply to the rows as they
//! were known, exactly as they apply to a plain table. See docs/versions.md.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::admin::SqlDialect;
use crate::error::{Error, Result};
use crate::load::Query;
use crate::spec::{ColumnSpec, TableSpec};
use crate::sqlgen::{self, quote, Binder};

pub use crate::spec::{DELETED_COLUMN, KNOWN_AT_COLUMN};

/// Name of the as-of state in the statements [`wrap`] returns.
pub const AS_OF_RELATION: &str = "_asof";

/// A [`Binder`] that also binds values no class column describes: a knowledge time (a TIMESTAMP at the class
/// precision), a float and an integer. The SQL stores implement it next to their own binder.
pub trait ParamBinder: Binder {
    fn bind_stamp(&mut self, spec: &TableSpec, ticks: i64) -> String;
    fn bind_f64(&mut self, value: f64) -> String;
    fn bind_i64(&mut self, value: i64) -> String;
}

/// The primary key of a versioned table: the class key, then the knowledge time.
pub fn storage_key(spec: &TableSpec) -> Vec<String> {
    let mut key = spec.key.clone();
    if spec.versions.is_some() {
        key.push(KNOWN_AT_COLUMN.to_string());
    }
    key
}

/// The columns a versioned table holds besides the class's (quoted name, type with constraints), given the
/// store's type for a timestamp at the class precision. The primary key (class key + `_known_at`) keeps one
/// key's revisions together.
pub fn revision_columns(timestamp_type: String) -> [(String, String); 2] {
    [
        (quote(KNOWN_AT_COLUMN), format!("{timestamp_type} NOT NULL")),
        (
            quote(DELETED_COLUMN),
            "BOOLEAN NOT NULL DEFAULT FALSE".into(),
        ),
    ]
}

/// Whether `name` is one of the store's own revision columns of this (versioned) class.
pub fn is_revision_column(spec: &TableSpec, name: &str) -> bool {
    spec.versions.is_some() && (name == KNOWN_AT_COLUMN || name == DELETED_COLUMN)
}

/// The value columns a save compares with the revision in force: everything but the key (and tags), and
/// the knowledge column, which says when a value became known rather than what it is.
pub fn compared_columns(spec: &TableSpec) -> Vec<&ColumnSpec> {
    let known = spec.versions.as_ref().and_then(|v| v.known_at.as_deref());
    spec.columns
        .iter()
        .filter(|c| {
            !spec.is_key(&c.name) && !spec.is_tag(&c.name) && Some(c.name.as_str()) != known
        })
        .collect()
}

/// The schema `history` returns: the projected class columns, then `_known_at` (UTC, class precision) and
/// `_deleted`.
pub fn history_schema(spec: &TableSpec, columns: &[usize]) -> SchemaRef {
    let full = spec.arrow_schema();
    let mut fields: Vec<Field> = columns.iter().map(|&i| full.field(i).clone()).collect();
    fields.push(Field::new(
        KNOWN_AT_COLUMN,
        DataType::Timestamp(spec.precision().unit(), Some("UTC".into())),
        false,
    ));
    fields.push(Field::new(DELETED_COLUMN, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// The knowledge time of the next save: now (class ticks), but always after every stamp already held, so
/// one save is one revision newer than all before it even when the clock stepped back or two saves fall in
/// the same tick.
pub fn next_stamp(now_ticks: i64, newest_held: Option<i64>) -> i64 {
    match newest_held {
        Some(held) if held >= now_ticks => held.saturating_add(1),
        _ => now_ticks,
    }
}

/// The knowledge time of a save stamped with its commit time: the clock now, floored to the class precision,
/// moved past `newest_held` by [`next_stamp`]. Stores call it while holding the table's write lock.
pub fn commit_stamp(spec: &TableSpec, newest_held: Option<i64>) -> i64 {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    next_stamp(
        now.div_euclid(spec.precision().nanos_per_tick()),
        newest_held,
    )
}

/// The conditions safe to apply before the revision is picked: on key columns (every revision of a key
/// has the same value there), and the time range when the time column is part of the key. Other predicates
/// must see the picked revision, or an older revision matching them would be read instead.
fn pushdown(spec: &TableSpec, query: &Query) -> Query {
    let in_key = |column: usize| spec.is_key(&spec.columns[column].name);
    Query {
        columns: query.columns.clone(),
        time: query.time.clone().filter(|t| in_key(t.column)),
        conditions: query
            .conditions
            .iter()
            .filter(|c| in_key(c.column))
            .cloned()
            .collect(),
        order: query.order,
        limit: None,
        as_of: query.as_of,
    }
}

fn column_list(spec: &TableSpec, qualifier: Option<&str>) -> String {
    spec.columns
        .iter()
        .map(|c| match qualifier {
            Some(q) => format!("{q}.{}", quote(&c.name)),
            None => quote(&c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"_asof" AS (…)`: the class's rows as known at `query.as_of` (or now), key conditions and a keyed time
/// range applied early. `relation` is the table as the store names it.
pub fn as_of_cte(
    spec: &TableSpec,
    relation: &str,
    query: &Query,
    dialect: SqlDialect,
    binder: &mut impl ParamBinder,
) -> String {
    let pushed = pushdown(spec, query);
    let mut filter = sqlgen::where_clause(spec, &pushed, binder);
    if let Some(t) = query.as_of {
        let stamp = binder.bind_stamp(spec, t);
        let joiner = if filter.is_empty() {
            " WHERE "
        } else {
            " AND "
        };
        filter.push_str(&format!("{joiner}{} <= {stamp}", quote(KNOWN_AT_COLUMN)));
    }
    let key = sqlgen::quote_list(&spec.key);
    let columns = column_list(spec, None);
    let known = quote(KNOWN_AT_COLUMN);
    let deleted = quote(DELETED_COLUMN);
    let body = match dialect {
        // DISTINCT ON reads the newest revision per key straight off the (key…, _known_at) primary key.
        SqlDialect::Postgres => format!(
            "SELECT {columns} FROM (SELECT DISTINCT ON ({key}) * FROM {relation}{filter} ORDER BY {key}, {known} DESC) \
             AS \"_rev\" WHERE NOT {deleted}"
        ),
        // QUALIFY runs after the window: a key whose newest revision is a tombstone has no row left.
        _ => format!(
            "SELECT {columns} FROM {relation}{filter} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {known} DESC) = 1 \
             AND NOT {deleted}"
        ),
    };
    format!("{} AS ({body})", quote(AS_OF_RELATION))
}

/// `WITH <cte> <statement>` with the statement's one ` FROM <relation>` reading the as-of state instead of
/// the table. The statement must name the table exactly once, as the stores' generators do.
pub fn wrap(relation: &str, statement: &str, cte: &str) -> Result<String> {
    let from = format!(" FROM {relation}");
    let found = statement.matches(&from).count();
    if found != 1 {
        return Err(Error::store(format!(
            "cannot read the as-of state: the statement names {relation} {found} times"
        )));
    }
    Ok(format!(
        "WITH {cte} {}",
        statement.replacen(&from, &format!(" FROM {}", quote(AS_OF_RELATION)), 1)
    ))
}

/// How a save's rows get their knowledge time: one bound stamp for the whole save, or the class's column.
fn stamp_expr(
    spec: &TableSpec,
    batch_alias: &str,
    stamp: Option<i64>,
    binder: &mut impl ParamBinder,
) -> String {
    match spec.versions.as_ref().and_then(|v| v.known_at.as_deref()) {
        Some(column) => format!("{batch_alias}.{}", quote(column)),
        None => binder.bind_stamp(spec, stamp.unwrap_or_default()),
    }
}

fn same_key(spec: &TableSpec, a: &str, b: &str) -> String {
    spec.key
        .iter()
        .map(|k| format!("{a}.{0} = {b}.{0}", quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `(a.v1 IS DISTINCT FROM b.v1 OR …)` over the compared columns; `FALSE` when there are none.
fn values_differ(spec: &TableSpec, a: &str, b: &str) -> String {
    let parts: Vec<String> = compared_columns(spec)
        .iter()
        .map(|c| format!("{a}.{0} IS DISTINCT FROM {b}.{0}", quote(&c.name)))
        .collect();
    if parts.is_empty() {
        "FALSE".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

/// A class with its own knowledge column may save a revision at a knowledge time the table already holds for
/// the key: the new values replace that revision (last write wins, as for any key). This removes the held
/// revisions that differ, so [`insert_revisions`] then compares with the revision before them. `None` for
/// classes stamped with the commit time, whose stamps are always new.
pub fn delete_replaced(spec: &TableSpec, relation: &str, batch: &str) -> Option<String> {
    let column = spec.versions.as_ref()?.known_at.as_deref()?;
    let (cur, new) = ("\"_cur\"", "\"_new\"");
    Some(format!(
        "DELETE FROM {relation} AS {cur} USING {batch} AS {new} WHERE {} AND {cur}.{} = {new}.{} AND ({} OR {cur}.{})",
        same_key(spec, cur, new),
        quote(KNOWN_AT_COLUMN),
        quote(column),
        values_differ(spec, cur, new),
        quote(DELETED_COLUMN)
    ))
}

/// Inserts a revision for each row of `batch` (a relation with the class's columns) unless the revision in
/// force at its knowledge time — the key's newest with `_known_at` at or before it — is live and holds the
/// same values: re-saving what is known adds nothing. `stamp` is the save's knowledge time for classes
/// stamped with the commit time.
pub fn insert_revisions(
    spec: &TableSpec,
    relation: &str,
    batch: &str,
    stamp: Option<i64>,
    binder: &mut impl ParamBinder,
) -> String {
    let (new, cur, newest) = ("\"_new\"", "\"_cur\"", "\"_m\"");
    let known = quote(KNOWN_AT_COLUMN);
    let select_stamp = stamp_expr(spec, new, stamp, binder);
    let bound_stamp = stamp_expr(spec, new, stamp, binder);
    format!(
        "INSERT INTO {relation} ({}, {known}, {}) SELECT {}, {select_stamp}, FALSE FROM {batch} AS {new} \
         WHERE NOT EXISTS (SELECT 1 FROM {relation} AS {cur} WHERE {} AND {cur}.{known} = \
         (SELECT max({newest}.{known}) FROM {relation} AS {newest} WHERE {} AND {newest}.{known} <= {bound_stamp}) \
         AND NOT {cur}.{} AND NOT {})",
        column_list(spec, None),
        quote(DELETED_COLUMN),
        column_list(spec, Some(new)),
        same_key(spec, cur, new),
        same_key(spec, newest, new),
        quote(DELETED_COLUMN),
        values_differ(spec, cur, new)
    )
}

/// What a delete of a versioned class marks: every column of the keys `query` selects in the state as known
/// now (a delete never applies to a past state), in no order and without a limit.
pub fn tombstone_selection(spec: &TableSpec, query: &Query) -> Query {
    Query {
        columns: (0..spec.columns.len()).collect(),
        order: crate::load::Order::Unordered,
        limit: None,
        as_of: None,
        ..query.clone()
    }
}

/// `INSERT … SELECT` of a tombstone (the deleted revision's values, `_deleted` true) stamped `stamp` for
/// every row `select` returns; `select` is the store's SELECT of every class column, already reading the
/// current as-of state and filtered as the delete asks.
pub fn insert_tombstones(
    spec: &TableSpec,
    relation: &str,
    stamp_placeholder: &str,
    select: &str,
) -> String {
    format!(
        "INSERT INTO {relation} ({}, {}, {}) SELECT {}, {stamp_placeholder}, TRUE FROM ({select}) AS \"_gone\"",
        column_list(spec, None),
        quote(KNOWN_AT_COLUMN),
        quote(DELETED_COLUMN),
        column_list(spec, Some("\"_gone\""))
    )
}

/// Every revision of the keys `query` selects (its range and predicates apply to each revision; `as_of`
/// keeps the revisions known by then), with `_known_at` and `_deleted`, in key order then knowledge order.
pub fn history(
    spec: &TableSpec,
    relation: &str,
    query: &Query,
    binder: &mut impl ParamBinder,
) -> String {
    let without_as_of = Query {
        as_of: None,
        ..query.clone()
    };
    let mut filter = sqlgen::where_clause(spec, &without_as_of, binder);
    if let Some(t) = query.as_of {
        let stamp = binder.bind_stamp(spec, t);
        let joiner = if filter.is_empty() {
            " WHERE "
        } else {
            " AND "
        };
        filter.push_str(&format!("{joiner}{} <= {stamp}", quote(KNOWN_AT_COLUMN)));
    }
    let mut order_columns = sqlgen::order_columns(spec);
    for k in &spec.key {
        if !order_columns.contains(k) {
            order_columns.push(k.clone());
        }
    }
    order_columns.push(KNOWN_AT_COLUMN.to_string());
    let order = sqlgen::order_by(&order_columns, query.order);
    let limit = match query.limit {
        Some(n) => format!(
            " LIMIT {}",
            binder.bind_i64(i64::try_from(n).unwrap_or(i64::MAX))
        ),
        None => String::new(),
    };
    format!(
        "SELECT {}, {}, {} FROM {relation}{filter}{order}{limit}",
        sqlgen::projection(spec, query),
        quote(KNOWN_AT_COLUMN),
        quote(DELETED_COLUMN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_only_move_forward() {
        assert_eq!(next_stamp(100, None), 100);
        assert_eq!(next_stamp(100, Some(50)), 100);
        assert_eq!(next_stamp(100, Some(100)), 101);
        assert_eq!(next_stamp(100, Some(170)), 171);
    }

    #[test]
    fn wrap_replaces_the_one_table_reference() {
        let cte = "\"_asof\" AS (SELECT 1)";
        assert_eq!(
            wrap("\"t\"", "SELECT \"a\" FROM \"t\" WHERE \"a\" = ?", cte).unwrap(),
            "WITH \"_asof\" AS (SELECT 1) SELECT \"a\" FROM \"_asof\" WHERE \"a\" = ?"
        );
        assert!(wrap("\"t\"", "SELECT 1", cte).is_err());
    }
}
