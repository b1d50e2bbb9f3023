//! Resolved queries → TDengine SQL. Identifiers come only from the validated spec (and are backquoted, since
//! names like `open`, `close` and `level` are TDengine keywords). TDengine's WebSocket query path has no
//! server-side parameters for SELECT, so values are written as literals — but only from typed
//! [`Scalar`]s, never from caller text: numbers are formatted by Rust, strings go through [`escape`].
//! The same generators render `?` instead of each literal for slow-query logs ([`Render::Placeholders`]).

use quantdal_core::load::{Condition, Op, Order, Query, Scalar};
use quantdal_core::spec::KlineSource;
use quantdal_core::{Error, Interval, NeutralType, Result, TableSpec};

use crate::types::Layout;

/// Bars are aligned to 1970-01-05 00:00 UTC (a Monday), like every other store: epoch alignment for widths
/// that divide a day, Monday-start weeks.
pub const BAR_ORIGIN_SECONDS: i64 = 4 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Literals,
    Placeholders,
}

/// SQL text and how many values it carries (literals or `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub sql: String,
    pub parameters: usize,
}

pub fn ident(name: &str) -> String {
    format!("`{name}`")
}

pub fn stable_ref(layout: &Layout) -> String {
    format!("{}.{}", ident(&layout.database), ident(&layout.stable))
}

pub fn subtable_ref(layout: &Layout, table: &str) -> String {
    format!("{}.{}", ident(&layout.database), ident(table))
}

/// Escapes text for a single-quoted TDengine string literal (escapes per the TDengine 3 reference: `\'`,
/// `\"`, `\\`, `\n`, `\r`, `\t`). NUL cannot travel in SQL text and is refused.
pub fn escape(text: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\0' => return Err("string values cannot contain NUL characters".into()),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// A finite float as SQL text that parses back to the same value.
pub fn float_literal(v: f64) -> std::result::Result<String, String> {
    if v.is_finite() {
        Ok(format!("{v:?}"))
    } else {
        Err(format!(
            "{v} cannot be written to TDengine (only finite numbers)"
        ))
    }
}

/// The literal of a resolved value in TDengine's storage form: timestamps and dates as ticks of the database
/// precision, decimals as their unscaled integer.
pub fn scalar_literal(value: &Scalar, layout: &Layout) -> std::result::Result<String, String> {
    Ok(match value {
        Scalar::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Scalar::Int32(v) => v.to_string(),
        Scalar::Int64(v) => v.to_string(),
        Scalar::Float32(v) => float_literal(f64::from(*v))?,
        Scalar::Float64(v) => float_literal(*v)?,
        Scalar::Decimal(v, _, _) => i64::try_from(*v)
            .map_err(|_| format!("decimal {v} does not fit 18 digits"))?
            .to_string(),
        Scalar::Utf8(s) => escape(s)?,
        Scalar::Timestamp(t) => t.to_string(),
        Scalar::Date(d) => i64::from(*d)
            .checked_mul(layout.ticks_per_day())
            .ok_or_else(|| format!("date {d} is out of range"))?
            .to_string(),
    })
}

/// Accumulates SQL, writing each value as a literal or as `?`.
struct Writer<'a> {
    spec: &'a TableSpec,
    layout: &'a Layout,
    render: Render,
    parameters: usize,
}

