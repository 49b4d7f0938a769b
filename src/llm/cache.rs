//! Answers cached on disk, keyed by (model, prompt), so a killed run resumes without paying for
//! a call twice. One JSON line per answer, appended and flushed as it arrives: a kill mid-write
//! leaves at most one partial last line, which the next open cuts off.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chat::{ChatOptions, Message};
use crate::util::jsonl::AppendLog;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub content: String,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    #[serde(flatten)]
    answer: CachedAnswer,
}

pub struct AnswerCache {
    log: AppendLog,
    map: Mutex<HashMap<String, CachedAnswer>>,
    /// Lines that did not parse when the cache was opened (dropped).
    pub damaged_lines: usize,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").field("path", &self.log.path()).field("len", &self.len()).finish()
    }
}

impl AnswerCache {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let (log, replay) = AppendLog::open::<Line>(path)?;
        let map = replay.records.into_iter().map(|l| (l.key, l.answer)).collect();
        Ok(Self { log, map: Mutex::new(map), damaged_lines: replay.damaged })
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of a request: a hash of the model, the messages and the options that change the
    /// answer.
    pub fn key(model: &str, messages: &[Message], opts: &ChatOptions) -> String {
        let mut h = Sha256::new();
        h.update(model.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(messages).unwrap_or_default());
        h.update([0]);
        h.update(serde_json::to_vec(opts).unwrap_or_default());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn get(&self, key: &str) -> Option<CachedAnswer> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// Stores and flushes one answer.
    pub fn put(&self, key: &str, answer: CachedAnswer) -> std::io::Result<()> {
        self.log.append(&Line { key: key.to_string(), answer: answer.clone() })?;
        self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), answer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn ans(s: &str) -> CachedAnswer {
        CachedAnswer { content: s.into(), prompt_tokens: 3, completion_tokens: 1 }
    }

    #[test]
    fn survives_reopen_and_a_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/cache.jsonl");
        let k1 = AnswerCache::key("m", &[Message::user("a")], &ChatOptions::default());
        let k2 = AnswerCache::key("m", &[Message::user("b")], &ChatOptions::default());
        assert_ne!(k1, k2);
        assert_ne!(k1, AnswerCache::key("other", &[Message::user("a")], &ChatOptions::default()));
        {
            let c = AnswerCache::open(&p).unwrap();
            c.put(&k1, ans("one")).unwrap();
            c.put(&k2, ans("two")).unwrap();
        }
        // A kill in the middle of a third write.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"key\":\"abc\",\"cont").unwrap();
        drop(f);
        let c = AnswerCache::open(&p).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&k2), Some(ans("two")));
        let k3 = AnswerCache::key("m", &[Message::user("c")], &ChatOptions::default());
        c.put(&k3, ans("three")).unwrap();
        drop(c);
        let c = AnswerCache::open(&p).unwrap();
        assert_eq!((c.len(), c.damaged_lines), (3, 0));
        assert_eq!(c.get(&k3), Some(ans("three")));
    }

    #[test]
    fn damaged_middle_lines_are_counted_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, "garbage\n{\"key\":\"k\",\"content\":\"v\"}\n").unwrap();
        let c = AnswerCache::open(&p).unwrap();
        assert_eq!((c.len(), c.damaged_lines), (1, 1));
        assert_eq!(c.get("k").unwrap().content, "v");
    }
}
