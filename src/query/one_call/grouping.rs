//! Turning the model's categories into a partition. Each category becomes an anchor in the
//! criterion's template space (its name, its description, its example words); the example
//! words belong to their category, and every other kind of the criterion to the category whose
//! anchor is nearest. Each caption then votes with the kinds it mentions (first mention
//! first); the captions that mention none, and the borders, are settled by k-means on the
//! `values` features.

use ndarray::{Array2, ArrayView2};

use crate::cluster::{CheckedClusterParams, Rows};
use crate::conditioning::{kinds, Vocabulary};
use crate::embed::text::TextEmbedding;
use crate::llm::DescribedCategory;
use crate::naming::text::{singularize, tokenize};
use crate::naming::ClusterName;

use super::super::QueryError;

/// The vocabulary id of a word the model wrote, matched as written or in the vocabulary's own
/// form (lower case, each word singular): models pluralise ("gorillas") and capitalise.
fn term_id(listed: &std::collections::HashMap<&str, usize>, word: &str) -> Option<usize> {
    let normal = || tokenize(word).iter().map(|w| singularize(w).into_owned()).collect::<Vec<_>>().join(" ");
    listed.get(word).or_else(|| listed.get(normal().as_str())).copied()
}

/// The category of every word that votes (see the module docs), and the weight each votes
/// with: kinds with theirs, example words that are no kind with the lightest kind's.
pub(super) fn categories_of_words(
    vocab: &Vocabulary,
    kinds_: &[(usize, f32)],
    shown: &[usize],
    answer: &[DescribedCategory],
    criterion: &str,
    encoder: &mut TextEmbedding,
    cache_dir: Option<&std::path::Path>,
) -> Result<(Vec<Option<usize>>, Vec<f32>), QueryError> {
    let listed: std::collections::HashMap<&str, usize> = shown.iter().map(|&t| (vocab.terms[t].as_str(), t)).collect();
    let lightest = kinds_.iter().map(|k| k.1).fold(f32::INFINITY, f32::min);
    let mut category_of = vec![None; vocab.len()];
    let mut weight = vec![0f32; vocab.len()];
    let examples: Vec<Vec<usize>> =
        answer.iter().map(|c| c.examples.iter().filter_map(|e| term_id(&listed, e)).collect()).collect();
    for (c, ids) in examples.iter().enumerate() {
        for &t in ids {
            if category_of[t].is_none() {
                category_of[t] = Some(c);
                weight[t] = if lightest.is_finite() { lightest } else { 1.0 };
            }
        }
    }
    if kinds_.is_empty() {
        return Ok((category_of, weight));
    }
    let anchors = anchors(vocab, answer, &examples, criterion, encoder, cache_dir)?;
    let phrases: Vec<String> = kinds_.iter().map(|&(t, _)| kinds::template(criterion, &vocab.terms[t])).collect();
    let templated = crate::conditioning::embed_phrases(encoder, &phrases, cache_dir)?;
    let scores = templated.dot(&anchors.t());
    for (row, &(t, w)) in scores.rows().into_iter().zip(kinds_) {
        let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|b| b.0);
        if category_of[t].is_none() {
            category_of[t] = best;
        }
        weight[t] = w;
    }
    Ok((category_of, weight))
}

/// One unit vector per category: the mean of its name in the criterion's template, its
/// description, and its example words in the template.
fn anchors(
    vocab: &Vocabulary,
    answer: &[DescribedCategory],
    examples: &[Vec<usize>],
    criterion: &str,
    encoder: &mut TextEmbedding,
    cache_dir: Option<&std::path::Path>,
) -> Result<Array2<f32>, QueryError> {
    let mut phrases = Vec::new();
    let mut owner = Vec::new();
    for (c, cat) in answer.iter().enumerate() {
        phrases.push(kinds::template(criterion, &cat.name));
        owner.push(c);
        if !cat.description.trim().is_empty() {
            phrases.push(cat.description.clone());
            owner.push(c);
        }
        for &t in &examples[c] {
            phrases.push(kinds::template(criterion, &vocab.terms[t]));
            owner.push(c);
        }
    }
    let emb = crate::conditioning::embed_phrases(encoder, &phrases, cache_dir)?;
    let mut out = Array2::<f32>::zeros((answer.len(), emb.ncols()));
    for (row, &c) in emb.rows().into_iter().zip(&owner) {
        let mut o = out.row_mut(c);
        o += &row;
    }
    for mut r in out.rows_mut() {
        let n = r.dot(&r).sqrt();
        if n > 0.0 {
            r /= n;
        }
    }
    Ok(out)
}

/// Whether a category's name only restates the criterion ("Musical Instruments" for
/// "musical instrument"): every word of it shares a stem with one of the criterion's words.
/// A criterion that lists its own kinds ("type of footwear or clothing") keeps them: a name
/// drawn from one of its alternatives ("Footwear") is a kind; one that joins two of them, or
/// only repeats a slot word ("Type"), restates the criterion.
pub(super) fn names_the_criterion(name: &str, criterion: &str) -> bool {
    const SLOT_WORDS: [&str; 7] = ["type", "kind", "sort", "category", "class", "group", "style"];
    let stop = crate::naming::StopWords::english();
    let content = |s: &str| -> Vec<String> {
        tokenize(s).iter().filter(|w| !stop.contains(w)).map(|w| singularize(w).into_owned()).collect()
    };
    let same_stem = |w: &str, c: &str| {
        let common = w.chars().zip(c.chars()).take_while(|(a, b)| a == b).count();
        common >= 5 || common == w.chars().count().min(c.chars().count())
    };
    let (crit, words) = (content(criterion), content(name));
    if words.is_empty() || !words.iter().all(|w| crit.iter().any(|c| same_stem(w, c))) {
        return false;
    }
    let lowered = criterion.to_lowercase();
    let alternatives: Vec<Vec<String>> = lowered
        .split([',', '/'])
        .flat_map(|p| p.split(" or "))
        .flat_map(|p| p.split(" and "))
        .map(|p| content(p).into_iter().filter(|w| !SLOT_WORDS.contains(&w.as_str())).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .collect();
    if alternatives.len() < 2 {
        return true;
    }
    let touched = alternatives.iter().filter(|alt| words.iter().any(|w| alt.iter().any(|c| same_stem(w, c)))).count();
    touched != 1
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
