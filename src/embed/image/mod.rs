//! CLIP image (and text) encoders through ONNX Runtime, following the public CLIP ONNX exports
//! (Xenova/clip-vit-base-patch32 and `optimum` exports): `vision_model.onnx` takes
//! `pixel_values` [batch, 3, H, W] and returns `image_embeds` [batch, dim]; `text_model.onnx`
//! takes `input_ids` (and `attention_mask` when it declares one) and returns `text_embeds`;
//! `preprocessor_config.json` gives the resize/crop/normalisation. A user's downloaded export
//! therefore works unchanged, as do the CLIP-shaped test models in `tests/data/tiny-clip`.

pub mod preprocess;
pub mod resample;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;

pub use preprocess::{ClipPreprocessor, PreprocessError};

use crate::embed::runtime::RuntimeOptions;
use crate::embed::text::{
    l2_normalize_rows, open_session, EmbedError, TextEmbedding, TextEmbeddingOptions, TextModelSource,
};
use crate::models::{self, ModelError, ModelKind, ModelName, Pooling, TextModelConfig};

/// Where a CLIP model comes from: the catalogue, or a folder holding an export.
#[derive(Debug, Clone, PartialEq)]
pub enum ClipSource {
    Catalogue(ModelName),
    Dir(PathBuf),
}

impl ClipSource {
    /// A catalogue name (`clip-vit-base-patch32`) or a folder path.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s.parse::<ModelName>() {
            Ok(m) if m.info().kind == ModelKind::Clip => Ok(Self::Catalogue(m)),
            Ok(m) => Err(ModelError::Config {
                path: m.to_string().into(),
                reason: "a sentence encoder, not a CLIP model".into(),
            }),
            Err(e) => {
                let p = PathBuf::from(s);
                if p.is_dir() {
                    Ok(Self::Dir(p))
                } else {
                    Err(e)
                }
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Catalogue(m) => m.to_string(),
            Self::Dir(p) => p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()),
        }
    }

    pub fn dir(&self) -> Result<PathBuf, ModelError> {
        match self {
            Self::Catalogue(m) => models::installed_dir(*m),
            Self::Dir(p) => Ok(p.clone()),
        }
    }

    /// Embedding size: `projection_dim` of `config.json`, else the catalogue's.
    pub fn dim(&self) -> Result<usize, ModelError> {
        let dir = self.dir()?;
        let cfg = dir.join("config.json");
        if let Ok(text) = std::fs::read_to_string(&cfg) {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ModelError::Config { path: cfg.clone(), reason: e.to_string() })?;
            if let Some(d) = v.get("projection_dim").and_then(|d| d.as_u64()) {
                return Ok(d as usize);
            }
        }
        match self {
            Self::Catalogue(m) => Ok(m.info().dim),
            Self::Dir(_) => Err(ModelError::Config { path: cfg, reason: "no projection_dim".into() }),
        }
    }

    /// The CLIP text encoder of the same model, for criterion and vocabulary embeddings in the
    /// image space.
    pub fn text_encoder(&self, runtime: &RuntimeOptions, threads: Option<usize>) -> Result<TextEmbedding, EmbedError> {
        let dir = self.dir()?;
        let config = TextModelConfig {
            dim: self.dim()?,
            pooling: Pooling::None,
            max_length: 77,
            output: Some("text_embeds".into()),
            normalize: true,
        };
        let source = TextModelSource::UserDefined {
            onnx: dir.join("text_model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            config,
        };
        let mut o = TextEmbeddingOptions::new(source).with_runtime(runtime.clone());
        if let Some(t) = threads {
            o = o.with_threads(t);
        }
        TextEmbedding::try_new(o)
    }
}

#[derive(Debug, Clone)]
pub struct ImageEmbeddingOptions {
    pub source: ClipSource,
    pub threads: usize,
    pub batch_size: usize,
    pub runtime: RuntimeOptions,
}

impl ImageEmbeddingOptions {
    pub fn new(source: ClipSource) -> Self {
        Self {
            source,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            batch_size: 32,
            runtime: RuntimeOptions::default(),
        }
    }
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    pub fn with_runtime(mut self, r: RuntimeOptions) -> Self {
        self.runtime = r;
        self
    }
}

