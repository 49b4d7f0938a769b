//! Range-query index for linfa's DBSCAN in high dimensions.
//!
//! Rows are grouped around `ceil(sqrt(n))` pivots chosen by farthest-first traversal; a
//! query skips every group whose ball (pivot, radius) lies beyond the range, by the triangle
//! inequality. Ball/kd-trees prune almost nothing in 384 dimensions (linfa's ball tree made
//! DBSCAN slower than a linear scan), and a linear scan streams the whole matrix per query;
//! on clustered embeddings the groups follow the clusters, so a query touches only the few
//! groups near it. On unclustered data it degrades to a linear scan plus `sqrt(n)` pivot
//! distances per query.

use linfa::Float;
use linfa_nn::distance::Distance;
use linfa_nn::{BuildError, NearestNeighbour, NearestNeighbourIndex, NnError};
use ndarray::{ArrayBase, ArrayView1, ArrayView2, Data, Ix2};

// linfa-nn's own aliases for these are crate-private.
type Point<'a, F> = ArrayView1<'a, F>;
type NearestNeighbourBox<'a, F> = Box<dyn 'a + Send + Sync + NearestNeighbourIndex<F>>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PivotSearch;

struct PivotIndex<'a, F: Float, D: Distance<F>> {
    points: ArrayView2<'a, F>,
    pivots: Vec<usize>,
    radius: Vec<F>,
    members: Vec<Vec<usize>>,
    dist_fn: D,
}

impl NearestNeighbour for PivotSearch {
    fn from_batch_with_leaf_size<'a, F: Float, DT: Data<Elem = F>, D: 'a + Distance<F>>(
        &self,
        batch: &'a ArrayBase<DT, Ix2>,
        _leaf_size: usize,
        dist_fn: D,
    ) -> Result<NearestNeighbourBox<'a, F>, BuildError> {
        if batch.ncols() == 0 {
            return Err(BuildError::ZeroDimension);
        }
        Ok(Box::new(PivotIndex::new(batch.view(), dist_fn)))
    }
}

impl<'a, F: Float, D: Distance<F>> PivotIndex<'a, F, D> {
    fn new(points: ArrayView2<'a, F>, dist_fn: D) -> Self {
        let n = points.nrows();
        let m = ((n as f64).sqrt().ceil() as usize).clamp(1, n.max(1));
        let dist = |i: usize, j: usize| dist_fn.distance(points.row(i), points.row(j));
        let mut pivots = Vec::with_capacity(m);
        let mut owner = vec![0usize; n];
        let mut to_owner = vec![F::infinity(); n];
        // Farthest-first: each new pivot is the row worst served by the current ones.
        let mut next = 0;
        while pivots.len() < m && n > 0 {
            let p = pivots.len();
            pivots.push(next);
            for i in 0..n {
                let d = dist(i, next);
                if d < to_owner[i] {
                    to_owner[i] = d;
                    owner[i] = p;
                }
            }
            let (far, far_d) = to_owner
                .iter()
                .enumerate()
                .fold((0, F::neg_infinity()), |b, (i, &d)| if d > b.1 { (i, d) } else { b });
            if far_d <= F::zero() {
                break; // every row coincides with a pivot
            }
            next = far;
        }
        let mut members = vec![Vec::new(); pivots.len()];
        let mut radius = vec![F::zero(); pivots.len()];
        for i in 0..n {
            members[owner[i]].push(i);
            radius[owner[i]] = radius[owner[i]].max(to_owner[i]);
        }
        PivotIndex { points, pivots, radius, members, dist_fn }
    }
}

impl<F: Float, D: Distance<F>> NearestNeighbourIndex<F> for PivotIndex<'_, F, D> {
    fn k_nearest(&self, point: Point<'_, F>, k: usize) -> Result<Vec<(Point<'_, F>, usize)>, NnError> {
        if point.len() != self.points.ncols() {
            return Err(NnError::WrongDimension);
        }
        // Not used by DBSCAN; a plain scan keeps it correct.
        let mut all: Vec<(F, usize)> = (0..self.points.nrows())
            .map(|i| (self.dist_fn.rdistance(point.view(), self.points.row(i)), i))
            .collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        Ok(all.into_iter().take(k).map(|(_, i)| (self.points.row(i), i)).collect())
    }

    fn within_range(&self, point: Point<'_, F>, range: F) -> Result<Vec<(Point<'_, F>, usize)>, NnError> {
        if point.len() != self.points.ncols() {
            return Err(NnError::WrongDimension);
        }
        // Slack so rounding in the triangle-inequality test never drops a true neighbour.
        let slack = F::cast(1e-5) * (F::one() + range);
        let r_range = self.dist_fn.dist_to_rdist(range);
        let mut out = Vec::new();
        for ((&pivot, &radius), members) in self.pivots.iter().zip(&self.radius).zip(&self.members) {
            let d = self.dist_fn.distance(point.view(), self.points.row(pivot));
            if d - radius > range + slack {
                continue;
            }
            let whole = d + radius + slack < range;
            for &i in members {
                let row = self.points.row(i);
                if whole || self.dist_fn.rdistance(point.view(), row.view()) < r_range {
                    out.push((row, i));
                }
            }
        }
        Ok(out)
    }
}
