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

/// Weight `A` of the plain caption embedding in the joined vector (`1 − A` goes to the values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CaptionWeight {
    Fixed(f32),
    /// `A` from the NMI between k-means partitions of a sample by captions alone and by values
    /// alone ([`caption_weight_of`]). Where the two views agree, the captions are already about
    /// the criterion and, being less noisy than bags of terms, get most of the weight; where
    /// they disagree (the captions were written for something else: where people are, not
    /// what they play), the values take it, so the captions' own structure cannot take over.
    Agreement,
}

impl std::str::FromStr for CaptionWeight {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Self::Agreement),
            t => match t.parse::<f32>() {
                Ok(a) if (0.0..=1.0).contains(&a) => Ok(Self::Fixed(a)),
                _ => Err(format!("`{s}` is neither `auto` nor a number in [0, 1]")),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuesParams {
    pub threshold: Threshold,
    pub caption_weight: CaptionWeight,
}

impl Default for ValuesParams {
    fn default() -> Self {
        Self { threshold: Threshold::StdMultiple(1.5), caption_weight: CaptionWeight::Agreement }
    }
}

/// Rows compared when measuring how much the two views agree. Against 2,000 rows, A moved by
/// at most 0.03 on STL-10 and CIFAR-10 (seeds 42, 1, 2) and ACC did not move beyond the
/// spread between seeds; the two partitions are a quarter of a 10k-caption query's time.
const AGREEMENT_SAMPLE: usize = 1_000;
/// Clusters the two views are compared at when the query gives no K.
const AGREEMENT_DEFAULT_K: usize = 10;

/// Criterion phrasings averaged into one query vector: the bare criterion alone is a noun,
/// the templates pull the vector towards its values.
pub fn criterion_phrases(criterion: &str) -> Vec<String> {
    let c = criterion.trim();
    vec![c.to_string(), format!("a kind of {c}"), format!("the {c} is")]
}

/// Term weights: max(score − τ, 0) × idf; terms that share a word with the criterion get 0,
/// since the criterion's own words ("instrument") are not values of it. Only the axis terms
/// are weighed (the vocabulary's rarer terms get 0).
pub fn term_weights(
    vocab: &Vocabulary,
    query: &Array1<f32>,
    criterion: &str,
    n_docs: usize,
    p: &ValuesParams,
) -> Vec<f32> {
    weights(vocab, query, criterion, n_docs, p, vocab.axis_terms)
}

/// Weights of the first `scored` terms (the rest get 0); τ from the axis terms' scores.
fn weights(
    vocab: &Vocabulary,
    query: &Array1<f32>,
    criterion: &str,
    n_docs: usize,
    p: &ValuesParams,
    scored: usize,
) -> Vec<f32> {
    let axis = vocab.axis_terms.min(vocab.len());
    let scored = scored.clamp(axis, vocab.len());
    let mut out = vec![0.0; vocab.len()];
    if axis == 0 {
        return out;
    }
    let scores: Vec<f32> = vocab.embeddings.slice(ndarray::s![..scored, ..]).dot(query).to_vec();
    let stop = StopWords::english();
    let crit_words: Vec<String> =
        tokenize(criterion).into_iter().filter(|w| !stop.contains(w)).map(|w| singularize(&w).into_owned()).collect();
    let candidate: Vec<bool> =
        vocab.terms[..scored].iter().map(|t| !t.split(' ').any(|w| crit_words.iter().any(|c| c == w))).collect();
    let kept: Vec<f32> = scores[..axis].iter().zip(&candidate).filter(|(_, &c)| c).map(|(&s, _)| s).collect();
    if kept.is_empty() {
        return out;
    }
    let tau = threshold(&kept, p.threshold);
    for (((o, &s), &c), &df) in out.iter_mut().zip(&scores).zip(&candidate).zip(&vocab.df) {
        if c {
            let idf = (n_docs as f32 / df.max(1) as f32).ln().max(0.0);
            *o = (s - tau).max(0.0) * idf;
        }
    }
    out
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

/// Rows per parallel task when building the conditioned matrix.
const ROW_CHUNK: usize = 1024;

/// The relevant terms' embeddings written in an orthonormal basis of their span. A caption's
/// values vector is a weighted sum of these embeddings, so it lives in that span and its
/// coordinates there keep every inner product: the values half of a row needs only as many
/// columns as the span has dimensions (often tens, not the encoder's hundreds).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ValueSpace {
    /// `r × dim` orthonormal rows; `None` when the span is the whole space (coordinates are
    /// then the embeddings themselves).
    basis: Option<Array2<f32>>,
    /// Per vocabulary term, its row in `coords`, or `u32::MAX` when its weight is zero.
    slot: Vec<u32>,
    /// `relevant terms × r`: each relevant term's coordinates, times its weight.
    coords: Array2<f32>,
}

/// Above this many captions the values block keeps only the value space's leading
/// directions ([`crate::cluster::leading_row_space`]): at a million captions a full 384-wide
/// block would be as large as the caption embeddings themselves. Below, compressing does not
/// pay: on CIFAR-10 (10k captions, ~400 relevant terms, 128 directions kept) it cost ~15 ms
/// and saved about as much downstream; k-means ACC moved by at most 0.0006 (seeds 42, 1–3).
const FULL_SPACE_MAX_ROWS: usize = 50_000;
/// Leading directions kept at most: on CIFAR-10 and STL-10 (compressed for the measurement;
/// ~400 relevant terms for "object") 128 of 384 kept k-means' accuracy.
const MAX_COMPRESSED_DIMS: usize = 128;
/// Fewer directions are kept once they hold this share of the relevant terms' energy...
const COMPRESSED_ENERGY: f64 = 0.95;
/// ...trying this many first, then twice as many, and so on.
const MIN_COMPRESSED_DIMS: usize = 16;

impl ValueSpace {
    pub(super) fn new(vocab: &Vocabulary, weights: &[f32], rows: usize) -> Self {
        let mut s = Self::full(vocab, weights);
        if rows > FULL_SPACE_MAX_ROWS && s.width() > MAX_COMPRESSED_DIMS {
            s.compress(vocab, MAX_COMPRESSED_DIMS);
        }
        s
    }

    /// Keeps the leading directions of the relevant terms, each counted once per caption
    /// holding it (their df), i.e. roughly the directions along which captions' values vary.
    fn compress(&mut self, vocab: &Vocabulary, max_dims: usize) {
        use rand::SeedableRng;
        let relevant: Vec<usize> = {
            let mut v: Vec<(u32, usize)> =
                self.slot.iter().enumerate().filter(|(_, &s)| s != u32::MAX).map(|(t, &s)| (s, t)).collect();
            v.sort_unstable();
            v.into_iter().map(|(_, t)| t).collect()
        };
        let mut weighted = self.coords.clone();
        for (mut row, &t) in weighted.axis_iter_mut(Axis(0)).zip(&relevant) {
            row *= (vocab.df[t].max(1) as f32).sqrt();
        }
        let energy = |x: &Array2<f32>| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        let total = energy(&weighted);
        // The fewest of 16, 32, 64, 128 directions that hold COMPRESSED_ENERGY: where the
        // criterion has few values (synthetic captions) that is tens of columns, not 128, and
        // the block, its memory and every later pass shrink with it. A try costs about in
        // proportion to its width, so the failed narrower ones at most double the cost.
        let mut dims = MIN_COMPRESSED_DIMS.min(max_dims);
        let v = loop {
            // Fixed seed: the same captions and criterion give the same space.
            let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(0xc0_4e55);
            let Some(v) = crate::cluster::leading_row_space(weighted.view(), dims, &mut rng) else { return };
            if dims >= max_dims || energy(&weighted.dot(&v.t())) >= COMPRESSED_ENERGY * total {
                break v;
            }
            dims = (2 * dims).min(max_dims);
        };
        self.coords = self.coords.dot(&v.t());
        self.basis = Some(match &self.basis {
            Some(b) => v.dot(b),
            None => v,
        });
    }

    fn full(vocab: &Vocabulary, weights: &[f32]) -> Self {
        let dim = vocab.embeddings.ncols();
        let mut relevant: Vec<usize> = (0..weights.len()).filter(|&t| weights[t] > 0.0).collect();
        // Heaviest first, so that the basis (and its float rounding) does not depend on how
        // the vocabulary happens to be ordered.
        relevant.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
        let mut slot = vec![u32::MAX; weights.len()];
        for (i, &t) in relevant.iter().enumerate() {
            slot[t] = i as u32;
        }
        let emb = vocab.embeddings.select(Axis(0), &relevant);
        let basis = (relevant.len() < dim)
            .then(|| crate::cluster::orthonormal_rows(emb.view(), 1e-4))
            .filter(|b| b.nrows() < dim);
        let mut coords = match &basis {
            Some(b) => emb.dot(&b.t()),
            None => emb,
        };
        for (mut row, &t) in coords.axis_iter_mut(Axis(0)).zip(&relevant) {
            row *= weights[t];
        }
        Self { basis, slot, coords }
    }

    pub(super) fn width(&self) -> usize {
        self.coords.ncols()
    }

    /// Coordinates of an arbitrary vector of the encoder's space (its projection on the span).
    fn project(&self, v: ndarray::ArrayView1<f32>, out: &mut [f32]) {
        match &self.basis {
            Some(b) => {
                for (o, row) in out.iter_mut().zip(b.rows()) {
                    *o = row.dot(&v);
                }
            }
            None => out.iter_mut().zip(v.iter()).for_each(|(o, x)| *o = *x),
        }
    }
}

/// Share of the values block given to the criterion's kinds ([`super::kinds`]); the rest goes
/// to the bag of every relevant term. The two halves fail differently: the kinds alone lost
/// groupings that need more than a few words (animal vs vehicle on CIFAR-10 at 0.5: ACC
/// 0.78 ± 0.13), the bag alone lost the wind/string grouping of instruments (0.71 at 0.1,
/// 0.98 at 0.25).
pub const KINDS_SHARE: f32 = 0.25;

/// What [`condition`] makes: the values block and what was measured on the way.
#[derive(Debug)]
pub struct ValuesBlock {
    /// The values block of the conditioned rows `[√A·caption, √(1−A)·values]`.
    pub rows: Array2<f32>,
    /// The `A` used.
    pub caption_weight: f32,
    /// The share of the captions that name one of the criterion's kinds (`None` without
    /// kinds): how far the captions state the criterion at all.
    pub kinds_coverage: Option<f32>,
    /// Whether no row's centred values are zero.
    pub nonzero: bool,
}

/// The values block of the conditioned rows `[√A·caption, √(1−A)·values]`, and the `A`
/// used. `captions_emb` rows must be unit vectors (the caption block is not copied here).
/// The block joins two parts, each centred and of unit length: the caption's kinds
/// ([`super::kinds::Kinds::bag`], weight [`KINDS_SHARE`]) when there are any, and its bag of
/// relevant terms in the coordinates of their span (see [`ValueSpace`]; a caption without
/// relevant terms uses its own projection on that span). `exclude` rows (encoder space) are
/// removed from both. `k` and `seed` serve [`CaptionWeight::Agreement`], whose
/// criterion-free half may come precomputed (`caption_half`, made with the same `k` and
/// `seed`). Rows of the result have length √(1−A), except rows whose centred values are zero.
#[allow(clippy::too_many_arguments)]
pub fn condition(
    captions_emb: ArrayView2<f32>,
    vocab: &Vocabulary,
    weights: &[f32],
    kinds: Option<&super::kinds::Kinds>,
    p: &ValuesParams,
    exclude: Option<ArrayView2<f32>>,
    k: Option<usize>,
    seed: u64,
    caption_half: Option<&CaptionPartition>,
) -> ValuesBlock {
    use rayon::prelude::*;
    let n = captions_emb.nrows();
    let space = ValueSpace::new(vocab, weights, n);
    let parts = Parts::new(&space, kinds, captions_emb, &vocab.occurrences);
    let r = parts.width();
    let mut out = Array2::<f32>::zeros((n, r));
    if n == 0 || space.width() == 0 {
        return ValuesBlock { rows: out, caption_weight: 1.0, kinds_coverage: None, nonzero: n == 0 };
    }
    let data = out.as_slice_mut().expect("fresh standard-layout array");
    let sum = data
        .par_chunks_mut(ROW_CHUNK * r)
        .enumerate()
        .map(|(c, block)| {
            let mut sum = vec![0f32; r];
            for (j, row) in block.chunks_mut(r).enumerate() {
                let i = c * ROW_CHUNK + j;
                parts.raw(&vocab.occurrences[i], parts.nearest_of(i), captions_emb.row(i), row);
                sum.iter_mut().zip(row.iter()).for_each(|(s, x)| *s += x);
            }
            sum
        })
        .reduce(
            || vec![0f32; r],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mean: Vec<f32> = sum.into_iter().map(|s| s / n as f32).collect();
    let removed = exclude.map(|d| parts.excluded_bases(d));
    // Centring removes what all captions share (the criterion's common direction), which
    // otherwise dominates cosine similarity between bags.
    let finish = |row: &mut [f32], scale: f32| parts.finish(row, &mean, removed.as_ref(), scale);
    let a = match p.caption_weight {
        CaptionWeight::Fixed(a) => a,
        // Measured on finished copies of a sample's rows, so that the whole block is
        // finished (and scaled by the weight) in one pass.
        CaptionWeight::Agreement => {
            let own;
            let half = match caption_half {
                Some(h) => h,
                None => {
                    own = CaptionPartition::new(captions_emb, k, seed);
                    &own
                }
            };
            half.agreement(out.view(), seed, |row| finish(row, 1.0))
        }
    }
    .clamp(0.0, 1.0);
    let kinds_coverage = parts.kinds_coverage();
    let wb = (1.0 - a).sqrt();
    let zero_rows: usize = out
        .as_slice_mut()
        .expect("fresh standard-layout array")
        .par_chunks_mut(r)
        .map(|row| usize::from(!finish(row, wb)))
        .sum();
    ValuesBlock { rows: out, caption_weight: a, kinds_coverage, nonzero: zero_rows == 0 }
}

/// The two parts of a values row: `[kinds | relevant terms]`, the kinds' columns first
/// (none without kinds).
pub(super) struct Parts<'a> {
    space: &'a ValueSpace,
    kinds: Option<&'a super::kinds::Kinds>,
    /// Per caption, the kind standing in when it mentions none ([`super::kinds::Kinds::nearest`]).
    nearest: Vec<u32>,
}

impl<'a> Parts<'a> {
    /// `occurrences[i]`: the vocabulary ids caption `i` (row `i` of `captions`) mentions.
    pub(super) fn new(
        space: &'a ValueSpace,
        kinds: Option<&'a super::kinds::Kinds>,
        captions: ArrayView2<f32>,
        occurrences: &[Vec<u32>],
    ) -> Self {
        let kinds = kinds.filter(|k| k.width() > 0);
        let nearest = kinds.map_or_else(Vec::new, |k| k.nearest(captions, occurrences));
        Self { space, kinds, nearest }
    }

    pub(super) fn nearest_of(&self, i: usize) -> u32 {
        self.nearest.get(i).copied().unwrap_or(u32::MAX)
    }

    /// The share of the captions that name one of the criterion's kinds (no stand-in kind);
    /// `None` without kinds or captions.
    fn kinds_coverage(&self) -> Option<f32> {
        if self.kinds.is_none() || self.nearest.is_empty() {
            return None;
        }
        let named = self.nearest.iter().filter(|&&k| k == u32::MAX).count();
        Some(named as f32 / self.nearest.len() as f32)
    }

    fn kinds_width(&self) -> usize {
        self.kinds.map_or(0, |k| k.width())
    }

    pub(super) fn width(&self) -> usize {
        self.kinds_width() + self.space.width()
    }

    /// A caption's two raw parts, each normalised: `occurrences` are the terms it mentions,
    /// `nearest` its stand-in kind ([`Parts::nearest_of`]).
    pub(super) fn raw(&self, occurrences: &[u32], nearest: u32, caption: ndarray::ArrayView1<f32>, row: &mut [f32]) {
        let (kinds_part, terms_part) = row.split_at_mut(self.kinds_width());
        if let Some(k) = self.kinds {
            k.bag(occurrences, nearest, kinds_part);
            normalize(kinds_part);
        }
        let mut any = false;
        for &t in occurrences {
            let s = self.space.slot[t as usize];
            if s != u32::MAX {
                let c = self.space.coords.row(s as usize);
                let c = c.as_slice().expect("row of a standard-layout array");
                terms_part.iter_mut().zip(c).for_each(|(o, x)| *o += x);
                any = true;
            }
        }
        if !any {
            // Nothing criterion-relevant in this caption: its own projection stands in.
            self.space.project(caption, terms_part);
        }
        normalize(terms_part);
    }

    /// Excluded directions as orthonormal coordinates of each part's span.
    fn excluded_bases(&self, dirs: ArrayView2<f32>) -> (Option<Array2<f32>>, Array2<f32>) {
        let in_span = |width: usize, project: &dyn Fn(ndarray::ArrayView1<f32>, &mut [f32])| {
            let mut coords = Array2::<f32>::zeros((dirs.nrows(), width));
            for (d, mut o) in dirs.rows().into_iter().zip(coords.axis_iter_mut(Axis(0))) {
                project(d, o.as_slice_mut().expect("row of a standard-layout array"));
            }
            crate::cluster::orthonormal_rows(coords.view(), 1e-4)
        };
        let kinds = self.kinds.map(|k| in_span(k.width(), &|d, o| k.project(d, o)));
        (kinds, in_span(self.space.width(), &|d, o| self.space.project(d, o)))
    }

    /// Centres each part, removes the excluded directions, scales each to unit length and
    /// its share, and the row by `scale`. False when the row is (numerically) zero.
    pub(super) fn finish(
        &self,
        row: &mut [f32],
        mean: &[f32],
        removed: Option<&(Option<Array2<f32>>, Array2<f32>)>,
        scale: f32,
    ) -> bool {
        row.iter_mut().zip(mean).for_each(|(x, m)| *x -= m);
        let (kinds_part, terms_part) = row.split_at_mut(self.kinds_width());
        let drop = |part: &mut [f32], basis: Option<&Array2<f32>>| {
            for b in basis.into_iter().flat_map(|b| b.rows()) {
                let b = b.as_slice().expect("row of a standard-layout array");
                let proj: f32 = part.iter().zip(b).map(|(x, y)| x * y).sum();
                part.iter_mut().zip(b).for_each(|(x, y)| *x -= proj * y);
            }
        };
        drop(kinds_part, removed.and_then(|r| r.0.as_ref()));
        drop(terms_part, removed.map(|r| &r.1));
        let terms_nonzero = normalize(terms_part);
        let (kinds_w, terms_w) = match self.kinds {
            Some(_) => (KINDS_SHARE.sqrt() * scale, (1.0 - KINDS_SHARE).sqrt() * scale),
            None => (0.0, scale),
        };
        let kinds_nonzero = normalize(kinds_part) || self.kinds.is_none();
        kinds_part.iter_mut().for_each(|x| *x *= kinds_w);
        terms_part.iter_mut().for_each(|x| *x *= terms_w);
        terms_nonzero && kinds_nonzero
    }
}

/// The criterion-free half of [`CaptionWeight::Agreement`]: a seeded sample of rows and their
/// coarse k-means partition by the captions alone. It needs no criterion, so a query can
/// compute it while the criterion is still being embedded.
#[derive(Debug, Clone)]
pub struct CaptionPartition {
    rows: Vec<usize>,
    k: usize,
    /// `None` when the captions could not be clustered.
    labels: Option<Vec<usize>>,
}

impl CaptionPartition {
    /// `captions` must be unit rows; `k` and `seed` as the query's.
    pub fn new(captions: ArrayView2<f32>, k: Option<usize>, seed: u64) -> Self {
        let (rows, k) = Self::sample(captions.nrows(), k, seed);
        let labels = coarse_partition_of(captions, &rows, k, seed);
        Self { rows, k, labels }
    }

    /// [`CaptionPartition::new`] from the sampled rows alone: `rows` from
    /// [`CaptionPartition::sample`] of an `n`-row input, `sampled` their captions (unit rows,
    /// in that order).
    pub(super) fn of_sampled(rows: Vec<usize>, k: usize, sampled: ArrayView2<f32>, seed: u64) -> Self {
        let labels = (k >= 2).then(|| coarse_partition(sampled.to_owned(), k, seed)).flatten();
        Self { rows, k, labels }
    }

    /// [`CaptionPartition::new`], kept in `dir` (the index's cache folder) for the next query
    /// with the same K and seed: a query by another criterion over the same captions needs the
    /// same partition (~6 ms of CPU time in a 10k-caption query, on the critical path beside
    /// the criterion's embedding). The key is a hash of the
    /// sampled rows themselves with K and the seed, so a changed index never reads a stale
    /// entry; an unreadable or unwritable cache only means computing it again.
    pub fn cached(captions: ArrayView2<f32>, k: Option<usize>, seed: u64, dir: Option<&std::path::Path>) -> Self {
        let Some(dir) = dir else { return Self::new(captions, k, seed) };
        let (rows, k) = Self::sample(captions.nrows(), k, seed);
        let key = format!("{:016x}", sample_fingerprint(captions, &rows, k, seed));
        let derived = dir.join("derived");
        let path = derived.join(PARTITION_CACHE_FILE);
        let mut cache: std::collections::BTreeMap<String, Vec<usize>> =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if let Some(labels) = cache.get(&key).filter(|l| l.len() == rows.len() && l.iter().all(|&c| c < k)) {
            return Self { rows, k, labels: Some(labels.clone()) };
        }
        let labels = coarse_partition_of(captions, &rows, k, seed);
        if let Some(l) = &labels {
            while cache.len() >= PARTITION_CACHE_ENTRIES {
                cache.pop_first();
            }
            cache.insert(key, l.clone());
            // An unwritable cache only means computing the partition again next time.
            if std::fs::create_dir_all(&derived).is_ok() {
                if let Ok(bytes) = serde_json::to_vec(&cache) {
                    let _ = crate::util::fs::write_atomic(&path, &bytes);
                }
            }
        }
        Self { rows, k, labels }
    }

    /// The sampled rows and the K they are partitioned into.
    pub(super) fn sample(n: usize, k: Option<usize>, seed: u64) -> (Vec<usize>, usize) {
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(seed ^ 0x5eed_a9ee);
        let rows = crate::cluster::sample_indices(n, AGREEMENT_SAMPLE, &mut rng);
        let k = k.unwrap_or(AGREEMENT_DEFAULT_K).min(rows.len() / 2);
        (rows, k)
    }

    /// [`caption_weight_of`] the NMI between this partition and the values' partition of the
    /// same rows, each sampled value row passed through `finish` first; half the cap when
    /// either cannot be clustered.
    fn agreement(&self, values: ArrayView2<f32>, seed: u64, finish: impl Fn(&mut [f32]) -> bool) -> f32 {
        self.agreement_of_sampled(values.select(Axis(0), &self.rows), seed, finish)
    }

    /// [`CaptionPartition::agreement`] given the raw value rows of the sampled rows only, in
    /// their order.
    pub(super) fn agreement_of_sampled(
        &self,
        mut value_rows: Array2<f32>,
        seed: u64,
        finish: impl Fn(&mut [f32]) -> bool,
    ) -> f32 {
        let Some(by_captions) = &self.labels else { return 0.5 };
        for mut r in value_rows.rows_mut() {
            finish(r.as_slice_mut().expect("row of a fresh array"));
        }
        match coarse_partition(value_rows, self.k, seed) {
            Some(by_values) => caption_weight_of(crate::eval::nmi(by_captions, &by_values) as f32),
            None => CAPTION_WEIGHT_CAP / 2.0,
        }
    }
}

/// The caption weight at which the two views' agreement (NMI) reaches [`NMI_FULL_AGREEMENT`]:
/// at most this, so that the values keep a tenth of the weight however much the views
/// agree. At 1.0, PPMI-7 (captions written for the instrument) fell to ACC 0.81; at 0.8, ten
/// object classes of Stanford-40's location captions lost 0.07.
pub const CAPTION_WEIGHT_CAP: f32 = 0.9;
/// Views that agree this much (NMI) or more give the captions [`CAPTION_WEIGHT_CAP`]; less
/// agreement gives them proportionally less, down to 0 where the views are unrelated (the
/// captions were written for something else, and the values decide). Fashion product names'
/// mean NMI over seven criteria moved by ≤ 0.02 between 0.4 and 0.6.
pub const NMI_FULL_AGREEMENT: f32 = 0.5;

/// The caption weight `A` for views that agree with this NMI.
pub fn caption_weight_of(nmi: f32) -> f32 {
    (nmi.max(0.0) / NMI_FULL_AGREEMENT).min(CAPTION_WEIGHT_CAP)
}

/// k-means restarts of each view's partition on the sample: a query's default, so that each
/// partition is its view's best rather than a seed's. With 3, the caption weight of
/// Stanford-40's guitar and violin location captions by "musical instrument" (K = 2) ranged
/// 0.47–0.90 over five seeds and ACC 0.82–0.90; with 20, 0.47–0.65 and 0.894–0.898
/// (`notebooks/carry_over.md`).
const AGREEMENT_RESTARTS: usize = crate::cluster::QUERY_RESTARTS;

/// Cached caption partitions, in the index's `derived/` folder (beside the vocabulary).
const PARTITION_CACHE_FILE: &str = "caption-partitions.json";
/// Entries kept (a few KB each); beyond, the oldest keys by order go first.
const PARTITION_CACHE_ENTRIES: usize = 32;

/// FNV-1a over the sampled rows' bits, their indices, K and the seed: everything the
/// partition is a function of.
fn sample_fingerprint(captions: ArrayView2<f32>, rows: &[usize], k: usize, seed: u64) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| h = (h ^ v).wrapping_mul(PRIME);
    eat(captions.nrows() as u64);
    eat(captions.ncols() as u64);
    eat(k as u64);
    eat(seed);
    eat(AGREEMENT_RESTARTS as u64);
    for &i in rows {
        eat(i as u64);
        for &x in captions.row(i) {
            eat(u64::from(x.to_bits()));
        }
    }
    h
}

