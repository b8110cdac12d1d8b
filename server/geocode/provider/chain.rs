//! The provider chain: providers asked in configured order until one answers precisely enough;
//! otherwise the best answer wins, and errors keep the account pending for a later retry.

use std::sync::Arc;

use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};

/// What one provider did for one query.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found {
        precision: Precision,
        confidence: f32,
    },
    NotFound,
    Failed(ProviderError),
}

impl Outcome {
    /// The `result` label of `terrane_geocode_provider_calls_total`: the precision found,
    /// `not_found`, or the error kind (`timeout`, `rate_limited`, `failed`, `circuit_open`,
    /// `bad_answer`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Found { precision, .. } => precision.as_str(),
            Self::NotFound => "not_found",
            Self::Failed(ProviderError::Timeout { .. }) => "timeout",
            Self::Failed(ProviderError::RateLimited { .. }) => "rate_limited",
            Self::Failed(ProviderError::Failed { .. }) => "failed",
            Self::Failed(ProviderError::CircuitOpen { .. }) => "circuit_open",
            Self::Failed(ProviderError::BadAnswer { .. }) => "bad_answer",
        }
    }
}

/// Providers in order; itself a [`Geocoder`] named `chain`.
pub struct Chain {
    providers: Vec<Arc<dyn Geocoder>>,
    accept: Precision,
    /// The guards around the providers, for the status page's circuit states.
    guards: Vec<Arc<super::Guarded>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("providers", &self.provider_names())
            .field("accept", &self.accept)
            .finish()
    }
}

/// Whether `a` beats `b`: more precise, then more confident.
fn better(a: &GeocodeResult, b: &GeocodeResult) -> bool {
    a.precision < b.precision || (a.precision == b.precision && a.confidence > b.confidence)
}

impl Chain {
    /// `accept`: a result at least this precise stops the chain.
    pub fn new(providers: Vec<Arc<dyn Geocoder>>, accept: Precision) -> Self {
        Self {
            providers,
            accept,
            guards: Vec::new(),
        }
    }

    /// A chain of guarded providers, whose circuits [`Chain::circuits`] reports.
    pub fn guarded(guards: Vec<Arc<super::Guarded>>, accept: Precision) -> Self {
        let providers = guards
            .iter()
            .map(|g| g.clone() as Arc<dyn Geocoder>)
            .collect();
        Self {
            providers,
            accept,
            guards,
        }
    }

    /// Each guarded provider's name and circuit state (`closed`, `open`, `half-open`).
    pub fn circuits(&self) -> Vec<(String, String)> {
        self.guards
            .iter()
            .map(|g| (g.name().to_owned(), g.state().as_str().to_owned()))
            .collect()
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// Asks the providers in order and returns the answer with what each provider asked did
    /// (providers after the one that stopped the chain are not asked). Records
    /// `terrane_geocode_provider_calls_total{provider,result}` for each provider asked.
    ///
    /// The answer: the first result at least as precise as `accept`; else the best result;
    /// else, if any provider failed, the first error (a retry may find the address); else
    /// `Ok(None)`.
    pub async fn geocode_traced(
        &self,
        query: &Address,
    ) -> (
        Result<Option<GeocodeResult>, ProviderError>,
        Vec<(String, Outcome)>,
    ) {
        if self.providers.is_empty() {
            let err = ProviderError::Failed {
                provider: "chain".to_owned(),
                detail: "no geocoder configured".to_owned(),
            };
            return (Err(err), Vec::new());
        }
        let mut outcomes = Vec::with_capacity(self.providers.len());
        let mut best: Option<GeocodeResult> = None;
        let mut first_err: Option<ProviderError> = None;
        for provider in &self.providers {
            let name = provider.name().to_owned();
            let (outcome, stop) = match provider.geocode(query).await {
                Ok(Some(found)) => {
                    let outcome = Outcome::Found {
                        precision: found.precision,
                        confidence: found.confidence,
                    };
                    let stop = found.precision.at_least(self.accept);
                    if best.as_ref().is_none_or(|b| better(&found, b)) {
                        best = Some(found);
                    }
                    (outcome, stop)
                }
                Ok(None) => (Outcome::NotFound, false),
                Err(err) => {
                    first_err.get_or_insert_with(|| err.clone());
                    (Outcome::Failed(err), false)
                }
            };
            let label = outcome.label();
            tracing::debug!(provider = %name, result = label, "geocode provider asked");
            metrics::counter!(
                "terrane_geocode_provider_calls_total",
                "provider" => name.clone(),
                "result" => label
            )
            .increment(1);
            outcomes.push((name, outcome));
            if stop {
                break;
            }
        }
        let answer = match (best, first_err) {
            (Some(found), _) => Ok(Some(found)),
            (None, Some(err)) => Err(err),
            (None, None) => Ok(None),
        };
        (answer, outcomes)
    }
}

impl Geocoder for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(async move { self.geocode_traced(query).await.0 })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::json;

    use super::*;
    use crate::geocode::provider::testing::{Calls, Scripted, found, serve};
    use crate::geocode::provider::{ApiKey, Google, GuardConfig, Guarded, Nominatim};

