//! The dialect-neutral part of the SQL the server stores generate from a resolved [`Query`]: quoting, the
//! WHERE clause, the natural row order and the projection. Each store supplies a [`Binder`] that turns a value
//! into its own placeholder and keeps the parameter, so no value is ever written into the text.

use crate::load::{Condition, Op, Order, Query, Scalar};
use crate::spec::TableSpec;
use crate::types::NeutralType;

/// `"ident"`, with embedded quotes doubled (identifiers come from the validated spec; quoting is a second
/// guard and keeps keywords such as `open` or `level` usable as column names).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `"a", "b", …`
pub fn quote_list<'a>(idents: impl IntoIterator<Item = &'a String>) -> String {
    idents
        .into_iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns a value for `column` into a placeholder, keeping the value as a parameter.
pub trait Binder {
    fn bind(&mut self, spec: &TableSpec, column: usize, value: &Scalar) -> String;
}

fn condition_sql(spec: &TableSpec, c: &Condition, binder: &mut dyn Binder) -> String {
    let column = quote(&spec.columns[c.column].name);
    match c.op {
        Op::IsNull | Op::IsNotNull => format!("{column} {}", c.op.sql()),
        Op::In => {
            let list: Vec<String> = c
                .values
                .iter()
                .map(|v| binder.bind(spec, c.column, v))
                .collect();
            format!("{column} IN ({})", list.join(", "))
        }
        Op::Between => {
            let low = binder.bind(spec, c.column, &c.values[0]);
            let high = binder.bind(spec, c.column, &c.values[1]);
            format!("{column} BETWEEN {low} AND {high}")
        }
        op => {
            let v = binder.bind(spec, c.column, &c.values[0]);
            format!("{column} {} {v}", op.sql())
        }
    }
}

/// ` WHERE …` (or nothing) for the time bounds and conditions of `query`.
pub fn where_clause(spec: &TableSpec, query: &Query, binder: &mut dyn Binder) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &query.time {
        let is_date = spec.columns[t.column].data_type == NeutralType::Date;
        let bound = |ticks: i64| {
            if is_date {
                Scalar::Date(i32::try_from(ticks).unwrap_or(if ticks < 0 {
                    i32::MIN
                } else {
                    i32::MAX
                }))
            } else {
                Scalar::Timestamp(ticks)
            }
        };
        let column = quote(&spec.columns[t.column].name);
        if let Some(s) = t.start {
            let p = binder.bind(spec, t.column, &bound(s));
            parts.push(format!("{column} >= {p}"));
        }
        if let Some(e) = t.end {
            let p = binder.bind(spec, t.column, &bound(e));
            parts.push(format!("{column} < {p}"));
        }
    }
    for c in &query.conditions {
        parts.push(condition_sql(spec, c, binder));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    }
}

/// Series columns then time (or the key when there is no time column): the natural row order.
pub fn order_columns(spec: &TableSpec) -> Vec<String> {
    match &spec.time {
        Some(t) => {
            let mut cols: Vec<String> = spec
                .series_columns()
                .into_iter()
                .map(String::from)
                .collect();
            cols.push(t.column.clone());
            cols
        }
        None => spec.key.clone(),
    }
}

/// ` ORDER BY …` over `columns`, all in `order`'s direction (nothing when unordered).
pub fn order_by(columns: &[String], order: Order) -> String {
    let dir = match order {
        Order::Asc => "",
        Order::Desc => " DESC",
        Order::Unordered => return String::new(),
    };
    if columns.is_empty() {
        return String::new();
    }
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("{}{dir}", quote(c)))
        .collect();
    format!(" ORDER BY {}", list.join(", "))
}

/// The selected columns, quoted, in query order.
pub fn projection(spec: &TableSpec, query: &Query) -> String {
    query
        .columns
        .iter()
        .map(|&i| quote(&spec.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ")
}