/// The coarse partition of `rows` of `captions` into `k` clusters (none below 2).
fn coarse_partition_of(captions: ArrayView2<f32>, rows: &[usize], k: usize, seed: u64) -> Option<Vec<usize>> {
    (k >= 2).then(|| coarse_partition(captions.select(Axis(0), rows), k, seed)).flatten()
}

fn coarse_partition(sample: Array2<f32>, k: usize, seed: u64) -> Option<Vec<usize>> {
    use crate::cluster::{coarse_kmeans, ClusterParams, Method};
    let params = ClusterParams::new(Method::KMeans)
        .with_k(Some(k))
        .with_seed(seed)
        .with_n_runs(AGREEMENT_RESTARTS)
        .check()
        .ok()?;
    coarse_kmeans(sample.view(), &params).ok()
}

/// Scales `v` to unit length; false (and `v` unchanged) when it is (numerically) zero.
fn normalize(v: &mut [f32]) -> bool {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 1e-12 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    n > 1e-12
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
            axis_terms: 4,
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
        let p = ValuesParams { caption_weight: CaptionWeight::Fixed(0.5), ..p };
        let ValuesBlock { rows: x, caption_weight: a, nonzero, .. } =
            condition(caps.view(), &v, &w, None, &p, None, None, 0, None);
        assert!(nonzero);
        assert_eq!(a, 0.5);
        let bag = |i: usize| x.row(i).to_owned() / 0.5f32.sqrt();
        assert!(bag(0).dot(&bag(2)) > 0.4, "both trumpet");
        assert!(bag(0).dot(&bag(1)) < 0.0, "trumpet vs violin");
        for r in x.rows() {
            assert!((r.dot(&r) - 0.5).abs() < 1e-4, "values rows have length √(1 − A)");
        }
    }

    #[test]
    fn captions_whose_values_are_the_mean_are_reported() {
        // Both captions hold the same relevant term: their bags equal the mean, and centring
        // leaves nothing.
        let v = Vocabulary { occurrences: vec![vec![0, 2], vec![0, 2]], ..vocab() };
        let q = Array1::from(vec![1.0f32, 0.0]);
        let p = ValuesParams { caption_weight: CaptionWeight::Fixed(0.5), ..ValuesParams::default() };
        let w = term_weights(&v, &q, "instrument", 2, &p);
        let caps = array![[1.0f32, 0.0], [1.0, 0.0]];
        let ValuesBlock { rows: x, nonzero, .. } = condition(caps.view(), &v, &w, None, &p, None, None, 0, None);
        assert!(!nonzero);
        assert!(x.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn compression_keeps_the_directions_many_captions_vary_along() {
        // Three relevant terms along the axes; the third occurs in one caption only.
        let v = Vocabulary {
            terms: vec!["a".into(), "b".into(), "c".into()],
            df: vec![100, 100, 1],
            axis_terms: 3,
            embeddings: array![[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            occurrences: vec![],
        };
        let w = [1.0f32, 1.0, 1.0];
        let mut s = ValueSpace::full(&v, &w);
        assert_eq!(s.width(), 3);
        s.compress(&v, 2);
        assert_eq!(s.width(), 2);
        let norm = |t: usize| s.coords.row(s.slot[t] as usize).dot(&s.coords.row(s.slot[t] as usize)).sqrt();
        assert!((norm(0) - 1.0).abs() < 1e-5 && (norm(1) - 1.0).abs() < 1e-5, "frequent terms kept whole");
        assert!(norm(2) < 1e-3, "the rare direction is dropped");
        // Projection of encoder-space vectors goes through the same directions.
        let mut out = [0f32; 2];
        s.project(ndarray::ArrayView1::from(&[3.0f32, 4.0, 5.0]), &mut out);
        assert!((out[0] * out[0] + out[1] * out[1] - 25.0).abs() < 1e-3);
    }

    #[test]
    fn caption_partitions_are_cached_by_what_they_depend_on() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(5);
        // 1,200 unit rows around three directions.
        let mut x =
            Array2::from_shape_fn((1200, 8), |(i, j)| if j == i % 3 { 3.0 } else { 0.0 } + rng.gen_range(-0.5f32..0.5));
        for mut r in x.rows_mut() {
            let n = r.dot(&r).sqrt();
            r /= n;
        }
        let dir = tempfile::tempdir().unwrap();
        let fresh = CaptionPartition::new(x.view(), Some(3), 7);
        let first = CaptionPartition::cached(x.view(), Some(3), 7, Some(dir.path()));
        assert_eq!((&first.rows, first.k, &first.labels), (&fresh.rows, fresh.k, &fresh.labels));
        let path = dir.path().join("derived").join(PARTITION_CACHE_FILE);
        // The second query reads the file: an edited entry comes back as written.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cache: std::collections::BTreeMap<String, Vec<usize>> = serde_json::from_str(&text).unwrap();
        assert_eq!(cache.len(), 1);
        cache.values_mut().for_each(|l| l.iter_mut().for_each(|c| *c = 0));
        std::fs::write(&path, serde_json::to_vec(&cache).unwrap()).unwrap();
        let read = CaptionPartition::cached(x.view(), Some(3), 7, Some(dir.path()));
        assert!(read.labels.unwrap().iter().all(|&c| c == 0));
        // Other K, other seed, or a changed sampled row: computed afresh.
        let other_k = CaptionPartition::cached(x.view(), Some(2), 7, Some(dir.path()));
        assert_eq!(other_k.labels, CaptionPartition::new(x.view(), Some(2), 7).labels);
        let other_seed = CaptionPartition::cached(x.view(), Some(3), 8, Some(dir.path()));
        assert_eq!(other_seed.labels, CaptionPartition::new(x.view(), Some(3), 8).labels);
        x.row_mut(fresh.rows[0]).mapv_inplace(|v| -v);
        let changed = CaptionPartition::cached(x.view(), Some(3), 7, Some(dir.path()));
        assert_eq!(changed.labels, CaptionPartition::new(x.view(), Some(3), 7).labels);
        assert!(changed.labels.unwrap().iter().any(|&c| c != 0));
        // A damaged cache is recomputed over.
        std::fs::write(&path, b"{not json").unwrap();
        let again = CaptionPartition::cached(x.view(), Some(3), 7, Some(dir.path()));
        assert_eq!(again.labels, CaptionPartition::new(x.view(), Some(3), 7).labels);
        assert!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).is_ok(), "rewritten");
    }

    #[test]
    fn thresholds() {
        let s = [0.0f32, 0.1, 0.2, 0.3, 0.4];
        assert!((threshold(&s, Threshold::StdMultiple(1.0)) - 0.141_421).abs() < 1e-4);
        assert_eq!(threshold(&s, Threshold::Quantile(1.0)), 0.4);
        assert!((threshold(&s, Threshold::BelowMax(0.1)) - 0.3).abs() < 1e-6);
    }
}
