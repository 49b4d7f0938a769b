//! "values" conditioning: each caption is re-described by the candidate criterion values it
//! mentions. Terms mined from the captions are scored against the criterion; the relevant ones
//! (e.g. "trumpet", "violin", "woodwind" for "musical instrument") are weighted, and each caption
//! becomes the weighted mean of its relevant terms' embeddings, joined to its own embedding.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::vocab::Vocabulary;
use crate::naming::text::{singularize, tokenize};
use crate::naming::StopWords;

/// Which term scores count as relevant. Scores of true criterion values differ a lot between
/// criteria ("object" ≈ 0.4–0.6, "musical instrument" ≈ 0.6–0.7), so thresholds are relative to
/// the score distribution of the vocabulary at hand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Fixed(f32),
    /// Keep the top share of terms: τ = this quantile of the scores (0.9 keeps 10%).
    Quantile(f32),
    /// τ = mean + z·std of the scores.
    ZScore(f32),
    /// τ = max score − δ.
    BelowMax(f32),
    /// τ = c · std of the scores. Criteria whose values stand out (spread-out scores, e.g.
    /// "musical instrument") get a higher cut than criteria whose values score like everything
    /// else (compressed scores, e.g. "object"), where keeping almost all terms is right.
    StdMultiple(f32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuesParams {
    pub threshold: Threshold,
    /// Weight of the plain caption embedding in the joined vector (0 = values only).
    pub caption_weight: f32,
}

impl Default for ValuesParams {
    fn default() -> Self {
        Self { threshold: Threshold::StdMultiple(1.5), caption_weight: 0.5 }
    }
}

/// Criterion phrasings averaged into one query vector: the bare criterion alone is a noun,
/// the templates pull the vector towards its values.
pub fn criterion_phrases(criterion: &str) -> Vec<String> {
    let c = criterion.trim();
    vec![c.to_string(), format!("a kind of {c}"), format!("the {c} is")]
}

/// Term weights: max(score − τ, 0) × idf; terms that share a word with the criterion get 0,
/// since the criterion's own words ("instrument") are not values of it.
pub fn term_weights(vocab: &Vocabulary, query: &Array1<f32>, criterion: &str, n_docs: usize, p: &ValuesParams) -> Vec<f32> {
    if vocab.is_empty() {
        return Vec::new();
    }
    let scores: Vec<f32> = vocab.embeddings.dot(query).to_vec();
    let stop = StopWords::english();
    let crit_words: Vec<String> =
        tokenize(criterion).into_iter().filter(|w| !stop.contains(w)).map(|w| singularize(&w).into_owned()).collect();
    let candidate: Vec<bool> =
        vocab.terms.iter().map(|t| !t.split(' ').any(|w| crit_words.iter().any(|c| c == w))).collect();
    let kept: Vec<f32> = scores.iter().zip(&candidate).filter(|(_, &c)| c).map(|(&s, _)| s).collect();
    if kept.is_empty() {
        return vec![0.0; scores.len()];
    }
    let tau = threshold(&kept, p.threshold);
    scores
        .iter()
        .zip(&candidate)
        .zip(&vocab.df)
        .map(|((&s, &c), &df)| {
            if !c {
                return 0.0;
            }
            let idf = (n_docs as f32 / df.max(1) as f32).ln().max(0.0);
            (s - tau).max(0.0) * idf
        })
        .collect()
}

fn threshold(scores: &[f32], rule: Threshold) -> f32 {
    match rule {
        Threshold::Fixed(t) => t,
        Threshold::Quantile(q) => {
            let mut s = scores.to_vec();
            s.sort_by(f32::total_cmp);
            let i = ((q.clamp(0.0, 1.0) * (s.len() - 1) as f32).round() as usize).min(s.len() - 1);
            s[i]
        }
        Threshold::ZScore(z) => {
            let n = scores.len() as f32;
            let m = scores.iter().sum::<f32>() / n;
            let sd = (scores.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / n).sqrt();
            m + z * sd
        }
        Threshold::BelowMax(d) => scores.iter().copied().fold(f32::MIN, f32::max) - d,
        Threshold::StdMultiple(c) => {
            let n = scores.len() as f32;
            let m = scores.iter().sum::<f32>() / n;
            c * (scores.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / n).sqrt()
        }
    }
}

/// Builds the conditioned matrix `[√A·caption, √(1−A)·values]` (rows unit length), writing
/// straight into the output so that peak memory is the input plus the output.
pub fn condition(
    captions_emb: ArrayView2<f32>,
    vocab: &Vocabulary,
    weights: &[f32],
    p: &ValuesParams,
) -> Array2<f32> {
    let (n, dim) = captions_emb.dim();
    let a = p.caption_weight.clamp(0.0, 1.0);
    let (wa, wb) = (a.sqrt(), (1.0 - a).sqrt());
    let mut out = Array2::<f32>::zeros((n, 2 * dim));
    let mut mean = Array1::<f32>::zeros(dim);
    for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
        let (mut cap, mut bag) = row.view_mut().split_at(Axis(0), dim);
        cap.assign(&captions_emb.row(i));
        normalize(cap.as_slice_mut().expect("row of a standard-layout array"));
        let mut any = false;
        for &t in &vocab.occurrences[i] {
            let w = weights[t as usize];
            if w > 0.0 {
                bag.scaled_add(w, &vocab.embeddings.row(t as usize));
                any = true;
            }
        }
        if !any {
            // Nothing criterion-relevant in this caption: fall back to the caption itself.
            bag.assign(&cap);
        }
        let b = bag.as_slice_mut().expect("row of a standard-layout array");
        normalize(b);
        mean += &bag;
    }
    if n > 0 {
        mean /= n as f32;
    }
    // Centring removes what all captions share (the criterion's common direction), which
    // otherwise dominates cosine similarity between bags.
    for mut row in out.axis_iter_mut(Axis(0)) {
        let (mut cap, mut bag) = row.view_mut().split_at(Axis(0), dim);
        cap *= wa;
        bag -= &mean;
        normalize(bag.as_slice_mut().expect("row of a standard-layout array"));
        bag *= wb;
    }
    out
}

