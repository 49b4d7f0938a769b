//! Naming all clusters with one LLM call, falling back to keyword names on any failure.

use serde_json::json;

use super::{
    ClusterName, KeywordNamer, Namer, NamerFallback, NamerKind, NamingError, NamingReport, NamingRequest, NOISE_CLUSTER,
};
use crate::embed::text::TextEmbedding;
use crate::llm::{parse_names, ChatOptions, LlmClient, LlmUsage, Message};

/// What an LLM namer's call did: the report the result carries, and the call's usage.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmNaming {
    pub report: NamingReport,
    pub usage: LlmUsage,
}

/// Names clusters with one chat call carrying the criterion, K, and for each cluster its
/// distinctive keywords and a few captions nearest its centre, cut short so the prompt fits a
/// small model's context.
#[derive(Debug)]
pub struct LlmNamer<'c> {
    client: &'c LlmClient,
    pub examples_per_cluster: usize,
    /// Characters kept of each example caption.
    pub caption_chars: usize,
    /// Soft cap on the prompt's characters; examples shrink to fit.
    pub prompt_chars: usize,
    pub keywords: KeywordNamer,
}

impl<'c> LlmNamer<'c> {
    pub fn new(client: &'c LlmClient) -> Self {
        Self { client, examples_per_cluster: 3, caption_chars: 160, prompt_chars: 6000, keywords: KeywordNamer::new() }
    }

    pub fn with_examples_per_cluster(mut self, n: usize) -> Self {
        self.examples_per_cluster = n;
        self
    }

    /// The prompt for a request whose keyword names are already known.
    pub fn prompt(&self, req: &NamingRequest<'_>, keyword_names: &[ClusterName]) -> Vec<Message> {
        let k = req.k;
        let mut per_cluster: Vec<Vec<&str>> = vec![Vec::new(); k];
        match req.representatives {
            Some(reps) => {
                for (c, rows) in reps.iter().enumerate().take(k) {
                    per_cluster[c] = rows.iter().filter_map(|&i| req.captions.get(i)).collect();
                }
            }
            None => {
                for (i, &c) in req.assignments.iter().enumerate() {
                    if c >= 0 && (c as usize) < k && per_cluster[c as usize].len() < self.examples_per_cluster {
                        per_cluster[c as usize].push(req.captions.get(i).unwrap_or_default());
                    }
                }
            }
        }
        let sizes = cluster_sizes(req.assignments, k);
        let mut examples = self.examples_per_cluster;
        let mut chars = self.caption_chars;
        loop {
            let body = self.render(req, keyword_names, &per_cluster, &sizes, examples, chars);
            if body.len() <= self.prompt_chars || (examples <= 1 && chars <= 60) {
                return vec![Message::system("You name groups of images. Answer with JSON only."), Message::user(body)];
            }
            if examples > 1 {
                examples -= 1;
            } else {
                chars = (chars * 2 / 3).max(60);
            }
        }
    }

