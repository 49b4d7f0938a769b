//! `Index`: a caption index and its encoder held in memory, queried from Python.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::err;
use crate::cli::Context;
use crate::cluster::{Linkage, Method, NoisePolicy};
use crate::conditioning::Conditioning;
use crate::query::{self, MethodSettings, NamerKind, QueryOptions, Strategy};
use crate::store::caption_index::{Index as CaptionIndex, LoadedIndex};
use crate::TextEmbedding;

/// An LLM client from Python's `(base_url, model, api_key_env)`; the key is read from the
/// environment variable, never passed as a value.
pub(super) fn client((base_url, model, key_env): (String, String, String)) -> PyResult<crate::llm::LlmClient> {
    crate::llm::LlmClient::new(crate::llm::LlmConfig::new(base_url, model).with_api_key_env(key_env)).map_err(err)
}

/// The text model a new index is built with unless told otherwise (the CLI's default).
pub(super) const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// A value of one of clusterby's named choices (`method="hdbscan"`), or a `ValueError` naming
/// the argument and the choices.
pub(super) fn choice<T: clap::ValueEnum>(field: &str, value: &str) -> PyResult<T> {
    T::from_str(value, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        PyValueError::new_err(format!("{field}: unknown value {value:?} (one of: {})", names.join(", ")))
    })
}

/// Builds (or extends) a caption index from a JSONL/CSV file, as `clusterby index` does;
/// `shard` ("I/N") keeps only that shard's rows, as `--shard` does.
#[pyfunction]
#[pyo3(signature = (input, out, model=DEFAULT_MODEL, ort_lib=None, threads=None, shard=None))]
pub fn build(
    py: Python<'_>,
    input: PathBuf,
    out: PathBuf,
    model: &str,
    ort_lib: Option<PathBuf>,
    threads: Option<usize>,
    shard: Option<&str>,
) -> PyResult<()> {
    let ctx = Context::new(ort_lib, threads);
    let shard = shard.map(str::parse::<crate::store::shard::Shard>).transpose().map_err(err)?;
    py.detach(|| crate::cli::index(&ctx, &input, &out, model, shard).map_err(|e| e.to_string())).map_err(err)
}

/// Joins the indexes `sources` into `out`, as `clusterby merge` does.
#[pyfunction]
#[pyo3(signature = (sources, out, ort_lib=None, threads=None))]
pub fn merge(
    py: Python<'_>,
    sources: Vec<PathBuf>,
    out: PathBuf,
    ort_lib: Option<PathBuf>,
    threads: Option<usize>,
) -> PyResult<()> {
    let ctx = Context::new(ort_lib, threads);
    py.detach(|| crate::cli::merge(&ctx, &sources, &out).map_err(|e| e.to_string())).map_err(err)
}

/// ACC, NMI and ARI of `assignments` (`(id, cluster)` pairs) against `labels` (id → label).
#[pyfunction]
pub fn score(
    assignments: Vec<(String, i64)>,
    labels: std::collections::HashMap<String, String>,
) -> PyResult<(f64, f64, f64, usize, usize)> {
    let s = crate::eval::score_by_id(&labels, &assignments).map_err(err)?;
    Ok((s.acc, s.nmi, s.ari, s.n, s.unlabelled))
}

/// A caption index and its text encoder, loaded once.
#[pyclass(module = "clusterby._clusterby", unsendable)]
pub struct Index {
    dir: PathBuf,
    loaded: LoadedIndex,
    encoder: TextEmbedding,
}

/// A query's settings, as Python passes them.
struct Query<'a> {
    by: &'a str,
    k: Option<usize>,
    method: &'a str,
    seed: u64,
    exclude: Vec<String>,
    conditioning: &'a str,
    kwargs: Option<&'a Bound<'a, PyDict>>,
}

