//! Admin pages for CRM sync: connections (secrets write-only), the sync page (inbox, dead
//! letters with retry, reconciliation reports), and CSV import/export.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::csrf;
use crate::crm::connection::{self, Connection, ConnectionError, ConnectionInput, CrmKind};
use crate::crm::csv::{self, CsvError, ImportKind};
use crate::crm::inbox::{self, DeadLetter, InboxStats, RecentEvent};
use crate::crm::reconcile::{self, Report};
use crate::error::AppError;
use crate::jobs::JobError;

use super::extract::{Form, Path};
use super::guard::{self, AdminUser};

/// The CRM sync admin pages (the CSV import has its own router: [`import_router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sync", get(sync_page))
        .route("/admin/sync/dead/{id}/retry", post(retry_dead))
        .route("/admin/sync/reconcile/{name}", post(reconcile_now))
        .route("/admin/connections", post(create_connection))
        .route("/admin/connections/new", get(new_connection))
        .route(
            "/admin/connections/{name}",
            get(edit_connection).post(update_connection),
        )
        .route("/admin/export/{file}", get(export_csv))
}

/// The CSV import, apart from [`router`]: `web::router` gives it its own, larger body limits.
pub fn import_router() -> Router<AppState> {
    Router::new().route("/admin/import/{what}", post(import_csv))
}

impl From<ConnectionError> for AppError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Invalid(m) => AppError::bad_request("invalid_connection", m),
            ConnectionError::Duplicate(_) => {
                AppError::bad_request("duplicate_connection", e.to_string())
            }
            ConnectionError::NotFound(_) => AppError::NotFound,
            ConnectionError::NoKey => AppError::Unavailable("TERRANE_SECRET_KEY"),
            ConnectionError::Crypto(c) => AppError::Internal(anyhow::anyhow!(c)),
            ConnectionError::Database(d) => AppError::Database(d),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sync.html")]
pub struct SyncPage {
    pub title: String,
    pub csrf: String,
    pub stats: InboxStats,
    pub connections: Vec<Connection>,
    pub reports: Vec<Report>,
    pub dead: Vec<DeadLetter>,
    pub recent: Vec<RecentEvent>,
    pub notice: Option<String>,
}

async fn sync_page_with(
    state: &AppState,
    session: &Session,
    notice: Option<String>,
) -> Result<SyncPage, AppError> {
    Ok(SyncPage {
        title: "CRM sync".into(),
        csrf: csrf::token(session).await?,
        stats: inbox::stats(&state.db).await?,
        connections: connection::list(&state.db).await?,
        reports: reconcile::latest_reports(&state.db).await?,
        dead: inbox::dead_letters(&state.db, 100).await?,
        recent: inbox::recent(&state.db, 50).await?,
        notice,
    })
}

