//! The CRM outbox page (`/territories/outbox`): owner changes queued by publishing, their state
//! and counts, with Retry (or "overwrite anyway" for a conflict). Managers see their teams'
//! plans; admins everything, and the counts of visits written back as CRM activities, with
//! "retry failed activities".

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Role, User, csrf};
use crate::crm::writeback::{
    self, ActivityStats, OutboxFilter, OutboxRow, OutboxScope, OutboxStats, OutboxStatus,
};
use crate::error::AppError;

use super::extract::{Form, Path, Query};
use super::guard::{self, AdminUser, SignedIn};

/// Rows the page lists at most.
const PAGE_ROWS: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/territories/outbox", get(page))
        .route("/territories/outbox/{id}/retry", post(retry))
        .route(
            "/territories/outbox/activities/retry",
            post(retry_activities),
        )
}

/// Managers see their teams' rows, admins all; others are refused.
fn scope_of(user: &User) -> Result<OutboxScope, AppError> {
    match user.role {
        Some(Role::Admin) => Ok(OutboxScope::All),
        Some(Role::Manager) => Ok(OutboxScope::ManagedBy(user.id)),
        _ => Err(AppError::forbidden(
            "not_allowed",
            "only managers and admins see the CRM outbox",
        )),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "outbox.html")]
pub struct OutboxPage {
    pub title: String,
    pub csrf: String,
    pub stats: OutboxStats,
    /// Visits written back as activities, for admins (they are not a team's plan).
    pub activities: Option<ActivityStats>,
    pub rows: Vec<OutboxRow>,
    pub statuses: Vec<&'static str>,
    /// The filter as given, for the form.
    pub plan: String,
    pub status: String,
}

/// Filter fields as the form sends them (empty means "any").
#[derive(Deserialize)]
pub struct FilterQuery {
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /territories/outbox?plan=&status=`
pub async fn page(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<FilterQuery>,
) -> Result<OutboxPage, AppError> {
    let scope = scope_of(&user)?;
    let plan = query.plan.unwrap_or_default().trim().to_owned();
    let status = query.status.unwrap_or_default().trim().to_owned();
    let filter = OutboxFilter {
        plan_id: if plan.is_empty() {
            None
        } else {
            Some(
                Uuid::parse_str(&plan)
                    .map_err(|_| AppError::bad_request("invalid_plan", "plan: a plan id (UUID)"))?,
            )
        },
        status: if status.is_empty() {
            None
        } else {
            Some(OutboxStatus::parse(&status).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_status",
                    "status: pending, done, conflict or failed",
                )
            })?)
        },
        scope,
    };
    Ok(OutboxPage {
        title: "CRM outbox".into(),
        csrf: csrf::token(&session).await?,
        stats: writeback::stats(&state.db, scope).await?,
        activities: match scope {
            OutboxScope::All => Some(writeback::activity_stats(&state.db).await?),
            OutboxScope::ManagedBy(_) => None,
        },
        rows: writeback::list(&state.db, &filter, PAGE_ROWS).await?,
        statuses: OutboxStatus::ALL.iter().map(|s| s.as_str()).collect(),
        plan,
        status,
    })
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /territories/outbox/{id}/retry`
pub async fn retry(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    let scope = scope_of(&user)?;
    guard::csrf_form(&session, &form.csrf).await?;
    match writeback::retry(&state.db, id, Some(user.id), scope).await? {
        Some(_) => Ok(Redirect::to("/territories/outbox").into_response()),
        None => Err(AppError::NotFound),
    }
}

/// `POST /territories/outbox/activities/retry`: every failed activity back to the queue.
pub async fn retry_activities(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    writeback::retry_failed_activities(&state.db, user.id).await?;
    Ok(Redirect::to("/territories/outbox").into_response())
}
