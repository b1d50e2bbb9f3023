//! Read-only SQL with guardrails: the one way caller SQL reaches a store (`quantdal sql`, the dashboard's
//! data explorer, `Dal::sql`).
//!
//! A statement is parsed (sqlparser) and refused before any store sees it unless it is exactly one SELECT /
//! WITH query whose every table is a declared class, a `lake:` view or one of its own CTEs. Table-valued
//! functions, `SELECT … INTO`, row locks, data-modifying CTEs, schema-qualified names (system catalogs) and
//! functions that reach outside the data (files, settings, sequences, other sessions) are refused, naming
//! what was refused. Class names are rewritten to the table they have on the store that holds them; a query
//! whose classes live on different stores is refused, naming them. A LIMIT one above the row limit is added
//! (or lowered to it), and the store runs the statement on a read-only connection or transaction with the
//! statement timeout (DuckDB: `BEGIN TRANSACTION READ ONLY` and an interrupt; PostgreSQL: a READ ONLY
//! transaction with `statement_timeout`; TDengine, which has no read-only transaction, relies on the guard and
//! stops reading at the deadline).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use futures::StreamExt;
use quantdal_core::{
    Error, ErrorKind, LakeView, Result, SqlDialect, SqlRequest, Store, StoreKind, TableSpec,
};
use serde::Serialize;
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, LimitClause, ObjectName, ObjectNamePart, Query,
    Select, SetExpr, Statement, TableAlias, TableFactor, TableFunctionArgs, Value, ValueWithSpan,
    Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::dialect::{Dialect, DuckDbDialect, GenericDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::Dal;

/// Function-name prefixes refused anywhere in a statement: they read files or server settings, call out of
/// the data (other sessions, other databases, SQL given as text), or change state that a read-only
/// transaction does not protect (sequences, extensions).
const REFUSED_FUNCTIONS: &[&str] = &[
    "pg_",
    "lo_",
    "dblink",
    "query_to_",
    "database_to_",
    "schema_to_",
    "table_to_",
    "cursor_to_",
    "current_setting",
    "set_config",
    "nextval",
    "setval",
    "currval",
    "lastval",
    "txid_",
    "duckdb_",
    "pragma_",
    "read_",
    "glob",
    "getenv",
    "sqlite_",
    "parquet_",
    "install_",
    "load_",
    "enable_",
    "disable_",
    "checkpoint",
    "force_checkpoint",
    "export_",
    "import_",
    "json_execute",
    "sql_auto_complete",
    "which_secret",
    "icu_",
];

/// Limits of one statement, from `sql:` in quantdal.yaml unless the caller overrides them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlOptions {
    pub max_rows: Option<u64>,
    pub timeout: Option<Duration>,
}

/// A statement's result, at most `max_rows` rows.
#[derive(Debug, Clone)]
pub struct SqlOutput {
    /// The store that ran it (`lake` for lake views alone, on an in-memory DuckDB).
    pub store: String,
    pub kind: StoreKind,
    /// The statement as the store received it (class names rewritten, limit added).
    pub statement: String,
    pub classes: Vec<String>,
    pub lake: Vec<String>,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    /// More rows matched than the limit: only the first `max_rows` are here.
    pub truncated: bool,
    pub max_rows: u64,
    pub elapsed: Duration,
}

/// What a statement refers to, for the JSON output and the explorer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlSummary {
    pub store: String,
    pub kind: String,
    pub statement: String,
    pub classes: Vec<String>,
    pub lake: Vec<String>,
    pub rows: u64,
    pub truncated: bool,
    pub max_rows: u64,
    pub elapsed_ms: f64,
}

impl SqlOutput {
    pub fn summary(&self) -> SqlSummary {
        SqlSummary {
            store: self.store.clone(),
            kind: self.kind.to_string(),
            statement: self.statement.clone(),
            classes: self.classes.clone(),
            lake: self.lake.clone(),
            rows: self.rows,
            truncated: self.truncated,
            max_rows: self.max_rows,
            elapsed_ms: self.elapsed.as_secs_f64() * 1e3,
        }
    }
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::invalid_query(format!("refused: {why}"))
}

fn dialect_of(d: SqlDialect) -> Box<dyn Dialect> {
    match d {
        SqlDialect::Duckdb => Box::new(DuckDbDialect {}),
        SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
        // TDengine lexes like MySQL: backquoted identifiers, `'…'` and `"…"` both strings.
        SqlDialect::Tdengine => Box::new(MySqlDialect {}),
    }
}

