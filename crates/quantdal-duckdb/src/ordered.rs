//! Ordered loads put in order by the client, series by series, instead of by DuckDB's sort.
//!
//! `ORDER BY series, time` makes DuckDB sort every selected row before the first is returned: on 1M ticks
//! about 85 % of the load, and under the store's `memory_limit` a sort that spills. Rows of one series are
//! usually stored in time order already (a feed appends them that way, an import sorts its batch), so:
//!
//! 1. one aggregate lists the series the filters keep, in order, with their row counts;
//! 2. the list is cut into chunks of about [`CHUNK_ROWS`] rows, each a contiguous range of series;
//! 3. each chunk is one unordered query restricted to its range (zone maps skip row groups outside it), and
//!    its rows are placed by their series' rank (linear, stable); only if a series' rows then come out of
//!    time order is the chunk sorted by (rank, time). A series larger than a chunk alone is read with
//!    `ORDER BY time`, the only sort DuckDB still does.
//!
//! Memory stays bounded by a chunk and the caller's channel. Results that would need more than
//! [`MAX_CHUNKS`] chunks, and classes this does not fit (no series, nullable order columns, versioned
//! classes, a limit, series types without an exact bound), keep DuckDB's `ORDER BY`, bounded by its
//! `memory_limit` (it spills).

use std::ops::Deref;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Int64Type};
use arrow_row::{RowConverter, SortField};
use duckdb::types::Value as DuckValue;
use duckdb::Connection;
use quantdal_core::fnv::ShortKeyMap;
use quantdal_core::load::{Order, Query, Scalar};
use quantdal_core::{Error, Result, TableSpec, TimePrecision};

use crate::compact;
use crate::ddl::quote;
use crate::errors::from_duckdb;
use crate::sql::{placeholder, where_clause, Statement};

/// Rows an ordered load holds at a time, unless one series alone is larger: two chunks of half this, read
/// at once (about 85 MB of ticks in all, held twice while reordered).
pub const CHUNK_ROWS: u64 = 1 << 20;
/// Every chunk is one more scan of the filtered table (zone maps prune it only where the table is clustered
/// by series): past this many, DuckDB's own spilling sort is the cheaper way, so larger results keep
/// `ORDER BY`.
const MAX_CHUNKS: usize = 8;
/// Results up to this size are one chunk (a second reader would cost more than it saves).
const SPLIT_FROM: u64 = 131_072;
/// Rows per batch handed on once a chunk had to be reordered.
const OUT_ROWS: usize = 65_536;

/// The order columns of a class this module can order: spec indices of the series columns and the time.
pub struct OrderColumns {
    series: Vec<usize>,
    time: usize,
}

/// `Some` when `query` on `spec` can be ordered here instead of by DuckDB.
pub fn order_columns(spec: &TableSpec, query: &Query) -> Option<OrderColumns> {
    if query.order == Order::Unordered || query.limit.is_some() || spec.versions.is_some() {
        return None;
    }
    let time_name = &spec.time.as_ref()?.column;
    let index = |name: &str| spec.columns.iter().position(|c| c.name == name);
    let time = index(time_name)?;
    let series = spec
        .series_columns()
        .into_iter()
        .map(index)
        .collect::<Option<Vec<_>>>()?;
    // Null ordering is DuckDB's business: only NOT NULL order columns are ordered here.
    let all_required = series
        .iter()
        .chain(std::iter::once(&time))
        .all(|&c| !spec.columns[c].nullable);
    (!series.is_empty() && all_required).then_some(OrderColumns { series, time })
}

/// One contiguous range of series, first and last inclusive (ranks into the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub first: usize,
    pub last: usize,
    pub rows: u64,
    /// One series larger than a chunk: DuckDB returns it in time order, and it streams as it comes.
    pub server_ordered: bool,
}

/// The series `query` selects, in load order, with their row counts.
pub struct Plan {
    /// The series columns as DuckDB returned them, one row per series.
    series: Vec<ArrayRef>,
    pub chunks: Vec<Chunk>,
}

impl Plan {
    fn series_count(&self) -> usize {
        self.series.first().map_or(0, |a| a.len())
    }
}

