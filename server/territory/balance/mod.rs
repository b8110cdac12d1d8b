//! Balanced territory plans: splits a team's accounts into compact, contiguous territories
//! whose yearly workloads are within a tolerance of the mean, respecting pinned accounts,
//! and (stability mode) moving as few accounts as it can from the plan it starts from.
//!
//! Pure and synchronous (no database): call it on a blocking thread. Design, in order (the
//! longer account is `docs/territories-balancing.md`):
//!
//! 1. **Cells.** Accounts go into an adaptive H3 tiling of their bounding box
//!    ([`super::tiling`]): base cells split into children wherever a cell holds more than 1% of a
//!    mean territory's workload (or 2% of its accounts), or accounts pinned to different
//!    territories (in stability mode also accounts in different current territories). Empty
//!    cells join their nearest non-empty cell, making *zones*; territories are sets of zones,
//!    and a territory is contiguous when its zones are connected.
//! 2. **First plan** (fresh mode). Centres from k-means (linfa, on a sample of up to 20,000
//!    accounts, in metres of a local projection) or the reps' home bases; zones assigned by a
//!    power diagram whose weights are tuned until workloads even out, centres moved to their
//!    territories' centroids between rounds (capacity-constrained Lloyd). In stability mode
//!    the first plan is the current one, new accounts' zones joining a neighbouring territory.
//! 3. **Repair.** Each territory keeps its heaviest piece (or the pieces holding its pinned
//!    zones); other pieces go to the territories around them.
//! 4. **Descent.** Boundary zones move from heavier to lighter neighbouring territories, never
//!    a pinned zone, never one whose removal would split its territory, cheapest first
//!    (accounts moved away from their current territory, then added squared distance to
//!    the centre), until every territory is within 60% of the tolerance (fresh) or 90% of it
//!    (stability), or no move helps.
//!    Fresh plans then trade boundary zones (moves and exchanges between neighbours) while
//!    that lowers the squared distances to the centroids within 80% of the tolerance
//!    (`refine::compact`); steps 2-4 run from [`Options::starts`] k-means seedings (four by
//!    default, side by side on the machine's cores), the most compact kept.
//! 5. **Cells out.** The plan is re-tiled the way [`super::metrics`] tiles any plan (cells
//!    split where assignments differ); if a territory came apart there, steps 3-4 run again on
//!    that tiling. [`Outcome::cells`] lists every cell of it with its territory, so the
//!    shapes are exactly the pieces the metrics count.

mod contiguity;
mod power;
pub(crate) mod refine;
pub mod synthetic;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use self::contiguity::{flood, repair};
use self::power::{PowerOptions, kmeans_centres, power_plan};
use self::refine::{Descent, Nodes, Plan, compact, descend};
use super::metrics::{self, PlanMetrics};
use super::tiling::{Graph, NONE, Projection, TileInput, Tiling, Zones, components};
use super::travel::DriveFallback;
use crate::spatial::{H3Cell, LonLat};

/// The account the optimizer places (defined beside the tiling, which the metrics share).
pub use super::tiling::Unit;

/// One territory to make (index = position in the slice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerritorySeed {
    /// The rep's home base, used when seeding at home bases.
    pub home: Option<LonLat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// A new plan from scratch.
    Fresh,
    /// Start from the units' `current` territories and move as little as possible.
    Stability,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Largest allowed relative deviation of a territory's workload from the mean (0.05 is
    /// ±5%).
    pub tolerance: f64,
    pub mode: Mode,
    /// Centre territories on the reps' home bases (those that have one) instead of k-means.
    pub use_home_bases: bool,
    /// Seed of the sampling and k-means randomness: same input and seed, same plan.
    pub rng_seed: u64,
    /// k-means seedings a fresh plan without home bases is made from (the most compact plan
    /// within the compactness band, 80% of the tolerance, is kept); they run side by side on
    /// the machine's cores.
    pub starts: usize,
    /// Drive minutes from each territory's home base to each unit (road travel, e.g. from
    /// OSRM): with `use_home_bases`, a fresh plan measures each zone's reach from the homes
    /// by road rather than in a straight line (first plan, descent and compactness search),
    /// and a stability run chooses the zones it moves by the same reach. Not part of the
    /// plan's stored parameters.
    #[serde(skip)]
    pub drive_minutes: Option<DriveMinutes>,
    /// A slower search after the compactness search, in fresh plans without drive costs
    /// (none by default). Not part of the plan's stored parameters.
    #[serde(skip)]
    pub anneal: Option<Anneal>,
}

