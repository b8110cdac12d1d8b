//! Exact search for tiny instances (at most `MAX_STOPS` routable stops): every feasible
//! sequence of every subset on every kind of vehicle by depth-first search, then a dynamic
//! programme over vehicles and subsets keeping the Pareto set of (longest day, total) so the
//! min-max objective is exact too.

use super::data::Instance;
use super::eval::{evaluate_stops, serve, shortest_day, shortest_day_bound};
use super::problem::Objective;
use super::search::State;

pub(super) const MAX_STOPS: usize = 8;

/// (primary, secondary) cost of a route or a set of routes: (travel, 0) for the total
/// objectives, (day length, travel) for min-max.
type Key = (i64, i64);

/// Per subset of the stops (a bitmask), the Pareto-best routes: key and sequence.
type RouteTable = Vec<Vec<(Key, Vec<usize>)>>;

struct Choice {
    key: Key,
    /// Index into the route table of this vehicle kind, or the previous vehicle's entry.
    route: usize,
    prev: usize,
    sub: u32,
}

/// Solves exactly; `None` when the instance is too large.
pub(super) fn solve(inst: &Instance) -> Option<State> {
    let stops: Vec<usize> = (0..inst.stops).filter(|&s| inst.routable[s]).collect();
    if stops.len() > MAX_STOPS {
        return None;
    }
    let full = (1u32 << stops.len()) - 1;
    let minmax = inst.problem.objective == Objective::MinMaxDuration;
    // Vehicles that are equal and allowed the same stops share their route table; at most
    // one copy per stop of each kind can be used.
    let mut kinds: Vec<(usize, RouteTable)> = Vec::new();
    let mut copies: Vec<usize> = Vec::new();
    let mut vehicle_kind = Vec::new();
    for v in 0..inst.vehicles {
        let found = kinds.iter().position(|(w, _)| {
            inst.problem.vehicles[*w] == inst.problem.vehicles[v]
                && stops
                    .iter()
                    .all(|&s| inst.allowed(s, *w) == inst.allowed(s, v))
        });
        let k = found.unwrap_or_else(|| {
            kinds.push((v, routes_for(inst, v, &stops, minmax)));
            copies.push(0);
            kinds.len() - 1
        });
        copies[k] += 1;
        vehicle_kind.push((v, k, copies[k]));
    }
    let used: Vec<(usize, usize)> = vehicle_kind
        .iter()
        .filter(|&&(_, _, copy)| copy <= stops.len().max(1))
        .map(|&(v, k, _)| (v, k))
        .collect();
    let combine = |a: Key, b: Key| {
        if minmax {
            (a.0.max(b.0), a.1 + b.1)
        } else {
            (a.0 + b.0, 0)
        }
    };
    // layers[i][mask]: Pareto options for serving `mask` with the first i used vehicles.
    let mut layers: Vec<Vec<Vec<Choice>>> = Vec::with_capacity(used.len() + 1);
    let mut first: Vec<Vec<Choice>> = (0..=full).map(|_| Vec::new()).collect();
    first[0].push(Choice {
        key: (0, 0),
        route: usize::MAX,
        prev: usize::MAX,
        sub: 0,
    });
    layers.push(first);
    for &(_, k) in &used {
        let table = &kinds[k].1;
        let prev = &layers[layers.len() - 1];
        let mut next: Vec<Vec<Choice>> = (0..=full).map(|_| Vec::new()).collect();
        for mask in 0..=full {
            let mut options = Vec::new();
            // sub = the stops this vehicle serves (0 = unused).
            let mut sub = mask;
            loop {
                let rest = mask & !sub;
                let routes = &table[sub as usize];
                for (pi, p) in prev[rest as usize].iter().enumerate() {
                    if sub == 0 {
                        options.push(Choice {
                            key: p.key,
                            route: usize::MAX,
                            prev: pi,
                            sub,
                        });
                    }
                    for (ri, (key, _)) in routes.iter().enumerate() {
                        options.push(Choice {
                            key: combine(p.key, *key),
                            route: ri,
                            prev: pi,
                            sub,
                        });
                    }
                }
                if sub == 0 {
                    break;
                }
                sub = (sub - 1) & mask;
            }
            next[mask as usize] = pareto(options);
        }
        layers.push(next);
    }
    // The best served set: dropped prizes first, then the key.
    let last = &layers[layers.len() - 1];
    let mut best: Option<((i128, Key), u32, usize)> = None;
    for mask in 0..=full {
        let dropped: i128 = stops
            .iter()
            .enumerate()
            .filter(|&(i, _)| mask & (1 << i) == 0)
            .map(|(_, &s)| i128::from(inst.problem.stops[s].prize.max(0)))
            .sum();
        for (oi, o) in last[mask as usize].iter().enumerate() {
            let rank = (dropped, o.key);
            if best.as_ref().is_none_or(|b| rank < b.0) {
                best = Some((rank, mask, oi));
            }
        }
    }
    let mut st = State::empty(inst);
    let (_, mut mask, mut oi) = best?;
    for layer in (1..layers.len()).rev() {
        let o = &layers[layer][mask as usize][oi];
        let (v, k) = used[layer - 1];
        if o.route != usize::MAX {
            let seq = &kinds[k].1[o.sub as usize][o.route].1;
            st.set_route(inst, v, seq);
        }
        mask &= !o.sub;
        oi = o.prev;
    }
    Some(st)
}

