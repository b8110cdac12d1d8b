//! Salesforce REST: SOQL query with `nextRecordsUrl` paging, and Account owner updates through
//! sObject Collections.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ApiError, api_base, scalar_text, send_json};

/// The REST API version we speak.
pub const DEFAULT_API_VERSION: &str = "v62.0";
/// Most records one sObject Collections call takes.
pub const MAX_COLLECTION: usize = 200;

/// A Salesforce REST client for one org's instance; the token is passed per call.
#[derive(Debug, Clone)]
pub struct SalesforceApi {
    pub(super) http: reqwest::Client,
    pub(super) instance_url: String,
    pub(super) api_version: String,
    pub(super) timeout: Duration,
    batch_size: Option<u32>,
}

/// A record's fields as text, the shape Outbound Messages give too: numbers in decimal,
/// booleans as `true`/`false`, null as `None`; relationship and compound fields flattened to
/// dotted names (`Owner.Email`, `BillingAddress.city`); `attributes` and sub-queries dropped.
pub type Fields = BTreeMap<String, Option<String>>;

/// One page of a SOQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    pub total_size: u64,
    pub done: bool,
    /// Pass to [`SalesforceApi::query_more`] while `done` is false.
    pub next_records_url: Option<String>,
    pub records: Vec<Fields>,
}

/// The outcome for one record of [`SalesforceApi::update_owners`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveResult {
    /// The record's Id (taken from the request when Salesforce leaves it out of a failure).
    pub id: String,
    pub success: bool,
    pub errors: Vec<SaveError>,
}

/// Why Salesforce did not save one record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveError {
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryAnswer {
    total_size: u64,
    done: bool,
    next_records_url: Option<String>,
    #[serde(default)]
    records: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawSaveResult {
    id: Option<String>,
    success: bool,
    #[serde(default)]
    errors: Vec<SaveError>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CollectionBody<'a> {
    all_or_none: bool,
    records: Vec<OwnerUpdate<'a>>,
}

#[derive(Serialize)]
struct OwnerUpdate<'a> {
    attributes: SObjectType,
    id: &'a str,
    #[serde(rename = "OwnerId")]
    owner_id: &'a str,
}