impl Query<'_> {
    fn options(&self, dir: &Path) -> PyResult<QueryOptions> {
        let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            match self.kwargs {
                Some(d) => d.get_item(key),
                None => Ok(None),
            }
        };
        if let Some(d) = self.kwargs {
            for key in d.keys() {
                let key: String = key.extract()?;
                if !["min_cluster_size", "min_samples", "eps", "linkage", "noise", "k_max"].contains(&key.as_str()) {
                    return Err(PyValueError::new_err(format!("unknown setting {key:?}")));
                }
            }
        }
        let text = |key: &str, default: &str| -> PyResult<String> {
            Ok(get(key)?.map(|v| v.extract::<String>()).transpose()?.unwrap_or_else(|| default.to_string()))
        };
        let settings = MethodSettings {
            min_cluster_size: get("min_cluster_size")?.map(|v| v.extract()).transpose()?,
            min_samples: get("min_samples")?.map(|v| v.extract()).transpose()?,
            eps: get("eps")?.map(|v| v.extract()).transpose()?,
            linkage: choice::<Linkage>("linkage", &text("linkage", "ward")?)?,
            noise: choice::<NoisePolicy>("noise", &text("noise", "assign")?)?,
            k_max: get("k_max")?.map(|v| v.extract()).transpose()?,
        };
        Ok(QueryOptions::new(self.by)
            .with_k(self.k)
            .with_method(choice::<Method>("method", self.method)?)
            .with_conditioning(choice::<Conditioning>("conditioning", self.conditioning)?)
            .with_exclude(self.exclude.clone())
            .with_seed(self.seed)
            .with_settings(settings)
            .with_cache_dir(dir))
    }
}

/// A query's options from Python's arguments (the settings are the CLI's clustering flags).
#[allow(clippy::too_many_arguments)]
pub(super) fn query_options(
    by: &str,
    k: Option<usize>,
    method: &str,
    seed: u64,
    exclude: Vec<String>,
    conditioning: &str,
    settings: Option<&Bound<'_, PyDict>>,
    dir: &Path,
) -> PyResult<QueryOptions> {
    Query { by, k, method, seed, exclude, conditioning, kwargs: settings }.options(dir)
}

#[pymethods]
impl Index {
    /// Opens an index folder and loads its rows and its text model.
    #[staticmethod]
    #[pyo3(signature = (path, ort_lib=None, threads=None))]
    fn open(path: PathBuf, ort_lib: Option<PathBuf>, threads: Option<usize>) -> PyResult<Self> {
        let idx = CaptionIndex::open(&path).map_err(err)?;
        let loaded = idx.load().map_err(err)?;
        let ctx = Context::new(ort_lib, threads);
        let opts = ctx.text_options(&idx.manifest().model).map_err(err)?.with_progress(false);
        let encoder = TextEmbedding::try_new(opts).map_err(err)?;
        Ok(Index { dir: path, loaded, encoder })
    }

