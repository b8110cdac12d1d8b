//! `terrane-territory-bench`: the territory-balancing benchmark (development tool, not part of
//! the product). `gen` writes a data set (synthetic accounts with a fixed seed, or the demo
//! CRM's accounts) as CSV; `report` runs plain k-means (linfa), the balancer (fresh), and,
//! after 5% of the accounts change, the balancer in stability mode, each in a child process
//! of this binary so its peak memory (VmHWM) is its own; evaluates any peer assignment files
//! found beside the data with the same metric function; and prints one markdown table.
//! Used by `scripts/bench/territories.sh`. `tiles` times a plan's vector tiles (`tiles.rs`,
//! used by `scripts/bench/tiles.sh`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use terrane::seed::dataset::DemoDataset;
use terrane::territory::balance::synthetic::{self, Region};
use terrane::territory::balance::{Anneal, Mode, Options, TerritorySeed, Unit, balance};
use terrane::territory::metrics::{self, PlanMetrics};

mod tiles;

#[derive(Debug, Parser)]
#[command(
    name = "terrane-territory-bench",
    about = "Benchmarks balanced territory plans"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Writes `<dir>/points.csv` (lon, lat, workload, x_m, y_m) and `<dir>/set.json`.
    Gen {
        #[arg(long)]
        dir: PathBuf,
        /// Synthetic accounts (70% in clusters, 30% sparse over 60 × 60 km).
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        #[arg(long, default_value_t = 20)]
        territories: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of clusters.
        #[arg(long, default_value_t = 12)]
        clusters: usize,
        /// Smallest and largest cluster spread (standard deviation), km.
        #[arg(long, default_value_t = 0.7)]
        spread_min_km: f64,
        #[arg(long, default_value_t = 3.0)]
        spread_max_km: f64,
        /// Log-standard deviation of the lognormal workloads.
        #[arg(long, default_value_t = 0.6)]
        workload_sigma: f64,
        /// Use the demo CRM's accounts instead (territories default to its reps).
        #[arg(long)]
        demo: Option<PathBuf>,
    },
    /// Runs the methods on `<dir>` and prints the table rows.
    Report {
        #[arg(long)]
        dir: PathBuf,
        /// Print the table header first.
        #[arg(long)]
        header: bool,
    },
    /// Internal: runs one method in this process and prints its time and peak memory.
    Child {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        method: String,
    },
    /// Times a balanced plan's vector tiles on synthetic accounts in a scratch database.
    Tiles(tiles::TilesArgs),
}

/// What `gen` decided, read back by `report`.
#[derive(Debug, Serialize, Deserialize)]
struct SetInfo {
    name: String,
    territories: usize,
    seed: u64,
    synthetic: bool,
}

/// A child's measurements.
#[derive(Debug, Serialize, Deserialize)]
struct Run {
    secs: f64,
    peak_mib: f64,
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Cmd::Gen {
            dir,
            accounts,
            territories,
            seed,
            clusters,
            spread_min_km,
            spread_max_km,
            workload_sigma,
            demo,
        } => {
            let region = Region {
                clusters,
                spread_km: (spread_min_km, spread_max_km),
                workload_sigma,
                ..Region::default()
            };
            generate(&dir, accounts, territories, seed, &region, demo.as_deref())
        }
        Cmd::Report { dir, header } => report(&dir, header),
        Cmd::Child { dir, method } => child(&dir, &method),
        Cmd::Tiles(args) => tiles::run(args),
    }
}

fn generate(
    dir: &Path,
    n: usize,
    k: usize,
    seed: u64,
    region: &Region,
    demo: Option<&Path>,
) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (units, info) = match demo {
        Some(path) => {
            let text =
                fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let data: DemoDataset =
                serde_json::from_str(&text).context("parsing the demo dataset")?;
            let units = demo_units(&data);
            let territories = if k == 20 { data.reps.len() } else { k };
            let info = SetInfo {
                name: format!("demo ({} accounts)", units.len()),
                territories,
                seed,
                synthetic: false,
            };
            (units, info)
        }
        None => (
            synthetic::accounts(n, region, seed),
            SetInfo {
                name: format!(
                    "synthetic {n} ({} clusters, {}-{} km, σ {})",
                    region.clusters, region.spread_km.0, region.spread_km.1, region.workload_sigma
                ),
                territories: k,
                seed,
                synthetic: true,
            },
        ),
    };
    write_points(&dir.join("points.csv"), &units)?;
    fs::write(dir.join("set.json"), serde_json::to_vec_pretty(&info)?)?;
    Ok(())
}

