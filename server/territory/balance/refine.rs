//! Plans over the zones graph: zone data and the balancing descent that
//! moves boundary zones from heavier to lighter neighbouring territories without ever
//! splitting a territory. Contiguity repair is in [`super::contiguity`].

use super::Anneal;
use crate::territory::tiling::{Graph, NONE, Tiling, Zones};

/// What the optimizer knows about each zone (a non-empty leaf and its empty surroundings).
pub(crate) struct Nodes {
    /// Workload, minutes per year.
    pub w: Vec<f64>,
    /// Accounts.
    pub n: Vec<f64>,
    /// Mean projected position of the zone's accounts, metres.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Territory the zone is pinned to (`NONE` when free).
    pub fixed: Vec<u32>,
    /// Territory most of the zone's workload is in today (`NONE` when none is).
    pub current: Vec<u32>,
    /// Accounts of the zone whose current territory is `current`.
    pub cur_n: Vec<f64>,
}

/// The label carrying most workload among `units` (then most units, then the lowest label),
/// with that label's unit count; `NONE` when no unit has a label.
fn majority(units: &[u32], label: &[u32], workload: &[f64]) -> (u32, f64, bool) {
    let mut tally: Vec<(u32, f64, f64)> = Vec::new();
    for &u in units {
        let l = label[u as usize];
        if l == NONE {
            continue;
        }
        match tally.iter_mut().find(|e| e.0 == l) {
            Some(e) => {
                e.1 += workload[u as usize];
                e.2 += 1.0;
            }
            None => tally.push((l, workload[u as usize], 1.0)),
        }
    }
    let mixed = tally.len() > 1;
    let best = tally.into_iter().max_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then(a.2.total_cmp(&b.2))
            .then(b.0.cmp(&a.0))
    });
    match best {
        Some((l, _, c)) => (l, c, mixed),
        None => (NONE, 0.0, false),
    }
}

impl Nodes {
    /// Zone data from the units; also returns how many zones hold units pinned to different
    /// territories (only possible when they sit within a few metres of each other).
    pub(crate) fn build(
        t: &Tiling,
        z: &Zones,
        xy: &[[f64; 2]],
        workload: &[f64],
        fixed: &[u32],
        current: &[u32],
    ) -> (Self, usize) {
        let m = z.len();
        let mut nodes = Self {
            w: Vec::with_capacity(m),
            n: Vec::with_capacity(m),
            x: Vec::with_capacity(m),
            y: Vec::with_capacity(m),
            fixed: Vec::with_capacity(m),
            current: Vec::with_capacity(m),
            cur_n: Vec::with_capacity(m),
        };
        let mut conflicts = 0;
        for &leaf in &z.node_leaf {
            let us = t.leaf_units(leaf as usize);
            let (mut w, mut sx, mut sy) = (0.0, 0.0, 0.0);
            for &u in us {
                w += workload[u as usize];
                sx += xy[u as usize][0];
                sy += xy[u as usize][1];
            }
            let n = us.len() as f64;
            let (f, _, mixed) = majority(us, fixed, workload);
            if mixed {
                conflicts += 1;
            }
            let (c, cn, _) = majority(us, current, workload);
            nodes.w.push(w);
            nodes.n.push(n);
            nodes.x.push(sx / n.max(1.0));
            nodes.y.push(sy / n.max(1.0));
            nodes.fixed.push(f);
            nodes.current.push(c);
            nodes.cur_n.push(cn);
        }
        (nodes, conflicts)
    }

    pub(crate) fn len(&self) -> usize {
        self.w.len()
    }
}

/// A plan being improved: node assignment plus per-territory sums kept up to date.
pub(crate) struct Plan<'a> {
    g: &'a Graph,
    nodes: &'a Nodes,
    /// Squared reach by road of each zone from each territory's home base
    /// (`drive[zone * k + t]`, see [`drive_cost`]), when the plan is measured by road.
    drive: Option<&'a [f64]>,
    pub assign: Vec<u32>,
    pub w: Vec<f64>,
    n: Vec<f64>,
    sx: Vec<f64>,
    sy: Vec<f64>,
    size: Vec<u32>,
    stamp: Vec<u32>,
    generation: u32,
    queue: Vec<u32>,
}

