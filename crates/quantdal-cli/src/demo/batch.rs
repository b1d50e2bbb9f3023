//! A small column-wise builder for demo batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use quantdal::Result;

#[derive(Default)]
pub struct Batch {
    columns: Vec<(String, ArrayRef)>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }
    fn push(mut self, name: &str, array: ArrayRef) -> Self {
        self.columns.push((name.to_string(), array));
        self
    }
    /// Milliseconds since the epoch, UTC.
    pub fn ts(self, name: &str, ms: Vec<i64>) -> Self {
        self.push(
            name,
            Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC")),
        )
    }
    /// Microseconds since the epoch, UTC.
    pub fn ts_us(self, name: &str, us: Vec<i64>) -> Self {
        self.push(
            name,
            Arc::new(TimestampMicrosecondArray::from(us).with_timezone("UTC")),
        )
    }
    pub fn str(self, name: &str, v: Vec<String>) -> Self {
        self.push(name, Arc::new(StringArray::from(v)))
    }
    pub fn str_opt(self, name: &str, v: Vec<Option<String>>) -> Self {
        self.push(name, Arc::new(StringArray::from(v)))
    }
    pub fn f64(self, name: &str, v: Vec<f64>) -> Self {
        self.push(name, Arc::new(Float64Array::from(v)))
    }
    pub fn f64_opt(self, name: &str, v: Vec<Option<f64>>) -> Self {
        self.push(name, Arc::new(Float64Array::from(v)))
    }
    pub fn i64(self, name: &str, v: Vec<i64>) -> Self {
        self.push(name, Arc::new(Int64Array::from(v)))
    }
    pub fn push_i64_opt(self, name: &str, v: Vec<Option<i64>>) -> Self {
        self.push(name, Arc::new(Int64Array::from(v)))
    }
    pub fn i32(self, name: &str, v: Vec<i32>) -> Self {
        self.push(name, Arc::new(Int32Array::from(v)))
    }
    pub fn i32_opt(self, name: &str, v: Vec<Option<i32>>) -> Self {
        self.push(name, Arc::new(Int32Array::from(v)))
    }
    pub fn bool(self, name: &str, v: Vec<bool>) -> Self {
        self.push(name, Arc::new(BooleanArray::from(v)))
    }
    /// Days since the epoch.
    pub fn date(self, name: &str, v: Vec<i32>) -> Self {
        self.push(name, Arc::new(Date32Array::from(v)))
    }
    pub fn date_opt(self, name: &str, v: Vec<Option<i32>>) -> Self {
        self.push(name, Arc::new(Date32Array::from(v)))
    }
    /// Unscaled values at `scale`.
    pub fn decimal(
        self,
        name: &str,
        v: Vec<Option<i128>>,
        precision: u8,
        scale: i8,
    ) -> Result<Self> {
        let array = Decimal128Array::from(v).with_precision_and_scale(precision, scale)?;
        Ok(self.push(name, Arc::new(array)))
    }
    pub fn build(self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter(self.columns)?)
    }
}
