//! k-means: restarts compete cheaply in a sample's principal coordinates; the winner is
//! refined at full width by linfa's `KMeans` Lloyd steps (with [`FastL2`]); every row is
//! then assigned to its nearest centroid.
//!
//! Where the time goes, and why it is spent this way (10k captions x 625 conditioned
//! dimensions, 2 shared cores):
//! * restarts (`n_runs`; queries use 20) decide the basin: fewer let PPMI-7 end in a
//!   merged-and-split optimum for one seed in seven. At full width one Lloyd step on a
//!   2,000-row seed sample costs ~1 ms, so 20 restarts cost ~100 ms. In the seed sample's
//!   leading `2k` principal coordinates (`reduce`, one randomized power iteration) a restart
//!   costs about a millisecond, mostly greedy k-means++, and the four caption sets scored the
//!   same. Every restart takes three Lloyd steps; only the best quarter run to convergence
//!   (successive halving, see `survivors`);
//! * the winner's partition gives full-width means, refined with linfa Lloyd steps on the fit
//!   sample until a step improves the mean squared distance by less than `tolerance`
//!   (relative, default 1e-3);
//! * the fit sample is `fit_sample_size(k)` rows (300 per cluster, 3,000 to 50,000; see
//!   [`CheckedClusterParams::fit_sample_size`]): a few hundred rows per cluster pin the
//!   centroids down far more tightly than the clusters' spread, and assigning the rest costs
//!   one pass, which also scores every row against its centroid (`Clustering::typicality`,
//!   so that picking clusters' typical examples needs no second pass). Only samples are
//!   copied; the input is never duplicated here.
//!
//! Measured with `cargo bench --bench query_latency` (benches/results/latest.md).

