use super::*;

const MODEL: &str = "test-model";
const DIM: usize = 4;

fn records(prefix: &str, n: usize) -> Vec<CaptionRecord> {
    (0..n)
        .map(|i| CaptionRecord {
            id: format!("{prefix}{i}"),
            caption: format!("caption {prefix}{i}"),
            label: (i % 2 == 0).then(|| format!("class{}", i % 3)),
        })
        .collect()
}

fn embeddings(seed: f32, n: usize) -> Vec<f32> {
    (0..n * DIM).map(|i| seed + i as f32 * 0.1).collect()
}

#[test]
fn roundtrip_two_parts_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (r1, e1) = (records("a", 3), embeddings(1.0, 3));
    let (r2, e2) = (records("b", 2), embeddings(-5.0, 2));
    {
        let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
        index.append_part(&r1, &e1).unwrap();
        index.append_part(&r2, &e2).unwrap();
        assert_eq!(index.manifest().rows, 5);
    }

    let index = Index::open(&dir).unwrap();
    let m = index.manifest();
    assert_eq!(m.format, FORMAT_NAME);
    assert_eq!((m.model.as_str(), m.dim, m.rows), (MODEL, DIM, 5));
    let files: Vec<&str> = m.parts.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(files, ["parts/part-00000.parquet", "parts/part-00001.parquet"]);
    assert_eq!(m.parts[0].rows, 3);

    let loaded = index.load().unwrap();
    let all: Vec<CaptionRecord> = r1.iter().chain(&r2).cloned().collect();
    assert_eq!(loaded.ids, all.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    assert_eq!(loaded.captions, all.iter().map(|r| r.caption.clone()).collect::<Vec<_>>());
    assert_eq!(loaded.labels, all.iter().map(|r| r.label.clone()).collect::<Vec<_>>());
    assert_eq!(loaded.embeddings.dim(), (5, DIM));
    let expected: Vec<f32> = e1.iter().chain(&e2).copied().collect();
    assert_eq!(loaded.embeddings.as_slice().unwrap(), &expected[..]);

    let ids = index.ids().unwrap();
    assert_eq!(ids.len(), 5);
    assert!(ids.contains("a0") && ids.contains("b1"));

    // Reopening for writing keeps both parts and continues numbering.
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&records("c", 1), &embeddings(0.0, 1)).unwrap();
    assert_eq!(index.manifest().parts[2].file, "parts/part-00002.parquet");
    assert_eq!(index.load().unwrap().ids.len(), 6);
}

#[test]
fn empty_index_loads_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let index = Index::create_or_open(tmp.path().join("idx"), MODEL, DIM).unwrap();
    let loaded = index.load().unwrap();
    assert_eq!(loaded.embeddings.dim(), (0, DIM));
    assert!(index.ids().unwrap().is_empty());
}

#[test]
fn model_or_dim_mismatch_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    Index::create_or_open(&dir, MODEL, DIM).unwrap();

    let msg = Index::create_or_open(&dir, "other-model", DIM).unwrap_err().to_string();
    assert!(msg.contains(MODEL) && msg.contains("other-model"), "{msg}");

    let err = Index::create_or_open(&dir, MODEL, 8).unwrap_err();
    assert!(matches!(err, IndexError::ModelMismatch { stored_dim: 4, requested_dim: 8, .. }));
}

#[test]
fn invalid_appends_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    // Wrong embedding length.
    assert!(index.append_part(&records("a", 2), &embeddings(0.0, 1)).is_err());
    // Duplicate within the batch.
    let mut dup = records("a", 2);
    dup[1].id = "a0".into();
    assert!(index.append_part(&dup, &embeddings(0.0, 2)).is_err());
    // NaN.
    let mut nan = embeddings(0.0, 1);
    nan[2] = f32::NAN;
    assert!(index.append_part(&records("a", 1), &nan).is_err());
    // Already stored, also after reopening.
    index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
    let msg = index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap_err().to_string();
    assert!(msg.contains("'a0' is already in the index"), "{msg}");
    drop(index);
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    assert!(index.append_part(&records("a", 1), &embeddings(0.0, 1)).is_err());
    // Nothing is written by rejected appends.
    assert_eq!(index.manifest().parts.len(), 1);
    let listed = fs::read_dir(dir.join(PARTS_DIR)).unwrap().count();
    assert_eq!(listed, 1);
    // Read-only handles refuse writes.
    let mut ro = Index::open(&dir).unwrap();
    assert!(matches!(ro.append_part(&records("z", 1), &embeddings(0.0, 1)), Err(IndexError::ReadOnly { .. })));
}

