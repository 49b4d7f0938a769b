//! One query: "cluster this index by <criterion>".
//!
//! - [`caption`]: the zero-call query over a caption index. The criterion becomes features in
//!   [`crate::conditioning`]; [`pipeline`] clusters them (choosing K when none is given, in
//!   [`crate::cluster`]) and names the clusters.
//! - [`one_call`]: the same query with one LLM call shaping the partition.
//! - [`image`]: queries over image indexes (image space, caption space, or both).
//! - [`result`]: the typed result every query returns.
//!
//! [`run`] dispatches on [`Strategy`]; no module here calls back into it.

mod caption;
pub mod image;
mod image_vocabulary;
pub mod one_call;
mod pipeline;
mod result;

use std::path::PathBuf;

use crate::cluster::{ClusterError, Method};
use crate::conditioning::{self, Conditioning, ConditioningError};
use crate::embed::text::{EmbedError, TextEmbedding};
use crate::llm::LlmClient;
use crate::naming::NamingError;
use crate::store::caption_index::LoadedIndex;

pub use one_call::{GroupingCheck, OneCallParams, DEFAULT_LLM_VALUES};
pub use pipeline::{cluster_params, representatives};
pub use result::{
    Assignment, CandidateSource, ClusterResult, ClusterSummary, ConditioningReport, Diagnostics, IctcReport,
    ImageValuesReport, NamerFallback, NamerKind, NamingReport, ResultReadError, Space, Strategy, RESULT_SCHEMA_VERSION,
};

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
    #[error("--namer llm and --strategy one-call need an LLM endpoint (--llm-base-url or CLUSTERBY_LLM_BASE_URL)")]
    NoLlm,
    #[error("--strategy one-call partitions into K categories with k-means; --method {0} cannot follow it (use --method kmeans, or --strategy zero-call)")]
    OneCallMethod(Method),
    #[error(
        "--strategy one-call lists the criterion values that --conditioning values finds: use --conditioning values"
    )]
    OneCallConditioning,
    #[error("--strategy one-call groups caption terms, and runs on caption indexes only (use --strategy zero-call on image indexes)")]
    OneCallOnImages,
    #[error("the IC|TC baseline is its own command: clusterby ictc")]
    IctcIsACommand,
    #[error("{0}")]
    Invalid(String),
}

/// What one query asks for. Built with [`QueryOptions::new`] and the `with_*` methods:
///
/// ```
/// use clusterby::cluster::Method;
/// use clusterby::query::{QueryOptions, Strategy};
///
/// let opts = QueryOptions::new("mood").with_k(Some(4)).with_method(Method::Agglomerative).with_seed(7);
/// assert_eq!((opts.k, opts.strategy, opts.seed), (Some(4), Strategy::ZeroCall, 7));
/// ```
#[derive(Debug, Clone)]
pub struct QueryOptions {
    pub criterion: String,
    pub k: Option<usize>,
    pub method: Method,
    pub strategy: Strategy,
    pub conditioning: Conditioning,
    /// Criteria to ignore ("gender"): their directions are removed before clustering.
    pub exclude: Vec<String>,
    pub seed: u64,
    /// k-means restarts (best inertia wins, run in parallel): one bad start can merge two
    /// classes and split another. On PPMI-7 with 10 restarts one seed in seven still ended
    /// there (ACC 0.82 instead of 0.96); with 20, none of twelve did.
    pub restarts: usize,
    pub examples_per_cluster: usize,
    /// The index folder, where criterion-free derived data is cached and which the result names.
    pub cache_dir: Option<PathBuf>,
    pub values: conditioning::ValuesParams,
    pub namer: NamerKind,
    pub one_call: OneCallParams,
    /// The density and hierarchical methods' settings (`None`: the method's default).
    pub settings: MethodSettings,
}

/// What HDBSCAN, DBSCAN and agglomerative clustering take besides K; the result records them.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodSettings {
    /// DBSCAN's and HDBSCAN's smallest cluster (default: a quarter of n / K, at least 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cluster_size: Option<usize>,
    /// DBSCAN's `min_points` / HDBSCAN's `min_samples`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<usize>,
    /// DBSCAN's radius in the density space (default: where the most clusters stand apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
    /// Agglomerative linkage.
    #[serde(default)]
    pub linkage: crate::cluster::Linkage,
    /// DBSCAN's and HDBSCAN's noise: assigned to the nearest cluster, or kept.
    #[serde(default)]
    pub noise: crate::cluster::NoisePolicy,
    /// The largest K automatic selection tries (default min(30, √n)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_max: Option<usize>,
}

impl QueryOptions {
    pub fn new(criterion: impl Into<String>) -> Self {
        Self {
            criterion: criterion.into(),
            k: None,
            method: Method::KMeans,
            strategy: Strategy::ZeroCall,
            conditioning: Conditioning::default(),
            exclude: Vec::new(),
            seed: 42,
            restarts: crate::cluster::QUERY_RESTARTS,
            examples_per_cluster: 3,
            cache_dir: None,
            values: Default::default(),
            namer: NamerKind::Keywords,
            one_call: OneCallParams::default(),
            settings: MethodSettings::default(),
        }
    }
    /// ```
    /// use clusterby::cluster::{Linkage, Method};
    /// use clusterby::query::{MethodSettings, QueryOptions};
    ///
    /// let s = MethodSettings { min_cluster_size: Some(40), linkage: Linkage::Average, ..Default::default() };
    /// let opts = QueryOptions::new("mood").with_method(Method::Hdbscan).with_settings(s);
    /// assert_eq!(opts.settings.min_cluster_size, Some(40));
    /// ```
    pub fn with_settings(mut self, s: MethodSettings) -> Self {
        self.settings = s;
        self
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
    pub fn with_strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
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
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }
    pub fn with_one_call(mut self, p: OneCallParams) -> Self {
        self.one_call = p;
        self
    }

