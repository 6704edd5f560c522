//! Brothers and sisters found together: a police operation or a social-work referral meets a
//! family's children on one day, so two records whose co-reported siblings are one child are
//! likelier one child too. Evidence from a first clustering, weighed by that clustering's pairs.

use chrono::Datelike;
use rayon::prelude::*;

use super::compare::{Prepared, NONE};

/// A group larger than this (many namesakes on one day) says nothing about one family.
const MAX_GROUP: usize = 8;

/// No group.
const ALONE: u32 = u32::MAX;

/// What a pair's companions show, as an index into [`Companions::weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// A side has no companion: nothing to say.
    Alone = 0,
    /// Both sides have companions, and none of one side is one child with one of the other (or
    /// the two records were made together and share their companions).
    Apart = 1,
    /// A companion of each side is one child: the two records' siblings were linked.
    Together = 2,
}

/// Records one source reported on one day with one surname in one municipality (a family's
/// children, seen together), and the weight of what a pair's companions show.
pub(super) struct Companions {
    /// The group of each record, or [`ALONE`].
    group_of: Vec<u32>,
    /// The records of each group, group after group.
    members: Vec<u32>,
    /// Where each group's records start in `members` (one more entry than groups).
    starts: Vec<usize>,
    /// Natural-log weight of each [`Seen`].
    weights: [f64; 3],
}

impl Companions {
    /// Groups the records; the weights are zero until [`Companions::weigh`].
    pub(super) fn new(prepared: &[Prepared<'_>]) -> Companions {
        let mut keyed: Vec<((u32, i32, u32, u32), u32)> = prepared
            .par_iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let c = &p.code;
                let day = p.record.event_date?.num_days_from_ce();
                if c.source == NONE || c.surname == NONE || c.municipality == NONE {
                    return None;
                }
                Some((
                    (c.source, day, c.surname, c.municipality),
                    u32::try_from(i).ok()?,
                ))
            })
            .collect();
        keyed.par_sort_unstable();
        let mut group_of = vec![ALONE; prepared.len()];
        let mut members = Vec::new();
        let mut starts = vec![0];
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            if !(2..=MAX_GROUP).contains(&group.len()) {
                continue;
            }
            let id = u32::try_from(starts.len() - 1).unwrap_or(ALONE);
            for &(_, i) in group {
                if let Some(g) = group_of.get_mut(i as usize) {
                    *g = id;
                }
                members.push(i);
            }
            starts.push(members.len());
        }
        Companions {
            group_of,
            members,
            starts,
            weights: [0.0; 3],
        }
    }

    /// The records seen with `i` (itself included), if any.
    fn group(&self, i: usize) -> &[u32] {
        let Some(&g) = self.group_of.get(i) else {
            return &[];
        };
        if g == ALONE {
            return &[];
        }
        let g = g as usize;
        match (self.starts.get(g), self.starts.get(g + 1)) {
            (Some(&from), Some(&to)) => self.members.get(from..to).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// What the companions of `i` and `j` show, `child_of` grouping records that are one child. A
    /// companion is a record seen with one side that is neither side nor one child with it.
    pub(super) fn seen(&self, i: usize, j: usize, child_of: &[usize]) -> Seen {
        let child = |r: usize| child_of.get(r).copied().unwrap_or(r);
        let others = |own: usize, other: usize| {
            self.group(own)
                .iter()
                .map(|&r| r as usize)
                .filter(move |&r| r != own && r != other && child(r) != child(own))
        };
        let mut apart = false;
        for a in others(i, j) {
            for b in others(j, i) {
                if a != b && child(a) == child(b) {
                    return Seen::Together;
                }
                apart = true;
            }
        }
        if apart {
            Seen::Apart
        } else {
            Seen::Alone
        }
    }

    /// The log-odds adjustment of the pair (i, j).
    pub(super) fn adjustment(&self, i: usize, j: usize, child_of: &[usize]) -> f64 {
        self.weights[self.seen(i, j, child_of) as usize]
    }

    /// Weighs what companions show by the scored pairs of the clustering `child_of` came from: each
    /// pair counts as one child with its probability, as two with the rest (one EM step, the
    /// other evidence held fixed).
    pub(super) fn weigh(&mut self, scored: &[(f64, usize, usize)], child_of: &[usize]) {
        // What each pair's companions show is found on every core; the sums are taken in pair
        // order, so that they do not depend on the number of cores.
        let seen: Vec<Option<Seen>> = scored
            .par_iter()
            .map(|&(p, i, j)| p.is_finite().then(|| self.seen(i, j, child_of)))
            .collect();
        let mut same = [1.0f64; 3];
        let mut different = [1.0f64; 3];
        for (&(p, _, _), seen) in scored.iter().zip(seen) {
            if let Some(seen) = seen {
                same[seen as usize] += p;
                different[seen as usize] += 1.0 - p;
            }
        }
        let (total_same, total_different): (f64, f64) = (same.iter().sum(), different.iter().sum());
        for (w, (m, u)) in self.weights.iter_mut().zip(same.iter().zip(&different)) {
            *w = ((m / total_same) / (u / total_different)).ln();
        }
    }

    /// The log2 weight of each [`Seen`], for the debug log.
    pub(super) fn weights_log2(&self) -> [f64; 3] {
        self.weights.map(|w| w / std::f64::consts::LN_2)
    }
}
