//! HubSpot CRM v3 companies: cursor-paged listing, batch read and batch update.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{ApiError, VendorError, api_base, scalar_text, send_json};

/// HubSpot's public API host.
pub const HUBSPOT_API_BASE: &str = "https://api.hubapi.com";
/// Most records one list page or batch call takes.
pub const MAX_BATCH: usize = 100;
/// HubSpot's batch-error category for ids that do not exist (or were deleted).
const NOT_FOUND: &str = "OBJECT_NOT_FOUND";

/// A HubSpot API client for one portal; the token is passed per call.
#[derive(Debug, Clone)]
pub struct HubSpotApi {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    pub(super) timeout: Duration,
}

/// One company as HubSpot returns it. Property values are text (HubSpot sends strings);
/// an empty property is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyObject {
    pub id: String,
    #[serde(default, deserialize_with = "scalar_map")]
    pub properties: BTreeMap<String, Option<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub archived: bool,
}

/// One page of [`HubSpotApi::list_companies`]; `next_after` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyPage {
    pub results: Vec<CompanyObject>,
    pub next_after: Option<String>,
}

/// One error of a 207 multi-status answer, with the ids it concerns (when HubSpot names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItemError {
    pub category: String,
    /// HubSpot's message, shortened.
    pub message: String,
    pub ids: Vec<String>,
}

/// What [`HubSpotApi::batch_read_companies`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRead {
    pub results: Vec<CompanyObject>,
    /// Requested ids HubSpot did not return: deleted, merged away or never existing.
    pub missing: Vec<String>,
    /// Errors other than "not found" (their ids are not in `missing`).
    pub failed: Vec<BatchItemError>,
}

/// What [`HubSpotApi::batch_update_companies`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchUpdate {
    pub updated: Vec<CompanyObject>,
    pub failed: Vec<BatchItemError>,
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    results: Vec<CompanyObject>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Deserialize)]
struct NextPage {
    after: String,
}

/// HubSpot's batch answer, for 200 and 207 alike.
#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<CompanyObject>,
    #[serde(default)]
    errors: Vec<RawBatchError>,
}

#[derive(Deserialize)]
struct RawBatchError {
    category: Option<String>,
    message: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct BatchReadBody<'a> {
    properties: &'a [&'a str],
    inputs: Vec<IdInput<'a>>,
}

#[derive(Serialize)]
struct IdInput<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct BatchUpdateBody<'a> {
    inputs: Vec<UpdateInput<'a>>,
}

#[derive(Serialize)]
struct UpdateInput<'a> {
    id: &'a str,
    properties: &'a BTreeMap<String, String>,
}

impl HubSpotApi {
    /// A client for the API under `base_url` (normally [`HUBSPOT_API_BASE`]); every request
    /// gives up after `timeout`.
    pub fn new(http: reqwest::Client, base_url: &str, timeout: Duration) -> Result<Self, ApiError> {
        Ok(Self {
            http,
            base_url: api_base(base_url, "the HubSpot API base URL")?,
            timeout,
        })
    }

    /// One page of live (not archived) companies with `properties`, starting at cursor
    /// `after` (`None` for the first page). `limit` is clamped to 1..=100.
    #[tracing::instrument(level = "debug", skip_all, fields(first = after.is_none()), err(level = "debug"))]
    pub async fn list_companies(
        &self,
        token: &str,
        properties: &[&str],
        after: Option<&str>,
        limit: u32,
    ) -> Result<CompanyPage, ApiError> {
        let limit = limit.clamp(1, 100).to_string();
        let mut query = vec![("limit", limit.as_str()), ("archived", "false")];
        let joined = properties.join(",");
        if !joined.is_empty() {
            query.push(("properties", joined.as_str()));
        }
        if let Some(after) = after {
            query.push(("after", after));
        }
        let request = self
            .http
            .get(format!("{}/crm/v3/objects/companies", self.base_url))
            .query(&query)
            .timeout(self.timeout);
        let answer: ListAnswer = send_json(request, token, "a HubSpot company page").await?;
        Ok(CompanyPage {
            results: answer.results,
            next_after: answer.paging.and_then(|p| p.next).map(|n| n.after),
        })
    }

