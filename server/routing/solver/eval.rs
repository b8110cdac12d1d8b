//! Exact route evaluation by the module's timing rules: a forward pass over the route with two
//! labels per node (break not yet taken, break taken), earliest times, and time warp (Vidal et
//! al. 2013) where a window is missed, so infeasible routes get a graded penalty.

use super::data::{Instance, UNREACHABLE};
use super::problem::{Objective, PlacedBreak, Route, Visit, Window};

/// What the search needs to know about one route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RouteEval {
    /// Sum of the objective's arc costs (distance or travel duration).
    pub cost: i64,
    pub distance: i64,
    pub travel: i64,
    pub load: i64,
    /// Time warp: 0 when the timing is feasible.
    pub warp: i64,
    /// Demand over capacity.
    pub excess: i64,
    /// Day length (end − departure); filled only when asked for.
    pub duration: i64,
    /// No unreachable arc and every stop allowed on the vehicle.
    pub valid: bool,
}

impl RouteEval {
    pub fn feasible(&self) -> bool {
        self.valid && self.warp == 0 && self.excess == 0
    }
}

/// Service start at or after `arrival`, and the time warp to make it, for a stop's windows.
pub(super) fn serve(windows: &[Window], arrival: i64) -> (i64, i64) {
    if windows.is_empty() {
        return (0, arrival);
    }
    for w in windows {
        if arrival <= w.end {
            return (0, arrival.max(w.start));
        }
    }
    let last = windows[windows.len() - 1].end;
    (arrival - last, last)
}

/// A partial schedule: time warp so far and the time the vehicle is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Label {
    warp: i64,
    time: i64,
}

fn better(a: Option<Label>, b: Option<Label>) -> Option<Label> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Outcome of one timing pass from a given departure.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timing {
    pub warp: i64,
    pub end: i64,
    /// Departure as the rules define it (service start of the first stop when the vehicle has
    /// no start location).
    pub departure: i64,
}

/// The timing pass of `stops` on `vehicle` leaving at `x` (at the first stop when there is no
/// start location). Arcs must be reachable (checked by the caller).
pub(super) fn timing(inst: &Instance, vehicle: usize, stops: &[usize], x: i64) -> Timing {
    let v = &inst.problem.vehicles[vehicle];
    let brk = v.break_;
    let mut departure = x;
    let (mut free, mut taken, mut at) = if let Some(l) = v.start {
        (Some(Label { warp: 0, time: x }), None, l)
    } else {
        let s = &inst.problem.stops[stops[0]];
        let (warp, start) = serve(&s.windows, x);
        departure = start;
        let label = Label {
            warp,
            time: start + s.service,
        };
        (Some(label), None, s.location)
    };
    let skip = usize::from(v.start.is_none());
    let gap = |label: Option<Label>, from: usize, to: usize, with_break: bool| {
        let l = label?;
        let t = inst.dur(from, to);
        if !with_break {
            return Some(Label {
                warp: l.warp,
                time: l.time + t,
            });
        }
        let b = brk?;
        let begin = l.time.max(b.window.start);
        let warp = (begin + b.duration - b.window.end).max(0);
        Some(Label {
            warp: l.warp + warp,
            time: (begin + b.duration).max(l.time + t + b.duration),
        })
    };
    for &stop in &stops[skip..] {
        let s = &inst.problem.stops[stop];
        let arrive_free = gap(free, at, s.location, false);
        let arrive_taken = better(
            gap(taken, at, s.location, false),
            gap(free, at, s.location, true),
        );
        let serve_at = |label: Option<Label>| {
            label.map(|l| {
                let (warp, start) = serve(&s.windows, l.time);
                Label {
                    warp: l.warp + warp,
                    time: start + s.service,
                }
            })
        };
        free = serve_at(arrive_free);
        taken = serve_at(arrive_taken);
        at = s.location;
    }
    if let Some(end) = v.end {
        let f = gap(free, at, end, false);
        let t = better(gap(taken, at, end, false), gap(free, at, end, true));
        free = f;
        taken = t;
    }
    let last = if brk.is_some() { taken } else { free };
    let Some(mut label) = last else {
        // A break with no gap to take it in (a single stop and neither start nor end).
        let f = free.unwrap_or(Label { warp: 0, time: x });
        return Timing {
            warp: f.warp + brk.map_or(1, |b| b.duration.max(1)),
            end: f.time,
            departure,
        };
    };
    label.warp += (label.time - v.shift.end).max(0);
    Timing {
        warp: label.warp,
        end: label.time,
        departure,
    }
}

