//! What the page draws, as JSON: one query's cluster cards, two queries' contingency table, and
//! the map. Everything here is text for the page to put in text nodes; the page never parses
//! it as HTML.

use std::collections::HashMap;

use serde::Serialize;

use super::source::RowText;
use crate::query::ClusterResult;

/// Items shown on a card before the user asks for more.
pub const ITEMS_PER_CARD: usize = 8;
/// Points drawn on the map at most (an even stride over the rows above it).
pub const MAP_POINTS: usize = 5_000;
/// Characters of a caption carried to the map's hover text.
const MAP_CAPTION_CHARS: usize = 140;

/// The rows of the index and where each id sits.
pub struct Rows<'a> {
    pub text: RowText<'a>,
    pub row_of: &'a HashMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub row: usize,
    pub id: String,
    pub caption: String,
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Card {
    pub id: i64,
    pub name: String,
    pub size: usize,
    pub keywords: Vec<String>,
    /// Share of the labelled members that carry the most common label, where labels exist.
    pub purity: Option<f64>,
    pub top_label: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Serialize)]
pub struct QueryView {
    pub criterion: String,
    pub k: usize,
    pub k_auto: bool,
    pub method: Option<crate::cluster::Method>,
    /// Server time of the query (ms), as the result records it.
    pub query_ms: f64,
    pub llm_calls: usize,
    /// Calls, tokens and seconds, when the user asked for the LLM.
    pub llm: Option<crate::llm::LlmUsage>,
    /// The share of captions that name a kind of the criterion (values conditioning).
    pub kinds_coverage: Option<f32>,
    pub clusters: Vec<Card>,
    /// Rows DBSCAN/HDBSCAN left as noise (`--noise keep`), else none.
    pub noise: Option<Card>,
    pub labelled: bool,
    pub images: bool,
}

impl Rows<'_> {
    pub fn item(&self, row: usize) -> Item {
        let t = &self.text;
        Item { row, id: t.ids[row].clone(), caption: t.captions[row].clone(), label: t.labels[row].clone() }
    }

    /// Rows of each cluster id, in index order.
    pub fn members(&self, r: &ClusterResult) -> HashMap<i64, Vec<usize>> {
        let mut out: HashMap<i64, Vec<usize>> = HashMap::new();
        for a in &r.assignments {
            if let Some(&row) = self.row_of.get(&a.id) {
                out.entry(a.cluster).or_default().push(row);
            }
        }
        out
    }

    fn purity(&self, rows: &[usize]) -> (Option<f64>, Option<String>) {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &row in rows {
            if let Some(l) = &self.text.labels[row] {
                *counts.entry(l.as_str()).or_default() += 1;
            }
        }
        let labelled: usize = counts.values().sum();
        let top = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
        match top {
            Some((label, n)) if labelled > 0 => (Some(n as f64 / labelled as f64), Some(label.to_string())),
            _ => (None, None),
        }
    }

    pub fn query_view(&self, r: &ClusterResult, images: bool) -> QueryView {
        let members = self.members(r);
        let empty = Vec::new();
        let card = |id: i64, name: &str, keywords: &[String], examples: &[String]| {
            let rows = members.get(&id).unwrap_or(&empty);
            let (purity, top_label) = self.purity(rows);
            // The most typical first where the result lists them, then the rest in index order.
            let mut shown: Vec<usize> = examples.iter().filter_map(|e| self.row_of.get(e).copied()).collect();
            let rest: Vec<usize> = rows.iter().copied().filter(|r| !shown.contains(r)).take(ITEMS_PER_CARD).collect();
            shown.extend(rest);
            shown.truncate(ITEMS_PER_CARD);
            Card {
                id,
                name: name.to_string(),
                size: rows.len(),
                keywords: keywords.to_vec(),
                purity,
                top_label,
                items: shown.into_iter().map(|row| self.item(row)).collect(),
            }
        };
        let clusters =
            r.clusters.iter().filter(|c| c.id >= 0).map(|c| card(c.id, &c.name, &c.keywords, &c.examples)).collect();
        let noise = members.contains_key(&-1).then(|| card(-1, "noise", &[], &[]));
        QueryView {
            criterion: r.criterion.clone(),
            k: r.k,
            k_auto: r.k_auto,
            method: r.method,
            query_ms: r.timings_ms.get("total").copied().unwrap_or_default(),
            llm_calls: r.llm_calls,
            llm: r.llm.clone(),
            kinds_coverage: r.diagnostics.conditioning.as_ref().and_then(|c| c.kinds_coverage),
            clusters,
            noise,
            labelled: self.text.labels.iter().any(Option::is_some),
            images,
        }
    }
}

