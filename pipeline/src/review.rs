//! Clerical review: the queue of uncertain pairs a run leaves (`state_dir/review_queue.csv`) and the
//! decisions people record (in the state database; an older `state_dir/review_decisions.csv` is
//! imported once), applied as must-link / cannot-link in every later run. Records are named by
//! source and record id only, never by a child's name.

use std::path::{Path, PathBuf};

use regbridge_connectors::sink::csv::{write_csv, CsvWriteOptions};
use regbridge_connectors::sink::table::{Cell, Table};

use crate::linkage::{RecordKey, ReviewDecisions};
use crate::state::StateStore;

const QUEUE: &str = "review_queue.csv";
const DECISIONS: &str = "review_decisions.csv";

/// A review file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
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

/// The recorded decisions (none before the first).
pub fn read_decisions(store: &StateStore) -> Result<ReviewDecisions, ReviewError> {
    let mut decisions = ReviewDecisions::default();
    for (a, b, same) in store.review_decisions()? {
        if same {
            decisions.same.push((a, b));
        } else {
            decisions.different.push((a, b));
        }
    }
    Ok(decisions)
}

/// The decisions in a read-only look at the state database (none if nothing has run yet).
pub fn read_decisions_in(state_dir: &Path) -> Result<ReviewDecisions, ReviewError> {
    match StateStore::open_reader(state_dir)? {
        // Before the first writer has migrated it, an older database has no decisions table.
        Some(store) if store.schema_version()? >= 2 => read_decisions(&store),
        _ => Ok(ReviewDecisions::default()),
    }
}

/// Records a decision; a later decision on the same pair overrides an earlier one.
pub fn record_decision(
    store: &StateStore,
    a: &RecordKey,
    b: &RecordKey,
    decision: Decision,
    at: &str,
) -> Result<(), ReviewError> {
    Ok(store.record_decision(a, b, decision == Decision::Same, at)?)
}

/// Moves decisions from the `review_decisions.csv` of earlier versions into the state database, in
/// file order (so later rows win), and renames the file `review_decisions.csv.imported`.
pub fn import_decisions_file(store: &StateStore, state_dir: &Path) -> Result<usize, ReviewError> {
    let path = state_dir.join(DECISIONS);
    if !path.exists() {
        return Ok(0);
    }
    let mut imported = 0;
    for row in rows(&path)? {
        let (a, b) = (key(&row, 0, 1), key(&row, 2, 3));
        let same = match row.get(4).unwrap_or_default() {
            "same" => true,
            "different" => false,
            other => {
                return Err(ReviewError::File {
                    path,
                    message: format!("decision \"{other}\" is neither \"same\" nor \"different\""),
                })
            }
        };
        store.record_decision(&a, &b, same, row.get(5).unwrap_or_default())?;
        imported += 1;
    }
    let done = state_dir.join(format!("{DECISIONS}.imported"));
    std::fs::rename(&path, &done).map_err(|e| ReviewError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    tracing::info!(
        decisions = imported,
        "review decisions imported into the state database"
    );
    Ok(imported)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(source: &str, id: &str) -> RecordKey {
        (source.to_string(), id.to_string())
    }

    #[test]
    fn decisions_of_an_older_version_move_into_the_database_once_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DECISIONS),
            "source_a,record_a,source_b,record_b,decision,decided_at\n\
             police,P-1,csw,C-1,same,2026-01-01T00:00:00Z\n\
             police,P-2,csw,C-2,different,2026-01-02T00:00:00Z\n",
        )
        .unwrap();
        let store = StateStore::open_writer(dir.path(), "test").unwrap();
        assert_eq!(import_decisions_file(&store, dir.path()).unwrap(), 2);
        assert!(!dir.path().join(DECISIONS).exists());
        assert_eq!(import_decisions_file(&store, dir.path()).unwrap(), 0);
        // A later decision on the same pair, named the other way round, replaces the first.
        record_decision(
            &store,
            &key("csw", "C-1"),
            &key("police", "P-1"),
            Decision::Different,
            "2026-02-01T00:00:00Z",
        )
        .unwrap();
        let decisions = read_decisions(&store).unwrap();
        assert!(decisions.same.is_empty(), "{decisions:?}");
        assert_eq!(decisions.different.len(), 2);
    }
}
