//! One query: "cluster this index by <criterion>" — embed the criterion, condition the cached
//! embeddings on it, cluster, name. No model call per image; at most one LLM call in all.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cluster::{self, ClusterError, ClusterParams, Method, Rows};
use crate::conditioning::{self, Conditioning, ConditioningError, ConditionInput};
use crate::index::store::LoadedIndex;
use crate::llm::{LlmClient, LlmUsage};
use crate::naming::{KeywordNamer, LlmNamer, Namer, NamingError, NamingReport, NamingRequest};
use crate::text_embedding::{EmbedError, TextEmbedding};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the criterion is empty: say what to cluster by, e.g. --by \"mood\"")]
    EmptyCriterion,
    #[error("the index is empty")]
    EmptyIndex,
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Conditioning(#[from] ConditioningError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error("--namer llm and --conditioning names need an LLM endpoint (--llm-base-url or CLUSTERBY_LLM_BASE_URL)")]
    NoLlm,
    #[error("{0}")]
    Invalid(String),
}

/// Who names the clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamerKind {
    /// Distinctive keywords (c-TF-IDF), offline.
    #[default]
    Keywords,
    /// One LLM call for all names, keyword names on failure.
    Llm,
}

impl std::str::FromStr for NamerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "keywords" | "keyword" => Ok(NamerKind::Keywords),
            "llm" => Ok(NamerKind::Llm),
            other => Err(format!("unknown namer {other:?}: use keywords or llm")),
        }
    }
}

/// Whether the one-call path (`--conditioning names`) checks the model's answer against the
/// data before using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupingCheck {
    /// Keep the answer's partition only if it fits the data about as well as k-means without
    /// the LLM and fewer than half its categories go (almost) without captions, or if the
    /// captions' co-mentions vouch for the grouping (values one caption names together fall
    /// in one category far more often than in random regroupings). Where the embeddings follow
    /// the criterion, a wrong answer then cannot make the result worse than the zero-call
    /// query; where they do not (e.g. "gender" of products), a right one is still kept when the
    /// captions' co-mentions agree with it (held-out fashion names: ACC 0.59 → 0.99).
    #[default]
    Checked,
    /// Keep any answer that groups the values of at least half the captions into at least two
    /// categories, whether or not the data supports it. A wrong answer is then kept too
    /// (`notebooks/fashion_criteria.md`, `notebooks/one_call_names.md`).
    Trusted,
}

