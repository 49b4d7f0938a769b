//! The result of a query (`clusterby cluster`, `clusterby ictc`): the JSON shape documented in
//! `docs/result-schema.md`. Every choice is an enum serialised as a stable string, and every
//! diagnostic a typed field; `notes` are for people only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cluster::{KSelection, Method};
use crate::conditioning::Conditioning;
use crate::llm::LlmUsage;

use super::one_call::OneCallReport;
pub use crate::naming::{NamerFallback, NamerKind, NamingReport};

/// Version of the result's JSON shape. Version 1 (no `schema_version` field) had free-text
/// `method`, `conditioning` and `namer`, and diagnostics only in `notes`; it is still read
/// ([`ClusterResult::from_json`]).
pub const RESULT_SCHEMA_VERSION: u32 = 2;

/// How the partition was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Embeddings only: conditioning and clustering, no LLM call for the partition.
    #[default]
    ZeroCall,
    /// One LLM call shapes the partition (kept only if its answer passes the checks).
    OneCall,
    /// IC|TC: the LLM labels and assigns every item (2N+1 calls).
    Ictc,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::ZeroCall => "zero_call",
            Strategy::OneCall => "one_call",
            Strategy::Ictc => "ictc",
        }
    }
}

/// Which embeddings an image query clustered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// CLIP image embeddings.
    Image,
    /// Caption embeddings, conditioned as on a caption index.
    Caption,
    /// Image and caption features joined with equal weight.
    Both,
}

impl Space {
    pub fn as_str(self) -> &'static str {
        match self {
            Space::Image => "image",
            Space::Caption => "caption",
            Space::Both => "both",
        }
    }
}

impl std::str::FromStr for Space {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "image" => Ok(Space::Image),
            "caption" | "captions" => Ok(Space::Caption),
            "both" => Ok(Space::Both),
            o => Err(format!("unknown space {o:?}: use image, caption or both")),
        }
    }
}

/// What the criterion's conditioning found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditioningReport {
    /// The most relevant criterion values, heaviest first.
    pub criterion_values: Vec<String>,
    /// Mined terms the values were chosen from.
    pub vocabulary_size: usize,
    /// Weight of the caption half of the joined features (the values get `1 − caption_weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_weight: Option<f32>,
    /// The share of the captions that name one of the criterion's kinds (`criterion_values`'
    /// kinds): how far the captions state the criterion at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds_coverage: Option<f32>,
}

/// An image query's criterion values (image space).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageValuesReport {
    pub values: Vec<String>,
    pub candidates: usize,
    /// Where the candidates came from.
    pub source: CandidateSource,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSource {
    /// Terms mined from the images' captions.
    #[default]
    CaptionTerms,
    /// The built-in vocabulary of visual concepts.
    BuiltIn,
}

/// What happened, beyond the clusters: the counts a reader needs to trust the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IctcReport {
    /// Calls the pipeline needs: 2N + 1.
    pub logical_calls: usize,
    pub cache_hits: usize,
    /// Step-2a calls that failed after retries (the caption gets no label).
    pub label_failures: usize,
    /// Whether step 2b's answer was usable; if not, the K most frequent labels are the names.
    pub merge_fell_back: Option<String>,
    /// Step-3 answers that named a category exactly (case and punctuation aside).
    pub assigned_exactly: usize,
    /// Step-3 answers outside the names, mapped to the nearest name by embedding.
    pub mapped_by_embedding: usize,
    /// Step-3 calls that failed; the caption itself was matched to the names by embedding.
    pub assign_failures: usize,
    pub distinct_labels: usize,
}

/// Typed diagnostics of a query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditioning: Option<ConditioningReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// Rows the clustering was fit on, when it was fit on a sample (the rest were assigned to
    /// the nearest cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_sample_rows: Option<usize>,
    /// DBSCAN's radius (Euclidean between unit vectors), as given or chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
    /// DBSCAN/HDBSCAN with `--noise assign`: the noise rows put in their nearest cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_reassigned: Option<usize>,
    /// The settings given to a method other than k-means (unset ones took the method's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_settings: Option<super::MethodSettings>,
    /// DBSCAN/HDBSCAN: every setting they ran with, and whether it was given, a default or
    /// chosen from the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<crate::cluster::DensitySettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<Space>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_values: Option<ImageValuesReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<NamingReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_call: Option<OneCallReport>,
    /// IC|TC's own counts (labels, exact and mapped answers, failures, cache hits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ictc: Option<IctcReport>,
}

