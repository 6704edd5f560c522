//! The HTTP source against a real HTTP server on 127.0.0.1: every paging style and body format,
//! each authentication, and injected faults. Each test checks that every record arrives exactly
//! once and that the cursor is right.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/api_server.rs"]
mod api_server;

use std::collections::BTreeMap;
use std::time::Duration;

use api_server::{records, ApiServer, Body, Fault, Style};
use regbridge_connectors::decode::{CsvFormat, Format, JsonFormat};
use regbridge_connectors::source::http::{
    Checkpoint, HttpSettings, HttpSource, Page, PageRequest, PageSink, PullOutcome, PullStart,
};
use serde_json::Value;

/// Called after a page is stored, with its number: lets a test change the server mid-pull.
type AfterPage = Box<dyn FnMut(u32) + Send>;

/// Keeps what a pull delivers, as the state database would: one version per record key.
#[derive(Default)]
struct MemorySink {
    stored: BTreeMap<String, Value>,
    deliveries: BTreeMap<String, usize>,
    problems: BTreeMap<String, Vec<String>>,
    checkpoint: Option<Checkpoint>,
    safe_watermark: Option<String>,
    pages: u32,
    after_page: Option<AfterPage>,
}

impl PageSink for MemorySink {
    fn store(&mut self, page: &Page) -> Result<(), String> {
        for record in &page.records {
            self.stored
                .insert(record.key.clone(), Value::Object(record.fields.clone()));
            *self.deliveries.entry(record.key.clone()).or_default() += 1;
            if !record.problems.is_empty() {
                self.problems
                    .insert(record.key.clone(), record.problems.clone());
            }
        }
        if let Some(after) = self.after_page.as_mut() {
            after(page.number);
        }
        self.checkpoint = page.checkpoint.clone();
        if page.safe_watermark.is_some() {
            self.safe_watermark = page.safe_watermark.clone();
        }
        self.pages += 1;
        Ok(())
    }
}

impl MemorySink {
    /// Every served record is stored, as served.
    fn assert_holds(&self, served: &[Value]) {
        let expected: BTreeMap<String, Value> = served
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
            .collect();
        assert_eq!(self.stored.len(), expected.len(), "records stored");
        for (key, record) in &expected {
            let stored = self
                .stored
                .get(key)
                .unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(stored["updated_at"], record["updated_at"], "{key}");
        }
    }

    /// … and each was delivered exactly once.
    fn assert_each_once(&self) {
        let repeated: Vec<_> = self.deliveries.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            repeated.is_empty(),
            "delivered more than once: {repeated:?}"
        );
    }
}

fn json_body() -> Format {
    Format::Json(JsonFormat {
        records_path: Some("data".to_string()),
    })
}

/// A source for the server: `top` holds top-level keys, `tables` TOML tables.
fn source(server: &ApiServer, top: &str, tables: &str, format: Format) -> HttpSource {
    let text = format!(
        "url = \"{}\"\nid_field = \"id\"\n{top}\n[retry]\ninitial_delay_secs = 0.01\nmax_delay_secs = 0.05\n{tables}\n",
        server.url()
    );
    let settings: HttpSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    HttpSource::new(settings, format).unwrap()
}

const INCREMENTAL: &str = "[incremental]\nparam = \"updated_since\"\nfield = \"updated_at\"\n";

fn newest(served: &[Value]) -> String {
    served
        .iter()
        .map(|r| r["updated_at"].as_str().unwrap().to_string())
        .max()
        .unwrap()
}

fn pull(source: &HttpSource, sink: &mut MemorySink, start: PullStart) -> PullOutcome {
    source.pull(start, sink).unwrap_or_else(|e| panic!("{e}"))
}

/// Pulls everything from scratch and checks what every test relies on: each served record arrived
/// exactly once, and the cursor is the newest update time.
fn pull_everything(
    server: &ApiServer,
    served: &[Value],
    (top, tables): (&str, &str),
    format: Format,
) -> (MemorySink, PullOutcome) {
    let source = source(server, top, tables, format);
    let mut sink = MemorySink::default();
    let outcome = pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(served);
    sink.assert_each_once();
    assert_eq!(outcome.seen_max, Some(newest(served)));
    // A first pass has no earlier one to lag behind: the next pass asks for everything again.
    assert_eq!(outcome.watermark, None);
    (sink, outcome)
}

fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string().replace('\\', "/")
}

#[test]
fn page_numbers_with_a_bearer_token_deliver_every_record_once() {
    let served = records(350);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 40);
    server.require("authorization", "Bearer page-token-81f3");
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(&dir, "token", "page-token-81f3");
    let tables = format!(
        "[auth]\ntype = \"bearer\"\ntoken_file = \"{token}\"\n[paging]\nstyle = \"page\"\nsize_param = \"per_page\"\npage_size = 40\n{INCREMENTAL}"
    );
    let (sink, outcome) = pull_everything(&server, &served, ("", &tables), json_body());
    assert_eq!(outcome.records, 350);
    // 8 full pages, one of 30, and the empty page that ends the pull.
    assert_eq!(outcome.pages, 10);
    assert!(
        sink.checkpoint.is_none(),
        "a complete pass leaves no checkpoint"
    );
}

#[test]
fn offsets_with_basic_auth_over_json_lines() {
    let served = records(301);
    let server = ApiServer::start(served.clone(), Style::Offset, Body::JsonLines, 50);
    // "officer:pa55 word" in base64.
    server.require("authorization", "Basic b2ZmaWNlcjpwYTU1IHdvcmQ=");
    let dir = tempfile::tempdir().unwrap();
    let password = secret_file(&dir, "password", "pa55 word");
    let tables = format!(
        "[auth]\ntype = \"basic\"\nusername = \"officer\"\npassword_file = \"{password}\"\n[paging]\nstyle = \"offset\"\nlimit = 50\n{INCREMENTAL}"
    );
    pull_everything(&server, &served, ("", &tables), Format::JsonLines);
}

#[test]
fn a_cursor_in_the_body_with_an_api_key_header() {
    let served = records(420);
    let server = ApiServer::start(served.clone(), Style::Cursor, Body::Json, 60);
    server.require("x-api-key", "key-9c1d");
    std::env::set_var("REGBRIDGE_TEST_CURSOR_KEY", "key-9c1d");
    let tables = format!(
        "[auth]\ntype = \"api_key\"\nheader = \"X-API-Key\"\nkey_env = \"REGBRIDGE_TEST_CURSOR_KEY\"\n[paging]\nstyle = \"cursor\"\ncursor_path = \"meta.next_cursor\"\nsize_param = \"limit\"\npage_size = 60\n{INCREMENTAL}"
    );
    let (_, outcome) = pull_everything(&server, &served, ("", &tables), json_body());
    assert_eq!(outcome.pages, 7);
}

#[test]
fn a_cursor_in_a_header_over_csv() {
    let served = records(250);
    let server = ApiServer::start(served.clone(), Style::CursorHeader, Body::Csv, 45);
    let tables = "[paging]\nstyle = \"cursor\"\ncursor_header = \"X-Next-Cursor\"\n".to_string()
        + INCREMENTAL;
    let (sink, _) = pull_everything(
        &server,
        &served,
        ("", &tables),
        Format::Csv(CsvFormat::default()),
    );
    // CSV values are text: the record keeps the id as the server wrote it.
    assert_eq!(sink.stored["INS-0007"]["hours_per_week"], "7");
}

#[test]
fn link_headers_with_a_token_from_the_environment() {
    let served = records(333);
    let server = ApiServer::start(served.clone(), Style::Link, Body::Json, 50);
    server.require("authorization", "Bearer link-token-77");
    std::env::set_var("REGBRIDGE_TEST_LINK_TOKEN", "link-token-77");
    let tables = format!(
        "[auth]\ntype = \"bearer\"\ntoken_env = \"REGBRIDGE_TEST_LINK_TOKEN\"\n[paging]\nstyle = \"link\"\n{INCREMENTAL}"
    );
    let (_, outcome) = pull_everything(&server, &served, ("", &tables), json_body());
    assert_eq!(outcome.pages, 7);
}

fn page_style(size: u32) -> String {
    format!(
        "[paging]\nstyle = \"page\"\nsize_param = \"per_page\"\npage_size = {size}\n{INCREMENTAL}"
    )
}

