//! Config loading: every error a user can make in `table_config.yaml` or `quantdal.yaml` is a `Config`
//! error that names the file, the class and the field (and the line where serde_yaml knows it), and the
//! shipped config files parse into what the rest of quantdal expects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)] // tests fail loudly by design

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quantdal_core::options::BackendOptions;
use quantdal_core::settings::{interpolate, redact_url};
use quantdal_core::spec::KlineSource;
use quantdal_core::{
    Catalog, Category, Error, ErrorKind, NeutralType, Settings, StoreKind, TimePrecision,
    BUILTIN_TABLE_CONFIG,
};

const FILE: &str = "bad/table_config.yaml";
const SETTINGS_FILE: &str = "bad/quantdal.yaml";

/// One valid class; each test breaks one thing in it.
fn base() -> String {
    r#"version: 1
defaults:
  precision: ms
classes:
  - name: ticks
    category: market
    store: tdengine
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE }
      - { name: volume, type: BIGINT, default: 0 }
    kline: { price: price, volume: volume }
"#
    .to_string()
}

fn edit(from: &str, to: &str) -> String {
    let yaml = base();
    assert!(yaml.contains(from), "base has no `{from}`");
    yaml.replacen(from, to, 1)
}

/// 1-based line of the first line containing `needle`.
fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no `{needle}` in yaml"))
}

fn catalog_err(yaml: &str) -> Error {
    match Catalog::from_yaml(yaml, FILE) {
        Ok(_) => panic!("expected a config error for:\n{yaml}"),
        Err(e) => e,
    }
}

fn assert_config(err: &Error, file: &str, needles: &[&str]) {
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(file), "file `{file}` missing from: {msg}");
    for needle in needles {
        assert!(msg.contains(needle), "`{needle}` missing from: {msg}");
    }
}

#[test]
fn base_class_is_valid() {
    let catalog = Catalog::from_yaml(&base(), FILE).unwrap();
    let ticks = catalog.get("ticks").unwrap();
    assert_eq!(ticks.key, ["symbol", "ts"]);
}

// ---------------------------------------------------------------------------------------------------
// table_config.yaml errors
// ---------------------------------------------------------------------------------------------------

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let yaml = edit("tags: [symbol]", "tags: [symbol");
    let err = catalog_err(&yaml);
    assert_config(&err, FILE, &["line "]);
}

#[test]
fn unknown_field_names_class_path_field_and_line() {
    let yaml = edit("    columns:", "    colums:");
    let err = catalog_err(&yaml);
    let line = line_of(&yaml, "colums:");
    assert_config(
        &err,
        FILE,
        &[
            "classes[0]",
            "unknown field `colums`",
            &format!("line {line}"),
        ],
    );
}

#[test]
fn unknown_type_names_column_and_type() {
    let err = catalog_err(&edit("type: DOUBLE", "type: DOUBEL"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "columns.price.type", "unknown type `DOUBEL`"],
    );
}

#[test]
fn key_naming_an_undeclared_column() {
    let err = catalog_err(&edit(
        "    tags: [symbol]",
        "    tags: [symbol]\n    key: [symbol, nope]",
    ));
    assert_config(
        &err,
        FILE,
        &["class ticks", "key[1]", "`nope` is not a declared column"],
    );
}

#[test]
fn tag_naming_an_undeclared_column() {
    let err = catalog_err(&edit("tags: [symbol]", "tags: [sym]"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "tags[0]", "`sym` is not a declared column"],
    );
}

#[test]
fn duplicate_class() {
    let yaml = base();
    let class_block = &yaml[yaml.find("  - name: ticks").unwrap()..];
    let twice = format!("{yaml}{class_block}");
    let err = catalog_err(&twice);
    assert_config(&err, FILE, &["class ticks", "declared twice"]);
}

