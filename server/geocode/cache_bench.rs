//! The cache-hit benchmark (`terrane geocoder bench-cache`): how many addresses a second are
//! answered from the cache, (1) as lookups (normalize + batched cache read) and (2) end to end
//! through the worker (claim, cache, write the location), with a provider that counts calls so
//! the run proves nothing but the cache answered.

use crate::db::Bind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::broadcast;

use super::normalize::normalize;
use super::worker::GeocodeWorker;
use super::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError, cache};
use crate::accounts::location;
use crate::spatial::LonLat;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct CacheBenchReport {
    pub entries: usize,
    pub lookups: u64,
    pub lookup_seconds: f64,
    pub worker_accounts: usize,
    pub worker_seconds: f64,
    pub provider_calls: u64,
}

impl CacheBenchReport {
    pub fn lookups_per_s(&self) -> f64 {
        self.lookups as f64 / self.lookup_seconds
    }

    pub fn worker_per_s(&self) -> f64 {
        self.worker_accounts as f64 / self.worker_seconds
    }
}

/// A provider that answers nothing and counts that it was asked.
struct CountingProvider(AtomicU64);

impl Geocoder for CountingProvider {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn geocode<'a>(
        &'a self,
        _query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(None) })
    }
}

fn address(i: usize) -> Address {
    Address {
        line: None,
        house_number: Some(format!("{}", 1 + i % 180)),
        street: Some(format!("Avenue du Banc {}", i / 180)),
        postal_code: Some(format!("{:05}", 6000 + (i / 1000) % 900)),
        city: Some("Cachville".into()),
        country_code: Some("FR".into()),
    }
}

/// Fills the cache with `entries` answers, then runs `concurrency` lookup loops of
/// `batch`-address batches for `seconds`, then geocodes `worker_accounts` new accounts with
/// those addresses through the worker. Uses (and leaves) rows in the given database: run it
/// on a scratch database.
pub async fn run(
    pool: &PgPool,
    entries: usize,
    batch: usize,
    concurrency: usize,
    seconds: f64,
    worker_accounts: usize,
) -> anyhow::Result<CacheBenchReport> {
    let queries: Arc<Vec<Address>> = Arc::new((0..entries).map(address).collect());
    let keys: Vec<String> = queries.iter().map(|q| normalize(q).key()).collect();
    let lons: Vec<f64> = (0..entries)
        .map(|i| 7.0 + (i % 1000) as f64 * 1e-4)
        .collect();
    let lats: Vec<f64> = (0..entries)
        .map(|i| 43.5 + (i / 1000) as f64 * 1e-4)
        .collect();
    sqlx::query(include_str!("sql/cache_bench_fill.sql"))
        .bind_all((&keys, &lons, &lats))
        .execute(pool)
        .await
        .context("filling the cache")?;
    // A check that the entries answer as the worker reads them.
    let sample = cache::get(pool, &keys[0])
        .await?
        .context("a cached entry")?;
    let location = sample.result.context("a positive entry")?.location;
    anyhow::ensure!(
        location.distance_m(LonLat::new(lons[0], lats[0])?) < 1.0,
        "the cache answered another location"
    );

    let lookups = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let pool = pool.clone();
        let queries = Arc::clone(&queries);
        let lookups = Arc::clone(&lookups);
        tasks.push(tokio::spawn(async move {
            let mut at = t * batch;
            while Instant::now() < deadline {
                let keys: Vec<String> = (0..batch)
                    .map(|j| normalize(&queries[(at + j) % queries.len()]).key())
                    .collect();
                at = (at + batch * concurrency) % queries.len();
                let found = cache::get_many(&pool, &keys).await?;
                let answered = keys
                    .iter()
                    .filter(|k| found.get(*k).is_some_and(|c| c.result.is_some()))
                    .count();
                lookups.fetch_add(answered as u64, Ordering::Relaxed);
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for t in tasks {
        t.await.context("a lookup task")??;
    }
    let lookup_seconds = started.elapsed().as_secs_f64();

    let worker_accounts = worker_accounts.min(entries);
    let mut tx = pool.begin().await?;
    for (i, q) in queries.iter().take(worker_accounts).enumerate() {
        location::insert_for_cache_bench(&mut *tx, &format!("cb-{i}"), q).await?;
    }
    tx.commit().await?;
    let provider = Arc::new(CountingProvider(AtomicU64::new(0)));
    let (events, _) = broadcast::channel(16);
    let worker = GeocodeWorker::new(pool.clone(), provider.clone(), events);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let w = worker.clone();
        workers.push(tokio::spawn(async move { w.drain().await }));
    }
    let mut located = 0;
    for w in workers {
        located += w.await.context("a worker")??.located;
    }
    let worker_seconds = started.elapsed().as_secs_f64();
    let precision_ok: i64 = sqlx::query_scalar(include_str!("sql/cache_bench_located_count.sql"))
        .bind(Precision::Rooftop)
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        usize::try_from(precision_ok).unwrap_or(0) == worker_accounts,
        "only {precision_ok} of {worker_accounts} accounts were located from the cache"
    );
    Ok(CacheBenchReport {
        entries,
        lookups: lookups.load(Ordering::Relaxed),
        lookup_seconds,
        worker_accounts: located,
        worker_seconds,
        provider_calls: provider.0.load(Ordering::Relaxed),
    })
}
