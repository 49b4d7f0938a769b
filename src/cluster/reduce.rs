//! Principal coordinates of a sample by a randomized range finder (Halko, Martinsson & Tropp
//! 2011), for k-means restarts that are cheap enough to run many of.
//!
//! Restarts decide which basin k-means ends in (a well-separated group split in two while two
//! others merge is a local optimum Lloyd steps cannot leave). That decision is made by the
//! cluster structure, which lives in the leading principal directions: projecting onto the
//! top `O(k)` of them keeps the k-means cost of every partition within a small factor (Cohen
//! et al. 2015). Competing there costs a fraction of the full width; the winner is then
//! refined at full width.

use linfa_linalg::eigh::Eigh;
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use rayon::prelude::*;

/// Extra random probes beyond the kept directions: they make the captured subspace accurate.
const OVERSAMPLE: usize = 10;

/// Coordinates (`n × m'`, `m' ≤ m`) of the centred rows of `x` on their `m` leading principal
/// directions, approximated with one power iteration. `None` when `x` has no spread.
pub(crate) fn principal_coordinates(x: ArrayView2<f32>, m: usize, rng: &mut impl Rng) -> Option<Array2<f32>> {
    let (n, d) = x.dim();
    let l = (m + OVERSAMPLE).min(d).min(n);
    if l == 0 {
        return None;
    }
    let mean = x.mean_axis(Axis(0))?;
    // Products with the centred rows `xc = x - 1 meanᵀ` as products with `x` plus a rank-one
    // correction: centring a copy of the sample would cost as much as the products.
    let centred_dot = |m: ArrayView2<f32>| -> Array2<f32> {
        let mut y = par_dot(x, m);
        let shift = mean.dot(&m);
        y -= &shift;
        y
    };
    // Rademacher probes: as good as Gaussian ones for range finding, and cheaper to draw.
    let omega = Array2::from_shape_simple_fn((d, l), || if rng.gen::<bool>() { 1.0f32 } else { -1.0 });
    let q = orthonormal_columns(centred_dot(omega.view()))?;
    // One power iteration sharpens the subspace where the spectrum decays slowly (as it
    // does for sentence embeddings); without it the restarts ended in merged-and-split
    // optima on PPMI-7 for two seeds in three.
    let centred_t_dot = |q: &Array2<f32>| -> Array2<f32> {
        let mut z = par_t_dot(x, q.view());
        let col_sums = q.sum_axis(Axis(0));
        for (mut row, &m) in z.rows_mut().into_iter().zip(mean.iter()) {
            row.scaled_add(-m, &col_sums);
        }
        z
    };
    let z = centred_t_dot(&q);
    let q = orthonormal_columns(centred_dot(z.view()))?;
    // xc ≈ Q B with B = Qᵀ xc = U Σ Vᵀ, so the coordinates xc V are Q U Σ.
    let b = centred_t_dot(&q).reversed_axes();
    let bbt = b.dot(&b.t()).mapv(f64::from);
    let (vals, vecs) = bbt.eigh().ok()?;
    let mut order: Vec<usize> = (0..vals.len()).filter(|&i| vals[i] > 0.0).collect();
    order.sort_by(|&a, &c| vals[c].total_cmp(&vals[a]));
    order.truncate(m);
    if order.is_empty() {
        return None;
    }
    let scaled: Array2<f32> = Array2::from_shape_fn((vecs.nrows(), order.len()), |(i, j)| {
        (vecs[[i, order[j]]] * vals[order[j]].sqrt()) as f32
    });
    Some(q.dot(&scaled))
}

/// Subspace-iteration passes of [`leading_row_space`]. Embedding spectra decay slowly, so
/// one pass leaves the probes' span far from the leading directions; two kept CIFAR-10's and
/// STL-10's accuracy where an exact eigendecomposition did.
const ROW_SPACE_POWER_ITERATIONS: usize = 2;

