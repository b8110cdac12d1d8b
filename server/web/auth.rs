//! Sign-in pages and forms: demo sign-in, sign-out, and the admin's audit log page.

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::app::AppState;
use crate::audit::{self, AuditEntry};
use crate::auth::{self, Role, User, csrf};
use crate::error::{AppError, error_response};
use crate::web::demo;
use crate::web::extract::{Form, Path, Query};
use crate::web::guard::{self, AdminUser};

/// Signing in and out, and the admin pages for users, tokens and the audit log.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page))
        .route("/auth/demo", post(demo_sign_in))
        .route("/auth/login", get(oidc_start))
        .route("/auth/callback", get(oidc_callback))
        .route("/auth/logout", post(sign_out))
        .route("/admin/audit", get(audit_page))
        .route("/admin/users", get(users_page))
        .route("/admin/tokens", get(tokens_page).post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/users/{id}/role", post(change_role))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub title: String,
    pub demo: bool,
    pub oidc: bool,
    pub csrf: String,
    pub users: Vec<DemoChoice>,
}

pub struct DemoChoice {
    pub email: String,
    pub name: String,
    pub role: String,
}

impl From<User> for DemoChoice {
    fn from(u: User) -> Self {
        let role = u.role.map(|r| r.as_str().to_owned()).unwrap_or_default();
        Self {
            email: u.email,
            name: u.name,
            role,
        }
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<LoginPage, AppError> {
    let users = if state.config.demo {
        auth::db::users_with_roles(&state.db)
            .await?
            .into_iter()
            .map(DemoChoice::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(LoginPage {
        title: "Sign in".into(),
        demo: state.config.demo,
        oidc: state.oidc.is_some(),
        // Only the demo buttons post a form. Without them nothing is written to the session,
        // so anonymous requests to this page store no session row.
        csrf: if state.config.demo {
            csrf::token(&session).await?
        } else {
            String::new()
        },
        users,
    })
}

#[derive(Deserialize)]
pub struct LoginStart {
    login_hint: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin_failed.html")]
pub struct SignInFailed {
    pub title: String,
    pub reason: String,
}

fn sign_in_failed(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    let page = SignInFailed {
        title: "Sign-in failed".into(),
        reason: reason.to_string(),
    };
    (status, page).into_response()
}

/// `GET /auth/login`: sends the browser to the identity provider.
pub async fn oidc_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<LoginStart>,
) -> Result<Response, AppError> {
    let Some(provider) = &state.oidc else {
        return Err(AppError::NotFound);
    };
    if let Err(wait) = state.signin_limiter.check(auth::ratelimit::client_ip(
        peer.ip(),
        &headers,
        &state.config.client_ip,
    )) {
        return Ok(too_many_attempts(wait));
    }
    let hint = q.login_hint.as_deref().filter(|h| h.len() <= 320);
    match provider.begin(&session, hint).await {
        Ok(url) => Ok(Redirect::to(url.as_str()).into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "OIDC sign-in could not start");
            Ok(sign_in_failed(StatusCode::SERVICE_UNAVAILABLE, e))
        }
    }
}

/// `GET /auth/callback`: checks the provider's answer and signs the user in.
pub async fn oidc_callback(
    State(state): State<AppState>,
    session: Session,
    Query(callback): Query<auth::oidc::Callback>,
) -> Result<Response, AppError> {
    let Some(provider) = &state.oidc else {
        return Err(AppError::NotFound);
    };
    let identity = match provider.finish(&session, &callback).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "OIDC sign-in refused");
            return Ok(sign_in_failed(StatusCode::BAD_REQUEST, e));
        }
    };
    let user_id = match auth::user_for_identity(&state.db, &identity).await? {
        Ok(id) => id,
        Err(e) => return Ok(sign_in_failed(StatusCode::FORBIDDEN, e)),
    };
    auth::sign_in(&state.db, &session, user_id, "oidc").await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize)]
pub struct DemoSignIn {
    csrf: String,
    email: String,
}

