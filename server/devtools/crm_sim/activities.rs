//! Activities: HubSpot meetings (create with associations, search with `EQ`, comparison and
//! `CONTAINS_TOKEN` filters; HubSpot tasks in `hubspot_tasks` share the pieces) and Salesforce
//! Tasks (upsert on the external id field `Terrane_Visit_Id__c`), in the vendors' wire formats
//! and status codes; the records are in `activity_store`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::activity_store::{Activities, Meeting, TASK_EXTERNAL_ID_FIELD};
use crate::clock::{hubspot_time, now_ms, salesforce_time};
use crate::edits::Crm;
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

/// The length of the Task's External ID field (Text).
const TASK_EXTERNAL_ID_MAX_CHARS: usize = 36;

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

pub(crate) fn text(v: &Value) -> Option<String> {
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
    let kind = Engagement {
        what: "meeting",
        to_company: MEETING_TO_COMPANY,
        properties: meeting_properties,
        store: |a, properties, companies, now| {
            let id = a.add_meeting(properties, companies, now);
            a.meetings.get(&id).map(|m| m.to_json(None))
        },
    };
    create(&sim, &body, &kind)
}

/// An engagement's properties as text.
pub(crate) type Properties = BTreeMap<String, String>;

/// What differs between HubSpot engagement creates (meetings, tasks).
pub(crate) struct Engagement {
    /// The object's name in messages.
    pub(crate) what: &'static str,
    /// The only association type simulated: this object to company.
    pub(crate) to_company: u64,
    /// Checks the properties; their text, or HubSpot's validation message.
    pub(crate) properties: fn(&BTreeMap<String, Value>) -> Result<Properties, String>,
    /// Stores the new record: its JSON.
    pub(crate) store: fn(&mut Activities, Properties, Vec<u64>, i64) -> Option<Value>,
}

/// A HubSpot engagement create: 201 with the record; 400 `VALIDATION_ERROR` for a body,
/// property or association HubSpot would refuse.
pub(crate) fn create(sim: &SimState, body: &Bytes, kind: &Engagement) -> Response {
    let request: CreateBody = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return hubspot_invalid(format!("Invalid input JSON: {e}")),
    };
    let properties = match (kind.properties)(&request.properties) {
        Ok(p) => p,
        Err(m) => return hubspot_invalid(m),
    };
    let companies = match companies_of(sim, &request, kind.what, kind.to_company) {
        Ok(c) => c,
        Err(m) => return hubspot_invalid(m),
    };
    let body = (kind.store)(&mut lock(&sim.activities), properties, companies, now_ms());
    (StatusCode::CREATED, Json(body.unwrap_or_default())).into_response()
}