    /// Reads companies by id with `properties`, 100 ids per request. Handles HubSpot's 207
    /// multi-status answer: ids it could not find are reported in [`BatchRead::missing`].
    #[tracing::instrument(level = "debug", skip_all, fields(ids = ids.len()), err(level = "debug"))]
    pub async fn batch_read_companies(
        &self,
        token: &str,
        properties: &[&str],
        ids: &[String],
    ) -> Result<BatchRead, ApiError> {
        let mut out = BatchRead::default();
        for chunk in ids.chunks(MAX_BATCH) {
            let body = BatchReadBody {
                properties,
                inputs: chunk.iter().map(|id| IdInput { id }).collect(),
            };
            let request = self
                .http
                .post(format!(
                    "{}/crm/v3/objects/companies/batch/read",
                    self.base_url
                ))
                .json(&body)
                .timeout(self.timeout);
            let answer: BatchAnswer = send_json(request, token, "a HubSpot batch read").await?;
            let (failed, _not_found) = split_errors(answer.errors, token);
            // Whatever was asked for and neither returned nor failed otherwise is gone; this
            // covers OBJECT_NOT_FOUND errors and ids HubSpot silently drops alike.
            let accounted: BTreeSet<&str> = answer
                .results
                .iter()
                .map(|c| c.id.as_str())
                .chain(failed.iter().flat_map(|e| e.ids.iter().map(String::as_str)))
                .collect();
            out.missing.extend(
                chunk
                    .iter()
                    .filter(|id| !accounted.contains(id.as_str()))
                    .cloned(),
            );
            out.results.extend(answer.results);
            out.failed.extend(failed);
        }
        tracing::debug!(
            found = out.results.len(),
            missing = out.missing.len(),
            failed = out.failed.len(),
            "HubSpot batch read done"
        );
        Ok(out)
    }

    /// Sets properties on up to 100 companies in one call (`(id, properties)` pairs). A 207
    /// answer lists the failures in [`BatchUpdate::failed`].
    #[tracing::instrument(level = "debug", skip_all, fields(records = inputs.len()), err(level = "debug"))]
    pub async fn batch_update_companies(
        &self,
        token: &str,
        inputs: &[(String, BTreeMap<String, String>)],
    ) -> Result<BatchUpdate, ApiError> {
        if inputs.len() > MAX_BATCH {
            return Err(ApiError::BatchTooLarge {
                what: "HubSpot's batch update",
                max: MAX_BATCH,
                got: inputs.len(),
            });
        }
        if inputs.is_empty() {
            return Ok(BatchUpdate::default());
        }
        let body = BatchUpdateBody {
            inputs: inputs
                .iter()
                .map(|(id, properties)| UpdateInput { id, properties })
                .collect(),
        };
        let request = self
            .http
            .post(format!(
                "{}/crm/v3/objects/companies/batch/update",
                self.base_url
            ))
            .json(&body)
            .timeout(self.timeout);
        let answer: BatchAnswer = send_json(request, token, "a HubSpot batch update").await?;
        let (mut failed, not_found) = split_errors(answer.errors, token);
        failed.extend(not_found);
        Ok(BatchUpdate {
            updated: answer.results,
            failed,
        })
    }
}

/// The exact request of [`HubSpotApi::batch_read_companies`] for up to 100 ids, as
/// (URL, JSON body), for dry runs.
pub fn batch_read_request(
    base_url: &str,
    properties: &[&str],
    ids: &[String],
) -> (String, serde_json::Value) {
    let body = BatchReadBody {
        properties,
        inputs: ids.iter().map(|id| IdInput { id }).collect(),
    };
    (
        format!(
            "{}/crm/v3/objects/companies/batch/read",
            base_url.trim_end_matches('/')
        ),
        serde_json::to_value(&body).unwrap_or_default(),
    )
}

/// The exact request of [`HubSpotApi::batch_update_companies`], as (URL, JSON body), for dry
/// runs.
pub fn batch_update_request(
    base_url: &str,
    inputs: &[(String, BTreeMap<String, String>)],
) -> (String, serde_json::Value) {
    let body = BatchUpdateBody {
        inputs: inputs
            .iter()
            .map(|(id, properties)| UpdateInput { id, properties })
            .collect(),
    };
    (
        format!(
            "{}/crm/v3/objects/companies/batch/update",
            base_url.trim_end_matches('/')
        ),
        serde_json::to_value(&body).unwrap_or_default(),
    )
}

