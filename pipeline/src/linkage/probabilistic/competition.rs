//! Competing candidates: a record is one child, so two candidate partners that cannot be the same
//! child compete for it. A record without a date of birth that fits Arbër Krasniqi born 2012 and
//! another Arbër Krasniqi born 2012 (different dates of birth) belongs to at most one of them; the
//! pairwise probabilities are renormalised over the options (each partner, or a child of its own).

use rayon::prelude::*;

use super::cluster::contradict;
use super::compare::Prepared;
use super::ProbabilisticSettings;

/// Partners below this probability are too unlikely to compete.
const COMPETING_FROM: f64 = 0.05;

/// Odds of a probability, bounded so that certainty stays finite.
fn odds(p: f64) -> f64 {
    let p = p.clamp(0.0, 1.0 - 1e-12);
    p / (1.0 - p)
}

/// Each record's likely partners with their odds.
pub(super) struct Partners {
    of: Vec<Vec<(usize, f64)>>,
}

impl Partners {
    /// The partners in `scored` (probability, i, j) likely enough to compete.
    pub(super) fn new(records: usize, scored: &[(f64, usize, usize)]) -> Partners {
        let mut of: Vec<Vec<(usize, f64)>> = vec![Vec::new(); records];
        for &(p, i, j) in scored {
            if p >= COMPETING_FROM {
                of[i].push((j, odds(p)));
                of[j].push((i, odds(p)));
            }
        }
        Partners { of }
    }

    /// The odds of the partners of i that cannot be the same child as j, plus those of j's partners
    /// that cannot be i's child.
    pub(super) fn competing(
        &self,
        (i, j): (usize, usize),
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> f64 {
        let rivals = |of: usize, against: usize| -> f64 {
            self.of
                .get(of)
                .into_iter()
                .flatten()
                .filter(|&&(k, _)| k != against && contradict(&[k], &[against], prepared, s))
                .map(|&(_, o)| o)
                .sum()
        };
        rivals(i, j) + rivals(j, i)
    }
}

/// For every scored pair (probability, i, j), the odds of its competitors. Only pairs at or above
/// the review probability are worked out; the rest get zero.
pub(super) fn competing_odds(
    prepared: &[Prepared<'_>],
    scored: &[(f64, usize, usize)],
    s: &ProbabilisticSettings,
) -> Vec<f64> {
    let partners = Partners::new(prepared.len(), scored);
    scored
        .par_iter()
        .map(|&(p, i, j)| {
            if p < s.review_probability {
                0.0
            } else {
                partners.competing((i, j), prepared, s)
            }
        })
        .collect()
}

/// The probability of a pair once its competitors are counted: the pair's odds against every option
/// (no match, each competitor).
pub(super) fn exclusive_probability(p: f64, competing: f64) -> f64 {
    let o = odds(p);
    o / (1.0 + o + competing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn competition_lowers_a_probability_and_none_leaves_it() {
        assert!((exclusive_probability(0.99, 0.0) - 0.99).abs() < 1e-9);
        // Two equally likely different children: neither is likely.
        let p = exclusive_probability(0.99, odds(0.99));
        assert!(p < 0.5, "{p}");
    }
}
