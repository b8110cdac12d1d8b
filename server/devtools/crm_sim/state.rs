//! The simulator's shared state: records, tokens, faults, cursors and the webhook outbox,
//! behind one `Arc` the handlers extract.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::activity_store::Activities;
use crate::auth::TokenBook;
use crate::clock::now_ms;
use crate::config::Config;
use crate::faults::{CallLog, FaultSettings, Faults};
use crate::soql::Cursors;
use crate::store::{Seed, Store};
use crate::webhooks::{DeliveryReport, EventFactory, HubSpotTarget, Outgoing, SalesforceTarget};

/// How many delivery reports `GET /_sim/deliveries` keeps.
const KEPT_DELIVERIES: usize = 500;

/// Everything the handlers share.
pub struct Sim {
    pub config: Config,
    pub seed: Seed,
    pub store: Mutex<Store>,
    /// Meetings and Tasks written through the APIs.
    pub activities: Mutex<Activities>,
    pub tokens: Mutex<TokenBook>,
    pub faults: Mutex<Faults>,
    /// Vendor calls received, for `/_sim/state`.
    pub calls: Mutex<CallLog>,
    pub cursors: Mutex<Cursors>,
    pub deliveries: Mutex<VecDeque<DeliveryReport>>,
    pub http: reqwest::Client,
    pub hubspot_target: HubSpotTarget,
    pub salesforce_target: SalesforceTarget,
    /// Webhooks for the background dispatcher (API writes and background edits).
    pub outbox: mpsc::UnboundedSender<Outgoing>,
}

pub type SimState = Arc<Sim>;

/// Locks a mutex; a panic while it was held leaves plain data, so a poisoned lock is used
/// as is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    /// Loads the records and returns the state with the receiving end of the outbox.
    pub fn new(
        config: Config,
        seed: Seed,
        faults: FaultSettings,
    ) -> anyhow::Result<(SimState, mpsc::UnboundedReceiver<Outgoing>)> {
        let events = EventFactory::new(config.hubspot.portal_id, config.hubspot.app_id);
        let store = Store::load(events, &seed, now_ms())?;
        let http = reqwest::Client::builder()
            .build()
            .context("building the webhook HTTP client")?;
        let (outbox, receiver) = mpsc::unbounded_channel();
        let sim = Sim {
            hubspot_target: HubSpotTarget::new(&config.terrane_url, &config.hubspot.webhook_secret),
            salesforce_target: SalesforceTarget::new(
                &config.terrane_url,
                &config.salesforce.path_token,
                &config.salesforce.org_id,
                &config.public_url,
            ),
            config,
            seed,
            store: Mutex::new(store),
            activities: Mutex::new(Activities::default()),
            tokens: Mutex::new(TokenBook::default()),
            faults: Mutex::new(Faults::new(faults)),
            calls: Mutex::new(CallLog::default()),
            cursors: Mutex::new(Cursors::default()),
            deliveries: Mutex::new(VecDeque::new()),
            http,
            outbox,
        };
        Ok((Arc::new(sim), receiver))
    }

    /// Queues webhooks for the background dispatcher.
    pub fn send_later(&self, outgoing: Vec<Outgoing>) {
        for item in outgoing {
            // The dispatcher lives as long as the process; a closed channel means shutdown.
            if self.outbox.send(item).is_err() {
                break;
            }
        }
    }

    pub fn record_delivery(&self, report: DeliveryReport) {
        let mut kept = lock(&self.deliveries);
        if kept.len() == KEPT_DELIVERIES {
            kept.pop_front();
        }
        kept.push_back(report);
    }
}
