//! HubSpot webhooks (v3 request signatures), their event batches, the change notices decoded
//! from stored events, and the mapping of company properties to canonical accounts.
//!
//! HubSpot webhooks only say that something changed (a property's new value at most): the
//! worker reads the company back through the API ([`COMPANY_PROPERTIES`]) and maps it with
//! [`company_to_account`].

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    FieldNames, MAX_EVENTS_PER_REQUEST, RawEvent, TIMESTAMP_TOLERANCE_SECS, VerifyError, WireError,
    account_from_map, check_freshness, hmac_sha256, required_header, signature_matches,
};
use crate::crm::canonical::{CanonicalAccount, MappingError};

/// Header carrying the base64 HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";
/// Header carrying the signing time in epoch milliseconds.
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";

/// The characters HubSpot decodes (from `%XX`) in the URI it signs; every other escape stays.
const DECODED_IN_URI: &[u8] = b":/?@!$'()*,;";

/// The URI HubSpot signs for a request: the configured public base URL (scheme, host, any path
/// prefix; a trailing `/` is ignored) followed by the request's path and query as the router
/// saw them, with the escapes of `: / ? @ ! $ ' ( ) * , ;` decoded and nothing else.
pub fn request_uri(public_base_url: &str, path_and_query: &str) -> String {
    let base = public_base_url.trim_end_matches('/');
    let mut uri = String::with_capacity(base.len() + path_and_query.len() + 1);
    uri.push_str(base);
    if !(path_and_query.is_empty()
        || path_and_query.starts_with('/')
        || path_and_query.starts_with('?'))
    {
        uri.push('/');
    }
    uri.push_str(path_and_query);
    decode_reserved(&uri)
}

/// Decodes `%XX` (either hex case) when it stands for one of [`DECODED_IN_URI`], in one pass.
fn decode_reserved(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let escape = &rest[pos..];
        let decoded = escape
            .get(1..3)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| DECODED_IN_URI.contains(b));
        if let Some(b) = decoded {
            out.push(char::from(b));
            rest = &escape[3..];
        } else {
            out.push('%');
            rest = &escape[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The v3 signature: base64 of HMAC-SHA256(secret, method + uri + body + timestamp), where
/// `uri` comes from [`request_uri`] and `timestamp` is the header's text (epoch ms).
pub fn sign_v3(secret: &[u8], method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    BASE64.encode(hmac_sha256(
        secret,
        &[
            method.as_bytes(),
            uri.as_bytes(),
            body,
            timestamp.as_bytes(),
        ],
    ))
}

/// Checks a request's v3 signature against every active client secret (any may match) and
/// refuses timestamps more than [`TIMESTAMP_TOLERANCE_SECS`] from `now_ms` either way.
pub fn verify_v3<K: AsRef<[u8]>>(
    secrets: &[K],
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    now_ms: i64,
) -> Result<(), VerifyError> {
    let timestamp = required_header(timestamp_header, TIMESTAMP_HEADER)?;
    let signature = required_header(signature_header, SIGNATURE_HEADER)?;
    let signed_at_ms = timestamp
        .parse::<i64>()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(VerifyError::MalformedHeader {
            header: TIMESTAMP_HEADER,
            reason: "not epoch milliseconds",
        })?;
    let tag = BASE64
        .decode(signature)
        .map_err(|_| VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "not base64",
        })?;
    check_freshness(signed_at_ms, now_ms, TIMESTAMP_TOLERANCE_SECS * 1000, 1000)?;
    signature_matches(
        secrets,
        &[
            method.as_bytes(),
            uri.as_bytes(),
            body,
            timestamp.as_bytes(),
        ],
        &[tag],
    )
}

/// An id as HubSpot sends it: a JSON integer, or a string of id characters.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(|v| v.to_string())
            .or_else(|| n.as_i64().map(|v| v.to_string())),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| s.to_owned())
        }
        _ => None,
    }
}

