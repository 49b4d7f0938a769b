//! The default pipeline on real captions: criterion conditioning must beat plain embeddings
//! where the criterion needs it (PPMI-2: wind vs string instruments).

mod common;

use clusterby::conditioning::Conditioning;
use clusterby::index::store::Index;
use clusterby::query::{self, QueryOptions};
use clusterby::{ModelName, TextEmbedding, TextEmbeddingOptions, TextModelSource};

#[test]
fn ppmi2_values_beats_plain_embeddings() {
    let input = common::shared_dir().join("data/captions/ppmi2.jsonl");
    if !common::have_model(ModelName::AllMiniLmL6V2) || !common::have_file(&input) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut enc =
        TextEmbedding::try_new(TextEmbeddingOptions::new(TextModelSource::Catalogue(ModelName::AllMiniLmL6V2))).unwrap();
    clusterby::indexing::index_captions_file(&input, dir.path(), &mut enc, false).unwrap();
    let loaded = Index::open(dir.path()).unwrap().load().unwrap();
    let truth: Vec<&str> = loaded.labels.iter().map(|l| l.as_deref().unwrap()).collect();
    let acc = |c: Conditioning, enc: &mut TextEmbedding| {
        let opts = QueryOptions::new("musical instrument").with_k(Some(2)).with_conditioning(c);
        let r = query::run(&loaded, enc, &opts).unwrap();
        assert_eq!(r.llm_calls, 0);
        let pred: Vec<i64> = r.assignments.iter().map(|a| a.cluster).collect();
        clusterby::eval::score(&truth, &pred).unwrap().acc
    };
    let (plain, values) = (acc(Conditioning::None, &mut enc), acc(Conditioning::Values, &mut enc));
    eprintln!("PPMI-2 ACC: plain {plain:.3}, values {values:.3}");
    assert!(values >= 0.9, "values ACC {values}");
    assert!(values > plain + 0.2, "values {values} vs plain {plain}");
}
