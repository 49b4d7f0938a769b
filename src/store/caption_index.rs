//! On-disk caption index: a directory of immutable Apache Parquet parts plus a JSON manifest.
//!
//! ```text
//! index/
//!   manifest.json             {"format": "clusterby-index", "version": 1, "model": ..., "dim": ..., "parts": [...], "rows": ...}
//!   parts/part-00000.parquet  id: utf8, caption: utf8, label: utf8?, embedding: fixed_size_list<item: float>[dim]
//!   parts/part-00001.parquet
//! ```
//!
//! Plain Parquet so that pandas/pyarrow, polars, DuckDB and Spark can read the parts directly.
//! The manifest is the single source of truth: a part is only part of the index once the
//! manifest lists it, so a crash at any point leaves the previous state intact. One writer at a
//! time per index directory: a writer holds an exclusive lock on `.clusterby-writer.lock` while
//! it is open, and a second one is refused. On opening, the writer removes what a killed writer
//! left behind: parts the manifest does not list and half-written temp files, so that readers
//! of `parts/` never see a row twice (the commit protocol: `docs/index-format.md`).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};
use ndarray::Array2;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CaptionRecord, IndexError};

pub const FORMAT_NAME: &str = "clusterby-index";
pub const FORMAT_VERSION: u32 = 1;

const MANIFEST_FILE: &str = "manifest.json";
const PARTS_DIR: &str = "parts";
/// Held (an OS advisory lock, released when the process ends) by the one writer of an index.
const LOCK_FILE: &str = ".clusterby-writer.lock";
/// ~100 MB of embeddings per row group at dim 384: large enough for efficient scans, small
/// enough that Spark/DuckDB can split work and the writer's buffer stays bounded.
const ROW_GROUP_ROWS: usize = 65_536;
const READ_BATCH_ROWS: usize = 8_192;

type Result<T> = std::result::Result<T, IndexError>;

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// Name of the embedding model; embeddings from different models are not comparable.
    pub model: String,
    pub dim: usize,
    pub parts: Vec<PartEntry>,
    pub rows: usize,
    /// Free-form information for the user (source files, creation time, ...); never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Path relative to the index directory, always `parts/<name>.parquet`.
    pub file: String,
    pub rows: usize,
    /// The part holds new versions of rows already in the index (e.g. images whose files
    /// changed): for these ids the later row wins.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaces: bool,
    /// CRC-32 of the part file as written, checked when the index is loaded (parts written
    /// before checksums were recorded have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
}

/// How [`Index::adopt_part`] brought a part file into the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartCopy {
    /// A hard link: the bytes are shared with the source index.
    Linked,
    /// A copy: the source is on another file system, or links are not allowed there.
    Copied,
}

/// All rows of an index, in manifest order.
#[derive(Debug, Clone)]
pub struct LoadedIndex {
    pub ids: Vec<String>,
    pub captions: Vec<String>,
    pub labels: Vec<Option<String>>,
    /// One row per caption, `dim` columns.
    pub embeddings: Array2<f32>,
}

/// Handle on an index directory.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    writable: bool,
    /// Ids already stored, filled on the first append so duplicates can be rejected.
    known_ids: Option<HashSet<String>>,
    /// The writer lock, held while a writable handle lives.
    _lock: Option<File>,
    /// Files a killed writer left in `parts/` that opening removed (names).
    strays_removed: Vec<String>,
}

impl Index {
    /// Opens the index in `dir` for appending, creating it if there is none yet.
    ///
    /// An existing index must have been built with the same `model` and `dim`.
    pub fn create_or_open(dir: impl AsRef<Path>, model: &str, dim: usize) -> Result<Index> {
        let dir = dir.as_ref().to_path_buf();
        check_dim(&dir, dim)?;
        if model.trim().is_empty() {
            return Err(IndexError::InvalidInput { dir, message: "model name must not be empty".into() });
        }
        let lock = lock_writer(&dir)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest = if manifest_path.exists() {
            let manifest = read_manifest(&manifest_path)?;
            if manifest.model != model || manifest.dim != dim {
                return Err(IndexError::ModelMismatch {
                    dir,
                    stored_model: manifest.model,
                    stored_dim: manifest.dim,
                    requested_model: model.to_string(),
                    requested_dim: dim,
                });
            }
            manifest
        } else {
            refuse_foreign_directory(&dir)?;
            let manifest = Manifest {
                format: FORMAT_NAME.to_string(),
                version: FORMAT_VERSION,
                model: model.to_string(),
                dim,
                parts: Vec::new(),
                rows: 0,
                meta: None,
            };
            fs::create_dir_all(dir.join(PARTS_DIR)).map_err(|e| IndexError::io(&dir, e))?;
            write_manifest(&dir, &manifest)?;
            manifest
        };
        // An index copied without its (empty) parts folder is still valid.
        fs::create_dir_all(dir.join(PARTS_DIR)).map_err(|e| IndexError::io(&dir, e))?;
        let strays_removed = remove_strays(&dir, &manifest)?;
        Ok(Index { dir, manifest, writable: true, known_ids: None, _lock: Some(lock), strays_removed })
    }

