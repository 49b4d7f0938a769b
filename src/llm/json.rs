//! Getting structured answers out of messy model output: code fences, prose around the JSON,
//! trailing commas, JSON cut off by the token limit, or plain numbered lists.

use serde_json::Value;

/// The first JSON object or array in `text` that parses, repairing truncation and trailing
/// commas when needed. `None` when there is nothing JSON-like.
pub fn extract_json(text: &str) -> Option<Value> {
    extract_json_marked(text).map(|(v, _)| v)
}

/// As [`extract_json`], and whether the text ended inside a string that the repair closed (cut
/// off by the token limit, so the value's last string may be partial).
fn extract_json_marked(text: &str) -> Option<(Value, bool)> {
    let text = strip_thinking(text);
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if v.is_object() || v.is_array() {
            return Some((v, false));
        }
    }
    let bytes = trimmed.as_bytes();
    for (start, &b) in bytes.iter().enumerate() {
        if b == b'{' || b == b'[' {
            if let Some(found) = parse_from(&trimmed[start..]) {
                return Some(found);
            }
        }
    }
    None
}

/// Reasoning models wrap their thoughts in <think> tags; the answer follows them.
fn strip_thinking(text: &str) -> &str {
    match text.rfind("</think>") {
        Some(i) => &text[i + "</think>".len()..],
        None => text,
    }
}

/// Scans one value starting at `s[0]`, tracking strings and nesting. A complete value is parsed
/// as is; a truncated one is closed, first whole (marked `true` when that closed a string),
/// then cut back to each earlier comma, which leaves only whole strings.
fn parse_from(s: &str) -> Option<(Value, bool)> {
    let mut stack: Vec<u8> = Vec::new();
    let (mut in_str, mut escaped) = (false, false);
    // (byte offset of a comma, closers needed at that point)
    let mut cuts: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return None;
                }
                if stack.is_empty() {
                    return parse_lenient(&s[..=i]).map(|v| (v, false));
                }
            }
            b',' => cuts.push((i, stack.clone())),
            _ => {}
        }
    }
    // Truncated: try closing what is open.
    let mut whole = s.trim_end().to_string();
    if in_str {
        if escaped {
            whole.pop();
        }
        whole.push('"');
    }
    whole.extend(stack.iter().rev().map(|&c| c as char));
    if let Some(v) = parse_lenient(&whole) {
        return Some((v, in_str));
    }
    for (at, st) in cuts.iter().rev() {
        let mut c = s[..*at].to_string();
        c.extend(st.iter().rev().map(|&c| c as char));
        if let Some(v) = parse_lenient(&c) {
            return Some((v, false));
        }
    }
    None
}

fn parse_lenient(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok().or_else(|| serde_json::from_str(&drop_trailing_commas(s)).ok())
}

/// `[1, 2,]` → `[1, 2]`, outside strings.
fn drop_trailing_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']') | None) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Exactly `k` short, distinct names from a model's answer: a JSON list, an object holding a
/// list (`{"names": [...]}`), a list of objects with a `name`, or numbered lines. The error says
/// what was wrong, for the result's notes.
pub fn parse_names(text: &str, k: usize) -> Result<Vec<String>, String> {
    let raw: Vec<String> = match extract_json(text) {
        Some(v) => names_from_value(&v).ok_or_else(|| format!("JSON without a list of names: {}", short(text)))?,
        None => numbered_lines(text),
    };
    let names: Vec<String> = raw.iter().map(|n| clean_name(n)).filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Err(format!("no names in the answer: {}", short(text)));
    }
    if names.len() != k {
        return Err(format!("{} names for {k} clusters: {}", names.len(), names.join(" | ")));
    }
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if !seen.insert(n.to_lowercase()) {
            return Err(format!("duplicate name {n:?}"));
        }
        if is_placeholder(n) {
            return Err(format!("placeholder name {n:?}"));
        }
    }
    Ok(names)
}

