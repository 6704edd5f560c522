//! A real HTTP/1.1 server on 127.0.0.1 (hyper) standing in for an institution's API in tests: it
//! serves a list of synthetic records in any paging style and body format, checks credentials,
//! and injects faults (error statuses, Retry-After, slow answers, truncated bodies, dropped
//! connections) on the requests the test chooses.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::future::Future;

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// How the server pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `?page=N&per_page=M`, 1-based.
    Page,
    /// `?offset=N&limit=M`.
    Offset,
    /// `?cursor=T&limit=M`; the next token in `meta.next_cursor`.
    Cursor,
    /// `?cursor=T`; the next token in the `X-Next-Cursor` header.
    CursorHeader,
    /// `Link: <…>; rel="next"` with `?page=N`.
    Link,
}

/// The body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `{"data": [...], "meta": {...}}`.
    Json,
    JsonLines,
    Csv,
}

/// What to do to a request instead of (or before) answering it normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and no records.
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany { retry_after_secs: u64 },
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Promise the whole body, send part of it, close the connection.
    Truncate,
    /// Send the headers and a few bytes, then never finish until released (for kill tests).
    Hang,
    /// Answer with a JSON body cut in the middle but a matching Content-Length.
    Garbled,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Applies when the request's 0-based page index (by position in the data) equals this.
    pub page_index: Option<usize>,
    /// How many more times it applies.
    pub times: usize,
    pub fault: Fault,
}

/// Credentials the server requires.
#[derive(Debug, Clone)]
pub enum Required {
    None,
    Header { name: String, value: String },
}

/// What the server has and does; change it between pulls through [`ApiServer::state`].
#[derive(Debug)]
pub struct ServerState {
    pub records: Vec<Value>,
    pub style: Style,
    pub body: Body,
    pub page_size: usize,
    pub required: Required,
    pub faults: VecDeque<FaultRule>,
    /// Every request's path and query, and when it came.
    pub requests: Vec<(Instant, String)>,
    /// Tokens the cursor styles no longer accept (410 Gone, once each).
    pub expired_cursors: Vec<String>,
    /// The key of the next cursor under `meta` (`next_cursor`).
    pub cursor_key: String,
    /// Link style: next links point to another host.
    pub foreign_links: bool,
    /// The JSON bodies of POST requests, as received.
    pub bodies: Vec<Value>,
}

/// A running server; stops when dropped.
pub struct ApiServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `n` synthetic inspection records: ids `INS-0001`…, update times in ascending order, three
/// records sharing each minute (as records saved together do).
pub fn records(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let minute = i / 3;
            json!({
                "id": format!("INS-{i:04}"),
                "updated_at": format!(
                    "2026-11-{:02}T{:02}:{:02}:00Z",
                    1 + minute / 1440,
                    (minute / 60) % 24,
                    minute % 60
                ),
                "municipality": (["Prishtinë", "Prizren", "Pejë"][i % 3]),
                "child_given_name": format!("Emri{i}"),
                "hours_per_week": (i % 40) as u64,
            })
        })
        .collect()
}

