//! A guard around any [`Geocoder`]: a rate limit, one time budget per call, retries with
//! jittered exponential backoff, and a circuit breaker, so a slow or failing provider never
//! holds up ingest.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, ProviderError};

/// How a provider is guarded.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Calls per second let through to the provider (one at a time, no burst). Zero, negative
    /// or non-finite means no limit.
    pub per_second: f64,
    /// Budget of one guarded call: waiting for the rate limiter, every attempt and the
    /// backoffs between them.
    pub timeout: Duration,
    /// Extra attempts after a timeout, a failure or a 429.
    pub retries: u32,
    /// First backoff; doubled for each further retry, plus up to as much random jitter.
    pub base_backoff: Duration,
    /// Consecutive failed calls that open the circuit; 0 never opens it.
    pub failure_threshold: u32,
    /// How long an open circuit fails calls fast before letting one probe through.
    pub open_for: Duration,
}

impl GuardConfig {
    /// `per_second` and `timeout` with the usual defaults: 2 retries from 200 ms, the circuit
    /// opening after 5 consecutive failed calls for 30 s.
    pub fn new(per_second: f64, timeout: Duration) -> Self {
        Self {
            per_second,
            timeout,
            retries: 2,
            base_backoff: Duration::from_millis(200),
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The circuit breaker's state, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail fast with [`ProviderError::CircuitOpen`].
    Open,
    /// The open period is over: the next call (or the one under way) probes the provider.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Tokio's clock for governor, so the limiter and the sleeps agree (and follow
/// `tokio::time::pause` where tests enable it).
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

#[derive(Debug, Clone, Copy)]
enum Circuit {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe call is under way.
    Probing,
}

/// A [`Geocoder`] behind a rate limit, a timeout, retries and a circuit breaker. Its name is
/// the inner provider's.
pub struct Guarded {
    inner: Arc<dyn Geocoder>,
    config: GuardConfig,
    limiter: Option<Limiter>,
    circuit: Mutex<Circuit>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("provider", &self.inner.name())
            .field("config", &self.config)
            .field("circuit", &self.state())
            .finish()
    }
}

/// Lets a probe through the half-open circuit; a probe dropped before it reports (its caller
/// gave up) leaves the circuit ready for another probe rather than stuck half-open.
struct Probe<'a> {
    circuit: &'a Mutex<Circuit>,
    reported: bool,
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if !self.reported {
            let mut circuit = lock(self.circuit);
            if matches!(*circuit, Circuit::Probing) {
                *circuit = Circuit::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

fn lock(circuit: &Mutex<Circuit>) -> MutexGuard<'_, Circuit> {
    circuit.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Errors worth another attempt.
fn retryable(err: &ProviderError) -> bool {
    matches!(
        err,
        ProviderError::Timeout { .. }
            | ProviderError::Failed { .. }
            | ProviderError::RateLimited { .. }
    )
}

impl Guarded {
    pub fn new(inner: Arc<dyn Geocoder>, config: GuardConfig) -> Self {
        let limiter = rate_period(config.per_second)
            .and_then(Quota::with_period)
            .map(|q| RateLimiter::direct_with_clock(q.allow_burst(NonZeroU32::MIN), TokioClock));
        Self {
            inner,
            config,
            limiter,
            circuit: Mutex::new(Circuit::Closed { failures: 0 }),
        }
    }

    /// Whether calls currently fail fast (open and not yet due for a probe).
    pub fn circuit_open(&self) -> bool {
        self.state() == CircuitState::Open
    }

    pub fn state(&self) -> CircuitState {
        match *lock(&self.circuit) {
            Circuit::Closed { .. } => CircuitState::Closed,
            Circuit::Open { until } if Instant::now() < until => CircuitState::Open,
            Circuit::Open { .. } | Circuit::Probing => CircuitState::HalfOpen,
        }
    }

    /// `Ok(None)` for an ordinary call, `Ok(Some(probe))` for the half-open probe, or
    /// `CircuitOpen`.
    fn admit(&self) -> Result<Option<Probe<'_>>, ProviderError> {
        let mut circuit = lock(&self.circuit);
        match *circuit {
            Circuit::Closed { .. } => Ok(None),
            Circuit::Open { until } if Instant::now() >= until => {
                *circuit = Circuit::Probing;
                tracing::info!(
                    provider = self.inner.name(),
                    "geocoder circuit half-open: probing"
                );
                Ok(Some(Probe {
                    circuit: &self.circuit,
                    reported: false,
                }))
            }
            Circuit::Open { .. } | Circuit::Probing => Err(ProviderError::CircuitOpen {
                provider: self.inner.name().to_owned(),
            }),
        }
    }

    /// Records how a call that reached the provider ended.
    fn report(&self, probe: Option<Probe<'_>>, success: bool) {
        let mut circuit = lock(&self.circuit);
        let name = self.inner.name();
        match probe {
            Some(mut probe) => {
                probe.reported = true;
                if success {
                    tracing::info!(provider = name, "geocoder circuit closed");
                    *circuit = Circuit::Closed { failures: 0 };
                } else {
                    tracing::warn!(provider = name, "geocoder probe failed: circuit re-opened");
                    *circuit = Circuit::Open {
                        until: Instant::now() + self.config.open_for,
                    };
                }
            }
            None => {
                // Calls admitted before the circuit opened do not change an open circuit.
                if let Circuit::Closed { failures } = *circuit {
                    let failures = if success { 0 } else { failures + 1 };
                    *circuit = if self.config.failure_threshold > 0
                        && failures >= self.config.failure_threshold
                    {
                        tracing::warn!(
                            provider = name,
                            failures,
                            "geocoder circuit opened after consecutive failures"
                        );
                        Circuit::Open {
                            until: Instant::now() + self.config.open_for,
                        }
                    } else {
                        Circuit::Closed { failures }
                    };
                }
            }
        }
    }

    /// Waits for the rate limiter, or returns `RateLimited` at once if the wait would not end
    /// before `deadline`.
    async fn permit(&self, deadline: Instant) -> Result<(), ProviderError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        loop {
            let Err(not_until) = limiter.check() else {
                return Ok(());
            };
            let wait = not_until.wait_time_from(TokioClock.now());
            if Instant::now() + wait >= deadline {
                return Err(ProviderError::RateLimited {
                    provider: self.inner.name().to_owned(),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential backoff before retry `retry` (1-based), plus up to as much random jitter.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let jitter_ms = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
        exp + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    async fn call(&self, query: &Address) -> Result<Option<GeocodeResult>, ProviderError> {
        let deadline = Instant::now() + self.config.timeout;
        let probe = self.admit()?;
        // A probe is one attempt: its answer alone decides the circuit.
        let attempts = if probe.is_some() {
            1
        } else {
            self.config.retries.saturating_add(1)
        };
        let mut last_err: Option<ProviderError> = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                let backoff = self.backoff(attempt);
                if Instant::now() + backoff >= deadline {
                    break;
                }
                tokio::time::sleep(backoff).await;
                if self.circuit_open() {
                    break;
                }
            }
            if let Err(limited) = self.permit(deadline).await {
                match last_err {
                    // The provider was never called: nothing to tell the circuit.
                    None => return Err(limited),
                    Some(_) => break,
                }
            }
            let err = match tokio::time::timeout_at(deadline, self.inner.geocode(query)).await {
                Ok(Ok(found)) => {
                    self.report(probe, true);
                    return Ok(found);
                }
                Ok(Err(err)) => err,
                Err(_) => ProviderError::Timeout {
                    provider: self.inner.name().to_owned(),
                },
            };
            tracing::debug!(
                provider = self.inner.name(),
                attempt,
                error = %err,
                "geocoder attempt failed"
            );
            let again = retryable(&err);
            last_err = Some(err);
            if !again {
                break;
            }
        }
        self.report(probe, false);
        Err(last_err.unwrap_or_else(|| ProviderError::Timeout {
            provider: self.inner.name().to_owned(),
        }))
    }
}

/// The limiter's period between calls, or `None` for no limit.
fn rate_period(per_second: f64) -> Option<Duration> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    // A rate too small to represent waits a year between calls.
    Some(
        Duration::try_from_secs_f64(1.0 / per_second)
            .unwrap_or(Duration::from_secs(365 * 24 * 3600)),
    )
}

impl Geocoder for Guarded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(self.call(query))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant as StdInstant;

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    use super::*;
    use crate::geocode::Precision;
    use crate::geocode::provider::Nominatim;
    use crate::geocode::provider::testing::{Calls, Scripted, found, serve};

    fn config(timeout_ms: u64) -> GuardConfig {
        GuardConfig {
            per_second: 0.0,
            timeout: Duration::from_millis(timeout_ms),
            retries: 0,
            base_backoff: Duration::from_millis(10),
            failure_threshold: 3,
            open_for: Duration::from_millis(150),
        }
    }

    fn failed(provider: &str) -> Result<Option<GeocodeResult>, ProviderError> {
        Err(ProviderError::Failed {
            provider: provider.to_owned(),
            detail: "HTTP 500".to_owned(),
        })
    }

    fn query() -> Address {
        Address {
            street: Some("Quai Antoine 1er".to_owned()),
            house_number: Some("6".to_owned()),
            city: Some("Monaco".to_owned()),
            ..Address::default()
        }
    }

    #[tokio::test]
    async fn circuit_opens_after_consecutive_failures_and_fails_fast() {
        let fake = Arc::new(Scripted::new("a", vec![failed("a")]));
        let guard = Guarded::new(fake.clone(), config(500));

        for _ in 0..3 {
            assert!(matches!(
                guard.geocode(&query()).await,
                Err(ProviderError::Failed { .. })
            ));
        }
        assert_eq!(guard.state(), CircuitState::Open);
        assert!(guard.circuit_open());

        for _ in 0..5 {
            assert_eq!(
                guard.geocode(&query()).await,
                Err(ProviderError::CircuitOpen {
                    provider: "a".to_owned()
                })
            );
        }
        assert_eq!(
            fake.calls.count(),
            3,
            "no calls reach the provider while open"
        );
    }

    #[tokio::test]
    async fn half_open_probe_success_closes_the_circuit() {
        let fake = Arc::new(Scripted::new(
            "a",
            vec![
                failed("a"),
                failed("a"),
                failed("a"),
                found("a", Precision::Rooftop, 0.9),
            ],
        ));
        let guard = Guarded::new(fake.clone(), config(500));
        for _ in 0..3 {
            let _ = guard.geocode(&query()).await;
        }
        assert_eq!(guard.state(), CircuitState::Open);

        tokio::time::sleep(Duration::from_millis(160)).await;
        assert_eq!(guard.state(), CircuitState::HalfOpen);
        let probe = guard.geocode(&query()).await.expect("probe succeeds");
        assert!(probe.is_some());
        assert_eq!(guard.state(), CircuitState::Closed);
        assert_eq!(fake.calls.count(), 4);
    }

    #[tokio::test]
    async fn half_open_probe_failure_reopens_and_lets_one_call_through() {
        let fake = Arc::new(Scripted::new("a", vec![failed("a")]).slow(Duration::from_millis(30)));
        let guard = Arc::new(Guarded::new(fake.clone(), config(500)));
        for _ in 0..3 {
            let _ = guard.geocode(&query()).await;
        }
        tokio::time::sleep(Duration::from_millis(160)).await;

        // Concurrent callers while half-open: exactly one probe reaches the provider.
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move { guard.geocode(&query()).await })
            })
            .collect();
        let mut open = 0;
        for call in calls {
            if let Err(ProviderError::CircuitOpen { .. }) = call.await.expect("task") {
                open += 1;
            }
        }
        assert_eq!(open, 3);
        assert_eq!(fake.calls.count(), 4);
        assert_eq!(guard.state(), CircuitState::Open);
    }

