//! What the configuration says about an HTTP source (`[sources.<name>.http]`): request, auth,
//! TLS, paging, incremental cursor and retries. Plain data, checked by [`HttpSettings::validate`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// An HTTP source. Unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// The endpoint, `https://…` (or `http://` on 127.0.0.1 / localhost only, for tests and
    /// tunnels). No credentials in it: they go under `auth`.
    pub url: String,
    /// `GET` (default) or `POST` for query APIs.
    #[serde(default)]
    pub method: Method,
    /// Query parameters added to every request.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Headers added to every request (not for secrets: use `auth`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body of a `POST`; paging and cursor parameters are added to it as top-level keys.
    #[serde(default)]
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub paging: Paging,
    /// Dotted path of each record's own identifier (e.g. `id` or `meta.inspection_id`): a record
    /// delivered again replaces its earlier version instead of counting twice. Without it (or
    /// when a record lacks it) the record's content identifies it.
    #[serde(default)]
    pub id_field: Option<String>,
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// Seconds one request (connect, headers and body) may take. Default 30.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    #[serde(default)]
    pub retry: Retry,
    /// A pull stops with an error after this many pages (a server that pages forever). Default
    /// 100,000.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// A page larger than this many bytes fails the pull instead of filling the memory (a page is
    /// held several times over while it is decoded). Default 64 MiB.
    #[serde(default = "default_max_page_bytes")]
    pub max_page_bytes: u64,
}

fn default_max_page_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_timeout() -> f64 {
    30.0
}

fn default_max_pages() -> u32 {
    100_000
}

/// The request method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    #[serde(alias = "get")]
    Get,
    #[serde(alias = "post")]
    Post,
}

/// Authentication; the secret is named (an environment variable or a file), never written in the
/// configuration. When both are given the variable wins if it is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        token_env: Option<String>,
        token_file: Option<PathBuf>,
    },
    /// `Authorization: Basic …` with a user name and a password.
    Basic {
        username: String,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
    },
    /// A key in a header of the API's choosing, e.g. `X-API-Key`.
    ApiKey {
        header: String,
        key_env: Option<String>,
        key_file: Option<PathBuf>,
    },
}

impl Auth {
    /// The environment variable and file the secret is read from.
    pub fn secret_source(&self) -> (Option<&str>, Option<&std::path::Path>) {
        match self {
            Auth::Bearer {
                token_env,
                token_file,
            } => (token_env.as_deref(), token_file.as_deref()),
            Auth::Basic {
                password_env,
                password_file,
                ..
            } => (password_env.as_deref(), password_file.as_deref()),
            Auth::ApiKey {
                key_env, key_file, ..
            } => (key_env.as_deref(), key_file.as_deref()),
        }
    }

    /// The secret's files, to make them absolute against the configuration's folder.
    pub fn secret_file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            Auth::Bearer { token_file, .. } => token_file.as_mut(),
            Auth::Basic { password_file, .. } => password_file.as_mut(),
            Auth::ApiKey { key_file, .. } => key_file.as_mut(),
        }
    }
}

/// TLS for a government PKI. Certificates are always verified; these only add trust and identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM bundle of extra certificate authorities to trust (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key_file: Option<PathBuf>,
}

/// How the API splits its records into pages. Every style stops at the first page without records
/// (page and offset styles), without a next cursor (cursor style) or without a `rel="next"` link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paging {
    /// One response holds every record.
    #[default]
    None,
    /// `?page=1`, `?page=2`, … .
    Page {
        #[serde(default = "default_page_param")]
        page_param: String,
        /// The first page's number. Default 1.
        #[serde(default = "default_first_page")]
        first_page: u64,
        /// Parameter asking for a page size, with `page_size`.
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default)]
        page_size: Option<u32>,
    },
    /// `?offset=0&limit=100`, then the offset advanced by the records actually received.
    Offset {
        #[serde(default = "default_offset_param")]
        offset_param: String,
        #[serde(default = "default_limit_param")]
        limit_param: String,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// An opaque token from each response, sent back to get the next page.
    Cursor {
        /// Dotted path of the next token in a JSON body, e.g. `meta.next_cursor`.
        #[serde(default)]
        cursor_path: Option<String>,
        /// Or the response header carrying it, e.g. `X-Next-Cursor`.
        #[serde(default)]
        cursor_header: Option<String>,
        /// The parameter the token is sent back in. Default `cursor`.
        #[serde(default = "default_cursor_param")]
        cursor_param: String,
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default)]
        page_size: Option<u32>,
    },
    /// `Link: <…>; rel="next"` response headers (RFC 8288), followed as given.
    Link {
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default)]
        page_size: Option<u32>,
    },
}

