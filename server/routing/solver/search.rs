//! The search state (routes, their evaluations, where each stop is) and the penalised
//! objective the local search and the perturbation minimise.

use super::data::{Instance, UNREACHABLE};
use super::eval::{RouteEval, evaluate, evaluate_stops};
use super::problem::Objective;

/// A stop that is not on any route.
pub(super) const DROPPED: usize = usize::MAX;

/// Penalty weights are fixed point: a weight of `PENALTY_ONE` charges one cost unit per unit
/// of time warp or excess load.
pub(super) const PENALTY_ONE: i64 = 64;

#[derive(Clone)]
pub(super) struct State {
    pub routes: Vec<Vec<usize>>,
    pub evals: Vec<RouteEval>,
    /// `(route, index)` per stop, `route == DROPPED` when left out.
    pub pos: Vec<(usize, usize)>,
}

/// Penalty weights and the per-instance constants of the objective.
#[derive(Clone, Copy, Debug)]
pub(super) struct Weights {
    pub warp: i64,
    pub load: i64,
    /// Weight of the longest day for the min-max objective (0 otherwise).
    pub longest: i64,
}

impl Weights {
    pub fn penalty(&self, e: &RouteEval) -> i64 {
        if !e.valid {
            return UNREACHABLE;
        }
        (self.warp.saturating_mul(e.warp) + self.load.saturating_mul(e.excess)) / PENALTY_ONE
    }

    pub fn score(&self, e: &RouteEval) -> i64 {
        e.cost.saturating_add(self.penalty(e))
    }
}

/// The exact, lexicographic rank of a feasible solution: dropped prizes first, then the
/// objective (longest day then total travel for min-max; the total otherwise).
pub(super) type Rank = (i128, i64, i64);

impl State {
    pub fn empty(inst: &Instance) -> Self {
        Self {
            routes: vec![Vec::new(); inst.vehicles],
            evals: vec![
                RouteEval {
                    valid: true,
                    ..RouteEval::default()
                };
                inst.vehicles
            ],
            pos: vec![(DROPPED, 0); inst.stops],
        }
    }

    pub fn reindex(&mut self, route: usize) {
        for (i, &s) in self.routes[route].iter().enumerate() {
            self.pos[s] = (route, i);
        }
    }

    pub fn reevaluate(&mut self, inst: &Instance, route: usize) {
        self.evals[route] = evaluate_stops(inst, route, &self.routes[route], minmax(inst));
    }

    pub fn feasible(&self) -> bool {
        self.evals.iter().all(RouteEval::feasible)
    }

    /// The penalised objective the search minimises.
    pub fn objective(&self, inst: &Instance, w: &Weights) -> i64 {
        let routes: i64 = self.evals.iter().map(|e| w.score(e)).sum();
        let dropped: i64 = (0..inst.stops)
            .filter(|&s| self.pos[s].0 == DROPPED)
            .map(|s| inst.search_prize[s])
            .sum();
        let longest = self.evals.iter().map(|e| e.duration).max().unwrap_or(0);
        routes
            .saturating_add(dropped)
            .saturating_add(w.longest.saturating_mul(longest))
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
                self.evals.iter().map(|e| e.duration).max().unwrap_or(0),
                self.evals.iter().map(|e| e.travel).sum(),
            ),
        }
    }

    /// Removes a stop (its route is re-evaluated).
    pub fn remove(&mut self, inst: &Instance, stop: usize) {
        let (r, i) = self.pos[stop];
        if r == DROPPED {
            return;
        }
        self.routes[r].remove(i);
        self.pos[stop] = (DROPPED, 0);
        self.reindex(r);
        self.reevaluate(inst, r);
    }

    /// Inserts a dropped stop at `index` of `route`.
    pub fn insert(&mut self, inst: &Instance, stop: usize, route: usize, index: usize) {
        self.routes[route].insert(index, stop);
        self.reindex(route);
        self.reevaluate(inst, route);
    }

    /// Longest day over the routes other than `a` and `b`.
    pub fn longest_except(&self, a: usize, b: usize) -> i64 {
        self.evals
            .iter()
            .enumerate()
            .filter(|&(r, _)| r != a && r != b)
            .map(|(_, e)| e.duration)
            .max()
            .unwrap_or(0)
    }

    pub fn longest(&self) -> i64 {
        self.evals.iter().map(|e| e.duration).max().unwrap_or(0)
    }

    /// Best place for a dropped stop by the penalised objective, among positions next to
    /// its granular neighbours and the first empty route each vehicle kind offers; `None`
    /// when every position is unreachable. Returns (delta, route, index, evaluation).
    pub fn best_insertion(
        &self,
        inst: &Instance,
        w: &Weights,
        stop: usize,
        only_feasible: bool,
        buf: &mut Vec<usize>,
    ) -> Option<(i64, usize, usize, RouteEval)> {
        let mut best: Option<(i64, usize, usize, RouteEval)> = None;
        let mut consider = |route: usize, index: usize, best: &mut Option<_>| {
            if !inst.allowed(stop, route) {
                return;
            }
            let seq = &self.routes[route];
            let e = evaluate(
                inst,
                route,
                &[&seq[..index], &[stop], &seq[index..]],
                buf,
                minmax(inst),
            );
            if !e.valid || (only_feasible && !e.feasible()) {
                return;
            }
            let old = &self.evals[route];
            let mut delta = w.score(&e) - w.score(old);
            if w.longest > 0 {
                let other = self.longest_except(route, route);
                delta += w.longest * (other.max(e.duration) - other.max(old.duration));
            }
            if best
                .as_ref()
                .is_none_or(|b: &(i64, usize, usize, RouteEval)| delta < b.0)
            {
                *best = Some((delta, route, index, e));
            }
        };
        let mut tried_empty = false;
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
                if !tried_empty || !inst.simple {
                    consider(r, 0, &mut best);
                }
                tried_empty = true;
            } else if best.is_none() || self.routes[r].len() <= 2 {
                for i in 0..=self.routes[r].len() {
                    consider(r, i, &mut best);
                }
            }
        }
        best
    }
}

pub(super) fn minmax(inst: &Instance) -> bool {
    inst.problem.objective == Objective::MinMaxDuration
}
