//! Blocking: the candidate pairs worth comparing, from several keys so that a true pair is missed
//! only when almost nothing agrees.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::compare::{stem, Prepared};
use crate::linkage::LinkRecord;

/// How blocks become pairs.
#[derive(Debug, Clone, Copy)]
pub struct BlockLimits {
    /// A block larger than this is skipped.
    pub max_block: usize,
    /// A block larger than this pairs each record only with its `window` neighbours in name order
    /// (sorted neighbourhood), so that pairs grow with the register, not with its square; 0 pairs
    /// every block whole.
    pub window: usize,
}

/// The candidate pairs blocking yields for these records (for `eval`'s blocking recall).
pub fn blocking_pairs(records: &[LinkRecord], limits: BlockLimits) -> Vec<(usize, usize)> {
    let prepared: Vec<Prepared<'_>> = records.iter().map(Prepared::new).collect();
    candidate_pairs(&prepared, limits).0
}

/// The order records take inside a large block: both names (in either column), then the father's
/// name and the birth year, so that spellings of one child sit side by side.
fn window_key(p: &Prepared<'_>) -> String {
    let r = p.record;
    let (a, b) = if r.given_key <= r.surname_key {
        (&r.given_key, &r.surname_key)
    } else {
        (&r.surname_key, &r.given_key)
    };
    let year = r.birth_years.map_or(0, |(from, _)| from);
    format!("{a}|{b}|{}|{year}", r.father_key)
}

/// Candidate pairs from every blocking key, deduplicated and sorted.
pub(super) fn candidate_pairs(
    records: &[Prepared<'_>],
    limits: BlockLimits,
) -> (Vec<(usize, usize)>, usize) {
    let max_block = limits.max_block;
    let window = limits.window;
    let order: Vec<String> = if window > 0 {
        records.par_iter().map(window_key).collect()
    } else {
        Vec::new()
    };
    // (key, record) for every key of every record, sorted: each run of one key is a block.
    let mut keyed: Vec<(String, usize)> = records
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, p)| blocking_keys(p).into_iter().map(move |key| (key, i)))
        .collect();
    keyed.par_sort_unstable();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut skipped = 0;
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for block in keyed.chunk_by(|a, b| a.0 == b.0) {
        if block.len() > max_block {
            skipped += 1;
            continue;
        }
        let kind = block[0].0.split(':').next().unwrap_or_default();
        let before = pairs.len();
        if window > 0 && block.len() > window {
            let mut members: Vec<usize> = block.iter().map(|&(_, i)| i).collect();
            members.sort_by(|&x, &y| order[x].cmp(&order[y]).then(x.cmp(&y)));
            for (a, &i) in members.iter().enumerate() {
                for &j in members.iter().skip(a + 1).take(window) {
                    if i != j {
                        pairs.push((i.min(j), i.max(j)));
                    }
                }
            }
        } else {
            for (a, &(_, i)) in block.iter().enumerate() {
                for &(_, j) in &block[a + 1..] {
                    if i != j {
                        pairs.push((i.min(j), i.max(j)));
                    }
                }
            }
        }
        *per_kind.entry(kind).or_insert(0) += pairs.len() - before;
    }
    for (kind, n) in per_kind {
        tracing::debug!(key = kind, pairs = n, "candidate pairs by blocking key");
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    (pairs, skipped)
}

/// The keys a record is blocked on. A true pair is missed only if it shares none of them.
pub(super) fn blocking_keys(p: &Prepared<'_>) -> Vec<String> {
    let r = p.record;
    let (given, surname) = (r.given_key.as_str(), p.surname_stem);
    let mut keys = Vec::new();
    if !given.is_empty() && !surname.is_empty() {
        // Both orders of given name and surname land in one block (each without a definite -i, so
        // that a surname written in the given-name column still meets its stem).
        let given_stem = stem(given);
        let (a, b) = if given_stem <= surname {
            (given_stem, surname)
        } else {
            (surname, given_stem)
        };
        keys.push(format!("names:{a}|{b}"));
        // Typos in both names: the first letters, with the birth year or else the municipality.
        let prefix = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let initials = format!("{}|{}", prefix(given, 2), prefix(surname, 2));
        if let Some((from, to)) = r.birth_years {
            for year in from..=to {
                keys.push(format!("initials-year:{initials}|{year}"));
            }
        }
        if let Some(municipality) = &r.municipality {
            keys.push(format!("initials-place:{initials}|{municipality}"));
        }
    }
    // One name exact, the other's initial, and a possible birth year: catches a typo in the other name
    // without pairing every Krasniqi born in 2012 with every other.
    let initial = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    if let Some((from, to)) = r.birth_years {
        for year in from..=to {
            if !surname.is_empty() {
                keys.push(format!("surname-year:{surname}|{year}|{}", initial(given)));
            }
            if !given.is_empty() {
                keys.push(format!("given-year:{given}|{year}|{}", initial(surname)));
            }
        }
    }
    if !given.is_empty() && !r.father_key.is_empty() {
        keys.push(format!("given-father:{given}|{}", r.father_key));
    }
    if let Some(number) = &r.personal_number {
        keys.push(format!("personal-number:{number}"));
    }
    if !r.record_id.is_empty() {
        keys.push(format!("record:{}\u{1f}{}", r.source, r.record_id));
    }
    keys
}
