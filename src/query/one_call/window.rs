//! Fitting the prompt and its answer into the server's context window, and what to tell the
//! user when the call failed for the prompt's size.

use crate::llm::Message;

/// The prompt's tokens besides the values (system message, instructions, chat template).
const PROMPT_FIXED_TOKENS: usize = 400;
/// The answer's tokens: per category (a name, a one-line description, three example words and
/// the JSON around them), and once.
const ANSWER_TOKENS_PER_CATEGORY: usize = 64;
const ANSWER_FIXED_TOKENS: usize = 32;

/// A value's tokens in the prompt ("golden retriever (12), "). Estimated from characters, since
/// the server's tokenizer is unknown: SmolLM2's (digits one by one) took 0.49 tokens per
/// character of STL-10's prompt lines via llama.cpp's `/tokenize`; rounded up to 1/2.
fn value_tokens(value: &str, count: u32) -> usize {
    (value.len() + 5 + count.to_string().len()).div_ceil(2)
}

pub(super) struct WindowFit {
    /// Values (from the front of the list) that fit beside the answer.
    pub values: usize,
    /// The answer's limit: half as much again as K categories need, and no more than the
    /// window leaves after the prompt (vLLM refuses a request whose prompt plus `max_tokens`
    /// exceeds it). A model that loops runs into it instead of on.
    pub max_tokens: u32,
}

/// How many of `shown` (best first) fit, with room for the answer, in a context `window`
/// tokens long; with no window known, all of them.
pub(super) fn fit_to_window(shown: &[(String, u32)], k: usize, window: Option<u32>) -> WindowFit {
    let answer = ANSWER_TOKENS_PER_CATEGORY * k + ANSWER_FIXED_TOKENS;
    let limit = answer + answer / 2;
    let costs: Vec<usize> = shown.iter().map(|(v, n)| value_tokens(v, *n)).collect();
    let values = match window {
        None => shown.len(),
        Some(w) => {
            let mut budget = (w as usize).saturating_sub(PROMPT_FIXED_TOKENS + answer);
            costs
                .iter()
                .take_while(|&&c| {
                    let fits = c <= budget;
                    budget = budget.saturating_sub(c);
                    fits
                })
                .count()
        }
    };
    let max_tokens = match window {
        None => limit,
        Some(w) => {
            let prompt = PROMPT_FIXED_TOKENS + costs[..values].iter().sum::<usize>();
            limit.min((w as usize).saturating_sub(prompt)).max(1)
        }
    };
    WindowFit { values, max_tokens: max_tokens.min(u32::MAX as usize) as u32 }
}

/// Whether the server counted far fewer prompt tokens than the prompt can hold: Ollama cuts a
/// prompt longer than its context window from the front, silently, and counts what is left
/// (the values listed first, the most important, are then lost). No tokenizer takes fewer than
/// one token per 4 characters of these lines; fewer than one per 5 is taken as a cut.
pub(super) fn prompt_was_cut(messages: &[Message], prompt_tokens: u64) -> bool {
    let chars: usize = messages.iter().map(|m| m.text().chars().count()).sum();
    prompt_tokens > 0 && (prompt_tokens as usize) * 5 < chars
}

/// What the user can change when the one call failed in a way the prompt's size explains: a
/// rejected request (a prompt beyond the model's context; llama.cpp and OpenAI answer 400) or
/// no answer in time (the answer lists values too).
pub(super) fn failure_hint(e: &crate::llm::LlmError, values: usize) -> String {
    use crate::llm::LlmError;
    let e = match e {
        LlmError::Exhausted { last, .. } => last.as_ref(),
        e => e,
    };
    match e {
        LlmError::Status { status: 400 | 413, .. } => format!(
            " (the prompt listed {values} values, about {} tokens: for a model with a smaller context, set --llm-context \
             to its window or lower --llm-values)",
            6 * values + PROMPT_FIXED_TOKENS
        ),
        // The answer is streamed, so the timeout bounds a silence: most likely the prompt's
        // processing, before the first token.
        LlmError::Timeout { .. } => {
            format!(" (the server was silent that long, most likely still reading the prompt of {values} values: on a slow model raise --llm-timeout or lower --llm-values)")
        }
        LlmError::Deadline { .. } => {
            " (on a slow local model raise --llm-deadline, or lower --llm-values to shorten the prompt)".to_string()
        }
        _ => String::new(),
    }
}
