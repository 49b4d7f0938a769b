//! The criterion-free vocabulary of an index: content terms mined from its captions, each
//! embedded once. Cached next to the index (`derived/`), rebuilt when the index grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::naming::text::caption_terms;
use crate::naming::StopWords;
use crate::text_embedding::{EmbedError, TextEmbedding};

/// A term must occur in at least this share of captions (and in 3), so that one-off words do
/// not become cluster axes, and in at most half, so that ubiquitous filler does not either.
const MIN_DF_SHARE: f64 = 0.003;
const MIN_DF: usize = 3;
const MAX_DF_SHARE: f64 = 0.5;

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
    pub terms: Vec<String>,
    pub df: Vec<u32>,
    /// `terms × dim`, L2-normalised.
    pub embeddings: Array2<f32>,
    /// Per caption, the ids of the (distinct) terms it contains.
    pub occurrences: Vec<Vec<u32>>,
}

#[derive(Serialize, Deserialize)]
struct CacheMeta {
    model: String,
    rows: usize,
    fingerprint: u64,
    terms: Vec<String>,
    df: Vec<u32>,
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

/// Mines terms by document frequency; returns the terms (sorted) and their df.
pub fn mine_terms(term_lists: &[Vec<String>]) -> (Vec<String>, Vec<u32>) {
    let n = term_lists.len();
    let mut df: HashMap<&str, u32> = HashMap::new();
    for list in term_lists {
        for t in list {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let min_df = MIN_DF.max((MIN_DF_SHARE * n as f64).ceil() as usize) as u32;
    let max_df = ((MAX_DF_SHARE * n as f64).floor() as u32).max(min_df);
    let mut kept: Vec<(&str, u32)> = df.into_iter().filter(|&(_, d)| d >= min_df && d <= max_df).collect();
    kept.sort();
    (kept.iter().map(|(t, _)| t.to_string()).collect(), kept.iter().map(|&(_, d)| d).collect())
}

fn fingerprint(captions: &[String]) -> u64 {
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
        let (terms, df) = mine_terms(&lists);
        let embeddings = if terms.is_empty() { Array2::zeros((0, encoder.dim())) } else { encoder.embed(&terms)? };
        Ok(Self::assemble(terms, df, embeddings, &lists))
    }

    fn assemble(terms: Vec<String>, df: Vec<u32>, embeddings: Array2<f32>, lists: &[Vec<String>]) -> Self {
        let ids: HashMap<&str, u32> = terms.iter().enumerate().map(|(i, t)| (t.as_str(), i as u32)).collect();
        let occurrences =
            lists.iter().map(|l| l.iter().filter_map(|t| ids.get(t.as_str()).copied()).collect()).collect();
        Self { terms, df, embeddings, occurrences }
    }

    /// Loads the cached vocabulary of `index_dir` if it matches these captions and model,
    /// else builds and caches it. A cache that cannot be written is not an error.
    pub fn load_or_build(
        index_dir: Option<&Path>,
        captions: &[String],
        encoder: &mut TextEmbedding,
    ) -> Result<Self, VocabError> {
        let Some(dir) = index_dir else { return Self::build(captions, encoder) };
        let dir = dir.join("derived");
        let (meta_path, npy_path) = (dir.join("vocab.json"), dir.join("vocab.npy"));
        let fp = fingerprint(captions);
        if let (Ok(text), true) = (std::fs::read_to_string(&meta_path), npy_path.is_file()) {
            if let Ok(meta) = serde_json::from_str::<CacheMeta>(&text) {
                if meta.model == encoder.name() && meta.rows == captions.len() && meta.fingerprint == fp {
                    if let Ok(emb) = crate::npy::read_f32(&npy_path) {
                        if emb.nrows() == meta.terms.len() && (emb.nrows() == 0 || emb.ncols() == encoder.dim()) {
                            let lists = caption_term_lists(captions);
                            return Ok(Self::assemble(meta.terms, meta.df, emb, &lists));
                        }
                    }
                }
            }
        }
        let v = Self::build(captions, encoder)?;
        let meta = CacheMeta {
            model: encoder.name().to_string(),
            rows: captions.len(),
            fingerprint: fp,
            terms: v.terms.clone(),
            df: v.df.clone(),
        };
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            std::fs::create_dir_all(&dir)?;
            crate::npy::write_f32(&npy_path, &v.embeddings)?;
            let tmp = meta_path.with_extension("json.partial");
            std::fs::write(&tmp, serde_json::to_vec(&meta)?)?;
            std::fs::rename(&tmp, &meta_path)?;
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
}
