//! The conditioning steps `clusterby.ray assign --by CRITERION` spreads over Ray tasks
//! ([`crate::conditioning::staged`]). The driver holds a [`ConditioningPlan`] (the index's
//! vocabulary and the criterion's state); tasks get the state as bytes with their part's
//! caption embeddings and term occurrences. Occurrences travel as two little-endian arrays:
//! `offsets` (u64, one more than rows) and `ids` (u32).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::distributed::matrix;
use super::err;
use super::index::FeatureMatrix;
use crate::cli::Context;
use crate::cluster::sampled;
use crate::conditioning::staged::RowConditioner;
use crate::conditioning::{values_found, CriterionTerms, ValuesParams, Vocabulary};
use crate::store::caption_index::Index as CaptionIndex;
use crate::TextEmbedding;

/// The driver's side of a conditioned distributed query.
#[pyclass(module = "clusterby._clusterby")]
pub struct ConditioningPlan {
    vocab: Vocabulary,
    state: RowConditioner,
    k: usize,
    seed: u64,
    values: Vec<String>,
}

fn occurrences_bytes<'py>(py: Python<'py>, rows: &[&Vec<u32>]) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let mut offsets = Vec::with_capacity(8 * (rows.len() + 1));
    let mut ids = Vec::new();
    let mut at = 0u64;
    offsets.extend_from_slice(&at.to_le_bytes());
    for r in rows {
        r.iter().for_each(|t| ids.extend_from_slice(&t.to_le_bytes()));
        at += r.len() as u64;
        offsets.extend_from_slice(&at.to_le_bytes());
    }
    (PyBytes::new(py, &offsets), PyBytes::new(py, &ids))
}

fn occurrences_from(offsets: &[u8], ids: &[u8], rows: usize) -> PyResult<Vec<Vec<u32>>> {
    let offsets: Vec<usize> =
        offsets.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize).collect();
    let ids: Vec<u32> = ids.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
    let fits =
        offsets.len() == rows + 1 && offsets.windows(2).all(|w| w[0] <= w[1]) && offsets.last() == Some(&ids.len());
    if !fits {
        return Err(err(format!("occurrences: offsets do not describe {rows} rows of {} ids", ids.len())));
    }
    Ok(offsets.windows(2).map(|w| ids[w[0]..w[1]].to_vec()).collect())
}

/// Caption rows as conditioning takes them: unit vectors, all rows normalised when any is not
/// (as a query normalises them).
fn captions_of(bytes: &[u8], rows: usize, cols: usize) -> PyResult<ndarray::Array2<f32>> {
    let x = matrix(bytes, rows, cols, "captions")?;
    Ok(crate::cluster::unit_rows(x.view()).map_err(err)?.into_owned())
}

/// What a task gets for one part: the state, the part's caption rows and their occurrences.
fn part_input(
    state: &[u8],
    captions: &[u8],
    rows: usize,
    cols: usize,
    offsets: &[u8],
    ids: &[u8],
) -> PyResult<(RowConditioner, ndarray::Array2<f32>, Vec<Vec<u32>>)> {
    Ok((state_of(state)?, captions_of(captions, rows, cols)?, occurrences_from(offsets, ids, rows)?))
}

fn state_of(bytes: &[u8]) -> PyResult<RowConditioner> {
    RowConditioner::from_bytes(bytes).map_err(err)
}

#[pymethods]
impl ConditioningPlan {
    /// Loads the index's captions (not its embeddings) and vocabulary, embeds the criterion
    /// and its kinds with the index's text model.
    #[new]
    #[pyo3(signature = (index, by, k, seed=42, ort_lib=None, threads=None))]
    fn new(
        py: Python<'_>,
        index: PathBuf,
        by: &str,
        k: usize,
        seed: u64,
        ort_lib: Option<PathBuf>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        py.detach(|| -> Result<Self, String> {
            let idx = CaptionIndex::open(&index).map_err(|e| e.to_string())?;
            let captions = idx.captions().map_err(|e| e.to_string())?;
            let ctx = Context::new(ort_lib, threads);
            let opts = ctx.text_options(&idx.manifest().model).map_err(|e| e.to_string())?.with_progress(false);
            let mut encoder = TextEmbedding::try_new(opts).map_err(|e| e.to_string())?;
            let vocab = Vocabulary::load_or_build(Some(&index), &captions, &mut encoder).map_err(|e| e.to_string())?;
            let terms = CriterionTerms::new(&vocab, &mut encoder, by, &ValuesParams::default(), Some(&index))
                .map_err(|e| e.to_string())?;
            let values = values_found(&vocab, terms.kinds.as_ref(), &terms.weights).into_iter().map(|v| v.0).collect();
            let state = RowConditioner::new(&vocab, terms);
            Ok(Self { vocab, state, k, seed, values })
        })
        .map_err(err)
    }

