//! Fellegi-Sunter linkage: candidate pairs from several blocking keys, comparison levels per field,
//! m and u probabilities estimated from the data (EM for m, random pairs for u, namesakes for community's), name frequencies
//! counted over children rather than records, siblings reported together, and clustering that refuses to chain two children who
//! contradict each other. Parameters live in `rules/linkage.toml`.

mod blocking;
mod cluster;
mod companions;
mod compare;
mod competition;
mod estimate;
mod frequencies;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{LinkRecord, Linkage, Linker};
pub use blocking::{BlockingKey, BlockingPlan, Blocks, KeyField};
use cluster::{cluster, Clustering};
use companions::Companions;
pub use compare::MAX_REFERRALS;
use compare::{compare, Gamma, NameLevels, Prepared, COMPARISONS, NULL};
pub use estimate::Model;
use estimate::{estimate_model, estimate_u, fit_prior, logistic};
use frequencies::NameFrequencies;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Settings of the probabilistic linker (`[probabilistic]` in `rules/linkage.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSettings {
    /// Posterior match probability at or above which two records are linked.
    pub link_probability: f64,
    /// Pairs between this and `link_probability` are uncertain (counted for clerical review).
    pub review_probability: f64,
    /// The blocking keys: records that agree on every field of one are compared.
    pub blocking_keys: Vec<BlockingKey>,
    /// Blocks larger than this are skipped (a key shared by too many records says little).
    pub max_block_size: usize,
    /// In a block larger than this, each record is compared with its this many neighbours in name
    /// order only (sorted neighbourhood); 0 compares every pair of every block.
    pub block_window: usize,
    pub em_iterations: usize,
    /// Pairs sampled for each of the two EM training sessions (same names and father's name; same
    /// date of birth).
    pub em_training_pairs: usize,
    /// Random record pairs used to estimate u (the agreement rates among non-matches).
    pub u_sample_pairs: usize,
    pub seed: u64,
    /// Jaro-Winkler similarity for "close" and "similar" names.
    pub name_close: f64,
    pub name_similar: f64,
    /// Institutions that refer the children they meet to another: the receiving institution's
    /// record comes on or after the referring one's, which the source comparison weighs.
    pub referrals: Vec<Referral>,
    /// The institution of each source (from the configuration, not `linkage.toml`); a source not
    /// listed is taken to be an institution of its own name.
    #[serde(skip)]
    pub institution_of: BTreeMap<String, String>,
}

/// One institution refers the children it meets to another (`from` and `to` are institutions under
/// `[institutions]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    pub from: String,
    pub to: String,
}

impl ProbabilisticSettings {
    /// The referrals by source: every pair of sources whose institutions one referral names.
    fn referral_roles(&self) -> compare::ReferralRoles<'_> {
        compare::ReferralRoles {
            referrals: &self.referrals,
            institution_of: &self.institution_of,
        }
    }

    /// How records are blocked.
    pub fn blocking(&self) -> BlockingPlan {
        BlockingPlan {
            keys: self.blocking_keys.clone(),
            max_block: self.max_block_size,
            window: self.block_window,
        }
    }
}

impl Default for ProbabilisticSettings {
    fn default() -> Self {
        ProbabilisticSettings {
            link_probability: 0.7,
            review_probability: 0.5,
            blocking_keys: blocking::default_keys(),
            max_block_size: 400,
            block_window: 0,
            em_iterations: 25,
            em_training_pairs: 1_000_000,
            u_sample_pairs: 200_000,
            seed: 1,
            name_close: 0.92,
            name_similar: 0.80,
            referrals: Vec::new(),
            institution_of: BTreeMap::new(),
        }
    }
}

/// The Fellegi-Sunter linker.
#[derive(Debug, Clone, Default)]
pub struct ProbabilisticLinker {
    pub settings: ProbabilisticSettings,
    /// Clerical review decisions, applied as must-link and cannot-link.
    pub decisions: super::ReviewDecisions,
}

