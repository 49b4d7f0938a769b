//! The carry-over table: on every labelled set, the default query (`--by` and `-k` only) beside
//! plain k-means on the caption embeddings, over several seeds, with IC|TC's published ACC where
//! it exists. Sets come in two kinds: captions written for the criterion they are scored on
//! (IC|TC's), and captions written for something else (location captions scored by action;
//! product names scored by seven criteria).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::conditioning::Conditioning;
use crate::embed::text::TextEmbedding;
use crate::eval;
use crate::query::{self, QueryOptions};
use crate::store::caption_index::{Index, LoadedIndex};

/// Whether a set's captions were written for the criterion it is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    #[default]
    WrittenForTheCriterion,
    WrittenForAnother,
}

/// Captions and labels from columns of a CSV file (one index for all its label columns).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CsvSource {
    pub path: PathBuf,
    pub id: String,
    pub caption: String,
    pub label: String,
}

/// Mean and spread of one score over the seeds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
}

impl Stat {
    fn of(xs: &[f64]) -> Self {
        let n = xs.len().max(1) as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        Self { mean, sd }
    }
}

/// One query over the seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scores {
    pub acc: Stat,
    pub nmi: Stat,
    /// Median query time (ms).
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryRow {
    pub set: String,
    pub section: Section,
    pub criterion: String,
    pub k: usize,
    pub n: usize,
    pub seeds: Vec<u64>,
    pub plain: Scores,
    pub default: Scores,
    /// IC|TC's published per-image answers (GPT-4) scored on the same rows, where they exist.
    pub ictc_acc: Option<f64>,
}

/// An index folder, its rows, and the truth by id.
pub type LabelledIndex = (PathBuf, LoadedIndex, HashMap<String, String>);

/// A set's index folder and its truth by id: a captions file indexed as it is, or a CSV's id
/// and caption columns indexed once for all its label columns.
pub fn index_of(
    name: &str,
    file: &Path,
    csv: Option<&CsvSource>,
    data_dir: &Path,
    work_dir: &Path,
    encoder: &mut TextEmbedding,
) -> Result<LabelledIndex, Box<dyn std::error::Error>> {
    let (dir, input) = match csv {
        None => (work_dir.join(file.with_extension("")), data_dir.join(file)),
        Some(c) => {
            let stem = c.path.with_extension("");
            let jsonl = work_dir.join(format!("{}-captions.jsonl", stem.to_string_lossy().replace('/', "-")));
            write_captions_of_csv(&data_dir.join(&c.path), c, &jsonl)?;
            (work_dir.join(stem), jsonl)
        }
    };
    let r = crate::store::ingest::index_captions_file(&input, &dir, encoder, None, true)?;
    eprintln!("[{name}] index: {} rows ({} new, {:.1}s)", r.total_rows, r.added, r.seconds);
    let loaded = Index::open(&dir)?.load()?;
    let truth = match csv {
        None => loaded.ids.iter().zip(&loaded.labels).filter_map(|(i, l)| l.clone().map(|l| (i.clone(), l))).collect(),
        Some(c) => eval::load_labels_file(data_dir.join(&c.path), Some(&c.label))?,
    };
    Ok((dir, loaded, truth))
}

fn write_captions_of_csv(csv: &Path, c: &CsvSource, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = csv::Reader::from_path(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| format!("{}: no column {name:?}", csv.display()))
    };
    let (id, caption) = (col(&c.id)?, col(&c.caption)?);
    let mut lines = String::new();
    for row in reader.records() {
        let row = row?;
        lines.push_str(&serde_json::json!({"id": &row[id], "caption": &row[caption]}).to_string());
        lines.push('\n');
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::util::fs::write_atomic(out, lines.as_bytes())?;
    Ok(())
}

/// Plain and default queries of one set over `seeds`.
pub fn summary_row(
    set: &super::ablation::AblationSet,
    loaded: &LoadedIndex,
    dir: &Path,
    truth: &HashMap<String, String>,
    seeds: &[u64],
    encoder: &mut TextEmbedding,
) -> Result<SummaryRow, Box<dyn std::error::Error>> {
    let k = set.k.unwrap_or_else(|| truth.values().collect::<std::collections::HashSet<_>>().len());
    let mut run = |c: Conditioning| -> Result<Scores, Box<dyn std::error::Error>> {
        let (mut acc, mut nmi, mut ms) = (Vec::new(), Vec::new(), Vec::new());
        for &seed in seeds {
            let opts = QueryOptions::new(&set.criterion)
                .with_k(Some(k))
                .with_conditioning(c)
                .with_seed(seed)
                .with_cache_dir(dir);
            let r = query::run(loaded, encoder, &opts, None)?;
            let pairs: Vec<(String, i64)> = r.assignments.iter().map(|a| (a.id.clone(), a.cluster)).collect();
            let s = eval::score_by_id(truth, &pairs)?;
            acc.push(s.acc);
            nmi.push(s.nmi);
            ms.push(r.timings_ms.get("total").copied().unwrap_or(0.0));
        }
        ms.sort_by(f64::total_cmp);
        Ok(Scores { acc: Stat::of(&acc), nmi: Stat::of(&nmi), ms: ms[ms.len() / 2] })
    };
    let (plain, default) = (run(Conditioning::None)?, run(Conditioning::Values)?);
    eprintln!(
        "[{}] plain ACC {:.3} NMI {:.3} | default ACC {:.3} NMI {:.3}",
        set.name, plain.acc.mean, plain.nmi.mean, default.acc.mean, default.nmi.mean
    );
    Ok(SummaryRow {
        set: set.name.clone(),
        section: set.section,
        criterion: set.criterion.clone(),
        k,
        n: loaded.ids.len(),
        seeds: seeds.to_vec(),
        plain,
        default,
        ictc_acc: None,
    })
}

/// The summary as Markdown: one table per section, and the mean NMI of the sets written for
/// another criterion.
pub fn markdown(rows: &[SummaryRow]) -> String {
    let cell = |s: &Stat| format!("{:.3} ± {:.3}", s.mean, s.sd);
    let mut out = String::new();
    for (section, title) in [
        (Section::WrittenForTheCriterion, "Captions written for the criterion"),
        (Section::WrittenForAnother, "Captions written for another criterion"),
    ] {
        let part: Vec<&SummaryRow> = rows.iter().filter(|r| r.section == section).collect();
        if part.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "### {title}\n\n| set (criterion, K) | n | plain ACC | default ACC | plain NMI | default NMI | IC\\|TC ACC | default ms |\n|---|---|---|---|---|---|---|---|\n"
        ));
        for r in &part {
            out.push_str(&format!(
                "| {} ({}, {}) | {} | {} | {} | {} | {} | {} | {:.0} |\n",
                r.set.replace('|', "\\|"),
                r.criterion,
                r.k,
                r.n,
                cell(&r.plain.acc),
                cell(&r.default.acc),
                cell(&r.plain.nmi),
                cell(&r.default.nmi),
                r.ictc_acc.map_or("–".to_string(), |a| format!("{a:.3}")),
                r.default.ms
            ));
        }
        let mean = |f: &dyn Fn(&SummaryRow) -> f64| part.iter().map(|r| f(r)).sum::<f64>() / part.len() as f64;
        out.push_str(&format!(
            "| **mean** | | {:.3} | {:.3} | {:.3} | {:.3} | | |\n\n",
            mean(&|r| r.plain.acc.mean),
            mean(&|r| r.default.acc.mean),
            mean(&|r| r.plain.nmi.mean),
            mean(&|r| r.default.nmi.mean)
        ));
    }
    out
}
