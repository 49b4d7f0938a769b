//! Values conditioning split into the steps a distributed run spreads over machines
//! (`clusterby.ray assign --by CRITERION`): state made from the vocabulary and the criterion
//! alone, each part's sum of raw value rows (for the mean), the caption weight from the
//! agreement sample, then any part conditioned on its own. Run in that order they give the
//! rows [`super::condition`] gives, without any machine holding every caption embedding.
//! The state travels between machines as JSON ([`RowConditioner::to_bytes`]).

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::kinds::Kinds;
use super::values::{CaptionPartition, Parts, ValueSpace};
use super::{CriterionTerms, Vocabulary};

#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    #[error("{0} is not set yet: {1}")]
    NotYet(&'static str, &'static str),
    #[error("{what}: {got} rows, {want} expected")]
    Rows { what: &'static str, got: usize, want: usize },
    #[error("captions have {got} columns, the vocabulary's encoder makes {want}")]
    Dim { got: usize, want: usize },
    #[error("conditioning state: {0}")]
    State(String),
}

/// Everything needed to condition any caption of one index on one criterion.
#[derive(Serialize, Deserialize)]
pub struct RowConditioner {
    dim: usize,
    rows: usize,
    space: ValueSpace,
    kinds: Option<Kinds>,
    /// The mean raw value row over all captions, once [`RowConditioner::set_mean`] has run.
    mean: Option<Vec<f32>>,
    /// The caption block's weight `A`, once [`RowConditioner::set_caption_weight`] has run.
    caption_weight: Option<f32>,
}

impl RowConditioner {
    /// `terms` made over `vocab`, the vocabulary of the whole index.
    pub fn new(vocab: &Vocabulary, terms: CriterionTerms) -> Self {
        let rows = vocab.occurrences.len();
        let space = ValueSpace::new(vocab, &terms.weights, rows);
        let kinds = terms.kinds.filter(|k| k.width() > 0);
        Self { dim: vocab.embeddings.ncols(), rows, space, kinds, mean: None, caption_weight: None }
    }

