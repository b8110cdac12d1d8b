//! Test-only exhaustive search: the true optimum of a small problem (at most 8 stops, a few
//! vehicles), found by trying every order of every subset on every vehicle, written from the
//! rules in `solver/problem.rs` and apart from the solver, so tests can hold the solver to it.
//!
//! Per vehicle, a depth-first walk over orders keeps, for each subset of stops, the cheapest
//! feasible order (travel objectives) or the Pareto set of (route duration, travel duration)
//! (min-max); then every split of the stops between vehicles and "dropped" is tried.
//!
//! Timing: leaving as early as possible and taking the break as early as possible in its gap
//! never hurts feasibility or travel, so a route's earliest schedule decides it. A route's
//! shortest duration (min-max) needs the best departure time: the duration as a function of
//! the departure only falls between the departures where some window (or the break window,
//! or the shift end) is just still reached without waiting, so those departures are tried.

use crate::routing::solver::{
    Break, Location, Objective, PlacedBreak, Problem, Route, Solution, Stop, Vehicle, Visit, Window,
};

/// The optimum's cost (as `Summary::cost` orders it) and one plan that reaches it.
pub struct Optimum {
    pub cost: Cost,
    pub solution: Solution,
}

/// A cost as `Summary::cost` orders it.
type Cost = (i64, i64, i64);

/// One way to serve a subset of stops on one vehicle.
#[derive(Clone, Debug)]
struct Candidate {
    /// End − departure at the best departure (min-max only; 0 otherwise).
    duration: i64,
    /// The objective's travel measure (distance for `TotalDistance`, else duration).
    travel: i64,
    sequence: Vec<usize>,
    /// Break gap and departure reaching `duration` (min-max only).
    timing: Option<(Option<usize>, i64)>,
}

/// Finds the optimum of `problem` by enumeration. Panics when the problem is too big.
pub fn optimum(problem: &Problem) -> Optimum {
    let n = problem.stops.len();
    assert!(n <= 8, "exhaustive search takes at most 8 stops");
    assert!(
        problem.vehicles.len() <= 3,
        "exhaustive search takes at most 3 vehicles"
    );
    let tables: Vec<Vec<Vec<Candidate>>> = (0..problem.vehicles.len())
        .map(|v| vehicle_table(problem, v))
        .collect();
    let full = (1_usize << n) - 1;
    let mut best: Option<(Cost, Vec<Candidate>)> = None;
    let mut chosen = Vec::new();
    combine(problem, &tables, 0, full, &mut chosen, &mut best);
    let (cost, chosen) = best.expect("dropping every stop is always feasible");

    let mut routes = Vec::new();
    for (v, candidate) in chosen.iter().enumerate() {
        routes.push(build_route(problem, v, candidate));
    }
    let served: usize = chosen
        .iter()
        .flat_map(|c| c.sequence.iter())
        .fold(0, |mask, &s| mask | (1 << s));
    let dropped = (0..n).filter(|s| served & (1 << s) == 0).collect();
    Optimum {
        cost,
        solution: Solution { routes, dropped },
    }
}

fn combine(
    problem: &Problem,
    tables: &[Vec<Vec<Candidate>>],
    v: usize,
    remaining: usize,
    chosen: &mut Vec<Candidate>,
    best: &mut Option<(Cost, Vec<Candidate>)>,
) {
    if v == tables.len() {
        let dropped_prize: i64 = (0..problem.stops.len())
            .filter(|s| remaining & (1 << s) != 0)
            .map(|s| problem.stops[s].prize)
            .sum();
        let travel: i64 = chosen.iter().map(|c| c.travel).sum();
        let cost = match problem.objective {
            Objective::MinMaxDuration => (
                dropped_prize,
                chosen.iter().map(|c| c.duration).max().unwrap_or(0),
                travel,
            ),
            Objective::TotalDistance | Objective::TotalDuration => (dropped_prize, travel, 0),
        };
        if best.as_ref().is_none_or(|(b, _)| cost < *b) {
            *best = Some((cost, chosen.clone()));
        }
        return;
    }
    // Every subset of the remaining stops, the empty one included.
    let mut subset = remaining;
    loop {
        for candidate in &tables[v][subset] {
            chosen.push(candidate.clone());
            combine(problem, tables, v + 1, remaining & !subset, chosen, best);
            chosen.pop();
        }
        if subset == 0 {
            break;
        }
        subset = (subset - 1) & remaining;
    }
}

