//! The territory page and its JSON API (docs/territories-api.md): teams, plans, hand moves,
//! rebalancing, diffs, write-back preview, publishing, rules and locks. Handlers check who may
//! plan which team and hand the rest to `crate::territory`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Role, csrf};
use crate::crm::writeback;
use crate::error::{AppError, ResultExt};
use crate::jobs::JobError;
use crate::territory::plans::{self, NewPlan};
use crate::territory::rules::{self, RuleInput};
use crate::territory::tiles::{self, TileError, TileId};
use crate::territory::{TerritoryError, teams, views};

use super::extract::{JsonBody, Path, Query};
use super::guard::{PlanPlanner, Planner, SignedIn, TeamPlanner};
use super::openapi::{Created, ReadErrors, WriteErrors};

/// The territory page and its API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/territories", get(page))
        .route("/api/teams", get(list_teams))
        .route("/api/teams/{team}/plans", get(list_plans).post(create_plan))
        .route("/api/teams/{team}/rules", get(list_rules).post(create_rule))
        .route("/api/teams/{team}/rules/order", post(reorder_rules))
        .route(
            "/api/teams/{team}/workload",
            get(get_workload).put(set_workload),
        )
        .route("/api/rules/{id}", put(update_rule).delete(delete_rule))
        .route("/api/plans/compare", get(compare))
        .route("/api/plans/{id}", get(get_plan).delete(delete_plan))
        .route("/api/plans/{id}/accounts", get(plan_accounts))
        .route("/api/plans/{id}/shapes", get(plan_shapes))
        .route("/api/plans/{id}/tiles", get(plan_tile_json))
        .route("/api/plans/{id}/tiles/{z}/{x}/{y}", get(plan_tile))
        .route("/api/plans/{id}/moves", post(move_accounts))
        .route("/api/plans/{id}/rebalance", post(rebalance))
        .route("/api/plans/{id}/diff", get(diff))
        .route("/api/plans/{id}/writeback-preview", get(writeback_preview))
        .route("/api/plans/{id}/publish", post(publish))
        .route("/api/plans/{id}/rollback", post(rollback))
        .route(
            "/api/accounts/{id}/lock",
            post(lock_account).delete(unlock_account),
        )
        .route("/api/accounts/{id}/assignment", get(assignment))
}

impl From<TerritoryError> for AppError {
    fn from(e: TerritoryError) -> Self {
        match e {
            TerritoryError::Invalid(m) => AppError::bad_request("invalid", m),
            TerritoryError::NotFound => AppError::NotFound,
            TerritoryError::Conflict(m) => AppError::conflict(m),
            TerritoryError::Database(e) => AppError::Database(e),
            TerritoryError::Balance(e) => AppError::Internal(anyhow::Error::new(e)),
            TerritoryError::Internal(e) => AppError::Internal(e),
        }
    }
}

impl From<JobError> for AppError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::TeamBusy | JobError::ConnectionBusy => AppError::conflict(e.to_string()),
            JobError::Territory(e) => e.into(),
            JobError::Database(e) => AppError::Database(e),
        }
    }
}

impl From<TileError> for AppError {
    fn from(e: TileError) -> Self {
        AppError::bad_request("invalid_tile", e.to_string())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "territories.html")]
pub struct TerritoriesPage {
    pub title: String,
    pub user_name: String,
    pub role: &'static str,
    pub csrf: String,
    pub teams_url: String,
    pub outbox_url: String,
}

/// `GET /territories`
pub async fn page(Planner(user): Planner, session: Session) -> Result<TerritoriesPage, AppError> {
    Ok(TerritoriesPage {
        title: "Territories".into(),
        user_name: if user.name.is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        },
        role: user.role.map_or("", Role::as_str),
        csrf: csrf::token(&session).await?,
        teams_url: "/api/teams".into(),
        outbox_url: "/territories/outbox".into(),
    })
}

