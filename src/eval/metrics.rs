//! Hungarian accuracy, NMI and ARI over two labellings.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::EvalError;

/// Scores of one clustering. `n` counts the scored items; `unlabelled` counts assigned items
/// skipped because they had no ground-truth label (always 0 from [`score`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
    pub n: usize,
    #[serde(default)]
    pub unlabelled: usize,
}

/// Contingency table over dense ids; only non-zero cells are stored so that many-cluster
/// results (e.g. near-singleton clusterings) stay cheap for NMI/ARI.
struct Contingency {
    n: u64,
    row_sums: Vec<u64>,
    col_sums: Vec<u64>,
    /// (row, col, count), sorted row-major like scipy's sparse `find` (same summation order).
    cells: Vec<(usize, usize, u64)>,
}

impl Contingency {
    fn new(rows: &[usize], cols: &[usize], n_rows: usize, n_cols: usize) -> Self {
        let mut counts: HashMap<(usize, usize), u64> = HashMap::new();
        let mut row_sums = vec![0u64; n_rows];
        let mut col_sums = vec![0u64; n_cols];
        for (&r, &c) in rows.iter().zip(cols) {
            *counts.entry((r, c)).or_insert(0) += 1;
            row_sums[r] += 1;
            col_sums[c] += 1;
        }
        let mut cells: Vec<_> = counts.into_iter().map(|((r, c), k)| (r, c, k)).collect();
        cells.sort_unstable();
        Contingency { n: rows.len() as u64, row_sums, col_sums, cells }
    }

    /// Rows are true classes, columns predicted clusters.
    fn from_labels(truth: &[usize], pred: &[usize]) -> (Self, Vec<usize>, Vec<usize>) {
        let (t, t_vals) = encode_sorted(truth);
        let (p, p_vals) = encode_sorted(pred);
        (Self::new(&t, &p, t_vals.len(), p_vals.len()), t_vals, p_vals)
    }

    /// Optimal one-to-one (row, col) pairs maximising the matched count.
    fn hungarian(&self) -> Vec<(usize, usize)> {
        let (nr, nc) = (self.row_sums.len(), self.col_sums.len());
        if nr == 0 || nc == 0 {
            return Vec::new();
        }
        // The solver needs rows <= cols, so solve the transpose when there are more classes.
        let transpose = nr > nc;
        let (n, m) = if transpose { (nc, nr) } else { (nr, nc) };
        let mut cost = vec![0i64; n * m];
        for &(r, c, k) in &self.cells {
            let (i, j) = if transpose { (c, r) } else { (r, c) };
            // Maximising matches == minimising negated counts.
            cost[i * m + j] = -(k as i64);
        }
        min_cost_assignment(&cost, n, m).into_iter().map(|(i, j)| if transpose { (j, i) } else { (i, j) }).collect()
    }

    fn count(&self, r: usize, c: usize) -> u64 {
        self.cells.binary_search_by(|&(cr, cc, _)| (cr, cc).cmp(&(r, c))).map(|i| self.cells[i].2).unwrap_or(0)
    }

    fn accuracy(&self) -> f64 {
        let matched: u64 = self.hungarian().into_iter().map(|(r, c)| self.count(r, c)).sum();
        matched as f64 / self.n as f64
    }

    /// Mirrors sklearn's `mutual_info_score`, including its per-term eps clamp.
    fn mutual_info(&self) -> f64 {
        if self.row_sums.len() == 1 || self.col_sums.len() == 1 {
            return 0.0;
        }
        let total = self.n as f64;
        let log_total = total.ln();
        // sum(pi) == sum(pj) == n, but keep sklearn's form for identical rounding.
        let log_sums = 2.0 * log_total;
        let mut mi = 0.0;
        for &(r, c, k) in &self.cells {
            let k_f = k as f64;
            let p = k_f / total;
            let outer = (self.row_sums[r] * self.col_sums[c]) as f64;
            let log_outer = -outer.ln() + log_sums;
            let term = p * (k_f.ln() - log_total) + p * log_outer;
            if term.abs() >= f64::EPSILON {
                mi += term;
            }
        }
        mi.max(0.0)
    }

    fn nmi(&self) -> f64 {
        let (kt, kp) = (self.row_sums.len(), self.col_sums.len());
        // sklearn: neither labelling splits the data (or no data) counts as a perfect match.
        if kt == kp && kt <= 1 {
            return 1.0;
        }
        let mi = self.mutual_info();
        if mi == 0.0 {
            return 0.0;
        }
        let normaliser = (entropy(&self.row_sums) + entropy(&self.col_sums)) / 2.0;
        mi / normaliser
    }

