//! HTTP API source: pulls an institution's records page by page (page number, offset, cursor or
//! `Link` header), retrying what may pass, and hands each whole, decoded page to a [`PageSink`]
//! before asking for the next, so that the caller stores the records and the checkpoint together.
//! Knows HTTP, paging and formats; nothing of validation, linkage or where pages are stored.

mod client;
mod paging;
mod retry;
mod settings;

use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decode::{decode, Decoded, Format};

pub use client::{read_secret, Secret};
pub use paging::{scalar_text, value_at, PageRequest};
pub use settings::{Auth, HttpSettings, Incremental, Method, Paging, Retry, Tls};

/// Why a pull (or a probe) stopped. Messages name the endpoint (scheme, host and path, never the
/// query or any credential) and the page; no secret is ever part of one.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The settings, a secret or a certificate cannot be used.
    #[error("{0}")]
    Config(String),
    /// A request failed for good: a status that is not retried, or every attempt failed.
    #[error("{endpoint}, {page}: {problem}{}", attempts_note(*.attempts))]
    Request {
        endpoint: String,
        page: String,
        attempts: u32,
        problem: String,
        /// The final status, when the server answered.
        status: Option<u16>,
    },
    /// The page was received whole but the caller could not store it.
    #[error("{endpoint}, {page}: cannot store the page: {message}")]
    Store {
        endpoint: String,
        page: String,
        message: String,
    },
    /// The server kept giving next pages.
    #[error(
        "{endpoint}: more than {max_pages} pages; raise max_pages if the API really has that many"
    )]
    TooManyPages { endpoint: String, max_pages: u32 },
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl HttpError {
    /// The HTTP status that ended the pull, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Request { status, .. } => *status,
            _ => None,
        }
    }
}

/// One record of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledRecord {
    /// The record's identifier (`id_field`), or `sha256:<hex>` of its content.
    pub key: String,
    pub fields: Map<String, Value>,
    /// What could not be decoded cleanly in it (never its values).
    pub problems: Vec<String>,
    /// Its incremental cursor value (`incremental.field`), if any.
    pub cursor_value: Option<String>,
}

/// Where an interrupted pass stands; stored with each page so that the next pull resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The incremental value the pass asks with (the same for every page of the pass).
    pub pass_watermark: Option<String>,
    /// The next page to ask for.
    pub next: PageRequest,
    /// The highest cursor value among the pass's records so far.
    pub seen_max: Option<String>,
    /// Pages received in the pass so far.
    pub pages: u32,
}

/// A page received whole and decoded, for the sink to store.
#[derive(Debug)]
pub struct Page {
    /// 1-based number of the page in its pass (counting pages of an interrupted earlier pull).
    pub number: u32,
    pub request: PageRequest,
    pub status: u16,
    /// The body as received, for the archive.
    pub bytes: Vec<u8>,
    pub records: Vec<PulledRecord>,
    /// Problems about the page as a whole that did not cost a record (e.g. an encoding guessed).
    pub notes: Vec<String>,
    /// Where to resume if the pull stops after this page; `None`: this was the pass's last page.
    pub checkpoint: Option<Checkpoint>,
    /// The incremental value that is now safe to ask with, when the API returns records in cursor
    /// order (`incremental.ordered`); store it with the page.
    pub safe_watermark: Option<String>,
}

/// Stores pages; a page counts as received only once `store` returned `Ok`.
pub trait PageSink {
    /// Stores the page's records and its checkpoint together (all or nothing).
    fn store(&mut self, page: &Page) -> Result<(), String>;
}

