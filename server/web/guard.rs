//! Extractors that decide who may call a handler: a handler taking `SignedIn` or `AdminUser`
//! cannot run for anyone else, so a route cannot forget its check.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::extract::Path;
use crate::app::AppState;
use crate::auth::{self, AuthError, Role, User};
use crate::error::{AppError, error_response};
use crate::territory::{plans, teams};

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
        match self {
            Denied::Anonymous { api: true } => {
                error_response(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
            }
            Denied::Anonymous { api: false } => Redirect::to("/login").into_response(),
            Denied::Waiting { api: true, .. } => error_response(
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
            Denied::Forbidden { api: true } => error_response(
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
        Denied::Error(e.into())
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
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            let presented = bearer_token(&parts.headers).unwrap_or_default();
            let client = auth::tokens::verify(&state.db, presented)
                .await
                .map_err(|e| Denied::Error(e.into()))?
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
            .map_err(|e| Denied::Error(e.into()))?;
        Ok(AccountsReader(scope))
    }
}

/// A cookie-authenticated API call whose `x-csrf-token` header is this session's token
/// (otherwise 403 `csrf`). Put it after the extractor that signs the caller in, so an
/// anonymous caller is told to sign in first.
pub struct CsrfHeader;

impl FromRequestParts<AppState> for CsrfHeader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        csrf_header(&session, &parts.headers).await?;
        Ok(CsrfHeader)
    }
}

/// A manager or an admin: who may plan territories. A changing request (any method but
/// `GET` and `HEAD`) must also carry the CSRF header ([`CsrfHeader`]), checked after the role.
pub struct Planner(pub User);

impl FromRequestParts<AppState> for Planner {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        Planner::admit(parts, state, user).await
    }
}

impl Planner {
    /// `user` as a planner, for a reading handler that checks the role itself (after its
    /// other extractors): 403 for anyone but managers and admins.
    pub fn of(user: User) -> Result<Self, AppError> {
        planner(&user)?;
        Ok(Planner(user))
    }

    /// The signed-in caller admitted as a planner, and the path's parameters `P`.
    async fn admit_with_path<P: serde::de::DeserializeOwned + Send>(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<(Self, P), Denied> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        let Path(path) = Path::<P>::from_request_parts(parts, state)
            .await
            .map_err(Denied::Error)?;
        Ok((Self::admit(parts, state, user).await?, path))
    }

    async fn admit(parts: &mut Parts, state: &AppState, user: User) -> Result<Self, Denied> {
        planner(&user).map_err(Denied::Error)?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            CsrfHeader::from_request_parts(parts, state)
                .await
                .map_err(Denied::Error)?;
        }
        Ok(Planner(user))
    }

    /// Whether this planner may plan `team_id` (a manager their teams, an admin any); someone
    /// else's team looks like no team at all (404).
    pub async fn check_team(&self, state: &AppState, team_id: Uuid) -> Result<(), AppError> {
        if teams::may_plan(&state.db, &self.0, team_id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    /// The team of a plan this planner may plan (404 for no plan or someone else's).
    pub async fn check_plan(&self, state: &AppState, plan_id: Uuid) -> Result<Uuid, AppError> {
        let team_id = plans::team_of(&state.db, plan_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.check_team(state, team_id).await?;
        Ok(team_id)
    }
}

/// Managers and admins; everyone else is refused.
fn planner(user: &User) -> Result<(), AppError> {
    if matches!(user.role, Some(Role::Admin | Role::Manager)) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "not_allowed",
            "only managers and admins plan territories",
        ))
    }
}

/// A [`Planner`] of the team in the path (`/api/teams/{team}/...`).
pub struct TeamPlanner {
    pub user: User,
    pub team_id: Uuid,
}

#[derive(Deserialize)]
struct TeamPath {
    team: Uuid,
}

impl FromRequestParts<AppState> for TeamPlanner {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        let (planner, TeamPath { team }) = Planner::admit_with_path(parts, state).await?;
        planner
            .check_team(state, team)
            .await
            .map_err(Denied::Error)?;
        Ok(TeamPlanner {
            user: planner.0,
            team_id: team,
        })
    }
}

