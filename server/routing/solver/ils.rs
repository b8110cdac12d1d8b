//! Iterated local search with late-acceptance hill climbing (Burke & Bykov 2017), as PyVRP
//! runs it since 0.13: perturb the current solution (remove a stop and its neighbours, put
//! them back at their best places), improve it with the local search, accept it when it beats
//! the cost held `HISTORY` iterations ago. Penalty weights adapt to keep about 65% of the
//! local optima feasible; the best feasible solution by the exact rank is kept.

use std::time::Instant;

use super::data::{Instance, Rng};
use super::local::LocalSearch;
use super::problem::{Limits, Objective};
use super::search::{DROPPED, Fit, PENALTY_ONE, Rank, State, Weights};

const HISTORY: usize = 300;
/// Up to this many stops the construction picks by prize per added cost.
const RATIO_GREEDY_MAX: usize = 120;
/// Iterations between penalty updates, and, for the first `EARLY_ITERATIONS`, the shorter
/// period that lets a short run (0.1 s: 30-60 iterations) adapt its weights at all.
const PENALTY_PERIOD: u64 = 40;
const EARLY_PERIOD: u64 = 10;
const EARLY_ITERATIONS: u64 = 100;
const REPAIR_FACTOR: i64 = 10;
/// The first descent runs with penalties this many times the cost scale, so it ends feasible
/// (a good solution within milliseconds) ...
const INITIAL_FACTOR: i64 = 10;
/// ... and the iterations start from this many times the cost scale: at one, the first local
/// optima after the descent were mostly infeasible until the weights had grown, which at
/// 0.1 s was most of the run.
const ITERATION_FACTOR: i64 = 3;
const TARGET_FEASIBLE: f64 = 0.65;
/// Weight of the longest day in the min-max search objective (travel seconds per second a
/// day lasts beyond the target).
const LONGEST_WEIGHT: i64 = 3;
/// Min-max: until this tenth of the budget, the search plans the least driving (the
/// longest-day term off); the balancing then starts from a plan that drives little.
const BALANCE_FROM: u64 = 3;
/// Iterations without a better plan after which the search stops early (a small day has
/// usually converged long before its time limit).
const STALL_LIMIT: u64 = 5_000;
/// Min-max: from this tenth of the budget on, the best longest day becomes a cap (each second
/// over it weighs `POLISH_WEIGHT` travel seconds) and the search minimises travel under it.
const POLISH_FROM: u64 = 7;
const POLISH_WEIGHT: i64 = 1_000;
/// The min-max target sits this fraction (1/n) below the best longest day.
const TARGET_STEP: i64 = 100;

pub(super) fn initial_weights(inst: &Instance) -> Weights {
    let (mut cost, mut dur, mut arcs) = (0i128, 0i128, 0i128);
    let locations: Vec<usize> = (0..inst.stops)
        .filter(|&s| inst.routable[s])
        .map(|s| inst.location(s))
        .collect();
    for &a in locations.iter().take(200) {
        for &b in locations.iter().take(200) {
            if a != b {
                cost += i128::from(inst.cost(a, b));
                dur += i128::from(inst.dur(a, b));
                arcs += 1;
            }
        }
    }
    let warp = if dur > 0 {
        (cost * i128::from(PENALTY_ONE) / dur).clamp(1, 1 << 20) as i64
    } else {
        PENALTY_ONE
    };
    let demand: i64 = inst
        .problem
        .stops
        .iter()
        .map(|s| s.demand.max(0))
        .sum::<i64>()
        / (inst.stops.max(1) as i64);
    let avg_cost = if arcs > 0 { (cost / arcs) as i64 } else { 1 };
    let load = (avg_cost.max(1) * PENALTY_ONE / demand.max(1)).clamp(1, 1 << 30);
    Weights {
        warp,
        load,
        longest: 0,
        target: 0,
    }
}

