//! Webhook endpoints, one per scheme. Thin: they hand the raw request to `crm::ingest` and
//! translate its verdict into the answer each vendor expects.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use crate::app::AppState;
use crate::crm::ingest::{Delivery, IngestError};
use crate::crm::wire::salesforce;
use crate::error::error_response;

use super::extract::Path;

/// The CRMs' webhooks.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/hubspot", post(hubspot))
        .route("/webhooks/salesforce", post(salesforce_without_token))
        .route("/webhooks/salesforce/{token}", post(salesforce))
        .route("/webhooks/standard/{connection}", post(standard))
}

fn delivery<'a>(
    method: &'a Method,
    uri: &'a OriginalUri,
    header: &'a (dyn Fn(&str) -> Option<&'a str> + Sync),
    body: &'a [u8],
) -> Delivery<'a> {
    Delivery {
        method: method.as_str(),
        path_and_query: uri.0.path_and_query().map_or("/", |p| p.as_str()),
        header,
        body,
    }
}

/// What a delivery did, as the CRM is told.
#[derive(Serialize)]
struct Answer {
    /// Events stored for the first time.
    accepted: usize,
    /// Events already in the inbox (redeliveries).
    duplicates: usize,
}

fn json_answer(result: Result<crate::crm::inbox::Accepted, IngestError>) -> Response {
    match result {
        Ok(a) => (
            StatusCode::OK,
            Json(Answer {
                accepted: a.new,
                duplicates: a.duplicates,
            }),
        )
            .into_response(),
        Err(IngestError::Unauthorized(m)) => {
            error_response(StatusCode::UNAUTHORIZED, "bad_signature", &m)
        }
        Err(IngestError::BadRequest(m)) => {
            error_response(StatusCode::BAD_REQUEST, "bad_payload", &m)
        }
        Err(e @ IngestError::NoConnection) => {
            error_response(StatusCode::NOT_FOUND, "no_connection", &e.to_string())
        }
        Err(IngestError::Unavailable(m)) => retry_later(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &m,
        )),
    }
}

fn retry_later(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `POST /webhooks/hubspot`
pub async fn hubspot(
    State(state): State<AppState>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let d = delivery(&method, &uri, &header, &body);
    json_answer(state.intake.hubspot(&d).await)
}

/// `POST /webhooks/standard/{connection}`
pub async fn standard(
    State(state): State<AppState>,
    Path(name): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let d = delivery(&method, &uri, &header, &body);
    json_answer(state.intake.standard(&name, &d).await)
}

/// `POST /webhooks/salesforce/{token}`: answers in SOAP, an `Ack` or a fault.
pub async fn salesforce(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let d = delivery(&method, &uri, &header, &body);
    salesforce_answer(state.intake.salesforce(Some(&token), &d).await)
}

/// `POST /webhooks/salesforce`, the path before tokens: a SOAP fault (401) without reading
/// the body, so old Outbound Message endpoints fail loudly in Salesforce's delivery log.
pub async fn salesforce_without_token(
    State(state): State<AppState>,
    method: Method,
    uri: OriginalUri,
) -> Response {
    let header = |_: &str| None;
    let d = delivery(&method, &uri, &header, &[]);
    salesforce_answer(state.intake.salesforce(None, &d).await)
}

fn salesforce_answer(result: Result<crate::crm::inbox::Accepted, IngestError>) -> Response {
    let (status, xml) = match result {
        Ok(_) => (StatusCode::OK, salesforce::ack_response(true)),
        Err(IngestError::Unauthorized(m)) => (
            StatusCode::UNAUTHORIZED,
            salesforce::soap_fault("soapenv:Client", &m),
        ),
        Err(IngestError::BadRequest(m)) => (
            StatusCode::BAD_REQUEST,
            salesforce::soap_fault("soapenv:Client", &m),
        ),
        Err(e @ IngestError::NoConnection) => (
            StatusCode::UNAUTHORIZED,
            salesforce::soap_fault("soapenv:Client", &e.to_string()),
        ),
        Err(IngestError::Unavailable(m)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            salesforce::soap_fault("soapenv:Server", &m),
        ),
    };
    let r = (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml,
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_later(r)
    } else {
        r
    }
}
