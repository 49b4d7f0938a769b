//! Queries over image indexes: cluster by the image embeddings, the caption embeddings, or both,
//! with the criterion conditioning each space.
//!
//! Image-space "values" conditioning: candidate criterion values (terms mined from the images'
//! captions, else the built-in vocabulary) are embedded with the CLIP text encoder as "a photo
//! of {value}"; the values that score highest against the criterion (τ = mean + 1.5·std, at
//! least 2K of them) become the axes; each image becomes its zero-shot distribution over those
//! values, softmax(100 · cos), and clusters are formed on √p (so cosine similarity between images
//! is the Bhattacharyya coefficient of their value distributions). Clusters are named by their
//! most probable values unless captions or an LLM name them.

pub mod vocabulary;

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::{Array1, Array2, Axis};

use crate::conditioning::{self, ConditionInput, Conditioning};
use crate::image_index::LoadedImageIndex;
use crate::llm::LlmClient;
use crate::naming::{ClusterName, NOISE_CLUSTER, NOISE_NAME};
use crate::query::{cluster_and_name, ClusterResult, Features, QueryError, QueryOptions};
use crate::text_embedding::TextEmbedding;

pub use vocabulary::BUILTIN_TERMS;

/// Which embeddings a query clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Image,
    Caption,
    /// Image and caption features joined with equal weight.
    Both,
}

impl std::str::FromStr for Space {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "image" => Ok(Space::Image),
            "caption" | "captions" => Ok(Space::Caption),
            "both" => Ok(Space::Both),
            o => Err(format!("unknown space {o:?}: use image, caption or both")),
        }
    }
}

impl Space {
    pub fn as_str(self) -> &'static str {
        match self {
            Space::Image => "image",
            Space::Caption => "caption",
            Space::Both => "both",
        }
    }
}

/// Softmax temperature of CLIP's zero-shot logits (its learned logit scale is ~100).
const LOGIT_SCALE: f32 = 100.0;
const MAX_VALUES: usize = 150;

/// The image-space feature matrix for a criterion, and the values it is built on.
pub struct ImageValues {
    pub features: Array2<f32>,
    pub values: Vec<String>,
    /// Per image, probability over `values` (rows sum to 1).
    pub probs: Array2<f32>,
    pub candidates: usize,
}

/// Candidate values: terms mined from captions when at least half the images have one, else
/// the built-in vocabulary.
pub fn candidate_values(idx: &LoadedImageIndex) -> (Vec<String>, &'static str) {
    if idx.captioned * 2 >= idx.images.ids.len() && idx.captioned > 0 {
        let lists = conditioning::vocab::caption_term_lists(&idx.captions);
        let (terms, _) = conditioning::vocab::mine_terms(&lists);
        if terms.len() >= 8 {
            return (terms, "caption terms");
        }
    }
    (BUILTIN_TERMS.iter().map(|s| s.to_string()).collect(), "built-in vocabulary")
}

/// Conditions image embeddings on `criterion` through `clip_text` (the same CLIP model's text
/// encoder).
pub fn image_values(
    images: ndarray::ArrayView2<f32>,
    candidates: &[String],
    criterion: &str,
    k: Option<usize>,
    clip_text: &mut TextEmbedding,
    cache_dir: Option<&std::path::Path>,
) -> Result<ImageValues, QueryError> {
    let v = value_embeddings(candidates, clip_text, cache_dir)?;
    let phrases = conditioning::values::criterion_phrases(criterion);
    let q = clip_text.embed(&phrases)?;
    let mut query: Array1<f32> = q.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(v.ncols()));
    let norm = query.dot(&query).sqrt().max(1e-12);
    query /= norm;
    let scores = v.dot(&query);
    let n = scores.len() as f32;
    let mean = scores.sum() / n;
    let std = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n).sqrt();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let above = order.iter().filter(|&&i| scores[i] >= mean + 1.5 * std).count();
    // Not `clamp`: with fewer candidates than the floor, the ceiling (all of them) must win.
    #[allow(clippy::manual_clamp)]
    let keep = above.max(2 * k.unwrap_or(4)).max(8).min(MAX_VALUES).min(order.len());
    let chosen: Vec<usize> = order[..keep].to_vec();
    let vr = v.select(Axis(0), &chosen);
    let mut logits = images.dot(&vr.t()) * LOGIT_SCALE;
    for mut row in logits.rows_mut() {
        let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|x| (x - m).exp());
        let s = row.sum().max(1e-30);
        row /= s;
    }
    let features = logits.mapv(f32::sqrt);
    Ok(ImageValues {
        features,
        values: chosen.iter().map(|&i| candidates[i].clone()).collect(),
        probs: logits,
        candidates: candidates.len(),
    })
}

