//! Each inline quality check on crafted bad data, and what each policy writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute::concat_batches;
use quantdal_core::{normalize_batch, ErrorKind, SaveOptions};
use quantdal_monitor::quality::{check_batch, Check, Policy, QualityConfig, ResolvedQuality};
use quantdal_monitor::{CheckStatus, Filter, MonitorLayer, OpStatus};

use common::*;

const NOW_NS: i64 = 1_704_159_000_000 * 1_000_000 + 3_600_000_000_000; // an hour after the ticks

fn run(
    class: &str,
    config: QualityConfig,
    batch: &RecordBatch,
) -> Vec<(Check, CheckStatus, usize)> {
    let spec = spec(class);
    let q = ResolvedQuality::new(&spec, &config).unwrap();
    check_batch(&q, &spec, batch, NOW_NS)
        .unwrap()
        .outcomes
        .iter()
        .map(|o| (o.check, o.status, o.bad_rows))
        .collect()
}

fn status_of(r: &[(Check, CheckStatus, usize)], c: Check) -> (CheckStatus, usize) {
    r.iter().find(|o| o.0 == c).map(|o| (o.1, o.2)).unwrap()
}

#[test]
fn clean_ticks_pass_every_check() {
    let r = run("tick_data", QualityConfig::default(), &ticks(100, "A"));
    assert_eq!(r.len(), 5);
    assert!(r.iter().all(|o| o.1 == CheckStatus::Pass), "{r:?}");
}

