//! `regbridge daemon`: jobs on their schedules, a clean stop on SIGTERM, and catching up once on what
//! was missed while it was down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ok, regbridge, write_config};

const HEADER: &str = "Nr. i rastit;Data e identifikimit;Komuna;Vendi;Emri;Emri i babait;Mbiemri;Gjinia;Data e lindjes;Mosha;Numri personal;Komuniteti;Aktiviteti;Trafikim";

/// A police source with one small export, and the given `[schedule]` and police `schedule`.
fn scheduled_config(work: &Path, police_schedule: &str, schedule_table: &str) -> PathBuf {
    std::fs::create_dir_all(work.join("police")).unwrap();
    let rows =
        "PK-D-001;12.03.2025;Gjakovë;Qendra;Arbër;Ilir;Krasniqi;M;05.06.2013;;;Shqiptar;Lypje;Jo";
    std::fs::write(
        work.join("police/2025-03.csv"),
        format!("{HEADER}\r\n{rows}\r\n"),
    )
    .unwrap();
    write_config(
        work,
        &format!("[sources.police]\ninstitution = \"police\"\npath = \"police\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = {{ format = \"csv\", delimiter = \";\" }}\nschedule = \"{police_schedule}\"\n\n[schedule]\n{schedule_table}"),
    )
}

