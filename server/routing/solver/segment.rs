//! O(1) route evaluation by concatenating subsequence data (Vidal, Crainic, Gendreau & Prins
//! 2013, "A hybrid genetic algorithm with adaptive diversity management for a large class of
//! vehicle routing problems with time windows", C&OR 40(1)): duration, time warp, earliest
//! and latest start of each piece. Exact when every stop has at most one window and no
//! vehicle takes a break (`Instance::simple`); the general case goes through `eval`.

use super::data::{Instance, UNREACHABLE};
use super::eval::RouteEval;

/// Data of a subsequence of a route. `first`/`last` are locations; `None` is the pseudo
/// start or end of a vehicle without one (zero travel to and from it).
#[derive(Clone, Copy, Debug)]
pub(super) struct Seg {
    first: Option<usize>,
    last: Option<usize>,
    /// Minimal duration (travel, service, waiting), time warp excluded.
    duration: i64,
    warp: i64,
    earliest: i64,
    latest: i64,
    cost: i64,
    distance: i64,
    travel: i64,
    load: i64,
    valid: bool,
}

impl Seg {
    pub fn stop(inst: &Instance, stop: usize) -> Self {
        let s = &inst.problem.stops[stop];
        let (earliest, latest) = s
            .windows
            .first()
            .map_or((i64::MIN / 4, i64::MAX / 4), |w| (w.start, w.end));
        Self {
            first: Some(s.location),
            last: Some(s.location),
            duration: s.service,
            warp: 0,
            earliest,
            latest,
            cost: 0,
            distance: 0,
            travel: 0,
            load: s.demand,
            valid: true,
        }
    }

    /// The start (or end) of `vehicle`'s route: its location and shift.
    pub fn depot(inst: &Instance, vehicle: usize, at_start: bool) -> Self {
        let v = &inst.problem.vehicles[vehicle];
        let at = if at_start { v.start } else { v.end };
        Self {
            first: at,
            last: at,
            duration: 0,
            warp: 0,
            earliest: v.shift.start,
            latest: v.shift.end,
            cost: 0,
            distance: 0,
            travel: 0,
            load: 0,
            valid: true,
        }
    }

    pub fn concat(inst: &Instance, a: &Self, b: &Self) -> Self {
        let (t, cost, distance) = match (a.last, b.first) {
            (Some(x), Some(y)) => (inst.dur(x, y), inst.cost(x, y), inst.dist(x, y)),
            _ => (0, 0, 0),
        };
        let reachable = t < UNREACHABLE && distance < UNREACHABLE;
        let delta = a.duration - a.warp + t;
        let wait = (b.earliest - delta - a.latest).max(0);
        let warp = (a.earliest + delta - b.latest).max(0);
        Self {
            first: a.first,
            last: b.last,
            duration: a.duration + b.duration + t + wait,
            warp: a.warp + b.warp + warp,
            earliest: (b.earliest - delta).max(a.earliest) - wait,
            latest: (b.latest - delta).min(a.latest) + warp,
            cost: a.cost + b.cost + cost,
            distance: a.distance + b.distance + distance,
            travel: a.travel + b.travel + t,
            load: a.load + b.load,
            valid: a.valid && b.valid && reachable,
        }
    }

    /// The evaluation of a whole route (start ⊕ stops ⊕ end).
    pub fn route_eval(&self, inst: &Instance, vehicle: usize) -> RouteEval {
        let capacity = inst.problem.vehicles[vehicle].capacity;
        RouteEval {
            cost: self.cost,
            distance: self.distance,
            travel: self.travel,
            load: self.load,
            warp: self.warp,
            excess: capacity.map_or(0, |c| (self.load - c).max(0)),
            duration: self.duration,
            valid: self.valid,
        }
    }
}

/// Prefix and suffix data of one route: `fwd[i]` = start ⊕ stops[..i], `bwd[i]` =
/// stops[i..] ⊕ end.
#[derive(Clone, Debug, Default)]
pub(super) struct RouteSegs {
    pub fwd: Vec<Seg>,
    pub bwd: Vec<Seg>,
}

impl RouteSegs {
    pub fn build(inst: &Instance, vehicle: usize, stops: &[usize]) -> Self {
        let mut fwd = Vec::with_capacity(stops.len() + 1);
        let mut acc = Seg::depot(inst, vehicle, true);
        fwd.push(acc);
        for &s in stops {
            acc = Seg::concat(inst, &acc, &Seg::stop(inst, s));
            fwd.push(acc);
        }
        let mut bwd = vec![Seg::depot(inst, vehicle, false); stops.len() + 1];
        for i in (0..stops.len()).rev() {
            bwd[i] = Seg::concat(inst, &Seg::stop(inst, stops[i]), &bwd[i + 1]);
        }
        Self { fwd, bwd }
    }
}
