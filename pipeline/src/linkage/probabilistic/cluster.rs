//! Clustering of linked pairs into children, refusing joins that would put two children together.

use std::collections::BTreeSet;

use rustc_hash::FxHashSet;

use super::compare::{birth_level, name_level, Prepared, NONE, NULL};
use super::ProbabilisticSettings;
use crate::linkage::{DisjointSets, LinkRecord, ReviewDecisions};
use crate::repeats::repeats;

/// Joins the clusters rooted at `ri` and `rj`, keeping the member lists with the new root.
pub(super) fn join(sets: &mut DisjointSets, members: &mut [Vec<usize>], ri: usize, rj: usize) {
    sets.union(ri, rj);
    let root = sets.find(ri);
    let other = if root == ri { rj } else { ri };
    let moved = std::mem::take(&mut members[other]);
    members[root].extend(moved);
}

/// A reviewer decided some record of one cluster and some record of the other are different children.
pub(super) fn separated(a: &[usize], b: &[usize], cannot: &BTreeSet<(usize, usize)>) -> bool {
    !cannot.is_empty()
        && a.iter()
            .any(|&i| b.iter().any(|&j| cannot.contains(&(i.min(j), i.max(j)))))
}

/// Two clusters contradict when joining them would put together records with different personal
/// numbers of one kind; a boy and a girl with different given names; two records that both carry a
/// full date of birth yet clearly different given names (not the same, not a typo apart, not the
/// same names in swapped order: twins share everything but the given name); two records whose
/// dates of birth cannot be the same child's (two full dates not a typo apart, or windows of dates
/// of birth more than a year apart); or two records with clearly different fathers (children with
/// the same common name). Merging two
/// children is the costly error, so such a join is refused even when a third record seems to bridge them.
pub(super) fn contradict(
    a: &[usize],
    b: &[usize],
    records: &[Prepared<'_>],
    s: &ProbabilisticSettings,
) -> bool {
    a.iter()
        .any(|&i| b.iter().any(|&j| two_children(&records[i], &records[j], s)))
}

/// Whether two records cannot be one child (see [`contradict`]). The cheap checks come first, and
/// names are compared as strings only when their codes differ: most pairs a clustering checks carry
/// the same names.
fn two_children(x: &Prepared<'_>, y: &Prepared<'_>, s: &ProbabilisticSettings) -> bool {
    let (rx, ry) = (x.record, y.record);
    let (cx, cy) = (&x.code, &y.code);
    let known = |a: u32, b: u32| a != NONE && b != NONE;
    // A Kosovo number and a Serbian JMBG of one child differ without contradicting.
    let numbers = known(cx.personal_number, cy.personal_number);
    let same_number = numbers && cx.personal_number == cy.personal_number;
    let other_number = numbers
        && !same_number
        && rx.personal_number.as_ref().map(String::len)
            == ry.personal_number.as_ref().map(String::len);
    // Boy and girl twins: Arben / Arbena are close names but not the same child.
    let other_sex = known(cx.sex, cy.sex) && cx.sex != cy.sex && cx.given != cy.given;
    if same_number {
        return other_sex;
    }
    if other_number || other_sex {
        return true;
    }
    // Same common name, but born in clearly different years, or of clearly different fathers.
    // Two real (not estimated) dates of birth that are not a typo apart: two children.
    let both_born = rx.birth_date.is_some() && ry.birth_date.is_some();
    let other_years = match birth_level(rx, ry) {
        NULL => false,
        level => level == 0 || (both_born && level <= 2),
    };
    if other_years {
        return true;
    }
    if known(cx.father, cy.father)
        && cx.father != cy.father
        && name_level(&rx.father_key, &ry.father_key, s) == 0
    {
        return true;
    }
    // Two dates of birth and clearly different given names (not the same, not a typo apart, not the
    // same names in swapped order): twins share everything but the given name.
    if both_born && known(cx.given, cy.given) && cx.given != cy.given {
        let close = |level: u8| level != NULL && level >= 2;
        let same_given = close(name_level(&rx.given_key, &ry.given_key, s));
        let swapped = || {
            close(name_level(&rx.given_key, y.surname_stem, s))
                && close(name_level(x.surname_stem, &ry.given_key, s))
        };
        return !same_given && !swapped();
    }
    false
}

/// Linked pairs grouped into children, with what the grouping did.
pub(super) struct Clustering {
    pub(super) clusters: Vec<Vec<usize>>,
    /// Joins made (forced and scored).
    pub(super) linked: usize,
    /// Pairs between the review and the link probability.
    pub(super) review_band: usize,
    /// Joins refused because the two clusters contradict, a reviewer separated them, or the join
    /// would give a child two records of one institution that were never a likely pair.
    pub(super) refused: usize,
    /// Uncertain pairs left in different clusters that no one has decided yet, most likely first.
    pub(super) review_queue: Vec<(usize, usize, f64)>,
}

/// The pairs of records of one institution that could be one child recorded again: an institution
/// records a child once, seldom twice, so a join that would give a child two records of one
/// institution is refused unless the two were themselves a likely pair (probability 0.05 or more),
/// however strongly a third record of another institution links them.
struct RecordedAgain {
    pairs: FxHashSet<(u32, u32)>,
}

/// The probability from which two records of one institution may be one child recorded again.
const RECORDED_AGAIN_FROM: f64 = 0.05;

impl RecordedAgain {
    fn new(prepared: &[Prepared<'_>], scored: &[(f64, usize, usize)]) -> RecordedAgain {
        let institution = |i: usize| prepared.get(i).map(|p| p.code.source);
        let pairs = scored
            .iter()
            .filter(|&&(p, i, j)| p >= RECORDED_AGAIN_FROM && institution(i) == institution(j))
            .filter_map(|&(_, i, j)| {
                Some((u32::try_from(i.min(j)).ok()?, u32::try_from(i.max(j)).ok()?))
            })
            .collect();
        RecordedAgain { pairs }
    }

    /// Whether joining clusters `a` and `b` would give a child two records of one institution that
    /// were not a likely pair.
    fn unlikely(&self, a: &[usize], b: &[usize], prepared: &[Prepared<'_>]) -> bool {
        let likely = |x: usize, y: usize| match (u32::try_from(x.min(y)), u32::try_from(x.max(y))) {
            (Ok(lo), Ok(hi)) => self.pairs.contains(&(lo, hi)),
            _ => false,
        };
        a.iter().any(|&x| {
            b.iter().any(|&y| {
                prepared.get(x).map(|p| p.code.source) == prepared.get(y).map(|p| p.code.source)
                    && !likely(x, y)
            })
        })
    }
}

/// Records sent twice (one source, one record id): each later copy with the first, in the order of
/// the copies.
pub(super) fn same_record_pairs(records: &[LinkRecord]) -> Vec<(usize, usize)> {
    repeats(records.len(), |i| {
        let r = &records[i];
        (!r.record_id.is_empty()).then_some((r.source.as_str(), r.record_id.as_str()))
    })
}

/// Groups records into children: records sent twice and reviewer "same child" decisions first, then
/// scored pairs from the strongest down, each join checked for contradictions, for reviewer
/// "different children" decisions and for a second, unlikely record of one institution (see
/// [`RecordedAgain`]; reviewer decisions are not checked for it). `scored` must be sorted strongest
/// first.
pub(super) fn cluster(
    records: &[LinkRecord],
    prepared: &[Prepared<'_>],
    scored: &[(f64, usize, usize)],
    decisions: &ReviewDecisions,
    s: &ProbabilisticSettings,
) -> Clustering {
    let n = records.len();
    let mut sets = DisjointSets::new(n);
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let (mut linked, mut review_band, mut refused) = (0, 0, 0);
    let (must, cannot) = decisions.resolve(records);
    let cannot: BTreeSet<(usize, usize)> = cannot.into_iter().collect();
    let decided: BTreeSet<(usize, usize)> =
        must.iter().copied().chain(cannot.iter().copied()).collect();
    // The same record sent twice (same source and record id) is one child, whatever it says now;
    // so are two records a reviewer decided are the same child.
    let same_record = same_record_pairs(records);
    let forced: Vec<(usize, usize)> = same_record
        .into_iter()
        .chain(must.iter().copied())
        .collect();
    for (i, j) in forced {
        let (ri, rj) = (sets.find(i), sets.find(j));
        if ri != rj {
            join(&mut sets, &mut members, ri, rj);
            linked += 1;
        }
    }
    let repeated = RecordedAgain::new(prepared, scored);
    for &(p, i, j) in scored {
        if p.is_nan() || p < s.link_probability {
            if p >= s.review_probability {
                review_band += 1;
            }
            continue;
        }
        let (ri, rj) = (sets.find(i), sets.find(j));
        if ri == rj {
            continue;
        }
        if contradict(&members[ri], &members[rj], prepared, s)
            || separated(&members[ri], &members[rj], &cannot)
            || repeated.unlikely(&members[ri], &members[rj], prepared)
        {
            refused += 1;
            continue;
        }
        join(&mut sets, &mut members, ri, rj);
        linked += 1;
    }
    let review_queue: Vec<(usize, usize, f64)> = scored
        .iter()
        .filter(|(p, i, j)| {
            *p >= s.review_probability
                && *p < s.link_probability
                && !decided.contains(&(*i, *j))
                && sets.find(*i) != sets.find(*j)
        })
        .map(|&(p, i, j)| (i, j, p))
        .collect();
    Clustering {
        clusters: sets.sets(),
        linked,
        review_band,
        refused,
        review_queue,
    }
}
