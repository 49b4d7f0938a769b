//! `cluster`, `plot` and `report`: one query, its pictures and its gallery.

use super::*;

pub struct ClusterArgs<'a> {
    pub index_dir: &'a Path,
    pub namer: crate::query::NamerKind,
    pub llm: Option<crate::llm::LlmConfig>,
    pub criterion: &'a str,
    pub k: Option<usize>,
    pub method: Method,
    /// `None`: auto ([`crate::query::auto_strategy`]).
    pub strategy: Option<Strategy>,
    pub conditioning: Conditioning,
    /// The user named an LLM endpoint (flag or environment), so auto takes the one call.
    pub llm_endpoint_given: bool,
    pub exclude: Vec<String>,
    pub caption_weight: crate::conditioning::CaptionWeight,
    pub seed: u64,
    pub one_call: crate::query::OneCallParams,
    pub settings: crate::query::MethodSettings,
    /// Where the result JSON goes (`-`: standard output).
    pub json: Option<&'a Path>,
}

/// What `cluster` runs: the query's options, an LLM client when the namer or the strategy
/// needs one, and why auto passed over a given endpoint.
pub(super) struct PreparedQuery {
    opts: QueryOptions,
    client: Option<crate::llm::LlmClient>,
    passed_over: Option<crate::query::AutoZeroCall>,
}

impl ClusterArgs<'_> {
    fn query(&self, caption_index: bool) -> Result<PreparedQuery, Box<dyn std::error::Error>> {
        let (strategy, passed_over) = match self.strategy {
            Some(s) => (s, None),
            None => crate::query::auto_strategy(self.llm_endpoint_given, caption_index, self.namer, self.method),
        };
        let mut opts = QueryOptions::new(self.criterion)
            .with_k(self.k)
            .with_method(self.method)
            .with_strategy(strategy)
            .with_conditioning(self.conditioning)
            .with_exclude(self.exclude.clone())
            .with_seed(self.seed)
            .with_namer(self.namer)
            .with_one_call(self.one_call)
            .with_settings(self.settings)
            .with_cache_dir(self.index_dir);
        opts.values.caption_weight = self.caption_weight;
        let needs_llm = self.namer == crate::query::NamerKind::Llm || strategy == Strategy::OneCall;
        let client = match self.llm.clone().filter(|_| needs_llm) {
            Some(cfg) => Some(crate::llm::LlmClient::new(cfg)?),
            None => None,
        };
        Ok(PreparedQuery { opts, client, passed_over })
    }
}

impl PreparedQuery {
    /// A note for people when auto passed over the endpoint they named.
    fn note(&self) -> Option<String> {
        use crate::query::AutoZeroCall;
        self.passed_over.map(|why| match why {
            AutoZeroCall::ImageIndex => {
                "an LLM endpoint was given, but the one call runs on caption indexes only: zero-call".into()
            }
            AutoZeroCall::Method(m) => {
                format!("an LLM endpoint was given, but the one call partitions with k-means, not {m}: zero-call")
            }
        })
    }
}

/// Writes the result's JSON where asked (`-`: standard output) and its table (to standard
/// error when the JSON takes standard output).
pub(super) fn finish_query(result: &ClusterResult, json: Option<&Path>) -> CliResult {
    let to_stdout = json.is_some_and(is_stdout);
    if to_stdout {
        print_result(&mut std::io::stderr(), result)?;
    } else {
        print_result(&mut std::io::stdout(), result)?;
    }
    if let Some(p) = json {
        write_json(p, result)?;
        if !to_stdout {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

pub(super) fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

pub fn cluster(ctx: &Context, space: Option<crate::query::Space>, a: ClusterArgs<'_>) -> CliResult {
    if image_index::is_image_index(a.index_dir) {
        return cluster_images(ctx, a, space);
    }
    if space.is_some_and(|s| s != crate::query::Space::Caption) {
        return Err(
            format!("--space: {} is a caption index; only --space caption applies", a.index_dir.display()).into()
        );
    }
    let t = std::time::Instant::now();
    let idx = Index::open(a.index_dir)?;
    let loaded = idx.load()?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut enc = TextEmbedding::try_new(ctx.text_options(&idx.manifest().model)?)?;
    let prepared = a.query(true)?;
    let mut result = query::run(&loaded, &mut enc, &prepared.opts, prepared.client.as_ref())?;
    result.timings_ms.insert("load_index".into(), load_ms);
    result.notes.extend(prepared.note());
    finish_query(&result, a.json)
}

/// The pictures `clusterby plot` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotKind {
    /// The conditioned features' first two principal components, coloured by cluster.
    Map,
    /// Cluster sizes.
    Sizes,
    /// Clusters × labels, Hungarian-ordered (needs labels in the index).
    Confusion,
}

impl PlotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlotKind::Map => "map",
            PlotKind::Sizes => "sizes",
            PlotKind::Confusion => "confusion",
        }
    }
}