/// Splits a 207's errors into (other failures, not-found errors).
fn split_errors(
    errors: Vec<RawBatchError>,
    token: &str,
) -> (Vec<BatchItemError>, Vec<BatchItemError>) {
    errors
        .into_iter()
        .map(|e| {
            let ids = e
                .context
                .iter()
                .filter(|(key, _)| matches!(key.as_str(), "ids" | "id"))
                .flat_map(|(_, value)| match value {
                    serde_json::Value::Array(items) => {
                        items.iter().filter_map(scalar_text).collect()
                    }
                    other => scalar_text(other).into_iter().collect::<Vec<_>>(),
                })
                .collect();
            BatchItemError {
                category: e.category.unwrap_or_default(),
                message: VendorError {
                    message: e.message,
                    ..VendorError::default()
                }
                .summary(token),
                ids,
            }
        })
        .partition(|e| e.category != NOT_FOUND)
}

/// HubSpot property values are strings or null; numbers and booleans are taken as text too.
fn scalar_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let raw = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = scalar_text(&v);
            (k, text)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode as AxStatus};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use super::*;
    use crate::crm::api::testing::serve;

    const TOKEN: &str = "hs-access-token-XYZ";

    fn company(id: &str, name: Option<&str>) -> Value {
        json!({
            "id": id,
            "properties": {
                "name": name,
                "domain": format!("c{id}.example"),
                "createdate": "2025-01-02T03:04:05.678Z",
                "hs_object_id": id
            },
            "createdAt": "2025-01-02T03:04:05.678Z",
            "updatedAt": "2025-06-07T08:09:10.111Z",
            "archived": false
        })
    }

    async fn api_at(router: Router) -> HubSpotApi {
        let base = serve(router).await;
        HubSpotApi::new(reqwest::Client::new(), &base, Duration::from_secs(5)).expect("client")
    }

    fn bearer_ok(headers: &HeaderMap) -> bool {
        headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {TOKEN}"))
    }

    #[tokio::test]
    async fn listing_follows_cursors_to_the_last_page() {
        let seen: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let log = seen.clone();
        let router = Router::new().route(
            "/crm/v3/objects/companies",
            get(
                move |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                    assert!(bearer_ok(&headers));
                    log.lock().expect("log").push(q.clone());
                    let page = match q.get("after").map(String::as_str) {
                        None => json!({
                            "results": [company("1", Some("Acme")), company("2", None)],
                            "paging": {"next": {"after": "2", "link": "https://x/?after=2"}}
                        }),
                        Some("2") => json!({
                            "results": [company("3", Some("Globex"))],
                            "paging": {"next": {"after": "3"}}
                        }),
                        _ => json!({"results": [company("4", Some("Initech"))]}),
                    };
                    axum::Json(page)
                },
            ),
        );
        let api = api_at(router).await;

        let mut after: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let page = api
                .list_companies(TOKEN, &["name", "domain"], after.as_deref(), 2)
                .await
                .expect("page");
            ids.extend(page.results.iter().map(|c| c.id.clone()));
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }

        assert_eq!(ids, ["1", "2", "3", "4"]);
        let seen = seen.lock().expect("log");
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0].get("properties").map(String::as_str),
            Some("name,domain")
        );
        assert_eq!(seen[0].get("archived").map(String::as_str), Some("false"));
        assert_eq!(seen[0].get("limit").map(String::as_str), Some("2"));
        assert_eq!(seen[0].get("after"), None);
        assert_eq!(seen[2].get("after").map(String::as_str), Some("3"));
    }

    #[tokio::test]
    async fn companies_decode_null_properties_and_timestamps() {
        let router = Router::new().route(
            "/crm/v3/objects/companies",
            get(|| async { axum::Json(json!({"results": [company("2", None)]})) }),
        );
        let page = api_at(router)
            .await
            .list_companies(TOKEN, &[], None, 500)
            .await
            .expect("page");
        let c = &page.results[0];
        assert_eq!(c.properties.get("name"), Some(&None));
        assert_eq!(
            c.properties.get("domain"),
            Some(&Some("c2.example".to_owned()))
        );
        assert_eq!(
            c.updated_at,
            DateTime::parse_from_rfc3339("2025-06-07T08:09:10.111Z").expect("time")
        );
        assert!(!c.archived);
    }

    #[tokio::test]
    async fn batch_read_reports_ids_a_multi_status_answer_could_not_find() {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let log = bodies.clone();
        let router = Router::new().route(
            "/crm/v3/objects/companies/batch/read",
            post(move |axum::Json(body): axum::Json<Value>| async move {
                log.lock().expect("log").push(body);
                (
                    AxStatus::MULTI_STATUS,
                    axum::Json(json!({
                        "status": "COMPLETE",
                        "results": [company("1", Some("Acme"))],
                        "numErrors": 1,
                        "errors": [{
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "message": "Could not get some COMPANY objects, they may be deleted or not exist.",
                            "context": {"ids": ["7", "8"]}
                        }],
                        "startedAt": "2025-06-07T08:09:10.111Z",
                        "completedAt": "2025-06-07T08:09:10.222Z"
                    })),
                )
            }),
        );
        let api = api_at(router).await;
        let ids = ["1", "7", "8"].map(String::from);
        let read = api
            .batch_read_companies(TOKEN, &["name"], &ids)
            .await
            .expect("read");
        assert_eq!(read.results.len(), 1);
        assert_eq!(read.missing, ["7", "8"]);
        assert!(read.failed.is_empty());
        assert_eq!(
            bodies.lock().expect("log")[0],
            json!({"properties": ["name"], "inputs": [{"id": "1"}, {"id": "7"}, {"id": "8"}]})
        );
    }

    #[tokio::test]
    async fn batch_read_splits_more_than_a_hundred_ids() {
        let calls: Arc<Mutex<Vec<usize>>> = Arc::default();
        let log = calls.clone();
        let router = Router::new().route(
            "/crm/v3/objects/companies/batch/read",
            post(move |axum::Json(body): axum::Json<Value>| async move {
                let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
                log.lock().expect("log").push(inputs.len());
                let results: Vec<Value> = inputs
                    .iter()
                    .filter_map(|i| i["id"].as_str())
                    .map(|id| company(id, Some("x")))
                    .collect();
                axum::Json(json!({"status": "COMPLETE", "results": results}))
            }),
        );
        let api = api_at(router).await;
        let ids: Vec<String> = (1..=250).map(|i| i.to_string()).collect();
        let read = api
            .batch_read_companies(TOKEN, &["name"], &ids)
            .await
            .expect("read");
        assert_eq!(read.results.len(), 250);
        assert!(read.missing.is_empty());
        assert_eq!(*calls.lock().expect("log"), [100, 100, 50]);
    }

    #[tokio::test]
    async fn batch_update_sends_inputs_and_reports_failures() {
        let router = Router::new().route(
            "/crm/v3/objects/companies/batch/update",
            post(|axum::Json(body): axum::Json<Value>| async move {
                assert_eq!(
                    body,
                    json!({"inputs": [
                        {"id": "1", "properties": {"hubspot_owner_id": "77"}},
                        {"id": "2", "properties": {"hubspot_owner_id": "78"}}
                    ]})
                );
                (
                    AxStatus::MULTI_STATUS,
                    axum::Json(json!({
                        "status": "COMPLETE",
                        "results": [company("1", Some("Acme"))],
                        "errors": [{
                            "status": "error",
                            "category": "VALIDATION_ERROR",
                            "message": "Property values were not valid",
                            "context": {"ids": ["2"]}
                        }]
                    })),
                )
            }),
        );
        let api = api_at(router).await;
        let owner = |o: &str| BTreeMap::from([("hubspot_owner_id".to_owned(), o.to_owned())]);
        let inputs = vec![("1".to_owned(), owner("77")), ("2".to_owned(), owner("78"))];
        let done = api
            .batch_update_companies(TOKEN, &inputs)
            .await
            .expect("update");
        assert_eq!(done.updated.len(), 1);
        assert_eq!(
            done.failed,
            [BatchItemError {
                category: "VALIDATION_ERROR".into(),
                message: "Property values were not valid".into(),
                ids: vec!["2".into()],
            }]
        );
    }

    #[tokio::test]
    async fn batch_update_refuses_more_than_a_hundred_records() {
        let api = HubSpotApi::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9",
            Duration::from_secs(1),
        )
        .expect("client");
        let inputs: Vec<_> = (0..101).map(|i| (i.to_string(), BTreeMap::new())).collect();
        let err = api
            .batch_update_companies(TOKEN, &inputs)
            .await
            .expect_err("too many");
        assert!(matches!(err, ApiError::BatchTooLarge { got: 101, .. }));
    }

    fn rate_limited(retry_after: String) -> Router {
        Router::new().route(
            "/crm/v3/objects/companies",
            get(move || {
                let retry_after = retry_after.clone();
                async move {
                    let mut response: Response = (
                        AxStatus::TOO_MANY_REQUESTS,
                        axum::Json(json!({
                            "status": "error",
                            "message": "You have reached your ten_secondly_rolling limit.",
                            "errorType": "RATE_LIMIT",
                            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
                            "policyName": "TEN_SECONDLY_ROLLING",
                            "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"
                        })),
                    )
                        .into_response();
                    if let Ok(v) = retry_after.parse() {
                        response.headers_mut().insert("retry-after", v);
                    }
                    response
                }
            }),
        )
    }

    #[tokio::test]
    async fn a_429_carries_retry_after_seconds_and_the_policy() {
        let api = api_at(rate_limited("3".into())).await;
        let err = api
            .list_companies(TOKEN, &["name"], None, 100)
            .await
            .expect_err("limited");
        match &err {
            ApiError::RateLimited {
                retry_after,
                policy,
            } => {
                assert_eq!(*retry_after, Some(Duration::from_secs(3)));
                assert_eq!(policy.as_deref(), Some("TEN_SECONDLY_ROLLING"));
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_429_carries_retry_after_as_an_http_date() {
        let at = Utc::now() + chrono::Duration::seconds(90);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let api = api_at(rate_limited(date)).await;
        let err = api
            .list_companies(TOKEN, &["name"], None, 100)
            .await
            .expect_err("limited");
        let ApiError::RateLimited {
            retry_after: Some(wait),
            ..
        } = err
        else {
            panic!("expected a rate limit with a delay, got {err:?}");
        };
        assert!((Duration::from_secs(85)..=Duration::from_secs(90)).contains(&wait));
    }

    #[tokio::test]
    async fn a_500_is_retryable_and_a_400_is_not() {
        let router = Router::new()
            .route(
                "/crm/v3/objects/companies",
                get(|| async { (AxStatus::INTERNAL_SERVER_ERROR, "upstream failure") }),
            )
            .route(
                "/crm/v3/objects/companies/batch/read",
                post(|| async {
                    (
                        AxStatus::BAD_REQUEST,
                        axum::Json(json!({
                            "status": "error",
                            "message": format!("Invalid input JSON near {TOKEN}"),
                            "correlationId": "aeb5b0f4-0c7e-4b4e-9f5a-1c2f3e4d5a6b",
                            "category": "VALIDATION_ERROR"
                        })),
                    )
                }),
            );
        let api = api_at(router).await;
        let err = api
            .list_companies(TOKEN, &[], None, 10)
            .await
            .expect_err("500");
        assert!(matches!(err, ApiError::Server(s) if s == StatusCode::INTERNAL_SERVER_ERROR));
        assert!(err.is_retryable());

        let err = api
            .batch_read_companies(TOKEN, &[], &["1".to_owned()])
            .await
            .expect_err("400");
        assert!(matches!(&err, ApiError::Client(s, m)
            if *s == StatusCode::BAD_REQUEST && m.starts_with("VALIDATION_ERROR: ")));
        assert!(!err.is_retryable());
        assert!(!format!("{err} {err:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn a_timeout_is_a_retryable_transport_error() {
        let router = Router::new().route(
            "/crm/v3/objects/companies",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        let base = serve(router).await;
        let api = HubSpotApi::new(reqwest::Client::new(), &base, Duration::from_millis(100))
            .expect("client");
        let err = api
            .list_companies(TOKEN, &[], None, 10)
            .await
            .expect_err("timeout");
        assert!(matches!(&err, ApiError::Transport { detail, .. } if detail == "timed out"));
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_malformed_answer_is_a_decode_error_without_its_contents() {
        let router = Router::new().route(
            "/crm/v3/objects/companies",
            get(|| async { axum::Json(json!({"results": [{"id": "1", "name": "Secret Corp"}]})) }),
        );
        let err = api_at(router)
            .await
            .list_companies(TOKEN, &[], None, 10)
            .await
            .expect_err("decode");
        assert!(matches!(err, ApiError::Decode { .. }));
        assert!(!format!("{err} {err:?}").contains("Secret Corp"));
    }

    #[test]
    fn base_urls_must_be_http() {
        let http = reqwest::Client::new();
        assert!(HubSpotApi::new(http.clone(), "ftp://x", Duration::from_secs(1)).is_err());
        assert!(HubSpotApi::new(http.clone(), "not a url", Duration::from_secs(1)).is_err());
        assert!(HubSpotApi::new(http, "https://api.hubapi.com/", Duration::from_secs(1)).is_ok());
    }
}
