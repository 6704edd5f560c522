//! The daemon: runs the configured jobs on their schedules (source pulls, publication, digests),
//! retries a failed job with growing delays without holding up the others, catches up once on a slot
//! missed while it was down, and stops within seconds when asked (SIGTERM, Ctrl-C).
//!
//! Jobs run one at a time on a blocking thread: each takes the state database's writer lock, so a
//! manual `regbridge run` meanwhile is told to wait, and a job that finds the lock taken fails and is
//! retried. A stop request lets the current job finish for a few seconds, then leaves it: every write
//! it makes is atomic (SQLite transactions, archive renames, the publication symlink switch), and the
//! next start marks it abandoned.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Job};
use crate::pull::PullOptions;
use crate::run::{
    pull, retry_due_mail, run_as, send_digests, Backoff, HttpPulls, NoProgress, RunError,
};
use crate::state::StateStore;

/// How the daemon retries and stops.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Delay before the first retry of a failed job; it doubles with each failure.
    pub first_retry: Duration,
    /// The longest delay between retries.
    pub max_retry: Duration,
    /// How long a stop request waits for the current job before leaving it.
    pub stop_grace: Duration,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(30 * 60),
            stop_grace: Duration::from_secs(3),
        }
    }
}

/// What the daemon did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DaemonReport {
    pub jobs_run: usize,
    pub jobs_failed: usize,
    /// Whether a job was left unfinished at the stop.
    pub abandoned: bool,
}

/// A job and when it is next due.
struct Planned {
    job: Job,
    due: DateTime<Utc>,
    failures: u32,
}

/// Runs the jobs until `stop` completes.
pub async fn daemon(
    config: Config,
    settings: DaemonSettings,
    stop: impl Future<Output = ()>,
) -> Result<DaemonReport, RunError> {
    let _one_daemon = StateStore::daemon_lock(&config.run.state_dir)?;
    let now = Utc::now();
    let mut plan: Vec<Planned> = Vec::new();
    for job in config.jobs()? {
        let due = first_due(&config, &job, now)?;
        if let Some(due) = due {
            tracing::info!(job = %job.name, due = %due, "scheduled");
            plan.push(Planned {
                job,
                due,
                failures: 0,
            });
        }
    }
    let mut report = DaemonReport::default();
    tokio::pin!(stop);
    loop {
        // Earliest first; at the same instant in the order of `Config::jobs` (pulls, then
        // publication, then digests), so caught-up digests carry the caught-up publication's findings.
        let Some(next) = plan.iter_mut().min_by_key(|p| p.due) else {
            tracing::warn!("no scheduled jobs: nothing to do");
            stop.as_mut().await;
            return Ok(report);
        };
        let wait = (next.due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = &mut stop => return Ok(report),
            () = tokio::time::sleep(wait) => {}
        }
        let name = next.job.name.clone();
        let job_config = config.clone();
        tracing::info!(job = %name, "starting");
        let mut task = tokio::task::spawn_blocking(move || run_job(&job_config, &name));
        let outcome = tokio::select! {
            joined = &mut task => joined.unwrap_or_else(|e| Err(format!("the job stopped: {e}"))),
            () = &mut stop => {
                // Let the job finish if it can do so quickly; otherwise leave it (its writes are atomic).
                report.abandoned = tokio::time::timeout(settings.stop_grace, task).await.is_err();
                return Ok(report);
            }
        };
        report.jobs_run += 1;
        let finished = Utc::now();
        match outcome {
            Ok(()) => {
                next.failures = 0;
                next.due = next_slot(&next.job, finished);
                tracing::info!(job = %next.job.name, next = %next.due, "done");
            }
            Err(error) => {
                report.jobs_failed += 1;
                next.failures += 1;
                let retry = retry_delay(&settings, next.failures);
                let retry_at = finished + chrono::Duration::from_std(retry).unwrap_or_default();
                // Retry before the next regular slot; never skip that slot for a retry.
                next.due = retry_at.min(next_slot(&next.job, finished));
                tracing::warn!(job = %next.job.name, %error, failures = next.failures, retry_at = %next.due, "job failed; will retry");
            }
        }
    }
}

/// When a job is first due: at once if its last run did not end well (it failed, or a stop or a
/// crash cut it short) or a slot passed since it started (caught up once, however many slots were
/// missed); else at its next slot. `None` if it never fires.
fn first_due(
    config: &Config,
    job: &Job,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, RunError> {
    let last = match StateStore::open_reader(&config.run.state_dir)? {
        Some(store) => store.last_run_of(&job.name)?,
        None => None,
    };
    if let Some((started, outcome)) = last {
        if outcome != "ok" {
            tracing::info!(job = %job.name, %outcome, "last run did not finish well: running again");
            return Ok(Some(now));
        }
        let started = DateTime::parse_from_rfc3339(&started).map(|t| t.with_timezone(&Utc));
        if let Ok(started) = started {
            if let Some(missed) = job.schedule.missed_since(started, now) {
                tracing::info!(job = %job.name, %missed, "missed while down: catching up once");
                return Ok(Some(now));
            }
        }
    }
    Ok(job.schedule.next_after(now).map(|t| t.with_timezone(&Utc)))
}

/// The next regular slot after `after` (far in the future if the expression never fires again).
fn next_slot(job: &Job, after: DateTime<Utc>) -> DateTime<Utc> {
    job.schedule
        .next_after(after)
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.with_timezone(&Utc))
}

/// first_retry × 2^(failures - 1), at most max_retry.
fn retry_delay(settings: &DaemonSettings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    settings
        .first_retry
        .saturating_mul(factor)
        .min(settings.max_retry)
}

/// Runs one job to its end; the error as text for the log.
fn run_job(config: &Config, name: &str) -> Result<(), String> {
    let result = match name.strip_prefix("pull:") {
        Some(source) => pull(config, source, PullOptions::default()).map(|s| {
            tracing::info!(source, files = s.files, new = s.new_inputs, "pulled");
        }),
        None if name == "digests" => {
            send_digests(config, "digests", Backoff::Respect).and_then(|d| {
                tracing::info!(sent = d.sent, failed = d.errors.len(), "digests");
                // Undelivered digests stay in the outbox; the job is retried like any failure.
                match d.errors.first() {
                    Some(e) => Err(RunError::Job(format!("digest not delivered: {e}"))),
                    None => Ok(()),
                }
            })
        }
        None => run_as(config, &NoProgress, name, HttpPulls::Unscheduled).map(|s| {
            tracing::info!(job = name, children = s.unique_children, "published");
        }),
    };
    // Mail that waits after a temporary failure goes again once its next attempt is due.
    match retry_due_mail(config) {
        Ok(d) if d.sent > 0 => tracing::info!(sent = d.sent, "waiting mail delivered"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "waiting mail not delivered"),
    }
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_and_stop_at_the_cap() {
        let settings = DaemonSettings::default();
        let delays: Vec<u64> = (1..=8)
            .map(|n| retry_delay(&settings, n).as_secs())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(retry_delay(&settings, u32::MAX).as_secs(), 1800);
    }
}