/// `POST /auth/demo`: only in demo mode; signs in as the chosen seeded user.
pub async fn demo_sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<DemoSignIn>,
) -> Result<Response, AppError> {
    if !state.config.demo {
        return Err(AppError::NotFound);
    }
    if !demo::addressed_to_loopback(&headers) {
        return Err(AppError::forbidden(
            "demo_not_local",
            "demo sign-in answers only requests addressed to this machine \
             (http://127.0.0.1 or http://localhost)",
        ));
    }
    if let Err(wait) = state.signin_limiter.check(auth::ratelimit::client_ip(
        peer.ip(),
        &headers,
        &state.config.client_ip,
    )) {
        return Ok(too_many_attempts(wait));
    }
    guard::csrf_form(&session, &form.csrf).await?;
    let Some(user) = auth::db::user_by_email(&state.db, &form.email).await? else {
        return Err(AppError::bad_request("unknown_user", "no such demo user"));
    };
    auth::sign_in(&state.db, &session, user.id, "demo").await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /auth/logout`: ends the session on the server.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    if let Some(user) =
        auth::current_user(&state.db, &session, state.config.session_max_age).await?
    {
        auth::sign_out(&state.db, &session, &user).await?;
    }
    Ok(Redirect::to("/login").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub title: String,
    pub entries: Vec<AuditEntry>,
}

/// `GET /admin/audit`: the newest 500 audit entries.
pub async fn audit_page(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
) -> Result<AuditPage, AppError> {
    Ok(AuditPage {
        title: "Audit log".into(),
        entries: audit::recent(&state.db, 500).await?,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub title: String,
    pub csrf: String,
    pub users: Vec<auth::db::UserRow>,
    pub reps: Vec<(uuid::Uuid, String)>,
    /// Why the last change was refused, shown above the table.
    pub refused: Option<String>,
    /// A change that removes access, waiting for the admin's confirmation.
    pub confirm: Option<PendingChange>,
}

/// The form an admin sent, shown back for confirmation.
pub struct PendingChange {
    pub user_id: uuid::Uuid,
    pub user_name: String,
    pub role: String,
    pub rep_id: String,
    pub consequence: String,
}

async fn users_page_with(
    state: &AppState,
    session: &Session,
    refused: Option<String>,
    confirm: Option<PendingChange>,
) -> Result<UsersPage, AppError> {
    Ok(UsersPage {
        title: "Users and roles".into(),
        csrf: csrf::token(session).await?,
        users: auth::db::all_users(&state.db).await?,
        reps: auth::db::all_reps(&state.db).await?,
        refused,
        confirm,
    })
}

/// `GET /admin/users`: everyone who signed in or was seeded, with a role form each showing
/// their current role and rep record.
pub async fn users_page(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
) -> Result<UsersPage, AppError> {
    users_page_with(&state, &session, None, None).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    /// `admin`, `manager`, `rep`, or empty for "no access".
    role: String,
    /// Required with `rep`; empty otherwise.
    #[serde(default)]
    rep_id: String,
    /// `yes` once the admin confirmed a change that removes access.
    #[serde(default)]
    confirm: String,
}

/// An optional form field: `Some(None)` when left empty, `Some(Some(value))` when `parse`
/// accepts it (trimmed), `None` when it does not.
fn optional_field<T>(raw: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<Option<T>> {
    match raw.trim() {
        "" => Some(None),
        raw => parse(raw).map(Some),
    }
}

/// `POST /admin/users/{id}/role`: audited role change. A change that removes access comes
/// back as a confirmation on the users page; a refused one as the page with the reason (400,
/// or 409 for the last admin).
pub async fn change_role(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(target): Path<uuid::Uuid>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    let role = match form.role.as_str() {
        "" => None,
        "admin" => Some(Role::Admin),
        "manager" => Some(Role::Manager),
        "rep" => Some(Role::Rep),
        _ => {
            return Err(AppError::bad_request(
                "invalid_role",
                "role must be admin, manager, rep or empty",
            ));
        }
    };
    let rep_id = optional_field(&form.rep_id, |raw| raw.parse::<uuid::Uuid>().ok())
        .ok_or_else(|| AppError::bad_request("invalid_rep", "rep_id must be a rep's id"))?;
    let confirmed = form.confirm == "yes";
    match auth::change_role(&state.db, &admin, target, role, rep_id, confirmed).await? {
        Ok(()) => Ok(Redirect::to("/admin/users").into_response()),
        Err(auth::RoleChangeError::UnknownUser) => Err(AppError::NotFound),
        Err(auth::RoleChangeError::Unconfirmed(removal)) => {
            // The page lists every user already: the name comes from there.
            let mut page = users_page_with(&state, &session, None, None).await?;
            let user_name = page
                .users
                .iter()
                .find(|u| u.id == target)
                .map_or_else(String::new, |u| u.name.clone());
            page.confirm = Some(PendingChange {
                user_id: target,
                user_name,
                role: form.role,
                rep_id: form.rep_id,
                consequence: removal.to_string(),
            });
            Ok(page.into_response())
        }
        Err(e) => refused(&state, &session, &e).await,
    }
}

/// The users page with the reason a change was refused (409 for the last admin, else 400).
async fn refused(
    state: &AppState,
    session: &Session,
    e: &auth::RoleChangeError,
) -> Result<Response, AppError> {
    let status = match e {
        auth::RoleChangeError::LastAdmin => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    let page = users_page_with(state, session, Some(e.to_string()), None).await?;
    Ok((status, page).into_response())
}

/// `POST /admin/users/{id}/disable`: audited; ends the user's sessions, closes their device
/// sockets and revokes the API tokens they made.
pub async fn disable_user(
    admin: AdminUser,
    state: State<AppState>,
    session: Session,
    Path(target): Path<uuid::Uuid>,
    form: Form<CsrfForm>,
) -> Result<Response, AppError> {
    set_disabled(admin, state, session, target, form, true).await
}

/// `POST /admin/users/{id}/enable`: audited.
pub async fn enable_user(
    admin: AdminUser,
    state: State<AppState>,
    session: Session,
    Path(target): Path<uuid::Uuid>,
    form: Form<CsrfForm>,
) -> Result<Response, AppError> {
    set_disabled(admin, state, session, target, form, false).await
}

async fn set_disabled(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    target: uuid::Uuid,
    Form(form): Form<CsrfForm>,
    disabled: bool,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    match auth::set_disabled(&state.db, &state.revocations, &admin, target, disabled).await? {
        Ok(()) => Ok(Redirect::to("/admin/users").into_response()),
        Err(auth::RoleChangeError::UnknownUser) => Err(AppError::NotFound),
        Err(e) => refused(&state, &session, &e).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub title: String,
    pub csrf: String,
    pub tokens: Vec<auth::tokens::TokenRow>,
    /// Set right after creation: the only time the token is shown.
    pub created: Option<String>,
    pub scopes: Vec<&'static str>,
    pub lifetimes: Vec<(String, String)>,
}

async fn tokens_page_with(
    state: &AppState,
    session: &Session,
    created: Option<String>,
) -> Result<TokensPage, AppError> {
    Ok(TokensPage {
        title: "API tokens".into(),
        csrf: csrf::token(session).await?,
        tokens: auth::tokens::list(&state.db).await?,
        created,
        scopes: auth::tokens::TokenScope::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        lifetimes: auth::tokens::LIFETIMES_DAYS
            .iter()
            .map(|d| match d {
                Some(d) => (d.to_string(), format!("{d} days")),
                None => (String::new(), "never (until revoked)".to_owned()),
            })
            .collect(),
    })
}

/// `GET /admin/tokens`.
pub async fn tokens_page(
    AdminUser(_admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
) -> Result<TokensPage, AppError> {
    tokens_page_with(&state, &session, None).await
}

#[derive(Deserialize)]
pub struct NewToken {
    csrf: String,
    name: String,
    /// Days until it expires (one of [`auth::tokens::LIFETIMES_DAYS`]); empty: until revoked.
    #[serde(default)]
    lifetime_days: String,
    /// One checkbox per scope, named after it (`accounts:read=on`).
    #[serde(flatten)]
    checked: std::collections::HashMap<String, String>,
}

/// `POST /admin/tokens`: creates a token and shows it once.
pub async fn create_token(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<NewToken>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_request(
            "invalid_name",
            "name the token (1 to 100 characters)",
        ));
    }
    let scopes: Vec<auth::tokens::TokenScope> = form
        .checked
        .keys()
        .filter_map(|k| auth::tokens::TokenScope::parse(k))
        .collect();
    if scopes.is_empty() {
        return Err(AppError::bad_request(
            "invalid_scopes",
            "choose at least one scope",
        ));
    }
    let lifetime = optional_field(&form.lifetime_days, |raw| {
        raw.parse::<u32>()
            .ok()
            .filter(|d| auth::tokens::LIFETIMES_DAYS.contains(&Some(*d)))
    })
    .ok_or_else(|| {
        AppError::bad_request("invalid_lifetime", "choose one of the offered lifetimes")
    })?;
    let (_, token) = auth::tokens::create(&state.db, admin.id, name, &scopes, lifetime).await?;
    let mut page = tokens_page_with(&state, &session, Some(token))
        .await?
        .into_response();
    // The page holds a secret: never cache it.
    page.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(page)
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    guard::csrf_form(&session, &form.csrf).await?;
    if auth::tokens::revoke(&state.db, admin.id, id).await? {
        Ok(Redirect::to("/admin/tokens").into_response())
    } else {
        Err(AppError::NotFound)
    }
}

/// 429 with `Retry-After` in whole seconds (rounded up).
fn too_many_attempts(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many sign-in attempts; try again later",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}
