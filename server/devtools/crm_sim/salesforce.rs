//! Salesforce's REST API subset: OAuth2 refresh, SOQL `query` with `nextRecordsUrl` paging,
//! record retrieve and the sObject Collections update, with Salesforce's error bodies.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::clock::now_ms;
use crate::ids;
use crate::params::{pair, url_pairs};
use crate::soql::{self, DEFAULT_BATCH};
use crate::state::{SimState, lock};
use crate::store::{ACCOUNT_FIELDS, FieldDef, FieldKind, SfValue, Store, account_field};
use crate::vendor::Vendor;
use crate::webhooks::Outgoing;

/// Most records one collections request may carry.
pub const MAX_COLLECTION: usize = 200;

// ---------------------------------------------------------------------------------------------
// Errors

/// Salesforce's REST error body: `[{message, errorCode}]`.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!([{ "message": message.into(), "errorCode": code }]);
    (status, Json(body)).into_response()
}

pub fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

pub fn rate_limited(retry_after_s: u64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "REQUEST_LIMIT_EXCEEDED",
        "Request limit exceeded (simulated rate limit).",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

pub fn server_error(status: u16) -> Response {
    if status == 503 {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_UNAVAILABLE",
            "The server is temporarily unavailable (simulated).",
        )
    } else {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred (simulated).",
        )
    }
}

pub fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// The OAuth endpoint's error body: `{error, error_description}`.
fn oauth_error(code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `v62.0` and the like.
pub fn valid_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
}

// ---------------------------------------------------------------------------------------------
// OAuth

/// `POST /services/oauth2/token` (form): refresh_token grant only.
pub async fn token(State(sim): State<SimState>, body: Bytes) -> Response {
    let form = url_pairs(&String::from_utf8_lossy(&body));
    let cfg = &sim.config.salesforce;
    if pair(&form, "grant_type") != Some("refresh_token") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if pair(&form, "client_id") != Some(cfg.client_id.as_str()) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if pair(&form, "client_secret") != Some(cfg.client_secret.as_str()) {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    if pair(&form, "refresh_token") != Some(cfg.refresh_token.as_str()) {
        return oauth_error("invalid_grant", "expired access/refresh token");
    }
    let issued_at = now_ms();
    let access_token = lock(&sim.tokens).issue(
        Vendor::Salesforce,
        &mut rand::rng(),
        &cfg.org_id,
        issued_at,
        sim.config.token_ttl_ms,
    );
    let user_id = ids::salesforce_id("005", "Sm0000", 1);
    let identity = format!("{}/id/{}/{user_id}", sim.config.public_url, cfg.org_id);
    Json(json!({
        "access_token": access_token,
        "signature": identity_signature(&cfg.client_secret, &identity, issued_at),
        "scope": "api refresh_token",
        "instance_url": sim.config.public_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at.to_string(),
    }))
    .into_response()
}

/// The token response's `signature`: base64 HMAC-SHA256 of id + issued_at, keyed with the
/// client secret.
fn identity_signature(client_secret: &str, identity: &str, issued_at_ms: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(client_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(identity.as_bytes());
    mac.update(issued_at_ms.to_string().as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// Query

fn query_body(version: &str, page: soql::Page) -> Value {
    let mut body = json!({
        "totalSize": page.total,
        "done": page.next.is_none(),
    });
    if let Some((locator, offset)) = &page.next {
        body["nextRecordsUrl"] =
            json!(format!("/services/data/{version}/query/{locator}-{offset}"));
    }
    body["records"] = Value::Array(page.rows);
    body
}

fn requested_batch(headers: &HeaderMap) -> Option<usize> {
    soql::batch_size(
        headers
            .get("sforce-query-options")
            .and_then(|v| v.to_str().ok()),
    )
}

/// Runs a query against the store and opens a cursor for the rest.
pub fn run_query(
    store: &Store,
    cursors: &mut soql::Cursors,
    q: &str,
    version: &str,
    batch: usize,
    locator: String,
) -> Result<Value, soql::SoqlError> {
    let query = soql::parse(q)?;
    if !query.ignored.is_empty() {
        tracing::warn!(ignored = ?query.ignored, "SOQL parts not simulated were ignored");
    }
    let rows = query.run(store.accounts.values());
    if query.count_only {
        return Ok(json!({ "totalSize": rows.len(), "done": true, "records": [] }));
    }
    let rendered: Vec<Value> = rows
        .iter()
        .map(|a| a.to_json(&query.fields, version))
        .collect();
    let page = cursors.first_page(locator, rendered, batch);
    Ok(query_body(version, page))
}

/// `GET /services/data/{version}/query?q=…`.
pub async fn query(
    State(sim): State<SimState>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let pairs = url_pairs(raw.as_deref().unwrap_or(""));
    let Some(q) = pair(&pairs, "q") else {
        return error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let batch = requested_batch(&headers).unwrap_or(DEFAULT_BATCH);
    let locator = format!("01g{}", ids::random_alphanumeric(&mut rand::rng(), 15));
    let result = {
        let store = lock(&sim.store);
        let mut cursors = lock(&sim.cursors);
        run_query(&store, &mut cursors, q, &version, batch, locator)
    };
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.code(), e.message()),
    }
}

/// `GET /services/data/{version}/query/{locator}-{offset}`: the next page.
pub async fn query_more(
    State(sim): State<SimState>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let page = locator
        .rsplit_once('-')
        .and_then(|(id, offset)| Some((id, offset.parse::<usize>().ok()?)))
        .and_then(|(id, offset)| lock(&sim.cursors).page(id, offset, requested_batch(&headers)));
    match page {
        Some(page) => Json(query_body(&version, page)).into_response(),
        None => error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        ),
    }
}

/// `GET /services/data/{version}/sobjects/Account/{id}?fields=…`.
pub async fn retrieve(
    State(sim): State<SimState>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let pairs = url_pairs(raw.as_deref().unwrap_or(""));
    let fields: Vec<&'static FieldDef> = match pair(&pairs, "fields") {
        None => ACCOUNT_FIELDS.iter().collect(),
        Some(list) => {
            let mut fields = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match account_field(name) {
                    Some(f) => fields.push(f),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_FIELD",
                            format!("No such column '{name}' on entity 'Account'"),
                        );
                    }
                }
            }
            fields
        }
    };
    let store = lock(&sim.store);
    match ids::salesforce_id18(&id).and_then(|id| store.accounts.get(&id)) {
        Some(account) if !account.deleted => {
            Json(account.to_json(&fields, &version)).into_response()
        }
        _ => not_found(),
    }
}

