//! Term frequencies of names: how much an exact name match says, given how common the name is.
//!
//! Frequencies are counted over children (groups of records a first clustering found to be one
//! child), not over records: a child reported five times does not make its name common. Small counts
//! are smoothed by Good-Turing (the log-linear fit of "simple Good-Turing"): a name held by a single
//! child in the register is, on the evidence of how few names are shared by two, much rarer in the
//! population than "one child in C".

use std::collections::BTreeMap;
use std::hash::Hash;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::compare::{Gamma, Prepared, NONE};
use super::estimate::Model;

/// Counts of one kind of value (a given name, a full name in a municipality) over children.
struct ValueCounts<T> {
    /// Children holding each value.
    counts: FxHashMap<T, u32>,
    /// Slope of log n(r) against log r, where n(r) is the number of values held by r children
    /// (at most -1: the smoothed count never exceeds the raw one).
    slope: f64,
}

impl<T: Hash + Eq> ValueCounts<T> {
    /// `values` holds each child's distinct values.
    fn new(values: Vec<T>) -> ValueCounts<T> {
        let mut counts: FxHashMap<T, u32> = FxHashMap::default();
        for v in values {
            *counts.entry(v).or_insert(0) += 1;
        }
        let mut count_of_counts: BTreeMap<u32, f64> = BTreeMap::new();
        for &c in counts.values() {
            *count_of_counts.entry(c).or_insert(0.0) += 1.0;
        }
        let slope = log_log_slope(&count_of_counts).min(-1.0);
        ValueCounts { counts, slope }
    }

    /// The Good-Turing count of a value held by r children, from the log-linear fit (Gale and
    /// Sampson's "simple Good-Turing"): r* = r (1 + 1/r)^(slope + 1). Below r, and far below for r = 1
    /// when most values are held by one child only.
    fn smoothed(&self, r: u32) -> f64 {
        let r = f64::from(r.max(1));
        r * (1.0 + 1.0 / r).powf(self.slope + 1.0)
    }

    /// Expected number of children other than the first record's child who hold `value`: how likely
    /// a different child has it by chance. The count less that one child, smoothed; when no other
    /// child holds it, the smoothed count of a value held once (an unseen namesake stays possible).
    fn others(&self, value: &T) -> Option<f64> {
        let count = *self.counts.get(value)?;
        let floor = self.smoothed(1);
        Some(match count.saturating_sub(1) {
            0 => floor,
            r => self.smoothed(r).max(floor),
        })
    }
}

/// Least-squares slope of log n(r) against log r over the counts that occur; -1 (no smoothing) when
/// fewer than two counts occur.
fn log_log_slope(count_of_counts: &BTreeMap<u32, f64>) -> f64 {
    let points: Vec<(f64, f64)> = count_of_counts
        .iter()
        .filter(|(_, &n)| n > 0.0)
        .map(|(&r, &n)| (f64::from(r).ln(), n.ln()))
        .collect();
    if points.len() < 2 {
        return -1.0;
    }
    let k = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / k;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        -1.0
    }
}

/// The share of the other children expected to hold each record's given name, surname stem, full
/// name, and full name in its municipality (NaN where the record lacks the value).
#[derive(Debug, Clone, Copy)]
struct Shares {
    given: f64,
    surname: f64,
    full: f64,
    full_in_place: f64,
}

/// Name frequencies among children, looked up per record.
pub(super) struct NameFrequencies {
    shares: Vec<Shares>,
}

