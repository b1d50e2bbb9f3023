//! Generated PostgreSQL text, snapshotted: the DDL of every shipped class (plain and with TimescaleDB), and the
//! statements behind save, load, latest and kline. CI runs plain PostgreSQL, so these snapshots are where a
//! change to the TimescaleDB statements shows up (they were run live against TimescaleDB 2.22 when written).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use quantdal_core::{col, Catalog, Interval, Load, Order, Timestamp};
use quantdal_postgres::{ddl, sql};

fn shipped_catalog() -> Catalog {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/table_config.yaml");
    Catalog::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ddl_of_every_shipped_class() {
    let catalog = shipped_catalog();
    for spec in catalog.classes() {
        let mut text = ddl::table_statements(spec, "quantdal", true, false).join(";\n");
        match ddl::timescale_statements(spec, "quantdal") {
            Ok(ts) if !ts.is_empty() => {
                text.push_str(";\n-- TimescaleDB:\n");
                text.push_str(&ts.join(";\n"));
            }
            Ok(_) => {}
            Err(e) => text.push_str(&format!(";\n-- TimescaleDB refused: {}", e.message())),
        }
        insta::assert_snapshot!(format!("ddl_{}", spec.name), text);
    }
}

#[test]
fn statements_for_ticks_and_daily_bars() {
    let catalog = shipped_catalog();
    let ticks = catalog.get("tick_data").unwrap();
    let daily = catalog.get("daily_kline").unwrap();
    let start = Timestamp::parse("2024-01-02 01:30:00").unwrap();
    let end = Timestamp::parse("2024-01-02 03:30:00").unwrap();
    let q = Load::range(start..end)
        .symbols(["600000.SH", "000001.SZ"])
        .columns(["ts", "symbol", "price"])
        .filter(col("price").between(10.0, 11.5))
        .order(Order::Desc)
        .limit(100)
        .resolve(ticks)
        .unwrap();
    let select = sql::select(ticks, "quantdal", &q);
    let latest = sql::latest(ticks, "quantdal", &q).unwrap();
    let day = Interval::from_seconds(86_400).unwrap();
    let plain = sql::kline(
        ticks,
        "quantdal",
        Interval::from_seconds(300).unwrap(),
        &q,
        false,
    )
    .unwrap();
    let timescale = sql::kline(
        ticks,
        "quantdal",
        Interval::from_seconds(300).unwrap(),
        &q,
        true,
    )
    .unwrap();
    let dq = Load::all().symbols(["600000.SH"]).resolve(daily).unwrap();
    let weekly = sql::kline(
        daily,
        "quantdal",
        Interval::from_seconds(7 * 86_400).unwrap(),
        &dq,
        false,
    )
    .unwrap();
    let text = [
        format!("-- select ({} params)\n{}", select.params.len(), select.sql),
        format!("-- latest ({} params)\n{}", latest.params.len(), latest.sql),
        format!(
            "-- kline 5m, plain ({} params)\n{}",
            plain.params.len(),
            plain.sql
        ),
        format!(
            "-- kline 5m, TimescaleDB ({} params)\n{}",
            timescale.params.len(),
            timescale.sql
        ),
        format!(
            "-- weekly from daily ({} params)\n{}",
            weekly.params.len(),
            weekly.sql
        ),
        format!("-- delete\n{}", sql::delete(ticks, "quantdal", &q).sql),
        format!(
            "-- save: copy\n{}",
            sql::copy_in(ticks, "\"quantdal\".\"tick_data\"")
        ),
        format!(
            "-- save: staging\n{}",
            sql::create_staging(daily, "quantdal")
        ),
        format!(
            "-- save: merge\n{}",
            sql::merge_from_staging(daily, "quantdal")
        ),
        format!("-- day interval is {}s", day.seconds()),
    ]
    .join("\n\n");
    insta::assert_snapshot!("statements", text);
    assert_eq!(
        select.params.len(),
        7,
        "2 time bounds + 2 symbols + 2 between + limit"
    );
}

#[test]
fn a_hypertable_key_must_hold_the_time_column() {
    let yaml = r#"
version: 1
classes:
  - name: fills
    category: transaction
    store: pg
    table: fills
    time: { column: ts, precision: us }
    tags: [account]
    key: [fill_id]
    columns:
      - { name: fill_id, type: BIGINT, nullable: false }
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: account, type: VARCHAR(8), nullable: false }
    options:
      timescale: { chunk_interval: "7 days" }
"#;
    let catalog = Catalog::from_yaml(yaml, "test").unwrap();
    let err = ddl::timescale_statements(catalog.get("fills").unwrap(), "q").unwrap_err();
    assert_eq!(err.class(), Some("fills"));
    assert!(
        err.to_string()
            .contains("needs the time column `ts` in the key"),
        "{err}"
    );
}

#[test]
fn intervals_from_the_yaml_are_checked() {
    let catalog = shipped_catalog();
    let spec = catalog.get("daily_kline").unwrap();
    assert_eq!(
        ddl::interval_literal(spec, "retention", "5 years").unwrap(),
        "INTERVAL '5 years'"
    );
    for bad in [
        "5",
        "five years",
        "1 fortnight",
        "1 day'; DROP TABLE x; --",
        "0 days",
    ] {
        assert!(
            ddl::interval_literal(spec, "retention", bad).is_err(),
            "{bad}"
        );
    }
}