/// The live companies a create associates with (type `type_id`, HUBSPOT_DEFINED, from a
/// `what`), or the message of HubSpot's 400.
fn companies_of(
    sim: &SimState,
    request: &CreateBody,
    what: &str,
    type_id: u64,
) -> Result<Vec<u64>, String> {
    let store = lock(&sim.store);
    let mut companies = Vec::new();
    for a in &request.associations {
        let supported = a.types.iter().all(|t| {
            t.association_category == "HUBSPOT_DEFINED" && t.association_type_id == type_id
        });
        if a.types.is_empty() || !supported {
            return Err(format!(
                "Only HUBSPOT_DEFINED {what} to company associations ({type_id}) are simulated"
            ));
        }
        let id = text(&a.to.id).unwrap_or_default();
        match id
            .parse::<u64>()
            .ok()
            .and_then(|n| store.hubspot_resolve(n))
        {
            Some(c) => companies.push(c.id),
            None => {
                return Err(format!(
                    "One or more associations are invalid: COMPANY {id} does not exist"
                ));
            }
        }
    }
    Ok(companies)
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
    #[serde(default)]
    after: Option<String>,
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

/// A property value or filter value as comparable: a number, or a date-time as Unix ms.
fn as_number(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// Whether `value` (absent: no value) passes one filter. `CONTAINS_TOKEN` matches a whole
/// word, case aside (words split at anything but letters and digits).
fn passes(filter: &Filter, value: Option<&String>) -> bool {
    let want = filter.value.as_ref().and_then(text);
    if filter.operator == "EQ" {
        return value == want.as_ref();
    }
    if filter.operator == "CONTAINS_TOKEN" {
        let (Some(have), Some(want)) = (value, want) else {
            return false;
        };
        return have
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case(&want));
    }
    let (Some(have), Some(want)) = (
        value.and_then(|v| as_number(v)),
        want.as_deref().and_then(as_number),
    ) else {
        return false;
    };
    match filter.operator.as_str() {
        "GT" => have > want,
        "GTE" => have >= want,
        "LT" => have < want,
        _ => have <= want,
    }
}

/// `POST /crm/v3/objects/meetings/search`: see [`search`].
pub async fn search_meetings(State(sim): State<SimState>, body: Bytes) -> Response {
    let activities = lock(&sim.activities);
    search(&body, activities.meetings.values())
}

/// A HubSpot search over `records`: `EQ`, `CONTAINS_TOKEN`, `GT`, `GTE`, `LT`, `LTE` filters
/// (groups OR-ed, filters AND-ed; comparisons on numbers and date-times), up to 200 results a
/// page in id order, `after` from `paging.next.after`.
pub(crate) fn search<'a>(body: &Bytes, records: impl Iterator<Item = &'a Meeting>) -> Response {
    const OPERATORS: [&str; 6] = ["EQ", "CONTAINS_TOKEN", "GT", "GTE", "LT", "LTE"];
    let request: SearchBody = match serde_json::from_slice(body) {
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
        .find(|f| !OPERATORS.contains(&f.operator.as_str()))
    {
        return hubspot_invalid(format!("operator {} is not simulated", f.operator));
    }
    let limit = request.limit.unwrap_or(10).clamp(1, 200);
    let offset: usize = match request.after.as_deref().map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return hubspot_invalid("after must be a number"),
    };
    let matches = |m: &Meeting| {
        request.filter_groups.is_empty()
            || request.filter_groups.iter().any(|g| {
                g.filters
                    .iter()
                    .all(|f| passes(f, m.properties.get(&f.property_name)))
            })
    };
    let hits: Vec<&Meeting> = records.filter(|m| matches(m)).collect();
    let results: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| m.to_json(request.properties.as_deref()))
        .collect();
    let mut body = json!({"total": hits.len(), "results": results});
    if offset + limit < hits.len() {
        body["paging"] = json!({"next": {"after": (offset + limit).to_string()}});
    }
    Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct AssociationsBody {
    inputs: Vec<AssociationInput>,
}

#[derive(Debug, Deserialize)]
struct AssociationInput {
    id: Value,
}