fn normalize(v: &mut [f32]) {
    let n = v.len();
    crate::text_embedding::l2_normalize_rows(v, n);
}

/// The most relevant terms and their weights, for reports.
pub fn top_terms(vocab: &Vocabulary, weights: &[f32], n: usize) -> Vec<(String, f32)> {
    let mut idx: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    idx.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
    idx.into_iter().take(n).map(|i| (vocab.terms[i].clone(), weights[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn vocab() -> Vocabulary {
        // 2-d toy embeddings: "trumpet" and "violin" point along the query, "street" across it.
        Vocabulary {
            terms: vec!["instrument".into(), "street".into(), "trumpet".into(), "violin".into()],
            df: vec![4, 2, 2, 2],
            embeddings: array![[1.0, 0.0], [0.0, 1.0], [0.9, 0.436], [0.9, -0.436]],
            occurrences: vec![vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3]],
        }
    }

    #[test]
    fn criterion_words_are_not_values_and_irrelevant_terms_get_no_weight() {
        let v = vocab();
        let q = Array1::from(vec![1.0f32, 0.0]);
        let w = term_weights(&v, &q, "musical instruments", 4, &ValuesParams::default());
        assert_eq!(w[0], 0.0, "the criterion's own word");
        assert_eq!(w[1], 0.0, "orthogonal to the criterion");
        assert!(w[2] > 0.0 && w[3] > 0.0);
    }

    #[test]
    fn captions_with_the_same_value_end_up_together() {
        let v = vocab();
        let q = Array1::from(vec![1.0f32, 0.0]);
        let p = ValuesParams::default();
        let w = term_weights(&v, &q, "instrument", 4, &p);
        // Caption embeddings say "street" vs not; the criterion says trumpet vs violin.
        let caps = array![[0.0f32, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]];
        let x = condition(caps.view(), &v, &w, &p);
        let bag = |i: usize| x.row(i).slice(ndarray::s![2..]).to_owned();
        assert!(bag(0).dot(&bag(2)) > 0.4, "both trumpet");
        assert!(bag(0).dot(&bag(1)) < 0.0, "trumpet vs violin");
        for r in x.rows() {
            assert!((r.dot(&r) - 1.0).abs() < 1e-4, "rows are unit length");
        }
    }

    #[test]
    fn thresholds() {
        let s = [0.0f32, 0.1, 0.2, 0.3, 0.4];
        assert!((threshold(&s, Threshold::StdMultiple(1.0)) - 0.141_421).abs() < 1e-4);
        assert_eq!(threshold(&s, Threshold::Quantile(1.0)), 0.4);
        assert!((threshold(&s, Threshold::BelowMax(0.1)) - 0.3).abs() < 1e-6);
    }
}
