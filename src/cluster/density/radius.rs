//! DBSCAN\* at a given radius without the spanning tree: the clusters are the connected
//! components of the core points (core distance ≤ eps) under links of length ≤ eps, which is
//! what the spanning tree cut at eps gives, found with one range search per core point instead
//! of Borůvka's rounds.
//!
//! A core point's listed nearest neighbours link most of a cluster before any search. Each
//! core point then searches the radius for core points of *other* components, skipping tree
//! nodes whose core points all share its component (or that hold none), so the search inside a
//! linked cluster stops at once. One link per other component found is enough.

use rayon::prelude::*;

use super::boruvka::UnionFind;
use super::hierarchy::component_labels;
use super::kdtree::KdTree;

/// A node with no core point under it.
const EMPTY: usize = usize::MAX;
/// A node whose core points lie in more than one component.
const MIXED: usize = usize::MAX - 1;

/// Labels per tree position (−1 for noise), numbered by first tree position, as
/// [`super::hierarchy::cut_labels`] numbers the same cut of the spanning tree; `core` and
/// `neighbours` as from [`KdTree::nearest`].
pub(super) fn cut_at(tree: &KdTree, core: &[f32], neighbours: &[u32], eps: f32, min_cluster_size: usize) -> Vec<i64> {
    let n = tree.len();
    let per = neighbours.len().checked_div(n).unwrap_or(1).max(1);
    let is_core = |t: usize| core[t] <= eps;
    let within = |a: usize, b: usize| tree.dist2(b, tree.point(a)).sqrt() <= eps;
    let mut uf = UnionFind::new(n);
    for t in (0..n).filter(|&t| is_core(t)) {
        for &j in &neighbours[t * per..(t + 1) * per] {
            let j = j as usize;
            if j != t && is_core(j) && within(t, j) {
                uf.union(t, j);
            }
        }
    }
    let comp: Vec<usize> = (0..n).map(|t| uf.find(t)).collect();
    let node_comp = node_core_components(tree, &comp, core, eps);
    let links: Vec<(usize, usize)> = (0..n)
        .into_par_iter()
        .filter(|&t| is_core(t))
        .flat_map_iter(|t| {
            other_components_within(tree, t, &comp, &node_comp, core, eps).into_iter().map(move |j| (t, j))
        })
        .collect();
    for (a, b) in links {
        uf.union(a, b);
    }
    component_labels(&mut uf, min_cluster_size)
}

/// One core point within `eps` of `t` in each component other than `t`'s.
fn other_components_within(
    tree: &KdTree,
    t: usize,
    comp: &[usize],
    node_comp: &[usize],
    core: &[f32],
    eps: f32,
) -> Vec<usize> {
    let (q, ct) = (tree.point(t), comp[t]);
    let mut found: Vec<usize> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    let mut stack = vec![0usize];
    while let Some(node) = stack.pop() {
        let c = node_comp[node];
        if c == EMPTY || c == ct || seen.contains(&c) || tree.box_dist2(node, q).sqrt() > eps {
            continue;
        }
        let nd = tree.nodes[node];
        if let Some((l, r)) = nd.children {
            stack.push(r);
            stack.push(l);
            continue;
        }
        for j in nd.start..nd.end {
            if core[j] <= eps && comp[j] != ct && !seen.contains(&comp[j]) && tree.dist2(j, q).sqrt() <= eps {
                seen.push(comp[j]);
                found.push(j);
            }
        }
    }
    found
}

/// Per node, the component all its core points share, or [`EMPTY`] / [`MIXED`].
fn node_core_components(tree: &KdTree, comp: &[usize], core: &[f32], eps: f32) -> Vec<usize> {
    let join = |a: usize, b: usize| match (a, b) {
        (EMPTY, x) | (x, EMPTY) => x,
        (x, y) if x == y => x,
        _ => MIXED,
    };
    let mut out = vec![EMPTY; tree.nodes.len()];
    // Children always have larger ids than their parent, so one reverse pass is bottom-up.
    for id in (0..tree.nodes.len()).rev() {
        let nd = tree.nodes[id];
        out[id] = match nd.children {
            Some((l, r)) => join(out[l], out[r]),
            None => (nd.start..nd.end).filter(|&j| core[j] <= eps).fold(EMPTY, |acc, j| join(acc, comp[j])),
        };
    }
    out
}
