//! The test catalog every store runs against, and the typed rows / Arrow batch builders and readers the
//! conformance checks use. Readers assert each column's Arrow type before decoding it, so a store that returns
//! the right values in the wrong type fails as loudly as one that returns wrong values.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMillisecondType, TimestampNanosecondType,
};
use chrono::NaiveDate;
use quantdal::Timestamp;

/// The test catalog. Every class names the logical store `main`, so a harness routes the whole catalog to
/// the store under test by defining a store (or a route) called `main`.
pub const FIXTURE: &str = r#"
version: 1
defaults:
  precision: ms
classes:
  - name: ticks
    category: market
    description: "Trades: one price per row, series = symbol."
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE, nullable: false }
      - { name: side, type: VARCHAR(1), nullable: true }
    kline: { price: price, volume: volume, amount: amount }

  - name: bars
    category: market
    description: "OHLCV bars, series = (symbol, frequency)."
    store: main
    time: { column: ts }
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

  - name: daily
    category: market
    description: "Daily bars keyed by a DATE, with exact money and free-form metadata."
    store: main
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
      - { name: board, type: VARCHAR(8) }
      - { name: suspended, type: BOOL }
      - { name: meta, type: JSON }
    kline: { open: open, high: high, low: low, close: close, volume: volume, amount: turnover }

  - name: ns_ticks
    category: market
    description: "Ticks at nanosecond precision."
    store: main
    time: { column: ts, precision: ns }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }

  - name: instruments
    category: reference
    description: "Reference data: no time column, keyed by code."
    store: main
    key: [code]
    columns:
      - { name: code, type: VARCHAR(16) }
      - { name: name, type: TEXT, nullable: false }
      - { name: lot_size, type: INT, nullable: false }
      - { name: tick_size, type: "DECIMAL(10,4)", nullable: false }
      - { name: active, type: BOOL, nullable: false }
      - { name: listed, type: DATE }
      - { name: attrs, type: JSON }
"#;

/// The fixture's classes, in file order (= provisioning order).
pub const CLASSES: [&str; 5] = ["ticks", "bars", "daily", "ns_ticks", "instruments"];

/// 2024-01-02 01:30:00 UTC in milliseconds: a Tuesday, on a 1m / 5m / 15m bucket boundary.
pub const T0: i64 = 1_704_159_000_000;

/// The symbols of [`tick_grid`], in byte order (the order loads return series in).
pub const SYMBOLS: [&str; 3] = ["000001.SZ", "300750.SZ", "600000.SH"];

/// An instant given in milliseconds since the epoch.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(ms * 1_000_000)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("{y}-{m}-{d} is not a date"))
}

/// Days since 1970-01-01 (the Date32 value) of a calendar date.
pub fn day(y: i32, m: u32, d: u32) -> i32 {
    let days = (date(y, m, d) - date(1970, 1, 1)).num_days();
    i32::try_from(days).expect("date in Date32 range")
}

// ------------------------------------------------------------------------------------------------------
// Arrow array builders
// ------------------------------------------------------------------------------------------------------

/// A batch from named columns, in the order given (which need not be the class's order).
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap_or_else(|e| panic!("building a test batch: {e}"))
}

pub fn ts_ms(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(values).with_timezone("UTC"))
}

pub fn ts_ms_opt(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
}

pub fn ts_ns(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_iter_values(values).with_timezone("UTC"))
}

pub fn strs<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

pub fn opt_strs<S: AsRef<str>>(values: impl IntoIterator<Item = Option<S>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<StringArray>())
}

pub fn f64s(values: impl IntoIterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

pub fn i64s(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values))
}

pub fn opt_i64s(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub fn opt_bools(values: Vec<Option<bool>>) -> ArrayRef {
    Arc::new(BooleanArray::from(values))
}

pub fn opt_dates(values: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Date32Array::from(values))
}

pub fn dates(values: impl IntoIterator<Item = i32>) -> ArrayRef {
    Arc::new(Date32Array::from_iter_values(values))
}

/// Decimal128(precision, scale) from unscaled values.
pub fn decimals(values: Vec<Option<i128>>, precision: u8, scale: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values)
            .with_precision_and_scale(precision, scale)
            .unwrap_or_else(|e| panic!("decimal({precision},{scale}) test array: {e}")),
    )
}

