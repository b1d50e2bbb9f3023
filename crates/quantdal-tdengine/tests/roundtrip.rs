//! Arrow → stmt columns → the driver's raw block → Arrow, for every type and precision, nulls included;
//! series grouping; and the typed errors a save raises before anything is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use common::*;
use quantdal_core::{ErrorKind, TableSpec};
use quantdal_tdengine::bind::{column_view, group_series, insert_statements, series_views};
use quantdal_tdengine::decode::{conv_of, decode_block};
use quantdal_tdengine::{layout, subtable_name, TagValue};
use taos::{Precision, RawBlock};

fn precision_of(spec: &TableSpec) -> Precision {
    match spec.precision() {
        quantdal_core::TimePrecision::Ms => Precision::Millisecond,
        quantdal_core::TimePrecision::Us => Precision::Microsecond,
        quantdal_core::TimePrecision::Ns => Precision::Nanosecond,
    }
}

/// Every column of `batch` (in the class schema) through stmt views and a raw block, back to Arrow.
fn round_trip(spec: &TableSpec, batch: &RecordBatch) -> RecordBatch {
    let l = layout(spec).unwrap();
    let views: Vec<_> = batch
        .columns()
        .iter()
        .map(|a| column_view(a, &l).unwrap())
        .collect();
    let block = RawBlock::from_views(&views, precision_of(spec));
    let convs: Vec<_> = (0..spec.columns.len()).map(|c| conv_of(spec, c)).collect();
    decode_block(&block, &convs, &spec.arrow_schema(), spec.precision()).unwrap()
}

fn ticks_batch() -> RecordBatch {
    let spec = spec("ticks");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from(vec![1_704_159_000_000, 1_704_159_000_001, -5])
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(vec!["600000.SH", "平安银行", ""])),
        Arc::new(Float64Array::from(vec![10.5, -0.0, f64::MAX])),
        Arc::new(Int64Array::from(vec![i64::MIN, 0, i64::MAX])),
        Arc::new(Float64Array::from(vec![Some(1.25), None, Some(3.0)])),
        Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(i32::MAX)])),
        Arc::new(
            Decimal128Array::from(vec![Some(100_100), None, Some(-999_999_999_999_999_999)])
                .with_precision_and_scale(18, 4)
                .unwrap(),
        ),
        Arc::new(StringArray::from(vec![Some("B"), None, Some("'")])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(Date32Array::from(vec![Some(19_724), None, Some(-1)])),
        Arc::new(Float32Array::from(vec![
            Some(0.1),
            None,
            Some(f32::MIN_POSITIVE),
        ])),
        Arc::new(StringArray::from(vec![Some("a\\b\n'c'"), None, Some("")])),
        Arc::new(StringArray::from(vec![
            Some("{\"k\": [1, 2]}"),
            None,
            Some("null"),
        ])),
    ];
    RecordBatch::try_new(spec.arrow_schema(), columns).unwrap()
}

#[test]
fn every_type_round_trips_with_nulls() {
    let spec = spec("ticks");
    let batch = ticks_batch();
    assert_eq!(round_trip(&spec, &batch), batch);
}

