//! Turning the model's answer into a partition: each caption votes with the grouped values it
//! mentions (first mention first); the captions that mention none, and the borders, are settled
//! by k-means on the `values` features. An answer with names only seeds k-means by the nearest
//! name.

use ndarray::{Array2, ArrayView2, Axis};

use crate::cluster::{CheckedClusterParams, Rows};
use crate::conditioning::Vocabulary;
use crate::embed::text::TextEmbedding;
use crate::naming::ClusterName;

use super::super::QueryError;

/// For each vocabulary term, the category the model put it in (the first, if several). A
/// member matches a listed value as written or in the vocabulary's own form (lower case,
/// each word singular): models pluralise ("gorillas") and capitalise what they copy.
pub(super) fn term_categories(vocab: &Vocabulary, shown: &[usize], members: &[Vec<String>]) -> Vec<Option<usize>> {
    use crate::naming::text::{singularize, tokenize};
    let listed: std::collections::HashMap<&str, usize> = shown.iter().map(|&t| (vocab.terms[t].as_str(), t)).collect();
    let mut of = vec![None; vocab.len()];
    for (c, list) in members.iter().enumerate() {
        for m in list {
            let normal = || tokenize(m).iter().map(|w| singularize(w).into_owned()).collect::<Vec<_>>().join(" ");
            if let Some(&t) = listed.get(m.as_str()).or_else(|| listed.get(normal().as_str())) {
                of[t].get_or_insert(c);
            }
        }
    }
    of
}

/// A caption's votes per category: each grouped value it mentions (`occ`, in mention order)
/// adds its weight times `decay^n` for the n-th such value; `None` when it mentions none.
pub(super) fn caption_votes(
    occ: &[u32],
    w: &[f32],
    category_of: &[Option<usize>],
    k: usize,
    decay: f32,
) -> Option<Vec<f32>> {
    let mut votes = vec![0f32; k];
    let mut scale = 1.0;
    let mut any = false;
    for (c, weight) in occ.iter().filter_map(|&t| category_of[t as usize].map(|c| (c, w[t as usize]))) {
        votes[c] += weight * scale;
        scale *= decay;
        any = true;
    }
    any.then_some(votes)
}

/// The votes' partition before k-means settles it.
pub(super) struct Votes {
    /// Per caption, the category it voted for most; captions that did not vote go to the
    /// category whose voters' mean row is nearest.
    pub labels: Vec<i64>,
    /// Captions whose first choice is each category.
    pub per_category: Vec<usize>,
    /// Each caption's unit vote vector (zero when it did not vote).
    pub rows: Array2<f32>,
}

impl Votes {
    pub fn voters(&self) -> usize {
        self.per_category.iter().sum()
    }
}

/// Labels from the model's grouping of the values (see [`Votes`]).
pub(super) fn assign_by_terms(
    vocab: &Vocabulary,
    w: &[f32],
    category_of: &[Option<usize>],
    k: usize,
    decay: f32,
    x: ArrayView2<'_, f32>,
) -> Votes {
    use rayon::prelude::*;
    let scored: Vec<(i64, Vec<f32>)> = vocab
        .occurrences
        .par_iter()
        .map(|occ| {
            let Some(votes) = caption_votes(occ, w, category_of, k, decay) else {
                return (-1, vec![0f32; k]);
            };
            let best = votes
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(-1, |(c, _)| c as i64);
            (best, votes)
        })
        .collect();
    let mut rows = Array2::<f32>::zeros((scored.len(), k));
    for (mut row, (_, v)) in rows.rows_mut().into_iter().zip(&scored) {
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().zip(v).for_each(|(o, x)| *o = x / norm);
        }
    }
    let voted: Vec<i64> = scored.iter().map(|s| s.0).collect();
    let (labels, per_category) = place_non_voters(&voted, k, x);
    Votes { labels, per_category, rows }
}

