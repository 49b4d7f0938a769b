//! From the spanning tree to labels: HDBSCAN's condensed tree and excess-of-mass selection
//! (Campello, Moulavi & Sander 2013), and DBSCAN* as one cut of the same tree.

use super::boruvka::{Edge, UnionFind};

/// One merge of the single-linkage dendrogram: nodes `0..n` are points, node `n + i` is merge `i`.
#[derive(Clone, Copy, Debug)]
struct Merge {
    left: usize,
    right: usize,
    w: f32,
    size: usize,
}

/// Edges sorted by weight (ties by their ends, so the dendrogram does not depend on the order
/// the spanning tree was found in).
pub(super) fn sorted(mut edges: Vec<Edge>) -> Vec<Edge> {
    edges.sort_by(|x, y| x.w.total_cmp(&y.w).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    edges
}

fn single_linkage(n: usize, edges: &[Edge]) -> Vec<Merge> {
    let mut parent: Vec<usize> = (0..2 * n).collect();
    let mut size = vec![1usize; 2 * n];
    let find = |parent: &mut Vec<usize>, mut x: usize| {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    };
    let mut merges = Vec::with_capacity(edges.len());
    for e in edges {
        let (ra, rb) = (find(&mut parent, e.a), find(&mut parent, e.b));
        let id = n + merges.len();
        size[id] = size[ra] + size[rb];
        parent[ra] = id;
        parent[rb] = id;
        merges.push(Merge { left: ra, right: rb, w: e.w, size: size[id] });
    }
    merges
}

/// HDBSCAN labels per point (`-1` noise) from sorted spanning-tree edges. With `k`, the
/// selection keeps k clusters of the condensed tree (fewer when it has fewer leaves).
pub(super) fn hdbscan_labels(n: usize, edges: &[Edge], min_cluster_size: usize, k: Option<usize>) -> Vec<i64> {
    if n < 2 || edges.len() + 1 != n {
        return vec![-1; n];
    }
    let merges = single_linkage(n, edges);
    let condensed = Condensed::build(n, &merges, min_cluster_size);
    let selected = match k {
        Some(k) => condensed.excess_of_mass_k(k),
        None => condensed.excess_of_mass(),
    };
    condensed.labels(&selected)
}

/// The condensed tree: clusters `0..count` (0 = root) and, per point and per cluster, the
/// cluster it left or split from and at which density `λ = 1 / distance`.
struct Condensed {
    count: usize,
    /// Per cluster: its parent cluster (root: itself) and the λ it was born at.
    cluster_parent: Vec<usize>,
    birth: Vec<f64>,
    /// Per point: the cluster it fell out of.
    point_parent: Vec<usize>,
    /// Per cluster: Σ (λ_leave − λ_birth) over the points that left it directly.
    stability: Vec<f64>,
}

fn lambda(w: f32) -> f64 {
    1.0 / f64::from(w).max(1e-12)
}

impl Condensed {
    fn build(n: usize, merges: &[Merge], min_cluster_size: usize) -> Self {
        // A lone point is never a cluster (and has no merge to descend into).
        let min_cluster_size = min_cluster_size.max(2);
        let mut c = Condensed {
            count: 1,
            cluster_parent: vec![0],
            birth: vec![0.0],
            point_parent: vec![0; n],
            stability: vec![0.0],
        };
        let size = |node: usize| if node < n { 1 } else { merges[node - n].size };
        // (dendrogram node, its cluster), top-down.
        let mut stack = vec![(n + merges.len() - 1, 0usize)];
        while let Some((node, cluster)) = stack.pop() {
            let m = merges[node - n];
            let l = lambda(m.w);
            match (size(m.left) >= min_cluster_size, size(m.right) >= min_cluster_size) {
                (true, true) => {
                    for child in [m.left, m.right] {
                        let id = c.new_cluster(cluster, l);
                        stack.push((child, id));
                    }
                }
                (keep_left, keep_right) => {
                    for (child, keep) in [(m.left, keep_left), (m.right, keep_right)] {
                        if keep {
                            stack.push((child, cluster));
                        } else {
                            c.fall_out(n, merges, child, cluster, l);
                        }
                    }
                }
            }
        }
        c
    }

    fn new_cluster(&mut self, parent: usize, birth: f64) -> usize {
        self.cluster_parent.push(parent);
        self.birth.push(birth);
        self.stability.push(0.0);
        self.count += 1;
        self.count - 1
    }

    /// Every point under `node` leaves `cluster` at density `l`.
    fn fall_out(&mut self, n: usize, merges: &[Merge], node: usize, cluster: usize, l: f64) {
        let mut stack = vec![node];
        while let Some(x) = stack.pop() {
            if x < n {
                self.point_parent[x] = cluster;
                self.stability[cluster] += l - self.birth[cluster];
            } else {
                stack.push(merges[x - n].left);
                stack.push(merges[x - n].right);
            }
        }
    }

    /// Per cluster: its children, and its stability counting the points that left it by a split.
    fn children_and_stability(&self) -> (Vec<Vec<usize>>, Vec<f64>) {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); self.count];
        let mut stability = self.stability.clone();
        for id in 1..self.count {
            let p = self.cluster_parent[id];
            children[p].push(id);
        }
        let mut mass = vec![0usize; self.count];
        for &p in &self.point_parent {
            mass[p] += 1;
        }
        // A split ends its parent: every point under a child left the parent at the child's birth.
        for id in (1..self.count).rev() {
            let p = self.cluster_parent[id];
            mass[p] += mass[id];
            stability[p] += (self.birth[id] - self.birth[p]) * mass[id] as f64;
        }
        (children, stability)
    }

    /// Excess-of-mass selection, the root excluded: a cluster is kept unless its children
    /// together are more stable than it.
    fn excess_of_mass(&self) -> Vec<bool> {
        let (children, mut stability) = self.children_and_stability();
        let mut selected = vec![false; self.count];
        // Children have larger ids than their parents: a reverse pass is bottom-up.
        for id in (1..self.count).rev() {
            let below: f64 = children[id].iter().map(|&ch| stability[ch]).sum();
            if !children[id].is_empty() && below > stability[id] {
                stability[id] = below;
            } else {
                selected[id] = true;
                let mut stack = children[id].clone();
                while let Some(ch) = stack.pop() {
                    selected[ch] = false;
                    stack.extend_from_slice(&children[ch]);
                }
            }
        }
        selected
    }

    /// Excess of mass under a count: of the sets of clusters with no cluster inside another
    /// (the root excluded), the one of `k` clusters with the most total stability, found by a
    /// knapsack over the tree; with fewer than `k` leaves, the largest count there is.
    fn excess_of_mass_k(&self, k: usize) -> Vec<bool> {
        let (children, stability) = self.children_and_stability();
        let k = k.max(1);
        // best[c][j]: the most stability from exactly j selected clusters at or under c.
        let mut best: Vec<Vec<f64>> = vec![Vec::new(); self.count];
        for id in (0..self.count).rev() {
            let mut below = vec![0.0];
            for &ch in &children[id] {
                below = knapsack(&below, &best[ch], k);
            }
            if id != 0 {
                if below.len() < 2 {
                    below.push(f64::NEG_INFINITY);
                }
                below[1] = below[1].max(stability[id]);
            }
            best[id] = below;
        }
        let count = (best[0].len() - 1).min(k);
        let mut selected = vec![false; self.count];
        let mut stack = vec![(0usize, count)];
        while let Some((id, j)) = stack.pop() {
            if id != 0 && j == 1 && best[id][1] == stability[id] {
                selected[id] = true;
                continue;
            }
            // Split j over the children the way the knapsack did, last child first.
            let mut prefix = vec![vec![0.0]];
            for &ch in &children[id] {
                let next = knapsack(prefix.last().expect("starts non-empty"), &best[ch], k);
                prefix.push(next);
            }
            let mut rest = j;
            for (i, &ch) in children[id].iter().enumerate().rev() {
                let before = &prefix[i];
                let target = prefix[i + 1][rest];
                let take = (0..=rest.min(best[ch].len() - 1))
                    .find(|&t| rest - t < before.len() && before[rest - t] + best[ch][t] == target)
                    .expect("the knapsack's own split");
                if take > 0 {
                    stack.push((ch, take));
                }
                rest -= take;
            }
        }
        selected
    }

    fn labels(&self, selected: &[bool]) -> Vec<i64> {
        let mut label_of = vec![-1i64; self.count];
        let mut next = 0;
        for (id, &s) in selected.iter().enumerate() {
            if s {
                label_of[id] = next;
                next += 1;
            }
        }
        self.point_parent
            .iter()
            .map(|&start| {
                let mut c = start;
                while c != 0 {
                    if selected[c] {
                        return label_of[c];
                    }
                    c = self.cluster_parent[c];
                }
                -1
            })
            .collect()
    }
}

