//! Runtime configuration read from environment variables, checked once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

pub use crate::auth::oidc::OidcConfig;
pub use crate::auth::ratelimit::ClientIpConfig;
pub use crate::jobs::JobsConfig;
pub use crate::net::{is_loopback_host, is_loopback_http};
pub use crate::telemetry::{LogConfig, LogFormat};

/// Default values, also listed in `.env.example` and the README.
pub mod defaults {
    pub const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/terrane";
    pub const BIND: &str = "127.0.0.1:8080";
    pub const OSRM_URL: &str = "http://127.0.0.1:5000";
    /// osrm-routed's own default `--max-table-size`.
    pub const OSRM_MAX_TABLE_SIZE: usize = crate::routing::DEFAULT_MAX_TABLE_SIZE.get();
    pub const LOG: &str = "info";
    pub const DB_MAX_CONNECTIONS: u32 = 16;
    pub const REQUEST_TIMEOUT_S: u64 = 30;
    pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
    pub const STATIC_DIR: &str = "static";
    pub const VENDOR_DIR: &str = "web/node_modules";
    pub const SESSION_IDLE_MIN: u64 = 480;
    pub const SESSION_MAX_HOURS: u64 = 12;
    pub const SIGNIN_PER_MINUTE: u32 = 10;
    pub const SYNC_WORKERS: usize = 2;
    pub const RECONCILE_AT: &str = "02:30";
    pub const CRM_TIMEOUT_S: u64 = 30;
    pub const INBOX_RETENTION_DAYS: u32 = 30;
    pub const CRM_CLOCK_SKEW_S: u64 = 300;
    pub const JOB_LEASE_S: u64 = 60;
    pub const JOB_MAX_ATTEMPTS: i32 = 3;
    pub const JOB_RETRY_S: u64 = 30;

    /// Plan jobs at once: half the cores, at least one.
    pub fn plan_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    /// The heavy jobs' share of the database pool: a quarter, at least two connections (a
    /// plan's transaction and its progress reports).
    /// (Never all of it: requests keep one connection at least.)
    pub fn job_db_connections(db_max_connections: u32) -> u32 {
        (db_max_connections / 4)
            .max(2)
            .min(db_max_connections.saturating_sub(1))
            .max(1)
    }
}

/// A configuration problem; the message always names the variable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}: {reason} (got {value:?})")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub db_max_connections: u32,
    pub bind: SocketAddr,
    pub osrm_url: reqwest::Url,
    /// The `--max-table-size` the OSRM server runs with: duration matrices are requested in
    /// blocks that fit it.
    pub osrm_max_table_size: std::num::NonZeroUsize,
    pub log: LogConfig,
    /// MapLibre style for the base map; `None` draws accounts on a plain background.
    pub map_style_url: Option<String>,
    pub static_dir: PathBuf,
    /// Folder holding the npm packages (`maplibre-gl/dist` is served from it).
    pub vendor_dir: PathBuf,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    /// The URL users reach the server at; `https` makes cookies `Secure` and `__Host-` prefixed.
    pub public_url: reqwest::Url,
    /// Demo mode: a local sign-in page offering the seeded demo users (no identity provider).
    pub demo: bool,
    /// A session ends after this long without requests.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_max_age: Duration,
    /// Sign-in attempts allowed per client IP address per minute.
    pub signin_per_minute: std::num::NonZeroU32,
    /// Where the client's address comes from behind a reverse proxy.
    pub client_ip: ClientIpConfig,
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>` (`TERRANE_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// The company's OpenID Connect provider, when configured.
    pub oidc: Option<OidcConfig>,
    /// CRM sync settings.
    pub crm: CrmConfig,
    /// Geocoding settings.
    pub geocode: crate::geocode::service::GeocodeConfig,
    /// Background jobs (plans, "reconcile now").
    pub jobs: JobsConfig,
    /// Day plans: solver time, prospect detour budget, visit distance flag, estimate speed.
    pub routes: crate::dayplan::RouteConfig,
    /// Live location: ping clock skew, lateness, rate limit, coarse precision, retention.
    pub live: crate::live::LiveConfig,
}

