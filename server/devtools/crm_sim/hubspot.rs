//! HubSpot's API subset: OAuth v1 token refresh and the CRM v3 companies endpoints (list with
//! an `after` cursor, read, batch read, batch update), with HubSpot's error bodies.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{hubspot_time, now_ms};
use crate::params::{pair, url_pairs};
use crate::state::{SimState, lock};
use crate::store::{Company, Store};
use crate::vendor::{HUBSPOT_NUMBERS, HUBSPOT_READ_ONLY, HUBSPOT_WRITABLE, Vendor};
use crate::webhooks::{ChangeSource, HubSpotChange, Outgoing};

/// Most objects per page and per batch.
pub const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 10;
const COMPANIES_PATH: &str = "/crm/v3/objects/companies";

// ---------------------------------------------------------------------------------------------
// Errors

fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// HubSpot's error body: `{status: "error", message, correlationId, category}`.
pub fn error(status: StatusCode, category: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "status": "error",
        "message": message.into(),
        "correlationId": correlation_id(),
        "category": category,
    });
    (status, Json(body)).into_response()
}

/// 401 for a missing, unknown or expired access token.
pub fn unauthorized(expired_ago_ms: Option<i64>) -> Response {
    match expired_ago_ms {
        Some(ago_ms) => error(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            format!(
                "The OAuth token used to make this call expired {} second(s) ago.",
                ago_ms / 1000
            ),
        ),
        None => error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        ),
    }
}

/// 429 with `Retry-After`, in the shape of HubSpot's per-second limit.
pub fn rate_limited(retry_after_s: u64) -> Response {
    let body = json!({
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "SECONDLY",
        "category": "RATE_LIMITS",
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

/// An injected 500 or 503.
pub fn server_error(status: u16) -> Response {
    if status == 503 {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable (simulated).",
        )
    } else {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error (simulated)",
        )
    }
}

/// A 400 `VALIDATION_ERROR`, turned into HubSpot's body when answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(String);

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", self.0)
    }
}

