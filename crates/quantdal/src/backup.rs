//! `quantdal backup DIR` / `quantdal restore DIR [--to STORE]`: every class (or a selection) as one zstd
//! Parquet file, with a manifest (`manifest.json`) that records per class the spec and its hash, rows,
//! series, the time span, an order-independent checksum of the rows ([`crate::checksum`]) and a CRC-32 of
//! the file. A restore checks every file and every spec first and refuses, changing nothing, when a file
//! is damaged or a class's spec on the target differs from the one backed up; then it saves the rows
//! (upserts, so a restore can be repeated) and verifies the target against the manifest.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use quantdal_core::{Catalog, Error, ErrorKind, Load, Order, Result, TableSpec};
use serde::{Deserialize, Serialize};

use crate::checksum::Fingerprint;
use crate::overview::time_text;
use crate::{Config, Dal, OpenOptions};

pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "quantdal-backup";

/// Progress of a backup or restore: (class, rows so far).
pub type Progress = std::sync::Arc<dyn Fn(&str, u64) + Send + Sync>;

/// What a class's rows look like: the part of the spec a restore must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecShape {
    pub table: String,
    pub time: Option<String>,
    pub precision: String,
    pub tags: Vec<String>,
    pub key: Vec<String>,
    pub columns: Vec<ColumnShape>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnShape {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
}

impl SpecShape {
    pub fn of(spec: &TableSpec) -> SpecShape {
        SpecShape {
            table: spec.table.clone(),
            time: spec.time.as_ref().map(|t| t.column.clone()),
            precision: spec.precision().to_string(),
            tags: spec.tags.clone(),
            key: spec.key.clone(),
            columns: spec
                .columns
                .iter()
                .map(|c| ColumnShape {
                    name: c.name.clone(),
                    ty: c.data_type.to_string(),
                    nullable: c.nullable,
                })
                .collect(),
        }
    }

    /// FNV-1a 64 of the shape without the table name (a restore may go to a table named otherwise).
    pub fn hash(&self) -> String {
        let mut text = format!(
            "time={:?};precision={};tags={};key={};",
            self.time,
            self.precision,
            self.tags.join(","),
            self.key.join(",")
        );
        for c in &self.columns {
            text.push_str(&format!("{}:{}:{};", c.name, c.ty, c.nullable));
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// How `target` differs, in words.
    pub fn differences(&self, target: &SpecShape) -> Vec<String> {
        let mut out = Vec::new();
        if self.time != target.time || self.precision != target.precision {
            out.push(format!(
                "time column {:?} at {} in the backup, {:?} at {} on the target",
                self.time, self.precision, target.time, target.precision
            ));
        }
        if self.tags != target.tags {
            out.push(format!("tags {:?} vs {:?}", self.tags, target.tags));
        }
        if self.key != target.key {
            out.push(format!("key {:?} vs {:?}", self.key, target.key));
        }
        for c in &self.columns {
            match target.columns.iter().find(|t| t.name == c.name) {
                None => out.push(format!("column {} is not on the target", c.name)),
                Some(t) if t != c => out.push(format!(
                    "column {} is {}{} in the backup, {}{} on the target",
                    c.name,
                    c.ty,
                    if c.nullable { "" } else { " NOT NULL" },
                    t.ty,
                    if t.nullable { "" } else { " NOT NULL" }
                )),
                _ => {}
            }
        }
        for t in &target.columns {
            if !self.columns.iter().any(|c| c.name == t.name) {
                out.push(format!("column {} is on the target only", t.name));
            }
        }
        out
    }
}

/// One class in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassEntry {
    pub class: String,
    pub file: String,
    pub store: String,
    pub kind: String,
    pub rows: u64,
    pub series: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// Order-independent checksum of every row ([`crate::checksum::Print::checksum`]).
    pub checksum: String,
    pub file_bytes: u64,
    pub file_crc32: String,
    pub spec_hash: String,
    pub spec: SpecShape,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created: String,
    pub quantdal: String,
    pub classes: Vec<ClassEntry>,
    /// Classes left out, with why (e.g. a table not provisioned yet).
    #[serde(default)]
    pub skipped: Vec<String>,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("not a quantdal backup manifest: {e}"))
                .with_file(path.display().to_string())
        })?;
        if m.format != FORMAT || m.version != 1 {
            return Err(Error::config(format!(
                "{} is format {} version {}; this build reads {FORMAT} version 1",
                path.display(),
                m.format,
                m.version
            )));
        }
        Ok(m)
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

