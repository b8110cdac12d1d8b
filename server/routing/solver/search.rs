//! The search state (routes, their evaluations, where each stop is) and the penalised
//! objective the local search and the perturbation minimise.

use super::data::{Instance, UNREACHABLE};
use super::eval::{RouteEval, evaluate_stops};
use super::problem::Objective;
use super::segment::{RouteSegs, Seg};

/// A stop that is not on any route.
pub(super) const DROPPED: usize = usize::MAX;

/// Penalty weights are fixed point: a weight of `PENALTY_ONE` charges one cost unit per unit
/// of time warp or excess load.
pub(super) const PENALTY_ONE: i64 = 64;

/// A piece of a proposed route: a prefix or suffix of a current route (O(1) with segments),
/// or a few stops spelled out.
#[derive(Clone, Copy, Debug)]
pub(super) enum Piece<'s> {
    /// The first `len` stops of a route.
    Prefix(usize, usize),
    /// A route's stops from index `from` on.
    Suffix(usize, usize),
    Stops(&'s [usize]),
}

#[derive(Clone)]
pub(super) struct State {
    pub routes: Vec<Vec<usize>>,
    pub evals: Vec<RouteEval>,
    /// `(route, index)` per stop, `route == DROPPED` when left out.
    pub pos: Vec<(usize, usize)>,
    segs: Vec<RouteSegs>,
    /// Sum of each route's service times: with its travel and break, a lower bound on its
    /// day that the min-max moves screen with.
    pub service: Vec<i64>,
    /// Routes changed since the local search last looked (perturbation, insertions).
    pub dirty: Vec<bool>,
}

/// Penalty weights and the per-instance constants of the objective.
#[derive(Clone, Copy, Debug)]
pub(super) struct Weights {
    pub warp: i64,
    pub load: i64,
    /// Min-max only (0 otherwise): the weight of each second a day lasts beyond `target`.
    /// A separable stand-in for the longest day (a route-by-route target that the search
    /// lowers as it finds shorter longest days), so ties at the top do not stall the moves.
    pub longest: i64,
    pub target: i64,
}

impl Weights {
    pub fn penalty(&self, e: &RouteEval) -> i64 {
        if !e.valid {
            return UNREACHABLE;
        }
        (self.warp.saturating_mul(e.warp) + self.load.saturating_mul(e.excess)) / PENALTY_ONE
    }

    /// The longest-day term of a route whose day lasts at least `day`: a lower bound on the
    /// term, which `score` adds to the route's cost.
    pub fn over(&self, day: i64) -> i64 {
        self.longest.saturating_mul((day - self.target).max(0))
    }

    pub fn score(&self, e: &RouteEval) -> i64 {
        let over = self
            .longest
            .saturating_mul((e.duration - self.target).max(0));
        e.cost.saturating_add(self.penalty(e)).saturating_add(over)
    }
}

/// The exact, lexicographic rank of a feasible solution: dropped prizes first, then the
/// objective (longest day then total travel for min-max; the total otherwise).
pub(super) type Rank = (i128, i64, i64);

fn empty_eval() -> RouteEval {
    RouteEval {
        valid: true,
        ..RouteEval::default()
    }
}

impl State {
    pub fn empty(inst: &Instance) -> Self {
        Self {
            routes: vec![Vec::new(); inst.vehicles],
            evals: vec![empty_eval(); inst.vehicles],
            pos: vec![(DROPPED, 0); inst.stops],
            segs: (0..inst.vehicles)
                .map(|v| {
                    if inst.simple {
                        RouteSegs::build(inst, v, &[])
                    } else {
                        RouteSegs::default()
                    }
                })
                .collect(),
            service: vec![0; inst.vehicles],
            dirty: vec![true; inst.vehicles],
        }
    }