/// Where a pull starts.
#[derive(Debug, Clone, Default)]
pub struct PullStart {
    /// The incremental value a fresh pass asks with ([`PullOutcome::watermark`] of the last
    /// complete pass).
    pub watermark: Option<String>,
    /// The highest incremental value the last complete pass saw ([`PullOutcome::seen_max`]).
    pub previous_max: Option<String>,
    /// An interrupted pass to resume.
    pub resume: Option<Checkpoint>,
    /// Ask for everything, ignoring the incremental value (a `--full` re-pull).
    pub full: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullOutcome {
    /// Pages received in this pull.
    pub pages: u32,
    /// Records received in this pull (a record delivered twice counts twice).
    pub records: usize,
    /// The incremental value the next pass asks with. For an API that does not sort by it, this
    /// lags one pass: the highest value the *previous* pass saw. A record changed while this pass
    /// ran (perhaps on a page already read) has a value at or above that, so the next pass gets
    /// it. For an `ordered` API paged by cursor or link it is this pass's highest value.
    pub watermark: Option<String>,
    /// The highest incremental value this pass saw; give it back as [`PullStart::previous_max`].
    pub seen_max: Option<String>,
    /// Whether it continued an interrupted pass.
    pub resumed: bool,
    /// Whether the server refused the resumed position and the pass started over.
    pub restarted: bool,
}

/// What `check --connect` sees: the first page, nothing stored.
#[derive(Debug)]
pub struct Probe {
    pub status: u16,
    pub decoded: Decoded,
    pub more_pages: bool,
    pub elapsed: Duration,
}

/// A configured HTTP source.
#[derive(Debug, Clone)]
pub struct HttpSource {
    settings: HttpSettings,
    format: Format,
    url: reqwest::Url,
    endpoint: String,
}

/// A response received whole, decoded without losing anything.
struct Fetched {
    status: u16,
    bytes: Vec<u8>,
    decoded: Decoded,
    body: Option<Value>,
    headers: reqwest::header::HeaderMap,
    url: reqwest::Url,
}

/// One failed attempt.
struct Failure {
    problem: String,
    status: Option<u16>,
    retryable: bool,
    wait: Option<Duration>,
}

impl HttpSource {
    /// Checks the settings, reads the secret and certificates once (so that a missing secret is
    /// reported before any request), and keeps them for pulls.
    pub fn new(settings: HttpSettings, format: Format) -> Result<HttpSource, HttpError> {
        settings.validate().map_err(HttpError::Config)?;
        format.validate().map_err(HttpError::Config)?;
        if matches!(format, Format::Xlsx(_)) {
            return Err(HttpError::Config(
                "an HTTP source's body must be json, json_lines or csv".to_string(),
            ));
        }
        if let Paging::Cursor {
            cursor_path: Some(_),
            ..
        } = &settings.paging
        {
            if !matches!(format, Format::Json(_)) {
                return Err(HttpError::Config(
                    "paging: cursor_path reads a JSON body; with json_lines or csv bodies use cursor_header"
                        .to_string(),
                ));
            }
        }
        client::build_client(&settings)?;
        let url = reqwest::Url::parse(&settings.url)
            .map_err(|e| HttpError::Config(format!("url: {e}")))?;
        let endpoint = endpoint(&url);
        Ok(HttpSource {
            settings,
            format,
            url,
            endpoint,
        })
    }

    /// `scheme://host[:port]/path` of the configured URL, as messages show it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Pulls every page from `start`, handing each to `sink` before asking for the next. Runs on
    /// its own thread and runtime, so it can be called from anywhere.
    pub fn pull(
        &self,
        start: PullStart,
        sink: &mut (dyn PageSink + Send),
    ) -> Result<PullOutcome, HttpError> {
        on_own_runtime(|| self.pull_async(start, sink))
    }

