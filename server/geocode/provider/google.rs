//! The Google Geocoding API (`/maps/api/geocode/json`): the answer's `status`, location type
//! and result types mapped to provider errors and an honest precision. The API key never
//! reaches logs, errors or `Debug` output.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::{endpoint, get_json, lon_lat, part};
use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};

/// The provider's name in configuration, the cache and metrics.
pub const NAME: &str = "google";

/// A Google Maps Platform API key; `Debug` shows only that one is set.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A Google Geocoding API client.
#[derive(Debug, Clone)]
pub struct Google {
    http: reqwest::Client,
    geocode_url: Url,
    key: ApiKey,
    timeout: Duration,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    results: Vec<Found>,
}

#[derive(Debug, Deserialize)]
struct Found {
    geometry: Geometry,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    partial_match: bool,
}

#[derive(Debug, Deserialize)]
struct Geometry {
    location: Location,
    location_type: String,
}

#[derive(Debug, Deserialize)]
struct Location {
    lat: f64,
    lng: f64,
}

impl Google {
    /// `base_url` is the API host ([`super::DEFAULT_GOOGLE_URL`] in production).
    pub fn new(http: reqwest::Client, base_url: &Url, key: ApiKey, timeout: Duration) -> Self {
        Self {
            http,
            geocode_url: endpoint(base_url, "maps/api/geocode/json"),
            key,
            timeout,
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = NAME), err(level = "debug"))]
    async fn lookup(&self, query: &Address) -> Result<Option<GeocodeResult>, ProviderError> {
        let Some(mut params) = request_params(query) else {
            return Ok(None);
        };
        params.push(("key", self.key.expose().to_owned()));
        let request = self
            .http
            .get(self.geocode_url.clone())
            .query(&params)
            .timeout(self.timeout);
        let answer: Answer = get_json(NAME, request).await?;
        tracing::debug!(provider = NAME, status = %answer.status, "geocoder answered");
        let failed = |detail: &str| ProviderError::Failed {
            provider: NAME.to_owned(),
            detail: detail.to_owned(),
        };
        match answer.status.as_str() {
            "OK" => {}
            "ZERO_RESULTS" => return Ok(None),
            "OVER_QUERY_LIMIT" | "OVER_DAILY_LIMIT" => {
                return Err(ProviderError::RateLimited {
                    provider: NAME.to_owned(),
                });
            }
            "REQUEST_DENIED" => return Err(failed("request denied (check the API key)")),
            "INVALID_REQUEST" => return Err(failed("invalid request")),
            "UNKNOWN_ERROR" => return Err(failed("unknown server error (transient)")),
            _ => return Err(failed("unexpected status")),
        }
        let ambiguous = answer.results.len() > 1;
        let Some(found) = answer.results.into_iter().next() else {
            return Ok(None);
        };
        let location = lon_lat(
            NAME,
            found.geometry.location.lng,
            found.geometry.location.lat,
        )?;
        let Some(precision) = precision(&found.geometry.location_type, &found.types)? else {
            return Ok(None);
        };
        let mut confidence: f32 = 0.9;
        if found.partial_match {
            confidence *= 0.6;
        }
        if ambiguous {
            confidence *= 0.8;
        }
        Ok(Some(GeocodeResult {
            location,
            precision,
            confidence,
            provider: NAME.to_owned(),
        }))
    }
}

/// `address` (street line and town) and `components` (country and postal code) for `query`,
/// or `None` when there is nothing to look up.
fn request_params(query: &Address) -> Option<Vec<(&'static str, String)>> {
    let street = match (part(&query.house_number), part(&query.street)) {
        (Some(number), Some(street)) => Some(format!("{number} {street}")),
        (None, Some(street)) => Some(street.to_owned()),
        (_, None) => part(&query.line).map(str::to_owned),
    };
    let address: Vec<String> = street
        .into_iter()
        .chain(part(&query.city).map(str::to_owned))
        .collect();
    let components: Vec<String> = part(&query.country_code)
        .map(|c| format!("country:{}", c.to_ascii_uppercase()))
        .into_iter()
        .chain(part(&query.postal_code).map(|p| format!("postal_code:{p}")))
        .collect();
    if address.is_empty() && components.is_empty() {
        return None;
    }
    let mut params = Vec::with_capacity(3);
    if !address.is_empty() {
        params.push(("address", address.join(", ")));
    }
    if !components.is_empty() {
        params.push(("components", components.join("|")));
    }
    Some(params)
}

