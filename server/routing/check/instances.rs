//! Test-only random day-planning problems small enough for exhaustive search: several
//! windows per stop, optional stops with prizes, breaks, shift limits, vehicle
//! restrictions, capacities and unreachable matrix cells, all from one seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::routing::solver::{Break, Matrix, Objective, Problem, Stop, Vehicle, Window};

/// Seconds since midnight.
const HOUR: i64 = 3_600;
const DAY_OPENS: i64 = 8 * HOUR;
const DAY_CLOSES: i64 = 18 * HOUR;
/// A prize no route cost reaches: such a stop is dropped only when it cannot fit.
pub const MUST_VISIT_PRIZE: i64 = 1_000_000;

/// A random problem with `stops` stops and `vehicles` vehicles (1 or 2 depots first, then
/// one location per stop), the same for the same arguments on every machine.
pub fn random_problem(seed: u64, stops: usize, vehicles: usize, objective: Objective) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let depots = rng.random_range(1..=2_usize);
    let size = depots + stops;
    // Points in a 15 km square; 40 km/h with a detour factor, distances with their own.
    let points: Vec<(f64, f64)> = (0..size)
        .map(|_| {
            (
                rng.random_range(0.0..15_000.0),
                rng.random_range(0.0..15_000.0),
            )
        })
        .collect();
    let mut durations = Vec::with_capacity(size * size);
    let mut distances = Vec::with_capacity(size * size);
    for a in 0..size {
        for b in 0..size {
            if a == b {
                durations.push(Some(0));
                distances.push(Some(0));
                continue;
            }
            let metres = (points[a].0 - points[b].0).hypot(points[a].1 - points[b].1);
            let unreachable = rng.random_bool(0.04);
            let duration = (metres * 1.3 / 11.1).round() as i64 + rng.random_range(0..120);
            let distance = (metres * 1.25).round() as i64 + rng.random_range(0..400);
            durations.push((!unreachable).then_some(duration));
            distances.push((!unreachable).then_some(distance));
        }
    }
    let stops = (0..stops)
        .map(|s| random_stop(&mut rng, depots + s, vehicles))
        .collect();
    let vehicles = (0..vehicles)
        .map(|_| random_vehicle(&mut rng, depots, size))
        .collect();
    Problem {
        matrix: Matrix {
            size,
            durations,
            distances,
        },
        stops,
        vehicles,
        objective,
    }
}

fn random_stop(rng: &mut ChaCha8Rng, location: usize, vehicles: usize) -> Stop {
    let service = [300, 600, 900, 1_200, 1_800][rng.random_range(0..5_usize)];
    let window_count = rng.random_range(0..=3_usize);
    let mut times: Vec<i64> = (0..2 * window_count)
        .map(|_| rng.random_range(DAY_OPENS..DAY_CLOSES))
        .collect();
    times.sort_unstable();
    times.dedup();
    let windows = times
        .chunks_exact(2)
        .map(|pair| Window {
            start: pair[0],
            end: pair[1],
        })
        .collect();
    let prize = if rng.random_bool(0.5) {
        MUST_VISIT_PRIZE
    } else {
        rng.random_range(300..6_000)
    };
    let restricted = vehicles > 1 && rng.random_bool(0.2);
    Stop {
        location,
        service,
        windows,
        demand: rng.random_range(0..=3),
        prize,
        vehicles: restricted.then(|| vec![rng.random_range(0..vehicles)]),
    }
}

fn random_vehicle(rng: &mut ChaCha8Rng, depots: usize, size: usize) -> Vehicle {
    let depot = rng.random_range(0..depots);
    let start = rng.random_bool(0.85).then_some(depot);
    let end = match rng.random_range(0..10) {
        0..=6 => Some(depot),
        7 => Some(rng.random_range(0..size)),
        _ => None,
    };
    let shift_start = rng.random_range(DAY_OPENS..=DAY_OPENS + HOUR);
    let shift = Window {
        start: shift_start,
        end: shift_start + rng.random_range(4 * HOUR..=10 * HOUR),
    };
    let break_ = rng.random_bool(0.6).then(|| {
        let start = rng.random_range(11 * HOUR..=13 * HOUR);
        Break {
            window: Window {
                start,
                end: start + rng.random_range(HOUR..=2 * HOUR),
            },
            duration: 1_800,
        }
    });
    Vehicle {
        start,
        end,
        shift,
        capacity: rng.random_bool(0.5).then(|| rng.random_range(3..=8)),
        break_,
    }
}

/// A team instance where the least total driving gives one vehicle the whole day: six
/// stops in a far cluster, two vehicles at one depot. Splitting the cluster costs a second
/// trip out, so travel objectives keep one route; min-max splits it.
pub fn far_cluster_team() -> Problem {
    let size = 7;
    let mut durations = Vec::with_capacity(size * size);
    for a in 0..size {
        for b in 0..size {
            durations.push(match (a, b) {
                _ if a == b => 0,
                (0, _) | (_, 0) => 3_600,
                _ => 60 * (a as i64 - b as i64).abs(),
            });
        }
    }
    let distances = durations.iter().map(|d| d * 12).collect();
    let vehicle = Vehicle {
        start: Some(0),
        end: Some(0),
        shift: Window {
            start: DAY_OPENS,
            end: DAY_OPENS + 12 * HOUR,
        },
        capacity: None,
        break_: None,
    };
    Problem {
        matrix: Matrix::full(size, durations, distances),
        stops: (1..size)
            .map(|location| Stop {
                location,
                service: 1_800,
                windows: Vec::new(),
                demand: 0,
                prize: MUST_VISIT_PRIZE,
                vehicles: None,
            })
            .collect(),
        vehicles: vec![vehicle.clone(), vehicle],
        objective: Objective::TotalDuration,
    }
}
