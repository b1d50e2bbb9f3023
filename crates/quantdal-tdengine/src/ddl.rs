//! Spec → TDengine DDL, and the drift check against `DESCRIBE`. Every statement is idempotent
//! (`IF NOT EXISTS`) or additive (`ADD COLUMN`, `ADD TAG`, widening `MODIFY`), so provisioning can run any
//! number of times.

use quantdal_core::{Result, TableSpec, TimePrecision};

use crate::sql::{escape, ident, stable_ref};
use crate::types::{layout, Layout, TdType};

/// TDengine's limit on a table comment, in bytes.
const COMMENT_MAX: usize = 1024;

/// KEEP (days) of a database when its classes give none: the largest TDengine 3.3 accepts for the precision
/// (365 000 days; 292 years at nanoseconds, the span of an i64 of them). TDengine's own default, 3650 days,
/// refuses any row older than ten years, and loading decades of daily bars or a tick archive is normal; KEEP
/// is a retention horizon, not an allocation, so a large one costs nothing.
pub fn default_keep_days(precision: TimePrecision) -> u32 {
    match precision {
        TimePrecision::Ns => 106_580,
        TimePrecision::Ms | TimePrecision::Us => 365_000,
    }
}

/// The KEEP (days) the class asks for: its `options.tdengine.keep`, else [`default_keep_days`].
pub fn keep_days(spec: &TableSpec, layout: &Layout) -> u32 {
    spec.options
        .tdengine
        .as_ref()
        .and_then(|o| o.keep)
        .unwrap_or_else(|| default_keep_days(layout.precision))
}

/// The cache model quantdal asks for: `latest` is `LAST_ROW` per sub-table, which the vnode then answers from
/// memory instead of reading the newest block of every sub-table.
pub const CACHE_MODEL: &str = "last_row";

/// `CREATE DATABASE IF NOT EXISTS` with the class precision, its KEEP (or the market-history default), the
/// last-row cache, and the YAML's other options. One database has one precision (the facade checks classes
/// sharing a database agree).
pub fn create_database(spec: &TableSpec, layout: &Layout) -> String {
    let mut sql = format!(
        "CREATE DATABASE IF NOT EXISTS {} PRECISION '{}' KEEP {} CACHEMODEL '{CACHE_MODEL}'",
        ident(&layout.database),
        layout.precision.as_str(),
        keep_days(spec, layout)
    );
    if let Some(o) = &spec.options.tdengine {
        if let Some(d) = o.duration {
            sql.push_str(&format!(" DURATION {d}"));
        }
        if let Some(r) = o.replica {
            sql.push_str(&format!(" REPLICA {r}"));
        }
        if let Some(v) = o.vgroups {
            sql.push_str(&format!(" VGROUPS {v}"));
        }
    }
    sql
}

/// A database as `information_schema.ins_databases` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDatabase {
    pub precision: String,
    /// The KEEP in force, in minutes: the third of TDengine's three keep values (`keep2`), the one writes are
    /// checked against (`now - keep2`).
    pub keep_minutes: i64,
    pub cache_model: String,
}

/// Minutes of one TDengine duration text: `3650d`, `87600h`, `5256000m`, or a bare number of days.
fn duration_minutes(text: &str) -> Option<i64> {
    let t = text.trim();
    let (digits, per) = match t.as_bytes().last()? {
        b'd' => (&t[..t.len() - 1], 1440),
        b'h' => (&t[..t.len() - 1], 60),
        b'm' => (&t[..t.len() - 1], 1),
        _ => (t, 1440),
    };
    digits.trim().parse::<i64>().ok()?.checked_mul(per)
}

/// The KEEP in force from the `keep` column (`"3650d,3650d,3650d"`: keep0, keep1, keep2).
pub fn parse_keep_minutes(text: &str) -> Option<i64> {
    text.split(',')
        .rfind(|p| !p.trim().is_empty())
        .and_then(duration_minutes)
}

/// Days, for messages (`5256000m` → 3650).
pub fn keep_days_text(minutes: i64) -> String {
    if minutes % 1440 == 0 {
        format!("{} days", minutes / 1440)
    } else {
        format!("{minutes} minutes")
    }
}

