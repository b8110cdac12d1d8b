//! Standard Webhooks (<https://www.standardwebhooks.com>) signatures and Terrane's own
//! vendor-neutral account event envelope, for CRMs and middleware that push full records.
//!
//! One request carries one [`Envelope`]; its `occurred_at` is the last-write-wins clock. The
//! format is specified with a full example in `docs/crm-events.md`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    RawEvent, TIMESTAMP_TOLERANCE_SECS, VerifyError, WireError, check_freshness, hmac_sha256,
    is_country_code, json_error, required_header, signature_matches,
};
use crate::crm::canonical::{Address, CanonicalAccount, Change, MappingError, Tier, non_empty};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The only envelope `schema_version` this server reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Prefix of a serialized signing secret; the rest is base64.
const SECRET_PREFIX: &str = "whsec_";

/// Most signatures read from one `webhook-signature` header.
const MAX_SIGNATURES: usize = 16;

/// Base64 that accepts the secret with or without its `=` padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signing secret that cannot be used. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secret is not base64 after its whsec_ prefix")]
    NotBase64,
    #[error("webhook secret is empty")]
    Empty,
}

/// The HMAC key of a `whsec_<base64>` secret (the prefix is optional, padding too).
pub fn parse_secret(s: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = s.trim();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    let key = LENIENT_BASE64
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)?;
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(key)
}

/// The `webhook-signature` value `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.
pub fn sign(secret: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = hmac_sha256(
        secret,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(tag))
}

/// Checks a request's headers: a `v1` signature (the header may list several, space-separated;
/// other versions are ignored) must match under any active secret, and `webhook-timestamp`
/// (epoch seconds) must be within [`TIMESTAMP_TOLERANCE_SECS`] of `now_s` either way.
pub fn verify<K: AsRef<[u8]>>(
    secrets: &[K],
    msg_id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), VerifyError> {
    let msg_id = required_header(msg_id, ID_HEADER)?;
    let timestamp = required_header(timestamp, TIMESTAMP_HEADER)?;
    let signature = required_header(signature, SIGNATURE_HEADER)?;
    let signed_at = timestamp
        .parse::<i64>()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(VerifyError::MalformedHeader {
            header: TIMESTAMP_HEADER,
            reason: "not epoch seconds",
        })?;
    let entries: Vec<&str> = signature.split_whitespace().collect();
    if entries.len() > MAX_SIGNATURES {
        return Err(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "too many signatures",
        });
    }
    let tags: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, tag)| STANDARD.decode(tag).ok())
        .collect();
    if tags.is_empty() {
        return Err(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "no v1 signature",
        });
    }
    check_freshness(signed_at, now_s, TIMESTAMP_TOLERANCE_SECS, 1)?;
    signature_matches(
        secrets,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        &tags,
    )
}

// ---------------------------------------------------------------------------------------------
// The account event envelope

/// One account event: the request body of a Standard Webhooks message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireEnvelope", into = "WireEnvelope")]
pub struct Envelope {
    /// Unique per event, the same on redelivery (`evt_…`): the inbox's dedupe key.
    pub id: String,
    /// Free text naming the sender (a CRM, an integration).
    pub source: String,
    /// When the change happened in the source: the last-write-wins clock.
    pub occurred_at: DateTime<Utc>,
    pub event: AccountEvent,
}

/// What happened, with its `payload`.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountEvent {
    /// `account.upserted`: the account's full state.
    Upserted(Box<AccountPayload>),
    /// `account.deleted`
    Deleted { crm_id: String },
    /// `account.restored`
    Restored { crm_id: String },
    /// `account.merged`: `merged_ids` were folded into `crm_id`.
    Merged {
        crm_id: String,
        merged_ids: Vec<String>,
    },
}

impl AccountEvent {
    /// The envelope's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Upserted(_) => "account.upserted",
            Self::Deleted { .. } => "account.deleted",
            Self::Restored { .. } => "account.restored",
            Self::Merged { .. } => "account.merged",
        }
    }
}

