//! The checks every store must pass. Each takes a [`Dal`] over the fixture catalog (see [`crate::fixtures`])
//! whose tables were just provisioned and are empty (see [`prepare`]); [`provision_is_idempotent`] takes one
//! whose tables do not exist yet and [`concurrent_saves_and_loads`] an `Arc<Dal>`. Every check asserts exact
//! values: row contents, counts, Arrow types, and for errors the kind, class, column and row.
//!
//! Expected values are written out by hand (kline bars, counts) or derived from the saved rows with plain Rust
//! filters next to a literal row count, so a wrong fixture cannot make a wrong store pass.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float32Array, Float64Array, Int32Array, LargeStringArray, RecordBatch,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use futures::{StreamExt, TryStreamExt};
use quantdal::{
    col, Category, Dal, Error, ErrorKind, Load, Op, Order, Predicate, ProvisionEntry,
    ProvisionStatus, SaveOptions, SaveReport, StoreKind, Timestamp, Value,
};

use crate::fixtures::*;
use crate::STORE;

// ------------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------------

/// Provisions the fixture's tables and checks they are empty: the state every check but
/// [`provision_is_idempotent`] starts from.
pub async fn prepare(dal: &Dal) {
    let entries = dal
        .provision()
        .await
        .unwrap_or_else(|e| panic!("provision: {e}"));
    let classes: Vec<&str> = entries.iter().map(|e| e.class.as_str()).collect();
    assert_eq!(
        classes, CLASSES,
        "provision reports every class in file order"
    );
    for e in &entries {
        assert!(
            matches!(
                e.status,
                ProvisionStatus::Created | ProvisionStatus::AlreadyPresent
            ),
            "provision of `{}`: {}",
            e.class,
            e.status
        );
    }
    for class in CLASSES {
        assert_eq!(
            count(dal, class).await,
            0,
            "the store under test must start empty (`{class}`)"
        );
    }
}

async fn save(dal: &Dal, class: &str, batch: &RecordBatch) -> SaveReport {
    dal.save(class, batch)
        .await
        .unwrap_or_else(|e| panic!("save into `{class}`: {e}"))
}

async fn save_with(
    dal: &Dal,
    class: &str,
    batch: &RecordBatch,
    options: &SaveOptions,
) -> SaveReport {
    dal.save_with(class, batch, options)
        .await
        .unwrap_or_else(|e| panic!("save into `{class}` with {options:?}: {e}"))
}

async fn load(dal: &Dal, class: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.load(class, load)
        .await
        .unwrap_or_else(|e| panic!("load `{class}` with {shown}: {e}"))
}

async fn latest(dal: &Dal, class: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.latest(class, load)
        .await
        .unwrap_or_else(|e| panic!("latest `{class}` with {shown}: {e}"))
}

async fn kline(dal: &Dal, class: &str, interval: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.kline(class, interval, load)
        .await
        .unwrap_or_else(|e| panic!("kline `{class}` {interval} with {shown}: {e}"))
}

async fn delete(dal: &Dal, class: &str, load: Load) -> u64 {
    let shown = format!("{load:?}");
    dal.delete(class, load)
        .await
        .unwrap_or_else(|e| panic!("delete from `{class}` with {shown}: {e}"))
}

async fn count(dal: &Dal, class: &str) -> u64 {
    dal.count(class)
        .await
        .unwrap_or_else(|e| panic!("count `{class}`: {e}"))
}

async fn all_ticks(dal: &Dal) -> Vec<Tick> {
    ticks_from(&load(dal, "ticks", Load::all()).await)
}

/// The error of a call that must fail.
fn refused<T>(result: quantdal::Result<T>, what: &str) -> Error {
    match result {
        Ok(_) => panic!("{what}: expected an error, but the call succeeded"),
        Err(e) => e,
    }
}

/// Asserts an error's kind, class, column and row exactly (`None` = must not be set).
#[track_caller]
fn assert_error(
    err: &Error,
    kind: ErrorKind,
    class: &str,
    column: Option<&str>,
    row: Option<usize>,
    what: &str,
) {
    assert_eq!(
        (err.kind(), err.class(), err.column(), err.row()),
        (kind, Some(class), column, row),
        "{what}: (kind, class, column, row) of `{err}`"
    );
}

fn store_kind(dal: &Dal) -> StoreKind {
    dal.stores()
        .find(|s| s.name == STORE)
        .map(|s| s.kind)
        .unwrap_or_else(|| panic!("the Dal under test has no store named `{STORE}`"))
}

/// `batch` with column `name` replaced by `array` (or appended when absent).
fn with_column(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let mut columns: Vec<(String, ArrayRef)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    match columns.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = array,
        None => columns.push((name.to_string(), array)),
    }
    RecordBatch::try_from_iter(columns).unwrap_or_else(|e| panic!("test batch with `{name}`: {e}"))
}

fn without_column(batch: &RecordBatch, name: &str) -> RecordBatch {
    let schema = batch.schema();
    let columns: Vec<(String, ArrayRef)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != name)
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    RecordBatch::try_from_iter(columns)
        .unwrap_or_else(|e| panic!("test batch without `{name}`: {e}"))
}

fn model_of(rows: &[Tick]) -> BTreeMap<(String, i64), Tick> {
    rows.iter().map(|t| (t.key(), t.clone())).collect()
}

fn model_rows(model: &BTreeMap<(String, i64), Tick>) -> Vec<Tick> {
    model.values().cloned().collect()
}

fn json_of(text: &Option<String>) -> Option<serde_json::Value> {
    text.as_deref().map(|t| {
        serde_json::from_str(t)
            .unwrap_or_else(|e| panic!("a store returned invalid JSON `{t}`: {e}"))
    })
}

/// JSON columns compare by value: a store may normalise whitespace and key order (PostgreSQL JSONB does).
#[track_caller]
fn assert_daily_eq(got: &[Daily], want: &[Daily], what: &str) {
    let strip = |rows: &[Daily]| -> Vec<Daily> {
        rows.iter()
            .map(|d| Daily {
                meta: None,
                ..d.clone()
            })
            .collect()
    };
    assert_eq!(strip(got), strip(want), "{what}");
    let got_json: Vec<_> = got.iter().map(|d| json_of(&d.meta)).collect();
    let want_json: Vec<_> = want.iter().map(|d| json_of(&d.meta)).collect();
    assert_eq!(got_json, want_json, "{what}: JSON column `meta`");
}

#[track_caller]
fn assert_instruments_eq(got: &[Instrument], want: &[Instrument], what: &str) {
    let strip = |rows: &[Instrument]| -> Vec<Instrument> {
        rows.iter()
            .map(|i| Instrument {
                attrs: None,
                ..i.clone()
            })
            .collect()
    };
    assert_eq!(strip(got), strip(want), "{what}");
    let got_json: Vec<_> = got.iter().map(|i| json_of(&i.attrs)).collect();
    let want_json: Vec<_> = want.iter().map(|i| json_of(&i.attrs)).collect();
    assert_eq!(got_json, want_json, "{what}: JSON column `attrs`");
}

fn ticks_schema() -> Schema {
    Schema::new(vec![
        Field::new("ts", utc_ms(), false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("side", DataType::Utf8, true),
    ])
}

#[track_caller]
fn assert_schemas(batches: &[RecordBatch], expected: &Schema, what: &str) {
    assert!(
        !batches.is_empty(),
        "{what}: no batches to check the schema of"
    );
    for b in batches {
        assert_eq!(b.schema().as_ref(), expected, "{what}: schema");
    }
}

fn kline_schema(series: &[&str], time: &str, time_type: DataType) -> Schema {
    let mut fields: Vec<Field> = series
        .iter()
        .map(|s| Field::new(*s, DataType::Utf8, false))
        .collect();
    fields.push(Field::new(time, time_type, false));
    for name in ["open", "high", "low", "close"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    fields.push(Field::new("volume", DataType::Int64, true));
    fields.push(Field::new("amount", DataType::Float64, true));
    fields.push(Field::new("count", DataType::Int64, false));
    Schema::new(fields)
}

// ------------------------------------------------------------------------------------------------------
// 1. provisioning
// ------------------------------------------------------------------------------------------------------

/// Takes a `Dal` whose tables do not exist yet: the plan names DDL for every class, the first provision
/// creates every table, the second finds them all present, and the tables are empty.
pub async fn provision_is_idempotent(dal: &Dal) {
    let plan = dal
        .provision_plan()
        .unwrap_or_else(|e| panic!("provision_plan: {e}"));
    // Each class's DDL sits under the store it routes to (a harness may put a class its server cannot hold on
    // a second store), in file order within each store.
    let store_of = |class: &str| -> String {
        dal.store_for(class)
            .unwrap_or_else(|e| panic!("store_for `{class}`: {e}"))
            .1
            .info()
            .name
            .clone()
    };
    assert!(
        plan.contains_key(STORE),
        "provision_plan groups DDL by store"
    );
    let mut planned: Vec<(String, String)> = Vec::new();
    for (store, classes) in &plan {
        for (class, ddl) in classes {
            assert_eq!(&store_of(class), store, "`{class}` planned under its store");
            planned.push((class.clone(), store.clone()));
            assert!(!ddl.is_empty(), "provision_plan has no DDL for `{class}`");
            assert!(
                ddl.iter().all(|s| !s.trim().is_empty()),
                "provision_plan has an empty statement for `{class}`: {ddl:?}"
            );
            assert!(
                ddl.iter().any(|s| s.contains(class.as_str())),
                "no DDL statement of `{class}` names its table: {ddl:?}"
            );
        }
    }
    let mut planned_classes: Vec<&str> = planned.iter().map(|(c, _)| c.as_str()).collect();
    planned_classes.sort_unstable();
    let mut all = CLASSES.to_vec();
    all.sort_unstable();
    assert_eq!(planned_classes, all, "provision_plan lists every class");

    let expected = |status: ProvisionStatus| -> Vec<(String, String, String, ProvisionStatus)> {
        CLASSES
            .iter()
            .map(|c| (c.to_string(), store_of(c), c.to_string(), status.clone()))
            .collect()
    };
    let entries = |report: Vec<ProvisionEntry>| -> Vec<(String, String, String, ProvisionStatus)> {
        report
            .into_iter()
            .map(|e| (e.class, e.store, e.table, e.status))
            .collect()
    };
    let first = dal
        .provision()
        .await
        .unwrap_or_else(|e| panic!("first provision: {e}"));
    assert_eq!(
        entries(first),
        expected(ProvisionStatus::Created),
        "first provision"
    );
    let second = dal
        .provision()
        .await
        .unwrap_or_else(|e| panic!("second provision: {e}"));
    assert_eq!(
        entries(second),
        expected(ProvisionStatus::AlreadyPresent),
        "second provision"
    );
    assert_eq!(
        dal.provision_plan()
            .unwrap_or_else(|e| panic!("provision_plan: {e}")),
        plan,
        "provision_plan is a pure function of the catalog"
    );
    for class in CLASSES {
        assert_eq!(
            count(dal, class).await,
            0,
            "`{class}` right after provisioning"
        );
    }

    let classes: Vec<(String, Category, String, String, StoreKind, String)> = dal
        .classes()
        .into_iter()
        .map(|c| (c.class, c.category, c.route, c.store, c.kind, c.table))
        .collect();
    let want: Vec<(String, Category, String, String, StoreKind, String)> = CLASSES
        .iter()
        .map(|c| {
            let category = if *c == "instruments" {
                Category::Reference
            } else {
                Category::Market
            };
            let (_, store) = dal
                .store_for(c)
                .unwrap_or_else(|e| panic!("store_for `{c}`: {e}"));
            let info = store.info();
            (
                c.to_string(),
                category,
                info.name.clone(),
                info.name.clone(),
                info.kind,
                c.to_string(),
            )
        })
        .collect();
    assert_eq!(classes, want, "Dal::classes");
}

// ------------------------------------------------------------------------------------------------------
// 2. save, re-save, upsert
// ------------------------------------------------------------------------------------------------------

/// A save reports what it wrote; re-saving the same rows changes nothing; re-saving the same keys with new
/// values overwrites every value column (nulls included) without adding rows.
pub async fn save_report_and_upsert(dal: &Dal) {
    let kind = store_kind(dal);
    let grid = tick_grid();
    let report = save(dal, "ticks", &ticks_batch(&grid)).await;
    assert_eq!(
        (
            report.class.as_str(),
            report.store.as_str(),
            report.kind,
            report.table.as_str(),
            report.rows
        ),
        ("ticks", STORE, kind, "ticks", 30),
        "SaveReport of the first save"
    );
    assert_eq!(count(dal, "ticks").await, 30);
    let mut model = model_of(&grid);
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "rows after the first save"
    );

    let again = save(dal, "ticks", &ticks_batch(&grid)).await;
    assert_eq!(again.rows, 30, "SaveReport.rows of an identical re-save");
    assert_eq!(
        count(dal, "ticks").await,
        30,
        "count after an identical re-save"
    );
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "rows after an identical re-save"
    );

    let changed: Vec<Tick> = grid
        .iter()
        .map(|t| Tick {
            price: t.price + 1.5,
            volume: t.volume + 7,
            amount: t.amount * 2.0,
            side: match t.side {
                Some(_) => None,
                None => Some("N".into()),
            },
            ..t.clone()
        })
        .collect();
    let report = save(dal, "ticks", &ticks_batch(&changed)).await;
    assert_eq!(report.rows, 30, "SaveReport.rows of a changed re-save");
    assert_eq!(
        count(dal, "ticks").await,
        30,
        "count after a changed re-save"
    );
    model = model_of(&changed);
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "last write wins on every value column"
    );

    let overlap = vec![
        Tick::new("600000.SH", T0, 99.0, 1).side("S"),
        Tick::new("300750.SZ", T0 + 9_000, 98.5, 2),
        Tick::new("600000.SH", T0 + 10_000, 11.0, 3),
        Tick::new("600000.SH", T0 - 1, 9.75, 4).side("B"),
        Tick::new("688981.SH", T0, 50.25, 5),
    ];
    let report = save(dal, "ticks", &ticks_batch(&overlap)).await;
    assert_eq!(report.rows, 5, "SaveReport.rows of a partly new batch");
    assert_eq!(count(dal, "ticks").await, 33, "2 updated + 3 new rows");
    for t in &overlap {
        model.insert(t.key(), t.clone());
    }
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "rows after a partly new batch"
    );

    let empty = save(dal, "ticks", &ticks_batch(&[])).await;
    assert_eq!(
        (empty.class.as_str(), empty.rows),
        ("ticks", 0),
        "SaveReport of an empty batch"
    );
    assert_eq!(
        count(dal, "ticks").await,
        33,
        "an empty batch writes nothing"
    );
    for class in ["bars", "daily", "ns_ticks", "instruments"] {
        assert_eq!(count(dal, class).await, 0, "saving ticks touched `{class}`");
    }
}

