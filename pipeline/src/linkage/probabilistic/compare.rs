//! Comparison of two records: the levels of agreement per field (names, father's name, birth, sex,
//! place, personal number, event date, activity, community, source) that the model weighs.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::{ProbabilisticSettings, Referral};
use crate::linkage::LinkRecord;

/// Comparisons and their number of levels (level 0 = disagree; higher = closer agreement).
pub(super) const COMPARISONS: [(&str, usize); 11] = [
    ("given_name", 4),
    ("surname", 4),
    ("father_name", 3),
    ("birth", 7),
    ("sex", 2),
    ("place", 3),
    ("personal_number", 2),
    ("event_date", 5),
    ("activity", 2),
    ("community", 2),
    // How the two records' institutions relate: an institution records a child again far less
    // often than another institution meets the same child, and a referred child reaches the
    // receiving institution after the referring one met it (see [`source_level`]).
    ("source", 4),
];
pub(super) const K: usize = COMPARISONS.len();
/// A comparison that cannot be made (a value is missing on either side).
pub(super) const NULL: u8 = u8::MAX;

pub(super) type Gamma = [u8; K];

/// The number of distinct comparison vectors (each comparison's levels, and NULL).
pub(super) const PATTERNS: usize = {
    let mut n = 1;
    let mut k = 0;
    while k < K {
        n *= COMPARISONS[k].1 + 1;
        k += 1;
    }
    n
};
// Pattern indexes are counted as `u32`.
const _: () = assert!(PATTERNS <= u32::MAX as usize);

/// A comparison vector as an index below [`PATTERNS`] (NULL counts as level 0, level l as l + 1).
pub(super) fn pattern_index(gamma: &Gamma) -> usize {
    let mut index = 0;
    for (level, (_, levels)) in gamma.iter().zip(COMPARISONS) {
        let code = if *level == NULL {
            0
        } else {
            usize::from(*level) + 1
        };
        index = index * (levels + 1) + code.min(levels);
    }
    index
}

/// The comparison vector of an index from [`pattern_index`].
pub(super) fn pattern_of(mut index: usize) -> Gamma {
    let mut gamma = [NULL; K];
    for (level, (_, levels)) in gamma.iter_mut().zip(COMPARISONS).rev() {
        let code = index % (levels + 1);
        index /= levels + 1;
        *level = if code == 0 {
            NULL
        } else {
            u8::try_from(code - 1).unwrap_or(NULL)
        };
    }
    gamma
}

/// A record with its comparison keys computed once: names and categorical values as small integer
/// codes (equal codes, equal values), dates as numbers, so that comparing two records allocates
/// nothing and hashes no strings.
#[derive(Debug, Clone)]
pub(super) struct Prepared<'a> {
    pub(super) record: &'a LinkRecord,
    pub(super) surname_stem: &'a str,
    pub(super) code: Codes,
}

/// The codes of one record; [`NONE`] where a value is missing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Codes {
    pub(super) given: u32,
    pub(super) surname: u32,
    pub(super) father: u32,
    pub(super) sex: u32,
    pub(super) municipality: u32,
    pub(super) region: u32,
    pub(super) personal_number: u32,
    pub(super) activity: u32,
    pub(super) community: u32,
    pub(super) source: u32,
    /// The referrals (bits, by their place in the settings) whose referring institution is this
    /// record's source …
    pub(super) refers: u8,
    /// … and whose receiving institution it is.
    pub(super) referred: u8,
}

/// The code of a missing value.
pub(super) const NONE: u32 = 0;

/// Gives each distinct string a code, 1 upwards, in order of first appearance.
#[derive(Default)]
struct Codebook<'a> {
    codes: FxHashMap<&'a str, u32>,
}

impl<'a> Codebook<'a> {
    fn code(&mut self, value: &'a str) -> u32 {
        if value.is_empty() {
            return NONE;
        }
        let next = u32::try_from(self.codes.len() + 1).unwrap_or(u32::MAX);
        *self.codes.entry(value).or_insert(next)
    }

    fn optional(&mut self, value: &'a Option<String>) -> u32 {
        value.as_deref().map_or(NONE, |v| self.code(v))
    }
}

/// The referrals between institutions, and the institution of each source.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReferralRoles<'s> {
    pub(super) referrals: &'s [Referral],
    /// Source → institution; a source not listed is an institution of its own name.
    pub(super) institution_of: &'s BTreeMap<String, String>,
}

/// The most referrals the source comparison weighs (a record's roles are bits of a byte).
pub const MAX_REFERRALS: usize = 8;

/// No source lists an institution.
static NO_INSTITUTIONS: BTreeMap<String, String> = BTreeMap::new();

