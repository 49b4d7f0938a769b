//! The ablation table: every conditioning × clustering method on labelled caption sets, next to
//! IC|TC's own answers for the same rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::Method;
use crate::conditioning::Conditioning;
use crate::embed::text::TextEmbedding;
use crate::eval;
use crate::experiments::ictc::{self, IctcOptions};
use crate::llm::{AnswerCache, LlmClient, LlmConfig};
use crate::query::{self, ClusterResult, NamerKind, QueryOptions, Strategy};
use crate::store::caption_index::Index;
use crate::store::LoadedIndex;

/// One labelled caption set; the criterion and K are the only query inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationSet {
    pub name: String,
    /// A captions file under the data folder (indexed into the work folder)...
    #[serde(default)]
    pub file: PathBuf,
    /// ...or the id and caption columns of a CSV under the data folder, scored by one of its
    /// label columns...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<super::carry_over::CsvSource>,
    /// ...or an existing index folder: a caption index, or an image index (`clusterby index
    /// IMAGE_DIR`), whose stored labels are the truth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PathBuf>,
    pub criterion: String,
    /// The number of clusters; by default, the number of distinct labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default)]
    pub section: super::carry_over::Section,
}

/// What `ablate` writes: the carry-over summary over several seeds, and the grid of every
/// conditioning × method at one seed on the sets written for their criterion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ablation {
    pub summary: Vec<super::carry_over::SummaryRow>,
    pub grid: Vec<AblationRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationRow {
    pub set: String,
    pub pipeline: String,
    pub conditioning: String,
    pub method: String,
    pub n: usize,
    /// Clusters in the result (found, for the density methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// DBSCAN/HDBSCAN: noise rows put in their nearest cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_reassigned: Option<usize>,
    pub acc: Option<f64>,
    pub nmi: Option<f64>,
    pub ari: Option<f64>,
    pub llm_calls: usize,
    pub query_ms: Option<f64>,
    /// Who named the clusters (keywords, llm, or the pipeline's own names).
    #[serde(default)]
    pub namer: String,
    /// Mean cosine similarity between each cluster's name and the name of the class it is
    /// matched to (Hungarian matching), embedded with the index's text model.
    #[serde(default)]
    pub name_quality: Option<f64>,
    /// Prompt + completion tokens the row's LLM calls used (cached answers included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AblationRow {
    fn new(set: &AblationSet, pipeline: &str, conditioning: &str, method: &str, n: usize) -> Self {
        Self {
            set: set.name.clone(),
            pipeline: pipeline.into(),
            conditioning: conditioning.into(),
            method: method.into(),
            n,
            k: None,
            noise_reassigned: None,
            acc: None,
            nmi: None,
            ari: None,
            llm_calls: 0,
            query_ms: None,
            namer: String::new(),
            name_quality: None,
            llm_tokens: None,
            error: None,
        }
    }

    /// Fills the scores, name quality and costs from one result.
    fn record(&mut self, res: &ClusterResult, truth: &HashMap<String, String>, encoder: &mut TextEmbedding) {
        let pairs: Vec<(String, i64)> = res.assignments.iter().map(|a| (a.id.clone(), a.cluster)).collect();
        match eval::score_by_id(truth, &pairs) {
            Ok(s) => {
                self.acc = Some(s.acc);
                self.nmi = Some(s.nmi);
                self.ari = Some(s.ari);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
        self.k = Some(res.k);
        self.noise_reassigned = res.diagnostics.noise_reassigned;
        self.llm_calls = res.llm_calls;
        self.query_ms = res.timings_ms.get("wall").or_else(|| res.timings_ms.get("total")).copied();
        self.namer = res.namer.as_str().to_string();
        self.llm_tokens = res.llm.as_ref().map(|u| u.prompt_tokens + u.completion_tokens);
        match name_quality(res, truth, encoder) {
            Ok(q) => self.name_quality = q,
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// Mean cosine similarity between cluster names and their Hungarian-matched class names;
/// `None` when nothing is matched.
pub fn name_quality(
    res: &ClusterResult,
    truth: &HashMap<String, String>,
    encoder: &mut TextEmbedding,
) -> Result<Option<f64>, crate::embed::text::EmbedError> {
    let mut classes: Vec<&str> = Vec::new();
    let (mut t, mut p) = (Vec::new(), Vec::new());
    for a in res.assignments.iter().filter(|a| a.cluster >= 0) {
        if let Some(l) = truth.get(&a.id) {
            let ci = classes.iter().position(|c| c == l).unwrap_or_else(|| {
                classes.push(l);
                classes.len() - 1
            });
            t.push(ci);
            p.push(a.cluster as usize);
        }
    }
    let pairs = eval::matching(&t, &p);
    let named: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|&(c, class)| {
            res.clusters.iter().find(|s| s.id == c as i64).map(|s| (s.name.as_str(), classes[class]))
        })
        .collect();
    if named.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = named.iter().map(|x| x.0).collect();
    let labels: Vec<String> = named.iter().map(|x| x.1.replace(['_', '-'], " ")).collect();
    let (a, b) = (encoder.embed(&names)?, encoder.embed(&labels)?);
    let sims: f64 = a.rows().into_iter().zip(b.rows()).map(|(x, y)| x.dot(&y) as f64).sum();
    Ok(Some(sims / named.len() as f64))
}

/// IC|TC's final answers (`ictc_answer`) scored against the labels; rows without an answer
/// count as one extra cluster, so they are not silently dropped.
pub fn ictc_row(set: &AblationSet, path: &Path) -> Result<AblationRow, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(label), Some(ans)) = (v.get("label"), v.get("ictc_answer")) else { continue };
        truth.push(label.to_string());
        pred.push(ans.as_str().map(|s| s.trim().to_lowercase()).unwrap_or_else(|| "<none>".into()));
    }
    let s = eval::score(&truth, &pred)?;
    Ok(AblationRow {
        set: set.name.clone(),
        pipeline: "IC|TC (LLaVA + GPT-4, published answers)".into(),
        conditioning: "-".into(),
        method: "-".into(),
        n: s.n,
        k: Some(pred.iter().collect::<std::collections::HashSet<_>>().len()),
        noise_reassigned: None,
        acc: Some(s.acc),
        nmi: Some(s.nmi),
        ari: Some(s.ari),
        llm_calls: 2 * s.n + 1,
        query_ms: None,
        namer: "-".into(),
        name_quality: None,
        llm_tokens: None,
        error: None,
    })
}

pub struct AblationConfig {
    pub data_dir: PathBuf,
    pub work_dir: PathBuf,
    pub conditionings: Vec<Conditioning>,
    pub methods: Vec<Method>,
    pub seed: u64,
    /// Seeds of the carry-over summary.
    pub seeds: Vec<u64>,
    /// With an endpoint: an LLM-namer row per set, and IC|TC run with this model on sets of
    /// at most `ictc_max_n` captions (answers cached in the set's work folder).
    pub llm: Option<LlmConfig>,
    pub ictc_max_n: usize,
}

/// Runs the summary and the grid; indexes each set once (cached in `work_dir`). Failures of one
/// cell are recorded in that row, never fatal to the table.
pub fn run(
    sets: &[AblationSet],
    cfg: &AblationConfig,
    encoder: &mut TextEmbedding,
) -> Result<Ablation, Box<dyn std::error::Error>> {
    let (mut summary, mut rows) = (Vec::new(), Vec::new());
    for set in sets {
        if let Some(dir) = set.index.as_ref().filter(|d| crate::store::image_index::is_image_index(d)) {
            rows.extend(image_rows(set, dir, cfg, encoder)?);
            continue;
        }
        let input = cfg.data_dir.join(&set.file);
        let (dir, loaded, truth) = match &set.index {
            Some(d) => {
                let loaded = Index::open(d)?.load()?;
                let truth = loaded
                    .ids
                    .iter()
                    .zip(&loaded.labels)
                    .filter_map(|(i, l)| l.clone().map(|l| (i.clone(), l)))
                    .collect();
                (d.clone(), loaded, truth)
            }
            None => super::carry_over::index_of(
                &set.name,
                &set.file,
                set.csv.as_ref(),
                &cfg.data_dir,
                &cfg.work_dir,
                encoder,
            )?,
        };
        let ictc = set
            .csv
            .is_none()
            .then(|| ictc_row(set, &input))
            .and_then(|r| r.map_err(|e| eprintln!("[{}] no IC|TC row: {e}", set.name)).ok());
        let mut row = super::carry_over::summary_row(set, &loaded, &dir, &truth, &cfg.seeds, encoder)?;
        row.ictc_acc = ictc.as_ref().and_then(|r| r.acc);
        summary.push(row);
        if set.section != super::carry_over::Section::WrittenForTheCriterion {
            continue;
        }
        let Some(k) = set.k else { continue };
        rows.extend(ictc);
        let grid = Grid { set, k, loaded: &loaded, dir: &dir, truth: &truth, cfg };
        rows.extend(grid.rows(encoder)?);
    }
    Ok(Ablation { summary, grid: rows })
}

/// One labelled caption set's grid: IC|TC run live and the one call where an LLM is named,
/// then every conditioning × method.
struct Grid<'a> {
    set: &'a AblationSet,
    k: usize,
    loaded: &'a LoadedIndex,
    dir: &'a Path,
    truth: &'a HashMap<String, String>,
    cfg: &'a AblationConfig,
}