/// Splits a webhook body (a JSON array of 1 to [`MAX_EVENTS_PER_REQUEST`] events) into raw
/// events, each payload the event object unchanged.
///
/// HubSpot says `eventId` alone is not unique, and a redelivery differs only in
/// `attemptNumber`, so the event id is every identifying field joined:
/// `hs:{portalId}:{subscriptionId}:{subscriptionType}:{objectTypeId}:{objectId}:{propertyName}:{eventId}:{occurredAt}`
/// (`-` for an absent optional part).
pub fn split_batch(body: &[u8]) -> Result<Vec<RawEvent>, WireError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::new(super::json_error("body is not JSON", &e)))?;
    let Value::Array(events) = value else {
        return Err(WireError::new("body is not a JSON array of events"));
    };
    if events.is_empty() {
        return Err(WireError::new("batch holds no event"));
    }
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(WireError::new(format!(
            "batch holds {} events, more than {MAX_EVENTS_PER_REQUEST}",
            events.len()
        )));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let event_id =
                dedupe_id(&event).map_err(|field| WireError::new(format!("event {i}: {field}")))?;
            Ok(RawEvent {
                event_id,
                payload: event,
            })
        })
        .collect()
}

/// The dedupe id of one event object, or which field is wrong.
fn dedupe_id(event: &Value) -> Result<String, String> {
    if !event.is_object() {
        return Err("is not a JSON object".to_owned());
    }
    let required_id = |field: &str| {
        event
            .get(field)
            .and_then(id_text)
            .ok_or_else(|| format!("{field} is missing or not an id"))
    };
    let optional_id = |field: &str| match event.get(field) {
        None | Some(Value::Null) => Ok("-".to_owned()),
        Some(v) => id_text(v).ok_or_else(|| format!("{field} is not an id")),
    };
    let event_id = required_id("eventId")?;
    let subscription_id = required_id("subscriptionId")?;
    let object_id = required_id("objectId")?;
    let occurred_at = event
        .get("occurredAt")
        .and_then(Value::as_i64)
        .ok_or("occurredAt is missing or not epoch milliseconds")?;
    let subscription_type = event
        .get("subscriptionType")
        .and_then(Value::as_str)
        .filter(|s| is_name(s))
        .ok_or("subscriptionType is missing or malformed")?;
    let portal_id = optional_id("portalId")?;
    let object_type_id = optional_id("objectTypeId")?;
    let property = match event.get("propertyName") {
        None | Some(Value::Null) => "-",
        Some(Value::String(s)) if is_name(s) => s,
        Some(_) => return Err("propertyName is malformed".to_owned()),
    };
    Ok(format!(
        "hs:{portal_id}:{subscription_id}:{subscription_type}:{object_type_id}:{object_id}:{property}:{event_id}:{occurred_at}"
    ))
}

/// A HubSpot internal name (property, subscription type, object type). HubSpot's are made of
/// letters, digits, `_`, `.` and `-`; this only refuses what would make a dedupe id ambiguous
/// or unreadable (blank, over 200 bytes, whitespace, control characters, `:`), so that an
/// unexpected name never blocks a whole batch.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
}

/// The CRM object type an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    Company,
    Contact,
    /// Another object (`deal`, or a generic subscription's `objectTypeId` such as `0-3`).
    Other(String),
}

/// What happened to the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    Creation,
    /// One property changed; the record must be read back for the others.
    PropertyChange {
        name: String,
        value: Option<String>,
    },
    /// Archived (HubSpot's recycle bin) or deleted for privacy.
    Deletion,
    /// `merged` records were folded into `primary`, the record that remains.
    Merge {
        primary: String,
        merged: Vec<String>,
    },
    Restore,
    /// Association changes and event types Terrane does not act on.
    Other(String),
}

/// One decoded HubSpot event: a change notice, not the record's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The HubSpot account (portal) the event comes from; the worker checks it against the
    /// connection, since one app's signing secret is shared by every portal that installs it.
    pub portal_id: Option<String>,
    pub object: ObjectKind,
    pub object_id: String,
    pub occurred_at: DateTime<Utc>,
    pub kind: NoticeKind,
}