/// CRM sync: the key sealing connection secrets, inbox workers, the nightly reconciliation.
#[derive(Debug, Clone)]
pub struct CrmConfig {
    /// Seals connection secrets and OAuth2 tokens (`TERRANE_SECRET_KEY`, 32 bytes base64).
    /// Without it connections cannot be created or used; webhooks are refused with 503.
    pub secret_key: Option<crate::crm::crypto::SecretKey>,
    /// Inbox worker tasks in this process (`TERRANE_SYNC_WORKERS`; 0 = none, for instances
    /// that only accept webhooks).
    pub workers: usize,
    /// Time of day (UTC) of the nightly reconciliation (`TERRANE_RECONCILE_AT`, `HH:MM`, or
    /// `off`).
    pub reconcile_at: Option<chrono::NaiveTime>,
    /// Timeout of each call to a CRM's API (`TERRANE_CRM_TIMEOUT_S`).
    pub api_timeout: Duration,
    /// Processed inbox events are deleted after this many days (`TERRANE_INBOX_RETENTION_DAYS`).
    pub inbox_retention_days: u32,
    /// How far in the future a CRM modification time may lie before it is applied as "now"
    /// and counted (`TERRANE_CRM_CLOCK_SKEW_S`).
    pub clock_skew: Duration,
}

impl CrmConfig {
    /// The clock check every CRM writer is given.
    pub fn clock_guard(&self) -> crate::crm::apply::ClockGuard {
        crate::crm::apply::ClockGuard::new(self.clock_skew)
    }
}