/// Cluster × cluster counts of two queries over the same rows.
#[derive(Debug, Serialize)]
pub struct CompareView {
    pub a: Vec<Axis>,
    pub b: Vec<Axis>,
    /// `counts[i][j]`: rows in `a[i]` and `b[j]`.
    pub counts: Vec<Vec<usize>>,
    /// NMI between the two partitions: 1 when the criteria group alike, 0 when independent.
    pub nmi: f64,
}

#[derive(Debug, Serialize)]
pub struct Axis {
    pub id: i64,
    pub name: String,
    pub size: usize,
}

pub fn compare(rows: &Rows<'_>, a: &ClusterResult, b: &ClusterResult) -> CompareView {
    let axis = |r: &ClusterResult| -> Vec<Axis> {
        let sizes = rows.members(r);
        let mut out: Vec<Axis> = r
            .clusters
            .iter()
            .map(|c| Axis { id: c.id, name: c.name.clone(), size: sizes.get(&c.id).map_or(0, Vec::len) })
            .collect();
        if sizes.contains_key(&-1) && !out.iter().any(|x| x.id == -1) {
            out.push(Axis { id: -1, name: "noise".into(), size: sizes[&-1].len() });
        }
        out
    };
    let (ax, bx) = (axis(a), axis(b));
    let cb: HashMap<&str, i64> = b.assignments.iter().map(|x| (x.id.as_str(), x.cluster)).collect();
    let mut counts = vec![vec![0usize; bx.len()]; ax.len()];
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    for x in &a.assignments {
        let Some(&c2) = cb.get(x.id.as_str()) else { continue };
        let (Some(i), Some(j)) = (ax.iter().position(|v| v.id == x.cluster), bx.iter().position(|v| v.id == c2)) else {
            continue;
        };
        counts[i][j] += 1;
        pa.push(i);
        pb.push(j);
    }
    let nmi = crate::eval::nmi(&pa, &pb);
    CompareView { a: ax, b: bx, counts, nmi }
}

/// The rows in cluster `ca` of `a` and `cb` of `b`.
pub fn cell(rows: &Rows<'_>, a: &ClusterResult, b: &ClusterResult, ca: i64, cb: i64) -> Vec<usize> {
    let in_b: std::collections::HashSet<&str> =
        b.assignments.iter().filter(|x| x.cluster == cb).map(|x| x.id.as_str()).collect();
    a.assignments
        .iter()
        .filter(|x| x.cluster == ca && in_b.contains(x.id.as_str()))
        .filter_map(|x| rows.row_of.get(&x.id).copied())
        .collect()
}

/// Map points: 2-D coordinates, cluster and row of at most [`MAP_POINTS`] rows.
#[derive(Debug, Serialize)]
pub struct MapView {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub cluster: Vec<i64>,
    pub row: Vec<usize>,
    pub caption: Vec<String>,
    /// Rows in the index (the map shows a stride of them above [`MAP_POINTS`]).
    pub total: usize,
}

pub fn map(rows: &Rows<'_>, r: &ClusterResult, xy: &[(f32, f32)]) -> MapView {
    let n = xy.len();
    let stride = n.div_ceil(MAP_POINTS).max(1);
    let mut cluster_of = vec![-1i64; n];
    for a in &r.assignments {
        if let Some(&row) = rows.row_of.get(&a.id) {
            cluster_of[row] = a.cluster;
        }
    }
    let picked: Vec<usize> = (0..n).step_by(stride).collect();
    MapView {
        x: picked.iter().map(|&i| xy[i].0).collect(),
        y: picked.iter().map(|&i| xy[i].1).collect(),
        cluster: picked.iter().map(|&i| cluster_of[i]).collect(),
        caption: picked.iter().map(|&i| rows.text.captions[i].chars().take(MAP_CAPTION_CHARS).collect()).collect(),
        row: picked,
        total: n,
    }
}
