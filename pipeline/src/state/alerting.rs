//! Alerting in the state database: which findings the digests have told about (new, reminded,
//! resolved), the mails waiting in the outbox with the findings they list, and their delivery: a
//! mail counts as sent, and its findings as told, only once the server accepted it; a temporary
//! failure waits for its next attempt, a permanent one stops.

use rayon::prelude::*;
use regbridge_connectors::sink::mail::OutgoingMail;
use rusqlite::params;

use super::{StateError, StateStore};
use crate::findings::Finding;

/// What a digest tells about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertKind {
    /// Open and not told about yet.
    New,
    /// Open, told about, and due for a reminder.
    Reminder,
    /// Told about, and resolved since.
    Resolved,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::New => "new",
            AlertKind::Reminder => "reminder",
            AlertKind::Resolved => "resolved",
        }
    }
}

/// A finding that a digest may have to tell about, with what was told so far.
#[derive(Debug, Clone)]
pub struct AlertCandidate {
    pub key: String,
    pub finding: Finding,
    pub first_seen_at: String,
    pub resolved_at: Option<String>,
    pub announced_at: Option<String>,
    pub reminded_at: Option<String>,
}

/// A finding a queued mail tells about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertItem {
    pub finding_key: String,
    pub kind: AlertKind,
}

/// A mail in the outbox that is due for (another) attempt.
#[derive(Debug, Clone)]
pub struct PendingMail {
    pub run_id: String,
    /// The outbox key: an institution, `committee` or `it:<source>`.
    pub key: String,
    pub mail: OutgoingMail,
    pub attempts: u32,
    /// Set when an attempt began that never recorded its end (the process stopped meanwhile):
    /// the server may have accepted the mail.
    pub interrupted: bool,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt<'a> {
    /// The server accepted the mail.
    Sent,
    /// A temporary failure (server down, 4xx): try again at `next_at`.
    Retry { error: &'a str, next_at: &'a str },
    /// A permanent failure (5xx): no more attempts.
    Failed { error: &'a str },
}

/// A mail that will not be delivered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedMail {
    pub run_id: String,
    pub key: String,
    pub failed_at: String,
    pub error: String,
}

