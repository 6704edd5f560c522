//! Mail delivery with lettre: an outbox folder (one `.eml` file per mail) or SMTP with STARTTLS,
//! TLS or no encryption, authenticated with a password the caller resolved. Never logs or reports
//! the password.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{FileTransport, Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use super::SinkError;

/// Headers the message builder sets itself; they cannot be given as extra headers.
const RESERVED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "cc",
    "bcc",
    "sender",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// A mail to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutgoingMail {
    /// Sender, e.g. `regbridge <noreply@example.org>`.
    pub from: String,
    /// Recipients; at least one.
    pub to: Vec<String>,
    /// Subject (any Unicode).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body; when present the mail is multipart/alternative (text + HTML).
    pub html: Option<String>,
    /// Message-ID, e.g. `<digest-2024-03-01-police@regbridge>`.
    pub message_id: Option<String>,
    /// Extra headers, e.g. `("Auto-Submitted", "auto-generated")`, `("List-Id", "…")`.
    pub headers: Vec<(String, String)>,
    /// Text attachments (a CSV of every record a digest tells about, …).
    #[serde(default)]
    pub attachments: Vec<MailAttachment>,
}

/// A text file attached to a mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailAttachment {
    /// File name, e.g. `findings.csv`.
    pub name: String,
    /// MIME type, e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub text: String,
}

/// Transport security of an SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text (a trusted local relay only).
    #[serde(alias = "plain")]
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    #[serde(alias = "start_tls", alias = "start-tls", alias = "STARTTLS")]
    StartTls,
    /// TLS from the start (SMTPS).
    #[serde(alias = "TLS", alias = "smtps")]
    Tls,
}

/// How to reach an SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name (also the name the TLS certificate must carry).
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 for none, typically).
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// User name; no authentication when `None`.
    pub username: Option<String>,
    /// The resolved secret; never logged, redacted in `Debug`.
    pub password: Option<String>,
    /// An extra trusted CA certificate (PEM), for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Timeout of each SMTP command, in seconds (0 is taken as 1).
    pub timeout_secs: u64,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Where mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// Written as `<uuid>.eml` files into a folder (created if missing).
    Outbox {
        /// The folder.
        dir: PathBuf,
    },
    /// Sent through an SMTP server.
    Smtp(SmtpSettings),
}

impl MailTransport {
    /// Delivers `mail`.
    pub fn send(&self, mail: &OutgoingMail) -> Result<(), SinkError> {
        // A mail that cannot be built (an invalid address in the configuration) will not build
        // on the next attempt either.
        let message = build_message(mail).map_err(|e| match e {
            SinkError::Mail(message) => SinkError::MailRefused(message),
            other => other,
        })?;
        match self {
            MailTransport::Outbox { dir } => {
                fs::create_dir_all(dir).map_err(|e| SinkError::io("create", dir, e))?;
                FileTransport::new(dir).send(&message).map_err(|e| {
                    SinkError::Mail(format!("cannot write to the outbox {}: {e}", dir.display()))
                })?;
                Ok(())
            }
            MailTransport::Smtp(settings) => {
                let transport = smtp_transport(settings)?;
                transport.send(&message).map_err(|e| {
                    let message = redact(
                        &format!(
                            "SMTP delivery through {}:{} failed: {e}",
                            settings.host, settings.port
                        ),
                        settings.password.as_deref(),
                    );
                    // A 5xx answer is final; connection trouble and 4xx answers may pass, and so
                    // may a refused login (535 …: the password is being changed).
                    let login = e.status().is_some_and(|code| {
                        ["530", "534", "535", "538"].contains(&code.to_string().as_str())
                    });
                    if e.is_permanent() && !login {
                        SinkError::MailRefused(message)
                    } else {
                        SinkError::Mail(message)
                    }
                })?;
                Ok(())
            }
        }
    }
}

