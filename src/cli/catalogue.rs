//! `models` and `embed-text`: the model catalogue and a text encoder on its own.

use super::*;

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
    let opts = crate::models::hub::HubOptions::from_env();
    let (dir, report) = models::pull(m, &opts)?;
    if let (false, Some(cache)) = (report.from_hf_cache.is_empty(), opts.hf_cache()) {
        eprintln!("copied from the Hugging Face cache {}: {}", cache.display(), report.from_hf_cache.join(", "));
    }
    if !report.downloaded.is_empty() {
        eprintln!("downloaded: {} ({} bytes)", report.downloaded.join(", "), report.bytes_downloaded);
    }
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
    crate::util::npy::write_f32(out, &emb)?;
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

// ---- index / cluster / eval / demo -------------------------------------------------------
