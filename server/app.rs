//! The application state shared by every request: configuration, database pool and outside clients.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::auth::devices::Revocations;
use crate::auth::oidc::OidcProvider;
use crate::auth::ratelimit::SignInLimiter;
use crate::config::Config;
use crate::routing::OsrmClient;

/// Everything a handler may reach, built once at start-up.
pub struct App {
    pub config: Config,
    pub db: PgPool,
    pub osrm: OsrmClient,
    pub metrics: PrometheusHandle,
    pub signin_limiter: SignInLimiter,
    /// The company's identity provider, when configured.
    pub oidc: Option<OidcProvider>,
    /// Device-token revocations, for open sockets to close on.
    pub revocations: Revocations,
}

/// Cheap to clone; extracted with axum's `State`.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// How long a readiness probe waits for a dependency before calling it down.
pub const DEPENDENCY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl AppState {
    /// Wires the outside clients for `config` around an existing pool.
    pub fn new(config: Config, db: PgPool) -> anyhow::Result<Self> {
        let osrm = OsrmClient::new(config.osrm_url.clone(), Duration::from_secs(10))
            .context("building the OSRM HTTP client")?;
        let signin_limiter = SignInLimiter::new(config.signin_per_minute);
        let oidc = config
            .oidc
            .clone()
            .map(|c| OidcProvider::new(c, &config.public_url))
            .transpose()
            .context("building the OpenID Connect client")?;
        Ok(Self(Arc::new(App {
            revocations: Revocations::default(),
            oidc,
            signin_limiter,
            config,
            db,
            osrm,
            metrics: crate::telemetry::metrics_handle(),
        })))
    }
}
