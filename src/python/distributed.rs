//! The k-means steps `clusterby.ray assign` spreads over Ray tasks ([`crate::cluster::sampled`]).
//! Matrices come in as little-endian float32 bytes (`numpy.ndarray.tobytes()`) with their shape,
//! since the stable ABI this module is built for has no buffer protocol.

use ndarray::{Array2, ArrayView2};
use pyo3::prelude::*;

use super::err;
use super::index::FeatureMatrix;
use crate::cluster::{sampled, CheckedClusterParams, Method};
use crate::query::QueryOptions;

/// The parameters of `clusterby cluster -k K --seed S --conditioning none` (k-means).
fn params(k: usize, seed: u64) -> PyResult<CheckedClusterParams> {
    let opts = QueryOptions::new("").with_method(Method::KMeans).with_k(Some(k)).with_seed(seed);
    crate::query::cluster_params(&opts, Some(k)).map_err(err)
}

pub(super) fn matrix(bytes: &[u8], rows: usize, cols: usize, what: &str) -> PyResult<Array2<f32>> {
    if rows.checked_mul(cols).and_then(|c| c.checked_mul(4)) != Some(bytes.len()) {
        return Err(err(format!("{what}: {} bytes are not {rows} × {cols} float32 values", bytes.len())));
    }
    let data: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Array2::from_shape_vec((rows, cols), data).map_err(err)
}

/// The rows (ascending) of an `n`-row index that a K-cluster k-means with this seed fits on.
#[pyfunction]
pub fn kmeans_fit_rows(n: usize, k: usize, seed: u64) -> PyResult<Vec<usize>> {
    sampled::fit_rows(n, &params(k, seed)?).map_err(err)
}

/// The centres k-means fits on `sample` (the rows `kmeans_fit_rows` named, in that order).
#[pyfunction]
pub fn kmeans_centres(
    py: Python<'_>,
    sample: &[u8],
    rows: usize,
    cols: usize,
    n: usize,
    k: usize,
    seed: u64,
) -> PyResult<FeatureMatrix> {
    let x = matrix(sample, rows, cols, "sample")?;
    let p = params(k, seed)?;
    let c = py.detach(|| sampled::centres(x.view(), n, &p).map_err(|e| e.to_string())).map_err(err)?;
    Ok(FeatureMatrix::from_array(c))
}

/// Each row's nearest centre, and whether every row is a unit vector (k-means uses such rows
/// as they are; an index of other rows cannot be assigned part by part).
#[pyfunction]
pub fn nearest_centres(
    py: Python<'_>,
    x: &[u8],
    rows: usize,
    centres: &[u8],
    k: usize,
    cols: usize,
) -> PyResult<(Vec<usize>, bool)> {
    let x = matrix(x, rows, cols, "rows")?;
    let c = matrix(centres, k, cols, "centres")?;
    let view: ArrayView2<f32> = x.view();
    Ok(py.detach(|| (sampled::nearest(view, c.view()), sampled::all_unit(view))))
}

/// The final label of each raw cluster from the summed counts and each cluster's first row.
#[pyfunction]
pub fn order_by_size(counts: Vec<usize>, first_row: Vec<usize>) -> PyResult<Vec<i64>> {
    if counts.len() != first_row.len() {
        return Err(err("counts and first_row differ in length"));
    }
    Ok(sampled::order_by_size(&counts, &first_row))
}
