//! The one error type users see: a status code plus a JSON body; internals of 5xx stay in the logs.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use crate::spatial::SpatialError;

/// Errors returned by HTTP handlers.
#[derive(Debug, Error)]
pub enum AppError {
    /// The request's input is malformed; `code` is a stable machine-readable tag.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Authenticated but not allowed, or a failed CSRF check; `code` is a stable tag.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Input the framework could not parse (form, path or query); status as it chose it.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error("not found")]
    NotFound,
    /// The request clashes with the state of what it changes (a published plan, a job already
    /// running...): 409 with the code `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (database, OSRM) is down; clients may retry.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn rejected(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Rejected {
            status,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Rejected { status, .. } => *status,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(e) if is_connection_error(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Forbidden { code, .. } => code,
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Rejected { .. } => "invalid_request",
            Self::Unavailable(_) => "unavailable",
            Self::Database(e) if is_connection_error(e) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }
}

/// Makes the error a constraint violation is answered with.
type Answer = fn() -> AppError;

/// The database constraints a request can run into, and the error the caller gets for each:
/// the one table from constraint names to user-facing errors. A violation of any other
/// constraint is a bug and stays a 500.
const CONSTRAINTS: &[(&str, Answer)] = &[
    ("territory_plans_one_published", || {
        AppError::conflict("another plan of this team was published meanwhile; reload the plans")
    }),
    ("territory_rules_position_key", || {
        AppError::conflict("the team's rules changed meanwhile; reload the rules and try again")
    }),
];

/// The user-facing error for a violation of a constraint of [`CONSTRAINTS`].
fn constraint_error(e: &sqlx::Error) -> Option<AppError> {
    let name = crate::db::violated_constraint(e)?;
    CONSTRAINTS
        .iter()
        .find(|(constraint, _)| *constraint == name)
        .map(|(_, error)| error())
}

/// `on_constraint` for results whose error converts into an [`AppError`] (after the
/// realworld-axum-sqlx helper of the same name).
pub trait ResultExt<T> {
    /// Answers a violation of a known database constraint with its user-facing error (see
    /// [`CONSTRAINTS`]); any other error converts as usual.
    fn on_constraint(self) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> ResultExt<T> for Result<T, E> {
    fn on_constraint(self) -> Result<T, AppError> {
        self.map_err(|e| match e.into() {
            AppError::Database(db) => constraint_error(&db).unwrap_or(AppError::Database(db)),
            other => other,
        })
    }
}

/// True when the database could not be reached at all (as opposed to a failing query).
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    )
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("session store"))
    }
}

impl From<crate::auth::AuthError> for AppError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match e {
            AuthError::Database(e) => Self::Database(e),
            AuthError::UnknownUser => Self::bad_request("unknown_user", "no such user"),
            AuthError::Session(e) => e.into(),
        }
    }
}

/// The JSON error envelope every API error uses: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(inline)]
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// A stable, machine-readable tag (`invalid_request`, `not_found`, `conflict`, `csrf`, ...).
    pub code: &'a str,
    /// A sentence for people; never internal details for 5xx.
    pub message: &'a str,
}

/// Answers `status` with the [`ErrorBody`] envelope.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    (status, Json(body)).into_response()
}

impl From<SpatialError> for AppError {
    fn from(e: SpatialError) -> Self {
        Self::bad_request("invalid_geometry", e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let code = self.code();
        let message = if status.is_server_error() {
            // Log the cause (never request data); the client gets a generic message.
            tracing::error!(error = %self, "request failed");
            match self {
                Self::Unavailable(what) => format!("{what} is unavailable, try again later"),
                Self::Database(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                    "the database is unavailable, try again later".to_owned()
                }
                _ => "internal error".to_owned(),
            }
        } else {
            self.to_string()
        };
        error_response(status, code, &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_answers_409_with_the_conflict_code() {
        let e = AppError::conflict("only drafts can be edited");
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        assert_eq!(e.code(), "conflict");
    }

    #[test]
    fn errors_other_than_known_constraints_convert_as_usual() {
        let r: Result<(), sqlx::Error> = Err(sqlx::Error::RowNotFound);
        assert!(matches!(r.on_constraint(), Err(AppError::Database(_))));
        let r: Result<(), AppError> = Err(AppError::NotFound);
        assert!(matches!(r.on_constraint(), Err(AppError::NotFound)));
    }
}
