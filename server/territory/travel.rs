//! Drive times from reps' home bases to accounts (OSRM), with a fitted straight-line estimate where OSRM finds no route.

use crate::routing::{DurationMatrix, OsrmClient, RoutingError};
use crate::spatial::LonLat;

/// One-way drive minutes from each territory's home base to each point, as OSRM's car
/// profile sees them (no traffic). Territories without a home base are skipped (not sent to
/// OSRM); their times are `None`.
pub async fn home_drive_minutes(
    osrm: &OsrmClient,
    homes: &[Option<LonLat>],
    points: &[LonLat],
) -> Result<TravelTimes, RoutingError> {
    let sources: Vec<LonLat> = homes.iter().flatten().copied().collect();
    let matrix = osrm.table(&sources, points).await?;
    Ok(TravelTimes::new(homes.to_vec(), points.to_vec(), matrix))
}

/// Drive minutes from home bases (territories) to points, with the fallback fitted on them.
#[derive(Debug, Clone)]
pub struct TravelTimes {
    homes: Vec<Option<LonLat>>,
    /// The matrix row of each territory's home base.
    home_row: Vec<Option<usize>>,
    points: Vec<LonLat>,
    /// Rows: territories with a home base, in order; columns: points.
    matrix: DurationMatrix,
    fallback: DriveFallback,
}

impl TravelTimes {
    /// `matrix` must have one row per `Some` home (in order) and one column per point.
    fn new(homes: Vec<Option<LonLat>>, points: Vec<LonLat>, matrix: DurationMatrix) -> Self {
        let mut next_row = 0;
        let home_row: Vec<Option<usize>> = homes
            .iter()
            .map(|home| {
                home.map(|_| {
                    next_row += 1;
                    next_row - 1
                })
            })
            .collect();
        debug_assert_eq!((matrix.rows, matrix.cols), (next_row, points.len()));
        let reachable = homes.iter().flatten().enumerate().flat_map(|(row, home)| {
            let matrix = &matrix;
            points.iter().enumerate().filter_map(move |(col, point)| {
                matrix
                    .get(row, col)
                    .map(|seconds| (home.distance_m(*point) / 1000.0, f64::from(seconds) / 60.0))
            })
        });
        let fallback = DriveFallback::fit(reachable);
        Self {
            homes,
            home_row,
            points,
            matrix,
            fallback,
        }
    }

    pub fn territories(&self) -> usize {
        self.homes.len()
    }

    pub fn points(&self) -> usize {
        self.points.len()
    }

    /// OSRM's drive minutes from the territory's home base to the point; `None` when the
    /// territory has no home base or OSRM found no route (see
    /// [`TravelTimes::minutes_or_estimate`]).
    ///
    /// # Panics
    /// When the territory or point index is out of range.
    pub fn minutes(&self, territory: usize, point: usize) -> Option<f32> {
        let row = self.home_row[territory]?;
        self.matrix.get(row, point).map(|seconds| seconds / 60.0)
    }

    /// [`TravelTimes::minutes`], or where OSRM found no route, the fallback's estimate from
    /// the straight-line distance. `None` only for a territory without a home base.
    ///
    /// # Panics
    /// When the territory or point index is out of range.
    pub fn minutes_or_estimate(&self, territory: usize, point: usize) -> Option<f32> {
        let home = self.homes[territory]?;
        self.minutes(territory, point).or_else(|| {
            let km = home.distance_m(self.points[point]) / 1000.0;
            Some(self.fallback.minutes(km))
        })
    }

    /// [`TravelTimes::minutes_or_estimate`] for every pair, territory-major
    /// (`[territory * points + point]`), NaN for a territory without a home base.
    pub fn territory_major_minutes(&self) -> Vec<f32> {
        (0..self.territories())
            .flat_map(|t| {
                (0..self.points()).map(move |p| self.minutes_or_estimate(t, p).unwrap_or(f32::NAN))
            })
            .collect()
    }

    /// Whether [`TravelTimes::minutes_or_estimate`] is an estimate for this pair.
    pub fn is_estimated(&self, territory: usize, point: usize) -> bool {
        self.homes[territory].is_some() && self.minutes(territory, point).is_none()
    }

    /// The straight-line fallback fitted on this matrix's reachable pairs.
    pub fn fallback(&self) -> DriveFallback {
        self.fallback
    }

    /// Metres from the point to where OSRM put it on the road network; drive times start
    /// there, so a large value (a point in the sea, outside the extract) makes them doubtful.
    pub fn snap_m(&self, point: usize) -> f32 {
        self.matrix.snap_m[point]
    }
}

/// Estimates drive minutes from straight-line kilometres: `minutes = minutes_per_km × km`.
///
/// The slope stands for `detour factor × 60 / speed in km/h` (roads are longer than the
/// straight line, and driven at some average speed); only their ratio can be learnt from
/// (km, minutes) pairs, so that is what is fitted: least squares through the origin over the
/// pairs OSRM could route, `minutes_per_km = Σ km·minutes / Σ km²`, which minimises
/// `Σ (minutes − minutes_per_km × km)²`. Pairs at zero distance carry no information and are
/// left out. With fewer than [`DriveFallback::MIN_PAIRS`] pairs the prior is used: a detour
/// factor of 1.3 at 30 km/h, 2.6 minutes per km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriveFallback {
    pub minutes_per_km: f64,
    /// Pairs the slope was fitted on; 0 when it is the prior.
    pub fitted_pairs: usize,
}

impl DriveFallback {
    /// Fewer reachable pairs than this: the prior is trusted more than the fit.
    pub const MIN_PAIRS: usize = 5;
    /// Detour factor 1.3 at 30 km/h.
    pub const PRIOR: Self = Self {
        minutes_per_km: 1.3 * 60.0 / 30.0,
        fitted_pairs: 0,
    };