/// The full account of an `account.upserted` event. Absent optional fields mean empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPayload {
    pub crm_id: String,
    pub name: String,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub address: AddressPayload,
    /// `"A"`, `"B"` or `"C"`.
    #[serde(default)]
    pub tier: Option<Tier>,
    #[serde(default)]
    pub annual_value: Option<f64>,
    #[serde(default)]
    pub visits_per_year: Option<i32>,
    /// 1 (highest) to 5.
    #[serde(default)]
    pub priority: Option<i16>,
    #[serde(default)]
    pub owner_crm_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPayload {
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub house_number: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[serde(default)]
    pub country_code: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CrmIdPayload {
    crm_id: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MergedPayload {
    crm_id: String,
    merged_ids: Vec<String>,
}

/// The envelope as it is on the wire.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    source: String,
    occurred_at: DateTime<Utc>,
    schema_version: u32,
    payload: Value,
}

impl TryFrom<WireEnvelope> for Envelope {
    type Error = MappingError;

    fn try_from(wire: WireEnvelope) -> Result<Self, MappingError> {
        if wire.schema_version != SCHEMA_VERSION {
            return Err(unsupported_version());
        }
        let payload_error = |e: serde_json::Error| MappingError::new(json_error("payload", &e));
        let event = match wire.kind.as_str() {
            "account.upserted" => AccountEvent::Upserted(Box::new(
                AccountPayload::deserialize(&wire.payload).map_err(payload_error)?,
            )),
            "account.deleted" => AccountEvent::Deleted {
                crm_id: CrmIdPayload::deserialize(&wire.payload)
                    .map_err(payload_error)?
                    .crm_id,
            },
            "account.restored" => AccountEvent::Restored {
                crm_id: CrmIdPayload::deserialize(&wire.payload)
                    .map_err(payload_error)?
                    .crm_id,
            },
            "account.merged" => {
                let merged = MergedPayload::deserialize(&wire.payload).map_err(payload_error)?;
                AccountEvent::Merged {
                    crm_id: merged.crm_id,
                    merged_ids: merged.merged_ids,
                }
            }
            _ => {
                return Err(MappingError::new(
                    "type is not one of account.upserted, account.deleted, account.restored, account.merged",
                ));
            }
        };
        Ok(Self {
            id: wire.id,
            source: wire.source,
            occurred_at: wire.occurred_at,
            event,
        })
    }
}

impl From<Envelope> for WireEnvelope {
    fn from(envelope: Envelope) -> Self {
        let kind = envelope.event.type_name().to_owned();
        // Serializing these plain structs to a JSON value cannot fail (string keys only).
        let payload = match envelope.event {
            AccountEvent::Upserted(account) => serde_json::to_value(account),
            AccountEvent::Deleted { crm_id } | AccountEvent::Restored { crm_id } => {
                serde_json::to_value(CrmIdPayload { crm_id })
            }
            AccountEvent::Merged { crm_id, merged_ids } => {
                serde_json::to_value(MergedPayload { crm_id, merged_ids })
            }
        }
        .unwrap_or_default();
        Self {
            id: envelope.id,
            kind,
            source: envelope.source,
            occurred_at: envelope.occurred_at,
            schema_version: SCHEMA_VERSION,
            payload,
        }
    }
}

fn unsupported_version() -> MappingError {
    MappingError::new(format!(
        "schema_version is not supported (this server reads {SCHEMA_VERSION})"
    ))
}

/// An event id: 1 to 200 characters of `A-Z a-z 0-9 _ - . :`.
fn is_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl Envelope {
    /// Reads an envelope from JSON, checking `schema_version` before anything else.
    pub fn from_json(value: &Value) -> Result<Self, MappingError> {
        match value.get("schema_version") {
            Some(v) if v.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
                return Err(unsupported_version());
            }
            _ => {}
        }
        let envelope =
            Self::deserialize(value).map_err(|e| MappingError::new(json_error("envelope", &e)))?;
        if !is_event_id(&envelope.id) {
            return Err(MappingError::new(
                "id must be 1 to 200 characters of letters, digits, _ - . :",
            ));
        }
        Ok(envelope)
    }

    /// The envelope for a canonical change, for senders (the CRM simulator, tests).
    pub fn from_change(id: impl Into<String>, source: impl Into<String>, change: &Change) -> Self {
        let event = match change {
            Change::Upsert(account) => AccountEvent::Upserted(Box::new(AccountPayload {
                crm_id: account.crm_id.clone(),
                name: account.name.clone(),
                industry: account.industry.clone(),
                address: AddressPayload {
                    line: account.address.line.clone(),
                    house_number: account.address.house_number.clone(),
                    street: account.address.street.clone(),
                    postal_code: account.address.postal_code.clone(),
                    city: account.address.city.clone(),
                    country_code: account.address.country_code.clone(),
                },
                tier: account.tier,
                annual_value: account.annual_value,
                visits_per_year: account.visits_per_year,
                priority: account.priority,
                owner_crm_id: account.owner_crm_id.clone(),
            })),
            Change::Delete { crm_id, .. } => AccountEvent::Deleted {
                crm_id: crm_id.clone(),
            },
            Change::Restore { crm_id, .. } => AccountEvent::Restored {
                crm_id: crm_id.clone(),
            },
            Change::Merge {
                survivor, merged, ..
            } => AccountEvent::Merged {
                crm_id: survivor.clone(),
                merged_ids: merged.clone(),
            },
        };
        Self {
            id: id.into(),
            source: source.into(),
            occurred_at: change.at(),
            event,
        }
    }

    /// The canonical change, after checking values (names present, numbers in range,
    /// country codes assigned).
    pub fn to_change(&self) -> Result<Change, MappingError> {
        let at = self.occurred_at;
        let crm_id = |id: &str| {
            non_empty(Some(id)).ok_or_else(|| MappingError::new("payload.crm_id is empty"))
        };
        Ok(match &self.event {
            AccountEvent::Upserted(account) => Change::Upsert(account_from_payload(account, at)?),
            AccountEvent::Deleted { crm_id: id } => Change::Delete {
                crm_id: crm_id(id)?,
                at,
            },
            AccountEvent::Restored { crm_id: id } => Change::Restore {
                crm_id: crm_id(id)?,
                at,
            },
            AccountEvent::Merged {
                crm_id: id,
                merged_ids,
            } => {
                let survivor = crm_id(id)?;
                let merged = merged_ids
                    .iter()
                    .map(|m| {
                        non_empty(Some(m))
                            .filter(|m| *m != survivor)
                            .ok_or_else(|| {
                                MappingError::new(
                                    "payload.merged_ids holds an empty id or the survivor",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if merged.is_empty() {
                    return Err(MappingError::new("payload.merged_ids is empty"));
                }
                Change::Merge {
                    survivor,
                    merged,
                    at,
                }
            }
        })
    }
}

fn account_from_payload(
    p: &AccountPayload,
    modified_at: DateTime<Utc>,
) -> Result<CanonicalAccount, MappingError> {
    let text = |s: &Option<String>| non_empty(s.as_deref());
    let country_code = match text(&p.address.country_code) {
        Some(code) if !is_country_code(&code) => {
            return Err(MappingError::new(
                "payload.address.country_code is not an upper-case ISO 3166-1 alpha-2 code",
            ));
        }
        code => code,
    };
    Ok(CanonicalAccount {
        crm_id: text(&Some(p.crm_id.clone()))
            .ok_or_else(|| MappingError::new("payload.crm_id is empty"))?,
        name: text(&Some(p.name.clone()))
            .ok_or_else(|| MappingError::new("payload.name is empty"))?,
        industry: text(&p.industry),
        address: Address {
            line: text(&p.address.line),
            house_number: text(&p.address.house_number),
            street: text(&p.address.street),
            postal_code: text(&p.address.postal_code),
            city: text(&p.address.city),
            country_code,
        },
        tier: p.tier,
        annual_value: p
            .annual_value
            .map(|v| super::annual_value("payload.annual_value", v))
            .transpose()?,
        visits_per_year: p
            .visits_per_year
            .map(|v| super::visits_per_year("payload.visits_per_year", f64::from(v)))
            .transpose()?,
        priority: p
            .priority
            .map(|v| super::priority("payload.priority", f64::from(v)))
            .transpose()?,
        owner_crm_id: text(&p.owner_crm_id),
        modified_at,
    })
}

/// Reads a request body (one envelope) into a raw event: the id is the envelope's `id`, the
/// payload the body's JSON unchanged. The envelope must decode to a valid change, so that a
/// bad event is refused to its sender (400) instead of parked.
pub fn split(body: &[u8]) -> Result<RawEvent, WireError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::new(json_error("body is not JSON", &e)))?;
    let envelope = Envelope::from_json(&value).map_err(|e| WireError(e.0))?;
    envelope.to_change().map_err(|e| WireError(e.0))?;
    Ok(RawEvent {
        event_id: envelope.id,
        payload: value,
    })
}

/// Decodes a stored envelope into its canonical change.
pub fn decode(payload: &Value) -> Result<Change, MappingError> {
    Envelope::from_json(payload)?.to_change()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key() -> Vec<u8> {
        parse_secret(SECRET).expect("valid secret")
    }

    fn check(
        secrets: &[Vec<u8>],
        id: &str,
        ts: &str,
        sig: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        verify(secrets, Some(id), Some(ts), Some(sig), body, now)
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        assert_eq!(sign(&key(), MSG_ID, TS, BODY), SIGNATURE);
        assert_eq!(
            check(&[key()], MSG_ID, "1614265330", SIGNATURE, BODY, TS),
            Ok(())
        );
    }

    #[test]
    fn secrets_parse_with_or_without_prefix_and_padding() {
        assert_eq!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Ok(key()));
        assert_eq!(parse_secret("whsec_AAE"), Ok(vec![0, 1]));
        assert_eq!(parse_secret("whsec_AAE="), Ok(vec![0, 1]));
        assert_eq!(parse_secret("whsec_"), Err(SecretError::Empty));
        assert_eq!(
            parse_secret("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
    }

    #[test]
    fn rotation_accepts_either_secret_and_either_signature() {
        let old = parse_secret("whsec_AAECAwQFBgcICQoLDA0ODw==").expect("old");
        assert_eq!(
            check(
                &[old.clone(), key()],
                MSG_ID,
                "1614265330",
                SIGNATURE,
                BODY,
                TS
            ),
            Ok(())
        );
        let both = format!("v1,{} {SIGNATURE}", "AAAA");
        assert_eq!(
            check(&[key()], MSG_ID, "1614265330", &both, BODY, TS),
            Ok(())
        );
        let with_other_versions = format!("v1a,xyz v2,abc garbage {SIGNATURE}");
        assert_eq!(
            check(
                &[key()],
                MSG_ID,
                "1614265330",
                &with_other_versions,
                BODY,
                TS
            ),
            Ok(())
        );
        let none: &[Vec<u8>] = &[];
        assert_eq!(
            check(none, MSG_ID, "1614265330", SIGNATURE, BODY, TS),
            Err(VerifyError::NoActiveSecret)
        );
    }

    #[test]
    fn any_changed_input_is_a_bad_signature() {
        let bad = Err(VerifyError::BadSignature);
        let mut body = BODY.to_vec();
        body[5] ^= 1;
        assert_eq!(
            check(&[key()], MSG_ID, "1614265330", SIGNATURE, &body, TS),
            bad
        );
        assert_eq!(
            check(
                &[key()],
                "msg_p5jXN8AQM9LWM0D4loKWxJel",
                "1614265330",
                SIGNATURE,
                BODY,
                TS
            ),
            bad
        );
        assert_eq!(
            check(&[key()], MSG_ID, "1614265331", SIGNATURE, BODY, TS),
            bad
        );
        let mut secret = key();
        secret[0] ^= 1;
        assert_eq!(
            check(&[secret], MSG_ID, "1614265330", SIGNATURE, BODY, TS),
            bad
        );
        let flipped = SIGNATURE.replace("g0hM", "g0hN");
        assert_eq!(
            check(&[key()], MSG_ID, "1614265330", &flipped, BODY, TS),
            bad
        );
    }

    #[test]
    fn stale_future_and_malformed_headers_are_refused() {
        let at = |now: i64| check(&[key()], MSG_ID, "1614265330", SIGNATURE, BODY, now);
        assert_eq!(at(TS + 300), Ok(()));
        assert_eq!(at(TS - 300), Ok(()));
        assert_eq!(
            at(TS + 301),
            Err(VerifyError::TimestampOutsideTolerance { age_s: 301 })
        );
        assert_eq!(
            at(TS - 301),
            Err(VerifyError::TimestampOutsideTolerance { age_s: -301 })
        );
        assert_eq!(
            verify(&[key()], None, Some("1"), Some(SIGNATURE), BODY, TS),
            Err(VerifyError::MissingHeader(ID_HEADER))
        );
        assert_eq!(
            verify(&[key()], Some(MSG_ID), None, Some(SIGNATURE), BODY, TS),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(&[key()], Some(MSG_ID), Some("1"), None, BODY, TS),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            check(&[key()], MSG_ID, "1614265330.5", SIGNATURE, BODY, TS),
            Err(VerifyError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                ..
            })
        ));
        assert!(matches!(
            check(&[key()], MSG_ID, "1614265330", "v2,abc", BODY, TS),
            Err(VerifyError::MalformedHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
        let many = vec![SIGNATURE; 17].join(" ");
        assert!(matches!(
            check(&[key()], MSG_ID, "1614265330", &many, BODY, TS),
            Err(VerifyError::MalformedHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
    }

    fn upserted() -> Value {
        json!({
            "id": "evt_2hX9kQ",
            "type": "account.upserted",
            "source": "acme-erp",
            "occurred_at": "2024-05-01T10:00:00.250+02:00",
            "schema_version": 1,
            "payload": {
                "crm_id": "ACC-1042",
                "name": "Boulangerie Dupont",
                "industry": "Food retail",
                "address": {
                    "line": "12 rue de la Paix",
                    "house_number": "12",
                    "street": "rue de la Paix",
                    "postal_code": "75002",
                    "city": "Paris",
                    "country_code": "FR"
                },
                "tier": "A",
                "annual_value": 125_000.5,
                "visits_per_year": 12,
                "priority": 2,
                "owner_crm_id": "rep-7"
            }
        })
    }

    fn with(mut value: Value, pointer: &str, new: Value) -> Value {
        if let Some(slot) = value.pointer_mut(pointer) {
            *slot = new;
        }
        value
    }

    #[test]
    fn upserted_envelope_decodes_to_a_full_account() {
        let Change::Upsert(account) = decode(&upserted()).expect("decodes") else {
            panic!("not an upsert");
        };
        assert_eq!(account.crm_id, "ACC-1042");
        assert_eq!(account.address.house_number.as_deref(), Some("12"));
        assert_eq!(account.address.country_code.as_deref(), Some("FR"));
        assert_eq!(account.tier, Some(Tier::A));
        assert_eq!(account.priority, Some(2));
        assert_eq!(
            account.modified_at,
            DateTime::parse_from_rfc3339("2024-05-01T08:00:00.250Z").expect("time")
        );
        let minimal = json!({
            "id": "evt_1", "type": "account.upserted", "source": "x",
            "occurred_at": "2024-05-01T10:00:00Z", "schema_version": 1,
            "payload": {"crm_id": "1", "name": "N"}
        });
        let Change::Upsert(bare) = decode(&minimal).expect("minimal") else {
            panic!("not an upsert");
        };
        assert_eq!(bare.address, Address::default());
    }

    #[test]
    fn other_event_types_decode() {
        let at = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let event = |kind: &str, payload: Value| {
            decode(&json!({
                "id": "evt_1", "type": kind, "source": "x",
                "occurred_at": "2024-05-01T10:00:00Z", "schema_version": 1, "payload": payload
            }))
        };
        assert_eq!(
            event("account.deleted", json!({"crm_id": "1"})),
            Ok(Change::Delete {
                crm_id: "1".into(),
                at
            })
        );
        assert_eq!(
            event("account.restored", json!({"crm_id": "1"})),
            Ok(Change::Restore {
                crm_id: "1".into(),
                at
            })
        );
        assert_eq!(
            event(
                "account.merged",
                json!({"crm_id": "1", "merged_ids": ["2", "3"]})
            ),
            Ok(Change::Merge {
                survivor: "1".into(),
                merged: vec!["2".into(), "3".into()],
                at
            })
        );
        assert!(event("account.merged", json!({"crm_id": "1", "merged_ids": []})).is_err());
        assert!(
            event(
                "account.merged",
                json!({"crm_id": "1", "merged_ids": ["1"]})
            )
            .is_err()
        );
        assert!(event("account.deleted", json!({"crm_id": "1", "extra": true})).is_err());
        assert!(event("account.deleted", json!({"crm_id": " "})).is_err());
        assert!(event("account.archived", json!({"crm_id": "1"})).is_err());
    }

    #[test]
    fn bad_envelopes_are_refused_with_safe_messages() {
        let err = decode(&with(upserted(), "/schema_version", json!(2))).expect_err("v2");
        assert!(err.0.contains("schema_version"), "{err}");
        let v2_with_new_field = {
            let mut v = with(upserted(), "/schema_version", json!(2));
            v["trace"] = json!("x");
            v
        };
        assert!(
            decode(&v2_with_new_field)
                .expect_err("v2")
                .0
                .contains("schema_version")
        );
        let mut unknown = upserted();
        unknown["extra"] = json!(1);
        assert!(decode(&unknown).is_err());
        for (pointer, value) in [
            ("/payload/priority", json!(7)),
            ("/payload/annual_value", json!(-1.0)),
            ("/payload/visits_per_year", json!(-3)),
            ("/payload/address/country_code", json!("fr")),
            ("/payload/address/country_code", json!("XX")),
            ("/payload/name", json!("  ")),
            ("/payload/tier", json!("D")),
            ("/id", json!("evt with spaces")),
            ("/id", json!("")),
            ("/occurred_at", json!("yesterday")),
        ] {
            assert!(
                decode(&with(upserted(), pointer, value.clone())).is_err(),
                "{pointer} {value}"
            );
        }
        let err = decode(&with(
            upserted(),
            "/payload/annual_value",
            json!("Jean Dupont"),
        ))
        .expect_err("string value");
        assert!(!err.0.contains("Dupont"), "{err}");
        let mut nested_unknown = upserted();
        nested_unknown["payload"]["address"]["region"] = json!("IDF");
        assert!(decode(&nested_unknown).is_err());
    }

    #[test]
    fn split_keeps_the_body_and_uses_the_envelope_id() {
        let body = serde_json::to_vec(&upserted()).expect("json");
        let event = split(&body).expect("splits");
        assert_eq!(event.event_id, "evt_2hX9kQ");
        assert_eq!(event.payload, upserted());
        assert!(split(b"not json").is_err());
        assert!(split(b"[]").is_err());
        let bad =
            serde_json::to_vec(&with(upserted(), "/payload/priority", json!(0))).expect("json");
        let err = split(&bad).expect_err("priority");
        assert!(err.0.contains("priority"), "{err}");
    }

    #[test]
    fn envelopes_round_trip_through_changes() {
        let change = decode(&upserted()).expect("decodes");
        let envelope = Envelope::from_change("evt_2hX9kQ", "acme-erp", &change);
        let json = serde_json::to_value(&envelope).expect("serializes");
        assert_eq!(json["type"], "account.upserted");
        assert_eq!(json["schema_version"], 1);
        assert_eq!(decode(&json), Ok(change));
        let at = DateTime::from_timestamp(1_714_557_600, 0).expect("time");
        for change in [
            Change::Delete {
                crm_id: "1".into(),
                at,
            },
            Change::Restore {
                crm_id: "1".into(),
                at,
            },
            Change::Merge {
                survivor: "1".into(),
                merged: vec!["2".into()],
                at,
            },
        ] {
            let envelope = Envelope::from_change("evt_x", "test", &change);
            let json = serde_json::to_value(&envelope).expect("serializes");
            assert_eq!(decode(&json), Ok(change));
            let parsed: Envelope = serde_json::from_value(json).expect("deserializes");
            assert_eq!(parsed, envelope);
        }
    }

    proptest! {
        #[test]
        fn split_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = split(&bytes);
        }

        #[test]
        fn split_and_decode_never_panic_on_mutated_bodies(
            index in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = serde_json::to_vec(&upserted()).expect("json");
            let i = index.index(bytes.len());
            bytes[i] = byte;
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                let _ = decode(&value);
            }
            let _ = split(&bytes);
            bytes.truncate(cut.index(bytes.len()));
            let _ = split(&bytes);
        }

        #[test]
        fn decode_never_panics_on_odd_numbers(
            priority in any::<i64>(), visits in any::<i64>(), value in any::<f64>(),
        ) {
            let v = with(with(with(upserted(), "/payload/priority", json!(priority)),
                "/payload/visits_per_year", json!(visits)), "/payload/annual_value", json!(value));
            let _ = decode(&v);
        }

        #[test]
        fn verify_never_panics(id in ".{0,20}", ts in ".{0,20}", sig in ".{0,80}", now in any::<i64>()) {
            let _ = verify(&[key()], Some(&id), Some(&ts), Some(&sig), BODY, now);
        }
    }
}
