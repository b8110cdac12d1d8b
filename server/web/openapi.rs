//! The OpenAPI 3.1 document of the JSON API, generated from the handlers' `#[utoipa::path]`
//! attributes and their types, served at `/api/openapi.json` and rendered at `/docs/api`.
//!
//! The JSON API is everything under `/api/` plus the health probes. Pages, forms and the CRM
//! webhooks (whose formats are the vendors', `docs/crm-events.md`) are not in it. The test
//! command runs schemathesis against this document (`scripts/api-check.sh`), so a response
//! that does not match it fails the suite.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use crate::app::AppState;
use crate::error::ErrorBody;

use super::{accounts, alerts, days, devices, geocoding, health, live_map, pings, territories};

/// The OpenAPI document and its page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(document))
        .route("/docs/api", get(page))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Terrane API",
        description = "Accounts on the map, territory planning and device tokens. \
            Cookie-authenticated calls that change something send the `x-csrf-token` header \
            (pages carry the token in `data-csrf`). Errors are \
            `{\"error\": {\"code\", \"message\"}}`. Coordinates are longitude, latitude \
            (WGS 84); workloads are minutes per year; values are in the CRM's currency.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later")
    ),
    paths(
        accounts::list,
        geocoding::move_pin,
        devices::issue,
        devices::revoke_mine,
        pings::pings_post,
        pings::track_get,
        pings::track_delete,
        pings::admin_track_delete,
        alerts::my_alerts,
        alerts::alert_action,
        alerts::team_alerts,
        alerts::rules_get,
        alerts::rules_put,
        alerts::precise_put,
        live_map::team_live,
        territories::list_teams,
        territories::list_plans,
        territories::create_plan,
        territories::list_rules,
        territories::create_rule,
        territories::reorder_rules,
        territories::get_workload,
        territories::set_workload,
        territories::update_rule,
        territories::delete_rule,
        territories::compare,
        territories::get_plan,
        territories::delete_plan,
        territories::plan_accounts,
        territories::plan_shapes,
        territories::plan_tile_json,
        territories::plan_tile,
        territories::move_accounts,
        territories::rebalance,
        territories::diff,
        territories::writeback_preview,
        territories::publish,
        territories::rollback,
        territories::lock_account,
        territories::unlock_account,
        territories::assignment,
        days::rep_day_get,
        days::rep_day_replan,
        days::day_settings_get,
        days::day_settings_put,
        days::team_day_plan,
        days::team_visits,
        days::appointment_create,
        days::appointment_update,
        days::appointment_cancel,
        days::visit_log,
        health::healthz,
        health::readyz,
    ),
    modifiers(&Security),
    tags(
        (name = "accounts", description = "Accounts on the map and their pins"),
        (name = "territories", description = "Teams, plans, rules, locks and publishing \
            (docs/territories-api.md)"),
        (name = "devices", description = "Device tokens for reps' phones"),
        (name = "live", description = "Reps' location pings (docs/live.md)"),
        (name = "routes", description = "Day plans, appointments and visits (docs/routing.md)"),
        (name = "health", description = "Probes for orchestrators"),
    )
)]
pub struct ApiDoc;

/// The three ways a client proves who it is.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "terrane_session",
                "The browser session from signing in (`__Host-terrane_session` over https).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-csrf-token",
                "The session's CSRF token, on every cookie-authenticated call that changes \
                 something.",
            ))),
        );
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A rep's 15-minute device token (`trd_…`) from `POST /api/device-token`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`trn_…`) an admin created on /admin/tokens.",
                    ))
                    .build(),
            ),
        );
    }
}

fn error_response(description: &str) -> RefOr<openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            openapi::ContentBuilder::new()
                .schema(Some(<ErrorBody as PartialSchema>::schema()))
                .build(),
        )
        .build()
        .into()
}

