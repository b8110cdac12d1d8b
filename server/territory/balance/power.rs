//! The first balanced plan: a power diagram over the zones (each zone goes to the territory
//! minimising squared distance to its centre minus the territory's weight), the weights
//! adjusted until workloads even out, and the centres moved to their territories' centroids
//! between rounds (capacity-constrained Lloyd).

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng as _;

use super::refine::{Nodes, drive_cost};
use crate::territory::tiling::NONE;

/// At most this many accounts go into the k-means that places the first centres.
const KMEANS_SAMPLE: usize = 20_000;
/// Centres considered per zone: the nearest by plain distance, so a territory grows only
/// into its neighbourhood whatever its weight (weights chasing zones out of reach diverge).
const CANDIDATES: usize = 16;
/// Weight updates per Lloyd round between the first and the last (the weights are warm), for
/// 20 territories; more territories get proportionally more (their weights are coupled
/// through more neighbours), up to the first round's count. With a flat 40, 200 territories
/// never got back within the tolerance after a Lloyd step (largest deviation 500-1,600% on the
/// 1M benchmark set) and the descent had to do the balancing: +71.7% MSD, against +49.0% now.
const WARM_ITERATIONS: usize = 40;
/// Largest step of a weight, in squared radii of its territory.
const MAX_GAIN: f64 = 16.0;
/// Bounds of a zone's relative workload per account in the power distance (see
/// `assign_free`): unbounded, a few very heavy or very light zones land inside other
/// territories and the contiguity repair undoes the gain.
const RHO_CLIP: f64 = 2.0;
/// Lloyd rounds stop after this many in a row gain less than 0.03% of compactness.
const STALE_ROUNDS: usize = 4;

/// `k` centres from k-means (linfa) on a uniform sample of the points (metres).
pub(crate) fn kmeans_centres(xy: &[[f64; 2]], k: usize, rng_seed: u64) -> Vec<[f64; 2]> {
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let m = xy.len().min(KMEANS_SAMPLE.max(k * 20));
    let picked: Vec<usize> = if m == xy.len() {
        (0..m).collect()
    } else {
        let mut v = sample(&mut rng, xy.len(), m).into_vec();
        v.sort_unstable();
        v
    };
    // Kilometres keep linfa's absolute convergence tolerance meaningful.
    let mut data = Array2::<f64>::zeros((picked.len(), 2));
    for (r, &i) in picked.iter().enumerate() {
        data[[r, 0]] = xy[i][0] / 1000.0;
        data[[r, 1]] = xy[i][1] / 1000.0;
    }
    let dataset = DatasetBase::from(data);
    let fitted = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(rng_seed))
        .n_runs(1)
        .max_n_iterations(200)
        .tolerance(1e-4)
        .fit(&dataset);
    match fitted {
        Ok(model) => model
            .centroids()
            .rows()
            .into_iter()
            .map(|r| [r[0] * 1000.0, r[1] * 1000.0])
            .collect(),
        // Degenerate inputs (fewer distinct points than centres): random distinct accounts.
        Err(_) => (0..k).map(|_| xy[rng.random_range(0..xy.len())]).collect(),
    }
}

/// Options of [`power_plan`].
pub(crate) struct PowerOptions {
    pub target: f64,
    pub goal: f64,
    /// Most Lloyd rounds (centres move to centroids between rounds; the rounds stop once
    /// three in a row gain less than 0.1% of compactness); 1 keeps centres where they are.
    pub rounds: usize,
    pub iterations: usize,
}