/// How many requests asked for `page=<n>`.
fn requests_for_page(server: &ApiServer, n: usize) -> usize {
    let wanted = format!("page={n}");
    server
        .requests()
        .iter()
        .filter(|(_, q)| q.split(['?', '&']).any(|p| p == wanted))
        .count()
}

#[test]
fn unavailable_servers_and_rate_limits_are_retried_honouring_retry_after() {
    let served = records(300);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(1), 2, Fault::Status(503));
    server.fault(
        Some(3),
        1,
        Fault::TooMany {
            retry_after_secs: 1,
        },
    );
    pull_everything(&server, &served, ("", &page_style(50)), json_body());
    assert_eq!(requests_for_page(&server, 2), 3, "503 twice, then success");
    assert_eq!(requests_for_page(&server, 4), 2);
    let asked: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|(_, q)| q.contains("page=4&") || q.ends_with("page=4"))
        .map(|(t, _)| t)
        .collect();
    let waited = asked[1].duration_since(asked[0]);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
}

#[test]
fn a_slow_answer_past_the_timeout_is_retried() {
    let served = records(200);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(2), 1, Fault::Slow(Duration::from_secs(3)));
    pull_everything(
        &server,
        &served,
        ("timeout_secs = 0.5", &page_style(50)),
        json_body(),
    );
    assert_eq!(requests_for_page(&server, 3), 2);
}

#[test]
fn truncated_and_unparsable_bodies_are_retried_never_half_stored() {
    let served = records(300);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(2), 1, Fault::Truncate);
    server.fault(Some(4), 1, Fault::Garbled);
    pull_everything(&server, &served, ("", &page_style(50)), json_body());
    assert_eq!(requests_for_page(&server, 3), 2);
    assert_eq!(requests_for_page(&server, 5), 2);
}

#[test]
fn a_dropped_connection_stops_the_pull_and_the_next_pull_resumes() {
    let served = records(400);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(3), 100, Fault::Truncate);
    let tables = page_style(50);
    let source = source(&server, "", &tables, json_body());
    let mut sink = MemorySink::default();
    let error = source
        .pull(PullStart::default(), &mut sink)
        .expect_err("page 4 never arrives whole");
    let message = error.to_string();
    assert!(message.contains("/api/inspections, page 4"), "{message}");
    assert!(message.contains("after 5 attempts"), "{message}");
    // Only whole pages were handed over: pages 1–3.
    assert_eq!(sink.stored.len(), 150);
    let checkpoint = sink.checkpoint.clone().expect("a checkpoint after page 3");
    assert_eq!(checkpoint.next, PageRequest::Page(4));
    assert_eq!(checkpoint.pass_watermark, None);

    server.clear_faults();
    let outcome = pull(
        &source,
        &mut sink,
        PullStart {
            resume: Some(checkpoint),
            ..PullStart::default()
        },
    );
    assert!(outcome.resumed);
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(requests_for_page(&server, 1), 1, "page 1 not asked again");
    assert_eq!(outcome.seen_max, Some(newest(&served)));
}

#[test]
fn a_401_is_not_retried_and_no_message_holds_the_secret() {
    let server = ApiServer::start(records(100), Style::Page, Body::Json, 50);
    server.require("authorization", "Bearer the-right-one");
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(&dir, "token", "wrong-token-5521");
    let tables = format!(
        "[auth]\ntype = \"bearer\"\ntoken_file = \"{token}\"\n{}",
        page_style(50)
    );
    let source = source(&server, "", &tables, json_body());
    let mut sink = MemorySink::default();
    let error = source.pull(PullStart::default(), &mut sink).unwrap_err();
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
    assert_eq!(error.status(), Some(401));
    assert!(sink.checkpoint.is_none(), "no progress recorded");
    let shown = format!("{error} {error:?} {source:?}");
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains("wrong-token-5521"), "{shown}");
    assert!(sink.stored.is_empty());
}

#[test]
fn a_missing_secret_is_reported_by_name_before_any_request() {
    let server = ApiServer::start(records(10), Style::Page, Body::Json, 50);
    let tables = "[auth]\ntype = \"bearer\"\ntoken_env = \"REGBRIDGE_TEST_UNSET_TOKEN\"\n";
    let text = format!("url = \"{}\"\n{tables}", server.url());
    let settings: HttpSettings = toml::from_str(&text).unwrap();
    let error = HttpSource::new(settings, json_body())
        .unwrap_err()
        .to_string();
    assert!(error.contains("REGBRIDGE_TEST_UNSET_TOKEN"), "{error}");
    assert!(server.requests().is_empty());
}

