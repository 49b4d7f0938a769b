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
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use ndarray::Array2;
use parquet::arrow::ProjectionMask;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CaptionRecord, IndexError};
use directory::{
    check_dim, lock_writer, read_manifest, refuse_foreign_directory, remove_strays, sync_dir, write_manifest,
};
use parquet_parts::{
    append_embeddings, check_crc32, corrupt, file_crc32, for_each_str, guard, open_part, write_part_file, PartColumns,
};

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

mod directory;
mod parquet_parts;
#[cfg(test)]
mod tests;