    /// The state tasks condition their parts with (bytes; pass it on unchanged).
    fn state<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.state.to_bytes())
    }

    /// The occurrences of rows `start..end` (a part), as `(offsets, ids)` bytes.
    fn occurrences<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        end: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let rows =
            self.vocab.occurrences.get(start..end).ok_or_else(|| err(format!("rows {start}..{end}: out of range")))?;
        Ok(occurrences_bytes(py, &rows.iter().collect::<Vec<_>>()))
    }

    /// The mean from the parts' `condition_raw_sum`s, added up in part order.
    fn set_mean(&mut self, sum: Vec<f32>) -> PyResult<()> {
        self.state.set_mean(&sum).map_err(err)
    }

    /// The rows (ascending) whose captions `set_caption_weight` needs.
    fn agreement_rows(&self) -> Vec<usize> {
        self.state.agreement_rows(Some(self.k), self.seed).0
    }

    /// Measures the caption weight from the captions of `agreement_rows()`, in that order.
    fn set_caption_weight(&mut self, captions: &[u8], rows: usize, cols: usize) -> PyResult<f32> {
        let x = captions_of(captions, rows, cols)?;
        let occ: Vec<Vec<u32>> = self.agreement_rows().iter().map(|&r| self.vocab.occurrences[r].clone()).collect();
        self.state.set_caption_weight(x.view(), &occ, Some(self.k), self.seed).map_err(err)
    }

    /// Conditioned rows of the index rows `rows`, given their captions in that order (the fit
    /// sample), and whether every one is a unit vector.
    fn rows(&self, captions: &[u8], rows: Vec<usize>, cols: usize) -> PyResult<(FeatureMatrix, bool)> {
        let x = captions_of(captions, rows.len(), cols)?;
        let occ: Option<Vec<Vec<u32>>> = rows.iter().map(|&r| self.vocab.occurrences.get(r).cloned()).collect();
        let occ = occ.ok_or_else(|| err("rows: beyond the index"))?;
        let (x, unit) = self.state.rows(x.view(), &occ).map_err(err)?;
        Ok((FeatureMatrix::from_array(x), unit))
    }

    /// The criterion's values, as a result reports them.
    #[getter]
    fn values(&self) -> Vec<String> {
        self.values.clone()
    }

    #[getter]
    fn caption_weight(&self) -> Option<f32> {
        self.state.caption_weight()
    }
}

/// One part's sum of raw value rows (its share of the mean).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn condition_raw_sum(
    py: Python<'_>,
    state: &[u8],
    captions: &[u8],
    rows: usize,
    cols: usize,
    offsets: &[u8],
    ids: &[u8],
) -> PyResult<Vec<f32>> {
    let (state, x, occ) = part_input(state, captions, rows, cols, offsets, ids)?;
    py.detach(|| state.raw_sum(x.view(), &occ)).map_err(err)
}

/// One part conditioned and assigned: each row's nearest centre. Conditioned rows are
/// normalised first when any is not a unit vector (values equal to the mean), as the
/// single-machine k-means normalises every row then.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn condition_nearest(
    py: Python<'_>,
    state: &[u8],
    captions: &[u8],
    rows: usize,
    cols: usize,
    offsets: &[u8],
    ids: &[u8],
    centres: &[u8],
    k: usize,
) -> PyResult<Vec<usize>> {
    let (state, x, occ) = part_input(state, captions, rows, cols, offsets, ids)?;
    let (rows_x, _) = py.detach(|| state.rows(x.view(), &occ)).map_err(err)?;
    let c = matrix(centres, k, rows_x.ncols(), "centres")?;
    py.detach(|| crate::cluster::unit_rows(rows_x.view()).map(|x| sampled::nearest(x.view(), c.view()))).map_err(err)
}
