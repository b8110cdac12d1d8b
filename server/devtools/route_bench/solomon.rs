//! Solomon VRPTW files as solver problems: cost = round(1000 × Euclidean distance) as both
//! distance and duration, ready times, due dates and service × 1000, the file's vehicle
//! count and capacity, every customer a must-visit stop, objective total distance.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;

use terrane::routing::solver::{Matrix, Objective, Problem, Stop, Vehicle, Window};

use crate::{plan, summary_json};

/// A prize no Solomon route reaches (distances are at most a few million): customers are
/// dropped only when the solver finds no place for them, and then the plan is infeasible.
const MUST_VISIT_PRIZE: i64 = 1_000_000_000_000;

struct Customer {
    x: f64,
    y: f64,
    demand: i64,
    ready: i64,
    due: i64,
    service: i64,
}

/// Parses a Solomon file: the VEHICLE section's number and capacity, then one row per
/// customer (number, x, y, demand, ready time, due date, service time), the depot first.
fn parse(text: &str) -> anyhow::Result<(usize, i64, Vec<Customer>)> {
    let mut numeric_rows = text.lines().filter_map(|line| {
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (!fields.is_empty()).then_some(fields)
    });
    let vehicle_row = numeric_rows.next().context("no VEHICLE row")?;
    let [vehicles, capacity] = vehicle_row[..] else {
        bail!("the VEHICLE row has {} numbers, not 2", vehicle_row.len());
    };
    let mut customers = Vec::new();
    for row in numeric_rows {
        let [_, x, y, demand, ready, due, service] = row[..] else {
            bail!("a CUSTOMER row has {} numbers, not 7", row.len());
        };
        customers.push(Customer {
            x,
            y,
            demand: demand as i64,
            ready: (ready * 1_000.0).round() as i64,
            due: (due * 1_000.0).round() as i64,
            service: (service * 1_000.0).round() as i64,
        });
    }
    if customers.len() < 2 {
        bail!("no customers");
    }
    Ok((vehicles as usize, capacity as i64, customers))
}

/// The problem for one Solomon file's text.
pub fn problem(text: &str) -> anyhow::Result<Problem> {
    let (vehicles, capacity, customers) = parse(text)?;
    let size = customers.len();
    let mut costs = Vec::with_capacity(size * size);
    for a in &customers {
        for b in &customers {
            costs.push(((a.x - b.x).hypot(a.y - b.y) * 1_000.0).round() as i64);
        }
    }
    let depot = &customers[0];
    let vehicle = Vehicle {
        start: Some(0),
        end: Some(0),
        shift: Window {
            start: depot.ready,
            end: depot.due,
        },
        capacity: Some(capacity),
        break_: None,
    };
    let stops = customers
        .iter()
        .enumerate()
        .skip(1)
        .map(|(location, c)| Stop {
            location,
            service: c.service,
            windows: vec![Window {
                start: c.ready,
                end: c.due,
            }],
            demand: c.demand,
            prize: MUST_VISIT_PRIZE,
            vehicles: None,
        })
        .collect();
    Ok(Problem {
        matrix: Matrix::full(size, costs.clone(), costs),
        stops,
        vehicles: vec![vehicle; vehicles],
        objective: Objective::TotalDistance,
    })
}

/// Solves each instance and prints its JSON line.
pub fn run(dir: &Path, seconds: f64, names: &[String], seed: u64) -> anyhow::Result<()> {
    let mut names = names.to_vec();
    if names.is_empty() {
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "txt")
                && let Some(stem) = path.file_stem()
            {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
        names.sort();
    }
    for name in names {
        let path = dir.join(format!("{name}.txt"));
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let problem = problem(&text).with_context(|| format!("parsing {}", path.display()))?;
        let planned = plan(&problem, seconds, seed);
        let summary = summary_json(&problem, &planned);
        let cost = summary["total_distance_m"]
            .as_i64()
            .map(|d| d as f64 / 1_000.0);
        println!(
            "{}",
            json!({
                "instance": name,
                "solver": "terrane",
                "seconds_budget": seconds,
                "wall_s": planned.wall_s,
                "cost": cost,
                "vehicles": summary["vehicles"],
                "feasible": summary["feasible"],
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "T1\n\nVEHICLE\nNUMBER     CAPACITY\n  2         10\n\nCUSTOMER\n\
        CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n \n\
        0 0 0 0 0 100 0\n1 3 4 4 0 50 10\n2 0 1 7 5 20 10\n";

    #[test]
    fn a_solomon_file_becomes_a_problem_in_thousandths() {
        let problem = problem(TINY).expect("parses");
        assert_eq!(problem.vehicles.len(), 2);
        assert_eq!(problem.vehicles[0].capacity, Some(10));
        assert_eq!(
            problem.vehicles[0].shift,
            Window {
                start: 0,
                end: 100_000
            }
        );
        assert_eq!(problem.matrix.distance(0, 1), Some(5_000));
        assert_eq!(problem.matrix.duration(1, 2), Some(4_243));
        assert_eq!(
            problem.stops[1].windows,
            vec![Window {
                start: 5_000,
                end: 20_000
            }]
        );
        assert_eq!(problem.stops[1].service, 10_000);
        assert_eq!(problem.stops[1].demand, 7);
    }
}
