//! Blocking: the candidate pairs worth comparing, from several keys so that a true pair is missed
//! only when almost nothing agrees. Pairs are never stored: blocks are walked in parallel, and a
//! pair two records share several blocks is visited in the first of them only.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use rustc_hash::FxHasher;

use super::compare::{prepare, stem, Prepared};
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

/// The kinds of blocking key, in the order a pair is attributed to them.
pub(super) const KINDS: [&str; 7] = [
    "names",
    "initials-year",
    "initials-place",
    "surname-year",
    "given-year",
    "given-father",
    "personal-number",
];

/// Where the kind sits in a key: its top byte.
const KIND_SHIFT: u32 = 56;

/// The blocks of a set of records: every key shared by two to `max_block` records.
#[derive(Debug, Clone)]
pub struct Blocks {
    /// The members of each block, block after block, in the order their pairs are formed.
    members: Vec<u32>,
    /// Where each block starts in `members`, plus the end of the last.
    starts: Vec<usize>,
    /// The kind of each block (an index into [`KINDS`]).
    kinds: Vec<u8>,
    /// For each record, the blocks it is in with its position there, in block order.
    memberships: Vec<(u32, u32)>,
    /// Where each record's memberships start, plus the end of the last.
    record_starts: Vec<usize>,
    window: usize,
    /// Keys skipped for being shared by more than `max_block` records.
    pub skipped: usize,
}

impl Blocks {
    /// Blocks `records` as a run would.
    pub fn new(records: &[LinkRecord], limits: BlockLimits) -> Blocks {
        Blocks::of(&prepare(records), limits)
    }

    pub(super) fn of(records: &[Prepared<'_>], limits: BlockLimits) -> Blocks {
        // (key, record) for every key of every record, sorted: each run of one key is a block.
        let mut keyed: Vec<(u64, u32)> = records
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, p)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                blocking_keys(p).into_iter().map(move |key| (key, i))
            })
            .collect();
        keyed.par_sort_unstable();
        let window_order: Vec<String> = if limits.window > 0 {
            records.par_iter().map(window_key).collect()
        } else {
            Vec::new()
        };
        let mut blocks = Blocks {
            members: Vec::new(),
            starts: vec![0],
            kinds: Vec::new(),
            memberships: Vec::new(),
            record_starts: Vec::new(),
            window: limits.window,
            skipped: 0,
        };
        for block in keyed.chunk_by(|a, b| a.0 == b.0) {
            if block.len() < 2 {
                continue;
            }
            if block.len() > limits.max_block {
                blocks.skipped += 1;
                continue;
            }
            let first = blocks.members.len();
            blocks.members.extend(block.iter().map(|&(_, i)| i));
            if limits.window > 0 && block.len() > limits.window {
                let order = |&i: &u32| window_order.get(i as usize);
                blocks.members[first..].sort_by(|x, y| order(x).cmp(&order(y)).then(x.cmp(y)));
            }
            blocks.starts.push(blocks.members.len());
            blocks.kinds.push((block[0].0 >> KIND_SHIFT) as u8);
        }
        blocks.index_memberships(records.len());
        blocks
    }

    /// Fills `memberships` and `record_starts` from the blocks (a counting sort by record).
    fn index_memberships(&mut self, records: usize) {
        let mut counts = vec![0usize; records + 1];
        for &i in &self.members {
            counts[i as usize + 1] += 1;
        }
        for k in 1..counts.len() {
            counts[k] += counts[k - 1];
        }
        self.record_starts = counts.clone();
        let mut next = counts;
        self.memberships = vec![(0, 0); self.members.len()];
        for b in 0..self.len() {
            let first = self.starts[b];
            for (position, &i) in self.members[first..self.starts[b + 1]].iter().enumerate() {
                let slot = &mut next[i as usize];
                self.memberships[*slot] = (b as u32, position as u32);
                *slot += 1;
            }
        }
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    fn block(&self, b: usize) -> &[u32] {
        &self.members[self.starts[b]..self.starts[b + 1]]
    }

    fn of_record(&self, i: usize) -> &[(u32, u32)] {
        &self.memberships[self.record_starts[i]..self.record_starts[i + 1]]
    }

    /// Whether block `b` pairs the members at these two positions.
    fn pairs_positions(&self, b: usize, x: u32, y: u32) -> bool {
        let size = self.starts[b + 1] - self.starts[b];
        self.window == 0 || size <= self.window || x.abs_diff(y) as usize <= self.window
    }

    /// The first block that pairs records `i` and `j`, if any.
    fn first_pairing(&self, i: usize, j: usize, before: usize) -> Option<usize> {
        let (mut a, mut b) = (self.of_record(i).iter(), self.of_record(j).iter());
        let (mut x, mut y) = (a.next(), b.next());
        while let (Some(&(bx, px)), Some(&(by, py))) = (x, y) {
            if bx as usize > before || by as usize > before {
                return None;
            }
            if bx < by {
                x = a.next();
            } else if by < bx {
                y = b.next();
            } else {
                if self.pairs_positions(bx as usize, px, py) {
                    return Some(bx as usize);
                }
                x = a.next();
                y = b.next();
            }
        }
        None
    }

    /// Whether blocking makes `i` and `j` a candidate pair.
    pub fn covers(&self, i: usize, j: usize) -> bool {
        i != j && self.first_pairing(i, j, usize::MAX).is_some()
    }

    /// Calls `visit(i, j)` (i < j) for each pair block `b` is the first to form.
    fn block_pairs(&self, b: usize, mut visit: impl FnMut(usize, usize)) {
        let members = self.block(b);
        let reach = if self.window > 0 && members.len() > self.window {
            self.window
        } else {
            members.len()
        };
        for (a, &i) in members.iter().enumerate() {
            for &j in members.iter().skip(a + 1).take(reach) {
                let (i, j) = (i.min(j) as usize, i.max(j) as usize);
                if self.first_pairing(i, j, b) == Some(b) {
                    visit(i, j);
                }
            }
        }
    }

    /// Visits every candidate pair once, on both cores: each worker folds the pairs it meets into
    /// its own accumulator from `init`, and the accumulators are returned (in no fixed order, so
    /// what they hold must not depend on it).
    pub(super) fn fold_pairs<T, I, F>(&self, init: I, visit: F) -> Vec<T>
    where
        T: Send,
        I: Fn() -> T + Sync + Send,
        F: Fn(&mut T, usize, usize, usize) + Sync + Send,
    {
        (0..self.len())
            .into_par_iter()
            .fold(init, |mut acc, b| {
                let kind = usize::from(self.kinds[b]);
                self.block_pairs(b, |i, j| visit(&mut acc, kind, i, j));
                acc
            })
            .collect()
    }

    /// The number of candidate pairs.
    pub fn count_pairs(&self) -> u64 {
        self.fold_pairs(|| 0u64, |n, _, _, _| *n += 1)
            .into_iter()
            .sum()
    }

    /// Every candidate pair, sorted (for tests and small registers: a large one has too many).
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let mut pairs: Vec<(usize, usize)> = self
            .fold_pairs(Vec::new, |v, _, i, j| v.push((i, j)))
            .into_iter()
            .flatten()
            .collect();
        pairs.sort_unstable();
        pairs
    }
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

