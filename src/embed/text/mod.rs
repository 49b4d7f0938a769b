//! Text embeddings with `tokenizers` + ONNX Runtime: sentence encoders (mean pooling) and CLIP
//! text encoders (projected `text_embeds`).

mod pooling;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ort::session::{builder::GraphOptimizationLevel, Session, SessionInputValue};
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::embed::runtime::{self, RuntimeError, RuntimeOptions};
use crate::models::{self, ModelError, ModelKind, ModelName, Pooling, TextModelConfig};
use crate::util::progress;

pub use pooling::{l2_normalize_rows, mean_pool};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot load tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("cannot load ONNX model {path}: {reason}\n  (a truncated or corrupt file gives this; `clusterby models verify NAME` re-checks hashes, `clusterby models pull NAME` restores it)")]
    Session { path: PathBuf, reason: String },
    #[error("model {path} has no output `{wanted}` (outputs: {available})")]
    MissingOutput { path: PathBuf, wanted: String, available: String },
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("model output has unexpected shape {shape:?} (expected {expected})")]
    BadOutput { shape: Vec<i64>, expected: String },
}

/// Where a text model comes from: the catalogue, or files the user brings.
#[derive(Debug, Clone)]
pub enum TextModelSource {
    Catalogue(ModelName),
    UserDefined { onnx: PathBuf, tokenizer: PathBuf, config: TextModelConfig },
}

