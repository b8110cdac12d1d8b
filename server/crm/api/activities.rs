//! Activities written to and read from the CRMs: HubSpot meetings and tasks (create associated
//! with a company, search by Terrane's marker; meetings also by outcome and time, and their
//! companies) and Salesforce Tasks (upsert on an external id field, the replication API's
//! changed Ids, retrieve by Id).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::hubspot::HubSpotApi;
use super::salesforce::{Fields, SalesforceApi, flatten_record};
use super::{ApiError, error_from_response, send_json};

/// HubSpot's association type id of meeting → company (`HUBSPOT_DEFINED`).
pub const MEETING_TO_COMPANY: u32 = 188;
/// HubSpot's association type id of task → company (`HUBSPOT_DEFINED`).
pub const TASK_TO_COMPANY: u32 = 192;
/// The meeting property holding Terrane's marker (the visit's URL).
pub const MEETING_MARKER_PROPERTY: &str = "hs_meeting_external_url";
/// The task property holding Terrane's marker (one word in the task's notes: tasks have no
/// external URL property).
pub const TASK_MARKER_PROPERTY: &str = "hs_task_body";
/// The custom External ID field on Task that the upsert names (an admin creates it once).
pub const TASK_EXTERNAL_ID_FIELD: &str = "Terrane_Visit_Id__c";

/// The HubSpot engagements Terrane creates: a visit's meeting, an alert's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engagement {
    Meeting,
    Task,
}

impl Engagement {
    /// The object's name in the CRM API's paths.
    fn objects(self) -> &'static str {
        match self {
            Self::Meeting => "meetings",
            Self::Task => "tasks",
        }
    }

    fn to_company(self) -> u32 {
        match self {
            Self::Meeting => MEETING_TO_COMPANY,
            Self::Task => TASK_TO_COMPANY,
        }
    }

    /// The search filter that finds Terrane's marker: the whole meeting URL (`EQ`), or the
    /// marker word in a task's notes (`CONTAINS_TOKEN` matches whole words).
    fn marker_filter(self, marker: &str) -> serde_json::Value {
        let (property, operator) = match self {
            Self::Meeting => (MEETING_MARKER_PROPERTY, "EQ"),
            Self::Task => (TASK_MARKER_PROPERTY, "CONTAINS_TOKEN"),
        };
        json!({"propertyName": property, "operator": operator, "value": marker})
    }
}

/// A meeting or task as HubSpot answers a create or a search hit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EngagementObject {
    pub id: String,
}

#[derive(Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    results: Vec<EngagementObject>,
}

/// A Task's fields as the upsert sends them (Salesforce field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskFields {
    #[serde(rename = "Subject")]
    pub subject: String,
    /// The Account's Id.
    #[serde(rename = "WhatId")]
    pub what_id: String,
    /// `YYYY-MM-DD`, the rep's local day.
    #[serde(rename = "ActivityDate")]
    pub activity_date: String,
    #[serde(rename = "Status")]
    pub status: &'static str,
    /// The Type picklist (`Meeting` for a visit); none leaves the org's default.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "OwnerId", skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

/// What an upsert did: `id` is the Task's Id (absent only when an old API version answered
/// 204 to an update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskUpsert {
    pub id: Option<String>,
    pub created: bool,
}

#[derive(Deserialize)]
struct UpsertAnswer {
    id: Option<String>,
    #[serde(default)]
    created: bool,
}

impl HubSpotApi {
    /// Creates a meeting or task with `properties`, associated with company `company_id`.
    /// HubSpot has no idempotency key on create: callers retry through
    /// [`Self::find_by_marker`].
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn create_engagement(
        &self,
        token: &str,
        kind: Engagement,
        properties: &BTreeMap<String, String>,
        company_id: &str,
    ) -> Result<EngagementObject, ApiError> {
        let (url, body) = create_request(&self.base_url, kind, properties, company_id);
        let request = self.http.post(url).json(&body).timeout(self.timeout);
        send_json(request, token, "a HubSpot engagement create").await
    }

