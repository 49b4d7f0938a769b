//! Clustering of caption/image embeddings.
//!
//! ```
//! use clusterby::cluster::{fit, ClusterParams, Method};
//! use ndarray::array;
//!
//! let x = array![[1.0f32, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]];
//! let params = ClusterParams::new(Method::KMeans).with_k(Some(2)).with_seed(7).check()?;
//! let result = fit(x.view(), &params)?;
//! assert_eq!(result.k, 2);
//! assert_eq!(result.labels[0], result.labels[1]);
//! assert_ne!(result.labels[0], result.labels[2]);
//! # Ok::<(), clusterby::cluster::ClusterError>(())
//! ```
//!
//! # Geometry
//! Rows are treated as directions: every row is L2-normalised before clustering (borrowed
//! as-is when all norms are already within [`UNIT_NORM_TOLERANCE`] of 1, otherwise normalised
//! into one owned copy). On unit vectors `|x - y|^2 = 2 - 2 cos(x, y)`, so Euclidean
//! algorithms (k-means, DBSCAN, HDBSCAN, Ward) order pairs exactly as cosine similarity does.
//! Zero rows have no direction and are rejected, as are rows with NaN/inf.
//!
//! # Methods
//! * [`Method::KMeans`]: greedy k-means++ restarts compete in a seed sample's leading
//!   principal coordinates; the winner is refined at full width by linfa's `KMeans` Lloyd
//!   steps (with a vectorised Euclidean distance, 5x faster than linfa's `L2Dist` in 384
//!   dimensions) on a fit sample of 300 rows per cluster (3 000 to 50 000), and every row is
//!   then assigned to its nearest centroid in parallel. All randomness comes from one seeded
//!   `Xoshiro256Plus`. See [`ClusterParams::with_fit_sample_size`] and the `kmeans` module.
//! * [`Method::Hdbscan`] and [`Method::Dbscan`] (border points join their nearest core point's
//!   cluster): on the rows' leading principal
//!   coordinates, with a k-d tree and a Borůvka spanning tree; linear memory, no row limit (see
//!   the `density` module). DBSCAN's `eps` defaults to the radius at which the most groups of at
//!   least `min_cluster_size` rows stand apart. Noise rows go to the nearest cluster unless
//!   [`NoisePolicy::Keep`] is asked for; [`Clustering::noise_reassigned`] counts them.
//! * [`Method::Agglomerative`]: `kodama` Ward (Euclidean on unit vectors) or average linkage
//!   (cosine distance). The condensed distance matrix is O(n^2) memory and the linkage is
//!   single-threaded, so above `max_exact_n` rows (default 10 000: 200 MB, a few seconds) the
//!   tree is built on a seeded sample and the remaining rows go to the nearest cluster mean.
//!
//! For DBSCAN/HDBSCAN the number of clusters is an output: a requested `k` only shapes the
//! `min_cluster_size` default, and [`Clustering::k`] is always the number found.
//!
//! # Choosing k
//! When `k` is `None` for k-means or agglomerative clustering, every k in `2..=k_max`
//! (`k_max` default `min(30, floor(sqrt(n)))`) is tried on one seeded sample of at most
//! `selection_sample_size` rows (default 5 000) and scored by the mean cosine silhouette
//! (exact, computed from per-cluster sums via dot products). The highest score wins; ties go to
//! the smaller k. All scores are returned in [`KSelection`]. k-means candidates are fit with at
//! most 5 restarts; the chosen k is then fit with the full count.

mod agglomerative;
mod density;
mod geometry;
mod kmeans;
mod reduce;
mod rows;
pub mod sampled;
mod select;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use linfa::ParamGuard;
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

pub use density::{DensitySettings, Setting, SettingSource};
pub use geometry::UNIT_NORM_TOLERANCE;
pub use rows::Rows;

