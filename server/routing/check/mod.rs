//! An independent feasibility checker for day plans: re-derives every rule of
//! `routing::solver`'s contract (see `solver/problem.rs`) from the problem alone and either
//! lists what a plan breaks or sums up what it costs. Written apart from the solver so a bug
//! in one is not hidden by the same bug in the other; used by tests and benchmarks.

#[cfg(test)]
mod exhaustive;
#[cfg(test)]
mod instances;
#[cfg(test)]
mod properties;

use thiserror::Error;

use super::solver::{Break, Location, Objective, PlacedBreak, Problem, Route, Solution, Vehicle};

/// What a feasible plan costs, from the problem's matrices (never from the plan's own totals,
/// which are checked against them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Sum of the prizes of the stops left out.
    pub dropped_prize: i64,
    /// The longest route duration (end − departure, waiting included); 0 when no route is used.
    pub longest_duration: i64,
    pub travel_duration: i64,
    pub travel_distance: i64,
    /// Each route's duration, in vehicle order (0 for an unused vehicle).
    pub route_durations: Vec<i64>,
}

impl Summary {
    /// The objective's value, compared lexicographically: dropped prizes first, then the
    /// objective's own order (a single total has 0 as its third part).
    pub fn cost(&self, objective: Objective) -> (i64, i64, i64) {
        match objective {
            Objective::TotalDistance => (self.dropped_prize, self.travel_distance, 0),
            Objective::TotalDuration => (self.dropped_prize, self.travel_duration, 0),
            Objective::MinMaxDuration => (
                self.dropped_prize,
                self.longest_duration,
                self.travel_duration,
            ),
        }
    }
}

/// One broken rule, with the route (index into `Solution::routes`) and stop (index into
/// `Problem::stops`) it was found at.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Violation {
    #[error("the plan has {found} routes for {expected} vehicles")]
    RouteCount { expected: usize, found: usize },
    #[error("route {route} names vehicle {vehicle}; routes come one per vehicle, in order")]
    RouteVehicle { route: usize, vehicle: usize },
    #[error("route {route} visits stop {stop}, which does not exist")]
    UnknownStop { route: usize, stop: usize },
    #[error("dropped stop {stop} does not exist")]
    UnknownDroppedStop { stop: usize },
    #[error("the dropped stops are not listed in strictly ascending order")]
    DroppedNotAscending,
    #[error("stop {stop} is neither visited nor dropped")]
    StopMissing { stop: usize },
    #[error("stop {stop} is visited or dropped {times} times")]
    StopRepeated { stop: usize, times: usize },
    #[error("route {route} uses location {location}, outside the {size}-location matrix")]
    LocationOutsideMatrix {
        route: usize,
        location: Location,
        size: usize,
    },
    #[error("route {route} drives from location {from} to {to}, which is unreachable")]
    Unreachable {
        route: usize,
        from: Location,
        to: Location,
    },
    #[error("route {route} serves stop {stop}, which its vehicle may not serve")]
    VehicleNotAllowed { route: usize, stop: usize },
    #[error("route {route} carries {load}, over its capacity {capacity}")]
    OverCapacity {
        route: usize,
        load: i64,
        capacity: i64,
    },
    #[error(
        "unused route {route} must have no visits, break or travel and start and end at its shift start"
    )]
    IdleRouteNotIdle { route: usize },
    #[error("route {route} departs at {departure}, before its shift starts at {shift_start}")]
    DepartsBeforeShift {
        route: usize,
        departure: i64,
        shift_start: i64,
    },
    #[error("route {route} ends at {end}, after its shift ends at {shift_end}")]
    EndsAfterShift {
        route: usize,
        end: i64,
        shift_end: i64,
    },
    #[error(
        "route {route} has no start location, so it departs when its first service starts ({expected}), not at {found}"
    )]
    DepartureNotFirstService {
        route: usize,
        expected: i64,
        found: i64,
    },
    #[error("route {route} arrives at stop {stop} at {found}; travel gives {expected}")]
    ArrivalMismatch {
        route: usize,
        stop: usize,
        expected: i64,
        found: i64,
    },
    #[error("route {route} arrives at stop {stop} at {found}, before {earliest}")]
    ArrivalTooEarly {
        route: usize,
        stop: usize,
        earliest: i64,
        found: i64,
    },
    #[error("route {route} starts serving stop {stop} at {start}, before arriving at {arrival}")]
    ServiceBeforeArrival {
        route: usize,
        stop: usize,
        arrival: i64,
        start: i64,
    },
    #[error("route {route} starts serving stop {stop} at {start}, outside its windows")]
    OutsideWindows {
        route: usize,
        stop: usize,
        start: i64,
    },
    #[error("route {route} leaves stop {stop} at {found}; service gives {expected}")]
    DepartureMismatch {
        route: usize,
        stop: usize,
        expected: i64,
        found: i64,
    },
    #[error("route {route} ends at {found}; travel gives {expected}")]
    EndMismatch {
        route: usize,
        expected: i64,
        found: i64,
    },
    #[error("route {route} ends at {found}, before {earliest}")]
    EndTooEarly {
        route: usize,
        earliest: i64,
        found: i64,
    },
    #[error("route {route} takes no break but its vehicle must take one")]
    BreakMissing { route: usize },
    #[error("route {route} takes a break its vehicle does not have (or is unused)")]
    UnexpectedBreak { route: usize },
    #[error("route {route} places its break before visit {before} of {visits}")]
    BreakGapOutOfRange {
        route: usize,
        before: usize,
        visits: usize,
    },
    #[error("route {route}'s break at {start} is not wholly inside the break window")]
    BreakOutsideWindow { route: usize, start: i64 },
    #[error("route {route}'s break at {start} does not fit in the gap before visit {before}")]
    BreakDoesNotFit {
        route: usize,
        before: usize,
        start: i64,
    },
    #[error("route {route} reports travel duration {found}; its legs sum to {expected}")]
    TravelDurationMismatch {
        route: usize,
        expected: i64,
        found: i64,
    },
    #[error("route {route} reports travel distance {found}; its legs sum to {expected}")]
    TravelDistanceMismatch {
        route: usize,
        expected: i64,
        found: i64,
    },
}

