//! Terrane's vehicle-routing solver for a rep's day and a team's day (see docs/routing-solver.md).

mod data;
mod eval;
mod exact;
mod ils;
mod local;
mod problem;
mod search;
mod segment;

use std::time::Instant;

pub use problem::{
    Break, Limits, Location, Matrix, Objective, PlacedBreak, Problem, Route, Solution, Stop,
    Vehicle, Visit, Window,
};

use data::Instance;
use search::{DROPPED, State};

/// Plans the routes: every stop on a route or in `dropped`, each route feasible by the rules
/// in [`problem`]'s module documentation, with the times those rules give. Deterministic for
/// a seed when `limits.max_iterations` is set and the time limit is not reached.
pub fn solve(problem: &Problem, limits: &Limits) -> Solution {
    let started = Instant::now();
    let inst = Instance::new(problem);
    let state = if inst.vehicles == 0 || inst.routable.iter().all(|r| !r) {
        State::empty(&inst)
    } else if let Some(exact) = exact::solve(&inst) {
        exact
    } else {
        ils::iterated_local_search(&inst, limits, started)
    };
    to_solution(&inst, &state)
}

fn to_solution(inst: &Instance, st: &State) -> Solution {
    Solution {
        routes: (0..inst.vehicles)
            .map(|r| eval::schedule(inst, r, &st.routes[r]))
            .collect(),
        dropped: (0..inst.stops)
            .filter(|&s| st.pos[s].0 == DROPPED)
            .collect(),
    }
}

#[cfg(test)]
mod tests;
