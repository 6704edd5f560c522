//! Fellegi-Sunter linkage: candidate pairs from several blocking keys, comparison levels per field,
//! m and u probabilities estimated from the data (EM for m and the match share, random pairs for u),
//! and clustering that refuses to chain two children who contradict each other.
//! Parameters live in `rules/linkage.toml`.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::{DisjointSets, LinkRecord, Linkage, Linker};
use std::collections::BTreeSet;

/// Settings of the probabilistic linker (`[probabilistic]` in `rules/linkage.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSettings {
    /// Posterior match probability at or above which two records are linked.
    pub link_probability: f64,
    /// Pairs between this and `link_probability` are uncertain (counted for clerical review).
    pub review_probability: f64,
    /// Blocks larger than this are skipped (a key shared by too many records says little).
    pub max_block_size: usize,
    pub em_iterations: usize,
    /// Random record pairs used to estimate u (the agreement rates among non-matches).
    pub u_sample_pairs: usize,
    pub seed: u64,
    /// Jaro-Winkler similarity for "close" and "similar" names.
    pub name_close: f64,
    pub name_similar: f64,
}

impl Default for ProbabilisticSettings {
    fn default() -> Self {
        ProbabilisticSettings {
            link_probability: 0.95,
            review_probability: 0.5,
            max_block_size: 400,
            em_iterations: 25,
            u_sample_pairs: 200_000,
            seed: 1,
            name_close: 0.92,
            name_similar: 0.80,
        }
    }
}

/// Comparisons and their number of levels (level 0 = disagree; higher = closer agreement).
const COMPARISONS: [(&str, usize); 7] = [
    ("given_name", 4),
    ("surname", 4),
    ("father_name", 3),
    ("birth", 6),
    ("sex", 2),
    ("place", 3),
    ("personal_number", 2),
];
const K: usize = COMPARISONS.len();
/// A comparison that cannot be made (a value is missing on either side).
const NULL: u8 = u8::MAX;

type Gamma = [u8; K];

/// The Fellegi-Sunter linker.
#[derive(Debug, Clone, Default)]
pub struct ProbabilisticLinker {
    pub settings: ProbabilisticSettings,
    /// Clerical review decisions, applied as must-link and cannot-link.
    pub decisions: super::ReviewDecisions,
}

/// m and u per comparison level, and the prior share of matches among candidate pairs.
#[derive(Debug, Clone)]
pub struct Model {
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    pub lambda: f64,
}

impl Model {
    /// Posterior probability that a pair with this comparison vector is a match.
    pub fn probability(&self, gamma: &Gamma) -> f64 {
        let mut log_ratio = (self.lambda / (1.0 - self.lambda)).ln();
        for (k, &level) in gamma.iter().enumerate() {
            if level != NULL {
                let l = usize::from(level);
                log_ratio += (self.m[k][l] / self.u[k][l]).ln();
            }
        }
        1.0 / (1.0 + (-log_ratio).exp())
    }

    /// Like [`Model::probability`], with `adjust` (natural log) added to the log odds.
    pub fn probability_adjusted(&self, gamma: &Gamma, adjust: f64) -> f64 {
        let p = self.probability(gamma).clamp(1e-300, 1.0 - 1e-16);
        let log_odds = (p / (1.0 - p)).ln() + adjust;
        1.0 / (1.0 + (-log_odds).exp())
    }

    /// Match weight (log2 Bayes factor) of each comparison level, for `explain`.
    pub fn weight(&self, k: usize, level: u8) -> f64 {
        if level == NULL {
            return 0.0;
        }
        let l = usize::from(level);
        (self.m[k][l] / self.u[k][l]).log2()
    }
}

/// Why two records were (not) linked: each comparison's level and match weight, for `explain`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// (comparison, level, log2 match weight); level `None` when a value is missing on a side.
    pub comparisons: Vec<(String, Option<u8>, f64)>,
    /// log2 adjustment for how common the shared name is.
    pub name_frequency: f64,
    /// log2 prior odds that two random records are one child.
    pub prior: f64,
    pub probability: f64,
    pub link_probability: f64,
    /// Whether blocking made the two records a candidate pair at all.
    pub candidates: bool,
}