/// Checks `solution` against every rule of `problem`. Never panics, whatever the solution
/// holds: wrong indexes and inconsistent times are violations.
pub fn check(problem: &Problem, solution: &Solution) -> Result<Summary, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut seen = vec![0_usize; problem.stops.len()];
    count_dropped(problem, solution, &mut seen, &mut violations);

    if solution.routes.len() != problem.vehicles.len() {
        violations.push(Violation::RouteCount {
            expected: problem.vehicles.len(),
            found: solution.routes.len(),
        });
    }
    let mut route_durations = Vec::with_capacity(solution.routes.len());
    let (mut travel_duration, mut travel_distance) = (0_i64, 0_i64);
    for (index, route) in solution.routes.iter().enumerate() {
        let Some(vehicle) = problem.vehicles.get(route.vehicle) else {
            violations.push(Violation::RouteVehicle {
                route: index,
                vehicle: route.vehicle,
            });
            continue;
        };
        if route.vehicle != index {
            violations.push(Violation::RouteVehicle {
                route: index,
                vehicle: route.vehicle,
            });
        }
        let before = violations.len();
        for visit in &route.visits {
            match seen.get_mut(visit.stop) {
                Some(count) => *count += 1,
                None => violations.push(Violation::UnknownStop {
                    route: index,
                    stop: visit.stop,
                }),
            }
        }
        if violations.len() > before {
            continue;
        }
        let checker = RouteChecker {
            problem,
            vehicle,
            route,
            index,
            violations: &mut violations,
        };
        if let Some(totals) = checker.run() {
            route_durations.push(totals.duration);
            travel_duration = travel_duration.saturating_add(totals.travel_duration);
            travel_distance = travel_distance.saturating_add(totals.travel_distance);
        }
    }
    for (stop, &times) in seen.iter().enumerate() {
        match times {
            0 => violations.push(Violation::StopMissing { stop }),
            1 => {}
            _ => violations.push(Violation::StopRepeated { stop, times }),
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let dropped_prize = solution
        .dropped
        .iter()
        .map(|&stop| problem.stops[stop].prize)
        .fold(0_i64, i64::saturating_add);
    Ok(Summary {
        dropped_prize,
        longest_duration: route_durations.iter().copied().max().unwrap_or(0),
        travel_duration,
        travel_distance,
        route_durations,
    })
}

fn count_dropped(
    problem: &Problem,
    solution: &Solution,
    seen: &mut [usize],
    violations: &mut Vec<Violation>,
) {
    if solution.dropped.windows(2).any(|pair| pair[0] >= pair[1]) {
        violations.push(Violation::DroppedNotAscending);
    }
    for &stop in &solution.dropped {
        match seen.get_mut(stop) {
            Some(count) => *count += 1,
            None => violations.push(Violation::UnknownDroppedStop { stop }),
        }
    }
    debug_assert_eq!(seen.len(), problem.stops.len());
}

/// What a route that passed its checks adds to the summary.
struct RouteTotals {
    duration: i64,
    travel_duration: i64,
    travel_distance: i64,
}

/// One leg's travel: `None` locations are the virtual start or end of a vehicle without one
/// (no travel, no time).
#[derive(Clone, Copy)]
struct Leg {
    duration: i64,
    distance: i64,
    /// The leg starts at the vehicle's missing start or ends at its missing end: the gap
    /// has no length of its own (its two times are one and the same).
    virtual_: bool,
}

struct RouteChecker<'a> {
    problem: &'a Problem,
    vehicle: &'a Vehicle,
    route: &'a Route,
    index: usize,
    violations: &'a mut Vec<Violation>,
}

