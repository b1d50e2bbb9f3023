//! Connections: one `ConnectionManager` (multiplexed, reconnecting) for a single server, or the cluster
//! client for Redis Cluster (`cluster: true`, seed URLs separated by commas). Both connect lazily, so a
//! `Dal` opens while Redis is still starting and a latest-row cache never stops an application from
//! starting. `rediss://` is TLS (rustls, the web PKI roots; `#insecure` skips verification for self-signed
//! test servers); `redis://user:password@host` authenticates as an ACL user.

use std::time::Duration;

use quantdal_core::settings::redact_url;
use quantdal_core::{Error, Result, StoreSettings};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, TlsCertificates, Value};
use tokio::sync::OnceCell;

use crate::errors::{from_redis, Scrub};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection of either shape; cheap to clone (both are handles to one multiplexed connection).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Dedicated(MultiplexedConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Dedicated(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Dedicated(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Dedicated(c) => c.get_db(),
        }
    }
}

enum Target {
    Single {
        client: Client,
        manager: ConnectionManager,
    },
    Cluster {
        // Boxed: the cluster client is much larger than the single-server handles.
        client: Box<ClusterClient>,
        connection: OnceCell<ClusterConnection>,
    },
}

/// Where a Redis store connects, and the live connection to it.
pub(crate) struct Connector {
    target: Target,
    /// The URL(s) with passwords hidden, for humans.
    pub location: String,
    pub scrub: Scrub,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Parses the store's URL(s) and builds the (lazy) connection. Malformed URLs are `Config` errors
    /// naming the store, with the password hidden.
    pub fn new(settings: &StoreSettings) -> Result<Connector> {
        let text = settings.url.as_deref().ok_or_else(|| {
            Error::config(format!(
                "store `{}`: a redis store needs `url`",
                settings.name
            ))
        })?;
        let urls: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let location = urls
            .iter()
            .map(|u| redact_url(u))
            .collect::<Vec<_>>()
            .join(",");
        let bad = |why: String| {
            Error::config(format!(
                "store `{}`: redis url `{location}` {why}",
                settings.name
            ))
        };
        if urls.is_empty() {
            return Err(bad("is empty".into()));
        }
        if urls.len() > 1 && !settings.cluster {
            return Err(bad(
                "lists several servers; set `cluster: true` for Redis Cluster seed nodes".into(),
            ));
        }
        let mut secrets = Vec::new();
        for u in &urls {
            if !(u.starts_with("redis://")
                || u.starts_with("rediss://")
                || u.starts_with("redis+unix://")
                || u.starts_with("unix://"))
            {
                return Err(bad(
                    "must start with redis://, rediss:// (TLS) or redis+unix://".into(),
                ));
            }
            if let Ok(parsed) = url::Url::parse(u) {
                if let Some(p) = parsed.password() {
                    secrets.push(p.to_string());
                    // The URL form of the password (percent-encoded) may differ from what the driver prints.
                    if let Ok(decoded) = percent_decode(p) {
                        secrets.push(decoded);
                    }
                }
            }
        }
        let scrub = Scrub::new(secrets);
        let connect_timeout = settings
            .connect_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let response_timeout = settings
            .statement_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        // A CA of the deployment's own (self-signed servers) instead of the web PKI roots.
        let certificates = match &settings.tls_ca_file {
            Some(path) => Some(TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|e| {
                    bad(format!(
                        "has tls_ca_file {}, which cannot be read: {e}",
                        path.display()
                    ))
                })?),
            }),
            None => None,
        };
        let target = if settings.cluster {
            let mut builder = ClusterClient::builder(urls.clone());
            if let Some(c) = certificates {
                builder = builder.certs(c);
            }
            let client = builder
                .connection_timeout(connect_timeout)
                .response_timeout(response_timeout)
                .retries(2)
                .min_retry_wait(20)
                .max_retry_wait(500)
                .build()
                .map_err(|e| bad(format!("is not valid: {}", scrub.apply(&e.to_string()))))?;
            Target::Cluster {
                client: Box::new(client),
                connection: OnceCell::new(),
            }
        } else {
            let client = match certificates {
                Some(c) => Client::build_with_tls(urls[0], c),
                None => Client::open(urls[0]),
            }
            .map_err(|e| bad(format!("is not valid: {}", scrub.apply(&e.to_string()))))?;
            // Few, quick reconnection attempts: a store that is down should say so within a second, and
            // quantdal's retry layer (and the spool) decide what happens next.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(200));
            let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(|e| from_redis(&e, &scrub))?;
            Target::Single { client, manager }
        };
        Ok(Connector {
            target,
            location,
            scrub,
            connect_timeout,
        })
    }

    /// The shared connection (connecting the cluster client on first use).
    pub async fn conn(&self) -> Result<Conn> {
        match &self.target {
            Target::Single { manager, .. } => Ok(Conn::Single(manager.clone())),
            Target::Cluster { client, connection } => {
                let c = connection
                    .get_or_try_init(|| async {
                        client
                            .get_async_connection()
                            .await
                            .map_err(|e| from_redis(&e, &self.scrub))
                    })
                    .await?;
                Ok(Conn::Cluster(c.clone()))
            }
        }
    }

    /// A connection of its own, for commands that block (`XREAD BLOCK`): on a shared multiplexed
    /// connection they would hold every other caller's reply behind them.
    pub async fn dedicated(&self) -> Result<Conn> {
        match &self.target {
            Target::Single { client, .. } => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    // Blocking reads wait up to their own BLOCK time: no response timeout here.
                    .set_response_timeout(None);
                let c = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| from_redis(&e, &self.scrub))?;
                Ok(Conn::Dedicated(c))
            }
            Target::Cluster { client, .. } => {
                let c = client
                    .get_async_connection()
                    .await
                    .map_err(|e| from_redis(&e, &self.scrub))?;
                Ok(Conn::Cluster(c))
            }
        }
    }
}

fn percent_decode(text: &str) -> std::result::Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}