/// The most stability for each total count, from two independent parts, counts up to `k`.
fn knapsack(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    let len = (a.len() + b.len() - 1).min(k + 1);
    let mut out = vec![f64::NEG_INFINITY; len];
    for (i, &x) in a.iter().enumerate() {
        for (j, &y) in b.iter().enumerate().take(len.saturating_sub(i)) {
            out[i + j] = out[i + j].max(x + y);
        }
    }
    out
}

/// DBSCAN* at radius `eps`: the components of the spanning-tree edges no heavier than `eps`,
/// those smaller than `min_cluster_size` being noise. A point whose core distance exceeds `eps`
/// has only heavier edges, so it is noise here (`Neighbourhoods::attach_borders` then gives
/// DBSCAN's border points their cluster).
pub(super) fn cut_labels(n: usize, edges: &[Edge], eps: f32, min_cluster_size: usize) -> Vec<i64> {
    let mut uf = UnionFind::new(n);
    for e in edges.iter().take_while(|e| e.w <= eps) {
        uf.union(e.a, e.b);
    }
    component_labels(&mut uf, min_cluster_size)
}

/// One label per component of at least `min_cluster_size` points (and at least 2), numbered by
/// first point; −1 for the rest.
pub(super) fn component_labels(uf: &mut UnionFind, min_cluster_size: usize) -> Vec<i64> {
    let n = uf.len();
    let mut label_of = vec![-1i64; n];
    let mut next = 0;
    (0..n)
        .map(|t| {
            if uf.size_of(t) < min_cluster_size.max(2) {
                return -1;
            }
            let r = uf.find(t);
            if label_of[r] < 0 {
                label_of[r] = next;
                next += 1;
            }
            label_of[r]
        })
        .collect()
}

/// The radius at which the most groups of at least `min_cluster_size` points stand apart:
/// adding the sorted edges one by one, the weight of the last edge after which that count is
/// at its maximum (the largest such radius, so the fewest points are left as noise).
pub(super) fn most_groups_eps(n: usize, edges: &[Edge], min_cluster_size: usize) -> Option<f32> {
    let m = min_cluster_size.max(2);
    let mut uf = UnionFind::new(n);
    let (mut groups, mut best, mut eps) = (0usize, 0usize, None);
    for (i, e) in edges.iter().enumerate() {
        let (sa, sb) = (uf.size_of(e.a), uf.size_of(e.b));
        if !uf.union(e.a, e.b) {
            continue;
        }
        groups = groups + usize::from(sa + sb >= m) - usize::from(sa >= m) - usize::from(sb >= m);
        // Equal weights are one radius: only count after the last of them.
        let last_of_weight = edges.get(i + 1).is_none_or(|next| next.w > e.w);
        if last_of_weight && groups >= best && groups > 0 {
            best = groups;
            eps = Some(e.w);
        }
    }
    eps
}