use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use linfa_nn::distance::Distance;
use ndarray::{Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use rayon::prelude::*;

use super::geometry::{assign_nearest, sample_indices, sq_l2, FastL2};
use super::{CheckedClusterParams, ClusterError, Method, RawClustering, Rows};

/// Restarts compete on a sample of `max(SEED_MIN_ROWS, SEED_ROWS_PER_CLUSTER * k)` rows: plenty
/// to tell a good basin from a merged-and-split one (STL-10 and CIFAR-10 scored the same with
/// 1,000 as with 2,000 rows, seeds 42 and 1–3), at a fraction of a pass over all rows.
const SEED_MIN_ROWS: usize = 1_000;
const SEED_ROWS_PER_CLUSTER: usize = 100;

pub(super) fn fit(
    x: ArrayView2<f32>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<RawClustering, ClusterError> {
    let n = x.nrows();
    check_k(k, n)?;
    let m = params.fit_sample_size(k).min(n);
    let centroids = if m < n {
        let sample = x.select(Axis(0), &sample_indices(n, m, rng));
        centroids(sample.view(), k, params, rng)?
    } else {
        centroids(x, k, params, rng)?
    };
    let labels = assign_nearest(x, centroids.view()).into_iter().map(|l| l as i64).collect();
    Ok(RawClustering::plain(labels, m))
}

fn check_k(k: usize, n: usize) -> Result<(), ClusterError> {
    if k == 0 {
        return Err(ClusterError::invalid("k", "must be at least 1"));
    }
    if k > n {
        return Err(ClusterError::KTooLarge { k, n });
    }
    Ok(())
}

/// Lloyd iterations on `x` starting from the means of the clusters in `labels` (`0..k`;
/// others ignored; an empty cluster starts from a seeded random row). Cluster `j` of the
/// result is the one that started from cluster `j`, so labels keep their meaning (e.g. a name).
pub(super) fn refine(
    x: ArrayView2<f32>,
    labels: &[i64],
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<Vec<i64>, ClusterError> {
    let x = x.as_standard_layout();
    let x = x.view();
    let n = x.nrows();
    check_k(k, n)?;
    let mut init = Array2::<f32>::zeros((k, x.ncols()));
    let mut counts = vec![0usize; k];
    for (row, &l) in x.rows().into_iter().zip(labels) {
        if l >= 0 && (l as usize) < k {
            init.row_mut(l as usize).scaled_add(1.0, &row);
            counts[l as usize] += 1;
        }
    }
    for (c, &m) in counts.iter().enumerate() {
        if m == 0 {
            init.row_mut(c).assign(&x.row(rng.gen_range(0..n)));
        } else {
            init.row_mut(c).mapv_inplace(|v| v / m as f32);
        }
    }
    let (_, centres) = lloyd(x, init, params)?;
    Ok(assign_nearest(x, centres.view()).into_iter().map(|l| l as i64).collect())
}

/// [`fit`] for joined rows, which are cheaper to read a chunk at a time than to hold as one
/// matrix: the centroids come from the same seeded sample as in [`fit`] (so the labels are
/// the same), then every row is assigned chunk by chunk. Rows must be unit vectors. Also
/// returns each row's `x·c − |c|²/2` for its centroid `c` (see `Clustering::typicality`).
pub(super) fn fit_streamed(
    rows: &Rows<'_>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<(RawClustering, Vec<f32>), ClusterError> {
    let n = rows.nrows();
    check_k(k, n)?;
    let m = params.fit_sample_size(k).min(n);
    let sample = if m < n { rows.select(&sample_indices(n, m, rng)) } else { rows.to_dense().into_owned() };
    let centroids = centroids(sample.view(), k, params, rng)?;
    drop(sample);
    let (labels, typicality) = rows.nearest_with_scores(centroids.view());
    let labels = labels.into_iter().map(|l| l as i64).collect();
    Ok((RawClustering::plain(labels, m), typicality))
}

pub(super) fn centroids(
    x: ArrayView2<f32>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<Array2<f32>, ClusterError> {
    // Contiguous rows let `FastL2` take its slice kernel.
    let x = x.as_standard_layout();
    let x = x.view();
    let n = x.nrows();
    let seed_rows = (SEED_ROWS_PER_CLUSTER * k).max(SEED_MIN_ROWS).min(n);
    let seed_x = (seed_rows < n).then(|| x.select(Axis(0), &sample_indices(n, seed_rows, rng)));
    let seed_view = seed_x.as_ref().map_or(x, |s| s.view());
    // Restarts compete on the seed sample, where they are cheap; only the winner is refined
    // on all rows.
    let (reduced, centres) = compete(seed_view, k, params, rng)?;
    let centres = match &reduced {
        None if seed_x.is_none() => return Ok(centres),
        None => centres,
        Some(z) => full_width_means(seed_view, &assign_nearest(z.view(), centres.view()), &centres, z.view(), k),
    };
    Ok(lloyd(x, centres, params)?.1)
}

/// Labels of the best of `params.n_runs()` restarts run in the leading principal coordinates
/// of `x` only (no full-width refinement): a cheap partition for comparing partitions, e.g.
/// how far two feature spaces agree. Rows should be unit vectors.
pub(super) fn coarse(
    x: ArrayView2<f32>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<Vec<usize>, ClusterError> {
    check_k(k, x.nrows())?;
    let (reduced, centres) = compete(x, k, params, rng)?;
    let z = match &reduced {
        Some(z) => z.view(),
        None => x.view(),
    };
    Ok(assign_nearest(z, centres.view()))
}

/// The best of `params.n_runs()` restarts, run in the leading principal coordinates of `x`
/// (see `reduce`): at 2,000 x 625 a full-width Lloyd step costs ~1 ms, so 20 restarts would
/// cost more than the rest of a query. Returns those coordinates (`None` when `x` is already
/// narrow, and the restarts ran on `x` itself) and the winning centres in them. Each restart
/// draws from its own stream, seeded from `rng`, so that restarts can run in parallel and
/// still give the same result on any number of threads.
fn compete(
    x: ArrayView2<f32>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<(Option<Array2<f32>>, Array2<f32>), ClusterError> {
    let reduced = (x.ncols() > reduced_width(k))
        .then(|| super::reduce::principal_coordinates(x, reduced_width(k), rng))
        .flatten();
    let z = match &reduced {
        Some(z) => z.view(),
        None => x.view(),
    };
    let z = z.as_standard_layout();
    let w = z.ncols();
    let rows = NarrowRows::new(z.as_slice().expect("standard layout"), w);
    let seeds: Vec<u64> = (0..params.n_runs()).map(|_| rng.gen()).collect();
    // Successive halving: every restart takes a few Lloyd steps, and only the lowest
    // inertias so far run to convergence.
    let mut runs: Vec<(usize, Restart)> = seeds
        .par_iter()
        .enumerate()
        .map(|(i, &s)| {
            let mut r = Restart::seed(&rows, k, &mut Xoshiro256Plus::seed_from_u64(s));
            r.run(&rows, params, PROBE_STEPS);
            (i, r)
        })
        .collect();
    // Lowest inertia first; ties go to the earlier restart.
    runs.sort_by(|a, b| a.1.inertia.total_cmp(&b.1.inertia).then(a.0.cmp(&b.0)));
    runs.truncate(survivors(params.n_runs()));
    runs.par_iter_mut().for_each(|(_, r)| r.run(&rows, params, u64::MAX));
    let (_, best) = runs
        .into_iter()
        .min_by(|a, b| a.1.inertia.total_cmp(&b.1.inertia).then(a.0.cmp(&b.0)))
        .ok_or_else(|| ClusterError::invalid("n_runs", "must be at least 1"))?;
    let centres = Array2::from_shape_vec((k, w), best.centres).expect("k rows of w values");
    Ok((reduced, centres))
}

/// Lloyd steps every restart takes before the field is cut (see [`survivors`]).
const PROBE_STEPS: u64 = 3;

/// Restarts that run to convergence out of `n_runs`: the lowest inertias after
/// [`PROBE_STEPS`] steps. Most restarts' basins show by then, and a restart costs mostly its
/// greedy seeding; with 20 restarts (as queries use) the field is cut to 5, which halved the
/// restarts' time and gave the same ACC on the four caption sets (seeds 42, 1–3; PPMI-7 over
/// 12 seeds 0.954–0.957, as with every restart run to convergence). Four restarts or fewer
/// (the caption weight's coarse partitions use 3) all run to convergence: cutting them moved
/// the weight in its third decimal, enough to flip Ward trees over the conditioned rows
/// (agglomerative on CIFAR-10: ACC 0.858 vs 0.775).
fn survivors(n_runs: usize) -> usize {
    if n_runs <= 4 {
        n_runs
    } else {
        n_runs.div_ceil(4)
    }
}

/// Width of the principal coordinates restarts compete in: `k` clusters' centroids span at
/// most `k - 1` directions, doubled for the spread around them (Cohen et al.: `k / ε`
/// directions keep every partition's cost within `1 + ε`; the winner is refined at full width
/// anyway). On the four caption sets 2k and 4k gave the same accuracy for seeds 42, 1, 2.
fn reduced_width(k: usize) -> usize {
    (2 * k).max(16)
}

/// Full-width means of the clusters of `labels`; a cluster left empty keeps the row of `x`
/// whose reduced coordinates are nearest its reduced centre.
fn full_width_means(
    x: ArrayView2<f32>,
    labels: &[usize],
    reduced_centres: &Array2<f32>,
    z: ArrayView2<f32>,
    k: usize,
) -> Array2<f32> {
    let (mut sums, counts) = super::geometry::cluster_sums(x, labels, k);
    for (c, (mut row, &m)) in sums.rows_mut().into_iter().zip(&counts).enumerate() {
        if m > 0 {
            row /= m as f32;
        } else {
            let i = (0..z.nrows())
                .min_by(|&a, &b| {
                    FastL2
                        .rdistance(z.row(a), reduced_centres.row(c))
                        .total_cmp(&FastL2.rdistance(z.row(b), reduced_centres.row(c)))
                })
                .unwrap_or(0);
            row.assign(&x.row(i));
        }
    }
    sums
}

/// Lloyd iterations, one linfa step at a time so that we own the stopping rule: stop when a
/// step lowers the mean squared distance by less than `tolerance` (relative). linfa's own rule
/// (absolute centroid shift) keeps iterating on weakly clustered embeddings long after the
/// labels have settled. Returns (mean squared distance, centroids).
fn lloyd(
    x: ArrayView2<f32>,
    init: Array2<f32>,
    params: &CheckedClusterParams,
) -> Result<(f32, Array2<f32>), ClusterError> {
    let k = init.nrows();
    let data = DatasetBase::from(x);
    let mut centres = init;
    let mut prev = f32::INFINITY;
    for _ in 0..params.max_iter() {
        // The RNG is cloned by linfa but never drawn from with a precomputed init.
        let model = KMeans::params_with(k, Xoshiro256Plus::seed_from_u64(0), FastL2)
            .n_runs(1)
            .init_method(KMeansInit::Precomputed(centres.clone()))
            .max_n_iterations(1)
            .fit(&data)
            .map_err(|e| ClusterError::Backend { method: Method::KMeans, reason: e.to_string() })?;
        // `inertia` is measured against the centres the step started from.
        let inertia = model.inertia();
        centres = model.centroids().clone();
        if prev - inertia <= params.tolerance() * inertia {
            prev = inertia;
            break;
        }
        prev = inertia;
    }
    Ok((prev, centres))
}

/// One restart on narrow rows (the seed sample's principal coordinates), single-threaded
/// since restarts already run side by side: greedy k-means++, then Lloyd steps until one
/// lowers the mean squared distance by less than `tolerance` (relative).
struct Restart {
    centres: Vec<f32>,
    /// Mean squared distance to the centres before the last step (∞ before the first).
    inertia: f64,
    steps: u64,
    converged: bool,
}

impl Restart {
    fn seed(x: &NarrowRows<'_>, k: usize, rng: &mut impl Rng) -> Self {
        Self { centres: greedy_kmeans_pp(x.xs, &x.sq, x.w, k, rng), inertia: f64::INFINITY, steps: 0, converged: false }
    }

    /// Lloyd steps until convergence, the iteration cap, or `max_steps` more steps.
    fn run(&mut self, x: &NarrowRows<'_>, params: &CheckedClusterParams, max_steps: u64) {
        let (w, k) = (x.w, self.centres.len() / x.w);
        let mut sums = vec![0f32; k * w];
        let mut counts = vec![0usize; k];
        let mut scores = Vec::new();
        let stop = params.max_iter().min(self.steps.saturating_add(max_steps));
        while !self.converged && self.steps < stop {
            let near = NarrowCentres::new(&self.centres, w);
            sums.iter_mut().for_each(|v| *v = 0.0);
            counts.iter_mut().for_each(|v| *v = 0);
            let mut inertia = 0f64;
            let kp = near.padded_k();
            for (tile, tile_sq) in x.xs.chunks(ROW_TILE * w).zip(x.sq.chunks(ROW_TILE)) {
                near.distances(tile, tile_sq, &mut scores);
                for (r, d) in tile.chunks_exact(w).zip(scores.chunks_exact(kp)) {
                    let (best, d) = argmin(d);
                    inertia += f64::from(d);
                    counts[best] += 1;
                    sums[best * w..(best + 1) * w].iter_mut().zip(r).for_each(|(s, v)| *s += v);
                }
            }
            // `inertia` is measured against the centres this step started from.
            inertia /= x.sq.len() as f64;
            for (c, &m) in counts.iter().enumerate() {
                // An emptied cluster keeps its centre.
                if m > 0 {
                    let inv = 1.0 / m as f32;
                    self.centres[c * w..(c + 1) * w]
                        .iter_mut()
                        .zip(&sums[c * w..(c + 1) * w])
                        .for_each(|(o, s)| *o = s * inv);
                }
            }
            self.converged = self.inertia - inertia <= f64::from(params.tolerance()) * inertia;
            self.inertia = inertia;
            self.steps += 1;
        }
    }
}

/// Narrow rows in row-major order with their squared lengths.
struct NarrowRows<'a> {
    xs: &'a [f32],
    sq: Vec<f32>,
    w: usize,
}

impl<'a> NarrowRows<'a> {
    fn new(xs: &'a [f32], w: usize) -> Self {
        Self { xs, sq: xs.chunks_exact(w).map(|r| r.iter().map(|v| v * v).sum()).collect(), w }
    }
}

/// Centres laid out for a small-block kernel on narrow rows: in groups of `LANES` centres,
/// coordinate `j` of the group's centres side by side, so one row's dot products with a group
/// are `w` multiply-adds into one register-held accumulator (per-pair distance calls on
/// 20-wide rows, or an accumulator in memory, cost several times more).
struct NarrowCentres {
    /// `ct[(g * w + j) * LANES + l]`: coordinate `j` of centre `g * LANES + l` (0 past `k`).
    ct: Vec<f32>,
    /// `|c|² / 2`; +∞ past `k`, so padding is never nearest.
    half_sq: Vec<f32>,
    w: usize,
}

const LANES: usize = 8;
/// Rows a kernel call works on together: one row's accumulator is a chain of dependent adds
/// (latency-bound), four rows' chains overlap.
const ROWS_AT_ONCE: usize = 4;

impl NarrowCentres {
    fn new(centres: &[f32], w: usize) -> Self {
        let k = centres.len() / w;
        let groups = k.div_ceil(LANES);
        let mut ct = vec![0f32; groups * w * LANES];
        let mut half_sq = vec![f32::INFINITY; groups * LANES];
        for (c, centre) in centres.chunks_exact(w).enumerate() {
            let (g, l) = (c / LANES, c % LANES);
            for (j, &v) in centre.iter().enumerate() {
                ct[(g * w + j) * LANES + l] = v;
            }
            half_sq[c] = 0.5 * centre.iter().map(|v| v * v).sum::<f32>();
        }
        Self { ct, half_sq, w }
    }

    /// Entries per row in the output of [`Self::distances`] (`k` rounded up to `LANES`).
    fn padded_k(&self) -> usize {
        self.half_sq.len()
    }

    /// Squared distances from each row of `xs` (row-major, `w` wide; squared lengths `sq`) to
    /// every centre, into `out` row by row, [`Self::padded_k`] entries per row (padding +∞).
    #[inline]
    fn distances(&self, xs: &[f32], sq: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.resize(sq.len() * self.padded_k(), 0.0);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: reached only on CPUs that report the feature the callee is compiled for.
            return unsafe { self.distances_avx(xs, sq, out) };
        }
        self.distances_portable(xs, sq, out)
    }

    /// The same multiplies and adds in 8-lane registers (twice the SSE width): the restarts'
    /// distances were the largest single cost of a 10k-caption query. No FMA, so that the
    /// rounding, and every partition, match the portable path.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn distances_avx(&self, xs: &[f32], sq: &[f32], out: &mut [f32]) {
        self.distances_portable(xs, sq, out)
    }

    #[inline(always)]
    fn distances_portable(&self, xs: &[f32], sq: &[f32], out: &mut [f32]) {
        let (w, kp) = (self.w, self.padded_k());
        let finish = |o: &mut [f32], a: &[f32; LANES], r_sq: f32, half: &[f32; LANES]| {
            // |r - c|² = |r|² - 2 r·c + |c|², clamped at 0 against rounding.
            for l in 0..LANES {
                o[l] = (r_sq + 2.0 * (half[l] - a[l])).max(0.0);
            }
        };
        let (halves, _) = self.half_sq.as_chunks::<LANES>();
        for (g, (block, half)) in self.ct.chunks_exact(w * LANES).zip(halves).enumerate() {
            let (cols, _) = block.as_chunks::<LANES>();
            let at = g * LANES..(g + 1) * LANES;
            let quads = xs.chunks_exact(ROWS_AT_ONCE * w).zip(sq.chunks_exact(ROWS_AT_ONCE));
            // Four rows at a time, each summed in the same order as on its own.
            for ((x4, sq4), o4) in quads.zip(out.chunks_exact_mut(ROWS_AT_ONCE * kp)) {
                let (r0, rest) = x4.split_at(w);
                let (r1, rest) = rest.split_at(w);
                let (r2, r3) = rest.split_at(w);
                let mut a = [[0f32; LANES]; ROWS_AT_ONCE];
                for ((((col, &v0), &v1), &v2), &v3) in cols.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
                    for l in 0..LANES {
                        a[0][l] += v0 * col[l];
                        a[1][l] += v1 * col[l];
                        a[2][l] += v2 * col[l];
                        a[3][l] += v3 * col[l];
                    }
                }
                for (q, (a, &r_sq)) in a.iter().zip(sq4).enumerate() {
                    finish(&mut o4[q * kp..][at.clone()], a, r_sq, half);
                }
            }
            let done = sq.len() / ROWS_AT_ONCE * ROWS_AT_ONCE;
            for (i, (r, &r_sq)) in xs.chunks_exact(w).zip(sq).enumerate().skip(done) {
                let mut a = [0f32; LANES];
                for (col, &v) in cols.iter().zip(r) {
                    for l in 0..LANES {
                        a[l] += v * col[l];
                    }
                }
                finish(&mut out[i * kp..][at.clone()], &a, r_sq, half);
            }
        }
    }
}

/// Index and value of the smallest of `d` (the first on ties).
#[inline]
fn argmin(d: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, &v) in d.iter().enumerate() {
        if v < best.1 {
            best = (c, v);
        }
    }
    best
}

/// Rows per [`NarrowCentres::distances`] call in the loops below: their distances stay in L1.
const ROW_TILE: usize = 64;

/// Greedy k-means++ (as in scikit-learn): each new centre is the best of `2 + ln k`
/// candidates drawn with probability proportional to squared distance, judged by how much
/// it lowers the total squared distance. Plain k-means++ (linfa's) too often puts two
/// centres in one well-separated group, a local optimum Lloyd iterations cannot leave; and
/// linfa recomputes distances to all chosen centres at every step (O(k^2 n)), while this
/// keeps a running minimum (O(k n log k)). Rows are `xs` in row-major order, `w` wide;
/// returns the centres the same way.
fn greedy_kmeans_pp(xs: &[f32], sq: &[f32], w: usize, k: usize, rng: &mut impl Rng) -> Vec<f32> {
    let n = sq.len();
    let row = |i: usize| &xs[i * w..(i + 1) * w];
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres = Vec::with_capacity(k * w);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(row(first));
    let mut closest: Vec<f32> = (0..n).map(|i| sq_l2(row(i), row(first))).collect();
    let mut cumsum = vec![0f64; n];
    let mut cand_dists = vec![0f32; n * trials];
    let mut scratch = Vec::new();
    for _ in 1..k {
        let mut acc = 0f64;
        for (cs, &d) in cumsum.iter_mut().zip(&closest) {
            acc += f64::from(d);
            *cs = acc;
        }
        let cands: Vec<usize> = (0..trials)
            .map(|_| {
                let target = rng.gen::<f64>() * acc;
                cumsum.partition_point(|&v| v < target).min(n - 1)
            })
            .collect();
        let probe: Vec<f32> = cands.iter().flat_map(|&c| row(c).iter().copied()).collect();
        let probe = NarrowCentres::new(&probe, w);
        let mut potentials = vec![0f64; trials];
        let kp = probe.padded_k();
        for (t, (tile, tile_sq)) in xs.chunks(ROW_TILE * w).zip(sq.chunks(ROW_TILE)).enumerate() {
            probe.distances(tile, tile_sq, &mut scratch);
            for (j, d) in scratch.chunks_exact(kp).enumerate() {
                let i = t * ROW_TILE + j;
                let out = &mut cand_dists[i * trials..(i + 1) * trials];
                for ((o, &d), p) in out.iter_mut().zip(d).zip(potentials.iter_mut()) {
                    *o = d.min(closest[i]);
                    *p += f64::from(*o);
                }
            }
        }
        // Ties go to the earlier candidate.
        let best = (0..trials).fold(0, |b, t| if potentials[t] < potentials[b] { t } else { b });
        centres.extend_from_slice(row(cands[best]));
        for (c, out) in closest.iter_mut().zip(cand_dists.chunks_exact(trials)) {
            *c = out[best];
        }
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_distances_match_pairwise_ones() {
        use rand::SeedableRng;
        let mut rng = Xoshiro256Plus::seed_from_u64(9);
        // 11 rows (two blocks of four and a tail of three), 10 centres (a padded second group).
        let (n, k, w) = (11, 10, 20);
        let xs: Vec<f32> = (0..n * w).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let centres: Vec<f32> = (0..k * w).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let rows = NarrowRows::new(&xs, w);
        let near = NarrowCentres::new(&centres, w);
        let mut out = Vec::new();
        near.distances(&xs, &rows.sq, &mut out);
        assert_eq!(out.len(), n * near.padded_k());
        for i in 0..n {
            let d = &out[i * near.padded_k()..(i + 1) * near.padded_k()];
            for c in 0..k {
                let want = sq_l2(&xs[i * w..(i + 1) * w], &centres[c * w..(c + 1) * w]);
                assert!((d[c] - want).abs() < 1e-4, "row {i} centre {c}: {} vs {want}", d[c]);
            }
            assert!(d[k..].iter().all(|v| v.is_infinite()), "padding is never nearest");
            assert_eq!(argmin(d).0, (0..k).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap());
        }
        // One row at a time gives the same bits as four at a time.
        for i in 0..n {
            let mut one = Vec::new();
            near.distances(&xs[i * w..(i + 1) * w], &rows.sq[i..i + 1], &mut one);
            assert_eq!(one, out[i * near.padded_k()..(i + 1) * near.padded_k()]);
        }
    }
}
