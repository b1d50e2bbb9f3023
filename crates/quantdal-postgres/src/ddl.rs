//! Spec → PostgreSQL DDL, with the TimescaleDB statements when the extension is in use. Identifiers come only
//! from the validated spec and are quoted anyway; intervals come from the YAML and are checked here.

use quantdal_core::spec::DefaultValue;
use quantdal_core::versions::{self, storage_key, KNOWN_AT_COLUMN};
use quantdal_core::{Error, NeutralType, Result, TableSpec, TimePrecision};

pub use quantdal_core::sqlgen::{quote, quote_list};

/// String literal for spec-provided text (comments, defaults): never caller data.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `schema.table`, quoted.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote(schema), quote(table))
}

/// The PostgreSQL type of a column, spelled as `CREATE TABLE` takes it.
pub fn column_type(ty: NeutralType, precision: TimePrecision) -> String {
    match ty {
        NeutralType::Timestamp => match precision {
            TimePrecision::Ms => "TIMESTAMPTZ(3)".into(),
            // Nanosecond classes are refused for PostgreSQL when the config is checked.
            TimePrecision::Us | TimePrecision::Ns => "TIMESTAMPTZ".into(),
        },
        NeutralType::Date => "DATE".into(),
        NeutralType::Bool => "BOOLEAN".into(),
        NeutralType::Int => "INTEGER".into(),
        NeutralType::BigInt => "BIGINT".into(),
        NeutralType::Float => "REAL".into(),
        NeutralType::Double => "DOUBLE PRECISION".into(),
        NeutralType::Decimal { precision, scale } => format!("NUMERIC({precision},{scale})"),
        NeutralType::Varchar { length } => format!("VARCHAR({length})"),
        NeutralType::Text => "TEXT".into(),
        NeutralType::Json => "JSONB".into(),
    }
}

/// The same type as the catalog's `format_type()` reports it, for drift checks.
pub fn catalog_type(ty: NeutralType, precision: TimePrecision) -> String {
    match ty {
        NeutralType::Timestamp => match precision {
            TimePrecision::Ms => "timestamp(3) with time zone".into(),
            TimePrecision::Us | TimePrecision::Ns => "timestamp with time zone".into(),
        },
        NeutralType::Date => "date".into(),
        NeutralType::Bool => "boolean".into(),
        NeutralType::Int => "integer".into(),
        NeutralType::BigInt => "bigint".into(),
        NeutralType::Float => "real".into(),
        NeutralType::Double => "double precision".into(),
        NeutralType::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
        NeutralType::Varchar { length } => format!("character varying({length})"),
        NeutralType::Text => "text".into(),
        NeutralType::Json => "jsonb".into(),
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

/// One column's definition inside `CREATE TABLE` / `ADD COLUMN`.
pub fn column_definition(spec: &TableSpec, column: &quantdal_core::ColumnSpec) -> String {
    let mut line = format!(
        "{} {}",
        quote(&column.name),
        column_type(column.data_type, spec.precision())
    );
    if !column.nullable {
        line.push_str(" NOT NULL");
    }
    if let Some(d) = &column.default {
        line.push_str(" DEFAULT ");
        line.push_str(&default_literal(d));
    }
    line
}

/// The name `provision` gives the time column's BRIN index on plain PostgreSQL.
pub fn brin_index_name(spec: &TableSpec) -> Option<String> {
    spec.time
        .as_ref()
        .map(|t| truncate_ident(&format!("{}_{}_brin", spec.table, t.column)))
}

/// PostgreSQL cuts identifiers at 63 bytes; cut on a char boundary ourselves so names stay predictable.
fn truncate_ident(name: &str) -> String {
    ident_prefix(name, 63).to_string()
}

/// At most `max_bytes` of `name`, cut on a char boundary.
pub fn ident_prefix(name: &str, max_bytes: usize) -> &str {
    let mut end = name.len().min(max_bytes);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The index on `_known_at` of a versioned table: a save reads the newest stamp from it.
pub fn known_at_index_name(spec: &TableSpec) -> Option<String> {
    spec.versions
        .as_ref()
        .map(|_| truncate_ident(&format!("{}{KNOWN_AT_COLUMN}_idx", spec.table)))
}

/// Schema, table, indexes and comments: everything but the TimescaleDB part. Each statement is idempotent.
/// `partitioned`: the table is made a range-partitioned parent on time (crate::partitions).
pub fn table_statements(
    spec: &TableSpec,
    schema: &str,
    brin: bool,
    partitioned: bool,
) -> Vec<String> {
    let table = qualified(schema, &spec.table);
    let mut lines: Vec<String> = spec
        .columns
        .iter()
        .map(|c| format!("    {}", column_definition(spec, c)))
        .collect();
    if spec.versions.is_some() {
        lines.extend(
            versions::revision_columns(column_type(NeutralType::Timestamp, spec.precision()))
                .map(|(name, ty)| format!("    {name} {ty}")),
        );
    }
    if !spec.key.is_empty() {
        lines.push(format!(
            "    PRIMARY KEY ({})",
            quote_list(&storage_key(spec))
        ));
    }
    let mut out = vec![
        format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)),
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n{}\n){}",
            lines.join(",\n"),
            partitioned
                .then(|| crate::partitions::clause(spec))
                .flatten()
                .unwrap_or_default()
        ),
    ];
    out.extend(index_statements(spec, schema, brin));
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

