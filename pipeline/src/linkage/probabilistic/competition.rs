//! Competing candidates: a record is one child, so two candidate partners that cannot be the same
//! child compete for it. A record without a date of birth that fits Arbër Krasniqi born 2012 and
//! another Arbër Krasniqi born 2012 (different dates of birth) belongs to at most one of them; the
//! pairwise probabilities are renormalised over the options (each partner's child, or a child of its
//! own). Work is in log odds, so that near-certain pairs keep their order.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::cluster::contradict;
use super::compare::Prepared;
use super::ProbabilisticSettings;

/// Partners below this log odds (probability 0.05) are too unlikely to compete.
const COMPETING_FROM: f64 = -2.944_438_979_166_44;

/// Each record's likely partners with their log odds.
pub(super) struct Partners<'c> {
    of: Vec<Vec<(usize, f64)>>,
    /// The child (cluster of a first pass) of each record: rivals that are one child count once.
    child_of: &'c [usize],
}

impl<'c> Partners<'c> {
    /// The partners in `pairwise` (log odds, i, j) likely enough to compete.
    pub(super) fn new(pairwise: &[(f64, usize, usize)], child_of: &'c [usize]) -> Partners<'c> {
        let mut of: Vec<Vec<(usize, f64)>> = vec![Vec::new(); child_of.len()];
        for &(log_odds, i, j) in pairwise {
            if log_odds >= COMPETING_FROM {
                if let Some(list) = of.get_mut(i) {
                    list.push((j, log_odds));
                }
                if let Some(list) = of.get_mut(j) {
                    list.push((i, log_odds));
                }
            }
        }
        Partners { of, child_of }
    }

    /// The summed odds of the children competing with the pair (i, j): partners of i that cannot be
    /// the same child as j, and partners of j that cannot be i's child, each child counted once at
    /// its strongest record.
    pub(super) fn competing(
        &self,
        (i, j): (usize, usize),
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> f64 {
        let mut strongest: BTreeMap<usize, f64> = BTreeMap::new();
        for (of, against) in [(i, j), (j, i)] {
            for &(k, log_odds) in self.of.get(of).into_iter().flatten() {
                if k == against || !contradict(&[k], &[against], prepared, s) {
                    continue;
                }
                let child = self.child_of.get(k).copied().unwrap_or(k);
                let best = strongest.entry(child).or_insert(f64::NEG_INFINITY);
                *best = best.max(log_odds);
            }
        }
        strongest.values().map(|l| l.exp()).sum()
    }
}

/// For every pair (log odds, i, j), the summed odds of its competitors. Only pairs at or above the
/// review probability are worked out; the rest get zero.
pub(super) fn competing_odds(
    prepared: &[Prepared<'_>],
    pairwise: &[(f64, usize, usize)],
    child_of: &[usize],
    s: &ProbabilisticSettings,
) -> Vec<f64> {
    let partners = Partners::new(pairwise, child_of);
    let from = logit(s.review_probability);
    pairwise
        .par_iter()
        .map(|&(log_odds, i, j)| {
            if log_odds < from {
                0.0
            } else {
                partners.competing((i, j), prepared, s)
            }
        })
        .collect()
}

/// Log odds of a probability.
pub(super) fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    (p / (1.0 - p)).ln()
}

/// The probability of a pair with `log_odds` once competitors with summed odds `competing` are
/// counted: the pair against every option (no match, each competing child).
pub(super) fn exclusive_probability(log_odds: f64, competing: f64) -> f64 {
    1.0 / (1.0 + (1.0 + competing) * (-log_odds).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn competition_lowers_a_probability_and_none_leaves_it() {
        let l = logit(0.99);
        assert!((exclusive_probability(l, 0.0) - 0.99).abs() < 1e-9);
        // Two equally likely different children: neither is likely.
        let p = exclusive_probability(l, l.exp());
        assert!(p < 0.5, "{p}");
        // Near-certain pairs keep their order: a far stronger pair is not dragged down to a tie.
        let strong = exclusive_probability(60.0, 30f64.exp());
        let weak = exclusive_probability(30.0, 60f64.exp());
        assert!(strong > 0.999_999 && weak < 1e-6, "{strong} {weak}");
    }
}
