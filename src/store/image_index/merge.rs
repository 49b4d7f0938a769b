//! `clusterby merge` of image indexes: the shards of one folder (`index FOLDER --shard I/N`)
//! joined into one image index. The image parts are merged as caption indexes merge theirs
//! (hard links, resumable); the file log and the captioner log are the sources' logs joined;
//! the caption indexes under `captions/` are merged the same way as the parts.

use std::path::{Path, PathBuf};

use super::{Descriptor, ImageIndexError, CAPTIONS_DIR, DESCRIPTOR_FILE, FILES_LOG};
use crate::store::merge::{merge, merge_parts, MergeError, MergeReport};

/// The captioner's answers per image (see [`super::captioning`]).
const CAPTIONER_LOG: &str = "captions.jsonl";

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImageMergeReport {
    pub images: MergeReport,
    /// The merged `captions/` index, when a source has one.
    pub captions: Option<MergeReport>,
    /// Lines of the joined `files.jsonl`.
    pub file_log_lines: usize,
}

/// Merges the image indexes `sources` into `out`. Their descriptors must agree on the folder,
/// the CLIP model and where labels come from.
pub fn merge_images(sources: &[PathBuf], out: &Path) -> Result<ImageMergeReport, ImageIndexError> {
    let descriptor = agreed_descriptor(sources)?;
    let images = merge_parts(sources, out, true)?;
    // Written after the parts, so that the output reads as an image index only once they are in.
    descriptor.write(out)?;
    let file_log_lines = join_logs(sources, out, FILES_LOG)?;
    join_logs(sources, out, CAPTIONER_LOG)?;
    let caption_dirs: Vec<PathBuf> =
        sources.iter().map(|s| s.join(CAPTIONS_DIR)).filter(|d| d.join("manifest.json").is_file()).collect();
    let captions = if caption_dirs.is_empty() { None } else { Some(merge(&caption_dirs, &out.join(CAPTIONS_DIR))?) };
    Ok(ImageMergeReport { images, captions, file_log_lines })
}

/// The descriptor the merged index gets: the first source's, once every source agrees with it.
fn agreed_descriptor(sources: &[PathBuf]) -> Result<Descriptor, ImageIndexError> {
    let read = |dir: &PathBuf| -> Result<Descriptor, ImageIndexError> {
        Descriptor::read(dir)?.ok_or_else(|| MergeError::CaptionIndex(dir.clone()).into())
    };
    let first_dir = sources.first().ok_or_else(|| ImageIndexError::Invalid("merge needs a source".into()))?;
    let mut first = read(first_dir)?;
    for dir in &sources[1..] {
        let d = read(dir)?;
        let differ = |field: &str, a: &str, b: &str| {
            ImageIndexError::Invalid(format!(
                "{}: {DESCRIPTOR_FILE} field `{field}` is {b:?} but {} has {a:?}: shards of one folder agree on it",
                dir.display(),
                first_dir.display()
            ))
        };
        if d.root != first.root {
            return Err(differ("root", &first.root.display().to_string(), &d.root.display().to_string()));
        }
        if d.clip_model != first.clip_model {
            return Err(differ("clip_model", &first.clip_model, &d.clip_model));
        }
        if d.labels != first.labels {
            return Err(differ("labels", &first.labels, &d.labels));
        }
        match (&first.caption_model, &d.caption_model) {
            (Some(a), Some(b)) if a != b => return Err(differ("caption_model", a, b)),
            (None, Some(b)) => first.caption_model = Some(b.clone()),
            _ => {}
        }
    }
    Ok(first)
}

/// Writes the sources' `name` logs one after another into `out/name` (atomically; skipped when
/// no source has one). Returns the lines written.
fn join_logs(sources: &[PathBuf], out: &Path, name: &str) -> Result<usize, ImageIndexError> {
    let mut joined = Vec::new();
    let mut any = false;
    for dir in sources {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                any = true;
                // A log cut short by a kill ends in a partial line, which its reader ignores:
                // left out here, so that it does not become a bad line inside the joined log.
                let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                joined.extend_from_slice(&bytes[..whole]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageIndexError::io(&path, e)),
        }
    }
    if !any {
        return Ok(0);
    }
    let path = out.join(name);
    crate::util::fs::write_atomic(&path, &joined).map_err(|e| ImageIndexError::io(&path, e))?;
    Ok(joined.iter().filter(|&&b| b == b'\n').count())
}
