//! Agglomerative clustering with kodama on a condensed distance matrix.
//!
//! The matrix holds `m (m - 1) / 2` f32 distances and kodama's single-threaded linkage over
//! it dominates the time (measured on 2 shared cores: 10k rows 0.9 s of GEMM fill + 1.8 s of
//! linkage, 200 MB; 20k rows 3.3 s + 9.4 s, 800 MB). So above `max_exact_n` rows (default
//! 10 000) the tree is built on a seeded sample and every other row joins the cluster with
//! the nearest mean, which is also the Ward criterion for adding one point.

use ndarray::{s, ArrayView2, Axis, CowArray};
use rand::Rng;
use rayon::prelude::*;

use super::geometry::{assign_nearest, cluster_means, sample_indices};
use super::{CheckedClusterParams, ClusterError, Linkage, RawClustering};

/// Rows per parallel block when filling the condensed matrix.
const BLOCK: usize = 256;

/// Merge order of a dendrogram over `m` observations (kodama/SciPy labels).
pub(super) struct Tree {
    merges: Vec<(usize, usize)>,
    m: usize,
}

pub(super) fn build_tree(x: ArrayView2<f32>, linkage: Linkage) -> Tree {
    let m = x.nrows();
    let mut condensed = condensed_distances(x, linkage);
    let method = match linkage {
        Linkage::Ward => kodama::Method::Ward,
        Linkage::Average => kodama::Method::Average,
        Linkage::Complete => kodama::Method::Complete,
        Linkage::Single => kodama::Method::Single,
    };
    let dend = kodama::linkage(&mut condensed, m, method);
    Tree { merges: dend.steps().iter().map(|st| (st.cluster1, st.cluster2)).collect(), m }
}

/// Upper-triangle distances, row-major, filled block-parallel with one GEMM per block.
/// Ward gets Euclidean distance between unit vectors, the others `1 - cos`.
fn condensed_distances(x: ArrayView2<f32>, linkage: Linkage) -> Vec<f32> {
    let m = x.nrows();
    let offset = |i: usize| i * m - i * (i + 1) / 2;
    let mut condensed = vec![0f32; m * m.saturating_sub(1) / 2];
    let mut blocks = Vec::new();
    let mut rest = condensed.as_mut_slice();
    for i0 in (0..m).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(m);
        let (head, tail) = rest.split_at_mut(offset(i1) - offset(i0));
        blocks.push((i0, i1, head));
        rest = tail;
    }
    blocks.into_par_iter().for_each(|(i0, i1, out)| {
        let dots = x.slice(s![i0..i1, ..]).dot(&x.slice(s![i0.., ..]).t());
        let mut pos = 0;
        for i in i0..i1 {
            for &d in dots.row(i - i0).slice(s![i - i0 + 1..]) {
                out[pos] = match linkage {
                    Linkage::Ward => (2.0 - 2.0 * d).max(0.0).sqrt(),
                    Linkage::Average | Linkage::Complete | Linkage::Single => (1.0 - d).max(0.0),
                };
                pos += 1;
            }
        }
    });
    condensed
}

/// Labels `0..k` from stopping after the first `m - k` merges (the steps are sorted by
/// height, so this is the cut that leaves k clusters).
pub(super) fn cut(tree: &Tree, k: usize) -> Vec<usize> {
    let m = tree.m;
    let mut parent: Vec<usize> = (0..m).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Observation standing for each dendrogram label (leaves first, then merged clusters).
    let mut rep: Vec<usize> = (0..m).collect();
    for &(c1, c2) in tree.merges.iter().take(m.saturating_sub(k)) {
        let a = find(&mut parent, rep[c1]);
        let b = find(&mut parent, rep[c2]);
        parent[b] = a;
        rep.push(a);
    }
    let mut id = vec![usize::MAX; m];
    let mut next = 0;
    (0..m)
        .map(|i| {
            let r = find(&mut parent, i);
            if id[r] == usize::MAX {
                id[r] = next;
                next += 1;
            }
            id[r]
        })
        .collect()
}

pub(super) fn fit(
    x: ArrayView2<f32>,
    k: usize,
    params: &CheckedClusterParams,
    rng: &mut impl Rng,
) -> Result<RawClustering, ClusterError> {
    let n = x.nrows();
    if k > n {
        return Err(ClusterError::KTooLarge { k, n });
    }
    let m = n.min(params.max_exact_n());
    if k > m {
        return Err(ClusterError::invalid("k", format!("exceeds the agglomerative sample size {m}")));
    }
    if k == 1 {
        return Ok(RawClustering::plain(vec![0; n], n));
    }
    let idx = sample_indices(n, m, rng);
    let sample = if m == n { CowArray::from(x) } else { CowArray::from(x.select(Axis(0), &idx)) };
    let tree = build_tree(sample.view(), params.linkage());
    let sample_labels = cut(&tree, k);
    let labels = if m == n {
        sample_labels.iter().map(|&l| l as i64).collect()
    } else {
        let means = cluster_means(sample.view(), &sample_labels, k);
        let mut all = assign_nearest(x, means.view());
        for (&i, &l) in idx.iter().zip(&sample_labels) {
            all[i] = l;
        }
        all.into_iter().map(|l| l as i64).collect()
    };
    Ok(RawClustering::plain(labels, m))
}
