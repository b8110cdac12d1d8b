//! Proximity alerts over HTTP: a rep's alerts and what they do with them, a team's alerts and
//! rules for its manager, and who may see precise positions (admins grant it)
//! (`docs/live.md`, "Alerts"). Thin: the work is in `live::alerts` and `live::rules`.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::AppError;
use crate::live::alerts::{self, Action, Alert, AlertError};
use crate::live::rules::{self, Rules};
use crate::web::extract::{JsonBody, Path};
use crate::web::guard::{AdminUser, CsrfHeader, RepDevice, SignedIn, TeamPlanner, own_rep};
use crate::web::openapi::{ReadErrors, WriteErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me/alerts", get(my_alerts))
        .route("/api/alerts/{id}/actions", post(alert_action))
        .route("/api/teams/{team}/alerts", get(team_alerts))
        .route(
            "/api/teams/{team}/proximity-rules",
            get(rules_get).put(rules_put),
        )
        .route("/api/admin/users/{id}/live-precise", put(precise_put))
}

impl From<AlertError> for AppError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::NotFound => AppError::NotFound,
            AlertError::Invalid(m) => AppError::bad_request("invalid", m),
            AlertError::Conflict(m) => AppError::conflict(m),
            AlertError::DayPlan(e) => e.into(),
            AlertError::Database(e) => AppError::Database(e),
        }
    }
}

/// Alerts, newest first.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// `GET /api/me/alerts`: the signed-in rep's alerts of the last 24 hours.
#[utoipa::path(
    get,
    path = "/api/me/alerts",
    tag = "live",
    summary = "My proximity alerts of the last 24 hours",
    responses((status = 200, description = "newest first", body = AlertList), ReadErrors),
    security(("session" = []))
)]
pub async fn my_alerts(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
) -> Result<Json<AlertList>, AppError> {
    let rep = own_rep(&user, "only reps have alerts")?;
    let alerts = alerts::recent(&state.db, &[rep], 24).await?;
    Ok(Json(AlertList { alerts }))
}

/// `POST /api/alerts/{id}/actions`: acknowledge, dismiss, snooze, add to today's route or
/// create a task in the account's CRM.
#[utoipa::path(
    post,
    path = "/api/alerts/{id}/actions",
    tag = "live",
    summary = "Act on one of my proximity alerts",
    params(("id" = Uuid, Path, description = "the alert")),
    request_body = Action,
    responses(
        (status = 200, description = "the alert as it stands now", body = Alert),
        WriteErrors
    ),
    security(("device_token" = []), ("session" = [], "csrf" = []))
)]
pub async fn alert_action(
    RepDevice { rep, user }: RepDevice,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    JsonBody(action): JsonBody<Action>,
) -> Result<Json<Alert>, AppError> {
    Ok(Json(alerts::act(&state.db, user, rep, id, action).await?))
}

/// `GET /api/teams/{team}/alerts`: the team's alerts of the last 24 hours.
#[utoipa::path(
    get,
    path = "/api/teams/{team}/alerts",
    tag = "live",
    summary = "A team's proximity alerts of the last 24 hours",
    params(("team" = Uuid, Path, description = "the team")),
    responses((status = 200, description = "newest first", body = AlertList), ReadErrors),
    security(("session" = []))
)]
pub async fn team_alerts(
    planner: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Json<AlertList>, AppError> {
    let reps = crate::live::map::team_reps(&state.db, planner.team_id).await?;
    let alerts = alerts::recent(&state.db, &reps, 24).await?;
    Ok(Json(AlertList { alerts }))
}

/// `GET /api/teams/{team}/proximity-rules`: the team's rules (the defaults until set).
#[utoipa::path(
    get,
    path = "/api/teams/{team}/proximity-rules",
    tag = "live",
    summary = "A team's proximity alert rules",
    params(("team" = Uuid, Path, description = "the team")),
    responses((status = 200, description = "the rules", body = Rules), ReadErrors),
    security(("session" = []))
)]
pub async fn rules_get(
    planner: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Json<Rules>, AppError> {
    Ok(Json(rules::get(&state.db, planner.team_id).await?))
}

/// `PUT /api/teams/{team}/proximity-rules`: sets the team's rules (audited).
#[utoipa::path(
    put,
    path = "/api/teams/{team}/proximity-rules",
    tag = "live",
    summary = "Set a team's proximity alert rules",
    params(("team" = Uuid, Path, description = "the team")),
    request_body = Rules,
    responses((status = 200, description = "the rules as stored", body = Rules), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn rules_put(
    planner: TeamPlanner,
    State(state): State<AppState>,
    JsonBody(wanted): JsonBody<Rules>,
) -> Result<Json<Rules>, AppError> {
    rules::set(&state.db, planner.user.id, planner.team_id, &wanted)
        .await?
        .map(Json)
        .map_err(|e| AppError::bad_request("invalid_rules", e.to_string()))
}

/// Whether a user may see precise positions on live maps.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LivePrecise {
    pub allowed: bool,
}

/// `PUT /api/admin/users/{id}/live-precise`: lets a manager see precise positions (audited).
#[utoipa::path(
    put,
    path = "/api/admin/users/{id}/live-precise",
    tag = "live",
    summary = "Allow or forbid a user precise positions on live maps",
    params(("id" = Uuid, Path, description = "the user")),
    request_body = LivePrecise,
    responses((status = 200, description = "as stored", body = LivePrecise), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn precise_put(
    AdminUser(admin): AdminUser,
    _: CsrfHeader,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    JsonBody(wanted): JsonBody<LivePrecise>,
) -> Result<Json<LivePrecise>, AppError> {
    if crate::auth::set_live_precise(&state.db, admin.id, id, wanted.allowed).await? {
        Ok(Json(wanted))
    } else {
        Err(AppError::NotFound)
    }
}