#[test]
fn two_classes_on_one_table() {
    let yaml = base();
    let class_block = &yaml[yaml.find("  - name: ticks").unwrap()..];
    let other = class_block.replace("name: ticks", "name: ticks_copy\n    table: ticks");
    let err = catalog_err(&format!("{yaml}{other}"));
    assert_config(
        &err,
        FILE,
        &["class ticks_copy", "table `ticks`", "already used"],
    );
}

#[test]
fn duplicate_column() {
    let err = catalog_err(&edit(
        "      - { name: price, type: DOUBLE }",
        "      - { name: price, type: DOUBLE }\n      - { name: price, type: DOUBLE }",
    ));
    assert_config(
        &err,
        FILE,
        &[
            "class ticks",
            "columns[3].name",
            "`price` is declared twice",
        ],
    );
}

#[test]
fn invalid_column_identifier() {
    let err = catalog_err(&edit("name: price,", "name: Price,"));
    assert_config(
        &err,
        FILE,
        &[
            "class ticks",
            "columns[2].name",
            "`Price` is not a valid identifier",
        ],
    );
}

#[test]
fn invalid_class_identifier() {
    let err = catalog_err(&edit("name: ticks", "name: tick-data"));
    assert_config(
        &err,
        FILE,
        &["class tick-data", "name:", "not a valid identifier"],
    );
}

#[test]
fn bad_time_precision() {
    let err = catalog_err(&edit("precision: ms }", "precision: sec }"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "time.precision", "unknown precision `sec`"],
    );
}

#[test]
fn bad_default_precision() {
    let err = catalog_err(&edit("  precision: ms\n", "  precision: seconds\n"));
    assert_config(&err, FILE, &["defaults.precision", "`seconds`"]);
}

#[test]
fn unsupported_version() {
    let err = catalog_err(&edit("version: 1", "version: 2"));
    assert_config(&err, FILE, &["version 2"]);
}

#[test]
fn time_column_must_be_timestamp_or_date() {
    let err = catalog_err(&edit("column: ts,", "column: symbol,"));
    assert_config(
        &err,
        FILE,
        &[
            "class ticks",
            "time.column",
            "`symbol` is VARCHAR(16)",
            "TIMESTAMP or DATE",
        ],
    );
}

#[test]
fn time_column_must_be_declared() {
    let err = catalog_err(&edit("column: ts,", "column: time,"));
    assert_config(
        &err,
        FILE,
        &[
            "class ticks",
            "time.column",
            "`time` is not a declared column",
        ],
    );
}

#[test]
fn kline_column_must_be_numeric() {
    let err = catalog_err(&edit("kline: { price: price,", "kline: { price: symbol,"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "kline.price", "must be numeric"],
    );
}

#[test]
fn kline_needs_price_or_full_ohlc() {
    let err = catalog_err(&edit("kline: { price: price,", "kline: { open: price,"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "kline:", "`open`, `high`, `low`, `close`"],
    );
}

#[test]
fn float_tag_is_rejected() {
    let yaml = edit("tags: [symbol]", "tags: [symbol, bucket]").replacen(
        "      - { name: price, type: DOUBLE }",
        "      - { name: price, type: DOUBLE }\n      - { name: bucket, type: FLOAT }",
        1,
    );
    let err = catalog_err(&yaml);
    assert_config(&err, FILE, &["class ticks", "tags[1]", "`bucket` is FLOAT"]);
}

#[test]
fn bad_default() {
    let err = catalog_err(&edit("default: 0", "default: lots"));
    assert_config(
        &err,
        FILE,
        &["class ticks", "columns.volume.default", "BIGINT"],
    );
    let err = catalog_err(&edit("default: 0", "default: 1.5"));
    assert_config(
        &err,
        FILE,
        &[
            "class ticks",
            "columns.volume.default",
            "does not fit BIGINT",
        ],
    );
}

#[test]
fn varchar_default_longer_than_the_column() {
    let err = catalog_err(&edit(
        "{ name: symbol, type: VARCHAR(16), nullable: false }",
        "{ name: symbol, type: VARCHAR(4), default: too_long }",
    ));
    assert_config(
        &err,
        FILE,
        &["class ticks", "columns.symbol.default", "VARCHAR(4)"],
    );
}

