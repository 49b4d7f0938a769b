//! `clusterby merge`: one index from several caption indexes (the shards of one input), without
//! copying embeddings where the file system allows.
//!
//! The merged index is an ordinary index: its manifest lists every source part, hard-linked
//! into its own `parts/`. (An index that only listed its shard folders would save nothing over
//! links, and every reader that globs `parts/`, such as DuckDB or Spark, would miss rows.) Each
//! committed part records which source part it came from in the manifest's `meta`, in the same
//! write, so a merge killed midway resumes where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::caption_index::{Index, PartCopy};
use super::IndexError;

/// The manifest `meta` key under which a merged index records its sources and their parts.
pub const MERGED_FROM: &str = "merged_from";

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("merge needs at least one source index")]
    NoSources,
    #[error("{dir}: source given twice", dir = .0.display())]
    SourceTwice(PathBuf),
    #[error("{dir}: the output is also a source", dir = .0.display())]
    OutIsSource(PathBuf),
    #[error("{dir}: an image index, but the first source is a caption index; merge joins indexes of one kind", dir = .0.display())]
    ImageIndex(PathBuf),
    #[error("{dir}: a caption index, but the first source is an image index; merge joins indexes of one kind", dir = .0.display())]
    CaptionIndex(PathBuf),
    #[error(
        "{dir} was built with model '{model}' (dim {dim}) but {first} with '{first_model}' (dim {first_dim}): \
         embeddings of different models cannot share an index",
        dir = .dir.display(), first = .first.display()
    )]
    ModelMismatch { dir: PathBuf, model: String, dim: usize, first: PathBuf, first_model: String, first_dim: usize },
    #[error(
        "id '{id}' is in both {a} and {b}: merge joins disjoint indexes (the shards of one input)",
        a = .a.display(), b = .b.display()
    )]
    DuplicateId { id: String, a: PathBuf, b: PathBuf },
    #[error(
        "{out} holds parts that no merge of these sources put there ({what}); merge into a new folder",
        out = .out.display()
    )]
    ForeignOutput { out: PathBuf, what: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeReport {
    pub sources: usize,
    /// Parts hard-linked (no bytes copied).
    pub linked: usize,
    /// Parts copied (the source is on another file system).
    pub copied: usize,
    /// Parts an earlier, interrupted run had already merged.
    pub already_merged: usize,
    pub rows: usize,
}

/// Merges `sources` into `out` (created if missing). Sources are held with their writer lock
/// for the whole merge, so a shard that is still being written is refused, not half-merged.
pub fn merge(sources: &[PathBuf], out: &Path) -> Result<MergeReport, MergeError> {
    merge_parts(sources, out, false)
}

/// [`merge`] of the parts alone, of caption indexes or (`images`) of image indexes, whose
/// other files [`crate::store::image_index::merge_images`] joins.
pub(crate) fn merge_parts(sources: &[PathBuf], out: &Path, images: bool) -> Result<MergeReport, MergeError> {
    let sources = canonical_sources(sources, out, images)?;
    let held: Vec<Index> = open_sources(&sources)?;
    check_disjoint(&held)?;
    let first = held[0].manifest();
    let mut target = Index::create_or_open(out, &first.model, first.dim)?;
    let mut done = merged_so_far(&target, &sources)?;
    let mut report = MergeReport { sources: held.len(), ..MergeReport::default() };
    for (src, key) in held.iter().zip(&sources) {
        let key = key.to_string_lossy().into_owned();
        for part in &src.manifest().parts {
            if done.get(&key).is_some_and(|files| files.contains(&part.file)) {
                report.already_merged += 1;
                continue;
            }
            done.entry(key.clone()).or_default().push(part.file.clone());
            let mut meta = target.manifest().meta.clone().unwrap_or_default();
            meta.insert(MERGED_FROM.into(), progress_json(&done));
            match target.adopt_part(src.dir(), part, meta)? {
                PartCopy::Linked => report.linked += 1,
                PartCopy::Copied => report.copied += 1,
            }
        }
    }
    report.rows = target.manifest().rows;
    Ok(report)
}

fn canonical_sources(sources: &[PathBuf], out: &Path, images: bool) -> Result<Vec<PathBuf>, MergeError> {
    if sources.is_empty() {
        return Err(MergeError::NoSources);
    }
    let out_c = out.canonicalize().ok();
    let mut seen = Vec::with_capacity(sources.len());
    for s in sources {
        let c = s.canonicalize().map_err(|e| IndexError::io(s, e))?;
        if seen.contains(&c) {
            return Err(MergeError::SourceTwice(s.clone()));
        }
        if out_c.as_ref() == Some(&c) {
            return Err(MergeError::OutIsSource(s.clone()));
        }
        match (images, crate::store::image_index::is_image_index(&c)) {
            (false, true) => return Err(MergeError::ImageIndex(s.clone())),
            (true, false) => return Err(MergeError::CaptionIndex(s.clone())),
            _ => {}
        }
        seen.push(c);
    }
    Ok(seen)
}

fn open_sources(sources: &[PathBuf]) -> Result<Vec<Index>, MergeError> {
    let first = Index::open(&sources[0])?.manifest().clone();
    let mut held = Vec::with_capacity(sources.len());
    for dir in sources {
        let m = Index::open(dir)?.manifest().clone();
        if m.model != first.model || m.dim != first.dim {
            return Err(MergeError::ModelMismatch {
                dir: dir.clone(),
                model: m.model,
                dim: m.dim,
                first: sources[0].clone(),
                first_model: first.model,
                first_dim: first.dim,
            });
        }
        held.push(Index::create_or_open(dir, &m.model, m.dim)?);
    }
    Ok(held)
}

fn check_disjoint(held: &[Index]) -> Result<(), MergeError> {
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, src) in held.iter().enumerate() {
        for id in src.ids()? {
            if let Some(&j) = owner.get(&id) {
                let (a, b) = (held[j].dir().to_path_buf(), src.dir().to_path_buf());
                return Err(MergeError::DuplicateId { id, a, b });
            }
            owner.insert(id, i);
        }
    }
    Ok(())
}

