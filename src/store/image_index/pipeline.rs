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
    let labels = ImageLabels::read(&opts.labels)?;
    let mut store = Index::create_or_open(out, encoder.name(), encoder.dim())?;
    if !store.strays_removed().is_empty() {
        eprintln!(
            "note: removed {} file(s) an interrupted run had left in {}/parts and no manifest listed: {}",
            store.strays_removed().len(),
            out.display(),
            store.strays_removed().join(", ")
        );
    }
    write_descriptor(root, out, encoder, clip_source, &labels.describe)?;
    let log = FilesLog::open(&out.join(FILES_LOG))?;

    let mut report = ImageIndexReport { found: disc.files.len(), ..Default::default() };
    for (p, why) in &disc.problems {
        report.skipped.push((p.display().to_string(), why.clone()));
    }
    let (new, changed) = plan(disc.files, &store.ids()?, &log, &mut report)?;
    let mut run = EncodeRun {
        encoder,
        store: &mut store,
        log: &log,
        labels: &labels,
        opts,
        report: &mut report,
        todo: new.len() + changed.len(),
        done: 0,
    };
    let bar = crate::util::progress::bar(run.todo as u64, "images", opts.progress);
    let encode_start = Instant::now();
    for (files, replacing) in [(new, false), (changed, true)] {
        if !files.is_empty() {
            run.encode(files, replacing, &bar, encode_start)?;
        }
    }
    let done = run.done;
    bar.finish_and_clear();
    report.rows = Index::open(out)?.manifest().rows;
    report.seconds = start.elapsed().as_secs_f64();
    let secs = encode_start.elapsed().as_secs_f64();
    report.images_per_sec = if done > 0 { done as f64 / secs } else { 0.0 };
    Ok(report)
}

/// Where each image's label comes from, and how the descriptor names that source.
struct ImageLabels {
    table: Option<LabelTable>,
    column: usize,
    describe: String,
}

impl ImageLabels {
    fn read(source: &LabelSource) -> Result<Self, ImageIndexError> {
        let (path, column) = match source {
            LabelSource::FileNames => {
                return Ok(ImageLabels { table: None, column: 0, describe: "file names".to_string() })
            }
            LabelSource::Csv { path, column } => (path, column),
        };
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
        let describe = format!("csv:{}#{}", path.display(), t.columns.get(col).cloned().unwrap_or_default());
        Ok(ImageLabels { table: Some(t), column: col, describe })
    }

    fn of(&self, id: &str) -> Option<String> {
        match &self.table {
            Some(t) => t.row(id).and_then(|r| r.get(self.column).cloned().flatten()),
            None => label_from_file_name(id),
        }
    }
}

/// Records the folder, the CLIP model and the label source beside the index.
fn write_descriptor(
    root: &Path,
    out: &Path,
    encoder: &ImageEmbedding,
    clip_source: &ClipSource,
    labels: &str,
) -> Result<(), ImageIndexError> {
    let root_abs = root.canonicalize().map_err(|e| ImageIndexError::io(root, e))?;
    let mut descriptor = Descriptor::read(out)?.unwrap_or(Descriptor {
        kind: "images".into(),
        root: root_abs.clone(),
        clip_model: encoder.name().to_string(),
        clip_source: String::new(),
        labels: labels.to_string(),
        caption_model: None,
    });
    descriptor.root = root_abs;
    descriptor.clip_model = encoder.name().to_string();
    descriptor.clip_source = match clip_source {
        ClipSource::Catalogue(m) => m.to_string(),
        ClipSource::Dir(p) => p.canonicalize().unwrap_or_else(|_| p.clone()).display().to_string(),
    };
    descriptor.labels = labels.to_string();
    descriptor.write(out)
}

/// `files.jsonl`: the version of every file indexed or skipped, appended as it happens.
struct FilesLog {
    log: AppendLog,
    /// The last record of each file, from earlier runs.
    known: HashMap<String, FileRecord>,
}

impl FilesLog {
    fn open(path: &Path) -> Result<Self, ImageIndexError> {
        let (log, replay) = AppendLog::open::<FileRecord>(path).map_err(|e| ImageIndexError::io(path, e))?;
        let known = replay.records.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(FilesLog { log, known })
    }

    fn append(&self, r: &FileRecord) -> Result<(), ImageIndexError> {
        self.log.append(r).map_err(|e| ImageIndexError::io(self.log.path(), e))
    }
}