#[test]
fn every_precision_round_trips() {
    let ns = spec("ns_ticks");
    let batch = RecordBatch::try_new(
        ns.arrow_schema(),
        vec![
            Arc::new(
                TimestampNanosecondArray::from(vec![1_704_159_000_000_000_001, i64::MAX - 1])
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec!["A", "B"])),
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
            Arc::new(Float64Array::from(vec![0.5, 1e-300])),
        ],
    )
    .unwrap();
    assert_eq!(round_trip(&ns, &batch), batch);
    let bars = spec("bars");
    let batch = RecordBatch::try_new(
        bars.arrow_schema(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_704_159_000_000_123]).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec!["A"])),
            Arc::new(StringArray::from(vec!["1m"])),
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(Float64Array::from(vec![2.0])),
            Arc::new(Float64Array::from(vec![0.5])),
            Arc::new(Float64Array::from(vec![1.5])),
            Arc::new(Int64Array::from(vec![100])),
            Arc::new(Float64Array::from(vec![150.0])),
        ],
    )
    .unwrap();
    assert_eq!(round_trip(&bars, &batch), batch);
    let daily = spec("daily");
    let batch = RecordBatch::try_new(
        daily.arrow_schema(),
        vec![
            Arc::new(Date32Array::from(vec![19_724, -719_162])),
            Arc::new(StringArray::from(vec!["A", "A"])),
            Arc::new(Float64Array::from(vec![1.0, 1.0])),
            Arc::new(Float64Array::from(vec![2.0, 2.0])),
            Arc::new(Float64Array::from(vec![0.5, 0.5])),
            Arc::new(Float64Array::from(vec![1.5, 1.5])),
            Arc::new(Int64Array::from(vec![100, 0])),
            Arc::new(
                Decimal128Array::from(vec![15_000, 1])
                    .with_precision_and_scale(18, 4)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    assert_eq!(round_trip(&daily, &batch), batch);
}

#[test]
fn timestamps_in_another_unit_are_refused_not_truncated() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let us: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC"));
    assert!(column_view(&us, &l).is_err());
}

#[test]
fn grouping_by_series_keeps_every_row_once() {
    let spec = spec("depth");
    let l = layout(&spec).unwrap();
    // Interleaved series: (A,1) (B,1) (A,1) (A,2) (B,1)
    let batch = RecordBatch::try_new(
        spec.arrow_schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from(vec![1, 1, 2, 1, 2]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec!["A", "B", "A", "A", "B"])),
            Arc::new(Int32Array::from(vec![1, 1, 1, 2, 1])),
            Arc::new(Float64Array::from(vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                None,
                Some(5.0),
            ])),
            Arc::new(Float64Array::from(vec![
                None,
                Some(2.5),
                Some(3.5),
                Some(4.5),
                None,
            ])),
        ],
    )
    .unwrap();
    let series = group_series(&spec, &l, &batch).unwrap();
    assert_eq!(series.len(), 3);
    let a1 = &series[0];
    assert_eq!(a1.tags, vec![TagValue::Str("A".into()), TagValue::Int(1)]);
    assert_eq!(a1.table, subtable_name(&l.stable, &a1.tags));
    assert_eq!(a1.first_row, 0);
    assert_eq!(a1.rows.num_rows(), 2);
    let bid = a1
        .rows
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(bid.values().to_vec(), vec![1.0, 3.0]);
    assert_eq!(series[1].rows.num_rows(), 2);
    assert_eq!(
        series[2].tags,
        vec![TagValue::Str("A".into()), TagValue::Int(2)]
    );
    assert_eq!(series.iter().map(|s| s.rows.num_rows()).sum::<usize>(), 5);
    for s in &series {
        assert_eq!(series_views(&spec, &l, s).unwrap().len(), 3);
    }
}

#[test]
fn tag_too_long_is_a_typed_error_naming_class_column_row_and_subtable() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let mut columns = ticks_batch().columns().to_vec();
    // 16 characters of 4 bytes each fit VARCHAR(64); one more byte does not.
    columns[1] = Arc::new(StringArray::from(vec![
        "600000.SH",
        &"😀".repeat(16),
        &format!("x{}", "😀".repeat(16)),
    ]));
    let batch = RecordBatch::try_new(spec.arrow_schema(), columns).unwrap();
    let err = group_series(&spec, &l, &batch).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch);
    assert_eq!(err.class(), Some("ticks"));
    assert_eq!(err.column(), Some("symbol"));
    assert_eq!(err.row(), Some(2));
    let expected = subtable_name(&l.stable, &[TagValue::Str(format!("x{}", "😀".repeat(16)))]);
    assert!(err.message().contains(&expected), "{err}");
    assert!(err.message().contains("VARCHAR(64)"), "{err}");
}

#[test]
fn text_value_too_long_names_its_subtable() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let mut columns = ticks_batch().columns().to_vec();
    columns[11] = Arc::new(StringArray::from(vec![
        Some("ok"),
        None,
        Some(&*"n".repeat(4097)),
    ]));
    let batch = RecordBatch::try_new(spec.arrow_schema(), columns).unwrap();
    let err = group_series(&spec, &l, &batch).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch);
    assert_eq!((err.column(), err.row()), (Some("note"), Some(2)));
    assert!(err.message().contains("sub-table t_"), "{err}");
}

