//! The state database across runs: findings that a corrected export resolves, runs that cannot
//! corrupt one another, and `status`.

use std::path::Path;

use crate::{ok, regbridge, write_config};

const HEADER: &str = "Nr. i rastit;Data e identifikimit;Komuna;Vendi;Emri;Emri i babait;Mbiemri;Gjinia;Data e lindjes;Mosha;Numri personal;Komuniteti;Aktiviteti;Trafikim";

fn police_config(work: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(work.join("police")).unwrap();
    write_config(
        work,
        "[sources.police]\ninstitution = \"police\"\npath = \"police\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = { format = \"csv\", delimiter = \";\" }\n",
    )
}

fn export(work: &Path, name: &str, rows: &[&str]) {
    let text = format!("{HEADER}\r\n{}\r\n", rows.join("\r\n"));
    std::fs::write(work.join("police").join(name), text).unwrap();
}

fn status(config: &Path) -> serde_json::Value {
    let output = ok(regbridge()
        .args(["--json", "status", "--config"])
        .arg(config));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_finding_the_corrected_export_no_longer_raises_is_resolved() {
    let work = tempfile::tempdir().unwrap();
    let config = police_config(work.path());
    let good =
        "PK-S-001;12.03.2025;Gjakovë;Qendra;Arbër;Ilir;Krasniqi;M;05.06.2013;;;Shqiptar;Lypje;Jo";
    // 31 February does not exist: an error the police must fix.
    let bad =
        "PK-S-002;12.03.2025;Prizren;Qendra;Drita;Agim;Berisha;F;31.02.2012;;;Shqiptar;Lypje;Jo";
    export(work.path(), "2025-03.csv", &[good, bad]);
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let before = status(&config);
    let open_errors = before["open_findings"]["police"]["error"].as_u64().unwrap();
    assert!(open_errors >= 1, "{before}");

    // The corrected export replaces the first one (another file name, the date fixed).
    std::fs::remove_file(work.path().join("police/2025-03.csv")).unwrap();
    let fixed = bad.replace("31.02.2012", "28.02.2012");
    export(work.path(), "2025-03-corrected.csv", &[good, &fixed]);
    let summary = ok(regbridge().args(["--json", "run", "--config"]).arg(&config));
    let summary: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert!(
        summary["finding_changes"]["resolved"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(summary["new_inputs"], 1, "{summary}");
    let after = status(&config);
    assert_eq!(
        after["open_findings"]["police"]["error"]
            .as_u64()
            .unwrap_or(0),
        open_errors - 1,
        "{after}"
    );
    assert!(after["resolved_findings"]["police"].as_u64().unwrap() >= 1);
    let runs = after["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["outcome"] == "ok"), "{after}");
    // Both contents are kept in the archive, so either run can be reproduced.
    let archived = walk(&work.path().join("out/state/archive"));
    assert_eq!(archived, 2, "two distinct exports archived");
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else {
                        usize::from(!e.file_name().to_string_lossy().starts_with('.'))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Two runs started together against one state database: one writes, the other is told who holds
/// it and exits 2; the database stays sound and records the runs that ran.
#[test]
fn two_runs_at_once_do_not_corrupt_the_state_database() {
    let work = tempfile::tempdir().unwrap();
    let config = police_config(work.path());
    let rows: Vec<String> = (1..=400)
        .map(|i| format!("PK-S-{i:04};12.03.2025;Gjakovë;Qendra;Arbër;Ilir;Krasniqi{i};M;05.06.2013;;;Shqiptar;Lypje;Jo"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    export(work.path(), "2025-03.csv", &rows);
    let spawn = || {
        regbridge()
            .args(["--quiet", "run", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    assert!(succeeded >= 1);
    for output in outputs.iter().filter(|o| !o.status.success()) {
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("another regbridge process is writing the state database"),
            "{stderr}"
        );
    }
    // A third run after both is fine, and the database has every run that ran, all finished.
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let after = status(&config);
    let runs = after["runs"].as_array().unwrap();
    assert_eq!(runs.len(), succeeded + 1, "{after}");
    assert!(runs.iter().all(|r| r["outcome"] == "ok"), "{after}");
    let connection =
        rusqlite::Connection::open(work.path().join("out/state/state.sqlite")).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// A source that has sent nothing new for longer than its cadence raises `source.stale` for its
/// institution, and the published manifest marks it.
#[test]
fn a_source_silent_for_longer_than_expected_is_marked_stale() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("police")).unwrap();
    let config = write_config(
        work.path(),
        "[sources.police]\ninstitution = \"police\"\npath = \"police\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = { format = \"csv\", delimiter = \";\" }\nexpected_every_days = 7\n",
    );
    let good =
        "PK-S-001;12.03.2025;Gjakovë;Qendra;Arbër;Ilir;Krasniqi;M;05.06.2013;;;Shqiptar;Lypje;Jo";
    export(work.path(), "2025-03.csv", &[good]);
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let stale = |work: &Path| {
        crate::read_csv(&work.join("out/published/findings.csv"))
            .into_iter()
            .filter(|f| f["rule"] == "source.stale")
            .collect::<Vec<_>>()
    };
    assert!(
        stale(work.path()).is_empty(),
        "fresh after the first export"
    );

    // Ten days pass without a new export (the same file is still in the folder).
    let db = work.path().join("out/state/state.sqlite");
    let connection = rusqlite::Connection::open(&db).unwrap();
    let ten_days_ago = (chrono::Utc::now() - chrono::Duration::days(10)).to_rfc3339();
    connection
        .execute("UPDATE inputs SET first_seen_at = ?1", [&ten_days_ago])
        .unwrap();
    drop(connection);
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let findings = stale(work.path());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["institution"], "police");
    assert!(findings[0]["message"].contains("10 days"), "{findings:?}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("out/published/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["freshness"]["police"]["stale"], true, "{manifest}");
    assert_eq!(manifest["freshness"]["police"]["expected_every_days"], 7);

    // A new export makes it fresh again.
    let next = good.replace("PK-S-001", "PK-S-002");
    export(work.path(), "2025-04.csv", &[&next]);
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    assert!(stale(work.path()).is_empty());
}
