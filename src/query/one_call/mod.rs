//! The one-call query (`--strategy one-call`): IC|TC's step 2b done once, its per-image steps
//! replaced by embeddings. The criterion's words in the captions go to the LLM with their
//! caption counts; it answers K categories, each a name, a line of description and a few
//! example words ([`prompt`], fitted to the server's window by [`window`]): a short answer that
//! a small local model gives. The embeddings do the rest: every kind of the criterion joins
//! the category whose name, description and examples it is nearest, and every caption votes
//! with the kinds it mentions ([`grouping`]). The answer's partition is kept only if it passes
//! the checks ([`verdict`]); otherwise, and on any failure, the zero-call clusters stay. The
//! query makes exactly one call.

mod co_mentions;
mod grouping;
mod namer;
mod params;
mod prompt;
mod verdict;
mod window;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterParams, Clustering, Method};
use crate::conditioning::{values, Vocabulary};
use crate::embed::text::TextEmbedding;
use crate::llm::{
    distinct_described_categories, parse_described_categories, ChatOptions, DescribedCategory, LlmClient, LlmUsage,
};
use crate::naming::{NamerFallback, NamingReport};
use crate::store::caption_index::LoadedIndex;

use super::caption::{self, Prepared};
use super::pipeline::{self, Draft, Naming};
use super::{ClusterResult, NamerKind, QueryError, QueryOptions, Strategy};

pub use params::{GroupingCheck, OneCallParams, DEFAULT_LLM_VALUES};
pub use verdict::{Failure, KeptBecause, Objective, Refusal, Verdict};

/// What the one call did, as the result records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneCallReport {
    pub verdict: Verdict,
    /// Criterion values that could be listed, and those the prompt listed.
    pub values_available: usize,
    pub values_listed: usize,
    /// The server's context window (tokens), as it said or as `--llm-context` gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// No K was given: the K the zero-call query chose was asked for.
    pub k_from_zero_call: bool,
    /// The model's category names (empty when its answer was unusable).
    #[serde(default)]
    pub categories: Vec<String>,
    /// The criterion's kinds and example words that joined a category.
    pub values_grouped: usize,
    /// Captions that mention a grouped value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<usize>,
    /// Categories (almost) no caption chose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thin_categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<Objective>,
    /// The captions' co-mention conflict as a share of random regroupings'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_mention_ratio: Option<f64>,
    /// The server counted far fewer prompt tokens than were sent: it probably cut the prompt.
    pub prompt_cut_by_server: bool,
    /// The failure as the client said it, with what to change, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OneCallReport {
    /// The report in words, for people.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.values_listed < self.values_available {
            out.push(format!(
                "one call: the server's context window ({} tokens) held {} of {} values (set --llm-context if it holds more)",
                self.context_window.unwrap_or(0),
                self.values_listed,
                self.values_available
            ));
        }
        if self.prompt_cut_by_server {
            out.push("one call: the server counted far fewer prompt tokens than were sent and probably cut the prompt (raise its context, or lower --llm-values)".into());
        }
        let verdict = match &self.verdict {
            Verdict::Kept { because } => format!("kept the model's categories ({because:?})"),
            Verdict::Refused { reason } => format!("refused the model's categories ({reason:?}): zero-call clusters"),
            Verdict::Failed { reason } => format!("{reason:?}: zero-call clusters"),
        };
        let grouped = format!("{} words grouped", self.values_grouped);
        let voters = self.voters.map_or(String::new(), |v| format!(", {v} captions vote"));
        out.push(format!("one call: {verdict}; {grouped}{voters}"));
        if let Some(o) = &self.objective {
            out.push(format!(
                "one call: k-means objective {:.4} with the answer, {:.4} without",
                o.with_llm, o.without_llm
            ));
        }
        if let Some(d) = &self.detail {
            out.push(format!("one call: {d}"));
        }
        out
    }
}

impl OneCallReport {
    fn new(values_available: usize, context_window: Option<u32>, k_from_zero_call: bool) -> Self {
        OneCallReport {
            verdict: Verdict::Failed { reason: Failure::CallFailed },
            values_available,
            values_listed: values_available,
            context_window,
            k_from_zero_call,
            categories: Vec::new(),
            values_grouped: 0,
            voters: None,
            thin_categories: Vec::new(),
            objective: None,
            co_mention_ratio: None,
            prompt_cut_by_server: false,
            detail: None,
        }
    }
}

/// A kept answer's partition and its category names.
struct Kept {
    labels: Vec<i64>,
    names: Vec<String>,
}

/// The values the prompt lists, best first, and how they were weighed.
struct Listing<'a> {
    vocab: &'a Vocabulary,
    /// Relevance weights of the vocabulary's terms.
    w: Vec<f32>,
    shown: Vec<usize>,
    max_tokens: u32,
}

/// The model's categories: `Whole` when they parsed as K distinct ones (they may shape the
/// partition); `NamesOnly` when the answer repeated or lacked categories, whose distinct ones
/// may still name clusters; `Nothing` when the call failed or no two categories could be read.
enum Answer {
    Whole(Vec<DescribedCategory>),
    NamesOnly(Vec<DescribedCategory>),
    Nothing,
}