/// The demo accounts with the workload model of `docs/territories.md`: visits per year ×
/// (service minutes by tier + travel minutes from the distance to the three nearest
/// neighbours × 1.3 at 30 km/h, 2 to 90 minutes).
fn demo_units(data: &DemoDataset) -> Vec<Unit> {
    let pts: Vec<(f64, f64)> = data.accounts.iter().map(|a| (a.lon, a.lat)).collect();
    data.accounts
        .iter()
        .map(|a| {
            let mut d: Vec<f64> = pts
                .iter()
                .map(|&(lon, lat)| {
                    let dx = (lon - a.lon) * 111_195.0 * a.lat.to_radians().cos();
                    let dy = (lat - a.lat) * 111_195.0;
                    (dx * dx + dy * dy).sqrt()
                })
                .collect();
            d.sort_by(f64::total_cmp);
            let near = d.iter().skip(1).take(3).sum::<f64>() / 3.0;
            let travel_min = (near * 1.3 / 500.0).clamp(2.0, 90.0);
            let service_min = match a.tier.as_str() {
                "A" => 60.0,
                "B" => 45.0,
                _ => 30.0,
            };
            Unit {
                lon: a.lon,
                lat: a.lat,
                workload: f64::from(a.visits_per_year) * (service_min + travel_min),
                fixed: None,
                current: None,
            }
        })
        .collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct PointRow {
    lon: f64,
    lat: f64,
    workload: f64,
    x_m: f64,
    y_m: f64,
    current: Option<u32>,
}

fn write_points(path: &Path, units: &[Unit]) -> anyhow::Result<()> {
    let (lon0, lat0) = centre(units);
    let k = 111_195.0;
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    for u in units {
        w.serialize(PointRow {
            lon: u.lon,
            lat: u.lat,
            workload: u.workload,
            x_m: (u.lon - lon0) * k * lat0.to_radians().cos(),
            y_m: (u.lat - lat0) * k,
            current: u.current,
        })?;
    }
    w.flush()?;
    Ok(())
}

fn centre(units: &[Unit]) -> (f64, f64) {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for u in units {
        b = [
            b[0].min(u.lon),
            b[1].min(u.lat),
            b[2].max(u.lon),
            b[3].max(u.lat),
        ];
    }
    (f64::midpoint(b[0], b[2]), f64::midpoint(b[1], b[3]))
}

fn read_points(path: &Path) -> anyhow::Result<Vec<Unit>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize::<PointRow>()
        .map(|row| {
            let row = row?;
            Ok(Unit {
                lon: row.lon,
                lat: row.lat,
                workload: row.workload,
                fixed: None,
                current: row.current,
            })
        })
        .collect()
}

fn write_assignment(path: &Path, a: &[u32]) -> anyhow::Result<()> {
    let mut text = String::with_capacity(a.len() * 4 + 12);
    text.push_str("territory\n");
    for t in a {
        text.push_str(&t.to_string());
        text.push('\n');
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn read_assignment(path: &Path) -> anyhow::Result<Vec<u32>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim()
                .parse::<u32>()
                .with_context(|| format!("bad line {l:?}"))
        })
        .collect()
}

fn peak_mib() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn set_info(dir: &Path) -> anyhow::Result<SetInfo> {
    let text = fs::read(dir.join("set.json")).context("reading set.json (run gen first)")?;
    Ok(serde_json::from_slice(&text)?)
}