#[derive(Serialize)]
struct SObjectType {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl SalesforceApi {
    /// A client for the org at `instance_url` (the token answer's `instance_url`); every
    /// request gives up after `timeout`.
    pub fn new(
        http: reqwest::Client,
        instance_url: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            http,
            instance_url: api_base(instance_url, "the Salesforce instance URL")?,
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout,
            batch_size: None,
        })
    }

    /// Speaks another REST version (`"v61.0"`).
    #[must_use]
    pub fn with_api_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.api_version);
        self
    }

    /// Asks for `size` records per query page (`Sforce-Query-Options: batchSize=..`; Salesforce
    /// takes 200 to 2000 and treats it as a hint).
    #[must_use]
    pub fn with_batch_size(mut self, size: Option<u32>) -> Self {
        self.batch_size = size.map(|s| s.clamp(200, 2000));
        self
    }

    /// The first page of `soql`'s results.
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn query(&self, token: &str, soql: &str) -> Result<QueryPage, ApiError> {
        let request = self
            .http
            .get(format!(
                "{}/services/data/{}/query",
                self.instance_url, self.api_version
            ))
            .query(&[("q", soql)]);
        self.query_page(request, token).await
    }

    /// The page at `next_records_url` (from the previous [`QueryPage`]). Only paths on this
    /// instance are followed, so the token never goes to another host.
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn query_more(
        &self,
        token: &str,
        next_records_url: &str,
    ) -> Result<QueryPage, ApiError> {
        let on_this_instance = next_records_url.starts_with("/services/data/")
            && !next_records_url.contains("://")
            && !next_records_url.contains('\\');
        if !on_this_instance {
            return Err(ApiError::BadUrl {
                what: "Salesforce's nextRecordsUrl",
            });
        }
        let request = self
            .http
            .get(format!("{}{next_records_url}", self.instance_url));
        self.query_page(request, token).await
    }

    async fn query_page(
        &self,
        mut request: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<QueryPage, ApiError> {
        if let Some(size) = self.batch_size {
            request = request.header("Sforce-Query-Options", format!("batchSize={size}"));
        }
        let answer: QueryAnswer = send_json(
            request.timeout(self.timeout),
            token,
            "a Salesforce query page",
        )
        .await?;
        tracing::debug!(
            records = answer.records.len(),
            total = answer.total_size,
            done = answer.done,
            "Salesforce query page"
        );
        Ok(QueryPage {
            total_size: answer.total_size,
            done: answer.done,
            next_records_url: answer.next_records_url,
            records: answer.records.iter().map(flatten_record).collect(),
        })
    }

    /// Sets `OwnerId` on up to 200 Accounts (`(Id, OwnerId)` pairs) in one call. With
    /// `all_or_none` Salesforce saves all or none of them. Results are in request order.
    #[tracing::instrument(level = "debug", skip_all, fields(records = updates.len()), err(level = "debug"))]
    pub async fn update_owners(
        &self,
        token: &str,
        updates: &[(String, String)],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, ApiError> {
        if updates.len() > MAX_COLLECTION {
            return Err(ApiError::BatchTooLarge {
                what: "Salesforce's sObject Collections update",
                max: MAX_COLLECTION,
                got: updates.len(),
            });
        }
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let body = CollectionBody {
            all_or_none,
            records: updates
                .iter()
                .map(|(id, owner_id)| OwnerUpdate {
                    attributes: SObjectType { kind: "Account" },
                    id,
                    owner_id,
                })
                .collect(),
        };
        let request = self
            .http
            .patch(format!(
                "{}/services/data/{}/composite/sobjects",
                self.instance_url, self.api_version
            ))
            .json(&body)
            .timeout(self.timeout);
        let raw: Vec<RawSaveResult> =
            send_json(request, token, "a Salesforce owner update").await?;
        let results: Vec<SaveResult> = raw
            .into_iter()
            .zip(updates)
            .map(|(r, (requested_id, _))| SaveResult {
                id: r.id.unwrap_or_else(|| requested_id.clone()),
                success: r.success,
                errors: r.errors,
            })
            .collect();
        tracing::debug!(
            saved = results.iter().filter(|r| r.success).count(),
            failed = results.iter().filter(|r| !r.success).count(),
            "Salesforce owner update"
        );
        Ok(results)
    }
}

/// The exact request of [`SalesforceApi::query`] on `instance_url` (default API version), as
/// a URL with the `q` parameter encoded as the client encodes it, for dry runs.
pub fn query_request(instance_url: &str, soql: &str) -> String {
    let base = format!(
        "{}/services/data/{DEFAULT_API_VERSION}/query",
        instance_url.trim_end_matches('/')
    );
    match reqwest::Url::parse_with_params(&base, &[("q", soql)]) {
        Ok(url) => url.to_string(),
        Err(_) => base,
    }
}

/// The exact request of [`SalesforceApi::update_owners`] on `instance_url` (default API
/// version), as (URL, JSON body), for dry runs.
pub fn update_owners_request(
    instance_url: &str,
    updates: &[(String, String)],
    all_or_none: bool,
) -> (String, serde_json::Value) {
    let body = CollectionBody {
        all_or_none,
        records: updates
            .iter()
            .map(|(id, owner_id)| OwnerUpdate {
                attributes: SObjectType { kind: "Account" },
                id,
                owner_id,
            })
            .collect(),
    };
    (
        format!(
            "{}/services/data/{DEFAULT_API_VERSION}/composite/sobjects",
            instance_url.trim_end_matches('/')
        ),
        serde_json::to_value(&body).unwrap_or_default(),
    )
}

/// A REST record as [`Fields`].
pub(super) fn flatten_record(record: &serde_json::Map<String, serde_json::Value>) -> Fields {
    let mut out = Fields::new();
    flatten_into(&mut out, "", record);
    out
}

fn flatten_into(
    out: &mut Fields,
    prefix: &str,
    object: &serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in object {
        if key == "attributes" {
            continue;
        }
        let name = format!("{prefix}{key}");
        match value {
            // A sub-query's child records are a list, not fields of this record.
            serde_json::Value::Object(inner) if inner.contains_key("records") => {}
            serde_json::Value::Object(inner) => flatten_into(out, &format!("{name}."), inner),
            serde_json::Value::Array(_) => {}
            scalar => {
                out.insert(name, scalar_text(scalar));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode as AxStatus};
    use axum::routing::{get, patch};
    use serde_json::{Value, json};

    use super::*;
    use crate::crm::api::testing::serve;

    const TOKEN: &str = "00Dxx0000001gPL!AR8AQJXg";
    const SOQL: &str = "SELECT Id, Name, AnnualRevenue, IsDeleted, Owner.Email, BillingAddress FROM Account WHERE LastModifiedDate > 2025-01-01T00:00:00Z";

    fn account(id: &str, revenue: Value) -> Value {
        json!({
            "attributes": {"type": "Account", "url": format!("/services/data/v62.0/sobjects/Account/{id}")},
            "Id": id,
            "Name": "Acme & Sons",
            "AnnualRevenue": revenue,
            "IsDeleted": false,
            "NumberOfEmployees": 120,
            "Owner": {"attributes": {"type": "User", "url": "/services/data/v62.0/sobjects/User/005xx"}, "Email": "rep@example.com"},
            "BillingAddress": {"city": "Lyon", "country": "France", "latitude": 45.764, "longitude": 4.8357, "street": null},
            "Contacts": {"totalSize": 1, "done": true, "records": [{"attributes": {"type": "Contact"}, "Id": "003xx"}]}
        })
    }

    async fn api_at(router: Router) -> SalesforceApi {
        let base = serve(router).await;
        SalesforceApi::new(reqwest::Client::new(), &base, Duration::from_secs(5)).expect("client")
    }

    /// What the fake saw: the `q` parameter (or query locator) and `Sforce-Query-Options`.
    type SeenRequest = (Option<String>, Option<String>);

    #[tokio::test]
    async fn query_then_query_more_reads_every_page_as_text_fields() {
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let first_log = seen.clone();
        let more_log = seen.clone();
        let router = Router::new()
            .route(
                "/services/data/v62.0/query",
                get(move |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                    assert_eq!(
                        headers.get("authorization").and_then(|v| v.to_str().ok()),
                        Some(format!("Bearer {TOKEN}").as_str())
                    );
                    let options = headers
                        .get("sforce-query-options")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    first_log.lock().expect("log").push((q.get("q").cloned(), options));
                    axum::Json(json!({
                        "totalSize": 3,
                        "done": false,
                        "nextRecordsUrl": "/services/data/v62.0/query/01gxx0000002abc-2000",
                        "records": [account("001A", json!(1_500_000.5)), account("001B", Value::Null)]
                    }))
                }),
            )
            .route(
                "/services/data/v62.0/query/{locator}",
                get(move |axum::extract::Path(locator): axum::extract::Path<String>| async move {
                    more_log.lock().expect("log").push((Some(locator), None));
                    axum::Json(json!({
                        "totalSize": 3,
                        "done": true,
                        "records": [account("001C", json!(42))]
                    }))
                }),
            );
        let api = api_at(router).await.with_batch_size(Some(2000));

        let first = api.query(TOKEN, SOQL).await.expect("first page");
        assert_eq!(first.total_size, 3);
        assert!(!first.done);
        let next = first.next_records_url.clone().expect("more pages");
        let second = api.query_more(TOKEN, &next).await.expect("second page");
        assert!(second.done);
        assert_eq!(second.next_records_url, None);

        let records: Vec<&Fields> = first.records.iter().chain(&second.records).collect();
        let ids: Vec<_> = records.iter().map(|r| r["Id"].as_deref()).collect();
        assert_eq!(ids, [Some("001A"), Some("001B"), Some("001C")]);
        let a = records[0];
        assert_eq!(a["Name"].as_deref(), Some("Acme & Sons"));
        assert_eq!(a["AnnualRevenue"].as_deref(), Some("1500000.5"));
        assert_eq!(a["IsDeleted"].as_deref(), Some("false"));
        assert_eq!(a["NumberOfEmployees"].as_deref(), Some("120"));
        assert_eq!(a["Owner.Email"].as_deref(), Some("rep@example.com"));
        assert_eq!(a["BillingAddress.city"].as_deref(), Some("Lyon"));
        assert_eq!(a["BillingAddress.latitude"].as_deref(), Some("45.764"));
        assert_eq!(a["BillingAddress.street"], None);
        assert!(
            !a.keys()
                .any(|k| k.contains("attributes") || k.starts_with("Contacts"))
        );
        assert_eq!(records[1]["AnnualRevenue"], None);
        assert_eq!(records[2]["AnnualRevenue"].as_deref(), Some("42"));

        let seen = seen.lock().expect("log");
        assert_eq!(seen[0].0.as_deref(), Some(SOQL));
        assert_eq!(seen[0].1.as_deref(), Some("batchSize=2000"));
        assert_eq!(seen[1].0.as_deref(), Some("01gxx0000002abc-2000"));
    }

    #[tokio::test]
    async fn query_more_refuses_urls_off_the_instance() {
        let api = SalesforceApi::new(
            reqwest::Client::new(),
            "https://acme.my.salesforce.com",
            Duration::from_secs(1),
        )
        .expect("client");
        for bad in [
            "https://evil.example/services/data/v62.0/query/01g-2000",
            "//evil.example/services/data/x",
            "services/data/v62.0/query/01g-2000",
        ] {
            let result = api.query_more(TOKEN, bad).await;
            assert!(matches!(result, Err(ApiError::BadUrl { .. })), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_expired_session_is_unauthorized_without_the_token() {
        let router = Router::new().route(
            "/services/data/v62.0/query",
            get(|| async {
                (
                    AxStatus::UNAUTHORIZED,
                    axum::Json(json!([{
                        "message": "Session expired or invalid",
                        "errorCode": "INVALID_SESSION_ID"
                    }])),
                )
            }),
        );
        let err = api_at(router)
            .await
            .query(TOKEN, "SELECT Id FROM Account")
            .await
            .expect_err("401");
        assert!(matches!(err, ApiError::Unauthorized));
        assert!(!format!("{err} {err:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn a_malformed_query_is_a_client_error_with_the_vendor_code() {
        let router = Router::new().route(
            "/services/data/v62.0/query",
            get(|| async {
                (
                    AxStatus::BAD_REQUEST,
                    axum::Json(json!([{
                        "message": "unexpected token: FORM",
                        "errorCode": "MALFORMED_QUERY"
                    }])),
                )
            }),
        );
        let err = api_at(router)
            .await
            .query(TOKEN, "SELECT Id FORM Account")
            .await
            .expect_err("400");
        assert!(matches!(&err, ApiError::Client(s, m)
            if s.as_u16() == 400 && m == "MALFORMED_QUERY: unexpected token: FORM"));
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn owner_updates_go_through_sobject_collections() {
        let router = Router::new().route(
            "/services/data/v62.0/composite/sobjects",
            patch(|axum::Json(body): axum::Json<Value>| async move {
                assert_eq!(
                    body,
                    json!({
                        "allOrNone": false,
                        "records": [
                            {"attributes": {"type": "Account"}, "id": "001A", "OwnerId": "005X"},
                            {"attributes": {"type": "Account"}, "id": "001B", "OwnerId": "005Y"}
                        ]
                    })
                );
                axum::Json(json!([
                    {"id": "001A", "success": true, "errors": []},
                    {"success": false, "errors": [{
                        "statusCode": "INACTIVE_OWNER_OR_USER",
                        "message": "operation performed with inactive user",
                        "fields": ["OwnerId"]
                    }]}
                ]))
            }),
        );
        let api = api_at(router).await;
        let updates = [
            ("001A".to_owned(), "005X".to_owned()),
            ("001B".to_owned(), "005Y".to_owned()),
        ];
        let results = api
            .update_owners(TOKEN, &updates, false)
            .await
            .expect("update");
        assert_eq!(
            results,
            [
                SaveResult {
                    id: "001A".into(),
                    success: true,
                    errors: vec![],
                },
                SaveResult {
                    id: "001B".into(),
                    success: false,
                    errors: vec![SaveError {
                        status_code: "INACTIVE_OWNER_OR_USER".into(),
                        message: "operation performed with inactive user".into(),
                        fields: vec!["OwnerId".into()],
                    }],
                },
            ]
        );
    }

    #[tokio::test]
    async fn owner_updates_refuse_more_than_two_hundred_records() {
        let api = SalesforceApi::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9",
            Duration::from_secs(1),
        )
        .expect("client");
        let updates: Vec<_> = (0..201)
            .map(|i| (i.to_string(), "005".to_owned()))
            .collect();
        let err = api
            .update_owners(TOKEN, &updates, true)
            .await
            .expect_err("too many");
        assert!(matches!(
            err,
            ApiError::BatchTooLarge {
                max: 200,
                got: 201,
                ..
            }
        ));
    }
}
