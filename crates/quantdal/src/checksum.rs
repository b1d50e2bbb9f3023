//! Order-independent fingerprints of a class's rows, identical on every store: what `copy`, `backup` and
//! `restore` verify with.
//!
//! Each row of a batch in the class's Arrow schema is encoded canonically (a type tag, then the value:
//! integers widened to i64, floats as IEEE bits with -0.0 and NaN normalised, decimals as i128, text with
//! its length, timestamps as integers in the class's unit, nulls as their own tag) and hashed with 64-bit
//! FNV-1a. Per series the fingerprint keeps the row count, the wrapping sum and the xor of the row hashes:
//! sums and xors do not depend on row order, so two stores agree exactly when they hold the same multiset of
//! rows (up to a 2^-64-scale collision chance). The encoding is defined here, not by a library, so a
//! backup's checksums stay comparable across versions.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt32Type, UInt64Type,
};
use arrow::util::display::FormatOptions;
use futures::StreamExt;
use quantdal_core::admin::series_text;
use quantdal_core::{BatchStream, Error, Result, TableSpec};
use serde::{Deserialize, Serialize};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Rows and the order-independent sums of their hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Print {
    pub rows: u64,
    pub sum: u64,
    pub xor: u64,
}

impl Print {
    fn add(&mut self, h: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(h);
        self.xor ^= h;
    }
    /// `sum:xor` in hex, as manifests and reports show it.
    pub fn checksum(&self) -> String {
        format!("{:016x}{:016x}", self.sum, self.xor)
    }
}

/// A class's rows: per series (key values joined by `|`) and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub series: BTreeMap<String, Print>,
    pub total: Print,
    /// Smallest and largest time (ns since the epoch).
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

impl Fingerprint {
    pub fn add_batch(&mut self, spec: &TableSpec, batch: &RecordBatch) -> Result<()> {
        let series = series_text(
            batch,
            &spec.series_columns(),
            &FormatOptions::default().with_null(""),
        )?;
        let hashes = row_hashes(batch)?;
        for (key, h) in series.into_iter().zip(hashes) {
            self.series.entry(key.join("|")).or_default().add(h);
            self.total.add(h);
        }
        if let Some(t) = spec
            .time
            .as_ref()
            .and_then(|t| batch.column_by_name(&t.column))
        {
            for v in quantdal_core::admin::time_ns(t.as_ref())?
                .into_iter()
                .flatten()
            {
                self.first_ns = Some(self.first_ns.map_or(v, |f| f.min(v)));
                self.last_ns = Some(self.last_ns.map_or(v, |l| l.max(v)));
            }
        }
        Ok(())
    }

    /// Reads a whole stream of class-schema batches.
    pub async fn of_stream(spec: &TableSpec, mut stream: BatchStream) -> Result<Fingerprint> {
        let mut f = Fingerprint::default();
        while let Some(batch) = stream.next().await {
            f.add_batch(spec, &batch?)?;
        }
        Ok(f)
    }

    /// What differs between two sides, per series, in words (empty when they agree).
    pub fn differences(&self, left: &str, other: &Fingerprint, right: &str) -> Vec<String> {
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&String> =
            self.series.keys().chain(other.series.keys()).collect();
        for k in keys {
            let a = self.series.get(k).copied().unwrap_or_default();
            let b = other.series.get(k).copied().unwrap_or_default();
            let name = if k.is_empty() {
                "(all rows)"
            } else {
                k.as_str()
            };
            if a.rows != b.rows {
                out.push(format!(
                    "series {name}: {} rows on {left}, {} on {right}",
                    a.rows, b.rows
                ));
            } else if a != b {
                out.push(format!(
                    "series {name}: {} rows on both, but their values differ (checksum {} vs {})",
                    a.rows,
                    a.checksum(),
                    b.checksum()
                ));
            }
        }
        out
    }
}

/// One 64-bit hash per row of `batch`, over every column in order.
pub fn row_hashes(batch: &RecordBatch) -> Result<Vec<u64>> {
    let mut hashes = vec![FNV_OFFSET; batch.num_rows()];
    for (i, column) in batch.columns().iter().enumerate() {
        // The column position is part of the row, so swapped values in two columns do not cancel out.
        for h in hashes.iter_mut() {
            *h = fnv(*h, &(i as u32).to_le_bytes());
        }
        hash_column(column, &mut hashes)?;
    }
    Ok(hashes)
}

