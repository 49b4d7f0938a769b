use super::manifest::hex;
use super::*;
use crate::testing::fake_server::{FakeServer, Reply, Request};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

const TOKEN: &str = "hf_TopSecret0123456789";

/// How the fake hub answers one path.
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

/// A route table served by the project's one fake server.
struct Server {
    fake: FakeServer,
    routes: Arc<Mutex<HashMap<String, Route>>>,
}

impl Server {
    fn start() -> Server {
        let routes = Arc::new(Mutex::new(HashMap::new()));
        let table = routes.clone();
        let fake = FakeServer::with_handler(move |req| answer(&mut table.lock().unwrap(), req));
        Server { fake, routes }
    }
    fn url(&self) -> String {
        self.fake.origin()
    }
    fn route(&self, path: &str, r: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), r);
    }
    fn seen(&self) -> Vec<Request> {
        self.fake.requests()
    }
}

fn answer(routes: &mut HashMap<String, Route>, req: &Request) -> Reply {
    let Some(r) = routes.get_mut(&req.path) else {
        return Reply::bytes(404, Vec::new());
    };
    let mut headers = Vec::new();
    if let Some(e) = &r.linked_etag {
        headers.push(("X-Linked-Etag", e.clone()));
    }
    if let Some(e) = &r.etag {
        headers.push(("ETag", e.clone()));
    }
    let with_headers = |mut reply: Reply, headers: &[(&str, String)]| {
        for (k, v) in headers {
            reply = reply.with_header(k, v);
        }
        reply
    };
    if let Some(status) = r.status {
        return with_headers(Reply::bytes(status, Vec::new()), &headers);
    }
    if r.fail_first > 0 {
        r.fail_first -= 1;
        return Reply::bytes(500, Vec::new());
    }
    if let Some(to) = r.redirect_to.clone() {
        headers.push(("Location", to));
        return with_headers(Reply::bytes(302, Vec::new()), &headers);
    }
    let body = &r.body;
    let start = req
        .range
        .as_deref()
        .filter(|_| !r.no_ranges)
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    let reply = match start {
        Some(s) if s >= body.len() => {
            headers.push(("Content-Range", format!("bytes */{}", body.len())));
            Reply::bytes(416, Vec::new())
        }
        Some(s) => {
            headers.push(("Content-Range", format!("bytes {}-{}/{}", s, body.len() - 1, body.len())));
            Reply::bytes(206, body[s..].to_vec())
        }
        None => match r.truncate_first_at.take() {
            Some(cut) => Reply::bytes(200, body[..cut.min(body.len())].to_vec()).with_announced_len(body.len()),
            None => Reply::bytes(200, body.clone()),
        },
    };
    with_headers(reply, &headers)
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
    s.route(MODEL, Route { body: body.clone(), linked_etag: Some(sha(&body)), fail_first: 1, ..Default::default() });
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
    assert_eq!(seen[1].authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
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
    let resumed_at: u64 = seen[1].range.as_deref().unwrap()["bytes=".len()..].trim_end_matches('-').parse().unwrap();
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
    s.route(MODEL, Route { body: body.clone(), linked_etag: Some(sha(&body)), no_ranges: true, ..Default::default() });
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
        Route { body: body.clone(), etag: Some("\"0123456789abcdef0123456789abcdef\"".into()), ..Default::default() },
    );
    // Relative redirect on the hub itself (e.g. a renamed repo).
    hub.route(TOK, Route { redirect_to: Some("/org/model/resolve/main/tok-new.json".into()), ..Default::default() });
    hub.route("/org/model/resolve/main/tok-new.json", Route { body: b"{}".to_vec(), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let o = opts(&hub).with_token(Some(TOKEN.into()));
    download_files(&[model_file(), tok_file()], dir.path(), "m", &o).unwrap();
    assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), body);
    assert_eq!(fs::read(dir.path().join("tokenizer.json")).unwrap(), b"{}");
    // The token goes to the hub, never to another origin.
    assert!(hub.seen().iter().all(|r| r.authorization.is_some()));
    assert_eq!(cdn.seen().len(), 1);
    assert_eq!(cdn.seen()[0].path, "/blob/abc?X-Sig=secret");
    assert_eq!(cdn.seen()[0].authorization, None);

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

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Lays `files` (remote path, content, blob name) out as the hub clients do: blobs named by
/// their hash, `snapshots/<commit>/` symlinks to them and, with `branch`, `refs/<branch>`.
fn hf_cache_with(files: &[(&str, &[u8], String)], branch: Option<&str>) -> tempfile::TempDir {
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--org--model");
    fs::create_dir_all(repo.join("blobs")).unwrap();
    for (remote, content, blob) in files {
        fs::write(repo.join("blobs").join(blob), content).unwrap();
        let link = repo.join("snapshots").join(COMMIT).join(remote);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(repo.join("blobs").join(blob), &link).unwrap();
    }
    if let Some(b) = branch {
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::write(repo.join("refs").join(b), COMMIT).unwrap();
    }
    cache
}

#[test]
fn takes_files_from_the_hf_cache_offline_and_verifies_them() {
    let s = Server::start();
    let model = data(40_000, 11);
    let tok = br#"{"tokenizer": "cached"}"#.to_vec();
    let cache = hf_cache_with(
        &[("onnx/model.onnx", &model, sha(&model)), ("tokenizer.json", &tok, "9f".repeat(20))],
        Some("main"),
    );
    let dir = tempfile::tempdir().unwrap();
    let off = opts(&s).with_offline(true).with_hf_cache(Some(cache.path().to_path_buf()));

    let r = download_files(&[model_file(), tok_file()], dir.path(), "m", &off).unwrap();
    assert_eq!(r.from_hf_cache, ["model.onnx", "tokenizer.json"]);
    assert!(r.downloaded.is_empty() && s.seen().is_empty());
    assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), model);
    assert!(!fs::symlink_metadata(dir.path().join("model.onnx")).unwrap().file_type().is_symlink());
    assert!(leftovers(dir.path()).is_empty());
    verify_dir(dir.path()).unwrap();

    // The next run finds them in the model folder.
    let r = download_files(&[model_file(), tok_file()], dir.path(), "m", &off).unwrap();
    assert_eq!(r.skipped.len(), 2);
    assert!(r.from_hf_cache.is_empty());
}

