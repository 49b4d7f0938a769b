//! Indexing a folder of images: CLIP embeddings (and, separately, captions) cached on disk,
//! resumable after `kill -9` at any moment.
//!
//! ```text
//! INDEX/
//!   manifest.json, parts/   image embeddings: a regular clusterby index (id = relative path,
//!                           caption empty, label, embedding = CLIP image_embeds)
//!   images.json             what was indexed: the folder, the CLIP model, where labels came from
//!   files.jsonl             per file: size and mtime when indexed, or why it was skipped
//!   captions.jsonl          captioner answers per image (see `crate::store::image_index::captioning`)
//!   captions/               caption embeddings: a regular clusterby index over the same ids
//! ```
//!
//! A part is committed (atomically, by the store) before its files are logged as done, so a kill
//! between the two leaves stored rows without a log line; the next run logs them without
//! re-encoding. Decoding runs on a rayon pool one batch ahead of ONNX Runtime.

pub mod captioning;
mod merge;
pub mod pipeline;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use merge::{merge_images, ImageMergeReport};
pub use pipeline::{index_folder, ImageIndexOptions, ImageIndexReport, LabelSource};

use crate::store::caption_index::{Index, LoadedIndex};
use crate::store::IndexError;

pub const DESCRIPTOR_FILE: &str = "images.json";
pub const FILES_LOG: &str = "files.jsonl";
pub const CAPTIONS_DIR: &str = "captions";

#[derive(Debug, thiserror::Error)]
pub enum ImageIndexError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] crate::embed::text::EmbedError),
    #[error(transparent)]
    Labels(#[from] crate::store::image_files::LabelError),
    #[error(transparent)]
    Merge(#[from] crate::store::merge::MergeError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl ImageIndexError {
    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Io { path: path.to_path_buf(), message: e.to_string() }
    }
}

/// `images.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    pub kind: String,
    /// The image folder (absolute), so reports can find the files.
    pub root: PathBuf,
    pub clip_model: String,
    /// How to load that model again: a catalogue name or an absolute folder path.
    #[serde(default)]
    pub clip_source: String,
    /// Where labels came from: "file names", or "csv:<path>#<column>".
    pub labels: String,
    /// Text model of the `captions/` index, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_model: Option<String>,
}

impl Descriptor {
    pub fn read(dir: &Path) -> Result<Option<Self>, ImageIndexError> {
        let p = dir.join(DESCRIPTOR_FILE);
        if !p.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| ImageIndexError::io(&p, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| ImageIndexError::io(&p, e))
    }

    pub fn write(&self, dir: &Path) -> Result<(), ImageIndexError> {
        let p = dir.join(DESCRIPTOR_FILE);
        let body = serde_json::to_vec_pretty(self).map_err(|e| ImageIndexError::io(&p, e))?;
        crate::util::fs::write_atomic(&p, &body).map_err(|e| ImageIndexError::io(&p, e))
    }
}

/// True when `dir` holds an image index.
pub fn is_image_index(dir: &Path) -> bool {
    dir.join(DESCRIPTOR_FILE).is_file()
}

/// An image index in memory: image embeddings, and the captions with their embeddings where
/// the images have them (rows aligned with `images.ids`).
pub struct LoadedImageIndex {
    pub descriptor: Descriptor,
    pub images: LoadedIndex,
    /// Caption per image ("" where none).
    pub captions: Vec<String>,
    /// Caption embeddings (zero rows where no caption), when any image has a caption.
    pub caption_embeddings: Option<Array2<f32>>,
    pub captioned: usize,
}

impl LoadedImageIndex {
    pub fn open(dir: &Path) -> Result<Self, ImageIndexError> {
        let descriptor = Descriptor::read(dir)?.ok_or_else(|| {
            ImageIndexError::Invalid(format!("{}: not an image index (no {DESCRIPTOR_FILE})", dir.display()))
        })?;
        let images = Index::open(dir)?.load()?;
        let n = images.ids.len();
        let mut captions = vec![String::new(); n];
        let mut caption_embeddings = None;
        let mut captioned = 0;
        let cdir = dir.join(CAPTIONS_DIR);
        if cdir.join("manifest.json").is_file() {
            let c = Index::open(&cdir)?.load()?;
            let row_of: HashMap<&str, usize> = images.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
            let mut emb = Array2::<f32>::zeros((n, c.embeddings.ncols()));
            for (j, id) in c.ids.iter().enumerate() {
                if let Some(&i) = row_of.get(id.as_str()) {
                    captions[i] = c.captions[j].clone();
                    emb.row_mut(i).assign(&c.embeddings.row(j));
                    captioned += 1;
                }
            }
            caption_embeddings = Some(emb);
        }
        Ok(Self { descriptor, images, captions, caption_embeddings, captioned })
    }
}
