//! k-means split into the steps a distributed run spreads over machines (`clusterby.ray
//! assign`): which rows the fit reads, the centres fitted on them, each part's nearest centres,
//! and the order by size. Run in that order with the same parameters they give the labels
//! [`fit`](super::fit) gives on the whole matrix, without any machine holding it.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use super::geometry::{assign_nearest, sample_indices, unit_rows, UNIT_NORM_TOLERANCE};
use super::{kmeans, CheckedClusterParams, ClusterError, Method};

fn k_of(params: &CheckedClusterParams, n: usize) -> Result<usize, ClusterError> {
    if params.method != Method::KMeans {
        return Err(ClusterError::invalid("method", "a sampled fit is k-means only"));
    }
    let k = params.k.ok_or_else(|| ClusterError::invalid("k", "a sampled fit needs K"))?;
    if k == 0 {
        return Err(ClusterError::invalid("k", "must be at least 1"));
    }
    if k > n {
        return Err(ClusterError::KTooLarge { k, n });
    }
    Ok(k)
}

/// The rows (ascending) of an `n`-row input that k-means fits its centres on.
pub fn fit_rows(n: usize, params: &CheckedClusterParams) -> Result<Vec<usize>, ClusterError> {
    let k = k_of(params, n)?;
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    Ok(sample_indices(n, params.fit_sample_size(k).min(n), &mut rng))
}

/// The centres fitted on `sample`: the rows [`fit_rows`] named, in that order, of an `n`-row
/// input whose rows are all unit vectors (as [`all_unit`] checks part by part).
pub fn centres(sample: ArrayView2<f32>, n: usize, params: &CheckedClusterParams) -> Result<Array2<f32>, ClusterError> {
    let k = k_of(params, n)?;
    let m = params.fit_sample_size(k).min(n);
    if sample.nrows() != m {
        return Err(ClusterError::invalid("sample", format!("has {} rows, the fit reads {m}", sample.nrows())));
    }
    let sample = unit_rows(sample)?;
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    // Replays the draw of `fit_rows`, so the restarts see the same random stream as in `fit`.
    let _ = sample_indices(n, m, &mut rng);
    kmeans::centroids(sample.view(), k, params, &mut rng)
}

/// Whether every row is a unit vector within [`UNIT_NORM_TOLERANCE`]: [`fit`](super::fit)
/// uses such rows as they are, and normalises all rows otherwise.
pub fn all_unit(x: ArrayView2<f32>) -> bool {
    x.rows().into_iter().all(|r| (r.dot(&r).sqrt() - 1.0).abs() <= UNIT_NORM_TOLERANCE)
}

/// Each row's nearest centre (before the order by size).
pub fn nearest(x: ArrayView2<f32>, centres: ArrayView2<f32>) -> Vec<usize> {
    assign_nearest(x, centres)
}

/// The final label of each raw cluster, from every part's counts summed and the first row
/// (in input order) of each: largest first, ties to the earlier first row, as
/// [`fit`](super::fit) orders them. Empty clusters get -1.
pub fn order_by_size(counts: &[usize], first_row: &[usize]) -> Vec<i64> {
    let mut order: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(first_row[a].cmp(&first_row[b])));
    let mut map = vec![-1i64; counts.len()];
    for (new, &old) in order.iter().enumerate() {
        map[old] = new as i64;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{fit, ClusterParams};
    use ndarray::{s, Axis};
    use rand::Rng;

    fn unit_blobs(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = Xoshiro256Plus::seed_from_u64(seed);
        let mut x = Array2::<f32>::zeros((n, d));
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            row[i % d.min(7)] = 3.0;
            row.mapv_inplace(|v| v + rng.gen_range(-1.0..1.0));
            let norm = row.dot(&row).sqrt();
            row.mapv_inplace(|v| v / norm);
        }
        x
    }

    /// The steps, run part by part as a distributed run does, give `fit`'s labels.
    #[test]
    fn the_steps_part_by_part_give_the_labels_of_fit() {
        for (n, k) in [(9_000, 7), (1_000, 4)] {
            let x = unit_blobs(n, 16, 3);
            let params = ClusterParams::new(Method::KMeans).with_k(Some(k)).with_seed(11).check().unwrap();
            let want = fit(x.view(), &params).unwrap().labels;
            let rows = fit_rows(n, &params).unwrap();
            assert_eq!(rows.len(), params.fit_sample_size(k).min(n));
            let c = centres(x.select(Axis(0), &rows).view(), n, &params).unwrap();
            let (mut raw, mut counts, mut first) = (Vec::new(), vec![0usize; k], vec![usize::MAX; k]);
            for start in (0..n).step_by(2_048) {
                let part = x.slice(s![start..(start + 2_048).min(n), ..]);
                assert!(all_unit(part));
                for (i, l) in nearest(part, c.view()).into_iter().enumerate() {
                    counts[l] += 1;
                    first[l] = first[l].min(start + i);
                    raw.push(l);
                }
            }
            let map = order_by_size(&counts, &first);
            let got: Vec<i64> = raw.into_iter().map(|l| map[l]).collect();
            assert_eq!(got, want, "n = {n}, k = {k}");
        }
    }

    #[test]
    fn each_bad_setting_has_its_own_error() {
        let p = |m, k| ClusterParams::new(m).with_k(k).check().unwrap();
        assert!(matches!(fit_rows(10, &p(Method::Hdbscan, Some(2))), Err(ClusterError::InvalidParam { .. })));
        assert!(matches!(fit_rows(10, &p(Method::KMeans, None)), Err(ClusterError::InvalidParam { .. })));
        assert!(matches!(fit_rows(3, &p(Method::KMeans, Some(5))), Err(ClusterError::KTooLarge { k: 5, n: 3 })));
        let x = unit_blobs(10, 4, 1);
        assert!(matches!(centres(x.view(), 20, &p(Method::KMeans, Some(2))), Err(ClusterError::InvalidParam { .. })));
    }
}