#[test]
fn unknown_option_field() {
    let yaml = edit(
        "    kline: { price: price, volume: volume }",
        "    kline: { price: price, volume: volume }\n    options:\n      tdengine: { database: market, keep_days: 10 }",
    );
    let err = catalog_err(&yaml);
    let line = line_of(&yaml, "keep_days");
    assert_config(
        &err,
        FILE,
        &[
            "classes[0].options.tdengine",
            "unknown field `keep_days`",
            &format!("line {line}"),
        ],
    );
}

#[test]
fn key_tag_and_time_columns_are_forced_not_null() {
    let yaml = edit(
        "{ name: symbol, type: VARCHAR(16), nullable: false }",
        "{ name: symbol, type: VARCHAR(16), nullable: true }",
    );
    let catalog = Catalog::from_yaml(&yaml, FILE).unwrap();
    let ticks = catalog.get("ticks").unwrap();
    assert!(!ticks.column("symbol").unwrap().nullable);
    assert!(ticks.column("price").unwrap().nullable);
}

// ---------------------------------------------------------------------------------------------------
// quantdal.yaml errors
// ---------------------------------------------------------------------------------------------------

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn settings(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Error> {
    Settings::from_yaml(yaml, SETTINGS_FILE, Path::new("/etc/quantdal"), env)
}

fn settings_err(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Error {
    match settings(yaml, env) {
        Ok(_) => panic!("expected a config error for:\n{yaml}"),
        Err(e) => e,
    }
}

const STORES: &str = r#"version: 1
tables: table_config.yaml
stores:
  main:
    kind: duckdb
    path: data/main.duckdb
routes:
  postgres: main
"#;

#[test]
fn minimal_settings_resolve() {
    let s = settings(STORES, &no_env).unwrap();
    assert_eq!(s.application, "quantdal");
    assert_eq!(s.tables, PathBuf::from("/etc/quantdal/table_config.yaml"));
    let main = s.resolve("postgres").unwrap();
    assert_eq!(main.kind, StoreKind::Duckdb);
    assert_eq!(
        main.path,
        Some(PathBuf::from("/etc/quantdal/data/main.duckdb"))
    );
    // A store's own name routes to itself; an unrouted logical name resolves to nothing.
    assert_eq!(s.resolve("main").unwrap().name, "main");
    assert!(s.resolve("redis").is_none());
    assert_eq!(s.retry.max_attempts, 3);
    assert_eq!(s.monitoring.slow_ms, 1000);
}

#[test]
fn settings_yaml_syntax_error_names_file_and_line() {
    let err = settings_err(&STORES.replace("kind: duckdb", "kind: [duckdb"), &no_env);
    assert_config(&err, SETTINGS_FILE, &["line "]);
}

#[test]
fn settings_unknown_field_names_line() {
    let yaml = STORES.replace("routes:", "rutes:");
    let err = settings_err(&yaml, &no_env);
    let line = line_of(&yaml, "rutes:");
    assert_config(
        &err,
        SETTINGS_FILE,
        &["unknown field `rutes`", &format!("line {line}")],
    );
}

#[test]
fn unknown_store_kind() {
    let yaml = STORES.replace("kind: duckdb", "kind: mysql");
    let err = settings_err(&yaml, &no_env);
    let line = line_of(&yaml, "kind: mysql");
    assert_config(
        &err,
        SETTINGS_FILE,
        &[
            "stores",
            "main",
            "unknown variant `mysql`",
            &format!("line {line}"),
        ],
    );
}

#[test]
fn route_to_undefined_store() {
    let err = settings_err(
        &STORES.replace("postgres: main", "postgres: warehouse"),
        &no_env,
    );
    assert_config(
        &err,
        SETTINGS_FILE,
        &["routes.postgres", "`warehouse`", "not a store defined"],
    );
}

#[test]
fn field_not_valid_for_the_kind() {
    let yaml = STORES.replace(
        "    path: data/main.duckdb",
        "    path: data/main.duckdb\n    url: postgres://localhost/db",
    );
    let err = settings_err(&yaml, &no_env);
    assert_config(
        &err,
        SETTINGS_FILE,
        &["stores.main", "`url` is not a setting of a duckdb store"],
    );
}

#[test]
fn checkpoint_threshold_is_an_embedded_setting() {
    let yaml = STORES.replace(
        "    path: data/main.duckdb",
        "    path: data/main.duckdb\n    checkpoint_threshold: ${QD_CKPT:-128MB}",
    );
    let s = settings(&yaml, &no_env).unwrap();
    assert_eq!(
        s.stores["main"].checkpoint_threshold.as_deref(),
        Some("128MB")
    );
    let on_postgres = STORES.replace(
        "    kind: duckdb\n    path: data/main.duckdb",
        "    kind: postgres\n    url: postgres://localhost/db\n    checkpoint_threshold: 64MB",
    );
    assert_config(
        &settings_err(&on_postgres, &no_env),
        SETTINGS_FILE,
        &["`checkpoint_threshold` is not a setting of a postgres store"],
    );
}

#[test]
fn missing_required_field() {
    let err = settings_err(&STORES.replace("    path: data/main.duckdb\n", ""), &no_env);
    assert_config(&err, SETTINGS_FILE, &["stores.main", "needs `path`"]);

    let yaml = STORES.replace(
        "    path: data/main.duckdb",
        "    path: data/main.duckdb\n  warehouse:\n    kind: postgres\n    schema: public",
    );
    let err = settings_err(&yaml, &no_env);
    assert_config(&err, SETTINGS_FILE, &["stores.warehouse", "needs `url`"]);
}

#[test]
fn bad_timescale_mode() {
    let yaml = STORES.replace(
        "    path: data/main.duckdb",
        "    path: data/main.duckdb\n  warehouse:\n    kind: postgres\n    url: postgres://h/db\n    timescale: yes-please",
    );
    let err = settings_err(&yaml, &no_env);
    assert_config(
        &err,
        SETTINGS_FILE,
        &["stores.warehouse", "timescale must be auto, on or off"],
    );
}

#[test]
fn unset_variable_without_default_names_the_variable() {
    let yaml = STORES.replace("path: data/main.duckdb", "path: ${QD_TEST_DIR}/main.duckdb");
    let err = settings_err(&yaml, &no_env);
    assert_config(
        &err,
        SETTINGS_FILE,
        &[
            "stores.main.path",
            "environment variable QD_TEST_DIR is not set",
        ],
    );
}

#[test]
fn variable_defaults_expand() {
    let yaml = STORES.replace(
        "path: data/main.duckdb",
        "path: \"${QD_TEST_DIR:-../data}/main.duckdb\"",
    );
    let s = settings(&yaml, &no_env).unwrap();
    assert_eq!(
        s.stores["main"].path,
        Some(PathBuf::from("/etc/quantdal/../data/main.duckdb"))
    );
    let s = settings(&yaml, &env_of(&[("QD_TEST_DIR", "/srv/q")])).unwrap();
    assert_eq!(
        s.stores["main"].path,
        Some(PathBuf::from("/srv/q/main.duckdb"))
    );
    // An empty variable counts as unset, as with the shell's `:-`.
    let s = settings(&yaml, &env_of(&[("QD_TEST_DIR", "")])).unwrap();
    assert_eq!(
        s.stores["main"].path,
        Some(PathBuf::from("/etc/quantdal/../data/main.duckdb"))
    );
}

#[test]
fn interpolation_rules() {
    let env = env_of(&[("A", "x"), ("B", "y y")]);
    assert_eq!(interpolate("${A}/${B}", &env).unwrap(), "x/y y");
    assert_eq!(interpolate("${C:-dflt}", &env).unwrap(), "dflt");
    assert_eq!(interpolate("${A:-dflt}", &env).unwrap(), "x");
    assert_eq!(interpolate("${C:-}", &env).unwrap(), "");
    assert_eq!(
        interpolate("cost $$5 and $A", &env).unwrap(),
        "cost $5 and $A"
    );
    assert_eq!(interpolate("$${A}", &env).unwrap(), "${A}");
    assert!(interpolate("${C}", &env)
        .unwrap_err()
        .contains("C is not set"));
    assert!(interpolate("${A", &env)
        .unwrap_err()
        .contains("unterminated"));
    assert!(interpolate("${A-B}", &env)
        .unwrap_err()
        .contains("not a valid variable"));
}

#[test]
fn secrets_never_reach_error_messages() {
    // The expanded value is only used after parsing, so a later error cannot echo it.
    let yaml = r#"version: 1
tables: table_config.yaml
stores:
  warehouse:
    kind: postgres
    url: "${PG_URL}"
routes:
  postgres: nowhere
"#;
    let env = env_of(&[("PG_URL", "postgres://u:hunter2@db/q")]);
    let err = settings_err(yaml, &env);
    assert_config(&err, SETTINGS_FILE, &["routes.postgres"]);
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let s = settings(&yaml.replace("nowhere", "warehouse"), &env).unwrap();
    let debug = format!("{:?}", s.stores["warehouse"]);
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("u:***@db"), "{debug}");
}

#[test]
fn redact_url_hides_passwords() {
    assert_eq!(
        redact_url("postgres://quant:s3cret@pg:5432/quantdal"),
        "postgres://quant:***@pg:5432/quantdal"
    );
    assert_eq!(
        redact_url("redis://:s3cret@cache:6379/0"),
        "redis://:***@cache:6379/0"
    );
    assert_eq!(
        redact_url("taos://root:taosdata@td:6030?timezone=UTC"),
        "taos://root:***@td:6030?timezone=UTC"
    );
    assert_eq!(
        redact_url("postgres://pg/quantdal?user=q&password=s3cret&sslmode=require"),
        "postgres://pg/quantdal?user=q&password=***&sslmode=require"
    );
    assert_eq!(
        redact_url("host=pg user=q password=s3cret dbname=quantdal"),
        "host=pg user=q password=*** dbname=quantdal"
    );
    // Nothing to hide.
    assert_eq!(
        redact_url("postgres://q@pg/quantdal"),
        "postgres://q@pg/quantdal"
    );
    assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
}

#[test]
fn tdengine_dsn_is_kept_and_expanded() {
    let yaml = r#"version: 1
tables: table_config.yaml
stores:
  market:
    kind: tdengine
    dsn: "${TD}"
"#;
    let s = settings(yaml, &env_of(&[("TD", "taos://root:pw@td:6030")])).unwrap();
    let market = s.resolve("market").unwrap();
    assert_eq!(market.kind, StoreKind::Tdengine);
    assert_eq!(market.url.as_deref(), Some("taos://root:pw@td:6030"));

    let err = settings_err(yaml, &no_env);
    assert_config(&err, SETTINGS_FILE, &["stores.market.dsn", "TD is not set"]);

    let err = settings_err(
        &yaml.replace("dsn:", "url:"),
        &env_of(&[("TD", "taos://td:6030")]),
    );
    assert_config(
        &err,
        SETTINGS_FILE,
        &[
            "stores.market",
            "`url` is not a setting of a tdengine store",
        ],
    );
}

// ---------------------------------------------------------------------------------------------------
// The shipped files
// ---------------------------------------------------------------------------------------------------

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

const CLASSES: [&str; 22] = [
    "tick_data",
    "minute_kline",
    "depth_data",
    "daily_kline",
    "symbols",
    "trade_calendar",
    "index_constituents",
    "industry_classes",
    "technical_indicators",
    "quant_factors",
    "model_outputs",
    "trading_signals",
    "order_records",
    "trade_records",
    "position_records",
    "account_funds",
    "data_sources",
    "task_schedules",
    "strategy_params",
    "system_config",
    "realtime_quotes",
    "realtime_positions",
];

fn shipped_catalog() -> Catalog {
    Catalog::from_path(&config_dir().join("table_config.yaml")).unwrap()
}

#[test]
fn shipped_table_config_has_every_class() {
    let catalog = shipped_catalog();
    for name in CLASSES {
        assert!(catalog.get(name).is_some(), "class {name} missing");
    }
    assert_eq!(catalog.classes().len(), CLASSES.len());
    // The copy compiled into the binary is the same file.
    let builtin = Catalog::from_yaml(BUILTIN_TABLE_CONFIG, "<built-in>").unwrap();
    assert_eq!(builtin.classes().len(), catalog.classes().len());
    for class in catalog.classes() {
        assert!(
            ["tdengine", "postgres", "redis"].contains(&class.store.as_str()),
            "{}: store {}",
            class.name,
            class.store
        );
        assert!(
            !class.description.is_empty(),
            "{}: no description",
            class.name
        );
        for c in &class.columns {
            let comment = c.comment.as_deref().unwrap_or("");
            assert!(
                !comment.trim().is_empty(),
                "{}.{} has no comment",
                class.name,
                c.name
            );
        }
    }
}

#[test]
fn shipped_tick_data_is_exact() {
    let catalog = shipped_catalog();
    let tick = catalog.get("tick_data").unwrap();
    let columns: Vec<(&str, NeutralType, bool)> = tick
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type, c.nullable))
        .collect();
    use NeutralType::*;
    assert_eq!(
        columns,
        vec![
            ("ts", Timestamp, false),
            ("symbol", Varchar { length: 16 }, false),
            ("price", Double, false),
            ("volume", BigInt, false),
            ("amount", Double, false),
            ("bid_price1", Double, false),
            ("bid_volume1", BigInt, false),
            ("ask_price1", Double, false),
            ("ask_volume1", BigInt, false),
            ("direction", Varchar { length: 1 }, true),
        ]
    );
    assert_eq!(tick.key, ["symbol", "ts"]);
    assert_eq!(tick.tags, ["symbol"]);
    assert_eq!(tick.store, "tdengine");
    assert_eq!(tick.category, Category::Market);
    assert_eq!(tick.precision(), TimePrecision::Ms);
    assert_eq!(
        tick.kline,
        Some(KlineSource::Ticks {
            price: "price".into(),
            volume: "volume".into(),
            amount: Some("amount".into()),
        })
    );
    let td = tick.options.tdengine.as_ref().unwrap();
    assert_eq!(
        (td.database.as_str(), td.keep, td.duration),
        ("market", Some(3650), Some(10))
    );
}

