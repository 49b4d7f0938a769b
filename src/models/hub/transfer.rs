//! One file over HTTP: redirects followed by hand, resumed ranges, retries with backoff, and
//! the progress bar.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use super::manifest::{hash_reader, hex};
use super::urls::{etag_sha256, join_url, parse_content_range, same_origin};
use super::{io_err, HubError, HubFile, HubOptions, BUF_SIZE, MAX_BACKOFF, MAX_REDIRECTS};
use crate::util::redact::redact_url;

pub(super) fn make_agent(opts: &HubOptions) -> ureq::Agent {
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

pub(super) enum Failure {
    Transient { message: String, retry_after: Option<Duration> },
    Fatal(HubError),
}

pub(super) struct Opened {
    status: u16,
    body: ureq::BodyReader<'static>,
    /// sha256 announced by the hub, if any.
    hub_sha: Option<String>,
    /// Full size of the file, if announced.
    total: Option<u64>,
    content_range_start: Option<u64>,
}

/// GET with manual redirects; returns a 200/206 body or a classified failure.
pub(super) fn open(agent: &ureq::Agent, opts: &HubOptions, url: &str, offset: u64) -> Result<Opened, Failure> {
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

pub(super) fn classify(e: ureq::Error, shown: &str) -> Failure {
    use ureq::Error as E;
    match e {
        E::Io(_) | E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::Protocol(_) => {
            Failure::Transient { message: e.to_string(), retry_after: None }
        }
        other => Failure::Fatal(HubError::Network { url: shown.to_string(), attempts: 1, message: other.to_string() }),
    }
}

pub(super) struct Done {
    sha: String,
    hub_sha: Option<String>,
    resumed: bool,
}

/// One GET into the partial file, resuming from what it already holds.
pub(super) fn attempt(
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
pub(super) fn fetch_file(
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
                    // Best effort: the rename is durable where the platform can sync a folder.
                    let _ = crate::util::fs::sync_dir(dest_dir);
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

pub(super) fn progress_bar(opts: &HubOptions, name: &str) -> ProgressBar {
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
