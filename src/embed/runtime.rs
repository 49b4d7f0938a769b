//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`, so nothing is downloaded at build time; the library is
//! looked up at run time in this order:
//! 1. an explicit path: [`RuntimeOptions::with_library`] (CLI `--ort-lib`), then the
//!    `CLUSTERBY_ORT_LIB` or `ORT_DYLIB_PATH` environment variables;
//! 2. the clusterby cache: `$CLUSTERBY_HOME/runtime/` (filled by `onnx/install_runtime.sh`);
//! 3. next to the running executable (and `../lib` beside it).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use crate::util::paths;

/// The ONNX Runtime release this build is made for (ort 2.0.0-rc.15 targets 1.31).
pub const ORT_VERSION: &str = "1.31.1";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found; looked in:\n{}\nInstall it with `bash onnx/install_runtime.sh` \
         (takes libonnxruntime.so {ORT_VERSION} from the PyPI onnxruntime wheel), or point \
         CLUSTERBY_ORT_LIB / --ort-lib at an existing libonnxruntime.so",
        .searched.iter().map(|p| format!("  - {}", p.display())).collect::<Vec<_>>().join("\n")
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("could not load ONNX Runtime from {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("ONNX Runtime was already initialised from {loaded}; cannot switch to {requested} in the same process")]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    library: Option<PathBuf>,
}

impl RuntimeOptions {
    pub fn with_library(mut self, path: impl Into<PathBuf>) -> Self {
        self.library = Some(path.into());
        self
    }
}

struct Loaded {
    path: PathBuf,
    env: Environment,
}

// ort allows one environment per process; sessions share it.
static RUNTIME: OnceLock<Loaded> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Candidate library paths, in lookup order.
pub fn candidates(opts: &RuntimeOptions) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = &opts.library {
        out.push(p.clone());
        return out;
    }
    for key in ["CLUSTERBY_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = paths::non_empty_env(key) {
            out.push(PathBuf::from(p));
            return out;
        }
    }
    out.extend(library_files_in(&paths::runtime_dir()));
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.extend(library_files_in(&dir));
        out.extend(library_files_in(&dir.join("../lib")));
    }
    out
}

/// `libonnxruntime.so` first, then versioned files (`libonnxruntime.so.1.31.1`), as the PyPI wheel
/// ships only the versioned name.
fn library_files_in(dir: &Path) -> Vec<PathBuf> {
    let plain = dir.join(lib_file_name());
    let mut out = vec![plain];
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut versioned: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{}.", lib_file_name())))
            })
            .collect();
        versioned.sort();
        versioned.reverse(); // newest version first
        out.extend(versioned);
    }
    out
}

fn lib_file_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "onnxruntime.dll"
    } else if cfg!(target_os = "macos") {
        "libonnxruntime.dylib"
    } else {
        "libonnxruntime.so"
    }
}

/// Loads ONNX Runtime once per process and returns the shared environment.
pub fn init(opts: &RuntimeOptions) -> Result<&'static Environment, RuntimeError> {
    if let Some(l) = RUNTIME.get() {
        if let Some(req) = &opts.library {
            if !same_file(req, &l.path) {
                return Err(RuntimeError::AlreadyLoaded { loaded: l.path.clone(), requested: req.clone() });
            }
        }
        return Ok(&l.env);
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = RUNTIME.get() {
        return Ok(&l.env);
    }
    let searched = candidates(opts);
    let Some(path) = searched.iter().find(|p| p.is_file()).cloned() else {
        return Err(RuntimeError::NotFound { searched });
    };
    let builder =
        ort::init_from(&path).map_err(|e| RuntimeError::Load { path: path.clone(), reason: e.to_string() })?;
    let env = builder.with_name("clusterby").build().map_err(|e| RuntimeError::Environment(e.to_string()))?;
    let _ = RUNTIME.set(Loaded { path, env });
    Ok(&RUNTIME.get().expect("just set").env)
}

/// The path ONNX Runtime was loaded from, if it has been.
pub fn loaded_path() -> Option<&'static Path> {
    RUNTIME.get().map(|l| l.path.as_path())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
