//! Fellegi-Sunter linkage: candidate pairs from several blocking keys, comparison levels per field,
//! m and u probabilities estimated from the data (EM for m, random pairs for u), name frequencies
//! counted over children rather than records, and clustering that refuses to chain two children who
//! contradict each other. Parameters live in `rules/linkage.toml`.

mod blocking;
mod cluster;
mod compare;
mod competition;
mod estimate;
mod frequencies;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{LinkRecord, Linkage, Linker};
use blocking::candidate_pairs;
pub use blocking::{blocking_pairs, BlockLimits};
use cluster::{cluster, Clustering};
use compare::{compare, Gamma, NameLevels, Prepared, COMPARISONS, NULL};
pub use estimate::Model;
use estimate::{estimate_model, estimate_u, logistic, patterns};
use frequencies::NameFrequencies;
use rayon::prelude::*;

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
    /// In a block larger than this, each record is compared with its this many neighbours in name
    /// order only (sorted neighbourhood); 0 compares every pair of every block.
    pub block_window: usize,
    pub em_iterations: usize,
    /// Random record pairs used to estimate u (the agreement rates among non-matches).
    pub u_sample_pairs: usize,
    pub seed: u64,
    /// Jaro-Winkler similarity for "close" and "similar" names.
    pub name_close: f64,
    pub name_similar: f64,
}

impl ProbabilisticSettings {
    /// How blocks become candidate pairs.
    pub fn block_limits(&self) -> blocking::BlockLimits {
        blocking::BlockLimits {
            max_block: self.max_block_size,
            window: self.block_window,
        }
    }
}

impl Default for ProbabilisticSettings {
    fn default() -> Self {
        ProbabilisticSettings {
            link_probability: 0.9,
            review_probability: 0.5,
            max_block_size: 400,
            block_window: 0,
            em_iterations: 25,
            u_sample_pairs: 200_000,
            seed: 1,
            name_close: 0.92,
            name_similar: 0.80,
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
    candidates: Vec<(usize, usize)>,
    skipped_blocks: usize,
    gammas: Vec<Gamma>,
    model: Model,
    /// Name frequencies among the children of a first clustering.
    frequencies: NameFrequencies<'a>,
    /// The child of each record in that first clustering.
    provisional_child: Vec<usize>,
}

impl ProbabilisticLinker {
    /// Candidate pairs, their comparison vectors, the model estimated from them, and name
    /// frequencies. Frequencies are counted over children, not records: a child reported five times
    /// does not make its name common. So a first clustering, with frequencies over records, tells
    /// which records are one child; the frequencies are then counted over its clusters.
    fn fit<'a>(&self, records: &'a [LinkRecord]) -> Fitted<'a> {
        let s = &self.settings;
        let t = std::time::Instant::now();
        let lap =
            |step: &str| tracing::debug!(step, elapsed_ms = t.elapsed().as_millis(), "linkage");
        let prepared: Vec<Prepared<'a>> = records.iter().map(Prepared::new).collect();
        let (candidates, skipped_blocks) = candidate_pairs(&prepared, s.block_limits());
        lap("blocking");
        let gammas: Vec<Gamma> = candidates
            .par_iter()
            .map_init(
                || NameLevels::new(s),
                |names, &(i, j)| compare(&prepared[i], &prepared[j], names),
            )
            .collect();
        lap("compare");
        let u = estimate_u(&prepared, s);
        lap("u");
        let model = estimate_model(&patterns(&gammas), u, records.len(), s.em_iterations);
        lap("em");
        let singletons: Vec<Vec<usize>> = (0..records.len()).map(|i| vec![i]).collect();
        let by_record = NameFrequencies::new(&prepared, &singletons);
        let each_alone: Vec<usize> = (0..records.len()).collect();
        let scoring = Scoring {
            prepared: &prepared,
            candidates: &candidates,
            gammas: &gammas,
            model: &model,
            settings: s,
        };
        let first = scoring.score(&by_record, &each_alone);
        lap("first pass");
        let provisional = cluster(records, &prepared, &candidates, &first, &self.decisions, s);
        let frequencies = NameFrequencies::new(&prepared, &provisional.clusters);
        let mut provisional_child = vec![0; records.len()];
        for (child, members) in provisional.clusters.iter().enumerate() {
            for &i in members {
                provisional_child[i] = child;
            }
        }
        lap("name frequencies");
        Fitted {
            prepared,
            candidates,
            skipped_blocks,
            gammas,
            model,
            frequencies,
            provisional_child,
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
            .adjustment(&prepared[i], &prepared[j], &gamma, model);
        let log_odds = model.log_odds().of(&gamma) + adjust;
        let pairwise = scoring.pairwise(&f.frequencies);
        let competing_odds = if log_odds >= competition::logit(s.review_probability) {
            competition::Partners::new(&pairwise, &f.provisional_child).competing(
                (i, j),
                prepared,
                s,
            )
        } else {
            0.0
        };
        let scored = scoring.score(&f.frequencies, &f.provisional_child);
        let clustering = cluster(
            records,
            prepared,
            &f.candidates,
            &scored,
            &self.decisions,
            s,
        );
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
            prior: (model.lambda / (1.0 - model.lambda)).log2(),
            pair_probability: logistic(log_odds),
            competing_odds,
            probability: competition::exclusive_probability(log_odds, competing_odds),
            link_probability: s.link_probability,
            candidates: f.candidates.binary_search(&(i.min(j), i.max(j))).is_ok(),
            same_child,
        }
    }
}

impl<'a> Fitted<'a> {
    fn scoring<'f>(&'f self, settings: &'f ProbabilisticSettings) -> Scoring<'f, 'a> {
        Scoring {
            prepared: &self.prepared,
            candidates: &self.candidates,
            gammas: &self.gammas,
            model: &self.model,
            settings,
        }
    }
}

/// What scoring the candidate pairs needs.
struct Scoring<'f, 'a> {
    prepared: &'f [Prepared<'a>],
    candidates: &'f [(usize, usize)],
    gammas: &'f [Gamma],
    model: &'f Model,
    settings: &'f ProbabilisticSettings,
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
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        scored
    }

    /// The log odds of every candidate pair on its own (comparisons, name frequencies, prior), as
    /// (log odds, i, j) in candidate order.
    fn pairwise(&self, frequencies: &NameFrequencies) -> Vec<(f64, usize, usize)> {
        let table = self.model.log_odds();
        self.candidates
            .par_iter()
            .zip(self.gammas)
            .map(|(&(i, j), g)| {
                let (a, b) = (&self.prepared[i], &self.prepared[j]);
                let adjust = frequencies.adjustment(a, b, g, self.model);
                (table.of(g) + adjust, i, j)
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
        tracing::debug!(
            lambda = f.model.lambda,
            "prior share of matches among all record pairs"
        );
        let scored = f.scoring(s).score(&f.frequencies, &f.provisional_child);
        let Clustering {
            clusters,
            linked,
            review_band,
            refused,
            review_queue,
        } = cluster(
            records,
            &f.prepared,
            &f.candidates,
            &scored,
            &self.decisions,
            s,
        );
        let mut stats = BTreeMap::new();
        stats.insert("candidate_pairs".to_string(), f.candidates.len());
        stats.insert("skipped_blocks".to_string(), f.skipped_blocks);
        stats.insert("linked_pairs".to_string(), linked);
        stats.insert("review_band_pairs".to_string(), review_band);
        stats.insert("refused_contradicting_merges".to_string(), refused);
        Linkage {
            clusters,
            method: "fellegi_sunter".to_string(),
            links_by_rule: stats,
            review: review_queue,
        }
    }
}