/// Why two records were (not) linked: each comparison's level and match weight, for `explain`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// (comparison, level, log2 match weight); level `None` when a value is missing on a side.
    pub comparisons: Vec<(String, Option<u8>, f64)>,
    /// log2 adjustment for how common the shared name is.
    pub name_frequency: f64,
    /// log2 weight of what the two records' companions show (siblings reported with each on the
    /// same day, and whether those were linked).
    pub companions: f64,
    /// log2 prior odds that two random records are one child.
    pub prior: f64,
    /// Probability from the comparisons, name frequency and prior alone.
    pub pair_probability: f64,
    /// Summed odds of the candidates that compete with this pair (partners of either record that
    /// cannot be the other's child); 0 when none.
    pub competing_odds: f64,
    /// The probability the run links on: the pair's, renormalised over its competitors.
    pub probability: f64,
    pub link_probability: f64,
    /// Whether blocking made the two records a candidate pair at all.
    pub candidates: bool,
    /// Whether the run puts the two records in one child (after reviewer decisions and the refusal
    /// of contradicting joins, and possibly through other records).
    pub same_child: bool,
}

/// Blocking, comparison and estimation done once for a set of records.
struct Fitted<'a> {
    prepared: Vec<Prepared<'a>>,
    /// Blocks too large to pair (see [`Blocks::skipped`]). The blocks themselves are dropped once
    /// the candidate pairs are compared: at a million records they are a few hundred megabytes.
    skipped_blocks: usize,
    /// Candidate pairs blocking formed (each compared, none stored).
    candidate_pairs: u64,
    /// The candidate pairs that could matter, sorted: those whose odds, with name frequencies,
    /// reach [`SCORED_FROM`]; the others can neither link, nor be reviewed, nor compete.
    pairs: Vec<(usize, usize)>,
    gammas: Vec<Gamma>,
    model: Model,
    /// Name frequencies among the children of a first clustering.
    frequencies: NameFrequencies,
    /// The child of each record in that first clustering.
    provisional_child: Vec<usize>,
    /// Records seen together, and what a pair's companions in that clustering weigh.
    companions: Companions,
    /// Seconds spent so far blocking, scoring and clustering.
    seconds: StepSeconds,
}

/// Wall-clock seconds of the linker's steps.
#[derive(Debug, Clone, Copy, Default)]
struct StepSeconds {
    block: f64,
    score: f64,
    cluster: f64,
}

impl StepSeconds {
    /// Adds the time since `since` to `step` and returns now.
    fn add(step: &mut f64, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        *step += (now - since).as_secs_f64();
        now
    }
}

/// Log odds below which a candidate pair is dropped after comparison: the odds from which a pair
/// competes (a probability of 0.05), less a margin for the name frequencies counted over children
/// rather than records, which can raise a pair's odds somewhat. ln(1/19) - ln(50).
const SCORED_FROM: f64 = -2.944_438_979_166_44 - 3.912_023_005_428_146;

/// What comparing the candidate pairs yields.
struct Compared {
    /// Each comparison pattern with its number of pairs, sorted.
    patterns: Vec<(Gamma, f64)>,
    /// Candidate pairs formed by each blocking key (a pair counts for the first key that forms it).
    per_key: Vec<u64>,
    /// The pairs that could matter, sorted, with their comparison vectors.
    pairs: Vec<(usize, usize)>,
    gammas: Vec<Gamma>,
}

/// What one worker gathers while comparing: pattern counts, pairs per key, pairs kept.
struct Comparing {
    /// Pairs per comparison pattern, by [`compare::pattern_index`]: a map, as a register's pairs
    /// show a few thousand of the millions of possible patterns.
    patterns: FxHashMap<u32, u32>,
    per_key: Vec<u64>,
    kept: Vec<(u32, u32, Gamma)>,
}

/// A prior share of matches no smaller than a register's: as if each record had twenty matching
/// records on average.
fn prior_bound(records: usize) -> f64 {
    (40.0 / records.saturating_sub(1).max(1) as f64).min(0.5)
}

/// What one worker gathers while comparing candidate pairs: its name-level memo and a result.
struct Gathered<T> {
    names: NameLevels,
    result: T,
}

