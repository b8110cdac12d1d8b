//! Spatial domain types parsed at the edge: WGS84 points and bounding boxes (longitude first).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

mod h3;

pub use h3::{ACCOUNT_H3_RESOLUTION, H3Cell, H3Error};

impl serde::Serialize for LonLat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.lon, self.lat).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for LonLat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (lon, lat) = <(f64, f64)>::deserialize(deserializer)?;
        Self::new(lon, lat).map_err(serde::de::Error::custom)
    }
}

/// Why a coordinate or bounding box was rejected.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SpatialError {
    #[error("longitude must be a finite number between -180 and 180")]
    Longitude,
    #[error("latitude must be a finite number between -90 and 90")]
    Latitude,
    #[error("bbox must be four comma-separated numbers: minLon,minLat,maxLon,maxLat")]
    BBoxArity,
    #[error("bbox value {0:?} is not a number")]
    BBoxNumber(String),
    #[error("bbox minimum must not exceed its maximum (minLon <= maxLon, minLat <= maxLat)")]
    BBoxOrder,
}

/// A WGS84 point, longitude then latitude, in degrees. Always finite and in range.
/// Serialized as a `[lon, lat]` pair; deserializing checks the ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLat {
    lon: f64,
    lat: f64,
}

impl LonLat {
    /// Checks the ranges; NaN and infinities are rejected.
    ///
    /// ```
    /// use terrane::spatial::LonLat;
    /// assert!(LonLat::new(7.4246, 43.7384).is_ok());
    /// assert!(LonLat::new(f64::NAN, 43.0).is_err());
    /// assert!(LonLat::new(7.0, 91.0).is_err());
    /// ```
    pub fn new(lon: f64, lat: f64) -> Result<Self, SpatialError> {
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(SpatialError::Longitude);
        }
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(SpatialError::Latitude);
        }
        Ok(Self { lon, lat })
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Great-circle distance in metres (haversine on a 6,371,008.8 m sphere).
    pub fn distance_m(self, other: LonLat) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_phi = phi2 - phi1;
        let d_lambda = (other.lon - self.lon).to_radians();
        let a =
            (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

/// An axis-aligned WGS84 box; `min` is south-west, `max` north-east.
///
/// Boxes crossing the antimeridian are not supported (min longitude must not exceed max).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min: LonLat,
    pub max: LonLat,
}

impl BBox {
    pub fn new(min: LonLat, max: LonLat) -> Result<Self, SpatialError> {
        if min.lon > max.lon || min.lat > max.lat {
            return Err(SpatialError::BBoxOrder);
        }
        Ok(Self { min, max })
    }

    pub fn contains(&self, p: LonLat) -> bool {
        (self.min.lon..=self.max.lon).contains(&p.lon)
            && (self.min.lat..=self.max.lat).contains(&p.lat)
    }
}

impl FromStr for BBox {
    type Err = SpatialError;

    /// Parses `minLon,minLat,maxLon,maxLat` (the order used by GeoJSON and OGC APIs).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [a, b, c, d] = parts.as_slice() else {
            return Err(SpatialError::BBoxArity);
        };
        let num = |v: &str| -> Result<f64, SpatialError> {
            v.parse::<f64>()
                .map_err(|_| SpatialError::BBoxNumber(v.chars().take(32).collect()))
        };
        let min = LonLat::new(num(a)?, num(b)?)?;
        let max = LonLat::new(num(c)?, num(d)?)?;
        Self::new(min, max)
    }
}

impl fmt::Display for BBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.min.lon, self.min.lat, self.max.lon, self.max.lat
        )
    }
}

/// A point for tests, from coordinates known to be valid.
#[cfg(test)]
pub(crate) fn test_point(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).expect("valid test coordinate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_a_lon_lat_pair_in_json_and_checked_when_read() {
        let p = LonLat::new(7.4246, 43.7384).expect("valid");
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(json, "[7.4246,43.7384]");
        assert_eq!(serde_json::from_str::<LonLat>(&json).expect("read"), p);
        assert!(serde_json::from_str::<LonLat>("[7.0,91.0]").is_err());
    }

    #[test]
    fn bbox_parses_lon_lat_order() {
        let b: BBox = "7.40,43.72,7.45,43.76".parse().expect("valid bbox");
        assert_eq!(b.min.lon(), 7.40);
        assert_eq!(b.max.lat(), 43.76);
        assert!(b.contains(LonLat::new(7.42, 43.74).expect("valid")));
        assert!(!b.contains(LonLat::new(7.46, 43.74).expect("valid")));
    }

    #[test]
    fn bbox_rejects_bad_input_with_a_reason() {
        assert_eq!("1,2,3".parse::<BBox>(), Err(SpatialError::BBoxArity));
        assert_eq!("1,2,3,4,5".parse::<BBox>(), Err(SpatialError::BBoxArity));
        assert_eq!("NaN,2,3,4".parse::<BBox>(), Err(SpatialError::Longitude));
        assert_eq!("1,2,3,inf".parse::<BBox>(), Err(SpatialError::Latitude));
        assert_eq!("0,-91,1,1".parse::<BBox>(), Err(SpatialError::Latitude));
        assert_eq!("0,0,181,1".parse::<BBox>(), Err(SpatialError::Longitude));
        assert_eq!("3,0,1,1".parse::<BBox>(), Err(SpatialError::BBoxOrder));
        assert_eq!("0,3,1,1".parse::<BBox>(), Err(SpatialError::BBoxOrder));
        assert!(matches!(
            "a,0,1,1".parse::<BBox>(),
            Err(SpatialError::BBoxNumber(_))
        ));
    }

    #[test]
    fn distance_between_monaco_landmarks_is_plausible() {
        // Casino de Monte-Carlo to the Prince's Palace: about 1.1 km apart as the crow flies.
        let casino = LonLat::new(7.4283, 43.7393).expect("valid");
        let palace = LonLat::new(7.4203, 43.7314).expect("valid");
        let d = casino.distance_m(palace);
        assert!((1000.0..1300.0).contains(&d), "{d}");
    }
}
