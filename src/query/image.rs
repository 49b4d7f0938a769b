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

use std::time::Instant;

use ndarray::{Array1, Array2, Axis};

use crate::conditioning::{self, ConditionInput, Conditioning};
use crate::embed::text::TextEmbedding;
use crate::llm::LlmClient;
use crate::naming::{ClusterName, NOISE_CLUSTER, NOISE_NAME};
use crate::store::image_index::LoadedImageIndex;

use super::pipeline::{self, Draft, Features, NameFn, Naming};
use super::{CandidateSource, ClusterResult, ImageValuesReport, NamerKind, QueryError, QueryOptions, Space, Strategy};

pub use super::image_vocabulary::BUILTIN_TERMS;

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
pub fn candidate_values(idx: &LoadedImageIndex) -> (Vec<String>, CandidateSource) {
    if idx.captioned * 2 >= idx.images.ids.len() && idx.captioned > 0 {
        let lists = conditioning::vocab::caption_term_lists(&idx.captions);
        let (terms, _) = conditioning::vocab::mine_terms(&lists);
        if terms.len() >= 8 {
            return (terms, CandidateSource::CaptionTerms);
        }
    }
    (BUILTIN_TERMS.iter().map(|s| s.to_string()).collect(), CandidateSource::BuiltIn)
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
    let query: Array1<f32> = conditioning::criterion_vector(clip_text, criterion)?;
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
    if let Some(e) = path.as_ref().and_then(|p| crate::util::npy::read_f32(p).ok()) {
        if e.nrows() == candidates.len() && e.ncols() == clip_text.dim() {
            return Ok(e);
        }
    }
    let prompts: Vec<String> = candidates.iter().map(|t| format!("a photo of {t}")).collect();
    let v = clip_text.embed(&prompts)?;
    if let Some(p) = &path {
        // A cache that cannot be written costs time on the next query, nothing else.
        let _ = p.parent().map(std::fs::create_dir_all);
        let _ = crate::util::npy::write_f32(p, &v);
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
        out.push(ClusterName {
            cluster: NOISE_CLUSTER,
            name: NOISE_NAME.into(),
            keywords: Vec::new(),
            scores: Vec::new(),
        });
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
    opts.check(llm, false)?;
    if idx.images.ids.is_empty() {
        return Err(QueryError::EmptyIndex);
    }
    let mut draft = Draft::new(opts, Strategy::ZeroCall);
    draft.result.diagnostics.space = Some(space);
    draft.result.model = Some(clip_text.name().to_string());
    let t = Instant::now();
    let have_captions = idx.captioned > 0 && space != Space::Image;
    let (x, iv) = space_features(idx, space, clip_text, caption_encoder.as_deref_mut(), opts, &mut draft)?;
    draft.time("condition", t);

    let t = Instant::now();
    let features =
        Features { ids: &idx.images.ids, captions: &idx.captions, x: x.view().into(), terms: None, unit: false };
    let clustering = pipeline::fit(&features, opts, opts.k)?;
    draft.time("cluster", t);
    let name_fn = |labels: &[i64], k: usize| -> Vec<ClusterName> {
        match &iv {
            Some(iv) => value_names(&iv.probs, &iv.values, labels, k),
            None => (0..k)
                .map(|c| ClusterName {
                    cluster: c as i64,
                    name: format!("cluster {}", c + 1),
                    keywords: Vec::new(),
                    scores: Vec::new(),
                })
                .collect(),
        }
    };
    let base: Option<(NameFn<'_>, NamerKind)> = (!have_captions).then_some((&name_fn as NameFn<'_>, NamerKind::Values));
    // LLM names are checked against the clusters' keywords in the space those came from: the
    // captions' encoder for caption keywords, CLIP's text tower for image values.
    let naming = match (opts.namer, llm, base) {
        (NamerKind::Llm, Some(client), base) => {
            let encoder = match caption_encoder {
                Some(e) if have_captions => e,
                _ => clip_text,
            };
            Naming::Llm { client, encoder: Some(encoder), base }
        }
        (_, _, Some((f, namer))) => Naming::Given(f, namer),
        _ => Naming::Keywords,
    };
    pipeline::finish(&features, clustering, naming, opts, draft)
}

