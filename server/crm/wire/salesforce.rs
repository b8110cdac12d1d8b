//! Salesforce Outbound Messages: the SOAP `notifications` request, its `Ack` response and
//! faults, the stored per-notification payload, and the mapping of `Account` fields.
//!
//! Outbound Messages carry no signature: the endpoint's secret path token and the
//! `OrganizationId` must match a connection, and even then a message is only a notice: the
//! worker reads the record back through the REST API ([`notified_account_id`]). They never
//! fire on delete, so deletions and merges reach Terrane through read-back and reconciliation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FieldNames, MAX_EVENTS_PER_REQUEST, RawEvent, WireError, account_from_map};
use crate::crm::canonical::{CanonicalAccount, Change, MappingError};

const SOAP_ENV_NS: &[u8] = b"http://schemas.xmlsoap.org/soap/envelope/";
const OUTBOUND_NS: &[u8] = b"http://soap.sforce.com/2005/09/outbound";
const SOBJECT_NS: &[u8] = b"urn:sobject.enterprise.soap.sforce.com";
const XSI_NS: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// Deepest element nesting accepted (a real message nests 6 deep).
const MAX_DEPTH: usize = 32;

/// One Outbound Message request. `SessionId` and the API URLs are dropped on purpose: the
/// session id is a credential and must not reach the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub organization_id: String,
    /// The outbound message (workflow action) that sent it.
    pub action_id: String,
    pub notifications: Vec<Notification>,
}

/// One record in an Outbound Message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification's id: the same on every redelivery.
    pub id: String,
    /// The `xsi:type` of the `sObject`, without its prefix (`Account`).
    pub sobject_type: String,
    /// Field name → value; `None` for `xsi:nil` fields.
    pub fields: BTreeMap<String, Option<String>>,
}

/// The inbox payload of one notification (see `docs/crm-events.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredNotification {
    pub organization_id: String,
    pub action_id: String,
    pub notification_id: String,
    pub sobject_type: String,
    pub fields: BTreeMap<String, Option<String>>,
}

/// Namespaces the parser tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Soap,
    Outbound,
    SObject,
    Other,
}

fn classify(ns: &ResolveResult<'_>) -> Ns {
    match ns {
        ResolveResult::Bound(n) if n.0 == SOAP_ENV_NS => Ns::Soap,
        ResolveResult::Bound(n) if n.0 == OUTBOUND_NS => Ns::Outbound,
        ResolveResult::Bound(n) if n.0 == SOBJECT_NS => Ns::SObject,
        _ => Ns::Other,
    }
}

/// Where the parser is in the document.
#[derive(Debug)]
enum Frame {
    Envelope,
    Header,
    Body,
    Notifications,
    OrganizationId,
    ActionId,
    Notification,
    NotificationId,
    SObject,
    Field {
        name: String,
        nil: bool,
    },
    /// A subtree the parser does not read (SOAP header, `SessionId`, URLs, unknown elements).
    Ignored,
}

impl Frame {
    fn collects_text(&self) -> bool {
        matches!(
            self,
            Self::OrganizationId | Self::ActionId | Self::NotificationId | Self::Field { .. }
        )
    }
}

#[derive(Default)]
struct PartialNotification {
    id: Option<String>,
    sobject_type: Option<String>,
    fields: BTreeMap<String, Option<String>>,
}

#[derive(Default)]
struct Parser {
    stack: Vec<Frame>,
    text: String,
    root_done: bool,
    seen_notifications: bool,
    organization_id: Option<String>,
    action_id: Option<String>,
    notifications: Vec<Notification>,
    current: Option<PartialNotification>,
}

fn err(message: impl Into<String>) -> WireError {
    WireError::new(message)
}