    /// The meeting or task that carries Terrane's `marker`, if HubSpot has one.
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn find_by_marker(
        &self,
        token: &str,
        kind: Engagement,
        marker: &str,
    ) -> Result<Option<EngagementObject>, ApiError> {
        let body = json!({
            "filterGroups": [{"filters": [kind.marker_filter(marker)]}],
            "properties": ["hs_object_id"],
            "limit": 1,
        });
        let request = self
            .http
            .post(format!(
                "{}/crm/v3/objects/{}/search",
                self.base_url,
                kind.objects()
            ))
            .json(&body)
            .timeout(self.timeout);
        let answer: SearchAnswer = send_json(request, token, "a HubSpot engagement search").await?;
        Ok(answer.results.into_iter().next())
    }
}

/// The exact request of [`HubSpotApi::create_engagement`], as (URL, JSON body).
pub fn create_request(
    base_url: &str,
    kind: Engagement,
    properties: &BTreeMap<String, String>,
    company_id: &str,
) -> (String, serde_json::Value) {
    (
        format!(
            "{}/crm/v3/objects/{}",
            base_url.trim_end_matches('/'),
            kind.objects()
        ),
        json!({
            "properties": properties,
            "associations": [{
                "to": {"id": company_id},
                "types": [{
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": kind.to_company(),
                }],
            }],
        }),
    )
}

impl SalesforceApi {
    /// Creates or updates the Task whose [`TASK_EXTERNAL_ID_FIELD`] is `external_id`
    /// (`PATCH .../sobjects/Task/{field}/{value}`): 201 created, 200 (or 204) updated, so a
    /// repeat changes nothing. A 404 `NOT_FOUND` means the field does not exist in the org.
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn upsert_task(
        &self,
        token: &str,
        external_id: &str,
        fields: &TaskFields,
    ) -> Result<TaskUpsert, ApiError> {
        const WHAT: &str = "a Salesforce Task upsert";
        let safe = !external_id.is_empty()
            && external_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !safe {
            return Err(ApiError::BadUrl {
                what: "the Task external id",
            });
        }
        let request = self
            .http
            .patch(format!(
                "{}/services/data/{}/sobjects/Task/{TASK_EXTERNAL_ID_FIELD}/{external_id}",
                self.instance_url, self.api_version
            ))
            .json(fields)
            .timeout(self.timeout)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::transport(WHAT, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::transport(WHAT, &e))?;
        if status == StatusCode::NO_CONTENT {
            return Ok(TaskUpsert {
                id: None,
                created: false,
            });
        }
        if !status.is_success() {
            return Err(error_from_response(status, &headers, &body, token));
        }
        let answer: UpsertAnswer =
            serde_json::from_slice(&body).map_err(|e| ApiError::decode(WHAT, &e))?;
        Ok(TaskUpsert {
            id: answer.id,
            created: answer.created || status == StatusCode::CREATED,
        })
    }
}

/// A meeting with the properties asked for (text; an empty property is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MeetingRecord {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
}

/// One page of [`HubSpotApi::completed_meetings_since`]; `next_after` is `None` on the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingPage {
    pub results: Vec<MeetingRecord>,
    pub next_after: Option<String>,
}

/// The meeting properties visits are read from.
pub const MEETING_READ_PROPERTIES: [&str; 4] = [
    "hs_timestamp",
    "hs_meeting_outcome",
    "hubspot_owner_id",
    MEETING_MARKER_PROPERTY,
];

#[derive(Deserialize)]
struct MeetingSearchAnswer {
    #[serde(default)]
    results: Vec<MeetingRecord>,
    paging: Option<SearchPaging>,
}

#[derive(Deserialize)]
struct SearchPaging {
    next: Option<SearchNext>,
}

#[derive(Deserialize)]
struct SearchNext {
    after: String,
}

#[derive(Deserialize)]
struct AssociationAnswer {
    #[serde(default)]
    results: Vec<AssociationResult>,
}

#[derive(Deserialize)]
struct AssociationResult {
    from: AssociationFrom,
    #[serde(default)]
    to: Vec<AssociationTo>,
}

