//! OpenAI-compatible chat completions with timeouts, retries, a concurrency limit and usage counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cache::{AnswerCache, CachedAnswer};
use super::chat::{ChatOptions, Completion, Message};
use super::compat::{rejects_response_format, Compat, REASONING_ALLOWANCE};
use super::config::LlmConfig;
use super::stream::{parse_completion, parse_event_stream, snippet, StreamError, STREAM_TIMEOUT_FACTOR};
use super::{LlmError, ENV_API_KEY};
use crate::util::redact::redact_url;

/// Calls, tokens and time spent, reported in every result that used a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmUsage {
    pub model: String,
    /// Completed calls (answers received).
    pub calls: u64,
    /// Calls that failed after all retries.
    pub failed_calls: u64,
    pub retries: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Sum of the calls' wall times (overlapping calls add up).
    pub seconds: f64,
    /// Answers served from the on-disk cache instead of the server.
    #[serde(default)]
    pub cache_hits: u64,
}

impl LlmUsage {
    /// What was spent since `before` (an earlier snapshot of the same client).
    pub fn since(&self, before: &LlmUsage) -> LlmUsage {
        LlmUsage {
            model: self.model.clone(),
            calls: self.calls - before.calls,
            failed_calls: self.failed_calls - before.failed_calls,
            retries: self.retries - before.retries,
            prompt_tokens: self.prompt_tokens - before.prompt_tokens,
            completion_tokens: self.completion_tokens - before.completion_tokens,
            seconds: self.seconds - before.seconds,
            cache_hits: self.cache_hits - before.cache_hits,
        }
    }
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    micros: AtomicU64,
    cache_hits: AtomicU64,
}

/// Counting semaphore: a client shared by worker threads keeps at most `n` calls in flight.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *f == 0 {
            f = self.cv.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        *f -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

