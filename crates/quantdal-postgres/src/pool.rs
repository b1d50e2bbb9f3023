//! A bb8 pool of tokio-postgres clients. Each connection remembers which staging tables it has created, so
//! a save does not pay a catalog round trip to ask.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

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

/// The last failed connection attempt, and a wake-up for callers waiting on the pool: bb8 hands connect
/// errors to an error sink and keeps the caller waiting until its timeout, which would turn "password
/// authentication failed" into "no connection became available".
#[derive(Default)]
pub struct ConnectFailures {
    last: Mutex<Option<(ErrorKind, bool, String)>>,
    notify: Notify,
}

impl ConnectFailures {
    fn record(&self, e: &Error) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((e.kind(), e.is_temporary(), e.message().to_string()));
        }
        self.notify.notify_waiters();
    }
    fn last_error(&self) -> Option<Error> {
        let last = self.last.lock().ok()?.clone()?;
        Some(Error::new(last.0, last.2).set_temporary(last.1))
    }
}

pub struct Manager {
    spec: ConnectionSpec,
    tls: MakeRustlsConnect,
    failures: Arc<ConnectFailures>,
}

impl Manager {
    pub fn new(spec: ConnectionSpec) -> Result<Manager> {
        let tls = crate::tls::connector(&spec)?;
        Ok(Manager {
            spec,
            tls,
            failures: Arc::new(ConnectFailures::default()),
        })
    }

    pub async fn connect_client(&self) -> Result<Client> {
        let (client, connection) =
            self.spec
                .config
                .connect(self.tls.clone())
                .await
                .map_err(|e| {
                    from_pg(e)
                        .with_message_prefix(format_args!("connecting to {}", self.spec.location))
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
        match self.connect_client().await {
            Ok(client) => {
                if let Ok(mut last) = self.failures.last.lock() {
                    *last = None;
                }
                Ok(PgConnection {
                    client,
                    staging: HashSet::new(),
                })
            }
            Err(e) => {
                self.failures.record(&e);
                Err(e)
            }
        }
    }

    async fn is_valid(&self, conn: &mut PgConnection) -> Result<()> {
        conn.client
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(from_pg)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

pub type Pooled = bb8::PooledConnection<'static, Manager>;

/// The bb8 pool plus what its connection attempts last reported.
#[derive(Clone)]
pub struct Pool {
    inner: bb8::Pool<Manager>,
    failures: Arc<ConnectFailures>,
    location: String,
}

pub async fn build(spec: ConnectionSpec, options: &PoolOptions) -> Result<Pool> {
    let location = spec.location.clone();
    let manager = Manager::new(spec)?;
    let failures = manager.failures.clone();
    // No check on checkout: a dead connection shows as `is_closed` once its socket ends, and anything racing
    // that surfaces as a temporary error the retry layer absorbs. Saves a round trip per operation.
    let inner = bb8::Pool::builder()
        .max_size(options.size.max(1))
        .min_idle(Some(0))
        .test_on_check_out(false)
        .connection_timeout(options.connect_timeout + Duration::from_secs(1))
        .idle_timeout(options.idle_timeout)
        .retry_connection(false)
        .build_unchecked(manager);
    Ok(Pool {
        inner,
        failures,
        location,
    })
}

impl Pool {
    /// Checks a connection out. A connection attempt failing while we wait ends the wait with that attempt's
    /// error (refused, authentication, missing database…), instead of bb8's timeout.
    pub async fn get(&self) -> Result<Pooled> {
        let failed = self.failures.notify.notified();
        tokio::pin!(failed);
        failed.as_mut().enable();
        tokio::select! {
            got = self.inner.get_owned() => got.map_err(|e| match e {
                bb8::RunError::User(e) => e,
                bb8::RunError::TimedOut => self.failures.last_error().unwrap_or_else(|| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("no PostgreSQL connection to {} became available in time", self.location),
                    )
                    .set_temporary(true)
                }),
            }),
            _ = &mut failed => Err(self.failures.last_error().unwrap_or_else(|| {
                Error::new(ErrorKind::Unavailable, format!("connecting to {} failed", self.location))
                    .set_temporary(true)
            })),
        }
    }

    /// Connections open, and how many of them are idle.
    pub fn state(&self) -> (u32, u32) {
        let s = self.inner.state();
        (s.connections, s.idle_connections)
    }
}
