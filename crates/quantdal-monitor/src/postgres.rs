//! The PostgreSQL monitoring store. One connection, re-established on the next write after it breaks, so a
//! server restart costs a spill and a replay, never a lost record.

use std::collections::HashSet;

use async_trait::async_trait;
use quantdal_core::spec::is_identifier;
use quantdal_core::{Error, ErrorKind, Result};
use tokio::sync::Mutex;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::ddl::{ddl, Dialect};
use crate::effects::MetricDelta;
use crate::record::Record;
use crate::sink::{Backend, Sink};
use crate::sql::{effect_statements, insert_statements, inserted, Cell, Param};

pub struct PostgresSink {
    url: String,
    schema: Option<String>,
    application: String,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("url", &quantdal_core::settings::redact_url(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

impl PostgresSink {
    /// Connects and creates the tables (in `schema` when given, which is created too). Fails when the
    /// server is unreachable; afterwards, outages are handled by the monitor's spill.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        application: &str,
    ) -> Result<PostgresSink> {
        if let Some(s) = schema.filter(|s| !is_identifier(s)) {
            return Err(Error::config(format!(
                "monitoring schema `{s}` must be a lower-case identifier"
            )));
        }
        let sink = PostgresSink {
            url: url.to_string(),
            schema: schema.map(str::to_string),
            application: application.to_string(),
            client: Mutex::new(None),
        };
        drop(sink.client().await?);
        Ok(sink)
    }

    /// The live connection, reconnecting (and re-running the idempotent DDL) when it was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            let client = connect(&self.url, &self.application).await?;
            let mut setup = String::new();
            if let Some(s) = &self.schema {
                setup.push_str(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s};\n"
                ));
            }
            setup.push_str(&ddl(Dialect::Postgres));
            client.batch_execute(&setup).await.map_err(map_err)?;
            *guard = Some(client);
        }
        Ok(guard)
    }
}

async fn connect(url: &str, application: &str) -> Result<Client> {
    quantdal_postgres::connect_client(url, application).await
}

fn map_err(e: tokio_postgres::Error) -> Error {
    let kind = if e.is_closed() || e.as_db_error().is_none() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Store
    };
    Error::new(kind, format!("monitoring DB (postgres): {e}"))
}

fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(v) => v as &(dyn ToSql + Sync),
            Param::Float(v) => v as &(dyn ToSql + Sync),
            Param::Text(v) => v as &(dyn ToSql + Sync),
        })
        .collect()
}

fn cells(row: &Row) -> Result<Vec<Cell>> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let cell = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int))
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Cell::Int(v.into())))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| Cell::Int(v.into())))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::Float))
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map(|v| v.map(|v| Cell::Float(v.into())))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(|v| Cell::Int(v.into())))
        } else {
            row.try_get::<_, Option<String>>(i)
                .map(|v| v.map(Cell::Text))
        };
        out.push(cell.map_err(map_err)?.unwrap_or(Cell::Null));
    }
    Ok(out)
}

#[async_trait]
impl Sink for PostgresSink {
    async fn write(&self, records: &[Record], extra: &[MetricDelta]) -> Result<()> {
        let mut guard = self.client().await?;
        let Some(client) = guard.as_mut() else {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "monitoring DB not connected",
            ));
        };
        let tx = client.transaction().await.map_err(map_err)?;
        let mut ids = HashSet::new();
        for (table, stmt) in insert_statements(records) {
            for row in tx
                .query(&stmt.sql, &bind(&stmt.params))
                .await
                .map_err(map_err)?
            {
                ids.insert((table, row.try_get::<_, String>(0).map_err(map_err)?));
            }
        }
        for stmt in effect_statements(&inserted(records, &ids), extra) {
            tx.execute(&stmt.sql, &bind(&stmt.params))
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl Backend for PostgresSink {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
    async fn query(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Vec<Cell>>> {
        let guard = self.client().await?;
        let client = guard
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unavailable, "monitoring DB not connected"))?;
        let rows = client.query(sql, &bind(&params)).await.map_err(map_err)?;
        rows.iter().map(cells).collect()
    }
    async fn execute(&self, sql: &str, params: Vec<Param>) -> Result<u64> {
        let guard = self.client().await?;
        let client = guard
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unavailable, "monitoring DB not connected"))?;
        client.execute(sql, &bind(&params)).await.map_err(map_err)
    }
}
