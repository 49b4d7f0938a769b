//! A k-d tree over the density space's few coordinates: k-nearest-neighbour distances for the
//! core distances, and the node boxes Borůvka prunes with.
//!
//! Points are stored in tree order (each node owns one contiguous range), so a leaf scan reads
//! consecutive memory; `perm` maps tree order back to input rows.

use std::collections::BinaryHeap;

use rayon::prelude::*;

/// Points per leaf: below this a scan is cheaper than descending further.
const LEAF_SIZE: usize = 32;

#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    pub start: usize,
    pub end: usize,
    /// Child node ids; `None` for a leaf.
    pub children: Option<(usize, usize)>,
}

pub(super) struct KdTree {
    /// Coordinates in tree order, `n × dim`.
    pub points: Vec<f32>,
    pub dim: usize,
    /// `perm[t]` is the input row of tree position `t`.
    pub perm: Vec<usize>,
    pub nodes: Vec<Node>,
    /// Node bounding boxes, `nodes.len() × dim` each.
    lo: Vec<f32>,
    hi: Vec<f32>,
}

impl KdTree {
    /// Builds the tree over `coords` (`n × dim`, row-major).
    pub fn build(coords: &[f32], dim: usize) -> Self {
        let n = coords.len() / dim.max(1);
        let mut perm: Vec<usize> = (0..n).collect();
        let mut tree =
            KdTree { points: Vec::new(), dim, perm: Vec::new(), nodes: Vec::new(), lo: Vec::new(), hi: Vec::new() };
        tree.split(coords, &mut perm, 0, n);
        tree.points = perm.iter().flat_map(|&i| coords[i * dim..(i + 1) * dim].iter().copied()).collect();
        tree.perm = perm;
        tree
    }

    /// Adds the node for `perm[start..end]` and its subtree; returns its id.
    fn split(&mut self, coords: &[f32], perm: &mut [usize], start: usize, end: usize) -> usize {
        let d = self.dim;
        let (mut lo, mut hi) = (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]);
        for &i in &perm[start..end] {
            for (j, &v) in coords[i * d..(i + 1) * d].iter().enumerate() {
                lo[j] = lo[j].min(v);
                hi[j] = hi[j].max(v);
            }
        }
        let id = self.nodes.len();
        self.nodes.push(Node { start, end, children: None });
        let widest = (0..d).max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])));
        self.lo.extend_from_slice(&lo);
        self.hi.extend_from_slice(&hi);
        let Some(axis) = widest.filter(|&a| end - start > LEAF_SIZE && hi[a] > lo[a]) else {
            return id;
        };
        let mid = start + (end - start) / 2;
        perm[start..end]
            .select_nth_unstable_by(mid - start, |&a, &b| coords[a * d + axis].total_cmp(&coords[b * d + axis]));
        let left = self.split(coords, perm, start, mid);
        let right = self.split(coords, perm, mid, end);
        self.nodes[id].children = Some((left, right));
        id
    }

    pub fn len(&self) -> usize {
        self.perm.len()
    }

    pub fn point(&self, t: usize) -> &[f32] {
        &self.points[t * self.dim..(t + 1) * self.dim]
    }

    pub fn dist2(&self, a: usize, q: &[f32]) -> f32 {
        self.point(a).iter().zip(q).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    /// Squared distance from `q` to the box of `node` (0 inside it).
    pub fn box_dist2(&self, node: usize, q: &[f32]) -> f32 {
        let d = self.dim;
        let (lo, hi) = (&self.lo[node * d..(node + 1) * d], &self.hi[node * d..(node + 1) * d]);
        q.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&v, (&l, &h))| {
                let gap = (l - v).max(v - h).max(0.0);
                gap * gap
            })
            .sum()
    }

    /// For every tree position, the distance to its `k`-th nearest point, itself included
    /// (HDBSCAN's core distance with `min_samples = k`), and those `k` points (tree
    /// positions, `k` per point, nearest first).
    pub fn nearest(&self, k: usize) -> (Vec<f32>, Vec<u32>) {
        let k = k.clamp(1, self.len());
        let per_point: Vec<(f32, Vec<u32>)> = (0..self.len()).into_par_iter().map(|t| self.k_nearest(t, k)).collect();
        let mut core = Vec::with_capacity(self.len());
        let mut neighbours = Vec::with_capacity(self.len() * k);
        for (c, list) in per_point {
            core.push(c);
            neighbours.extend(list);
        }
        (core, neighbours)
    }

    fn k_nearest(&self, t: usize, k: usize) -> (f32, Vec<u32>) {
        let q = self.point(t);
        let mut heap: BinaryHeap<Dist> = BinaryHeap::with_capacity(k + 1);
        // Each node travels with its box distance, computed once when its parent ordered it.
        let mut stack = vec![(0usize, 0.0f32)];
        while let Some((node, box_d2)) = stack.pop() {
            if heap.len() == k && box_d2 > heap.peek().map_or(f32::INFINITY, |d| d.0) {
                continue;
            }
            let nd = self.nodes[node];
            match nd.children {
                Some((l, r)) => {
                    let (dl, dr) = (self.box_dist2(l, q), self.box_dist2(r, q));
                    let (near, far) = if dl <= dr { ((l, dl), (r, dr)) } else { ((r, dr), (l, dl)) };
                    stack.push(far);
                    stack.push(near);
                }
                None => {
                    for p in nd.start..nd.end {
                        let d2 = self.dist2(p, q);
                        if heap.len() < k {
                            heap.push(Dist(d2, p as u32));
                        } else if d2 < heap.peek().map_or(f32::INFINITY, |d| d.0) {
                            heap.pop();
                            heap.push(Dist(d2, p as u32));
                        }
                    }
                }
            }
        }
        let kth = heap.peek().map_or(0.0, |d| d.0.sqrt());
        (kth, heap.into_sorted_vec().into_iter().map(|d| d.1).collect())
    }
}

/// A squared distance (and the point at it) ordered for the max-heap of the k nearest.
#[derive(Clone, Copy, PartialEq)]
struct Dist(f32, u32);

impl Eq for Dist {}

impl PartialOrd for Dist {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dist {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}
