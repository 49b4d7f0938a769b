//! `--shard I/N`: a stable, disjoint share of an input, so that N machines can index one
//! collection side by side and `merge` can join their indexes.
//!
//! A row belongs to shard `fnv1a64(key) mod N`, where the key is a caption's id (or an image's
//! path relative to the folder). The hash depends on nothing but the key's bytes: the same row
//! lands in the same shard on every machine, in every run and after the input grows, and the N
//! shards together hold every row exactly once.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard `{0}`: expected I/N, e.g. 0/4 (shard I of N, counting from 0)")]
    Syntax(String),
    #[error("--shard `{0}`: N must be at least 1")]
    ZeroCount(String),
    #[error("--shard `{spec}`: I must be below N (shards are numbered 0 to {last})")]
    OutOfRange { spec: String, last: u32 },
}

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the row with this key (an id, or an image's relative path) is in this shard.
    pub fn contains(&self, key: &str) -> bool {
        fnv1a64(key.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index: u32 = i.trim().parse().map_err(|_| syntax())?;
        let count: u32 = n.trim().parse().map_err(|_| syntax())?;
        if count == 0 {
            return Err(ShardError::ZeroCount(s.to_string()));
        }
        if index >= count {
            return Err(ShardError::OutOfRange { spec: s.to_string(), last: count - 1 });
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// 64-bit FNV-1a: fixed by its definition (unlike std's hasher, which may change between Rust
/// releases), so any tool can recompute which shard holds a row.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_each_bad_spec_with_its_own_error() {
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(" 0 / 1 ".parse::<Shard>(), Ok(Shard { index: 0, count: 1 }));
        assert!(matches!("3".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!("a/3".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!("-1/3".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!("0/0".parse::<Shard>(), Err(ShardError::ZeroCount(_))));
        assert_eq!("3/3".parse::<Shard>(), Err(ShardError::OutOfRange { spec: "3/3".into(), last: 2 }));
    }

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn shards_are_disjoint_cover_every_key_and_are_balanced() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("img_{i:05}.jpg")).collect();
        let n = 4;
        let mut sizes = [0usize; 4];
        for k in &keys {
            let owners: Vec<u32> = (0..n).filter(|&i| Shard { index: i, count: n }.contains(k)).collect();
            assert_eq!(owners.len(), 1, "{k} is in shards {owners:?}");
            sizes[owners[0] as usize] += 1;
        }
        // 2,500 expected per shard; a binomial spread is about ±43.
        assert!(sizes.iter().all(|&s| (2_300..2_700).contains(&s)), "{sizes:?}");
    }
}
