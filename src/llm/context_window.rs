//! How many tokens the server holds per request, asked of the server itself, so that the
//! one-call prompt and its answer fit: a prompt past the window is refused (llama.cpp, vLLM:
//! HTTP 400) or silently cut from the front (Ollama), and an answer that runs out of room is
//! cut off mid-JSON. Every probe is a GET, except Ollama's empty generate request, which only
//! loads the model (as the call would); none asks for generation, and a server that answers
//! none of them means `None`.

use std::time::Duration;

use serde_json::{json, Value};

use super::LlmClient;

/// Per probe: a server that knows its window says so at once.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl LlmClient {
    /// The context window in tokens: [`LlmConfig::context_window`](super::LlmConfig) when set,
    /// else what the server reports (llama.cpp `/props`, vLLM's and others' `/v1/models`,
    /// TGI `/info`, Ollama `/api/ps`), asked once per client. `None` when nobody says (OpenAI).
    pub fn context_window(&self) -> Option<u32> {
        if let Some(n) = self.config.context_window {
            return Some(n);
        }
        *self.server_context.get_or_init(|| self.probe_context_window())
    }

    fn probe_context_window(&self) -> Option<u32> {
        let base = self.config.base_url.trim().trim_end_matches('/');
        let root = base.strip_suffix("/v1").unwrap_or(base);
        let model = self.config.model.as_str();
        // llama.cpp server: the context of one slot, which is what one request gets.
        if let Some(n) = self
            .get_json(&format!("{root}/props"), PROBE_TIMEOUT)
            .and_then(|v| positive(v.pointer("/default_generation_settings/n_ctx")))
        {
            return Some(n);
        }
        if let Some(n) = self.get_json(&format!("{base}/models"), PROBE_TIMEOUT).and_then(|v| listed_window(&v, model))
        {
            return Some(n);
        }
        // Text Generation Inference.
        if let Some(n) =
            self.get_json(&format!("{root}/info"), PROBE_TIMEOUT).and_then(|v| positive(v.get("max_total_tokens")))
        {
            return Some(n);
        }
        // Ollama: only a loaded model reports the window it runs with (its default, 2k to 4k
        // tokens in most versions, is far below most models' own); an empty generate loads it.
        self.get_json(&format!("{root}/api/version"), PROBE_TIMEOUT)?.get("version")?;
        let loaded = || self.get_json(&format!("{root}/api/ps"), PROBE_TIMEOUT).and_then(|v| ollama_window(&v, model));
        loaded().or_else(|| {
            self.post_json(&format!("{root}/api/generate"), &json!({"model": model}), self.config.timeout)?;
            loaded()
        })
    }

    fn get_json(&self, url: &str, timeout: Duration) -> Option<Value> {
        self.exchange_json(self.agent.get(url).config().timeout_global(Some(timeout)).build(), |r| r.call())
    }

    fn post_json(&self, url: &str, body: &Value, timeout: Duration) -> Option<Value> {
        let req = self.agent.post(url).config().timeout_global(Some(timeout)).build();
        self.exchange_json(req.header("Content-Type", "application/json"), |r| r.send(body.to_string().as_bytes()))
    }

    /// Sends `req` (with the API key, as the chat call would) and reads a 200's JSON body.
    fn exchange_json<B>(
        &self,
        mut req: ureq::RequestBuilder<B>,
        send: impl FnOnce(ureq::RequestBuilder<B>) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Option<Value> {
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let mut resp = send(req).ok()?;
        if resp.status().as_u16() != 200 {
            return None;
        }
        let text = resp.body_mut().with_config().limit(8 << 20).read_to_string().ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn positive(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64).filter(|&n| n > 0).map(|n| n.min(u32::MAX as u64) as u32)
}

/// The model's entry in an OpenAI-style model list (the only entry where the server serves one
/// model under any name, as llama.cpp does): vLLM's `max_model_len`, llama.cpp's `meta.n_ctx`,
/// or the `context_length` that OpenRouter and others list.
fn listed_window(v: &Value, model: &str) -> Option<u32> {
    let data = v.get("data")?.as_array()?;
    let entry = data
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model))
        .or_else(|| (data.len() == 1).then(|| &data[0]))?;
    ["/max_model_len", "/meta/n_ctx", "/context_length", "/context_window", "/max_context_length"]
        .iter()
        .find_map(|p| positive(entry.pointer(p)))
}