/// Cuts series (their row counts, in order) into chunks of at most `chunk_rows` rows; a larger series is a
/// chunk of its own.
fn cut(counts: &[u64], chunk_rows: u64) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for (rank, &rows) in counts.iter().enumerate() {
        match chunks.last_mut() {
            Some(open) if open.rows + rows <= chunk_rows => {
                open.last = rank;
                open.rows += rows;
            }
            _ => chunks.push(Chunk {
                first: rank,
                last: rank,
                rows,
                server_ordered: rows > chunk_rows,
            }),
        }
    }
    chunks
}

/// Runs the aggregate listing the series; `None` when the result is too large to be worth chunking or the
/// series cannot be bound back as exact range bounds.
pub fn plan(
    conn: &Connection,
    spec: &TableSpec,
    query: &Query,
    columns: &OrderColumns,
    chunk_rows: u64,
) -> Result<Option<Plan>> {
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let dir = if query.order == Order::Desc {
        " DESC"
    } else {
        ""
    };
    let names: Vec<String> = columns
        .series
        .iter()
        .map(|&c| quote(&spec.columns[c].name))
        .collect();
    let ordered: Vec<String> = names.iter().map(|n| format!("{n}{dir}")).collect();
    let sql = format!(
        "SELECT {}, count(*) FROM {}{filter} GROUP BY {} ORDER BY {}",
        names.join(", "),
        quote(&spec.table),
        names.join(", "),
        ordered.join(", ")
    );
    let mut stmt = conn.prepare(&sql).map_err(from_duckdb)?;
    let batches: Vec<RecordBatch> = stmt
        .query_arrow(duckdb::params_from_iter(params.iter()))
        .map_err(from_duckdb)?
        .collect();
    let Some(first) = batches.first() else {
        return Ok(Some(Plan {
            series: Vec::new(),
            chunks: Vec::new(),
        }));
    };
    let schema = first.schema();
    let all = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| Error::store(format!("series plan: {e}")))?;
    let k = columns.series.len();
    let counts: Vec<u64> = match cast(all.column(k), &DataType::Int64) {
        Ok(c) => c
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|&n| n.max(0) as u64)
            .collect(),
        Err(e) => return Err(Error::store(format!("series plan counts: {e}"))),
    };
    // Two chunks are read at once, so each holds half the budget; a mid-sized result is split in two so
    // both readers have work.
    let total: u64 = counts.iter().sum();
    let target = if total > SPLIT_FROM {
        (chunk_rows / 2).min(total.div_ceil(2)).max(1)
    } else {
        chunk_rows
    };
    let chunks = cut(&counts, target);
    if chunks.len() > MAX_CHUNKS {
        return Ok(None);
    }
    let series: Vec<ArrayRef> = all.columns()[..k].to_vec();
    // Every row of a column has its type: the first tells whether the series bind as exact bounds.
    if all.num_rows() > 0
        && series
            .iter()
            .any(|a| scalar_at(a, 0, spec.precision()).is_none())
    {
        return Ok(None);
    }
    Ok(Some(Plan { series, chunks }))
}

/// The value of a series column at `row` as a range bound: `None` for types whose bounds are not exact
/// here (floats) and timestamps not at the class precision (a bound's ticks are read at it).
fn scalar_at(array: &ArrayRef, row: usize, precision: TimePrecision) -> Option<Scalar> {
    match array.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => None,
        DataType::Timestamp(unit, _) if *unit != precision.unit() => None,
        _ => Scalar::of_cell(array.as_ref(), row),
    }
}

