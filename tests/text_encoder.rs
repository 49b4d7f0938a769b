//! The text encoder against the reference implementation (sentence-transformers) and its errors.

mod common;

use std::process::Command;

use clusterby::{ModelName, TextEmbedding, TextEmbeddingOptions, TextModelSource};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    items: Vec<GoldenItem>,
}
#[derive(Deserialize)]
struct GoldenItem {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn golden() -> Golden {
    let p = common::require_file(common::shared_dir().join("data/reference/minilm-golden.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn encoder(m: ModelName, batch: usize) -> TextEmbedding {
    TextEmbedding::try_new(TextEmbeddingOptions::new(TextModelSource::Catalogue(m)).with_batch_size(batch)).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn fp32_matches_sentence_transformers() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let g = golden();
    // Batched (padding + length sorting) and one-by-one must both match.
    for batch in [1, 16] {
        let mut enc = encoder(ModelName::AllMiniLmL6V2, batch);
        let texts: Vec<&str> = g.items.iter().map(|i| i.text.as_str()).collect();
        let emb = enc.embed(&texts).unwrap();
        assert_eq!(emb.dim(), (g.items.len(), 384));
        let mut worst = 0f32;
        for (i, item) in g.items.iter().enumerate() {
            for (x, y) in emb.row(i).iter().zip(&item.embedding) {
                worst = worst.max((x - y).abs());
            }
        }
        eprintln!("fp32 batch {batch}: max abs diff {worst:e}");
        assert!(worst <= 1e-5, "max abs diff {worst} > 1e-5");
    }
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn tokenizer_reproduces_reference_ids_and_truncates_at_256() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let g = golden();
    let enc = encoder(ModelName::AllMiniLmL6V2, 8);
    for item in &g.items {
        let e = enc.tokenizer().encode(item.text.as_str(), true).unwrap();
        assert_eq!(e.get_ids(), &item.token_ids[..], "token ids differ for {:?}", item.text);
        assert!(e.get_ids().len() <= 256);
    }
    assert!(g.items.iter().any(|i| i.token_ids.len() == 256), "golden set should hold a truncated text");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn int8_is_close_in_cosine() {
    common::require_model(ModelName::AllMiniLmL6V2Int8);
    let g = golden();
    let mut enc = encoder(ModelName::AllMiniLmL6V2Int8, 16);
    let texts: Vec<&str> = g.items.iter().map(|i| i.text.as_str()).collect();
    let emb = enc.embed(&texts).unwrap();
    let worst = g
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| cosine(emb.row(i).as_slice().unwrap(), &item.embedding))
        .fold(1f32, f32::min);
    eprintln!("int8: min cosine {worst}");
    assert!(worst >= 1.0 - 2e-2, "min cosine {worst} < 0.98");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn embed_text_cli_writes_npy() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.npy");
    let st = Command::new(common::bin())
        .args(["embed-text", "a red car", "a calm lake at dawn", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let a = clusterby::util::npy::read_f32(&out).unwrap();
    assert_eq!(a.dim(), (2, 384));
    let n: f32 = a.row(0).iter().map(|x| x * x).sum();
    assert!((n - 1.0).abs() < 1e-4);
}

fn run_cli(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let mut c = Command::new(common::bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn missing_runtime_library_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    // A model folder that exists, so the failure is the runtime's.
    let mdir = home.path().join("byo");
    std::fs::create_dir_all(&mdir).unwrap();
    std::fs::write(mdir.join("model.onnx"), b"x").unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-clip/tokenizer.json"),
        mdir.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(mdir.join("clusterby.json"), br#"{"dim": 32}"#).unwrap();
    let (ok, err) = run_cli(
        &[("CLUSTERBY_HOME", h), ("CLUSTERBY_ORT_LIB", "/nonexistent/libonnxruntime.so")],
        &[
            "embed-text",
            "hello",
            "--model",
            mdir.to_str().unwrap(),
            "--out",
            home.path().join("o.npy").to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("ONNX Runtime library not found") && err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    assert!(err.contains("install_runtime.sh"), "{err}");
    // A file that is not a shared library.
    let fake = home.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a library").unwrap();
    let (ok, err) = run_cli(
        &[("CLUSTERBY_HOME", h), ("CLUSTERBY_ORT_LIB", fake.to_str().unwrap())],
        &[
            "embed-text",
            "hello",
            "--model",
            mdir.to_str().unwrap(),
            "--out",
            home.path().join("o.npy").to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("could not load ONNX Runtime") && err.contains(fake.to_str().unwrap()), "{err}");
}

#[test]
fn missing_model_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let (ok, err) = run_cli(&[("CLUSTERBY_HOME", home.path().to_str().unwrap())], &["embed-text", "hello"]);
    assert!(!ok);
    assert!(err.contains("not installed") && err.contains("clusterby models pull all-MiniLM-L6-v2"), "{err}");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn corrupt_model_file_is_a_clear_error() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let src = clusterby::models::installed_dir(ModelName::AllMiniLmL6V2).unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["tokenizer.json", "config.json", "clusterby-model.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    // A download cut short: the first 4 KB of the real model.
    let bytes = std::fs::read(src.join("model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &bytes[..4096]).unwrap();
    let rt = clusterby::embed::runtime::candidates(&Default::default());
    let lib = rt.iter().find(|p| p.is_file()).expect("runtime installed").to_str().unwrap().to_string();
    let env = [("CLUSTERBY_HOME", home.path().to_str().unwrap()), ("CLUSTERBY_ORT_LIB", lib.as_str())];
    let (ok, err) = run_cli(&env, &["embed-text", "hello", "--out", home.path().join("o.npy").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("cannot load ONNX model") && err.contains("model.onnx"), "{err}");
    let (ok, err) = run_cli(&env, &["models", "verify", "all-MiniLM-L6-v2"]);
    assert!(!ok);
    assert!(err.contains("model.onnx"), "{err}");
}
