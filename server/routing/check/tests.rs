use super::*;
use crate::routing::solver::{Matrix, Stop, Visit, Window};

/// A depot (location 0) and three stops on a line, 10 s (30 m) apart; two vehicles at the
/// depot with a 1,000 s shift; the plan serves the line out and back with the first vehicle.
fn line() -> (Problem, Solution) {
    let n = 4;
    let mut durations = Vec::new();
    for a in 0..n {
        for b in 0..n {
            durations.push(10 * (a as i64 - b as i64).abs());
        }
    }
    let distances = durations.iter().map(|d| d * 3).collect();
    let vehicle = Vehicle {
        start: Some(0),
        end: Some(0),
        shift: Window {
            start: 0,
            end: 1_000,
        },
        capacity: Some(10),
        break_: None,
    };
    let problem = Problem {
        matrix: Matrix::full(n, durations, distances),
        stops: (1..n)
            .map(|location| Stop {
                location,
                service: 5,
                windows: Vec::new(),
                demand: 2,
                prize: 100 * location as i64,
                vehicles: None,
            })
            .collect(),
        vehicles: vec![vehicle.clone(), vehicle],
        objective: Objective::TotalDuration,
    };
    let visit = |stop: usize, start: i64| Visit {
        stop,
        arrival: start,
        start,
        departure: start + 5,
    };
    let solution = Solution {
        routes: vec![
            Route {
                vehicle: 0,
                departure: 0,
                visits: vec![visit(0, 10), visit(1, 25), visit(2, 40)],
                break_: None,
                end: 75,
                travel_duration: 60,
                travel_distance: 180,
            },
            Route {
                vehicle: 1,
                departure: 0,
                visits: Vec::new(),
                break_: None,
                end: 0,
                travel_duration: 0,
                travel_distance: 0,
            },
        ],
        dropped: Vec::new(),
    };
    (problem, solution)
}

/// The violations after `change` breaks the valid line plan.
fn violations(change: impl FnOnce(&mut Problem, &mut Solution)) -> Vec<Violation> {
    let (mut problem, mut solution) = line();
    change(&mut problem, &mut solution);
    check(&problem, &solution).expect_err("the changed plan is infeasible")
}

/// A one-hour lunch-style break rule scaled to the line: 20 s inside [20, 60].
fn short_break() -> Break {
    Break {
        window: Window { start: 20, end: 60 },
        duration: 20,
    }
}

#[test]
fn a_valid_plan_is_summed_up() {
    let (problem, solution) = line();
    let summary = check(&problem, &solution).expect("feasible");
    assert_eq!(
        summary,
        Summary {
            dropped_prize: 0,
            longest_duration: 75,
            travel_duration: 60,
            travel_distance: 180,
            route_durations: vec![75, 0],
        }
    );
    assert_eq!(summary.cost(Objective::TotalDistance), (0, 180, 0));
    assert_eq!(summary.cost(Objective::MinMaxDuration), (0, 75, 60));
}

#[test]
fn dropped_stops_count_their_prizes() {
    let (problem, mut solution) = line();
    let route = &mut solution.routes[0];
    route.visits.truncate(2);
    route.end = 50;
    route.travel_duration = 40;
    route.travel_distance = 120;
    solution.dropped = vec![2];
    let summary = check(&problem, &solution).expect("feasible");
    assert_eq!(summary.dropped_prize, 300);
    assert_eq!(summary.longest_duration, 50);
}

