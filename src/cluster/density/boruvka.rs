//! The minimum spanning tree of the mutual reachability graph, by Borůvka's algorithm on the
//! k-d tree (as in McInnes & Healy 2017, "Accelerated hierarchical density clustering").
//!
//! Each round every component no larger than the median component finds its lightest edge to
//! another component; each of its points searches the tree for its nearest point outside the
//! component under the mutual reachability distance `max(core(a), core(b), |a − b|)`. Three
//! bounds prune the search: a node whose points all lie in the point's own component, a node
//! whose lower bound `max(core(a), min core in node, box distance)` exceeds the point's best so
//! far, and the same against the best any point of the component has found (shared through an
//! atomic). A lightest edge out of any component belongs to a minimum spanning tree, so the
//! larger half need not search: at least a quarter of the components merge away every round
//! (O(log n) rounds), and the late rounds, where two or three components hold nearly every
//! point, cost the smaller ones' searches only (on CIFAR-10's and STL-10's captions about 10 %
//! of HDBSCAN's time, `notebooks/density.md`).
//!
//! A point's lightest edge stays its lightest while the partner is outside its component
//! (components only grow), so it is searched for again only once the partner has joined.
//!
//! Pruning against other points' bounds is strict, and a point keeps the first lightest edge
//! its own search meets, so the tree found does not depend on how rayon schedules the points.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::kdtree::KdTree;

/// One edge of the spanning tree, between tree positions `a` and `b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Edge {
    pub a: usize,
    pub b: usize,
    pub w: f32,
}

const MIXED: usize = usize::MAX;
/// One point in this many (in tree order, so spread over space) searches before the rest.
const SAMPLE_STRIDE: usize = 64;

/// The `n − 1` edges of the mutual reachability minimum spanning tree; `core` is per tree
/// position, and `neighbours` holds each position's `min_samples` nearest (from the core
/// distances' search): they give every search a partner to beat before it starts.
pub(super) fn spanning_tree(tree: &KdTree, core: &[f32], neighbours: &[u32]) -> Vec<Edge> {
    let n = tree.len();
    let per = neighbours.len().checked_div(n).unwrap_or(1).max(1);
    let min_core = node_min_core(tree, core);
    let mut uf = UnionFind::new(n);
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    // Each point's exact lightest edge out of its component, kept while its partner stays
    // outside: components only grow, so it is still the lightest, and it bounds every other
    // search of the component from the start.
    let mut known: Vec<Option<(f32, usize)>> = vec![None; n];
    while edges.len() + 1 < n {
        let comp: Vec<usize> = (0..n).map(|t| uf.find(t)).collect();
        let node_comp = node_components(tree, &comp);
        let bound: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(f32::INFINITY.to_bits())).collect();
        let (uf_size, cap) = component_sizes(&mut uf, &comp);
        let searches = |t: usize| uf_size[comp[t]] <= cap;
        // Start values: the known edge, else the lightest to a listed neighbour outside.
        let start: Vec<Option<(f32, usize)>> = (0..n)
            .into_par_iter()
            .map(|t| match known[t] {
                _ if !searches(t) => None,
                Some((w, j)) if comp[j] != comp[t] => Some((w, j)),
                _ => neighbours[t * per..(t + 1) * per]
                    .iter()
                    .map(|&j| j as usize)
                    .filter(|&j| comp[j] != comp[t])
                    .map(|j| (core[t].max(core[j]).max(tree.dist2(j, tree.point(t)).sqrt()), j))
                    .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)),
            })
            .collect();
        for (t, k) in known.iter_mut().enumerate() {
            if k.is_some_and(|(_, j)| comp[j] == comp[t]) {
                *k = None;
            }
            if let Some((w, _)) = start[t] {
                bound[comp[t]].fetch_min(w.to_bits(), Ordering::Relaxed);
            }
        }
        let search = Search { tree, core, comp: &comp, node_comp: &node_comp, min_core: &min_core, bound: &bound };
        let run = |t: usize| match known[t] {
            // A component above the median adds no edge of its own: its points' known edges
            // are not its lightest unless all of them searched.
            _ if !searches(t) => Found { edge: None, exact: false },
            Some(edge) => Found { edge: Some(edge), exact: true },
            None => search.nearest_outside(t, start[t]),
        };
        // A spread-out sample searches first: the bounds it leaves let the points inside a
        // large component stop at once instead of each walking to the nearest other one.
        let mut found: Vec<Option<Found>> =
            (0..n).into_par_iter().map(|t| (t % SAMPLE_STRIDE == 0).then(|| run(t))).collect();
        found.par_iter_mut().enumerate().filter(|(_, f)| f.is_none()).for_each(|(t, f)| *f = Some(run(t)));
        let found = found.into_iter().flatten();
        let mut best: Vec<Option<(f32, usize, usize)>> = vec![None; n];
        for (t, f) in found.enumerate() {
            let Some((w, j)) = f.edge else { continue };
            if f.exact {
                known[t] = Some((w, j));
            }
            let slot = &mut best[comp[t]];
            if slot.is_none_or(|(bw, bt, bj)| (w, t, j) < (bw, bt, bj)) {
                *slot = Some((w, t, j));
            }
        }
        let before = edges.len();
        for (w, a, b) in best.into_iter().flatten() {
            if uf.union(a, b) {
                edges.push(Edge { a, b, w });
            }
        }
        if edges.len() == before {
            // No edge leaves any component: only non-finite coordinates get here.
            break;
        }
    }
    edges
}

