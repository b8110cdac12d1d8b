//! Day plans over HTTP: a rep's day (`/api/routes/reps/...`), a team's day
//! (`/api/teams/{team}/days/...`), appointments and visits; the rep's **Today** page and the
//! manager's **Team day** page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{self, Role, Scope, User, csrf};
use crate::crm::writeback::VisitWriteBack;
use crate::dayplan::appointments::{self, Actor, Appointment, AppointmentInput, Source};
use crate::dayplan::rep_day::{self, StartFrom};
use crate::dayplan::settings;
use crate::dayplan::team_day::{self, TeamDayRequest};
use crate::dayplan::visits::{self, Recorded, Visit, VisitInput};
use crate::dayplan::{DayPlanError, Deps, RepDay, TeamDay, store};
use crate::error::AppError;
use crate::reps;
use crate::reps::day::RepDaySettings;
use crate::spatial::LonLat;
use crate::territory::teams;
use crate::web::extract::{JsonBody, Path, Query};
use crate::web::guard::{CsrfHeader, SignedIn, TeamPlanner};
use crate::web::openapi::{ReadErrors, WriteErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/routes/reps/{rep}/days/{day}", get(rep_day_get))
        .route(
            "/api/routes/reps/{rep}/days/{day}/replan",
            post(rep_day_replan),
        )
        .route(
            "/api/reps/{rep}/day-settings",
            get(day_settings_get).put(day_settings_put),
        )
        .route("/api/teams/{team}/days/{day}", post(team_day_plan))
        .route("/api/teams/{team}/visits/{day}", get(team_visits))
        .route("/api/appointments", post(appointment_create))
        .route(
            "/api/appointments/{id}",
            put(appointment_update).delete(appointment_cancel),
        )
        .route("/api/visits", post(visit_log))
        .route("/today", get(today_page))
        .route("/team-day", get(team_day_page))
}

impl From<DayPlanError> for AppError {
    fn from(e: DayPlanError) -> Self {
        match e {
            DayPlanError::NotFound => AppError::NotFound,
            DayPlanError::Invalid(m) => AppError::bad_request("invalid", m),
            DayPlanError::Conflict(m) => AppError::conflict(m),
            DayPlanError::Database(e) => AppError::Database(e),
            DayPlanError::Internal(m) => AppError::Internal(anyhow::anyhow!(m)),
        }
    }
}

fn deps(state: &AppState) -> Deps<'_> {
    Deps {
        db: &state.db,
        osrm: &state.osrm,
        settings: &state.dayplans,
    }
}

#[derive(Deserialize)]
pub struct RepDayPath {
    pub rep: Uuid,
    pub day: String,
}

fn parse_day(raw: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| AppError::bad_request("invalid_day", "day must be a date like 2026-12-08"))
}

/// The rep in the path when the caller may see their day (a rep: only their own; a manager:
/// their team's; an admin: anyone's). Others get 404, as for a rep that does not exist.
async fn rep_in_scope(state: &AppState, user: &User, rep: Uuid) -> Result<Scope, AppError> {
    let scope = auth::scope_for(&state.db, user).await?;
    if scope.allows_rep(Some(rep)) {
        Ok(scope)
    } else {
        Err(AppError::NotFound)
    }
}

/// A rep's planned day: the stored plan while its inputs are unchanged, else planned now.
#[utoipa::path(
    get,
    path = "/api/routes/reps/{rep}/days/{day}",
    tag = "routes",
    summary = "A rep's planned day",
    params(("rep" = Uuid, Path), ("day" = String, Path, description = "YYYY-MM-DD, the rep's local day")),
    responses((status = 200, description = "The day's plan", body = RepDay), ReadErrors),
    security(("session" = []))
)]
pub async fn rep_day_get(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Path(RepDayPath { rep, day }): Path<RepDayPath>,
) -> Result<Json<serde_json::Value>, AppError> {
    let day = parse_day(&day)?;
    rep_in_scope(&state, &user, rep).await?;
    if let Some(stored) = store::fresh(&state.db, rep, day).await? {
        return Ok(Json(stored));
    }
    let plan = rep_day::plan(deps(&state), rep, day, StartFrom { position: None }).await?;
    store::save(&state.db, &plan).await?;
    Ok(Json(
        serde_json::to_value(&plan).map_err(anyhow::Error::from)?,
    ))
}

/// Where a re-plan starts.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplanRequest {
    /// `[lon, lat]` of the rep now (from the phone), when shared.
    #[serde(default)]
    #[schema(value_type = Option<[f64]>)]
    pub position: Option<LonLat>,
}