/// Cheapest feasible insertion of each stop, most valuable first.
pub(super) fn construct(inst: &Instance, w: &Weights, stop: &dyn Fn() -> bool) -> State {
    let mut st = State::empty(inst);
    let mut order: Vec<usize> = (0..inst.stops).filter(|&s| inst.routable[s]).collect();
    order.sort_by_key(|&s| {
        let last_end = inst.problem.stops[s]
            .windows
            .last()
            .map_or(i64::MAX, |w| w.end);
        (std::cmp::Reverse(inst.search_prize[s]), last_end, s)
    });
    let mut buf = Vec::new();
    if order.len() <= RATIO_GREEDY_MAX && !inst.simple {
        // Small days with breaks or opening hours (a rep's day, usually more stops than
        // fit): repeatedly insert the stop with the best prize per unit of added cost (the
        // usual greedy for prize-collecting routing), so a full day keeps more stops. Plain
        // windows (Solomon) keep the quicker one-pass insertion.
        let mut scale = 1;
        for a in order.iter().take(50) {
            for b in order.iter().take(50) {
                scale = scale.max(inst.cost(inst.location(*a), inst.location(*b)) / 50);
            }
        }
        loop {
            if stop() {
                break;
            }
            let mut pick: Option<((u32, i128), usize, usize, usize)> = None;
            for &s in &order {
                if st.pos[s].0 != DROPPED {
                    continue;
                }
                if let Some((delta, r, i)) = st.best_insertion(inst, w, s, Fit::Feasible, &mut buf)
                {
                    // Prize tier first (a higher order of magnitude always wins, as the
                    // lexicographic prizes want), then prize per added cost.
                    let prize = inst.problem.stops[s].prize.max(1);
                    let value = (
                        prize.ilog10(),
                        i128::from(prize) * 1_000 / i128::from(delta.max(0) + scale.max(1)),
                    );
                    if pick.is_none_or(|p| value > p.0) {
                        pick = Some((value, s, r, i));
                    }
                }
            }
            let Some((_, s, r, i)) = pick else {
                break;
            };
            st.insert(inst, s, r, i, &mut buf);
        }
        return st;
    }
    for s in order {
        if stop() {
            break;
        }
        if let Some((_, r, i)) = st.best_insertion(inst, w, s, Fit::Feasible, &mut buf) {
            st.insert(inst, s, r, i, &mut buf);
        }
    }
    st
}

/// Inserts dropped stops wherever they fit feasibly, most valuable first (a dropped prize
/// outranks any route cost).
pub(super) fn fill(inst: &Instance, st: &mut State, w: &Weights, stop: &dyn Fn() -> bool) {
    let mut order: Vec<usize> = (0..inst.stops)
        .filter(|&s| inst.routable[s] && st.pos[s].0 == DROPPED && inst.problem.stops[s].prize > 0)
        .collect();
    order.sort_by_key(|&s| (std::cmp::Reverse(inst.problem.stops[s].prize), s));
    let mut buf = Vec::new();
    for s in order {
        if stop() {
            break;
        }
        if let Some((_, r, i)) = st.best_insertion(inst, w, s, Fit::Feasible, &mut buf) {
            st.insert(inst, s, r, i, &mut buf);
        }
    }
}

fn perturb(inst: &Instance, st: &mut State, w: &Weights, rng: &mut Rng, buf: &mut Vec<usize>) {
    let routed: Vec<usize> = (0..inst.stops)
        .filter(|&s| st.pos[s].0 != DROPPED)
        .collect();
    if routed.is_empty() {
        return;
    }
    let most = (routed.len() / 3).clamp(1, 40);
    let k = 1 + rng.below(most);
    let seed = routed[rng.below(routed.len())];
    let mut removed = vec![seed];
    for &n in &inst.neighbours[seed] {
        if removed.len() >= k {
            break;
        }
        if st.pos[n].0 != DROPPED {
            removed.push(n);
        }
    }
    for &s in &removed {
        st.remove(inst, s, buf);
    }
    rng.shuffle(&mut removed);
    for s in removed {
        if let Some((delta, r, i)) = st.best_insertion(inst, w, s, Fit::Penalised, buf)
            && delta < inst.search_prize[s]
        {
            st.insert(inst, s, r, i, buf);
        }
    }
}

struct Best {
    rank: Rank,
    state: State,
}

/// Keeps `st` when it is feasible and better; for min-max, aims the day-length target just
/// below the best longest day.
fn offer(inst: &Instance, best: &mut Option<Best>, st: &State, w: &mut Weights, aim: bool) {
    if !st.feasible() {
        return;
    }
    let rank = st.rank(inst);
    if best.as_ref().is_none_or(|b| rank < b.rank) {
        if aim && w.longest > 0 {
            w.target = rank.1 - (rank.1 / TARGET_STEP).max(1);
        }
        *best = Some(Best {
            rank,
            state: st.clone(),
        });
    }
}

