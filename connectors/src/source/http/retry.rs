//! When to try a request again and how long to wait: exponential backoff with jitter, or the
//! server's own `Retry-After` (seconds or an HTTP date).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::settings::Retry;

/// Whether a response status is worth another attempt: 408, 429 and every 5xx.
pub(super) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// The wait a `Retry-After` header asks for, relative to `now`; `None` when absent or unreadable.
pub(super) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait before attempt `attempt + 1` (attempt counts from 1): the initial delay doubled per
/// attempt, capped, then drawn at random from its upper half so that many clients do not retry
/// in step.
pub(super) fn backoff(retry: &Retry, attempt: u32) -> Duration {
    let doubled = retry.initial_delay_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = doubled.min(retry.max_delay_secs).max(0.0);
    let jitter: f64 = rand::random_range(0.5..=1.0);
    Duration::from_secs_f64(capped * jitter)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_cap_with_jitter() {
        let retry = Retry {
            initial_delay_secs: 1.0,
            max_delay_secs: 5.0,
            ..Retry::default()
        };
        for (attempt, full) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (40, 5.0)] {
            let wait = backoff(&retry, attempt).as_secs_f64();
            assert!(
                wait >= full / 2.0 - 1e-9 && wait <= full + 1e-9,
                "{attempt}: {wait}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        headers.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 410, 422] {
            assert!(
                !retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }
}
