//! Blocking: the candidate pairs worth comparing, from several keys so that a true pair is missed
//! only when almost nothing agrees. Pairs are never stored: blocks are walked in parallel, and a
//! pair two records share several blocks is visited in the first of them only.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use rustc_hash::FxHasher;

use super::compare::{prepare, stem, Prepared, ReferralRoles};
use crate::linkage::LinkRecord;

/// How records are blocked: the keys, and how blocks become pairs.
#[derive(Debug, Clone)]
pub struct BlockingPlan {
    /// The keys; a pair sharing several is formed by the first.
    pub keys: Vec<BlockingKey>,
    /// A block larger than this is skipped.
    pub max_block: usize,
    /// A block larger than this pairs each record only with its `window` neighbours in name order
    /// (sorted neighbourhood), so that pairs grow with the register, not with its square; 0 pairs
    /// every block whole.
    pub window: usize,
}

/// A field a blocking key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    /// Given name and surname stem, in either order (a swapped name still meets itself).
    Names,
    Given,
    /// The surname without a definite -i (Hasan / Hasani).
    Surname,
    Father,
    /// The first two letters of the given name and of the surname.
    Initials,
    /// The first letter of the given name (empty when there is none).
    GivenInitial,
    /// The given name and each spelling of it with one letter left out: two names a keystroke
    /// apart (a letter wrong, missing, added or two swapped) share one.
    GivenVariants,
    /// The surname stem and each spelling of it with one letter left out.
    SurnameVariants,
    /// The first letter of the surname (empty when there is none).
    SurnameInitial,
    /// Each year of birth the record allows (a full or partial date, or an age at the event).
    BirthYear,
    /// The full date of birth.
    BirthDate,
    Municipality,
    Region,
    PersonalNumber,
    Sex,
}

impl KeyField {
    const ALL: [(&'static str, KeyField); 15] = [
        ("names", KeyField::Names),
        ("given", KeyField::Given),
        ("surname", KeyField::Surname),
        ("father", KeyField::Father),
        ("initials", KeyField::Initials),
        ("given_initial", KeyField::GivenInitial),
        ("given_variants", KeyField::GivenVariants),
        ("surname_variants", KeyField::SurnameVariants),
        ("surname_initial", KeyField::SurnameInitial),
        ("birth_year", KeyField::BirthYear),
        ("birth_date", KeyField::BirthDate),
        ("municipality", KeyField::Municipality),
        ("region", KeyField::Region),
        ("personal_number", KeyField::PersonalNumber),
        ("sex", KeyField::Sex),
    ];
}

/// A blocking key as written in `rules/linkage.toml`: fields joined by `+`, e.g.
/// `"surname + birth_year + given_initial"`. Records that agree on every field are compared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct BlockingKey {
    /// The key as written.
    pub name: String,
    pub fields: Vec<KeyField>,
}

impl TryFrom<String> for BlockingKey {
    type Error = String;

    fn try_from(name: String) -> Result<BlockingKey, String> {
        let fields = name
            .split('+')
            .map(|field| {
                let field = field.trim();
                KeyField::ALL
                    .iter()
                    .find(|(known, _)| *known == field)
                    .map(|&(_, f)| f)
                    .ok_or_else(|| {
                        let known: Vec<&str> = KeyField::ALL.iter().map(|(n, _)| *n).collect();
                        format!(
                            "unknown field `{field}` in blocking key `{name}` (known: {})",
                            known.join(", ")
                        )
                    })
            })
            .collect::<Result<Vec<KeyField>, String>>()?;
        Ok(BlockingKey { name, fields })
    }
}

/// The keys regbridge blocks on unless `rules/linkage.toml` says otherwise.
pub fn default_keys() -> Vec<BlockingKey> {
    [
        "names + birth_year",
        "names + municipality",
        "names + father",
        "personal_number",
        "initials + birth_date",
        "given + birth_date",
        "father + birth_date",
        "given_variants + surname + birth_year",
        "given + surname_variants + birth_year",
        "given_variants + surname + municipality",
        "given + surname_variants + municipality",
        "given_variants + surname + father",
        "given + surname_variants + father",
        "initials + father + birth_year",
    ]
    .into_iter()
    .filter_map(|k| BlockingKey::try_from(k.to_string()).ok())
    .collect()
}

