//! Whether the one call's answer shapes the partition, and why: the checks that refuse a
//! useless answer, as data.

use serde::{Deserialize, Serialize};

use super::co_mentions::CoMentions;
use super::{GroupingCheck, OneCallParams};

/// Why an answer's partition was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptBecause {
    /// It fits the data about as well as k-means without the LLM.
    Fits,
    /// It fits worse, but the captions' co-mentions vouch for the grouping.
    CoMentionsAgree,
    /// `--llm-grouping trusted`: not checked.
    Trusted,
}

/// Why an answer's partition was refused (the zero-call clusters stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A category's name only restates the criterion ("Musical Instruments").
    NamesTheCriterion,
    /// Fewer than half the captions mention a grouped value.
    FewVoters,
    /// The grouping gives captions to fewer than two categories.
    FewerThanTwoCategories,
    /// Half or more of the categories get (almost) no captions.
    ThinCategories,
    /// The partition fits the data worse than k-means without the LLM, and no co-mentions
    /// vouch for it.
    FitsWorse,
}

/// Why the call bought nothing (the zero-call clusters stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No answer: the server failed, refused or timed out (after retries).
    CallFailed,
    /// The answer could not be read as K categories.
    UnusableAnswer,
}

/// What became of the one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    Kept { because: KeptBecause },
    Refused { reason: Refusal },
    Failed { reason: Failure },
}

impl Verdict {
    /// The answer's partition is the result's.
    pub fn kept(&self) -> bool {
        matches!(self, Verdict::Kept { .. })
    }
}

/// The k-means objective of the answer's partition next to the zero-call partition's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub with_llm: f64,
    pub without_llm: f64,
    /// The relative excess allowed.
    pub tolerance: f64,
}

impl Objective {
    pub fn fits(&self) -> bool {
        self.with_llm <= self.without_llm * (1.0 + self.tolerance)
    }
}

/// How the votes spread over the categories (grouping answers).
pub(super) struct Spread {
    pub voters: usize,
    pub rows: usize,
    pub per_category: Vec<usize>,
}

impl Spread {
    /// Categories that are the first choice of fewer than `min_category_share` of 1/K of the voters.
    pub fn thin(&self, p: &OneCallParams) -> Vec<usize> {
        let k = self.per_category.len();
        (0..k)
            .filter(|&c| (self.per_category[c] as f64) < p.min_category_share / k as f64 * self.voters as f64)
            .collect()
    }
}

/// The verdict on the partition the answer led to.
pub(super) fn judge(s: &Spread, co_mentions: &CoMentions, objective: &Objective, p: &OneCallParams) -> Verdict {
    let trusted = p.grouping == GroupingCheck::Trusted;
    let vouched = co_mentions.agree(p);
    let refuse = |reason| Verdict::Refused { reason };
    if s.voters * 2 < s.rows {
        return refuse(Refusal::FewVoters);
    }
    if trusted && s.per_category.iter().filter(|&&c| c > 0).count() < 2 {
        return refuse(Refusal::FewerThanTwoCategories);
    }
    // Vouched-for thin categories are rare classes, not missing ones (a grouping with
    // everything in one category has no co-mention evidence and is not vouched for).
    if !trusted && 2 * s.thin(p).len() >= s.per_category.len() && !vouched {
        return refuse(Refusal::ThinCategories);
    }
    let because = match (trusted, objective.fits(), vouched) {
        (true, ..) => KeptBecause::Trusted,
        (false, true, _) => KeptBecause::Fits,
        (false, false, true) => KeptBecause::CoMentionsAgree,
        (false, false, false) => return refuse(Refusal::FitsWorse),
    };
    Verdict::Kept { because }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(per_category: Vec<usize>, rows: usize) -> Spread {
        Spread { voters: per_category.iter().sum(), rows, per_category }
    }

    const NO_EVIDENCE: CoMentions = CoMentions { conflict: 0.0, random_mean: 0.0, random_sd: 0.0 };

    #[test]
    fn each_check_refuses_with_its_own_reason() {
        let p = OneCallParams::default();
        let fits = Objective { with_llm: 1.0, without_llm: 1.0, tolerance: 0.02 };
        let worse = Objective { with_llm: 1.1, without_llm: 1.0, tolerance: 0.02 };
        let refused = |reason| Verdict::Refused { reason };
        let judge = |s: &Spread, o: &Objective, p: &OneCallParams| judge(s, &NO_EVIDENCE, o, p);
        assert_eq!(judge(&spread(vec![10, 10], 100), &fits, &p), refused(Refusal::FewVoters));
        assert_eq!(judge(&spread(vec![60, 0], 100), &fits, &p), refused(Refusal::ThinCategories));
        assert_eq!(judge(&spread(vec![30, 30], 100), &worse, &p), refused(Refusal::FitsWorse));
        assert_eq!(judge(&spread(vec![30, 30], 100), &fits, &p), Verdict::Kept { because: KeptBecause::Fits });
        let trusted = p.with_grouping(GroupingCheck::Trusted);
        assert_eq!(judge(&spread(vec![60, 0], 100), &fits, &trusted), refused(Refusal::FewerThanTwoCategories));
        assert_eq!(judge(&spread(vec![50, 5], 100), &worse, &trusted), Verdict::Kept { because: KeptBecause::Trusted });
        let vouching = CoMentions { conflict: 0.0, random_mean: 10.0, random_sd: 1.0 };
        assert_eq!(
            super::judge(&spread(vec![30, 30], 100), &vouching, &worse, &p),
            Verdict::Kept { because: KeptBecause::CoMentionsAgree }
        );
    }

    #[test]
    fn verdicts_serialise_with_their_outcome() {
        let v = Verdict::Refused { reason: Refusal::ThinCategories };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"outcome": "refused", "reason": "thin_categories"})
        );
    }
}