/// A point's search result; `exact` when nothing that could hold a lighter edge was skipped
/// on account of another point's bound.
struct Found {
    edge: Option<(f32, usize)>,
    exact: bool,
}

struct Search<'a> {
    tree: &'a KdTree,
    core: &'a [f32],
    comp: &'a [usize],
    node_comp: &'a [usize],
    min_core: &'a [f32],
    bound: &'a [AtomicU32],
}

impl Search<'_> {
    /// The lightest mutual reachability edge from `t` to another component: (weight, partner).
    /// `start` is an edge already known to leave the component.
    fn nearest_outside(&self, t: usize, start: Option<(f32, usize)>) -> Found {
        let (tree, ct, core_t) = (self.tree, self.comp[t], self.core[t]);
        let q = tree.point(t);
        let shared = &self.bound[ct];
        let mut best = start;
        // The lowest bound among nodes skipped only because of the shared bound.
        let mut skipped = f32::INFINITY;
        // Each node travels with its box distance, computed once when its parent ordered it.
        let mut stack = vec![(0usize, 0.0f32)];
        while let Some((node, box_d)) = stack.pop() {
            if self.node_comp[node] == ct {
                continue;
            }
            let own = best.map_or(f32::INFINITY, |b| b.0);
            let lower = core_t.max(self.min_core[node]).max(box_d);
            // Equal weights are skipped too: the first lightest edge found is kept, which
            // depends only on the tree and the point, not on other points' progress.
            if lower >= own {
                continue;
            }
            if lower > f32::from_bits(shared.load(Ordering::Relaxed)) {
                skipped = skipped.min(lower);
                continue;
            }
            let nd = tree.nodes[node];
            if let Some((l, r)) = nd.children {
                let (dl, dr) = (tree.box_dist2(l, q).sqrt(), tree.box_dist2(r, q).sqrt());
                let (near, far) = if dl <= dr { ((l, dl), (r, dr)) } else { ((r, dr), (l, dl)) };
                stack.push(far);
                stack.push(near);
                continue;
            }
            for j in nd.start..nd.end {
                if self.comp[j] == ct {
                    continue;
                }
                let w = core_t.max(self.core[j]).max(tree.dist2(j, q).sqrt());
                if best.is_none_or(|b| (w, j) < b) {
                    best = Some((w, j));
                }
            }
            if let Some((w, _)) = best {
                shared.fetch_min(w.to_bits(), Ordering::Relaxed);
            }
        }
        Found { edge: best, exact: best.is_some_and(|(w, _)| w < skipped) }
    }
}

/// Per root, its component's size (0 elsewhere), and the lower median of the sizes (so that
/// of two components the smaller searches).
fn component_sizes(uf: &mut UnionFind, comp: &[usize]) -> (Vec<usize>, usize) {
    let mut size = vec![0; comp.len()];
    let mut sizes = Vec::new();
    for (t, &c) in comp.iter().enumerate() {
        if c == t {
            size[t] = uf.size_of(t);
            sizes.push(size[t]);
        }
    }
    let mid = sizes.len().saturating_sub(1) / 2;
    let median = if sizes.is_empty() { 0 } else { *sizes.select_nth_unstable(mid).1 };
    (size, median)
}

/// Smallest core distance under each node.
fn node_min_core(tree: &KdTree, core: &[f32]) -> Vec<f32> {
    let mut out = vec![f32::INFINITY; tree.nodes.len()];
    // Children always have larger ids than their parent, so one reverse pass is bottom-up.
    for id in (0..tree.nodes.len()).rev() {
        let nd = tree.nodes[id];
        out[id] = match nd.children {
            Some((l, r)) => out[l].min(out[r]),
            None => core[nd.start..nd.end].iter().copied().fold(f32::INFINITY, f32::min),
        };
    }
    out
}

/// The component every point under a node belongs to, or `MIXED`.
fn node_components(tree: &KdTree, comp: &[usize]) -> Vec<usize> {
    let mut out = vec![MIXED; tree.nodes.len()];
    for id in (0..tree.nodes.len()).rev() {
        let nd = tree.nodes[id];
        out[id] = match nd.children {
            Some((l, r)) if out[l] == out[r] => out[l],
            Some(_) => MIXED,
            None => {
                let first = comp[nd.start];
                if comp[nd.start..nd.end].iter().all(|&c| c == first) {
                    first
                } else {
                    MIXED
                }
            }
        };
    }
    out
}

/// Union-find with path halving and union by size.
pub(super) struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        UnionFind { parent: (0..n).collect(), size: vec![1; n] }
    }

    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the sets of `a` and `b`; false when they were already one.
    pub fn union(&mut self, a: usize, b: usize) -> bool {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
        true
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn size_of(&mut self, x: usize) -> usize {
        let r = self.find(x);
        self.size[r]
    }
}
