//! Paging: which page to ask for ([`PageRequest`]), the parameters that ask for it, and the next
//! request after a page (from the record count, a cursor in the body or a header, or a
//! `Link: rel="next"` header).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::settings::Paging;

/// A page to ask for; stored as the pull's checkpoint so that an interrupted pull resumes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "at", rename_all = "snake_case")]
pub enum PageRequest {
    /// The first page.
    First,
    /// A page number (page style).
    Page(u64),
    /// A record offset (offset style).
    Offset(u64),
    /// A cursor token (cursor style).
    Cursor(String),
    /// A URL given by the server (link style).
    Url(String),
}

impl PageRequest {
    /// The parameters that ask for this page: numbers (page, offset, size) as JSON numbers, a
    /// cursor token as a string, so that a POST body sends each as the API expects.
    pub(super) fn parameters(&self, paging: &Paging) -> Vec<(String, Value)> {
        let mut parameters = Vec::new();
        let mut size = |param: &Option<String>, value: &Option<u32>| {
            if let (Some(param), Some(value)) = (param, value) {
                parameters.push((param.clone(), Value::from(*value)));
            }
        };
        match paging {
            Paging::None => {}
            Paging::Page {
                size_param,
                page_size,
                ..
            }
            | Paging::Cursor {
                size_param,
                page_size,
                ..
            }
            | Paging::Link {
                size_param,
                page_size,
            } => size(size_param, page_size),
            Paging::Offset {
                limit_param, limit, ..
            } => parameters.push((limit_param.clone(), Value::from(*limit))),
        }
        let position = match (self, paging) {
            (
                PageRequest::First,
                Paging::Page {
                    page_param,
                    first_page,
                    ..
                },
            ) => Some((page_param, Value::from(*first_page))),
            (PageRequest::Page(n), Paging::Page { page_param, .. }) => {
                Some((page_param, Value::from(*n)))
            }
            (PageRequest::First, Paging::Offset { offset_param, .. }) => {
                Some((offset_param, Value::from(0)))
            }
            (PageRequest::Offset(n), Paging::Offset { offset_param, .. }) => {
                Some((offset_param, Value::from(*n)))
            }
            (PageRequest::Cursor(token), Paging::Cursor { cursor_param, .. }) => {
                Some((cursor_param, Value::String(token.clone())))
            }
            _ => None,
        };
        parameters.extend(position.map(|(name, value)| (name.clone(), value)));
        parameters
    }

    /// A short description for messages: "page 3", "offset 200", "the first page".
    pub fn describe(&self) -> String {
        match self {
            PageRequest::First => "the first page".to_string(),
            PageRequest::Page(n) => format!("page {n}"),
            PageRequest::Offset(n) => format!("offset {n}"),
            PageRequest::Cursor(_) => "the page at a cursor".to_string(),
            PageRequest::Url(_) => "the next linked page".to_string(),
        }
    }
}