/// Series that move forward out of step, as a live feed's do: one series' batch starts before another's
/// newest tick but after its own. Such a batch adds rows; one that reaches back into its own series (an
/// identical re-save, a changed row, a row between held ones, a row after a delete) replaces by key.
pub async fn upsert_with_series_out_of_step(dal: &Dal) {
    let (a, b) = ("600000.SH", "000001.SZ");
    let run = |symbol: &str, from: i64, n: i64, price: f64| -> Vec<Tick> {
        (0..n)
            .map(|i| Tick::new(symbol, T0 + (from + i) * 1_000, price + i as f64, i + 1))
            .collect()
    };
    let steps = [
        (
            [run(a, 0, 5, 10.0), run(b, 100, 5, 20.0)].concat(),
            "first save",
            10,
        ),
        (run(a, 5, 5, 15.0), "A behind B's newest, after its own", 15),
        (run(a, 5, 5, 15.0), "an identical re-save", 15),
        (
            [run(a, 7, 1, 99.0), run(a, 10, 1, 30.0)].concat(),
            "A's 7 changed, 10 new",
            16,
        ),
        (run(b, 50, 1, 5.0), "B between held rows", 17),
        (
            [run(b, 105, 3, 25.0), run(a, 11, 2, 40.0)].concat(),
            "both after their own",
            22,
        ),
    ];
    let mut model = BTreeMap::new();
    for (rows, what, held) in steps {
        let report = save(dal, "ticks", &ticks_batch(&rows)).await;
        assert_eq!(report.rows, rows.len() as u64, "{what}");
        model.extend(rows.into_iter().map(|t| (t.key(), t)));
        assert_eq!(all_ticks(dal).await, model_rows(&model), "after: {what}");
        assert_eq!(count(dal, "ticks").await, held, "count after: {what}");
    }

    let gone = delete(dal, "ticks", Load::all().symbols([a]).since(at(T0 + 8_000))).await;
    assert_eq!(gone, 5, "A's 8 to 12 deleted");
    model.retain(|(symbol, ts), _| !(symbol == a && *ts >= T0 + 8_000));
    let again = run(a, 8, 3, 50.0);
    save(dal, "ticks", &ticks_batch(&again)).await;
    model.extend(again.into_iter().map(|t| (t.key(), t)));
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "re-saved after a delete"
    );
    assert_eq!(count(dal, "ticks").await, 20);
}

// ------------------------------------------------------------------------------------------------------
// 3. load
// ------------------------------------------------------------------------------------------------------

/// `[start, end)`: a row exactly at the start is included, a row exactly at the end is not; open-ended
/// ranges; bounds finer than the class precision round inwards exactly.
pub async fn load_by_range(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let all = sorted_ticks(tick_grid());
    let within = |lo: i64, hi: i64| -> Vec<Tick> {
        all.iter()
            .filter(|t| t.ts >= lo && t.ts < hi)
            .cloned()
            .collect()
    };

    let got = ticks_from(&load(dal, "ticks", Load::range(at(T0 + 2_000)..at(T0 + 5_000))).await);
    assert_eq!(
        got.iter().map(|t| t.ts - T0).collect::<Vec<_>>(),
        [2_000, 3_000, 4_000, 2_000, 3_000, 4_000, 2_000, 3_000, 4_000],
        "[T0+2s, T0+5s): start row in, end row out"
    );
    assert_eq!(got, within(T0 + 2_000, T0 + 5_000));

    let got = ticks_from(&load(dal, "ticks", Load::range(at(T0 + 1_999)..at(T0 + 5_001))).await);
    assert_eq!(
        got.len(),
        12,
        "one millisecond wider on each side takes i = 2..=5"
    );
    assert_eq!(got, within(T0 + 1_999, T0 + 5_001));

    let got = ticks_from(&load(dal, "ticks", Load::range(at(T0 + 2_001)..at(T0 + 4_999))).await);
    assert_eq!(
        got.len(),
        6,
        "one millisecond narrower on each side takes i = 3, 4"
    );
    assert_eq!(got, within(T0 + 2_001, T0 + 4_999));

    let got = ticks_from(&load(dal, "ticks", Load::all().since(at(T0 + 9_000))).await);
    assert_eq!(got, within(T0 + 9_000, i64::MAX), "since only");
    assert_eq!(got.len(), 3);

    let got = ticks_from(&load(dal, "ticks", Load::all().until(at(T0 + 1_000))).await);
    assert_eq!(got, within(i64::MIN, T0 + 1_000), "until only");
    assert_eq!(got.len(), 3);

    let got = load(dal, "ticks", Load::range(at(T0 + 3_000)..at(T0 + 3_000))).await;
    assert_eq!(total_rows(&got), 0, "an empty range");

    let got = load(dal, "ticks", Load::range(at(T0 + 60_000)..at(T0 + 120_000))).await;
    assert_eq!(total_rows(&got), 0, "a range after all data");

    // Bounds with sub-millisecond detail on a millisecond class: [T0 + 1ns, T0 + 1s + 1ns) holds exactly the
    // rows at T0 + 1s.
    let start = Timestamp::from_nanos(T0 * 1_000_000 + 1);
    let end = Timestamp::from_nanos((T0 + 1_000) * 1_000_000 + 1);
    let got = ticks_from(&load(dal, "ticks", Load::range(start..end)).await);
    assert_eq!(got, within(T0 + 1, T0 + 1_001), "sub-precision bounds");
    assert_eq!(got.len(), 3);

    // chrono bounds are the same instants.
    let a = chrono::DateTime::from_timestamp_millis(T0 + 2_000).expect("instant");
    let b = chrono::DateTime::from_timestamp_millis(T0 + 5_000).expect("instant");
    let got = ticks_from(&load(dal, "ticks", Load::range(a..b)).await);
    assert_eq!(got, within(T0 + 2_000, T0 + 5_000), "chrono bounds");

    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::range(at(T0 + 2_000)..at(T0 + 5_000)).symbols(["300750.SZ"]),
        )
        .await,
    );
    let want: Vec<Tick> = within(T0 + 2_000, T0 + 5_000)
        .into_iter()
        .filter(|t| t.symbol == "300750.SZ")
        .collect();
    assert_eq!(want.len(), 3);
    assert_eq!(got, want, "range and symbol together");
}

/// One symbol, several symbols, the generic tag filter, and a symbol with no rows.
pub async fn load_by_symbols(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let all = sorted_ticks(tick_grid());
    let of = |symbols: &[&str]| -> Vec<Tick> {
        all.iter()
            .filter(|t| symbols.contains(&t.symbol.as_str()))
            .cloned()
            .collect()
    };

    let got = ticks_from(&load(dal, "ticks", Load::all().symbols(["000001.SZ"])).await);
    assert_eq!(got.len(), 10);
    assert_eq!(got, of(&["000001.SZ"]), "one symbol");

    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::all().symbols(["600000.SH", "000001.SZ"]),
        )
        .await,
    );
    assert_eq!(got.len(), 20);
    assert_eq!(
        got,
        of(&["000001.SZ", "600000.SH"]),
        "two symbols, series in order"
    );

    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::all().tag("symbol", ["600000.SH", "000001.SZ"]),
        )
        .await,
    );
    assert_eq!(
        got,
        of(&["000001.SZ", "600000.SH"]),
        "tag(\"symbol\", …) is symbols(…)"
    );

    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::all().symbols(["600000.SH"]).symbols(["300750.SZ"]),
        )
        .await,
    );
    assert_eq!(
        got,
        of(&["300750.SZ", "600000.SH"]),
        "repeated symbols() calls add values"
    );

    let got = ticks_from(&load(dal, "ticks", Load::all().symbols(SYMBOLS)).await);
    assert_eq!(got, all, "every symbol");

    let got = load(dal, "ticks", Load::all().symbols(["999999.SH"])).await;
    assert_eq!(total_rows(&got), 0, "a symbol with no rows");

    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::all().symbols(["999999.SH", "300750.SZ"]),
        )
        .await,
    );
    assert_eq!(got, of(&["300750.SZ"]), "a missing and a present symbol");
}

/// The full schema is the class schema exactly; a projection returns the requested columns in the requested
/// order with their exact types.
pub async fn load_projection_and_schema(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let all = sorted_ticks(tick_grid());

    let expected = ticks_schema();
    let spec = dal.spec("ticks").unwrap_or_else(|e| panic!("spec: {e}"));
    assert_eq!(
        spec.arrow_schema().as_ref(),
        &expected,
        "the advertised schema of `ticks`"
    );
    assert_schemas(
        &load(dal, "ticks", Load::all()).await,
        &expected,
        "full load of `ticks`",
    );

    let batches = load(dal, "ticks", Load::all().columns(["price", "ts", "symbol"])).await;
    assert_schemas(
        &batches,
        &Schema::new(vec![
            Field::new("price", DataType::Float64, false),
            Field::new("ts", utc_ms(), false),
            Field::new("symbol", DataType::Utf8, false),
        ]),
        "projection [price, ts, symbol]",
    );
    let got = rows(&batches, |b, r| {
        (
            read_f64(b, "price", r),
            read_ts_ms(b, "ts", r),
            read_str(b, "symbol", r),
        )
    });
    let want: Vec<_> = all
        .iter()
        .map(|t| (Some(t.price), Some(t.ts), Some(t.symbol.clone())))
        .collect();
    assert_eq!(got, want, "projected values");

    let batches = load(dal, "ticks", Load::all().columns(["side"])).await;
    assert_schemas(
        &batches,
        &Schema::new(vec![Field::new("side", DataType::Utf8, true)]),
        "projection [side]",
    );
    let got = rows(&batches, |b, r| read_str(b, "side", r));
    assert_eq!(got, all.iter().map(|t| t.side.clone()).collect::<Vec<_>>());

    // Filtering on a column that is not projected.
    let batches = load(
        dal,
        "ticks",
        Load::all().columns(["ts"]).filter(col("price").gt(100.0)),
    )
    .await;
    assert_schemas(
        &batches,
        &Schema::new(vec![Field::new("ts", utc_ms(), false)]),
        "projection [ts]",
    );
    let got = rows(&batches, |b, r| read_ts_ms(b, "ts", r));
    assert_eq!(
        got,
        (0..10).map(|i| Some(T0 + i * 1_000)).collect::<Vec<_>>()
    );

    // The other classes' schemas, on one row each.
    save(
        dal,
        "daily",
        &daily_batch(&[Daily::new("600000.SH", day(2024, 1, 2), 10.0, 100, 12_345)]),
    )
    .await;
    let daily_schema = Schema::new(vec![
        Field::new("trade_date", DataType::Date32, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("open", DataType::Float64, false),
        Field::new("high", DataType::Float64, false),
        Field::new("low", DataType::Float64, false),
        Field::new("close", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
        Field::new("turnover", DataType::Decimal128(18, 4), false),
        Field::new("board", DataType::Utf8, true),
        Field::new("suspended", DataType::Boolean, true),
        Field::new("meta", DataType::Utf8, true),
    ]);
    assert_schemas(
        &load(dal, "daily", Load::all()).await,
        &daily_schema,
        "full load of `daily`",
    );

    save(
        dal,
        "ns_ticks",
        &ns_ticks_batch(&[NsTick::new("600000.SH", T0 * 1_000_000 + 1, 1.0, 1)]),
    )
    .await;
    let ns_schema = Schema::new(vec![
        Field::new("ts", utc_ns(), false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
    ]);
    assert_schemas(
        &load(dal, "ns_ticks", Load::all()).await,
        &ns_schema,
        "full load of `ns_ticks`",
    );

    save(
        dal,
        "instruments",
        &instruments_batch(&[Instrument::new("600000.SH", "x", 100, 100, true)]),
    )
    .await;
    let instruments_schema = Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("lot_size", DataType::Int32, false),
        Field::new("tick_size", DataType::Decimal128(10, 4), false),
        Field::new("active", DataType::Boolean, false),
        Field::new("listed", DataType::Date32, true),
        Field::new("attrs", DataType::Utf8, true),
    ]);
    assert_schemas(
        &load(dal, "instruments", Load::all()).await,
        &instruments_schema,
        "full load of `instruments`",
    );
    let batches = load(
        dal,
        "instruments",
        Load::all().columns(["tick_size", "code"]),
    )
    .await;
    assert_schemas(
        &batches,
        &Schema::new(vec![
            Field::new("tick_size", DataType::Decimal128(10, 4), false),
            Field::new("code", DataType::Utf8, false),
        ]),
        "projection [tick_size, code]",
    );
}

/// Every predicate operator, on DOUBLE, BIGINT, VARCHAR and TIMESTAMP columns, against hand-counted rows.
pub async fn load_predicates(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let all = sorted_ticks(tick_grid());

    type Keep = Box<dyn Fn(&Tick) -> bool>;
    let cases: Vec<(&str, Load, usize, Keep)> = vec![
        (
            "volume = 300",
            Load::all().filter(col("volume").eq(300i64)),
            3,
            Box::new(|t: &Tick| t.volume == 300) as Keep,
        ),
        (
            "symbol <> 600000.SH",
            Load::all().filter(col("symbol").ne("600000.SH")),
            20,
            Box::new(|t: &Tick| t.symbol != "600000.SH") as Keep,
        ),
        (
            "price < 12.5",
            Load::all().filter(col("price").lt(12.5)),
            10,
            Box::new(|t: &Tick| t.price < 12.5) as Keep,
        ),
        (
            "price <= 12.5",
            Load::all().filter(col("price").le(12.5)),
            11,
            Box::new(|t: &Tick| t.price <= 12.5) as Keep,
        ),
        (
            "price > 180",
            Load::all().filter(col("price").gt(180.0)),
            9,
            Box::new(|t: &Tick| t.price > 180.0) as Keep,
        ),
        (
            "price >= 180",
            Load::all().filter(col("price").ge(180.0)),
            10,
            Box::new(|t: &Tick| t.price >= 180.0) as Keep,
        ),
        (
            "volume > 1000",
            Load::all().filter(col("volume").gt(1000i64)),
            0,
            Box::new(|t: &Tick| t.volume > 1000) as Keep,
        ),
        (
            "volume >= 1000",
            Load::all().filter(col("volume").ge(1000i64)),
            3,
            Box::new(|t: &Tick| t.volume >= 1000) as Keep,
        ),
        (
            "volume in (100, 500, 900, 12345)",
            Load::all().filter(col("volume").is_in([100i64, 500, 900, 12_345])),
            9,
            Box::new(|t: &Tick| [100, 500, 900].contains(&t.volume)) as Keep,
        ),
        (
            "volume between 300 and 500",
            Load::all().filter(col("volume").between(300i64, 500i64)),
            9,
            Box::new(|t: &Tick| (300..=500).contains(&t.volume)) as Keep,
        ),
        (
            "side is null",
            Load::all().filter(col("side").is_null()),
            15,
            Box::new(|t: &Tick| t.side.is_none()) as Keep,
        ),
        (
            "side is not null",
            Load::all().filter(col("side").is_not_null()),
            15,
            Box::new(|t: &Tick| t.side.is_some()) as Keep,
        ),
        (
            "side = S",
            Load::all().filter(col("side").eq("S")),
            6,
            Box::new(|t: &Tick| t.side.as_deref() == Some("S")) as Keep,
        ),
        (
            "symbol in (600000.SH, nope)",
            Load::all().filter(col("symbol").is_in(["600000.SH", "nope"])),
            10,
            Box::new(|t: &Tick| t.symbol == "600000.SH") as Keep,
        ),
        (
            "ts >= T0+8s",
            Load::all().filter(col("ts").ge(at(T0 + 8_000))),
            6,
            Box::new(|t: &Tick| t.ts >= T0 + 8_000) as Keep,
        ),
        (
            "ts < T0+1s",
            Load::all().filter(col("ts").lt(at(T0 + 1_000))),
            3,
            Box::new(|t: &Tick| t.ts < T0 + 1_000) as Keep,
        ),
        (
            "ts <> T0",
            Load::all().filter(col("ts").ne(at(T0))),
            27,
            Box::new(|t: &Tick| t.ts != T0) as Keep,
        ),
        (
            "ts between T0+1s and T0+3s (inclusive)",
            Load::all().filter(col("ts").between(at(T0 + 1_000), at(T0 + 3_000))),
            9,
            Box::new(|t: &Tick| (T0 + 1_000..=T0 + 3_000).contains(&t.ts)) as Keep,
        ),
        (
            "ts = '2024-01-02T01:30:04Z' (text)",
            Load::all().filter(col("ts").eq("2024-01-02T01:30:04Z")),
            3,
            Box::new(|t: &Tick| t.ts == T0 + 4_000) as Keep,
        ),
        (
            "price = 180 (integer value)",
            Load::all().filter(col("price").eq(180)),
            1,
            Box::new(|t: &Tick| t.price == 180.0) as Keep,
        ),
        (
            "price = '12.75' (text value)",
            Load::all().filter(col("price").eq("12.75")),
            1,
            Box::new(|t: &Tick| t.price == 12.75) as Keep,
        ),
        (
            "600000.SH and price >= 11 and side is not null",
            Load::all()
                .symbols(["600000.SH"])
                .filter(col("price").ge(11.0))
                .filter(col("side").is_not_null()),
            3,
            Box::new(|t: &Tick| t.symbol == "600000.SH" && t.price >= 11.0 && t.side.is_some())
                as Keep,
        ),
        (
            "[T0+2s, T0+6s) and volume <= 400",
            Load::range(at(T0 + 2_000)..at(T0 + 6_000)).filter(col("volume").le(400i64)),
            6,
            Box::new(|t: &Tick| t.ts >= T0 + 2_000 && t.ts < T0 + 6_000 && t.volume <= 400) as Keep,
        ),
    ];
    for (what, query, n, keep) in cases {
        let want: Vec<Tick> = all.iter().filter(|t| keep(t)).cloned().collect();
        assert_eq!(want.len(), n, "fixture sanity for `{what}`");
        let got = ticks_from(&load(dal, "ticks", query).await);
        assert_eq!(got, want, "predicate `{what}`");
    }
}

/// Ascending is by series then time; descending is its exact reverse; limit keeps the first rows of the
/// requested order; unordered returns the same rows.
pub async fn load_order_and_limit(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let asc = sorted_ticks(tick_grid());
    let desc: Vec<Tick> = asc.iter().rev().cloned().collect();

    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all()).await),
        asc,
        "default order"
    );
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().order(Order::Asc)).await),
        asc,
        "Order::Asc"
    );
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().order(Order::Desc)).await),
        desc,
        "Order::Desc"
    );
    let mut unordered = ticks_from(&load(dal, "ticks", Load::all().order(Order::Unordered)).await);
    unordered.sort_by_key(|a| a.key());
    assert_eq!(unordered, asc, "Order::Unordered returns the same rows");

    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().limit(4)).await),
        asc[..4].to_vec(),
        "limit 4"
    );
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().order(Order::Desc).limit(2)).await),
        desc[..2].to_vec(),
        "desc, limit 2"
    );
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().limit(1_000)).await),
        asc,
        "a limit above the row count"
    );
    let of_300750: Vec<Tick> = asc
        .iter()
        .filter(|t| t.symbol == "300750.SZ")
        .cloned()
        .collect();
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().symbols(["300750.SZ"]).limit(3)).await),
        of_300750[..3].to_vec(),
        "symbol, limit 3: the oldest three"
    );
    let newest: Vec<Tick> = of_300750.iter().rev().take(3).cloned().collect();
    assert_eq!(
        ticks_from(
            &load(
                dal,
                "ticks",
                Load::all()
                    .symbols(["300750.SZ"])
                    .order(Order::Desc)
                    .limit(3)
            )
            .await
        ),
        newest,
        "symbol, desc, limit 3: the newest three"
    );
    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::range(at(T0 + 2_000)..at(T0 + 5_000))
                .filter(col("side").is_not_null())
                .order(Order::Desc)
                .limit(2),
        )
        .await,
    );
    let want: Vec<Tick> = desc
        .iter()
        .filter(|t| t.ts >= T0 + 2_000 && t.ts < T0 + 5_000 && t.side.is_some())
        .take(2)
        .cloned()
        .collect();
    assert_eq!(
        got.iter()
            .map(|t| (t.symbol.as_str(), t.ts - T0))
            .collect::<Vec<_>>(),
        [("600000.SH", 4_000), ("600000.SH", 2_000)]
    );
    assert_eq!(got, want, "range, filter, desc, limit");
}