/// Where a source's pulls stand between pulls, as the state database keeps it.
#[derive(Default)]
struct Position {
    watermark: Option<String>,
    previous_max: Option<String>,
}

impl Position {
    fn pull(&mut self, source: &HttpSource, sink: &mut MemorySink) -> PullOutcome {
        let start = PullStart {
            watermark: self.watermark.clone(),
            previous_max: self.previous_max.clone(),
            ..PullStart::default()
        };
        let outcome = pull(source, sink, start);
        self.watermark = outcome.watermark.clone();
        self.previous_max = outcome.seen_max.clone();
        outcome
    }
}

fn inspection(id: &str, updated_at: &str) -> Value {
    serde_json::json!({"id": id, "updated_at": updated_at, "municipality": "Prizren", "child_given_name": "X", "hours_per_week": 1})
}

#[test]
fn records_sharing_the_cursor_value_are_not_missed() {
    let mut served = records(120);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 25);
    let source = source(&server, "", &page_style(25), json_body());
    let mut sink = MemorySink::default();
    let mut position = Position::default();
    position.pull(&source, &mut sink);
    position.pull(&source, &mut sink);
    let cursor = position.watermark.clone().unwrap();
    assert_eq!(
        cursor,
        newest(&served),
        "two passes in, the cursor is the first one's newest"
    );

    // Three more records arrive with the very update time the cursor holds, two later ones, and
    // an old record is corrected.
    for i in 0..3 {
        served.push(inspection(&format!("NEW-{i}"), &cursor));
    }
    for i in 3..5 {
        served.push(inspection(&format!("NEW-{i}"), "2026-12-24T08:00:00Z"));
    }
    served[5]["updated_at"] = Value::String("2026-12-24T09:00:00Z".to_string());
    served.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
    server.state.lock().unwrap().records = served.clone();

    let third = position.pull(&source, &mut sink);
    sink.assert_holds(&served);
    for i in 0..5 {
        assert_eq!(sink.deliveries[&format!("NEW-{i}")], 1);
    }
    assert_eq!(
        sink.deliveries["INS-0006"], 3,
        "two full passes, then the correction replaced the first version"
    );
    assert_eq!(third.seen_max.as_deref(), Some("2026-12-24T09:00:00Z"));
    // Only what changed at or after the cursor came again, not the whole set.
    assert!(third.records < 20, "{}", third.records);
}

#[test]
fn a_change_made_during_a_pull_to_a_page_already_read_is_caught_by_the_next_pull() {
    let served = records(200);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    let source = source(&server, "", &page_style(50), json_body());
    let mut sink = MemorySink::default();
    let mut position = Position::default();
    position.pull(&source, &mut sink);

    // During the next pull, once page 2 is stored, record 5 (on page 1, already read) is
    // corrected, and then record 190 (on page 4, not read yet) as well, a little later.
    let state = server.state.clone();
    sink.after_page = Some(Box::new(move |number| {
        if number == 2 {
            let mut state = state.lock().unwrap();
            state.records[4]["updated_at"] = Value::String("2026-12-01T10:00:00Z".to_string());
            state.records[189]["updated_at"] = Value::String("2026-12-01T11:00:00Z".to_string());
        }
    }));
    let during = position.pull(&source, &mut sink);
    sink.after_page = None;
    assert_eq!(during.seen_max.as_deref(), Some("2026-12-01T11:00:00Z"));
    assert_eq!(
        sink.stored["INS-0005"]["updated_at"],
        served[4]["updated_at"]
    );

    // The next pull asks from what the pass before saw, not from 11:00: the 10:00 correction
    // of a page that was already read comes too.
    position.pull(&source, &mut sink);
    assert_eq!(
        sink.stored["INS-0005"]["updated_at"],
        "2026-12-01T10:00:00Z"
    );
    assert_eq!(
        sink.stored["INS-0190"]["updated_at"],
        "2026-12-01T11:00:00Z"
    );
}

