//! Linkage accuracy against ground truth (`regbridge eval`): pairwise and cluster precision, recall and
//! F1 of a run's record → child assignment compared with the generator's `truth.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A record as both files name it: source and record id.
pub type RecordKey = (String, String);

/// A file `eval` cannot use.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: no column \"{column}\"")]
    Column { path: PathBuf, column: String },
}

/// Precision, recall and F1 of one kind of comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Scores {
    fn from_counts(true_positive: u64, predicted: u64, actual: u64) -> Scores {
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let precision = ratio(true_positive, predicted);
        let recall = ratio(true_positive, actual);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Scores {
            precision,
            recall,
            f1,
        }
    }
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Records in both the run's output and the truth (the ones evaluated).
    pub records: usize,
    /// Records of the truth the run did not publish (quarantined or missing).
    pub not_published: usize,
    pub predicted_children: usize,
    pub true_children: usize,
    /// Pairs of records linked by the run / in the truth / in both.
    pub predicted_pairs: u64,
    pub true_pairs: u64,
    pub correct_pairs: u64,
    pub pairwise: Scores,
    /// A cluster counts when it holds exactly the records of one true child.
    pub cluster: Scores,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Compares a predicted record → child assignment with the true one, on the records both contain.
pub fn evaluate(
    predicted: &BTreeMap<RecordKey, String>,
    truth: &BTreeMap<RecordKey, String>,
) -> Evaluation {
    let mut joint: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut predicted_sizes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut true_sizes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut records = 0;
    for (key, child) in truth {
        let Some(predicted_child) = predicted.get(key) else {
            continue;
        };
        records += 1;
        *joint.entry((predicted_child, child)).or_insert(0) += 1;
        *predicted_sizes.entry(predicted_child).or_insert(0) += 1;
        *true_sizes.entry(child).or_insert(0) += 1;
    }
    let correct_pairs: u64 = joint.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: u64 = predicted_sizes.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = true_sizes.values().map(|&n| pairs(n)).sum();
    // A predicted cluster is exact when all its records share one true child and that child has no
    // records elsewhere.
    let exact = joint
        .iter()
        .filter(|((p, t), n)| predicted_sizes.get(p) == Some(n) && true_sizes.get(t) == Some(n))
        .count() as u64;
    Evaluation {
        records,
        not_published: truth.len() - records,
        predicted_children: predicted_sizes.len(),
        true_children: true_sizes.len(),
        predicted_pairs,
        true_pairs,
        correct_pairs,
        pairwise: Scores::from_counts(correct_pairs, predicted_pairs, true_pairs),
        cluster: Scores::from_counts(exact, predicted_sizes.len() as u64, true_sizes.len() as u64),
    }
}

/// How blocking covers the true pairs, overall and key by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockingCoverage {
    /// True pairs (records of one child, both in the records blocked).
    pub true_pairs: u64,
    /// True pairs some key makes a candidate pair.
    pub covered: u64,
    /// For each key: the true pairs it pairs, and those no other key pairs.
    pub by_key: Vec<(u64, u64)>,
}

/// Which true pairs blocking puts among the candidate pairs (a pair blocking misses can never be
/// linked). `keys_pairing(i, j)` lists the keys (indexes below `keys`) that pair records i < j.
pub fn blocking_coverage(
    records: &[RecordKey],
    keys: usize,
    keys_pairing: impl Fn(usize, usize) -> Vec<usize>,
    truth: &BTreeMap<RecordKey, String>,
) -> BlockingCoverage {
    let mut by_child: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, key) in records.iter().enumerate() {
        if let Some(child) = truth.get(key) {
            by_child.entry(child).or_default().push(i);
        }
    }
    let mut coverage = BlockingCoverage {
        by_key: vec![(0, 0); keys],
        ..BlockingCoverage::default()
    };
    for members in by_child.values() {
        for (a, &i) in members.iter().enumerate() {
            for &j in &members[a + 1..] {
                coverage.true_pairs += 1;
                let pairing = keys_pairing(i.min(j), i.max(j));
                if !pairing.is_empty() {
                    coverage.covered += 1;
                }
                for &k in &pairing {
                    if let Some((found, only)) = coverage.by_key.get_mut(k) {
                        *found += 1;
                        *only += u64::from(pairing.len() == 1);
                    }
                }
            }
        }
    }
    coverage
}