/// Evaluates a route; `with_duration` adds the day length, which needs the latest departure
/// that keeps the earliest end (a binary search over departures).
pub(super) fn evaluate_stops(
    inst: &Instance,
    vehicle: usize,
    stops: &[usize],
    with_duration: bool,
) -> RouteEval {
    let v = &inst.problem.vehicles[vehicle];
    if stops.is_empty() {
        return RouteEval {
            valid: true,
            ..RouteEval::default()
        };
    }
    let mut e = RouteEval {
        valid: true,
        ..RouteEval::default()
    };
    let mut prev = v.start;
    for &stop in stops {
        if !inst.allowed(stop, vehicle) {
            e.valid = false;
            return e;
        }
        let l = inst.location(stop);
        if let Some(p) = prev {
            add_arc(inst, &mut e, p, l);
        }
        e.load += inst.problem.stops[stop].demand;
        prev = Some(l);
    }
    if let (Some(p), Some(end)) = (prev, v.end) {
        add_arc(inst, &mut e, p, end);
    }
    if !e.valid {
        return e;
    }
    e.excess = v.capacity.map_or(0, |c| (e.load - c).max(0));
    let first = timing(inst, vehicle, stops, v.shift.start);
    e.warp = first.warp;
    if with_duration {
        e.duration = if first.warp == 0 {
            let x = latest_departure(inst, vehicle, stops, first.end);
            if v.start.is_some() {
                first.end - x
            } else {
                first.end - timing(inst, vehicle, stops, x).departure
            }
        } else {
            first.end - first.departure
        };
    }
    e
}

fn add_arc(inst: &Instance, e: &mut RouteEval, from: usize, to: usize) {
    let d = inst.dur(from, to);
    let m = inst.dist(from, to);
    if d >= UNREACHABLE || m >= UNREACHABLE {
        e.valid = false;
        return;
    }
    e.travel += d;
    e.distance += m;
    e.cost += inst.cost(from, to);
}

/// The latest departure whose pass is feasible and still ends at `end`, the earliest end.
/// Times are monotone in the departure, so this is the latest departure with any feasible
/// schedule ending by `end`: a backward pass of latest service starts with two labels (break
/// still to take in a later gap, or not), mirroring `timing`.
pub(super) fn latest_departure(inst: &Instance, vehicle: usize, stops: &[usize], end: i64) -> i64 {
    const NEVER: i64 = i64::MIN / 4;
    let v = &inst.problem.vehicles[vehicle];
    let brk = v.break_;
    // Latest time at the next node (service start, or arrival at the end) per label.
    let (mut done, mut pending) = (end, NEVER);
    let mut next = v.end;
    // Latest departure from a node at `from` given the next node's latest times.
    let leave = |from: usize, to: Option<usize>, done: i64, pending: i64| -> (i64, i64) {
        let t = to.map_or(0, |l| inst.dur(from, l));
        let plain = if done > NEVER { done - t } else { NEVER };
        let later = if pending > NEVER { pending - t } else { NEVER };
        let here = match brk {
            Some(b) if done > NEVER => {
                let begin = (b.window.end - b.duration).min(done - b.duration);
                if begin >= b.window.start {
                    begin.min(done - t - b.duration)
                } else {
                    NEVER
                }
            }
            _ => NEVER,
        };
        (plain, later.max(here))
    };
    let latest_start = |windows: &[Window], bound: i64| -> i64 {
        if bound <= NEVER {
            return NEVER;
        }
        if windows.is_empty() {
            return bound;
        }
        windows
            .iter()
            .rev()
            .find(|w| w.start <= bound)
            .map_or(NEVER, |w| w.end.min(bound))
    };
    for (i, &stop) in stops.iter().enumerate().rev() {
        let s = &inst.problem.stops[stop];
        let has_gap_after = next.is_some() || i + 1 < stops.len();
        let (d_done, d_pending) = if has_gap_after {
            match next {
                Some(to) => leave(s.location, Some(to), done, pending),
                None => (done, pending),
            }
        } else {
            (done, NEVER)
        };
        done = latest_start(&s.windows, d_done - s.service);
        pending = latest_start(&s.windows, d_pending - s.service);
        if d_done <= NEVER {
            done = NEVER;
        }
        if d_pending <= NEVER {
            pending = NEVER;
        }
        next = Some(s.location);
    }
    let latest = match v.start {
        Some(start) => {
            let (d_done, d_pending) = leave(start, next, done, pending);
            if brk.is_some() { d_pending } else { d_done }
        }
        None => {
            if brk.is_some() {
                pending
            } else {
                done
            }
        }
    };
    latest.clamp(v.shift.start, end.max(v.shift.start))
}

