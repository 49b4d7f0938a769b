//! What a chat call sends (messages, options) and what it gets back.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Content,
}

/// Plain text, or OpenAI content parts (text and `image_url` parts for vision models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

impl Message {
    pub fn system(s: impl Into<String>) -> Self {
        Self { role: "system".into(), content: Content::Text(s.into()) }
    }
    pub fn user(s: impl Into<String>) -> Self {
        Self { role: "user".into(), content: Content::Text(s.into()) }
    }
    /// A user message with a text part and an image sent inline as a data URL.
    pub fn user_with_image(text: impl Into<String>, data_url: String) -> Self {
        let parts = vec![
            json!({"type": "text", "text": text.into()}),
            json!({"type": "image_url", "image_url": {"url": data_url}}),
        ];
        Self { role: "user".into(), content: Content::Parts(parts) }
    }
    /// The text of the message (text parts joined).
    pub fn text(&self) -> String {
        match &self.content {
            Content::Text(t) => t.clone(),
            Content::Parts(p) => {
                p.iter().filter_map(|v| v.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatOptions {
    pub max_tokens: u32,
    pub temperature: f32,
    /// Ask for `response_format: json_object`; dropped automatically if the server rejects it.
    pub json: bool,
    /// Ask for output matching this JSON schema (`response_format: json_schema`; llama.cpp,
    /// vLLM, Ollama and OpenAI constrain decoding to it). Falls back to `json_object`, then to
    /// nothing, when the server rejects it.
    pub json_schema: Option<Value>,
    /// Ask for the answer as a stream of tokens (`stream: true`). The timeout then bounds the
    /// silence between reads instead of the whole exchange, so a long answer from a slow but
    /// working server completes, while a stalled one is still caught. Servers that answer
    /// with one JSON body anyway are read as such. Not part of the answer-cache key: the
    /// answer is the same.
    #[serde(skip)]
    pub stream: bool,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self { max_tokens: 256, temperature: 0.0, json: false, json_schema: None, stream: false }
    }
}

impl ChatOptions {
    pub fn with_max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }
    pub fn with_json(mut self, j: bool) -> Self {
        self.json = j;
        self
    }
    pub fn with_json_schema(mut self, schema: Value) -> Self {
        self.json = true;
        self.json_schema = Some(schema);
        self
    }
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// 2 = schema, 1 = json_object, 0 = free text.
    pub(super) fn format_level(&self) -> u8 {
        match (&self.json_schema, self.json) {
            (Some(_), _) => 2,
            (None, true) => 1,
            _ => 0,
        }
    }
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub seconds: f64,
    /// Attempts it took (1 = no retry).
    pub attempts: usize,
}
