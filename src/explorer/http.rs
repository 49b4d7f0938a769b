//! The little HTTP the explorer needs: query strings, replies, the access token.

use std::collections::HashMap;

/// A reply before it is written: status, type, body and extra headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Reply { status: 200, content_type, body: body.into(), headers: Vec::new() }
    }

    pub fn json(value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::ok("application/json", body),
            Err(e) => Reply::error(500, &format!("could not write the answer: {e}")),
        }
    }

    /// An error as JSON `{"error": ...}`, which the page shows as text.
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message }).to_string();
        Reply { status, content_type: "application/json", body: body.into_bytes(), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Offered as a download named `file`.
    pub fn attachment(self, file: &str) -> Self {
        let safe: String = file.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
        self.with_header("Content-Disposition", format!("attachment; filename=\"{safe}\""))
    }
}

/// The path and the decoded query parameters of a request target (`/api/query?by=mood&k=3`).
/// A repeated key keeps every value, in order.
pub struct Target {
    pub path: String,
    params: HashMap<String, Vec<String>>,
}

impl Target {
    pub fn parse(url: &str) -> Self {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params: HashMap<String, Vec<String>> = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.entry(decode(k)).or_default().push(decode(v));
        }
        Target { path: decode(path), params }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(|v| v.first()).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.params.get(key).map(|v| v.iter().filter(|s| !s.is_empty()).cloned().collect()).unwrap_or_default()
    }

    /// A number parameter: `None` when absent, an error naming the field when not a number.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.get(key).map(|v| v.trim().parse().map_err(|_| format!("{key}: not a number: {v:?}"))).transpose()
    }
}

/// Percent-decoding with `+` as space (form encoding); invalid escapes stay as written.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Equal strings, compared in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let t = Target::parse("/api/query?by=musical+instrument&k=3&exclude=a%20b&exclude=c&bad=%zz&x=%e2%9c%93");
        assert_eq!(t.path, "/api/query");
        assert_eq!(t.get("by"), Some("musical instrument"));
        assert_eq!(t.number::<usize>("k"), Ok(Some(3)));
        assert_eq!(t.all("exclude"), vec!["a b".to_string(), "c".to_string()]);
        assert_eq!(t.get("bad"), Some("%zz"));
        assert_eq!(t.get("x"), Some("✓"));
        assert_eq!(t.get("missing"), None);
        assert!(t.number::<usize>("by").unwrap_err().contains("by"));
        assert_eq!(decode("%4"), "%4");
    }

    #[test]
    fn cookies_and_secrets() {
        assert_eq!(cookie(Some("a=1; clusterby_token=xyz"), "clusterby_token"), Some("xyz"));
        assert_eq!(cookie(Some("a=1"), "clusterby_token"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }

    #[test]
    fn attachment_names_are_plain() {
        let r = Reply::ok("text/csv", "x").attachment("a\"b/../c.csv");
        assert_eq!(r.headers[0].1, "attachment; filename=\"ab..c.csv\"");
    }
}