#[test]
fn shipped_keys_tags_and_times() {
    let catalog = shipped_catalog();
    let key = |name: &str| catalog.get(name).unwrap().key.clone();
    assert_eq!(key("minute_kline"), ["symbol", "frequency", "ts"]);
    assert_eq!(key("depth_data"), ["symbol", "level", "ts"]);
    assert_eq!(key("daily_kline"), ["symbol", "trade_date"]);
    assert_eq!(key("symbols"), ["symbol"]);
    assert_eq!(key("trade_calendar"), ["exchange", "cal_date"]);
    assert_eq!(
        key("index_constituents"),
        ["index_code", "symbol", "trade_date"]
    );
    assert_eq!(key("order_records"), ["order_id"]);
    assert_eq!(key("trade_records"), ["trade_id"]);
    assert_eq!(key("position_records"), ["account_id", "symbol", "ts"]);
    assert_eq!(key("account_funds"), ["account_id", "ts"]);
    assert_eq!(
        key("strategy_params"),
        ["strategy_id", "param_name", "version"]
    );
    assert_eq!(key("system_config"), ["config_key"]);
    assert_eq!(key("realtime_quotes"), ["symbol", "ts"]);

    let depth = catalog.get("depth_data").unwrap();
    assert_eq!(depth.column("level").unwrap().data_type, NeutralType::Int);

    let daily = catalog.get("daily_kline").unwrap();
    assert_eq!(daily.time_column().unwrap().data_type, NeutralType::Date);
    let ts = daily.options.timescale.as_ref().unwrap();
    assert_eq!(ts.chunk_interval.as_deref(), Some("1 year"));
    assert_eq!(ts.compression.as_ref().unwrap().after, "90 days");
    assert_eq!(ts.retention, None);
    let rollups: Vec<(String, &str)> = ts
        .rollups
        .iter()
        .map(|r| (r.view_name("daily_kline"), r.interval.as_str()))
        .collect();
    assert_eq!(
        rollups,
        [
            ("daily_kline_weekly".to_string(), "1 week"),
            ("daily_kline_monthly".to_string(), "1 month")
        ]
    );

    let quotes = catalog.get("realtime_quotes").unwrap();
    let redis = quotes.options.redis.as_ref().unwrap();
    assert_eq!(redis.ttl_seconds, Some(86400));
    assert_eq!(redis.key_prefix.as_deref(), Some("rt:quote"));

    for class in catalog.classes() {
        match class.category {
            Category::Transaction => {
                assert_eq!(class.precision(), TimePrecision::Us, "{}", class.name)
            }
            Category::Derived => {
                assert!(class.options.timescale.is_some(), "{}", class.name)
            }
            _ => {}
        }
    }
}

