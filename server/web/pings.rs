//! `POST /api/pings`: batches of location pings from a rep's device (`docs/live.md`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{AppError, error_response};
use crate::live::{self, LiveError, PingResult, PingStatus, RawPing};
use crate::web::extract::JsonBody;
use crate::web::guard::RepDevice;
use crate::web::openapi::WriteErrors;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/pings", post(pings_post))
}

/// A batch of pings, oldest first or in any order (at most 500).
#[derive(Deserialize, ToSchema)]
pub struct PingBatch {
    pub pings: Vec<RawPing>,
}

/// What became of each ping, in the order sent, and the counts.
#[derive(Serialize, ToSchema)]
pub struct PingsAnswer {
    pub accepted: usize,
    pub duplicate: usize,
    pub dropped: usize,
    pub results: Vec<PingResult>,
}

/// `POST /api/pings`: stores a rep's pings; each is answered accepted, duplicate or dropped
/// with its reason, after the commit.
#[utoipa::path(
    post,
    path = "/api/pings",
    tag = "live",
    summary = "Send a batch of location pings from the rep's device",
    request_body = PingBatch,
    responses(
        (status = 200, description = "each ping's fate (stored ones are committed)", body = PingsAnswer),
        (status = 429, description = "the rep's rate limit is spent; `Retry-After` says when to retry; nothing was stored"),
        WriteErrors
    ),
    security(("device_token" = []), ("session" = [], "csrf" = []))
)]
pub async fn pings_post(
    RepDevice(rep): RepDevice,
    State(state): State<AppState>,
    JsonBody(batch): JsonBody<PingBatch>,
) -> Result<Response, AppError> {
    let results = match live::ingest(
        &state.db,
        &state.live,
        rep,
        &batch.pings,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(results) => results,
        Err(LiveError::RateLimited(wait)) => {
            let mut resp = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many pings; retry after the Retry-After seconds",
            );
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Ok(resp);
        }
        Err(e @ (LiveError::TooManyPings | LiveError::TooManyCurrent(_))) => {
            return Err(AppError::bad_request("batch_too_large", e.to_string()));
        }
        Err(LiveError::Database(e)) => return Err(e.into()),
    };
    let count = |s| results.iter().filter(|r| r.status == s).count();
    Ok(Json(PingsAnswer {
        accepted: count(PingStatus::Accepted),
        duplicate: count(PingStatus::Duplicate),
        dropped: count(PingStatus::Dropped),
        results,
    })
    .into_response())
}