impl TextModelSource {
    /// A folder holding `model.onnx` (or `text_model.onnx`), `tokenizer.json` and `clusterby.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let onnx = ["model.onnx", "text_model.onnx"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| ModelError::MissingFile(dir.join("model.onnx")))?;
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(ModelError::MissingFile(tokenizer));
        }
        let config = TextModelConfig::from_file(&dir.join("clusterby.json"))?;
        Ok(Self::UserDefined { onnx, tokenizer, config })
    }

    /// A catalogue name, or else a path to a bring-your-own model folder.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s.parse::<ModelName>() {
            Ok(m) => Ok(Self::Catalogue(m)),
            Err(e) => {
                let p = Path::new(s);
                if p.is_dir() {
                    Self::from_dir(p)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Catalogue(m) => m.to_string(),
            Self::UserDefined { onnx, .. } => onnx.display().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TextEmbeddingOptions {
    pub source: TextModelSource,
    pub threads: usize,
    pub batch_size: usize,
    pub show_progress: bool,
    pub runtime: RuntimeOptions,
}

impl Default for TextEmbeddingOptions {
    fn default() -> Self {
        Self {
            source: TextModelSource::Catalogue(ModelName::DEFAULT_TEXT),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            batch_size: 32,
            show_progress: false,
            runtime: RuntimeOptions::default(),
        }
    }
}

impl TextEmbeddingOptions {
    pub fn new(source: TextModelSource) -> Self {
        Self { source, ..Default::default() }
    }
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    pub fn with_progress(mut self, on: bool) -> Self {
        self.show_progress = on;
        self
    }
    pub fn with_runtime(mut self, r: RuntimeOptions) -> Self {
        self.runtime = r;
        self
    }
}

/// A loaded text encoder.
pub struct TextEmbedding {
    session: Session,
    tokenizer: Tokenizer,
    config: TextModelConfig,
    output: String,
    inputs: Vec<String>,
    model_path: PathBuf,
    name: String,
    batch_size: usize,
    show_progress: bool,
}

impl TextEmbedding {
    pub fn try_new(opts: TextEmbeddingOptions) -> Result<Self, EmbedError> {
        let name = opts.source.name();
        let (onnx, tok, config) = match &opts.source {
            TextModelSource::Catalogue(m) => {
                let info = m.info();
                let dir = models::installed_dir(*m)?;
                let (file, pooling, output) = match info.kind {
                    ModelKind::SentenceEncoder => ("model.onnx", Pooling::Mean, "last_hidden_state"),
                    ModelKind::Clip => ("text_model.onnx", Pooling::None, "text_embeds"),
                };
                let cfg = TextModelConfig {
                    dim: info.dim,
                    pooling,
                    max_length: info.max_length,
                    output: Some(output.to_string()),
                    normalize: true,
                };
                (dir.join(file), dir.join("tokenizer.json"), cfg)
            }
            TextModelSource::UserDefined { onnx, tokenizer, config } => {
                (onnx.clone(), tokenizer.clone(), config.clone())
            }
        };
        Self::from_files(&onnx, &tok, config, &opts, name)
    }

    fn from_files(
        onnx: &Path,
        tokenizer_path: &Path,
        config: TextModelConfig,
        opts: &TextEmbeddingOptions,
        name: String,
    ) -> Result<Self, EmbedError> {
        if !onnx.is_file() {
            return Err(ModelError::MissingFile(onnx.to_path_buf()).into());
        }
        let tokenizer = load_tokenizer(tokenizer_path, config.max_length)?;
        let session = open_session(onnx, opts.threads, &opts.runtime)?;
        let inputs: Vec<String> = session.inputs().iter().map(|o| o.name().to_string()).collect();
        let outputs: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        let wanted = config.output.clone().unwrap_or_else(|| match config.pooling {
            Pooling::None => "text_embeds".to_string(),
            _ => "last_hidden_state".to_string(),
        });
        if !outputs.contains(&wanted) {
            return Err(EmbedError::MissingOutput { path: onnx.into(), wanted, available: outputs.join(", ") });
        }
        Ok(Self {
            session,
            tokenizer,
            config,
            output: wanted,
            inputs,
            model_path: onnx.to_path_buf(),
            name,
            batch_size: opts.batch_size,
            show_progress: opts.show_progress,
        })
    }

    pub fn dim(&self) -> usize {
        self.config.dim
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Embeds all texts; rows come back in input order. Texts are batched by similar length
    /// (less padding), which is most of the speed on captions of mixed length.
    pub fn embed<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Result<Array2<f32>, EmbedError> {
        let dim = self.config.dim;
        let mut out = Array2::<f32>::zeros((texts.len(), dim));
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].as_ref().len()));
        let bar = progress::bar(texts.len() as u64, "embedding", self.show_progress && texts.len() > 256);
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_ref()).collect();
            let rows = self.embed_batch(&batch)?;
            for (r, &i) in chunk.iter().enumerate() {
                out.row_mut(i).assign(&ndarray::ArrayView1::from(&rows[r * dim..(r + 1) * dim]));
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// One batch, as a row-major `batch × dim` vector.
    pub fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let batch = enc.len();
        let seq = enc.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        let mut types = Vec::with_capacity(batch * seq);
        for e in &enc {
            ids.extend(e.get_ids().iter().map(|&x| x as i64));
            mask.extend(e.get_attention_mask().iter().map(|&x| x as i64));
            types.extend(e.get_type_ids().iter().map(|&x| x as i64));
        }
        self.run(batch, seq, ids, mask, types)
    }

    /// Runs pre-tokenized, padded input (row-major `batch × seq`) and pools it.
    pub fn run(
        &mut self,
        batch: usize,
        seq: usize,
        ids: Vec<i64>,
        mask: Vec<i64>,
        types: Vec<i64>,
    ) -> Result<Vec<f32>, EmbedError> {
        let shape = [batch, seq];
        let pooled_mask = if self.config.pooling == Pooling::Mean { Some(mask.clone()) } else { None };
        let mut feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(3);
        let mut ids = Some(ids);
        let mut mask = Some(mask);
        let mut types = Some(types);
        for name in &self.inputs {
            let data = match name.as_str() {
                "input_ids" => ids.take(),
                "attention_mask" => mask.take(),
                "token_type_ids" => types.take(),
                other => return Err(EmbedError::Inference(format!("model input `{other}` is not supported"))),
            };
            let data = data.ok_or_else(|| EmbedError::Inference(format!("duplicate model input `{name}`")))?;
            let t = Tensor::from_array((shape, data)).map_err(|e| EmbedError::Inference(e.to_string()))?;
            feeds.push((Cow::Owned(name.clone()), t.into()));
        }
        let outputs = self.session.run(feeds).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let value =
            outputs.get(&self.output).ok_or_else(|| EmbedError::Inference(format!("no output `{}`", self.output)))?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(|e| EmbedError::Inference(e.to_string()))?;
        let out_shape: Vec<i64> = out_shape.iter().copied().collect();
        let dim = self.config.dim;
        let mut rows = match self.config.pooling {
            Pooling::Mean | Pooling::Cls => {
                if out_shape != [batch as i64, seq as i64, dim as i64] {
                    return Err(EmbedError::BadOutput {
                        shape: out_shape,
                        expected: format!("[{batch}, {seq}, {dim}]"),
                    });
                }
                match &pooled_mask {
                    Some(m) => mean_pool(data, m, batch, seq, dim),
                    None => (0..batch).flat_map(|b| data[b * seq * dim..b * seq * dim + dim].to_vec()).collect(),
                }
            }
            Pooling::None => {
                if out_shape != [batch as i64, dim as i64] {
                    return Err(EmbedError::BadOutput { shape: out_shape, expected: format!("[{batch}, {dim}]") });
                }
                data.to_vec()
            }
        };
        if self.config.normalize {
            l2_normalize_rows(&mut rows, dim);
        }
        Ok(rows)
    }
}

