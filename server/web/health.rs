//! Liveness, readiness and metrics endpoints for orchestrators and Prometheus.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{AppState, DEPENDENCY_PROBE_TIMEOUT};

/// Liveness, readiness and Prometheus metrics.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String)]
    status: &'static str,
}

/// The process is up (says nothing about dependencies).
#[utoipa::path(get, path = "/healthz", tag = "health", summary = "The process is up",
    responses((status = 200, description = "up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether the server can do its work, and what is down when not.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(value_type = String)]
    status: &'static str,
    checks: Checks,
}

/// Each dependency: `ok` or `down`.
#[derive(Serialize, ToSchema)]
struct Checks {
    #[schema(value_type = String)]
    database: &'static str,
    #[schema(value_type = String)]
    osrm: &'static str,
}

/// 200 when the database and OSRM both answer; otherwise 503 naming what is down.
#[utoipa::path(get, path = "/readyz", tag = "health", summary = "The database and OSRM answer",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "a dependency is down", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let db = tokio::time::timeout(DEPENDENCY_PROBE_TIMEOUT, crate::db::ping(&state.db));
    let osrm = tokio::time::timeout(DEPENDENCY_PROBE_TIMEOUT, state.osrm.ping());
    let (db, osrm) = tokio::join!(db, osrm);
    let db_ok = matches!(db, Ok(Ok(())));
    let osrm_ok = matches!(osrm, Ok(Ok(())));
    let word = |ok: bool| if ok { "ok" } else { "down" };
    let ready = db_ok && osrm_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !ready {
        tracing::warn!(database = word(db_ok), osrm = word(osrm_ok), "not ready");
    }
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        checks: Checks {
            database: word(db_ok),
            osrm: word(osrm_ok),
        },
    };
    (status, Json(body))
}

/// Prometheus text exposition format.
/// With `TERRANE_METRICS_TOKEN` set, only a scraper sending it as a bearer token gets them.
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let presented = super::guard::bearer_token(&headers).unwrap_or_default();
        // Hashes first: equal lengths, so the comparison time says nothing about the token.
        let same = crate::auth::csrf::constant_time_eq(
            &crate::auth::secret::sha256(presented),
            &crate::auth::secret::sha256(expected),
        );
        if !same {
            return crate::error::error_response(
                axum::http::StatusCode::UNAUTHORIZED,
                "metrics_token",
                "send the metrics token as Authorization: Bearer",
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
