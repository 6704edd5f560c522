//! Competing candidates: a record is one child, so two candidate partners that cannot be the same
//! child compete for it. A record without a date of birth that fits Arbër Krasniqi born 2012 and
//! another Arbër Krasniqi born 2012 (different dates of birth) belongs to at most one of them; the
//! pairwise probabilities are renormalised over the options (each partner's child, or a child of its
//! own). Two partners from one institution compete too, as far as they are likely two children: an
//! institution records a child once, seldom twice. A partner that another child holds competes less:
//! in a second round each competitor is weighed with its own competitors (but for the pair at hand).
//! Work is in log odds, so that near-certain pairs keep their order.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::cluster::contradict;
use super::compare::Prepared;
use super::estimate::logistic;
use super::ProbabilisticSettings;

/// Partners below this log odds (probability 0.05) are too unlikely to compete.
const COMPETING_FROM: f64 = -2.944_438_979_166_44;

/// A likely partner of a record.
#[derive(Debug, Clone, Copy)]
struct Partner {
    record: usize,
    log_odds: f64,
    /// The pair's place in the pairwise list.
    pair: usize,
}

/// Each record's likely partners with their log odds.
pub(super) struct Partners<'c> {
    /// Every record's partners, record after record, each record's by partner.
    list: Vec<Partner>,
    /// Where each record's partners start in `list` (one more entry than records).
    starts: Vec<usize>,
    /// The competing odds of each pair in the pairwise list from a first round (empty before it).
    held: Vec<f64>,
    /// The child (cluster of a first pass) of each record: rivals that are one child count once.
    child_of: &'c [usize],
}