/// Writes the standardised records linkage sees (spelling keys of the names, dates, codes) with
/// their true child, one row per record, so that another linker can be run on the same input.
pub fn write_linkage_input(
    path: &Path,
    keys: &[RecordKey],
    records: &[crate::linkage::LinkRecord],
    truth: &BTreeMap<RecordKey, String>,
) -> Result<(), csv::Error> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record([
        "source",
        "record_id",
        "given",
        "surname",
        "father",
        "birth_date",
        "birth_year_from",
        "birth_year_to",
        "sex",
        "municipality",
        "region",
        "event_date",
        "activity",
        "community",
        "personal_number",
        "child",
    ])?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for (key, r) in keys.iter().zip(records) {
        let (from, to) = r
            .birth_years()
            .map_or((String::new(), String::new()), |(a, b)| {
                (a.to_string(), b.to_string())
            });
        out.write_record([
            key.0.clone(),
            key.1.clone(),
            r.given_key.clone(),
            r.surname_key.clone(),
            r.father_key.clone(),
            date(r.birth_date),
            from,
            to,
            text(&r.sex),
            text(&r.municipality),
            text(&r.region),
            date(r.event_date),
            text(&r.activity),
            text(&r.community),
            text(&r.personal_number),
            truth.get(key).cloned().unwrap_or_default(),
        ])?;
    }
    out.flush()?;
    Ok(())
}

/// Reads `source`, `record_id` and one id column of a CSV file into a map.
pub fn read_assignment(
    path: &Path,
    id_column: &str,
) -> Result<BTreeMap<RecordKey, String>, EvalError> {
    let read_error = |message: String| EvalError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| read_error(e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| read_error(e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| EvalError::Column {
                path: path.to_path_buf(),
                column: name.to_string(),
            })
    };
    let (source, record, id) = (column("source")?, column("record_id")?, column(id_column)?);
    let mut out = BTreeMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| read_error(e.to_string()))?;
        let field = |i: usize| row.get(i).unwrap_or_default().to_string();
        if !field(id).is_empty() {
            out.insert((field(source), field(record)), field(id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(rows: &[(&str, &str)]) -> BTreeMap<RecordKey, String> {
        rows.iter()
            .map(|(record, child)| {
                (
                    ("s".to_string(), (*record).to_string()),
                    (*child).to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn pairwise_and_cluster_scores() {
        // Truth: {a,b,c} one child, {d} another. Run: {a,b} and {c,d}.
        let truth = assignment(&[("a", "X"), ("b", "X"), ("c", "X"), ("d", "Y")]);
        let run = assignment(&[("a", "1"), ("b", "1"), ("c", "2"), ("d", "2")]);
        let e = evaluate(&run, &truth);
        assert_eq!(
            (e.correct_pairs, e.predicted_pairs, e.true_pairs),
            (1, 2, 3)
        );
        assert!((e.pairwise.precision - 0.5).abs() < 1e-9);
        assert!((e.pairwise.recall - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(e.cluster.precision, 0.0);
        let perfect = evaluate(&truth, &truth);
        assert_eq!(perfect.pairwise.f1, 1.0);
        assert_eq!(perfect.cluster.f1, 1.0);
    }

    #[test]
    fn blocking_coverage_counts_true_pairs_among_candidates_key_by_key() {
        let truth = assignment(&[("a", "X"), ("b", "X"), ("c", "X"), ("d", "Y")]);
        let records: Vec<RecordKey> = ["a", "b", "c", "d"]
            .iter()
            .map(|r| ("s".to_string(), r.to_string()))
            .collect();
        // Key 0 pairs (0, 1) and (1, 3); key 1 pairs (0, 1) and (0, 2).
        let pairing = |i, j| match (i, j) {
            (0, 1) => vec![0, 1],
            (1, 3) => vec![0],
            (0, 2) => vec![1],
            _ => vec![],
        };
        let coverage = blocking_coverage(&records, 2, pairing, &truth);
        assert_eq!((coverage.covered, coverage.true_pairs), (2, 3));
        assert_eq!(coverage.by_key, vec![(1, 0), (2, 1)]);
    }

    #[test]
    fn records_the_run_did_not_publish_are_counted_apart() {
        let truth = assignment(&[("a", "X"), ("b", "X")]);
        let run = assignment(&[("a", "1")]);
        let e = evaluate(&run, &truth);
        assert_eq!((e.records, e.not_published), (1, 1));
    }
}