    /// Asks for the first page only (with retries) and stores nothing.
    pub fn probe(&self) -> Result<Probe, HttpError> {
        on_own_runtime(|| async {
            let client = client::build_client(&self.settings)?;
            let started = Instant::now();
            let first = PageRequest::First;
            // One try: `check --connect` says what it finds now, it does not wait it out.
            let once = Retry {
                max_attempts: 1,
                ..self.settings.retry.clone()
            };
            let fetched = self.fetch_with(&client, &first, None, &once).await?;
            let more_pages = paging::next_request(
                &self.settings.paging,
                &first,
                fetched.decoded.records.len(),
                fetched.body.as_ref(),
                &fetched.headers,
                &fetched.url,
            )
            .map_err(|problem| HttpError::Request {
                endpoint: self.endpoint.clone(),
                page: first.describe(),
                attempts: 1,
                problem,
                status: Some(fetched.status),
            })?
            .is_some();
            Ok(Probe {
                status: fetched.status,
                decoded: fetched.decoded,
                more_pages,
                elapsed: started.elapsed(),
            })
        })
    }

    async fn pull_async(
        &self,
        start: PullStart,
        sink: &mut (dyn PageSink + Send),
    ) -> Result<PullOutcome, HttpError> {
        let client = client::build_client(&self.settings)?;
        let incremental = self.settings.incremental.as_ref();
        let fresh_watermark = if start.full {
            None
        } else {
            start
                .watermark
                .clone()
                .or_else(|| incremental.and_then(|i| i.start.clone()))
        };
        let resume = start.resume.filter(|_| !start.full);
        let mut outcome = PullOutcome {
            resumed: resume.is_some(),
            ..PullOutcome::default()
        };
        let (pass_watermark, mut request, mut seen_max, mut pages) = match resume {
            Some(c) => (c.pass_watermark, c.next, c.seen_max, c.pages),
            None => (fresh_watermark, PageRequest::First, None, 0),
        };
        if self.same_origin(Some(request.clone())).is_err() {
            // A stored next link to another origin (the configured URL has moved since): the
            // credentials must not go there; the pass starts over at the configured URL.
            outcome.restarted = true;
            request = PageRequest::First;
            pages = 0;
        }
        let ordered = incremental.is_some_and(|i| i.ordered);
        loop {
            let fetched = match self
                .fetch(&client, &request, pass_watermark.as_deref())
                .await
            {
                Ok(fetched) => fetched,
                Err(e) if outcome.resumed && !outcome.restarted && pages_refused(&e) => {
                    // The server no longer knows the resumed position (an expired cursor, say):
                    // the same pass (same incremental value) starts over from its first page;
                    // records already stored are replaced, not doubled.
                    tracing::warn!(endpoint = %self.endpoint, error = %e, "resume refused; starting the pass over");
                    outcome.restarted = true;
                    request = PageRequest::First;
                    pages = 0;
                    continue;
                }
                Err(e) => return Err(e),
            };
            pages += 1;
            let records = self.records(&fetched.decoded);
            for value in records.iter().filter_map(|r| r.cursor_value.as_deref()) {
                seen_max = Some(cursor_max(seen_max.take(), value));
            }
            let next = paging::next_request(
                &self.settings.paging,
                &request,
                records.len(),
                fetched.body.as_ref(),
                &fetched.headers,
                &fetched.url,
            )
            .and_then(|next| self.same_origin(next))
            .map_err(|problem| HttpError::Request {
                endpoint: self.endpoint.clone(),
                page: request.describe(),
                attempts: 1,
                problem,
                status: Some(fetched.status),
            })?;
            if next.is_some() && pages >= self.settings.max_pages {
                return Err(HttpError::TooManyPages {
                    endpoint: self.endpoint.clone(),
                    max_pages: self.settings.max_pages,
                });
            }
            let page = Page {
                number: pages,
                request: request.clone(),
                status: fetched.status,
                notes: file_notes(&fetched.decoded),
                bytes: fetched.bytes,
                checkpoint: next.clone().map(|next| Checkpoint {
                    pass_watermark: pass_watermark.clone(),
                    next,
                    seen_max: seen_max.clone(),
                    pages,
                }),
                safe_watermark: if ordered { seen_max.clone() } else { None },
                records,
            };
            sink.store(&page).map_err(|message| HttpError::Store {
                endpoint: self.endpoint.clone(),
                page: request.describe(),
                message,
            })?;
            tracing::debug!(endpoint = %self.endpoint, page = pages, records = page.records.len(), "page stored");
            outcome.pages += 1;
            outcome.records += page.records.len();
            match next {
                Some(next) => request = next,
                None => break,
            }
        }
        if incremental.is_some() {
            let lagging = if ordered {
                seen_max.clone()
            } else {
                start.previous_max
            };
            // A full pass asks with nothing; the cursor it started from is still safe to keep.
            let asked = pass_watermark.or(start.watermark);
            outcome.watermark = match (asked, lagging) {
                (Some(asked), Some(seen)) => Some(cursor_max(Some(asked), &seen)),
                (asked, seen) => seen.or(asked),
            };
            outcome.seen_max = seen_max;
        }
        Ok(outcome)
    }

