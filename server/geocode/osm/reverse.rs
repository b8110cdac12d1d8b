//! Reverse geocoding: the nearest address point to a location, else the nearest street.

use crate::db::Bind;
use sqlx::PgExecutor;

use super::OsmGeocoderError;
use crate::geocode::Precision;
use crate::spatial::LonLat;

/// Address points farther than this are not "the address here".
pub const ADDRESS_RADIUS_M: f64 = 50.0;
/// Streets farther than this are not "the street here".
pub const STREET_RADIUS_M: f64 = 200.0;

/// What is at a location: an address point ([`Precision::Rooftop`]) or a street
/// ([`Precision::Street`], no house number, `location` the nearest point on it).
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseResult {
    pub location: LonLat,
    pub precision: Precision,
    pub house_number: Option<String>,
    pub street: String,
    pub postcode: Option<String>,
    pub city: Option<String>,
    /// From the asked location to `location`, in metres.
    pub distance_m: f64,
}

impl ReverseResult {
    /// "6 Quai Antoine 1er, 98000 Monaco" (the number first; good enough for a label).
    pub fn label(&self) -> String {
        let line = match &self.house_number {
            Some(n) => format!("{n} {}", self.street),
            None => self.street.clone(),
        };
        let place = [self.postcode.as_deref(), self.city.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if place.is_empty() {
            line
        } else {
            format!("{line}, {place}")
        }
    }
}

type Row = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    f64,
    f64,
    f64,
);

/// The nearest address point within [`ADDRESS_RADIUS_M`], else the nearest street within
/// [`STREET_RADIUS_M`]. The index is searched in degrees and the few nearest re-ranked in
/// metres, so longitude shrinking towards the poles cannot pick the wrong one.
#[tracing::instrument(name = "osm_reverse", level = "debug", skip_all, err)]
pub async fn reverse(
    db: impl PgExecutor<'_>,
    at: LonLat,
) -> Result<Option<ReverseResult>, OsmGeocoderError> {
    let row: Option<Row> = sqlx::query_as(include_str!("sql/reverse.sql"))
        .bind_all((at.lon(), at.lat(), ADDRESS_RADIUS_M, STREET_RADIUS_M))
        .fetch_optional(db)
        .await
        .map_err(|source| OsmGeocoderError::Query {
            what: "the nearest address",
            source,
        })?;
    let Some((precision, house_number, street, postcode, city, lon, lat, distance_m)) = row else {
        return Ok(None);
    };
    let (precision, location) = OsmGeocoderError::checked_row(&precision, lon, lat)?;
    Ok(Some(ReverseResult {
        location,
        precision,
        house_number,
        street,
        postcode,
        city,
        distance_m,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_leaves_out_what_is_unknown() {
        let mut r = ReverseResult {
            location: LonLat::new(7.42, 43.73).expect("valid"),
            precision: Precision::Rooftop,
            house_number: Some("6".into()),
            street: "Quai Antoine 1er".into(),
            postcode: Some("98000".into()),
            city: Some("Monaco".into()),
            distance_m: 3.0,
        };
        assert_eq!(r.label(), "6 Quai Antoine 1er, 98000 Monaco");
        r.house_number = None;
        r.postcode = None;
        r.city = None;
        assert_eq!(r.label(), "Quai Antoine 1er");
    }
}