impl ProbabilisticLinker {
    /// Candidate pairs, their comparison vectors, the model estimated from them, and name
    /// frequencies. Frequencies are counted over children, not records: a child reported five times
    /// does not make its name common. So a first clustering, with frequencies over records, tells
    /// which records are one child; the frequencies are then counted over its clusters.
    ///
    /// m is trained on pairs of its own (see [`estimate::training`]), so candidate pairs are
    /// compared once and never stored all at once: the pass counts their comparison patterns for the
    /// prior and keeps only the pairs that could matter.
    fn fit<'a>(&self, records: &'a [LinkRecord]) -> Fitted<'a> {
        let s = &self.settings;
        let t = std::time::Instant::now();
        let lap =
            |step: &str| tracing::debug!(step, elapsed_ms = t.elapsed().as_millis(), "linkage");
        let mut seconds = StepSeconds::default();
        let prepared: Vec<Prepared<'a>> = compare::prepare(records, &s.referral_roles());
        let blocks = Blocks::of(&prepared, &s.blocking());
        lap("blocking");
        let blocked = StepSeconds::add(&mut seconds.block, t);
        let u = estimate_u(&prepared, s);
        lap("u");
        let mut model = estimate_model(&estimate::training(&prepared, s), u, s.em_iterations);
        lap("em");
        let singletons: Vec<Vec<usize>> = (0..records.len()).map(|i| vec![i]).collect();
        let by_record = NameFrequencies::new(&prepared, &singletons);
        // The prior depends on the comparisons of all candidate pairs, and which pairs are kept on
        // the prior: compare with a prior no smaller than the one to come, then check.
        let mut assumed = prior_bound(records.len());
        let compared = loop {
            model.lambda = assumed;
            let compared = self.compare_candidates(&prepared, &blocks, &model, &by_record);
            fit_prior(&mut model, &compared.patterns, records.len());
            if model.lambda <= assumed {
                break compared;
            }
            assumed = model.lambda;
        };
        let skipped_blocks = blocks.skipped;
        drop(blocks);
        let Compared {
            per_key,
            pairs,
            gammas,
            ..
        } = compared;
        let candidate_pairs: u64 = per_key.iter().sum();
        for (key, n) in s.blocking_keys.iter().zip(per_key) {
            tracing::debug!(key = %key.name, pairs = n, "candidate pairs by blocking key");
        }
        lap("compare");
        let each_alone: Vec<usize> = (0..records.len()).collect();
        let scoring = Scoring {
            prepared: &prepared,
            pairs: &pairs,
            gammas: &gammas,
            model: &model,
            settings: s,
            companions: None,
        };
        let first = scoring.score(&by_record, &each_alone);
        lap("first pass");
        let scored = StepSeconds::add(&mut seconds.score, blocked);
        let provisional = cluster(records, &prepared, &first, &self.decisions, s);
        let frequencies = NameFrequencies::new(&prepared, &provisional.clusters);
        let mut provisional_child = vec![0; records.len()];
        for (child, members) in provisional.clusters.iter().enumerate() {
            for &i in members {
                provisional_child[i] = child;
            }
        }
        let mut companions = Companions::new(&prepared);
        companions.weigh(&first, &provisional_child);
        lap("name frequencies");
        StepSeconds::add(&mut seconds.cluster, scored);
        Fitted {
            prepared,
            skipped_blocks,
            candidate_pairs,
            pairs,
            gammas,
            model,
            frequencies,
            provisional_child,
            companions,
            seconds,
        }
    }

    /// Compares every candidate pair once, on both cores: counts the comparison patterns (for the
    /// prior) and the pairs per blocking key, and keeps the pairs that could matter under `model`.
    fn compare_candidates(
        &self,
        prepared: &[Prepared<'_>],
        blocks: &Blocks,
        model: &Model,
        frequencies: &NameFrequencies,
    ) -> Compared {
        let keys = self.settings.blocking_keys.len();
        let table = model.log_odds();
        let gathered = blocks.fold_pairs(
            || Gathered {
                names: NameLevels::new(&self.settings),
                result: Comparing {
                    patterns: FxHashMap::default(),
                    per_key: vec![0; keys],
                    kept: Vec::new(),
                },
            },
            |g: &mut Gathered<Comparing>, key, i, j| {
                let (a, b) = (&prepared[i], &prepared[j]);
                let gamma = compare(a, b, &mut g.names);
                let index = u32::try_from(compare::pattern_index(&gamma)).unwrap_or(u32::MAX);
                *g.result.patterns.entry(index).or_insert(0) += 1;
                if let Some(n) = g.result.per_key.get_mut(key) {
                    *n += 1;
                }
                let log_odds = table.of(&gamma) + frequencies.adjustment(i, a, b, &gamma, model);
                if log_odds >= SCORED_FROM {
                    let index = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
                    g.result.kept.push((index(i), index(j), gamma));
                }
            },
        );
        let mut counts: BTreeMap<Gamma, u64> = BTreeMap::new();
        let mut per_key = vec![0u64; keys];
        let mut kept: Vec<(u32, u32, Gamma)> =
            Vec::with_capacity(gathered.iter().map(|g| g.result.kept.len()).sum());
        for g in gathered {
            for (index, n) in g.result.patterns {
                *counts
                    .entry(compare::pattern_of(index as usize))
                    .or_insert(0) += u64::from(n);
            }
            for (total, n) in per_key.iter_mut().zip(g.result.per_key) {
                *total += n;
            }
            kept.extend(g.result.kept);
        }
        kept.par_sort_unstable();
        let mut pairs = Vec::with_capacity(kept.len());
        let mut gammas = Vec::with_capacity(kept.len());
        for (i, j, gamma) in kept {
            pairs.push((i as usize, j as usize));
            gammas.push(gamma);
        }
        Compared {
            patterns: counts.into_iter().map(|(g, n)| (g, n as f64)).collect(),
            per_key,
            pairs,
            gammas,
        }
    }

    /// Fits the model on `records` as a run would and explains the pair (i, j).
    pub fn explain(&self, records: &[LinkRecord], i: usize, j: usize) -> Explanation {
        let s = &self.settings;
        let f = self.fit(records);
        let scoring = f.scoring(s);
        let (prepared, model) = (&f.prepared, &f.model);
        let gamma = compare(&prepared[i], &prepared[j], &mut NameLevels::new(s));
        let adjust = f
            .frequencies
            .adjustment(i, &prepared[i], &prepared[j], &gamma, model);
        let seen = f.companions.adjustment(i, j, &f.provisional_child);
        let log_odds = model.log_odds().of(&gamma) + adjust + seen;
        let pairwise = scoring.pairwise(&f.frequencies);
        let competing_odds =
            if log_odds >= competition::logit(s.review_probability) {
                competition::Partners::settled(&pairwise, &f.provisional_child, prepared, s)
                    .competing((i, j), log_odds, prepared, s)
            } else {
                0.0
            };
        let scored = scoring.score(&f.frequencies, &f.provisional_child);
        let clustering = cluster(records, prepared, &scored, &self.decisions, s);
        let same_child = clustering
            .clusters
            .iter()
            .any(|c| c.contains(&i) && c.contains(&j));
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
            companions: seen / std::f64::consts::LN_2,
            prior: (model.lambda / (1.0 - model.lambda)).log2(),
            pair_probability: logistic(log_odds),
            competing_odds,
            probability: competition::exclusive_probability(log_odds, competing_odds),
            link_probability: s.link_probability,
            candidates: Blocks::of(prepared, &s.blocking()).covers(i, j),
            same_child,
        }
    }
}