/// K category names and, for each, the terms the model put in it (IC|TC's step 2b answered
/// with its members): `{"categories": [{"name": "cat", "terms": ["cougar", "kitten"]}, ...]}`.
/// Answers with names only parse with empty term lists.
pub fn parse_categories(text: &str, k: usize) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let names = parse_names(text, k)?;
    let mut members = vec![Vec::new(); k];
    let items = extract_json(text).and_then(|v| match v {
        Value::Array(a) => Some(a),
        Value::Object(m) => ["categories", "clusters", "groups", "names"]
            .iter()
            .find_map(|key| m.get(*key).and_then(Value::as_array).cloned()),
        _ => None,
    });
    for (c, item) in items.unwrap_or_default().iter().take(k).enumerate() {
        let Value::Object(m) = item else { continue };
        let list = ["terms", "members", "values", "items"].iter().find_map(|key| m.get(*key).and_then(Value::as_array));
        members[c] = list
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
    }
    Ok((names, members))
}

/// One category of a one-call answer: its name, a line saying what it holds, and a few
/// example words from the list the prompt showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedCategory {
    pub name: String,
    pub description: String,
    pub examples: Vec<String>,
}

/// K categories as `{"categories": [{"name", "description", "examples": [...]}, ...]}`; the
/// names are checked as [`parse_names`] checks them, a missing description or example list is
/// empty, and members listed under other keys (`terms`, `members`) count as examples.
pub fn parse_described_categories(text: &str, k: usize) -> Result<Vec<DescribedCategory>, String> {
    let names = parse_names(text, k)?;
    let (items, _) = category_items(text);
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(c, name)| described(name, items.get(c).and_then(Value::as_object)))
        .collect())
}

/// The distinct categories of an answer that [`parse_described_categories`] refuses for
/// repeating names or giving fewer than `k` (small models cycle through a few categories until
/// the token limit): each name's first category, placeholders dropped, at most `k`. Only the
/// namer uses them: a repeated answer still does not shape the partition. Two at least.
pub fn distinct_described_categories(text: &str, k: usize) -> Result<Vec<DescribedCategory>, String> {
    let mut seen = std::collections::HashSet::new();
    let (mut items, cut) = category_items(text);
    // A category cut off inside a string by the token limit may have lost part of its name
    // ("Foot").
    if cut {
        items.pop();
    }
    let out: Vec<DescribedCategory> = items
        .iter()
        .filter_map(|item| {
            let m = item.as_object();
            let name = clean_name(&item_name(item)?);
            (!name.is_empty() && !is_placeholder(&name) && seen.insert(name.to_lowercase())).then(|| described(name, m))
        })
        .take(k)
        .collect();
    if out.len() < 2 {
        return Err(format!("{} distinct categories in the answer: {}", out.len(), short(text)));
    }
    Ok(out)
}

/// The answer's list of category objects (under `categories`, `clusters` or `groups`, or bare),
/// and whether the answer was cut off inside a string of it.
fn category_items(text: &str) -> (Vec<Value>, bool) {
    let Some((v, cut)) = extract_json_marked(text) else { return (Vec::new(), false) };
    let items = match v {
        Value::Array(a) => Some(a),
        Value::Object(m) => {
            ["categories", "clusters", "groups"].iter().find_map(|key| m.get(*key).and_then(Value::as_array).cloned())
        }
        _ => None,
    };
    (items.unwrap_or_default(), cut)
}

