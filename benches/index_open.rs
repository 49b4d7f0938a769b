//! Loading an index with its part checksums verified, against the same load with the
//! checksums left out of the manifest (the anchor), side by side in one run. Synthetic rows:
//! 384-d random embeddings and short captions, written as `clusterby index` writes them (2,048
//! rows a part). `cargo bench --bench index_open [N...]` (default 1,000,000); without `--bench`
//! a 10,000-row smoke run.

use std::time::Instant;

use clusterby::store::caption_index::Index;
use clusterby::store::CaptionRecord;
use rand::{Rng, SeedableRng};

const DIM: usize = 384;
const PART_ROWS: usize = 2048;

fn write_index(dir: &std::path::Path, n: usize) {
    let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(7);
    let mut index = Index::create_or_open(dir, "bench-model", DIM).unwrap();
    let mut start = 0;
    while start < n {
        let rows = PART_ROWS.min(n - start);
        let records: Vec<CaptionRecord> = (start..start + rows)
            .map(|i| CaptionRecord {
                id: format!("r{i}"),
                caption: format!("caption number {i} of a scene"),
                label: None,
            })
            .collect();
        let emb: Vec<f32> = (0..rows * DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        index.append_part(&records, &emb).unwrap();
        start += rows;
    }
}

/// Median seconds of `reps` loads.
fn time_load(dir: &std::path::Path, reps: usize) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            let loaded = Index::open(dir).unwrap().load().unwrap();
            std::hint::black_box(loaded.ids.len());
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mut sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![if full { 1_000_000 } else { 10_000 }];
    }
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let (with, without) = (tmp.path().join("with"), tmp.path().join("without"));
        let t = Instant::now();
        write_index(&with, n);
        let write_s = t.elapsed().as_secs_f64();
        // The anchor: the same files, the manifest without checksums.
        std::fs::create_dir_all(without.join("parts")).unwrap();
        for e in std::fs::read_dir(with.join("parts")).unwrap() {
            let e = e.unwrap();
            std::fs::hard_link(e.path(), without.join("parts").join(e.file_name())).unwrap();
        }
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(with.join("manifest.json")).unwrap()).unwrap();
        for p in m["parts"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("crc32");
        }
        std::fs::write(without.join("manifest.json"), serde_json::to_string(&m).unwrap()).unwrap();
        let reps = if n >= 1_000_000 { 3 } else { 5 };
        // Alternate to share the page cache's state fairly; the first load of each warms it.
        time_load(&with, 1);
        time_load(&without, 1);
        let (a, b) = (time_load(&with, reps), time_load(&without, reps));
        println!(
            "N={n}: load with checksums {a:.3} s, without {b:.3} s, ratio {:.2} (+{:.0} ms); written in {write_s:.1} s",
            a / b,
            (a - b) * 1e3
        );
    }
}
