//! Activities: HubSpot meetings (create with associations, search with `EQ` filters) and
//! Salesforce Tasks (upsert on the external id field `Terrane_Visit_Id__c`), in the vendors'
//! wire formats and status codes; the records are in `activity_store`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::activity_store::{Meeting, TASK_EXTERNAL_ID_FIELD, Task};
use crate::clock::now_ms;
use crate::ids;
use crate::state::{SimState, lock};
use crate::{hubspot, salesforce};

/// HubSpot's meeting → company association type.
const MEETING_TO_COMPANY: u64 = 188;

/// Meeting properties a client may set.
const MEETING_PROPERTIES: &[&str] = &[
    "hs_timestamp",
    "hs_meeting_title",
    "hs_meeting_body",
    "hs_internal_meeting_notes",
    "hs_meeting_external_url",
    "hs_meeting_location",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
    "hs_meeting_outcome",
    "hs_activity_type",
    "hubspot_owner_id",
];
const MEETING_OUTCOMES: &[&str] = &[
    "SCHEDULED",
    "COMPLETED",
    "RESCHEDULED",
    "NO_SHOW",
    "CANCELED",
];

/// Task fields a client may set.
const TASK_FIELDS: &[&str] = &[
    "Subject",
    "WhatId",
    "WhoId",
    "ActivityDate",
    "Status",
    "Type",
    "Description",
    "OwnerId",
    "Priority",
];
const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
];

// ---------------------------------------------------------------------------------------------
// HubSpot meetings

fn hubspot_invalid(message: impl Into<String>) -> Response {
    hubspot::error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    associations: Vec<Association>,
}

#[derive(Debug, Deserialize)]
struct Association {
    to: AssociationTarget,
    types: Vec<AssociationType>,
}

