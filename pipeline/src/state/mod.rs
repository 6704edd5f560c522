//! The durable state store: an embedded SQLite database in `state_dir` (runs, every input ever read
//! by sha256, the lifecycle of findings), a content-addressed archive of raw inputs beside it, and
//! the lock that lets one writer at a time use them; HTTP sources' records and pull positions are
//! in [`pulled`]. Migrations live in `pipeline/migrations/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::findings::Finding;

mod alerting;
mod pulled;

pub use alerting::{AlertCandidate, AlertItem, AlertKind, Attempt, FailedMail, PendingMail};
pub use pulled::{
    PageCounts, PassPage, PullHealth, PullPosition, PullRow, StoredRecord, Withdraw, Withdrawal,
};

/// Migrations in order; the database's `user_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_state.sql"),
    include_str!("../../migrations/0002_review_decisions.sql"),
    include_str!("../../migrations/0003_child_ids.sql"),
    include_str!("../../migrations/0004_alert_outbox.sql"),
    include_str!("../../migrations/0005_inputs_per_source.sql"),
    include_str!("../../migrations/0006_pulled_records.sql"),
    include_str!("../../migrations/0007_alerting.sql"),
    include_str!("../../migrations/0008_child_ids_compact.sql"),
];

/// File name of the database inside `state_dir`.
pub const DATABASE: &str = "state.sqlite";
/// File name of the writer lock inside `state_dir`.
const LOCK: &str = "regbridge.lock";

/// A state store that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{dir}: {what} ({holder}); wait for it to finish, or stop it")]
    Busy {
        dir: PathBuf,
        what: String,
        holder: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: the state database is at version {found}, newer than this regbridge knows ({known}); upgrade regbridge")]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
}

/// The state store, open for writing (holding the lock) or reading.
#[derive(Debug)]
pub struct StateStore {
    connection: Connection,
    dir: PathBuf,
    path: PathBuf,
    /// Held for as long as the store is open for writing; the lock goes with the file.
    _lock: Option<File>,
    /// Copies a large transaction's write-ahead log into the database while the run goes on (see
    /// [`StateStore::write_then_commit_if`]); waited for when the store closes.
    checkpoint: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StateStore {
    fn drop(&mut self) {
        if let Some(checkpoint) = self.checkpoint.take() {
            let _ = checkpoint.join();
        }
    }
}

/// The content-addressed archive of raw inputs (`archive/<2 hex>/<sha256>`): only a folder, so
/// files read on several threads are kept from each of them.
#[derive(Debug, Clone)]
pub struct ArchiveShelf {
    dir: PathBuf,
}

impl ArchiveShelf {
    /// Keeps a raw input once. The content is written under a name no other writer uses and then
    /// renamed into place, so two threads keeping the same content never see half of it.
    pub fn keep(&self, sha256: &str, bytes: &[u8]) -> Result<(), StateError> {
        static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let folder = self.dir.join(sha256.get(..2).unwrap_or("00"));
        let path = folder.join(sha256);
        if path.exists() {
            return Ok(());
        }
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(io)?;
        let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = folder.join(format!(".{sha256}.{}-{writer}.partial", std::process::id()));
        let kept = write_private(&partial, bytes).and_then(|()| std::fs::rename(&partial, &path));
        if kept.is_err() {
            // A raw export must not linger under a name nothing will write again.
            let _ = std::fs::remove_file(&partial);
        }
        kept.map_err(io)
    }
}

/// What a run's findings did to the open findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FindingChanges {
    /// Raised for the first time (or again after being resolved).
    pub new: usize,
    /// Raised before and again now.
    pub still_open: usize,
    /// Open before, not raised now by a source that delivered data: resolved.
    pub resolved: usize,
}

/// One run as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub kind: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub error: Option<String>,
}

/// A source's newest input, for freshness.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceInputs {
    pub source: String,
    /// Distinct inputs ever read.
    pub inputs: usize,
    /// When the newest distinct content was first read (RFC 3339).
    pub newest_first_seen_at: Option<String>,
    /// When any input was last read.
    pub last_seen_at: Option<String>,
}

/// A review decision as stored: the two records (source, record id) and whether they are one child.
pub type StoredDecision = ((String, String), (String, String), bool);

/// An input a run read, to be recorded.
#[derive(Debug, Clone)]
pub struct InputRecord<'a> {
    pub source: &'a str,
    pub file: &'a str,
    pub sha256: &'a str,
    pub bytes: usize,
    pub records: usize,
}

