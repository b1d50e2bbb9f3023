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
    monitoring: RawMonitoring,
    #[serde(default)]
    retry: RetrySettings,
    #[serde(default)]
    cache: Option<CacheSettings>,
    #[serde(default)]
    sql: SqlSettings,
    #[serde(default)]
    lake: BTreeMap<String, RawLake>,
}

/// `sql:` — the guardrails of `quantdal sql` and the dashboard's data explorer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSettings {
    /// Rows a statement returns at most; the rest is cut off and the result says so.
    #[serde(default = "default_sql_rows")]
    pub max_rows: u64,
    /// Longest a statement may run before the store cancels it.
    #[serde(default = "default_sql_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            max_rows: default_sql_rows(),
            timeout_ms: default_sql_timeout_ms(),
        }
    }
}

fn default_sql_rows() -> u64 {
    10_000
}

fn default_sql_timeout_ms() -> u64 {
    30_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLake {
    path: String,
    #[serde(default)]
    hive: Option<bool>,
}

/// `lake:` — a Parquet file, a glob of files or a folder, queryable by name through `quantdal sql` (DuckDB)
/// without importing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeView {
    pub name: String,
    /// As written, resolved against the config file's folder (a glob keeps its pattern).
    pub path: PathBuf,
    /// Folders: read `key=value` path segments as columns (hive partitioning). Default true for folders.
    pub hive: bool,
}

/// `cache:` — the latest-row cache: a store that keeps the newest row per series of the classes it names
/// (and of every class declaring `cache: true`), written through after each save to the primary store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// A store of a kind that can cache (redis).
    pub store: String,
    /// Class-level store names (`tdengine`, `postgres`…) whose classes are all cached.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Classes cached besides those.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Seconds a cached row lives after its last write, unless the class sets `options.redis.ttl_seconds`.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Longest a write-through or read waits for the cache before the data path goes on without it.
    #[serde(default = "default_cache_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of the cache's keys (`<prefix>:{<class>}:…`), so several deployments can share one Redis.
    #[serde(default = "default_cache_prefix")]
    pub key_prefix: String,
}

fn default_cache_prefix() -> String {
    "qdc".into()
}

fn default_cache_timeout_ms() -> u64 {
    250
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
    checkpoint_threshold: Option<String>,
    #[serde(default)]
    order_chunk_rows: Option<u64>,
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
    #[serde(default)]
    cluster: Option<bool>,
    #[serde(default)]
    tls_ca_file: Option<String>,
    #[serde(default)]
    spool: Option<RawSpool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    max_bytes: Option<u64>,
}

/// Where saves go while a server store is unavailable (docs/spool.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// The store's own folder of records.
    pub dir: PathBuf,
    /// Bytes the spool may hold; a save that would pass it fails.
    pub max_bytes: u64,
}

/// Spool limit when the store sets none: 1 GiB.
pub const DEFAULT_SPOOL_BYTES: u64 = 1 << 30;

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
    /// Embedded store: the write-ahead log size at which a commit checkpoints (DuckDB's setting).
    pub checkpoint_threshold: Option<String>,
    /// Embedded store: rows an ordered load puts in order at a time (its memory), see
    /// `quantdal_duckdb::ordered`.
    pub order_chunk_rows: Option<u64>,
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
    /// Redis Cluster: `url` lists seed nodes separated by commas.
    pub cluster: bool,
    /// Redis over TLS (`rediss://`): the CA certificate (PEM) to verify the server with, instead of the
    /// web PKI roots; relative paths resolve against the config file's folder.
    pub tls_ca_file: Option<PathBuf>,
    /// The durable spool of saves made while the store is unavailable; on by default for server stores.
    pub spool: Option<SpoolSettings>,
}

impl StoreSettings {
    /// A store with nothing but its name and kind set (tests and tools fill in the rest).
    pub fn new(name: impl Into<String>, kind: StoreKind) -> StoreSettings {
        StoreSettings {
            name: name.into(),
            kind,
            path: None,
            read_only: false,
            threads: None,
            memory_limit: None,
            checkpoint_threshold: None,
            order_chunk_rows: None,
            pool_size: None,
            url: None,
            read_url: None,
            timescale: None,
            schema: None,
            connect_timeout_ms: None,
            statement_timeout_ms: None,
            idle_timeout_ms: None,
            cluster: false,
            tls_ca_file: None,
            spool: None,
        }
    }
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

/// `monitoring:` as written; [`MonitoringSettings`] is the resolved form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    warn_ms: Option<u64>,
    #[serde(default)]
    slow_ms: Option<u64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    capacity: Option<usize>,
    #[serde(default)]
    batch_size: Option<usize>,
    #[serde(default)]
    flush_ms: Option<u64>,
    #[serde(default)]
    busy_timeout_ms: Option<u64>,
    #[serde(default)]
    retention: RetentionSettings,
}

