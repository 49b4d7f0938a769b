//! The one small HTTP server on 127.0.0.1 that every test talks to (OpenAI-style endpoints and
//! the model hub alike): scripted or computed replies, delays, raw bodies, bodies cut short;
//! records what it was sent and how many requests overlapped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub body: String,
    pub authorization: Option<String>,
    /// The `Range` header, as sent.
    pub range: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Content-Length` to announce when it is not the body's: a larger one makes a body cut short.
    pub announced_len: Option<usize>,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// Sent as a server-sent event stream instead of `body`: each a `data:` line, with `gap`
    /// before each.
    pub events: Option<(Vec<String>, Duration)>,
}

impl Reply {
    /// A well-formed chat completion answering `content`, with usage 11 + 7 tokens.
    pub fn content(content: &str) -> Self {
        Self::counted(content, 11)
    }
    /// The same, counting `prompt_tokens` prompt tokens.
    pub fn counted(content: &str, prompt_tokens: u64) -> Self {
        let body = serde_json::json!({
            "id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 7, "total_tokens": prompt_tokens + 7}
        });
        Self::raw(200, &body.to_string())
    }
    pub fn status(status: u16, message: &str) -> Self {
        Self::raw(status, &serde_json::json!({"error": {"message": message}}).to_string())
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Self::bytes(status, body.as_bytes().to_vec())
    }
    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Self { status, body, announced_len: None, headers: Vec::new(), delay: Duration::ZERO, events: None }
    }
    pub fn with_announced_len(mut self, len: usize) -> Self {
        self.announced_len = Some(len);
        self
    }
    /// `content` streamed in `pieces` chat-completion chunks, `gap` apart, then a usage chunk
    /// (`prompt_tokens` + one completion token per piece) and `[DONE]`.
    pub fn streamed(content: &str, pieces: usize, gap: Duration, prompt_tokens: u64) -> Self {
        let chars: Vec<char> = content.chars().collect();
        let per = chars.len().div_ceil(pieces.max(1)).max(1);
        let mut events: Vec<String> = chars
            .chunks(per)
            .map(|c| {
                let piece: String = c.iter().collect();
                serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]})
                    .to_string()
            })
            .collect();
        let n = events.len() as u64;
        events.push(
            serde_json::json!({"object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}})
            .to_string(),
        );
        events.push("[DONE]".into());
        Self { events: Some((events, gap)), ..Self::raw(200, "") }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn with_delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    seen: Mutex<Vec<Request>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Answers chat completions with `script` in order, then 500s; anything else (a client
    /// asking about the server) with 404.
    pub fn start(script: Vec<Reply>) -> Self {
        let next = Mutex::new(script.into_iter());
        Self::with_handler(move |r| {
            if !r.path.ends_with("/chat/completions") {
                return Reply::status(404, "not found");
            }
            next.lock().unwrap().next().unwrap_or_else(|| Reply::status(500, "fake server script exhausted"))
        })
    }

    pub fn with_handler(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, sp) = (shared.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let sh = sh.clone();
                    std::thread::spawn(move || {
                        let _ = serve(c, &sh);
                    });
                }
            }
        });
        Self { addr, shared, stop, handle: Some(handle) }
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// `http://127.0.0.1:PORT`, for clients that build their own paths (the model hub).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The chat completions among [`requests`](Self::requests).
    pub fn chat_requests(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path.ends_with("/chat/completions")).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(c: TcpStream, sh: &Shared) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(c.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut len, mut authorization, mut range) = (0usize, None, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(v.trim().to_string()),
                "range" => range = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let req = Request { path, body: String::from_utf8_lossy(&body).into_owned(), authorization, range };
    sh.seen.lock().unwrap().push(req.clone());
    let now = sh.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sh.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = (sh.handler)(&req);
    std::thread::sleep(reply.delay);
    sh.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut out = c;
    if let Some((events, gap)) = &reply.events {
        out.write_all(
            format!("HTTP/1.1 {} X\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n", reply.status)
                .as_bytes(),
        )?;
        out.flush()?;
        for e in events {
            std::thread::sleep(*gap);
            out.write_all(format!("data: {e}\n\n").as_bytes())?;
            out.flush()?;
        }
        return Ok(());
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.announced_len.unwrap_or(reply.body.len())
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&reply.body)?;
    out.flush()
}
