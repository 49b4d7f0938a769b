use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

use super::boruvka::{spanning_tree, Edge};
use super::hierarchy::{cut_labels, hdbscan_labels, most_groups_eps, sorted};
use super::kdtree::KdTree;
use super::radius::cut_at;

/// `k` blobs of `per` points in `dim` dimensions, centres spread far apart, plus `noise`
/// uniform points.
fn blobs(k: usize, per: usize, dim: usize, noise: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..k).map(|_| (0..dim).map(|_| rng.gen_range(-10.0..10.0)).collect()).collect();
    let (mut pts, mut truth) = (Vec::new(), Vec::new());
    for (c, centre) in centres.iter().enumerate() {
        for _ in 0..per {
            pts.extend(centre.iter().map(|&v| v + rng.gen_range(-0.6f32..0.6)));
            truth.push(c as i64);
        }
    }
    for _ in 0..noise {
        pts.extend((0..dim).map(|_| rng.gen_range(-12.0f32..12.0)));
        truth.push(-1);
    }
    (pts, truth)
}

fn dist(p: &[f32], dim: usize, a: usize, b: usize) -> f32 {
    (0..dim).map(|j| (p[a * dim + j] - p[b * dim + j]).powi(2)).sum::<f32>().sqrt()
}

/// Core distances by sorting every row's distances.
fn brute_core(p: &[f32], dim: usize, k: usize) -> Vec<f32> {
    let n = p.len() / dim;
    (0..n)
        .map(|a| {
            let mut d: Vec<f32> = (0..n).map(|b| dist(p, dim, a, b)).collect();
            d.sort_by(f32::total_cmp);
            d[k - 1]
        })
        .collect()
}

/// Total weight of the mutual reachability spanning tree by Prim's O(n²) algorithm.
fn prim_weight(p: &[f32], dim: usize, core: &[f32]) -> f64 {
    let n = core.len();
    let mrd = |a: usize, b: usize| core[a].max(core[b]).max(dist(p, dim, a, b));
    let mut best: Vec<f32> = (0..n).map(|b| mrd(0, b)).collect();
    let mut done = vec![false; n];
    done[0] = true;
    let mut total = 0.0;
    for _ in 1..n {
        let next = (0..n).filter(|&b| !done[b]).min_by(|&a, &b| best[a].total_cmp(&best[b])).unwrap();
        total += f64::from(best[next]);
        done[next] = true;
        for (b, slot) in best.iter_mut().enumerate() {
            *slot = slot.min(mrd(next, b));
        }
    }
    total
}

#[test]
fn kth_distances_match_brute_force() {
    let (p, _) = blobs(3, 60, 4, 40, 1);
    let tree = KdTree::build(&p, 4);
    for k in [1, 5, 17] {
        let by_tree = tree.nearest(k).0;
        let brute = brute_core(&p, 4, k);
        for t in 0..tree.len() {
            assert!((by_tree[t] - brute[tree.perm[t]]).abs() < 1e-4, "k {k} point {}", tree.perm[t]);
        }
    }
}

#[test]
fn boruvka_finds_a_minimum_spanning_tree() {
    for (dim, seed) in [(2, 2), (5, 3), (10, 4)] {
        let (p, _) = blobs(4, 50, dim, 60, seed);
        let tree = KdTree::build(&p, dim);
        let (core, near) = tree.nearest(5);
        let edges = spanning_tree(&tree, &core, &near);
        assert_eq!(edges.len(), tree.len() - 1);
        let total: f64 = edges.iter().map(|e| f64::from(e.w)).sum();
        let tree_points: Vec<f32> = tree.points.clone();
        let expected = prim_weight(&tree_points, dim, &core);
        assert!((total - expected).abs() < 1e-3 * expected, "dim {dim}: {total} vs {expected}");
    }
}