impl Parser {
    /// The frame a new element opens, given the one it is in.
    fn open(
        &mut self,
        ns: Ns,
        local: &str,
        start: &BytesStart<'_>,
        reader: &NsReader<&[u8]>,
    ) -> Result<Frame, WireError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(err("XML nests too deep"));
        }
        let Some(parent) = self.stack.last() else {
            if self.root_done {
                return Err(err("content after the SOAP envelope"));
            }
            return match (ns, local) {
                (Ns::Soap, "Envelope") => Ok(Frame::Envelope),
                _ => Err(err("body is not a SOAP 1.1 envelope")),
            };
        };
        let frame = match (parent, ns, local) {
            (Frame::Envelope, Ns::Soap, "Header") => Frame::Header,
            (Frame::Envelope, Ns::Soap, "Body") => Frame::Body,
            (Frame::Envelope, _, _) => return Err(err("unexpected element in the SOAP envelope")),
            (Frame::Body, Ns::Outbound, "notifications") => {
                if self.seen_notifications {
                    return Err(err("more than one notifications element"));
                }
                Frame::Notifications
            }
            (Frame::Body, _, _) => {
                return Err(err(
                    "SOAP body does not hold Salesforce outbound notifications",
                ));
            }
            (Frame::Notifications, Ns::Outbound, "OrganizationId") => Frame::OrganizationId,
            (Frame::Notifications, Ns::Outbound, "ActionId") => Frame::ActionId,
            (Frame::Notifications, Ns::Outbound, "Notification") => {
                if self.notifications.len() >= MAX_EVENTS_PER_REQUEST {
                    return Err(err(format!(
                        "more than {MAX_EVENTS_PER_REQUEST} notifications"
                    )));
                }
                self.current = Some(PartialNotification::default());
                Frame::Notification
            }
            (Frame::Notification, Ns::Outbound, "Id") => Frame::NotificationId,
            (Frame::Notification, Ns::Outbound, "sObject") => {
                let sobject_type = xsi_type(start, reader)?;
                let current = self
                    .current
                    .as_mut()
                    .ok_or_else(|| err("sObject outside a Notification"))?;
                if current.sobject_type.replace(sobject_type).is_some() {
                    return Err(err("Notification holds more than one sObject"));
                }
                Frame::SObject
            }
            (Frame::SObject, Ns::SObject, name) => Frame::Field {
                name: name.to_owned(),
                nil: is_nil(start, reader)?,
            },
            (
                Frame::OrganizationId
                | Frame::ActionId
                | Frame::NotificationId
                | Frame::Field { .. },
                _,
                _,
            ) => return Err(err("unexpected element inside a value")),
            _ => Frame::Ignored,
        };
        if frame.collects_text() {
            self.text.clear();
        }
        Ok(frame)
    }

    /// Closes the innermost element.
    fn close(&mut self) -> Result<(), WireError> {
        let frame = self.stack.pop().ok_or_else(|| err("unbalanced end tag"))?;
        let text = std::mem::take(&mut self.text);
        match frame {
            Frame::Envelope => self.root_done = true,
            Frame::Notifications => self.seen_notifications = true,
            Frame::OrganizationId => set_once(&mut self.organization_id, text, "OrganizationId")?,
            Frame::ActionId => set_once(&mut self.action_id, text, "ActionId")?,
            Frame::NotificationId => {
                let current = self
                    .current
                    .as_mut()
                    .ok_or_else(|| err("Id outside a Notification"))?;
                set_once(&mut current.id, text, "Notification Id")?;
            }
            Frame::Field { name, nil } => {
                let current = self
                    .current
                    .as_mut()
                    .ok_or_else(|| err("field outside a Notification"))?;
                let value = (!nil).then_some(text);
                if current.fields.insert(name.clone(), value).is_some() {
                    return Err(err(format!("field {name} appears twice in a notification")));
                }
            }
            Frame::Notification => {
                let index = self.notifications.len();
                let current = self.current.take().unwrap_or_default();
                let id = current
                    .id
                    .ok_or_else(|| err(format!("notification {index} has no Id")))?;
                let sobject_type = current
                    .sobject_type
                    .ok_or_else(|| err(format!("notification {index} has no sObject")))?;
                self.notifications.push(Notification {
                    id,
                    sobject_type,
                    fields: current.fields,
                });
            }
            Frame::Header | Frame::Body | Frame::SObject | Frame::Ignored => {}
        }
        Ok(())
    }

    /// Character data: kept inside value elements, whitespace elsewhere, refused otherwise.
    fn text(&mut self, chunk: &str) -> Result<(), WireError> {
        match self.stack.last() {
            Some(frame) if frame.collects_text() => {
                self.text.push_str(chunk);
                Ok(())
            }
            Some(Frame::Ignored) => Ok(()),
            _ if chunk.trim().is_empty() => Ok(()),
            None => Err(err("body is not a SOAP 1.1 envelope")),
            Some(_) => Err(err("unexpected text in the SOAP message")),
        }
    }

    fn finish(self) -> Result<OutboundMessage, WireError> {
        if !self.stack.is_empty() {
            return Err(err("SOAP message is truncated"));
        }
        if !self.root_done {
            return Err(err("body is not a SOAP 1.1 envelope"));
        }
        if !self.seen_notifications {
            return Err(err(
                "SOAP body does not hold Salesforce outbound notifications",
            ));
        }
        let organization_id = self
            .organization_id
            .ok_or_else(|| err("OrganizationId is missing"))?;
        let action_id = self.action_id.ok_or_else(|| err("ActionId is missing"))?;
        if self.notifications.is_empty() {
            return Err(err("message holds no Notification"));
        }
        Ok(OutboundMessage {
            organization_id,
            action_id,
            notifications: self.notifications,
        })
    }
}

