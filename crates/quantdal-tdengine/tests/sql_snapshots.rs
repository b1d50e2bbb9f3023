//! Every DDL / DML / query generator, snapshotted. Each expected text was checked against the TDengine 3.x
//! SQL reference (CREATE DATABASE options, CREATE STABLE … TAGS, INSERT … USING … TAGS, PARTITION BY,
//! INTERVAL + _wstart, LAST_ROW, DELETE by time range, backquoted identifiers); see docs/tdengine.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use quantdal_core::{col, Catalog, Interval, Load, Operation, Order};
use quantdal_tdengine::sql::{self, Render};
use quantdal_tdengine::{layout, provision_statements, statement_text};

fn interval(text: &str) -> Interval {
    text.parse().unwrap()
}

fn both(f: impl Fn(Render) -> String) -> String {
    format!(
        "{}\n\n-- placeholders:\n{}",
        f(Render::Literals),
        f(Render::Placeholders)
    )
}

#[test]
fn provision_ddl_of_test_classes() {
    let catalog = catalog();
    let mut text = String::new();
    for spec in catalog.classes() {
        text.push_str(&format!(
            "-- {}\n{};\n\n",
            spec.name,
            provision_statements(spec).join(";\n")
        ));
    }
    insta::assert_snapshot!("provision_test_classes", text);
}

#[test]
fn provision_ddl_of_shipped_tdengine_classes() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/table_config.yaml");
    let catalog = Catalog::from_path(&path).unwrap();
    let mut text = String::new();
    for spec in catalog.classes().iter().filter(|s| s.store == "tdengine") {
        text.push_str(&format!(
            "-- {}\n{};\n\n",
            spec.name,
            provision_statements(spec).join(";\n")
        ));
    }
    insta::assert_snapshot!("provision_shipped_classes", text);
}

#[test]
fn select_every_op_projection_desc_and_limit() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let load = Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 07:00:00.0005"))
        .symbols(["600000.SH", "it's"])
        .columns(["ts", "symbol", "price", "volume", "fee", "settle"])
        .filter(col("price").eq(10.5))
        .filter(col("price").ne(11))
        .filter(col("volume").lt(1_000))
        .filter(col("volume").le("2000"))
        .filter(col("lots").gt(1))
        .filter(col("lots").ge(2))
        .filter(col("side").is_in(["B", "S"]))
        .filter(col("fee").between("0.5", 1.25))
        .filter(col("amount").is_null())
        .filter(col("settle").is_not_null())
        .filter(col("ts").ne(at("2024-01-02 02:00:00.123")))
        .filter(col("auction").eq(false))
        .filter(col("settle").ge("2024-01-03"))
        .filter(col("ratio").lt(0.1))
        .filter(col("note").eq("back\\slash 'quote'\nnewline"))
        .order(Order::Desc)
        .limit(50);
    let q = query(&spec, load);
    insta::assert_snapshot!(
        "select_filtered",
        both(|r| sql::select(&spec, &l, &q, r).unwrap().sql)
    );
}

#[test]
fn select_defaults() {
    let mut text = String::new();
    for (name, load) in [
        ("ticks", Load::all()),
        (
            "ns_ticks",
            Load::all()
                .since(at("2024-01-02 01:30:00.000000001"))
                .order(Order::Unordered),
        ),
        (
            "daily",
            Load::range(at("2024-01-01 12:00:00")..at("2024-01-05")),
        ),
        ("depth", Load::all().tag("level", [1, 2]).limit(3)),
    ] {
        let spec = spec(name);
        let l = layout(&spec).unwrap();
        text.push_str(
            &sql::select(&spec, &l, &query(&spec, load), Render::Literals)
                .unwrap()
                .sql,
        );
        text.push('\n');
    }
    insta::assert_snapshot!("select_defaults", text);
}

#[test]
fn latest_per_series() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let q = query(
        &spec,
        Load::all()
            .until(at("2024-01-03"))
            .symbols(["600000.SH"])
            .columns(["price", "ts"]),
    );
    let depth = common::spec("depth");
    let dl = layout(&depth).unwrap();
    let dq = query(&depth, Load::all().filter(col("bid_price").gt(1.5)));
    insta::assert_snapshot!(
        "latest",
        format!(
            "{}\n{}",
            both(|r| sql::latest(&spec, &l, &q, r).unwrap().sql),
            sql::latest(&depth, &dl, &dq, Render::Literals).unwrap().sql
        )
    );
}

#[test]
fn kline_statements() {
    let mut text = String::new();
    for (name, iv, load) in [
        (
            "ticks",
            "1m",
            Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 02:30:00"))
                .symbols(["600000.SH"]),
        ),
        ("ns_ticks", "5m", Load::all().order(Order::Unordered)),
        (
            "bars",
            "1h",
            Load::range(at("2024-01-02")..at("2024-01-03")).filter(col("frequency").eq("1m")),
        ),
        (
            "daily",
            "7d",
            Load::range(at("2024-01-01")..at("2024-04-01")).symbols(["600000.SH"]),
        ),
    ] {
        let spec = spec(name);
        let l = layout(&spec).unwrap();
        let q = query(&spec, load);
        text.push_str(&format!(
            "-- {name} {iv}\n{}\n",
            sql::kline(&spec, &l, interval(iv), &q, Render::Literals)
                .unwrap()
                .unwrap()
                .sql
        ));
    }
    insta::assert_snapshot!("kline", text);
}

