//! Co-mentions: evidence for a grouping that does not come from the embeddings. Values one
//! caption names together usually share the criterion's value, so a right grouping puts them
//! in one category far more often than random regroupings of the same values do.

use super::grouping::caption_votes;
use super::OneCallParams;

/// `conflict` is the vote weight captions give to categories other than their first choice
/// (zero when every caption's grouped values share a category), next to the same sum for
/// random regroupings of the same values into categories of the same sizes.
#[derive(Debug, Clone, Copy)]
pub(super) struct CoMentions {
    pub conflict: f64,
    pub random_mean: f64,
    pub random_sd: f64,
}

impl CoMentions {
    pub fn measure(
        occurrences: &[Vec<u32>],
        w: &[f32],
        category_of: &[Option<usize>],
        k: usize,
        p: &OneCallParams,
        seed: u64,
    ) -> Self {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let conflict_of = |category_of: &[Option<usize>]| -> f64 {
            occurrences
                .iter()
                .filter_map(|occ| caption_votes(occ, w, category_of, k, p.vote_mention_decay))
                .map(|v| f64::from(v.iter().sum::<f32>() - v.iter().copied().fold(0.0, f32::max)))
                .sum()
        };
        let grouped: Vec<usize> = (0..category_of.len()).filter(|&t| category_of[t].is_some()).collect();
        let mut categories: Vec<Option<usize>> = grouped.iter().map(|&t| category_of[t]).collect();
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(seed ^ 0xc0_3e47);
        let mut shuffled = vec![None; category_of.len()];
        let random: Vec<f64> = (0..p.regroupings)
            .map(|_| {
                categories.shuffle(&mut rng);
                for (&t, &c) in grouped.iter().zip(&categories) {
                    shuffled[t] = c;
                }
                conflict_of(&shuffled)
            })
            .collect();
        let n = random.len() as f64;
        let random_mean = random.iter().sum::<f64>() / n;
        let random_sd = (random.iter().map(|r| (r - random_mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        Self { conflict: conflict_of(category_of), random_mean, random_sd }
    }

    /// The conflict as a share of a random regrouping's; `None` when random regroupings give
    /// none either (no caption names two grouped values: no evidence).
    pub fn ratio(&self) -> Option<f64> {
        (self.random_mean > 0.0).then(|| self.conflict / self.random_mean)
    }

    /// Far less conflict than chance, by both the ratio and the margin in standard deviations.
    pub fn agree(&self, p: &OneCallParams) -> bool {
        self.ratio().is_some_and(|r| r <= p.co_mention_agreement)
            && self.random_mean - self.conflict >= p.co_mention_min_z * self.random_sd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_mentions_vouch_for_groupings_that_keep_values_named_together_together() {
        // Eight values, two true groups {0..3} and {4..7}; each caption names two values of one
        // group, every pair five times.
        let mut occurrences = Vec::new();
        for group in [[0u32, 1, 2, 3], [4, 5, 6, 7]] {
            for a in 0..4 {
                for b in a + 1..4 {
                    occurrences.extend(std::iter::repeat_n(vec![group[a], group[b]], 5));
                }
            }
        }
        let w = vec![1.0f32; 8];
        let p = OneCallParams::default();
        let grouping = |cats: [usize; 8]| cats.iter().map(|&c| Some(c)).collect::<Vec<_>>();
        let measure = |cats: &[Option<usize>], occ: &[Vec<u32>]| CoMentions::measure(occ, &w, cats, 2, &p, 42);

        let right = measure(&grouping([0, 0, 0, 0, 1, 1, 1, 1]), &occurrences);
        assert_eq!(right.conflict, 0.0);
        assert!(right.random_mean > 0.0 && right.agree(&p), "{right:?}");
        // The same grouping with the category numbers swapped is the same grouping.
        assert_eq!(measure(&grouping([1, 1, 1, 1, 0, 0, 0, 0]), &occurrences).conflict, 0.0);

        // One value in the wrong group: half its pairs conflict, about half as often as chance.
        let one_wrong = measure(&grouping([0, 0, 0, 1, 1, 1, 1, 1]), &occurrences);
        let r = one_wrong.ratio().unwrap();
        assert!(r > p.co_mention_agreement && !one_wrong.agree(&p), "ratio {r}: {one_wrong:?}");
        // Across the true groups: about as much conflict as chance.
        let across = measure(&grouping([0, 1, 0, 1, 0, 1, 0, 1]), &occurrences);
        assert!(across.ratio().unwrap() > 0.8 && !across.agree(&p), "{across:?}");

        // No caption names two values: no evidence either way.
        let single: Vec<Vec<u32>> = (0..60u32).map(|i| vec![i % 8]).collect();
        let alone = measure(&grouping([0, 0, 0, 0, 1, 1, 1, 1]), &single);
        assert_eq!(alone.ratio(), None);
        assert!(!alone.agree(&p));
        // Everything in one category: nothing to regroup, no evidence.
        let one = measure(&grouping([0; 8]), &occurrences);
        assert_eq!((one.ratio(), one.agree(&p)), (None, false));

        // A few co-mentions do not decide: one pair per group agrees perfectly but proves little.
        let few = vec![vec![0, 1], vec![4, 5], vec![2], vec![6]];
        let few = measure(&grouping([0, 0, 0, 0, 1, 1, 1, 1]), &few);
        assert_eq!(few.conflict, 0.0);
        assert!(!few.agree(&p), "{few:?}");
    }
}
