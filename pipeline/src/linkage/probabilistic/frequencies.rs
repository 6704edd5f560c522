//! Term frequencies of names: how much an exact name match says, given how common the name is.
//!
//! Frequencies are counted over children (groups of records a first clustering found to be one
//! child), not over records: a child reported five times does not make its name common. Small counts
//! are smoothed by Good-Turing (the log-linear fit of "simple Good-Turing"): a name held by a single
//! child in the register is, on the evidence of how few names are shared by two, much rarer in the
//! population than "one child in C".

use std::collections::{BTreeMap, BTreeSet};

use super::compare::{Gamma, Prepared};
use super::estimate::Model;

/// Counts of one kind of value (a given name, a full name in a municipality) over children.
struct ValueCounts<T> {
    /// Children holding each value.
    counts: BTreeMap<T, u32>,
    /// Slope of log n(r) against log r, where n(r) is the number of values held by r children
    /// (at most -1: the smoothed count never exceeds the raw one).
    slope: f64,
}

impl<T: Ord> ValueCounts<T> {
    /// `values` holds each child's distinct values.
    fn new(values: Vec<T>) -> ValueCounts<T> {
        let mut counts: BTreeMap<T, u32> = BTreeMap::new();
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

/// How common each given name, surname, full name and full name in a municipality is, for
/// term-frequency adjustment: an exact match on Krasniqi or Gashi says less than one on a rare name,
/// and "Nikola Jovanović" in a Serb-majority municipality says less than the two names' separate
/// frequencies across Kosovo suggest (names and places are not independent).
pub(super) struct NameFrequencies<'a> {
    given: ValueCounts<&'a str>,
    surname: ValueCounts<&'a str>,
    full: ValueCounts<(&'a str, &'a str)>,
    full_in_place: ValueCounts<(&'a str, &'a str, &'a str)>,
    /// Number of children counted.
    children: usize,
}

/// The distinct values `value` gives the records of each child.
fn per_child<'a, T: Ord>(
    records: &[Prepared<'a>],
    children: &[Vec<usize>],
    value: impl Fn(&Prepared<'a>) -> Option<T>,
) -> Vec<T> {
    children
        .iter()
        .flat_map(|members| {
            members
                .iter()
                .filter_map(|&i| records.get(i).and_then(&value))
                .collect::<BTreeSet<T>>()
        })
        .collect()
}

impl<'a> NameFrequencies<'a> {
    /// Frequencies among `children` (groups of record indexes; one group per record counts records).
    pub(super) fn new(records: &[Prepared<'a>], children: &[Vec<usize>]) -> NameFrequencies<'a> {
        let nonempty = |v: &'a str| (!v.is_empty()).then_some(v);
        let full = |p: &Prepared<'a>| {
            (!p.record.given_key.is_empty() && !p.surname_stem.is_empty()).then(|| p.full_name())
        };
        NameFrequencies {
            given: ValueCounts::new(per_child(records, children, |p| {
                nonempty(p.record.given_key.as_str())
            })),
            surname: ValueCounts::new(per_child(records, children, |p| nonempty(p.surname_stem))),
            full: ValueCounts::new(per_child(records, children, full)),
            full_in_place: ValueCounts::new(per_child(records, children, |p| {
                let (given, surname) = full(p)?;
                Some((given, surname, p.record.municipality.as_deref()?))
            })),
            children: children.len(),
        }
    }

    /// Log-odds correction for exact name matches: ln(u_exact / share of the shared value), taken
    /// jointly over both names (and the municipality, when it agrees too) where both names agree.
    pub(super) fn adjustment(
        &self,
        a: &Prepared<'a>,
        b: &Prepared<'a>,
        gamma: &Gamma,
        model: &Model,
    ) -> f64 {
        const EXACT: u8 = 3;
        const SAME_MUNICIPALITY: u8 = 2;
        let others = (self.children.saturating_sub(1)).max(1) as f64;
        let share = |count: Option<f64>| count.map(|c| c / others);
        let given_same = gamma[0] == EXACT && a.record.given_key == b.record.given_key;
        let surname_same = gamma[1] == EXACT && a.surname_stem == b.surname_stem;
        let u = |k: usize, level: u8| model.u[k][usize::from(level)];
        if given_same && surname_same {
            let name = a.full_name();
            let place = a
                .record
                .municipality
                .as_deref()
                .filter(|_| gamma[5] == SAME_MUNICIPALITY);
            if let Some(place) = place {
                let key = (name.0, name.1, place);
                if let Some(f) = share(self.full_in_place.others(&key)) {
                    return (u(0, EXACT) * u(1, EXACT) * u(5, SAME_MUNICIPALITY) / f).ln();
                }
            } else if let Some(f) = share(self.full.others(&name)) {
                return (u(0, EXACT) * u(1, EXACT) / f).ln();
            }
            return 0.0;
        }
        let mut adjust = 0.0;
        if given_same {
            if let Some(f) = share(self.given.others(&a.record.given_key.as_str())) {
                adjust += (u(0, EXACT) / f).ln();
            }
        }
        if surname_same {
            if let Some(f) = share(self.surname.others(&a.surname_stem)) {
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
