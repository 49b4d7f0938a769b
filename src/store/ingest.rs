//! `clusterby index`: encode a captions file once into a Parquet index, incrementally.

use std::path::Path;

use crate::embed::text::{EmbedError, TextEmbedding};
use crate::store::caption_index::Index;
use crate::store::readers::{read_captions, CaptionRecord, SkippedLine};
use crate::store::shard::Shard;
use crate::store::IndexError;
use crate::util::progress;

/// Rows per immutable part file: small enough that a killed run loses little, large enough that
/// the index does not become thousands of files.
pub const PART_ROWS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum IndexBuildError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IndexBuildReport {
    pub read: usize,
    pub already_indexed: usize,
    pub added: usize,
    pub skipped: Vec<SkippedLine>,
    pub total_rows: usize,
    pub seconds: f64,
    /// Files a killed writer had left in `parts/`, removed before indexing (their rows are
    /// indexed again).
    pub strays_removed: Vec<String>,
}

/// Encodes the records not yet in the index (by id) and appends them part by part, so a run
/// killed midway keeps every finished part and the rerun only does the rest.
pub fn index_records(
    records: Vec<CaptionRecord>,
    skipped: Vec<SkippedLine>,
    out: &Path,
    encoder: &mut TextEmbedding,
    show_progress: bool,
) -> Result<IndexBuildReport, IndexBuildError> {
    let t = std::time::Instant::now();
    let mut index = Index::create_or_open(out, encoder.name(), encoder.dim())?;
    let strays_removed = index.strays_removed().to_vec();
    let have = index.ids()?;
    let read = records.len();
    let todo: Vec<CaptionRecord> = records.into_iter().filter(|r| !have.contains(&r.id)).collect();
    let already_indexed = read - todo.len();
    let bar = progress::bar(todo.len() as u64, "indexing", show_progress);
    for part in todo.chunks(PART_ROWS) {
        let texts: Vec<&str> = part.iter().map(|r| r.caption.as_str()).collect();
        let emb = encoder.embed(&texts)?;
        let flat: Vec<f32> = emb.iter().copied().collect();
        index.append_part(part, &flat)?;
        bar.inc(part.len() as u64);
    }
    bar.finish_and_clear();
    Ok(IndexBuildReport {
        read,
        already_indexed,
        added: todo.len(),
        skipped,
        total_rows: index.manifest().rows,
        seconds: t.elapsed().as_secs_f64(),
        strays_removed,
    })
}

/// Reads a captions file (IC|TC step1_result.jsonl, JSONL or CSV) and indexes it, or only the
/// rows of `shard` (by id).
pub fn index_captions_file(
    input: &Path,
    out: &Path,
    encoder: &mut TextEmbedding,
    shard: Option<Shard>,
    show_progress: bool,
) -> Result<IndexBuildReport, IndexBuildError> {
    let mut report = read_captions(input)?;
    if let Some(s) = shard {
        report.records.retain(|r| s.contains(&r.id));
    }
    index_records(report.records, report.skipped, out, encoder, show_progress)
}