/// `POST /crm/v4/associations/meetings/companies/batch/read`: each meeting's companies
/// (`{results: [{from: {id}, to: [{toObjectId, associationTypes}]}]}`); unknown meetings are
/// left out with a 207 and an error naming them.
pub async fn meeting_companies(State(sim): State<SimState>, body: Bytes) -> Response {
    let request: AssociationsBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return hubspot_invalid(format!("Invalid input JSON: {e}")),
    };
    if request.inputs.len() > 1000 {
        return hubspot_invalid("at most 1000 inputs per batch");
    }
    let activities = lock(&sim.activities);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &request.inputs {
        let id = text(&input.id).unwrap_or_default();
        match id
            .parse::<u64>()
            .ok()
            .and_then(|n| activities.meetings.get(&n))
        {
            Some(m) => results.push(json!({
                "from": {"id": id},
                "to": m.companies.iter().map(|c| json!({
                    "toObjectId": c,
                    "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                          "typeId": MEETING_TO_COMPANY, "label": null}],
                })).collect::<Vec<_>>(),
            })),
            None => missing.push(id),
        }
    }
    let mut body = json!({"status": "COMPLETE", "results": results});
    if missing.is_empty() {
        return Json(body).into_response();
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{"status": "error", "category": "OBJECT_NOT_FOUND",
        "message": "No meetings with these ids", "context": {"ids": missing}}]);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
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
/// API version 46.0); 404 `NOT_FOUND` for a field that is not an External ID of Task; 400
/// `STRING_TOO_LONG` for a value over the field's 36 characters.
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
    // The field is Text(36) in an org set up as docs/crm-sync.md says.
    if value.chars().count() > TASK_EXTERNAL_ID_MAX_CHARS {
        return salesforce::error(
            StatusCode::BAD_REQUEST,
            "STRING_TOO_LONG",
            format!(
                "Terrane Visit Id: data value too large: {value} (max length={TASK_EXTERNAL_ID_MAX_CHARS})"
            ),
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
    let (id, created) = lock(&sim.activities).upsert_task(Some(&value), fields, now_ms());
    let body = json!({"id": id, "success": true, "errors": [], "created": created});
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

#[derive(Debug, Deserialize)]
pub struct UpdatedQuery {
    start: String,
    end: String,
}

/// `GET /services/data/{version}/sobjects/Task/updated/?start=&end=`: the Ids of Tasks changed
/// in that window (`{ids, latestDateCovered}`); a window over 30 days or with its end before its
/// start is 400 `INVALID_REPLICATION_DATE`.
pub async fn updated_tasks(
    State(sim): State<SimState>,
    Path(version): Path<String>,
    Query(q): Query<UpdatedQuery>,
) -> Response {
    if !salesforce::valid_version(&version) {
        return salesforce::not_found();
    }
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|t| t.timestamp_millis());
    let (Ok(start), Ok(end)) = (parse(&q.start), parse(&q.end)) else {
        return salesforce::error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "start and end must be date-times",
        );
    };
    if end < start || end - start > 30 * 86_400_000 {
        return salesforce::error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "the window must end after it starts and span at most 30 days",
        );
    }
    let ids: Vec<String> = lock(&sim.activities)
        .tasks
        .values()
        // By whole seconds, both ends included (Salesforce rounds to the minute).
        .filter(|t| (start / 1000..=end / 1000).contains(&(t.modified_ms / 1000)))
        .map(|t| t.id.clone())
        .collect();
    Json(json!({"ids": ids, "latestDateCovered": salesforce_time(end)})).into_response()
}

#[derive(Debug, Deserialize)]
pub struct RetrieveBody {
    ids: Vec<String>,
    fields: Vec<String>,
}

/// `POST /services/data/{version}/composite/sobjects/Task` with `{ids, fields}` (at most 2000):
/// the Tasks in request order, `null` for an unknown Id.
pub async fn retrieve_tasks(
    State(sim): State<SimState>,
    Path(version): Path<String>,
    Json(request): Json<RetrieveBody>,
) -> Response {
    if !salesforce::valid_version(&version) {
        return salesforce::not_found();
    }
    if request.ids.len() > 2000 {
        return salesforce::error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "at most 2000 ids",
        );
    }
    let known = |f: &str| {
        TASK_FIELDS.contains(&f)
            || [
                "Id",
                "LastModifiedDate",
                "CompletedDateTime",
                TASK_EXTERNAL_ID_FIELD,
            ]
            .contains(&f)
    };
    if let Some(bad) = request.fields.iter().find(|f| !known(f)) {
        return salesforce::error(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("No such column '{bad}' on entity 'Task'"),
        );
    }
    let activities = lock(&sim.activities);
    let records: Vec<Value> = request
        .ids
        .iter()
        .map(|id| {
            let Some(t) = activities.tasks.get(id) else {
                return Value::Null;
            };
            let mut record = json!({"attributes": {"type": "Task",
                "url": format!("/services/data/{version}/sobjects/Task/{}", t.id)}});
            for f in &request.fields {
                record[f.as_str()] = match f.as_str() {
                    "Id" => json!(t.id),
                    "LastModifiedDate" => json!(salesforce_time(t.modified_ms)),
                    TASK_EXTERNAL_ID_FIELD => json!(t.external_id),
                    other => t.fields.get(other).cloned().unwrap_or(Value::Null),
                };
            }
            record
        })
        .collect();
    Json(records).into_response()
}