/// Declared indexes, plus the BRIN index on time that stands in for hypertable chunks on plain PostgreSQL.
pub fn index_statements(spec: &TableSpec, schema: &str, brin: bool) -> Vec<String> {
    let table = qualified(schema, &spec.table);
    let mut out: Vec<String> = spec
        .indexes
        .iter()
        .map(|idx| {
            format!(
                "CREATE {}INDEX IF NOT EXISTS {} ON {table} ({})",
                if idx.unique { "UNIQUE " } else { "" },
                quote(&idx.name),
                quote_list(&idx.columns)
            )
        })
        .collect();
    if brin {
        if let (Some(t), Some(name)) = (&spec.time, brin_index_name(spec)) {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} USING brin ({})",
                quote(&name),
                quote(&t.column)
            ));
        }
    }
    if let Some(name) = known_at_index_name(spec) {
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} ({})",
            quote(&name),
            quote(KNOWN_AT_COLUMN)
        ));
    }
    out
}

/// An interval from the YAML (`7 days`, `1 year`) as a SQL literal; anything else is a config error.
pub fn interval_literal(spec: &TableSpec, field: &str, text: &str) -> Result<String> {
    let mut parts = text.split_whitespace();
    let valid = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(unit), None) => {
            n.parse::<u32>().map(|n| n > 0).unwrap_or(false)
                && matches!(
                    unit.trim_end_matches('s'),
                    "second" | "minute" | "hour" | "day" | "week" | "month" | "year"
                )
        }
        _ => false,
    };
    if !valid {
        return Err(Error::config(format!(
            "timescale.{field} `{text}` is not an interval like `7 days` or `1 year`"
        ))
        .with_class(spec.name.clone()));
    }
    Ok(format!("INTERVAL {}", literal(text)))
}

/// Whether the class asks to be a hypertable: it has a time column and a `timescale:` section. Others stay
/// plain tables (with a BRIN index on time) even when TimescaleDB is in use.
pub fn wants_hypertable(spec: &TableSpec) -> bool {
    spec.time.is_some() && spec.options.timescale.is_some()
}

/// The TimescaleDB statements for a class that asks for them: hypertable, compression, retention, continuous
/// aggregates. Errors when its key leaves out the time column (a hypertable's unique index must hold it).
pub fn timescale_statements(spec: &TableSpec, schema: &str) -> Result<Vec<String>> {
    let (Some(time), true) = (&spec.time, wants_hypertable(spec)) else {
        return Ok(Vec::new());
    };
    if !spec.key.is_empty() && !spec.key.contains(&time.column) {
        return Err(Error::config(format!(
            "TimescaleDB needs the time column `{}` in the key of a hypertable (its unique index must include \
             the partitioning column), but the key is ({}); add `{}` to `key` in table_config.yaml or set \
             `timescale: off` for this store",
            time.column,
            spec.key.join(", "),
            time.column
        ))
        .with_class(spec.name.clone()));
    }
    let options = spec.options.timescale.clone().unwrap_or_else(|| {
        quantdal_core::options::TimescaleOptions {
            chunk_interval: None,
            compression: None,
            retention: None,
            rollups: Vec::new(),
        }
    });
    let table = qualified(schema, &spec.table);
    let regclass = literal(&table);
    let chunk = match &options.chunk_interval {
        Some(c) => format!(
            ", chunk_time_interval => {}",
            interval_literal(spec, "chunk_interval", c)?
        ),
        None => String::new(),
    };
    let mut out = vec![format!(
        "SELECT create_hypertable({regclass}, {}{chunk}, if_not_exists => TRUE, migrate_data => TRUE)",
        literal(&time.column)
    )];
    if let Some(compression) = &options.compression {
        let segment_by = spec.tags.join(",");
        out.push(format!(
            "ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = {}, \
             timescaledb.compress_orderby = {})",
            literal(&segment_by),
            literal(&format!("{} DESC", time.column))
        ));
        out.push(format!(
            "SELECT add_compression_policy({regclass}, {}, if_not_exists => TRUE)",
            interval_literal(spec, "compression.after", &compression.after)?
        ));
    }
    if let Some(retention) = &options.retention {
        out.push(format!(
            "SELECT add_retention_policy({regclass}, {}, if_not_exists => TRUE)",
            interval_literal(spec, "retention", retention)?
        ));
    }
    for rollup in crate::rollup::plan(spec)? {
        out.extend(crate::rollup::statements(spec, schema, &rollup));
    }
    Ok(out)
}

/// What a class would get from TimescaleDB, for the note `provision` prints when the extension is absent.
pub fn timescale_features(spec: &TableSpec) -> Vec<String> {
    let (Some(time), true) = (&spec.time, wants_hypertable(spec)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let options = spec.options.timescale.as_ref();
    out.push(match options.and_then(|o| o.chunk_interval.as_ref()) {
        Some(c) => format!("hypertable on {} (chunks of {c})", time.column),
        None => format!("hypertable on {}", time.column),
    });
    if let Some(o) = options {
        if let Some(c) = &o.compression {
            out.push(format!("compression after {}", c.after));
        }
        if let Some(r) = &o.retention {
            out.push(format!("retention of {r}"));
        }
        for r in &o.rollups {
            out.push(format!(
                "continuous aggregate {} ({})",
                r.view_name(&spec.table),
                r.interval
            ));
        }
    }
    out
}
