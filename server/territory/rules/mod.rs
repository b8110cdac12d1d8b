//! Assignment rules: an ordered list per team (postal codes and prefixes, drawn or imported
//! areas, account attributes, named accounts), parsed and checked at the edge, evaluated in SQL.
//!
//! Precedence, the same everywhere: a lock, then named-account rules, then the other rules in
//! their order; what no rule claims goes to the optimizer (or stays where it is).

mod db;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::TerritoryError;
use crate::audit::{self, AuditEvent};

pub use db::{claims, create, delete, get, list, reorder, team_of, update};

/// Most vertices a rule's area may have (drawn or imported).
pub const MAX_AREA_VERTICES: usize = 5_000;
/// Most postal codes and prefixes in one rule.
pub const MAX_POSTAL_ENTRIES: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "territory_rule_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    PostalCode,
    Polygon,
    Attribute,
    Named,
}

/// A rule as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Rule {
    pub id: Uuid,
    pub position: i32,
    pub kind: RuleKind,
    pub territory_id: Uuid,
    pub name: String,
    pub enabled: bool,
    pub postal_codes: Vec<String>,
    pub postal_prefixes: Vec<String>,
    pub country_code: Option<String>,
    /// GeoJSON geometry of the area (polygon rules).
    #[schema(value_type = Option<Object>)]
    pub area: Option<sqlx::types::Json<Value>>,
    #[schema(value_type = Predicate)]
    pub predicate: sqlx::types::Json<Value>,
    pub account_ids: Vec<Uuid>,
}

/// A rule as a client sends it, before checking.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub kind: RuleKind,
    pub territory_id: Uuid,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub postal_codes: Vec<String>,
    #[serde(default)]
    pub postal_prefixes: Vec<String>,
    pub country_code: Option<String>,
    /// GeoJSON Polygon or MultiPolygon (a Feature's geometry is accepted too).
    #[schema(value_type = Option<Object>)]
    pub area: Option<Value>,
    pub predicate: Option<Predicate>,
    #[serde(default)]
    pub account_ids: Vec<Uuid>,
    /// Where to insert (0 = first); the end when absent.
    pub position: Option<i32>,
}

fn yes() -> bool {
    true
}

/// Account attributes an `attribute` rule matches; every given part must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f64>,
}

/// A checked rule, ready to store.
#[derive(Debug, Clone)]
pub struct ValidRule {
    pub kind: RuleKind,
    pub territory_id: Uuid,
    pub name: String,
    pub enabled: bool,
    pub postal_codes: Vec<String>,
    pub postal_prefixes: Vec<String>,
    pub country_code: Option<String>,
    /// GeoJSON text of a MultiPolygon (or Polygon) geometry.
    pub area_geojson: Option<String>,
    pub predicate: Value,
    pub account_ids: Vec<Uuid>,
}

fn invalid(message: impl Into<String>) -> TerritoryError {
    TerritoryError::Invalid(message.into())
}

