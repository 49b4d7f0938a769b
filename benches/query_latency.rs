//! Query latency on synthetic data: criterion embedding + conditioning + k-means + naming (no
//! LLM), K = 10, for N = 1k, 10k, 100k, 1M 384-d vectors, each N in its own process so that the
//! peak RSS it reports belongs to that N alone.
//!
//! Each line is the median of 11 timed queries (5 at 100k, 3 at 1M) after one warm-up query,
//! with that query's stage timings. Peak RSS is the process's VmHWM, reset before the timed queries, so
//! it covers the data, the loaded model and the queries (not the index-time work).
//!
//! Run: `cargo bench --bench query_latency` (optionally followed by sizes, e.g. `-- 1000 10000`).
//! Needs the MiniLM model (bash scripts/setup.sh) for the criterion embedding. For profiling:
//! `CLUSTERBY_BENCH_REPS` sets the number of timed queries, `CLUSTERBY_BENCH_CONDITIONING` runs
//! one conditioning method only. `CLUSTERBY_BENCH_INDEX=DIR` (with `CLUSTERBY_BENCH_BY=CRITERION`)
//! times queries on a caption index instead, e.g. `target/ablation/cifar10` as `clusterby
//! ablate` builds it.

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr_free::normal;

use clusterby::query::{self, QueryOptions};
use clusterby::store::caption_index::LoadedIndex;
use clusterby::{ModelName, TextEmbedding, TextEmbeddingOptions, TextModelSource};

const DIM: usize = 384;
const K: usize = 10;

mod rand_distr_free {
    use rand::Rng;
    /// Standard normal by Box–Muller (avoids another dependency).
    pub fn normal(rng: &mut impl Rng) -> f32 {
        let (u1, u2): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

fn synthetic(n: usize) -> LoadedIndex {
    let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(1);
    let centres: Vec<Vec<f32>> = (0..K).map(|_| (0..DIM).map(|_| normal(&mut rng)).collect()).collect();
    let objects = ["cat", "dog", "car", "ship", "bird", "horse", "truck", "frog", "plane", "deer"];
    let fillers = ["small", "red", "wooden", "near", "tree", "road", "water", "grass", "sky", "table", "blue", "old"];
    let mut emb = Array2::<f32>::zeros((n, DIM));
    let mut captions = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % K;
        let mut row = emb.row_mut(i);
        for (j, x) in row.iter_mut().enumerate() {
            *x = centres[c][j] + 1.5 * normal(&mut rng);
        }
        let norm = row.dot(&row).sqrt();
        row /= norm;
        captions.push(format!(
            "The image features a {} {} next to a {} {}.",
            fillers[rng.gen_range(0..fillers.len())],
            objects[c],
            fillers[rng.gen_range(0..fillers.len())],
            fillers[rng.gen_range(0..fillers.len())]
        ));
    }
    LoadedIndex { ids: (0..n).map(|i| i.to_string()).collect(), captions, labels: vec![None; n], embeddings: emb }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A caption index to time instead of synthetic data (`CLUSTERBY_BENCH_INDEX`, criterion
/// `CLUSTERBY_BENCH_BY`, K = 10): synthetic captions have a vocabulary of 22 words, real ones
/// hundreds of criterion values, which the values conditioning pays for.
struct RealIndex {
    dir: std::path::PathBuf,
    criterion: String,
}

fn one(n: usize, real: Option<&RealIndex>) {
    // As the `clusterby` binary does.
    clusterby::util::allocator::reuse_freed_buffers();
    if clusterby::models::installed_dir(ModelName::AllMiniLmL6V2).is_err() {
        println!("skipping: all-MiniLM-L6-v2 not installed (bash scripts/setup.sh)");
        return;
    }
    let data = match real {
        Some(r) => {
            clusterby::store::caption_index::Index::open(&r.dir).and_then(|i| i.load()).expect("CLUSTERBY_BENCH_INDEX")
        }
        None => synthetic(n),
    };
    let n = data.ids.len();
    let matrix_mb = (n * data.embeddings.ncols() * 4) as f64 / 1048576.0;
    let mut enc =
        TextEmbedding::try_new(TextEmbeddingOptions::new(TextModelSource::Catalogue(ModelName::AllMiniLmL6V2)))
            .unwrap();
    let temp = tempfile::tempdir().unwrap();
    // The criterion-free vocabulary cache, as `clusterby index` builds it (an index keeps its own).
    let cache = real.map_or(temp.path(), |r| r.dir.as_path());
    clusterby::conditioning::Vocabulary::load_or_build(Some(cache), &data.captions, &mut enc).unwrap();
    let criterion = real.map_or("object", |r| r.criterion.as_str());
    let only = std::env::var("CLUSTERBY_BENCH_CONDITIONING").ok();
    for conditioning in clusterby::conditioning::Conditioning::ALL {
        if only.as_deref().is_some_and(|c| c != conditioning.as_str()) {
            continue;
        }
        let mut opts = QueryOptions::new(criterion).with_k(Some(K)).with_conditioning(conditioning);
        opts.cache_dir = Some(cache.to_path_buf());
        // Warm-up (loads and initialises what a first query would).
        query::run(&data, &mut enc, &opts, None).unwrap();
        // The peak of the queries alone: the warm-up did index-time work whose memory is not
        // part of a query.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        // Median of several queries: single timings on this shared 2-core VM vary by ±20%.
        let reps = std::env::var("CLUSTERBY_BENCH_REPS")
            .ok()
            .and_then(|r| r.parse::<usize>().ok())
            .filter(|&r| r > 0)
            .unwrap_or(if n >= 1_000_000 {
                3
            } else if n >= 100_000 {
                5
            } else {
                11
            });
        let mut runs: Vec<(f64, String)> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                let r = query::run(&data, &mut enc, &opts, None).unwrap();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let parts: Vec<String> = r.timings_ms.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
                (ms, parts.join(", "))
            })
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ms, parts) = &runs[reps / 2];
        println!(
            "N={n:>8} conditioning={:<6} query {ms:>9.1} ms (median of {reps}; min {:.1}, max {:.1})  [{parts}]  peak RSS {:.0} MB = {:.2}x the {:.0} MB matrix{}",
            conditioning.as_str(),
            runs[0].0,
            runs[reps - 1].0,
            peak_rss_mb(),
            peak_rss_mb() / matrix_mb,
            matrix_mb,
            if reset { "" } else { " (peak since start: /proc/self/clear_refs not writable)" }
        );
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if let Some(dir) = std::env::var_os("CLUSTERBY_BENCH_INDEX") {
        let criterion = std::env::var("CLUSTERBY_BENCH_BY").unwrap_or_else(|_| "object".into());
        one(0, Some(&RealIndex { dir: dir.into(), criterion }));
        return;
    }
    if let Ok(n) = std::env::var("CLUSTERBY_BENCH_N") {
        one(n.parse().expect("CLUSTERBY_BENCH_N"), None);
        return;
    }
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run only.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = match (sizes.is_empty(), full) {
        (false, _) => sizes,
        (true, true) => vec![1_000, 10_000, 100_000, 1_000_000],
        (true, false) => vec![1_000],
    };
    let exe = std::env::current_exe().expect("own path");
    for n in sizes {
        let st = std::process::Command::new(&exe).env("CLUSTERBY_BENCH_N", n.to_string()).status().expect("spawn");
        if !st.success() {
            println!("N={n}: failed ({st})");
        }
    }
}
