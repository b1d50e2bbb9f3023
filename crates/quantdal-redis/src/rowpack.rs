//! One row as one Redis value: a MessagePack map of column name → value holding the row's non-null columns,
//! the time column first. Any MessagePack library reads it; quantdal writes one hash field (and one stream
//! entry) per series instead of a hash field per column, which is what makes a save of thousands of series
//! cheap on the server.
//!
//! | type | MessagePack value |
//! |---|---|
//! | the class's time column | int 64 (`0xd3`, 8 bytes big-endian): ticks of the class precision (days for DATE) |
//! | TIMESTAMP | int: ticks of the class precision since the epoch (UTC) |
//! | DATE | int: days since 1970-01-01 |
//! | BOOL | bool |
//! | INT / BIGINT | int (smallest form) |
//! | FLOAT / DOUBLE | float 32 / float 64 |
//! | DECIMAL(p,s) | str: decimal with exactly `s` fractional digits |
//! | VARCHAR / TEXT / JSON | str |
//!
//! The map header is always `map 16` (`0xde`), so the time value sits at a fixed offset per class: the save
//! script compares a held row's time with a new one's by reading those 8 bytes, without decoding the row.

use arrow::array::{Array, RecordBatch};
use quantdal_core::{Error, Result};

use crate::codec::ColumnText;

const MAP16: u8 = 0xde;
const INT64: u8 = 0xd3;

/// Writes the rows of one batch.
pub struct RowPacker<'a> {
    /// Per column (time first): its key bytes (MessagePack str header + name), and its values.
    columns: Vec<(Vec<u8>, ColumnText<'a>)>,
}

