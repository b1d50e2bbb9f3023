//! The spool on disk: one folder per store, one folder per class, one file per spooled batch.
//!
//! A record file is `QDSPOOL1` + payload length (u64 LE) + CRC-32 of the payload (u32 LE) + the payload, the
//! batch as an Arrow IPC stream. It is written to a `.tmp` name, fsynced, renamed into place and the folder
//! fsynced, so after a crash a record is either whole under its final name or absent; a `.tmp` left behind
//! is an unfinished write whose save never returned, and is removed. Names sort in spooling order:
//! `<unix ns, 20 digits>-<pid>-<counter>-r<rows>.qds`, so order per class holds across processes and the
//! listing knows each record's rows without reading it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use quantdal_core::{Error, ErrorKind, Result};

const MAGIC: &[u8; 8] = b"QDSPOOL1";
const HEADER: usize = 8 + 8 + 4;
const EXT: &str = "qds";
/// Records that could not be replayed (corrupt, or refused by the store for good) are moved here.
pub const FAILED: &str = "failed";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    let kind = match e.raw_os_error() {
        // ENOSPC, EDQUOT: the disk is full — say so plainly.
        Some(28) | Some(122) => "the disk is full",
        _ => "",
    };
    Error::new(
        ErrorKind::Io,
        format!(
            "spool: cannot {what} {}: {e}{}",
            path.display(),
            if kind.is_empty() {
                String::new()
            } else {
                format!(" ({kind})")
            }
        ),
    )
}

/// One spooled batch, as listed (not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub class: String,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// When it was spooled, ns since the epoch.
    pub spooled_ns: i64,
}

/// A store's spool folder.
#[derive(Debug, Clone)]
pub struct SpoolDir {
    root: PathBuf,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, "sync", e))
}

