//! Webhook payloads as the vendors send them: HubSpot event batches signed with v1 and v3
//! signatures, Salesforce SOAP Outbound Messages, and delivery with retries. Building and
//! signing are plain functions so a load generator can reuse them.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::RetryPolicy;
use crate::ids;
use crate::vendor::{HUBSPOT_WRITABLE, Vendor};

/// Most events in one HubSpot request, and notifications in one Outbound Message.
pub const MAX_BATCH: usize = 100;

// ---------------------------------------------------------------------------------------------
// Events

/// One HubSpot webhook event (fields in HubSpot's names; absent ones are left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotEvent {
    pub event_id: u64,
    pub subscription_id: u64,
    pub portal_id: u64,
    pub app_id: u64,
    /// Unix milliseconds.
    pub occurred_at: i64,
    pub subscription_type: String,
    /// 0 on the first delivery, one more on each retry.
    pub attempt_number: u32,
    pub object_id: u64,
    pub change_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_object_ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_properties_moved: Option<u32>,
}

/// What happened to a HubSpot company.
#[derive(Debug, Clone, PartialEq)]
pub enum HubSpotChange {
    Creation,
    Deletion,
    Restore,
    PropertyChange { name: String, value: String },
    Merge { merged: Vec<u64>, moved: u32 },
}

/// Who made a change: a person in the CRM (random edits) or an integration (API writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    CrmUi,
    Integration,
}

/// One Salesforce Outbound Message notification: its id and the record's fields as SOAP text
/// (`None` is sent as `xsi:nil`).
#[derive(Debug, Clone, PartialEq)]
pub struct SfNotification {
    /// 18 characters, prefix `04l`; stable across redeliveries.
    pub id: String,
    pub fields: Vec<(&'static str, Option<String>)>,
}

/// A webhook waiting to be delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    HubSpot(HubSpotEvent),
    Salesforce(SfNotification),
}

/// Allocates event and notification ids and fills in the account-wide fields.
#[derive(Debug, Clone)]
pub struct EventFactory {
    portal_id: u64,
    app_id: u64,
    next_event_id: u64,
    next_notification: u64,
}

impl EventFactory {
    pub fn new(portal_id: u64, app_id: u64) -> Self {
        Self {
            portal_id,
            app_id,
            next_event_id: 1,
            next_notification: 1,
        }
    }

    /// The event for a change of company `object_id` at `at_ms`.
    pub fn hubspot(
        &mut self,
        object_id: u64,
        change: HubSpotChange,
        at_ms: i64,
        source: ChangeSource,
    ) -> HubSpotEvent {
        let event_id = self.next_event_id;
        self.next_event_id += 1;
        let (change_source, source_id) = match source {
            ChangeSource::CrmUi => ("CRM_UI", format!("userId:{}", 7_000_000 + object_id % 7)),
            ChangeSource::Integration => ("INTEGRATION", self.app_id.to_string()),
        };
        let mut event = HubSpotEvent {
            event_id,
            subscription_id: 0,
            portal_id: self.portal_id,
            app_id: self.app_id,
            occurred_at: at_ms,
            subscription_type: String::new(),
            attempt_number: 0,
            object_id,
            change_source: change_source.to_owned(),
            source_id: Some(source_id),
            property_name: None,
            property_value: None,
            primary_object_id: None,
            merged_object_ids: None,
            new_object_id: None,
            number_of_properties_moved: None,
        };
        let (kind, subscription_id) = match change {
            HubSpotChange::Creation => ("company.creation", 2_001),
            HubSpotChange::Deletion => ("company.deletion", 2_002),
            HubSpotChange::Restore => ("company.restore", 2_004),
            HubSpotChange::Merge { merged, moved } => {
                event.primary_object_id = Some(object_id);
                event.merged_object_ids = Some(merged);
                event.new_object_id = Some(object_id);
                event.number_of_properties_moved = Some(moved);
                ("company.merge", 2_003)
            }
            HubSpotChange::PropertyChange { name, value } => {
                // One subscription per property, as HubSpot apps subscribe property by property.
                let index = HUBSPOT_WRITABLE
                    .iter()
                    .position(|p| *p == name)
                    .unwrap_or(HUBSPOT_WRITABLE.len());
                event.property_name = Some(name);
                event.property_value = Some(value);
                ("company.propertyChange", 2_100 + index as u64)
            }
        };
        kind.clone_into(&mut event.subscription_type);
        event.subscription_id = subscription_id;
        event
    }