/// The most keys a plan may have (the key's index is stored in a byte).
pub const MAX_KEYS: usize = 255;

/// Where the key's index sits in a block's hash: its top byte.
const KIND_SHIFT: u32 = 56;

/// The blocks of a set of records: every key shared by two to `max_block` records.
#[derive(Debug, Clone)]
pub struct Blocks {
    /// The members of each block, block after block, in the order their pairs are formed.
    members: Vec<u32>,
    /// For each member that is in its block through a spelling variant of a name (one letter left
    /// out), the code of that name; 0 for members in through a name as written. Two members with one
    /// tag have the same name, so they meet in the block of the name as written (which is no larger,
    /// so kept whenever this one is): a variant's block does not pair them again.
    tags: Vec<u32>,
    /// Where each block starts in `members`, plus the end of the last.
    starts: Vec<usize>,
    /// The key of each block (an index into the plan's keys).
    kinds: Vec<u8>,
    /// For each record, the blocks it is in, in block order.
    memberships: Vec<Membership>,
    /// Where each record's memberships start, plus the end of the last.
    record_starts: Vec<usize>,
    window: usize,
    /// Keys skipped for being shared by more than `max_block` records.
    pub skipped: usize,
}

/// A record's place in a block.
#[derive(Debug, Clone, Copy, Default)]
struct Membership {
    block: u32,
    tag: u32,
    position: u32,
}

impl Blocks {
    /// Blocks `records` as a run would.
    pub fn new(records: &[LinkRecord], plan: &BlockingPlan) -> Blocks {
        Blocks::of(&prepare(records, &ReferralRoles::none()), plan)
    }

