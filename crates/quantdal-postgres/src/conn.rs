//! Connection URLs → a `tokio_postgres::Config` plus the TLS policy libpq users expect. tokio-postgres parses
//! the URL itself (several hosts, `target_session_attrs`, timeouts) but knows only `disable|prefer|require`,
//! so the `sslmode` verification levels and `sslrootcert` are taken out here first.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use quantdal_core::settings::redact_url;
use quantdal_core::{Error, ErrorKind, Result};
use tokio_postgres::config::SslMode;

/// libpq's `sslmode` levels. `prefer`/`require` encrypt without checking the certificate (as libpq does when
/// no root certificate is given); `verify-ca` checks the chain; `verify-full` also checks the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn parse(text: &str) -> Option<TlsMode> {
        Some(match text {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            _ => return None,
        })
    }
    fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// Timeouts and sizes a store's settings give its pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    pub size: u32,
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout`; `None` leaves the server's default.
    pub statement_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// Sent as `application_name`, so `pg_stat_activity` shows who is connected.
    pub application_name: String,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 8,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: None,
            idle_timeout: Some(Duration::from_secs(600)),
            application_name: "quantdal".into(),
        }
    }
}

/// A parsed connection URL. `Debug` and `location` never show the password.
#[derive(Clone)]
pub struct ConnectionSpec {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    pub root_cert: Option<PathBuf>,
    /// The URL with its password replaced, for messages.
    pub location: String,
}

impl std::fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSpec")
            .field("location", &self.location)
            .field("tls", &self.tls)
            .finish()
    }
}

impl ConnectionSpec {
    /// Parses `url` (`postgres://user[:pass]@host[:port][,host2[:port]]/db?sslmode=…`). A password missing from
    /// the URL is taken from `PGPASSWORD`, so it can live in the environment only.
    pub fn parse(url: &str, options: &PoolOptions) -> Result<ConnectionSpec> {
        Self::parse_with_env(url, options, &|k| std::env::var(k).ok())
    }

    pub fn parse_with_env(
        url: &str,
        options: &PoolOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectionSpec> {
        let location = redact_url(url);
        let bad = |why: String| {
            Error::new(
                ErrorKind::Config,
                format!("invalid PostgreSQL URL {location}: {why}"),
            )
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad(
                "expected postgres://user@host[:port]/database[?options]".into(),
            ));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut passed = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "sslmode" => {
                    tls = TlsMode::parse(&value).ok_or_else(|| {
                        bad(format!(
                            "sslmode `{value}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ))
                    })?
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                _ => passed.push((key.into_owned(), value.into_owned())),
            }
        }
        let rebuilt = if passed.is_empty() {
            base.to_string()
        } else {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &passed {
                q.append_pair(k, v);
            }
            format!("{base}?{}", q.finish())
        };
        // tokio-postgres echoes the offending option, never the password, in its parse errors.
        let mut config =
            tokio_postgres::Config::from_str(&rebuilt).map_err(|e| bad(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(bad("no host".into()));
        }
        if config.get_user().is_none() {
            config.user(env("PGUSER").unwrap_or_else(|| "postgres".into()));
        }
        if config.get_password().is_none() {
            if let Some(password) = env("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name(&options.application_name);
        }
        if let Some(timeout) = options.statement_timeout {
            let setting = format!("-c statement_timeout={}", timeout.as_millis());
            let merged = match config.get_options() {
                Some(existing) if !existing.is_empty() => format!("{existing} {setting}"),
                _ => setting,
            };
            config.options(merged);
        }
        config.ssl_mode(tls.ssl_mode());
        Ok(ConnectionSpec {
            config,
            tls,
            root_cert,
            location,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ConnectionSpec> {
        ConnectionSpec::parse_with_env(url, &PoolOptions::default(), &|_| None)
    }

    #[test]
    fn verification_levels_are_taken_out_of_the_url() {
        let spec = parse(
            "postgres://u:secret@db.example:6543/prod?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        )
        .unwrap();
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        assert_eq!(spec.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(spec.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(spec.config.get_ports(), &[6543]);
        assert!(!spec.location.contains("secret"));
        assert!(!format!("{spec:?}").contains("secret"));
    }

    #[test]
    fn several_hosts_and_session_attributes_pass_through() {
        let spec = parse(
            "postgresql://u@primary:5432,standby:5433/db?target_session_attrs=read-write&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(spec.config.get_hosts().len(), 2);
        assert_eq!(
            spec.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        assert_eq!(
            spec.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(spec.tls, TlsMode::Prefer);
    }

    #[test]
    fn password_comes_from_the_environment_when_the_url_has_none() {
        let spec = ConnectionSpec::parse_with_env(
            "postgres://trader@h/db",
            &PoolOptions::default(),
            &|k| (k == "PGPASSWORD").then(|| "from-env".to_string()),
        )
        .unwrap();
        assert_eq!(spec.config.get_password(), Some(&b"from-env"[..]));
    }

    #[test]
    fn statement_timeout_becomes_a_startup_option() {
        let options = PoolOptions {
            statement_timeout: Some(Duration::from_millis(2500)),
            ..PoolOptions::default()
        };
        let spec =
            ConnectionSpec::parse_with_env("postgres://u@h/db", &options, &|_| None).unwrap();
        assert_eq!(spec.config.get_options(), Some("-c statement_timeout=2500"));
    }

    #[test]
    fn malformed_urls_are_config_errors_without_the_password() {
        for url in [
            "mysql://u:pw@h/db",
            "postgres://u:pw@h/db?sslmode=sometimes",
            "postgres://u:pw@h:notaport/db",
            "postgres://u:pw@h/db?bogus_option=1",
        ] {
            let err = parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }
}