#[test]
fn a_column_the_super_table_lacks_or_types_differently_is_named() {
    use quantdal_tdengine::ddl::{drift, incompatibility, LiveColumn};
    let spec = spec("depth");
    let l = layout(&spec).unwrap();
    let col = |name: &str, ty: &str, len: u32, tag: bool| LiveColumn {
        name: name.into(),
        type_name: ty.into(),
        length: len,
        is_tag: tag,
        ..LiveColumn::default()
    };
    let live = vec![
        col("ts", "TIMESTAMP", 8, false),
        col("bid_price", "BIGINT", 8, false),
        col("symbol", "BINARY", 32, true),
        col("level", "INT", 4, true),
        col("extra", "DOUBLE", 8, false),
    ];
    let (column, why) = incompatibility(&spec, &l, &live).unwrap();
    assert_eq!(column, "bid_price");
    assert!(why.contains("BIGINT") && why.contains("DOUBLE"), "{why}");
    let d = drift(&spec, &l, &live);
    insta::assert_snapshot!("drift", format!("{d:#?}"));
    let fixed: Vec<LiveColumn> = vec![
        col("ts", "TIMESTAMP", 8, false),
        col("bid_price", "DOUBLE", 8, false),
        col("ask_price", "DOUBLE", 8, false),
        col("symbol", "VARCHAR", 64, true),
        col("level", "INT", 4, true),
    ];
    assert_eq!(incompatibility(&spec, &l, &fixed), None);
    assert_eq!(drift(&spec, &l, &fixed), Default::default());
}

#[test]
fn fallback_insert_is_escaped_and_chunked_under_the_limit() {
    let spec = spec("ticks");
    let l = layout(&spec).unwrap();
    let series = group_series(&spec, &l, &ticks_batch()).unwrap();
    let one = insert_statements(&spec, &l, &series, 1 << 20).unwrap();
    assert_eq!(one.len(), 1);
    insta::assert_snapshot!("fallback_insert", &one[0].0);
    assert_eq!(one[0].1, series.len());
    // A small limit splits between rows; every statement fits and the completed counts only grow.
    let many = insert_statements(&spec, &l, &series, 600).unwrap();
    assert!(many.len() > 1);
    for (sql, _) in &many {
        assert!(sql.len() <= 600, "{} bytes", sql.len());
        assert!(sql.starts_with("INSERT INTO `market`.`t_"));
    }
    assert!(many.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(many.last().unwrap().1, series.len());
    // A row that cannot fit is an error, not a truncation.
    let err = insert_statements(&spec, &l, &series, 200).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBatch);
}

#[tokio::test]
async fn open_reports_malformed_unreachable_and_unsupported_dsns_without_the_password() {
    use quantdal_core::{StoreKind, StoreSettings};
    use quantdal_tdengine::TdengineStore;
    let settings = |dsn: Option<&str>| StoreSettings {
        pool_size: Some(2),
        url: dsn.map(str::to_string),
        connect_timeout_ms: Some(2_000),
        ..StoreSettings::new("market", StoreKind::Tdengine)
    };
    let err = TdengineStore::open(&settings(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = TdengineStore::open(&settings(Some("mysql://root:hunter2@h")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Nothing listens on port 1 of localhost (two endpoints: both are tried).
    let err = TdengineStore::open(&settings(Some(
        "taos+ws://root:hunter2@127.0.0.1:1,127.0.0.1:2",
    )))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        err.to_string().contains("127.0.0.1:1") && err.to_string().contains("127.0.0.1:2"),
        "{err}"
    );
    if !cfg!(feature = "native") {
        let err = TdengineStore::open(&settings(Some("taos://root:hunter2@127.0.0.1:6030")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(!err.to_string().contains("hunter2"));
    }
}

/// Without libtaos a native DSN fails at open with a typed error that says where the library is looked for,
/// never a panic (the library is loaded at run time, so the build itself never needs it).
#[cfg(feature = "native")]
#[tokio::test]
async fn native_without_libtaos_is_a_config_error_naming_taos_library_path() {
    let settings = quantdal_core::StoreSettings {
        url: Some("taos://root:s3cret@127.0.0.1:6030?libraryPath=/nonexistent/libtaos.so".into()),
        ..quantdal_core::StoreSettings::new("native", quantdal_core::StoreKind::Tdengine)
    };
    let err = quantdal_tdengine::TdengineStore::open(&settings)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("TAOS_LIBRARY_PATH"), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