/// Blocking, comparison and estimation done once for a set of records.
struct Fitted<'a> {
    prepared: Vec<Prepared<'a>>,
    candidates: Vec<(usize, usize)>,
    skipped_blocks: usize,
    gammas: Vec<Gamma>,
    model: Model,
}

impl ProbabilisticLinker {
    /// Candidate pairs, their comparison vectors and the model estimated from them.
    fn fit<'a>(&self, records: &'a [LinkRecord]) -> Fitted<'a> {
        let s = &self.settings;
        let prepared: Vec<Prepared<'a>> = records.iter().map(Prepared::new).collect();
        let (candidates, skipped_blocks) = candidate_pairs(&prepared, s.max_block_size);
        let gammas: Vec<Gamma> = candidates
            .iter()
            .map(|&(i, j)| compare(&prepared[i], &prepared[j], s))
            .collect();
        let u = estimate_u(&prepared, s);
        let model = estimate_model(&gammas, u, records.len(), s.em_iterations);
        Fitted {
            prepared,
            candidates,
            skipped_blocks,
            gammas,
            model,
        }
    }

    /// Fits the model on `records` as a run would and explains the pair (i, j).
    pub fn explain(&self, records: &[LinkRecord], i: usize, j: usize) -> Explanation {
        let s = &self.settings;
        let Fitted {
            prepared,
            candidates,
            model,
            ..
        } = self.fit(records);
        let gamma = compare(&prepared[i], &prepared[j], s);
        let adjust =
            NameFrequencies::new(&prepared).adjustment(&prepared[i], &prepared[j], &gamma, &model);
        Explanation {
            comparisons: COMPARISONS
                .iter()
                .zip(gamma)
                .enumerate()
                .map(|(k, ((name, _), level))| {
                    let level = (level != NULL).then_some(level);
                    ((*name).to_string(), level, model.weight(k, gamma[k]))
                })
                .collect(),
            name_frequency: adjust / std::f64::consts::LN_2,
            prior: (model.lambda / (1.0 - model.lambda)).log2(),
            probability: model.probability_adjusted(&gamma, adjust),
            link_probability: s.link_probability,
            candidates: candidates.binary_search(&(i.min(j), i.max(j))).is_ok(),
        }
    }
}

impl Linker for ProbabilisticLinker {
    fn link(&self, records: &[LinkRecord]) -> Linkage {
        let s = &self.settings;
        let Fitted {
            prepared,
            candidates,
            skipped_blocks,
            gammas,
            model,
        } = self.fit(records);
        for (k, (name, levels)) in COMPARISONS.iter().enumerate() {
            let weights: Vec<String> = (0..*levels)
                .map(|l| format!("{:+.1}", model.weight(k, l as u8)))
                .collect();
            tracing::debug!(comparison = name, weights = %weights.join(" "), "match weights by level");
        }
        tracing::debug!(
            lambda = model.lambda,
            "share of matches among candidate pairs"
        );

        let frequencies = NameFrequencies::new(&prepared);
        let mut scored: Vec<(f64, usize, usize)> = candidates
            .iter()
            .zip(&gammas)
            .map(|(&(i, j), g)| {
                let adjust = frequencies.adjustment(&prepared[i], &prepared[j], g, &model);
                (model.probability_adjusted(g, adjust), i, j)
            })
            .collect();
        // Strongest links first; ties in a fixed order.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut sets = DisjointSets::new(records.len());
        let mut members: Vec<Vec<usize>> = (0..records.len()).map(|i| vec![i]).collect();
        let (mut linked, mut review, mut refused) = (0, 0, 0);
        let (must, cannot) = self.decisions.resolve(records);
        let cannot: BTreeSet<(usize, usize)> = cannot.into_iter().collect();
        let decided: BTreeSet<(usize, usize)> =
            must.iter().copied().chain(cannot.iter().copied()).collect();
        // The same record sent twice (same source and record id) is one child, whatever it says now;
        // so are two records a reviewer decided are the same child.
        let same_record = candidates.iter().copied().filter(|&(i, j)| {
            let (a, b) = (&records[i], &records[j]);
            !a.record_id.is_empty() && a.source == b.source && a.record_id == b.record_id
        });
        let forced: Vec<(usize, usize)> = same_record.chain(must.iter().copied()).collect();
        for (i, j) in forced {
            let (ri, rj) = (sets.find(i), sets.find(j));
            if ri != rj {
                join(&mut sets, &mut members, ri, rj);
                linked += 1;
            }
        }
        for &(p, i, j) in &scored {
            if p.is_nan() || p < s.link_probability {
                if p >= s.review_probability {
                    review += 1;
                }
                continue;
            }
            let (ri, rj) = (sets.find(i), sets.find(j));
            if ri == rj {
                continue;
            }
            if contradict(&members[ri], &members[rj], &prepared, s)
                || separated(&members[ri], &members[rj], &cannot)
            {
                refused += 1;
                continue;
            }
            join(&mut sets, &mut members, ri, rj);
            linked += 1;
        }
        // The queue: uncertain pairs that ended in different clusters and no one has decided yet.
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
        let mut stats = BTreeMap::new();
        stats.insert("candidate_pairs".to_string(), candidates.len());
        stats.insert("skipped_blocks".to_string(), skipped_blocks);
        stats.insert("linked_pairs".to_string(), linked);
        stats.insert("review_band_pairs".to_string(), review);
        stats.insert("refused_contradicting_merges".to_string(), refused);
        Linkage {
            clusters: sets.sets(),
            method: "fellegi_sunter".to_string(),
            links_by_rule: stats,
            review: review_queue,
        }
    }
}

