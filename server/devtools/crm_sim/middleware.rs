//! Layers in front of the vendor APIs: fault injection (latency, rate limits, failures, late
//! write answers, refusals; every call counted) and the access-token check.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::auth::TokenCheck;
use crate::clock::now_ms;
use crate::faults::Verdict;
use crate::state::{SimState, lock};
use crate::vendor::Vendor;
use crate::{hubspot, salesforce};

async fn inject(sim: SimState, vendor: Vendor, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    lock(&sim.calls).count(vendor, &format!("{} {route}", request.method()));
    let latency_ms = lock(&sim.faults).settings.latency_ms;
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    let roll: f64 = rand::rng().random();
    let verdict = lock(&sim.faults).judge(vendor, now_ms(), roll);
    match (verdict, vendor) {
        (Verdict::Pass, _) if is_write(&route) => {
            let response = next.run(request).await;
            delay_write_answer(&sim).await;
            response
        }
        (Verdict::Pass, _) => next.run(request).await,
        (Verdict::RateLimited { retry_after_s }, Vendor::HubSpot) => {
            hubspot::rate_limited(retry_after_s).into_response()
        }
        (Verdict::RateLimited { retry_after_s }, Vendor::Salesforce) => {
            salesforce::rate_limited(retry_after_s).into_response()
        }
        (Verdict::Fail { status }, Vendor::HubSpot) => {
            hubspot::server_error(status).into_response()
        }
        (Verdict::Fail { status }, Vendor::Salesforce) => {
            salesforce::server_error(status).into_response()
        }
    }
}

/// The routes that write records (owner updates, meeting and task creates, Task upserts).
fn is_write(route: &str) -> bool {
    route.ends_with("/batch/update")
        || route.ends_with("/composite/sobjects")
        || route == "/crm/v3/objects/meetings"
        || route == "/crm/v3/objects/tasks"
        || route.contains("/sobjects/Task/")
}

/// Waits `write_delay_ms` after a write was applied, before it is answered.
async fn delay_write_answer(sim: &SimState) {
    let delay_ms = lock(&sim.faults).settings.write_delay_ms;
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
}

pub async fn hubspot_faults(State(sim): State<SimState>, request: Request, next: Next) -> Response {
    inject(sim, Vendor::HubSpot, request, next).await
}

pub async fn salesforce_faults(
    State(sim): State<SimState>,
    request: Request,
    next: Next,
) -> Response {
    inject(sim, Vendor::Salesforce, request, next).await
}

/// The token of an `Authorization: Bearer …` header (Salesforce also takes `OAuth …`).
fn presented_token(request: &Request, vendor: Vendor) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer")
        || (vendor == Vendor::Salesforce && scheme.eq_ignore_ascii_case("oauth"));
    let token = token.trim();
    (scheme_ok && !token.is_empty()).then(|| token.to_owned())
}

fn check_request(sim: &SimState, request: &Request, vendor: Vendor) -> TokenCheck {
    if lock(&sim.faults).settings.unauthorized {
        return TokenCheck::Unknown;
    }
    match presented_token(request, vendor) {
        Some(token) => lock(&sim.tokens).check(vendor, &token, now_ms()),
        None => TokenCheck::Unknown,
    }
}

/// Refuses HubSpot API calls without a valid access token.
pub async fn require_hubspot(
    State(sim): State<SimState>,
    request: Request,
    next: Next,
) -> Response {
    match check_request(&sim, &request, Vendor::HubSpot) {
        TokenCheck::Valid => next.run(request).await,
        TokenCheck::Expired { ago_ms } => hubspot::unauthorized(Some(ago_ms)).into_response(),
        TokenCheck::Unknown => hubspot::unauthorized(None).into_response(),
    }
}

/// Refuses Salesforce API calls without a valid session.
pub async fn require_salesforce(
    State(sim): State<SimState>,
    request: Request,
    next: Next,
) -> Response {
    match check_request(&sim, &request, Vendor::Salesforce) {
        TokenCheck::Valid => next.run(request).await,
        TokenCheck::Expired { .. } | TokenCheck::Unknown => {
            salesforce::unauthorized().into_response()
        }
    }
}