// ------------------------------------------------------------------------------------------------------
// Typed readers
// ------------------------------------------------------------------------------------------------------

pub fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

pub fn utc_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The column `name` of `batch`, after asserting its type is `expected`.
pub fn typed<'a>(batch: &'a RecordBatch, name: &str, expected: &DataType) -> &'a ArrayRef {
    let array = batch.column_by_name(name).unwrap_or_else(|| {
        panic!(
            "column `{name}` missing from a loaded batch with schema {:?}",
            batch.schema()
        )
    });
    assert_eq!(
        array.data_type(),
        expected,
        "Arrow type of loaded column `{name}`"
    );
    array
}

pub fn read_str(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let a = typed(batch, name, &DataType::Utf8).as_string::<i32>();
    a.is_valid(row).then(|| a.value(row).to_string())
}

pub fn read_f64(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let a = typed(batch, name, &DataType::Float64).as_primitive::<Float64Type>();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_i64(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let a = typed(batch, name, &DataType::Int64).as_primitive::<Int64Type>();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_i32(batch: &RecordBatch, name: &str, row: usize) -> Option<i32> {
    let a = typed(batch, name, &DataType::Int32).as_primitive::<Int32Type>();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_bool(batch: &RecordBatch, name: &str, row: usize) -> Option<bool> {
    let a = typed(batch, name, &DataType::Boolean).as_boolean();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_date(batch: &RecordBatch, name: &str, row: usize) -> Option<i32> {
    let a = typed(batch, name, &DataType::Date32).as_primitive::<Date32Type>();
    a.is_valid(row).then(|| a.value(row))
}

/// Unscaled value of a `Decimal128(precision, scale)` column.
pub fn read_decimal(
    batch: &RecordBatch,
    name: &str,
    precision: u8,
    scale: i8,
    row: usize,
) -> Option<i128> {
    let a = typed(batch, name, &DataType::Decimal128(precision, scale))
        .as_primitive::<Decimal128Type>();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_ts_ms(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let a = typed(batch, name, &utc_ms()).as_primitive::<TimestampMillisecondType>();
    a.is_valid(row).then(|| a.value(row))
}

pub fn read_ts_ns(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let a = typed(batch, name, &utc_ns()).as_primitive::<TimestampNanosecondType>();
    a.is_valid(row).then(|| a.value(row))
}

/// Every row of `batches`, decoded by `f`.
pub fn rows<T>(batches: &[RecordBatch], f: impl Fn(&RecordBatch, usize) -> T) -> Vec<T> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| (b, r)))
        .map(|(b, r)| f(b, r))
        .collect()
}

pub fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn some<T>(value: Option<T>, column: &str) -> T {
    value.unwrap_or_else(|| panic!("loaded a null in non-null column `{column}`"))
}

// ------------------------------------------------------------------------------------------------------
// ticks
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub symbol: String,
    /// Milliseconds since the epoch.
    pub ts: i64,
    pub price: f64,
    pub volume: i64,
    pub amount: f64,
    pub side: Option<String>,
}

impl Tick {
    /// A tick with `amount = price * volume` and no side.
    pub fn new(symbol: &str, ts: i64, price: f64, volume: i64) -> Tick {
        Tick {
            symbol: symbol.to_string(),
            ts,
            price,
            volume,
            amount: price * volume as f64,
            side: None,
        }
    }
    pub fn side(mut self, side: &str) -> Tick {
        self.side = Some(side.to_string());
        self
    }
    pub fn key(&self) -> (String, i64) {
        (self.symbol.clone(), self.ts)
    }
}

/// Columns deliberately not in the class's order: stores must map by name.
pub fn ticks_batch(rows: &[Tick]) -> RecordBatch {
    batch(vec![
        ("symbol", strs(rows.iter().map(|t| t.symbol.as_str()))),
        ("ts", ts_ms(rows.iter().map(|t| t.ts))),
        ("price", f64s(rows.iter().map(|t| t.price))),
        ("volume", i64s(rows.iter().map(|t| t.volume))),
        ("amount", f64s(rows.iter().map(|t| t.amount))),
        ("side", opt_strs(rows.iter().map(|t| t.side.as_deref()))),
    ])
}

pub fn ticks_from(batches: &[RecordBatch]) -> Vec<Tick> {
    rows(batches, |b, r| Tick {
        symbol: some(read_str(b, "symbol", r), "symbol"),
        ts: some(read_ts_ms(b, "ts", r), "ts"),
        price: some(read_f64(b, "price", r), "price"),
        volume: some(read_i64(b, "volume", r), "volume"),
        amount: some(read_f64(b, "amount", r), "amount"),
        side: read_str(b, "side", r),
    })
}

/// Sorted like a default (ascending) load: by series, then time.
pub fn sorted_ticks(mut rows: Vec<Tick>) -> Vec<Tick> {
    rows.sort_by_key(|a| a.key());
    rows
}

/// 3 symbols x 10 ticks one second apart from [`T0`], generated newest-first so that an ordered load cannot
/// pass by returning insertion order. Tick `i` of a symbol: price `base + i/4`, volume `100 (i + 1)`, side
/// `B` for i = 0, 4, 8, `S` for i = 2, 6 and null for odd i. Bases: 000001.SZ 12.5, 300750.SZ 180,
/// 600000.SH 10.
pub fn tick_grid() -> Vec<Tick> {
    let mut out = Vec::new();
    for i in (0..10i64).rev() {
        for (symbol, base) in [
            ("600000.SH", 10.0),
            ("000001.SZ", 12.5),
            ("300750.SZ", 180.0),
        ] {
            let tick = Tick::new(
                symbol,
                T0 + i * 1_000,
                base + i as f64 * 0.25,
                100 * (i + 1),
            );
            out.push(match i {
                0 | 4 | 8 => tick.side("B"),
                2 | 6 => tick.side("S"),
                _ => tick,
            });
        }
    }
    out
}

/// `n` ticks per symbol, one millisecond apart from [`T0`] (for multi-batch reads).
pub fn many_ticks(symbols: &[&str], n: i64) -> Vec<Tick> {
    let mut out = Vec::new();
    for (k, symbol) in symbols.iter().enumerate() {
        for i in 0..n {
            let t = Tick::new(
                symbol,
                T0 + i,
                1.0 + (i % 400) as f64 * 0.25 + k as f64,
                1 + i % 7,
            );
            out.push(if i % 3 == 0 { t.side("B") } else { t });
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------------
// bars
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub symbol: String,
    pub frequency: String,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub amount: f64,
}

impl Bar {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        symbol: &str,
        frequency: &str,
        ts: i64,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: i64,
        amount: f64,
    ) -> Bar {
        Bar {
            symbol: symbol.into(),
            frequency: frequency.into(),
            ts,
            open,
            high,
            low,
            close,
            volume,
            amount,
        }
    }
}

pub fn bars_batch(rows: &[Bar]) -> RecordBatch {
    batch(vec![
        ("ts", ts_ms(rows.iter().map(|b| b.ts))),
        ("symbol", strs(rows.iter().map(|b| b.symbol.as_str()))),
        ("frequency", strs(rows.iter().map(|b| b.frequency.as_str()))),
        ("open", f64s(rows.iter().map(|b| b.open))),
        ("high", f64s(rows.iter().map(|b| b.high))),
        ("low", f64s(rows.iter().map(|b| b.low))),
        ("close", f64s(rows.iter().map(|b| b.close))),
        ("volume", i64s(rows.iter().map(|b| b.volume))),
        ("amount", f64s(rows.iter().map(|b| b.amount))),
    ])
}

pub fn bars_from(batches: &[RecordBatch]) -> Vec<Bar> {
    rows(batches, |b, r| Bar {
        symbol: some(read_str(b, "symbol", r), "symbol"),
        frequency: some(read_str(b, "frequency", r), "frequency"),
        ts: some(read_ts_ms(b, "ts", r), "ts"),
        open: some(read_f64(b, "open", r), "open"),
        high: some(read_f64(b, "high", r), "high"),
        low: some(read_f64(b, "low", r), "low"),
        close: some(read_f64(b, "close", r), "close"),
        volume: some(read_i64(b, "volume", r), "volume"),
        amount: some(read_f64(b, "amount", r), "amount"),
    })
}

// ------------------------------------------------------------------------------------------------------
// daily
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Daily {
    pub symbol: String,
    /// Days since the epoch.
    pub trade_date: i32,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    /// Unscaled DECIMAL(18,4).
    pub turnover: i128,
    pub board: Option<String>,
    pub suspended: Option<bool>,
    pub meta: Option<String>,
}

impl Daily {
    /// A day with `high = open + 1`, `low = open - 0.5`, `close = open + 0.25` and no optional fields.
    pub fn new(symbol: &str, trade_date: i32, open: f64, volume: i64, turnover: i128) -> Daily {
        Daily {
            symbol: symbol.into(),
            trade_date,
            open,
            high: open + 1.0,
            low: open - 0.5,
            close: open + 0.25,
            volume,
            turnover,
            board: None,
            suspended: None,
            meta: None,
        }
    }
}

pub fn daily_batch(rows: &[Daily]) -> RecordBatch {
    batch(vec![
        ("trade_date", dates(rows.iter().map(|d| d.trade_date))),
        ("symbol", strs(rows.iter().map(|d| d.symbol.as_str()))),
        ("open", f64s(rows.iter().map(|d| d.open))),
        ("high", f64s(rows.iter().map(|d| d.high))),
        ("low", f64s(rows.iter().map(|d| d.low))),
        ("close", f64s(rows.iter().map(|d| d.close))),
        ("volume", i64s(rows.iter().map(|d| d.volume))),
        (
            "turnover",
            decimals(rows.iter().map(|d| Some(d.turnover)).collect(), 18, 4),
        ),
        ("board", opt_strs(rows.iter().map(|d| d.board.as_deref()))),
        (
            "suspended",
            opt_bools(rows.iter().map(|d| d.suspended).collect()),
        ),
        ("meta", opt_strs(rows.iter().map(|d| d.meta.as_deref()))),
    ])
}

pub fn daily_from(batches: &[RecordBatch]) -> Vec<Daily> {
    rows(batches, |b, r| Daily {
        symbol: some(read_str(b, "symbol", r), "symbol"),
        trade_date: some(read_date(b, "trade_date", r), "trade_date"),
        open: some(read_f64(b, "open", r), "open"),
        high: some(read_f64(b, "high", r), "high"),
        low: some(read_f64(b, "low", r), "low"),
        close: some(read_f64(b, "close", r), "close"),
        volume: some(read_i64(b, "volume", r), "volume"),
        turnover: some(read_decimal(b, "turnover", 18, 4, r), "turnover"),
        board: read_str(b, "board", r),
        suspended: read_bool(b, "suspended", r),
        meta: read_str(b, "meta", r),
    })
}

// ------------------------------------------------------------------------------------------------------
// ns_ticks
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct NsTick {
    pub symbol: String,
    /// Nanoseconds since the epoch.
    pub ts: i64,
    pub price: f64,
    pub volume: i64,
}

impl NsTick {
    pub fn new(symbol: &str, ts: i64, price: f64, volume: i64) -> NsTick {
        NsTick {
            symbol: symbol.into(),
            ts,
            price,
            volume,
        }
    }
}

pub fn ns_ticks_batch(rows: &[NsTick]) -> RecordBatch {
    batch(vec![
        ("ts", ts_ns(rows.iter().map(|t| t.ts))),
        ("symbol", strs(rows.iter().map(|t| t.symbol.as_str()))),
        ("price", f64s(rows.iter().map(|t| t.price))),
        ("volume", i64s(rows.iter().map(|t| t.volume))),
    ])
}

pub fn ns_ticks_from(batches: &[RecordBatch]) -> Vec<NsTick> {
    rows(batches, |b, r| NsTick {
        symbol: some(read_str(b, "symbol", r), "symbol"),
        ts: some(read_ts_ns(b, "ts", r), "ts"),
        price: some(read_f64(b, "price", r), "price"),
        volume: some(read_i64(b, "volume", r), "volume"),
    })
}

// ------------------------------------------------------------------------------------------------------
// instruments
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    pub code: String,
    pub name: String,
    pub lot_size: i32,
    /// Unscaled DECIMAL(10,4).
    pub tick_size: i128,
    pub active: bool,
    pub listed: Option<i32>,
    pub attrs: Option<String>,
}

impl Instrument {
    pub fn new(code: &str, name: &str, lot_size: i32, tick_size: i128, active: bool) -> Instrument {
        Instrument {
            code: code.into(),
            name: name.into(),
            lot_size,
            tick_size,
            active,
            listed: None,
            attrs: None,
        }
    }
}

pub fn instruments_batch(rows: &[Instrument]) -> RecordBatch {
    batch(vec![
        ("code", strs(rows.iter().map(|i| i.code.as_str()))),
        ("name", strs(rows.iter().map(|i| i.name.as_str()))),
        (
            "lot_size",
            Arc::new(arrow::array::Int32Array::from_iter_values(
                rows.iter().map(|i| i.lot_size),
            )) as ArrayRef,
        ),
        (
            "tick_size",
            decimals(rows.iter().map(|i| Some(i.tick_size)).collect(), 10, 4),
        ),
        (
            "active",
            opt_bools(rows.iter().map(|i| Some(i.active)).collect()),
        ),
        ("listed", opt_dates(rows.iter().map(|i| i.listed).collect())),
        ("attrs", opt_strs(rows.iter().map(|i| i.attrs.as_deref()))),
    ])
}

pub fn instruments_from(batches: &[RecordBatch]) -> Vec<Instrument> {
    rows(batches, |b, r| Instrument {
        code: some(read_str(b, "code", r), "code"),
        name: some(read_str(b, "name", r), "name"),
        lot_size: some(read_i32(b, "lot_size", r), "lot_size"),
        tick_size: some(read_decimal(b, "tick_size", 10, 4, r), "tick_size"),
        active: some(read_bool(b, "active", r), "active"),
        listed: read_date(b, "listed", r),
        attrs: read_str(b, "attrs", r),
    })
}

// ------------------------------------------------------------------------------------------------------
// kline output
// ------------------------------------------------------------------------------------------------------

/// One computed bar: series values, bucket start (ms for TIMESTAMP classes, days for DATE classes) and
/// the aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct Kbar {
    pub series: Vec<String>,
    pub start: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub amount: Option<f64>,
    pub count: i64,
}