/// Writes one picture of a result as SVG.
pub fn plot(ctx: &Context, result: &Path, index_dir: &Path, out: &Path, kind: PlotKind) -> CliResult {
    if out.extension().and_then(|e| e.to_str()).is_some_and(|e| !e.eq_ignore_ascii_case("svg")) {
        return Err(format!("{}: pictures are written as SVG; name the file .svg", out.display()).into());
    }
    let r = read_result(result)?;
    let svg = match kind {
        PlotKind::Sizes => crate::plot::sizes_svg(&r),
        _ => picture(ctx, &r, index_dir, &pictures_source(&r, index_dir)?, kind)?,
    };
    crate::util::fs::write_atomic(out, svg.as_bytes())?;
    eprintln!("wrote {} ({})", out.display(), kind.as_str());
    Ok(())
}

/// The caption index a result's map and confusion matrix are drawn from, opened once; its rows
/// must be the result's items in the same order.
pub(super) fn pictures_source(
    r: &ClusterResult,
    index_dir: &Path,
) -> Result<(Index, LoadedIndex), Box<dyn std::error::Error>> {
    if image_index::is_image_index(index_dir) {
        return Err(format!("{}: the map and confusion pictures need a caption index", index_dir.display()).into());
    }
    let idx = Index::open(index_dir)?;
    let loaded = idx.load()?;
    if loaded.ids.len() != r.assignments.len() || loaded.ids.iter().zip(&r.assignments).any(|(i, a)| *i != a.id) {
        return Err(format!("the result's items are not the rows of {}", index_dir.display()).into());
    }
    Ok((idx, loaded))
}

/// The map or the confusion matrix of `r` (the sizes need no index: `plot::sizes_svg`).
pub(super) fn picture(
    ctx: &Context,
    r: &ClusterResult,
    index_dir: &Path,
    (idx, loaded): &(Index, LoadedIndex),
    kind: PlotKind,
) -> Result<String, Box<dyn std::error::Error>> {
    match kind {
        PlotKind::Confusion => {
            let labels: std::collections::HashMap<String, String> =
                loaded.ids.iter().zip(&loaded.labels).filter_map(|(i, l)| Some((i.clone(), l.clone()?))).collect();
            crate::plot::confusion_svg(r, &labels).ok_or_else(|| format!("{}: no labels", index_dir.display()).into())
        }
        _ => {
            let mut enc = TextEmbedding::try_new(ctx.text_options(&idx.manifest().model)?)?;
            let x = query::features(loaded, &mut enc, &result_query(r, index_dir))?;
            Ok(crate::plot::map_svg(r, &crate::plot::principal_2d(x.view(), r.seed)))
        }
    }
}

/// The query options a result was made with, as far as the result records them (criterion, K,
/// seed, exclusions, conditioning and its caption weight), to compute its features again.
pub(super) fn result_query(r: &ClusterResult, index_dir: &Path) -> QueryOptions {
    let mut opts = QueryOptions::new(&r.criterion)
        .with_k((!r.k_auto).then_some(r.k))
        .with_seed(r.seed)
        .with_exclude(r.diagnostics.excluded.clone())
        .with_conditioning(r.conditioning.unwrap_or_default())
        .with_cache_dir(index_dir);
    if let Some(a) = r.diagnostics.conditioning.as_ref().and_then(|c| c.caption_weight) {
        opts.values.caption_weight = crate::conditioning::CaptionWeight::Fixed(a);
    }
    opts
}

/// Writes `value` as pretty JSON to `path` (temp file, then rename), or to standard output
/// for `-`.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> CliResult {
    let bytes = serde_json::to_vec_pretty(value)?;
    if is_stdout(path) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    Ok(crate::util::fs::write_atomic(path, &bytes)?)
}

