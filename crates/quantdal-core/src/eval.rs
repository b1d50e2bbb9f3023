//! A resolved [`Query`] applied to Arrow batches in memory, with SQL's semantics: a comparison with a null
//! is not true, `IN` is a disjunction of equalities, `BETWEEN` is inclusive, the default order is series
//! then time (all keys in one direction). Stores that cannot push a query into a server (Redis) use it, so
//! their rows match what the SQL stores return for the same `Load`.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::compute::kernels::boolean::{and_kleene, is_not_null, is_null, or_kleene};
use arrow::compute::kernels::cmp;
use arrow::compute::{
    filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, TimeUnit};

use crate::error::{Error, Result};
use crate::load::{Condition, Op, Order, Query, Scalar};
use crate::spec::TableSpec;

/// Rows of `batch` (in the class's full schema) that satisfy the query's time range and conditions.
pub fn filter(spec: &TableSpec, query: &Query, batch: &RecordBatch) -> Result<RecordBatch> {
    match mask(spec, query, batch)? {
        Some(mask) => Ok(filter_record_batch(batch, &mask)?),
        None => Ok(batch.clone()),
    }
}

/// The selection mask of [`filter`], or `None` when the query selects every row.
pub fn mask(spec: &TableSpec, query: &Query, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
    let mut acc: Option<BooleanArray> = None;
    let mut and = |m: BooleanArray| -> Result<()> {
        acc = Some(match acc.take() {
            Some(a) => and_kleene(&a, &m)?,
            None => m,
        });
        Ok(())
    };
    if let Some(t) = &query.time {
        let column = batch.column(t.column);
        if let Some(start) = t.start {
            and(cmp::gt_eq(
                column,
                &scalar_datum(column.data_type(), &time_scalar(spec, t.column, start))?,
            )?)?;
        }
        if let Some(end) = t.end {
            and(cmp::lt(
                column,
                &scalar_datum(column.data_type(), &time_scalar(spec, t.column, end))?,
            )?)?;
        }
    }
    for c in &query.conditions {
        and(condition_mask(batch.column(c.column), c)?)?;
    }
    Ok(acc)
}

fn time_scalar(spec: &TableSpec, column: usize, ticks: i64) -> Scalar {
    match spec.columns[column].data_type {
        crate::types::NeutralType::Date => Scalar::Date(ticks as i32),
        _ => Scalar::Timestamp(ticks),
    }
}

fn condition_mask(column: &ArrayRef, c: &Condition) -> Result<BooleanArray> {
    let datum = |v: &Scalar| scalar_datum(column.data_type(), v);
    let first = || {
        c.values
            .first()
            .ok_or_else(|| Error::invalid_query(format!("{} needs a value", c.op)))
    };
    Ok(match c.op {
        Op::Eq => cmp::eq(column, &datum(first()?)?)?,
        Op::Ne => cmp::neq(column, &datum(first()?)?)?,
        Op::Lt => cmp::lt(column, &datum(first()?)?)?,
        Op::Le => cmp::lt_eq(column, &datum(first()?)?)?,
        Op::Gt => cmp::gt(column, &datum(first()?)?)?,
        Op::Ge => cmp::gt_eq(column, &datum(first()?)?)?,
        Op::In => {
            let mut acc: Option<BooleanArray> = None;
            for v in &c.values {
                let m = cmp::eq(column, &datum(v)?)?;
                acc = Some(match acc {
                    Some(a) => or_kleene(&a, &m)?,
                    None => m,
                });
            }
            acc.ok_or_else(|| Error::invalid_query("IN lists no values"))?
        }
        Op::Between => {
            let (Some(low), Some(high)) = (c.values.first(), c.values.get(1)) else {
                return Err(Error::invalid_query("BETWEEN takes two values"));
            };
            and_kleene(
                &cmp::gt_eq(column, &datum(low)?)?,
                &cmp::lt_eq(column, &datum(high)?)?,
            )?
        }
        Op::IsNull => is_null(column.as_ref())?,
        Op::IsNotNull => is_not_null(column.as_ref())?,
    })
}

