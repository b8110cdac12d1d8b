//! HTTP: the router, middleware and thin handlers that call capability services.

mod accounts;
mod auth;
mod demo;
mod devices;
mod extract;
mod geocoding;
pub mod guard;
mod health;
mod middleware;
mod openapi;
mod outbox;
mod pages;
pub mod routes;
mod sync;
mod territories;
mod webhooks;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::app::AppState;
use crate::error::AppError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let static_dir = ServeDir::new(&state.config.static_dir);
    let maplibre_dir = ServeDir::new(state.config.vendor_dir.join("maplibre-gl").join("dist"));
    let cfg = &state.config;
    let csp = middleware::content_security_policy(cfg.map_style_url.as_deref());
    // The style URL was validated as a URL at start-up, so the policy is plain ASCII.
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));

    let routes = Router::new()
        .route("/", get(pages::index))
        .route("/territories", get(territories::page))
        .route("/api/teams", get(territories::list_teams))
        .route(
            "/api/teams/{team}/plans",
            get(territories::list_plans).post(territories::create_plan),
        )
        .route(
            "/api/teams/{team}/rules",
            get(territories::list_rules).post(territories::create_rule),
        )
        .route(
            "/api/teams/{team}/rules/order",
            post(territories::reorder_rules),
        )
        .route(
            "/api/teams/{team}/workload",
            get(territories::get_workload).put(territories::set_workload),
        )
        .route(
            "/api/rules/{id}",
            put(territories::update_rule).delete(territories::delete_rule),
        )
        .route("/api/plans/compare", get(territories::compare))
        .route(
            "/api/plans/{id}",
            get(territories::get_plan).delete(territories::delete_plan),
        )
        .route("/api/plans/{id}/accounts", get(territories::plan_accounts))
        .route("/api/plans/{id}/shapes", get(territories::plan_shapes))
        .route("/api/plans/{id}/tiles", get(territories::plan_tile_json))
        .route(
            "/api/plans/{id}/tiles/{z}/{x}/{y}",
            get(territories::plan_tile),
        )
        .route("/api/plans/{id}/moves", post(territories::move_accounts))
        .route("/api/plans/{id}/rebalance", post(territories::rebalance))
        .route("/api/plans/{id}/diff", get(territories::diff))
        .route(
            "/api/plans/{id}/writeback-preview",
            get(territories::writeback_preview),
        )
        .route("/api/plans/{id}/publish", post(territories::publish))
        .route("/api/plans/{id}/rollback", post(territories::rollback))
        .route(
            "/api/accounts/{id}/lock",
            post(territories::lock_account).delete(territories::unlock_account),
        )
        .route(
            "/api/accounts/{id}/assignment",
            get(territories::assignment),
        )
        .route("/api/openapi.json", get(openapi::document))
        .route("/docs/api", get(openapi::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/accounts", get(accounts::list))
        .route("/api/accounts/{id}/location", post(geocoding::move_pin))
        .route("/admin/geocoding", get(geocoding::page))
        .route("/admin/geocoding/{id}/retry", post(geocoding::retry))
        .route("/api/device-token", post(devices::issue))
        .route("/api/device-tokens/revoke", post(devices::revoke_mine))
        .route("/live/ws", get(devices::socket))
        .route("/webhooks/hubspot", post(webhooks::hubspot))
        .route(
            "/webhooks/salesforce",
            post(webhooks::salesforce_without_token),
        )
        .route("/webhooks/salesforce/{token}", post(webhooks::salesforce))
        .route("/webhooks/standard/{connection}", post(webhooks::standard))
        .route("/login", get(auth::login_page))
        .route("/auth/demo", post(auth::demo_sign_in))
        .route("/auth/login", get(auth::oidc_start))
        .route("/auth/callback", get(auth::oidc_callback))
        .route("/auth/logout", post(auth::sign_out))
        .route("/admin/audit", get(auth::audit_page))
        .route("/admin/users", get(auth::users_page))
        .route(
            "/admin/tokens",
            get(auth::tokens_page).post(auth::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(auth::revoke_token))
        .route("/admin/users/{id}/role", post(auth::change_role))
        .route("/admin/users/{id}/disable", post(auth::disable_user))
        .route("/admin/users/{id}/enable", post(auth::enable_user))
        .route("/admin/sync", get(sync::sync_page))
        .route("/admin/sync/dead/{id}/retry", post(sync::retry_dead))
        .route("/admin/sync/reconcile/{name}", post(sync::reconcile_now))
        .route("/admin/connections", post(sync::create_connection))
        .route("/admin/connections/new", get(sync::new_connection))
        .route(
            "/admin/connections/{name}",
            get(sync::edit_connection).post(sync::update_connection),
        )
        .route("/admin/export/{file}", get(sync::export_csv))
        .merge(outbox::router())
        .nest_service("/static", static_dir)
        .nest_service("/vendor/maplibre-gl", maplibre_dir)
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(cfg.body_limit_bytes));
    // The CSV import takes files up to 20 MB: its own, larger body limit (axum's extractor
    // limit too, which would otherwise stop multipart bodies at 2 MB).
    let routes = routes.merge(
        Router::new()
            .route("/admin/import/{what}", post(sync::import_csv))
            .layer(DefaultBodyLimit::max(sync::IMPORT_BODY_LIMIT_BYTES))
            .layer(RequestBodyLimitLayer::new(sync::IMPORT_BODY_LIMIT_BYTES)),
    );
    // Inside the outer layers, so the banner goes into pages before they are compressed.
    let routes = if cfg.demo {
        routes.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            demo::banner,
        ))
    } else {
        routes
    };
    routes
        .layer(
            // Outermost first: the request id exists before tracing, which sees every status.
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(middleware::trace_layer())
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(SetResponseHeaderLayer::overriding(
                    header::CONTENT_SECURITY_POLICY,
                    csp,
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("strict-origin-when-cross-origin"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(axum::middleware::from_fn(middleware::record_metrics))
                .layer(axum::middleware::from_fn(middleware::json_too_large))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    cfg.request_timeout,
                ))
                .layer(CompressionLayer::new())
                .layer(session_layer(&state)),
        )
        .with_state(state)
}

/// Browser sessions in PostgreSQL. The cookie is `HttpOnly`, `SameSite=Lax`, and when served
/// over HTTPS `Secure` with the `__Host-` prefix (bound to this host, path `/`).
fn session_layer(state: &AppState) -> SessionManagerLayer<PostgresStore> {
    let store = session_store(state);
    let https = state.config.https();
    let idle = time::Duration::seconds(
        i64::try_from(state.config.session_idle.as_secs()).unwrap_or(i64::MAX),
    );
    SessionManagerLayer::new(store)
        .with_name(if https {
            "__Host-terrane_session"
        } else {
            "terrane_session"
        })
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// The session store over our `public.sessions` table (created by a migration).
pub fn session_store(state: &AppState) -> PostgresStore {
    PostgresStore::new(state.db.clone())
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("sessions"))
        .expect("static, valid identifiers")
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connect info gives handlers the client's address (sign-in rate limit).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