    #[tokio::test]
    async fn abandoned_probe_does_not_wedge_the_circuit() {
        let fake = Arc::new(Scripted::new("a", vec![failed("a")]).slow(Duration::from_millis(50)));
        let guard = Guarded::new(fake.clone(), config(500));
        for _ in 0..3 {
            let _ = guard.geocode(&query()).await;
        }
        tokio::time::sleep(Duration::from_millis(160)).await;

        let abandoned =
            tokio::time::timeout(Duration::from_millis(5), guard.geocode(&query())).await;
        assert!(abandoned.is_err(), "the caller gave up on the probe");
        assert_eq!(guard.state(), CircuitState::HalfOpen);
        assert!(matches!(
            guard.geocode(&query()).await,
            Err(ProviderError::Failed { .. })
        ));
        assert_eq!(fake.calls.count(), 5, "a second probe went through");
    }

    #[tokio::test]
    async fn not_found_counts_as_success() {
        let fake = Arc::new(Scripted::new(
            "a",
            vec![failed("a"), failed("a"), Ok(None), failed("a"), failed("a")],
        ));
        let guard = Guarded::new(fake.clone(), config(500));
        for _ in 0..5 {
            let _ = guard.geocode(&query()).await;
        }
        assert_eq!(guard.state(), CircuitState::Closed);
    }