// ---------------------------------------------------------------------------------------------
// A CRM user records an activity (`POST /_sim/activities`)

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserActivity {
    crm: Crm,
    /// The HubSpot company id or Salesforce Account Id it is about.
    record: String,
    owner: Option<String>,
    /// RFC 3339; default now.
    at: Option<String>,
    /// HubSpot `hs_meeting_outcome` (default `COMPLETED`).
    outcome: Option<String>,
    /// Salesforce `Status` (default `Completed`) and `Type` (default `Meeting`).
    status: Option<String>,
    kind: Option<String>,
}

/// `POST /_sim/activities`: a CRM user logs a meeting (HubSpot) or a Task (Salesforce) on a
/// live record; `{crm, id}`, 404 when the record is not live. No webhooks.
pub async fn user_activity(State(sim): State<SimState>, Json(a): Json<UserActivity>) -> Response {
    let at = a.at.clone().unwrap_or_else(|| hubspot_time(now_ms()));
    let Ok(at_time) = chrono::DateTime::parse_from_rfc3339(&at) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "at: RFC 3339"})),
        )
            .into_response();
    };
    let gone = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such live record"})),
        )
            .into_response()
    };
    let id = match a.crm {
        Crm::HubSpot => {
            let company = a
                .record
                .parse::<u64>()
                .ok()
                .and_then(|n| lock(&sim.store).hubspot_resolve(n).map(|c| c.id));
            let Some(company) = company else {
                return gone();
            };
            let mut properties = BTreeMap::from([
                ("hs_timestamp".to_owned(), at.clone()),
                ("hs_meeting_title".to_owned(), "Store visit".to_owned()),
                (
                    "hs_meeting_outcome".to_owned(),
                    a.outcome.unwrap_or_else(|| "COMPLETED".into()),
                ),
            ]);
            if let Some(owner) = a.owner {
                properties.insert("hubspot_owner_id".into(), owner);
            }
            lock(&sim.activities)
                .add_meeting(properties, vec![company], now_ms())
                .to_string()
        }
        Crm::Salesforce => {
            let live = ids::salesforce_id18(&a.record)
                .and_then(|id| lock(&sim.store).accounts.get(&id).map(|acc| !acc.deleted))
                .unwrap_or(false);
            if !live {
                return gone();
            }
            let mut fields = BTreeMap::from([
                ("Subject".to_owned(), json!("Store visit")),
                ("WhatId".to_owned(), json!(a.record)),
                (
                    "Status".to_owned(),
                    json!(a.status.unwrap_or_else(|| "Completed".into())),
                ),
                (
                    "Type".to_owned(),
                    json!(a.kind.unwrap_or_else(|| "Meeting".into())),
                ),
                (
                    "ActivityDate".to_owned(),
                    json!(at_time.format("%Y-%m-%d").to_string()),
                ),
                (
                    "CompletedDateTime".to_owned(),
                    json!(salesforce_time(at_time.timestamp_millis())),
                ),
            ]);
            if let Some(owner) = a.owner {
                fields.insert("OwnerId".into(), json!(owner));
            }
            lock(&sim.activities).upsert_task(None, fields, now_ms()).0
        }
    };
    Json(json!({"crm": a.crm, "id": id})).into_response()
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
    fn contains_token_matches_whole_words_only() {
        let filter = |value: &str| Filter {
            property_name: "hs_task_body".into(),
            operator: "CONTAINS_TOKEN".into(),
            value: Some(json!(value)),
        };
        let body = "A stop.<br><br>Terrane alert: terranealert0123abcd".to_owned();
        assert!(passes(&filter("terranealert0123abcd"), Some(&body)));
        assert!(passes(&filter("TerraneAlert0123ABCD"), Some(&body)));
        assert!(!passes(&filter("terranealert0123"), Some(&body)));
        assert!(!passes(&filter("terranealert0123abcd"), None));
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
