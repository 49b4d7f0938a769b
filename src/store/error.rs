use std::path::PathBuf;

/// Everything that can go wrong while reading caption files or using an on-disk index.
/// Every variant names the file (or index directory) involved.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file as a whole is unusable (e.g. a CSV without an `id` column).
    #[error("{path}: {message}", path = .path.display())]
    Format { path: PathBuf, message: String },

    #[error("{path}: invalid manifest: {message}", path = .path.display())]
    Manifest { path: PathBuf, message: String },

    #[error(
        "index {dir} was built with model '{stored_model}' (dim {stored_dim}), \
         but model '{requested_model}' (dim {requested_dim}) was requested",
        dir = .dir.display()
    )]
    ModelMismatch {
        dir: PathBuf,
        stored_model: String,
        stored_dim: usize,
        requested_model: String,
        requested_dim: usize,
    },

    /// A part file listed in the manifest is missing, unreadable or does not match the manifest.
    #[error("{path}: corrupt index part: {message}", path = .path.display())]
    CorruptPart { path: PathBuf, message: String },

    #[error("{path}: parquet error: {source}", path = .path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// The caller passed data that cannot be stored (wrong embedding length, duplicate ids, ...).
    #[error("index {dir}: {message}", dir = .dir.display())]
    InvalidInput { dir: PathBuf, message: String },

    #[error("index {dir} was opened read-only", dir = .dir.display())]
    ReadOnly { dir: PathBuf },

    /// Another process holds the index's writer lock; this writer refused rather than wait.
    #[error(
        "index {dir} is being written by another process (it holds {lock}); refused: run one writer \
         per index at a time, or index into another folder",
        dir = .dir.display(),
        lock = .lock.display()
    )]
    Locked { dir: PathBuf, lock: PathBuf },
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io { path: path.into(), source }
    }
}
