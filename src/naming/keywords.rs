//! The offline namer: class-based TF-IDF keywords (c-TF-IDF, as in BERTopic).
//!
//! All captions of a cluster form one document. Term `t` in cluster `c`
//! weighs `tf(t, c) / len(c) * ln(1 + A / f(t))`, where `A` is the average
//! number of terms per cluster and `f(t)` the frequency of `t` over all
//! clusters, so a term scores high when it is common in its cluster and rare
//! elsewhere.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::text::{caption_terms, light_stem, singularize, tokenize, StopWords};
use super::{
    validate_assignments, Captions, ClusterName, Namer, NamingError, NamingRequest, DEFAULT_KEYWORDS_PER_CLUSTER,
    NOISE_CLUSTER, NOISE_NAME,
};

/// One cluster's keywords with their weights, best first.
pub type WeightedTerms = Vec<(String, f32)>;

/// How captions become terms for [`distinctive_terms`].
#[derive(Debug, Clone)]
pub struct TermOptions {
    pub stop_words: StopWords,
    /// Count bigrams of adjacent content words as terms as well.
    pub use_bigrams: bool,
    /// Terms found in fewer captions than this (all clusters together) are
    /// left out of the vocabulary; raise it to bound memory on large
    /// collections.
    pub min_count: usize,
}

impl Default for TermOptions {
    fn default() -> Self {
        Self { stop_words: StopWords::captions(), use_bigrams: true, min_count: 1 }
    }
}

/// c-TF-IDF weights, terms × clusters, dense and term-major.
///
/// Columns are clusters `0..k` in order, then the noise cluster (`-1`) if any
/// caption is noise. Noise takes part in the statistics like any cluster (as
/// BERTopic's outlier topic does), so words common among outliers still
/// count as common. Terms are sorted, singularised unigrams and
/// space-joined bigrams (see [`super::text::ngrams`]).
///
/// `tf(t, c)` counts captions of `c` containing `t`, not occurrences: VLM
/// captions often repeat their subject ("a dog … the dog …"), and one
/// verbose caption should not outweigh several terse ones.
#[derive(Debug, Clone, Serialize)]
pub struct TermMatrix {
    terms: Vec<String>,
    clusters: Vec<i64>,
    cluster_sizes: Vec<usize>,
    frequencies: Vec<u32>,
    scores: Vec<f32>,
}

impl TermMatrix {
    /// The vocabulary, sorted.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Cluster id of each column.
    pub fn clusters(&self) -> &[i64] {
        &self.clusters
    }

    /// Captions in each column's cluster.
    pub fn cluster_sizes(&self) -> &[usize] {
        &self.cluster_sizes
    }

    /// `f(t)`: captions containing each term, over all clusters.
    pub fn frequencies(&self) -> &[u32] {
        &self.frequencies
    }

    /// All weights, row-major: `scores()[term * n_clusters() + column]`.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    pub fn n_terms(&self) -> usize {
        self.terms.len()
    }

    pub fn n_clusters(&self) -> usize {
        self.clusters.len()
    }

    pub fn term_index(&self, term: &str) -> Option<usize> {
        self.terms.binary_search_by(|t| t.as_str().cmp(term)).ok()
    }

    pub fn column(&self, cluster: i64) -> Option<usize> {
        self.clusters.iter().position(|&c| c == cluster)
    }

    pub fn score(&self, term: usize, column: usize) -> Option<f32> {
        self.term_row(term)?.get(column).copied()
    }

    /// One term's weights across all columns.
    pub fn term_row(&self, term: usize) -> Option<&[f32]> {
        let n = self.n_clusters();
        self.scores.get(term * n..(term + 1) * n)
    }

    /// The column's positive-weight terms, best first (ties alphabetical),
    /// at most `n` of them.
    pub fn top_terms(&self, column: usize, n: usize) -> Vec<(&str, f32)> {
        let width = self.n_clusters();
        if column >= width {
            return Vec::new();
        }
        let mut ranked: Vec<(&str, f32)> = self
            .terms
            .iter()
            .zip(self.scores.iter().skip(column).step_by(width))
            .filter(|(_, &s)| s > 0.0)
            .map(|(t, &s)| (t.as_str(), s))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(n);
        ranked
    }
}

