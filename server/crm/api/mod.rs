//! Clients for the CRMs' REST APIs (reconciliation and change notices) and OAuth2 refresh.
//!
//! [`hubspot::HubSpotApi`] and [`salesforce::SalesforceApi`] take a bearer token per call;
//! [`oauth::TokenCache`] hands them a valid one and refreshes it once when the CRM answers 401.
//! Every failure is an [`ApiError`] whose text never holds a token or a record's contents.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub mod activities;
pub mod hubspot;
pub mod oauth;
pub mod salesforce;

/// Longest vendor error message kept in an [`ApiError`]; vendors sometimes quote field values.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why a CRM API or token call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 401 (after the one refresh when called through [`oauth::TokenCache`]), or the token
    /// endpoint refused the refresh token: the CRM has to be reconnected.
    #[error("the CRM refused our credentials; reconnect it")]
    Unauthorized,
    /// HTTP 429 (or Salesforce's `REQUEST_LIMIT_EXCEEDED`). `policy` is HubSpot's `policyName`
    /// (`DAILY`, `TEN_SECONDLY_ROLLING`, ...) when it sent one.
    #[error("the CRM is rate limiting us (retry after {retry_after:?}, policy {policy:?})")]
    RateLimited {
        retry_after: Option<Duration>,
        policy: Option<String>,
    },
    /// HTTP 5xx: the CRM failed; worth retrying.
    #[error("the CRM failed with HTTP {0}")]
    Server(StatusCode),
    /// Any other HTTP 4xx (or unexpected status), with the vendor's code and message (shortened).
    #[error("the CRM rejected the request with HTTP {0}: {1}")]
    Client(StatusCode, String),
    /// The request did not complete (connection refused, reset, timed out).
    #[error("calling the CRM for {what} failed: {detail}")]
    Transport { what: &'static str, detail: String },
    /// The answer was not the JSON we expected.
    #[error("the CRM's answer for {what} was not the expected JSON ({detail})")]
    Decode { what: &'static str, detail: String },
    /// The caller passed more records than one call of the vendor's API takes.
    #[error("{what} takes at most {max} records per call, got {got}")]
    BatchTooLarge {
        what: &'static str,
        max: usize,
        got: usize,
    },
    /// A URL from configuration or from the CRM could not be used.
    #[error("unusable URL for {what}")]
    BadUrl { what: &'static str },
}

impl ApiError {
    /// Whether the same request may succeed later (after `retry_after` for rate limits).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server(_) | Self::Transport { .. }
        )
    }

    fn transport(what: &'static str, err: &reqwest::Error) -> Self {
        let detail = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "could not connect"
        } else {
            "the request or its answer was cut off"
        };
        Self::Transport {
            what,
            detail: detail.to_owned(),
        }
    }

    /// serde_json's own message can quote the offending value, so keep only where and what kind.
    fn decode(what: &'static str, err: &serde_json::Error) -> Self {
        Self::Decode {
            what,
            detail: format!(
                "{:?} error at line {} column {}",
                err.classify(),
                err.line(),
                err.column()
            ),
        }
    }
}

/// Sends `request` with `token` as bearer and decodes a 2xx answer (200, 207, ...) as `T`;
/// any other status becomes the matching [`ApiError`].
async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    token: &str,
    what: &'static str,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let response = request
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| ApiError::transport(what, &e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| ApiError::transport(what, &e))?;
    tracing::debug!(
        what,
        status = status.as_u16(),
        bytes = body.len(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "CRM API call"
    );
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| ApiError::decode(what, &e))
    } else {
        Err(error_from_response(status, &headers, &body, token))
    }
}

/// Classifies a non-2xx answer from either vendor (or a token endpoint).
fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    token: &str,
) -> ApiError {
    let vendor = VendorError::parse(body);
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && vendor.code.as_deref() == Some("REQUEST_LIMIT_EXCEEDED"));
    if rate_limited {
        ApiError::RateLimited {
            retry_after: retry_after(headers, Utc::now()),
            policy: vendor.policy,
        }
    } else if status == StatusCode::UNAUTHORIZED {
        ApiError::Unauthorized
    } else if status.is_server_error() {
        ApiError::Server(status)
    } else {
        ApiError::Client(status, vendor.summary(token))
    }
}

/// The parts of an error body worth keeping, from HubSpot's
/// `{"status":"error","message","category","correlationId","policyName"}`, Salesforce's
/// `[{"message","errorCode"}]` or OAuth's `{"error","error_description"}`.
#[derive(Debug, Default, PartialEq)]
struct VendorError {
    code: Option<String>,
    message: Option<String>,
    correlation_id: Option<String>,
    policy: Option<String>,
}