/// `load_stream` yields the rows `load` returns, in the same order, across many batches; dropping a stream
/// early leaves the store usable.
pub async fn load_stream_matches_load(dal: &Dal) {
    let rows = many_ticks(&["A.SH", "B.SZ", "C.SZ"], 3_000);
    for chunk in rows.chunks(4_500) {
        save(dal, "ticks", &ticks_batch(chunk)).await;
    }
    assert_eq!(count(dal, "ticks").await, 9_000);
    let model = sorted_ticks(rows);

    let loaded = ticks_from(&load(dal, "ticks", Load::all()).await);
    let streamed: Vec<RecordBatch> = dal
        .load_stream("ticks", Load::all())
        .await
        .unwrap_or_else(|e| panic!("load_stream: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("load_stream batch: {e}"));
    assert_schemas(&streamed, &ticks_schema(), "streamed batches");
    let streamed = ticks_from(&streamed);
    assert_eq!(loaded.len(), 9_000);
    assert_eq!(streamed, loaded, "load_stream = load");
    assert_eq!(loaded, model, "load = saved rows");

    let query = || {
        Load::range(at(T0 + 100)..at(T0 + 2_500))
            .symbols(["B.SZ"])
            .filter(col("side").is_not_null())
            .order(Order::Desc)
    };
    let want: Vec<Tick> = model
        .iter()
        .rev()
        .filter(|t| t.symbol == "B.SZ" && t.ts >= T0 + 100 && t.ts < T0 + 2_500 && t.side.is_some())
        .cloned()
        .collect();
    assert_eq!(want.len(), 800);
    let streamed: Vec<RecordBatch> = dal
        .load_stream("ticks", query())
        .await
        .unwrap_or_else(|e| panic!("load_stream: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("load_stream batch: {e}"));
    assert_eq!(ticks_from(&streamed), want, "filtered load_stream");
    assert_eq!(
        ticks_from(&load(dal, "ticks", query()).await),
        want,
        "filtered load"
    );

    let mut stream = dal
        .load_stream("ticks", Load::all())
        .await
        .unwrap_or_else(|e| panic!("load_stream: {e}"));
    let first = stream
        .next()
        .await
        .expect("a stream of 9000 rows yields a batch")
        .unwrap_or_else(|e| panic!("first batch: {e}"));
    assert!(
        first.num_rows() > 0,
        "the first streamed batch is not empty"
    );
    assert_eq!(
        ticks_from(std::slice::from_ref(&first)),
        model[..first.num_rows()].to_vec()
    );
    drop(stream);
    assert_eq!(
        count(dal, "ticks").await,
        9_000,
        "after dropping a stream early"
    );
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all()).await).len(),
        9_000
    );

    let empty: Vec<RecordBatch> = dal
        .load_stream("ticks", Load::all().symbols(["nothing"]))
        .await
        .unwrap_or_else(|e| panic!("load_stream: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("load_stream batch: {e}"));
    assert_eq!(total_rows(&empty), 0, "an empty stream");
}

// ------------------------------------------------------------------------------------------------------
// 4. latest
// ------------------------------------------------------------------------------------------------------

/// One row per series, the newest by time after every filter applies; multi-tag series; projections.
pub async fn latest_per_series(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let all = sorted_ticks(tick_grid());
    let pick = |i: i64| -> Vec<Tick> {
        all.iter()
            .filter(|t| t.ts == T0 + i * 1_000)
            .cloned()
            .collect()
    };

    let got = ticks_from(&latest(dal, "ticks", Load::all()).await);
    assert_eq!(got, pick(9), "the newest tick of each symbol");
    assert_eq!(
        got.iter().map(|t| t.symbol.as_str()).collect::<Vec<_>>(),
        SYMBOLS
    );

    let got =
        ticks_from(&latest(dal, "ticks", Load::all().filter(col("side").is_not_null())).await);
    assert_eq!(got, pick(8), "filters apply before picking the newest");

    let got = ticks_from(&latest(dal, "ticks", Load::all().until(at(T0 + 5_000))).await);
    assert_eq!(got, pick(4), "range applies before picking the newest");

    let got = ticks_from(&latest(dal, "ticks", Load::all().symbols(["600000.SH"])).await);
    assert_eq!(
        got,
        vec![Tick::new("600000.SH", T0 + 9_000, 12.25, 1_000)],
        "one symbol"
    );

    let got = ticks_from(&latest(dal, "ticks", Load::all().filter(col("price").lt(12.0))).await);
    assert_eq!(
        got,
        vec![Tick::new("600000.SH", T0 + 7_000, 11.75, 800)],
        "series with no matching row are absent"
    );

    let batches = latest(dal, "ticks", Load::all().columns(["symbol", "price"])).await;
    assert_schemas(
        &batches,
        &Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false),
        ]),
        "latest with a projection",
    );
    let got = rows(&batches, |b, r| {
        (read_str(b, "symbol", r), read_f64(b, "price", r))
    });
    assert_eq!(
        got,
        vec![
            (Some("000001.SZ".to_string()), Some(14.75)),
            (Some("300750.SZ".to_string()), Some(182.25)),
            (Some("600000.SH".to_string()), Some(12.25)),
        ]
    );

    // An older row saved later does not become the latest; a newer one does.
    save(
        dal,
        "ticks",
        &ticks_batch(&[Tick::new("600000.SH", T0 - 60_000, 1.0, 1)]),
    )
    .await;
    let got = ticks_from(&latest(dal, "ticks", Load::all().symbols(["600000.SH"])).await);
    assert_eq!(got, vec![Tick::new("600000.SH", T0 + 9_000, 12.25, 1_000)]);
    let newer = Tick::new("600000.SH", T0 + 60_000, 13.0, 5).side("S");
    save(dal, "ticks", &ticks_batch(std::slice::from_ref(&newer))).await;
    let got = ticks_from(&latest(dal, "ticks", Load::all().symbols(["600000.SH"])).await);
    assert_eq!(got, vec![newer]);

    // Series of two tags.
    let bar = |symbol: &str, frequency: &str, ts: i64, close: f64| {
        Bar::new(symbol, frequency, ts, close, close, close, close, 1, close)
    };
    let bars = vec![
        bar("600000.SH", "1m", T0, 10.0),
        bar("600000.SH", "1m", T0 + 60_000, 10.5),
        bar("600000.SH", "5m", T0, 10.25),
        bar("600000.SH", "5m", T0 + 300_000, 11.0),
        bar("000001.SZ", "1m", T0 + 120_000, 20.0),
        bar("000001.SZ", "1m", T0 + 60_000, 19.0),
    ];
    save(dal, "bars", &bars_batch(&bars)).await;
    let got = bars_from(&latest(dal, "bars", Load::all()).await);
    assert_eq!(
        got,
        vec![
            bar("000001.SZ", "1m", T0 + 120_000, 20.0),
            bar("600000.SH", "1m", T0 + 60_000, 10.5),
            bar("600000.SH", "5m", T0 + 300_000, 11.0),
        ],
        "one row per (symbol, frequency)"
    );
    let got = bars_from(&latest(dal, "bars", Load::all().tag("frequency", ["5m"])).await);
    assert_eq!(got, vec![bar("600000.SH", "5m", T0 + 300_000, 11.0)]);
}

// ------------------------------------------------------------------------------------------------------
// 5. kline
// ------------------------------------------------------------------------------------------------------

const A: &str = "600000.SH";
const B: &str = "000001.SZ";

/// Ticks of two symbols over several 5-minute buckets, one exactly on a boundary, one a millisecond before
/// one, saved out of time order.
fn kline_ticks() -> Vec<Tick> {
    vec![
        Tick::new(A, T0 + 420_500, 10.75, 120),
        Tick::new(B, T0 + 899_999, 22.0, 100),
        Tick::new(A, T0 + 299_999, 9.5, 300),
        Tick::new(A, T0 - 1, 9.0, 5),
        Tick::new(B, T0 + 6_000, 19.0, 500),
        Tick::new(A, T0 + 1_199_999, 11.25, 30),
        Tick::new(A, T0, 10.0, 100),
        Tick::new(B, T0 + 600_000, 21.0, 700),
        Tick::new(A, T0 + 300_000, 11.0, 50),
        Tick::new(B, T0 + 5_000, 20.0, 1_000),
        Tick::new(A, T0 + 61_000, 10.5, 200),
        Tick::new(A, T0 + 901_000, 12.0, 10),
    ]
}