    /// Refuses what cannot run, before any work is done.
    fn check(&self, llm: Option<&LlmClient>, caption_index: bool) -> Result<(), QueryError> {
        if self.criterion.trim().is_empty() {
            return Err(QueryError::EmptyCriterion);
        }
        if self.k == Some(0) {
            return Err(QueryError::Invalid("k must be at least 1".into()));
        }
        let one_call = self.strategy == Strategy::OneCall;
        if (self.namer == NamerKind::Llm || one_call) && llm.is_none() {
            return Err(QueryError::NoLlm);
        }
        match self.strategy {
            Strategy::OneCall if !caption_index => Err(QueryError::OneCallOnImages),
            Strategy::OneCall if self.method != Method::KMeans => Err(QueryError::OneCallMethod(self.method)),
            Strategy::OneCall if self.conditioning != Conditioning::Values => Err(QueryError::OneCallConditioning),
            Strategy::OneCall => self.one_call.check(),
            Strategy::Ictc => Err(QueryError::IctcIsACommand),
            Strategy::ZeroCall => Ok(()),
        }
    }
}

/// Why `auto` passed over an LLM endpoint the user named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoZeroCall {
    /// The one call runs on caption indexes only.
    ImageIndex,
    /// The one call partitions with k-means only.
    Method(Method),
}

/// The strategy `--strategy auto` (the CLI's default) picks: the one call when the user named
/// an LLM endpoint (that is what the endpoint is for), unless the call is already spent on
/// names (`--namer llm`), the index holds images, or the method is not k-means; then
/// zero-call, with the reason when an endpoint was passed over.
pub fn auto_strategy(
    endpoint_given: bool,
    caption_index: bool,
    namer: NamerKind,
    method: Method,
) -> (Strategy, Option<AutoZeroCall>) {
    if !endpoint_given || namer == NamerKind::Llm {
        (Strategy::ZeroCall, None)
    } else if !caption_index {
        (Strategy::ZeroCall, Some(AutoZeroCall::ImageIndex))
    } else if method != Method::KMeans {
        (Strategy::ZeroCall, Some(AutoZeroCall::Method(method)))
    } else {
        (Strategy::OneCall, None)
    }
}

/// Runs one query over a caption index; `llm` serves the one call (`--strategy one-call`) or
/// the LLM namer (`--namer llm`).
pub fn run(
    index: &LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    llm: Option<&LlmClient>,
) -> Result<ClusterResult, QueryError> {
    opts.check(llm, true)?;
    if index.ids.is_empty() {
        return Err(QueryError::EmptyIndex);
    }
    match (opts.strategy, llm) {
        (Strategy::OneCall, Some(client)) => one_call::run(index, encoder, opts, client),
        _ => caption::run(index, encoder, opts, llm),
    }
}

/// The criterion-conditioned features a zero-call query over `index` clusters, one unit-length
/// row per caption (as the clustering sees them): for plots and for users' own analyses. Costs
/// what a query's conditioning step costs.
pub fn features(
    index: &LoadedIndex,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
) -> Result<ndarray::Array2<f32>, QueryError> {
    opts.check(None, true)?;
    let mut draft = pipeline::Draft::new(opts, Strategy::ZeroCall);
    let prepared = caption::prepare(index, encoder, opts, &mut draft)?;
    let x = prepared.features().x.to_dense();
    Ok(crate::cluster::unit_rows(x.view())?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_one_call_only_where_it_can_run() {
        let (kw, km) = (NamerKind::Keywords, Method::KMeans);
        assert_eq!(auto_strategy(true, true, kw, km), (Strategy::OneCall, None));
        assert_eq!(auto_strategy(false, true, kw, km), (Strategy::ZeroCall, None));
        assert_eq!(auto_strategy(true, true, NamerKind::Llm, km), (Strategy::ZeroCall, None));
        assert_eq!(auto_strategy(true, false, kw, km), (Strategy::ZeroCall, Some(AutoZeroCall::ImageIndex)));
        assert_eq!(
            auto_strategy(true, true, kw, Method::Hdbscan),
            (Strategy::ZeroCall, Some(AutoZeroCall::Method(Method::Hdbscan)))
        );
    }

    #[test]
    fn options_that_cannot_run_are_refused_with_their_own_error() {
        let one_call = QueryOptions::new("mood").with_strategy(Strategy::OneCall);
        assert!(matches!(one_call.check(None, true), Err(QueryError::NoLlm)));
        assert!(matches!(QueryOptions::new(" ").check(None, true), Err(QueryError::EmptyCriterion)));
        assert!(matches!(QueryOptions::new("mood").with_k(Some(0)).check(None, true), Err(QueryError::Invalid(_))));
        let client = LlmClient::new(crate::llm::LlmConfig::new("http://127.0.0.1:9/v1", "m")).unwrap();
        assert!(matches!(one_call.check(Some(&client), false), Err(QueryError::OneCallOnImages)));
        let hdbscan = one_call.clone().with_method(Method::Hdbscan);
        assert!(matches!(hdbscan.check(Some(&client), true), Err(QueryError::OneCallMethod(Method::Hdbscan))));
        assert!(one_call.check(Some(&client), true).is_ok());
        let ictc = QueryOptions::new("mood").with_strategy(Strategy::Ictc);
        assert!(matches!(ictc.check(None, true), Err(QueryError::IctcIsACommand)));
    }
}