impl<'a> Fitted<'a> {
    fn scoring<'f>(&'f self, settings: &'f ProbabilisticSettings) -> Scoring<'f, 'a> {
        Scoring {
            prepared: &self.prepared,
            pairs: &self.pairs,
            gammas: &self.gammas,
            model: &self.model,
            settings,
            companions: Some((&self.companions, &self.provisional_child)),
        }
    }
}

/// What scoring the candidate pairs needs.
struct Scoring<'f, 'a> {
    prepared: &'f [Prepared<'a>],
    /// The pairs that could matter (see [`Fitted::pairs`]).
    pairs: &'f [(usize, usize)],
    gammas: &'f [Gamma],
    model: &'f Model,
    settings: &'f ProbabilisticSettings,
    /// Records seen together, with the first clustering's child of each record (none in the first
    /// pass).
    companions: Option<(&'f Companions, &'f [usize])>,
}

impl Scoring<'_, '_> {
    /// The match probability of every candidate pair, name frequencies and competing candidates
    /// taken into account, strongest first (ties in a fixed order). `child_of` groups records that
    /// are one child, so that a rival child reported five times competes once.
    fn score(&self, frequencies: &NameFrequencies, child_of: &[usize]) -> Vec<(f64, usize, usize)> {
        let pairwise = self.pairwise(frequencies);
        let competing =
            competition::competing_odds(self.prepared, &pairwise, child_of, self.settings);
        let mut scored: Vec<(f64, usize, usize)> = pairwise
            .iter()
            .zip(competing)
            .map(|(&(l, i, j), c)| (competition::exclusive_probability(l, c), i, j))
            .collect();
        // Each pair once, so the order is total and an unstable sort gives it exactly.
        scored.par_sort_unstable_by(|a, b| {
            b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
        });
        scored
    }

