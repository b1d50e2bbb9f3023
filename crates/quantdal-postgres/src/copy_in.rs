//! Arrow batch → PostgreSQL binary COPY stream, written column by column straight from the Arrow buffers:
//! no per-row SQL, no intermediate rows of strings.

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampSecondType,
};
use bytes::{BufMut, Bytes, BytesMut};
use quantdal_core::{Error, NeutralType, Result, TableSpec};

use crate::binary::{put_numeric, PG_EPOCH_DAYS, PG_EPOCH_MICROS};

const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: i16 = -1;

/// Flush a chunk to the socket once it holds this much: large enough to amortise the send, small enough to
/// stream a big batch instead of materialising it.
pub const CHUNK_BYTES: usize = 1 << 20;

/// One column, typed once up front so the per-cell loop is a match on a small enum.
enum Column<'a> {
    Bool(&'a BooleanArray),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    /// The array (for nulls), its ticks, and how many microseconds one tick is (ms classes: 1000).
    Timestamp(&'a dyn Array, &'a [i64], i64),
    Date(&'a Date32Array),
    Decimal(&'a Decimal128Array, u16),
    Text(&'a StringArray),
    /// JSONB's binary form is a version byte then the text.
    Jsonb(&'a StringArray),
}

impl Column<'_> {
    fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Bool(a) => a.is_null(row),
            Column::Int32(a) => a.is_null(row),
            Column::Int64(a) => a.is_null(row),
            Column::Float32(a) => a.is_null(row),
            Column::Float64(a) => a.is_null(row),
            Column::Timestamp(a, _, _) => a.is_null(row),
            Column::Date(a) => a.is_null(row),
            Column::Decimal(a, _) => a.is_null(row),
            Column::Text(a) | Column::Jsonb(a) => a.is_null(row),
        }
    }

    fn put(&self, row: usize, buf: &mut BytesMut) {
        if self.is_null(row) {
            buf.put_i32(-1);
            return;
        }
        match self {
            Column::Bool(a) => {
                buf.put_i32(1);
                buf.put_u8(u8::from(a.value(row)));
            }
            Column::Int32(a) => {
                buf.put_i32(4);
                buf.put_i32(a.value(row));
            }
            Column::Int64(a) => {
                buf.put_i32(8);
                buf.put_i64(a.value(row));
            }
            Column::Float32(a) => {
                buf.put_i32(4);
                buf.put_f32(a.value(row));
            }
            Column::Float64(a) => {
                buf.put_i32(8);
                buf.put_f64(a.value(row));
            }
            Column::Timestamp(_, ticks, micros_per_tick) => {
                buf.put_i32(8);
                buf.put_i64(
                    ticks[row]
                        .saturating_mul(*micros_per_tick)
                        .saturating_sub(PG_EPOCH_MICROS),
                );
            }
            Column::Date(a) => {
                buf.put_i32(4);
                buf.put_i32(a.value(row).saturating_sub(PG_EPOCH_DAYS));
            }
            Column::Decimal(a, scale) => {
                // Length first: reserve it, write the value, then fill it in.
                let at = buf.len();
                buf.put_i32(0);
                put_numeric(buf, a.value(row), *scale);
                let len = (buf.len() - at - 4) as i32;
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
            Column::Text(a) => {
                let v = a.value(row).as_bytes();
                buf.put_i32(v.len() as i32);
                buf.put_slice(v);
            }
            Column::Jsonb(a) => {
                let v = a.value(row).as_bytes();
                buf.put_i32(v.len() as i32 + 1);
                buf.put_u8(1);
                buf.put_slice(v);
            }
        }
    }
}

fn typed<'a>(spec: &TableSpec, index: usize, array: &'a dyn Array) -> Result<Column<'a>> {
    let c = &spec.columns[index];
    let mismatch = || {
        Error::invalid_batch(format!(
            "column is {} where {} was expected (the batch was not normalised)",
            array.data_type(),
            c.data_type
        ))
        .with_class(spec.name.clone())
        .with_column(c.name.clone())
    };
    Ok(match (c.data_type, array.data_type()) {
        (NeutralType::Bool, DataType::Boolean) => Column::Bool(array.as_boolean()),
        (NeutralType::Int, DataType::Int32) => Column::Int32(array.as_primitive::<Int32Type>()),
        (NeutralType::BigInt, DataType::Int64) => Column::Int64(array.as_primitive::<Int64Type>()),
        (NeutralType::Float, DataType::Float32) => {
            Column::Float32(array.as_primitive::<Float32Type>())
        }
        (NeutralType::Double, DataType::Float64) => {
            Column::Float64(array.as_primitive::<Float64Type>())
        }
        (NeutralType::Timestamp, DataType::Timestamp(unit, _)) => match unit {
            TimeUnit::Second => Column::Timestamp(
                array,
                array.as_primitive::<TimestampSecondType>().values(),
                1_000_000,
            ),
            TimeUnit::Millisecond => Column::Timestamp(
                array,
                array.as_primitive::<TimestampMillisecondType>().values(),
                1_000,
            ),
            TimeUnit::Microsecond => Column::Timestamp(
                array,
                array.as_primitive::<TimestampMicrosecondType>().values(),
                1,
            ),
            // PostgreSQL stores microseconds; nanosecond classes are refused when the config is checked.
            TimeUnit::Nanosecond => return Err(mismatch()),
        },
        (NeutralType::Date, DataType::Date32) => Column::Date(array.as_primitive::<Date32Type>()),
        (NeutralType::Decimal { scale, .. }, DataType::Decimal128(_, s)) if *s == scale => {
            Column::Decimal(array.as_primitive::<Decimal128Type>(), scale.max(0) as u16)
        }
        (NeutralType::Json, DataType::Utf8) => Column::Jsonb(array.as_string::<i32>()),
        (NeutralType::Varchar { .. } | NeutralType::Text, DataType::Utf8) => {
            Column::Text(array.as_string::<i32>())
        }
        _ => return Err(mismatch()),
    })
}

