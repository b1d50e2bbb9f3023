//! A bb8 pool of tokio-postgres clients. Each connection remembers which staging tables it has created, so
//! a save does not pay a catalog round trip to ask.

use std::collections::HashSet;
use std::time::Duration;

use quantdal_core::{Error, ErrorKind, Result};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conn::{ConnectionSpec, PoolOptions};
use crate::errors::from_pg;

pub struct PgConnection {
    pub client: Client,
    /// Temporary staging tables already created on this session (they live as long as it does).
    pub staging: HashSet<String>,
}

pub struct Manager {
    spec: ConnectionSpec,
    tls: MakeRustlsConnect,
}

impl Manager {
    pub fn new(spec: ConnectionSpec) -> Result<Manager> {
        let tls = crate::tls::connector(&spec)?;
        Ok(Manager { spec, tls })
    }

    pub async fn connect_client(&self) -> Result<Client> {
        let (client, connection) = self
            .spec
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| {
                from_pg(e).with_message_prefix(format_args!("connecting to {}", self.spec.location))
            })?;
        // The connection future drives the socket; when it ends the client reports `is_closed`, and the pool
        // drops it on the next checkout.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = Error;

    async fn connect(&self) -> Result<PgConnection> {
        Ok(PgConnection {
            client: self.connect_client().await?,
            staging: HashSet::new(),
        })
    }

    async fn is_valid(&self, conn: &mut PgConnection) -> Result<()> {
        conn.client.simple_query("").await.map(|_| ()).map_err(from_pg)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

pub type Pool = bb8::Pool<Manager>;
pub type Pooled = bb8::PooledConnection<'static, Manager>;

pub async fn build(spec: ConnectionSpec, options: &PoolOptions) -> Result<Pool> {
    let manager = Manager::new(spec)?;
    // No check on checkout: a dead connection shows as `is_closed` once its socket ends, and anything racing
    // that surfaces as a temporary error the retry layer absorbs. Saves a round trip per operation.
    Ok(bb8::Pool::builder()
        .max_size(options.size.max(1))
        .min_idle(Some(0))
        .test_on_check_out(false)
        .connection_timeout(options.connect_timeout + Duration::from_secs(1))
        .idle_timeout(options.idle_timeout)
        .retry_connection(false)
        .build_unchecked(manager))
}

/// Checks a connection out, mapping bb8's timeout to a temporary `Unavailable`.
pub async fn get(pool: &Pool, location: &str) -> Result<Pooled> {
    pool.get_owned().await.map_err(|e| match e {
        bb8::RunError::User(e) => e,
        bb8::RunError::TimedOut => Error::new(
            ErrorKind::Unavailable,
            format!("no PostgreSQL connection to {location} became available in time"),
        )
        .set_temporary(true),
    })
}