/// The identifier quote of a store's SQL, for the names the rewrite writes.
fn quote_of(d: SqlDialect) -> char {
    match d {
        SqlDialect::Duckdb | SqlDialect::Postgres => '"',
        SqlDialect::Tdengine => '`',
    }
}

/// Literals TDengine reads exactly as sqlparser prints them: numbers, booleans, NULL, and strings without
/// quotes or backslashes (sqlparser doubles a quote, TDengine escapes with a backslash, so such a string would
/// not mean the same on both sides).
struct TdengineLiterals;

impl Visitor for TdengineLiterals {
    type Break = Error;

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<Error> {
        match &value.value {
            Value::Number(..) | Value::Boolean(_) | Value::Null => ControlFlow::Continue(()),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                if s.contains(['\\', '\'', '"']) {
                    ControlFlow::Break(refused(format!(
                        "the string literal `{s}` holds a quote or backslash, which TDengine escapes differently; \
                         match it another way (e.g. LIKE with `_`)"
                    )))
                } else {
                    ControlFlow::Continue(())
                }
            }
            other => ControlFlow::Break(refused(format!(
                "the literal `{other}` is not supported on TDengine (numbers, strings, booleans and NULL are)"
            ))),
        }
    }
}

/// Parses `text` and checks it is one read-only query (the shape checks only; names are resolved later).
pub fn parse(text: &str, dialect: &dyn Dialect) -> Result<Query> {
    let mut statements = Parser::parse_sql(dialect, text)
        .map_err(|e| Error::invalid_query(format!("cannot parse the statement: {e}")))?;
    match statements.len() {
        0 => return Err(refused("no statement given")),
        1 => {}
        n => {
            return Err(refused(format!(
                "{n} statements given; the SQL command runs exactly one SELECT"
            )))
        }
    }
    let statement = statements.remove(0);
    let query = match statement {
        Statement::Query(q) => q,
        other => {
            let text = other.to_string();
            let verb: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(refused(format!(
                "`{verb} …` is not a query; only SELECT and WITH … SELECT are allowed (the SQL command is \
                 read-only)"
            )));
        }
    };
    let mut shape = ShapeCheck::default();
    if let ControlFlow::Break(e) = query.visit(&mut shape) {
        return Err(e);
    }
    Ok(*query)
}

/// Refuses what may not appear anywhere in a query, and collects its CTE names and table references.
#[derive(Default)]
struct ShapeCheck {
    ctes: BTreeSet<String>,
    /// Table references that are not CTE names, as written (single identifiers).
    tables: Vec<(String, bool)>,
}

fn ident_name(ident: &Ident) -> String {
    // Unquoted identifiers fold to lower case, as both stores do.
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn single_name(name: &ObjectName) -> Option<(String, bool)> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some((ident_name(i), i.quote_style.is_some())),
        _ => None,
    }
}

