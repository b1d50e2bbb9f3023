//! Test helpers: an in-memory fake `Store` (the thing under test is the layer around it), tick batches,
//! and monitors on a temporary SQLite file.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use async_trait::async_trait;
use quantdal_core::{
    normalize_batch, BatchStream, Catalog, Error, ErrorKind, Interval, Load, Operation,
    ProvisionStatus, Query, Result, SaveOptions, StatementText, Store, StoreInfo, StoreKind,
    TableSpec,
};
use quantdal_monitor::{Monitor, MonitorDb, MonitorOptions, Sink};

pub fn catalog() -> Catalog {
    Catalog::from_yaml(quantdal_core::BUILTIN_TABLE_CONFIG, "builtin").unwrap()
}

pub fn spec(class: &str) -> Arc<TableSpec> {
    catalog().get(class).unwrap().clone()
}

pub fn query(spec: &TableSpec) -> Query {
    Load::all().resolve(spec).unwrap()
}

/// A store that keeps nothing: counts calls, optionally sleeps, optionally fails saves.
#[derive(Debug)]
pub struct FakeStore {
    info: StoreInfo,
    pub delay: Duration,
    pub fail_saves: bool,
    pub saved_rows: AtomicU64,
    pub saves: AtomicU64,
    pub last_batch: Mutex<Option<RecordBatch>>,
}

impl FakeStore {
    pub fn new() -> Self {
        FakeStore {
            info: StoreInfo {
                name: "fake".into(),
                kind: StoreKind::Duckdb,
                location: "memory".into(),
                capabilities: quantdal_core::Capabilities::RELATIONAL,
            },
            delay: Duration::ZERO,
            fail_saves: false,
            saved_rows: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            last_batch: Mutex::new(None),
        }
    }
    async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
    fn batches(spec: &TableSpec, n: usize) -> Vec<RecordBatch> {
        (0..n)
            .map(|_| RecordBatch::new_empty(spec.arrow_schema()))
            .collect()
    }
}

#[async_trait]
impl Store for FakeStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }
    async fn provision(&self, _spec: &Arc<TableSpec>) -> Result<ProvisionStatus> {
        self.pause().await;
        Ok(ProvisionStatus::AlreadyPresent)
    }
    async fn save(&self, _spec: &Arc<TableSpec>, batch: RecordBatch) -> Result<u64> {
        self.pause().await;
        self.saves.fetch_add(1, Ordering::SeqCst);
        if self.fail_saves {
            return Err(Error::new(ErrorKind::Unavailable, "fake store is down"));
        }
        let n = batch.num_rows() as u64;
        self.saved_rows.fetch_add(n, Ordering::SeqCst);
        *self.last_batch.lock().unwrap() = Some(batch);
        Ok(n)
    }
    async fn load(&self, spec: &Arc<TableSpec>, _query: Query) -> Result<BatchStream> {
        self.pause().await;
        let batches = Self::batches(spec, 3);
        Ok(Box::pin(futures::stream::iter(batches.into_iter().map(Ok))))
    }
    async fn latest(&self, spec: &Arc<TableSpec>, _query: Query) -> Result<Vec<RecordBatch>> {
        self.pause().await;
        Ok(Self::batches(spec, 1))
    }
    async fn kline(
        &self,
        spec: &Arc<TableSpec>,
        _interval: Interval,
        _query: Query,
    ) -> Result<Vec<RecordBatch>> {
        self.pause().await;
        Ok(Self::batches(spec, 1))
    }
    async fn delete(&self, _spec: &Arc<TableSpec>, _query: Query) -> Result<u64> {
        self.pause().await;
        Ok(0)
    }
    async fn count(&self, _spec: &Arc<TableSpec>) -> Result<u64> {
        Ok(0)
    }
    fn statement(
        &self,
        spec: &TableSpec,
        operation: Operation,
        _query: Option<&Query>,
    ) -> Option<StatementText> {
        Some(StatementText {
            sql: format!(
                "SELECT /* {operation} */ * FROM {} WHERE ts >= ? AND ts < ?",
                spec.table
            ),
            parameters: 2,
        })
    }
}

/// `n` ticks of `symbol` one second apart from 2024-01-02 01:30 UTC, in the class schema.
pub fn ticks(n: usize, symbol: &str) -> RecordBatch {
    let spec = spec("tick_data");
    let base = 1_704_159_000_000i64;
    let col = |a: ArrayRef| a;
    let batch = RecordBatch::try_from_iter([
        (
            "ts",
            col(Arc::new(
                TimestampMillisecondArray::from_iter_values((0..n as i64).map(|i| base + i * 1000))
                    .with_timezone("UTC"),
            )),
        ),
        ("symbol", col(Arc::new(StringArray::from(vec![symbol; n])))),
        ("price", col(Arc::new(Float64Array::from(vec![10.0; n])))),
        ("volume", col(Arc::new(Int64Array::from(vec![100; n])))),
        ("amount", col(Arc::new(Float64Array::from(vec![1000.0; n])))),
        (
            "bid_price1",
            col(Arc::new(Float64Array::from(vec![9.99; n]))),
        ),
        ("bid_volume1", col(Arc::new(Int64Array::from(vec![5; n])))),
        (
            "ask_price1",
            col(Arc::new(Float64Array::from(vec![10.01; n]))),
        ),
        ("ask_volume1", col(Arc::new(Int64Array::from(vec![7; n])))),
    ])
    .unwrap();
    normalize_batch(&spec, &batch, &SaveOptions::default()).unwrap()
}

/// Replaces column `name` of `batch` with `array`.
pub fn with_column(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = array;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

pub fn options(dir: &std::path::Path) -> MonitorOptions {
    let mut o = MonitorOptions::new("test-app", dir.join("monitoring.db"));
    o.flush_interval = Duration::from_millis(50);
    o.retry_interval = Duration::from_millis(50);
    o
}

pub fn sqlite(dir: &std::path::Path) -> MonitorDb {
    MonitorDb::open_sqlite(dir.join("monitoring.db"), Duration::from_millis(100)).unwrap()
}

pub fn start(dir: &std::path::Path, options: MonitorOptions) -> (Monitor, MonitorDb) {
    let db = sqlite(dir);
    let monitor = Monitor::start(Arc::new(db.clone()) as Arc<dyn Sink>, options).unwrap();
    (monitor, db)
}
