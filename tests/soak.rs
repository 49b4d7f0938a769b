//! Soak: `kill -9` at random moments while captions and images are indexed, each run resumed
//! by the next, then a last run to completion. After every kill the index loads with unique
//! ids; at the end it holds exactly the rows of an uninterrupted build, with identical
//! embeddings, and `parts/` holds only the manifest's parts. The kill times come from a seeded
//! generator (`CLUSTERBY_SOAK_SEED`, default 1) and are printed, so a failure replays. Concurrent
//! writers are soaked in `tests/concurrent_writers.rs`.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clusterby::store::caption_index::Index;
use rand::{Rng, SeedableRng};

const KILLS: usize = 10;

fn seed() -> u64 {
    std::env::var("CLUSTERBY_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn run_to_end(args: &[&std::ffi::OsStr]) -> f64 {
    let t = Instant::now();
    let o = Command::new(common::bin()).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    t.elapsed().as_secs_f64()
}

/// Kills `KILLS` runs of `args` into `out` at random moments within a clean run's duration,
/// then finishes, and compares the index at `out` with the clean one at `clean`.
fn soak(name: &str, args: impl Fn(&Path) -> Vec<std::ffi::OsString>, clean: &Path, out: &Path, seconds: f64) {
    let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(seed());
    let (mut kills, mut finished) = (0, 0);
    while kills < KILLS {
        let at = Duration::from_secs_f64(rng.gen_range(0.05..seconds.max(0.2)));
        let mut child =
            Command::new(common::bin()).args(args(out)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_some() {
            // The run ended first: start over so that every kill lands in a run.
            finished += 1;
            std::fs::remove_dir_all(out).unwrap();
            assert!(finished < 3 * KILLS, "{name}: runs end before the kills land");
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        eprintln!("{name}: kill {kills} at {:.2} s (seed {})", at.as_secs_f64(), seed());
        if out.join("manifest.json").is_file() {
            let l = Index::open(out).unwrap().load().unwrap();
            assert_eq!(l.ids.iter().collect::<HashSet<_>>().len(), l.ids.len(), "{name}: duplicate ids after a kill");
        }
    }
    let argv = args(out);
    run_to_end(&argv.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    common::assert_same_index(out, clean, name);
    let rows = Index::open(out).unwrap().manifest().rows;
    eprintln!("{name}: {kills} kills ({finished} runs ended first), {} rows, 0 lost, 0 duplicated", rows);
}

fn os(items: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<std::ffi::OsString> {
    items.iter().map(|a| a.as_ref().to_os_string()).collect()
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn kill_9_while_indexing_captions_loses_nothing() {
    common::require_model(clusterby::models::ModelName::DEFAULT_TEXT);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("captions.jsonl");
    let things = ["a dog", "a red car", "a violin player", "a sailing boat", "an old castle", "a bowl of soup"];
    let places = ["on a beach", "in a city street", "in a quiet room", "under the rain", "at night", "in a garden"];
    let lines: Vec<String> = (0..6_000)
        .map(|i| {
            let c = format!("{} {} seen from angle {i}", things[i % 6], places[(i / 6) % 6]);
            serde_json::json!({"id": format!("c{i:05}"), "caption": c}).to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let clean = tmp.path().join("clean");
    let args = |out: &Path| os(&[&"index", &input, &"--out", &out]);
    let seconds = run_to_end(&args(&clean).iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    soak("captions", args, &clean, &tmp.path().join("soaked"), seconds);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn kill_9_while_indexing_images_loses_nothing() {
    let images = common::require_file(common::shared_dir().join("data/images/cifar10-test/images"));
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("images");
    std::fs::create_dir_all(&folder).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().step_by(3) {
        std::fs::copy(f, folder.join(f.file_name().unwrap())).unwrap();
    }
    let clip = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip");
    let clean = tmp.path().join("clean");
    let args = |out: &Path| os(&[&"index", &folder, &"--out", &out, &"--clip", &clip]);
    let seconds = run_to_end(&args(&clean).iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    soak("images", args, &clean, &tmp.path().join("soaked"), seconds);
}