fn hash_column(array: &ArrayRef, hashes: &mut [u64]) -> Result<()> {
    fn each<F: Fn(usize) -> u64Bytes>(array: &dyn Array, hashes: &mut [u64], tag: u8, f: F) {
        for (row, h) in hashes.iter_mut().enumerate() {
            if array.is_null(row) {
                *h = fnv(*h, &[0]);
            } else {
                *h = fnv(*h, &[tag]);
                let v = f(row);
                *h = fnv(*h, v.as_slice());
            }
        }
    }
    let a = array.as_ref();
    match a.data_type() {
        DataType::Boolean => {
            let b: &BooleanArray = a.as_boolean();
            each(a, hashes, 1, |r| u64Bytes::small(&[u8::from(b.value(r))]));
        }
        DataType::Int8 => {
            let p = a.as_primitive::<Int8Type>();
            each(a, hashes, 2, |r| u64Bytes::i64(i64::from(p.value(r))));
        }
        DataType::Int16 => {
            let p = a.as_primitive::<Int16Type>();
            each(a, hashes, 2, |r| u64Bytes::i64(i64::from(p.value(r))));
        }
        DataType::Int32 => {
            let p = a.as_primitive::<Int32Type>();
            each(a, hashes, 2, |r| u64Bytes::i64(i64::from(p.value(r))));
        }
        DataType::Int64 => {
            let p = a.as_primitive::<Int64Type>();
            each(a, hashes, 2, |r| u64Bytes::i64(p.value(r)));
        }
        DataType::UInt32 => {
            let p = a.as_primitive::<UInt32Type>();
            each(a, hashes, 2, |r| u64Bytes::i64(i64::from(p.value(r))));
        }
        DataType::UInt64 => {
            let p = a.as_primitive::<UInt64Type>();
            each(a, hashes, 9, |r| u64Bytes::i64(p.value(r) as i64));
        }
        DataType::Float32 => {
            let p = a.as_primitive::<Float32Type>();
            each(a, hashes, 3, |r| u64Bytes::f64(f64::from(p.value(r))));
        }
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            each(a, hashes, 3, |r| u64Bytes::f64(p.value(r)));
        }
        DataType::Decimal128(_, _) => {
            let p = a.as_primitive::<Decimal128Type>();
            each(a, hashes, 4, |r| u64Bytes::i128(p.value(r)));
        }
        DataType::Date32 => {
            let p = a.as_primitive::<Date32Type>();
            each(a, hashes, 5, |r| u64Bytes::i64(i64::from(p.value(r))));
        }
        DataType::Timestamp(unit, _) => {
            let values: Box<dyn Fn(usize) -> i64> = match unit {
                TimeUnit::Second => {
                    let p = a.as_primitive::<TimestampSecondType>();
                    Box::new(move |r| p.value(r))
                }
                TimeUnit::Millisecond => {
                    let p = a.as_primitive::<TimestampMillisecondType>();
                    Box::new(move |r| p.value(r))
                }
                TimeUnit::Microsecond => {
                    let p = a.as_primitive::<TimestampMicrosecondType>();
                    Box::new(move |r| p.value(r))
                }
                TimeUnit::Nanosecond => {
                    let p = a.as_primitive::<TimestampNanosecondType>();
                    Box::new(move |r| p.value(r))
                }
            };
            each(a, hashes, 6, |r| u64Bytes::i64(values(r)));
        }
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            for (row, h) in hashes.iter_mut().enumerate() {
                if s.is_null(row) {
                    *h = fnv(*h, &[0]);
                } else {
                    let v = s.value(row).as_bytes();
                    *h = fnv(*h, &[7]);
                    *h = fnv(*h, &(v.len() as u64).to_le_bytes());
                    *h = fnv(*h, v);
                }
            }
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            for (row, h) in hashes.iter_mut().enumerate() {
                if s.is_null(row) {
                    *h = fnv(*h, &[0]);
                } else {
                    let v = s.value(row).as_bytes();
                    *h = fnv(*h, &[7]);
                    *h = fnv(*h, &(v.len() as u64).to_le_bytes());
                    *h = fnv(*h, v);
                }
            }
        }
        other => {
            return Err(Error::store(format!(
                "no checksum encoding for Arrow type {other}"
            )))
        }
    }
    Ok(())
}

/// A value's canonical bytes, without allocating.
#[allow(non_camel_case_types)]
struct u64Bytes {
    buf: [u8; 16],
    len: usize,
}

impl u64Bytes {
    fn small(b: &[u8]) -> Self {
        let mut buf = [0u8; 16];
        buf[..b.len()].copy_from_slice(b);
        u64Bytes { buf, len: b.len() }
    }
    fn i64(v: i64) -> Self {
        Self::small(&v.to_le_bytes())
    }
    fn i128(v: i128) -> Self {
        u64Bytes {
            buf: v.to_le_bytes(),
            len: 16,
        }
    }
    fn f64(v: f64) -> Self {
        let v = if v == 0.0 {
            0.0
        } else if v.is_nan() {
            f64::NAN
        } else {
            v
        };
        Self::small(&v.to_bits().to_le_bytes())
    }
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(symbols: &[&str], values: &[f64]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("symbol", DataType::Utf8, false),
                Field::new("v", DataType::Float64, true),
                Field::new("n", DataType::Int64, true),
            ])),
            vec![
                Arc::new(StringArray::from(symbols.to_vec())),
                Arc::new(Float64Array::from(values.to_vec())),
                Arc::new(Int64Array::from(vec![1; values.len()])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn order_independent_and_value_sensitive() {
        let a = row_hashes(&batch(&["a", "b", "c"], &[1.0, 2.0, 3.0])).unwrap();
        let mut b = row_hashes(&batch(&["c", "a", "b"], &[3.0, 1.0, 2.0])).unwrap();
        b.sort_unstable();
        let mut a2 = a.clone();
        a2.sort_unstable();
        assert_eq!(a2, b);
        let c = row_hashes(&batch(&["a"], &[1.0000001])).unwrap();
        assert_ne!(a[0], c[0]);
        // -0.0 and 0.0 are the same value.
        assert_eq!(
            row_hashes(&batch(&["a"], &[0.0])).unwrap(),
            row_hashes(&batch(&["a"], &[-0.0])).unwrap()
        );
    }
}
