//! TDengine DSNs: `taos+ws://user:password@host1:6041,host2:6041[/db][?params]` (WebSocket through
//! taosAdapter, the default), `taos+wss://…` (TLS) and `taos://host:6030` (native, `native` feature).
//!
//! The `taos` crate's WebSocket builder only ever uses the *first* address of a DSN, so this module splits a
//! cluster DSN into one single-address DSN per endpoint and the store fails over between them.
//! Messages never contain the password: errors show [`redacted`].

use std::collections::BTreeMap;

use quantdal_core::settings::redact_url;
use quantdal_core::{Error, ErrorKind, Result};
use taos::{Address, Dsn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Wss,
    Native,
}

impl Transport {
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Ws | Transport::Wss => 6041,
            Transport::Native => 6030,
        }
    }
}

/// How saves reach TDengine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsertMode {
    /// Prepared `INSERT INTO ? USING … TAGS (?…) VALUES (?…)` with whole columns bound (the default).
    #[default]
    Stmt,
    /// Multi-row SQL text, escaped and chunked under the SQL length limit (`?quantdal_insert=sql`).
    Sql,
}

/// A parsed, checked DSN.
#[derive(Clone, PartialEq)]
pub struct TdDsn {
    pub transport: Transport,
    /// `(host, port)` of every endpoint, in the order given.
    pub addresses: Vec<(String, u16)>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Parameters passed through to the driver.
    pub params: BTreeMap<String, String>,
    pub insert_mode: InsertMode,
    /// Longest SQL text sent on the fallback insert path (`?quantdal_max_sql=…`, default 1 MB − 64 KB).
    pub max_sql_bytes: usize,
}

/// TDengine's default `maxSQLLength` is 1 MB; leave room for the server's own framing.
pub const DEFAULT_MAX_SQL_BYTES: usize = 1_048_576 - 65_536;

impl std::fmt::Debug for TdDsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdDsn")
            .field("transport", &self.transport)
            .field("addresses", &self.addresses)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("insert_mode", &self.insert_mode)
            .finish_non_exhaustive()
    }
}

/// The DSN with its password hidden, for messages and `StoreInfo::location`.
pub fn redacted(text: &str) -> String {
    redact_url(text)
}

fn malformed(text: &str, why: impl std::fmt::Display) -> Error {
    Error::config(format!("TDengine dsn `{}`: {why}", redacted(text)))
}

pub fn parse(text: &str) -> Result<TdDsn> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::config("TDengine dsn is empty"));
    }
    let mut dsn: Dsn = trimmed
        .parse()
        .map_err(|e: taos::DsnError| malformed(trimmed, e))?;
    let transport = match (dsn.driver.as_str(), dsn.protocol.as_deref()) {
        ("taos" | "taosws", Some("ws")) | ("taosws" | "ws", None) => Transport::Ws,
        ("taos" | "taosws", Some("wss")) | ("taoswss" | "wss", None) => Transport::Wss,
        ("taos", None) => Transport::Native,
        (driver, protocol) => {
            return Err(malformed(
                trimmed,
                format!(
                    "unknown scheme `{driver}{}` (use taos+ws://host:6041, taos+wss://host:6041 or taos://host:6030)",
                    protocol.map(|p| format!("+{p}")).unwrap_or_default()
                ),
            ))
        }
    };
    if dsn.path.is_some() {
        return Err(malformed(trimmed, "unix socket paths are not supported"));
    }
    let mut addresses = Vec::with_capacity(dsn.addresses.len().max(1));
    for a in &dsn.addresses {
        if a.path.is_some() {
            return Err(malformed(trimmed, "unix socket paths are not supported"));
        }
        let host = a.host.clone().unwrap_or_else(|| "localhost".to_string());
        addresses.push((host, a.port.unwrap_or(transport.default_port())));
    }
    if addresses.is_empty() {
        addresses.push(("localhost".to_string(), transport.default_port()));
    }
    let insert_mode = match dsn.params.remove("quantdal_insert").as_deref() {
        None | Some("stmt") => InsertMode::Stmt,
        Some("sql") => InsertMode::Sql,
        Some(other) => {
            return Err(malformed(
                trimmed,
                format!("quantdal_insert must be stmt or sql, not `{other}`"),
            ))
        }
    };
    let max_sql_bytes = match dsn.params.remove("quantdal_max_sql") {
        None => DEFAULT_MAX_SQL_BYTES,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (4_096..=64 * 1_048_576).contains(n))
            .ok_or_else(|| {
                malformed(
                    trimmed,
                    format!(
                        "quantdal_max_sql must be a byte count between 4096 and 64 MiB, not `{v}`"
                    ),
                )
            })?,
    };
    if dsn.params.contains_key("token") && dsn.password.is_some() {
        return Err(malformed(
            trimmed,
            "give either a password or a token, not both",
        ));
    }
    Ok(TdDsn {
        transport,
        addresses,
        username: dsn.username.take(),
        password: dsn.password.take(),
        params: std::mem::take(&mut dsn.params),
        insert_mode,
        max_sql_bytes,
    })
}

