//! Automatic k: score every candidate on one seeded sample by mean cosine silhouette.

use ndarray::{ArrayView2, Axis, CowArray};
use rand::Rng;

use super::geometry::{sample_indices, silhouette_cosine};
use super::{agglomerative, kmeans, CheckedClusterParams, ClusterError, KScore, KSelection, Method};

pub(super) const CRITERION: &str = "silhouette-cosine";

/// k-means restarts per candidate k (at most). Up to 29 candidates × the final fit's 20
/// restarts took ~10 s on 8,000 captions; with 5 the choice on STL-10 was still its 10 classes.
/// When fewer restarts were scored than the fit asks for, the chosen k is fit again.
const SELECTION_RUNS: usize = 5;

pub(super) struct Selected {
    pub best_k: usize,
    pub report: KSelection,
    /// Labels at `best_k` when the sample was the whole input, so the final fit is the one
    /// that was scored rather than a re-run.
    pub reusable_labels: Option<Vec<i64>>,
}

pub(super) fn choose_k(
    x: ArrayView2<f32>,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<Selected, ClusterError> {
    let n = x.nrows();
    let mut m = params.selection_sample_size().min(n);
    if params.method() == Method::Agglomerative {
        m = m.min(params.max_exact_n());
    }
    // Silhouette needs k < m rows so that some cluster has two members.
    let k_max = params.k_max_for(n).min(m.saturating_sub(1));
    if k_max < 2 {
        return Err(ClusterError::TooFewRows { what: "automatic k selection", n, needed: 3 });
    }
    let idx = sample_indices(n, m, rng);
    let whole = m == n;
    let sample = if whole { CowArray::from(x) } else { CowArray::from(x.select(Axis(0), &idx)) };
    let sample = sample.view();
    let mut scoring = params.clone();
    scoring.n_runs = params.n_runs.min(SELECTION_RUNS);
    // The scored labels stand in for the final fit only if they were fit the same way.
    let reuse = whole && scoring.n_runs == params.n_runs;

    let tree = (params.method() == Method::Agglomerative).then(|| agglomerative::build_tree(sample, params.linkage()));
    let mut scores = Vec::with_capacity(k_max - 1);
    let mut best: Option<(usize, f32, Vec<usize>)> = None;
    for k in 2..=k_max {
        let labels: Vec<usize> = match &tree {
            Some(tree) => agglomerative::cut(tree, k),
            None => kmeans::fit(sample, k, &scoring, rng)?.labels.into_iter().map(|l| l as usize).collect(),
        };
        let score = silhouette_cosine(sample, &labels, k);
        scores.push(KScore { k, score });
        // Strict `>` keeps the smaller k on ties.
        if best.as_ref().is_none_or(|b| score > b.1) {
            best = Some((k, score, labels));
        }
    }
    let Some((best_k, _, labels)) = best else {
        return Err(ClusterError::TooFewRows { what: "automatic k selection", n, needed: 3 });
    };
    Ok(Selected {
        best_k,
        report: KSelection { criterion: CRITERION.to_string(), scores, sample_size: m },
        reusable_labels: (reuse || tree.is_some() && whole).then(|| labels.into_iter().map(|l| l as i64).collect()),
    })
}