impl ReferralRoles<'_> {
    /// No referrals (for blocking, which does not compare).
    pub(super) fn none() -> ReferralRoles<'static> {
        ReferralRoles {
            referrals: &[],
            institution_of: &NO_INSTITUTIONS,
        }
    }

    /// The institution of `source` (the source's own name where none is listed).
    fn institution<'a>(&'a self, source: &'a str) -> &'a str {
        self.institution_of
            .get(source)
            .map_or(source, String::as_str)
    }

    /// The referral bits of records from `source`: (as the referring institution, as the
    /// receiving one). Only the first [`MAX_REFERRALS`] referrals count.
    fn bits(&self, source: &str) -> (u8, u8) {
        let institution = self.institution(source);
        let mut bits = (0u8, 0u8);
        for (k, referral) in self.referrals.iter().take(MAX_REFERRALS).enumerate() {
            if referral.from == institution {
                bits.0 |= 1 << k;
            }
            if referral.to == institution {
                bits.1 |= 1 << k;
            }
        }
        bits
    }
}

/// Prepares every record, coding all names (given, surname stem, father) in one codebook so that a
/// given name can be compared with a surname when the two are swapped.
pub(super) fn prepare<'a>(
    records: &'a [LinkRecord],
    referrals: &ReferralRoles<'_>,
) -> Vec<Prepared<'a>> {
    let mut names = Codebook::default();
    let mut sexes = Codebook::default();
    let mut places = Codebook::default();
    let mut regions = Codebook::default();
    let mut numbers = Codebook::default();
    let mut activities = Codebook::default();
    let mut communities = Codebook::default();
    let mut sources = Codebook::default();
    records
        .iter()
        .map(|record| {
            let surname_stem = stem(&record.surname_key);
            let (refers, referred) = referrals.bits(&record.source);
            let code = Codes {
                given: names.code(&record.given_key),
                surname: names.code(surname_stem),
                father: names.code(&record.father_key),
                sex: sexes.optional(&record.sex),
                municipality: places.optional(&record.municipality),
                region: regions.optional(&record.region),
                personal_number: numbers.optional(&record.personal_number),
                activity: activities.optional(&record.activity),
                community: communities.optional(&record.community),
                source: sources.code(referrals.institution(&record.source)),
                refers,
                referred,
            };
            Prepared {
                record,
                surname_stem,
                code,
            }
        })
        .collect()
}

/// Name comparison levels, remembered by the names' codes: a register compares the same two
/// spellings many times.
pub(super) struct NameLevels {
    settings: ProbabilisticSettings,
    memo: FxHashMap<(u32, u32), u8>,
}

impl NameLevels {
    pub(super) fn new(settings: &ProbabilisticSettings) -> NameLevels {
        NameLevels {
            settings: settings.clone(),
            memo: FxHashMap::default(),
        }
    }

    /// [`name_level`] of `a` and `b`, with their codes.
    pub(super) fn level(&mut self, (a, code_a): (&str, u32), (b, code_b): (&str, u32)) -> u8 {
        if code_a == NONE || code_b == NONE {
            return NULL;
        }
        if code_a == code_b {
            return 3;
        }
        let key = (code_a.min(code_b), code_a.max(code_b));
        let settings = &self.settings;
        *self
            .memo
            .entry(key)
            .or_insert_with(|| name_level(a, b, settings))
    }
}

/// Albanian surnames come with and without the definite -i (Hasan / Hasani).
pub(super) fn stem(surname: &str) -> &str {
    match surname.strip_suffix('i') {
        Some(s) if s.chars().count() >= 4 => s,
        _ => surname,
    }
}

pub(super) fn name_level(a: &str, b: &str, s: &ProbabilisticSettings) -> u8 {
    if a.is_empty() || b.is_empty() {
        return NULL;
    }
    if a == b {
        return 3;
    }
    let similarity = strsim::jaro_winkler(a, b);
    if similarity >= s.name_close {
        return 2;
    }
    // Jaro-Winkler is harsh on short names: Enis / Enia is one keystroke, yet 0.88.
    let shorter = a.chars().count().min(b.chars().count());
    let edits = strsim::osa_distance(a, b);
    if edits <= 1 && shorter >= 4 {
        2
    } else if similarity >= s.name_similar || (edits <= 2 && shorter >= 4) {
        1
    } else {
        0
    }
}