/// CLIP text embeddings of "a photo of {value}", cached in `INDEX/derived/` per model and
/// candidate list (the same every query unless the captions change).
fn value_embeddings(
    candidates: &[String],
    clip_text: &mut TextEmbedding,
    cache_dir: Option<&std::path::Path>,
) -> Result<Array2<f32>, QueryError> {
    let key: Vec<String> = std::iter::once(clip_text.name().to_string()).chain(candidates.iter().cloned()).collect();
    let h = conditioning::vocab::fingerprint(&key);
    let path = cache_dir.map(|d| d.join("derived").join(format!("clip-values-{h:016x}.npy")));
    if let Some(e) = path.as_ref().and_then(|p| crate::npy::read_f32(p).ok()) {
        if e.nrows() == candidates.len() && e.ncols() == clip_text.dim() {
            return Ok(e);
        }
    }
    let prompts: Vec<String> = candidates.iter().map(|t| format!("a photo of {t}")).collect();
    let v = clip_text.embed(&prompts)?;
    if let Some(p) = &path {
        // A cache that cannot be written costs time on the next query, nothing else.
        let _ = p.parent().map(std::fs::create_dir_all);
        let _ = crate::npy::write_f32(p, &v);
    }
    Ok(v)
}

/// Names each cluster by its images' most probable values.
pub fn value_names(probs: &Array2<f32>, values: &[String], labels: &[i64], k: usize) -> Vec<ClusterName> {
    let mut sums = Array2::<f32>::zeros((k, values.len()));
    let mut noise = false;
    for (row, &l) in probs.rows().into_iter().zip(labels) {
        if l >= 0 && (l as usize) < k {
            let mut s = sums.row_mut(l as usize);
            s += &row;
        } else {
            noise = true;
        }
    }
    let mut used = std::collections::HashSet::new();
    let mut out: Vec<ClusterName> = (0..k)
        .map(|c| {
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| sums[[c, b]].total_cmp(&sums[[c, a]]));
            let keywords: Vec<String> = order.iter().take(6).map(|&i| values[i].clone()).collect();
            let scores = order.iter().take(6).map(|&i| sums[[c, i]]).collect();
            let mut name = keywords.iter().take(2).cloned().collect::<Vec<_>>().join(" / ");
            if !used.insert(name.clone()) {
                name = format!("{name} ({})", c + 1);
            }
            ClusterName { cluster: c as i64, name, keywords, scores }
        })
        .collect();
    if noise {
        out.push(ClusterName { cluster: NOISE_CLUSTER, name: NOISE_NAME.into(), keywords: Vec::new(), scores: Vec::new() });
    }
    out
}

fn l2_rows(x: &mut Array2<f32>) {
    for mut r in x.rows_mut() {
        let n = r.dot(&r).sqrt();
        if n > 0.0 {
            r /= n;
        }
    }
}