#[test]
fn boruvka_finds_a_minimum_spanning_tree_when_one_component_outgrows_the_rest() {
    // One blob of 400 beside six of 6 and scattered points: from the second round on, the big
    // component is above the median and never searches; the small ones must still find every
    // edge that joins it.
    for (dim, seed) in [(2, 5), (3, 6), (10, 7)] {
        let (mut p, _) = blobs(1, 400, dim, 0, seed);
        p.extend(blobs(6, 6, dim, 30, seed + 10).0);
        let tree = KdTree::build(&p, dim);
        let (core, near) = tree.nearest(4);
        let edges = spanning_tree(&tree, &core, &near);
        assert_eq!(edges.len(), tree.len() - 1);
        let total: f64 = edges.iter().map(|e| f64::from(e.w)).sum();
        let expected = prim_weight(&tree.points, dim, &core);
        assert!((total - expected).abs() < 1e-3 * expected, "dim {dim}: {total} vs {expected}");
    }
}

/// Labels of the `hdbscan` crate (Prim's algorithm on the same points and settings).
fn crate_labels(p: &[f32], dim: usize, mcs: usize, ms: usize) -> Vec<i64> {
    let rows: Vec<Vec<f32>> = p.chunks(dim).map(<[f32]>::to_vec).collect();
    let hp = hdbscan::HdbscanHyperParams::builder().min_cluster_size(mcs).min_samples(ms).build();
    hdbscan::Hdbscan::new(&rows, hp).cluster().unwrap().into_iter().map(i64::from).collect()
}

/// Same partition up to the names of the clusters, on the points both call members; and how
/// many points only one of them calls noise.
fn agreement(a: &[i64], b: &[i64]) -> (bool, usize) {
    let both: Vec<usize> = (0..a.len()).filter(|&i| a[i] >= 0 && b[i] >= 0).collect();
    let pick = |v: &[i64]| both.iter().map(|&i| v[i]).collect::<Vec<_>>();
    let noise_only_one = (0..a.len()).filter(|&i| (a[i] < 0) != (b[i] < 0)).count();
    (same_partition(&pick(a), &pick(b)), noise_only_one)
}

/// Same partition up to the names of the clusters.
fn same_partition(a: &[i64], b: &[i64]) -> bool {
    let mut map = std::collections::HashMap::new();
    let mut back = std::collections::HashMap::new();
    a.iter().zip(b).all(|(&x, &y)| {
        (x < 0) == (y < 0) && (x < 0 || (*map.entry(x).or_insert(y) == y && *back.entry(y).or_insert(x) == x))
    })
}

#[test]
fn hdbscan_matches_the_hdbscan_crate() {
    for (k, dim, noise, mcs, ms, seed) in [(3, 2, 30, 10, 5, 5), (5, 4, 80, 20, 10, 6), (4, 8, 50, 15, 15, 7)] {
        let (p, _) = blobs(k, 60, dim, noise, seed);
        let tree = KdTree::build(&p, dim);
        let (core, near) = tree.nearest(ms);
        let edges = sorted(spanning_tree(&tree, &core, &near));
        let by_tree = hdbscan_labels(tree.len(), &edges, mcs, None);
        let mut ours = vec![0; tree.len()];
        for (t, l) in by_tree.into_iter().enumerate() {
            ours[tree.perm[t]] = l;
        }
        let theirs = crate_labels(&p, dim, mcs, ms);
        // Equal mutual reachability distances are common (a point's distance to all its near
        // neighbours is its own core distance), and the order of equal edges decides whether a
        // point at a split leaves the parent or the child: only such points may differ.
        let (same, noise_only_one) = agreement(&ours, &theirs);
        assert!(same && noise_only_one * 50 <= ours.len(), "k {k} dim {dim}:\n{ours:?}\n{theirs:?}");
        assert!(ours.iter().any(|&l| l >= 0));
    }
}

#[test]
fn the_cut_radius_separates_the_most_groups() {
    let (p, truth) = blobs(4, 50, 3, 0, 8);
    let tree = KdTree::build(&p, 3);
    let (core, near) = tree.nearest(5);
    let edges = sorted(spanning_tree(&tree, &core, &near));
    let eps = most_groups_eps(tree.len(), &edges, 20).unwrap();
    let labels = cut_labels(tree.len(), &edges, eps, 20);
    let found: std::collections::HashSet<i64> = labels.iter().copied().filter(|&l| l >= 0).collect();
    assert_eq!(found.len(), 4);
    let in_rows: Vec<i64> = (0..tree.len()).map(|r| labels[tree.perm.iter().position(|&q| q == r).unwrap()]).collect();
    assert!(same_partition(&in_rows, &truth));
    // A radius below every edge leaves only noise; above every edge, one group.
    assert!(cut_labels(tree.len(), &edges, 0.0, 2).iter().all(|&l| l < 0));
    assert!(cut_labels(tree.len(), &edges, f32::MAX, 2).iter().all(|&l| l == 0));
}

