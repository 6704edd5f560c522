//! HTTP sources in the state database: their records (one version per key), where each source's
//! pull stands (incremental cursor, checkpoint of an interrupted pass) and the history of pulls.
//! A page's records and its checkpoint are written in one transaction, so a crash never leaves a
//! checkpoint past records that are not stored.

use regbridge_connectors::source::http::{Checkpoint, Page};
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

use super::{StateError, StateStore};

/// Where a source's pulls stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullPosition {
    /// The incremental value for the next pass.
    pub watermark: Option<String>,
    /// The interrupted pass, if any: its id, whether it is a full pass, and where it resumes.
    pub pass: Option<String>,
    pub pass_full: bool,
    pub checkpoint: Option<Checkpoint>,
}

/// A record of an HTTP source as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub key: String,
    pub fields: Map<String, Value>,
    pub problems: Vec<String>,
}

/// What storing a page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Keys not stored before.
    pub new: usize,
    /// Keys stored before with other content.
    pub changed: usize,
}

/// Which page a pass is storing, and as part of what.
#[derive(Debug, Clone, Copy)]
pub struct PassPage<'a> {
    pub source: &'a str,
    pub pass: &'a str,
    pub full: bool,
    pub at: &'a str,
}

/// One pull, for the history.
#[derive(Debug, Clone, Default)]
pub struct PullRow {
    pub run_id: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: String,
    pub ok: bool,
    pub pages: u32,
    pub records: usize,
    pub new_records: usize,
    pub changed_records: usize,
    pub withdrawn: usize,
    pub error: Option<String>,
}

/// How a source's pulls have gone lately.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullHealth {
    pub source: String,
    pub last_pull_at: String,
    pub last_ok_at: Option<String>,
    /// The last pull's error, if it failed.
    pub last_error: Option<String>,
    /// Failed pulls since the last one that succeeded.
    pub consecutive_failures: usize,
    pub records: usize,
}

impl StateStore {
    /// Where `source`'s pulls stand (nothing yet: all empty).
    pub fn pull_position(&self, source: &str) -> Result<PullPosition, StateError> {
        let row = self
            .connection
            .query_row(
                "SELECT watermark, pass, pass_full, checkpoint FROM pull_positions WHERE source = ?1",
                params![source],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db())?;
        let Some((watermark, pass, pass_full, checkpoint)) = row else {
            return Ok(PullPosition::default());
        };
        // A checkpoint that no longer reads (written by another version) means starting over.
        let checkpoint = checkpoint.and_then(|c| serde_json::from_str(&c).ok());
        Ok(PullPosition {
            watermark,
            pass: pass.filter(|_| checkpoint.is_some()),
            pass_full,
            checkpoint,
        })
    }

