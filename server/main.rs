//! The `terrane` command: serve the app, migrate and seed the database, build the demo data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use terrane::app::AppState;
use terrane::config::{self, Config, LogConfig};
use terrane::{db, seed, telemetry, web};

/// Territory intelligence for field sales. Configuration comes from environment variables
/// (see .env.example); a bad value stops the command with a message naming the variable.
#[derive(Debug, Parser)]
#[command(name = "terrane", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (TERRANE_BIND, default 127.0.0.1:8080) until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations at DATABASE_URL (idempotent).
    Migrate,
    /// Load the demo CRM dataset into the database (idempotent: a second run changes nothing).
    Seed {
        /// Dataset written by `terrane seed-data build`.
        #[arg(long, default_value = "seed-data/demo-crm.json")]
        file: PathBuf,
    },
    /// Work with the demo dataset files.
    SeedData {
        #[command(subcommand)]
        command: SeedDataCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SeedDataCommand {
    /// Derive the demo CRM dataset from an OpenStreetMap extract (deterministic).
    Build {
        /// OpenStreetMap extract to read.
        #[arg(long, default_value = "seed-data/monaco.osm.pbf")]
        pbf: PathBuf,
        /// Where to write the dataset (JSON).
        #[arg(long, default_value = "seed-data/demo-crm.json")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: the reason, without clap's usage block.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see terrane --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let log = LogConfig::from_env()?;
    telemetry::init_logging(&log);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(Config::from_env()?)),
        Command::Migrate => runtime.block_on(async {
            let pool = db::connect(&config::database_url_from_env()?, 2).await?;
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }),
        Command::Seed { file } => runtime.block_on(async {
            let dataset = seed::load::read_dataset(&file)?;
            let pool = db::connect(&config::database_url_from_env()?, 2).await?;
            let r = seed::load::load(&pool, &dataset).await?;
            println!(
                "seeded {} reps ({} new, {} changed) and {} accounts ({} new, {} changed, {} unchanged)",
                dataset.reps.len(),
                r.reps_inserted,
                r.reps_updated,
                dataset.accounts.len(),
                r.accounts_inserted,
                r.accounts_updated,
                r.accounts_unchanged
            );
            Ok(())
        }),
        Command::SeedData {
            command: SeedDataCommand::Build { pbf, out },
        } => {
            let dataset = seed::build::build_from_pbf(&pbf)?;
            let json = seed::build::to_json(&dataset)?;
            std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
            let synthetic = dataset.accounts.iter().filter(|a| a.synthetic).count();
            println!(
                "wrote {}: {} reps, {} accounts ({} from OpenStreetMap, {} synthetic)",
                out.display(),
                dataset.reps.len(),
                dataset.accounts.len(),
                dataset.accounts.len() - synthetic,
                synthetic
            );
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding TERRANE_BIND={}", config.bind))?;
    let pool = db::connect_lazy(&config.database_url, config.db_max_connections)?;
    let state = AppState::new(config, pool)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, demo = state.config.demo, "listening");
    // Expired sessions are deleted hourly (reads already ignore them).
    let sweeper = tokio::spawn({
        use tower_sessions::ExpiredDeletion;
        web::session_store(&state).continuously_delete_expired(std::time::Duration::from_secs(3600))
    });
    let served = web::serve(listener, state, shutdown_signal()).await;
    sweeper.abort();
    served.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