impl std::str::FromStr for GroupingCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "checked" => Ok(GroupingCheck::Checked),
            "trusted" => Ok(GroupingCheck::Trusted),
            other => Err(format!("unknown grouping check {other:?}: use checked or trusted")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryOptions {
    pub criterion: String,
    pub k: Option<usize>,
    pub method: Method,
    pub conditioning: Conditioning,
    /// Criteria to ignore ("gender"): their directions are removed before clustering.
    pub exclude: Vec<String>,
    pub seed: u64,
    /// k-means restarts (best inertia wins, run in parallel): one bad start can merge two
    /// classes and split another. On PPMI-7 with 10 restarts one seed in seven still ended
    /// there (ACC 0.82 instead of 0.96); with 20, none of twelve did.
    pub restarts: usize,
    pub examples_per_cluster: usize,
    /// The index folder, where criterion-free derived data is cached.
    pub cache_dir: Option<std::path::PathBuf>,
    pub values: conditioning::ValuesParams,
    pub namer: NamerKind,
    /// Most criterion values listed in the one-call prompt of `--conditioning names`.
    pub llm_values: usize,
    /// Whether `--conditioning names` checks the model's grouping against the data.
    pub grouping: GroupingCheck,
}

/// Values listed in the one-call prompt by default: enough to reach the long tail that needs
/// knowledge ("gorilla", "bobcat", "jaguar"), few enough for one prompt of about 7,000 tokens
/// (SmolLM2's prompt and answer came to 6,988 on STL-10, 1,945 on PPMI-2's 266 values).
/// With a stand-in model fitted on half of each set's rows and scored on the other half
/// (`notebooks/one_call_names.md`), 300 / 1,000 / 2,000 values gave STL-10 0.983 / 0.987 /
/// 0.987 and CIFAR-10 0.921 / 0.924 / 0.926 (PPMI lists all of its ~260).
pub const DEFAULT_LLM_VALUES: usize = 1000;

impl QueryOptions {
    pub fn new(criterion: impl Into<String>) -> Self {
        Self {
            criterion: criterion.into(),
            k: None,
            method: Method::KMeans,
            conditioning: Conditioning::default(),
            exclude: Vec::new(),
            seed: 42,
            restarts: 20,
            examples_per_cluster: 3,
            cache_dir: None,
            values: Default::default(),
            namer: NamerKind::Keywords,
            llm_values: DEFAULT_LLM_VALUES,
            grouping: GroupingCheck::Checked,
        }
    }
    pub fn with_namer(mut self, n: NamerKind) -> Self {
        self.namer = n;
        self
    }
    pub fn with_k(mut self, k: Option<usize>) -> Self {
        self.k = k;
        self
    }
    pub fn with_method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    pub fn with_conditioning(mut self, c: Conditioning) -> Self {
        self.conditioning = c;
        self
    }
    pub fn with_exclude(mut self, e: Vec<String>) -> Self {
        self.exclude = e;
        self
    }
    pub fn with_seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    pub fn with_llm_values(mut self, n: usize) -> Self {
        self.llm_values = n;
        self
    }
    pub fn with_grouping_check(mut self, g: GroupingCheck) -> Self {
        self.grouping = g;
        self
    }
}

/// The result of `clusterby cluster` (and of `clusterby ictc`): the stable JSON shape
/// documented in the README.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterResult {
    pub criterion: String,
    pub method: String,
    pub conditioning: String,
    pub k: usize,
    #[serde(default)]
    pub k_auto: bool,
    pub clusters: Vec<ClusterSummary>,
    pub assignments: Vec<Assignment>,
    pub llm_calls: usize,
    pub timings_ms: BTreeMap<String, f64>,
    #[serde(default)]
    pub namer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_selection: Option<cluster::KSelection>,
    /// Calls, tokens and seconds spent on the LLM, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmUsage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Cluster id as used in `assignments` (-1 = noise, only for DBSCAN/HDBSCAN).
    pub id: i64,
    pub name: String,
    pub size: usize,
    pub keywords: Vec<String>,
    /// Ids of the items nearest the cluster's centre, most typical first.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub cluster: i64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs one query over a loaded index, offline (keyword names).
pub fn run(index: &LoadedIndex, encoder: &mut TextEmbedding, opts: &QueryOptions) -> Result<ClusterResult, QueryError> {
    run_with(index, encoder, opts, None)
}

/// Runs one query; with `opts.namer == Llm`, names the clusters in one call through `llm`.
pub fn run_with(
    index: &LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    llm: Option<&LlmClient>,
) -> Result<ClusterResult, QueryError> {
    if (opts.namer == NamerKind::Llm || opts.conditioning == Conditioning::Names) && llm.is_none() {
        return Err(QueryError::NoLlm);
    }
    if let (Conditioning::Names, Some(client)) = (opts.conditioning, llm) {
        return crate::query_names::run(index, encoder, opts, client);
    }
    if opts.criterion.trim().is_empty() {
        return Err(QueryError::EmptyCriterion);
    }
    if index.ids.is_empty() {
        return Err(QueryError::EmptyIndex);
    }
    let total = Instant::now();
    let mut timings = BTreeMap::new();

    let t = Instant::now();
    let (conditioned, cond_report) = conditioning::condition(
        &ConditionInput {
            captions: &index.captions,
            embeddings: index.embeddings.view(),
            criterion: &opts.criterion,
            exclude: &opts.exclude,
            k: opts.k,
            seed: opts.seed,
            cache_dir: opts.cache_dir.as_deref(),
            values: opts.values,
        },
        opts.conditioning,
        encoder,
    )?;
    timings.insert("condition".to_string(), ms(t));
    let mut notes = Vec::new();
    if !cond_report.relevant_terms.is_empty() {
        let terms: Vec<&str> = cond_report.relevant_terms.iter().map(|(t, _)| t.as_str()).collect();
        notes.push(format!(
            "criterion values (top of {} mined terms): {}",
            cond_report.vocabulary_size,
            terms.join(", ")
        ));
    }
    if let Some(a) = cond_report.caption_weight {
        notes.push(format!("caption weight {a:.2} (values {:.2})", 1.0 - a));
    }
    let terms = cond_report
        .vocabulary
        .as_ref()
        .map(|v| crate::naming::TermLists { terms: &v.terms[..v.axis_terms], occurrences: &v.occurrences });
    let features =
        Features { ids: &index.ids, captions: &index.captions, x: conditioned.rows(), terms, unit: conditioned.known_unit() };
    cluster_and_name(&features, opts, llm, Some(encoder), None, None, timings, notes, total)
}

/// What clustering sees: one feature row per item, with the item's id and caption (captions
/// may be empty strings, e.g. uncaptioned images).
pub(crate) struct Features<'a> {
    pub ids: &'a [String],
    pub captions: &'a [String],
    pub x: Rows<'a>,
    /// Each caption's mined terms, when conditioning loaded them (spares the namer tokenizing).
    pub terms: Option<crate::naming::TermLists<'a>>,
    /// Every row of `x` is known to be a unit vector.
    pub unit: bool,
}