/// Sorts the discovered files into new and changed ones, counting the rest in `report`; a file
/// a killed run stored but never logged is logged now, without re-encoding.
fn plan(
    files: Vec<ImageFile>,
    stored: &HashSet<String>,
    log: &FilesLog,
    report: &mut ImageIndexReport,
) -> Result<(Vec<ImageFile>, Vec<ImageFile>), ImageIndexError> {
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for f in files {
        let logged = log.known.get(&f.id);
        match (stored.contains(&f.id), logged) {
            (true, Some(r)) if r.status == "indexed" && f.same_version(r.size, r.mtime_ns, r.mode) => {
                report.unchanged += 1
            }
            (true, Some(r)) if r.status == "indexed" => changed.push(f),
            (true, _) => {
                log.append(&indexed(&f))?;
                report.recovered += 1;
            }
            (false, Some(r)) if r.status == "skipped" && f.same_version(r.size, r.mtime_ns, r.mode) => {
                report.still_skipped += 1
            }
            (false, _) => new.push(f),
        }
    }
    Ok((new, changed))
}

/// The state of one indexing run's encoding: files decode one batch ahead of inference, and
/// every `part_rows` images are committed as a part and then logged.
struct EncodeRun<'a> {
    encoder: &'a mut ImageEmbedding,
    store: &'a mut Index,
    log: &'a FilesLog,
    labels: &'a ImageLabels,
    opts: &'a ImageIndexOptions,
    report: &'a mut ImageIndexReport,
    todo: usize,
    done: usize,
}

/// Rows waiting to be committed as one part, with their log records.
#[derive(Default)]
struct PendingPart {
    records: Vec<CaptionRecord>,
    embeddings: Vec<f32>,
    fingerprints: Vec<FileRecord>,
}

impl EncodeRun<'_> {
    /// Encodes `files` (`replacing` their stored rows when they changed since).
    fn encode(
        &mut self,
        files: Vec<ImageFile>,
        replacing: bool,
        bar: &indicatif::ProgressBar,
        encode_start: Instant,
    ) -> Result<(), ImageIndexError> {
        let (batch, pre, limits) = (self.encoder.batch_size(), self.encoder.preprocessor().clone(), self.opts.limits);
        let quiet_progress = self.opts.progress && bar.is_hidden();
        let mut last_note = Instant::now();
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
            let mut pending = PendingPart::default();
            for prepared in rx {
                let n = prepared.files.len();
                self.embed_batch(prepared, replacing, &mut pending)?;
                self.done += n;
                bar.inc(n as u64);
                if pending.records.len() >= self.opts.part_rows {
                    self.commit(&mut pending, replacing)?;
                }
                if quiet_progress && last_note.elapsed().as_secs_f64() > 5.0 {
                    let (done, todo) = (self.done, self.todo);
                    let rate = done as f64 / encode_start.elapsed().as_secs_f64();
                    eprintln!("  {done}/{todo} images, {rate:.1}/s, ETA {:.0}s", (todo - done) as f64 / rate.max(1e-9));
                    last_note = Instant::now();
                }
            }
            self.commit(&mut pending, replacing)?;
            producer.join().map_err(|_| ImageIndexError::Invalid("the decoding thread panicked".into()))?;
            Ok(())
        })
    }

    /// Embeds one decoded batch into `pending`; a file that did not decode is logged as
    /// skipped, with its reason.
    fn embed_batch(
        &mut self,
        prepared: Prepared,
        replacing: bool,
        pending: &mut PendingPart,
    ) -> Result<(), ImageIndexError> {
        let tensor_len = self.encoder.preprocessor().tensor_len();
        let mut pixels = Vec::with_capacity(prepared.files.len() * tensor_len);
        let mut ok_files = Vec::new();
        for (f, t) in prepared.files.iter().zip(prepared.tensors) {
            match t {
                Ok(t) => {
                    pixels.extend(t);
                    ok_files.push(f);
                }
                Err(reason) => {
                    self.log.append(&FileRecord {
                        id: f.id.clone(),
                        size: f.size,
                        mtime_ns: f.mtime_ns,
                        mode: f.mode,
                        status: "skipped".into(),
                        reason: Some(reason.clone()),
                    })?;
                    self.report.skipped.push((f.id.clone(), reason));
                }
            }
        }
        let rows = self.encoder.embed_pixels(pixels, ok_files.len())?;
        pending.embeddings.extend(rows);
        if replacing {
            self.report.updated += ok_files.len();
        } else {
            self.report.added += ok_files.len();
        }
        for f in ok_files {
            pending.records.push(CaptionRecord {
                id: f.id.clone(),
                caption: String::new(),
                label: self.labels.of(&f.id),
            });
            pending.fingerprints.push(indexed(f));
        }
        Ok(())
    }

    /// Commits the pending rows as one part, then logs their files: a kill between the two
    /// leaves rows that the next run logs without re-encoding (`plan`).
    fn commit(&mut self, pending: &mut PendingPart, replacing: bool) -> Result<(), ImageIndexError> {
        if pending.records.is_empty() {
            return Ok(());
        }
        if replacing {
            self.store.append_part_replacing(&pending.records, &pending.embeddings)?;
        } else {
            self.store.append_part(&pending.records, &pending.embeddings)?;
        }
        for r in &pending.fingerprints {
            self.log.append(r)?;
        }
        *pending = PendingPart::default();
        Ok(())
    }
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