    /// A notification carrying an account's current fields.
    pub fn salesforce(&mut self, fields: Vec<(&'static str, Option<String>)>) -> SfNotification {
        let n = self.next_notification;
        self.next_notification += 1;
        SfNotification {
            id: ids::salesforce_id("04l", "Sm0000", n),
            fields,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Where HubSpot webhooks go and what signs them.
#[derive(Debug, Clone)]
pub struct HubSpotTarget {
    /// The full request URI, which the v3 signature covers.
    pub uri: String,
    pub secret: String,
}

impl HubSpotTarget {
    /// Terrane's HubSpot endpoint under its public base URL.
    pub fn new(terrane_url: &str, secret: &str) -> Self {
        Self {
            uri: format!("{}/webhooks/hubspot", terrane_url.trim_end_matches('/')),
            secret: secret.to_owned(),
        }
    }
}

/// `X-HubSpot-Signature-v3`: base64 of HMAC-SHA256 keyed with the secret over
/// method + URI + body + timestamp.
pub fn hubspot_signature_v3(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch is unreachable.
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// `X-HubSpot-Signature` version 1: hex SHA-256 of secret + body.
pub fn hubspot_signature_v1(secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A signed HubSpot delivery of `events` (at most [`MAX_BATCH`]) as attempt `attempt`
/// (0-based), sent at `now_ms`.
pub fn hubspot_request(
    target: &HubSpotTarget,
    events: &[HubSpotEvent],
    attempt: u32,
    now_ms: i64,
) -> Prepared {
    let batch: Vec<HubSpotEvent> = events
        .iter()
        .map(|e| HubSpotEvent {
            attempt_number: attempt,
            ..e.clone()
        })
        .collect();
    let body = serde_json::to_vec(&batch).unwrap_or_else(|_| b"[]".to_vec());
    let v3 = hubspot_signature_v3(&target.secret, "POST", &target.uri, &body, now_ms);
    let v1 = hubspot_signature_v1(&target.secret, &body);
    Prepared {
        url: target.uri.clone(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("user-agent", "HubSpot Connect 2.0 (terrane-crm-sim)".into()),
            ("x-hubspot-signature", v1),
            ("x-hubspot-signature-version", "v1".into()),
            ("x-hubspot-signature-v3", v3),
            ("x-hubspot-request-timestamp", now_ms.to_string()),
        ],
        body,
    }
}

/// The sending organization as written into Outbound Messages.
#[derive(Debug, Clone)]
pub struct SalesforceTarget {
    pub url: String,
    /// 18 characters.
    pub org_id: String,
    /// The outbound message action (prefix `04k`).
    pub action_id: String,
    pub enterprise_url: String,
    pub partner_url: String,
}

impl SalesforceTarget {
    /// Terrane's Salesforce endpoint under its secret path token; the SOAP callback URLs
    /// point at the simulator.
    pub fn new(terrane_url: &str, path_token: &str, org_id: &str, sim_url: &str) -> Self {
        let org15 = org_id.get(..15).unwrap_or(org_id);
        Self {
            url: format!(
                "{}/webhooks/salesforce/{path_token}",
                terrane_url.trim_end_matches('/')
            ),
            org_id: org_id.to_owned(),
            action_id: ids::salesforce_id("04k", "Sm0000", 1),
            enterprise_url: format!("{sim_url}/services/Soap/c/62.0/{org15}"),
            partner_url: format!("{sim_url}/services/Soap/u/62.0/{org15}"),
        }
    }
}

/// The SOAP 1.1 envelope of an Outbound Message carrying Account notifications.
pub fn outbound_message(target: &SalesforceTarget, notifications: &[SfNotification]) -> String {
    let mut xml = String::with_capacity(512 + notifications.len() * 1024);
    xml.push_str(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
        r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
        r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
        "<soapenv:Body>",
        r#"<notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    ));
    push_element(&mut xml, "OrganizationId", Some(&target.org_id));
    push_element(&mut xml, "ActionId", Some(&target.action_id));
    push_element(&mut xml, "SessionId", None);
    push_element(&mut xml, "EnterpriseUrl", Some(&target.enterprise_url));
    push_element(&mut xml, "PartnerUrl", Some(&target.partner_url));
    for n in notifications {
        xml.push_str("<Notification>");
        push_element(&mut xml, "Id", Some(&n.id));
        xml.push_str(
            r#"<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">"#,
        );
        for (name, value) in &n.fields {
            push_element(&mut xml, &format!("sf:{name}"), value.as_deref());
        }
        xml.push_str("</sObject></Notification>");
    }
    xml.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    xml
}

fn push_element(xml: &mut String, name: &str, text: Option<&str>) {
    if let Some(text) = text {
        xml.push('<');
        xml.push_str(name);
        xml.push('>');
        xml.push_str(&escape(text));
        xml.push_str("</");
        xml.push_str(name);
        xml.push('>');
    } else {
        xml.push('<');
        xml.push_str(name);
        xml.push_str(r#" xsi:nil="true"/>"#);
    }
}

/// An Outbound Message delivery (the same bytes on every attempt, as Salesforce resends).
pub fn salesforce_request(target: &SalesforceTarget, notifications: &[SfNotification]) -> Prepared {
    Prepared {
        url: target.url.clone(),
        headers: vec![
            ("content-type", "text/xml; charset=utf-8".into()),
            ("soapaction", "\"\"".into()),
            (
                "user-agent",
                "Jakarta Commons-HttpClient/3.1 (terrane-crm-sim)".into(),
            ),
        ],
        body: outbound_message(target, notifications).into_bytes(),
    }
}

/// Whether a SOAP response acknowledges the message (`<Ack>true</Ack>`).
pub fn is_ack(body: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut in_ack = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => in_ack = e.local_name().as_ref() == b"Ack",
            Ok(Event::Text(t)) if in_ack => {
                return t.decode().is_ok_and(|s| s.trim() == "true");
            }
            Ok(Event::End(_)) => in_ack = false,
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// How one webhook request fared over its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    pub vendor: Vendor,
    /// Events (HubSpot) or notifications (Salesforce) in the request.
    pub events: usize,
    pub attempts: u32,
    pub delivered: bool,
    /// HTTP status of the last attempt, if one was answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// Unix milliseconds when the last attempt finished.
    pub finished_at: i64,
}

/// Sends `build(attempt)` until `accept(status, body)` or the policy gives up; waits
/// between attempts double.
async fn deliver(
    client: &reqwest::Client,
    policy: &RetryPolicy,
    vendor: Vendor,
    events: usize,
    build: impl Fn(u32) -> Prepared,
    accept: impl Fn(u16, &str) -> bool,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        vendor,
        events,
        attempts: 0,
        delivered: false,
        last_status: None,
        last_error: None,
        finished_at: 0,
    };
    for attempt in 0..policy.attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(policy.backoff_ms(attempt))).await;
        }
        let prepared = build(attempt);
        report.attempts = attempt + 1;
        let mut request = client
            .post(&prepared.url)
            .timeout(Duration::from_millis(policy.timeout_ms))
            .body(prepared.body);
        for (name, value) in prepared.headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                report.last_status = Some(status);
                if accept(status, &body) {
                    report.delivered = true;
                    report.last_error = None;
                    break;
                }
                report.last_error = Some(format!("answered {status}"));
            }
            Err(e) => {
                report.last_status = None;
                report.last_error = Some(e.to_string());
            }
        }
        tracing::debug!(?vendor, attempt, error = ?report.last_error, "webhook attempt failed");
    }
    report.finished_at = crate::clock::now_ms();
    if report.delivered {
        tracing::info!(
            ?vendor,
            events,
            attempts = report.attempts,
            "webhook delivered"
        );
    } else {
        tracing::warn!(?vendor, events, attempts = report.attempts, error = ?report.last_error, "webhook delivery gave up");
    }
    report
}

/// Delivers one HubSpot batch; any 2xx is success.
pub async fn deliver_hubspot(
    client: &reqwest::Client,
    target: &HubSpotTarget,
    events: &[HubSpotEvent],
    policy: &RetryPolicy,
) -> DeliveryReport {
    deliver(
        client,
        policy,
        Vendor::HubSpot,
        events.len(),
        |attempt| hubspot_request(target, events, attempt, crate::clock::now_ms()),
        |status, _| (200..300).contains(&status),
    )
    .await
}

/// Delivers one Outbound Message; success is 200 with an `Ack` of true.
pub async fn deliver_salesforce(
    client: &reqwest::Client,
    target: &SalesforceTarget,
    notifications: &[SfNotification],
    policy: &RetryPolicy,
) -> DeliveryReport {
    let prepared = salesforce_request(target, notifications);
    deliver(
        client,
        policy,
        Vendor::Salesforce,
        notifications.len(),
        |_| prepared.clone(),
        |status, body| status == 200 && is_ack(body),
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use quick_xml::NsReader;
    use quick_xml::events::Event;
    use quick_xml::name::{Namespace, ResolveResult};

    use super::*;

    fn factory() -> EventFactory {
        EventFactory::new(4_410_001, 1_000_001)
    }

    #[test]
    fn hubspot_v3_signature_matches_an_independent_hmac() {
        let secret = "sim-secret";
        let uri = "http://127.0.0.1:8080/webhooks/hubspot";
        let body = br#"[{"eventId":1}]"#;
        let ts = 1_795_514_400_000_i64;
        // Computed separately: one HMAC over the concatenated string.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"POSThttp://127.0.0.1:8080/webhooks/hubspot[{\"eventId\":1}]1795514400000");
        let expected = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(
            hubspot_signature_v3(secret, "POST", uri, body, ts),
            expected
        );
    }

    #[test]
    fn hubspot_v1_signature_is_hex_sha256_of_secret_and_body() {
        // sha256("abc") is a published test vector.
        assert_eq!(
            hubspot_signature_v1("a", b"bc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hubspot_request_signs_its_exact_body_and_numbers_the_attempt() {
        let mut f = factory();
        let event = f.hubspot(
            10_000_001,
            HubSpotChange::PropertyChange {
                name: "terrane_tier".into(),
                value: "A".into(),
            },
            1_000,
            ChangeSource::CrmUi,
        );
        let target = HubSpotTarget::new("http://t.example/", "s");
        assert_eq!(target.uri, "http://t.example/webhooks/hubspot");
        let req = hubspot_request(&target, &[event], 2, 5_000);
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .expect("header present")
        };
        assert_eq!(header("x-hubspot-request-timestamp"), "5000");
        assert_eq!(
            header("x-hubspot-signature-v3"),
            hubspot_signature_v3("s", "POST", &target.uri, &req.body, 5_000)
        );
        let parsed: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
        assert_eq!(parsed[0]["attemptNumber"], 2);
        assert_eq!(parsed[0]["objectId"], 10_000_001);
        assert_eq!(parsed[0]["subscriptionType"], "company.propertyChange");
        assert_eq!(parsed[0]["propertyName"], "terrane_tier");
        assert_eq!(parsed[0]["propertyValue"], "A");
        assert!(parsed[0].get("mergedObjectIds").is_none());
    }

    #[test]
    fn merge_events_carry_the_primary_and_merged_ids() {
        let event = factory().hubspot(
            5,
            HubSpotChange::Merge {
                merged: vec![7],
                moved: 3,
            },
            1,
            ChangeSource::CrmUi,
        );
        let v = serde_json::to_value(&event).expect("json");
        assert_eq!(v["subscriptionType"], "company.merge");
        assert_eq!(v["primaryObjectId"], 5);
        assert_eq!(v["mergedObjectIds"], serde_json::json!([7]));
        assert_eq!(v["newObjectId"], 5);
        assert_eq!(v["numberOfPropertiesMoved"], 3);
    }

    /// Every (namespace, local name) → text of the leaf elements, and the nil ones.
    fn parse_soap(xml: &str) -> (Vec<(String, String, String)>, Vec<String>) {
        let mut reader = NsReader::from_str(xml);
        let mut leaves = Vec::new();
        let mut nils = Vec::new();
        let mut open: Option<(String, String)> = None;
        let mut text = String::new();
        loop {
            let (ns, event) = reader.read_resolved_event().expect("well-formed XML");
            let ns = match ns {
                ResolveResult::Bound(Namespace(n)) => String::from_utf8_lossy(n).into_owned(),
                _ => String::new(),
            };
            match event {
                Event::Start(e) => {
                    open = Some((ns, String::from_utf8_lossy(e.local_name().as_ref()).into()));
                    text.clear();
                }
                Event::Empty(e) => {
                    let nil = e
                        .attributes()
                        .filter_map(Result::ok)
                        .any(|a| a.key.as_ref() == b"xsi:nil" && a.value.as_ref() == b"true");
                    if nil {
                        nils.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                    }
                }
                Event::Text(t) => text.push_str(&t.decode().expect("utf-8")),
                Event::GeneralRef(r) => {
                    let name = r.decode().expect("utf-8");
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .expect("predefined entity");
                    text.push_str(resolved);
                }
                Event::End(_) => {
                    if let Some((ns, name)) = open.take() {
                        leaves.push((ns, name, std::mem::take(&mut text)));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        (leaves, nils)
    }

    #[test]
    fn outbound_message_is_well_formed_soap_in_salesforces_namespaces() {
        let mut f = factory();
        let fields = vec![
            ("Id", Some("001Sm0000000001IAA".to_owned())),
            ("Name", Some("Café <Azur> & Fils".to_owned())),
            ("Industry", None),
            ("Terrane_Annual_Value__c", Some("48340.0".to_owned())),
        ];
        let notes = vec![f.salesforce(fields.clone()), f.salesforce(fields)];
        assert_ne!(notes[0].id, notes[1].id);
        assert!(notes[0].id.starts_with("04l") && notes[0].id.len() == 18);
        let target = SalesforceTarget::new(
            "http://t.example",
            "terrane-dev-salesforce-path-token",
            "00DSm00000TeRRAIAA",
            "http://sim",
        );
        let xml = outbound_message(&target, &notes);

        let (leaves, nils) = parse_soap(&xml);
        let find = |ns: &str, name: &str| -> Vec<String> {
            leaves
                .iter()
                .filter(|(n, l, _)| n == ns && l == name)
                .map(|(_, _, t)| t.clone())
                .collect()
        };
        let outbound = "http://soap.sforce.com/2005/09/outbound";
        let sobject = "urn:sobject.enterprise.soap.sforce.com";
        assert_eq!(find(outbound, "OrganizationId"), ["00DSm00000TeRRAIAA"]);
        assert_eq!(find(outbound, "Id").len(), 2);
        assert_eq!(find(sobject, "Name"), ["Café <Azur> & Fils"; 2]);
        assert_eq!(find(sobject, "Terrane_Annual_Value__c"), ["48340.0"; 2]);
        assert!(nils.contains(&"SessionId".to_owned()));
        assert_eq!(nils.iter().filter(|n| *n == "Industry").count(), 2);
        let by_name: BTreeMap<_, _> = leaves
            .iter()
            .map(|(_, l, t)| (l.clone(), t.clone()))
            .collect();
        assert_eq!(
            by_name["EnterpriseUrl"],
            "http://sim/services/Soap/c/62.0/00DSm00000TeRRA"
        );
        assert!(xml.contains(r#"xsi:type="sf:Account""#));
    }

    /// A receiver that answers 503 to the first `failures` requests, then 200, and keeps
    /// every body it saw.
    async fn flaky_receiver(
        failures: usize,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        use axum::http::StatusCode;
        use std::sync::{Arc, Mutex};

        let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let bodies = seen.clone();
        let app = axum::Router::new().route(
            "/webhooks/hubspot",
            axum::routing::post(move |body: axum::body::Bytes| {
                let bodies = bodies.clone();
                async move {
                    let mut bodies = bodies.lock().expect("not poisoned");
                    bodies.push(serde_json::from_slice(&body).expect("json body"));
                    if bodies.len() <= failures {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn failed_deliveries_are_retried_with_the_same_events_and_a_higher_attempt_number() {
        let (url, seen) = flaky_receiver(2).await;
        let event = factory().hubspot(42, HubSpotChange::Creation, 1, ChangeSource::CrmUi);
        let policy = RetryPolicy {
            attempts: 5,
            base_ms: 10,
            timeout_ms: 2_000,
        };
        let report = deliver_hubspot(
            &reqwest::Client::new(),
            &HubSpotTarget::new(&url, "s"),
            &[event],
            &policy,
        )
        .await;
        assert!(report.delivered);
        assert_eq!(report.attempts, 3);
        let bodies = seen.lock().expect("not poisoned").clone();
        let attempts: Vec<_> = bodies
            .iter()
            .map(|b| b[0]["attemptNumber"].clone())
            .collect();
        assert_eq!(attempts, [0, 1, 2]);
        assert!(
            bodies
                .iter()
                .all(|b| b[0]["eventId"] == bodies[0][0]["eventId"])
        );
    }

    #[tokio::test]
    async fn deliveries_give_up_after_the_last_attempt() {
        let (url, seen) = flaky_receiver(usize::MAX).await;
        let event = factory().hubspot(42, HubSpotChange::Deletion, 1, ChangeSource::CrmUi);
        let policy = RetryPolicy {
            attempts: 3,
            base_ms: 5,
            timeout_ms: 2_000,
        };
        let target = HubSpotTarget::new(&url, "s");
        let report = deliver_hubspot(&reqwest::Client::new(), &target, &[event], &policy).await;
        assert!(!report.delivered);
        assert_eq!(report.attempts, 3);
        assert_eq!(report.last_status, Some(503));
        assert_eq!(seen.lock().expect("not poisoned").len(), 3);
    }

    #[test]
    fn acks_are_recognized_only_when_true() {
        let ack = |v: &str| {
            format!(
                r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>{v}</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
            )
        };
        assert!(is_ack(&ack("true")));
        assert!(!is_ack(&ack("false")));
        assert!(!is_ack("not xml"));
        assert!(!is_ack(""));
    }
}