#[test]
fn crash_leftovers_are_ignored_by_readers_and_removed_by_the_next_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
    drop(index);

    // Crash after renaming part 1 but before the manifest was rewritten: a complete, unlisted
    // part (here a copy of part 0, whose ids must not show up) plus a half-written temp file
    // and a stale manifest temp.
    let parts = dir.join(PARTS_DIR);
    fs::copy(parts.join("part-00000.parquet"), parts.join("part-00001.parquet")).unwrap();
    fs::write(parts.join(".part-00002.parquet.tmp"), b"PAR1 half written").unwrap();
    fs::write(crate::util::fs::temp_path(&dir.join(MANIFEST_FILE)), b"{ truncated").unwrap();

    let reopened = Index::open(&dir).unwrap();
    assert_eq!(reopened.load().unwrap().ids, ["a0", "a1"]);

    // The next writer removes the stray part and the temp file before it writes.
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    assert_eq!(index.strays_removed(), [".part-00002.parquet.tmp", "part-00001.parquet"]);
    index.append_part(&records("b", 1), &embeddings(9.0, 1)).unwrap();
    let files: Vec<&str> = index.manifest().parts.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(files, ["parts/part-00000.parquet", "parts/part-00001.parquet"]);

    let loaded = Index::open(&dir).unwrap().load().unwrap();
    assert_eq!(loaded.ids, ["a0", "a1", "b0"]);
    assert_eq!(loaded.embeddings.row(2).to_vec(), embeddings(9.0, 1));
    // A reader of parts/ (pandas, DuckDB) sees exactly the manifest's rows.
    let visible: Vec<String> = fs::read_dir(&parts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(visible.len(), 2, "{visible:?}");
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut first = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    let err = Index::create_or_open(&dir, MODEL, DIM).unwrap_err();
    assert!(matches!(err, IndexError::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("another process") && msg.contains("refused") && msg.contains("idx"), "{msg}");
    // Readers are not blocked, and the first writer goes on.
    assert_eq!(Index::open(&dir).unwrap().manifest().rows, 0);
    first.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
    drop(first);
    let mut second = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    second.append_part(&records("b", 1), &embeddings(1.0, 1)).unwrap();
    assert_eq!(Index::open(&dir).unwrap().load().unwrap().ids, ["a0", "a1", "b0"]);
}

#[test]
fn corrupt_or_missing_part_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&records("a", 2), &embeddings(0.0, 2)).unwrap();
    index.append_part(&records("b", 2), &embeddings(0.0, 2)).unwrap();

    let part1 = dir.join(PARTS_DIR).join("part-00001.parquet");
    let bytes = fs::read(&part1).unwrap();
    fs::write(&part1, &bytes[..bytes.len() / 2]).unwrap();
    for result in [index.load().map(|_| ()), index.ids().map(|_| ())] {
        let msg = result.unwrap_err().to_string();
        assert!(msg.contains("part-00001.parquet"), "{msg}");
    }

    fs::remove_file(&part1).unwrap();
    let msg = index.load().unwrap_err().to_string();
    assert!(msg.contains("part-00001.parquet") && msg.contains("cannot open"), "{msg}");

    // A valid Parquet file with the wrong row count is caught too.
    fs::copy(dir.join(PARTS_DIR).join("part-00000.parquet"), &part1).unwrap();
    let mut m = index.manifest().clone();
    m.parts[1].rows = 3;
    m.parts[1].crc32 = None;
    m.rows = 5;
    write_manifest(&dir, &m).unwrap();
    let msg = Index::open(&dir).unwrap().load().unwrap_err().to_string();
    assert!(msg.contains("part-00001.parquet") && msg.contains("3"), "{msg}");
}

#[test]
fn a_part_changed_after_it_was_written_fails_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&records("a", 3), &embeddings(0.0, 3)).unwrap();
    let part = dir.join(PARTS_DIR).join("part-00000.parquet");
    let good = fs::read(&part).unwrap();
    assert_eq!(index.manifest().parts[0].crc32, Some(crc32fast::hash(&good)));
    // One flipped bit in the middle of the file, where Parquet itself may not notice.
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x01;
    fs::write(&part, &bad).unwrap();
    let msg = Index::open(&dir).unwrap().load().unwrap_err().to_string();
    assert!(msg.contains("part-00000.parquet") && msg.contains("checksum mismatch"), "{msg}");
    // Manifests written before checksums were recorded still load.
    fs::write(&part, &good).unwrap();
    let mut m = index.manifest().clone();
    m.parts[0].crc32 = None;
    write_manifest(&dir, &m).unwrap();
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    assert!(!text.contains("crc32"), "{text}");
    assert_eq!(Index::open(&dir).unwrap().load().unwrap().ids, ["a0", "a1", "a2"]);
}

