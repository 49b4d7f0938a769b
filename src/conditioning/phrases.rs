//! Query phrases (criterion phrasings, kinds in the criterion's template) embedded once per
//! index and model, and kept in the index's `derived/` folder: querying one collection by a
//! criterion again embeds nothing new.

use std::path::Path;

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::embed::text::{EmbedError, TextEmbedding};

/// The cache's two files for one model (each model keeps its own).
fn files(dir: &Path, model: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let h = super::vocab::fingerprint(&[model.to_string()]);
    (dir.join(format!("phrases-{h:016x}.json")), dir.join(format!("phrases-{h:016x}.npy")))
}
/// Phrases kept at most (about 1.5 KB each at 384 dimensions); beyond, the cache starts over.
const MAX_PHRASES: usize = 20_000;

#[derive(Serialize, Deserialize)]
struct Meta {
    model: String,
    phrases: Vec<String>,
}

/// The embeddings of `phrases`, in order: from the cache in `index_dir` where it holds them,
/// the rest from `encoder` (then cached). A cache that cannot be read or written only costs
/// the embedding.
pub fn embed(
    encoder: &mut TextEmbedding,
    phrases: &[String],
    index_dir: Option<&Path>,
) -> Result<Array2<f32>, EmbedError> {
    let Some(dir) = index_dir.map(|d| d.join("derived")) else { return encoder.embed(phrases) };
    let (mut known, mut rows) = load(&dir, encoder).unwrap_or_else(|| (Vec::new(), Array2::zeros((0, encoder.dim()))));
    let at = |known: &[String], p: &str| known.iter().position(|k| k == p);
    let missing: Vec<String> = phrases.iter().filter(|p| at(&known, p).is_none()).cloned().collect();
    if !missing.is_empty() {
        let fresh = encoder.embed(&missing)?;
        if known.len() + missing.len() > MAX_PHRASES {
            known.clear();
            rows = Array2::zeros((0, encoder.dim()));
        }
        known.extend(missing);
        rows = ndarray::concatenate![Axis(0), rows, fresh];
        store(&dir, encoder.name(), &known, &rows);
    }
    let idx: Vec<usize> = phrases.iter().map(|p| at(&known, p).expect("embedded above")).collect();
    Ok(rows.select(Axis(0), &idx))
}

fn load(dir: &Path, encoder: &TextEmbedding) -> Option<(Vec<String>, Array2<f32>)> {
    let (meta_file, rows_file) = files(dir, encoder.name());
    let meta: Meta = serde_json::from_slice(&std::fs::read(meta_file).ok()?).ok()?;
    let rows = crate::util::npy::read_f32(&rows_file).ok()?;
    let fits = meta.model == encoder.name() && rows.nrows() == meta.phrases.len() && rows.ncols() == encoder.dim();
    fits.then_some((meta.phrases, rows))
}

/// Embeddings first, then the list that names them: a reader never sees a list longer than
/// its embeddings (a mismatch is read as no cache).
fn store(dir: &Path, model: &str, phrases: &[String], rows: &Array2<f32>) {
    let meta = Meta { model: model.to_string(), phrases: phrases.to_vec() };
    let (meta_file, rows_file) = files(dir, model);
    let written = std::fs::create_dir_all(dir).is_ok()
        && crate::util::npy::write_f32(&rows_file, rows).is_ok()
        && serde_json::to_vec(&meta).is_ok_and(|b| crate::util::fs::write_atomic(&meta_file, &b).is_ok());
    if !written {
        eprintln!("warning: could not cache the query phrases in {}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
    fn cached_phrases_equal_fresh_ones_and_other_models_caches_are_not_read() {
        let mut enc = crate::embed::text::test_encoder();
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let first = embed(&mut enc, &p(&["the colour red", "the colour blue"]), Some(dir.path())).unwrap();
        let again =
            embed(&mut enc, &p(&["the colour blue", "the mood calm", "the colour red"]), Some(dir.path())).unwrap();
        assert_eq!(again.row(0), first.row(1));
        assert_eq!(again.row(2), first.row(0));
        assert_eq!(again.row(1), enc.embed(&p(&["the mood calm"])).unwrap().row(0));
        let (meta_file, _) = files(&dir.path().join("derived"), enc.name());
        let meta: Meta = serde_json::from_slice(&std::fs::read(&meta_file).unwrap()).unwrap();
        assert_eq!(meta.phrases.len(), 3);
        // A cache that names another model is not read.
        let other = Meta { model: "another".into(), phrases: p(&["the colour red"]) };
        std::fs::write(&meta_file, serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(load(&dir.path().join("derived"), &enc).is_none());
    }
}
