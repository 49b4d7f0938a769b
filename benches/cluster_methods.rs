//! Time of each clustering method on synthetic unit vectors (the slow case for k-means: random
//! directions; the structured case: blobs), with automatic K. Prints one line per run.
//!
//! `cargo bench --bench cluster_methods` (`CLUSTERBY_BENCH_ONLY=dbscan,hdbscan` to pick).

use std::time::Instant;

use clusterby::cluster::{fit, ClusterParams, Method};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn unit_rows(mut x: Array2<f32>) -> Array2<f32> {
    for mut r in x.axis_iter_mut(Axis(0)) {
        let n = r.dot(&r).sqrt();
        r /= n;
    }
    x
}

/// `k` blobs on the unit sphere, `per` rows each, noise of relative size `spread`.
fn blobs(k: usize, per: usize, d: usize, spread: f32, seed: u64) -> Array2<f32> {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let centres = unit_rows(Array2::from_shape_fn((k, d), |_| gaussian(&mut rng)));
    let scale = spread / (d as f32).sqrt();
    unit_rows(Array2::from_shape_fn((k * per, d), |(i, j)| centres[[i % k, j]] + scale * gaussian(&mut rng)))
}

fn time(label: &str, x: &Array2<f32>, p: ClusterParams) {
    let p = p.check().expect("valid parameters");
    let t = Instant::now();
    let c = fit(x.view(), &p).expect("clustering");
    println!(
        "{label:<28} n={:>9}: {:>8.0} ms, k={:>3} noise={:>6} fit rows {}",
        x.nrows(),
        t.elapsed().as_secs_f64() * 1e3,
        c.k,
        c.noise_count(),
        c.fit_rows
    );
}

fn main() {
    let only = std::env::var("CLUSTERBY_BENCH_ONLY").unwrap_or_default();
    let want = |m: &str| only.is_empty() || only.split(',').any(|o| o == m);
    if want("kmeans") {
        for n in [10_000usize, 1_000_000] {
            let mut rng = Xoshiro256Plus::seed_from_u64(99);
            let x = unit_rows(Array2::from_shape_simple_fn((n, 384), || gaussian(&mut rng)));
            time("kmeans k=10 (random)", &x, ClusterParams::new(Method::KMeans).with_k(Some(10)));
        }
    }
    for n in [5_000usize, 10_000, 20_000] {
        let x = blobs(20, n / 20, 384, 0.8, 21);
        if want("dbscan") {
            time("dbscan", &x, ClusterParams::new(Method::Dbscan));
        }
        if n <= 10_000 && want("hdbscan") {
            time("hdbscan", &x, ClusterParams::new(Method::Hdbscan));
        }
        if n >= 10_000 && want("agglomerative") {
            time("agglomerative k=20", &x, ClusterParams::new(Method::Agglomerative).with_k(Some(20)));
        }
    }
    if want("auto") {
        let x = blobs(20, 2_500, 384, 0.8, 22);
        time("kmeans auto-k", &x, ClusterParams::new(Method::KMeans));
        time("agglomerative auto-k", &x, ClusterParams::new(Method::Agglomerative));
    }
}
