//! The indexing run: discover, diff against what is stored, decode in parallel one batch ahead
//! of ONNX Runtime, commit parts, log files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Descriptor, ImageIndexError, FILES_LOG};
use crate::embed::image::{ClipSource, ImageEmbedding};
use crate::store::image_files::{decode_file, discover, DecodeLimits, ImageFile, LabelTable};
use crate::store::shard::Shard;
use crate::store::{label_from_file_name, CaptionRecord, Index};
use crate::util::jsonl::AppendLog;

/// Where image labels come from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LabelSource {
    /// IC|TC's `{number}_{class}.{ext}` file names (no label when a name does not match).
    #[default]
    FileNames,
    /// A CSV column (default: `label`, else the first label column).
    Csv { path: PathBuf, column: Option<String> },
}

#[derive(Debug, Clone)]
pub struct ImageIndexOptions {
    pub labels: LabelSource,
    pub limits: DecodeLimits,
    /// Images per committed part: what a kill can cost at most.
    pub part_rows: usize,
    pub progress: bool,
    /// Index only the images whose relative path falls in this shard.
    pub shard: Option<Shard>,
}

impl Default for ImageIndexOptions {
    fn default() -> Self {
        Self {
            labels: LabelSource::FileNames,
            limits: DecodeLimits::default(),
            part_rows: 512,
            progress: true,
            shard: None,
        }
    }
}

impl ImageIndexOptions {
    pub fn with_labels(mut self, l: LabelSource) -> Self {
        self.labels = l;
        self
    }
    pub fn with_part_rows(mut self, n: usize) -> Self {
        self.part_rows = n.max(1);
        self
    }
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
    /// Only the images of shard `I/N` (by relative path), for indexing one folder on N machines.
    ///
    /// ```
    /// use clusterby::store::image_index::ImageIndexOptions;
    /// let opts = ImageIndexOptions::default().with_shard(Some("1/4".parse().unwrap()));
    /// assert_eq!(opts.shard.unwrap().to_string(), "1/4");
    /// ```
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }
}

/// One line of `files.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub id: String,
    pub size: u64,
    pub mtime_ns: u128,
    /// Permission bits when it was indexed or skipped (absent in older logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// `indexed` or `skipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ImageIndexReport {
    pub found: usize,
    pub added: usize,
    /// Files changed since they were indexed, re-encoded.
    pub updated: usize,
    pub unchanged: usize,
    /// Skipped in this run: (id, reason).
    pub skipped: Vec<(String, String)>,
    /// Skipped before and unchanged since, so not tried again.
    pub still_skipped: usize,
    /// Stored by a killed run but not yet logged; logged now without re-encoding.
    pub recovered: usize,
    pub rows: usize,
    pub seconds: f64,
    /// Images decoded and encoded per second in this run.
    pub images_per_sec: f64,
}

struct Prepared {
    files: Vec<ImageFile>,
    /// Per file: the CHW tensor, or why it was skipped.
    tensors: Vec<Result<Vec<f32>, String>>,
}