#[test]
fn duplicates_and_tiny_inputs_do_not_panic() {
    let p = vec![1.0f32; 40]; // 20 identical 2-d points
    let tree = KdTree::build(&p, 2);
    let (core, near) = tree.nearest(5);
    let edges: Vec<Edge> = sorted(spanning_tree(&tree, &core, &near));
    assert_eq!(edges.len(), 19);
    assert!(edges.iter().all(|e| e.w == 0.0));
    let labels = hdbscan_labels(20, &edges, 5, None);
    assert_eq!(labels.len(), 20);
    let one = KdTree::build(&[0.5, 0.5], 2);
    let (core, near) = one.nearest(1);
    assert!(spanning_tree(&one, &core, &near).is_empty());
    assert_eq!(hdbscan_labels(1, &[], 2, None), vec![-1]);
    // At a given radius: duplicates are one cluster, one point is noise.
    let (core, near) = tree.nearest(5);
    assert_eq!(cut_at(&tree, &core, &near, 1e-6, 5), vec![0; 20]);
    let (core, near) = one.nearest(1);
    assert_eq!(cut_at(&one, &core, &near, 1.0, 2), vec![-1]);
}

/// Four 2-d blobs in two far-apart pairs: a two-level hierarchy.
fn two_pairs(per: usize) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(5);
    let centres = [(0.0f32, 0.0f32), (4.0, 0.0), (60.0, 0.0), (64.0, 0.0)];
    let (mut pts, mut truth) = (Vec::new(), Vec::new());
    for (c, &(x, y)) in centres.iter().enumerate() {
        for _ in 0..per {
            pts.extend([x + rng.gen_range(-0.8f32..0.8), y + rng.gen_range(-0.8f32..0.8)]);
            truth.push(c as i64);
        }
    }
    (pts, truth)
}

fn groups_of(labels: &[i64]) -> usize {
    labels.iter().copied().filter(|&l| l >= 0).collect::<std::collections::HashSet<_>>().len()
}

#[test]
fn a_given_k_selects_that_many_clusters_from_the_condensed_tree() {
    let (p, truth) = two_pairs(60);
    let tree = KdTree::build(&p, 2);
    let (core, near) = tree.nearest(5);
    let edges = sorted(spanning_tree(&tree, &core, &near));
    let n = tree.len();
    let to_rows = |labels: Vec<i64>| -> Vec<i64> {
        (0..n).map(|r| labels[tree.perm.iter().position(|&q| q == r).unwrap()]).collect()
    };
    let four = to_rows(hdbscan_labels(n, &edges, 20, Some(4)));
    assert_eq!(groups_of(&four), 4);
    let core_rows: Vec<usize> = (0..n).filter(|&i| four[i] >= 0).collect();
    assert!(core_rows.len() > n / 2);
    let (a, b): (Vec<i64>, Vec<i64>) = core_rows.iter().map(|&i| (four[i], truth[i])).unzip();
    assert!(same_partition(&a, &b));
    // Two: the pairs, each whole.
    let two = to_rows(hdbscan_labels(n, &edges, 20, Some(2)));
    assert_eq!(groups_of(&two), 2);
    let pair: Vec<i64> = truth.iter().map(|&t| t / 2).collect();
    let (a, b): (Vec<i64>, Vec<i64>) = (0..n).filter(|&i| two[i] >= 0).map(|i| (two[i], pair[i])).unzip();
    assert!(same_partition(&a, &b));
    assert_eq!(groups_of(&to_rows(hdbscan_labels(n, &edges, 20, Some(3)))), 3);
    // More than the tree's leaves: all of them, no more.
    let many = hdbscan_labels(n, &edges, 20, Some(50));
    assert!((4..50).contains(&groups_of(&many)));
    assert_eq!(groups_of(&hdbscan_labels(n, &edges, 20, Some(1))), 1);
}