/// How common each given name and surname is, for term-frequency adjustment: an exact match on
/// Krasniqi or Gashi says less than an exact match on a rare name.
struct NameFrequencies {
    given: BTreeMap<String, f64>,
    surname: BTreeMap<String, f64>,
}

impl NameFrequencies {
    fn new(records: &[Prepared<'_>]) -> NameFrequencies {
        let share = |values: Vec<&str>| {
            let total = values.iter().filter(|v| !v.is_empty()).count().max(1) as f64;
            let mut counts: BTreeMap<String, f64> = BTreeMap::new();
            for v in values.into_iter().filter(|v| !v.is_empty()) {
                *counts.entry(v.to_string()).or_insert(0.0) += 1.0;
            }
            counts.values_mut().for_each(|c| *c /= total);
            counts
        };
        NameFrequencies {
            given: share(
                records
                    .iter()
                    .map(|p| p.record.given_key.as_str())
                    .collect(),
            ),
            surname: share(records.iter().map(|p| p.surname_stem.as_str()).collect()),
        }
    }

    /// Log-odds correction for exact name matches: ln(u_exact / frequency of the shared value).
    fn adjustment(&self, a: &Prepared<'_>, b: &Prepared<'_>, gamma: &Gamma, model: &Model) -> f64 {
        let mut adjust = 0.0;
        let exact = 3u8;
        if gamma[0] == exact && a.record.given_key == b.record.given_key {
            if let Some(f) = self.given.get(&a.record.given_key) {
                adjust += (model.u[0][3] / f).ln();
            }
        }
        if gamma[1] == exact && a.surname_stem == b.surname_stem {
            if let Some(f) = self.surname.get(&a.surname_stem) {
                adjust += (model.u[1][3] / f).ln();
            }
        }
        adjust
    }
}

/// A record with its comparison keys computed once.
#[derive(Debug, Clone)]
struct Prepared<'a> {
    record: &'a LinkRecord,
    surname_stem: String,
}