fn default_page_param() -> String {
    "page".to_string()
}
fn default_first_page() -> u64 {
    1
}
fn default_offset_param() -> String {
    "offset".to_string()
}
fn default_limit_param() -> String {
    "limit".to_string()
}
fn default_limit() -> u32 {
    100
}
fn default_cursor_param() -> String {
    "cursor".to_string()
}

/// Incremental pulls: only records changed since the last pull, by a value that only grows (an
/// update time or the highest id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// Parameter carrying the last value seen, e.g. `updated_since`. The API must include records
    /// equal to it (≥), so that records sharing the value are not missed.
    pub param: String,
    /// Dotted path of the value in each record, e.g. `updated_at`.
    pub field: String,
    /// The value for the very first pull; none: the first pull asks for everything.
    #[serde(default)]
    pub start: Option<String>,
    /// The API returns records in ascending order of `field` and pages by cursor (a key it
    /// continues after): the cursor then advances after every stored page, without lagging.
    #[serde(default)]
    pub ordered: bool,
}

/// Retries of a request that failed for a reason that may pass: a connection error or timeout, a
/// truncated or unreadable body, 408, 429 or a 5xx status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// Attempts per request, the first included. Default 5.
    pub max_attempts: u32,
    /// The first wait; each next one doubles, with random jitter. Default 0.5 s.
    pub initial_delay_secs: f64,
    /// The longest wait between attempts. Default 60 s.
    pub max_delay_secs: f64,
    /// The longest `Retry-After` honoured; a server asking for more fails the pull. Default 300 s.
    pub max_retry_after_secs: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 5,
            initial_delay_secs: 0.5,
            max_delay_secs: 60.0,
            max_retry_after_secs: 300.0,
        }
    }
}

impl HttpSettings {
    /// Checks the settings without touching the network or the secrets; the message names the
    /// setting.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(
                    "url: plain http is allowed only to 127.0.0.1 or localhost; use https"
                        .to_string(),
                )
            }
            other => return Err(format!("url: scheme {other:?} is not http or https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "url: must not carry a user name or password; use [auth] with a secret from the environment or a file"
                    .to_string(),
            );
        }
        if self.body.is_some() && self.method == Method::Get {
            return Err("body is only sent with method = \"POST\"".to_string());
        }
        for name in self.headers.keys() {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
            if name.eq_ignore_ascii_case("authorization") {
                return Err(
                    "headers: Authorization belongs under [auth], with the secret from the environment or a file"
                        .to_string(),
                );
            }
        }
        if let Some(auth) = &self.auth {
            if let (None, None) = auth.secret_source() {
                return Err("auth: name the secret's environment variable or file".to_string());
            }
            if let Auth::ApiKey { header, .. } = auth {
                reqwest::header::HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("auth: {header:?} is not a valid header name"))?;
            }
        }
        if self.tls.client_cert_file.is_some() != self.tls.client_key_file.is_some() {
            return Err("tls: client_cert_file and client_key_file go together".to_string());
        }
        if let Paging::Cursor {
            cursor_path,
            cursor_header,
            ..
        } = &self.paging
        {
            if cursor_path.is_some() == cursor_header.is_some() {
                return Err(
                    "paging: the cursor style needs exactly one of cursor_path and cursor_header"
                        .to_string(),
                );
            }
        }
        if let Paging::Offset { limit: 0, .. } = &self.paging {
            return Err("paging: limit must be 1 or more".to_string());
        }
        if !self.timeout_secs.is_finite() || self.timeout_secs <= 0.0 {
            return Err("timeout_secs must be more than 0".to_string());
        }
        if self.retry.max_attempts == 0 {
            return Err("retry: max_attempts must be 1 or more".to_string());
        }
        if self.max_pages == 0 {
            return Err("max_pages must be 1 or more".to_string());
        }
        if let Some(incremental) = &self.incremental {
            if self.id_field.is_none() {
                return Err(
                    "incremental pulls need id_field: a record sent again after a change must replace its earlier version"
                        .to_string(),
                );
            }
            if incremental.ordered && !matches!(self.paging, Paging::Cursor { .. } | Paging::None) {
                return Err(
                    "incremental.ordered needs cursor paging (a key the server continues after): with page numbers, offsets or links built from them, a record updated during the pull moves and another slips between pages"
                        .to_string(),
                );
            }
        }
        Ok(())
    }
}

/// Whether the URL's host is this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