/// Names computed by the caller from the clustering (labels, k), for feature spaces without
/// captions to mine keywords from.
pub(crate) type NameFn<'a> = &'a dyn Fn(&[i64], usize) -> Vec<crate::naming::ClusterName>;

/// Clusters conditioned features, names the clusters and assembles the result. With `encoder`
/// (the index's text encoder), one-call LLM names must also identify their clusters
/// ([`crate::naming::llm::names_fit_clusters`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn cluster_and_name(
    f: &Features<'_>,
    opts: &QueryOptions,
    llm: Option<&LlmClient>,
    encoder: Option<&mut TextEmbedding>,
    names_from: Option<NameFn<'_>>,
    preset: Option<cluster::Clustering>,
    mut timings: BTreeMap<String, f64>,
    mut notes: Vec<String>,
    total: Instant,
) -> Result<ClusterResult, QueryError> {
    let t = Instant::now();
    let clustering = match preset {
        Some(c) => c,
        None => {
            let params =
                ClusterParams::new(opts.method).with_k(opts.k).with_seed(opts.seed).with_n_runs(opts.restarts).check()?;
            if f.unit {
                cluster::fit_unit_rows(f.x, &params)?
            } else {
                cluster::fit_rows(f.x, &params)?
            }
        }
    };
    timings.insert("cluster".to_string(), ms(t));

    let t = Instant::now();
    let per_cluster = opts.examples_per_cluster.max(3);
    let examples = match &clustering.typicality {
        // The fit already scored every row against its centroid: no second pass over the rows.
        Some(scores) => most_typical(&clustering.labels, scores, clustering.k, per_cluster),
        None => representatives(f.x, &clustering.labels, clustering.k, per_cluster),
    };
    let mut req = NamingRequest::new(&opts.criterion, f.captions, &clustering.labels, clustering.k)
        .with_representatives(&examples);
    if let Some(t) = f.terms {
        req = req.with_terms(t);
    }
    let (names, report) = match (opts.namer, llm, names_from) {
        (NamerKind::Llm, Some(client), Some(name_fn)) => {
            LlmNamer::new(client).name_checked_from(&req, name_fn(&clustering.labels, clustering.k), "values", encoder)
        }
        (NamerKind::Llm, Some(client), None) => LlmNamer::new(client).name_checked(&req, encoder)?,
        (_, _, Some(name_fn)) => (name_fn(&clustering.labels, clustering.k), NamingReport { namer: "values".into(), ..Default::default() }),
        _ => (KeywordNamer::new().name(&req)?, Default::default()),
    };
    timings.insert("name".to_string(), ms(t));

    let sizes = clustering.sizes();
    let noise = clustering.noise_count();
    let mut clusters: Vec<ClusterSummary> = names
        .into_iter()
        .filter(|n| n.cluster >= 0 || noise > 0)
        .map(|n| ClusterSummary {
            id: n.cluster,
            size: if n.cluster < 0 { noise } else { sizes.get(n.cluster as usize).copied().unwrap_or(0) },
            examples: if n.cluster < 0 {
                Vec::new()
            } else {
                examples[n.cluster as usize]
                    .iter()
                    .take(opts.examples_per_cluster)
                    .map(|&i| f.ids[i].clone())
                    .collect()
            },
            name: n.name,
            keywords: n.keywords,
        })
        .collect();
    clusters.sort_by_key(|c| (c.id < 0, c.id));
    let assignments = f
        .ids
        .iter()
        .zip(&clustering.labels)
        .map(|(id, &c)| Assignment { id: id.clone(), cluster: c })
        .collect();
    timings.insert("total".to_string(), ms(total));
    notes.splice(0..0, conditioned_notes(opts));
    if let Some(why) = &report.fallback_reason {
        notes.push(format!("LLM namer: {why}"));
    }
    if clustering.fit_rows < f.ids.len() {
        notes.push(format!(
            "{} fit on a seeded sample of {} rows; the rest were assigned to the nearest cluster",
            opts.method.as_str(),
            clustering.fit_rows
        ));
    }
    Ok(ClusterResult {
        criterion: opts.criterion.clone(),
        method: opts.method.as_str().to_string(),
        conditioning: opts.conditioning.as_str().to_string(),
        k: clustering.k,
        k_auto: clustering.k_chosen_automatically,
        clusters,
        assignments,
        llm_calls: report.llm_calls,
        timings_ms: timings,
        namer: report.namer,
        notes,
        k_selection: clustering.selection,
        llm: report.usage,
    })
}