impl Answer {
    fn whole(&self) -> Option<&[DescribedCategory]> {
        match self {
            Answer::Whole(c) => Some(c),
            _ => None,
        }
    }

    fn for_names(&self) -> Option<&[DescribedCategory]> {
        match self {
            Answer::Whole(c) | Answer::NamesOnly(c) => Some(c),
            Answer::Nothing => None,
        }
    }
}

impl Listing<'_> {
    fn lines(&self) -> Vec<(String, u32)> {
        self.shown.iter().map(|&t| (self.vocab.terms[t].clone(), self.vocab.df[t])).collect()
    }
}

/// Runs the one-call query (see the module docs).
pub(crate) fn run(
    index: &LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    client: &LlmClient,
) -> Result<ClusterResult, QueryError> {
    let mut draft = Draft::new(opts, Strategy::OneCall);
    let prepared = caption::prepare(index, encoder, opts, &mut draft)?;
    let features = prepared.features();
    // Without K, the zero-call clustering chooses it; it is also the fallback.
    let t = Instant::now();
    let zero = pipeline::fit(&features, opts, opts.k)?;
    draft.time("cluster", t);
    let k = zero.k;
    let t = Instant::now();
    let listing = listing(&prepared, opts)?;
    draft.time("values", t);
    let mut report = OneCallReport::new(listing.shown.len(), client.context_window(), opts.k.is_none());
    let t = Instant::now();
    let (listing, answer, usage) = call(client, &opts.criterion, k, listing, &mut report);
    draft.time("llm", t);
    draft.result.llm_calls = 1;
    draft.result.llm = Some(usage);
    let t = Instant::now();
    let outcome = match answer.whole() {
        Some(whole) => interpret(&prepared, encoder, opts, &listing, &zero, whole, &mut report)?,
        None => None,
    };
    draft.time("one_call", t);
    let naming_failure = failure_of(&report);
    draft.result.diagnostics.one_call = Some(report);
    if let Some(Kept { labels, names }) = outcome {
        let clustering = Clustering { labels, fit_rows: index.ids.len(), typicality: None, ..zero };
        let name_fn = |labels: &[i64], k: usize| grouping::category_names(&names, listing.vocab, &listing.w, labels, k);
        return pipeline::finish(&features, clustering, Naming::Given(&name_fn, NamerKind::Llm), opts, draft);
    }
    if opts.namer != NamerKind::Llm {
        return pipeline::finish(&features, zero, Naming::Keywords, opts, draft);
    }
    // The answer that did not shape the partition may still name its clusters: no second call.
    let (names, report) = match answer.for_names() {
        Some(categories) => {
            let names_only = answer.whole().is_none();
            namer::match_categories(&prepared, encoder, opts, &listing, categories, names_only, &zero.labels, k)?
        }
        None => (vec![None; k], naming_failure),
    };
    pipeline::finish(&features, zero, Naming::Replaced { names, report, usage: None, encoder }, opts, draft)
}

/// `--namer llm` over a caption index clustered without the one call: the one call's request
/// about the clusters in `labels`, and the names its answer gives them (see [`namer`]).
/// `None` where the conditioning found no criterion words to list (the caller names otherwise).
pub(crate) fn name_clusters(
    prepared: &Prepared<'_>,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    client: &LlmClient,
    labels: &[i64],
    k: usize,
) -> Result<Option<(namer::CategoryNames, NamingReport, LlmUsage)>, QueryError> {
    let Ok(listing) = listing(prepared, opts) else { return Ok(None) };
    if listing.shown.is_empty() {
        return Ok(None);
    }
    let mut report = OneCallReport::new(listing.shown.len(), client.context_window(), false);
    let (listing, answer, usage) = call(client, &opts.criterion, k, listing, &mut report);
    let (names, naming) = match answer.for_names() {
        Some(categories) => {
            let names_only = answer.whole().is_none();
            namer::match_categories(prepared, encoder, opts, &listing, categories, names_only, labels, k)?
        }
        None => (vec![None; k], failure_of(&report)),
    };
    Ok(Some((names, naming, usage)))
}

/// The listing cut to the server's window, the call, and its answer (`None` said in `report`).
fn call<'a>(
    client: &LlmClient,
    criterion: &str,
    k: usize,
    listing: Listing<'a>,
    report: &mut OneCallReport,
) -> (Listing<'a>, Answer, LlmUsage) {
    let fit = window::fit_to_window(&listing.lines(), k, client.context_window());
    let listing = Listing { shown: listing.shown[..fit.values].to_vec(), max_tokens: fit.max_tokens, ..listing };
    report.values_listed = fit.values;
    let (answer, usage) = ask(client, criterion, k, &listing, report);
    (listing, answer, usage)
}