/// The lettre message for `mail`.
fn build_message(mail: &OutgoingMail) -> Result<Message, SinkError> {
    let address = |text: &str, role: &str| {
        text.parse::<Mailbox>()
            .map_err(|e| SinkError::Mail(format!("invalid {role} address {text:?}: {e}")))
    };
    if mail.to.is_empty() {
        return Err(SinkError::Mail("the mail has no recipients".into()));
    }
    let mut builder = Message::builder()
        .from(address(&mail.from, "sender")?)
        .subject(mail.subject.clone());
    for to in &mail.to {
        builder = builder.to(address(to, "recipient")?);
    }
    if let Some(id) = &mail.message_id {
        if id.contains(['\r', '\n']) {
            return Err(SinkError::Mail(
                "the Message-ID contains a line break".into(),
            ));
        }
        builder = builder.message_id(Some(id.clone()));
    }
    for (name, value) in &mail.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(SinkError::Mail(format!(
                "the header {name:?} is set from the mail's fields, not as an extra header"
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(SinkError::Mail(format!(
                "the value of header {name:?} contains a line break"
            )));
        }
        let header = HeaderName::new_from_ascii(name.clone())
            .map_err(|e| SinkError::Mail(format!("invalid header name {name:?}: {e}")))?;
        builder = builder.raw_header(HeaderValue::new(header, value.clone()));
    }
    let body = match &mail.html {
        Some(html) => MultiPart::alternative_plain_html(mail.text.clone(), html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone())),
    };
    let built = if mail.attachments.is_empty() {
        match &mail.html {
            Some(_) => builder.multipart(body),
            None => builder.singlepart(SinglePart::plain(mail.text.clone())),
        }
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for file in &mail.attachments {
            let content_type = ContentType::parse(&file.content_type).map_err(|e| {
                SinkError::Mail(format!(
                    "attachment {}: invalid content type {:?}: {e}",
                    file.name, file.content_type
                ))
            })?;
            mixed = mixed.singlepart(
                Attachment::new(file.name.clone()).body(file.text.clone(), content_type),
            );
        }
        builder.multipart(mixed)
    };
    built.map_err(|e| SinkError::Mail(format!("cannot build the message: {e}")))
}

