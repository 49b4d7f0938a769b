//! Reading an answer: one JSON body, or an OpenAI-style event stream.

use serde_json::Value;

use super::Completion;

/// A streamed answer may take this many times the timeout in all (the timeout itself bounds
/// each silence): 1 hour at the default 120 s.
pub(super) const STREAM_TIMEOUT_FACTOR: u32 = 30;

pub(super) enum StreamError {
    Io(std::io::Error),
    Bad(String),
}

/// An OpenAI-style event stream (`data: {chunk}` lines, `data: [DONE]` last): the content
/// deltas joined, and the token counts of the chunk that carries `usage` (the last, when
/// `stream_options.include_usage` was honoured). Comments, event names and unknown fields are
/// skipped; an `error` object, an unparsable chunk or a stream with no chunk is a bad answer.
pub(super) fn parse_event_stream(reader: impl std::io::BufRead) -> Result<Completion, StreamError> {
    let mut c =
        Completion { content: String::new(), prompt_tokens: 0, completion_tokens: 0, seconds: 0.0, attempts: 1 };
    let mut chunks = 0usize;
    for line in reader.lines() {
        let line = line.map_err(StreamError::Io)?;
        let Some(data) = line.strip_prefix("data:") else { continue };
        let data = data.trim();
        if data == "[DONE]" {
            break;
        }
        if data.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| StreamError::Bad(format!("stream chunk not JSON ({e}): {}", snippet(data))))?;
        if let Some(err) = v.get("error") {
            return Err(StreamError::Bad(format!("error object in the stream: {}", snippet(&err.to_string()))));
        }
        chunks += 1;
        let piece = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .or_else(|| v.pointer("/choices/0/text").and_then(Value::as_str));
        c.content.push_str(piece.unwrap_or(""));
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let tok = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            c.prompt_tokens = tok("prompt_tokens");
            c.completion_tokens = tok("completion_tokens");
        }
    }
    if chunks == 0 {
        return Err(StreamError::Bad("the event stream held no answer".into()));
    }
    Ok(c)
}

pub(super) fn parse_completion(text: &str) -> Result<Completion, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", snippet(text)))?;
    if let Some(err) = v.get("error") {
        return Err(format!("error object: {}", snippet(&err.to_string())));
    }
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .or_else(|| v.pointer("/choices/0/text").and_then(Value::as_str))
        .ok_or_else(|| format!("no choices[0].message.content in {}", snippet(text)))?;
    let tok = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).unwrap_or(0);
    Ok(Completion {
        content: content.to_string(),
        prompt_tokens: tok("prompt_tokens"),
        completion_tokens: tok("completion_tokens"),
        seconds: 0.0,
        attempts: 1,
    })
}

/// First 200 characters, on one line, for error messages.
pub(super) fn snippet(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        one.chars().take(200).collect::<String>() + "…"
    } else {
        one
    }
}
