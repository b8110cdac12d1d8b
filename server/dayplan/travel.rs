//! Travel times and distances between a day's points: OSRM's table (one call, chunked by the
//! client), kept a few minutes by location set; when OSRM cannot answer, an estimate from the
//! straight-line distance times a detour factor at a set speed, marked as such.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::routing::solver::Matrix;
use crate::routing::{OsrmClient, RoutingError};
use crate::spatial::LonLat;

use super::model::TravelSource;

/// A stop whose point is farther than this from the nearest road is flagged (its address
/// probably geocoded off the road network).
pub const FAR_FROM_ROAD_M: f32 = 200.0;

/// How the estimate turns straight lines into drives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Average driving speed, km/h (`TERRANE_ROUTE_ESTIMATE_KMH`).
    pub kmh: f64,
    /// Road distance over straight-line distance.
    pub detour: f64,
}

impl Estimate {
    pub const DEFAULT: Estimate = Estimate {
        kmh: 30.0,
        detour: 1.35,
    };
}

/// Travel between every pair of a day's points.
#[derive(Debug, Clone, PartialEq)]
pub struct Travel {
    pub matrix: Matrix,
    /// Per point, metres to where OSRM put it on the road (0 for estimates).
    pub snap_m: Vec<f32>,
    pub source: TravelSource,
}

impl Travel {
    /// From an OSRM matrix: whole seconds and metres.
    fn from_osrm(m: &crate::routing::DurationMatrix) -> Self {
        let round = |v: &Option<f32>| v.map(|x| f64::from(x).round() as i64);
        Self {
            matrix: Matrix {
                size: m.rows,
                durations: m.seconds.iter().map(round).collect(),
                distances: m.metres.iter().map(round).collect(),
            },
            snap_m: m.snap_m.clone(),
            source: TravelSource::Osrm,
        }
    }

    /// Straight lines times the detour factor, at the estimate's speed.
    pub fn estimated(points: &[LonLat], estimate: Estimate) -> Self {
        let n = points.len();
        let metres_per_s = estimate.kmh.max(1.0) / 3.6;
        let mut durations = Vec::with_capacity(n * n);
        let mut distances = Vec::with_capacity(n * n);
        for a in points {
            for b in points {
                let road = a.distance_m(*b) * estimate.detour.max(1.0);
                distances.push(Some(road.round() as i64));
                durations.push(Some((road / metres_per_s).round() as i64));
            }
        }
        Self {
            matrix: Matrix {
                size: n,
                durations,
                distances,
            },
            snap_m: vec![0.0; n],
            source: TravelSource::Estimated,
        }
    }
}

/// Recent matrices by location set, shared by requests (a rep reloading Today, a manager
/// moving one stop between reps, ask for the same points again).
#[derive(Debug)]
pub struct TravelCache {
    entries: Mutex<HashMap<u64, (Instant, Arc<Travel>)>>,
    ttl: Duration,
    capacity: usize,
}

impl TravelCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The matrix for `points`: cached, else from OSRM, else estimated (not cached, so OSRM
    /// is asked again next time).
    pub async fn travel(
        &self,
        osrm: &OsrmClient,
        points: &[LonLat],
        estimate: Estimate,
    ) -> Arc<Travel> {
        let key = key_of(points);
        if let Some(hit) = self.get(key) {
            return hit;
        }
        match osrm.table(points, points).await {
            Ok(m) => {
                let travel = Arc::new(Travel::from_osrm(&m));
                self.put(key, travel.clone());
                travel
            }
            Err(e) => {
                log_fallback(&e);
                Arc::new(Travel::estimated(points, estimate))
            }
        }
    }

    fn get(&self, key: u64) -> Option<Arc<Travel>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, t)| t.clone())
    }

    fn put(&self, key: u64, travel: Arc<Travel>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let ttl = self.ttl;
        entries.retain(|_, (at, _)| at.elapsed() < ttl);
        if entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(key, (Instant::now(), travel));
    }
}

fn log_fallback(e: &RoutingError) {
    tracing::warn!(error = %e, "OSRM unavailable for a day plan; travel times are estimated");
    metrics::counter!("terrane_route_travel_estimated_total").increment(1);
}

/// The location set's key: coordinates to 6 decimals, in order.
fn key_of(points: &[LonLat]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in points {
        ((p.lon() * 1e6).round() as i64).hash(&mut h);
        ((p.lat() * 1e6).round() as i64).hash(&mut h);
    }
    points.len().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_straight_line_times_the_detour_at_the_speed() {
        let a = LonLat::new(7.42, 43.73).expect("valid");
        let b = LonLat::new(7.43, 43.73).expect("valid");
        let straight = a.distance_m(b);
        let t = Travel::estimated(&[a, b], Estimate::DEFAULT);
        assert_eq!(t.source, TravelSource::Estimated);
        assert_eq!(t.matrix.distance(0, 0), Some(0));
        let road = t.matrix.distance(0, 1).expect("estimated");
        assert_eq!(road, (straight * 1.35).round() as i64);
        let secs = t.matrix.duration(0, 1).expect("estimated");
        assert_eq!(secs, (straight * 1.35 / (30.0 / 3.6)).round() as i64);
    }

    #[test]
    fn the_cache_forgets_the_oldest_set_when_full() {
        let cache = TravelCache::new(Duration::from_secs(60), 2);
        let p = |x| vec![LonLat::new(7.0 + x, 43.7).expect("valid")];
        for x in [0.1, 0.2, 0.3] {
            let pts = p(x);
            cache.put(
                key_of(&pts),
                Arc::new(Travel::estimated(&pts, Estimate::DEFAULT)),
            );
        }
        assert!(cache.get(key_of(&p(0.1))).is_none());
        assert!(cache.get(key_of(&p(0.3))).is_some());
        assert_ne!(key_of(&p(0.2)), key_of(&p(0.3)));
    }
}