#[allow(clippy::too_many_arguments)]
pub fn kbar(
    series: &[&str],
    start: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: i64,
    amount: f64,
    count: i64,
) -> Kbar {
    Kbar {
        series: series.iter().map(|s| s.to_string()).collect(),
        start,
        open,
        high,
        low,
        close,
        volume,
        amount: Some(amount),
        count,
    }
}

/// Decodes kline output whose series columns are `series` (Utf8) and whose time column is `time`, of
/// type `utc_ms()` or `Date32`.
pub fn klines_from(batches: &[RecordBatch], series: &[&str], time: &str) -> Vec<Kbar> {
    rows(batches, |b, r| {
        let start = match b.column_by_name(time).map(|c| c.data_type().clone()) {
            Some(DataType::Date32) => i64::from(some(read_date(b, time, r), time)),
            _ => some(read_ts_ms(b, time, r), time),
        };
        Kbar {
            series: series.iter().map(|s| some(read_str(b, s, r), s)).collect(),
            start,
            open: some(read_f64(b, "open", r), "open"),
            high: some(read_f64(b, "high", r), "high"),
            low: some(read_f64(b, "low", r), "low"),
            close: some(read_f64(b, "close", r), "close"),
            volume: some(read_i64(b, "volume", r), "volume"),
            amount: read_f64(b, "amount", r),
            count: some(read_i64(b, "count", r), "count"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_mean_what_they_say() {
        let t0 = date(2024, 1, 2)
            .and_hms_opt(1, 30, 0)
            .expect("time")
            .and_utc()
            .timestamp_millis();
        assert_eq!(T0, t0);
        assert_eq!(day(1970, 1, 5), 4);
        assert_eq!(date(1970, 1, 5).format("%A").to_string(), "Monday");
        assert_eq!(date(2024, 1, 1).format("%A").to_string(), "Monday");
        assert_eq!(day(2024, 1, 2), 19_724);
        let mut sorted = SYMBOLS;
        sorted.sort_unstable();
        assert_eq!(sorted, SYMBOLS);
        assert!(quantdal::Catalog::from_yaml(FIXTURE, "fixture").is_ok());
    }
}
