//! A small pool of DuckDB connections to one database. DuckDB connections are cheap clones of one
//! database handle; each is used by one blocking task at a time.

use std::sync::Mutex;

use duckdb::Connection;
use quantdal_core::{Error, ErrorKind, Result};

use crate::errors::from_duckdb;

pub struct Pool {
    /// Kept open for the life of the store: it owns the database (and its file lock).
    root: Mutex<Connection>,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

/// A connection borrowed from the pool; it goes back on drop.
pub struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Present from construction until drop.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled connection taken"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Ok(mut idle) = self.pool.idle.lock() {
                if idle.len() < self.pool.max_idle {
                    idle.push(conn);
                }
            }
        }
    }
}

impl Pool {
    pub fn new(root: Connection, max_idle: usize) -> Pool {
        Pool {
            root: Mutex::new(root),
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    pub fn get(&self) -> Result<Pooled<'_>> {
        let reused = self
            .idle
            .lock()
            .map_err(|_| Error::new(ErrorKind::Store, "connection pool lock poisoned"))?
            .pop();
        let conn = match reused {
            Some(c) => c,
            None => {
                let root = self
                    .root
                    .lock()
                    .map_err(|_| Error::new(ErrorKind::Store, "connection pool lock poisoned"))?;
                let conn = root.try_clone().map_err(from_duckdb)?;
                crate::register_functions(&conn)?;
                conn
            }
        };
        Ok(Pooled {
            pool: self,
            conn: Some(conn),
        })
    }
}
