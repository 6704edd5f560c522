//! End-to-end tests: the `regbridge` binary on real files — generated national samples and the case
//! folders in `tests/cases/<case>/{in,expected}` covering every format, encoding and malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cases;
mod cli;
mod fixtures;
mod national;

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