pub(crate) use geometry::{sample_indices, unit_rows};
pub(crate) use reduce::{leading_row_space, orthonormal_rows, principal_coordinates};

/// Clustering algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// k-means (K given or chosen by silhouette).
    #[value(name = "kmeans")]
    KMeans,
    /// DBSCAN (finds K; noise is cluster -1).
    Dbscan,
    /// HDBSCAN (finds K; noise is cluster -1).
    Hdbscan,
    /// Agglomerative (Ward; K given or chosen by silhouette).
    Agglomerative,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::KMeans, Method::Dbscan, Method::Hdbscan, Method::Agglomerative];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::KMeans => "kmeans",
            Method::Dbscan => "dbscan",
            Method::Hdbscan => "hdbscan",
            Method::Agglomerative => "agglomerative",
        }
    }

    /// Whether the number of clusters is an input (as opposed to found from density).
    pub fn takes_k(self) -> bool {
        matches!(self, Method::KMeans | Method::Agglomerative)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ClusterError::UnknownName { what: "method", name: s.to_string() })
    }
}

/// Linkage for [`Method::Agglomerative`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Linkage {
    /// Ward on Euclidean distance between unit vectors (k-means-like, balanced clusters).
    #[default]
    Ward,
    /// Mean pairwise cosine distance `1 - cos`.
    Average,
    /// Largest pairwise cosine distance.
    Complete,
    /// Smallest pairwise cosine distance (chains; mostly for comparison).
    Single,
}

impl Linkage {
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Ward => "ward",
            Linkage::Average => "average",
            Linkage::Complete => "complete",
            Linkage::Single => "single",
        }
    }
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Linkage {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ward" => Ok(Linkage::Ward),
            "average" => Ok(Linkage::Average),
            "complete" => Ok(Linkage::Complete),
            "single" => Ok(Linkage::Single),
            _ => Err(ClusterError::UnknownName { what: "linkage", name: s.to_string() }),
        }
    }
}

/// What the density methods do with the rows they call noise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NoisePolicy {
    /// Every noise row joins the cluster whose mean direction is nearest (BERTopic's
    /// `reduce_outliers`). The default: on the four IC|TC caption sets (K given) it raised
    /// HDBSCAN's ACC by 0.05 to 0.15 and DBSCAN's by 0.01 to 0.33 (`notebooks/density.md`), and
    /// a criterion query is asked to put every item somewhere.
    #[default]
    Assign,
    /// Noise stays cluster -1.
    Keep,
}

/// Everything that can go wrong in this module; nothing here panics on bad input.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no rows to cluster")]
    EmptyInput,
    #[error("rows have zero columns")]
    ZeroDimension,
    #[error("row {row} contains NaN or infinite values")]
    NonFinite { row: usize },
    #[error("row {row} is all zeros and has no direction")]
    ZeroVector { row: usize },
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("k = {k} exceeds the number of rows ({n})")]
    KTooLarge { k: usize, n: usize },
    #[error("{what} needs at least {needed} rows, got {n}")]
    TooFewRows { what: &'static str, n: usize, needed: usize },
    #[error("unknown {what} `{name}`")]
    UnknownName { what: &'static str, name: String },
    #[error("{method} failed: {reason}")]
    Backend { method: Method, reason: String },
}

impl ClusterError {
    fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        ClusterError::InvalidParam { name, reason: reason.into() }
    }
}

/// Validated hyperparameters; build with [`ClusterParams`]. Serializable for logging, but
/// deliberately not deserializable: that would bypass the checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedClusterParams {
    method: Method,
    k: Option<usize>,
    k_max: Option<usize>,
    seed: u64,
    min_cluster_size: Option<usize>,
    min_samples: Option<usize>,
    eps: Option<f32>,
    linkage: Linkage,
    noise: NoisePolicy,
    n_runs: usize,
    max_iter: u64,
    tolerance: f32,
    fit_sample_size: Option<usize>,
    selection_sample_size: usize,
    max_exact_n: Option<usize>,
}