/// A lower bound on a sequence's day: its travel, services and break.
pub(super) fn shortest_day_bound(inst: &Instance, vehicle: usize, stops: &[usize]) -> i64 {
    let v = &inst.problem.vehicles[vehicle];
    let mut bound = v.break_.map_or(0, |b| b.duration);
    let mut prev = v.start;
    for &stop in stops {
        let s = &inst.problem.stops[stop];
        bound += prev.map_or(0, |p| inst.dur(p, s.location)) + s.service;
        prev = Some(s.location);
    }
    bound + prev.zip(v.end).map_or(0, |(p, e)| inst.dur(p, e))
}

/// The departure giving the shortest day (end − departure) of a sequence feasible from the
/// shift start, and that day. The end as a function of the departure is non-decreasing:
/// flat while some wait absorbs a later departure, rising one for one with none, jumping
/// where a window (or the break's window) is just missed. The day is shortest at the latest
/// departure of a flat stretch, and each flat stretch starts where a departure just reaches
/// a window's start or just misses a window's end, with no wait before that node. So the
/// candidates are those departures (shifted by the break for nodes after it), each moved to
/// the latest departure keeping its end; every candidate is a real schedule.
pub(super) fn shortest_day(inst: &Instance, vehicle: usize, stops: &[usize]) -> (i64, i64) {
    let v = &inst.problem.vehicles[vehicle];
    let brk = v.break_.map_or(0, |b| b.duration);
    let mut candidates = vec![v.shift.start];
    // Time from the departure (or the ready time at the first stop without a start) to
    // reaching each node and to leaving it, with no wait and no break.
    let mut offset = 0;
    let mut at = v.start;
    let push_break = |leave: i64, candidates: &mut Vec<i64>| {
        if let Some(b) = v.break_ {
            candidates.push(b.window.start - leave);
            candidates.push(b.window.end - b.duration + 1 - leave);
        }
    };
    if v.start.is_some() {
        push_break(0, &mut candidates);
    }
    for &stop in stops {
        let s = &inst.problem.stops[stop];
        offset += at.map_or(0, |a| inst.dur(a, s.location));
        for w in &s.windows {
            for shift in [0, brk] {
                candidates.push(w.start - offset - shift);
                candidates.push(w.end + 1 - offset - shift);
            }
        }
        offset += s.service;
        push_break(offset, &mut candidates);
        at = Some(s.location);
    }
    candidates.retain(|&x| x >= v.shift.start && x <= v.shift.end);
    candidates.sort_unstable();
    candidates.dedup();
    // No day is shorter than its travel, services and break: once one is found, stop.
    let bound = shortest_day_bound(inst, vehicle, stops);
    let mut best: Option<(i64, i64)> = None;
    // Departures up to the last latest departure found share its end (the end is monotone).
    let mut covered = i64::MIN;
    for x in candidates {
        if x <= covered {
            continue;
        }
        let t = timing(inst, vehicle, stops, x);
        if t.warp > 0 {
            continue;
        }
        let latest = latest_departure(inst, vehicle, stops, t.end);
        let l = timing(inst, vehicle, stops, latest);
        let (x, t) = if l.warp == 0 && l.end <= t.end {
            covered = latest;
            (latest, l)
        } else {
            (x, t)
        };
        let day = t.end - t.departure;
        if best.is_none_or(|(_, d)| day < d) {
            best = Some((x, day));
            if day <= bound {
                break;
            }
        }
    }
    best.unwrap_or_else(|| {
        let t = timing(inst, vehicle, stops, v.shift.start);
        (v.shift.start, t.end - t.departure)
    })
}