#[test]
fn shipped_tdengine_database_is_consistent() {
    // TDengine sets precision, KEEP and DURATION per database: every class in one database must agree.
    let catalog = shipped_catalog();
    let mut by_db: HashMap<String, (TimePrecision, Option<u32>, Option<u32>, String)> =
        HashMap::new();
    for class in catalog.classes() {
        if class.store == "tdengine" {
            assert!(class.options.tdengine.is_some(), "{}", class.name);
        }
        let Some(td) = &class.options.tdengine else {
            continue;
        };
        let here = (class.precision(), td.keep, td.duration, class.name.clone());
        if let Some(first) = by_db.get(&td.database) {
            assert_eq!(
                (first.0, first.1, first.2),
                (here.0, here.1, here.2),
                "{} and {} share database {}",
                first.3,
                here.3,
                td.database
            );
        } else {
            by_db.insert(td.database.clone(), here);
        }
    }
    assert_eq!(by_db["market"].0, TimePrecision::Ms);
}

#[test]
fn shipped_prices_are_never_float() {
    let catalog = shipped_catalog();
    let money = [
        "open",
        "high",
        "low",
        "amount",
        "bid1",
        "ask1",
        "cash",
        "available_cash",
        "frozen",
        "market_value",
        "total_asset",
        "avg_cost",
        "commission",
        "tax",
        "fees",
        "unrealized_pnl",
        "realized_pnl",
        "total_mv",
        "circ_mv",
    ];
    for class in catalog.classes() {
        for c in &class.columns {
            assert_ne!(
                c.data_type,
                NeutralType::Float,
                "{}.{} is FLOAT",
                class.name,
                c.name
            );
            let price_like = c.name.contains("price")
                || c.name.contains("close")
                || money.contains(&c.name.as_str());
            if price_like {
                let ok = match class.category {
                    // Money in the books is exact.
                    Category::Transaction => matches!(c.data_type, NeutralType::Decimal { .. }),
                    _ => matches!(
                        c.data_type,
                        NeutralType::Double | NeutralType::Decimal { .. }
                    ),
                };
                assert!(ok, "{}.{} is {}", class.name, c.name, c.data_type);
            }
        }
    }
}