/// A loaded Ollama model's `context_length` ("llama3.2" is listed as "llama3.2:latest").
fn ollama_window(v: &Value, model: &str) -> Option<u32> {
    let tagged = if model.contains(':') { model.to_string() } else { format!("{model}:latest") };
    v.get("models")?
        .as_array()?
        .iter()
        .find(|m| {
            ["name", "model"]
                .iter()
                .any(|k| m.get(*k).and_then(Value::as_str).is_some_and(|n| n == model || n == tagged))
        })
        .and_then(|m| positive(m.get("context_length")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmConfig;
    use crate::testing::fake_server::{FakeServer, Reply};

    fn client(url: &str, model: &str) -> LlmClient {
        LlmClient::new(
            LlmConfig::new(url, model)
                .with_timeout(Duration::from_secs(2))
                .with_api_key_env("CLUSTERBY_TEST_KEY_UNSET"),
        )
        .unwrap()
    }

    fn not_found() -> Reply {
        Reply::raw(404, "{\"error\":\"not found\"}")
    }

    #[test]
    fn llama_cpp_reports_its_slot_context() {
        let s = FakeServer::with_handler(|r| match r.path.as_str() {
            "/props" => Reply::raw(200, r#"{"default_generation_settings":{"n_ctx":4096},"total_slots":1}"#),
            _ => not_found(),
        });
        let c = client(&s.base_url(), "default");
        assert_eq!(c.context_window(), Some(4096));
        assert_eq!(c.context_window(), Some(4096));
        assert_eq!(s.requests().len(), 1, "asked once per client");
    }

    #[test]
    fn vllm_lists_max_model_len_for_the_model_asked_for() {
        let s = FakeServer::with_handler(|r| match r.path.as_str() {
            "/v1/models" => Reply::raw(
                200,
                r#"{"object":"list","data":[{"id":"other","max_model_len":1000},{"id":"qwen","max_model_len":32768}]}"#,
            ),
            _ => not_found(),
        });
        assert_eq!(client(&s.base_url(), "qwen").context_window(), Some(32768));
        assert_eq!(client(&s.base_url(), "missing").context_window(), None);
    }

    #[test]
    fn ollama_is_asked_after_loading_the_model() {
        let loaded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let l = loaded.clone();
        let s = FakeServer::with_handler(move |r| match r.path.as_str() {
            "/api/version" => Reply::raw(200, r#"{"version":"0.12.0"}"#),
            "/api/generate" => {
                assert!(r.body.contains("\"llama3.2\""), "{}", r.body);
                l.store(true, std::sync::atomic::Ordering::SeqCst);
                Reply::raw(200, r#"{"model":"llama3.2","response":"","done":true}"#)
            }
            "/api/ps" if l.load(std::sync::atomic::Ordering::SeqCst) => Reply::raw(
                200,
                r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","context_length":4096}]}"#,
            ),
            "/api/ps" => Reply::raw(200, r#"{"models":[]}"#),
            "/v1/models" => Reply::raw(200, r#"{"object":"list","data":[{"id":"llama3.2:latest"},{"id":"qwen3:8b"}]}"#),
            _ => not_found(),
        });
        assert_eq!(client(&s.base_url(), "llama3.2").context_window(), Some(4096));
        assert!(loaded.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_configured_window_wins_and_silent_servers_give_none() {
        let s = FakeServer::with_handler(|_| not_found());
        let c = LlmClient::new(LlmConfig::new(s.base_url(), "m").with_context_window(Some(2048))).unwrap();
        assert_eq!(c.context_window(), Some(2048));
        assert!(s.requests().is_empty());
        assert_eq!(client(&s.base_url(), "m").context_window(), None);
        let paths: Vec<String> = s.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/props", "/v1/models", "/info", "/api/version"]);
    }
}
