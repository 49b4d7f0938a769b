//! End to end: index a captions file, cluster it by two criteria, evaluate, grow it.

mod common;

use std::io::Write;
use std::process::{Command, Output};

use clusterby::query::ClusterResult;
use clusterby::ModelName;

fn run(args: &[&str]) -> Output {
    Command::new(common::bin()).args(args).output().unwrap()
}

fn write_corpus(
    path: &std::path::Path,
    items: &[clusterby::experiments::demo::DemoItem],
    label: fn(&clusterby::experiments::demo::DemoItem) -> &str,
) {
    let mut f = std::fs::File::create(path).unwrap();
    for (i, it) in items.iter().enumerate() {
        if i == 3 {
            writeln!(f, "{{\"id\": \"broken\", \"caption\": ").unwrap(); // malformed line 4
        }
        let v = serde_json::json!({"id": it.record.id, "caption": it.record.caption, "label": label(it)});
        writeln!(f, "{v}").unwrap();
    }
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn index_cluster_eval_and_grow() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let items = clusterby::experiments::demo::corpus();
    let input = dir.path().join("captions.jsonl");
    let index = dir.path().join("idx");
    // Start with 60 items; the file grows to 80 later.
    write_corpus(&input, &items[..60], |i| i.location);
    let o = run(&["index", input.to_str().unwrap(), "--out", index.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("captions.jsonl:4"), "malformed line must be reported with its number: {err}");
    assert!(err.contains("60 new"), "{err}");

    write_corpus(&input, &items, |i| i.location);
    let o = run(&["index", input.to_str().unwrap(), "--out", index.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("20 new") && err.contains("60 already indexed"), "{err}");

    let json = dir.path().join("loc.json");
    let o = run(&["cluster", index.to_str().unwrap(), "--by", "location", "-k", "4", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.k, 4);
    assert_eq!(r.assignments.len(), 80);
    assert_eq!(r.llm_calls, 0);
    assert_eq!(r.clusters.iter().map(|c| c.size).sum::<usize>(), 80);
    assert!(r.clusters.iter().all(|c| !c.name.is_empty() && !c.examples.is_empty()));
    for key in ["condition", "cluster", "name", "total"] {
        assert!(r.timings_ms.contains_key(key), "timings_ms.{key}");
    }

    // The index holds the location labels: eval against the index itself.
    let o = run(&["eval", json.to_str().unwrap(), "--labels", index.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let acc: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(acc >= 0.9, "location ACC {acc}: {out}");

    // Mood labels from a separate file: the same index clustered by mood scores well on them.
    let moods = dir.path().join("moods.csv");
    let mut f = std::fs::File::create(&moods).unwrap();
    writeln!(f, "id,mood").unwrap();
    for it in &items {
        writeln!(f, "{},{}", it.record.id, it.mood).unwrap();
    }
    drop(f);
    let mj = dir.path().join("mood.json");
    let o = run(&["cluster", index.to_str().unwrap(), "--by", "mood", "-k", "4", "--json", mj.to_str().unwrap()]);
    assert!(o.status.success());
    let score = |res: &std::path::Path| -> f64 {
        let o = run(&["eval", res.to_str().unwrap(), "--labels", moods.to_str().unwrap(), "--column", "mood"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (by_mood, by_location) = (score(&mj), score(&json));
    assert!(by_mood > by_location + 0.2, "mood ACC by mood {by_mood} vs by location {by_location}");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn automatic_k_is_reported() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.jsonl");
    write_corpus(&input, &clusterby::experiments::demo::corpus(), |i| i.location);
    let index = dir.path().join("idx");
    assert!(run(&["index", input.to_str().unwrap(), "--out", index.to_str().unwrap()]).status.success());
    let json = dir.path().join("r.json");
    let o = run(&["cluster", index.to_str().unwrap(), "--by", "location", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(r.k_auto);
    let sel = r.k_selection.expect("selection reported");
    assert!(sel.scores.iter().any(|s| s.k == r.k));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["cluster", dir.path().join("nope").to_str().unwrap(), "--by", "mood"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    let o = run(&["cluster", dir.path().to_str().unwrap(), "--by", "mood", "--method", "kmedoids"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("kmedoids"));
    let o = run(&["cluster", dir.path().to_str().unwrap(), "--by", "mood", "--llm-grouping", "blind"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--llm-grouping") && err.contains("blind"), "{err}");
}

/// `--min-cluster-size`, `--min-samples`, `--eps` and `--linkage` reach the methods, the result
/// records them, and a bad one is its own error.
#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn method_settings_are_honoured_and_recorded() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let items = clusterby::experiments::demo::corpus();
    let input = dir.path().join("captions.jsonl");
    let index = dir.path().join("idx");
    write_corpus(&input, &items, |i| i.location);
    assert!(run(&["index", input.to_str().unwrap(), "--out", index.to_str().unwrap()]).status.success());
    let cluster = |extra: &[&str]| {
        let json = dir.path().join("r.json");
        let mut args = vec!["cluster", index.to_str().unwrap(), "--by", "location", "--json", json.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (
            o.status
                .success()
                .then(|| serde_json::from_slice::<ClusterResult>(&std::fs::read(&json).unwrap()).unwrap()),
            err,
        )
    };
    let (r, err) = cluster(&["--method", "hdbscan", "--min-cluster-size", "15", "--min-samples", "3"]);
    let r = r.unwrap_or_else(|| panic!("{err}"));
    let s = r.diagnostics.method_settings.expect("settings recorded");
    assert_eq!((s.min_cluster_size, s.min_samples), (Some(15), Some(3)));
    // No cluster smaller than the smallest allowed.
    assert!(r.clusters.iter().filter(|c| c.id >= 0).all(|c| c.size >= 15), "{:?}", r.clusters);

    let (r, err) = cluster(&["--method", "dbscan", "--eps", "0.9"]);
    let r = r.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(r.diagnostics.eps, Some(0.9));
    assert_eq!(r.diagnostics.method_settings.and_then(|s| s.eps), Some(0.9));

    let (r, err) = cluster(&["--method", "agglomerative", "-k", "4", "--linkage", "average"]);
    let r = r.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(r.diagnostics.method_settings.map(|s| s.linkage), Some(clusterby::cluster::Linkage::Average));

    let (r, err) = cluster(&["--method", "hdbscan", "--min-cluster-size", "1"]);
    assert!(r.is_none() && err.contains("min_cluster_size"), "{err}");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn plots_and_the_report_show_the_conditioned_map() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("captions.jsonl");
    let index = dir.path().join("idx");
    write_corpus(&input, &clusterby::experiments::demo::corpus(), |i| i.location);
    assert!(run(&["index", input.to_str().unwrap(), "--out", index.to_str().unwrap()]).status.success());
    let json = dir.path().join("r.json");
    let (idx, js) = (index.to_str().unwrap(), json.to_str().unwrap());
    assert!(run(&["cluster", idx, "--by", "location", "-k", "4", "--json", js]).status.success());
    for kind in ["map", "sizes", "confusion"] {
        let out = dir.path().join(format!("{kind}.svg"));
        let o = run(&["plot", js, "--index", idx, "--out", out.to_str().unwrap(), "--kind", kind]);
        assert!(o.status.success(), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("location"), "{kind}");
    }
    let map = std::fs::read_to_string(dir.path().join("map.svg")).unwrap();
    assert_eq!(map.matches("<circle").count(), 80);
    let o = run(&["plot", js, "--index", idx, "--out", dir.path().join("map.png").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("map.png"));
    let html = dir.path().join("r.html");
    assert!(run(&["report", js, "--index", idx, "--html", html.to_str().unwrap()]).status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "map, sizes and confusion in the report");
}

/// `index --shard I/N` three times and `merge`: the same rows as one `index` run, each once,
/// and the same clusters; bad shard specs and a second merge are answered plainly.
#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn shards_merged_give_the_index_of_one_run() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let dir = tempfile::tempdir().unwrap();
    let items = clusterby::experiments::demo::corpus();
    let input = dir.path().join("captions.jsonl");
    write_corpus(&input, &items, |i| i.location);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    ok(&["index", &path("captions.jsonl"), "--out", &path("one")]);
    let mut shard_rows = 0;
    for i in 0..3 {
        let err =
            ok(&["index", &path("captions.jsonl"), "--out", &path(&format!("s{i}")), "--shard", &format!("{i}/3")]);
        assert!(err.contains(&format!("(shard {i}/3)")), "{err}");
        shard_rows += clusterby::store::Index::open(path(&format!("s{i}"))).unwrap().manifest().rows;
    }
    assert_eq!(shard_rows, items.len());
    let err = ok(&["merge", &path("s0"), &path("s1"), &path("s2"), "--out", &path("merged")]);
    assert!(err.contains("3 parts linked") || err.contains("copied"), "{err}");
    let err = ok(&["merge", &path("s0"), &path("s1"), &path("s2"), "--out", &path("merged")]);
    assert!(err.contains("3 merged by an earlier run"), "{err}");

    let one = clusterby::store::Index::open(path("one")).unwrap().load().unwrap();
    let merged = clusterby::store::Index::open(path("merged")).unwrap().load().unwrap();
    let rows = |l: &clusterby::store::LoadedIndex| {
        let mut v: Vec<(String, String, Vec<u32>)> = (0..l.ids.len())
            .map(|i| {
                (l.ids[i].clone(), l.captions[i].clone(), l.embeddings.row(i).iter().map(|x| x.to_bits()).collect())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows(&one), rows(&merged), "the same rows, embeddings equal bit for bit");
    assert!(dir.path().join("merged/derived/vocab.json").is_file(), "merge mines the vocabulary");

    for (spec, says) in [("3/3", "I must be below N"), ("1", "expected I/N"), ("0/0", "N must be at least 1")] {
        let o = run(&["index", &path("captions.jsonl"), "--out", &path("bad"), "--shard", spec]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{spec}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&["merge", &path("one"), &path("s0"), "--out", &path("overlap")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("is in both"));
}
