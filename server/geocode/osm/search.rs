//! Forward geocoding against the index: one statement per address, trying the exact address,
//! a similarly named street, interpolation, then street, postcode and locality.

use sqlx::PgExecutor;

use super::build::{compact_postcode, leading_integer};
use super::{OsmGeocoderError, PROVIDER};
use crate::geocode::normalize::NormalizedAddress;
use crate::geocode::{AddressQuery, GeocodeResult, Precision};
use crate::spatial::LonLat;

/// Locates a normalized address; `Ok(None)` when not even its locality is known.
///
/// Takes any executor so a benchmark can ask inside a transaction that hides some rows.
pub async fn search(
    db: impl PgExecutor<'_>,
    address: &NormalizedAddress,
) -> Result<Option<GeocodeResult>, OsmGeocoderError> {
    let number = address.house_number.as_deref().and_then(leading_integer);
    let postcode = address.postal_code.as_deref().and_then(compact_postcode);
    let row: Option<(String, f64, f64, f64)> = sqlx::query_as(include_str!("sql/search.sql"))
        .bind(address.street.as_deref())
        .bind(address.house_number.as_deref())
        .bind(number)
        .bind(postcode)
        .bind(address.city.as_deref())
        .fetch_optional(db)
        .await
        .map_err(|source| OsmGeocoderError::Query {
            what: "an address",
            source,
        })?;
    let Some((precision, lon, lat, confidence)) = row else {
        return Ok(None);
    };
    let precision = Precision::parse(&precision).ok_or_else(|| OsmGeocoderError::BadRow {
        what: "precision",
        detail: precision.clone(),
    })?;
    let location = LonLat::new(lon, lat).map_err(|e| OsmGeocoderError::BadRow {
        what: "location",
        detail: e.to_string(),
    })?;
    Ok(Some(GeocodeResult {
        location,
        precision,
        // The tiers' products stay within 0..1; the clamp keeps a float's last bit honest.
        confidence: (confidence as f32).clamp(0.0, 1.0),
        provider: PROVIDER.to_owned(),
    }))
}

/// Splits a one-line address typed at a prompt ("6 Quai Antoine 1er, 98000 Monaco") into
/// the street line and, after the first comma, a postcode (the words with digits) and a city
/// (the other words).
///
/// ```
/// use terrane::geocode::osm::query_from_one_line;
/// let q = query_from_one_line("6 Quai Antoine 1er, 98000 Monaco");
/// assert_eq!(q.line.as_deref(), Some("6 Quai Antoine 1er"));
/// assert_eq!(q.postal_code.as_deref(), Some("98000"));
/// assert_eq!(q.city.as_deref(), Some("Monaco"));
/// ```
pub fn query_from_one_line(text: &str) -> AddressQuery {
    let mut parts = text.split(',').map(str::trim).filter(|p| !p.is_empty());
    let line = parts.next().map(str::to_owned);
    let rest: Vec<&str> = parts.flat_map(str::split_whitespace).collect();
    let (postcode, city): (Vec<&str>, Vec<&str>) = rest
        .iter()
        .partition(|w| w.chars().any(|c| c.is_ascii_digit()));
    let join = |words: Vec<&str>| (!words.is_empty()).then(|| words.join(" "));
    AddressQuery {
        line,
        postal_code: join(postcode),
        city: join(city),
        ..AddressQuery::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_commas_is_only_a_street_line() {
        let q = query_from_one_line("Mannerheimintie 5");
        assert_eq!(q.line.as_deref(), Some("Mannerheimintie 5"));
        assert_eq!((q.postal_code, q.city), (None, None));
    }

    #[test]
    fn postcode_and_city_may_come_in_separate_parts_and_either_order() {
        let q = query_from_one_line("Rue Grimaldi 4, Monaco, 98000");
        assert_eq!(q.postal_code.as_deref(), Some("98000"));
        assert_eq!(q.city.as_deref(), Some("Monaco"));
        let q = query_from_one_line("1 High St, London SW1A 1AA");
        assert_eq!(q.postal_code.as_deref(), Some("SW1A 1AA"));
        assert_eq!(q.city.as_deref(), Some("London"));
    }
}