    fn render(
        &self,
        req: &NamingRequest<'_>,
        keyword_names: &[ClusterName],
        per_cluster: &[Vec<&str>],
        sizes: &[usize],
        examples: usize,
        chars: usize,
    ) -> String {
        let k = req.k;
        let criterion = req.criterion.trim();
        let mut s = format!(
            "Images were grouped into {k} clusters by {criterion}. For each cluster you get its typical words \
             and a few image descriptions.\n\n"
        );
        for c in 0..k {
            let kw = keyword_names
                .iter()
                .find(|n| n.cluster == c as i64)
                .map(|n| n.keywords.iter().take(6).cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            s.push_str(&format!("Cluster {} ({} images). Words: {kw}\n", c + 1, sizes[c]));
            for cap in per_cluster[c].iter().filter(|c| !c.trim().is_empty()).take(examples) {
                s.push_str("- ");
                s.push_str(&cut(cap, chars));
                s.push('\n');
            }
            s.push('\n');
        }
        s.push_str(&format!(
            "Give each cluster a short name (1 to 3 words) saying its {criterion}. The {k} names must be \
             different from each other. Answer as JSON: {{\"names\": [name of cluster 1, ..., name of cluster {k}]}}"
        ));
        s
    }

    /// Names plus what happened; never fails because of the LLM (only on a malformed request).
    pub fn name_with_report(&self, req: &NamingRequest<'_>) -> Result<(Vec<ClusterName>, LlmNaming), NamingError> {
        self.name_checked(req, None)
    }

    /// [`LlmNamer::name_with_report`], and with `encoder` the LLM's names must also identify
    /// their clusters (see [`names_fit_clusters`]); when they do not, the keyword names stay.
    pub fn name_checked(
        &self,
        req: &NamingRequest<'_>,
        encoder: Option<&mut TextEmbedding>,
    ) -> Result<(Vec<ClusterName>, LlmNaming), NamingError> {
        let names = self.keywords.name(req)?;
        Ok(self.name_checked_from(req, names, NamerKind::Keywords, encoder))
    }

    /// [`LlmNamer::name_checked`] over names another namer made (`base`, e.g. an image index's
    /// CLIP values when there are no captions to take keywords from): their keywords go into
    /// the prompt and into the check, and they stay (reported as `base_namer`) when the LLM's
    /// answer fails or does not fit.
    pub fn name_checked_from(
        &self,
        req: &NamingRequest<'_>,
        base: Vec<ClusterName>,
        base_namer: NamerKind,
        encoder: Option<&mut TextEmbedding>,
    ) -> (Vec<ClusterName>, LlmNaming) {
        let mut names = base;
        let before = self.client.usage();
        let messages = self.prompt(req, &names);
        let schema = json!({
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 40, "pattern": "^[A-Za-z][A-Za-z /-]*$"}, "minItems": req.k, "maxItems": req.k}},
            "required": ["names"]
        });
        let opts = ChatOptions::default().with_max_tokens(24 * req.k as u32 + 32).with_json_schema(schema);
        let outcome = self
            .client
            .chat(&messages, &opts)
            .map_err(|e| (NamerFallback::CallFailed, format!("LLM call failed: {e}")))
            .and_then(|a| {
                parse_names(&a.content, req.k)
                    .map_err(|e| (NamerFallback::UnusableAnswer, format!("unusable LLM answer: {e}")))
            })
            .and_then(|llm_names| match encoder {
                Some(enc) => names_fit_clusters(enc, &llm_names, &names)
                    .map(|()| llm_names)
                    .map_err(|e| (NamerFallback::NamesDoNotFit, e)),
                None => Ok(llm_names),
            });
        let usage = self.client.usage().since(&before);
        let report = match outcome {
            Ok(llm_names) => {
                for n in names.iter_mut().filter(|n| n.cluster != NOISE_CLUSTER) {
                    n.name = llm_names[n.cluster as usize].clone();
                }
                NamingReport { namer: NamerKind::Llm, fallback: None, detail: None, clusters_named: None }
            }
            Err((why, detail)) => {
                NamingReport { namer: base_namer, fallback: Some(why), detail: Some(detail), clusters_named: None }
            }
        };
        (names, LlmNaming { report, usage })
    }
}

/// Whether one-call names describe the clusters they were given for: each name is compared
/// (cosine, with the query's text encoder) with every cluster's keywords, and more than half
/// the names must be nearest their own cluster's. A small model's names that echo one cluster
/// ("Sitting" and "Stringed" for string and wind players, SmolLM2-135M on PPMI-2) fail; names
/// that fit ("Woodwind" for saxophone players) pass whatever their wording. `keyword_names`
/// are the keyword namer's, one per cluster in `0..k`, and give each cluster's keywords.
pub fn names_fit_clusters(
    encoder: &mut TextEmbedding,
    llm_names: &[String],
    keyword_names: &[ClusterName],
) -> Result<(), String> {
    let named: Vec<Option<String>> = llm_names.iter().cloned().map(Some).collect();
    let fits = each_name_fits(encoder, &named, keyword_names)?;
    let compared = keyword_names
        .iter()
        .filter(|n| !n.keywords.is_empty() && usize::try_from(n.cluster).is_ok_and(|c| c < named.len()))
        .count();
    let own = fits.iter().filter(|&&f| f).count();
    if compared < 2 || 2 * own > compared {
        Ok(())
    } else {
        Err(format!(
            "the LLM's names do not identify their clusters ({own} of {compared} are nearest their own cluster's keywords)"
        ))
    }
}