    #[tokio::test]
    async fn rate_limited_answers_are_retried_with_backoff() {
        let limited = Err(ProviderError::RateLimited {
            provider: "a".to_owned(),
        });
        let fake = Arc::new(Scripted::new(
            "a",
            vec![limited.clone(), limited, found("a", Precision::Street, 0.7)],
        ));
        let guard = Guarded::new(
            fake.clone(),
            GuardConfig {
                retries: 3,
                base_backoff: Duration::from_millis(20),
                ..config(2_000)
            },
        );
        let started = StdInstant::now();
        let result = guard
            .geocode(&query())
            .await
            .expect("third attempt answers");
        assert_eq!(result.map(|r| r.precision), Some(Precision::Street));
        assert_eq!(fake.calls.count(), 3);
        // 20 ms then 40 ms at least (jitter only adds).
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert_eq!(guard.state(), CircuitState::Closed);
    }

    #[tokio::test]
    async fn bad_answers_are_not_retried() {
        let fake = Arc::new(Scripted::new(
            "a",
            vec![Err(ProviderError::BadAnswer {
                provider: "a".to_owned(),
                detail: "latitude".to_owned(),
            })],
        ));
        let guard = Guarded::new(
            fake.clone(),
            GuardConfig {
                retries: 3,
                ..config(500)
            },
        );
        assert!(matches!(
            guard.geocode(&query()).await,
            Err(ProviderError::BadAnswer { .. })
        ));
        assert_eq!(fake.calls.count(), 1);
    }

