//! Scoring a clustering against ground-truth labels: Hungarian accuracy, NMI and ARI
//! ([`metrics`]), with labels read from CSV or JSONL files ([`labels`]), and the clusters'
//! names against the class names ([`names`]).
//!
//! NMI and ARI reproduce scikit-learn (`normalized_mutual_info_score` with the default
//! arithmetic normalisation, `adjusted_rand_score`) including their special cases, so numbers
//! are comparable with published results. Accuracy matches predicted clusters to true classes
//! one-to-one (like `scipy.optimize.linear_sum_assignment` on the contingency matrix); when the
//! two sides have different numbers of groups the extra clusters/classes stay unmatched.

mod labels;
mod metrics;
mod names;

use std::path::PathBuf;

pub use labels::load_labels_file;
pub use metrics::{ari, hungarian_accuracy, matching, nmi, score, score_by_id, Scores};
pub use names::{matched_names, name_quality, NamePair, NameQuality};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("label count mismatch: {truth} true labels but {pred} predicted labels")]
    LengthMismatch { truth: usize, pred: usize },
    #[error("nothing to score: no items")]
    Empty,
    #[error("nothing to score: none of the {assignments} assigned items has a ground-truth label (do the ids in the labels file match the item ids?)")]
    NoLabelledItems { assignments: usize },
    #[error("item `{id}` is assigned to a cluster more than once")]
    DuplicateAssignment { id: String },
    #[error("cannot read labels file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("labels file {}{}: {source}", path.display(), fmt_line(*line))]
    Csv { path: PathBuf, line: Option<u64>, source: csv::Error },
    #[error("labels file {}, line {line}: invalid JSON: {source}", path.display())]
    Json { path: PathBuf, line: u64, source: serde_json::Error },
    #[error("labels file {}: no column named `{column}` (columns: {})", path.display(), available.join(", "))]
    MissingColumn { path: PathBuf, column: String, available: Vec<String> },
    #[error("labels file {}, line {line}: {msg}", path.display())]
    BadRecord { path: PathBuf, line: u64, msg: String },
}

fn fmt_line(line: Option<u64>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}