    /// Replaces a route's stops and brings everything derived from them up to date.
    pub fn set_route(&mut self, inst: &Instance, route: usize, stops: &[usize]) {
        for &s in &self.routes[route] {
            if self.pos[s].0 == route {
                self.pos[s] = (DROPPED, 0);
            }
        }
        self.routes[route].clear();
        self.routes[route].extend_from_slice(stops);
        for (i, &s) in stops.iter().enumerate() {
            self.pos[s] = (route, i);
        }
        self.service[route] = stops.iter().map(|&s| inst.problem.stops[s].service).sum();
        self.dirty[route] = true;
        if inst.simple {
            self.segs[route] = RouteSegs::build(inst, route, stops);
            self.evals[route] = if stops.is_empty() {
                empty_eval()
            } else {
                let f = &self.segs[route].fwd[stops.len()];
                Seg::concat(inst, f, &self.segs[route].bwd[stops.len()]).route_eval(inst, route)
            };
        } else {
            self.evals[route] = evaluate_stops(inst, route, stops, minmax(inst));
        }
    }

    pub fn len(&self, p: &Piece) -> usize {
        match *p {
            Piece::Prefix(_, len) => len,
            Piece::Suffix(r, from) => self.routes[r].len() - from,
            Piece::Stops(s) => s.len(),
        }
    }

    pub fn materialize(&self, pieces: &[Piece], out: &mut Vec<usize>) {
        out.clear();
        for p in pieces {
            match *p {
                Piece::Prefix(r, len) => out.extend_from_slice(&self.routes[r][..len]),
                Piece::Suffix(r, from) => out.extend_from_slice(&self.routes[r][from..]),
                Piece::Stops(s) => out.extend_from_slice(s),
            }
        }
    }

    /// Evaluates the route `pieces` would make on `vehicle`.
    pub fn eval_pieces(
        &self,
        inst: &Instance,
        vehicle: usize,
        pieces: &[Piece],
        buf: &mut Vec<usize>,
    ) -> RouteEval {
        if pieces.iter().all(|p| self.len(p) == 0) {
            return empty_eval();
        }
        if !inst.simple {
            self.materialize(pieces, buf);
            return evaluate_stops(inst, vehicle, buf, minmax(inst));
        }
        let same = |r: usize| r == vehicle || inst.identical;
        let mut acc = Seg::depot(inst, vehicle, true);
        let mut started = false;
        for p in pieces {
            match *p {
                Piece::Prefix(r, len) if same(r) && !started => {
                    acc = self.segs[r].fwd[len];
                }
                Piece::Suffix(r, from) if same(r) => {
                    acc = Seg::concat(inst, &acc, &self.segs[r].bwd[from]);
                    return acc.route_eval(inst, vehicle);
                }
                Piece::Prefix(r, len) => {
                    for &s in &self.routes[r][..len] {
                        acc = Seg::concat(inst, &acc, &Seg::stop(inst, s));
                    }
                }
                Piece::Suffix(r, from) => {
                    for &s in &self.routes[r][from..] {
                        acc = Seg::concat(inst, &acc, &Seg::stop(inst, s));
                    }
                }
                Piece::Stops(stops) => {
                    for &s in stops {
                        acc = Seg::concat(inst, &acc, &Seg::stop(inst, s));
                    }
                }
            }
            started = true;
        }
        Seg::concat(inst, &acc, &Seg::depot(inst, vehicle, false)).route_eval(inst, vehicle)
    }

    pub fn feasible(&self) -> bool {
        self.evals.iter().all(RouteEval::feasible)
    }

    /// The penalised objective the search minimises.
    pub fn objective(&self, inst: &Instance, w: &Weights) -> i64 {
        let routes = self
            .evals
            .iter()
            .fold(0i64, |sum, e| sum.saturating_add(w.score(e)));
        let dropped = (0..inst.stops)
            .filter(|&s| self.pos[s].0 == DROPPED)
            .fold(0i64, |sum, s| sum.saturating_add(inst.search_prize[s]));
        routes.saturating_add(dropped)
    }

