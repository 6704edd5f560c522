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

/// A police CSV source, followed by `more` (extra keys of the source, or further tables).
fn police_source_and(more: &str) -> String {
    format!("[sources.police]\ninstitution = \"police\"\npath = \".\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = {{ format = \"csv\", delimiter = \";\" }}\n{more}")
}

/// `regbridge check` on a config that must fail; its standard output.
fn failed_check(config: &std::path::Path) -> String {
    let output = regbridge()
        .arg("check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn check_points_at_the_line_and_column_of_a_mistake() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &police_source_and("schedul = \"0 * * * *\"\n"));
    let text = failed_check(&config);
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("schedul "))
        .unwrap()
        + 1;
    // A misspelt key: the line and column of the key, and its name.
    assert!(text.contains(&format!("config.toml:{line}:1:")), "{text}");
    assert!(text.contains("schedul"), "{text}");
}

#[test]
fn check_names_a_broken_rule_file_and_line() {
    let work = tempfile::tempdir().unwrap();
    let (config, broken) = config_with_rule_file(work.path(), "completeness.toml", |rules| {
        rules.replacen("field = \"surname\"", "field = \"surnme\"", 1)
    });
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

/// A configuration of the csv_malformed case whose rules are a copy of the shipped ones with `file`
/// replaced by what `edit` makes of it; the configuration's path and the edited file.
fn config_with_rule_file(
    work: &std::path::Path,
    file: &str,
    edit: impl Fn(&str) -> String,
) -> (String, String) {
    let rules = work.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for entry in std::fs::read_dir(repo_root().join("rules")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), rules.join(entry.file_name())).unwrap();
    }
    let edited = edit(&std::fs::read_to_string(rules.join(file)).unwrap());
    std::fs::write(rules.join(file), &edited).unwrap();
    let sources =
        std::fs::read_to_string(repo_root().join("tests/cases/csv_malformed/in/sources.toml"))
            .unwrap();
    let config = write_config(work, &sources);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("{}/rules", repo_root().display()),
        &rules.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    (config.to_string_lossy().to_string(), edited)
}

/// `regbridge check`'s output for the shipped rules with `linkage.toml` edited by `edit`, which
/// must fail.
fn failed_linkage_check(edit: impl Fn(&str) -> String) -> String {
    let work = tempfile::tempdir().unwrap();
    let (config, _) = config_with_rule_file(work.path(), "linkage.toml", edit);
    failed_check(std::path::Path::new(&config))
}

#[test]
fn check_names_a_referral_to_an_institution_that_is_not_configured() {
    let text = failed_linkage_check(|l| l.replace("to = \"csw\"", "to = \"qps\""));
    assert!(text.contains("linkage.toml"), "{text}");
    assert!(
        text.contains("\"qps\", which is not an institution under [institutions]"),
        "{text}"
    );
}

#[test]
fn check_names_a_referral_to_itself_and_referrals_beyond_the_eighth() {
    let text = failed_linkage_check(|l| {
        let many = ["{ from = \"police\", to = \"csw\" }"; 9].join(", ");
        l.replace(
            "referrals = [{ from = \"police\", to = \"csw\" }]",
            &format!("referrals = [{{ from = \"csw\", to = \"csw\" }}, {many}]"),
        )
    });
    assert!(text.contains("from \"csw\" to itself"), "{text}");
    assert!(
        text.contains("10 referrals; the linkage weighs the first 8 only"),
        "{text}"
    );
}

#[test]
fn check_names_a_misspelt_key_in_the_linkage_rules() {
    let text = failed_linkage_check(|l| l.replace("referrals =", "referals ="));
    assert!(text.contains("linkage.toml"), "{text}");
    assert!(text.contains("referals"), "{text}");
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

/// IT staff check a cron expression before deploying: a daily 02:30 job fires once on each of the
/// days around the spring clock change (02:30 does not exist on 28 March 2027 in Kosovo).
#[test]
fn schedule_lists_one_firing_per_day_across_the_spring_change() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        &police_source_and("[schedule]\npublish = \"30 2 * * *\"\n"),
    );
    let output = ok(regbridge()
        .args(["--json", "schedule", "--config"])
        .arg(&config)
        .args(["--from", "2027-03-27T00:00:00+01:00", "--count", "3"]));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["timezone"], "Europe/Belgrade");
    let jobs = listed["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{listed}");
    assert_eq!(jobs[0]["job"], "publish");
    let firings: Vec<&str> = jobs[0]["firings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        firings,
        [
            "2027-03-27T02:30:00+01:00",
            "2027-03-28T03:00:00+02:00",
            "2027-03-29T02:30:00+02:00"
        ]
    );
    // The same in text, for people.
    let text = ok(regbridge()
        .args(["schedule", "--config"])
        .arg(&config)
        .args(["--from", "2027-03-27T00:00:00+01:00", "--count", "3"]));
    let text = String::from_utf8_lossy(&text.stdout);
    let firing_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(firing_lines.len(), 3, "{text}");
    for (line, day) in firing_lines
        .iter()
        .zip(["2027-03-27", "2027-03-28", "2027-03-29"])
    {
        assert!(line.contains(day), "{text}");
    }
}

#[test]
fn check_names_a_bad_cron_expression_and_where_it_is() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        &police_source_and("[schedule]\npublish = \"30 2 * *\"\n"),
    );
    let text = failed_check(&config);
    assert!(text.contains("[schedule] publish"), "{text}");
    assert!(text.contains("30 2 * *"), "{text}");
}
