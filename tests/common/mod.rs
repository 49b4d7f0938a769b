//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use clusterby::models::{self, ModelName};

/// `../shared` beside the repository, where CI and developers keep reference data.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared")
}

/// True when a test that needs real models or reference data must fail rather than skip
/// (set by scripts/test.sh, which installs them first).
pub fn required() -> bool {
    std::env::var("CLUSTERBY_REQUIRE_MODELS").is_ok_and(|v| v == "1")
}

/// Skips (returns false) with a message when a catalogue model is missing, unless required.
pub fn have_model(m: ModelName) -> bool {
    match models::installed_dir(m) {
        Ok(_) => true,
        Err(e) if required() => panic!("model required by CLUSTERBY_REQUIRE_MODELS=1 but missing: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

pub fn have_file(p: &std::path::Path) -> bool {
    if p.exists() {
        return true;
    }
    if required() {
        panic!("required test data missing: {}", p.display());
    }
    eprintln!("skipping: {} not found", p.display());
    false
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clusterby"))
}
