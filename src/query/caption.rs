//! The zero-call query over a caption index: condition the cached embeddings on the criterion,
//! cluster, name. No model call per caption; with `--namer llm`, one call for the names.

use std::time::Instant;

use crate::conditioning::{self, ConditionInput, ConditionReport, Conditioned};
use crate::embed::text::TextEmbedding;
use crate::llm::LlmClient;
use crate::naming::TermLists;
use crate::store::caption_index::LoadedIndex;

use super::pipeline::{self, Draft, Features, Naming};
use super::{ClusterResult, ConditioningReport, NamerKind, QueryError, QueryOptions, Strategy};

/// The criterion's features over a caption index, computed once per query.
pub(crate) struct Prepared<'a> {
    pub index: &'a LoadedIndex,
    pub conditioned: Conditioned<'a>,
    pub report: ConditionReport,
}

impl Prepared<'_> {
    pub fn features(&self) -> Features<'_> {
        let terms = self
            .report
            .vocabulary
            .as_ref()
            .map(|v| TermLists { terms: &v.terms[..v.axis_terms], occurrences: &v.occurrences });
        Features {
            ids: &self.index.ids,
            captions: &self.index.captions,
            x: self.conditioned.rows(),
            terms,
            unit: self.conditioned.known_unit(),
        }
    }

    /// What the result says of the conditioning.
    pub fn diagnostics(&self) -> Option<ConditioningReport> {
        (self.report.caption_weight.is_some() || !self.report.relevant_terms.is_empty()).then(|| ConditioningReport {
            criterion_values: self.report.relevant_terms.iter().map(|(t, _)| t.clone()).collect(),
            vocabulary_size: self.report.vocabulary_size,
            caption_weight: self.report.caption_weight,
            kinds_coverage: self.report.kinds_coverage,
        })
    }
}

/// Conditions the index's embeddings on the query's criterion (the step timed as `condition`).
pub(crate) fn prepare<'a>(
    index: &'a LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &'a QueryOptions,
    draft: &mut Draft,
) -> Result<Prepared<'a>, QueryError> {
    let t = Instant::now();
    let (conditioned, report) = conditioning::condition(
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
    draft.time("condition", t);
    draft.result.model = Some(encoder.name().to_string());
    let prepared = Prepared { index, conditioned, report };
    draft.result.diagnostics.conditioning = prepared.diagnostics();
    Ok(prepared)
}

/// The zero-call query; with `opts.namer == Llm`, the clusters are named in one call through `llm`.
pub(crate) fn run(
    index: &LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    llm: Option<&LlmClient>,
) -> Result<ClusterResult, QueryError> {
    let mut draft = Draft::new(opts, Strategy::ZeroCall);
    let prepared = prepare(index, encoder, opts, &mut draft)?;
    let features = prepared.features();
    let t = Instant::now();
    let clustering = pipeline::fit(&features, opts, opts.k)?;
    draft.time("cluster", t);
    let naming = match (opts.namer, llm) {
        (NamerKind::Llm, Some(client)) => {
            let t = Instant::now();
            let asked =
                super::one_call::name_clusters(&prepared, encoder, opts, client, &clustering.labels, clustering.k)?;
            draft.time("llm", t);
            match asked {
                Some((names, report, usage)) => Naming::Replaced { names, report, usage: Some(usage), encoder },
                // No criterion words to list (conditioning off): the namer sees keywords and captions.
                None => Naming::Llm { client, encoder: Some(encoder), base: None },
            }
        }
        _ => Naming::Keywords,
    };
    pipeline::finish(&features, clustering, naming, opts, draft)
}
