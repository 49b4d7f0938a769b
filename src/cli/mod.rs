//! What each CLI subcommand does, as library functions (main.rs only parses arguments).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cluster::Method;
use crate::conditioning::Conditioning;
use crate::embed::image::{ClipSource, ImageEmbedding, ImageEmbeddingOptions};
use crate::embed::runtime::RuntimeOptions;
use crate::embed::text::{TextEmbedding, TextEmbeddingOptions, TextModelSource};
use crate::models::{self, ModelName};
use crate::query::{self, ClusterResult, QueryOptions, Strategy};
use crate::store::caption_index::{Index, LoadedIndex};
use crate::store::image_index::{self, Descriptor, ImageIndexOptions, LabelSource, LoadedImageIndex};
use crate::store::shard::Shard;

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Options every subcommand shares.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub runtime: RuntimeOptions,
    pub threads: Option<usize>,
}

impl Context {
    pub fn new(ort_lib: Option<PathBuf>, threads: Option<usize>) -> Self {
        let runtime = match ort_lib {
            Some(p) => RuntimeOptions::default().with_library(p),
            None => RuntimeOptions::default(),
        };
        Self { runtime, threads }
    }

    pub fn text_options(&self, model: &str) -> Result<TextEmbeddingOptions, models::ModelError> {
        let mut o = TextEmbeddingOptions::new(TextModelSource::parse(model)?)
            .with_runtime(self.runtime.clone())
            .with_progress(true);
        if let Some(t) = self.threads {
            o = o.with_threads(t);
        }
        Ok(o)
    }
}

mod catalogue;
mod experiments;
mod indexing;
mod querying;

pub use catalogue::*;
pub use experiments::*;
pub use indexing::*;
pub use querying::*;
