//! Image indexes from Python: building one (CLIP embeddings, captions imported or from vision
//! endpoints) and querying it in the image, caption or joined space, as the CLI does.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::err;
use super::index::{choice, client, query_options, FeatureMatrix, DEFAULT_MODEL};
use crate::cli::{Context, ImageIndexArgs};
use crate::embed::image::ClipSource;
use crate::query::{self, NamerKind, Space};
use crate::store::image_index::LoadedImageIndex;
use crate::TextEmbedding;

/// Builds (or updates) an image index from a folder, as `clusterby index FOLDER` does.
/// `captioners`: `(base_url, model, api_key_env)` of vision endpoints serving one model.
#[pyfunction]
#[pyo3(signature = (folder, out, clip="clip-vit-base-patch32", text_model=DEFAULT_MODEL, labels=None, label_column=None, captions=None, captioners=Vec::new(), caption_prompt=None, batch_size=32, ort_lib=None, threads=None, shard=None))]
#[allow(clippy::too_many_arguments)]
pub fn build_images(
    py: Python<'_>,
    folder: PathBuf,
    out: PathBuf,
    clip: &str,
    text_model: &str,
    labels: Option<PathBuf>,
    label_column: Option<String>,
    captions: Option<PathBuf>,
    captioners: Vec<(String, String, String)>,
    caption_prompt: Option<String>,
    batch_size: usize,
    ort_lib: Option<PathBuf>,
    threads: Option<usize>,
    shard: Option<&str>,
) -> PyResult<()> {
    let ctx = Context::new(ort_lib, threads);
    let shard = shard.map(str::parse::<crate::store::shard::Shard>).transpose().map_err(err)?;
    let captioners = captioners
        .into_iter()
        .map(|(url, model, key)| crate::llm::LlmConfig::new(url, model).with_api_key_env(key))
        .collect();
    let args = ImageIndexArgs {
        root: &folder,
        out: &out,
        clip,
        text_model,
        labels_csv: labels.as_deref(),
        label_column: label_column.as_deref(),
        batch_size,
        captions: captions.as_deref(),
        captioners,
        caption_prompt: caption_prompt.as_deref(),
        shard,
    };
    py.detach(|| crate::cli::index_images(&ctx, args).map_err(|e| e.to_string())).map_err(err)
}

/// An image index with CLIP's text encoder (and the caption encoder when it has captions),
/// loaded once.
#[pyclass(module = "clusterby._clusterby", unsendable)]
pub struct ImageIndex {
    dir: PathBuf,
    idx: LoadedImageIndex,
    clip_text: TextEmbedding,
    captions: Option<TextEmbedding>,
}

impl ImageIndex {
    /// The space asked for, or the one `clusterby cluster` would choose.
    fn space(&self, space: Option<&str>) -> PyResult<Space> {
        let space = match space {
            Some(s) => choice::<Space>("space", s)?,
            None if self.idx.captioned == self.idx.images.ids.len() && self.idx.captioned > 0 => Space::Both,
            None => Space::Image,
        };
        if space != Space::Image && self.captions.is_none() {
            return Err(PyValueError::new_err(format!("space={:?}: this image index has no captions", space.as_str())));
        }
        Ok(space)
    }
}

#[pymethods]
impl ImageIndex {
    #[staticmethod]
    #[pyo3(signature = (path, ort_lib=None, threads=None))]
    fn open(path: PathBuf, ort_lib: Option<PathBuf>, threads: Option<usize>) -> PyResult<Self> {
        let ctx = Context::new(ort_lib, threads);
        let idx = LoadedImageIndex::open(&path).map_err(err)?;
        let d = &idx.descriptor;
        let clip =
            ClipSource::parse(if d.clip_source.is_empty() { &d.clip_model } else { &d.clip_source }).map_err(err)?;
        let clip_text = clip.text_encoder(&ctx.runtime, ctx.threads).map_err(err)?;
        let captions = match &d.caption_model {
            Some(m) if idx.captioned > 0 => {
                Some(TextEmbedding::try_new(ctx.text_options(m).map_err(err)?.with_progress(false)).map_err(err)?)
            }
            _ => None,
        };
        Ok(ImageIndex { dir: path, idx, clip_text, captions })
    }

    fn __len__(&self) -> usize {
        self.idx.images.ids.len()
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Images with a caption.
    #[getter]
    fn captioned(&self) -> usize {
        self.idx.captioned
    }

    /// `(ids, captions, labels)`; captions `None` where an image has none.
    fn rows(&self) -> (Vec<String>, Vec<Option<String>>, Vec<Option<String>>) {
        let caps = self.idx.captions.iter().map(|c| (!c.is_empty()).then(|| c.clone())).collect();
        (self.idx.images.ids.clone(), caps, self.idx.images.labels.clone())
    }

    /// The features a query with these settings clusters, one row per image.
    #[pyo3(signature = (by, k=None, seed=42, exclude=Vec::new(), conditioning="values", space=None))]
    #[allow(clippy::too_many_arguments)]
    fn features(
        &mut self,
        py: Python<'_>,
        by: &str,
        k: Option<usize>,
        seed: u64,
        exclude: Vec<String>,
        conditioning: &str,
        space: Option<&str>,
    ) -> PyResult<FeatureMatrix> {
        let space = self.space(space)?;
        let opts = query_options(by, k, "kmeans", seed, exclude, conditioning, None, &self.dir)?;
        let (idx, clip, caps) = (&self.idx, &mut self.clip_text, self.captions.as_mut());
        let x = py
            .detach(|| query::image::features(idx, space, clip, caps, &opts).map_err(|e| e.to_string()))
            .map_err(err)?;
        Ok(FeatureMatrix::from_array(x))
    }

    /// One query; `space` "image", "caption" or "both" (default: both when every image has a
    /// caption, else image). Returns the result JSON.
    #[pyo3(signature = (by, k=None, method="kmeans", seed=42, exclude=Vec::new(), conditioning="values", space=None, llm=None, namer="keywords", **settings))]
    #[allow(clippy::too_many_arguments)]
    fn cluster(
        &mut self,
        py: Python<'_>,
        by: &str,
        k: Option<usize>,
        method: &str,
        seed: u64,
        exclude: Vec<String>,
        conditioning: &str,
        space: Option<&str>,
        llm: Option<(String, String, String)>,
        namer: &str,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let space = self.space(space)?;
        let opts = query_options(by, k, method, seed, exclude, conditioning, settings, &self.dir)?
            .with_namer(choice::<NamerKind>("namer", namer)?);
        let client = llm.map(client).transpose()?;
        let (idx, clip, caps) = (&self.idx, &mut self.clip_text, self.captions.as_mut());
        let mut result = py
            .detach(|| query::image::run(idx, space, clip, caps, &opts, client.as_ref()).map_err(|e| e.to_string()))
            .map_err(err)?;
        result.index = Some(self.dir.clone());
        serde_json::to_string(&result).map_err(err)
    }
}