/// What the next request is after a page with `records` records, its parsed JSON body (if JSON)
/// and its headers; `Ok(None)` when this was the last page. A cursor path the body does not have
/// at all is an error (a renamed field must not end a pull quietly); a last page says so with
/// null or an empty value.
pub(super) fn next_request(
    paging: &Paging,
    current: &PageRequest,
    records: usize,
    body: Option<&Value>,
    headers: &reqwest::header::HeaderMap,
    url: &reqwest::Url,
) -> Result<Option<PageRequest>, String> {
    let next = match paging {
        Paging::None => None,
        Paging::Page { first_page, .. } => {
            let number = match current {
                PageRequest::Page(n) => *n,
                _ => *first_page,
            };
            (records > 0).then(|| PageRequest::Page(number.saturating_add(1)))
        }
        Paging::Offset { .. } => {
            let offset = match current {
                PageRequest::Offset(n) => *n,
                _ => 0,
            };
            (records > 0).then(|| PageRequest::Offset(offset.saturating_add(records as u64)))
        }
        Paging::Cursor {
            cursor_path,
            cursor_header,
            ..
        } => {
            let token = match (cursor_path, cursor_header) {
                (Some(path), _) => {
                    let body =
                        body.ok_or("the body is not a JSON document to read the cursor from")?;
                    let value = value_at(body, path).ok_or_else(|| {
                        format!("the body has no {path}; a last page must say so with null or an empty value")
                    })?;
                    scalar_text(value)
                }
                (None, Some(header)) => {
                    let token = headers
                        .get(header.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    // A full page without the header is a renamed header, not a last page.
                    let full_page = match paging {
                        Paging::Cursor {
                            page_size: Some(size),
                            ..
                        } => records >= *size as usize,
                        _ => false,
                    };
                    if token.is_none() && full_page {
                        return Err(format!(
                            "a full page came without the {header} header; a last page is shorter or sends it empty"
                        ));
                    }
                    token
                }
                (None, None) => None,
            };
            token.map(|t| t.trim().to_string()).and_then(|token| {
                let same = matches!(current, PageRequest::Cursor(previous) if *previous == token);
                (!token.is_empty() && !same).then_some(PageRequest::Cursor(token))
            })
        }
        Paging::Link { .. } => next_link(headers, url).map(PageRequest::Url),
    };
    Ok(next)
}

/// The `rel="next"` target of the `Link` headers, resolved against the request's URL.
fn next_link(headers: &reqwest::header::HeaderMap, base: &reqwest::Url) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find(|(_, params)| {
            params.split(';').any(|p| {
                let Some((name, value)) = p.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        })
        .and_then(|(target, _)| base.join(&target).ok())
        .map(String::from)
}

/// `<a>; rel="next", <b>; rel="last"` → `[("a", "; rel=\"next\""), ("b", "; rel=\"last\"")]`.
fn split_links(header: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|c| open + c) else {
            break;
        };
        let target = rest[open + 1..close].to_string();
        let after = &rest[close + 1..];
        // Parameters run to the next link ("," followed by "<"), outside quotes.
        let mut end = after.len();
        let mut quoted = false;
        for (i, c) in after.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted && after[i + 1..].trim_start().starts_with('<') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        links.push((target, after[..end].to_string()));
        rest = &after[end..];
    }
    links
}

/// The value at a dotted path (`meta.next_cursor`; a numeric segment indexes an array).
pub fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// A string or number as text; `None` for null, objects, arrays and empty strings.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_target_resolved_against_the_request() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            r#"</api/cases?page=1>; rel="prev first", </api/cases?page=3&x=a,b>; rel="next""#
                .parse()
                .unwrap(),
        );
        let base = reqwest::Url::parse("https://host.example/api/cases?page=2").unwrap();
        assert_eq!(
            next_link(&headers, &base).as_deref(),
            Some("https://host.example/api/cases?page=3&x=a,b")
        );
        headers.insert(
            reqwest::header::LINK,
            r#"<https://host.example/a>; rel="last""#.parse().unwrap(),
        );
        assert_eq!(next_link(&headers, &base), None);
    }

    #[test]
    fn a_repeated_or_empty_cursor_ends_the_pull() {
        let paging = Paging::Cursor {
            cursor_path: Some("meta.next".to_string()),
            cursor_header: None,
            cursor_param: "cursor".to_string(),
            size_param: None,
            page_size: None,
        };
        let url = reqwest::Url::parse("https://h.example/").unwrap();
        let headers = reqwest::header::HeaderMap::new();
        let body = serde_json::json!({"meta": {"next": "abc"}});
        let next = |current: &PageRequest, body: &Value| {
            next_request(&paging, current, 10, Some(body), &headers, &url).unwrap()
        };
        assert_eq!(
            next(&PageRequest::First, &body),
            Some(PageRequest::Cursor("abc".to_string()))
        );
        assert_eq!(next(&PageRequest::Cursor("abc".to_string()), &body), None);
        assert_eq!(
            next(
                &PageRequest::First,
                &serde_json::json!({"meta": {"next": null}})
            ),
            None
        );
    }

    #[test]
    fn offsets_advance_by_the_records_received() {
        let paging = Paging::Offset {
            offset_param: "offset".to_string(),
            limit_param: "limit".to_string(),
            limit: 100,
        };
        let url = reqwest::Url::parse("https://h.example/").unwrap();
        let headers = reqwest::header::HeaderMap::new();
        assert_eq!(
            next_request(&paging, &PageRequest::Offset(100), 50, None, &headers, &url).unwrap(),
            Some(PageRequest::Offset(150))
        );
        assert_eq!(
            next_request(&paging, &PageRequest::Offset(150), 0, None, &headers, &url).unwrap(),
            None
        );
    }
}