/// 5m and 1m bars from ticks equal a hand computation: open = first price by time, high, low, close = last
/// price by time, volume and amount summed, count of ticks; bars labelled by their start.
pub async fn kline_from_ticks(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&kline_ticks())).await;
    let schema = kline_schema(&["symbol"], "ts", utc_ms());

    let five = vec![
        kbar(&[B], T0, 20.0, 20.0, 19.0, 19.0, 1_500, 29_500.0, 2),
        kbar(&[B], T0 + 600_000, 21.0, 22.0, 21.0, 22.0, 800, 16_900.0, 2),
        kbar(&[A], T0 - 300_000, 9.0, 9.0, 9.0, 9.0, 5, 45.0, 1),
        kbar(&[A], T0, 10.0, 10.5, 9.5, 9.5, 600, 5_950.0, 3),
        kbar(
            &[A],
            T0 + 300_000,
            11.0,
            11.0,
            10.75,
            10.75,
            170,
            1_840.0,
            2,
        ),
        kbar(&[A], T0 + 900_000, 12.0, 12.0, 11.25, 11.25, 40, 457.5, 2),
    ];
    let batches = kline(dal, "ticks", "5m", Load::all()).await;
    assert_schemas(&batches, &schema, "5m kline of ticks");
    assert_eq!(klines_from(&batches, &["symbol"], "ts"), five, "5m bars");

    let batches = kline(dal, "ticks", "300s", Load::all()).await;
    assert_eq!(klines_from(&batches, &["symbol"], "ts"), five, "300s = 5m");

    let one = vec![
        kbar(&[B], T0, 20.0, 20.0, 19.0, 19.0, 1_500, 29_500.0, 2),
        kbar(&[B], T0 + 600_000, 21.0, 21.0, 21.0, 21.0, 700, 14_700.0, 1),
        kbar(&[B], T0 + 840_000, 22.0, 22.0, 22.0, 22.0, 100, 2_200.0, 1),
        kbar(&[A], T0 - 60_000, 9.0, 9.0, 9.0, 9.0, 5, 45.0, 1),
        kbar(&[A], T0, 10.0, 10.0, 10.0, 10.0, 100, 1_000.0, 1),
        kbar(&[A], T0 + 60_000, 10.5, 10.5, 10.5, 10.5, 200, 2_100.0, 1),
        kbar(&[A], T0 + 240_000, 9.5, 9.5, 9.5, 9.5, 300, 2_850.0, 1),
        kbar(&[A], T0 + 300_000, 11.0, 11.0, 11.0, 11.0, 50, 550.0, 1),
        kbar(
            &[A],
            T0 + 420_000,
            10.75,
            10.75,
            10.75,
            10.75,
            120,
            1_290.0,
            1,
        ),
        kbar(&[A], T0 + 900_000, 12.0, 12.0, 12.0, 12.0, 10, 120.0, 1),
        kbar(
            &[A],
            T0 + 1_140_000,
            11.25,
            11.25,
            11.25,
            11.25,
            30,
            337.5,
            1,
        ),
    ];
    let batches = kline(dal, "ticks", "1m", Load::all()).await;
    assert_schemas(&batches, &schema, "1m kline of ticks");
    assert_eq!(klines_from(&batches, &["symbol"], "ts"), one, "1m bars");

    let batches = kline(
        dal,
        "ticks",
        "5m",
        Load::range(at(T0)..at(T0 + 600_000)).symbols([A]),
    )
    .await;
    assert_eq!(
        klines_from(&batches, &["symbol"], "ts"),
        five[3..5].to_vec(),
        "5m bars of one symbol in [T0, T0+10m)"
    );

    let batches = kline(dal, "ticks", "5m", Load::all().order(Order::Desc)).await;
    let reversed: Vec<Kbar> = five.iter().rev().cloned().collect();
    assert_eq!(
        klines_from(&batches, &["symbol"], "ts"),
        reversed,
        "5m bars, descending"
    );

    let batches = kline(dal, "ticks", "1h", Load::all()).await;
    assert_eq!(
        klines_from(&batches, &["symbol"], "ts"),
        vec![
            kbar(
                &[B],
                T0 - 1_800_000,
                20.0,
                22.0,
                19.0,
                22.0,
                2_300,
                46_400.0,
                4
            ),
            kbar(&[A], T0 - 1_800_000, 9.0, 12.0, 9.0, 11.25, 815, 8_292.5, 8),
        ],
        "1h bars start on the hour (01:00 UTC)"
    );
}

/// 1m bars rolled up into 5m bars: open of the first bar, highest high, lowest low, close of the last bar,
/// summed volume and amount, count of source bars; series of two tags stay apart.
pub async fn kline_from_bars(dal: &Dal) {
    let one_minute = |m: i64| {
        let open = 10.0 + 0.25 * m as f64;
        let high = if m == 2 { 13.0 } else { open + 0.5 };
        let low = if m == 8 { 9.0 } else { open - 0.25 };
        let volume = 100 + 10 * m;
        Bar::new(
            A,
            "1m",
            T0 + m * 60_000,
            open,
            high,
            low,
            open + 0.125,
            volume,
            volume as f64 * 10.0,
        )
    };
    let mut bars: Vec<Bar> = [9, 0, 5, 1, 7, 2, 8, 3, 4]
        .into_iter()
        .map(one_minute)
        .collect();
    bars.push(Bar::new(
        A, "5m", T0, 10.0, 13.0, 9.75, 11.125, 600, 6_000.0,
    ));
    bars.push(Bar::new(
        A,
        "5m",
        T0 + 300_000,
        11.25,
        12.75,
        9.0,
        12.375,
        690,
        6_900.0,
    ));
    bars.push(Bar::new(
        B,
        "1m",
        T0 + 60_000,
        20.0,
        20.5,
        19.5,
        20.25,
        300,
        6_000.0,
    ));
    save(dal, "bars", &bars_batch(&bars)).await;

    let series = ["symbol", "frequency"];
    let one_m_rolled = vec![
        kbar(&[B, "1m"], T0, 20.0, 20.5, 19.5, 20.25, 300, 6_000.0, 1),
        kbar(&[A, "1m"], T0, 10.0, 13.0, 9.75, 11.125, 600, 6_000.0, 5),
        kbar(
            &[A, "1m"],
            T0 + 300_000,
            11.25,
            12.75,
            9.0,
            12.375,
            690,
            6_900.0,
            4,
        ),
    ];
    let batches = kline(dal, "bars", "5m", Load::all().tag("frequency", ["1m"])).await;
    assert_schemas(
        &batches,
        &kline_schema(&series, "ts", utc_ms()),
        "5m kline of bars",
    );
    assert_eq!(
        klines_from(&batches, &series, "ts"),
        one_m_rolled,
        "1m bars rolled into 5m"
    );

    let batches = kline(dal, "bars", "5m", Load::all()).await;
    let mut everything = one_m_rolled.clone();
    everything.push(kbar(
        &[A, "5m"],
        T0,
        10.0,
        13.0,
        9.75,
        11.125,
        600,
        6_000.0,
        1,
    ));
    everything.push(kbar(
        &[A, "5m"],
        T0 + 300_000,
        11.25,
        12.75,
        9.0,
        12.375,
        690,
        6_900.0,
        1,
    ));
    assert_eq!(
        klines_from(&batches, &series, "ts"),
        everything,
        "each (symbol, frequency) is its own series"
    );

    let batches = kline(
        dal,
        "bars",
        "10m",
        Load::all().symbols([A]).tag("frequency", ["1m"]),
    )
    .await;
    assert_eq!(
        klines_from(&batches, &series, "ts"),
        vec![kbar(
            &[A, "1m"],
            T0,
            10.0,
            13.0,
            9.0,
            12.375,
            1_290,
            12_900.0,
            9
        )],
        "10m bar of 1m bars"
    );
}

/// Weekly (7d) and fortnightly (14d) bars of a DATE class start on Mondays (aligned to 1970-01-05); the
/// bar's time column is a Date32 named like the class's.
pub async fn kline_weekly_on_dates(dal: &Dal) {
    let days = [
        day(2023, 12, 31),
        day(2024, 1, 2),
        day(2024, 1, 3),
        day(2024, 1, 4),
        day(2024, 1, 5),
        day(2024, 1, 7),
        day(2024, 1, 8),
        day(2024, 1, 9),
        day(2024, 1, 10),
        day(2024, 1, 11),
        day(2024, 1, 12),
        day(2024, 1, 15),
    ];
    let mut rows: Vec<Daily> = days
        .iter()
        .enumerate()
        .map(|(j, &d)| {
            let j = j as i64;
            Daily::new(
                A,
                d,
                10.0 + 0.5 * j as f64,
                1_000 * (j + 1),
                10_005_000 * i128::from(j + 1),
            )
        })
        .collect();
    rows.reverse();
    rows.push(Daily::new(B, day(2024, 1, 14), 8.0, 10, 40_000));
    save(dal, "daily", &daily_batch(&rows)).await;

    let series = ["symbol"];
    let d = |y, m, dd| i64::from(day(y, m, dd));
    let batches = kline(dal, "daily", "7d", Load::all()).await;
    assert_schemas(
        &batches,
        &kline_schema(&series, "trade_date", DataType::Date32),
        "7d kline of a DATE class",
    );
    assert_eq!(
        klines_from(&batches, &series, "trade_date"),
        vec![
            kbar(&[B], d(2024, 1, 8), 8.0, 9.0, 7.5, 8.25, 10, 4.0, 1),
            kbar(
                &[A],
                d(2023, 12, 25),
                10.0,
                11.0,
                9.5,
                10.25,
                1_000,
                1_000.5,
                1
            ),
            kbar(
                &[A],
                d(2024, 1, 1),
                10.5,
                13.5,
                10.0,
                12.75,
                20_000,
                20_010.0,
                5
            ),
            kbar(
                &[A],
                d(2024, 1, 8),
                13.0,
                16.0,
                12.5,
                15.25,
                45_000,
                45_022.5,
                5
            ),
            kbar(
                &[A],
                d(2024, 1, 15),
                15.5,
                16.5,
                15.0,
                15.75,
                12_000,
                12_006.0,
                1
            ),
        ],
        "weekly bars start on Monday; Sunday closes the week"
    );

    let batches = kline(dal, "daily", "14d", Load::all()).await;
    assert_eq!(
        klines_from(&batches, &series, "trade_date"),
        vec![
            kbar(&[B], d(2024, 1, 8), 8.0, 9.0, 7.5, 8.25, 10, 4.0, 1),
            kbar(
                &[A],
                d(2023, 12, 25),
                10.0,
                13.5,
                9.5,
                12.75,
                21_000,
                21_010.5,
                6
            ),
            kbar(
                &[A],
                d(2024, 1, 8),
                13.0,
                16.5,
                12.5,
                15.75,
                57_000,
                57_028.5,
                6
            ),
        ],
        "fortnightly bars are aligned to Monday 1970-01-05"
    );

    let batches = kline(dal, "daily", "1d", Load::all().symbols([A])).await;
    let mut daily_a: Vec<Daily> = rows.iter().filter(|r| r.symbol == A).cloned().collect();
    daily_a.sort_by_key(|r| r.trade_date);
    let want: Vec<Kbar> = daily_a
        .iter()
        .map(|r| {
            kbar(
                &[A],
                i64::from(r.trade_date),
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume,
                r.turnover as f64 / 10_000.0,
                1,
            )
        })
        .collect();
    assert_eq!(
        klines_from(&batches, &series, "trade_date"),
        want,
        "1d bars of daily rows"
    );

    let batches = kline(
        dal,
        "daily",
        "7d",
        Load::range(date(2024, 1, 3)..date(2024, 1, 10)).symbols([A]),
    )
    .await;
    assert_eq!(
        klines_from(&batches, &series, "trade_date"),
        vec![
            kbar(
                &[A],
                d(2024, 1, 1),
                11.0,
                13.5,
                10.5,
                12.75,
                18_000,
                18_009.0,
                4
            ),
            kbar(
                &[A],
                d(2024, 1, 8),
                13.0,
                14.5,
                12.5,
                13.75,
                15_000,
                15_007.5,
                2
            ),
        ],
        "the range selects days before they are bucketed"
    );
}

// ------------------------------------------------------------------------------------------------------
// 6. precision
// ------------------------------------------------------------------------------------------------------

/// A nanosecond class keeps every nanosecond, in saves, range bounds and predicates.
pub async fn precision_ns_round_trip(dal: &Dal) {
    let base = T0 * 1_000_000 + 123_456_789;
    let rows = vec![
        NsTick::new(A, base + 999_999_999, 2.0, 3),
        NsTick::new(A, base, 1.5, 1),
        NsTick::new(B, base, 3.0, 4),
        NsTick::new(A, base + 1, 1.75, 2),
        NsTick::new(A, T0 * 1_000_000, 1.0, 5),
    ];
    save(dal, "ns_ticks", &ns_ticks_batch(&rows)).await;
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| (&a.symbol, a.ts).cmp(&(&b.symbol, b.ts)));
    let batches = load(dal, "ns_ticks", Load::all()).await;
    assert_eq!(
        ns_ticks_from(&batches),
        sorted,
        "nanoseconds round-trip exactly"
    );

    let got = ns_ticks_from(
        &load(
            dal,
            "ns_ticks",
            Load::range(Timestamp::from_nanos(base + 1)..Timestamp::from_nanos(base + 2)),
        )
        .await,
    );
    assert_eq!(
        got,
        vec![NsTick::new(A, base + 1, 1.75, 2)],
        "a 1 ns wide range"
    );

    let got = ns_ticks_from(
        &load(
            dal,
            "ns_ticks",
            Load::range(Timestamp::from_nanos(base)..Timestamp::from_nanos(base + 1)),
        )
        .await,
    );
    assert_eq!(
        got,
        vec![NsTick::new(B, base, 3.0, 4), NsTick::new(A, base, 1.5, 1)],
        "[base, base + 1ns): both symbols' rows at base"
    );

    let got = ns_ticks_from(
        &load(
            dal,
            "ns_ticks",
            Load::all().filter(col("ts").eq(Timestamp::from_nanos(base + 999_999_999))),
        )
        .await,
    );
    assert_eq!(
        got,
        vec![NsTick::new(A, base + 999_999_999, 2.0, 3)],
        "ts = a nanosecond instant"
    );

    let got = ns_ticks_from(
        &load(
            dal,
            "ns_ticks",
            Load::all().filter(col("ts").gt("2024-01-02T01:30:00.123456789Z")),
        )
        .await,
    );
    assert_eq!(
        got,
        vec![
            NsTick::new(A, base + 1, 1.75, 2),
            NsTick::new(A, base + 999_999_999, 2.0, 3)
        ],
        "ts > an RFC 3339 text with nanoseconds"
    );

    let got = ns_ticks_from(&latest(dal, "ns_ticks", Load::all()).await);
    assert_eq!(
        got,
        vec![
            NsTick::new(B, base, 3.0, 4),
            NsTick::new(A, base + 999_999_999, 2.0, 3)
        ],
        "latest of a nanosecond class"
    );

    // Coarser sources widen exactly into the nanosecond class.
    let coarse = batch(vec![
        ("ts", ts_ms([T0 + 7])),
        ("symbol", strs(["C.SH"])),
        ("price", f64s([4.0])),
        ("volume", i64s([6])),
    ]);
    save(dal, "ns_ticks", &coarse).await;
    let got = ns_ticks_from(&load(dal, "ns_ticks", Load::all().symbols(["C.SH"])).await);
    assert_eq!(
        got,
        vec![NsTick::new("C.SH", (T0 + 7) * 1_000_000, 4.0, 6)],
        "ms into ns"
    );
    assert_eq!(count(dal, "ns_ticks").await, 6);
}