impl Writer<'_> {
    fn value(&mut self, column: usize, value: &Scalar) -> Result<String> {
        self.parameters += 1;
        match self.render {
            Render::Placeholders => Ok("?".into()),
            Render::Literals => scalar_literal(value, self.layout).map_err(|m| {
                Error::invalid_query(m)
                    .with_class(self.spec.name.clone())
                    .with_column(self.spec.columns[column].name.clone())
            }),
        }
    }

    fn ticks(&mut self, ticks: i64) -> String {
        self.parameters += 1;
        match self.render {
            Render::Placeholders => "?".into(),
            Render::Literals => ticks.to_string(),
        }
    }

    fn condition(&mut self, c: &Condition) -> Result<String> {
        let column = ident(&self.spec.columns[c.column].name);
        Ok(match c.op {
            Op::IsNull | Op::IsNotNull => format!("{column} {}", c.op.sql()),
            Op::In => {
                let list = c
                    .values
                    .iter()
                    .map(|v| self.value(c.column, v))
                    .collect::<Result<Vec<_>>>()?;
                format!("{column} IN ({})", list.join(", "))
            }
            Op::Between => {
                let (Some(low), Some(high)) = (c.values.first(), c.values.get(1)) else {
                    return Err(Error::invalid_query("BETWEEN takes two values"));
                };
                let low = self.value(c.column, low)?;
                let high = self.value(c.column, high)?;
                format!("{column} BETWEEN {low} AND {high}")
            }
            op => {
                let Some(v) = c.values.first() else {
                    return Err(Error::invalid_query(format!("{op} takes one value")));
                };
                let v = self.value(c.column, v)?;
                format!("{column} {} {v}", op.sql())
            }
        })
    }

    /// Time bounds as ticks of the database precision (DATE bounds are days: converted to midnights).
    fn time_parts(&mut self, query: &Query) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(t) = &query.time {
            let is_date = self.spec.columns[t.column].data_type == NeutralType::Date;
            let per = if is_date {
                self.layout.ticks_per_day()
            } else {
                1
            };
            let column = ident(&self.spec.columns[t.column].name);
            if let Some(s) = t.start {
                let v = self.ticks(s.saturating_mul(per));
                parts.push(format!("{column} >= {v}"));
            }
            if let Some(e) = t.end {
                let v = self.ticks(e.saturating_mul(per));
                parts.push(format!("{column} < {v}"));
            }
        }
        parts
    }

    fn where_clause(&mut self, query: &Query) -> Result<String> {
        let mut parts = self.time_parts(query);
        for c in &query.conditions {
            parts.push(self.condition(c)?);
        }
        Ok(if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        })
    }
}

fn writer<'a>(spec: &'a TableSpec, layout: &'a Layout, render: Render) -> Writer<'a> {
    Writer {
        spec,
        layout,
        render,
        parameters: 0,
    }
}

fn names(spec: &TableSpec, columns: &[usize]) -> Vec<String> {
    columns
        .iter()
        .map(|&i| ident(&spec.columns[i].name))
        .collect()
}

/// Rows of the class: projected, filtered, ordered by series then time, limited.
pub fn select(spec: &TableSpec, layout: &Layout, query: &Query, render: Render) -> Result<Built> {
    let mut w = writer(spec, layout, render);
    let filter = w.where_clause(query)?;
    let dir = match query.order {
        Order::Asc => Some(""),
        Order::Desc => Some(" DESC"),
        Order::Unordered => None,
    };
    let order = match dir {
        Some(dir) => {
            let mut cols = layout.tags.clone();
            cols.push(layout.time);
            let list: Vec<String> = names(spec, &cols)
                .into_iter()
                .map(|c| format!("{c}{dir}"))
                .collect();
            format!(" ORDER BY {}", list.join(", "))
        }
        None => String::new(),
    };
    let limit = match query.limit {
        Some(n) => format!(" LIMIT {}", w.ticks(i64::try_from(n).unwrap_or(i64::MAX))),
        None => String::new(),
    };
    Ok(Built {
        sql: format!(
            "SELECT {} FROM {}{filter}{order}{limit}",
            names(spec, &query.columns).join(", "),
            stable_ref(layout)
        ),
        parameters: w.parameters,
    })
}

/// Rows per sub-table after a load's filters, with the sub-table's tags: the plan of an ordered load
/// ([`crate::ordered`]). Rows: TBNAME, each tag, COUNT(*).
pub fn series_counts(spec: &TableSpec, layout: &Layout, query: &Query) -> Result<Built> {
    let mut w = writer(spec, layout, Render::Literals);
    let filter = w.where_clause(query)?;
    let tags = names(spec, &layout.tags).join(", ");
    Ok(Built {
        sql: format!(
            "SELECT TBNAME, {tags}, COUNT(*) FROM {}{filter} PARTITION BY TBNAME, {tags}",
            stable_ref(layout)
        ),
        parameters: w.parameters,
    })
}

