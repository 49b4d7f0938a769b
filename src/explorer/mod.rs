//! `clusterby serve`: the explorer, a local web app over one caption or image index. Type a criterion,
//! see the clusters as cards (name, size, keywords, purity where labels exist, captions and
//! thumbnails), compare two criteria as a contingency table, look at the 2-D map, export.
//!
//! The index and the text encoder are loaded once and queries run in the server process, so a
//! query costs what it costs in the library. Requests are answered one at a time (the encoder
//! is single-user); a local explorer has one user.
//!
//! Safety: binds 127.0.0.1 unless `--public`; a public bind requires a random access token
//! (query parameter once, then a cookie). Images are served only for ids of the index, from
//! inside `--images`. The page is plain HTML/JS served by this process, with no external asset,
//! and puts every caption, name and label in text nodes; a strict Content-Security-Policy
//! forbids inline script.

mod files;
mod http;
mod source;
mod views;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use http::{Reply, Target};

use crate::cli::Context;
use crate::cluster::Method;
use crate::query::{ClusterResult, QueryOptions};

/// Queries kept for compare, map and export (the oldest is dropped beyond this).
const CACHED_QUERIES: usize = 16;
const TOKEN_COOKIE: &str = "clusterby_token";
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
];

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub index: PathBuf,
    /// Folder holding the images, each at `DIR/<id>`, for thumbnails.
    pub images: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    /// Allow a non-loopback bind (with an access token).
    pub public: bool,
    /// The endpoint for the one LLM call a user may ask for (names, or names and grouping).
    pub llm: Option<crate::llm::LlmConfig>,
}