/// Per cluster, whether its LLM name (where it has one) is nearer its own cluster's keywords
/// than any other cluster's (cosine, strictly, with the query's text encoder). `keyword_names`
/// are one per cluster in `0..k`, as `llm_names` are; clusters without keywords are left out.
pub fn each_name_fits(
    encoder: &mut TextEmbedding,
    llm_names: &[Option<String>],
    keyword_names: &[ClusterName],
) -> Result<Vec<bool>, String> {
    let own: Vec<(usize, &ClusterName)> = keyword_names
        .iter()
        .filter(|n| !n.keywords.is_empty())
        .filter_map(|n| usize::try_from(n.cluster).ok().filter(|&c| c < llm_names.len()).map(|c| (c, n)))
        .collect();
    let named: Vec<(usize, usize, String)> =
        own.iter().enumerate().filter_map(|(j, (c, _))| llm_names[*c].clone().map(|n| (j, *c, n))).collect();
    let mut fits = vec![false; llm_names.len()];
    if named.is_empty() || own.len() < 2 {
        return Ok(fits);
    }
    let embed = |enc: &mut TextEmbedding, texts: Vec<String>| {
        enc.embed(&texts).map_err(|e| format!("could not embed the LLM's names to check them: {e}"))
    };
    let names = embed(encoder, named.iter().map(|n| n.2.clone()).collect())?;
    let keywords = embed(encoder, own.iter().map(|(_, n)| n.keywords.join(", ")).collect())?;
    let sims = names.dot(&keywords.t());
    for (row, (j, cluster, _)) in sims.rows().into_iter().zip(&named) {
        fits[*cluster] = row.iter().enumerate().all(|(i, &s)| i == *j || s < row[*j]);
    }
    Ok(fits)
}

impl Namer for LlmNamer<'_> {
    fn name(&self, req: &NamingRequest<'_>) -> Result<Vec<ClusterName>, NamingError> {
        self.name_with_report(req).map(|(n, _)| n)
    }
}

fn cluster_sizes(assignments: &[i64], k: usize) -> Vec<usize> {
    let mut sizes = vec![0; k];
    for &a in assignments {
        if a >= 0 && (a as usize) < k {
            sizes[a as usize] += 1;
        }
    }
    sizes
}

