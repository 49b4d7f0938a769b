//! The Python extension module `clusterby._clusterby` (feature `python`, built by maturin).
//!
//! It keeps an index and its text encoder in memory, so a query from Python costs what the
//! Rust query costs. Results cross as the result JSON (the same schema the CLI writes) and
//! feature matrices as `FeatureMatrix`, which numpy reads in place through
//! `__array_interface__`. The pandas and matplotlib side lives in `python/clusterby/`.

mod conditioned;
mod distributed;
mod images;
mod index;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_clusterby, ClusterbyError, PyException, "An error reported by clusterby (same message as the CLI).");

/// Any clusterby error as a Python `ClusterbyError` with its message.
pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    ClusterbyError::new_err(e.to_string())
}

#[pymodule]
fn _clusterby(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ClusterbyError", m.py().get_type::<ClusterbyError>())?;
    m.add_class::<index::Index>()?;
    m.add_class::<index::FeatureMatrix>()?;
    m.add_class::<images::ImageIndex>()?;
    m.add_function(wrap_pyfunction!(images::build_images, m)?)?;
    m.add_function(wrap_pyfunction!(index::build, m)?)?;
    m.add_function(wrap_pyfunction!(index::merge, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::kmeans_fit_rows, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::kmeans_centres, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::nearest_centres, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::order_by_size, m)?)?;
    m.add_class::<conditioned::ConditioningPlan>()?;
    m.add_function(wrap_pyfunction!(conditioned::condition_raw_sum, m)?)?;
    m.add_function(wrap_pyfunction!(conditioned::condition_nearest, m)?)?;
    m.add_function(wrap_pyfunction!(index::score, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