impl Visitor for ShapeCheck {
    type Break = Error;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Error> {
        // The top-level statement is a Query (checked before visiting); any statement inside it is DML in a
        // CTE or a subquery.
        ControlFlow::Break(refused(format!(
            "a query may not contain other statements (`{}`)",
            statement.to_string().chars().take(40).collect::<String>()
        )))
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Error> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(ident_name(&cte.alias.name));
            }
        }
        if !query.locks.is_empty() {
            return ControlFlow::Break(refused(
                "FOR UPDATE / FOR SHARE takes row locks; the SQL command only reads",
            ));
        }
        if query.for_clause.is_some()
            || query.settings.is_some()
            || query.format_clause.is_some()
            || !query.pipe_operators.is_empty()
        {
            return ControlFlow::Break(refused(
                "FOR XML/JSON, SETTINGS, FORMAT and pipe operators are not supported",
            ));
        }
        match query.body.as_ref() {
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                ControlFlow::Break(refused("a query may not insert, update, delete or merge"))
            }
            SetExpr::Table(_) => ControlFlow::Break(refused(
                "`TABLE name` is not supported; write SELECT * FROM name",
            )),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Error> {
        if select.into.is_some() {
            return ControlFlow::Break(refused(
                "SELECT … INTO creates a table; the SQL command only reads",
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Error> {
        match factor {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                index_directives,
                ..
            } => {
                if args.is_some() {
                    return ControlFlow::Break(refused(format!(
                        "table function `{name}(…)`: only classes, lake views and CTEs can be read"
                    )));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || !index_directives.is_empty()
                {
                    return ControlFlow::Break(refused(format!(
                        "table hints, versions and partitions on `{name}` are not supported"
                    )));
                }
                match single_name(name) {
                    Some(n) => self.tables.push(n),
                    None => {
                        return ControlFlow::Break(Error::new(
                            ErrorKind::UnknownClass,
                            format!(
                                "refused: `{name}` is not a class, lake view or CTE (name classes and lake \
                                 views without a schema; system catalogs cannot be read)"
                            ),
                        ))
                    }
                }
                ControlFlow::Continue(())
            }
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. } => ControlFlow::Continue(()),
            other => ControlFlow::Break(refused(format!(
                "`{}` is not a table the SQL command can read (only classes, lake views and CTEs)",
                other.to_string().chars().take(60).collect::<String>()
            ))),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
        if let Expr::Function(f) = expr {
            let parts = &f.name.0;
            let Some(ObjectNamePart::Identifier(last)) = parts.last() else {
                return ControlFlow::Break(refused(format!("function `{}`", f.name)));
            };
            if parts.len() > 1 {
                return ControlFlow::Break(refused(format!(
                    "schema-qualified function `{}`: call functions by their plain name",
                    f.name
                )));
            }
            let name = last.value.to_lowercase();
            if let Some(p) = REFUSED_FUNCTIONS.iter().find(|p| name.starts_with(**p)) {
                return ControlFlow::Break(refused(format!(
                    "function `{name}` ({p}…) reaches outside the data; the SQL command only reads classes \
                     and lake views"
                )));
            }
        }
        ControlFlow::Continue(())
    }
}

/// What a table name in a statement stands for.
#[derive(Debug, Clone)]
enum Target {
    /// A class: its table's name on its store, as identifier parts.
    Class(Vec<String>),
    /// A lake view: the table function expression's token.
    Lake(u64),
}

/// Rewrites class and lake names to what the store reads, and caps the outer LIMIT.
struct Rewrite<'a> {
    targets: &'a BTreeMap<String, Target>,
    ctes: &'a BTreeSet<String>,
    /// The store's identifier quote.
    quote: char,
}

impl VisitorMut for Rewrite<'_> {
    type Break = Error;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        let TableFactor::Table {
            name, alias, args, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some((written, _)) = single_name(name) else {
            return ControlFlow::Continue(());
        };
        if self.ctes.contains(&written) {
            return ControlFlow::Continue(());
        }
        let Some(target) = self.targets.get(&written) else {
            return ControlFlow::Continue(());
        };
        // Keep the name the query used visible (`daily_kline.close`), whatever the table is called.
        if alias.is_none() {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::with_quote(self.quote, written.clone()),
                columns: Vec::new(),
                at: None,
            });
        }
        match target {
            Target::Class(parts) => {
                *name = ObjectName::from(
                    parts
                        .iter()
                        .map(|p| Ident::with_quote(self.quote, p.clone()))
                        .collect::<Vec<_>>(),
                );
            }
            Target::Lake(token) => {
                *name = ObjectName::from(vec![Ident::new(quantdal_duckdb::lake::LAKE_SCAN)]);
                *args = Some(TableFunctionArgs {
                    args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                        Value::Number(token.to_string(), false),
                    )))],
                    settings: None,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// Sets the outer LIMIT to at most `cap` rows (a literal limit below it is kept).
fn cap_limit(query: &mut Query, cap: u64) {
    let capped = || Some(Expr::value(Value::Number(cap.to_string(), false)));
    match &mut query.limit_clause {
        None if query.fetch.is_none() => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: capped(),
                offset: None,
                limit_by: Vec::new(),
            });
        }
        Some(LimitClause::LimitOffset { limit, .. }) => match limit {
            None => *limit = capped(),
            Some(Expr::Value(v)) => {
                if let Value::Number(n, _) = &v.value {
                    if n.parse::<u64>().map(|n| n > cap).unwrap_or(true) {
                        *limit = capped();
                    }
                }
            }
            // An expression limit stays; the reader stops at the row limit anyway.
            Some(_) => {}
        },
        _ => {}
    }
}