/// Plans the rest of the day again, from the rep's position when given (they fell behind, or
/// something changed on the road).
#[utoipa::path(
    post,
    path = "/api/routes/reps/{rep}/days/{day}/replan",
    tag = "routes",
    summary = "Plan the rest of a rep's day again",
    params(("rep" = Uuid, Path), ("day" = String, Path)),
    request_body = ReplanRequest,
    responses((status = 200, description = "The new plan", body = RepDay), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn rep_day_replan(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    Path(RepDayPath { rep, day }): Path<RepDayPath>,
    JsonBody(request): JsonBody<ReplanRequest>,
) -> Result<Json<RepDay>, AppError> {
    let day = parse_day(&day)?;
    rep_in_scope(&state, &user, rep).await?;
    let plan = rep_day::plan(
        deps(&state),
        rep,
        day,
        StartFrom {
            position: request.position,
        },
    )
    .await?;
    store::save(&state.db, &plan).await?;
    Ok(Json(plan))
}

#[derive(Deserialize)]
pub struct RepPath {
    pub rep: Uuid,
}

/// A rep's shift, break and where their day starts and ends.
#[utoipa::path(
    get,
    path = "/api/reps/{rep}/day-settings",
    tag = "routes",
    summary = "A rep's day settings",
    params(("rep" = Uuid, Path)),
    responses((status = 200, description = "The settings", body = RepDaySettings), ReadErrors),
    security(("session" = []))
)]
pub async fn day_settings_get(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Path(RepPath { rep }): Path<RepPath>,
) -> Result<Json<RepDaySettings>, AppError> {
    rep_in_scope(&state, &user, rep).await?;
    Ok(Json(settings::get(&state.db, rep).await?))
}

/// Replaces a rep's day settings (a rep their own, a manager their team's, an admin anyone's);
/// the rep's days from today on are planned again on their next read.
#[utoipa::path(
    put,
    path = "/api/reps/{rep}/day-settings",
    tag = "routes",
    summary = "Change a rep's day settings",
    params(("rep" = Uuid, Path)),
    request_body = RepDaySettings,
    responses((status = 200, description = "The settings as stored", body = RepDaySettings), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn day_settings_put(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    Path(RepPath { rep }): Path<RepPath>,
    JsonBody(input): JsonBody<RepDaySettings>,
) -> Result<Json<RepDaySettings>, AppError> {
    rep_in_scope(&state, &user, rep).await?;
    settings::update(&state.db, user.id, rep, &input).await?;
    Ok(Json(settings::get(&state.db, rep).await?))
}

#[derive(Deserialize)]
pub struct TeamDayPath {
    pub day: String,
}

/// Plans every working rep of the team for the day, balanced (the longest day as short as it
/// can be, then the least driving).
#[utoipa::path(
    post,
    path = "/api/teams/{team}/days/{day}",
    tag = "routes",
    summary = "Plan a team's day",
    params(("team" = Uuid, Path), ("day" = String, Path)),
    request_body = TeamDayRequest,
    responses((status = 200, description = "Every rep's day", body = TeamDay), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn team_day_plan(
    planner: TeamPlanner,
    State(state): State<AppState>,
    Path(TeamDayPath { day }): Path<TeamDayPath>,
    JsonBody(request): JsonBody<TeamDayRequest>,
) -> Result<Json<TeamDay>, AppError> {
    let day = parse_day(&day)?;
    let reps = team_reps(&state, &planner).await?;
    Ok(Json(
        team_day::plan(deps(&state), planner.team_id, &reps, day, &request).await?,
    ))
}

fn actor<'a>(user: &User, scope: &'a Scope, source: Source) -> Actor<'a> {
    Actor {
        user_id: user.id,
        rep_id: user.rep_id,
        scope,
        source,
    }
}

/// Visits logged by the team's reps on a day.
#[derive(Serialize, ToSchema)]
pub struct TeamVisits {
    pub visits: Vec<Visit>,
    /// Logged more than the set distance from the account: not counted as visits.
    pub flagged: usize,
}

/// The visits the team's reps logged on a day, those logged far from the account flagged.
#[utoipa::path(
    get,
    path = "/api/teams/{team}/visits/{day}",
    tag = "routes",
    summary = "A team's visits on a day",
    params(("team" = Uuid, Path), ("day" = String, Path)),
    responses((status = 200, description = "Visits, newest first", body = TeamVisits), ReadErrors),
    security(("session" = []))
)]
pub async fn team_visits(
    planner: TeamPlanner,
    State(state): State<AppState>,
    Path(TeamDayPath { day }): Path<TeamDayPath>,
) -> Result<Json<TeamVisits>, AppError> {
    let day = parse_day(&day)?;
    let reps = team_reps(&state, &planner).await?;
    let visits = visits::of_reps(&state.db, &reps, day).await?;
    let flagged = visits.iter().filter(|v| v.far_from_account).count();
    Ok(Json(TeamVisits { visits, flagged }))
}

/// The reps of the planner's team (404 when the team is not theirs).
async fn team_reps(state: &AppState, planner: &TeamPlanner) -> Result<Vec<Uuid>, AppError> {
    let team = teams::for_user(&state.db, &planner.user)
        .await?
        .into_iter()
        .find(|t| t.id == planner.team_id)
        .ok_or(AppError::NotFound)?;
    Ok(team.reps.iter().map(|r| r.id).collect())
}