/// The route the rules give for a feasible sequence: latest departure keeping the earliest
/// end, earliest service starts from there, the break in the first gap where taking it keeps
/// the schedule the timing pass found.
pub(super) fn schedule(inst: &Instance, vehicle: usize, stops: &[usize]) -> Route {
    let v = &inst.problem.vehicles[vehicle];
    if stops.is_empty() {
        return Route {
            vehicle,
            departure: v.shift.start,
            visits: Vec::new(),
            break_: None,
            end: v.shift.start,
            travel_duration: 0,
            travel_distance: 0,
        };
    }
    let e = evaluate_stops(inst, vehicle, stops, false);
    let x = if inst.problem.objective == Objective::MinMaxDuration {
        shortest_day(inst, vehicle, stops).0
    } else {
        let first = timing(inst, vehicle, stops, v.shift.start);
        latest_departure(inst, vehicle, stops, first.end)
    };
    // Which gap takes the break: the first one from which the remaining route, with the
    // break there, still finishes by the end the pass found.
    let gaps = stops.len() - usize::from(v.start.is_none()) + usize::from(v.end.is_some());
    let target = timing(inst, vehicle, stops, x);
    let placement = v.break_.map(|_| {
        (0..gaps)
            .find(|&g| {
                let (warp, end, _, _) = replay(inst, vehicle, stops, x, Some(g));
                warp == 0 && end <= target.end
            })
            .unwrap_or(0)
    });
    let (_, end, visits, placed) = replay(inst, vehicle, stops, x, placement);
    Route {
        vehicle,
        departure: visits
            .first()
            .map_or(x, |f| if v.start.is_some() { x } else { f.start }),
        visits,
        break_: placed,
        end,
        travel_duration: e.travel,
        travel_distance: e.distance,
    }
}

/// Replays a sequence from departure `x` with the break fixed in gap `brk_gap` (gaps counted
/// from the first one in the route): warp, end, visits and the placed break.
fn replay(
    inst: &Instance,
    vehicle: usize,
    stops: &[usize],
    x: i64,
    brk_gap: Option<usize>,
) -> (i64, i64, Vec<Visit>, Option<PlacedBreak>) {
    let v = &inst.problem.vehicles[vehicle];
    let mut visits = Vec::with_capacity(stops.len());
    let mut warp = 0;
    let mut placed = None;
    let mut gap_index = 0;
    let (mut time, mut at, skip) = if let Some(l) = v.start {
        (x, l, 0)
    } else {
        let s = &inst.problem.stops[stops[0]];
        let (w, start) = serve(&s.windows, x);
        warp += w;
        visits.push(Visit {
            stop: stops[0],
            arrival: start,
            start,
            departure: start + s.service,
        });
        (start + s.service, s.location, 1)
    };
    let mut cross = |time: i64, from: usize, to: usize, before: usize, warp: &mut i64| {
        let t = inst.dur(from, to);
        let here = brk_gap == Some(gap_index);
        gap_index += 1;
        match (here, v.break_) {
            (true, Some(b)) => {
                let begin = time.max(b.window.start);
                *warp += (begin + b.duration - b.window.end).max(0);
                placed = Some(PlacedBreak {
                    before,
                    start: begin,
                });
                (begin + b.duration).max(time + t + b.duration)
            }
            _ => time + t,
        }
    };
    for (i, &stop) in stops.iter().enumerate().skip(skip) {
        let s = &inst.problem.stops[stop];
        let arrival = cross(time, at, s.location, i, &mut warp);
        let (w, start) = serve(&s.windows, arrival);
        warp += w;
        visits.push(Visit {
            stop,
            arrival,
            start,
            departure: start + s.service,
        });
        time = start + s.service;
        at = s.location;
    }
    if let Some(end) = v.end {
        time = cross(time, at, end, stops.len(), &mut warp);
    }
    warp += (time - v.shift.end).max(0);
    if v.break_.is_some() && placed.is_none() {
        warp += 1;
    }
    (warp, time, visits, placed)
}
