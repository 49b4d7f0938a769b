//! `clusterby serve`: the explorer's HTTP API, its safety rules, and the page in a real browser
//! (headless Chromium): a query, compare, the map, exports, and a caption that is markup.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clusterby::query::ClusterResult;
use clusterby::testing::fake_server::{FakeServer, Reply};
use clusterby::ModelName;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const ANIMALS: [&str; 5] = ["cat", "dog", "horse", "deer", "frog"];
const VEHICLES: [&str; 5] = ["truck", "ship", "airplane", "automobile", "bus"];
const SCRIPT_CAPTION: &str = "A cat <script>document.title='pwned'</script> on a sofa & a rug";

/// A caption index of 40 captions (animals and vehicles, calm or busy scenes, labelled by
/// kind), one caption markup, plus an images folder with a CIFAR-10 image per id, and an image
/// outside it that one id points at (`../outside.png`).
fn fixture(dir: &Path) -> (PathBuf, PathBuf, usize) {
    common::require_model(ModelName::AllMiniLmL6V2);
    let cifar = common::require_file(common::shared_dir().join("data/images/cifar10-test/images"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cifar).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let mut lines = Vec::new();
    for i in 0..40 {
        let (thing, kind) = if i % 2 == 0 { (ANIMALS[i / 2 % 5], "animal") } else { (VEHICLES[i / 2 % 5], "vehicle") };
        let scene =
            if i % 4 < 2 { "in a quiet, calm meadow at dawn" } else { "in a busy, noisy city street at rush hour" };
        let caption = if i == 0 { SCRIPT_CAPTION.to_string() } else { format!("A photo of a {thing} {scene}") };
        let id = format!("img{i:02}.png");
        std::fs::copy(&files[i * 10], imgs.join(&id)).unwrap();
        lines.push(serde_json::json!({"id": id, "caption": caption, "label": kind}).to_string());
    }
    std::fs::copy(&files[1], dir.join("outside.png")).unwrap();
    lines.push(
        serde_json::json!({"id": "../outside.png", "caption": "A photo of a dog in a calm park", "label": "animal"})
            .to_string(),
    );
    let caps = dir.join("captions.jsonl");
    std::fs::write(&caps, lines.join("\n")).unwrap();
    let idx = dir.join("idx");
    let o = Command::new(common::bin()).args(["index", s(&caps), "--out", s(&idx)]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (idx, imgs, lines.len())
}

/// A running `clusterby serve`, the address it printed, and its later stderr lines.
struct Server {
    child: Child,
    url: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The first stderr line containing `needle`, waiting up to `secs`.
    fn wait_for(&self, needle: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(common::bin())
        .arg("serve")
        .args(args)
        .args(["--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("clusterby explorer: ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let (tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Server { child, url, log }
}

fn get(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (r.status().as_u16(), kind, r.body_mut().read_to_string().unwrap_or_default())
}

fn json(url: &str) -> serde_json::Value {
    let (status, _, body) = get(url);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn api_answers_queries_compare_map_exports_and_guards_files() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, imgs, n) = fixture(dir.path());
    let srv = serve(&[s(&idx), "--images", s(&imgs)]);
    let base = srv.url.trim_end_matches('/');
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let q = json(&format!("{base}/api/query?by=kind+of+thing&k=2"));
    let clusters = q["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters.iter().map(|c| c["size"].as_u64().unwrap()).sum::<u64>(), n as u64);
    assert!(clusters.iter().all(|c| c["purity"].as_f64().is_some_and(|p| p > 0.5) && c["top_label"].is_string()));
    let coverage = &q["kinds_coverage"];
    assert!(coverage.is_null() || coverage.as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)), "{coverage}");

    let c = json(&format!("{base}/api/compare?a_by=kind+of+thing&a_k=2&b_by=mood&b_k=2"));
    let total: u64 =
        c["counts"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, n as u64);
    let (a0, b0) = (c["a"][0]["id"].as_i64().unwrap(), c["b"][0]["id"].as_i64().unwrap());
    let cell = json(&format!("{base}/api/cell?a_by=kind+of+thing&a_k=2&b_by=mood&b_k=2&a_cluster={a0}&b_cluster={b0}"));
    assert_eq!(cell["total"], c["counts"][0][0]);

    let m = json(&format!("{base}/api/map?by=kind+of+thing&k=2"));
    assert_eq!(m["x"].as_array().unwrap().len(), n);
    let members = json(&format!("{base}/api/members?by=kind+of+thing&k=2&cluster=0"));
    assert_eq!(members["total"], clusters[0]["size"]);

    let (status, kind, csv) = get(&format!("{base}/api/export?by=kind+of+thing&k=2&format=csv"));
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(csv.lines().count(), n + 1);
    assert!(csv.starts_with("id,cluster,name"));
    let (_, _, body) = get(&format!("{base}/api/export?by=kind+of+thing&k=2&format=json"));
    let r: ClusterResult = serde_json::from_str(&body).unwrap();
    assert_eq!(r.assignments.len(), n);
    let (_, _, html) = get(&format!("{base}/api/export?by=kind+of+thing&k=2&format=html"));
    assert_eq!(html.matches("<section").count(), 2, "one section per cluster");
    assert!(!html.contains("<script>document"), "the markup caption is escaped if shown");

    // Files: an id's image, nothing outside the folder, nothing that is not an id.
    let (status, kind, _) = get(&format!("{base}/image?id=img03.png"));
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    assert_eq!(get(&format!("{base}/image?id=..%2Foutside.png")).0, 403);
    assert_eq!(get(&format!("{base}/image?id=..%2F..%2Fetc%2Fpasswd")).0, 404);
    assert_eq!(get(&format!("{base}/image?id=%2Fetc%2Fpasswd")).0, 404);
    // Bad input names its field.
    let (status, _, body) = get(&format!("{base}/api/query?by=mood&k=two"));
    assert_eq!(status, 400);
    assert!(body.contains("k: not a number"), "{body}");
    assert!(get(&format!("{base}/api/query?by=mood&method=nope")).2.contains("method"));
    // No endpoint was given: asking for the LLM is refused, naming the flag.
    let (status, _, body) = get(&format!("{base}/api/query?by=mood&llm=names"));
    assert_eq!(status, 400);
    assert!(body.contains("--llm-base-url"), "{body}");
    let (_, _, page) = get(&format!("{base}/"));
    assert!(page.contains("<script src=\"/app.js\" defer></script>"));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn binds_loopback_unless_public_and_then_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _, _) = fixture(dir.path());
    let o = Command::new(common::bin()).args(["serve", s(&idx), "--host", "0.0.0.0", "--port", "0"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--public"), "{}", String::from_utf8_lossy(&o.stderr));

    let srv = serve(&[s(&idx), "--public"]);
    let (base, token) = srv.url.split_once("/?token=").expect("a public bind prints a token");
    assert_eq!(token.len(), 32);
    assert_eq!(get(&format!("{base}/api/info")).0, 403);
    assert_eq!(get(&format!("{base}/api/info?token=wrong{}", &token[5..])).0, 403);
    assert_eq!(get(&format!("{base}/api/info?token={token}")).0, 200);
}

/// One Chromium at a time: two headless instances in virtual time at once were seen to hang.
static CHROMIUM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_browser() -> std::sync::MutexGuard<'static, ()> {
    CHROMIUM.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Headless Chromium, offline but for loopback, 1,000 px wide.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("/usr/lib/chromium/chromium");
    c.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--log-level=3", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1", "--window-size=1000,900"]);
    c
}

fn kill_group(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The DOM of `url` once the page has set `document.body.dataset.ready`.
fn dump_dom(url: &str) -> String {
    Page::open(url).dom()
}

/// A page in headless Chromium, driven over its DevTools pipe in real time, once it has set
/// `document.body.dataset.ready`. (`--dump-dom` with virtual time was tried first; its clock
/// stalled now and then on a page that had finished.)
struct Page {
    browser: DevTools,
    session: String,
    _one: std::sync::MutexGuard<'static, ()>,
    _profile: tempfile::TempDir,
}

impl Page {
    fn open(url: &str) -> Self {
        let one = one_browser();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = DevTools::launch(profile.path());
        let target = browser.call(None, "Target.createTarget", serde_json::json!({"url": url}));
        let target = target["targetId"].as_str().expect("a target id").to_string();
        let attached =
            browser.call(None, "Target.attachToTarget", serde_json::json!({"targetId": target, "flatten": true}));
        let session = attached["sessionId"].as_str().expect("a session id").to_string();
        let mut page = Page { browser, session, _one: one, _profile: profile };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while page.eval("document.body ? (document.body.dataset.ready || '') : ''") != "1" {
            if std::time::Instant::now() > deadline {
                panic!("{url} did not set data-ready in 120 s:\n{}", page.dom());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        page
    }

    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.browser.call(Some(&self.session), method, params)
    }

    fn eval(&mut self, js: &str) -> serde_json::Value {
        let r = self.call("Runtime.evaluate", serde_json::json!({"expression": js, "returnByValue": true}));
        r["result"]["value"].clone()
    }

    fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML").as_str().expect("the DOM as text").to_string()
    }

    /// Real mouse input along `points` (viewport pixels): press at the first, move through the
    /// rest, release at the last.
    fn drag(&mut self, points: &[(f64, f64)]) {
        let last = points.len() - 1;
        for (i, &(x, y)) in points.iter().enumerate() {
            let kind = if i == 0 {
                "mousePressed"
            } else if i == last {
                "mouseReleased"
            } else {
                "mouseMoved"
            };
            let buttons = if i == last { 0 } else { 1 };
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1}),
            );
        }
    }
}