/// Runs one method; the time covers the method only, the peak memory the whole process
/// (reading the CSV included).
fn child(dir: &Path, method: &str) -> anyhow::Result<()> {
    let info = set_info(dir)?;
    let k = info.territories;
    let (input, output) = match method {
        "stability" => ("changed.csv", "assign-stability.csv"),
        "kmeans" => ("points.csv", "assign-kmeans.csv"),
        "balance" => ("points.csv", "assign-balance.csv"),
        other => bail!("unknown method {other}"),
    };
    let units = read_points(&dir.join(input))?;
    let starts = bench_starts()?;
    let anneal = bench_anneal()?;
    let started = Instant::now();
    let assignment = if method == "kmeans" {
        plain_kmeans(&units, k, info.seed)?
    } else {
        let options = Options {
            mode: if method == "stability" {
                Mode::Stability
            } else {
                Mode::Fresh
            },
            rng_seed: info.seed,
            starts,
            anneal,
            ..Options::default()
        };
        let seeds = vec![TerritorySeed { home: None }; k];
        let plan = balance(&units, &seeds, &options, &|_| {})?;
        for w in &plan.warnings {
            eprintln!("{method}: warning: {w}");
        }
        plan.assignment
    };
    let secs = started.elapsed().as_secs_f64();
    write_assignment(&dir.join(output), &assignment)?;
    println!(
        "{}",
        serde_json::to_string(&Run {
            secs,
            peak_mib: peak_mib()
        })?
    );
    Ok(())
}

/// `TERRANE_BENCH_STARTS`: the balancer's k-means seedings (default: the library's), to
/// measure what more starts buy.
fn bench_starts() -> anyhow::Result<usize> {
    match std::env::var("TERRANE_BENCH_STARTS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n: &usize| n >= 1)
            .with_context(|| format!("TERRANE_BENCH_STARTS={v:?} is not a positive count")),
        Err(_) => Ok(terrane::territory::balance::DEFAULT_STARTS),
    }
}

/// `TERRANE_BENCH_ANNEAL=sweeps,proposals_per_zone,start_temperature`: the balancer's
/// optional annealing search (off by default), to see how much more compact a far longer
/// search makes the plans.
fn bench_anneal() -> anyhow::Result<Option<Anneal>> {
    let Ok(v) = std::env::var("TERRANE_BENCH_ANNEAL") else {
        return Ok(None);
    };
    let parts: Vec<f64> = v
        .split(',')
        .map(|x| x.trim().parse())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    match parts[..] {
        [sweeps, per, temp] if sweeps >= 1.0 && per > 0.0 && temp >= 0.0 => Ok(Some(Anneal {
            sweeps: sweeps as usize,
            proposals_per_zone: per,
            start_temperature: temp,
        })),
        _ => bail!(
            "TERRANE_BENCH_ANNEAL={v:?}: expected sweeps,proposals_per_zone,start_temperature"
        ),
    }
}

/// Plain k-means keeps the best of linfa's default 10 runs (a single run can stop in a worse
/// local optimum, which flatters every method measured against it: on the "towns" set the
/// balancer's MSD was +18.8% over one run, +19.2% over the best of ten)...
const KMEANS_RUNS: usize = 10;
/// ...up to this many accounts; above, one run (a run over 1,000,000 accounts takes about
/// 4 minutes here).
const KMEANS_MANY_RUNS_UP_TO: usize = 100_000;

/// Plain k-means on all accounts (kilometres), each account to its nearest centre.
fn plain_kmeans(units: &[Unit], k: usize, seed: u64) -> anyhow::Result<Vec<u32>> {
    let (lon0, lat0) = centre(units);
    let kx = 111.195 * lat0.to_radians().cos();
    let mut data = Array2::<f64>::zeros((units.len(), 2));
    for (i, u) in units.iter().enumerate() {
        data[[i, 0]] = (u.lon - lon0) * kx;
        data[[i, 1]] = (u.lat - lat0) * 111.195;
    }
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .n_runs(if units.len() <= KMEANS_MANY_RUNS_UP_TO {
            KMEANS_RUNS
        } else {
            1
        })
        .max_n_iterations(300)
        .tolerance(1e-4)
        .fit(&DatasetBase::from(data.clone()))
        .context("k-means")?;
    let c = model.centroids();
    Ok(data
        .rows()
        .into_iter()
        .map(|p| {
            (0..k)
                .min_by(|&a, &b| {
                    let d = |t: usize| (c[[t, 0]] - p[0]).powi(2) + (c[[t, 1]] - p[1]).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap_or(0) as u32
        })
        .collect())
}

fn run_child(dir: &Path, method: &str) -> anyhow::Result<Run> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let out = Command::new(exe)
        .args(["child", "--dir"])
        .arg(dir)
        .args(["--method", method])
        .output()
        .context("running a child")?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("{method} failed: {}", out.status);
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).with_context(|| format!("child output {line:?}"))
}

