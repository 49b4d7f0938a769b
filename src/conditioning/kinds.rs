//! The criterion's kinds: the few mined words that name kinds of the criterion ("flute",
//! "violin" for "musical instrument"; "red", "blue" for "colour"), as opposed to words merely
//! near it ("musician", "music store") or generic ones.
//!
//! - Candidates are the vocabulary's single-word axis terms that share no stem with the
//!   criterion's own words (a criterion's derivations, "music" and "musician" for "musical",
//!   are its category words, not its kinds).
//! - They are scored by cosine to the criterion; those above the candidates' mean by one
//!   standard deviation are kept, weighed by their excess score times idf.
//! - Kinds exclude one another: a caption that names a flute seldom names a cello too, while a
//!   generic word ("stage", "musician") is named beside every kind. A kept word that co-occurs
//!   at least half as often as chance with most of the other kinds (by caption count) is
//!   dropped. Words too rare to be tested are kept.
//! - Each kind is embedded in the criterion's template, "the musical instrument flute": the
//!   template makes the encoder compare kinds as kinds of the criterion, which is what groups
//!   flute with trumpet and apart from violin.
//! - A caption's kind vector is the weighted sum of the kinds it mentions, the n-th mentioned
//!   counting `MENTION_DECAY^n` (the first is usually the subject); a caption that mentions
//!   none takes the kind whose word is nearest to the caption.
//!
//! Measured in `notebooks/carry_over.md` with the constants below on captions written for the
//! criterion (IC|TC's sets), product names (seven criteria) and captions written for another
//! criterion (Stanford-40 location captions, by action).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use super::vocab::Vocabulary;
use crate::naming::text::{singularize, tokenize};
use crate::naming::StopWords;

/// Kinds score above the candidates' mean by this many standard deviations. At 0.75 the
/// fashion criteria lost most ("gender" NMI 0.63 → 0.47); at 1.25 they lost a little.
pub const KIND_Z: f32 = 1.0;
/// Two kinds can be tested for exclusion when chance predicts at least this many captions
/// naming both.
pub const MIN_EXPECTED_CO_MENTIONS: f64 = 5.0;
/// A testable pair excludes each other when it co-occurs at most this share as often as chance.
pub const EXCLUSIVE_RATIO: f64 = 0.5;
/// A kind is kept when it excludes at least this share of its testable partners (weighed by
/// their caption counts).
pub const MIN_EXCLUSIVE_SHARE: f64 = 0.4;
/// Weight of the n-th kind a caption mentions: `MENTION_DECAY^n`. Flat from 0.25 to 0.75;
/// without decay (every mention alike) the wind/string grouping of instruments was lost.
pub const MENTION_DECAY: f32 = 0.5;
/// At most this many kinds (the heaviest) are embedded per query: each is one phrase for the
/// encoder. The measured criteria had 8 to 44.
pub const MAX_KINDS: usize = 64;

/// The phrase a kind is embedded in.
pub fn template(criterion: &str, kind: &str) -> String {
    format!("the {} {kind}", criterion.trim())
}

/// Whether a term shares a stem with one of the criterion's words: a common prefix of five
/// letters, or one word is a prefix of the other.
fn shares_stem(term: &str, criterion_words: &[String]) -> bool {
    term.split(' ').any(|w| {
        criterion_words.iter().any(|c| {
            let common = w.chars().zip(c.chars()).take_while(|(a, b)| a == b).count();
            common >= 5 || common == w.chars().count().min(c.chars().count())
        })
    })
}

/// The criterion's kinds among the vocabulary's axis terms, heaviest first, with their weights.
pub fn select(vocab: &Vocabulary, query: &Array1<f32>, criterion: &str, n_docs: usize) -> Vec<(usize, f32)> {
    let stop = StopWords::english();
    let words: Vec<String> =
        tokenize(criterion).into_iter().filter(|w| !stop.contains(w)).map(|w| singularize(&w).into_owned()).collect();
    let axis = vocab.axis_terms.min(vocab.len());
    let candidates: Vec<usize> =
        (0..axis).filter(|&t| !vocab.terms[t].contains(' ') && !shares_stem(&vocab.terms[t], &words)).collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let scores: Vec<f32> = candidates.iter().map(|&t| vocab.embeddings.row(t).dot(query)).collect();
    let n = scores.len() as f32;
    let mean = scores.iter().sum::<f32>() / n;
    let sd = (scores.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n).sqrt();
    let tau = mean + KIND_Z * sd;
    let mut kept: Vec<(usize, f32)> = candidates
        .iter()
        .zip(&scores)
        .filter(|(_, &s)| s > tau)
        .map(|(&t, &s)| (t, (s - tau) * (n_docs as f32 / vocab.df[t].max(1) as f32).ln().max(0.0)))
        .filter(|&(_, w)| w > 0.0)
        .collect();
    kept = exclusive(vocab, kept, n_docs);
    kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(MAX_KINDS);
    kept
}

