//! Criterion conditioning: turning cached, criterion-free caption embeddings into vectors in
//! which the user's criterion dominates. Every method here costs a handful of encoder calls per
//! query (the criterion and a few short phrases), never one per image.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, CowArray, Ix2};

use crate::cluster::Rows;

use crate::embed::text::{EmbedError, TextEmbedding};

pub mod kinds;
mod phrases;
pub mod staged;

pub use phrases::embed as embed_phrases;
pub mod values;
pub mod vocab;

pub use values::{CaptionWeight, Threshold, ValuesParams};
pub use vocab::{VocabError, Vocabulary};

#[derive(Debug, thiserror::Error)]
pub enum ConditioningError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Vocab(#[from] VocabError),
    #[error("unknown conditioning `{0}`; known: {1}")]
    Unknown(String, String),
    #[error("embeddings have {got} columns but the encoder makes {want}: was the index built with another model?")]
    DimMismatch { got: usize, want: usize },
}

/// How the criterion re-weights or projects the cached embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Conditioning {
    /// Plain caption embeddings: the criterion is ignored (the baseline).
    None,
    /// Candidate criterion values mined from the captions, weighted by their similarity to the
    /// criterion; each caption becomes its profile over those values, joined with the caption
    /// at a weight measured from how much the two views agree ([`CaptionWeight::Agreement`]).
    #[default]
    Values,
}

impl Conditioning {
    /// Every conditioning (the ablation grid).
    pub const ALL: [Conditioning; 2] = [Self::None, Self::Values];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Values => "values",
        }
    }
}

impl fmt::Display for Conditioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Conditioning {
    type Err = ConditioningError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| ConditioningError::Unknown(s.to_string(), Self::ALL.map(|c| c.as_str()).join(", ")))
    }
}

/// What a conditioning method may look at.
pub struct ConditionInput<'a> {
    pub captions: &'a [String],
    pub embeddings: ArrayView2<'a, f32>,
    pub criterion: &'a str,
    pub exclude: &'a [String],
    pub k: Option<usize>,
    pub seed: u64,
    /// Where derived, criterion-free caches (the vocabulary) live; None = no caching.
    pub cache_dir: Option<&'a std::path::Path>,
    pub values: ValuesParams,
}

/// What conditioning produced besides the matrix, for the result's notes.
#[derive(Debug, Clone, Default)]
pub struct ConditionReport {
    pub relevant_terms: Vec<(String, f32)>,
    /// Mined terms the values were chosen from (the axis terms).
    pub vocabulary_size: usize,
    /// Weight of the caption half (`values`), as fixed or as measured from the views' agreement.
    pub caption_weight: Option<f32>,
    /// The share of the captions that name one of the criterion's kinds.
    pub kinds_coverage: Option<f32>,
    /// The index's vocabulary, when conditioning loaded it (the keyword namer counts its terms).
    pub vocabulary: Option<Vocabulary>,
    /// The criterion's unit query vector, when conditioning embedded it.
    pub criterion: Option<ndarray::Array1<f32>>,
    /// The criterion's kinds ([`kinds::select`]): vocabulary ids and weights, heaviest first.
    pub kinds: Vec<(usize, f32)>,
}

/// Conditioned rows as clustering takes them.
#[derive(Debug)]
pub enum Conditioned<'a> {
    /// One matrix: the cached embeddings themselves (`none` without exclusions) or a copy
    /// with excluded directions removed.
    Plain(CowArray<'a, f32, Ix2>),
    /// `[√A·captions | values]`, kept apart so that the caption block is not copied.
    /// `unit`: every joined row is known to be a unit vector.
    Joined { captions: CowArray<'a, f32, Ix2>, caption_scale: f32, values: Array2<f32>, unit: bool },
}

impl<'a> Conditioned<'a> {
    pub fn rows(&self) -> Rows<'_> {
        match self {
            Conditioned::Plain(x) => Rows::Dense(x.view()),
            Conditioned::Joined { captions, caption_scale, values, .. } => {
                Rows::Joined { left: captions.view(), left_scale: *caption_scale, right: values.view() }
            }
        }
    }

    /// Whether every row is known to be a unit vector without looking (clustering can then
    /// skip a pass that checks).
    pub fn known_unit(&self) -> bool {
        matches!(self, Conditioned::Joined { unit: true, .. })
    }

    /// One owned matrix (joined rows are copied side by side).
    pub fn into_dense(self) -> Array2<f32> {
        match self {
            Conditioned::Plain(x) => x.into_owned(),
            c @ Conditioned::Joined { .. } => c.rows().to_dense().into_owned(),
        }
    }
}