/// The features an image query in `space` clusters, one row per image (for maps and users'
/// own analyses): what [`run`] computes before clustering.
pub fn features(
    idx: &LoadedImageIndex,
    space: Space,
    clip_text: &mut TextEmbedding,
    caption_encoder: Option<&mut TextEmbedding>,
    opts: &QueryOptions,
) -> Result<Array2<f32>, QueryError> {
    let mut draft = Draft::new(opts, Strategy::ZeroCall);
    Ok(space_features(idx, space, clip_text, caption_encoder, opts, &mut draft)?.0)
}

fn space_features(
    idx: &LoadedImageIndex,
    space: Space,
    clip_text: &mut TextEmbedding,
    caption_encoder: Option<&mut TextEmbedding>,
    opts: &QueryOptions,
    draft: &mut Draft,
) -> Result<(Array2<f32>, Option<ImageValues>), QueryError> {
    let have_captions = idx.captioned > 0 && space != Space::Image;
    let image_part = match space {
        Space::Caption => None,
        _ => Some(image_features(idx, opts, have_captions, clip_text, draft)?),
    };
    let caption_part = match space {
        Space::Image => None,
        _ => Some(caption_features(idx, opts, caption_encoder)?),
    };
    Ok(join_spaces(image_part, caption_part))
}

/// The image-space features: the criterion's zero-shot value distributions, or the plain
/// image embeddings (`--conditioning none`). The values are computed also when they only
/// name the clusters (no captions to mine keywords from).
fn image_features(
    idx: &LoadedImageIndex,
    opts: &QueryOptions,
    have_captions: bool,
    clip_text: &mut TextEmbedding,
    draft: &mut Draft,
) -> Result<(Array2<f32>, Option<ImageValues>), QueryError> {
    let need_values = opts.conditioning != Conditioning::None || !have_captions;
    let iv = if need_values {
        let (cands, source) = candidate_values(idx);
        let iv = image_values(
            idx.images.embeddings.view(),
            &cands,
            &opts.criterion,
            opts.k,
            clip_text,
            opts.cache_dir.as_deref(),
        )?;
        draft.result.diagnostics.image_values =
            Some(ImageValuesReport { values: iv.values.clone(), candidates: iv.candidates, source });
        Some(iv)
    } else {
        None
    };
    let x = match (&iv, opts.conditioning) {
        (Some(iv), c) if c != Conditioning::None => iv.features.clone(),
        _ => idx.images.embeddings.clone(),
    };
    Ok((x, iv))
}

/// The caption-space features, conditioned as on a caption index.
fn caption_features(
    idx: &LoadedImageIndex,
    opts: &QueryOptions,
    encoder: Option<&mut TextEmbedding>,
) -> Result<Array2<f32>, QueryError> {
    let (Some(emb), Some(enc)) = (idx.caption_embeddings.as_ref(), encoder) else {
        return Err(QueryError::Invalid(
            "this image index has no captions: index with --captioner or --captions, or use --space image".into(),
        ));
    };
    let cache = opts.cache_dir.as_ref().map(|d| d.join(crate::store::image_index::CAPTIONS_DIR));
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
    Ok(c.into_dense())
}

/// One unit row per image: one space's features, or both joined with equal weight.
fn join_spaces(
    image: Option<(Array2<f32>, Option<ImageValues>)>,
    caption: Option<Array2<f32>>,
) -> (Array2<f32>, Option<ImageValues>) {
    let (mut x, iv) = match (image, caption) {
        (Some((img, iv)), None) => (img, iv),
        (None, Some(cap)) => (cap, None),
        (Some((mut a, iv)), Some(mut b)) => {
            l2_rows(&mut a);
            l2_rows(&mut b);
            let w = std::f32::consts::FRAC_1_SQRT_2;
            (ndarray::concatenate![Axis(1), a * w, b * w], iv)
        }
        (None, None) => unreachable!("a space always has a part"),
    };
    l2_rows(&mut x);
    (x, iv)
}
