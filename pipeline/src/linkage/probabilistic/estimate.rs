//! Estimation of the model: u from random record pairs, m by EM over sampled training pairs, and the
//! prior share of matches among the candidate pairs.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::compare::{compare, Gamma, NameLevels, Prepared, COMPARISONS, K, NONE, NULL};
use super::ProbabilisticSettings;

/// m and u per comparison level, and the prior share of matches among candidate pairs.
#[derive(Debug, Clone)]
pub struct Model {
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    pub lambda: f64,
}

impl Model {
    /// The natural-log weights of every level and the prior log odds, for scoring many pairs.
    pub(super) fn log_odds(&self) -> LogOdds {
        LogOdds {
            prior: (self.lambda / (1.0 - self.lambda)).ln(),
            weights: self
                .m
                .iter()
                .zip(&self.u)
                .map(|(m, u)| m.iter().zip(u).map(|(m, u)| (m / u).ln()).collect())
                .collect(),
        }
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

/// A model's weights as a table: ln(m/u) per comparison level, and the prior log odds.
pub(super) struct LogOdds {
    prior: f64,
    weights: Vec<Vec<f64>>,
}

impl LogOdds {
    /// Log odds that a pair with this comparison vector is a match.
    pub(super) fn of(&self, gamma: &Gamma) -> f64 {
        let mut log_odds = self.prior;
        for (levels, &level) in self.weights.iter().zip(gamma) {
            if level != NULL {
                log_odds += levels.get(usize::from(level)).copied().unwrap_or(0.0);
            }
        }
        log_odds
    }
}

/// The probability of log odds `x`.
pub(super) fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// u: how often each level occurs among random pairs (almost all of them different children).
pub(super) fn estimate_u(records: &[Prepared<'_>], s: &ProbabilisticSettings) -> Vec<Vec<f64>> {
    let mut counts: Vec<Vec<f64>> = COMPARISONS.iter().map(|(_, n)| vec![1.0; *n]).collect();
    let n = records.len();
    if n >= 2 {
        // The pairs are drawn in a fixed order from the seed; comparing them may run in parallel.
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        let pairs: Vec<(usize, usize)> = (0..s.u_sample_pairs)
            .map(|_| (rng.random_range(0..n), rng.random_range(0..n)))
            .filter(|(i, j)| i != j)
            .collect();
        let gammas: Vec<Gamma> = pairs
            .par_iter()
            .map_init(
                || NameLevels::new(s),
                |names, &(i, j)| compare(&records[i], &records[j], names),
            )
            .collect();
        for gamma in gammas {
            for (k, &level) in gamma.iter().enumerate() {
                if level != NULL {
                    counts[k][usize::from(level)] += 1.0;
                }
            }
        }
        count_among_namesakes(records, s, &mut counts);
    }
    normalise(counts)
}

/// Comparisons whose values go with the names (a community's families share their surnames).
const WITH_NAMES: [&str; 1] = ["community"];

/// Counts u of the comparisons in [`WITH_NAMES`] among pairs with the same surname, the non-matches
/// a candidate pair is up against, instead of among random pairs: two random records seldom share
/// a community, two namesakes mostly do, so the random-pair u would count the names twice.
fn count_among_namesakes(
    records: &[Prepared<'_>],
    s: &ProbabilisticSettings,
    counts: &mut [Vec<f64>],
) {
    let gammas = namesake_patterns(records, s);
    if gammas.is_empty() {
        // No two records share a surname: the random-pair u stands.
        return;
    }
    for (k, (name, levels)) in COMPARISONS.iter().enumerate() {
        if !WITH_NAMES.contains(name) {
            continue;
        }
        let mut among = vec![1.0; *levels];
        for gamma in &gammas {
            if let Some(c) = among.get_mut(usize::from(gamma[k])) {
                *c += 1.0;
            }
        }
        counts[k] = among;
    }
}

/// The comparison vectors of `u_sample_pairs` pairs drawn at random, with replacement, from all
/// pairs of records with the same surname: a surname group is drawn by its number of pairs, then
/// two of its records. (Enumerating the pairs, as the training samples do, would walk the hundreds
/// of millions of pairs of a common surname.)
fn namesake_patterns(records: &[Prepared<'_>], s: &ProbabilisticSettings) -> Vec<Gamma> {
    let mut keyed: Vec<(u32, usize)> = records
        .iter()
        .enumerate()
        .filter(|(_, p)| p.code.surname != NONE)
        .map(|(i, p)| (p.code.surname, i))
        .collect();
    keyed.par_sort_unstable();
    let groups: Vec<&[(u32, usize)]> = keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|g| g.len() >= 2)
        .collect();
    // Pairs up to and including each group.
    let mut cumulative: Vec<f64> = Vec::with_capacity(groups.len());
    let mut total = 0.0;
    for g in &groups {
        let n = g.len() as f64;
        total += n * (n - 1.0) / 2.0;
        cumulative.push(total);
    }
    if total == 0.0 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed.wrapping_add(1));
    let pairs: Vec<(usize, usize)> = (0..s.u_sample_pairs)
        .filter_map(|_| {
            let at = rng.random_range(0.0..total);
            let group = groups.get(cumulative.partition_point(|&c| c <= at))?;
            let a = rng.random_range(0..group.len());
            let b = (a + rng.random_range(1..group.len())) % group.len();
            Some((group.get(a)?.1, group.get(b)?.1))
        })
        .collect();
    pairs
        .par_iter()
        .map_init(
            || NameLevels::new(s),
            |names, &(i, j)| compare(&records[i], &records[j], names),
        )
        .collect()
}

pub(super) fn normalise(counts: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    counts
        .into_iter()
        .map(|levels| {
            let total: f64 = levels.iter().sum();
            levels.into_iter().map(|c| c / total).collect()
        })
        .collect()
}

/// The comparison patterns EM trains on, each from its own pairs (never from the candidate pairs,
/// whose mix of matches and non-matches depends on how tightly records are blocked): pairs with the
/// same given name, surname and father's name, and pairs with the same full date of birth, each a
/// fixed-size sample.
pub(super) struct Training {
    pub(super) same_family_names: Vec<(Gamma, f64)>,
    pub(super) same_birth: Vec<(Gamma, f64)>,
}

/// Samples the training pairs and counts their comparison patterns (on both cores).
pub(super) fn training(records: &[Prepared<'_>], s: &ProbabilisticSettings) -> Training {
    let family = |p: &Prepared<'_>| {
        let c = &p.code;
        (c.given != NONE && c.surname != NONE && c.father != NONE)
            .then_some((c.given, c.surname, c.father, 0))
    };
    let birth = |p: &Prepared<'_>| {
        use chrono::Datelike;
        p.record
            .birth_date
            .map(|d| (d.year() as u32, d.month(), d.day(), 1))
    };
    Training {
        same_family_names: sampled_patterns(records, family, s.em_training_pairs, s),
        same_birth: sampled_patterns(records, birth, s.em_training_pairs, s),
    }
}

/// The comparison patterns of a sample of about `pairs` of the pairs of records that share a `key`. A pair is in the sample when a hash of the two indexes and the seed falls below
/// the sampling rate, so the sample is the same on every run.
fn sampled_patterns<K: Ord + Copy + Send + Sync>(
    records: &[Prepared<'_>],
    key: impl Fn(&Prepared<'_>) -> Option<K> + Sync,
    pairs: usize,
    s: &ProbabilisticSettings,
) -> Vec<(Gamma, f64)> {
    let mut keyed: Vec<(K, usize)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, p)| key(p).map(|k| (k, i)))
        .collect();
    keyed.par_sort_unstable();
    let groups: Vec<&[(K, usize)]> = keyed.chunk_by(|a, b| a.0 == b.0).collect();
    let all: f64 = groups
        .iter()
        .map(|g| (g.len() * g.len().saturating_sub(1) / 2) as f64)
        .sum();
    let rate = if all > 0.0 {
        (pairs as f64 / all).min(1.0)
    } else {
        0.0
    };
    let threshold = (rate * u64::MAX as f64) as u64;
    let counted = groups
        .par_iter()
        .fold(
            || (NameLevels::new(s), BTreeMap::<Gamma, f64>::new()),
            |(mut names, mut counts), group| {
                for (a, &(_, i)) in group.iter().enumerate() {
                    for &(_, j) in &group[a + 1..] {
                        if mix(i, j, s.seed) <= threshold {
                            let gamma = compare(&records[i], &records[j], &mut names);
                            *counts.entry(gamma).or_insert(0.0) += 1.0;
                        }
                    }
                }
                (names, counts)
            },
        )
        .map(|(_, counts)| counts)
        .reduce(BTreeMap::new, |mut a, b| {
            for (gamma, n) in b {
                *a.entry(gamma).or_insert(0.0) += n;
            }
            a
        });
    counted.into_iter().collect()
}

/// A well-mixed 64-bit hash of a pair of indexes and a seed (splitmix64's finaliser).
fn mix(i: usize, j: usize, seed: u64) -> u64 {
    let mut x = ((i as u64) << 32 ^ j as u64) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// m by EM in two training sessions, each over pairs selected by agreement on some fields and
/// updating only the other fields (the selected fields carry no information about those pairs):
/// pairs with the same given name, surname and father's name train birth, sex, place and personal
/// number; pairs with the same full date of birth train the names and father's name (and the rest
/// again). Selecting on names alone is not enough: in a large register most same-name pairs are
/// namesakes, and EM would learn "same name in the same place" instead of "same child". u stays as
/// [`estimate_u`] gave it; weights are made non-decreasing in the level. The prior is set apart, by
/// [`fit_prior`].
pub(super) fn estimate_model(training: &Training, u: Vec<Vec<f64>>, iterations: usize) -> Model {
    let initial: Vec<Vec<f64>> = COMPARISONS
        .iter()
        .map(|(_, n)| {
            let mut levels = vec![0.1 / (*n as f64 - 1.0).max(1.0); *n];
            levels[n - 1] = 0.9;
            levels
        })
        .collect();
    let same_family_names = |g: &Gamma| g[0] == 3 && g[1] == 3 && g[2] == 2;
    let same_birth = |g: &Gamma| g[3] == 6;
    let session_a = em_session(
        &training.same_family_names,
        same_family_names,
        &[0, 1, 2],
        &initial,
        &u,
        iterations,
    );
    let session_b = em_session(
        &training.same_birth,
        same_birth,
        &[3],
        &initial,
        &u,
        iterations,
    );
    let mut m = initial;
    for k in 0..K {
        m[k] = match k {
            0..=2 => session_b[k].clone(),
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
    model
}

/// The prior for two random records: the matches expected among the candidate pairs (whose
/// comparison patterns are `patterns`) over all possible pairs of `records` records, solved as a
/// fixed point (the expectation depends on the prior).
pub(super) fn fit_prior(model: &mut Model, patterns: &[(Gamma, f64)], records: usize) {
    let all_pairs = (records as f64) * (records as f64 - 1.0) / 2.0;
    if all_pairs > 0.0 {
        for _ in 0..20 {
            let table = model.log_odds();
            let expected: f64 = patterns
                .iter()
                .map(|(g, n)| logistic(table.of(g)) * n)
                .sum();
            model.lambda = (expected / all_pairs).clamp(1e-12, 0.5);
        }
    }
}

/// One EM session over the pairs `select` keeps, updating m of every comparison but `fixed`.
pub(super) fn em_session(
    all: &[(Gamma, f64)],
    select: impl Fn(&Gamma) -> bool,
    fixed: &[usize],
    initial: &[Vec<f64>],
    u: &[Vec<f64>],
    iterations: usize,
) -> Vec<Vec<f64>> {
    let mut patterns: BTreeMap<Gamma, f64> = BTreeMap::new();
    for (g, n) in all.iter().filter(|(g, _)| select(g)) {
        let mut g = *g;
        for &k in fixed {
            g[k] = NULL;
        }
        *patterns.entry(g).or_insert(0.0) += n;
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
        let table = model.log_odds();
        for (gamma, &n) in &patterns {
            let p = logistic(table.of(gamma)) * n;
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
/// place, event date); birth levels mix precision and closeness, so their order is not one of evidence.
pub(super) fn make_monotone(model: &mut Model) {
    const SCALES: [usize; 5] = [0, 1, 2, 5, 7];
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
