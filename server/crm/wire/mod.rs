//! Vendor wire formats: signature checks and payload parsing for HubSpot, Salesforce and
//! Standard Webhooks. Pure functions, no I/O.
//!
//! A webhook request goes through two stages. At the HTTP edge a vendor module verifies the
//! signature ([`VerifyError`] → 401) and splits the body into [`RawEvent`]s
//! ([`WireError`] → 400), which are stored as they came. Later the worker decodes each stored
//! payload into a [`Change`](super::canonical::Change) (or a HubSpot change notice), where a
//! [`MappingError`] parks the event. Docs: `docs/crm-events.md`.

pub mod hubspot;
pub mod salesforce;
pub mod standard;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::canonical::{Address, CanonicalAccount, MappingError, Tier, non_empty};

/// Most events one request may carry (HubSpot batches and Salesforce messages hold up to 100).
pub const MAX_EVENTS_PER_REQUEST: usize = 100;

/// How far a signed timestamp may be from our clock, in either direction.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// One vendor event as the inbox stores it (`payload` as jsonb), decoded later by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// Stable across redeliveries of the same event: the inbox's dedupe key.
    pub event_id: String,
    pub payload: serde_json::Value,
}

/// Why a request's signature was refused (answer 401). Messages name headers, never their
/// values, secrets or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    /// `age_s` is our clock minus the signed timestamp: negative when it is in the future.
    #[error(
        "signed timestamp is {age_s} s away from the server clock (tolerance {TIMESTAMP_TOLERANCE_SECS} s)"
    )]
    TimestampOutsideTolerance { age_s: i64 },
    #[error("no active secret is configured")]
    NoActiveSecret,
    #[error("signature does not match any active secret")]
    BadSignature,
}

/// A request body that cannot be split into events (answer 400). The message names the problem
/// and the field, never a value (no personal data in responses or logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