/// The precision of a result from its `location_type` and `types`; `Ok(None)` when it is
/// coarser than a town (a region or a country).
fn precision(location_type: &str, types: &[String]) -> Result<Option<Precision>, ProviderError> {
    let has = |wanted: &[&str]| types.iter().any(|t| wanted.contains(&t.as_str()));
    let street = has(&[
        "street_address",
        "route",
        "intersection",
        "premise",
        "subpremise",
        "establishment",
        "point_of_interest",
    ]);
    let postal = has(&["postal_code", "postal_code_prefix"]);
    let locality = has(&[
        "locality",
        "sublocality",
        "sublocality_level_1",
        "postal_town",
        "neighborhood",
        "administrative_area_level_3",
    ]);
    let area = if postal {
        Some(Precision::PostalCode)
    } else if locality {
        Some(Precision::Locality)
    } else {
        None
    };
    Ok(match location_type {
        "ROOFTOP" => Some(Precision::Rooftop),
        "RANGE_INTERPOLATED" => Some(Precision::Interpolated),
        "GEOMETRIC_CENTER" if street => Some(Precision::Street),
        "GEOMETRIC_CENTER" | "APPROXIMATE" => area,
        _ => {
            return Err(ProviderError::BadAnswer {
                provider: NAME.to_owned(),
                detail: "unknown location_type".to_owned(),
            });
        }
    })
}

impl Geocoder for Google {
    fn name(&self) -> &str {
        NAME
    }

    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(self.lookup(query))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::*;
    use crate::geocode::provider::testing::serve;

    const KEY: &str = "AIzaSyTEST-secret-0123456789";

    /// The query parameters of each request the fake received.
    type Asked = Arc<Mutex<Vec<HashMap<String, String>>>>;