impl Config {
    /// True when the session cookie must be `Secure` (served over HTTPS).
    pub fn https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let bind: SocketAddr = env.parse(
            "TERRANE_BIND",
            defaults::BIND,
            "expected host:port, e.g. 127.0.0.1:8080",
        )?;
        let demo = env.flag("TERRANE_DEMO")?;
        // Demo mode lets anyone sign in as anyone: only on loopback unless explicitly allowed.
        if demo && !bind.ip().is_loopback() && !env.flag("TERRANE_DEMO_ALLOW_REMOTE")? {
            return Err(invalid(
                "TERRANE_DEMO",
                "1",
                format!(
                    "demo mode lets anyone sign in as any user; refused on non-loopback \
                     TERRANE_BIND={bind} unless TERRANE_DEMO_ALLOW_REMOTE=1"
                ),
            ));
        }
        let oidc = env.oidc()?;
        // Demo mode is for servers without an identity provider: never both.
        if demo && oidc.is_some() {
            return Err(invalid(
                "TERRANE_DEMO",
                "1",
                "demo sign-in is only for servers without an identity provider; unset TERRANE_DEMO \
                 or the TERRANE_OIDC_* variables",
            ));
        }
        let default_public = format!("http://{bind}");
        let public_url = env.http_url("TERRANE_PUBLIC_URL", &default_public)?;
        // Whatever the bind, a demo must be reached over plain http on this machine: a
        // public or https address means strangers are meant to reach it.
        if demo && !is_loopback_http(&public_url) {
            return Err(invalid(
                "TERRANE_PUBLIC_URL",
                public_url.as_str(),
                "demo mode lets anyone sign in as any user, so it runs only behind an \
                 http://127.0.0.1, http://[::1] or http://localhost address; unset TERRANE_DEMO \
                 or set TERRANE_PUBLIC_URL to such an address",
            ));
        }
        let db_max_connections = env.parse_in_range(
            "TERRANE_DB_MAX_CONNECTIONS",
            defaults::DB_MAX_CONNECTIONS,
            1..=500,
        )?;
        Ok(Self {
            database_url: env.database_url()?,
            db_max_connections,
            jobs: env.jobs(db_max_connections)?,
            routes: crate::dayplan::RouteConfig {
                rep_time_ms: env.parse_in_range("TERRANE_ROUTE_REP_MS", 120, 10..=10_000)?,
                team_time_s: env.parse_in_range("TERRANE_ROUTE_TEAM_S", 5, 1..=60)?,
                max_iterations: env.parse_in_range("TERRANE_ROUTE_ITERATIONS", 0, 0..=u64::MAX)?,
                detour_minutes: env.parse_in_range("TERRANE_ROUTE_DETOUR_MIN", 15, 0..=240)?,
                visit_far_m: env.parse_in_range("TERRANE_VISIT_FAR_M", 300, 10..=100_000)?,
                estimate_kmh: env.parse_in_range("TERRANE_ROUTE_ESTIMATE_KMH", 30, 5..=130)?,
            },
            live: env.live()?,
            bind: env.parse(
                "TERRANE_BIND",
                defaults::BIND,
                "expected host:port, e.g. 127.0.0.1:8080",
            )?,
            osrm_url: env.http_url("TERRANE_OSRM_URL", defaults::OSRM_URL)?,
            osrm_max_table_size: std::num::NonZeroUsize::new(env.parse_in_range(
                "TERRANE_OSRM_MAX_TABLE_SIZE",
                defaults::OSRM_MAX_TABLE_SIZE,
                2..=1_000_000,
            )?)
            .unwrap_or(std::num::NonZeroUsize::MIN),
            log: LogConfig::from_lookup(&lookup)?,
            map_style_url: env
                .optional("TERRANE_MAP_STYLE_URL")
                .map(|v| check_url("TERRANE_MAP_STYLE_URL", &v).map(|_| v))
                .transpose()?,
            static_dir: env
                .string("TERRANE_STATIC_DIR", defaults::STATIC_DIR)
                .into(),
            vendor_dir: env
                .string("TERRANE_VENDOR_DIR", defaults::VENDOR_DIR)
                .into(),
            request_timeout: Duration::from_secs(env.parse_in_range(
                "TERRANE_REQUEST_TIMEOUT_S",
                defaults::REQUEST_TIMEOUT_S,
                1..=3600,
            )?),
            body_limit_bytes: env.parse_in_range(
                "TERRANE_BODY_LIMIT_BYTES",
                defaults::BODY_LIMIT_BYTES,
                1024..=64 * 1024 * 1024,
            )?,
            public_url,
            demo,
            session_idle: Duration::from_secs(
                60 * env.parse_in_range(
                    "TERRANE_SESSION_IDLE_MIN",
                    defaults::SESSION_IDLE_MIN,
                    1..=10_080,
                )?,
            ),
            oidc,
            signin_per_minute: std::num::NonZeroU32::new(env.parse_in_range(
                "TERRANE_SIGNIN_PER_MINUTE",
                defaults::SIGNIN_PER_MINUTE,
                1..=10_000,
            )?)
            .unwrap_or(std::num::NonZeroU32::MIN),
            client_ip: env.client_ip()?,
            metrics_token: env.metrics_token()?,
            session_max_age: Duration::from_secs(
                3600 * env.parse_in_range(
                    "TERRANE_SESSION_MAX_HOURS",
                    defaults::SESSION_MAX_HOURS,
                    1..=720,
                )?,
            ),
            crm: env.crm()?,
            geocode: env.geocode(&lookup)?,
        })
    }
}

impl LogConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let filter = env.string("TERRANE_LOG", defaults::LOG);
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
            return Err(invalid(
                "TERRANE_LOG",
                &filter,
                format!("not a log filter: {e}"),
            ));
        }
        let format = match env.optional("TERRANE_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "TERRANE_LOG_FORMAT",
                    other,
                    "expected pretty or json",
                ));
            }
        };
        Ok(Self { filter, format })
    }
}

/// The CRM clock check alone (`TERRANE_CRM_CLOCK_SKEW_S`), for commands (`import`) that need
/// nothing else of the configuration.
pub fn crm_clock_guard_from_env() -> Result<crate::crm::apply::ClockGuard, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    Ok(crate::crm::apply::ClockGuard::new(
        Env(&lookup).clock_skew()?,
    ))
}

