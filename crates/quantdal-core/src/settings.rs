//! `quantdal.yaml`: named stores, routes from class-level store names to them, monitoring and retry
//! settings. `${VAR}` / `${VAR:-default}` are expanded in string values after parsing, so a secret in the
//! environment can hold any character and never shows up in a parse error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::spec::is_identifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Duckdb,
    Postgres,
    Tdengine,
    Redis,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Duckdb => "duckdb",
            StoreKind::Postgres => "postgres",
            StoreKind::Tdengine => "tdengine",
            StoreKind::Redis => "redis",
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    version: u32,
    #[serde(default)]
    application: Option<String>,
    tables: String,
    stores: BTreeMap<String, RawStore>,
    #[serde(default)]
    routes: BTreeMap<String, String>,
    #[serde(default)]
    monitoring: MonitoringSettings,
    #[serde(default)]
    retry: RetrySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    kind: StoreKind,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    threads: Option<u32>,
    #[serde(default)]
    memory_limit: Option<String>,
    #[serde(default)]
    pool_size: Option<u32>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    read_url: Option<String>,
    #[serde(default)]
    dsn: Option<String>,
    #[serde(default)]
    timescale: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    statement_timeout_ms: Option<u64>,
    #[serde(default)]
    idle_timeout_ms: Option<u64>,
}