    fn __len__(&self) -> usize {
        self.loaded.ids.len()
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// `(ids, captions, labels)`, labels `None` where unknown.
    fn rows(&self) -> (Vec<String>, Vec<String>, Vec<Option<String>>) {
        (self.loaded.ids.clone(), self.loaded.captions.clone(), self.loaded.labels.clone())
    }

    /// One query; returns the result JSON (the CLI's schema). `llm` (`(base_url, model,
    /// api_key_env)`) is an endpoint: with `strategy="auto"` it spends the one call (k-means),
    /// and `namer="llm"` names the clusters with it, as the CLI does.
    #[pyo3(signature = (by, k=None, method="kmeans", seed=42, exclude=Vec::new(), conditioning="values", llm=None, namer="keywords", strategy="auto", **settings))]
    #[allow(clippy::too_many_arguments)]
    fn cluster(
        &mut self,
        py: Python<'_>,
        by: &str,
        k: Option<usize>,
        method: &str,
        seed: u64,
        exclude: Vec<String>,
        conditioning: &str,
        llm: Option<(String, String, String)>,
        namer: &str,
        strategy: &str,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let q = Query { by, k, method, seed, exclude, conditioning, kwargs: settings };
        let namer = choice::<NamerKind>("namer", namer)?;
        let strategy = match strategy {
            "auto" => query::auto_strategy(llm.is_some(), true, namer, choice::<Method>("method", method)?).0,
            "zero-call" => Strategy::ZeroCall,
            "one-call" => Strategy::OneCall,
            other => {
                return Err(PyValueError::new_err(format!(
                    "strategy={other:?}: expected one of \"auto\", \"zero-call\", \"one-call\""
                )))
            }
        };
        let opts = q.options(&self.dir)?.with_namer(namer).with_strategy(strategy);
        let client = llm.map(client).transpose()?;
        let (loaded, encoder) = (&self.loaded, &mut self.encoder);
        let mut result = py
            .detach(|| query::run(loaded, encoder, &opts, client.as_ref()).map_err(|e| e.to_string()))
            .map_err(err)?;
        result.index = Some(self.dir.clone());
        serde_json::to_string(&result).map_err(err)
    }

    /// The IC|TC baseline over the index's captions (2N+1 calls, answers cached in `cache`,
    /// default `INDEX/llm-cache.jsonl`, so a rerun resumes); returns the result JSON.
    #[pyo3(signature = (by, k, llm, cache=None, limit=None))]
    fn ictc(
        &mut self,
        py: Python<'_>,
        by: &str,
        k: usize,
        llm: (String, String, String),
        cache: Option<PathBuf>,
        limit: Option<usize>,
    ) -> PyResult<String> {
        let client = client(llm)?;
        let cache_path = cache.unwrap_or_else(|| self.dir.join("llm-cache.jsonl"));
        let answers = crate::llm::AnswerCache::open(&cache_path).map_err(err)?;
        let n = limit.unwrap_or(usize::MAX).min(self.loaded.ids.len());
        let (loaded, encoder) = (&self.loaded, &mut self.encoder);
        let opts = crate::experiments::ictc::IctcOptions::new(by, k);
        let wall = std::time::Instant::now();
        let (mut result, _) = py
            .detach(|| {
                crate::experiments::ictc::run(
                    &loaded.ids[..n],
                    &loaded.captions[..n],
                    &opts,
                    &client,
                    &answers,
                    encoder,
                )
                .map_err(|e| e.to_string())
            })
            .map_err(err)?;
        result.timings_ms.insert("wall".into(), wall.elapsed().as_secs_f64() * 1e3);
        result.index = Some(self.dir.clone());
        serde_json::to_string(&result).map_err(err)
    }

    /// The conditioned features a query with these settings clusters (unit rows).
    #[pyo3(signature = (by, k=None, seed=42, exclude=Vec::new(), conditioning="values"))]
    fn features(
        &mut self,
        py: Python<'_>,
        by: &str,
        k: Option<usize>,
        seed: u64,
        exclude: Vec<String>,
        conditioning: &str,
    ) -> PyResult<FeatureMatrix> {
        let q = Query { by, k, method: "kmeans", seed, exclude, conditioning, kwargs: None };
        let opts = q.options(&self.dir)?;
        let (loaded, encoder) = (&self.loaded, &mut self.encoder);
        let x = py.detach(|| query::features(loaded, encoder, &opts).map_err(|e| e.to_string())).map_err(err)?;
        Ok(FeatureMatrix::from_array(x))
    }
}

/// A row-major float32 matrix that numpy reads in place (`numpy.asarray(m)`).
#[pyclass(module = "clusterby._clusterby", frozen)]
pub struct FeatureMatrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl FeatureMatrix {
    pub(super) fn from_array(x: ndarray::Array2<f32>) -> Self {
        let (rows, cols) = x.dim();
        // Row-major for numpy; a fresh matrix already is, and is not copied.
        let x = if x.is_standard_layout() { x } else { x.as_standard_layout().into_owned() };
        let (data, _) = x.into_raw_vec_and_offset();
        Self { data, rows, cols }
    }
}

#[pymethods]
impl FeatureMatrix {
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// numpy's array interface: the data stays owned by this object, which the array keeps
    /// alive as its base.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("shape", (self.rows, self.cols))?;
        d.set_item("typestr", "<f4")?;
        d.set_item("data", (self.data.as_ptr() as usize, true))?;
        d.set_item("version", 3)?;
        Ok(d)
    }
}