/// A load's rows of the named sub-tables, in whatever order the server scans them, with the time column and
/// TBNAME appended: the client puts them in order, which costs TDengine's sort operator nothing.
pub fn select_subtables(
    spec: &TableSpec,
    layout: &Layout,
    query: &Query,
    tables: &[String],
) -> Result<Built> {
    let mut w = writer(spec, layout, Render::Literals);
    let filter = w.where_clause(query)?;
    let list = tables
        .iter()
        .map(|t| escape(checked_subtable(t)?).map_err(Error::store))
        .collect::<Result<Vec<_>>>()?;
    let mut columns = names(spec, &query.columns);
    columns.push(ident(&spec.columns[layout.time].name));
    columns.push("TBNAME".into());
    Ok(Built {
        sql: format!(
            "SELECT {} FROM {}{filter}{} TBNAME IN ({})",
            columns.join(", "),
            stable_ref(layout),
            if filter.is_empty() { " WHERE" } else { " AND" },
            list.join(", ")
        ),
        parameters: w.parameters + list.len(),
    })
}

/// The columns `latest` fetches: every tag, the time column, then the projected data columns.
pub fn latest_columns(layout: &Layout, query: &Query) -> Vec<usize> {
    let mut cols = layout.tags.clone();
    cols.push(layout.time);
    cols.extend(
        query
            .columns
            .iter()
            .filter(|c| !cols.contains(c))
            .copied()
            .collect::<Vec<_>>(),
    );
    cols
}

/// Newest row of each sub-table after the filters. LAST_ROW keeps NULLs of that row; partitioning by the tags
/// too lets them be selected (they are constant within a sub-table). Order and limit are applied by the caller:
/// with PARTITION BY, TDengine's LIMIT counts rows per partition.
pub fn latest(spec: &TableSpec, layout: &Layout, query: &Query, render: Render) -> Result<Built> {
    let mut w = writer(spec, layout, render);
    let filter = w.where_clause(query)?;
    let select: Vec<String> = latest_columns(layout, query)
        .into_iter()
        .map(|i| {
            let name = ident(&spec.columns[i].name);
            if layout.is_tag(i) {
                name
            } else {
                format!("LAST_ROW({name})")
            }
        })
        .collect();
    Ok(Built {
        sql: format!(
            "SELECT {} FROM {}{filter} PARTITION BY TBNAME, {}",
            select.join(", "),
            stable_ref(layout),
            names(spec, &layout.tags).join(", ")
        ),
        parameters: w.parameters,
    })
}

/// `INTERVAL(<width>s[, <offset>s])`: the offset moves window starts from the epoch to the Monday origin.
/// Seconds, not `d`/`w` units, so windows never follow the client's time zone.
pub fn interval_clause(interval: Interval) -> String {
    let width = interval.seconds();
    let offset = BAR_ORIGIN_SECONDS.rem_euclid(width);
    if offset == 0 {
        format!("INTERVAL({width}s)")
    } else {
        format!("INTERVAL({width}s, {offset}s)")
    }
}

/// OHLCV bars per series: tags, `_wstart`, open, high, low, close, volume, [amount,] count. Amount is left out
/// when the source has none (the caller adds a null column). Decimal sources are unscaled BIGINTs: divided
/// back here so bars are in currency units.
pub fn kline(
    spec: &TableSpec,
    layout: &Layout,
    interval: Interval,
    query: &Query,
    render: Render,
) -> Result<Option<Built>> {
    let Some(source) = spec.kline.as_ref() else {
        return Ok(None);
    };
    let (open, high, low, close, volume, amount) = match source {
        KlineSource::Ticks {
            price,
            volume,
            amount,
        } => (price, price, price, price, volume, amount),
        KlineSource::Bars {
            open,
            high,
            low,
            close,
            volume,
            amount,
        } => (open, high, low, close, volume, amount),
    };
    let scaled = |f: &str, column: &str| -> String {
        let inner = format!("{f}({})", ident(column));
        match spec.column(column).map(|c| c.data_type) {
            Some(NeutralType::Decimal { scale, .. }) if scale > 0 => {
                format!("{inner} / 1e{scale}")
            }
            _ => inner,
        }
    };
    let mut w = writer(spec, layout, render);
    let filter = w.where_clause(query)?;
    let tags = names(spec, &layout.tags).join(", ");
    let mut select = vec![
        tags.clone(),
        "_wstart".to_string(),
        scaled("FIRST", open),
        scaled("MAX", high),
        scaled("MIN", low),
        scaled("LAST", close),
        scaled("SUM", volume),
    ];
    if let Some(a) = amount {
        select.push(scaled("SUM", a));
    }
    select.push("COUNT(*)".to_string());
    Ok(Some(Built {
        sql: format!(
            "SELECT {} FROM {}{filter} PARTITION BY {tags} {}",
            select.join(", "),
            stable_ref(layout),
            interval_clause(interval)
        ),
        parameters: w.parameters,
    }))
}