// ---------------------------------------------------------------------------------------------
// sObject Collections update

/// One record's failure: Salesforce's `statusCode`, message and fields.
#[derive(Debug, Clone, PartialEq)]
struct RecordError {
    id: Option<String>,
    code: &'static str,
    message: String,
    fields: Vec<String>,
}

impl RecordError {
    fn new(id: Option<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn on_field(mut self, field: &str) -> Self {
        self.fields.push(field.to_owned());
        self
    }

    fn to_json(&self) -> Value {
        let mut result = json!({
            "success": false,
            "errors": [{ "statusCode": self.code, "message": self.message, "fields": self.fields }],
        });
        if let Some(id) = &self.id {
            result["id"] = json!(id);
        }
        result
    }
}

type FieldChanges = BTreeMap<&'static str, Option<SfValue>>;

fn field_value(field: &FieldDef, value: &Value) -> Option<Option<SfValue>> {
    match (field.kind, value) {
        (_, Value::Null) => Some(None),
        (FieldKind::Number, Value::Number(n)) => n.as_f64().map(|n| Some(SfValue::Number(n))),
        (FieldKind::Number, Value::String(s)) if s.trim().is_empty() => Some(None),
        (FieldKind::Number, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .map(|n| Some(SfValue::Number(n))),
        (FieldKind::Text, Value::String(s)) => Some(Some(SfValue::Text(s.clone()))),
        (FieldKind::Text, Value::Number(_) | Value::Bool(_)) => {
            Some(Some(SfValue::Text(value.to_string())))
        }
        _ => None,
    }
}

/// Checks one record of the request without changing anything.
fn check_record(store: &Store, record: &Value) -> Result<(String, FieldChanges), RecordError> {
    let Some(map) = record.as_object() else {
        return Err(RecordError::new(
            None,
            "JSON_PARSER_ERROR",
            "a record must be a JSON object",
        ));
    };
    let id_value = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .map(|(_, v)| v);
    let raw_id = id_value.and_then(Value::as_str).map(str::to_owned);
    let object_type = map
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str);
    match object_type {
        None => {
            return Err(RecordError::new(
                raw_id,
                "INVALID_TYPE",
                "Must send a concrete entity type (attributes.type).",
            ));
        }
        Some(t) if !t.eq_ignore_ascii_case("account") => {
            return Err(RecordError::new(
                raw_id,
                "INVALID_TYPE",
                format!("sObject type '{t}' is not supported by the simulator."),
            ));
        }
        Some(_) => {}
    }
    let Some(raw_id) = raw_id else {
        return Err(RecordError::new(
            None,
            "MISSING_ARGUMENT",
            "Id not specified in an update call",
        ));
    };
    let id = ids::salesforce_id18(&raw_id)
        .filter(|id| id.starts_with("001"))
        .ok_or_else(|| {
            RecordError::new(
                Some(raw_id.clone()),
                "MALFORMED_ID",
                format!("Account ID: id value of incorrect type: {raw_id}"),
            )
        })?;
    match store.accounts.get(&id) {
        None => {
            return Err(RecordError::new(
                Some(id),
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
            ));
        }
        Some(a) if a.deleted => {
            return Err(RecordError::new(
                Some(id),
                "ENTITY_IS_DELETED",
                "entity is deleted",
            ));
        }
        Some(_) => {}
    }
    let mut changes = FieldChanges::new();
    for (name, value) in map {
        if name == "attributes" || name.eq_ignore_ascii_case("id") {
            continue;
        }
        let Some(field) = account_field(name) else {
            return Err(RecordError::new(
                Some(id),
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject of type Account"),
            )
            .on_field(name));
        };
        if !field.updateable {
            return Err(RecordError::new(
                Some(id),
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!("Unable to create/update fields: {}.", field.name),
            )
            .on_field(field.name));
        }
        let Some(converted) = field_value(field, value) else {
            return Err(RecordError::new(
                Some(id),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{}: value not of required type: {value}", field.name),
            )
            .on_field(field.name));
        };
        changes.insert(field.name, converted);
    }
    Ok((id, changes))
}

/// Applies a collections update: per-record results in request order, and the ids changed.
pub fn apply_collection(
    store: &mut Store,
    records: &[Value],
    all_or_none: bool,
    now_ms: i64,
) -> (Vec<Value>, Vec<String>) {
    let checked: Vec<Result<(String, FieldChanges), RecordError>> =
        records.iter().map(|r| check_record(store, r)).collect();
    let any_failed = checked.iter().any(Result::is_err);
    let mut results = Vec::with_capacity(checked.len());
    let mut updated = Vec::new();
    for outcome in checked {
        match outcome {
            Err(e) => results.push(e.to_json()),
            Ok((id, _)) if all_or_none && any_failed => results.push(
                RecordError::new(
                    Some(id),
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                )
                .to_json(),
            ),
            Ok((id, changes)) => {
                if store.salesforce_update(&id, &changes, now_ms) {
                    results.push(json!({ "id": id, "success": true, "errors": [] }));
                    *store.api_writes.salesforce.entry(id.clone()).or_default() += 1;
                    updated.push(id);
                } else {
                    results.push(
                        RecordError::new(Some(id), "ENTITY_IS_DELETED", "entity is deleted").to_json(),
                    );
                }
            }
        }
    }
    (results, updated)
}

/// `PATCH /services/data/{version}/composite/sobjects`: `{allOrNone, records: [...]}`.
pub async fn collections_update(
    State(sim): State<SimState>,
    Path(version): Path<String>,
    body: Bytes,
) -> Response {
    if !valid_version(&version) {
        return not_found();
    }
    let request: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "expected a JSON object",
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", e.to_string()),
    };
    let Some(records) = request.get("records").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "records is required",
        );
    };
    if records.len() > MAX_COLLECTION {
        return error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
            ),
        );
    }
    let all_or_none = request
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut store = lock(&sim.store);
    let (results, updated) = apply_collection(&mut store, records, all_or_none, now_ms());
    let mut outgoing = Vec::new();
    if sim.config.api_write_webhooks {
        for id in &updated {
            if let Some(fields) = store
                .accounts
                .get(id)
                .map(super::store::Account::outbound_fields)
            {
                outgoing.push(Outgoing::Salesforce(store.events.salesforce(fields)));
            }
        }
    }
    drop(store);
    sim.send_later(outgoing);
    Json(Value::Array(results)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::store_with;

    fn account_ids(store: &Store) -> Vec<String> {
        store.accounts.keys().cloned().collect()
    }

    #[test]
    fn query_pages_follow_next_records_url_to_the_end() {
        let store = store_with(450);
        let mut cursors = soql::Cursors::default();
        let body = run_query(
            &store,
            &mut cursors,
            "SELECT Id, Name, Terrane_Annual_Value__c FROM Account WHERE IsDeleted = false ORDER BY Id",
            "v62.0",
            200,
            "01gSm0000000000042".into(),
        )
        .expect("valid query");
        assert_eq!(body["totalSize"], 450);
        assert_eq!(body["done"], false);
        assert_eq!(
            body["nextRecordsUrl"],
            "/services/data/v62.0/query/01gSm0000000000042-200"
        );
        let first = &body["records"][0];
        assert_eq!(first["attributes"]["type"], "Account");
        let id = first["Id"].as_str().expect("id");
        assert_eq!(
            first["attributes"]["url"],
            format!("/services/data/v62.0/sobjects/Account/{id}")
        );
        assert!(first["Terrane_Annual_Value__c"].is_f64());

        let mut seen: Vec<String> = body["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter_map(|r| r["Id"].as_str().map(str::to_owned))
            .collect();
        let mut next = body["nextRecordsUrl"].as_str().map(str::to_owned);
        while let Some(url) = next {
            let tail = url.rsplit('/').next().expect("locator");
            let (locator, offset) = tail.rsplit_once('-').expect("offset");
            let page = cursors
                .page(locator, offset.parse().expect("number"), None)
                .expect("open");
            let body = query_body("v62.0", page);
            seen.extend(
                body["records"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .filter_map(|r| r["Id"].as_str().map(str::to_owned)),
            );
            next = body["nextRecordsUrl"].as_str().map(str::to_owned);
            if next.is_none() {
                assert_eq!(body["done"], true);
            }
        }
        assert_eq!(seen, account_ids(&store));
    }

    #[test]
    fn collections_update_applies_valid_records_and_reports_the_rest() {
        let mut store = store_with(3);
        let ids = account_ids(&store);
        let records = vec![
            json!({ "attributes": { "type": "Account" }, "id": ids[0], "OwnerId": "owner-9", "Terrane_Priority__c": 2 }),
            json!({ "attributes": { "type": "Account" }, "id": ids[1], "LastModifiedDate": "x" }),
            json!({ "attributes": { "type": "Account" }, "id": "001Sm0000000zzzAAA", "Name": "x" }),
        ];
        let (results, updated) = apply_collection(&mut store, &records, false, 0);
        assert_eq!(
            results[0],
            json!({ "id": ids[0], "success": true, "errors": [] })
        );
        assert_eq!(
            results[1]["errors"][0]["statusCode"],
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        assert_eq!(
            results[2]["errors"][0]["statusCode"],
            "INVALID_CROSS_REFERENCE_KEY"
        );
        assert_eq!(updated, [ids[0].clone()]);
        assert_eq!(
            store.accounts[&ids[0]].values.get("OwnerId"),
            Some(&SfValue::Text("owner-9".into()))
        );
        assert_eq!(
            store.accounts[&ids[0]].values.get("Terrane_Priority__c"),
            Some(&SfValue::Number(2.0))
        );
    }

    #[test]
    fn all_or_none_rolls_back_every_record_when_one_fails() {
        let mut store = store_with(2);
        let ids = account_ids(&store);
        let before = store.accounts[&ids[0]].modified_ms;
        let records = vec![
            json!({ "attributes": { "type": "Account" }, "id": ids[0], "Name": "Renamed" }),
            json!({ "attributes": { "type": "Account" }, "id": ids[1], "Bogus__c": 1 }),
        ];
        let (results, updated) = apply_collection(&mut store, &records, true, 0);
        assert!(updated.is_empty());
        assert_eq!(
            results[0]["errors"][0]["statusCode"],
            "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        );
        assert_eq!(results[1]["errors"][0]["statusCode"], "INVALID_FIELD");
        assert_eq!(store.accounts[&ids[0]].modified_ms, before);
    }

    #[test]
    fn api_versions_look_like_v62_0() {
        assert!(valid_version("v62.0"));
        assert!(!valid_version("62.0"));
        assert!(!valid_version("v62"));
        assert!(!valid_version("vX.0"));
    }
}