#[derive(Debug, Deserialize)]
struct AssociationTarget {
    id: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociationType {
    association_category: String,
    association_type_id: u64,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The meeting's properties as text, or HubSpot's validation message.
fn meeting_properties(raw: &BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if !MEETING_PROPERTIES.contains(&name.as_str()) {
            return Err(format!(
                "Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{name}\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]"
            ));
        }
        if let Some(t) = text(value) {
            out.insert(name.clone(), t);
        }
    }
    if !out.contains_key("hs_timestamp") {
        return Err("Property values were not valid: hs_timestamp is required".into());
    }
    for time in [
        "hs_timestamp",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
    ] {
        if let Some(t) = out.get(time) {
            let ok = t.parse::<i64>().is_ok() || chrono::DateTime::parse_from_rfc3339(t).is_ok();
            if !ok {
                return Err(format!(
                    "Property values were not valid: {time} must be a datetime, got {t:?}"
                ));
            }
        }
    }
    if let Some(o) = out.get("hs_meeting_outcome")
        && !MEETING_OUTCOMES.contains(&o.as_str())
    {
        return Err(format!(
            "Property values were not valid: {o:?} is not a valid option for hs_meeting_outcome"
        ));
    }
    Ok(out)
}

/// `POST /crm/v3/objects/meetings`: 201 with the meeting; 400 for unknown properties, a
/// missing `hs_timestamp` or an association to no live company.
pub async fn create_meeting(State(sim): State<SimState>, body: Bytes) -> Response {
    let request: CreateBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return hubspot_invalid(format!("Invalid input JSON: {e}")),
    };
    let properties = match meeting_properties(&request.properties) {
        Ok(p) => p,
        Err(m) => return hubspot_invalid(m),
    };
    let mut companies = Vec::new();
    {
        let store = lock(&sim.store);
        for a in &request.associations {
            let supported = a.types.iter().all(|t| {
                t.association_category == "HUBSPOT_DEFINED"
                    && t.association_type_id == MEETING_TO_COMPANY
            });
            if a.types.is_empty() || !supported {
                return hubspot_invalid(
                    "Only HUBSPOT_DEFINED meeting to company associations (188) are simulated",
                );
            }
            let id = text(&a.to.id).unwrap_or_default();
            match id
                .parse::<u64>()
                .ok()
                .and_then(|n| store.hubspot_resolve(n))
            {
                Some(c) => companies.push(c.id),
                None => {
                    return hubspot_invalid(format!(
                        "One or more associations are invalid: COMPANY {id} does not exist"
                    ));
                }
            }
        }
    }
    let mut activities = lock(&sim.activities);
    let id = activities.next_meeting;
    activities.next_meeting += 1;
    let meeting = Meeting {
        id,
        properties,
        companies,
        created_ms: now_ms(),
    };
    let body = meeting.to_json(None);
    activities.meetings.insert(id, meeting);
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct FilterGroup {
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    #[serde(default)]
    value: Option<Value>,
}

/// `POST /crm/v3/objects/meetings/search`: `EQ` filters (groups OR-ed, filters AND-ed), up to
/// 200 results, oldest first.
pub async fn search_meetings(State(sim): State<SimState>, body: Bytes) -> Response {
    let request: SearchBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return hubspot_invalid(format!("Invalid input JSON: {e}")),
    };
    if request.filter_groups.len() > 5 {
        return hubspot_invalid("at most 5 filterGroups");
    }
    if let Some(f) = request
        .filter_groups
        .iter()
        .flat_map(|g| &g.filters)
        .find(|f| f.operator != "EQ")
    {
        return hubspot_invalid(format!(
            "operator {} is not simulated (only EQ)",
            f.operator
        ));
    }
    let limit = request.limit.unwrap_or(10).clamp(1, 200);
    let activities = lock(&sim.activities);
    let matches = |m: &Meeting| {
        request.filter_groups.is_empty()
            || request.filter_groups.iter().any(|g| {
                g.filters.iter().all(|f| {
                    let want = f.value.as_ref().and_then(text);
                    m.properties.get(&f.property_name) == want.as_ref()
                })
            })
    };
    let hits: Vec<&Meeting> = activities
        .meetings
        .values()
        .filter(|m| matches(m))
        .collect();
    let results: Vec<Value> = hits
        .iter()
        .take(limit)
        .map(|m| m.to_json(request.properties.as_deref()))
        .collect();
    Json(json!({"total": hits.len(), "results": results})).into_response()
}

// ---------------------------------------------------------------------------------------------
// Salesforce Tasks

/// A refused Task body: Salesforce's error code and message (answered 400).
type Refused = (&'static str, String);

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    (code, message.into())
}

/// Checks a Task body; the fields to store, or Salesforce's 400 error code and message.
fn task_fields(
    body: &Bytes,
    account_exists: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Value>, Refused> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(refused(
            "JSON_PARSER_ERROR",
            "The request body is not a JSON object",
        ));
    };
    let mut out = BTreeMap::new();
    for (name, value) in fields {
        if name == "attributes" {
            continue;
        }
        if !TASK_FIELDS.contains(&name.as_str()) {
            return Err(refused(
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject of type Task"),
            ));
        }
        out.insert(name, value);
    }
    if let Some(what) = out.get("WhatId") {
        let id = what.as_str().unwrap_or_default();
        if ids::salesforce_id18(id).is_none() {
            return Err(refused(
                "MALFORMED_ID",
                format!("Related To ID: id value of incorrect type: {id}"),
            ));
        }
        if !account_exists(id) {
            return Err(refused(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
            ));
        }
    }
    if let Some(owner) = out.get("OwnerId") {
        let id = owner.as_str().unwrap_or_default();
        if ids::salesforce_id18(id).is_none() || !id.starts_with("005") {
            return Err(refused(
                "INVALID_CROSS_REFERENCE_KEY",
                "Assigned To ID: owner cannot be blank or is not a user",
            ));
        }
    }
    if let Some(status) = out.get("Status")
        && !status.as_str().is_some_and(|s| TASK_STATUSES.contains(&s))
    {
        return Err(refused(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            format!("Status: bad value for restricted picklist field: {status}"),
        ));
    }
    if let Some(day) = out.get("ActivityDate") {
        let ok = day
            .as_str()
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
        if !ok {
            return Err(refused(
                "JSON_PARSER_ERROR",
                format!("Cannot deserialize instance of date from VALUE_STRING value {day}"),
            ));
        }
    }
    Ok(out)
}

