//! Downloads model files from the Hugging Face hub (or a mirror set with `HF_ENDPOINT`) into a
//! model directory, verifies them by sha256 and records the hashes in a manifest
//! (`clusterby-model.json`) so that later runs, including offline ones, can trust what is on disk.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::redact::redact_url;

mod hf_cache;
mod manifest;
mod transfer;
mod urls;

use manifest::{hash_file, is_sha256_hex, manifest_files, read_manifest, write_manifest};
use transfer::{fetch_file, make_agent};
use urls::encode_segment;
pub use urls::{etag_sha256, join_url, parse_content_range, same_origin};

/// File name of the manifest written into every model directory.
pub const MANIFEST_NAME: &str = "clusterby-model.json";
/// Hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

const OFFLINE_VARS: &str = "HF_HUB_OFFLINE or CLUSTERBY_OFFLINE";
const MAX_REDIRECTS: usize = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const BUF_SIZE: usize = 256 * 1024;

/// One file to fetch from a hub repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// Repository id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub repo: String,
    /// Branch, tag or commit, e.g. `main`.
    pub revision: String,
    /// Path inside the repository, e.g. `onnx/model.onnx`.
    pub remote_path: String,
    /// Plain file name inside the destination directory, e.g. `model.onnx`.
    pub local_name: String,
    /// Expected sha256 (hex); when set it overrides both the manifest and the hub's ETag.
    pub sha256: Option<String>,
}

impl HubFile {
    pub fn new(
        repo: impl Into<String>,
        revision: impl Into<String>,
        remote_path: impl Into<String>,
        local_name: impl Into<String>,
    ) -> Self {
        HubFile {
            repo: repo.into(),
            revision: revision.into(),
            remote_path: remote_path.into(),
            local_name: local_name.into(),
            sha256: None,
        }
    }

    pub fn with_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.sha256 = Some(sha256.into());
        self
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{remote_path}`, percent-encoded like the hub's own
    /// clients do (the revision as one segment, so `refs/pr/1` stays one path component).
    pub fn resolve_url(&self, endpoint: &str) -> String {
        let repo = self.repo.trim_matches('/').split('/').map(encode_segment).collect::<Vec<_>>().join("/");
        let path =
            self.remote_path.trim_start_matches('/').split('/').map(encode_segment).collect::<Vec<_>>().join("/");
        format!("{}/{}/resolve/{}/{}", endpoint.trim_end_matches('/'), repo, encode_segment(&self.revision), path)
    }
}

/// Where and how to download. Build with [`HubOptions::from_env`] or [`HubOptions::default`] and
/// adjust with the `with_*` methods.
#[derive(Clone)]
pub struct HubOptions {
    endpoint: String,
    token: Option<String>,
    offline: bool,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    progress: bool,
    hf_cache: Option<PathBuf>,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token: None,
            offline: false,
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_secs(1),
            progress: true,
            hf_cache: None,
        }
    }
}

// Manual so that the token can never reach logs through `{:?}`.
impl fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubOptions")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("progress", &self.progress)
            .field("hf_cache", &self.hf_cache)
            .finish()
    }
}

impl HubOptions {
    /// Reads `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` and `CLUSTERBY_OFFLINE`, and reuses the
    /// Hugging Face cache at `HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub` (as the hub clients do).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    // Separate from `from_env` so tests need not mutate the process environment.
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut o = HubOptions::default();
        if let Some(e) = get("HF_ENDPOINT").filter(|e| !e.trim().is_empty()) {
            o = o.with_endpoint(e);
        }
        o = o.with_token(get("HF_TOKEN"));
        let truthy = |k: &str| {
            get(k).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        };
        o.offline = truthy("HF_HUB_OFFLINE") || truthy("CLUSTERBY_OFFLINE");
        o.hf_cache = hf_cache::default_dir(&get);
        o
    }

    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into().trim().trim_end_matches('/').to_string();
        self
    }

    /// An empty or whitespace-only token counts as none.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        self
    }

    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Limit for connecting, for the response headers and for each read of the body (a stall
    /// detector, not a limit on the whole download, which may take minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Extra attempts per file after connection errors, 5xx, 408 or 429.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// First retry delay; doubled on each further retry, capped at 30 s.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// A Hugging Face cache folder to take files from before downloading them (`None`: never).
    /// A cached file is used only when its sha256 matches the pinned or recorded hash, or, with
    /// neither, the hash its blob is named by.
    ///
    /// ```
    /// use clusterby::models::hub::HubOptions;
    /// let opts = HubOptions::default().with_hf_cache(Some("/data/hf/hub".into()));
    /// assert_eq!(opts.hf_cache(), Some(std::path::Path::new("/data/hf/hub")));
    /// ```
    pub fn with_hf_cache(mut self, dir: Option<PathBuf>) -> Self {
        self.hf_cache = dir;
        self
    }