/// Builds the c-TF-IDF matrix of `captions` grouped by `assignments`
/// (`-1` = noise, otherwise `0..k`).
pub fn distinctive_terms<'a>(
    captions: impl Into<Captions<'a>>,
    assignments: &[i64],
    k: usize,
    options: &TermOptions,
) -> Result<TermMatrix, NamingError> {
    let captions = captions.into();
    let clusters = columns(captions.len(), assignments, k)?;
    let width = clusters.len();
    // Validated above: noise maps to the last column, others to their id.
    let column = |c: i64| usize::try_from(c).unwrap_or(k);

    // Tokenising dominates on large collections, and captions are independent.
    let per_caption: Vec<Vec<String>> = (0..captions.len())
        .into_par_iter()
        .map(|i| {
            let text = captions.get(i).unwrap_or_default();
            let mut terms = caption_terms(text, &options.stop_words, options.use_bigrams);
            terms.sort_unstable();
            terms.dedup();
            terms
        })
        .collect();

    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut vocab: Vec<&str> = Vec::new();
    let mut counts: Vec<u32> = Vec::new();
    let mut cluster_sizes = vec![0usize; width];
    for (terms, &cluster) in per_caption.iter().zip(assignments) {
        let col = column(cluster);
        cluster_sizes[col] += 1;
        for term in terms {
            let id = *ids.entry(term.as_str()).or_insert_with(|| {
                vocab.push(term.as_str());
                counts.resize(counts.len() + width, 0);
                vocab.len() - 1
            });
            counts[id * width + col] += 1;
        }
    }
    Ok(score_counts(&vocab, &counts, clusters, cluster_sizes, options.min_count))
}

/// [`distinctive_terms`] over terms mined beforehand: `lists.occurrences[i]` holds the ids
/// (into `lists.terms`) of caption `i`'s distinct terms. Terms for which `keep` is false
/// are left out.
pub fn distinctive_terms_of_lists(
    lists: super::TermLists<'_>,
    assignments: &[i64],
    k: usize,
    min_count: usize,
    keep: impl Fn(&str) -> bool,
) -> Result<TermMatrix, NamingError> {
    let clusters = columns(lists.occurrences.len(), assignments, k)?;
    let width = clusters.len();
    let column = |c: i64| usize::try_from(c).unwrap_or(k);
    let kept: Vec<bool> = lists.terms.iter().map(|t| keep(t)).collect();
    let mut counts = vec![0u32; lists.terms.len() * width];
    let mut cluster_sizes = vec![0usize; width];
    for (occ, &cluster) in lists.occurrences.iter().zip(assignments) {
        let col = column(cluster);
        cluster_sizes[col] += 1;
        for &t in occ {
            let t = t as usize;
            if kept.get(t).copied().unwrap_or(false) {
                counts[t * width + col] += 1;
            }
        }
    }
    let vocab: Vec<&str> = lists.terms.iter().map(String::as_str).collect();
    Ok(score_counts(&vocab, &counts, clusters, cluster_sizes, min_count.max(1)))
}

/// The matrix's columns, clusters `0..k` then noise if any caption is noise, after checking
/// that there is one assignment per caption and each is in range.
fn columns(captions: usize, assignments: &[i64], k: usize) -> Result<Vec<i64>, NamingError> {
    if captions != assignments.len() {
        return Err(NamingError::LengthMismatch { captions, assignments: assignments.len() });
    }
    validate_assignments(assignments, k)?;
    let mut clusters: Vec<i64> = (0..k).filter_map(|c| i64::try_from(c).ok()).collect();
    if assignments.contains(&NOISE_CLUSTER) {
        clusters.push(NOISE_CLUSTER);
    }
    Ok(clusters)
}

