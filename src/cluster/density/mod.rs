//! Density-based methods, HDBSCAN and DBSCAN*, on a low-dimensional density space.
//!
//! Density needs few dimensions: in 384 dimensions every distance is nearly the same, no tree
//! prunes, and (measured on CIFAR-10's captions by object) HDBSCAN found 9 clusters with 56 %
//! noise. Both methods therefore run on the rows' [`DENSITY_DIMS`] leading principal
//! coordinates (the unit rows, centred: the directions the criterion-conditioned features vary
//! along most), as BERTopic reduces to 5 dimensions first. There a k-d tree prunes, so:
//! * core distances are k-nearest-neighbour queries on the tree;
//! * the mutual reachability spanning tree comes from Borůvka on the tree (`boruvka`);
//! * HDBSCAN's condensed tree and excess-of-mass selection, and DBSCAN* as one cut of the same
//!   spanning tree, follow from it (`hierarchy`);
//! * DBSCAN at a given radius skips the spanning tree: one range search per core point links
//!   the core points within it (`radius`);
//! * DBSCAN then gives its border points (within the radius of a cluster's core point, not core
//!   themselves) to the cluster of their nearest core point, as Ester et al. (1996) and
//!   scikit-learn do.
//!
//! Memory is linear in n (coordinates, tree, core distances, n − 1 edges); no O(n²) matrix.
//! Measured neighbours of the constants are in `notebooks/density.md`.

mod boruvka;
mod hierarchy;
mod kdtree;
mod radius;
#[cfg(test)]
mod tests;

use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::geometry::assign_nearest;
use super::reduce::principal_coordinates;
use super::{CheckedClusterParams, NoisePolicy, RawClustering, DEFAULT_MIN_POINTS};

/// Coordinates of the density space. Measured on the captions of PPMI-7, STL-10 and CIFAR-10
/// (HDBSCAN, noise assigned): 10 dimensions gave ACC 0.63 / 0.88 / 0.81, 16 gave 0.64 / 0.78 /
/// 0.74, and K dimensions (7 for PPMI-7) 0.76 on PPMI-7 but 0.60 on PPMI-2 (2 dimensions).
pub const DENSITY_DIMS: usize = 10;

/// HDBSCAN's default `min_samples` is the smallest cluster, at most this. Measured on the same
/// captions: 20 and 50 gave the same ACC as the smallest cluster itself (± 0.04 either way),
/// 5 lost up to 0.12 (CIFAR-10), and 50 left PPMI-2 all noise; each unit of it is one more
/// neighbour per core-distance query.
pub const HDBSCAN_MIN_SAMPLES_CAP: usize = 20;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// Given by the caller.
    Given,
    /// The method's default rule, from n and K.
    Default,
    /// Chosen from the data.
    Chosen,
}

/// One setting as a density method ran with it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Setting<T> {
    pub value: T,
    pub source: SettingSource,
}

impl<T> Setting<T> {
    fn given_or(given: Option<T>, default: T) -> Self {
        match given {
            Some(value) => Setting { value, source: SettingSource::Given },
            None => Setting { value: default, source: SettingSource::Default },
        }
    }
}

/// The settings HDBSCAN or DBSCAN ran with, given or not, so that a result can be rerun and
/// compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DensitySettings {
    pub min_cluster_size: Setting<usize>,
    /// HDBSCAN's `min_samples`, DBSCAN's `min_points`.
    pub min_samples: Setting<usize>,
    /// DBSCAN's radius in the density space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<Setting<f32>>,
    /// Coordinates of the density space the method ran on (0 when there were too few rows to
    /// build one and every row is noise).
    pub dimensions: usize,
}

/// The smallest cluster both methods keep: a quarter of n / K, at least 5 (K given, or the
/// automatic selection's largest candidate).
pub(super) fn min_cluster_size(n: usize, k_hint: usize, params: &CheckedClusterParams) -> Setting<usize> {
    Setting::given_or(params.min_cluster_size(), (n / k_hint.max(1).saturating_mul(4)).max(5))
}

/// The density space's k-d tree, with every point's core distance at `min_samples` and its
/// `min_samples` nearest (nearest first), per tree position.
struct Neighbourhoods {
    tree: kdtree::KdTree,
    core: Vec<f32>,
    neighbours: Vec<u32>,
}

impl Neighbourhoods {
    fn build(x: ArrayView2<f32>, min_samples: usize, rng: &mut impl Rng) -> Self {
        let (coords, dim) = density_space(x, rng);
        let tree = kdtree::KdTree::build(&coords, dim);
        let (core, neighbours) = tree.nearest(min_samples);
        Neighbourhoods { tree, core, neighbours }
    }

    /// The mutual reachability spanning tree's edges, lightest first.
    fn spanning_tree(&self) -> Vec<boruvka::Edge> {
        hierarchy::sorted(boruvka::spanning_tree(&self.tree, &self.core, &self.neighbours))
    }

    /// DBSCAN's border points: a point that is not core at `eps` but lies within `eps` of a
    /// clustered core point joins the cluster of the nearest such point (`labels` per tree
    /// position, from the DBSCAN\* cut). A non-core point has fewer than `min_samples` points
    /// within `eps`, so all of them are among its listed nearest.
    fn attach_borders(&self, labels: &mut [i64], eps: f32) {
        let per = self.neighbours.len().checked_div(labels.len()).unwrap_or(1).max(1);
        for t in 0..labels.len() {
            if self.core[t] <= eps {
                continue;
            }
            let q = self.tree.point(t);
            let nearest_core = self.neighbours[t * per..(t + 1) * per]
                .iter()
                .map(|&j| j as usize)
                .take_while(|&j| self.tree.dist2(j, q).sqrt() <= eps)
                .find(|&j| self.core[j] <= eps && labels[j] >= 0);
            if let Some(j) = nearest_core {
                labels[t] = labels[j];
            }
        }
    }