impl<'c> Partners<'c> {
    /// The partners in `pairwise` (log odds, i, j) likely enough to compete: counted per record,
    /// then placed (a million records' lists in two passes, without a list allocated per record).
    fn new(pairwise: &[(f64, usize, usize)], child_of: &'c [usize]) -> Partners<'c> {
        let records = child_of.len();
        let likely = || {
            pairwise
                .iter()
                .enumerate()
                .filter(|(_, &(log_odds, _, _))| log_odds >= COMPETING_FROM)
        };
        let mut starts = vec![0usize; records + 1];
        for (_, &(_, i, j)) in likely() {
            for a in [i, j].into_iter().filter(|&a| a < records) {
                if let Some(count) = starts.get_mut(a + 1) {
                    *count += 1;
                }
            }
        }
        for a in 0..records {
            starts[a + 1] += starts[a];
        }
        let mut next = starts.clone();
        let unplaced = Partner {
            record: usize::MAX,
            log_odds: f64::NEG_INFINITY,
            pair: usize::MAX,
        };
        let mut list = vec![unplaced; starts[records]];
        for (pair, &(log_odds, i, j)) in likely() {
            for (a, b) in [(i, j), (j, i)] {
                let Some(at) = next.get_mut(a).filter(|_| a < records) else {
                    continue;
                };
                if let Some(slot) = list.get_mut(*at) {
                    *slot = Partner {
                        record: b,
                        log_odds,
                        pair,
                    };
                }
                *at += 1;
            }
        }
        // By partner, so that a pair's probability is found by binary search (candidate pairs come
        // sorted, so each record's partners mostly are already).
        for w in starts.windows(2) {
            if let Some(of_record) = list.get_mut(w[0]..w[1]) {
                of_record.sort_unstable_by_key(|p| p.record);
            }
        }
        Partners {
            list,
            starts,
            held: Vec::new(),
            child_of,
        }
    }

    /// The likely partners of record `a`, by partner.
    fn of(&self, a: usize) -> &[Partner] {
        match (self.starts.get(a), self.starts.get(a.saturating_add(1))) {
            (Some(&from), Some(&to)) => self.list.get(from..to).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The partners after a first round of competition: each pair's competitors known, so that a
    /// partner another child holds competes less in the next.
    pub(super) fn settled(
        pairwise: &[(f64, usize, usize)],
        child_of: &'c [usize],
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> Partners<'c> {
        let mut partners = Partners::new(pairwise, child_of);
        partners.held = partners.round(pairwise, prepared, s);
        partners
    }

    /// The competing odds of every pair in `pairwise` at or above the review probability (the
    /// rest get zero).
    fn round(
        &self,
        pairwise: &[(f64, usize, usize)],
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> Vec<f64> {
        let from = logit(s.review_probability);
        pairwise
            .par_iter()
            .map(|&(log_odds, i, j)| {
                if log_odds < from {
                    0.0
                } else {
                    self.competing((i, j), log_odds, prepared, s)
                }
            })
            .collect()
    }

    /// How far `k` competes with `against` for a record both may belong to: fully if the two cannot
    /// be one child; as far as they are two children if one institution recorded both (and a first
    /// clustering did not already call them one child); not at all otherwise.
    fn rivalry(
        &self,
        k: usize,
        against: usize,
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> Option<f64> {
        if contradict(&[k], &[against], prepared, s) {
            return Some(1.0);
        }
        let one_institution =
            prepared.get(k).map(|p| p.code.source) == prepared.get(against).map(|p| p.code.source);
        let one_child = self.child_of.get(k) == self.child_of.get(against);
        (one_institution && !one_child).then(|| 1.0 - self.probability(k, against))
    }

    /// The pairwise probability of (a, b) if b is among a's partners, else 0.
    fn probability(&self, a: usize, b: usize) -> f64 {
        let list = self.of(a);
        list.binary_search_by_key(&b, |p| p.record)
            .ok()
            .and_then(|at| list.get(at))
            .map_or(0.0, |p| logistic(p.log_odds))
    }

    /// The summed odds of the children competing with the pair (i, j), whose own log odds are
    /// `own`: partners of i that rival j (see [`Partners::rivalry`]) and partners of j that rival i,
    /// each child counted once at its strongest record, and each partner less by the competitors it
    /// has besides this pair (after [`Partners::settled`]).
    pub(super) fn competing(
        &self,
        (i, j): (usize, usize),
        own: f64,
        prepared: &[Prepared<'_>],
        s: &ProbabilisticSettings,
    ) -> f64 {
        let mut strongest: BTreeMap<usize, f64> = BTreeMap::new();
        for (of, against) in [(i, j), (j, i)] {
            for partner in self.of(of) {
                let k = partner.record;
                if k == against {
                    continue;
                }
                let Some(share) = self.rivalry(k, against, prepared, s) else {
                    continue;
                };
                // The partner's own competitors (worked out for partners at or above the review
                // probability), less this pair's record on the other side.
                let held = self
                    .held
                    .get(partner.pair)
                    .map_or(0.0, |c| (c - share * own.exp()).max(0.0));
                let odds = share * partner.log_odds.exp() / (1.0 + held);
                let child = self.child_of.get(k).copied().unwrap_or(k);
                let best = strongest.entry(child).or_insert(0.0);
                *best = best.max(odds);
            }
        }
        strongest.values().sum()
    }
}

/// For every pair (log odds, i, j), the summed odds of its competitors, in two rounds (see
/// [`Partners::settled`]). Only pairs at or above the review probability are worked out; the rest
/// get zero.
pub(super) fn competing_odds(
    prepared: &[Prepared<'_>],
    pairwise: &[(f64, usize, usize)],
    child_of: &[usize],
    s: &ProbabilisticSettings,
) -> Vec<f64> {
    Partners::settled(pairwise, child_of, prepared, s).round(pairwise, prepared, s)
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
    fn each_record_finds_its_likely_partners_whatever_the_order_of_the_pairs() {
        // Pairs in no order, either way round; one too unlikely to compete; one naming a record
        // beyond the register (kept as a partner of the record in range, as a list per record did).
        let pairwise = [
            (2.0, 3, 1),
            (1.0, 0, 3),
            (0.5, 2, 1),
            (-10.0, 0, 1),
            (3.0, 5, 0),
        ];
        let child_of = [0, 1, 2, 3];
        let partners = Partners::new(&pairwise, &child_of);
        let records =
            |a: usize| -> Vec<usize> { partners.of(a).iter().map(|p| p.record).collect() };
        assert_eq!(records(0), vec![3, 5]);
        assert_eq!(records(1), vec![2, 3]);
        assert_eq!(records(2), vec![1]);
        assert_eq!(records(3), vec![0, 1]);
        assert!(records(4).is_empty() && records(usize::MAX).is_empty());
        // Each pair's probability from either side; none for the unlikely pair.
        assert!((partners.probability(1, 3) - logistic(2.0)).abs() < 1e-12);
        assert!((partners.probability(3, 1) - logistic(2.0)).abs() < 1e-12);
        assert_eq!(partners.probability(0, 1), 0.0);
        // Each partner knows its pair's place in the pairwise list.
        assert_eq!(partners.of(2).first().map(|p| p.pair), Some(2));
    }

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
