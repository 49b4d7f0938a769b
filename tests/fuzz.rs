//! Bounded mutation fuzzing of what clusterby reads from outside: caption files (JSONL, CSV,
//! IC|TC), the index manifest and its Parquet parts, LLM answers, and the hub's ETag,
//! Content-Range and redirect headers. Each target mutates its seed corpus
//! (`tests/fuzz-corpus/TARGET/`, plus a generated index for the manifest and the parts) for
//! `CLUSTERBY_FUZZ_SECONDS` (default 6) with a seeded generator (`CLUSTERBY_FUZZ_SEED`), and
//! fails on any panic, saving the input under `target/fuzz-crashes/`. Bad input must give an
//! error, never a panic. Executions per target are printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clusterby::models::hub;
use clusterby::store::caption_index::Index;
use clusterby::store::{read_captions, CaptionRecord};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

const TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\\",
    b"\0",
    b"\xff",
    b"\xe2\x80\xa8",
    b"null",
    b"99999999999999999999",
    b"-1",
    b"\"id\"",
    b"\"caption\"",
    b"\"parts\"",
    b"\"rows\"",
    b"```",
    b"bytes ",
    b"/",
    b"//",
    b"://",
    b"@",
    b"?",
    b"#",
    b"..",
    b"%",
    b"W/",
    b"\xf0\x9f\x8e\xbb",
];

fn budget() -> Duration {
    let s = std::env::var("CLUSTERBY_FUZZ_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6.0);
    Duration::from_secs_f64(s)
}

fn mutate(rng: &mut Xoshiro256Plus, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = corpus[rng.gen_range(0..corpus.len())].clone();
    for _ in 0..rng.gen_range(1..6) {
        let n = v.len();
        match rng.gen_range(0..7) {
            0 if n > 0 => {
                let i = rng.gen_range(0..n);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if n > 0 => {
                let i = rng.gen_range(0..n);
                v[i] = rng.gen();
            }
            2 => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                let i = rng.gen_range(0..=n);
                v.splice(i..i, t.iter().copied());
            }
            3 if n > 0 => {
                let a = rng.gen_range(0..n);
                let b = (a + rng.gen_range(1..64)).min(n);
                v.drain(a..b);
            }
            4 if n > 0 => {
                let a = rng.gen_range(0..n);
                let b = (a + rng.gen_range(1..256)).min(n);
                let piece = v[a..b].to_vec();
                let i = rng.gen_range(0..=v.len());
                v.splice(i..i, piece);
            }
            5 => {
                let other = &corpus[rng.gen_range(0..corpus.len())];
                if !other.is_empty() {
                    let a = rng.gen_range(0..other.len());
                    let cut = rng.gen_range(0..=v.len());
                    v.truncate(cut);
                    v.extend_from_slice(&other[a..]);
                }
            }
            _ => v.truncate(rng.gen_range(0..=n)),
        }
    }
    v
}

fn corpus_of(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus").join(target);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Runs `target` on mutations of `corpus` for the budget; the inputs that panicked.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, mut target: impl FnMut(&[u8])) -> Vec<PathBuf> {
    assert!(!corpus.is_empty(), "{name}: empty seed corpus");
    let seed = std::env::var("CLUSTERBY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7u64);
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let crashes_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let (start, mut execs, mut crashes) = (Instant::now(), 0u64, Vec::new());
    // Seeds first, unmutated, then mutations until the budget is spent.
    let mut seeds = corpus.clone().into_iter();
    while start.elapsed() < budget() {
        let input = seeds.next().unwrap_or_else(|| mutate(&mut rng, &corpus));
        execs += 1;
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            std::fs::create_dir_all(&crashes_dir).unwrap();
            let path = crashes_dir.join(format!("{name}-{execs}"));
            std::fs::write(&path, &input).unwrap();
            crashes.push(path);
        }
    }
    eprintln!(
        "fuzz {name}: {execs} executions in {:.1} s, {} crashes (seed {seed})",
        start.elapsed().as_secs_f64(),
        crashes.len()
    );
    crashes
}

fn check(crashes: Vec<PathBuf>) {
    assert!(crashes.is_empty(), "inputs that panicked (replay them with the target): {crashes:?}");
}

fn read_as(dir: &Path, file_name: &str, bytes: &[u8]) {
    let path = dir.join(file_name);
    std::fs::write(&path, bytes).unwrap();
    let _ = read_captions(&path);
}

#[test]
fn fuzz_caption_readers() {
    let tmp = tempfile::tempdir().unwrap();
    check(fuzz("captions_jsonl", corpus_of("captions_jsonl"), |b| read_as(tmp.path(), "in.jsonl", b)));
    check(fuzz("captions_csv", corpus_of("captions_csv"), |b| read_as(tmp.path(), "in.csv", b)));
    check(fuzz("captions_ictc", corpus_of("captions_ictc"), |b| read_as(tmp.path(), "step1_result.jsonl", b)));
}

/// A two-part index at `dir` (dim 4), as the seed of the manifest and part targets.
fn small_index(dir: &Path) {
    let mut index = Index::create_or_open(dir, "fuzz-model", 4).unwrap();
    for p in 0..2 {
        let records: Vec<CaptionRecord> = (0..3)
            .map(|i| CaptionRecord {
                id: format!("p{p}r{i}"),
                caption: format!("caption {i}"),
                label: Some("x".into()),
            })
            .collect();
        let emb: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
        index.append_part(&records, &emb).unwrap();
    }
}

#[test]
fn fuzz_manifest_and_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    small_index(&dir);
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let load = |dir: &Path| {
        if let Ok(index) = Index::open(dir) {
            let _ = index.load();
            let _ = index.ids();
        }
    };
    check(fuzz("manifest", vec![manifest.clone()], |b| {
        std::fs::write(dir.join("manifest.json"), b).unwrap();
        load(&dir);
    }));
    // Parts mutated under a manifest without checksums, so that the Parquet reader sees them.
    let mut m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for p in m["parts"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("crc32");
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let part = dir.join("parts/part-00001.parquet");
    // Seeds: the part as written, and parts that once made the Parquet reader panic.
    let mut seeds = vec![std::fs::read(&part).unwrap()];
    seeds.extend(corpus_of("part"));
    check(fuzz("part", seeds, |b| {
        std::fs::write(&part, b).unwrap();
        load(&dir);
    }));
}

#[test]
fn fuzz_llm_answers() {
    check(fuzz("llm_answer", corpus_of("llm_answer"), |b| {
        let text = String::from_utf8_lossy(b);
        for k in 1..5 {
            if let Ok(names) = clusterby::llm::parse_names(&text, k) {
                assert_eq!(names.len(), k);
            }
            if let Ok(cats) = clusterby::llm::parse_described_categories(&text, k) {
                assert_eq!(cats.len(), k);
            }
            let _ = clusterby::llm::parse_categories(&text, k);
        }
        let _ = clusterby::llm::extract_json(&text);
    }));
}

#[test]
fn fuzz_hub_headers() {
    check(fuzz("hub_headers", corpus_of("hub_headers"), |b| {
        let text = String::from_utf8_lossy(b);
        let mut lines = text.lines();
        let (a, c) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        if let Some(sha) = hub::etag_sha256(a) {
            assert!(sha.len() == 64 && sha.bytes().all(|x| x.is_ascii_hexdigit() && !x.is_ascii_uppercase()));
        }
        let _ = hub::parse_content_range(c);
        let base = lines.next().unwrap_or("https://huggingface.co/a/b");
        let location = lines.next().unwrap_or("");
        let joined = hub::join_url(base, location);
        let _ = hub::same_origin(base, &joined);
    }));
}