/// How far the articulation check walks before it gives up (and refuses the move).
const REMOVABLE_BUDGET: usize = 256;

impl<'a> Plan<'a> {
    pub(crate) fn new(g: &'a Graph, nodes: &'a Nodes, k: usize, assign: Vec<u32>) -> Self {
        let mut p = Self {
            g,
            nodes,
            drive: None,
            w: vec![0.0; k],
            n: vec![0.0; k],
            sx: vec![0.0; k],
            sy: vec![0.0; k],
            size: vec![0; k],
            stamp: vec![0; assign.len()],
            generation: 0,
            queue: Vec::new(),
            assign,
        };
        for i in 0..p.assign.len() {
            p.add(i, p.assign[i] as usize, 1.0);
        }
        p
    }

    /// Measures the plan by road from the home bases (`drive`, see [`drive_cost`]) instead of
    /// in straight lines to the centroids.
    pub(crate) fn by_road(mut self, drive: Option<&'a [f64]>) -> Self {
        self.drive = drive;
        self
    }

    fn add(&mut self, i: usize, t: usize, sign: f64) {
        let nd = self.nodes;
        self.w[t] += sign * nd.w[i];
        self.n[t] += sign * nd.n[i];
        self.sx[t] += sign * nd.n[i] * nd.x[i];
        self.sy[t] += sign * nd.n[i] * nd.y[i];
        if sign > 0.0 {
            self.size[t] += 1;
        } else {
            self.size[t] -= 1;
        }
    }

    fn move_node(&mut self, i: usize, s: usize) {
        let t = self.assign[i] as usize;
        self.add(i, t, -1.0);
        self.add(i, s, 1.0);
        self.assign[i] = s as u32;
    }

    fn centre(&self, t: usize) -> [f64; 2] {
        if self.n[t] > 0.0 {
            [self.sx[t] / self.n[t], self.sy[t] / self.n[t]]
        } else {
            [0.0, 0.0]
        }
    }

