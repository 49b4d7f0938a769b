//! Feature rows as clustering sees them: one matrix, or two blocks joined side by side.
//!
//! Criterion conditioning joins the cached caption embeddings (scaled) with a narrower block
//! of criterion values. Copying the caption embeddings into one joined matrix would hold
//! them twice: at a million 384-d rows that is 1.5 GB more. [`Rows::Joined`] keeps the
//! caption block borrowed; the rows are materialised only for a seeded sample and one chunk
//! at a time.

use std::ops::Range;

use ndarray::{s, Array2, ArrayView1, ArrayView2, Axis, CowArray, Ix2};

use rayon::prelude::*;

/// Rows per parallel task in [`Rows::nearest`].
const NEAREST_CHUNK: usize = 1024;

/// Rows to cluster.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    Dense(ArrayView2<'a, f32>),
    /// Row `i` is `[left_scale · left[i] | right[i]]`.
    Joined {
        left: ArrayView2<'a, f32>,
        left_scale: f32,
        right: ArrayView2<'a, f32>,
    },
}

impl<'a> From<ArrayView2<'a, f32>> for Rows<'a> {
    fn from(x: ArrayView2<'a, f32>) -> Self {
        Rows::Dense(x)
    }
}

impl<'a> Rows<'a> {
    pub fn nrows(&self) -> usize {
        match self {
            Rows::Dense(x) => x.nrows(),
            Rows::Joined { left, .. } => left.nrows(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            Rows::Dense(x) => x.ncols(),
            Rows::Joined { left, right, .. } => left.ncols() + right.ncols(),
        }
    }

    /// The given rows as one matrix.
    pub fn select(&self, idx: &[usize]) -> Array2<f32> {
        match *self {
            Rows::Dense(x) => x.select(Axis(0), idx),
            Rows::Joined { left, left_scale, right } => {
                let (d, w) = (left.ncols(), self.ncols());
                let mut out = Array2::<f32>::zeros((idx.len(), w));
                if w > 0 {
                    let data = out.as_slice_mut().expect("fresh standard-layout array");
                    data.par_chunks_mut(w).zip(idx.par_iter()).for_each(|(row, &i)| {
                        let (l, r) = row.split_at_mut(d);
                        l.iter_mut().zip(left.row(i)).for_each(|(o, &v)| *o = left_scale * v);
                        r.iter_mut().zip(right.row(i)).for_each(|(o, &v)| *o = v);
                    });
                }
                out
            }
        }
    }

    /// A range of rows: borrowed when dense, materialised when joined.
    pub fn range(&self, r: Range<usize>) -> CowArray<'a, f32, Ix2> {
        match *self {
            Rows::Dense(x) => CowArray::from(x.slice_move(s![r, ..])),
            Rows::Joined { .. } => CowArray::from(self.select(&r.collect::<Vec<_>>())),
        }
    }

