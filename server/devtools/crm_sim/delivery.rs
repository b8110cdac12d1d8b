//! Getting webhooks to Terrane: batching queued events, withholding a share as "lost",
//! delivering with a bounded number of requests in flight, and the background dispatcher.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::state::SimState;
use crate::vendor::Vendor;
use crate::webhooks::{self, DeliveryReport, HubSpotEvent, MAX_BATCH, Outgoing, SfNotification};

/// Requests in flight at once per delivery run (HubSpot's default concurrency is 10).
const CONCURRENCY: usize = 8;

/// How long the dispatcher gathers events before sending a partial batch.
const FLUSH_AFTER: Duration = Duration::from_millis(250);

/// One request's worth of webhooks.
#[derive(Debug, Clone)]
pub enum Batch {
    HubSpot(Vec<HubSpotEvent>),
    Salesforce(Vec<SfNotification>),
}

/// Splits webhooks by vendor into requests of at most [`MAX_BATCH`], keeping their order.
pub fn batches(outgoing: Vec<Outgoing>) -> Vec<Batch> {
    let mut hubspot = Vec::new();
    let mut salesforce = Vec::new();
    for item in outgoing {
        match item {
            Outgoing::HubSpot(e) => hubspot.push(e),
            Outgoing::Salesforce(n) => salesforce.push(n),
        }
    }
    let mut out: Vec<Batch> = hubspot
        .chunks(MAX_BATCH)
        .map(|c| Batch::HubSpot(c.to_vec()))
        .collect();
    out.extend(
        salesforce
            .chunks(MAX_BATCH)
            .map(|c| Batch::Salesforce(c.to_vec())),
    );
    out
}

/// Withholds each webhook with probability `ratio`; returns what is kept and how many of
/// each vendor's were withheld.
pub fn drop_some(
    outgoing: Vec<Outgoing>,
    ratio: f64,
    rng: &mut impl Rng,
) -> (Vec<Outgoing>, usize, usize) {
    let mut kept = Vec::with_capacity(outgoing.len());
    let (mut hubspot, mut salesforce) = (0, 0);
    for item in outgoing {
        if ratio > 0.0 && rng.random_bool(ratio.clamp(0.0, 1.0)) {
            match item {
                Outgoing::HubSpot(_) => hubspot += 1,
                Outgoing::Salesforce(_) => salesforce += 1,
            }
        } else {
            kept.push(item);
        }
    }
    (kept, hubspot, salesforce)
}

async fn deliver_batch(sim: &SimState, batch: &Batch) -> DeliveryReport {
    let policy = sim.config.retry;
    match batch {
        Batch::HubSpot(events) => {
            webhooks::deliver_hubspot(&sim.http, &sim.hubspot_target, events, &policy).await
        }
        Batch::Salesforce(notes) => {
            webhooks::deliver_salesforce(&sim.http, &sim.salesforce_target, notes, &policy).await
        }
    }
}

/// Per-vendor counts of one delivery run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VendorSummary {
    /// Events (HubSpot) or notifications (Salesforce) the edits produced.
    pub events: usize,
    /// Withheld on purpose (`drop_ratio`).
    pub dropped: usize,
    /// Webhook requests sent (each carries up to 100 events).
    pub requests: usize,
    /// Requests acknowledged, possibly after retries.
    pub delivered: usize,
    /// Requests given up after every attempt failed.
    pub failed: usize,
    /// HTTP attempts over all requests.
    pub attempts: u32,
}

/// Delivers `outgoing` now and waits for every request to succeed or give up.
pub async fn deliver_now(
    sim: &SimState,
    outgoing: Vec<Outgoing>,
) -> (VendorSummary, VendorSummary) {
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for batch in batches(outgoing) {
        let sim = sim.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            deliver_batch(&sim, &batch).await
        });
    }
    let mut hubspot = VendorSummary::default();
    let mut salesforce = VendorSummary::default();
    while let Some(joined) = tasks.join_next().await {
        let Ok(report) = joined else {
            tracing::error!("a delivery task panicked");
            continue;
        };
        let summary = match report.vendor {
            Vendor::HubSpot => &mut hubspot,
            Vendor::Salesforce => &mut salesforce,
        };
        summary.requests += 1;
        summary.attempts += report.attempts;
        if report.delivered {
            summary.delivered += 1;
        } else {
            summary.failed += 1;
        }
        sim.record_delivery(report);
    }
    (hubspot, salesforce)
}

/// Sends queued webhooks (API writes, background edits) in batches: whatever arrived within
/// [`FLUSH_AFTER`] of the first, or [`MAX_BATCH`] events, whichever comes first.
pub async fn run_dispatcher(sim: SimState, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(first) = queue.recv().await {
        let mut pending = vec![first];
        let deadline = Instant::now() + FLUSH_AFTER;
        while pending.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(item)) => pending.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        for batch in batches(pending) {
            let sim = sim.clone();
            let limit = limit.clone();
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                let report = deliver_batch(&sim, &batch).await;
                sim.record_delivery(report);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::webhooks::{ChangeSource, EventFactory, HubSpotChange};

    fn outgoing(hubspot: usize, salesforce: usize) -> Vec<Outgoing> {
        let mut f = EventFactory::new(1, 2);
        let mut out: Vec<Outgoing> = (0..hubspot)
            .map(|n| {
                Outgoing::HubSpot(f.hubspot(
                    n as u64,
                    HubSpotChange::Creation,
                    0,
                    ChangeSource::CrmUi,
                ))
            })
            .collect();
        out.extend((0..salesforce).map(|_| Outgoing::Salesforce(f.salesforce(Vec::new()))));
        out
    }

    #[test]
    fn batches_hold_at_most_100_events_of_one_vendor() {
        let sizes: Vec<(bool, usize)> = batches(outgoing(250, 101))
            .iter()
            .map(|b| match b {
                Batch::HubSpot(e) => (true, e.len()),
                Batch::Salesforce(n) => (false, n.len()),
            })
            .collect();
        assert_eq!(
            sizes,
            [
                (true, 100),
                (true, 100),
                (true, 50),
                (false, 100),
                (false, 1)
            ]
        );
    }

    #[test]
    fn drop_ratio_withholds_about_that_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (kept, hs, sf) = drop_some(outgoing(1000, 1000), 0.25, &mut rng);
        assert_eq!(kept.len() + hs + sf, 2000);
        assert!((400..600).contains(&(hs + sf)), "dropped {}", hs + sf);
        let (kept, hs, sf) = drop_some(outgoing(10, 10), 0.0, &mut rng);
        assert_eq!((kept.len(), hs, sf), (20, 0, 0));
    }
}