/// Stores a required identifier once; blank or repeated is an error.
fn set_once(slot: &mut Option<String>, text: String, name: &str) -> Result<(), WireError> {
    let value = text.trim();
    if value.is_empty() {
        return Err(err(format!("{name} is empty")));
    }
    if slot.replace(value.to_owned()).is_some() {
        return Err(err(format!("{name} appears twice")));
    }
    Ok(())
}

/// Attribute `local` in the XML Schema instance namespace, unescaped.
fn xsi_attribute(
    start: &BytesStart<'_>,
    reader: &NsReader<&[u8]>,
    local: &[u8],
) -> Result<Option<String>, WireError> {
    for attr in start.attributes() {
        let attr = attr.map_err(|_| err("malformed XML attribute"))?;
        if let (ResolveResult::Bound(ns), name) = reader.resolver().resolve_attribute(attr.key)
            && ns.0 == XSI_NS
            && name.as_ref() == local
        {
            let value = attr
                .unescape_value()
                .map_err(|_| err("malformed XML attribute value"))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn is_nil(start: &BytesStart<'_>, reader: &NsReader<&[u8]>) -> Result<bool, WireError> {
    Ok(matches!(
        xsi_attribute(start, reader, b"nil")?
            .as_deref()
            .map(str::trim),
        Some("true" | "1")
    ))
}

/// The sObject type from `xsi:type="sf:Account"`, its prefix resolved to the sObject namespace.
fn xsi_type(start: &BytesStart<'_>, reader: &NsReader<&[u8]>) -> Result<String, WireError> {
    let value =
        xsi_attribute(start, reader, b"type")?.ok_or_else(|| err("sObject has no xsi:type"))?;
    let (ns, local) = reader
        .resolver()
        .resolve_element(QName(value.trim().as_bytes()));
    if classify(&ns) != Ns::SObject {
        return Err(err("sObject xsi:type is not in the sObject namespace"));
    }
    let local =
        std::str::from_utf8(local.as_ref()).map_err(|_| err("sObject xsi:type is not UTF-8"))?;
    if local.is_empty()
        || !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(err("sObject xsi:type is malformed"));
    }
    Ok(local.to_owned())
}

/// Parses an Outbound Message request body. Namespace-aware (prefixes are free), refuses
/// DTDs (no entity expansion, no XXE), more than [`MAX_EVENTS_PER_REQUEST`] notifications,
/// a missing `OrganizationId` or `ActionId`, and anything that is not this SOAP request.
pub fn parse_outbound(body: &[u8]) -> Result<OutboundMessage, WireError> {
    let text = std::str::from_utf8(body).map_err(|_| err("body is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_reader(text.as_bytes());
    reader.config_mut().enable_all_checks(true);
    let mut parser = Parser::default();
    loop {
        let position = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (classify(&ns), event),
            Err(_) => {
                return Err(err(format!(
                    "body is not well-formed XML (near byte {position})"
                )));
            }
        };
        match event {
            Event::Start(start) => {
                let local = local_name(&start)?;
                let frame = parser.open(ns, &local, &start, &reader)?;
                parser.stack.push(frame);
            }
            Event::Empty(start) => {
                let local = local_name(&start)?;
                let frame = parser.open(ns, &local, &start, &reader)?;
                parser.stack.push(frame);
                parser.close()?;
            }
            Event::End(_) => parser.close()?,
            Event::Text(t) => {
                let chunk = t.xml10_content().map_err(|_| err("body is not UTF-8"))?;
                parser.text(&chunk)?;
            }
            Event::CData(c) => {
                let chunk = c.xml10_content().map_err(|_| err("body is not UTF-8"))?;
                parser.text(&chunk)?;
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode()
                        .ok()
                        .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
                        .map(str::to_owned)
                };
                let resolved = resolved.ok_or_else(|| err("undeclared XML entity"))?;
                parser.text(&resolved)?;
            }
            Event::DocType(_) => return Err(err("DTDs are not accepted")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => return parser.finish(),
        }
    }
}

fn local_name(start: &BytesStart<'_>) -> Result<String, WireError> {
    std::str::from_utf8(start.local_name().as_ref())
        .map(str::to_owned)
        .map_err(|_| err("element name is not UTF-8"))
}

/// The SOAP response that acknowledges (or, with `false`, asks Salesforce to redeliver) a
/// message.
pub fn ack_response(ack: bool) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
            "<soapenv:Body>",
            r#"<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
            "<Ack>{}</Ack>",
            "</notificationsResponse>",
            "</soapenv:Body>",
            "</soapenv:Envelope>"
        ),
        ack
    )
}