/// Books an appointment (fixed time, or a window the visit must fit in); the rep's day is
/// planned again on its next read.
#[utoipa::path(
    post,
    path = "/api/appointments",
    tag = "routes",
    summary = "Book an appointment",
    request_body = AppointmentInput,
    responses((status = 201, description = "Booked", body = Appointment), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn appointment_create(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<AppointmentInput>,
) -> Result<(StatusCode, Json<Appointment>), AppError> {
    let scope = auth::scope_for(&state.db, &user).await?;
    let actor = actor(&user, &scope, Source::Api);
    let booked = appointments::create(&state.db, actor, &input, None).await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

#[derive(Deserialize)]
pub struct IdPath {
    pub id: Uuid,
}

/// Moves or changes an appointment.
#[utoipa::path(
    put,
    path = "/api/appointments/{id}",
    tag = "routes",
    summary = "Change an appointment",
    params(("id" = Uuid, Path)),
    request_body = AppointmentInput,
    responses((status = 200, description = "Changed", body = Appointment), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn appointment_update(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    JsonBody(input): JsonBody<AppointmentInput>,
) -> Result<Json<Appointment>, AppError> {
    let scope = auth::scope_for(&state.db, &user).await?;
    let actor = actor(&user, &scope, Source::Api);
    Ok(Json(
        appointments::update(&state.db, actor, id, &input).await?,
    ))
}

/// Cancels an appointment.
#[utoipa::path(
    delete,
    path = "/api/appointments/{id}",
    tag = "routes",
    summary = "Cancel an appointment",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Cancelled", body = Appointment), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn appointment_cancel(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Json<Appointment>, AppError> {
    let scope = auth::scope_for(&state.db, &user).await?;
    let actor = actor(&user, &scope, Source::Api);
    Ok(Json(appointments::cancel(&state.db, actor, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct VisitLogged {
    pub visit: Visit,
    pub recorded: Recorded,
}

/// Logs a visit by the signed-in rep (idempotent on `event_id`).
#[utoipa::path(
    post,
    path = "/api/visits",
    tag = "routes",
    summary = "Log a visit",
    request_body = VisitInput,
    responses(
        (status = 201, description = "Recorded", body = VisitLogged),
        (status = 200, description = "Already recorded (same event id)", body = VisitLogged),
        WriteErrors
    ),
    security(("session" = [], "csrf" = []))
)]
pub async fn visit_log(
    SignedIn(user): SignedIn,
    _csrf: CsrfHeader,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<VisitInput>,
) -> Result<(StatusCode, Json<VisitLogged>), AppError> {
    let (Some(Role::Rep), Some(rep)) = (user.role, user.rep_id) else {
        return Err(AppError::forbidden(
            "not_allowed",
            "only reps log their own visits",
        ));
    };
    let write_back = VisitWriteBack::new(state.config.public_url.as_str());
    let (visit, recorded) = visits::log(
        &state.db,
        rep,
        &input,
        state.dayplans.visit_far_m,
        &write_back,
    )
    .await?;
    let status = match recorded {
        Recorded::Created => StatusCode::CREATED,
        Recorded::Duplicate => StatusCode::OK,
    };
    Ok((status, Json(VisitLogged { visit, recorded })))
}

#[derive(Template, WebTemplate)]
#[template(path = "today.html")]
struct TodayPage {
    title: String,
    style_url: Option<String>,
    csrf: String,
    rep_id: String,
    rep_name: String,
    day: String,
    is_rep: bool,
    retention_days: u32,
}

#[derive(Deserialize)]
struct TodayQuery {
    rep: Option<Uuid>,
    day: Option<String>,
}

/// The rep's Today page (a manager or admin may open a rep's with `?rep=`; without one they
/// are sent to the team's day).
async fn today_page(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TodayQuery>,
) -> Result<Response, AppError> {
    let Some(rep) = q.rep.or(user.rep_id) else {
        return Ok(Redirect::to("/team-day").into_response());
    };
    rep_in_scope(&state, &user, rep).await?;
    let day = match q.day.as_deref() {
        Some(d) => parse_day(d)?,
        None => chrono::Utc::now().date_naive(),
    };
    let rep_name = reps::name(&state.db, rep).await?;
    Ok(TodayPage {
        title: "Today".into(),
        style_url: state.config.map_style_url.clone(),
        csrf: csrf::token(&session).await?,
        rep_id: rep.to_string(),
        rep_name: rep_name.ok_or(AppError::NotFound)?,
        day: day.to_string(),
        is_rep: user.rep_id == Some(rep),
        retention_days: state.config.live.retention_days,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "team_day.html")]
struct TeamDayPage {
    title: String,
    style_url: Option<String>,
    csrf: String,
    teams: Vec<(String, String)>,
    day: String,
}

/// The manager's Team day page.
async fn team_day_page(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    session: Session,
) -> Result<TeamDayPage, AppError> {
    if !matches!(user.role, Some(Role::Admin | Role::Manager)) {
        return Err(AppError::forbidden(
            "not_allowed",
            "only managers and admins plan team days",
        ));
    }
    let teams = teams::for_user(&state.db, &user)
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    Ok(TeamDayPage {
        title: "Team day".into(),
        style_url: state.config.map_style_url.clone(),
        csrf: csrf::token(&session).await?,
        teams,
        day: chrono::Utc::now().date_naive().to_string(),
    })
}
