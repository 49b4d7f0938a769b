//! Range-query index for linfa's DBSCAN in high dimensions.
//!
//! DBSCAN asks for the `eps`-neighbourhood of every row. In 384 dimensions trees prune
//! nothing (linfa's ball tree made DBSCAN slower than a scan, and pivot-ball pruning also
//! failed on realistic embedding spreads), and a linear scan per query streams the whole
//! matrix from memory n times (measured 76 s at 20k rows). This index computes all
//! neighbourhoods for the one radius DBSCAN will use up front, with blocked GEMM
//! (`|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`), and serves DBSCAN's queries from those lists.
//!
//! Queries are matched to rows by address: linfa's DBSCAN queries rows of the very array the
//! index was built from. Anything else (another radius, a foreign point) falls back to a
//! linear scan, so results never depend on that match, only speed does. The lists assume
//! Euclidean distance; the fallback uses the given `dist_fn`. Pairs within rounding of `eps`
//! may fall on either side (GEMM and direct sums round differently).

use std::sync::atomic::{AtomicUsize, Ordering};

use linfa::Float;
use linfa_nn::distance::Distance;
use linfa_nn::{BuildError, NearestNeighbour, NearestNeighbourIndex, NnError};
use ndarray::{s, ArrayBase, ArrayView1, ArrayView2, Data, Ix2};
use rayon::prelude::*;

// linfa-nn's own aliases for these are crate-private.
type Point<'a, F> = ArrayView1<'a, F>;
type NearestNeighbourBox<'a, F> = Box<dyn 'a + Send + Sync + NearestNeighbourIndex<F>>;

/// Rows per GEMM block.
const BLOCK: usize = 256;

/// Builds a [`NearestNeighbourIndex`] whose `within_range` is precomputed for `eps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PrecomputedRange {
    pub eps: f64,
    /// Give up on the lists (and scan instead) beyond this many neighbour entries in total,
    /// which bounds memory at 4 bytes per entry when `eps` is huge.
    pub max_pairs: usize,
}

struct RangeIndex<'a, F: Float, D: Distance<F>> {
    points: ArrayView2<'a, F>,
    eps: F,
    /// `lists[i]`: rows within `eps` of row i (itself included); `None` = scan.
    lists: Option<Vec<Vec<u32>>>,
    dist_fn: D,
}

impl NearestNeighbour for PrecomputedRange {
    fn from_batch_with_leaf_size<'a, F: Float, DT: Data<Elem = F>, D: 'a + Distance<F>>(
        &self,
        batch: &'a ArrayBase<DT, Ix2>,
        _leaf_size: usize,
        dist_fn: D,
    ) -> Result<NearestNeighbourBox<'a, F>, BuildError> {
        if batch.ncols() == 0 {
            return Err(BuildError::ZeroDimension);
        }
        let points = batch.view();
        let eps = F::cast(self.eps);
        let lists = if points.is_standard_layout() && points.nrows() <= u32::MAX as usize {
            neighbour_lists(points, eps, self.max_pairs)
        } else {
            None
        };
        Ok(Box::new(RangeIndex { points, eps, lists, dist_fn }))
    }
}

fn neighbour_lists<F: Float>(x: ArrayView2<F>, eps: F, max_pairs: usize) -> Option<Vec<Vec<u32>>> {
    let n = x.nrows();
    let sq: Vec<F> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let eps2 = eps * eps;
    let total = AtomicUsize::new(0);
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let blocks: Vec<Option<Vec<Vec<u32>>>> = starts
        .par_iter()
        .map(|&i0| {
            if total.load(Ordering::Relaxed) > max_pairs {
                return None;
            }
            let i1 = (i0 + BLOCK).min(n);
            let dots = x.slice(s![i0..i1, ..]).dot(&x.t());
            let lists: Vec<Vec<u32>> = dots
                .rows()
                .into_iter()
                .zip(&sq[i0..i1])
                .map(|(row, &si)| {
                    let two = F::one() + F::one();
                    row.iter()
                        .zip(&sq)
                        .enumerate()
                        .filter(|&(_, (&d, &sj))| si + sj - two * d < eps2)
                        .map(|(j, _)| j as u32)
                        .collect()
                })
                .collect();
            let added: usize = lists.iter().map(Vec::len).sum();
            (total.fetch_add(added, Ordering::Relaxed) + added <= max_pairs).then_some(lists)
        })
        .collect();
    blocks.into_iter().collect::<Option<Vec<_>>>().map(|b| b.into_iter().flatten().collect())
}

impl<F: Float, D: Distance<F>> RangeIndex<'_, F, D> {
    /// Row index of `point` if it is one of our rows (same address), else `None`.
    fn row_of(&self, point: &Point<'_, F>) -> Option<usize> {
        let base = self.points.as_ptr() as usize;
        let addr = point.as_ptr() as usize;
        let row_bytes = self.points.ncols() * std::mem::size_of::<F>();
        let offset = addr.checked_sub(base)?;
        let i = offset / row_bytes;
        (offset % row_bytes == 0 && i < self.points.nrows() && point.len() == self.points.ncols()).then_some(i)
    }
}

impl<F: Float, D: Distance<F>> NearestNeighbourIndex<F> for RangeIndex<'_, F, D> {
    fn k_nearest(&self, point: Point<'_, F>, k: usize) -> Result<Vec<(Point<'_, F>, usize)>, NnError> {
        if point.len() != self.points.ncols() {
            return Err(NnError::WrongDimension);
        }
        // Not used by DBSCAN; a plain scan keeps it correct.
        let mut all: Vec<(F, usize)> =
            (0..self.points.nrows()).map(|i| (self.dist_fn.rdistance(point.view(), self.points.row(i)), i)).collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        Ok(all.into_iter().take(k).map(|(_, i)| (self.points.row(i), i)).collect())
    }

    fn within_range(&self, point: Point<'_, F>, range: F) -> Result<Vec<(Point<'_, F>, usize)>, NnError> {
        if point.len() != self.points.ncols() {
            return Err(NnError::WrongDimension);
        }
        if let (Some(lists), Some(i), true) = (&self.lists, self.row_of(&point), range == self.eps) {
            return Ok(lists[i].iter().map(|&j| (self.points.row(j as usize), j as usize)).collect());
        }
        let r = self.dist_fn.dist_to_rdist(range);
        Ok((0..self.points.nrows())
            .filter(|&j| self.dist_fn.rdistance(point.view(), self.points.row(j)) < r)
            .map(|j| (self.points.row(j), j))
            .collect())
    }
}