/// For each subset (bit mask) of stops, the ways worth keeping to serve exactly it.
fn vehicle_table(problem: &Problem, v: usize) -> Vec<Vec<Candidate>> {
    let n = problem.stops.len();
    let mut table = vec![Vec::new(); 1 << n];
    table[0].push(Candidate {
        duration: 0,
        travel: 0,
        sequence: Vec::new(),
        timing: None,
    });
    let vehicle = &problem.vehicles[v];
    let state = State {
        at: vehicle.start,
        plain: Some(vehicle.shift.start),
        after_break: None,
        travel: 0,
        travel_duration: 0,
        load: 0,
    };
    let mut walk = Walk {
        problem,
        v,
        vehicle,
        table: &mut table,
        sequence: Vec::new(),
    };
    walk.extend_from(&state, 0);
    table
}

/// Where a partial route stands: its last location (`None` before the first stop of a
/// vehicle without a start location) and its earliest departure from there, without the
/// break taken yet (`plain`) or with it (`after_break`).
#[derive(Clone, Copy)]
struct State {
    at: Option<Location>,
    plain: Option<i64>,
    after_break: Option<i64>,
    travel: i64,
    travel_duration: i64,
    load: i64,
}

struct Walk<'a> {
    problem: &'a Problem,
    v: usize,
    vehicle: &'a Vehicle,
    table: &'a mut Vec<Vec<Candidate>>,
    sequence: Vec<usize>,
}

