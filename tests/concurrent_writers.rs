//! Two `clusterby index` processes into one folder, started together, with the same captions in
//! different orders: one holds the writer lock and the other is refused with an error that says
//! so; a rerun completes the index. Whatever the timing, the index ends with every caption once,
//! `parts/` holds exactly the manifest's parts, and the embeddings equal a clean build's.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

const ROWS: usize = 600;
const TRIALS: usize = 6;

fn write_captions(path: &Path, reversed: bool) {
    let subjects = ["a dog", "a red car", "a violin player", "a sailing boat", "an old castle", "a bowl of soup"];
    let places = ["on a beach", "in a city street", "in a quiet room", "under the rain", "at night"];
    let mut lines: Vec<String> = (0..ROWS)
        .map(|i| {
            let caption = format!("{} {} seen from angle {i}", subjects[i % 6], places[(i / 6) % 5]);
            serde_json::json!({"id": format!("c{i:04}"), "caption": caption}).to_string()
        })
        .collect();
    if reversed {
        lines.reverse();
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn index_cmd(input: &Path, out: &Path) -> Command {
    let mut c = Command::new(common::bin());
    c.arg("index").arg(input).arg("--out").arg(out).stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn concurrent_writers_never_corrupt_an_index() {
    common::require_model(clusterby::models::ModelName::DEFAULT_TEXT);
    let tmp = tempfile::tempdir().unwrap();
    let (forward, backward) = (tmp.path().join("forward.jsonl"), tmp.path().join("backward.jsonl"));
    write_captions(&forward, false);
    write_captions(&backward, true);
    let clean = tmp.path().join("clean");
    assert!(index_cmd(&forward, &clean).status().unwrap().success());
    let mut refused = 0;
    for trial in 0..TRIALS {
        let out = tmp.path().join(format!("trial-{trial}"));
        let a = index_cmd(&forward, &out).spawn().unwrap();
        let b = index_cmd(&backward, &out).spawn().unwrap();
        for child in [a, b] {
            let o = child.wait_with_output().unwrap();
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(err.contains("being written by another process"), "trial {trial}: {err}");
                refused += 1;
            }
        }
        // A rerun completes whatever the refused writer did not do.
        assert!(index_cmd(&forward, &out).status().unwrap().success());
        common::assert_same_index(&out, &clean, &format!("trial {trial}"));
    }
    eprintln!("{TRIALS} trials, {refused} writers refused by the lock");
}