#[test]
fn validity_flags_prices_volumes_and_crossed_books() {
    let b = ticks(10, "A");
    let b = with_column(
        &b,
        "price",
        Arc::new(Float64Array::from(vec![
            10.0,
            0.0,
            -1.0,
            f64::NAN,
            10.0,
            10.0,
            10.0,
            10.0,
            10.0,
            10.0,
        ])),
    );
    let b = with_column(
        &b,
        "volume",
        Arc::new(Int64Array::from(vec![1, 1, 1, 1, -5, 1, 1, 1, 1, 1])),
    );
    let b = with_column(
        &b,
        "bid_price1",
        Arc::new(Float64Array::from(vec![
            9.0, 9.0, 9.0, 9.0, 9.0, 11.0, 9.0, 9.0, 9.0, 9.0,
        ])),
    );
    let r = run("tick_data", QualityConfig::default(), &b);
    assert_eq!(status_of(&r, Check::Validity), (CheckStatus::Fail, 5));
    // With thresholds: 5 of 10 is over warn (2 rows) but under fail (60 %).
    let config: QualityConfig =
        serde_json::from_str(r#"{"checks":{"validity":{"warn":2,"fail":"60%"}}}"#).unwrap();
    let r = run("tick_data", config, &b);
    assert_eq!(status_of(&r, Check::Validity), (CheckStatus::Warn, 5));
}

#[test]
fn validity_checks_ohlc_bars_and_book_levels() {
    let kline_spec = spec("minute_kline");
    let n = 4;
    let bars = RecordBatch::try_from_iter([
        (
            "ts",
            Arc::new(
                TimestampMillisecondArray::from(vec![0, 60_000, 120_000, 180_000])
                    .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        ("symbol", Arc::new(StringArray::from(vec!["A"; n]))),
        ("frequency", Arc::new(StringArray::from(vec!["1m"; n]))),
        (
            "open",
            Arc::new(Float64Array::from(vec![10.0, 10.0, 12.0, 10.0])),
        ),
        (
            "high",
            Arc::new(Float64Array::from(vec![11.0, 11.0, 11.0, 11.0])),
        ),
        (
            "low",
            Arc::new(Float64Array::from(vec![9.0, 10.5, 9.0, 9.0])),
        ),
        (
            "close",
            Arc::new(Float64Array::from(vec![10.5, 10.6, 10.0, 10.0])),
        ),
        ("volume", Arc::new(Int64Array::from(vec![1; n]))),
        ("amount", Arc::new(Float64Array::from(vec![1.0; n]))),
    ])
    .unwrap();
    let bars = normalize_batch(&kline_spec, &bars, &SaveOptions::default()).unwrap();
    // Row 1: low above open; row 2: open above high.
    let r = run("minute_kline", QualityConfig::default(), &bars);
    assert_eq!(status_of(&r, Check::Validity), (CheckStatus::Fail, 2));

    let depth_spec = spec("depth_data");
    let depth = RecordBatch::try_from_iter([
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![0, 0, 0]).with_timezone("UTC"))
                as ArrayRef,
        ),
        ("symbol", Arc::new(StringArray::from(vec!["A"; 3]))),
        ("level", Arc::new(Int32Array::from(vec![1, 10, 11]))),
        (
            "bid_price",
            Arc::new(Float64Array::from(vec![Some(9.0), None, Some(9.0)])),
        ),
        (
            "ask_price",
            Arc::new(Float64Array::from(vec![Some(10.0), Some(10.0), Some(10.0)])),
        ),
    ])
    .unwrap();
    let depth = normalize_batch(&depth_spec, &depth, &SaveOptions::default()).unwrap();
    let r = run("depth_data", QualityConfig::default(), &depth);
    // Level 11 is out of range; the empty bid side (null) is not a validity problem.
    assert_eq!(status_of(&r, Check::Validity), (CheckStatus::Fail, 1));
    assert_eq!(status_of(&r, Check::Nulls), (CheckStatus::Pass, 0));
    let config: QualityConfig = serde_json::from_str(r#"{"required":["bid_price"]}"#).unwrap();
    let r = run("depth_data", config, &depth);
    assert_eq!(status_of(&r, Check::Nulls), (CheckStatus::Fail, 1));
}

#[test]
fn duplicates_future_and_order_are_found() {
    let a = ticks(5, "A");
    // Rows 5..9 repeat rows 0..4: five duplicate keys (and time goes back at row 5).
    let dup = concat_batches(&a.schema(), [&a, &a]).unwrap();
    let r = run("tick_data", QualityConfig::default(), &dup);
    assert_eq!(status_of(&r, Check::Duplicates), (CheckStatus::Fail, 5));
    // Rows 5..8 are older than row 4 of the same series; row 9 equals the latest time, which is not "older".
    assert_eq!(status_of(&r, Check::Order), (CheckStatus::Fail, 4));

    let base = 1_704_159_000_000i64;
    let ts =
        |v: Vec<i64>| Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")) as ArrayRef;
    // Interleaved series: B goes back in time at row 3; A stays ordered.
    let b = concat_batches(&a.schema(), [&ticks(2, "A"), &ticks(2, "B")]).unwrap();
    let b = with_column(
        &b,
        "symbol",
        Arc::new(StringArray::from(vec!["A", "B", "A", "B"])),
    );
    let b = with_column(
        &b,
        "ts",
        ts(vec![base, base + 5000, base + 1000, base + 4000]),
    );
    let r = run("tick_data", QualityConfig::default(), &b);
    assert_eq!(status_of(&r, Check::Order), (CheckStatus::Fail, 1));

    // Two hours after NOW is past the 5-minute tolerance; 4 minutes after is not.
    let now_ms = NOW_NS / 1_000_000;
    let f = with_column(
        &ticks(3, "A"),
        "ts",
        ts(vec![base, now_ms + 240_000, now_ms + 7_200_000]),
    );
    let r = run("tick_data", QualityConfig::default(), &f);
    assert_eq!(status_of(&r, Check::Future), (CheckStatus::Fail, 1));
    let config: QualityConfig = serde_json::from_str(r#"{"future_tolerance":"3h"}"#).unwrap();
    assert_eq!(
        status_of(&run("tick_data", config, &f), Check::Future),
        (CheckStatus::Pass, 0)
    );
}

#[test]
fn config_errors_name_the_class_and_column() {
    let config: QualityConfig = serde_json::from_str(r#"{"columns":{"prices":["nope"]}}"#).unwrap();
    let e = ResolvedQuality::new(&spec("tick_data"), &config).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains("tick_data") && e.to_string().contains("nope"),
        "{e}"
    );
    let config: QualityConfig =
        serde_json::from_str(r#"{"columns":{"prices":["symbol"]}}"#).unwrap();
    assert!(ResolvedQuality::new(&spec("tick_data"), &config).is_err());
}

fn bad_ticks() -> RecordBatch {
    // Rows 1 and 3 have a zero price.
    with_column(
        &ticks(5, "A"),
        "price",
        Arc::new(Float64Array::from(vec![10.0, 0.0, 10.0, 0.0, 10.0])),
    )
}

async fn save_with(
    policy: Policy,
) -> (
    Arc<FakeStore>,
    quantdal_monitor::MonitorDb,
    quantdal_core::Result<u64>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, db) = start(dir.path(), options(dir.path()));
    let fake = Arc::new(FakeStore::new());
    let config = QualityConfig {
        policy,
        ..QualityConfig::default()
    };
    let layer = MonitorLayer::new(monitor.clone())
        .with_quality([(spec("tick_data"), config)])
        .unwrap();
    let store = layer.layer(fake.clone());
    let r = store.save(&spec("tick_data"), bad_ticks()).await;
    monitor.shutdown().await.unwrap();
    std::mem::forget(dir); // keep the file for the caller's queries
    (fake, db, r)
}

#[tokio::test]
async fn reject_policy_writes_nothing_and_errors() {
    let (fake, db, r) = save_with(Policy::Reject).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidBatch);
    assert!(e.message().contains("validity"), "{e}");
    assert_eq!(fake.saves.load(Ordering::SeqCst), 0);
    let ops = db.ops(&Filter::default()).await.unwrap();
    assert_eq!((ops.len(), ops[0].status), (1, OpStatus::Failed));
    let q = db.quality(&Filter::default()).await.unwrap();
    assert_eq!(q.len(), 5);
    let v = q.iter().find(|c| c.check == "validity").unwrap();
    assert_eq!((v.status, v.bad_rows, v.rows), (CheckStatus::Fail, 2, 5));
    assert_eq!(v.op_id.as_deref(), Some(ops[0].id.as_str()));
    assert!(v.measured.contains("price > 0"), "{}", v.measured);
    let alerts = db.alerts(&Filter::default(), false).await.unwrap();
    assert!(alerts
        .iter()
        .any(|a| a.dedup_key == "quality:tick_data:validity"));
}

#[tokio::test]
async fn warn_policy_writes_everything_and_records() {
    let (fake, db, r) = save_with(Policy::Warn).await;
    assert_eq!(r.unwrap(), 5);
    assert_eq!(fake.saved_rows.load(Ordering::SeqCst), 5);
    let ops = db.ops(&Filter::default()).await.unwrap();
    assert_eq!(ops[0].status, OpStatus::Ok);
    let status = db.quality_status(&Filter::default()).await.unwrap();
    assert_eq!(status.len(), 5);
    assert!(db.rejects(&Filter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn quarantine_policy_saves_good_rows_and_keeps_bad_ones() {
    let (fake, db, r) = save_with(Policy::Quarantine).await;
    assert_eq!(r.unwrap(), 3);
    let saved = fake.last_batch.lock().unwrap().clone().unwrap();
    assert_eq!(saved.num_rows(), 3);
    let prices = saved.column_by_name("price").unwrap();
    assert_eq!(prices.null_count(), 0);
    let ops = db.ops(&Filter::default()).await.unwrap();
    assert_eq!((ops[0].status, ops[0].rows), (OpStatus::Partial, Some(3)));
    let mut rejects = db.rejects(&Filter::default()).await.unwrap();
    rejects.sort_by_key(|r| r.row_index);
    assert_eq!(
        rejects.iter().map(|r| r.row_index).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(rejects[0].reason, "validity");
    let row: serde_json::Value = serde_json::from_str(&rejects[0].row).unwrap();
    assert_eq!(row["price"], serde_json::json!(0.0));
    assert_eq!(row["symbol"], "A");
}
