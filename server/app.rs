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
use crate::crm::clients::CrmClients;
use crate::crm::ingest::Intake;
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
    /// Webhook intake (verifies and commits to the CRM inbox).
    pub intake: Intake,
    /// Reads CRM records through their APIs (worker change notices, reconciliation).
    pub crm: Arc<CrmClients>,
    /// The geocoding provider chain, its events and workers.
    pub geocoding: crate::geocode::service::Geocoding,
    /// The background job queue (plans, "reconcile now").
    pub jobs: crate::jobs::Jobs,
    /// Day-plan settings and the travel-matrix cache.
    pub dayplans: crate::dayplan::DayPlanSettings,
    /// Live location: its settings and the per-rep ping limit.
    pub live: Arc<crate::live::Live>,
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
            .context("building the OSRM HTTP client")?
            .with_max_table_size(config.osrm_max_table_size);
        let signin_limiter = SignInLimiter::new(config.signin_per_minute);
        let oidc = config
            .oidc
            .clone()
            .map(|c| OidcProvider::new(c, &config.public_url))
            .transpose()
            .context("building the OpenID Connect client")?;
        let crm = Arc::new(
            CrmClients::new(
                db.clone(),
                config.crm.secret_key.clone(),
                config.crm.api_timeout,
            )
            .context("building the CRM HTTP client")?,
        );
        let intake = Intake {
            db: db.clone(),
            key: config.crm.secret_key.clone(),
            public_url: config.public_url.as_str().trim_end_matches('/').to_owned(),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        let geocoding = crate::geocode::service::Geocoding::new(
            db.clone(),
            &config.geocode,
            reqwest::Client::new(),
        )
        .context("building the geocoding providers")?;
        // Heavy jobs get their own small pool: a plan computing can never take the
        // connections requests and webhooks need.
        let heavy = sqlx::postgres::PgPoolOptions::new()
            .max_connections(config.jobs.db_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with((*db.connect_options()).clone());
        let jobs = crate::jobs::Jobs::new(
            db.clone(),
            heavy,
            Some(osrm.clone()),
            Arc::clone(&crm),
            config.crm.clock_guard(),
            config.jobs.clone(),
        );
        Ok(Self(Arc::new(App {
            dayplans: crate::dayplan::DayPlanSettings::new(&config.routes),
            live: Arc::new(crate::live::Live::new(config.live.clone())),
            jobs,
            geocoding,
            intake,
            crm,
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
