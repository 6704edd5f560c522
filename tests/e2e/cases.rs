//! The case folders: each `tests/cases/<case>/in/` holds exports and `sources.toml`; `expected/` holds
//! the counts per source, the exact quarantine list and findings that must be present.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{contains_word, ok, read_csv, readable_texts, regbridge, repo_root, write_config};

/// Runs one case and compares it with its expectations.
fn run_case(name: &str) {
    let case = repo_root().join("tests/cases").join(name);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for entry in std::fs::read_dir(case.join("in")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), input.join(entry.file_name())).unwrap();
    }
    let sources = std::fs::read_to_string(input.join("sources.toml"))
        .unwrap()
        .replace("path = \".\"", &format!("path = \"{}\"", input.display()));
    let config = write_config(work.path(), &sources);
    ok(regbridge()
        .args(["--quiet", "run", "--config"])
        .arg(&config));
    let published = work.path().join("out/published");

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(published.join("manifest.json")).unwrap())
            .unwrap();
    let expected: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected/counts.json")).unwrap())
            .unwrap();
    for (source, counts) in &expected {
        for (key, value) in counts {
            assert_eq!(
                manifest["sources"][source][key].as_u64(),
                Some(*value),
                "case {name}: {source}.{key} in manifest {}",
                manifest["sources"]
            );
        }
    }

    let columns = ["source", "record_id", "file", "location", "rules"];
    let project = |rows: Vec<BTreeMap<String, String>>| -> Vec<Vec<String>> {
        rows.into_iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| r.get(*c).cloned().unwrap_or_default())
                    .collect()
            })
            .collect()
    };
    let got = project(read_csv(&published.join("quarantine.csv")));
    let want = project(read_csv(&case.join("expected/quarantine.csv")));
    assert_eq!(got, want, "case {name}: quarantine.csv");

    let expected_findings = case.join("expected/findings.csv");
    if expected_findings.exists() {
        let findings = read_csv(&published.join("findings.csv"));
        for want in read_csv(&expected_findings) {
            let found = findings
                .iter()
                .any(|f| want.iter().all(|(k, v)| f.get(k) == Some(v)));
            assert!(
                found,
                "case {name}: no finding {want:?} in findings.csv:\n{findings:#?}"
            );
        }
    }
    check_no_identifiers(name, &published);
}

/// Names, personal numbers and dates of birth from the fixtures never reach the published files or
/// the emails, in any form.
fn check_no_identifiers(name: &str, published: &Path) {
    let forbidden = [
        "Arbër",
        "Krasniqi",
        "Dževdet",
        "Xhevdet",
        "Gaši",
        "Gashi",
        "Çlirim",
        "Hoxha",
        "Drita",
        "Berisha",
        "Besnik",
        "Morina",
        "Agon",
        "Shala",
        "Петар",
        "Јовановић",
        "ЈОВАНОВИЋ",
        "Марко",
        "Blerim",
        "Hasani",
        "Ilir",
        "2013-06-05",
        "05.06.2013",
        "01.01.2012",
        "2011-02-03",
        "25.12.2012",
        "1234567892",
    ];
    let outbox = published.join("../outbox");
    for (file, text) in readable_texts(published, &outbox) {
        for word in forbidden {
            assert!(
                !contains_word(&text, word),
                "case {name}: {file} contains \"{word}\""
            );
        }
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

cases!(
    csv_utf8_bom,
    csv_utf8_comma,
    csv_utf16le,
    csv_utf16be,
    csv_windows1250,
    csv_windows1252,
    csv_malformed,
    drift_unknown_column,
    csv_headerless,
    csv_unbalanced_quote,
    csv_stray_byte,
    xlsx,
    xlsx_malformed,
    json_records_path,
    json_array,
    json_malformed,
    jsonl,
    jsonl_malformed,
);