/// Runs one query on an image index. `caption_encoder` is the captions' text model (needed for
/// the caption and both spaces).
pub fn run(
    idx: &LoadedImageIndex,
    space: Space,
    clip_text: &mut TextEmbedding,
    mut caption_encoder: Option<&mut TextEmbedding>,
    opts: &QueryOptions,
    llm: Option<&LlmClient>,
) -> Result<ClusterResult, QueryError> {
    if opts.criterion.trim().is_empty() {
        return Err(QueryError::EmptyCriterion);
    }
    let ids = &idx.images.ids;
    if ids.is_empty() {
        return Err(QueryError::EmptyIndex);
    }
    let total = Instant::now();
    let mut timings = BTreeMap::new();
    let mut notes = vec![format!("space: {}", space.as_str())];
    let t = Instant::now();

    let have_captions = idx.captioned > 0 && space != Space::Image;
    let image_part = if space == Space::Caption {
        None
    } else {
        // The values also name clusters when there are no captions to mine keywords from.
        let need_values = opts.conditioning != Conditioning::None || !have_captions;
        let iv = if need_values {
            let (cands, source) = candidate_values(idx);
            let cache = opts.cache_dir.as_deref();
            let iv = image_values(idx.images.embeddings.view(), &cands, &opts.criterion, opts.k, clip_text, cache)?;
            notes.push(format!(
                "image values ({} of {} from the {source}): {}",
                iv.values.len(),
                iv.candidates,
                iv.values.iter().take(12).cloned().collect::<Vec<_>>().join(", ")
            ));
            Some(iv)
        } else {
            None
        };
        let x = match (&iv, opts.conditioning) {
            (Some(iv), c) if c != Conditioning::None => iv.features.clone(),
            _ => idx.images.embeddings.clone(),
        };
        Some((x, iv))
    };
    let caption_part = if space == Space::Image {
        None
    } else {
        let (Some(emb), Some(enc)) = (idx.caption_embeddings.as_ref(), caption_encoder.as_deref_mut()) else {
            return Err(QueryError::Invalid(
                "this image index has no captions: index with --captioner or --captions, or use --space image".into(),
            ));
        };
        let cache = opts.cache_dir.as_ref().map(|d| d.join(crate::image_index::CAPTIONS_DIR));
        let (c, _) = conditioning::condition(
            &ConditionInput {
                captions: &idx.captions,
                embeddings: emb.view(),
                criterion: &opts.criterion,
                exclude: &opts.exclude,
                k: opts.k,
                seed: opts.seed,
                cache_dir: cache.as_deref(),
                values: opts.values,
            },
            opts.conditioning,
            enc,
        )?;
        Some(c.into_dense())
    };
    let (mut x, iv) = match (image_part, caption_part) {
        (Some((img, iv)), None) => (img, iv),
        (None, Some(cap)) => (cap, None),
        (Some((img, iv)), Some(cap)) => {
            let mut a = img;
            l2_rows(&mut a);
            let mut b = cap;
            l2_rows(&mut b);
            let w = std::f32::consts::FRAC_1_SQRT_2;
            (ndarray::concatenate![Axis(1), a * w, b * w], iv)
        }
        (None, None) => unreachable!("a space always has a part"),
    };
    l2_rows(&mut x);
    timings.insert("condition".to_string(), t.elapsed().as_secs_f64() * 1e3);

    let name_fn = |labels: &[i64], k: usize| -> Vec<ClusterName> {
        match &iv {
            Some(iv) => value_names(&iv.probs, &iv.values, labels, k),
            None => (0..k).map(|c| ClusterName { cluster: c as i64, name: format!("cluster {}", c + 1), keywords: Vec::new(), scores: Vec::new() }).collect(),
        }
    };
    let names_from: Option<crate::query::NameFn<'_>> = if have_captions { None } else { Some(&name_fn) };
    let features = Features { ids, captions: &idx.captions, x: x.view().into(), terms: None, unit: false };
    // LLM names are checked against the clusters' keywords in the space those came from: the
    // captions' encoder for caption keywords, CLIP's text tower for image values.
    let check_encoder = match caption_encoder {
        Some(e) if have_captions => e,
        _ => clip_text,
    };
    let mut r = cluster_and_name(&features, opts, llm, Some(check_encoder), names_from, None, timings, notes, total)?;
    r.conditioning = format!("{}:{}", space.as_str(), opts.conditioning.as_str());
    Ok(r)
}