struct Row {
    method: String,
    run: Option<Run>,
    metrics: PlanMetrics,
    moves: Option<(u64, usize)>,
}

fn report(dir: &Path, header: bool) -> anyhow::Result<()> {
    let info = set_info(dir)?;
    let k = info.territories;
    let units = read_points(&dir.join("points.csv"))?;
    let mut rows = Vec::new();

    let kmeans = run_child(dir, "kmeans")?;
    let a = read_assignment(&dir.join("assign-kmeans.csv"))?;
    rows.push(Row {
        method: "plain k-means (linfa)".into(),
        run: Some(kmeans),
        metrics: metrics::compute(&units, &a, k, None),
        moves: None,
    });

    let fresh = run_child(dir, "balance")?;
    let fresh_a = read_assignment(&dir.join("assign-balance.csv"))?;
    rows.push(Row {
        method: "terrane balance (fresh)".into(),
        run: Some(fresh),
        metrics: metrics::compute(&units, &fresh_a, k, None),
        moves: None,
    });

    // 5% of the accounts change; stability mode starts from the fresh plan.
    let (changed, changes) = synthetic::perturb(&units, &fresh_a, 0.05, info.seed);
    write_points(&dir.join("changed.csv"), &changed)?;
    let stab = run_child(dir, "stability")?;
    let stab_a = read_assignment(&dir.join("assign-stability.csv"))?;
    let m = metrics::compute(&changed, &stab_a, k, None);
    rows.push(Row {
        method: "terrane balance (stability, 5% changed)".into(),
        run: Some(stab),
        moves: Some((m.moved, changes)),
        metrics: m,
    });

    // Peers: `<dir>/peer-<name>.csv` (assignment) and `<dir>/peer-<name>.json` (Run).
    let mut peers: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("peer-"))
                && p.extension().is_some_and(|e| e == "csv")
        })
        .collect();
    peers.sort();
    for p in peers {
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("peer")
            .trim_start_matches("peer-")
            .to_string();
        let a = read_assignment(&p)?;
        if a.len() != units.len() {
            eprintln!(
                "{}: {} rows for {} accounts, skipped",
                p.display(),
                a.len(),
                units.len()
            );
            continue;
        }
        let run: Option<Run> = fs::read(p.with_extension("json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        rows.push(Row {
            method: name,
            run,
            metrics: metrics::compute(&units, &a, k, None),
            moves: None,
        });
    }

    let base_msd = rows[0].metrics.msd_m2;
    if header {
        println!(
            "| data | method | time | peak memory | max workload dev. | max count dev. | CV | MSD vs k-means | contiguous (pieces/territories) | moved / changed |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
    }
    for r in &rows {
        let m = &r.metrics;
        println!(
            "| {} → {} | {} | {} | {} | {:.1}% | {:.1}% | {:.3} | {:+.1}% | {} ({}/{}) | {} |",
            info.name,
            k,
            r.method,
            r.run
                .as_ref()
                .map_or("–".into(), |x| format!("{:.2} s", x.secs)),
            r.run
                .as_ref()
                .map_or("–".into(), |x| format!("{:.0} MiB", x.peak_mib)),
            m.max_workload_deviation * 100.0,
            m.max_count_deviation * 100.0,
            m.workload_cv,
            (m.msd_m2 / base_msd - 1.0) * 100.0,
            if m.contiguous { "yes" } else { "no" },
            m.pieces,
            k,
            r.moves.map_or("–".into(), |(moved, changes)| format!(
                "{moved} / {changes}"
            )),
        );
    }
    Ok(())
}