/// c-TF-IDF scores from per-term, per-column caption counts (`counts[term * width + col]`).
fn score_counts(
    vocab: &[&str],
    counts: &[u32],
    clusters: Vec<i64>,
    cluster_sizes: Vec<usize>,
    min_count: usize,
) -> TermMatrix {
    let width = clusters.len();
    let row = |id: usize| &counts[id * width..(id + 1) * width];
    let mut kept: Vec<(usize, u32)> = (0..vocab.len())
        .map(|id| (id, row(id).iter().sum::<u32>()))
        .filter(|&(_, f)| f as usize >= min_count)
        .collect();
    kept.sort_unstable_by(|a, b| vocab[a.0].cmp(vocab[b.0]));

    let mut lengths = vec![0u64; width];
    for &(id, _) in &kept {
        for (len, &c) in lengths.iter_mut().zip(row(id)) {
            *len += u64::from(c);
        }
    }
    let total: u64 = lengths.iter().sum();
    // Empty clusters would drag the average down without having any words.
    let nonempty = lengths.iter().filter(|&&l| l > 0).count().max(1);
    let avg = total as f64 / nonempty as f64;

    let mut scores = Vec::with_capacity(kept.len() * width);
    for &(id, f) in &kept {
        let idf = (1.0 + avg / f64::from(f.max(1))).ln();
        for (&c, &len) in row(id).iter().zip(&lengths) {
            let tf = if len == 0 { 0.0 } else { f64::from(c) / len as f64 };
            scores.push((tf * idf) as f32);
        }
    }

    TermMatrix {
        terms: kept.iter().map(|&(id, _)| vocab[id].to_owned()).collect(),
        frequencies: kept.iter().map(|&(_, f)| f).collect(),
        clusters,
        cluster_sizes,
        scores,
    }
}

/// A unigram counts as covered by a chosen bigram containing it unless it
/// scores more than this many times the bigram, i.e. is also common outside
/// that phrase.
const SIMILAR_SCORE: f32 = 1.5;

/// Further keywords join the name only if they weigh at least this fraction
/// of the best one; a weak second word makes names longer, not clearer.
const NAME_TERM_RATIO: f32 = 0.5;

/// The offline default [`Namer`]: a cluster's name is its best one to three
/// c-TF-IDF keywords joined by " / " (e.g. "trumpet / brass"), extended with
/// further keywords while two clusters would share a name.
#[derive(Debug, Clone)]
pub struct KeywordNamer {
    top_n: usize,
    max_name_terms: usize,
    use_bigrams: bool,
    stop_words: StopWords,
}

impl Default for KeywordNamer {
    fn default() -> Self {
        Self {
            top_n: DEFAULT_KEYWORDS_PER_CLUSTER,
            max_name_terms: 2,
            use_bigrams: true,
            stop_words: StopWords::captions(),
        }
    }
}

impl KeywordNamer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keywords per cluster when the request leaves the count at 0
    /// (default 8).
    pub fn with_top_n(mut self, n: usize) -> Self {
        self.top_n = n.max(1);
        self
    }

    /// Most keywords an unambiguous name uses, clamped to 1..=3 (default 2).
    pub fn with_max_name_terms(mut self, n: usize) -> Self {
        self.max_name_terms = n.clamp(1, 3);
        self
    }

    /// Whether bigrams ("golden retriever") may be keywords (default true).
    pub fn with_use_bigrams(mut self, on: bool) -> Self {
        self.use_bigrams = on;
        self
    }

    /// Adds stop words to the built-in English and caption-boilerplate lists.
    pub fn with_extra_stop_words<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.stop_words.extend(words);
        self
    }

    /// Replaces the stop words entirely.
    pub fn with_stop_words(mut self, stop_words: StopWords) -> Self {
        self.stop_words = stop_words;
        self
    }

    /// Each cluster's keywords with their weights, in [`TermMatrix`] column
    /// order, together with the matrix they came from.
    pub fn keywords(&self, req: &NamingRequest<'_>) -> Result<(TermMatrix, Vec<WeightedTerms>), NamingError> {
        req.validate()?;
        let n = match req.keywords_per_cluster {
            0 => self.top_n,
            n => n,
        };
        let mut stop_words = self.stop_words.clone();
        let mut criterion_stems = HashSet::new();
        for word in tokenize(req.criterion) {
            if !stop_words.is_stop(&word) {
                let lemma = singularize(&word).into_owned();
                criterion_stems.insert(light_stem(&lemma).to_owned());
                stop_words.insert(&lemma);
                stop_words.insert(&word);
            }
        }
        let options = TermOptions { stop_words, use_bigrams: self.use_bigrams, min_count: 1 };
        let matrix = match req.terms {
            Some(lists) => distinctive_terms_of_lists(lists, req.assignments, req.k, 1, |t| {
                !t.split(' ').any(|w| options.stop_words.is_stop(w))
            })?,
            None => distinctive_terms(req.captions, req.assignments, req.k, &options)?,
        };
        let keywords = (0..matrix.n_clusters())
            .map(|col| {
                let ranked = matrix.top_terms(col, usize::MAX).into_iter().filter(|(t, _)| {
                    // Stop words catch the criterion's own words; this also
                    // catches their inflections ("paint" for "painting").
                    !t.split(' ').any(|w| criterion_stems.contains(light_stem(w)))
                });
                select_keywords(ranked, n)
            })
            .collect();
        Ok((matrix, keywords))
    }
}

