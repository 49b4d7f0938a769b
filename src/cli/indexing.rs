//! `index` and `merge`: caption files and image folders into indexes.

use super::*;

pub fn index(ctx: &Context, input: &Path, out: &Path, model: &str, shard: Option<Shard>) -> CliResult {
    let mut enc = TextEmbedding::try_new(ctx.text_options(model)?)?;
    let r = crate::store::ingest::index_captions_file(input, out, &mut enc, shard, true)?;
    for s in r.skipped.iter().take(20) {
        eprintln!("skipped {}:{}: {}", input.display(), s.line, s.reason);
    }
    if r.skipped.len() > 20 {
        eprintln!("... and {} more skipped lines", r.skipped.len() - 20);
    }
    if !r.strays_removed.is_empty() {
        eprintln!(
            "note: removed {} file(s) an interrupted run had left in {}/parts and no manifest listed: {}",
            r.strays_removed.len(),
            out.display(),
            r.strays_removed.join(", ")
        );
    }
    // A shard's vocabulary would never be read: `merge` mines the joined captions.
    if shard.is_none() {
        build_derived(out, &mut enc)?;
    }
    let shard = shard.map(|s| format!(" (shard {s})")).unwrap_or_default();
    eprintln!(
        "indexed {}{shard}: {} read, {} new, {} already indexed, {} skipped; {} rows in {} ({:.1}s)",
        input.display(),
        r.read,
        r.added,
        r.already_indexed,
        r.skipped.len(),
        r.total_rows,
        out.display(),
        r.seconds
    );
    Ok(())
}

/// Criterion-free derived data (the mined vocabulary), so the first query is as fast as the rest.
pub(super) fn build_derived(dir: &Path, enc: &mut TextEmbedding) -> CliResult {
    let loaded = Index::open(dir)?.load()?;
    crate::conditioning::Vocabulary::load_or_build(Some(dir), &loaded.captions, enc)?;
    Ok(())
}

