//! Indexes on disk: captions and images read once, embedded, and stored as Apache Parquet so
//! later queries (and other tools) load them without re-embedding.
//!
//! - [`caption_index`]: the Parquet index itself (manifest, parts, loading).
//! - [`readers`]: caption files (JSONL, CSV, IC|TC's `step1_result.jsonl`).
//! - [`ingest`]: reading, embedding and committing captions; [`shard`]: a stable share of an
//!   input (`--shard I/N`); [`merge`]: one index from the shards' indexes.
//! - [`image_index`]: image folders (CLIP embeddings, optional captions); [`image_files`]:
//!   finding, decoding and labelling the image files.

pub mod caption_index;
mod error;
pub mod image_files;
pub mod image_index;
pub mod ingest;
pub mod merge;
pub mod readers;
pub mod shard;

pub use caption_index::{Index, LoadedIndex, Manifest, PartCopy, PartEntry};
pub use error::IndexError;
pub use readers::{label_from_file_name, read_captions, CaptionRecord, InputFormat, ReadReport, SkippedLine};