/// A SOAP 1.1 fault. `code` is `Client` (the message is at fault) or `Server` (try again
/// later); a code without a prefix is put in the envelope namespace. Both are XML-escaped.
pub fn soap_fault(code: &str, message: &str) -> String {
    let code = if code.contains(':') {
        code.to_owned()
    } else {
        format!("soapenv:{code}")
    };
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
            "<soapenv:Body>",
            "<soapenv:Fault>",
            "<faultcode>{}</faultcode>",
            "<faultstring>{}</faultstring>",
            "</soapenv:Fault>",
            "</soapenv:Body>",
            "</soapenv:Envelope>"
        ),
        quick_xml::escape::escape(code.as_str()),
        quick_xml::escape::escape(message)
    )
}

/// One raw event per notification: the event id is the notification `Id` (Salesforce reuses
/// it on redelivery), the payload a [`StoredNotification`].
pub fn split(msg: &OutboundMessage) -> Vec<RawEvent> {
    msg.notifications
        .iter()
        .map(|n| {
            let stored = StoredNotification {
                organization_id: msg.organization_id.clone(),
                action_id: msg.action_id.clone(),
                notification_id: n.id.clone(),
                sobject_type: n.sobject_type.clone(),
                fields: n.fields.clone(),
            };
            RawEvent {
                event_id: n.id.clone(),
                payload: stored_json(&stored),
            }
        })
        .collect()
}

/// A [`StoredNotification`] as JSON, built by hand so that it cannot fail.
fn stored_json(stored: &StoredNotification) -> Value {
    let fields: serde_json::Map<String, Value> = stored
        .fields
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_ref().map_or(Value::Null, |s| Value::String(s.clone())),
            )
        })
        .collect();
    serde_json::json!({
        "organization_id": stored.organization_id,
        "action_id": stored.action_id,
        "notification_id": stored.notification_id,
        "sobject_type": stored.sobject_type,
        "fields": fields,
    })
}

