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
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(e) if is_connection_error(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Forbidden { code, .. } => code,
            Self::NotFound => "not_found",
            Self::Rejected { .. } => "invalid_request",
            Self::Unavailable(_) => "unavailable",
            Self::Database(e) if is_connection_error(e) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
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
    /// A stable, machine-readable tag (`invalid_request`, `not_found`, `csrf`, ...).
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