/// `PATCH /services/data/{version}/sobjects/Task/{field}/{value}`: upsert on an External ID
/// field. 201 `created: true` for a new Task, 200 `created: false` for an update (204 before
/// API version 46.0); 404 `NOT_FOUND` for a field that is not an External ID of Task.
pub async fn upsert_task(
    State(sim): State<SimState>,
    Path((version, field, value)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if !salesforce::valid_version(&version) {
        return salesforce::not_found();
    }
    if field != TASK_EXTERNAL_ID_FIELD || lock(&sim.faults).settings.task_field_missing {
        return salesforce::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {field}"),
        );
    }
    let fields = {
        let store = lock(&sim.store);
        task_fields(&body, |id| {
            ids::salesforce_id18(id)
                .and_then(|id| store.accounts.get(&id))
                .is_some_and(|a| !a.deleted)
        })
    };
    let fields = match fields {
        Ok(f) => f,
        Err((code, message)) => {
            return salesforce::error(StatusCode::BAD_REQUEST, code, message);
        }
    };
    let mut activities = lock(&sim.activities);
    let created = !activities.tasks.contains_key(&value);
    if created {
        let id = ids::salesforce_id("00T", "Sm0000", activities.next_task);
        activities.next_task += 1;
        activities.tasks.insert(
            value.clone(),
            Task {
                id,
                external_id: value.clone(),
                fields: BTreeMap::new(),
                writes: 0,
            },
        );
    }
    let Some(task) = activities.tasks.get_mut(&value) else {
        return salesforce::not_found();
    };
    task.fields.extend(fields);
    task.writes += 1;
    let body = json!({"id": task.id, "success": true, "errors": [], "created": created});
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match (created, major >= 46) {
        (true, _) => (StatusCode::CREATED, Json(body)).into_response(),
        (false, true) => Json(body).into_response(),
        (false, false) => StatusCode::NO_CONTENT.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_properties_need_a_timestamp_and_known_names_and_outcomes() {
        let ok = BTreeMap::from([
            ("hs_timestamp".to_owned(), json!("2026-12-08T09:30:00.000Z")),
            ("hs_meeting_outcome".to_owned(), json!("COMPLETED")),
        ]);
        assert!(meeting_properties(&ok).is_ok());
        let mut unknown = ok.clone();
        unknown.insert("terrane_visit".into(), json!("x"));
        assert!(meeting_properties(&unknown).is_err_and(|m| m.contains("PROPERTY_DOESNT_EXIST")));
        let mut outcome = ok.clone();
        outcome.insert("hs_meeting_outcome".into(), json!("DONE"));
        assert!(meeting_properties(&outcome).is_err());
        assert!(meeting_properties(&BTreeMap::new()).is_err_and(|m| m.contains("hs_timestamp")));
    }

    #[test]
    fn task_bodies_are_checked_like_salesforce() {
        let account = "001Dm0000000001IAA";
        let exists = |id: &str| id == account;
        let good = Bytes::from(
            json!({"Subject": "Visit", "WhatId": account, "Status": "Completed",
                   "ActivityDate": "2026-12-08"})
            .to_string(),
        );
        assert!(task_fields(&good, exists).is_ok());
        for bad in [
            json!({"Nope": 1}),
            json!({"WhatId": "001Dm0000000002IAA"}),
            json!({"Status": "Done"}),
            json!({"ActivityDate": "08/12/2026"}),
            json!({"OwnerId": "owner-1"}),
        ] {
            let body = Bytes::from(bad.to_string());
            assert!(task_fields(&body, exists).is_err(), "{bad}");
        }
    }
}