/// Captions that did not vote (-1) go to the category whose voters' mean row in `x` is
/// nearest; also returns how many voted for each category.
fn place_non_voters(voted: &[i64], k: usize, x: ArrayView2<'_, f32>) -> (Vec<i64>, Vec<usize>) {
    let mut sums = Array2::<f32>::zeros((k, x.ncols()));
    let mut counts = vec![0usize; k];
    for (i, &l) in voted.iter().enumerate() {
        if l >= 0 {
            sums.row_mut(l as usize).scaled_add(1.0, &x.row(i));
            counts[l as usize] += 1;
        }
    }
    for (mut row, &m) in sums.rows_mut().into_iter().zip(&counts) {
        if m > 0 {
            row /= m as f32;
        }
    }
    let centres: Vec<usize> = (0..k).filter(|&c| counts[c] > 0).collect();
    let labels = voted
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l >= 0 || centres.is_empty() {
                return l.max(0);
            }
            let row = x.row(i);
            centres
                .iter()
                .map(|&c| {
                    let d = &row - &sums.row(c);
                    (c, d.dot(&d))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c as i64)
        })
        .collect();
    (labels, counts)
}

/// k-means over the unit `values` features joined with the unit vote vectors (the votes
/// weighted by `vote_weight`), started from the votes' partition.
pub(super) fn settle_votes(
    x: ArrayView2<'_, f32>,
    votes: &Votes,
    k: usize,
    vote_weight: f32,
    params: &CheckedClusterParams,
) -> Result<Vec<i64>, QueryError> {
    let mut joined = Array2::<f32>::zeros((x.nrows(), x.ncols() + k));
    let (a, b) = ((1.0 - vote_weight).sqrt(), vote_weight.sqrt());
    for ((mut out, row), vote) in joined.rows_mut().into_iter().zip(x.rows()).zip(votes.rows.rows()) {
        let norm = row.dot(&row).sqrt().max(f32::MIN_POSITIVE);
        out.slice_mut(ndarray::s![..x.ncols()]).assign(&(&row * (a / norm)));
        out.slice_mut(ndarray::s![x.ncols()..]).assign(&(&vote * b));
    }
    Ok(crate::cluster::refine_kmeans(Rows::Dense(joined.view()), &votes.labels, k, params)?)
}

/// Names only: each caption goes to the name nearest its relevant values (and itself), and
/// k-means on the `values` features settles the borders. Nearest-name assignment alone, with
/// the true class names as the answer, reached ACC 0.70 / 0.95 / 0.96 / 0.89 on PPMI-2 /
/// PPMI-7 / STL-10 / CIFAR-10, below zero-call values + k-means.
pub(super) fn assign_by_names(
    names: &[String],
    vocab: &Vocabulary,
    w: &[f32],
    captions: ArrayView2<'_, f32>,
    features: Rows<'_>,
    encoder: &mut TextEmbedding,
    params: &CheckedClusterParams,
) -> Result<Vec<i64>, QueryError> {
    let name_emb = encoder.embed(names)?;
    let mut bags = Array2::<f32>::zeros((captions.nrows(), name_emb.ncols()));
    for (i, mut row) in bags.axis_iter_mut(Axis(0)).enumerate() {
        // Axis terms only, as measured (the rarer ones came later, for the grouping).
        for &term in vocab.occurrences[i].iter().filter(|&&t| (t as usize) < vocab.axis_terms) {
            let wt = w[term as usize];
            if wt > 0.0 {
                row.scaled_add(wt, &vocab.embeddings.row(term as usize));
            }
        }
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        } else {
            row.assign(&captions.row(i));
        }
    }
    let scores = bags.dot(&name_emb.t()) + captions.dot(&name_emb.t());
    let nearest: Vec<i64> = scores
        .rows()
        .into_iter()
        .map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(j, _)| j as i64))
        .collect();
    Ok(crate::cluster::refine_kmeans(features, &nearest, names.len(), params)?)
}

/// Per cluster, the model's category name and the values its captions mention most.
pub(super) fn category_names(
    names: &[String],
    vocab: &Vocabulary,
    w: &[f32],
    labels: &[i64],
    k: usize,
) -> Vec<ClusterName> {
    let mut counts = vec![std::collections::HashMap::<u32, f32>::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        for &term in &vocab.occurrences[i] {
            if w[term as usize] > 0.0 {
                *counts[l as usize].entry(term).or_default() += 1.0;
            }
        }
    }
    (0..k)
        .map(|c| {
            let mut v: Vec<(u32, f32)> = counts[c].iter().map(|(&t, &n)| (t, n)).collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ClusterName {
                cluster: c as i64,
                name: names[c].clone(),
                keywords: v.iter().take(6).map(|&(t, _)| vocab.terms[t as usize].clone()).collect(),
                scores: v.iter().take(6).map(|&(_, n)| n).collect(),
            }
        })
        .collect()
}
