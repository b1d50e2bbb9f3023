//! The data explorer and coverage endpoints. This crate cannot read the data stores itself (the facade
//! depends on it, not the other way round), so the serving process hands in a [`DataAccess`]; `quantdal
//! serve` implements it over a read-only `Dal` opened per request.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::json::writer::JsonArray;
use arrow::json::{StructMode, WriterBuilder};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::Json;
use quantdal_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, ApiResult, Dashboard};

/// Coverage grids wider than this are refused: the page draws one cell per series and day.
pub const MAX_COVERAGE_DAYS: u32 = 250;

/// Reads the data stores for the explorer and the coverage view, with the guardrails of the SQL command.
#[async_trait]
pub trait DataAccess: Send + Sync {
    /// One guarded read-only statement (refusals are `InvalidQuery` errors whose message starts with
    /// `refused:`; a cancelled one is `Timeout`).
    async fn sql(&self, text: &str) -> Result<SqlAnswer>;
    /// Per class: store, rows, series, first / last time (the JSON of `quantdal overview`).
    async fn overview(&self) -> Result<Value>;
    /// Series × the last `days` trading days of `class`, with gaps and stale series.
    async fn coverage(&self, class: &str, days: u32) -> Result<Value>;
}

/// What a statement returned: its batches (at most the row limit) and the summary of what ran where.
#[derive(Debug, Clone)]
pub struct SqlAnswer {
    pub batches: Vec<RecordBatch>,
    pub summary: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlBody {
    sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// `POST /api/sql`: the columns, the rows as JSON arrays (one value per column, so repeated column names
/// survive) and the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlResponse {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Value>,
    pub summary: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageParams {
    class: String,
    days: Option<u32>,
}

fn data(d: &Dashboard) -> std::result::Result<&Arc<dyn DataAccess>, ApiError> {
    d.data.as_ref().ok_or_else(|| {
        ApiError(Error::new(
            ErrorKind::Unsupported,
            "this dashboard has no access to the data stores (Dashboard::with_data)",
        ))
    })
}

pub(super) async fn sql(
    State(d): State<Dashboard>,
    Json(body): Json<SqlBody>,
) -> ApiResult<SqlResponse> {
    let answer = data(&d)?.sql(&body.sql).await?;
    Ok(Json(SqlResponse {
        columns: columns(&answer.batches),
        rows: rows_json(&answer.batches)?,
        summary: answer.summary,
    }))
}

pub(super) async fn overview(State(d): State<Dashboard>) -> ApiResult<Value> {
    Ok(Json(data(&d)?.overview().await?))
}

pub(super) async fn coverage(
    State(d): State<Dashboard>,
    Query(p): Query<CoverageParams>,
) -> ApiResult<Value> {
    let days = p.days.unwrap_or(20);
    if days == 0 || days > MAX_COVERAGE_DAYS {
        return Err(ApiError(Error::invalid_query(format!(
            "days must be 1 to {MAX_COVERAGE_DAYS}, not {days}"
        ))));
    }
    Ok(Json(data(&d)?.coverage(&p.class, days).await?))
}

fn columns(batches: &[RecordBatch]) -> Vec<ColumnInfo> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Rows as JSON arrays through Arrow's JSON writer (numbers stay numbers, timestamps become ISO text);
/// a batch holding a type the writer cannot encode is written as Arrow's display text instead.
pub fn rows_json(batches: &[RecordBatch]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let bytes = match encode(batch) {
            Ok(b) => b,
            Err(_) => encode(&as_text(batch)?)?,
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(rows)) => out.extend(rows),
            Ok(other) => return Err(Error::store(format!("unexpected JSON rows: {other}"))),
            Err(e) => return Err(Error::store(format!("cannot read the JSON rows: {e}"))),
        }
    }
    Ok(out)
}

fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    // ListOnly writes each row as `[v1, v2, …]` with explicit nulls.
    let mut writer = WriterBuilder::new()
        .with_struct_mode(StructMode::ListOnly)
        .build::<_, JsonArray>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner())
}