    async fn fake_google(status: StatusCode, answer: Value) -> (Google, Asked) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let handler = move |State(asked): State<Asked>,
                            Query(params): Query<HashMap<String, String>>| {
            let answer = answer.clone();
            async move {
                asked.lock().expect("asked").push(params);
                (status, axum::Json(answer)).into_response()
            }
        };
        let base = serve(
            Router::new()
                .route("/maps/api/geocode/json", get(handler))
                .with_state(asked.clone()),
        )
        .await;
        let google = Google::new(
            reqwest::Client::new(),
            &base,
            ApiKey::new(KEY),
            Duration::from_millis(500),
        );
        (google, asked)
    }

    fn result(location_type: &str, types: &[&str], partial: bool, lat: Value, lng: Value) -> Value {
        json!({
            "address_components": [
                {"long_name": "6", "short_name": "6", "types": ["street_number"]},
                {"long_name": "Quai Antoine 1er", "short_name": "Quai Antoine 1er", "types": ["route"]},
                {"long_name": "Monaco", "short_name": "Monaco", "types": ["locality", "political"]},
                {"long_name": "Monaco", "short_name": "MC", "types": ["country", "political"]},
                {"long_name": "98000", "short_name": "98000", "types": ["postal_code"]}
            ],
            "formatted_address": "6 Quai Antoine 1er, 98000 Monaco",
            "geometry": {
                "location": {"lat": lat, "lng": lng},
                "location_type": location_type,
                "viewport": {
                    "northeast": {"lat": 43.7367, "lng": 7.4254},
                    "southwest": {"lat": 43.7340, "lng": 7.4227}
                }
            },
            "partial_match": partial,
            "place_id": "ChIJ-test-place",
            "types": types
        })
    }

    fn ok_answer(results: Vec<Value>) -> Value {
        json!({"results": results, "status": "OK"})
    }

    fn monaco() -> Address {
        Address {
            house_number: Some("6".to_owned()),
            street: Some("Quai Antoine 1er".to_owned()),
            postal_code: Some("98000".to_owned()),
            city: Some("Monaco".to_owned()),
            country_code: Some("mc".to_owned()),
            ..Address::default()
        }
    }

    #[tokio::test]
    async fn rooftop_result_and_the_request_it_came_from() {
        let answer = ok_answer(vec![result(
            "ROOFTOP",
            &["street_address"],
            false,
            json!(43.735_355),
            json!(7.424_063),
        )]);
        let (google, asked) = fake_google(StatusCode::OK, answer).await;

        let found = google
            .geocode(&monaco())
            .await
            .expect("answer")
            .expect("a result");

        assert_eq!(found.precision, Precision::Rooftop);
        assert_eq!(found.provider, "google");
        assert!((found.location.lon() - 7.424_063).abs() < 1e-9);
        assert!((found.confidence - 0.9).abs() < 1e-6);
        let asked = asked.lock().expect("asked");
        let params = &asked[0];
        assert_eq!(params["address"], "6 Quai Antoine 1er, Monaco");
        assert_eq!(params["components"], "country:MC|postal_code:98000");
        assert_eq!(params["key"], KEY);
    }

    #[tokio::test]
    async fn partial_match_lowers_confidence() {
        let answer = ok_answer(vec![result(
            "RANGE_INTERPOLATED",
            &["street_address"],
            true,
            json!(43.7),
            json!(7.4),
        )]);
        let (google, _) = fake_google(StatusCode::OK, answer).await;
        let found = google
            .geocode(&monaco())
            .await
            .expect("answer")
            .expect("a result");
        assert_eq!(found.precision, Precision::Interpolated);
        assert!(found.confidence < 0.6);
    }

    #[tokio::test]
    async fn statuses_map_to_outcomes() {
        let cases = [
            ("ZERO_RESULTS", "none"),
            ("OVER_QUERY_LIMIT", "rate_limited"),
            ("OVER_DAILY_LIMIT", "rate_limited"),
            ("REQUEST_DENIED", "failed"),
            ("INVALID_REQUEST", "failed"),
            ("UNKNOWN_ERROR", "failed"),
            ("SOMETHING_NEW", "failed"),
        ];
        for (status, want) in cases {
            let answer = json!({
                "error_message": "The provided API key is invalid.",
                "results": [],
                "status": status
            });
            let (google, _) = fake_google(StatusCode::OK, answer).await;
            let got = match google.geocode(&monaco()).await {
                Ok(None) => "none",
                Err(ProviderError::RateLimited { .. }) => "rate_limited",
                Err(ProviderError::Failed { .. }) => "failed",
                other => panic!("{status}: unexpected {other:?}"),
            };
            assert_eq!(got, want, "{status}");
        }
    }

    #[tokio::test]
    async fn http_429_is_rate_limited() {
        let answer = json!({"error_message": "Too many requests", "results": [], "status": "OVER_QUERY_LIMIT"});
        let (google, _) = fake_google(StatusCode::TOO_MANY_REQUESTS, answer).await;
        assert_eq!(
            google.geocode(&monaco()).await,
            Err(ProviderError::RateLimited {
                provider: "google".to_owned()
            })
        );
    }

    #[tokio::test]
    async fn unusable_coordinates_are_bad_answers() {
        let cases = [
            (json!(91.0), json!(7.4)),
            (json!(43.7), json!(-180.5)),
            (json!("NaN"), json!(7.4)),
            (json!(null), json!(7.4)),
        ];
        for (lat, lng) in cases {
            let answer = ok_answer(vec![result(
                "ROOFTOP",
                &["street_address"],
                false,
                lat.clone(),
                lng,
            )]);
            let (google, _) = fake_google(StatusCode::OK, answer).await;
            assert!(
                matches!(
                    google.geocode(&monaco()).await,
                    Err(ProviderError::BadAnswer { .. })
                ),
                "lat {lat}"
            );
        }
    }

    #[tokio::test]
    async fn api_key_never_appears_in_errors_or_debug_output() {
        let answer = json!({
            "error_message": format!("The provided API key {KEY} is invalid."),
            "results": [],
            "status": "REQUEST_DENIED"
        });
        let (google, _) = fake_google(StatusCode::OK, answer).await;
        let denied = google.geocode(&monaco()).await.expect_err("denied");
        let unreachable = Google::new(
            reqwest::Client::new(),
            &Url::parse("http://127.0.0.1:9").expect("url"),
            ApiKey::new(KEY),
            Duration::from_millis(300),
        );
        let refused = unreachable.geocode(&monaco()).await.expect_err("no server");
        let (bad_json, _) =
            fake_google(StatusCode::OK, json!({"status": KEY, "results": "x"})).await;
        let garbled = bad_json.geocode(&monaco()).await.expect_err("bad JSON");

        let text = format!(
            "{denied} {denied:?} {refused} {refused:?} {garbled} {garbled:?} {google:?} {unreachable:?}"
        );
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("Antoine"), "{text}");
    }

    #[test]
    fn precision_by_location_type_and_result_types() {
        let types = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases = [
            ("ROOFTOP", types(&["premise"]), Some(Precision::Rooftop)),
            (
                "RANGE_INTERPOLATED",
                types(&["street_address"]),
                Some(Precision::Interpolated),
            ),
            (
                "GEOMETRIC_CENTER",
                types(&["route"]),
                Some(Precision::Street),
            ),
            (
                "GEOMETRIC_CENTER",
                types(&["postal_code"]),
                Some(Precision::PostalCode),
            ),
            (
                "GEOMETRIC_CENTER",
                types(&["locality", "political"]),
                Some(Precision::Locality),
            ),
            (
                "APPROXIMATE",
                types(&["postal_code"]),
                Some(Precision::PostalCode),
            ),
            (
                "APPROXIMATE",
                types(&["locality", "political"]),
                Some(Precision::Locality),
            ),
            ("APPROXIMATE", types(&["route"]), None),
            ("APPROXIMATE", types(&["country", "political"]), None),
        ];
        for (location_type, types, want) in cases {
            assert_eq!(
                precision(location_type, &types).expect("known type"),
                want,
                "{location_type} {types:?}"
            );
        }
        assert!(precision("SOMEWHERE", &[]).is_err());
    }

    #[test]
    fn nothing_to_look_up_sends_nothing() {
        assert_eq!(request_params(&Address::default()), None);
        let postcode_only = Address {
            postal_code: Some("98000".to_owned()),
            ..Address::default()
        };
        assert_eq!(
            request_params(&postcode_only),
            Some(vec![("components", "postal_code:98000".to_owned())])
        );
    }
}