impl RuleInput {
    /// Checks what can be checked without the database (formats, sizes, shape of the
    /// geometry); [`create`] then asks PostGIS whether the area is valid.
    pub fn validate(self) -> Result<ValidRule, TerritoryError> {
        let name = self.name.trim().to_owned();
        if name.chars().count() > 200 {
            return Err(invalid("the rule's name is longer than 200 characters"));
        }
        let country_code = self
            .country_code
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty());
        let mut rule = ValidRule {
            kind: self.kind,
            territory_id: self.territory_id,
            name,
            enabled: self.enabled,
            postal_codes: Vec::new(),
            postal_prefixes: Vec::new(),
            country_code: None,
            area_geojson: None,
            predicate: Value::Object(serde_json::Map::new()),
            account_ids: Vec::new(),
        };
        match self.kind {
            RuleKind::PostalCode => {
                let country = country_code.ok_or_else(|| {
                    invalid("a postal code rule needs a country_code (e.g. \"FR\")")
                })?;
                let format = postal_format(&country).ok_or_else(|| {
                    invalid(format!(
                        "no postal code format is known for country {country}; known: {}",
                        POSTAL_FORMATS
                            .iter()
                            .map(|(c, _)| *c)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                if self.postal_codes.len() + self.postal_prefixes.len() > MAX_POSTAL_ENTRIES {
                    return Err(invalid(format!(
                        "at most {MAX_POSTAL_ENTRIES} postal codes and prefixes per rule"
                    )));
                }
                for code in &self.postal_codes {
                    let n = normalize_postal(code);
                    if !format.iter().any(|mask| matches_mask(&n, mask)) {
                        return Err(invalid(format!(
                            "postal code {code:?} is not in {country}'s format ({})",
                            format.join(" or ")
                        )));
                    }
                    rule.postal_codes.push(n);
                }
                for prefix in &self.postal_prefixes {
                    let n = normalize_postal(prefix);
                    if n.is_empty() || !format.iter().any(|mask| matches_mask_prefix(&n, mask)) {
                        return Err(invalid(format!(
                            "postal code prefix {prefix:?} cannot begin a {country} postal code ({})",
                            format.join(" or ")
                        )));
                    }
                    rule.postal_prefixes.push(n);
                }
                if rule.postal_codes.is_empty() && rule.postal_prefixes.is_empty() {
                    return Err(invalid(
                        "a postal code rule needs postal_codes or postal_prefixes",
                    ));
                }
                rule.postal_codes.sort();
                rule.postal_codes.dedup();
                rule.postal_prefixes.sort();
                rule.postal_prefixes.dedup();
                rule.country_code = Some(country);
            }
            RuleKind::Polygon => {
                let area = self
                    .area
                    .ok_or_else(|| invalid("a polygon rule needs an area (GeoJSON polygon)"))?;
                rule.area_geojson = Some(check_area(&area)?);
            }
            RuleKind::Attribute => {
                let p = self.predicate.unwrap_or_default();
                for tier in &p.tiers {
                    if !matches!(tier.as_str(), "A" | "B" | "C") {
                        return Err(invalid(format!("unknown tier {tier:?} (A, B or C)")));
                    }
                }
                for v in [p.min_value, p.max_value].into_iter().flatten() {
                    if !v.is_finite() || v < 0.0 {
                        return Err(invalid("values must be finite and not negative"));
                    }
                }
                if let (Some(lo), Some(hi)) = (p.min_value, p.max_value)
                    && lo > hi
                {
                    return Err(invalid("min_value is above max_value"));
                }
                if p == Predicate::default() {
                    return Err(invalid(
                        "an attribute rule needs tiers, industries, min_value or max_value",
                    ));
                }
                rule.predicate = serde_json::to_value(&p)
                    .map_err(|e| TerritoryError::Internal(anyhow::anyhow!(e)))?;
            }
            RuleKind::Named => {
                if self.account_ids.is_empty() {
                    return Err(invalid("a named-account rule needs account_ids"));
                }
                if self.account_ids.len() > MAX_POSTAL_ENTRIES {
                    return Err(invalid(format!(
                        "at most {MAX_POSTAL_ENTRIES} accounts per rule"
                    )));
                }
                let mut ids = self.account_ids;
                ids.sort();
                ids.dedup();
                rule.account_ids = ids;
            }
        }
        Ok(rule)
    }
}

/// Postal code formats by country: `9` a digit, `A` a letter, anything else itself; codes
/// are compared upper-case without spaces or dashes.
const POSTAL_FORMATS: &[(&str, &[&str])] = &[
    ("AT", &["9999"]),
    ("BE", &["9999"]),
    ("CA", &["A9A9A9"]),
    ("CH", &["9999"]),
    ("DE", &["99999"]),
    ("DK", &["9999"]),
    ("ES", &["99999"]),
    ("FI", &["99999"]),
    ("FR", &["99999"]),
    (
        "GB",
        &["A99AA", "A999AA", "A9A9AA", "AA99AA", "AA999AA", "AA9A9AA"],
    ),
    ("IT", &["99999"]),
    ("LU", &["9999"]),
    ("MC", &["98099"]),
    ("NL", &["9999AA"]),
    ("NO", &["9999"]),
    ("PL", &["99999"]),
    ("PT", &["9999999"]),
    ("SE", &["99999"]),
    ("US", &["99999", "999999999"]),
];

fn postal_format(country: &str) -> Option<&'static [&'static str]> {
    POSTAL_FORMATS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, f)| *f)
}