/// Hyperparameter builder (linfa style): set fields, then [`ClusterParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterParams(CheckedClusterParams);

pub const DEFAULT_SEED: u64 = 42;
/// k-means restarts of a query (`QueryOptions::restarts`) and of the caption weight's sample
/// partitions: fewer let PPMI-7 end in a merged-and-split optimum for one seed in seven, and
/// left the caption weight following the seed (`conditioning::values`).
pub const QUERY_RESTARTS: usize = 20;
/// Automatic k-means fit sample: `FIT_ROWS_PER_CLUSTER · k` rows, at least `MIN_FIT_SAMPLE_SIZE`
/// and at most `MAX_FIT_SAMPLE_SIZE`.
pub const FIT_ROWS_PER_CLUSTER: usize = 300;
pub const MIN_FIT_SAMPLE_SIZE: usize = 3_000;
pub const MAX_FIT_SAMPLE_SIZE: usize = 50_000;
pub const DEFAULT_SELECTION_SAMPLE_SIZE: usize = 5_000;
pub const DEFAULT_MIN_POINTS: usize = 5;

impl ClusterParams {
    pub fn new(method: Method) -> Self {
        ClusterParams(CheckedClusterParams {
            method,
            k: None,
            k_max: None,
            seed: DEFAULT_SEED,
            min_cluster_size: None,
            min_samples: None,
            eps: None,
            linkage: Linkage::Ward,
            noise: NoisePolicy::Assign,
            n_runs: 3,
            max_iter: 100,
            tolerance: 1e-3,
            fit_sample_size: None,
            selection_sample_size: DEFAULT_SELECTION_SAMPLE_SIZE,
            max_exact_n: None,
        })
    }

    /// Number of clusters; `None` chooses it automatically (k-means, agglomerative). For DBSCAN
    /// and HDBSCAN it is only a hint for defaults.
    pub fn with_k(mut self, k: Option<usize>) -> Self {
        self.0.k = k;
        self
    }

