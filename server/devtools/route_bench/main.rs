//! `terrane-route-bench`: the route-solver benchmark (development tool, not part of the
//! product). `solomon` solves Solomon VRPTW files under the usual ×1000 integer convention,
//! checks every plan with `routing::check` and prints one JSON line per instance; `team`
//! generates a synthetic team day (10 reps, 300 stops), plans it with the min-max objective
//! and writes the instance and the plan's summary as JSON for the peer script
//! (`scripts/bench/routes.sh`, `scripts/bench/route_peers.py`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use terrane::routing::check::check;
use terrane::routing::solver::{Limits, Problem, Solution, solve};

mod solomon;
mod team;

#[derive(Debug, Parser)]
#[command(name = "terrane-route-bench", about = "Benchmarks the route solver")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Solves Solomon instances (`<dir>/<NAME>.txt`) and prints one JSON line each.
    Solomon {
        #[arg(long)]
        dir: PathBuf,
        /// Time budget per instance, seconds.
        #[arg(long)]
        seconds: f64,
        /// Comma-separated instance names (default: every `.txt` file in `dir`).
        #[arg(long, value_delimiter = ',')]
        instances: Vec<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Generates a team day, plans it (min-max, and least driving for reference) and writes
    /// the instance and both plans' summaries to `out`.
    Team {
        #[arg(long, default_value_t = 10)]
        reps: usize,
        #[arg(long, default_value_t = 300)]
        stops: usize,
        /// Time budget per plan, seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Cmd::Solomon {
            dir,
            seconds,
            instances,
            seed,
        } => solomon::run(&dir, seconds, &instances, seed),
        Cmd::Team {
            reps,
            stops,
            seconds,
            seed,
            out,
        } => {
            let json = team::run(reps, stops, seconds, seed);
            std::fs::write(&out, serde_json::to_vec(&json)?)
                .with_context(|| format!("writing {}", out.display()))
        }
    }
}

/// A plan, how long it took and what the checker says of it.
struct Planned {
    solution: Solution,
    wall_s: f64,
}

fn plan(problem: &Problem, seconds: f64, seed: u64) -> Planned {
    let limits = Limits {
        time: Duration::from_secs_f64(seconds),
        max_iterations: None,
        seed,
    };
    let started = Instant::now();
    let solution = solve(problem, &limits);
    Planned {
        solution,
        wall_s: started.elapsed().as_secs_f64(),
    }
}

/// The plan's figures as JSON; `feasible` means the checker accepts it and nothing with a
/// must-visit prize was dropped.
fn summary_json(problem: &Problem, planned: &Planned) -> serde_json::Value {
    let used = planned
        .solution
        .routes
        .iter()
        .filter(|r| !r.visits.is_empty())
        .count();
    match check(problem, &planned.solution) {
        Ok(summary) => json!({
            "feasible": planned.solution.dropped.is_empty(),
            "dropped": planned.solution.dropped.len(),
            "vehicles": used,
            "longest_day_s": summary.longest_duration,
            "total_drive_s": summary.travel_duration,
            "total_distance_m": summary.travel_distance,
            "day_lengths_s": summary.route_durations,
            "wall_s": planned.wall_s,
        }),
        Err(violations) => {
            for violation in violations.iter().take(5) {
                eprintln!("checker: {violation}");
            }
            json!({
                "feasible": false,
                "violations": violations.len(),
                "dropped": planned.solution.dropped.len(),
                "vehicles": used,
                "wall_s": planned.wall_s,
            })
        }
    }
}