    /// Opens an existing index read-only.
    pub fn open(dir: impl AsRef<Path>) -> Result<Index> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = read_manifest(&dir.join(MANIFEST_FILE))?;
        Ok(Index { dir, manifest, writable: false, known_ids: None, _lock: None, strays_removed: Vec::new() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Files in `parts/` that no manifest listed (a killed writer's), removed when this writer
    /// opened the index; their rows are indexed again.
    pub fn strays_removed(&self) -> &[String] {
        &self.strays_removed
    }

    /// Ids already stored (reads only the `id` column of each part).
    pub fn ids(&self) -> Result<HashSet<String>> {
        let mut ids = HashSet::with_capacity(self.manifest.rows.min(1 << 24));
        self.for_each_text(
            |c| c.id,
            "id",
            |id| {
                ids.insert(id.to_string());
            },
        )?;
        Ok(ids)
    }

    /// Every caption in manifest order, without the embeddings (reads only the `caption`
    /// column): what the vocabulary's cache is checked against.
    pub fn captions(&self) -> Result<Vec<String>> {
        let mut captions = Vec::with_capacity(self.manifest.rows.min(1 << 24));
        self.for_each_text(|c| c.caption, "caption", |c| captions.push(c.to_string()))?;
        Ok(captions)
    }

    /// Calls `f` with each row's value of one non-null text column, part by part in manifest order.
    fn for_each_text(&self, column: impl Fn(&PartColumns) -> usize, name: &str, mut f: impl FnMut(&str)) -> Result<()> {
        for part in &self.manifest.parts {
            let path = self.dir.join(&part.file);
            guard(&path, || {
                let (builder, cols) = open_part(&path, part, self.manifest.dim)?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), [column(&cols)]);
                let reader = builder
                    .with_projection(mask)
                    .with_batch_size(READ_BATCH_ROWS)
                    .build()
                    .map_err(|e| corrupt(&path, e))?;
                for batch in reader {
                    let batch = batch.map_err(|e| corrupt(&path, e))?;
                    for_each_str(batch.column(0), &path, name, |v| {
                        f(v.ok_or_else(|| corrupt(&path, format!("null {name}")))?);
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Stores `records` with their embeddings (row-major, `records.len() * dim` floats) as a new
    /// immutable part. Ids must be new to the index and unique within `records`.
    pub fn append_part(&mut self, records: &[CaptionRecord], embeddings: &[f32]) -> Result<()> {
        self.append(records, embeddings, false)
    }

    /// Like [`append_part`](Self::append_part), but ids may already be in the index: their new
    /// rows supersede the old ones when the index is loaded.
    pub fn append_part_replacing(&mut self, records: &[CaptionRecord], embeddings: &[f32]) -> Result<()> {
        self.append(records, embeddings, true)
    }

    fn append(&mut self, records: &[CaptionRecord], embeddings: &[f32], replaces: bool) -> Result<()> {
        if !self.writable {
            return Err(IndexError::ReadOnly { dir: self.dir.clone() });
        }
        let dim = self.manifest.dim;
        let expected = records.len().checked_mul(dim);
        if expected != Some(embeddings.len()) {
            return Err(self.invalid(format!(
                "{} records × dim {dim} need {} floats, got {}",
                records.len(),
                records.len().saturating_mul(dim),
                embeddings.len()
            )));
        }
        if records.is_empty() {
            return Ok(());
        }
        self.check_new_records(records, embeddings, replaces)?;

        let parts_dir = self.dir.join(PARTS_DIR);
        fs::create_dir_all(&parts_dir).map_err(|e| IndexError::io(&parts_dir, e))?;
        let name = format!("part-{:05}.parquet", self.next_part_number()?);
        let final_path = parts_dir.join(&name);
        // Leading dot: dataset readers (pyarrow, Spark) skip hidden files in `parts/`.
        let tmp_path = crate::util::fs::temp_path(&final_path);

        write_part_file(&tmp_path, records, embeddings, dim)?;
        let crc32 = file_crc32(&tmp_path).map_err(|e| IndexError::io(&tmp_path, e))?;
        // Parts are immutable; only a concurrent writer could get here, and it must not win silently.
        if final_path.exists() {
            let _ = fs::remove_file(&tmp_path);
            return Err(IndexError::Io {
                path: final_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "part already exists (is another process writing this index?)",
                ),
            });
        }
        fs::rename(&tmp_path, &final_path).map_err(|e| IndexError::io(&final_path, e))?;
        sync_dir(&parts_dir)?;

        let mut manifest = self.manifest.clone();
        manifest.parts.push(PartEntry {
            file: format!("{PARTS_DIR}/{name}"),
            rows: records.len(),
            replaces,
            crc32: Some(crc32),
        });
        manifest.rows += records.len();
        write_manifest(&self.dir, &manifest)?;
        self.manifest = manifest;
        if let Some(known) = &mut self.known_ids {
            known.extend(records.iter().map(|r| r.id.clone()));
        }
        Ok(())
    }

    /// Replaces the manifest's free-form `meta` object.
    pub fn set_meta(&mut self, meta: Map<String, Value>) -> Result<()> {
        if !self.writable {
            return Err(IndexError::ReadOnly { dir: self.dir.clone() });
        }
        let mut manifest = self.manifest.clone();
        manifest.meta = Some(meta);
        write_manifest(&self.dir, &manifest)?;
        self.manifest = manifest;
        Ok(())
    }

    /// Reads every listed part, in manifest order.
    pub fn load(&self) -> Result<LoadedIndex> {
        let dim = self.manifest.dim;
        let rows = self.manifest.rows;
        let manifest_path = self.dir.join(MANIFEST_FILE);
        let too_large = || IndexError::Manifest {
            path: manifest_path.clone(),
            message: format!("{rows} rows × dim {dim} do not fit in memory"),
        };
        // try_reserve: a damaged manifest claiming absurd sizes must give an error, not an abort.
        let mut embeddings: Vec<f32> = Vec::new();
        embeddings.try_reserve_exact(rows.checked_mul(dim).ok_or_else(too_large)?).map_err(|_| too_large())?;
        let mut ids: Vec<String> = Vec::new();
        let mut captions: Vec<String> = Vec::new();
        let mut labels: Vec<Option<String>> = Vec::new();
        ids.try_reserve_exact(rows).map_err(|_| too_large())?;
        captions.try_reserve_exact(rows).map_err(|_| too_large())?;
        labels.try_reserve_exact(rows).map_err(|_| too_large())?;

        for part in &self.manifest.parts {
            let path = self.dir.join(&part.file);
            check_crc32(&path, part)?;
            guard(&path, || {
                let (builder, cols) = open_part(&path, part, dim)?;
                let mask = ProjectionMask::roots(
                    builder.parquet_schema(),
                    [cols.id, cols.caption, cols.label, cols.embedding],
                );
                // Projected columns come back in file order, so look them up by name.
                let reader = builder
                    .with_projection(mask)
                    .with_batch_size(READ_BATCH_ROWS)
                    .build()
                    .map_err(|e| corrupt(&path, e))?;
                let before = ids.len();
                for batch in reader {
                    let batch = batch.map_err(|e| corrupt(&path, e))?;
                    let column = |name: &str| {
                        batch.column_by_name(name).ok_or_else(|| corrupt(&path, format!("missing column '{name}'")))
                    };
                    for_each_str(column("id")?, &path, "id", |v| {
                        ids.push(v.ok_or_else(|| corrupt(&path, "null id"))?.to_string());
                        Ok(())
                    })?;
                    for_each_str(column("caption")?, &path, "caption", |v| {
                        captions.push(v.ok_or_else(|| corrupt(&path, "null caption"))?.to_string());
                        Ok(())
                    })?;
                    for_each_str(column("label")?, &path, "label", |v| {
                        labels.push(v.map(str::to_string));
                        Ok(())
                    })?;
                    append_embeddings(column("embedding")?, dim, &path, &mut embeddings)?;
                }
                if ids.len() - before != part.rows {
                    return Err(corrupt(
                        &path,
                        format!("read {} rows, manifest lists {}", ids.len() - before, part.rows),
                    ));
                }
                Ok(())
            })?;
        }

        if self.manifest.parts.iter().any(|p| p.replaces) {
            supersede(&mut ids, &mut captions, &mut labels, &mut embeddings, dim);
        }
        let n = ids.len();
        // Lengths were checked per batch, so this cannot fail; report rather than panic anyway.
        let embeddings = Array2::from_shape_vec((n, dim), embeddings).map_err(|e| IndexError::Manifest {
            path: manifest_path.clone(),
            message: format!("embedding matrix shape: {e}"),
        })?;
        Ok(LoadedIndex { ids, captions, labels, embeddings })
    }

    /// Commits another index's part file as a new part of this one: hard-linked where the file
    /// system allows (no embedding is copied), else copied. The source part is checked first
    /// (its checksum, row count and schema against this index's dim). `meta` replaces the
    /// manifest's `meta` in the same manifest write, so what a merge records about its progress
    /// is committed with the part it describes.
    pub fn adopt_part(&mut self, src_dir: &Path, part: &PartEntry, meta: Map<String, Value>) -> Result<PartCopy> {
        if !self.writable {
            return Err(IndexError::ReadOnly { dir: self.dir.clone() });
        }
        let src = src_dir.join(&part.file);
        check_crc32(&src, part)?;
        guard(&src, || open_part(&src, part, self.manifest.dim).map(|_| ()))?;
        let parts_dir = self.dir.join(PARTS_DIR);
        let name = format!("part-{:05}.parquet", self.next_part_number()?);
        let final_path = parts_dir.join(&name);
        let tmp_path = crate::util::fs::temp_path(&final_path);
        let how = match fs::hard_link(&src, &tmp_path) {
            Ok(()) => PartCopy::Linked,
            Err(_) => {
                fs::copy(&src, &tmp_path).map_err(|e| IndexError::io(&src, e))?;
                File::open(&tmp_path).and_then(|f| f.sync_all()).map_err(|e| IndexError::io(&tmp_path, e))?;
                PartCopy::Copied
            }
        };
        fs::rename(&tmp_path, &final_path).map_err(|e| IndexError::io(&final_path, e))?;
        sync_dir(&parts_dir)?;
        let mut manifest = self.manifest.clone();
        // Parts written before checksums were recorded get one now (the source was just read).
        let crc32 = match part.crc32 {
            Some(c) => c,
            None => file_crc32(&final_path).map_err(|e| IndexError::io(&final_path, e))?,
        };
        manifest.parts.push(PartEntry { file: format!("{PARTS_DIR}/{name}"), crc32: Some(crc32), ..part.clone() });
        manifest.rows += part.rows;
        manifest.meta = Some(meta);
        write_manifest(&self.dir, &manifest)?;
        self.manifest = manifest;
        self.known_ids = None;
        Ok(how)
    }

    fn invalid(&self, message: String) -> IndexError {
        IndexError::InvalidInput { dir: self.dir.clone(), message }
    }

    fn check_new_records(&mut self, records: &[CaptionRecord], embeddings: &[f32], replaces: bool) -> Result<()> {
        if self.known_ids.is_none() {
            let ids = self.ids()?;
            self.known_ids = Some(ids);
        }
        let known = self.known_ids.get_or_insert_with(HashSet::new);
        let invalid = |message: String| IndexError::InvalidInput { dir: self.dir.clone(), message };
        let mut batch_ids = HashSet::with_capacity(records.len());
        for (record, row) in records.iter().zip(embeddings.chunks_exact(self.manifest.dim)) {
            if record.id.is_empty() {
                return Err(invalid("empty id".into()));
            }
            if !replaces && known.contains(&record.id) {
                return Err(invalid(format!("id '{}' is already in the index", record.id)));
            }
            if !batch_ids.insert(record.id.as_str()) {
                return Err(invalid(format!("id '{}' appears twice in this part", record.id)));
            }
            // NaN/inf would silently poison every distance computed later.
            if row.iter().any(|x| !x.is_finite()) {
                return Err(invalid(format!("embedding of id '{}' contains NaN or infinity", record.id)));
            }
        }
        Ok(())
    }

    /// One past the highest part number seen in the manifest *or* on disk, so a part left by a
    /// crash before its manifest update is never overwritten.
    fn next_part_number(&self) -> Result<u64> {
        let mut max: Option<u64> = None;
        for part in &self.manifest.parts {
            let name = part.file.rsplit('/').next().unwrap_or(&part.file);
            max = max.max(part_number(name));
        }
        let parts_dir = self.dir.join(PARTS_DIR);
        let entries = fs::read_dir(&parts_dir).map_err(|e| IndexError::io(&parts_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| IndexError::io(&parts_dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                max = max.max(part_number(name));
            }
        }
        Ok(max.map_or(0, |m| m + 1))
    }
}

/// Keeps only the last row of each id, in the order of those last rows' first appearance.
fn supersede(
    ids: &mut Vec<String>,
    captions: &mut Vec<String>,
    labels: &mut Vec<Option<String>>,
    emb: &mut Vec<f32>,
    dim: usize,
) {
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        last.insert(id.as_str(), i);
    }
    if last.len() == ids.len() {
        return;
    }
    // The surviving rows keep the position where their id first appeared.
    let mut first: Vec<usize> = Vec::with_capacity(last.len());
    let mut seen = HashSet::with_capacity(last.len());
    for id in ids.iter() {
        if seen.insert(id.as_str()) {
            first.push(last[id.as_str()]);
        }
    }
    let new_ids = first.iter().map(|&i| ids[i].clone()).collect();
    let new_caps = first.iter().map(|&i| std::mem::take(&mut captions[i])).collect();
    let new_labels = first.iter().map(|&i| labels[i].take()).collect();
    let new_emb = first.iter().flat_map(|&i| emb[i * dim..(i + 1) * dim].iter().copied()).collect();
    *ids = new_ids;
    *captions = new_caps;
    *labels = new_labels;
    *emb = new_emb;
}

/// Number in `part-NNNNN.parquet`, if `name` has exactly that shape.
fn part_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn check_dim(dir: &Path, dim: usize) -> Result<()> {
    if dim == 0 || i32::try_from(dim).is_err() {
        return Err(IndexError::InvalidInput {
            dir: dir.to_path_buf(),
            message: format!("embedding dimension {dim} is out of range"),
        });
    }
    Ok(())
}

/// Creating an index inside an unrelated, non-empty folder would scatter files among the user's.
/// Takes the index's writer lock, or refuses when another process holds it.
fn lock_writer(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| IndexError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(IndexError::Locked { dir: dir.to_path_buf(), lock: path }),
        Err(fs::TryLockError::Error(e)) => Err(IndexError::io(&path, e)),
    }
}

/// Removes from `parts/` the parts the manifest does not list and leftover temp files: what a
/// writer killed between writing a part and recording it leaves. Called under the writer lock,
/// so nothing removed can belong to a live writer.
fn remove_strays(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
    let parts_dir = dir.join(PARTS_DIR);
    let listed: HashSet<&str> = manifest.parts.iter().filter_map(|p| p.file.strip_prefix("parts/")).collect();
    let mut removed = Vec::new();
    for entry in fs::read_dir(&parts_dir).map_err(|e| IndexError::io(&parts_dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(&parts_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stray_part = name.starts_with("part-") && name.ends_with(".parquet") && !listed.contains(name.as_str());
        let temp = name.starts_with(".part-") && name.ends_with(".tmp");
        if (stray_part || temp) && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path()).map_err(|e| IndexError::io(entry.path(), e))?;
            removed.push(name);
        }
    }
    removed.sort();
    if !removed.is_empty() {
        sync_dir(&parts_dir)?;
    }
    Ok(removed)
}

fn refuse_foreign_directory(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IndexError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        let name = entry.file_name();
        // A manifest temp file is left behind by a crash during creation.
        let manifest_temp = name.to_str().is_some_and(|n| n.starts_with(".manifest.json.") && n.ends_with(".tmp"));
        if name != PARTS_DIR && name != LOCK_FILE && !manifest_temp {
            return Err(IndexError::Format {
                path: dir.to_path_buf(),
                message: "directory is not empty and has no manifest.json; \
                          refusing to create an index here"
                    .into(),
            });
        }
    }
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let bad = |message: String| IndexError::Manifest { path: path.to_path_buf(), message };
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad("not found; is this a clusterby index directory?".into()))
        }
        Err(e) => return Err(IndexError::io(path, e)),
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.format != FORMAT_NAME {
        return Err(bad(format!("format is '{}', expected '{FORMAT_NAME}'", manifest.format)));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "unsupported version {} (this build reads version {FORMAT_VERSION})",
            manifest.version
        )));
    }
    if manifest.dim == 0 || i32::try_from(manifest.dim).is_err() {
        return Err(bad(format!("dim {} is out of range", manifest.dim)));
    }
    let mut seen = HashSet::new();
    let mut total: usize = 0;
    for part in &manifest.parts {
        // Only plain names inside parts/: a manifest must not point reads outside the index.
        let name = part.file.strip_prefix("parts/").unwrap_or("");
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) || !name.ends_with(".parquet") {
            return Err(bad(format!("invalid part file name '{}'", part.file)));
        }
        if !seen.insert(name) {
            return Err(bad(format!("part '{}' is listed twice", part.file)));
        }
        total = total.checked_add(part.rows).ok_or_else(|| bad("row count overflows".into()))?;
    }
    if total != manifest.rows {
        return Err(bad(format!("rows is {}, but the parts add up to {total}", manifest.rows)));
    }
    Ok(manifest)
}