impl Walk<'_> {
    fn extend_from(&mut self, state: &State, mask: usize) {
        for (s, stop) in self.problem.stops.iter().enumerate() {
            if mask & (1 << s) != 0 {
                continue;
            }
            if stop.vehicles.as_ref().is_some_and(|a| !a.contains(&self.v)) {
                continue;
            }
            let Some(next) = self.step(state, stop) else {
                continue;
            };
            self.sequence.push(s);
            let mask = mask | (1 << s);
            self.record(&next, mask);
            self.extend_from(&next, mask);
            self.sequence.pop();
        }
    }

    /// The state after serving `stop` next, `None` when it cannot be served next.
    fn step(&self, state: &State, stop: &Stop) -> Option<State> {
        let load = state.load + stop.demand;
        if self.vehicle.capacity.is_some_and(|c| load > c) {
            return None;
        }
        let leg = leg(self.problem, state.at, Some(stop.location))?;
        let shift_end = self.vehicle.shift.end;
        let serve = |start: i64| Some(start + stop.service).filter(|&d| d <= shift_end);
        let plain = state
            .plain
            .and_then(|d| arrive(d, leg, None, &stop.windows))
            .and_then(serve);
        let after_break = match self.vehicle.break_ {
            None => None,
            Some(rule) => {
                let taken_here = state
                    .plain
                    .and_then(|d| arrive(d, leg, Some(rule), &stop.windows))
                    .and_then(serve);
                let taken_before = state
                    .after_break
                    .and_then(|d| arrive(d, leg, None, &stop.windows))
                    .and_then(serve);
                min_some(taken_here, taken_before)
            }
        };
        if plain.is_none() && after_break.is_none() {
            return None;
        }
        Some(State {
            at: Some(stop.location),
            plain,
            after_break,
            travel: state.travel + self.travel_measure(leg),
            travel_duration: state.travel_duration + leg.duration,
            load,
        })
    }

    fn travel_measure(&self, leg: Leg) -> i64 {
        match self.problem.objective {
            Objective::TotalDistance => leg.distance,
            Objective::TotalDuration | Objective::MinMaxDuration => leg.duration,
        }
    }

    /// Closes the route after the current sequence, if it can reach its end in time, and
    /// keeps it when it beats what the table holds for `mask`.
    fn record(&mut self, state: &State, mask: usize) {
        let Some(leg) = leg(self.problem, state.at, self.vehicle.end) else {
            return;
        };
        let end = match self.vehicle.break_ {
            None => state.plain.and_then(|d| finish(d, leg, None)),
            Some(rule) => min_some(
                state.plain.and_then(|d| finish(d, leg, Some(rule))),
                state.after_break.and_then(|d| finish(d, leg, None)),
            ),
        };
        if end.is_none_or(|e| e > self.vehicle.shift.end) {
            return;
        }
        let travel = state.travel + self.travel_measure(leg);
        let entries = &mut self.table[mask];
        if self.problem.objective == Objective::MinMaxDuration {
            let travel_duration = state.travel_duration + leg.duration;
            let (duration, timing) = shortest_duration(self.problem, self.v, &self.sequence)
                .expect("a route feasible at its earliest has a shortest duration");
            if entries
                .iter()
                .any(|c| c.duration <= duration && c.travel <= travel_duration)
            {
                return;
            }
            entries.retain(|c| !(duration <= c.duration && travel_duration <= c.travel));
            entries.push(Candidate {
                duration,
                travel: travel_duration,
                sequence: self.sequence.clone(),
                timing: Some(timing),
            });
        } else if entries.first().is_none_or(|c| travel < c.travel) {
            *entries = vec![Candidate {
                duration: 0,
                travel,
                sequence: self.sequence.clone(),
                timing: None,
            }];
        }
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Travel between two route nodes; `virtual_` when one side is a missing start or end.
#[derive(Clone, Copy)]
struct Leg {
    duration: i64,
    distance: i64,
    virtual_: bool,
}

fn leg(problem: &Problem, from: Option<Location>, to: Option<Location>) -> Option<Leg> {
    match (from, to) {
        (Some(from), Some(to)) => Some(Leg {
            duration: problem.matrix.duration(from, to)?,
            distance: problem.matrix.distance(from, to)?,
            virtual_: false,
        }),
        _ => Some(Leg {
            duration: 0,
            distance: 0,
            virtual_: true,
        }),
    }
}

/// The earliest service start at or after `ready` inside one of `windows`.
fn earliest_start(windows: &[Window], ready: i64) -> Option<i64> {
    if windows.is_empty() {
        return Some(ready);
    }
    windows
        .iter()
        .find(|w| w.end >= ready)
        .map(|w| ready.max(w.start))
}

/// The earliest break start in a gap opening at `gap_start`, if the break fits its window.
fn break_start(gap_start: i64, rule: Break) -> Option<i64> {
    let start = gap_start.max(rule.window.start);
    (start + rule.duration <= rule.window.end).then_some(start)
}

/// Earliest service start at a stop, leaving the previous node at `departure` (or, over a
/// virtual leg, being ready at `departure`), with the break in this gap when `rule` is given.
fn arrive(departure: i64, leg: Leg, rule: Option<Break>, windows: &[Window]) -> Option<i64> {
    if leg.virtual_ {
        // No gap to speak of: the break would have to fit between a time and itself.
        let start = earliest_start(windows, departure)?;
        if let Some(rule) = rule {
            let b = break_start(start, rule)?;
            if b + rule.duration > start {
                return None;
            }
        }
        return Some(start);
    }
    let mut ready = departure + leg.duration;
    if let Some(rule) = rule {
        let b = break_start(departure, rule)?;
        ready = (ready + rule.duration).max(b + rule.duration);
    }
    earliest_start(windows, ready)
}

/// Earliest end of the route leaving its last stop at `departure`.
fn finish(departure: i64, leg: Leg, rule: Option<Break>) -> Option<i64> {
    if leg.virtual_ {
        if let Some(rule) = rule {
            let b = break_start(departure, rule)?;
            if b + rule.duration > departure {
                return None;
            }
        }
        return Some(departure);
    }
    let mut end = departure + leg.duration;
    if let Some(rule) = rule {
        let b = break_start(departure, rule)?;
        end = (end + rule.duration).max(b + rule.duration);
    }
    Some(end)
}

/// The earliest schedule of `sequence` on vehicle `v` leaving at `departure` (or, without a
/// start location, ready at the first stop then) with the break in gap `gap`.
fn schedule(
    problem: &Problem,
    v: usize,
    sequence: &[usize],
    gap: Option<usize>,
    departure: i64,
) -> Option<Route> {
    let vehicle = &problem.vehicles[v];
    if sequence.is_empty() {
        return Some(Route {
            vehicle: v,
            departure: vehicle.shift.start,
            visits: Vec::new(),
            break_: None,
            end: vehicle.shift.start,
            travel_duration: 0,
            travel_distance: 0,
        });
    }
    if vehicle.break_.is_some() != gap.is_some() || departure < vehicle.shift.start {
        return None;
    }
    let rule_at = |g: usize| vehicle.break_.filter(|_| gap == Some(g));
    let mut visits = Vec::with_capacity(sequence.len());
    let mut at = vehicle.start;
    let mut time = departure;
    let (mut travel_duration, mut travel_distance) = (0, 0);
    let mut placed = None;
    for (g, &s) in sequence.iter().enumerate() {
        let stop = &problem.stops[s];
        let leg = leg(problem, at, Some(stop.location))?;
        let start = arrive(time, leg, rule_at(g), &stop.windows)?;
        let mut arrival = if leg.virtual_ {
            start
        } else {
            time + leg.duration
        };
        if let Some(rule) = rule_at(g) {
            let gap_start = if leg.virtual_ { start } else { time };
            let b = break_start(gap_start, rule)?;
            // A break starting before the drive would end splits the drive around it.
            if !leg.virtual_ && b < arrival {
                arrival += rule.duration;
            }
            placed = Some(PlacedBreak {
                before: g,
                start: b,
            });
        }
        visits.push(Visit {
            stop: s,
            arrival,
            start,
            departure: start + stop.service,
        });
        travel_duration += leg.duration;
        travel_distance += leg.distance;
        time = start + stop.service;
        at = Some(stop.location);
    }
    let leg = leg(problem, at, vehicle.end)?;
    let end = finish(time, leg, rule_at(sequence.len()))?;
    if let Some(rule) = rule_at(sequence.len()) {
        placed = Some(PlacedBreak {
            before: sequence.len(),
            start: break_start(time, rule)?,
        });
    }
    travel_duration += leg.duration;
    travel_distance += leg.distance;
    if end > vehicle.shift.end {
        return None;
    }
    let route_departure = if vehicle.start.is_some() {
        departure
    } else {
        visits[0].start
    };
    Some(Route {
        vehicle: v,
        departure: route_departure,
        visits,
        break_: placed,
        end,
        travel_duration,
        travel_distance,
    })
}

/// The shortest duration of `sequence` on vehicle `v` over break gaps and departures, with
/// the gap and departure reaching it; `None` when no schedule is feasible.
fn shortest_duration(
    problem: &Problem,
    v: usize,
    sequence: &[usize],
) -> Option<(i64, (Option<usize>, i64))> {
    let vehicle = &problem.vehicles[v];
    let gaps: Vec<Option<usize>> = match vehicle.break_ {
        None => vec![None],
        Some(_) => (0..=sequence.len()).map(Some).collect(),
    };
    let mut best: Option<(i64, (Option<usize>, i64))> = None;
    for gap in gaps {
        for departure in departure_candidates(problem, vehicle, sequence, gap) {
            if let Some(route) = schedule(problem, v, sequence, gap, departure) {
                let duration = route.end - route.departure;
                if best.is_none_or(|(d, _)| duration < d) {
                    best = Some((duration, (gap, departure)));
                }
            }
        }
    }
    best
}

/// Departures at which some time limit along the route is met exactly when nothing waits:
/// the only places the duration can reach a new low (see the module's doc).
fn departure_candidates(
    problem: &Problem,
    vehicle: &Vehicle,
    sequence: &[usize],
    gap: Option<usize>,
) -> Vec<i64> {
    let mut candidates = vec![vehicle.shift.start];
    let mut offset = 0;
    let mut at = vehicle.start;
    // The break's window opening just as the gap starts, or just as its drive ends (the
    // rules let the break follow the drive: waiting for the window then costs no more than
    // the break itself), and its window closing just as the break ends.
    let limits_of_break = |offset: i64, drive: i64, candidates: &mut Vec<i64>| {
        if let Some(rule) = vehicle.break_ {
            candidates.push(rule.window.start - offset);
            candidates.push(rule.window.start - offset - drive);
            candidates.push(rule.window.end - rule.duration - offset);
        }
    };
    for (g, &s) in sequence.iter().enumerate() {
        let stop = &problem.stops[s];
        let Some(leg) = leg(problem, at, Some(stop.location)) else {
            return Vec::new();
        };
        if gap == Some(g) {
            limits_of_break(offset, leg.duration, &mut candidates);
            offset += vehicle.break_.map_or(0, |r| r.duration);
        }
        offset += leg.duration;
        for w in &stop.windows {
            candidates.push(w.start - offset);
            candidates.push(w.end - offset);
        }
        offset += stop.service;
        at = Some(stop.location);
    }
    let last = leg(problem, at, vehicle.end);
    if gap == Some(sequence.len()) {
        limits_of_break(offset, last.map_or(0, |l| l.duration), &mut candidates);
    }
    if let Some(leg) = last {
        candidates.push(vehicle.shift.end - offset - leg.duration);
    }
    candidates.retain(|&d| d >= vehicle.shift.start);
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

fn build_route(problem: &Problem, v: usize, candidate: &Candidate) -> Route {
    if let Some((gap, departure)) = candidate.timing {
        return schedule(problem, v, &candidate.sequence, gap, departure)
            .expect("the recorded timing is feasible");
    }
    let vehicle = &problem.vehicles[v];
    let gaps: Vec<Option<usize>> = match vehicle.break_ {
        Some(_) if !candidate.sequence.is_empty() => {
            (0..=candidate.sequence.len()).map(Some).collect()
        }
        _ => vec![None],
    };
    gaps.into_iter()
        .find_map(|gap| schedule(problem, v, &candidate.sequence, gap, vehicle.shift.start))
        .expect("a recorded order has a feasible earliest schedule")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::check::check;
    use crate::routing::solver::Matrix;

    fn line_problem(objective: Objective) -> Problem {
        // Depot 0 and three stops on a line, 10 s apart.
        let n = 4;
        let mut durations = Vec::new();
        for a in 0..n {
            for b in 0..n {
                durations.push(10 * (a as i64 - b as i64).abs());
            }
        }
        let distances = durations.iter().map(|d| d * 3).collect();
        Problem {
            matrix: Matrix::full(n, durations, distances),
            stops: (1..n)
                .map(|location| Stop {
                    location,
                    service: 5,
                    windows: Vec::new(),
                    demand: 1,
                    prize: 1_000,
                    vehicles: None,
                })
                .collect(),
            vehicles: vec![Vehicle {
                start: Some(0),
                end: Some(0),
                shift: Window {
                    start: 0,
                    end: 1_000,
                },
                capacity: None,
                break_: None,
            }],
            objective,
        }
    }

    #[test]
    fn line_is_served_out_and_back() {
        let problem = line_problem(Objective::TotalDuration);
        let optimum = optimum(&problem);
        assert_eq!(optimum.cost, (0, 60, 0));
        let summary = check(&problem, &optimum.solution).expect("feasible");
        assert_eq!(summary.cost(problem.objective), optimum.cost);
    }

    #[test]
    fn a_late_window_is_met_by_leaving_later_under_min_max() {
        let mut problem = line_problem(Objective::MinMaxDuration);
        problem.stops.truncate(1);
        problem.stops[0].windows = vec![Window {
            start: 500,
            end: 600,
        }];
        let optimum = optimum(&problem);
        // Leave at 490, arrive 500, serve 5, back at 515: 25 s of day, no waiting.
        assert_eq!(optimum.cost, (0, 25, 20));
        assert_eq!(optimum.solution.routes[0].departure, 490);
        check(&problem, &optimum.solution).expect("feasible");
    }

    #[test]
    fn a_later_window_can_shorten_the_day() {
        // Leaving at once meets stop 1's first window but waits long for stop 2; leaving
        // late meets both second windows without waiting.
        let mut problem = line_problem(Objective::MinMaxDuration);
        problem.stops.truncate(2);
        problem.stops[0].windows = vec![
            Window { start: 10, end: 10 },
            Window {
                start: 700,
                end: 700,
            },
        ];
        problem.stops[1].windows = vec![
            Window {
                start: 400,
                end: 400,
            },
            Window {
                start: 715,
                end: 715,
            },
        ];
        let optimum = optimum(&problem);
        assert_eq!(optimum.cost, (0, 50, 40));
        check(&problem, &optimum.solution).expect("feasible");
    }

    #[test]
    fn a_stop_that_cannot_fit_is_dropped_at_its_prize() {
        let mut problem = line_problem(Objective::TotalDistance);
        problem.stops[2].windows = vec![Window { start: 0, end: 5 }];
        let optimum = optimum(&problem);
        assert_eq!(optimum.cost, (1_000, 120, 0));
        assert_eq!(optimum.solution.dropped, vec![2]);
        check(&problem, &optimum.solution).expect("feasible");
    }

    #[test]
    fn the_break_goes_where_it_fits() {
        let mut problem = line_problem(Objective::TotalDuration);
        problem.vehicles[0].break_ = Some(Break {
            window: Window { start: 20, end: 60 },
            duration: 30,
        });
        let optimum = optimum(&problem);
        let solution = &optimum.solution;
        check(&problem, solution).expect("feasible");
        assert!(solution.routes[0].break_.is_some());
        assert_eq!(optimum.cost, (0, 60, 0));
    }
}