    /// Largest k tried by automatic selection (default `min(30, sqrt(n))`).
    pub fn with_k_max(mut self, k_max: Option<usize>) -> Self {
        self.0.k_max = k_max;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// DBSCAN/HDBSCAN smallest cluster (default `max(5, n / (4 k))`, k = given k or the k_max
    /// default); smaller groups are noise.
    pub fn with_min_cluster_size(mut self, size: Option<usize>) -> Self {
        self.0.min_cluster_size = size;
        self
    }

    /// DBSCAN `min_points` (self included, default 5) / HDBSCAN `min_samples`
    /// (default `min_cluster_size`, at most 20).
    pub fn with_min_samples(mut self, min_samples: Option<usize>) -> Self {
        self.0.min_samples = min_samples;
        self
    }

    /// DBSCAN radius in the density space (the unit rows' leading principal coordinates, where a
    /// distance is at most the Euclidean distance between the unit vectors), in (0, 2]. `None`
    /// picks it from the data.
    pub fn with_eps(mut self, eps: Option<f32>) -> Self {
        self.0.eps = eps;
        self
    }

    pub fn with_linkage(mut self, linkage: Linkage) -> Self {
        self.0.linkage = linkage;
        self
    }

    /// DBSCAN/HDBSCAN noise: assigned to the nearest cluster (default) or kept as -1.
    pub fn with_noise(mut self, noise: NoisePolicy) -> Self {
        self.0.noise = noise;
        self
    }

    /// k-means restarts (default 3). Each restart seeds and converges on a small seeded
    /// sample; the lowest inertia there wins and only it is refined on all rows, so restarts
    /// cost little while guarding against two seeds landing in one group.
    pub fn with_n_runs(mut self, n_runs: usize) -> Self {
        self.0.n_runs = n_runs;
        self
    }

    /// k-means iteration cap per run (default 100).
    pub fn with_max_iter(mut self, max_iter: u64) -> Self {
        self.0.max_iter = max_iter;
        self
    }

    /// k-means stops when a Lloyd step lowers the mean squared distance by less than this
    /// fraction (default 1e-3).
    pub fn with_tolerance(mut self, tolerance: f32) -> Self {
        self.0.tolerance = tolerance;
        self
    }

    /// Above this many rows k-means fits on a seeded sample of this size and assigns the rest
    /// to the nearest centroid (default: 300 rows per cluster, between 3 000 and 50 000; see
    /// [`CheckedClusterParams::fit_sample_size`]).
    pub fn with_fit_sample_size(mut self, size: usize) -> Self {
        self.0.fit_sample_size = Some(size);
        self
    }

    /// Rows used to score candidate k during automatic selection (default 5 000).
    pub fn with_selection_sample_size(mut self, size: usize) -> Self {
        self.0.selection_sample_size = size;
        self
    }

    /// Row limit of agglomerative clustering's O(n^2) tree: above it the tree is built on a
    /// sample (default 10 000, see module docs).
    pub fn with_max_exact_n(mut self, max: Option<usize>) -> Self {
        self.0.max_exact_n = max;
        self
    }

    pub fn check_ref(&self) -> Result<&CheckedClusterParams, ClusterError> {
        let p = &self.0;
        if p.k == Some(0) {
            return Err(ClusterError::invalid("k", "must be at least 1"));
        }
        if let Some(k_max) = p.k_max {
            if k_max < 2 {
                return Err(ClusterError::invalid("k_max", "must be at least 2"));
            }
        }
        if let Some(m) = p.min_cluster_size {
            if m < 2 {
                return Err(ClusterError::invalid("min_cluster_size", "must be at least 2"));
            }
        }
        if let Some(m) = p.min_samples {
            let least = if p.method == Method::Dbscan { 2 } else { 1 };
            if m < least {
                return Err(ClusterError::invalid("min_samples", format!("must be at least {least}")));
            }
        }
        if let Some(eps) = p.eps {
            if !(eps.is_finite() && eps > 0.0 && eps <= 2.0) {
                return Err(ClusterError::invalid("eps", "must be in (0, 2] (Euclidean on unit vectors)"));
            }
        }
        if p.n_runs == 0 {
            return Err(ClusterError::invalid("n_runs", "must be at least 1"));
        }
        if p.max_iter == 0 {
            return Err(ClusterError::invalid("max_iter", "must be at least 1"));
        }
        if !(p.tolerance.is_finite() && p.tolerance > 0.0) {
            return Err(ClusterError::invalid("tolerance", "must be positive and finite"));
        }
        if p.fit_sample_size.is_some_and(|m| m < 2) {
            return Err(ClusterError::invalid("fit_sample_size", "must be at least 2"));
        }
        if p.selection_sample_size < 3 {
            return Err(ClusterError::invalid("selection_sample_size", "must be at least 3"));
        }
        if let Some(m) = p.max_exact_n {
            if m < 2 {
                return Err(ClusterError::invalid("max_exact_n", "must be at least 2"));
            }
        }
        Ok(p)
    }

    pub fn check(self) -> Result<CheckedClusterParams, ClusterError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl ParamGuard for ClusterParams {
    type Checked = CheckedClusterParams;
    type Error = ClusterError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        ClusterParams::check_ref(self)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        ClusterParams::check(self)
    }
}

impl CheckedClusterParams {
    pub fn method(&self) -> Method {
        self.method
    }
    pub fn k(&self) -> Option<usize> {
        self.k
    }
    pub fn k_max(&self) -> Option<usize> {
        self.k_max
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn min_cluster_size(&self) -> Option<usize> {
        self.min_cluster_size
    }
    pub fn min_samples(&self) -> Option<usize> {
        self.min_samples
    }
    pub fn eps(&self) -> Option<f32> {
        self.eps
    }
    pub fn linkage(&self) -> Linkage {
        self.linkage
    }
    pub fn noise(&self) -> NoisePolicy {
        self.noise
    }
    pub fn n_runs(&self) -> usize {
        self.n_runs
    }
    pub fn max_iter(&self) -> u64 {
        self.max_iter
    }
    pub fn tolerance(&self) -> f32 {
        self.tolerance
    }
    /// Rows k-means fits its centroids on when clustering into `k` (the rest are assigned to
    /// the nearest centroid). Automatic unless set: measured on STL-10 and CIFAR-10 (k = 10,
    /// seeds 42 and 1–3), fitting on 2 000 or 4 000 of their 8 000–10 000 rows gave the same
    /// accuracy as fitting on all of them (within ±0.005, the spread between seeds), since a
    /// few hundred rows per cluster already pin a centroid down far more tightly than the
    /// cluster's spread; each fit row costs a full-width distance pass per Lloyd step.
    pub fn fit_sample_size(&self, k: usize) -> usize {
        self.fit_sample_size
            .unwrap_or_else(|| (FIT_ROWS_PER_CLUSTER * k).clamp(MIN_FIT_SAMPLE_SIZE, MAX_FIT_SAMPLE_SIZE))
            .max(k)
    }
    pub fn selection_sample_size(&self) -> usize {
        self.selection_sample_size
    }

    /// Row limit of the O(n^2) step for this method (only agglomerative has one).
    pub fn max_exact_n(&self) -> usize {
        self.max_exact_n.unwrap_or(match self.method {
            Method::Agglomerative => 10_000,
            Method::KMeans | Method::Hdbscan | Method::Dbscan => usize::MAX,
        })
    }

    /// `min(30, floor(sqrt(n)))`, at least 2, unless set.
    pub fn k_max_for(&self, n: usize) -> usize {
        self.k_max.unwrap_or_else(|| ((n as f64).sqrt() as usize).clamp(2, 30))
    }
}

/// Score of one candidate k during automatic selection.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KScore {
    pub k: usize,
    /// Mean silhouette in [-1, 1]; higher is better.
    pub score: f32,
}

/// How k was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KSelection {
    /// Scoring rule, e.g. `"silhouette-cosine"`.
    pub criterion: String,
    /// One entry per candidate k, ascending.
    pub scores: Vec<KScore>,
    /// Rows the candidates were scored on.
    pub sample_size: usize,
}