/// Timestamps with detail finer than the class precision are refused (never truncated), naming the column
/// and the first offending row; whole values at a finer unit are accepted.
pub async fn precision_finer_than_class_is_refused(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let before = all_ticks(dal).await;
    let rows = vec![
        Tick::new("688981.SH", T0, 1.0, 1),
        Tick::new("688981.SH", T0 + 1, 2.0, 2),
        Tick::new("688981.SH", T0 + 2, 3.0, 3),
    ];
    let base = ticks_batch(&rows);

    let ns: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values([
            T0 * 1_000_000,
            (T0 + 1) * 1_000_000 + 1,
            (T0 + 2) * 1_000_000,
        ])
        .with_timezone("UTC"),
    );
    let err = refused(
        dal.save("ticks", &with_column(&base, "ts", ns)).await,
        "ns detail into ms",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("ts"),
        Some(1),
        "ns detail into ms",
    );

    let us: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter_values([
            T0 * 1_000,
            (T0 + 1) * 1_000,
            (T0 + 2) * 1_000 + 500,
        ])
        .with_timezone("UTC"),
    );
    let err = refused(
        dal.save("ticks", &with_column(&base, "ts", us)).await,
        "us detail into ms",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("ts"),
        Some(2),
        "us detail into ms",
    );

    let text = strs([
        "2024-01-02 01:30:00",
        "2024-01-02 01:30:00.0005",
        "2024-01-02 01:30:00.002",
    ]);
    let options = SaveOptions::default().timestamp_format("%Y-%m-%d %H:%M:%S%.f");
    let err = refused(
        dal.save_with("ticks", &with_column(&base, "ts", text), &options)
            .await,
        "text with sub-ms detail into ms",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("ts"),
        Some(1),
        "text with sub-ms detail",
    );

    let sub_ms = batch(vec![
        ("ts", ts_ns([T0 * 1_000_000 + 1])),
        ("symbol", strs(["X"])),
        ("price", f64s([1.0])),
        ("volume", i64s([1])),
    ]);
    // ns_ticks is the finest class: the same batch is fine there.
    save(dal, "ns_ticks", &sub_ms).await;
    assert_eq!(count(dal, "ns_ticks").await, 1);

    assert_eq!(count(dal, "ticks").await, 30, "refused saves wrote nothing");
    assert_eq!(
        all_ticks(dal).await,
        before,
        "refused saves changed nothing"
    );

    // Whole milliseconds in a finer unit are exact.
    let ns: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values([
            T0 * 1_000_000,
            (T0 + 1) * 1_000_000,
            (T0 + 2) * 1_000_000,
        ])
        .with_timezone("UTC"),
    );
    save(dal, "ticks", &with_column(&base, "ts", ns)).await;
    let got = ticks_from(&load(dal, "ticks", Load::all().symbols(["688981.SH"])).await);
    assert_eq!(got, rows, "whole-ms nanosecond timestamps");
}

/// Coarser sources (seconds, dates, zone-less) widen exactly into a millisecond class.
pub async fn precision_coarser_units_widen_exactly(dal: &Dal) {
    let rows = vec![
        Tick::new("688981.SH", T0, 1.0, 1),
        Tick::new("688981.SH", T0 + 1_000, 2.0, 2),
    ];
    let base = ticks_batch(&rows);

    let seconds: ArrayRef = Arc::new(TimestampSecondArray::from_iter_values([
        T0 / 1_000,
        T0 / 1_000 + 1,
    ]));
    let report = save(dal, "ticks", &with_column(&base, "ts", seconds)).await;
    assert_eq!(report.rows, 2);
    assert_eq!(
        all_ticks(dal).await,
        rows,
        "Timestamp(Second) widened to ms"
    );

    let naive_us: ArrayRef = Arc::new(TimestampMicrosecondArray::from_iter_values([
        (T0 + 2_000) * 1_000,
        (T0 + 3_000) * 1_000,
    ]));
    save(dal, "ticks", &with_column(&base, "ts", naive_us)).await;
    let got = ticks_from(&load(dal, "ticks", Load::all().since(at(T0 + 2_000))).await);
    assert_eq!(
        got,
        vec![
            Tick::new("688981.SH", T0 + 2_000, 1.0, 1),
            Tick::new("688981.SH", T0 + 3_000, 2.0, 2)
        ],
        "zone-less microseconds are UTC"
    );

    let dates: ArrayRef = Arc::new(Date32Array::from_iter_values([
        day(2024, 1, 3),
        day(2024, 1, 4),
    ]));
    save(dal, "ticks", &with_column(&base, "ts", dates)).await;
    let midnight = i64::from(day(2024, 1, 3)) * 86_400_000;
    let got = ticks_from(&load(dal, "ticks", Load::all().since(at(midnight))).await);
    assert_eq!(
        got,
        vec![
            Tick::new("688981.SH", midnight, 1.0, 1),
            Tick::new("688981.SH", midnight + 86_400_000, 2.0, 2)
        ],
        "Date32 into a timestamp is midnight UTC"
    );
    assert_eq!(count(dal, "ticks").await, 6);
}

/// A timestamp labelled with an offset zone is the same instant in UTC.
pub async fn precision_offset_zone_is_same_instant(dal: &Dal) {
    let rows = vec![Tick::new("688981.SH", T0 + 7, 1.0, 1)];
    let shanghai: ArrayRef =
        Arc::new(TimestampMillisecondArray::from_iter_values([T0 + 7]).with_timezone("+08:00"));
    save(
        dal,
        "ticks",
        &with_column(&ticks_batch(&rows), "ts", shanghai),
    )
    .await;
    let batches = load(dal, "ticks", Load::all()).await;
    assert_schemas(&batches, &ticks_schema(), "loaded back as UTC");
    assert_eq!(
        ticks_from(&batches),
        rows,
        "+08:00 is stored as the same instant"
    );

    let instant =
        Timestamp::parse("2024-01-02T09:30:00.007+08:00").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(instant, at(T0 + 7));
    let got = ticks_from(&load(dal, "ticks", Load::range(instant..at(T0 + 8))).await);
    assert_eq!(got, rows, "range bound given in +08:00");
    let got = ticks_from(
        &load(
            dal,
            "ticks",
            Load::all().filter(col("ts").eq("2024-01-02T09:30:00.007+08:00")),
        )
        .await,
    );
    assert_eq!(got, rows, "predicate value given in +08:00");

    let ns_rows = vec![NsTick::new(A, T0 * 1_000_000 + 42, 1.0, 1)];
    let new_york: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values([T0 * 1_000_000 + 42]).with_timezone("-05:00"),
    );
    save(
        dal,
        "ns_ticks",
        &with_column(&ns_ticks_batch(&ns_rows), "ts", new_york),
    )
    .await;
    assert_eq!(
        ns_ticks_from(&load(dal, "ns_ticks", Load::all()).await),
        ns_rows,
        "-05:00 nanoseconds"
    );
}

// ------------------------------------------------------------------------------------------------------
// 7. bad input
// ------------------------------------------------------------------------------------------------------

/// Every operation on an undeclared class is `UnknownClass`, naming it.
pub async fn unknown_class_is_refused(dal: &Dal) {
    let grid = tick_grid();
    save(dal, "ticks", &ticks_batch(&grid)).await;
    let batch = ticks_batch(&grid[..2]);
    let class = "no_such_class";
    let check = |err: Error, what: &str| {
        assert_error(&err, ErrorKind::UnknownClass, class, None, None, what);
    };
    check(refused(dal.save(class, &batch).await, "save"), "save");
    check(
        refused(
            dal.save_with(class, &batch, &SaveOptions::default()).await,
            "save_with",
        ),
        "save_with",
    );
    check(refused(dal.load(class, Load::all()).await, "load"), "load");
    check(
        refused(dal.load_stream(class, Load::all()).await, "load_stream"),
        "load_stream",
    );
    check(
        refused(dal.latest(class, Load::all()).await, "latest"),
        "latest",
    );
    check(
        refused(dal.kline(class, "5m", Load::all()).await, "kline"),
        "kline",
    );
    check(
        refused(
            dal.delete(class, Load::range(at(T0)..at(T0 + 1))).await,
            "delete",
        ),
        "delete",
    );
    check(refused(dal.truncate(class).await, "truncate"), "truncate");
    check(refused(dal.count(class).await, "count"), "count");
    check(refused(dal.spec(class), "spec"), "spec");
    check(refused(dal.store_for(class), "store_for"), "store_for");
    // Class names are exact.
    let err = refused(dal.load("Ticks", Load::all()).await, "load Ticks");
    assert_error(
        &err,
        ErrorKind::UnknownClass,
        "Ticks",
        None,
        None,
        "class names are case-sensitive",
    );
    assert_eq!(count(dal, "ticks").await, 30);
    assert_eq!(all_ticks(dal).await, sorted_ticks(grid));
}

/// Columns the class does not declare, required columns that are missing, and types that cannot be
/// converted losslessly.
pub async fn batch_shape_errors(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let before = all_ticks(dal).await;
    let rows = vec![
        Tick::new("688981.SH", T0, 1.0, 1),
        Tick::new("688981.SH", T0 + 1, 2.0, 2),
    ];
    let base = ticks_batch(&rows);

    let cases: Vec<(&str, RecordBatch, ErrorKind, &str, Option<usize>)> = vec![
        (
            "unknown column",
            with_column(&base, "bogus", i64s([1, 2])),
            ErrorKind::UnknownColumn,
            "bogus",
            None,
        ),
        (
            "missing required value column",
            without_column(&base, "price"),
            ErrorKind::InvalidBatch,
            "price",
            None,
        ),
        (
            "missing tag column",
            without_column(&base, "symbol"),
            ErrorKind::InvalidBatch,
            "symbol",
            None,
        ),
        (
            "missing time column",
            without_column(&base, "ts"),
            ErrorKind::InvalidBatch,
            "ts",
            None,
        ),
        (
            "Utf8 price",
            with_column(&base, "price", strs(["1.0", "2.0"])),
            ErrorKind::InvalidBatch,
            "price",
            None,
        ),
        (
            "Float64 volume",
            with_column(&base, "volume", f64s([1.0, 2.5])),
            ErrorKind::InvalidBatch,
            "volume",
            None,
        ),
        (
            "UInt64 volume above i64::MAX",
            with_column(
                &base,
                "volume",
                Arc::new(UInt64Array::from(vec![1, u64::MAX])),
            ),
            ErrorKind::InvalidBatch,
            "volume",
            Some(1),
        ),
        (
            "Int64 price beyond 2^53",
            with_column(&base, "price", i64s([1, (1 << 53) + 1])),
            ErrorKind::InvalidBatch,
            "price",
            Some(1),
        ),
        (
            "Utf8 timestamps without a format",
            with_column(
                &base,
                "ts",
                strs(["2024-01-02 01:30:00", "2024-01-02 01:30:01"]),
            ),
            ErrorKind::InvalidBatch,
            "ts",
            None,
        ),
        (
            "Float64 timestamps",
            with_column(&base, "ts", f64s([1.0, 2.0])),
            ErrorKind::InvalidBatch,
            "ts",
            None,
        ),
    ];
    for (what, batch, kind, column, row) in cases {
        let err = refused(dal.save("ticks", &batch).await, what);
        assert_error(&err, kind, "ticks", Some(column), row, what);
    }

    let twice = RecordBatch::try_from_iter(vec![
        ("ts", ts_ms([T0])),
        ("symbol", strs(["688981.SH"])),
        ("price", f64s([1.0])),
        ("price", f64s([2.0])),
        ("volume", i64s([1])),
        ("amount", f64s([1.0])),
    ])
    .expect("a batch may repeat a name");
    let err = refused(dal.save("ticks", &twice).await, "a column given twice");
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("price"),
        None,
        "a column given twice",
    );

    let err = refused(
        dal.save(
            "instruments",
            &batch(vec![
                ("code", strs(["X"])),
                ("name", strs(["x"])),
                ("lot_size", i64s([i64::from(i32::MAX) + 1])),
                ("tick_size", decimals(vec![Some(1)], 10, 4)),
                ("active", opt_bools(vec![Some(true)])),
            ]),
        )
        .await,
        "INT overflow",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "instruments",
        Some("lot_size"),
        Some(0),
        "INT overflow",
    );

    assert_eq!(count(dal, "ticks").await, 30);
    assert_eq!(count(dal, "instruments").await, 0);
    assert_eq!(
        all_ticks(dal).await,
        before,
        "refused saves changed nothing"
    );
}

/// Nulls in non-null columns (values, tags, time) name the column and the first null row.
pub async fn null_errors(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let before = all_ticks(dal).await;
    let rows: Vec<Tick> = (0..4)
        .map(|i| Tick::new("688981.SH", T0 + i, 1.0, 1))
        .collect();
    let base = ticks_batch(&rows);

    let cases: Vec<(&str, RecordBatch, &str, usize)> = vec![
        (
            "null volume",
            with_column(
                &base,
                "volume",
                opt_i64s(vec![Some(1), Some(2), None, None]),
            ),
            "volume",
            2,
        ),
        (
            "null price",
            with_column(
                &base,
                "price",
                Arc::new(Float64Array::from(vec![
                    None,
                    Some(1.0),
                    Some(1.0),
                    Some(1.0),
                ])),
            ),
            "price",
            0,
        ),
        (
            "null timestamp",
            with_column(
                &base,
                "ts",
                ts_ms_opt(vec![Some(T0), None, Some(T0 + 2), Some(T0 + 3)]),
            ),
            "ts",
            1,
        ),
        (
            "null tag",
            with_column(
                &base,
                "symbol",
                opt_strs([Some("X"), Some("X"), Some("X"), None]),
            ),
            "symbol",
            3,
        ),
    ];
    for (what, batch, column, row) in cases {
        let err = refused(dal.save("ticks", &batch).await, what);
        assert_error(
            &err,
            ErrorKind::InvalidBatch,
            "ticks",
            Some(column),
            Some(row),
            what,
        );
    }
    let err = refused(
        dal.save(
            "instruments",
            &batch(vec![
                ("code", strs(["X", "Y"])),
                ("name", strs(["x", "y"])),
                (
                    "lot_size",
                    Arc::new(Int32Array::from(vec![1, 1])) as ArrayRef,
                ),
                ("tick_size", decimals(vec![Some(1), Some(1)], 10, 4)),
                ("active", opt_bools(vec![Some(true), None])),
            ]),
        )
        .await,
        "null BOOL",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "instruments",
        Some("active"),
        Some(1),
        "null BOOL",
    );
    assert_eq!(count(dal, "ticks").await, 30);
    assert_eq!(count(dal, "instruments").await, 0);
    assert_eq!(
        all_ticks(dal).await,
        before,
        "refused saves changed nothing"
    );

    // A null in a nullable column is fine.
    let report = save(dal, "ticks", &base).await;
    assert_eq!(report.rows, 4);
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().symbols(["688981.SH"])).await),
        rows
    );
}