/// Conditions the cached embeddings; borrows them wherever nothing needs changing, so that
/// a query never copies the embedding matrix unless an exclusion modifies it.
pub fn condition<'a>(
    input: &ConditionInput<'a>,
    method: Conditioning,
    encoder: &mut TextEmbedding,
) -> Result<(Conditioned<'a>, ConditionReport), ConditioningError> {
    if input.embeddings.ncols() != encoder.dim() {
        return Err(ConditioningError::DimMismatch { got: input.embeddings.ncols(), want: encoder.dim() });
    }
    let excluded = if input.exclude.is_empty() { None } else { Some(encoder.embed(input.exclude)?) };
    // Copy the cached embeddings only when an exclusion has to modify them.
    let captions: CowArray<'a, f32, Ix2> = match &excluded {
        Some(d) => {
            let mut c = input.embeddings.to_owned();
            remove_directions(c.view_mut(), d.view());
            c.into()
        }
        None => input.embeddings.into(),
    };
    let mut report = ConditionReport::default();
    let x = match method {
        Conditioning::None => {
            // Nothing to mine here, but a cached vocabulary spares the keyword namer
            // tokenizing every caption (most of a `none` query's time at 1M captions).
            report.vocabulary = input
                .cache_dir
                .and_then(|d| Vocabulary::load_cached(d, input.captions, encoder.name(), encoder.dim(), false));
            Conditioned::Plain(captions)
        }
        Conditioning::Values => {
            let (captions, captions_unit) = unit_rows(captions);
            // The captions' half of the agreement weight needs no criterion: it runs beside
            // the criterion's embedding, which keeps only one core busy for most of its time.
            let agreement = input.values.caption_weight == CaptionWeight::Agreement;
            let (embedded, caption_half) = rayon::join(
                || -> Result<_, ConditioningError> {
                    let vocab = Vocabulary::load_or_build(input.cache_dir, input.captions, encoder)?;
                    let terms = CriterionTerms::new(&vocab, encoder, input.criterion, &input.values, input.cache_dir)?;
                    Ok((vocab, terms))
                },
                || {
                    agreement.then(|| {
                        values::CaptionPartition::cached(captions.view(), input.k, input.seed, input.cache_dir)
                    })
                },
            );
            let (vocab, CriterionTerms { query: q, kinds, selected, weights: w }) = embedded?;
            report.relevant_terms = values_found(&vocab, kinds.as_ref(), &w);
            report.kinds = selected;
            report.vocabulary_size = vocab.axis_terms;
            let values::ValuesBlock { rows: values, caption_weight: a, kinds_coverage, nonzero: values_nonzero } =
                values::condition(
                    captions.view(),
                    &vocab,
                    &w,
                    kinds.as_ref(),
                    &input.values,
                    excluded.as_ref().map(|d| d.view()),
                    input.k,
                    input.seed,
                    caption_half.as_ref(),
                );
            report.caption_weight = Some(a);
            report.kinds_coverage = kinds_coverage;
            report.vocabulary = Some(vocab);
            report.criterion = Some(q);
            // Row length² is A·|caption|² + (1 − A)·|values|², each part 0 or 1.
            let unit = (captions_unit || a == 0.0) && (values_nonzero || a == 1.0);
            Conditioned::Joined { captions, caption_scale: a.sqrt(), values, unit }
        }
    };
    Ok((x, report))
}

/// The criterion's side of values conditioning over a vocabulary: its query vector, its kinds
/// and every term's weight. Needs the vocabulary and the encoder, not the caption embeddings.
pub struct CriterionTerms {
    pub query: ndarray::Array1<f32>,
    pub kinds: Option<kinds::Kinds>,
    /// [`kinds::select`]'s vocabulary ids and weights, heaviest first.
    pub selected: Vec<(usize, f32)>,
    /// Per vocabulary term ([`values::term_weights`]).
    pub weights: Vec<f32>,
}