fn cut(s: &str, n: usize) -> String {
    let one = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        one.chars().take(n).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmConfig;
    use crate::testing::fake_server::{FakeServer, Reply};
    use std::time::Duration;

    const CAPS: [&str; 6] = [
        "a man plays a trumpet on stage",
        "a woman plays the trumpet in a band",
        "a trumpet player in a park",
        "a girl plays the violin in a hall",
        "a man with a violin and bow",
        "an orchestra violin section",
    ];
    const LABELS: [i64; 6] = [0, 0, 0, 1, 1, 1];

    fn run(replies: Vec<Reply>) -> (Vec<ClusterName>, LlmNaming, FakeServer) {
        let s = FakeServer::start(replies);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m")
                .with_max_retries(1)
                .with_backoff(Duration::from_millis(5))
                .with_timeout(Duration::from_secs(2)),
        )
        .unwrap();
        let req = NamingRequest::new("musical instrument", &CAPS, &LABELS, 2);
        let (n, r) = LlmNamer::new(&c).name_with_report(&req).unwrap();
        (n, r, s)
    }

    #[test]
    #[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
    fn names_must_identify_their_clusters() {
        let mut enc = crate::embed::text::test_encoder();
        let kw = |c: i64, words: &[&str]| ClusterName {
            cluster: c,
            name: words[0].into(),
            keywords: words.iter().map(|w| w.to_string()).collect(),
            scores: vec![1.0; words.len()],
        };
        let clusters = [
            kw(0, &["sitting", "stringed", "young", "woman", "music"]),
            kw(1, &["standing", "man playing", "saxophone", "music", "trumpet"]),
        ];
        let names = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        assert_eq!(names_fit_clusters(&mut enc, &names("String instruments", "Wind instruments"), &clusters), Ok(()));
        // SmolLM2-135M's answer on PPMI-2: both names echo the first cluster.
        let err = names_fit_clusters(&mut enc, &names("Sitting", "Stringed"), &clusters).unwrap_err();
        assert!(err.contains("do not identify"), "{err}");
        // Swapped names fail too.
        assert!(names_fit_clusters(&mut enc, &names("Wind instruments", "String instruments"), &clusters).is_err());
        // With the check, a failing answer keeps the keyword names.
        let s = FakeServer::start(vec![Reply::content("{\"names\": [\"Violin\", \"Violins\"]}")]);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m").with_max_retries(1).with_backoff(Duration::from_millis(5)),
        )
        .unwrap();
        let req = NamingRequest::new("musical instrument", &CAPS, &LABELS, 2);
        let (n, r) = LlmNamer::new(&c).name_checked(&req, Some(&mut enc)).unwrap();
        assert_eq!(
            (r.report.namer, r.report.fallback),
            (NamerKind::Keywords, Some(NamerFallback::NamesDoNotFit)),
            "{r:?}"
        );
        assert_eq!(n, KeywordNamer::new().name(&req).unwrap());
        // And a fitting one is used.
        let s = FakeServer::start(vec![Reply::content("{\"names\": [\"Trumpet\", \"Violin\"]}")]);
        let c = LlmClient::new(
            LlmConfig::new(s.base_url(), "m").with_max_retries(1).with_backoff(Duration::from_millis(5)),
        )
        .unwrap();
        let (n, r) = LlmNamer::new(&c).name_checked(&req, Some(&mut enc)).unwrap();
        assert_eq!((r.report.namer, n[0].name.as_str(), n[1].name.as_str()), (NamerKind::Llm, "Trumpet", "Violin"));
    }

    #[test]
    fn one_call_names_every_cluster() {
        let (names, report, server) = run(vec![Reply::content("```json\n{\"names\": [\"Trumpet\", \"Violin\"]}\n```")]);
        assert_eq!(names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["Trumpet", "Violin"]);
        assert_eq!((report.report.namer, report.usage.calls, report.report.fallback), (NamerKind::Llm, 1, None));
        assert_eq!(report.usage.prompt_tokens, 11);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        // The prompt carries the criterion, K, keywords and example captions.
        let body = &reqs[0].body;
        for needle in ["musical instrument", "2 clusters", "trumpet", "violin", "minItems"] {
            assert!(body.contains(needle), "{needle} missing from {body}");
        }
        assert!(!names[0].keywords.is_empty());
    }

    #[test]
    fn falls_back_to_keywords_on_every_kind_of_failure() {
        use NamerFallback::{CallFailed, UnusableAnswer};
        let cases = vec![
            (vec![Reply::content("[\"Trumpet\", \"Violin\", \"Drum\"]")], UnusableAnswer),
            (vec![Reply::content("[\"Brass\", \"brass\"]")], UnusableAnswer),
            (vec![Reply::content("I am sorry, I cannot do that")], UnusableAnswer),
            (vec![Reply::raw(200, "not json at all")], CallFailed),
            (vec![Reply::status(500, "down"), Reply::status(500, "down")], CallFailed),
        ];
        for (replies, why) in cases {
            let (names, report, _) = run(replies);
            assert_eq!((report.report.namer, report.report.fallback), (NamerKind::Keywords, Some(why)), "{report:?}");
            // The keyword names are what the result keeps.
            assert!(names[0].name.contains("trumpet"), "{:?}", names[0]);
        }
    }

    #[test]
    fn long_captions_are_cut_to_fit_the_prompt() {
        let s = FakeServer::start(vec![]);
        let c = LlmClient::new(LlmConfig::new(s.base_url(), "m")).unwrap();
        let long: Vec<String> = (0..40).map(|i| format!("caption {i} {}", "word ".repeat(200))).collect();
        let labels: Vec<i64> = (0..40).map(|i| i % 10).collect();
        let req = NamingRequest::new("object", &long, &labels, 10);
        let namer = LlmNamer::new(&c);
        let kw = namer.keywords.name(&req).unwrap();
        let m = namer.prompt(&req, &kw);
        let text = m[1].text();
        assert!(text.len() <= namer.prompt_chars + 200, "{}", text.len());
        assert!(text.contains("Cluster 10"));
    }
}