/// `GET /api/teams`
#[utoipa::path(
    get,
    path = "/api/teams",
    tag = "territories",
    summary = "Teams the caller may plan",
    responses((status = 200, description = "teams with their reps and published plan", body = Vec<teams::Team>), ReadErrors),
    security(("session" = []))
)]
pub async fn list_teams(
    Planner(user): Planner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(teams::for_user(&state.db, &user).await?).into_response())
}

/// `GET /api/teams/{team}/plans`
#[utoipa::path(
    get,
    path = "/api/teams/{team}/plans",
    tag = "territories",
    summary = "A team's plans, published first, then newest first",
    params(("team" = Uuid, Path, description = "the team's id")),
    responses((status = 200, description = "the plans", body = Vec<views::PlanListItem>), ReadErrors),
    security(("session" = []))
)]
pub async fn list_plans(
    TeamPlanner { team_id, .. }: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(views::plan_list(&state.db, team_id).await?).into_response())
}

/// `POST /api/teams/{team}/plans`: 202 with the new draft's id; it is computed in the background.
#[utoipa::path(
    post,
    path = "/api/teams/{team}/plans",
    tag = "territories",
    summary = "Start a new draft plan; it is computed as a job (409 while the team has one queued or running)",
    params(("team" = Uuid, Path, description = "the team's id")),
    request_body = NewPlan,
    responses((status = 202, description = "the draft exists and its computation is queued; poll `GET /api/plans/{id}` for its job", body = Created), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn create_plan(
    TeamPlanner { user, team_id }: TeamPlanner,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewPlan>,
) -> Result<Response, AppError> {
    let (id, _) = state
        .jobs
        .start_plan(team_id, Some(user.id), &input)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Created { id })).into_response())
}

/// `GET /api/plans/{id}`
#[utoipa::path(
    get,
    path = "/api/plans/{id}",
    tag = "territories",
    summary = "A plan with its territories, figures and job",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "the plan", body = views::PlanView), ReadErrors),
    security(("session" = []))
)]
pub async fn get_plan(
    PlanPlanner { plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(views::plan(&state.db, plan_id).await?).into_response())
}