fn errors(statuses: &[(&str, &str)]) -> BTreeMap<String, RefOr<openapi::Response>> {
    statuses
        .iter()
        .map(|(status, description)| ((*status).to_owned(), error_response(description)))
        .collect()
}

const BAD_REQUEST: (&str, &str) = (
    "400",
    "The input is malformed (the message says which part).",
);
const UNAUTHENTICATED: (&str, &str) = ("401", "Not signed in (or an unknown API token).");
const FORBIDDEN: (&str, &str) = (
    "403",
    "Signed in, but the role does not allow it, access is still waiting for an admin, or the \
     CSRF token is missing or wrong.",
);
const NOT_FOUND: (&str, &str) = (
    "404",
    "No such thing, or it belongs to a team the caller does not plan.",
);
const CONFLICT: (&str, &str) = (
    "409",
    "Code `conflict`: the state does not allow it now (a published plan, a plan being computed, a locked account, \
     a plan job of the team already queued or running: one per team at a time).",
);
const TOO_LARGE: (&str, &str) = ("413", "The body is larger than the server accepts.");
const MEDIA_TYPE: (&str, &str) = ("415", "The body is not `application/json`.");
const UNPROCESSABLE: (&str, &str) = ("422", "The JSON body does not have the documented shape.");
const UNAVAILABLE: (&str, &str) = ("503", "The database is unavailable; try again later.");

/// What any operation may answer: a malformed input, no or the wrong caller, nothing there, no
/// database.
const ANY_OPERATION: [(&str, &str); 5] = [
    BAD_REQUEST,
    UNAUTHENTICATED,
    FORBIDDEN,
    NOT_FOUND,
    UNAVAILABLE,
];

/// Answers every reading operation may give besides its own.
pub struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        errors(&ANY_OPERATION)
    }
}

/// Answers every changing operation may give besides its own: those of any operation, and a
/// conflict or a body the server does not take.
pub struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        let mut all = errors(&ANY_OPERATION);
        all.extend(errors(&[CONFLICT, TOO_LARGE, MEDIA_TYPE, UNPROCESSABLE]));
        all
    }
}

/// `{"id": ...}` of what a call created or started.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Created {
    pub id: uuid::Uuid,
}

/// `GET /api/openapi.json`
pub async fn document() -> Response {
    let mut resp = Json(ApiDoc::openapi()).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[derive(Template, WebTemplate)]
#[template(path = "api_docs.html")]
pub struct ApiDocsPage {
    pub title: String,
    pub description: String,
    pub operations: Vec<OperationView>,
}

/// One operation as the docs page lists it.
pub struct OperationView {
    pub method: &'static str,
    pub path: String,
    pub anchor: String,
    pub summary: String,
    pub description: String,
    pub auth: String,
    pub parameters: Vec<(String, String, bool, String)>,
    pub request: Option<String>,
    pub responses: Vec<(String, String, Option<String>)>,
}

/// `GET /docs/api`: the document as a page (no script: every operation, its parameters,
/// body and answers, with the schemas as JSON).
pub async fn page() -> ApiDocsPage {
    let doc = ApiDoc::openapi();
    let mut operations = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
        ];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            operations.push(operation_view(method, path, op));
        }
    }
    ApiDocsPage {
        title: "Terrane API".into(),
        description: doc.info.description.clone().unwrap_or_default(),
        operations,
    }
}

