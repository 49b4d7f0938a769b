//! The LLM side: one OpenAI-compatible chat-completions client (Ollama, vLLM, llama.cpp server,
//! OpenAI), tolerant JSON extraction from model output, and an on-disk answer cache.
//!
//! clusterby's query path makes at most one call through this client; the IC|TC baseline
//! ([`crate::experiments::ictc`]) makes 2N+1 through the same one, so both are measured alike.

pub mod cache;
mod chat;
pub mod client;
mod compat;
mod config;
mod context_window;
pub mod json;
mod pool;
mod stream;

pub use cache::AnswerCache;
pub use chat::{ChatOptions, Completion, Content, Message};
pub use client::{LlmClient, LlmUsage};
pub use config::{LlmConfig, DEFAULT_DEADLINE};
pub use json::{
    distinct_described_categories, extract_json, parse_categories, parse_described_categories, parse_names,
    DescribedCategory,
};
pub use pool::ClientPool;

/// Environment variable read for the endpoint when `--llm-base-url` is not given.
pub const ENV_BASE_URL: &str = "CLUSTERBY_LLM_BASE_URL";
/// Environment variable read for the model name when `--llm-model` is not given.
pub const ENV_MODEL: &str = "CLUSTERBY_LLM_MODEL";
/// Environment variable holding the API key by default (then `OPENAI_API_KEY`).
pub const ENV_API_KEY: &str = "CLUSTERBY_LLM_API_KEY";

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum LlmError {
    #[error("LLM endpoint {url}: cannot connect ({message})")]
    Connect { url: String, message: String },
    #[error("LLM endpoint {url}: no answer within {seconds:.0} s")]
    Timeout { url: String, seconds: f64 },
    #[error("LLM endpoint {url}: the call ran past its deadline of {seconds:.0} s (--llm-deadline), retries included")]
    Deadline { url: String, seconds: f64 },
    #[error("LLM endpoint {url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("LLM endpoint {url}: unusable response: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("{last} (gave up after {attempts} attempts)")]
    Exhausted { attempts: usize, last: Box<LlmError> },
    #[error("LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// The same error with `r`'s secrets removed from every message a server could fill.
    pub fn redacted(self, r: &crate::util::redact::Redactor) -> LlmError {
        match self {
            LlmError::Connect { url, message } => LlmError::Connect { url, message: r.text(&message) },
            LlmError::Status { url, status, body } => LlmError::Status { url, status, body: r.text(&body) },
            LlmError::BadResponse { url, reason } => LlmError::BadResponse { url, reason: r.text(&reason) },
            LlmError::Exhausted { attempts, last } => {
                LlmError::Exhausted { attempts, last: Box::new(last.redacted(r)) }
            }
            other => other,
        }
    }

    /// Worth another attempt: the server may recover (429, 5xx, network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Connect { .. } | LlmError::Timeout { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            _ => false,
        }
    }
}

/// Runs `f` on `0..n` with `workers` threads (calls to a server are I/O-bound, so threads,
/// not rayon), ticking a progress bar; results in index order.
pub fn parallel_map<T: Send>(
    n: usize,
    workers: usize,
    what: &str,
    progress: bool,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let out: std::sync::Mutex<Vec<Option<T>>> = std::sync::Mutex::new((0..n).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let bar = crate::util::progress::bar(n as u64, what, progress);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let v = f(i);
                out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(v);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    out.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|v| v.expect("every index ran")).collect()
}