#[test]
fn delete_and_count_statements() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let range = || Load::range(at("2024-01-02 01:30:00")..at("2024-01-02 02:30:00"));
    let by_time = sql::delete_plan(&spec, &l, &query(&spec, range()), Render::Literals).unwrap();
    let by_tag = sql::delete_plan(
        &spec,
        &l,
        &query(&spec, range().symbols(["600000.SH"])),
        Render::Literals,
    )
    .unwrap();
    let sub = sql::delete_subtable(
        &spec,
        &l,
        "t_600000_sh_0123",
        &query(&spec, range().symbols(["600000.SH"])),
        Render::Literals,
    )
    .unwrap();
    let count = sql::count(&spec, &l, None).unwrap();
    insta::assert_snapshot!(
        "delete_count",
        format!("{by_time:#?}\n{by_tag:#?}\n{}\n{}", sub.sql, count.sql)
    );
    // Value predicates cannot drive a TDengine DELETE: the matching rows are found first, then each sub-table
    // deletes exactly their timestamps.
    let by_value = sql::delete_plan(
        &spec,
        &l,
        &query(&spec, range().filter(col("price").gt(1.0))),
        Render::Literals,
    )
    .unwrap();
    // Matches at 1, 2, 5 and 7 (out of order, as a server may return them): three windows, never over 3 or 6.
    let mut found = vec![
        (5, true),
        (1, true),
        (3, false),
        (2, true),
        (6, false),
        (7, true),
        (4, false),
    ];
    let rows = sql::delete_rows(&spec, &l, "t_600000_sh_0123", &mut found).unwrap();
    insta::assert_snapshot!(
        "delete_by_value",
        format!("{by_value:#?}\n{}", rows.join("\n"))
    );
    assert!(sql::delete_rows(&spec, &l, "t`x", &mut [(1, true)]).is_err());
}

#[test]
fn deletes_without_a_time_bound_drop_whole_sub_tables() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let everything =
        sql::delete_plan(&spec, &l, &query(&spec, Load::all()), Render::Literals).unwrap();
    let series = sql::delete_plan(
        &spec,
        &l,
        &query(&spec, Load::all().symbols(["600000.SH"])),
        Render::Literals,
    )
    .unwrap();
    // A time predicate (not only a range) bounds the delete: those series keep their other rows.
    let bounded = sql::delete_plan(
        &spec,
        &l,
        &query(
            &spec,
            Load::all()
                .symbols(["600000.SH"])
                .filter(col("ts").ge(at("2024-01-02 01:30:00"))),
        ),
        Render::Literals,
    )
    .unwrap();
    let names: Vec<String> = (0..1_001).map(|i| format!("t_s_{i:04}")).collect();
    let drops = sql::drop_subtables(&l, &names).unwrap();
    assert_eq!(drops.len(), 2, "1,000 names per statement");
    assert!(drops[1].contains("`t_s_1000`") && !drops[1].contains("t_s_0999"));
    insta::assert_snapshot!(
        "delete_whole",
        format!("{everything:#?}\n{series:#?}\n{bounded:#?}\n{}", &drops[1])
    );
    assert!(sql::drop_subtables(&l, &["t`x".to_string()]).is_err());
}

#[test]
fn insert_template_and_statement_hook() {
    let mut text = String::new();
    for name in ["ticks", "bars", "depth"] {
        let spec = spec(name);
        let l = layout(&spec).unwrap();
        let t = sql::insert_template(&spec, &l);
        text.push_str(&format!("{} -- {} parameters\n", t.sql, t.parameters));
    }
    let spec = spec("ticks");
    let q = query(
        &spec,
        Load::range(at("2024-01-02")..at("2024-01-03"))
            .symbols(["A", "B"])
            .limit(5),
    );
    for op in [
        Operation::Provision,
        Operation::Save,
        Operation::Load,
        Operation::Latest,
        Operation::Kline,
        Operation::Delete,
        Operation::Count,
    ] {
        let s = statement_text(&spec, op, Some(&q)).unwrap();
        assert!(
            !s.sql.contains("'A'"),
            "values never reach statement text: {}",
            s.sql
        );
        text.push_str(&format!("{op}: {} -- {} parameters\n", s.sql, s.parameters));
    }
    insta::assert_snapshot!("insert_and_statements", text);
}

#[test]
fn classes_tdengine_cannot_hold_are_refused_with_reasons() {
    for (name, needle) in [
        ("instruments", "no time column"),
        ("wide_decimal", "more than 18 digits"),
    ] {
        let spec = spec(name);
        let err = layout(&spec).unwrap_err();
        assert_eq!(err.kind(), quantdal_core::ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains(needle), "{err}");
        assert_eq!(err.class(), Some(name));
        let dry = provision_statements(&spec);
        assert_eq!(dry.len(), 1);
        assert!(dry[0].starts_with("-- "), "{dry:?}");
    }
}