/// Temp file + fsync + rename: readers see either the old or the new manifest, never a mix.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let mut json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| IndexError::Manifest { path: path.clone(), message: e.to_string() })?;
    json.push(b'\n');
    crate::util::fs::write_atomic(&path, &json).map_err(|e| IndexError::io(&path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    crate::util::fs::sync_dir(dir).map_err(|e| IndexError::io(dir, e))
}

/// Same shape pyarrow gives `pa.list_(pa.float32(), dim)`: child field "item", nullable.
fn embedding_item_field() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, true))
}

fn part_schema(dim: usize) -> SchemaRef {
    let item = embedding_item_field();
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("embedding", DataType::FixedSizeList(item, dim as i32), false),
    ]))
}

fn write_part_file(path: &Path, records: &[CaptionRecord], embeddings: &[f32], dim: usize) -> Result<()> {
    let perr = |e: parquet::errors::ParquetError| IndexError::Parquet { path: path.to_path_buf(), source: e };
    let schema = part_schema(dim);
    let item_field = embedding_item_field();
    // Dictionary encoding only pays off for labels (few distinct values); for ids, captions
    // and floats it costs time and is abandoned by the writer anyway.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("label"), true)
        .build();
    let file =
        OpenOptions::new().write(true).create(true).truncate(true).open(path).map_err(|e| IndexError::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(perr)?;

    // Chunked so the Arrow copy of the input never exceeds one row group.
    for (chunk, emb) in records.chunks(ROW_GROUP_ROWS).zip(embeddings.chunks(ROW_GROUP_ROWS * dim)) {
        let ids = StringArray::from_iter_values(chunk.iter().map(|r| r.id.as_str()));
        let captions = StringArray::from_iter_values(chunk.iter().map(|r| r.caption.as_str()));
        let labels: StringArray = chunk.iter().map(|r| r.label.as_deref()).collect();
        let values = Arc::new(Float32Array::from(emb.to_vec()));
        let embedding =
            FixedSizeListArray::try_new(item_field.clone(), dim as i32, values, None).map_err(|e| perr(e.into()))?;
        let columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(captions), Arc::new(labels), Arc::new(embedding)];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| perr(e.into()))?;
        writer.write(&batch).map_err(perr)?;
    }
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(|e| IndexError::io(path, e))
}

