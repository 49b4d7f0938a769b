//! What every query does once it has features: cluster them (choosing K where none is given),
//! name the clusters, and fill the result.

use std::time::Instant;

use crate::cluster::{self, CheckedClusterParams, ClusterParams, Clustering, Rows};
use crate::embed::text::TextEmbedding;
use crate::llm::LlmClient;
use crate::naming::{ClusterName, KeywordNamer, LlmNamer, Namer, NamerFallback, NamingRequest, TermLists};

use super::{Assignment, ClusterResult, ClusterSummary, NamerKind, NamingReport, QueryError, QueryOptions};

/// What clustering sees: one feature row per item, with the item's id and caption (captions
/// may be empty strings, e.g. uncaptioned images).
pub(crate) struct Features<'a> {
    pub ids: &'a [String],
    pub captions: &'a [String],
    pub x: Rows<'a>,
    /// Each caption's mined terms, when conditioning loaded them (spares the namer tokenizing).
    pub terms: Option<TermLists<'a>>,
    /// Every row of `x` is known to be a unit vector.
    pub unit: bool,
}

/// Names computed by the caller from the clustering (labels, k), for feature spaces without
/// captions to mine keywords from, or from an LLM's categories.
pub(crate) type NameFn<'a> = &'a dyn Fn(&[i64], usize) -> Vec<ClusterName>;