fn start_daemon(config: &Path) -> Child {
    regbridge()
        .args(["daemon", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn runs(config: &Path) -> Vec<serde_json::Value> {
    let output = ok(regbridge()
        .args(["--json", "status", "--runs", "100", "--config"])
        .arg(config));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    status["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits until `ready` holds for the runs in the state database, at most `limit`.
fn wait_for(config: &Path, limit: Duration, ready: impl Fn(&[serde_json::Value]) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready(&runs(config)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    false
}

fn finished(runs: &[serde_json::Value], kind: &str) -> usize {
    runs.iter()
        .filter(|r| r["kind"] == kind && r["outcome"] == "ok")
        .count()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops the daemon with SIGTERM and returns how long it took and its exit code.
fn stop(mut child: Child) -> (Duration, Option<i32>) {
    let asked = Instant::now();
    signal(&child, "TERM");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (asked.elapsed(), status.code());
        }
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_daemon_on_an_every_minute_schedule_runs_its_jobs_and_stops_on_sigterm() {
    let work = tempfile::tempdir().unwrap();
    let config = scheduled_config(work.path(), "* * * * *", "publish = \"* * * * *\"\n");
    let daemon = start_daemon(&config);
    // The first minute boundary comes within 60 s; both jobs then run one after the other.
    let ran = wait_for(&config, Duration::from_secs(90), |runs| {
        finished(runs, "pull:police") >= 1 && finished(runs, "publish") >= 1
    });
    let (took, code) = stop(daemon);
    assert!(ran, "runs: {:?}", runs(&config));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    // The published dataset is there, and status shows the daemon's runs.
    assert!(work.path().join("out/published/cases.csv").exists());
    let runs = runs(&config);
    assert!(runs.iter().all(|r| r["outcome"] != "failed"), "{runs:?}");
}

/// A daemon that was down when its daily slot came runs the job once on restart (not once per missed
/// day), and a daemon killed and restarted after that does not run it again before the next slot.
#[test]
fn a_daemon_restarted_after_missing_slots_catches_up_exactly_once() {
    let work = tempfile::tempdir().unwrap();
    // Daily at 03:00; a publication three days ago stands for a daemon that has been down since.
    let config = scheduled_config(work.path(), "0 3 * * *", "publish = \"0 3 * * *\"\n");
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let db = work.path().join("out/state/state.sqlite");
    let connection = rusqlite::Connection::open(&db).unwrap();
    let three_days_ago = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    connection
        .execute(
            "UPDATE runs SET kind = 'publish', started_at = ?1",
            [&three_days_ago],
        )
        .unwrap();
    connection
        .execute(
            "INSERT INTO runs (run_id, kind, started_at, finished_at, outcome) VALUES ('old-pull', 'pull:police', ?1, ?1, 'ok')",
            [&three_days_ago],
        )
        .unwrap();
    drop(connection);

    let daemon = start_daemon(&config);
    let caught_up = wait_for(&config, Duration::from_secs(30), |runs| {
        finished(runs, "publish") >= 2 && finished(runs, "pull:police") >= 2
    });
    // Killed outright (no chance to tidy up), then restarted: nothing is due before tomorrow 03:00.
    let mut daemon = daemon;
    signal(&daemon, "KILL");
    daemon.wait().unwrap();
    assert!(caught_up, "runs: {:?}", runs(&config));
    let restarted = start_daemon(&config);
    std::thread::sleep(Duration::from_secs(3));
    let (_, code) = stop(restarted);
    assert_eq!(code, Some(0));
    let runs = runs(&config);
    assert_eq!(finished(&runs, "publish"), 2, "caught up once: {runs:?}");
    assert_eq!(
        finished(&runs, "pull:police"),
        2,
        "caught up once: {runs:?}"
    );
}

/// With a digests schedule, the daemon's publication queues the digests in the outbox and the
/// `digests` job sends them (caught up here in that order after downtime).
#[test]
fn scheduled_digests_are_sent_by_the_digests_job_from_the_outbox() {
    let work = tempfile::tempdir().unwrap();
    let config = scheduled_config(
        work.path(),
        "0 3 * * *",
        "publish = \"0 3 * * *\"\ndigests = \"0 4 * * *\"\n",
    );
    // A record the police must fix, so that the police digest has something to say.
    let bad =
        "PK-D-002;12.03.2025;Prizren;Qendra;Drita;Agim;Berisha;F;31.02.2012;;;Shqiptar;Lypje;Jo";
    let export = work.path().join("police/2025-03.csv");
    let text = std::fs::read_to_string(&export).unwrap();
    std::fs::write(&export, format!("{text}{bad}\r\n")).unwrap();
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let outbox = work.path().join("out/outbox");
    let mails = |dir: &Path| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let by_hand = mails(&outbox);
    assert!(by_hand >= 1, "a run started by hand sends its digests");
    // Another record to fix arrives: the caught-up publication finds it, and only the digests
    // job tells about it (what the first digest told is not told again).
    let another =
        "PK-D-003;12.03.2025;Prizren;Qendra;Besa;Agim;Berisha;F;30.02.2012;;;Shqiptar;Lypje;Jo";
    let text = std::fs::read_to_string(&export).unwrap();
    std::fs::write(&export, format!("{text}{another}\r\n")).unwrap();

    let db = work.path().join("out/state/state.sqlite");
    let connection = rusqlite::Connection::open(&db).unwrap();
    let days_ago = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    connection
        .execute(
            "UPDATE runs SET kind = 'publish', started_at = ?1",
            [&days_ago],
        )
        .unwrap();
    for kind in ["pull:police", "digests"] {
        connection
            .execute(
                "INSERT INTO runs (run_id, kind, started_at, finished_at, outcome) VALUES (?1, ?1, ?2, ?2, 'ok')",
                [kind, &days_ago],
            )
            .unwrap();
    }
    drop(connection);
    let daemon = start_daemon(&config);
    let done = wait_for(&config, Duration::from_secs(30), |runs| {
        finished(runs, "digests") >= 2 && finished(runs, "publish") >= 2
    });
    let (_, code) = stop(daemon);
    assert!(done, "runs: {:?}", runs(&config));
    assert_eq!(code, Some(0));
    // The caught-up publication's police digest went out through the digests job, once.
    assert_eq!(mails(&outbox), by_hand + 1, "outbox: {}", mails(&outbox));
    let connection = rusqlite::Connection::open(&db).unwrap();
    let pending: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM alert_outbox WHERE sent_at IS NULL AND superseded = 0",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
}
