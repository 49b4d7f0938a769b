//! Caption indexing: read caption files once, embed them, and store the result as Apache Parquet
//! so later clustering runs (and other tools) can load it without re-embedding.

mod error;
pub mod input;
pub mod store;

pub use error::IndexError;
pub use input::{
    label_from_file_name, read_captions, CaptionRecord, InputFormat, ReadReport, SkippedLine,
};
pub use store::{Index, LoadedIndex, Manifest, PartEntry};