/// Encodes a batch already normalised to `spec` (columns in spec order) into COPY chunks of about
/// [`CHUNK_BYTES`], so a large batch streams to the server while the rest is still being encoded. The first
/// chunk carries the header and the last the trailer.
pub struct Encoder<'a> {
    columns: Vec<Column<'a>>,
    rows: usize,
    next_row: usize,
    buf: BytesMut,
    done: bool,
}

impl<'a> Encoder<'a> {
    pub fn new(spec: &TableSpec, batch: &'a RecordBatch) -> Result<Encoder<'a>> {
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, a)| typed(spec, i, a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut buf = BytesMut::with_capacity(CHUNK_BYTES + 64 * 1024);
        buf.put_slice(HEADER);
        Ok(Encoder {
            columns,
            rows: batch.num_rows(),
            next_row: 0,
            buf,
            done: false,
        })
    }

    /// The next chunk, or `None` once the trailer has been handed out.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let field_count = self.columns.len() as i16;
        while self.next_row < self.rows {
            let row = self.next_row;
            self.next_row += 1;
            self.buf.put_i16(field_count);
            for column in &self.columns {
                column.put(row, &mut self.buf);
            }
            if self.buf.len() >= CHUNK_BYTES {
                return Some(self.buf.split().freeze());
            }
        }
        self.buf.put_i16(TRAILER);
        self.done = true;
        Some(self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, TimestampMillisecondArray};
    use quantdal_core::Catalog;

    use super::*;

    const YAML: &str = r#"
version: 1
classes:
  - name: fills
    category: transaction
    store: postgres
    table: fills
    time: { column: ts, precision: ms }
    tags: [account]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: account, type: VARCHAR(8), nullable: false }
      - { name: qty, type: INT, nullable: true }
      - { name: price, type: "DECIMAL(10,2)", nullable: true }
      - { name: meta, type: JSON, nullable: true }
      - { name: ok, type: BOOL, nullable: true }
      - { name: day, type: DATE, nullable: true }
"#;

    #[test]
    fn rows_are_laid_out_as_postgres_reads_them() {
        let catalog = Catalog::from_yaml(YAML, "test").unwrap();
        let spec = catalog.get("fills").unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![946_684_800_001]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec!["A1"])),
            Arc::new(Int32Array::from(vec![None])),
            Arc::new(
                Decimal128Array::from(vec![Some(-150)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![Some("{}")])),
            Arc::new(BooleanArray::from(vec![Some(true)])),
            Arc::new(Date32Array::from(vec![Some(10_958)])),
        ];
        let batch = RecordBatch::try_new(spec.arrow_schema(), columns).unwrap();
        let mut out = Vec::new();
        let mut encoder = Encoder::new(spec, &batch).unwrap();
        while let Some(chunk) = encoder.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        let mut expected = HEADER.to_vec();
        expected.extend_from_slice(&7i16.to_be_bytes());
        // 2000-01-01 00:00:00.001 UTC is 1000 µs after PostgreSQL's epoch.
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&1000i64.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"A1");
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        // -1.50: digits [1, 5000] (weight 0), negative, dscale 2.
        expected.extend_from_slice(&12i32.to_be_bytes());
        expected.extend_from_slice(&[0, 2, 0, 0, 0x40, 0, 0, 2, 0, 1, 0x13, 0x88]);
        expected.extend_from_slice(&3i32.to_be_bytes());
        expected.extend_from_slice(&[1, b'{', b'}']);
        expected.extend_from_slice(&1i32.to_be_bytes());
        expected.push(1);
        expected.extend_from_slice(&4i32.to_be_bytes());
        expected.extend_from_slice(&1i32.to_be_bytes());
        expected.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(out, expected);
    }
}
