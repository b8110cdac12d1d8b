//! `terrane-crm-sim`: a development CRM simulator (HubSpot and Salesforce API subsets in the
//! vendors' wire formats, signed webhooks for random edits) for Terrane's tests, benchmarks
//! and demo. Not part of the product. Docs: `docs/crm-simulator.md`.

mod activities;
mod activity_store;
mod app;
mod auth;
mod clock;
mod config;
mod control;
mod delivery;
mod edits;
mod faults;
mod hubspot;
mod hubspot_tasks;
mod ids;
mod middleware;
mod params;
mod salesforce;
mod soql;
mod state;
mod store;
mod vendor;
mod webhooks;

use std::io::{IsTerminal, Write};

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::Args;
use crate::faults::FaultSettings;
use crate::store::Seed;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // stdout carries only the `listening on` line; logs go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let config = args.config(bound)?;

    let dataset = if args.empty {
        None
    } else {
        Some(terrane::seed::load::read_dataset(&args.dataset)?)
    };
    let seed = Seed {
        dataset,
        synthetic: args.synthetic,
        rng_seed: args.seed,
    };
    let faults = FaultSettings::new(args.fail_rate, args.rate_limit, args.latency_ms);
    let (sim, outbox) = state::Sim::new(config, seed, faults)?;
    {
        let store = state::lock(&sim.store);
        tracing::info!(
            hubspot_companies = store.live_company_count(),
            salesforce_accounts = store.live_account_count(),
            terrane_url = %sim.config.terrane_url,
            "CRM simulator ready"
        );
    }

    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{bound}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;

    tokio::spawn(delivery::run_dispatcher(sim.clone(), outbox));
    if args.edits_per_second > 0.0 {
        tokio::spawn(control::run_background_edits(
            sim.clone(),
            args.edits_per_second,
            args.drop_ratio,
            args.seed,
        ));
    }

    axum::serve(listener, app::router(sim))
        .with_graceful_shutdown(terrane::signal::shutdown())
        .await
        .context("serving")?;
    Ok(())
}
