//! quantdal-tdengine: the TDengine store. Each class is a super-table in the database its YAML names, with one
//! sub-table per series (tag tuple), created on first write with `INSERT … USING … TAGS`. Saves bind whole
//! Arrow columns through the stmt API; loads turn the driver's raw blocks straight into Arrow.
//!
//! Connections go over WebSocket to taosAdapter (`taos+ws://host:6041`) by default, or native
//! (`taos://host:6030`, libtaos loaded at run time) with the `native` feature. See docs/tdengine.md.

mod admin;
mod backend;
pub mod bind;
pub mod ddl;
pub mod decode;
pub mod dsn;
mod errors;
mod exit;
mod forward;
pub mod naming;
pub mod ordered;
pub mod sql;
mod store;
pub mod types;

pub use backend::{database_of, TdengineBackend, CAPABILITIES};
pub use ddl::{provision_statements, try_provision_statements};
pub use exit::prepare_exit;
pub use naming::{subtable_name, TagValue};
pub use store::{statement_text, TdengineStore};
pub use types::{layout, Layout};
