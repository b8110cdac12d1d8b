//! The simulator's shared state and its HTTP router.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use percent_encoding::percent_decode_str;
use tokio::sync::mpsc;

use crate::auth::TokenBook;
use crate::clock::now_ms;
use crate::config::Config;
use crate::faults::{CallLog, FaultSettings, Faults};
use crate::soql::Cursors;
use crate::store::{Seed, Store};
use crate::webhooks::{DeliveryReport, EventFactory, HubSpotTarget, Outgoing, SalesforceTarget};
use crate::{auth, control, faults, hubspot, salesforce};

/// How many delivery reports `GET /_sim/deliveries` keeps.
const KEPT_DELIVERIES: usize = 500;

/// Everything the handlers share.
pub struct Sim {
    pub config: Config,
    pub seed: Seed,
    pub store: Mutex<Store>,
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

/// `(name, value)` pairs of a query string or form body, percent- and `+`-decoded.
pub fn url_pairs(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(part), String::new()),
        })
        .collect()
}

/// The first value of `name` in `pairs`.
pub fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn router(sim: SimState) -> Router {
    let hubspot_api = Router::new()
        .route("/crm/v3/objects/companies", get(hubspot::list))
        .route("/crm/v3/objects/companies/{id}", get(hubspot::read_one))
        .route(
            "/crm/v3/objects/companies/batch/read",
            post(hubspot::batch_read),
        )
        .route(
            "/crm/v3/objects/companies/batch/update",
            post(hubspot::batch_update),
        )
        .route_layer(from_fn_with_state(sim.clone(), auth::require_hubspot));
    let hubspot = Router::new()
        .route("/oauth/v1/token", post(hubspot::token))
        .merge(hubspot_api)
        .route_layer(from_fn_with_state(sim.clone(), faults::hubspot));

    let salesforce_api = Router::new()
        .route("/services/data/{version}/query", get(salesforce::query))
        .route(
            "/services/data/{version}/query/{locator}",
            get(salesforce::query_more),
        )
        .route(
            "/services/data/{version}/sobjects/Account/{id}",
            get(salesforce::retrieve),
        )
        .route(
            "/services/data/{version}/composite/sobjects",
            axum::routing::patch(salesforce::collections_update),
        )
        .route_layer(from_fn_with_state(sim.clone(), auth::require_salesforce));
    let salesforce = Router::new()
        .route("/services/oauth2/token", post(salesforce::token))
        .merge(salesforce_api)
        .route_layer(from_fn_with_state(sim.clone(), faults::salesforce));

    Router::new()
        .merge(hubspot)
        .merge(salesforce)
        .nest("/_sim", control::router())
        .fallback(not_found)
        .with_state(sim)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not simulated\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_pairs_decode_percent_and_plus() {
        let pairs = url_pairs("q=SELECT+Id%2C+Name+FROM+Account&limit=10&flag");
        assert_eq!(pair(&pairs, "q"), Some("SELECT Id, Name FROM Account"));
        assert_eq!(pair(&pairs, "limit"), Some("10"));
        assert_eq!(pair(&pairs, "flag"), Some(""));
        assert_eq!(pair(&pairs, "missing"), None);
    }
}
