//! Model catalogue, local model cache and bring-your-own-ONNX configuration.

mod catalogue;
pub mod hub;

pub use catalogue::{ModelFile, ModelInfo, ModelKind, ModelName};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::paths;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{name}`; known models: {known}")]
    Unknown { name: String, known: String },
    #[error(
        "model `{name}` is not installed (missing {missing}).\n  Download it: clusterby models pull {name}{}",
        .offline_build.map(|b| format!("\n  Or build it offline: {b}")).unwrap_or_default()
    )]
    NotInstalled { name: String, missing: PathBuf, offline_build: Option<&'static str> },
    #[error("model file not found: {0}")]
    MissingFile(PathBuf),
    #[error("bad model config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{0}")]
    Hub(#[from] crate::models::hub::HubError),
}

/// Folder that holds a catalogue model's files.
pub fn model_dir(name: ModelName) -> PathBuf {
    paths::models_dir().join(name.info().name)
}

/// The installed folder of a catalogue model, or a `NotInstalled` error naming the first missing file.
pub fn installed_dir(name: ModelName) -> Result<PathBuf, ModelError> {
    let dir = model_dir(name);
    let info = name.info();
    for f in info.files {
        let p = dir.join(f.local);
        if !p.is_file() {
            return Err(ModelError::NotInstalled {
                name: info.name.to_string(),
                missing: p,
                offline_build: info.offline_build,
            });
        }
    }
    Ok(dir)
}

/// Downloads a catalogue model's files from the Hugging Face hub into the cache (or checks them,
/// or copies them from the hub clients' own cache); returns the folder and what was done.
pub fn pull(
    name: ModelName,
    opts: &crate::models::hub::HubOptions,
) -> Result<(PathBuf, crate::models::hub::DownloadReport), ModelError> {
    let info = name.info();
    let dir = model_dir(name);
    let files: Vec<crate::models::hub::HubFile> = info
        .files
        .iter()
        .map(|f| crate::models::hub::HubFile {
            repo: info.repo.to_string(),
            revision: info.revision.to_string(),
            remote_path: f.remote.to_string(),
            local_name: f.local.to_string(),
            sha256: None,
        })
        .collect();
    let report = crate::models::hub::download_files(&files, &dir, info.name, opts)?;
    Ok((dir, report))
}

/// Re-hashes an installed model's files against its manifest (`clusterby-model.json`).
pub fn verify(name: ModelName) -> Result<PathBuf, ModelError> {
    let dir = installed_dir(name)?;
    crate::models::hub::verify_dir(&dir)?;
    Ok(dir)
}

/// How a text model's output becomes one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// Mean of `last_hidden_state` over the attention mask (sentence-transformers).
    Mean,
    /// The first token's hidden state.
    Cls,
    /// The graph already outputs one vector per input (CLIP `text_embeds`).
    None,
}

/// Config for a bring-your-own text model: `clusterby-model.json` next to `model.onnx` and
/// `tokenizer.json`, or passed explicitly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextModelConfig {
    pub dim: usize,
    #[serde(default = "default_pooling")]
    pub pooling: Pooling,
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// Output to read; default `last_hidden_state` for pooled models, `text_embeds` otherwise.
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default = "default_true")]
    pub normalize: bool,
}

fn default_pooling() -> Pooling {
    Pooling::Mean
}
fn default_max_length() -> usize {
    256
}
fn default_true() -> bool {
    true
}

impl TextModelConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::Config { path: path.into(), reason: e.to_string() })?;
        let cfg: Self =
            serde_json::from_str(&text).map_err(|e| ModelError::Config { path: path.into(), reason: e.to_string() })?;
        if cfg.dim == 0 || cfg.max_length == 0 {
            return Err(ModelError::Config { path: path.into(), reason: "`dim` and `max_length` must be > 0".into() });
        }
        Ok(cfg)
    }
}