/// A [`Planner`] of the team whose plan is in the path (`/api/plans/{id}/...`).
pub struct PlanPlanner {
    pub user: User,
    pub plan_id: Uuid,
    pub team_id: Uuid,
}

#[derive(Deserialize)]
struct PlanPath {
    id: Uuid,
}

impl FromRequestParts<AppState> for PlanPlanner {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        let (planner, PlanPath { id }) = Planner::admit_with_path(parts, state).await?;
        let team_id = planner.check_plan(state, id).await.map_err(Denied::Error)?;
        Ok(PlanPlanner {
            user: planner.0,
            plan_id: id,
            team_id,
        })
    }
}

/// Refuses a form post unless its `csrf` field is this session's token.
pub async fn csrf_form(session: &Session, presented: &str) -> Result<(), AppError> {
    check_csrf(
        session,
        presented,
        "the form expired; reload the page and try again",
    )
    .await
}

/// Refuses a cookie-authenticated API call unless `x-csrf-token` is this session's token.
pub async fn csrf_header(
    session: &Session,
    headers: &axum::http::HeaderMap,
) -> Result<(), AppError> {
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    check_csrf(session, presented, "missing or wrong x-csrf-token header").await
}

async fn check_csrf(
    session: &Session,
    presented: &str,
    message: &'static str,
) -> Result<(), AppError> {
    if auth::csrf::verify(session, presented).await? {
        Ok(())
    } else {
        Err(AppError::forbidden("csrf", message))
    }
}

/// Refuses a request whose `Origin` header names another site than `public_url`'s
/// (`TERRANE_PUBLIC_URL`) with 403 `origin`. Browsers always send `Origin` on WebSocket
/// handshakes, so a page elsewhere cannot open a socket with a token it holds; without the
/// header (a phone app) the request passes and its token decides.
pub fn same_origin(
    headers: &axum::http::HeaderMap,
    public_url: &reqwest::Url,
) -> Result<(), AppError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    let own = public_url.origin().ascii_serialization();
    if origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own)) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "origin",
            "this socket does not accept connections from other sites",
        ))
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The rep record of a signed-in rep (their own track, their alerts); anyone else is refused
/// with `message`.
pub fn own_rep(user: &User, message: &'static str) -> Result<Uuid, AppError> {
    match (user.role, user.rep_id) {
        (Some(Role::Rep), Some(rep)) => Ok(rep),
        _ => Err(AppError::forbidden("forbidden", message)),
    }
}

/// A rep sending their own location: a device token (`Authorization: Bearer trd_…`, what
/// phones use) or, without one, the rep's signed-in session with the CSRF header (the rep
/// page). Holds the rep's id and their user's; the rep is always the caller, never a value in
/// the body.
pub struct RepDevice {
    pub rep: Uuid,
    pub user: Uuid,
}

impl FromRequestParts<AppState> for RepDevice {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let user = if let Some(presented) = bearer_token(&parts.headers) {
            let device = auth::devices::verify(&state.db, presented)
                .await
                .map_err(|e| AppError::from(e).into_response())?;
            let Some(device) = device else {
                return Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "a valid device token is required",
                ));
            };
            auth::db::user_by_id(&state.db, device.user_id)
                .await
                .map_err(|e| AppError::from(e).into_response())?
                .ok_or_else(|| AppError::NotFound.into_response())?
        } else {
            let SignedIn(user) = SignedIn::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
            CsrfHeader::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
            user
        };
        match (user.role, user.rep_id) {
            (Some(Role::Rep), Some(rep)) => Ok(RepDevice { rep, user: user.id }),
            _ => Err(
                AppError::forbidden("forbidden", "only reps send their location").into_response(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn with_origin(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        headers
    }

    #[test]
    fn only_the_public_origin_or_none_passes() {
        let public = reqwest::Url::parse("https://terrane.example.com/").expect("url");
        for ok in [None, Some("https://terrane.example.com")] {
            assert!(same_origin(&with_origin(ok), &public).is_ok(), "{ok:?}");
        }
        for refused in [
            "https://evil.example.com",
            "http://terrane.example.com",
            "https://terrane.example.com:8443",
            "null",
        ] {
            assert!(
                same_origin(&with_origin(Some(refused)), &public).is_err(),
                "{refused}"
            );
        }
    }
}
