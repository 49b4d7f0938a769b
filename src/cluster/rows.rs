//! Feature rows as clustering sees them: one matrix, or two blocks joined side by side.
//!
//! Criterion conditioning joins the cached caption embeddings (scaled) with a narrower block
//! of criterion values. Copying the caption embeddings into one joined matrix would hold
//! them twice: at a million 384-d rows that is 1.5 GB more. [`Rows::Joined`] keeps the
//! caption block borrowed; the rows are materialised only for a seeded sample and one chunk
//! at a time.

use std::ops::Range;

use ndarray::{s, Array2, ArrayView2, Axis, CowArray, Ix2};

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

    /// `row(i) · v` for a vector of [`Rows::ncols`] entries.
    pub fn dot_row(&self, i: usize, v: &[f32]) -> f32 {
        match *self {
            Rows::Dense(x) => x.row(i).iter().zip(v).map(|(a, b)| a * b).sum(),
            Rows::Joined { left, left_scale, right } => {
                let (vl, vr) = v.split_at(left.ncols());
                left_scale * left.row(i).iter().zip(vl).map(|(a, b)| a * b).sum::<f32>()
                    + right.row(i).iter().zip(vr).map(|(a, b)| a * b).sum::<f32>()
            }
        }
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

    /// Index of the nearest centroid (Euclidean) for every row. Joined rows are never
    /// materialised: `x·c = s·left·c_left + right·c_right`, one pair of GEMMs per block of rows.
    pub(crate) fn nearest(&self, centroids: ArrayView2<f32>) -> Vec<usize> {
        let (left, left_scale, right) = match *self {
            Rows::Dense(x) => return super::geometry::assign_nearest(x, centroids),
            Rows::Joined { left, left_scale, right } => (left, left_scale, right),
        };
        let d = left.ncols();
        let cl = centroids.slice(s![.., ..d]).mapv(|v| v * left_scale);
        let cr = centroids.slice(s![.., d..]);
        let half_sq: ndarray::Array1<f32> = centroids.rows().into_iter().map(|c| 0.5 * c.dot(&c)).collect();
        let mut labels = vec![0usize; self.nrows()];
        labels.par_chunks_mut(NEAREST_CHUNK).enumerate().for_each(|(ci, out)| {
            let r = ci * NEAREST_CHUNK..ci * NEAREST_CHUNK + out.len();
            let mut scores = left.slice(s![r.clone(), ..]).dot(&cl.t());
            ndarray::linalg::general_mat_mul(1.0, &right.slice(s![r, ..]), &cr.t(), 1.0, &mut scores);
            for (o, row) in out.iter_mut().zip(scores.rows()) {
                *o = super::geometry::argmax_biased(row, half_sq.view());
            }
        });
        labels
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
        let v = [1.0f32, 2.0, 3.0];
        let mut acc = vec![0f32; 3];
        for i in 0..3 {
            let d = Rows::Dense(dense.view());
            assert!((j.dot_row(i, &v) - d.dot_row(i, &v)).abs() < 1e-6);
            j.add_row_to(i, &mut acc);
        }
        assert_eq!(acc, vec![0.8f32, 0.9, 0.0]);
        assert!(!j.all_unit(1e-3));
    }
}