impl WireError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key` over the concatenation of `parts`.
fn hmac_over(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The HMAC-SHA256 tag of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac_over(key, parts).finalize().into_bytes().to_vec()
}

/// Whether any candidate tag is the HMAC of `parts` under any secret; constant-time per
/// comparison. Several secrets are active while one is being rotated.
fn signature_matches<K: AsRef<[u8]>>(
    secrets: &[K],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoActiveSecret);
    }
    let matched = secrets.iter().any(|secret| {
        let mac = hmac_over(secret.as_ref(), parts);
        candidates
            .iter()
            .any(|tag| mac.clone().verify_slice(tag).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Refuses a signed time more than `tolerance` away from `now` either way (any unit, the same
/// for the three); `unit_per_s` converts the reported age to seconds.
fn check_freshness(
    signed_at: i64,
    now: i64,
    tolerance: i64,
    unit_per_s: i64,
) -> Result<(), VerifyError> {
    let age = now.saturating_sub(signed_at);
    if age > tolerance || age < -tolerance {
        return Err(VerifyError::TimestampOutsideTolerance {
            age_s: age / unit_per_s,
        });
    }
    Ok(())
}

/// A required header, or [`VerifyError::MissingHeader`]; blank counts as missing.
fn required_header<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, VerifyError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// A serde_json error as a message safe to return and log: its position and kind, with every
/// quoted string (which serde copies from the input) replaced by `"…"`.
fn json_error(context: &str, err: &serde_json::Error) -> String {
    let text = err.to_string();
    let mut redacted = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        redacted.push(c);
        if c == '"' {
            redacted.push('…');
            // Skip to the closing quote, honouring backslash escapes.
            while let Some(inner) = chars.next() {
                match inner {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        redacted.push('"');
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    format!("{context}: {redacted}")
}

// ---------------------------------------------------------------------------------------------
// Mapping helpers shared by the vendors

/// Where one vendor keeps each canonical account field (property or field names).
struct FieldNames {
    name: &'static str,
    industry: &'static str,
    /// Street lines, joined with ", " into [`Address::line`].
    street: &'static [&'static str],
    postal_code: &'static str,
    city: &'static str,
    /// Tried in order; the first that maps to an ISO code wins.
    country: &'static [&'static str],
    owner: &'static str,
    tier: &'static str,
    annual_value: &'static str,
    visits_per_year: &'static str,
    priority: &'static str,
}

/// Maps a vendor's field map (absent and null both mean empty) to a canonical account.
fn account_from_map(
    fields: &BTreeMap<String, Option<String>>,
    names: &FieldNames,
    crm_id: &str,
    modified_at: DateTime<Utc>,
) -> Result<CanonicalAccount, MappingError> {
    let get = |name: &str| non_empty(fields.get(name).and_then(Option::as_deref));
    let crm_id = non_empty(Some(crm_id)).ok_or_else(|| MappingError::new("record id is empty"))?;
    let name = get(names.name)
        .ok_or_else(|| MappingError::new(format!("{} is missing or empty", names.name)))?;
    let street_lines: Vec<String> = names
        .street
        .iter()
        .filter_map(|f| get(f))
        .flat_map(|v| {
            v.lines()
                .filter_map(|l| non_empty(Some(l)))
                .collect::<Vec<_>>()
        })
        .collect();
    let line = (!street_lines.is_empty()).then(|| street_lines.join(", "));
    let country_code = names
        .country
        .iter()
        .filter_map(|f| get(f))
        .find_map(|v| country_code(&v));
    let tier =
        match get(names.tier) {
            None => None,
            Some(v) => Some(Tier::parse(&v).ok_or_else(|| {
                MappingError::new(format!("{} is not one of A, B, C", names.tier))
            })?),
        };
    let annual_value = get(names.annual_value)
        .map(|v| parse_number(names.annual_value, &v))
        .transpose()?
        .map(|v| annual_value(names.annual_value, v))
        .transpose()?;
    let visits_per_year = get(names.visits_per_year)
        .map(|v| parse_number(names.visits_per_year, &v))
        .transpose()?
        .map(|v| visits_per_year(names.visits_per_year, v))
        .transpose()?;
    let priority = get(names.priority)
        .map(|v| parse_number(names.priority, &v))
        .transpose()?
        .map(|v| priority(names.priority, v))
        .transpose()?;
    Ok(CanonicalAccount {
        crm_id,
        name,
        industry: get(names.industry),
        address: Address {
            line,
            house_number: None,
            street: None,
            postal_code: get(names.postal_code),
            city: get(names.city),
            country_code,
        },
        tier,
        annual_value,
        visits_per_year,
        priority,
        owner_crm_id: get(names.owner),
        modified_at,
    })
}

/// A decimal number as CRMs send them in text ("12", "12.0", "1.5e3"); NaN and infinities are
/// refused.
fn parse_number(field: &str, raw: &str) -> Result<f64, MappingError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| MappingError::new(format!("{field} is not a number")))
}

/// A yearly value: finite and not negative.
fn annual_value(field: &str, value: f64) -> Result<f64, MappingError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(MappingError::new(format!(
            "{field} must be a non-negative number"
        )))
    }
}

/// A whole number in `min..=max`; CRMs store integers as decimals, so "12.0" is 12.
fn whole_number(field: &str, value: f64, min: i64, max: i64) -> Result<i64, MappingError> {
    // The bounds are small, so the float comparison and the cast below are exact.
    #[allow(clippy::cast_precision_loss)]
    let in_range = value >= min as f64 && value <= max as f64;
    if value.fract() != 0.0 || !in_range {
        return Err(MappingError::new(format!(
            "{field} must be a whole number from {min} to {max}"
        )));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(value as i64)
}

/// Visits per year: a whole number from 0 to 365 × 24 (several visits a day is a data error
/// beyond that).
fn visits_per_year(field: &str, value: f64) -> Result<i32, MappingError> {
    let v = whole_number(field, value, 0, 8760)?;
    i32::try_from(v).map_err(|_| MappingError::new(format!("{field} is out of range")))
}

/// Priority: 1 (highest) to 5.
fn priority(field: &str, value: f64) -> Result<i16, MappingError> {
    let v = whole_number(field, value, 1, 5)?;
    i16::try_from(v).map_err(|_| MappingError::new(format!("{field} is out of range")))
}

// ---------------------------------------------------------------------------------------------
// Countries

/// Every ISO 3166-1 alpha-2 code officially assigned.
const ISO_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
    BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY \
    CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN \
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH \
    KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO \
    MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL \
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV \
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN \
    VU WF WS YE YT ZA ZM ZW";

/// Country names people type into CRMs, in English and French, folded by [`fold_name`].
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("france", "FR"),
    ("republique francaise", "FR"),
    ("germany", "DE"),
    ("allemagne", "DE"),
    ("deutschland", "DE"),
    ("belgium", "BE"),
    ("belgique", "BE"),
    ("belgie", "BE"),
    ("switzerland", "CH"),
    ("suisse", "CH"),
    ("schweiz", "CH"),
    ("luxembourg", "LU"),
    ("monaco", "MC"),
    ("italy", "IT"),
    ("italie", "IT"),
    ("italia", "IT"),
    ("spain", "ES"),
    ("espagne", "ES"),
    ("espana", "ES"),
    ("portugal", "PT"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("holland", "NL"),
    ("pays bas", "NL"),
    ("nederland", "NL"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("royaume uni", "GB"),
    ("grande bretagne", "GB"),
    ("angleterre", "GB"),
    ("ecosse", "GB"),
    ("pays de galles", "GB"),
    ("irlande du nord", "GB"),
    ("ireland", "IE"),
    ("irlande", "IE"),
    ("united states", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("etats unis", "US"),
    ("etats unis d amerique", "US"),
    ("canada", "CA"),
    ("austria", "AT"),
    ("autriche", "AT"),
    ("denmark", "DK"),
    ("danemark", "DK"),
    ("sweden", "SE"),
    ("suede", "SE"),
    ("norway", "NO"),
    ("norvege", "NO"),
    ("finland", "FI"),
    ("finlande", "FI"),
    ("iceland", "IS"),
    ("islande", "IS"),
    ("poland", "PL"),
    ("pologne", "PL"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("republique tcheque", "CZ"),
    ("tchequie", "CZ"),
    ("slovakia", "SK"),
    ("slovaquie", "SK"),
    ("hungary", "HU"),
    ("hongrie", "HU"),
    ("romania", "RO"),
    ("roumanie", "RO"),
    ("bulgaria", "BG"),
    ("bulgarie", "BG"),
    ("greece", "GR"),
    ("grece", "GR"),
    ("croatia", "HR"),
    ("croatie", "HR"),
    ("slovenia", "SI"),
    ("slovenie", "SI"),
    ("serbia", "RS"),
    ("serbie", "RS"),
    ("estonia", "EE"),
    ("estonie", "EE"),
    ("latvia", "LV"),
    ("lettonie", "LV"),
    ("lithuania", "LT"),
    ("lituanie", "LT"),
    ("malta", "MT"),
    ("malte", "MT"),
    ("cyprus", "CY"),
    ("chypre", "CY"),
    ("andorra", "AD"),
    ("andorre", "AD"),
    ("liechtenstein", "LI"),
    ("san marino", "SM"),
    ("saint marin", "SM"),
    ("vatican", "VA"),
    ("vatican city", "VA"),
    ("turkey", "TR"),
    ("turkiye", "TR"),
    ("turquie", "TR"),
    ("ukraine", "UA"),
    ("russia", "RU"),
    ("russie", "RU"),
    ("morocco", "MA"),
    ("maroc", "MA"),
    ("algeria", "DZ"),
    ("algerie", "DZ"),
    ("tunisia", "TN"),
    ("tunisie", "TN"),
    ("senegal", "SN"),
    ("ivory coast", "CI"),
    ("cote d ivoire", "CI"),
    ("cameroon", "CM"),
    ("cameroun", "CM"),
    ("egypt", "EG"),
    ("egypte", "EG"),
    ("south africa", "ZA"),
    ("afrique du sud", "ZA"),
    ("nigeria", "NG"),
    ("kenya", "KE"),
    ("israel", "IL"),
    ("united arab emirates", "AE"),
    ("uae", "AE"),
    ("emirats arabes unis", "AE"),
    ("saudi arabia", "SA"),
    ("arabie saoudite", "SA"),
    ("india", "IN"),
    ("inde", "IN"),
    ("china", "CN"),
    ("chine", "CN"),
    ("japan", "JP"),
    ("japon", "JP"),
    ("south korea", "KR"),
    ("coree du sud", "KR"),
    ("singapore", "SG"),
    ("singapour", "SG"),
    ("hong kong", "HK"),
    ("taiwan", "TW"),
    ("australia", "AU"),
    ("australie", "AU"),
    ("new zealand", "NZ"),
    ("nouvelle zelande", "NZ"),
    ("brazil", "BR"),
    ("bresil", "BR"),
    ("brasil", "BR"),
    ("mexico", "MX"),
    ("mexique", "MX"),
    ("argentina", "AR"),
    ("argentine", "AR"),
    ("chile", "CL"),
    ("chili", "CL"),
    ("colombia", "CO"),
    ("colombie", "CO"),
    ("peru", "PE"),
    ("perou", "PE"),
    ("reunion", "RE"),
    ("la reunion", "RE"),
    ("guadeloupe", "GP"),
    ("martinique", "MQ"),
    ("french guiana", "GF"),
    ("guyane", "GF"),
    ("guyane francaise", "GF"),
    ("mayotte", "YT"),
    ("new caledonia", "NC"),
    ("nouvelle caledonie", "NC"),
    ("french polynesia", "PF"),
    ("polynesie francaise", "PF"),
    ("saint pierre and miquelon", "PM"),
    ("saint pierre et miquelon", "PM"),
];

/// Lower case, accents dropped, punctuation as spaces, single spaces.
fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            'ß' => "ss",
            c if c.is_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => " ",
        };
        out.push_str(folded);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The ISO 3166-1 alpha-2 code for a country as typed into a CRM: an alpha-2 code in any case,
/// or a common English or French name ("Belgique", "United Kingdom", "Côte d'Ivoire");
/// `None` for anything else.
pub fn country_code(s: &str) -> Option<String> {
    let trimmed = s.trim();
    if trimmed.len() == 2 {
        let upper = trimmed.to_ascii_uppercase();
        if ISO_ALPHA2.split_whitespace().any(|c| c == upper) {
            return Some(upper);
        }
    }
    let folded = fold_name(trimmed);
    COUNTRY_NAMES
        .iter()
        .find(|(name, _)| *name == folded)
        .map(|(_, code)| (*code).to_owned())
}

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code, upper case.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && ISO_ALPHA2.split_whitespace().any(|c| c == code)
}

/// Splits a one-line street address into `(house_number, street)` when it starts or ends with
/// a house number ("12 rue de la Paix", "12bis rue …", "Hauptstraße 5a", "10-12 High Street").
/// A heuristic for CRMs that keep one street line; `None` when no number is found.
pub fn split_street_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let is_number = |token: &str| {
        let token = token.trim_end_matches(',');
        let mut parts = token.splitn(2, ['-', '/']);
        let looks = |p: &str| {
            let digits = p.chars().take_while(char::is_ascii_digit).count();
            let rest = &p[digits..];
            digits > 0
                && digits <= 5
                && rest.chars().count() <= 3
                && rest.chars().all(char::is_alphabetic)
        };
        parts.next().is_some_and(looks) && parts.next().is_none_or(looks)
    };
    let trimmed_pair = |number: &str, street: &str| {
        let street = street.trim().trim_matches(',').trim();
        (!street.is_empty()).then(|| (number.trim_end_matches(',').to_owned(), street.to_owned()))
    };
    if let Some((first, rest)) = line.split_once(char::is_whitespace)
        && is_number(first)
    {
        return trimmed_pair(first, rest);
    }
    if let Some((rest, last)) = line.rsplit_once(char::is_whitespace)
        && is_number(last)
    {
        return trimmed_pair(last, rest);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_and_names_map_to_alpha2() {
        assert_eq!(country_code("fr").as_deref(), Some("FR"));
        assert_eq!(country_code(" BE ").as_deref(), Some("BE"));
        assert_eq!(country_code("Belgique").as_deref(), Some("BE"));
        assert_eq!(country_code("Côte d'Ivoire").as_deref(), Some("CI"));
        assert_eq!(country_code("United Kingdom").as_deref(), Some("GB"));
        assert_eq!(country_code("UK").as_deref(), Some("GB"));
        assert_eq!(country_code("ÉTATS-UNIS").as_deref(), Some("US"));
        assert_eq!(country_code("Royaume-Uni").as_deref(), Some("GB"));
        assert_eq!(country_code("Atlantis"), None);
        assert_eq!(country_code("ZZ"), None);
        assert_eq!(country_code(""), None);
    }

    #[test]
    fn every_country_name_maps_to_an_assigned_code() {
        for (name, code) in COUNTRY_NAMES {
            assert!(is_country_code(code), "{name} -> {code}");
            assert_eq!(fold_name(name), *name, "table keys are folded");
        }
        assert_eq!(ISO_ALPHA2.split_whitespace().count(), 249);
    }

    #[test]
    fn street_lines_split_a_leading_or_trailing_house_number() {
        let split = |s: &str| split_street_line(s);
        assert_eq!(
            split("12 rue de la Paix"),
            Some(("12".into(), "rue de la Paix".into()))
        );
        assert_eq!(
            split("12bis, rue Lepic"),
            Some(("12bis".into(), "rue Lepic".into()))
        );
        assert_eq!(
            split("Hauptstraße 5a"),
            Some(("5a".into(), "Hauptstraße".into()))
        );
        assert_eq!(
            split("10-12 High Street"),
            Some(("10-12".into(), "High Street".into()))
        );
        assert_eq!(split("Place du Casino"), None);
        assert_eq!(split("12"), None);
        assert_eq!(split(""), None);
    }

    #[test]
    fn whole_numbers_accept_decimal_notation_of_integers_only() {
        assert_eq!(priority("p", 3.0), Ok(3));
        assert!(priority("p", 3.5).is_err());
        assert!(priority("p", 0.0).is_err());
        assert!(priority("p", 6.0).is_err());
        assert_eq!(visits_per_year("v", 12.0), Ok(12));
        assert!(visits_per_year("v", -1.0).is_err());
        assert!(parse_number("x", "NaN").is_err());
        assert!(parse_number("x", "inf").is_err());
        assert_eq!(parse_number("x", " 1.5e3 "), Ok(1500.0));
    }

    #[test]
    fn json_errors_do_not_echo_input_strings() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            n: f64,
        }
        let err = serde_json::from_str::<Typed>(r#"{"n": "Jean \"JD\" Dupont"}"#)
            .expect_err("a string is not a number");
        let message = json_error("body", &err);
        assert!(!message.contains("Dupont"), "{message}");
        assert!(message.starts_with("body: invalid type"), "{message}");
    }

    #[test]
    fn freshness_is_checked_both_ways_without_overflow() {
        assert!(check_freshness(1000, 1300, 300, 1).is_ok());
        assert!(check_freshness(1000, 700, 300, 1).is_ok());
        assert_eq!(
            check_freshness(1000, 1301, 300, 1),
            Err(VerifyError::TimestampOutsideTolerance { age_s: 301 })
        );
        assert_eq!(
            check_freshness(1000, 699, 300, 1),
            Err(VerifyError::TimestampOutsideTolerance { age_s: -301 })
        );
        assert!(check_freshness(i64::MIN, i64::MAX, 300, 1).is_err());
        assert!(check_freshness(i64::MAX, i64::MIN, 300, 1).is_err());
    }
}