/// The table names a statement reads (not its CTEs), from a first parse in the broadest grammar.
fn referenced(text: &str) -> Result<(Vec<String>, BTreeSet<String>)> {
    let dialects: [Box<dyn Dialect>; 3] = [
        Box::new(GenericDialect {}),
        Box::new(DuckDbDialect {}),
        Box::new(PostgreSqlDialect {}),
    ];
    let mut first_error = None;
    for d in &dialects {
        match parse(text, d.as_ref()) {
            Ok(query) => {
                let mut shape = ShapeCheck::default();
                let _ = query.visit(&mut shape);
                let tables = shape
                    .tables
                    .into_iter()
                    .map(|(n, _)| n)
                    .filter(|n| !shape.ctes.contains(n))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                return Ok((tables, shape.ctes));
            }
            // A refusal is the same in every grammar; only parse errors justify trying the next.
            Err(e) if !e.message().starts_with("cannot parse") => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| refused("no statement given")))
}

impl Dal {
    /// Runs one read-only SELECT over classes (on the store that holds them) and lake views, with the
    /// guardrails of this module; at most `max_rows` rows come back.
    pub async fn sql(&self, text: &str, options: SqlOptions) -> Result<SqlOutput> {
        let started = Instant::now();
        let settings = &self.config().settings;
        let max_rows = options.max_rows.unwrap_or(settings.sql.max_rows).max(1);
        let timeout = options
            .timeout
            .unwrap_or(Duration::from_millis(settings.sql.timeout_ms));
        let (names, ctes) = referenced(text)?;
        let mut classes: Vec<(String, Arc<TableSpec>, Arc<dyn Store>)> = Vec::new();
        let mut lake: Vec<&LakeView> = Vec::new();
        for name in &names {
            let class = self.config().catalog.get(name);
            let view = settings.lake.get(name);
            match (class, view) {
                (Some(_), Some(_)) => {
                    return Err(Error::config(format!(
                        "`{name}` is both a class and a lake view; rename the lake view in quantdal.yaml"
                    )))
                }
                (Some(_), None) => {
                    let (spec, store) = self.store_for(name)?;
                    classes.push((name.clone(), spec, store));
                }
                (None, Some(v)) => lake.push(v),
                (None, None) => {
                    let known: Vec<&str> = self
                        .config()
                        .catalog
                        .classes()
                        .iter()
                        .map(|c| c.name.as_str())
                        .chain(settings.lake.keys().map(String::as_str))
                        .collect();
                    return Err(Error::new(
                        ErrorKind::UnknownClass,
                        format!(
                            "refused: `{name}` is not a class or lake view (known: {})",
                            known.join(", ")
                        ),
                    ))
                }
            }
        }
        // One store answers the whole statement.
        let mut stores: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (class, _, store) in &classes {
            stores
                .entry(store.info().name.clone())
                .or_default()
                .push(class.clone());
        }
        let describe = |stores: &BTreeMap<String, Vec<String>>| {
            stores
                .iter()
                .map(|(s, cs)| {
                    let kind = settings
                        .stores
                        .get(s)
                        .map(|st| st.kind.to_string())
                        .unwrap_or_default();
                    format!("{} on `{s}` ({kind})", cs.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        if stores.len() > 1 {
            return Err(refused(format!(
                "the query spans stores: {}; a statement reads one store (copy a class with `quantdal copy` \
                 to join it)",
                describe(&stores)
            )));
        }
        let target: Arc<dyn Store> = match classes.first() {
            Some((_, _, store)) => store.clone(),
            None => Arc::new(quantdal_duckdb::DuckDbStore::open(
                "lake",
                quantdal_duckdb::DuckDbOptions {
                    pool_size: 1,
                    ..Default::default()
                },
            )?),
        };
        let info = target.info().clone();
        let dialect = info.capabilities.sql.ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "store `{}` ({}) has no SQL entry point; classes on it cannot be queried with SQL",
                    info.name, info.kind
                ),
            )
        })?;
        if !lake.is_empty() && dialect != SqlDialect::Duckdb {
            return Err(refused(format!(
                "lake views are read through DuckDB, but {} (copy the class to an embedded store to join it \
                 with lake views)",
                describe(&stores)
            )));
        }
        // Registered for this statement only: the scan reads nothing but the configured files.
        let registrations = lake
            .iter()
            .map(|v| quantdal_duckdb::lake::LakeRegistration::new(v).map(|r| (v.name.clone(), r)))
            .collect::<Result<Vec<_>>>()?;
        let mut targets: BTreeMap<String, Target> = BTreeMap::new();
        for (class, spec, _) in &classes {
            let store_settings = settings
                .stores
                .get(&info.name)
                .ok_or_else(|| Error::config(format!("store `{}` is not configured", info.name)))?;
            let parts = crate::backends::of(store_settings)?.sql_relation(store_settings, spec);
            targets.insert(class.clone(), Target::Class(parts));
        }
        for (name, r) in &registrations {
            targets.insert(name.clone(), Target::Lake(r.token()));
        }
        let mut query = parse(text, dialect_of(dialect).as_ref())?;
        if dialect == SqlDialect::Tdengine {
            if let ControlFlow::Break(e) = query.visit(&mut TdengineLiterals) {
                return Err(e);
            }
        }
        if let ControlFlow::Break(e) = VisitMut::visit(
            &mut query,
            &mut Rewrite {
                targets: &targets,
                ctes: &ctes,
                quote: quote_of(dialect),
            },
        ) {
            return Err(e);
        }
        cap_limit(&mut query, max_rows.saturating_add(1));
        let statement = query.to_string();
        let request = SqlRequest {
            sql: statement.clone(),
            max_rows,
            timeout,
        };
        let mut stream = target.sql(&request).await?;
        let mut batches = Vec::new();
        let mut rows = 0u64;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = label_utc(batch?)?;
            let left = max_rows - rows;
            if batch.num_rows() as u64 > left {
                batches.push(batch.slice(0, left as usize));
                rows = max_rows;
                truncated = true;
                break;
            }
            rows += batch.num_rows() as u64;
            if batch.num_rows() > 0 || batches.is_empty() {
                batches.push(batch);
            }
        }
        drop(stream);
        drop(registrations);
        Ok(SqlOutput {
            store: info.name.clone(),
            kind: info.kind,
            statement,
            classes: classes.iter().map(|(c, _, _)| c.clone()).collect(),
            lake: lake.iter().map(|v| v.name.clone()).collect(),
            batches,
            rows,
            truncated,
            max_rows,
            elapsed: started.elapsed(),
        })
    }
}

