//! `POST /api/pings`: batches of location pings from a rep's device (`docs/live.md`); the
//! rep's own track, exported and erased (`/api/me/track`, `docs/privacy.md`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{AppError, error_response};
use crate::live::{self, LiveError, PingResult, PingStatus, RawPing};
use crate::web::extract::{JsonBody, Path, Query};
use crate::web::guard::{AdminUser, CsrfHeader, RepDevice, SignedIn, own_rep};
use crate::web::openapi::{ReadErrors, WriteErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/pings", post(pings_post))
        .route("/api/me/track", get(track_get).delete(track_delete))
        .route("/api/admin/reps/{rep}/track", delete(admin_track_delete))
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
    RepDevice { rep, .. }: RepDevice,
    State(state): State<AppState>,
    JsonBody(batch): JsonBody<PingBatch>,
) -> Result<Response, AppError> {
    let one = [live::Batch {
        rep,
        pings: &batch.pings,
    }];
    let answer = live::accept(&state.db, &state.live, &one, chrono::Utc::now())
        .await?
        .into_iter()
        .next()
        .unwrap_or(Err(LiveError::Unstored));
    let results = match answer {
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
        Err(LiveError::Unstored) => {
            return Err(AppError::Unavailable("the ping store"));
        }
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

/// `from` and `to` of a track export (RFC 3339); default: the last 24 hours.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct TrackRange {
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/me/track`: the signed-in rep's own pings as GeoJSON (at most 31 days at once).
#[utoipa::path(
    get,
    path = "/api/me/track",
    tag = "live",
    summary = "Download my location track as GeoJSON",
    params(TrackRange),
    responses(
        (status = 200, description = "a GeoJSON FeatureCollection of my pings, oldest first", body = serde_json::Value),
        ReadErrors
    ),
    security(("session" = []))
)]
pub async fn track_get(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Query(range): Query<TrackRange>,
) -> Result<Response, AppError> {
    let rep = own_rep(&user, "only reps have a location track")?;
    let to = range.to.unwrap_or_else(chrono::Utc::now);
    let from = range.from.unwrap_or(to - chrono::Duration::days(1));
    if from >= to || to - from > chrono::Duration::days(live::track::MAX_EXPORT_DAYS) {
        return Err(AppError::bad_request(
            "invalid_range",
            "from must be before to, at most 31 days apart",
        ));
    }
    let track = live::track::export(&state.db, user.id, rep, from, to).await?;
    let mut resp = Json(track).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// How many pings were erased.
#[derive(Serialize, ToSchema)]
pub struct TrackErased {
    pub erased: u64,
}

/// `DELETE /api/me/track`: erases every ping of the signed-in rep (audited).
#[utoipa::path(
    delete,
    path = "/api/me/track",
    tag = "live",
    summary = "Erase my whole location track",
    responses((status = 200, description = "how many pings were erased", body = TrackErased), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn track_delete(
    SignedIn(user): SignedIn,
    _: CsrfHeader,
    State(state): State<AppState>,
) -> Result<Json<TrackErased>, AppError> {
    let rep = own_rep(&user, "only reps have a location track")?;
    let erased = live::track::erase(&state.db, user.id, rep).await?;
    Ok(Json(TrackErased { erased }))
}

/// `DELETE /api/admin/reps/{rep}/track`: an admin erases a rep's whole track and alerts
/// (audited, naming the admin).
#[utoipa::path(
    delete,
    path = "/api/admin/reps/{rep}/track",
    tag = "live",
    summary = "Erase a rep's whole location track (admins)",
    params(("rep" = uuid::Uuid, Path, description = "the rep")),
    responses((status = 200, description = "how many pings were erased", body = TrackErased), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn admin_track_delete(
    AdminUser(admin): AdminUser,
    _: CsrfHeader,
    State(state): State<AppState>,
    Path(rep): Path<uuid::Uuid>,
) -> Result<Json<TrackErased>, AppError> {
    let erased = live::track::erase(&state.db, admin.id, rep).await?;
    Ok(Json(TrackErased { erased }))
}