/// Indexes the images under `root` into `out` (created or resumed).
pub fn index_folder(
    root: &Path,
    out: &Path,
    encoder: &mut ImageEmbedding,
    clip_source: &ClipSource,
    opts: &ImageIndexOptions,
) -> Result<ImageIndexReport, ImageIndexError> {
    let start = Instant::now();
    let mut disc = discover(root).map_err(|e| ImageIndexError::io(root, e))?;
    if let Some(shard) = opts.shard {
        disc.files.retain(|f| shard.contains(&f.id));
    }
    let root_abs = root.canonicalize().map_err(|e| ImageIndexError::io(root, e))?;
    let (table, column, labels_desc) = match &opts.labels {
        LabelSource::FileNames => (None, 0, "file names".to_string()),
        LabelSource::Csv { path, column } => {
            let t = LabelTable::from_csv(path)?;
            let col = match column {
                Some(c) => t.column(c).ok_or_else(|| {
                    ImageIndexError::Invalid(format!(
                        "{}: no column {c:?} (columns: {})",
                        path.display(),
                        t.columns.join(", ")
                    ))
                })?,
                None => t.column("label").unwrap_or(0),
            };
            let desc = format!("csv:{}#{}", path.display(), t.columns.get(col).cloned().unwrap_or_default());
            (Some(t), col, desc)
        }
    };
    let label_of = |id: &str| -> Option<String> {
        match &table {
            Some(t) => t.row(id).and_then(|r| r.get(column).cloned().flatten()),
            None => label_from_file_name(id),
        }
    };

    let mut store = Index::create_or_open(out, encoder.name(), encoder.dim())?;
    if !store.strays_removed().is_empty() {
        eprintln!(
            "note: removed {} file(s) an interrupted run had left in {}/parts and no manifest listed: {}",
            store.strays_removed().len(),
            out.display(),
            store.strays_removed().join(", ")
        );
    }
    let mut descriptor = Descriptor::read(out)?.unwrap_or(Descriptor {
        kind: "images".into(),
        root: root_abs.clone(),
        clip_model: encoder.name().to_string(),
        clip_source: String::new(),
        labels: labels_desc.clone(),
        caption_model: None,
    });
    descriptor.root = root_abs;
    descriptor.clip_model = encoder.name().to_string();
    descriptor.clip_source = match clip_source {
        ClipSource::Catalogue(m) => m.to_string(),
        ClipSource::Dir(p) => p.canonicalize().unwrap_or_else(|_| p.clone()).display().to_string(),
    };
    descriptor.labels = labels_desc;
    descriptor.write(out)?;

    let log_path = out.join(FILES_LOG);
    let (log, replay) = AppendLog::open::<FileRecord>(&log_path).map_err(|e| ImageIndexError::io(&log_path, e))?;
    let mut known: HashMap<String, FileRecord> = HashMap::new();
    for r in replay.records {
        known.insert(r.id.clone(), r);
    }
    let stored: HashSet<String> = store.ids()?;
    let write_log = |r: &FileRecord| log.append(r).map_err(|e| ImageIndexError::io(&log_path, e));

    let mut report = ImageIndexReport { found: disc.files.len(), ..Default::default() };
    for (p, why) in &disc.problems {
        report.skipped.push((p.display().to_string(), why.clone()));
    }
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for f in disc.files {
        let logged = known.get(&f.id);
        let in_store = stored.contains(&f.id);
        match (in_store, logged) {
            (true, Some(r)) if r.status == "indexed" && f.same_version(r.size, r.mtime_ns, r.mode) => {
                report.unchanged += 1
            }
            (true, Some(r)) if r.status == "indexed" => changed.push(f),
            (true, _) => {
                // Committed by a run killed before it logged the file.
                write_log(&indexed(&f))?;
                report.recovered += 1;
            }
            (false, Some(r)) if r.status == "skipped" && f.same_version(r.size, r.mtime_ns, r.mode) => {
                report.still_skipped += 1
            }
            (false, _) => new.push(f),
        }
    }
    let todo = new.len() + changed.len();
    let bar = crate::util::progress::bar(todo as u64, "images", opts.progress);
    let quiet_progress = opts.progress && bar.is_hidden();
    let (tensor_len, batch) = (encoder.preprocessor().tensor_len(), encoder.batch_size());
    let pre = encoder.preprocessor().clone();
    let limits = opts.limits;
    let encode_start = Instant::now();
    let mut done = 0usize;
    let mut last_note = Instant::now();

    for (files, replacing) in [(new, false), (changed, true)] {
        if files.is_empty() {
            continue;
        }
        // Decoding runs one batch ahead of inference, on the rayon pool.
        let (tx, rx) = mpsc::sync_channel::<Prepared>(2);
        std::thread::scope(|s| -> Result<(), ImageIndexError> {
            let pre = &pre;
            let producer = s.spawn(move || {
                for chunk in files.chunks(batch) {
                    let tensors: Vec<Result<Vec<f32>, String>> = chunk
                        .par_iter()
                        .map(|f| {
                            let im = decode_file(&f.path, &limits).map_err(|e| e.to_string())?;
                            pre.apply(&im).map_err(|e| e.to_string())
                        })
                        .collect();
                    if tx.send(Prepared { files: chunk.to_vec(), tensors }).is_err() {
                        break;
                    }
                }
            });
            let mut records: Vec<CaptionRecord> = Vec::new();
            let mut fingerprints: Vec<FileRecord> = Vec::new();
            let mut embeddings: Vec<f32> = Vec::new();
            let mut commit = |records: &mut Vec<CaptionRecord>,
                              emb: &mut Vec<f32>,
                              fps: &mut Vec<FileRecord>|
             -> Result<(), ImageIndexError> {
                if records.is_empty() {
                    return Ok(());
                }
                if replacing {
                    store.append_part_replacing(records, emb)?;
                } else {
                    store.append_part(records, emb)?;
                }
                for r in fps.iter() {
                    write_log(r)?;
                }
                records.clear();
                emb.clear();
                fps.clear();
                Ok(())
            };
            for prepared in rx {
                let mut pixels = Vec::with_capacity(prepared.files.len() * tensor_len);
                let mut ok_files = Vec::new();
                for (f, t) in prepared.files.iter().zip(prepared.tensors) {
                    match t {
                        Ok(t) => {
                            pixels.extend(t);
                            ok_files.push(f);
                        }
                        Err(reason) => {
                            write_log(&FileRecord {
                                id: f.id.clone(),
                                size: f.size,
                                mtime_ns: f.mtime_ns,
                                mode: f.mode,
                                status: "skipped".into(),
                                reason: Some(reason.clone()),
                            })?;
                            report.skipped.push((f.id.clone(), reason));
                        }
                    }
                }
                let rows = encoder.embed_pixels(pixels, ok_files.len())?;
                embeddings.extend(rows);
                if replacing {
                    report.updated += ok_files.len();
                } else {
                    report.added += ok_files.len();
                }
                for f in ok_files {
                    records.push(CaptionRecord { id: f.id.clone(), caption: String::new(), label: label_of(&f.id) });
                    fingerprints.push(indexed(f));
                }
                done += prepared.files.len();
                bar.inc(prepared.files.len() as u64);
                if records.len() >= opts.part_rows {
                    commit(&mut records, &mut embeddings, &mut fingerprints)?;
                }
                if quiet_progress && last_note.elapsed().as_secs_f64() > 5.0 {
                    let rate = done as f64 / encode_start.elapsed().as_secs_f64();
                    eprintln!("  {done}/{todo} images, {rate:.1}/s, ETA {:.0}s", (todo - done) as f64 / rate.max(1e-9));
                    last_note = Instant::now();
                }
            }
            commit(&mut records, &mut embeddings, &mut fingerprints)?;
            producer.join().map_err(|_| ImageIndexError::Invalid("the decoding thread panicked".into()))?;
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    report.rows = Index::open(out)?.manifest().rows;
    report.seconds = start.elapsed().as_secs_f64();
    let secs = encode_start.elapsed().as_secs_f64();
    report.images_per_sec = if done > 0 { done as f64 / secs } else { 0.0 };
    Ok(report)
}

fn indexed(f: &ImageFile) -> FileRecord {
    FileRecord {
        id: f.id.clone(),
        size: f.size,
        mtime_ns: f.mtime_ns,
        mode: f.mode,
        status: "indexed".into(),
        reason: None,
    }
}