/// Every store keeps time in UTC, and a naive timestamp column in a result (DuckDB's `TIMESTAMP`, or an
/// expression over one) is labelled UTC, so SQL results carry the same time zone as loads.
fn label_utc(batch: RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, None)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, None) => {
                let utc = DataType::Timestamp(*unit, Some("UTC".into()));
                // Naive to UTC is a relabelling: the values do not change.
                columns.push(arrow::compute::cast(column, &utc)?);
                fields.push(field.as_ref().clone().with_data_type(utc));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Query> {
        parse(text, &DuckDbDialect {})
    }

    fn refused_with(text: &str, needle: &str) {
        match check(text) {
            Ok(q) => panic!("accepted: {text} -> {q}"),
            Err(e) => assert!(
                e.to_string().contains(needle),
                "{text}: expected `{needle}` in {e}"
            ),
        }
    }

    #[test]
    fn only_one_select() {
        assert!(check("SELECT * FROM tick_data WHERE price > 1").is_ok());
        assert!(check("WITH x AS (SELECT 1 AS a) SELECT a FROM x").is_ok());
        refused_with("DELETE FROM tick_data", "not a query");
        refused_with("DROP TABLE tick_data", "not a query");
        refused_with("INSERT INTO tick_data VALUES (1)", "not a query");
        refused_with("UPDATE t SET a = 1", "not a query");
        refused_with("SELECT 1; DROP TABLE t", "2 statements");
        refused_with("COPY t TO '/tmp/x.csv'", "not a query");
        refused_with("ATTACH 'x.db' AS x", "not a query");
        refused_with("SET memory_limit = '1GB'", "not a query");
        refused_with("", "no statement");
    }

    #[test]
    fn nothing_reaches_outside() {
        refused_with("SELECT * FROM read_csv('/etc/passwd')", "table function");
        refused_with("SELECT * FROM generate_series(1, 3)", "table function");
        refused_with("SELECT * FROM information_schema.tables", "system catalogs");
        refused_with("SELECT * FROM main.tick_data", "system catalogs");
        refused_with("SELECT pg_sleep(10)", "pg_sleep");
        refused_with(
            "SELECT * FROM t WHERE a IN (SELECT pg_read_file('x'))",
            "pg_read_file",
        );
        refused_with("SELECT current_setting('x')", "current_setting");
        refused_with("SELECT nextval('s')", "nextval");
        refused_with("SELECT pg_catalog.now()", "schema-qualified");
        refused_with("SELECT * INTO t2 FROM t", "INTO");
        refused_with("SELECT * FROM t FOR UPDATE", "FOR UPDATE");
        let q = parse(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            &PostgreSqlDialect {},
        );
        assert!(q.is_err(), "{q:?}");
    }

    #[test]
    fn names_and_limits() {
        let (names, ctes) = referenced(
            "WITH w AS (SELECT * FROM tick_data) SELECT * FROM w JOIN Symbols s ON true",
        )
        .unwrap();
        assert_eq!(names, vec!["symbols".to_string(), "tick_data".to_string()]);
        assert!(ctes.contains("w"));
        let mut q = check("SELECT * FROM tick_data AS t").unwrap();
        let targets = BTreeMap::from([(
            "tick_data".to_string(),
            Target::Class(vec!["public".into(), "ticks".into()]),
        )]);
        let _ = VisitMut::visit(
            &mut q,
            &mut Rewrite {
                targets: &targets,
                ctes: &BTreeSet::new(),
                quote: '"',
            },
        );
        cap_limit(&mut q, 11);
        assert_eq!(
            q.to_string(),
            "SELECT * FROM \"public\".\"ticks\" AS t LIMIT 11"
        );
        let mut q = check("SELECT count(*) FROM tick_data LIMIT 5").unwrap();
        let _ = VisitMut::visit(
            &mut q,
            &mut Rewrite {
                targets: &targets,
                ctes: &BTreeSet::new(),
                quote: '"',
            },
        );
        cap_limit(&mut q, 11);
        assert_eq!(
            q.to_string(),
            "SELECT count(*) FROM \"public\".\"ticks\" AS \"tick_data\" LIMIT 5"
        );
        let mut q = check("SELECT * FROM v LIMIT 100").unwrap();
        let lake = BTreeMap::from([("v".to_string(), Target::Lake(7))]);
        let _ = VisitMut::visit(
            &mut q,
            &mut Rewrite {
                targets: &lake,
                ctes: &BTreeSet::new(),
                quote: '"',
            },
        );
        cap_limit(&mut q, 11);
        assert_eq!(
            q.to_string(),
            "SELECT * FROM quantdal_lake_scan(7) AS \"v\" LIMIT 11"
        );
    }

    #[test]
    fn tdengine_names_are_backquoted_and_strings_kept_exact() {
        let tdengine = dialect_of(SqlDialect::Tdengine);
        let mut q = parse(
            "SELECT symbol, count(*) FROM tick_data WHERE symbol = \"600000.SH\" AND `close` > 1 GROUP BY symbol",
            tdengine.as_ref(),
        )
        .unwrap();
        assert!(q.visit(&mut TdengineLiterals).is_continue());
        let targets = BTreeMap::from([(
            "tick_data".to_string(),
            Target::Class(vec!["market".into(), "tick_data".into()]),
        )]);
        let _ = VisitMut::visit(
            &mut q,
            &mut Rewrite {
                targets: &targets,
                ctes: &BTreeSet::new(),
                quote: quote_of(SqlDialect::Tdengine),
            },
        );
        cap_limit(&mut q, 11);
        assert_eq!(
            q.to_string(),
            "SELECT symbol, count(*) FROM `market`.`tick_data` AS `tick_data` WHERE symbol = \"600000.SH\" \
             AND `close` > 1 GROUP BY symbol LIMIT 11"
        );
        for text in [
            "SELECT * FROM tick_data WHERE symbol = 'a\\'b'",
            "SELECT * FROM tick_data WHERE symbol = 'a''b'",
            "SELECT * FROM tick_data WHERE symbol = X'00'",
        ] {
            let q = parse(text, tdengine.as_ref()).unwrap();
            assert!(q.visit(&mut TdengineLiterals).is_break(), "{text}");
        }
    }
}