/// Rows matching `query` (or all rows).
pub fn count(spec: &TableSpec, layout: &Layout, query: Option<&Query>) -> Result<Built> {
    let mut w = writer(spec, layout, Render::Literals);
    let filter = match query {
        Some(q) => w.where_clause(q)?,
        None => String::new(),
    };
    Ok(Built {
        sql: format!("SELECT COUNT(*) FROM {}{filter}", stable_ref(layout)),
        parameters: w.parameters,
    })
}

/// What a delete runs. TDengine's DELETE filters on the timestamp column only, so tag filters pick the
/// sub-tables first and each is deleted by time range, and predicates on data columns pick the rows first
/// (sub-table and timestamp) and each sub-table deletes exactly those timestamps.
#[derive(Debug, Clone, PartialEq)]
pub enum DeletePlan {
    /// One statement on the super-table; `count` counts what it removes.
    Stable { count: Built, delete: Built },
    /// Every row of the class: `count` counts them, then every sub-table is dropped ([`drop_subtables`]).
    Everything { count: Built },
    /// `select` lists (sub-table, rows) matching the filters; each sub-table is then deleted with
    /// [`delete_subtable`], or dropped when `whole` (no time bound: the series goes entirely).
    Subtables { select: Built, whole: bool },
    /// `select` lists (sub-table, timestamp, matches) of every row in the range; each sub-table then deletes
    /// its runs of matching rows with [`delete_rows`].
    Rows { select: Built },
}

pub fn delete_plan(
    spec: &TableSpec,
    layout: &Layout,
    query: &Query,
    render: Render,
) -> Result<DeletePlan> {
    let by_data = query
        .conditions
        .iter()
        .any(|c| !layout.is_tag(c.column) && c.column != layout.time);
    if by_data {
        // Every row of the range (and tag filters) with a flag saying whether it matches: only runs of
        // consecutive matching rows can become DELETE ranges, so the rows that do not match are needed too.
        let (data, rest): (Vec<Condition>, Vec<Condition>) = query
            .conditions
            .iter()
            .cloned()
            .partition(|c| !layout.is_tag(c.column) && c.column != layout.time);
        let mut w = writer(spec, layout, render);
        let filter = w.where_clause(&Query {
            conditions: rest,
            ..query.clone()
        })?;
        let predicate = w.where_clause(&Query {
            time: None,
            conditions: data,
            ..query.clone()
        })?;
        let predicate = predicate.trim_start_matches(" WHERE ");
        return Ok(DeletePlan::Rows {
            select: Built {
                sql: format!(
                    "SELECT TBNAME, {}, CASE WHEN {predicate} THEN 1 ELSE 0 END FROM {}{filter}",
                    ident(&spec.columns[layout.time].name),
                    stable_ref(layout)
                ),
                parameters: w.parameters,
            },
        });
    }
    let has_tag_filter = query.conditions.iter().any(|c| layout.is_tag(c.column));
    let time_bounded =
        query.time.is_some() || query.conditions.iter().any(|c| c.column == layout.time);
    if !has_tag_filter && !time_bounded {
        return Ok(DeletePlan::Everything {
            count: count(spec, layout, None)?,
        });
    }
    let time_only = Query {
        conditions: query
            .conditions
            .iter()
            .filter(|c| c.column == layout.time)
            .cloned()
            .collect(),
        ..query.clone()
    };
    if !has_tag_filter {
        let mut w = writer(spec, layout, render);
        let filter = w.where_clause(&time_only)?;
        let mut c = writer(spec, layout, render);
        let count_filter = c.where_clause(&time_only)?;
        return Ok(DeletePlan::Stable {
            count: Built {
                sql: format!("SELECT COUNT(*) FROM {}{count_filter}", stable_ref(layout)),
                parameters: c.parameters,
            },
            delete: Built {
                sql: format!("DELETE FROM {}{filter}", stable_ref(layout)),
                parameters: w.parameters,
            },
        });
    }
    let mut w = writer(spec, layout, render);
    let filter = w.where_clause(query)?;
    Ok(DeletePlan::Subtables {
        select: Built {
            sql: format!(
                "SELECT TBNAME, COUNT(*) FROM {}{filter} PARTITION BY TBNAME",
                stable_ref(layout)
            ),
            parameters: w.parameters,
        },
        whole: !time_bounded,
    })
}