/// What provisioning found on the class's database: `ALTER DATABASE`s that only widen (a longer KEEP, the
/// last-row cache) and differences it leaves alone (a shorter KEEP would delete rows).
pub fn database_drift(spec: &TableSpec, layout: &Layout, live: &LiveDatabase) -> Drift {
    let mut out = Drift::default();
    let db = ident(&layout.database);
    let want = i64::from(keep_days(spec, layout)) * 1440;
    if live.keep_minutes < want {
        out.alters
            .push(format!("ALTER DATABASE {db} KEEP {}", want / 1440));
        out.differences.push(format!(
            "database {} has KEEP {}, the class wants {}",
            layout.database,
            keep_days_text(live.keep_minutes),
            keep_days_text(want)
        ));
    } else if live.keep_minutes > want {
        out.differences.push(format!(
            "database {} has KEEP {}, the class declares {} (lowering KEEP deletes rows: left as it is; \
             ALTER DATABASE by hand)",
            layout.database,
            keep_days_text(live.keep_minutes),
            keep_days_text(want)
        ));
    }
    let model = live.cache_model.trim().to_ascii_lowercase();
    if model != CACHE_MODEL && model != "both" {
        out.alters
            .push(format!("ALTER DATABASE {db} CACHEMODEL '{CACHE_MODEL}'"));
        out.differences.push(format!(
            "database {} has CACHEMODEL '{}', latest reads the last-row cache ('{CACHE_MODEL}')",
            layout.database, live.cache_model
        ));
    }
    out
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// ` [ENCODE '…'] COMPRESS '…'` of a data column of type `ty` (empty: TDengine's default).
fn compression_clause(ty: TdType) -> String {
    match ty.compression() {
        Some((Some(encode), compress)) => format!(" ENCODE '{encode}' COMPRESS '{compress}'"),
        Some((None, compress)) => format!(" COMPRESS '{compress}'"),
        None => String::new(),
    }
}

/// `CREATE STABLE IF NOT EXISTS db.stable (time, data columns…) TAGS (…) [COMMENT '…']`, data columns with
/// quantdal's compression ([`TdType::compression`]).
pub fn create_stable(spec: &TableSpec, layout: &Layout) -> String {
    let def = |i: usize| format!("{} {}", ident(&spec.columns[i].name), layout.types[i]);
    let columns: Vec<String> = layout
        .insert_columns()
        .into_iter()
        .map(|i| format!("{}{}", def(i), compression_clause(layout.types[i])))
        .collect();
    let tags: Vec<String> = layout.tags.iter().map(|&i| def(i)).collect();
    let mut sql = format!(
        "CREATE STABLE IF NOT EXISTS {} ({}) TAGS ({})",
        stable_ref(layout),
        columns.join(", "),
        tags.join(", ")
    );
    if !spec.description.is_empty() {
        // Spec text (never caller data); a NUL would be refused, so drop the comment instead.
        if let Ok(c) = escape(truncate_utf8(&spec.description, COMMENT_MAX - 16)) {
            sql.push_str(" COMMENT ");
            sql.push_str(&c);
        }
    }
    sql
}

/// Every statement `provision` would run for a class that does not exist yet, for `provision --dry-run`
/// (no connection). A class TDengine cannot hold yields one SQL comment saying why.
pub fn provision_statements(spec: &TableSpec) -> Vec<String> {
    match layout(spec) {
        Ok(l) => vec![create_database(spec, &l), create_stable(spec, &l)],
        Err(e) => vec![format!("-- {}: {}", spec.name, e.message())],
    }
}

pub fn try_provision_statements(spec: &TableSpec) -> Result<Vec<String>> {
    let l = layout(spec)?;
    Ok(vec![create_database(spec, &l), create_stable(spec, &l)])
}

/// One row of `DESCRIBE db.stable`: field, type, length, note (`TAG` for tags), and from 3.3 on the column's
/// encode and compress stages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveColumn {
    pub name: String,
    pub type_name: String,
    pub length: u32,
    pub is_tag: bool,
    /// `None` where the server does not report it (before 3.3).
    pub encode: Option<String>,
    pub compress: Option<String>,
}

fn same_type(live: &LiveColumn, want: TdType) -> bool {
    let name = live.type_name.to_ascii_uppercase();
    let name = name.split('(').next().unwrap_or("").trim();
    match want {
        TdType::VarChar(_) => name == "VARCHAR" || name == "BINARY",
        other => name == other.name(),
    }
}

/// Whether a live data column compresses otherwise than quantdal creates it (unknown stages never differ).
fn compression_differs(live: &LiveColumn, want: TdType) -> bool {
    let Some((encode, compress)) = want.compression() else {
        return false;
    };
    let differs = |live: &Option<String>, want: &str| {
        live.as_deref()
            .is_some_and(|l| !l.trim().eq_ignore_ascii_case(want))
    };
    differs(&live.compress, compress) || encode.is_some_and(|e| differs(&live.encode, e))
}

/// What provisioning found against the live super-table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Additive statements that bring the super-table up to the spec.
    pub alters: Vec<String>,
    /// Differences left alone (reported).
    pub differences: Vec<String>,
}