impl VendorError {
    fn parse(body: &[u8]) -> Self {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Salesforce(Vec<SalesforceItem>),
            Object(ObjectError),
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SalesforceItem {
            error_code: Option<String>,
            message: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ObjectError {
            category: Option<String>,
            error_type: Option<String>,
            message: Option<String>,
            correlation_id: Option<String>,
            policy_name: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        match serde_json::from_slice::<Shape>(body) {
            Ok(Shape::Salesforce(items)) => items
                .into_iter()
                .next()
                .map(|item| Self {
                    code: item.error_code,
                    message: item.message,
                    ..Self::default()
                })
                .unwrap_or_default(),
            Ok(Shape::Object(o)) => Self {
                code: o.category.or(o.error_type).or(o.error),
                message: o.message.or(o.error_description),
                correlation_id: o.correlation_id,
                policy: o.policy_name,
            },
            Err(_) => Self::default(),
        }
    }

    /// `CODE: message (correlation id)`, shortened, with the token blanked should a vendor
    /// ever echo it.
    fn summary(&self, token: &str) -> String {
        let mut out = match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(only), None) | (None, Some(only)) => only.clone(),
            (None, None) => "no error details".to_owned(),
        };
        if let Some(id) = &self.correlation_id {
            out.push_str(" (correlation id ");
            out.push_str(id);
            out.push(')');
        }
        if !token.is_empty() {
            out = out.replace(token, "[redacted]");
        }
        if out.chars().count() > MAX_MESSAGE_CHARS {
            out = out.chars().take(MAX_MESSAGE_CHARS).collect();
            out.push('…');
        }
        out
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 10.2.3); a date in the past is
/// zero.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT")
        .ok()?
        .and_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The base URL without its trailing slash, if it is an http(s) URL.
fn api_base(base_url: &str, what: &'static str) -> Result<String, ApiError> {
    match reqwest::Url::parse(base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(base_url.trim_end_matches('/').to_owned())
        }
        _ => Err(ApiError::BadUrl { what }),
    }
}

/// A JSON scalar as the text a CRM form would show: strings as they are, numbers in decimal,
/// booleans as `true`/`false`; null (and anything that is not a scalar) is `None`.
fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A local fake vendor server for the clients' tests.

    pub(crate) use crate::net::serve_local as serve;
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers_with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let seconds = headers_with_retry_after("7");
        assert_eq!(retry_after(&seconds, now), Some(Duration::from_secs(7)));
        let date = headers_with_retry_after("Sun, 01 Mar 2026 10:02:00 GMT");
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(120)));
        let past = headers_with_retry_after("Sun, 01 Mar 2026 09:00:00 GMT");
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers_with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn hubspot_and_salesforce_error_bodies_are_summarised() {
        let hubspot = br#"{"status":"error","message":"Property values were not valid",
            "correlationId":"abc-123","category":"VALIDATION_ERROR"}"#;
        assert_eq!(
            VendorError::parse(hubspot).summary("tok"),
            "VALIDATION_ERROR: Property values were not valid (correlation id abc-123)"
        );
        let salesforce = br#"[{"message":"Malformed SOQL","errorCode":"MALFORMED_QUERY"}]"#;
        assert_eq!(
            VendorError::parse(salesforce).summary("tok"),
            "MALFORMED_QUERY: Malformed SOQL"
        );
        assert_eq!(
            VendorError::parse(b"<html>oops</html>").summary("tok"),
            "no error details"
        );
    }

    #[test]
    fn a_vendor_message_echoing_the_token_is_redacted_and_shortened() {
        let token = "secret-token-value";
        let body = format!(
            r#"{{"status":"error","message":"bad token {token} {}","category":"X"}}"#,
            "x".repeat(500)
        );
        let err = error_from_response(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body.as_bytes(),
            token,
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains(token));
        assert!(text.contains("[redacted]"));
        assert!(text.chars().count() < 2 * MAX_MESSAGE_CHARS + 100);
        assert!(!err.is_retryable());
    }

    #[test]
    fn salesforce_request_limit_is_a_rate_limit() {
        let body = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let err = error_from_response(StatusCode::FORBIDDEN, &HeaderMap::new(), body, "t");
        assert!(matches!(
            err,
            ApiError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        assert!(err.is_retryable());
    }

    #[test]
    fn scalars_become_text() {
        use serde_json::json;
        assert_eq!(scalar_text(&json!("a")), Some("a".to_owned()));
        assert_eq!(scalar_text(&json!(42)), Some("42".to_owned()));
        assert_eq!(scalar_text(&json!(1500.25)), Some("1500.25".to_owned()));
        assert_eq!(scalar_text(&json!(true)), Some("true".to_owned()));
        assert_eq!(scalar_text(&json!(null)), None);
    }
}