/// `Account` fields that reconciliation's SOQL selects and that the Outbound Message must
/// include. `BillingCountry` exists in every org; `BillingCountryCode` (only with State and
/// Country picklists) is read too when a message carries it.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Industry",
    "BillingStreet",
    "BillingPostalCode",
    "BillingCity",
    "BillingCountry",
    "OwnerId",
    "LastModifiedDate",
    "Terrane_Tier__c",
    "Terrane_Annual_Value__c",
    "Terrane_Visits_Per_Year__c",
    "Terrane_Priority__c",
];

const ACCOUNT_NAMES: FieldNames = FieldNames {
    name: "Name",
    industry: "Industry",
    street: &["BillingStreet"],
    postal_code: "BillingPostalCode",
    city: "BillingCity",
    country: &["BillingCountryCode", "BillingCountry"],
    owner: "OwnerId",
    tier: "Terrane_Tier__c",
    annual_value: "Terrane_Annual_Value__c",
    visits_per_year: "Terrane_Visits_Per_Year__c",
    priority: "Terrane_Priority__c",
};

/// Salesforce datetimes: RFC 3339 in SOAP (`2024-05-01T10:00:00.000Z`), `+0000` offsets in
/// REST/SOQL results (`2024-05-01T10:00:00.000+0000`).
fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Maps `Account` fields (an Outbound Message's or a SOQL row's) to a canonical account.
/// `Id` and `LastModifiedDate` (the last-write-wins clock) are required; multi-line
/// `BillingStreet` becomes one line.
pub fn account_from_fields(
    fields: &BTreeMap<String, Option<String>>,
) -> Result<CanonicalAccount, MappingError> {
    let get = |name: &str| fields.get(name).and_then(Option::as_deref);
    let id = get("Id").ok_or_else(|| MappingError::new("Id is missing"))?;
    let modified_at = get("LastModifiedDate")
        .ok_or_else(|| MappingError::new("LastModifiedDate is missing"))
        .and_then(|s| {
            parse_datetime(s)
                .ok_or_else(|| MappingError::new("LastModifiedDate is not a date-time"))
        })?;
    account_from_map(fields, &ACCOUNT_NAMES, id, modified_at)
}

/// Decodes a stored [`StoredNotification`] into an upsert; other sObjects than `Account` are
/// mapping errors.
pub fn decode_payload(payload: &Value) -> Result<Change, MappingError> {
    let stored = stored_account_notification(payload)?;
    account_from_fields(&stored.fields).map(Change::Upsert)
}

/// A stored [`StoredNotification`] about an `Account`; other sObjects are mapping errors.
fn stored_account_notification(payload: &Value) -> Result<StoredNotification, MappingError> {
    let stored = StoredNotification::deserialize(payload)
        .map_err(|e| MappingError::new(super::json_error("stored notification", &e)))?;
    if stored.sobject_type != "Account" {
        return Err(MappingError::new(format!(
            "sObject type {} is not Account",
            stored.sobject_type
        )));
    }
    Ok(stored)
}