fn class_name_ok(class: &str) -> bool {
    // Class names are validated identifiers; keep any other folder (failed/, tmp) out of the listing.
    !class.is_empty()
        && class != FAILED
        && class
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl SpoolDir {
    /// Creates the folder if needed and checks it is writable (a spool that cannot be written is an error
    /// now, not when a store goes away).
    pub fn open(root: &Path) -> Result<SpoolDir> {
        fs::create_dir_all(root).map_err(|e| io(root, "create", e))?;
        let probe = root.join(format!(".probe-{}", std::process::id()));
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"x"))
            .map_err(|e| io(root, "write in", e))?;
        let _ = fs::remove_file(&probe);
        Ok(SpoolDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `batch` durably as the newest record of `class`; returns it.
    pub fn append(&self, class: &str, batch: &RecordBatch) -> Result<Record> {
        let dir = self.root.join(class);
        fs::create_dir_all(&dir).map_err(|e| io(&dir, "create", e))?;
        let mut payload = Vec::with_capacity(batch.get_array_memory_size() + 1024);
        {
            let mut w = StreamWriter::try_new(&mut payload, &batch.schema())?;
            w.write(batch)?;
            w.finish()?;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let name = format!(
            "{now:020}-{}-{:08}-r{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            batch.num_rows()
        );
        let tmp = dir.join(format!("{name}.tmp"));
        let path = dir.join(format!("{name}.{EXT}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io(&tmp, "create", e))?;
        let crc = crc32fast::hash(&payload);
        let written = file
            .write_all(MAGIC)
            .and_then(|_| file.write_all(&(payload.len() as u64).to_le_bytes()))
            .and_then(|_| file.write_all(&crc.to_le_bytes()))
            .and_then(|_| file.write_all(&payload))
            .and_then(|_| file.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp, "write", e));
        }
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| io(&path, "rename into", e))?;
        sync_dir(&dir)?;
        Ok(Record {
            class: class.to_string(),
            path,
            rows: batch.num_rows() as u64,
            bytes: (HEADER + payload.len()) as u64,
            spooled_ns: now,
        })
    }

    /// Every class with records, sorted.
    pub fn classes(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.root, "list", e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if class_name_ok(&name) && entry.path().is_dir() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The records of `class` in spooling order. Unfinished `.tmp` writes older than a minute (their
    /// process died before the save returned, so nobody was told they were kept) are removed.
    pub fn records(&self, class: &str) -> Result<Vec<Record>> {
        list(&self.root.join(class), class)
    }

    /// Records moved aside because they could not be replayed.
    pub fn failed(&self, class: &str) -> Result<Vec<Record>> {
        list(&self.root.join(FAILED).join(class), class)
    }

    /// Reads and checks one record: a wrong length, magic or checksum is an `Io` error naming the file.
    pub fn read(&self, record: &Record) -> Result<RecordBatch> {
        let mut bytes = Vec::new();
        File::open(&record.path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| io(&record.path, "read", e))?;
        let corrupt = |why: &str| {
            Error::new(
                ErrorKind::Io,
                format!("spool record {} is damaged: {why}", record.path.display()),
            )
            .with_class(record.class.clone())
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(corrupt("no spool header (truncated or not a spool file)"));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[8..16]);
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[16..20]);
        let payload = &bytes[HEADER..];
        if payload.len() as u64 != u64::from_le_bytes(len) {
            return Err(corrupt(&format!(
                "{} payload bytes where the header says {}",
                payload.len(),
                u64::from_le_bytes(len)
            )));
        }
        if crc32fast::hash(payload) != u32::from_le_bytes(crc) {
            return Err(corrupt("checksum mismatch"));
        }
        let reader = StreamReader::try_new(std::io::Cursor::new(payload), None)
            .map_err(|e| corrupt(&e.to_string()))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| corrupt(&e.to_string()))?;
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    }

    /// Deletes a record once its batch is in the store.
    pub fn remove(&self, record: &Record) -> Result<()> {
        fs::remove_file(&record.path).map_err(|e| io(&record.path, "remove", e))?;
        if let Some(dir) = record.path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Moves a record that cannot be replayed to `failed/<class>/`, keeping it for a human.
    pub fn set_aside(&self, record: &Record) -> Result<PathBuf> {
        let dir = self.root.join(FAILED).join(&record.class);
        fs::create_dir_all(&dir).map_err(|e| io(&dir, "create", e))?;
        let to = dir.join(record.path.file_name().unwrap_or_default());
        fs::rename(&record.path, &to).map_err(|e| io(&to, "move to", e))?;
        sync_dir(&dir)?;
        Ok(to)
    }

    /// Bytes of every record (pending and set aside): what `max_bytes` limits.
    pub fn bytes(&self) -> Result<u64> {
        let mut total = 0;
        for class in self.classes()? {
            total += self.records(&class)?.iter().map(|r| r.bytes).sum::<u64>();
            total += self.failed(&class)?.iter().map(|r| r.bytes).sum::<u64>();
        }
        Ok(total)
    }
}

fn list(dir: &Path, class: &str) -> Result<Vec<Record>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, "list", e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60);
            if stale {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(&format!(".{EXT}")) else {
            continue;
        };
        let spooled_ns = stem
            .split('-')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let rows = stem
            .rsplit_once("-r")
            .and_then(|(_, r)| r.parse().ok())
            .unwrap_or(0);
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.push(Record {
            class: class.to_string(),
            path,
            rows,
            bytes,
            spooled_ns,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        RecordBatch::try_from_iter(vec![(
            "v",
            Arc::new(Int64Array::from_iter_values(0..n)) as _,
        )])
        .unwrap()
    }

    #[test]
    fn records_round_trip_in_order_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let spool = SpoolDir::open(dir.path()).unwrap();
        let a = spool.append("ticks", &batch(3)).unwrap();
        let b = spool.append("ticks", &batch(5)).unwrap();
        let listed = spool.records("ticks").unwrap();
        assert_eq!(listed.iter().map(|r| r.rows).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(listed[0].path, a.path);
        assert_eq!(spool.read(&listed[1]).unwrap(), batch(5));
        // Truncate the last record: detected, the first still reads.
        let len = fs::metadata(&b.path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&b.path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let err = spool.read(&listed[1]).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(spool.read(&listed[0]).unwrap(), batch(3));
        spool.set_aside(&listed[1]).unwrap();
        assert_eq!(spool.records("ticks").unwrap().len(), 1);
        assert_eq!(spool.failed("ticks").unwrap().len(), 1);
        assert_eq!(spool.classes().unwrap(), ["ticks"]);
    }
}
