//! Request tracing and metrics. Spans carry the method, matched route and request id only:
//! never the query string, which may hold coordinates or names.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> tracing::Span {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("<unmatched>", MatchedPath::as_str);
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("http", method = %req.method(), route, request_id)
    }
}

pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// Counts requests and records latency per route and status class.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The Content-Security-Policy for every response: no inline script or style, nothing framed.
/// A configured base-map style may load from its own origin (style, tiles, glyphs, sprites).
pub fn content_security_policy(map_style_url: Option<&str>) -> String {
    let extra = map_style_url
        .and_then(|u| reqwest::Url::parse(u).ok())
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:{extra}; worker-src 'self'; connect-src 'self'{extra}; \
         font-src 'self'{extra}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The body-limit layers answer 413 in plain text; every error of the API is JSON
/// (`{"error":{"code","message"}}`), so their answer is replaced.
pub async fn json_too_large(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let plain = !response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && plain {
        return crate::error::error_response(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than this route accepts",
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::content_security_policy;

    #[test]
    fn csp_allows_the_configured_style_origin_only_where_needed() {
        let plain = content_security_policy(None);
        assert!(plain.contains("script-src 'self';"));
        assert!(plain.contains("frame-ancestors 'none'"));
        assert!(!plain.contains("unsafe-inline"));
        let styled = content_security_policy(Some("https://tiles.example.org/styles/basic.json"));
        assert!(
            styled.contains("connect-src 'self' https://tiles.example.org;"),
            "{styled}"
        );
        assert!(styled.contains("script-src 'self';"), "{styled}");
    }
}
