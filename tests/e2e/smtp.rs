//! Digests delivered by real email: the `regbridge` binary against a real SMTP server on 127.0.0.1
//! (aiosmtpd, `tests/support/smtp_server.py`, installed by `.ci/run`) — one digest per institution
//! in its language, nothing twice, resolutions told once, a server that is down, STARTTLS through a
//! private CA, a permanent refusal, and no name or date of birth in any message.

use std::collections::{BTreeMap, BTreeSet};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::pki::Pki;
use crate::{contains_word, decode_quoted_printable, ok, read_csv, regbridge, repo_root};

/// A running SMTP server; stops when dropped.
struct SmtpServer {
    port: u16,
    maildir: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(maildir: &Path, args: &[&str]) -> SmtpServer {
        let script = repo_root().join("tests/support/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--maildir")
            .arg(maildir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the test SMTP server did not start ({line:?}); it needs aiosmtpd: \
                     `python3 -m pip install aiosmtpd` (.ci/run does it)"
                )
            });
        let stdin = child.stdin.take();
        SmtpServer {
            port,
            maildir: maildir.to_path_buf(),
            child,
            stdin,
        }
    }

    /// Every message the server accepted, decoded enough to search.
    fn messages(&self) -> Vec<Message> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.maildir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Message::read(p)).collect()
    }

    /// DATA commands the server saw (accepted or not).
    fn attempts(&self) -> usize {
        std::fs::read_to_string(self.maildir.join("attempts.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

/// One accepted message: its headers and every part's decoded text.
struct Message {
    raw: String,
    text: String,
}

impl Message {
    fn read(path: &Path) -> Message {
        let raw = std::fs::read_to_string(path).unwrap();
        let mut text = decode_quoted_printable(&raw);
        // Base64 parts (the attachment) decoded too, so that nothing escapes the search.
        for block in raw.split("\r\n\r\n").chain(raw.split("\n\n")) {
            let candidate: String = block.lines().map(str::trim).collect();
            if candidate.len() > 40
                && candidate
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
            {
                if let Some(bytes) = base64_decode(&candidate) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        Message { raw, text }
    }

    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    /// The decoded subject (RFC 2047 words joined).
    fn subject(&self) -> String {
        let raw = self.raw.replace("\r\n ", " ").replace("\n ", " ");
        let line = raw
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("subject:"))
            .unwrap_or("");
        decode_words(
            line.trim_start_matches(|c: char| c != ':')
                .trim_start_matches(':')
                .trim(),
        )
    }
}

/// RFC 2047: encoded words decoded; white space between two encoded words dropped, between an
/// encoded word and plain text kept.
fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, word) in text.split(' ').enumerate() {
        let encoded = word
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="));
        if i > 0 && !(previous_encoded && encoded.is_some()) {
            out.push(' ');
        }
        match encoded {
            Some(encoded) => out.push_str(&String::from_utf8_lossy(
                &base64_decode(encoded).unwrap_or_default(),
            )),
            None => out.push_str(word),
        }
        previous_encoded = encoded.is_some();
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = text.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

/// A generated national sample (three institutions: police in Albanian, CSW in Serbian, the
/// inspectorate in English, plus the Committee in English) sending through `smtp_table`.
fn sample_with_smtp(work: &Path, smtp_table: &str) -> PathBuf {
    let output = ok(regbridge()
        .args([
            "--quiet",
            "synth",
            "--records",
            "600",
            "--seed",
            "5",
            "--out",
        ])
        .arg(work)
        .arg("--assets")
        .arg(repo_root()));
    drop(output);
    let config = work.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            "transport = \"outbox\"\noutbox_dir = \"out/outbox\"\n",
            &format!(
                "transport = \"smtp\"\nmax_findings_per_email = 10\n\n[alerts.committee]\nlanguage = \"en\"\nrecipients = [\"secretariat@committee.example\"]\n\n{smtp_table}\n"
            ),
        )
        .replace(
            "[institutions.csw]\nname = \"Centres for Social Work\"\nlanguage = \"sq\"",
            "[institutions.csw]\nname = \"Centres for Social Work\"\nlanguage = \"sr\"",
        );
    std::fs::write(&config, text).unwrap();
    config
}

/// A port nothing listens on (yet).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A local server without TLS or login.
fn open_smtp(port: u16) -> String {
    format!(
        "[alerts.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 5\n"
    )
}

/// The bad police row with its date corrected.
fn fixed() -> String {
    BAD.replace("31.02.2012", "28.02.2012")
}

fn plain_smtp(port: u16) -> String {
    format!(
        "[alerts.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nusername = \"regbridge\"\npassword_env = \"E2E_SMTP_PASSWORD\"\ntimeout_secs = 5\n"
    )
}

fn run(config: &Path) -> serde_json::Value {
    let output = ok(regbridge()
        .env("E2E_SMTP_PASSWORD", "smtp-secret-7731")
        .args(["--json", "run", "--config"])
        .arg(config));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn by_recipient(messages: &[Message]) -> BTreeMap<String, Vec<&Message>> {
    let mut map: BTreeMap<String, Vec<&Message>> = BTreeMap::new();
    for m in messages {
        map.entry(m.header("To").unwrap_or_default())
            .or_default()
            .push(m);
    }
    map
}

#[test]
fn each_institution_gets_one_digest_in_its_language_and_nothing_twice() {
    let work = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(
        &work.path().join("maildir"),
        &["--auth", "regbridge:smtp-secret-7731"],
    );
    let config = sample_with_smtp(&work.path().join("sample"), &plain_smtp(server.port));
    let summary = run(&config);
    let messages = server.messages();
    assert_eq!(summary["emails_written"], 4, "{summary}");
    let by_to = by_recipient(&messages);
    assert_eq!(by_to.len(), 4, "{:?}", by_to.keys());
    for (to, words, capped) in [
        (
            "data-officer@police.example",
            "gjetje të reja",
            "të tjera: shihni findings.csv",
        ),
        (
            "data-officer@csw.example",
            "novih nalaza",
            "pogledajte prilo",
        ),
        // Five findings: all in the body.
        (
            "data-officer@inspectorate.example",
            "new findings",
            "Every record is in the attached",
        ),
        ("secretariat@committee.example", "National summary", ""),
    ] {
        let mail = &by_to[to];
        assert_eq!(mail.len(), 1, "exactly one digest for {to}");
        assert!(
            mail[0].subject().contains(words),
            "{to}: {}",
            mail[0].subject()
        );
        // The body shows at most 10 references; the rest are in the attachment.
        assert!(mail[0].text.contains(capped), "{to}: no \"{capped}\"");
        for header in ["Message-ID", "Date", "List-Id", "Auto-Submitted"] {
            assert!(mail[0].header(header).is_some(), "{to}: no {header}");
        }
    }

    // The right findings: every record reference the institution's findings in the published
    // dataset name is in its digest's attachment, and no other institution's.
    let findings = read_csv(&work.path().join("sample/out/published/findings.csv"));
    for (institution, to) in [
        ("police", "data-officer@police.example"),
        ("csw", "data-officer@csw.example"),
        ("inspectorate", "data-officer@inspectorate.example"),
    ] {
        let mail = &by_to[to][0];
        let own: BTreeSet<&str> = findings
            .iter()
            .filter(|f| f["institution"] == institution)
            .filter_map(|f| Some(f["record_id"].as_str()).filter(|id| !id.is_empty()))
            .collect();
        assert!(!own.is_empty());
        for id in &own {
            assert!(mail.text.contains(id), "{to} lacks {id}");
        }
        let others: Vec<&str> = findings
            .iter()
            .filter(|f| f["institution"] != institution && !f["record_id"].is_empty())
            .map(|f| f["record_id"].as_str())
            .filter(|id| !own.contains(id))
            .collect();
        assert!(
            others.iter().all(|id| !mail.text.contains(id)),
            "{to} names another's record"
        );
    }

    // A second run with nothing new sends nothing.
    let again = run(&config);
    assert_eq!(again["emails_written"], 0, "{again}");
    assert_eq!(server.messages().len(), 4);

    // No given name, surname, personal number or date of birth of the input in any message.
    let forbidden = crate::police_personal_values(&work.path().join("sample/police"));
    assert!(forbidden.len() > 50, "{}", forbidden.len());
    for m in server.messages() {
        for word in &forbidden {
            assert!(
                !contains_word(&m.text, word),
                "a digest contains \"{word}\""
            );
        }
        assert!(!m.text.contains("smtp-secret-7731"));
    }
}

const POLICE_HEADER: &str = "Nr. i rastit;Data e identifikimit;Komuna;Vendi;Emri;Emri i babait;Mbiemri;Gjinia;Data e lindjes;Mosha;Numri personal;Komuniteti;Aktiviteti;Trafikim";

/// A police-only configuration sending through `smtp_table`.
fn police_config(work: &Path, smtp_table: &str) -> PathBuf {
    std::fs::create_dir_all(work.join("police")).unwrap();
    let config = crate::write_config(
        work,
        "[sources.police]\ninstitution = \"police\"\npath = \"police\"\nglob = \"*.csv\"\nschema = \"police.schema.json\"\nmapping = \"police.toml\"\nformat = { format = \"csv\", delimiter = \";\" }\n",
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!(
            "transport = \"outbox\"\noutbox_dir = \"{}/out/outbox\"\n",
            work.display()
        ),
        &format!("transport = \"smtp\"\n{smtp_table}\n"),
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn police_export(work: &Path, rows: &[&str]) {
    let text = format!("{POLICE_HEADER}\r\n{}\r\n", rows.join("\r\n"));
    std::fs::write(work.join("police/2025-03.csv"), text).unwrap();
}

const GOOD: &str =
    "PK-S-001;12.03.2025;Gjakovë;Qendra;Arbër;Ilir;Krasniqi;M;05.06.2013;;;Shqiptar;Lypje;Jo";
// 31 February does not exist: an error the police must fix.
const BAD: &str =
    "PK-S-002;12.03.2025;Prizren;Qendra;Drita;Agim;Berisha;F;31.02.2012;;;Shqiptar;Lypje;Jo";

#[test]
fn a_resolved_finding_is_announced_once() {
    let work = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&work.path().join("maildir"), &[]);
    let smtp = open_smtp(server.port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    run(&config);
    let first = server.messages();
    assert_eq!(first.len(), 1);
    assert!(first[0].text.contains("PK-S-002"));

    police_export(work.path(), &[GOOD, &fixed()]);
    run(&config);
    let messages = server.messages();
    assert_eq!(messages.len(), 2, "the resolution is told");
    assert!(
        messages[1].subject().contains("1 të zgjidhura"),
        "{}",
        messages[1].subject()
    );
    assert!(messages[1].text.contains("PK-S-002"));

    run(&config);
    run(&config);
    assert_eq!(server.messages().len(), 2, "and told once");
}

#[test]
fn with_the_server_down_digests_wait_in_the_outbox_and_go_exactly_once_when_it_is_back() {
    let work = tempfile::tempdir().unwrap();
    // A port nothing listens on yet.
    let port = unused_port();
    let smtp = open_smtp(port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    let summary = run(&config);
    assert_eq!(summary["emails_written"], 0);
    assert!(
        !summary["email_errors"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    // A run while it is still down does not lose or double the waiting digest.
    run(&config);

    let server = SmtpServer::start(&work.path().join("maildir"), &["--port", &port.to_string()]);
    let output = ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sent: 1"));
    ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    run(&config);
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "delivered exactly once");
    assert!(messages[0].text.contains("PK-S-002"));
}

/// A private CA's certificate for localhost and its key, and the CA, as PEM files in `dir`.
fn tls_files(dir: &Path) -> (String, String, String) {
    let government = Pki::new("mail");
    let (cert, key) = government.issue(&["localhost", "127.0.0.1"], false);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    (
        write("server.pem", &cert),
        write("server.key", &key),
        write("ca.pem", &government.ca_pem()),
    )
}

#[test]
fn starttls_through_a_private_ca_works_and_an_untrusted_certificate_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key, ca) = tls_files(work.path());
    let server = SmtpServer::start(
        &work.path().join("maildir"),
        &[
            "--starttls",
            &cert,
            &key,
            "--auth",
            "regbridge:smtp-secret-7731",
        ],
    );
    let smtp = |ca_line: &str| {
        format!(
            "[alerts.smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nusername = \"regbridge\"\npassword_env = \"E2E_SMTP_PASSWORD\"\n{ca_line}timeout_secs = 5\n",
            server.port
        )
    };

    // Without the private CA the server's certificate is not trusted: nothing is sent.
    let untrusted = work.path().join("untrusted");
    let config = police_config(&untrusted, &smtp(""));
    police_export(&untrusted, &[GOOD, BAD]);
    let summary = run(&config);
    assert_eq!(summary["emails_written"], 0);
    let errors = summary["email_errors"].to_string();
    assert!(errors.to_lowercase().contains("certificate"), "{errors}");
    assert!(!errors.contains("smtp-secret-7731"));
    assert_eq!(server.attempts(), 0);

    // Trusted through ca_file, the digest goes over STARTTLS with authentication.
    let trusted = work.path().join("trusted");
    let config = police_config(&trusted, &smtp(&format!("ca_file = \"{ca}\"\n")));
    police_export(&trusted, &[GOOD, BAD]);
    let summary = run(&config);
    assert_eq!(summary["emails_written"], 1, "{summary}");
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn a_permanent_refusal_is_reported_and_not_retried() {
    let work = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&work.path().join("maildir"), &["--reject", "550"]);
    let smtp = open_smtp(server.port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    let summary = run(&config);
    let errors = summary["email_errors"].to_string();
    assert!(
        errors.contains("not retried") && errors.contains("550"),
        "{errors}"
    );
    assert_eq!(server.attempts(), 1);
    ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    assert_eq!(
        server.attempts(),
        1,
        "a permanent refusal is not tried again"
    );
    let status = ok(regbridge().args(["status", "--config"]).arg(&config));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("refused"), "{status}");
}

/// A crash after the server accepted a digest but before regbridge recorded it (simulated by
/// putting the outbox row and the findings back as a crash would leave them): the next attempt
/// sends that same mail again, with its Message-ID, so that mail clients show one message; its
/// findings are not planned into a second digest, and nothing else is sent twice.
#[test]
fn a_digest_whose_sending_was_cut_short_goes_again_with_the_same_message_id() {
    let work = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&work.path().join("maildir"), &[]);
    let smtp = open_smtp(server.port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    run(&config);
    let db = work.path().join("out/state/state.sqlite");
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute(
            "UPDATE alert_outbox SET sending_at = sent_at, sent_at = NULL",
            [],
        )
        .unwrap();
    connection
        .execute(
            "UPDATE findings SET announced_at = NULL, reminded_at = NULL",
            [],
        )
        .unwrap();
    drop(connection);
    ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    let messages = server.messages();
    assert_eq!(messages.len(), 2, "one copy more, not one per retry");
    assert_eq!(
        messages[0].header("Message-ID"),
        messages[1].header("Message-ID")
    );
}

#[test]
fn an_open_finding_is_reminded_on_the_cadence_with_its_age() {
    let work = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&work.path().join("maildir"), &[]);
    let smtp = open_smtp(server.port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    run(&config);
    run(&config);
    assert_eq!(server.messages().len(), 1, "nothing new, nothing sent");

    // Eight days pass (the record was first seen, and last told about, eight days ago).
    let eight_days_ago = (chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339();
    let connection =
        rusqlite::Connection::open(work.path().join("out/state/state.sqlite")).unwrap();
    connection
        .execute(
            "UPDATE findings SET first_seen_at = ?1, announced_at = ?1, reminded_at = ?1",
            [&eight_days_ago],
        )
        .unwrap();
    drop(connection);
    run(&config);
    let messages = server.messages();
    assert_eq!(messages.len(), 2, "a weekly reminder");
    assert!(
        messages[1].subject().contains("1 ende të hapura"),
        "{}",
        messages[1].subject()
    );
    assert!(messages[1].text.contains("e hapur prej 8 ditësh"));
    run(&config);
    assert_eq!(server.messages().len(), 2, "and not again the next day");
}

#[test]
fn a_waiting_digest_about_a_finding_fixed_meanwhile_is_not_sent() {
    let work = tempfile::tempdir().unwrap();
    let port = unused_port();
    let smtp = open_smtp(port);
    let config = police_config(work.path(), &smtp);
    police_export(work.path(), &[GOOD, BAD]);
    run(&config);
    // Fixed while the mail server was still down: nobody heard of it, nobody needs to.
    police_export(work.path(), &[GOOD, &fixed()]);
    run(&config);
    let server = SmtpServer::start(&work.path().join("maildir"), &["--port", &port.to_string()]);
    ok(regbridge()
        .args(["alerts", "--config"])
        .arg(&config)
        .arg("send"));
    assert_eq!(server.messages().len(), 0);
}

#[test]
fn implicit_tls_through_a_private_ca_works() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key, ca) = tls_files(work.path());
    let server = SmtpServer::start(
        &work.path().join("maildir"),
        &["--tls", &cert, &key, "--auth", "regbridge:smtp-secret-7731"],
    );
    let smtp = format!(
        "[alerts.smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"tls\"\nusername = \"regbridge\"\npassword_env = \"E2E_SMTP_PASSWORD\"\nca_file = \"{ca}\"\ntimeout_secs = 5\n",
        server.port
    );
    let config = police_config(&work.path().join("police-run"), &smtp);
    police_export(&work.path().join("police-run"), &[GOOD, BAD]);
    let summary = run(&config);
    assert_eq!(summary["emails_written"], 1, "{summary}");
    assert_eq!(server.messages().len(), 1);
}
