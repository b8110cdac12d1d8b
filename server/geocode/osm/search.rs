//! Forward geocoding against the index: one statement per address, trying the exact address,
//! a similarly named street, interpolation, then street, postcode and locality.

use crate::db::Bind;
use sqlx::PgExecutor;

use super::build::{compact_postcode, leading_integer};
use super::{OsmGeocoderError, PROVIDER};
use crate::geocode::GeocodeResult;
use crate::geocode::normalize::NormalizedAddress;

/// Locates a normalized address; `Ok(None)` when not even its locality is known.
///
/// Takes any executor so a benchmark can ask inside a transaction that hides some rows.
#[tracing::instrument(name = "osm_geocode", level = "debug", skip_all, err)]
pub async fn search(
    db: impl PgExecutor<'_>,
    address: &NormalizedAddress,
) -> Result<Option<GeocodeResult>, OsmGeocoderError> {
    let number = address.house_number.as_deref().and_then(leading_integer);
    let postcode = address.postal_code.as_deref().and_then(compact_postcode);
    let row: Option<(String, f64, f64, f64)> = sqlx::query_as(include_str!("sql/search.sql"))
        .bind_all((
            address.street.as_deref(),
            address.house_number.as_deref(),
            number,
            postcode,
            address.city.as_deref(),
        ))
        .fetch_optional(db)
        .await
        .map_err(|source| OsmGeocoderError::Query {
            what: "an address",
            source,
        })?;
    let Some((precision, lon, lat, confidence)) = row else {
        return Ok(None);
    };
    let (precision, location) = OsmGeocoderError::checked_row(&precision, lon, lat)?;
    Ok(Some(GeocodeResult {
        location,
        precision,
        // The tiers' products stay within 0..1; the clamp keeps a float's last bit honest.
        confidence: (confidence as f32).clamp(0.0, 1.0),
        provider: PROVIDER.to_owned(),
    }))
}