/// Which source parts `target` already holds, from its manifest; refuses an output with parts
/// of its own or of another merge.
fn merged_so_far(target: &Index, sources: &[PathBuf]) -> Result<HashMap<String, Vec<String>>, MergeError> {
    let foreign = |what: String| MergeError::ForeignOutput { out: target.dir().to_path_buf(), what };
    let m = target.manifest();
    let recorded = m.meta.as_ref().and_then(|meta| meta.get(MERGED_FROM));
    let mut done: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(Value::Object(map)) = recorded {
        for (src, files) in map {
            if !sources.iter().any(|s| s.to_string_lossy() == src.as_str()) {
                return Err(foreign(format!("parts merged from {src}, which is not a source now")));
            }
            let files = files.as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect());
            done.insert(src.clone(), files.unwrap_or_default());
        }
    }
    let counted: usize = done.values().map(Vec::len).sum();
    if counted != m.parts.len() {
        return Err(foreign(format!("{} parts, {counted} of them merged", m.parts.len())));
    }
    Ok(done)
}

fn progress_json(done: &HashMap<String, Vec<String>>) -> Value {
    let mut keys: Vec<&String> = done.keys().collect();
    keys.sort();
    let map: Map<String, Value> = keys
        .into_iter()
        .map(|k| (k.clone(), Value::Array(done[k].iter().map(|f| Value::String(f.clone())).collect())))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CaptionRecord;

    fn shard(dir: &Path, prefix: &str, parts: usize, model: &str) -> PathBuf {
        let mut idx = Index::create_or_open(dir, model, 3).unwrap();
        for p in 0..parts {
            let recs: Vec<CaptionRecord> = (0..4)
                .map(|i| CaptionRecord { id: format!("{prefix}{p}-{i}"), caption: format!("c {i}"), label: None })
                .collect();
            let emb: Vec<f32> = (0..12).map(|v| v as f32 + p as f32).collect();
            idx.append_part(&recs, &emb).unwrap();
        }
        dir.to_path_buf()
    }

    #[test]
    fn merges_every_part_once_and_resumes_after_a_kill() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(&tmp.path().join("a"), "a", 2, "m");
        let b = shard(&tmp.path().join("b"), "b", 3, "m");
        let out = tmp.path().join("out");
        let r = merge(&[a.clone(), b.clone()], &out).unwrap();
        assert_eq!((r.linked + r.copied, r.rows), (5, 20));
        let again = merge(&[a.clone(), b.clone()], &out).unwrap();
        assert_eq!((again.already_merged, again.linked + again.copied, again.rows), (5, 0, 20));
        let merged = Index::open(&out).unwrap().load().unwrap();
        let mut want: Vec<String> = Index::open(&a).unwrap().load().unwrap().ids;
        want.extend(Index::open(&b).unwrap().load().unwrap().ids);
        assert_eq!(merged.ids, want);

        // Interrupted midway: drop the last two parts from the manifest and its record.
        let path = out.join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let parts = m["parts"].as_array_mut().unwrap();
        parts.truncate(3);
        m["rows"] = 12.into();
        let key = b.canonicalize().unwrap().to_string_lossy().into_owned();
        m["meta"][MERGED_FROM][&key].as_array_mut().unwrap().truncate(1);
        std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
        let resumed = merge(&[a, b], &out).unwrap();
        assert_eq!((resumed.already_merged, resumed.linked + resumed.copied, resumed.rows), (3, 2, 20));
        assert_eq!(Index::open(&out).unwrap().load().unwrap().ids, want);
    }

    #[test]
    fn each_refusal_has_its_own_error() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(&tmp.path().join("a"), "a", 1, "m");
        let a2 = shard(&tmp.path().join("a2"), "a", 1, "m");
        let other = shard(&tmp.path().join("o"), "o", 1, "other-model");
        let out = tmp.path().join("out");
        assert!(matches!(merge(&[], &out), Err(MergeError::NoSources)));
        assert!(matches!(merge(&[a.clone(), a.clone()], &out), Err(MergeError::SourceTwice(_))));
        assert!(matches!(merge(&[a.clone(), a2.clone()], &out), Err(MergeError::DuplicateId { .. })));
        assert!(matches!(merge(&[a.clone(), other], &out), Err(MergeError::ModelMismatch { .. })));
        assert!(matches!(merge(std::slice::from_ref(&a), &a), Err(MergeError::OutIsSource(_))));
        std::fs::write(tmp.path().join("a2").join("images.json"), "{}").unwrap();
        assert!(matches!(merge(&[a2], &out), Err(MergeError::ImageIndex(_))));
        // An output that holds rows of its own is not a merge to resume.
        let foreign = shard(&tmp.path().join("f"), "f", 1, "m");
        assert!(matches!(merge(&[a], &foreign), Err(MergeError::ForeignOutput { .. })));
    }
}
