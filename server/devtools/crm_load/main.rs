//! `terrane-webhook-load`: a development load generator that plays a CRM against a running
//! Terrane. It sends correctly signed webhooks (Standard Webhooks or HubSpot v3 batches),
//! retries anything that is not a 2xx until it is acknowledged, like the vendors do, appends
//! every acknowledged event id to a file, and prints a JSON summary (throughput and
//! acknowledgement latency). Used by `scripts/crm-durability.sh` and
//! `scripts/bench/crm-webhooks.sh`; not part of the product.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, ValueEnum};
use tokio::sync::Mutex;

use terrane::crm::canonical::{Address, CanonicalAccount, Change, Tier};
use terrane::crm::wire::{hubspot, standard};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scheme {
    /// `POST /webhooks/standard/{connection}`, one account creation per event.
    Standard,
    /// `POST /webhooks/hubspot`, batches of `company.propertyChange` notices.
    Hubspot,
}

#[derive(Debug, Parser)]
#[command(
    name = "terrane-webhook-load",
    about = "Plays a CRM sending signed webhooks to Terrane"
)]
struct Args {
    /// Terrane's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The base URL Terrane is configured with (TERRANE_PUBLIC_URL); HubSpot signs it.
    #[arg(long)]
    public_url: Option<String>,
    #[arg(long, value_enum, default_value = "standard")]
    scheme: Scheme,
    /// Standard Webhooks connection name.
    #[arg(long, default_value = "load")]
    connection: String,
    /// Signing secret (`whsec_...` for Standard Webhooks; the app secret for HubSpot).
    #[arg(long, env = "TERRANE_LOAD_SECRET", hide_env_values = true)]
    secret: String,
    /// `portalId` of HubSpot events: the HubSpot connection must be pinned to it (`terrane
    /// connection add --org-id`); the default is the CRM simulator's.
    #[arg(long, default_value_t = 4_410_001)]
    portal_id: u64,
    /// Events to deliver.
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Events per HubSpot request (1-100).
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Requests per second across all senders; 0 = as fast as acknowledgements come.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Prefix making event and account ids unique to this run.
    #[arg(long, default_value = "run")]
    id_prefix: String,
    /// HubSpot: company ids the notices name, as FIRST-LAST (they must exist in the CRM the
    /// worker reads back from).
    #[arg(long, default_value = "10000001-10000334")]
    companies: String,
    /// Append each acknowledged event id (one per line) to this file.
    #[arg(long)]
    acked: Option<std::path::PathBuf>,
}

/// One request's worth of events.
struct Unit {
    event_ids: Vec<String>,
    body: Vec<u8>,
    /// Standard Webhooks message id (= the event id).
    msg_id: Option<String>,
}

fn standard_unit(args: &Args, n: u64) -> anyhow::Result<Unit> {
    let id = format!("{}-{n}", args.id_prefix);
    let change = Change::Upsert(CanonicalAccount {
        crm_id: format!("acct-{id}"),
        name: format!("Load test account {n}"),
        industry: None,
        address: Address {
            line: Some(format!("{} Avenue de la Costa", 1 + n % 200)),
            city: Some("Monaco".to_owned()),
            country_code: Some("MC".to_owned()),
            ..Address::default()
        },
        tier: Some([Tier::A, Tier::B, Tier::C][(n % 3) as usize]),
        annual_value: Some((n % 50_000) as f64),
        visits_per_year: Some(4),
        priority: Some(3),
        owner_crm_id: None,
        modified_at: Utc::now(),
    });
    let event_id = format!("evt_{id}");
    let envelope = standard::Envelope::from_change(&event_id, "terrane-webhook-load", &change);
    Ok(Unit {
        body: serde_json::to_vec(&envelope)?,
        msg_id: Some(event_id.clone()),
        event_ids: vec![event_id],
    })
}

fn hubspot_unit(
    args: &Args,
    first_event: u64,
    count: u64,
    companies: (u64, u64),
) -> anyhow::Result<Unit> {
    let span = companies.1 - companies.0 + 1;
    let run_hash = args
        .id_prefix
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1_000_000;
    let now_ms = Utc::now().timestamp_millis();
    let mut events = Vec::with_capacity(count as usize);
    let mut ids = Vec::with_capacity(count as usize);
    for n in first_event..first_event + count {
        let event_id = run_hash * 10_000_000_000 + n;
        let object_id = companies.0 + n % span;
        let e = serde_json::json!({
            "eventId": event_id,
            "subscriptionId": 4_242_001,
            "portalId": args.portal_id,
            "appId": 4242,
            "occurredAt": now_ms,
            "subscriptionType": "company.propertyChange",
            "attemptNumber": 0,
            "objectId": object_id,
            "changeSource": "CRM_UI",
            "propertyName": "terrane_annual_value",
            "propertyValue": (n % 90_000).to_string(),
        });
        ids.push(format!("{event_id}:{object_id}"));
        events.push(e);
    }
    Ok(Unit {
        event_ids: ids,
        body: serde_json::to_vec(&events)?,
        msg_id: None,
    })
}