/// The naming report of a call that brought no usable categories.
fn failure_of(report: &OneCallReport) -> NamingReport {
    let reason = match report.verdict {
        Verdict::Failed { reason: Failure::CallFailed } => NamerFallback::CallFailed,
        _ => NamerFallback::UnusableAnswer,
    };
    namer::failed(reason, report.detail.clone())
}

/// The relevant values (rarer ones included), best first, up to `--llm-values`.
fn listing<'a>(prepared: &'a Prepared<'_>, opts: &QueryOptions) -> Result<Listing<'a>, QueryError> {
    let (Some(vocab), Some(q)) = (prepared.report.vocabulary.as_ref(), prepared.report.criterion.as_ref()) else {
        return Err(QueryError::OneCallConditioning);
    };
    let w = values::term_weights(vocab, q, &opts.criterion, prepared.index.captions.len(), &opts.values);
    let kinds: Vec<usize> = prepared.report.kinds.iter().map(|k| k.0).collect();
    let shown = prompt::prompt_terms(vocab, &kinds, &w, opts.one_call.values);
    Ok(Listing { vocab, w, shown, max_tokens: 0 })
}

/// The one call: the model's categories (a failure or an unusable answer said in `report`),
/// and what the call cost.
fn ask(
    client: &LlmClient,
    criterion: &str,
    k: usize,
    listing: &Listing<'_>,
    report: &mut OneCallReport,
) -> (Answer, LlmUsage) {
    let before = client.usage();
    let messages = prompt::prompt(criterion, k, &listing.lines());
    // The answer may list hundreds of values: minutes on a local model.
    let chat = ChatOptions::default()
        .with_max_tokens(listing.max_tokens)
        .with_json_schema(prompt::schema(k))
        .with_stream(true);
    let (answer, failure) = match client.chat(&messages, &chat) {
        Ok(a) => {
            report.prompt_cut_by_server = window::prompt_was_cut(&messages, a.prompt_tokens);
            match parse_described_categories(&a.content, k) {
                Ok(categories) => (Answer::Whole(categories), None),
                Err(e) => {
                    let partial =
                        distinct_described_categories(&a.content, k).map_or(Answer::Nothing, Answer::NamesOnly);
                    (partial, Some((Failure::UnusableAnswer, format!("unusable LLM answer: {e}"))))
                }
            }
        }
        Err(e) => {
            let detail = format!("LLM call failed: {e}{}", window::failure_hint(&e, listing.shown.len()));
            (Answer::Nothing, Some((Failure::CallFailed, detail)))
        }
    };
    if let Some((reason, detail)) = failure {
        report.verdict = Verdict::Failed { reason };
        report.detail = Some(detail);
    }
    (answer, client.usage().since(&before))
}

/// The answer's partition and category names when the checks keep it; `None` when they refuse
/// it (said in `report`).
#[allow(clippy::too_many_arguments)]
fn interpret(
    prepared: &Prepared<'_>,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    listing: &Listing<'_>,
    zero: &Clustering,
    answer: &[DescribedCategory],
    report: &mut OneCallReport,
) -> Result<Option<Kept>, QueryError> {
    let names: Vec<String> = answer.iter().map(|c| c.name.clone()).collect();
    report.categories = names.clone();
    if names.iter().any(|n| grouping::names_the_criterion(n, &opts.criterion)) {
        report.verdict = Verdict::Refused { reason: Refusal::NamesTheCriterion };
        return Ok(None);
    }
    let (k, p) = (zero.k, &opts.one_call);
    let params =
        ClusterParams::new(Method::KMeans).with_k(Some(k)).with_seed(opts.seed).with_n_runs(opts.restarts).check()?;
    let rows = prepared.conditioned.rows();
    let (category_of, w) = grouping::categories_of_words(
        listing.vocab,
        &prepared.report.kinds,
        &listing.shown,
        answer,
        &opts.criterion,
        encoder,
        opts.cache_dir.as_deref(),
    )?;
    report.values_grouped = category_of.iter().filter(|c| c.is_some()).count();
    let dense = rows.to_dense();
    let votes = grouping::assign_by_terms(listing.vocab, &w, &category_of, k, p.vote_mention_decay, dense.view());
    let candidate = grouping::settle_votes(dense.view(), &votes, k, p.vote_weight, &params)?;
    let spread = verdict::Spread { voters: votes.voters(), rows: candidate.len(), per_category: votes.per_category };
    let co = co_mentions::CoMentions::measure(&listing.vocab.occurrences, &w, &category_of, k, p, opts.seed);
    report.voters = Some(spread.voters);
    report.thin_categories = spread.thin(p).into_iter().map(|c| names[c].clone()).collect();
    report.co_mention_ratio = co.ratio();
    let objective = Objective {
        with_llm: crate::cluster::mean_sq_distance(rows, &candidate, k)?,
        without_llm: crate::cluster::mean_sq_distance(rows, &zero.labels, k)?,
        tolerance: p.grouping_fit_tolerance,
    };
    report.objective = Some(objective);
    report.verdict = verdict::judge(&spread, &co, &objective, p);
    Ok(report.verdict.kept().then_some(Kept { labels: candidate, names }))
}

#[cfg(test)]
mod tests;
