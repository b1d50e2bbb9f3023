//! Point-in-time checks (versioned classes: as-of loads, history, tombstones) and information-driven bars,
//! for the stores that hold versioned classes (DuckDB, PostgreSQL). Each check takes a `Dal` over
//! [`PIT_FIXTURE`] whose tables were just provisioned ([`prepare`]); a store's test file expands
//! [`pit_tests!`](crate::pit_tests) with a harness returning such a `Dal`.
//!
//! Knowledge times of commit-stamped saves are the clock's: a check takes an instant between two saves (with
//! a pause on each side, longer than the class precision) and reads as of it. Every expected value is
//! written out, so a store passing these gives the same results as every other store passing them.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::DataType;
use quantdal::{col, Dal, ErrorKind, Load, Order, ProvisionStatus, Timestamp};

use crate::fixtures::*;

/// Classes of the point-in-time fixture: daily bars restated (`vdaily`), ticks with and without revisions
/// (`vticks`, `ticks`), fundamentals whose knowledge time is a column (`fundamentals`), and reference data
/// without a time column (`vinstruments`).
pub const PIT_FIXTURE: &str = r#"
version: 1
defaults:
  precision: ms
classes:
  - name: vdaily
    category: market
    description: "Daily bars; every revision kept, stamped with the save's commit time."
    store: main
    time: { column: trade_date }
    tags: [symbol]
    versions: true
    columns:
      - { name: trade_date, type: DATE }
      - { name: symbol, type: VARCHAR(16) }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: note, type: TEXT }
    kline: { open: open, high: high, low: low, close: close, volume: volume }

  - name: vticks
    category: market
    store: main
    time: { column: ts, precision: ms }
    tags: [symbol]
    versions: true
    columns:
      - { name: ts, type: TIMESTAMP }
      - { name: symbol, type: VARCHAR(16) }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: amount, type: DOUBLE, nullable: false }
      - { name: side, type: VARCHAR(1), nullable: true }
    kline: { price: price, volume: volume, amount: amount }

  - name: ticks
    category: market
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

  - name: fundamentals
    category: derived
    store: main
    time: { column: period }
    tags: [symbol]
    versions: { known_at: published }
    columns:
      - { name: period, type: DATE }
      - { name: symbol, type: VARCHAR(16) }
      - { name: published, type: TIMESTAMP }
      - { name: eps, type: "DECIMAL(18,4)", nullable: false }

  - name: vinstruments
    category: reference
    store: main
    key: [code]
    versions: true
    columns:
      - { name: code, type: VARCHAR(16) }
      - { name: name, type: TEXT, nullable: false }
      - { name: lot_size, type: INT, nullable: false }
"#;

pub const PIT_CLASSES: [&str; 5] = ["vdaily", "vticks", "ticks", "fundamentals", "vinstruments"];

/// The point-in-time catalog.
pub fn pit_catalog() -> quantdal::Catalog {
    quantdal::Catalog::from_yaml(PIT_FIXTURE, "pit fixture")
        .unwrap_or_else(|e| panic!("the point-in-time fixture: {e}"))
}

/// Provisions the fixture's tables and checks they are empty.
pub async fn prepare(dal: &Dal) {
    let entries = dal.provision().await.expect("provision");
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
    for class in PIT_CLASSES {
        assert_eq!(dal.count(class).await.expect("count"), 0, "`{class}` empty");
    }
    // Provisioning twice finds every table as the spec describes it (revision columns and key included).
    for e in dal.check().await.expect("check") {
        assert_eq!(
            e.status,
            ProvisionStatus::AlreadyPresent,
            "check `{}`",
            e.class
        );
    }
}

