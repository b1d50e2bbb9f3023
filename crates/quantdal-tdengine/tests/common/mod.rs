//! A small catalog covering every column type, precision and tag shape TDengine can hold.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use quantdal_core::{Catalog, Query, TableSpec, Timestamp};

pub const CATALOG: &str = r#"
version: 1
classes:
  - name: ticks
    category: market
    description: "Ticks: it's a test \\ with a quote"
    store: td
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE }
      - { name: lots, type: INT }
      - { name: fee, type: "DECIMAL(18,4)" }
      - { name: side, type: VARCHAR(1) }
      - { name: auction, type: BOOL }
      - { name: settle, type: DATE }
      - { name: ratio, type: FLOAT }
      - { name: note, type: TEXT }
      - { name: meta, type: JSON }
    kline: { price: price, volume: volume, amount: amount }
    options:
      tdengine: { database: market, keep: 3650, duration: 10, replica: 1, vgroups: 4 }

  - name: ns_ticks
    category: market
    store: td
    time: { column: ts, precision: ns }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: size, type: DOUBLE, nullable: false }
    kline: { price: price, volume: size }
    options:
      tdengine: { database: hft }

  - name: bars
    category: market
    store: td
    time: { column: ts, precision: us }
    tags: [symbol, frequency]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: frequency, type: VARCHAR(8) }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE, nullable: false }
    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: amount }
    options:
      tdengine: { database: bars_us }

  - name: daily
    category: market
    store: td
    time: { column: trade_date }
    tags: [symbol]
    columns:
      - { name: trade_date, type: DATE }
      - { name: symbol, type: VARCHAR(16) }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: turnover, type: "DECIMAL(18,4)", nullable: false }
    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: turnover }
    options:
      tdengine: { database: market }

  - name: depth
    category: market
    store: td
    time: { column: ts, precision: ms }
    tags: [symbol, level]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: level, type: INT }
      - { name: bid_price, type: DOUBLE }
      - { name: ask_price, type: DOUBLE }
    options:
      tdengine: { database: market }

  - name: instruments
    category: reference
    store: td
    key: [code]
    columns:
      - { name: code, type: VARCHAR(16) }
      - { name: name, type: TEXT, nullable: false }

  - name: wide_decimal
    category: market
    store: td
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: notional, type: "DECIMAL(30,2)" }
"#;

pub fn catalog() -> Catalog {
    Catalog::from_yaml(CATALOG, "<tdengine tests>").unwrap()
}

pub fn spec(name: &str) -> Arc<TableSpec> {
    catalog().get(name).unwrap().clone()
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

pub fn query(spec: &TableSpec, load: quantdal_core::Load) -> Query {
    load.resolve(spec).unwrap()
}