#[test]
fn wrong_indexes_are_violations_not_panics() {
    let found = violations(|_, s| {
        s.routes[0].visits[0].stop = 9;
        s.routes[1].vehicle = 7;
        s.dropped = vec![12, 4];
    });
    assert!(found.contains(&Violation::UnknownStop { route: 0, stop: 9 }));
    assert!(found.contains(&Violation::RouteVehicle {
        route: 1,
        vehicle: 7
    }));
    assert!(found.contains(&Violation::UnknownDroppedStop { stop: 12 }));
    assert!(found.contains(&Violation::DroppedNotAscending));
    assert!(found.contains(&Violation::StopMissing { stop: 0 }));

    let found = violations(|_, s| {
        s.routes.pop();
    });
    assert!(found.contains(&Violation::RouteCount {
        expected: 2,
        found: 1
    }));

    let found = violations(|p, _| p.stops[1].location = 40);
    assert!(found.contains(&Violation::LocationOutsideMatrix {
        route: 0,
        location: 40,
        size: 4
    }));
}

#[test]
fn extreme_times_are_violations_not_overflows() {
    let found = violations(|p, s| {
        let route = &mut s.routes[0];
        route.departure = i64::MIN;
        route.visits[0].start = i64::MAX;
        route.visits[0].departure = i64::MAX;
        route.end = i64::MAX;
        route.break_ = Some(PlacedBreak {
            before: 1,
            start: i64::MAX,
        });
        p.vehicles[0].break_ = Some(Break {
            window: Window {
                start: i64::MIN,
                end: i64::MAX,
            },
            duration: i64::MAX,
        });
        p.stops[1].service = i64::MAX;
        p.matrix.durations[1] = Some(i64::MAX);
    });
    assert!(found.contains(&Violation::EndsAfterShift {
        route: 0,
        end: i64::MAX,
        shift_end: 1_000
    }));
}

#[test]
fn every_stop_is_served_or_dropped_exactly_once() {
    let found = violations(|_, s| s.dropped = vec![1]);
    assert_eq!(found, vec![Violation::StopRepeated { stop: 1, times: 2 }]);
    let found = violations(|_, s| {
        let visits = s.routes[0].visits.clone();
        s.routes[1] = s.routes[0].clone();
        s.routes[1].vehicle = 1;
        s.routes[1].visits = visits;
    });
    assert!(found.contains(&Violation::StopRepeated { stop: 0, times: 2 }));
}

#[test]
fn restrictions_and_capacity_are_enforced() {
    let found = violations(|p, _| p.stops[1].vehicles = Some(vec![1]));
    assert_eq!(
        found,
        vec![Violation::VehicleNotAllowed { route: 0, stop: 1 }]
    );
    let found = violations(|p, _| p.vehicles[0].capacity = Some(5));
    assert_eq!(
        found,
        vec![Violation::OverCapacity {
            route: 0,
            load: 6,
            capacity: 5
        }]
    );
}

#[test]
fn no_route_drives_over_an_unreachable_cell() {
    let found = violations(|p, _| p.matrix.durations[4 + 2] = None);
    assert_eq!(
        found,
        vec![Violation::Unreachable {
            route: 0,
            from: 1,
            to: 2
        }]
    );
}

#[test]
fn an_unused_route_stays_home() {
    let found = violations(|_, s| s.routes[1].end = 5);
    assert_eq!(found, vec![Violation::IdleRouteNotIdle { route: 1 }]);
}

#[test]
fn shift_limits_are_enforced() {
    let found = violations(|p, _| p.vehicles[0].shift = Window { start: 5, end: 70 });
    assert!(found.contains(&Violation::DepartsBeforeShift {
        route: 0,
        departure: 0,
        shift_start: 5
    }));
    assert!(found.contains(&Violation::EndsAfterShift {
        route: 0,
        end: 75,
        shift_end: 70
    }));
}

#[test]
fn service_starts_inside_one_of_its_windows() {
    let windows = vec![Window { start: 0, end: 5 }, Window { start: 30, end: 35 }];
    let found = violations(|p, _| p.stops[1].windows.clone_from(&windows));
    assert_eq!(
        found,
        vec![Violation::OutsideWindows {
            route: 0,
            stop: 1,
            start: 25
        }]
    );
    // Waiting for the second window is fine when the times say so.
    let (mut problem, mut solution) = line();
    problem.stops[1].windows = windows;
    let route = &mut solution.routes[0];
    route.visits[1].start = 30;
    route.visits[1].departure = 35;
    route.visits[2] = Visit {
        stop: 2,
        arrival: 45,
        start: 45,
        departure: 50,
    };
    route.end = 80;
    let summary = check(&problem, &solution).expect("waiting is allowed");
    assert_eq!(summary.longest_duration, 80);
}

