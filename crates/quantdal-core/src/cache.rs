//! The latest-row cache seam: a store kind that can keep the newest row per series of any class (Redis)
//! offers one through its backend; the facade's cache layer writes through to it after the primary store
//! commits, reads `latest` from it first, and invalidates it on deletes.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;

use crate::error::Result;
use crate::load::{Query, Scalar};
use crate::spec::TableSpec;
use crate::store::{BatchStream, StoreInfo};

/// The tag values of one series, in the class's tag order.
pub type SeriesKey = Vec<Scalar>;

#[async_trait]
pub trait LatestCache: Send + Sync + fmt::Debug {
    /// The store serving as the cache.
    fn info(&self) -> &StoreInfo;

    /// Writes the newest row of each series in `batch` (validated, in the class schema, committed to the
    /// primary store), never replacing a newer row the cache holds; with `publish`, also appends `batch`
    /// to the class's live feed (a save does, a read filling the cache does not).
    async fn put(&self, spec: &Arc<TableSpec>, batch: &RecordBatch, publish: bool) -> Result<()>;

    /// The cached newest rows of `series` (class schema), and the positions in `series` of those it lacks.
    async fn get(
        &self,
        spec: &Arc<TableSpec>,
        series: &[SeriesKey],
    ) -> Result<(RecordBatch, Vec<usize>)>;

    /// Forgets `series`, or every series of the class when `None`.
    async fn invalidate(&self, spec: &Arc<TableSpec>, series: Option<&[SeriesKey]>) -> Result<()>;

    /// The rows saved from now on whose series match `query`'s tag conditions, projected as it says.
    async fn subscribe(&self, spec: &Arc<TableSpec>, query: Query) -> Result<BatchStream>;
}