impl Namer for KeywordNamer {
    fn name(&self, req: &NamingRequest<'_>) -> Result<Vec<ClusterName>, NamingError> {
        let (matrix, keywords) = self.keywords(req)?;
        let names = unique_names(matrix.clusters(), &keywords, self.max_name_terms);
        Ok(matrix
            .clusters()
            .iter()
            .zip(keywords)
            .zip(names)
            .map(|((&cluster, kw), name)| {
                let (keywords, scores) = kw.into_iter().unzip();
                ClusterName { cluster, name, keywords, scores }
            })
            .collect())
    }
}

/// Same words up to inflection the lemmatiser missed ("painting"/"painted").
fn near_duplicate(a: &str, b: &str) -> bool {
    a.split(' ').count() == b.split(' ').count()
        && a.split(' ').zip(b.split(' ')).all(|(x, y)| light_stem(x) == light_stem(y))
}

/// Up to `n` keywords from `ranked` (best first), without near-duplicates
/// and without unigrams a chosen bigram already says.
fn select_keywords<'t>(ranked: impl Iterator<Item = (&'t str, f32)>, n: usize) -> Vec<(String, f32)> {
    let mut chosen: Vec<(&str, f32)> = Vec::new();
    for (term, score) in ranked {
        if chosen.len() >= n {
            break;
        }
        if chosen.iter().any(|(c, _)| near_duplicate(c, term)) {
            continue;
        }
        if !term.contains(' ') {
            let covered = chosen
                .iter()
                .any(|&(c, s)| c.contains(' ') && c.split(' ').any(|w| w == term) && score <= SIMILAR_SCORE * s);
            if !covered {
                chosen.push((term, score));
            }
            continue;
        }
        // The bigram takes the slot of the first unigram it explains, so a
        // phrase like "golden retriever" ranks where "golden" did.
        let explains =
            |&(c, s): &(&str, f32)| !c.contains(' ') && term.split(' ').any(|w| w == c) && s <= SIMILAR_SCORE * score;
        match chosen.iter().position(explains) {
            Some(first) => {
                chosen[first] = (term, score);
                let mut i = first + 1;
                while i < chosen.len() {
                    if explains(&chosen[i]) {
                        chosen.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => chosen.push((term, score)),
        }
    }
    chosen.into_iter().map(|(t, s)| (t.to_owned(), s)).collect()
}

/// Names for every column: noise is [`NOISE_NAME`], a cluster without
/// keywords is "cluster {id}", others join their leading keywords. Clusters
/// sharing a name take one more keyword each until the names differ, and
/// as a last resort their id.
fn unique_names(clusters: &[i64], keywords: &[Vec<(String, f32)>], max_terms: usize) -> Vec<String> {
    struct Slot {
        fixed: Option<String>,
        used: usize,
        with_id: bool,
    }
    let mut slots: Vec<Slot> = clusters
        .iter()
        .zip(keywords)
        .map(|(&cluster, kw)| {
            let fixed = if cluster == NOISE_CLUSTER {
                Some(NOISE_NAME.to_owned())
            } else if kw.is_empty() {
                Some(format!("cluster {cluster}"))
            } else {
                None
            };
            let top = kw.first().map_or(0.0, |k| k.1);
            let extra = kw
                .iter()
                .skip(1)
                .take(max_terms.saturating_sub(1))
                .take_while(|k| k.1 >= NAME_TERM_RATIO * top)
                .count();
            Slot { fixed, used: 1 + extra, with_id: false }
        })
        .collect();

    let render = |slot: &Slot, cluster: i64, kw: &[(String, f32)]| -> String {
        if let Some(name) = &slot.fixed {
            return name.clone();
        }
        let words: Vec<&str> = kw.iter().take(slot.used).map(|k| k.0.as_str()).collect();
        let name = words.join(" / ");
        if slot.with_id {
            format!("{name} (cluster {cluster})")
        } else {
            name
        }
    };

    // Each round adds a keyword or an id to some name, so this bound is never
    // reached; it only guards against a logic error looping forever.
    let max_rounds = keywords.iter().map(Vec::len).sum::<usize>() + clusters.len() + 1;
    for _ in 0..max_rounds {
        let names: Vec<String> =
            slots.iter().zip(clusters.iter().zip(keywords)).map(|(slot, (&c, kw))| render(slot, c, kw)).collect();
        let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            groups.entry(name.as_str()).or_default().push(i);
        }
        let mut changed = false;
        for members in groups.values().filter(|m| m.len() > 1) {
            let extendable: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| slots[i].fixed.is_none() && slots[i].used < keywords[i].len())
                .collect();
            if extendable.is_empty() {
                for &i in members {
                    if slots[i].fixed.is_none() && !slots[i].with_id {
                        slots[i].with_id = true;
                        changed = true;
                    }
                }
            } else {
                for i in extendable {
                    slots[i].used += 1;
                }
                changed = true;
            }
        }
        if !changed {
            return names;
        }
    }
    slots.iter().zip(clusters.iter().zip(keywords)).map(|(slot, (&c, kw))| render(slot, c, kw)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{CAPTION_BOILERPLATE, STOP_WORDS};

    const DOGS: [&str; 5] = [
        "The image features a brown dog running across a grassy park.",
        "A dog plays fetch with a red ball in the park; the scene appears cheerful.",
        "The picture shows two dogs on leashes walking through a park.",
        "The image features a small dog sitting on a park bench. Overall, it suggests a sunny day.",
        "A golden retriever dog lies on the grass in a city park, with trees visible in the background.",
    ];
    const CATS: [&str; 5] = [
        "The image features a gray cat curled up on a sofa.",
        "A cat sleeping on a cushioned sofa in a living room; the scene appears cozy.",
        "The picture shows two cats lounging on a leather sofa.",
        "The image features a tabby cat stretching on the sofa. Overall, it suggests a relaxed setting.",
        "A black cat is depicted sitting on a sofa next to a pillow.",
    ];
    const CARS: [&str; 5] = [
        "The image features a red car parked on a busy street.",
        "A car drives down a city street at night; the scene appears bustling.",
        "The picture shows several cars lined up along the street.",
        "The image features a vintage car on a cobblestone street. Overall, it suggests a nostalgic setting.",
        "A blue car is depicted waiting at a street intersection.",
    ];

    fn three_clusters() -> (Vec<String>, Vec<i64>) {
        let mut captions = Vec::new();
        let mut assignments = Vec::new();
        for (c, group) in [DOGS, CATS, CARS].iter().enumerate() {
            for caption in group {
                captions.push((*caption).to_owned());
                assignments.push(c as i64);
            }
        }
        (captions, assignments)
    }

    fn words(name: &str) -> Vec<String> {
        tokenize(name)
    }

    fn assert_unique(names: &[ClusterName]) {
        let set: HashSet<&str> = names.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(set.len(), names.len(), "{names:?}");
    }

    #[test]
    fn names_three_synthetic_clusters() {
        let (captions, assignments) = three_clusters();
        let req = NamingRequest::new("main subject", &captions, &assignments, 3);
        let names = KeywordNamer::new().name(&req).unwrap();
        assert_eq!(names.iter().map(|n| n.cluster).collect::<Vec<_>>(), [0, 1, 2]);
        for (n, expected) in names.iter().zip(["dog", "cat", "car"]) {
            assert!(words(&n.name).contains(&expected.to_owned()), "{n:?}");
            assert!(n.keywords.len() <= DEFAULT_KEYWORDS_PER_CLUSTER && !n.keywords.is_empty());
            assert_eq!(n.keywords.len(), n.scores.len());
            let mut all_words = words(&n.name);
            all_words.extend(n.keywords.iter().flat_map(|k| words(k)));
            for w in &all_words {
                assert!(!CAPTION_BOILERPLATE.contains(&w.as_str()), "boilerplate {w} in {n:?}");
                assert!(!STOP_WORDS.contains(&w.as_str()), "stop word {w} in {n:?}");
            }
        }
        assert_unique(&names);
    }

    #[test]
    fn accepts_str_slices_and_keyword_count() {
        let (captions, assignments) = three_clusters();
        let strs: Vec<&str> = captions.iter().map(String::as_str).collect();
        let req = NamingRequest::new("subject", &strs, &assignments, 3).with_keywords_per_cluster(3);
        let names = KeywordNamer::new().name(&req).unwrap();
        assert!(names.iter().all(|n| n.keywords.len() == 3), "{names:?}");
    }

    #[test]
    fn criterion_words_are_excluded() {
        let (captions, assignments) = three_clusters();
        // "Dogs" must also exclude "dog"; "sofas" → "sofa".
        let req = NamingRequest::new("Dogs and sofas", &captions, &assignments, 3);
        let names = KeywordNamer::new().name(&req).unwrap();
        for n in &names {
            for k in &n.keywords {
                assert!(!k.split(' ').any(|w| w == "dog" || w == "sofa"), "{n:?}");
            }
        }
        assert!(words(&names[0].name).contains(&"park".to_owned()), "{names:?}");
        assert!(words(&names[1].name).contains(&"cat".to_owned()), "{names:?}");
    }

    #[test]
    fn instrument_criterion_not_in_every_name() {
        let captions = [
            "A shiny brass trumpet, a musical instrument, on a stand.",
            "A trumpet player holds his brass instrument on stage.",
            "The image features a golden trumpet instrument.",
            "An acoustic guitar, a wooden string instrument, leans on a wall.",
            "A person plays an acoustic guitar instrument by the fire.",
            "The picture shows a guitar with six strings.",
        ];
        let assignments = [0, 0, 0, 1, 1, 1];
        let req = NamingRequest::new("musical instrument", &captions, &assignments, 2);
        let names = KeywordNamer::new().name(&req).unwrap();
        assert!(names[0].name.contains("trumpet"), "{names:?}");
        assert!(names[1].name.contains("guitar"), "{names:?}");
        for n in &names {
            assert!(!n.name.contains("instrument") && !n.name.contains("musical"), "{n:?}");
        }
    }

    #[test]
    fn noise_and_empty_clusters() {
        let (captions, mut assignments) = three_clusters();
        assignments[0] = -1;
        assignments[7] = -1;
        // k = 5: clusters 3 and 4 get no captions.
        let req = NamingRequest::new("subject", &captions, &assignments, 5);
        let names = KeywordNamer::new().name(&req).unwrap();
        assert_eq!(names.iter().map(|n| n.cluster).collect::<Vec<_>>(), [0, 1, 2, 3, 4, -1]);
        assert_eq!(names[5].name, NOISE_NAME);
        assert_eq!(names[3].name, "cluster 3");
        assert!(names[3].keywords.is_empty() && names[4].keywords.is_empty());
        assert!(names[0].name.contains("dog"), "{names:?}");
        assert_unique(&names);

        let empty: [&str; 0] = [];
        let none = KeywordNamer::new().name(&NamingRequest::new("x", &empty, &[], 2)).unwrap();
        assert_eq!(none.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["cluster 0", "cluster 1"]);
        let nothing = KeywordNamer::new().name(&NamingRequest::new("x", &empty, &[], 0)).unwrap();
        assert!(nothing.is_empty());

        // Captions with no content words at all.
        let blank = ["", "The image shows it.", "..."];
        let names = KeywordNamer::new().name(&NamingRequest::new("x", &blank, &[0, 0, -1], 1)).unwrap();
        assert_eq!(names[0].name, "cluster 0");
        assert_eq!(names[1].name, NOISE_NAME);
    }

    #[test]
    fn invalid_requests_are_errors() {
        let captions = ["a dog", "a cat"];
        let namer = KeywordNamer::new();
        assert_eq!(
            namer.name(&NamingRequest::new("x", &captions, &[0], 1)),
            Err(NamingError::LengthMismatch { captions: 2, assignments: 1 })
        );
        assert_eq!(
            namer.name(&NamingRequest::new("x", &captions, &[0, 2], 2)),
            Err(NamingError::ClusterOutOfRange { index: 1, cluster: 2, k: 2 })
        );
        assert!(namer.name(&NamingRequest::new("x", &captions, &[0, -2], 2)).is_err());
    }

    #[test]
    fn colliding_names_are_extended_then_numbered() {
        let mut captions = Vec::new();
        let mut assignments = Vec::new();
        for (c, extra) in ["frisbee", "leash"].iter().enumerate() {
            for i in 0..5 {
                let tail = if i == 0 { format!(" with a {extra}") } else { String::new() };
                captions.push(format!("A dog in a park{tail}."));
                assignments.push(c as i64);
            }
        }
        // Identical clusters 2 and 3 can only be told apart by id.
        for c in [2, 3] {
            for _ in 0..3 {
                captions.push("A cat on a sofa.".to_owned());
                assignments.push(c);
            }
        }
        let req = NamingRequest::new("subject", &captions, &assignments, 4);
        let names = KeywordNamer::new().with_use_bigrams(false).name(&req).unwrap();
        assert_unique(&names);
        assert_eq!(names[0].name, "dog / park / frisbee", "{names:?}");
        assert_eq!(names[1].name, "dog / park / leash", "{names:?}");
        assert_eq!(names[2].name, "cat / sofa (cluster 2)");
        assert_eq!(names[3].name, "cat / sofa (cluster 3)");
    }

    #[test]
    fn bigram_replaces_the_unigrams_it_explains() {
        let captions = [
            "A golden retriever on grass.",
            "A golden retriever with a ball.",
            "A sleepy golden retriever.",
            "A black cat on a sofa.",
            "A cat on a sofa.",
            "A sofa with a cat.",
        ];
        let req = NamingRequest::new("breed", &captions, &[0, 0, 0, 1, 1, 1], 2);
        let names = KeywordNamer::new().name(&req).unwrap();
        assert_eq!(names[0].keywords[0], "golden retriever", "{names:?}");
        assert!(!names[0].keywords.iter().any(|k| k == "golden" || k == "retriever"), "{names:?}");
        assert!(names[0].name.starts_with("golden retriever"), "{names:?}");

        let plain = KeywordNamer::new().with_use_bigrams(false).name(&req).unwrap();
        assert!(plain.iter().all(|n| n.keywords.iter().all(|k| !k.contains(' '))));
    }

    #[test]
    fn extra_stop_words_and_builders() {
        let (captions, assignments) = three_clusters();
        let req = NamingRequest::new("subject", &captions, &assignments, 3);
        let names = KeywordNamer::new()
            .with_extra_stop_words(["dog", "cat", "car"])
            .with_max_name_terms(1)
            .with_top_n(4)
            .name(&req)
            .unwrap();
        assert_eq!(names[0].name, "park", "{names:?}");
        assert_eq!(names[1].name, "sofa", "{names:?}");
        assert_eq!(names[2].name, "street", "{names:?}");
        assert!(names.iter().all(|n| n.keywords.len() == 4));
    }

    #[test]
    fn matrix_follows_the_ctfidf_formula() {
        let captions = ["apple banana", "apple cherry apple"];
        let options = TermOptions { stop_words: StopWords::empty(), use_bigrams: false, min_count: 1 };
        let m = distinctive_terms(&captions, &[0, 1], 2, &options).unwrap();
        assert_eq!(m.terms(), ["apple", "banana", "cherry"]);
        assert_eq!(m.clusters(), [0, 1]);
        assert_eq!(m.frequencies(), [2, 1, 1]);
        // Two terms per cluster, so A = 2; f(apple) = 2, f(banana) = 1.
        let apple = m.term_index("apple").unwrap();
        let banana = m.term_index("banana").unwrap();
        assert!((m.score(apple, 0).unwrap() - 0.5 * 2f32.ln()).abs() < 1e-6);
        assert!((m.score(banana, 0).unwrap() - 0.5 * 3f32.ln()).abs() < 1e-6);
        assert_eq!(m.score(banana, 1), Some(0.0));
        assert_eq!(m.score(9, 0), None);
        let top = m.top_terms(0, 1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, "banana");
        assert_eq!(m.term_row(apple).map(<[f32]>::len), Some(2));

        let pruned = distinctive_terms(&captions, &[0, 1], 2, &TermOptions { min_count: 2, ..options }).unwrap();
        assert_eq!(pruned.terms(), ["apple"]);
    }

    #[test]
    fn matrix_has_noise_column_last() {
        let (captions, mut assignments) = three_clusters();
        assignments[14] = -1;
        let m = distinctive_terms(&captions, &assignments, 3, &TermOptions::default()).unwrap();
        assert_eq!(m.clusters(), [0, 1, 2, -1]);
        assert_eq!(m.cluster_sizes(), [5, 5, 4, 1]);
        assert_eq!(m.column(-1), Some(3));
        assert_eq!(m.scores().len(), m.n_terms() * m.n_clusters());
        assert!(m.term_index("image").is_none() && m.term_index("dog").is_some());
    }
}