    /// A next page the server named by URL must be on the configured origin (scheme, host and
    /// port): the credentials go with every request.
    fn same_origin(&self, next: Option<PageRequest>) -> Result<Option<PageRequest>, String> {
        if let Some(PageRequest::Url(url)) = &next {
            let same = reqwest::Url::parse(url).is_ok_and(|u| {
                u.scheme() == self.url.scheme()
                    && u.host_str() == self.url.host_str()
                    && u.port_or_known_default() == self.url.port_or_known_default()
            });
            if !same {
                return Err(format!(
                    "the next-page link points to {}, not to {}; not followed (the credentials would go with it)",
                    endpoint_of(url),
                    self.endpoint
                ));
            }
        }
        Ok(next)
    }

    /// Fetches one page, retrying what may pass.
    async fn fetch(
        &self,
        client: &reqwest::Client,
        request: &PageRequest,
        watermark: Option<&str>,
    ) -> Result<Fetched, HttpError> {
        self.fetch_with(client, request, watermark, &self.settings.retry)
            .await
    }

    /// [`Self::fetch`] with its own retry settings.
    async fn fetch_with(
        &self,
        client: &reqwest::Client,
        request: &PageRequest,
        watermark: Option<&str>,
        retry: &Retry,
    ) -> Result<Fetched, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(client, request, watermark).await {
                Ok(fetched) => return Ok(fetched),
                Err(failure) => failure,
            };
            let give_up = |problem: String| HttpError::Request {
                endpoint: self.endpoint.clone(),
                page: request.describe(),
                attempts: attempt,
                problem,
                status: failure.status,
            };
            if !failure.retryable || attempt >= retry.max_attempts {
                return Err(give_up(failure.problem));
            }
            let wait = match failure.wait {
                Some(wait) if wait.as_secs_f64() > retry.max_retry_after_secs => {
                    return Err(give_up(format!(
                        "{}; the server asks to wait {} s, more than max_retry_after_secs ({})",
                        failure.problem,
                        wait.as_secs(),
                        retry.max_retry_after_secs
                    )));
                }
                Some(wait) => wait,
                None => retry::backoff(retry, attempt),
            };
            tracing::warn!(
                endpoint = %self.endpoint,
                page = %request.describe(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                problem = %failure.problem,
                "request failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: send, check the status, read the whole body, decode it.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        request: &PageRequest,
        watermark: Option<&str>,
    ) -> Result<Fetched, Failure> {
        let builder = self.request(client, request, watermark);
        let response = builder.send().await.map_err(|e| Failure {
            problem: transport_problem(&e),
            status: None,
            retryable: true,
            wait: None,
        })?;
        let status = response.status();
        let url = response.url().clone();
        let headers = response.headers().clone();
        if !status.is_success() {
            return Err(Failure {
                problem: status_problem(status),
                status: Some(status.as_u16()),
                retryable: retry::retryable_status(status),
                wait: retry::retry_after(&headers, SystemTime::now()),
            });
        }
        let bytes = self.read_body(response).await?;
        let decoded = decode(&bytes, &self.format);
        if let Some(lost) = decoded.problems.iter().find(|p| p.lost) {
            return Err(Failure {
                problem: format!(
                    "the body cannot be read whole ({} bytes): {lost}",
                    bytes.len()
                ),
                status: Some(status.as_u16()),
                retryable: true,
                wait: None,
            });
        }
        let body = match self.format {
            // As the decoder reads it: without a byte order mark, invalid bytes replaced.
            Format::Json(_) => {
                let text =
                    String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
                serde_json::from_str(&text).ok()
            }
            _ => None,
        };
        Ok(Fetched {
            status: status.as_u16(),
            bytes,
            decoded,
            body,
            headers,
            url,
        })
    }

    /// The whole body, refused beyond `max_page_bytes` (one huge answer must not take the memory of
    /// every other source's pull with it).
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
        let limit = self.settings.max_page_bytes;
        let status = response.status().as_u16();
        let too_big = |size: u64| {
            Failure {
            problem: format!(
                "the page is larger than max_page_bytes ({limit} bytes, at least {size} sent); ask for smaller pages"
            ),
            status: Some(status),
            retryable: false,
            wait: None,
        }
        };
        if let Some(length) = response.content_length().filter(|l| *l > limit) {
            return Err(too_big(length));
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() as u64 > limit {
                        return Err(too_big(bytes.len() as u64));
                    }
                }
                Ok(None) => return Ok(bytes),
                Err(e) => {
                    return Err(Failure {
                        problem: format!("the body was cut short: {}", transport_problem(&e)),
                        status: Some(status),
                        retryable: true,
                        wait: None,
                    })
                }
            }
        }
    }

    /// The request for a page: the configured URL, query and body plus the paging and incremental
    /// parameters (a server-given next link is used as it is).
    fn request(
        &self,
        client: &reqwest::Client,
        request: &PageRequest,
        watermark: Option<&str>,
    ) -> reqwest::RequestBuilder {
        // Configured query parameters always go in the query; paging and cursor parameters go in
        // the query of a GET and in the JSON body of a POST.
        let mut parameters: Vec<(String, Value)> = Vec::new();
        let url = match request {
            PageRequest::Url(next) => {
                reqwest::Url::parse(next).unwrap_or_else(|_| self.url.clone())
            }
            _ => {
                parameters.extend(request.parameters(&self.settings.paging));
                if let (Some(incremental), Some(value)) = (&self.settings.incremental, watermark) {
                    parameters.push((incremental.param.clone(), Value::String(value.to_string())));
                }
                self.url.clone()
            }
        };
        let configured: Vec<(&String, &String)> = match request {
            PageRequest::Url(_) => Vec::new(),
            _ => self.settings.query.iter().collect(),
        };
        match self.settings.method {
            Method::Get => {
                let texts: Vec<(String, String)> = parameters
                    .into_iter()
                    .map(|(name, value)| (name, scalar_text(&value).unwrap_or_default()))
                    .collect();
                client.get(url).query(&configured).query(&texts)
            }
            Method::Post => {
                let mut body = self.settings.body.clone().unwrap_or_default();
                body.extend(parameters);
                client.post(url).query(&configured).json(&body)
            }
        }
    }

    /// The page's records with their keys and cursor values; a problem located at a record goes
    /// with it.
    fn records(&self, decoded: &Decoded) -> Vec<PulledRecord> {
        decoded
            .records
            .iter()
            .map(|record| {
                let object = Value::Object(record.fields.clone());
                let mut problems: Vec<String> = decoded
                    .problems
                    .iter()
                    .filter(|p| p.location == record.location)
                    .map(ToString::to_string)
                    .collect();
                let id = self.settings.id_field.as_deref().map(|path| {
                    let id = value_at(&object, path).and_then(scalar_text);
                    if id.is_none() {
                        problems.push(format!(
                            "{}: the record has no {path}; it is kept by its content, so a later version of it cannot replace this one",
                            record.location
                        ));
                    }
                    id
                });
                let key = id.flatten().unwrap_or_else(|| {
                    let text = serde_json::to_string(&record.fields).unwrap_or_default();
                    format!("sha256:{}", crate::source::sha256_hex(text.as_bytes()))
                });
                let cursor_value = self
                    .settings
                    .incremental
                    .as_ref()
                    .and_then(|i| value_at(&object, &i.field))
                    .and_then(scalar_text);
                PulledRecord {
                    key,
                    fields: record.fields.clone(),
                    problems,
                    cursor_value,
                }
            })
            .collect()
    }
}

