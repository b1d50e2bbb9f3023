//! Per-backend options of a class. Each store reads its own section and ignores the others, so a class can
//! move between stores by changing its `store:` line only.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendOptions {
    #[serde(default)]
    pub tdengine: Option<TdengineOptions>,
    #[serde(default)]
    pub timescale: Option<TimescaleOptions>,
    #[serde(default)]
    pub postgres: Option<PostgresOptions>,
    #[serde(default)]
    pub redis: Option<RedisOptions>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TdengineOptions {
    /// Database holding the super-table; its PRECISION is the class precision.
    pub database: String,
    /// Days of data kept (KEEP).
    #[serde(default)]
    pub keep: Option<u32>,
    /// Days per data file (DURATION).
    #[serde(default)]
    pub duration: Option<u32>,
    #[serde(default)]
    pub replica: Option<u8>,
    #[serde(default)]
    pub vgroups: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimescaleOptions {
    /// Hypertable chunk interval, e.g. `7 days`.
    #[serde(default)]
    pub chunk_interval: Option<String>,
    #[serde(default)]
    pub compression: Option<CompressionOptions>,
    /// Drop chunks older than this, e.g. `5 years`.
    #[serde(default)]
    pub retention: Option<String>,
    /// Continuous aggregates rolled up from this class.
    #[serde(default)]
    pub rollups: Vec<RollupOptions>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionOptions {
    /// Compress chunks older than this, e.g. `30 days`.
    pub after: String,
}

/// A continuous aggregate of the class: `{ name: daily_kline_weekly, interval: "1 week" }`, or a kline width
/// alone (`5m`), named `<table>_<width>`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RollupEntry")]
pub struct RollupOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Bucket width: a kline width (`5m`, `4h`, `1d`) or a PostgreSQL interval (`1 week`, `1 month`).
    pub interval: String,
}

impl RollupOptions {
    /// The view's name: the declared one, else `<table>_<interval>` (`tick_data_5m`).
    pub fn view_name(&self, table: &str) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!(
                "{table}_{}",
                self.interval.trim().replace(char::is_whitespace, "_")
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RollupEntry {
    Width(String),
    Named(NamedRollup),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedRollup {
    #[serde(default)]
    name: Option<String>,
    interval: String,
}

impl TryFrom<RollupEntry> for RollupOptions {
    type Error = String;
    fn try_from(entry: RollupEntry) -> Result<RollupOptions, String> {
        Ok(match entry {
            RollupEntry::Width(interval) => RollupOptions {
                name: None,
                interval,
            },
            RollupEntry::Named(n) => RollupOptions {
                name: n.name,
                interval: n.interval,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresOptions {
    /// Schema the table lives in (default: the store's schema).
    #[serde(default)]
    pub schema: Option<String>,
    /// Width of native range partitions on the time column (`1d`, `7d`: whole days) where the class is a
    /// plain table; a TimescaleDB hypertable's chunks do the same and it ignores this.
    #[serde(default)]
    pub partition: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOptions {
    /// Seconds a series' latest row lives after its last write.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Prefix of every key of the class (default `qd`); the class name follows in braces, so each class is
    /// one Redis Cluster hash slot and two classes never share a key.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Rows of recent history kept per series (a capped stream); 0 keeps only the latest row.
    #[serde(default)]
    pub history: Option<u32>,
    /// Seconds of saves the class's live feed keeps for subscribers that fall behind; 0 turns the feed off.
    #[serde(default)]
    pub feed_seconds: Option<u32>,
}
