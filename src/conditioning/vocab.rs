//! The criterion-free vocabulary of an index: content terms mined from its captions, each
//! embedded once. Cached next to the index (`derived/`), rebuilt when the index grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::embed::text::{EmbedError, TextEmbedding};
use crate::naming::text::caption_terms;
use crate::naming::StopWords;

/// A term must occur in at least this share of captions (and in 3) to be an axis of the
/// zero-call values, so that one-off words do not become cluster axes, and in at most half,
/// so that ubiquitous filler does not either.
const MIN_DF_SHARE: f64 = 0.003;
const MIN_DF: usize = 3;
const MAX_DF_SHARE: f64 = 0.5;
/// Rarer terms, down to this share (and 3 captions), are kept too, for the one-call path
/// only: a model that knows a gorilla is a monkey can place the 20 STL-10 captions that say
/// "gorilla" (0.25% of them), which no axis of the zero-call path names. The share bounds the
/// vocabulary (and its embedding at index time) on large collections.
const RARE_MIN_DF_SHARE: f64 = 0.0003;

#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("{path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

/// Terms, their document frequencies, embeddings, and which terms each caption holds.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// The axis terms (df ≥ 0.3% of captions) sorted, then the rarer terms sorted.
    pub terms: Vec<String>,
    pub df: Vec<u32>,
    /// `terms[..axis_terms]` are the zero-call path's candidate values; the rest are rarer
    /// values that only the one-call path shows its model.
    pub axis_terms: usize,
    /// `terms × dim`, L2-normalised.
    pub embeddings: Array2<f32>,
    /// Per caption, the ids of the (distinct) terms it contains, in the order the caption
    /// first mentions them (the first is usually its subject).
    pub occurrences: Vec<Vec<u32>>,
}

#[derive(Serialize, Deserialize)]
struct CacheMeta {
    model: String,
    rows: usize,
    fingerprint: u64,
    terms: Vec<String>,
    df: Vec<u32>,
    /// The df the terms were mined down to; caches from before the rarer terms lack it (0)
    /// and are rebuilt.
    #[serde(default)]
    min_df: u32,
}

const OCCURRENCES_FILE: &str = "occurrences.bin";
/// Version 2: ids in mention order (version 1 sorted them by id).
const OCCURRENCES_MAGIC: &[u8; 8] = b"CBOCC002";

/// Per-caption term ids as one little-endian file: magic, caption fingerprint, rows, total ids,
/// `rows + 1` offsets (u64), then the ids (u32). Written to a temp file and renamed.
fn write_occurrences(path: &Path, fp: u64, occ: &[Vec<u32>]) -> std::io::Result<()> {
    let total: usize = occ.iter().map(Vec::len).sum();
    let mut buf = Vec::with_capacity(32 + 8 * (occ.len() + 1) + 4 * total);
    buf.extend_from_slice(OCCURRENCES_MAGIC);
    buf.extend_from_slice(&fp.to_le_bytes());
    buf.extend_from_slice(&(occ.len() as u64).to_le_bytes());
    buf.extend_from_slice(&(total as u64).to_le_bytes());
    let mut off = 0u64;
    buf.extend_from_slice(&off.to_le_bytes());
    for o in occ {
        off += o.len() as u64;
        buf.extend_from_slice(&off.to_le_bytes());
    }
    for o in occ {
        for id in o {
            buf.extend_from_slice(&id.to_le_bytes());
        }
    }
    crate::util::fs::write_atomic(path, &buf)
}

