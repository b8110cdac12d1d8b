//! Liveness, readiness and metrics endpoints for orchestrators and Prometheus.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::app::{AppState, DEPENDENCY_PROBE_TIMEOUT};

/// The process is up (says nothing about dependencies).
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    database: &'static str,
    osrm: &'static str,
}

/// 200 when the database and OSRM both answer; otherwise 503 naming what is down.
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
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
