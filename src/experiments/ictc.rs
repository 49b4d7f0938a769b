//! The full IC|TC pipeline (Kwon et al., ICLR 2024) over the same LLM client, as the baseline
//! clusterby is measured against: step 2a labels every caption by the criterion (N calls), step
//! 2b merges the label counts into K names (1 call), step 3 assigns every caption to one of the
//! names (N calls). Every answer is cached on disk, so a killed run resumes where it stopped.
//!
//! Step 3 asks for the answer as `{"category": one of the names}` through a JSON schema where the
//! server supports it; answers outside the names are mapped to the nearest name by embedding.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ndarray::Array2;
use serde_json::json;

use crate::embed::text::{EmbedError, TextEmbedding};
use crate::llm::json::clean_name;
use crate::llm::{extract_json, parallel_map, parse_names, AnswerCache, ChatOptions, LlmClient, LlmError, Message};
use crate::query::{Assignment, ClusterResult, ClusterSummary, IctcReport, NamerKind, Strategy};

#[derive(Debug, thiserror::Error)]
pub enum IctcError {
    #[error("the criterion is empty")]
    EmptyCriterion,
    #[error("k must be at least 1")]
    ZeroK,
    #[error("no captions to cluster")]
    Empty,
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Options of one IC|TC run.
#[derive(Debug, Clone)]
pub struct IctcOptions {
    pub criterion: String,
    pub k: usize,
    /// Most frequent step-2a labels shown to step 2b (the rest are rare and would overflow a
    /// small model's context).
    pub max_labels_in_merge: usize,
    pub progress: bool,
}

impl IctcOptions {
    pub fn new(criterion: impl Into<String>, k: usize) -> Self {
        Self { criterion: criterion.into(), k, max_labels_in_merge: 120, progress: true }
    }
}

fn label_prompt(criterion: &str, caption: &str) -> Vec<Message> {
    vec![
        Message::system("You are a helpful assistant that answers briefly."),
        Message::user(format!(
            "Here is a description of an image:\n\"{}\"\n\nWhat is the {criterion} in this image? \
             Answer with a short label of one to three words, nothing else.",
            caption.trim()
        )),
    ]
}

fn merge_prompt(criterion: &str, k: usize, counts: &[(String, usize)]) -> Vec<Message> {
    let list: Vec<String> = counts.iter().map(|(l, n)| format!("{l}: {n}")).collect();
    vec![
        Message::system("You are a helpful assistant that answers with JSON only."),
        Message::user(format!(
            "Images were labelled by their {criterion}. Here are the labels with how many images got each:\n{}\n\n\
             Merge these labels into exactly {k} categories of {criterion} that cover the images well. \
             Answer as JSON: {{\"names\": [{k} category names]}}",
            list.join("\n")
        )),
    ]
}

fn assign_prompt(criterion: &str, caption: &str, names: &[String]) -> Vec<Message> {
    let list: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{}. {n}", i + 1)).collect();
    vec![
        Message::system("You are a helpful assistant that answers with JSON only."),
        Message::user(format!(
            "Here is a description of an image:\n\"{}\"\n\nWhich of these {criterion} categories fits the image best?\n{}\n\n\
             Answer as JSON: {{\"category\": \"<one of the categories>\"}}",
            caption.trim(),
            list.join("\n")
        )),
    ]
}

/// The label in a step-2a answer: first line, without "Answer:", a restated question ("The
/// instrument in this image is a …") or articles, lower case, at most four words.
pub fn parse_label(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut l = line.to_lowercase();
    for p in ["answer:", "label:", "the answer is"] {
        if let Some(rest) = l.strip_prefix(p) {
            l = rest.trim().to_string();
        }
    }
    // A sentence answer puts the label after its last " is " / " are ".
    if l.split_whitespace().count() > 4 {
        if let Some(i) = l.rfind(" is ").or_else(|| l.rfind(" are ")) {
            l = l[i..].trim_start().split_once(' ').map_or("", |(_, r)| r).to_string();
        }
    }
    let mut words: Vec<&str> = l.split_whitespace().collect();
    while words.first().is_some_and(|w| matches!(*w, "a" | "an" | "the")) {
        words.remove(0);
    }
    let l = clean_name(&words.join(" ")).to_lowercase();
    let l: String = l.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    (!l.is_empty()).then_some(l)
}

fn norm(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Step 3's answer as a name index, without embeddings: exact, by number, or by containment
/// (the longest name found in the answer). `None` when it needs the embedding fallback.
pub fn match_name(answer: &str, names: &[String]) -> Option<usize> {
    let text = extract_json(answer)
        .and_then(|v| {
            v.get("category").and_then(|c| c.as_str().map(str::to_string)).or_else(|| v.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| answer.to_string());
    let a = norm(&text);
    if a.is_empty() {
        return None;
    }
    let normed: Vec<String> = names.iter().map(|n| norm(n)).collect();
    if let Some(i) = normed.iter().position(|n| *n == a) {
        return Some(i);
    }
    if let Ok(num) = a.split_whitespace().next().unwrap_or("").parse::<usize>() {
        if (1..=names.len()).contains(&num) && a.split_whitespace().count() == 1 {
            return Some(num - 1);
        }
    }
    let padded = format!(" {a} ");
    normed
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty() && padded.contains(&format!(" {n} ")))
        .max_by_key(|(_, n)| n.len())
        .map(|(i, _)| i)
}

/// One cached chat; a failure is returned, not raised, so one bad caption never stops a run.
fn ask(
    client: &LlmClient,
    cache: &AnswerCache,
    m: &[Message],
    o: &ChatOptions,
    hits: &AtomicUsize,
) -> Result<String, LlmError> {
    let (c, hit) = client.chat_cached(cache, m, o)?;
    if hit {
        hits.fetch_add(1, Ordering::Relaxed);
    }
    Ok(c.content)
}

/// Runs IC|TC steps 2a, 2b and 3 over `captions` and returns the result in `clusterby cluster`'s
/// shape, plus the report.
pub fn run(
    ids: &[String],
    captions: &[String],
    opts: &IctcOptions,
    client: &LlmClient,
    cache: &AnswerCache,
    encoder: &mut TextEmbedding,
) -> Result<(ClusterResult, IctcReport), IctcError> {
    let criterion = opts.criterion.trim();
    if criterion.is_empty() {
        return Err(IctcError::EmptyCriterion);
    }
    if opts.k == 0 {
        return Err(IctcError::ZeroK);
    }
    if captions.is_empty() {
        return Err(IctcError::Empty);
    }
    let mut steps = Steps {
        client,
        cache,
        criterion,
        opts,
        hits: AtomicUsize::new(0),
        report: IctcReport { logical_calls: 2 * captions.len() + 1, ..Default::default() },
        timings: BTreeMap::new(),
    };
    let labels = steps.timed("step2a_label", |s| s.label(captions));
    let names = steps.timed("step2b_merge", |s| s.merge(&labels));
    let answers = steps.timed("step3_assign", |s| s.assign(captions, &names));
    let t = Instant::now();
    let assigned = steps.map_answers(&answers, captions, &names, encoder)?;
    steps.timings.insert("map_answers".to_string(), t.elapsed().as_secs_f64() * 1e3);
    let Steps { hits, mut report, mut timings, .. } = steps;
    report.cache_hits = hits.load(Ordering::Relaxed);

    let mut usage = client.usage();
    usage.cache_hits = report.cache_hits as u64;
    timings.insert("total".to_string(), timings.values().sum());
    let mut result = ClusterResult::new(criterion, Strategy::Ictc, opts.k, 0);
    result.namer = NamerKind::Llm;
    result.clusters = summaries(ids, &names, &labels, &assigned);
    result.assignments = ids
        .iter()
        .zip(&assigned)
        .map(|(id, a)| Assignment { id: id.clone(), cluster: a.map_or(-1, |c| c as i64) })
        .collect();
    result.llm_calls = report.logical_calls;
    result.timings_ms = timings;
    result.llm = Some(usage);
    result.model = Some(encoder.name().to_string());
    result.diagnostics.ictc = Some(report.clone());
    Ok((result, report))
}

/// One run's client, answer cache and counters, shared by its three steps.
struct Steps<'a> {
    client: &'a LlmClient,
    cache: &'a AnswerCache,
    criterion: &'a str,
    opts: &'a IctcOptions,
    hits: AtomicUsize,
    report: IctcReport,
    timings: BTreeMap<String, f64>,
}

impl Steps<'_> {
    fn timed<T>(&mut self, step: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let t = Instant::now();
        let out = f(self);
        self.timings.insert(step.to_string(), t.elapsed().as_secs_f64() * 1e3);
        out
    }

    fn ask(&self, m: &[Message], o: &ChatOptions) -> Result<String, LlmError> {
        ask(self.client, self.cache, m, o, &self.hits)
    }

    /// Step 2a: one label per caption (`None` where the call failed).
    fn label(&mut self, captions: &[String]) -> Vec<Option<String>> {
        let label_opts = ChatOptions::default().with_max_tokens(16);
        let workers = self.client.config().concurrency;
        let labels: Vec<Option<String>> = parallel_map(captions.len(), workers, "2a label", self.opts.progress, |i| {
            self.ask(&label_prompt(self.criterion, &captions[i]), &label_opts)
                .ok()
                .map(|a| parse_label(&a).unwrap_or_default())
        });
        self.report.label_failures = labels.iter().filter(|l| l.is_none()).count();
        labels
    }

    /// Step 2b: the label counts merged into K names; where the answer is unusable, the K most
    /// frequent labels (padded with "other N").
    fn merge(&mut self, labels: &[Option<String>]) -> Vec<String> {
        let k = self.opts.k;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for l in labels.iter().flatten().filter(|l| !l.is_empty()) {
            *counts.entry(l.as_str()).or_default() += 1;
        }
        self.report.distinct_labels = counts.len();
        let mut sorted: Vec<(String, usize)> = counts.into_iter().map(|(l, c)| (l.to_string(), c)).collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let shown: Vec<(String, usize)> = sorted.iter().take(self.opts.max_labels_in_merge).cloned().collect();
        let schema = json!({
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 40, "pattern": "^[A-Za-z][A-Za-z /-]*$"}, "minItems": k, "maxItems": k}},
            "required": ["names"]
        });
        let merge_opts = ChatOptions::default().with_max_tokens(24 * k as u32 + 32).with_json_schema(schema);
        let merged = self
            .ask(&merge_prompt(self.criterion, k, &shown), &merge_opts)
            .map_err(|e| e.to_string())
            .and_then(|a| parse_names(&a, k));
        match merged {
            Ok(n) => n,
            Err(why) => {
                self.report.merge_fell_back = Some(why);
                let mut v: Vec<String> = sorted.iter().take(k).map(|(l, _)| l.clone()).collect();
                let mut extra = 1;
                while v.len() < k {
                    v.push(format!("other {extra}"));
                    extra += 1;
                }
                v
            }
        }
    }

    /// Step 3: every caption's answer among the names (`None` where the call failed).
    fn assign(&mut self, captions: &[String], names: &[String]) -> Vec<Option<String>> {
        let assign_opts = ChatOptions::default().with_max_tokens(32).with_json_schema(json!({
            "type": "object",
            "properties": {"category": {"type": "string", "enum": names}},
            "required": ["category"]
        }));
        let workers = self.client.config().concurrency;
        parallel_map(captions.len(), workers, "3 assign", self.opts.progress, |i| {
            self.ask(&assign_prompt(self.criterion, &captions[i], names), &assign_opts).ok()
        })
    }

    /// Each answer's name; an answer outside the names goes to the nearest name by embedding,
    /// and a failed call by its caption's embedding.
    fn map_answers(
        &mut self,
        answers: &[Option<String>],
        captions: &[String],
        names: &[String],
        encoder: &mut TextEmbedding,
    ) -> Result<Vec<Option<usize>>, IctcError> {
        let mut assigned: Vec<Option<usize>> = vec![None; answers.len()];
        let mut to_embed: Vec<(usize, String)> = Vec::new();
        for (i, a) in answers.iter().enumerate() {
            match a {
                Some(a) => match match_name(a, names) {
                    Some(j) => {
                        assigned[i] = Some(j);
                        self.report.assigned_exactly += 1;
                    }
                    None => {
                        self.report.mapped_by_embedding += 1;
                        to_embed.push((i, a.clone()));
                    }
                },
                None => {
                    self.report.assign_failures += 1;
                    to_embed.push((i, captions[i].clone()));
                }
            }
        }
        if !to_embed.is_empty() {
            let name_emb = encoder.embed(names)?;
            let texts: Vec<&str> = to_embed.iter().map(|(_, s)| s.as_str()).collect();
            let emb = encoder.embed(&texts)?;
            for ((i, _), row) in to_embed.iter().zip(nearest(&emb, &name_emb)) {
                assigned[*i] = Some(row);
            }
        }
        Ok(assigned)
    }
}

