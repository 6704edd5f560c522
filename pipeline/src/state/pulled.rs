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
    /// The incremental value the next pass asks with.
    pub watermark: Option<String>,
    /// The highest incremental value the last complete pass saw.
    pub previous_max: Option<String>,
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

/// How far a full pass may withdraw the records it did not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdraw {
    /// Not at all (an incremental pass sees only what changed).
    Never,
    /// Records missed by two full passes in a row, unless this pass came back a tenth smaller
    /// than the last one (a short answer).
    Guarded,
    /// Whatever it missed (`regbridge pull --full`, asked for by a person).
    All,
}

/// What a full pass withdrew, and what it kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Withdrawal {
    pub withdrawn: usize,
    /// Missed by this pass for the first time: withdrawn if the next full pass misses them too.
    pub pending: usize,
    /// Kept because the pass delivered nothing or a tenth fewer records than the last one.
    pub held: usize,
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
    /// When the first of those failed pulls started.
    pub failing_since: Option<String>,
    pub records: usize,
}

impl StateStore {
    /// Where `source`'s pulls stand (nothing yet: all empty).
    pub fn pull_position(&self, source: &str) -> Result<PullPosition, StateError> {
        let row = self
            .connection
            .query_row(
                "SELECT watermark, previous_max, pass, pass_full, checkpoint FROM pull_positions \
                 WHERE source = ?1",
                params![source],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, bool>(3)?,
                        row.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db())?;
        let Some((watermark, previous_max, pass, pass_full, checkpoint)) = row else {
            return Ok(PullPosition::default());
        };
        // A checkpoint that no longer reads (written by another version) means starting over.
        let checkpoint = checkpoint.and_then(|c| serde_json::from_str(&c).ok());
        Ok(PullPosition {
            watermark,
            previous_max,
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
                     problems = excluded.problems, pass = excluded.pass, missed = 0, \
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

    /// Ends a complete pass: the cursor moves to `watermark`, the pass's highest value is kept for
    /// the next one, and the checkpoint is cleared. After a full pass, records the API no longer
    /// has (not delivered by this pass) are withdrawn as `withdraw` allows: never on a pass that
    /// delivered nothing; with [`Withdraw::Guarded`], only records missed by two full passes in a
    /// row, and none when the pass delivered a tenth fewer records than the last full pass.
    pub fn finish_pass(
        &mut self,
        at: PassPage<'_>,
        (watermark, seen_max): (Option<&str>, Option<&str>),
        withdraw: Withdraw,
    ) -> Result<Withdrawal, StateError> {
        self.in_transaction(|tx| {
            let last_delivered: Option<i64> = tx
                .query_row(
                    "SELECT last_delivered FROM pull_positions WHERE source = ?1",
                    params![at.source],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            let count = |sql: &str| -> rusqlite::Result<usize> {
                let n: i64 = tx.query_row(sql, params![at.source, at.pass], |row| row.get(0))?;
                Ok(usize::try_from(n).unwrap_or(0))
            };
            let full = at.full && withdraw != Withdraw::Never;
            let delivered = if full {
                count("SELECT COUNT(*) FROM pulled_records WHERE source = ?1 AND pass = ?2")?
            } else {
                0
            };
            tx.execute(
                "INSERT INTO pull_positions (source, watermark, previous_max, pass, pass_full, \
                 checkpoint, last_delivered, updated_at) VALUES (?1, ?2, ?3, NULL, 0, NULL, ?4, ?5) \
                 ON CONFLICT (source) DO UPDATE SET watermark = excluded.watermark, \
                 previous_max = excluded.previous_max, pass = NULL, pass_full = 0, \
                 checkpoint = NULL, last_delivered = COALESCE(excluded.last_delivered, last_delivered), \
                 updated_at = excluded.updated_at",
                params![
                    at.source,
                    watermark,
                    seen_max,
                    full.then_some(delivered as i64),
                    at.at
                ],
            )?;
            if !full {
                return Ok(Withdrawal::default());
            }
            let missing =
                count("SELECT COUNT(*) FROM pulled_records WHERE source = ?1 AND pass <> ?2")?;
            let shrunk = last_delivered
                .and_then(|last| usize::try_from(last).ok())
                .is_some_and(|last| delivered * 10 < last * 9);
            // An API that answers with nothing must never wipe the source, not even on request.
            if missing == 0 || delivered == 0 || (shrunk && withdraw == Withdraw::Guarded) {
                return Ok(Withdrawal {
                    held: missing,
                    ..Withdrawal::default()
                });
            }
            if withdraw == Withdraw::All {
                let withdrawn = tx.execute(
                    "DELETE FROM pulled_records WHERE source = ?1 AND pass <> ?2",
                    params![at.source, at.pass],
                )?;
                return Ok(Withdrawal {
                    withdrawn,
                    ..Withdrawal::default()
                });
            }
            // One pass may miss a record that shifted between pages: a second one decides.
            tx.execute(
                "UPDATE pulled_records SET missed = missed + 1 WHERE source = ?1 AND pass <> ?2",
                params![at.source, at.pass],
            )?;
            let withdrawn = tx.execute(
                "DELETE FROM pulled_records WHERE source = ?1 AND pass <> ?2 AND missed >= 2",
                params![at.source, at.pass],
            )?;
            Ok(Withdrawal {
                withdrawn,
                pending: missing - withdrawn,
                held: 0,
            })
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
            "SELECT source, started_at, finished_at, ok, error FROM pulls \
             ORDER BY source, finished_at DESC, run_id DESC",
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut health: Vec<PullHealth> = Vec::new();
        for (source, started_at, finished_at, ok, error) in rows {
            match health.last_mut() {
                Some(h) if h.source == source => {
                    if ok && h.last_ok_at.is_none() {
                        h.last_ok_at = Some(finished_at);
                    } else if !ok && h.last_ok_at.is_none() {
                        h.consecutive_failures += 1;
                        h.failing_since = Some(started_at);
                    }
                }
                _ => health.push(PullHealth {
                    source,
                    last_ok_at: ok.then(|| finished_at.clone()),
                    last_pull_at: finished_at,
                    last_error: if ok { None } else { error },
                    consecutive_failures: usize::from(!ok),
                    failing_since: (!ok).then_some(started_at),
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

impl StateStore {
    /// Whether a mail keyed `key` (an institution, or `it:<source>`) was queued at or after `since`.
    pub fn mail_queued_since(&self, key: &str, since: &str) -> Result<bool, StateError> {
        let n: i64 = self
            .connection
            .query_row(
                "SELECT COUNT(*) FROM alert_outbox WHERE institution = ?1 AND created_at >= ?2",
                params![key, since],
                |row| row.get(0),
            )
            .map_err(self.db())?;
        Ok(n > 0)
    }
}