/// The result of one query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterResult {
    pub schema_version: u32,
    pub clusterby_version: String,
    pub criterion: String,
    pub strategy: Strategy,
    /// The clustering method; `None` for IC|TC, where the LLM assigns every item.
    pub method: Option<Method>,
    /// How the criterion conditioned the embeddings; `None` for IC|TC.
    pub conditioning: Option<Conditioning>,
    pub namer: NamerKind,
    pub k: usize,
    pub k_auto: bool,
    pub seed: u64,
    /// The index folder queried, when the query came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PathBuf>,
    /// The text model that embedded the criterion and the captions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub clusters: Vec<ClusterSummary>,
    pub assignments: Vec<Assignment>,
    pub llm_calls: usize,
    pub timings_ms: BTreeMap<String, f64>,
    pub diagnostics: Diagnostics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_selection: Option<KSelection>,
    /// Calls, tokens and seconds spent on the LLM, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmUsage>,
    /// Free text for people; nothing reads it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Cluster id as used in `assignments` (-1 = noise, only for DBSCAN/HDBSCAN).
    pub id: i64,
    pub name: String,
    pub size: usize,
    pub keywords: Vec<String>,
    /// Ids of the items nearest the cluster's centre, most typical first.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub cluster: i64,
}

/// Why a file is not a result.
#[derive(Debug, thiserror::Error)]
pub enum ResultReadError {
    #[error("not a clusterby result: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "result schema version {0} is newer than this clusterby reads ({RESULT_SCHEMA_VERSION}): upgrade clusterby"
    )]
    Newer(u32),
}

impl ClusterResult {
    /// An empty result of this version, to be filled by the query.
    pub fn new(criterion: &str, strategy: Strategy, k: usize, seed: u64) -> Self {
        Self {
            schema_version: RESULT_SCHEMA_VERSION,
            clusterby_version: env!("CARGO_PKG_VERSION").to_string(),
            criterion: criterion.to_string(),
            strategy,
            method: None,
            conditioning: None,
            namer: NamerKind::Keywords,
            k,
            k_auto: false,
            seed,
            index: None,
            model: None,
            clusters: Vec::new(),
            assignments: Vec::new(),
            llm_calls: 0,
            timings_ms: BTreeMap::new(),
            diagnostics: Diagnostics::default(),
            k_selection: None,
            llm: None,
            notes: Vec::new(),
        }
    }

    /// Reads a result of this schema version or of version 1.
    pub fn from_json(text: &str) -> Result<Self, ResultReadError> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        match v.get("schema_version").and_then(|s| s.as_u64()) {
            Some(n) if n > u64::from(RESULT_SCHEMA_VERSION) => Err(ResultReadError::Newer(n as u32)),
            Some(_) => Ok(serde_json::from_value(v)?),
            None => Ok(serde_json::from_value::<LegacyResult>(v)?.upgrade()),
        }
    }

    /// The diagnostics in words, a line each, for people.
    pub fn describe(&self) -> Vec<String> {
        let d = &self.diagnostics;
        let mut out = Vec::new();
        if let Some(c) = &d.conditioning {
            if !c.criterion_values.is_empty() {
                out.push(format!(
                    "criterion values (of {} mined terms): {}",
                    c.vocabulary_size,
                    c.criterion_values.join(", ")
                ));
            }
            if let Some(a) = c.caption_weight {
                out.push(format!("caption weight {a:.2} (values {:.2})", 1.0 - a));
            }
            if let Some(share) = c.kinds_coverage {
                out.push(format!("{:.0}% of the captions name a kind of the criterion", 100.0 * share));
            }
        }
        if let Some(s) = d.space {
            out.push(format!("space: {}", s.as_str()));
        }
        if let Some(v) = &d.image_values {
            out.push(format!(
                "image values ({} of {} candidates): {}",
                v.values.len(),
                v.candidates,
                v.values.join(", ")
            ));
        }
        if !d.excluded.is_empty() {
            out.push(format!("excluded: {}", d.excluded.join(", ")));
        }
        if let Some(rows) = d.fit_sample_rows {
            out.push(format!("fit on a seeded sample of {rows} rows; the rest went to the nearest cluster"));
        }
        if let Some(eps) = d.eps {
            out.push(format!("DBSCAN radius {eps:.4} (density space)"));
        }
        match (d.noise_reassigned, self.assignments.iter().filter(|a| a.cluster < 0).count()) {
            (Some(moved), _) if moved > 0 => {
                out.push(format!("{moved} noise rows went to their nearest cluster (--noise keep leaves them out)"))
            }
            (_, noise) if noise > 0 => out.push(format!("{noise} rows are noise (cluster -1)")),
            _ => {}
        }
        if let Some(n) = d.naming.as_ref().filter(|n| n.fallback.is_some()) {
            out.push(format!(
                "LLM namer: {}; kept the {} names",
                n.detail.as_deref().unwrap_or("not used"),
                n.namer.as_str()
            ));
        }
        if let Some(o) = &d.one_call {
            out.extend(o.describe());
        }
        out
    }

    /// The cluster of every assigned id, in assignment order.
    pub fn labels(&self) -> Vec<i64> {
        self.assignments.iter().map(|a| a.cluster).collect()
    }
}