/// A key of `kind` made of `parts`: the kind in the top byte, a hash of the parts below. Two
/// different keys share a hash about once in 2^56 draws, which would merely merge two blocks.
fn key(kind: usize, parts: impl Hash) -> u64 {
    let mut hasher = FxHasher::default();
    parts.hash(&mut hasher);
    ((kind as u64) << KIND_SHIFT) | (hasher.finish() >> (64 - KIND_SHIFT))
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(at, _)| &s[..at])
}

/// The first character of `s`.
fn initial(s: &str) -> &str {
    prefix(s, 1)
}

/// The keys a record is blocked on, each once. A true pair is missed only if it shares none of them.
pub(super) fn blocking_keys(p: &Prepared<'_>) -> Vec<u64> {
    let r = p.record;
    let (given, surname) = (r.given_key.as_str(), p.surname_stem);
    let mut keys = Vec::with_capacity(10);
    if !given.is_empty() && !surname.is_empty() {
        // Both orders of given name and surname land in one block (each without a definite -i, so
        // that a surname written in the given-name column still meets its stem).
        let given_stem = stem(given);
        let (a, b) = if given_stem <= surname {
            (given_stem, surname)
        } else {
            (surname, given_stem)
        };
        keys.push(key(0, (a, b)));
        // Typos in both names: the first letters, with the birth year or else the municipality.
        let initials = (prefix(given, 2), prefix(surname, 2));
        if let Some((from, to)) = r.birth_years {
            for year in from..=to {
                keys.push(key(1, (initials, year)));
            }
        }
        if let Some(municipality) = &r.municipality {
            keys.push(key(2, (initials, municipality)));
        }
    }
    // One name exact, the other's initial, and a possible birth year: catches a typo in the other name
    // without pairing every Krasniqi born in 2012 with every other.
    if let Some((from, to)) = r.birth_years {
        for year in from..=to {
            if !surname.is_empty() {
                keys.push(key(3, (surname, year, initial(given))));
            }
            if !given.is_empty() {
                keys.push(key(4, (given, year, initial(surname))));
            }
        }
    }
    if !given.is_empty() && !r.father_key.is_empty() {
        keys.push(key(5, (given, r.father_key.as_str())));
    }
    if let Some(number) = &r.personal_number {
        keys.push(key(6, number));
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}