    /// Builds the blocks key by key (so that only one key's values are held at once).
    pub(super) fn of(records: &[Prepared<'_>], plan: &BlockingPlan) -> Blocks {
        let window_order: Vec<String> = if plan.window > 0 {
            records.par_iter().map(window_key).collect()
        } else {
            Vec::new()
        };
        let mut blocks = Blocks {
            members: Vec::new(),
            tags: Vec::new(),
            starts: vec![0],
            kinds: Vec::new(),
            memberships: Vec::new(),
            record_starts: Vec::new(),
            window: plan.window,
            skipped: 0,
        };
        // One set of buffers for every key's values: a key at a time is held, and its pages are
        // reused.
        let mut buffers = KeyedBuffers::default();
        for (index, key) in plan.keys.iter().enumerate().take(MAX_KEYS) {
            let started = std::time::Instant::now();
            // (value, tag, record) for every value of this key, sorted: each run of one value is a
            // block, its members grouped by tag.
            key_values_of_all(records, index, key, &mut buffers);
            let keyed = &mut buffers.all;
            let hashed = started.elapsed().as_millis();
            keyed.par_sort_unstable();
            let sorted = started.elapsed().as_millis();
            for block in keyed.chunk_by(|a, b| a.value() == b.value()) {
                blocks.push_block(block, index, plan, &window_order);
            }
            tracing::debug!(key = %key.name, values = keyed.len(), hashed_ms = hashed, sorted_ms = sorted, done_ms = started.elapsed().as_millis(), "blocked");
        }
        drop(buffers);
        let started = std::time::Instant::now();
        blocks.index_memberships(records.len());
        tracing::debug!(
            members = blocks.members.len(),
            blocks = blocks.len(),
            ms = started.elapsed().as_millis(),
            "memberships indexed"
        );
        blocks
    }

    /// Adds one block (its entries sorted by tag and record), unless it is too small or too large.
    fn push_block(
        &mut self,
        block: &[Keyed],
        index: usize,
        plan: &BlockingPlan,
        window_order: &[String],
    ) {
        if block.len() < 2 {
            return;
        }
        if block.len() > plan.max_block {
            self.skipped += 1;
            return;
        }
        // A spelling variant's block holding one name only pairs nothing (namesakes meet in the
        // block of the name as written): most variants' blocks are such.
        let tag = block[0].tag();
        if tag != 0 && block.iter().all(|k| k.tag() == tag) {
            return;
        }
        let first = self.members.len();
        if plan.window > 0 && block.len() > plan.window {
            let mut sorted = block.to_vec();
            let order = |k: &Keyed| window_order.get(k.record() as usize);
            sorted.sort_by(|x, y| order(x).cmp(&order(y)).then(x.record().cmp(&y.record())));
            self.members.extend(sorted.iter().map(|k| k.record()));
            self.tags.extend(sorted.iter().map(|k| k.tag()));
        } else {
            self.members.extend(block.iter().map(|k| k.record()));
            self.tags.extend(block.iter().map(|k| k.tag()));
        }
        debug_assert!(self.members.len() > first);
        self.starts.push(self.members.len());
        self.kinds.push(u8::try_from(index).unwrap_or(u8::MAX));
    }

    /// Fills `memberships` and `record_starts` from the blocks (a counting sort by record). The
    /// records are cut into one contiguous range per core, each filling its own part of
    /// `memberships`: every range sees the blocks in order, so the result is the same however many.
    fn index_memberships(&mut self, records: usize) {
        let mut counts = vec![0usize; records + 1];
        for &i in &self.members {
            counts[i as usize + 1] += 1;
        }
        for k in 1..counts.len() {
            counts[k] += counts[k - 1];
        }
        self.record_starts = counts;
        let mut memberships = vec![Membership::default(); self.members.len()];
        let ranges = balanced_ranges(&self.record_starts, rayon::current_num_threads().max(1));
        let mut parts: Vec<(std::ops::Range<usize>, &mut [Membership])> = Vec::new();
        let mut rest: &mut [Membership] = &mut memberships;
        for range in ranges {
            let length = self.record_starts[range.end] - self.record_starts[range.start];
            let (part, after) = std::mem::take(&mut rest).split_at_mut(length);
            parts.push((range, part));
            rest = after;
        }
        let this = &*self;
        parts
            .into_par_iter()
            .for_each(|(range, part)| this.fill_memberships(range, part));
        self.memberships = memberships;
    }

    /// The memberships of records `range`, in block order, into `part` (theirs, from the first).
    fn fill_memberships(&self, range: std::ops::Range<usize>, part: &mut [Membership]) {
        let base = self.record_starts[range.start];
        let mut next: Vec<usize> = self.record_starts[range.clone()]
            .iter()
            .map(|start| start - base)
            .collect();
        for b in 0..self.len() {
            let (first, end) = (self.starts[b], self.starts[b + 1]);
            for (position, (&i, &tag)) in self.members[first..end]
                .iter()
                .zip(&self.tags[first..end])
                .enumerate()
            {
                let Some(slot) = (i as usize)
                    .checked_sub(range.start)
                    .and_then(|k| next.get_mut(k))
                else {
                    continue;
                };
                if let Some(place) = part.get_mut(*slot) {
                    *place = Membership {
                        block: b as u32,
                        tag,
                        position: position as u32,
                    };
                }
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

    fn block(&self, b: usize) -> (&[u32], &[u32]) {
        let range = self.starts[b]..self.starts[b + 1];
        (&self.members[range.clone()], &self.tags[range])
    }

    fn of_record(&self, i: usize) -> &[Membership] {
        &self.memberships[self.record_starts[i]..self.record_starts[i + 1]]
    }

    /// Whether a block pairs two of its members (their places in it).
    fn pairs_members(&self, x: &Membership, y: &Membership) -> bool {
        let b = x.block as usize;
        let size = self.starts[b + 1] - self.starts[b];
        let windowed = self.window > 0 && size > self.window;
        let same_name = x.tag != 0 && x.tag == y.tag;
        !same_name && (!windowed || x.position.abs_diff(y.position) as usize <= self.window)
    }

    /// Every block that pairs records `i` and `j`, up to block `last`, in block order.
    fn pairing_blocks(&self, i: usize, j: usize, last: usize) -> impl Iterator<Item = usize> + '_ {
        let (mut a, mut b) = (self.of_record(i).iter(), self.of_record(j).iter());
        let (mut x, mut y) = (a.next(), b.next());
        std::iter::from_fn(move || {
            while let (Some(mx), Some(my)) = (x, y) {
                if mx.block as usize > last || my.block as usize > last {
                    return None;
                }
                if mx.block < my.block {
                    x = a.next();
                } else if my.block < mx.block {
                    y = b.next();
                } else {
                    let pairs = self.pairs_members(mx, my);
                    x = a.next();
                    y = b.next();
                    if pairs {
                        return Some(mx.block as usize);
                    }
                }
            }
            None
        })
    }

    /// Whether blocking makes `i` and `j` a candidate pair.
    pub fn covers(&self, i: usize, j: usize) -> bool {
        i != j && self.pairing_blocks(i, j, usize::MAX).next().is_some()
    }

    /// The keys (indexes into the plan) whose blocks pair records `i` and `j`, ascending.
    pub fn keys_pairing(&self, i: usize, j: usize) -> Vec<usize> {
        if i == j {
            return Vec::new();
        }
        let mut keys: Vec<usize> = self
            .pairing_blocks(i, j, usize::MAX)
            .map(|b| usize::from(self.kinds[b]))
            .collect();
        keys.dedup();
        keys
    }

    /// The pairs each key's blocks form on their own (a pair two keys share counts for both), by key
    /// index; `keys` is the number of keys in the plan.
    pub fn pairs_by_key(&self, keys: usize) -> Vec<u64> {
        let mut pairs = vec![0u64; keys];
        for b in 0..self.len() {
            let mut formed = 0u64;
            self.block_pairs(b, |_, _| formed += 1, false);
            if let Some(total) = pairs.get_mut(usize::from(self.kinds[b])) {
                *total += formed;
            }
        }
        pairs
    }

    /// Calls `visit(i, j)` (i < j) for each pair block `b` forms, or with `first_only`, for each
    /// pair it is the first to form. Members with one name tag are not paired (see `tags`); in a
    /// windowed block each member pairs with the next `window` only.
    fn block_pairs(&self, b: usize, mut visit: impl FnMut(usize, usize), first_only: bool) {
        let (members, tags) = self.block(b);
        let n = members.len();
        let reach = if self.window > 0 && n > self.window {
            self.window
        } else {
            n
        };
        let mut group_end = 0;
        for (a, (&i, &tag)) in members.iter().zip(tags).enumerate() {
            // Members are grouped by tag (outside windowed blocks): skip the rest of the group.
            if a >= group_end {
                group_end = a + 1;
                while group_end < n && tags[group_end] == tag {
                    group_end += 1;
                }
            }
            let from = if tag != 0 && reach == n {
                group_end
            } else {
                a + 1
            };
            let until = (a + 1 + reach).min(n);
            for c in from..until {
                let (j, other) = (members[c], tags[c]);
                if tag != 0 && tag == other {
                    continue;
                }
                let (i, j) = (i.min(j) as usize, i.max(j) as usize);
                if !first_only || self.pairing_blocks(i, j, b).next() == Some(b) {
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
        // Pieces of about equal work, a few per core, so that no core is left comparing alone at
        // the end: blocks of one key sit together and differ in size by orders of magnitude, so
        // equal numbers of blocks are far from equal work. Few pieces, as an accumulator may be
        // large (a table of every comparison pattern).
        let pieces = PIECES_PER_CORE * rayon::current_num_threads().max(1);
        balanced_ranges(&self.work_before(), pieces)
            .into_par_iter()
            .fold(init, |mut acc, blocks| {
                for b in blocks {
                    let kind = usize::from(self.kinds[b]);
                    self.block_pairs(b, |i, j| visit(&mut acc, kind, i, j), true);
                }
                acc
            })
            .collect()
    }

    /// The work of the blocks before each block and of all (one more than the blocks): a block
    /// costs one step per member and one per pair it can form.
    fn work_before(&self) -> Vec<usize> {
        let mut before = Vec::with_capacity(self.len() + 1);
        let mut total = 0usize;
        before.push(total);
        for b in 0..self.len() {
            let n = self.starts[b + 1] - self.starts[b];
            let reach = if self.window > 0 && n > self.window {
                self.window
            } else {
                n
            };
            total = total.saturating_add(n.saturating_mul(reach.div_ceil(2).max(1)));
            before.push(total);
        }
        before
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

/// Pieces of work per core when candidate pairs are visited on all cores.
const PIECES_PER_CORE: usize = 16;

/// `parts` contiguous ranges of items (records, blocks) covering them all, each holding about as
/// many entries, given where each item's entries start (`starts`, one more than the items).
pub(super) fn balanced_ranges(starts: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let records = starts.len().saturating_sub(1);
    let total = starts.last().copied().unwrap_or(0);
    let mut ranges = Vec::with_capacity(parts);
    let mut from = 0;
    for part in 1..parts {
        let goal = total * part / parts;
        let to = starts.partition_point(|&s| s < goal).clamp(from, records);
        ranges.push(from..to);
        from = to;
    }
    ranges.push(from..records);
    ranges
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
    let year = r.birth_years().map_or(0, |(from, _)| from);
    format!("{a}|{b}|{}|{year}", r.father_key)
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(at, _)| &s[..at])
}

/// The first character of `s`.
fn initial(s: &str) -> &str {
    prefix(s, 1)
}

/// A key value being hashed, and whether a spelling variant (not a name as written) went into it.
type Partial = (FxHasher, bool);

/// A record's value of a key with its name tag, packed into one number (value, then tag, then
/// record, from the high bits) so that sorting a key's values compares one `u128` instead of a
/// tuple: the order is the tuple's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Keyed(u128);

impl Keyed {
    fn new(value: u64, tag: u32, record: u32) -> Keyed {
        Keyed(u128::from(value) << 64 | u128::from(tag) << 32 | u128::from(record))
    }

    fn value(self) -> u64 {
        (self.0 >> 64) as u64
    }

    fn tag(self) -> u32 {
        (self.0 >> 32) as u32
    }

    fn record(self) -> u32 {
        self.0 as u32
    }
}

/// Records in a piece of the work of [`key_values_of_all`].
const KEYED_CHUNK: usize = 4096;

/// Every record's values of key number `index` as (value, tag, record), in record order, into
/// `buffers.all` (each chunk of records' values first into its own of `buffers.pieces`).
fn key_values_of_all(
    records: &[Prepared<'_>],
    index: usize,
    key: &BlockingKey,
    buffers: &mut KeyedBuffers,
) {
    let KeyedBuffers { pieces, all } = buffers;
    pieces.resize_with(records.len().div_ceil(KEYED_CHUNK), Vec::new);
    pieces
        .par_iter_mut()
        .zip(records.par_chunks(KEYED_CHUNK))
        .enumerate()
        .for_each_init(KeyScratch::default, |scratch, (piece, (values, chunk))| {
            values.clear();
            for (k, p) in chunk.iter().enumerate() {
                let i = u32::try_from(piece * KEYED_CHUNK + k).unwrap_or(u32::MAX);
                key_values_into(p, index, key, scratch);
                values.extend(
                    scratch
                        .values
                        .iter()
                        .map(|&(value, tag)| Keyed::new(value, tag, i)),
                );
            }
        });
    // Every slot is overwritten below: only a buffer that grows is filled first.
    all.resize(pieces.iter().map(Vec::len).sum(), Keyed(0));
    // Each piece copied into its place on every core.
    let mut places: Vec<&mut [Keyed]> = Vec::with_capacity(pieces.len());
    let mut rest = all.as_mut_slice();
    for piece in pieces.iter() {
        let (place, after) = std::mem::take(&mut rest).split_at_mut(piece.len());
        places.push(place);
        rest = after;
    }
    places
        .into_par_iter()
        .zip(pieces.par_iter())
        .for_each(|(place, piece)| place.copy_from_slice(piece));
}

/// Buffers kept from key to key while blocking, so that each key's values are written into memory
/// the previous key's used rather than into fresh pages: each chunk of records' values, and a
/// key's values all together (sorted in place).
#[derive(Default)]
struct KeyedBuffers {
    pieces: Vec<Vec<Keyed>>,
    all: Vec<Keyed>,
}

/// Buffers reused from record to record while their key values are worked out.
#[derive(Default)]
struct KeyScratch {
    partials: Vec<Partial>,
    expanded: Vec<Partial>,
    hashes: Vec<u64>,
    /// The record's values of the key, with their tags.
    values: Vec<(u64, u32)>,
}

/// The values of `field` for record `p`, each hashed into a copy of every partial value in
/// `scratch.partials` (a field with several values, such as the years of birth an age allows,
/// multiplies the values). Empties the partial values if the record lacks the field.
fn hash_field(field: KeyField, p: &Prepared<'_>, scratch: &mut KeyScratch) {
    let r = p.record;
    let (given, surname) = (r.given_key.as_str(), p.surname_stem);
    let KeyScratch {
        partials,
        expanded,
        hashes,
        ..
    } = scratch;
    let mut one = |value: &dyn Fn(&mut FxHasher), present: bool| {
        if !present {
            partials.clear();
        }
        for (h, _) in partials.iter_mut() {
            value(h);
        }
    };
    match field {
        KeyField::Names => {
            // Each name without a definite -i, so that a surname written in the given-name column
            // still meets its stem.
            let given_stem = stem(given);
            let pair = if given_stem <= surname {
                (given_stem, surname)
            } else {
                (surname, given_stem)
            };
            one(&|h| pair.hash(h), !given.is_empty() && !surname.is_empty());
        }
        KeyField::Given => one(&|h| given.hash(h), !given.is_empty()),
        KeyField::Surname => one(&|h| surname.hash(h), !surname.is_empty()),
        KeyField::Father => one(&|h| r.father_key.hash(h), !r.father_key.is_empty()),
        KeyField::Initials => {
            let initials = (prefix(given, 2), prefix(surname, 2));
            one(
                &|h| initials.hash(h),
                !given.is_empty() && !surname.is_empty(),
            );
        }
        KeyField::GivenInitial => one(&|h| initial(given).hash(h), true),
        KeyField::SurnameInitial => one(&|h| initial(surname).hash(h), true),
        KeyField::GivenVariants => {
            deletions(given, hashes);
            expand(partials, expanded, hashes.iter(), true);
        }
        KeyField::SurnameVariants => {
            deletions(surname, hashes);
            expand(partials, expanded, hashes.iter(), true);
        }
        KeyField::BirthYear => match r.birth_years() {
            Some((from, to)) => expand(partials, expanded, from..=to, false),
            None => partials.clear(),
        },
        KeyField::BirthDate => one(&|h| r.birth_date.hash(h), r.birth_date.is_some()),
        KeyField::Municipality => optional(&r.municipality, partials),
        KeyField::Region => optional(&r.region, partials),
        KeyField::PersonalNumber => optional(&r.personal_number, partials),
        KeyField::Sex => optional(&r.sex, partials),
    }
}

/// Hashes an optional text into every partial value, or empties them when it is missing.
fn optional(value: &Option<String>, partials: &mut Vec<Partial>) {
    match value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => partials.iter_mut().for_each(|(h, _)| v.hash(h)),
        None => partials.clear(),
    }
}

/// Replaces each partial value by one copy per value, the value hashed in (none when there are no
/// values). With `variants`, every value but the first is a spelling variant.
fn expand<T: Hash>(
    partials: &mut Vec<Partial>,
    expanded: &mut Vec<Partial>,
    values: impl Iterator<Item = T> + Clone,
    variants: bool,
) {
    expanded.clear();
    for (h, varied) in partials.iter() {
        for (k, v) in values.clone().enumerate() {
            let mut h = h.clone();
            v.hash(&mut h);
            expanded.push((h, *varied || (variants && k > 0)));
        }
    }
    std::mem::swap(partials, expanded);
}

/// Hashes of a name and of every spelling of it with one letter left out (none for an empty name),
/// into `hashes`; letter by letter so that a shortened spelling hashes as the same name written so
/// would.
fn deletions(name: &str, hashes: &mut Vec<u64>) {
    hashes.clear();
    if name.is_empty() {
        return;
    }
    let hash = |skip: Option<usize>| {
        let mut h = FxHasher::default();
        for (k, c) in name.chars().enumerate() {
            if Some(k) != skip {
                h.write_u32(u32::from(c));
            }
        }
        h.finish()
    };
    hashes.push(hash(None));
    hashes.extend((0..name.chars().count()).map(|k| hash(Some(k))));
}

/// The values record `p` has for key number `index` of the plan, each once, with the record's name
/// tag for the key (see [`Blocks`]): a hash of the key's index and the values of its fields (one per
/// year of birth where the key has the year, one per spelling where it has variants). The index
/// sits in the top byte; two different values share the remaining 56 bits about once in 2^56 draws,
/// which would merely merge two blocks.
fn key_values_into(p: &Prepared<'_>, index: usize, key: &BlockingKey, scratch: &mut KeyScratch) {
    scratch.partials.clear();
    scratch.partials.push((FxHasher::default(), false));
    for &field in &key.fields {
        hash_field(field, p, scratch);
    }
    // A value made from a spelling variant is tagged with the name it varies, when only one field
    // of the key has variants.
    let mut varied = key.fields.iter().filter_map(|field| match field {
        KeyField::GivenVariants => Some(p.code.given),
        KeyField::SurnameVariants => Some(p.code.surname),
        _ => None,
    });
    let tag = match (varied.next(), varied.next()) {
        (Some(code), None) => code,
        _ => 0,
    };
    let kind = (index as u64) << KIND_SHIFT;
    let KeyScratch {
        partials, values, ..
    } = scratch;
    values.clear();
    values.extend(partials.iter().map(|(h, variant)| {
        let value = kind | (h.finish() >> (64 - KIND_SHIFT));
        (value, if *variant { tag } else { 0 })
    }));
    // One value per record: the name as written wins over a variant that happens to equal it.
    values.sort_unstable();
    values.dedup_by_key(|(value, _)| *value);
}

/// Every key value a record is blocked on (see [`key_values`]). A true pair is missed only if it
/// shares none of them.
#[cfg(test)]
pub(super) fn blocking_keys(p: &Prepared<'_>, keys: &[BlockingKey]) -> Vec<u64> {
    keys.iter()
        .enumerate()
        .flat_map(|(index, key)| {
            let mut scratch = KeyScratch::default();
            key_values_into(p, index, key, &mut scratch);
            scratch.values.into_iter().map(|(value, _)| value)
        })
        .collect()
}

#[cfg(test)]
mod keyed_tests {
    use super::Keyed;

    #[test]
    fn packed_values_sort_as_their_tuples_and_unpack_whole() {
        let tuples = [
            (u64::MAX, 0, 0),
            (7 << 56 | 5, 3, 9),
            (7 << 56 | 5, 0, u32::MAX),
            (7 << 56 | 5, 3, 2),
            (0, u32::MAX, 1),
            (1, 0, 0),
        ];
        let mut packed: Vec<Keyed> = tuples
            .iter()
            .map(|&(v, t, r)| Keyed::new(v, t, r))
            .collect();
        packed.sort_unstable();
        let mut sorted = tuples.to_vec();
        sorted.sort_unstable();
        let unpacked: Vec<(u64, u32, u32)> = packed
            .iter()
            .map(|k| (k.value(), k.tag(), k.record()))
            .collect();
        assert_eq!(unpacked, sorted);
    }
}