#[derive(Deserialize)]
struct AssociationFrom {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociationTo {
    to_object_id: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdatedAnswer {
    #[serde(default)]
    ids: Vec<String>,
}

/// Most meeting ids per association batch read.
pub const MAX_ASSOCIATION_BATCH: usize = 1000;
/// Most Task Ids per sObject Collections retrieve.
pub const MAX_RETRIEVE: usize = 2000;

impl HubSpotApi {
    /// Meetings with outcome `COMPLETED` and `hs_timestamp` at or after `since_ms` (Unix ms),
    /// 100 a page from cursor `after`, with [`MEETING_READ_PROPERTIES`].
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn completed_meetings_since(
        &self,
        token: &str,
        since_ms: i64,
        after: Option<&str>,
    ) -> Result<MeetingPage, ApiError> {
        let mut body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": "hs_meeting_outcome", "operator": "EQ", "value": "COMPLETED"},
                {"propertyName": "hs_timestamp", "operator": "GTE", "value": since_ms.to_string()},
            ]}],
            "properties": MEETING_READ_PROPERTIES,
            "sorts": [{"propertyName": "hs_timestamp", "direction": "ASCENDING"}],
            "limit": 100,
        });
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        let request = self
            .http
            .post(format!("{}/crm/v3/objects/meetings/search", self.base_url))
            .json(&body)
            .timeout(self.timeout);
        let answer: MeetingSearchAnswer =
            send_json(request, token, "a HubSpot meeting search").await?;
        Ok(MeetingPage {
            results: answer.results,
            next_after: answer.paging.and_then(|p| p.next).map(|n| n.after),
        })
    }

    /// The companies each meeting is associated with (v4 batch read, up to 1000 ids).
    #[tracing::instrument(level = "debug", skip_all, fields(ids = ids.len()), err(level = "debug"))]
    pub async fn meeting_companies(
        &self,
        token: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        if ids.len() > MAX_ASSOCIATION_BATCH {
            return Err(ApiError::BatchTooLarge {
                what: "HubSpot's association batch read",
                max: MAX_ASSOCIATION_BATCH,
                got: ids.len(),
            });
        }
        let body = json!({"inputs": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
        let request = self
            .http
            .post(format!(
                "{}/crm/v4/associations/meetings/companies/batch/read",
                self.base_url
            ))
            .json(&body)
            .timeout(self.timeout);
        let answer: AssociationAnswer =
            send_json(request, token, "a HubSpot association read").await?;
        Ok(answer
            .results
            .into_iter()
            .map(|r| {
                let companies =
                    r.to.iter()
                        .filter_map(|t| super::scalar_text(&t.to_object_id))
                        .collect();
                (r.from.id, companies)
            })
            .collect())
    }
}

impl SalesforceApi {
    /// The Ids of Tasks created or changed between `start` and `end` (at most 30 days apart;
    /// the replication API `sobjects/Task/updated/`).
    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    pub async fn updated_task_ids(
        &self,
        token: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, ApiError> {
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let request = self
            .http
            .get(format!(
                "{}/services/data/{}/sobjects/Task/updated/",
                self.instance_url, self.api_version
            ))
            .query(&[("start", at(start)), ("end", at(end))])
            .timeout(self.timeout);
        let answer: UpdatedAnswer = send_json(request, token, "Salesforce's updated Tasks").await?;
        Ok(answer.ids)
    }

    /// Tasks by Id with `fields` (sObject Collections retrieve, up to 2000); unknown Ids are
    /// left out.
    #[tracing::instrument(level = "debug", skip_all, fields(ids = ids.len()), err(level = "debug"))]
    pub async fn retrieve_tasks(
        &self,
        token: &str,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Fields>, ApiError> {
        if ids.len() > MAX_RETRIEVE {
            return Err(ApiError::BatchTooLarge {
                what: "Salesforce's sObject Collections retrieve",
                max: MAX_RETRIEVE,
                got: ids.len(),
            });
        }
        let request = self
            .http
            .post(format!(
                "{}/services/data/{}/composite/sobjects/Task",
                self.instance_url, self.api_version
            ))
            .json(&json!({"ids": ids, "fields": fields}))
            .timeout(self.timeout);
        let records: Vec<Option<serde_json::Map<String, serde_json::Value>>> =
            send_json(request, token, "a Salesforce Task retrieve").await?;
        Ok(records.iter().flatten().map(flatten_record).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::Path;
    use axum::http::StatusCode as AxStatus;
    use axum::routing::patch;
    use serde_json::Value;

    use super::*;
    use crate::crm::api::testing::serve;

    #[test]
    fn a_meeting_is_created_with_its_company_association() {
        let props = BTreeMap::from([("hs_timestamp".to_owned(), "2026-12-08T10:00:00Z".into())]);
        let (url, body) = create_request("http://hs/", Engagement::Meeting, &props, "10000001");
        assert_eq!(url, "http://hs/crm/v3/objects/meetings");
        assert_eq!(body["associations"][0]["to"]["id"], "10000001");
        assert_eq!(
            body["associations"][0]["types"][0],
            json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 188})
        );
        assert_eq!(body["properties"]["hs_timestamp"], "2026-12-08T10:00:00Z");
    }

    #[test]
    fn a_task_goes_to_tasks_with_the_task_to_company_association_and_a_word_marker() {
        let (url, body) = create_request("http://hs", Engagement::Task, &BTreeMap::new(), "7");
        assert_eq!(url, "http://hs/crm/v3/objects/tasks");
        assert_eq!(
            body["associations"][0]["types"][0]["associationTypeId"],
            TASK_TO_COMPANY
        );
        assert_eq!(
            Engagement::Task.marker_filter("terranealert01"),
            json!({"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN",
                   "value": "terranealert01"})
        );
        assert_eq!(Engagement::Meeting.marker_filter("u")["operator"], "EQ");
    }

    fn task() -> TaskFields {
        TaskFields {
            subject: "Visit".into(),
            what_id: "001Dm0000000001IAA".into(),
            activity_date: "2026-12-08".into(),
            status: "Completed",
            kind: Some("Meeting"),
            description: None,
            owner_id: None,
        }
    }

    #[tokio::test]
    async fn an_upsert_reads_created_updated_and_a_missing_field() {
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/services/data/{v}/sobjects/Task/{field}/{value}",
            patch(
                move |Path((_, field, value)): Path<(String, String, String)>,
                      axum::Json(body): axum::Json<Value>| {
                    let log = log.clone();
                    async move {
                        log.lock().expect("log").push((field.clone(), body));
                        match value.as_str() {
                            "new" => (
                                AxStatus::CREATED,
                                axum::Json(json!({"id": "00TSm0000000001AAA", "success": true, "errors": [], "created": true})),
                            ),
                            "old" => (
                                AxStatus::OK,
                                axum::Json(json!({"id": "00TSm0000000001AAA", "success": true, "errors": [], "created": false})),
                            ),
                            _ => (
                                AxStatus::NOT_FOUND,
                                axum::Json(json!([{"errorCode": "NOT_FOUND", "message": "Provided external ID field does not exist or is not accessible: Terrane_Visit_Id__c"}])),
                            ),
                        }
                    }
                },
            ),
        );
        let base = serve(app).await;
        let api =
            SalesforceApi::new(reqwest::Client::new(), &base, Duration::from_secs(5)).expect("api");
        let created = api.upsert_task("t", "new", &task()).await.expect("created");
        assert_eq!(created.id.as_deref(), Some("00TSm0000000001AAA"));
        assert!(created.created);
        let updated = api.upsert_task("t", "old", &task()).await.expect("updated");
        assert!(!updated.created);
        let missing = api.upsert_task("t", "gone", &task()).await;
        assert!(
            matches!(&missing, Err(ApiError::Client(s, m)) if s.as_u16() == 404 && m.contains("NOT_FOUND")),
            "{missing:?}"
        );
        assert!(matches!(
            api.upsert_task("t", "a/b", &task()).await,
            Err(ApiError::BadUrl { .. })
        ));
        let seen = seen.lock().expect("log");
        assert_eq!(seen[0].0, TASK_EXTERNAL_ID_FIELD);
        assert_eq!(seen[0].1["WhatId"], "001Dm0000000001IAA");
        assert_eq!(seen[0].1["Status"], "Completed");
        assert!(seen[0].1.get("OwnerId").is_none(), "no owner: not sent");
    }
}