/// Upper case without spaces and dashes: how postal codes are compared.
pub fn normalize_postal(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn char_fits(c: char, m: char) -> bool {
    match m {
        '9' => c.is_ascii_digit(),
        'A' => c.is_ascii_uppercase(),
        _ => c == m,
    }
}

fn matches_mask(code: &str, mask: &str) -> bool {
    code.chars().count() == mask.chars().count()
        && code.chars().zip(mask.chars()).all(|(c, m)| char_fits(c, m))
}

fn matches_mask_prefix(prefix: &str, mask: &str) -> bool {
    prefix.chars().count() < mask.chars().count()
        && prefix
            .chars()
            .zip(mask.chars())
            .all(|(c, m)| char_fits(c, m))
}

/// Checks a GeoJSON area's type and size and returns its geometry as GeoJSON text.
fn check_area(area: &Value) -> Result<String, TerritoryError> {
    let geometry = match area.get("type").and_then(Value::as_str) {
        Some("Feature") => area
            .get("geometry")
            .ok_or_else(|| invalid("the Feature has no geometry"))?,
        _ => area,
    };
    let kind = geometry.get("type").and_then(Value::as_str);
    let coordinates = geometry
        .get("coordinates")
        .ok_or_else(|| invalid("the area has no coordinates"))?;
    let polygons: Vec<&Value> = match kind {
        Some("Polygon") => vec![coordinates],
        Some("MultiPolygon") => coordinates
            .as_array()
            .ok_or_else(|| invalid("MultiPolygon coordinates must be an array"))?
            .iter()
            .collect(),
        other => {
            return Err(invalid(format!(
                "the area must be a GeoJSON Polygon or MultiPolygon, not {}",
                other.unwrap_or("something without a type")
            )));
        }
    };
    let mut vertices = 0usize;
    for polygon in polygons {
        let rings = polygon
            .as_array()
            .ok_or_else(|| invalid("a polygon must be an array of rings"))?;
        if rings.is_empty() {
            return Err(invalid("a polygon has no rings"));
        }
        for ring in rings {
            let points = ring
                .as_array()
                .ok_or_else(|| invalid("a ring must be an array of positions"))?;
            if points.len() < 4 {
                return Err(invalid(
                    "a ring needs at least 4 positions (closed: the last equals the first)",
                ));
            }
            for p in points {
                let lon = p.get(0).and_then(Value::as_f64);
                let lat = p.get(1).and_then(Value::as_f64);
                match (lon, lat) {
                    (Some(lon), Some(lat))
                        if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => {}
                    _ => {
                        return Err(invalid(
                            "positions must be [longitude, latitude] within -180..180, -90..90",
                        ));
                    }
                }
            }
            if points.first() != points.last() {
                return Err(invalid("a ring must be closed (last position = first)"));
            }
            vertices += points.len();
            if vertices > MAX_AREA_VERTICES {
                return Err(invalid(format!(
                    "the area has more than {MAX_AREA_VERTICES} vertices; simplify it"
                )));
            }
        }
    }
    Ok(geometry.to_string())
}

/// A user adds a rule ([`create`]), in one transaction with its audit row.
pub async fn add(
    pool: &PgPool,
    actor: Uuid,
    team_id: Uuid,
    rule: &ValidRule,
    position: Option<i32>,
) -> Result<Rule, TerritoryError> {
    let mut tx = pool.begin().await?;
    let created = create(&mut tx, team_id, rule, position).await?;
    record(&mut *tx, actor, "territory.rule_created", created.id).await?;
    tx.commit().await?;
    Ok(created)
}

/// A user replaces a rule ([`update`]), in one transaction with its audit row.
pub async fn replace(
    pool: &PgPool,
    actor: Uuid,
    rule_id: Uuid,
    rule: &ValidRule,
) -> Result<Rule, TerritoryError> {
    let mut tx = pool.begin().await?;
    let updated = update(&mut tx, rule_id, rule).await?;
    record(&mut *tx, actor, "territory.rule_updated", rule_id).await?;
    tx.commit().await?;
    Ok(updated)
}

/// A user deletes a rule ([`delete`]), in one transaction with its audit row.
pub async fn remove(pool: &PgPool, actor: Uuid, rule_id: Uuid) -> Result<(), TerritoryError> {
    let mut tx = pool.begin().await?;
    delete(&mut tx, rule_id).await?;
    record(&mut *tx, actor, "territory.rule_deleted", rule_id).await?;
    tx.commit().await?;
    Ok(())
}

/// A user puts the team's rules in order ([`reorder`]), in one transaction.
pub async fn set_order(pool: &PgPool, team_id: Uuid, ids: &[Uuid]) -> Result<(), TerritoryError> {
    let mut tx = pool.begin().await?;
    reorder(&mut tx, team_id, ids).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    db: impl PgExecutor<'_>,
    actor: Uuid,
    action: &'static str,
    rule_id: Uuid,
) -> Result<(), sqlx::Error> {
    audit::record(
        db,
        AuditEvent::new(Some(actor), action).about("territory_rule", rule_id.to_string()),
    )
    .await
}

/// An account a rule or lock claims, and why.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub account_id: Uuid,
    pub territory_id: Uuid,
    /// `None` for a lock.
    pub rule_id: Option<Uuid>,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> RuleInput {
        serde_json::from_value(v).expect("rule input")
    }

    #[test]
    fn postal_codes_are_normalized_and_checked_against_the_country() {
        let t = Uuid::nil();
        let rule = input(
            json!({"kind": "postal_code", "territory_id": t, "country_code": "fr",
                                "postal_codes": ["06 320", "06500"], "postal_prefixes": ["06"]}),
        )
        .validate()
        .expect("valid");
        assert_eq!(rule.postal_codes, ["06320", "06500"]);
        assert_eq!(rule.postal_prefixes, ["06"]);
        assert_eq!(rule.country_code.as_deref(), Some("FR"));

        let bad = input(
            json!({"kind": "postal_code", "territory_id": t, "country_code": "FR",
                               "postal_codes": ["0632"]}),
        )
        .validate()
        .expect_err("four digits");
        assert!(bad.to_string().contains("FR's format"), "{bad}");

        let gb = input(
            json!({"kind": "postal_code", "territory_id": t, "country_code": "GB",
                              "postal_codes": ["SW1A 1AA", "m1 1ae"]}),
        )
        .validate()
        .expect("UK codes");
        assert_eq!(gb.postal_codes, ["M11AE", "SW1A1AA"]);

        let unknown = input(
            json!({"kind": "postal_code", "territory_id": t, "country_code": "ZZ",
                                   "postal_codes": ["1"]}),
        )
        .validate()
        .expect_err("unknown country");
        assert!(
            unknown
                .to_string()
                .contains("no postal code format is known for country ZZ")
        );

        let long_prefix = input(json!({"kind": "postal_code", "territory_id": t,
                                       "country_code": "MC", "postal_prefixes": ["98000"]}))
        .validate()
        .expect_err("a full code is not a prefix");
        assert!(long_prefix.to_string().contains("prefix"));
    }

    #[test]
    fn areas_must_be_closed_polygons_within_the_vertex_cap() {
        let t = Uuid::nil();
        let square = json!({"type": "Polygon", "coordinates": [[[7.4, 43.7], [7.5, 43.7], [7.5, 43.8], [7.4, 43.8], [7.4, 43.7]]]});
        let ok = input(json!({"kind": "polygon", "territory_id": t, "area": square}))
            .validate()
            .expect("square");
        assert!(ok.area_geojson.is_some());

        let open = json!({"type": "Polygon", "coordinates": [[[7.4, 43.7], [7.5, 43.7], [7.5, 43.8], [7.4, 43.8]]]});
        assert!(
            input(json!({"kind": "polygon", "territory_id": t, "area": open}))
                .validate()
                .is_err()
        );
        let point = json!({"type": "Point", "coordinates": [7.4, 43.7]});
        let e = input(json!({"kind": "polygon", "territory_id": t, "area": point}))
            .validate()
            .expect_err("a point");
        assert!(e.to_string().contains("not Point"), "{e}");

        let mut ring: Vec<Value> = (0..=MAX_AREA_VERTICES)
            .map(|i| {
                let a = i as f64 / (MAX_AREA_VERTICES as f64) * std::f64::consts::TAU;
                json!([7.4 + 0.01 * a.cos(), 43.7 + 0.01 * a.sin()])
            })
            .collect();
        ring.push(ring[0].clone());
        let big = json!({"type": "Polygon", "coordinates": [ring]});
        let e = input(json!({"kind": "polygon", "territory_id": t, "area": big}))
            .validate()
            .expect_err("too many vertices");
        assert!(e.to_string().contains("vertices"), "{e}");
    }

    #[test]
    fn attribute_rules_need_a_sensible_predicate() {
        let t = Uuid::nil();
        assert!(
            input(json!({"kind": "attribute", "territory_id": t, "predicate": {}}))
                .validate()
                .is_err()
        );
        assert!(
            input(json!({"kind": "attribute", "territory_id": t, "predicate": {"tiers": ["D"]}}))
                .validate()
                .is_err()
        );
        assert!(
            input(json!({"kind": "attribute", "territory_id": t,
                         "predicate": {"min_value": 10, "max_value": 5}}))
            .validate()
            .is_err()
        );
        let ok = input(json!({"kind": "attribute", "territory_id": t,
                              "predicate": {"tiers": ["A"], "min_value": 1000}}))
        .validate()
        .expect("tier A over 1000");
        assert_eq!(ok.predicate, json!({"tiers": ["A"], "min_value": 1000.0}));
    }
}
