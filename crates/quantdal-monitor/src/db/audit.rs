//! What `quantdal db audit` reads from the monitoring store: the last successful write per class and store,
//! and how much room the monitoring store takes.

use quantdal_core::Result;
use serde::{Deserialize, Serialize};

use super::MonitorDb;
use crate::ddl::Dialect;
use crate::sql::RowRef;

/// The newest successful save or delete recorded for a class on a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastWrite {
    pub class: String,
    pub store: String,
    pub time_us: i64,
    pub operation: String,
}

impl MonitorDb {
    /// Per class and store, the start of the newest `ok` save or delete still in the operations table
    /// (older ones are gone after `retention.operations_days`).
    pub async fn last_writes(&self) -> Result<Vec<LastWrite>> {
        let rows = self
            .backend
            .query(
                "SELECT class, store, MAX(start_us), MAX(operation) FROM operations \
                 WHERE status = 'ok' AND operation IN ('save', 'delete') \
                 GROUP BY class, store ORDER BY class, store",
                Vec::new(),
            )
            .await?;
        rows.iter()
            .map(|r| {
                let r = RowRef(r);
                Ok(LastWrite {
                    class: r.text(0)?,
                    store: r.text(1)?,
                    time_us: r.int(2)?,
                    operation: r.text(3)?,
                })
            })
            .collect()
    }

    /// Bytes the monitoring tables take: SQLite pages in use, or PostgreSQL's total relation size of the
    /// monitoring tables (indexes and TOAST included).
    pub async fn size_bytes(&self) -> Result<u64> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            }
            Dialect::Postgres => {
                "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) FROM pg_class c \
                 WHERE c.relkind = 'r' AND c.relname IN ('operations', 'slow_queries', 'quality_checks', \
                 'rejects', 'alerts', 'metric_totals') AND pg_table_is_visible(c.oid)"
            }
        };
        let rows = self.backend.query(sql, Vec::new()).await?;
        match rows.first() {
            Some(r) => Ok(RowRef(r).int(0)?.max(0) as u64),
            None => Ok(0),
        }
    }
}
