//! HTTP: the router, middleware and thin handlers that call capability services.

mod accounts;
mod alerts;
mod auth;
mod days;
mod demo;
mod devices;
mod extract;
mod geocoding;
pub mod guard;
mod health;
mod live_map;
mod middleware;
mod openapi;
mod outbox;
mod pages;
mod pings;
pub mod routes;
mod sync;
mod territories;
mod webhooks;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
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
        .merge(pages::router())
        .merge(territories::router())
        .merge(openapi::router())
        .merge(health::router())
        .merge(accounts::router())
        .merge(geocoding::router())
        .merge(devices::router())
        .merge(webhooks::router())
        .merge(auth::router())
        .merge(sync::router())
        .merge(outbox::router())
        .merge(days::router())
        .merge(pings::router())
        .merge(alerts::router())
        .merge(live_map::router())
        .nest_service("/static", static_dir)
        .nest_service("/vendor/maplibre-gl", maplibre_dir)
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(cfg.body_limit_bytes));
    // The CSV import takes files up to 20 MB: its own, larger body limit (axum's extractor
    // limit too, which would otherwise stop multipart bodies at 2 MB).
    let routes = routes.merge(
        sync::import_router()
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
    // Live sockets need their flushes, the fan-out listener and the proximity index.
    let live = state.live.start(&state.db);
    // Connect info gives handlers the client's address (sign-in rate limit).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Frames go out as soon as they are written (an ack, then an alert right after it).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    live.stop().await;
    served
}