fn operation_view(
    method: &'static str,
    path: &str,
    op: &openapi::path::Operation,
) -> OperationView {
    fn schema_text<'a>(
        mut content: impl Iterator<Item = (&'a String, &'a openapi::Content)>,
    ) -> Option<String> {
        content.next().map(|(mime, c)| {
            let schema = c
                .schema
                .as_ref()
                .and_then(|s| serde_json::to_string_pretty(s).ok())
                .unwrap_or_default();
            format!("{mime}\n{schema}")
        })
    }
    let auth = op.security.as_ref().map_or_else(
        || "none".to_owned(),
        |reqs| {
            reqs.iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                .map(|names| names.join(" + "))
                .collect::<Vec<_>>()
                .join(" or ")
        },
    );
    OperationView {
        method,
        path: path.to_owned(),
        anchor: format!(
            "{}{}",
            method.to_ascii_lowercase(),
            path.replace(['/', '{', '}'], "-")
        ),
        summary: op.summary.clone().unwrap_or_default(),
        description: op.description.clone().unwrap_or_default(),
        auth,
        parameters: op
            .parameters
            .iter()
            .flatten()
            .map(|p| {
                let location = serde_json::to_value(&p.parameter_in)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let required = matches!(p.required, openapi::Required::True);
                (
                    p.name.clone(),
                    location,
                    required,
                    p.description.clone().unwrap_or_default(),
                )
            })
            .collect(),
        request: op
            .request_body
            .as_ref()
            .and_then(|b| schema_text(b.content.iter())),
        responses: op
            .responses
            .responses
            .iter()
            .map(|(status, r)| match r {
                RefOr::T(r) => (
                    status.clone(),
                    r.description.clone(),
                    schema_text(r.content.iter()),
                ),
                RefOr::Ref(r) => (status.clone(), r.ref_location.clone(), None),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utoipa names a schema by its type's name and keeps one per name: two types with the
    /// same name would silently describe one endpoint with the other's schema.
    #[test]
    fn every_schema_type_has_its_own_name() {
        fn walk(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("server dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source");
                    let mut derives_schema = false;
                    for line in text.lines() {
                        let line = line.trim();
                        if line.starts_with("#[derive(") && line.contains("ToSchema") {
                            derives_schema = true;
                        } else if derives_schema
                            && let Some(rest) = ["pub struct ", "pub enum ", "struct ", "enum "]
                                .iter()
                                .find_map(|k| line.strip_prefix(k))
                        {
                            let name: String = rest
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            found.push((name, path.display().to_string()));
                            derives_schema = false;
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("server"),
            &mut found,
        );
        assert!(found.len() > 30, "{} schema types found", found.len());
        found.sort();
        for pair in found.windows(2) {
            assert_ne!(
                pair[0].0, pair[1].0,
                "two schema types named alike: {pair:?}"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_operation_says_who_may_call_it() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 25, "{} paths", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                let public = path == "/healthz" || path == "/readyz";
                assert_eq!(
                    op.get("security").is_some(),
                    !public,
                    "{method} {path}: security stated"
                );
                let changes = method != "get";
                if changes {
                    let needs_csrf = op["security"]
                        .as_array()
                        .expect("security")
                        .iter()
                        // A bearer device token is not sent by browsers on their own, so it
                        // needs no CSRF header; every cookie session does.
                        .all(|r| r.get("csrf").is_some() || r.get("device_token").is_some());
                    assert!(needs_csrf, "{method} {path} needs the CSRF header");
                }
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}: answers documented"
                );
            }
        }
        for scheme in ["session", "csrf", "api_token", "device_token"] {
            assert!(
                doc["components"]["securitySchemes"].get(scheme).is_some(),
                "{scheme}"
            );
        }
    }

    /// `(method, path)` of every `/api` route the router declares, so a new route without a
    /// documented operation fails.
    fn routed_api_operations() -> std::collections::BTreeSet<(String, String)> {
        crate::web::routes::declared()
            .into_iter()
            .filter(|(_, path)| path.starts_with("/api/") && path != "/api/openapi.json")
            .collect()
    }

    #[test]
    fn every_api_route_is_a_documented_operation() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().expect("path item").keys().cloned();
                methods.map(move |m| (m, path.clone()))
            })
            .filter(|(_, path)| path.starts_with("/api/"))
            .collect();
        let routed = routed_api_operations();
        assert!(routed.len() >= 25, "read {} routes", routed.len());
        let missing: Vec<_> = routed.difference(&documented).collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        let stale: Vec<_> = documented.difference(&routed).collect();
        assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    }
}
