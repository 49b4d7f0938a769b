//! Where clusterby keeps its cache: models, the ONNX Runtime library, LLM answers.

use std::path::PathBuf;

/// `$CLUSTERBY_HOME`, else `$XDG_CACHE_HOME/clusterby`, else `~/.cache/clusterby`.
pub fn clusterby_home() -> PathBuf {
    if let Some(h) = non_empty_env("CLUSTERBY_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = non_empty_env("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("clusterby");
    }
    match non_empty_env("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("clusterby"),
        // No home at all (some CI sandboxes): a relative cache still works and is easy to find.
        None => PathBuf::from(".clusterby-cache"),
    }
}

pub fn models_dir() -> PathBuf {
    clusterby_home().join("models")
}

pub fn runtime_dir() -> PathBuf {
    clusterby_home().join("runtime")
}

pub(crate) fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}
