//! Plan metrics for any assignment of accounts to territories: workload balance, account
//! counts, value, compactness, contiguity and accounts moved. Pure; used for optimizer plans
//! and for plans edited by hand alike.
//!
//! Definitions (k territories, `W_t` a territory's workload, `W̄` the mean of the `W_t`):
//! - *largest workload deviation* `max_t |W_t - W̄| / W̄`; *largest count deviation* the same
//!   on account counts; *max/mean* `max_t W_t / W̄`;
//! - *coefficient of variation* the population standard deviation of the `W_t` over `W̄`;
//! - *Gini* `Σ_i Σ_j |W_i - W_j| / (2 k² W̄)` (0 for equal workloads);
//! - *MSD* (compactness): the mean over accounts of the squared distance, in m², from the
//!   account to its territory's centre (the mean position of the territory's accounts), in a
//!   local equirectangular projection about the centre of the accounts' bounding box. Lower is
//!   more compact; a territory of accounts spread evenly over a disc of radius r has r²/2;
//! - *pieces*: the connected pieces of a territory's cells (see
//!   [`super::tiling`]: the adaptive H3 tiling with cells split where assignments differ,
//!   each empty cell joined to its nearest non-empty one; a cell belongs to the territory
//!   with most of its workload); *contiguous* when every territory with accounts is one piece;
//! - *moved*: accounts whose assignment differs from their `current` territory (accounts
//!   without a current territory, new ones, are not counted).

use serde::{Deserialize, Serialize};

use super::tiling::{NONE, Projection, TileInput, Tiling, Unit, Zones, components};

/// One territory's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerritoryMetrics {
    /// Territory index.
    pub territory: u32,
    /// Yearly workload, minutes.
    pub workload: f64,
    pub accounts: u64,
    /// Sum of the accounts' value, when values were given.
    pub value: Option<f64>,
    /// `(workload - mean) / mean`.
    pub workload_deviation: f64,
    /// Mean squared distance of its accounts to their centre, m².
    pub msd_m2: f64,
    /// Connected pieces of its cells (0 for a territory without accounts).
    pub pieces: u32,
}

/// A plan's figures (see the module documentation for definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMetrics {
    pub territories: Vec<TerritoryMetrics>,
    pub accounts: u64,
    /// Accounts not counted: assignment out of range or coordinates not finite.
    pub unplaced: u64,
    pub total_workload: f64,
    pub mean_workload: f64,
    pub max_over_mean: f64,
    pub max_workload_deviation: f64,
    pub max_count_deviation: f64,
    pub workload_cv: f64,
    pub workload_gini: f64,
    /// Mean squared distance of accounts to their territory's centre, m².
    pub msd_m2: f64,
    pub contiguous: bool,
    /// Sum of pieces over territories (equal to the number of territories with accounts when
    /// contiguous).
    pub pieces: u32,
    /// Accounts assigned elsewhere than their `current` territory.
    pub moved: u64,
    pub total_value: Option<f64>,
}

/// Metrics of `assignment` (territory index per unit, same order as `units`) over
/// `territories` territories; `values`, when given, holds a value per unit (e.g. yearly
/// euros) summed per territory. Units whose assignment is out of range, or that are missing
/// from a shorter `assignment`, are counted in `unplaced` and nowhere else.
///
/// ```
/// use terrane::territory::balance::Unit;
/// use terrane::territory::metrics::compute;
///
/// let unit = |lon, workload| Unit { lon, lat: 45.0, workload, fixed: None, current: None };
/// let units = [unit(5.0, 100.0), unit(5.001, 100.0), unit(5.1, 300.0)];
/// let m = compute(&units, &[0, 0, 1], 2, None);
/// assert!((m.max_workload_deviation - 0.2).abs() < 1e-12);
/// assert!(m.contiguous);
/// ```
pub fn compute(
    units: &[Unit],
    assignment: &[u32],
    territories: usize,
    values: Option<&[f64]>,
) -> PlanMetrics {
    let proj = Projection::about(units.iter().map(|u| (u.lon, u.lat)));
    let labels: Vec<u32> = (0..units.len())
        .map(|i| match assignment.get(i) {
            Some(&t) if (t as usize) < territories && placeable(&units[i]) => t,
            _ => NONE,
        })
        .collect();
    let lonlat: Vec<(f64, f64)> = units
        .iter()
        .zip(&labels)
        .map(|(u, &l)| {
            if l == NONE {
                (f64::NAN, f64::NAN)
            } else {
                (u.lon, u.lat)
            }
        })
        .collect();
    let workload: Vec<f64> = units.iter().map(|u| u.workload.max(0.0)).collect();
    let tiling = Tiling::build(
        &TileInput {
            lonlat: &lonlat,
            workload: &workload,
            labels: &[&labels],
            territories,
        },
        &proj,
    );
    let zones = Zones::build(&tiling);
    compute_on(units, &labels, territories, values, &proj, &tiling, &zones)
}

