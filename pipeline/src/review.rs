//! Clerical review: the queue of uncertain pairs a run leaves (`state_dir/review_queue.csv`) and the
//! decisions people record (`state_dir/review_decisions.csv`), applied as must-link / cannot-link in
//! every later run. Files name records by source and record id only, never by a child's name.

use std::path::{Path, PathBuf};

use regbridge_connectors::sink::csv::{write_csv, CsvWriteOptions};
use regbridge_connectors::sink::table::{Cell, Table};

use crate::linkage::{RecordKey, ReviewDecisions};

const QUEUE: &str = "review_queue.csv";
const DECISIONS: &str = "review_decisions.csv";

/// A review file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// An uncertain pair waiting for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedPair {
    pub probability: f64,
    pub a: RecordKey,
    pub b: RecordKey,
}

/// A person's decision on a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Same,
    Different,
}

fn rows(path: &Path) -> Result<Vec<csv::StringRecord>, ReviewError> {
    let fail = |e: csv::Error| ReviewError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut reader = csv::Reader::from_path(path).map_err(fail)?;
    reader.records().map(|r| r.map_err(fail)).collect()
}

fn key(row: &csv::StringRecord, source: usize, record: usize) -> RecordKey {
    (
        row.get(source).unwrap_or_default().to_string(),
        row.get(record).unwrap_or_default().to_string(),
    )
}

/// The recorded decisions (none when the file does not exist yet).
pub fn read_decisions(state_dir: &Path) -> Result<ReviewDecisions, ReviewError> {
    let path = state_dir.join(DECISIONS);
    let mut decisions = ReviewDecisions::default();
    if !path.exists() {
        return Ok(decisions);
    }
    for row in rows(&path)? {
        let pair = (key(&row, 0, 1), key(&row, 2, 3));
        match row.get(4).unwrap_or_default() {
            "same" => decisions.same.push(pair),
            "different" => decisions.different.push(pair),
            other => {
                return Err(ReviewError::File {
                    path,
                    message: format!("decision \"{other}\" is neither \"same\" nor \"different\""),
                })
            }
        }
    }
    Ok(decisions)
}

/// Appends a decision (a later decision on the same pair overrides an earlier one when read).
pub fn record_decision(
    state_dir: &Path,
    a: &RecordKey,
    b: &RecordKey,
    decision: Decision,
    at: &str,
) -> Result<(), ReviewError> {
    let path = state_dir.join(DECISIONS);
    let fail = |message: String| ReviewError::File {
        path: path.clone(),
        message,
    };
    let mut table = Table::new(
        "decisions",
        &[
            "source_a",
            "record_a",
            "source_b",
            "record_b",
            "decision",
            "decided_at",
        ],
    );
    if path.exists() {
        for row in rows(&path)? {
            table.rows.push(row.iter().map(Cell::text).collect());
        }
    }
    let word = match decision {
        Decision::Same => "same",
        Decision::Different => "different",
    };
    // The latest decision on a pair wins: drop earlier ones on the same pair (either order).
    let same_pair = |row: &Vec<Cell>| {
        let texts: Vec<String> = row.iter().map(Cell::to_text).collect();
        let (x, y) = (
            (texts[0].clone(), texts[1].clone()),
            (texts[2].clone(), texts[3].clone()),
        );
        (&x == a && &y == b) || (&x == b && &y == a)
    };
    table.rows.retain(|row| row.len() < 4 || !same_pair(row));
    table.rows.push(vec![
        Cell::text(a.0.clone()),
        Cell::text(a.1.clone()),
        Cell::text(b.0.clone()),
        Cell::text(b.1.clone()),
        Cell::text(word),
        Cell::text(at),
    ]);
    std::fs::create_dir_all(state_dir).map_err(|e| fail(e.to_string()))?;
    let staging = path.with_extension("csv.tmp");
    write_csv(&staging, &table, &CsvWriteOptions::default()).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&staging, &path).map_err(|e| fail(e.to_string()))
}

/// Writes the queue of the last run, most likely pairs first.
pub fn write_queue(state_dir: &Path, queue: &[QueuedPair]) -> Result<(), ReviewError> {
    let path = state_dir.join(QUEUE);
    let mut table = Table::new(
        "queue",
        &[
            "probability",
            "source_a",
            "record_a",
            "source_b",
            "record_b",
        ],
    );
    for pair in queue {
        table.rows.push(vec![
            Cell::text(format!("{:.4}", pair.probability)),
            Cell::text(pair.a.0.clone()),
            Cell::text(pair.a.1.clone()),
            Cell::text(pair.b.0.clone()),
            Cell::text(pair.b.1.clone()),
        ]);
    }
    let fail = |message: String| ReviewError::File {
        path: path.clone(),
        message,
    };
    std::fs::create_dir_all(state_dir).map_err(|e| fail(e.to_string()))?;
    let staging = path.with_extension("csv.tmp");
    write_csv(&staging, &table, &CsvWriteOptions::default()).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&staging, &path).map_err(|e| fail(e.to_string()))
}

/// The queue the last run left (empty before the first run).
pub fn read_queue(state_dir: &Path) -> Result<Vec<QueuedPair>, ReviewError> {
    let path = state_dir.join(QUEUE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(rows(&path)?
        .into_iter()
        .map(|row| QueuedPair {
            probability: row.get(0).and_then(|p| p.parse().ok()).unwrap_or(0.0),
            a: key(&row, 1, 2),
            b: key(&row, 3, 4),
        })
        .collect())
}