    /// Labels per input row from labels per tree position.
    fn to_rows(&self, tree_labels: Vec<i64>) -> Vec<i64> {
        let mut out = vec![-1; tree_labels.len()];
        for (t, l) in tree_labels.into_iter().enumerate() {
            out[self.tree.perm[t]] = l;
        }
        out
    }
}

/// Row-major coordinates and their count per row.
fn density_space(x: ArrayView2<f32>, rng: &mut impl Rng) -> (Vec<f32>, usize) {
    let (n, d) = x.dim();
    if d <= DENSITY_DIMS {
        return (x.iter().copied().collect(), d);
    }
    match principal_coordinates(x, DENSITY_DIMS, rng) {
        Some(z) => {
            let dim = z.ncols();
            (z.as_standard_layout().iter().copied().collect(), dim)
        }
        // No spread: every row is the same point.
        None => (vec![0.0; n], 1),
    }
}

pub(super) fn hdbscan(
    x: ArrayView2<f32>,
    k_hint: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> RawClustering {
    let n = x.nrows();
    let min_cluster_size = min_cluster_size(n, k_hint, params);
    let mcs = min_cluster_size.value;
    let min_samples =
        Setting::given_or(params.min_samples().map(|m| m.min(n)), mcs.min(HDBSCAN_MIN_SAMPLES_CAP).min(n));
    let mut settings = DensitySettings { min_cluster_size, min_samples, eps: None, dimensions: 0 };
    if n < mcs.max(2) {
        return finish(x, vec![-1; n], params, settings);
    }
    let nb = Neighbourhoods::build(x, min_samples.value, rng);
    settings.dimensions = nb.tree.dim;
    let labels = nb.to_rows(hierarchy::hdbscan_labels(n, &nb.spanning_tree(), mcs, params.k()));
    finish(x, labels, params, settings)
}

/// Smallest radius handed out (duplicates give 0).
const MIN_EPS: f32 = 1e-6;

pub(super) fn dbscan(
    x: ArrayView2<f32>,
    k_hint: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> RawClustering {
    let n = x.nrows();
    let min_cluster_size = min_cluster_size(n, k_hint, params);
    let mcs = min_cluster_size.value;
    let min_samples = Setting::given_or(params.min_samples().map(|m| m.min(n)), DEFAULT_MIN_POINTS.min(n));
    let nb = Neighbourhoods::build(x, min_samples.value, rng);
    // A given radius needs one range search per core point; otherwise the whole spanning tree
    // picks one.
    let (mut tree_labels, eps) = match params.eps() {
        Some(e) => {
            let eps = e.max(MIN_EPS);
            (
                radius::cut_at(&nb.tree, &nb.core, &nb.neighbours, eps, mcs),
                Setting { value: eps, source: SettingSource::Given },
            )
        }
        None => {
            let edges = nb.spanning_tree();
            let eps = hierarchy::most_groups_eps(n, &edges, mcs)
                .unwrap_or_else(|| edges.last().map_or(0.0, |e| e.w))
                .max(MIN_EPS);
            (hierarchy::cut_labels(n, &edges, eps, mcs), Setting { value: eps, source: SettingSource::Chosen })
        }
    };
    nb.attach_borders(&mut tree_labels, eps.value);
    let settings = DensitySettings { min_cluster_size, min_samples, eps: Some(eps), dimensions: nb.tree.dim };
    finish(x, nb.to_rows(tree_labels), params, settings)
}

fn finish(
    x: ArrayView2<f32>,
    mut labels: Vec<i64>,
    params: &CheckedClusterParams,
    settings: DensitySettings,
) -> RawClustering {
    let noise_reassigned = match params.noise() {
        NoisePolicy::Keep => None,
        NoisePolicy::Assign => Some(assign_noise(x, &mut labels)),
    };
    RawClustering { labels, fit_rows: x.nrows(), noise_reassigned, density: Some(settings) }
}

/// Puts every noise row in the cluster whose mean direction is nearest (BERTopic's
/// `reduce_outliers` with embeddings), in the full feature space; returns how many moved.
/// Nothing moves when no cluster was found. Noise rows are copied a block at a time, so the
/// extra memory does not grow with n.
fn assign_noise(x: ArrayView2<f32>, labels: &mut [i64]) -> usize {
    let k = labels.iter().copied().max().map_or(0, |m| (m + 1).max(0) as usize);
    let noise: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] < 0).collect();
    if k == 0 || noise.is_empty() {
        return 0;
    }
    let mut means = Array2::<f32>::zeros((k, x.ncols()));
    for (row, &l) in x.rows().into_iter().zip(labels.iter()) {
        if l >= 0 {
            means.row_mut(l as usize).scaled_add(1.0, &row);
        }
    }
    for mut row in means.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    for block in noise.chunks(NOISE_BLOCK) {
        let nearest = assign_nearest(x.select(Axis(0), block).view(), means.view());
        for (&i, c) in block.iter().zip(nearest) {
            labels[i] = c as i64;
        }
    }
    noise.len()
}

/// Noise rows assigned per block.
const NOISE_BLOCK: usize = 16_384;
