//! What a caller asks to read: a time range, tag filters, a projection, typed predicates, order and limit.
//! [`Load::resolve`] checks it against a class and coerces every value to its column's type, so stores only
//! see declared columns and typed values to bind.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};
use crate::spec::TableSpec;
use crate::time::{ceil_ticks, exact_ticks, Timestamp, NANOS_PER_DAY};
use crate::types::NeutralType;

/// A value written by the caller, before it is coerced to a column type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Time(Timestamp),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(v.clone())
    }
}
impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Self {
        Value::Time(v)
    }
}
impl From<chrono::DateTime<chrono::Utc>> for Value {
    fn from(v: chrono::DateTime<chrono::Utc>) -> Self {
        Value::Time(v.into())
    }
}

/// A value coerced to its column's type, ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    /// Unscaled value at the column's scale.
    Decimal(i128, u8, i8),
    Utf8(String),
    /// Ticks of the class precision since the epoch.
    Timestamp(i64),
    /// Days since the epoch.
    Date(i32),
}

impl Scalar {
    /// The value of one cell of an Arrow column as a bindable scalar: a timestamp as its ticks (the
    /// caller knows the unit), `None` for a null or a type no scalar holds.
    pub fn of_cell(array: &dyn arrow::array::Array, row: usize) -> Option<Scalar> {
        use arrow::array::AsArray;
        use arrow::datatypes::{
            DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type,
        };
        if array.is_null(row) {
            return None;
        }
        Some(match array.data_type() {
            DataType::Boolean => Scalar::Bool(array.as_boolean().value(row)),
            DataType::Int32 => Scalar::Int32(array.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => Scalar::Int64(array.as_primitive::<Int64Type>().value(row)),
            DataType::Float32 => Scalar::Float32(array.as_primitive::<Float32Type>().value(row)),
            DataType::Float64 => Scalar::Float64(array.as_primitive::<Float64Type>().value(row)),
            DataType::Utf8 => Scalar::Utf8(array.as_string::<i32>().value(row).to_string()),
            DataType::LargeUtf8 => Scalar::Utf8(array.as_string::<i64>().value(row).to_string()),
            DataType::Utf8View => Scalar::Utf8(array.as_string_view().value(row).to_string()),
            DataType::Date32 => Scalar::Date(array.as_primitive::<Date32Type>().value(row)),
            DataType::Decimal128(p, s) => {
                Scalar::Decimal(array.as_primitive::<Decimal128Type>().value(row), *p, *s)
            }
            // Every timestamp unit is stored as i64 ticks of that unit.
            DataType::Timestamp(..) => {
                Scalar::Timestamp(array.to_data().buffer::<i64>(0)[array.offset() + row])
            }
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Between,
    IsNull,
    IsNotNull,
}

impl Op {
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text.to_ascii_lowercase().as_str() {
            "=" | "==" | "eq" => Op::Eq,
            "!=" | "<>" | "ne" => Op::Ne,
            "<" | "lt" => Op::Lt,
            "<=" | "le" => Op::Le,
            ">" | "gt" => Op::Gt,
            ">=" | "ge" => Op::Ge,
            "in" => Op::In,
            "between" => Op::Between,
            _ => return None,
        })
    }
    /// The SQL comparison operator of the binary ops (every store shares these spellings).
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Between => "BETWEEN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub column: String,
    pub op: Op,
    pub values: Vec<Value>,
}

/// Start of a predicate: `col("close").gt(10.0)`.
pub fn col(name: impl Into<String>) -> ColumnRef {
    ColumnRef(name.into())
}

pub struct ColumnRef(String);

impl ColumnRef {
    fn one(self, op: Op, v: impl Into<Value>) -> Predicate {
        Predicate {
            column: self.0,
            op,
            values: vec![v.into()],
        }
    }
    pub fn eq(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Eq, v)
    }
    pub fn ne(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Ne, v)
    }
    pub fn lt(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Lt, v)
    }
    pub fn le(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Le, v)
    }
    pub fn gt(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Gt, v)
    }
    pub fn ge(self, v: impl Into<Value>) -> Predicate {
        self.one(Op::Ge, v)
    }
    pub fn is_in<V: Into<Value>>(self, vs: impl IntoIterator<Item = V>) -> Predicate {
        Predicate {
            column: self.0,
            op: Op::In,
            values: vs.into_iter().map(Into::into).collect(),
        }
    }
    pub fn between(self, low: impl Into<Value>, high: impl Into<Value>) -> Predicate {
        Predicate {
            column: self.0,
            op: Op::Between,
            values: vec![low.into(), high.into()],
        }
    }
    pub fn is_null(self) -> Predicate {
        Predicate {
            column: self.0,
            op: Op::IsNull,
            values: vec![],
        }
    }
    pub fn is_not_null(self) -> Predicate {
        Predicate {
            column: self.0,
            op: Op::IsNotNull,
            values: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// By series key then time, ascending (the default: deterministic output).
    #[default]
    Asc,
    Desc,
    /// Whatever order the store yields fastest.
    Unordered,
}

/// A read request. Build with [`Load::all`] / [`Load::range`] and the chained methods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Load {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub tags: BTreeMap<String, Vec<Value>>,
    pub columns: Option<Vec<String>>,
    pub filters: Vec<Predicate>,
    pub order: Order,
    pub limit: Option<u64>,
    /// Versioned classes only: each key as it was known at this instant (its newest revision known at or
    /// before it; keys deleted by then are left out). `None`: as known now.
    pub as_of: Option<Timestamp>,
}