impl TdDsn {
    /// A single-address DSN for endpoint `i`, without a database (every statement names its database).
    pub fn endpoint(&self, i: usize) -> Option<Dsn> {
        let (host, port) = self.addresses.get(i)?;
        let (driver, protocol) = match self.transport {
            Transport::Ws => ("taos", Some("ws")),
            Transport::Wss => ("taos", Some("wss")),
            Transport::Native => ("taos", None),
        };
        Some(Dsn {
            driver: driver.to_string(),
            protocol: protocol.map(str::to_string),
            username: self.username.clone(),
            password: self.password.clone(),
            addresses: vec![Address {
                host: Some(host.clone()),
                port: Some(*port),
                path: None,
            }],
            path: None,
            subject: None,
            params: self.params.clone(),
        })
    }

    /// `host:port` of every endpoint, for messages.
    pub fn endpoints(&self) -> Vec<String> {
        self.addresses
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect()
    }

    /// Hides the password inside a driver message (some echo the connection request).
    pub fn scrub(&self, message: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => message.replace(p.as_str(), "***"),
            _ => message.to_string(),
        }
    }

    /// Refuses transports this build cannot open.
    pub fn check_supported(&self, text: &str) -> Result<()> {
        if self.transport == Transport::Native && !cfg!(feature = "native") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "TDengine dsn `{}` asks for a native connection, which needs quantdal-tdengine's `native` \
                     feature (libtaos loaded at run time); use taos+ws://host:6041 through taosAdapter instead",
                    redacted(text)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_default_with_credentials() {
        let d = parse("taos+ws://root:taosdata@td1:6041/market").unwrap();
        assert_eq!(d.transport, Transport::Ws);
        assert_eq!(d.addresses, vec![("td1".to_string(), 6041)]);
        assert_eq!(d.username.as_deref(), Some("root"));
        assert_eq!(d.password.as_deref(), Some("taosdata"));
        assert_eq!(d.insert_mode, InsertMode::Stmt);
        assert!(!format!("{d:?}").contains("taosdata"));
        let e = d.endpoint(0).unwrap();
        assert_eq!(e.to_string(), "taos+ws://root:taosdata@td1:6041");
    }

    #[test]
    fn cluster_dsn_gives_one_endpoint_per_address() {
        let d = parse("taos+ws://u:p@a.example:6041,b.example,10.0.0.3:7041?conn_mode=1").unwrap();
        assert_eq!(
            d.endpoints(),
            ["a.example:6041", "b.example:6041", "10.0.0.3:7041"]
        );
        for i in 0..3 {
            let e = d.endpoint(i).unwrap();
            assert_eq!(e.addresses.len(), 1);
            assert_eq!(e.params.get("conn_mode").map(String::as_str), Some("1"));
            assert_eq!(e.subject, None);
        }
        assert!(d.endpoint(3).is_none());
    }

    #[test]
    fn schemes_and_defaults() {
        assert_eq!(parse("taosws://h").unwrap().transport, Transport::Ws);
        assert_eq!(parse("taos+wss://h").unwrap().transport, Transport::Wss);
        let native = parse("taos://h").unwrap();
        assert_eq!(native.transport, Transport::Native);
        assert_eq!(native.addresses, vec![("h".to_string(), 6030)]);
        assert_eq!(
            parse("taos+ws://").unwrap().addresses,
            vec![("localhost".to_string(), 6041)]
        );
        let sql = parse("taos+ws://h?quantdal_insert=sql&quantdal_max_sql=65536").unwrap();
        assert_eq!(sql.insert_mode, InsertMode::Sql);
        assert_eq!(sql.max_sql_bytes, 65_536);
        assert!(sql.params.is_empty());
    }

    #[test]
    fn malformed_dsns_are_config_errors_without_the_password() {
        for bad in [
            "",
            "   ",
            "postgres://u:secret@h/db",
            "taos+http2://u:secret@h",
            "not a dsn",
            "taos+ws://u:secret@h:notaport",
            "taos+ws://u:secret@h?quantdal_insert=bulk",
            "taos+ws://u:secret@h?quantdal_max_sql=12",
            "taos+ws://u:secret@h?token=abc",
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("accepted {bad}"));
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn native_needs_the_feature() {
        let text = "taos://root:secret@h:6030";
        let d = parse(text).unwrap();
        let r = d.check_supported(text);
        if cfg!(feature = "native") {
            assert!(r.is_ok());
        } else {
            let err = r.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            assert!(!err.to_string().contains("secret"));
        }
        assert!(parse("taos+ws://h").unwrap().check_supported("").is_ok());
    }

    #[test]
    fn scrub_hides_the_password() {
        let d = parse("taos+ws://root:s3cr3t@h").unwrap();
        assert_eq!(d.scrub("auth s3cr3t failed"), "auth *** failed");
    }
}
