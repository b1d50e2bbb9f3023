//! `table_config.yaml`: the data classes. Parsing keeps serde_yaml's line numbers for syntax errors and
//! unknown fields; the semantic checks name the file, class and field.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::options::BackendOptions;
use crate::quality::QualityConfig;
use crate::spec::{
    is_identifier, Category, ColumnSpec, DefaultValue, IndexSpec, KlineSource, TableSpec, TimeSpec,
    Versions, DELETED_COLUMN, KNOWN_AT_COLUMN,
};
use crate::types::{parse_type, NeutralType, TimePrecision};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    #[serde(default)]
    defaults: RawDefaults,
    classes: Vec<RawClass>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    precision: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    category: Category,
    #[serde(default)]
    description: String,
    store: String,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    time: Option<RawTime>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    key: Option<Vec<String>>,
    columns: Vec<RawColumn>,
    #[serde(default)]
    indexes: Vec<RawIndex>,
    #[serde(default)]
    kline: Option<RawKline>,
    #[serde(default)]
    options: BackendOptions,
    #[serde(default)]
    quality: Option<QualityConfig>,
    #[serde(default)]
    cache: bool,
    #[serde(default)]
    versions: Option<RawVersions>,
}

/// `versions: true`, or `versions: { known_at: column }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawVersions {
    Flag(bool),
    Options(RawVersionOptions),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersionOptions {
    known_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    column: String,
    #[serde(default)]
    precision: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    #[serde(default)]
    nullable: Option<bool>,
    #[serde(default)]
    length: Option<u32>,
    #[serde(default)]
    precision: Option<u8>,
    #[serde(default)]
    scale: Option<i8>,
    #[serde(default)]
    default: Option<serde_yaml::Value>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    #[serde(default)]
    name: Option<String>,
    columns: Vec<String>,
    #[serde(default)]
    unique: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKline {
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    open: Option<String>,
    #[serde(default)]
    high: Option<String>,
    #[serde(default)]
    low: Option<String>,
    #[serde(default)]
    close: Option<String>,
    volume: String,
    #[serde(default)]
    amount: Option<String>,
}

/// Every declared class, by name, in file order.
#[derive(Debug, Clone)]
pub struct Catalog {
    classes: Vec<Arc<TableSpec>>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    pub fn from_path(path: &Path) -> Result<Catalog> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read table config: {e}"))
                .with_file(path.display().to_string())
        })?;
        Catalog::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates; `file` is only used to name the source in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Catalog> {
        let raw: RawCatalog = serde_yaml::from_str(text)
            .map_err(|e| Error::config(yaml_message(&e)).with_file(file))?;
        if raw.version != 1 {
            return Err(Error::config(format!(
                "version {} is not supported (expected 1)",
                raw.version
            ))
            .with_file(file));
        }
        let default_precision = match &raw.defaults.precision {
            Some(p) => p
                .parse::<TimePrecision>()
                .map_err(|m| Error::config(format!("defaults.precision: {m}")).with_file(file))?,
            None => TimePrecision::Ms,
        };
        let mut classes = Vec::with_capacity(raw.classes.len());
        let mut by_name = HashMap::new();
        let mut tables = HashMap::<(String, String), String>::new();
        for class in raw.classes {
            let name = class.name.clone();
            let spec = build_class(class, default_precision)
                .map_err(|e| e.with_class(name.clone()).with_file(file))?;
            if by_name.insert(name.clone(), classes.len()).is_some() {
                return Err(Error::config("class is declared twice")
                    .with_class(name)
                    .with_file(file));
            }
            if let Some(other) =
                tables.insert((spec.store.clone(), spec.table.clone()), name.clone())
            {
                return Err(Error::config(format!(
                    "table `{}` on store `{}` is already used by class `{other}`",
                    spec.table, spec.store
                ))
                .with_class(name)
                .with_file(file));
            }
            classes.push(Arc::new(spec));
        }
        if classes.is_empty() {
            return Err(Error::config("no classes declared").with_file(file));
        }
        Ok(Catalog { classes, by_name })
    }

    /// A catalog of already-validated classes (e.g. one class of a loaded catalog, for a copy that opens
    /// only the stores it needs). Errors on a class given twice.
    pub fn from_specs(specs: Vec<Arc<TableSpec>>) -> Result<Catalog> {
        let mut by_name = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            if by_name.insert(spec.name.clone(), i).is_some() {
                return Err(Error::config("class is given twice").with_class(spec.name.clone()));
            }
        }
        Ok(Catalog {
            classes: specs,
            by_name,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<TableSpec>> {
        self.by_name.get(name).map(|&i| &self.classes[i])
    }
    pub fn classes(&self) -> &[Arc<TableSpec>] {
        &self.classes
    }
}

/// serde_yaml's message already carries "at line L column C" where it knows the place.
fn yaml_message(err: &serde_yaml::Error) -> String {
    match err.location() {
        Some(loc) if !err.to_string().contains("line") => {
            format!("{err} at line {} column {}", loc.line(), loc.column())
        }
        _ => err.to_string(),
    }
}

fn field_error(field: &str, message: impl std::fmt::Display) -> Error {
    Error::config(format!("{field}: {message}"))
}

fn check_identifier(field: &str, name: &str) -> Result<()> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("`{name}` is not a valid identifier (lower-case letters, digits and _, starting with a letter or _, at most 63 bytes)"),
        ))
    }
}

