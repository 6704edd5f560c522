//! The HTTP source over TLS against a real TLS server on 127.0.0.1 whose certificate comes from a
//! private certificate authority (as a government PKI's would) and which requires a client
//! certificate: trusted through `ca_file` with the client identity it works; without either it is
//! refused. Verification is never switched off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/pki.rs"]
mod pki;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use pki::Pki;
use regbridge_connectors::decode::{Format, JsonFormat};
use regbridge_connectors::source::http::{HttpSettings, HttpSource, Page, PageSink, PullStart};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// A TLS server on 127.0.0.1 answering every request with two records; it requires a client
/// certificate issued by `client_ca`.
fn start_server(server_pem: &(String, String), client_ca_pem: &str) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(server_pem.0.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(server_pem.1.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready_tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(|_request| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            br#"{"data": [{"id": "A-1"}, {"id": "A-2"}]}"#,
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    ready_rx.recv().unwrap()
}

#[derive(Default)]
struct Keys(Vec<String>);

impl PageSink for Keys {
    fn store(&mut self, page: &Page) -> Result<(), String> {
        self.0.extend(page.records.iter().map(|r| r.key.clone()));
        Ok(())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string().replace('\\', "/")
}

fn pull(addr: SocketAddr, tls: &str) -> Result<Vec<String>, String> {
    let text = format!(
        "url = \"https://127.0.0.1:{}/api/cases\"\nid_field = \"id\"\ntimeout_secs = 5\n[retry]\nmax_attempts = 1\n[tls]\n{tls}\n",
        addr.port()
    );
    let settings: HttpSettings = toml::from_str(&text).unwrap();
    let format = Format::Json(JsonFormat {
        records_path: Some("data".to_string()),
    });
    let source = HttpSource::new(settings, format).map_err(|e| e.to_string())?;
    let mut keys = Keys::default();
    source
        .pull(PullStart::default(), &mut keys)
        .map_err(|e| e.to_string())?;
    Ok(keys.0)
}

#[test]
fn a_private_ca_and_a_client_certificate_give_access_and_nothing_less_does() {
    let dir = tempfile::tempdir().unwrap();
    let government = Pki::new("government");
    let server = government.issue(&["127.0.0.1", "localhost"], false);
    let client = government.issue(&[], true);
    let addr = start_server(&server, &government.ca_pem());
    let ca_file = write(dir.path(), "ca.pem", &government.ca_pem());
    let cert_file = write(dir.path(), "client.pem", &client.0);
    let key_file = write(dir.path(), "client.key", &client.1);
    let identity =
        format!("client_cert_file = \"{cert_file}\"\nclient_key_file = \"{key_file}\"\n");

    let keys = pull(addr, &format!("ca_file = \"{ca_file}\"\n{identity}")).unwrap();
    assert_eq!(keys, ["A-1", "A-2"]);

    // The server's certificate is not trusted without the private CA: refused, never skipped.
    let error = pull(addr, &identity).unwrap_err();
    assert!(error.contains("certificate"), "{error}");

    // Without a client certificate the server refuses the handshake.
    let error = pull(addr, &format!("ca_file = \"{ca_file}\"\n")).unwrap_err();
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // A CA the server's certificate does not come from is no help either.
    let other = write(dir.path(), "other.pem", &Pki::new("other").ca_pem());
    let error = pull(addr, &format!("ca_file = \"{other}\"\n{identity}")).unwrap_err();
    assert!(error.contains("certificate"), "{error}");
}

#[test]
fn unreadable_certificate_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write(dir.path(), "ca.pem", "not a certificate");
    let text = format!("url = \"https://127.0.0.1:1/x\"\n[tls]\nca_file = \"{garbage}\"\n");
    let settings: HttpSettings = toml::from_str(&text).unwrap();
    let error = HttpSource::new(settings, Format::JsonLines)
        .unwrap_err()
        .to_string();
    assert!(error.contains("ca.pem"), "{error}");
    let missing = format!("{}/missing.pem", dir.path().display());
    let text = format!(
        "url = \"https://127.0.0.1:1/x\"\n[tls]\nclient_cert_file = \"{missing}\"\nclient_key_file = \"{missing}\"\n"
    );
    let settings: HttpSettings = toml::from_str(&text).unwrap();
    let error = HttpSource::new(settings, Format::JsonLines)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.pem"), "{error}");
}
