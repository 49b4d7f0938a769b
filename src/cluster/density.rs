//! Density-based methods: DBSCAN (linfa) and HDBSCAN (`hdbscan` crate). Both are O(n^2) in
//! the worst case in 384 dimensions, where space-partitioning trees stop pruning, so both
//! refuse inputs above `max_exact_n` rather than running for hours.

use hdbscan::{DistanceMetric, Hdbscan, HdbscanHyperParams};
use linfa::prelude::*;
use linfa_clustering::Dbscan;
use ndarray::{s, ArrayView2, Axis};
use rand::Rng;
use rayon::prelude::*;

use super::geometry::{sample_indices, FastL2};
use super::range_index::PrecomputedRange;
use super::{CheckedClusterParams, ClusterError, Method, RawClustering, DEFAULT_MIN_POINTS};

/// Query rows used to draw the k-distance curve for the default `eps`.
const EPS_QUERIES: usize = 1000;
/// Neighbour-list entries (4 bytes each) DBSCAN may precompute before falling back to scans.
const MAX_NEIGHBOUR_PAIRS: usize = 100_000_000;
/// Smallest `eps` handed to DBSCAN (linfa requires a positive radius; duplicates give 0).
const MIN_EPS: f32 = 1e-4;

fn check_size(method: Method, n: usize, params: &CheckedClusterParams) -> Result<(), ClusterError> {
    let max = params.max_exact_n();
    if n > max {
        return Err(ClusterError::TooLarge { method, n, max });
    }
    Ok(())
}

pub(super) fn dbscan(
    x: ArrayView2<f32>,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<RawClustering, ClusterError> {
    let n = x.nrows();
    check_size(Method::Dbscan, n, params)?;
    let min_points = params.min_samples().unwrap_or(DEFAULT_MIN_POINTS);
    let eps = params.eps().unwrap_or_else(|| knee_eps(x, min_points, rng));
    let x = x.as_standard_layout();
    let index = PrecomputedRange { eps: eps as f64, max_pairs: MAX_NEIGHBOUR_PAIRS };
    let model = Dbscan::params_with(min_points, FastL2, index)
        .tolerance(eps)
        .check()
        .map_err(|e| ClusterError::Backend { method: Method::Dbscan, reason: e.to_string() })?;
    let labels = model.transform(&x).iter().map(|l| l.map_or(-1, |c| c as i64)).collect();
    Ok(RawClustering { labels, fit_rows: n, eps: Some(eps) })
}

/// Default DBSCAN radius: the knee of the sorted k-distance curve (k = `min_points`, self
/// included, as linfa counts it) of a seeded sample of query rows against all rows. The knee
/// is the point furthest below the chord of the normalised curve (Kneedle), i.e. where
/// distances stop growing slowly (inside clusters) and start growing fast (towards noise).
fn knee_eps(x: ArrayView2<f32>, min_points: usize, rng: &mut impl Rng) -> f32 {
    let n = x.nrows();
    let kth = min_points.min(n) - 1;
    let queries = sample_indices(n, EPS_QUERIES, rng);
    let mut kdist: Vec<f32> = queries
        .par_chunks(64)
        .flat_map_iter(|chunk| {
            let dots = x.select(Axis(0), chunk).dot(&x.t());
            dots.rows()
                .into_iter()
                .map(|row| {
                    // kth largest similarity = kth nearest neighbour.
                    let mut sims = row.to_vec();
                    let (_, &mut sim, _) = sims.select_nth_unstable_by(kth, |a, b| b.total_cmp(a));
                    (2.0 - 2.0 * sim).max(0.0).sqrt()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    kdist.sort_by(f32::total_cmp);
    let (lo, hi) = (kdist[0], kdist[kdist.len() - 1]);
    if hi - lo <= f32::EPSILON || kdist.len() < 3 {
        return hi.max(MIN_EPS);
    }
    let last = (kdist.len() - 1) as f32;
    let knee = (0..kdist.len())
        .max_by(|&a, &b| {
            let gap = |i: usize| i as f32 / last - (kdist[i] - lo) / (hi - lo);
            gap(a).total_cmp(&gap(b))
        })
        .unwrap_or(0);
    kdist[knee].max(MIN_EPS)
}

pub(super) fn hdbscan(
    x: ArrayView2<f32>,
    k_hint: Option<usize>,
    params: &CheckedClusterParams,
) -> Result<RawClustering, ClusterError> {
    let n = x.nrows();
    check_size(Method::Hdbscan, n, params)?;
    let k_hint = k_hint.unwrap_or_else(|| params.k_max_for(n)).max(1);
    let min_cluster_size = params.min_cluster_size().unwrap_or((n / k_hint.saturating_mul(4)).max(5));
    if n < min_cluster_size.max(2) {
        // Not enough rows for a single cluster; the crate would index past its data.
        return Ok(RawClustering { labels: vec![-1; n], fit_rows: n, eps: None });
    }
    let min_samples = params.min_samples().unwrap_or(min_cluster_size).min(n);
    let dist = distance_matrix(x);
    let hp = HdbscanHyperParams::builder()
        .min_cluster_size(min_cluster_size)
        .min_samples(min_samples)
        .dist_metric(DistanceMetric::Precalculated)
        .build();
    let labels = Hdbscan::new(&dist, hp)
        .cluster()
        .map_err(|e| ClusterError::Backend { method: Method::Hdbscan, reason: e.to_string() })?;
    Ok(RawClustering { labels: labels.into_iter().map(i64::from).collect(), fit_rows: n, eps: None })
}

/// Full symmetric Euclidean distance matrix between unit rows. Precomputing it with GEMM is
/// far faster than the crate's per-pair scalar distance in its O(n^2) spanning-tree loop.
fn distance_matrix(x: ArrayView2<f32>) -> Vec<Vec<f32>> {
    let n = x.nrows();
    let starts: Vec<usize> = (0..n).step_by(256).collect();
    let mut dist: Vec<Vec<f32>> = starts
        .par_iter()
        .flat_map_iter(|&i0| {
            let dots = x.slice(s![i0..(i0 + 256).min(n), ..]).dot(&x.t());
            dots.rows()
                .into_iter()
                .map(|row| row.iter().map(|&d| (2.0 - 2.0 * d).max(0.0).sqrt()).collect::<Vec<f32>>())
                .collect::<Vec<_>>()
        })
        .collect();
    // The crate requires exact symmetry; the two products of a pair may round differently.
    for i in 0..n {
        let (upper, lower) = dist.split_at_mut(i + 1);
        let row_i = &mut upper[i];
        row_i[i] = 0.0;
        for (row_j, &v) in lower.iter_mut().zip(&row_i[i + 1..]) {
            row_j[i] = v;
        }
    }
    dist
}