impl ApiServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(records: Vec<Value>, style: Style, body: Body, page_size: usize) -> ApiServer {
        let state = Arc::new(Mutex::new(ServerState {
            records,
            style,
            body,
            page_size,
            required: Required::None,
            faults: VecDeque::new(),
            requests: Vec::new(),
            expired_cursors: Vec::new(),
            cursor_key: "next_cursor".to_string(),
            foreign_links: false,
            bodies: Vec::new(),
        }));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let mut stop_rx = stop_rx;
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = shared.clone();
                            tokio::spawn(async move {
                                let service = service_fn(move |request| {
                                    let state = state.clone();
                                    async move { Ok::<_, Infallible>(answer(&state, request).await) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        let addr = ready_rx.recv().unwrap();
        ApiServer {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/api/inspections`.
    pub fn url(&self) -> String {
        format!("http://{}/api/inspections", self.addr)
    }

    /// Adds a fault for the next `times` requests for the page at `page_index` (any page: `None`).
    pub fn fault(&self, page_index: Option<usize>, times: usize, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(FaultRule {
            page_index,
            times,
            fault,
        });
    }

    pub fn require(&self, name: &str, value: &str) {
        self.state.lock().unwrap().required = Required::Header {
            name: name.to_string(),
            value: value.to_string(),
        };
    }

    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }
}

type Answer = Response<BoxBody<Bytes, std::io::Error>>;

fn full(status: u16, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

fn query_map(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn answer(
    state: &Arc<Mutex<ServerState>>,
    request: Request<hyper::body::Incoming>,
) -> Answer {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let mut query = query_map(request.uri().query().unwrap_or(""));
    if request.method() == hyper::Method::POST {
        let bytes = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if let Ok(body) = serde_json::from_slice::<Value>(&bytes) {
            state.lock().unwrap().bodies.push(body);
        }
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                query.push((k, text));
            }
        }
    }
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };

    let (fault, page) = {
        let mut s = state.lock().unwrap();
        s.requests.push((Instant::now(), path_and_query.clone()));
        if let Required::Header { name, value } = &s.required {
            let given = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if given != Some(value.as_str()) {
                return full(401, r#"{"error":"unauthorized"}"#);
            }
        }
        // Records the request asks for: at or after `updated_since`, in update order.
        let since = get("updated_since");
        let selected: Vec<Value> = s
            .records
            .iter()
            .filter(|r| match &since {
                Some(since) => r["updated_at"].as_str().unwrap_or("") >= since.as_str(),
                None => true,
            })
            .cloned()
            .collect();
        let size = get("per_page")
            .or_else(|| get("limit"))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(s.page_size)
            .min(s.page_size);
        let start = match s.style {
            Style::Page | Style::Link => {
                let page: usize = get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
                page.saturating_sub(1) * size
            }
            Style::Offset => get("offset").and_then(|v| v.parse().ok()).unwrap_or(0),
            Style::Cursor | Style::CursorHeader => match get("cursor") {
                Some(token) if s.expired_cursors.contains(&token) => {
                    // Expired once: a fresh pass hands out a new token with the same text.
                    s.expired_cursors.retain(|t| *t != token);
                    return full(410, r#"{"error":"cursor expired"}"#);
                }
                Some(token) => token
                    .strip_prefix("c")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                None => 0,
            },
        };
        let page_index = start / size.max(1);
        let fault = s
            .faults
            .iter()
            .position(|f| f.page_index.is_none_or(|p| p == page_index) && f.times > 0)
            .map(|i| {
                let rule = &mut s.faults[i];
                rule.times -= 1;
                rule.fault.clone()
            });
        let end = (start + size).min(selected.len());
        let slice: Vec<Value> = selected
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let more = end < selected.len();
        let link_origin = if s.foreign_links {
            "http://other.example".to_string()
        } else {
            String::new()
        };
        let cursor_key = s.cursor_key.clone();
        (
            fault,
            (
                slice,
                end,
                more,
                page_index,
                s.style,
                s.body,
                since,
                link_origin,
                cursor_key,
            ),
        )
    };
    let (slice, end, more, page_index, style, body_format, since, link_origin, cursor_key) = page;

    let next_cursor = more.then(|| format!("c{end}"));
    let body: Vec<u8> = match body_format {
        Body::Json => {
            let mut meta = json!({ "count": slice.len() });
            if style == Style::Cursor {
                meta[cursor_key.as_str()] = next_cursor.clone().map_or(Value::Null, Value::String);
            }
            serde_json::to_vec(&json!({ "data": slice, "meta": meta })).unwrap()
        }
        Body::JsonLines => slice
            .iter()
            .map(|r| format!("{}\n", serde_json::to_string(r).unwrap()))
            .collect::<String>()
            .into_bytes(),
        Body::Csv => {
            let mut text =
                String::from("id,updated_at,municipality,child_given_name,hours_per_week\n");
            for r in &slice {
                text.push_str(&format!(
                    "{},{},{},{},{}\n",
                    r["id"].as_str().unwrap(),
                    r["updated_at"].as_str().unwrap(),
                    r["municipality"].as_str().unwrap(),
                    r["child_given_name"].as_str().unwrap(),
                    r["hours_per_week"]
                ));
            }
            text.into_bytes()
        }
    };
    let content_type = match body_format {
        Body::Json => "application/json",
        Body::JsonLines => "application/x-ndjson",
        Body::Csv => "text/csv; charset=utf-8",
    };
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", content_type);
    if style == Style::CursorHeader {
        if let Some(token) = &next_cursor {
            builder = builder.header("x-next-cursor", token.as_str());
        }
    }
    if style == Style::Link && more {
        let mut next = format!("{link_origin}/api/inspections?page={}", page_index + 2);
        if let Some(since) = since {
            next.push_str(&format!("&updated_since={since}"));
        }
        builder = builder.header(
            "link",
            format!(r#"<{next}>; rel="next", </api/inspections?page=1>; rel="first""#),
        );
    }

    match fault {
        None => builder
            .body(
                Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap(),
        Some(Fault::Status(code)) => full(code, r#"{"error":"injected"}"#),
        Some(Fault::TooMany { retry_after_secs }) => Response::builder()
            .status(429)
            .header("retry-after", retry_after_secs.to_string())
            .body(
                Full::new(Bytes::from_static(b"{}"))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap(),
        Some(Fault::Slow(wait)) => {
            tokio::time::sleep(wait).await;
            builder
                .body(
                    Full::new(Bytes::from(body))
                        .map_err(|never| match never {})
                        .boxed(),
                )
                .unwrap()
        }
        Some(Fault::Garbled) => {
            let cut = body[..body.len() / 2].to_vec();
            builder
                .body(
                    Full::new(Bytes::from(cut))
                        .map_err(|never| match never {})
                        .boxed(),
                )
                .unwrap()
        }
        Some(fault @ (Fault::Truncate | Fault::Hang)) => {
            let length = body.len();
            let part = Bytes::from(body[..length / 2].to_vec());
            let hang = matches!(fault, Fault::Hang);
            let cut = CutBody {
                part: Some(part),
                hang,
                sleep: None,
            };
            builder
                .header("content-length", length.to_string())
                .body(BodyExt::boxed(cut))
                .unwrap()
        }
    }
}

/// A body that sends one chunk, then either fails (hyper closes the connection: a truncated
/// body) or waits for an hour (a server that hangs mid-body).
struct CutBody {
    part: Option<Bytes>,
    hang: bool,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(part) = self.part.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(part))));
        }
        if self.hang {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_secs(3600))));
            return match sleep.as_mut().poll(cx) {
                std::task::Poll::Ready(()) => std::task::Poll::Ready(None),
                std::task::Poll::Pending => std::task::Poll::Pending,
            };
        }
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "cut",
        ))))
    }
}