/// A one-row array of `ty` holding `v`, as a comparison operand.
fn scalar_datum(ty: &DataType, v: &Scalar) -> Result<arrow::array::Scalar<ArrayRef>> {
    let mismatch = || Error::store(format!("value {v:?} does not match column type {ty}"));
    let array: ArrayRef = match (ty, v) {
        (DataType::Boolean, Scalar::Bool(b)) => Arc::new(BooleanArray::from(vec![*b])),
        (DataType::Int32, Scalar::Int32(i)) => Arc::new(Int32Array::from(vec![*i])),
        (DataType::Int64, Scalar::Int64(i)) => Arc::new(Int64Array::from(vec![*i])),
        (DataType::Float32, Scalar::Float32(f)) => Arc::new(Float32Array::from(vec![*f])),
        (DataType::Float64, Scalar::Float64(f)) => Arc::new(Float64Array::from(vec![*f])),
        (DataType::Decimal128(p, s), Scalar::Decimal(d, _, _)) => {
            Arc::new(Decimal128Array::from(vec![*d]).with_precision_and_scale(*p, *s)?)
        }
        (DataType::Utf8, Scalar::Utf8(s)) => Arc::new(StringArray::from(vec![s.as_str()])),
        (DataType::Date32, Scalar::Date(d)) => Arc::new(Date32Array::from(vec![*d])),
        (DataType::Timestamp(unit, tz), Scalar::Timestamp(t)) => {
            let tz = tz.clone();
            match unit {
                TimeUnit::Millisecond => {
                    Arc::new(TimestampMillisecondArray::from(vec![*t]).with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(TimestampMicrosecondArray::from(vec![*t]).with_timezone_opt(tz))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(TimestampNanosecondArray::from(vec![*t]).with_timezone_opt(tz))
                }
                TimeUnit::Second => return Err(mismatch()),
            }
        }
        (DataType::Null, _) => new_null_array(&DataType::Null, 1),
        _ => return Err(mismatch()),
    };
    Ok(arrow::array::Scalar::new(array))
}

/// Sorts `batch` (full class schema) in the query's order — series columns then time, or the key for
/// classes without time, every key in one direction — then keeps the first `limit` rows.
pub fn sort_and_limit(
    spec: &TableSpec,
    batch: &RecordBatch,
    order: Order,
    limit: Option<u64>,
) -> Result<RecordBatch> {
    let descending = match order {
        Order::Asc => false,
        Order::Desc => true,
        Order::Unordered => return Ok(limit_rows(batch, limit)),
    };
    if batch.num_rows() < 2 {
        return Ok(limit_rows(batch, limit));
    }
    let columns: Vec<SortColumn> = crate::sqlgen::order_columns(spec)
        .iter()
        .filter_map(|name| spec.column_index(name))
        .map(|i| SortColumn {
            values: batch.column(i).clone(),
            // SQL's defaults: nulls last ascending, first descending.
            options: Some(SortOptions {
                descending,
                nulls_first: descending,
            }),
        })
        .collect();
    if columns.is_empty() {
        return Ok(limit_rows(batch, limit));
    }
    let fetch = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let indices = lexsort_to_indices(&columns, fetch)?;
    Ok(take_record_batch(batch, &indices)?)
}

fn limit_rows(batch: &RecordBatch, limit: Option<u64>) -> RecordBatch {
    match limit {
        Some(n) if (n as usize) < batch.num_rows() => batch.slice(0, n as usize),
        _ => batch.clone(),
    }
}

/// The query's projection of a full-schema batch.
pub fn project(query: &Query, batch: &RecordBatch) -> Result<RecordBatch> {
    Ok(batch.project(&query.columns)?)
}

/// Filter, order, limit and projection together: the whole query over rows already in memory.
pub fn apply(spec: &TableSpec, query: &Query, batch: &RecordBatch) -> Result<RecordBatch> {
    let selected = filter(spec, query, batch)?;
    let ordered = sort_and_limit(spec, &selected, query.order, query.limit)?;
    project(query, &ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{col, Load};
    use crate::Catalog;
    use arrow::array::AsArray;

    const YAML: &str = r#"
version: 1
classes:
  - name: q
    category: realtime
    store: s
    table: q
    time: { column: ts, precision: ms }
    tags: [symbol]
    columns:
      - { name: ts, type: TIMESTAMP, nullable: false }
      - { name: symbol, type: VARCHAR(16), nullable: false }
      - { name: price, type: DOUBLE, nullable: true }
"#;

    fn fixture() -> (Arc<TableSpec>, RecordBatch) {
        let catalog = Catalog::from_yaml(YAML, "test").unwrap();
        let spec = catalog.get("q").unwrap().clone();
        let batch = RecordBatch::try_new(
            spec.arrow_schema(),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![3, 1, 2, 1]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["b", "a", "a", "b"])),
                Arc::new(Float64Array::from(vec![
                    Some(3.0),
                    None,
                    Some(2.0),
                    Some(1.0),
                ])),
            ],
        )
        .unwrap();
        (spec, batch)
    }

    fn prices(batch: &RecordBatch) -> Vec<Option<f64>> {
        let i = batch.schema().index_of("price").unwrap();
        batch
            .column(i)
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .collect()
    }

    #[test]
    fn comparisons_with_null_are_not_true() {
        let (spec, batch) = fixture();
        let q = Load::all()
            .filter(col("price").ne(2.0))
            .resolve(&spec)
            .unwrap();
        assert_eq!(
            prices(&apply(&spec, &q, &batch).unwrap()),
            vec![Some(1.0), Some(3.0)]
        );
        let q = Load::all()
            .filter(col("price").is_null())
            .resolve(&spec)
            .unwrap();
        assert_eq!(prices(&apply(&spec, &q, &batch).unwrap()), vec![None]);
    }

    #[test]
    fn default_order_is_series_then_time_and_limit_applies_after() {
        let (spec, batch) = fixture();
        let q = Load::all().resolve(&spec).unwrap();
        assert_eq!(
            prices(&apply(&spec, &q, &batch).unwrap()),
            vec![None, Some(2.0), Some(1.0), Some(3.0)]
        );
        let q = Load::all()
            .order(Order::Desc)
            .limit(2)
            .resolve(&spec)
            .unwrap();
        assert_eq!(
            prices(&apply(&spec, &q, &batch).unwrap()),
            vec![Some(3.0), Some(1.0)]
        );
    }

    #[test]
    fn range_in_and_between() {
        let (spec, batch) = fixture();
        let q = Load::range(
            crate::Timestamp::from_nanos(1_000_000)..crate::Timestamp::from_nanos(3_000_000),
        )
        .symbols(["a", "b"])
        .filter(col("price").between(1.0, 2.0))
        .columns(["price"])
        .resolve(&spec)
        .unwrap();
        let out = apply(&spec, &q, &batch).unwrap();
        assert_eq!(out.num_columns(), 1);
        assert_eq!(prices(&out), vec![Some(2.0), Some(1.0)]);
    }
}