    /// Show a progress bar (only ever drawn when stderr is a terminal).
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }
    pub fn offline(&self) -> bool {
        self.offline
    }
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    pub fn retries(&self) -> u32 {
        self.retries
    }
    pub fn progress(&self) -> bool {
        self.progress
    }
    pub fn hf_cache(&self) -> Option<&Path> {
        self.hf_cache.as_deref()
    }
}

/// What [`download_files`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadReport {
    /// Local names fetched over the network, in request order.
    pub downloaded: Vec<String>,
    /// Local names already present with the expected hash.
    pub skipped: Vec<String>,
    /// Local names copied from the Hugging Face cache instead of downloaded.
    pub from_hf_cache: Vec<String>,
    /// Bytes received over the network (resumed parts counted once).
    pub bytes_downloaded: u64,
    /// Local name → sha256 of every requested file.
    pub sha256: BTreeMap<String, String>,
    pub manifest_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("invalid hub file {file}: {reason}")]
    InvalidFile { file: String, reason: String },
    #[error("invalid hub options: {0}")]
    InvalidOptions(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is missing and offline mode is on ({OFFLINE_VARS}); unset it to download {url}", path.display())]
    OfflineMissing { path: PathBuf, url: String },
    #[error("{} does not match its expected sha256 {expected} (got {actual}) and offline mode is on ({OFFLINE_VARS}), so it cannot be downloaded again", path.display())]
    OfflineCorrupt { path: PathBuf, expected: String, actual: String },
    #[error("HTTP {status} for {url}: the repository may be gated or private; accept its terms on the hub and set HF_TOKEN to an access token")]
    Unauthorized { url: String, status: u16 },
    #[error("HTTP 404 not found: {url} (check the repository, revision and file path)")]
    NotFound { url: String },
    #[error("HTTP {status} for {url}")]
    Status { url: String, status: u16 },
    #[error("downloading {url} failed after {attempts} attempt(s): {message}")]
    Network { url: String, attempts: u32, message: String },
    #[error("sha256 mismatch for {}: expected {expected}, got {actual}", path.display())]
    HashMismatch { path: PathBuf, expected: String, actual: String },
    #[error("{} is listed in the manifest but missing", path.display())]
    Missing { path: PathBuf },
    #[error("manifest {}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HubError + '_ {
    move |source| HubError::Io { path: path.to_path_buf(), source }
}