/// A writer that keeps the CRC-32 and size of what passes through it.
struct Crc<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    quantdal_core::Timestamp::from_nanos(now)
        .to_datetime()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Writes every class (or `classes`) of `dal` to `dir`, one Parquet file each, then the manifest (last,
/// so a directory without one is an unfinished backup).
pub async fn backup(
    dal: &Dal,
    dir: &Path,
    classes: &[String],
    progress: Option<Progress>,
) -> Result<Manifest> {
    let chosen: Vec<String> = if classes.is_empty() {
        dal.classes().into_iter().map(|c| c.class).collect()
    } else {
        for c in classes {
            dal.spec(c)?;
        }
        classes.to_vec()
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: 1,
        created: now_text(),
        quantdal: env!("CARGO_PKG_VERSION").into(),
        classes: Vec::new(),
        skipped: Vec::new(),
    };
    for class in chosen {
        match backup_class(dal, dir, &class, progress.as_ref()).await {
            Ok(entry) => manifest.classes.push(entry),
            // A class the store cannot read (not provisioned) is named in the manifest, not fatal, when
            // backing up everything.
            Err(e) if classes.is_empty() && e.kind() == ErrorKind::Config => {
                manifest.skipped.push(format!("{class}: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the manifest: {e}")))?;
    std::fs::write(&path, text + "\n").map_err(|e| io(&path, e))?;
    Ok(manifest)
}

async fn backup_class(
    dal: &Dal,
    dir: &Path,
    class: &str,
    progress: Option<&Progress>,
) -> Result<ClassEntry> {
    let (spec, store) = dal.store_for(class)?;
    let mut stream = dal
        .load_stream(class, Load::all().order(Order::Unordered))
        .await?;
    let file_name = format!("{class}.parquet");
    let path = dir.join(&file_name);
    let tmp = dir.join(format!("{file_name}.partial"));
    let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let sink = Crc {
        inner: std::io::BufWriter::new(file),
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut writer =
        ArrowWriter::try_new(sink, spec.arrow_schema(), Some(props)).map_err(|e| io(&tmp, e))?;
    let mut print = Fingerprint::default();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        print.add_batch(&spec, &batch)?;
        writer.write(&batch).map_err(|e| io(&tmp, e))?;
        if let Some(p) = progress {
            p(class, print.total.rows);
        }
    }
    let mut sink = writer.into_inner().map_err(|e| io(&tmp, e))?;
    sink.flush().map_err(|e| io(&tmp, e))?;
    let (crc, bytes) = (sink.crc.clone().finalize(), sink.bytes);
    let file = sink.inner.into_inner().map_err(|e| io(&tmp, e.error()))?;
    file.sync_all().map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    let shape = SpecShape::of(&spec);
    Ok(ClassEntry {
        class: class.to_string(),
        file: file_name,
        store: store.info().name.clone(),
        kind: store.info().kind.to_string(),
        rows: print.total.rows,
        series: print.series.len() as u64,
        first: print.first_ns.map(time_text),
        last: print.last_ns.map(time_text),
        first_ns: print.first_ns,
        last_ns: print.last_ns,
        checksum: print.total.checksum(),
        file_bytes: bytes,
        file_crc32: format!("{crc:08x}"),
        spec_hash: shape.hash(),
        spec: shape,
    })
}

/// What a restore did for one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredClass {
    pub class: String,
    pub store: String,
    pub rows: u64,
    /// Rows the target holds for the class after the restore, and their checksum.
    pub rows_target: u64,
    pub checksum_target: String,
    pub verified: bool,
    pub mismatches: Vec<String>,
}

fn file_crc(path: &Path) -> Result<(String, u64)> {
    let mut f = BufReader::new(File::open(path).map_err(|e| io(path, e))?);
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((format!("{:08x}", crc.finalize()), bytes))
}

/// Restores the classes of the backup in `dir` (all, or `classes`) into the stores `config` routes them
/// to, or into store `to`. Refuses before writing anything when a file does not match its CRC or a spec
/// differs; verifies each class afterwards.
pub async fn restore(
    config: &Config,
    dir: &Path,
    classes: &[String],
    to: Option<&str>,
    chunk_rows: usize,
    progress: Option<Progress>,
) -> Result<Vec<RestoredClass>> {
    let manifest = Manifest::read(dir)?;
    let chosen: Vec<&ClassEntry> = if classes.is_empty() {
        manifest.classes.iter().collect()
    } else {
        classes
            .iter()
            .map(|c| {
                manifest
                    .classes
                    .iter()
                    .find(|e| &e.class == c)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::UnknownClass,
                            format!("the backup in {} has no class {c}", dir.display()),
                        )
                        .with_class(c.clone())
                    })
            })
            .collect::<Result<_>>()?
    };
    // Everything is checked before anything is written.
    let mut specs = Vec::new();
    for entry in &chosen {
        let spec = config.catalog.get(&entry.class).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::Mismatch,
                format!(
                    "class {} of the backup is not declared in {}",
                    entry.class,
                    config.settings.tables.display()
                ),
            )
            .with_class(entry.class.clone())
        })?;
        let shape = SpecShape::of(&spec);
        if shape.hash() != entry.spec_hash || entry.spec.hash() != entry.spec_hash {
            return Err(Error::new(
                ErrorKind::Mismatch,
                format!(
                    "refused: the backup's spec of {} (hash {}) is not the target's (hash {}): {}; nothing was \
                     restored",
                    entry.class,
                    entry.spec_hash,
                    shape.hash(),
                    entry.spec.differences(&shape).join("; ")
                ),
            )
            .with_class(entry.class.clone()));
        }
        let path = dir.join(&entry.file);
        let (crc, bytes) = file_crc(&path)?;
        if crc != entry.file_crc32 || bytes != entry.file_bytes {
            return Err(Error::new(
                ErrorKind::Mismatch,
                format!(
                    "refused: {} is damaged ({bytes} bytes, CRC-32 {crc}; the manifest says {} bytes, {}); \
                     nothing was restored",
                    path.display(),
                    entry.file_bytes,
                    entry.file_crc32
                ),
            )
            .with_class(entry.class.clone()));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let mut settings = config.settings.clone();
    if let Some(store) = to {
        if !settings.stores.contains_key(store) {
            return Err(Error::config(format!(
                "`{store}` is not a store in {}",
                settings.source_name()
            )));
        }
        for spec in &specs {
            settings.routes.insert(spec.name.clone(), store.to_string());
        }
    }
    let dal = Dal::from_parts(
        settings,
        Catalog::from_specs(specs)?,
        OpenOptions { read_only: false },
    )
    .await?;
    let outcome = restore_into(&dal, dir, &chosen, chunk_rows, progress.as_ref()).await;
    let _ = dal.close().await;
    outcome
}