/// Sub-tables named in one `DROP TABLE`: the statement stays far under TDengine's 1 MiB SQL limit (a name is
/// at most 75 bytes, plus the database and `IF EXISTS`).
const DROP_PER_STATEMENT: usize = 1_000;

/// `DROP TABLE IF EXISTS db.a, IF EXISTS db.b, …` for whole series. A DELETE only writes tombstones (the rows'
/// space comes back at a compaction, which the community edition does not run); a dropped sub-table takes its
/// rows with it, and the next save of the series creates it again.
pub fn drop_subtables(layout: &Layout, tables: &[String]) -> Result<Vec<String>> {
    tables
        .chunks(DROP_PER_STATEMENT)
        .map(|chunk| {
            let names = chunk
                .iter()
                .map(|t| {
                    Ok(format!(
                        "IF EXISTS {}",
                        subtable_ref(layout, checked_subtable(t)?)
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(format!("DROP TABLE {}", names.join(", ")))
        })
        .collect()
}

fn checked_subtable(table: &str) -> Result<&str> {
    if table.is_empty()
        || !table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Error::store(format!(
            "unexpected sub-table name `{table}` from the server"
        )));
    }
    Ok(table)
}

/// Deletes exactly the matching rows of one sub-table. TDengine's DELETE takes one time window only, so each
/// run of consecutive matching rows (by time, with no non-matching row between) becomes one
/// `DELETE … WHERE ts >= first AND ts <= last`. `rows` are (timestamp in ticks, matches) for every row of the
/// sub-table in the delete's range, as the plan's select returned them; the ticks are written by Rust's
/// integer formatter.
pub fn delete_rows(
    spec: &TableSpec,
    layout: &Layout,
    table: &str,
    rows: &mut [(i64, bool)],
) -> Result<Vec<String>> {
    let table = checked_subtable(table)?;
    let column = ident(&spec.columns[layout.time].name);
    rows.sort_unstable_by_key(|r| r.0);
    let mut out = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    let mut flush = |run: &mut Option<(i64, i64)>| {
        if let Some((first, last)) = run.take() {
            out.push(format!(
                "DELETE FROM {} WHERE {column} >= {first} AND {column} <= {last}",
                subtable_ref(layout, table)
            ));
        }
    };
    for &(ts, matches) in rows.iter() {
        if matches {
            run = Some(match run {
                Some((first, _)) => (first, ts),
                None => (ts, ts),
            });
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    Ok(out)
}

/// Deletes one sub-table's rows in the query's time range (and timestamp predicates).
pub fn delete_subtable(
    spec: &TableSpec,
    layout: &Layout,
    table: &str,
    query: &Query,
    render: Render,
) -> Result<Built> {
    let table = checked_subtable(table)?;
    let time_only = Query {
        conditions: query
            .conditions
            .iter()
            .filter(|c| c.column == layout.time)
            .cloned()
            .collect(),
        ..query.clone()
    };
    let mut w = writer(spec, layout, render);
    let filter = w.where_clause(&time_only)?;
    Ok(Built {
        sql: format!("DELETE FROM {}{filter}", subtable_ref(layout, table)),
        parameters: w.parameters,
    })
}

/// The stmt template of a save: sub-table name, tags and one row of columns are bound.
pub fn insert_template(spec: &TableSpec, layout: &Layout) -> Built {
    let tags = names(spec, &layout.tags);
    let cols = names(spec, &layout.insert_columns());
    let marks = |n: usize| vec!["?"; n].join(", ");
    Built {
        sql: format!(
            "INSERT INTO ? USING {} ({}) TAGS ({}) ({}) VALUES ({})",
            stable_ref(layout),
            tags.join(", "),
            marks(tags.len()),
            cols.join(", "),
            marks(cols.len())
        ),
        parameters: 1 + tags.len() + cols.len(),
    }
}

/// `<db>.<sub-table> USING <db>.<stable> (tags) TAGS (literals) (columns) VALUES `: the head of one
/// sub-table's rows in a multi-table INSERT (the fallback path).
pub fn insert_head(
    spec: &TableSpec,
    layout: &Layout,
    table: &str,
    tag_literals: &[String],
) -> String {
    format!(
        "{} USING {} ({}) TAGS ({}) ({}) VALUES ",
        subtable_ref(layout, table),
        stable_ref(layout),
        names(spec, &layout.tags).join(", "),
        tag_literals.join(", "),
        names(spec, &layout.insert_columns()).join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_quotes_backslashes_and_controls() {
        assert_eq!(escape("abc").unwrap(), "'abc'");
        assert_eq!(escape("").unwrap(), "''");
        assert_eq!(escape("it's").unwrap(), r"'it\'s'");
        assert_eq!(escape(r"a\b").unwrap(), r"'a\\b'");
        assert_eq!(escape(r"\'").unwrap(), r"'\\\''");
        assert_eq!(escape("\"q\"").unwrap(), r#"'\"q\"'"#);
        assert_eq!(escape("l1\nl2\r\t").unwrap(), r"'l1\nl2\r\t'");
        assert_eq!(escape("50%_x").unwrap(), "'50%_x'");
        assert_eq!(escape("平安").unwrap(), "'平安'");
        assert!(escape("a\0b").is_err());
        // An injection attempt stays one literal.
        assert_eq!(
            escape("x'); DROP DATABASE market; --").unwrap(),
            r"'x\'); DROP DATABASE market; --'"
        );
    }

    /// Reads back an escaped literal the way TDengine's lexer does, so escape ∘ unescape = id.
    fn unescape(literal: &str) -> String {
        let body = &literal[1..literal.len() - 1];
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                assert_ne!(c, '\'', "unescaped quote in {literal}");
                out.push(c);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escape_round_trips(text in "[^\u{0}]{0,40}") {
            let literal = escape(&text).unwrap();
            proptest::prop_assert_eq!(unescape(&literal), text);
        }
    }

    #[test]
    fn floats_round_trip_and_refuse_non_finite() {
        for v in [
            0.0,
            -0.0,
            1.0,
            10.5,
            1e-7,
            1.7976931348623157e308,
            0.1 + 0.2,
        ] {
            let text = float_literal(v).unwrap();
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert!(
                text.contains('.') || text.contains('e'),
                "{text} reads as a float"
            );
        }
        assert!(float_literal(f64::NAN).is_err());
        assert!(float_literal(f64::INFINITY).is_err());
    }

    #[test]
    fn interval_offsets_align_to_monday() {
        let i = |s: &str| s.parse::<Interval>().unwrap();
        assert_eq!(interval_clause(i("1m")), "INTERVAL(60s)");
        assert_eq!(interval_clause(i("1d")), "INTERVAL(86400s)");
        assert_eq!(interval_clause(i("7d")), "INTERVAL(604800s, 345600s)");
        assert_eq!(interval_clause(i("90m")), "INTERVAL(5400s)");
        assert_eq!(interval_clause(i("7m")), "INTERVAL(420s, 360s)");
    }
}