/// One category from its answer object; a missing description or example list is empty.
fn described(name: String, m: Option<&serde_json::Map<String, Value>>) -> DescribedCategory {
    let text = |key: &str| m.and_then(|m| m.get(key)).and_then(Value::as_str).map(|s| s.trim().to_string());
    let list = m.and_then(|m| {
        ["examples", "terms", "members", "values"].iter().find_map(|key| m.get(*key).and_then(Value::as_array))
    });
    let examples = list
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| {
            t.trim().trim_end_matches(|c: char| c == ')' || c.is_ascii_digit() || c == '(' || c == ' ').to_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect();
    DescribedCategory { name, description: text("description").unwrap_or_default(), examples }
}

/// "Cluster I", "Group 3", "Category B": a label that numbers the cluster instead of naming it
/// (small models answer so when they cannot name the clusters).
fn is_placeholder(name: &str) -> bool {
    const GENERIC: [&str; 9] = ["cluster", "group", "category", "class", "topic", "type", "set", "no", "number"];
    let numeral = |w: &str| {
        w.chars().all(|c| c.is_ascii_digit())
            || (w.len() == 1 && w.chars().all(|c| c.is_ascii_alphabetic()))
            || w.chars().all(|c| matches!(c, 'i' | 'v' | 'x'))
    };
    let words: Vec<String> =
        name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    !words.is_empty() && words.iter().all(|w| GENERIC.contains(&w.as_str()) || numeral(w))
}

fn names_from_value(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(item_name).collect(),
        Value::Object(map) => {
            for key in ["names", "clusters", "categories", "labels", "cluster_names"] {
                if let Some(found) = map.get(key).and_then(names_from_value) {
                    return Some(found);
                }
            }
            if let Some(found) = map.values().find_map(|v| v.as_array().and_then(|_| names_from_value(v))) {
                return Some(found);
            }
            // {"1": "brass", "2": "strings"}: order by the number in the key.
            let mut pairs: Vec<(u64, String)> = Vec::new();
            for (key, val) in map {
                let num: String = key.chars().filter(char::is_ascii_digit).collect();
                pairs.push((num.parse().ok()?, val.as_str()?.to_string()));
            }
            pairs.sort_by_key(|p| p.0);
            Some(pairs.into_iter().map(|p| p.1).collect())
        }
        _ => None,
    }
}

fn item_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => ["name", "label", "category", "title"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str))
            .or_else(|| m.values().find_map(Value::as_str))
            .map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn numbered_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.trim_start_matches(|c: char| c.is_ascii_digit());
            if rest.len() < l.len() {
                let rest = rest.trim_start();
                return rest.strip_prefix(['.', ')', ':']).map(str::to_string);
            }
            l.strip_prefix(['-', '*', '•']).map(str::to_string)
        })
        .collect()
}

/// Trims quotes, markup, "Cluster 3:" prefixes and end punctuation; caps the length.
pub fn clean_name(raw: &str) -> String {
    let mut s = raw.trim().trim_matches(|c: char| c == '"' || c == '\'' || c == '*' || c == '`').trim();
    let lower = s.to_lowercase();
    for prefix in ["cluster", "category", "group"] {
        if lower.starts_with(prefix) {
            if let Some((head, tail)) = s.split_once(':') {
                if head.split_whitespace().count() <= 2 {
                    s = tail.trim();
                }
            }
            break;
        }
    }
    let s = s.trim_end_matches(['.', ',', ';', ':']).trim();
    let words: Vec<&str> = s.split_whitespace().take(8).collect();
    let joined = words.join(" ");
    joined.chars().take(60).collect()
}

