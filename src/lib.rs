//! clusterby: cluster an image collection by a criterion stated in words, and name the clusters.
//!
//! Index once (captions and embeddings cached on disk), then query many times: each query embeds
//! the criterion, conditions the cached embeddings on it, clusters, and names the clusters with at
//! most one LLM call.

pub mod ablation;
pub mod allocator;
pub mod captioning;
pub mod cli;
pub mod cluster;
pub mod conditioning;
pub mod demo;
pub mod eval;
pub mod hub;
pub mod ictc;
pub mod image_embedding;
pub mod image_index;
pub mod images;
pub mod index;
pub mod indexing;
pub mod jsonl;
pub mod llm;
pub mod models;
pub mod naming;
pub mod npy;
pub mod paths;
pub mod progress;
pub mod query;
pub mod report;
pub mod runtime;
pub mod text_embedding;

pub use models::{ModelInfo, ModelKind, ModelName};
pub use runtime::RuntimeOptions;
pub use text_embedding::{TextEmbedding, TextEmbeddingOptions, TextModelSource};