/// The select of one chunk: `query`'s projection plus any order column it lacks (at the end, dropped again
/// after ordering), its filters and the chunk's series range. Returns the statement and where the series
/// and time columns sit in its result.
fn chunk_select(
    spec: &TableSpec,
    query: &Query,
    columns: &OrderColumns,
    plan: &Plan,
    chunk: &Chunk,
) -> Result<(Statement, Vec<usize>, usize)> {
    let mut projected: Vec<usize> = query.columns.clone();
    let mut position = |c: usize| match projected.iter().position(|&p| p == c) {
        Some(p) => p,
        None => {
            projected.push(c);
            projected.len() - 1
        }
    };
    let series_at: Vec<usize> = columns.series.iter().map(|&c| position(c)).collect();
    let time_at = position(columns.time);
    let mut params = Vec::new();
    let filter = where_clause(spec, query, &mut params);
    let desc = query.order == Order::Desc;
    let every_series = chunk.first == 0 && chunk.last + 1 == plan.series_count();
    let filter = if every_series {
        filter
    } else {
        let range = series_range(spec, columns, plan, chunk, desc, &mut params)?;
        match filter.strip_prefix(" WHERE ") {
            Some(body) => format!(" WHERE ({body}) AND {range}"),
            None => format!(" WHERE {range}"),
        }
    };
    // A series larger than a chunk is read in time order from DuckDB (a sort on one column).
    let order = if chunk.server_ordered {
        let dir = if query.order == Order::Desc {
            " DESC"
        } else {
            ""
        };
        format!(" ORDER BY {}{dir}", quote(&spec.columns[columns.time].name))
    } else {
        String::new()
    };
    let list: Vec<String> = projected
        .iter()
        .map(|&c| quote(&spec.columns[c].name))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}{filter}{order}",
        list.join(", "),
        quote(&spec.table)
    );
    Ok((Statement { sql, params }, series_at, time_at))
}

/// `(s1, …, sk)` between the chunk's first and last series, lexicographically (in load order, so the bounds
/// swap for a descending load). The first column's plain range comes first so zone maps can prune.
fn series_range(
    spec: &TableSpec,
    columns: &OrderColumns,
    plan: &Plan,
    chunk: &Chunk,
    desc: bool,
    params: &mut Vec<DuckValue>,
) -> Result<String> {
    let bound = |rank: usize| -> Result<Vec<Scalar>> {
        plan.series
            .iter()
            .map(|a| {
                scalar_at(a, rank, spec.precision())
                    .ok_or_else(|| Error::store("series value without an exact bound"))
            })
            .collect()
    };
    let (first, last) = (bound(chunk.first)?, bound(chunk.last)?);
    let names: Vec<String> = columns
        .series
        .iter()
        .map(|&c| quote(&spec.columns[c].name))
        .collect();
    let mut bind = |k: usize, v: &Scalar, params: &mut Vec<DuckValue>| {
        placeholder(spec, columns.series[k], v, params)
    };
    if chunk.first == chunk.last {
        let parts: Vec<String> = (0..names.len())
            .map(|k| format!("{} = {}", names[k], bind(k, &first[k], params)))
            .collect();
        return Ok(format!("({})", parts.join(" AND ")));
    }
    let (low, high) = if desc {
        (&last, &first)
    } else {
        (&first, &last)
    };
    let mut out = format!(
        "({} BETWEEN {} AND {}",
        names[0],
        bind(0, &low[0], params),
        bind(0, &high[0], params)
    );
    if names.len() > 1 {
        out.push_str(" AND ");
        out.push_str(&lexicographic(&names, low, ">", params, &mut bind));
        out.push_str(" AND ");
        out.push_str(&lexicographic(&names, high, "<", params, &mut bind));
    }
    out.push(')');
    Ok(out)
}

/// `(s1, …, sk) >= bound` (with `op` ">") or `<= bound` (with "<"), spelled out column by column.
fn lexicographic(
    names: &[String],
    bound: &[Scalar],
    op: &str,
    params: &mut Vec<DuckValue>,
    bind: &mut impl FnMut(usize, &Scalar, &mut Vec<DuckValue>) -> String,
) -> String {
    // Built left to right, so the values are bound in the order their `?` appear.
    let k = names.len() - 1;
    let mut out = String::new();
    for j in 0..k {
        let strict = bind(j, &bound[j], params);
        let equal = bind(j, &bound[j], params);
        out.push_str(&format!(
            "({} {op} {strict} OR ({} = {equal} AND ",
            names[j], names[j]
        ));
    }
    out.push_str(&format!(
        "{} {op}= {}",
        names[k],
        bind(k, &bound[k], params)
    ));
    out.push_str(&"))".repeat(k));
    out
}

/// Ranks of the plan's series. One string column (the usual `symbol`) is looked up by value, remembering
/// the last one (rows of a series mostly come together); other shapes go through their row encoding.
enum Ranks {
    Text(ShortKeyMap<String, u32>),
    Rows {
        converter: RowConverter,
        rank: ShortKeyMap<Box<[u8]>, u32>,
    },
}

