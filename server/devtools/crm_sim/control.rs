//! Development-only control endpoints under `/_sim/` (state dump, on-demand edits, a chosen
//! owner change, reset, faults, token expiry, delivery log) and the background edit loop.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::json;

use crate::clock::now_ms;
use crate::delivery;
use crate::edits::{self, AppliedEdit, Crm, EditKind};
use crate::faults::FaultPatch;
use crate::state::{SimState, lock};
use crate::webhooks::Outgoing;

/// Most edits one `POST /_sim/edits` may ask for.
const MAX_EDITS: usize = 100_000;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/state", get(state))
        .route("/edits", post(edits))
        .route("/owner", post(set_owner))
        .route("/activities", post(crate::activities::user_activity))
        .route("/reset", post(reset))
        .route("/faults", get(faults).post(set_faults))
        .route("/tokens/expire", post(expire_tokens))
        .route("/deliveries", get(deliveries))
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// `GET /_sim/state`: every live record, `{hubspot: [...], salesforce: [...]}`, the API
/// writes per record (`api_writes`), the meetings, HubSpot tasks and Salesforce Tasks written
/// (`meetings`, `hubspot_tasks`, `tasks`) and the vendor calls received (`calls`).
async fn state(State(sim): State<SimState>) -> Response {
    let mut body = lock(&sim.store).state_json();
    let activities = lock(&sim.activities).state_json();
    body["meetings"] = activities["meetings"].clone();
    body["hubspot_tasks"] = activities["hubspot_tasks"].clone();
    body["tasks"] = activities["tasks"].clone();
    body["calls"] = lock(&sim.calls).to_json();
    Json(body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerRequest {
    crm: Crm,
    id: String,
    owner: String,
}

/// `POST /_sim/owner` with `{crm, id, owner}`: a CRM user reassigns one record (webhooks
/// follow in the background); 404 when the record is not live.
async fn set_owner(State(sim): State<SimState>, Json(request): Json<OwnerRequest>) -> Response {
    let outgoing = edits::set_owner(
        &mut lock(&sim.store),
        request.crm,
        &request.id,
        &request.owner,
        now_ms(),
    );
    match outgoing {
        Some(outgoing) => {
            sim.send_later(outgoing);
            Json(json!({ "crm": request.crm, "id": request.id, "owner": request.owner }))
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such live record" })),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditsRequest {
    count: usize,
    seed: Option<u64>,
    drop_ratio: Option<f64>,
    #[serde(default)]
    kinds: Vec<EditKind>,
    crm: Option<Crm>,
}

/// `POST /_sim/edits`: performs the edits, delivers their webhooks, waits for the outcome.
async fn edits(State(sim): State<SimState>, Json(request): Json<EditsRequest>) -> Response {
    if request.count > MAX_EDITS {
        return bad_request(format!("count must be at most {MAX_EDITS}"));
    }
    let drop_ratio = request.drop_ratio.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&drop_ratio) {
        return bad_request("drop_ratio must be between 0 and 1");
    }
    let mut rng = match request.seed {
        Some(seed) => ChaCha8Rng::seed_from_u64(seed),
        None => ChaCha8Rng::seed_from_u64(rand::rng().random()),
    };
    let mut applied: Vec<AppliedEdit> = Vec::with_capacity(request.count);
    let mut outgoing = Vec::new();
    {
        let mut store = lock(&sim.store);
        for _ in 0..request.count {
            if let Some((edit, events)) =
                edits::random_edit(&mut store, &mut rng, &request.kinds, request.crm, now_ms())
            {
                applied.push(edit);
                outgoing.extend(events);
            }
        }
    }
    let produced = count_by_vendor(&outgoing);
    let (kept, hubspot_dropped, salesforce_dropped) =
        delivery::drop_some(outgoing, drop_ratio, &mut rng);
    let (mut hubspot, mut salesforce) = delivery::deliver_now(&sim, kept).await;
    (hubspot.events, salesforce.events) = produced;
    hubspot.dropped = hubspot_dropped;
    salesforce.dropped = salesforce_dropped;

    let mut by_kind: BTreeMap<EditKind, usize> = BTreeMap::new();
    for edit in &applied {
        *by_kind.entry(edit.kind).or_default() += 1;
    }
    tracing::info!(
        applied = applied.len(),
        hubspot_delivered = hubspot.delivered,
        salesforce_delivered = salesforce.delivered,
        "on-demand edits done"
    );
    Json(json!({
        "applied": by_kind,
        "skipped": request.count - applied.len(),
        "edits": applied,
        "hubspot": hubspot,
        "salesforce": salesforce,
    }))
    .into_response()
}

fn count_by_vendor(outgoing: &[Outgoing]) -> (usize, usize) {
    let hubspot = outgoing
        .iter()
        .filter(|o| matches!(o, Outgoing::HubSpot(_)))
        .count();
    (hubspot, outgoing.len() - hubspot)
}

/// `POST /_sim/reset`: back to the initial records (tokens and faults stay).
async fn reset(State(sim): State<SimState>) -> Response {
    let result = lock(&sim.store).reset(&sim.seed, now_ms());
    if let Err(e) = result {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("{e:#}") })),
        )
            .into_response();
    }
    lock(&sim.cursors).clear();
    *lock(&sim.activities) = crate::activity_store::Activities::default();
    let store = lock(&sim.store);
    Json(json!({
        "hubspot": store.live_company_count(),
        "salesforce": store.live_account_count(),
    }))
    .into_response()
}

/// `GET /_sim/faults`.
async fn faults(State(sim): State<SimState>) -> Response {
    Json(lock(&sim.faults).settings).into_response()
}

/// `POST /_sim/faults` with any of `{fail_rate, rate_limit, latency_ms}`.
async fn set_faults(State(sim): State<SimState>, Json(patch): Json<FaultPatch>) -> Response {
    let mut faults = lock(&sim.faults);
    match faults.apply(patch) {
        Ok(()) => Json(faults.settings).into_response(),
        Err(message) => bad_request(message),
    }
}

/// `POST /_sim/tokens/expire`: every access token issued so far is now expired.
async fn expire_tokens(State(sim): State<SimState>) -> Response {
    let expired = lock(&sim.tokens).expire_all(now_ms());
    Json(json!({ "expired": expired })).into_response()
}

/// `GET /_sim/deliveries`: the latest webhook requests, oldest first.
async fn deliveries(State(sim): State<SimState>) -> Response {
    let kept: Vec<_> = lock(&sim.deliveries).iter().cloned().collect();
    Json(kept).into_response()
}

/// Edits at `per_second` on average (all kinds, both CRMs) until the process ends; their
/// webhooks go through the dispatcher, a `drop_ratio` share withheld.
pub async fn run_background_edits(sim: SimState, per_second: f64, drop_ratio: f64, seed: u64) {
    let period = Duration::from_secs_f64(1.0 / per_second);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    loop {
        ticker.tick().await;
        let edit = edits::random_edit(&mut lock(&sim.store), &mut rng, &[], None, now_ms());
        let Some((edit, outgoing)) = edit else {
            continue;
        };
        tracing::debug!(crm = ?edit.crm, kind = ?edit.kind, id = %edit.id, "background edit");
        let (kept, _, _) = delivery::drop_some(outgoing, drop_ratio, &mut rng);
        sim.send_later(kept);
    }
}