fn pareto(mut options: Vec<Choice>) -> Vec<Choice> {
    options.sort_by_key(|o| o.key);
    let mut out: Vec<Choice> = Vec::new();
    for o in options {
        if out.last().is_none_or(|l| o.key.1 < l.key.1) {
            out.push(o);
        }
    }
    out
}

/// For each subset of `stops` (bit i = stops[i]), the Pareto-best feasible sequences on
/// vehicle `v`.
fn routes_for(inst: &Instance, v: usize, stops: &[usize], minmax: bool) -> RouteTable {
    let mut table: RouteTable = vec![Vec::new(); 1 << stops.len()];
    let mut seq = Vec::with_capacity(stops.len());
    extend(inst, v, stops, minmax, 0, &mut seq, &mut table);
    for entry in &mut table {
        entry.sort_by_key(|e| e.0);
        let mut kept: Vec<(Key, Vec<usize>)> = Vec::new();
        for e in entry.drain(..) {
            if kept.last().is_none_or(|l| e.0.1 < l.0.1) {
                kept.push(e);
            }
        }
        *entry = kept;
    }
    table
}

fn extend(
    inst: &Instance,
    v: usize,
    stops: &[usize],
    minmax: bool,
    mask: u32,
    seq: &mut Vec<usize>,
    table: &mut [Vec<(Key, Vec<usize>)>],
) {
    for (i, &s) in stops.iter().enumerate() {
        if mask & (1 << i) != 0 || !inst.allowed(s, v) {
            continue;
        }
        seq.push(s);
        if prefix_possible(inst, v, seq) {
            let e = evaluate_stops(inst, v, seq, false);
            let slot = &mut table[(mask | (1 << i)) as usize];
            // Under min-max, the day's search is skipped when a kept route is no longer
            // and drives no more even against the day's lower bound.
            let dominated = |slot: &[(Key, Vec<usize>)], key: Key| {
                slot.iter().any(|(k, _)| k.0 <= key.0 && k.1 <= key.1)
            };
            if e.feasible()
                && !(minmax && dominated(slot, (shortest_day_bound(inst, v, seq), e.travel)))
            {
                let key = if minmax {
                    (shortest_day(inst, v, seq).1, e.travel)
                } else {
                    (e.cost, 0)
                };
                if !dominated(slot, key) {
                    slot.push((key, seq.clone()));
                }
            }
            extend(inst, v, stops, minmax, mask | (1 << i), seq, table);
        }
        seq.pop();
    }
}

/// Whether some route could start with `seq`: every stop reached by its last window on the
/// earliest schedule, ignoring the break (which only delays) and the end.
fn prefix_possible(inst: &Instance, v: usize, seq: &[usize]) -> bool {
    let vehicle = &inst.problem.vehicles[v];
    let mut at = vehicle.start;
    let mut time = vehicle.shift.start;
    for &s in seq {
        let stop = &inst.problem.stops[s];
        let arrival = time + at.map_or(0, |a| inst.dur(a, stop.location));
        let (warp, start) = serve(&stop.windows, arrival);
        if warp > 0 || start > vehicle.shift.end {
            return false;
        }
        time = start + stop.service;
        at = Some(stop.location);
    }
    true
}