    fn query() -> Address {
        Address {
            house_number: Some("6".to_owned()),
            street: Some("Quai Antoine 1er".to_owned()),
            city: Some("Monaco".to_owned()),
            ..Address::default()
        }
    }

    fn timeout(provider: &str) -> Result<Option<GeocodeResult>, ProviderError> {
        Err(ProviderError::Timeout {
            provider: provider.to_owned(),
        })
    }

    fn chain(providers: &[&Arc<Scripted>], accept: Precision) -> Chain {
        Chain::new(
            providers
                .iter()
                .map(|p| Arc::clone(*p) as Arc<dyn Geocoder>)
                .collect(),
            accept,
        )
    }

    #[tokio::test]
    async fn precise_enough_result_stops_the_chain() {
        let a = Arc::new(Scripted::new(
            "a",
            vec![found("a", Precision::Rooftop, 0.9)],
        ));
        let b = Arc::new(Scripted::new(
            "b",
            vec![found("b", Precision::Rooftop, 1.0)],
        ));
        let chain = chain(&[&a, &b], Precision::Interpolated);

        let (answer, outcomes) = chain.geocode_traced(&query()).await;

        assert_eq!(answer.expect("answer").expect("found").provider, "a");
        assert_eq!(b.calls.count(), 0);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].1.label(), "rooftop");
    }

    #[tokio::test]
    async fn imprecise_results_fall_through_and_the_best_wins() {
        let a = Arc::new(Scripted::new("a", vec![found("a", Precision::Street, 0.5)]));
        let b = Arc::new(Scripted::new(
            "b",
            vec![found("b", Precision::Locality, 1.0)],
        ));
        let c = Arc::new(Scripted::new("c", vec![found("c", Precision::Street, 0.8)]));
        let chain = chain(&[&a, &b, &c], Precision::Interpolated);

        let (answer, outcomes) = chain.geocode_traced(&query()).await;

        let best = answer.expect("answer").expect("found");
        assert_eq!(
            (best.provider.as_str(), best.precision),
            ("c", Precision::Street)
        );
        let labels: Vec<_> = outcomes
            .iter()
            .map(|(p, o)| (p.as_str(), o.label()))
            .collect();
        assert_eq!(
            labels,
            [("a", "street"), ("b", "locality"), ("c", "street")]
        );
    }

    #[tokio::test]
    async fn failing_provider_falls_back_to_the_next() {
        let a = Arc::new(Scripted::new("a", vec![timeout("a")]));
        let b = Arc::new(Scripted::new(
            "b",
            vec![found("b", Precision::Interpolated, 0.8)],
        ));
        let chain = chain(&[&a, &b], Precision::Interpolated);

        let (answer, outcomes) = chain.geocode_traced(&query()).await;

        assert_eq!(answer.expect("answer").expect("found").provider, "b");
        assert_eq!(
            outcomes[0],
            (
                "a".to_owned(),
                Outcome::Failed(ProviderError::Timeout {
                    provider: "a".to_owned()
                })
            )
        );
    }

    #[tokio::test]
    async fn errors_without_any_result_are_returned_for_a_retry() {
        let a = Arc::new(Scripted::new("a", vec![timeout("a")]));
        let b = Arc::new(Scripted::new("b", vec![Ok(None)]));
        let c = Arc::new(Scripted::new("c", vec![timeout("c")]));

        let all_failed = chain(&[&a, &c], Precision::Rooftop).geocode(&query()).await;
        assert_eq!(all_failed, timeout("a"), "the first error is returned");

        let some_not_found = chain(&[&b, &a], Precision::Rooftop).geocode(&query()).await;
        assert_eq!(some_not_found, timeout("a"));

        let none_found = chain(&[&b], Precision::Rooftop).geocode(&query()).await;
        assert_eq!(none_found, Ok(None));
    }

    #[tokio::test]
    async fn a_result_below_accept_beats_errors() {
        let a = Arc::new(Scripted::new(
            "a",
            vec![found("a", Precision::Locality, 0.4)],
        ));
        let b = Arc::new(Scripted::new("b", vec![timeout("b")]));
        let answer = chain(&[&a, &b], Precision::Rooftop).geocode(&query()).await;
        assert_eq!(answer.expect("answer").expect("found").provider, "a");
    }

    #[tokio::test]
    async fn empty_chain_keeps_accounts_pending() {
        let chain = Chain::new(Vec::new(), Precision::Rooftop);
        assert!(matches!(
            chain.geocode(&query()).await,
            Err(ProviderError::Failed { .. })
        ));
    }

    /// Fake Nominatim that answers 500 (or, if `slow`, sleeps past the timeout), counting calls.
    async fn broken_nominatim(calls: Arc<Calls>, slow: bool) -> reqwest::Url {
        let handler = move |State(calls): State<Arc<Calls>>| async move {
            calls.record();
            if slow {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let body = json!({"error": {"code": 500, "message": "Internal Server Error"}});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        };
        serve(
            Router::new()
                .route("/search", get(handler))
                .with_state(calls),
        )
        .await
    }

    /// Fake Google answering a rooftop result, or HTTP 503 when `down`.
    async fn google(calls: Arc<Calls>, down: bool) -> reqwest::Url {
        let handler = move |State(calls): State<Arc<Calls>>| async move {
            calls.record();
            if down {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let body = json!({
                "results": [{
                    "formatted_address": "6 Quai Antoine 1er, 98000 Monaco",
                    "geometry": {
                        "location": {"lat": 43.735_355, "lng": 7.424_063},
                        "location_type": "ROOFTOP"
                    },
                    "place_id": "ChIJ-test",
                    "types": ["street_address"]
                }],
                "status": "OK"
            });
            axum::Json(body).into_response()
        };
        serve(
            Router::new()
                .route("/maps/api/geocode/json", get(handler))
                .with_state(calls),
        )
        .await
    }

    fn guard_config(timeout_ms: u64) -> GuardConfig {
        GuardConfig {
            per_second: 0.0,
            timeout: Duration::from_millis(timeout_ms),
            retries: 1,
            base_backoff: Duration::from_millis(10),
            failure_threshold: 3,
            open_for: Duration::from_millis(300),
        }
    }

    async fn http_chain(
        nominatim_slow: bool,
        google_down: bool,
    ) -> (Chain, Arc<Guarded>, Arc<Calls>, Arc<Calls>) {
        let (n_calls, g_calls) = (Arc::new(Calls::default()), Arc::new(Calls::default()));
        let http = reqwest::Client::new();
        let timeout = Duration::from_millis(200);
        let n_url = broken_nominatim(n_calls.clone(), nominatim_slow).await;
        let g_url = google(g_calls.clone(), google_down).await;
        let nominatim = Arc::new(Guarded::new(
            Arc::new(Nominatim::new(
                http.clone(),
                &n_url,
                "terrane-test",
                timeout,
            )),
            guard_config(200),
        ));
        let google = Arc::new(Guarded::new(
            Arc::new(Google::new(http, &g_url, ApiKey::new("k"), timeout)),
            guard_config(200),
        ));
        let chain = Chain::new(
            vec![nominatim.clone() as Arc<dyn Geocoder>, google],
            Precision::Interpolated,
        );
        (chain, nominatim, n_calls, g_calls)
    }

    #[tokio::test]
    async fn failing_http_provider_falls_back_and_its_circuit_opens_then_probes() {
        for slow in [false, true] {
            let (chain, nominatim, n_calls, g_calls) = http_chain(slow, false).await;

            for _ in 0..3 {
                let started = Instant::now();
                let (answer, outcomes) = chain.geocode_traced(&query()).await;
                assert_eq!(answer.expect("answer").expect("found").provider, "google");
                let want = if slow { "timeout" } else { "failed" };
                assert_eq!(outcomes[0].1.label(), want);
                assert!(
                    started.elapsed() < Duration::from_millis(600),
                    "ingest never blocks"
                );
            }
            assert!(nominatim.circuit_open());
            let before = n_calls.count();
            assert!(before >= 3, "slow={slow}: {before} calls");

            for _ in 0..3 {
                let (answer, outcomes) = chain.geocode_traced(&query()).await;
                assert_eq!(answer.expect("answer").expect("found").provider, "google");
                assert_eq!(outcomes[0].1.label(), "circuit_open");
            }
            assert_eq!(
                n_calls.count(),
                before,
                "no calls while the circuit is open"
            );
            assert_eq!(g_calls.count(), 6);

            // After the open period one probe goes through; it fails and re-opens.
            tokio::time::sleep(Duration::from_millis(320)).await;
            let _ = chain.geocode(&query()).await;
            assert_eq!(n_calls.count(), before + 1, "one probe call");
            assert!(nominatim.circuit_open());
        }
    }

    #[tokio::test]
    async fn both_providers_down_is_an_error_so_the_account_stays_pending() {
        let (chain, _, n_calls, g_calls) = http_chain(false, true).await;
        let answer = chain.geocode(&query()).await;
        assert!(
            matches!(answer, Err(ProviderError::Failed { ref provider, .. }) if provider == "nominatim"),
            "{answer:?}"
        );
        assert_eq!(n_calls.count(), 2, "one try and one retry");
        assert_eq!(g_calls.count(), 2);
    }

    #[test]
    fn outcome_labels_are_metric_values() {
        let labels: HashMap<&str, Outcome> = [
            (
                "postal_code",
                Outcome::Found {
                    precision: Precision::PostalCode,
                    confidence: 0.5,
                },
            ),
            ("not_found", Outcome::NotFound),
            (
                "circuit_open",
                Outcome::Failed(ProviderError::CircuitOpen {
                    provider: "a".to_owned(),
                }),
            ),
            (
                "bad_answer",
                Outcome::Failed(ProviderError::BadAnswer {
                    provider: "a".to_owned(),
                    detail: String::new(),
                }),
            ),
        ]
        .into_iter()
        .collect();
        for (label, outcome) in labels {
            assert_eq!(outcome.label(), label);
        }
    }
}
