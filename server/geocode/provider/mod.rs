//! Geocoding providers in configured order: HTTP services (Nominatim, Google) and the built-in
//! geocoder, each behind a guard (rate limit, timeout, retries, circuit breaker), asked by a chain.
//!
//! Configuration (read with [`specs_from_lookup`]):
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `TERRANE_GEOCODERS` | `osm` | providers in the order they are asked (`nominatim`, `google`, `osm`) |
//! | `TERRANE_GEOCODE_ACCEPT` | `interpolated` | a result this precise stops the chain |
//! | `TERRANE_GEOCODE_TIMEOUT_MS` | `5000` | budget of one provider call, waits and retries included |
//! | `TERRANE_NOMINATIM_URL` | `https://nominatim.openstreetmap.org` | Nominatim base URL |
//! | `TERRANE_NOMINATIM_PER_SECOND` | `1` | requests per second (the public instance allows 1) |
//! | `TERRANE_NOMINATIM_USER_AGENT` | `terrane/<version> (self-hosted territory server)` | identifies us to Nominatim |
//! | `TERRANE_GOOGLE_API_KEY` | none (required for `google`) | Geocoding API key |
//! | `TERRANE_GOOGLE_URL` | `https://maps.googleapis.com` | Google API base URL |
//! | `TERRANE_GOOGLE_PER_SECOND` | `10` | requests per second |

use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use super::{Geocoder, Precision, ProviderError};
use crate::spatial::LonLat;

pub mod chain;
pub mod google;
pub mod guard;
pub mod nominatim;

pub use chain::{Chain, Outcome};
pub use google::{ApiKey, Google};
pub use guard::{CircuitState, GuardConfig, Guarded};
pub use nominatim::Nominatim;

/// The public Nominatim instance (1 request per second, an identifying User-Agent required).
pub const DEFAULT_NOMINATIM_URL: &str = "https://nominatim.openstreetmap.org";
/// Google Maps Platform's API host.
pub const DEFAULT_GOOGLE_URL: &str = "https://maps.googleapis.com";
/// Default budget of one provider call, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The User-Agent sent to Nominatim unless configured.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "terrane/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted territory server)"
);

const DEFAULT_NOMINATIM_PER_SECOND: f64 = 1.0;
const DEFAULT_GOOGLE_PER_SECOND: f64 = 10.0;
const MAX_PER_SECOND: f64 = 1_000.0;
const MAX_TIMEOUT_MS: u64 = 600_000;

/// One configured provider, in chain order.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderSpec {
    Nominatim {
        base_url: Url,
        user_agent: String,
        guard: GuardConfig,
    },
    Google {
        base_url: Url,
        api_key: ApiKey,
        guard: GuardConfig,
    },
    /// The built-in geocoder; the caller supplies it to [`build_chain`].
    Osm { guard: GuardConfig },
}

impl ProviderSpec {
    /// The name used in `TERRANE_GEOCODERS`, the cache and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nominatim { .. } => nominatim::NAME,
            Self::Google { .. } => google::NAME,
            Self::Osm { .. } => "osm",
        }
    }
}

/// Why [`build_chain`] could not assemble the configured providers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("TERRANE_GEOCODERS names no provider")]
    Empty,
    #[error("TERRANE_GEOCODERS lists osm, but the built-in geocoder is not available")]
    OsmUnavailable,
}

/// Builds the chain from parsed configuration: each provider wrapped in its [`Guarded`], in
/// order. `osm` is the built-in geocoder, required when the specs name it.
pub fn build_chain(
    specs: &[ProviderSpec],
    osm: Option<Arc<dyn Geocoder>>,
    accept: Precision,
    http: reqwest::Client,
) -> Result<Chain, BuildError> {
    if specs.is_empty() {
        return Err(BuildError::Empty);
    }
    let mut providers: Vec<Arc<Guarded>> = Vec::with_capacity(specs.len());
    for spec in specs {
        let (inner, guard): (Arc<dyn Geocoder>, &GuardConfig) = match spec {
            ProviderSpec::Nominatim {
                base_url,
                user_agent,
                guard,
            } => (
                Arc::new(Nominatim::new(
                    http.clone(),
                    base_url,
                    user_agent.clone(),
                    guard.timeout,
                )),
                guard,
            ),
            ProviderSpec::Google {
                base_url,
                api_key,
                guard,
            } => (
                Arc::new(Google::new(
                    http.clone(),
                    base_url,
                    api_key.clone(),
                    guard.timeout,
                )),
                guard,
            ),
            ProviderSpec::Osm { guard } => (osm.clone().ok_or(BuildError::OsmUnavailable)?, guard),
        };
        providers.push(Arc::new(Guarded::new(inner, guard.clone())));
    }
    Ok(Chain::guarded(providers, accept))
}

