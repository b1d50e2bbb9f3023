//! The store on its own against the server in `QUANTDAL_TEST_PG_URL` (skips when unset, fails when
//! `QUANTDAL_REQUIRE_SERVICES=1`): both save paths, exact types back, latest and kline, and the TimescaleDB
//! objects when the server has the extension. The full cross-store suite is in tests/tests/postgres.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use futures::{FutureExt, TryStreamExt};
use quantdal_core::{Catalog, Interval, Load, ProvisionStatus, Store, TableSpec};
use quantdal_postgres::{PoolOptions, PostgresOptions, PostgresStore, TimescaleMode};

const YAML: &str = r#"
version: 1
classes:
  - name: px
    category: market
    store: pg
    table: px
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: fee, type: "DECIMAL(12,4)", nullable: true }
      - { name: meta, type: JSON, nullable: true }
    kline: { price: price, volume: volume }
    options:
      timescale: { chunk_interval: "1 day", compression: { after: "7 days" }, retention: "10 years" }
  - name: days
    category: market
    store: pg
    table: days
    time: { column: d }
    tags: [symbol]
    columns:
      - { name: d, type: DATE, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: open, type: DOUBLE, nullable: false }
      - { name: high, type: DOUBLE, nullable: false }
      - { name: low, type: DOUBLE, nullable: false }
      - { name: close, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
    kline: { open: open, high: high, low: low, close: close, volume: volume }
    options:
      timescale:
        chunk_interval: "1 year"
        rollups: [ { name: days_weekly, interval: "1 week" } ]
"#;

fn url() -> Option<String> {
    match std::env::var("QUANTDAL_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "QUANTDAL_TEST_PG_URL is not set but QUANTDAL_REQUIRE_SERVICES=1"
            );
            eprintln!("QUANTDAL_TEST_PG_URL is not set: skipping");
            None
        }
    }
}

fn px_batch(spec: &TableSpec, rows: &[(i64, &str, f64, i64, Option<i128>)]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(
            Decimal128Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())
                .with_precision_and_scale(12, 4)
                .unwrap(),
        ),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| {
                    if r.3 % 2 == 0 {
                        Some(r#"{"k": 1}"#)
                    } else {
                        None
                    }
                })
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(spec.arrow_schema(), columns).unwrap()
}

/// The store on `schema`, and an admin connection outside it.
async fn open(
    url: &str,
    schema: &str,
    timescale: TimescaleMode,
) -> (PostgresStore, tokio_postgres::Client) {
    let store = PostgresStore::open(
        "pg",
        PostgresOptions {
            url: url.to_string(),
            read_url: None,
            schema: schema.to_string(),
            timescale,
            pool: PoolOptions::default(),
        },
    )
    .await
    .unwrap();
    let admin = quantdal_postgres::connect_client(url, "live-admin")
        .await
        .unwrap();
    (store, admin)
}