/// Orthonormal rows (at most `dims`, each `w.ncols()` wide) spanning approximately the `dims`
/// leading right singular directions of `w`, i.e. the directions its rows vary along most
/// (uncentred): subspace iteration from random probes (Halko, Martinsson & Tropp 2011,
/// alg. 4.4). Any orthonormal basis of a span keeps the inner products of the vectors in it,
/// so the span is all a compression needs; no eigendecomposition is made (linfa's takes
/// ~260 ms on 384 × 384, this a few milliseconds). `None` when `w` is zero.
pub(crate) fn leading_row_space(w: ArrayView2<f32>, dims: usize, rng: &mut impl Rng) -> Option<Array2<f32>> {
    let (m, d) = w.dim();
    let l = dims.min(d).min(m);
    if l == 0 {
        return None;
    }
    // Uniform probes, not signs: with a handful of columns, ±1 probes can cancel a direction
    // exactly (two equal rows of signs), and iterating never brings it back.
    let omega = Array2::from_shape_simple_fn((d, l), || rng.gen_range(-1.0f32..1.0));
    let mut q = orthonormal_columns(par_dot(w, omega.view()))?;
    for _ in 0..ROW_SPACE_POWER_ITERATIONS {
        let z = orthonormal_columns(par_t_dot(w, q.view()))?;
        q = orthonormal_columns(par_dot(w, z.view()))?;
    }
    let v = orthonormal_rows(par_t_dot(w, q.view()).t(), 1e-4);
    (v.nrows() > 0).then_some(v)
}

/// Rows per parallel block of the products below.
const ROW_BLOCK: usize = 256;

/// `a · b`, a block of `a`'s rows per task (`matrixmultiply` runs on one thread).
fn par_dot(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((a.nrows(), b.ncols()));
    out.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
        .into_par_iter()
        .zip(a.axis_chunks_iter(Axis(0), ROW_BLOCK).into_par_iter())
        .for_each(|(mut o, blk)| ndarray::linalg::general_mat_mul(1.0, &blk, &b, 0.0, &mut o));
    out
}

/// `aᵀ · b`: blocks of rows in parallel, their products summed in block order (so the
/// rounding, and the result, do not depend on the number of threads).
fn par_t_dot(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let parts: Vec<Array2<f32>> = a
        .axis_chunks_iter(Axis(0), ROW_BLOCK)
        .into_par_iter()
        .zip(b.axis_chunks_iter(Axis(0), ROW_BLOCK).into_par_iter())
        .map(|(ab, bb)| ab.t().dot(&bb))
        .collect();
    let mut sum = Array2::<f32>::zeros((a.ncols(), b.ncols()));
    for p in &parts {
        sum += p;
    }
    sum
}

/// Orthonormal basis of the column space of `y` (as columns); `None` if it is empty.
fn orthonormal_columns(y: Array2<f32>) -> Option<Array2<f32>> {
    let basis = orthonormal_rows(y.t(), 1e-4);
    (basis.nrows() > 0).then(|| basis.reversed_axes())
}

/// Rows orthogonalised a block at a time.
const GS_BLOCK: usize = 32;