#[test]
fn shipped_default_settings_need_no_environment() {
    let dir = config_dir();
    let path = dir.join("quantdal.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let s = Settings::from_yaml(&text, &path.display().to_string(), &dir, &no_env).unwrap();
    assert_eq!(s.application, "quantdal");
    assert_eq!(s.tables, dir.join("table_config.yaml"));
    assert_eq!(s.stores.len(), 1);
    let catalog = Catalog::from_path(&s.tables).unwrap();
    for class in catalog.classes() {
        let store = s.resolve(&class.store).unwrap();
        assert_eq!(store.name, "embedded", "{}", class.name);
        assert_eq!(store.kind, StoreKind::Duckdb);
        assert_eq!(store.path, Some(dir.join("../data/quantdal.duckdb")));
    }
    assert!(s.monitoring.enabled);
    assert_eq!((s.monitoring.warn_ms, s.monitoring.slow_ms), (200, 1000));
    assert_eq!(
        (
            s.retry.max_attempts,
            s.retry.initial_backoff_ms,
            s.retry.max_backoff_ms
        ),
        (3, 20, 1000)
    );

    let moved = Settings::from_yaml(
        &text,
        "quantdal.yaml",
        &dir,
        &env_of(&[("QUANTDAL_DATA_DIR", "/srv/quantdal")]),
    )
    .unwrap();
    assert_eq!(
        moved.stores["embedded"].path,
        Some(PathBuf::from("/srv/quantdal/quantdal.duckdb"))
    );

    // A route moved by environment to a store this file does not define is an error, not a fallback.
    let err = Settings::from_yaml(
        &text,
        "quantdal.yaml",
        &dir,
        &env_of(&[("QUANTDAL_ROUTE_POSTGRES", "warehouse")]),
    )
    .unwrap_err();
    assert_config(&err, "quantdal.yaml", &["routes.postgres", "`warehouse`"]);

    // And from_path (process environment) reads it too.
    Settings::from_path(&path).unwrap();
}

#[test]
fn shipped_production_settings_parse() {
    let dir = config_dir();
    let path = dir.join("quantdal.production.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let file = path.display().to_string();
    let env = env_of(&[
        ("TDENGINE_DSN", "taos://root:td-secret@td:6030"),
        ("POSTGRES_URL", "postgres://q:pg-secret@pg:5432/quantdal"),
        ("REDIS_URL", "redis://:rd-secret@redis:6379/0"),
    ]);
    let s = Settings::from_yaml(&text, &file, &dir, &env).unwrap();
    let market = s.resolve("tdengine").unwrap();
    assert_eq!(
        (market.name.as_str(), market.kind),
        ("market", StoreKind::Tdengine)
    );
    assert_eq!(market.url.as_deref(), Some("taos://root:td-secret@td:6030"));
    let warehouse = s.resolve("postgres").unwrap();
    assert_eq!(
        (warehouse.name.as_str(), warehouse.kind),
        ("warehouse", StoreKind::Postgres)
    );
    assert_eq!(
        warehouse.url.as_deref(),
        Some("postgres://q:pg-secret@pg:5432/quantdal")
    );
    assert_eq!(warehouse.timescale.as_deref(), Some("auto"));
    let cache = s.resolve("redis").unwrap();
    assert_eq!(
        (cache.name.as_str(), cache.kind),
        ("cache", StoreKind::Redis)
    );

    let catalog = Catalog::from_path(&s.tables).unwrap();
    for class in catalog.classes() {
        let store = s.resolve(&class.store).unwrap();
        let expected = match class.store.as_str() {
            "tdengine" => StoreKind::Tdengine,
            "postgres" => StoreKind::Postgres,
            _ => StoreKind::Redis,
        };
        assert_eq!(store.kind, expected, "{}", class.name);
    }

    // Each connection string is required; the error names the missing variable.
    let partial = env_of(&[
        ("POSTGRES_URL", "postgres://q:pg-secret@pg:5432/quantdal"),
        ("REDIS_URL", "redis://:rd-secret@redis:6379/0"),
    ]);
    let err = Settings::from_yaml(&text, &file, &dir, &partial).unwrap_err();
    assert_config(
        &err,
        "quantdal.production.yaml",
        &["stores.market.dsn", "TDENGINE_DSN"],
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn backend_options_default_to_none() {
    let catalog = Catalog::from_yaml(&base(), FILE).unwrap();
    assert_eq!(
        catalog.get("ticks").unwrap().options,
        BackendOptions::default()
    );
}