/// Two rows with one key in one batch are refused (a batch holds each key once), naming the second row,
/// whether or not the key is already stored.
pub async fn duplicate_key_in_batch(dal: &Dal) {
    let dup = vec![
        Tick::new("688981.SH", T0, 1.0, 1),
        Tick::new("688981.SH", T0 + 1, 2.0, 2),
        Tick::new("000001.SZ", T0, 3.0, 3),
        Tick::new("688981.SH", T0, 4.0, 4),
        Tick::new("688981.SH", T0 + 2, 5.0, 5),
    ];
    let err = refused(
        dal.save("ticks", &ticks_batch(&dup)).await,
        "duplicate key, empty table",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("symbol,ts"),
        Some(3),
        "duplicate key, empty table",
    );
    assert_eq!(count(dal, "ticks").await, 0, "nothing written");

    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let before = all_ticks(dal).await;
    let dup = vec![
        Tick::new("600000.SH", T0 + 3_000, 50.0, 1),
        Tick::new("688981.SH", T0, 2.0, 2),
        Tick::new("688981.SH", T0 + 1, 2.0, 2),
        Tick::new("600000.SH", T0 + 3_000, 60.0, 1),
    ];
    let err = refused(
        dal.save("ticks", &ticks_batch(&dup)).await,
        "duplicate of a stored key",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("symbol,ts"),
        Some(3),
        "duplicate of a stored key",
    );
    assert_eq!(count(dal, "ticks").await, 30);
    assert_eq!(all_ticks(dal).await, before, "nothing written");

    let codes = vec![
        Instrument::new("A", "a", 1, 1, true),
        Instrument::new("B", "b", 1, 1, true),
        Instrument::new("A", "a2", 1, 1, true),
    ];
    let err = refused(
        dal.save("instruments", &instruments_batch(&codes)).await,
        "duplicate code",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "instruments",
        Some("code"),
        Some(2),
        "duplicate code",
    );
    assert_eq!(count(dal, "instruments").await, 0);

    let days = vec![
        Daily::new(A, day(2024, 1, 2), 1.0, 1, 1),
        Daily::new(A, day(2024, 1, 2), 2.0, 2, 2),
    ];
    let err = refused(
        dal.save("daily", &daily_batch(&days)).await,
        "duplicate day",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "daily",
        Some("symbol,trade_date"),
        Some(1),
        "duplicate day",
    );
    assert_eq!(count(dal, "daily").await, 0);
}

