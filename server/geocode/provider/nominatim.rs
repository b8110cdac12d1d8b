//! Nominatim's `/search` API (jsonv2): structured search when the address is split, free-form
//! otherwise, with an honest precision for what OpenStreetMap matched.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::USER_AGENT;
use serde::Deserialize;

use super::{endpoint, get_json, lon_lat, part};
use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};

/// The provider's name in configuration, the cache and metrics.
pub const NAME: &str = "nominatim";

/// A Nominatim instance (the public one or a self-hosted one).
#[derive(Debug, Clone)]
pub struct Nominatim {
    http: reqwest::Client,
    search_url: Url,
    user_agent: String,
    timeout: Duration,
}

/// One place of a jsonv2 answer; only the fields the mapping uses.
#[derive(Debug, Deserialize)]
struct Place {
    lat: String,
    lon: String,
    #[serde(default)]
    osm_type: Option<String>,
    /// `category` in jsonv2, `class` in the older json format.
    #[serde(default, alias = "class")]
    category: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    addresstype: Option<String>,
    #[serde(default)]
    place_rank: Option<u32>,
    #[serde(default)]
    importance: Option<f64>,
    #[serde(default)]
    address: Option<PlaceAddress>,
}

#[derive(Debug, Default, Deserialize)]
struct PlaceAddress {
    #[serde(default)]
    house_number: Option<String>,
    #[serde(default)]
    postcode: Option<String>,
}

/// How a query is sent: structured parts or one free-form line.
#[derive(Debug, PartialEq)]
struct Search {
    params: Vec<(&'static str, String)>,
    structured: bool,
}

impl Nominatim {
    /// `base_url` is the instance root (`https://nominatim.openstreetmap.org`); `user_agent`
    /// identifies this server, as Nominatim's usage policy requires.
    pub fn new(
        http: reqwest::Client,
        base_url: &Url,
        user_agent: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            search_url: endpoint(base_url, "search"),
            user_agent: user_agent.into(),
            timeout,
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = NAME), err(level = "debug"))]
    async fn search(&self, query: &Address) -> Result<Option<GeocodeResult>, ProviderError> {
        let Some(search) = search_params(query) else {
            return Ok(None);
        };
        let request = self
            .http
            .get(self.search_url.clone())
            .query(&search.params)
            .header(USER_AGENT, &self.user_agent)
            .timeout(self.timeout);
        let places: Vec<Place> = get_json(NAME, request).await?;
        tracing::debug!(provider = NAME, places = places.len(), "geocoder answered");
        let Some(place) = places.into_iter().next() else {
            return Ok(None);
        };
        to_result(&place, query, search.structured)
    }
}

/// The request parameters for `query`, or `None` when it holds nothing to search for.
fn search_params(query: &Address) -> Option<Search> {
    let city = part(&query.city);
    let postal_code = part(&query.postal_code);
    let street = match (part(&query.house_number), part(&query.street)) {
        (Some(number), Some(street)) => Some(format!("{number} {street}")),
        (None, Some(street)) => Some(street.to_owned()),
        // A house number without a street names nothing.
        (_, None) => None,
    };
    // An unsplit street line is a valid structured `street` when the town is known too.
    let street = street.or_else(|| {
        part(&query.line)
            .filter(|_| city.is_some() || postal_code.is_some())
            .map(str::to_owned)
    });

    let mut params: Vec<(&'static str, String)> = vec![
        ("format", "jsonv2".to_owned()),
        ("addressdetails", "1".to_owned()),
        ("limit", "1".to_owned()),
    ];
    let structured = street.is_some() || city.is_some() || postal_code.is_some();
    if structured {
        params.extend(street.map(|s| ("street", s)));
        params.extend(city.map(|c| ("city", c.to_owned())));
        params.extend(postal_code.map(|p| ("postalcode", p.to_owned())));
    } else {
        params.push(("q", part(&query.line)?.to_owned()));
    }
    if let Some(country) = part(&query.country_code) {
        params.push(("countrycodes", country.to_ascii_lowercase()));
    }
    Some(Search { params, structured })
}

fn to_result(
    place: &Place,
    query: &Address,
    structured: bool,
) -> Result<Option<GeocodeResult>, ProviderError> {
    let number = |name: &str, value: &str| {
        value
            .trim()
            .parse::<f64>()
            .map_err(|_| ProviderError::BadAnswer {
                provider: NAME.to_owned(),
                detail: format!("{name} is not a number"),
            })
    };
    let location = lon_lat(NAME, number("lon", &place.lon)?, number("lat", &place.lat)?)?;
    let Some(precision) = precision(place, part(&query.house_number)) else {
        // A region, a state or a country: too coarse to place an account.
        return Ok(None);
    };
    Ok(Some(GeocodeResult {
        location,
        precision,
        confidence: confidence(place, query, structured),
        provider: NAME.to_owned(),
    }))
}