/// Database URL alone, for commands (`migrate`, `seed`) that need nothing else.
pub fn database_url_from_env() -> Result<String, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    Env(&lookup).database_url()
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The geocoding variables, so a configuration error can name its variable statically.
const GEOCODE_VARS: &[&str] = &[
    "TERRANE_GEOCODERS",
    "TERRANE_GEOCODE_ACCEPT",
    "TERRANE_GEOCODE_TIMEOUT_MS",
    "TERRANE_NOMINATIM_URL",
    "TERRANE_NOMINATIM_PER_SECOND",
    "TERRANE_NOMINATIM_USER_AGENT",
    "TERRANE_GOOGLE_API_KEY",
    "TERRANE_GOOGLE_URL",
    "TERRANE_GOOGLE_PER_SECOND",
];

/// Typed access to the variables; an empty value counts as unset.
struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn optional(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, var: &str, default: &str) -> String {
        self.optional(var).unwrap_or_else(|| default.to_owned())
    }

    /// `1`/`true`/`yes` or `0`/`false`/`no`; unset is false.
    fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self
            .optional(var)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("0" | "false" | "no") => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some(other) => Err(invalid(var, other, "expected 1 or 0")),
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.string(var, default);
        raw.parse().map_err(|_| invalid(var, &raw, expected))
    }

    fn parse_in_range<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.optional(var) else {
            return Ok(default);
        };
        let expected = format!(
            "expected a whole number from {} to {}",
            range.start(),
            range.end()
        );
        match raw.parse::<T>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(invalid(var, &raw, expected)),
        }
    }

    fn live(&self) -> Result<crate::live::LiveConfig, ConfigError> {
        let nonzero = |v: u32| std::num::NonZeroU32::new(v).unwrap_or(std::num::NonZeroU32::MIN);
        Ok(crate::live::LiveConfig {
            future_skew: Duration::from_secs(self.parse_in_range(
                "TERRANE_PING_FUTURE_S",
                30,
                0..=3600,
            )?),
            late_after: Duration::from_secs(self.parse_in_range(
                "TERRANE_PING_LATE_S",
                120,
                10..=86_400,
            )?),
            per_minute: nonzero(self.parse_in_range("TERRANE_PING_PER_MIN", 60, 1..=6000)?),
            burst: nonzero(self.parse_in_range("TERRANE_PING_BURST", 10, 1..=500)?),
            coarse_precision: self.parse_in_range("TERRANE_COARSE_GEOHASH", 6, 1..=12)?,
            retention_days: self.parse_in_range("TERRANE_TRACK_RETENTION_DAYS", 60, 1..=3650)?,
            index_refresh: Duration::from_secs(self.parse_in_range(
                "TERRANE_LIVE_REFRESH_S",
                5,
                1..=3600,
            )?),
        })
    }

    fn client_ip(&self) -> Result<ClientIpConfig, ConfigError> {
        const VAR: &str = "TERRANE_TRUSTED_PROXIES";
        let Some(raw) = self.optional(VAR) else {
            return Ok(ClientIpConfig::default());
        };
        let trusted_proxies = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|_| invalid(VAR, p, "expected IP addresses separated by commas"))
            })
            .collect::<Result<Vec<std::net::IpAddr>, _>>()?;
        let name = self.string("TERRANE_CLIENT_IP_HEADER", "x-forwarded-for");
        let header = axum::http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| invalid("TERRANE_CLIENT_IP_HEADER", &name, "expected a header name"))?;
        Ok(ClientIpConfig {
            trusted_proxies,
            header: Some(header),
        })
    }

    fn metrics_token(&self) -> Result<Option<String>, ConfigError> {
        match self.optional("TERRANE_METRICS_TOKEN") {
            Some(t) if t.len() < 16 => Err(invalid(
                "TERRANE_METRICS_TOKEN",
                "(hidden)",
                "expected at least 16 characters",
            )),
            other => Ok(other),
        }
    }

    fn http_url(&self, var: &'static str, default: &str) -> Result<reqwest::Url, ConfigError> {
        let raw = self.string(var, default);
        check_url(var, &raw)
    }

    /// All three OIDC variables, or none of them.
    fn oidc(&self) -> Result<Option<OidcConfig>, ConfigError> {
        let issuer = self.optional("TERRANE_OIDC_ISSUER");
        let client_id = self.optional("TERRANE_OIDC_CLIENT_ID");
        let secret = self.optional("TERRANE_OIDC_CLIENT_SECRET");
        match (issuer, client_id, secret) {
            (None, None, None) => Ok(None),
            (Some(issuer), Some(client_id), Some(client_secret)) => Ok(Some(OidcConfig {
                issuer: check_url("TERRANE_OIDC_ISSUER", &issuer)?,
                client_id,
                client_secret,
            })),
            (issuer, client_id, _) => {
                let missing = if issuer.is_none() {
                    "TERRANE_OIDC_ISSUER"
                } else if client_id.is_none() {
                    "TERRANE_OIDC_CLIENT_ID"
                } else {
                    "TERRANE_OIDC_CLIENT_SECRET"
                };
                Err(invalid(
                    missing,
                    "",
                    "set TERRANE_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET together",
                ))
            }
        }
    }

    fn geocode(
        &self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<crate::geocode::service::GeocodeConfig, ConfigError> {
        let (providers, accept) =
            crate::geocode::provider::specs_from_lookup(lookup).map_err(|reason| {
                // The message names the variable; values of secrets are never in it.
                let var = reason
                    .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .find(|w| w.starts_with("TERRANE_"))
                    .unwrap_or("TERRANE_GEOCODERS");
                ConfigError::Invalid {
                    var: GEOCODE_VARS
                        .iter()
                        .find(|v| **v == var)
                        .copied()
                        .unwrap_or("TERRANE_GEOCODERS"),
                    value: "<hidden>".into(),
                    reason,
                }
            })?;
        Ok(crate::geocode::service::GeocodeConfig {
            providers,
            accept,
            workers: self.parse_in_range("TERRANE_GEOCODE_WORKERS", 1, 0..=16)?,
        })
    }

    fn crm(&self) -> Result<CrmConfig, ConfigError> {
        let secret_key = self
            .optional("TERRANE_SECRET_KEY")
            .map(|raw| {
                crate::crm::crypto::SecretKey::from_base64(&raw).map_err(|e| ConfigError::Invalid {
                    var: "TERRANE_SECRET_KEY",
                    // Never echo a key.
                    value: "<hidden>".into(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let at = self.string("TERRANE_RECONCILE_AT", defaults::RECONCILE_AT);
        let reconcile_at = if at.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(
                chrono::NaiveTime::parse_from_str(&at, "%H:%M").map_err(|_| {
                    invalid("TERRANE_RECONCILE_AT", &at, "expected HH:MM (UTC) or off")
                })?,
            )
        };
        Ok(CrmConfig {
            secret_key,
            workers: self.parse_in_range("TERRANE_SYNC_WORKERS", defaults::SYNC_WORKERS, 0..=64)?,
            reconcile_at,
            api_timeout: Duration::from_secs(self.parse_in_range(
                "TERRANE_CRM_TIMEOUT_S",
                defaults::CRM_TIMEOUT_S,
                1..=600,
            )?),
            inbox_retention_days: self.parse_in_range(
                "TERRANE_INBOX_RETENTION_DAYS",
                defaults::INBOX_RETENTION_DAYS,
                1..=3650,
            )?,
            clock_skew: self.clock_skew()?,
        })
    }

    fn clock_skew(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse_in_range(
            "TERRANE_CRM_CLOCK_SKEW_S",
            defaults::CRM_CLOCK_SKEW_S,
            0..=86_400,
        )?))
    }

    fn jobs(&self, db_max_connections: u32) -> Result<JobsConfig, ConfigError> {
        let db_connections = self.parse_in_range(
            "TERRANE_JOB_DB_CONNECTIONS",
            defaults::job_db_connections(db_max_connections),
            1..=500,
        )?;
        if db_connections >= db_max_connections && db_max_connections > 1 {
            return Err(invalid(
                "TERRANE_JOB_DB_CONNECTIONS",
                &db_connections.to_string(),
                format!(
                    "must be less than TERRANE_DB_MAX_CONNECTIONS ({db_max_connections}): \
                     requests need the rest of the pool"
                ),
            ));
        }
        Ok(JobsConfig {
            plan_jobs: self.parse_in_range("TERRANE_PLAN_JOBS", defaults::plan_jobs(), 0..=256)?,
            db_connections,
            lease: Duration::from_secs(self.parse_in_range(
                "TERRANE_JOB_LEASE_S",
                defaults::JOB_LEASE_S,
                1..=3600,
            )?),
            max_attempts: self.parse_in_range(
                "TERRANE_JOB_MAX_ATTEMPTS",
                defaults::JOB_MAX_ATTEMPTS,
                1..=100,
            )?,
            retry_delay: Duration::from_secs(self.parse_in_range(
                "TERRANE_JOB_RETRY_S",
                defaults::JOB_RETRY_S,
                0..=3600,
            )?),
        })
    }

    fn database_url(&self) -> Result<String, ConfigError> {
        let raw = self.string("DATABASE_URL", defaults::DATABASE_URL);
        match raw.parse::<sqlx::postgres::PgConnectOptions>() {
            Ok(_) if raw.starts_with("postgres://") || raw.starts_with("postgresql://") => Ok(raw),
            // Never echo the URL: it may hold a password.
            _ => Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                value: "<hidden>".into(),
                reason: "expected postgres://user@host:port/database".into(),
            }),
        }
    }
}