impl RouteChecker<'_> {
    fn push(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    /// Checks the route; its totals when nothing stopped the timing checks (a route with
    /// an unreachable leg or unknown location is not timed, to avoid follow-on noise).
    fn run(mut self) -> Option<RouteTotals> {
        let route = self.route;
        if route.visits.is_empty() {
            self.check_idle();
            return Some(RouteTotals {
                duration: 0,
                travel_duration: 0,
                travel_distance: 0,
            });
        }
        self.check_restrictions_and_load();
        let legs = self.legs()?;
        let break_ = self.placed_break();
        self.check_times(&legs, break_);
        let travel_duration = legs.iter().fold(0, |sum, l| l.duration.saturating_add(sum));
        let travel_distance = legs.iter().fold(0, |sum, l| l.distance.saturating_add(sum));
        if travel_duration != route.travel_duration {
            self.push(Violation::TravelDurationMismatch {
                route: self.index,
                expected: travel_duration,
                found: route.travel_duration,
            });
        }
        if travel_distance != route.travel_distance {
            self.push(Violation::TravelDistanceMismatch {
                route: self.index,
                expected: travel_distance,
                found: route.travel_distance,
            });
        }
        Some(RouteTotals {
            duration: route.end.saturating_sub(route.departure),
            travel_duration,
            travel_distance,
        })
    }

    fn check_idle(&mut self) {
        let route = self.route;
        let shift_start = self.vehicle.shift.start;
        if route.break_.is_some()
            || route.travel_duration != 0
            || route.travel_distance != 0
            || route.departure != shift_start
            || route.end != shift_start
        {
            self.push(Violation::IdleRouteNotIdle { route: self.index });
        }
    }

    fn check_restrictions_and_load(&mut self) {
        let mut load = 0_i64;
        for visit in &self.route.visits {
            let stop = &self.problem.stops[visit.stop];
            load = load.saturating_add(stop.demand);
            if let Some(allowed) = &stop.vehicles
                && !allowed.contains(&self.route.vehicle)
            {
                self.push(Violation::VehicleNotAllowed {
                    route: self.index,
                    stop: visit.stop,
                });
            }
        }
        if let Some(capacity) = self.vehicle.capacity
            && load > capacity
        {
            self.push(Violation::OverCapacity {
                route: self.index,
                load,
                capacity,
            });
        }
    }

    /// The route's legs, one per gap (start → first stop, ..., last stop → end); `None`
    /// (after recording why) when a location is outside the matrix or a leg unreachable.
    fn legs(&mut self) -> Option<Vec<Leg>> {
        let mut locations: Vec<Option<Location>> = Vec::with_capacity(self.route.visits.len() + 2);
        locations.push(self.vehicle.start);
        locations.extend(
            self.route
                .visits
                .iter()
                .map(|v| Some(self.problem.stops[v.stop].location)),
        );
        locations.push(self.vehicle.end);
        let mut legs = Vec::with_capacity(locations.len() - 1);
        let mut ok = true;
        for pair in locations.windows(2) {
            match (pair[0], pair[1]) {
                (Some(from), Some(to)) => match self.lookup(from, to) {
                    Some(leg) => legs.push(leg),
                    None => ok = false,
                },
                _ => legs.push(Leg {
                    duration: 0,
                    distance: 0,
                    virtual_: true,
                }),
            }
        }
        ok.then_some(legs)
    }

    fn lookup(&mut self, from: Location, to: Location) -> Option<Leg> {
        let matrix = &self.problem.matrix;
        for location in [from, to] {
            if location >= matrix.size {
                self.push(Violation::LocationOutsideMatrix {
                    route: self.index,
                    location,
                    size: matrix.size,
                });
                return None;
            }
        }
        let cell = from * matrix.size + to;
        let duration = matrix.durations.get(cell).copied().flatten();
        let distance = matrix.distances.get(cell).copied().flatten();
        if let (Some(duration), Some(distance)) = (duration, distance) {
            Some(Leg {
                duration,
                distance,
                virtual_: false,
            })
        } else {
            self.push(Violation::Unreachable {
                route: self.index,
                from,
                to,
            });
            None
        }
    }

    /// The placed break with its vehicle's break, when both exist and the gap is valid.
    fn placed_break(&mut self) -> Option<(PlacedBreak, Break)> {
        let visits = self.route.visits.len();
        match (self.route.break_, self.vehicle.break_) {
            (None, None) => None,
            (None, Some(_)) => {
                self.push(Violation::BreakMissing { route: self.index });
                None
            }
            (Some(_), None) => {
                self.push(Violation::UnexpectedBreak { route: self.index });
                None
            }
            (Some(placed), Some(rule)) => {
                if placed.before > visits {
                    self.push(Violation::BreakGapOutOfRange {
                        route: self.index,
                        before: placed.before,
                        visits,
                    });
                    return None;
                }
                if placed.start < rule.window.start
                    || placed.start.saturating_add(rule.duration) > rule.window.end
                {
                    self.push(Violation::BreakOutsideWindow {
                        route: self.index,
                        start: placed.start,
                    });
                }
                Some((placed, rule))
            }
        }
    }

    /// Walks the gaps in order: arrival, service start, windows, departure, break, end.
    fn check_times(&mut self, legs: &[Leg], break_: Option<(PlacedBreak, Break)>) {
        let route = self.route;
        let index = self.index;
        let shift = self.vehicle.shift;
        if route.departure < shift.start {
            self.push(Violation::DepartsBeforeShift {
                route: index,
                departure: route.departure,
                shift_start: shift.start,
            });
        }
        if self.vehicle.start.is_none() && route.departure != route.visits[0].start {
            self.push(Violation::DepartureNotFirstService {
                route: index,
                expected: route.visits[0].start,
                found: route.departure,
            });
        }
        let mut previous_departure = route.departure;
        for (gap, (visit, leg)) in route.visits.iter().zip(legs).enumerate() {
            let stop = &self.problem.stops[visit.stop];
            let break_here = break_.filter(|(placed, _)| placed.before == gap);
            // A virtual first gap has no length: the vehicle "arrives" where it departs.
            let earliest = if leg.virtual_ {
                visit.start
            } else {
                previous_departure.saturating_add(leg.duration)
            };
            if let Some((placed, rule)) = break_here.filter(|_| !leg.virtual_) {
                // Arriving before the break starts rests on site; arriving after it, the
                // drive fitted around it; arriving during it means driving through it.
                let after_break = earliest.saturating_add(rule.duration);
                let earliest = if visit.arrival > placed.start && visit.arrival < after_break {
                    after_break
                } else {
                    earliest
                };
                if visit.arrival < earliest {
                    self.push(Violation::ArrivalTooEarly {
                        route: index,
                        stop: visit.stop,
                        earliest,
                        found: visit.arrival,
                    });
                }
            } else if visit.arrival != earliest {
                self.push(Violation::ArrivalMismatch {
                    route: index,
                    stop: visit.stop,
                    expected: earliest,
                    found: visit.arrival,
                });
            }
            if visit.start < visit.arrival {
                self.push(Violation::ServiceBeforeArrival {
                    route: index,
                    stop: visit.stop,
                    arrival: visit.arrival,
                    start: visit.start,
                });
            }
            if !stop.windows.is_empty()
                && !stop
                    .windows
                    .iter()
                    .any(|w| w.start <= visit.start && visit.start <= w.end)
            {
                self.push(Violation::OutsideWindows {
                    route: index,
                    stop: visit.stop,
                    start: visit.start,
                });
            }
            let departure = visit.start.saturating_add(stop.service);
            if visit.departure != departure {
                self.push(Violation::DepartureMismatch {
                    route: index,
                    stop: visit.stop,
                    expected: departure,
                    found: visit.departure,
                });
            }
            if let Some((placed, rule)) = break_here {
                let gap_start = if leg.virtual_ {
                    visit.start
                } else {
                    previous_departure
                };
                self.check_break_fits(gap_start, *leg, visit.start, placed, rule);
            }
            previous_departure = visit.departure;
        }
        self.check_end(legs, break_, previous_departure);
    }

    fn check_end(
        &mut self,
        legs: &[Leg],
        break_: Option<(PlacedBreak, Break)>,
        last_departure: i64,
    ) {
        let route = self.route;
        let last_leg = legs[legs.len() - 1];
        let earliest = last_departure.saturating_add(last_leg.duration);
        let break_here = break_.filter(|(placed, _)| placed.before == route.visits.len());
        match break_here {
            Some((placed, rule)) if !last_leg.virtual_ => {
                let earliest = earliest.saturating_add(rule.duration);
                if route.end < earliest {
                    self.push(Violation::EndTooEarly {
                        route: self.index,
                        earliest,
                        found: route.end,
                    });
                }
                self.check_break_fits(last_departure, last_leg, route.end, placed, rule);
            }
            _ => {
                if route.end != earliest {
                    self.push(Violation::EndMismatch {
                        route: self.index,
                        expected: earliest,
                        found: route.end,
                    });
                }
                if let Some((placed, rule)) = break_here {
                    // No end location: the gap after the last stop has no length.
                    self.check_break_fits(last_departure, last_leg, last_departure, placed, rule);
                }
            }
        }
        if route.end > self.vehicle.shift.end {
            self.push(Violation::EndsAfterShift {
                route: self.index,
                end: route.end,
                shift_end: self.vehicle.shift.end,
            });
        }
    }

    /// The gap rule of `problem.rs`: from `gap_start` (departure of the node before) to
    /// `gap_end` (service start, or arrival at the end), the break and the drive both fit.
    fn check_break_fits(
        &mut self,
        gap_start: i64,
        leg: Leg,
        gap_end: i64,
        placed: PlacedBreak,
        rule: Break,
    ) {
        let break_end = placed.start.saturating_add(rule.duration);
        let drive_and_break_end = gap_start
            .saturating_add(leg.duration)
            .saturating_add(rule.duration);
        if placed.start < gap_start || break_end > gap_end || drive_and_break_end > gap_end {
            self.push(Violation::BreakDoesNotFit {
                route: self.index,
                before: placed.before,
                start: placed.start,
            });
        }
    }
}

#[cfg(test)]
mod tests;
