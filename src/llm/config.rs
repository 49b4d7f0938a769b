//! Where and how to call the model.

use std::time::Duration;

use super::{ENV_API_KEY, ENV_BASE_URL, ENV_MODEL};

/// Where and how to call the model. The API key itself is never stored here: only the name of
/// the environment variable that holds it, so printing a config cannot leak it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Base URL up to and including `/v1` (`http://127.0.0.1:11434/v1` for Ollama).
    pub base_url: String,
    pub model: String,
    /// Environment variable holding the API key; unset or empty means no Authorization header.
    pub api_key_env: String,
    /// Limit for one HTTP exchange, connect to last byte; for a streamed answer
    /// ([`ChatOptions::stream`]), for each wait for bytes.
    pub timeout: Duration,
    /// Attempts after the first, on 429, 5xx, timeouts and connection errors.
    pub max_retries: usize,
    /// First backoff; doubled per retry, capped at 30 s; a `Retry-After` header wins when shorter.
    pub backoff: Duration,
    /// Calls in flight at once across all threads using this client.
    pub concurrency: usize,
    /// Tokens the server holds per request (prompt + answer). `None`: asked of the server
    /// where it says (see [`LlmClient::context_window`]).
    pub context_window: Option<u32>,
    /// The most one call may take in all, retries and backoff included; a server that keeps a
    /// stream alive with a token every few seconds is cut off here.
    pub deadline: Duration,
}

/// One call's deadline by default: the one-call prompt is short, and a local 1.5B model on
/// two cores answers it in about a minute; a stalled server gives up within five.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "default".into(),
            api_key_env: ENV_API_KEY.into(),
            timeout: Duration::from_secs(120),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            concurrency: 4,
            context_window: None,
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl LlmConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self { base_url: base_url.into(), model: model.into(), ..Default::default() }
    }

    /// Defaults overridden by `CLUSTERBY_LLM_BASE_URL` and `CLUSTERBY_LLM_MODEL` when set.
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(u) = crate::util::paths::non_empty_env(ENV_BASE_URL) {
            c.base_url = u;
        }
        if let Some(m) = crate::util::paths::non_empty_env(ENV_MODEL) {
            c.model = m;
        }
        c
    }

    pub fn with_base_url(mut self, u: impl Into<String>) -> Self {
        self.base_url = u.into();
        self
    }
    pub fn with_model(mut self, m: impl Into<String>) -> Self {
        self.model = m.into();
        self
    }
    pub fn with_api_key_env(mut self, v: impl Into<String>) -> Self {
        self.api_key_env = v.into();
        self
    }
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn with_max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }
    pub fn with_backoff(mut self, b: Duration) -> Self {
        self.backoff = b;
        self
    }
    pub fn with_context_window(mut self, tokens: Option<u32>) -> Self {
        self.context_window = tokens;
        self
    }
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }
}
