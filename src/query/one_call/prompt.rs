//! What the one call asks: the criterion's values with their caption counts, to be grouped
//! into K named categories; and the JSON shape the answer must take.

use serde_json::json;

use crate::conditioning::Vocabulary;
use crate::llm::Message;

pub(super) fn prompt(criterion: &str, k: usize, values: &[(String, u32)]) -> Vec<Message> {
    let list: Vec<String> = values.iter().map(|(v, n)| format!("{v}: {n}")).collect();
    vec![
        Message::system("You are a helpful assistant that answers with JSON only."),
        Message::user(format!(
            "Image descriptions were searched for their {criterion}. These {criterion} terms occur, with the \
             number of images mentioning each:\n{}\n\nGroup the images into exactly {k} categories of {criterion}. \
             Name each category, and list the terms above that belong to it (leave out terms that are not a \
             {criterion}). Answer as JSON: {{\"categories\": [{k} objects {{\"name\": short category name, \
             \"terms\": [terms from the list]}}]}}",
            list.join("\n")
        )),
    ]
}

/// The answer's shape. Terms are not constrained to the listed ones: with an `enum` of PPMI-7's
/// 256 values, SmolLM2-135M on one thread (llama.cpp's grammar sampling) had not answered after
/// several minutes; without it, in 90 s. Unlisted terms are ignored instead.
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
                    "terms": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["name", "terms"]
            }
        }},
        "required": ["categories"]
    })
}

/// The values to show: relevant ones (positive weight) by their weight × √(caption count), so
/// that the prompt covers many captions without leaving out the rare values that need the
/// model's knowledge most.
pub(super) fn prompt_terms(vocab: &Vocabulary, w: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
    let mass = |i: usize| w[i] * (vocab.df[i] as f32).sqrt();
    idx.sort_by(|&a, &b| mass(b).total_cmp(&mass(a)).then(a.cmp(&b)));
    idx.truncate(n);
    idx
}