/// Result of [`fit`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// One label per input row, `0..k`, ordered by cluster size (0 = largest); -1 = noise.
    pub labels: Vec<i64>,
    /// Number of clusters actually found (noise excluded).
    pub k: usize,
    pub k_chosen_automatically: bool,
    pub selection: Option<KSelection>,
    pub method: Method,
    /// Rows the model itself was fit on; fewer than `labels.len()` means the rest were
    /// assigned to the nearest cluster afterwards.
    pub fit_rows: usize,
    /// Per row, how typical it is of its cluster, where the fit measured that on the way
    /// (k-means over joined rows: `x·c − |c|²/2` for its centroid `c`, higher = nearer).
    pub typicality: Option<Vec<f32>>,
    /// DBSCAN/HDBSCAN with noise assigned: how many noise rows were put in a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_reassigned: Option<usize>,
    /// DBSCAN/HDBSCAN: the settings they ran with, given or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensitySettings>,
}

impl Clustering {
    /// DBSCAN's radius as it ran (Euclidean in the density space).
    pub fn eps(&self) -> Option<f32> {
        self.density.and_then(|d| d.eps).map(|e| e.value)
    }

    pub fn noise_count(&self) -> usize {
        self.labels.iter().filter(|&&l| l < 0).count()
    }

    /// Rows per cluster, indexed by label.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.k];
        for &l in &self.labels {
            if l >= 0 {
                sizes[l as usize] += 1;
            }
        }
        sizes
    }
}