/// Whether `id` has the shape of a Salesforce record id (15 or 18 letters and digits), so it
/// can go into a SOQL literal as it is.
pub fn is_record_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The Account Id a stored notification is about, and nothing else from it: an Outbound
/// Message is a notice that the record changed; its fields are not trusted (the worker reads
/// the record back through the REST API).
pub fn notified_account_id(payload: &Value) -> Result<String, MappingError> {
    let stored = stored_account_notification(payload)?;
    match stored.fields.get("Id").cloned().flatten() {
        Some(id) if is_record_id(&id) => Ok(id),
        Some(_) => Err(MappingError::new("Id: not a Salesforce record id")),
        None => Err(MappingError::new("Id: missing")),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;
    use crate::crm::canonical::Tier;

    fn envelope(notifications: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5g000004ABCDEAA</OrganizationId>
   <ActionId>04k5g000000XYZAAA2</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/60.0/00D5g000004ABCD</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/60.0/00D5g000004ABCD</PartnerUrl>
{notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
        )
    }

    fn notification(id: &str, account_id: &str) -> String {
        format!(
            r#"   <Notification>
    <Id>{id}</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{account_id}</sf:Id>
     <sf:BillingCity>Saint-Étienne</sf:BillingCity>
     <sf:BillingCountry>France</sf:BillingCountry>
     <sf:BillingPostalCode>42000</sf:BillingPostalCode>
     <sf:BillingStreet>3 place Jean Jaurès
Entrée B</sf:BillingStreet>
     <sf:Industry xsi:nil="true"/>
     <sf:LastModifiedDate>2024-05-01T10:00:00.000Z</sf:LastModifiedDate>
     <sf:Name>Boulangerie &amp; Fils &#8212; Dupont</sf:Name>
     <sf:OwnerId>0055g00000AbCdEAAV</sf:OwnerId>
     <sf:Terrane_Annual_Value__c>125000.5</sf:Terrane_Annual_Value__c>
     <sf:Terrane_Priority__c>2.0</sf:Terrane_Priority__c>
     <sf:Terrane_Tier__c>B</sf:Terrane_Tier__c>
     <sf:Terrane_Visits_Per_Year__c>12.0</sf:Terrane_Visits_Per_Year__c>
    </sObject>
   </Notification>"#
        )
    }

    fn two_notifications() -> String {
        envelope(&format!(
            "{}\n{}",
            notification("04l5g00000AAAAAAA1", "0015g00000AAAAAAA1"),
            notification("04l5g00000AAAAAAA2", "0015g00000AAAAAAA2")
        ))
    }

    #[test]
    fn realistic_message_parses_with_nil_and_escapes() {
        let msg = parse_outbound(two_notifications().as_bytes()).expect("parses");
        assert_eq!(msg.organization_id, "00D5g000004ABCDEAA");
        assert_eq!(msg.action_id, "04k5g000000XYZAAA2");
        assert_eq!(msg.notifications.len(), 2);
        let first = &msg.notifications[0];
        assert_eq!(first.id, "04l5g00000AAAAAAA1");
        assert_eq!(first.sobject_type, "Account");
        assert_eq!(first.fields.get("Industry"), Some(&None));
        assert_eq!(
            first.fields.get("Name"),
            Some(&Some("Boulangerie & Fils — Dupont".to_owned()))
        );
        assert_eq!(
            first.fields.get("BillingStreet"),
            Some(&Some("3 place Jean Jaurès\nEntrée B".to_owned()))
        );
        assert_eq!(
            msg.notifications[1].fields.get("Id"),
            Some(&Some("0015g00000AAAAAAA2".to_owned()))
        );
    }

    #[test]
    fn prefixes_do_not_matter_only_namespaces() {
        let body = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">
<e:Header><x:Anything xmlns:x="urn:x"><x:Deep/></x:Anything></e:Header>
<e:Body><o:notifications xmlns:o="http://soap.sforce.com/2005/09/outbound">
<o:OrganizationId>00D</o:OrganizationId><o:ActionId>04k</o:ActionId>
<o:Notification><o:Id>04l1</o:Id>
<o:sObject xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:obj="urn:sobject.enterprise.soap.sforce.com" i:type="obj:Account">
<obj:Name><![CDATA[A <b> & C]]></obj:Name><obj:Extra i:nil="1"/><other:Name xmlns:other="urn:other">ignored</other:Name>
</o:sObject></o:Notification></o:notifications></e:Body></e:Envelope>"#;
        let msg = parse_outbound(body.as_bytes()).expect("parses");
        let fields = &msg.notifications[0].fields;
        assert_eq!(fields.get("Name"), Some(&Some("A <b> & C".to_owned())));
        assert_eq!(fields.get("Extra"), Some(&None));
        assert_eq!(fields.len(), 2);
        // Right local names in the wrong namespace are not an Outbound Message.
        let wrong = body.replace(
            "http://soap.sforce.com/2005/09/outbound",
            "http://example.com/outbound",
        );
        assert!(parse_outbound(wrong.as_bytes()).is_err());
        // A type prefix bound elsewhere is refused.
        let wrong_type = body.replace(r#"i:type="obj:Account""#, r#"i:type="o:Account""#);
        assert!(parse_outbound(wrong_type.as_bytes()).is_err());
    }

    #[test]
    fn hundred_notifications_pass_and_a_hundred_and_first_is_refused() {
        let many = |n: usize| {
            let mut s = String::new();
            for i in 0..n {
                let _ = writeln!(s, "{}", notification(&format!("04l{i:015}"), "001"));
            }
            envelope(&s)
        };
        assert_eq!(
            parse_outbound(many(100).as_bytes()).map(|m| m.notifications.len()),
            Ok(100)
        );
        let err = parse_outbound(many(101).as_bytes()).expect_err("too many");
        assert!(err.0.contains("100"), "{err}");
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let xxe = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
            envelope(&notification("04l1", "001")).replacen(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "",
                1
            )
        );
        let err = parse_outbound(xxe.as_bytes()).expect_err("DTD");
        assert!(err.0.contains("DTD"), "{err}");
        let entity = two_notifications().replace("&amp;", "&xxe;");
        assert!(parse_outbound(entity.as_bytes()).is_err());
    }

    #[test]
    fn non_soap_and_incomplete_messages_are_refused() {
        for body in [
            "",
            "hello",
            "{\"json\": true}",
            "<html><body>hi</body></html>",
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><other/></soapenv:Body></soapenv:Envelope>"#,
        ] {
            assert!(parse_outbound(body.as_bytes()).is_err(), "{body}");
        }
        let no_org =
            two_notifications().replace("<OrganizationId>00D5g000004ABCDEAA</OrganizationId>", "");
        let err = parse_outbound(no_org.as_bytes()).expect_err("no org");
        assert!(err.0.contains("OrganizationId"), "{err}");
        let no_id = two_notifications().replace("<Id>04l5g00000AAAAAAA1</Id>", "");
        assert!(parse_outbound(no_id.as_bytes()).is_err());
        let truncated = &two_notifications()[..400];
        assert!(parse_outbound(truncated.as_bytes()).is_err());
        assert!(parse_outbound(envelope("").as_bytes()).is_err());
        assert!(parse_outbound(b"\xff\xfe<").is_err());
    }

    #[test]
    fn errors_do_not_echo_field_values() {
        let nested = two_notifications().replace(
            "<sf:Name>Boulangerie &amp; Fils &#8212; Dupont</sf:Name>",
            "<sf:Name><sf:x>Dupont</sf:x></sf:Name>",
        );
        let err = parse_outbound(nested.as_bytes()).expect_err("nested field");
        assert!(!err.0.contains("Dupont"), "{err}");
        let broken = two_notifications().replace("</sf:Name>", "</sf:Nam>");
        let err = parse_outbound(broken.as_bytes()).expect_err("mismatched end");
        assert!(!err.0.contains("Dupont"), "{err}");
    }

    #[test]
    fn ack_and_fault_have_the_soap_shape() {
        assert_eq!(
            ack_response(true),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
                r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>"#,
                "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
            )
        );
        assert!(ack_response(false).contains("<Ack>false</Ack>"));
        let fault = soap_fault("Client", "bad <input> & \"more\"");
        assert!(
            fault.contains("<faultcode>soapenv:Client</faultcode>"),
            "{fault}"
        );
        assert!(
            fault.contains("<faultstring>bad &lt;input&gt; &amp; &quot;more&quot;</faultstring>"),
            "{fault}"
        );
        // Both responses are well-formed XML in the SOAP envelope namespace.
        for xml in [ack_response(true), fault] {
            let mut reader = NsReader::from_str(&xml);
            let mut root = None;
            loop {
                match reader.read_resolved_event().expect("well-formed") {
                    (ns, Event::Start(_)) if root.is_none() => root = Some(classify(&ns)),
                    (_, Event::Eof) => break,
                    _ => {}
                }
            }
            assert_eq!(root, Some(Ns::Soap));
        }
    }

    #[test]
    fn split_and_decode_map_to_an_upsert() {
        let msg = parse_outbound(two_notifications().as_bytes()).expect("parses");
        let events = split(&msg);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_id, "04l5g00000AAAAAAA1");
        assert_eq!(events[0].payload["sobject_type"], "Account");
        assert_eq!(events[0].payload["organization_id"], "00D5g000004ABCDEAA");
        assert_eq!(events[0].payload["fields"]["Industry"], Value::Null);
        let Change::Upsert(account) = decode_payload(&events[0].payload).expect("decodes") else {
            panic!("not an upsert");
        };
        assert_eq!(account.crm_id, "0015g00000AAAAAAA1");
        assert_eq!(account.name, "Boulangerie & Fils — Dupont");
        assert_eq!(account.industry, None);
        assert_eq!(
            account.address.line.as_deref(),
            Some("3 place Jean Jaurès, Entrée B")
        );
        assert_eq!(account.address.country_code.as_deref(), Some("FR"));
        assert_eq!(account.address.city.as_deref(), Some("Saint-Étienne"));
        assert_eq!(account.tier, Some(Tier::B));
        assert_eq!(account.annual_value, Some(125_000.5));
        assert_eq!(account.visits_per_year, Some(12));
        assert_eq!(account.priority, Some(2));
        assert_eq!(account.owner_crm_id.as_deref(), Some("0055g00000AbCdEAAV"));
        assert_eq!(
            account.modified_at,
            DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z").expect("time")
        );
    }

    fn fields(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn account_mapping_edge_cases() {
        let base = [
            ("Id", Some("001A")),
            ("Name", Some("Acme")),
            ("LastModifiedDate", Some("2024-05-01T10:00:00.000+0000")),
        ];
        let account = account_from_fields(&fields(&base)).expect("REST date format");
        assert_eq!(account.modified_at.timestamp(), 1_714_557_600);
        let with = |extra: &[(&str, Option<&str>)]| {
            let mut f = fields(&base);
            f.extend(fields(extra));
            account_from_fields(&f)
        };
        assert_eq!(
            with(&[
                ("BillingCountryCode", Some("BE")),
                ("BillingCountry", Some("France"))
            ])
            .expect("code wins")
            .address
            .country_code
            .as_deref(),
            Some("BE")
        );
        assert!(with(&[("LastModifiedDate", None)]).is_err());
        assert!(with(&[("LastModifiedDate", Some("yesterday"))]).is_err());
        assert!(with(&[("Name", None)]).is_err());
        let err = with(&[("Terrane_Priority__c", Some("0"))]).expect_err("priority");
        assert!(err.0.contains("Terrane_Priority__c"), "{err}");
        assert!(account_from_fields(&fields(&base[1..])).is_err());
    }

    #[test]
    fn decode_refuses_other_sobjects_and_unknown_payloads() {
        let payload = serde_json::json!({
            "organization_id": "00D", "action_id": "04k", "notification_id": "04l",
            "sobject_type": "Contact", "fields": {"Id": "003", "Name": "x"}
        });
        assert!(decode_payload(&payload).is_err());
        assert!(decode_payload(&serde_json::json!({"sobject_type": "Account"})).is_err());
        assert!(decode_payload(&serde_json::json!([1, 2])).is_err());
    }

    proptest! {
        #[test]
        fn parse_outbound_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_outbound(&bytes);
        }

        #[test]
        fn parse_outbound_never_panics_on_mutated_messages(
            index in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = two_notifications().into_bytes();
            let i = index.index(bytes.len());
            bytes[i] = byte;
            if let Ok(msg) = parse_outbound(&bytes) {
                for event in split(&msg) {
                    let _ = decode_payload(&event.payload);
                }
            }
            bytes.truncate(cut.index(bytes.len()));
            let _ = parse_outbound(&bytes);
        }

        #[test]
        fn decode_payload_never_panics(
            sobject in "[A-Za-z]{0,10}",
            values in proptest::collection::vec(proptest::option::of(".{0,12}"), 13),
        ) {
            let fields: serde_json::Map<String, Value> = ACCOUNT_FIELDS
                .iter()
                .zip(values)
                .map(|(k, v)| ((*k).to_owned(), v.map_or(Value::Null, Value::String)))
                .collect();
            let payload = serde_json::json!({
                "organization_id": "00D", "action_id": "04k", "notification_id": "04l",
                "sobject_type": sobject, "fields": fields,
            });
            let _ = decode_payload(&payload);
        }
    }
}
