//! The geocoding worker: locates accounts marked pending (new, or their address changed) in
//! batches: normalize, then the cache, then the provider chain. It never holds locks while a
//! provider answers: a batch is leased, geocoded, and each result written only if the
//! account's address is still the one that was geocoded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::normalize::normalize;
use super::{GeocodeResult, Geocoder, Precision, cache};
use crate::accounts::location::{self, Located, PendingGeocode as Pending};
use crate::spatial::H3Cell;

/// Sent when an account gets a location (territory assignment hooks here). Also sent to
/// PostgreSQL listeners as `NOTIFY terrane_account_located, '<id>'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLocated {
    pub account_id: Uuid,
    pub precision: Precision,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub claimed: usize,
    /// Got a (new) location.
    pub located: usize,
    /// Answered from the cache (located or known unknown).
    pub cache_hits: usize,
    /// The normalized address did not change: the location was kept, nothing was called.
    pub unchanged: usize,
    /// No provider knows the address (or there is none): status `failed`.
    pub not_found: usize,
    /// Providers failed: left pending, retried later with backoff.
    pub retry: usize,
}

impl Report {
    fn add(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.located += o.located;
        self.cache_hits += o.cache_hits;
        self.unchanged += o.unchanged;
        self.not_found += o.not_found;
        self.retry += o.retry;
    }
}

/// A location to write.
struct Found {
    id: Uuid,
    key: String,
    address_text: Option<String>,
    result: GeocodeResult,
}

/// How long a claimed batch is leased before another worker may take it.
const LEASE_S: f64 = 120.0;

/// Backoff before attempt `attempts + 1` after provider failures: 1 minute doubling, capped at
/// 6 hours. Accounts stay pending (never failed) while providers are down.
pub fn retry_after_s(attempts: i32) -> f64 {
    let exp = u32::try_from(attempts.clamp(0, 10)).unwrap_or(0);
    (60.0 * f64::from(1u32 << exp)).min(6.0 * 3600.0)
}

#[derive(Clone)]
pub struct GeocodeWorker {
    db: PgPool,
    geocoder: Arc<dyn Geocoder>,
    events: broadcast::Sender<AccountLocated>,
    batch_size: i64,
}

impl GeocodeWorker {
    pub fn new(
        db: PgPool,
        geocoder: Arc<dyn Geocoder>,
        events: broadcast::Sender<AccountLocated>,
    ) -> Self {
        Self {
            db,
            geocoder,
            events,
            batch_size: 100,
        }
    }