    #[tokio::test]
    async fn slow_provider_times_out_within_the_budget() {
        let fake = Arc::new(
            Scripted::new("a", vec![found("a", Precision::Rooftop, 1.0)])
                .slow(Duration::from_secs(5)),
        );
        let guard = Guarded::new(
            fake.clone(),
            GuardConfig {
                retries: 3,
                ..config(150)
            },
        );
        let started = StdInstant::now();
        assert_eq!(
            guard.geocode(&query()).await,
            Err(ProviderError::Timeout {
                provider: "a".to_owned()
            })
        );
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    #[tokio::test]
    async fn local_rate_limit_does_not_count_against_the_provider() {
        let fake = Arc::new(Scripted::new("a", vec![Ok(None)]));
        let guard = Guarded::new(
            fake.clone(),
            GuardConfig {
                per_second: 0.5,
                failure_threshold: 1,
                ..config(100)
            },
        );
        assert_eq!(guard.geocode(&query()).await, Ok(None));
        for _ in 0..3 {
            assert_eq!(
                guard.geocode(&query()).await,
                Err(ProviderError::RateLimited {
                    provider: "a".to_owned()
                })
            );
        }
        assert_eq!(fake.calls.count(), 1);
        assert_eq!(guard.state(), CircuitState::Closed);
    }

    async fn counting_nominatim(State(calls): State<Arc<Calls>>) -> &'static str {
        calls.record();
        "[]"
    }

