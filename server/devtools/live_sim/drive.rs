//! Roads to drive: OSRM routes between random points of a box, with the time each segment
//! takes at its road speed (OSRM's `duration` annotation), and positions along them.

use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use rand::Rng;
use serde::Deserialize;

use crate::RoadArgs;

/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;

/// A box of longitudes and latitudes.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    min_lon: f64,
    min_lat: f64,
    max_lon: f64,
    max_lat: f64,
}

impl Area {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let v: Vec<f64> = text
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .context("--bbox takes four numbers: min_lon,min_lat,max_lon,max_lat")?;
        let [min_lon, min_lat, max_lon, max_lat] = v[..] else {
            anyhow::bail!("--bbox takes four numbers: min_lon,min_lat,max_lon,max_lat");
        };
        anyhow::ensure!(
            min_lon < max_lon && min_lat < max_lat,
            "--bbox: the minimum must be below the maximum"
        );
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    fn random_point(&self, rng: &mut impl Rng) -> [f64; 2] {
        [
            rng.random_range(self.min_lon..self.max_lon),
            rng.random_range(self.min_lat..self.max_lat),
        ]
    }
}

/// A drivable line: `[lon, lat]` points and the seconds from the start at each point.
#[derive(Debug, Clone)]
pub struct Road {
    pub line: Vec<[f64; 2]>,
    /// Seconds from the first point at each point (same length as `line`, increasing).
    pub at_s: Vec<f64>,
}

/// Where a rep is and how it moves.
#[derive(Debug, Clone, Copy)]
pub struct Fix {
    pub lon: f64,
    pub lat: f64,
    pub speed_mps: f64,
    pub heading_deg: f64,
}

impl Road {
    pub fn duration_s(&self) -> f64 {
        self.at_s.last().copied().unwrap_or(0.0)
    }

    /// The position `t_s` seconds into driving the road there and back again, forever.
    pub fn fix_at(&self, t_s: f64) -> Fix {
        let total = self.duration_s();
        let n = self.line.len();
        if n < 2 || total <= 0.0 {
            let [lon, lat] = self.line.first().copied().unwrap_or([0.0, 0.0]);
            return Fix {
                lon,
                lat,
                speed_mps: 0.0,
                heading_deg: 0.0,
            };
        }
        let lap = t_s.rem_euclid(2.0 * total);
        let (t, back) = if lap <= total {
            (lap, false)
        } else {
            (2.0 * total - lap, true)
        };
        // The segment [i, i + 1] holding t.
        let i = self.at_s.partition_point(|&a| a <= t).clamp(1, n - 1) - 1;
        let (a, b) = (self.line[i], self.line[i + 1]);
        let span = self.at_s[i + 1] - self.at_s[i];
        let f = if span > 0.0 {
            ((t - self.at_s[i]) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let lon = a[0] + (b[0] - a[0]) * f;
        let lat = a[1] + (b[1] - a[1]) * f;
        let len_m = distance_m(a, b);
        let speed_mps = if span > 0.0 { len_m / span } else { 0.0 };
        let (from, to) = if back { (b, a) } else { (a, b) };
        Fix {
            lon,
            lat,
            speed_mps: speed_mps.min(89.0),
            heading_deg: bearing_deg(from, to),
        }
    }

    /// Points every `spacing_m` metres along the line, each moved `offset_m` (a random
    /// amount up to it) to one side: buildings along the street.
    pub fn roadside(&self, spacing_m: f64, offset_m: f64, rng: &mut impl Rng) -> Vec<[f64; 2]> {
        let mut out = Vec::new();
        let mut carry = rng.random_range(0.0..spacing_m);
        for w in self.line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = distance_m(a, b);
            if len <= 0.0 {
                continue;
            }
            let (ex, ny) = metres_per_degree(a[1]);
            // Unit normal to the segment, in metres.
            let (dx, dy) = ((b[0] - a[0]) * ex / len, (b[1] - a[1]) * ny / len);
            let mut s = carry;
            while s < len {
                let f = s / len;
                let side = rng.random_range(-offset_m..offset_m);
                out.push([
                    a[0] + (b[0] - a[0]) * f - dy * side / ex,
                    a[1] + (b[1] - a[1]) * f + dx * side / ny,
                ]);
                s += spacing_m;
            }
            carry = s - len;
        }
        out
    }
}

/// Metres per degree of longitude and of latitude at latitude `lat`.
fn metres_per_degree(lat: f64) -> (f64, f64) {
    (M_PER_DEG * lat.to_radians().cos(), M_PER_DEG)
}

/// Equirectangular distance in metres: exact enough within a city.
pub fn distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (ex, ny) = metres_per_degree(f64::midpoint(a[1], b[1]));
    ((b[0] - a[0]) * ex).hypot((b[1] - a[1]) * ny)
}

/// Degrees clockwise from north, in [0, 360).
fn bearing_deg(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (ex, ny) = metres_per_degree(a[1]);
    let d = ((b[0] - a[0]) * ex).atan2((b[1] - a[1]) * ny).to_degrees();
    let d = d.rem_euclid(360.0);
    if d >= 360.0 { 0.0 } else { d }
}