async fn restore_into(
    dal: &Dal,
    dir: &Path,
    chosen: &[&ClassEntry],
    chunk_rows: usize,
    progress: Option<&Progress>,
) -> Result<Vec<RestoredClass>> {
    dal.provision().await?;
    let mut out = Vec::new();
    for entry in chosen {
        let path: PathBuf = dir.join(&entry.file);
        let file = File::open(&path).map_err(|e| io(&path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| io(&path, e))?
            .with_batch_size(chunk_rows.max(1))
            .build()
            .map_err(|e| io(&path, e))?;
        let mut rows = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| io(&path, e))?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += dal.save(&entry.class, &batch).await?.rows;
            if let Some(p) = progress {
                p(&entry.class, rows);
            }
        }
        let spec = dal.spec(&entry.class)?;
        let (_, store) = dal.store_for(&entry.class)?;
        let print = Fingerprint::of_stream(
            &spec,
            dal.load_stream(&entry.class, Load::all().order(Order::Unordered))
                .await?,
        )
        .await?;
        let mut mismatches = Vec::new();
        if print.total.rows != entry.rows {
            mismatches.push(format!(
                "{} rows in the backup, {} on the target after the restore",
                entry.rows, print.total.rows
            ));
        } else if print.total.checksum() != entry.checksum {
            mismatches.push(format!(
                "{} rows on both sides, but their values differ (checksum {} in the backup, {} on the target)",
                entry.rows,
                entry.checksum,
                print.total.checksum()
            ));
        }
        out.push(RestoredClass {
            class: entry.class.clone(),
            store: store.info().name.clone(),
            rows,
            rows_target: print.total.rows,
            checksum_target: print.total.checksum(),
            verified: mismatches.is_empty(),
            mismatches,
        });
    }
    Ok(out)
}
