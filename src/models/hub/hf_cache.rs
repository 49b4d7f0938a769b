//! Reuse of the Hugging Face cache that Python's `huggingface_hub`, `sentence-transformers`,
//! `transformers` and Rust's `hf-hub` share (`~/.cache/huggingface/hub`): a model file a user
//! already downloaded there is copied into the model folder instead of fetched again, also
//! offline. `hf-hub` locates the file (its cache layout: `refs/` → `snapshots/<commit>/`);
//! clusterby verifies it like a download before it is used.

use std::fs;
use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use super::{hash_file, is_sha256_hex, HubError, HubFile};

/// The cache folder the Python and Rust hub clients use: `HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`; `None` without a home.
pub(super) fn default_dir(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| get(k).filter(|v| !v.trim().is_empty()).map(PathBuf::from);
    set("HF_HUB_CACHE")
        .or_else(|| set("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| set("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| set("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// A file found in the cache, with the sha256 its blob name promises (the hub names LFS blobs by
/// their sha256; small git files by a sha1, which promises nothing checkable here).
#[derive(Debug)]
pub(super) struct Cached {
    pub path: PathBuf,
    pub blob_sha256: Option<String>,
}

/// Where `f` sits in the cache at `cache_dir`, if it does. A branch or tag resolves through
/// `refs/`; a pinned 40-hex commit is looked up in `snapshots/` directly, as the Python client
/// stores it without a ref.
pub(super) fn find(cache_dir: &Path, f: &HubFile) -> Option<Cached> {
    let repo = Repo::with_revision(f.repo.trim_matches('/').to_string(), RepoType::Model, f.revision.clone());
    let remote = f.remote_path.trim_start_matches('/');
    let is_commit = f.revision.len() == 40 && f.revision.bytes().all(|b| b.is_ascii_hexdigit());
    let path = if is_commit {
        let p = cache_dir.join(repo.folder_name()).join("snapshots").join(&f.revision).join(remote);
        p.is_file().then_some(p)
    } else {
        Cache::new(cache_dir.to_path_buf()).repo(repo).get(remote).filter(|p| p.is_file())
    }?;
    let blob_sha256 = fs::canonicalize(&path)
        .ok()
        .and_then(|b| b.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()))
        .filter(|n| is_sha256_hex(n));
    Some(Cached { path, blob_sha256 })
}

/// Copies `cached` to `dest` (through a temp file beside it) when its content hashes to
/// `expected`, or, with nothing expected, to what its blob name promises. Returns the sha256,
/// or `None` when the cached copy does not match and must not be used.
pub(super) fn copy_verified(cached: &Cached, dest: &Path, expected: Option<&str>) -> Result<Option<String>, HubError> {
    let tmp = crate::util::fs::temp_path(dest);
    let copied = fs::copy(&cached.path, &tmp).map_err(|e| HubError::Io { path: cached.path.clone(), source: e });
    let sha = match copied.and_then(|_| hash_file(&tmp)) {
        Ok(sha) => sha,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let promised = expected.map(str::to_string).or_else(|| cached.blob_sha256.clone());
    if promised.is_some_and(|p| p != sha) {
        let _ = fs::remove_file(&tmp);
        return Ok(None);
    }
    fs::rename(&tmp, dest).map_err(|e| HubError::Io { path: dest.to_path_buf(), source: e })?;
    if let Some(dir) = dest.parent() {
        let _ = crate::util::fs::sync_dir(dir);
    }
    Ok(Some(sha))
}