/// A loaded CLIP vision encoder and its preprocessing.
pub struct ImageEmbedding {
    session: Session,
    preprocessor: ClipPreprocessor,
    dim: usize,
    name: String,
    model_path: PathBuf,
    batch_size: usize,
}

impl ImageEmbedding {
    pub fn try_new(opts: ImageEmbeddingOptions) -> Result<Self, EmbedError> {
        let dir = opts.source.dir()?;
        let onnx = dir.join("vision_model.onnx");
        if !onnx.is_file() {
            return Err(ModelError::MissingFile(onnx).into());
        }
        let pre_path = dir.join("preprocessor_config.json");
        let preprocessor = if pre_path.is_file() {
            ClipPreprocessor::from_file(&pre_path)
                .map_err(|e| ModelError::Config { path: pre_path.clone(), reason: e.to_string() })?
        } else {
            ClipPreprocessor::default()
        };
        let session = open_session(&onnx, opts.threads, &opts.runtime)?;
        let inputs: Vec<String> = session.inputs().iter().map(|i| i.name().to_string()).collect();
        if inputs != ["pixel_values"] {
            return Err(EmbedError::Session {
                path: onnx,
                reason: format!(
                    "expected one input `pixel_values` (a CLIP vision export), found [{}]",
                    inputs.join(", ")
                ),
            });
        }
        let outputs: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        if !outputs.iter().any(|o| o == "image_embeds") {
            return Err(EmbedError::MissingOutput {
                path: onnx,
                wanted: "image_embeds".into(),
                available: outputs.join(", "),
            });
        }
        Ok(Self {
            session,
            preprocessor,
            dim: opts.source.dim()?,
            name: opts.source.name(),
            model_path: onnx,
            batch_size: opts.batch_size,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    pub fn preprocessor(&self) -> &ClipPreprocessor {
        &self.preprocessor
    }

    /// Embeds preprocessed images: `pixels` holds `batch` CHW tensors back to back. Rows come
    /// back L2-normalised, row-major `batch × dim`.
    pub fn embed_pixels(&mut self, pixels: Vec<f32>, batch: usize) -> Result<Vec<f32>, EmbedError> {
        if batch == 0 {
            return Ok(Vec::new());
        }
        let s = self.preprocessor.crop as usize;
        if pixels.len() != batch * 3 * s * s {
            return Err(EmbedError::Inference(format!("{} floats for {batch} images of 3×{s}×{s}", pixels.len())));
        }
        let t = Tensor::from_array(([batch, 3, s, s], pixels)).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![(Cow::Borrowed("pixel_values"), t.into())];
        let outputs = self.session.run(feeds).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let value =
            outputs.get("image_embeds").ok_or_else(|| EmbedError::Inference("no output `image_embeds`".into()))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| EmbedError::Inference(e.to_string()))?;
        let shape: Vec<i64> = shape.iter().copied().collect();
        if shape != [batch as i64, self.dim as i64] {
            return Err(EmbedError::BadOutput { shape, expected: format!("[{batch}, {}]", self.dim) });
        }
        let mut rows = data.to_vec();
        l2_normalize_rows(&mut rows, self.dim);
        Ok(rows)
    }

    /// Decodes nothing: embeds RGB8 images already in memory (for callers with their own
    /// decoding), in batches.
    pub fn embed_rgb(&mut self, images: &[image::RgbImage]) -> Result<Array2<f32>, EmbedError> {
        let mut out = Vec::with_capacity(images.len() * self.dim);
        for chunk in images.chunks(self.batch_size) {
            let mut px = Vec::new();
            for im in chunk {
                px.extend(self.preprocessor.apply(im).map_err(|e| EmbedError::Inference(e.to_string()))?);
            }
            out.extend(self.embed_pixels(px, chunk.len())?);
        }
        Array2::from_shape_vec((images.len(), self.dim), out).map_err(|e| EmbedError::Inference(e.to_string()))
    }
}