impl Load {
    pub fn all() -> Load {
        Load::default()
    }
    /// Rows with `start <= time < end`.
    pub fn range(range: Range<impl Into<Timestamp>>) -> Load {
        Load {
            start: Some(range.start.into()),
            end: Some(range.end.into()),
            ..Load::default()
        }
    }
    pub fn since(mut self, start: impl Into<Timestamp>) -> Load {
        self.start = Some(start.into());
        self
    }
    pub fn until(mut self, end: impl Into<Timestamp>) -> Load {
        self.end = Some(end.into());
        self
    }
    pub fn symbols<V: Into<Value>>(self, symbols: impl IntoIterator<Item = V>) -> Load {
        self.tag("symbol", symbols)
    }
    /// Keep rows whose `column` is one of `values` (one tag filter per column; repeated calls add values).
    pub fn tag<V: Into<Value>>(
        mut self,
        column: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Load {
        self.tags
            .entry(column.to_string())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }
    pub fn columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Load {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }
    pub fn filter(mut self, predicate: Predicate) -> Load {
        self.filters.push(predicate);
        self
    }
    pub fn order(mut self, order: Order) -> Load {
        self.order = order;
        self
    }
    pub fn limit(mut self, limit: u64) -> Load {
        self.limit = Some(limit);
        self
    }
    /// The rows as they were known at `t` (versioned classes: `versions:` in table_config.yaml).
    pub fn as_of(mut self, t: impl Into<Timestamp>) -> Load {
        self.as_of = Some(t.into());
        self
    }

    /// True when the request names no range, tag or predicate: it matches every row of the class.
    pub fn is_unfiltered(&self) -> bool {
        self.start.is_none()
            && self.end.is_none()
            && self.tags.is_empty()
            && self.filters.is_empty()
    }

    /// Checks every name and value against `spec` and coerces values to their column types.
    pub fn resolve(&self, spec: &TableSpec) -> Result<Query> {
        let with_class = |e: Error| e.with_class(spec.name.clone());
        let columns = match &self.columns {
            Some(cols) => {
                if cols.is_empty() {
                    return Err(with_class(Error::invalid_query(
                        "column projection is empty",
                    )));
                }
                let mut out = Vec::with_capacity(cols.len());
                for c in cols {
                    let i = spec
                        .column_index(c)
                        .ok_or_else(|| unknown_column(spec, c))?;
                    if out.contains(&i) {
                        return Err(with_class(
                            Error::invalid_query("column is projected twice")
                                .with_column(c.clone()),
                        ));
                    }
                    out.push(i);
                }
                out
            }
            None => (0..spec.columns.len()).collect(),
        };

        let time = if self.start.is_some() || self.end.is_some() {
            let t = spec.time_column().ok_or_else(|| {
                with_class(Error::invalid_query(
                    "the class has no time column, so it cannot be loaded by time range",
                ))
            })?;
            let per_tick = match t.data_type {
                NeutralType::Date => NANOS_PER_DAY,
                _ => spec.precision().nanos_per_tick(),
            };
            if let (Some(s), Some(e)) = (self.start, self.end) {
                if s > e {
                    return Err(with_class(Error::invalid_query(format!(
                        "range start {s} is after its end {e}"
                    ))));
                }
            }
            Some(TimeBounds {
                column: spec.column_index(&t.name).unwrap_or_default(),
                start: self.start.map(|s| ceil_ticks(s.nanos(), per_tick)),
                end: self.end.map(|e| ceil_ticks(e.nanos(), per_tick)),
            })
        } else {
            None
        };

        let mut conditions = Vec::new();
        for (column, values) in &self.tags {
            let i = spec
                .column_index(column)
                .ok_or_else(|| unknown_column(spec, column))?;
            if values.is_empty() {
                return Err(with_class(
                    Error::invalid_query("tag filter lists no values").with_column(column.clone()),
                ));
            }
            let values = coerce_all(spec, i, values)?;
            conditions.push(Condition {
                column: i,
                op: Op::In,
                values,
            });
        }
        for p in &self.filters {
            let i = spec
                .column_index(&p.column)
                .ok_or_else(|| unknown_column(spec, &p.column))?;
            let arity_ok = match p.op {
                Op::IsNull | Op::IsNotNull => p.values.is_empty(),
                Op::Between => p.values.len() == 2,
                Op::In => !p.values.is_empty(),
                _ => p.values.len() == 1,
            };
            if !arity_ok {
                return Err(with_class(
                    Error::invalid_query(format!(
                        "{} takes {} value(s), got {}",
                        p.op,
                        match p.op {
                            Op::IsNull | Op::IsNotNull => "no",
                            Op::Between => "two",
                            Op::In => "one or more",
                            _ => "one",
                        },
                        p.values.len()
                    ))
                    .with_column(p.column.clone()),
                ));
            }
            let values = coerce_all(spec, i, &p.values)?;
            conditions.push(Condition {
                column: i,
                op: p.op,
                values,
            });
        }
        if self.limit == Some(0) {
            return Err(with_class(Error::invalid_query("limit must be at least 1")));
        }
        let as_of = match self.as_of {
            None => None,
            Some(_) if spec.versions.is_none() => {
                return Err(with_class(Error::invalid_query(
                    "as_of needs a versioned class (`versions: true` in table_config.yaml); this one keeps \
                     only the newest value of each key",
                )))
            }
            // Revisions are stamped in ticks of the class precision: "known at or before t" is every stamp
            // up to the floor of t.
            Some(t) => Some(t.nanos().div_euclid(spec.precision().nanos_per_tick())),
        };
        Ok(Query {
            columns,
            time,
            conditions,
            order: self.order,
            limit: self.limit,
            as_of,
        })
    }
}

fn unknown_column(spec: &TableSpec, column: &str) -> Error {
    Error::new(
        ErrorKind::UnknownColumn,
        format!(
            "not a declared column (declared: {})",
            spec.columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .with_class(spec.name.clone())
    .with_column(column.to_string())
}

fn coerce_all(spec: &TableSpec, column: usize, values: &[Value]) -> Result<Vec<Scalar>> {
    let c = &spec.columns[column];
    values
        .iter()
        .map(|v| {
            coerce(v, c.data_type, spec).map_err(|m| {
                Error::invalid_query(m)
                    .with_class(spec.name.clone())
                    .with_column(c.name.clone())
            })
        })
        .collect()
}

/// Coerces a caller value to a column type, exactly or not at all.
pub fn coerce(v: &Value, ty: NeutralType, spec: &TableSpec) -> Result<Scalar, String> {
    let bad = || format!("{v:?} is not a {ty} value");
    match (ty, v) {
        (_, Value::Null) => Err("null is only valid with is_null / is_not_null".into()),
        (NeutralType::Bool, Value::Bool(b)) => Ok(Scalar::Bool(*b)),
        (NeutralType::Bool, Value::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Ok(Scalar::Bool(true)),
            "false" | "f" | "0" => Ok(Scalar::Bool(false)),
            _ => Err(bad()),
        },
        (NeutralType::Int, Value::Int(i)) => i32::try_from(*i)
            .map(Scalar::Int32)
            .map_err(|_| format!("{i} does not fit INT")),
        (NeutralType::Int, Value::Str(s)) => s.trim().parse().map(Scalar::Int32).map_err(|_| bad()),
        (NeutralType::BigInt, Value::Int(i)) => Ok(Scalar::Int64(*i)),
        (NeutralType::BigInt, Value::Str(s)) => {
            s.trim().parse().map(Scalar::Int64).map_err(|_| bad())
        }
        (NeutralType::Float, Value::Float(f)) => Ok(Scalar::Float32(*f as f32)),
        (NeutralType::Float, Value::Int(i)) => Ok(Scalar::Float32(*i as f32)),
        (NeutralType::Float, Value::Str(s)) => {
            s.trim().parse().map(Scalar::Float32).map_err(|_| bad())
        }
        (NeutralType::Double, Value::Float(f)) => Ok(Scalar::Float64(*f)),
        (NeutralType::Double, Value::Int(i)) => Ok(Scalar::Float64(*i as f64)),
        (NeutralType::Double, Value::Str(s)) => {
            s.trim().parse().map(Scalar::Float64).map_err(|_| bad())
        }
        (NeutralType::Decimal { precision, scale }, Value::Int(i)) => {
            decimal_from_text(&i.to_string(), precision, scale)
                .map(|d| Scalar::Decimal(d, precision, scale))
        }
        (NeutralType::Decimal { precision, scale }, Value::Float(f)) => {
            // The shortest text that round-trips is what the caller wrote, so it converts exactly.
            decimal_from_text(&f.to_string(), precision, scale)
                .map(|d| Scalar::Decimal(d, precision, scale))
        }
        (NeutralType::Decimal { precision, scale }, Value::Str(s)) => {
            decimal_from_text(s, precision, scale).map(|d| Scalar::Decimal(d, precision, scale))
        }
        (t, Value::Str(s)) if t.is_string() => Ok(Scalar::Utf8(s.clone())),
        (NeutralType::Timestamp, Value::Time(ts)) => timestamp_ticks(*ts, spec),
        (NeutralType::Timestamp, Value::Str(s)) => timestamp_ticks(Timestamp::parse(s)?, spec),
        (NeutralType::Date, Value::Time(ts)) => date_days(*ts),
        (NeutralType::Date, Value::Str(s)) => date_days(Timestamp::parse(s)?),
        _ => Err(bad()),
    }
}

fn timestamp_ticks(ts: Timestamp, spec: &TableSpec) -> Result<Scalar, String> {
    let p = spec.precision();
    exact_ticks(ts.nanos(), p.nanos_per_tick())
        .map(Scalar::Timestamp)
        .ok_or_else(|| format!("{ts} is finer than the class precision ({p})"))
}

fn date_days(ts: Timestamp) -> Result<Scalar, String> {
    exact_ticks(ts.nanos(), NANOS_PER_DAY)
        .and_then(|d| i32::try_from(d).ok())
        .map(Scalar::Date)
        .ok_or_else(|| format!("{ts} is not a date (midnight UTC)"))
}

/// Parses a decimal literal exactly into an unscaled integer at `scale`; extra non-zero digits are an error.
pub fn decimal_from_text(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(format!("`{t}` is not a decimal number"));
    }
    let scale_len = scale.max(0) as usize;
    let (kept, dropped) = frac_part.split_at(frac_part.len().min(scale_len));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(format!("`{t}` has more than {scale} decimal places"));
    }
    let mut unscaled: i128 = 0;
    let push = |acc: i128, b: u8| -> Option<i128> {
        acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
    };
    for b in int_part.bytes().chain(kept.bytes()) {
        unscaled = push(unscaled, b).ok_or_else(|| format!("`{t}` is out of range"))?;
    }
    for _ in kept.len()..scale_len {
        unscaled = unscaled
            .checked_mul(10)
            .ok_or_else(|| format!("`{t}` is out of range"))?;
    }
    let max = 10i128.pow(u32::from(precision));
    if unscaled >= max {
        return Err(format!("`{t}` does not fit DECIMAL({precision},{scale})"));
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// The resolved time bounds in the time column's own unit (ticks of the class precision, or days).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeBounds {
    pub column: usize,
    /// Inclusive.
    pub start: Option<i64>,
    /// Exclusive.
    pub end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: usize,
    pub op: Op,
    pub values: Vec<Scalar>,
}

/// A [`Load`] checked against one class: column indexes into the spec and typed values only.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub columns: Vec<usize>,
    pub time: Option<TimeBounds>,
    pub conditions: Vec<Condition>,
    pub order: Order,
    pub limit: Option<u64>,
    /// Versioned classes: the newest revision of each key stamped at or before this (ticks of the class
    /// precision) is the one read; `None`: the newest revision.
    pub as_of: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_scalars_at_their_row_of_a_slice() {
        use arrow::array::{Array, Float64Array, StringArray, TimestampMicrosecondArray};
        let ts = TimestampMicrosecondArray::from(vec![Some(10), Some(20), None]).slice(1, 2);
        assert_eq!(Scalar::of_cell(&ts, 0), Some(Scalar::Timestamp(20)));
        assert_eq!(Scalar::of_cell(&ts, 1), None);
        let text = StringArray::from(vec!["a", "b"]).slice(1, 1);
        assert_eq!(Scalar::of_cell(&text, 0), Some(Scalar::Utf8("b".into())));
        assert_eq!(
            Scalar::of_cell(&Float64Array::from(vec![1.5]), 0),
            Some(Scalar::Float64(1.5))
        );
        let binary = arrow::array::new_null_array(&arrow::datatypes::DataType::Binary, 1);
        assert!(binary.is_null(0) && Scalar::of_cell(&binary, 0).is_none());
    }

    #[test]
    fn decimal_text_is_exact() {
        assert_eq!(decimal_from_text("10.01", 18, 4), Ok(100_100));
        assert_eq!(decimal_from_text("-0.5", 18, 4), Ok(-5_000));
        assert_eq!(decimal_from_text("7", 18, 2), Ok(700));
        assert_eq!(decimal_from_text("1.2300", 18, 2), Ok(123));
        assert!(decimal_from_text("1.234", 18, 2).is_err());
        assert!(decimal_from_text("1000", 3, 0).is_err());
        assert!(decimal_from_text("1e5", 18, 2).is_err());
        assert!(decimal_from_text(".", 18, 2).is_err());
    }
}
