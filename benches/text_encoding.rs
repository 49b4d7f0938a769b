//! Caption-encoding throughput: clusterby's TextEmbedding (tokenize + run + pool) next to a bare
//! ort session running the same model on the same pre-tokenized batches.
//!
//! Run: `cargo bench --bench text_encoding` (needs `bash scripts/setup.sh` first).
//! Throughput is reported in captions/s (batch 32, ~20-word captions).

use std::borrow::Cow;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ort::session::SessionInputValue;
use ort::value::Tensor;
use rand::{seq::SliceRandom, Rng, SeedableRng};

use clusterby::embed::text::{open_session, TextEmbedding, TextEmbeddingOptions, TextModelSource};
use clusterby::models::{installed_dir, ModelName};

const BATCH: usize = 32;

/// (sequence length, input ids, attention mask, token type ids) of one pre-tokenized batch.
type TokenizedBatch = (usize, Vec<i64>, Vec<i64>, Vec<i64>);

/// Seeded ~20-word captions in the style of VLM descriptions.
fn captions(n: usize) -> Vec<String> {
    let subj = ["a man", "a woman", "a small dog", "two children", "a red car", "an old truck", "a cat", "a bird"];
    let verb = ["playing", "holding", "standing next to", "sitting on", "walking past", "looking at"];
    let obj = ["a violin", "a wooden bench", "a trumpet", "a bicycle", "a large tree", "the river", "a guitar"];
    let place = ["in a busy city street", "in a quiet park", "on a sunny beach", "inside a dim room", "near a lake"];
    let extra =
        ["The scene feels calm and relaxed.", "People are gathered around watching.", "The light is warm and soft."];
    let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(7);
    (0..n)
        .map(|_| {
            format!(
                "The image features {} {} {} {}. {}",
                subj.choose(&mut rng).unwrap(),
                verb.choose(&mut rng).unwrap(),
                obj.choose(&mut rng).unwrap(),
                place.choose(&mut rng).unwrap(),
                if rng.gen_bool(0.7) { extra.choose(&mut rng).unwrap() } else { "" }
            )
        })
        .collect()
}

fn bench_model(c: &mut Criterion, model: ModelName) {
    if installed_dir(model).is_err() {
        eprintln!("skipping {model}: not installed (bash scripts/setup.sh)");
        return;
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let texts = captions(BATCH * 8);
    let mut enc = TextEmbedding::try_new(
        TextEmbeddingOptions::new(TextModelSource::Catalogue(model)).with_batch_size(BATCH).with_threads(threads),
    )
    .unwrap();
    // Pre-tokenize the same batches for the bare session.
    let batches: Vec<TokenizedBatch> = texts
        .chunks(BATCH)
        .map(|ch| {
            let enc = enc.tokenizer().encode_batch(ch.to_vec(), true).unwrap();
            let seq = enc[0].get_ids().len();
            let flat = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| enc.iter().flat_map(f).collect::<Vec<i64>>();
            (
                seq,
                flat(&|e| e.get_ids().iter().map(|&x| x as i64).collect()),
                flat(&|e| e.get_attention_mask().iter().map(|&x| x as i64).collect()),
                flat(&|e| e.get_type_ids().iter().map(|&x| x as i64).collect()),
            )
        })
        .collect();
    let mut bare = open_session(enc.model_path(), threads, &Default::default()).unwrap();

    let mut g = c.benchmark_group(format!("encode/{model}"));
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.sample_size(10);
    g.bench_function("clusterby", |b| {
        b.iter(|| {
            for ch in texts.chunks(BATCH) {
                let refs: Vec<&str> = ch.iter().map(String::as_str).collect();
                std::hint::black_box(enc.embed_batch(&refs).unwrap());
            }
        })
    });
    g.bench_function("bare-ort", |b| {
        b.iter(|| {
            for (seq, ids, mask, types) in &batches {
                let shape = [BATCH, *seq];
                let feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
                    ("input_ids".into(), Tensor::from_array((shape, ids.clone())).unwrap().into()),
                    ("attention_mask".into(), Tensor::from_array((shape, mask.clone())).unwrap().into()),
                    ("token_type_ids".into(), Tensor::from_array((shape, types.clone())).unwrap().into()),
                ];
                let out = bare.run(feeds).unwrap();
                std::hint::black_box(out[0].try_extract_tensor::<f32>().unwrap().1[0]);
            }
        })
    });
    g.finish();
}

fn encoding(c: &mut Criterion) {
    bench_model(c, ModelName::AllMiniLmL6V2);
    bench_model(c, ModelName::AllMiniLmL6V2Int8);
}

criterion_group!(benches, encoding);
criterion_main!(benches);