/// Runs a test's body, drops its schema whatever happened, then reports the body's panic.
async fn dropping_schema(
    admin: &tokio_postgres::Client,
    schema: &str,
    body: impl std::future::Future<Output = ()>,
) {
    let outcome = std::panic::AssertUnwindSafe(body).catch_unwind().await;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn all(store: &PostgresStore, spec: &Arc<TableSpec>, load: Load) -> Vec<RecordBatch> {
    let q = load.resolve(spec).unwrap();
    store
        .load(spec, q)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_the_live_server() {
    let Some(url) = url() else { return };
    let catalog = Catalog::from_yaml(YAML, "live").unwrap();
    let schema = format!("qd_live_{}", std::process::id());
    let (store, admin) = open(&url, &schema, TimescaleMode::Auto).await;
    let result = async {
        let px = catalog.get("px").unwrap().clone();
        let days = catalog.get("days").unwrap().clone();
        assert_eq!(
            store.provision(&px).await.unwrap(),
            ProvisionStatus::Created
        );
        assert_eq!(
            store.provision(&days).await.unwrap(),
            ProvisionStatus::Created
        );
        assert_eq!(
            store.provision(&px).await.unwrap(),
            ProvisionStatus::AlreadyPresent
        );
        assert_eq!(
            store.check(&days).await.unwrap(),
            ProvisionStatus::AlreadyPresent
        );
        let timescale: bool = admin
            .query_one(
                "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'timescaledb'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if timescale {
            let hypertables: i64 = admin
                .query_one(
                    "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_schema = $1",
                    &[&schema],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(hypertables, 2);
            let jobs: i64 = admin
                .query_one(
                    "SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_schema = $1",
                    &[&schema],
                )
                .await
                .unwrap()
                .get(0);
            assert!(jobs >= 2, "compression and retention policies: {jobs}");
            let caggs: i64 = admin
                .query_one(
                    "SELECT count(*) FROM timescaledb_information.continuous_aggregates WHERE view_schema = $1",
                    &[&schema],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(caggs, 1);
            assert!(store.provision_notes(&px).is_empty());
        } else {
            assert!(!store.provision_notes(&px).is_empty());
        }

        // Empty table: the direct COPY path.
        let first = px_batch(
            &px,
            &[
                (1_700_000_000_001, "A", 1.5, 10, Some(12_345)),
                (1_700_000_060_000, "A", 2.5, 20, None),
                (1_700_000_000_000, "B", 3.25, 30, Some(-1)),
            ],
        );
        assert_eq!(store.save(&px, first).await.unwrap(), 3);
        // Overlapping keys: the staging merge, last write wins.
        let second = px_batch(
            &px,
            &[
                (1_700_000_060_000, "A", 9.0, 21, Some(10i128.pow(11))),
                (1_700_000_120_000, "A", 4.0, 40, None),
            ],
        );
        assert_eq!(store.save(&px, second.clone()).await.unwrap(), 2);
        assert_eq!(store.save(&px, second).await.unwrap(), 2, "idempotent");
        assert_eq!(store.count(&px).await.unwrap(), 4);

        let got = all(&store, &px, Load::all()).await;
        let b = &got[0];
        assert_eq!(b.schema(), px.arrow_schema());
        let ts = b.column(0).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_700_000_000_001, "milliseconds survive");
        let price = b.column(2).as_primitive::<Float64Type>();
        assert_eq!(price.values().to_vec(), vec![1.5, 9.0, 4.0, 3.25]);
        let fee = b.column(4).as_primitive::<Decimal128Type>();
        assert_eq!(fee.value(0), 12_345);
        assert_eq!(fee.value(1), 10i128.pow(11));
        assert!(fee.is_null(2));
        assert_eq!(fee.value(3), -1);
        let meta = b.column(5).as_string::<i32>();
        assert_eq!(meta.value(0), r#"{"k": 1}"#);

        let latest = store
            .latest(&px, Load::all().resolve(&px).unwrap())
            .await
            .unwrap();
        let vol = latest[0].column(3).as_primitive::<Int64Type>();
        assert_eq!(vol.values().to_vec(), vec![40, 30]);

        let bars = store
            .kline(
                &px,
                Interval::from_seconds(3600).unwrap(),
                Load::all().resolve(&px).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(bars[0].num_rows(), 2);
        let open = bars[0]
            .column_by_name("open")
            .unwrap()
            .as_primitive::<Float64Type>();
        let close = bars[0]
            .column_by_name("close")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!((open.value(0), close.value(0)), (1.5, 4.0));

        // Dates, and weekly bars from daily ones aligned to Mondays.
        let d = Date32Array::from(vec![19_723, 19_724, 19_730]); // 2024-01-01 (Mon), 01-02, 01-08 (Mon)
        let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let daily = RecordBatch::try_new(
            days.arrow_schema(),
            vec![
                Arc::new(d),
                Arc::new(StringArray::from(vec!["A", "A", "A"])),
                f(vec![1.0, 2.0, 3.0]),
                f(vec![1.5, 2.5, 3.5]),
                f(vec![0.5, 1.5, 2.5]),
                f(vec![1.2, 2.2, 3.2]),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        store.save(&days, daily).await.unwrap();
        let weekly = store
            .kline(
                &days,
                Interval::from_seconds(7 * 86_400).unwrap(),
                Load::all().resolve(&days).unwrap(),
            )
            .await
            .unwrap();
        let start = weekly[0]
            .column_by_name("d")
            .unwrap()
            .as_primitive::<Date32Type>();
        assert_eq!(start.values().to_vec(), vec![19_723, 19_730]);
        let close = weekly[0]
            .column_by_name("close")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(close.values().to_vec(), vec![2.2, 3.2]);
        let removed = store
            .delete(
                &days,
                Load::all()
                    .since(quantdal_core::Timestamp::from_millis(19_730 * 86_400_000).unwrap())
                    .resolve(&days)
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(removed, 1);
    };
    dropping_schema(&admin, &schema, result).await;
}

const PARTITIONED_YAML: &str = r#"
version: 1
classes:
  - name: pxp
    category: market
    store: pg
    table: pxp
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: fee, type: "DECIMAL(12,4)", nullable: true }
      - { name: meta, type: JSON, nullable: true }
    options: { postgres: { partition: 1d } }
  - name: pxq
    category: market
    store: pg
    table: pxq
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE, nullable: false }
      - { name: volume, type: BIGINT, nullable: false }
      - { name: fee, type: "DECIMAL(12,4)", nullable: true }
      - { name: meta, type: JSON, nullable: true }
    options: { postgres: { partition: 1d } }
"#;

/// The partitions of `schema.table`, by name.
async fn partition_names(admin: &tokio_postgres::Client, schema: &str, table: &str) -> Vec<String> {
    admin
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace \
             WHERE n.nspname = $1 AND p.relname = $2 ORDER BY 1",
            &[&schema, &table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// `postgres.partition`: a range-partitioned parent, one partition per day created by the saves that need
/// it, upserts across partitions, pruned range loads, sizes summed over the partitions, a partition dropped
/// by hand re-created by the next save, and a plain table of a partitioned class reported by `check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_class_on_the_live_server() {
    let Some(url) = url() else { return };
    let catalog = Catalog::from_yaml(PARTITIONED_YAML, "live").unwrap();
    let schema = format!("qd_live_part_{}", std::process::id());
    let (store, admin) = open(&url, &schema, TimescaleMode::Off).await;
    let result = async {
        let pxp = catalog.get("pxp").unwrap().clone();
        assert_eq!(
            store.provision(&pxp).await.unwrap(),
            ProvisionStatus::Created
        );
        assert_eq!(
            store.check(&pxp).await.unwrap(),
            ProvisionStatus::AlreadyPresent
        );
        assert!(
            partition_names(&admin, &schema, "pxp").await.is_empty(),
            "no partition before a save"
        );

        // 2024-01-01 23:59:59.999, 2024-01-02 00:00, 2024-01-03 12:00, for two symbols.
        let times = [1_704_153_599_999, 1_704_153_600_000, 1_704_283_200_000];
        let rows: Vec<(i64, &str, f64, i64, Option<i128>)> = times
            .iter()
            .flat_map(|&t| [(t, "A", 1.0, 10, None), (t, "B", 2.0, 20, Some(12_345))])
            .collect();
        assert_eq!(store.save(&pxp, px_batch(&pxp, &rows)).await.unwrap(), 6);
        assert_eq!(
            partition_names(&admin, &schema, "pxp").await,
            ["pxp_p20240101", "pxp_p20240102", "pxp_p20240103"]
        );
        // The same keys again with new prices: an upsert across three partitions, still six rows.
        let repriced: Vec<_> = rows
            .iter()
            .map(|r| (r.0, r.1, r.2 + 0.5, r.3, r.4))
            .collect();
        assert_eq!(
            store.save(&pxp, px_batch(&pxp, &repriced)).await.unwrap(),
            6
        );
        assert_eq!(store.count(&pxp).await.unwrap(), 6);
        let day2 = all(
            &store,
            &pxp,
            Load::all()
                .since(quantdal_core::Timestamp::from_millis(1_704_153_600_000).unwrap())
                .until(quantdal_core::Timestamp::from_millis(1_704_240_000_000).unwrap()),
        )
        .await;
        let prices: Vec<f64> = day2
            .iter()
            .flat_map(|b| b.column(2).as_primitive::<Float64Type>().values().to_vec())
            .collect();
        assert_eq!(prices, [1.5, 2.5], "day 2 only, repriced");

        let report = store.storage(std::slice::from_ref(&pxp)).await.unwrap();
        let sized = report.tables.iter().find(|t| t.class == "pxp").unwrap();
        assert!(
            sized.table_bytes.unwrap() > 0 && sized.index_bytes.unwrap() > 0,
            "{sized:?}"
        );
        assert!(
            report.undeclared.iter().all(|t| !t.starts_with("pxp_p")),
            "partitions are not undeclared tables: {:?}",
            report.undeclared
        );

        // A partition dropped by hand: the next save into its day makes it again.
        admin
            .batch_execute(&format!("DROP TABLE \"{schema}\".pxp_p20240103"))
            .await
            .unwrap();
        let late = [(times[2], "A", 3.0, 30, None)];
        assert_eq!(store.save(&pxp, px_batch(&pxp, &late)).await.unwrap(), 1);
        assert_eq!(partition_names(&admin, &schema, "pxp").await.len(), 3);
        assert_eq!(store.count(&pxp).await.unwrap(), 5);

        // A width that is not whole days: `check` refuses it as a config error naming the class.
        let bad = Catalog::from_yaml(
            &PARTITIONED_YAML.replace("partition: 1d", "partition: 6h"),
            "live",
        )
        .unwrap()
        .get("pxp")
        .unwrap()
        .clone();
        let refused = store.check(&bad).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            quantdal_core::ErrorKind::Config,
            "{refused}"
        );
        assert_eq!(refused.class(), Some("pxp"));

        // A plain table made before the class declared partitions: saves go in, `check` says what differs.
        let pxq = catalog.get("pxq").unwrap().clone();
        admin
            .batch_execute(&format!(
                "CREATE TABLE \"{schema}\".pxq (ts timestamp(3) with time zone NOT NULL, symbol varchar(16) \
                 NOT NULL, price double precision NOT NULL, volume bigint NOT NULL, fee numeric(12,4), meta \
                 jsonb, PRIMARY KEY (symbol, ts))"
            ))
            .await
            .unwrap();
        assert_eq!(store.save(&pxq, px_batch(&pxq, &rows)).await.unwrap(), 6);
        match store.check(&pxq).await.unwrap() {
            ProvisionStatus::Drift(d) => {
                assert!(d.iter().any(|x| x.contains("not partitioned")), "{d:?}")
            }
            other => panic!("expected drift, got {other:?}"),
        }
    };
    dropping_schema(&admin, &schema, result).await;
}