#[test]
fn an_expired_cursor_on_resume_starts_the_pass_over() {
    let served = records(200);
    let server = ApiServer::start(served.clone(), Style::Cursor, Body::Json, 50);
    server.state.lock().unwrap().expired_cursors = vec!["c100".to_string()];
    let tables =
        format!("[paging]\nstyle = \"cursor\"\ncursor_path = \"meta.next_cursor\"\n{INCREMENTAL}");
    let source = source(&server, "", &tables, json_body());
    let mut sink = MemorySink::default();
    // The interrupted pass asked for everything (a full pass); the cursor of complete passes is
    // already at the newest value. Starting over, the pass still asks for everything.
    let outcome = pull(
        &source,
        &mut sink,
        PullStart {
            watermark: Some(newest(&served)),
            resume: Some(Checkpoint {
                pass_watermark: None,
                next: PageRequest::Cursor("c100".to_string()),
                seen_max: None,
                pages: 2,
            }),
            ..PullStart::default()
        },
    );
    assert!(outcome.restarted);
    assert!(server
        .requests()
        .iter()
        .all(|(_, q)| !q.contains("updated_since")));
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(outcome.seen_max, Some(newest(&served)));
}

#[test]
fn ordered_apis_advance_the_cursor_with_every_stored_page() {
    let served = records(200);
    let server = ApiServer::start(served.clone(), Style::Cursor, Body::Json, 50);
    server.fault(Some(2), 100, Fault::Status(500));
    let tables = format!(
        "[paging]\nstyle = \"cursor\"\ncursor_path = \"meta.next_cursor\"\n{INCREMENTAL}ordered = true\n"
    );
    let source = source(&server, "", &tables, json_body());
    let mut sink = MemorySink::default();
    assert!(source.pull(PullStart::default(), &mut sink).is_err());
    let stored_newest = sink
        .stored
        .values()
        .map(|r| r["updated_at"].as_str().unwrap().to_string())
        .max();
    assert_eq!(sink.safe_watermark, stored_newest);
    assert_eq!(sink.stored.len(), 100);
}

#[test]
fn a_post_query_api_gets_its_parameters_in_the_body() {
    let served = records(130);
    let server = ApiServer::start(served.clone(), Style::Offset, Body::Json, 40);
    let tables = format!(
        "[body]\nstatus = \"all\"\n[paging]\nstyle = \"offset\"\nlimit = 40\n{INCREMENTAL}"
    );
    let source = source(&server, "method = \"POST\"", &tables, json_body());
    let mut sink = MemorySink::default();
    pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(&served);
    sink.assert_each_once();
    // Numbers go as numbers, the incremental value as text (a zero-padded id stays as it is).
    let start = PullStart {
        watermark: Some("000123".to_string()),
        ..PullStart::default()
    };
    pull(&source, &mut sink, start);
    let bodies = server.state.lock().unwrap().bodies.clone();
    assert_eq!(bodies[1]["offset"], 40);
    assert_eq!(bodies[1]["limit"], 40);
    assert_eq!(bodies[1]["status"], "all");
    assert_eq!(bodies.last().unwrap()["updated_since"], "000123");
}

#[test]
fn a_pull_works_from_inside_an_async_runtime() {
    // The daemon calls pulls from a runtime's blocking thread; the source runs its own.
    let served = records(120);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    let source = source(&server, "", &page_style(50), json_body());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = MemorySink::default();
    runtime
        .block_on(async { source.pull(PullStart::default(), &mut sink) })
        .unwrap();
    sink.assert_holds(&served);
    sink.assert_each_once();
}

#[test]
fn a_next_link_to_another_origin_is_not_followed() {
    let server = ApiServer::start(records(100), Style::Link, Body::Json, 50);
    server.state.lock().unwrap().foreign_links = true;
    let source = source(&server, "", "[paging]\nstyle = \"link\"\n", json_body());
    let mut sink = MemorySink::default();
    let error = source
        .pull(PullStart::default(), &mut sink)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not followed"), "{error}");
    assert_eq!(server.requests().len(), 1);
    // A page whose continuation cannot be followed is not stored: the pull stops before it, and
    // the records stay at the API until the link is fixed.
    assert_eq!(sink.pages, 0);
}

