//! Command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "quantdal",
    version,
    about = "One data-access layer for quant data: TDengine, PostgreSQL, Redis or embedded DuckDB"
)]
pub struct Cli {
    /// quantdal.yaml to use (else $QUANTDAL_CONFIG, else ./config/quantdal.yaml, else an embedded store in ./data).
    #[arg(long, global = true, env = "QUANTDAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format of query results and listings.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the data classes and where each is stored.
    Classes,
    /// Create every table from the table config; or check / migrate existing ones against it.
    Provision {
        /// Print the DDL per store instead of running it; connects to nothing.
        #[arg(long, conflicts_with_all = ["check", "migrate"])]
        dry_run: bool,
        /// Compare the live tables with the spec and change nothing; exit 1 on any drift or missing table.
        #[arg(long, conflicts_with = "migrate")]
        check: bool,
        /// Apply additive changes (new columns, indexes, relaxed NOT NULL); refuse destructive ones and say
        /// what a human must do; exit 1 when anything was refused.
        #[arg(long)]
        migrate: bool,
    },
    /// Save a Parquet or CSV file (by extension) into a class.
    Import {
        class: String,
        file: PathBuf,
        /// chrono format of string timestamps in the file, read as UTC (e.g. "%Y-%m-%d %H:%M:%S%.f").
        #[arg(long)]
        time_format: Option<String>,
        /// Rows per save; each chunk is atomic, and re-running an import is safe (saves are upserts).
        #[arg(long, default_value_t = 262_144)]
        chunk_rows: usize,
    },
    /// Write a class's rows (filtered as for load) to a Parquet or CSV file.
    Export {
        class: String,
        file: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print rows of a class.
    Load {
        class: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the newest row of each series.
    Latest {
        class: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print OHLCV bars computed from ticks or finer bars, by time or by activity.
    Kline {
        class: String,
        /// Bar width (30s, 1m, 5m, 1h, 1d, 7d…), or an information-driven bar: ticks:N, volume:V, dollar:D.
        #[arg(long)]
        interval: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print every revision of the keys of a versioned class that the filters select, with `_known_at` (when
    /// it became known) and `_deleted` (a tombstone); `--as-of` keeps the revisions known by then.
    History {
        class: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the rows saved to a class from now on, as they arrive (from any process), until interrupted.
    Watch {
        class: String,
        /// Only these symbols (repeatable).
        #[arg(long = "symbol")]
        symbols: Vec<String>,
        /// Comma-separated columns to print.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Predicate 'column op value', as for load.
        #[arg(long = "where")]
        predicates: Vec<String>,
        /// Stop after this many rows.
        #[arg(long)]
        max_rows: Option<u64>,
        /// Stop after this long (e.g. 30s, 5m).
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Delete rows matching the filters (`--all` to delete every row).
    Delete {
        class: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Delete every row of the class.
        #[arg(long)]
        all: bool,
    },
    /// Generate realistic synthetic data for every class, save it, read some back, and report timings.
    Demo {
        /// Number of symbols.
        #[arg(long, default_value_t = 300)]
        symbols: usize,
        /// Trading days of ticks / minute bars / depth.
        #[arg(long, default_value_t = 1)]
        days: usize,
        /// Seed of the generator: the same seed produces the same rows, so a re-run upserts the same data.
        #[arg(long, default_value_t = 20240102)]
        seed: u64,
    },
    /// Run one read-only SELECT over classes (on the store that holds them) and `lake:` Parquet views.
    Sql {
        /// One SELECT or WITH … SELECT; class and lake view names are table names.
        statement: String,
        /// At most this many rows (default: `sql.max_rows` in quantdal.yaml, else 10,000).
        #[arg(long)]
        max_rows: Option<u64>,
        /// Cancel the statement after this long, e.g. 30s (default: `sql.timeout_ms`, else 30 s).
        #[arg(long)]
        timeout: Option<String>,
        /// Write the result to a Parquet or CSV file (by extension) instead of printing it.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Per series: rows, first and last time (one class, or every class).
    Overview { class: Option<String> },
    /// Copy a class to another configured store in chunks, resumably, then verify both sides row by row.
    Copy {
        class: String,
        /// The store to write.
        #[arg(long)]
        to: String,
        /// The store to read (default: where the class is routed now).
        #[arg(long)]
        from: Option<String>,
        #[command(flatten)]
        filter: FilterArgs,
        /// After a verified copy, route the class to the target in quantdal.yaml (one line; comments kept).
        #[arg(long)]
        switch: bool,
        /// Copy every series, also those already complete on the target (repairs differing values).
        #[arg(long)]
        full: bool,
        /// Rows per save; each is an upsert, so an interrupted copy can simply be run again.
        #[arg(long, default_value_t = 262_144)]
        chunk_rows: usize,
    },
    /// Stores as a whole: audit what they hold, compact them.
    Db {
        #[command(subcommand)]
        action: DbCommand,
    },
    /// Write every class (or `--class` ones) to zstd Parquet files in DIR, with a manifest of checksums.
    Backup {
        dir: PathBuf,
        /// Only these classes (repeatable).
        #[arg(long = "class")]
        classes: Vec<String>,
    },
    /// Save a backup's classes into the stores they are routed to (or `--to STORE`) and verify them.
    Restore {
        dir: PathBuf,
        /// Only these classes (repeatable).
        #[arg(long = "class")]
        classes: Vec<String>,
        /// Restore into this store instead of each class's route.
        #[arg(long)]
        to: Option<String>,
        /// Rows per save.
        #[arg(long, default_value_t = 262_144)]
        chunk_rows: usize,
    },
    /// Batches saved while their store was unavailable: list them, replay them now, or discard a class's.
    Spool {
        #[command(subcommand)]
        action: SpoolCommand,
    },
    /// Read the monitoring store: operations, slow statements, quality results, alerts; prune old rows.
    Monitor {
        #[command(subcommand)]
        what: crate::monitor_cmd::MonitorCommand,
    },
    /// List (default), acknowledge or resolve alerts.
    Alerts {
        #[command(subcommand)]
        action: Option<crate::monitor_cmd::AlertsCommand>,
    },
    /// Run the on-demand quality checks (freshness, completeness, consistency) of one class or all.
    Check { class: Option<String> },
    /// Serve the web dashboard, JSON endpoints and Prometheus /metrics; runs checks and prunes on schedule.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8686")]
        addr: std::net::SocketAddr,
        /// How often to run `check` on every class (e.g. 15m; `off` to disable).
        #[arg(long, default_value = "15m")]
        check_every: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Per store and class: rows, bytes on disk, series, time span, last write, drift, undeclared tables;
    /// spool depth and the monitoring store's size.
    Audit {
        /// The stable JSON document (same as --format json).
        #[arg(long)]
        json: bool,
    },
    /// Reclaim space: rewrite the embedded file (verified, swapped atomically, the old one kept), VACUUM
    /// (ANALYZE) the PostgreSQL class tables.
    Compact {
        /// Only this store (default: every store that holds classes).
        #[arg(long)]
        store: Option<String>,
        /// Backups of the embedded file to keep beside it.
        #[arg(long, default_value_t = 2)]
        keep: usize,
        /// Say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// Per store and class: batches, rows, bytes, the oldest, and records set aside.
    Status,
    /// Save every spooled batch now (the background replayer of a running process does this by itself).
    Replay,
    /// Delete a class's spooled batches without saving them.
    Discard { class: String },
}

#[derive(Debug, Clone, Args, Default)]
pub struct FilterArgs {
    /// Only these symbols (repeatable).
    #[arg(long = "symbol")]
    pub symbols: Vec<String>,
    /// Inclusive start (RFC 3339, "YYYY-MM-DD HH:MM:SS" in UTC, or a date).
    #[arg(long)]
    pub start: Option<String>,
    /// Exclusive end.
    #[arg(long)]
    pub end: Option<String>,
    /// Comma-separated columns to return.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Predicate 'column op value': = != < <= > >= in (a, b) | between a and b | is null | is not null.
    #[arg(long = "where")]
    pub predicates: Vec<String>,
    /// At most this many rows.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Newest first.
    #[arg(long)]
    pub desc: bool,
    /// Versioned classes: the rows as they were known at this instant (same forms as --start).
    #[arg(long)]
    pub as_of: Option<String>,
}