    pub fn rank(&self, inst: &Instance) -> Rank {
        let dropped: i128 = (0..inst.stops)
            .filter(|&s| self.pos[s].0 == DROPPED)
            .map(|s| i128::from(inst.problem.stops[s].prize.max(0)))
            .sum();
        match inst.problem.objective {
            Objective::TotalDistance => (dropped, self.evals.iter().map(|e| e.distance).sum(), 0),
            Objective::TotalDuration => (dropped, self.evals.iter().map(|e| e.travel).sum(), 0),
            Objective::MinMaxDuration => (
                dropped,
                self.longest(),
                self.evals.iter().map(|e| e.travel).sum(),
            ),
        }
    }

    /// Removes a stop from its route.
    pub fn remove(&mut self, inst: &Instance, stop: usize, buf: &mut Vec<usize>) {
        let (r, i) = self.pos[stop];
        if r == DROPPED {
            return;
        }
        buf.clear();
        buf.extend_from_slice(&self.routes[r]);
        buf.remove(i);
        self.set_route(inst, r, buf);
    }

    /// Inserts a dropped stop at `index` of `route`.
    pub fn insert(
        &mut self,
        inst: &Instance,
        stop: usize,
        route: usize,
        index: usize,
        buf: &mut Vec<usize>,
    ) {
        buf.clear();
        buf.extend_from_slice(&self.routes[route]);
        buf.insert(index, stop);
        self.set_route(inst, route, buf);
    }

    pub fn longest(&self) -> i64 {
        self.evals.iter().map(|e| e.duration).max().unwrap_or(0)
    }

    /// Best place for a dropped stop by the penalised objective, among positions next to
    /// its granular neighbours and the empty routes (one when vehicles are identical); every
    /// position when those give nothing. Returns (delta, route, index).
    pub fn best_insertion(
        &self,
        inst: &Instance,
        w: &Weights,
        stop: usize,
        fit: Fit,
        buf: &mut Vec<usize>,
    ) -> Option<(i64, usize, usize)> {
        let mut best: Option<(i64, usize, usize)> = None;
        let single = [stop];
        let mut consider = |route: usize, index: usize, best: &mut Option<(i64, usize, usize)>| {
            if !inst.allowed(stop, route) {
                return;
            }
            let pieces = [
                Piece::Prefix(route, index),
                Piece::Stops(&single),
                Piece::Suffix(route, index),
            ];
            let e = self.eval_pieces(inst, route, &pieces, buf);
            let old = &self.evals[route];
            let fits = match fit {
                Fit::Feasible => e.feasible(),
                Fit::NoWorse => w.penalty(&e) <= w.penalty(old),
                Fit::Penalised => true,
            };
            if !e.valid || !fits {
                return;
            }
            let delta = w.score(&e) - w.score(old);
            if best.is_none_or(|b| delta < b.0) {
                *best = Some((delta, route, index));
            }
        };
        for &n in &inst.neighbours[stop] {
            let (r, i) = self.pos[n];
            if r == DROPPED {
                continue;
            }
            consider(r, i, &mut best);
            consider(r, i + 1, &mut best);
        }
        for r in 0..inst.vehicles {
            if self.routes[r].is_empty() {
                consider(r, 0, &mut best);
                if inst.identical {
                    break;
                }
            }
        }
        if best.is_none() {
            for r in 0..inst.vehicles {
                for i in 0..=self.routes[r].len() {
                    consider(r, i, &mut best);
                }
            }
        }
        best
    }
}

/// Which insertions `best_insertion` may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fit {
    /// The route stays feasible.
    Feasible,
    /// The route's penalty does not grow: how the local search adds a dropped stop, so an
    /// over-full day does not fill up with time warp that the penalties must then undo.
    NoWorse,
    /// Any reachable place, at its penalised cost (putting back what a perturbation took).
    Penalised,
}

pub(super) fn minmax(inst: &Instance) -> bool {
    inst.problem.objective == Objective::MinMaxDuration
}