/// Root column indices of the four index columns within a part file.
struct PartColumns {
    id: usize,
    caption: usize,
    label: usize,
    embedding: usize,
}

fn corrupt(path: &Path, message: impl ToString) -> IndexError {
    IndexError::CorruptPart { path: path.to_path_buf(), message: message.to_string() }
}

/// Opens a listed part and checks its schema and row count against the manifest.
/// Runs a part's reading; a panic inside the Parquet or Arrow readers, which some corrupt files
/// cause (found by `tests/fuzz.rs` in parquet 57), becomes an error naming the part.
fn guard<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(corrupt(path, format!("the Parquet reader failed on it: {what}")))
        }
    }
}

// Parts are a few MB (2,048 rows), so reading one whole costs less than a second buffer loop.
fn file_crc32(path: &Path) -> std::io::Result<u32> {
    Ok(crc32fast::hash(&fs::read(path)?))
}

/// A part whose bytes changed after it was written (bit rot, a partial copy, an edit) is an
/// error naming it, before any of its rows are read.
fn check_crc32(path: &Path, part: &PartEntry) -> Result<()> {
    let Some(expected) = part.crc32 else { return Ok(()) };
    let actual = file_crc32(path).map_err(|e| corrupt(path, format!("cannot open: {e}")))?;
    if actual != expected {
        return Err(corrupt(
            path,
            format!("checksum mismatch: the manifest records CRC-32 {expected:08x}, the file has {actual:08x}; the part changed after it was written (rebuild the index, or restore the part)"),
        ));
    }
    Ok(())
}