pub fn drift(spec: &TableSpec, layout: &Layout, live: &[LiveColumn]) -> Drift {
    let mut out = Drift::default();
    let table = stable_ref(layout);
    let mut expected: Vec<usize> = layout.insert_columns();
    expected.extend_from_slice(&layout.tags);
    for (pos, &i) in expected.iter().enumerate() {
        let name = &spec.columns[i].name;
        let want = layout.types[i];
        let is_tag = layout.is_tag(i);
        let what = if is_tag { "tag" } else { "column" };
        match live.iter().find(|l| &l.name == name) {
            None if pos == 0 => out.differences.push(format!(
                "time column {name} is not the super-table's timestamp"
            )),
            None => out.alters.push(format!(
                "ALTER STABLE {table} ADD {} {} {want}",
                if is_tag { "TAG" } else { "COLUMN" },
                ident(name)
            )),
            Some(l) => {
                if l.is_tag != is_tag {
                    out.differences.push(format!(
                        "{name} is a {} in TDengine, spec says {what}",
                        if l.is_tag { "tag" } else { "column" }
                    ));
                } else if !same_type(l, want) {
                    out.differences.push(format!(
                        "{what} {name} is {}, spec says {want}",
                        l.type_name
                    ));
                } else if let TdType::VarChar(n) = want {
                    if l.length < n {
                        // Widening VARCHAR is the one in-place type change TDengine allows.
                        out.alters.push(format!(
                            "ALTER STABLE {table} MODIFY {} {} {want}",
                            if is_tag { "TAG" } else { "COLUMN" },
                            ident(name)
                        ));
                    }
                }
                if !is_tag && compression_differs(l, want) {
                    // Applies to data written from now on; what is stored keeps its compression.
                    out.alters.push(format!(
                        "ALTER STABLE {table} MODIFY COLUMN {}{}",
                        ident(name),
                        compression_clause(want)
                    ));
                }
            }
        }
    }
    if let (Some(first), Some(&time)) = (live.first(), expected.first()) {
        if first.name != spec.columns[time].name {
            out.differences.push(format!(
                "the super-table's timestamp is {}, spec says {}",
                first.name, spec.columns[time].name
            ));
        }
    }
    for l in live {
        if spec.column(&l.name).is_none() {
            out.differences.push(format!(
                "{} {} is not in the spec",
                if l.is_tag { "tag" } else { "column" },
                l.name
            ));
        }
    }
    out
}

/// Checks a save can go to the live super-table: every column exists, as the right kind, with a type that
/// holds the spec's values. Returns the first problem.
pub fn incompatibility(
    spec: &TableSpec,
    layout: &Layout,
    live: &[LiveColumn],
) -> Option<(String, String)> {
    let mut expected: Vec<usize> = layout.insert_columns();
    expected.extend_from_slice(&layout.tags);
    for i in expected {
        let name = &spec.columns[i].name;
        let want = layout.types[i];
        let Some(l) = live.iter().find(|l| &l.name == name) else {
            return Some((
                name.clone(),
                "the super-table has no such column (run provision)".into(),
            ));
        };
        if l.is_tag != layout.is_tag(i) || !same_type(l, want) {
            return Some((
                name.clone(),
                format!(
                    "the super-table has it as {} {}, the class needs {} {want}",
                    if l.is_tag { "tag" } else { "column" },
                    l.type_name,
                    if layout.is_tag(i) { "tag" } else { "column" },
                ),
            ));
        }
        if let TdType::VarChar(n) = want {
            if l.length < n {
                return Some((
                    name.clone(),
                    format!(
                        "the super-table holds {} bytes, the class needs {n} (run provision to widen it)",
                        l.length
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_text_parses() {
        assert_eq!(parse_keep_minutes("3650d,3650d,3650d"), Some(3650 * 1440));
        assert_eq!(
            parse_keep_minutes("5256000m,5256000m,5256000m"),
            Some(5_256_000)
        );
        assert_eq!(parse_keep_minutes("1d,2d,87600h"), Some(87_600 * 60));
        assert_eq!(parse_keep_minutes("365000"), Some(365_000 * 1440));
        assert_eq!(parse_keep_minutes(""), None);
        assert_eq!(parse_keep_minutes("xd"), None);
        assert_eq!(keep_days_text(3650 * 1440), "3650 days");
    }

    #[test]
    fn compression_drift_is_told_only_when_known_and_different() {
        let live = |encode: Option<&str>, compress: Option<&str>| LiveColumn {
            name: "price".into(),
            type_name: "DOUBLE".into(),
            length: 8,
            is_tag: false,
            encode: encode.map(str::to_string),
            compress: compress.map(str::to_string),
        };
        assert!(compression_differs(
            &live(Some("delta-d"), Some("lz4")),
            TdType::Double
        ));
        assert!(compression_differs(
            &live(Some("delta-d"), Some("zstd")),
            TdType::Double
        ));
        assert!(!compression_differs(
            &live(Some("disabled"), Some("ZSTD")),
            TdType::Double
        ));
        // Before 3.3 DESCRIBE has no such columns: nothing to compare.
        assert!(!compression_differs(&live(None, None), TdType::Double));
        // BIGINT keeps its default encode stage.
        assert!(!compression_differs(
            &live(Some("simple8b"), Some("zstd")),
            TdType::BigInt
        ));
        assert!(!compression_differs(
            &live(Some("disabled"), Some("zstd")),
            TdType::VarChar(16)
        ));
        assert_eq!(
            compression_clause(TdType::Double),
            " ENCODE 'disabled' COMPRESS 'zstd'"
        );
        assert_eq!(compression_clause(TdType::Bool), "");
    }
}