impl StateStore {
    /// Open findings, and resolved ones whose resolution no digest has told yet, with what was
    /// told about each; in key order.
    pub fn alert_candidates(&self) -> Result<Vec<AlertCandidate>, StateError> {
        let rows = self.query(
            "SELECT key, finding, first_seen_at, resolved_at, announced_at, reminded_at \
             FROM findings WHERE finding IS NOT NULL AND (resolved_at IS NULL \
             OR (announced_at IS NOT NULL AND resolution_announced_at IS NULL)) ORDER BY key",
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            },
        )?;
        // Read in key order, then parsed on every core (a large register has hundreds of
        // thousands), in that order.
        Ok(rows
            .into_par_iter()
            .filter_map(
                |(key, finding, first_seen_at, resolved_at, announced_at, reminded_at)| {
                    let value: serde_json::Value = serde_json::from_str(&finding).ok()?;
                    let ordinal = value.get("ordinal").and_then(serde_json::Value::as_u64);
                    let mut finding: Finding = serde_json::from_value(value).ok()?;
                    finding.ordinal = ordinal.unwrap_or(0);
                    Some(AlertCandidate {
                        key,
                        finding,
                        first_seen_at,
                        resolved_at,
                        announced_at,
                        reminded_at,
                    })
                },
            )
            .collect())
    }

    /// Queues a mail under `key` with the findings it tells about, superseding an older mail of
    /// the same key not sent yet (the new one tells everything that one would have).
    pub fn queue_mail(
        &mut self,
        (run_id, at): (&str, &str),
        key: &str,
        mail: &OutgoingMail,
        items: &[AlertItem],
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(mail).unwrap_or_default();
        self.in_transaction(|tx| {
            tx.execute(
                "UPDATE alert_outbox SET superseded = 1 \
                 WHERE institution = ?1 AND sent_at IS NULL AND failed_at IS NULL \
                 AND sending_at IS NULL",
                params![key],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO alert_outbox (run_id, institution, mail, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![run_id, key, json, at],
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO alert_items (run_id, institution, finding_key, kind) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for item in items {
                insert.execute(params![run_id, key, item.finding_key, item.kind.as_str()])?;
            }
            Ok(())
        })
    }

    /// Mails waiting to be sent whose next attempt is due at `now` (all of them with `now` =
    /// `None`), oldest first.
    pub fn due_mails(&self, now: Option<&str>) -> Result<Vec<PendingMail>, StateError> {
        let rows = self.query(
            "SELECT run_id, institution, mail, attempts, sending_at FROM alert_outbox \
             WHERE sent_at IS NULL AND superseded = 0 AND failed_at IS NULL \
             AND (?1 IS NULL OR next_attempt_at IS NULL OR next_attempt_at <= ?1) \
             ORDER BY created_at, institution",
            params![now],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        // A row that no longer reads as a mail is skipped (and stays visible in the table).
        Ok(rows
            .into_iter()
            .filter_map(|(run_id, key, json, attempts, sending_at)| {
                Some(PendingMail {
                    run_id,
                    key,
                    mail: serde_json::from_str(&json).ok()?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    interrupted: sending_at.is_some(),
                })
            })
            .collect())
    }

    /// Marks the start of an attempt, so that one cut short by a crash is known as such.
    pub fn mark_sending(&self, run_id: &str, key: &str, at: &str) -> Result<(), StateError> {
        self.connection
            .execute(
                "UPDATE alert_outbox SET sending_at = ?3 WHERE run_id = ?1 AND institution = ?2",
                params![run_id, key, at],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records how an attempt ended. A sent mail's findings count as told from `at` on: new ones
    /// announced (and reminded), reminders reminded, resolutions announced.
    pub fn record_attempt(
        &mut self,
        (run_id, key): (&str, &str),
        at: &str,
        attempt: Attempt<'_>,
    ) -> Result<(), StateError> {
        self.in_transaction(|tx| {
            match attempt {
                Attempt::Failed { error } => {
                    // Nobody received it: its findings stay untold. The reader's next digest waits
                    // (see `refused_since`) instead of meeting the same refusal at every run.
                    tx.execute(
                        "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?3, \
                         failed_at = ?4, sending_at = NULL WHERE run_id = ?1 AND institution = ?2",
                        params![run_id, key, error, at],
                    )?;
                }
                Attempt::Sent => {
                    tx.execute(
                        "UPDATE alert_outbox SET attempts = attempts + 1, sent_at = ?3, \
                         sending_at = NULL, last_error = NULL \
                         WHERE run_id = ?1 AND institution = ?2",
                        params![run_id, key, at],
                    )?;
                    // The findings it told about, each kind in one statement (a first digest
                    // of a large register tells of a hundred thousand).
                    let told = "key IN (SELECT finding_key FROM alert_items \
                                WHERE run_id = ?2 AND institution = ?3 AND kind = ?4)";
                    for (kind, set) in [
                        ("new", "announced_at = ?1, reminded_at = ?1"),
                        ("reminder", "reminded_at = ?1"),
                        ("resolved", "resolution_announced_at = ?1"),
                    ] {
                        tx.execute(
                            &format!("UPDATE findings SET {set} WHERE {told}"),
                            params![at, run_id, key, kind],
                        )?;
                    }
                }
                Attempt::Retry { error, next_at } => {
                    tx.execute(
                        "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?3, \
                         next_attempt_at = ?4, sending_at = NULL WHERE run_id = ?1 AND institution = ?2",
                        params![run_id, key, error, next_at],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Whether the newest mail for `key` was refused for good at or after `since`.
    pub fn refused_since(&self, key: &str, since: &str) -> Result<bool, StateError> {
        let n: i64 = self
            .connection
            .query_row(
                "SELECT COUNT(*) FROM alert_outbox WHERE institution = ?1 AND failed_at >= ?2 \
                 AND created_at = (SELECT MAX(created_at) FROM alert_outbox WHERE institution = ?1)",
                params![key, since],
                |row| row.get(0),
            )
            .map_err(self.db())?;
        Ok(n > 0)
    }

    /// Sets aside `key`'s waiting mail (it would tell what is no longer so).
    pub fn supersede_waiting(&self, key: &str) -> Result<(), StateError> {
        self.connection
            .execute(
                "UPDATE alert_outbox SET superseded = 1 WHERE institution = ?1 AND sent_at IS NULL \
                 AND failed_at IS NULL AND sending_at IS NULL",
                params![key],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Outbox keys with a mail waiting to be sent.
    pub fn waiting_keys(&self) -> Result<Vec<String>, StateError> {
        self.query(
            "SELECT DISTINCT institution FROM alert_outbox WHERE sent_at IS NULL \
             AND superseded = 0 AND failed_at IS NULL ORDER BY institution",
            [],
            |row| row.get(0),
        )
    }

    /// Mails given up after a permanent failure, newest first.
    pub fn failed_mails(&self) -> Result<Vec<FailedMail>, StateError> {
        self.query(
            "SELECT run_id, institution, failed_at, COALESCE(last_error, '') FROM alert_outbox \
             WHERE failed_at IS NOT NULL ORDER BY failed_at DESC LIMIT 20",
            [],
            |row| {
                Ok(FailedMail {
                    run_id: row.get(0)?,
                    key: row.get(1)?,
                    failed_at: row.get(2)?,
                    error: row.get(3)?,
                })
            },
        )
    }
}