impl CriterionTerms {
    pub fn new(
        vocab: &Vocabulary,
        encoder: &mut TextEmbedding,
        criterion: &str,
        params: &ValuesParams,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Self, ConditioningError> {
        let n = vocab.occurrences.len();
        let query = criterion_vector_cached(encoder, criterion, cache_dir)?;
        let selected = kinds::select(vocab, &query, criterion, n);
        let phrases: Vec<String> = selected.iter().map(|&(t, _)| kinds::template(criterion, &vocab.terms[t])).collect();
        let templated = phrases::embed(encoder, &phrases, cache_dir)?;
        let kinds = (!selected.is_empty()).then(|| kinds::Kinds::new(vocab, &selected, templated.view()));
        let weights = values::term_weights(vocab, &query, criterion, n, params);
        Ok(Self { query, kinds, selected, weights })
    }
}

/// The values a result reports: the kinds where there are any, else the heaviest terms.
pub fn values_found(vocab: &Vocabulary, kinds: Option<&kinds::Kinds>, weights: &[f32]) -> Vec<(String, f32)> {
    match kinds {
        Some(k) => k.terms.iter().zip(&k.weights).map(|(&t, &w)| (vocab.terms[t].clone(), w)).collect(),
        None => values::top_terms(vocab, weights, 12),
    }
}

/// [`criterion_vector`] with the phrasings' embeddings cached in `cache_dir` (the index).
fn criterion_vector_cached(
    encoder: &mut TextEmbedding,
    criterion: &str,
    cache_dir: Option<&std::path::Path>,
) -> Result<ndarray::Array1<f32>, ConditioningError> {
    let q = phrases::embed(encoder, &values::criterion_phrases(criterion), cache_dir)?;
    Ok(unit_mean(q))
}

fn unit_mean(q: ndarray::Array2<f32>) -> ndarray::Array1<f32> {
    let mut q = q.mean_axis(ndarray::Axis(0)).expect("three phrases");
    let n = q.dot(&q).sqrt().max(1e-12);
    q /= n;
    q
}

/// The criterion's query vector: the unit mean of its phrasings' embeddings
/// ([`values::criterion_phrases`]), with whichever encoder embeds the values.
pub fn criterion_vector(
    encoder: &mut TextEmbedding,
    criterion: &str,
) -> Result<ndarray::Array1<f32>, ConditioningError> {
    Ok(unit_mean(encoder.embed(&values::criterion_phrases(criterion))?))
}

/// Rows scaled to unit length (zero rows stay zero); borrowed when they already are. Also
/// says whether every row now is a unit vector (no zero rows).
fn unit_rows(x: CowArray<'_, f32, Ix2>) -> (CowArray<'_, f32, Ix2>, bool) {
    use rayon::prelude::*;
    let off = |r: ndarray::ArrayView1<f32>| (r.dot(&r).sqrt() - 1.0).abs() > crate::cluster::UNIT_NORM_TOLERANCE;
    if !(0..x.nrows()).into_par_iter().any(|i| off(x.row(i))) {
        return (x, true);
    }
    let mut owned = x.into_owned();
    let mut all_unit = true;
    for mut r in owned.rows_mut() {
        let n = r.dot(&r).sqrt();
        if n > 0.0 {
            r /= n;
        } else {
            all_unit = false;
        }
    }
    (owned.into(), all_unit)
}

/// Projects every row onto the orthogonal complement of `dirs`' span (Gram–Schmidt first),
/// so "do not consider X" removes X's direction from the geometry.
pub fn remove_directions(mut x: ArrayViewMut2<f32>, dirs: ArrayView2<f32>) {
    let mut basis: Vec<ndarray::Array1<f32>> = Vec::new();
    for d in dirs.rows() {
        let mut v = d.to_owned();
        for b in &basis {
            let p = v.dot(b);
            v.scaled_add(-p, b);
        }
        let n = v.dot(&v).sqrt();
        if n > 1e-6 {
            basis.push(v / n);
        }
    }
    for mut row in x.rows_mut() {
        for b in &basis {
            let p = row.dot(b);
            row.scaled_add(-p, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_direction_leaves_the_rest() {
        let mut x = ndarray::array![[1.0f32, 1.0, 0.0], [0.0, 2.0, 3.0]];
        let d = ndarray::array![[0.0f32, 2.0, 0.0]];
        remove_directions(x.view_mut(), d.view());
        assert_eq!(x, ndarray::array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 3.0]]);
    }

    #[test]
    fn names_round_trip() {
        for c in Conditioning::ALL {
            assert_eq!(c.as_str().parse::<Conditioning>().unwrap(), c);
        }
        assert!("magic".parse::<Conditioning>().unwrap_err().to_string().contains("values"));
    }
}
