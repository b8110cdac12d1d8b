//! The `terrane` command: serve the app, migrate and seed the database, build the demo data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

mod cli;

use terrane::app::AppState;
use terrane::config::{self, Config, LogConfig};
use terrane::workers::Workers;
use terrane::{crm, db, seed, telemetry, web};

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
    /// Add, edit, disable and list CRM connections (secrets need TERRANE_SECRET_KEY).
    Connection {
        #[command(subcommand)]
        command: ConnectionCommand,
    },
    /// Compare local accounts with the CRM's API and repair drift (all connections with an
    /// API, or one).
    Reconcile {
        /// Name of the connection to reconcile.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Print a fresh random TERRANE_SECRET_KEY.
    SecretKey,
    /// Import accounts (or reps) from CSV; see docs/csv.md for the columns.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Export accounts (or reps) as CSV to stdout or a file.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Build and query the built-in OpenStreetMap geocoder.
    Geocoder {
        #[command(subcommand)]
        command: cli::geocoder::GeocoderCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Accounts, idempotent on (source, crm_id).
    Accounts {
        file: PathBuf,
        /// `crm_source` for rows without a `source` column.
        #[arg(long, default_value = "csv")]
        source: String,
        /// Validate and report without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reps, idempotent on email.
    Reps {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    Accounts {
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Reps {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Connection settings shared by `add` and `edit`. Secrets can come from the environment
/// (the variable names in brackets) to keep them out of shell history.
#[derive(Debug, clap::Args)]
struct ConnectionArgs {
    /// Unique name: lower-case letters, digits and '-'. Also the accounts' source and the
    /// Standard Webhooks URL segment.
    #[arg(long)]
    name: String,
    /// The CRM's API base URL (HubSpot: https://api.hubapi.com; Salesforce: the login or
    /// My Domain URL).
    #[arg(long)]
    api_base_url: Option<String>,
    /// Salesforce organization id (15 or 18 characters), or HubSpot account (portal) id
    /// (required for HubSpot: webhooks from other portals are refused).
    #[arg(long)]
    org_id: Option<String>,
    /// Salesforce: the secret path token of `POST /webhooks/salesforce/<token>` (32-128
    /// letters, digits, '-', '_'). Generated when left out on `add`; for development set-ups
    /// such as the CRM simulator, whose Outbound Messages use a fixed one.
    #[arg(long, env = "TERRANE_CONNECTION_PATH_TOKEN", hide_env_values = true)]
    path_token: Option<String>,
    /// A webhook signing secret to add (HubSpot: the app's client secret; Standard
    /// Webhooks: whsec_...).
    #[arg(
        long,
        env = "TERRANE_CONNECTION_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: Option<String>,
    #[arg(long, env = "TERRANE_CONNECTION_CLIENT_ID", hide_env_values = true)]
    client_id: Option<String>,
    #[arg(long, env = "TERRANE_CONNECTION_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    #[arg(long, env = "TERRANE_CONNECTION_REFRESH_TOKEN", hide_env_values = true)]
    refresh_token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConnectionCommand {
    /// List connections (never their secrets).
    List,
    /// Add a connection.
    Add {
        /// hubspot, salesforce or standard.
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        args: ConnectionArgs,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a connection; unset options keep their value.
    Edit {
        #[command(flatten)]
        args: ConnectionArgs,
        /// Retire the webhook secret with this fingerprint (see `list`).
        #[arg(long)]
        retire_secret: Vec<String>,
        /// Salesforce: replace the webhook path token with a newly generated one (the old
        /// endpoint URL stops working at once).
        #[arg(long, conflicts_with = "path_token")]
        new_path_token: bool,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Stop accepting webhooks and reconciling for a connection.
    Disable { name: String },
    /// Print a connection's webhook endpoint path (Salesforce: with its secret path token).
    Endpoint { name: String },
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
        Command::Serve => {
            let served = runtime.block_on(serve(Config::from_env()?));
            // A plan handed back at shutdown may still be computing on a blocking thread:
            // its result is no longer wanted, so do not wait for it.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            served
        }
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
            // Opening hours from the extract the dataset was derived from, when it is there.
            let pbf = file.with_file_name("monaco.osm.pbf");
            if pbf.exists() {
                let h = seed::load::load_opening_hours(&pool, &dataset, &pbf).await?;
                println!(
                    "opening hours from OpenStreetMap for {} accounts ({} tags in syntax Terrane does not read)",
                    h.read, h.unreadable
                );
            }
            for (team, plan) in
                terrane::territory::plans::publish_current_where_missing(&pool).await?
            {
                println!("published today's territories for {team} (plan {plan})");
            }
            Ok(())
        }),
        Command::SecretKey => {
            println!("{}", crm::crypto::SecretKey::generate_base64());
            Ok(())
        }
        Command::Connection { command } => runtime.block_on(cli::crm::connection(command)),
        Command::Reconcile { connection } => runtime.block_on(cli::crm::reconcile(connection)),
        Command::Import { what } => runtime.block_on(cli::crm::import(what)),
        Command::Export { what } => runtime.block_on(cli::crm::export(what)),
        Command::Geocoder { command } => runtime.block_on(cli::geocoder::run(command)),
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
    // The heavy jobs' connections are carved out of the pool (`server/app.rs` opens them).
    let request_connections = config
        .db_max_connections
        .saturating_sub(config.jobs.db_connections)
        .max(1);
    let pool = db::connect_lazy(&config.database_url, request_connections)?;
    let state = AppState::new(config, pool)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, demo = state.config.demo, "listening");
    let workers = Workers::start(&state);
    let served = web::serve(listener, state, shutdown_signal()).await;
    // Queue workers finish the batch in hand; job workers hand their job back.
    workers.stop().await;
    served.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    terrane::signal::shutdown().await;
    tracing::info!("shutdown requested; finishing in-flight requests");
}