/// Who names the clusters.
pub(crate) enum Naming<'a> {
    /// c-TF-IDF keywords of the captions.
    Keywords,
    /// Names the caller makes, reported as `namer`.
    Given(NameFn<'a>, NamerKind),
    /// One LLM call over the keyword names, or over `base` when given. With `encoder` the
    /// names must also identify their clusters.
    Llm { client: &'a LlmClient, encoder: Option<&'a mut TextEmbedding>, base: Option<(NameFn<'a>, NamerKind)> },
    /// Keyword names, each replaced by the LLM's where `names` has one (the one call's
    /// categories matched to the clusters); `usage` when the namer made the call.
    /// Each name must be nearer its own cluster's keywords than any other's (`encoder`).
    Replaced {
        names: Vec<Option<String>>,
        report: NamingReport,
        usage: Option<crate::llm::LlmUsage>,
        encoder: &'a mut TextEmbedding,
    },
}

/// A result under construction and the instant its query began.
pub(crate) struct Draft {
    pub result: ClusterResult,
    pub started: Instant,
}

impl Draft {
    pub fn new(opts: &QueryOptions, strategy: super::Strategy) -> Self {
        let mut result = ClusterResult::new(&opts.criterion, strategy, opts.k.unwrap_or(0), opts.seed);
        result.method = Some(opts.method);
        result.conditioning = Some(opts.conditioning);
        result.index = opts.cache_dir.clone();
        result.diagnostics.excluded = opts.exclude.clone();
        Self { result, started: Instant::now() }
    }

    /// Records how long the step that began at `t` took.
    pub fn time(&mut self, step: &str, t: Instant) {
        self.result.timings_ms.insert(step.to_string(), t.elapsed().as_secs_f64() * 1e3);
    }
}

pub(crate) fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Clusters the features with the query's method, K (chosen when `None`) and seed.
pub(crate) fn fit(f: &Features<'_>, opts: &QueryOptions, k: Option<usize>) -> Result<Clustering, QueryError> {
    let params = cluster_params(opts, k)?;
    Ok(if f.unit { cluster::fit_unit_rows(f.x, &params)? } else { cluster::fit_rows(f.x, &params)? })
}

/// The clustering parameters a query runs with (also what a distributed run must use to
/// reproduce it).
pub fn cluster_params(opts: &QueryOptions, k: Option<usize>) -> Result<CheckedClusterParams, QueryError> {
    let s = &opts.settings;
    Ok(ClusterParams::new(opts.method)
        .with_k(k)
        .with_seed(opts.seed)
        .with_n_runs(opts.restarts)
        .with_min_cluster_size(s.min_cluster_size)
        .with_k_max(s.k_max)
        .with_min_samples(s.min_samples)
        .with_eps(s.eps)
        .with_linkage(s.linkage)
        .with_noise(s.noise)
        .check()?)
}

/// Names the clusters of `clustering` and completes the draft: clusters, assignments, K,
/// naming diagnostics, timings.
pub(crate) fn finish(
    f: &Features<'_>,
    clustering: Clustering,
    naming: Naming<'_>,
    opts: &QueryOptions,
    mut draft: Draft,
) -> Result<ClusterResult, QueryError> {
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
    let Named { names, report, usage } = name(&req, &clustering, naming)?;
    draft.time("name", t);

    let r = &mut draft.result;
    r.clusters = summaries(f, &clustering, names, &examples, opts.examples_per_cluster);
    r.assignments =
        f.ids.iter().zip(&clustering.labels).map(|(id, &c)| Assignment { id: id.clone(), cluster: c }).collect();
    r.k = clustering.k;
    r.k_auto = clustering.k_chosen_automatically;
    r.diagnostics.eps = clustering.eps();
    r.k_selection = clustering.selection;
    r.namer = report.as_ref().map_or(r.namer, |n| n.namer);
    if let Some(u) = usage {
        r.llm_calls += u.calls as usize + u.failed_calls as usize;
        r.llm = Some(u);
    }
    r.diagnostics.naming = report;
    r.diagnostics.noise_reassigned = clustering.noise_reassigned;
    r.diagnostics.density = clustering.density;
    r.diagnostics.method_settings = (opts.method != crate::cluster::Method::KMeans).then_some(opts.settings);
    r.diagnostics.fit_sample_rows = (clustering.fit_rows < f.ids.len()).then_some(clustering.fit_rows);
    r.timings_ms.insert("total".to_string(), ms(draft.started));
    Ok(draft.result)
}

/// The clusters' names, what became of an LLM namer's call (`None` when no LLM named), and
/// what the call cost.
struct Named {
    names: Vec<ClusterName>,
    report: Option<NamingReport>,
    usage: Option<crate::llm::LlmUsage>,
}

fn name(req: &NamingRequest<'_>, clustering: &Clustering, naming: Naming<'_>) -> Result<Named, QueryError> {
    let (labels, k) = (&clustering.labels, clustering.k);
    Ok(match naming {
        Naming::Keywords => Named { names: KeywordNamer::new().name(req)?, report: None, usage: None },
        Naming::Given(name_fn, namer) => Named {
            names: name_fn(labels, k),
            report: Some(NamingReport { namer, fallback: None, detail: None, clusters_named: None }),
            usage: None,
        },
        Naming::Replaced { names, report, usage, encoder } => {
            let base = KeywordNamer::new().name(req)?;
            let (names, report) = replace_fitting(base, names, report, encoder);
            Named { names, report: Some(report), usage }
        }
        Naming::Llm { client, encoder, base } => {
            let (base, base_namer) = match base {
                Some((name_fn, namer)) => (name_fn(labels, k), namer),
                None => (KeywordNamer::new().name(req)?, NamerKind::Keywords),
            };
            let (names, outcome) = LlmNamer::new(client).name_checked_from(req, base, base_namer, encoder);
            Named { names, report: Some(outcome.report), usage: Some(outcome.usage) }
        }
    })
}

/// The keyword names, each replaced by the LLM's where it fits its cluster (see
/// [`crate::naming::each_name_fits`]); the report counts the clusters it names.
fn replace_fitting(
    mut base: Vec<ClusterName>,
    names: Vec<Option<String>>,
    mut report: NamingReport,
    encoder: &mut TextEmbedding,
) -> (Vec<ClusterName>, NamingReport) {
    if names.iter().all(Option::is_none) {
        return (base, report);
    }
    let fits = match crate::naming::each_name_fits(encoder, &names, &base) {
        Ok(f) => f,
        Err(e) => {
            let report = NamingReport {
                namer: NamerKind::Keywords,
                fallback: Some(NamerFallback::NamesDoNotFit),
                detail: Some(e),
                clusters_named: Some(0),
            };
            return (base, report);
        }
    };
    let mut named = 0;
    for n in base.iter_mut() {
        let Ok(c) = usize::try_from(n.cluster) else { continue };
        if let (Some(Some(name)), Some(true)) = (names.get(c), fits.get(c)) {
            n.name = name.clone();
            named += 1;
        }
    }
    report.clusters_named = Some(named);
    if named == 0 {
        report.namer = NamerKind::Keywords;
        report.fallback = Some(NamerFallback::NamesDoNotFit);
        report.detail = Some("none of the model's names is nearest its own cluster's keywords".into());
    }
    (base, report)
}

fn summaries(
    f: &Features<'_>,
    clustering: &Clustering,
    names: Vec<ClusterName>,
    examples: &[Vec<usize>],
    per_cluster: usize,
) -> Vec<ClusterSummary> {
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
                examples[n.cluster as usize].iter().take(per_cluster).map(|&i| f.ids[i].clone()).collect()
            },
            name: n.name,
            keywords: n.keywords,
        })
        .collect();
    clusters.sort_by_key(|c| (c.id < 0, c.id));
    clusters
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
        .reduce(
            || vec![0f32; k * dim],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
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