    /// All rows as one matrix (a copy when joined).
    pub fn to_dense(&self) -> CowArray<'a, f32, Ix2> {
        self.range(0..self.nrows())
    }

    /// `acc += row(i)`.
    pub fn add_row_to(&self, i: usize, acc: &mut [f32]) {
        match *self {
            Rows::Dense(x) => acc.iter_mut().zip(x.row(i)).for_each(|(a, v)| *a += v),
            Rows::Joined { left, left_scale, right } => {
                let (al, ar) = acc.split_at_mut(left.ncols());
                al.iter_mut().zip(left.row(i)).for_each(|(a, v)| *a += left_scale * v);
                ar.iter_mut().zip(right.row(i)).for_each(|(a, v)| *a += v);
            }
        }
    }

    /// Index of the nearest centroid (Euclidean) for every row, and `x·c − |c|²/2` for that
    /// centroid `c` (`(|x|² − |x − c|²) / 2`). Joined rows are never materialised (see
    /// [`Rows::map_centroid_scores`]).
    pub(crate) fn nearest_with_scores(&self, centroids: ArrayView2<f32>) -> (Vec<usize>, Vec<f32>) {
        let half_sq: ndarray::Array1<f32> = centroids.rows().into_iter().map(|c| 0.5 * c.dot(&c)).collect();
        self.map_centroid_scores(centroids, |_, scores| {
            let j = super::geometry::argmax_biased(scores, half_sq.view());
            (j, scores[j] - half_sq[j])
        })
        .into_iter()
        .unzip()
    }

    /// `f(i, row(i) · centroidsᵀ)` for every row, computed by blocks of rows with GEMMs
    /// (`x·c = s·left·c_left + right·c_right` for joined rows, which are never materialised).
    pub fn map_centroid_scores<T: Send>(
        &self,
        centroids: ArrayView2<f32>,
        f: impl Fn(usize, ArrayView1<f32>) -> T + Sync,
    ) -> Vec<T> {
        let (cl, cr) = match *self {
            Rows::Dense(_) => (centroids.to_owned(), None),
            Rows::Joined { left, left_scale, .. } => {
                let d = left.ncols();
                (centroids.slice(s![.., ..d]).mapv(|v| v * left_scale), Some(centroids.slice(s![.., d..])))
            }
        };
        let n = self.nrows();
        (0..n.div_ceil(NEAREST_CHUNK))
            .into_par_iter()
            .flat_map_iter(|ci| {
                let r = ci * NEAREST_CHUNK..((ci + 1) * NEAREST_CHUNK).min(n);
                let scores = match *self {
                    Rows::Dense(x) => x.slice(s![r.clone(), ..]).dot(&cl.t()),
                    Rows::Joined { left, right, .. } => {
                        let mut scores = left.slice(s![r.clone(), ..]).dot(&cl.t());
                        if let Some(cr) = cr {
                            ndarray::linalg::general_mat_mul(
                                1.0,
                                &right.slice(s![r.clone(), ..]),
                                &cr.t(),
                                1.0,
                                &mut scores,
                            );
                        }
                        scores
                    }
                };
                r.zip(scores.rows()).map(|(i, row)| f(i, row)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether every row's length is within `tol` of 1 (rows that need no normalising).
    pub(crate) fn all_unit(&self, tol: f32) -> bool {
        match *self {
            Rows::Dense(x) => (0..x.nrows()).into_par_iter().all(|i| {
                let r = x.row(i);
                (r.dot(&r).sqrt() - 1.0).abs() <= tol
            }),
            Rows::Joined { left, left_scale, right } => (0..left.nrows()).into_par_iter().all(|i| {
                let (l, r) = (left.row(i), right.row(i));
                let sq = left_scale * left_scale * l.dot(&l) + r.dot(&r);
                (sq.sqrt() - 1.0).abs() <= tol
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn joined_rows_read_like_their_dense_copy() {
        let left = array![[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8]];
        let right = array![[0.5f32], [-0.5], [0.0]];
        let j = Rows::Joined { left: left.view(), left_scale: 0.5, right: right.view() };
        let dense = j.to_dense().into_owned();
        assert_eq!(dense, array![[0.5f32, 0.0, 0.5], [0.0, 0.5, -0.5], [0.3, 0.4, 0.0]]);
        assert_eq!(j.select(&[2, 0]), array![[0.3f32, 0.4, 0.0], [0.5, 0.0, 0.5]]);
        assert_eq!(j.range(1..3).into_owned(), dense.slice(s![1..3, ..]));
        let c = array![[1.0f32, 2.0, 3.0], [0.0, -1.0, 0.5]];
        let joined = j.map_centroid_scores(c.view(), |i, s| (i, s.to_vec()));
        let plain = Rows::Dense(dense.view()).map_centroid_scores(c.view(), |i, s| (i, s.to_vec()));
        for ((i, a), (k, b)) in joined.iter().zip(&plain) {
            assert_eq!(i, k);
            assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} vs {b:?}");
        }
        assert_eq!(joined[2].1, vec![0.3 + 0.8, -0.4]);
        let mut acc = vec![0f32; 3];
        for i in 0..3 {
            j.add_row_to(i, &mut acc);
        }
        assert_eq!(acc, vec![0.8f32, 0.9, 0.0]);
        assert!(!j.all_unit(1e-3));
    }
}