fn short(s: &str) -> String {
    let one = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        one.chars().take(160).collect::<String>() + "…"
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_names_are_refused() {
        for bad in ["Cluster I", "Cluster VIII", "Group 3", "category b", "Cluster #2"] {
            assert!(is_placeholder(bad), "{bad}");
        }
        for good in ["Brass", "string instruments", "Type of dog", "Violin", "X-ray"] {
            assert!(!is_placeholder(good), "{good}");
        }
        let err = parse_names(r#"{"names": ["Cluster I", "Cluster II"]}"#, 2).unwrap_err();
        assert!(err.contains("placeholder"), "{err}");
    }
    use serde_json::json;

    #[test]
    fn plain_fenced_and_wrapped_json() {
        assert_eq!(extract_json(r#"{"a": 1}"#), Some(json!({"a": 1})));
        assert_eq!(extract_json("```json\n[\"x\", \"y\"]\n```"), Some(json!(["x", "y"])));
        assert_eq!(
            extract_json("Sure! Here you go: {\"names\": [\"a\"]} Hope that helps {ok}"),
            Some(json!({"names": ["a"]}))
        );
        assert_eq!(extract_json("<think>maybe {no}</think> [1, 2]"), Some(json!([1, 2])));
        assert_eq!(extract_json("no json here"), None);
        // Braces inside strings do not confuse the scanner.
        assert_eq!(extract_json(r#"x {"a": "}{]", "b": [1]} y"#), Some(json!({"a": "}{]", "b": [1]})));
    }

    #[test]
    fn truncated_and_trailing_commas() {
        assert_eq!(
            extract_json(r#"{"names": ["brass", "strings", "perc"#),
            Some(json!({"names": ["brass", "strings", "perc"]}))
        );
        assert_eq!(extract_json(r#"{"names": ["brass", "strings",]}"#), Some(json!({"names": ["brass", "strings"]})));
        assert_eq!(extract_json(r#"[{"name": "a"}, {"name": "b"}, {"na"#), Some(json!([{"name": "a"}, {"name": "b"}])));
        assert_eq!(extract_json(r#"{"a": "x\"#), Some(json!({"a": "x"})));
    }

    #[test]
    fn names_in_many_shapes() {
        let want = vec!["Brass".to_string(), "Strings".to_string()];
        for answer in [
            r#"{"names": ["Brass", "Strings"]}"#,
            r#"["Brass", "Strings"]"#,
            r#"[{"cluster": 1, "name": "Brass"}, {"cluster": 2, "name": "Strings"}]"#,
            r#"{"2": "Strings", "1": "Brass"}"#,
            "Here are the names:\n1. Brass\n2. Strings.\n",
            "- \"Brass\"\n- Cluster 2: Strings",
            "```\n{\"clusters\": [\"Brass\", \"Strings\"]}\n```",
        ] {
            assert_eq!(parse_names(answer, 2).as_ref(), Ok(&want), "{answer}");
        }
    }

    #[test]
    fn wrong_count_duplicates_and_junk_are_errors() {
        assert!(parse_names(r#"["a", "b", "c"]"#, 2).unwrap_err().contains("3 names for 2"));
        assert!(parse_names(r#"["Brass", "brass"]"#, 2).unwrap_err().contains("duplicate"));
        assert!(parse_names("I cannot help with that.", 2).is_err());
        assert!(parse_names(r#"{"a": 1}"#, 1).is_err());
        assert!(parse_names(r#"["", " "]"#, 2).is_err());
    }

    #[test]
    fn names_are_cleaned_and_capped() {
        assert_eq!(clean_name("  **Cluster 3: Wind instruments.** "), "Wind instruments");
        assert_eq!(clean_name(&"word ".repeat(20)).split(' ').count(), 8);
        assert!(clean_name(&"x".repeat(100)).len() <= 60);
    }

    #[test]
    fn the_namer_takes_the_distinct_categories_of_a_repeating_answer() {
        let cycling = r#"{"categories": [
            {"name": "Clothing", "description": "Clothing", "examples": ["shirt"]},
            {"name": "Footwear", "description": "Footwear", "examples": ["shoe (146)"]},
            {"name": "clothing", "description": "again", "examples": []},
            {"name": "Category 4", "description": "x", "examples": []},
            {"name": "Bags", "description": "Bags", "examples": ["bag"]},
            {"name": "Foot"#;
        assert!(parse_described_categories(cycling, 5).is_err());
        let got = distinct_described_categories(cycling, 5).unwrap();
        let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Clothing", "Footwear", "Bags"]);
        assert_eq!(got[1].examples, ["shoe"]);
        assert_eq!(distinct_described_categories(cycling, 2).unwrap().len(), 2);
        let cut_between = r#"[{"name": "Clothing"}, {"name": "Bags"}, {"na"#;
        assert_eq!(distinct_described_categories(cut_between, 3).unwrap().len(), 2);
        let whole = r#"[{"name": "Clothing"}, {"name": "clothing"}, {"name": "Bags"}]"#;
        assert_eq!(distinct_described_categories(whole, 3).unwrap().len(), 2);
        let one = r#"{"categories": [{"name": "Musician"}, {"name": "musician"}]}"#;
        assert!(distinct_described_categories(one, 2).unwrap_err().contains("1 distinct"));
    }
}