/// Problems about the page that belong to no record.
fn file_notes(decoded: &Decoded) -> Vec<String> {
    let at_record: Vec<_> = decoded.records.iter().map(|r| &r.location).collect();
    decoded
        .problems
        .iter()
        .filter(|p| !at_record.contains(&&p.location))
        .map(ToString::to_string)
        .collect()
}

/// Whether the server refused the page position itself (so that starting over may help).
fn pages_refused(error: &HttpError) -> bool {
    matches!(error.status(), Some(400 | 404 | 410 | 416 | 422))
}

/// The larger of two cursor values: as numbers when both are numbers, else as text (ISO dates and
/// times compare correctly as text).
pub fn cursor_max(current: Option<String>, candidate: &str) -> String {
    let Some(current) = current else {
        return candidate.to_string();
    };
    let larger = match (current.parse::<f64>(), candidate.parse::<f64>()) {
        (Ok(a), Ok(b)) => b > a,
        _ => candidate > current.as_str(),
    };
    if larger {
        candidate.to_string()
    } else {
        current
    }
}

/// `scheme://host[:port]/path` of a configured URL: what messages show of it (no query, no
/// credentials). A URL that does not parse is shown without its query.
pub fn endpoint_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| url.split(['?', '#']).next().unwrap_or("").to_string(),
        |u| endpoint(&u),
    )
}