fn build_class(raw: RawClass, default_precision: TimePrecision) -> Result<TableSpec> {
    check_identifier("name", &raw.name)?;
    check_identifier("store", &raw.store)?;
    let table = raw.table.unwrap_or_else(|| raw.name.clone());
    check_identifier("table", &table)?;
    if raw.columns.is_empty() {
        return Err(field_error("columns", "a class needs at least one column"));
    }

    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(raw.columns.len());
    for (i, col) in raw.columns.into_iter().enumerate() {
        let field = format!("columns[{i}]");
        check_identifier(&format!("{field}.name"), &col.name)?;
        if !seen.insert(col.name.clone()) {
            return Err(field_error(
                &format!("{field}.name"),
                format!("column `{}` is declared twice", col.name),
            ));
        }
        let data_type = parse_type(&col.data_type, col.length, col.precision, col.scale)
            .map_err(|m| field_error(&format!("columns.{}.type", col.name), m))?;
        let default = col
            .default
            .as_ref()
            .map(|v| default_value(v, data_type))
            .transpose()
            .map_err(|m| field_error(&format!("columns.{}.default", col.name), m))?;
        columns.push(ColumnSpec {
            name: col.name,
            data_type,
            nullable: col.nullable.unwrap_or(true),
            default,
            comment: col.comment,
        });
    }
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let declared = |name: &str| names.iter().position(|c| c == name);

    let time = match raw.time {
        Some(t) => {
            let idx = declared(&t.column).ok_or_else(|| {
                field_error(
                    "time.column",
                    format!("`{}` is not a declared column", t.column),
                )
            })?;
            let ty = columns[idx].data_type;
            if !matches!(ty, NeutralType::Timestamp | NeutralType::Date) {
                return Err(field_error(
                    "time.column",
                    format!(
                        "`{}` is {ty}; a time column must be TIMESTAMP or DATE",
                        t.column
                    ),
                ));
            }
            let precision = match &t.precision {
                Some(p) => p
                    .parse::<TimePrecision>()
                    .map_err(|m| field_error("time.precision", m))?,
                None => default_precision,
            };
            Some(TimeSpec {
                column: t.column,
                precision,
            })
        }
        None => None,
    };

    for (i, tag) in raw.tags.iter().enumerate() {
        let idx = declared(tag).ok_or_else(|| {
            field_error(
                &format!("tags[{i}]"),
                format!("`{tag}` is not a declared column"),
            )
        })?;
        let ty = columns[idx].data_type;
        if matches!(
            ty,
            NeutralType::Float | NeutralType::Double | NeutralType::Json | NeutralType::Text
        ) {
            return Err(field_error(
                &format!("tags[{i}]"),
                format!(
                    "`{tag}` is {ty}; tags must be VARCHAR(n), INT, BIGINT, BOOL, DATE, TIMESTAMP or DECIMAL"
                ),
            ));
        }
        if raw.tags[..i].contains(tag) {
            return Err(field_error(
                &format!("tags[{i}]"),
                format!("`{tag}` is listed twice"),
            ));
        }
    }

    let key = match raw.key {
        Some(key) => key,
        None => {
            let mut key = raw.tags.clone();
            if let Some(t) = &time {
                key.push(t.column.clone());
            }
            key
        }
    };
    let versions = match raw.versions {
        None | Some(RawVersions::Flag(false)) => None,
        Some(RawVersions::Flag(true)) => Some(Versions { known_at: None }),
        Some(RawVersions::Options(o)) => Some(Versions {
            known_at: Some(o.known_at),
        }),
    };
    if let Some(v) = &versions {
        check_versions(v, &columns, &key, &raw.tags, time.as_ref())?;
    }
    for (i, k) in key.iter().enumerate() {
        if declared(k).is_none() {
            return Err(field_error(
                &format!("key[{i}]"),
                format!("`{k}` is not a declared column"),
            ));
        }
        if key[..i].contains(k) {
            return Err(field_error(
                &format!("key[{i}]"),
                format!("`{k}` is listed twice"),
            ));
        }
    }
    // Key, tag and time columns identify a row: a null there would make the upsert ambiguous.
    for c in columns.iter_mut() {
        let identifies = key.contains(&c.name)
            || raw.tags.contains(&c.name)
            || time.as_ref().is_some_and(|t| t.column == c.name);
        // A revision without a knowledge time could not be placed in the class's history.
        let knowledge = versions
            .as_ref()
            .and_then(|v| v.known_at.as_deref())
            .is_some_and(|k| k == c.name);
        if identifies || knowledge {
            c.nullable = false;
        }
    }

    let mut indexes = Vec::with_capacity(raw.indexes.len());
    for (i, idx) in raw.indexes.into_iter().enumerate() {
        if idx.columns.is_empty() {
            return Err(field_error(
                &format!("indexes[{i}].columns"),
                "an index needs columns",
            ));
        }
        for c in &idx.columns {
            if declared(c).is_none() {
                return Err(field_error(
                    &format!("indexes[{i}].columns"),
                    format!("`{c}` is not a declared column"),
                ));
            }
        }
        let name = idx
            .name
            .unwrap_or_else(|| format!("{}_{}_idx", table, idx.columns.join("_")));
        check_identifier(&format!("indexes[{i}].name"), &name)?;
        indexes.push(IndexSpec {
            name,
            columns: idx.columns,
            unique: idx.unique,
        });
    }

    let kline = raw.kline.map(|k| build_kline(k, &columns)).transpose()?;
    if kline.is_some() && time.is_none() {
        return Err(field_error("kline", "a kline source needs a time column"));
    }
    if let Some(td) = &raw.options.tdengine {
        check_identifier("options.tdengine.database", &td.database)?;
    }
    if let Some(prefix) = raw
        .options
        .redis
        .as_ref()
        .and_then(|r| r.key_prefix.as_deref())
    {
        // Braces would move the Redis Cluster hash tag off the class name; spaces and quotes confuse tools.
        let ok = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
        if !ok {
            return Err(field_error(
                "options.redis.key_prefix",
                format!("`{prefix}` may hold only letters, digits and `_ . : -`"),
            ));
        }
    }

    if let Some(q) = &raw.quality {
        q.validate(&columns, time.is_some())
            .map_err(|(field, m)| field_error(&format!("quality.{field}"), m))?;
    }

    let mut spec = TableSpec::new(
        raw.name,
        raw.category,
        raw.description,
        raw.store,
        table,
        columns,
        raw.tags,
        time,
        key,
        indexes,
        kline,
        raw.options,
        default_precision,
    );
    spec.quality = raw.quality;
    spec.cache = raw.cache;
    spec.versions = versions;
    Ok(spec)
}

