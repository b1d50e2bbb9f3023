//! The class schema `provision` records in Redis (`<prefix>:{<class>}:schema`), so a later `provision
//! --check` can say when the rows held were written under another spec.

use quantdal_core::TableSpec;
use serde_json::{json, Value};

/// The record of a spec: what decides how rows are encoded and keyed.
pub fn record(spec: &TableSpec) -> Value {
    json!({
        "format": 1,
        "class": spec.name,
        "time": spec.time.as_ref().map(|t| t.column.clone()),
        "precision": spec.precision().as_str(),
        "tags": spec.series_columns(),
        "columns": spec.columns.iter().map(|c| json!({
            "name": c.name,
            "type": c.data_type.to_string(),
            "nullable": c.nullable,
        })).collect::<Vec<_>>(),
    })
}

/// What differs between the recorded schema and the spec, one line each; empty when they agree.
pub fn differences(recorded: &Value, spec: &TableSpec) -> Vec<String> {
    let want = record(spec);
    let mut out = Vec::new();
    for field in ["time", "precision", "tags"] {
        if recorded.get(field) != want.get(field) {
            out.push(format!(
                "{field} is {} in Redis, {} in the spec",
                recorded.get(field).unwrap_or(&Value::Null),
                want.get(field).unwrap_or(&Value::Null)
            ));
        }
    }
    let columns = |v: &Value| -> Vec<(String, String, bool)> {
        v.get("columns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| {
                        (
                            c.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            c.get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            c.get("nullable").and_then(Value::as_bool).unwrap_or(true),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let held = columns(recorded);
    let wanted = columns(&want);
    for (name, ty, nullable) in &wanted {
        match held.iter().find(|(n, _, _)| n == name) {
            None => out.push(format!("column {name} is not in the schema Redis holds")),
            Some((_, t, _)) if t != ty => {
                out.push(format!("column {name} is {t} in Redis, {ty} in the spec"))
            }
            Some((_, _, n)) if n != nullable => out.push(format!(
                "column {name} is {} in Redis, {} in the spec",
                if *n { "nullable" } else { "NOT NULL" },
                if *nullable { "nullable" } else { "NOT NULL" }
            )),
            _ => {}
        }
    }
    for (name, _, _) in &held {
        if !wanted.iter().any(|(n, _, _)| n == name) {
            out.push(format!("column {name} is in Redis but not in the spec"));
        }
    }
    out
}

/// Whether the differences are ones a migration may apply: only new nullable columns, or NOT NULL relaxed.
pub fn additive(recorded: &Value, spec: &TableSpec) -> bool {
    let want = record(spec);
    if ["time", "precision", "tags"]
        .iter()
        .any(|f| recorded.get(*f) != want.get(*f))
    {
        return false;
    }
    let empty = Vec::new();
    let held = recorded
        .get("columns")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let wanted = want
        .get("columns")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    held.iter().all(|h| {
        let name = h.get("name");
        match wanted.iter().find(|w| w.get("name") == name) {
            None => false,
            Some(w) => {
                w.get("type") == h.get("type")
                    && (w.get("nullable") == h.get("nullable")
                        || w.get("nullable") == Some(&Value::Bool(true)))
            }
        }
    }) && wanted.iter().all(|w| {
        held.iter().any(|h| h.get("name") == w.get("name"))
            || w.get("nullable") == Some(&Value::Bool(true))
    })
}