fn str_header(len: usize, out: &mut Vec<u8>) {
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= u8::MAX as usize {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= u16::MAX as usize {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_str(s: &str, out: &mut Vec<u8>) {
    str_header(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn pack_int(v: i64, out: &mut Vec<u8>) {
    if (0..=0x7f).contains(&v) {
        out.push(v as u8);
    } else if (-32..0).contains(&v) {
        out.push(v as i8 as u8);
    } else if let Ok(v) = i8::try_from(v) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if let Ok(v) = i16::try_from(v) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(v) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(INT64);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

impl<'a> RowPacker<'a> {
    /// A packer over `batch` (class schema), whose time column is `time`.
    pub fn new(names: &[&str], batch: &'a RecordBatch, time: usize) -> Result<RowPacker<'a>> {
        let mut order: Vec<usize> = vec![time];
        order.extend((0..names.len()).filter(|&c| c != time));
        let columns = order
            .into_iter()
            .map(|c| {
                let mut key = Vec::with_capacity(names[c].len() + 2);
                pack_str(names[c], &mut key);
                Ok((key, ColumnText::new(batch.column(c))?))
            })
            .collect::<Result<Vec<_>>>()?;
        if u16::try_from(columns.len()).is_err() {
            return Err(Error::store("Redis rows hold at most 65,535 columns"));
        }
        Ok(RowPacker { columns })
    }

    /// The 1-based position (Lua's) of the time value's first byte in every row this packer writes.
    pub fn time_position(&self) -> usize {
        3 + self.columns[0].0.len() + 1 + 1
    }

    /// The bytes between the map header and the time value (the time column's key and `0xd3`): what a row
    /// written by quantdal under this schema holds there.
    pub fn time_head(&self) -> Vec<u8> {
        let mut head = self.columns[0].0.clone();
        head.push(INT64);
        head
    }

    /// Appends row `row`'s value to `out`. The time column must be non-null (validation guarantees it).
    pub fn pack(&self, row: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[MAP16, 0, 0]);
        let mut entries: u16 = 0;
        for (i, (key, values)) in self.columns.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(key);
                out.push(INT64);
                out.extend_from_slice(&values.ticks(row).unwrap_or(i64::MIN).to_be_bytes());
                entries += 1;
                continue;
            }
            let at = out.len();
            out.extend_from_slice(key);
            if pack_value(values, row, out) {
                entries += 1;
            } else {
                out.truncate(at);
            }
        }
        out[start + 1..start + 3].copy_from_slice(&entries.to_be_bytes());
    }
}

/// Appends the value of `row`; `false` (and nothing appended) for a null.
fn pack_value(values: &ColumnText<'_>, row: usize, out: &mut Vec<u8>) -> bool {
    match values {
        ColumnText::Bool(a) => {
            if a.is_null(row) {
                return false;
            }
            out.push(if a.value(row) { 0xc3 } else { 0xc2 });
        }
        ColumnText::Int32(a) => {
            if a.is_null(row) {
                return false;
            }
            pack_int(i64::from(a.value(row)), out);
        }
        ColumnText::Int64(a) => {
            if a.is_null(row) {
                return false;
            }
            pack_int(a.value(row), out);
        }
        ColumnText::Float32(a) => {
            if a.is_null(row) {
                return false;
            }
            out.push(0xca);
            out.extend_from_slice(&a.value(row).to_be_bytes());
        }
        ColumnText::Float64(a) => {
            if a.is_null(row) {
                return false;
            }
            out.push(0xcb);
            out.extend_from_slice(&a.value(row).to_be_bytes());
        }
        ColumnText::Utf8(a) => {
            if a.is_null(row) {
                return false;
            }
            pack_str(a.value(row), out);
        }
        ColumnText::Decimal(..) => {
            let mut text = String::new();
            if !values.write(row, &mut text) {
                return false;
            }
            pack_str(&text, out);
        }
        ColumnText::Date(_) | ColumnText::TsMs(_) | ColumnText::TsUs(_) | ColumnText::TsNs(_) => {
            match values.ticks(row) {
                Some(v) => pack_int(v, out),
                None => return false,
            }
        }
    }
    true
}

/// One decoded MessagePack value (the kinds a row holds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Packed<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    /// An unsigned value above `i64::MAX`.
    BigUInt(u64),
    F32(f32),
    F64(f64),
    Str(&'a str),
}

/// Reads MessagePack values from a byte slice; every read is bounds-checked.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn malformed(what: &str) -> String {
    format!("the value is not a row quantdal can read ({what})")
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| malformed("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The entry count of a map header.
    pub fn map_len(&mut self) -> std::result::Result<usize, String> {
        match self.byte()? {
            b @ 0x80..=0x8f => Ok(usize::from(b & 0x0f)),
            0xde => Ok(usize::from(u16::from_be_bytes(self.array()?))),
            0xdf => Ok(u32::from_be_bytes(self.array()?) as usize),
            _ => Err(malformed("not a map")),
        }
    }

    fn str_of(&mut self, len: usize) -> std::result::Result<&'a str, String> {
        std::str::from_utf8(self.take(len)?).map_err(|_| malformed("a string is not UTF-8"))
    }

    /// The next value (a nested array, map, binary or extension value is an error: rows hold none).
    pub fn value(&mut self) -> std::result::Result<Packed<'a>, String> {
        let b = self.byte()?;
        Ok(match b {
            0x00..=0x7f => Packed::Int(i64::from(b)),
            0xe0..=0xff => Packed::Int(i64::from(b as i8)),
            0xa0..=0xbf => Packed::Str(self.str_of(usize::from(b & 0x1f))?),
            0xc0 => Packed::Nil,
            0xc2 => Packed::Bool(false),
            0xc3 => Packed::Bool(true),
            0xca => Packed::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Packed::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Packed::Int(i64::from(self.byte()?)),
            0xcd => Packed::Int(i64::from(u16::from_be_bytes(self.array()?))),
            0xce => Packed::Int(i64::from(u32::from_be_bytes(self.array()?))),
            0xcf => {
                let v = u64::from_be_bytes(self.array()?);
                i64::try_from(v).map_or(Packed::BigUInt(v), Packed::Int)
            }
            0xd0 => Packed::Int(i64::from(self.byte()? as i8)),
            0xd1 => Packed::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Packed::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Packed::Int(i64::from_be_bytes(self.array()?)),
            0xd9 => {
                let len = usize::from(self.byte()?);
                Packed::Str(self.str_of(len)?)
            }
            0xda => {
                let len = usize::from(u16::from_be_bytes(self.array()?));
                Packed::Str(self.str_of(len)?)
            }
            0xdb => {
                let len = u32::from_be_bytes(self.array()?) as usize;
                Packed::Str(self.str_of(len)?)
            }
            _ => return Err(malformed(&format!("unexpected type byte 0x{b:02x}"))),
        })
    }

    /// The next map key, which must be a string.
    pub fn key(&mut self) -> std::result::Result<&'a str, String> {
        match self.value()? {
            Packed::Str(s) => Ok(s),
            _ => Err(malformed("a map key is not a string")),
        }
    }

    pub fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
    };

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "symbol",
                Arc::new(StringArray::from(vec![Some("600000.SH"), Some("a")])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(
                    TimestampMillisecondArray::from(vec![1_704_159_000_123, -5])
                        .with_timezone("UTC"),
                ) as _,
            ),
            (
                "price",
                Arc::new(Float64Array::from(vec![Some(10.5), None])) as _,
            ),
            ("volume", Arc::new(Int64Array::from(vec![-100_000, 7])) as _),
            (
                "fee",
                Arc::new(
                    Decimal128Array::from(vec![12_345, -5])
                        .with_precision_and_scale(10, 3)
                        .unwrap(),
                ) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn rows_are_messagepack_maps_with_the_time_first() {
        let b = batch();
        let names = ["symbol", "ts", "price", "volume", "fee"];
        let packer = RowPacker::new(&names, &b, 1).unwrap();
        let mut out = Vec::new();
        packer.pack(0, &mut out);
        let mut expected = vec![0xde, 0, 5, 0xa2, b't', b's', 0xd3];
        expected.extend_from_slice(&1_704_159_000_123i64.to_be_bytes());
        expected.extend_from_slice(&[0xa6, b's', b'y', b'm', b'b', b'o', b'l', 0xa9]);
        expected.extend_from_slice(b"600000.SH");
        expected.extend_from_slice(&[0xa5, b'p', b'r', b'i', b'c', b'e', 0xcb]);
        expected.extend_from_slice(&10.5f64.to_be_bytes());
        expected.extend_from_slice(&[0xa6, b'v', b'o', b'l', b'u', b'm', b'e', 0xd2]);
        expected.extend_from_slice(&(-100_000i32).to_be_bytes());
        expected.extend_from_slice(&[0xa3, b'f', b'e', b'e', 0xa6]);
        expected.extend_from_slice(b"12.345");
        assert_eq!(out, expected);
        assert_eq!(packer.time_position(), 8);
        assert_eq!(&out[3..packer.time_position() - 1], packer.time_head());

        // A null is an absent entry; the count says so.
        out.clear();
        packer.pack(1, &mut out);
        let mut r = Reader::new(&out);
        assert_eq!(r.map_len().unwrap(), 4);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push((r.key().unwrap().to_string(), r.value().unwrap()));
        }
        assert!(r.is_done());
        assert_eq!(seen[0], ("ts".into(), Packed::Int(-5)));
        assert_eq!(seen[2], ("volume".into(), Packed::Int(7)));
        assert_eq!(seen[3], ("fee".into(), Packed::Str("-0.005")));
    }

    #[test]
    fn every_int_form_round_trips() {
        for v in [
            0,
            127,
            128,
            -1,
            -32,
            -33,
            -128,
            -129,
            255,
            256,
            65_535,
            65_536,
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            pack_int(v, &mut out);
            let mut r = Reader::new(&out);
            assert_eq!(r.value().unwrap(), Packed::Int(v), "{v}");
            assert!(r.is_done());
        }
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let b = batch();
        let packer = RowPacker::new(&["symbol", "ts", "price", "volume", "fee"], &b, 1).unwrap();
        let mut out = Vec::new();
        packer.pack(0, &mut out);
        let read_all = |bytes: &[u8]| -> std::result::Result<(), String> {
            let mut r = Reader::new(bytes);
            for _ in 0..r.map_len()? {
                r.key()?;
                r.value()?;
            }
            Ok(())
        };
        assert!(read_all(&out).is_ok());
        for cut in 0..out.len() {
            assert!(read_all(&out[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Reader::new(b"x").map_len().is_err());
        assert!(Reader::new(&[0xc1]).value().is_err());
    }
}