/// A version-1 result: the fields every reader needs, choices as free text.
#[derive(Deserialize)]
struct LegacyResult {
    criterion: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    conditioning: String,
    k: usize,
    #[serde(default)]
    k_auto: bool,
    clusters: Vec<ClusterSummary>,
    assignments: Vec<Assignment>,
    #[serde(default)]
    llm_calls: usize,
    #[serde(default)]
    timings_ms: BTreeMap<String, f64>,
    #[serde(default)]
    namer: String,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    k_selection: Option<KSelection>,
    #[serde(default)]
    llm: Option<LlmUsage>,
}

impl LegacyResult {
    fn upgrade(self) -> ClusterResult {
        // Version 1 wrote "kmeans (from the LLM's grouping)", "image:values", "names".
        let first_word = |s: &str| s.split([' ', ':']).next().unwrap_or("").to_string();
        let conditioning_word = self.conditioning.rsplit(':').next().unwrap_or("").to_string();
        let strategy = match (self.method.as_str(), conditioning_word.as_str()) {
            ("ictc", _) => Strategy::Ictc,
            (_, "names") => Strategy::OneCall,
            _ => Strategy::ZeroCall,
        };
        let mut r = ClusterResult::new(&self.criterion, strategy, self.k, 0);
        r.schema_version = 1;
        r.clusterby_version = String::new();
        r.method = first_word(&self.method).parse().ok();
        r.conditioning = match conditioning_word.as_str() {
            "names" => Some(Conditioning::Values),
            c => c.parse().ok(),
        };
        r.namer = match self.namer.as_str() {
            "llm" => NamerKind::Llm,
            "values" => NamerKind::Values,
            _ => NamerKind::Keywords,
        };
        r.k_auto = self.k_auto;
        r.clusters = self.clusters;
        r.assignments = self.assignments;
        r.llm_calls = self.llm_calls;
        r.timings_ms = self.timings_ms;
        r.notes = self.notes;
        r.k_selection = self.k_selection;
        r.llm = self.llm;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_serialise_as_stable_strings() {
        let mut r = ClusterResult::new("mood", Strategy::OneCall, 2, 7);
        r.method = Some(Method::KMeans);
        r.conditioning = Some(Conditioning::Values);
        r.namer = NamerKind::Llm;
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (&v["strategy"], &v["method"], &v["conditioning"], &v["namer"], &v["schema_version"]),
            (&"one_call".into(), &"kmeans".into(), &"values".into(), &"llm".into(), &RESULT_SCHEMA_VERSION.into())
        );
        let back = ClusterResult::from_json(&v.to_string()).unwrap();
        assert_eq!(
            (back.strategy, back.method, back.namer, back.seed),
            (Strategy::OneCall, Some(Method::KMeans), NamerKind::Llm, 7)
        );
    }

    #[test]
    fn version_1_results_are_read() {
        let text = r#"{"criterion": "musical instrument", "method": "kmeans (from the LLM's grouping)", "conditioning": "names",
            "k": 2, "clusters": [{"id": 0, "name": "strings", "size": 1, "keywords": [], "examples": []}],
            "assignments": [{"id": "a", "cluster": 0}], "llm_calls": 1, "timings_ms": {}, "namer": "llm"}"#;
        let r = ClusterResult::from_json(text).unwrap();
        assert_eq!(
            (r.schema_version, r.strategy, r.method, r.namer),
            (1, Strategy::OneCall, Some(Method::KMeans), NamerKind::Llm)
        );
        let image = r#"{"criterion": "c", "method": "hdbscan", "conditioning": "image:none", "k": 1, "clusters": [],
            "assignments": [], "llm_calls": 0, "timings_ms": {}}"#;
        let r = ClusterResult::from_json(image).unwrap();
        assert_eq!(
            (r.strategy, r.method, r.conditioning),
            (Strategy::ZeroCall, Some(Method::Hdbscan), Some(Conditioning::None))
        );
    }

    #[test]
    fn newer_versions_and_other_json_are_refused() {
        let newer = format!(r#"{{"schema_version": {}}}"#, RESULT_SCHEMA_VERSION + 1);
        assert!(matches!(ClusterResult::from_json(&newer), Err(ResultReadError::Newer(_))));
        assert!(matches!(ClusterResult::from_json("[1, 2]"), Err(ResultReadError::Json(_))));
    }
}