/// A versioned class keeps revisions per key, so it needs one; the knowledge column must be a TIMESTAMP that
/// is not part of the row's identity; the store's own revision columns must not clash with declared ones.
fn check_versions(
    versions: &Versions,
    columns: &[ColumnSpec],
    key: &[String],
    tags: &[String],
    time: Option<&TimeSpec>,
) -> Result<()> {
    if key.is_empty() {
        return Err(field_error(
            "versions",
            "a versioned class needs a key (tags + time, or `key:`): revisions are kept per key",
        ));
    }
    for reserved in [KNOWN_AT_COLUMN, DELETED_COLUMN] {
        if columns.iter().any(|c| c.name == reserved) {
            return Err(field_error(
                "versions",
                format!("`{reserved}` is the store's own revision column in a versioned class; rename the declared column"),
            ));
        }
    }
    if let Some(k) = &versions.known_at {
        let Some(c) = columns.iter().find(|c| &c.name == k) else {
            return Err(field_error(
                "versions.known_at",
                format!("`{k}` is not a declared column"),
            ));
        };
        if c.data_type != NeutralType::Timestamp {
            return Err(field_error(
                "versions.known_at",
                format!(
                    "`{k}` is {}; the knowledge time must be a TIMESTAMP",
                    c.data_type
                ),
            ));
        }
        let identifies =
            key.contains(k) || tags.contains(k) || time.is_some_and(|t| &t.column == k);
        if identifies {
            return Err(field_error(
                "versions.known_at",
                format!(
                    "`{k}` is part of the row's identity (key, tags or time); the knowledge time says when a \
                     value of the key became known and must be another column"
                ),
            ));
        }
    }
    Ok(())
}