/// `raw` as an http(s) URL, or the error naming `var`.
fn check_url(var: &'static str, raw: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(raw).map_err(|e| invalid(var, raw, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(var, raw, "expected an http:// or https:// URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn error_var(pairs: &[(&str, &str)]) -> &'static str {
        match config_with(pairs) {
            Err(ConfigError::Invalid { var, .. }) => var,
            Ok(_) => panic!("expected an error for {pairs:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let cfg = config_with(&[]).expect("defaults are valid");
        assert_eq!(cfg.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.osrm_url.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(cfg.osrm_max_table_size.get(), 100);
        assert_eq!(cfg.database_url, defaults::DATABASE_URL);
        assert_eq!(cfg.log.format, LogFormat::Pretty);
        assert_eq!(cfg.map_style_url, None);
    }

    #[test]
    fn job_settings_default_to_half_the_cores_and_a_quarter_of_the_pool() {
        let cfg = config_with(&[]).expect("defaults are valid");
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(cfg.jobs.plan_jobs, (cores / 2).max(1));
        assert_eq!(cfg.jobs.db_connections, 4, "a quarter of 16");
        assert_eq!(defaults::job_db_connections(4), 2, "at least two");
        assert_eq!(defaults::job_db_connections(2), 1, "never the whole pool");
        assert_eq!(defaults::job_db_connections(1), 1);
        let cfg = config_with(&[
            ("TERRANE_PLAN_JOBS", "3"),
            ("TERRANE_JOB_DB_CONNECTIONS", "5"),
            ("TERRANE_JOB_LEASE_S", "10"),
        ])
        .expect("valid");
        assert_eq!(cfg.jobs.plan_jobs, 3);
        assert_eq!(cfg.jobs.db_connections, 5);
        assert_eq!(cfg.jobs.lease, Duration::from_secs(10));
        assert_eq!(
            error_var(&[("TERRANE_JOB_DB_CONNECTIONS", "16")]),
            "TERRANE_JOB_DB_CONNECTIONS",
            "the whole pool is refused"
        );
        assert_eq!(
            error_var(&[("TERRANE_PLAN_JOBS", "many")]),
            "TERRANE_PLAN_JOBS"
        );
        assert_eq!(
            error_var(&[("TERRANE_JOB_LEASE_S", "0")]),
            "TERRANE_JOB_LEASE_S"
        );
    }

    #[test]
    fn crm_settings_parse_and_name_the_variable_when_wrong() {
        let cfg = config_with(&[]).expect("defaults are valid");
        assert!(cfg.crm.secret_key.is_none());
        assert_eq!(cfg.crm.workers, 2);
        assert_eq!(
            cfg.crm.reconcile_at,
            chrono::NaiveTime::from_hms_opt(2, 30, 0)
        );
        let key = crate::crm::crypto::SecretKey::generate_base64();
        let cfg = config_with(&[
            ("TERRANE_SECRET_KEY", &key),
            ("TERRANE_RECONCILE_AT", "off"),
            ("TERRANE_SYNC_WORKERS", "0"),
        ])
        .expect("valid");
        assert!(cfg.crm.secret_key.is_some());
        assert_eq!(cfg.crm.reconcile_at, None);
        assert_eq!(cfg.crm.workers, 0);
        assert_eq!(
            config_with(&[]).expect("defaults").crm.clock_skew,
            Duration::from_secs(300)
        );
        assert_eq!(
            config_with(&[("TERRANE_CRM_CLOCK_SKEW_S", "60")])
                .expect("valid")
                .crm
                .clock_skew,
            Duration::from_secs(60)
        );
        assert_eq!(
            error_var(&[("TERRANE_CRM_CLOCK_SKEW_S", "-1")]),
            "TERRANE_CRM_CLOCK_SKEW_S"
        );
        assert_eq!(
            error_var(&[("TERRANE_SECRET_KEY", "c2hvcnQ=")]),
            "TERRANE_SECRET_KEY"
        );
        assert_eq!(
            error_var(&[("TERRANE_RECONCILE_AT", "25:00")]),
            "TERRANE_RECONCILE_AT"
        );
        let err = config_with(&[("TERRANE_SECRET_KEY", "not-a-key")]).map(|_| ());
        assert!(
            !format!("{err:?}").contains("not-a-key"),
            "the key is never echoed"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let cfg =
            config_with(&[("TERRANE_BIND", " "), ("TERRANE_MAP_STYLE_URL", "")]).expect("valid");
        assert_eq!(cfg.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.map_style_url, None);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        assert_eq!(error_var(&[("TERRANE_BIND", "localhost")]), "TERRANE_BIND");
        assert_eq!(
            error_var(&[("TERRANE_BIND", "127.0.0.1:99999")]),
            "TERRANE_BIND"
        );
        assert_eq!(
            error_var(&[("TERRANE_OSRM_URL", "ftp://x")]),
            "TERRANE_OSRM_URL"
        );
        assert_eq!(
            error_var(&[("TERRANE_OSRM_URL", "not a url")]),
            "TERRANE_OSRM_URL"
        );
        for bad in ["1", "0", "lots", "2000000"] {
            assert_eq!(
                error_var(&[("TERRANE_OSRM_MAX_TABLE_SIZE", bad)]),
                "TERRANE_OSRM_MAX_TABLE_SIZE"
            );
        }
        assert_eq!(
            config_with(&[("TERRANE_OSRM_MAX_TABLE_SIZE", "1000")])
                .expect("valid")
                .osrm_max_table_size
                .get(),
            1000
        );
        assert_eq!(
            error_var(&[("TERRANE_LOG_FORMAT", "xml")]),
            "TERRANE_LOG_FORMAT"
        );
        assert_eq!(error_var(&[("TERRANE_LOG", "info,=[")]), "TERRANE_LOG");
        assert_eq!(
            error_var(&[("DATABASE_URL", "mysql://x/y")]),
            "DATABASE_URL"
        );
        assert_eq!(
            error_var(&[("TERRANE_DB_MAX_CONNECTIONS", "0")]),
            "TERRANE_DB_MAX_CONNECTIONS"
        );
        assert_eq!(
            error_var(&[("TERRANE_REQUEST_TIMEOUT_S", "-3")]),
            "TERRANE_REQUEST_TIMEOUT_S"
        );
        assert_eq!(
            error_var(&[("TERRANE_BODY_LIMIT_BYTES", "10")]),
            "TERRANE_BODY_LIMIT_BYTES"
        );
        assert_eq!(
            error_var(&[("TERRANE_MAP_STYLE_URL", "style.json")]),
            "TERRANE_MAP_STYLE_URL"
        );
    }

    #[test]
    fn database_url_errors_do_not_echo_passwords() {
        let err = config_with(&[("DATABASE_URL", "mysql://u:secret@h/db")]).expect_err("invalid");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn demo_mode_is_refused_on_a_public_bind_unless_allowed() {
        assert!(
            config_with(&[("TERRANE_DEMO", "1")])
                .expect("loopback is fine")
                .demo
        );
        assert_eq!(
            error_var(&[("TERRANE_DEMO", "1"), ("TERRANE_BIND", "0.0.0.0:8080")]),
            "TERRANE_DEMO"
        );
        // As in docker-compose.yml: every interface inside the container, reached on loopback.
        let allowed = config_with(&[
            ("TERRANE_DEMO", "1"),
            ("TERRANE_BIND", "0.0.0.0:8080"),
            ("TERRANE_DEMO_ALLOW_REMOTE", "1"),
            ("TERRANE_PUBLIC_URL", "http://127.0.0.1:8080"),
        ])
        .expect("explicitly allowed");
        assert!(allowed.demo);
        assert_eq!(error_var(&[("TERRANE_DEMO", "maybe")]), "TERRANE_DEMO");
        assert!(
            !config_with(&[("TERRANE_BIND", "0.0.0.0:8080")])
                .expect("no demo")
                .demo
        );
    }

    #[test]
    fn demo_mode_is_refused_behind_a_public_or_https_address() {
        for url in [
            "https://127.0.0.1:8080",
            "http://terrane.example.com",
            "http://192.168.1.20:8080",
            "http://0.0.0.0:8080",
            "http://localhost.example.com",
        ] {
            assert_eq!(
                error_var(&[("TERRANE_DEMO", "1"), ("TERRANE_PUBLIC_URL", url)]),
                "TERRANE_PUBLIC_URL",
                "{url}"
            );
        }
        // Explicitly allowing a remote bind does not lift it.
        assert_eq!(
            error_var(&[
                ("TERRANE_DEMO", "1"),
                ("TERRANE_BIND", "0.0.0.0:8080"),
                ("TERRANE_DEMO_ALLOW_REMOTE", "1"),
                ("TERRANE_PUBLIC_URL", "https://demo.example.com"),
            ]),
            "TERRANE_PUBLIC_URL"
        );
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.2",
            "http://[::1]:8080",
            "http://localhost:8080",
            "http://terrane.localhost",
        ] {
            let cfg = config_with(&[("TERRANE_DEMO", "1"), ("TERRANE_PUBLIC_URL", url)])
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(cfg.demo, "{url}");
        }
        // Without demo mode any address is fine.
        assert!(config_with(&[("TERRANE_PUBLIC_URL", "http://terrane.example.com")]).is_ok());
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        assert!(!config_with(&[]).expect("valid").https());
        let cfg =
            config_with(&[("TERRANE_PUBLIC_URL", "https://terrane.example.com")]).expect("valid");
        assert!(cfg.https());
        assert_eq!(
            error_var(&[("TERRANE_SESSION_IDLE_MIN", "0")]),
            "TERRANE_SESSION_IDLE_MIN"
        );
    }

    #[test]
    fn oidc_settings_come_as_a_set() {
        assert!(config_with(&[]).expect("none is fine").oidc.is_none());
        let cfg = config_with(&[
            ("TERRANE_OIDC_ISSUER", "http://127.0.0.1:9000"),
            ("TERRANE_OIDC_CLIENT_ID", "terrane"),
            ("TERRANE_OIDC_CLIENT_SECRET", "s3cret"),
        ])
        .expect("complete set");
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "the secret is never printed"
        );
        assert_eq!(
            error_var(&[
                ("TERRANE_OIDC_ISSUER", "http://127.0.0.1:9000"),
                ("TERRANE_OIDC_CLIENT_ID", "terrane")
            ]),
            "TERRANE_OIDC_CLIENT_SECRET"
        );
        assert_eq!(
            error_var(&[("TERRANE_OIDC_CLIENT_SECRET", "x")]),
            "TERRANE_OIDC_ISSUER"
        );
    }

    #[test]
    fn json_log_format_is_accepted() {
        let cfg = config_with(&[
            ("TERRANE_LOG_FORMAT", "json"),
            ("TERRANE_LOG", "terrane=debug,warn"),
        ])
        .expect("valid");
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(cfg.log.filter, "terrane=debug,warn");
    }
}
