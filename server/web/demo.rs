//! Demo mode's guards on the HTTP side: a banner on every page, and demo sign-in only for
//! requests addressed to this machine.
//!
//! Start-up already refuses demo mode behind a public or https address (`config.rs`); these
//! are the second line: a page cannot forget the banner (the layer adds it to every HTML
//! response), and a browser tricked into reaching the demo under a foreign name (DNS
//! rebinding, a port forwarded by mistake) sends that name as `Host` and is turned away.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::is_loopback_host;

/// The banner, first in every page's `<body>`: static text, so it cannot carry user data.
const BANNER: &str = "<p class=\"demo-banner\" role=\"note\"><strong>Demo mode.</strong> \
    Anyone who can open this server can sign in as any user. Use it with demo data only.</p>";

/// Largest page the banner layer reads into memory (Terrane's pages are tens of kB).
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Adds [`BANNER`] after `<body>` in HTML responses. Installed only in demo mode.
pub async fn banner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !state.config.demo || !is_html(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let page = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // Nothing of the page is left to send: say so rather than send half of it.
            tracing::warn!(error = %e, "demo banner could not read a page");
            return crate::error::AppError::Internal(anyhow::anyhow!("page body: {e}"))
                .into_response();
        }
    };
    let Some(at) = find(&page, b"<body>").map(|i| i + b"<body>".len()) else {
        return Response::from_parts(parts, Body::from(page));
    };
    let mut out = Vec::with_capacity(page.len() + BANNER.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(BANNER.as_bytes());
    out.extend_from_slice(&page[at..]);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether the request's `Host` names this machine's loopback (`127.0.0.1:8080`,
/// `[::1]:8080`, `localhost`). A missing or unreadable `Host` is not.
pub fn addressed_to_loopback(headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|host| is_loopback_host(without_port(host)))
}

/// `host:port` -> `host`; `[v6]:port` -> `[v6]`; a bare name or address as it is.
fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        // One colon: a port. More than one: an IPv6 address without brackets.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("ascii"));
        h
    }

    #[test]
    fn only_loopback_hosts_count_as_this_machine() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "[::1]",
            "localhost:8080",
            "LOCALHOST",
            "demo.localhost:8080",
        ] {
            assert!(addressed_to_loopback(&with_host(host)), "{host}");
        }
        for host in [
            "terrane.example.com",
            "192.168.1.20:8080",
            "0.0.0.0:8080",
            "localhost.example.com:8080",
            "127.0.0.1.nip.io",
            "[2001:db8::1]:8080",
        ] {
            assert!(!addressed_to_loopback(&with_host(host)), "{host}");
        }
        assert!(!addressed_to_loopback(&HeaderMap::new()), "no Host header");
    }
}