    /// Whether taking node `i` out of its territory leaves the territory in one piece: its
    /// neighbours in the territory must still reach each other (bounded search).
    fn removable(&mut self, i: usize) -> bool {
        let t = self.assign[i];
        let g = self.g;
        let mut want = 0usize;
        let mut first = None;
        for &j in g.neighbours(i) {
            if self.assign[j as usize] == t {
                want += 1;
                first.get_or_insert(j);
            }
        }
        let Some(first) = first else {
            return false;
        };
        if want == 1 {
            return true;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
        let gen_ = self.generation;
        self.stamp[i] = gen_;
        self.stamp[first as usize] = gen_;
        self.queue.clear();
        self.queue.push(first);
        let mut found = 0usize;
        let mut head = 0;
        // Neighbours of `i` in `t` found so far (first counts).
        let is_nb = |j: u32| g.neighbours(i).contains(&j);
        found += 1;
        while head < self.queue.len() {
            if found == want {
                return true;
            }
            if head > REMOVABLE_BUDGET {
                return false;
            }
            let u = self.queue[head] as usize;
            head += 1;
            for &v in g.neighbours(u) {
                let vu = v as usize;
                if self.stamp[vu] != gen_ && self.assign[vu] == t {
                    self.stamp[vu] = gen_;
                    if is_nb(v) {
                        found += 1;
                    }
                    self.queue.push(v);
                }
            }
        }
        found == want
    }

    /// Calls `f` with each territory other than zone `i`'s own that a neighbour of `i` is in,
    /// once each (the first eight remembered; past them a territory may come again).
    fn for_each_other_territory(&self, i: usize, mut f: impl FnMut(usize)) {
        let t = self.assign[i];
        let mut seen: [u32; 8] = [NONE; 8];
        let mut seen_n = 0;
        for &j in self.g.neighbours(i) {
            let s = self.assign[j as usize];
            if s == t || seen[..seen_n].contains(&s) {
                continue;
            }
            if seen_n < seen.len() {
                seen[seen_n] = s;
                seen_n += 1;
            }
            f(s as usize);
        }
    }

    pub(crate) fn max_deviation(&self, target: f64) -> f64 {
        self.w
            .iter()
            .map(|&w| (w - target).abs() / target)
            .fold(0.0, f64::max)
    }

    /// Gives each territory without zones one zone: the free, removable zone nearest its
    /// centre (`centres[t]`, or the boundary of the heaviest territory when none).
    pub(crate) fn seed_empty(&mut self, centres: &[Option<[f64; 2]>]) {
        let k = self.w.len();
        for t in 0..k {
            if self.size[t] > 0 {
                continue;
            }
            let heaviest = (0..k)
                .max_by(|&a, &b| self.w[a].total_cmp(&self.w[b]))
                .unwrap_or(0);
            let c = centres.get(t).copied().flatten().unwrap_or_else(|| {
                // Far side of the heaviest territory from its centre.
                let hc = self.centre(heaviest);
                let far = (0..self.assign.len())
                    .filter(|&i| self.assign[i] as usize == heaviest)
                    .max_by(|&a, &b| {
                        let da =
                            (self.nodes.x[a] - hc[0]).powi(2) + (self.nodes.y[a] - hc[1]).powi(2);
                        let db =
                            (self.nodes.x[b] - hc[0]).powi(2) + (self.nodes.y[b] - hc[1]).powi(2);
                        da.total_cmp(&db)
                    });
                far.map_or(hc, |i| [self.nodes.x[i], self.nodes.y[i]])
            });
            let mut order: Vec<usize> = (0..self.assign.len())
                .filter(|&i| self.nodes.fixed[i] == NONE && self.size[self.assign[i] as usize] > 1)
                .collect();
            order.sort_by(|&a, &b| {
                let da = (self.nodes.x[a] - c[0]).powi(2) + (self.nodes.y[a] - c[1]).powi(2);
                let db = (self.nodes.x[b] - c[0]).powi(2) + (self.nodes.y[b] - c[1]).powi(2);
                da.total_cmp(&db)
            });
            for i in order {
                if self.removable(i) {
                    self.move_node(i, t);
                    break;
                }
            }
        }
    }
}

/// What the descent aims for.
pub(crate) struct Descent {
    /// Mean workload per territory.
    pub target: f64,
    /// Stop once every territory is within this relative deviation.
    pub goal: f64,
    /// Prefer moves that keep accounts in their current territory.
    pub stability: bool,
    pub max_passes: usize,
}

/// Moves boundary zones between neighbouring territories until every territory is within
/// `goal` of the target, or no move helps. A move of zone `i` from `t` to `s` needs `i` free,
/// touching `s`, removable from `t` without splitting it, and
/// `W_t - W_s > w_i` (so the sum of squared deviations falls); in the strict stage one of
/// the two must also be outside the goal, in the relaxed stages their difference must exceed
/// a threshold that shrinks to zero. Among the allowed moves the cheapest go first: in stability
/// mode the change in accounts moved away from their current territory, then the change in
/// squared distance to the territories' centres (by road from the home bases where `drive`
/// costs are given: see [`pair_costs`]).
pub(crate) fn descend(plan: &mut Plan<'_>, o: &Descent, progress: &dyn Fn(f32)) {
    let nodes = plan.nodes;
    let drive = plan.drive;
    let k = plan.w.len();
    let hi = o.target * (1.0 + o.goal);
    let lo = o.target * (1.0 - o.goal);
    // Scale of the compactness cost: the mean squared distance per account, in the terms the
    // moves are costed in (by road from the home base where drive costs are given), so that
    // in stability mode the weight of an account moved away means the same either way.
    let mut msd = 0.0;
    let mut total_n = 0.0;
    for i in 0..plan.assign.len() {
        let t = plan.assign[i] as usize;
        let d = drive_cost(drive, k, i, t).unwrap_or_else(|| {
            let c = plan.centre(t);
            (nodes.x[i] - c[0]).powi(2) + (nodes.y[i] - c[1]).powi(2)
        });
        msd += nodes.n[i] * d;
        total_n += nodes.n[i];
    }
    let scale = if msd > 0.0 { msd / total_n } else { 1.0 };
    let relaxed = [f64::NAN, 0.5, 0.25, 0.1, 0.0];
    let mut stage = 0usize;
    let mut cands: Vec<(f64, u32, u32)> = Vec::new();
    let start_dev = plan.max_deviation(o.target).max(o.goal);
    for _pass in 0..o.max_passes {
        let dev = plan.max_deviation(o.target);
        if dev <= o.goal {
            break;
        }
        progress(((start_dev - dev) / (start_dev - o.goal)).clamp(0.0, 1.0) as f32);
        let delta = relaxed[stage] * o.goal * o.target;
        let admissible = |w: &[f64], t: usize, s: usize, wi: f64| -> bool {
            let (wt, ws) = (w[t], w[s]);
            if wt - ws <= wi {
                return false;
            }
            if stage == 0 {
                wt > hi || ws < lo
            } else {
                wt - ws > wi + delta
            }
        };
        cands.clear();
        let centres: Vec<[f64; 2]> = (0..k).map(|t| plan.centre(t)).collect();
        for i in 0..plan.assign.len() {
            if nodes.fixed[i] != NONE {
                continue;
            }
            let t = plan.assign[i] as usize;
            if plan.size[t] <= 1 {
                continue;
            }
            plan.for_each_other_territory(i, |s| {
                if !admissible(&plan.w, t, s, nodes.w[i]) {
                    return;
                }
                let (ct, cs) = (centres[t], centres[s]);
                let (d_t, d_s) = pair_costs(drive, k, i, t, s).unwrap_or_else(|| {
                    (
                        (nodes.x[i] - ct[0]).powi(2) + (nodes.y[i] - ct[1]).powi(2),
                        (nodes.x[i] - cs[0]).powi(2) + (nodes.y[i] - cs[1]).powi(2),
                    )
                });
                let mut cost = nodes.n[i] * (d_s - d_t) / scale;
                if o.stability {
                    let c = nodes.current[i];
                    let moved = if c as usize == t {
                        nodes.cur_n[i]
                    } else if c as usize == s {
                        -nodes.cur_n[i]
                    } else {
                        0.0
                    };
                    cost += moved * 10.0;
                }
                cands.push((cost, i as u32, s as u32));
            });
        }
        cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut applied = 0usize;
        for &(_, i, s) in &cands {
            let (i, s) = (i as usize, s as usize);
            let t = plan.assign[i] as usize;
            if t == s || plan.size[t] <= 1 || !admissible(&plan.w, t, s, nodes.w[i]) {
                continue;
            }
            let touches = plan
                .g
                .neighbours(i)
                .iter()
                .any(|&j| plan.assign[j as usize] as usize == s);
            if !touches || !plan.removable(i) {
                continue;
            }
            plan.move_node(i, s);
            applied += 1;
        }
        if applied == 0 {
            stage += 1;
            if stage == relaxed.len() {
                break;
            }
        } else {
            stage = 0;
        }
    }
}

/// Zones of a neighbouring territory tried in exchange for one that cannot move alone.
const EXCHANGE_CANDIDATES: usize = 24;

/// Change of the sum of squared distances of accounts to their territory's centroid when
/// zone `i` moves from `t` to `s` (negative: more compact), the centroids moving with it.
fn move_delta(plan: &Plan<'_>, i: usize, t: usize, s: usize) -> f64 {
    let nd = plan.nodes;
    let ni = nd.n[i];
    if ni <= 0.0 {
        return 0.0;
    }
    let (x, y) = (nd.x[i], nd.y[i]);
    let (nt, ns) = (plan.n[t], plan.n[s]);
    let removed = if nt > ni {
        let c = plan.centre(t);
        ni * nt / (nt - ni) * ((x - c[0]).powi(2) + (y - c[1]).powi(2))
    } else {
        0.0
    };
    let added = if ns > 0.0 {
        let c = plan.centre(s);
        ni * ns / (ns + ni) * ((x - c[0]).powi(2) + (y - c[1]).powi(2))
    } else {
        0.0
    };
    added - removed
}

/// Zone `i`'s squared reach by road from territory `t`'s home base (`drive[i * k + t]`,
/// squared metres at the fitted drive speed), when drive costs are given and `t` has a home.
pub(crate) fn drive_cost(drive: Option<&[f64]>, k: usize, i: usize, t: usize) -> Option<f64> {
    drive.map(|c| c[i * k + t]).filter(|c| c.is_finite())
}

/// [`drive_cost`] to territories `t` and `s`, when both have one.
fn pair_costs(drive: Option<&[f64]>, k: usize, i: usize, t: usize, s: usize) -> Option<(f64, f64)> {
    Some((drive_cost(drive, k, i, t)?, drive_cost(drive, k, i, s)?))
}

/// Change of the compactness cost when zone `i` moves from `t` to `s`: by road from the two
/// home bases where `drive` gives both ([`pair_costs`]), else [`move_delta`].
fn cost_delta(plan: &Plan<'_>, i: usize, t: usize, s: usize) -> f64 {
    match pair_costs(plan.drive, plan.w.len(), i, t, s) {
        Some((ct, cs)) => plan.nodes.n[i] * (cs - ct),
        None => move_delta(plan, i, t, s),
    }
}

/// Whether a territory's workload going from `old` to `new` keeps it within `limit` of the
/// target, or no farther from it than it was.
fn within_band(target: f64, limit: f64, new: f64, old: f64) -> bool {
    (new - target).abs() <= limit.max((old - target).abs())
}

/// Whether node `i` (free, in a territory of several zones) touches territory `s`.
fn touches(plan: &Plan<'_>, i: usize, s: usize) -> bool {
    plan.g
        .neighbours(i)
        .iter()
        .any(|&j| plan.assign[j as usize] as usize == s)
}

/// Compactness search after balancing: boundary zones move to a neighbouring territory, or
/// are exchanged with a zone of it, when that lowers the sum of squared distances of accounts
/// to their territories' centroids (with `drive` costs: the squared reach by road from the
/// home bases), every territory staying within `band` of the target (or no farther from it
/// than it was), never a pinned zone, never splitting a territory.
pub(crate) fn compact(plan: &mut Plan<'_>, target: f64, band: f64, max_passes: usize) {
    let nodes = plan.nodes;
    let k = plan.w.len();
    let limit = band * target;
    let fits = |new: f64, old: f64| within_band(target, limit, new, old);
    let mut cands: Vec<(f64, u32, u32)> = Vec::new();
    let mut buckets: std::collections::HashMap<u64, Vec<u32>> = std::collections::HashMap::new();
    let key = |t: usize, s: usize| (t * k + s) as u64;
    let sse = total_cost(plan);
    for _pass in 0..max_passes {
        cands.clear();
        buckets.clear();
        for i in 0..plan.assign.len() {
            if nodes.fixed[i] != NONE {
                continue;
            }
            let t = plan.assign[i] as usize;
            if plan.size[t] <= 1 {
                continue;
            }
            plan.for_each_other_territory(i, |s| {
                cands.push((cost_delta(plan, i, t, s), i as u32, s as u32));
            });
        }
        cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (c, &(_, i, s)) in cands.iter().enumerate() {
            let t = plan.assign[i as usize] as usize;
            let e = buckets.entry(key(t, s as usize)).or_default();
            if e.len() < EXCHANGE_CANDIDATES {
                e.push(c as u32);
            }
        }
        let mut gained = 0.0;
        for c in 0..cands.len() {
            let (d0, i, s) = cands[c];
            if d0 >= 0.0 {
                break;
            }
            let (i, s) = (i as usize, s as usize);
            let t = plan.assign[i] as usize;
            if t == s || plan.size[t] <= 1 || !touches(plan, i, s) {
                continue;
            }
            let d = cost_delta(plan, i, t, s);
            if d >= 0.0 {
                continue;
            }
            let wi = nodes.w[i];
            let (wt, ws) = (plan.w[t], plan.w[s]);
            if fits(wt - wi, wt) && fits(ws + wi, ws) {
                if plan.removable(i) {
                    plan.move_node(i, s);
                    gained -= d;
                }
                continue;
            }
            // Exchange: `i` to `s`, a zone of `s` to `t`.
            let Some(back) = buckets.get(&key(s, t)) else {
                continue;
            };
            if !plan.removable(i) {
                continue;
            }
            plan.move_node(i, s);
            let mut done = false;
            for &cj in back {
                let j = cands[cj as usize].1 as usize;
                if j == i || plan.assign[j] as usize != s || plan.size[s] <= 1 {
                    continue;
                }
                let wj = nodes.w[j];
                if !(fits(wt - wi + wj, wt) && fits(ws + wi - wj, ws)) {
                    continue;
                }
                let dj = cost_delta(plan, j, s, t);
                if d + dj >= 0.0 || !touches(plan, j, t) || !plan.removable(j) {
                    continue;
                }
                plan.move_node(j, t);
                gained -= d + dj;
                done = true;
                break;
            }
            if !done {
                plan.move_node(i, t);
            }
        }
        if gained <= sse * 1e-4 {
            break;
        }
    }
}

/// Simulated annealing after [`compact`] (optional: [`Anneal`]). Sweeps list the free
/// boundary zones; each sweep proposes `o.proposals_per_zone` moves per listed zone, each a
/// random listed zone to a random neighbouring territory, allowed when both territories stay
/// within `band` of the target (or come no farther from it) and the zone's territory stays in
/// one piece. A move that adds `d` to the sum of squared distances to the centroids is taken
/// with probability `exp(-d / T)`, `T` falling from `o.start_temperature` × the mean squared
/// distance per account to zero, quadratically over the sweeps. The plan ends as the most
/// compact one visited (never less compact than it started). Straight lines only: a plan
/// measured by road is left as it is. Returns the relative gain.
pub(crate) fn anneal(plan: &mut Plan<'_>, target: f64, band: f64, o: &Anneal, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    let nodes = plan.nodes;
    let k = plan.w.len();
    let limit = band * target;
    let fits = |new: f64, old: f64| within_band(target, limit, new, old);
    let total_n: f64 = nodes.n.iter().sum();
    if plan.drive.is_some() {
        return 0.0;
    }
    let start = total_cost(plan);
    if start <= 0.0 || total_n <= 0.0 {
        return 0.0;
    }
    let scale = start / total_n;
    let (mut sse, mut best) = (start, start);
    let mut best_assign = plan.assign.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut boundary: Vec<u32> = Vec::new();
    for sweep in 0..o.sweeps {
        let temp = o.start_temperature * scale * (1.0 - sweep as f64 / o.sweeps as f64).powi(2);
        boundary.clear();
        boundary.extend(
            (0..plan.assign.len())
                .filter(|&i| {
                    nodes.fixed[i] == NONE
                        && plan
                            .g
                            .neighbours(i)
                            .iter()
                            .any(|&j| plan.assign[j as usize] != plan.assign[i])
                })
                .map(|i| i as u32),
        );
        if boundary.is_empty() {
            break;
        }
        let proposals = (boundary.len() as f64 * o.proposals_per_zone) as usize;
        for _ in 0..proposals {
            let i = boundary[rng.random_range(0..boundary.len())] as usize;
            let t = plan.assign[i] as usize;
            if plan.size[t] <= 1 {
                continue;
            }
            let mut other = [0usize; 8];
            let mut on = 0;
            plan.for_each_other_territory(i, |s| {
                if on < other.len() {
                    other[on] = s;
                    on += 1;
                }
            });
            if on == 0 {
                continue;
            }
            let s = other[rng.random_range(0..on)];
            let wi = nodes.w[i];
            if !(fits(plan.w[t] - wi, plan.w[t]) && fits(plan.w[s] + wi, plan.w[s])) {
                continue;
            }
            let d = move_delta(plan, i, t, s);
            if d > 0.0 && (temp <= 0.0 || rng.random::<f64>() >= (-d / temp).exp()) {
                continue;
            }
            if !plan.removable(i) {
                continue;
            }
            plan.move_node(i, s);
            sse += d;
            if sse < best {
                best = sse;
                best_assign.clone_from(&plan.assign);
            }
        }
    }
    *plan = Plan::new(plan.g, nodes, k, best_assign).by_road(plan.drive);
    1.0 - best / start
}

/// The compactness search's objective: each zone's squared distance to its territory's
/// centroid, or its squared reach by road from the home base where `drive` gives one.
fn total_cost(plan: &Plan<'_>) -> f64 {
    let nd = plan.nodes;
    let k = plan.w.len();
    let centres: Vec<[f64; 2]> = (0..k).map(|t| plan.centre(t)).collect();
    (0..plan.assign.len())
        .map(|i| {
            let t = plan.assign[i] as usize;
            let c = centres[t];
            nd.n[i]
                * drive_cost(plan.drive, k, i, t)
                    .unwrap_or_else(|| (nd.x[i] - c[0]).powi(2) + (nd.y[i] - c[1]).powi(2))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::super::contiguity::repair;
    use super::*;
    use crate::territory::tiling::components;

    /// A path graph 0-1-2-...-(n-1) with unit weights.
    fn path(n: usize) -> (Graph, Nodes) {
        let edges = (0..n - 1).map(|i| (i as u32, i as u32 + 1)).collect();
        let g = Graph::from_edges(n, edges);
        let nodes = Nodes {
            w: vec![1.0; n],
            n: vec![1.0; n],
            x: (0..n).map(|i| i as f64).collect(),
            y: vec![0.0; n],
            fixed: vec![NONE; n],
            current: vec![NONE; n],
            cur_n: vec![0.0; n],
        };
        (g, nodes)
    }

    #[test]
    fn repair_hands_stray_pieces_to_neighbours() {
        let (g, nodes) = path(6);
        let mut assign = vec![0, 0, 1, 0, 1, 1];
        repair(&g, &nodes, &mut assign, 2);
        let (_, pieces) = components(&g, &assign);
        assert_eq!(pieces.len(), 2, "{assign:?}");
    }

    #[test]
    fn descent_balances_a_path_without_splitting() {
        let (g, nodes) = path(20);
        let mut assign = vec![0u32; 20];
        assign[19] = 1;
        let mut plan = Plan::new(&g, &nodes, 2, assign);
        descend(
            &mut plan,
            &Descent {
                target: 10.0,
                goal: 0.05,
                stability: false,
                max_passes: 100,
            },
            &|_| {},
        );
        assert_eq!(plan.w, vec![10.0, 10.0]);
        let (_, pieces) = components(&g, &plan.assign);
        assert_eq!(pieces.len(), 2);
    }

    #[test]
    fn pinned_zones_never_move() {
        let (g, mut nodes) = path(10);
        nodes.fixed[8] = 1;
        nodes.fixed[9] = 1;
        let assign = vec![1u32; 10];
        let mut plan = Plan::new(&g, &nodes, 2, assign);
        plan.seed_empty(&[Some([0.0, 0.0]), None]);
        descend(
            &mut plan,
            &Descent {
                target: 5.0,
                goal: 0.0,
                stability: false,
                max_passes: 100,
            },
            &|_| {},
        );
        assert_eq!(plan.assign[8], 1);
        assert_eq!(plan.assign[9], 1);
        assert_eq!(plan.w, vec![5.0, 5.0]);
    }
}