fn validation(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// The OAuth endpoint's error body: `{status: <code>, message, correlationId}`.
fn oauth_error(status: &str, message: &str) -> Response {
    let body = json!({
        "status": status,
        "message": message,
        "correlationId": correlation_id(),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// OAuth

/// `POST /oauth/v1/token` (form): refresh_token grant only.
pub async fn token(State(sim): State<SimState>, body: Bytes) -> Response {
    let form = url_pairs(&String::from_utf8_lossy(&body));
    let cfg = &sim.config.hubspot;
    if pair(&form, "grant_type") != Some("refresh_token") {
        return oauth_error("BAD_GRANT_TYPE", "grant_type must be refresh_token");
    }
    if pair(&form, "client_id") != Some(cfg.client_id.as_str()) {
        return oauth_error("BAD_CLIENT_ID", "missing or unknown client id");
    }
    if pair(&form, "client_secret") != Some(cfg.client_secret.as_str()) {
        return oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret");
    }
    if pair(&form, "refresh_token") != Some(cfg.refresh_token.as_str()) {
        return oauth_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token");
    }
    let access_token = lock(&sim.tokens).issue(
        Vendor::HubSpot,
        &mut rand::rng(),
        &sim.config.salesforce.org_id,
        now_ms(),
        sim.config.token_ttl_ms,
    );
    Json(json!({
        "token_type": "bearer",
        "refresh_token": cfg.refresh_token,
        "access_token": access_token,
        "expires_in": sim.config.token_ttl_ms / 1000,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Requested property names from `properties=a,b` (repeatable); `None` when absent.
fn requested_properties(pairs: &[(String, String)]) -> Option<Vec<String>> {
    let names: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

fn archived_flag(pairs: &[(String, String)]) -> Result<bool, Invalid> {
    match pair(pairs, "archived") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(validation("archived must be true or false")),
    }
}

/// A list request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub limit: usize,
    pub after: Option<u64>,
    pub properties: Option<Vec<String>>,
    pub archived: bool,
}

impl ListParams {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Invalid> {
        let limit = match pair(pairs, "limit") {
            None | Some("") => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| validation("limit must be a whole number"))?
                .clamp(1, MAX_LIMIT),
        };
        let after = match pair(pairs, "after") {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<u64>()
                    .map_err(|_| validation("after is not a valid paging cursor"))?,
            ),
        };
        Ok(Self {
            limit,
            after,
            properties: requested_properties(pairs),
            archived: archived_flag(pairs)?,
        })
    }
}

/// One page of companies in id order. The cursor is the id of the first company of the
/// next page, so records created or removed while paging neither repeat nor shift others.
pub fn list_page(store: &Store, params: &ListParams, base_url: &str) -> Value {
    let mut page: Vec<&Company> = store
        .companies
        .range(params.after.unwrap_or(0)..)
        .map(|(_, c)| c)
        .filter(|c| {
            if params.archived {
                c.is_archived()
            } else {
                c.is_live()
            }
        })
        .take(params.limit + 1)
        .collect();
    let next = (page.len() > params.limit).then(|| page.pop().map(|c| c.id));
    let results: Vec<Value> = page
        .iter()
        .map(|c| c.to_json(params.properties.as_deref()))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(Some(after)) = next {
        let mut link = format!(
            "{base_url}{COMPANIES_PATH}?limit={}&after={after}",
            params.limit
        );
        if let Some(props) = &params.properties {
            link.push_str("&properties=");
            link.push_str(&props.join(","));
        }
        if params.archived {
            link.push_str("&archived=true");
        }
        body["paging"] = json!({ "next": { "after": after.to_string(), "link": link } });
    }
    body
}

/// `GET /crm/v3/objects/companies`.
pub async fn list(
    State(sim): State<SimState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Invalid> {
    let pairs = url_pairs(query.as_deref().unwrap_or(""));
    let params = ListParams::parse(&pairs)?;
    let body = list_page(&lock(&sim.store), &params, &sim.config.public_url);
    Ok(Json(body).into_response())
}

/// `GET /crm/v3/objects/companies/{id}` (merged ids answer with the primary).
pub async fn read_one(
    State(sim): State<SimState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Invalid> {
    let pairs = url_pairs(query.as_deref().unwrap_or(""));
    let archived = archived_flag(&pairs)?;
    let properties = requested_properties(&pairs);
    let store = lock(&sim.store);
    let found = id.parse::<u64>().ok().and_then(|n| {
        if archived {
            store.companies.get(&n).filter(|c| c.is_archived())
        } else {
            store.hubspot_resolve(n)
        }
    });
    Ok(match found {
        Some(c) => Json(c.to_json(properties.as_deref())).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "resource not found",
        ),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchReadBody {
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    id_property: Option<String>,
    inputs: Vec<IdInput>,
}

#[derive(Debug, Deserialize)]
struct IdInput {
    id: Value,
}

/// An id given as a string or a number.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Invalid> {
    serde_json::from_slice(body).map_err(|e| validation(format!("Invalid input JSON: {e}")))
}

/// HubSpot's batch answer: 200 `COMPLETE`, or 207 with `errors` when some ids were not found.
fn batch_response(
    results: Vec<Value>,
    missing: &[String],
    started_ms: i64,
    verb: &str,
) -> Response {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": hubspot_time(started_ms),
        "completedAt": hubspot_time(now_ms()),
    });
    if missing.is_empty() {
        return Json(body).into_response();
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not {verb} some COMPANY objects; they may be deleted or never existed."),
        "context": { "ids": missing },
    }]);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

/// `POST /crm/v3/objects/companies/batch/read`.
pub async fn batch_read(
    State(sim): State<SimState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Invalid> {
    let started = now_ms();
    let pairs = url_pairs(query.as_deref().unwrap_or(""));
    let archived = archived_flag(&pairs)?;
    let request: BatchReadBody = parse_body(&body)?;
    if request
        .id_property
        .as_deref()
        .is_some_and(|p| p != "hs_object_id")
    {
        return Err(validation("the simulator reads by hs_object_id only"));
    }
    if request.inputs.len() > MAX_LIMIT {
        return Err(validation(format!("at most {MAX_LIMIT} inputs per batch")));
    }
    let properties = (!request.properties.is_empty()).then_some(request.properties);
    let store = lock(&sim.store);
    let mut seen = BTreeSet::new();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &request.inputs {
        let id = id_text(&input.id);
        let found = id.parse::<u64>().ok().and_then(|n| {
            if archived {
                store.companies.get(&n).filter(|c| c.is_archived())
            } else {
                store.hubspot_resolve(n)
            }
        });
        match found {
            Some(c) if seen.insert(c.id) => results.push(c.to_json(properties.as_deref())),
            Some(_) => {}
            None => missing.push(id),
        }
    }
    drop(store);
    Ok(batch_response(results, &missing, started, "get"))
}

#[derive(Debug, Deserialize)]
struct BatchUpdateBody {
    inputs: Vec<UpdateInput>,
}

#[derive(Debug, Deserialize)]
struct UpdateInput {
    id: Value,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

/// A property value as HubSpot stores it: text; null clears.
fn property_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Checks every property of every input; HubSpot refuses the whole batch on one bad value.
fn validate_properties(inputs: &[UpdateInput]) -> Result<(), Invalid> {
    let mut problems = Vec::new();
    for input in inputs {
        for (name, value) in &input.properties {
            let problem = if HUBSPOT_READ_ONLY.contains(&name.as_str()) {
                Some(("READ_ONLY_VALUE", format!("{name} is a read only property")))
            } else if !HUBSPOT_WRITABLE.contains(&name.as_str()) {
                Some((
                    "PROPERTY_DOESNT_EXIST",
                    format!("Property \"{name}\" does not exist"),
                ))
            } else if HUBSPOT_NUMBERS.contains(&name.as_str())
                && property_text(value)
                    .is_some_and(|t| !t.is_empty() && t.trim().parse::<f64>().is_err())
            {
                Some(("INVALID_DECIMAL", format!("{value} was not a valid number")))
            } else {
                None
            };
            if let Some((code, message)) = problem {
                problems.push(json!({
                    "isValid": false,
                    "message": message,
                    "error": code,
                    "name": name,
                }));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(validation(format!(
            "Property values were not valid: {}",
            Value::Array(problems)
        )))
    }
}

/// `POST /crm/v3/objects/companies/batch/update`.
pub async fn batch_update(State(sim): State<SimState>, body: Bytes) -> Result<Response, Invalid> {
    let started = now_ms();
    let request: BatchUpdateBody = parse_body(&body)?;
    if request.inputs.len() > MAX_LIMIT {
        return Err(validation(format!("at most {MAX_LIMIT} inputs per batch")));
    }
    let ids: Vec<String> = request.inputs.iter().map(|i| id_text(&i.id)).collect();
    let mut distinct = BTreeSet::new();
    let duplicates: Vec<&String> = ids.iter().filter(|id| !distinct.insert(*id)).collect();
    if !duplicates.is_empty() {
        return Err(validation(format!(
            "Duplicate IDs found in batch input: {duplicates:?}"
        )));
    }
    validate_properties(&request.inputs)?;

    let mut store = lock(&sim.store);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    let mut outgoing = Vec::new();
    for (input, id) in request.inputs.iter().zip(&ids) {
        let Some(target) = id
            .parse::<u64>()
            .ok()
            .and_then(|n| store.hubspot_resolve(n))
            .map(|c| c.id)
        else {
            missing.push(id.clone());
            continue;
        };
        let changes: BTreeMap<String, Option<String>> = input
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), property_text(v)))
            .collect();
        let Some(changed) = store.hubspot_update(target, &changes, now_ms()) else {
            missing.push(id.clone());
            continue;
        };
        *store
            .api_writes
            .hubspot
            .entry(target.to_string())
            .or_default() += 1;
        let Some(company) = store.companies.get(&target) else {
            continue;
        };
        let at = company.updated_ms;
        let names: Vec<String> = input.properties.keys().cloned().collect();
        results.push(company.to_json(Some(&names)));
        for (name, value) in changed {
            let event = store.events.hubspot(
                target,
                HubSpotChange::PropertyChange { name, value },
                at,
                ChangeSource::Integration,
            );
            outgoing.push(Outgoing::HubSpot(event));
        }
    }
    drop(store);
    if sim.config.api_write_webhooks {
        sim.send_later(outgoing);
    }
    Ok(batch_response(results, &missing, started, "update"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::store::tests::store_with;

    fn params(limit: usize, after: Option<u64>) -> ListParams {
        ListParams {
            limit,
            after,
            properties: Some(vec!["name".into(), "nonexistent".into()]),
            archived: false,
        }
    }

    #[test]
    fn paging_cursors_visit_every_live_company_exactly_once() {
        let mut store = store_with(53);
        // Two companies leave the list: one archived, one merged away.
        let ids: Vec<u64> = store.companies.keys().copied().collect();
        assert!(store.hubspot_archive(ids[10], 0));
        assert!(store.hubspot_merge(ids[20], ids[21], 0).is_some());

        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = list_page(&store, &params(7, after), "http://sim");
            pages += 1;
            for r in page["results"].as_array().expect("results") {
                seen.push(r["id"].as_str().expect("id").to_owned());
                assert!(r["properties"].get("nonexistent").is_none());
                assert!(r["properties"]["hs_object_id"].is_string());
                assert_eq!(r["archived"], false);
            }
            match page["paging"]["next"]["after"].as_str() {
                Some(next) => {
                    let link = page["paging"]["next"]["link"].as_str().expect("link");
                    assert!(link.starts_with("http://sim/crm/v3/objects/companies?limit=7&after="));
                    after = Some(next.parse().expect("numeric cursor"));
                }
                None => break,
            }
        }
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), 51);
        assert_eq!(distinct.len(), 51);
        assert_eq!(pages, 8);
    }

    #[test]
    fn archived_listing_shows_only_archived_companies() {
        let mut store = store_with(3);
        let id = *store.companies.keys().next().expect("a company");
        store.hubspot_archive(id, 0);
        let page = list_page(
            &store,
            &ListParams {
                archived: true,
                ..params(10, None)
            },
            "http://sim",
        );
        let results = page["results"].as_array().expect("results");
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["archived"], true);
        assert!(results[0]["archivedAt"].is_string());
    }

    #[test]
    fn list_params_clamp_the_limit_and_reject_bad_cursors() {
        let parse = |q: &str| ListParams::parse(&url_pairs(q));
        let p = parse("limit=500&properties=name,city&properties=zip").expect("valid");
        assert_eq!(p.limit, MAX_LIMIT);
        assert_eq!(
            p.properties,
            Some(vec!["name".into(), "city".into(), "zip".into()])
        );
        assert_eq!(parse("").expect("valid").limit, DEFAULT_LIMIT);
        assert!(parse("after=abc").is_err());
        assert!(parse("limit=-1").is_err());
    }
}
