//! Column values as text, and rows read back into Arrow. The text forms name series in keys and stream ids,
//! and are how the layout before rows were packed ([`crate::rowpack`]) wrote one hash field per column, which
//! [`RowDecoder::push`] still reads:
//!
//! | type | text |
//! |---|---|
//! | TIMESTAMP | integer ticks of the class precision since the epoch (UTC) |
//! | DATE | `YYYY-MM-DD` |
//! | BOOL | `true` / `false` |
//! | INT / BIGINT | decimal integer |
//! | FLOAT / DOUBLE | shortest text that reads back as the same value (`NaN`, `inf`, `-inf`) |
//! | DECIMAL(p,s) | decimal with exactly `s` fractional digits |
//! | VARCHAR / TEXT / JSON | the UTF-8 text itself |
//!
//! A null is an absent hash field. [`RowDecoder::push_packed`] reads packed rows.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Decimal128Array,
    Decimal128Builder, Float32Array, Float32Builder, Float64Array, Float64Builder, Int32Array,
    Int32Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, TimestampMillisecondArray,
    TimestampMillisecondBuilder, TimestampNanosecondArray, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use quantdal_core::load::Scalar;
use quantdal_core::{Error, Result, TableSpec};

use crate::rowpack::{Packed, Reader};

const EPOCH_DAYS_CE: i32 = 719_163;

