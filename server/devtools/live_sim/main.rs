//! `terrane-live-sim`: a development rep simulator for live location (issue 17). `setup` makes
//! bench reps, teams, territories and accounts on the extract's streets and writes the reps'
//! device tokens to a file; `tokens` mints fresh ones; `run` drives reps along OSRM routes at
//! road speeds, streams their pings over real WebSockets to `/live/ws` and prints a JSON
//! summary (acks, latencies, alerts). Not part of the product (`docs/live.md`, "Simulator").

mod drive;
mod run;
mod setup;
mod stats;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "terrane-live-sim",
    about = "Simulated reps streaming their location to Terrane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates bench reps (shift all day, every day, UTC), teams, territories and accounts
    /// along roads of the extract, then writes the reps' device tokens. Fresh database only.
    Setup(setup::SetupArgs),
    /// Mints a device token (15 minutes) for each rep user whose e-mail matches, into a file.
    Tokens(setup::TokenArgs),
    /// Reps drive OSRM routes and stream pings; prints a JSON summary on stdout.
    Run(run::RunArgs),
}

/// Where the roads come from and where on them.
#[derive(Debug, Clone, Args)]
pub struct RoadArgs {
    /// osrm-routed's base URL (the car profile on the demo extract).
    #[arg(
        long,
        env = "TERRANE_OSRM_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    osrm: String,
    /// Routes run between random points of this box: min_lon,min_lat,max_lon,max_lat
    /// (default: the Monaco extract's demo area).
    #[arg(long, default_value = "7.36,43.72,7.49,43.77")]
    bbox: String,
    /// Seed of every random choice (routes, reps' starts, accounts).
    #[arg(long, default_value_t = 17)]
    seed: u64,
}

/// The token file `setup` and `tokens` write and `run` reads: one `trd_…` per line.
#[derive(Debug, Clone, Args)]
pub struct TokenFile {
    /// The reps' device tokens, one a line (written with mode 0600; never printed).
    #[arg(long, default_value = "live-sim-tokens.txt")]
    tokens: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Setup(args) => setup::setup(args).await,
        Command::Tokens(args) => setup::tokens(args).await,
        Command::Run(args) => run::run(args).await,
    }
}