pub(super) fn iterated_local_search(inst: &Instance, limits: &Limits, started: Instant) -> State {
    let mut rng = Rng::new(limits.seed);
    let mut w = initial_weights(inst);
    let out_of_time = || started.elapsed() >= limits.time;
    // The time limit is a safety net even with an iteration limit (huge inputs).
    let deadline = || out_of_time();
    let mut current = construct(inst, &w, &deadline);
    let mut best = None;
    offer(inst, &mut best, &current, &mut w, true);
    let mut first = w;
    first.warp = w.warp.saturating_mul(INITIAL_FACTOR);
    first.load = w.load.saturating_mul(INITIAL_FACTOR);
    let mut ls = LocalSearch::new(inst, first);
    ls.run(&mut current, &mut rng, &deadline);
    if !current.feasible() {
        repair(&mut ls, &mut current, &mut rng, &deadline);
    }
    offer(inst, &mut best, &current, &mut w, true);
    w.warp = w.warp.saturating_mul(ITERATION_FACTOR);
    w.load = w.load.saturating_mul(ITERATION_FACTOR);
    ls.weights = w;
    let mut history = vec![current.objective(inst, &w); HISTORY];
    let (mut warp_ok, mut load_ok, mut seen) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    let mut iteration: u64 = 0;
    // Min-max runs in three phases: least driving, balancing, then travel under the cap.
    let minmax = inst.problem.objective == Objective::MinMaxDuration;
    let mut balancing = false;
    let mut polishing = false;
    let mut last_gain: u64 = 0;
    let mut best_rank = best.as_ref().map(|b: &Best| b.rank);
    loop {
        // A stalled min-max phase hands over to the next one; the last one stops.
        let stalled = iteration - last_gain > STALL_LIMIT;
        let next_phase = minmax && !polishing && best.is_some();
        if limits.max_iterations.is_some_and(|m| iteration >= m)
            || out_of_time()
            || (stalled && !next_phase)
        {
            break;
        }
        let reached = |tenths: u64| match limits.max_iterations {
            Some(m) => iteration * 10 >= m * tenths,
            None => started.elapsed() * 10 >= limits.time * tenths as u32,
        };
        if minmax
            && !balancing
            && (stalled || reached(BALANCE_FROM))
            && let Some(b) = &best
        {
            // Min-max, first level: from the least-driving plan reached so far, push the
            // days above a target just below the best longest day.
            balancing = true;
            last_gain = iteration;
            w.longest = LONGEST_WEIGHT;
            w.target = b.rank.1 - (b.rank.1 / TARGET_STEP).max(1);
            ls.weights = w;
            current.dirty.fill(true);
            history.fill(current.objective(inst, &w));
        } else if balancing
            && !polishing
            && (stalled || reached(POLISH_FROM))
            && let Some(b) = &best
        {
            // Min-max, second level: keep the best longest day as a hard-ish cap and spend
            // the rest of the budget on total travel under it.
            polishing = true;
            last_gain = iteration;
            w.longest = POLISH_WEIGHT;
            w.target = b.rank.1;
            ls.weights = w;
            current = b.state.clone();
            current.dirty.fill(true);
            history.fill(current.objective(inst, &w));
        }
        let mut candidate = current.clone();
        perturb(inst, &mut candidate, &w, &mut rng, &mut buf);
        ls.run(&mut candidate, &mut rng, &deadline);
        seen += 1;
        warp_ok += u64::from(candidate.evals.iter().all(|e| e.warp == 0));
        load_ok += u64::from(candidate.evals.iter().all(|e| e.excess == 0));
        if !candidate.feasible() && rng.below(2) == 0 {
            repair(&mut ls, &mut candidate, &mut rng, &deadline);
        }
        offer(inst, &mut best, &candidate, &mut w, !polishing);
        ls.weights = w;
        let rank = best.as_ref().map(|b| b.rank);
        if rank != best_rank {
            best_rank = rank;
            last_gain = iteration;
        }
        let c = candidate.objective(inst, &w);
        let slot = (iteration % HISTORY as u64) as usize;
        let cur = current.objective(inst, &w);
        if c < history[slot] || c <= cur {
            current = candidate;
        }
        history[slot] = current.objective(inst, &w);
        iteration += 1;
        let period = if iteration <= EARLY_ITERATIONS {
            EARLY_PERIOD
        } else {
            PENALTY_PERIOD
        };
        if seen >= period {
            w.warp = adapt(w.warp, warp_ok as f64 / seen as f64);
            w.load = adapt(w.load, load_ok as f64 / seen as f64);
            ls.weights = w;
            (warp_ok, load_ok, seen) = (0, 0, 0);
        }
    }
    let mut result = best.map_or_else(|| State::empty(inst), |b| b.state);
    // A little grace beyond the limit: on small days this last pass is where lexicographic
    // prizes are settled.
    let grace = || started.elapsed() >= limits.time + limits.time / 10;
    fill(inst, &mut result, &w, &grace);
    result
}

/// Searches an infeasible local optimum again with ten times the penalties (Vidal et al.
/// 2013's repair); keeps the result when it came out feasible.
fn repair(ls: &mut LocalSearch, st: &mut State, rng: &mut Rng, stop: &dyn Fn() -> bool) {
    let weights = ls.weights;
    ls.weights.warp = weights.warp.saturating_mul(REPAIR_FACTOR);
    ls.weights.load = weights.load.saturating_mul(REPAIR_FACTOR);
    let mut repaired = st.clone();
    for r in 0..repaired.routes.len() {
        repaired.dirty[r] = !repaired.evals[r].feasible();
    }
    ls.run(&mut repaired, rng, stop);
    ls.weights = weights;
    if repaired.feasible() {
        *st = repaired;
    }
}

fn adapt(weight: i64, feasible: f64) -> i64 {
    let next = if feasible < TARGET_FEASIBLE - 0.05 {
        weight + (weight / 2).max(1)
    } else if feasible > TARGET_FEASIBLE + 0.05 {
        weight - weight / 10
    } else {
        weight
    };
    next.clamp(1, PENALTY_ONE * 100_000)
}