/// A thread-safe client; share it by reference across worker threads.
pub struct LlmClient {
    pub(super) config: LlmConfig,
    pub(super) agent: ureq::Agent,
    pub(super) key: Option<String>,
    /// Keeps the key (and key-shaped words a server echoes) out of answers and errors.
    redactor: crate::util::redact::Redactor,
    /// Full chat-completions URL.
    url: String,
    /// The same, safe to print.
    endpoint: String,
    slots: Slots,
    counters: Counters,
    compat: Compat,
    /// What the server said about its context window, asked once.
    pub(super) server_context: std::sync::OnceLock<Option<u32>>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.config.model)
            .field("api_key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let base = config.base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "base URL {:?} must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)",
                redact_url(base)
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Config("the model name is empty".into()));
        }
        let url = format!("{base}/chat/completions");
        let key = crate::util::paths::non_empty_env(&config.api_key_env).or_else(|| {
            (config.api_key_env == ENV_API_KEY).then(|| crate::util::paths::non_empty_env("OPENAI_API_KEY")).flatten()
        });
        let t = Some(config.timeout);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(t)
            .user_agent(format!("clusterby/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            endpoint: redact_url(&url),
            url,
            agent,
            redactor: crate::util::redact::Redactor::new(key.clone()),
            key,
            slots: Slots { free: Mutex::new(config.concurrency.max(1)), cv: Condvar::new() },
            counters: Counters::default(),
            compat: Compat::default(),
            server_context: std::sync::OnceLock::new(),
            config,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The endpoint as safe to print (no credentials or query string).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Totals since the client was made.
    pub fn usage(&self) -> LlmUsage {
        let c = &self.counters;
        LlmUsage {
            model: self.config.model.clone(),
            calls: c.calls.load(Ordering::Relaxed),
            failed_calls: c.failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            prompt_tokens: c.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: c.completion_tokens.load(Ordering::Relaxed),
            seconds: c.micros.load(Ordering::Relaxed) as f64 / 1e6,
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// One chat completion, retried on transient failures, within the configured deadline. The
    /// answer and any error come back with secrets redacted.
    pub fn chat(&self, messages: &[Message], opts: &ChatOptions) -> Result<Completion, LlmError> {
        let result = self.chat_unredacted(messages, opts);
        match result {
            Ok(mut c) => {
                c.content = self.redactor.text(&c.content);
                Ok(c)
            }
            Err(e) => Err(e.redacted(&self.redactor)),
        }
    }

    fn chat_unredacted(&self, messages: &[Message], opts: &ChatOptions) -> Result<Completion, LlmError> {
        let _slot = self.slots.acquire();
        let start = Instant::now();
        let deadline = start + self.config.deadline;
        let mut level = opts.format_level();
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            let err = match self.attempt(messages, opts, level, deadline) {
                Ok(mut c) => {
                    c.attempts = attempts;
                    break Ok(c);
                }
                Err(e) if level > 0 && rejects_response_format(&e) => {
                    // Some servers reject (this kind of) response_format; prompts ask for JSON anyway.
                    level -= 1;
                    attempts -= 1;
                    continue;
                }
                Err(e) if self.compat.learn_from_rejection(&e.0) => {
                    attempts -= 1;
                    continue;
                }
                Err(e) => e,
            };
            let (e, retry_after) = err;
            let backoff = self.config.backoff.saturating_mul(1 << (attempts - 1).min(16)).min(Duration::from_secs(30));
            let wait = retry_after.map_or(backoff, |r| r.min(backoff.max(Duration::from_secs(1)) * 4));
            let past_deadline = Instant::now() + wait >= deadline;
            if !e.is_transient() || attempts > self.config.max_retries || past_deadline {
                let e = match (past_deadline && e.is_transient(), &e) {
                    (true, LlmError::Timeout { url, .. }) => {
                        LlmError::Deadline { url: url.clone(), seconds: self.config.deadline.as_secs_f64() }
                    }
                    _ => e,
                };
                break Err(if attempts > 1 { LlmError::Exhausted { attempts, last: Box::new(e) } } else { e });
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait);
        };
        let secs = start.elapsed().as_secs_f64();
        self.counters.micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        match &result {
            Ok(c) => {
                self.counters.calls.fetch_add(1, Ordering::Relaxed);
                self.counters.prompt_tokens.fetch_add(c.prompt_tokens, Ordering::Relaxed);
                self.counters.completion_tokens.fetch_add(c.completion_tokens, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        result.map(|mut c| {
            c.seconds = secs;
            c
        })
    }

    /// [`chat`](Self::chat) through an answer cache: a cached answer costs no call; a new one is
    /// stored before it is returned. The flag says whether it came from the cache.
    pub fn chat_cached(
        &self,
        cache: &AnswerCache,
        messages: &[Message],
        opts: &ChatOptions,
    ) -> Result<(Completion, bool), LlmError> {
        let key = AnswerCache::key(&self.config.model, messages, opts);
        if let Some(a) = cache.get(&key) {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            let c = Completion {
                content: a.content,
                prompt_tokens: a.prompt_tokens,
                completion_tokens: a.completion_tokens,
                seconds: 0.0,
                attempts: 0,
            };
            return Ok((c, true));
        }
        let c = self.chat(messages, opts)?;
        let stored = CachedAnswer {
            content: c.content.clone(),
            prompt_tokens: c.prompt_tokens,
            completion_tokens: c.completion_tokens,
        };
        // A cache that cannot be written costs resumability, not the answer.
        if let Err(e) = cache.put(&key, stored) {
            eprintln!("warning: answer not cached: {e}");
        }
        Ok((c, false))
    }

    /// The chat request's JSON body, shaped by what the server has shown it accepts.
    /// `format_level`: 2 asks for the schema, 1 for any JSON object, 0 for free text.
    fn request_body(
        &self,
        messages: &[Message],
        opts: &ChatOptions,
        format_level: u8,
        stream: bool,
    ) -> serde_json::Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "stream": stream,
        });
        if stream && !self.compat.no_stream_options.load(Ordering::Relaxed) {
            // The token counts come in a last chunk only when asked for.
            body["stream_options"] = json!({"include_usage": true});
        }
        if self.compat.completion_tokens.load(Ordering::Relaxed) {
            // Reasoning models count their hidden reasoning against this limit too.
            body["max_completion_tokens"] = json!(opts.max_tokens.saturating_add(REASONING_ALLOWANCE));
        } else {
            body["max_tokens"] = json!(opts.max_tokens);
        }
        if !self.compat.default_temperature.load(Ordering::Relaxed) {
            body["temperature"] = json!(opts.temperature);
        }
        match (format_level, &opts.json_schema) {
            (2, Some(schema)) => {
                body["response_format"] =
                    json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
            }
            (1..=2, _) => body["response_format"] = json!({"type": "json_object"}),
            _ => {}
        }
        body
    }

    fn attempt(
        &self,
        messages: &[Message],
        opts: &ChatOptions,
        format_level: u8,
        deadline: Instant,
    ) -> Result<Completion, (LlmError, Option<Duration>)> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((LlmError::Timeout { url: self.endpoint.clone(), seconds: 0.0 }, None));
        }
        let stream = opts.stream && !self.compat.no_stream.load(Ordering::Relaxed);
        let body = self.request_body(messages, opts, format_level, stream);
        let mut req = self.agent.post(&self.url).header("Content-Type", "application/json");
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        // The exchange never outlives the call's deadline. A streamed one's timeout bounds each
        // wait for bytes (the prompt's processing, then the gaps between tokens).
        let whole =
            if stream { self.config.timeout.saturating_mul(STREAM_TIMEOUT_FACTOR) } else { self.config.timeout };
        let mut cfg = req.config().timeout_global(Some(whole.min(left)));
        if stream {
            cfg = cfg.timeout_per_read(Some(self.config.timeout.min(left)));
        }
        req = cfg.build();
        let url = self.endpoint.clone();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = req.send(&bytes[..]).map_err(|e| (self.network_error(e), None))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(300.0)));
        let event_stream = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
        if (200..300).contains(&status) && event_stream {
            let reader = std::io::BufReader::new(resp.body_mut().with_config().limit(32 << 20).reader());
            return parse_event_stream(reader).map_err(|e| match e {
                StreamError::Io(e) => (self.io_error(e), None),
                StreamError::Bad(reason) => (LlmError::BadResponse { url, reason }, None),
            });
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(32 << 20)
            .read_to_string()
            .map_err(|e| (self.network_error(e), retry_after))?;
        if !(200..300).contains(&status) {
            return Err((LlmError::Status { url, status, body: snippet(&text) }, retry_after));
        }
        parse_completion(&text).map_err(|reason| (LlmError::BadResponse { url, reason }, None))
    }

    /// A read of a streamed body that failed: ureq's errors arrive wrapped in `io::Error`.
    fn io_error(&self, e: std::io::Error) -> LlmError {
        if e.kind() == std::io::ErrorKind::TimedOut {
            return LlmError::Timeout { url: self.endpoint.clone(), seconds: self.config.timeout.as_secs_f64() };
        }
        match e.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
            Some(Ok(u)) => self.network_error(*u),
            Some(Err(other)) => LlmError::Connect { url: self.endpoint.clone(), message: other.to_string() },
            None => LlmError::Connect { url: self.endpoint.clone(), message: "connection failed mid-answer".into() },
        }
    }

    fn network_error(&self, e: ureq::Error) -> LlmError {
        let url = self.endpoint.clone();
        match e {
            ureq::Error::Timeout(_) => LlmError::Timeout { url, seconds: self.config.timeout.as_secs_f64() },
            ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
                LlmError::Timeout { url, seconds: self.config.timeout.as_secs_f64() }
            }
            other => LlmError::Connect { url, message: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fake_server::{FakeServer, Reply};
    use serde_json::Value;

    fn client(url: &str) -> LlmClient {
        LlmClient::new(
            LlmConfig::new(url, "m")
                .with_timeout(Duration::from_millis(800))
                .with_backoff(Duration::from_millis(10))
                .with_max_retries(2)
                .with_api_key_env("CLUSTERBY_TEST_KEY_UNSET"),
        )
        .unwrap()
    }

    fn hi() -> Vec<Message> {
        vec![Message::user("hi")]
    }

    #[test]
    fn answer_and_usage_are_counted() {
        let s = FakeServer::start(vec![Reply::content("hello")]);
        let c = client(&s.base_url());
        let a = c.chat(&hi(), &ChatOptions::default()).unwrap();
        assert_eq!(a.content, "hello");
        assert_eq!((a.prompt_tokens, a.completion_tokens, a.attempts), (11, 7, 1));
        let u = c.usage();
        assert_eq!((u.calls, u.failed_calls, u.retries, u.prompt_tokens), (1, 0, 0, 11));
        let seen = s.requests();
        assert_eq!(seen[0].path, "/v1/chat/completions");
        let body: Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(body["model"], "m");
        assert_eq!(body["messages"][0]["content"], "hi");
    }

    #[test]
    fn retries_500_then_succeeds() {
        let s = FakeServer::start(vec![Reply::status(500, "boom"), Reply::status(503, "busy"), Reply::content("ok")]);
        let c = client(&s.base_url());
        let a = c.chat(&hi(), &ChatOptions::default()).unwrap();
        assert_eq!((a.content.as_str(), a.attempts), ("ok", 3));
        assert_eq!(c.usage().retries, 2);
    }

    #[test]
    fn retries_429_honouring_retry_after() {
        let s = FakeServer::start(vec![
            Reply::status(429, "slow down").with_header("Retry-After", "0"),
            Reply::content("ok"),
        ]);
        let c = client(&s.base_url());
        assert_eq!(c.chat(&hi(), &ChatOptions::default()).unwrap().attempts, 2);
    }

    #[test]
    fn gives_up_after_retries_and_counts_the_failure() {
        let s = FakeServer::start(vec![Reply::status(500, "a"); 5]);
        let c = client(&s.base_url());
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert!(matches!(&e, LlmError::Exhausted { attempts: 3, .. }), "{e}");
        assert!(e.to_string().contains("HTTP 500"), "{e}");
        assert_eq!(s.requests().len(), 3);
        assert_eq!(c.usage().failed_calls, 1);
    }

    #[test]
    fn client_errors_are_not_retried() {
        let s = FakeServer::start(vec![Reply::status(401, "bad key"), Reply::content("never")]);
        let c = client(&s.base_url());
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert!(matches!(e, LlmError::Status { status: 401, .. }), "{e}");
        assert_eq!(s.requests().len(), 1);
    }

    #[test]
    fn refused_connection_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client(&format!("http://127.0.0.1:{port}/v1"));
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        let LlmError::Exhausted { last, attempts: 3 } = &e else { panic!("{e:?}") };
        assert!(matches!(**last, LlmError::Connect { .. }), "{e}");
    }

    #[test]
    fn hanging_server_times_out() {
        let s = FakeServer::start(vec![Reply::content("late").with_delay(Duration::from_secs(3)); 3]);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m").with_timeout(Duration::from_millis(300)).with_max_retries(0),
        )
        .unwrap();
        let t = Instant::now();
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert!(matches!(e, LlmError::Timeout { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    }

    #[test]
    fn non_json_body_is_a_bad_response() {
        let s = FakeServer::start(vec![Reply::raw(200, "<html>gateway</html>")]);
        let c = client(&s.base_url());
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert!(matches!(e, LlmError::BadResponse { .. }), "{e}");
        assert!(e.to_string().contains("gateway"));
    }

    #[test]
    fn response_format_is_dropped_when_rejected() {
        let s = FakeServer::start(vec![
            Reply::status(400, "{\"error\":\"response_format not supported\"}"),
            Reply::content("{\"a\":1}"),
        ]);
        let c = client(&s.base_url());
        let a = c.chat(&hi(), &ChatOptions::default().with_json(true)).unwrap();
        assert_eq!(a.content, "{\"a\":1}");
        let r = s.requests();
        assert!(r[0].body.contains("response_format") && !r[1].body.contains("response_format"));
    }

    #[test]
    fn json_schema_falls_back_step_by_step() {
        let s = FakeServer::start(vec![
            Reply::status(400, "json_schema unsupported"),
            Reply::status(400, "response_format unsupported"),
            Reply::content("[]"),
        ]);
        let c = client(&s.base_url());
        let opts = ChatOptions::default().with_json_schema(json!({"type": "array"}));
        assert_eq!(c.chat(&hi(), &opts).unwrap().attempts, 1);
        let r = s.requests();
        assert!(r[0].body.contains("\"json_schema\""));
        assert!(r[1].body.contains("json_object"));
        assert!(!r[2].body.contains("response_format"));
    }

    #[test]
    fn parameters_a_reasoning_model_refuses_are_replaced_and_remembered() {
        let s = FakeServer::start(vec![
            Reply::status(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            ),
            Reply::status(
                400,
                "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.",
            ),
            Reply::content("ok"),
            Reply::content("again"),
        ]);
        let c = client(&s.base_url());
        let opts = ChatOptions::default().with_max_tokens(100);
        let a = c.chat(&hi(), &opts).unwrap();
        assert_eq!((a.content.as_str(), a.attempts), ("ok", 1));
        assert_eq!(c.chat(&hi(), &opts).unwrap().content, "again");
        let bodies: Vec<Value> = s.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        assert_eq!((bodies[0]["max_tokens"].as_u64(), bodies[0]["temperature"].as_f64()), (Some(100), Some(0.0)));
        assert!(bodies[1].get("max_tokens").is_none() && bodies[1]["temperature"] == 0.0);
        for b in &bodies[2..] {
            assert_eq!(b["max_completion_tokens"].as_u64(), Some(100 + REASONING_ALLOWANCE as u64), "{b}");
            assert!(b.get("max_tokens").is_none() && b.get("temperature").is_none(), "{b}");
        }
        assert_eq!((c.usage().retries, c.usage().failed_calls), (0, 0));

        // Any other 400 is the caller's to see, at once.
        let s = FakeServer::start(vec![Reply::status(400, "max_tokens must be at least 1"), Reply::content("never")]);
        let e = client(&s.base_url()).chat(&hi(), &opts).unwrap_err();
        assert!(matches!(e, LlmError::Status { status: 400, .. }), "{e}");
        assert_eq!(s.requests().len(), 1);
    }

    fn quick(url: &str, timeout_ms: u64) -> LlmClient {
        LlmClient::new(LlmConfig::new(url, "m").with_timeout(Duration::from_millis(timeout_ms)).with_max_retries(0))
            .unwrap()
    }

    #[test]
    fn a_streamed_answer_may_outlast_the_timeout_while_tokens_keep_coming() {
        let answer = r#"{"categories": [{"name": "Wind", "terms": ["flute", "trumpet"]}]}"#;
        let streamed = ChatOptions::default().with_max_tokens(50).with_stream(true);
        // 12 pieces 60 ms apart: 720 ms in all against a 300 ms timeout.
        let s = FakeServer::start(vec![Reply::streamed(answer, 12, Duration::from_millis(60), 321)]);
        let t = Instant::now();
        let a = quick(&s.base_url(), 300).chat(&hi(), &streamed).unwrap();
        assert!(t.elapsed() > Duration::from_millis(600), "{:?}", t.elapsed());
        assert_eq!(a.content, answer);
        // Counts from the usage chunk: one completion token per piece sent.
        assert_eq!(a.prompt_tokens, 321);
        assert!((10..=12).contains(&a.completion_tokens), "{}", a.completion_tokens);
        let body: Value = serde_json::from_str(&s.requests()[0].body).unwrap();
        assert_eq!(
            (body["stream"].as_bool(), body["stream_options"]["include_usage"].as_bool()),
            (Some(true), Some(true))
        );

        // The same wait for one whole body is a timeout.
        let s = FakeServer::start(vec![Reply::content(answer).with_delay(Duration::from_millis(720))]);
        let e = quick(&s.base_url(), 300).chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert!(matches!(e, LlmError::Timeout { .. }), "{e}");

        // A stream that stalls longer than the timeout is one too, and is retried.
        let s = FakeServer::start(vec![
            Reply::streamed(answer, 3, Duration::from_millis(700), 5),
            Reply::streamed(answer, 3, Duration::ZERO, 5),
        ]);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m")
                .with_timeout(Duration::from_millis(300))
                .with_max_retries(1)
                .with_backoff(Duration::from_millis(10)),
        )
        .unwrap();
        let a = c.chat(&hi(), &streamed).unwrap();
        assert_eq!((a.content.as_str(), a.attempts, c.usage().retries), (answer, 2, 1));

        // A server that ignores `stream` and sends one body is read as usual.
        let s = FakeServer::start(vec![Reply::content("whole")]);
        assert_eq!(quick(&s.base_url(), 300).chat(&hi(), &streamed).unwrap().content, "whole");

        // An error object inside the stream is a bad answer, not an empty one.
        let mut bad = Reply::streamed("x", 1, Duration::ZERO, 1);
        bad.events = Some((vec![r#"{"error": {"message": "model crashed"}}"#.into()], Duration::ZERO));
        let e = quick(&FakeServer::start(vec![bad]).base_url(), 300).chat(&hi(), &streamed).unwrap_err();
        assert!(matches!(&e, LlmError::BadResponse { reason, .. } if reason.contains("model crashed")), "{e}");

        // Streaming does not change the answer cache's key.
        assert_eq!(
            AnswerCache::key("m", &hi(), &streamed),
            AnswerCache::key("m", &hi(), &ChatOptions::default().with_max_tokens(50))
        );
    }

    #[test]
    fn stream_options_or_streaming_refused_are_dropped_and_remembered() {
        let answer = "fine";
        let s = FakeServer::start(vec![
            Reply::status(400, "Unrecognized request argument supplied: stream_options"),
            Reply::streamed(answer, 2, Duration::ZERO, 3),
            Reply::streamed(answer, 2, Duration::ZERO, 3),
        ]);
        let c = quick(&s.base_url(), 500);
        let streamed = ChatOptions::default().with_stream(true);
        assert_eq!(c.chat(&hi(), &streamed).unwrap().content, answer);
        assert_eq!(c.chat(&hi(), &streamed).unwrap().content, answer);
        let bodies: Vec<Value> = s.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        assert!(bodies[0].get("stream_options").is_some());
        for b in &bodies[1..] {
            assert!(b.get("stream_options").is_none() && b["stream"] == true, "{b}");
        }

        let s = FakeServer::start(vec![
            Reply::status(400, "streaming is not supported by this deployment"),
            Reply::content(answer),
        ]);
        let c = quick(&s.base_url(), 500);
        assert_eq!(c.chat(&hi(), &streamed).unwrap().content, answer);
        let last: Value = serde_json::from_str(&s.requests()[1].body).unwrap();
        assert_eq!(last["stream"], false);
        assert_eq!(c.usage().retries, 0);
    }

    #[test]
    fn a_key_the_server_echoes_never_leaves_the_client() {
        let key = "sk-test-0123456789abcdefghij";
        std::env::set_var("CLUSTERBY_TEST_ECHO_KEY", key);
        let echo = |status: u16| Reply::status(status, &format!("bad request from Authorization: Bearer {key}"));
        for reply in [echo(401), echo(500), Reply::content(&format!("the names are {key} and Bearer {key}"))] {
            let s = FakeServer::start(vec![reply]);
            let c = LlmClient::new(
                LlmConfig::new(s.base_url(), "m").with_api_key_env("CLUSTERBY_TEST_ECHO_KEY").with_max_retries(0),
            )
            .unwrap();
            let text = match c.chat(&hi(), &ChatOptions::default()) {
                Ok(a) => a.content,
                Err(e) => format!("{e} {e:?}"),
            };
            assert!(!text.contains(key) && text.contains("[redacted]"), "{text}");
            assert_eq!(
                s.requests()[0].authorization.as_deref(),
                Some(format!("Bearer {key}").as_str()),
                "sent as it is"
            );
        }
        // Cached answers are redacted answers.
        let dir = tempfile::tempdir().unwrap();
        let cache = AnswerCache::open(&dir.path().join("cache.jsonl")).unwrap();
        let s = FakeServer::start(vec![Reply::content(&format!("echo {key}"))]);
        let c = LlmClient::new(LlmConfig::new(s.base_url(), "m").with_api_key_env("CLUSTERBY_TEST_ECHO_KEY")).unwrap();
        c.chat_cached(&cache, &hi(), &ChatOptions::default()).unwrap();
        let stored = std::fs::read_to_string(dir.path().join("cache.jsonl")).unwrap();
        assert!(!stored.contains(key) && stored.contains("[redacted]"), "{stored}");
    }

    #[test]
    fn a_stream_kept_alive_forever_ends_at_the_deadline() {
        // A token every 200 ms for 60 s: each silence is short, the whole is not.
        let tokens: Vec<String> =
            (0..300).map(|_| json!({"choices": [{"index": 0, "delta": {"content": "a"}}]}).to_string()).collect();
        let mut reply = Reply::content("unused");
        reply.events = Some((tokens, Duration::from_millis(200)));
        let s = FakeServer::start(vec![reply.clone(), reply.clone(), reply]);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m")
                .with_timeout(Duration::from_secs(1))
                .with_deadline(Duration::from_millis(1500))
                .with_max_retries(2)
                .with_backoff(Duration::from_millis(10)),
        )
        .unwrap();
        let t = Instant::now();
        let e = c.chat(&hi(), &ChatOptions::default().with_stream(true)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(4), "took {:?}: {e}", t.elapsed());
        assert!(e.to_string().contains("deadline") || matches!(e, LlmError::Timeout { .. }), "{e}");
    }

    #[test]
    fn api_key_is_sent_but_never_shown() {
        std::env::set_var("CLUSTERBY_TEST_KEY_SET", "sk-secret-123");
        let s = FakeServer::start(vec![Reply::status(401, "nope")]);
        let c = LlmClient::new(
            LlmConfig::new(format!("{}?api-key=sk-secret-123", s.base_url()), "m")
                .with_api_key_env("CLUSTERBY_TEST_KEY_SET"),
        )
        .unwrap();
        let e = c.chat(&hi(), &ChatOptions::default()).unwrap_err();
        assert_eq!(s.requests()[0].authorization.as_deref(), Some("Bearer sk-secret-123"));
        for shown in [e.to_string(), format!("{c:?}"), c.endpoint().to_string()] {
            assert!(!shown.contains("secret"), "{shown}");
        }
    }

    #[test]
    fn concurrency_limit_holds() {
        let s = FakeServer::start(vec![Reply::content("x").with_delay(Duration::from_millis(100)); 6]);
        let c = LlmClient::new(LlmConfig::new(s.base_url(), "m").with_concurrency(2)).unwrap();
        std::thread::scope(|sc| {
            for _ in 0..6 {
                sc.spawn(|| c.chat(&hi(), &ChatOptions::default()).unwrap());
            }
        });
        assert_eq!(s.max_in_flight(), 2);
        assert_eq!(c.usage().calls, 6);
    }

    #[test]
    fn bad_config_is_rejected() {
        assert!(matches!(LlmClient::new(LlmConfig::new("localhost:8080", "m")), Err(LlmError::Config(_))));
        assert!(matches!(LlmClient::new(LlmConfig::new("http://x/v1", " ")), Err(LlmError::Config(_))));
        assert_eq!(redact_url("https://u:p@h:1/v1?key=s"), "https://h:1/v1");
    }
}
