//! Saves into a range-partitioned class: the partitions a batch needs are created before its rows are
//! written (crate::partitions). What the store learned (is the table partitioned, which periods exist) is
//! kept per table, so a save into known periods costs no catalog query.

use std::collections::{BTreeSet, HashSet};

use arrow::array::RecordBatch;
use quantdal_core::{Error, Result, TableSpec};

use super::PostgresStore;
use crate::errors::from_pg;
use crate::partitions::{self, Partitioning};

/// What the store knows of one partitioned class's table.
#[derive(Debug, Default)]
pub(super) struct KnownPartitions {
    /// `Some(false)`: the table is not a partitioned parent (made before the class declared partitions, or a
    /// hypertable), so saves go straight in and `provision --check` reports the difference.
    partitioned: Option<bool>,
    periods: HashSet<i64>,
}

impl PostgresStore {
    /// Creates the partitions `batch` has rows for and the table lacks. Each one in a transaction of its
    /// own under the provisioning lock, so two writers creating the same period wait for each other; an
    /// empty partition left by a save that then fails is harmless.
    pub(super) async fn ensure_partitions(
        &self,
        spec: &TableSpec,
        schema: &str,
        batch: &RecordBatch,
    ) -> Result<()> {
        let Some(partitioning) = partitions::declared(spec)? else {
            return Ok(());
        };
        let table = crate::ddl::qualified(schema, &spec.table);
        let wanted = partitioning.periods_of(spec, batch)?;
        let (partitioned, missing) = self.unknown_periods(&table, &wanted)?;
        if partitioned == Some(false) || missing.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let client = &mut conn.client;
        if partitioned.is_none() {
            match crate::catalog::relation_kind(client, &table).await? {
                // No table yet: the save itself reports it.
                None => return Ok(()),
                Some(kind) => {
                    let is_parent = kind == "p";
                    self.remember(&table, |known| known.partitioned = Some(is_parent))?;
                    if !is_parent {
                        return Ok(());
                    }
                }
            }
        }
        self.create_periods(client, spec, schema, partitioning, &table, &missing)
            .await
    }

    async fn create_periods(
        &self,
        client: &mut tokio_postgres::Client,
        spec: &TableSpec,
        schema: &str,
        partitioning: Partitioning,
        table: &str,
        periods: &BTreeSet<i64>,
    ) -> Result<()> {
        for &start in periods {
            let tx = client.transaction().await.map_err(from_pg)?;
            tx.batch_execute("SELECT pg_advisory_xact_lock(7262636431)")
                .await
                .map_err(from_pg)?;
            tx.batch_execute(&partitioning.create_statement(spec, schema, start))
                .await
                .map_err(from_pg)?;
            tx.commit().await.map_err(from_pg)?;
            self.remember(table, |known| {
                known.periods.insert(start);
            })?;
        }
        Ok(())
    }

    /// Whether the table is known to be partitioned, and the wanted periods not known to exist.
    fn unknown_periods(
        &self,
        table: &str,
        wanted: &BTreeSet<i64>,
    ) -> Result<(Option<bool>, BTreeSet<i64>)> {
        let all = self
            .partitions
            .lock()
            .map_err(|_| Error::store("partition registry poisoned"))?;
        Ok(match all.get(table) {
            None => (None, wanted.clone()),
            Some(known) => (
                known.partitioned,
                wanted
                    .iter()
                    .filter(|p| !known.periods.contains(p))
                    .copied()
                    .collect(),
            ),
        })
    }

    fn remember(&self, table: &str, update: impl FnOnce(&mut KnownPartitions)) -> Result<()> {
        let mut all = self
            .partitions
            .lock()
            .map_err(|_| Error::store("partition registry poisoned"))?;
        update(all.entry(table.to_string()).or_default());
        Ok(())
    }

    /// Drops what the store knows of a table's partitions (after a save found a period missing: dropped or
    /// detached by hand), so the next save looks again.
    pub(super) fn forget_partitions(&self, table: &str) {
        if let Ok(mut all) = self.partitions.lock() {
            all.remove(table);
        }
    }
}

/// The save failed because no partition holds one of its rows (SQLSTATE 23514 with PostgreSQL's "no partition
/// of relation" message): a period the store believed present is gone.
pub(super) fn is_missing_partition(e: &Error) -> bool {
    e.message().contains("no partition of relation")
}