/// The distinct values of each child, one entry per child and value.
fn per_child<T: Ord + Copy>(
    records: &[Prepared<'_>],
    children: &[Vec<usize>],
    value: impl Fn(&Prepared<'_>) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(records.len());
    let mut distinct: Vec<T> = Vec::new();
    for members in children {
        distinct.clear();
        distinct.extend(
            members
                .iter()
                .filter_map(|&i| records.get(i).and_then(&value)),
        );
        distinct.sort_unstable();
        distinct.dedup();
        out.extend_from_slice(&distinct);
    }
    out
}

fn given(p: &Prepared<'_>) -> Option<u32> {
    (p.code.given != NONE).then_some(p.code.given)
}

fn surname(p: &Prepared<'_>) -> Option<u32> {
    (p.code.surname != NONE).then_some(p.code.surname)
}

fn full(p: &Prepared<'_>) -> Option<(u32, u32)> {
    Some((given(p)?, surname(p)?))
}

fn full_in_place(p: &Prepared<'_>) -> Option<(u32, u32, u32)> {
    let (g, s) = full(p)?;
    (p.code.municipality != NONE).then_some((g, s, p.code.municipality))
}

impl NameFrequencies {
    /// Counts names over `children` (each a list of record indexes) and looks up every record's.
    pub(super) fn new(records: &[Prepared<'_>], children: &[Vec<usize>]) -> NameFrequencies {
        let ((given_counts, surname_counts), (full_counts, place_counts)) = rayon::join(
            || {
                rayon::join(
                    || ValueCounts::new(per_child(records, children, given)),
                    || ValueCounts::new(per_child(records, children, surname)),
                )
            },
            || {
                rayon::join(
                    || ValueCounts::new(per_child(records, children, full)),
                    || ValueCounts::new(per_child(records, children, full_in_place)),
                )
            },
        );
        let others = (children.len().saturating_sub(1)).max(1) as f64;
        let share = |count: Option<f64>| count.map_or(f64::NAN, |c| c / others);
        let shares = records
            .par_iter()
            .map(|p| Shares {
                given: share(given(p).and_then(|v| given_counts.others(&v))),
                surname: share(surname(p).and_then(|v| surname_counts.others(&v))),
                full: share(full(p).and_then(|v| full_counts.others(&v))),
                full_in_place: share(full_in_place(p).and_then(|v| place_counts.others(&v))),
            })
            .collect();
        NameFrequencies { shares }
    }

    /// Log-odds correction for exact name matches: ln(u_exact / share of the shared value), taken
    /// jointly over both names (and the municipality, when it agrees too) where both names agree.
    /// `a` is record `i`, whose shares were looked up once.
    pub(super) fn adjustment(
        &self,
        i: usize,
        a: &Prepared<'_>,
        b: &Prepared<'_>,
        gamma: &Gamma,
        model: &Model,
    ) -> f64 {
        const EXACT: u8 = 3;
        const SAME_MUNICIPALITY: u8 = 2;
        let Some(shares) = self.shares.get(i) else {
            return 0.0;
        };
        let known = |share: f64| (!share.is_nan()).then_some(share);
        let given_same = gamma[0] == EXACT && a.code.given == b.code.given;
        let surname_same = gamma[1] == EXACT && a.code.surname == b.code.surname;
        let u = |k: usize, level: u8| model.u[k][usize::from(level)];
        if given_same && surname_same {
            if gamma[5] == SAME_MUNICIPALITY {
                if let Some(f) = known(shares.full_in_place) {
                    return (u(0, EXACT) * u(1, EXACT) * u(5, SAME_MUNICIPALITY) / f).ln();
                }
            } else if let Some(f) = known(shares.full) {
                return (u(0, EXACT) * u(1, EXACT) / f).ln();
            }
            return 0.0;
        }
        let mut adjust = 0.0;
        if given_same {
            if let Some(f) = known(shares.given) {
                adjust += (u(0, EXACT) / f).ln();
            }
        }
        if surname_same {
            if let Some(f) = known(shares.surname) {
                adjust += (u(1, EXACT) / f).ln();
            }
        }
        adjust
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn good_turing_makes_a_name_held_once_rarer_than_one_in_c_and_keeps_order() {
        // 100 names held by one child, 10 by two, 1 by three: shared names are rare.
        let mut values = Vec::new();
        for n in 0..100 {
            values.push(format!("once{n}"));
        }
        for n in 0..10 {
            values.extend([format!("twice{n}"), format!("twice{n}")]);
        }
        values.extend(["thrice".to_string(), "thrice".into(), "thrice".into()]);
        let counts = ValueCounts::new(values);
        let once = counts.others(&"once1".to_string()).unwrap();
        let twice = counts.others(&"twice1".to_string()).unwrap();
        let thrice = counts.others(&"thrice".to_string()).unwrap();
        assert!(once < 0.5, "{once}");
        assert!(once <= twice && twice <= thrice, "{once} {twice} {thrice}");
        assert!(
            thrice <= 2.0,
            "never more than the other children seen: {thrice}"
        );
        assert!(counts.others(&"unknown".to_string()).is_none());
    }

    #[test]
    fn without_shared_names_there_is_nothing_to_smooth() {
        let counts = ValueCounts::new(vec!["a", "b", "c"]);
        assert!((counts.others(&"a").unwrap() - 1.0).abs() < 1e-12);
    }
}