/// Reads one column of a batch as text.
pub enum ColumnText<'a> {
    Bool(&'a BooleanArray),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    Decimal(&'a Decimal128Array, i8),
    Utf8(&'a StringArray),
    Date(&'a Date32Array),
    TsMs(&'a TimestampMillisecondArray),
    TsUs(&'a TimestampMicrosecondArray),
    TsNs(&'a TimestampNanosecondArray),
}

fn downcast<T: 'static>(array: &ArrayRef) -> Result<&T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::store(format!("unexpected array type {}", array.data_type())))
}

impl<'a> ColumnText<'a> {
    pub fn new(array: &'a ArrayRef) -> Result<ColumnText<'a>> {
        Ok(match array.data_type() {
            DataType::Boolean => ColumnText::Bool(downcast(array)?),
            DataType::Int32 => ColumnText::Int32(downcast(array)?),
            DataType::Int64 => ColumnText::Int64(downcast(array)?),
            DataType::Float32 => ColumnText::Float32(downcast(array)?),
            DataType::Float64 => ColumnText::Float64(downcast(array)?),
            DataType::Decimal128(_, s) => ColumnText::Decimal(downcast(array)?, *s),
            DataType::Utf8 => ColumnText::Utf8(downcast(array)?),
            DataType::Date32 => ColumnText::Date(downcast(array)?),
            DataType::Timestamp(TimeUnit::Millisecond, _) => ColumnText::TsMs(downcast(array)?),
            DataType::Timestamp(TimeUnit::Microsecond, _) => ColumnText::TsUs(downcast(array)?),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => ColumnText::TsNs(downcast(array)?),
            other => return Err(Error::store(format!("Redis cannot hold {other} columns"))),
        })
    }

    /// Appends row `row`'s text to `out`; `false` (and nothing appended) for a null.
    pub fn write(&self, row: usize, out: &mut String) -> bool {
        macro_rules! num {
            ($a:expr) => {{
                if $a.is_null(row) {
                    return false;
                }
                let _ = write!(out, "{}", $a.value(row));
            }};
        }
        match self {
            ColumnText::Bool(a) => {
                if a.is_null(row) {
                    return false;
                }
                out.push_str(if a.value(row) { "true" } else { "false" });
            }
            ColumnText::Int32(a) => num!(a),
            ColumnText::Int64(a) => num!(a),
            ColumnText::Float32(a) => num!(a),
            ColumnText::Float64(a) => num!(a),
            ColumnText::Decimal(a, scale) => {
                if a.is_null(row) {
                    return false;
                }
                write_decimal(a.value(row), *scale, out);
            }
            ColumnText::Utf8(a) => {
                if a.is_null(row) {
                    return false;
                }
                out.push_str(a.value(row));
            }
            ColumnText::Date(a) => {
                if a.is_null(row) {
                    return false;
                }
                write_date(a.value(row), out);
            }
            ColumnText::TsMs(a) => num!(a),
            ColumnText::TsUs(a) => num!(a),
            ColumnText::TsNs(a) => num!(a),
        }
        true
    }

    /// Row `row` as an owned string (`None` for null).
    pub fn text(&self, row: usize) -> Option<String> {
        let mut s = String::new();
        self.write(row, &mut s).then_some(s)
    }

    /// The integer value of a timestamp column (what the time check and stream ids use).
    pub fn ticks(&self, row: usize) -> Option<i64> {
        match self {
            ColumnText::TsMs(a) if a.is_valid(row) => Some(a.value(row)),
            ColumnText::TsUs(a) if a.is_valid(row) => Some(a.value(row)),
            ColumnText::TsNs(a) if a.is_valid(row) => Some(a.value(row)),
            ColumnText::Date(a) if a.is_valid(row) => Some(i64::from(a.value(row))),
            _ => None,
        }
    }
}

fn write_decimal(unscaled: i128, scale: i8, out: &mut String) {
    if scale <= 0 {
        let _ = write!(out, "{unscaled}");
        for _ in 0..(-scale) {
            out.push('0');
        }
        return;
    }
    let scale = scale as usize;
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        out.push('-');
    }
    if digits.len() <= scale {
        out.push_str("0.");
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

fn write_date(days: i32, out: &mut String) {
    match chrono::NaiveDate::from_num_days_from_ce_opt(days.saturating_add(EPOCH_DAYS_CE)) {
        Some(d) => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
        None => {
            let _ = write!(out, "{days}");
        }
    }
}

/// The text form of a query value, as [`ColumnText::write`] would write it (tag lookups use it).
pub fn scalar_text(value: &Scalar) -> String {
    let mut out = String::new();
    match value {
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Int32(i) => out = i.to_string(),
        Scalar::Int64(i) => out = i.to_string(),
        Scalar::Float32(f) => out = f.to_string(),
        Scalar::Float64(f) => out = f.to_string(),
        Scalar::Decimal(d, _, s) => write_decimal(*d, *s, &mut out),
        Scalar::Utf8(s) => out.push_str(s),
        Scalar::Timestamp(t) => out = t.to_string(),
        Scalar::Date(d) => write_date(*d, &mut out),
    }
    out
}

/// Builds class-schema batches from rows of (field, value) pairs read back from Redis.
pub struct RowDecoder<'s> {
    spec: &'s TableSpec,
    schema: SchemaRef,
    positions: HashMap<Vec<u8>, usize>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Utf8(StringBuilder),
    Date(Date32Builder),
    TsMs(TimestampMillisecondBuilder),
    TsUs(TimestampMicrosecondBuilder),
    TsNs(TimestampNanosecondBuilder),
}

impl ColumnBuilder {
    fn new(ty: &DataType) -> Result<ColumnBuilder> {
        Ok(match ty {
            DataType::Boolean => ColumnBuilder::Bool(BooleanBuilder::new()),
            DataType::Int32 => ColumnBuilder::Int32(Int32Builder::new()),
            DataType::Int64 => ColumnBuilder::Int64(Int64Builder::new()),
            DataType::Float32 => ColumnBuilder::Float32(Float32Builder::new()),
            DataType::Float64 => ColumnBuilder::Float64(Float64Builder::new()),
            DataType::Decimal128(p, s) => ColumnBuilder::Decimal(Decimal128Builder::new(), *p, *s),
            DataType::Utf8 => ColumnBuilder::Utf8(StringBuilder::new()),
            DataType::Date32 => ColumnBuilder::Date(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                ColumnBuilder::TsMs(TimestampMillisecondBuilder::new())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                ColumnBuilder::TsUs(TimestampMicrosecondBuilder::new())
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                ColumnBuilder::TsNs(TimestampNanosecondBuilder::new())
            }
            other => return Err(Error::store(format!("Redis cannot hold {other} columns"))),
        })
    }

    fn push(&mut self, text: Option<&str>) -> std::result::Result<(), String> {
        macro_rules! parse {
            ($b:expr, $t:ty) => {
                match text {
                    None => $b.append_null(),
                    Some(s) => $b.append_value(
                        s.parse::<$t>()
                            .map_err(|_| format!("`{s}` is not a {}", stringify!($t)))?,
                    ),
                }
            };
        }
        match self {
            ColumnBuilder::Bool(b) => match text {
                None => b.append_null(),
                Some("true") => b.append_value(true),
                Some("false") => b.append_value(false),
                Some(s) => return Err(format!("`{s}` is not true or false")),
            },
            ColumnBuilder::Int32(b) => parse!(b, i32),
            ColumnBuilder::Int64(b) => parse!(b, i64),
            ColumnBuilder::Float32(b) => parse!(b, f32),
            ColumnBuilder::Float64(b) => parse!(b, f64),
            ColumnBuilder::Decimal(b, p, s) => match text {
                None => b.append_null(),
                Some(t) => b.append_value(quantdal_core::load::decimal_from_text(t, *p, *s)?),
            },
            ColumnBuilder::Utf8(b) => match text {
                None => b.append_null(),
                Some(s) => b.append_value(s),
            },
            ColumnBuilder::Date(b) => match text {
                None => b.append_null(),
                Some(s) => {
                    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map_err(|_| format!("`{s}` is not a date"))?;
                    b.append_value(chrono::Datelike::num_days_from_ce(&d) - EPOCH_DAYS_CE);
                }
            },
            ColumnBuilder::TsMs(b) => parse!(b, i64),
            ColumnBuilder::TsUs(b) => parse!(b, i64),
            ColumnBuilder::TsNs(b) => parse!(b, i64),
        }
        Ok(())
    }

    /// Appends a value read from a packed row (crate::rowpack); a value of another kind, or one the column
    /// cannot hold exactly, is an error.
    fn push_packed(&mut self, value: Packed<'_>) -> std::result::Result<(), String> {
        let wrong = |want: &str| format!("{value:?} is not {want}");
        match (self, value) {
            (ColumnBuilder::Bool(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Int32(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Int64(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Float32(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Float64(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Decimal(b, ..), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Utf8(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Date(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::TsMs(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::TsUs(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::TsNs(b), Packed::Nil) => b.append_null(),
            (ColumnBuilder::Bool(b), Packed::Bool(v)) => b.append_value(v),
            (ColumnBuilder::Int32(b), Packed::Int(v)) => {
                b.append_value(i32::try_from(v).map_err(|_| wrong("a 32-bit integer"))?)
            }
            (ColumnBuilder::Int64(b), Packed::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float32(b), Packed::F32(v)) => b.append_value(v),
            (ColumnBuilder::Float64(b), Packed::F64(v)) => b.append_value(v),
            (ColumnBuilder::Float64(b), Packed::F32(v)) => b.append_value(f64::from(v)),
            (ColumnBuilder::Decimal(b, p, s), Packed::Str(t)) => {
                b.append_value(quantdal_core::load::decimal_from_text(t, *p, *s)?)
            }
            (ColumnBuilder::Utf8(b), Packed::Str(t)) => b.append_value(t),
            (ColumnBuilder::Date(b), Packed::Int(v)) => {
                b.append_value(i32::try_from(v).map_err(|_| wrong("a day number"))?)
            }
            (ColumnBuilder::TsMs(b), Packed::Int(v)) => b.append_value(v),
            (ColumnBuilder::TsUs(b), Packed::Int(v)) => b.append_value(v),
            (ColumnBuilder::TsNs(b), Packed::Int(v)) => b.append_value(v),
            (builder, _) => return Err(wrong(builder.kind())),
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self {
            ColumnBuilder::Bool(_) => "a bool",
            ColumnBuilder::Int32(_) | ColumnBuilder::Int64(_) => "an integer",
            ColumnBuilder::Float32(_) => "a float 32",
            ColumnBuilder::Float64(_) => "a float",
            ColumnBuilder::Decimal(..) => "a decimal string",
            ColumnBuilder::Utf8(_) => "a string",
            ColumnBuilder::Date(_) => "a day number",
            ColumnBuilder::TsMs(_) | ColumnBuilder::TsUs(_) | ColumnBuilder::TsNs(_) => {
                "integer ticks"
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, p, s) => {
                Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
            }
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::TsMs(b) => Arc::new(b.finish().with_timezone("UTC")),
            ColumnBuilder::TsUs(b) => Arc::new(b.finish().with_timezone("UTC")),
            ColumnBuilder::TsNs(b) => Arc::new(b.finish().with_timezone("UTC")),
        })
    }
}

impl<'s> RowDecoder<'s> {
    pub fn new(spec: &'s TableSpec) -> Result<RowDecoder<'s>> {
        let schema = spec.arrow_schema();
        let builders = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        let positions = spec
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes().to_vec(), i))
            .collect();
        Ok(RowDecoder {
            spec,
            schema,
            positions,
            builders,
            rows: 0,
        })
    }

    /// Adds one row from alternating field / value strings (`HGETALL`, a stream entry). Fields the class
    /// does not declare are ignored (a column dropped from the spec); a declared NOT NULL column that is
    /// absent, or a value that does not parse, is a `Store` error naming the key and column.
    pub fn push(&mut self, key: &str, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut values: Vec<Option<&str>> = vec![None; self.builders.len()];
        for (field, value) in pairs {
            if let Some(&i) = self.positions.get(field.as_slice()) {
                let text = std::str::from_utf8(value)
                    .map_err(|_| self.corrupt(&key, i, "the value is not UTF-8".to_string()))?;
                values[i] = Some(text);
            }
        }
        self.require_not_null(&key, |i| values[i].is_some())?;
        for (i, v) in values.into_iter().enumerate() {
            self.builders[i]
                .push(v)
                .map_err(|m| self.corrupt(&key, i, m))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds one row from a packed value (crate::rowpack): a MessagePack map of column name → value.
    /// Entries the class does not declare are ignored (a column dropped from the spec); an absent NOT NULL
    /// column, or a value of the wrong kind, is a `Store` error naming the key and column.
    pub fn push_packed(&mut self, key: &dyn std::fmt::Display, bytes: &[u8]) -> Result<()> {
        let damaged = |why: String| {
            Error::store(format!("key `{key}`: {why}")).with_class(self.spec.name.clone())
        };
        let mut reader = Reader::new(bytes);
        let entries = reader.map_len().map_err(damaged)?;
        let mut values: Vec<Packed<'_>> = vec![Packed::Nil; self.builders.len()];
        let mut next = 0;
        for _ in 0..entries {
            let name = reader.key().map_err(damaged)?;
            let value = reader.value().map_err(damaged)?;
            // Rows are written in a fixed column order: try the next declared column before the map.
            let position = match self.spec.columns.get(next) {
                Some(c) if c.name == name => Some(next),
                _ => self.positions.get(name.as_bytes()).copied(),
            };
            if let Some(i) = position {
                values[i] = value;
                next = i + 1;
            }
        }
        if !reader.is_done() {
            return Err(damaged("bytes follow the row".into()));
        }
        self.push_values(key, values)
    }

    fn push_values(&mut self, key: &dyn std::fmt::Display, values: Vec<Packed<'_>>) -> Result<()> {
        self.require_not_null(key, |i| values[i] != Packed::Nil)?;
        for (i, v) in values.into_iter().enumerate() {
            // An error ends the whole read, so builders left uneven are never finished.
            self.builders[i]
                .push_packed(v)
                .map_err(|m| self.corrupt(key, i, m))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Refuses a row missing a NOT NULL column: it was written under another schema.
    fn require_not_null(
        &self,
        key: &dyn std::fmt::Display,
        present: impl Fn(usize) -> bool,
    ) -> Result<()> {
        match (0..self.builders.len()).find(|&i| !present(i) && !self.spec.columns[i].nullable) {
            Some(i) => Err(self.corrupt(
                key,
                i,
                "a NOT NULL column is missing; the key was written under another schema \
                 (run `quantdal provision --check`)"
                    .into(),
            )),
            None => Ok(()),
        }
    }

    fn corrupt(&self, key: &dyn std::fmt::Display, column: usize, why: String) -> Error {
        Error::store(format!("key `{key}`: {why}"))
            .with_class(self.spec.name.clone())
            .with_column(self.spec.columns[column].name.clone())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The rows pushed so far, as one batch in the class schema; the decoder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>>>()?;
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_scale() {
        let mut s = String::new();
        write_decimal(123_450, 4, &mut s);
        assert_eq!(s, "12.3450");
        s.clear();
        write_decimal(-5, 3, &mut s);
        assert_eq!(s, "-0.005");
        s.clear();
        write_decimal(7, 0, &mut s);
        assert_eq!(s, "7");
    }

    #[test]
    fn dates_are_iso() {
        let mut s = String::new();
        write_date(19_724, &mut s);
        assert_eq!(s, "2024-01-02");
        s.clear();
        write_date(-1, &mut s);
        assert_eq!(s, "1969-12-31");
    }

    #[test]
    fn floats_round_trip_through_text() {
        for v in [0.1f64, 1e300, -2.5e-310, f64::MAX, 10.07] {
            assert_eq!(v.to_string().parse::<f64>().unwrap(), v);
        }
        assert!("NaN".parse::<f64>().unwrap().is_nan());
        assert_eq!(f64::INFINITY.to_string(), "inf");
    }
}