/// One summary per name: its size, its most frequent step-2a labels as keywords, and its first
/// three members as examples.
fn summaries(
    ids: &[String],
    names: &[String],
    labels: &[Option<String>],
    assigned: &[Option<usize>],
) -> Vec<ClusterSummary> {
    let labels_of = |c: usize| -> Vec<String> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for (i, a) in assigned.iter().enumerate() {
            if *a == Some(c) {
                if let Some(Some(l)) = labels.get(i).map(|l| l.as_deref().filter(|s| !s.is_empty())) {
                    *m.entry(l).or_default() += 1;
                }
            }
        }
        let mut v: Vec<(&str, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter().take(8).map(|(l, _)| l.to_string()).collect()
    };
    names
        .iter()
        .enumerate()
        .map(|(c, name)| ClusterSummary {
            id: c as i64,
            name: name.clone(),
            size: assigned.iter().filter(|a| **a == Some(c)).count(),
            keywords: labels_of(c),
            examples: assigned
                .iter()
                .enumerate()
                .filter(|(_, a)| **a == Some(c))
                .take(3)
                .map(|(i, _)| ids[i].clone())
                .collect(),
        })
        .collect()
}

/// Row index of the most similar `names` row for each row of `x` (both L2-normalised).
fn nearest(x: &Array2<f32>, names: &Array2<f32>) -> Vec<usize> {
    let sims = x.dot(&names.t());
    sims.rows()
        .into_iter()
        .map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(j, _)| j))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::llm::LlmConfig;
    use crate::testing::fake_server::{FakeServer, Reply};

    /// A server that plays IC|TC's three steps: trumpet captions are brass, the rest strings;
    /// caption 3's step-3 answer is off-list and caption 4's step-3 call always fails.
    fn fake() -> FakeServer {
        FakeServer::with_handler(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let prompt = body["messages"][1]["content"].as_str().unwrap_or("").to_string();
            if prompt.contains("Merge these labels") {
                assert!(prompt.contains("trumpet: 3") && prompt.contains("violin: 2"), "{prompt}");
                return Reply::content("{\"names\": [\"Brass\", \"Strings\"]}");
            }
            let trumpet = prompt.contains("trumpet");
            if prompt.contains("Which of these") {
                if prompt.contains("cellist") {
                    return Reply::status(500, "down");
                }
                if prompt.contains("bugle") {
                    return Reply::content("trumpets and trombones");
                }
                return Reply::content(if trumpet {
                    "{\"category\": \"Brass\"}"
                } else {
                    "{\"category\": \"Strings\"}"
                });
            }
            Reply::content(if trumpet { "Answer: Trumpet" } else { "violin" })
        })
    }

    #[test]
    #[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
    fn three_steps_then_a_resume_from_the_cache() {
        let mut enc = crate::embed::text::test_encoder();
        let server = fake();
        let dir = tempfile::tempdir().unwrap();
        let caps: Vec<String> = [
            "a man plays a trumpet",
            "a trumpet on a stage",
            "a girl with a violin",
            "a trumpet player, with a bugle nearby",
            "a cellist and a violin in a hall",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ids: Vec<String> = (0..caps.len()).map(|i| format!("img{i}")).collect();
        let cfg = LlmConfig::new(server.base_url(), "m").with_max_retries(0).with_concurrency(2);
        let client = LlmClient::new(cfg.clone()).unwrap();
        let cache = AnswerCache::open(&dir.path().join("cache.jsonl")).unwrap();
        let mut opts = IctcOptions::new("musical instrument", 2);
        opts.progress = false;
        let (res, rep) = run(&ids, &caps, &opts, &client, &cache, &mut enc).unwrap();
        assert_eq!(rep.logical_calls, 11);
        assert_eq!((rep.assigned_exactly, rep.mapped_by_embedding, rep.assign_failures), (3, 1, 1), "{rep:?}");
        assert_eq!(res.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Brass", "Strings"]);
        let cl: Vec<i64> = res.assignments.iter().map(|a| a.cluster).collect();
        assert_eq!(cl, [0, 0, 1, 0, 1], "the off-list answer maps to Brass, the failed caption to Strings");
        assert_eq!(res.clusters[0].keywords[0], "trumpet");
        let first = server.requests().len();
        assert_eq!(first, 11);

        // A second run (as after a kill) repeats only the call that failed.
        let client = LlmClient::new(cfg).unwrap();
        let cache = AnswerCache::open(&dir.path().join("cache.jsonl")).unwrap();
        let (res2, rep2) = run(&ids, &caps, &opts, &client, &cache, &mut enc).unwrap();
        assert_eq!(server.requests().len() - first, 1);
        assert_eq!(rep2.cache_hits, 10);
        assert_eq!(res2.llm.unwrap().cache_hits, 10);
        assert_eq!(res2.assignments.iter().map(|a| a.cluster).collect::<Vec<_>>(), cl);
    }

    #[test]
    fn labels_are_cleaned() {
        assert_eq!(parse_label("Answer: Trumpet.\nBecause..."), Some("trumpet".into()));
        assert_eq!(parse_label("\n  \"Acoustic guitar\"  "), Some("acoustic guitar".into()));
        assert_eq!(parse_label("   "), None);
        assert_eq!(parse_label("The musical instrument in this image is a saxophone."), Some("saxophone".into()));
        assert_eq!(parse_label("The instruments in the picture are the drums"), Some("drums".into()));
        assert_eq!(parse_label("A violin"), Some("violin".into()));
    }

    #[test]
    fn answers_match_names_without_embeddings() {
        let names: Vec<String> = ["Brass", "String instrument", "Percussion"].iter().map(|s| s.to_string()).collect();
        assert_eq!(match_name("{\"category\": \"String instrument\"}", &names), Some(1));
        assert_eq!(match_name("percussion.", &names), Some(2));
        assert_eq!(match_name("2", &names), Some(1));
        assert_eq!(match_name("It is a string instrument, clearly", &names), Some(1));
        assert_eq!(match_name("woodwind", &names), None);
        assert_eq!(match_name("", &names), None);
    }
}
