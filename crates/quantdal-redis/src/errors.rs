//! Redis errors as quantdal errors: unreachable or failing-over servers are `Unavailable` and temporary,
//! refused credentials `Unavailable` and permanent, a full `maxmemory` a permanent `Unavailable` saying so.
//! Messages pass through [`Scrub`] so a password in a URL never reaches a log.

use quantdal_core::{Error, ErrorKind};
use redis::{RedisError, ServerErrorKind};

/// Removes the connection's password from driver messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrub {
    secrets: Vec<String>,
}

impl Scrub {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Scrub {
        Scrub {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        quantdal_core::settings::redact_url(&out)
    }
}

pub(crate) fn from_redis(err: &RedisError, scrub: &Scrub) -> Error {
    let message = scrub.apply(&err.to_string());
    let code = err.code().unwrap_or("");
    if err.is_connection_refusal()
        || err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || matches!(err.kind(), redis::ErrorKind::ClusterConnectionNotFound)
    {
        return Error::new(
            ErrorKind::Unavailable,
            format!("Redis is unreachable: {message}"),
        )
        .set_temporary(true);
    }
    match err.kind() {
        redis::ErrorKind::AuthenticationFailed => {
            return Error::new(
                ErrorKind::Unavailable,
                format!("Redis refused the credentials: {message}"),
            )
            .set_temporary(false)
        }
        redis::ErrorKind::InvalidClientConfig => return Error::config(message),
        redis::ErrorKind::Server(kind) => match kind {
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly => {
                return Error::new(
                    ErrorKind::Unavailable,
                    format!("Redis cannot serve writes now: {message}"),
                )
                .set_temporary(true)
            }
            ServerErrorKind::NoPerm => {
                return Error::new(
                    ErrorKind::Unavailable,
                    format!("the Redis ACL user lacks a permission quantdal needs: {message}"),
                )
                .set_temporary(false)
            }
            _ => {}
        },
        _ => {}
    }
    match code {
        "WRONGPASS" | "NOAUTH" => Error::new(
            ErrorKind::Unavailable,
            format!("Redis refused the credentials: {message}"),
        )
        .set_temporary(false),
        "OOM" => Error::new(
            ErrorKind::Unavailable,
            format!(
                "Redis is at maxmemory and its policy refuses writes (noeviction): {message}; raise maxmemory or \
                 pick an eviction policy (docs/redis.md)"
            ),
        )
        .set_temporary(false),
        _ => Error::store(message),
    }
}
