//! Result rows (binary format) → Arrow arrays, decoded straight from each cell's bytes into builders.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use quantdal_core::output::conform_batch;
use quantdal_core::{Error, Result};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Row;

use crate::binary::{
    get_f32, get_f64, get_i16, get_i32, get_i64, get_numeric, PG_EPOCH_DAYS, PG_EPOCH_MICROS,
};

/// Any cell as its raw bytes: the decoder below knows the type from the target schema.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

enum Builder {
    Bool(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Decimal(Decimal128Builder, u16),
    Text(StringBuilder, bool),
}

/// Accumulates rows into one batch of `target`'s schema.
pub struct BatchDecoder {
    target: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
}

impl BatchDecoder {
    pub fn new(target: SchemaRef, capacity: usize) -> Result<BatchDecoder> {
        let builders = target
            .fields()
            .iter()
            .map(|f| {
                Ok(match f.data_type() {
                    DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
                    DataType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
                    DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
                    DataType::Float32 => Builder::Float32(Float32Builder::with_capacity(capacity)),
                    DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
                    DataType::Timestamp(..) => {
                        Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
                    }
                    DataType::Date32 => Builder::Date(Date32Builder::with_capacity(capacity)),
                    DataType::Decimal128(p, s) => Builder::Decimal(
                        Decimal128Builder::with_capacity(capacity)
                            .with_precision_and_scale(*p, *s)?,
                        (*s).max(0) as u16,
                    ),
                    DataType::Utf8 => {
                        Builder::Text(StringBuilder::with_capacity(capacity, capacity * 8), false)
                    }
                    other => {
                        return Err(Error::store(format!(
                            "no PostgreSQL decoding for Arrow type {other}"
                        )))
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BatchDecoder {
            target,
            builders,
            rows: 0,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row; its columns are in target order.
    pub fn push(&mut self, row: &Row) -> Result<()> {
        for (i, builder) in self.builders.iter_mut().enumerate() {
            let cell: Option<Raw<'_>> = row
                .try_get(i)
                .map_err(|e| Error::store(format!("reading result column {i}: {e}")))?;
            let ty = row.columns()[i].type_();
            if let Builder::Text(_, jsonb) = builder {
                *jsonb = *ty == Type::JSONB;
            }
            decode_cell(builder, ty, cell.map(|r| r.0)).map_err(|why| {
                Error::store(format!("column {}: {why}", self.target.field(i).name()))
            })?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a batch of the target schema; the decoder starts over empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Int32(b) => Arc::new(b.finish()),
                    Builder::Int64(b) => Arc::new(b.finish()),
                    Builder::Float32(b) => Arc::new(b.finish()),
                    Builder::Float64(b) => Arc::new(b.finish()),
                    Builder::Timestamp(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Decimal(b, _) => Arc::new(b.finish()),
                    Builder::Text(b, _) => Arc::new(b.finish()),
                }
            })
            .collect();
        let rows = self.rows;
        self.rows = 0;
        let fields: Vec<_> = columns
            .iter()
            .zip(self.target.fields())
            .map(|(a, f)| f.as_ref().clone().with_data_type(a.data_type().clone()))
            .collect();
        let raw = RecordBatch::try_new_with_options(
            Arc::new(arrow::datatypes::Schema::new(fields)),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        // Timestamps were built as µs: relabel / rescale to the class precision.
        conform_batch(&raw, &self.target)
    }
}

fn decode_cell(
    builder: &mut Builder,
    ty: &Type,
    raw: Option<&[u8]>,
) -> std::result::Result<(), String> {
    let bad = || format!("cannot read PostgreSQL {ty} here");
    match builder {
        Builder::Bool(b) => match raw {
            None => b.append_null(),
            Some(r) => b.append_value(*r.first().ok_or_else(bad)? != 0),
        },
        Builder::Int32(b) => match raw {
            None => b.append_null(),
            Some(r) if *ty == Type::INT2 => b.append_value(i32::from(get_i16(r).ok_or_else(bad)?)),
            Some(r) => b.append_value(get_i32(r).ok_or_else(bad)?),
        },
        Builder::Int64(b) => match raw {
            None => b.append_null(),
            Some(r) if *ty == Type::INT4 => b.append_value(i64::from(get_i32(r).ok_or_else(bad)?)),
            Some(r) => b.append_value(get_i64(r).ok_or_else(bad)?),
        },
        Builder::Float32(b) => match raw {
            None => b.append_null(),
            Some(r) => b.append_value(get_f32(r).ok_or_else(bad)?),
        },
        Builder::Float64(b) => match raw {
            None => b.append_null(),
            Some(r) if *ty == Type::FLOAT4 => {
                b.append_value(f64::from(get_f32(r).ok_or_else(bad)?))
            }
            Some(r) => b.append_value(get_f64(r).ok_or_else(bad)?),
        },
        Builder::Timestamp(b) => match raw {
            None => b.append_null(),
            Some(r) if *ty == Type::DATE => {
                let days = i64::from(get_i32(r).ok_or_else(bad)?) + i64::from(PG_EPOCH_DAYS);
                b.append_value(days * 86_400_000_000)
            }
            Some(r) => b.append_value(
                get_i64(r)
                    .ok_or_else(bad)?
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or("timestamp out of range (infinity?)")?,
            ),
        },
        Builder::Date(b) => match raw {
            None => b.append_null(),
            Some(r) if *ty == Type::DATE => b.append_value(
                get_i32(r)
                    .ok_or_else(bad)?
                    .checked_add(PG_EPOCH_DAYS)
                    .ok_or("date out of range (infinity?)")?,
            ),
            Some(r) => {
                // A bucketed DATE comes back as a timestamp at midnight.
                let micros = get_i64(r).ok_or_else(bad)? + PG_EPOCH_MICROS;
                b.append_value(micros.div_euclid(86_400_000_000) as i32)
            }
        },
        Builder::Decimal(b, scale) => match raw {
            None => b.append_null(),
            Some(r) => b.append_value(
                get_numeric(r, *scale).ok_or("NUMERIC value does not fit the column's scale")?,
            ),
        },
        Builder::Text(b, jsonb) => match raw {
            None => b.append_null(),
            Some(r) => {
                let body = if *jsonb {
                    r.get(1..).ok_or_else(bad)?
                } else {
                    r
                };
                b.append_value(std::str::from_utf8(body).map_err(|_| "invalid UTF-8")?)
            }
        },
    }
    Ok(())
}
