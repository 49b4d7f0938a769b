//! Tells the tests what this machine has, so that a test needing a model, the shared data or a
//! local LLM server is reported as ignored where that is missing, instead of passing without
//! running. With `CLUSTERBY_REQUIRE_MODELS=1` (what `scripts/test.sh` and CI set) every such
//! test runs, and fails when what it needs is missing.

use std::path::{Path, PathBuf};

fn env(key: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={key}");
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The cache the library uses (`util::paths::clusterby_home`).
fn clusterby_home() -> PathBuf {
    if let Some(h) = env("CLUSTERBY_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = env("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("clusterby");
    }
    env("HOME").map_or_else(|| PathBuf::from(".clusterby-cache"), |h| PathBuf::from(h).join(".cache").join("clusterby"))
}

/// Whether every path exists; each is watched so that installing it later rebuilds.
fn present(paths: &[PathBuf]) -> bool {
    paths.iter().all(|p| {
        println!("cargo:rerun-if-changed={}", p.display());
        p.exists()
    })
}

fn main() {
    let required = env("CLUSTERBY_REQUIRE_MODELS").is_some_and(|v| v == "1");
    let home = clusterby_home();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let has = [
        (
            "clusterby_text_model",
            vec![
                home.join("models/all-MiniLM-L6-v2/model.onnx"),
                home.join("models/all-MiniLM-L6-v2-int8/model.onnx"),
                home.join("runtime"),
            ],
        ),
        ("clusterby_shared_data", vec![root.join("../shared/data")]),
        ("clusterby_llm_server", vec![root.join(".venv/bin/python"), root.join(Path::new(".venv/lib"))]),
        ("clusterby_chromium", vec![PathBuf::from("/usr/bin/chromium")]),
    ];
    for (cfg, paths) in has {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if required || present(&paths) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