#[test]
fn visit_times_follow_travel_and_service() {
    let found = violations(|_, s| s.routes[0].visits[1].arrival = 24);
    assert!(found.contains(&Violation::ArrivalMismatch {
        route: 0,
        stop: 1,
        expected: 25,
        found: 24
    }));
    let found = violations(|_, s| s.routes[0].visits[1].start = 20);
    assert!(found.contains(&Violation::ServiceBeforeArrival {
        route: 0,
        stop: 1,
        arrival: 25,
        start: 20
    }));
    let found = violations(|_, s| s.routes[0].visits[2].departure = 44);
    assert!(found.contains(&Violation::DepartureMismatch {
        route: 0,
        stop: 2,
        expected: 45,
        found: 44
    }));
    let found = violations(|_, s| s.routes[0].end = 74);
    assert_eq!(
        found,
        vec![Violation::EndMismatch {
            route: 0,
            expected: 75,
            found: 74
        }]
    );
}

#[test]
fn route_totals_match_the_matrix() {
    let found = violations(|_, s| {
        s.routes[0].travel_duration = 59;
        s.routes[0].travel_distance = 181;
    });
    assert_eq!(
        found,
        vec![
            Violation::TravelDurationMismatch {
                route: 0,
                expected: 60,
                found: 59
            },
            Violation::TravelDistanceMismatch {
                route: 0,
                expected: 180,
                found: 181
            }
        ]
    );
}

#[test]
fn without_a_start_the_day_starts_at_the_first_service() {
    let (mut problem, mut solution) = line();
    problem.vehicles[0].start = None;
    let route = &mut solution.routes[0];
    route.departure = 10;
    route.travel_duration = 50;
    route.travel_distance = 150;
    let summary = check(&problem, &solution).expect("feasible");
    assert_eq!(summary.longest_duration, 65);
    let found = violations(|p, s| {
        p.vehicles[0].start = None;
        s.routes[0].travel_duration = 50;
        s.routes[0].travel_distance = 150;
    });
    assert!(found.contains(&Violation::DepartureNotFirstService {
        route: 0,
        expected: 10,
        found: 0
    }));
}

/// The line plan with the break taken in the gap before the second stop: leave the first
/// stop at 15, drive 15..20, break 20..40, drive 40..45, serve the second stop at 45.
fn line_with_break() -> (Problem, Solution) {
    let (mut problem, mut solution) = line();
    problem.vehicles[0].break_ = Some(short_break());
    problem.vehicles[1].break_ = Some(short_break());
    let route = &mut solution.routes[0];
    route.break_ = Some(PlacedBreak {
        before: 1,
        start: 20,
    });
    route.visits[1] = Visit {
        stop: 1,
        arrival: 45,
        start: 45,
        departure: 50,
    };
    route.visits[2] = Visit {
        stop: 2,
        arrival: 60,
        start: 60,
        departure: 65,
    };
    route.end = 95;
    (problem, solution)
}

#[test]
fn a_break_inside_its_window_and_gap_is_accepted() {
    let (problem, solution) = line_with_break();
    let summary = check(&problem, &solution).expect("feasible");
    assert_eq!(summary.longest_duration, 95);
    // Driving first and taking the break on arrival is the same gap rule.
    let mut on_arrival = solution;
    on_arrival.routes[0].visits[1].arrival = 25;
    on_arrival.routes[0].break_ = Some(PlacedBreak {
        before: 1,
        start: 25,
    });
    check(&problem, &on_arrival).expect("a break after arriving is fine");
}