impl Ranks {
    fn new(plan: &Plan) -> Result<Ranks> {
        if let [only] = plan.series.as_slice() {
            if let Some(text) = only.as_string_opt::<i32>() {
                let rank = text
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.unwrap_or_default().to_string(), i as u32))
                    .collect();
                return Ok(Ranks::Text(rank));
            }
        }
        let fields = plan
            .series
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields).map_err(arrow_error)?;
        let rows = converter
            .convert_columns(&plan.series)
            .map_err(arrow_error)?;
        let rank = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Box::from(r.as_ref()), i as u32))
            .collect();
        Ok(Ranks::Rows { converter, rank })
    }

    fn extend(&self, out: &mut Vec<u32>, series: &[ArrayRef]) -> Result<()> {
        let unlisted = || Error::store("a chunk returned a series its plan did not list");
        match self {
            Ranks::Text(rank) => {
                let text = series
                    .first()
                    .and_then(|a| a.as_string_opt::<i32>())
                    .ok_or_else(unlisted)?;
                let mut last: Option<(&str, u32)> = None;
                for v in text.iter() {
                    let v = v.unwrap_or_default();
                    let r = match last {
                        Some((prev, r)) if prev == v => r,
                        _ => *rank.get(v).ok_or_else(unlisted)?,
                    };
                    last = Some((v, r));
                    out.push(r);
                }
            }
            Ranks::Rows { converter, rank } => {
                let rows = converter.convert_columns(series).map_err(arrow_error)?;
                for r in rows.iter() {
                    out.push(*rank.get(r.as_ref()).ok_or_else(unlisted)?);
                }
            }
        }
        Ok(())
    }
}

/// Appends a time column's values as integers (their order is the column's order).
fn extend_ticks(out: &mut Vec<i64>, column: &ArrayRef) -> Result<()> {
    let data = column.to_data();
    let values = data.offset()..data.offset() + data.len();
    match column.data_type() {
        DataType::Timestamp(..) | DataType::Int64 | DataType::Date64 => {
            out.extend_from_slice(&data.buffer::<i64>(0)[values])
        }
        DataType::Date32 | DataType::Int32 => {
            out.extend(data.buffer::<i32>(0)[values].iter().map(|&v| i64::from(v)))
        }
        _ => {
            let ticks = cast(column, &DataType::Int64).map_err(arrow_error)?;
            out.extend_from_slice(ticks.as_primitive::<Int64Type>().values());
        }
    }
    Ok(())
}

fn arrow_error(e: arrow::error::ArrowError) -> Error {
    Error::store(format!("ordering a load: {e}"))
}

/// Puts one chunk's batches (as DuckDB returned them) in (series rank, time) order; the batches come back
/// as they are when they already were.
fn order_chunk(
    batches: Vec<RecordBatch>,
    ranks: &Ranks,
    series_at: &[usize],
    time_at: usize,
    desc: bool,
) -> Result<Vec<RecordBatch>> {
    let keys = |batch: &RecordBatch, rank: &mut Vec<u32>, time: &mut Vec<i64>| -> Result<()> {
        let series: Vec<ArrayRef> = series_at.iter().map(|&i| batch.column(i).clone()).collect();
        ranks.extend(rank, &series)?;
        extend_ticks(time, batch.column(time_at))
    };
    let before = |a: (u32, i64), b: (u32, i64)| {
        a.0 < b.0 || (a.0 == b.0 && if desc { a.1 >= b.1 } else { a.1 <= b.1 })
    };
    // Checked a batch at a time, so a chunk already in order (the usual case) holds no per-row keys.
    let (mut rank, mut time) = (Vec::new(), Vec::new());
    let mut last = None;
    let mut ordered = true;
    'check: for batch in &batches {
        rank.clear();
        time.clear();
        keys(batch, &mut rank, &mut time)?;
        for key in rank.iter().copied().zip(time.iter().copied()) {
            if last.is_some_and(|prev| !before(prev, key)) {
                ordered = false;
                break 'check;
            }
            last = Some(key);
        }
    }
    if ordered {
        return Ok(batches);
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let (mut rank, mut time) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for batch in &batches {
        keys(batch, &mut rank, &mut time)?;
    }
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    // One contiguous batch, so each output slice is a `take` rather than a gather across 2,048-row batches.
    let whole = arrow::compute::concat_batches(&first.schema(), &batches).map_err(arrow_error)?;
    drop(batches);
    by_rank(&rank, &time, desc)
        .chunks(OUT_ROWS)
        .map(|part| {
            let indices = UInt32Array::from(part.to_vec());
            take_record_batch(&whole, &indices).map_err(arrow_error)
        })
        .collect()
}