/// Loads a tokenizer and makes it pad to the batch's longest input and truncate at `max_length`.
/// Some published tokenizer.json files pad everything to a fixed length, which makes short
/// captions several times slower.
pub fn load_tokenizer(path: &Path, max_length: usize) -> Result<Tokenizer, EmbedError> {
    if !path.is_file() {
        return Err(ModelError::MissingFile(path.to_path_buf()).into());
    }
    let mut tok =
        Tokenizer::from_file(path).map_err(|e| EmbedError::Tokenizer { path: path.into(), reason: e.to_string() })?;
    let mut padding = tok.get_padding().cloned().unwrap_or_else(|| {
        // No padding configured (e.g. CLIP exports): pad with the model's own pad/end token.
        let (pad_token, pad_id) = ["[PAD]", "<pad>", "<|endoftext|>"]
            .iter()
            .find_map(|t| tok.token_to_id(t).map(|id| (t.to_string(), id)))
            .unwrap_or_else(|| ("[PAD]".to_string(), 0));
        PaddingParams { pad_token, pad_id, ..Default::default() }
    });
    padding.strategy = PaddingStrategy::BatchLongest;
    tok.with_padding(Some(padding));
    let mut trunc = tok.get_truncation().cloned().unwrap_or_default();
    trunc.max_length = max_length;
    tok.with_truncation(Some(TruncationParams { ..trunc }))
        .map_err(|e| EmbedError::Tokenizer { path: path.into(), reason: e.to_string() })?;
    Ok(tok)
}

/// Opens an ONNX model on the shared runtime.
pub fn open_session(path: &Path, threads: usize, rt: &RuntimeOptions) -> Result<Session, EmbedError> {
    let env = runtime::init(rt)?;
    let fail = |e: String| EmbedError::Session { path: path.to_path_buf(), reason: e };
    Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| fail(e.to_string()))?
        // Idle ONNX Runtime workers otherwise spin for a while after every run, taking the
        // cores from the rayon work (conditioning, clustering) that follows an embedding.
        .with_intra_op_spinning(false)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| fail(e.to_string()))
}

/// The default text model for unit tests that need one. Such tests carry
/// `#[cfg_attr(not(clusterby_text_model), ignore = ...)]` (see `build.rs`): they are reported
/// as ignored where the model is not installed, and run (and fail here) where it is required.
#[cfg(test)]
pub(crate) fn test_encoder() -> TextEmbedding {
    let opts = TextEmbeddingOptions::new(TextModelSource::Catalogue(models::ModelName::DEFAULT_TEXT));
    TextEmbedding::try_new(opts).unwrap_or_else(|e| panic!("the test needs the default text model: {e}"))
}
