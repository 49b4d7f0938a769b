//! Downloads model files from the Hugging Face hub (or a mirror set with `HF_ENDPOINT`) into a
//! model directory, verifies them by sha256 and records the hashes in a manifest
//! (`clusterby-model.json`) so that later runs, including offline ones, can trust what is on disk.

use crate::util::redact::redact_url;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

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
            .finish()
    }
}

impl HubOptions {
    /// Reads `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` and `CLUSTERBY_OFFLINE`.
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
}

/// What [`download_files`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadReport {
    /// Local names fetched over the network, in request order.
    pub downloaded: Vec<String>,
    /// Local names already present with the expected hash.
    pub skipped: Vec<String>,
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
        let path = dest_dir.join(&f.local_name);
        let url = f.resolve_url(&opts.endpoint);
        let expected =
            f.sha256.as_ref().map(|s| s.to_ascii_lowercase()).or_else(|| recorded.get(&f.local_name).cloned());

        match check_present(&path, expected.as_deref(), opts, &url) {
            Ok(Some(sha)) => {
                report.skipped.push(f.local_name.clone());
                report.sha256.insert(f.local_name.clone(), sha);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }

        let agent = agent.get_or_insert_with(|| make_agent(opts));
        match fetch_file(agent, f, &url, dest_dir, &path, opts) {
            Ok((sha, bytes)) => {
                report.downloaded.push(f.local_name.clone());
                report.bytes_downloaded += bytes;
                report.sha256.insert(f.local_name.clone(), sha);
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

fn make_agent(opts: &HubOptions) -> ureq::Agent {
    let t = Some(opts.timeout);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Followed by hand: the hub puts X-Linked-Etag on the redirect itself, and the token must
        // not follow a redirect to a CDN.
        .max_redirects(0)
        .timeout_connect(t)
        .timeout_recv_response(t)
        .timeout_per_read(t)
        // Byte ranges and hashes refer to the stored bytes, not a re-encoded stream.
        .accept_encoding("identity")
        .user_agent(format!("clusterby/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

enum Failure {
    Transient { message: String, retry_after: Option<Duration> },
    Fatal(HubError),
}

struct Opened {
    status: u16,
    body: ureq::BodyReader<'static>,
    /// sha256 announced by the hub, if any.
    hub_sha: Option<String>,
    /// Full size of the file, if announced.
    total: Option<u64>,
    content_range_start: Option<u64>,
}

/// GET with manual redirects; returns a 200/206 body or a classified failure.
fn open(agent: &ureq::Agent, opts: &HubOptions, url: &str, offset: u64) -> Result<Opened, Failure> {
    let shown = redact_url(url);
    let mut current = url.to_string();
    let mut linked_etag: Option<String> = None;
    let mut first_etag: Option<String> = None;
    let mut linked_size: Option<u64> = None;
    for _ in 0..=MAX_REDIRECTS {
        let mut req = agent.get(&current);
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
        }
        if let Some(token) = &opts.token {
            if same_origin(&current, &opts.endpoint) {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
        }
        let resp = req.call().map_err(|e| classify(e, &shown))?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string());
        if linked_etag.is_none() {
            linked_etag = header("x-linked-etag").and_then(|e| etag_sha256(&e));
        }
        if first_etag.is_none() {
            first_etag = header("etag").and_then(|e| etag_sha256(&e));
        }
        if linked_size.is_none() {
            linked_size = header("x-linked-size").and_then(|s| s.parse().ok());
        }
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let loc = header("location")
                    .ok_or_else(|| Failure::Fatal(HubError::Status { url: shown.clone(), status }))?;
                current = join_url(&current, &loc);
            }
            200 | 206 => {
                let content_length: Option<u64> = header("content-length").and_then(|s| s.parse().ok());
                let (content_range_start, range_total) = header("content-range")
                    .and_then(|s| parse_content_range(&s))
                    .map_or((None, None), |(start, total)| (Some(start), total));
                let total = linked_size.or(if status == 206 { range_total } else { content_length });
                return Ok(Opened {
                    status,
                    body: resp.into_body().into_reader(),
                    hub_sha: linked_etag.or(first_etag),
                    total,
                    content_range_start,
                });
            }
            401 | 403 => return Err(Failure::Fatal(HubError::Unauthorized { url: shown, status })),
            404 => return Err(Failure::Fatal(HubError::NotFound { url: shown })),
            408 | 429 | 500..=599 => {
                let retry_after = header("retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
                return Err(Failure::Transient { message: format!("HTTP {status}"), retry_after });
            }
            _ => return Err(Failure::Fatal(HubError::Status { url: shown, status })),
        }
    }
    Err(Failure::Fatal(HubError::Network {
        url: shown,
        attempts: 1,
        message: format!("more than {MAX_REDIRECTS} redirects"),
    }))
}

fn classify(e: ureq::Error, shown: &str) -> Failure {
    use ureq::Error as E;
    match e {
        E::Io(_) | E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::Protocol(_) => {
            Failure::Transient { message: e.to_string(), retry_after: None }
        }
        other => Failure::Fatal(HubError::Network { url: shown.to_string(), attempts: 1, message: other.to_string() }),
    }
}

struct Done {
    sha: String,
    hub_sha: Option<String>,
    resumed: bool,
}

/// One GET into the partial file, resuming from what it already holds.
fn attempt(
    agent: &ureq::Agent,
    opts: &HubOptions,
    url: &str,
    partial: &Path,
    pb: &ProgressBar,
    received: &mut u64,
) -> Result<Done, Failure> {
    let fatal_io = |e| Failure::Fatal(io_err(partial)(e));
    let offset = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let mut opened = match open(agent, opts, url, offset) {
        Err(Failure::Fatal(HubError::Status { status: 416, .. })) if offset > 0 => {
            // The partial is as long as (or longer than) the file: start over.
            fs::remove_file(partial).map_err(fatal_io)?;
            return Err(Failure::Transient {
                message: "HTTP 416 for a resumed download".into(),
                retry_after: Some(Duration::ZERO),
            });
        }
        other => other?,
    };

    let resumed = offset > 0 && opened.status == 206 && opened.content_range_start == Some(offset);
    let mut hasher = Sha256::new();
    let mut file = if resumed {
        let mut f = OpenOptions::new().read(true).append(true).open(partial).map_err(fatal_io)?;
        hash_reader(&mut f, &mut hasher).map_err(fatal_io)?;
        f
    } else {
        // 200 (or a 206 for some other range): the body is the whole file from byte 0.
        if opened.status == 206 && opened.content_range_start != Some(0) {
            let _ = fs::remove_file(partial);
            return Err(Failure::Transient {
                message: "server sent an unexpected byte range".into(),
                retry_after: None,
            });
        }
        File::create(partial).map_err(fatal_io)?
    };
    let start = if resumed { offset } else { 0 };
    if let Some(total) = opened.total {
        pb.set_length(total);
    }
    pb.set_position(start);

    let mut written = start;
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match opened.body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep what arrived; the next attempt resumes with a Range request.
                let _ = file.flush();
                return Err(Failure::Transient {
                    message: format!("reading the body after {written} bytes: {e}"),
                    retry_after: None,
                });
            }
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(fatal_io)?;
        written += n as u64;
        *received += n as u64;
        pb.inc(n as u64);
    }
    if let Some(total) = opened.total {
        if written != total {
            return Err(Failure::Transient {
                message: format!("body ended after {written} of {total} bytes"),
                retry_after: None,
            });
        }
    }
    file.sync_all().map_err(fatal_io)?;
    Ok(Done { sha: hex(&hasher.finalize()), hub_sha: opened.hub_sha, resumed })
}

/// Downloads one file with retries, verifies it and renames it into place.
/// Returns its sha256 and the number of bytes received (over all attempts).
fn fetch_file(
    agent: &ureq::Agent,
    f: &HubFile,
    url: &str,
    dest_dir: &Path,
    path: &Path,
    opts: &HubOptions,
) -> Result<(String, u64), HubError> {
    let partial = dest_dir.join(format!(".{}.partial", f.local_name));
    let pb = progress_bar(opts, &f.local_name);
    let pinned = f.sha256.as_ref().map(|s| s.to_ascii_lowercase());
    let mut failures: u32 = 0;
    let mut received: u64 = 0;
    let mut any_resume = false;
    let mut retried_whole = false;
    let result = loop {
        match attempt(agent, opts, url, &partial, &pb, &mut received) {
            Ok(done) => {
                any_resume |= done.resumed;
                let expected = pinned.clone().or(done.hub_sha);
                if let Some(exp) = expected {
                    if exp != done.sha {
                        let _ = fs::remove_file(&partial);
                        // Resumed bytes may be from an older version of the file: one clean retry.
                        if any_resume && !retried_whole {
                            retried_whole = true;
                            any_resume = false;
                            continue;
                        }
                        break Err(HubError::HashMismatch {
                            path: path.to_path_buf(),
                            expected: exp,
                            actual: done.sha,
                        });
                    }
                }
                break fs::rename(&partial, path).map_err(io_err(path)).map(|()| {
                    sync_dir(dest_dir);
                    (done.sha, received)
                });
            }
            Err(Failure::Fatal(e)) => break Err(e),
            Err(Failure::Transient { message, retry_after }) => {
                failures += 1;
                if failures > opts.retries {
                    break Err(HubError::Network { url: redact_url(url), attempts: failures, message });
                }
                let exp = opts.backoff.saturating_mul(1u32 << (failures - 1).min(16)).min(MAX_BACKOFF);
                let wait = retry_after.map_or(exp, |r| r.max(exp).min(MAX_BACKOFF));
                std::thread::sleep(wait);
            }
        }
    };
    match &result {
        Ok(_) => pb.finish_and_clear(),
        Err(_) => pb.abandon(),
    }
    result
}

fn progress_bar(opts: &HubOptions, name: &str) -> ProgressBar {
    if !opts.progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style.progress_chars("=> "));
    pb.set_message(name.to_string());
    pb
}

type Manifest = serde_json::Map<String, serde_json::Value>;

fn read_manifest(path: &Path) -> Result<Manifest, HubError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(HubError::Manifest { path: path.to_path_buf(), message: "not a JSON object".into() }),
        Err(e) => Err(HubError::Manifest { path: path.to_path_buf(), message: e.to_string() }),
    }
}