/// Drops kept words that most other kinds do not exclude (see the module docs).
fn exclusive(vocab: &Vocabulary, kept: Vec<(usize, f32)>, n_docs: usize) -> Vec<(usize, f32)> {
    let m = kept.len();
    if m < 2 {
        return kept;
    }
    let mut slot = std::collections::HashMap::with_capacity(m);
    for (j, &(t, _)) in kept.iter().enumerate() {
        slot.insert(t as u32, j);
    }
    let mut together = vec![0u32; m * m];
    let mut mentioned = Vec::new();
    for occ in &vocab.occurrences {
        mentioned.clear();
        mentioned.extend(occ.iter().filter_map(|t| slot.get(t).copied()));
        for (a, &i) in mentioned.iter().enumerate() {
            for &j in &mentioned[a + 1..] {
                together[i * m + j] += 1;
                together[j * m + i] += 1;
            }
        }
    }
    let df: Vec<f64> = kept.iter().map(|&(t, _)| f64::from(vocab.df[t])).collect();
    let n = n_docs.max(1) as f64;
    (0..m)
        .filter(|&i| {
            let (mut tested, mut excluded) = (0.0, 0.0);
            for j in (0..m).filter(|&j| j != i) {
                let expected = df[i] * df[j] / n;
                if expected >= MIN_EXPECTED_CO_MENTIONS {
                    tested += df[j];
                    if f64::from(together[i * m + j]) <= EXCLUSIVE_RATIO * expected {
                        excluded += df[j];
                    }
                }
            }
            tested == 0.0 || excluded / tested >= MIN_EXCLUSIVE_SHARE
        })
        .map(|i| kept[i])
        .collect()
}

/// The kinds' templated embeddings written in an orthonormal basis of their span, so that a
/// caption's kind vector takes as many columns as there are kinds, not the encoder's width.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Kinds {
    /// Vocabulary ids of the kinds, heaviest first, and their weights.
    pub terms: Vec<usize>,
    pub weights: Vec<f32>,
    /// Per vocabulary term, its row in `coords`, or `u32::MAX`.
    slot: Vec<u32>,
    /// `kinds × r`: each kind's templated embedding, centred by the kinds' caption mass and
    /// scaled to unit length, in `basis` coordinates.
    coords: Array2<f32>,
    /// `r × dim` orthonormal rows.
    basis: Array2<f32>,
    /// The kinds' bare term embeddings (`kinds × dim`): a caption that mentions no kind takes
    /// the kind whose word is nearest to it.
    bare: Array2<f32>,
}

impl Kinds {
    /// `selected` from [`select`]; `templated` the embeddings of their [`template`] phrases.
    pub fn new(vocab: &Vocabulary, selected: &[(usize, f32)], templated: ArrayView2<f32>) -> Self {
        let terms: Vec<usize> = selected.iter().map(|s| s.0).collect();
        let weights: Vec<f32> = selected.iter().map(|s| s.1).collect();
        let mut slot = vec![u32::MAX; vocab.len()];
        for (j, &t) in terms.iter().enumerate() {
            slot[t] = j as u32;
        }
        let mass: Vec<f32> = terms.iter().zip(&weights).map(|(&t, &w)| w * vocab.df[t] as f32).collect();
        let total = mass.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        let mut centred = templated.to_owned();
        let mean = mass
            .iter()
            .zip(templated.rows())
            .fold(Array1::<f32>::zeros(templated.ncols()), |acc, (&m, r)| acc + &r.mapv(|x| x * m / total));
        for mut r in centred.rows_mut() {
            r -= &mean;
            let norm = r.dot(&r).sqrt();
            if norm > 0.0 {
                r /= norm;
            }
        }
        let basis = crate::cluster::orthonormal_rows(centred.view(), 1e-4);
        let coords = centred.dot(&basis.t());
        let bare = vocab.embeddings.select(Axis(0), &terms);
        Self { terms, weights, slot, coords, basis, bare }
    }

    pub fn width(&self) -> usize {
        self.coords.ncols()
    }

