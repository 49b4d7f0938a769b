//! `ictc`, `eval`, `demo` and `ablate`: the baseline, scoring, the demo and the ablation.

use super::*;

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

pub(super) fn truncate(s: &str, n: usize) -> String {
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
pub(super) fn load_label_table(
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
pub(super) struct EvalReport {
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
pub(super) fn name_quality(
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