/// What the place locates. A house number counts only when it is the one asked for.
fn precision(place: &Place, asked_number: Option<&str>) -> Option<Precision> {
    let lower = |v: &Option<String>| v.as_deref().unwrap_or("").to_ascii_lowercase();
    let (addresstype, category, kind) = (
        lower(&place.addresstype),
        lower(&place.category),
        lower(&place.kind),
    );
    let rank = place.place_rank.unwrap_or(0);

    let found_number = place.address.as_ref().and_then(|a| part(&a.house_number));
    let number_matches = match (found_number, asked_number) {
        (Some(found), Some(asked)) => same_code(found, asked),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if number_matches && (rank == 0 || rank >= 28) {
        // An address interpolation line (or TIGER range) is a way of type `house`; address
        // points and buildings are nodes or closed ways of other types.
        let interpolated =
            category == "place" && kind == "house" && lower(&place.osm_type) == "way";
        return Some(if interpolated {
            Precision::Interpolated
        } else {
            Precision::Rooftop
        });
    }

    let kind_of = if addresstype.is_empty() {
        &kind
    } else {
        &addresstype
    };
    match kind_of.as_str() {
        "road" => return Some(Precision::Street),
        "postcode" => return Some(Precision::PostalCode),
        "city" | "town" | "village" | "hamlet" | "municipality" | "suburb" | "borough"
        | "quarter" | "neighbourhood" | "city_district" | "locality" | "isolated_dwelling" => {
            return Some(Precision::Locality);
        }
        _ => {}
    }
    if category == "highway" {
        return Some(Precision::Street);
    }
    // Nominatim's address ranks: 26-27 streets, 28-30 buildings and points of interest
    // (here without the house number asked for), 13-25 settlements and their parts.
    match rank {
        26.. => Some(Precision::Street),
        13..=25 => Some(Precision::Locality),
        _ => None,
    }
}

/// Equal ignoring case and spaces (`12 b` and `12B`, `SW1A 1AA` and `sw1a1aa`).
fn same_code(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// 0.9 for a structured match (every part asked for had to match), 0.6 to 0.9 for a
/// free-form one (looser matching; more important places rank first); a postcode other than
/// the one asked for lowers it.
fn confidence(place: &Place, query: &Address, structured: bool) -> f32 {
    let mut confidence = if structured {
        0.9
    } else {
        0.6 + 0.3 * place.importance.unwrap_or(0.0).clamp(0.0, 1.0)
    };
    let found_postcode = place.address.as_ref().and_then(|a| part(&a.postcode));
    if let (Some(found), Some(asked)) = (found_postcode, part(&query.postal_code))
        && !same_code(found, asked)
    {
        confidence *= 0.6;
    }
    confidence.clamp(0.0, 1.0) as f32
}

impl Geocoder for Nominatim {
    fn name(&self) -> &str {
        NAME
    }

    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(self.search(query))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::*;
    use crate::geocode::provider::testing::{Calls, serve};

    /// A fake Nominatim that answers `/search` with `answer` and records what it was asked.
    #[derive(Default)]
    struct Fake {
        calls: Calls,
        asked: std::sync::Mutex<Vec<(HashMap<String, String>, String)>>,
    }

    async fn fake_nominatim(
        status: StatusCode,
        answer: Value,
        delay: Duration,
    ) -> (Nominatim, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let handler = move |State(fake): State<Arc<Fake>>,
                            Query(params): Query<HashMap<String, String>>,
                            headers: HeaderMap| {
            let answer = answer.clone();
            async move {
                fake.calls.record();
                let agent = headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                fake.asked.lock().expect("asked").push((params, agent));
                tokio::time::sleep(delay).await;
                (status, axum::Json(answer)).into_response()
            }
        };
        let base = serve(
            Router::new()
                .route("/nominatim/search", get(handler))
                .with_state(fake.clone()),
        )
        .await;
        let base = base.join("/nominatim").expect("base path");
        let provider = Nominatim::new(
            reqwest::Client::new(),
            &base,
            "terrane-test/1.0 (ops@example.org)",
            Duration::from_millis(300),
        );
        (provider, fake)
    }

    fn ok(answer: Value) -> (StatusCode, Value, Duration) {
        (StatusCode::OK, answer, Duration::ZERO)
    }

    /// A jsonv2 place as the public instance returns it for a house-number match.
    fn house(lat: &str, lon: &str) -> Value {
        json!({
            "place_id": 9_551_210,
            "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
            "osm_type": "node",
            "osm_id": 2_633_091_187_u64,
            "lat": lat,
            "lon": lon,
            "category": "place",
            "type": "house",
            "place_rank": 30,
            "importance": 0.000_074_9,
            "addresstype": "place",
            "name": "",
            "display_name": "6, Quai Antoine 1er, La Condamine, Monaco, 98000, Monaco",
            "address": {
                "house_number": "6",
                "road": "Quai Antoine 1er",
                "suburb": "La Condamine",
                "city": "Monaco",
                "postcode": "98000",
                "country": "Monaco",
                "country_code": "mc"
            },
            "boundingbox": ["43.7353", "43.7354", "7.4240", "7.4241"]
        })
    }

    fn monaco() -> Address {
        Address {
            house_number: Some("6".to_owned()),
            street: Some("Quai Antoine 1er".to_owned()),
            postal_code: Some("98000".to_owned()),
            city: Some("Monaco".to_owned()),
            country_code: Some("MC".to_owned()),
            ..Address::default()
        }
    }

    #[tokio::test]
    async fn house_number_match_is_rooftop_and_the_request_is_structured() {
        let (status, answer, delay) = ok(json!([house("43.7353551", "7.4240637")]));
        let (nominatim, fake) = fake_nominatim(status, answer, delay).await;

        let result = nominatim
            .geocode(&monaco())
            .await
            .expect("answer")
            .expect("a place");

        assert_eq!(result.precision, Precision::Rooftop);
        assert_eq!(result.provider, "nominatim");
        assert!((result.location.lat() - 43.735_355_1).abs() < 1e-9);
        assert!((result.location.lon() - 7.424_063_7).abs() < 1e-9);
        assert!((0.8..=1.0).contains(&result.confidence));

        let asked = fake.asked.lock().expect("asked");
        let (params, agent) = &asked[0];
        assert_eq!(agent, "terrane-test/1.0 (ops@example.org)");
        let want = [
            ("street", "6 Quai Antoine 1er"),
            ("city", "Monaco"),
            ("postalcode", "98000"),
            ("countrycodes", "mc"),
            ("format", "jsonv2"),
            ("addressdetails", "1"),
            ("limit", "1"),
        ];
        for (k, v) in want {
            assert_eq!(params.get(k).map(String::as_str), Some(v), "parameter {k}");
        }
        assert!(!params.contains_key("q"));
    }

    #[tokio::test]
    async fn only_a_line_is_searched_free_form() {
        let (status, answer, delay) = ok(json!([house("43.7353551", "7.4240637")]));
        let (nominatim, fake) = fake_nominatim(status, answer, delay).await;
        let query = Address {
            line: Some("6 Quai Antoine 1er Monaco".to_owned()),
            ..Address::default()
        };

        let result = nominatim.geocode(&query).await.expect("answer");

        let confidence = result.expect("a place").confidence;
        assert!((0.6..0.9).contains(&confidence), "free-form is less sure");
        let asked = fake.asked.lock().expect("asked");
        assert_eq!(
            asked[0].0.get("q").map(String::as_str),
            Some("6 Quai Antoine 1er Monaco")
        );
        assert!(!asked[0].0.contains_key("street"));
    }

    #[tokio::test]
    async fn empty_query_is_not_sent() {
        let (status, answer, delay) = ok(json!([]));
        let (nominatim, fake) = fake_nominatim(status, answer, delay).await;
        assert_eq!(nominatim.geocode(&Address::default()).await, Ok(None));
        assert_eq!(fake.calls.count(), 0);
    }

    #[tokio::test]
    async fn empty_answer_is_not_found() {
        let (status, answer, delay) = ok(json!([]));
        let (nominatim, _) = fake_nominatim(status, answer, delay).await;
        assert_eq!(nominatim.geocode(&monaco()).await, Ok(None));
    }

    #[tokio::test]
    async fn unusable_coordinates_are_bad_answers() {
        for (lat, lon) in [
            ("NaN", "7.42"),
            ("91.0", "7.42"),
            ("43.7", "abc"),
            ("43.7", "inf"),
        ] {
            let (status, answer, delay) = ok(json!([house(lat, lon)]));
            let (nominatim, _) = fake_nominatim(status, answer, delay).await;
            let err = nominatim.geocode(&monaco()).await.expect_err("rejected");
            assert!(
                matches!(err, ProviderError::BadAnswer { ref provider, .. } if provider == "nominatim"),
                "{lat},{lon}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_json_is_a_bad_answer() {
        let (status, answer, delay) = ok(json!({"not": "an array"}));
        let (nominatim, _) = fake_nominatim(status, answer, delay).await;
        assert!(matches!(
            nominatim.geocode(&monaco()).await,
            Err(ProviderError::BadAnswer { .. })
        ));
    }

    #[tokio::test]
    async fn http_errors_map_to_provider_errors() {
        let error_body =
            json!({"error": {"code": 503, "message": "Service temporarily unavailable"}});
        let cases = [
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
            (StatusCode::SERVICE_UNAVAILABLE, "failed"),
            (StatusCode::FORBIDDEN, "failed"),
        ];
        for (status, kind) in cases {
            let (nominatim, _) = fake_nominatim(status, error_body.clone(), Duration::ZERO).await;
            let err = nominatim.geocode(&monaco()).await.expect_err("error");
            let got = match err {
                ProviderError::RateLimited { .. } => "rate_limited",
                ProviderError::Failed { ref detail, .. } => {
                    assert_eq!(detail, &format!("HTTP {}", status.as_u16()));
                    "failed"
                }
                _ => "other",
            };
            assert_eq!(got, kind, "{status}");
        }
    }

    #[tokio::test]
    async fn slow_answer_times_out_without_the_address_in_the_error() {
        let (nominatim, _) =
            fake_nominatim(StatusCode::OK, json!([]), Duration::from_secs(3)).await;
        let err = nominatim.geocode(&monaco()).await.expect_err("timeout");
        assert_eq!(
            err,
            ProviderError::Timeout {
                provider: "nominatim".to_owned()
            }
        );
    }

    #[tokio::test]
    async fn unreachable_server_error_hides_the_url() {
        let base = Url::parse("http://127.0.0.1:9").expect("url");
        let nominatim = Nominatim::new(
            reqwest::Client::new(),
            &base,
            "terrane-test",
            Duration::from_millis(500),
        );
        let err = nominatim.geocode(&monaco()).await.expect_err("no server");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("Antoine"), "{text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
    }

    fn place(value: Value) -> Place {
        serde_json::from_value(value).expect("place")
    }

    #[test]
    fn precision_follows_what_was_matched() {
        let road = place(json!({
            "lat": "43.7", "lon": "7.4", "category": "highway", "type": "residential",
            "addresstype": "road", "place_rank": 26,
            "address": {"road": "Quai Antoine 1er", "postcode": "98000"}
        }));
        let postcode = place(json!({
            "lat": "43.7", "lon": "7.4", "category": "place", "type": "postcode",
            "addresstype": "postcode", "place_rank": 21, "address": {"postcode": "98000"}
        }));
        let town = place(json!({
            "lat": "43.7", "lon": "7.4", "category": "boundary", "type": "administrative",
            "addresstype": "town", "place_rank": 16
        }));
        let interpolation = place(json!({
            "lat": "43.7", "lon": "7.4", "osm_type": "way", "class": "place", "type": "house",
            "place_rank": 30, "address": {"house_number": "12"}
        }));
        let other_number = place(json!({
            "lat": "43.7", "lon": "7.4", "osm_type": "node", "category": "place",
            "type": "house", "addresstype": "place", "place_rank": 30,
            "address": {"house_number": "8"}
        }));
        let country = place(json!({
            "lat": "43.7", "lon": "7.4", "category": "boundary", "type": "administrative",
            "addresstype": "country", "place_rank": 4
        }));

        assert_eq!(precision(&road, Some("6")), Some(Precision::Street));
        assert_eq!(precision(&postcode, None), Some(Precision::PostalCode));
        assert_eq!(precision(&town, None), Some(Precision::Locality));
        assert_eq!(
            precision(&interpolation, Some("12")),
            Some(Precision::Interpolated)
        );
        assert_eq!(precision(&other_number, Some("6")), Some(Precision::Street));
        assert_eq!(
            precision(&other_number, Some(" 8 ")),
            Some(Precision::Rooftop)
        );
        assert_eq!(precision(&country, None), None);
    }

    #[test]
    fn another_postcode_lowers_confidence() {
        let found = place(house("43.7", "7.4"));
        let asked = Address {
            postal_code: Some("98001".to_owned()),
            ..monaco()
        };
        assert!(confidence(&found, &asked, true) < confidence(&found, &monaco(), true));
    }

    #[test]
    fn structured_search_uses_the_line_when_the_town_is_known() {
        let query = Address {
            line: Some("6 Quai Antoine 1er".to_owned()),
            postal_code: Some("98000".to_owned()),
            ..Address::default()
        };
        let search = search_params(&query).expect("searchable");
        assert!(search.structured);
        assert!(
            search
                .params
                .contains(&("street", "6 Quai Antoine 1er".to_owned()))
        );
    }
}
