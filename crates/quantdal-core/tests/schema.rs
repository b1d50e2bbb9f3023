//! The JSON Schemas in `schemas/` accept the shipped config files and reject the mistakes the parser
//! rejects structurally (unknown fields, wrong enums, fields of another store kind), so editors that
//! use them flag errors before quantdal runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator(schema: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(schema)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    // Building checks the schema against the 2020-12 meta-schema too.
    jsonschema::draft202012::new(&schema).unwrap()
}

fn yaml_to_json(text: &str) -> Value {
    serde_yaml::from_str::<Value>(text).unwrap()
}

fn shipped(file: &str) -> String {
    std::fs::read_to_string(root().join("config").join(file)).unwrap()
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn assert_valid(v: &jsonschema::Validator, yaml: &str, what: &str) {
    let errs = errors(v, &yaml_to_json(yaml));
    assert!(
        errs.is_empty(),
        "{what} fails its schema:\n{}",
        errs.join("\n")
    );
}

fn assert_invalid(v: &jsonschema::Validator, yaml: &str, what: &str) {
    assert!(
        !v.is_valid(&yaml_to_json(yaml)),
        "{what} should fail the schema"
    );
}

#[test]
fn shipped_table_config_matches_schema() {
    let v = validator("table_config.schema.json");
    assert_valid(
        &v,
        &shipped("table_config.yaml"),
        "config/table_config.yaml",
    );
}

#[test]
fn shipped_settings_match_schema() {
    let v = validator("quantdal.schema.json");
    assert_valid(&v, &shipped("quantdal.yaml"), "config/quantdal.yaml");
    assert_valid(
        &v,
        &shipped("quantdal.production.yaml"),
        "config/quantdal.production.yaml",
    );
}

#[test]
fn table_config_schema_rejects_mistakes() {
    let v = validator("table_config.schema.json");
    let good = shipped("table_config.yaml");
    let cases = [
        ("    columns:\n", "    colums:\n", "typo'd class field"),
        ("category: market", "category: markets", "unknown category"),
        ("type: DOUBLE", "type: DOUBEL", "unknown type"),
        ("type: DOUBLE", "type: Double", "mixed-case type"),
        (
            "type: VARCHAR(16)",
            "type: VARCHAR",
            "VARCHAR without a length",
        ),
        ("name: tick_data", "name: TickData", "invalid identifier"),
        ("precision: ms }", "precision: sec }", "bad precision"),
        (
            "database: market,",
            "db: market,",
            "unknown tdengine option",
        ),
        ("ttl_seconds: 86400", "ttl: 86400", "unknown redis option"),
        ("version: 1", "version: 2", "unsupported version"),
        (
            "kline: { price: price, volume: volume, amount: amount }",
            "kline: { price: price, open: price, volume: volume }",
            "kline mixing ticks and bars",
        ),
    ];
    for (from, to, what) in cases {
        assert!(good.contains(from), "shipped file has no `{from}`");
        assert_invalid(&v, &good.replacen(from, to, 1), what);
    }
}

#[test]
fn settings_schema_rejects_mistakes() {
    let v = validator("quantdal.schema.json");
    let good = shipped("quantdal.yaml");
    let prod = shipped("quantdal.production.yaml");
    let cases = [
        (&good, "routes:", "rutes:", "typo'd top-level field"),
        (&good, "kind: duckdb", "kind: mysql", "unknown store kind"),
        (
            &good,
            "    path: \"${QUANTDAL_DATA_DIR:-../data}/quantdal.duckdb\"",
            "    url: postgres://localhost/q",
            "duckdb store with url instead of path",
        ),
        (&good, "slow_ms: 1000", "slow_ms: 1s", "non-integer slow_ms"),
        (&good, "max_attempts: 3", "max_attempts: 0", "zero attempts"),
        (
            &prod,
            "timescale: auto",
            "timescale: maybe",
            "bad timescale mode",
        ),
        (
            &prod,
            "dsn: \"${TDENGINE_DSN}\"",
            "url: \"${TDENGINE_DSN}\"",
            "tdengine with url",
        ),
        (
            &prod,
            "statement_timeout_ms: 60000",
            "statment_timeout_ms: 60000",
            "typo'd store field",
        ),
    ];
    for (base, from, to, what) in cases {
        assert!(base.contains(from), "shipped file has no `{from}`");
        assert_invalid(&v, &base.replacen(from, to, 1), what);
    }
}

#[test]
fn schemas_accept_what_the_parser_accepts() {
    // Spellings the parser takes that the shipped file does not use.
    let v = validator("table_config.schema.json");
    let yaml = r#"
version: 1
classes:
  - name: t
    category: meta
    store: postgres
    key: [id]
    columns:
      - { name: id, type: bigint }
      - { name: amount, type: DECIMAL, precision: 18, scale: 4, default: 0 }
      - { name: code, type: VARCHAR, length: 8, default: x }
      - { name: note, type: "NUMERIC(10, 2)" }
    indexes:
      - { columns: [code], unique: true }
"#;
    assert_valid(&v, yaml, "alternative type spellings");
    quantdal_core::Catalog::from_yaml(yaml, "inline").unwrap();
    assert_invalid(
        &v,
        &yaml.replace(", length: 8", ""),
        "bare VARCHAR without length",
    );
    assert_invalid(
        &v,
        &yaml.replace(", precision: 18, scale: 4", ""),
        "bare DECIMAL without precision",
    );
}
