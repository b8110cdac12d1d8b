//! `terrane geocoder build|lookup|reverse|bench`: the built-in OpenStreetMap geocoder's index.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use terrane::geocode::osm::{self, OsmGeocoder, Progress, bench};
use terrane::spatial::LonLat;
use terrane::{config, db};

#[derive(Debug, Subcommand)]
pub enum GeocoderCommand {
    /// Build the index from an OpenStreetMap extract, replacing the previous one.
    Build {
        /// The region's `.osm.pbf` file.
        pbf: PathBuf,
    },
    /// Geocode one address, e.g. "6 Quai Antoine 1er, 98000 Monaco".
    Lookup {
        /// The whole address on one line, as a CRM would hold it.
        address: String,
        /// Also print the address as the normalizer reads it.
        #[arg(long)]
        normalized: bool,
    },
    /// The nearest address (or street) to a point.
    #[command(allow_negative_numbers = true)]
    Reverse { lon: f64, lat: f64 },
    /// Accuracy and throughput over the index's own addresses (see docs/benchmarks.md).
    Bench {
        /// Build the index from this extract first.
        #[arg(long)]
        pbf: Option<PathBuf>,
        /// Write the house number after the street ("Mannerheimintie 5").
        #[arg(long)]
        number_after_street: bool,
        /// Queries in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Ask for at most this many addresses, evenly spread (default: all).
        #[arg(long)]
        sample: Option<usize>,
        /// Seconds of repeated queries for the throughput figure.
        #[arg(long, default_value_t = 10.0)]
        throughput_seconds: f64,
        /// Also list the queries answered more than 10 m off.
        #[arg(long)]
        show_misses: bool,
    },
    /// Cache hits a second: batched lookups, then the worker answering new accounts from the
    /// cache alone. Writes rows: run it on a scratch database (see docs/benchmarks.md).
    BenchCache {
        /// Distinct cached addresses.
        #[arg(long, default_value_t = 50_000)]
        entries: usize,
        /// Addresses per lookup (the worker's batch size).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Lookups (and workers) in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Seconds of lookups.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// New accounts geocoded through the worker afterwards.
        #[arg(long, default_value_t = 20_000)]
        worker_accounts: usize,
    },
}

pub async fn run(command: GeocoderCommand) -> anyhow::Result<()> {
    let connections = match &command {
        GeocoderCommand::Bench { concurrency, .. }
        | GeocoderCommand::BenchCache { concurrency, .. } => {
            u32::try_from(*concurrency).unwrap_or(u32::MAX).clamp(2, 64)
        }
        _ => 2,
    };
    let pool = db::connect(&config::database_url_from_env()?, connections).await?;
    match command {
        GeocoderCommand::Build { pbf } => build(&pool, &pbf).await,
        GeocoderCommand::Lookup {
            address,
            normalized,
        } => {
            ensure_built(&pool).await?;
            let query = terrane::geocode::Address {
                line: Some(address),
                ..Default::default()
            };
            if normalized {
                println!("{:?}", terrane::geocode::normalize::normalize(&query));
            }
            match OsmGeocoder::new(pool).locate(&query).await? {
                Some(r) => println!(
                    "{:.6}, {:.6}  {} (confidence {:.2})",
                    r.location.lon(),
                    r.location.lat(),
                    r.precision.as_str(),
                    r.confidence
                ),
                None => println!("not found"),
            }
            Ok(())
        }
        GeocoderCommand::Reverse { lon, lat } => {
            ensure_built(&pool).await?;
            let at = LonLat::new(lon, lat).context("reading the point")?;
            match OsmGeocoder::new(pool).reverse(at).await? {
                Some(r) => println!(
                    "{}  ({}, {:.0} m away)",
                    r.label(),
                    r.precision.as_str(),
                    r.distance_m
                ),
                None => println!("no address or street nearby"),
            }
            Ok(())
        }
        GeocoderCommand::Bench {
            pbf,
            number_after_street,
            concurrency,
            sample,
            throughput_seconds,
            show_misses,
        } => {
            if let Some(pbf) = pbf {
                build(&pool, &pbf).await?;
            }
            let report = bench::run(
                &pool,
                &bench::BenchOptions {
                    number_after_street,
                    concurrency,
                    sample,
                    throughput_s: throughput_seconds,
                    seed: 2026,
                },
            )
            .await?;
            print!("{}", report.to_markdown());
            if show_misses {
                println!("\nMisses:");
                for m in &report.misses {
                    println!("- {m}");
                }
            }
            Ok(())
        }
        GeocoderCommand::BenchCache {
            entries,
            batch,
            concurrency,
            seconds,
            worker_accounts,
        } => bench_cache(&pool, entries, batch, concurrency, seconds, worker_accounts).await,
    }
}

async fn bench_cache(
    pool: &PgPool,
    entries: usize,
    batch: usize,
    concurrency: usize,
    seconds: f64,
    worker_accounts: usize,
) -> anyhow::Result<()> {
    let r = terrane::geocode::cache_bench::run(
        pool,
        entries,
        batch.max(1),
        concurrency.max(1),
        seconds,
        worker_accounts,
    )
    .await?;
    println!("| measure | addresses | seconds | per second |");
    println!("|---|---:|---:|---:|");
    println!(
        "| cache lookups (normalize + batched read, {} cached, batches of {batch}, {concurrency} in flight) | {} | {:.1} | {:.0} |",
        r.entries,
        r.lookups,
        r.lookup_seconds,
        r.lookups_per_s()
    );
    println!(
        "| worker, new accounts answered from the cache ({concurrency} workers) | {} | {:.1} | {:.0} |",
        r.worker_accounts,
        r.worker_seconds,
        r.worker_per_s()
    );
    println!("\nprovider calls during the run: {}", r.provider_calls);
    Ok(())
}

async fn ensure_built(pool: &PgPool) -> anyhow::Result<()> {
    if osm::latest_build(pool).await?.is_none() {
        anyhow::bail!("no geocoder index yet; run `terrane geocoder build <pbf>` first");
    }
    Ok(())
}

async fn build(pool: &PgPool, pbf: &Path) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:32} [{bar:30}] {pos}/{len} rows")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut on_progress = |p: Progress| match p {
        Progress::Total(n) => bar.set_length(n),
        Progress::Stage(s) => bar.set_message(s),
        Progress::Rows(n) => bar.inc(n),
    };
    let result = osm::build_index(pool, pbf, &mut on_progress).await;
    bar.finish_and_clear();
    let s = result.with_context(|| format!("building the geocoder from {}", pbf.display()))?;
    println!(
        "built geocoder index #{} from {} in {:.1} s: {} addresses, {} streets, {} interpolation lines, {} postcodes, {} places",
        s.build_id,
        pbf.display(),
        s.duration_ms as f64 / 1000.0,
        s.addresses,
        s.streets,
        s.interpolations,
        s.postcodes,
        s.places
    );
    Ok(())
}