/// Headless Chromium and its DevTools protocol over `--remote-debugging-pipe` (file descriptors
/// 3 and 4, messages ended by NUL): no WebSocket client needed.
struct DevTools {
    child: Child,
    to: std::fs::File,
    from: std::sync::mpsc::Receiver<serde_json::Value>,
    next: u64,
}

impl DevTools {
    fn launch(profile: &Path) -> Self {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let pipe = || {
            let mut fds = [0; 2];
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            (fds[0], fds[1])
        };
        let ((in_read, in_write), (out_read, out_write)) = (pipe(), pipe());
        let mut cmd = chromium(profile);
        cmd.args(["--remote-debugging-pipe", "about:blank"]).stdout(Stdio::null()).stderr(Stdio::null());
        // Chromium reads commands on fd 3 and writes answers on fd 4. The pipe ends may
        // themselves be 3 or 4 (then dup2 would keep their close-on-exec flag, or overwrite one
        // with the other), so they are first copied above 10.
        unsafe {
            cmd.pre_exec(move || {
                let high_in = libc::fcntl(in_read, libc::F_DUPFD_CLOEXEC, 10);
                let high_out = libc::fcntl(out_write, libc::F_DUPFD_CLOEXEC, 10);
                if high_in < 0 || high_out < 0 || libc::dup2(high_in, 3) < 0 || libc::dup2(high_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        unsafe {
            libc::close(in_read);
            libc::close(out_write);
        }
        let to = unsafe { std::fs::File::from_raw_fd(in_write) };
        let mut from = BufReader::new(unsafe { std::fs::File::from_raw_fd(out_read) });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while from.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice(&buf) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                buf.clear();
            }
        });
        DevTools { child, to, from: rx, next: 0 }
    }

    /// Sends one command and waits (at most 60 s) for its answer, skipping events.
    fn call(&mut self, session: Option<&str>, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::Write;
        self.next += 1;
        let mut msg = serde_json::json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium takes commands");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self.from.recv_timeout(left).unwrap_or_else(|_| panic!("no answer to {method} in 60 s"));
            if v["id"].as_u64() == Some(self.next) {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }
}

impl Drop for DevTools {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
#[cfg_attr(not(clusterby_chromium), ignore = "needs /usr/bin/chromium (Debian package chromium)")]
fn the_page_queries_compares_maps_and_exports_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, imgs, n) = fixture(dir.path());
    let srv = serve(&[s(&idx), "--images", s(&imgs)]);
    let mut page = Page::open(&format!("{}?by=kind+of+thing&k=2&by2=mood&k2=2", srv.url));
    let dom = page.dom();
    assert!(dom.contains("data-ready=\"1\""), "the page did not finish:\n{dom}");
    assert!(!dom.contains("class=\"error\""), "the page reported an error:\n{dom}");
    assert_eq!(dom.matches("<article class=\"card\"").count(), 2);
    assert_eq!(dom.matches("<circle ").count(), n, "one map point per caption");
    assert_eq!(dom.matches("class=\"cell\"").count(), 4, "a 2 × 2 contingency table");
    assert!(dom.contains("id=\"export-csv\" download=\"\" href=\"/api/export?"));
    assert!(dom.contains("<img src=\"/image?id=img"), "thumbnails");
    // The markup caption is text, not an element: one script element (app.js), title untouched.
    assert!(dom.contains("A cat &lt;script&gt;document.title='pwned'&lt;/script&gt; on a sofa &amp; a rug"));
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(dom.contains("<title>clusterby explorer</title>"));
    lasso_selects_the_points_inside(&mut page, n);
}

/// Draws a triangle over the map's upper-left half with real mouse input and checks that the
/// page lists exactly the points whose drawn circles lie inside it (by the browser's own
/// geometry of the circles, not the page's coordinates).
fn lasso_selects_the_points_inside(page: &mut Page, n: usize) {
    page.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": 1000, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let r = page.eval(
        "(() => { const m = document.getElementById('map'); m.scrollIntoView(); \
         const r = m.getBoundingClientRect(); return [r.left + 4, r.top + 4, r.right - 4, r.bottom - 4]; })()",
    );
    let [l, t, rt, b] = [0, 1, 2, 3].map(|i| r[i].as_f64().expect("the map's box"));
    let edge = |(x0, y0): (f64, f64), (x1, y1): (f64, f64)| {
        (0..20).map(move |i| (x0 + (x1 - x0) * i as f64 / 20.0, y0 + (y1 - y0) * i as f64 / 20.0))
    };
    let mut path: Vec<(f64, f64)> = edge((l, t), (rt, t)).chain(edge((rt, t), (l, b))).collect();
    path.push((l, b));
    page.drag(&path);
    let inside = page.eval(&format!(
        "(() => {{ let strict = 0, loose = 0; for (const c of document.querySelectorAll('#map circle')) {{ \
         const r = c.getBoundingClientRect(); const u = ((r.left + r.right) / 2 - {l}) / ({rt} - {l}); \
         const v = ((r.top + r.bottom) / 2 - {t}) / ({b} - {t}); \
         if (u > 0 && v > 0 && u + v < 0.995) strict++; if (u > 0 && v > 0 && u + v < 1.005) loose++; }} \
         return [strict, loose, Number(document.getElementById('selection').dataset.count || -1)]; }})()"
    ));
    let [strict, loose, picked] = [0, 1, 2].map(|i| inside[i].as_i64().expect("counts"));
    assert!(strict <= picked && picked <= loose, "lasso picked {picked}, inside the triangle {strict}..={loose}");
    assert!(picked > 0 && (picked as usize) < n, "the triangle holds some points, not all: {picked} of {n}");
    let heading = page.eval("document.querySelector('#selection h3').textContent");
    assert!(heading.as_str().unwrap().starts_with(&format!("{picked} selected: ")), "{heading}");
}

