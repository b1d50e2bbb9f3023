//! DDL of every shipped class, snapshotted: a change to the generated tables shows up in review as a diff of
//! `tests/snapshots/ddl_snapshots__ddl_<class>.snap`.

use std::path::PathBuf;

use quantdal_core::Catalog;

fn shipped_catalog() -> Catalog {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/table_config.yaml");
    Catalog::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ddl_of_every_shipped_class() {
    let catalog = shipped_catalog();
    assert_eq!(catalog.classes().len(), 22, "classes in table_config.yaml");
    for spec in catalog.classes() {
        let text = quantdal_duckdb::create_statements(spec).join(";\n");
        insta::assert_snapshot!(format!("ddl_{}", spec.name), text);
    }
}

#[test]
fn every_identifying_column_is_not_null_and_the_key_is_the_primary_key() {
    for spec in shipped_catalog().classes() {
        let statements = quantdal_duckdb::create_statements(spec);
        let create = &statements[0];
        assert!(
            create.starts_with(&format!("CREATE TABLE IF NOT EXISTS \"{}\" (", spec.table)),
            "{create}"
        );
        let mut identifying: Vec<&str> = spec.key.iter().map(String::as_str).collect();
        identifying.extend(spec.tags.iter().map(String::as_str));
        if let Some(t) = &spec.time {
            identifying.push(&t.column);
        }
        for name in identifying {
            let line = create
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("\"{name}\" ")))
                .unwrap_or_else(|| panic!("{}: no line for {name}", spec.name));
            assert!(line.contains(" NOT NULL"), "{}: {line}", spec.name);
        }
        let time_in_key = spec
            .time
            .as_ref()
            .is_some_and(|t| spec.key.contains(&t.column));
        if spec.key.is_empty() || time_in_key {
            // No key, or the series layout (the save path keeps a key holding the time unique).
            assert!(!create.contains("PRIMARY KEY"), "{create}");
        } else {
            let key: Vec<String> = spec.key.iter().map(|k| format!("\"{k}\"")).collect();
            assert!(
                create.contains(&format!("    PRIMARY KEY ({})\n", key.join(", "))),
                "{create}"
            );
        }
        // One statement per index, one table comment, one per commented column.
        let comments = spec.columns.iter().filter(|c| c.comment.is_some()).count();
        assert_eq!(
            statements.len(),
            1 + spec.indexes.len() + usize::from(!spec.description.is_empty()) + comments,
            "{}",
            spec.name
        );
    }
}

/// What the shipped catalog does not exercise: nanosecond precision, quotes in descriptions, comments and
/// text defaults, a named unique index, FLOAT / JSON / wide DECIMAL, and a class with no key, no time
/// column and no description.
const EDGE_CASES: &str = r#"
version: 1
classes:
  - name: ns_quotes
    category: market
    description: "Quotes on the exchange's nanosecond clock, 'as received'"
    store: main
    time: { column: ts, precision: ns }
    tags: [venue]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: venue, type: VARCHAR(8), comment: "Venue code" }
      - { name: recv_ts, type: TIMESTAMP, comment: "Receive time, at the class precision" }
      - { name: px, type: "DECIMAL(38,10)", nullable: false }
      - { name: ratio, type: FLOAT }
      - { name: note, type: TEXT, nullable: false, default: "it's", comment: "Free text, e.g. 'n/a'" }
      - { name: meta, type: JSON }
    indexes:
      - { name: ns_quotes_px_uq, columns: [px, ts], unique: true }

  - name: audit_log
    category: meta
    store: main
    columns:
      - { name: at, type: TIMESTAMP }
      - { name: line, type: TEXT, nullable: false }
"#;

#[test]
fn ddl_of_edge_cases() {
    let catalog = Catalog::from_yaml(EDGE_CASES, "<edge cases>").unwrap();
    for spec in catalog.classes() {
        let text = quantdal_duckdb::create_statements(spec).join(";\n");
        insta::assert_snapshot!(format!("ddl_edge_{}", spec.name), text);
    }
}

#[test]
fn the_ddl_runs_in_duckdb_and_is_idempotent() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let edge = Catalog::from_yaml(EDGE_CASES, "<edge cases>").unwrap();
    let shipped = shipped_catalog();
    for _ in 0..2 {
        for spec in shipped.classes().iter().chain(edge.classes()) {
            for statement in quantdal_duckdb::create_statements(spec) {
                conn.execute_batch(&statement)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{statement}", spec.name));
            }
        }
    }
    let comment: String = conn
        .query_row(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'ns_quotes' AND column_name = 'note'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(comment, "Free text, e.g. 'n/a'");
}

/// Slow-query records show the statement each operation runs, with placeholders where the values go.
#[test]
fn statements_for_slow_query_records_have_placeholders_only() {
    use quantdal_core::{Load, Operation, Store};
    let catalog = shipped_catalog();
    let spec = catalog
        .get("tick_data")
        .unwrap_or_else(|| panic!("tick_data"));
    let store =
        quantdal_duckdb::DuckDbStore::open("mem", quantdal_duckdb::DuckDbOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
    let q = Load::all()
        .symbols(["600000.SH"])
        .limit(5)
        .resolve(spec)
        .unwrap_or_else(|e| panic!("{e}"));
    for op in [
        Operation::Save,
        Operation::Load,
        Operation::Latest,
        Operation::Kline,
        Operation::Delete,
        Operation::Count,
    ] {
        let text = store
            .statement(spec, op, Some(&q))
            .unwrap_or_else(|| panic!("{op} has a statement"));
        assert!(
            !text.sql.contains("600000"),
            "{op}: no values in {}",
            text.sql
        );
        assert_eq!(
            text.sql.matches('?').count(),
            text.parameters,
            "{op}: one placeholder per parameter in {}",
            text.sql
        );
    }
    assert!(store.statement(spec, Operation::Provision, None).is_none());
}