fn conditioned_notes(opts: &QueryOptions) -> Vec<String> {
    let mut v = Vec::new();
    if !opts.exclude.is_empty() {
        v.push(format!("excluded: {}", opts.exclude.join(", ")));
    }
    v
}

/// Per cluster, the rows most similar to the cluster's mean direction.
pub fn representatives(x: Rows<'_>, labels: &[i64], k: usize, n: usize) -> Vec<Vec<usize>> {
    use rayon::prelude::*;
    // Small blocks: at 10k rows, large ones left a core idle.
    const CHUNK: usize = 1024;
    let dim = x.ncols();
    let rows = x.nrows().min(labels.len());
    let cluster = |i: usize| labels.get(i).copied().filter(|&l| l >= 0 && (l as usize) < k).map(|l| l as usize);
    let sums = (0..rows.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut sums = vec![0f32; k * dim];
            for i in c * CHUNK..((c + 1) * CHUNK).min(rows) {
                if let Some(l) = cluster(i) {
                    x.add_row_to(i, &mut sums[l * dim..(l + 1) * dim]);
                }
            }
            sums
        })
        .reduce(|| vec![0f32; k * dim], |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        });
    let centroids = ndarray::ArrayView2::from_shape((k, dim), &sums).expect("k × dim sums");
    let scores = x.map_centroid_scores(centroids, |i, s| cluster(i).map_or(f32::NEG_INFINITY, |l| s[l]));
    most_typical(&labels[..rows], &scores, k, n)
}

/// Per cluster (`labels` in `0..k`; others skipped), the `n` rows with the highest `scores`,
/// highest first.
fn most_typical(labels: &[i64], scores: &[f32], k: usize, n: usize) -> Vec<Vec<usize>> {
    let cluster = |i: usize| Some(labels[i]).filter(|&l| l >= 0 && (l as usize) < k).map(|l| l as usize);
    let mut best: Vec<Vec<(f32, usize)>> = vec![Vec::new(); k];
    for (i, &s) in scores.iter().enumerate().take(labels.len()) {
        let Some(l) = cluster(i) else { continue };
        let b = &mut best[l];
        b.push((s, i));
        if b.len() > n * 4 + 8 {
            b.sort_by(|a, c| c.0.total_cmp(&a.0));
            b.truncate(n);
        }
    }
    best.into_iter()
        .map(|mut b| {
            b.sort_by(|a, c| c.0.total_cmp(&a.0));
            b.into_iter().take(n).map(|(_, i)| i).collect()
        })
        .collect()
}