/// The cached occurrences if the file is whole and belongs to these captions and terms.
fn read_occurrences(path: &Path, fp: u64, rows: usize, n_terms: usize) -> Option<Vec<Vec<u32>>> {
    let b = std::fs::read(path).ok()?;
    let u64_at = |i: usize| -> Option<u64> { Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
    if b.get(..8)? != OCCURRENCES_MAGIC || u64_at(8)? != fp || u64_at(16)? != rows as u64 {
        return None;
    }
    let total = usize::try_from(u64_at(24)?).ok()?;
    let ids_at = 32 + 8 * (rows + 1);
    if b.len() != ids_at.checked_add(total.checked_mul(4)?)? {
        return None;
    }
    let id = |j: usize| {
        u32::from_le_bytes([b[ids_at + 4 * j], b[ids_at + 4 * j + 1], b[ids_at + 4 * j + 2], b[ids_at + 4 * j + 3]])
    };
    let mut out = Vec::with_capacity(rows);
    let mut prev = u64_at(32)? as usize;
    for r in 0..rows {
        let next = u64_at(32 + 8 * (r + 1))? as usize;
        if next < prev || next > total {
            return None;
        }
        let row: Vec<u32> = (prev..next).map(id).collect();
        if row.iter().any(|&t| t as usize >= n_terms) {
            return None;
        }
        out.push(row);
        prev = next;
    }
    Some(out)
}

/// Terms of each caption, singularised, stop words and caption boilerplate removed.
pub fn caption_term_lists(captions: &[String]) -> Vec<Vec<String>> {
    use rayon::prelude::*;
    let stop = StopWords::captions();
    captions
        .par_iter()
        .map(|c| {
            let mut t = caption_terms(c, &stop, true);
            t.sort();
            t.dedup();
            t
        })
        .collect()
}

/// Mines the axis terms by document frequency; returns the terms (sorted) and their df.
pub fn mine_terms(term_lists: &[Vec<String>]) -> (Vec<String>, Vec<u32>) {
    let (terms, df, axis) = mine_tiers(term_lists, min_df(MIN_DF_SHARE, term_lists.len()));
    debug_assert_eq!(axis, terms.len());
    (terms, df)
}

/// The df a term needs at `share` of `n` captions.
fn min_df(share: f64, n: usize) -> u32 {
    MIN_DF.max((share * n as f64).ceil() as usize) as u32
}

/// Mines terms down to `rare_min_df`: the axis terms (sorted), then the rarer ones (sorted),
/// their df, and how many are axis terms.
fn mine_tiers(term_lists: &[Vec<String>], rare_min_df: u32) -> (Vec<String>, Vec<u32>, usize) {
    let n = term_lists.len();
    let mut df: HashMap<&str, u32> = HashMap::new();
    for list in term_lists {
        for t in list {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let axis_min_df = min_df(MIN_DF_SHARE, n);
    let rare_min_df = rare_min_df.min(axis_min_df);
    let max_df = ((MAX_DF_SHARE * n as f64).floor() as u32).max(axis_min_df);
    let mut kept: Vec<(bool, &str, u32)> = df
        .into_iter()
        .filter(|&(_, d)| d >= rare_min_df && d <= max_df)
        .map(|(t, d)| (d < axis_min_df, t, d))
        .collect();
    kept.sort();
    let axis = kept.iter().take_while(|(rare, _, _)| !rare).count();
    (kept.iter().map(|(_, t, _)| t.to_string()).collect(), kept.iter().map(|&(_, _, d)| d).collect(), axis)
}

/// Where a (singularised, lower-case) term is first mentioned in a lower-case caption:
/// "puppy" is found in "puppies" by its stem; `usize::MAX` when not found.
pub(crate) fn mention_at(caption: &str, term: &str) -> usize {
    caption
        .find(term)
        .or_else(|| {
            let stem: String = term.chars().take(term.chars().count().saturating_sub(1)).collect();
            (stem.chars().count() >= 3).then(|| caption.find(&stem)).flatten()
        })
        .unwrap_or(usize::MAX)
}

pub(crate) fn fingerprint(captions: &[String]) -> u64 {
    // FNV-1a over all captions: cheap, stable across runs and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for c in captions {
        for b in c.as_bytes().iter().chain(std::iter::once(&0u8)) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

impl Vocabulary {
    /// Builds the vocabulary (embedding every term once).
    pub fn build(captions: &[String], encoder: &mut TextEmbedding) -> Result<Self, VocabError> {
        let lists = caption_term_lists(captions);
        let (terms, df, axis_terms) = mine_tiers(&lists, min_df(RARE_MIN_DF_SHARE, captions.len()));
        let embeddings = if terms.is_empty() { Array2::zeros((0, encoder.dim())) } else { encoder.embed(&terms)? };
        Ok(Self::assemble(terms, df, axis_terms, embeddings, &lists, captions))
    }

    fn assemble(
        terms: Vec<String>,
        df: Vec<u32>,
        axis_terms: usize,
        embeddings: Array2<f32>,
        lists: &[Vec<String>],
        captions: &[String],
    ) -> Self {
        use rayon::prelude::*;
        let ids: HashMap<&str, u32> = terms.iter().enumerate().map(|(i, t)| (t.as_str(), i as u32)).collect();
        let occurrences = lists
            .par_iter()
            .zip(captions.par_iter())
            .map(|(l, caption)| {
                let lower = caption.to_lowercase();
                let mut occ: Vec<(usize, u32)> =
                    l.iter().filter_map(|t| ids.get(t.as_str()).map(|&id| (mention_at(&lower, t), id))).collect();
                occ.sort_unstable();
                occ.into_iter().map(|(_, id)| id).collect()
            })
            .collect();
        Self { terms, df, axis_terms, embeddings, occurrences }
    }

    /// The cached vocabulary of `index_dir`, if there is one for these captions and this
    /// model (`model`, `dim`). With `retokenize`, a cache without per-caption term ids is
    /// completed by tokenizing the captions again; without, it counts as missing.
    pub fn load_cached(
        index_dir: &Path,
        captions: &[String],
        model: &str,
        dim: usize,
        retokenize: bool,
    ) -> Option<Self> {
        let dir = index_dir.join("derived");
        let (meta_path, npy_path) = (dir.join("vocab.json"), dir.join("vocab.npy"));
        let fp = fingerprint(captions);
        let meta = serde_json::from_str::<CacheMeta>(&std::fs::read_to_string(&meta_path).ok()?).ok()?;
        if meta.model != model
            || meta.rows != captions.len()
            || meta.fingerprint != fp
            || meta.min_df != min_df(RARE_MIN_DF_SHARE, captions.len())
            || !npy_path.is_file()
        {
            return None;
        }
        let emb = crate::util::npy::read_f32(&npy_path).ok()?;
        if emb.nrows() != meta.terms.len() || (emb.nrows() > 0 && emb.ncols() != dim) {
            return None;
        }
        // The axis terms come first: those at the axis floor.
        let axis_min_df = min_df(MIN_DF_SHARE, captions.len());
        let axis_terms = meta.df.iter().take_while(|&&d| d >= axis_min_df).count();
        let occ_path = dir.join(OCCURRENCES_FILE);
        // Re-tokenizing every caption was most of a query's time at 1M rows.
        if let Some(occurrences) = read_occurrences(&occ_path, fp, captions.len(), meta.terms.len()) {
            return Some(Self { terms: meta.terms, df: meta.df, axis_terms, embeddings: emb, occurrences });
        }
        if !retokenize {
            return None;
        }
        let lists = caption_term_lists(captions);
        let v = Self::assemble(meta.terms, meta.df, axis_terms, emb, &lists, captions);
        let _ = write_occurrences(&occ_path, fp, &v.occurrences);
        Some(v)
    }

    /// Loads the cached vocabulary of `index_dir` if it matches these captions and model,
    /// else builds and caches it. A cache that cannot be written is not an error.
    pub fn load_or_build(
        index_dir: Option<&Path>,
        captions: &[String],
        encoder: &mut TextEmbedding,
    ) -> Result<Self, VocabError> {
        let Some(index_dir) = index_dir else { return Self::build(captions, encoder) };
        if let Some(v) = Self::load_cached(index_dir, captions, encoder.name(), encoder.dim(), true) {
            return Ok(v);
        }
        let dir = index_dir.join("derived");
        let (meta_path, npy_path) = (dir.join("vocab.json"), dir.join("vocab.npy"));
        let fp = fingerprint(captions);
        let v = Self::build(captions, encoder)?;
        let meta = CacheMeta {
            model: encoder.name().to_string(),
            rows: captions.len(),
            fingerprint: fp,
            terms: v.terms.clone(),
            df: v.df.clone(),
            min_df: min_df(RARE_MIN_DF_SHARE, captions.len()),
        };
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            std::fs::create_dir_all(&dir)?;
            crate::util::npy::write_f32(&npy_path, &v.embeddings)?;
            write_occurrences(&dir.join(OCCURRENCES_FILE), fp, &v.occurrences)?;
            crate::util::fs::write_atomic(&meta_path, &serde_json::to_vec(&meta)?)?;
            Ok(())
        };
        if let Err(e) = write() {
            eprintln!("warning: could not cache the vocabulary in {}: {e}", dir.display());
        }
        Ok(v)
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mining_respects_document_frequency() {
        let caps: Vec<String> = (0..10)
            .map(|i| match i % 3 {
                0 => "A man playing a trumpet on a street.".to_string(),
                1 => "A woman playing a violin on a stage.".to_string(),
                _ => format!("A child with a guitar number{i}."),
            })
            .collect();
        let lists = caption_term_lists(&caps);
        let (terms, df) = mine_terms(&lists);
        assert!(terms.contains(&"trumpet".to_string()));
        assert!(terms.contains(&"violin".to_string()));
        // one-off tokens are dropped
        assert!(!terms.iter().any(|t| t.starts_with("number")));
        for (t, d) in terms.iter().zip(&df) {
            assert!(*d >= 3 && *d <= 5, "{t}: {d}");
        }
    }

    #[test]
    fn rarer_terms_are_kept_after_the_axis_terms() {
        // 2,000 captions: the axis floor is 6 captions (0.3%), the rare floor 3.
        let caps: Vec<String> = (0..2000)
            .map(|i| match i {
                0..=9 => "A violin on a stage.".to_string(),
                10..=13 => "A zither on a stage.".to_string(),
                14..=15 => "A theremin on a stage.".to_string(),
                _ => format!("Filler caption with word{} and word{}.", i % 97, i % 89),
            })
            .collect();
        let lists = caption_term_lists(&caps);
        let (terms, df, axis) = mine_tiers(&lists, min_df(RARE_MIN_DF_SHARE, caps.len()));
        let at = |t: &str| terms.iter().position(|x| x == t);
        let (violin, zither) = (at("violin").unwrap(), at("zither").unwrap());
        assert!(violin < axis && zither >= axis, "violin (10 captions) is an axis, zither (4) is rarer");
        assert_eq!(at("theremin"), None, "2 captions are below both floors");
        assert!(df[..axis].iter().all(|&d| d >= 6) && df[axis..].iter().all(|&d| (3..6).contains(&d)));
        assert!(terms[..axis].is_sorted() && terms[axis..].is_sorted());
        // The axis terms alone are what `mine_terms` gives (the image path's candidates).
        assert_eq!(mine_terms(&lists), (terms[..axis].to_vec(), df[..axis].to_vec()));
    }

    #[test]
    fn caches_mined_down_to_another_floor_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let derived = dir.path().join("derived");
        std::fs::create_dir_all(&derived).unwrap();
        let caps: Vec<String> = vec!["A violin.".into(); 4];
        let fp = fingerprint(&caps);
        crate::util::npy::write_f32(&derived.join("vocab.npy"), &Array2::<f32>::zeros((1, 2))).unwrap();
        write_occurrences(&derived.join(OCCURRENCES_FILE), fp, &vec![vec![0u32]; 4]).unwrap();
        let write_meta = |min_df: Option<u32>| {
            let mut meta =
                serde_json::json!({"model": "m", "rows": 4, "fingerprint": fp, "terms": ["violin"], "df": [4]});
            if let Some(d) = min_df {
                meta["min_df"] = d.into();
            }
            std::fs::write(derived.join("vocab.json"), meta.to_string()).unwrap();
        };
        write_meta(Some(min_df(RARE_MIN_DF_SHARE, 4)));
        let v = Vocabulary::load_cached(dir.path(), &caps, "m", 2, false).expect("a current cache is read");
        assert_eq!((v.axis_terms, v.occurrences.len()), (1, 4));
        write_meta(None);
        assert!(
            Vocabulary::load_cached(dir.path(), &caps, "m", 2, false).is_none(),
            "a cache from before the rarer terms"
        );
        write_meta(Some(99));
        assert!(Vocabulary::load_cached(dir.path(), &caps, "m", 2, false).is_none(), "mined down to another floor");
    }

    #[test]
    fn occurrences_round_trip_and_reject_other_captions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("occ.bin");
        let occ = vec![vec![0u32, 3], vec![], vec![2]];
        write_occurrences(&p, 42, &occ).unwrap();
        assert_eq!(read_occurrences(&p, 42, 3, 4), Some(occ.clone()));
        assert_eq!(read_occurrences(&p, 43, 3, 4), None, "other captions");
        assert_eq!(read_occurrences(&p, 42, 3, 3), None, "term id out of range");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        assert_eq!(read_occurrences(&p, 42, 3, 4), None, "truncated");
    }

    #[test]
    fn occurrences_follow_the_captions_mention_order() {
        let caps: Vec<String> =
            ["A man plays the saxophone next to a trumpet player.", "Two trumpets and a saxophone on a stage."]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let lists = caption_term_lists(&caps);
        let terms: Vec<String> = ["saxophone", "stage", "trumpet"].map(String::from).to_vec();
        let v = Vocabulary::assemble(terms, vec![2, 1, 2], 3, Array2::zeros((3, 2)), &lists, &caps);
        assert_eq!(v.occurrences, [vec![0, 2], vec![2, 0, 1]]);
        assert_eq!(mention_at("a man plays the saxophone next to a trumpet", "trumpet"), 36);
        assert_eq!(mention_at("three puppies on a rug", "puppy"), 6);
        assert_eq!(mention_at("a dog", "cat"), usize::MAX);
    }

    #[test]
    fn occurrence_files_of_the_sorted_version_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("occ.bin");
        write_occurrences(&p, 42, &[vec![1u32, 0]]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[..8].copy_from_slice(b"CBOCC001");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_occurrences(&p, 42, 1, 2), None);
    }
}