impl Grid<'_> {
    fn rows(&self, encoder: &mut TextEmbedding) -> Result<Vec<AblationRow>, Box<dyn std::error::Error>> {
        let mut rows = Vec::new();
        let client = self.cfg.llm.clone().map(LlmClient::new).transpose()?;
        if let Some(client) = client.as_ref().filter(|_| self.loaded.ids.len() <= self.cfg.ictc_max_n) {
            rows.push(self.ictc_live(client, encoder)?);
        }
        if let Some(client) = client.as_ref() {
            rows.push(self.one_call(client, encoder));
        }
        for &c in &self.cfg.conditionings {
            for &m in &self.cfg.methods {
                let opts = cell_options(self.set, self.k, c, m, self.cfg.seed, self.dir);
                let default = c == Conditioning::default() && m == Method::KMeans;
                let namers: &[NamerKind] = match (&client, default) {
                    (Some(_), true) => &[NamerKind::Keywords, NamerKind::Llm],
                    _ => &[NamerKind::Keywords],
                };
                for &namer in namers {
                    let mut row =
                        AblationRow::new(self.set, "clusterby", c.as_str(), m.as_str(), self.loaded.ids.len());
                    match query::run(self.loaded, encoder, &opts.clone().with_namer(namer), client.as_ref()) {
                        Ok(res) => row.record(&res, self.truth, encoder),
                        Err(e) => row.error = Some(e.to_string()),
                    }
                    log_row(&row);
                    rows.push(row);
                }
            }
        }
        Ok(rows)
    }

    /// The one-call query's row: the LLM groups the mined values into K named categories (kept
    /// if the checks pass); the conditioning column says what became of the answer.
    fn one_call(&self, client: &LlmClient, encoder: &mut TextEmbedding) -> AblationRow {
        let opts = QueryOptions::new(&self.set.criterion)
            .with_k(Some(self.k))
            .with_strategy(Strategy::OneCall)
            .with_seed(self.cfg.seed)
            .with_cache_dir(self.dir);
        let mut row = AblationRow::new(self.set, "clusterby (one call)", "values", "kmeans", self.loaded.ids.len());
        match query::run(self.loaded, encoder, &opts, Some(client)) {
            Ok(res) => {
                if let Some(o) = &res.diagnostics.one_call {
                    row.conditioning = format!("values, one call {}", verdict_words(&o.verdict));
                }
                row.record(&res, self.truth, encoder);
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        log_row(&row);
        row
    }

    /// IC|TC's three steps with the named LLM, answers cached beside the index.
    fn ictc_live(
        &self,
        client: &LlmClient,
        encoder: &mut TextEmbedding,
    ) -> Result<AblationRow, Box<dyn std::error::Error>> {
        let (set, n) = (self.set, self.loaded.ids.len());
        let mut row = AblationRow::new(set, &format!("IC|TC ({})", client.config().model), "llm-per-image", "-", n);
        let cache = AnswerCache::open(&self.dir.join("llm-cache.jsonl"))?;
        let wall = std::time::Instant::now();
        let opts = IctcOptions::new(&set.criterion, self.k);
        match ictc::run(&self.loaded.ids, &self.loaded.captions, &opts, client, &cache, encoder) {
            Ok((mut res, _)) => {
                res.timings_ms.insert("wall".into(), wall.elapsed().as_secs_f64() * 1e3);
                row.record(&res, self.truth, encoder);
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        log_row(&row);
        Ok(row)
    }
}

/// The query of one grid cell.
fn cell_options(set: &AblationSet, k: usize, c: Conditioning, m: Method, seed: u64, dir: &Path) -> QueryOptions {
    QueryOptions::new(&set.criterion)
        .with_k(Some(k))
        .with_method(m)
        .with_conditioning(c)
        .with_seed(seed)
        .with_cache_dir(dir)
}

/// The one call's verdict in a table cell.
fn verdict_words(v: &crate::query::one_call::Verdict) -> String {
    let json = serde_json::to_value(v).unwrap_or_default();
    let word = |k: &str| json.get(k).and_then(|x| x.as_str()).unwrap_or("").replace('_', " ");
    match v {
        crate::query::one_call::Verdict::Failed { .. } => format!("failed ({})", word("reason")),
        crate::query::one_call::Verdict::Refused { .. } => format!("refused ({})", word("reason")),
        crate::query::one_call::Verdict::Kept { .. } => format!("kept ({})", word("because")),
    }
}

/// Rows for an image index: each conditioning × method in the image space, and in the caption
/// and joined spaces when the images have captions.
fn image_rows(
    set: &AblationSet,
    dir: &Path,
    cfg: &AblationConfig,
    encoder: &mut TextEmbedding,
) -> Result<Vec<AblationRow>, Box<dyn std::error::Error>> {
    use crate::query::{image as image_query, Space};
    let idx = crate::store::image_index::LoadedImageIndex::open(dir)?;
    let truth: HashMap<String, String> =
        idx.images.ids.iter().zip(&idx.images.labels).filter_map(|(i, l)| l.clone().map(|l| (i.clone(), l))).collect();
    let d = &idx.descriptor;
    let clip =
        crate::embed::image::ClipSource::parse(if d.clip_source.is_empty() { &d.clip_model } else { &d.clip_source })?;
    let mut clip_text = clip.text_encoder(&Default::default(), None)?;
    let mut cap_enc = match &d.caption_model {
        Some(m) if idx.captioned > 0 => Some(TextEmbedding::try_new(crate::embed::text::TextEmbeddingOptions::new(
            crate::embed::text::TextModelSource::parse(m)?,
        ))?),
        _ => None,
    };
    let spaces: &[Space] =
        if cap_enc.is_some() { &[Space::Image, Space::Caption, Space::Both] } else { &[Space::Image] };
    let n = idx.images.ids.len();
    let k = set.k.unwrap_or_else(|| truth.values().collect::<std::collections::HashSet<_>>().len());
    let mut rows = Vec::new();
    for &space in spaces {
        for &c in &cfg.conditionings {
            for &m in &cfg.methods {
                let opts = cell_options(set, k, c, m, cfg.seed, dir);
                let mut row =
                    AblationRow::new(set, &format!("clusterby ({})", idx.descriptor.clip_model), "", m.as_str(), n);
                match image_query::run(&idx, space, &mut clip_text, cap_enc.as_mut(), &opts, None) {
                    Ok(res) => {
                        row.conditioning = format!("{}:{}", space.as_str(), c.as_str());
                        row.record(&res, &truth, encoder);
                    }
                    Err(e) => {
                        row.conditioning = format!("{}:{}", space.as_str(), c.as_str());
                        row.error = Some(e.to_string());
                    }
                }
                log_row(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn log_row(row: &AblationRow) {
    eprintln!(
        "[{}] {} {} + {} ({} names): ACC {} ({} ms){}",
        row.set,
        row.pipeline,
        row.conditioning,
        row.method,
        row.namer,
        row.acc.map(|a| format!("{a:.3}")).unwrap_or("-".into()),
        row.query_ms.map(|t| format!("{t:.0}")).unwrap_or("-".into()),
        row.error.as_ref().map(|e| format!(" error: {e}")).unwrap_or_default()
    );
}

/// The table as Markdown.
pub fn markdown(rows: &[AblationRow]) -> String {
    let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into());
    let mut s = String::from(
        "| set | pipeline | conditioning | method | n | K | noise assigned | ACC | NMI | ARI | LLM calls | query ms | namer | name quality |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    // A `|` inside a cell (as in "IC|TC") would split it.
    let e = |t: &str| t.replace('|', "\\|");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            e(&r.set),
            e(&r.pipeline),
            e(&r.conditioning),
            e(&r.method),
            r.n,
            r.k.map_or_else(|| "–".into(), |k| k.to_string()),
            r.noise_reassigned.map_or_else(|| "–".into(), |k| k.to_string()),
            f(r.acc),
            f(r.nmi),
            f(r.ari),
            r.llm_calls,
            r.query_ms.map(|t| format!("{t:.0}")).unwrap_or_else(|| r
                .error
                .clone()
                .map(|e| format!("error: {e}"))
                .unwrap_or("–".into())),
            e(&r.namer),
            f(r.name_quality)
        ));
    }
    s
}