/// Makes sure every file of `files` is in `dest_dir` with a verified sha256, downloading what is
/// missing or stale, and records the hashes in `dest_dir/clusterby-model.json` under `name`.
pub fn download_files(
    files: &[HubFile],
    dest_dir: &Path,
    name: &str,
    opts: &HubOptions,
) -> Result<DownloadReport, HubError> {
    validate_options(opts)?;
    let mut seen = std::collections::HashSet::new();
    for f in files {
        validate_file(f)?;
        if !seen.insert(f.local_name.as_str()) {
            return Err(HubError::InvalidFile {
                file: f.local_name.clone(),
                reason: "local_name is used by more than one file".into(),
            });
        }
    }
    fs::create_dir_all(dest_dir).map_err(io_err(dest_dir))?;

    let manifest_path = dest_dir.join(MANIFEST_NAME);
    // A manifest that cannot be read only costs a re-download, which is verified against the hub.
    let mut manifest = read_manifest(&manifest_path).unwrap_or_default();
    let recorded = manifest_files(&manifest);

    let mut report = DownloadReport { manifest_path: manifest_path.clone(), ..Default::default() };
    let mut agent = None;
    let mut sources: Vec<String> = Vec::new();
    let mut result = Ok(());

    for f in files {
        let source = format!("{}/{}@{}", redact_url(&opts.endpoint), f.repo, f.revision);
        if !sources.contains(&source) {
            sources.push(source);
        }
        let expected =
            f.sha256.as_ref().map(|s| s.to_ascii_lowercase()).or_else(|| recorded.get(&f.local_name).cloned());
        let name = f.local_name.clone();
        match ensure_file(f, dest_dir, expected.as_deref(), opts, &mut agent) {
            Ok(Got::Present(sha)) => {
                report.skipped.push(name.clone());
                report.sha256.insert(name, sha);
            }
            Ok(Got::FromHfCache(sha)) => {
                report.from_hf_cache.push(name.clone());
                report.sha256.insert(name, sha);
            }
            Ok(Got::Downloaded(sha, bytes)) => {
                report.downloaded.push(name.clone());
                report.bytes_downloaded += bytes;
                report.sha256.insert(name, sha);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }

    // Record verified files even when a later one failed, so the next run can skip them.
    if !report.sha256.is_empty() || result.is_ok() {
        manifest.insert("name".into(), name.into());
        manifest.insert("source".into(), sources.join(", ").into());
        let mut all = recorded;
        all.extend(report.sha256.clone());
        manifest
            .insert("files".into(), serde_json::Value::Object(all.into_iter().map(|(k, v)| (k, v.into())).collect()));
        let written = write_manifest(&manifest_path, &manifest);
        result?;
        written?;
    } else {
        result?;
    }
    Ok(report)
}

/// Recomputes the sha256 of every file listed in `dest_dir/clusterby-model.json` and fails on the
/// first one that is missing or differs (e.g. a truncated or modified model file).
pub fn verify_dir(dest_dir: &Path) -> Result<(), HubError> {
    let manifest_path = dest_dir.join(MANIFEST_NAME);
    let manifest = read_manifest(&manifest_path)?;
    let files = match manifest.get("files") {
        Some(serde_json::Value::Object(m)) => m,
        _ => return Err(HubError::Manifest { path: manifest_path, message: "no \"files\" object".into() }),
    };
    for (name, sha) in files {
        let bad = |message: String| HubError::Manifest { path: manifest_path.clone(), message };
        let expected = sha
            .as_str()
            .filter(|s| is_sha256_hex(s))
            .ok_or_else(|| bad(format!("entry {name:?} is not a sha256 hex string")))?
            .to_ascii_lowercase();
        if validate_local_name(name).is_err() {
            return Err(bad(format!("entry {name:?} is not a plain file name")));
        }
        let path = dest_dir.join(name);
        if !path.is_file() {
            return Err(HubError::Missing { path });
        }
        let actual = hash_file(&path)?;
        if actual != expected {
            return Err(HubError::HashMismatch { path, expected, actual });
        }
    }
    Ok(())
}

/// Where a verified file came from, with its sha256.
enum Got {
    Present(String),
    FromHfCache(String),
    Downloaded(String, u64),
}

/// One file: kept when present and right, else copied from the Hugging Face cache, else
/// downloaded (the agent made on the first download).
fn ensure_file(
    f: &HubFile,
    dest_dir: &Path,
    expected: Option<&str>,
    opts: &HubOptions,
    agent: &mut Option<ureq::Agent>,
) -> Result<Got, HubError> {
    let path = dest_dir.join(&f.local_name);
    let url = f.resolve_url(&opts.endpoint);
    let first = check_present(&path, expected, opts, &url);
    let present = match first {
        Ok(None) | Err(HubError::OfflineMissing { .. } | HubError::OfflineCorrupt { .. }) => {
            match reuse_cached(opts, f, &path, expected)? {
                Some(sha) => return Ok(Got::FromHfCache(sha)),
                None => first?,
            }
        }
        other => other?,
    };
    if let Some(sha) = present {
        return Ok(Got::Present(sha));
    }
    let agent = agent.get_or_insert_with(|| make_agent(opts));
    let (sha, bytes) = fetch_file(agent, f, &url, dest_dir, &path, opts)?;
    Ok(Got::Downloaded(sha, bytes))
}

/// Copies `f` from the Hugging Face cache when it is there and verifies; `Ok(None)` otherwise.
fn reuse_cached(
    opts: &HubOptions,
    f: &HubFile,
    path: &Path,
    expected: Option<&str>,
) -> Result<Option<String>, HubError> {
    let Some(cached) = opts.hf_cache.as_deref().and_then(|dir| hf_cache::find(dir, f)) else {
        return Ok(None);
    };
    hf_cache::copy_verified(&cached, path, expected)
}

/// `Ok(Some(sha))`: keep the file on disk; `Ok(None)`: it must be downloaded.
fn check_present(
    path: &Path,
    expected: Option<&str>,
    opts: &HubOptions,
    url: &str,
) -> Result<Option<String>, HubError> {
    if !path.is_file() {
        if opts.offline {
            return Err(HubError::OfflineMissing { path: path.to_path_buf(), url: redact_url(url) });
        }
        return Ok(None);
    }
    let actual = hash_file(path)?;
    match expected {
        Some(exp) if exp == actual => Ok(Some(actual)),
        Some(exp) if opts.offline => {
            Err(HubError::OfflineCorrupt { path: path.to_path_buf(), expected: exp.to_string(), actual })
        }
        Some(_) => Ok(None),
        // Nothing to check against: offline we must trust it; online the hub can tell us.
        None if opts.offline => Ok(Some(actual)),
        None => Ok(None),
    }
}

fn validate_options(opts: &HubOptions) -> Result<(), HubError> {
    let e = &opts.endpoint;
    if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() <= "https://".len() {
        return Err(HubError::InvalidOptions(format!(
            "endpoint {:?} (HF_ENDPOINT) must be an http:// or https:// URL",
            redact_url(e)
        )));
    }
    // A header-unsafe token would fail inside the HTTP client, whose error might echo it.
    if let Some(t) = &opts.token {
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HubError::InvalidOptions("HF_TOKEN contains spaces or non-printable characters".into()));
        }
    }
    Ok(())
}

fn validate_file(f: &HubFile) -> Result<(), HubError> {
    let bad = |reason: &str| HubError::InvalidFile {
        file: format!("{}:{}", f.repo, f.remote_path),
        reason: reason.to_string(),
    };
    let repo = f.repo.trim_matches('/');
    if repo.is_empty() || repo.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad("repo must look like \"owner/name\""));
    }
    if f.revision.is_empty() || f.revision == "." || f.revision == ".." {
        return Err(bad("revision is empty"));
    }
    let rp = f.remote_path.trim_start_matches('/');
    if rp.is_empty() || rp.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad("remote_path must be a relative path without '.' or '..' parts"));
    }
    validate_local_name(&f.local_name).map_err(|r| bad(&r))?;
    if let Some(s) = &f.sha256 {
        if !is_sha256_hex(s) {
            return Err(bad("sha256 must be 64 hex digits"));
        }
    }
    Ok(())
}

// Plain names only: anything else could escape dest_dir or collide with partials and the manifest.
fn validate_local_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) || name == MANIFEST_NAME {
        return Err(format!("local_name {name:?} must be a plain file name, not hidden, not {MANIFEST_NAME}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