/// Birth comparison levels, weakest first:
/// 0 cannot be one child (more than a year between the dates of birth the two allow); 1 two full
/// dates a year apart; 2 two full dates in the same year but with another day and month; 3 within a
/// year where a side knows only a month, a year or an age (estimated ages are often a year off); 4
/// compatible where a side knows only a month, a year or an age (an age of 12 on the event day and a
/// date of birth that makes the child 12 that day); 5 two full dates a typo apart (same year and month, or day, or day and month swapped, or the
/// same day and month a year apart); 6 the same date.
pub(super) fn birth_level(a: &LinkRecord, b: &LinkRecord) -> u8 {
    use chrono::Datelike;
    if let (Some(x), Some(y)) = (a.birth_date, b.birth_date) {
        if x == y {
            return 6;
        }
        let swapped = x.day() == y.month() && x.month() == y.day();
        let year_typo =
            (x.year() - y.year()).abs() == 1 && x.month() == y.month() && x.day() == y.day();
        let same_year_close =
            x.year() == y.year() && (x.month() == y.month() || x.day() == y.day() || swapped);
        if year_typo || same_year_close {
            return 5;
        }
        return match (x.year() - y.year()).abs() {
            0 => 2,
            1 => 1,
            _ => 0,
        };
    }
    match (a.birth_window, b.birth_window) {
        (Some((a0, a1)), Some((b0, b1))) => {
            // The later window's start against the earlier window's end.
            let (end, start) = if a1 < b0 { (a1, b0) } else { (b1, a0) };
            if start <= end {
                4
            } else if end
                .checked_add_months(chrono::Months::new(12))
                .is_some_and(|year_on| start <= year_on)
            {
                3
            } else {
                0
            }
        }
        _ => NULL,
    }
}

/// The comparison vector of two records.
pub(super) fn compare(a: &Prepared<'_>, b: &Prepared<'_>, names: &mut NameLevels) -> Gamma {
    let (ra, rb) = (a.record, b.record);
    let (ca, cb) = (&a.code, &b.code);
    let given_a = (ra.given_key.as_str(), ca.given);
    let given_b = (rb.given_key.as_str(), cb.given);
    let surname_a = (a.surname_stem, ca.surname);
    let surname_b = (b.surname_stem, cb.surname);
    // Given name and surname may be swapped on one side: take the better reading.
    let straight = (
        names.level(given_a, given_b),
        names.level(surname_a, surname_b),
    );
    let swapped_possible = ca.given != cb.given || ca.surname != cb.surname;
    let swapped = if swapped_possible {
        (
            names.level(given_a, surname_b),
            names.level(surname_a, given_b),
        )
    } else {
        (NULL, NULL)
    };
    let total = |(g, n): (u8, u8)| u16::from(g.min(3)) + u16::from(n.min(3));
    let (given, surname) =
        if swapped.0 != NULL && swapped.1 != NULL && total(swapped) > total(straight) + 1 {
            swapped
        } else {
            straight
        };
    let same = |x: u32, y: u32| {
        if x == NONE || y == NONE {
            NULL
        } else {
            u8::from(x == y)
        }
    };
    let place = if ca.municipality != NONE && ca.municipality == cb.municipality {
        2
    } else {
        same(ca.region, cb.region)
    };
    let father = match names.level((&ra.father_key, ca.father), (&rb.father_key, cb.father)) {
        NULL => NULL,
        3 => 2,
        l if l >= 1 => 1,
        _ => 0,
    };
    [
        given,
        surname,
        father,
        birth_level(ra, rb),
        same(ca.sex, cb.sex),
        place,
        same(ca.personal_number, cb.personal_number),
        event_level(ra, rb),
        same(ca.activity, cb.activity),
        same(ca.community, cb.community),
        source_level(a, b),
    ]
}

/// How the two records' institutions relate: 0 two institutions, neither referring children to the
/// other (or an event date missing); 1 one institution (one source, or two sources of it); 2 a
/// referral the wrong way round (the receiving institution's record dated before the referring
/// one's); 3 a referral in order (the receiving institution's record dated on or after the
/// referring one's, or either way where each institution refers to the other).
pub(super) fn source_level(a: &Prepared<'_>, b: &Prepared<'_>) -> u8 {
    let (ca, cb) = (&a.code, &b.code);
    if ca.source == NONE || cb.source == NONE {
        return NULL;
    }
    if ca.source == cb.source {
        return 1;
    }
    let a_refers_to_b = ca.refers & cb.referred != 0;
    let b_refers_to_a = cb.refers & ca.referred != 0;
    if !a_refers_to_b && !b_refers_to_a {
        return 0;
    }
    let (Some(x), Some(y)) = (a.record.event_date, b.record.event_date) else {
        return 0;
    };
    if (a_refers_to_b && y >= x) || (b_refers_to_a && x >= y) {
        3
    } else {
        2
    }
}

/// How close in time two institutions met the child, weakest first: 0 more than a year apart; 1
/// within a year; 2 within 180 days; 3 within 60 days; 4 within 14 days.
pub(super) fn event_level(a: &LinkRecord, b: &LinkRecord) -> u8 {
    let (Some(x), Some(y)) = (a.event_date, b.event_date) else {
        return NULL;
    };
    match (x - y).num_days().abs() {
        0..=14 => 4,
        15..=60 => 3,
        61..=180 => 2,
        181..=365 => 1,
        _ => 0,
    }
}