struct Stats {
    latencies_us: Mutex<Vec<u64>>,
    retries: AtomicU64,
    acked_events: AtomicU64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    anyhow::ensure!((1..=100).contains(&args.batch), "--batch must be 1-100");
    let companies = args
        .companies
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a <= b)
        .context("--companies FIRST-LAST")?;
    let per_request = match args.scheme {
        Scheme::Standard => 1,
        Scheme::Hubspot => args.batch,
    };
    let requests = args.events.div_ceil(per_request);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let acked_file = match &args.acked {
        Some(p) => Some(Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ))),
        None => None,
    };
    let stats = Arc::new(Stats {
        latencies_us: Mutex::new(Vec::with_capacity(requests as usize)),
        retries: AtomicU64::new(0),
        acked_events: AtomicU64::new(0),
    });
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (args, http, stats, next, acked_file) = (
            args.clone(),
            http.clone(),
            stats.clone(),
            next.clone(),
            acked_file.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed);
                if r >= requests {
                    return Ok::<(), anyhow::Error>(());
                }
                if args.rate > 0.0 {
                    // Open-loop pacing: request r is due at r / rate seconds.
                    let due = Duration::from_secs_f64(r as f64 / args.rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                let first = r * per_request;
                let count = per_request.min(args.events - first);
                let unit = match args.scheme {
                    Scheme::Standard => standard_unit(&args, first)?,
                    Scheme::Hubspot => hubspot_unit(&args, first, count, companies)?,
                };
                let mut backoff = Duration::from_millis(100);
                loop {
                    let req = signed(&http, &args, &unit);
                    let t = Instant::now();
                    match req.send().await {
                        Ok(resp) if resp.status().is_success() => {
                            let us = t.elapsed().as_micros() as u64;
                            stats.latencies_us.lock().await.push(us);
                            stats
                                .acked_events
                                .fetch_add(unit.event_ids.len() as u64, Ordering::Relaxed);
                            if let Some(f) = &acked_file
                                && let Ok(mut f) = f.lock()
                            {
                                for id in &unit.event_ids {
                                    let _ = writeln!(f, "{id}");
                                }
                            }
                            break;
                        }
                        Ok(resp)
                            if resp.status().is_client_error()
                                && resp.status() != reqwest::StatusCode::REQUEST_TIMEOUT
                                && resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
                        {
                            anyhow::bail!(
                                "request refused with {} (check the secret and connection): {}",
                                resp.status(),
                                resp.text().await.unwrap_or_default()
                            );
                        }
                        _ => {
                            // Down, restarting, 5xx, 408 or 429: retry like a CRM would.
                            stats.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = stats.latencies_us.lock().await.clone();
    lat.sort_unstable();
    let acked = stats.acked_events.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "scheme": format!("{:?}", args.scheme).to_lowercase(),
        "requests": lat.len(),
        "events_acked": acked,
        "retries": stats.retries.load(Ordering::Relaxed),
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "events_per_s": (acked as f64 / elapsed).round(),
        "ack_ms": {
            "p50": percentile(&lat, 50.0),
            "p90": percentile(&lat, 90.0),
            "p95": percentile(&lat, 95.0),
            "p99": percentile(&lat, 99.0),
            "max": percentile(&lat, 100.0),
        }
    });
    println!("{summary}");
    Ok(())
}

fn signed(http: &reqwest::Client, args: &Args, unit: &Unit) -> reqwest::RequestBuilder {
    let target = args.target.trim_end_matches('/');
    match args.scheme {
        Scheme::Standard => {
            let ts = Utc::now().timestamp();
            let key = standard::parse_secret(&args.secret).unwrap_or_default();
            let msg_id = unit.msg_id.as_deref().unwrap_or_default();
            let sig = standard::sign(&key, msg_id, ts, &unit.body);
            http.post(format!("{target}/webhooks/standard/{}", args.connection))
                .header(standard::ID_HEADER, msg_id)
                .header(standard::TIMESTAMP_HEADER, ts.to_string())
                .header(standard::SIGNATURE_HEADER, sig)
                .header("content-type", "application/json")
                .body(unit.body.clone())
        }
        Scheme::Hubspot => {
            let public = args
                .public_url
                .as_deref()
                .unwrap_or(target)
                .trim_end_matches('/');
            let uri = hubspot::request_uri(public, "/webhooks/hubspot");
            let ts = Utc::now().timestamp_millis().to_string();
            let sig = hubspot::sign_v3(args.secret.as_bytes(), "POST", &uri, &unit.body, &ts);
            http.post(format!("{target}/webhooks/hubspot"))
                .header(hubspot::SIGNATURE_HEADER, sig)
                .header(hubspot::TIMESTAMP_HEADER, ts)
                .header("content-type", "application/json")
                .body(unit.body.clone())
        }
    }
}