/// Why the explorer did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--host {0}: not an IP address")]
    Host(String),
    #[error(
        "--host {0} is reachable from other machines: pass --public to serve there (an access token is then required)"
    )]
    NotLoopback(String),
    #[error("--images {path}: {source}")]
    Images { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// One query's answer, kept for compare, map and export.
struct Answer {
    result: ClusterResult,
    xy: Option<Vec<(f32, f32)>>,
}

pub struct Explorer {
    dir: PathBuf,
    source: source::Source,
    row_of: HashMap<String, usize>,
    images: Option<PathBuf>,
    token: Option<String>,
    llm: Option<crate::llm::LlmClient>,
    answers: Vec<(String, Answer)>,
}

/// Checks the bind address: loopback, or `--public`.
pub fn check_host(host: &str, public: bool) -> Result<IpAddr, ServeError> {
    let ip: IpAddr = host.parse().map_err(|_| ServeError::Host(host.to_string()))?;
    if !ip.is_loopback() && !public {
        return Err(ServeError::NotLoopback(host.to_string()));
    }
    Ok(ip)
}

/// A random access token (128 bits, hex) from the OS's entropy.
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Explorer {
    /// Loads the index and its encoder; `public` makes every request need the token.
    pub fn open(ctx: &Context, opts: &ServeOptions) -> Result<Self, Box<dyn std::error::Error>> {
        let source = source::Source::open(ctx, &opts.index)?;
        // An image index knows its folder; `--images` names another.
        let images = match opts.images.clone().or_else(|| source.image_root()) {
            Some(p) => Some(p.canonicalize().map_err(|e| ServeError::Images { path: p.clone(), source: e })?),
            None => None,
        };
        let row_of = source.rows().ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        let token = opts.public.then(new_token);
        let llm = opts.llm.clone().map(crate::llm::LlmClient::new).transpose()?;
        Ok(Explorer { dir: opts.index.clone(), source, row_of, images, token, llm, answers: Vec::new() })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Answers one request. `cookie` is the request's `Cookie` header.
    pub fn handle(&mut self, method: &str, url: &str, cookie: Option<&str>) -> Reply {
        let t = Target::parse(url);
        if method != "GET" && method != "HEAD" {
            return Reply::error(405, "only GET is served");
        }
        let given = t.get("token").or_else(|| http::cookie(cookie, TOKEN_COOKIE));
        if let Some(token) = &self.token {
            if !given.is_some_and(|g| http::same_secret(g, token)) {
                return Reply::error(403, "access token required: open the address `clusterby serve` printed");
            }
        }
        let reply = self.route(&t);
        let mut reply = match (&self.token, t.path.as_str()) {
            (Some(token), "/") => {
                reply.with_header("Set-Cookie", format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"))
            }
            _ => reply,
        };
        for (k, v) in SECURITY_HEADERS {
            reply.headers.push((k, v.to_string()));
        }
        reply
    }

    fn route(&mut self, t: &Target) -> Reply {
        let result = match t.path.as_str() {
            "/" => Ok(Reply::ok("text/html; charset=utf-8", include_str!("assets/index.html"))),
            "/app.js" => Ok(Reply::ok("text/javascript; charset=utf-8", include_str!("assets/app.js"))),
            "/app.css" => Ok(Reply::ok("text/css; charset=utf-8", include_str!("assets/app.css"))),
            "/api/info" => Ok(self.info()),
            "/api/query" => self.query_view(t),
            "/api/members" => self.members(t),
            "/api/compare" => self.compare(t),
            "/api/cell" => self.cell(t),
            "/api/map" => self.map(t),
            "/api/export" => self.export(t),
            "/api/drawn" => drawn(t),
            "/image" => self.image(t),
            _ => Err((404, format!("no such page: {}", t.path))),
        };
        result.unwrap_or_else(|(status, message)| Reply::error(status, &message))
    }

    fn rows(&self) -> views::Rows<'_> {
        views::Rows { text: self.source.rows(), row_of: &self.row_of }
    }

    fn info(&self) -> Reply {
        Reply::json(&serde_json::json!({
            "index": self.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            "rows": self.row_of.len(),
            "labelled": self.source.rows().labels.iter().any(Option::is_some),
            "kind": match self.source { source::Source::Captions { .. } => "captions", source::Source::Images { .. } => "images" },
            "images": self.images.is_some(),
            "llm": self.llm.is_some(),
            "methods": Method::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        }))
    }
}

type Routed = Result<Reply, (u16, String)>;

/// The page's own timing, from Enter to the clusters drawn, logged on stderr: one query
/// (`ms`), or a run of them (`median`, `runs`, as `?bench=N` makes).
fn drawn(t: &Target) -> Routed {
    let ms: Option<f64> = t.number("ms").map_err(bad)?;
    let median: Option<f64> = t.number("median").map_err(bad)?;
    let runs: Option<usize> = t.number("runs").map_err(bad)?;
    match (ms, median, runs) {
        (Some(ms), _, _) => eprintln!("explorer: clusters drawn {ms:.0} ms after Enter"),
        (_, Some(m), Some(n)) => {
            eprintln!("explorer: bench: median {m:.1} ms from Enter to clusters drawn over {n} uncached queries")
        }
        _ => return Err(bad("give ms, or median and runs")),
    }
    Ok(Reply::json(&serde_json::json!({})))
}

fn bad(message: impl Into<String>) -> (u16, String) {
    (400, message.into())
}

/// The query options a request names, with `prefix` before each key (`a_by`, `b_by` for compare).
fn options(t: &Target, prefix: &str, dir: &Path) -> Result<(String, QueryOptions), (u16, String)> {
    let key = |k: &str| format!("{prefix}{k}");
    let by = t
        .get(&key("by"))
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad(format!("{}: give a criterion", key("by"))))?;
    let k: Option<usize> = t.number(&key("k")).map_err(bad)?;
    let seed: u64 = t.number(&key("seed")).map_err(bad)?.unwrap_or(42);
    let method = match t.get(&key("method")) {
        None => Method::KMeans,
        Some(m) => <Method as clap::ValueEnum>::from_str(m, true)
            .map_err(|_| bad(format!("{}: unknown method {m:?}", key("method"))))?,
    };
    let exclude: Vec<String> = t
        .all(&key("exclude"))
        .iter()
        .flat_map(|e| e.split(','))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let ask = t.get(&key("llm")).unwrap_or("none");
    let cache_key =
        format!("{by}\u{1}{k:?}\u{1}{}\u{1}{seed}\u{1}{}\u{1}{ask}", method.as_str(), exclude.join("\u{2}"));
    let opts =
        QueryOptions::new(by).with_k(k).with_method(method).with_seed(seed).with_exclude(exclude).with_cache_dir(dir);
    let opts = match ask {
        "none" => opts,
        "names" => opts.with_namer(crate::query::NamerKind::Llm),
        "one-call" => opts.with_strategy(crate::query::Strategy::OneCall),
        other => return Err(bad(format!("{}: {other:?} is not none, names or one-call", key("llm")))),
    };
    Ok((cache_key, opts))
}

impl Explorer {
    /// The answer for the query a request names, from the cache unless `fresh` is set.
    fn answer(&mut self, t: &Target, prefix: &str) -> Result<usize, (u16, String)> {
        let (key, opts) = options(t, prefix, &self.dir)?;
        let fresh = t.get("fresh").is_some();
        if let Some(i) = self.answers.iter().position(|(k, _)| *k == key) {
            if !fresh {
                return Ok(i);
            }
            self.answers.remove(i);
        }
        let wants_llm = opts.namer == crate::query::NamerKind::Llm || opts.strategy == crate::query::Strategy::OneCall;
        let llm = match (&self.llm, wants_llm) {
            (_, false) => None,
            (Some(client), true) => Some(client),
            (None, true) => return Err(bad("no LLM endpoint: start `clusterby serve` with --llm-base-url")),
        };
        let started = Instant::now();
        let mut result = self.source.run(&opts, llm).map_err(|e| bad(e.to_string()))?;
        result.timings_ms.insert("total".into(), started.elapsed().as_secs_f64() * 1e3);
        result.index = Some(self.dir.clone());
        if self.answers.len() >= CACHED_QUERIES {
            self.answers.remove(0);
        }
        self.answers.push((key, Answer { result, xy: None }));
        Ok(self.answers.len() - 1)
    }

    fn query_view(&mut self, t: &Target) -> Routed {
        let i = self.answer(t, "")?;
        Ok(Reply::json(&self.rows().query_view(&self.answers[i].1.result, self.images.is_some())))
    }

    fn members(&mut self, t: &Target) -> Routed {
        let i = self.answer(t, "")?;
        let cluster: i64 = t.number("cluster").map_err(bad)?.ok_or_else(|| bad("cluster: missing"))?;
        let offset: usize = t.number("offset").map_err(bad)?.unwrap_or(0);
        let limit: usize = t.number("limit").map_err(bad)?.unwrap_or(48).min(500);
        let rows = self.rows();
        let all = rows.members(&self.answers[i].1.result).remove(&cluster).unwrap_or_default();
        let items: Vec<views::Item> = all.iter().skip(offset).take(limit).map(|&r| rows.item(r)).collect();
        Ok(Reply::json(
            &serde_json::json!({ "cluster": cluster, "total": all.len(), "offset": offset, "items": items }),
        ))
    }

    fn compare(&mut self, t: &Target) -> Routed {
        let (a, b) = self.pair(t)?;
        Ok(Reply::json(&views::compare(&self.rows(), &self.answers[a].1.result, &self.answers[b].1.result)))
    }

    /// The cache positions of the two queries a compare names. Answering the second may evict
    /// or move the first in a full cache, so both are looked up by key once both are in.
    fn pair(&mut self, t: &Target) -> Result<(usize, usize), (u16, String)> {
        let (ka, _) = options(t, "a_", &self.dir)?;
        let (kb, _) = options(t, "b_", &self.dir)?;
        let at = |answers: &[(String, Answer)], key: &str| answers.iter().position(|(k, _)| k == key);
        self.answer(t, "a_")?;
        self.answer(t, "b_")?;
        if at(&self.answers, &ka).is_none() {
            // Evicted by the second: answered again, it evicts the oldest, not the newest.
            self.answer(t, "a_")?;
        }
        match (at(&self.answers, &ka), at(&self.answers, &kb)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err((500, "the query cache holds fewer than two answers".into())),
        }
    }

    fn cell(&mut self, t: &Target) -> Routed {
        let (a, b) = self.pair(t)?;
        let ca: i64 = t.number("a_cluster").map_err(bad)?.ok_or_else(|| bad("a_cluster: missing"))?;
        let cb: i64 = t.number("b_cluster").map_err(bad)?.ok_or_else(|| bad("b_cluster: missing"))?;
        let rows = self.rows();
        let all = views::cell(&rows, &self.answers[a].1.result, &self.answers[b].1.result, ca, cb);
        let items: Vec<views::Item> = all.iter().take(200).map(|&r| rows.item(r)).collect();
        Ok(Reply::json(&serde_json::json!({ "total": all.len(), "items": items })))
    }

    fn map(&mut self, t: &Target) -> Routed {
        let i = self.answer(t, "")?;
        if self.answers[i].1.xy.is_none() {
            let (_, opts) = options(t, "", &self.dir)?;
            self.answers[i].1.xy = Some(self.source.map_xy(&opts).map_err(|e| bad(e.to_string()))?);
        }
        let answer = &self.answers[i].1;
        Ok(Reply::json(&views::map(&self.rows(), &answer.result, answer.xy.as_deref().unwrap_or_default())))
    }
}

/// Serves the explorer until the process is stopped. Prints the address to open (with the
/// token when public) on stderr.
pub fn serve(ctx: &Context, opts: &ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let ip = check_host(&opts.host, opts.public)?;
    let mut explorer = Explorer::open(ctx, opts)?;
    let server = tiny_http::Server::http((ip, opts.port))
        .map_err(|e| ServeError::Other(format!("{}:{}: {e}", opts.host, opts.port)))?;
    let addr = server.server_addr().to_ip().map_or_else(|| format!("{}:{}", opts.host, opts.port), |a| a.to_string());
    match explorer.token() {
        Some(token) => {
            eprintln!("clusterby explorer: http://{addr}/?token={token}  (public bind: keep the token private)")
        }
        None => eprintln!("clusterby explorer: http://{addr}/"),
    }
    for request in server.incoming_requests() {
        let cookie = request.headers().iter().find(|h| h.field.equiv("Cookie")).map(|h| h.value.as_str().to_string());
        let reply = explorer.handle(request.method().as_str(), request.url(), cookie.as_deref());
        let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
        let headers = std::iter::once(("Content-Type", reply.content_type.to_string())).chain(reply.headers);
        for (name, value) in headers {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        // A client that went away is not the server's problem.
        let _ = request.respond(response);
    }
    Ok(())
}