/// Assigns every zone (pinned zones to their territory) by a power diagram balanced on
/// workload. Returns the node assignment and the final centres.
pub(crate) fn power_plan(
    nodes: &Nodes,
    centres: &mut [[f64; 2]],
    drive: Option<&[f64]>,
    o: &PowerOptions,
    progress: &dyn Fn(f32),
) -> Vec<u32> {
    let k = centres.len();
    let n = nodes.len();
    let m = CANDIDATES.min(k);
    let mut fixed_w = vec![0.0; k];
    let free: Vec<u32> = (0..n as u32)
        .filter(|&i| {
            let f = nodes.fixed[i as usize];
            if f != NONE {
                fixed_w[f as usize] += nodes.w[i as usize];
            }
            f == NONE
        })
        .collect();
    // A zone's workload per account relative to the mean: the weight of territory t counts
    // `rho` times for it (see `assign_free`).
    let total_n: f64 = nodes.n.iter().sum();
    let total_w: f64 = nodes.w.iter().sum();
    let per_account = if total_n > 0.0 && total_w > 0.0 {
        total_w / total_n
    } else {
        1.0
    };
    let rho: Vec<f64> = free
        .iter()
        .map(|&i| {
            let i = i as usize;
            if nodes.n[i] > 0.0 {
                (nodes.w[i] / nodes.n[i] / per_account).clamp(1.0 / RHO_CLIP, RHO_CLIP)
            } else {
                1.0
            }
        })
        .collect();
    let mut assign: Vec<u32> = nodes.fixed.clone();
    let mut lambda = vec![0.0f64; k];
    let mut gain = vec![0.3f64; k];
    let mut prev_err = vec![0.0f64; k];
    let mut cand: Vec<(u32, f64)> = vec![(0, 0.0); free.len() * m];
    let mut dist: Vec<(f64, u32)> = Vec::with_capacity(k);
    let mut w = vec![0.0f64; k];
    let mut msd = vec![0.0f64; k];
    let mut last_msd = f64::INFINITY;
    let mut stale = 0;
    for round in 0..o.rounds {
        // Nearest centres of each free zone.
        for (f, &i) in free.iter().enumerate() {
            let (x, y) = (nodes.x[i as usize], nodes.y[i as usize]);
            // Squared distance to each centre: by road where drive costs are given, else (and
            // for a territory without a home) in a straight line.
            let d2 = |t: usize| {
                drive_cost(drive, k, i as usize, t).unwrap_or_else(|| {
                    let c = centres[t];
                    (x - c[0]).powi(2) + (y - c[1]).powi(2)
                })
            };
            dist.clear();
            dist.extend((0..k).map(|t| (d2(t), t as u32)));
            if m < k {
                dist.select_nth_unstable_by(m - 1, |a, b| a.0.total_cmp(&b.0));
            }
            for (slot, &(d, t)) in cand[f * m..(f + 1) * m].iter_mut().zip(&dist[..m]) {
                *slot = (t, d);
            }
        }
        let mut best_dev = f64::INFINITY;
        let mut best: Vec<u32> = Vec::new();
        let last = round + 1 == o.rounds || stale >= STALE_ROUNDS - 1;
        let iterations = if round == 0 || last {
            o.iterations
        } else {
            (WARM_ITERATIONS * k / 20).clamp(WARM_ITERATIONS.min(o.iterations), o.iterations)
        };
        for it in 0..iterations {
            assign_free(
                nodes,
                &free,
                &rho,
                &cand,
                m,
                &lambda,
                &fixed_w,
                &mut assign,
                &mut w,
            );
            let dev = w
                .iter()
                .map(|&x| (x - o.target).abs() / o.target)
                .fold(0.0, f64::max);
            if dev < best_dev {
                best_dev = dev;
                best.clone_from(&assign);
            }
            if dev <= o.goal {
                break;
            }
            if it % 16 == 0 {
                territory_msd(nodes, &assign, centres, &mut msd);
            }
            // Sign-based steps per territory (Rprop): the step grows while the error keeps its
            // sign and halves when it flips, scaled by the territory's squared radius.
            let mean_msd = msd.iter().sum::<f64>() / k as f64;
            for t in 0..k {
                let err = (1.0 - w[t] / o.target).clamp(-0.5, 0.5);
                if err * prev_err[t] < 0.0 {
                    gain[t] = (gain[t] * 0.5).max(1e-3);
                } else {
                    gain[t] = (gain[t] * 1.2).min(MAX_GAIN);
                }
                prev_err[t] = err;
                let scale = msd[t].max(mean_msd * 0.1).max(1.0);
                lambda[t] += gain[t] * scale * err;
            }
        }
        if !best.is_empty() {
            assign = best;
        }
        progress((round + 1) as f32 / o.rounds as f32);
        // Stop when Lloyd steps no longer make the plan more compact.
        territory_msd(nodes, &assign, centres, &mut msd);
        let total_msd: f64 = msd.iter().sum();
        if total_msd < last_msd * (1.0 - 3e-4) {
            stale = 0;
        } else {
            stale += 1;
        }
        last_msd = last_msd.min(total_msd);
        if last {
            break;
        }
        gain.fill(0.05);
        if round + 1 < o.rounds {
            // Lloyd step: centres to their territories' account centroids.
            let mut s = vec![[0.0f64; 3]; k];
            for (i, &t) in assign.iter().enumerate() {
                let t = t as usize;
                s[t][0] += nodes.n[i] * nodes.x[i];
                s[t][1] += nodes.n[i] * nodes.y[i];
                s[t][2] += nodes.n[i];
            }
            for t in 0..k {
                if s[t][2] > 0.0 {
                    centres[t] = [s[t][0] / s[t][2], s[t][1] / s[t][2]];
                }
            }
        }
    }
    assign
}

fn territory_msd(nodes: &Nodes, assign: &[u32], centres: &[[f64; 2]], msd: &mut [f64]) {
    let k = centres.len();
    let mut cnt = vec![0.0; k];
    msd.fill(0.0);
    for (i, &t) in assign.iter().enumerate() {
        let t = t as usize;
        let c = centres[t];
        msd[t] += nodes.n[i] * ((nodes.x[i] - c[0]).powi(2) + (nodes.y[i] - c[1]).powi(2));
        cnt[t] += nodes.n[i];
    }
    for t in 0..k {
        msd[t] = if cnt[t] > 0.0 { msd[t] / cnt[t] } else { 0.0 };
    }
}

/// Each free zone to its candidate territory with the least power distance. The plan
/// minimises the accounts' squared distances to their centres subject to each territory's
/// workload: its Lagrangian gives zone i (n_i accounts, workload w_i) to the territory t
/// minimising `n_i d² - λ_t w_i`, i.e. `d² - λ_t ρ_i` with ρ_i = w_i / n_i (relative to the
/// mean, bounded by [`RHO_CLIP`]), so a heavy zone is worth more reach to a territory short
/// of work.
#[allow(clippy::too_many_arguments)]
fn assign_free(
    nodes: &Nodes,
    free: &[u32],
    rho: &[f64],
    cand: &[(u32, f64)],
    m: usize,
    lambda: &[f64],
    fixed_w: &[f64],
    assign: &mut [u32],
    w: &mut [f64],
) {
    w.copy_from_slice(fixed_w);
    for (f, &i) in free.iter().enumerate() {
        let mut bt = 0u32;
        let mut bv = f64::INFINITY;
        for &(t, d2) in &cand[f * m..(f + 1) * m] {
            let v = d2 - lambda[t as usize] * rho[f];
            if v < bv {
                bv = v;
                bt = t;
            }
        }
        assign[i as usize] = bt;
        w[bt as usize] += nodes.w[i as usize];
    }
}