fn open_part(
    path: &Path,
    part: &PartEntry,
    dim: usize,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, PartColumns)> {
    let file = File::open(path).map_err(|e| corrupt(path, format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(path, e))?;
    let rows = builder.metadata().file_metadata().num_rows();
    if usize::try_from(rows).ok() != Some(part.rows) {
        return Err(corrupt(path, format!("file has {rows} rows, manifest lists {}", part.rows)));
    }
    let schema = builder.schema().clone();
    let find = |name: &str| schema.index_of(name).map_err(|_| corrupt(path, format!("missing column '{name}'")));
    let cols = PartColumns {
        id: find("id")?,
        caption: find("caption")?,
        label: find("label")?,
        embedding: find("embedding")?,
    };
    match schema.field(cols.embedding).data_type() {
        DataType::FixedSizeList(item, size) if item.data_type() == &DataType::Float32 && *size as usize == dim => {}
        other => {
            return Err(corrupt(
                path,
                format!("column 'embedding' has type {other}, expected fixed_size_list<float>[{dim}]"),
            ))
        }
    }
    Ok((builder, cols))
}

/// Visits a string column whichever Arrow string layout a writer chose.
fn for_each_str(
    array: &ArrayRef,
    path: &Path,
    name: &str,
    mut f: impl FnMut(Option<&str>) -> Result<()>,
) -> Result<()> {
    if let Some(a) = array.as_string_opt::<i32>() {
        a.iter().try_for_each(&mut f)
    } else if let Some(a) = array.as_string_opt::<i64>() {
        a.iter().try_for_each(&mut f)
    } else if let Some(a) = array.as_string_view_opt() {
        a.iter().try_for_each(&mut f)
    } else {
        Err(corrupt(path, format!("column '{name}' has type {}, expected utf8", array.data_type())))
    }
}

/// Copies a batch's embeddings straight from the Arrow values buffer: the only copy between
/// the Parquet decoder and the final matrix.
fn append_embeddings(array: &ArrayRef, dim: usize, path: &Path, out: &mut Vec<f32>) -> Result<()> {
    let list =
        array.as_fixed_size_list_opt().ok_or_else(|| corrupt(path, "column 'embedding' is not a fixed-size list"))?;
    if list.null_count() > 0 {
        return Err(corrupt(path, "null embedding"));
    }
    let values = list
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(|| corrupt(path, "embedding values are not float32"))?;
    // Slicing a FixedSizeListArray slices its child, so the child holds exactly len × dim values.
    if values.len() != list.len() * dim {
        return Err(corrupt(path, "embedding values do not match row count"));
    }
    if values.null_count() > 0 {
        return Err(corrupt(path, "null value inside an embedding"));
    }
    out.extend_from_slice(values.values());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "test-model";
    const DIM: usize = 4;

    fn records(prefix: &str, n: usize) -> Vec<CaptionRecord> {
        (0..n)
            .map(|i| CaptionRecord {
                id: format!("{prefix}{i}"),
                caption: format!("caption {prefix}{i}"),
                label: (i % 2 == 0).then(|| format!("class{}", i % 3)),
            })
            .collect()
    }

    fn embeddings(seed: f32, n: usize) -> Vec<f32> {
        (0..n * DIM).map(|i| seed + i as f32 * 0.1).collect()
    }

    #[test]
    fn roundtrip_two_parts_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let (r1, e1) = (records("a", 3), embeddings(1.0, 3));
        let (r2, e2) = (records("b", 2), embeddings(-5.0, 2));
        {
            let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
            index.append_part(&r1, &e1).unwrap();
            index.append_part(&r2, &e2).unwrap();
            assert_eq!(index.manifest().rows, 5);
        }

        let index = Index::open(&dir).unwrap();
        let m = index.manifest();
        assert_eq!(m.format, FORMAT_NAME);
        assert_eq!((m.model.as_str(), m.dim, m.rows), (MODEL, DIM, 5));
        let files: Vec<&str> = m.parts.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["parts/part-00000.parquet", "parts/part-00001.parquet"]);
        assert_eq!(m.parts[0].rows, 3);

        let loaded = index.load().unwrap();
        let all: Vec<CaptionRecord> = r1.iter().chain(&r2).cloned().collect();
        assert_eq!(loaded.ids, all.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
        assert_eq!(loaded.captions, all.iter().map(|r| r.caption.clone()).collect::<Vec<_>>());
        assert_eq!(loaded.labels, all.iter().map(|r| r.label.clone()).collect::<Vec<_>>());
        assert_eq!(loaded.embeddings.dim(), (5, DIM));
        let expected: Vec<f32> = e1.iter().chain(&e2).copied().collect();
        assert_eq!(loaded.embeddings.as_slice().unwrap(), &expected[..]);

        let ids = index.ids().unwrap();
        assert_eq!(ids.len(), 5);
        assert!(ids.contains("a0") && ids.contains("b1"));

        // Reopening for writing keeps both parts and continues numbering.
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&records("c", 1), &embeddings(0.0, 1)).unwrap();
        assert_eq!(index.manifest().parts[2].file, "parts/part-00002.parquet");
        assert_eq!(index.load().unwrap().ids.len(), 6);
    }

    #[test]
    fn empty_index_loads_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let index = Index::create_or_open(tmp.path().join("idx"), MODEL, DIM).unwrap();
        let loaded = index.load().unwrap();
        assert_eq!(loaded.embeddings.dim(), (0, DIM));
        assert!(index.ids().unwrap().is_empty());
    }

    #[test]
    fn model_or_dim_mismatch_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        Index::create_or_open(&dir, MODEL, DIM).unwrap();

        let msg = Index::create_or_open(&dir, "other-model", DIM).unwrap_err().to_string();
        assert!(msg.contains(MODEL) && msg.contains("other-model"), "{msg}");

        let err = Index::create_or_open(&dir, MODEL, 8).unwrap_err();
        assert!(matches!(err, IndexError::ModelMismatch { stored_dim: 4, requested_dim: 8, .. }));
    }

    #[test]
    fn invalid_appends_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        // Wrong embedding length.
        assert!(index.append_part(&records("a", 2), &embeddings(0.0, 1)).is_err());
        // Duplicate within the batch.
        let mut dup = records("a", 2);
        dup[1].id = "a0".into();
        assert!(index.append_part(&dup, &embeddings(0.0, 2)).is_err());
        // NaN.
        let mut nan = embeddings(0.0, 1);
        nan[2] = f32::NAN;
        assert!(index.append_part(&records("a", 1), &nan).is_err());
        // Already stored, also after reopening.
        index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
        let msg = index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap_err().to_string();
        assert!(msg.contains("'a0' is already in the index"), "{msg}");
        drop(index);
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        assert!(index.append_part(&records("a", 1), &embeddings(0.0, 1)).is_err());
        // Nothing is written by rejected appends.
        assert_eq!(index.manifest().parts.len(), 1);
        let listed = fs::read_dir(dir.join(PARTS_DIR)).unwrap().count();
        assert_eq!(listed, 1);
        // Read-only handles refuse writes.
        let mut ro = Index::open(&dir).unwrap();
        assert!(matches!(ro.append_part(&records("z", 1), &embeddings(0.0, 1)), Err(IndexError::ReadOnly { .. })));
    }

    #[test]
    fn crash_leftovers_are_ignored_by_readers_and_removed_by_the_next_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
        drop(index);

        // Crash after renaming part 1 but before the manifest was rewritten: a complete, unlisted
        // part (here a copy of part 0, whose ids must not show up) plus a half-written temp file
        // and a stale manifest temp.
        let parts = dir.join(PARTS_DIR);
        fs::copy(parts.join("part-00000.parquet"), parts.join("part-00001.parquet")).unwrap();
        fs::write(parts.join(".part-00002.parquet.tmp"), b"PAR1 half written").unwrap();
        fs::write(crate::util::fs::temp_path(&dir.join(MANIFEST_FILE)), b"{ truncated").unwrap();

        let reopened = Index::open(&dir).unwrap();
        assert_eq!(reopened.load().unwrap().ids, ["a0", "a1"]);

        // The next writer removes the stray part and the temp file before it writes.
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        assert_eq!(index.strays_removed(), [".part-00002.parquet.tmp", "part-00001.parquet"]);
        index.append_part(&records("b", 1), &embeddings(9.0, 1)).unwrap();
        let files: Vec<&str> = index.manifest().parts.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["parts/part-00000.parquet", "parts/part-00001.parquet"]);

        let loaded = Index::open(&dir).unwrap().load().unwrap();
        assert_eq!(loaded.ids, ["a0", "a1", "b0"]);
        assert_eq!(loaded.embeddings.row(2).to_vec(), embeddings(9.0, 1));
        // A reader of parts/ (pandas, DuckDB) sees exactly the manifest's rows.
        let visible: Vec<String> = fs::read_dir(&parts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(visible.len(), 2, "{visible:?}");
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_index() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut first = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        let err = Index::create_or_open(&dir, MODEL, DIM).unwrap_err();
        assert!(matches!(err, IndexError::Locked { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("another process") && msg.contains("refused") && msg.contains("idx"), "{msg}");
        // Readers are not blocked, and the first writer goes on.
        assert_eq!(Index::open(&dir).unwrap().manifest().rows, 0);
        first.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
        drop(first);
        let mut second = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        second.append_part(&records("b", 1), &embeddings(1.0, 1)).unwrap();
        assert_eq!(Index::open(&dir).unwrap().load().unwrap().ids, ["a0", "a1", "b0"]);
    }

    #[test]
    fn corrupt_or_missing_part_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
        index.append_part(&records("b", 2), &embeddings(0.0, 2)).unwrap();

        let part1 = dir.join(PARTS_DIR).join("part-00001.parquet");
        let bytes = fs::read(&part1).unwrap();
        fs::write(&part1, &bytes[..bytes.len() / 2]).unwrap();
        for result in [index.load().map(|_| ()), index.ids().map(|_| ())] {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains("part-00001.parquet"), "{msg}");
        }

        fs::remove_file(&part1).unwrap();
        let msg = index.load().unwrap_err().to_string();
        assert!(msg.contains("part-00001.parquet") && msg.contains("cannot open"), "{msg}");

        // A valid Parquet file with the wrong row count is caught too.
        fs::copy(dir.join(PARTS_DIR).join("part-00000.parquet"), &part1).unwrap();
        let mut m = index.manifest().clone();
        m.parts[1].rows = 3;
        m.parts[1].crc32 = None;
        m.rows = 5;
        write_manifest(&dir, &m).unwrap();
        let msg = Index::open(&dir).unwrap().load().unwrap_err().to_string();
        assert!(msg.contains("part-00001.parquet") && msg.contains("3"), "{msg}");
    }

    #[test]
    fn a_part_changed_after_it_was_written_fails_its_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&records("a", 3), &embeddings(0.0, 3)).unwrap();
        let part = dir.join(PARTS_DIR).join("part-00000.parquet");
        let good = fs::read(&part).unwrap();
        assert_eq!(index.manifest().parts[0].crc32, Some(crc32fast::hash(&good)));
        // One flipped bit in the middle of the file, where Parquet itself may not notice.
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 0x01;
        fs::write(&part, &bad).unwrap();
        let msg = Index::open(&dir).unwrap().load().unwrap_err().to_string();
        assert!(msg.contains("part-00000.parquet") && msg.contains("checksum mismatch"), "{msg}");
        // Manifests written before checksums were recorded still load.
        fs::write(&part, &good).unwrap();
        let mut m = index.manifest().clone();
        m.parts[0].crc32 = None;
        write_manifest(&dir, &m).unwrap();
        let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        assert!(!text.contains("crc32"), "{text}");
        assert_eq!(Index::open(&dir).unwrap().load().unwrap().ids, ["a0", "a1", "a2"]);
    }

    #[test]
    fn bad_manifests_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap();
        let path = dir.join(MANIFEST_FILE);
        let good = fs::read_to_string(&path).unwrap();

        for (from, to) in [
            ("\"rows\": 1\n", "\"rows\": 2\n"),
            ("parts/part-00000.parquet", "../outside.parquet"),
            ("\"version\": 1", "\"version\": 2"),
            ("clusterby-index", "something-else"),
        ] {
            assert!(good.contains(from), "{from} not in {good}");
            fs::write(&path, good.replacen(from, to, 1)).unwrap();
            let msg = Index::open(&dir).unwrap_err().to_string();
            assert!(msg.contains("manifest.json"), "{msg}");
        }
        fs::write(&path, "not json").unwrap();
        assert!(Index::open(&dir).is_err());

        let msg = Index::open(tmp.path().join("nowhere")).unwrap_err().to_string();
        assert!(msg.contains("manifest.json"), "{msg}");
    }

    #[test]
    fn meta_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        let mut meta = Map::new();
        meta.insert("source".into(), Value::from("ppmi2.jsonl"));
        index.set_meta(meta.clone()).unwrap();
        index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap();
        assert_eq!(Index::open(&dir).unwrap().manifest().meta, Some(meta));
    }

    #[test]
    fn refuses_non_empty_foreign_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let msg = Index::create_or_open(tmp.path(), MODEL, DIM).unwrap_err().to_string();
        assert!(msg.contains("not empty"), "{msg}");
        assert!(!tmp.path().join(MANIFEST_FILE).exists());
    }

    #[test]
    fn multiple_row_groups_roundtrip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let n = ROW_GROUP_ROWS + 10;
        let recs = records("r", n);
        let emb: Vec<f32> = (0..n * DIM).map(|i| i as f32).collect();
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&recs, &emb).unwrap();
        let loaded = index.load().unwrap();
        assert_eq!(loaded.ids.len(), n);
        assert_eq!(loaded.ids[n - 1], format!("r{}", n - 1));
        assert_eq!(loaded.embeddings.as_slice().unwrap(), &emb[..]);
    }

    /// Checks that a reader other than clusterby understands the parts. Uses `python3` (or
    /// `$CLUSTERBY_TEST_PYTHON`) and is skipped when pyarrow cannot be imported.
    #[test]
    fn pyarrow_reads_parts() {
        let python = std::env::var("CLUSTERBY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let probe = std::process::Command::new(&python).args(["-c", "import pyarrow"]).output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!(
                    "skipping pyarrow_reads_parts: `{python} -c 'import pyarrow'` failed: {}",
                    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
                );
                return;
            }
            Err(e) => {
                eprintln!("skipping pyarrow_reads_parts: cannot run {python}: {e}");
                return;
            }
        }

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let recs = records("p", 3);
        let emb = vec![0.5, -1.25, 0.1, 3.0e-7, 1.0, 2.0, 3.0, 4.0, -0.0, 7.5, 1e10, -2.5];
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&recs, &emb).unwrap();
        index.append_part(&records("q", 1), &embeddings(0.0, 1)).unwrap();
        // A crash leftover must not confuse a dataset reader of the parts folder.
        fs::write(dir.join(PARTS_DIR).join(".part-00002.parquet.tmp"), b"junk").unwrap();

        let script = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