/// Classic DBSCAN (Ester et al. 1996) by brute force: core points within `eps` of each other
/// share a cluster, clusters of fewer than `mcs` core points are dropped, and a non-core point
/// within `eps` of a clustered core point takes the cluster of the nearest one.
fn brute_dbscan(p: &[f32], dim: usize, eps: f32, min_points: usize, mcs: usize) -> (Vec<i64>, usize) {
    let n = p.len() / dim;
    let core: Vec<bool> = brute_core(p, dim, min_points).into_iter().map(|c| c <= eps).collect();
    let mut comp: Vec<usize> = (0..n).collect();
    let root = |comp: &mut Vec<usize>, mut a: usize| {
        while comp[a] != a {
            a = comp[a];
        }
        a
    };
    for a in (0..n).filter(|&a| core[a]) {
        for b in (0..n).filter(|&b| core[b] && dist(p, dim, a, b) <= eps) {
            let (ra, rb) = (root(&mut comp, a), root(&mut comp, b));
            comp[ra] = rb;
        }
    }
    let roots: Vec<usize> = (0..n).map(|a| root(&mut comp, a)).collect();
    let size = |r: usize| (0..n).filter(|&b| core[b] && roots[b] == r).count();
    let mut labels: Vec<i64> =
        (0..n).map(|a| if core[a] && size(roots[a]) >= mcs { roots[a] as i64 } else { -1 }).collect();
    let mut borders = 0;
    for a in (0..n).filter(|&a| !core[a]) {
        let nearest = (0..n)
            .filter(|&b| core[b] && labels[b] >= 0 && dist(p, dim, a, b) <= eps)
            .min_by(|&x, &y| dist(p, dim, a, x).total_cmp(&dist(p, dim, a, y)));
        if let Some(b) = nearest {
            labels[a] = labels[b];
            borders += 1;
        }
    }
    (labels, borders)
}

#[test]
fn dbscan_gives_border_points_to_the_cluster_of_their_nearest_core_point() {
    use crate::cluster::{ClusterParams, Method, NoisePolicy};
    let (p, _) = blobs(3, 60, 3, 40, 11);
    let x = ndarray::Array2::from_shape_vec((p.len() / 3, 3), p.clone()).unwrap();
    let mut rng = Xoshiro256Plus::seed_from_u64(1);
    for eps in [0.3f32, 0.45, 0.6] {
        let params = ClusterParams::new(Method::Dbscan)
            .with_eps(Some(eps))
            .with_min_samples(Some(5))
            .with_min_cluster_size(Some(10))
            .with_noise(NoisePolicy::Keep)
            .check()
            .unwrap();
        let got = super::dbscan(x.view(), 3, &params, &mut rng).labels;
        let (want, borders) = brute_dbscan(&p, 3, eps, 5, 10);
        assert!(borders > 0, "eps {eps}: the case has border points");
        assert!(same_partition(&got, &want), "eps {eps}: {got:?}\n{want:?}");
    }
}

#[test]
fn a_given_radius_cuts_as_the_spanning_tree_does() {
    for (seed, dim, ms) in [(3u64, 3usize, 5usize), (4, 10, 5), (5, 2, 12)] {
        let (p, _) = blobs(6, 80, dim, 120, seed);
        let tree = KdTree::build(&p, dim);
        let (core, near) = tree.nearest(ms);
        let edges = sorted(spanning_tree(&tree, &core, &near));
        let chosen = most_groups_eps(tree.len(), &edges, 20).unwrap();
        for eps in [0.0, chosen * 0.5, chosen, chosen * 1.5, chosen * 4.0, f32::MAX] {
            for mcs in [2, 20] {
                let want = cut_labels(tree.len(), &edges, eps, mcs);
                assert_eq!(cut_at(&tree, &core, &near, eps, mcs), want, "seed {seed}, eps {eps}, mcs {mcs}");
            }
        }
        let groups = |l: &[i64]| l.iter().copied().max().map_or(0, |m| m + 1);
        assert!(groups(&cut_labels(tree.len(), &edges, chosen, 20)) >= 2, "the case has several clusters");
    }
}
