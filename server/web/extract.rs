//! axum's `Form`, `Path` and `Query`, rejecting bad input with our JSON error body (same
//! status axum picks: 400, 415 or 422) instead of axum's plain-text one.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::AppError;

#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(AppError))]
pub struct Form<T>(pub T);

/// A JSON request body; a malformed one gets our JSON error body too.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct JsonBody<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// Each extractor's rejection becomes an [`AppError`] with the rejection's status and text.
macro_rules! rejection_into_app_error {
    ($($rejection:ty),+) => {
        $(impl From<$rejection> for AppError {
            fn from(r: $rejection) -> Self {
                AppError::rejected(r.status(), r.body_text())
            }
        })+
    };
}

rejection_into_app_error!(FormRejection, PathRejection, QueryRejection, JsonRejection);
