//! Building the HTTP client of a source: the secret read from the environment or a file, the
//! authentication header marked sensitive, extra CA certificates and a client identity (rustls,
//! verification always on).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use super::settings::{Auth, HttpSettings};
use super::HttpError;

/// A secret's value. It has no `Display`, and its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment or a file.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret from the environment variable `env` (if set and not blank) or else from `file`
/// (trimmed). `Ok(None)` when neither holds one. Errors name the file, never the value.
pub fn read_secret(
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Secret>, std::io::Error> {
    if let Some(value) = env.and_then(|var| std::env::var(var).ok()) {
        if !value.trim().is_empty() {
            return Ok(Some(Secret(value.trim().to_string())));
        }
    }
    match file {
        Some(path) if path.exists() => {
            let value = std::fs::read_to_string(path)?;
            Ok(Some(Secret(value.trim().to_string())))
        }
        _ => Ok(None),
    }
}

/// The headers every request carries: the configured ones and the authentication, marked
/// sensitive so that no debug output shows it.
pub(super) fn default_headers(settings: &HttpSettings) -> Result<HeaderMap, HttpError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &settings.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::Config(format!("headers: {name:?} is not a header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            HttpError::Config(format!(
                "headers: the value of {name} is not a valid header value"
            ))
        })?;
        headers.insert(name, value);
    }
    if let Some(auth) = &settings.auth {
        let (name, value) = auth_header(auth)?;
        headers.insert(name, value);
    }
    Ok(headers)
}

fn auth_header(auth: &Auth) -> Result<(HeaderName, HeaderValue), HttpError> {
    let (env, file) = auth.secret_source();
    let secret = read_secret(env, file)
        .map_err(|e| {
            HttpError::Config(format!(
                "auth: cannot read the secret file {}: {e}",
                file.map_or_else(String::new, |f| f.display().to_string())
            ))
        })?
        .ok_or_else(|| HttpError::Config(missing_secret(env, file)))?;
    let (name, text) = match auth {
        Auth::Bearer { .. } => (AUTHORIZATION, format!("Bearer {}", secret.expose())),
        Auth::Basic { username, .. } => {
            let pair = format!("{username}:{}", secret.expose());
            (AUTHORIZATION, format!("Basic {}", base64(pair.as_bytes())))
        }
        Auth::ApiKey { header, .. } => {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| HttpError::Config(format!("auth: {header:?} is not a header name")))?;
            (name, secret.expose().to_string())
        }
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        HttpError::Config(
            "auth: the secret holds characters a header cannot carry (a line break?)".to_string(),
        )
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn missing_secret(env: Option<&str>, file: Option<&Path>) -> String {
    let mut places = Vec::new();
    if let Some(var) = env {
        places.push(format!("environment variable {var}"));
    }
    if let Some(path) = file {
        places.push(format!("file {}", path.display()));
    }
    format!("auth: no secret found in {}", places.join(" or "))
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = ((n >> shift) & 63) as usize;
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The client of one source: timeouts, default headers, TLS trust and identity.
pub(super) fn build_client(settings: &HttpSettings) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(!settings.url.starts_with("http://"))
        .timeout(Duration::from_secs_f64(settings.timeout_secs))
        .connect_timeout(Duration::from_secs_f64(settings.timeout_secs.min(30.0)))
        .user_agent(concat!("regbridge/", env!("CARGO_PKG_VERSION")))
        .default_headers(default_headers(settings)?)
        // The credentials (an API key in any header) never follow a redirect to another origin
        // (scheme, host, port): such a redirect is not followed and the pull fails with its status.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host_str() == attempt.url().host_str()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if same_origin && attempt.previous().len() <= 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }));
    if let Some(path) = &settings.tls.ca_file {
        let pem = read_pem(path, "ca_file")?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| HttpError::Config(format!("tls: ca_file {}: {e}", path.display())))?;
        if certificates.is_empty() {
            return Err(HttpError::Config(format!(
                "tls: ca_file {} holds no certificate",
                path.display()
            )));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let (Some(cert), Some(key)) = (
        &settings.tls.client_cert_file,
        &settings.tls.client_key_file,
    ) {
        let mut pem = read_pem(cert, "client_cert_file")?;
        pem.push(b'\n');
        pem.extend(read_pem(key, "client_key_file")?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            HttpError::Config(format!(
                "tls: client certificate {} with key {}: {e}",
                cert.display(),
                key.display()
            ))
        })?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| HttpError::Config(format!("cannot build the HTTP client: {e}")))
}

fn read_pem(path: &Path, setting: &str) -> Result<Vec<u8>, HttpError> {
    std::fs::read(path)
        .map_err(|e| HttpError::Config(format!("tls: {setting} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret::new("hunter2".to_string());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
