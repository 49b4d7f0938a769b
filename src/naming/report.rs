//! Who named a query's clusters, and what became of an LLM namer's call, as the result
//! records it.

use serde::{Deserialize, Serialize};

/// Who named the clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NamerKind {
    /// Distinctive keywords (c-TF-IDF), offline.
    #[default]
    Keywords,
    /// One LLM call for all names, keyword names on failure.
    Llm,
    /// The clusters' most probable image values (image indexes without captions).
    #[value(skip)]
    Values,
}

impl NamerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NamerKind::Keywords => "keywords",
            NamerKind::Llm => "llm",
            NamerKind::Values => "values",
        }
    }
}

/// Why LLM names were not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamerFallback {
    /// The call failed (after retries).
    CallFailed,
    /// The answer could not be parsed into K names.
    UnusableAnswer,
    /// The names did not identify their clusters.
    NamesDoNotFit,
}

/// What became of an LLM namer's call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamingReport {
    /// The namer whose names are in the result.
    pub namer: NamerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<NamerFallback>,
    /// The failure as the client or the check said it, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Clusters that carry the LLM's name when it named only some (the others keep keyword names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters_named: Option<usize>,
}