/// Enter → clusters drawn, timed by the page in a real-time browser (virtual time would stop
/// the clock during fetches) and logged by the server: the median of 10 uncached queries. On
/// the 41-caption fixture, or on the index in `CLUSTERBY_EXPLORER_INDEX` (how the 10k and 100k
/// figures in benches/results/ are made). Prints the time; speed targets live in the results.
#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
#[cfg_attr(not(clusterby_chromium), ignore = "needs /usr/bin/chromium (Debian package chromium)")]
fn enter_to_clusters_drawn_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, by, k) = match std::env::var_os("CLUSTERBY_EXPLORER_INDEX") {
        Some(p) => {
            (PathBuf::from(p), std::env::var("CLUSTERBY_EXPLORER_BY").unwrap_or("object".into()), "10".to_string())
        }
        None => (fixture(dir.path()).0, "kind of thing".to_string(), "2".to_string()),
    };
    let srv = serve(&[s(&idx)]);
    let _one = one_browser();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("{}?by={}&k={k}&bench=10", srv.url, by.replace(' ', "+"));
    let mut browser = chromium(profile.path())
        .args(["--remote-debugging-port=0", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = srv.wait_for("explorer: bench:", 300);
    kill_group(&mut browser);
    let line = line.expect("the page reported its bench");
    assert!(line.contains("over 10 uncached queries"), "{line}");
    eprintln!("{} ({}, K = {k}): {line}", idx.display(), by);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn the_llm_is_called_only_when_the_user_asks() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _, _) = fixture(dir.path());
    let llm = FakeServer::with_handler(|r| match r.path.ends_with("/chat/completions") {
        true => Reply::counted("{\"names\": [\"Animals\", \"Vehicles\"]}", 321),
        false => Reply::status(404, "not found"),
    });
    let srv = serve(&[s(&idx), "--llm-base-url", &llm.base_url(), "--llm-retries", "0"]);
    let base = srv.url.trim_end_matches('/');
    assert_eq!(json(&format!("{base}/api/info"))["llm"], true);
    let q = json(&format!("{base}/api/query?by=kind+of+thing&k=2"));
    assert_eq!((q["llm_calls"].as_u64(), llm.chat_requests().len()), (Some(0), 0), "zero calls unless asked");
    let q = json(&format!("{base}/api/query?by=kind+of+thing&k=2&llm=names"));
    assert_eq!(llm.chat_requests().len(), 1);
    assert_eq!(q["llm_calls"], 1);
    assert_eq!((q["llm"]["calls"].as_u64(), q["llm"]["prompt_tokens"].as_u64()), (Some(1), Some(321)));
    assert!(q["llm"]["seconds"].as_f64().is_some());
    // Asked again: the answer is the one on screen, not a second call.
    json(&format!("{base}/api/query?by=kind+of+thing&k=2&llm=names"));
    assert_eq!(llm.chat_requests().len(), 1);
    assert!(get(&format!("{base}/api/query?by=mood&llm=all")).2.contains("llm"));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
#[cfg_attr(not(clusterby_chromium), ignore = "needs /usr/bin/chromium (Debian package chromium)")]
fn an_image_index_shows_its_own_images() {
    let dir = tempfile::tempdir().unwrap();
    let (_, imgs, _) = fixture(dir.path());
    let caps: Vec<String> = (0..40)
        .map(|i| {
            let thing = if i % 2 == 0 { ANIMALS[i / 2 % 5] } else { VEHICLES[i / 2 % 5] };
            serde_json::json!({"id": format!("img{i:02}.png"), "caption": format!("A photo of a {thing}")}).to_string()
        })
        .collect();
    let caps_file = dir.path().join("image-captions.jsonl");
    std::fs::write(&caps_file, caps.join("\n")).unwrap();
    let idx = dir.path().join("image-idx");
    let clip = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip");
    let o = Command::new(common::bin())
        .args(["index", s(&imgs), "--out", s(&idx), "--clip", s(&clip), "--captions", s(&caps_file)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let srv = serve(&[s(&idx)]);
    let base = srv.url.trim_end_matches('/');
    let info = json(&format!("{base}/api/info"));
    assert_eq!(
        (info["kind"].as_str(), info["images"].as_bool(), info["rows"].as_u64()),
        (Some("images"), Some(true), Some(40))
    );
    let q = json(&format!("{base}/api/query?by=object&k=2"));
    assert_eq!(q["clusters"].as_array().unwrap().len(), 2);
    let id = q["clusters"][0]["items"][0]["id"].as_str().unwrap().to_string();
    let (status, kind, _) = get(&format!("{base}/image?id={id}"));
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    assert_eq!(json(&format!("{base}/api/map?by=object&k=2"))["x"].as_array().unwrap().len(), 40);
    let dom = dump_dom(&format!("{}?by=object&k=2", srv.url));
    assert!(dom.contains("data-ready=\"1\"") && !dom.contains("class=\"error\""), "{dom}");
    assert!(dom.matches("<img src=\"/image?id=img").count() >= 2, "thumbnails from the index's own folder");
}
