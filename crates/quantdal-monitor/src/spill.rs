//! Local append-only JSON-lines files that hold records while the monitoring store is unreachable. Each
//! process appends to its own file (`<stem>.spill-<pid>.jsonl`); files left by processes that are gone are
//! adopted and replayed first, oldest first. Replay is safe to repeat: the store ignores ids it has.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use quantdal_core::{Error, Result};

use crate::record::Record;

#[derive(Debug)]
pub struct Spill {
    own: PathBuf,
    /// Files to replay, in order; `own` is last when it holds records.
    pending: Vec<PathBuf>,
}

impl Spill {
    /// `base` names the family: `dir/monitoring.db` → `dir/monitoring.spill-<pid>.jsonl`.
    pub fn open(base: &Path) -> Result<Spill> {
        let dir = base
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::from(e).with_file(dir.display().to_string()))?;
        let stem = base
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "monitoring".into());
        let prefix = format!("{stem}.spill-");
        let own_pid = std::process::id();
        let own = dir.join(format!("{prefix}{own_pid}.jsonl"));
        let mut orphans: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(pid) = name
                    .strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(".jsonl"))
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if pid != own_pid && !process_alive(pid) {
                    let modified = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    orphans.push((modified, entry.path()));
                }
            }
        }
        orphans.sort();
        let mut pending: Vec<PathBuf> = orphans.into_iter().map(|(_, p)| p).collect();
        if std::fs::metadata(&own).is_ok_and(|m| m.len() > 0) {
            pending.push(own.clone());
        }
        Ok(Spill { own, pending })
    }

    pub fn path(&self) -> &Path {
        &self.own
    }

    /// True while records wait for replay; new records must then go behind them to keep the order.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn append(&mut self, records: &[Record]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let fail = |e: std::io::Error| Error::from(e).with_file(self.own.display().to_string());
        let mut text = String::new();
        for r in records {
            let line = serde_json::to_string(r)
                .map_err(|e| Error::store(format!("cannot serialise a monitoring record: {e}")))?;
            text.push_str(&line);
            text.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.own)
            .map_err(fail)?;
        // One write per batch, so a crash leaves at most one torn line at the end (skipped on replay).
        file.write_all(text.as_bytes()).map_err(fail)?;
        if self.pending.last() != Some(&self.own) {
            self.pending.push(self.own.clone());
        }
        Ok(())
    }

    /// The next file to replay and a reader of its records in chunks.
    pub fn next_file(&self) -> Option<&Path> {
        self.pending.first().map(PathBuf::as_path)
    }

    /// Marks the first pending file replayed and removes it.
    pub fn finish_file(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.pending.remove(0);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::from(e).with_file(path.display().to_string())),
        }
    }
}

/// Reads a spill file in chunks of records; unparsable lines (a torn last write) are skipped with a warning.
pub struct SpillReader {
    lines: std::io::Lines<BufReader<File>>,
    path: PathBuf,
}

impl SpillReader {
    pub fn open(path: &Path) -> Result<SpillReader> {
        let file =
            File::open(path).map_err(|e| Error::from(e).with_file(path.display().to_string()))?;
        Ok(SpillReader {
            lines: BufReader::new(file).lines(),
            path: path.to_path_buf(),
        })
    }

    /// Up to `n` records; empty at the end of the file.
    pub fn chunk(&mut self, n: usize) -> Result<Vec<Record>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(line) = self.lines.next() else { break };
            let line =
                line.map_err(|e| Error::from(e).with_file(self.path.display().to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "skipping an unreadable spilled monitoring record")
                }
            }
        }
        Ok(out)
    }
}

/// Whether another process still owns its spill file. Linux shows live processes under /proc; elsewhere
/// foreign files are left alone (assumed alive).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}