fn smtp_transport(settings: &SmtpSettings) -> Result<SmtpTransport, SinkError> {
    let mut builder = SmtpTransport::builder_dangerous(settings.host.clone())
        .port(settings.port)
        .timeout(Some(Duration::from_secs(settings.timeout_secs.max(1))));
    builder = match settings.security {
        SmtpSecurity::None => builder.tls(Tls::None),
        SmtpSecurity::StartTls | SmtpSecurity::Tls => {
            let mut parameters = TlsParameters::builder(settings.host.clone());
            if let Some(ca_file) = &settings.ca_file {
                let pem = fs::read(ca_file).map_err(|e| SinkError::io("read", ca_file, e))?;
                if !pem
                    .windows(b"-----BEGIN CERTIFICATE-----".len())
                    .any(|w| w == b"-----BEGIN CERTIFICATE-----")
                {
                    return Err(SinkError::Mail(format!(
                        "{} holds no PEM certificate",
                        ca_file.display()
                    )));
                }
                let certificate = Certificate::from_pem(&pem).map_err(|e| {
                    SinkError::Mail(format!("invalid CA certificate {}: {e}", ca_file.display()))
                })?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters
                .build()
                .map_err(|e| SinkError::Mail(format!("cannot set up TLS: {e}")))?;
            if settings.security == SmtpSecurity::StartTls {
                builder.tls(Tls::Required(parameters))
            } else {
                builder.tls(Tls::Wrapper(parameters))
            }
        }
    };
    if let Some(username) = &settings.username {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            settings.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}

/// `text` with every occurrence of the password replaced.
fn redact(text: &str, password: Option<&str>) -> String {
    match password.filter(|p| !p.is_empty()) {
        Some(password) => text.replace(password, "<redacted>"),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            from: "regbridge <noreply@example.org>".into(),
            to: vec![
                "qps@example.org".into(),
                "Policia <police@example.org>".into(),
            ],
            subject: "Përmbledhje e cilësisë — Peć".into(),
            text: "Plain body line\n".into(),
            html: Some("<p>Html body line</p>".into()),
            message_id: Some("<digest-1@regbridge>".into()),
            headers: vec![
                ("Auto-Submitted".into(), "auto-generated".into()),
                (
                    "List-Id".into(),
                    "regbridge digests <digests.regbridge>".into(),
                ),
            ],
            attachments: Vec::new(),
        }
    }

    #[test]
    fn outbox_writes_one_eml_with_both_alternatives() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        MailTransport::Outbox { dir: dir.clone() }
            .send(&mail())
            .unwrap();
        let files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let eml = fs::read_to_string(&files[0]).unwrap();
        assert!(eml.contains("Subject: =?utf-8?"), "{eml}");
        let subject = eml.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject.contains("=?utf-8?"), "{subject}");
        assert!(eml.contains("multipart/alternative"), "{eml}");
        assert!(eml.contains("text/plain"), "{eml}");
        assert!(eml.contains("text/html"), "{eml}");
        assert!(eml.contains("Plain body line"), "{eml}");
        assert!(eml.contains("<p>Html body line</p>"), "{eml}");
        assert!(eml.contains("Auto-Submitted: auto-generated"), "{eml}");
        assert!(
            eml.contains("List-Id: regbridge digests <digests.regbridge>"),
            "{eml}"
        );
        assert!(eml.contains("Message-ID: <digest-1@regbridge>"), "{eml}");
    }

    #[test]
    fn plain_text_only_and_bad_headers() {
        let tmp = tempfile::tempdir().unwrap();
        let mut plain = mail();
        plain.html = None;
        plain.subject = "Digest".into();
        MailTransport::Outbox {
            dir: tmp.path().to_path_buf(),
        }
        .send(&plain)
        .unwrap();
        let file = fs::read_dir(tmp.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let eml = fs::read_to_string(file).unwrap();
        assert!(eml.contains("Subject: Digest"), "{eml}");
        assert!(!eml.contains("multipart"), "{eml}");
        assert!(eml.contains("text/plain"), "{eml}");

        let mut injected = mail();
        injected
            .headers
            .push(("X-Evil".into(), "a\r\nBcc: x@example.org".into()));
        assert!(build_message(&injected).is_err());
        let mut reserved = mail();
        reserved.headers.push(("Subject".into(), "other".into()));
        assert!(build_message(&reserved).is_err());
        let mut nobody = mail();
        nobody.to.clear();
        assert!(build_message(&nobody).is_err());
        let mut bad = mail();
        bad.to = vec!["not an address".into()];
        assert!(build_message(&bad).is_err());
    }

    #[test]
    fn smtp_failure_never_shows_the_password() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            username: Some("regbridge".into()),
            password: Some("s3cr3t-Pa55".into()),
            ca_file: None,
            timeout_secs: 2,
        };
        assert!(!format!("{settings:?}").contains("s3cr3t"));
        let error = MailTransport::Smtp(settings.clone())
            .send(&mail())
            .unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("127.0.0.1"), "{text}");
        assert_eq!(redact("x s3cr3t y", Some("s3cr3t")), "x <redacted> y");

        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca.pem");
        fs::write(&ca, "not a certificate").unwrap();
        let tls = SmtpSettings {
            security: SmtpSecurity::StartTls,
            ca_file: Some(ca),
            ..settings
        };
        assert!(MailTransport::Smtp(tls).send(&mail()).is_err());
    }

    #[test]
    fn security_deserializes() {
        for (text, expected) in [
            ("\"none\"", SmtpSecurity::None),
            ("\"starttls\"", SmtpSecurity::StartTls),
            ("\"start-tls\"", SmtpSecurity::StartTls),
            ("\"tls\"", SmtpSecurity::Tls),
        ] {
            assert_eq!(
                serde_json::from_str::<SmtpSecurity>(text).unwrap(),
                expected
            );
        }
    }
}