/// A concrete store: its kind and connection settings, with environment variables expanded.
#[derive(Clone, PartialEq)]
pub struct StoreSettings {
    pub name: String,
    pub kind: StoreKind,
    /// Embedded file (duckdb); relative paths resolve against the config file's folder.
    pub path: Option<PathBuf>,
    pub read_only: bool,
    pub threads: Option<u32>,
    pub memory_limit: Option<String>,
    pub pool_size: Option<u32>,
    /// Connection URL (postgres, redis) or DSN (tdengine, from `dsn:`). May hold a password: never print it
    /// (see [`redact_url`]).
    pub url: Option<String>,
    pub read_url: Option<String>,
    pub timescale: Option<String>,
    pub schema: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub statement_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("read_url", &self.read_url.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Operations slower than this are logged at warn level.
    #[serde(default = "default_warn_ms")]
    pub warn_ms: u64,
    /// Operations slower than this count as slow queries.
    #[serde(default = "default_slow_ms")]
    pub slow_ms: u64,
    /// Monitoring DB file (embedded) — used by the monitoring crate.
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            enabled: true,
            warn_ms: default_warn_ms(),
            slow_ms: default_slow_ms(),
            path: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included; 1 disables retries.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: default_attempts(),
            initial_backoff_ms: default_initial_backoff(),
            max_backoff_ms: default_max_backoff(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_warn_ms() -> u64 {
    200
}
fn default_slow_ms() -> u64 {
    1000
}
fn default_attempts() -> u32 {
    3
}
fn default_initial_backoff() -> u64 {
    20
}
fn default_max_backoff() -> u64 {
    1000
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The file these settings came from (for error messages), if any.
    pub file: Option<PathBuf>,
    pub application: String,
    /// `table_config.yaml`, resolved against the settings file's folder.
    pub tables: PathBuf,
    pub stores: BTreeMap<String, StoreSettings>,
    /// Class-level store name → concrete store name. A store's own name always routes to itself.
    pub routes: BTreeMap<String, String>,
    pub monitoring: MonitoringSettings,
    pub retry: RetrySettings,
}

impl Settings {
    pub fn from_path(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config: {e}")).with_file(path.display().to_string())
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut settings = Settings::from_yaml(&text, &path.display().to_string(), base, &|k| {
            std::env::var(k).ok()
        })?;
        settings.file = Some(path.to_path_buf());
        Ok(settings)
    }

    /// `env` looks variables up (the process environment in production, a map in tests).
    pub fn from_yaml(
        text: &str,
        file: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let raw: RawSettings =
            serde_yaml::from_str(text).map_err(|e| Error::config(e.to_string()).with_file(file))?;
        let fail = |field: &str, message: String| {
            Error::config(format!("{field}: {message}")).with_file(file)
        };
        if raw.version != 1 {
            return Err(fail(
                "version",
                format!("{} is not supported (expected 1)", raw.version),
            ));
        }
        let expand = |field: &str, v: &Option<String>| -> Result<Option<String>> {
            v.as_deref()
                .map(|s| interpolate(s, env).map_err(|m| fail(field, m)))
                .transpose()
        };

        let mut stores = BTreeMap::new();
        for (name, s) in &raw.stores {
            if !is_identifier(name) {
                return Err(fail(
                    &format!("stores.{name}"),
                    "store names must be lower-case identifiers".into(),
                ));
            }
            let f = |k: &str| format!("stores.{name}.{k}");
            let path = expand(&f("path"), &s.path)?.map(|p| base.join(p));
            let settings = StoreSettings {
                name: name.clone(),
                kind: s.kind,
                path,
                read_only: s.read_only.unwrap_or(false),
                threads: s.threads,
                memory_limit: expand(&f("memory_limit"), &s.memory_limit)?,
                pool_size: s.pool_size,
                // A TDengine `dsn` is its connection string: keep it in `url` so the store can reach it
                // (and so an unset `${VAR}` in it is reported like any other).
                url: match expand(&f("url"), &s.url)? {
                    Some(url) => Some(url),
                    None => expand(&f("dsn"), &s.dsn)?,
                },
                read_url: expand(&f("read_url"), &s.read_url)?,
                timescale: expand(&f("timescale"), &s.timescale)?,
                schema: expand(&f("schema"), &s.schema)?,
                connect_timeout_ms: s.connect_timeout_ms,
                statement_timeout_ms: s.statement_timeout_ms,
                idle_timeout_ms: s.idle_timeout_ms,
            };
            check_store_fields(&settings, s).map_err(|m| fail(&format!("stores.{name}"), m))?;
            stores.insert(name.clone(), settings);
        }
        if stores.is_empty() {
            return Err(fail("stores", "at least one store is required".into()));
        }

        let mut routes = BTreeMap::new();
        for (from, to) in &raw.routes {
            let to = interpolate(to, env).map_err(|m| fail(&format!("routes.{from}"), m))?;
            if !stores.contains_key(&to) {
                return Err(fail(
                    &format!("routes.{from}"),
                    format!(
                        "routes to `{to}`, which is not a store defined under `stores` ({})",
                        stores.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            routes.insert(from.clone(), to);
        }
        for name in stores.keys() {
            routes.entry(name.clone()).or_insert_with(|| name.clone());
        }
        let tables = interpolate(&raw.tables, env).map_err(|m| fail("tables", m))?;
        Ok(Settings {
            file: None,
            application: raw.application.unwrap_or_else(|| "quantdal".into()),
            tables: base.join(tables),
            stores,
            routes,
            monitoring: raw.monitoring,
            retry: raw.retry,
        })
    }

    /// Settings for one embedded file holding every class.
    pub fn embedded(path: PathBuf, tables: PathBuf) -> Settings {
        let store = StoreSettings {
            name: "embedded".into(),
            kind: StoreKind::Duckdb,
            path: Some(path),
            read_only: false,
            threads: None,
            memory_limit: None,
            pool_size: None,
            url: None,
            read_url: None,
            timescale: None,
            schema: None,
            connect_timeout_ms: None,
            statement_timeout_ms: None,
            idle_timeout_ms: None,
        };
        let routes = ["embedded", "tdengine", "postgres", "redis", "duckdb"]
            .into_iter()
            .map(|r| (r.to_string(), "embedded".to_string()))
            .collect();
        Settings {
            file: None,
            application: "quantdal".into(),
            tables,
            stores: BTreeMap::from([("embedded".to_string(), store)]),
            routes,
            monitoring: MonitoringSettings::default(),
            retry: RetrySettings::default(),
        }
    }

    /// Resolves a class-level store name to its concrete store.
    pub fn resolve(&self, class_store: &str) -> Option<&StoreSettings> {
        self.routes
            .get(class_store)
            .and_then(|s| self.stores.get(s))
    }

    pub fn source_name(&self) -> String {
        self.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "<built-in>".into())
    }
}

/// Each kind accepts only its own connection fields, so a typo'd or misplaced field is an error, not ignored.
fn check_store_fields(s: &StoreSettings, raw: &RawStore) -> Result<(), String> {
    let mut present: Vec<&str> = Vec::new();
    let mut mark = |name: &'static str, set: bool| {
        if set {
            present.push(name)
        }
    };
    mark("path", raw.path.is_some());
    mark("read_only", raw.read_only.is_some());
    mark("threads", raw.threads.is_some());
    mark("memory_limit", raw.memory_limit.is_some());
    mark("pool_size", raw.pool_size.is_some());
    mark("url", raw.url.is_some());
    mark("read_url", raw.read_url.is_some());
    mark("dsn", raw.dsn.is_some());
    mark("timescale", raw.timescale.is_some());
    mark("schema", raw.schema.is_some());
    mark("connect_timeout_ms", raw.connect_timeout_ms.is_some());
    mark("statement_timeout_ms", raw.statement_timeout_ms.is_some());
    mark("idle_timeout_ms", raw.idle_timeout_ms.is_some());
    let allowed: &[&str] = match s.kind {
        StoreKind::Duckdb => &["path", "read_only", "threads", "memory_limit", "pool_size"],
        StoreKind::Postgres => &[
            "url",
            "read_url",
            "timescale",
            "schema",
            "pool_size",
            "connect_timeout_ms",
            "statement_timeout_ms",
            "idle_timeout_ms",
        ],
        StoreKind::Tdengine => &["dsn", "pool_size", "connect_timeout_ms"],
        StoreKind::Redis => &["url", "pool_size", "connect_timeout_ms"],
    };
    if let Some(bad) = present.iter().find(|p| !allowed.contains(p)) {
        return Err(format!(
            "`{bad}` is not a setting of a {} store (allowed: {})",
            s.kind,
            allowed.join(", ")
        ));
    }
    let required = match s.kind {
        StoreKind::Duckdb => ("path", s.path.is_some()),
        StoreKind::Postgres | StoreKind::Redis => ("url", s.url.is_some()),
        StoreKind::Tdengine => ("dsn", raw.dsn.is_some()),
    };
    if !required.1 {
        return Err(format!("a {} store needs `{}`", s.kind, required.0));
    }
    if let Some(ts) = &s.timescale {
        if !["auto", "on", "off"].contains(&ts.as_str()) {
            return Err(format!("timescale must be auto, on or off, not `{ts}`"));
        }
    }
    Ok(())
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. An unset variable without a default is
/// an error naming the variable (never its value).
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
            continue;
        }
        let Some(body_and_rest) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let end = body_and_rest
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
        let body = &body_and_rest[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!("`${{{body}}}` is not a valid variable reference"));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                "environment variable {name} is not set (use ${{{name}:-default}} for a fallback)"
            ))
            }
        }
        rest = &body_and_rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also hides `password=` parameters.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.password().is_some() && parsed.set_password(Some("***")).is_ok() {
            return redact_params(parsed.as_str());
        }
    }
    redact_params(&redact_userinfo(url))
}

/// Hand-parsed fallback for DSNs the URL parser rejects (several hosts, libpq key=value strings).
fn redact_userinfo(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?'])
            .map(|i| auth_start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(auth_start + colon + 1..auth_start + at, "***");
            }
        }
    }
    out
}

fn redact_params(url: &str) -> String {
    let mut out = url.to_string();
    for key in ["password=", "passwd=", "token="] {
        let mut search_from = 0;
        while let Some(found) = out[search_from..].to_ascii_lowercase().find(key) {
            let start = search_from + found + key.len();
            let end = out[start..]
                .find(['&', ' ', ';'])
                .map(|i| start + i)
                .unwrap_or(out.len());
            out.replace_range(start..end, "***");
            search_from = start + 3;
        }
    }
    out
}