    fn parts<'a>(&'a self, captions: ArrayView2<f32>, occurrences: &[Vec<u32>]) -> Result<Parts<'a>, StagedError> {
        if captions.ncols() != self.dim {
            return Err(StagedError::Dim { got: captions.ncols(), want: self.dim });
        }
        if occurrences.len() != captions.nrows() {
            return Err(StagedError::Rows { what: "occurrences", got: occurrences.len(), want: captions.nrows() });
        }
        Ok(Parts::new(&self.space, self.kinds.as_ref(), captions, occurrences))
    }

    /// No relevant term: [`super::values::condition`] then leaves the values block zero and
    /// gives the captions all the weight.
    fn no_values(&self) -> bool {
        self.space.width() == 0
    }

    /// Raw (not yet centred) value rows of `captions`, unit rows whose terms are `occurrences`.
    fn raw(&self, parts: &Parts<'_>, captions: ArrayView2<f32>, occurrences: &[Vec<u32>]) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((captions.nrows(), parts.width()));
        if self.no_values() {
            return out;
        }
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            let row = row.as_slice_mut().expect("row of a fresh array");
            parts.raw(&occurrences[i], parts.nearest_of(i), captions.row(i), row);
        }
        out
    }

    /// One part's share of the mean: the sum of its raw value rows.
    pub fn raw_sum(&self, captions: ArrayView2<f32>, occurrences: &[Vec<u32>]) -> Result<Vec<f32>, StagedError> {
        let parts = self.parts(captions, occurrences)?;
        Ok(self.raw(&parts, captions, occurrences).sum_axis(Axis(0)).to_vec())
    }

    /// The mean from every part's [`RowConditioner::raw_sum`], added up.
    pub fn set_mean(&mut self, sum: &[f32]) -> Result<(), StagedError> {
        let width = self.kinds.as_ref().map_or(0, Kinds::width) + self.space.width();
        if sum.len() != width {
            return Err(StagedError::Rows { what: "sum", got: sum.len(), want: width });
        }
        self.mean = Some(sum.iter().map(|s| s / self.rows.max(1) as f32).collect());
        Ok(())
    }

    /// The rows (ascending) the caption weight is measured on, and the K it partitions them into.
    pub fn agreement_rows(&self, k: Option<usize>, seed: u64) -> (Vec<usize>, usize) {
        CaptionPartition::sample(self.rows, k, seed)
    }

    /// Measures the caption weight on the rows of [`RowConditioner::agreement_rows`]: their
    /// captions and occurrences, in that order. Needs the mean.
    pub fn set_caption_weight(
        &mut self,
        captions: ArrayView2<f32>,
        occurrences: &[Vec<u32>],
        k: Option<usize>,
        seed: u64,
    ) -> Result<f32, StagedError> {
        let (rows, k) = self.agreement_rows(k, seed);
        if captions.nrows() != rows.len() {
            return Err(StagedError::Rows { what: "agreement sample", got: captions.nrows(), want: rows.len() });
        }
        let mean = self.mean.as_ref().ok_or(StagedError::NotYet("the mean", "add up every part's raw_sum"))?;
        let parts = self.parts(captions, occurrences)?;
        let raw = self.raw(&parts, captions, occurrences);
        let a = if self.no_values() {
            1.0
        } else {
            let partition = CaptionPartition::of_sampled(rows, k, captions, seed);
            partition.agreement_of_sampled(raw, seed, |row| parts.finish(row, mean, None, 1.0)).clamp(0.0, 1.0)
        };
        self.caption_weight = Some(a);
        Ok(a)
    }

    pub fn caption_weight(&self) -> Option<f32> {
        self.caption_weight
    }

    /// Conditioned rows `[√A·caption | √(1−A)·values]` of `captions` (unit rows), joined.
    /// Also says whether every row is a unit vector. Needs the mean and the caption weight.
    pub fn rows(
        &self,
        captions: ArrayView2<f32>,
        occurrences: &[Vec<u32>],
    ) -> Result<(Array2<f32>, bool), StagedError> {
        let mean = self.mean.as_ref().ok_or(StagedError::NotYet("the mean", "add up every part's raw_sum"))?;
        let a = self.caption_weight.ok_or(StagedError::NotYet("the caption weight", "call set_caption_weight"))?;
        let parts = self.parts(captions, occurrences)?;
        let (wa, wb) = (a.sqrt(), (1.0 - a).sqrt());
        // One row-major matrix, written row by row (k-means' nearest-centre kernel wants it so).
        let mut x = Array2::<f32>::zeros((captions.nrows(), self.dim + parts.width()));
        let mut all_nonzero = true;
        for (i, mut row) in x.axis_iter_mut(Axis(0)).enumerate() {
            let (left, right) = row.as_slice_mut().expect("row of a fresh array").split_at_mut(self.dim);
            left.iter_mut().zip(captions.row(i)).for_each(|(o, &c)| *o = wa * c);
            if self.no_values() {
                continue;
            }
            parts.raw(&occurrences[i], parts.nearest_of(i), captions.row(i), right);
            all_nonzero &= parts.finish(right, mean, None, wb);
        }
        Ok((x, a == 1.0 || all_nonzero))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain numbers and arrays serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StagedError> {
        serde_json::from_slice(bytes).map_err(|e| StagedError::State(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditioning::values::{self, CaptionPartition, ValuesParams};

    /// Captions of three groups, each mentioning one of three kinds of a criterion, plus a
    /// handful mentioning none.
    fn setup() -> (Vocabulary, Array2<f32>, CriterionTerms) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(7);
        let (n, dim, t) = (1_500, 16, 6);
        let unit = |v: Vec<f32>| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let terms: Vec<Vec<f32>> = (0..t).map(|_| unit((0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect())).collect();
        let mut emb = Vec::new();
        let mut occurrences = Vec::new();
        for i in 0..n {
            let g = i % 3;
            let mentions: Vec<u32> = if i % 50 == 0 { vec![] } else { vec![g as u32, (3 + (i / 3) % 3) as u32] };
            let v: Vec<f32> = (0..dim).map(|d| terms[g][d] + rng.gen_range(-1.2..1.2)).collect();
            emb.extend(unit(v));
            occurrences.push(mentions);
        }
        let captions = Array2::from_shape_vec((n, dim), emb).unwrap();
        let flat: Vec<f32> = terms.concat();
        let mut df = vec![0u32; t];
        occurrences.iter().flatten().for_each(|&x| df[x as usize] += 1);
        let vocab = Vocabulary {
            terms: (0..t).map(|i| format!("term{i}")).collect(),
            df,
            axis_terms: t,
            embeddings: Array2::from_shape_vec((t, dim), flat).unwrap(),
            occurrences,
        };
        let selected = vec![(0, 1.0), (1, 0.9), (2, 0.8)];
        let templated = vocab.embeddings.select(Axis(0), &[0, 1, 2]);
        let kinds = Some(Kinds::new(&vocab, &selected, templated.view()));
        let weights = vec![1.0, 0.9, 0.8, 0.3, 0.2, 0.0];
        let query = ndarray::Array1::from_elem(dim, 1.0 / (dim as f32).sqrt());
        (vocab, captions, CriterionTerms { query, kinds, selected, weights })
    }

    #[test]
    fn parts_conditioned_apart_give_the_rows_of_one_pass() {
        let (vocab, captions, terms) = setup();
        let (k, seed) = (Some(3), 42);
        let values::ValuesBlock { rows: whole, caption_weight: a, nonzero: unit, kinds_coverage } = values::condition(
            captions.view(),
            &vocab,
            &terms.weights,
            terms.kinds.as_ref(),
            &ValuesParams::default(),
            None,
            k,
            seed,
            Some(&CaptionPartition::new(captions.view(), k, seed)),
        );
        let mut staged = RowConditioner::from_bytes(&RowConditioner::new(&vocab, terms).to_bytes()).unwrap();
        let bounds = [0, 400, 401, 1_100, 1_500];
        let mut sum = vec![0f32; whole.ncols()];
        for w in bounds.windows(2) {
            let part = staged.raw_sum(captions.slice(ndarray::s![w[0]..w[1], ..]), &vocab.occurrences[w[0]..w[1]]);
            sum.iter_mut().zip(part.unwrap()).for_each(|(s, x)| *s += x);
        }
        assert!(matches!(staged.rows(captions.view(), &vocab.occurrences), Err(StagedError::NotYet(..))));
        staged.set_mean(&sum).unwrap();
        let (rows, _) = staged.agreement_rows(k, seed);
        let occ: Vec<Vec<u32>> = rows.iter().map(|&r| vocab.occurrences[r].clone()).collect();
        let got_a = staged.set_caption_weight(captions.select(Axis(0), &rows).view(), &occ, k, seed).unwrap();
        assert!((got_a - a).abs() < 1e-6, "caption weight {got_a} vs {a}");
        let named = (0..captions.nrows()).filter(|&i| vocab.occurrences[i].iter().any(|&t| t < 3)).count();
        assert_eq!(kinds_coverage, Some(named as f32 / captions.nrows() as f32), "the share naming a kind");
        // A measured weight, not a bound: the sample's partitions agree only in part.
        assert!(a > 0.0 && a < values::CAPTION_WEIGHT_CAP, "{a}");
        for w in bounds.windows(2) {
            let (x, part_unit) =
                staged.rows(captions.slice(ndarray::s![w[0]..w[1], ..]), &vocab.occurrences[w[0]..w[1]]).unwrap();
            assert_eq!(part_unit, unit);
            for (i, row) in x.rows().into_iter().enumerate() {
                let (left, right) = row.view().split_at(Axis(0), captions.ncols());
                let want_left = &captions.row(w[0] + i) * a.sqrt();
                assert!(left.iter().zip(&want_left).all(|(p, q)| (p - q).abs() < 1e-6));
                let want = whole.row(w[0] + i);
                assert!(right.iter().zip(want).all(|(p, q)| (p - q).abs() < 1e-5), "row {}", w[0] + i);
            }
        }
    }

    #[test]
    fn a_criterion_without_values_leaves_the_captions_alone_as_one_pass_does() {
        let (vocab, captions, mut terms) = setup();
        terms.kinds = None;
        terms.weights.iter_mut().for_each(|w| *w = 0.0);
        let values::ValuesBlock { rows: whole, caption_weight: a, .. } = values::condition(
            captions.view(),
            &vocab,
            &terms.weights,
            None,
            &ValuesParams::default(),
            None,
            Some(3),
            1,
            None,
        );
        let mut staged = RowConditioner::new(&vocab, terms);
        staged.set_mean(&staged.raw_sum(captions.view(), &vocab.occurrences).unwrap()).unwrap();
        let (rows, _) = staged.agreement_rows(Some(3), 1);
        let occ: Vec<Vec<u32>> = rows.iter().map(|&r| vocab.occurrences[r].clone()).collect();
        let got_a = staged.set_caption_weight(captions.select(Axis(0), &rows).view(), &occ, Some(3), 1).unwrap();
        assert_eq!((got_a, a), (1.0, 1.0));
        let (x, unit) = staged.rows(captions.view(), &vocab.occurrences).unwrap();
        assert_eq!(x.ncols(), captions.ncols() + whole.ncols());
        assert!(unit);
        assert_eq!(x.slice(ndarray::s![.., ..captions.ncols()]), captions);
    }

    #[test]
    fn each_misuse_has_its_own_error() {
        let (vocab, captions, terms) = setup();
        let mut staged = RowConditioner::new(&vocab, terms);
        let narrow = captions.slice(ndarray::s![..2, ..3]);
        assert!(matches!(staged.raw_sum(narrow, &vocab.occurrences[..2]), Err(StagedError::Dim { got: 3, .. })));
        let two = captions.slice(ndarray::s![..2, ..]);
        assert!(matches!(staged.raw_sum(two, &vocab.occurrences[..3]), Err(StagedError::Rows { .. })));
        assert!(matches!(staged.set_mean(&[0.0]), Err(StagedError::Rows { what: "sum", .. })));
        assert!(matches!(
            staged.set_caption_weight(two, &vocab.occurrences[..2], Some(3), 1),
            Err(StagedError::Rows { .. })
        ));
        assert!(matches!(RowConditioner::from_bytes(b"{}"), Err(StagedError::State(_))));
    }
}