/// Orthonormal basis of the span of `rows`, in their order: block Gram–Schmidt, each block
/// projected off the basis so far with GEMMs, then modified Gram–Schmidt inside it; every
/// projection twice ("twice is enough" for orthogonality to working precision). A row whose
/// remainder is shorter than `rel_tol` times its own length is dependent and dropped.
pub(crate) fn orthonormal_rows(rows: ArrayView2<f32>, rel_tol: f32) -> Array2<f32> {
    let dim = rows.ncols();
    let mut basis = Array2::<f32>::zeros((0, dim));
    for block in rows.axis_chunks_iter(Axis(0), GS_BLOCK) {
        if basis.nrows() == dim {
            break;
        }
        let lens: Vec<f32> = block.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
        // Row-major whatever the input's layout (e.g. a transposed view): the loops below
        // walk rows.
        let mut b = block.as_standard_layout().into_owned();
        if basis.nrows() > 0 {
            for _ in 0..2 {
                let p = b.dot(&basis.t());
                ndarray::linalg::general_mat_mul(-1.0, &p, &basis, 1.0, &mut b);
            }
        }
        let first_new = basis.nrows();
        for (mut v, &len) in b.rows_mut().into_iter().zip(&lens) {
            if basis.nrows() == dim {
                break;
            }
            for _ in 0..2 {
                for q in basis.slice(ndarray::s![first_new.., ..]).rows() {
                    let p = v.dot(&q);
                    v.scaled_add(-p, &q);
                }
            }
            let rem = v.dot(&v).sqrt();
            if rem > rel_tol * len && rem > 0.0 {
                v /= rem;
                basis.push_row(v.view()).expect("rows of the basis's width");
            }
        }
    }
    basis
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256Plus;

    #[test]
    fn coordinates_keep_the_distances_of_low_rank_data() {
        // 200 points in a 3-d subspace of 40 dimensions: 3 principal coordinates hold every
        // pairwise distance.
        let mut rng = Xoshiro256Plus::seed_from_u64(3);
        let basis = Array2::from_shape_simple_fn((3, 40), || rng.gen_range(-1.0f32..1.0));
        let coef = Array2::from_shape_simple_fn((200, 3), || rng.gen_range(-1.0f32..1.0));
        let x = coef.dot(&basis);
        let z = principal_coordinates(x.view(), 3, &mut rng).unwrap();
        assert_eq!(z.dim(), (200, 3));
        for (i, j) in [(0, 1), (5, 150), (42, 199)] {
            let dx = &x.row(i) - &x.row(j);
            let dz = &z.row(i) - &z.row(j);
            assert!((dx.dot(&dx).sqrt() - dz.dot(&dz).sqrt()).abs() < 1e-3, "pair {i},{j}");
        }
        // The leading coordinate carries the most variance.
        let var = |c: usize| z.column(c).mapv(|v| v * v).sum();
        assert!(var(0) >= var(1) && var(1) >= var(2));
    }

    #[test]
    fn leading_row_space_finds_the_heavy_directions() {
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(3);
        // 200 rows in 30 dimensions: large along three directions, small noise elsewhere.
        let heavy = orthonormal_rows(Array2::from_shape_fn((3, 30), |_| rng.gen_range(-1.0f32..1.0)).view(), 1e-4);
        let coef = Array2::from_shape_fn((200, 3), |(_, j)| rng.gen_range(-1.0f32..1.0) * [10.0, 6.0, 3.0][j]);
        let noise = Array2::from_shape_fn((200, 30), |_| rng.gen_range(-0.01f32..0.01));
        let w = coef.dot(&heavy) + noise;
        let v = leading_row_space(w.view(), 3, &mut rng).unwrap();
        assert_eq!(v.dim(), (3, 30));
        assert!((v.dot(&v.t()) - Array2::<f32>::eye(3)).iter().all(|e| e.abs() < 1e-4), "orthonormal rows");
        // Each heavy direction lies in the span found.
        for h in heavy.rows() {
            let p = v.dot(&h);
            assert!((p.dot(&p) - 1.0).abs() < 1e-3, "{p}");
        }
        assert!(leading_row_space(Array2::<f32>::zeros((5, 4)).view(), 2, &mut rng).is_none());
    }

    #[test]
    fn constant_rows_have_no_coordinates() {
        let x = Array2::<f32>::ones((10, 5));
        let mut rng = Xoshiro256Plus::seed_from_u64(1);
        assert!(principal_coordinates(x.view(), 2, &mut rng).is_none());
    }

    #[test]
    fn gram_schmidt_drops_dependent_rows() {
        let rows = ndarray::array![[2.0f32, 0.0, 0.0], [4.0, 0.0, 0.0], [1.0, 1.0, 0.0]];
        let b = orthonormal_rows(rows.view(), 1e-4);
        assert_eq!(b.nrows(), 2);
        assert!((b.row(0).dot(&b.row(1))).abs() < 1e-6);
        assert!((b.row(1)[1].abs() - 1.0).abs() < 1e-6);
    }
}