    /// The log odds of every candidate pair on its own (comparisons, name frequencies, prior), as
    /// (log odds, i, j) in candidate order.
    fn pairwise(&self, frequencies: &NameFrequencies) -> Vec<(f64, usize, usize)> {
        let table = self.model.log_odds();
        self.pairs
            .par_iter()
            .zip(self.gammas)
            .map(|(&(i, j), g)| {
                let (a, b) = (&self.prepared[i], &self.prepared[j]);
                let adjust = frequencies.adjustment(i, a, b, g, self.model);
                let seen = self
                    .companions
                    .map_or(0.0, |(c, child_of)| c.adjustment(i, j, child_of));
                (table.of(g) + adjust + seen, i, j)
            })
            .collect()
    }
}

impl Linker for ProbabilisticLinker {
    fn link(&self, records: &[LinkRecord]) -> Linkage {
        let s = &self.settings;
        let f = self.fit(records);
        for (k, (name, levels)) in COMPARISONS.iter().enumerate() {
            let weights: Vec<String> = (0..*levels)
                .map(|l| format!("{:+.1}", f.model.weight(k, l as u8)))
                .collect();
            tracing::debug!(comparison = name, weights = %weights.join(" "), "match weights by level");
        }
        let [alone, apart, together] = f.companions.weights_log2();
        tracing::debug!(
            alone = format!("{alone:+.1}"),
            apart = format!("{apart:+.1}"),
            together = format!("{together:+.1}"),
            "match weights of companions"
        );
        tracing::debug!(
            lambda = f.model.lambda,
            "prior share of matches among all record pairs"
        );
        let mut seconds = f.seconds;
        let started = std::time::Instant::now();
        let scored = f.scoring(s).score(&f.frequencies, &f.provisional_child);
        let started = StepSeconds::add(&mut seconds.score, started);
        let Clustering {
            clusters,
            linked,
            review_band,
            refused,
            review_queue,
        } = cluster(records, &f.prepared, &scored, &self.decisions, s);
        let mut stats = BTreeMap::new();
        stats.insert("candidate_pairs".to_string(), f.candidate_pairs as usize);
        stats.insert("scored_pairs".to_string(), f.pairs.len());
        stats.insert("skipped_blocks".to_string(), f.skipped_blocks);
        stats.insert("linked_pairs".to_string(), linked);
        stats.insert("review_band_pairs".to_string(), review_band);
        stats.insert("refused_contradicting_merges".to_string(), refused);
        StepSeconds::add(&mut seconds.cluster, started);
        Linkage {
            clusters,
            method: "fellegi_sunter".to_string(),
            links_by_rule: stats,
            review: review_queue,
            stage_seconds: BTreeMap::from([
                ("block".to_string(), seconds.block),
                ("score".to_string(), seconds.score),
                ("cluster".to_string(), seconds.cluster),
            ]),
        }
    }
}