fn as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let options = FormatOptions::new().with_null("");
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let f = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let values: StringArray = (0..column.len())
            .map(|i| (!column.is_null(i)).then(|| f.value(i).to_string()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        arrays.push(Arc::new(values));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, TimestampNanosecondArray};
    use axum::response::IntoResponse;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("symbol", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            // A repeated name, as `SELECT a.n, b.n` gives: rows as arrays keep both.
            Field::new("n", DataType::Float64, true),
            Field::new(
                "ts",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![Some("000001.SZ"), None])),
                Arc::new(Int64Array::from(vec![Some(3), Some(4)])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(1_704_182_400_000_000_000), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_are_arrays_with_typed_values() {
        let b = batch();
        let rows = rows_json(&[b.clone(), b.slice(0, 0), b.slice(1, 1)]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], "000001.SZ");
        assert_eq!(rows[0][1], 3);
        assert_eq!(rows[0][2], 1.5);
        assert!(rows[0][3]
            .as_str()
            .unwrap()
            .starts_with("2024-01-02T08:00:00"));
        assert_eq!(rows[1], serde_json::json!([null, 4, null, null]));
        assert_eq!(rows[2], rows[1]);
        let cols = columns(&[b]);
        assert_eq!(cols.len(), 4);
        assert_eq!(cols[1].name, "n");
        assert_eq!(cols[1].data_type, "Int64");
    }

    #[test]
    fn text_fallback_keeps_every_cell() {
        let text = as_text(&batch()).unwrap();
        let rows = rows_json(&[text]).unwrap();
        assert_eq!(rows[0][1], "3");
        assert_eq!(rows[1][0], Value::Null);
    }

    struct Fake;

    #[async_trait]
    impl DataAccess for Fake {
        async fn sql(&self, text: &str) -> Result<SqlAnswer> {
            match text {
                "slow" => Err(Error::new(ErrorKind::Timeout, "ran past 200 ms")),
                "DELETE FROM t" => Err(Error::invalid_query(
                    "refused: `DELETE FROM` is not a query",
                )),
                _ => Ok(SqlAnswer {
                    batches: vec![batch()],
                    summary: serde_json::json!({ "rows": 2 }),
                }),
            }
        }
        async fn overview(&self) -> Result<Value> {
            Ok(serde_json::json!([]))
        }
        async fn coverage(&self, class: &str, days: u32) -> Result<Value> {
            Ok(serde_json::json!({ "class": class, "days": days }))
        }
    }

    /// A dashboard over a fresh monitoring file (kept alive by the returned folder).
    fn dashboard(with_data: bool) -> (Dashboard, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::MonitorDb::open_sqlite(
            dir.path().join("m.sqlite"),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let d = Dashboard::new(db);
        let d = if with_data {
            d.with_data(Arc::new(Fake))
        } else {
            d
        };
        (d, dir)
    }

    async fn status_of(with_data: bool, text: &str) -> (u16, Value) {
        let (d, _dir) = dashboard(with_data);
        let response = match sql(State(d), Json(SqlBody { sql: text.into() })).await {
            Ok(j) => j.into_response(),
            Err(e) => e.into_response(),
        };
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn statuses_say_what_happened() {
        let (s, ok) = status_of(true, "SELECT 1").await;
        assert_eq!(s, 200);
        assert_eq!(ok["rows"].as_array().unwrap().len(), 2);
        assert_eq!(ok["columns"][0]["name"], "symbol");
        assert_eq!(ok["summary"]["rows"], 2);

        let (s, refused) = status_of(true, "DELETE FROM t").await;
        assert_eq!(s, 400);
        assert_eq!(refused["kind"], "invalid_query");
        assert_eq!(refused["refused"], true);

        let (s, slow) = status_of(true, "slow").await;
        assert_eq!(s, 504);
        assert_eq!(slow["kind"], "timeout");
        assert_eq!(slow["refused"], false);

        let (s, none) = status_of(false, "SELECT 1").await;
        assert_eq!(s, 501);
        assert_eq!(none["kind"], "unsupported");
    }

    #[tokio::test]
    async fn coverage_days_are_bounded() {
        let (d, _dir) = dashboard(true);
        let ok = coverage(
            State(d.clone()),
            Query(CoverageParams {
                class: "tick_data".into(),
                days: None,
            }),
        )
        .await
        .unwrap();
        assert_eq!(ok.0["days"], 20);
        let too_many = coverage(
            State(d),
            Query(CoverageParams {
                class: "tick_data".into(),
                days: Some(MAX_COVERAGE_DAYS + 1),
            }),
        )
        .await;
        assert!(too_many.is_err());
    }
}