    /// Fits the slope on `(straight-line km, drive minutes)` pairs.
    pub fn fit(pairs: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let (mut sum_xy, mut sum_xx, mut n) = (0.0, 0.0, 0);
        for (km, minutes) in pairs {
            if km > 0.0 && km.is_finite() && minutes.is_finite() {
                sum_xy += km * minutes;
                sum_xx += km * km;
                n += 1;
            }
        }
        if n < Self::MIN_PAIRS {
            return Self::PRIOR;
        }
        Self {
            minutes_per_km: sum_xy / sum_xx,
            fitted_pairs: n,
        }
    }

    /// Estimated drive minutes for a straight-line distance in km.
    pub fn minutes(self, distance_km: f64) -> f32 {
        (self.minutes_per_km * distance_km) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::spatial::test_point as point;

    #[test]
    fn the_fit_recovers_an_exact_slope() {
        let fit = DriveFallback::fit((1..=5).map(|km| (f64::from(km), 2.0 * f64::from(km))));
        assert_eq!(fit.fitted_pairs, 5);
        assert!((fit.minutes_per_km - 2.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.minutes(3.5) - 7.0).abs() < 1e-6);
    }

    #[test]
    fn the_fit_is_least_squares_through_the_origin() {
        // Σxy = 2 + 8 + 18 + 32 + 100 = 160, Σx² = 55.
        let pairs = [(1.0, 2.0), (2.0, 4.0), (3.0, 6.0), (4.0, 8.0), (5.0, 20.0)];
        let fit = DriveFallback::fit(pairs);
        assert!((fit.minutes_per_km - 160.0 / 55.0).abs() < 1e-12, "{fit:?}");
        // Nudging the slope either way raises the squared error.
        let sse = |k: f64| pairs.iter().map(|(x, y)| (y - k * x).powi(2)).sum::<f64>();
        let k = fit.minutes_per_km;
        assert!(sse(k) < sse(k + 0.01) && sse(k) < sse(k - 0.01));
    }

    #[test]
    fn too_few_pairs_fall_back_to_the_prior() {
        let fit = DriveFallback::fit([(1.0, 10.0), (2.0, 20.0), (0.0, 3.0), (0.0, 0.0)]);
        assert_eq!(fit, DriveFallback::PRIOR);
        assert!((DriveFallback::PRIOR.minutes_per_km - 2.6).abs() < 1e-12);
        assert_eq!(DriveFallback::fit([]), DriveFallback::PRIOR);
    }

    #[test]
    fn zero_distance_pairs_do_not_count() {
        let pairs = (1..=4)
            .map(|km| (f64::from(km), 3.0 * f64::from(km)))
            .chain([(0.0, 5.0), (0.0, 0.0)]);
        assert_eq!(DriveFallback::fit(pairs), DriveFallback::PRIOR);
    }

    /// Two homes, four points; OSRM times exactly 3 minutes per straight-line km except one
    /// unreachable pair; territory 1 has no home base.
    fn three_territories() -> (TravelTimes, Vec<LonLat>, Vec<LonLat>) {
        let homes = vec![point(7.40, 43.73), point(7.44, 43.75)];
        let points = vec![
            point(7.41, 43.73),
            point(7.42, 43.74),
            point(7.43, 43.75),
            point(7.45, 43.76),
        ];
        let mut seconds = Vec::new();
        for h in &homes {
            for p in &points {
                seconds.push(Some((3.0 * 60.0 * h.distance_m(*p) / 1000.0) as f32));
            }
        }
        seconds[5] = None; // home 1 (territory 2) to point 1
        let matrix = DurationMatrix {
            rows: 2,
            cols: 4,
            metres: seconds.iter().map(|s| s.map(|s| s * 10.0)).collect(),
            seconds,
            snap_m: vec![1.0, 2.0, 3.0, 4.0],
            source_snap_m: vec![0.0, 0.0],
        };
        let times = TravelTimes::new(
            vec![Some(homes[0]), None, Some(homes[1])],
            points.clone(),
            matrix,
        );
        (times, homes, points)
    }

    #[test]
    fn osrm_minutes_are_by_territory_and_unreachable_is_none() {
        let (times, homes, points) = three_territories();
        assert_eq!((times.territories(), times.points()), (3, 4));
        let expected = (3.0 * homes[0].distance_m(points[2]) / 1000.0) as f32;
        let got = times.minutes(0, 2).expect("reachable");
        assert!((got - expected).abs() < 1e-3, "{got} vs {expected}");
        assert_eq!(times.minutes(1, 2), None, "no home base");
        assert_eq!(times.minutes(2, 1), None, "unreachable");
        assert!(times.minutes(2, 0).is_some());
        assert_eq!(times.snap_m(3), 4.0);
    }

    #[test]
    fn unreachable_pairs_get_the_estimate_fitted_on_the_reachable_ones() {
        let (times, homes, points) = three_territories();
        let fit = times.fallback();
        assert_eq!(fit.fitted_pairs, 7);
        assert!((fit.minutes_per_km - 3.0).abs() < 1e-4, "{fit:?}");

        let estimate = times.minutes_or_estimate(2, 1).expect("estimated");
        let expected = (3.0 * homes[1].distance_m(points[1]) / 1000.0) as f32;
        assert!(
            (estimate - expected).abs() < 1e-3,
            "{estimate} vs {expected}"
        );
        assert!(times.is_estimated(2, 1));
        assert!(!times.is_estimated(2, 0));
        assert_eq!(times.minutes_or_estimate(2, 0), times.minutes(2, 0));
        assert_eq!(times.minutes_or_estimate(1, 0), None, "no home base");
        assert!(!times.is_estimated(1, 0));
    }
}