    /// Stores a page's records (a key seen before is replaced) and its checkpoint, together.
    pub fn store_page(&mut self, at: PassPage<'_>, page: &Page) -> Result<PageCounts, StateError> {
        let checkpoint = page
            .checkpoint
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok());
        self.in_transaction(|tx| {
            let mut counts = PageCounts::default();
            for record in &page.records {
                let fields = serde_json::to_string(&record.fields).unwrap_or_default();
                let problems = serde_json::to_string(&record.problems).unwrap_or_default();
                let sha256 = regbridge_connectors::source::sha256_hex(fields.as_bytes());
                let before: Option<String> = tx
                    .query_row(
                        "SELECT sha256 FROM pulled_records WHERE source = ?1 AND key = ?2",
                        params![at.source, record.key],
                        |row| row.get(0),
                    )
                    .optional()?;
                match before {
                    None => counts.new += 1,
                    Some(old) if old != sha256 => counts.changed += 1,
                    Some(_) => {}
                }
                tx.execute(
                    "INSERT INTO pulled_records (source, key, fields, problems, sha256, pass, \
                     first_pulled_at, changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
                     ON CONFLICT (source, key) DO UPDATE SET fields = excluded.fields, \
                     problems = excluded.problems, pass = excluded.pass, \
                     changed_at = CASE WHEN sha256 = excluded.sha256 THEN changed_at \
                     ELSE excluded.changed_at END, sha256 = excluded.sha256",
                    params![at.source, record.key, fields, problems, sha256, at.pass, at.at],
                )?;
            }
            tx.execute(
                "INSERT INTO pull_positions (source, watermark, pass, pass_full, checkpoint, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (source) DO UPDATE SET \
                 watermark = COALESCE(excluded.watermark, watermark), pass = excluded.pass, \
                 pass_full = excluded.pass_full, checkpoint = excluded.checkpoint, \
                 updated_at = excluded.updated_at",
                params![
                    at.source,
                    page.safe_watermark,
                    at.pass,
                    at.full,
                    checkpoint,
                    at.at
                ],
            )?;
            Ok(counts)
        })
    }

    /// Ends a complete pass: the cursor moves to `watermark` and the checkpoint is cleared. After a
    /// full pass, records the API no longer has (not delivered by this pass) are withdrawn, unless
    /// the pass delivered nothing at all (an API answering empty by mistake must not wipe the
    /// source). Returns how many were withdrawn.
    pub fn finish_pass(
        &mut self,
        at: PassPage<'_>,
        watermark: Option<&str>,
    ) -> Result<usize, StateError> {
        self.in_transaction(|tx| {
            tx.execute(
                "INSERT INTO pull_positions (source, watermark, pass, pass_full, checkpoint, updated_at) \
                 VALUES (?1, ?2, NULL, 0, NULL, ?3) \
                 ON CONFLICT (source) DO UPDATE SET watermark = excluded.watermark, pass = NULL, \
                 pass_full = 0, checkpoint = NULL, updated_at = excluded.updated_at",
                params![at.source, watermark, at.at],
            )?;
            if !at.full {
                return Ok(0);
            }
            let delivered: i64 = tx.query_row(
                "SELECT COUNT(*) FROM pulled_records WHERE source = ?1 AND pass = ?2",
                params![at.source, at.pass],
                |row| row.get(0),
            )?;
            if delivered == 0 {
                return Ok(0);
            }
            tx.execute(
                "DELETE FROM pulled_records WHERE source = ?1 AND pass <> ?2",
                params![at.source, at.pass],
            )
        })
    }

    /// Adds a pull to the history.
    pub fn record_pull(&self, pull: &PullRow) -> Result<(), StateError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO pulls (run_id, source, started_at, finished_at, ok, pages, \
                 records, new_records, changed_records, withdrawn, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    pull.run_id,
                    pull.source,
                    pull.started_at,
                    pull.finished_at,
                    pull.ok,
                    pull.pages,
                    pull.records as i64,
                    pull.new_records as i64,
                    pull.changed_records as i64,
                    pull.withdrawn as i64,
                    pull.error
                ],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The stored records of an HTTP source, by key.
    pub fn pulled_records(&self, source: &str) -> Result<Vec<StoredRecord>, StateError> {
        let rows = self.query(
            "SELECT key, fields, problems FROM pulled_records WHERE source = ?1 ORDER BY key",
            params![source],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
        )?;
        Ok(rows
            .into_iter()
            .map(|(key, fields, problems)| StoredRecord {
                key,
                fields: serde_json::from_str(&fields).unwrap_or_default(),
                problems: serde_json::from_str(&problems).unwrap_or_default(),
            })
            .collect())
    }

    /// How each pulled source's pulls have gone: the last pull, the last success, and how many
    /// pulls have failed since.
    pub fn pull_health(&self) -> Result<Vec<PullHealth>, StateError> {
        let rows = self.query(
            "SELECT source, finished_at, ok, error FROM pulls ORDER BY source, finished_at DESC, run_id DESC",
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, bool>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            },
        )?;
        let mut health: Vec<PullHealth> = Vec::new();
        for (source, finished_at, ok, error) in rows {
            match health.last_mut() {
                Some(h) if h.source == source => {
                    if ok && h.last_ok_at.is_none() {
                        h.last_ok_at = Some(finished_at);
                    } else if !ok && h.last_ok_at.is_none() {
                        h.consecutive_failures += 1;
                    }
                }
                _ => health.push(PullHealth {
                    source,
                    last_ok_at: ok.then(|| finished_at.clone()),
                    last_pull_at: finished_at,
                    last_error: if ok { None } else { error },
                    consecutive_failures: usize::from(!ok),
                    records: 0,
                }),
            }
        }
        for h in &mut health {
            let count: i64 = self
                .connection
                .query_row(
                    "SELECT COUNT(*) FROM pulled_records WHERE source = ?1",
                    params![h.source],
                    |row| row.get(0),
                )
                .map_err(self.db())?;
            h.records = usize::try_from(count).unwrap_or(0);
        }
        Ok(health)
    }
}
