//! What the explorer queries: a caption index and its text model, or an image index with its
//! CLIP text encoder (and the captions' model when the images have captions).

use std::path::{Path, PathBuf};

use crate::cli::Context;
use crate::embed::image::ClipSource;
use crate::query::{self, ClusterResult, QueryError, QueryOptions, Space};
use crate::store::caption_index::{Index as CaptionIndex, LoadedIndex};
use crate::store::image_index::{is_image_index, LoadedImageIndex};
use crate::TextEmbedding;

// One explorer holds one source for its whole life: the variants' sizes never matter.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    Captions { index: LoadedIndex, encoder: TextEmbedding },
    Images { index: LoadedImageIndex, space: Space, clip_text: TextEmbedding, captions: Option<TextEmbedding> },
}

/// The rows as the page shows them: ids, captions ("" where none) and labels.
pub struct RowText<'a> {
    pub ids: &'a [String],
    pub captions: &'a [String],
    pub labels: &'a [Option<String>],
}

impl Source {
    pub fn open(ctx: &Context, dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        if !is_image_index(dir) {
            let idx = CaptionIndex::open(dir)?;
            let index = idx.load()?;
            let encoder = TextEmbedding::try_new(ctx.text_options(&idx.manifest().model)?.with_progress(false))?;
            return Ok(Source::Captions { index, encoder });
        }
        let index = LoadedImageIndex::open(dir)?;
        // As `cluster` does: images and captions together when every image has a caption.
        let space = match index.captioned == index.images.ids.len() && index.captioned > 0 {
            true => Space::Both,
            false => Space::Image,
        };
        let d = &index.descriptor;
        let clip = ClipSource::parse(if d.clip_source.is_empty() { &d.clip_model } else { &d.clip_source })?;
        let clip_text = clip.text_encoder(&ctx.runtime, ctx.threads)?;
        let captions = match (&d.caption_model, space) {
            (Some(m), Space::Both) => Some(TextEmbedding::try_new(ctx.text_options(m)?.with_progress(false))?),
            _ => None,
        };
        Ok(Source::Images { index, space, clip_text, captions })
    }

    pub fn rows(&self) -> RowText<'_> {
        match self {
            Source::Captions { index, .. } => {
                RowText { ids: &index.ids, captions: &index.captions, labels: &index.labels }
            }
            Source::Images { index, .. } => {
                RowText { ids: &index.images.ids, captions: &index.captions, labels: &index.images.labels }
            }
        }
    }

    /// The folder an image index's files are in.
    pub fn image_root(&self) -> Option<PathBuf> {
        match self {
            Source::Captions { .. } => None,
            Source::Images { index, .. } => Some(index.descriptor.root.clone()),
        }
    }

    pub fn run(
        &mut self,
        opts: &QueryOptions,
        llm: Option<&crate::llm::LlmClient>,
    ) -> Result<ClusterResult, QueryError> {
        match self {
            Source::Captions { index, encoder } => query::run(index, encoder, opts, llm),
            Source::Images { index, space, clip_text, captions } => {
                query::image::run(index, *space, clip_text, captions.as_mut(), opts, llm)
            }
        }
    }

    /// Two coordinates per row for the map: the features the query clustered (conditioned
    /// caption embeddings; an image index's features in its space).
    pub fn map_xy(&mut self, opts: &QueryOptions) -> Result<Vec<(f32, f32)>, QueryError> {
        let x = match self {
            Source::Captions { index, encoder } => query::features(index, encoder, opts)?,
            Source::Images { index, space, clip_text, captions } => {
                query::image::features(index, *space, clip_text, captions.as_mut(), opts)?
            }
        };
        Ok(crate::plot::principal_2d(x.view(), opts.seed))
    }
}
