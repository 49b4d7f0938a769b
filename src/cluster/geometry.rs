//! Unit-sphere helpers shared by the methods: normalisation, sampling, a vectorised Euclidean
//! distance for linfa, nearest-centroid assignment and the cosine silhouette (from dot
//! products, not pairwise loops).

use linfa_nn::distance::Distance;
use ndarray::{s, Array1, Array2, ArrayView, ArrayView1, ArrayView2, CowArray, Dimension, Ix2, Zip};
use rand::Rng;
use rayon::prelude::*;

use super::ClusterError;

/// Rows whose norm is within this of 1 count as already normalised.
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// Rows per parallel task: large enough for an efficient GEMM, small enough to balance.
const ROW_CHUNK: usize = 2048;

/// Centroid count from which nearest-centroid search switches from direct distances to GEMM.
const GEMM_MIN_CENTROIDS: usize = 32;

/// Borrow `x` if every row is already a unit vector, otherwise return one normalised copy.
pub(crate) fn unit_rows(x: ArrayView2<'_, f32>) -> Result<CowArray<'_, f32, Ix2>, ClusterError> {
    let (n, d) = x.dim();
    if n == 0 {
        return Err(ClusterError::EmptyInput);
    }
    if d == 0 {
        return Err(ClusterError::ZeroDimension);
    }
    let norms: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = x.row(i);
            let sq = row.dot(&row);
            if sq.is_finite() {
                (sq as f64).sqrt()
            } else {
                // Huge finite values overflow in f32; in f64 they cannot, so inf/NaN here
                // really means a non-finite element.
                row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt()
            }
        })
        .collect();
    if let Some(row) = norms.iter().position(|v| !v.is_finite()) {
        return Err(ClusterError::NonFinite { row });
    }
    if let Some(row) = norms.iter().position(|&v| v == 0.0) {
        return Err(ClusterError::ZeroVector { row });
    }
    let tol = UNIT_NORM_TOLERANCE as f64;
    if norms.iter().all(|v| (v - 1.0).abs() <= tol) {
        return Ok(CowArray::from(x));
    }
    let mut data = vec![0f32; n * d];
    data.par_chunks_mut(d).zip(norms.par_iter()).enumerate().for_each(|(i, (out, &norm))| {
        for (o, &v) in out.iter_mut().zip(x.row(i)) {
            *o = (v as f64 / norm) as f32;
        }
    });
    let owned = Array2::from_shape_vec((n, d), data).expect("buffer holds n * d values");
    Ok(CowArray::from(owned))
}

/// Euclidean distance for linfa with a vectorisable kernel. linfa's `L2Dist` sums into one
/// scalar (a serial add chain the compiler may not reorder), which is several times slower
/// in 384 dimensions and dominates k-means and DBSCAN run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FastL2;

/// Squared Euclidean distance of two equal-length slices.
#[inline]
pub(crate) fn sq_l2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: reached only on CPUs that report both features the callee is compiled for.
        return unsafe { sq_l2_avx2(a, b) };
    }
    sq_l2_portable(a, b)
}