    #[tokio::test]
    async fn burst_through_a_two_per_second_guard_holds_the_rate() {
        let calls = Arc::new(Calls::default());
        let base = serve(
            Router::new()
                .route("/search", get(counting_nominatim))
                .with_state(calls.clone()),
        )
        .await;
        let timeout = Duration::from_millis(1_600);
        let nominatim = Nominatim::new(reqwest::Client::new(), &base, "terrane-test", timeout);
        let guard = Arc::new(Guarded::new(
            Arc::new(nominatim),
            GuardConfig {
                per_second: 2.0,
                ..config(1_600)
            },
        ));

        let started = StdInstant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move { guard.geocode(&query()).await })
            })
            .collect();
        let mut answered = 0;
        let mut limited = 0;
        // A call let through near the end of the budget may time out on a loaded machine.
        let mut timed_out = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(None) => answered += 1,
                Err(ProviderError::RateLimited { .. }) => limited += 1,
                Err(ProviderError::Timeout { .. }) => timed_out += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            started.elapsed() < timeout + Duration::from_millis(300),
            "no caller waits past the budget"
        );
        assert_eq!(answered + limited + timed_out, 20);
        assert!(timed_out <= 1, "{timed_out} calls timed out");

        let mut arrivals = calls.arrivals();
        assert!(
            (3..=4).contains(&arrivals.len()),
            "{} calls reached the provider in 1.6 s at 2/s",
            arrivals.len()
        );
        assert!(answered <= arrivals.len() && arrivals.len() <= answered + timed_out);
        arrivals.sort();
        // No 1-second window holds more than 2 calls: any third call arrives a second after
        // the first (50 ms allowed for network jitter on localhost).
        for w in arrivals.windows(3) {
            let span = w[2].duration_since(w[0]);
            assert!(
                span >= Duration::from_millis(950),
                "3 calls within {span:?}"
            );
        }
        assert_eq!(guard.state(), CircuitState::Closed);
    }

    async fn nominatim_429_twice(State(calls): State<Arc<Calls>>) -> Response {
        if calls.record() <= 2 {
            let body = "<html><body><h1>429 Too Many Requests</h1></body></html>";
            return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
        }
        "[]".into_response()
    }

    #[tokio::test]
    async fn http_429_is_retried_after_a_backoff() {
        let calls = Arc::new(Calls::default());
        let base = serve(
            Router::new()
                .route("/search", get(nominatim_429_twice))
                .with_state(calls.clone()),
        )
        .await;
        let timeout = Duration::from_secs(2);
        let nominatim = Nominatim::new(reqwest::Client::new(), &base, "terrane-test", timeout);
        let guard = Guarded::new(
            Arc::new(nominatim),
            GuardConfig {
                retries: 2,
                base_backoff: Duration::from_millis(50),
                ..config(2_000)
            },
        );

        assert_eq!(guard.geocode(&query()).await, Ok(None));

        let arrivals = calls.arrivals();
        assert_eq!(arrivals.len(), 3);
        assert!(arrivals[1].duration_since(arrivals[0]) >= Duration::from_millis(50));
        assert!(arrivals[2].duration_since(arrivals[1]) >= Duration::from_millis(100));
    }

    #[test]
    fn backoff_doubles_and_adds_bounded_jitter() {
        let guard = Guarded::new(
            Arc::new(Scripted::new("a", vec![])),
            GuardConfig {
                base_backoff: Duration::from_millis(100),
                ..config(1_000)
            },
        );
        for _ in 0..20 {
            let first = guard.backoff(1);
            let third = guard.backoff(3);
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&first));
            assert!((Duration::from_millis(400)..=Duration::from_millis(800)).contains(&third));
        }
        assert!(guard.backoff(u32::MAX) >= Duration::from_millis(100));
    }
}