/// Cluster the rows of `x` (one embedding per row) as configured by `params`.
///
/// Rows are L2-normalised first (see the module docs). All randomness comes from
/// `params.seed()`, so equal inputs and parameters give equal results.
///
/// # Errors
/// Empty input or zero columns, a NaN/infinite or all-zero row, `k` above the row count
/// (k-means, agglomerative), too few rows to choose k automatically (< 3), or a failure
/// reported by a backend crate.
pub fn fit(x: ArrayView2<f32>, params: &CheckedClusterParams) -> Result<Clustering, ClusterError> {
    let x = geometry::unit_rows(x)?;
    let x = x.view();
    let n = x.nrows();
    if let Some(k) = params.k {
        if params.method.takes_k() && k > n {
            return Err(ClusterError::KTooLarge { k, n });
        }
    }
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);

    let (k, selection) = match (params.method.takes_k(), params.k) {
        (true, None) => {
            let sel = select::choose_k(x, params, &mut rng)?;
            (Some(sel.best_k), Some(sel))
        }
        (_, k) => (k, None),
    };

    let mut selection = selection;
    let reusable = selection.as_mut().and_then(|s| s.reusable_labels.take());
    let raw = match (params.method, reusable) {
        (method, Some(labels)) => {
            // The scored sample was the whole input; k-means may still have fit a subsample.
            let fit_rows = match method {
                Method::KMeans => n.min(params.fit_sample_size(k.unwrap_or(1))),
                _ => n,
            };
            RawClustering::plain(labels, fit_rows)
        }
        (Method::KMeans, None) => kmeans::fit(x, k.unwrap_or(1), params, &mut rng)?,
        (Method::Agglomerative, None) => agglomerative::fit(x, k.unwrap_or(1), params, &mut rng)?,
        (Method::Dbscan, None) => density::dbscan(x, density_k_hint(k, n, params), params, &mut rng),
        (Method::Hdbscan, None) => density::hdbscan(x, density_k_hint(k, n, params), params, &mut rng),
    };

    let (labels, k_found) = geometry::relabel_by_size(&raw.labels);
    Ok(Clustering {
        labels,
        k: k_found,
        k_chosen_automatically: selection.is_some(),
        selection: selection.map(|s| s.report),
        method: params.method,
        fit_rows: raw.fit_rows,
        typicality: None,
        noise_reassigned: raw.noise_reassigned,
        density: raw.density,
    })
}

/// The K that shapes the density methods' smallest cluster: the one given, else the automatic
/// selection's largest candidate.
fn density_k_hint(k: Option<usize>, n: usize, params: &CheckedClusterParams) -> usize {
    k.unwrap_or_else(|| params.k_max_for(n)).max(1)
}

/// [`fit`] for [`Rows`]. Joined rows are clustered without joining them all into one matrix
/// where that is exact and worth it: k-means with a given `k` on more rows than
/// `fit_sample_size`, rows already unit length. Otherwise they are joined and passed to
/// [`fit`]. Labels are the same either way.
pub fn fit_rows(rows: Rows<'_>, params: &CheckedClusterParams) -> Result<Clustering, ClusterError> {
    fit_rows_known(rows, params, false)
}

/// [`fit_rows`] for rows the caller knows to be unit vectors (as criterion conditioning makes
/// them): skips the pass over all rows that would check it. Rows that are not unit vectors
/// get labels that may differ from [`fit`]'s.
pub fn fit_unit_rows(rows: Rows<'_>, params: &CheckedClusterParams) -> Result<Clustering, ClusterError> {
    fit_rows_known(rows, params, true)
}