#[test]
fn a_renamed_cursor_field_stops_the_pull_instead_of_ending_it_quietly() {
    let server = ApiServer::start(records(100), Style::Cursor, Body::Json, 50);
    server.state.lock().unwrap().cursor_key = "next".to_string();
    let tables = "[paging]\nstyle = \"cursor\"\ncursor_path = \"meta.next_cursor\"\n";
    let source = source(&server, "", tables, json_body());
    let mut sink = MemorySink::default();
    let error = source
        .pull(PullStart::default(), &mut sink)
        .unwrap_err()
        .to_string();
    assert!(error.contains("meta.next_cursor"), "{error}");
    assert!(
        sink.checkpoint.is_none() && sink.pages == 0,
        "no page stored"
    );
}

#[test]
fn a_page_larger_than_allowed_fails_without_a_retry() {
    let server = ApiServer::start(records(100), Style::Page, Body::Json, 50);
    let source = source(
        &server,
        "max_page_bytes = 2000",
        &page_style(50),
        json_body(),
    );
    let mut sink = MemorySink::default();
    let error = source
        .pull(PullStart::default(), &mut sink)
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_page_bytes"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_record_without_its_id_is_kept_by_content_and_says_so() {
    let mut served = records(30);
    served[3].as_object_mut().unwrap().remove("id");
    let server = ApiServer::start(served, Style::Page, Body::Json, 50);
    let source = source(&server, "", &page_style(50), json_body());
    let mut sink = MemorySink::default();
    pull(&source, &mut sink, PullStart::default());
    assert_eq!(sink.stored.len(), 30);
    let (key, problems) = sink.problems.iter().next().unwrap();
    assert!(key.starts_with("sha256:"), "{key}");
    assert!(problems[0].contains("has no id"), "{problems:?}");
}

#[test]
fn settings_that_would_lose_or_double_records_are_refused() {
    let check = |text: &str| -> String {
        let settings: HttpSettings = toml::from_str(text).unwrap();
        settings.validate().unwrap_err()
    };
    let error = check("url = \"https://api.example/x\"\n[incremental]\nparam = \"since\"\nfield = \"updated_at\"\n");
    assert!(error.contains("id_field"), "{error}");
    let error = check("url = \"https://api.example/x\"\nid_field = \"id\"\n[paging]\nstyle = \"offset\"\n[incremental]\nparam = \"since\"\nfield = \"updated_at\"\nordered = true\n");
    assert!(error.contains("needs cursor paging"), "{error}");
    let error = check("url = \"http://api.example/x\"\n");
    assert!(error.contains("https"), "{error}");
    let error = check("url = \"https://user:pw@api.example/x\"\n");
    assert!(error.contains("password"), "{error}");
}

#[test]
fn a_full_page_without_its_cursor_header_stops_the_pull() {
    let server = ApiServer::start(records(100), Style::CursorHeader, Body::Csv, 50);
    let tables = "[paging]\nstyle = \"cursor\"\ncursor_header = \"X-Renamed-Cursor\"\npage_size = 50\nsize_param = \"limit\"\n";
    let source = source(&server, "", tables, Format::Csv(CsvFormat::default()));
    let mut sink = MemorySink::default();
    let error = source
        .pull(PullStart::default(), &mut sink)
        .unwrap_err()
        .to_string();
    assert!(error.contains("X-Renamed-Cursor"), "{error}");
    assert_eq!(sink.pages, 0);
}

#[test]
fn a_stored_next_link_to_another_origin_is_not_resumed() {
    let served = records(120);
    let server = ApiServer::start(served.clone(), Style::Link, Body::Json, 50);
    let source = source(&server, "", "[paging]\nstyle = \"link\"\n", json_body());
    let mut sink = MemorySink::default();
    let outcome = pull(
        &source,
        &mut sink,
        PullStart {
            resume: Some(Checkpoint {
                pass_watermark: None,
                next: PageRequest::Url("https://old-host.example/api/inspections?page=2".into()),
                seen_max: None,
                pages: 1,
            }),
            ..PullStart::default()
        },
    );
    assert!(outcome.restarted);
    sink.assert_holds(&served);
    sink.assert_each_once();
}
