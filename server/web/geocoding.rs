//! Geocoding pages and API: the admin's geocoding page (results by provider and precision,
//! cache, circuits, failures with retry) and moving a pin by hand.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::{self, Role, csrf};
use crate::error::AppError;
use crate::geocode::pins;
use crate::geocode::stats::{self, CacheStats, Failure, ResultCount};
use crate::spatial::LonLat;

use super::extract::{Form, JsonBody, Path};
use super::guard::{self, AdminUser, CsrfHeader, SignedIn};
use super::openapi::WriteErrors;

/// Pins moved by hand and the geocoding admin page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/accounts/{id}/location", post(move_pin))
        .route("/admin/geocoding", get(page))
        .route("/admin/geocoding/{id}/retry", post(retry))
}

#[derive(Template, WebTemplate)]
#[template(path = "geocoding.html")]
pub struct GeocodingPage {
    pub title: String,
    pub csrf: String,
    pub results: Vec<ResultCount>,
    pub cache: CacheStats,
    pub circuits: Vec<(String, String)>,
    pub failures: Vec<Failure>,
}

/// `GET /admin/geocoding`
pub async fn page(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
) -> Result<GeocodingPage, AppError> {
    Ok(GeocodingPage {
        title: "Geocoding".into(),
        csrf: csrf::token(&session).await?,
        results: stats::by_provider(&state.db).await?,
        cache: stats::cache(&state.db).await?,
        circuits: state.geocoding.circuits(),
        failures: stats::failures(&state.db, 200).await?,
    })
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /admin/geocoding/{id}/retry`
pub async fn retry(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    if !stats::retry(&state.db, id, admin.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/admin/geocoding").into_response())
}

/// Where the pin goes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    /// Longitude, degrees (-180 to 180).
    lon: f64,
    /// Latitude, degrees (-90 to 90).
    lat: f64,
}

/// The account whose pin moved.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PinMoved {
    pub id: uuid::Uuid,
    /// Always `manual`.
    #[schema(value_type = String)]
    pub precision: &'static str,
}

/// `POST /api/accounts/{id}/location` `{"lon": .., "lat": ..}`: a manager (their team's
/// accounts) or an admin moves the pin; precision becomes `manual`. Cookie-authenticated, so it
/// needs the `x-csrf-token` header.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/location",
    tag = "accounts",
    summary = "Move an account's pin by hand (managers and admins)",
    params(("id" = Uuid, Path, description = "the account's id")),
    request_body = PinBody,
    responses((status = 200, description = "the pin moved; its precision is now `manual`", body = PinMoved), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn move_pin(
    SignedIn(user): SignedIn,
    _: CsrfHeader,
    State(state): State<AppState>,
    Path(id): Path<uuid::Uuid>,
    JsonBody(body): JsonBody<PinBody>,
) -> Result<Response, AppError> {
    if !matches!(user.role, Some(Role::Admin | Role::Manager)) {
        return Err(AppError::forbidden(
            "not_allowed",
            "only managers and admins move pins",
        ));
    }
    let at = LonLat::new(body.lon, body.lat)?;
    let scope = auth::scope_for(&state.db, &user).await?;
    if !pins::set_manual(&state.db, &scope, user.id, id, at).await? {
        return Err(AppError::NotFound);
    }
    Ok(Json(PinMoved {
        id,
        precision: "manual",
    })
    .into_response())
}