    /// sklearn's pair-confusion form; exact integer arithmetic avoids overflow for large n.
    fn ari(&self) -> f64 {
        let n = self.n as i128;
        let sq = |v: u64| (v as i128) * (v as i128);
        let sum_squares: i128 = self.cells.iter().map(|&(_, _, k)| sq(k)).sum();
        let row_dot: i128 = self.row_sums.iter().map(|&s| sq(s)).sum();
        let col_dot: i128 = self.col_sums.iter().map(|&s| sq(s)).sum();
        // Ordered pairs: same/different cluster x same/different class.
        let tp = sum_squares - n;
        let fp = col_dot - sum_squares;
        let fn_ = row_dot - sum_squares;
        let tn = n * n - fp - fn_ - sum_squares;
        if fn_ == 0 && fp == 0 {
            return 1.0;
        }
        let num = 2 * (tp * tn - fn_ * fp);
        let den = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
        num as f64 / den as f64
    }
}

fn entropy(sums: &[u64]) -> f64 {
    if sums.len() <= 1 {
        return 0.0;
    }
    let total: u64 = sums.iter().sum();
    let log_total = (total as f64).ln();
    let t = total as f64;
    -sums.iter().map(|&s| (s as f64 / t) * ((s as f64).ln() - log_total)).sum::<f64>()
}