#[test]
fn a_cached_blob_that_does_not_hash_to_its_name_is_not_used() {
    let s = Server::start();
    let model = data(20_000, 12);
    s.route(MODEL, Route { body: model.clone(), linked_etag: Some(sha(&model)), ..Default::default() });
    let cache = hf_cache_with(&[("onnx/model.onnx", b"truncated", sha(&model))], Some("main"));
    let dir = tempfile::tempdir().unwrap();
    let with_cache = |o: HubOptions| o.with_hf_cache(Some(cache.path().to_path_buf()));

    let err = download_files(&[model_file()], dir.path(), "m", &with_cache(opts(&s).with_offline(true))).unwrap_err();
    assert!(matches!(err, HubError::OfflineMissing { .. }), "{err}");
    assert!(!dir.path().join("model.onnx").exists() && leftovers(dir.path()).is_empty());

    let r = download_files(&[model_file()], dir.path(), "m", &with_cache(opts(&s))).unwrap();
    assert_eq!(r.downloaded, ["model.onnx"]);
    assert_eq!(fs::read(dir.path().join("model.onnx")).unwrap(), model);
}

#[test]
fn a_pinned_hash_decides_over_the_cache_and_a_pinned_commit_is_found_without_a_ref() {
    let s = Server::start();
    let good = data(10_000, 13);
    let stale = data(10_000, 14);
    let cache = hf_cache_with(&[("onnx/model.onnx", &stale, sha(&stale))], None);
    let dir = tempfile::tempdir().unwrap();
    let o = opts(&s).with_hf_cache(Some(cache.path().to_path_buf()));

    // No ref for "main" in the cache: the branch is not found there and is downloaded.
    s.route(MODEL, Route { body: good.clone(), linked_etag: Some(sha(&good)), ..Default::default() });
    let r = download_files(&[model_file()], dir.path(), "m", &o).unwrap();
    assert_eq!(r.downloaded, ["model.onnx"]);

    // Pinned to the commit, the snapshot is found; pinned to another hash as well, it is refused.
    let at_commit = HubFile::new("org/model", COMMIT, "onnx/model.onnx", "model.onnx");
    let pinned_path = format!("/org/model/resolve/{COMMIT}/onnx/model.onnx");
    s.route(&pinned_path, Route { body: good.clone(), linked_etag: Some(sha(&good)), ..Default::default() });
    let other = tempfile::tempdir().unwrap();
    let r = download_files(std::slice::from_ref(&at_commit), other.path(), "m", &o).unwrap();
    assert_eq!(r.from_hf_cache, ["model.onnx"]);
    assert_eq!(fs::read(other.path().join("model.onnx")).unwrap(), stale);

    let third = tempfile::tempdir().unwrap();
    let r = download_files(&[at_commit.with_sha256(sha(&good))], third.path(), "m", &o).unwrap();
    assert_eq!(r.downloaded, ["model.onnx"]);
    assert_eq!(fs::read(third.path().join("model.onnx")).unwrap(), good);
}

#[test]
fn the_hf_cache_folder_follows_the_hub_clients_variables() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let o = HubOptions::from_lookup(env(&[("HF_HUB_CACHE", "/a/hub"), ("HF_HOME", "/b")]));
    assert_eq!(o.hf_cache(), Some(Path::new("/a/hub")));
    let o = HubOptions::from_lookup(env(&[("HF_HOME", "/b")]));
    assert_eq!(o.hf_cache(), Some(Path::new("/b/hub")));
    let o = HubOptions::from_lookup(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")]));
    assert_eq!(o.hf_cache(), Some(Path::new("/c/huggingface/hub")));
    let o = HubOptions::from_lookup(env(&[("HOME", "/h")]));
    assert_eq!(o.hf_cache(), Some(Path::new("/h/.cache/huggingface/hub")));
    assert_eq!(HubOptions::from_lookup(env(&[])).hf_cache(), None);
    assert_eq!(HubOptions::default().hf_cache(), None);
}
