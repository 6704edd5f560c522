//! Term frequencies of names: how much an exact name match says, given how common the name is.
//!
//! Frequencies are counted over children (groups of records a first clustering found to be one
//! child), not over records: a child reported five times does not make its name common. Small counts
//! are smoothed by Good-Turing: a name held by a single child in the register is, on the evidence of
//! how few names are shared by two, much rarer in the population than "one child in C".

use std::collections::{BTreeMap, BTreeSet};

use super::compare::{Gamma, Prepared};
use super::estimate::Model;

/// Counts of one kind of value (a given name, a full name in a municipality) over children.
struct ValueCounts<T> {
    /// Children holding each value.
    counts: BTreeMap<T, u32>,
    /// Good-Turing adjusted count for small counts r: (r + 1) n(r+1) / n(r), never above r.
    adjusted: BTreeMap<u32, f64>,
}

/// Counts above this are used as they are.
const SMOOTHED_UP_TO: u32 = 5;

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
        let mut adjusted = BTreeMap::new();
        let mut previous = 0.0;
        for r in 1..=SMOOTHED_UP_TO {
            let n = |r: u32| count_of_counts.get(&r).copied().unwrap_or(0.0);
            let r_f = f64::from(r);
            let estimate = if n(r) > 0.0 && n(r + 1) > 0.0 {
                (r_f + 1.0) * n(r + 1) / n(r)
            } else {
                r_f
            };
            // Keep the adjusted counts ordered and never above the raw count.
            let estimate = estimate.min(r_f).max(previous);
            adjusted.insert(r, estimate);
            previous = estimate;
        }
        ValueCounts { counts, adjusted }
    }

    /// Expected number of children other than the pair's holding `value`: its count less the one
    /// child the pair would be (two, if the first clustering kept the pair's records apart), smoothed.
    /// At least a small share of a child, so that an unseen coincidence stays possible.
    fn others(&self, value: &T, pair_apart: bool) -> Option<f64> {
        let count = *self.counts.get(value)?;
        let own = if pair_apart { 2 } else { 1 };
        let others = count.saturating_sub(own);
        // The chance that another child holds the value although none was seen: the Good-Turing
        // estimate of a value seen once (what the pair's child would be alone).
        let unseen = self.adjusted.get(&1).copied().unwrap_or(1.0);
        Some(match others {
            0 => unseen,
            r => self
                .adjusted
                .get(&r)
                .copied()
                .unwrap_or(f64::from(r))
                .max(unseen),
        })
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
    /// The child (group) of each record.
    child_of: Vec<usize>,
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
        let mut child_of = vec![0; records.len()];
        for (child, members) in children.iter().enumerate() {
            for &i in members {
                if let Some(slot) = child_of.get_mut(i) {
                    *slot = child;
                }
            }
        }
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
            child_of,
        }
    }

    /// Log-odds correction for exact name matches: ln(u_exact / share of the shared value), taken
    /// jointly over both names (and the municipality, when it agrees too) where both names agree.
    pub(super) fn adjustment(
        &self,
        (i, a): (usize, &Prepared<'a>),
        (j, b): (usize, &Prepared<'a>),
        gamma: &Gamma,
        model: &Model,
    ) -> f64 {
        const EXACT: u8 = 3;
        const SAME_MUNICIPALITY: u8 = 2;
        let apart = self.child_of.get(i) != self.child_of.get(j);
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
                if let Some(f) = share(self.full_in_place.others(&key, apart)) {
                    return (u(0, EXACT) * u(1, EXACT) * u(5, SAME_MUNICIPALITY) / f).ln();
                }
            } else if let Some(f) = share(self.full.others(&name, apart)) {
                return (u(0, EXACT) * u(1, EXACT) / f).ln();
            }
            return 0.0;
        }
        let mut adjust = 0.0;
        if given_same {
            if let Some(f) = share(self.given.others(&a.record.given_key.as_str(), apart)) {
                adjust += (u(0, EXACT) / f).ln();
            }
        }
        if surname_same {
            if let Some(f) = share(self.surname.others(&a.surname_stem, apart)) {
                adjust += (u(1, EXACT) / f).ln();
            }
        }
        adjust
    }
}