/// An instant strictly between the knowledge times of the saves before and after it (ms classes).
async fn instant_between() -> Timestamp {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let now = Timestamp::from_nanos(
        chrono::Utc::now()
            .timestamp_nanos_opt()
            .expect("a clock within 1677..2262"),
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    now
}

async fn load(dal: &Dal, class: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.load(class, load)
        .await
        .unwrap_or_else(|e| panic!("load `{class}` with {shown}: {e}"))
}

async fn history(dal: &Dal, class: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.history(class, load)
        .await
        .unwrap_or_else(|e| panic!("history `{class}` with {shown}: {e}"))
}

async fn kline(dal: &Dal, class: &str, interval: &str, load: Load) -> Vec<RecordBatch> {
    let shown = format!("{load:?}");
    dal.kline(class, interval, load)
        .await
        .unwrap_or_else(|e| panic!("kline `{class}` {interval} with {shown}: {e}"))
}

// ------------------------------------------------------------------------------------------------------
// vdaily rows
// ------------------------------------------------------------------------------------------------------

const A: &str = "600000.SH";
const B: &str = "000001.SZ";

#[derive(Debug, Clone, PartialEq)]
struct Day {
    symbol: String,
    date: i32,
    high: f64,
    close: f64,
    note: Option<String>,
}

fn day_row(symbol: &str, date: i32, high: f64, close: f64) -> Day {
    Day {
        symbol: symbol.into(),
        date,
        high,
        close,
        note: None,
    }
}

/// open 10, low 9 and volume 1000 on every row: the restatements change high, close and note.
fn days_batch(rows: &[Day]) -> RecordBatch {
    batch(vec![
        ("trade_date", dates(rows.iter().map(|d| d.date))),
        ("symbol", strs(rows.iter().map(|d| d.symbol.as_str()))),
        ("open", f64s(rows.iter().map(|_| 10.0))),
        ("high", f64s(rows.iter().map(|d| d.high))),
        ("low", f64s(rows.iter().map(|_| 9.0))),
        ("close", f64s(rows.iter().map(|d| d.close))),
        ("volume", i64s(rows.iter().map(|_| 1_000))),
        ("note", opt_strs(rows.iter().map(|d| d.note.as_deref()))),
    ])
}

fn days_from(batches: &[RecordBatch]) -> Vec<Day> {
    rows(batches, |b, r| Day {
        symbol: read_str(b, "symbol", r).expect("symbol"),
        date: read_date(b, "trade_date", r).expect("trade_date"),
        high: read_f64(b, "high", r).expect("high"),
        close: read_f64(b, "close", r).expect("close"),
        note: read_str(b, "note", r),
    })
}

/// (close, `_known_at` in ms, `_deleted`) of each revision.
fn revisions(batches: &[RecordBatch]) -> Vec<(f64, i64, bool)> {
    rows(batches, |b, r| {
        (
            read_f64(b, "close", r).expect("close"),
            read_ts_ms(b, "_known_at", r).expect("_known_at"),
            read_bool(b, "_deleted", r).expect("_deleted"),
        )
    })
}

fn ms(t: Timestamp) -> i64 {
    t.nanos().div_euclid(1_000_000)
}

/// One key of `vdaily`: a symbol and a date (tag filter + equality on the other key column).
fn key(symbol: &str, date: i32) -> Load {
    Load::all()
        .symbols([symbol])
        .filter(col("trade_date").eq(format!("{}", chrono_date(date))))
}

fn chrono_date(days: i32) -> chrono::NaiveDate {
    date(1970, 1, 1) + chrono::Duration::days(i64::from(days))
}

/// A restated daily bar: loads as of before the restatement see the first print, loads after see the
/// restated one; identical re-saves add no revision; `history` lists revisions with their knowledge times;
/// `latest` and `kline` honour `as_of`; a delete is a tombstone the history keeps; predicates on value
/// columns apply to the revision in force, never to an older one; count is the keys known now.
pub async fn versions_restatement_as_of(dal: &Dal) {
    let (d1, d2, d3) = (day(2024, 1, 2), day(2024, 1, 3), day(2024, 1, 4));
    let first = vec![
        day_row(A, d1, 10.5, 10.0),
        day_row(A, d2, 10.8, 10.5),
        day_row(A, d3, 11.2, 11.0),
        day_row(B, d1, 12.5, 12.0),
        day_row(B, d2, 12.6, 12.25),
        day_row(B, d3, 12.75, 12.5),
    ];
    let before = instant_between().await;
    let report = dal.save("vdaily", &days_batch(&first)).await.expect("save");
    assert_eq!(report.rows, 6);
    let t1 = instant_between().await;
    dal.save("vdaily", &days_batch(&first))
        .await
        .expect("identical re-save");
    assert_eq!(
        total_rows(&history(dal, "vdaily", Load::all()).await),
        6,
        "re-saving identical values adds no revision"
    );
    // The restatement: A's bar of d2 gets a new high and close; A's d1 comes along unchanged.
    let mut restated = day_row(A, d2, 11.5, 10.25);
    restated.note = Some("restated".into());
    dal.save(
        "vdaily",
        &days_batch(&[day_row(A, d1, 10.5, 10.0), restated.clone()]),
    )
    .await
    .expect("restatement");
    let t2 = instant_between().await;
    let gone = dal.delete("vdaily", key(B, d3)).await.expect("delete B d3");
    assert_eq!(gone, 1, "one key tombstoned");
    let t3 = instant_between().await;

    let sorted = |mut rows: Vec<Day>| {
        rows.sort_by(|a, b| (&a.symbol, a.date).cmp(&(&b.symbol, b.date)));
        rows
    };
    let v1 = sorted(first.clone());
    let mut v2 = v1.clone();
    v2[4] = restated.clone(); // A d2, after B's three rows
    let now: Vec<Day> = v2
        .iter()
        .filter(|d| !(d.symbol == B && d.date == d3))
        .cloned()
        .collect();

    assert_eq!(
        days_from(&load(dal, "vdaily", Load::all()).await),
        now,
        "now"
    );
    assert_eq!(
        days_from(&load(dal, "vdaily", Load::all().as_of(t1)).await),
        v1,
        "as of before the restatement"
    );
    assert_eq!(
        days_from(&load(dal, "vdaily", Load::all().as_of(t2)).await),
        v2,
        "as of after the restatement, before the delete"
    );
    assert_eq!(
        days_from(&load(dal, "vdaily", Load::all().as_of(t3)).await),
        now,
        "as of after the delete"
    );
    let empty = load(dal, "vdaily", Load::all().as_of(before)).await;
    assert_eq!(total_rows(&empty), 0, "as of before the first save");
    assert!(
        !empty.is_empty(),
        "an empty as-of load still has its schema"
    );
    assert_eq!(
        dal.count("vdaily").await.expect("count"),
        5,
        "keys known now"
    );

    // A predicate on a value column sees the revision in force: now A's d2 closes at 10.25, so it does not
    // pass `close > 10.4`, and its first print (10.5) must not stand in for it.
    let above = |t: Option<Timestamp>| {
        let mut l = Load::all().symbols([A]).filter(col("close").gt(10.4));
        if let Some(t) = t {
            l = l.as_of(t);
        }
        l
    };
    let dates_of = |rows: Vec<Day>| rows.iter().map(|d| d.date).collect::<Vec<_>>();
    assert_eq!(
        dates_of(days_from(&load(dal, "vdaily", above(None)).await)),
        [d3]
    );
    assert_eq!(
        dates_of(days_from(&load(dal, "vdaily", above(Some(t1))).await)),
        [d2, d3]
    );
    // Range, projection, order and limit apply as on any class.
    let got = load(
        dal,
        "vdaily",
        Load::range(at(0)..at(ms_of_day(d3)))
            .columns(["symbol", "trade_date", "close"])
            .order(Order::Desc)
            .limit(3)
            .as_of(t1),
    )
    .await;
    let got: Vec<(String, i32, f64)> = rows(&got, |b, r| {
        (
            read_str(b, "symbol", r).expect("symbol"),
            read_date(b, "trade_date", r).expect("date"),
            read_f64(b, "close", r).expect("close"),
        )
    });
    assert_eq!(
        got,
        [
            (A.to_string(), d2, 10.5),
            (A.to_string(), d1, 10.0),
            (B.to_string(), d2, 12.25)
        ],
        "range, projection, desc and limit as of t1"
    );

    // history: every revision with its knowledge time, in key then knowledge order.
    let h = history(dal, "vdaily", key(A, d2)).await;
    let schema = h[0].schema();
    assert_eq!(
        (
            schema
                .field_with_name("_known_at")
                .expect("_known_at")
                .data_type(),
            schema
                .field_with_name("_deleted")
                .expect("_deleted")
                .data_type()
        ),
        (&utc_ms(), &DataType::Boolean),
        "history's revision columns"
    );
    let h = revisions(&h);
    assert_eq!(
        h.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        [(10.5, false), (10.25, false)],
        "A d2: first print, then the restatement"
    );
    assert!(
        ms(before) < h[0].1 && h[0].1 < ms(t1) && ms(t1) < h[1].1 && h[1].1 < ms(t2),
        "knowledge times {h:?} between {before:?}, {t1:?}, {t2:?}"
    );
    let tomb = revisions(&history(dal, "vdaily", key(B, d3)).await);
    assert_eq!(
        tomb.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        [(12.5, false), (12.5, true)],
        "B d3: the row, then its tombstone (holding the deleted values)"
    );
    assert!(ms(t2) < tomb[1].1 && tomb[1].1 < ms(t3), "tombstone time");
    assert_eq!(
        total_rows(&history(dal, "vdaily", key(A, d2).as_of(t1)).await),
        1,
        "history as of t1 keeps the revisions known by then"
    );
    let all = history(dal, "vdaily", Load::all()).await;
    assert_eq!(
        total_rows(&all),
        8,
        "6 first prints, 1 restatement, 1 tombstone"
    );

    // latest honours as_of: B's newest bar is d3 until its delete, d2 after.
    let latest = |t: Option<Timestamp>| {
        let mut l = Load::all();
        if let Some(t) = t {
            l = l.as_of(t);
        }
        async move {
            let got = dal.latest("vdaily", l).await.expect("latest");
            days_from(&got)
                .iter()
                .map(|d| (d.symbol.clone(), d.date, d.close))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        latest(Some(t2)).await,
        [(B.to_string(), d3, 12.5), (A.to_string(), d3, 11.0)]
    );
    assert_eq!(
        latest(None).await,
        [(B.to_string(), d2, 12.25), (A.to_string(), d3, 11.0)]
    );

    // kline honours as_of: A's week (from Monday 2024-01-01) peaks at the restated high only after t1.
    let week = |t: Option<Timestamp>| {
        let mut l = Load::all().symbols([A]);
        if let Some(t) = t {
            l = l.as_of(t);
        }
        async move {
            klines_from(
                &kline(dal, "vdaily", "7d", l).await,
                &["symbol"],
                "trade_date",
            )
        }
    };
    let mut want = Kbar {
        series: vec![A.into()],
        start: i64::from(day(2024, 1, 1)),
        open: 10.0,
        high: 11.2,
        low: 9.0,
        close: 11.0,
        volume: 3_000,
        amount: None,
        count: 3,
    };
    assert_eq!(week(Some(t1)).await, [want.clone()], "week as of t1");
    want.high = 11.5;
    assert_eq!(week(None).await, [want], "week now");

    // A deleted key saved again (same values) is a new live revision.
    dal.save("vdaily", &days_batch(&[day_row(B, d3, 12.75, 12.5)]))
        .await
        .expect("save after delete");
    assert_eq!(dal.count("vdaily").await.expect("count"), 6);
    assert_eq!(
        revisions(&history(dal, "vdaily", key(B, d3)).await)
            .iter()
            .map(|r| r.2)
            .collect::<Vec<_>>(),
        [false, true, false]
    );

    // Deleting what is already deleted (or absent) writes nothing.
    assert_eq!(
        dal.delete("vdaily", key(B, day(2024, 2, 1)))
            .await
            .expect("delete nothing"),
        0
    );
}

fn ms_of_day(days: i32) -> i64 {
    i64::from(days) * 86_400_000
}

/// Versioned reads and writes are refused where they do not apply, with the class named.
pub async fn versions_misuse_is_refused(dal: &Dal) {
    let t = at(T0);
    let check = |r: quantdal::Result<Vec<RecordBatch>>, what: &str| {
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{what}: expected an error"));
        assert_eq!(
            (e.kind(), e.class()),
            (ErrorKind::InvalidQuery, Some("ticks")),
            "{what}: {e}"
        );
    };
    check(
        dal.load("ticks", Load::all().as_of(t)).await,
        "as_of on an unversioned class",
    );
    check(
        dal.history("ticks", Load::all()).await,
        "history of an unversioned class",
    );
    let e = dal
        .delete("vdaily", Load::all().symbols([A]).as_of(t))
        .await
        .expect_err("delete with as_of");
    assert_eq!(
        (e.kind(), e.class()),
        (ErrorKind::InvalidQuery, Some("vdaily"))
    );
}

// ------------------------------------------------------------------------------------------------------
// fundamentals: knowledge time from a column
// ------------------------------------------------------------------------------------------------------

fn fundamentals_batch(rows: &[(&str, i32, i64, i128)]) -> RecordBatch {
    batch(vec![
        ("symbol", strs(rows.iter().map(|r| r.0))),
        ("period", dates(rows.iter().map(|r| r.1))),
        ("published", ts_ms(rows.iter().map(|r| r.2))),
        (
            "eps",
            decimals(rows.iter().map(|r| Some(r.3)).collect(), 18, 4),
        ),
    ])
}

/// (period, published ms, eps unscaled) of each row.
fn fundamentals_from(batches: &[RecordBatch]) -> Vec<(i32, i64, i128)> {
    rows(batches, |b, r| {
        (
            read_date(b, "period", r).expect("period"),
            read_ts_ms(b, "published", r).expect("published"),
            read_decimal(b, "eps", 18, 4, r).expect("eps"),
        )
    })
}

fn ms_at(y: i32, m: u32, d: u32) -> i64 {
    ms_of_day(day(y, m, d))
}

/// `versions: { known_at: published }`: each revision is known when the row says it was published, so a
/// late correction, a backfilled revision and a fix of a revision at the same knowledge time all land where
/// they belong; identical revisions add nothing; a delete is a tombstone at the commit time.
pub async fn versions_known_at_column(dal: &Dal) {
    let (q4, q1) = (day(2023, 12, 31), day(2024, 3, 31));
    let (p0, p1, p15, p2) = (
        ms_at(2024, 1, 25),
        ms_at(2024, 4, 20),
        ms_at(2024, 5, 10),
        ms_at(2024, 7, 15),
    );
    dal.save(
        "fundamentals",
        &fundamentals_batch(&[(A, q4, p0, 11_000), (A, q1, p1, 12_300)]),
    )
    .await
    .expect("first prints");
    let as_of = |t: i64| async move {
        fundamentals_from(&load(dal, "fundamentals", Load::all().as_of(at(t))).await)
    };
    assert_eq!(
        as_of(p1 - 1).await,
        [(q4, p0, 11_000)],
        "before Q1 was published"
    );
    assert_eq!(as_of(p1).await, [(q4, p0, 11_000), (q1, p1, 12_300)]);
    assert!(
        as_of(p0 - 1).await.is_empty(),
        "before anything was published"
    );

    // A correction published later, saved twice: one revision.
    for _ in 0..2 {
        dal.save("fundamentals", &fundamentals_batch(&[(A, q1, p2, 12_500)]))
            .await
            .expect("correction");
    }
    assert_eq!(as_of(p2 - 1).await[1], (q1, p1, 12_300));
    assert_eq!(as_of(p2).await[1], (q1, p2, 12_500));
    let q1_key = || {
        Load::all()
            .symbols([A])
            .filter(col("period").eq("2024-03-31"))
    };
    let known = |batches: &[RecordBatch]| -> Vec<(i64, i64, i128)> {
        rows(batches, |b, r| {
            (
                read_ts_ms(b, "_known_at", r).expect("_known_at"),
                read_ts_ms(b, "published", r).expect("published"),
                read_decimal(b, "eps", 18, 4, r).expect("eps"),
            )
        })
    };
    assert_eq!(
        known(&history(dal, "fundamentals", q1_key()).await),
        [(p1, p1, 12_300), (p2, p2, 12_500)],
        "the knowledge time is the published column"
    );
    // Same knowledge time, new value: it replaces that revision (last write wins, as for any key).
    dal.save("fundamentals", &fundamentals_batch(&[(A, q1, p2, 12_600)]))
        .await
        .expect("fix of the correction");
    // A revision published between the two, backfilled: it takes its place in the history.
    dal.save("fundamentals", &fundamentals_batch(&[(A, q1, p15, 12_400)]))
        .await
        .expect("backfill");
    // The same value again a day later adds nothing: it is what was known then.
    dal.save(
        "fundamentals",
        &fundamentals_batch(&[(A, q1, p15 + 86_400_000, 12_400)]),
    )
    .await
    .expect("identical later revision");
    assert_eq!(
        known(&history(dal, "fundamentals", q1_key()).await),
        [(p1, p1, 12_300), (p15, p15, 12_400), (p2, p2, 12_600)]
    );
    assert_eq!(as_of(p15 + 1).await[1], (q1, p15, 12_400));
    assert_eq!(as_of(p2).await[1], (q1, p2, 12_600));

    // A delete is stamped with the commit time, after every published time here.
    let deleted = dal
        .delete(
            "fundamentals",
            Load::all().filter(col("period").eq("2023-12-31")),
        )
        .await
        .expect("delete Q4");
    assert_eq!(deleted, 1);
    assert_eq!(
        fundamentals_from(&load(dal, "fundamentals", Load::all()).await),
        [(q1, p2, 12_600)]
    );
    assert_eq!(
        as_of(p2).await.len(),
        2,
        "the deleted row is still known as of p2"
    );
}

/// A class without a time column (keyed by code) keeps revisions too.
pub async fn versions_untimed_reference(dal: &Dal) {
    let instruments = |rows: &[(&str, &str, i32)]| {
        batch(vec![
            ("code", strs(rows.iter().map(|r| r.0))),
            ("name", strs(rows.iter().map(|r| r.1))),
            (
                "lot_size",
                Arc::new(arrow::array::Int32Array::from_iter_values(
                    rows.iter().map(|r| r.2),
                )) as arrow::array::ArrayRef,
            ),
        ])
    };
    let names = |batches: &[RecordBatch]| -> Vec<(String, String)> {
        rows(batches, |b, r| {
            (
                read_str(b, "code", r).expect("code"),
                read_str(b, "name", r).expect("name"),
            )
        })
    };
    dal.save(
        "vinstruments",
        &instruments(&[("600000.SH", "PF Bank", 100), ("000001.SZ", "PA Bank", 100)]),
    )
    .await
    .expect("save");
    let t1 = instant_between().await;
    dal.save(
        "vinstruments",
        &instruments(&[("600000.SH", "SPD Bank", 100)]),
    )
    .await
    .expect("rename");
    dal.delete(
        "vinstruments",
        Load::all().filter(col("code").eq("000001.SZ")),
    )
    .await
    .expect("delete");
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        names(&load(dal, "vinstruments", Load::all()).await),
        [s("600000.SH", "SPD Bank")]
    );
    assert_eq!(
        names(&load(dal, "vinstruments", Load::all().as_of(t1)).await),
        [s("000001.SZ", "PA Bank"), s("600000.SH", "PF Bank")]
    );
    assert_eq!(
        names(
            &history(
                dal,
                "vinstruments",
                Load::all().filter(col("code").eq("600000.SH"))
            )
            .await
        ),
        [s("600000.SH", "PF Bank"), s("600000.SH", "SPD Bank")]
    );
    assert_eq!(dal.count("vinstruments").await.expect("count"), 1);
}

// ------------------------------------------------------------------------------------------------------
// information-driven bars
// ------------------------------------------------------------------------------------------------------

/// The bars the Rust implementation computes over the store's load stream (what stores without SQL serve).
async fn rust_bars(dal: &Dal, class: &str, bar: &str, load: Load) -> RecordBatch {
    let (spec, store) = dal.store_for(class).expect("store_for");
    let bar: quantdal::InfoBar = bar.parse().expect("bar");
    let query = load.resolve(&spec).expect("resolve");
    let (source, order, limit) =
        quantdal_core::bars::source_query(&spec, query).expect("source query");
    let stream = store.load(&spec, source).await.expect("source load");
    let batches = quantdal_core::bars::compute(&spec, bar, stream, order, limit)
        .await
        .expect("Rust bars");
    one(&batches)
}

fn one(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).expect("concat")
}