/// `clusterby merge SOURCES... --out DIR`.
pub fn merge(ctx: &Context, sources: &[PathBuf], out: &Path) -> CliResult {
    let t = std::time::Instant::now();
    if sources.first().is_some_and(|s| image_index::is_image_index(s)) {
        return merge_images(ctx, sources, out, t);
    }
    let r = crate::store::merge::merge(sources, out)?;
    let model = Index::open(out)?.manifest().model.clone();
    let mut enc = TextEmbedding::try_new(ctx.text_options(&model)?)?;
    build_derived(out, &mut enc)?;
    eprintln!(
        "merged {} indexes into {}: {} parts linked, {} copied, {} merged by an earlier run; {} rows ({:.1}s)",
        r.sources,
        out.display(),
        r.linked,
        r.copied,
        r.already_merged,
        r.rows,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `clusterby merge` of image indexes (the shards of one folder).
pub(super) fn merge_images(ctx: &Context, sources: &[PathBuf], out: &Path, t: std::time::Instant) -> CliResult {
    let r = image_index::merge_images(sources, out)?;
    let cdir = out.join(image_index::CAPTIONS_DIR);
    if let Some(c) = &r.captions {
        let model = Index::open(&cdir)?.manifest().model.clone();
        let mut enc = TextEmbedding::try_new(ctx.text_options(&model)?)?;
        build_derived(&cdir, &mut enc)?;
        eprintln!("merged their captions into {}: {} rows", cdir.display(), c.rows);
    }
    let i = &r.images;
    eprintln!(
        "merged {} image indexes into {}: {} parts linked, {} copied, {} merged by an earlier run; {} images, {} file log lines ({:.1}s)",
        i.sources,
        out.display(),
        i.linked,
        i.copied,
        i.already_merged,
        i.rows,
        r.file_log_lines,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

pub struct ImageIndexArgs<'a> {
    pub root: &'a Path,
    pub out: &'a Path,
    pub clip: &'a str,
    pub text_model: &'a str,
    pub labels_csv: Option<&'a Path>,
    pub label_column: Option<&'a str>,
    pub batch_size: usize,
    /// Existing captions to import (any captions file format; ids matched to image paths).
    pub captions: Option<&'a Path>,
    /// Vision endpoints (one model, one or more servers) to caption every image once.
    pub captioners: Vec<crate::llm::LlmConfig>,
    pub caption_prompt: Option<&'a str>,
    /// Only the images of this shard (by relative path).
    pub shard: Option<Shard>,
}

/// `clusterby index <IMAGE_DIR>`: CLIP embeddings, then captions if asked for.
pub fn index_images(ctx: &Context, a: ImageIndexArgs<'_>) -> CliResult {
    encode_images(ctx, &a)?;
    if a.captions.is_none() && a.captioners.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = {
        let mut v: Vec<String> = Index::open(a.out)?.ids()?.into_iter().collect();
        v.sort();
        v
    };
    let mut captions: HashMap<String, String> = HashMap::new();
    if let Some(file) = a.captions {
        captions.extend(import_captions(file, &ids)?);
    }
    if !a.captioners.is_empty() {
        captions.extend(caption_with_endpoints(&a, &ids, &captions)?);
    }
    index_image_captions(ctx, &a, captions)
}

/// The CLIP half of `index_images`: every new or changed image encoded, and a summary line.
pub(super) fn encode_images(ctx: &Context, a: &ImageIndexArgs<'_>) -> CliResult {
    let source = ClipSource::parse(a.clip)?;
    let mut opts =
        ImageEmbeddingOptions::new(source.clone()).with_runtime(ctx.runtime.clone()).with_batch_size(a.batch_size);
    if let Some(t) = ctx.threads {
        opts = opts.with_threads(t);
    }
    let mut enc = ImageEmbedding::try_new(opts)?;
    let labels = match a.labels_csv {
        Some(p) => LabelSource::Csv { path: p.to_path_buf(), column: a.label_column.map(str::to_string) },
        None => LabelSource::FileNames,
    };
    let opts = ImageIndexOptions::default().with_labels(labels).with_shard(a.shard);
    let r = image_index::index_folder(a.root, a.out, &mut enc, &source, &opts)?;
    for (id, why) in &r.skipped {
        eprintln!("skipped {id}: {why}");
    }
    eprintln!(
        "indexed {} with {}: {} images found, {} new, {} changed, {} unchanged, {} skipped ({} skipped before, unchanged), {} recovered; {} rows in {} ({:.1}s, {:.1} images/s)",
        a.root.display(),
        enc.name(),
        r.found,
        r.added,
        r.updated,
        r.unchanged,
        r.skipped.len(),
        r.still_skipped,
        r.recovered,
        r.rows,
        a.out.display(),
        r.seconds,
        r.images_per_sec
    );
    Ok(())
}

/// Captions from a captions file, matched to the indexed images' ids.
pub(super) fn import_captions(
    file: &Path,
    ids: &[String],
) -> Result<HashMap<String, String>, Box<dyn std::error::Error>> {
    let read = crate::store::read_captions(file)?;
    for s in read.skipped.iter().take(20) {
        eprintln!("skipped {}:{}: {}", file.display(), s.line, s.reason);
    }
    let pairs: Vec<(String, String)> = read.records.into_iter().map(|r| (r.id, r.caption)).collect();
    let (matched, unmatched) = crate::store::image_index::captioning::match_imported(ids, &pairs);
    eprintln!("imported {} captions from {} ({unmatched} matched no image)", matched.len(), file.display());
    Ok(matched.into_iter().collect())
}

/// Captions from the vision endpoints for every image that has none yet; each answer is logged
/// in `captions.jsonl` as it arrives, so a rerun asks only for what is missing.
pub(super) fn caption_with_endpoints(
    a: &ImageIndexArgs<'_>,
    ids: &[String],
    have: &HashMap<String, String>,
) -> Result<HashMap<String, String>, Box<dyn std::error::Error>> {
    use crate::store::image_index::captioning;
    let clients = a.captioners.iter().cloned().map(crate::llm::LlmClient::new).collect::<Result<Vec<_>, _>>()?;
    let pool = crate::llm::ClientPool::new(clients)?;
    let root = Descriptor::read(a.out)?.map(|d| d.root).unwrap_or_else(|| a.root.to_path_buf());
    let todo: Vec<(String, PathBuf)> =
        ids.iter().filter(|id| !have.contains_key(*id)).map(|id| (id.clone(), root.join(id))).collect();
    let log = a.out.join("captions.jsonl");
    let prompt = a.caption_prompt.unwrap_or(captioning::DEFAULT_PROMPT);
    let endpoints: Vec<&str> = pool.clients().iter().map(|c| c.endpoint()).collect();
    let model = pool.clients()[0].config().model.clone();
    eprintln!("captioning {} images with {model} at {}", todo.len(), endpoints.join(", "));
    let r = captioning::caption_images(&todo, &log, &pool, prompt, true)?;
    for gone in pool.dead_endpoints() {
        eprintln!("endpoint {gone} was unreachable and taken out; its images went to the others");
    }
    for (id, why) in r.failed.iter().take(20) {
        eprintln!("no caption for {id}: {why}");
    }
    if r.failed.len() > 20 {
        eprintln!("... and {} more without a caption (see {})", r.failed.len() - 20, log.display());
    }
    eprintln!("captions: {} new, {} from earlier runs, {} failed", r.captioned, r.cached, r.failed.len());
    Ok(captioning::cached_captions(&log, &model)?.into_iter().collect())
}

/// The image index's caption index: the captions not yet in it, with the images' labels.
pub(super) fn index_image_captions(
    ctx: &Context,
    a: &ImageIndexArgs<'_>,
    captions: HashMap<String, String>,
) -> CliResult {
    let labels: HashMap<String, Option<String>> = {
        let l = Index::open(a.out)?.load()?;
        l.ids.into_iter().zip(l.labels).collect()
    };
    let mut records: Vec<crate::store::CaptionRecord> = captions
        .into_iter()
        .map(|(id, caption)| crate::store::CaptionRecord { label: labels.get(&id).cloned().flatten(), id, caption })
        .collect();
    records.sort_by(|x, y| x.id.cmp(&y.id));
    let mut text = TextEmbedding::try_new(ctx.text_options(a.text_model)?)?;
    let cdir = a.out.join(image_index::CAPTIONS_DIR);
    let known = if cdir.join("manifest.json").is_file() { Index::open(&cdir)?.ids()? } else { Default::default() };
    records.retain(|r| !known.contains(&r.id));
    let rep = crate::store::ingest::index_records(records, Vec::new(), &cdir, &mut text, true)?;
    if let Some(mut d) = Descriptor::read(a.out)? {
        d.caption_model = Some(text.name().to_string());
        d.write(a.out)?;
    }
    eprintln!("caption index: {} new, {} rows in {}", rep.added, rep.total_rows, cdir.display());
    Ok(())
}