/// Simulated annealing over boundary moves after the compactness search (see
/// `refine::anneal`): on 10,000 accounts → 20 territories it makes plans 0.7-2.9 points more
/// compact at 220-410 times the time (1,000 sweeps; docs/benchmarks.md), so it is off by default; the
/// benchmark uses it to see how far the quick search is from what longer search finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anneal {
    /// Sweeps over the boundary zones; the temperature falls to zero over them.
    pub sweeps: usize,
    /// Moves proposed per boundary zone in each sweep.
    pub proposals_per_zone: f64,
    /// Starting temperature, in mean squared distances per account.
    pub start_temperature: f64,
}

/// One-way drive minutes, territory-major: `minutes[t * units + u]`; NaN where territory `t`
/// has no home base (its straight-line distance is used).
#[derive(Debug, Clone, PartialEq)]
pub struct DriveMinutes {
    pub units: usize,
    pub minutes: Vec<f32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tolerance: 0.05,
            mode: Mode::Fresh,
            use_home_bases: false,
            rng_seed: 0x07e2_2a4e,
            starts: DEFAULT_STARTS,
            drive_minutes: None,
            anneal: None,
        }
    }
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Territory index per unit, in the order of the units.
    pub assignment: Vec<u32>,
    pub metrics: PlanMetrics,
    /// Why the plan falls short, if it does (tolerance not reached, pinned accounts apart...).
    pub warnings: Vec<String>,
    /// Every H3 cell of the tiling (mixed resolutions, empty cells included) with its
    /// territory, sorted by cell; each territory's shape is the union of its cells.
    pub cells: Vec<(H3Cell, u32)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BalanceError {
    #[error("a plan needs at least one territory")]
    NoTerritories,
    #[error("{territories} territories for {units} accounts: each territory needs an account")]
    MoreTerritoriesThanUnits { territories: usize, units: usize },
    #[error("tolerance {0} must be above 0 and below 1")]
    InvalidTolerance(f64),
    #[error("account {index}: ({lon}, {lat}) is not a longitude and latitude")]
    InvalidCoordinates { index: usize, lon: f64, lat: f64 },
    #[error("account {index}: workload {workload} must be a finite number, 0 or more")]
    InvalidWorkload { index: usize, workload: f64 },
    #[error("account {index}: territory {territory} does not exist ({territories} territories)")]
    UnknownTerritory {
        index: usize,
        territory: u32,
        territories: usize,
    },
    #[error("drive minutes: expected {expected} values (territories × accounts), got {got}")]
    DriveMinutesShape { expected: usize, got: usize },
}

fn valid_lonlat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

fn validate(
    units: &[Unit],
    territories: &[TerritorySeed],
    options: &Options,
) -> Result<(), BalanceError> {
    let k = territories.len();
    if k == 0 {
        return Err(BalanceError::NoTerritories);
    }
    if units.len() < k {
        return Err(BalanceError::MoreTerritoriesThanUnits {
            territories: k,
            units: units.len(),
        });
    }
    if !(options.tolerance > 0.0 && options.tolerance < 1.0) {
        return Err(BalanceError::InvalidTolerance(options.tolerance));
    }
    for (index, u) in units.iter().enumerate() {
        if !valid_lonlat(u.lon, u.lat) {
            return Err(BalanceError::InvalidCoordinates {
                index,
                lon: u.lon,
                lat: u.lat,
            });
        }
        if !(u.workload.is_finite() && u.workload >= 0.0) {
            return Err(BalanceError::InvalidWorkload {
                index,
                workload: u.workload,
            });
        }
        for territory in [u.fixed, u.current].into_iter().flatten() {
            if territory as usize >= k {
                return Err(BalanceError::UnknownTerritory {
                    index,
                    territory,
                    territories: k,
                });
            }
        }
    }
    if let Some(d) = &options.drive_minutes
        && (d.units != units.len() || d.minutes.len() != k * units.len())
    {
        return Err(BalanceError::DriveMinutesShape {
            expected: k * units.len(),
            got: d.minutes.len(),
        });
    }
    Ok(())
}

