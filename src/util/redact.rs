//! Keeping secrets out of what leaves the program: URLs in messages and logs.

/// Drops user info and the query string, where keys sometimes travel (`?api-key=`).
pub fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => no_query.to_string(),
    }
}

/// Replaces secrets in text that leaves the program (error messages, notes, results, caches):
/// the values it was given (an API key), and anything shaped like a bearer token or an
/// OpenAI-style key, which a server may echo from a request it did not like.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Redacts `secrets` (empty ones are ignored) and key-shaped words.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Self { secrets: secrets.into_iter().filter(|s| !s.trim().is_empty()).collect() }
    }

    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        redact_key_shapes(&out)
    }
}

/// A word after "Bearer", or one that starts like an API key (`sk-`, `hf_`) and runs on for
/// 16 characters or more of key alphabet.
fn redact_key_shapes(s: &str) -> String {
    let key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut after_bearer = false;
    while !rest.is_empty() {
        let start = rest.find(|c: char| key_char(c)).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !key_char(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        let keyish = (word.starts_with("sk-") || word.starts_with("hf_")) && word.len() >= 16;
        if (after_bearer && !word.is_empty()) || keyish {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        after_bearer = word.eq_ignore_ascii_case("bearer");
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_key_shapes_are_redacted() {
        let r = Redactor::new(["s3cret-value".to_string(), String::new()]);
        assert_eq!(r.text("key s3cret-value in a body"), "key [redacted] in a body");
        assert_eq!(r.text(r#"{"auth": "Bearer abc.def"}"#), r#"{"auth": "Bearer [redacted]"}"#);
        assert_eq!(r.text("got sk-proj-0123456789abcdefXYZ!"), "got [redacted]!");
        assert_eq!(r.text("sk-short and hf_ tokens stay"), "sk-short and hf_ tokens stay");
        assert_eq!(r.text("plain text, nothing to hide"), "plain text, nothing to hide");
    }

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(redact_url("https://u:p@h:1/v1?key=s"), "https://h:1/v1");
        assert_eq!(redact_url("http://h"), "http://h");
    }
}