/// Row numbers in (rank, time) order: a stable counting sort by rank, then a sort by time of each series
/// whose rows were not in time order.
fn by_rank(rank: &[u32], time: &[i64], desc: bool) -> Vec<u32> {
    if rank.is_empty() {
        return Vec::new();
    }
    let (low, high) = rank
        .iter()
        .fold((u32::MAX, 0), |(l, h), &r| (l.min(r), h.max(r)));
    let mut start = vec![0usize; (high - low) as usize + 2];
    for &r in rank {
        start[(r - low) as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut order = vec![0u32; rank.len()];
    for (i, &r) in rank.iter().enumerate() {
        let slot = &mut start[(r - low) as usize];
        order[*slot] = i as u32;
        *slot += 1;
    }
    // Each series' run, sorted by time where its rows were not (a parallel insert can store a batch's
    // slices out of order).
    let mut run_start = 0;
    while run_start < order.len() {
        let r = rank[order[run_start] as usize];
        let run_end = order[run_start..]
            .iter()
            .position(|&i| rank[i as usize] != r)
            .map_or(order.len(), |p| run_start + p);
        let run = &mut order[run_start..run_end];
        let timed = run.windows(2).all(|w| {
            let (a, b) = (time[w[0] as usize], time[w[1] as usize]);
            if desc {
                a >= b
            } else {
                a <= b
            }
        });
        if !timed {
            if desc {
                run.sort_by_key(|&i| std::cmp::Reverse(time[i as usize]));
            } else {
                run.sort_by_key(|&i| time[i as usize]);
            }
        }
        run_start = run_end;
    }
    order
}

/// Runs an ordered load chunk by chunk, handing each batch of `query`'s projection to `send` (conformed to
/// `schema`) until `send` returns false. With a second connection, two chunks are read and ordered at once
/// (DuckDB converts a streamed result to Arrow on the reading thread, so one reader is one core); their
/// batches are handed on in order. Returns whether any batch was sent.
#[allow(clippy::too_many_arguments)]
pub fn run<C: Deref<Target = Connection> + Send>(
    conn: &Connection,
    mut second: Option<C>,
    spec: &TableSpec,
    query: &Query,
    columns: &OrderColumns,
    plan: &Plan,
    schema: &arrow::datatypes::SchemaRef,
    send: &mut dyn FnMut(Result<RecordBatch>) -> bool,
) -> Result<bool> {
    let ranks = Ranks::new(plan)?;
    let reader = ChunkReader {
        spec,
        query,
        columns,
        plan,
        ranks: &ranks,
    };
    let width: Vec<usize> = (0..query.columns.len()).collect();
    let mut sent = false;
    let mut deliver = |batches: Vec<RecordBatch>| -> Result<bool> {
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            sent = true;
            let projected = batch.project(&width).map_err(arrow_error)?;
            if !send(quantdal_core::output::conform_batch(&projected, schema)) {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let chunks = &plan.chunks;
    let mut i = 0;
    while i < chunks.len() {
        let chunk = &chunks[i];
        if chunk.server_ordered {
            // Larger than a chunk: streamed as DuckDB returns it, never held.
            let (statement, ..) = reader.select(chunk)?;
            let mut stmt = conn.prepare(&statement.sql).map_err(from_duckdb)?;
            for batch in compact::stream(&mut stmt, &statement)? {
                if !deliver(vec![batch?])? {
                    return Ok(sent);
                }
            }
            i += 1;
            continue;
        }
        let pair = chunks.get(i + 1).filter(|next| !next.server_ordered);
        let (this, next) = match (pair, second.take()) {
            (Some(next), Some(other)) => {
                let (this, joined) = std::thread::scope(|scope| {
                    let reading = scope.spawn(move || {
                        let read = reader.read(&other, next);
                        (other, read)
                    });
                    (reader.read(conn, chunk), reading.join())
                });
                let next = match joined {
                    Ok((other, read)) => {
                        second = Some(other);
                        read
                    }
                    Err(_) => Err(Error::store("a load's second reader panicked")),
                };
                (this?, Some(next?))
            }
            (_, other) => {
                second = other;
                (reader.read(conn, chunk)?, None)
            }
        };
        i += if next.is_some() { 2 } else { 1 };
        if !deliver(this)? {
            return Ok(sent);
        }
        if let Some(next) = next {
            if !deliver(next)? {
                return Ok(sent);
            }
        }
    }
    Ok(sent)
}

/// What reading a chunk needs, shared by the two readers.
#[derive(Clone, Copy)]
struct ChunkReader<'a> {
    spec: &'a TableSpec,
    query: &'a Query,
    columns: &'a OrderColumns,
    plan: &'a Plan,
    ranks: &'a Ranks,
}

impl ChunkReader<'_> {
    fn select(&self, chunk: &Chunk) -> Result<(Statement, Vec<usize>, usize)> {
        chunk_select(self.spec, self.query, self.columns, self.plan, chunk)
    }

    /// One chunk, read whole and put in order.
    fn read(&self, conn: &Connection, chunk: &Chunk) -> Result<Vec<RecordBatch>> {
        let (statement, series_at, time_at) = self.select(chunk)?;
        let mut stmt = conn.prepare(&statement.sql).map_err(from_duckdb)?;
        // Held whole until it is ordered, so held compact.
        let held = compact::stream(&mut stmt, &statement)?.collect::<Result<Vec<_>>>()?;
        let desc = self.query.order == Order::Desc;
        order_chunk(held, self.ranks, &series_at, time_at, desc)
    }
}

/// A connection, optionally inside a read transaction that pins its snapshot; the transaction ends when
/// the connection goes back (dropped).
pub struct Snapshot<C: Deref<Target = Connection>> {
    conn: C,
    open: bool,
}

impl<C: Deref<Target = Connection>> Snapshot<C> {
    /// No transaction: each statement reads the latest commit.
    pub fn plain(conn: C) -> Snapshot<C> {
        Snapshot { conn, open: false }
    }

    /// Begins a transaction and reads `table`'s catalog entry, which is when DuckDB fixes the snapshot.
    pub fn begin(conn: C, table: &str) -> Result<Snapshot<C>> {
        conn.execute_batch("BEGIN TRANSACTION")
            .map_err(from_duckdb)?;
        let pinned = Snapshot { conn, open: true };
        pinned
            .conn
            .execute_batch(&format!("SELECT 1 FROM {} LIMIT 0", quote(table)))
            .map_err(from_duckdb)?;
        Ok(pinned)
    }
}

impl<C: Deref<Target = Connection>> Deref for Snapshot<C> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl<C: Deref<Target = Connection>> Drop for Snapshot<C> {
    fn drop(&mut self) {
        if self.open {
            // Nothing was written: ending it cannot lose anything, and a pooled connection must not keep it.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(first: usize, last: usize, rows: u64, server_ordered: bool) -> Chunk {
        Chunk {
            first,
            last,
            rows,
            server_ordered,
        }
    }

    #[test]
    fn chunks_are_contiguous_ranges_within_the_row_budget() {
        assert_eq!(
            cut(&[3, 3, 3, 10, 1], 6),
            vec![
                chunk(0, 1, 6, false),
                chunk(2, 2, 3, false),
                chunk(3, 3, 10, true),
                chunk(4, 4, 1, false),
            ]
        );
        assert!(cut(&[], 6).is_empty());
    }

    #[test]
    fn rows_are_placed_by_rank_then_time() {
        // Interleaved series, each already in time order: the counting sort alone orders them.
        let rank = [1, 0, 1, 0, 2];
        let time = [10, 5, 20, 6, 1];
        assert_eq!(by_rank(&rank, &time, false), vec![1, 3, 0, 2, 4]);
        // A series out of time order falls back to sorting by (rank, time).
        let time = [20, 5, 10, 6, 1];
        assert_eq!(by_rank(&rank, &time, false), vec![1, 3, 2, 0, 4]);
        // Descending: time falls within a rank.
        let time = [20, 6, 10, 5, 1];
        assert_eq!(by_rank(&rank, &time, true), vec![1, 3, 0, 2, 4]);
    }
}