/// A readable table of clusters, with the result's diagnostics in words.
pub fn print_result(out: &mut dyn std::io::Write, r: &ClusterResult) -> std::io::Result<()> {
    let method = r.method.map_or("IC|TC", |m| m.as_str());
    let conditioning = r.conditioning.map_or("-", |c| c.as_str());
    writeln!(
        out,
        "by {:?}: {} clusters{} ({} {} + {} conditioning, {} LLM calls, {:.0} ms)",
        r.criterion,
        r.k,
        if r.k_auto { " (k chosen automatically)" } else { "" },
        r.strategy.as_str(),
        method,
        conditioning,
        r.llm_calls,
        r.timings_ms.get("total").copied().unwrap_or(0.0)
    )?;
    writeln!(out, "{:>4}  {:<28} {:>6}  keywords", "id", "name", "size")?;
    for c in &r.clusters {
        let kw: Vec<&str> = c.keywords.iter().take(5).map(String::as_str).collect();
        writeln!(out, "{:>4}  {:<28} {:>6}  {}", c.id, truncate(&c.name, 28), c.size, kw.join(", "))?;
    }
    for line in r.describe() {
        writeln!(out, "  {line}")?;
    }
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    if let Some(u) = &r.llm {
        writeln!(
            out,
            "  LLM {}: {} calls ({} failed, {} retries, {} from cache), {} prompt + {} completion tokens, {:.1} s",
            u.model, u.calls, u.failed_calls, u.retries, u.cache_hits, u.prompt_tokens, u.completion_tokens, u.seconds
        )?;
    }
    Ok(())
}

/// `clusterby cluster` on an image index.
pub fn cluster_images(ctx: &Context, a: ClusterArgs<'_>, space: Option<crate::query::Space>) -> CliResult {
    use crate::query::Space;
    let t = std::time::Instant::now();
    let idx = LoadedImageIndex::open(a.index_dir)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let space = match space {
        Some(s) => s,
        None if idx.captioned == idx.images.ids.len() && idx.captioned > 0 => Space::Both,
        None => Space::Image,
    };
    let clip = ClipSource::parse(if idx.descriptor.clip_source.is_empty() {
        &idx.descriptor.clip_model
    } else {
        &idx.descriptor.clip_source
    })?;
    let mut clip_text = clip.text_encoder(&ctx.runtime, ctx.threads)?;
    let mut cap_enc = match (&idx.descriptor.caption_model, space) {
        (Some(m), s) if s != Space::Image => Some(TextEmbedding::try_new(ctx.text_options(m)?)?),
        _ => None,
    };
    let prepared = a.query(false)?;
    let mut result = crate::query::image::run(
        &idx,
        space,
        &mut clip_text,
        cap_enc.as_mut(),
        &prepared.opts,
        prepared.client.as_ref(),
    )?;
    result.timings_ms.insert("load_index".into(), load_ms);
    result.notes.extend(prepared.note());
    finish_query(&result, a.json)
}

/// `clusterby report`: the HTML gallery of a result.
pub fn report(ctx: &Context, result: &Path, index_dir: &Path, html: &Path, per_cluster: usize) -> CliResult {
    let r = read_result(result)?;
    let mut pictures = vec![crate::plot::sizes_svg(&r)];
    match pictures_source(&r, index_dir) {
        Ok(source) => {
            for kind in [PlotKind::Map, PlotKind::Confusion] {
                match picture(ctx, &r, index_dir, &source, kind) {
                    Ok(svg) => pictures.push(svg),
                    Err(e) => eprintln!("note: no {} picture: {e}", kind.as_str()),
                }
            }
        }
        Err(e) => eprintln!("note: no map or confusion picture: {e}"),
    }
    let opts = crate::report::GalleryOptions { per_cluster, pictures, ..Default::default() };
    let page = crate::report::gallery(&r, index_dir, &opts)?;
    crate::util::fs::write_atomic(html, page.html.as_bytes())?;
    eprintln!(
        "wrote {} ({} clusters, {} thumbnails, {} images not found)",
        html.display(),
        r.clusters.len(),
        page.thumbnails,
        page.missing
    );
    Ok(())
}