    /// Processes batches until none is due (tests call this instead of sleeping).
    pub async fn drain(&self) -> Result<Report, sqlx::Error> {
        let mut total = Report::default();
        loop {
            let r = self.run_batch().await?;
            total.add(r);
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    pub async fn run_batch(&self) -> Result<Report, sqlx::Error> {
        let batch = location::claim_pending(&self.db, self.batch_size, LEASE_S).await?;
        let mut report = Report {
            claimed: batch.len(),
            ..Report::default()
        };
        // Each address normalized once (`None`: no address at all).
        let keyed: Vec<(Pending, Option<String>)> = batch
            .into_iter()
            .map(|p| {
                let n = normalize(&p.address);
                let key = (!n.is_empty()).then(|| n.key());
                (p, key)
            })
            .collect();
        // The whole batch's cache entries in one round trip (not for unchanged addresses,
        // which need no answer).
        let keys: Vec<String> = keyed
            .iter()
            .filter_map(|(p, key)| key.clone().filter(|k| !p.unchanged(k)))
            .collect();
        let hits = cache::get_many(&self.db, &keys).await?;
        // Cache answers are written together at the end; provider answers as they come.
        let mut found = Vec::new();
        for (p, key) in keyed {
            self.one(p, key, &hits, &mut found, &mut report).await?;
        }
        self.locate_many(&found).await?;
        Ok(report)
    }

    async fn one(
        &self,
        p: Pending,
        key: Option<String>,
        hits: &HashMap<String, cache::Cached>,
        found: &mut Vec<Found>,
        report: &mut Report,
    ) -> Result<(), sqlx::Error> {
        let Some(key) = key else {
            report.not_found += 1;
            return self.not_found(&p, None, "the account has no address").await;
        };
        // Same address after normalization (a cosmetic edit in the CRM): keep the location,
        // manual pins included.
        if p.unchanged(&key) {
            report.unchanged += 1;
            location::keep_location(&self.db, p.id, p.manual).await?;
            return Ok(());
        }
        // Two accounts of one batch with the same address: the second finds the first's
        // answer, stored below, through the cache table.
        let hit = match hits.get(&key) {
            Some(hit) => Some(hit.clone()),
            None => cache::get(&self.db, &key).await?,
        };
        if let Some(hit) = hit {
            report.cache_hits += 1;
            metrics::counter!("terrane_geocode_cache_total", "result" => "hit").increment(1);
            return if let Some(result) = hit.result {
                report.located += 1;
                found.push(Found {
                    id: p.id,
                    key,
                    address_text: p.address_text.clone(),
                    result,
                });
                Ok(())
            } else {
                report.not_found += 1;
                self.not_found(&p, Some(&key), "no provider knows this address (cached)")
                    .await
            };
        }
        metrics::counter!("terrane_geocode_cache_total", "result" => "miss").increment(1);
        match self.geocoder.geocode(&p.address).await {
            Ok(Some(r)) => {
                cache::put(&self.db, &key, &r.provider, Some(&r)).await?;
                report.located += 1;
                self.locate(&p, &key, &r).await
            }
            Ok(None) => {
                cache::put(&self.db, &key, self.geocoder.name(), None).await?;
                report.not_found += 1;
                self.not_found(&p, Some(&key), "no provider knows this address")
                    .await
            }
            Err(e) => {
                report.retry += 1;
                tracing::info!(account_id = %p.id, error = %e, "geocoding will be retried");
                location::postpone(
                    &self.db,
                    p.id,
                    &e.to_string(),
                    retry_after_s(p.geocode_attempts),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Writes a location, unless the address changed while it was being geocoded.
    async fn locate(&self, p: &Pending, key: &str, r: &GeocodeResult) -> Result<(), sqlx::Error> {
        self.locate_many(&[Found {
            id: p.id,
            key: key.to_owned(),
            address_text: p.address_text.clone(),
            result: r.clone(),
        }])
        .await
    }

    /// Writes several locations in one statement (each only if its account's address is
    /// still the one geocoded), then announces the accounts that got one.
    async fn locate_many(&self, found: &[Found]) -> Result<(), sqlx::Error> {
        if found.is_empty() {
            return Ok(());
        }
        let located: Vec<Located<'_>> = found
            .iter()
            .map(|f| Located {
                id: f.id,
                at: f.result.location,
                cell: H3Cell::at(f.result.location).ok(),
                precision: f.result.precision,
                confidence: f.result.confidence.clamp(0.0, 1.0),
                provider: f.result.provider.as_str(),
                key: f.key.as_str(),
                address_text: f.address_text.as_deref(),
            })
            .collect();
        let written = location::locate_many(&self.db, &located).await?;
        if written.is_empty() {
            return Ok(());
        }
        let notices: Vec<String> = written.iter().map(Uuid::to_string).collect();
        let _ = sqlx::query(include_str!("sql/notify_located.sql"))
            .bind(&notices)
            .execute(&self.db)
            .await;
        for f in found.iter().filter(|f| written.contains(&f.id)) {
            metrics::counter!("terrane_geocode_located_total", "provider" => f.result.provider.clone(), "precision" => f.result.precision.as_str()).increment(1);
            let _ = self.events.send(AccountLocated {
                account_id: f.id,
                precision: f.result.precision,
            });
        }
        Ok(())
    }

    async fn not_found(
        &self,
        p: &Pending,
        key: Option<&str>,
        why: &str,
    ) -> Result<(), sqlx::Error> {
        metrics::counter!("terrane_geocode_not_found_total").increment(1);
        location::mark_not_found(&self.db, p.id, why, key).await
    }
}

/// How the background loop waits between empty polls.
pub const IDLE_POLL: Duration = Duration::from_secs(2);

/// Runs the worker until `shutdown` changes.
pub async fn run(worker: GeocodeWorker, shutdown: tokio::sync::watch::Receiver<bool>) {
    crate::db::poll::run_batches("geocoding", IDLE_POLL, Arc::default(), shutdown, || async {
        worker.run_batch().await.map(|r| r.claimed)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_failures_back_off_from_a_minute_to_six_hours() {
        assert_eq!(retry_after_s(0), 60.0);
        assert_eq!(retry_after_s(1), 120.0);
        assert_eq!(retry_after_s(10), 6.0 * 3600.0);
    }
}