/// Decodes a stored event payload (one element of a batch) into a change notice. Handles the
/// per-object subscription types (`company.propertyChange`) and the generic ones
/// (`object.propertyChange` with `objectTypeId`).
pub fn decode_notice(payload: &Value) -> Result<Notice, MappingError> {
    let field_error = |field: &str| MappingError::new(format!("{field} is missing or malformed"));
    let subscription_type = payload
        .get("subscriptionType")
        .and_then(Value::as_str)
        .ok_or_else(|| field_error("subscriptionType"))?;
    let (object_name, action) = subscription_type
        .split_once('.')
        .ok_or_else(|| field_error("subscriptionType"))?;
    let object = match object_name {
        "object" => {
            let type_id = payload
                .get("objectTypeId")
                .and_then(id_text_or_type)
                .ok_or_else(|| field_error("objectTypeId"))?;
            object_kind(&type_id)
        }
        name => object_kind(name),
    };
    let object_id = payload
        .get("objectId")
        .and_then(id_text)
        .ok_or_else(|| field_error("objectId"))?;
    let occurred_at = payload
        .get("occurredAt")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| field_error("occurredAt"))?;
    let portal_id = payload.get("portalId").and_then(id_text);
    let kind = match action {
        "creation" => NoticeKind::Creation,
        "deletion" | "privacyDeletion" => NoticeKind::Deletion,
        "restore" => NoticeKind::Restore,
        "propertyChange" => NoticeKind::PropertyChange {
            name: payload
                .get("propertyName")
                .and_then(Value::as_str)
                .filter(|s| is_name(s))
                .ok_or_else(|| field_error("propertyName"))?
                .to_owned(),
            value: match payload.get("propertyValue") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                Some(_) => return Err(field_error("propertyValue")),
            },
        },
        "merge" => merge_kind(payload, &object_id)?,
        other => NoticeKind::Other(other.to_owned()),
    };
    Ok(Notice {
        portal_id,
        object,
        object_id,
        occurred_at,
        kind,
    })
}

/// `objectTypeId` is a string like `0-2`.
fn id_text_or_type(value: &Value) -> Option<String> {
    value.as_str().filter(|s| is_name(s)).map(str::to_owned)
}

fn object_kind(name: &str) -> ObjectKind {
    match name {
        "company" | "0-2" => ObjectKind::Company,
        "contact" | "0-1" => ObjectKind::Contact,
        other => ObjectKind::Other(other.to_owned()),
    }
}

/// The record that remains is `newObjectId` when HubSpot created one by the merge, else
/// `primaryObjectId`; every other id involved was folded into it.
fn merge_kind(payload: &Value, object_id: &str) -> Result<NoticeKind, MappingError> {
    let optional = |field: &str| match payload.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id_text(v)
            .map(Some)
            .ok_or_else(|| MappingError::new(format!("{field} is not an id"))),
    };
    let primary_id = optional("primaryObjectId")?.unwrap_or_else(|| object_id.to_owned());
    let new_id = optional("newObjectId")?;
    let merged_ids = match payload.get("mergedObjectIds") {
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|v| id_text(v).ok_or_else(|| MappingError::new("mergedObjectIds holds a non-id")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(MappingError::new(
                "mergedObjectIds is missing or not an array",
            ));
        }
    };
    let survivor = new_id.unwrap_or_else(|| primary_id.clone());
    let mut merged: Vec<String> = Vec::with_capacity(merged_ids.len() + 1);
    for id in std::iter::once(primary_id).chain(merged_ids) {
        if id != survivor && !merged.contains(&id) {
            merged.push(id);
        }
    }
    if merged.is_empty() {
        return Err(MappingError::new("merge names no merged record"));
    }
    Ok(NoticeKind::Merge {
        primary: survivor,
        merged,
    })
}

/// Company properties reconciliation and batch reads request: HubSpot's standard ones plus the
/// `terrane_*` custom properties an admin creates (see `docs/crm-events.md`).
pub const COMPANY_PROPERTIES: &[&str] = &[
    "name",
    "industry",
    "address",
    "address2",
    "city",
    "zip",
    "country",
    "hubspot_owner_id",
    "terrane_tier",
    "terrane_annual_value",
    "terrane_visits_per_year",
    "terrane_priority",
];

const COMPANY_FIELDS: FieldNames = FieldNames {
    name: "name",
    industry: "industry",
    street: &["address", "address2"],
    postal_code: "zip",
    city: "city",
    country: &["country"],
    owner: "hubspot_owner_id",
    tier: "terrane_tier",
    annual_value: "terrane_annual_value",
    visits_per_year: "terrane_visits_per_year",
    priority: "terrane_priority",
};

