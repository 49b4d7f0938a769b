//! What each CLI subcommand does, as library functions (main.rs only parses arguments).

use std::path::{Path, PathBuf};

use crate::models::{self, ModelName};
use crate::runtime::RuntimeOptions;
use crate::text_embedding::{TextEmbedding, TextEmbeddingOptions, TextModelSource};

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

pub fn models_list() -> CliResult {
    println!("{:<24} {:<16} {:>5}  {:<10} {:<9} source", "name", "kind", "dim", "license", "installed");
    for m in ModelName::ALL {
        let i = m.info();
        let installed = if models::installed_dir(m).is_ok() { "yes" } else { "no" };
        let kind = match i.kind {
            models::ModelKind::SentenceEncoder => "sentence",
            models::ModelKind::Clip => "clip",
        };
        println!("{:<24} {:<16} {:>5}  {:<10} {:<9} hf:{}", i.name, kind, i.dim, i.license, installed, i.repo);
    }
    Ok(())
}

pub fn models_pull(name: &str) -> CliResult {
    let m: ModelName = name.parse()?;
    let dir = models::pull(m, &crate::hub::HubOptions::from_env())?;
    println!("{}", dir.display());
    Ok(())
}

pub fn models_path(name: &str) -> CliResult {
    let m: ModelName = name.parse()?;
    println!("{}", models::installed_dir(m)?.display());
    Ok(())
}

pub fn models_verify(name: &str) -> CliResult {
    let m: ModelName = name.parse()?;
    let dir = models::verify(m)?;
    println!("ok: {}", dir.display());
    Ok(())
}

pub fn embed_text(
    ctx: &Context,
    texts: &[String],
    file: Option<&Path>,
    out: &Path,
    model: &str,
    batch_size: usize,
) -> CliResult {
    let mut all: Vec<String> = texts.to_vec();
    if let Some(f) = file {
        let body = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        all.extend(body.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if all.is_empty() {
        return Err("no texts given: pass them as arguments or with --file".into());
    }
    let mut enc = TextEmbedding::try_new(ctx.text_options(model)?.with_batch_size(batch_size))?;
    let t = std::time::Instant::now();
    let emb = enc.embed(&all)?;
    crate::npy::write_f32(out, &emb)?;
    eprintln!(
        "embedded {} texts with {} ({}-d) in {:.2}s -> {}",
        all.len(),
        enc.name(),
        enc.dim(),
        t.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