fn fit_rows_known(rows: Rows<'_>, params: &CheckedClusterParams, unit: bool) -> Result<Clustering, ClusterError> {
    let streamed = match (rows, params.k) {
        (Rows::Joined { .. }, Some(k)) => {
            params.method == Method::KMeans
                && rows.nrows() > params.fit_sample_size(k)
                && (unit || rows.all_unit(UNIT_NORM_TOLERANCE))
        }
        _ => false,
    };
    let Some(k) = params.k.filter(|_| streamed) else {
        return fit(rows.to_dense().view(), params);
    };
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    let (raw, typicality) = kmeans::fit_streamed(&rows, k, params, &mut rng)?;
    let (labels, k_found) = geometry::relabel_by_size(&raw.labels);
    Ok(Clustering {
        labels,
        k: k_found,
        k_chosen_automatically: false,
        selection: None,
        method: params.method,
        fit_rows: raw.fit_rows,
        typicality: Some(typicality),
        noise_reassigned: None,
        density: None,
    })
}

/// A coarse k-means partition of `x` into `params.k` clusters (default 2): the best restart
/// in the rows' leading principal coordinates, without the full-width refinement [`fit`]
/// adds. For comparing partitions cheaply, not for results. Labels are not renumbered.
pub(crate) fn coarse_kmeans(x: ArrayView2<f32>, params: &CheckedClusterParams) -> Result<Vec<usize>, ClusterError> {
    let x = geometry::unit_rows(x)?;
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    kmeans::coarse(x.view(), params.k.unwrap_or(2), params, &mut rng)
}

/// k-means (linfa Lloyd steps, `params`' tolerance and iteration cap) started from the means
/// of a given partition instead of from seeds: a partition that knows something the geometry
/// does not (e.g. categories named by an LLM) picks the basin, k-means settles the borders.
/// Label `j` of the result is the cluster that started as label `j` (no relabelling by size).
pub fn refine_kmeans(
    rows: Rows<'_>,
    labels: &[i64],
    k: usize,
    params: &CheckedClusterParams,
) -> Result<Vec<i64>, ClusterError> {
    if labels.len() != rows.nrows() {
        return Err(ClusterError::invalid("labels", format!("{} labels for {} rows", labels.len(), rows.nrows())));
    }
    let dense = rows.to_dense();
    let x = geometry::unit_rows(dense.view())?;
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    kmeans::refine(x.view(), labels, k, params, &mut rng)
}

/// k-means objective of a labelling: the mean squared distance of the rows (unit-normalised,
/// as clustering sees them) to their cluster's mean. Labels outside `0..k` are skipped.
pub fn mean_sq_distance(rows: Rows<'_>, labels: &[i64], k: usize) -> Result<f64, ClusterError> {
    let dense = rows.to_dense();
    let x = geometry::unit_rows(dense.view())?;
    let x = x.view();
    let keep: Vec<usize> =
        (0..x.nrows().min(labels.len())).filter(|&i| labels[i] >= 0 && (labels[i] as usize) < k).collect();
    if keep.is_empty() {
        return Ok(0.0);
    }
    let l: Vec<usize> = keep.iter().map(|&i| labels[i] as usize).collect();
    let sub = x.select(ndarray::Axis(0), &keep);
    let means = geometry::cluster_means(sub.view(), &l, k);
    let total: f64 = sub
        .rows()
        .into_iter()
        .zip(&l)
        .map(|(r, &c)| {
            let d = &r - &means.row(c);
            f64::from(d.dot(&d))
        })
        .sum();
    Ok(total / keep.len() as f64)
}

/// Labels straight from an algorithm (any non-negative ids, -1 noise) before relabelling.
struct RawClustering {
    labels: Vec<i64>,
    fit_rows: usize,
    noise_reassigned: Option<usize>,
    density: Option<DensitySettings>,
}

impl RawClustering {
    /// Labels of a method without noise or density settings.
    fn plain(labels: Vec<i64>, fit_rows: usize) -> Self {
        RawClustering { labels, fit_rows, noise_reassigned: None, density: None }
    }
}