    /// Per caption, the kind whose word is nearest to it, for the captions that mention no
    /// kind (`u32::MAX` for the others). One matrix product per block of captions.
    pub fn nearest(&self, captions: ArrayView2<f32>, occurrences: &[Vec<u32>]) -> Vec<u32> {
        use rayon::prelude::*;
        const BLOCK: usize = 1024;
        let mentions = |i: usize| occurrences[i].iter().any(|&t| self.slot[t as usize] != u32::MAX);
        (0..captions.nrows())
            .into_par_iter()
            .chunks(BLOCK)
            .flat_map_iter(|rows| {
                let lacking: Vec<usize> = rows.iter().copied().filter(|&i| !mentions(i)).collect();
                let scores = captions.select(Axis(0), &lacking).dot(&self.bare.t());
                let mut out = vec![u32::MAX; rows.len()];
                for (s, &i) in scores.rows().into_iter().zip(&lacking) {
                    let best = s.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |b| b.0);
                    out[i - rows[0]] = best as u32;
                }
                out
            })
            .collect()
    }

    /// A caption's raw kind vector (not yet centred or normalised) into `out`: its kinds in
    /// mention order, or `nearest` (from [`Kinds::nearest`]) when it mentions none.
    pub fn bag(&self, occurrences: &[u32], nearest: u32, out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let mut scale = 1.0;
        for &t in occurrences {
            let s = self.slot[t as usize];
            if s != u32::MAX {
                let w = self.weights[s as usize] * scale;
                out.iter_mut().zip(self.coords.row(s as usize)).for_each(|(o, &x)| *o += w * x);
                scale *= MENTION_DECAY;
            }
        }
        if scale == 1.0 && nearest != u32::MAX {
            out.iter_mut().zip(self.coords.row(nearest as usize)).for_each(|(o, &x)| *o = x);
        }
    }

    /// Coordinates of an encoder-space vector (its projection on the kinds' span).
    pub fn project(&self, v: ArrayView1<f32>, out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(self.basis.rows()) {
            *o = row.dot(&v);
        }
    }

    /// The kinds' words, heaviest first.
    pub fn words<'v>(&self, vocab: &'v Vocabulary) -> Vec<&'v str> {
        self.terms.iter().map(|&t| vocab.terms[t].as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Five terms in 3-d: three kinds of instrument along the query's side, one generic word
    /// near them, and one far away.
    fn vocab(occurrences: Vec<Vec<u32>>) -> Vocabulary {
        let n = occurrences.len() as u32;
        let mut df = vec![0u32; 6];
        for o in &occurrences {
            for &t in o {
                df[t as usize] += 1;
            }
        }
        let _ = n;
        Vocabulary {
            terms: ["cello", "flute", "music hall", "musician", "trumpet", "street"].map(String::from).to_vec(),
            df,
            axis_terms: 6,
            embeddings: array![
                [0.9, 0.4, 0.1],
                [0.9, -0.4, 0.1],
                [0.95, 0.0, 0.3],
                [0.95, 0.0, 0.3],
                [0.9, -0.35, 0.2],
                [0.0, 0.2, 1.0]
            ],
            occurrences,
        }
    }

    #[test]
    fn category_words_bigrams_and_words_named_beside_every_kind_are_not_kinds() {
        // Each caption names one instrument; "musician" is named in half of them, beside all.
        let mut occ = Vec::new();
        for i in 0..120u32 {
            let mut o = vec![[0u32, 1, 4][(i % 3) as usize]];
            if i % 2 == 0 {
                o.push(3);
            }
            if i % 7 == 0 {
                o.push(5);
            }
            occ.push(o);
        }
        let v = vocab(occ);
        let q = Array1::from(vec![1.0f32, 0.0, 0.2]);
        let q = &q / q.dot(&q).sqrt();
        let kinds = select(&v, &q, "musical instrument", 120);
        let words: Vec<&str> = kinds.iter().map(|k| v.terms[k.0].as_str()).collect();
        assert!(!words.contains(&"musician"), "shares a stem with 'musical': {words:?}");
        assert!(!words.contains(&"music hall"), "a bigram: {words:?}");
        assert!(!words.contains(&"street"), "far from the criterion: {words:?}");
        assert!(shares_stem("musician", &["musical".into()]) && !shares_stem("violin", &["musical".into()]));
    }

    #[test]
    fn a_word_named_beside_every_kind_is_dropped() {
        // "musician" (id 3) does not share a stem with "instrument": the co-mentions drop it.
        let mut occ = Vec::new();
        for i in 0..300u32 {
            let mut o = vec![[0u32, 1, 4][(i % 3) as usize]];
            if i % 2 == 0 {
                o.push(3);
            }
            occ.push(o);
        }
        let v = vocab(occ);
        let kept = vec![(0usize, 1.0f32), (1, 1.0), (3, 1.0), (4, 1.0)];
        let words: Vec<&str> = exclusive(&v, kept, 300).iter().map(|k| v.terms[k.0].as_str()).collect();
        assert_eq!(words, ["cello", "flute", "trumpet"]);
    }

    #[test]
    fn bags_follow_mention_order_and_captions_without_kinds_take_the_nearest() {
        let v = vocab(vec![vec![0], vec![1]]);
        let selected = [(0usize, 1.0f32), (1, 1.0), (4, 1.0)];
        let templated = v.embeddings.select(Axis(0), &[0, 1, 4]);
        let k = Kinds::new(&v, &selected, templated.view());
        let r = k.width();
        let (mut a, mut b) = (vec![0f32; r], vec![0f32; r]);
        k.bag(&[0, 1], u32::MAX, &mut a);
        k.bag(&[1, 0], u32::MAX, &mut b);
        let cello = k.coords.row(0).to_vec();
        let cos = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        assert!(cos(&a, &cello) > cos(&b, &cello), "the first-mentioned kind leads");
        let captions = v.embeddings.select(Axis(0), &[0, 5]);
        let nearest = k.nearest(captions.view(), &[vec![5], vec![0]]);
        assert_eq!(nearest, [0, u32::MAX], "no kind named: the kind nearest to the caption");
        let mut c = vec![0f32; r];
        k.bag(&[5], nearest[0], &mut c);
        assert_eq!(c, cello);
    }
}
