//! The image path end to end with the generated CLIP-shaped model (tests/data/tiny-clip):
//! bad files reported and skipped, re-runs that only touch what changed, kill -9 at several
//! points of a real run of the CIFAR-10 test folder, labels from file names and from a CSV, and
//! one-call names checked against an image index's captions.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clusterby::conditioning::Conditioning;
use clusterby::query::{CandidateSource, ClusterResult, NamerFallback, NamerKind, Space};
use clusterby::store::caption_index::Index;
use clusterby::testing::fake_server::{FakeServer, Reply};
use clusterby::ModelName;

fn tiny_clip() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip")
}

fn run(args: &[&str]) -> Output {
    Command::new(common::bin()).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A PNG whose header claims `w`×`h` pixels (with valid CRCs) and whose data is tiny: a
/// decompression bomb as far as the header goes.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn cifar_dir() -> PathBuf {
    common::shared_dir().join("data/images/cifar10-test")
}

/// The model and the CIFAR-10 images, or a panic saying which is missing.
fn require_ready() {
    common::require_model(ModelName::AllMiniLmL6V2);
    common::require_file(cifar_dir().join("images"));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn bad_files_are_skipped_and_reruns_only_touch_changes() {
    require_ready();
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    for sub in ["cifar", "special", "bad"] {
        std::fs::create_dir_all(imgs.join(sub)).unwrap();
    }
    let mut cifar: Vec<PathBuf> =
        std::fs::read_dir(cifar_dir().join("images")).unwrap().map(|e| e.unwrap().path()).collect();
    cifar.sort();
    for p in cifar.iter().step_by(500) {
        std::fs::copy(p, imgs.join("cifar").join(p.file_name().unwrap())).unwrap();
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/images");
    let mut special = 0;
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let p = e.unwrap().path();
        if ["jpg", "png", "gif", "webp", "bmp"].contains(&p.extension().unwrap().to_str().unwrap()) {
            std::fs::copy(&p, imgs.join("special").join(p.file_name().unwrap())).unwrap();
            special += 1;
        }
    }
    let png = std::fs::read(&cifar[0]).unwrap();
    std::fs::write(imgs.join("bad/empty.png"), b"").unwrap();
    std::fs::write(imgs.join("bad/notes.JPG"), b"these are not pixels").unwrap();
    std::fs::write(imgs.join("bad/truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(imgs.join("bad/bomb.png"), bomb_png(60_000, 60_000)).unwrap();
    std::fs::write(imgs.join("readme.txt"), b"not an image, not even tried").unwrap();

    let idx = dir.path().join("idx");
    let index = || run(&["index", s(&imgs), "--out", s(&idx), "--clip", s(&tiny_clip())]);
    let o = index();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    for (file, why) in [
        ("bad/empty.png", "empty file"),
        ("bad/notes.JPG", "not a supported image"),
        ("bad/truncated.png", "corrupt or truncated"),
        ("bad/bomb.png", "over the decoding limits"),
    ] {
        assert!(err.lines().any(|l| l.contains(file) && l.contains(why)), "{file}: {why} missing from\n{err}");
    }
    let good = 20 + special;
    assert!(err.contains(&format!("{} images found, {good} new", good + 4)), "{err}");

    let loaded = Index::open(&idx).unwrap().load().unwrap();
    assert_eq!(loaded.ids.len(), good);
    assert!(loaded.ids.contains(&"special/exif-rot6.jpg".to_string()));
    let labelled =
        loaded.ids.iter().zip(&loaded.labels).filter(|(i, l)| i.starts_with("cifar/") && l.is_some()).count();
    assert_eq!(labelled, 20, "CIFAR labels come from the file names");

    // Nothing new: nothing encoded, bad files not retried.
    let o = index();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("0 new, 0 changed") && err.contains("4 skipped before"), "{err}");

    // One image changes, one bad file is fixed: exactly those two are processed.
    let changed = imgs.join("cifar").join(cifar[500].file_name().unwrap());
    std::fs::copy(&cifar[501], &changed).unwrap();
    std::fs::copy(&cifar[2], imgs.join("bad/empty.png")).unwrap();
    let o = index();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 new, 1 changed"), "{err}");
    let after = Index::open(&idx).unwrap().load().unwrap();
    assert_eq!(after.ids.len(), good + 1);

    // A skipped file whose permissions change (e.g. made readable) is tried again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let notes = imgs.join("bad/notes.JPG");
        std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o600)).unwrap();
        let o = index();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("2 skipped before") && err.lines().any(|l| l.contains("bad/notes.JPG")), "{err}");
    }
    assert_eq!(after.ids.iter().collect::<HashSet<_>>().len(), after.ids.len(), "no duplicate rows");

    // Cluster the images and score them on the CIFAR labels.
    let json = dir.path().join("r.json");
    let o = run(&["cluster", s(&idx), "--by", "object", "-k", "3", "--json", s(&json)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.assignments.len(), good + 1);
    assert_eq!((r.conditioning, r.diagnostics.space), (Some(Conditioning::Values), Some(Space::Image)));
    assert_eq!(
        r.diagnostics.image_values.as_ref().map(|v| v.source),
        Some(CandidateSource::BuiltIn),
        "{:?}",
        r.diagnostics
    );
    let o = run(&["cluster", s(&idx), "--by", "object", "-k", "3", "--conditioning", "none", "--space", "caption"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no captions"));

    // The ablation command takes image indexes too.
    let sets = dir.path().join("sets.json");
    let set = serde_json::json!([{"name": "tiny", "index": idx, "criterion": "object", "k": 3}]);
    std::fs::write(&sets, set.to_string()).unwrap();
    let out = dir.path().join("abl");
    let o = run(&["ablate", "--sets", s(&sets), "--data", s(dir.path()), "--out", s(&out), "--method", "kmeans"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(md.contains("image:values") && md.contains("image:none"), "{md}");
}

/// Rows of an index by id: label and embedding.
fn rows_by_id(dir: &Path) -> std::collections::BTreeMap<String, (Option<String>, String, Vec<f32>)> {
    let l = Index::open(dir).unwrap().load().unwrap();
    (0..l.ids.len())
        .map(|i| (l.ids[i].clone(), (l.labels[i].clone(), l.captions[i].clone(), l.embeddings.row(i).to_vec())))
        .collect()
}

fn log_lines(path: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn image_shards_merged_give_the_index_of_one_run() {
    require_ready();
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir_all(imgs.join("cifar")).unwrap();
    std::fs::create_dir_all(imgs.join("bad")).unwrap();
    let mut cifar: Vec<PathBuf> =
        std::fs::read_dir(cifar_dir().join("images")).unwrap().map(|e| e.unwrap().path()).collect();
    cifar.sort();
    let mut captions = String::new();
    for (i, p) in cifar.iter().step_by(250).enumerate() {
        let name = p.file_name().unwrap().to_str().unwrap();
        std::fs::copy(p, imgs.join("cifar").join(name)).unwrap();
        captions += &format!("{{\"id\": \"cifar/{name}\", \"caption\": \"photo number {i} of a small thing\"}}\n");
    }
    std::fs::write(imgs.join("bad/empty.png"), b"").unwrap();
    let caps = dir.path().join("captions.jsonl");
    std::fs::write(&caps, captions).unwrap();
    let clip = tiny_clip();
    let index = |out: &Path, shard: Option<&str>| {
        let mut args = vec!["index", s(&imgs), "--out", s(out), "--clip", s(&clip), "--captions", s(&caps)];
        if let Some(sh) = shard {
            args.extend(["--shard", sh]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (one, s0, s1, merged) =
        (dir.path().join("one"), dir.path().join("s0"), dir.path().join("s1"), dir.path().join("merged"));
    index(&one, None);
    index(&s0, Some("0/2"));
    index(&s1, Some("1/2"));
    let (n0, n1) = (rows_by_id(&s0).len(), rows_by_id(&s1).len());
    assert!(n0 > 0 && n1 > 0 && n0 + n1 == 40, "shards of 40 images: {n0} + {n1}");
    let o = run(&["merge", s(&s0), s(&s1), "--out", s(&merged)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The same images, labels and embeddings (CLIP runs per image, so the batches do not matter).
    let (want, got) = (rows_by_id(&one), rows_by_id(&merged));
    assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
    for (id, (label, _, emb)) in &want {
        let (l, _, e) = &got[id];
        assert_eq!(label, l, "{id}");
        assert!(emb.iter().zip(e).all(|(a, b)| (a - b).abs() < 1e-5), "{id}: embeddings differ");
    }
    // The file log (the skipped file is logged by the shard it hashes to) and the captions.
    assert_eq!(log_lines(&merged.join("files.jsonl")).len(), 41);
    let ids_in = |p: &Path| -> HashSet<String> {
        log_lines(p).iter().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string()).collect()
    };
    assert_eq!(ids_in(&merged.join("files.jsonl")), ids_in(&one.join("files.jsonl")));
    let (want_c, got_c) = (rows_by_id(&one.join("captions")), rows_by_id(&merged.join("captions")));
    assert_eq!(
        want_c.iter().map(|(k, v)| (k, &v.1)).collect::<Vec<_>>(),
        got_c.iter().map(|(k, v)| (k, &v.1)).collect::<Vec<_>>()
    );
    let d = |p: &Path| std::fs::read_to_string(p.join("images.json")).unwrap();
    assert_eq!(d(&one), d(&merged));
    // The merged index is queried as any image index.
    assert!(run(&["cluster", s(&merged), "--by", "object", "-k", "2"]).status.success());

    // Refusals: an image index with a caption index; shards of another folder.
    let o = run(&["merge", s(&s0), s(&merged.join("captions")), "--out", s(&dir.path().join("x"))]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("a caption index, but the first source is an image index"));
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(&cifar[1], other.join("a.png")).unwrap();
    let o2 = dir.path().join("o2");
    assert!(run(&["index", s(&other), "--out", s(&o2), "--clip", s(&tiny_clip())]).status.success());
    let o = run(&["merge", s(&s0), s(&o2), "--out", s(&dir.path().join("y"))]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("field `root`"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn labels_from_a_csv_and_eval_by_column() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let fashion = common::require_file(common::shared_dir().join("data/images/fashion-products"));
    let dir = tempfile::tempdir().unwrap();
    // A subset keeps the test quick: 60 images plus a CSV in the same shape.
    let imgs = dir.path().join("fashion/images");
    std::fs::create_dir_all(&imgs).unwrap();
    let csv = std::fs::read_to_string(fashion.join("labels.csv")).unwrap();
    let mut lines = csv.lines();
    let mut sub = vec![lines.next().unwrap().to_string()];
    for l in lines.take(60) {
        let file = l.split(',').next().unwrap();
        std::fs::copy(fashion.join("images").join(file), imgs.join(file)).unwrap();
        sub.push(l.to_string());
    }
    let labels = dir.path().join("fashion/labels.csv");
    std::fs::write(&labels, sub.join("\n") + "\n").unwrap();
    let idx = dir.path().join("idx");
    let o = run(&[
        "index",
        s(&dir.path().join("fashion")),
        "--out",
        s(&idx),
        "--clip",
        s(&tiny_clip()),
        "--labels",
        s(&labels),
        "--label-column",
        "gender",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let l = Index::open(&idx).unwrap().load().unwrap();
    assert_eq!(l.ids.len(), 60);
    assert!(l.ids[0].starts_with("images/"));
    assert!(
        l.labels.iter().all(|x| matches!(x.as_deref(), Some("Men" | "Women" | "Boys" | "Girls" | "Unisex"))),
        "{:?}",
        &l.labels[..5]
    );
    let json = dir.path().join("r.json");
    assert!(run(&["cluster", s(&idx), "--by", "colour", "-k", "4", "--json", s(&json)]).status.success());
    // The same result scored against two label columns of the CSV: each score is the one the
    // test computes from that column itself.
    let r = ClusterResult::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let header: Vec<&str> = sub[0].split(',').collect();
    for col in ["baseColour", "season"] {
        let c = header.iter().position(|h| *h == col).unwrap();
        let truth: std::collections::HashMap<String, String> = sub[1..]
            .iter()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .map(|f| (format!("images/{}", f[0]), f[c].to_string()))
            .collect();
        let pairs: Vec<(String, i64)> = r.assignments.iter().map(|a| (a.id.clone(), a.cluster)).collect();
        let want = clusterby::eval::score_by_id(&truth, &pairs).unwrap();
        let o = run(&["eval", s(&json), "--labels", s(&labels), "--column", col, "--json", "-"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got: clusterby::eval::Scores = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((got.n, got.acc, got.nmi), (60, want.acc, want.nmi), "{col}");
    }
    let o = run(&["eval", s(&json), "--labels", s(&labels), "--column", "nope"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column \"nope\""));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn kill_9_at_several_points_then_resume() {
    require_ready();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let parts = |idx: &Path| -> usize {
        std::fs::read_to_string(idx.join("manifest.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["parts"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let spawn = || {
        Command::new(common::bin())
            .args(["index", s(&cifar_dir()), "--out", s(&idx), "--clip", s(&tiny_clip())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Kill at three points: before the first part lands, after one part, after a few more.
    let mut seen = Vec::new();
    for (i, want_parts) in [0usize, 1, 4].into_iter().enumerate() {
        let mut child = spawn();
        let deadline = Instant::now() + Duration::from_secs(300);
        if i == 0 {
            std::thread::sleep(Duration::from_millis(300));
        } else {
            let start = parts(&idx);
            while parts(&idx) < start + want_parts {
                assert!(child.try_wait().unwrap().is_none(), "the run finished before it could be killed");
                assert!(Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // After every kill the index opens and loads.
        if idx.join("manifest.json").is_file() {
            let l = Index::open(&idx).unwrap().load().unwrap();
            assert_eq!(l.ids.iter().collect::<HashSet<_>>().len(), l.ids.len());
            seen.push(l.ids.len());
        }
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "rows only grow: {seen:?}");
    assert!(seen.last().is_some_and(|&n| n > 0 && n < 10_000), "{seen:?}");
    let before = *seen.last().unwrap();

    let o = run(&["index", s(&cifar_dir()), "--out", s(&idx), "--clip", s(&tiny_clip())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let l = Index::open(&idx).unwrap().load().unwrap();
    assert_eq!(l.ids.len(), 10_000);
    assert_eq!(l.ids.iter().collect::<HashSet<_>>().len(), 10_000, "nothing duplicated");
    let new: usize = err.split(", ").find_map(|p| p.strip_suffix(" new")).and_then(|n| n.trim().parse().ok()).unwrap();
    let recovered: usize =
        err.split(", ").find_map(|p| p.strip_suffix(" recovered;")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert_eq!(new + before, 10_000, "nothing stored is encoded again: {err}");
    assert!(recovered <= before);

    // An image's stored embedding equals a fresh encoding of it.
    let mut enc = clusterby::embed::image::ImageEmbedding::try_new(
        clusterby::embed::image::ImageEmbeddingOptions::new(clusterby::embed::image::ClipSource::Dir(tiny_clip())),
    )
    .unwrap();
    let row = l.ids.iter().position(|i| i == "images/06242_frog.png").expect("a known id");
    let im = image::open(cifar_dir().join("images/06242_frog.png")).unwrap().to_rgb8();
    let fresh = enc.embed_rgb(&[im]).unwrap();
    let diff = fresh.row(0).iter().zip(l.embeddings.row(row)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "max diff {diff}");
    assert_eq!(l.labels[row].as_deref(), Some("frog"));
}

/// A chat endpoint that answers every call with `answer`.
fn fixed_answer_server(answer: &str) -> FakeServer {
    let answer = answer.to_string();
    FakeServer::with_handler(move |r| match r.path.ends_with("/chat/completions") {
        true => Reply::content(&answer),
        false => Reply::status(404, "not found"),
    })
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn llm_names_of_image_clusters_must_identify_them() {
    require_ready();
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let mut caps = String::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(cifar_dir().join("images")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for (class, caption) in
        [("cat", "A small cat with striped fur sitting on a sofa"), ("automobile", "A red car parked on a city street")]
    {
        let suffix = format!("_{class}.png");
        for p in files.iter().filter(|p| p.to_str().unwrap().ends_with(&suffix)).take(6) {
            let name = p.file_name().unwrap().to_str().unwrap();
            std::fs::copy(p, imgs.join(name)).unwrap();
            caps.push_str(&serde_json::json!({"id": name, "caption": caption}).to_string());
            caps.push('\n');
        }
    }
    let caps_file = dir.path().join("captions.jsonl");
    std::fs::write(&caps_file, caps).unwrap();
    let idx = dir.path().join("idx");
    let o = run(&["index", s(&imgs), "--out", s(&idx), "--clip", s(&tiny_clip()), "--captions", s(&caps_file)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Two names for the same thing: at most one can be nearest its own cluster's keywords.
    let server = fixed_answer_server("{\"names\": [\"Automobile\", \"Car\"]}");
    let url = server.base_url();
    let json = dir.path().join("r.json");
    let o = run(&[
        "cluster",
        s(&idx),
        "--by",
        "object",
        "-k",
        "2",
        "--space",
        "caption",
        "--namer",
        "llm",
        "--llm-base-url",
        &url,
        "--llm-retries",
        "0",
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.llm_calls, 1);
    let naming = r.diagnostics.naming.as_ref().expect("the LLM namer reports");
    assert_eq!((r.namer, naming.fallback), (NamerKind::Keywords, Some(NamerFallback::NamesDoNotFit)), "{naming:?}");
    let mut names: Vec<&str> = r.clusters.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert!(!names.contains(&"Automobile") && !names.contains(&"Car"), "{names:?}");

    // Without captions the LLM gets each cluster's CLIP values as its words, and those names
    // stay when its answer does not fit them.
    let bare = dir.path().join("bare-idx");
    let o = run(&["index", s(&imgs), "--out", s(&bare), "--clip", s(&tiny_clip())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let server = fixed_answer_server("{\"names\": [\"Automobile\", \"Car\"]}");
    let url = server.base_url();
    let o = run(&[
        "cluster",
        s(&bare),
        "--by",
        "object",
        "-k",
        "2",
        "--namer",
        "llm",
        "--llm-base-url",
        &url,
        "--llm-retries",
        "0",
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.llm_calls, 1);
    let prompt: serde_json::Value = serde_json::from_str(&server.chat_requests()[0].body).unwrap();
    let text = prompt["messages"].to_string();
    for c in &r.clusters {
        let words = c.keywords.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
        assert!(!words.is_empty() && text.contains(&words), "cluster {} words {words:?} not in {text}", c.id);
    }
    assert!(!text.contains("- \\n"), "no empty example lines: {text}");
    let fallback = r.diagnostics.naming.as_ref().and_then(|n| n.fallback);
    match r.namer {
        NamerKind::Llm => assert!(names_of(&r) == ["Automobile", "Car"] || names_of(&r) == ["Car", "Automobile"]),
        NamerKind::Values => assert_eq!(fallback, Some(NamerFallback::NamesDoNotFit)),
        other => panic!("namer {other:?}"),
    }
}

fn names_of(r: &ClusterResult) -> Vec<&str> {
    r.clusters.iter().map(|c| c.name.as_str()).collect()
}