#[test]
fn bad_manifests_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap();
    let path = dir.join(MANIFEST_FILE);
    let good = fs::read_to_string(&path).unwrap();

    for (from, to) in [
        ("\"rows\": 1\n", "\"rows\": 2\n"),
        ("parts/part-00000.parquet", "../outside.parquet"),
        ("\"version\": 1", "\"version\": 2"),
        ("clusterby-index", "something-else"),
    ] {
        assert!(good.contains(from), "{from} not in {good}");
        fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let msg = Index::open(&dir).unwrap_err().to_string();
        assert!(msg.contains("manifest.json"), "{msg}");
    }
    fs::write(&path, "not json").unwrap();
    assert!(Index::open(&dir).is_err());

    let msg = Index::open(tmp.path().join("nowhere")).unwrap_err().to_string();
    assert!(msg.contains("manifest.json"), "{msg}");
}

#[test]
fn meta_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    let mut meta = Map::new();
    meta.insert("source".into(), Value::from("ppmi2.jsonl"));
    index.set_meta(meta.clone()).unwrap();
    index.append_part(&records("a", 1), &embeddings(0.0, 1)).unwrap();
    assert_eq!(Index::open(&dir).unwrap().manifest().meta, Some(meta));
}

#[test]
fn refuses_non_empty_foreign_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let msg = Index::create_or_open(tmp.path(), MODEL, DIM).unwrap_err().to_string();
    assert!(msg.contains("not empty"), "{msg}");
    assert!(!tmp.path().join(MANIFEST_FILE).exists());
}

#[test]
fn multiple_row_groups_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let n = ROW_GROUP_ROWS + 10;
    let recs = records("r", n);
    let emb: Vec<f32> = (0..n * DIM).map(|i| i as f32).collect();
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&recs, &emb).unwrap();
    let loaded = index.load().unwrap();
    assert_eq!(loaded.ids.len(), n);
    assert_eq!(loaded.ids[n - 1], format!("r{}", n - 1));
    assert_eq!(loaded.embeddings.as_slice().unwrap(), &emb[..]);
}

/// Checks that a reader other than clusterby understands the parts. Uses `python3` (or
/// `$CLUSTERBY_TEST_PYTHON`) and is skipped when pyarrow cannot be imported.
#[test]
fn pyarrow_reads_parts() {
    let python = std::env::var("CLUSTERBY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python).args(["-c", "import pyarrow"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipping pyarrow_reads_parts: `{python} -c 'import pyarrow'` failed: {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
            );
            return;
        }
        Err(e) => {
            eprintln!("skipping pyarrow_reads_parts: cannot run {python}: {e}");
            return;
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let recs = records("p", 3);
    let emb = vec![0.5, -1.25, 0.1, 3.0e-7, 1.0, 2.0, 3.0, 4.0, -0.0, 7.5, 1e10, -2.5];
    let mut index = Index::create_or_open(&dir, MODEL, DIM).unwrap();
    index.append_part(&recs, &emb).unwrap();
    index.append_part(&records("q", 1), &embeddings(0.0, 1)).unwrap();
    // A crash leftover must not confuse a dataset reader of the parts folder.
    fs::write(dir.join(PARTS_DIR).join(".part-00002.parquet.tmp"), b"junk").unwrap();

    let script = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
part, parts_dir, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = pq.read_table(part)
emb_type = t.schema.field("embedding").type
assert emb_type == pa.list_(pa.float32(), dim), emb_type
assert t.schema.field("id").type == pa.string()
assert not t.schema.field("id").nullable
print(json.dumps({
"type": str(emb_type),
"ids": t.column("id").to_pylist(),
"captions": t.column("caption").to_pylist(),
"labels": t.column("label").to_pylist(),
"embedding": t.column("embedding").to_pylist(),
"dataset_rows": pq.read_table(parts_dir).num_rows,
}))
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(dir.join("parts/part-00000.parquet"))
        .arg(dir.join("parts"))
        .arg(DIM.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "fixed_size_list<item: float>[4]");
    let ids: Vec<String> = recs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(v["ids"], serde_json::json!(ids));
    let captions: Vec<String> = recs.iter().map(|r| r.caption.clone()).collect();
    assert_eq!(v["captions"], serde_json::json!(captions));
    let labels: Vec<Option<String>> = recs.iter().map(|r| r.label.clone()).collect();
    assert_eq!(v["labels"], serde_json::json!(labels));
    // pyarrow widens float32 to Python floats exactly, so narrowing back must be lossless.
    let got: Vec<f32> = v["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got.len(), emb.len());
    for (g, e) in got.iter().zip(&emb) {
        assert_eq!(g.to_bits(), e.to_bits(), "{g} != {e}");
    }
    assert_eq!(v["dataset_rows"], 4);
    eprintln!("pyarrow read the index: {}", v["type"]);
}