/// Per-value rules: VARCHAR(n) length in characters, JSON well-formedness, DECIMAL scale and precision.
pub async fn value_rule_errors(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    let before = all_ticks(dal).await;
    let rows: Vec<Tick> = (0..3)
        .map(|i| Tick::new("688981.SH", T0 + i, 1.0, 1))
        .collect();
    let base = ticks_batch(&rows);

    let err = refused(
        dal.save(
            "ticks",
            &with_column(
                &base,
                "symbol",
                strs(["688981.SH", "ABCDEFGHIJKLMNOPQ", "X"]),
            ),
        )
        .await,
        "17 characters into VARCHAR(16)",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("symbol"),
        Some(1),
        "VARCHAR(16)",
    );
    let err = refused(
        dal.save(
            "ticks",
            &with_column(&base, "side", opt_strs([None, None, Some("BS")])),
        )
        .await,
        "2 characters into VARCHAR(1)",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "ticks",
        Some("side"),
        Some(2),
        "VARCHAR(1)",
    );
    assert_eq!(
        all_ticks(dal).await,
        before,
        "refused saves changed nothing"
    );

    let day_rows = vec![
        Daily::new(A, day(2024, 1, 2), 1.0, 1, 1),
        Daily::new(A, day(2024, 1, 3), 1.0, 1, 1),
    ];
    let base = daily_batch(&day_rows);
    let cases: Vec<(&str, RecordBatch, &str, usize)> = vec![
        (
            "9 characters (27 bytes) into VARCHAR(8)",
            with_column(
                &base,
                "board",
                opt_strs([Some("创业板"), Some("创业板创业板创业板")]),
            ),
            "board",
            1,
        ),
        (
            "invalid JSON",
            with_column(
                &base,
                "meta",
                opt_strs([Some(r#"{"ok": 1}"#), Some("{bad")]),
            ),
            "meta",
            1,
        ),
        (
            "trailing garbage after JSON",
            with_column(&base, "meta", opt_strs([Some("[1] x"), None])),
            "meta",
            0,
        ),
        (
            "five decimals into DECIMAL(18,4)",
            with_column(&base, "turnover", f64s([1.5, 1.23456])),
            "turnover",
            1,
        ),
        (
            "NaN into DECIMAL(18,4)",
            with_column(&base, "turnover", f64s([f64::NAN, 1.0])),
            "turnover",
            0,
        ),
        (
            "10^14 into DECIMAL(18,4)",
            with_column(&base, "turnover", i64s([1, 100_000_000_000_000])),
            "turnover",
            1,
        ),
        (
            "DECIMAL(38,4) beyond DECIMAL(18,4)",
            with_column(
                &base,
                "turnover",
                decimals(vec![Some(10i128.pow(20)), Some(1)], 38, 4),
            ),
            "turnover",
            0,
        ),
        (
            "a date that does not parse",
            with_column(&base, "trade_date", strs(["2024-01-02", "2024-02-30"])),
            "trade_date",
            1,
        ),
        (
            "a timestamp that is not midnight into DATE",
            with_column(
                &base,
                "trade_date",
                ts_ms([
                    i64::from(day(2024, 1, 2)) * 86_400_000,
                    i64::from(day(2024, 1, 3)) * 86_400_000 + 1,
                ]),
            ),
            "trade_date",
            1,
        ),
    ];
    for (what, batch, column, row) in cases {
        let err = refused(dal.save("daily", &batch).await, what);
        assert_error(
            &err,
            ErrorKind::InvalidBatch,
            "daily",
            Some(column),
            Some(row),
            what,
        );
    }
    assert_eq!(count(dal, "daily").await, 0, "refused saves wrote nothing");
    assert_eq!(count(dal, "ticks").await, 30);
}

/// Malformed loads: undeclared columns, values of the wrong type, ranges on a class without time, bad
/// intervals, deletes without a condition.
pub async fn query_errors(dal: &Dal) {
    save(dal, "ticks", &ticks_batch(&tick_grid())).await;
    save(
        dal,
        "instruments",
        &instruments_batch(&[Instrument::new("600000.SH", "x", 100, 100, true)]),
    )
    .await;
    let before = all_ticks(dal).await;

    let unknown: Vec<(&str, Load, &str)> = vec![
        ("projection", Load::all().columns(["ts", "nope"]), "nope"),
        ("filter", Load::all().filter(col("nope").eq(1)), "nope"),
        ("tag", Load::all().tag("exchange", ["SH"]), "exchange"),
        (
            "is_null filter",
            Load::all().filter(col("Price").is_null()),
            "Price",
        ),
    ];
    for (what, query, column) in unknown {
        let err = refused(dal.load("ticks", query.clone()).await, what);
        assert_error(
            &err,
            ErrorKind::UnknownColumn,
            "ticks",
            Some(column),
            None,
            what,
        );
        let err = refused(dal.latest("ticks", query.clone()).await, what);
        assert_error(
            &err,
            ErrorKind::UnknownColumn,
            "ticks",
            Some(column),
            None,
            what,
        );
        let err = refused(dal.kline("ticks", "5m", query.clone()).await, what);
        assert_error(
            &err,
            ErrorKind::UnknownColumn,
            "ticks",
            Some(column),
            None,
            what,
        );
        let err = refused(dal.load_stream("ticks", query).await, what);
        assert_error(
            &err,
            ErrorKind::UnknownColumn,
            "ticks",
            Some(column),
            None,
            what,
        );
    }
    let err = refused(
        dal.delete("ticks", Load::all().filter(col("nope").eq(1)))
            .await,
        "delete with an unknown column",
    );
    assert_error(
        &err,
        ErrorKind::UnknownColumn,
        "ticks",
        Some("nope"),
        None,
        "delete, unknown column",
    );

    let invalid: Vec<(&str, Load, Option<&str>)> = vec![
        (
            "text for BIGINT",
            Load::all().filter(col("volume").eq("abc")),
            Some("volume"),
        ),
        (
            "fraction for BIGINT",
            Load::all().filter(col("volume").eq(1.5)),
            Some("volume"),
        ),
        (
            "null value",
            Load::all().filter(col("price").eq(Value::Null)),
            Some("price"),
        ),
        (
            "bool for DOUBLE",
            Load::all().filter(col("price").eq(true)),
            Some("price"),
        ),
        (
            "sub-ms instant on a ms column",
            Load::all().filter(col("ts").eq(Timestamp::from_nanos(T0 * 1_000_000 + 1))),
            Some("ts"),
        ),
        (
            "text that is no instant",
            Load::all().filter(col("ts").eq("yesterday")),
            Some("ts"),
        ),
        (
            "between with one value",
            Load::all().filter(Predicate {
                column: "volume".into(),
                op: Op::Between,
                values: vec![Value::Int(1)],
            }),
            Some("volume"),
        ),
        (
            "in with no values",
            Load::all().filter(col("volume").is_in(Vec::<i64>::new())),
            Some("volume"),
        ),
        (
            "tag with no values",
            Load::all().tag("symbol", Vec::<&str>::new()),
            Some("symbol"),
        ),
        (
            "column projected twice",
            Load::all().columns(["ts", "ts"]),
            Some("ts"),
        ),
        (
            "empty projection",
            Load::all().columns(Vec::<String>::new()),
            None,
        ),
        ("start after end", Load::range(at(T0 + 1)..at(T0)), None),
        ("limit 0", Load::all().limit(0), None),
    ];
    for (what, query, column) in invalid {
        let err = refused(dal.load("ticks", query.clone()).await, what);
        assert_error(&err, ErrorKind::InvalidQuery, "ticks", column, None, what);
        let err = refused(dal.latest("ticks", query).await, what);
        assert_error(&err, ErrorKind::InvalidQuery, "ticks", column, None, what);
    }

    for (what, query) in [
        ("range", Load::range(at(0)..at(1))),
        ("since", Load::all().since(at(0))),
        ("until", Load::all().until(at(1))),
    ] {
        let err = refused(dal.load("instruments", query).await, what);
        assert_error(
            &err,
            ErrorKind::InvalidQuery,
            "instruments",
            None,
            None,
            "time range on a class without time",
        );
    }
    let err = refused(
        dal.latest("instruments", Load::all()).await,
        "latest without time",
    );
    assert_error(
        &err,
        ErrorKind::InvalidQuery,
        "instruments",
        None,
        None,
        "latest on a class without time",
    );

    for interval in ["5x", "0m", "", "m", "5", "-1m", "1w", "9999d"] {
        let err = refused(dal.kline("ticks", interval, Load::all()).await, interval);
        assert_error(
            &err,
            ErrorKind::InvalidQuery,
            "ticks",
            None,
            None,
            &format!("interval `{interval}`"),
        );
    }
    let err = refused(
        dal.kline("daily", "1h", Load::all()).await,
        "1h on a DATE class",
    );
    assert_error(
        &err,
        ErrorKind::InvalidQuery,
        "daily",
        None,
        None,
        "1h on a DATE class",
    );
    for class in ["ns_ticks", "instruments"] {
        let err = refused(
            dal.kline(class, "5m", Load::all()).await,
            "kline without a source",
        );
        assert_error(
            &err,
            ErrorKind::InvalidQuery,
            class,
            None,
            None,
            "kline on a class with no `kline:`",
        );
    }

    for (what, query) in [
        ("Load::all()", Load::all()),
        ("only a limit", Load::all().limit(5)),
        ("only a projection", Load::all().columns(["ts"])),
        ("only an order", Load::all().order(Order::Desc)),
    ] {
        let err = refused(dal.delete("ticks", query).await, what);
        assert_error(
            &err,
            ErrorKind::InvalidQuery,
            "ticks",
            None,
            None,
            &format!("delete with {what}"),
        );
    }
    let err = refused(
        dal.delete("instruments", Load::all()).await,
        "delete all instruments",
    );
    assert_error(
        &err,
        ErrorKind::InvalidQuery,
        "instruments",
        None,
        None,
        "delete without a condition",
    );

    assert_eq!(
        count(dal, "ticks").await,
        30,
        "refused calls deleted nothing"
    );
    assert_eq!(
        count(dal, "instruments").await,
        1,
        "refused calls deleted nothing"
    );
    assert_eq!(all_ticks(dal).await, before);
}

/// A batch whose last row is bad writes none of its rows, whether validation or the store finds the problem.
pub async fn bad_last_row_writes_nothing(dal: &Dal) {
    let grid = tick_grid();
    save(dal, "ticks", &ticks_batch(&grid)).await;
    let before = all_ticks(dal).await;

    // Update every stored row and add five new ones; the last row is bad in a different way each time.
    let mut rows: Vec<Tick> = grid
        .iter()
        .map(|t| Tick {
            price: t.price * 2.0,
            ..t.clone()
        })
        .collect();
    rows.extend((0..5).map(|i| Tick::new("688981.SH", T0 + i, 1.0, 1)));
    let last = rows.len() - 1;
    assert_eq!(last, 34);
    let good = ticks_batch(&rows);

    let mut too_long: Vec<String> = rows.iter().map(|t| t.symbol.clone()).collect();
    too_long[last] = "X".repeat(17);
    let mut null_volume: Vec<Option<i64>> = rows.iter().map(|t| Some(t.volume)).collect();
    null_volume[last] = None;
    let mut sub_ms: Vec<i64> = rows.iter().map(|t| t.ts * 1_000_000).collect();
    sub_ms[last] += 1;
    let mut dup = rows.clone();
    dup[last] = Tick {
        price: 77.0,
        ..rows[0].clone()
    };

    let cases: Vec<(&str, RecordBatch, &str)> = vec![
        (
            "over-long tag",
            with_column(&good, "symbol", strs(&too_long)),
            "symbol",
        ),
        (
            "null volume",
            with_column(&good, "volume", opt_i64s(null_volume)),
            "volume",
        ),
        (
            "sub-ms timestamp",
            with_column(&good, "ts", ts_ns(sub_ms)),
            "ts",
        ),
        ("duplicate of row 0", ticks_batch(&dup), "symbol,ts"),
    ];
    for (what, batch, column) in cases {
        let err = refused(dal.save("ticks", &batch).await, what);
        assert_error(
            &err,
            ErrorKind::InvalidBatch,
            "ticks",
            Some(column),
            Some(last),
            what,
        );
        assert_eq!(count(dal, "ticks").await, 30, "{what}: rows added");
        assert_eq!(all_ticks(dal).await, before, "{what}: rows changed");
    }

    let days: Vec<Daily> = (0..4)
        .map(|j| Daily::new(A, day(2024, 1, 2) + j, 1.0, 1, 1))
        .collect();
    let mut meta: Vec<Option<&str>> = vec![Some("{}"); 4];
    meta[3] = Some("{");
    let err = refused(
        dal.save(
            "daily",
            &with_column(&daily_batch(&days), "meta", opt_strs(meta)),
        )
        .await,
        "bad JSON last",
    );
    assert_error(
        &err,
        ErrorKind::InvalidBatch,
        "daily",
        Some("meta"),
        Some(3),
        "bad JSON last",
    );
    assert_eq!(count(dal, "daily").await, 0);

    // The good batch still goes through afterwards.
    assert_eq!(save(dal, "ticks", &good).await.rows, 35);
    assert_eq!(all_ticks(dal).await, sorted_ticks(rows));
}

// ------------------------------------------------------------------------------------------------------
// 8. lossless conversions
// ------------------------------------------------------------------------------------------------------

/// Conversions that lose nothing are applied: narrower integers and floats, integers and exact floats into
/// DECIMAL, narrower decimals, text timestamps with a format, text dates, large and view strings.
pub async fn lossless_casts_accepted(dal: &Dal) {
    let mixed = batch(vec![
        ("ts", ts_ms([T0, T0 + 1_000, T0 + 2_000])),
        (
            "symbol",
            Arc::new(LargeStringArray::from(vec![
                "600000.SH",
                "600000.SH",
                "600000.SH",
            ])) as ArrayRef,
        ),
        (
            "price",
            Arc::new(Float32Array::from(vec![10.25f32, 1.5, 0.1])) as ArrayRef,
        ),
        (
            "volume",
            Arc::new(Int32Array::from(vec![100, 2_000_000_000, -5])) as ArrayRef,
        ),
        ("amount", i64s([1_025, 3_000_000_000, -1])),
    ]);
    let report = save(dal, "ticks", &mixed).await;
    assert_eq!(report.rows, 3);
    assert_eq!(
        all_ticks(dal).await,
        vec![
            Tick {
                amount: 1_025.0,
                ..Tick::new("600000.SH", T0, 10.25, 100)
            },
            Tick {
                amount: 3_000_000_000.0,
                ..Tick::new("600000.SH", T0 + 1_000, 1.5, 2_000_000_000)
            },
            Tick {
                amount: -1.0,
                ..Tick::new("600000.SH", T0 + 2_000, f64::from(0.1f32), -5)
            },
        ],
        "Float32 -> DOUBLE, Int32 -> BIGINT, Int64 -> DOUBLE, LargeUtf8 -> VARCHAR, missing nullable -> null"
    );

    let text_ts = batch(vec![
        (
            "ts",
            strs(["2024-01-02 01:30:05.123", "2024-01-02 01:30:06"]),
        ),
        ("symbol", strs(["000001.SZ", "000001.SZ"])),
        ("price", f64s([1.0, 2.0])),
        (
            "volume",
            Arc::new(UInt32Array::from(vec![1u32, 4_000_000_000])) as ArrayRef,
        ),
        ("amount", f64s([1.0, 2.0])),
        ("side", strs(["B", "S"])),
    ]);
    let options = SaveOptions::default().timestamp_format("%Y-%m-%d %H:%M:%S%.f");
    assert_eq!(save_with(dal, "ticks", &text_ts, &options).await.rows, 2);
    assert_eq!(
        ticks_from(&load(dal, "ticks", Load::all().symbols(["000001.SZ"])).await),
        vec![
            Tick {
                amount: 1.0,
                ..Tick::new("000001.SZ", T0 + 5_123, 1.0, 1).side("B")
            },
            Tick {
                amount: 2.0,
                ..Tick::new("000001.SZ", T0 + 6_000, 2.0, 4_000_000_000).side("S")
            },
        ],
        "text timestamps with a format; UInt32 -> BIGINT"
    );

    let text_dates = batch(vec![
        ("trade_date", strs(["2024-01-02", "2024-01-03"])),
        ("symbol", strs([A, A])),
        ("open", f64s([1.0, 2.0])),
        ("high", f64s([1.0, 2.0])),
        ("low", f64s([1.0, 2.0])),
        ("close", f64s([1.0, 2.0])),
        ("volume", Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef),
        ("turnover", i64s([123, -7])),
    ]);
    save(dal, "daily", &text_dates).await;
    let int_days = ts_ms([
        i64::from(day(2024, 1, 4)) * 86_400_000,
        i64::from(day(2024, 1, 5)) * 86_400_000,
        i64::from(day(2024, 1, 8)) * 86_400_000,
    ]);
    let float_decimals = batch(vec![
        ("trade_date", int_days),
        ("symbol", strs([A, A, A])),
        ("open", f64s([1.0, 2.0, 3.0])),
        ("high", f64s([1.0, 2.0, 3.0])),
        ("low", f64s([1.0, 2.0, 3.0])),
        ("close", f64s([1.0, 2.0, 3.0])),
        ("volume", i64s([1, 2, 3])),
        ("turnover", f64s([1_000.5, 0.0001, -12_345.678_9])),
        ("suspended", opt_bools(vec![Some(true), None, Some(false)])),
    ]);
    save(dal, "daily", &float_decimals).await;
    let narrow_decimal = batch(vec![
        ("trade_date", dates([day(2024, 1, 9)])),
        ("symbol", strs([A])),
        ("open", f64s([1.0])),
        ("high", f64s([1.0])),
        ("low", f64s([1.0])),
        ("close", f64s([1.0])),
        ("volume", i64s([1])),
        ("turnover", decimals(vec![Some(1_234)], 12, 2)),
        ("board", strs(["主板"])),
    ]);
    save(dal, "daily", &narrow_decimal).await;
    let flat = |d: i32, p: f64, v: i64, t: i128| Daily {
        high: p,
        low: p,
        close: p,
        ..Daily::new(A, d, p, v, t)
    };
    assert_daily_eq(
        &daily_from(&load(dal, "daily", Load::all()).await),
        &[
            flat(day(2024, 1, 2), 1.0, 7, 1_230_000),
            flat(day(2024, 1, 3), 2.0, 8, -70_000),
            Daily {
                suspended: Some(true),
                ..flat(day(2024, 1, 4), 1.0, 1, 10_005_000)
            },
            flat(day(2024, 1, 5), 2.0, 2, 1),
            Daily {
                suspended: Some(false),
                ..flat(day(2024, 1, 8), 3.0, 3, -123_456_789)
            },
            Daily {
                board: Some("主板".into()),
                ..flat(day(2024, 1, 9), 1.0, 1, 123_400)
            },
        ],
        "text dates, midnight timestamps -> DATE, Int64 / exact Float64 / Decimal128(12,2) -> DECIMAL(18,4)",
    );

    let instruments = batch(vec![
        ("code", strs(["600000.SH"])),
        ("name", strs(["浦发银行"])),
        ("lot_size", i64s([100])),
        ("tick_size", f64s([0.01])),
        ("active", opt_bools(vec![Some(true)])),
        ("listed", strs(["1999-11-10"])),
    ]);
    save(dal, "instruments", &instruments).await;
    assert_instruments_eq(
        &instruments_from(&load(dal, "instruments", Load::all()).await),
        &[Instrument {
            listed: Some(day(1999, 11, 10)),
            ..Instrument::new("600000.SH", "浦发银行", 100, 100, true)
        }],
        "Int64 -> INT, Float64 -> DECIMAL(10,4), text -> DATE",
    );
}

// ------------------------------------------------------------------------------------------------------
// 9. delete
// ------------------------------------------------------------------------------------------------------

/// Deletes remove exactly the matching rows and report how many; deleted keys can be written again;
/// truncate empties a class and reports how many rows it held.
pub async fn delete_and_truncate(dal: &Dal) {
    let grid = tick_grid();
    save(dal, "ticks", &ticks_batch(&grid)).await;
    let mut model = model_of(&grid);
    fn remove(model: &mut BTreeMap<(String, i64), Tick>, keep: &dyn Fn(&Tick) -> bool) -> u64 {
        let before = model.len();
        model.retain(|_, t| keep(t));
        (before - model.len()) as u64
    }

    let n = delete(dal, "ticks", Load::range(at(T0 + 2_000)..at(T0 + 5_000))).await;
    assert_eq!(n, 9, "rows deleted by range");
    assert_eq!(
        remove(&mut model, &|t| !(t.ts >= T0 + 2_000 && t.ts < T0 + 5_000)),
        9
    );
    assert_eq!(count(dal, "ticks").await, 21);
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "after deleting a range"
    );

    let n = delete(dal, "ticks", Load::all().symbols(["000001.SZ"])).await;
    assert_eq!(n, 7, "rows deleted by symbol");
    remove(&mut model, &|t| t.symbol != "000001.SZ");
    assert_eq!(count(dal, "ticks").await, 14);
    assert_eq!(
        all_ticks(dal).await,
        model_rows(&model),
        "after deleting a symbol"
    );

    let n = delete(dal, "ticks", Load::all().filter(col("side").is_null())).await;
    assert_eq!(n, 8, "rows deleted by filter");
    remove(&mut model, &|t| t.side.is_some());
    assert_eq!(count(dal, "ticks").await, 6);
    let left: Vec<(String, i64)> = all_ticks(dal)
        .await
        .iter()
        .map(|t| (t.symbol.clone(), (t.ts - T0) / 1_000))
        .collect();
    let want: Vec<(String, i64)> = ["300750.SZ", "600000.SH"]
        .iter()
        .flat_map(|s| [0, 6, 8].map(|i| (s.to_string(), i)))
        .collect();
    assert_eq!(left, want, "after deleting null sides");
    assert_eq!(all_ticks(dal).await, model_rows(&model));

    assert_eq!(
        delete(dal, "ticks", Load::all().symbols(["999999.SH"])).await,
        0,
        "no match"
    );
    assert_eq!(
        delete(
            dal,
            "ticks",
            Load::range(at(T0 + 100_000)..at(T0 + 200_000))
        )
        .await,
        0,
        "empty range"
    );
    let n = delete(
        dal,
        "ticks",
        Load::range(at(T0)..at(T0 + 1_000)).symbols(["600000.SH"]),
    )
    .await;
    assert_eq!(n, 1, "range and symbol");
    assert_eq!(count(dal, "ticks").await, 5);

    let report = save(dal, "ticks", &ticks_batch(&grid)).await;
    assert_eq!(report.rows, 30);
    assert_eq!(
        count(dal, "ticks").await,
        30,
        "deleted keys can be saved again"
    );
    assert_eq!(all_ticks(dal).await, sorted_ticks(grid.clone()));

    let days: Vec<Daily> = (0..5)
        .map(|j| Daily::new(A, day(2024, 1, 1) + j, 1.0, 1, 1))
        .collect();
    save(dal, "daily", &daily_batch(&days)).await;
    let n = delete(
        dal,
        "daily",
        Load::range(date(2024, 1, 2)..date(2024, 1, 4)),
    )
    .await;
    assert_eq!(n, 2, "DATE range delete");
    let left: Vec<i32> = daily_from(&load(dal, "daily", Load::all()).await)
        .iter()
        .map(|d| d.trade_date)
        .collect();
    assert_eq!(left, [day(2024, 1, 1), day(2024, 1, 4), day(2024, 1, 5)]);

    save(
        dal,
        "instruments",
        &instruments_batch(&[
            Instrument::new("A", "a", 1, 1, true),
            Instrument::new("B", "b", 1, 1, false),
        ]),
    )
    .await;
    assert_eq!(
        delete(dal, "instruments", Load::all().filter(col("code").eq("A"))).await,
        1,
        "delete by key on a class without time"
    );
    assert_eq!(
        instruments_from(&load(dal, "instruments", Load::all()).await),
        vec![Instrument::new("B", "b", 1, 1, false)]
    );

    assert_eq!(
        dal.truncate("ticks")
            .await
            .unwrap_or_else(|e| panic!("truncate: {e}")),
        30
    );
    assert_eq!(count(dal, "ticks").await, 0);
    assert_eq!(total_rows(&load(dal, "ticks", Load::all()).await), 0);
    assert_eq!(
        dal.truncate("ticks")
            .await
            .unwrap_or_else(|e| panic!("truncate: {e}")),
        0
    );
    assert_eq!(
        count(dal, "daily").await,
        3,
        "truncate touches one class only"
    );
    assert_eq!(count(dal, "instruments").await, 1);
}

// ------------------------------------------------------------------------------------------------------
// 10. concurrency
// ------------------------------------------------------------------------------------------------------

/// 16 tasks at once: 8 save disjoint tick series (4 saves of 25 rows each), 2 save bars, 2 save instruments,
/// 2 re-save one identical daily batch, 2 read while this goes on. Readers never see part of a save; final
/// counts and contents are exact; identical re-saves change nothing.
pub async fn concurrent_saves_and_loads(dal: Arc<Dal>) {
    const CHUNK: usize = 25;
    let shared: Vec<Daily> = (0..10)
        .map(|j| Daily::new(A, day(2024, 1, 2) + j, 10.0 + f64::from(j), 100, 10_000))
        .collect();
    let shared_batch = daily_batch(&shared);
    save(&dal, "daily", &shared_batch).await;
    assert_eq!(count(&dal, "daily").await, 10);

    let tick_rows = |w: usize| -> Vec<Tick> {
        let symbol = format!("W{w:02}.SZ");
        (0..100)
            .map(|i| Tick::new(&symbol, T0 + i * 1_000, 1.0 + i as f64 * 0.5, i + 1))
            .collect()
    };
    let bar_rows = |w: usize| -> Vec<Bar> {
        let symbol = format!("BAR{w}");
        (0..60)
            .map(|m| {
                let p = 10.0 + m as f64;
                Bar::new(
                    &symbol,
                    "1m",
                    T0 + m * 60_000,
                    p,
                    p + 1.0,
                    p - 1.0,
                    p + 0.5,
                    m,
                    p * 2.0,
                )
            })
            .collect()
    };
    let instrument_rows = |w: usize| -> Vec<Instrument> {
        (0..20)
            .map(|n| Instrument::new(&format!("I{w}{n:02}"), "name", 100, 100, n % 2 == 0))
            .collect()
    };

    let mut handles = Vec::new();
    for w in 0..8 {
        let dal = dal.clone();
        let rows = tick_rows(w);
        handles.push(tokio::spawn(async move {
            for chunk in rows.chunks(CHUNK) {
                assert_eq!(
                    save(&dal, "ticks", &ticks_batch(chunk)).await.rows,
                    CHUNK as u64
                );
            }
        }));
    }
    for w in 0..2 {
        let dal = dal.clone();
        let rows = bar_rows(w);
        handles.push(tokio::spawn(async move {
            for chunk in rows.chunks(30) {
                assert_eq!(save(&dal, "bars", &bars_batch(chunk)).await.rows, 30);
            }
        }));
    }
    for w in 0..2 {
        let dal = dal.clone();
        let rows = instrument_rows(w);
        handles.push(tokio::spawn(async move {
            assert_eq!(
                save(&dal, "instruments", &instruments_batch(&rows))
                    .await
                    .rows,
                20
            );
        }));
    }
    for _ in 0..2 {
        let dal = dal.clone();
        let batch = shared_batch.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..10 {
                assert_eq!(save(&dal, "daily", &batch).await.rows, 10);
            }
        }));
    }
    for _ in 0..2 {
        let dal = dal.clone();
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..20 {
                let ticks = ticks_from(&load(&dal, "ticks", Load::all()).await);
                let mut per_symbol: BTreeMap<String, usize> = BTreeMap::new();
                for t in &ticks {
                    *per_symbol.entry(t.symbol.clone()).or_default() += 1;
                }
                for (symbol, n) in per_symbol {
                    assert_eq!(
                        n % CHUNK,
                        0,
                        "a load saw part of a save of {symbol} ({n} rows)"
                    );
                }
                let bars = total_rows(&load(&dal, "bars", Load::all()).await);
                assert_eq!(bars % 30, 0, "a load saw part of a bars save ({bars} rows)");
                let instruments = total_rows(&load(&dal, "instruments", Load::all()).await);
                assert_eq!(
                    instruments % 20,
                    0,
                    "a load saw part of an instruments save"
                );
                let daily = daily_from(&load(&dal, "daily", Load::all()).await);
                assert_daily_eq(&daily, &shared, "daily while identical re-saves run");
                tokio::task::yield_now().await;
            }
        }));
    }
    assert_eq!(handles.len(), 16);
    for handle in handles {
        match handle.await {
            Ok(()) => {}
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a concurrent task failed: {e}"),
        }
    }

    assert_eq!(count(&dal, "ticks").await, 800);
    assert_eq!(count(&dal, "bars").await, 120);
    assert_eq!(count(&dal, "instruments").await, 40);
    assert_eq!(
        count(&dal, "daily").await,
        10,
        "identical re-saves added nothing"
    );
    assert_eq!(count(&dal, "ns_ticks").await, 0);

    let want_ticks = sorted_ticks((0..8).flat_map(tick_rows).collect());
    assert_eq!(
        all_ticks(&dal).await,
        want_ticks,
        "ticks after the concurrent saves"
    );
    let mut want_bars: Vec<Bar> = (0..2).flat_map(bar_rows).collect();
    want_bars.sort_by(|a, b| (&a.symbol, a.ts).cmp(&(&b.symbol, b.ts)));
    assert_eq!(bars_from(&load(&dal, "bars", Load::all()).await), want_bars);
    let mut want_instruments: Vec<Instrument> = (0..2).flat_map(instrument_rows).collect();
    want_instruments.sort_by(|a, b| a.code.cmp(&b.code));
    assert_instruments_eq(
        &instruments_from(&load(&dal, "instruments", Load::all()).await),
        &want_instruments,
        "instruments after the concurrent saves",
    );
    assert_daily_eq(
        &daily_from(&load(&dal, "daily", Load::all()).await),
        &shared,
        "daily after identical re-saves",
    );
}

