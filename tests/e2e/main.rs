//! End-to-end tests: the `regbridge` binary on real files — generated national samples and the case
//! folders in `tests/cases/<case>/{in,expected}` covering every format, encoding and malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../connectors/tests/support/api_server.rs"]
mod api_server;
mod cases;
mod cli;
mod daemon;
mod fixtures;
mod http;
mod national;
#[path = "../../connectors/tests/support/pki.rs"]
mod pki;
mod smtp;
mod state;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (schemas/, rules/, reference/ … live there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The `regbridge` binary, with a fixed pseudonym key so that outputs are comparable.
pub fn regbridge() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regbridge"));
    command.env_remove("REGBRIDGE_PSEUDONYM_KEY");
    command.env("REGBRIDGE_LOG", "warn");
    command
}

/// Runs a command and fails the test with its output if it did not exit 0.
pub fn ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Rows of a CSV file as maps from column to value.
pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A config for a case or a sample: the repository's data files, outputs under `work`.
pub fn write_config(work: &Path, sources_toml: &str) -> PathBuf {
    let root = repo_root();
    let text = format!(
        r#"[run]
output_dir = "{work}/out/published"
state_dir = "{work}/out/state"

[paths]
schemas = "{root}/schemas"
mappings = "{root}/mappings"
rules = "{root}/rules"
reference = "{root}/reference"
templates = "{root}/templates"

[pseudonym]
key_env = "REGBRIDGE_TEST_KEY_UNSET"
key_file = "{work}/out/state/pseudonym.key"
create_if_missing = true

[alerts]
from = "regbridge <regbridge@localhost>"
transport = "outbox"
outbox_dir = "{work}/out/outbox"

[institutions.police]
name = "Kosovo Police"
language = "sq"
recipients = ["police@example.org"]

[institutions.csw]
name = "Centres for Social Work"
language = "sr"
recipients = ["csw@example.org"]

[institutions.inspectorate]
name = "Labour Inspectorate"
language = "en"
recipients = ["inspectorate@example.org"]

{sources_toml}
"#,
        work = work.display(),
        root = root.display(),
    );
    let path = work.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The email body with quoted-printable soft breaks and escapes undone, good enough for searching.
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

pub fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Every text a person can read from a published folder and an outbox: CSV / JSON files, every cell of
/// every sheet of the workbook, and the decoded emails.
pub fn readable_texts(published: &Path, outbox: &Path) -> Vec<(String, String)> {
    use calamine::Reader;
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(published).unwrap() {
        let path = entry.unwrap().path();
        let name = path.display().to_string();
        if path.extension().is_some_and(|e| e == "xlsx") {
            let mut workbook = calamine::open_workbook_auto(&path).unwrap();
            for sheet in workbook.sheet_names() {
                let range = workbook.worksheet_range(&sheet).unwrap();
                let cells: Vec<String> = range.cells().map(|(_, _, c)| c.to_string()).collect();
                texts.push((format!("{name} [{sheet}]"), cells.join("\n")));
            }
        } else {
            texts.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    if outbox.exists() {
        for entry in std::fs::read_dir(outbox).unwrap() {
            let path = entry.unwrap().path();
            texts.push((
                path.display().to_string(),
                decode_quoted_printable(&std::fs::read_to_string(&path).unwrap()),
            ));
        }
    }
    texts
}

/// Every given name, surname, personal number and date of birth in the generated police exports in
/// `folder`, as the generator wrote them (at least four characters, so that none is part of an
/// ordinary word): what must never leave a run.
pub fn police_personal_values(folder: &Path) -> std::collections::BTreeSet<String> {
    let mut forbidden = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes))
            .to_string();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.as_bytes());
        for row in reader.deserialize::<std::collections::BTreeMap<String, String>>() {
            let row = row.unwrap();
            for column in ["Emri", "Mbiemri", "Data e lindjes", "Numri personal"] {
                if let Some(v) = row.get(column).filter(|v| v.chars().count() >= 4) {
                    forbidden.insert(v.clone());
                }
            }
        }
    }
    forbidden
}