/// Makes a balanced plan of `units` into `territories.len()` territories. `progress` is
/// called with the share done, 0 to 1. A tolerance that cannot be met (pinned accounts, a
/// single account heavier than the tolerance allows) still gives the best plan found, with a
/// warning.
///
/// ```
/// use terrane::territory::balance::{Options, TerritorySeed, Unit, balance};
///
/// let units: Vec<Unit> = (0..400)
///     .map(|i| Unit {
///         lon: 2.30 + f64::from(i % 20) * 0.004,
///         lat: 48.84 + f64::from(i / 20) * 0.003,
///         workload: 600.0,
///         fixed: None,
///         current: None,
///     })
///     .collect();
/// let seeds = vec![TerritorySeed { home: None }; 4];
/// let plan = balance(&units, &seeds, &Options::default(), &|_| {}).unwrap();
/// assert!(plan.metrics.max_workload_deviation <= 0.05);
/// assert!(plan.metrics.contiguous);
/// ```
pub fn balance(
    units: &[Unit],
    territories: &[TerritorySeed],
    options: &Options,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Outcome, BalanceError> {
    validate(units, territories, options)?;
    let report = |p: f32| progress(p.clamp(0.0, 1.0));
    report(0.0);
    let k = territories.len();
    let n = units.len();
    let tol = options.tolerance;
    let mut warnings = Vec::new();

    let lonlat: Vec<(f64, f64)> = units.iter().map(|u| (u.lon, u.lat)).collect();
    let mut workload: Vec<f64> = units.iter().map(|u| u.workload).collect();
    if workload.iter().sum::<f64>() <= 0.0 {
        warnings.push(
            "every account has zero workload: territories are balanced on account counts".into(),
        );
        workload = vec![1.0; n];
    }
    let total: f64 = workload.iter().sum();
    let target = total / k as f64;
    let fixed: Vec<u32> = units.iter().map(|u| u.fixed.unwrap_or(NONE)).collect();
    let stability = options.mode == Mode::Stability && units.iter().any(|u| u.current.is_some());
    let current: Vec<u32> = if stability {
        units.iter().map(|u| u.current.unwrap_or(NONE)).collect()
    } else {
        vec![NONE; n]
    };
    let proj = Projection::about(lonlat.iter().copied());
    let xy: Vec<[f64; 2]> = lonlat.iter().map(|&(lon, lat)| proj.xy(lon, lat)).collect();
    let homes: Vec<Option<[f64; 2]>> = territories
        .iter()
        .map(|s| {
            s.home
                .filter(|_| options.use_home_bases)
                .map(|home| proj.xy(home.lon(), home.lat()))
        })
        .collect();

    // 1. Cells and zones.
    let labels: Vec<&[u32]> = if stability {
        vec![&fixed, &current]
    } else {
        vec![&fixed]
    };
    let tiling = Tiling::build(
        &TileInput {
            lonlat: &lonlat,
            workload: &workload,
            labels: &labels,
            territories: k,
        },
        &proj,
    );
    report(0.1);
    let zones = Zones::build(&tiling);
    let (nodes, conflicts) = Nodes::build(&tiling, &zones, &xy, &workload, &fixed, &current);
    if conflicts > 0 {
        warnings.push(format!(
            "{conflicts} places hold accounts pinned to different territories within a few \
             metres of each other; each such cell is drawn in one of them"
        ));
    }
    report(0.15);

    // 2-4. First plan, repair and descent; fresh plans then trade boundary zones for
    // compactness within 80% of the tolerance, from a few k-means seedings, keeping the most
    // compact.
    let descent = Descent {
        target,
        goal: tol * if stability { 0.9 } else { 0.6 },
        stability,
        max_passes: 2_000,
    };
    // Drive times decide the territories' reach: in the first plan, the descent and the
    // compactness search (by road from the home bases instead of straight to the centroids);
    // in stability mode, which zones the descent moves.
    let drive = options
        .drive_minutes
        .as_ref()
        .filter(|_| homes.iter().any(Option::is_some))
        .map(|d| zone_drive_costs(d, &nodes, &zones, &tiling, &xy, &homes));
    let band = (!stability).then_some(tol * COMPACT_BAND);
    // The annealing search measures in straight lines: not with drive costs.
    let anneal = options.anneal.as_ref().filter(|_| drive.is_none());
    let starts = if stability || homes.iter().all(Option::is_some) {
        1
    } else {
        options.starts.max(1)
    };
    // Each start's share done, so that starts running side by side report one figure; summed
    // and reported under the lock, so the figure never goes back.
    let done = Mutex::new(vec![0f32; starts]);
    let run_start = |r: usize| -> Start {
        let step = |p: f32| {
            let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
            done[r] = done[r].max(p.clamp(0.0, 1.0));
            report(0.15 + 0.75 * done.iter().sum::<f32>() / starts as f32);
        };
        let (first, centres): (Vec<u32>, Vec<Option<[f64; 2]>>) = if stability {
            let first = (0..nodes.len())
                .map(|i| {
                    if nodes.fixed[i] == NONE {
                        nodes.current[i]
                    } else {
                        nodes.fixed[i]
                    }
                })
                .collect();
            (first, homes.clone())
        } else {
            let seed = options
                .rng_seed
                .wrapping_add((r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut centres = seed_centres(&xy, &homes, seed);
            let at_homes = homes.iter().any(Option::is_some);
            let power = PowerOptions {
                target,
                goal: tol * 0.6,
                rounds: if at_homes { 1 } else { 40 },
                iterations: 400,
            };
            let first = power_plan(&nodes, &mut centres, drive.as_deref(), &power, &|p| {
                step(0.6 * p);
            });
            (first, centres.into_iter().map(Some).collect())
        };
        let (node_plan, apart) = optimise(
            &zones.graph,
            &nodes,
            first,
            &centres,
            &descent,
            band,
            drive.as_deref(),
            anneal.map(|o| (o, options.rng_seed.wrapping_add(r as u64))),
            &|p| step(0.6 + 0.4 * p),
        );
        let (dev, sse) = plan_score(&nodes, &node_plan, k, target);
        let within = dev <= band.unwrap_or(descent.goal) + 1e-9;
        (within, sse, node_plan, apart, centres)
    };
    // The first of the best, whatever order the starts finished in: the same plan on any
    // number of cores.
    let mut best: Option<Start> = None;
    for start in side_by_side(starts, &run_start) {
        if best
            .as_ref()
            .is_none_or(|b| (start.0 && !b.0) || (start.0 == b.0 && start.1 < b.1))
        {
            best = Some(start);
        }
    }
    let Some((_, _, node_plan, apart, centres)) = best else {
        unreachable!("at least one start");
    };
    if apart > 0 {
        warnings.push(format!(
            "{apart} territories have pinned accounts in places that do not touch: they cannot \
             be one piece"
        ));
    }
    let mut assignment: Vec<u32> = (0..n)
        .map(|u| {
            if fixed[u] == NONE {
                node_plan[zones.leaf_owner[tiling.unit_leaf[u] as usize] as usize]
            } else {
                fixed[u]
            }
        })
        .collect();
    drop(zones);
    drop(tiling);
    drop(nodes);
    report(0.9);

    // 5. The metric's tiling; repair there if a territory came apart.
    let mut round = 0;
    let (tiling, zones, zone_plan) = loop {
        let tiling = Tiling::build(
            &TileInput {
                lonlat: &lonlat,
                workload: &workload,
                labels: &[&assignment],
                territories: k,
            },
            &proj,
        );
        let zones = Zones::build(&tiling);
        let zt = metrics::zone_territories(&tiling, &zones, &assignment, &workload);
        let (_, pieces) = components(&zones.graph, &zt);
        let mut per_territory = vec![0u32; k];
        for &t in &pieces {
            per_territory[t as usize] += 1;
        }
        round += 1;
        if per_territory.iter().all(|&p| p <= 1) || round == 3 {
            break (tiling, zones, zt);
        }
        let (nodes, _) = Nodes::build(&tiling, &zones, &xy, &workload, &fixed, &current);
        // The metric's tiling has other zones than the drive costs: straight lines here.
        let (node_plan, _) = optimise(
            &zones.graph,
            &nodes,
            zt,
            &centres,
            &descent,
            band,
            None,
            None,
            &|_| {},
        );
        for u in 0..n {
            if fixed[u] == NONE {
                assignment[u] = node_plan[zones.leaf_owner[tiling.unit_leaf[u] as usize] as usize];
            }
        }
    };
    report(0.95);

    let cells = cell_list(&tiling, &zones, &zone_plan, &xy, &assignment, k);
    let metrics = metrics::compute_on(units, &assignment, k, None, &proj, &tiling, &zones);
    if metrics.max_workload_deviation > tol + 1e-9 {
        warnings.push(format!(
            "tolerance ±{:.1}% not reached: the largest workload deviation is {:.1}% (pinned \
             accounts or single heavy accounts leave too little to move)",
            tol * 100.0,
            metrics.max_workload_deviation * 100.0
        ));
    }
    if !metrics.contiguous {
        let split: Vec<String> = metrics
            .territories
            .iter()
            .filter(|t| t.pieces > 1)
            .map(|t| t.territory.to_string())
            .collect();
        warnings.push(format!(
            "territories in several pieces: {}",
            split.join(", ")
        ));
    }
    let empty: Vec<String> = metrics
        .territories
        .iter()
        .filter(|t| t.accounts == 0)
        .map(|t| t.territory.to_string())
        .collect();
    if !empty.is_empty() {
        warnings.push(format!(
            "territories without accounts: {}",
            empty.join(", ")
        ));
    }
    report(1.0);
    Ok(Outcome {
        assignment,
        metrics,
        warnings,
        cells,
    })
}

/// One start of steps 2-4: within the compactness band, sum of squared distances, zone plan,
/// territories with pinned zones apart, centres.
type Start = (bool, f64, Vec<u32>, usize, Vec<Option<[f64; 2]>>);

/// k-means seedings tried in fresh mode by default (the most compact plan is kept). Four
/// cost two starts' time on two cores; more gain little (docs/territories-balancing.md).
pub const DEFAULT_STARTS: usize = 4;

/// `f(0..n)` on up to as many threads as the machine has cores, in index order.
fn side_by_side<T: Send>(n: usize, f: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(n);
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    out.sort_unstable_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}
/// Share of the tolerance the compactness search may use.
const COMPACT_BAND: f64 = 0.8;

/// Largest relative workload deviation and sum of squared distances of accounts to their
/// territory's centroid (zones at their accounts' mean) of a zone plan.
fn plan_score(nodes: &Nodes, plan: &[u32], k: usize, target: f64) -> (f64, f64) {
    let mut s = vec![[0.0f64; 4]; k];
    for (i, &t) in plan.iter().enumerate() {
        let t = t as usize;
        s[t][0] += nodes.n[i] * nodes.x[i];
        s[t][1] += nodes.n[i] * nodes.y[i];
        s[t][2] += nodes.n[i];
        s[t][3] += nodes.w[i];
    }
    let mut sse = 0.0;
    for (i, &t) in plan.iter().enumerate() {
        let c = &s[t as usize];
        if c[2] > 0.0 {
            sse += nodes.n[i]
                * ((nodes.x[i] - c[0] / c[2]).powi(2) + (nodes.y[i] - c[1] / c[2]).powi(2));
        }
    }
    let dev = s
        .iter()
        .map(|c| (c[3] - target).abs() / target)
        .fold(0.0, f64::max);
    (dev, sse)
}

/// Most passes of the compactness search after the descent.
const COMPACT_PASSES: usize = 60;

/// Steps 3 and 4 on one zones graph; returns the zone plan and how many territories keep
/// pinned zones apart.
#[allow(clippy::too_many_arguments)]
fn optimise(
    graph: &Graph,
    nodes: &Nodes,
    mut assign: Vec<u32>,
    centres: &[Option<[f64; 2]>],
    descent: &Descent,
    band: Option<f64>,
    drive: Option<&[f64]>,
    anneal: Option<(&Anneal, u64)>,
    progress: &dyn Fn(f32),
) -> (Vec<u32>, usize) {
    let k = centres.len();
    flood(graph, nodes, &mut assign, k);
    let apart = repair(graph, nodes, &mut assign, k);
    let mut plan = Plan::new(graph, nodes, k, assign).by_road(drive);
    plan.seed_empty(centres);
    descend(&mut plan, descent, progress);
    if let Some(band) = band {
        compact(&mut plan, descent.target, band, COMPACT_PASSES);
        if let Some((o, seed)) = anneal {
            refine::anneal(&mut plan, descent.target, band, o, seed);
            compact(&mut plan, descent.target, band, COMPACT_PASSES);
        }
    }
    (plan.assign, apart)
}

/// The power step's distance of each zone to each territory when drive times are given:
/// `(minutes × v)²`, zone-major (`cost[zone * k + t]`), with the zone's minutes the mean over
/// its accounts and `v` the metres per drive minute ([`metres_per_minute`]), so costs are in
/// the same squared metres as the weights; territories without a home base keep the squared
/// straight-line distance.
fn zone_drive_costs(
    d: &DriveMinutes,
    nodes: &Nodes,
    zones: &Zones,
    tiling: &Tiling,
    xy: &[[f64; 2]],
    homes: &[Option<[f64; 2]>],
) -> Vec<f64> {
    let k = homes.len();
    let n = d.units;
    let v = metres_per_minute(d, xy, homes);
    let zn = nodes.len();
    let mut sum = vec![0.0f64; zn * k];
    let mut cnt = vec![0u32; zn * k];
    for u in 0..n {
        let z = zones.leaf_owner[tiling.unit_leaf[u] as usize];
        if z == NONE {
            continue;
        }
        for t in 0..k {
            let m = d.minutes[t * n + u];
            if homes[t].is_some() && m.is_finite() {
                sum[z as usize * k + t] += f64::from(m);
                cnt[z as usize * k + t] += 1;
            }
        }
    }
    let mut cost = vec![0.0f64; zn * k];
    for z in 0..zn {
        for (t, home) in homes.iter().enumerate() {
            let i = z * k + t;
            cost[i] = match *home {
                Some(_) if cnt[i] > 0 => (sum[i] / f64::from(cnt[i]) * v).powi(2),
                Some(h) => (nodes.x[z] - h[0]).powi(2) + (nodes.y[z] - h[1]).powi(2),
                None => f64::NAN,
            };
        }
    }
    cost
}

/// Metres of straight line per drive minute: the inverse of [`DriveFallback`]'s minutes per
/// km, fitted over every finite pair. Estimates a caller made with that same fit for pairs the
/// router could not route lie on its line, so they do not move it.
fn metres_per_minute(d: &DriveMinutes, xy: &[[f64; 2]], homes: &[Option<[f64; 2]>]) -> f64 {
    let n = d.units;
    let pairs = homes.iter().enumerate().flat_map(|(t, home)| {
        home.iter().flat_map(move |h| {
            xy.iter().enumerate().map(move |(u, p)| {
                let km = ((p[0] - h[0]).powi(2) + (p[1] - h[1]).powi(2)).sqrt() / 1000.0;
                (km, f64::from(d.minutes[t * n + u]))
            })
        })
    });
    1000.0 / DriveFallback::fit(pairs).minutes_per_km
}

/// Centres: home bases where given; the rest from k-means, taking the k-means centres
/// farthest from those already chosen.
fn seed_centres(xy: &[[f64; 2]], homes: &[Option<[f64; 2]>], rng_seed: u64) -> Vec<[f64; 2]> {
    let k = homes.len();
    if homes.iter().all(Option::is_some) {
        return homes.iter().map(|h| h.unwrap_or_default()).collect();
    }
    let means = kmeans_centres(xy, k, rng_seed);
    let mut chosen: Vec<[f64; 2]> = homes.iter().flatten().copied().collect();
    let mut left: Vec<[f64; 2]> = means;
    let mut out = Vec::with_capacity(k);
    for h in homes {
        if let Some(h) = h {
            out.push(*h);
        } else {
            let pick = if chosen.is_empty() {
                0
            } else {
                (0..left.len())
                    .max_by(|&a, &b| near(&chosen, left[a]).total_cmp(&near(&chosen, left[b])))
                    .unwrap_or(0)
            };
            let c = left.swap_remove(pick.min(left.len().saturating_sub(1)));
            chosen.push(c);
            out.push(c);
        }
    }
    out
}

fn near(points: &[[f64; 2]], p: [f64; 2]) -> f64 {
    points
        .iter()
        .map(|q| (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2))
        .fold(f64::INFINITY, f64::min)
}

/// Every leaf with its zone's territory; a leaf no zone reached goes to the territory whose
/// accounts' centre is nearest.
fn cell_list(
    tiling: &Tiling,
    zones: &Zones,
    zone_plan: &[u32],
    xy: &[[f64; 2]],
    assignment: &[u32],
    k: usize,
) -> Vec<(H3Cell, u32)> {
    let mut s = vec![[0.0f64; 3]; k];
    for (p, &t) in xy.iter().zip(assignment) {
        s[t as usize][0] += p[0];
        s[t as usize][1] += p[1];
        s[t as usize][2] += 1.0;
    }
    let mut cells: Vec<(H3Cell, u32)> = tiling
        .cells
        .iter()
        .enumerate()
        .map(|(l, &c)| {
            let owner = zones.leaf_owner[l];
            let t = if owner != NONE && zone_plan[owner as usize] != NONE {
                zone_plan[owner as usize]
            } else {
                let p = tiling.centre[l];
                (0..k)
                    .filter(|&t| s[t][2] > 0.0)
                    .min_by(|&a, &b| {
                        let d = |t: usize| {
                            (s[t][0] / s[t][2] - p[0]).powi(2) + (s[t][1] / s[t][2] - p[1]).powi(2)
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap_or(0) as u32
            };
            (H3Cell::from(c), t)
        })
        .collect();
    cells.sort_unstable();
    cells
}

#[cfg(test)]
mod tests;
