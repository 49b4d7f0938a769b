//! What each CLI subcommand does, as library functions (main.rs only parses arguments).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::embed::runtime::RuntimeOptions;
use crate::embed::text::{TextEmbedding, TextEmbeddingOptions, TextModelSource};
use crate::models::{self, ModelName};

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

use crate::cluster::Method;
use crate::conditioning::Conditioning;
use crate::query::{self, ClusterResult, QueryOptions, Strategy};
use crate::store::caption_index::{Index, LoadedIndex};
use crate::store::shard::Shard;

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
fn build_derived(dir: &Path, enc: &mut TextEmbedding) -> CliResult {
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
fn merge_images(ctx: &Context, sources: &[PathBuf], out: &Path, t: std::time::Instant) -> CliResult {
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
struct PreparedQuery {
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
fn finish_query(result: &ClusterResult, json: Option<&Path>) -> CliResult {
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

fn is_stdout(p: &Path) -> bool {
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
fn pictures_source(r: &ClusterResult, index_dir: &Path) -> Result<(Index, LoadedIndex), Box<dyn std::error::Error>> {
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
fn picture(
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
fn result_query(r: &ClusterResult, index_dir: &Path) -> QueryOptions {
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

pub struct IctcArgs<'a> {
    pub index_dir: &'a Path,
    pub criterion: &'a str,
    pub k: usize,
    pub llm: crate::llm::LlmConfig,
    pub cache: Option<&'a Path>,
    pub limit: Option<usize>,
    pub json: Option<&'a Path>,
}

/// The full IC|TC baseline over an index's captions (2N+1 calls, cached and resumable).
pub fn ictc(ctx: &Context, a: IctcArgs<'_>) -> CliResult {
    let idx = Index::open(a.index_dir)?;
    let loaded = idx.load()?;
    let n = a.limit.unwrap_or(usize::MAX).min(loaded.ids.len());
    let mut enc = TextEmbedding::try_new(ctx.text_options(&idx.manifest().model)?)?;
    let client = crate::llm::LlmClient::new(a.llm)?;
    let cache_path = a.cache.map_or_else(|| a.index_dir.join("llm-cache.jsonl"), Path::to_path_buf);
    let cache = crate::llm::AnswerCache::open(&cache_path)?;
    eprintln!(
        "IC|TC on {n} captions with {} at {}: {} calls needed, {} answers cached in {}",
        client.config().model,
        client.endpoint(),
        2 * n + 1,
        cache.len(),
        cache_path.display()
    );
    let wall = std::time::Instant::now();
    let (mut result, _) = crate::experiments::ictc::run(
        &loaded.ids[..n],
        &loaded.captions[..n],
        &crate::experiments::ictc::IctcOptions::new(a.criterion, a.k),
        &client,
        &cache,
        &mut enc,
    )?;
    result.timings_ms.insert("wall".into(), wall.elapsed().as_secs_f64() * 1e3);
    result.index = Some(a.index_dir.to_path_buf());
    finish_query(&result, a.json)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// Ground-truth labels from an index folder (its `label` column) or a labels file.
pub fn load_labels(
    source: &Path,
    column: Option<&str>,
) -> Result<std::collections::HashMap<String, String>, Box<dyn std::error::Error>> {
    if source.join("manifest.json").is_file() {
        let l = Index::open(source)?.load()?;
        return Ok(l.ids.into_iter().zip(l.labels).filter_map(|(i, l)| l.map(|l| (i, l))).collect());
    }
    Ok(crate::eval::load_labels_file(source, column)?)
}

/// A CSV with a file-name column (e.g. an image set's labels.csv): labels of the result's ids,
/// matched by path or file name, from `column` (default `label`, else the first).
fn load_label_table(
    path: &Path,
    column: Option<&str>,
    r: &ClusterResult,
) -> Result<Option<std::collections::HashMap<String, String>>, Box<dyn std::error::Error>> {
    if path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() != Some("csv") {
        return Ok(None);
    }
    let Ok(t) = crate::store::image_files::LabelTable::from_csv(path) else { return Ok(None) };
    let col = match column {
        Some(c) => t
            .column(c)
            .ok_or_else(|| format!("{}: no column {c:?} (columns: {})", path.display(), t.columns.join(", ")))?,
        None => t.column("label").unwrap_or(0),
    };
    let out: std::collections::HashMap<String, String> = r
        .assignments
        .iter()
        .filter_map(|a| t.row(&a.id).and_then(|row| row.get(col).cloned().flatten()).map(|l| (a.id.clone(), l)))
        .collect();
    Ok(Some(out))
}

/// Reads a result JSON (this schema version or version 1).
pub fn read_result(path: &Path) -> Result<ClusterResult, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(ClusterResult::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// What `eval --json` writes: the scores, and with `--names` the names' quality.
#[derive(serde::Serialize)]
struct EvalReport {
    #[serde(flatten)]
    scores: crate::eval::Scores,
    #[serde(skip_serializing_if = "Option::is_none")]
    names: Option<crate::eval::NameQuality>,
}

pub fn eval(ctx: &Context, args: EvalArgs<'_>) -> CliResult {
    let r = read_result(args.result)?;
    let truth = match load_label_table(args.labels, args.column, &r)? {
        Some(t) => t,
        None => load_labels(args.labels, args.column)?,
    };
    let pairs: Vec<(String, i64)> = r.assignments.iter().map(|a| (a.id.clone(), a.cluster)).collect();
    let s = crate::eval::score_by_id(&truth, &pairs)?;
    let mut line =
        format!("ACC {:.4}  NMI {:.4}  ARI {:.4}  (n = {}, unlabelled = {})", s.acc, s.nmi, s.ari, s.n, s.unlabelled);
    let names = match args.names {
        true => Some(name_quality(ctx, &r, &truth, &pairs)?),
        false => None,
    };
    if let Some(q) = &names {
        line.push_str(&format!("\nnames: mean cosine with the matched class {:.3}", q.mean_cosine));
        for p in &q.pairs {
            line.push_str(&format!("\n  {:>3}  {:<32} {:<24} {:.3}", p.cluster, p.name, p.class, p.cosine));
        }
    }
    let report = EvalReport { scores: s, names };
    match args.json {
        Some(p) if is_stdout(p) => {
            eprintln!("{line}");
            write_json(p, &report)
        }
        Some(p) => {
            println!("{line}");
            write_json(p, &report)
        }
        None => {
            println!("{line}");
            Ok(())
        }
    }
}

pub struct EvalArgs<'a> {
    pub result: &'a Path,
    pub labels: &'a Path,
    pub column: Option<&'a str>,
    pub json: Option<&'a Path>,
    pub names: bool,
}

/// The names' mean cosine with their matched classes, embedded with the default text model.
fn name_quality(
    ctx: &Context,
    r: &ClusterResult,
    truth: &std::collections::HashMap<String, String>,
    pairs: &[(String, i64)],
) -> Result<crate::eval::NameQuality, Box<dyn std::error::Error>> {
    let names = r.clusters.iter().map(|c| (c.id, c.name.clone())).collect();
    let triples = crate::eval::matched_names(truth, pairs, &names)?;
    let mut enc = TextEmbedding::try_new(ctx.text_options(ModelName::DEFAULT_TEXT.info().name)?)?;
    Ok(crate::eval::name_quality(triples, |texts| {
        enc.embed(texts).map(|m| m.outer_iter().map(|r| r.to_vec()).collect())
    })?)
}

/// The built-in demo: one caption corpus clustered by "location" and by "mood".
pub fn demo(ctx: &Context, out: Option<&Path>) -> CliResult {
    let items = crate::experiments::demo::corpus();
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => crate::util::paths::clusterby_home().join("demo-index"),
    };
    let mut enc = TextEmbedding::try_new(ctx.text_options(ModelName::DEFAULT_TEXT.info().name)?)?;
    let records: Vec<_> = items.iter().map(|i| i.record.clone()).collect();
    let r = crate::store::ingest::index_records(records, Vec::new(), &dir, &mut enc, true)?;
    println!(
        "demo index: {} captions of scenes that differ in place and mood ({} new) in {}\n",
        r.total_rows,
        r.added,
        dir.display()
    );
    let loaded = Index::open(&dir)?.load()?;
    let by_id: std::collections::HashMap<&str, &crate::experiments::demo::DemoItem> =
        items.iter().map(|i| (i.record.id.as_str(), i)).collect();
    for (criterion, truth) in [("location", 0), ("mood", 1)] {
        let opts = QueryOptions::new(criterion).with_k(Some(4)).with_cache_dir(&dir);
        let res = query::run(&loaded, &mut enc, &opts, None)?;
        print_result(&mut std::io::stdout(), &res)?;
        let (t, p): (Vec<&str>, Vec<i64>) = res
            .assignments
            .iter()
            .filter_map(|a| by_id.get(a.id.as_str()).map(|i| (if truth == 0 { i.location } else { i.mood }, a.cluster)))
            .unzip();
        let s = crate::eval::score(&t, &p)?;
        println!("  agreement with the true {criterion}s: ACC {:.3}  NMI {:.3}  ARI {:.3}\n", s.acc, s.nmi, s.ari);
    }
    Ok(())
}

pub struct AblateArgs<'a> {
    pub sets_file: &'a Path,
    pub data_dir: &'a Path,
    pub out_dir: &'a Path,
    pub work_dir: &'a Path,
    pub only: &'a [String],
    pub methods: &'a [Method],
    pub llm: Option<crate::llm::LlmConfig>,
    pub ictc_max_n: usize,
}

pub fn ablate(ctx: &Context, a: AblateArgs<'_>) -> CliResult {
    let AblateArgs { sets_file, data_dir, out_dir, work_dir, only, methods, llm, ictc_max_n } = a;
    let text = std::fs::read_to_string(sets_file).map_err(|e| format!("{}: {e}", sets_file.display()))?;
    let mut sets: Vec<crate::experiments::ablation::AblationSet> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", sets_file.display()))?;
    if !only.is_empty() {
        sets.retain(|s| only.iter().any(|o| o.eq_ignore_ascii_case(&s.name)));
    }
    let methods: Vec<Method> = if methods.is_empty() { Method::ALL.to_vec() } else { methods.to_vec() };
    let mut enc = TextEmbedding::try_new(ctx.text_options(ModelName::DEFAULT_TEXT.info().name)?)?;
    let cfg = crate::experiments::ablation::AblationConfig {
        data_dir: data_dir.to_path_buf(),
        work_dir: work_dir.to_path_buf(),
        conditionings: Conditioning::ALL.to_vec(),
        methods,
        seed: 42,
        seeds: vec![42, 1, 2],
        llm,
        ictc_max_n,
    };
    let ablation = crate::experiments::ablation::run(&sets, &cfg, &mut enc)?;
    std::fs::create_dir_all(out_dir)?;
    let md = format!(
        "# Ablation\n\nGenerated by `clusterby ablate --data {}` (indexes cached in `{}`).\n\n\
         ## The default query against plain k-means (seeds {})\n\n\
         Hungarian ACC and NMI, mean ± standard deviation over the seeds; the default is `--by` and `-k` only \
         (values conditioning, k-means, zero LLM calls); plain is k-means on the caption embeddings \
         (`--conditioning none`); IC\\|TC ACC is its published GPT-4 answers scored on the same rows (on Stanford-40, \
         answers made from other, action-prompted captions of the same images).\n\n{}\
         ## Every conditioning × method (seed {})\n\n{}",
        data_dir.display(),
        work_dir.display(),
        cfg.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        crate::experiments::carry_over::markdown(&ablation.summary),
        cfg.seed,
        crate::experiments::ablation::markdown(&ablation.grid)
    );
    std::fs::write(out_dir.join("ablation.md"), &md)?;
    std::fs::write(out_dir.join("ablation.json"), serde_json::to_vec_pretty(&ablation)?)?;
    println!("{md}");
    eprintln!("wrote {}/ablation.md and ablation.json", out_dir.display());
    Ok(())
}

// ---- images -------------------------------------------------------------------------------

use crate::embed::image::{ClipSource, ImageEmbedding, ImageEmbeddingOptions};
use crate::store::image_index::{self, Descriptor, ImageIndexOptions, LabelSource, LoadedImageIndex};

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
fn encode_images(ctx: &Context, a: &ImageIndexArgs<'_>) -> CliResult {
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
fn import_captions(file: &Path, ids: &[String]) -> Result<HashMap<String, String>, Box<dyn std::error::Error>> {
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
fn caption_with_endpoints(
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
fn index_image_captions(ctx: &Context, a: &ImageIndexArgs<'_>, captions: HashMap<String, String>) -> CliResult {
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
