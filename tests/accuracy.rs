//! The default pipeline on real captions: criterion conditioning must beat plain embeddings
//! where the criterion needs it (PPMI-2: wind vs string instruments; PPMI-7: which instrument).

mod common;

use clusterby::conditioning::Conditioning;
use clusterby::query::{self, QueryOptions};
use clusterby::store::caption_index::Index;
use clusterby::{ModelName, TextEmbedding, TextEmbeddingOptions, TextModelSource};

/// ACC of plain and values conditioning on one caption set, with the values query's caption
/// weight and the share of its captions that name a kind of the criterion.
fn plain_and_values(set: &str, criterion: &str, k: usize) -> (f64, f64, f32, f32) {
    common::require_model(ModelName::AllMiniLmL6V2);
    let input = common::require_file(common::shared_dir().join(format!("data/captions/{set}.jsonl")));
    let dir = tempfile::tempdir().unwrap();
    let mut enc =
        TextEmbedding::try_new(TextEmbeddingOptions::new(TextModelSource::Catalogue(ModelName::AllMiniLmL6V2)))
            .unwrap();
    clusterby::store::ingest::index_captions_file(&input, dir.path(), &mut enc, None, false).unwrap();
    let loaded = Index::open(dir.path()).unwrap().load().unwrap();
    let truth: Vec<&str> = loaded.labels.iter().map(|l| l.as_deref().unwrap()).collect();
    let (mut weight, mut coverage) = (None, None);
    let mut acc = |c: Conditioning, enc: &mut TextEmbedding| {
        let opts = QueryOptions::new(criterion).with_k(Some(k)).with_conditioning(c);
        let r = query::run(&loaded, enc, &opts, None).unwrap();
        assert_eq!(r.llm_calls, 0);
        if c == Conditioning::Values {
            weight = r.diagnostics.conditioning.as_ref().and_then(|d| d.caption_weight);
            coverage = r.diagnostics.conditioning.as_ref().and_then(|d| d.kinds_coverage);
        }
        clusterby::eval::score(&truth, &r.labels()).unwrap().acc
    };
    let (plain, values) = (acc(Conditioning::None, &mut enc), acc(Conditioning::Values, &mut enc));
    let weight = weight.expect("values conditioning reports its caption weight");
    let coverage = coverage.expect("the criterion has kinds in these captions");
    eprintln!(
        "{set} ACC: plain {plain:.3}, values {values:.3}; caption weight {weight:.2}, kinds named in {coverage:.2}"
    );
    (plain, values, weight, coverage)
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn ppmi2_values_beats_plain_embeddings() {
    let (plain, values, weight, _) = plain_and_values("ppmi2", "musical instrument", 2);
    assert!(values >= 0.9, "values ACC {values}");
    assert!(values > plain + 0.2, "values {values} vs plain {plain}");
    // Captions of musicians are mostly about people and stages, not about wind vs string:
    // the views disagree, so the values take most of the weight.
    assert!(weight < 0.5, "caption weight {weight}");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn ppmi7_values_beats_plain_embeddings_and_leans_on_captions() {
    let (plain, values, weight, coverage) = plain_and_values("ppmi7", "musical instrument", 7);
    assert!(values >= 0.94, "values ACC {values}");
    assert!(values > plain + 0.1, "values {values} vs plain {plain}");
    // Here the captions name the instrument: the views agree and the captions lead.
    assert!(weight > 0.7, "caption weight {weight}");
    assert!(coverage > 0.9, "captions of instrument players name the instrument: {coverage}");
}