/// Eight independent accumulators; LLVM's auto-vectorisation of this is only partial, hence
/// the explicit AVX2 version below for the common case.
#[inline]
pub(crate) fn sq_l2_portable(a: &[f32], b: &[f32]) -> f32 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Four 8-lane FMA accumulators: ~4x the portable kernel on 384-dimensional rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sq_l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<32>();
    let (cb, rb) = b[..n].as_chunks::<32>();
    let mut acc = [_mm256_setzero_ps(); 4];
    for (x, y) in ca.iter().zip(cb) {
        for (j, acc) in acc.iter_mut().enumerate() {
            // SAFETY: every chunk holds 32 floats, so the 8 read from offset 8j are in bounds.
            let (vx, vy) = unsafe { (_mm256_loadu_ps(x.as_ptr().add(8 * j)), _mm256_loadu_ps(y.as_ptr().add(8 * j))) };
            let d = _mm256_sub_ps(vx, vy);
            *acc = _mm256_fmadd_ps(d, d, *acc);
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` has room for the 8 floats stored.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum::<f32>() + sq_l2_portable(ra, rb)
}

impl Distance<f32> for FastL2 {
    #[inline]
    fn distance<D: Dimension>(&self, a: ArrayView<f32, D>, b: ArrayView<f32, D>) -> f32 {
        self.rdistance(a, b).sqrt()
    }

    #[inline]
    fn rdistance<D: Dimension>(&self, a: ArrayView<f32, D>, b: ArrayView<f32, D>) -> f32 {
        match (a.as_slice(), b.as_slice()) {
            (Some(x), Some(y)) if x.len() == y.len() => sq_l2(x, y),
            _ => Zip::from(&a).and(&b).fold(0.0, |acc, &x, &y| acc + (x - y) * (x - y)),
        }
    }

    #[inline]
    fn rdist_to_dist(&self, rdist: f32) -> f32 {
        rdist.sqrt()
    }

    #[inline]
    fn dist_to_rdist(&self, dist: f32) -> f32 {
        dist * dist
    }
}

/// `m` distinct row indices drawn with `rng`, sorted for memory locality; all rows if `m >= n`.
pub(crate) fn sample_indices(n: usize, m: usize, rng: &mut impl Rng) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut idx = rand::seq::index::sample(rng, n, m).into_vec();
    idx.sort_unstable();
    idx
}

/// Index of the nearest centroid (Euclidean) for every row, in parallel.
///
/// Few centroids: direct distances, streaming each row once while the centroids sit in
/// cache. Many: `argmin |x - c|^2 = argmax (x.c - |c|^2 / 2)` with one GEMM per chunk, whose
/// packing of the rows only pays off once it is amortised over many centroids.
pub(crate) fn assign_nearest(x: ArrayView2<f32>, centroids: ArrayView2<f32>) -> Vec<usize> {
    let mut labels = vec![0usize; x.nrows()];
    if centroids.nrows() <= GEMM_MIN_CENTROIDS {
        let centroids = centroids.as_standard_layout();
        labels.par_iter_mut().enumerate().for_each(|(i, out)| {
            let row = x.row(i);
            let mut best = (0, f32::INFINITY);
            for (j, c) in centroids.rows().into_iter().enumerate() {
                let d = FastL2.rdistance(row, c);
                if d < best.1 {
                    best = (j, d);
                }
            }
            *out = best.0;
        });
        return labels;
    }
    let half_sq: Array1<f32> = centroids.rows().into_iter().map(|c| 0.5 * c.dot(&c)).collect();
    let ct = centroids.t();
    labels.par_chunks_mut(ROW_CHUNK).enumerate().for_each(|(ci, out)| {
        let start = ci * ROW_CHUNK;
        let scores = x.slice(s![start..start + out.len(), ..]).dot(&ct);
        for (o, row) in out.iter_mut().zip(scores.rows()) {
            *o = argmax_biased(row, half_sq.view());
        }
    });
    labels
}

/// `argmax_j (scores[j] - bias[j])`.
pub(super) fn argmax_biased(scores: ArrayView1<f32>, bias: ArrayView1<f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, (&s, &b)) in scores.iter().zip(bias.iter()).enumerate() {
        let v = s - b;
        if v > best.1 {
            best = (j, v);
        }
    }
    best.0
}

/// Per-cluster row sums and counts for labels in `0..k` (negative labels skipped).
pub(crate) fn cluster_sums(x: ArrayView2<f32>, labels: &[usize], k: usize) -> (Array2<f32>, Vec<usize>) {
    let mut sums = Array2::<f32>::zeros((k, x.ncols()));
    let mut counts = vec![0usize; k];
    for (row, &l) in x.rows().into_iter().zip(labels) {
        sums.row_mut(l).scaled_add(1.0, &row);
        counts[l] += 1;
    }
    (sums, counts)
}

/// Mean of each cluster; empty clusters get a zero row (never nearest to a unit vector
/// unless every centroid is further than distance 1).
pub(crate) fn cluster_means(x: ArrayView2<f32>, labels: &[usize], k: usize) -> Array2<f32> {
    let (mut sums, counts) = cluster_sums(x, labels, k);
    for (mut row, &c) in sums.rows_mut().into_iter().zip(&counts) {
        if c > 0 {
            row /= c as f32;
        }
    }
    sums
}

/// Mean cosine silhouette of unit rows `x` with labels in `0..k`.
///
/// Exact, in O(n k d): the mean cosine distance from `x_i` to cluster `C` is
/// `1 - x_i . S_C / |C|` with `S_C` the cluster's row sum (own cluster: self excluded).
/// Singleton clusters score 0 (scikit-learn convention). Returns 0 for fewer than 2 clusters.
pub(crate) fn silhouette_cosine(x: ArrayView2<f32>, labels: &[usize], k: usize) -> f32 {
    let (sums, counts) = cluster_sums(x, labels, k);
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return 0.0;
    }
    let st = sums.t();
    let total: f64 = labels
        .par_chunks(ROW_CHUNK)
        .enumerate()
        .map(|(ci, ls)| {
            let start = ci * ROW_CHUNK;
            let xc = x.slice(s![start..start + ls.len(), ..]);
            let p = xc.dot(&st);
            let mut acc = 0.0f64;
            for ((row, xi), &own) in p.rows().into_iter().zip(xc.rows()).zip(ls) {
                let n_own = counts[own];
                if n_own < 2 {
                    continue;
                }
                let a = 1.0 - (row[own] - xi.dot(&xi)) / (n_own - 1) as f32;
                let b = (0..k)
                    .filter(|&c| c != own && counts[c] > 0)
                    .map(|c| 1.0 - row[c] / counts[c] as f32)
                    .fold(f32::INFINITY, f32::min);
                let denom = a.max(b);
                if denom > 0.0 {
                    acc += ((b - a) / denom) as f64;
                }
            }
            acc
        })
        .sum();
    (total / labels.len() as f64) as f32
}

/// Renumber cluster ids to `0..k` by decreasing size (ties: first appearance); -1 stays noise.
/// Raw ids are small (< rows), so plain vectors index them.
pub(crate) fn relabel_by_size(raw: &[i64]) -> (Vec<i64>, usize) {
    let max = raw.iter().copied().max().unwrap_or(-1);
    if max < 0 {
        return (vec![-1; raw.len()], 0);
    }
    let mut count = vec![0usize; max as usize + 1];
    let mut first = vec![usize::MAX; max as usize + 1];
    for (i, &l) in raw.iter().enumerate() {
        if l >= 0 {
            count[l as usize] += 1;
            first[l as usize] = first[l as usize].min(i);
        }
    }
    let mut order: Vec<usize> = (0..count.len()).filter(|&l| count[l] > 0).collect();
    order.sort_by(|&a, &b| count[b].cmp(&count[a]).then(first[a].cmp(&first[b])));
    let mut map = vec![-1i64; count.len()];
    for (new, &old) in order.iter().enumerate() {
        map[old] = new as i64;
    }
    let labels = raw.iter().map(|&l| if l >= 0 { map[l as usize] } else { -1 }).collect();
    (labels, order.len())
}
