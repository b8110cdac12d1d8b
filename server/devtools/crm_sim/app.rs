//! The simulator's HTTP router: both vendors' APIs behind their fault and token layers, and
//! the `/_sim` control API.

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::SimState;
use crate::{activities, control, hubspot, hubspot_tasks, middleware, salesforce};

pub fn router(sim: SimState) -> Router {
    let hubspot_api = Router::new()
        .route("/crm/v3/objects/companies", get(hubspot::list))
        .route("/crm/v3/objects/companies/{id}", get(hubspot::read_one))
        .route(
            "/crm/v3/objects/companies/batch/read",
            post(hubspot::batch_read),
        )
        .route(
            "/crm/v3/objects/companies/batch/update",
            post(hubspot::batch_update),
        )
        .route("/crm/v3/objects/meetings", post(activities::create_meeting))
        .route(
            "/crm/v3/objects/meetings/search",
            post(activities::search_meetings),
        )
        .route("/crm/v3/objects/tasks", post(hubspot_tasks::create_task))
        .route(
            "/crm/v3/objects/tasks/search",
            post(hubspot_tasks::search_tasks),
        )
        .route(
            "/crm/v4/associations/meetings/companies/batch/read",
            post(activities::meeting_companies),
        )
        .route_layer(from_fn_with_state(sim.clone(), middleware::require_hubspot));
    let hubspot = Router::new()
        .route("/oauth/v1/token", post(hubspot::token))
        .merge(hubspot_api)
        .route_layer(from_fn_with_state(sim.clone(), middleware::hubspot_faults));

    let salesforce_api = Router::new()
        .route("/services/data/{version}/query", get(salesforce::query))
        .route(
            "/services/data/{version}/query/{locator}",
            get(salesforce::query_more),
        )
        .route(
            "/services/data/{version}/sobjects/Account/{id}",
            get(salesforce::retrieve),
        )
        .route(
            "/services/data/{version}/composite/sobjects",
            axum::routing::patch(salesforce::collections_update),
        )
        .route(
            "/services/data/{version}/sobjects/Task/{field}/{value}",
            axum::routing::patch(activities::upsert_task),
        )
        .route(
            "/services/data/{version}/sobjects/Task/updated/",
            get(activities::updated_tasks),
        )
        .route(
            "/services/data/{version}/composite/sobjects/Task",
            post(activities::retrieve_tasks),
        )
        .route_layer(from_fn_with_state(
            sim.clone(),
            middleware::require_salesforce,
        ));
    let salesforce = Router::new()
        .route("/services/oauth2/token", post(salesforce::token))
        .merge(salesforce_api)
        .route_layer(from_fn_with_state(
            sim.clone(),
            middleware::salesforce_faults,
        ));

    Router::new()
        .merge(hubspot)
        .merge(salesforce)
        .nest("/_sim", control::router())
        .fallback(not_found)
        .with_state(sim)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not simulated\n").into_response()
}