#[derive(Deserialize)]
struct RouteBody {
    code: String,
    #[serde(default)]
    routes: Vec<RouteEntry>,
}

#[derive(Deserialize)]
struct RouteEntry {
    distance: f64,
    geometry: LineGeometry,
    legs: Vec<Leg>,
}

#[derive(Deserialize)]
struct LineGeometry {
    coordinates: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct Leg {
    annotation: Annotation,
}

#[derive(Deserialize)]
struct Annotation {
    duration: Vec<f64>,
}

/// Fetches `count` routes of at least `min_m` metres between random points of the area,
/// a few requests at a time. Random points that OSRM cannot join are skipped.
pub async fn fetch_roads(roads: &RoadArgs, count: usize, min_m: f64) -> anyhow::Result<Vec<Road>> {
    use rand::SeedableRng;
    let area = Area::parse(&roads.bbox)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the OSRM client")?;
    let base = roads.osrm.trim_end_matches('/').to_owned();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(roads.seed);
    let mut out = Vec::with_capacity(count);
    let mut tries = 0;
    while out.len() < count {
        anyhow::ensure!(
            tries < count * 5 + 50,
            "OSRM at {base} gave only {} usable routes in {tries} tries: is it up, and is --bbox on its extract?",
            out.len()
        );
        let batch: Vec<([f64; 2], [f64; 2])> = (0..(count - out.len()).min(64))
            .map(|_| (area.random_point(&mut rng), area.random_point(&mut rng)))
            .collect();
        tries += batch.len();
        let got: Vec<Option<Road>> = futures_util::stream::iter(batch)
            .map(|(a, b)| route(&http, &base, a, b, min_m))
            .buffered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        out.extend(got.into_iter().flatten());
    }
    out.truncate(count);
    Ok(out)
}

/// One route from `a` to `b` (`None`: no route, or shorter than `min_m`).
async fn route(
    http: &reqwest::Client,
    base: &str,
    a: [f64; 2],
    b: [f64; 2],
    min_m: f64,
) -> anyhow::Result<Option<Road>> {
    let url = format!(
        "{base}/route/v1/driving/{:.6},{:.6};{:.6},{:.6}?overview=full&geometries=geojson\
         &annotations=duration&steps=false&generate_hints=false",
        a[0], a[1], b[0], b[1]
    );
    let body: RouteBody = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("asking OSRM at {base} for a route"))?
        .json()
        .await
        .context("reading OSRM's route")?;
    if body.code != "Ok" {
        return Ok(None);
    }
    let Some(r) = body.routes.into_iter().next() else {
        return Ok(None);
    };
    if r.distance < min_m {
        return Ok(None);
    }
    let line = r.geometry.coordinates;
    let durations: Vec<f64> = r
        .legs
        .into_iter()
        .flat_map(|l| l.annotation.duration)
        .collect();
    // One annotation per segment of the full line; anything else is not this OSRM's shape.
    if line.len() < 2 || durations.len() + 1 != line.len() {
        return Ok(None);
    }
    let mut at_s = Vec::with_capacity(line.len());
    let mut t = 0.0;
    at_s.push(t);
    for d in durations {
        t += d.max(0.0);
        at_s.push(t);
    }
    Ok(Some(Road { line, at_s }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn road() -> Road {
        // 0.01° of latitude (about 1.1 km) in 100 s, then back.
        Road {
            line: vec![[7.42, 43.73], [7.42, 43.735], [7.42, 43.74]],
            at_s: vec![0.0, 50.0, 100.0],
        }
    }

    #[test]
    fn a_rep_drives_there_and_back_at_the_segment_speed() {
        let r = road();
        let half = r.fix_at(50.0);
        assert!((half.lat - 43.735).abs() < 1e-9);
        assert!((half.speed_mps - 11.132).abs() < 0.01, "{}", half.speed_mps);
        assert!(half.heading_deg.abs() < 1e-6);
        let back = r.fix_at(150.0);
        assert!((back.lat - 43.735).abs() < 1e-9);
        assert!((back.heading_deg - 180.0).abs() < 1e-6);
        assert!((r.fix_at(200.0).lat - 43.73).abs() < 1e-9);
    }

    #[test]
    fn roadside_points_are_spaced_along_the_line_and_near_it() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let pts = road().roadside(10.0, 20.0, &mut rng);
        assert!((110..=112).contains(&pts.len()), "{}", pts.len());
        for p in pts {
            assert!((p[0] - 7.42).abs() * 80_000.0 <= 20.5);
        }
    }

    #[test]
    fn a_box_is_four_ordered_numbers() {
        assert!(Area::parse("7.36,43.72,7.49,43.77").is_ok());
        assert!(Area::parse("7.49,43.72,7.36,43.77").is_err());
        assert!(Area::parse("7.36,43.72").is_err());
    }
}