/// Reads the geocoding configuration through `lookup` (an environment variable reader) and
/// returns the providers in order and the precision that stops the chain. Errors name the
/// variable at fault (never a secret's value).
pub fn specs_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(Vec<ProviderSpec>, Precision), String> {
    let get = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };

    let accept = match get("TERRANE_GEOCODE_ACCEPT") {
        None => Precision::Interpolated,
        Some(v) => Precision::parse(&v.to_ascii_lowercase())
            .filter(|p| *p != Precision::Manual)
            .ok_or_else(|| {
                format!(
                    "TERRANE_GEOCODE_ACCEPT must be rooftop, interpolated, street, postal_code \
                     or locality, got {v:?}"
                )
            })?,
    };

    let timeout_ms = match get("TERRANE_GEOCODE_TIMEOUT_MS") {
        None => DEFAULT_TIMEOUT_MS,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
            .ok_or_else(|| {
                format!(
                    "TERRANE_GEOCODE_TIMEOUT_MS must be milliseconds between 1 and \
                     {MAX_TIMEOUT_MS}, got {v:?}"
                )
            })?,
    };
    let timeout = Duration::from_millis(timeout_ms);

    let per_second = |name: &str, default: f64| -> Result<f64, String> {
        match get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= MAX_PER_SECOND)
                .ok_or_else(|| {
                    format!(
                        "{name} must be a number of requests per second above 0 and at most \
                         {MAX_PER_SECOND}, got {v:?}"
                    )
                }),
        }
    };
    let url = |name: &str, default: &str| -> Result<Url, String> {
        let v = get(name).unwrap_or_else(|| default.to_owned());
        match Url::parse(&v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
            _ => Err(format!("{name} must be an http(s) URL, got {v:?}")),
        }
    };

    let names = get("TERRANE_GEOCODERS").unwrap_or_else(|| "osm".to_owned());
    let mut specs: Vec<ProviderSpec> = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let spec = match name.to_ascii_lowercase().as_str() {
            nominatim::NAME => ProviderSpec::Nominatim {
                base_url: url("TERRANE_NOMINATIM_URL", DEFAULT_NOMINATIM_URL)?,
                user_agent: get("TERRANE_NOMINATIM_USER_AGENT")
                    .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
                guard: GuardConfig::new(
                    per_second("TERRANE_NOMINATIM_PER_SECOND", DEFAULT_NOMINATIM_PER_SECOND)?,
                    timeout,
                ),
            },
            google::NAME => ProviderSpec::Google {
                base_url: url("TERRANE_GOOGLE_URL", DEFAULT_GOOGLE_URL)?,
                api_key: get("TERRANE_GOOGLE_API_KEY").map(ApiKey::new).ok_or(
                    "TERRANE_GOOGLE_API_KEY is required when TERRANE_GEOCODERS lists google",
                )?,
                guard: GuardConfig::new(
                    per_second("TERRANE_GOOGLE_PER_SECOND", DEFAULT_GOOGLE_PER_SECOND)?,
                    timeout,
                ),
            },
            // The built-in geocoder is local: no rate limit, one retry.
            "osm" => ProviderSpec::Osm {
                guard: GuardConfig {
                    retries: 1,
                    ..GuardConfig::new(0.0, timeout)
                },
            },
            _ => {
                return Err(format!(
                    "TERRANE_GEOCODERS: unknown provider {name:?} (expected nominatim, google or osm)"
                ));
            }
        };
        if specs.iter().any(|s| s.name() == spec.name()) {
            return Err(format!("TERRANE_GEOCODERS lists {} twice", spec.name()));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err("TERRANE_GEOCODERS names no provider".to_owned());
    }
    Ok((specs, accept))
}

/// `base` joined with `path`, keeping any path prefix of `base` (`http://h/nominatim` and
/// `search` give `http://h/nominatim/search`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    url
}

