//! Road geometry of an ordered list of points from OSRM's route service.

use std::fmt::Write as _;

use serde::Deserialize;

use super::{OsrmClient, RoutingError};
use crate::spatial::LonLat;

const ENDPOINT: &str = "route";

/// osrm-routed's default `--max-viaroute-size`.
pub const MAX_ROUTE_POINTS: usize = 500;

/// The road route through points in order: its line and each leg's duration and distance.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadRoute {
    /// `[lon, lat]` pairs along the roads, from the first point to the last.
    pub line: Vec<[f64; 2]>,
    /// Per leg (point `i` to `i + 1`): seconds and metres.
    pub legs: Vec<(f64, f64)>,
}

impl OsrmClient {
    /// The fastest road route through `points` in this order (at least two, at most
    /// [`MAX_ROUTE_POINTS`]), with its full-resolution line as GeoJSON coordinates.
    #[tracing::instrument(skip_all, fields(points = points.len()), err)]
    pub async fn route(&self, points: &[LonLat]) -> Result<RoadRoute, RoutingError> {
        if points.len() < 2 || points.len() > MAX_ROUTE_POINTS {
            return Err(RoutingError::Refused {
                endpoint: ENDPOINT,
                code: "InvalidValue".into(),
                message: format!(
                    "a route takes 2 to {MAX_ROUTE_POINTS} points, not {}",
                    points.len()
                ),
            });
        }
        let body: RouteBody = self.get_json(ENDPOINT, &route_path(points)).await?;
        body.into_route(points.len())
    }
}

fn route_path(points: &[LonLat]) -> String {
    let mut path = String::from("route/v1/driving/");
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            path.push(';');
        }
        let _ = write!(path, "{:.6},{:.6}", p.lon(), p.lat());
    }
    path.push_str("?overview=full&geometries=geojson&steps=false&generate_hints=false");
    path
}

#[derive(Deserialize)]
struct RouteBody {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    routes: Vec<RouteEntry>,
}

#[derive(Deserialize)]
struct RouteEntry {
    geometry: LineGeometry,
    legs: Vec<Leg>,
}

#[derive(Deserialize)]
struct LineGeometry {
    coordinates: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct Leg {
    duration: f64,
    distance: f64,
}

impl RouteBody {
    fn into_route(self, points: usize) -> Result<RoadRoute, RoutingError> {
        if self.code != "Ok" {
            return Err(RoutingError::from_osrm_code(
                ENDPOINT,
                self.code,
                self.message,
            ));
        }
        let Some(route) = self.routes.into_iter().next() else {
            return Err(RoutingError::UnexpectedBody { endpoint: ENDPOINT });
        };
        if route.legs.len() + 1 != points {
            return Err(RoutingError::UnexpectedBody { endpoint: ENDPOINT });
        }
        Ok(RoadRoute {
            line: route.geometry.coordinates,
            legs: route
                .legs
                .iter()
                .map(|l| (l.duration, l.distance))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_asks_for_the_full_line_as_geojson() {
        let p = |lon, lat| LonLat::new(lon, lat).expect("valid");
        assert_eq!(
            route_path(&[p(7.42, 43.73), p(7.43, 43.74)]),
            "route/v1/driving/7.420000,43.730000;7.430000,43.740000\
             ?overview=full&geometries=geojson&steps=false&generate_hints=false"
        );
    }

    #[test]
    fn an_answer_needs_one_leg_between_each_pair_of_points() {
        let body: RouteBody = serde_json::from_str(
            r#"{"code":"Ok","routes":[{"geometry":{"type":"LineString",
                "coordinates":[[7.42,43.73],[7.425,43.735],[7.43,43.74]]},
                "legs":[{"duration":61.5,"distance":820.0}]}]}"#,
        )
        .expect("parses");
        let route = body.into_route(2).expect("two points, one leg");
        assert_eq!(route.line.len(), 3);
        assert_eq!(route.legs, [(61.5, 820.0)]);
        let body: RouteBody = serde_json::from_str(
            r#"{"code":"Ok","routes":[{"geometry":{"coordinates":[]},"legs":[]}]}"#,
        )
        .expect("parses");
        assert!(matches!(
            body.into_route(2),
            Err(RoutingError::UnexpectedBody { .. })
        ));
        let body: RouteBody =
            serde_json::from_str(r#"{"code":"NoRoute","message":"Impossible route"}"#)
                .expect("parses");
        assert!(matches!(
            body.into_route(2),
            Err(RoutingError::Failed { .. })
        ));
    }
}