/// Where monitoring records go.
#[derive(Clone, PartialEq)]
pub enum MonitoringStore {
    /// SQLite (WAL) file of its own; relative paths resolve against the config file's folder.
    Embedded { path: PathBuf },
    /// PostgreSQL; `schema` defaults to the connection's search path. The URL may hold a password.
    Postgres { url: String, schema: Option<String> },
}

impl std::fmt::Debug for MonitoringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitoringStore::Embedded { path } => {
                f.debug_struct("Embedded").field("path", path).finish()
            }
            MonitoringStore::Postgres { url, schema } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .field("schema", schema)
                .finish(),
        }
    }
}

/// Days to keep per monitoring table (resolved alerts only for `alerts_days`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(default = "days_7")]
    pub operations_days: u32,
    #[serde(default = "days_30")]
    pub slow_queries_days: u32,
    #[serde(default = "days_90")]
    pub quality_checks_days: u32,
    #[serde(default = "days_30")]
    pub rejects_days: u32,
    #[serde(default = "days_90")]
    pub alerts_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            operations_days: days_7(),
            slow_queries_days: days_30(),
            quality_checks_days: days_90(),
            rejects_days: days_30(),
            alerts_days: days_90(),
        }
    }
}

fn days_7() -> u32 {
    7
}
fn days_30() -> u32 {
    30
}
fn days_90() -> u32 {
    90
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitoringSettings {
    pub enabled: bool,
    /// Operations at least this slow get a `warn` slow-query row and a warn-level log line.
    pub warn_ms: u64,
    /// Operations at least this slow get a `slow` slow-query row and an alert.
    pub slow_ms: u64,
    pub store: MonitoringStore,
    /// Where records wait while the store is away (`<stem>.spill-<pid>.jsonl` beside it): the embedded
    /// file's path, or the default embedded path when the store is PostgreSQL.
    pub spill_base: PathBuf,
    /// Records the channel holds before new ones are counted as dropped.
    pub capacity: usize,
    /// Records per write to the monitoring store.
    pub batch_size: usize,
    /// Longest a record waits before it is written.
    pub flush_ms: u64,
    /// How long an embedded write waits for another process's lock before spilling.
    pub busy_timeout_ms: u64,
    pub retention: RetentionSettings,
}

impl MonitoringSettings {
    /// Defaults, with the embedded store at `path`.
    pub fn embedded(path: PathBuf) -> Self {
        MonitoringSettings {
            enabled: true,
            warn_ms: default_warn_ms(),
            slow_ms: default_slow_ms(),
            store: MonitoringStore::Embedded { path: path.clone() },
            spill_base: path,
            capacity: 16_384,
            batch_size: 4096,
            flush_ms: 2000,
            busy_timeout_ms: 2_000,
            retention: RetentionSettings::default(),
        }
    }
}

/// The monitoring DB sits next to the first embedded data file, else in the config file's folder.
fn default_monitoring_path(stores: &BTreeMap<String, StoreSettings>, base: &Path) -> PathBuf {
    let dir = stores
        .values()
        .filter(|s| s.kind == StoreKind::Duckdb)
        .find_map(|s| s.path.as_ref()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| base.to_path_buf());
    dir.join(MONITORING_FILE)
}

/// File name of the embedded monitoring DB when none is configured.
pub const MONITORING_FILE: &str = "quantdal-monitor.db";

/// Interpolates one optional field, naming it in errors.
type Expand<'a> = dyn Fn(&str, &Option<String>) -> Result<Option<String>> + 'a;

fn resolve_monitoring(
    raw: &RawMonitoring,
    stores: &BTreeMap<String, StoreSettings>,
    base: &Path,
    expand: &Expand<'_>,
    fail: &dyn Fn(&str, String) -> Error,
) -> Result<MonitoringSettings> {
    let default_path = default_monitoring_path(stores, base);
    let path = expand("monitoring.path", &raw.path)?.map(|p| base.join(p));
    let url = expand("monitoring.url", &raw.url)?;
    let schema = expand("monitoring.schema", &raw.schema)?;
    let store = match (path, url) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "monitoring",
                "give `path` (embedded SQLite file) or `url` (PostgreSQL), not both".into(),
            ))
        }
        (None, Some(url)) => MonitoringStore::Postgres { url, schema },
        (path, None) => {
            if schema.is_some() {
                return Err(fail(
                    "monitoring.schema",
                    "applies to a PostgreSQL monitoring store (`url`) only".into(),
                ));
            }
            MonitoringStore::Embedded {
                path: path.unwrap_or_else(|| default_path.clone()),
            }
        }
    };
    if let MonitoringStore::Postgres {
        schema: Some(s), ..
    } = &store
    {
        if !is_identifier(s) {
            return Err(fail(
                "monitoring.schema",
                format!("`{s}` must be a lower-case identifier"),
            ));
        }
    }
    let spill_base = match &store {
        MonitoringStore::Embedded { path } => path.clone(),
        MonitoringStore::Postgres { .. } => default_path,
    };
    let d = MonitoringSettings::embedded(spill_base.clone());
    let positive = |field: &str, v: Option<usize>, default: usize| -> Result<usize> {
        match v {
            Some(0) => Err(fail(
                &format!("monitoring.{field}"),
                "must be at least 1".into(),
            )),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    };
    let warn_ms = raw.warn_ms.unwrap_or(d.warn_ms);
    let slow_ms = raw.slow_ms.unwrap_or(d.slow_ms);
    if warn_ms > slow_ms {
        return Err(fail(
            "monitoring.warn_ms",
            format!("{warn_ms} is above slow_ms ({slow_ms}); warn must come first"),
        ));
    }
    Ok(MonitoringSettings {
        enabled: raw.enabled.unwrap_or(true),
        warn_ms,
        slow_ms,
        store,
        spill_base,
        capacity: positive("capacity", raw.capacity, d.capacity)?,
        batch_size: positive("batch_size", raw.batch_size, d.batch_size)?,
        flush_ms: positive(
            "flush_ms",
            raw.flush_ms.map(|v| v as usize),
            d.flush_ms as usize,
        )? as u64,
        busy_timeout_ms: raw.busy_timeout_ms.unwrap_or(d.busy_timeout_ms),
        retention: raw.retention.clone(),
    })
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
    pub cache: Option<CacheSettings>,
    pub sql: SqlSettings,
    /// Parquet lake views by name.
    pub lake: BTreeMap<String, LakeView>,
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
                checkpoint_threshold: expand(&f("checkpoint_threshold"), &s.checkpoint_threshold)?,
                order_chunk_rows: s.order_chunk_rows,
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
                cluster: s.cluster.unwrap_or(false),
                tls_ca_file: expand(&f("tls_ca_file"), &s.tls_ca_file)?.map(|p| base.join(p)),
                spool: None,
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
        let cache = resolve_cache(raw.cache.clone(), &stores, &fail)?;
        if raw.sql.max_rows == 0 || raw.sql.timeout_ms == 0 {
            return Err(fail(
                "sql",
                "max_rows and timeout_ms must be at least 1".into(),
            ));
        }
        let mut lake = BTreeMap::new();
        for (name, view) in &raw.lake {
            if !is_identifier(name) {
                return Err(fail(
                    &format!("lake.{name}"),
                    "lake view names must be lower-case identifiers".into(),
                ));
            }
            let path =
                interpolate(&view.path, env).map_err(|m| fail(&format!("lake.{name}.path"), m))?;
            lake.insert(
                name.clone(),
                LakeView {
                    name: name.clone(),
                    path: base.join(path),
                    hive: view.hive.unwrap_or(true),
                },
            );
        }
        let monitoring = resolve_monitoring(&raw.monitoring, &stores, base, &expand, &fail)?;
        // Spools default to `spool/<store>` beside the monitoring DB (the data folder).
        let data_dir = monitoring
            .spill_base
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.to_path_buf());
        for (name, store) in stores.iter_mut() {
            let raw_spool = raw
                .stores
                .get(name)
                .and_then(|s| s.spool.clone())
                .unwrap_or_default();
            let enabled = raw_spool.enabled.unwrap_or(store.kind != StoreKind::Duckdb);
            if !enabled {
                continue;
            }
            let dir = match expand(&format!("stores.{name}.spool.dir"), &raw_spool.dir)? {
                Some(d) => base.join(d),
                None => data_dir.join("spool").join(name),
            };
            let max_bytes = raw_spool.max_bytes.unwrap_or(DEFAULT_SPOOL_BYTES);
            if max_bytes == 0 {
                return Err(fail(
                    &format!("stores.{name}.spool.max_bytes"),
                    "must be at least 1".into(),
                ));
            }
            store.spool = Some(SpoolSettings { dir, max_bytes });
        }
        Ok(Settings {
            file: None,
            application: raw.application.unwrap_or_else(|| "quantdal".into()),
            tables: base.join(tables),
            stores,
            routes,
            monitoring,
            retry: raw.retry,
            cache,
            sql: raw.sql,
            lake,
        })
    }

    /// Settings for one embedded file holding every class.
    pub fn embedded(path: PathBuf, tables: PathBuf) -> Settings {
        let monitoring = MonitoringSettings::embedded(
            path.parent()
                .unwrap_or_else(|| Path::new("."))
                .join(MONITORING_FILE),
        );
        let store = StoreSettings {
            path: Some(path),
            ..StoreSettings::new("embedded", StoreKind::Duckdb)
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
            monitoring,
            retry: RetrySettings::default(),
            cache: None,
            sql: SqlSettings::default(),
            lake: BTreeMap::new(),
        }
    }

    /// Resolves a class-level store name to its concrete store.
    pub fn resolve(&self, class_store: &str) -> Option<&StoreSettings> {
        self.routes
            .get(class_store)
            .and_then(|s| self.stores.get(s))
    }

    /// The store a class lives in: a route named after the class itself (`routes: { daily_kline:
    /// embedded }`, what `quantdal copy --switch` writes) comes before the route of its class-level store.
    pub fn route_for(&self, class: &str, class_store: &str) -> Option<&StoreSettings> {
        match self.routes.get(class) {
            Some(s) => self.stores.get(s),
            None => self.resolve(class_store),
        }
    }

    pub fn source_name(&self) -> String {
        self.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "<built-in>".into())
    }
}