/// A trimmed, non-empty address part.
pub(crate) fn part(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Validates a provider's coordinates as a [`LonLat`].
pub(crate) fn lon_lat(provider: &str, lon: f64, lat: f64) -> Result<LonLat, ProviderError> {
    LonLat::new(lon, lat).map_err(|e| ProviderError::BadAnswer {
        provider: provider.to_owned(),
        detail: e.to_string(),
    })
}

/// Sends `request` and decodes a JSON answer. 429 is [`ProviderError::RateLimited`], other
/// non-2xx statuses are [`ProviderError::Failed`]. Details never carry the URL (it holds the
/// address and possibly an API key) nor the body.
pub(crate) async fn get_json<T: DeserializeOwned>(
    provider: &str,
    request: reqwest::RequestBuilder,
) -> Result<T, ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ProviderError::RateLimited {
            provider: provider.to_owned(),
        });
    }
    if !status.is_success() {
        return Err(ProviderError::Failed {
            provider: provider.to_owned(),
            detail: format!("HTTP {}", status.as_u16()),
        });
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, e))?;
    serde_json::from_slice(&body).map_err(|e| ProviderError::BadAnswer {
        provider: provider.to_owned(),
        // Position and category only: serde's message may quote parts of the answer.
        detail: format!(
            "JSON {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

fn transport_error(provider: &str, err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        return ProviderError::Timeout {
            provider: provider.to_owned(),
        };
    }
    let detail = if err.is_connect() {
        "could not connect".to_owned()
    } else {
        err.without_url().to_string()
    };
    ProviderError::Failed {
        provider: provider.to_owned(),
        detail,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Local fake vendor servers and scripted providers for the provider tests.

    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use reqwest::Url;

    use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};
    use crate::spatial::LonLat;

    /// Serves `router` on 127.0.0.1 on a free port and returns its base URL.
    pub(crate) async fn serve(router: axum::Router) -> Url {
        Url::parse(&crate::net::serve_local(router).await).expect("local URL")
    }

    /// A provider that plays back `answers` in order (then repeats the last one), optionally
    /// after a delay, counting its calls.
    pub(crate) struct Scripted {
        name: String,
        answers: Mutex<VecDeque<Answer>>,
        last: Mutex<Answer>,
        delay: Duration,
        pub(crate) calls: Calls,
    }

    pub(crate) type Answer = Result<Option<GeocodeResult>, ProviderError>;

    impl Scripted {
        pub(crate) fn new(name: &str, answers: Vec<Answer>) -> Self {
            Self {
                name: name.to_owned(),
                answers: Mutex::new(answers.into()),
                last: Mutex::new(Ok(None)),
                delay: Duration::ZERO,
                calls: Calls::default(),
            }
        }

        /// Answers only after `delay`.
        pub(crate) fn slow(mut self, delay: Duration) -> Self {
            self.delay = delay;
            self
        }
    }

    impl Geocoder for Scripted {
        fn name(&self) -> &str {
            &self.name
        }

        fn geocode<'a>(&'a self, _query: &'a Address) -> BoxFuture<'a, Answer> {
            Box::pin(async move {
                self.calls.record();
                let answer = {
                    let next = self.answers.lock().expect("answers").pop_front();
                    let mut last = self.last.lock().expect("last answer");
                    if let Some(next) = next {
                        *last = next;
                    }
                    last.clone()
                };
                tokio::time::sleep(self.delay).await;
                answer
            })
        }
    }

    /// A result from `provider` at `precision` with `confidence`, in Monaco.
    // The fake provider answers what a real one does: a result.
    #[allow(clippy::unnecessary_wraps)]
    pub(crate) fn found(provider: &str, precision: Precision, confidence: f32) -> Answer {
        Ok(Some(GeocodeResult {
            location: LonLat::new(7.4246, 43.7384).expect("valid point"),
            precision,
            confidence,
            provider: provider.to_owned(),
        }))
    }

    /// What a fake server received: how many calls and when each arrived.
    #[derive(Debug, Default)]
    pub(crate) struct Calls {
        count: AtomicUsize,
        arrivals: Mutex<Vec<Instant>>,
    }

    impl Calls {
        pub(crate) fn record(&self) -> usize {
            self.arrivals.lock().expect("arrivals").push(Instant::now());
            self.count.fetch_add(1, Ordering::SeqCst) + 1
        }

        pub(crate) fn count(&self) -> usize {
            self.count.load(Ordering::SeqCst)
        }

        pub(crate) fn arrivals(&self) -> Vec<Instant> {
            self.arrivals.lock().expect("arrivals").clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn specs(vars: &[(&str, &str)]) -> Result<(Vec<ProviderSpec>, Precision), String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        specs_from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn default_configuration_is_the_built_in_geocoder_only() {
        let (specs, accept) = specs(&[]).expect("defaults");
        assert_eq!(accept, Precision::Interpolated);
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name(), "osm");
        let ProviderSpec::Osm { guard } = &specs[0] else {
            panic!("osm spec expected");
        };
        assert_eq!(guard.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
    }

    #[test]
    fn configured_providers_keep_their_order_and_settings() {
        let (specs, accept) = specs(&[
            ("TERRANE_GEOCODERS", " google, Nominatim ,osm"),
            ("TERRANE_GEOCODE_ACCEPT", "street"),
            ("TERRANE_GEOCODE_TIMEOUT_MS", "1500"),
            ("TERRANE_NOMINATIM_URL", "http://127.0.0.1:8088/nominatim/"),
            ("TERRANE_NOMINATIM_PER_SECOND", "0.5"),
            ("TERRANE_GOOGLE_API_KEY", "secret-key-123"),
        ])
        .expect("valid configuration");
        assert_eq!(accept, Precision::Street);
        let names: Vec<_> = specs.iter().map(ProviderSpec::name).collect();
        assert_eq!(names, ["google", "nominatim", "osm"]);
        let ProviderSpec::Nominatim {
            base_url,
            user_agent,
            guard,
        } = &specs[1]
        else {
            panic!("nominatim spec expected");
        };
        assert_eq!(base_url.as_str(), "http://127.0.0.1:8088/nominatim/");
        assert_eq!(user_agent, DEFAULT_USER_AGENT);
        assert!((guard.per_second - 0.5).abs() < f64::EPSILON);
        assert_eq!(guard.timeout, Duration::from_millis(1500));
        let ProviderSpec::Google {
            base_url, guard, ..
        } = &specs[0]
        else {
            panic!("google spec expected");
        };
        assert_eq!(base_url.as_str(), "https://maps.googleapis.com/");
        assert!((guard.per_second - DEFAULT_GOOGLE_PER_SECOND).abs() < f64::EPSILON);
        assert!(!format!("{specs:?}").contains("secret-key-123"));
    }

    #[test]
    fn configuration_errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (&[("TERRANE_GEOCODERS", "osm,bing")], "TERRANE_GEOCODERS"),
            (&[("TERRANE_GEOCODERS", "osm,osm")], "TERRANE_GEOCODERS"),
            (&[("TERRANE_GEOCODERS", " , ")], "TERRANE_GEOCODERS"),
            (&[("TERRANE_GEOCODERS", "google")], "TERRANE_GOOGLE_API_KEY"),
            (
                &[("TERRANE_GEOCODE_ACCEPT", "manual")],
                "TERRANE_GEOCODE_ACCEPT",
            ),
            (
                &[("TERRANE_GEOCODE_TIMEOUT_MS", "0")],
                "TERRANE_GEOCODE_TIMEOUT_MS",
            ),
            (
                &[
                    ("TERRANE_GEOCODERS", "nominatim"),
                    ("TERRANE_NOMINATIM_PER_SECOND", "NaN"),
                ],
                "TERRANE_NOMINATIM_PER_SECOND",
            ),
            (
                &[
                    ("TERRANE_GEOCODERS", "nominatim"),
                    ("TERRANE_NOMINATIM_URL", "ftp://example.org"),
                ],
                "TERRANE_NOMINATIM_URL",
            ),
        ];
        for (vars, variable) in cases {
            let err = specs(vars).expect_err("invalid configuration");
            assert!(err.contains(variable), "{err:?} should name {variable}");
        }
    }

    #[test]
    fn settings_of_unlisted_providers_are_ignored() {
        let (specs, _) = specs(&[
            ("TERRANE_GEOCODERS", "osm"),
            ("TERRANE_NOMINATIM_URL", "not a url"),
        ])
        .expect("nominatim is not used");
        assert_eq!(specs.len(), 1);
    }

    #[test]
    fn endpoint_keeps_the_base_path_prefix() {
        let cases = [
            ("http://h:1", "http://h:1/search"),
            ("http://h:1/", "http://h:1/search"),
            ("http://h:1/nominatim", "http://h:1/nominatim/search"),
            ("http://h:1/nominatim/?x=1", "http://h:1/nominatim/search"),
        ];
        for (base, want) in cases {
            let base = Url::parse(base).expect("url");
            assert_eq!(endpoint(&base, "search").as_str(), want);
        }
    }

    #[test]
    fn osm_in_the_specs_requires_the_built_in_geocoder() {
        let (specs, accept) = specs(&[]).expect("defaults");
        let err = build_chain(&specs, None, accept, reqwest::Client::new())
            .expect_err("no built-in geocoder");
        assert_eq!(err, BuildError::OsmUnavailable);
    }

    #[test]
    fn build_chain_wraps_each_provider_in_order() {
        let (specs, accept) = specs(&[
            ("TERRANE_GEOCODERS", "nominatim,google,osm"),
            ("TERRANE_GOOGLE_API_KEY", "k"),
        ])
        .expect("valid configuration");
        let osm: Arc<dyn Geocoder> = Arc::new(testing::Scripted::new("osm", vec![]));
        let chain =
            build_chain(&specs, Some(osm), accept, reqwest::Client::new()).expect("chain builds");
        assert_eq!(chain.provider_names(), ["nominatim", "google", "osm"]);
    }
}
