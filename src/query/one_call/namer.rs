//! `--namer llm` over a caption index: the one call's question (K categories of the criterion,
//! each a name, a line and example words from the listed words) asked about clusters that are
//! already made, so the namer and the one-call query send the same short request. The
//! categories' words vote through the captions that mention them, as in the one-call query;
//! categories and clusters are then matched one-to-one on those votes (Hungarian, as accuracy
//! matches clusters to classes), and a cluster takes its category's name when that category
//! is also the one its voters chose most, most of the category's voters are in that cluster,
//! and the name is nearer the cluster's keywords than
//! any other cluster's (checked where the names are made, [`super::super::pipeline`]). The
//! other clusters keep their keyword names.

use crate::conditioning::Vocabulary;
use crate::embed::text::TextEmbedding;
use crate::llm::DescribedCategory;
use crate::naming::{NamerFallback, NamerKind, NamingReport};

use super::super::caption::Prepared;
use super::super::{QueryError, QueryOptions};
use super::{grouping, Listing};

/// Per cluster the model's name for it, or `None` where the keyword name stays.
pub(crate) type CategoryNames = Vec<Option<String>>;

/// The clusters' names from the model's categories, and what the result says of them;
/// `names_only` when the answer could not shape the partition (repeated or missing categories).
#[allow(clippy::too_many_arguments)]
pub(super) fn match_categories(
    prepared: &Prepared<'_>,
    encoder: &mut TextEmbedding,
    opts: &QueryOptions,
    listing: &Listing<'_>,
    answer: &[DescribedCategory],
    names_only: bool,
    labels: &[i64],
    k: usize,
) -> Result<(CategoryNames, NamingReport), QueryError> {
    // A category that only restates the criterion names no cluster; the others still may.
    let usable: Vec<DescribedCategory> =
        answer.iter().filter(|c| !grouping::names_the_criterion(&c.name, &opts.criterion)).cloned().collect();
    let (category_of, w) = grouping::categories_of_words(
        listing.vocab,
        &prepared.report.kinds,
        &listing.shown,
        &usable,
        &opts.criterion,
        encoder,
        opts.cache_dir.as_deref(),
    )?;
    let decay = opts.one_call.vote_mention_decay;
    let chosen = matched(listing.vocab, &w, &category_of, usable.len(), decay, labels, k);
    let mut names = vec![None; k];
    for &(cluster, category) in &chosen {
        names[cluster] = Some(usable[category].name.clone());
    }
    let named = chosen.len();
    let report = if named > 0 {
        let detail = names_only.then(|| {
            format!("the answer repeated or lacked categories: its {} distinct ones named the clusters", answer.len())
        });
        NamingReport { namer: NamerKind::Llm, fallback: None, detail, clusters_named: Some(named) }
    } else {
        NamingReport {
            namer: NamerKind::Keywords,
            fallback: Some(NamerFallback::NamesDoNotFit),
            detail: Some("no category of the model's is the first choice of a cluster's captions".into()),
            clusters_named: Some(0),
        }
    };
    Ok((names, report))
}

/// (cluster, category) pairs of the one-to-one matching on the captions' first choices, kept
/// where the category is also the cluster's most chosen one and most of its captions are there.
fn matched(
    vocab: &Vocabulary,
    w: &[f32],
    category_of: &[Option<usize>],
    categories: usize,
    decay: f32,
    labels: &[i64],
    k: usize,
) -> Vec<(usize, usize)> {
    let mut counts = vec![vec![0usize; categories]; k];
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for (occ, &cluster) in vocab.occurrences.iter().zip(labels) {
        if cluster < 0 || cluster as usize >= k {
            continue;
        }
        let Some(votes) = grouping::caption_votes(occ, w, category_of, categories, decay) else { continue };
        let Some(first) = votes.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0))).map(|v| v.0)
        else {
            continue;
        };
        counts[cluster as usize][first] += 1;
        truth.push(first);
        pred.push(cluster as usize);
    }
    crate::eval::matching(&truth, &pred)
        .into_iter()
        .filter(|&(cluster, category)| {
            let n = counts[cluster][category];
            let category_total: usize = counts.iter().map(|row| row[category]).sum();
            // The cluster's first choice, and the home of most of the category's captions: a
            // name that covers several clusters ("Animals" over dog and cat) identifies none.
            counts[cluster].iter().all(|&m| m <= n) && 2 * n > category_total
        })
        .collect()
}

/// The report of a namer whose call brought no categories.
pub(super) fn failed(reason: NamerFallback, detail: Option<String>) -> NamingReport {
    NamingReport { namer: NamerKind::Keywords, fallback: Some(reason), detail, clusters_named: None }
}
