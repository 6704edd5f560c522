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

/// Keeps what a pull delivers, as the state database would: one version per record key.
#[derive(Default)]
struct MemorySink {
    stored: BTreeMap<String, Value>,
    deliveries: BTreeMap<String, usize>,
    checkpoint: Option<Checkpoint>,
    safe_watermark: Option<String>,
    pages: u32,
}

impl PageSink for MemorySink {
    fn store(&mut self, page: &Page) -> Result<(), String> {
        for record in &page.records {
            self.stored
                .insert(record.key.clone(), Value::Object(record.fields.clone()));
            *self.deliveries.entry(record.key.clone()).or_default() += 1;
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
    tables: &str,
    format: Format,
) -> (MemorySink, PullOutcome) {
    let source = source(server, "", tables, format);
    let mut sink = MemorySink::default();
    let outcome = pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(served);
    sink.assert_each_once();
    assert_eq!(outcome.watermark, Some(newest(served)));
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
    let (sink, outcome) = pull_everything(&server, &served, &tables, json_body());
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
    pull_everything(&server, &served, &tables, Format::JsonLines);
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
    let (_, outcome) = pull_everything(&server, &served, &tables, json_body());
    assert_eq!(outcome.pages, 7);
}

#[test]
fn a_cursor_in_a_header_over_csv() {
    let served = records(250);
    let server = ApiServer::start(served.clone(), Style::CursorHeader, Body::Csv, 45);
    let tables = "[paging]\nstyle = \"cursor\"\ncursor_header = \"X-Next-Cursor\"\n".to_string()
        + INCREMENTAL;
    let (sink, _) = pull_everything(&server, &served, &tables, Format::Csv(CsvFormat::default()));
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
    let (_, outcome) = pull_everything(&server, &served, &tables, json_body());
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
    let source = source(&server, "", &page_style(50), json_body());
    let mut sink = MemorySink::default();
    let outcome = pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(outcome.watermark, Some(newest(&served)));
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
    let source = source(&server, "timeout_secs = 0.5", &page_style(50), json_body());
    let mut sink = MemorySink::default();
    pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(requests_for_page(&server, 3), 2);
}

#[test]
fn truncated_and_unparsable_bodies_are_retried_never_half_stored() {
    let served = records(300);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(2), 1, Fault::Truncate);
    server.fault(Some(4), 1, Fault::Garbled);
    let source = source(&server, "", &page_style(50), json_body());
    let mut sink = MemorySink::default();
    let outcome = pull(&source, &mut sink, PullStart::default());
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(outcome.watermark, Some(newest(&served)));
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
            watermark: None,
            resume: Some(checkpoint),
            full: false,
        },
    );
    assert!(outcome.resumed);
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(requests_for_page(&server, 1), 1, "page 1 not asked again");
    assert_eq!(outcome.watermark, Some(newest(&served)));
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

#[test]
fn records_sharing_the_cursor_value_are_not_missed() {
    let mut served = records(120);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 25);
    let source = source(&server, "", &page_style(25), json_body());
    let mut sink = MemorySink::default();
    let first = pull(&source, &mut sink, PullStart::default());
    let watermark = first.watermark.clone().unwrap();
    assert_eq!(watermark, newest(&served));

    // Three more records arrive with the very update time the cursor holds, two later ones, and
    // an old record is corrected.
    let mut added = Vec::new();
    for i in 0..3 {
        added.push(serde_json::json!({"id": format!("NEW-{i}"), "updated_at": watermark, "municipality": "Prizren", "child_given_name": "X", "hours_per_week": 1}));
    }
    for i in 3..5 {
        added.push(serde_json::json!({"id": format!("NEW-{i}"), "updated_at": "2026-12-24T08:00:00Z", "municipality": "Pejë", "child_given_name": "Y", "hours_per_week": 2}));
    }
    served[5]["updated_at"] = Value::String("2026-12-24T09:00:00Z".to_string());
    served.extend(added);
    served.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
    server.state.lock().unwrap().records = served.clone();

    let second = pull(
        &source,
        &mut sink,
        PullStart {
            watermark: Some(watermark.clone()),
            ..PullStart::default()
        },
    );
    sink.assert_holds(&served);
    for i in 0..5 {
        assert_eq!(sink.deliveries[&format!("NEW-{i}")], 1);
    }
    assert_eq!(
        sink.deliveries["INS-0006"], 2,
        "the correction replaced the first version"
    );
    assert_eq!(second.watermark.as_deref(), Some("2026-12-24T09:00:00Z"));
    // Only what changed at or after the cursor came again, not the whole set.
    assert!(second.records < 20, "{}", second.records);
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
    let outcome = pull(
        &source,
        &mut sink,
        PullStart {
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
    sink.assert_holds(&served);
    sink.assert_each_once();
    assert_eq!(outcome.watermark, Some(newest(&served)));
}

#[test]
fn ordered_apis_advance_the_cursor_with_every_stored_page() {
    let served = records(200);
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.fault(Some(2), 100, Fault::Status(500));
    let tables = format!("{}ordered = true\n", page_style(50));
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
