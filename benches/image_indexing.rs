//! Image-indexing throughput: the whole pipeline (discover, decode, Pillow-exact CLIP
//! preprocessing on rayon, ONNX Runtime batches, Parquet parts, file log) against a bare `ort`
//! session running the same model on tensors preprocessed beforehand.
//!
//! Run: `cargo bench --bench image_indexing` (needs `bash scripts/setup.sh`, and the CIFAR-10
//! test folder at ../shared/data/images/cifar10-test or CLUSTERBY_BENCH_IMAGES).
//! Models: the 66 KB CLIP-shaped test model (tests/data/tiny-clip), and a CLIP-vision-shaped
//! model with random weights and ViT-B/32's architecture and cost (onnx/make_bench_clip.py,
//! generated into target/bench-clip on first use), which stands in for the real
//! clip-vit-base-patch32 export that cannot be downloaded here.
//! Environment: BENCH_IMAGES (default 512), BENCH_REPEATS (default 3).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ort::session::SessionInputValue;
use ort::value::Tensor;

use clusterby::embed::image::{ClipPreprocessor, ClipSource, ImageEmbedding, ImageEmbeddingOptions};
use clusterby::embed::text::open_session;
use clusterby::store::image_files::{decode_file, DecodeLimits};
use clusterby::store::image_index::{index_folder, ImageIndexOptions};
use clusterby::RuntimeOptions;

const BATCH: usize = 32;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn bench_model_dir(root: &Path) -> Option<PathBuf> {
    let dir = root.join("target/bench-clip");
    if !dir.join("vision_model.onnx").is_file() {
        eprintln!("generating the ViT-B/32-cost bench model in {} ...", dir.display());
        let ok = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("onnx/make_bench_clip.py"))
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping the bench model: onnx/make_bench_clip.py failed (run bash scripts/setup.sh)");
            return None;
        }
    }
    let cfg = dir.join("config.json");
    if !cfg.is_file() {
        std::fs::write(&cfg, "{\"projection_dim\": 512, \"generator\": \"onnx/make_bench_clip.py\"}\n").ok()?;
    }
    Some(dir)
}

/// The whole pipeline into a fresh index; images/s over the wall time of `index_folder`.
fn pipeline(images: &Path, model: &Path, threads: usize) -> f64 {
    let src = ClipSource::Dir(model.to_path_buf());
    let mut enc =
        ImageEmbedding::try_new(ImageEmbeddingOptions::new(src.clone()).with_threads(threads).with_batch_size(BATCH))
            .unwrap();
    let out = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = index_folder(
        images,
        &out.path().join("idx"),
        &mut enc,
        &src,
        &ImageIndexOptions::default().with_progress(false),
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(r.skipped.is_empty());
    r.added as f64 / secs
}

/// The same model on the same images, decoded and preprocessed beforehand: inference only.
fn bare(tensors: &[Vec<f32>], model: &Path, threads: usize) -> f64 {
    let mut session = open_session(&model.join("vision_model.onnx"), threads, &RuntimeOptions::default()).unwrap();
    let t = Instant::now();
    for chunk in tensors.chunks(BATCH) {
        let data: Vec<f32> = chunk.concat();
        let x = Tensor::from_array(([chunk.len(), 3, 224, 224], data)).unwrap();
        let feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![(Cow::Borrowed("pixel_values"), x.into())];
        let out = session.run(feeds).unwrap();
        let (_, emb) = out.get("image_embeds").unwrap().try_extract_tensor::<f32>().unwrap();
        std::hint::black_box(emb);
    }
    tensors.len() as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: a smoke run only, nothing
    // written, no big model generated.
    let full = std::env::args().any(|a| a == "--bench");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = std::env::var_os("CLUSTERBY_BENCH_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/images/cifar10-test/images"));
    if !source.is_dir() {
        eprintln!("skipping: no image folder at {}", source.display());
        return;
    }
    let n = if full { env_usize("BENCH_IMAGES", 512) } else { 16 };
    let repeats = if full { env_usize("BENCH_REPEATS", 3).max(1) } else { 1 };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&source).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.truncate(n);
    let folder = tempfile::tempdir().unwrap();
    for f in &files {
        std::fs::copy(f, folder.path().join(f.file_name().unwrap())).unwrap();
    }
    let pre = ClipPreprocessor::default();
    let tensors: Vec<Vec<f32>> =
        files.iter().map(|f| pre.apply(&decode_file(f, &DecodeLimits::default()).unwrap()).unwrap()).collect();

    let mut rows = Vec::new();
    let mut models = vec![("tiny-clip (66 KB test model)", root.join("tests/data/tiny-clip"), repeats)];
    if let Some(d) = bench_model_dir(&root).filter(|_| full) {
        models.push(("ViT-B/32-cost CLIP vision (random weights)", d, repeats.min(2)));
    }
    for (name, dir, reps) in models {
        // Warm-up: first session creation and page cache.
        pipeline(folder.path(), &dir, threads);
        let p = median((0..reps).map(|_| pipeline(folder.path(), &dir, threads)).collect());
        let b = median((0..reps).map(|_| bare(&tensors, &dir, threads)).collect());
        println!("{name}: pipeline {p:.1} images/s, bare session {b:.1} images/s, ratio {:.3}", p / b);
        rows.push(format!("| {name} | {p:.1} | {b:.1} | {:.2} |", p / b));
    }
    let md = format!(
        "# Image indexing throughput\n\n`cargo bench --bench image_indexing` — {n} CIFAR-10 test images (32×32 PNG, upscaled to 224), \
         batch {BATCH}, {threads} threads, median of the runs.\n\n| model | pipeline images/s | bare ort session images/s | ratio |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    let out = root.join("benches/results/image_indexing.md");
    if full && std::fs::write(&out, md).is_ok() {
        println!("wrote {}", out.display());
    }
}