#[test]
fn break_rules_are_enforced() {
    let (problem, solution) = line_with_break();
    let run = |change: &dyn Fn(&mut Problem, &mut Solution)| {
        let (mut p, mut s) = (problem.clone(), solution.clone());
        change(&mut p, &mut s);
        check(&p, &s).expect_err("infeasible")
    };
    assert!(run(&|_, s| s.routes[0].break_ = None).contains(&Violation::BreakMissing { route: 0 }));
    assert!(
        run(&|p, _| p.vehicles[0].break_ = None).contains(&Violation::UnexpectedBreak { route: 0 })
    );
    assert!(
        run(&|_, s| s.routes[1].break_ = s.routes[0].break_)
            .contains(&Violation::IdleRouteNotIdle { route: 1 })
    );
    assert!(
        run(&|_, s| s.routes[0].break_ = Some(PlacedBreak {
            before: 4,
            start: 20
        }))
        .contains(&Violation::BreakGapOutOfRange {
            route: 0,
            before: 4,
            visits: 3
        })
    );
    assert!(
        run(&|p, _| p.vehicles[0].break_ = Some(Break {
            window: Window { start: 21, end: 60 },
            duration: 20,
        }))
        .contains(&Violation::BreakOutsideWindow {
            route: 0,
            start: 20
        })
    );
    // Arriving at 25 and resting 25..45 cannot start service at 44.
    let found = run(&|_, s| {
        let route = &mut s.routes[0];
        route.break_ = Some(PlacedBreak {
            before: 1,
            start: 25,
        });
        route.visits[1] = Visit {
            stop: 1,
            arrival: 25,
            start: 44,
            departure: 49,
        };
        route.visits[2] = Visit {
            stop: 2,
            arrival: 59,
            start: 59,
            departure: 64,
        };
        route.end = 94;
    });
    assert_eq!(
        found,
        vec![Violation::BreakDoesNotFit {
            route: 0,
            before: 1,
            start: 25
        }]
    );
    assert!(run(&|_, s| s.routes[0].visits[1].arrival = 12).contains(
        &Violation::ArrivalTooEarly {
            route: 0,
            stop: 1,
            earliest: 25,
            found: 12
        }
    ));
    // Arriving at 30 means driving through the break (20..40).
    assert!(run(&|_, s| s.routes[0].visits[1].arrival = 30).contains(
        &Violation::ArrivalTooEarly {
            route: 0,
            stop: 1,
            earliest: 45,
            found: 30
        }
    ));
}

#[test]
fn a_break_before_the_end_pushes_the_end() {
    let (mut problem, mut solution) = line();
    problem.vehicles[0].break_ = Some(Break {
        window: Window { start: 40, end: 80 },
        duration: 20,
    });
    let route = &mut solution.routes[0];
    route.break_ = Some(PlacedBreak {
        before: 3,
        start: 45,
    });
    route.end = 95;
    check(&problem, &solution).expect("feasible");
    solution.routes[0].end = 94;
    let found = check(&problem, &solution).expect_err("too early");
    assert!(found.contains(&Violation::EndTooEarly {
        route: 0,
        earliest: 95,
        found: 94
    }));
}

#[test]
fn without_an_end_no_break_fits_after_the_last_stop() {
    let (mut problem, mut solution) = line();
    problem.vehicles[0].end = None;
    problem.vehicles[0].break_ = Some(Break {
        window: Window { start: 40, end: 80 },
        duration: 20,
    });
    let route = &mut solution.routes[0];
    route.break_ = Some(PlacedBreak {
        before: 3,
        start: 45,
    });
    route.end = 65;
    route.travel_duration = 30;
    route.travel_distance = 90;
    let found = check(&problem, &solution).expect_err("no gap after the last stop");
    assert!(found.contains(&Violation::EndMismatch {
        route: 0,
        expected: 45,
        found: 65
    }));
    assert!(found.contains(&Violation::BreakDoesNotFit {
        route: 0,
        before: 3,
        start: 45
    }));
}