impl StateStore {
    /// Opens the store for writing: takes the writer lock (or says who holds it), creates the
    /// database if needed and applies pending migrations.
    pub fn open_writer(dir: &Path, holder: &str) -> Result<StateStore, StateError> {
        let busy = "another regbridge process is writing the state database";
        let lock = take_lock(dir, LOCK, holder, busy)?;
        // The database holds HTTP sources' raw records (names, dates of birth): owner-only, like the
        // archive. SQLite gives its -wal and -shm files the same permissions.
        let path = dir.join(DATABASE);
        if let Err(e) = keep_private(&path) {
            // Not ours to change (another user created it): say so, and carry on.
            tracing::warn!(path = %path.display(), error = %e, "cannot make the state database owner-only");
        }
        let mut store = StateStore::open_connection(dir)?;
        store.migrate()?;
        // Holding the lock, any run still marked as running was cut short (a killed process).
        store
            .connection
            .execute(
                "UPDATE runs SET outcome = 'abandoned', finished_at = ?1 WHERE outcome = 'running'",
                params![chrono::Utc::now().to_rfc3339()],
            )
            .map_err(store.db())?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Takes the daemon lock of `dir` (one daemon per state database) for as long as the returned
    /// file is kept.
    pub fn daemon_lock(dir: &Path) -> Result<File, StateError> {
        take_lock(
            dir,
            "daemon.lock",
            "regbridge daemon",
            "a regbridge daemon already runs on this state database",
        )
    }

    /// The newest run of `kind`: when it started (RFC 3339) and how it ended, if any ran.
    pub fn last_run_of(&self, kind: &str) -> Result<Option<(String, String)>, StateError> {
        let rows = self.query(
            "SELECT started_at, outcome FROM runs WHERE kind = ?1 \
             ORDER BY started_at DESC, run_id DESC LIMIT 1",
            params![kind],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.into_iter().next())
    }

    /// The schema version of the database (migrations applied).
    pub fn schema_version(&self) -> Result<usize, StateError> {
        self.version()
    }

    /// Opens the store for reading only (`status`), without the lock: SQLite lets readers in while
    /// a writer works. `None` when no run has created it yet.
    pub fn open_reader(dir: &Path) -> Result<Option<StateStore>, StateError> {
        if !dir.join(DATABASE).exists() {
            return Ok(None);
        }
        let store = StateStore::open_connection(dir)?;
        let version = store.version()?;
        if version > MIGRATIONS.len() {
            return Err(StateError::TooNew {
                path: store.path.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        // A database the first writer has created but not yet set up holds nothing to read.
        if version == 0 {
            return Ok(None);
        }
        Ok(Some(store))
    }

    fn open_connection(dir: &Path) -> Result<StateStore, StateError> {
        let path = dir.join(DATABASE);
        let db = |source| StateError::Database {
            path: path.clone(),
            source,
        };
        let connection = Connection::open(&path).map_err(db)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        // Write-ahead logging: readers never block the writer, and a crash never leaves a half-written
        // page behind.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        // A page cache of up to 64 MiB (SQLite's default is 2 MiB): remembering a million records'
        // identifiers otherwise spends most of its time evicting and rereading index pages.
        connection
            .pragma_update(None, "cache_size", -65_536)
            .map_err(db)?;
        Ok(StateStore {
            connection,
            dir: dir.to_path_buf(),
            path,
            _lock: None,
            checkpoint: None,
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        |source| StateError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `body` in one transaction, committed only if it succeeds.
    fn in_transaction<T>(
        &mut self,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let path = self.path.clone();
        let db = |source| StateError::Database { path, source };
        let run = |connection: &mut Connection| {
            let tx = connection.transaction()?;
            let out = body(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut self.connection).map_err(db)
    }

    /// The rows of a query, each mapped by `map`.
    fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StateError> {
        let mut statement = self.connection.prepare(sql).map_err(self.db())?;
        let rows = statement.query_map(params, map).map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }

    fn version(&self) -> Result<usize, StateError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.db())?;
        Ok(usize::try_from(version).unwrap_or(0))
    }

    /// Applies the migrations the database has not seen, each in its own transaction.
    fn migrate(&mut self) -> Result<(), StateError> {
        let version = self.version()?;
        if version > MIGRATIONS.len() {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            self.in_transaction(|tx| {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (index + 1) as i64)
            })?;
        }
        Ok(())
    }

    /// Records that a run started.
    pub fn begin_run(&self, run_id: &str, kind: &str, started_at: &str) -> Result<(), StateError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO runs (run_id, kind, started_at, outcome) VALUES (?1, ?2, ?3, 'running')",
                params![run_id, kind, started_at],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records how a run ended: `ok` with its summary, or `failed` with the error.
    pub fn finish_run(
        &self,
        run_id: &str,
        finished_at: &str,
        outcome: Result<&str, &str>,
    ) -> Result<(), StateError> {
        let (outcome, summary, error) = match outcome {
            Ok(summary) => ("ok", Some(summary), None),
            Err(error) => ("failed", None, Some(error)),
        };
        self.connection
            .execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3, summary = ?4, error = ?5 WHERE run_id = ?1",
                params![run_id, finished_at, outcome, summary, error],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records the inputs a run read: new content is added (and archived by the caller), content
    /// seen before only has its last sighting updated. Returns how many were new.
    pub fn record_inputs(
        &mut self,
        run_id: &str,
        at: &str,
        inputs: &[InputRecord<'_>],
    ) -> Result<usize, StateError> {
        self.in_transaction(|tx| {
        let mut new = 0;
        for input in inputs {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO inputs (sha256, source, first_file, bytes, records, first_run, \
                     first_seen_at, last_run, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?7)",
                    params![
                        input.sha256,
                        input.source,
                        input.file,
                        input.bytes as i64,
                        input.records as i64,
                        run_id,
                        at
                    ],
                )
                ?;
            if inserted == 0 {
                tx.execute(
                    "UPDATE inputs SET last_run = ?3, last_seen_at = ?4 WHERE source = ?1 AND sha256 = ?2",
                    params![input.source, input.sha256, run_id, at],
                )
                ?;
            } else {
                new += 1;
            }
        }
        Ok(new)
        })
    }

    /// Keeps a raw input in the content-addressed archive (`archive/<2 hex>/<sha256>`), once.
    pub fn archive(&self, sha256: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.archive_shelf().keep(sha256, bytes)
    }

    /// The archive of raw inputs, to keep inputs in from any thread.
    pub fn archive_shelf(&self) -> ArchiveShelf {
        ArchiveShelf {
            dir: self.dir.join("archive"),
        }
    }

    /// Brings the findings' lifecycle up to date with a run: findings raised now are opened (or kept
    /// open); open findings of the `delivered` sources that the run did not raise are resolved.
    /// Sources that delivered nothing keep their findings open.
    pub fn update_findings(
        &mut self,
        run_id: &str,
        at: &str,
        findings: &[Finding],
        delivered: &[String],
    ) -> Result<FindingChanges, StateError> {
        let seen = FindingsSeen {
            at,
            findings,
            delivered,
        };
        self.in_transaction(|tx| write_findings(tx, run_id, &seen))
    }

    /// The newest runs, newest first.
    pub fn last_runs(&self, limit: usize) -> Result<Vec<RunRow>, StateError> {
        self.query(
            "SELECT run_id, kind, started_at, finished_at, outcome, error FROM runs \
             ORDER BY started_at DESC, run_id DESC LIMIT ?1",
            params![limit as i64],
            |row| {
                Ok(RunRow {
                    run_id: row.get(0)?,
                    kind: row.get(1)?,
                    started_at: row.get(2)?,
                    finished_at: row.get(3)?,
                    outcome: row.get(4)?,
                    error: row.get(5)?,
                })
            },
        )
    }

    /// Open findings per institution and severity.
    pub fn open_findings(&self) -> Result<BTreeMap<String, BTreeMap<String, usize>>, StateError> {
        let rows = self.query(
            "SELECT institution, severity, COUNT(*) FROM findings WHERE resolved_at IS NULL \
             GROUP BY institution, severity",
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        )?;
        let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (institution, severity, n) in rows {
            out.entry(institution)
                .or_default()
                .insert(severity, usize::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Findings resolved so far, per institution.
    pub fn resolved_findings(&self) -> Result<BTreeMap<String, usize>, StateError> {
        let rows = self.query(
            "SELECT institution, COUNT(*) FROM findings WHERE resolved_at IS NOT NULL \
             GROUP BY institution",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        Ok(rows
            .into_iter()
            .map(|(institution, n)| (institution, usize::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Each source's inputs: how many distinct contents, when the newest first arrived.
    pub fn source_inputs(&self) -> Result<Vec<SourceInputs>, StateError> {
        self.query(
            "SELECT source, COUNT(*), MAX(first_seen_at), MAX(last_seen_at) FROM inputs \
             GROUP BY source ORDER BY source",
            [],
            |row| {
                Ok(SourceInputs {
                    source: row.get(0)?,
                    inputs: usize::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    newest_first_seen_at: row.get(2)?,
                    last_seen_at: row.get(3)?,
                })
            },
        )
    }

    /// Records a clerical review decision on a pair (`same` or `different`); a later decision on
    /// the same pair, in either order, replaces it.
    pub fn record_decision(
        &self,
        a: &(String, String),
        b: &(String, String),
        same: bool,
        at: &str,
    ) -> Result<(), StateError> {
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        self.connection
            .execute(
                "INSERT OR REPLACE INTO review_decisions (source_a, record_a, source_b, record_b, \
                 decision, decided_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    x.0,
                    x.1,
                    y.0,
                    y.1,
                    if same { "same" } else { "different" },
                    at
                ],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Every review decision, as (a, b, same?), in a fixed order.
    pub fn review_decisions(&self) -> Result<Vec<StoredDecision>, StateError> {
        self.query(
            "SELECT source_a, record_a, source_b, record_b, decision FROM review_decisions \
             ORDER BY source_a, record_a, source_b, record_b",
            [],
            |row| {
                Ok((
                    (row.get(0)?, row.get(1)?),
                    (row.get(2)?, row.get(3)?),
                    row.get::<_, String>(4)? == "same",
                ))
            },
        )
    }

    /// The child identifier each record had when last seen.
    pub fn child_ids(&self) -> Result<BTreeMap<(String, String), String>, StateError> {
        let rows = self.query(
            "SELECT source, record_id, child_id FROM child_ids",
            [],
            |row| Ok(((row.get(0)?, row.get(1)?), row.get(2)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Remembers this run's identifiers (records not seen keep theirs) and its merges and splits,
    /// in one transaction.
    pub fn remember_child_ids<S: AsRef<str>>(
        &mut self,
        run_id: &str,
        assigned: &[((S, S), S)],
        changes: &[(&str, &str, &[String])],
    ) -> Result<(), StateError> {
        self.remember_child_ids_if(run_id, assigned, changes, || true)
            .map(|_| ())
    }

    /// [`StateStore::remember_child_ids`], committed only if `confirmed`, asked once everything is
    /// written, says so (otherwise rolled back): a run writes the identifiers while its release is
    /// still being written, and keeps them only if the release gets into place. Whether they were
    /// kept.
    ///
    /// Rows are written in key order, so the primary key's index grows at its end instead of being
    /// rewritten all over.
    pub fn remember_child_ids_if<S: AsRef<str>>(
        &mut self,
        run_id: &str,
        assigned: &[((S, S), S)],
        changes: &[(&str, &str, &[String])],
        confirmed: impl FnOnce() -> bool,
    ) -> Result<bool, StateError> {
        let kept = self.write_then_commit_if(
            |tx| write_child_ids(tx, run_id, assigned, changes),
            confirmed,
        )?;
        Ok(kept.is_some())
    }

    /// [`StateStore::remember_child_ids_if`] and [`StateStore::update_findings`] in one
    /// transaction, committed only if `confirmed`: a run brings its findings up to date while its
    /// release is being written, and only if the release gets into place. What the findings did,
    /// if kept.
    pub fn remember_run_if<S: AsRef<str>>(
        &mut self,
        run_id: &str,
        assigned: &[((S, S), S)],
        changes: &[(&str, &str, &[String])],
        findings: &FindingsSeen<'_>,
        confirmed: impl FnOnce() -> bool,
    ) -> Result<Option<FindingChanges>, StateError> {
        self.write_then_commit_if(
            |tx| {
                write_child_ids(tx, run_id, assigned, changes)?;
                let begun = std::time::Instant::now();
                let updated = write_findings(tx, run_id, findings)?;
                tracing::debug!(
                    elapsed_ms = begun.elapsed().as_millis() as u64,
                    "findings updated"
                );
                Ok(updated)
            },
            confirmed,
        )
    }

    /// Runs `write` in a transaction, then commits it if `confirmed` says so and returns what
    /// `write` gave, or rolls it back and returns `None`.
    fn write_then_commit_if<T>(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
        confirmed: impl FnOnce() -> bool,
    ) -> Result<Option<T>, StateError> {
        let path = self.path.clone();
        let db = |source| StateError::Database { path, source };
        // This transaction is large (a million identifiers write about 190 MB of log): its commit
        // does not copy the log into the database (SQLite's automatic checkpoint); another
        // connection does, on another thread, while the run goes on.
        let run = |connection: &mut Connection| {
            connection.pragma_update(None, "wal_autocheckpoint", 0)?;
            let tx = connection.transaction()?;
            let written = write(&tx)?;
            if confirmed() {
                let begun = std::time::Instant::now();
                tx.commit()?;
                tracing::debug!(
                    commit_ms = begun.elapsed().as_millis() as u64,
                    "state committed"
                );
                Ok(Some(written))
            } else {
                tx.rollback()?;
                Ok(None)
            }
        };
        let result = run(&mut self.connection);
        let restored =
            self.connection
                .pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES);
        if matches!(result, Ok(Some(_))) {
            self.checkpoint_beside();
        }
        let written = result.map_err(db.clone())?;
        restored.map_err(db)?;
        Ok(written)
    }

    /// Starts copying the write-ahead log into the database on another thread, with a connection of
    /// its own (a passive checkpoint: it never blocks this connection's readers or writer, and this
    /// connection's own automatic checkpoints give way to it meanwhile). A checkpoint that fails
    /// leaves the log as it was, for the next one.
    fn checkpoint_beside(&mut self) {
        if let Some(earlier) = self.checkpoint.take() {
            let _ = earlier.join();
        }
        let path = self.path.clone();
        self.checkpoint = Some(std::thread::spawn(move || {
            let begun = std::time::Instant::now();
            let checkpointed = Connection::open(&path).and_then(|c| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    row.get::<_, i64>(0)
                })
            });
            match checkpointed {
                Ok(_) => tracing::debug!(
                    elapsed_ms = begun.elapsed().as_millis() as u64,
                    "state checkpointed"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the state database's log was not checkpointed; the next write will")
                }
            }
        }));
    }

    /// Checks the database file (`PRAGMA integrity_check`): `ok` or SQLite's list of problems.
    pub fn integrity(&self) -> Result<String, StateError> {
        self.connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(self.db())
    }
}

/// SQLite's default: a commit checkpoints once the write-ahead log holds this many pages.
const AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Writes a run's identifiers in key order (so that the primary key's index grows at its end
/// instead of being rewritten all over) and its merges and splits.
fn write_child_ids<S: AsRef<str>>(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    assigned: &[((S, S), S)],
    changes: &[(&str, &str, &[String])],
) -> rusqlite::Result<()> {
    let mut rows: Vec<(&str, &str, &str)> = assigned
        .iter()
        .map(|((source, record), child)| (source.as_ref(), record.as_ref(), child.as_ref()))
        .collect();
    // A stable sort: of two rows for the same record (a record id given twice), the later still
    // wins, as it did when rows were written in the caller's order.
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let begun = std::time::Instant::now();
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO child_ids (source, record_id, child_id, run_id) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (source, record, child) in rows {
        insert.execute(params![source, record, child, run_id])?;
    }
    for (change, child, others) in changes {
        let others = serde_json::to_string(others).unwrap_or_default();
        tx.execute(
            "INSERT OR REPLACE INTO child_id_changes (run_id, change, child_id, others) \
             VALUES (?1, ?2, ?3, ?4)",
            params![run_id, change, child, others],
        )?;
    }
    tracing::debug!(
        elapsed_ms = begun.elapsed().as_millis() as u64,
        rows = assigned.len(),
        "child identifiers written"
    );
    Ok(())
}

/// What a run's findings are brought up to date with (see [`StateStore::update_findings`]).
#[derive(Debug, Clone, Copy)]
pub struct FindingsSeen<'a> {
    /// When (RFC 3339).
    pub at: &'a str,
    /// Every finding the run raised.
    pub findings: &'a [Finding],
    /// The sources that delivered data this time: their open findings not raised now are resolved.
    pub delivered: &'a [String],
}

/// [`StateStore::update_findings`] within `tx`.
fn write_findings(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    seen: &FindingsSeen<'_>,
) -> rusqlite::Result<FindingChanges> {
    let (at, delivered) = (seen.at, seen.delivered);
    let raised: BTreeMap<String, &Finding> =
        seen.findings.iter().map(|f| (finding_key(f), f)).collect();
    let mut changes = FindingChanges::default();
    let mut state_of = tx.prepare_cached(
        "SELECT resolved_at, announced_at IS NOT NULL AND resolution_announced_at IS NULL \
         FROM findings WHERE key = ?1",
    )?;
    let mut seen_again = tx.prepare_cached(
        "UPDATE findings SET last_run = ?2, last_seen_at = ?3, finding = ?4 WHERE key = ?1",
    )?;
    let mut reopen = tx.prepare_cached(
        "UPDATE findings SET resolved_run = NULL, resolved_at = NULL, last_run = ?2, \
         last_seen_at = ?3, finding = ?4 WHERE key = ?1",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO findings (key, institution, source, rule, severity, \
         record_id, field, first_run, first_seen_at, last_run, last_seen_at, \
         resolved_run, resolved_at, finding) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9, NULL, NULL, ?10)",
    )?;
    for (key, f) in &raised {
        // Whether the finding is known: open (no resolution), or resolved and whether
        // anyone was told it had been found but not yet that it went.
        let known: Option<(Option<String>, bool)> = state_of
            .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match known {
            Some((None, _)) => {
                changes.still_open += 1;
                seen_again.execute(params![key, run_id, at, finding_json(f)])?;
            }
            Some((Some(_), true)) => {
                // Back before anyone was told it had gone: the same finding, still open, its
                // history (first seen, told) kept.
                changes.new += 1;
                reopen.execute(params![key, run_id, at, finding_json(f)])?;
            }
            _ => {
                changes.new += 1;
                insert.execute(params![
                    key,
                    f.institution,
                    f.source,
                    f.rule,
                    f.severity.as_str(),
                    f.record_id,
                    f.field,
                    run_id,
                    at,
                    finding_json(f)
                ])?;
            }
        }
    }
    let mut open_of =
        tx.prepare_cached("SELECT key FROM findings WHERE source = ?1 AND resolved_at IS NULL")?;
    let mut resolve = tx
        .prepare_cached("UPDATE findings SET resolved_run = ?2, resolved_at = ?3 WHERE key = ?1")?;
    for source in delivered {
        let open: Vec<String> = open_of
            .query_map(params![source], |row| row.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        for key in open.iter().filter(|k| !raised.contains_key(*k)) {
            resolve.execute(params![key, run_id, at])?;
            changes.resolved += 1;
        }
    }
    Ok(changes)
}

/// Takes the exclusive lock `name` in `dir` and writes `holder` into it, for as long as the returned
/// file is kept; when another process holds it, says who (`busy` explains what that means).
fn take_lock(dir: &Path, name: &str, holder: &str, busy: &str) -> Result<File, StateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StateError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(name);
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            // The holder wrote who it is; an unreadable note still leaves a clear message.
            let _ = lock.read_to_string(&mut text);
            let who = text.trim();
            return Err(StateError::Busy {
                dir: dir.to_path_buf(),
                what: busy.to_string(),
                holder: if who.is_empty() {
                    "a process that did not say which".to_string()
                } else {
                    who.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    lock.set_len(0).map_err(io(&path))?;
    writeln!(lock, "{holder}, pid {}", std::process::id()).map_err(io(&path))?;
    Ok(lock)
}

/// Writes a file only its owner can read: raw exports hold children's names.
#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `path` readable by its owner only, or takes group and other access away from it.
#[cfg(unix)]
fn keep_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        return Ok(());
    }
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn keep_private(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A finding's identity across runs: a record's finding follows the record (source and record id),
/// wherever the corrected export puts it; any other finding (about a file, or a row without an id)
/// is the source's problem of that rule and field, whatever this month's file is called.
/// The finding as stored for digests (rule, record reference, field, detail; never a value), with
/// its place in the file so that digests list records in file order.
fn finding_json(f: &Finding) -> String {
    let mut value = serde_json::to_value(f).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("ordinal".to_string(), serde_json::Value::from(f.ordinal));
    }
    value.to_string()
}

fn finding_key(f: &Finding) -> String {
    let field = f.field.as_deref().unwrap_or("");
    let at_record = ["row ", "line ", "/", "record "]
        .iter()
        .any(|p| f.location.starts_with(p));
    match &f.record_id {
        Some(id) => format!(
            "record\u{1f}{}\u{1f}{id}\u{1f}{}\u{1f}{field}",
            f.source, f.rule
        ),
        // A record without its id (an unreadable row, a missing case number): known only by its
        // place, so that forty such rows are forty findings, not one.
        None if at_record => format!(
            "place\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{field}",
            f.source, f.file, f.location, f.rule
        ),
        None => format!("source\u{1f}{}\u{1f}{}\u{1f}{field}", f.source, f.rule),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::findings::{Dimension, Severity};

    fn finding(source: &str, record: &str, rule: &str) -> Finding {
        Finding {
            institution: source.to_string(),
            source: source.to_string(),
            file: "export.csv".into(),
            ordinal: 1,
            location: "row 2".into(),
            record_id: Some(record.to_string()),
            rule: rule.to_string(),
            severity: Severity::Error,
            dimension: Dimension::Validity,
            field: Some("birth_date".into()),
            detail: None,
            child_id: None,
        }
    }

    #[test]
    #[cfg(unix)]
    fn the_database_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE);
        // An older database left readable by everyone is tightened too.
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = StateStore::open_writer(dir.path(), "test").unwrap();
        store.begin_run("r1", "run", "t0").unwrap();
        for name in [DATABASE, "state.sqlite-wal"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name}: {mode:o}");
        }
    }

    #[test]
    fn a_second_writer_is_told_who_holds_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateStore::open_writer(dir.path(), "regbridge run").unwrap();
        let second = StateStore::open_writer(dir.path(), "regbridge run").unwrap_err();
        assert!(
            matches!(&second, StateError::Busy { holder, .. } if holder.contains("regbridge run")),
            "{second}"
        );
        // Readers are let in meanwhile.
        assert!(StateStore::open_reader(dir.path()).unwrap().is_some());
        drop(first);
        assert!(StateStore::open_writer(dir.path(), "regbridge run").is_ok());
    }

    #[test]
    fn migrations_apply_once_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open_writer(dir.path(), "test").unwrap());
        let store = StateStore::open_writer(dir.path(), "test").unwrap();
        assert_eq!(store.version().unwrap(), MIGRATIONS.len());
        store
            .connection
            .pragma_update(None, "user_version", (MIGRATIONS.len() + 1) as i64)
            .unwrap();
        drop(store);
        let error = StateStore::open_writer(dir.path(), "test").unwrap_err();
        assert!(matches!(error, StateError::TooNew { .. }), "{error}");
    }

    /// A database of version 7 keeps every record's identifier when child_ids is rebuilt as one tree.
    #[test]
    fn identifiers_survive_the_compact_child_ids_migration() {
        let dir = tempfile::tempdir().unwrap();
        {
            let connection = Connection::open(dir.path().join(DATABASE)).unwrap();
            for sql in &MIGRATIONS[..7] {
                connection.execute_batch(sql).unwrap();
            }
            connection.pragma_update(None, "user_version", 7).unwrap();
            connection
                .execute_batch(
                    "INSERT INTO child_ids VALUES ('police', 'P-1', 'K-a', 'r1'), \
                     ('csw', 'C-9', 'K-b', 'r2'), ('police', 'P-2', 'K-a', 'r2');",
                )
                .unwrap();
        }
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        assert_eq!(store.version().unwrap(), MIGRATIONS.len());
        let schema: Vec<String> = store
            .query(
                "SELECT name || ': ' || sql FROM sqlite_schema WHERE tbl_name = 'child_ids'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(schema.len(), 1, "one tree, no index beside it: {schema:?}");
        assert!(schema[0].ends_with("WITHOUT ROWID"), "{schema:?}");
        let ids = store.child_ids().unwrap();
        let expected: BTreeMap<(String, String), String> = [
            (("csw", "C-9"), "K-b"),
            (("police", "P-1"), "K-a"),
            (("police", "P-2"), "K-a"),
        ]
        .into_iter()
        .map(|((s, r), c)| ((s.to_string(), r.to_string()), c.to_string()))
        .collect();
        assert_eq!(ids, expected);
        // Still one row per record: a record seen again takes its new identifier.
        let again = [(("police", "P-1"), "K-c")];
        store.remember_child_ids("r3", &again, &[]).unwrap();
        assert_eq!(store.child_ids().unwrap().len(), 3);
        assert_eq!(
            store.child_ids().unwrap()[&("police".to_string(), "P-1".to_string())],
            "K-c"
        );
    }

    #[test]
    fn the_same_content_is_recorded_once_and_archived_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        let input = InputRecord {
            source: "police",
            file: "a.csv",
            sha256: "ab12",
            bytes: 3,
            records: 1,
        };
        assert_eq!(
            store
                .record_inputs("r1", "t1", std::slice::from_ref(&input))
                .unwrap(),
            1
        );
        let renamed = InputRecord {
            file: "b.csv",
            ..input.clone()
        };
        assert_eq!(store.record_inputs("r2", "t2", &[renamed]).unwrap(), 0);
        // The same bytes from another institution are that institution's delivery.
        let elsewhere = InputRecord {
            source: "csw",
            ..input.clone()
        };
        assert_eq!(store.record_inputs("r2", "t2", &[elsewhere]).unwrap(), 1);
        let sources = store.source_inputs().unwrap();
        assert_eq!(sources.len(), 2);
        let sources: Vec<_> = sources
            .into_iter()
            .filter(|s| s.source == "police")
            .collect();
        assert_eq!(sources[0].inputs, 1);
        assert_eq!(sources[0].newest_first_seen_at.as_deref(), Some("t1"));
        assert_eq!(sources[0].last_seen_at.as_deref(), Some("t2"));
        store.archive("ab12", b"abc").unwrap();
        store.archive("ab12", b"abc").unwrap();
        let kept = dir.path().join("archive/ab/ab12");
        assert_eq!(std::fs::read(&kept).unwrap(), b"abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "raw exports are readable by their owner only"
            );
        }
    }

    #[test]
    fn identifiers_of_records_not_seen_again_are_kept_and_changes_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        let record = |s: &str, r: &str| (s.to_string(), r.to_string());
        let first = [
            (record("police", "P-1"), "K-a".to_string()),
            (record("csw", "C-1"), "K-a".to_string()),
        ];
        store.remember_child_ids("r1", &first, &[]).unwrap();
        let merged = ["K-b".to_string()];
        let second = [(record("police", "P-1"), "K-c".to_string())];
        store
            .remember_child_ids("r2", &second, &[("merged", "K-c", &merged[..])])
            .unwrap();
        let ids = store.child_ids().unwrap();
        assert_eq!(ids[&record("police", "P-1")], "K-c");
        assert_eq!(ids[&record("csw", "C-1")], "K-a", "not seen in r2: kept");
        let changes: i64 = store
            .connection
            .query_row("SELECT COUNT(*) FROM child_id_changes", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(changes, 1);
    }

    #[test]
    fn identifiers_are_kept_only_when_confirmed_and_the_later_of_two_rows_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        let rows = [
            (("police", "P-2"), "K-b"),
            (("police", "P-1"), "K-z"),
            (("csw", "C-1"), "K-c"),
            (("police", "P-1"), "K-a"),
        ];
        let merged = ["K-y".to_string()];
        let kept = store
            .remember_child_ids_if("r1", &rows, &[("merged", "K-a", &merged[..])], || false)
            .unwrap();
        assert!(!kept);
        assert!(store.child_ids().unwrap().is_empty(), "rolled back");
        let kept = store
            .remember_child_ids_if("r1", &rows, &[], || true)
            .unwrap();
        assert!(kept);
        let ids = store.child_ids().unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[&("police".to_string(), "P-1".to_string())], "K-a");
        assert_eq!(ids[&("police".to_string(), "P-2".to_string())], "K-b");
        let changes: i64 = store
            .connection
            .query_row("SELECT COUNT(*) FROM child_id_changes", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(changes, 0, "the unconfirmed merge was rolled back");
    }

    #[test]
    fn findings_open_stay_open_and_resolve_when_a_delivering_source_stops_raising_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        let police = vec!["police".to_string()];
        let first = [
            finding("police", "P-1", "birth_date.valid"),
            finding("police", "P-2", "birth_date.valid"),
            finding("csw", "C-1", "birth_date.valid"),
        ];
        let changes = store
            .update_findings("r1", "t1", &first, &["police".into(), "csw".into()])
            .unwrap();
        assert_eq!(changes.new, 3);
        // The police corrected P-1; the social-work office delivered nothing this time.
        let second = [finding("police", "P-2", "birth_date.valid")];
        let changes = store.update_findings("r2", "t2", &second, &police).unwrap();
        assert_eq!(
            changes,
            FindingChanges {
                new: 0,
                still_open: 1,
                resolved: 1
            }
        );
        let open = store.open_findings().unwrap();
        assert_eq!(open["police"]["error"], 1);
        assert_eq!(open["csw"]["error"], 1);
        assert_eq!(store.resolved_findings().unwrap()["police"], 1);
        // Raised again later: open again.
        let changes = store
            .update_findings("r3", "t3", &first[..1], &police)
            .unwrap();
        assert_eq!(changes.new, 1);
        assert_eq!(store.integrity().unwrap(), "ok");
    }

    #[test]
    fn a_run_keeps_its_identifiers_and_findings_together_or_neither() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
        let rows = [(("police", "P-1"), "K-a")];
        let raised = [finding("police", "P-1", "birth_date.valid")];
        let delivered = ["police".to_string()];
        let seen = FindingsSeen {
            at: "t1",
            findings: &raised,
            delivered: &delivered,
        };
        // The release did not get into place: nothing of the run is kept.
        let kept = store
            .remember_run_if("r1", &rows, &[], &seen, || false)
            .unwrap();
        assert_eq!(kept, None);
        assert!(store.child_ids().unwrap().is_empty());
        assert!(store.open_findings().unwrap().is_empty());
        // It did: both are kept, and the findings' changes are those update_findings gives.
        let kept = store
            .remember_run_if("r1", &rows, &[], &seen, || true)
            .unwrap();
        assert_eq!(
            kept,
            Some(FindingChanges {
                new: 1,
                still_open: 0,
                resolved: 0
            })
        );
        assert_eq!(store.child_ids().unwrap().len(), 1);
        assert_eq!(store.open_findings().unwrap()["police"]["error"], 1);
    }

    #[test]
    fn a_large_commit_is_copied_into_the_database_beside_the_run_and_nothing_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<((String, String), String)> = (0..20_000)
            .map(|k| (("police".into(), format!("P-{k}")), format!("K-{k}")))
            .collect();
        let wal = dir.path().join("state.sqlite-wal");
        {
            let mut store = StateStore::open_writer(dir.path(), "test").unwrap();
            let seen = FindingsSeen {
                at: "t1",
                findings: &[],
                delivered: &[],
            };
            store
                .remember_run_if("r1", &ids, &[], &seen, || true)
                .unwrap();
            // The store goes on writing while the log is copied.
            store.begin_run("r2", "run", "t2").unwrap();
            assert_eq!(store.child_ids().unwrap().len(), 20_000);
        }
        // Closed: the copy was waited for and the log folded into the database.
        assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0));
        let store = StateStore::open_writer(dir.path(), "test").unwrap();
        assert_eq!(store.child_ids().unwrap().len(), 20_000);
        assert_eq!(store.integrity().unwrap(), "ok");
    }
}