/// `scheme://host[:port]/path`: what messages show of a URL (no query, no credentials).
fn endpoint(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

fn status_problem(status: StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    let hint = match status.as_u16() {
        401 => "; the server refused the credentials (check the secret named under auth)",
        403 => "; the credentials are not allowed to read this endpoint",
        300..=399 => "; redirects to another host are not followed",
        _ => "",
    };
    format!("HTTP {} {reason}{hint}", status.as_u16())
}

/// A transport error in words, without the URL (messages add the endpoint themselves).
fn transport_problem(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the body"
    } else {
        "the request failed"
    };
    let mut detail = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push(cause.to_string());
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", detail.join(": "))
    }
}

/// Runs a future to completion on a fresh single-threaded runtime on its own thread, so that the
/// caller may itself be inside a runtime (the daemon) or not (`regbridge run`).
fn on_own_runtime<'a, T, F>(make: impl FnOnce() -> F + Send + 'a) -> Result<T, HttpError>
where
    F: std::future::Future<Output = Result<T, HttpError>>,
    T: Send + 'a,
{
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HttpError::Config(format!("cannot start the HTTP runtime: {e}")))?;
            runtime.block_on(make())
        });
        worker.join().unwrap_or_else(|_| {
            Err(HttpError::Config(
                "the HTTP pull stopped unexpectedly".to_string(),
            ))
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursor_values_compare_as_numbers_or_as_text() {
        assert_eq!(cursor_max(Some("9".into()), "10"), "10");
        assert_eq!(
            cursor_max(Some("2026-11-02T10:00:00Z".into()), "2026-11-01T23:00:00Z"),
            "2026-11-02T10:00:00Z"
        );
        assert_eq!(cursor_max(None, "a"), "a");
    }

    #[test]
    fn endpoints_leave_out_query_and_credentials() {
        let url =
            reqwest::Url::parse("https://host.example:8443/api/cases?token=x&page=2").unwrap();
        assert_eq!(endpoint(&url), "https://host.example:8443/api/cases");
    }
}
