//! HTTP sources end to end: the `regbridge` binary pulling the inspectorate's synthetic records from
//! a real HTTP server on 127.0.0.1 — publication, repeated and killed pulls, failures reported to
//! owners and IT staff, `check --connect`, and secrets kept out of every log and message.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api_server::{ApiServer, Body, Fault, Style};
use crate::{ok, read_csv, regbridge, repo_root, write_config};

/// The shipped sample's inspections, each with an update time (records of the same day share it).
fn inspections() -> Vec<Value> {
    let path = repo_root().join("samples/inspectorate/inspections_0001.json");
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut records = document["data"]["inspections"].as_array().unwrap().clone();
    for record in &mut records {
        let date = record["inspection_date"]
            .as_str()
            .unwrap_or("2024-01-01")
            .to_string();
        record["updated_at"] = Value::String(format!("{date}T08:00:00Z"));
    }
    records
}

/// A configuration whose inspectorate source is the server's API (bearer token from `token_env`).
fn api_config(work: &Path, server: &ApiServer, token_env: &str, extra_http: &str) -> PathBuf {
    let sources = format!(
        r#"[sources.inspectorate_api]
institution = "inspectorate"
schema = "inspectorate.schema.json"
mapping = "inspectorate.toml"
[sources.inspectorate_api.format]
format = "json"
records_path = "data"
[sources.inspectorate_api.http]
url = "{url}"
id_field = "inspection_id"
timeout_secs = 5
{extra_http}
[sources.inspectorate_api.http.auth]
type = "bearer"
token_env = "{token_env}"
[sources.inspectorate_api.http.paging]
style = "page"
size_param = "per_page"
page_size = 50
[sources.inspectorate_api.http.incremental]
param = "updated_since"
field = "updated_at"
[sources.inspectorate_api.http.retry]
max_attempts = 2
initial_delay_secs = 0.01
max_delay_secs = 0.05
"#,
        url = server.url()
    );
    write_config(work, &sources)
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Record ids of the source in the published cases and quarantine.
fn published_ids(work: &Path) -> Vec<String> {
    let published = work.join("out/published");
    let mut ids: Vec<String> = read_csv(&published.join("cases.csv"))
        .into_iter()
        .chain(read_csv(&published.join("quarantine.csv")))
        .filter(|r| r["source"] == "inspectorate_api")
        .map(|r| r["record_id"].clone())
        .collect();
    ids.sort();
    ids
}

fn served_ids(records: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r["inspection_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Where the source's pulls stand, read from the state database.
fn position(work: &Path) -> regbridge::state::PullPosition {
    regbridge::state::StateStore::open_reader(&work.join("out/state"))
        .unwrap()
        .unwrap()
        .pull_position("inspectorate_api")
        .unwrap()
}

#[test]
fn a_run_pulls_an_api_source_and_publishes_every_record_exactly_once() {
    let served = inspections();
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    server.require("authorization", "Bearer e2e-run-token-4411");
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_RUN_TOKEN", "");
    let run = || {
        json_of(&ok(regbridge()
            .env("E2E_RUN_TOKEN", "e2e-run-token-4411")
            .args(["--json", "run", "--config"])
            .arg(&config)))
    };
    let first = run();
    let counts = &first["sources"]["inspectorate_api"];
    assert_eq!(counts["received"], served.len(), "{first}");
    assert_eq!(
        counts["accepted"].as_u64().unwrap() + counts["quarantined"].as_u64().unwrap(),
        served.len() as u64
    );
    assert_eq!(published_ids(work.path()), served_ids(&served));

    // A second run asks for everything once more (the cursor lags one pass behind, so that a
    // record changed during a pull is never skipped); nothing is counted twice.
    let second = run();
    assert_eq!(
        second["sources"]["inspectorate_api"]["received"],
        served.len()
    );
    assert_eq!(published_ids(work.path()), served_ids(&served));
    let newest = served
        .iter()
        .map(|r| r["updated_at"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(position(work.path()).watermark.as_deref(), Some(newest));

    // From the third run on, pulls ask from the cursor: only records at or after it come again.
    let asked_before = server.requests().len();
    let third = run();
    assert_eq!(
        third["sources"]["inspectorate_api"]["received"],
        served.len()
    );
    assert_eq!(published_ids(work.path()), served_ids(&served));
    let asked: Vec<String> = server.requests()[asked_before..]
        .iter()
        .map(|(_, q)| q.clone())
        .collect();
    assert!(
        asked
            .iter()
            .all(|q| q.contains(&format!("updated_since={}", newest.replace(':', "%3A")))),
        "the third pull asks from the cursor: {asked:?}"
    );
    assert!(asked.len() < 5, "{asked:?}");

    let status = json_of(&ok(regbridge()
        .args(["--json", "status", "--config"])
        .arg(&config)));
    let pulls = status["pulls"].as_array().unwrap();
    assert_eq!(pulls[0]["source"], "inspectorate_api");
    assert_eq!(pulls[0]["records"], served.len());
    assert_eq!(pulls[0]["consecutive_failures"], 0);
    assert!(position(work.path()).checkpoint.is_none());
}

#[test]
fn a_pull_killed_midway_resumes_without_losing_or_duplicating_records() {
    let served = inspections();
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    // Page 6 sends half its body, then hangs: the pull is killed while it waits.
    server.fault(Some(5), 1, Fault::Hang);
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_KILL_TOKEN", "");
    let mut child = regbridge()
        .env("E2E_KILL_TOKEN", "unused")
        .args(["--quiet", "pull", "--config"])
        .arg(&config)
        .arg("inspectorate_api")
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !server.requests().iter().any(|(_, q)| q.contains("page=6")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "page 6 never asked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();

    let asked_before = server.requests().len();
    let resumed = json_of(&ok(regbridge()
        .env("E2E_KILL_TOKEN", "unused")
        .args(["--json", "pull", "--config"])
        .arg(&config)
        .arg("inspectorate_api")));
    let report = &resumed[0]["http"];
    assert_eq!(report["resumed"], true, "{resumed}");
    assert_eq!(
        report["new_records"].as_u64().unwrap(),
        served.len() as u64 - 250,
        "pages 1–5 were stored before the kill: {resumed}"
    );
    let asked: Vec<String> = server.requests()[asked_before..]
        .iter()
        .map(|(_, q)| q.clone())
        .collect();
    assert!(
        asked[0].contains("page=6"),
        "the pull resumes at page 6: {asked:?}"
    );
    assert!(!asked
        .iter()
        .any(|q| q.contains("page=1&") || q.ends_with("page=1")));
    assert!(
        position(work.path()).checkpoint.is_none(),
        "the pass is complete"
    );

    let run = json_of(&ok(regbridge()
        .args(["--json", "run", "--no-pull", "--config"])
        .arg(&config)));
    assert_eq!(run["sources"]["inspectorate_api"]["received"], served.len());
    assert_eq!(published_ids(work.path()), served_ids(&served));
}

#[test]
fn a_failing_api_is_reported_to_its_owner_and_to_it_staff_while_the_others_carry_on() {
    let server = ApiServer::start(inspections(), Style::Page, Body::Json, 50);
    server.fault(None, 1000, Fault::Status(503));
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_FAIL_TOKEN", "");
    // Add a police folder source and IT staff to the configuration.
    let police = repo_root().join("samples/police");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "outbox_dir = ",
        "it_recipients = [\"it@example.org\"]\nreport_failing_after_minutes = 0\noutbox_dir = ",
    );
    text.push_str(&format!(
        "\n[sources.police]\ninstitution = \"police\"\npath = \"{}\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = {{ format = \"csv\", delimiter = \";\" }}\n",
        police.display()
    ));
    std::fs::write(&config, text).unwrap();
    let run = || {
        json_of(&ok(regbridge()
            .env("E2E_FAIL_TOKEN", "fail-token")
            .args(["--json", "run", "--config"])
            .arg(&config)))
    };
    let it_mails = || -> Vec<String> {
        let outbox = work.path().join("out/outbox");
        let mut mails: Vec<String> = std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .filter(|m| m.contains("it@example.org"))
                    .collect()
            })
            .unwrap_or_default();
        mails.sort();
        mails
    };

    let first = run();
    assert!(
        first["sources"]["police"]["accepted"].as_u64().unwrap() > 0,
        "{first}"
    );
    assert_eq!(first["sources"]["inspectorate_api"]["received"], 0);
    let findings = read_csv(&work.path().join("out/published/findings.csv"));
    let unreachable: Vec<_> = findings
        .iter()
        .filter(|f| f["rule"] == "source.unreachable")
        .collect();
    assert_eq!(unreachable.len(), 1, "{findings:?}");
    assert_eq!(unreachable[0]["institution"], "inspectorate");
    assert!(
        unreachable[0]["message"].contains("503"),
        "{:?}",
        unreachable[0]
    );
    let mails = it_mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("inspectorate_api is failing"),
        "{}",
        mails[0]
    );
    run();
    assert_eq!(
        it_mails().len(),
        1,
        "told once per failure, not once per pull"
    );

    server.clear_faults();
    let recovered = run();
    assert_eq!(recovered["sources"]["inspectorate_api"]["received"], 599);
    let mails = it_mails();
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().any(|m| m.contains("works again")));
    let findings = read_csv(&work.path().join("out/published/findings.csv"));
    assert!(!findings.iter().any(|f| f["rule"] == "source.unreachable"));
    assert!(recovered["finding_changes"]["resolved"].as_u64().unwrap() >= 1);
}

#[test]
fn check_connect_tries_every_source_and_stores_nothing() {
    let server = ApiServer::start(inspections(), Style::Page, Body::Json, 50);
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_CONNECT_TOKEN", "");
    let output = ok(regbridge()
        .env("E2E_CONNECT_TOKEN", "connect-token")
        .args(["check", "--connect", "--config"])
        .arg(&config));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("inspectorate_api: http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("HTTP 200"), "{text}");
    assert!(
        text.contains("50 records on the first page, more pages follow"),
        "{text}"
    );
    assert!(
        text.contains("schema drift: unknown field updated_at"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(!work.path().join("out/state/state.sqlite").exists());

    // A refused credential is a failed source and a non-zero exit.
    server.require("authorization", "Bearer something-else");
    let output = regbridge()
        .env("E2E_CONNECT_TOKEN", "connect-token")
        .args(["check", "--connect", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("FAILED") && text.contains("401"), "{text}");
}

#[test]
fn secrets_never_appear_in_logs_messages_or_the_state() {
    let token = "e2e-secret-token-90210-zz";
    let served = inspections();
    let server = ApiServer::start(served, Style::Page, Body::Json, 50);
    server.require("authorization", &format!("Bearer {token}"));
    server.fault(Some(1), 1, Fault::Status(503));
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_SECRET_TOKEN", "");
    let mut seen = String::new();
    let mut capture = |output: std::process::Output| {
        seen.push_str(&String::from_utf8_lossy(&output.stdout));
        seen.push_str(&String::from_utf8_lossy(&output.stderr));
    };
    // Everything at the most verbose level, the HTTP client's own logs included.
    let verbose = |args: &[&str]| {
        let mut command = regbridge();
        command
            .env("E2E_SECRET_TOKEN", token)
            .env("REGBRIDGE_LOG", "trace")
            .arg("-vv")
            .args(args)
            .arg("--config")
            .arg(&config);
        command.output().unwrap()
    };
    capture(verbose(&["run"]));
    capture(verbose(&["check", "--connect"]));
    capture(verbose(&["status"]));
    // A refused token: the error and the failure record must not hold it either.
    server.require("authorization", "Bearer another");
    let refused = verbose(&["pull"]);
    assert_eq!(refused.status.code(), Some(1));
    capture(refused);
    capture(verbose(&["--json", "status"]));
    assert!(seen.contains("401"), "the refusal is reported: {seen}");
    assert!(
        seen.contains("starting new connection"),
        "the HTTP client's own trace is part of what was searched"
    );
    assert!(seen.contains("inspectorate_api"));
    assert!(!seen.contains(token), "the token leaked into the output");
    for entry in walk(&work.path().join("out")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token),
            "the token leaked into {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_example_configuration_with_http_sources_checks_clean_offline() {
    let config = repo_root().join("examples/config.http.toml");
    let output = ok(regbridge()
        .env("INSPECTORATE_API_TOKEN", "example-token")
        .env("CSW_API_PASSWORD", "example-password")
        .args(["check", "--config"])
        .arg(&config));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("ok:"), "{text}");
    // Without the secrets, check names the variables it looked in.
    let output = regbridge()
        .env_remove("INSPECTORATE_API_TOKEN")
        .env_remove("CSW_API_PASSWORD")
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text.contains("no secret found in environment variable INSPECTORATE_API_TOKEN"),
        "{text}"
    );
}

#[test]
fn a_full_pull_withdraws_what_the_api_dropped_but_not_what_a_short_answer_missed() {
    let mut served = inspections();
    let server = ApiServer::start(served.clone(), Style::Page, Body::Json, 50);
    let work = tempfile::tempdir().unwrap();
    let config = api_config(work.path(), &server, "E2E_FULL_TOKEN", "");
    // A source without an incremental cursor: every pull asks for everything.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[sources.inspectorate_api.http.incremental]\nparam = \"updated_since\"\nfield = \"updated_at\"\n",
        "",
    );
    std::fs::write(&config, text).unwrap();
    let pull = |full: bool| {
        let mut command = regbridge();
        command
            .env("E2E_FULL_TOKEN", "t")
            .args(["--json", "pull", "--config"])
            .arg(&config);
        if full {
            command.arg("--full");
        }
        json_of(&ok(&mut command))[0]["http"].clone()
    };
    let stored = || {
        regbridge::state::StateStore::open_reader(&work.path().join("out/state"))
            .unwrap()
            .unwrap()
            .pulled_records("inspectorate_api")
            .unwrap()
            .len()
    };
    pull(false);
    assert_eq!(stored(), served.len());

    // Five cases were deleted at the source: the next pull notes them, the one after withdraws
    // them (a single pass may miss a record that shifted between pages).
    served.truncate(served.len() - 5);
    server.state.lock().unwrap().records = served.clone();
    let report = pull(false);
    assert_eq!(report["withdrawn"], 0, "{report}");
    assert_eq!(report["withdrawal_pending"], 5, "{report}");
    let report = pull(false);
    assert_eq!(report["withdrawn"], 5, "{report}");
    assert_eq!(stored(), served.len());

    // The API answers with only its first 100 records (an empty page too early): nothing is
    // withdrawn on such a short answer, and the pull says so.
    server.state.lock().unwrap().records = served[..100].to_vec();
    let report = pull(false);
    assert_eq!(report["withdrawn"], 0, "{report}");
    assert_eq!(report["withdrawal_held"], served.len() - 100);
    assert_eq!(stored(), served.len());

    // An empty answer never wipes the source, not even on a person's request.
    server.state.lock().unwrap().records = Vec::new();
    let report = pull(true);
    assert_eq!(report["withdrawn"], 0, "{report}");
    assert_eq!(stored(), served.len());

    // A person who knows the API really holds only those 100 asks for a full pull.
    server.state.lock().unwrap().records = served[..100].to_vec();
    let report = pull(true);
    assert_eq!(report["withdrawn"], served.len() - 100, "{report}");
    assert_eq!(stored(), 100);
}
