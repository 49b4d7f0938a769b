//! The one call's settings, and the measured constants its checks use.

use super::super::QueryError;

/// Words listed in the one-call prompt by default: the criterion's kinds and its most relevant
/// terms, about 400 prompt tokens, which a 1.5B model on two cores reads in seconds. The
/// model names the categories from them; the embeddings place every other word.
pub const DEFAULT_LLM_VALUES: usize = 80;

/// Whether the one call's answer is checked against the data before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GroupingCheck {
    /// Keep the answer's partition only if it fits the data about as well as k-means without
    /// the LLM and fewer than half its categories go (almost) without captions, or if the
    /// captions' co-mentions vouch for the grouping (values one caption names together fall
    /// in one category far more often than in random regroupings). Where the embeddings follow
    /// the criterion, a wrong answer then cannot make the result worse than the zero-call
    /// query; where they do not (e.g. "gender" of products), a right one is still kept when the
    /// captions' co-mentions agree with it (held-out fashion names: ACC 0.59 → 0.99).
    #[default]
    Checked,
    /// Keep any answer that groups the values of at least half the captions into at least two
    /// categories, whether or not the data supports it. A wrong answer is then kept too
    /// (`notebooks/fashion_criteria.md`, `notebooks/one_call_names.md`).
    Trusted,
}

/// The one call's settings. The defaults are the measured values documented on each field.
///
/// ```
/// use clusterby::query::{GroupingCheck, OneCallParams};
///
/// let p = OneCallParams::default().with_values(300).with_grouping(GroupingCheck::Trusted);
/// assert_eq!((p.values, p.grouping), (300, GroupingCheck::Trusted));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCallParams {
    /// Most criterion values listed in the prompt (fewer where the server's window holds fewer).
    pub values: usize,
    pub grouping: GroupingCheck,
    /// How much worse (relative k-means objective) than the zero-call partition the answer's
    /// partition may fit the data and still be kept: the answer may choose among partitions
    /// about as good as the zero-call one, not impose a worse one. With a stand-in model that
    /// groups every value by the ground truth of the captions mentioning it
    /// (`notebooks/one_call_names.md`): +0.06% to +0.5% on the four caption sets; with 10% of
    /// the values put in a wrong category, +3.6% on PPMI-2. Qwen2.5-Coder-1.5B's PPMI-2 answer,
    /// the flute among the strings, cost +1.2% (ACC 0.979 → 0.876 where 2% kept it).
    pub grouping_fit_tolerance: f64,
    /// A category is thin when it is the first choice of fewer than this share of 1/K of the
    /// captions that vote; a grouping with at least half its categories thin is refused.
    /// Qwen2.5-Coder-1.5B put all 266 of PPMI-2's values in one of two categories: k-means
    /// started from one cluster then found a split within the objective's tolerance that
    /// scored ACC 0.876 against the zero-call 0.976.
    pub min_category_share: f64,
    /// How much the model's grouping weighs against the caption's `values` features when
    /// k-means settles the votes' partition (stand-in model, held out: at 0.1 / 0.2 / 0.3,
    /// STL-10 0.987 / 0.985 / 0.983, CIFAR-10 0.924 / 0.922 / 0.918; with 10% of the values
    /// misplaced, 0.3 fell below the zero-call ACC on STL-10, 0.1 did not).
    pub vote_weight: f32,
    /// A caption's n-th mentioned grouped value votes with weight `decay^n`: the first is
    /// usually the subject (stand-in, votes alone: PPMI-7 0.946 with order ignored, 0.970 at
    /// 0.7, 0.974 at 0.5, 0.971 at 0.2; the zero-call kinds use the same decay).
    pub vote_mention_decay: f32,
    /// A grouping whose co-mentions conflict at most this share as much as random
    /// regroupings' is kept where its partition fits the embeddings worse. Stand-in: right
    /// groupings 0.04–0.16 (fashion), 0.03–0.27 (IC|TC sets); 10% misplaced 0.36–0.79.
    pub co_mention_agreement: f64,
    /// ...and random regroupings must conflict more by this many of their standard
    /// deviations, so that a few co-mentions do not decide.
    pub co_mention_min_z: f64,
    /// Random regroupings measured (each one pass over the captions' mentions).
    pub regroupings: usize,
}

impl Default for OneCallParams {
    fn default() -> Self {
        Self {
            values: DEFAULT_LLM_VALUES,
            grouping: GroupingCheck::Checked,
            grouping_fit_tolerance: 0.005,
            min_category_share: 0.1,
            vote_weight: 0.1,
            vote_mention_decay: 0.5,
            co_mention_agreement: 0.2,
            co_mention_min_z: 3.0,
            regroupings: 20,
        }
    }
}

impl OneCallParams {
    pub fn with_values(mut self, n: usize) -> Self {
        self.values = n;
        self
    }
    pub fn with_grouping(mut self, g: GroupingCheck) -> Self {
        self.grouping = g;
        self
    }

    pub(crate) fn check(&self) -> Result<(), QueryError> {
        if self.values == 0 {
            return Err(QueryError::Invalid(
                "--llm-values must be at least 1 (the values listed in the prompt)".into(),
            ));
        }
        if self.regroupings < 2 {
            return Err(QueryError::Invalid("one-call regroupings must be at least 2".into()));
        }
        Ok(())
    }
}