/// Maps a company read from the API (its id, [`COMPANY_PROPERTIES`] and `updatedAt`, the
/// last-write-wins clock) to a canonical account. `address` and `address2` become one street
/// line; `country` (free text) becomes an ISO code when recognised.
pub fn company_to_account(
    id: &str,
    properties: &BTreeMap<String, Option<String>>,
    updated_at: DateTime<Utc>,
) -> Result<CanonicalAccount, MappingError> {
    account_from_map(properties, &COMPANY_FIELDS, id, updated_at)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::crm::canonical::Tier;

    const SECRET: &[u8] = b"hubspot-client-secret";
    const URI: &str = "https://terrane.example.com/webhooks/hubspot?connection=7";
    const BODY: &[u8] = br#"[{"eventId":1}]"#;
    const TS: &str = "1700000000000";
    const NOW_MS: i64 = 1_700_000_000_000;

    fn verify(
        secrets: &[&[u8]],
        method: &str,
        uri: &str,
        body: &[u8],
        ts: &str,
        sig: &str,
        now_ms: i64,
    ) -> Result<(), VerifyError> {
        verify_v3(secrets, method, uri, body, Some(ts), Some(sig), now_ms)
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed with Python's hmac module over the concatenated source string.
        assert_eq!(
            sign_v3(SECRET, "POST", URI, BODY, TS),
            "smQjbXYb9c9qy/WuhyT/DLmT8WWXxkebUumG1zQTUuY="
        );
    }

    #[test]
    fn valid_signature_passes_and_rotation_accepts_either_secret() {
        let sig = sign_v3(SECRET, "POST", URI, BODY, TS);
        assert_eq!(
            verify(&[SECRET], "POST", URI, BODY, TS, &sig, NOW_MS),
            Ok(())
        );
        assert_eq!(
            verify(&[b"old", SECRET], "POST", URI, BODY, TS, &sig, NOW_MS),
            Ok(())
        );
    }

    #[test]
    fn any_changed_input_is_a_bad_signature() {
        let sig = sign_v3(SECRET, "POST", URI, BODY, TS);
        let mut body = BODY.to_vec();
        body[3] ^= 1;
        let bad = Err(VerifyError::BadSignature);
        assert_eq!(verify(&[SECRET], "POST", URI, &body, TS, &sig, NOW_MS), bad);
        assert_eq!(verify(&[SECRET], "PUT", URI, BODY, TS, &sig, NOW_MS), bad);
        let uri = URI.replace("=7", "=8");
        assert_eq!(verify(&[SECRET], "POST", &uri, BODY, TS, &sig, NOW_MS), bad);
        assert_eq!(
            verify(&[SECRET], "POST", URI, BODY, "1700000000001", &sig, NOW_MS),
            bad
        );
        assert_eq!(
            verify(
                &[b"hubspot-client-secreu"],
                "POST",
                URI,
                BODY,
                TS,
                &sig,
                NOW_MS
            ),
            bad
        );
        let other = sign_v3(b"x", "POST", URI, BODY, TS);
        assert_eq!(
            verify(&[SECRET], "POST", URI, BODY, TS, &other, NOW_MS),
            bad
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let sig = sign_v3(SECRET, "POST", URI, BODY, TS);
        let five_min = 300_000;
        assert_eq!(
            verify(&[SECRET], "POST", URI, BODY, TS, &sig, NOW_MS + five_min),
            Ok(())
        );
        assert_eq!(
            verify(
                &[SECRET],
                "POST",
                URI,
                BODY,
                TS,
                &sig,
                NOW_MS + five_min + 1000
            ),
            Err(VerifyError::TimestampOutsideTolerance { age_s: 301 })
        );
        assert_eq!(
            verify(
                &[SECRET],
                "POST",
                URI,
                BODY,
                TS,
                &sig,
                NOW_MS - five_min - 1000
            ),
            Err(VerifyError::TimestampOutsideTolerance { age_s: -301 })
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let sig = sign_v3(SECRET, "POST", URI, BODY, TS);
        assert_eq!(
            verify_v3(&[SECRET], "POST", URI, BODY, None, Some(&sig), NOW_MS),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify_v3(&[SECRET], "POST", URI, BODY, Some(TS), Some("  "), NOW_MS),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            verify(&[SECRET], "POST", URI, BODY, "-1700000000000", &sig, NOW_MS),
            Err(VerifyError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                ..
            })
        ));
        assert!(matches!(
            verify(&[SECRET], "POST", URI, BODY, TS, "not base64!", NOW_MS),
            Err(VerifyError::MalformedHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
        let none: &[&[u8]] = &[];
        assert_eq!(
            verify(none, "POST", URI, BODY, TS, &sig, NOW_MS),
            Err(VerifyError::NoActiveSecret)
        );
    }

    #[test]
    fn error_messages_hold_no_secret_or_body() {
        let sig = sign_v3(SECRET, "POST", URI, BODY, TS);
        let err = verify(&[b"s3cr3t"], "POST", URI, b"Jean Dupont", TS, &sig, NOW_MS)
            .expect_err("wrong secret");
        let message = err.to_string();
        assert!(!message.contains("s3cr3t") && !message.contains("Dupont"));
    }

    #[test]
    fn request_uri_decodes_only_the_listed_reserved_characters() {
        let base = "https://terrane.example.com";
        assert_eq!(
            request_uri(base, "/webhooks/hubspot"),
            "https://terrane.example.com/webhooks/hubspot"
        );
        assert_eq!(
            request_uri("https://example.com/terrane/", "/hook?a=1"),
            "https://example.com/terrane/hook?a=1"
        );
        assert_eq!(
            request_uri(base, "/h?x=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&y=%3a%2f"),
            "https://terrane.example.com/h?x=:/?@!$'()*,;&y=:/"
        );
        // Space, &, =, +, #, % and non-ASCII stay encoded; no double decoding.
        assert_eq!(
            request_uri(base, "/h?q=a%20b%26c%3Dd%2Be%23f%25g%C3%A9&z=%253A"),
            "https://terrane.example.com/h?q=a%20b%26c%3Dd%2Be%23f%25g%C3%A9&z=%253A"
        );
        // Broken escapes are left alone.
        assert_eq!(
            request_uri(base, "/h?a=%3&b=%+1&c=%"),
            "https://terrane.example.com/h?a=%3&b=%+1&c=%"
        );
        assert_eq!(
            request_uri(base, "hook"),
            "https://terrane.example.com/hook"
        );
    }

    fn event(overrides: Value) -> Value {
        let mut event = json!({
            "eventId": 100,
            "subscriptionId": 2001,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": 1_700_000_000_000_i64,
            "subscriptionType": "company.propertyChange",
            "attemptNumber": 0,
            "objectId": 123,
            "propertyName": "name",
            "propertyValue": "Boulangerie Dupont",
            "changeSource": "CRM",
        });
        if let (Some(e), Value::Object(o)) = (event.as_object_mut(), overrides) {
            for (k, v) in o {
                e.insert(k, v);
            }
        }
        event
    }

    fn body(events: &[Value]) -> Vec<u8> {
        serde_json::to_vec(events).expect("json")
    }

    #[test]
    fn batch_splits_into_events_with_stable_distinct_ids() {
        let first = event(json!({}));
        let retry = event(json!({"attemptNumber": 3}));
        let other_object = event(json!({"objectId": 124}));
        let other_subscription = event(json!({"subscriptionId": 2002}));
        let events = split_batch(&body(&[
            first.clone(),
            retry,
            other_object,
            other_subscription,
        ]))
        .expect("valid batch");
        assert_eq!(events.len(), 4);
        assert_eq!(
            events[0].event_id,
            "hs:62515:2001:company.propertyChange:-:123:name:100:1700000000000"
        );
        assert_eq!(events[0].payload, first);
        assert_eq!(events[0].event_id, events[1].event_id);
        assert_ne!(events[0].event_id, events[2].event_id);
        assert_ne!(events[0].event_id, events[3].event_id);
    }

    #[test]
    fn batch_ids_accept_string_ids() {
        let events = split_batch(&body(&[event(
            json!({"objectId": "123", "eventId": "100"}),
        )]))
        .expect("string ids");
        let numeric = split_batch(&body(&[event(json!({}))])).expect("numeric ids");
        assert_eq!(events[0].event_id, numeric[0].event_id);
    }

    #[test]
    fn bad_batches_are_refused_without_echoing_values() {
        assert!(split_batch(b"").is_err());
        assert!(split_batch(b"{}").is_err());
        assert!(split_batch(b"[]").is_err());
        let too_many: Vec<Value> = (0..101).map(|i| event(json!({"eventId": i}))).collect();
        assert!(split_batch(&body(&too_many)).is_err());
        let hundred: Vec<Value> = (0..100).map(|i| event(json!({"eventId": i}))).collect();
        assert_eq!(split_batch(&body(&hundred)).map(|e| e.len()), Ok(100));
        for field in [
            "eventId",
            "subscriptionId",
            "objectId",
            "occurredAt",
            "subscriptionType",
        ] {
            let mut e = event(json!({}));
            e.as_object_mut().expect("object").remove(field);
            let err = split_batch(&body(&[e])).expect_err("missing field");
            assert!(err.0.contains(field), "{err}");
        }
        let err = split_batch(&body(&[event(json!({"objectId": "Jean Dupont"}))]))
            .expect_err("not an id");
        assert!(!err.0.contains("Dupont"), "{err}");
        assert!(split_batch(br"[1]").is_err());
    }

    #[test]
    fn notices_decode_each_event_kind() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).expect("time");
        let notice = decode_notice(&event(json!({}))).expect("property change");
        assert_eq!(
            notice,
            Notice {
                portal_id: Some("62515".into()),
                object: ObjectKind::Company,
                object_id: "123".into(),
                occurred_at: at,
                kind: NoticeKind::PropertyChange {
                    name: "name".into(),
                    value: Some("Boulangerie Dupont".into())
                },
            }
        );
        let kind = |overrides: Value| decode_notice(&event(overrides)).map(|n| n.kind);
        assert_eq!(
            kind(json!({"subscriptionType": "company.creation"})),
            Ok(NoticeKind::Creation)
        );
        assert_eq!(
            kind(json!({"subscriptionType": "company.deletion"})),
            Ok(NoticeKind::Deletion)
        );
        assert_eq!(
            kind(json!({"subscriptionType": "company.restore"})),
            Ok(NoticeKind::Restore)
        );
        assert_eq!(
            kind(json!({"subscriptionType": "company.associationChange"})),
            Ok(NoticeKind::Other("associationChange".into()))
        );
        assert_eq!(
            kind(json!({"propertyName": "terrane_priority", "propertyValue": 2})),
            Ok(NoticeKind::PropertyChange {
                name: "terrane_priority".into(),
                value: Some("2".into())
            })
        );
        assert_eq!(
            kind(json!({"propertyValue": null})),
            Ok(NoticeKind::PropertyChange {
                name: "name".into(),
                value: None
            })
        );
        let generic = decode_notice(&event(json!({
            "subscriptionType": "object.creation", "objectTypeId": "0-2"
        })))
        .expect("generic");
        assert_eq!(generic.object, ObjectKind::Company);
        let contact = decode_notice(&event(json!({"subscriptionType": "contact.creation"})))
            .expect("contact");
        assert_eq!(contact.object, ObjectKind::Contact);
        let deal =
            decode_notice(&event(json!({"subscriptionType": "deal.creation"}))).expect("deal");
        assert_eq!(deal.object, ObjectKind::Other("deal".into()));
    }

    #[test]
    fn merges_name_the_surviving_record() {
        let kind = |overrides: Value| decode_notice(&event(overrides)).map(|n| n.kind);
        assert_eq!(
            kind(json!({
                "subscriptionType": "company.merge",
                "primaryObjectId": 123, "mergedObjectIds": [456, 789]
            })),
            Ok(NoticeKind::Merge {
                primary: "123".into(),
                merged: vec!["456".into(), "789".into()]
            })
        );
        assert_eq!(
            kind(json!({
                "subscriptionType": "company.merge", "primaryObjectId": 123,
                "mergedObjectIds": [456], "newObjectId": 999
            })),
            Ok(NoticeKind::Merge {
                primary: "999".into(),
                merged: vec!["123".into(), "456".into()]
            })
        );
        assert!(kind(json!({"subscriptionType": "company.merge", "primaryObjectId": 1})).is_err());
        assert!(
            kind(json!({
                "subscriptionType": "company.merge", "primaryObjectId": 1, "mergedObjectIds": [1]
            }))
            .is_err()
        );
    }

    #[test]
    fn notices_with_bad_fields_are_mapping_errors() {
        assert!(decode_notice(&json!({})).is_err());
        assert!(decode_notice(&event(json!({"subscriptionType": "company"}))).is_err());
        assert!(decode_notice(&event(json!({"occurredAt": "yesterday"}))).is_err());
        assert!(decode_notice(&event(json!({"propertyName": null}))).is_err());
        assert!(decode_notice(&event(json!({"subscriptionType": "object.creation"}))).is_err());
    }

    fn props(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn company_maps_to_a_canonical_account() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let account = company_to_account(
            "123",
            &props(&[
                ("name", Some(" Boulangerie Dupont ")),
                ("industry", Some("FOOD_BEVERAGES")),
                ("address", Some("12 rue de la Paix")),
                ("address2", Some("Bâtiment B")),
                ("city", Some("Paris")),
                ("zip", Some("75002")),
                ("country", Some("France")),
                ("hubspot_owner_id", Some("777")),
                ("terrane_tier", Some("a")),
                ("terrane_annual_value", Some("125000.50")),
                ("terrane_visits_per_year", Some("12")),
                ("terrane_priority", Some("2")),
            ]),
            at,
        )
        .expect("maps");
        assert_eq!(account.crm_id, "123");
        assert_eq!(account.name, "Boulangerie Dupont");
        assert_eq!(account.industry.as_deref(), Some("FOOD_BEVERAGES"));
        assert_eq!(
            account.address.line.as_deref(),
            Some("12 rue de la Paix, Bâtiment B")
        );
        assert_eq!(account.address.postal_code.as_deref(), Some("75002"));
        assert_eq!(account.address.city.as_deref(), Some("Paris"));
        assert_eq!(account.address.country_code.as_deref(), Some("FR"));
        assert_eq!(account.tier, Some(Tier::A));
        assert_eq!(account.annual_value, Some(125_000.5));
        assert_eq!(account.visits_per_year, Some(12));
        assert_eq!(account.priority, Some(2));
        assert_eq!(account.owner_crm_id.as_deref(), Some("777"));
        assert_eq!(account.modified_at, at);
    }

    #[test]
    fn company_mapping_edge_cases() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let map = |pairs: &[(&str, Option<&str>)]| company_to_account("9", &props(pairs), at);
        // Only a name: everything else empty.
        let bare = map(&[
            ("name", Some("Café")),
            ("terrane_tier", None),
            ("country", Some("Mars")),
        ])
        .expect("bare");
        assert_eq!(bare.tier, None);
        assert_eq!(bare.address.country_code, None);
        assert_eq!(bare.address.line, None);
        // Missing or blank name.
        assert!(map(&[]).is_err());
        assert!(map(&[("name", Some("  "))]).is_err());
        // Bad values name the property, never the value.
        for (property, value) in [
            ("terrane_tier", "D"),
            ("terrane_annual_value", "beaucoup"),
            ("terrane_annual_value", "-5"),
            ("terrane_visits_per_year", "2.5"),
            ("terrane_priority", "9"),
        ] {
            let err =
                map(&[("name", Some("Café")), (property, Some(value))]).expect_err("bad value");
            assert!(err.0.contains(property), "{err}");
            assert!(!err.0.contains(value), "{err}");
        }
        // HubSpot stores numbers as decimals.
        let decimals = map(&[("name", Some("Café")), ("terrane_priority", Some("3.0"))])
            .expect("decimal integer");
        assert_eq!(decimals.priority, Some(3));
        assert!(company_to_account(" ", &props(&[("name", Some("x"))]), at).is_err());
    }

    proptest! {
        #[test]
        fn split_batch_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = split_batch(&bytes);
        }

        #[test]
        fn split_batch_never_panics_on_mutated_bodies(
            index in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = body(&[event(json!({})), event(json!({"subscriptionType": "company.merge", "mergedObjectIds": [1]}))]);
            let i = index.index(bytes.len());
            bytes[i] = byte;
            let _ = split_batch(&bytes);
            bytes.truncate(cut.index(bytes.len()));
            let _ = split_batch(&bytes);
        }

        #[test]
        fn decode_notice_never_panics(
            object_id in prop_oneof![Just(json!(null)), any::<i64>().prop_map(|v| json!(v)), ".{0,20}".prop_map(|v| json!(v))],
            occurred_at in prop_oneof![Just(json!(null)), any::<i64>().prop_map(|v| json!(v)), any::<f64>().prop_map(|v| json!(v))],
            subscription_type in "[a-zA-Z.]{0,30}",
            merged in proptest::collection::vec(any::<i64>(), 0..4),
            value in ".{0,20}",
        ) {
            let payload = json!({
                "objectId": object_id, "occurredAt": occurred_at,
                "subscriptionType": subscription_type, "mergedObjectIds": merged,
                "propertyName": value, "objectTypeId": value, "primaryObjectId": value,
            });
            let _ = decode_notice(&payload);
        }

        #[test]
        fn request_uri_never_panics(path in "\\PC{0,40}") {
            let _ = request_uri("https://example.com", &path);
        }
    }
}