/// Kuhn–Munkres with potentials (shortest augmenting paths), O(n^2 m) for an n x m row-major
/// cost matrix with n <= m. Returns the (row, col) pair of every row.
fn min_cost_assignment(cost: &[i64], n: usize, m: usize) -> Vec<(usize, usize)> {
    const INF: i64 = i64::MAX / 4;
    // 1-based with column 0 as a virtual start, as in the classic formulation.
    let mut u = vec![0i64; n + 1];
    let mut v = vec![0i64; m + 1];
    let mut row_of = vec![0usize; m + 1]; // row_of[j]: row matched to column j, 0 = free
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        let mut minv = vec![INF; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = INF;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            // n <= m guarantees a free column, so j1 was set.
            for j in 0..=m {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=m).filter(|&j| row_of[j] != 0).map(|j| (row_of[j] - 1, j - 1)).collect();
    pairs.sort_unstable();
    pairs
}

/// Dense ids in sorted label order (matches `np.unique`), plus the original values.
fn encode_sorted(labels: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let ids: BTreeMap<usize, usize> = labels.iter().map(|&l| (l, 0)).collect();
    let values: Vec<usize> = ids.keys().copied().collect();
    let ids: BTreeMap<usize, usize> = values.iter().enumerate().map(|(i, &l)| (l, i)).collect();
    (labels.iter().map(|l| ids[l]).collect(), values)
}

/// Dense ids in order of first appearance, for any hashable label type.
fn encode<T: Eq + Hash>(labels: &[T]) -> (Vec<usize>, usize) {
    let mut ids: HashMap<&T, usize> = HashMap::new();
    let dense = labels
        .iter()
        .map(|l| {
            let next = ids.len();
            *ids.entry(l).or_insert(next)
        })
        .collect();
    (dense, ids.len())
}

/// Hungarian accuracy: the fraction of items covered by the best one-to-one matching of
/// predicted clusters to true classes. Labels may be any values. NaN when the slices differ
/// in length or are empty (use [`score`] for checked input).
pub fn hungarian_accuracy(truth: &[usize], pred: &[usize]) -> f64 {
    if truth.len() != pred.len() || truth.is_empty() {
        return f64::NAN;
    }
    Contingency::from_labels(truth, pred).0.accuracy()
}

/// The Hungarian matching behind [`hungarian_accuracy`] as `(pred cluster, true class)` pairs in
/// the callers' label values, sorted by cluster. Pairs sharing no item are left out: they add
/// nothing to the accuracy and which of them the solver picks among ties is arbitrary.
/// Empty when the slices differ in length.
pub fn matching(truth: &[usize], pred: &[usize]) -> Vec<(usize, usize)> {
    if truth.len() != pred.len() {
        return Vec::new();
    }
    let (c, t_vals, p_vals) = Contingency::from_labels(truth, pred);
    let mut pairs: Vec<(usize, usize)> = c
        .hungarian()
        .into_iter()
        .filter(|&(r, col)| c.count(r, col) > 0)
        .map(|(r, col)| (p_vals[col], t_vals[r]))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Normalised mutual information, arithmetic-mean normalisation (sklearn's default), with
/// sklearn's special cases: both labellings a single cluster (or both empty) give 1.0, zero
/// mutual information gives 0.0. NaN when the slices differ in length.
pub fn nmi(truth: &[usize], pred: &[usize]) -> f64 {
    if truth.len() != pred.len() {
        return f64::NAN;
    }
    Contingency::from_labels(truth, pred).0.nmi()
}

/// Adjusted Rand index as sklearn's `adjusted_rand_score`: 1.0 for identical partitions
/// (including all-singletons and empty input), can be negative. NaN when the slices differ in
/// length.
pub fn ari(truth: &[usize], pred: &[usize]) -> f64 {
    if truth.len() != pred.len() {
        return f64::NAN;
    }
    Contingency::from_labels(truth, pred).0.ari()
}

/// All three metrics for labels of any hashable type (strings, ints, ...).
pub fn score<T: Eq + Hash, U: Eq + Hash>(truth: &[T], pred: &[U]) -> Result<Scores, EvalError> {
    if truth.len() != pred.len() {
        return Err(EvalError::LengthMismatch { truth: truth.len(), pred: pred.len() });
    }
    if truth.is_empty() {
        return Err(EvalError::Empty);
    }
    let (t, kt) = encode(truth);
    let (p, kp) = encode(pred);
    let c = Contingency::new(&t, &p, kt, kp);
    Ok(Scores { acc: c.accuracy(), nmi: c.nmi(), ari: c.ari(), n: truth.len(), unlabelled: 0 })
}

/// Scores `(item id, cluster)` assignments against labels keyed by item id.
///
/// Items without a label are skipped and counted in [`Scores::unlabelled`]. Noise (cluster -1
/// from DBSCAN/HDBSCAN) is scored as one more cluster rather than dropped: every labelled item
/// then stays in `n`, so methods that leave many points as noise are not rewarded for it, and
/// the noise cluster can match at most one class.
pub fn score_by_id(truth: &HashMap<String, String>, assignments: &[(String, i64)]) -> Result<Scores, EvalError> {
    let mut seen: HashMap<&str, ()> = HashMap::with_capacity(assignments.len());
    let mut labels: Vec<&str> = Vec::with_capacity(assignments.len());
    let mut clusters: Vec<i64> = Vec::with_capacity(assignments.len());
    let mut unlabelled = 0;
    for (id, cluster) in assignments {
        if seen.insert(id.as_str(), ()).is_some() {
            return Err(EvalError::DuplicateAssignment { id: id.clone() });
        }
        match truth.get(id) {
            Some(label) => {
                labels.push(label);
                clusters.push(*cluster);
            }
            None => unlabelled += 1,
        }
    }
    if labels.is_empty() {
        return Err(EvalError::NoLabelledItems { assignments: assignments.len() });
    }
    let mut scores = score(&labels, &clusters)?;
    scores.unlabelled = unlabelled;
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[derive(Deserialize)]
    struct Fixture {
        name: String,
        labels_true: Vec<usize>,
        labels_pred: Vec<usize>,
        acc: f64,
        nmi: f64,
        ari: f64,
    }

    fn fixtures() -> Vec<Fixture> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/metric_fixtures.json");
        let text = std::fs::read_to_string(path).expect("fixture file");
        serde_json::from_str(&text).expect("fixture JSON")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9
    }

    #[test]
    fn metrics_match_sklearn_fixtures() {
        let cases = fixtures();
        assert_eq!(cases.len(), 14);
        for c in &cases {
            let (t, p) = (&c.labels_true, &c.labels_pred);
            let (acc, nmi_v, ari_v) = (hungarian_accuracy(t, p), nmi(t, p), ari(t, p));
            assert!(close(acc, c.acc), "{}: acc {acc} != {}", c.name, c.acc);
            assert!(close(nmi_v, c.nmi), "{}: nmi {nmi_v} != {}", c.name, c.nmi);
            assert!(close(ari_v, c.ari), "{}: ari {ari_v} != {}", c.name, c.ari);

            // Generic path (first-appearance encoding, string labels) must agree.
            let ts: Vec<String> = t.iter().map(|x| format!("c{x}")).collect();
            let s = score(&ts, p).unwrap();
            assert!(close(s.acc, c.acc) && close(s.nmi, c.nmi) && close(s.ari, c.ari), "{}: score() {s:?}", c.name);
            assert_eq!((s.n, s.unlabelled), (t.len(), 0));

            // The matching realises the accuracy.
            let m = matching(t, p);
            let matched: usize =
                m.iter().map(|&(pc, tc)| t.iter().zip(p).filter(|&(&a, &b)| a == tc && b == pc).count()).sum();
            assert!(close(matched as f64 / t.len() as f64, c.acc), "{}: matching {m:?}", c.name);
        }
    }

    #[test]
    fn matching_is_optimal_not_greedy() {
        // Contingency [[3,2],[2,0]]: greedy would take the 3, Hungarian takes 2+2.
        let t = [0, 0, 0, 0, 0, 1, 1];
        let p = [0, 0, 0, 1, 1, 0, 0];
        assert_eq!(matching(&t, &p), vec![(0, 1), (1, 0)]);
        // Original label values come back, and unmatched extra clusters are absent.
        assert_eq!(matching(&[7, 7, 7, 9], &[40, 40, 50, 60]), vec![(40, 7), (60, 9)]);
    }

    #[test]
    fn hungarian_agrees_with_brute_force() {
        fn best(cost: &[i64], n: usize, m: usize, row: usize, used: &mut [bool]) -> i64 {
            if row == n {
                return 0;
            }
            let mut min = i64::MAX;
            for j in 0..m {
                if !used[j] {
                    used[j] = true;
                    min = min.min(cost[row * m + j] + best(cost, n, m, row + 1, used));
                    used[j] = false;
                }
            }
            min
        }
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let n = rng.gen_range(1..=5);
            let m = rng.gen_range(n..=6);
            let cost: Vec<i64> = (0..n * m).map(|_| -rng.gen_range(0..6)).collect();
            let pairs = min_cost_assignment(&cost, n, m);
            assert_eq!(pairs.len(), n);
            let mut cols: Vec<_> = pairs.iter().map(|&(_, j)| j).collect();
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), n, "columns reused");
            let got: i64 = pairs.iter().map(|&(i, j)| cost[i * m + j]).sum();
            assert_eq!(got, best(&cost, n, m, 0, &mut [false; 6]));
        }
    }

    #[test]
    fn bad_input_does_not_panic() {
        assert!(hungarian_accuracy(&[0, 1], &[0]).is_nan());
        assert!(hungarian_accuracy(&[], &[]).is_nan());
        assert!(nmi(&[0], &[]).is_nan());
        assert!(ari(&[0], &[]).is_nan());
        assert!(matching(&[0], &[]).is_empty());
        // sklearn's empty-input convention.
        assert_eq!((nmi(&[], &[]), ari(&[], &[])), (1.0, 1.0));
    }

    #[test]
    fn score_errors() {
        let e = score(&[1, 2], &[1]).unwrap_err();
        assert!(matches!(e, EvalError::LengthMismatch { truth: 2, pred: 1 }));
        assert!(e.to_string().contains("2 true labels but 1 predicted"));
        let empty: [&str; 0] = [];
        assert!(matches!(score(&empty, &empty), Err(EvalError::Empty)));
    }

    #[test]
    fn score_by_id_skips_unlabelled_and_keeps_noise() {
        let truth: HashMap<String, String> = [("a", "cat"), ("b", "cat"), ("c", "dog"), ("d", "dog")]
            .iter()
            .map(|&(k, v)| (k.into(), v.into()))
            .collect();
        let asg: Vec<(String, i64)> =
            [("a", 0), ("b", 0), ("c", -1), ("d", -1), ("x", 3)].iter().map(|&(k, v)| (k.into(), v)).collect();
        let s = score_by_id(&truth, &asg).unwrap();
        // Noise forms its own cluster, so the dog items still count as one group.
        assert_eq!((s.acc, s.nmi, s.ari, s.n, s.unlabelled), (1.0, 1.0, 1.0, 4, 1));

        let dup = vec![("a".to_string(), 0), ("a".to_string(), 1)];
        assert!(matches!(score_by_id(&truth, &dup), Err(EvalError::DuplicateAssignment { .. })));
        let none = vec![("zz".to_string(), 0)];
        let e = score_by_id(&truth, &none).unwrap_err();
        assert!(matches!(e, EvalError::NoLabelledItems { assignments: 1 }), "{e}");
        assert!(matches!(score_by_id(&truth, &[]), Err(EvalError::NoLabelledItems { assignments: 0 })));
    }

    #[test]
    fn scores_serde_round_trip() {
        let s = Scores { acc: 0.5, nmi: 0.25, ari: -0.1, n: 10, unlabelled: 2 };
        let back: Scores = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