fn manifest_files(m: &Manifest) -> BTreeMap<String, String> {
    match m.get("files") {
        Some(serde_json::Value::Object(files)) => files
            .iter()
            .filter_map(|(k, v)| v.as_str().filter(|s| is_sha256_hex(s)).map(|s| (k.clone(), s.to_ascii_lowercase())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

// Temp file + rename so a crash never leaves a half-written manifest.
fn write_manifest(path: &Path, m: &Manifest) -> Result<(), HubError> {
    let tmp = path.with_file_name(format!(".{MANIFEST_NAME}.tmp"));
    let text = serde_json::to_string_pretty(m)
        .map_err(|e| HubError::Manifest { path: path.to_path_buf(), message: e.to_string() })?;
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

// Best effort: makes the rename durable on filesystems that need it; not possible everywhere.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn hash_reader(r: &mut impl Read, hasher: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn hash_file(path: &Path) -> Result<String, HubError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    hash_reader(&mut f, &mut h).map_err(io_err(path))?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The hub serves LFS files with their sha256 as (linked) ETag; other ETags (git sha1, S3 md5)
/// say nothing about the content hash and are ignored.
fn etag_sha256(etag: &str) -> Option<String> {
    let e = etag.trim();
    let e = e.strip_prefix("W/").unwrap_or(e).trim_matches('"');
    is_sha256_hex(e).then(|| e.to_ascii_lowercase())
}

/// `bytes START-END/TOTAL` → (START, TOTAL if known).
fn parse_content_range(s: &str) -> Option<(u64, Option<u64>)> {
    let rest = s.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// (scheme, authority) of an absolute URL, lowercased.
fn origin(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some((scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

/// Resolves a Location header against the URL that returned it.
fn join_url(base: &str, location: &str) -> String {
    let loc = location.trim();
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    if let Some(net) = loc.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    if loc.starts_with('/') {
        return format!("{scheme}://{authority}{loc}");
    }
    let path = rest[auth_end..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{scheme}://{authority}{dir}{loc}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    const TOKEN: &str = "hf_TopSecret0123456789";

    /// How the test server answers one path.
    #[derive(Clone, Default)]
    struct Route {
        body: Vec<u8>,
        linked_etag: Option<String>,
        etag: Option<String>,
        /// Always answer with this status and an empty body.
        status: Option<u16>,
        /// Answer 500 this many times before serving.
        fail_first: usize,
        /// The first full response announces the whole length but stops after this many bytes.
        truncate_first_at: Option<usize>,
        /// Answer 302 to this Location (headers above still sent on the 302).
        redirect_to: Option<String>,
        /// Ignore Range headers (answer 200 with the whole body).
        no_ranges: bool,
    }

    #[derive(Clone, Debug)]
    struct Seen {
        path: String,
        range: Option<String>,
        auth: Option<String>,
    }

    #[derive(Default)]
    struct State {
        routes: HashMap<String, Route>,
        seen: Vec<Seen>,
    }

    /// Minimal HTTP/1.1 server on 127.0.0.1, one connection at a time, `Connection: close`.
    struct Server {
        addr: SocketAddr,
        state: Arc<Mutex<State>>,
        stop: Arc<AtomicBool>,
        handle: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start() -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let state = Arc::new(Mutex::new(State::default()));
            let stop = Arc::new(AtomicBool::new(false));
            let (st, sp) = (state.clone(), stop.clone());
            let handle = std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if sp.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let _ = serve(c, &st);
                    }
                }
            });
            Server { addr, state, stop, handle: Some(handle) }
        }
        fn url(&self) -> String {
            format!("http://{}", self.addr)
        }
        fn route(&self, path: &str, r: Route) {
            self.state.lock().unwrap().routes.insert(path.to_string(), r);
        }
        fn seen(&self) -> Vec<Seen> {
            self.state.lock().unwrap().seen.clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept so the thread sees the flag.
            let _ = TcpStream::connect(self.addr);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    fn serve(c: TcpStream, state: &Mutex<State>) -> io::Result<()> {
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(c.try_clone()?);
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let (mut range, mut auth) = (None, None);
        for _ in 0..100 {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = h.trim_end().split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "range" => range = Some(v.trim().to_string()),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }

        let mut st = state.lock().unwrap();
        st.seen.push(Seen { path: path.clone(), range: range.clone(), auth });
        let Some(r) = st.routes.get_mut(&path) else {
            drop(st);
            return respond(c, 404, &[], &[], 0);
        };
        let mut headers = Vec::new();
        if let Some(e) = &r.linked_etag {
            headers.push(("X-Linked-Etag".to_string(), e.clone()));
        }
        if let Some(e) = &r.etag {
            headers.push(("ETag".to_string(), e.clone()));
        }
        if let Some(s) = r.status {
            drop(st);
            return respond(c, s, &headers, &[], 0);
        }
        if r.fail_first > 0 {
            r.fail_first -= 1;
            drop(st);
            return respond(c, 500, &[], &[], 0);
        }
        if let Some(to) = r.redirect_to.clone() {
            headers.push(("Location".to_string(), to));
            drop(st);
            return respond(c, 302, &headers, &[], 0);
        }
        let body = r.body.clone();
        let start = range
            .as_deref()
            .filter(|_| !r.no_ranges)
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<usize>().ok());
        let truncate = if start.is_none() { r.truncate_first_at.take() } else { None };
        drop(st);
        match start {
            Some(s) if s >= body.len() => {
                headers.push(("Content-Range".into(), format!("bytes */{}", body.len())));
                respond(c, 416, &headers, &[], 0)
            }
            Some(s) => {
                headers.push(("Content-Range".into(), format!("bytes {}-{}/{}", s, body.len() - 1, body.len())));
                respond(c, 206, &headers, &body[s..], body.len() - s)
            }
            None => {
                let sent = truncate.unwrap_or(body.len()).min(body.len());
                respond(c, 200, &headers, &body[..sent], body.len())
            }
        }
    }

    fn respond(
        mut c: TcpStream,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        content_length: usize,
    ) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {content_length}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        c.write_all(head.as_bytes())?;
        c.write_all(body)?;
        c.flush()?;
        c.shutdown(Shutdown::Write)
    }

    fn data(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn sha(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    fn opts(s: &Server) -> HubOptions {
        HubOptions::default()
            .with_endpoint(format!("{}/", s.url()))
            .with_progress(false)
            .with_retries(3)
            .with_backoff(Duration::from_millis(5))
            .with_timeout(Duration::from_secs(5))
    }

    const MODEL: &str = "/org/model/resolve/main/onnx/model.onnx";
    const TOK: &str = "/org/model/resolve/main/tokenizer.json";

    fn model_file() -> HubFile {
        HubFile::new("org/model", "main", "onnx/model.onnx", "model.onnx")
    }
    fn tok_file() -> HubFile {
        HubFile::new("org/model", "main", "tokenizer.json", "tokenizer.json")
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    #[test]
    fn downloads_two_files_then_skips_them() {
        let s = Server::start();
        let model = data(300_000, 1);
        let tok = br#"{"tokenizer": true}"#.to_vec();
        s.route(
            MODEL,
            Route { body: model.clone(), linked_etag: Some(format!("\"{}\"", sha(&model))), ..Default::default() },
        );
        // Non-LFS file: a git-sha1 ETag that must not be taken for a sha256.
        s.route(
            TOK,
            Route {
                body: tok.clone(),
                etag: Some("\"0123456789abcdef0123456789abcdef01234567\"".into()),
                ..Default::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let files = [model_file(), tok_file()];
        let r = download_files(&files, dir.path(), "mini", &opts(&s)).unwrap();
        assert_eq!(r.downloaded, ["model.onnx", "tokenizer.json"]);
        assert!(r.skipped.is_empty());
        assert_eq!(r.bytes_downloaded, (model.len() + tok.len()) as u64);
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), model);
        assert_eq!(fs::read(dir.path().join("tokenizer.json")).unwrap(), tok);
        assert!(leftovers(dir.path()).is_empty());

        let m: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join(MANIFEST_NAME)).unwrap()).unwrap();
        assert_eq!(m["name"], "mini");
        assert_eq!(m["source"], format!("{}/org/model@main", s.url()));
        assert_eq!(m["files"]["model.onnx"], sha(&model));
        assert_eq!(m["files"]["tokenizer.json"], sha(&tok));
        verify_dir(dir.path()).unwrap();
        assert_eq!(s.seen().len(), 2);

        let r2 = download_files(&files, dir.path(), "mini", &opts(&s)).unwrap();
        assert_eq!(r2.skipped, ["model.onnx", "tokenizer.json"]);
        assert!(r2.downloaded.is_empty());
        assert_eq!(r2.sha256, r.sha256);
        assert_eq!(s.seen().len(), 2, "no request when files are present");
    }

    #[test]
    fn etag_mismatch_is_an_error_and_leaves_nothing() {
        let s = Server::start();
        s.route(
            MODEL,
            Route {
                body: data(50_000, 2),
                linked_etag: Some(format!("W/\"{}\"", sha(b"something else"))),
                ..Default::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let err = download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, HubError::HashMismatch { .. }), "{msg}");
        assert!(msg.contains("model.onnx"), "{msg}");
        assert!(msg.contains(&sha(b"something else")), "{msg}");
        assert!(msg.contains(&sha(&data(50_000, 2))), "{msg}");
        assert!(!dir.path().join("model.onnx").exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn pinned_sha_wins_over_etag() {
        let s = Server::start();
        let body = data(10_000, 3);
        s.route(MODEL, Route { body: body.clone(), linked_etag: Some(sha(b"stale etag")), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let wrong = model_file().with_sha256(sha(b"other"));
        let err = download_files(&[wrong], dir.path(), "m", &opts(&s)).unwrap_err();
        assert!(err.to_string().contains(&sha(b"other")), "{err}");
        assert!(!dir.path().join("model.onnx").exists());
        assert!(leftovers(dir.path()).is_empty());

        let right = model_file().with_sha256(sha(&body).to_uppercase());
        download_files(&[right], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
    }

    #[test]
    fn retries_500_then_succeeds_and_gives_up_when_bounded() {
        let s = Server::start();
        let body = data(20_000, 4);
        s.route(
            MODEL,
            Route { body: body.clone(), linked_etag: Some(sha(&body)), fail_first: 1, ..Default::default() },
        );
        let dir = tempfile::tempdir().unwrap();
        download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(s.seen().len(), 2);
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);

        s.route(TOK, Route { body: b"x".to_vec(), fail_first: 100, ..Default::default() });
        let err = download_files(&[tok_file()], dir.path(), "m", &opts(&s).with_retries(2)).unwrap_err();
        assert!(matches!(err, HubError::Network { attempts: 3, .. }), "{err}");
        assert!(err.to_string().contains(&format!("{}{TOK}", s.url())), "{err}");
        assert_eq!(s.seen().len(), 2 + 3);
    }

    #[test]
    fn not_found_and_unauthorized_messages() {
        let s = Server::start();
        s.route(TOK, Route { status: Some(401), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let o = opts(&s).with_token(Some(TOKEN.into()));

        let err = download_files(&[model_file()], dir.path(), "m", &o).unwrap_err();
        assert!(matches!(err, HubError::NotFound { .. }));
        assert!(err.to_string().contains(&format!("{}{MODEL}", s.url())), "{err}");

        let err = download_files(&[tok_file()], dir.path(), "m", &o).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("gated") && msg.contains("HF_TOKEN"), "{msg}");
        assert!(!msg.contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
        // Neither is retried, and the token was sent to the hub itself.
        let seen = s.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
        assert!(!dir.path().join(MANIFEST_NAME).exists());
    }

    #[test]
    fn offline_never_requests() {
        let s = Server::start();
        let body = data(5_000, 5);
        s.route(MODEL, Route { body: body.clone(), linked_etag: Some(sha(&body)), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let off = opts(&s).with_offline(true);

        let err = download_files(&[model_file()], dir.path(), "m", &off).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, HubError::OfflineMissing { .. }), "{msg}");
        assert!(msg.contains("model.onnx") && msg.contains("missing"), "{msg}");
        assert!(msg.contains("offline") && msg.contains("HF_HUB_OFFLINE"), "{msg}");
        assert!(s.seen().is_empty());

        download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(s.seen().len(), 1);
        let r = download_files(&[model_file()], dir.path(), "m", &off).unwrap();
        assert_eq!(r.skipped, ["model.onnx"]);

        // A present file with no recorded hash is trusted (and recorded) offline.
        fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
        let r = download_files(&[model_file(), tok_file()], dir.path(), "m", &off).unwrap();
        assert_eq!(r.skipped.len(), 2);
        assert_eq!(r.sha256["tokenizer.json"], sha(b"{}"));

        // A present but corrupt file cannot be repaired offline.
        fs::write(dir.path().join("model.onnx"), b"garbage").unwrap();
        let err = download_files(&[model_file()], dir.path(), "m", &off).unwrap_err();
        assert!(matches!(err, HubError::OfflineCorrupt { .. }), "{err}");
        assert_eq!(s.seen().len(), 1, "offline mode made a request");

        // Online, the corrupt file is replaced.
        download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
    }

    #[test]
    fn resumes_after_truncated_body() {
        let s = Server::start();
        let body = data(400_000, 6);
        s.route(
            MODEL,
            Route {
                body: body.clone(),
                linked_etag: Some(sha(&body)),
                truncate_first_at: Some(150_000),
                ..Default::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let r = download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
        let seen = s.seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].range, None);
        let resumed_at: u64 =
            seen[1].range.as_deref().unwrap()["bytes=".len()..].trim_end_matches('-').parse().unwrap();
        assert!(resumed_at > 0 && resumed_at <= 150_000, "{resumed_at}");
        assert_eq!(r.bytes_downloaded, body.len() as u64);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn resumes_a_partial_from_an_earlier_run() {
        let s = Server::start();
        let body = data(100_000, 7);
        s.route(MODEL, Route { body: body.clone(), linked_etag: Some(sha(&body)), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join(".model.onnx.partial");
        fs::write(&partial, &body[..30_000]).unwrap();
        let r = download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
        assert_eq!(s.seen()[0].range.as_deref(), Some("bytes=30000-"));
        assert_eq!(r.bytes_downloaded, 70_000);

        // A stale partial (other content) fails the hash once, then a clean download wins.
        fs::remove_file(dir.path().join("model.onnx")).unwrap();
        fs::write(&partial, data(30_000, 99)).unwrap();
        download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
        let seen = s.seen();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].range, None);

        // A server that ignores Range restarts from byte zero.
        s.route(
            MODEL,
            Route { body: body.clone(), linked_etag: Some(sha(&body)), no_ranges: true, ..Default::default() },
        );
        fs::remove_file(dir.path().join("model.onnx")).unwrap();
        fs::write(&partial, &body[..30_000]).unwrap();
        download_files(&[model_file()], dir.path(), "m", &opts(&s)).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn follows_redirect_and_uses_linked_etag_from_the_redirect() {
        let hub = Server::start();
        let cdn = Server::start();
        let body = data(60_000, 8);
        // Like the hub: the sha256 is on the 302, the CDN's ETag is an unrelated md5-sized tag.
        hub.route(
            MODEL,
            Route {
                linked_etag: Some(format!("\"{}\"", sha(&body))),
                redirect_to: Some(format!("{}/blob/abc?X-Sig=secret", cdn.url())),
                ..Default::default()
            },
        );
        cdn.route(
            "/blob/abc?X-Sig=secret",
            Route {
                body: body.clone(),
                etag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
                ..Default::default()
            },
        );
        // Relative redirect on the hub itself (e.g. a renamed repo).
        hub.route(
            TOK,
            Route { redirect_to: Some("/org/model/resolve/main/tok-new.json".into()), ..Default::default() },
        );
        hub.route("/org/model/resolve/main/tok-new.json", Route { body: b"{}".to_vec(), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let o = opts(&hub).with_token(Some(TOKEN.into()));
        download_files(&[model_file(), tok_file()], dir.path(), "m", &o).unwrap();
        assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
        assert_eq!(fs::read(dir.path().join("tokenizer.json")).unwrap(), b"{}");
        // The token goes to the hub, never to another origin.
        assert!(hub.seen().iter().all(|r| r.auth.is_some()));
        assert_eq!(cdn.seen().len(), 1);
        assert_eq!(cdn.seen()[0].path, "/blob/abc?X-Sig=secret");
        assert_eq!(cdn.seen()[0].auth, None);

        // The linked etag still catches a corrupt CDN body.
        cdn.route("/blob/abc?X-Sig=secret", Route { body: data(60_000, 9), ..Default::default() });
        let dir2 = tempfile::tempdir().unwrap();
        let err = download_files(&[model_file()], dir2.path(), "m", &o).unwrap_err();
        assert!(matches!(err, HubError::HashMismatch { .. }), "{err}");
    }

    #[test]
    fn token_is_never_shown() {
        let o = HubOptions::from_lookup(|k| match k {
            "HF_TOKEN" => Some(format!(" {TOKEN}\n")),
            "HF_ENDPOINT" => Some("https://mirror.example/".into()),
            "CLUSTERBY_OFFLINE" => Some("Yes".into()),
            _ => None,
        });
        assert!(o.has_token() && o.offline());
        assert_eq!(o.endpoint(), "https://mirror.example");
        let dbg = format!("{o:?}");
        assert!(!dbg.contains(TOKEN) && dbg.contains("redacted"), "{dbg}");

        let d = HubOptions::from_lookup(|k| (k == "HF_HUB_OFFLINE").then(|| "0".to_string()));
        assert_eq!(d.endpoint(), DEFAULT_ENDPOINT);
        assert!(!d.offline() && !d.has_token());

        let bad = HubOptions::default().with_endpoint("http://127.0.0.1:9").with_token(Some(format!("{TOKEN} x")));
        let dir = tempfile::tempdir().unwrap();
        let err = download_files(&[model_file()], dir.path(), "m", &bad).unwrap_err();
        assert!(matches!(err, HubError::InvalidOptions(_)));
        assert!(!err.to_string().contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
    }

    #[test]
    fn verify_dir_detects_modified_and_missing_files() {
        let s = Server::start();
        let body = data(8_000, 10);
        s.route(MODEL, Route { body: body.clone(), ..Default::default() });
        s.route(TOK, Route { body: b"{}".to_vec(), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        download_files(&[model_file(), tok_file()], dir.path(), "m", &opts(&s)).unwrap();
        verify_dir(dir.path()).unwrap();

        let mut changed = body.clone();
        changed[100] ^= 1;
        fs::write(dir.path().join("model.onnx"), &changed).unwrap();
        let err = verify_dir(dir.path()).unwrap_err();
        assert!(matches!(err, HubError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains("model.onnx"), "{err}");

        fs::remove_file(dir.path().join("model.onnx")).unwrap();
        let err = verify_dir(dir.path()).unwrap_err();
        assert!(matches!(err, HubError::Missing { .. }), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = verify_dir(empty.path()).unwrap_err();
        assert!(err.to_string().contains(MANIFEST_NAME), "{err}");
    }

    #[test]
    fn rejects_bad_specs_without_requests() {
        let s = Server::start();
        let dir = tempfile::tempdir().unwrap();
        let bad = [
            HubFile::new("org/model", "main", "a.onnx", "../a.onnx"),
            HubFile::new("org/model", "main", "a.onnx", ".hidden"),
            HubFile::new("org/model", "main", "a.onnx", MANIFEST_NAME),
            HubFile::new("org/model", "main", "../a.onnx", "a.onnx"),
            HubFile::new("", "main", "a.onnx", "a.onnx"),
            HubFile::new("org/model", "main", "a.onnx", "a.onnx").with_sha256("abc"),
        ];
        for f in bad {
            let err = download_files(std::slice::from_ref(&f), dir.path(), "m", &opts(&s)).unwrap_err();
            assert!(matches!(err, HubError::InvalidFile { .. }), "{f:?}: {err}");
        }
        let dup = [model_file(), model_file()];
        assert!(download_files(&dup, dir.path(), "m", &opts(&s)).is_err());
        let err = download_files(&[], dir.path(), "m", &HubOptions::default().with_endpoint("ftp://x")).unwrap_err();
        assert!(matches!(err, HubError::InvalidOptions(_)));
        assert!(s.seen().is_empty());
    }

    #[test]
    fn url_helpers() {
        let f = HubFile::new("org/my model", "refs/pr/1", "/onnx/m odel.onnx", "m.onnx");
        assert_eq!(
            f.resolve_url("https://hf.co/"),
            "https://hf.co/org/my%20model/resolve/refs%2Fpr%2F1/onnx/m%20odel.onnx"
        );
        assert_eq!(join_url("https://a.b/x/y?q=1", "/z"), "https://a.b/z");
        assert_eq!(join_url("https://a.b/x/y", "z"), "https://a.b/x/z");
        assert_eq!(join_url("https://a.b/x/y", "//c.d/e"), "https://c.d/e");
        assert_eq!(join_url("https://a.b/x", "http://c.d/e"), "http://c.d/e");
        assert!(same_origin("https://A.b/x", "https://a.b"));
        assert!(!same_origin("https://a.b:1/x", "https://a.b:2"));
        assert_eq!(redact_url("https://u:p@h.co/a?sig=1"), "https://h.co/a");
        let h = sha(b"x");
        assert_eq!(etag_sha256(&format!("W/\"{}\"", h.to_uppercase())), Some(h));
        assert_eq!(etag_sha256("\"0123456789abcdef0123456789abcdef\""), None);
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
    }
}
