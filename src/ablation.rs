//! The ablation table: every conditioning × clustering method on labelled caption sets, next to
//! IC|TC's own answers for the same rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::Method;
use crate::conditioning::Conditioning;
use crate::eval;
use crate::index::store::Index;
use crate::query::{self, QueryOptions};
use crate::text_embedding::TextEmbedding;

/// One labelled caption set; the criterion and K are the only query inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationSet {
    pub name: String,
    pub file: String,
    pub criterion: String,
    pub k: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationRow {
    pub set: String,
    pub pipeline: String,
    pub conditioning: String,
    pub method: String,
    pub n: usize,
    pub acc: Option<f64>,
    pub nmi: Option<f64>,
    pub ari: Option<f64>,
    pub llm_calls: usize,
    pub query_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// IC|TC's final answers (`ictc_answer`) scored against the labels; rows without an answer
/// count as one extra cluster, so they are not silently dropped.
pub fn ictc_row(set: &AblationSet, path: &Path) -> Result<AblationRow, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(label), Some(ans)) = (v.get("label"), v.get("ictc_answer")) else { continue };
        truth.push(label.to_string());
        pred.push(ans.as_str().map(|s| s.trim().to_lowercase()).unwrap_or_else(|| "<none>".into()));
    }
    let s = eval::score(&truth, &pred)?;
    Ok(AblationRow {
        set: set.name.clone(),
        pipeline: "IC|TC (LLaVA + GPT-4, published answers)".into(),
        conditioning: "-".into(),
        method: "-".into(),
        n: s.n,
        acc: Some(s.acc),
        nmi: Some(s.nmi),
        ari: Some(s.ari),
        llm_calls: 2 * s.n + 1,
        query_ms: None,
        error: None,
    })
}

pub struct AblationConfig {
    pub data_dir: PathBuf,
    pub work_dir: PathBuf,
    pub conditionings: Vec<Conditioning>,
    pub methods: Vec<Method>,
    pub seed: u64,
}

/// Runs the grid; indexes each set once (cached in `work_dir`). Failures of one cell are
/// recorded in that row, never fatal to the table.
pub fn run(
    sets: &[AblationSet],
    cfg: &AblationConfig,
    encoder: &mut TextEmbedding,
) -> Result<Vec<AblationRow>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for set in sets {
        let input = cfg.data_dir.join(&set.file);
        let dir = cfg.work_dir.join(set.file.trim_end_matches(".jsonl"));
        let r = crate::indexing::index_captions_file(&input, &dir, encoder, true)?;
        eprintln!("[{}] index: {} rows ({} new, {:.1}s)", set.name, r.total_rows, r.added, r.seconds);
        let loaded = Index::open(&dir)?.load()?;
        let truth: HashMap<String, String> =
            loaded.ids.iter().zip(&loaded.labels).filter_map(|(i, l)| l.clone().map(|l| (i.clone(), l))).collect();
        match ictc_row(set, &input) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("[{}] no IC|TC row: {e}", set.name),
        }
        for &c in &cfg.conditionings {
            for &m in &cfg.methods {
                let mut opts = QueryOptions::new(&set.criterion).with_k(Some(set.k)).with_method(m).with_conditioning(c).with_seed(cfg.seed);
                opts.cache_dir = Some(dir.clone());
                let mut row = AblationRow {
                    set: set.name.clone(),
                    pipeline: "clusterby".into(),
                    conditioning: c.as_str().into(),
                    method: m.as_str().into(),
                    n: loaded.ids.len(),
                    acc: None,
                    nmi: None,
                    ari: None,
                    llm_calls: 0,
                    query_ms: None,
                    error: None,
                };
                match query::run(&loaded, encoder, &opts) {
                    Ok(res) => {
                        let pairs: Vec<(String, i64)> = res.assignments.iter().map(|a| (a.id.clone(), a.cluster)).collect();
                        match eval::score_by_id(&truth, &pairs) {
                            Ok(s) => {
                                row.acc = Some(s.acc);
                                row.nmi = Some(s.nmi);
                                row.ari = Some(s.ari);
                            }
                            Err(e) => row.error = Some(e.to_string()),
                        }
                        row.llm_calls = res.llm_calls;
                        row.query_ms = res.timings_ms.get("total").copied();
                    }
                    Err(e) => row.error = Some(e.to_string()),
                }
                eprintln!(
                    "[{}] {} + {}: ACC {} ({} ms){}",
                    set.name,
                    c.as_str(),
                    m.as_str(),
                    row.acc.map(|a| format!("{a:.3}")).unwrap_or("-".into()),
                    row.query_ms.map(|t| format!("{t:.0}")).unwrap_or("-".into()),
                    row.error.as_ref().map(|e| format!(" error: {e}")).unwrap_or_default()
                );
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// The table as Markdown.
pub fn markdown(rows: &[AblationRow]) -> String {
    let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into());
    let mut s = String::from(
        "| set | pipeline | conditioning | method | n | ACC | NMI | ARI | LLM calls | query ms |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    // A `|` inside a cell (as in "IC|TC") would split it.
    let e = |t: &str| t.replace('|', "\\|");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            e(&r.set),
            e(&r.pipeline),
            e(&r.conditioning),
            e(&r.method),
            r.n,
            f(r.acc),
            f(r.nmi),
            f(r.ari),
            r.llm_calls,
            r.query_ms.map(|t| format!("{t:.0}")).unwrap_or_else(|| r.error.clone().map(|e| format!("error: {e}")).unwrap_or("–".into()))
        ));
    }
    s
}
