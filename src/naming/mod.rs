//! Naming clusters of image captions.
//!
//! A [`Namer`] turns captions grouped by cluster into short names. The
//! offline default, [`KeywordNamer`], picks each cluster's most distinctive
//! words by class-based TF-IDF; [`distinctive_terms`] exposes the underlying
//! terms × clusters matrix for other code to reuse.

pub mod keywords;
pub mod llm;
mod report;
pub mod text;

pub use keywords::{distinctive_terms, distinctive_terms_of_lists, KeywordNamer, TermMatrix, TermOptions};
pub use llm::{each_name_fits, LlmNamer, LlmNaming};
pub use report::{NamerFallback, NamerKind, NamingReport};
pub use text::{StopWords, CAPTION_BOILERPLATE, STOP_WORDS};

use serde::{Deserialize, Serialize};

/// Cluster id of points no cluster claimed (HDBSCAN-style noise).
pub const NOISE_CLUSTER: i64 = -1;

/// Name given to the noise cluster.
pub const NOISE_NAME: &str = "unclustered";

/// Keywords per cluster when a request leaves the count to the namer.
pub const DEFAULT_KEYWORDS_PER_CLUSTER: usize = 8;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamingError {
    #[error("{captions} captions but {assignments} cluster assignments")]
    LengthMismatch { captions: usize, assignments: usize },
    #[error("caption {index} is assigned to cluster {cluster}, outside -1..{k}")]
    ClusterOutOfRange { index: usize, cluster: i64, k: usize },
}

/// Captions borrowed either as owned strings or as string slices, so callers
/// holding `Vec<String>` or `Vec<&str>` need not copy them.
#[derive(Debug, Clone, Copy)]
pub enum Captions<'a> {
    Strings(&'a [String]),
    Strs(&'a [&'a str]),
}

impl<'a> Captions<'a> {
    pub fn len(&self) -> usize {
        match self {
            Captions::Strings(s) => s.len(),
            Captions::Strs(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: usize) -> Option<&'a str> {
        match *self {
            Captions::Strings(s) => s.get(index).map(String::as_str),
            Captions::Strs(s) => s.get(index).copied(),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let this = *self;
        (0..this.len()).map(move |i| this.get(i).unwrap_or_default())
    }
}

impl<'a> From<&'a [String]> for Captions<'a> {
    fn from(s: &'a [String]) -> Self {
        Captions::Strings(s)
    }
}

impl<'a> From<&'a Vec<String>> for Captions<'a> {
    fn from(s: &'a Vec<String>) -> Self {
        Captions::Strings(s)
    }
}

impl<'a> From<&'a [&'a str]> for Captions<'a> {
    fn from(s: &'a [&'a str]) -> Self {
        Captions::Strs(s)
    }
}

impl<'a> From<&'a Vec<&'a str>> for Captions<'a> {
    fn from(s: &'a Vec<&'a str>) -> Self {
        Captions::Strs(s)
    }
}

impl<'a, const N: usize> From<&'a [&'a str; N]> for Captions<'a> {
    fn from(s: &'a [&'a str; N]) -> Self {
        Captions::Strs(s)
    }
}

/// What a [`Namer`] is asked: caption `i` belongs to cluster
/// `assignments[i]` (`-1` for noise); clusters are `0..k`, and a cluster
/// with no captions still gets a name.
#[derive(Debug, Clone, Copy)]
pub struct NamingRequest<'a> {
    /// What the user clusters by ("musical instrument"); its words are not
    /// used in names, since they would describe every cluster.
    pub criterion: &'a str,
    pub captions: Captions<'a>,
    pub assignments: &'a [i64],
    pub k: usize,
    /// Keywords to return per cluster; 0 leaves it to the namer.
    pub keywords_per_cluster: usize,
    /// Per cluster, caption indices nearest its centre, most typical first (shown to an LLM
    /// namer); `None` lets the namer take the first captions of each cluster.
    pub representatives: Option<&'a [Vec<usize>]>,
    /// Each caption's terms, already mined (e.g. the index's cached vocabulary); `None` lets
    /// the keyword namer tokenize the captions itself.
    pub terms: Option<TermLists<'a>>,
}

/// Per caption, the ids of the distinct terms it contains, into `terms`. Ids at or past
/// `terms.len()` are skipped: a vocabulary passes its axis terms only, not its rarer ones.
#[derive(Debug, Clone, Copy)]
pub struct TermLists<'a> {
    pub terms: &'a [String],
    pub occurrences: &'a [Vec<u32>],
}

impl<'a> NamingRequest<'a> {
    pub fn new(criterion: &'a str, captions: impl Into<Captions<'a>>, assignments: &'a [i64], k: usize) -> Self {
        Self {
            criterion,
            captions: captions.into(),
            assignments,
            k,
            keywords_per_cluster: 0,
            representatives: None,
            terms: None,
        }
    }

    /// Counts these pre-mined terms instead of tokenizing the captions again: on a million
    /// captions, tokenizing was most of a query's time.
    pub fn with_terms(mut self, terms: TermLists<'a>) -> Self {
        self.terms = Some(terms);
        self
    }

    pub fn with_representatives(mut self, reps: &'a [Vec<usize>]) -> Self {
        self.representatives = Some(reps);
        self
    }

    pub fn with_keywords_per_cluster(mut self, n: usize) -> Self {
        self.keywords_per_cluster = n;
        self
    }

    /// Checks lengths and cluster ids; every namer should call this first.
    pub fn validate(&self) -> Result<(), NamingError> {
        if self.captions.len() != self.assignments.len() {
            return Err(NamingError::LengthMismatch {
                captions: self.captions.len(),
                assignments: self.assignments.len(),
            });
        }
        validate_assignments(self.assignments, self.k)
    }
}

pub(crate) fn validate_assignments(assignments: &[i64], k: usize) -> Result<(), NamingError> {
    for (index, &cluster) in assignments.iter().enumerate() {
        let in_range = cluster == NOISE_CLUSTER || usize::try_from(cluster).is_ok_and(|c| c < k);
        if !in_range {
            return Err(NamingError::ClusterOutOfRange { index, cluster, k });
        }
    }
    Ok(())
}

/// One cluster's name. `keywords` are best first; `scores[i]` is the
/// namer's score for `keywords[i]` (c-TF-IDF weight for [`KeywordNamer`]),
/// kept for debugging and JSON output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterName {
    pub cluster: i64,
    pub name: String,
    pub keywords: Vec<String>,
    pub scores: Vec<f32>,
}

/// Names clusters of captions.
///
/// Contract: one [`ClusterName`] per cluster `0..k` in order, followed by
/// one for [`NOISE_CLUSTER`] named [`NOISE_NAME`] when any caption is noise;
/// names are unique across clusters.
///
/// [`LlmNamer`] implements it with one prompt carrying the criterion and every
/// cluster's keywords and typical captions, answered with all names at once so
/// they can be kept distinct; on any failure (no server, bad output, wrong
/// count, duplicate names) it falls back to [`KeywordNamer`].
pub trait Namer {
    fn name(&self, req: &NamingRequest<'_>) -> Result<Vec<ClusterName>, NamingError>;
}