/// (symbol, first, last, open, close, volume, count) of each bar; times in ms.
type InfoRow = (String, i64, i64, f64, f64, i64, i64);

fn info_rows(batch: &RecordBatch) -> Vec<InfoRow> {
    rows(std::slice::from_ref(batch), |b, r| {
        (
            read_str(b, "symbol", r).expect("symbol"),
            read_ts_ms(b, "first_time", r).expect("first_time"),
            read_ts_ms(b, "last_time", r).expect("last_time"),
            read_f64(b, "open", r).expect("open"),
            read_f64(b, "close", r).expect("close"),
            read_i64(b, "volume", r).expect("volume"),
            read_i64(b, "count", r).expect("count"),
        )
    })
}

/// `ticks:N`, `volume:V` and `dollar:D` bars computed in the store equal, batch for batch (schema, every
/// column), the Rust implementation over the same rows, with filters, order and limit; hand-computed bars
/// pin both; on a versioned class the bars as of a time equal those of the rows then known.
pub async fn info_bars_match_rust(dal: &Dal) {
    let grid = tick_grid();
    dal.save("ticks", &ticks_batch(&grid))
        .await
        .expect("save ticks");
    dal.save("vticks", &ticks_batch(&grid))
        .await
        .expect("save vticks");
    let loads = || {
        vec![
            Load::all(),
            Load::all().order(Order::Desc),
            Load::range(at(T0 + 2_000)..at(T0 + 9_000))
                .symbols(["600000.SH", "300750.SZ"])
                .filter(col("volume").ge(300))
                .limit(4),
            Load::all().order(Order::Desc).limit(2),
        ]
    };
    for bar in [
        "ticks:4",
        "ticks:1",
        "ticks:100",
        "volume:1000",
        "volume:250",
        "dollar:25000",
        "dollar:1e9",
    ] {
        for load in loads() {
            let shown = format!("{bar} {load:?}");
            let store = one(&kline(dal, "ticks", bar, load.clone()).await);
            let rust = rust_bars(dal, "ticks", bar, load).await;
            assert_eq!(store, rust, "store and Rust bars: {shown}");
        }
    }

    // By hand, 600000.SH: ticks i = 0..9 at T0 + i s, price 10 + i/4, volume 100 (i + 1).
    let sym = || Load::all().symbols(["600000.SH"]);
    let bar = |first: i64, last: i64, volume: i64, count: i64| -> InfoRow {
        (
            "600000.SH".into(),
            T0 + first * 1_000,
            T0 + last * 1_000,
            10.0 + first as f64 * 0.25,
            10.0 + last as f64 * 0.25,
            volume,
            count,
        )
    };
    assert_eq!(
        info_rows(&one(&kline(dal, "ticks", "ticks:4", sym()).await)),
        [
            bar(0, 3, 1_000, 4),
            bar(4, 7, 2_600, 4),
            bar(8, 9, 1_900, 2)
        ],
        "ticks:4"
    );
    // Running volume before each tick: 0 100 300 600 1000 1500 2100 2800 3600 4500 → bars of 1000.
    assert_eq!(
        info_rows(&one(&kline(dal, "ticks", "volume:1000", sym()).await)),
        [
            bar(0, 3, 1_000, 4),
            bar(4, 5, 1_100, 2),
            bar(6, 7, 1_500, 2),
            bar(8, 8, 900, 1),
            bar(9, 9, 1_000, 1)
        ],
        "volume:1000"
    );

    // The versioned copy gives the same bars; restating two ticks changes them only from then on.
    let t1 = instant_between().await;
    let mut restated: Vec<Tick> = grid
        .iter()
        .filter(|t| t.symbol == "600000.SH" && (t.ts == T0 + 1_000 || t.ts == T0 + 5_000))
        .cloned()
        .collect();
    for t in &mut restated {
        t.volume *= 10;
        t.amount = t.price * t.volume as f64;
    }
    dal.save("vticks", &ticks_batch(&restated))
        .await
        .expect("restate ticks");
    for bar in ["ticks:4", "volume:1000", "dollar:25000"] {
        for load in loads() {
            let shown = format!("{bar} {load:?}");
            let then = one(&kline(dal, "vticks", bar, load.clone().as_of(t1)).await);
            let plain = one(&kline(dal, "ticks", bar, load.clone()).await);
            assert_eq!(then, plain, "vticks as of t1 = ticks: {shown}");
            let now = one(&kline(dal, "vticks", bar, load.clone()).await);
            assert_eq!(
                now,
                rust_bars(dal, "vticks", bar, load).await,
                "store and Rust bars now: {shown}"
            );
        }
    }
    let now = info_rows(&one(&kline(dal, "vticks", "volume:1000", sym()).await));
    assert_eq!(
        now.iter().map(|b| b.6).collect::<Vec<_>>(),
        [2, 3, 1, 1, 2, 1],
        "restated volumes (2000 at i = 1, 6000 at i = 5) move the bar boundaries: {now:?}"
    );
    // Time bars honour as_of too.
    assert_eq!(
        one(&kline(dal, "vticks", "1m", Load::all().as_of(t1)).await),
        one(&kline(dal, "ticks", "1m", Load::all()).await),
        "1m bars of vticks as of t1"
    );
}

/// One `#[tokio::test]` per point-in-time check, each on a fresh provisioned `Dal` from `$harness`, an
/// `async fn(&Path) -> Option<Dal>` over [`PIT_FIXTURE`].
#[macro_export]
macro_rules! pit_tests {
    ($harness:path) => {
        $crate::__pit_test!($harness, versions_restatement_as_of);
        $crate::__pit_test!($harness, versions_misuse_is_refused);
        $crate::__pit_test!($harness, versions_known_at_column);
        $crate::__pit_test!($harness, versions_untimed_reference);
        $crate::__pit_test!($harness, info_bars_match_rust);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __pit_test {
    ($harness:path, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            // Declared first so it drops last: after the `Dal`, it runs what the harness registered.
            let _cleanup = $crate::services::CleanupGuard;
            let dir = $crate::tempfile::tempdir().expect("temporary folder");
            let Some(dal) = $harness(dir.path()).await else {
                eprintln!("store not available: skipping {}", stringify!($check));
                return;
            };
            $crate::pit::prepare(&dal).await;
            $crate::pit::$check(&dal).await;
        }
    };
}