/// `GET /admin/sync`
pub async fn sync_page(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
) -> Result<SyncPage, AppError> {
    sync_page_with(&state, &session, None).await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /admin/sync/dead/{id}/retry`
pub async fn retry_dead(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    if !inbox::retry(&state.db, id, admin.id).await? {
        return Err(AppError::NotFound);
    }
    state.intake.wake.notify_waiters();
    Ok(Redirect::to("/admin/sync").into_response())
}

/// `POST /admin/sync/reconcile/{name}`: queues a run (a job, `server/jobs/`).
pub async fn reconcile_now(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<SyncPage, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    let conn = connection::by_name(&state.db, &name)
        .await?
        .ok_or(AppError::NotFound)?;
    if !conn.kind.has_api() {
        return Err(AppError::bad_request(
            "no_api",
            "Standard Webhooks connections have no API to reconcile against",
        ));
    }
    // A job: a restart does not lose it, and a second click while it waits changes nothing.
    let note = match state.jobs.start_reconcile(&conn, admin.id).await {
        Ok(_) => format!(
            "Reconciliation of {} queued; reload for its report.",
            conn.name
        ),
        Err(JobError::ConnectionBusy) => format!(
            "A reconciliation of {} is already queued or running; reload for its report.",
            conn.name
        ),
        Err(e) => return Err(e.into()),
    };
    sync_page_with(&state, &session, Some(note)).await
}

#[derive(Template, WebTemplate)]
#[template(path = "connection.html")]
pub struct ConnectionPage {
    pub title: String,
    pub csrf: String,
    /// `None` for the "add" form.
    pub connection: Option<Connection>,
    /// The path the CRM posts webhooks to (Salesforce: with its secret token), when known.
    pub endpoint: Option<String>,
    pub kinds: Vec<&'static str>,
}

/// `GET /admin/connections/new`
pub async fn new_connection(
    AdminUser(_admin): AdminUser,
    session: Session,
) -> Result<ConnectionPage, AppError> {
    Ok(ConnectionPage {
        title: "Add a CRM connection".into(),
        csrf: csrf::token(&session).await?,
        connection: None,
        endpoint: None,
        kinds: vec!["hubspot", "salesforce", "standard"],
    })
}

/// `GET /admin/connections/{name}`
pub async fn edit_connection(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<ConnectionPage, AppError> {
    let connection = connection::by_name(&state.db, &name)
        .await?
        .ok_or(AppError::NotFound)?;
    let endpoint = match connection.kind {
        CrmKind::HubSpot => Some("/webhooks/hubspot".to_owned()),
        CrmKind::Standard => Some(format!("/webhooks/standard/{}", connection.name)),
        CrmKind::Salesforce => connection::webhook_token(
            &state.db,
            state.config.crm.secret_key.as_ref(),
            connection.id,
        )
        .await?
        .map(|t| format!("/webhooks/salesforce/{t}")),
    };
    Ok(ConnectionPage {
        title: format!("CRM connection {}", connection.name),
        csrf: csrf::token(&session).await?,
        connection: Some(connection),
        endpoint,
        kinds: vec![],
    })
}

/// The add/edit form. Secret fields are always empty on the page; empty means "keep".
#[derive(Deserialize)]
pub struct ConnectionForm {
    csrf: String,
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    api_base_url: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    retire: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    /// Salesforce, on edit: issue a new webhook path token.
    #[serde(default)]
    new_webhook_token: Option<String>,
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl ConnectionForm {
    fn into_input(self) -> Result<ConnectionInput, AppError> {
        let kind = match blank_to_none(self.kind) {
            None => None,
            Some(k) => Some(CrmKind::parse(&k).ok_or_else(|| {
                AppError::bad_request("invalid_kind", "kind: hubspot, salesforce or standard")
            })?),
        };
        Ok(ConnectionInput {
            name: self.name.trim().to_owned(),
            kind,
            api_base_url: blank_to_none(self.api_base_url),
            organization_id: blank_to_none(self.organization_id),
            enabled: self.enabled.is_some(),
            add_webhook_secret: blank_to_none(self.webhook_secret),
            retire_fingerprints: blank_to_none(self.retire).into_iter().collect(),
            client_id: blank_to_none(self.client_id),
            client_secret: blank_to_none(self.client_secret),
            refresh_token: blank_to_none(self.refresh_token),
            webhook_token: None,
            new_webhook_token: self.new_webhook_token.is_some(),
        })
    }
}

/// `POST /admin/connections`
pub async fn create_connection(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ConnectionForm>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    let input = form.into_input()?;
    let key = state.config.crm.secret_key.as_ref();
    let created = connection::create_audited(&state.db, key, &input, admin.id).await?;
    Ok(no_store(
        Redirect::to(&format!("/admin/connections/{}", created.name)).into_response(),
    ))
}

/// `POST /admin/connections/{name}`
pub async fn update_connection(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Form(mut form): Form<ConnectionForm>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    form.name = name;
    let input = form.into_input()?;
    let key = state.config.crm.secret_key.as_ref();
    let updated = connection::update_audited(&state.db, key, &input, admin.id).await?;
    Ok(no_store(
        Redirect::to(&format!("/admin/connections/{}", updated.name)).into_response(),
    ))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Largest CSV file accepted from the page (the page says 20 MB).
const MAX_CSV_BYTES: usize = 20 * 1024 * 1024;

/// The body limit of the import route only: the file plus room for the form's other fields
/// and the multipart framing. Every other route keeps `TERRANE_BODY_LIMIT_BYTES`.
pub const IMPORT_BODY_LIMIT_BYTES: usize = MAX_CSV_BYTES + 64 * 1024;

/// `POST /admin/import/{what}` (multipart: `csrf`, `file`, optional `source`, `dry_run`).
pub async fn import_csv(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(what): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let mut csrf_value = None;
    let mut file = None;
    let mut source = "csv".to_owned();
    let mut dry_run = false;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::bad_request("bad_upload", e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "csrf" => {
                csrf_value = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| AppError::bad_request("bad_upload", e.body_text()))?,
                );
            }
            "source" => {
                let s = field
                    .text()
                    .await
                    .map_err(|e| AppError::bad_request("bad_upload", e.body_text()))?;
                if !s.trim().is_empty() {
                    s.trim().clone_into(&mut source);
                }
            }
            "dry_run" => dry_run = true,
            "file" => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::bad_request("bad_upload", e.body_text()))?;
                if bytes.len() > MAX_CSV_BYTES {
                    return Err(AppError::bad_request(
                        "too_large",
                        "the CSV file is larger than 20 MB",
                    ));
                }
                file = Some(bytes);
            }
            _ => {}
        }
    }
    guard::csrf_form(&session, csrf_value.as_deref().unwrap_or_default()).await?;
    let file = file.ok_or_else(|| AppError::bad_request("no_file", "choose a CSV file"))?;
    let what = match what.as_str() {
        "accounts" => ImportKind::Accounts {
            default_source: &source,
            guard: state.config.crm.clock_guard(),
        },
        "reps" => ImportKind::Reps,
        "appointments" => ImportKind::Appointments {
            default_source: &source,
        },
        "opening_hours" => ImportKind::OpeningHours {
            default_source: &source,
        },
        _ => return Err(AppError::NotFound),
    };
    let report = csv::import_audited(&state.db, what, &file[..], dry_run, admin.id).await;
    let (status, report) = match report {
        Ok(r) => (axum::http::StatusCode::OK, r),
        // Row-numbered problems; nothing was written.
        Err(CsvError::Invalid(r)) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, r),
        Err(e) => return Err(AppError::bad_request("bad_csv", e.to_string())),
    };
    Ok((status, axum::Json(report)).into_response())
}

/// `GET /admin/export/{what}.csv`
pub async fn export_csv(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let mut out = Vec::new();
    match file.as_str() {
        "accounts.csv" => csv::export_accounts(&state.db, &mut out).await,
        "reps.csv" => csv::export_reps(&state.db, &mut out).await,
        _ => return Err(AppError::NotFound),
    }
    .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"terrane-{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        out,
    )
        .into_response())
}
