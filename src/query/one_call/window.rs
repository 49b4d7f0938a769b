//! Fitting the prompt and its answer into the server's context window, and what to tell the
//! user when the call failed for the prompt's size.

use crate::llm::Message;

/// The prompt's tokens besides the values (system message, instructions, chat template).
const PROMPT_FIXED_TOKENS: usize = 400;
/// The answer's tokens besides the values: per category (its name and the JSON around it), and
/// once.
const ANSWER_TOKENS_PER_CATEGORY: usize = 24;
const ANSWER_FIXED_TOKENS: usize = 32;

/// A value's tokens in the prompt ("golden retriever: 12" and a line break) and in the answer,
/// where it may be listed again as a JSON string. Estimated from characters, since the
/// server's tokenizer is unknown: SmolLM2's (digits one by one) took 0.49 tokens per character
/// of STL-10's 1,000 prompt lines and 0.31 per character of an answer listing them all, via
/// llama.cpp's `/tokenize`; rounded up to 1/2 and 1/3, and 2 more tokens per value in the
/// answer for pretty-printed JSON (a line break and indentation each).
fn value_tokens(value: &str, count: u32) -> (usize, usize) {
    let line = value.len() + 2 + count.to_string().len() + 1;
    (line.div_ceil(2), (value.len() + 4).div_ceil(3) + 2)
}

pub(super) struct WindowFit {
    /// Values (from the front of the list) that fit with their share of the answer.
    pub values: usize,
    /// The answer's limit: half as much again as an answer listing every value needs, and no
    /// more than the window leaves after the prompt (vLLM refuses a request whose prompt plus
    /// `max_tokens` exceeds it). Not all the window leaves: a model that loops (Qwen2.5-Coder-
    /// 1.5B repeated PPMI-7's values past 9,600 tokens) would run on until that is spent.
    pub max_tokens: u32,
}

/// How many of `shown` (best first) fit, with room to list them all again in the answer, in a
/// context `window` tokens long; with no window known, all of them.
pub(super) fn fit_to_window(shown: &[(String, u32)], k: usize, window: Option<u32>) -> WindowFit {
    let answer_fixed = ANSWER_TOKENS_PER_CATEGORY * k + ANSWER_FIXED_TOKENS;
    let costs: Vec<(usize, usize)> = shown.iter().map(|(v, n)| value_tokens(v, *n)).collect();
    let values = match window {
        None => shown.len(),
        Some(w) => {
            let mut budget = (w as usize).saturating_sub(PROMPT_FIXED_TOKENS + answer_fixed);
            costs
                .iter()
                .take_while(|(p, a)| {
                    let fits = p + a <= budget;
                    budget = budget.saturating_sub(p + a);
                    fits
                })
                .count()
        }
    };
    let answer: usize = answer_fixed + costs[..values].iter().map(|c| c.1).sum::<usize>();
    let limit = answer + answer / 2;
    let max_tokens = match window {
        None => limit,
        Some(w) => {
            let prompt = PROMPT_FIXED_TOKENS + costs[..values].iter().map(|c| c.0).sum::<usize>();
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
            7 * values + 150
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