fn resolve_cache(
    raw: Option<CacheSettings>,
    stores: &BTreeMap<String, StoreSettings>,
    fail: &dyn Fn(&str, String) -> Error,
) -> Result<Option<CacheSettings>> {
    let Some(cache) = raw else {
        return Ok(None);
    };
    if !stores.contains_key(&cache.store) {
        return Err(fail(
            "cache.store",
            format!(
                "`{}` is not a store defined under `stores` ({})",
                cache.store,
                stores.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if cache.timeout_ms == 0 {
        return Err(fail("cache.timeout_ms", "must be at least 1".into()));
    }
    Ok(Some(cache))
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
    mark("checkpoint_threshold", raw.checkpoint_threshold.is_some());
    mark("order_chunk_rows", raw.order_chunk_rows.is_some());
    mark("pool_size", raw.pool_size.is_some());
    mark("url", raw.url.is_some());
    mark("read_url", raw.read_url.is_some());
    mark("dsn", raw.dsn.is_some());
    mark("timescale", raw.timescale.is_some());
    mark("schema", raw.schema.is_some());
    mark("connect_timeout_ms", raw.connect_timeout_ms.is_some());
    mark("statement_timeout_ms", raw.statement_timeout_ms.is_some());
    mark("idle_timeout_ms", raw.idle_timeout_ms.is_some());
    mark("cluster", raw.cluster.is_some());
    mark("tls_ca_file", raw.tls_ca_file.is_some());
    mark("spool", raw.spool.is_some());
    let allowed: &[&str] = match s.kind {
        StoreKind::Duckdb => &[
            "path",
            "read_only",
            "threads",
            "memory_limit",
            "checkpoint_threshold",
            "order_chunk_rows",
            "pool_size",
            "spool",
        ],
        StoreKind::Postgres => &[
            "url",
            "read_url",
            "timescale",
            "schema",
            "pool_size",
            "connect_timeout_ms",
            "statement_timeout_ms",
            "idle_timeout_ms",
            "spool",
        ],
        StoreKind::Tdengine => &["dsn", "pool_size", "connect_timeout_ms", "spool"],
        StoreKind::Redis => &[
            "url",
            "cluster",
            "tls_ca_file",
            "pool_size",
            "connect_timeout_ms",
            "statement_timeout_ms",
            "spool",
        ],
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
