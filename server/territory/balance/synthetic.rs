//! Synthetic accounts for the balancer's tests and the territory benchmark
//! (`terrane-territory-bench`): dense clusters and sparse countryside, lognormal workloads,
//! and the "5% of accounts changed" step of the stability check. Deterministic per seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Unit;

/// Centre of the synthetic area (Paris), degrees.
const CENTRE: (f64, f64) = (2.35, 48.85);
const M_PER_DEG_LAT: f64 = 111_195.0;

/// A standard normal draw (Box-Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Yearly workload, minutes: lognormal with median about 1,100 (e.g. 12 visits of 90
/// minutes) and log-standard deviation `sigma` (heavy right tail).
fn workload(sigma: f64, rng: &mut impl Rng) -> f64 {
    (7.0 + sigma * normal(rng)).exp()
}

/// The shape of a synthetic region.
#[derive(Debug, Clone)]
pub struct Region {
    /// Side of the square area, km.
    pub side_km: f64,
    /// Share of accounts in clusters (the rest are spread evenly).
    pub clustered: f64,
    pub clusters: usize,
    /// Range of the clusters' spread (standard deviation), km.
    pub spread_km: (f64, f64),
    /// Log-standard deviation of the accounts' lognormal workloads.
    pub workload_sigma: f64,
}

impl Default for Region {
    /// 60 × 60 km, 70% of accounts in 12 clusters (towns of 0.7 to 3 km spread).
    fn default() -> Self {
        Self {
            side_km: 60.0,
            clustered: 0.7,
            clusters: 12,
            spread_km: (0.7, 3.0),
            workload_sigma: 0.6,
        }
    }
}

struct Clusters {
    centres: Vec<(f64, f64, f64)>,
    cumulative: Vec<f64>,
}

impl Clusters {
    fn new(region: &Region, rng: &mut impl Rng) -> Self {
        let half = region.side_km * 500.0;
        let mut centres = Vec::new();
        let mut cumulative = Vec::new();
        let mut acc = 0.0;
        for _ in 0..region.clusters.max(1) {
            let x = rng.random_range(-0.8 * half..0.8 * half);
            let y = rng.random_range(-0.8 * half..0.8 * half);
            let sigma_m =
                rng.random_range(region.spread_km.0 * 1000.0..region.spread_km.1 * 1000.0);
            centres.push((x, y, sigma_m));
            acc += rng.random_range(0.3..1.0);
            cumulative.push(acc);
        }
        Self {
            centres,
            cumulative,
        }
    }

    fn draw(&self, region: &Region, rng: &mut impl Rng) -> (f64, f64) {
        let half = region.side_km * 500.0;
        let (x, y) = if rng.random::<f64>() < region.clustered {
            let total = self.cumulative.last().copied().unwrap_or(1.0);
            let r = rng.random_range(0.0..total);
            let c = self
                .cumulative
                .partition_point(|&v| v < r)
                .min(self.centres.len() - 1);
            let (cx, cy, s) = self.centres[c];
            (
                (cx + s * normal(rng)).clamp(-half, half),
                (cy + s * normal(rng)).clamp(-half, half),
            )
        } else {
            (rng.random_range(-half..half), rng.random_range(-half..half))
        };
        let lat = CENTRE.1 + y / M_PER_DEG_LAT;
        let lon = CENTRE.0 + x / (M_PER_DEG_LAT * CENTRE.1.to_radians().cos());
        (lon, lat)
    }
}

/// `n` accounts over `region`, free (no locks, no current territory).
pub fn accounts(n: usize, region: &Region, seed: u64) -> Vec<Unit> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clusters = Clusters::new(region, &mut rng);
    (0..n)
        .map(|_| {
            let (lon, lat) = clusters.draw(region, &mut rng);
            Unit {
                lon,
                lat,
                workload: workload(region.workload_sigma, &mut rng),
                fixed: None,
                current: None,
            }
        })
        .collect()
}

/// The accounts after a plan was made and `share` of them changed: each keeps its planned
/// territory as `current`; then a third of the changes remove accounts, a third re-weight
/// others (workload × 0.5 to 2), a third add new accounts (no current territory) a few hundred
/// metres from a random existing one. Returns the new accounts and the number of changes.
pub fn perturb(units: &[Unit], assignment: &[u32], share: f64, seed: u64) -> (Vec<Unit>, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_cafe);
    // New accounts' workloads follow the set's own spread (log-standard deviation).
    let logs: Vec<f64> = units
        .iter()
        .filter(|u| u.workload > 0.0)
        .map(|u| u.workload.ln())
        .collect();
    let mean_log = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
    let sigma = (logs.iter().map(|l| (l - mean_log).powi(2)).sum::<f64>()
        / logs.len().max(1) as f64)
        .sqrt();
    let changes = (units.len() as f64 * share).round() as usize;
    let removed = changes / 3;
    let reweighted = changes / 3;
    let added = changes - removed - reweighted;
    let touched = rand::seq::index::sample(
        &mut rng,
        units.len(),
        (removed + reweighted).min(units.len()),
    );
    let mut gone = vec![false; units.len()];
    let mut factor = vec![1.0; units.len()];
    for (j, i) in touched.into_iter().enumerate() {
        if j < removed {
            gone[i] = true;
        } else {
            factor[i] = rng.random_range(0.5..2.0);
        }
    }
    let mut out: Vec<Unit> = units
        .iter()
        .zip(assignment)
        .enumerate()
        .filter(|(i, _)| !gone[*i])
        .map(|(i, (u, &t))| Unit {
            current: Some(t),
            workload: u.workload * factor[i],
            ..u.clone()
        })
        .collect();
    for _ in 0..added {
        let near = &units[rng.random_range(0..units.len())];
        let dy = 300.0 * normal(&mut rng);
        let dx = 300.0 * normal(&mut rng);
        out.push(Unit {
            lon: near.lon + dx / (M_PER_DEG_LAT * near.lat.to_radians().cos()),
            lat: near.lat + dy / M_PER_DEG_LAT,
            // The set's own scale and spread: a fixed log-mean would carry a unit (minutes) and
            // make new accounts hundreds of times heavier than a set weighed in hours or scores.
            workload: (mean_log + sigma * normal(&mut rng)).exp(),
            fixed: None,
            current: None,
        });
    }
    (out, changes)
}
