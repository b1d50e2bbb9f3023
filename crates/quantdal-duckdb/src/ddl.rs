//! Spec → DuckDB DDL. Identifiers come only from the validated spec and are quoted anyway.

use quantdal_core::spec::DefaultValue;
use quantdal_core::versions;
use quantdal_core::{NeutralType, TableSpec, TimePrecision};

pub use quantdal_core::sqlgen::{quote, quote_list};

/// String literal for spec-provided text (comments, defaults): never caller data.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The DuckDB type of a column. VARCHAR(n) lengths and JSON validity are enforced by batch validation:
/// DuckDB ignores VARCHAR lengths, and the JSON type needs an extension this build does not bundle.
pub fn column_type(ty: NeutralType, precision: TimePrecision) -> String {
    match ty {
        NeutralType::Timestamp => match precision {
            TimePrecision::Ms => "TIMESTAMP_MS".into(),
            TimePrecision::Us => "TIMESTAMP".into(),
            TimePrecision::Ns => "TIMESTAMP_NS".into(),
        },
        NeutralType::Date => "DATE".into(),
        NeutralType::Bool => "BOOLEAN".into(),
        NeutralType::Int => "INTEGER".into(),
        NeutralType::BigInt => "BIGINT".into(),
        NeutralType::Float => "FLOAT".into(),
        NeutralType::Double => "DOUBLE".into(),
        NeutralType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
        NeutralType::Varchar { .. } | NeutralType::Text | NeutralType::Json => "VARCHAR".into(),
    }
}

fn default_literal(d: &DefaultValue) -> String {
    match d {
        DefaultValue::Bool(b) => b.to_string().to_uppercase(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Float(f) => format!("{f:?}"),
        DefaultValue::Text(s) => literal(s),
    }
}

/// `ALTER TABLE … ADD COLUMN` for a column the live table lacks (nullable or defaulted only).
pub fn add_column(spec: &TableSpec, c: &quantdal_core::ColumnSpec) -> String {
    let mut line = format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        quote(&spec.table),
        quote(&c.name),
        column_type(c.data_type, spec.precision())
    );
    if let Some(d) = &c.default {
        line.push_str(" DEFAULT ");
        line.push_str(&default_literal(d));
    }
    line
}

/// How a class's rows are kept unique on the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No key: saves append.
    Plain,
    /// A PRIMARY KEY (its ART index) and `INSERT … ON CONFLICT DO UPDATE`: classes whose key does not hold
    /// the time column (reference, transaction, meta), and every keyed table of files made before the series
    /// layout existed.
    Indexed,
    /// No index: a save deletes the rows holding its keys, restricted to the batch's time range (zone maps
    /// skip every row group outside it), then inserts, in one transaction. For classes whose key holds the
    /// time column; the ART index cost ~62 bytes/row on ticks, 4x the data itself (docs/architecture.md).
    Series,
}

/// The layout a new table of `spec` gets.
pub fn layout(spec: &TableSpec) -> Layout {
    match &spec.time {
        _ if spec.key.is_empty() => Layout::Plain,
        // Revisions are only appended, and the versioned save path (versioned.rs) keeps (key…, _known_at)
        // unique under the table's write lock: an index would cost space and buy nothing.
        _ if spec.versions.is_some() => Layout::Series,
        Some(t) if spec.key.iter().any(|k| k == &t.column) => Layout::Series,
        _ => Layout::Indexed,
    }
}

/// Every statement that provisions `spec`, in order; each is idempotent.
pub fn create_statements(spec: &TableSpec) -> Vec<String> {
    let table = quote(&spec.table);
    let mut lines: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let mut line = format!(
                "    {} {}",
                quote(&c.name),
                column_type(c.data_type, spec.precision())
            );
            if !c.nullable {
                line.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                line.push_str(" DEFAULT ");
                line.push_str(&default_literal(d));
            }
            line
        })
        .collect();
    if spec.versions.is_some() {
        lines.extend(
            versions::revision_columns(column_type(NeutralType::Timestamp, spec.precision()))
                .map(|(name, ty)| format!("    {name} {ty}")),
        );
    }
    if layout(spec) == Layout::Indexed {
        lines.push(format!("    PRIMARY KEY ({})", quote_list(&spec.key)));
    }
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n{}\n)",
        lines.join(",\n")
    )];
    for idx in &spec.indexes {
        out.push(format!(
            "CREATE {}INDEX IF NOT EXISTS {} ON {table} ({})",
            if idx.unique { "UNIQUE " } else { "" },
            quote(&idx.name),
            quote_list(&idx.columns)
        ));
    }
    if !spec.description.is_empty() {
        out.push(format!(
            "COMMENT ON TABLE {table} IS {}",
            literal(&spec.description)
        ));
    }
    for c in &spec.columns {
        if let Some(comment) = &c.comment {
            out.push(format!(
                "COMMENT ON COLUMN {table}.{} IS {}",
                quote(&c.name),
                literal(comment)
            ));
        }
    }
    out
}
