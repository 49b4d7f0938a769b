//! What the one call asks: K categories of the criterion, each a short name, a one-line
//! description and up to three example words, given the criterion's words in the captions
//! with their counts. A short answer (about 40 tokens a category) that a small local model
//! gives in seconds; the embeddings then place every word and caption.

use serde_json::json;

use crate::conditioning::Vocabulary;
use crate::llm::Message;

/// Example words asked per category.
pub(super) const EXAMPLES: usize = 3;

pub(super) fn prompt(criterion: &str, k: usize, values: &[(String, u32)]) -> Vec<Message> {
    let list: Vec<String> = values.iter().map(|(v, n)| format!("{v} ({n})")).collect();
    let criterion = criterion.trim();
    vec![
        Message::system("You answer with JSON only."),
        Message::user(format!(
            "Images were described in words. These words from the descriptions relate to their {criterion} \
             (how many images use each word in brackets):\n{}\n\nSort the images into {k} categories of \
             {criterion}. The categories must be different kinds of {criterion}. For each category give a short \
             name, a one-line description, and up to {EXAMPLES} example words from the list above. Answer as JSON: \
             {{\"categories\": [{{\"name\": ..., \"description\": ..., \"examples\": [...]}}, ...]}}",
            list.join(", ")
        )),
    ]
}

/// The answer's shape. Example words are not constrained to the listed ones (a grammar over
/// hundreds of words slows small models' sampling); unlisted ones are ignored.
pub(super) fn schema(k: usize) -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {"categories": {
            "type": "array",
            "minItems": k,
            "maxItems": k,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 2, "maxLength": 40, "pattern": "^[A-Za-z][A-Za-z /-]*$"},
                    "description": {"type": "string", "maxLength": 160},
                    "examples": {"type": "array", "items": {"type": "string"}, "maxItems": EXAMPLES}
                },
                "required": ["name", "description", "examples"]
            }
        }},
        "required": ["categories"]
    })
}

/// The words to list: the criterion's kinds first, then the other relevant terms, each by
/// caption count (a small model copies its examples from the front of the list, and the
/// commonest kinds matter most), up to `n` in all; axis terms only.
pub(super) fn prompt_terms(vocab: &Vocabulary, kinds: &[usize], w: &[f32], n: usize) -> Vec<usize> {
    let by_count = |v: &mut Vec<usize>| v.sort_by(|&a, &b| vocab.df[b].cmp(&vocab.df[a]).then(a.cmp(&b)));
    let mut idx: Vec<usize> = kinds.to_vec();
    by_count(&mut idx);
    let mut rest: Vec<usize> =
        (0..vocab.axis_terms.min(w.len())).filter(|&i| w[i] > 0.0 && !kinds.contains(&i)).collect();
    by_count(&mut rest);
    idx.extend(rest);
    idx.truncate(n);
    idx
}