// ------------------------------------------------------------------------------------------------------
// 11. typed round trips
// ------------------------------------------------------------------------------------------------------

/// DECIMAL (to its limits), DATE, JSON, BOOL, VARCHAR in characters, DOUBLE and BIGINT extremes come back
/// exactly, and predicates on those types match exactly.
pub async fn typed_round_trip(dal: &Dal) {
    let max = 999_999_999_999_999_999i128; // 99999999999999.9999, the largest DECIMAL(18,4)
    let row = |symbol: &str, d: i32, turnover: i128| Daily::new(symbol, d, 1.0, 1, turnover);
    let rows = vec![
        Daily {
            open: 0.1 + 0.2,
            high: 1e300,
            low: f64::MIN_POSITIVE,
            close: -123.456_789_012_345_67,
            volume: i64::MAX,
            board: Some("主板".into()),
            suspended: Some(true),
            meta: Some(r#"{"a":1,"b":[true,null,"x"],"c":{"d":-2.5}}"#.into()),
            ..row(A, day(1999, 12, 31), max)
        },
        Daily {
            volume: i64::MIN,
            board: Some("创业板创业板创业".into()),
            suspended: Some(false),
            meta: Some("[]".into()),
            ..row(A, day(2024, 2, 29), -max)
        },
        row(A, day(2000, 1, 1), 0),
        Daily {
            board: Some("ABCDEFGH".into()),
            suspended: Some(true),
            meta: Some(r#""text with \"quotes\", 中文 and \\ backslash""#.into()),
            ..row(B, day(1970, 1, 1), 1)
        },
        Daily {
            meta: Some(r#"{"名称":"平安银行","tags":[],"n":null}"#.into()),
            ..row(B, day(2100, 12, 31), -1)
        },
        Daily {
            board: Some("".into()),
            meta: Some("12.5".into()),
            ..row(B, day(2024, 1, 2), 1_234_500)
        },
    ];
    save(dal, "daily", &daily_batch(&rows)).await;
    let mut want = rows.clone();
    want.sort_by(|a, b| (&a.symbol, a.trade_date).cmp(&(&b.symbol, b.trade_date)));
    let got = daily_from(&load(dal, "daily", Load::all()).await);
    assert_daily_eq(&got, &want, "typed round trip");
    // Text JSON is kept as written where the store keeps text; either way it parses to the same value.
    assert_eq!(got.iter().filter(|d| d.meta.is_none()).count(), 1);

    // (label, request, expected (instrument, value) rows)
    type Case<'a> = (&'a str, Load, Vec<(&'a str, i32)>);
    let cases: Vec<Case> = vec![
        (
            "turnover = '123.45'",
            Load::all().filter(col("turnover").eq("123.45")),
            vec![(B, day(2024, 1, 2))],
        ),
        (
            "turnover = 0.0001 (float)",
            Load::all().filter(col("turnover").eq(0.0001)),
            vec![(B, day(1970, 1, 1))],
        ),
        (
            "turnover > 0",
            Load::all().filter(col("turnover").gt(0)),
            vec![
                (B, day(1970, 1, 1)),
                (B, day(2024, 1, 2)),
                (A, day(1999, 12, 31)),
            ],
        ),
        (
            "turnover < -0.5",
            Load::all().filter(col("turnover").lt(-0.5)),
            vec![(A, day(2024, 2, 29))],
        ),
        (
            "turnover = max",
            Load::all().filter(col("turnover").eq("99999999999999.9999")),
            vec![(A, day(1999, 12, 31))],
        ),
        (
            "trade_date between 2024-01-01 and 2024-12-31",
            Load::all().filter(col("trade_date").between("2024-01-01", "2024-12-31")),
            vec![(B, day(2024, 1, 2)), (A, day(2024, 2, 29))],
        ),
        (
            "trade_date = 1999-12-31 (instant)",
            Load::all().filter(col("trade_date").eq(Timestamp::from(date(1999, 12, 31)))),
            vec![(A, day(1999, 12, 31))],
        ),
        (
            "[2000-01-01, 2024-02-29)",
            Load::range(date(2000, 1, 1)..date(2024, 2, 29)),
            vec![(B, day(2024, 1, 2)), (A, day(2000, 1, 1))],
        ),
        (
            "suspended = true",
            Load::all().filter(col("suspended").eq(true)),
            vec![(B, day(1970, 1, 1)), (A, day(1999, 12, 31))],
        ),
        (
            "suspended = false",
            Load::all().filter(col("suspended").eq(false)),
            vec![(A, day(2024, 2, 29))],
        ),
        (
            "suspended is null",
            Load::all().filter(col("suspended").is_null()),
            vec![
                (B, day(2024, 1, 2)),
                (B, day(2100, 12, 31)),
                (A, day(2000, 1, 1)),
            ],
        ),
        (
            "board = 创业板创业板创业",
            Load::all().filter(col("board").eq("创业板创业板创业")),
            vec![(A, day(2024, 2, 29))],
        ),
        (
            "board = '' (empty, not null)",
            Load::all().filter(col("board").eq("")),
            vec![(B, day(2024, 1, 2))],
        ),
        (
            "meta is null",
            Load::all().filter(col("meta").is_null()),
            vec![(A, day(2000, 1, 1))],
        ),
        (
            "volume = i64::MIN",
            Load::all().filter(col("volume").eq(i64::MIN)),
            vec![(A, day(2024, 2, 29))],
        ),
        (
            "open = 0.1 + 0.2",
            Load::all().filter(col("open").eq(0.1 + 0.2)),
            vec![(A, day(1999, 12, 31))],
        ),
    ];
    for (what, query, keys) in cases {
        let got: Vec<(String, i32)> = daily_from(&load(dal, "daily", query).await)
            .iter()
            .map(|d| (d.symbol.clone(), d.trade_date))
            .collect();
        let keys: Vec<(String, i32)> = keys.into_iter().map(|(s, d)| (s.to_string(), d)).collect();
        assert_eq!(got, keys, "predicate `{what}`");
    }
}

/// A class without time: upsert on its key, loads in key order, filters, projections, limits.
pub async fn reference_class_upsert(dal: &Dal) {
    let rows = vec![
        Instrument {
            listed: Some(day(1999, 11, 10)),
            attrs: Some(r#"{"board":"main","lot":[100,200]}"#.into()),
            ..Instrument::new("600000.SH", "浦发银行", 100, 100, true)
        },
        Instrument {
            listed: Some(day(1991, 4, 3)),
            ..Instrument::new("000001.SZ", "平安银行", 100, 100, true)
        },
        Instrument {
            attrs: Some("[1,2,3]".into()),
            ..Instrument::new("688981.SH", "中芯国际", 200, 10, false)
        },
    ];
    let report = save(dal, "instruments", &instruments_batch(&rows)).await;
    assert_eq!(
        (report.class.as_str(), report.table.as_str(), report.rows),
        ("instruments", "instruments", 3)
    );
    let mut want = rows.clone();
    want.sort_by(|a, b| a.code.cmp(&b.code));
    assert_instruments_eq(
        &instruments_from(&load(dal, "instruments", Load::all()).await),
        &want,
        "instruments in key order",
    );

    let renamed = vec![Instrument {
        name: "浦发银行股份".into(),
        active: false,
        lot_size: 1_000,
        tick_size: 5,
        listed: None,
        attrs: None,
        ..rows[0].clone()
    }];
    assert_eq!(
        save(dal, "instruments", &instruments_batch(&renamed))
            .await
            .rows,
        1
    );
    assert_eq!(
        count(dal, "instruments").await,
        3,
        "an upsert on the key adds no row"
    );
    want[1] = renamed[0].clone();
    assert_instruments_eq(
        &instruments_from(&load(dal, "instruments", Load::all()).await),
        &want,
        "every value column overwritten, nulls included",
    );

    let got = instruments_from(
        &load(
            dal,
            "instruments",
            Load::all().filter(col("active").eq(false)),
        )
        .await,
    );
    assert_eq!(
        got.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        ["600000.SH", "688981.SH"]
    );
    let got = instruments_from(
        &load(
            dal,
            "instruments",
            Load::all().filter(col("tick_size").ge("0.01")),
        )
        .await,
    );
    assert_eq!(
        got.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        ["000001.SZ"]
    );
    let got = instruments_from(
        &load(
            dal,
            "instruments",
            Load::all().filter(col("listed").lt("1995-01-01")),
        )
        .await,
    );
    assert_eq!(
        got.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        ["000001.SZ"]
    );

    let batches = load(
        dal,
        "instruments",
        Load::all()
            .columns(["name", "code"])
            .order(Order::Desc)
            .limit(2),
    )
    .await;
    let got = rows_of_names(&batches);
    assert_eq!(
        got,
        vec![
            ("中芯国际".to_string(), "688981.SH".to_string()),
            ("浦发银行股份".to_string(), "600000.SH".to_string())
        ],
        "projection, descending key order, limit"
    );

    assert_eq!(
        delete(
            dal,
            "instruments",
            Load::all().filter(col("code").is_in(["688981.SH", "nope"]))
        )
        .await,
        1
    );
    assert_eq!(count(dal, "instruments").await, 2);
}

fn rows_of_names(batches: &[RecordBatch]) -> Vec<(String, String)> {
    rows(batches, |b, r| {
        (
            read_str(b, "name", r).unwrap_or_default(),
            read_str(b, "code", r).unwrap_or_default(),
        )
    })
}

// ------------------------------------------------------------------------------------------------------
// everything
// ------------------------------------------------------------------------------------------------------

/// Runs every check, each on a fresh `Dal` from `make` (whose tables must not exist yet).
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Dal>,
{
    provision_is_idempotent(&make().await).await;
    macro_rules! each {
        ($($check:ident),* $(,)?) => {
            $(
                let dal = make().await;
                prepare(&dal).await;
                $check(&dal).await;
            )*
        };
    }
    each!(
        save_report_and_upsert,
        upsert_with_series_out_of_step,
        load_by_range,
        load_by_symbols,
        load_projection_and_schema,
        load_predicates,
        load_order_and_limit,
        load_stream_matches_load,
        latest_per_series,
        kline_from_ticks,
        kline_from_bars,
        kline_weekly_on_dates,
        precision_ns_round_trip,
        precision_finer_than_class_is_refused,
        precision_coarser_units_widen_exactly,
        precision_offset_zone_is_same_instant,
        unknown_class_is_refused,
        batch_shape_errors,
        null_errors,
        duplicate_key_in_batch,
        value_rule_errors,
        query_errors,
        bad_last_row_writes_nothing,
        lossless_casts_accepted,
        delete_and_truncate,
        typed_round_trip,
        reference_class_upsert,
    );
    let dal = make().await;
    prepare(&dal).await;
    concurrent_saves_and_loads(Arc::new(dal)).await;
}
