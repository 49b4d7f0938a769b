//! clusterby: cluster an image collection by a criterion stated in words, and name the clusters.
//!
//! Index once (captions and embeddings cached on disk), then query many times: each query embeds
//! the criterion, conditions the cached embeddings on it, clusters, and names the clusters with at
//! most one LLM call.
//!
//! - [`store`]: indexes (captions, images) as Parquet, and the input readers.
//! - [`embed`]: text and image encoders on ONNX Runtime.
//! - [`query`]: one query — [`conditioning`] turns the criterion into features, [`cluster`]
//!   partitions them (and chooses K), [`naming`] names the clusters; `query::one_call` makes
//!   the one LLM call.
//! - [`llm`]: the OpenAI-compatible client; [`eval`]: scores against labels.
//! - [`experiments`]: the IC|TC baseline, the ablation and the demo.

pub mod cli;
pub mod cluster;
pub mod conditioning;
pub mod embed;
pub mod eval;
pub mod experiments;
pub mod explorer;
pub mod llm;
pub mod models;
pub mod naming;
pub mod plot;
#[cfg(feature = "python")]
mod python;
pub mod query;
pub mod report;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod util;

pub use embed::runtime::RuntimeOptions;
pub use embed::text::{TextEmbedding, TextEmbeddingOptions, TextModelSource};
pub use models::{ModelInfo, ModelKind, ModelName};