part, parts_dir, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = pq.read_table(part)
emb_type = t.schema.field("embedding").type
assert emb_type == pa.list_(pa.float32(), dim), emb_type
assert t.schema.field("id").type == pa.string()
assert not t.schema.field("id").nullable
print(json.dumps({
    "type": str(emb_type),
    "ids": t.column("id").to_pylist(),
    "captions": t.column("caption").to_pylist(),
    "labels": t.column("label").to_pylist(),
    "embedding": t.column("embedding").to_pylist(),
    "dataset_rows": pq.read_table(parts_dir).num_rows,
}))
"#;
        let out = std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(dir.join("parts/part-00000.parquet"))
            .arg(dir.join("parts"))
            .arg(DIM.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["type"], "fixed_size_list<item: float>[4]");
        let ids: Vec<String> = recs.iter().map(|r| r.id.clone()).collect();
        assert_eq!(v["ids"], serde_json::json!(ids));
        let captions: Vec<String> = recs.iter().map(|r| r.caption.clone()).collect();
        assert_eq!(v["captions"], serde_json::json!(captions));
        let labels: Vec<Option<String>> = recs.iter().map(|r| r.label.clone()).collect();
        assert_eq!(v["labels"], serde_json::json!(labels));
        // pyarrow widens float32 to Python floats exactly, so narrowing back must be lossless.
        let got: Vec<f32> = v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got.len(), emb.len());
        for (g, e) in got.iter().zip(&emb) {
            assert_eq!(g.to_bits(), e.to_bits(), "{g} != {e}");
        }
        assert_eq!(v["dataset_rows"], 4);
        eprintln!("pyarrow read the index: {}", v["type"]);
    }
}