fn placeable(u: &Unit) -> bool {
    u.lon.is_finite() && u.lat.is_finite() && u.workload.is_finite()
}

/// The territory of each zone: most workload, then most accounts, then the lowest index.
pub(crate) fn zone_territories(
    tiling: &Tiling,
    zones: &Zones,
    labels: &[u32],
    workload: &[f64],
) -> Vec<u32> {
    zones
        .node_leaf
        .iter()
        .map(|&leaf| {
            let mut tally: Vec<(u32, f64, u32)> = Vec::new();
            for &u in tiling.leaf_units(leaf as usize) {
                let l = labels[u as usize];
                if l == NONE {
                    continue;
                }
                match tally.iter_mut().find(|e| e.0 == l) {
                    Some(e) => {
                        e.1 += workload[u as usize];
                        e.2 += 1;
                    }
                    None => tally.push((l, workload[u as usize], 1)),
                }
            }
            tally
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)).then(b.0.cmp(&a.0)))
                .map_or(NONE, |e| e.0)
        })
        .collect()
}

/// Metrics on a prebuilt tiling (`labels`: the assignment with `NONE` for unplaced units).
pub(crate) fn compute_on(
    units: &[Unit],
    labels: &[u32],
    k: usize,
    values: Option<&[f64]>,
    proj: &Projection,
    tiling: &Tiling,
    zones: &Zones,
) -> PlanMetrics {
    let mut w = vec![0.0f64; k];
    let mut cnt = vec![0u64; k];
    let mut val = vec![0.0f64; k];
    let mut sx = vec![0.0f64; k];
    let mut sy = vec![0.0f64; k];
    let mut unplaced = 0u64;
    let mut moved = 0u64;
    let mut xy = Vec::with_capacity(units.len());
    for (i, u) in units.iter().enumerate() {
        let t = labels[i];
        let p = proj.xy(u.lon, u.lat);
        xy.push(p);
        if t == NONE {
            unplaced += 1;
            continue;
        }
        let ti = t as usize;
        w[ti] += u.workload;
        cnt[ti] += 1;
        if let Some(v) = values.and_then(|v| v.get(i)) {
            val[ti] += v;
        }
        sx[ti] += p[0];
        sy[ti] += p[1];
        if u.current.is_some_and(|c| c != t) {
            moved += 1;
        }
    }
    // Squared distances to the centre, in a second pass (sums of squares lose precision).
    let centre: Vec<[f64; 2]> = (0..k)
        .map(|t| {
            if cnt[t] > 0 {
                [sx[t] / cnt[t] as f64, sy[t] / cnt[t] as f64]
            } else {
                [0.0, 0.0]
            }
        })
        .collect();
    let mut ssd = vec![0.0f64; k];
    for (i, p) in xy.iter().enumerate() {
        let t = labels[i];
        if t != NONE {
            let c = centre[t as usize];
            ssd[t as usize] += (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2);
        }
    }

    let workload: Vec<f64> = units.iter().map(|u| u.workload).collect();
    let zt = zone_territories(tiling, zones, labels, &workload);
    let (_, piece_territory) = components(&zones.graph, &zt);
    let mut pieces = vec![0u32; k];
    for &t in &piece_territory {
        pieces[t as usize] += 1;
    }

    let kf = k.max(1) as f64;
    let total: f64 = w.iter().sum();
    let placed: u64 = cnt.iter().sum();
    let mean = total / kf;
    let mean_n = placed as f64 / kf;
    let rel = |x: f64, m: f64| if m > 0.0 { (x - m) / m } else { 0.0 };
    let territories: Vec<TerritoryMetrics> = (0..k)
        .map(|t| TerritoryMetrics {
            territory: t as u32,
            workload: w[t],
            accounts: cnt[t],
            value: values.map(|_| val[t]),
            workload_deviation: rel(w[t], mean),
            msd_m2: if cnt[t] > 0 {
                ssd[t] / cnt[t] as f64
            } else {
                0.0
            },
            pieces: pieces[t],
        })
        .collect();
    let max_w = w.iter().copied().fold(0.0, f64::max);
    let var = w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / kf;
    let mut sorted = w.clone();
    sorted.sort_by(f64::total_cmp);
    // Gini from sorted values: Σ (2i - k - 1) x_i / (k Σ x), i from 1.
    let gini = if total > 0.0 {
        sorted
            .iter()
            .enumerate()
            .map(|(i, x)| (2.0 * (i as f64 + 1.0) - kf - 1.0) * x)
            .sum::<f64>()
            / (kf * total)
    } else {
        0.0
    };
    PlanMetrics {
        accounts: placed,
        unplaced,
        total_workload: total,
        mean_workload: mean,
        max_over_mean: if mean > 0.0 { max_w / mean } else { 0.0 },
        max_workload_deviation: w.iter().map(|&x| rel(x, mean).abs()).fold(0.0, f64::max),
        max_count_deviation: cnt
            .iter()
            .map(|&c| rel(c as f64, mean_n).abs())
            .fold(0.0, f64::max),
        workload_cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
        workload_gini: gini,
        msd_m2: if placed > 0 {
            ssd.iter().sum::<f64>() / placed as f64
        } else {
            0.0
        },
        contiguous: pieces.iter().all(|&p| p <= 1),
        pieces: pieces.iter().sum(),
        moved,
        total_value: values.map(|_| val.iter().sum()),
        territories,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(lon: f64, lat: f64, workload: f64, current: Option<u32>) -> Unit {
        Unit {
            lon,
            lat,
            workload,
            fixed: None,
            current,
        }
    }

    #[test]
    fn hand_made_plan_has_the_expected_balance_and_compactness() {
        // Territory 0: two accounts 200 m apart east-west; territory 1: one account.
        // At latitude 0, 1° of longitude is 111,195 m (mean Earth radius).
        let d = 200.0 / 111_194.93;
        let units = [
            unit(0.0, 0.0, 100.0, Some(0)),
            unit(d, 0.0, 100.0, Some(1)),
            unit(0.5, 0.0, 400.0, None),
        ];
        let m = compute(&units, &[0, 0, 1], 2, Some(&[10.0, 20.0, 5.0]));
        // Workloads 200 and 400, mean 300.
        assert!((m.mean_workload - 300.0).abs() < 1e-9);
        assert!((m.max_workload_deviation - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.max_over_mean - 4.0 / 3.0).abs() < 1e-12);
        // Population std of {200, 400} is 100: CV 1/3.
        assert!((m.workload_cv - 1.0 / 3.0).abs() < 1e-12);
        // Gini: |200 - 400| * 2 / (2 * 4 * 300) = 1/6.
        assert!((m.workload_gini - 1.0 / 6.0).abs() < 1e-12);
        // Counts 2 and 1, mean 1.5.
        assert!((m.max_count_deviation - 1.0 / 3.0).abs() < 1e-12);
        // Territory 0: both 100 m from the centre: 10,000 m²; territory 1: 0. Over 3
        // accounts: 20,000 / 3.
        assert!((m.territories[0].msd_m2 - 10_000.0).abs() < 1.0);
        assert!((m.msd_m2 - 20_000.0 / 3.0).abs() < 1.0);
        assert_eq!(m.territories[0].value, Some(30.0));
        assert_eq!(m.total_value, Some(35.0));
        assert_eq!(m.moved, 1);
        assert!(m.contiguous);
        assert_eq!(m.pieces, 2);
    }

    #[test]
    fn a_territory_on_both_sides_of_another_has_two_pieces() {
        let units: Vec<Unit> = (0..30)
            .map(|i| unit(7.40 + f64::from(i) * 0.01, 43.7, 1.0, None))
            .collect();
        let assignment: Vec<u32> = (0..30).map(|i| u32::from((10..20).contains(&i))).collect();
        let m = compute(&units, &assignment, 2, None);
        assert_eq!(m.territories[0].pieces, 2);
        assert_eq!(m.territories[1].pieces, 1);
        assert!(!m.contiguous);
    }

    #[test]
    fn equal_workloads_have_zero_gini_and_cv() {
        let units = [unit(1.0, 1.0, 5.0, None), unit(1.1, 1.0, 5.0, None)];
        let m = compute(&units, &[0, 1], 2, None);
        assert_eq!(m.workload_gini, 0.0);
        assert_eq!(m.workload_cv, 0.0);
        assert_eq!(m.max_workload_deviation, 0.0);
    }

    #[test]
    fn out_of_range_assignments_are_unplaced() {
        let units = [unit(1.0, 1.0, 5.0, None), unit(1.1, 1.0, 5.0, None)];
        let m = compute(&units, &[0, 7], 2, None);
        assert_eq!(m.unplaced, 1);
        assert_eq!(m.accounts, 1);
        assert_eq!(m.territories[1].pieces, 0);
    }
}
