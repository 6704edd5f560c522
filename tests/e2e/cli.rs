//! The command line as IT staff meet it: `check` pointing at mistakes, `validate` as a dry run, the
//! shipped `config.toml`, and exit statuses.

use crate::{ok, regbridge, repo_root, write_config};

#[test]
fn check_accepts_the_shipped_configuration() {
    let output = ok(regbridge()
        .arg("check")
        .arg("--config")
        .arg(repo_root().join("config.toml")));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("no problems"), "{text}");
}

#[test]
fn check_points_at_the_line_and_column_of_a_mistake() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), "[sources.police]\ninstitution = \"police\"\npath = \".\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = { format = \"csv\", delimiter = \";\" }\nschedule = 12\n");
    let output = regbridge()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("schedule"))
        .unwrap()
        + 1;
    assert!(text.contains(&format!("config.toml:{line}:1:")), "{text}");
    assert!(text.contains("schedule"), "{text}");
}

#[test]
fn check_names_a_broken_rule_file_and_line() {
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for entry in std::fs::read_dir(repo_root().join("rules")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), rules.join(entry.file_name())).unwrap();
    }
    let broken = std::fs::read_to_string(rules.join("completeness.toml"))
        .unwrap()
        .replacen("field = \"surname\"", "field = \"surnme\"", 1);
    std::fs::write(rules.join("completeness.toml"), &broken).unwrap();
    let sources =
        std::fs::read_to_string(repo_root().join("tests/cases/csv_malformed/in/sources.toml"))
            .unwrap();
    let config = write_config(work.path(), &sources)
        .to_string_lossy()
        .to_string();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("{}/rules", repo_root().display()),
        &rules.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let output = regbridge()
        .args(["check", "--config", &config])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let line = broken
        .lines()
        .position(|l| l.contains("\"surname.required\""))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("completeness.toml:{line}:")),
        "{text}"
    );
    assert!(text.contains("surnme"), "{text}");
}

#[test]
fn validate_prints_findings_of_a_police_export_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        &std::fs::read_to_string(repo_root().join("tests/cases/csv_malformed/in/sources.toml"))
            .unwrap(),
    );
    let file = repo_root().join("tests/cases/csv_malformed/in/police.csv");
    let output = ok(regbridge()
        .args(["validate", "--source", "police", "--config"])
        .arg(&config)
        .arg(&file));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("police.csv, row 3: error record.readable"),
        "{text}"
    );
    assert!(
        text.contains("police.csv, row 6 (PK-T-004): error event_date.valid"),
        "{text}"
    );
    assert!(
        text.contains("5 records received, 2 would be accepted, 3 quarantined"),
        "{text}"
    );
    assert!(
        !work.path().join("out").exists(),
        "validate wrote {:?}",
        std::fs::read_dir(work.path().join("out")).map(|d| d.count())
    );
}

#[test]
fn a_configuration_error_exits_non_zero_with_one_line() {
    let output = regbridge()
        .args(["run", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("/nonexistent/config.toml"), "{text}");
}

#[test]
fn check_rejects_an_unusable_format_setting_instead_of_reading_garbage() {
    let work = tempfile::tempdir().unwrap();
    let sources =
        std::fs::read_to_string(repo_root().join("tests/cases/csv_malformed/in/sources.toml"))
            .unwrap()
            .replace("delimiter = \";\"", "delimiter = \"é\"");
    let config = write_config(work.path(), &sources);
    let output = regbridge()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("[sources.police.format] delimiter must be one ASCII character"),
        "{text}"
    );
    let run = regbridge()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "a run must not start on an unusable format"
    );
}