/// `DELETE /api/plans/{id}`
#[utoipa::path(
    delete,
    path = "/api/plans/{id}",
    tag = "territories",
    summary = "Delete a draft",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 204, description = "deleted"), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn delete_plan(
    PlanPlanner { user, plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    plans::delete(&state.db, plan_id, Some(user.id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/plans/{id}/accounts`
#[utoipa::path(
    get,
    path = "/api/plans/{id}/accounts",
    tag = "territories",
    summary = "A plan's accounts as GeoJSON",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "GeoJSON FeatureCollection", body = views::PlanAccounts), ReadErrors),
    security(("session" = []))
)]
pub async fn plan_accounts(
    PlanPlanner { plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(views::accounts_geojson(&state.db, plan_id).await?).into_response())
}

/// `GET /api/plans/{id}/shapes`
#[utoipa::path(
    get,
    path = "/api/plans/{id}/shapes",
    tag = "territories",
    summary = "A plan's territory shapes as GeoJSON",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "GeoJSON FeatureCollection", body = views::PlanShapes), ReadErrors),
    security(("session" = []))
)]
pub async fn plan_shapes(
    PlanPlanner { plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(views::shapes_geojson(&state.db, plan_id).await?).into_response())
}

/// `GET /api/plans/{id}/tiles`: the plan's tile set as TileJSON (tile URL, zooms, bounds).
#[utoipa::path(
    get,
    path = "/api/plans/{id}/tiles",
    tag = "territories",
    summary = "A plan's vector tile set (TileJSON 3.0)",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "TileJSON", body = tiles::TileJson), ReadErrors),
    security(("session" = []))
)]
pub async fn plan_tile_json(
    PlanPlanner { plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let base_url = state.config.public_url.as_str().trim_end_matches('/');
    Ok(Json(tiles::tile_json(&state.db, plan_id, base_url).await?).into_response())
}

/// `GET /api/plans/{id}/tiles/{z}/{x}/{y}` (`y` may end in `.mvt` or `.pbf`): a Mapbox Vector
/// Tile of the plan's territories and accounts.
#[utoipa::path(
    get,
    path = "/api/plans/{id}/tiles/{z}/{x}/{y}",
    tag = "territories",
    summary = "One Mapbox Vector Tile of a plan",
    params(("id" = Uuid, Path, description = "the plan's id"), ("z" = String, Path, description = "zoom, 0 to 22"), ("x" = String, Path, description = "column, 0 to 2^z - 1"), ("y" = String, Path, description = "row, 0 to 2^z - 1, optionally ending in `.mvt` or `.pbf`"), ("If-None-Match" = Option<String>, Header, description = "an ETag of this tile the client holds")),
    responses((status = 200, description = "the tile", content_type = "application/vnd.mapbox-vector-tile", body = Vec<u8>), (status = 204, description = "nothing of the plan is in this tile"), (status = 304, description = "the client holds this very tile"), ReadErrors),
    security(("session" = []))
)]
pub async fn plan_tile(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((plan_id, z, x, y)): Path<(Uuid, String, String, String)>,
) -> Result<Response, AppError> {
    // The tile address is checked first (a 400 before the plan is looked up).
    let tile = TileId::parse(&z, &x, &y)?;
    Planner::of(user)?.check_plan(&state, plan_id).await?;
    let mut conn = state.db.acquire().await?;
    let body = tiles::plan_tile(&mut conn, plan_id, tile).await?;
    Ok(tile_response(&headers, body))
}

/// Tiles may be reused for a minute (plans change: hand moves, arrivals; the page asks for
/// fresh ones after its own changes); the browser then revalidates with the ETag.
const TILE_CACHE_CONTROL: &str = "private, max-age=60";

/// 204 for an empty tile; 304 when the client holds this very tile; else 200 with the bytes.
fn tile_response(headers: &HeaderMap, body: Vec<u8>) -> Response {
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static(TILE_CACHE_CONTROL),
    );
    if body.is_empty() {
        return (StatusCode::NO_CONTENT, [cache]).into_response();
    }
    let mvt = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.mapbox-vector-tile"),
    );
    // Weak: the compression layer may send these bytes gzipped.
    let digest = Sha256::digest(&body);
    let opaque: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let Ok(etag) = HeaderValue::from_str(&format!("W/\"{opaque}\"")) else {
        return ([cache, mvt], body).into_response();
    };
    let held = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|tag| tag == "*" || tag == opaque);
    if held {
        (StatusCode::NOT_MODIFIED, [cache, (header::ETAG, etag)]).into_response()
    } else {
        ([cache, mvt, (header::ETAG, etag)], body).into_response()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    account_ids: Vec<Uuid>,
    territory_id: Uuid,
}

/// `POST /api/plans/{id}/moves`
#[utoipa::path(
    post,
    path = "/api/plans/{id}/moves",
    tag = "territories",
    summary = "Move accounts to a territory by hand (drafts only)",
    params(("id" = Uuid, Path, description = "the plan's id")),
    request_body = MoveBody,
    responses((status = 200, description = "the plan with fresh figures", body = views::PlanView), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn move_accounts(
    PlanPlanner { user, plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MoveBody>,
) -> Result<Response, AppError> {
    let label = if user.name.is_empty() {
        "a manager".to_owned()
    } else {
        user.name.clone()
    };
    plans::move_accounts(
        &state.db,
        plan_id,
        &body.account_ids,
        body.territory_id,
        Some(user.id),
        &label,
    )
    .await?;
    Ok(Json(views::plan(&state.db, plan_id).await?).into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebalanceBody {
    /// Largest workload deviation from the mean a territory may keep, 0.005 to 0.5.
    tolerance: Option<f64>,
}

/// `POST /api/plans/{id}/rebalance`
#[utoipa::path(
    post,
    path = "/api/plans/{id}/rebalance",
    tag = "territories",
    summary = "Rebalance a draft in place, moving as little as possible; runs as a job (409 while the team has one queued or running)",
    params(("id" = Uuid, Path, description = "the plan's id")),
    request_body = RebalanceBody,
    responses((status = 202, description = "queued; poll the plan's job", body = Created), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn rebalance(
    PlanPlanner { user, plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RebalanceBody>,
) -> Result<Response, AppError> {
    state
        .jobs
        .start_rebalance(plan_id, body.tolerance, Some(user.id))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Created { id: plan_id })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The plan to compare with (default: the team's published plan).
    against: Option<Uuid>,
}

/// `GET /api/plans/{id}/diff?against=`
#[utoipa::path(
    get,
    path = "/api/plans/{id}/diff",
    tag = "territories",
    summary = "What a plan changes against another (by default the published plan)",
    params(("id" = Uuid, Path, description = "the plan's id"), DiffQuery),
    responses((status = 200, description = "moved accounts and CRM owner changes", body = views::Diff), ReadErrors),
    security(("session" = []))
)]
pub async fn diff(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Path(plan_id): Path<Uuid>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, AppError> {
    let planner = Planner::of(user)?;
    let team_id = planner.check_plan(&state, plan_id).await?;
    let against = match q.against {
        Some(a) => {
            if planner.check_plan(&state, a).await? != team_id {
                return Err(AppError::bad_request(
                    "invalid",
                    "compare plans of one team",
                ));
            }
            Some(a)
        }
        None => plans::published(&state.db, team_id).await?,
    };
    Ok(Json(views::diff(&state.db, plan_id, against).await?).into_response())
}

/// `GET /api/plans/{id}/writeback-preview`: the exact CRM calls publishing would make.
#[utoipa::path(
    get,
    path = "/api/plans/{id}/writeback-preview",
    tag = "territories",
    summary = "The CRM calls publishing would make",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "the calls, batched as the write-back worker batches them", body = Vec<writeback::PlannedCall>), ReadErrors),
    security(("session" = []))
)]
pub async fn writeback_preview(
    PlanPlanner { plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let changes = plans::owner_changes(&state.db, plan_id).await?;
    let calls = writeback::preview(&state.db, &state.crm, &changes)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(Json(calls).into_response())
}

/// `POST /api/plans/{id}/publish`
#[utoipa::path(
    post,
    path = "/api/plans/{id}/publish",
    tag = "territories",
    summary = "Publish a draft and queue the CRM owner changes",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "what publishing did", body = plans::Published), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn publish(
    PlanPlanner { user, plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let published = plans::publish(&state.db, plan_id, Some(user.id))
        .await
        .on_constraint()?;
    Ok(Json(published).into_response())
}

/// `POST /api/plans/{id}/rollback`
#[utoipa::path(
    post,
    path = "/api/plans/{id}/rollback",
    tag = "territories",
    summary = "Publish a copy of a superseded plan",
    params(("id" = Uuid, Path, description = "the plan's id")),
    responses((status = 200, description = "what publishing did", body = plans::Published), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn rollback(
    PlanPlanner { user, plan_id, .. }: PlanPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let published = plans::rollback(&state.db, plan_id, Some(user.id))
        .await
        .on_constraint()?;
    Ok(Json(published).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// The first plan.
    a: Uuid,
    /// The second plan, of the same team.
    b: Uuid,
}

/// `GET /api/plans/compare?a=&b=`
#[utoipa::path(
    get,
    path = "/api/plans/compare",
    tag = "territories",
    summary = "Two plans of one team side by side",
    params(CompareQuery),
    responses((status = 200, description = "the two plans and what moves between them", body = views::Comparison), ReadErrors),
    security(("session" = []))
)]
pub async fn compare(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Query(q): Query<CompareQuery>,
) -> Result<Response, AppError> {
    let planner = Planner::of(user)?;
    let team_a = planner.check_plan(&state, q.a).await?;
    let team_b = planner.check_plan(&state, q.b).await?;
    if team_a != team_b {
        return Err(AppError::bad_request(
            "invalid",
            "compare plans of one team",
        ));
    }
    Ok(Json(views::compare(&state.db, q.a, q.b).await?).into_response())
}

/// `GET /api/teams/{team}/rules`
#[utoipa::path(
    get,
    path = "/api/teams/{team}/rules",
    tag = "territories",
    summary = "A team's assignment rules in order",
    params(("team" = Uuid, Path, description = "the team's id")),
    responses((status = 200, description = "the rules", body = Vec<rules::Rule>), ReadErrors),
    security(("session" = []))
)]
pub async fn list_rules(
    TeamPlanner { team_id, .. }: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(rules::list(&state.db, team_id).await?).into_response())
}

/// `POST /api/teams/{team}/rules`
#[utoipa::path(
    post,
    path = "/api/teams/{team}/rules",
    tag = "territories",
    summary = "Add a rule",
    params(("team" = Uuid, Path, description = "the team's id")),
    request_body = RuleInput,
    responses((status = 201, description = "the rule", body = rules::Rule), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn create_rule(
    TeamPlanner { user, team_id }: TeamPlanner,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<RuleInput>,
) -> Result<Response, AppError> {
    let position = input.position;
    let rule = input.validate()?;
    let created = rules::add(&state.db, user.id, team_id, &rule, position)
        .await
        .on_constraint()?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Checks that `planner` plans the rule's team.
async fn rule_team(state: &AppState, planner: &Planner, rule_id: Uuid) -> Result<(), AppError> {
    let team_id = rules::team_of(&state.db, rule_id)
        .await?
        .ok_or(AppError::NotFound)?;
    planner.check_team(state, team_id).await
}

/// `PUT /api/rules/{id}`
#[utoipa::path(
    put,
    path = "/api/rules/{id}",
    tag = "territories",
    summary = "Replace a rule",
    params(("id" = Uuid, Path, description = "the rule's id")),
    request_body = RuleInput,
    responses((status = 200, description = "the rule", body = rules::Rule), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn update_rule(
    planner: Planner,
    State(state): State<AppState>,
    Path(rule_id): Path<Uuid>,
    JsonBody(input): JsonBody<RuleInput>,
) -> Result<Response, AppError> {
    rule_team(&state, &planner, rule_id).await?;
    let rule = input.validate()?;
    let updated = rules::replace(&state.db, planner.0.id, rule_id, &rule)
        .await
        .on_constraint()?;
    Ok(Json(updated).into_response())
}

/// `DELETE /api/rules/{id}`
#[utoipa::path(
    delete,
    path = "/api/rules/{id}",
    tag = "territories",
    summary = "Delete a rule",
    params(("id" = Uuid, Path, description = "the rule's id")),
    responses((status = 204, description = "deleted"), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn delete_rule(
    planner: Planner,
    State(state): State<AppState>,
    Path(rule_id): Path<Uuid>,
) -> Result<Response, AppError> {
    rule_team(&state, &planner, rule_id).await?;
    rules::remove(&state.db, planner.0.id, rule_id)
        .await
        .on_constraint()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    ids: Vec<Uuid>,
}

/// `POST /api/teams/{team}/rules/order`
#[utoipa::path(
    post,
    path = "/api/teams/{team}/rules/order",
    tag = "territories",
    summary = "Put a team's rules in this order",
    params(("team" = Uuid, Path, description = "the team's id")),
    request_body = OrderBody,
    responses((status = 200, description = "the rules in their new order", body = Vec<rules::Rule>), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn reorder_rules(
    TeamPlanner { team_id, .. }: TeamPlanner,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OrderBody>,
) -> Result<Response, AppError> {
    rules::set_order(&state.db, team_id, &body.ids)
        .await
        .on_constraint()?;
    Ok(Json(rules::list(&state.db, team_id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    territory_id: Uuid,
    #[serde(default)]
    reason: String,
}

/// `POST /api/accounts/{id}/lock`
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/lock",
    tag = "territories",
    summary = "Lock an account in a territory",
    params(("id" = Uuid, Path, description = "the account's id")),
    request_body = LockBody,
    responses((status = 200, description = "locked", body = LockState), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn lock_account(
    planner: Planner,
    State(state): State<AppState>,
    Path(account_id): Path<Uuid>,
    JsonBody(body): JsonBody<LockBody>,
) -> Result<Response, AppError> {
    let team_id = teams::team_of_territory(&state.db, body.territory_id)
        .await?
        .ok_or_else(|| AppError::bad_request("invalid", "unknown territory_id"))?;
    planner.check_team(&state, team_id).await?;
    teams::lock(
        &state.db,
        team_id,
        account_id,
        body.territory_id,
        Some(planner.0.id),
        &body.reason,
    )
    .await?;
    Ok(Json(LockState {
        account_id,
        territory_id: body.territory_id,
        locked: true,
    })
    .into_response())
}

/// An account's lock, as `POST /api/accounts/{id}/lock` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockState {
    pub account_id: Uuid,
    pub territory_id: Uuid,
    pub locked: bool,
}

/// `DELETE /api/accounts/{id}/lock`
#[utoipa::path(
    delete,
    path = "/api/accounts/{id}/lock",
    tag = "territories",
    summary = "Unlock an account",
    params(("id" = Uuid, Path, description = "the account's id")),
    responses((status = 204, description = "unlocked"), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn unlock_account(
    planner: Planner,
    State(state): State<AppState>,
    Path(account_id): Path<Uuid>,
) -> Result<Response, AppError> {
    let territory = teams::locked_in(&state.db, account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let team_id = teams::team_of_territory(&state.db, territory)
        .await?
        .ok_or(AppError::NotFound)?;
    planner.check_team(&state, team_id).await?;
    teams::unlock(&state.db, account_id, territory, Some(planner.0.id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/accounts/{id}/assignment`
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/assignment",
    tag = "territories",
    summary = "An account's territory in its team's published plan, and why",
    params(("id" = Uuid, Path, description = "the account's id")),
    responses((status = 200, description = "the assignment", body = teams::Assignment), ReadErrors),
    security(("session" = []))
)]
pub async fn assignment(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    Path(account_id): Path<Uuid>,
) -> Result<Response, AppError> {
    let planner = Planner::of(user)?;
    let found = teams::assignment(&state.db, account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    planner.check_plan(&state, found.plan_id).await?;
    Ok(Json(found).into_response())
}

/// `GET /api/teams/{team}/workload`: the workload model's settings per tier.
#[utoipa::path(
    get,
    path = "/api/teams/{team}/workload",
    tag = "territories",
    summary = "The workload model's settings per tier",
    params(("team" = Uuid, Path, description = "the team's id")),
    responses((status = 200, description = "settings for tiers A, B and C", body = Vec<teams::TierSetting>), ReadErrors),
    security(("session" = []))
)]
pub async fn get_workload(
    TeamPlanner { team_id, .. }: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    Ok(Json(teams::workload_tiers(&state.db, team_id).await?).into_response())
}

/// `PUT /api/teams/{team}/workload`: `[{tier, visits_per_year?, service_minutes?,
/// travel_minutes?}]`; plans made afterwards use them.
#[utoipa::path(
    put,
    path = "/api/teams/{team}/workload",
    tag = "territories",
    summary = "Change the workload settings of some tiers",
    params(("team" = Uuid, Path, description = "the team's id")),
    request_body = Vec<teams::TierSetting>,
    responses((status = 200, description = "settings for tiers A, B and C", body = Vec<teams::TierSetting>), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn set_workload(
    TeamPlanner { user, team_id }: TeamPlanner,
    State(state): State<AppState>,
    JsonBody(settings): JsonBody<Vec<teams::TierSetting>>,
) -> Result<Response, AppError> {
    teams::set_workload_tiers(&state.db, team_id, &settings, Some(user.id)).await?;
    Ok(Json(teams::workload_tiers(&state.db, team_id).await?).into_response())
}
