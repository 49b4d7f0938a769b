//! What a server turns out not to accept, learnt from its refusals and remembered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::LlmError;

/// Room for hidden reasoning on top of the answer's own limit, once a server asked for
/// `max_completion_tokens` (reasoning models); an answer cut off by it would be lost.
pub(super) const REASONING_ALLOWANCE: u32 = 8192;

/// What the server turned out not to accept, learnt from its 400s.
#[derive(Default)]
pub(super) struct Compat {
    pub completion_tokens: AtomicBool,
    pub default_temperature: AtomicBool,
    pub no_stream: AtomicBool,
    pub no_stream_options: AtomicBool,
}

impl Compat {
    /// A 400 that names a parameter this model does not take (OpenAI's reasoning models refuse
    /// `max_tokens` for `max_completion_tokens`, and any temperature but their default): the
    /// client stops sending it, for this call and the ones after. True when something changed.
    pub(super) fn learn_from_rejection(&self, e: &LlmError) -> bool {
        let LlmError::Status { status: 400 | 422, body, .. } = e else { return false };
        let b = body.to_ascii_lowercase();
        let refused = |param: &str| {
            b.contains(param)
                && ["unsupported", "not supported", "does not support", "unrecognized", "not allowed"]
                    .iter()
                    .any(|w| b.contains(w))
        };
        if refused("max_tokens") && !self.completion_tokens.swap(true, Ordering::Relaxed) {
            return true;
        }
        if refused("stream_options") {
            return !self.no_stream_options.swap(true, Ordering::Relaxed);
        }
        if refused("stream") && !self.no_stream.swap(true, Ordering::Relaxed) {
            return true;
        }
        refused("temperature") && !self.default_temperature.swap(true, Ordering::Relaxed)
    }
}

/// A refusal of `response_format` (or its schema): the call is tried again with less.
pub(super) fn rejects_response_format(e: &(LlmError, Option<Duration>)) -> bool {
    matches!(&e.0, LlmError::Status { status, body, .. } if (*status == 400 || *status == 422) && (body.contains("response_format") || body.contains("schema")))
}