impl<'a> Prepared<'a> {
    fn new(record: &'a LinkRecord) -> Prepared<'a> {
        Prepared {
            record,
            surname_stem: stem(&record.surname_key),
        }
    }
}

/// Albanian surnames come with and without the definite -i (Hasan / Hasani).
fn stem(surname: &str) -> String {
    match surname.strip_suffix('i') {
        Some(s) if s.chars().count() >= 4 => s.to_string(),
        _ => surname.to_string(),
    }
}

/// The candidate pairs blocking yields for these records (for `eval`'s blocking recall).
pub fn blocking_pairs(records: &[LinkRecord], max_block: usize) -> Vec<(usize, usize)> {
    let prepared: Vec<Prepared<'_>> = records.iter().map(Prepared::new).collect();
    candidate_pairs(&prepared, max_block).0
}

/// Candidate pairs from every blocking key, deduplicated and sorted.
fn candidate_pairs(records: &[Prepared<'_>], max_block: usize) -> (Vec<(usize, usize)>, usize) {
    let mut blocks: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in records.iter().enumerate() {
        for key in blocking_keys(p) {
            blocks.entry(key).or_default().push(i);
        }
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut skipped = 0;
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, members) in &blocks {
        if members.len() > max_block {
            skipped += 1;
            continue;
        }
        let kind = key.split(':').next().unwrap_or_default();
        *per_kind.entry(kind).or_insert(0) += members.len() * (members.len() - 1) / 2;
        for (a, &i) in members.iter().enumerate() {
            for &j in &members[a + 1..] {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    for (kind, n) in per_kind {
        tracing::debug!(key = kind, pairs = n, "candidate pairs by blocking key");
    }
    pairs.sort_unstable();
    pairs.dedup();
    (pairs, skipped)
}

/// The keys a record is blocked on. A true pair is missed only if it shares none of them.
fn blocking_keys(p: &Prepared<'_>) -> Vec<String> {
    let r = p.record;
    let (given, surname) = (r.given_key.as_str(), p.surname_stem.as_str());
    let mut keys = Vec::new();
    if !given.is_empty() && !surname.is_empty() {
        // Both orders of given name and surname land in one block.
        let (a, b) = if given <= surname {
            (given, surname)
        } else {
            (surname, given)
        };
        keys.push(format!("names:{a}|{b}"));
        // Typos in both names: the first letters, with the birth year or else the municipality.
        let prefix = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let initials = format!("{}|{}", prefix(given, 2), prefix(surname, 2));
        match (r.birth_years, &r.municipality) {
            (Some((from, to)), _) => {
                for year in from..=to {
                    keys.push(format!("initials-year:{initials}|{year}"));
                }
            }
            (None, Some(municipality)) => {
                keys.push(format!("initials-place:{initials}|{municipality}"))
            }
            (None, None) => {}
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

fn name_level(a: &str, b: &str, s: &ProbabilisticSettings) -> u8 {
    if a.is_empty() || b.is_empty() {
        return NULL;
    }
    if a == b {
        return 3;
    }
    let similarity = strsim::jaro_winkler(a, b);
    if similarity >= s.name_close {
        2
    } else if similarity >= s.name_similar {
        1
    } else {
        0
    }
}

/// Birth comparison levels, weakest first:
/// 0 cannot be one child (years two or more apart); 1 a year apart; 2 two full dates in the same year
/// but with another day and month; 3 compatible years where one side knows only a year or an age;
/// 4 two full dates a typo apart (same year and month, or day, or day and month swapped, or the same
/// day and month a year apart); 5 the same date.
fn birth_level(a: &LinkRecord, b: &LinkRecord) -> u8 {
    use chrono::Datelike;
    if let (Some(x), Some(y)) = (a.birth_date, b.birth_date) {
        if x == y {
            return 5;
        }
        let swapped = x.day() == y.month() && x.month() == y.day();
        let year_typo =
            (x.year() - y.year()).abs() == 1 && x.month() == y.month() && x.day() == y.day();
        let same_year_close =
            x.year() == y.year() && (x.month() == y.month() || x.day() == y.day() || swapped);
        if year_typo || same_year_close {
            return 4;
        }
        return match (x.year() - y.year()).abs() {
            0 => 2,
            1 => 1,
            _ => 0,
        };
    }
    match (a.birth_years, b.birth_years) {
        (Some((a0, a1)), Some((b0, b1))) => match (b0 - a1).max(a0 - b1) {
            g if g <= 0 => 3,
            1 => 1,
            _ => 0,
        },
        _ => NULL,
    }
}

/// The comparison vector of two records.
fn compare(a: &Prepared<'_>, b: &Prepared<'_>, s: &ProbabilisticSettings) -> Gamma {
    let (ra, rb) = (a.record, b.record);
    // Given name and surname may be swapped on one side: take the better reading.
    let straight = (
        name_level(&ra.given_key, &rb.given_key, s),
        name_level(&a.surname_stem, &b.surname_stem, s),
    );
    let swapped = (
        name_level(&ra.given_key, &b.surname_stem, s),
        name_level(&a.surname_stem, &rb.given_key, s),
    );
    let total = |(g, n): (u8, u8)| u16::from(g.min(3)) + u16::from(n.min(3));
    let (given, surname) =
        if swapped.0 != NULL && swapped.1 != NULL && total(swapped) > total(straight) + 1 {
            swapped
        } else {
            straight
        };
    let same = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => u8::from(x == y),
        _ => NULL,
    };
    let place = match (&ra.municipality, &rb.municipality) {
        (Some(x), Some(y)) if x == y => 2,
        _ => match (&ra.region, &rb.region) {
            (Some(x), Some(y)) => u8::from(x == y),
            _ => NULL,
        },
    };
    let father = match name_level(&ra.father_key, &rb.father_key, s) {
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
        same(&ra.sex, &rb.sex),
        place,
        same(&ra.personal_number, &rb.personal_number),
    ]
}

/// u: how often each level occurs among random pairs (almost all of them different children).
fn estimate_u(records: &[Prepared<'_>], s: &ProbabilisticSettings) -> Vec<Vec<f64>> {
    let mut counts: Vec<Vec<f64>> = COMPARISONS.iter().map(|(_, n)| vec![1.0; *n]).collect();
    let n = records.len();
    if n >= 2 {
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        for _ in 0..s.u_sample_pairs {
            let i = rng.random_range(0..n);
            let j = rng.random_range(0..n);
            if i == j {
                continue;
            }
            let gamma = compare(&records[i], &records[j], s);
            for (k, &level) in gamma.iter().enumerate() {
                if level != NULL {
                    counts[k][usize::from(level)] += 1.0;
                }
            }
        }
    }
    normalise(counts)
}

fn normalise(counts: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    counts
        .into_iter()
        .map(|levels| {
            let total: f64 = levels.iter().sum();
            levels.into_iter().map(|c| c / total).collect()
        })
        .collect()
}

/// m by EM in two training sessions, each over the pairs selected by agreement on some fields and
/// updating only the other fields (the selected fields carry no information about those pairs):
/// pairs with the same names train father's name, birth, sex, place and personal number; pairs with
/// the same full date of birth train the names (and the rest again). u stays at its random-pair
/// estimate; weights are made non-decreasing in the level; the prior is solved for random pairs.
fn estimate_model(gammas: &[Gamma], u: Vec<Vec<f64>>, records: usize, iterations: usize) -> Model {
    let initial: Vec<Vec<f64>> = COMPARISONS
        .iter()
        .map(|(_, n)| {
            let mut levels = vec![0.1 / (*n as f64 - 1.0).max(1.0); *n];
            levels[n - 1] = 0.9;
            levels
        })
        .collect();
    let same_names = |g: &Gamma| g[0] == 3 && g[1] == 3;
    let same_birth = |g: &Gamma| g[3] == 5;
    let session_a = em_session(gammas, same_names, &[0, 1], &initial, &u, iterations);
    let session_b = em_session(gammas, same_birth, &[3], &initial, &u, iterations);
    let mut m = initial;
    for k in 0..K {
        m[k] = match k {
            0 | 1 => session_b[k].clone(),
            3 => session_a[k].clone(),
            _ => session_a[k]
                .iter()
                .zip(&session_b[k])
                .map(|(a, b)| (a + b) / 2.0)
                .collect(),
        };
    }
    let mut model = Model { m, u, lambda: 1e-4 };
    make_monotone(&mut model);
    // The prior for two random records: expected matches among candidates over all possible pairs.
    let all_pairs = (records as f64) * (records as f64 - 1.0) / 2.0;
    if all_pairs > 0.0 {
        for _ in 0..20 {
            let expected: f64 = gammas.iter().map(|g| model.probability(g)).sum();
            model.lambda = (expected / all_pairs).clamp(1e-12, 0.5);
        }
    }
    model
}

/// One EM session over the pairs `select` keeps, updating m of every comparison but `fixed`.
fn em_session(
    gammas: &[Gamma],
    select: impl Fn(&Gamma) -> bool,
    fixed: &[usize],
    initial: &[Vec<f64>],
    u: &[Vec<f64>],
    iterations: usize,
) -> Vec<Vec<f64>> {
    let mut patterns: BTreeMap<Gamma, f64> = BTreeMap::new();
    for g in gammas.iter().filter(|g| select(g)) {
        let mut g = *g;
        for &k in fixed {
            g[k] = NULL;
        }
        *patterns.entry(g).or_insert(0.0) += 1.0;
    }
    let total: f64 = patterns.values().sum();
    let mut model = Model {
        m: initial.to_vec(),
        u: u.to_vec(),
        lambda: 0.5,
    };
    if total == 0.0 {
        return model.m;
    }
    for _ in 0..iterations {
        let mut counts: Vec<Vec<f64>> = COMPARISONS.iter().map(|(_, n)| vec![0.5; *n]).collect();
        let mut matches = 0.0;
        for (gamma, &n) in &patterns {
            let p = model.probability(gamma) * n;
            matches += p;
            for (k, &level) in gamma.iter().enumerate() {
                if level != NULL {
                    counts[k][usize::from(level)] += p;
                }
            }
        }
        let updated = normalise(counts);
        for (k, levels) in updated.into_iter().enumerate() {
            if !fixed.contains(&k) {
                model.m[k] = levels;
            }
        }
        model.lambda = (matches / total).clamp(1e-6, 1.0 - 1e-6);
    }
    model.m
}

/// A closer agreement never weighs less than a looser one: where m/u would fall with the level, the
/// looser level's m is lowered to keep the order. Only for the similarity scales (names, father's name,
/// place); birth levels mix precision and closeness, so their order is not one of evidence.
fn make_monotone(model: &mut Model) {
    const SCALES: [usize; 4] = [0, 1, 2, 5];
    for k in SCALES {
        let levels = model.m[k].len();
        for l in (0..levels.saturating_sub(1)).rev() {
            let higher = model.m[k][l + 1] / model.u[k][l + 1];
            let lower = model.m[k][l] / model.u[k][l];
            if lower > higher {
                model.m[k][l] = higher * model.u[k][l];
            }
        }
    }
}

/// Joins the clusters rooted at `ri` and `rj`, keeping the member lists with the new root.
fn join(sets: &mut DisjointSets, members: &mut [Vec<usize>], ri: usize, rj: usize) {
    sets.union(ri, rj);
    let root = sets.find(ri);
    let other = if root == ri { rj } else { ri };
    let moved = std::mem::take(&mut members[other]);
    members[root].extend(moved);
}

/// A reviewer decided some record of one cluster and some record of the other are different children.
fn separated(a: &[usize], b: &[usize], cannot: &BTreeSet<(usize, usize)>) -> bool {
    !cannot.is_empty()
        && a.iter()
            .any(|&i| b.iter().any(|&j| cannot.contains(&(i.min(j), i.max(j)))))
}

/// Two clusters contradict when joining them would put together records with different personal
/// numbers; two records that both carry a full date of birth yet clearly different given names
/// (not the same, not a typo apart, not the same names in swapped order: twins share everything but
/// the given name); two records whose birth years cannot be the same child's (more than a year apart);
/// or two records with clearly different fathers (children with the same common name). Merging two
/// children is the costly error, so such a join is refused even when a third record seems to bridge them.
fn contradict(
    a: &[usize],
    b: &[usize],
    records: &[Prepared<'_>],
    s: &ProbabilisticSettings,
) -> bool {
    a.iter().any(|&i| {
        b.iter().any(|&j| {
            let (x, y) = (&records[i], &records[j]);
            let (rx, ry) = (x.record, y.record);
            // A Kosovo number and a Serbian JMBG of one child differ without contradicting.
            let numbers = matches!((&rx.personal_number, &ry.personal_number),
                (Some(p), Some(q)) if p != q && p.len() == q.len());
            let same_number = matches!((&rx.personal_number, &ry.personal_number),
                (Some(p), Some(q)) if p == q);
            // Boy and girl twins: Arben / Arbena are close names but not the same child.
            let other_sex = matches!((&rx.sex, &ry.sex), (Some(p), Some(q)) if p != q)
                && rx.given_key != ry.given_key;
            if same_number {
                return other_sex;
            }
            let close = |level: u8| level != NULL && level >= 2;
            let same_given = close(name_level(&rx.given_key, &ry.given_key, s));
            let swapped = close(name_level(&rx.given_key, &y.surname_stem, s))
                && close(name_level(&x.surname_stem, &ry.given_key, s));
            let both_born = rx.birth_date.is_some() && ry.birth_date.is_some();
            let known_given = !rx.given_key.is_empty() && !ry.given_key.is_empty();
            // Same common name, but born in clearly different years, or of clearly different fathers.
            // Two real (not estimated) dates of birth that are not a typo apart: two children.
            let other_years = match birth_level(rx, ry) {
                NULL => false,
                level => level == 0 || (both_born && level <= 2),
            };
            let other_father = name_level(&rx.father_key, &ry.father_key, s) == 0;
            numbers
                || other_sex
                || (both_born && known_given && !same_given && !swapped)
                || other_years
                || other_father
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn record(id: &str, given: &str, surname: &str, birth: Option<(i32, u32, u32)>) -> LinkRecord {
        let birth_date = birth.and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
        LinkRecord {
            source: "s".into(),
            record_id: id.into(),
            personal_number: None,
            sex: Some("M".into()),
            given_key: given.into(),
            surname_key: surname.into(),
            father_key: "ilir".into(),
            birth_date,
            birth_years: birth.map(|(y, _, _)| (y, y)),
            municipality: Some("PRI".into()),
            region: Some("PR".into()),
        }
    }

    #[test]
    fn the_same_name_in_either_order_or_with_the_definite_i_compares_equal() {
        let s = ProbabilisticSettings::default();
        let a = record("1", "arben", "hasani", Some((2012, 3, 4)));
        let b = record("2", "hasan", "arben", Some((2012, 3, 4)));
        let g = compare(&Prepared::new(&a), &Prepared::new(&b), &s);
        assert_eq!((g[0], g[1], g[3]), (3, 3, 5));
    }

    #[test]
    fn twins_never_join_even_through_a_third_record() {
        let s = ProbabilisticSettings::default();
        let twin_a = record("1", "arben", "krasnici", Some((2012, 3, 4)));
        let twin_b = record("2", "arton", "krasnici", Some((2012, 3, 4)));
        // A record without a date of birth that looks like either twin.
        let bridge = record("3", "arben", "krasnici", None);
        let typo = record("4", "arbne", "krasnici", Some((2012, 3, 4)));
        let records = [twin_a, twin_b, bridge, typo];
        let prepared: Vec<Prepared<'_>> = records.iter().map(Prepared::new).collect();
        assert!(contradict(&[0], &[1], &prepared, &s));
        assert!(
            contradict(&[0, 2], &[1], &prepared, &s),
            "the bridge must not chain the twins"
        );
        assert!(
            !contradict(&[0], &[3], &prepared, &s),
            "a typo is the same child"
        );
    }

    #[test]
    fn boy_and_girl_twins_stay_apart_and_personal_numbers_decide_only_when_comparable() {
        let s = ProbabilisticSettings::default();
        let boy = record("1", "arben", "krasnici", Some((2012, 3, 4)));
        let mut girl = record("2", "arbena", "krasnici", Some((2012, 3, 4)));
        girl.sex = Some("F".into());
        // One child: a Kosovo number in one office, a JMBG in another, and a year typo.
        let mut kosovo = record("3", "drita", "gashi", Some((2012, 5, 17)));
        kosovo.personal_number = Some("1234567892".into());
        let mut jmbg = record("4", "drita", "gashi", Some((2012, 5, 17)));
        jmbg.personal_number = Some("1705012715003".into());
        let mut typo = record("5", "drita", "gashi", Some((2013, 5, 17)));
        typo.personal_number = Some("1234567892".into());
        let records = [boy, girl, kosovo, jmbg, typo];
        let p: Vec<Prepared<'_>> = records.iter().map(Prepared::new).collect();
        assert!(contradict(&[0], &[1], &p, &s), "Arben and Arbena are twins");
        assert!(
            !contradict(&[2], &[3], &p, &s),
            "a 10- and a 13-digit number do not contradict"
        );
        assert!(
            !contradict(&[2], &[4], &p, &s),
            "the same number outweighs a year typo"
        );
        assert_eq!(
            birth_level(&records[2], &records[4]),
            4,
            "same day and month a year apart is a typo"
        );
    }
}
