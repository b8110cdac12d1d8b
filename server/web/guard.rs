//! Extractors that decide who may call a handler: a handler taking `SignedIn` or `AdminUser`
//! cannot run for anyone else, so a route cannot forget its check.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::{self, AuthError, Role, User};
use crate::error::AppError;

/// Any user with a role.
pub struct SignedIn(pub User);

/// A user with the admin role.
pub struct AdminUser(pub User);

/// Why a request was turned away. API paths get JSON; pages get a redirect or a page.
pub enum Denied {
    Anonymous { api: bool },
    Waiting { api: bool, email: String },
    Forbidden { api: bool },
    Error(AppError),
}

#[derive(Template, WebTemplate)]
#[template(path = "waiting.html")]
struct WaitingPage {
    title: String,
    email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "forbidden.html")]
struct ForbiddenPage {
    title: String,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let json = |status: StatusCode, code: &str, message: &str| {
            let body = serde_json::json!({ "error": { "code": code, "message": message } });
            (status, Json(body)).into_response()
        };
        match self {
            Denied::Anonymous { api: true } => {
                json(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
            }
            Denied::Anonymous { api: false } => Redirect::to("/login").into_response(),
            Denied::Waiting { api: true, .. } => json(
                StatusCode::FORBIDDEN,
                "waiting_for_access",
                "an admin has not granted you access yet",
            ),
            Denied::Waiting { api: false, email } => (
                StatusCode::FORBIDDEN,
                WaitingPage {
                    title: "Waiting for access".into(),
                    email,
                },
            )
                .into_response(),
            Denied::Forbidden { api: true } => json(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role does not allow this",
            ),
            Denied::Forbidden { api: false } => (
                StatusCode::FORBIDDEN,
                ForbiddenPage {
                    title: "Not allowed".into(),
                },
            )
                .into_response(),
            Denied::Error(e) => e.into_response(),
        }
    }
}

impl From<AuthError> for Denied {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Database(e) => Denied::Error(AppError::Database(e)),
            other => Denied::Error(AppError::Internal(anyhow::Error::new(other))),
        }
    }
}

fn is_api(parts: &Parts) -> bool {
    parts.uri.path().starts_with("/api/")
}

/// The session's user, whatever their role (`None` when nobody is signed in).
pub async fn session_user(
    parts: &mut Parts,
    state: &AppState,
) -> Result<(Session, Option<User>), Denied> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|_| Denied::Error(AppError::Internal(anyhow::anyhow!("session layer missing"))))?;
    let user = auth::current_user(&state.db, &session, state.config.session_max_age).await?;
    Ok((session, user))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        let api = is_api(parts);
        match session_user(parts, state).await? {
            (_, None) => Err(Denied::Anonymous { api }),
            (_, Some(user)) if user.role.is_none() => Err(Denied::Waiting {
                api,
                email: user.email,
            }),
            (_, Some(user)) => Ok(SignedIn(user)),
        }
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        let api = is_api(parts);
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if user.role == Some(Role::Admin) {
            Ok(AdminUser(user))
        } else {
            Err(Denied::Forbidden { api })
        }
    }
}

/// Who may read accounts, and which: a signed-in user (their scope) or an API token with
/// `accounts:read` (all accounts). A bearer token is never combined with a session.
pub struct AccountsReader(pub auth::Scope);

impl FromRequestParts<AppState> for AccountsReader {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let presented = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let client = auth::tokens::verify(&state.db, presented.trim())
                .await
                .map_err(|e| Denied::Error(AppError::Database(e)))?
                .ok_or(Denied::Anonymous { api: true })?;
            return if client.may(auth::tokens::TokenScope::AccountsRead) {
                Ok(AccountsReader(auth::Scope::All))
            } else {
                Err(Denied::Forbidden { api: true })
            };
        }
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        let scope = auth::scope_for(&state.db, &user)
            .await
            .map_err(|e| Denied::Error(AppError::Database(e)))?;
        Ok(AccountsReader(scope))
    }
}