fn build_kline(raw: RawKline, columns: &[ColumnSpec]) -> Result<KlineSource> {
    let numeric = |field: &str, name: &str| -> Result<String> {
        match columns.iter().find(|c| c.name == name) {
            Some(c) if c.data_type.is_numeric() => Ok(name.to_string()),
            Some(c) => Err(field_error(
                &format!("kline.{field}"),
                format!("`{name}` is {}; kline columns must be numeric", c.data_type),
            )),
            None => Err(field_error(
                &format!("kline.{field}"),
                format!("`{name}` is not a declared column"),
            )),
        }
    };
    let volume = numeric("volume", &raw.volume)?;
    let amount = raw
        .amount
        .as_deref()
        .map(|a| numeric("amount", a))
        .transpose()?;
    match (raw.price, raw.open, raw.high, raw.low, raw.close) {
        (Some(price), None, None, None, None) => Ok(KlineSource::Ticks {
            price: numeric("price", &price)?,
            volume,
            amount,
        }),
        (None, Some(o), Some(h), Some(l), Some(c)) => Ok(KlineSource::Bars {
            open: numeric("open", &o)?,
            high: numeric("high", &h)?,
            low: numeric("low", &l)?,
            close: numeric("close", &c)?,
            volume,
            amount,
        }),
        _ => Err(field_error(
            "kline",
            "give either `price` (ticks) or all of `open`, `high`, `low`, `close` (bars)",
        )),
    }
}

fn default_value(value: &serde_yaml::Value, ty: NeutralType) -> Result<DefaultValue, String> {
    use serde_yaml::Value as Y;
    match (value, ty) {
        (Y::Bool(b), NeutralType::Bool) => Ok(DefaultValue::Bool(*b)),
        (Y::Number(n), NeutralType::Int | NeutralType::BigInt) => n
            .as_i64()
            .filter(|v| ty != NeutralType::Int || i32::try_from(*v).is_ok())
            .map(DefaultValue::Int)
            .ok_or_else(|| format!("{n} does not fit {ty}")),
        (Y::Number(n), NeutralType::Float | NeutralType::Double | NeutralType::Decimal { .. }) => n
            .as_f64()
            .map(DefaultValue::Float)
            .ok_or_else(|| format!("{n} is not a number")),
        (Y::String(s), t) if t.is_string() => {
            if let NeutralType::Varchar { length } = t {
                if s.chars().count() > length as usize {
                    return Err(format!("default is longer than VARCHAR({length})"));
                }
            }
            Ok(DefaultValue::Text(s.clone()))
        }
        (v, t) => Err(format!("default {v:?} does not fit {t}")),
    }
}
