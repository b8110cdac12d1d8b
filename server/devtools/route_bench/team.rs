//! A synthetic team day, generated apart from the solver's own tests so nothing is tuned to
//! it: reps' homes and stops in a 30 × 30 km area (60% of the stops in eight towns, the rest
//! anywhere), road distance = 1.3 × straight line, driven at 40 km/h, opening hours (some
//! split at lunch, some all day), 8-hour shifts from home with a 30-minute break between
//! 11:30 and 14:00.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use terrane::routing::solver::{Break, Matrix, Objective, Problem, Stop, Vehicle, Window};

use crate::{plan, summary_json};

const AREA_M: f64 = 30_000.0;
const DETOUR: f64 = 1.3;
/// 40 km/h.
const SPEED_M_PER_S: f64 = 40_000.0 / 3_600.0;
const TOWNS: usize = 8;
const TOWN_SPREAD_M: f64 = 1_500.0;
const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;
/// Every stop must be visited if it fits at all.
const MUST_VISIT_PRIZE: i64 = 1_000_000_000;

/// The generated problem, same seed same problem on every machine (ChaCha8).
pub fn problem(reps: usize, stops: usize, seed: u64) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let uniform =
        |rng: &mut ChaCha8Rng| (rng.random_range(0.0..AREA_M), rng.random_range(0.0..AREA_M));
    let towns: Vec<(f64, f64)> = (0..TOWNS)
        .map(|_| {
            (
                rng.random_range(0.15 * AREA_M..0.85 * AREA_M),
                rng.random_range(0.15 * AREA_M..0.85 * AREA_M),
            )
        })
        .collect();
    let mut points: Vec<(f64, f64)> = (0..reps).map(|_| uniform(&mut rng)).collect();
    for _ in 0..stops {
        let point = if rng.random_bool(0.6) {
            let town = towns[rng.random_range(0..TOWNS)];
            let (dx, dy) = gaussian_pair(&mut rng);
            (
                (town.0 + dx * TOWN_SPREAD_M).clamp(0.0, AREA_M),
                (town.1 + dy * TOWN_SPREAD_M).clamp(0.0, AREA_M),
            )
        } else {
            uniform(&mut rng)
        };
        points.push(point);
    }
    let size = points.len();
    let mut durations = Vec::with_capacity(size * size);
    let mut distances = Vec::with_capacity(size * size);
    for a in &points {
        for b in &points {
            let road_m = (a.0 - b.0).hypot(a.1 - b.1) * DETOUR;
            distances.push(road_m.round() as i64);
            durations.push((road_m / SPEED_M_PER_S).round() as i64);
        }
    }
    let stops = (0..stops)
        .map(|s| {
            let service = [5, 8, 10, 15][rng.random_range(0..4_usize)] * MINUTE;
            Stop {
                location: reps + s,
                service,
                windows: start_windows(&opening_hours(&mut rng), service),
                demand: 0,
                prize: MUST_VISIT_PRIZE,
                vehicles: None,
            }
        })
        .collect();
    let vehicles = (0..reps)
        .map(|home| Vehicle {
            start: Some(home),
            end: Some(home),
            shift: Window {
                start: 8 * HOUR,
                end: 16 * HOUR,
            },
            capacity: None,
            break_: Some(Break {
                window: Window {
                    start: 11 * HOUR + 30 * MINUTE,
                    end: 14 * HOUR,
                },
                duration: 30 * MINUTE,
            }),
        })
        .collect();
    Problem {
        matrix: Matrix::full(size, durations, distances),
        stops,
        vehicles,
        objective: Objective::MinMaxDuration,
    }
}

/// Two independent standard normal numbers (Box–Muller).
fn gaussian_pair(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let r = (-2.0 * u.ln()).sqrt();
    (r * v.cos(), r * v.sin())
}

/// Opening hours, seconds since midnight: all day, split at lunch, mornings, afternoons, or
/// no limit (an empty list).
fn opening_hours(rng: &mut ChaCha8Rng) -> Vec<Window> {
    let h = |hours: i64, minutes: i64| hours * HOUR + minutes * MINUTE;
    let w = |start, end| Window { start, end };
    match rng.random_range(0..100) {
        0..35 => vec![w(h(9, 0), h(17, 0))],
        35..60 => vec![w(h(9, 0), h(12, 30)), w(h(14, 0), h(18, 0))],
        60..80 => Vec::new(),
        80..90 => vec![w(h(8, 30), h(12, 0))],
        _ => vec![w(h(13, 0), h(17, 30))],
    }
}

/// Opening hours as service-start windows: the visit must end by closing time.
fn start_windows(hours: &[Window], service: i64) -> Vec<Window> {
    hours
        .iter()
        .filter(|w| w.end - service >= w.start)
        .map(|w| Window {
            start: w.start,
            end: w.end - service,
        })
        .collect()
}

/// Plans the day (min-max, then least driving for reference) and returns the instance and
/// both summaries for the peer script.
pub fn run(reps: usize, stops: usize, seconds: f64, seed: u64) -> serde_json::Value {
    let mut problem = problem(reps, stops, seed);
    let balanced = plan(&problem, seconds, seed);
    let balanced = summary_json(&problem, &balanced);
    problem.objective = Objective::TotalDuration;
    let least_driving = plan(&problem, seconds, seed);
    let least_driving = summary_json(&problem, &least_driving);
    eprintln!("terrane min-max: {balanced}");
    eprintln!("terrane least driving: {least_driving}");

    let size = problem.matrix.size;
    let rows = |cells: &[Option<i64>]| -> Vec<Vec<i64>> {
        cells
            .chunks(size)
            .map(|row| row.iter().map(|c| c.unwrap_or(i64::MAX)).collect())
            .collect()
    };
    let window_pairs = |ws: &[Window]| ws.iter().map(|w| [w.start, w.end]).collect::<Vec<_>>();
    json!({
        "seed": seed,
        "reps": reps,
        "stops": stops,
        "seconds_budget": seconds,
        "durations": rows(&problem.matrix.durations),
        "distances": rows(&problem.matrix.distances),
        "vehicles": problem.vehicles.iter().map(|v| json!({
            "start": v.start,
            "end": v.end,
            "shift": [v.shift.start, v.shift.end],
            "break": v.break_.map(|b| json!({
                "window": [b.window.start, b.window.end],
                "duration": b.duration,
            })),
        })).collect::<Vec<_>>(),
        "jobs": problem.stops.iter().map(|s| json!({
            "location": s.location,
            "service": s.service,
            "windows": window_pairs(&s.windows),
        })).collect::<Vec<_>>(),
        "terrane_min_max": balanced,
        "terrane_least_driving": least_driving,
    })
}
