//! Time of each clustering method on synthetic unit vectors (the slow case for k-means: random
//! directions; the structured case: blobs), with automatic K. Prints one line per run.
//!
//! `cargo bench --bench cluster_methods` (`CLUSTERBY_BENCH_ONLY=dbscan,hdbscan` to pick the
//! methods, `CLUSTERBY_BENCH_N=100000` the density methods' sizes). Without `--bench` (as
//! `cargo test --all-targets` runs it) a 2,000-row smoke run of each method only.

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
    if let Some(moved) = c.noise_reassigned {
        println!("{:<28} noise rows assigned to their nearest cluster: {moved}", "");
    }
}

fn main() {
    let only = std::env::var("CLUSTERBY_BENCH_ONLY").unwrap_or_default();
    let want = |m: &str| only.is_empty() || only.split(',').any(|o| o == m);
    if !std::env::args().any(|a| a == "--bench") {
        let x = blobs(20, 100, 384, 0.8, 21);
        for method in Method::ALL {
            time(method.as_str(), &x, ClusterParams::new(method).with_k(Some(20)));
        }
        return;
    }
    if want("kmeans") {
        for n in [10_000usize, 1_000_000] {
            let mut rng = Xoshiro256Plus::seed_from_u64(99);
            let x = unit_rows(Array2::from_shape_simple_fn((n, 384), || gaussian(&mut rng)));
            time("kmeans k=10 (random)", &x, ClusterParams::new(Method::KMeans).with_k(Some(10)));
        }
    }
    let sizes: Vec<usize> = std::env::var("CLUSTERBY_BENCH_N")
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![10_000, 100_000, 1_000_000]);
    for n in sizes {
        if !(want("dbscan") || want("hdbscan")) {
            break;
        }
        let x = blobs(20, n / 20, 384, 0.8, 21);
        if want("dbscan") {
            time("dbscan", &x, ClusterParams::new(Method::Dbscan));
        }
        if want("hdbscan") {
            time("hdbscan", &x, ClusterParams::new(Method::Hdbscan));
        }
    }
    for n in [10_000usize, 20_000] {
        let x = blobs(20, n / 20, 384, 0.8, 21);
        if want("agglomerative") {
            time("agglomerative k=20", &x, ClusterParams::new(Method::Agglomerative).with_k(Some(20)));
        }
    }
    if let Ok(path) = std::env::var("CLUSTERBY_BENCH_NPY") {
        anchor_run(&path);
    }
    if want("auto") {
        let x = blobs(20, 2_500, 384, 0.8, 22);
        time("kmeans auto-k", &x, ClusterParams::new(Method::KMeans));
        time("agglomerative auto-k", &x, ClusterParams::new(Method::Agglomerative));
    }
}

/// Runs per timing on a `.npy` matrix, at most.
const REPEATS: usize = 3;
/// Seconds of runs after which no further run is made.
const REPEAT_BUDGET_S: f64 = 2.0;

/// One method on a float32 `.npy` matrix written by a script under `benches/`
/// (`density_anchor.py`, `methods_anchor.py`), so the Python anchors can be timed on the same
/// rows: `CLUSTERBY_BENCH_METHOD` (default hdbscan), `CLUSTERBY_BENCH_K`, `CLUSTERBY_BENCH_MCS`,
/// `CLUSTERBY_BENCH_MS`, `CLUSTERBY_BENCH_EPS`, `CLUSTERBY_BENCH_RUNS` (k-means restarts, default 3), noise kept. Prints the time and writes the
/// labels next to the matrix.
fn anchor_run(path: &str) {
    let x = read_npy(path);
    let var = |k: &str| std::env::var(k).ok();
    let env = |k: &str| var(k).and_then(|v| v.parse().ok());
    let method = match var("CLUSTERBY_BENCH_METHOD").as_deref().unwrap_or("hdbscan") {
        "kmeans" => Method::KMeans,
        "agglomerative" => Method::Agglomerative,
        "dbscan" => Method::Dbscan,
        "hdbscan" => Method::Hdbscan,
        other => panic!("CLUSTERBY_BENCH_METHOD: unknown method {other:?}"),
    };
    let p = ClusterParams::new(method)
        .with_k(env("CLUSTERBY_BENCH_K"))
        .with_min_cluster_size(env("CLUSTERBY_BENCH_MCS"))
        .with_min_samples(env("CLUSTERBY_BENCH_MS"))
        .with_eps(var("CLUSTERBY_BENCH_EPS").and_then(|v| v.parse().ok()))
        .with_noise(clusterby::cluster::NoisePolicy::Keep)
        .with_n_runs(env("CLUSTERBY_BENCH_RUNS").unwrap_or(3))
        .check()
        .expect("valid parameters");
    // The fastest of up to REPEATS runs, repeating only while the runs so far took under
    // REPEAT_BUDGET_S: one run at 10k rows varies by about ±20 %. `methods_anchor.py` times the
    // anchors the same way.
    let (mut best, mut spent, mut runs) = (f64::INFINITY, 0.0, 0);
    let mut c = None;
    while runs < REPEATS && (runs == 0 || spent < REPEAT_BUDGET_S) {
        let t = Instant::now();
        c = Some(fit(x.view(), &p).expect("clustering"));
        let s = t.elapsed().as_secs_f64();
        (best, spent, runs) = (best.min(s), spent + s, runs + 1);
    }
    let c = c.expect("at least one run");
    println!(
        "anchor-run clusterby_seconds={:.3} k={} noise={} eps={}",
        best,
        c.k,
        c.noise_count(),
        c.eps().map_or("none".to_string(), |e| e.to_string())
    );
    let labels: Vec<String> = c.labels.iter().map(i64::to_string).collect();
    std::fs::write(format!("{path}.labels"), labels.join("\n")).expect("labels written");
}

/// A C-order little-endian float32 `.npy` file.
fn read_npy(path: &str) -> Array2<f32> {
    let bytes = std::fs::read(path).expect("npy file");
    assert!(bytes.starts_with(b"\x93NUMPY"), "{path} is not a .npy file");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(header.contains("'<f4'") && header.contains("False"), "{path}: need C-order float32");
    let shape = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).expect("shape");
    let dims: Vec<usize> = shape.split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let data = bytes[10 + header_len..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Array2::from_shape_vec((dims[0], dims[1]), data).expect("shape matches data")
}
