//! `run`: reps drive OSRM routes and stream pings on their own WebSocket (`/live/ws`), one
//! every `--period-s`; some spoof, some go offline and upload their backlog late with
//! `POST /api/pings`. Measures acks, latencies and alerts (`docs/live.md`, "Simulator").

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::drive::{self, Road};
use crate::setup;
use crate::stats::{self, Counters, Samples, micros};
use crate::{RoadArgs, TokenFile};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Pings per `POST /api/pings` of an offline backlog: the server's default burst, so a batch
/// of current pings can pass.
const BACKLOG_BATCH: usize = 10;
/// Sent pings remembered per rep, to time alerts that arrive after the ack.
const RECENT: usize = 64;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Terrane's base URL; several spread the reps over instances (rep i uses URL i mod n).
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    urls: Vec<String>,
    #[command(flatten)]
    tokens: TokenFile,
    /// Instead of the token file: mint a device token for each rep user whose e-mail matches
    /// this SQL `like` pattern (needs DATABASE_URL), and a new one whenever the server refuses
    /// an expired one (`%@example.com`: the demo's reps, for runs longer than 15 minutes).
    #[arg(long)]
    mint_like: Option<String>,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Reps to simulate (at most the tokens in the file).
    #[arg(long, default_value_t = 100)]
    reps: usize,
    /// Seconds between a rep's pings.
    #[arg(long, default_value_t = 2.0)]
    period_s: f64,
    /// Seconds over which reps connect, one after another (not measured).
    #[arg(long, default_value_t = 10)]
    ramp_s: u64,
    /// Measured seconds after the ramp.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// After the last ping, how long to wait for outstanding answers.
    #[arg(long, default_value_t = 5)]
    drain_s: u64,
    /// Share of reps that spoof: every fifth ping jumps 5 km or has round coordinates.
    #[arg(long, default_value_t = 0.0)]
    spoof_share: f64,
    /// Share of reps that go offline once for `--offline-s`, keep their pings and upload them
    /// late with `POST /api/pings` (over 120 s old: stored as late).
    #[arg(long, default_value_t = 0.0)]
    offline_share: f64,
    #[arg(long, default_value_t = 150)]
    offline_s: u64,
    /// Distinct OSRM routes (reps share them, each from its own starting point).
    #[arg(long, default_value_t = 500)]
    routes: usize,
    /// Sharing tier of every ping: precise or coarse.
    #[arg(long, default_value = "precise")]
    tier: String,
    /// A progress line on stderr every 10 s.
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    roads: RoadArgs,
}

/// One ping as the device sends it (`docs/live.md`, "The envelope").
#[derive(Debug, Clone, Serialize)]
struct Envelope {
    event_id: Uuid,
    device_id: String,
    recorded_at: String,
    lon: f64,
    lat: f64,
    accuracy_m: f64,
    speed_mps: f64,
    heading_deg: f64,
    tier: &'static str,
}

/// A frame the server sends on the socket.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Ack {
        event_id: Option<Uuid>,
        status: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        late: bool,
        #[serde(default)]
        flags: Vec<String>,
    },
    RateLimited {},
    Error {
        error: String,
    },
    Alert {
        alert: AlertBody,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct AlertBody {
    ping_event_id: Uuid,
}

#[derive(Deserialize)]
struct BatchAnswer {
    accepted: u64,
    duplicate: u64,
    dropped: u64,
    #[serde(default)]
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    late: bool,
}

/// What every rep shares.
struct Shared {
    counters: Counters,
    roads: Vec<Road>,
    http: reqwest::Client,
    tier: &'static str,
    period: Duration,
    ramp_end: Instant,
    end: Instant,
    drain: Duration,
    start: Instant,
    /// Set with `--mint-like`: where expired tokens are renewed.
    pool: Option<sqlx::PgPool>,
}

/// One simulated rep.
struct Rep {
    index: usize,
    base: String,
    ws_url: String,
    token: String,
    /// The token's user, when the simulator minted it (and may mint the next).
    user: Option<Uuid>,
    road: usize,
    /// Where on its road the rep is: seconds added to the wall clock's.
    offset_s: f64,
    spoof: bool,
    offline: Option<(Instant, Instant)>,
    connect_at: Instant,
    seed: u64,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.reps > 0, "--reps must be at least 1");
    anyhow::ensure!(args.period_s >= 0.05, "--period-s must be at least 0.05 s");
    anyhow::ensure!(!args.urls.is_empty(), "give at least one --url");
    let tier: &'static str = match args.tier.as_str() {
        "precise" => "precise",
        "coarse" => "coarse",
        _ => anyhow::bail!("--tier is precise or coarse"),
    };
    let (pool, users, tokens): (Option<sqlx::PgPool>, Vec<Option<Uuid>>, Vec<String>) =
        if let Some(like) = &args.mint_like {
            let url = args
                .database_url
                .as_deref()
                .context("--mint-like needs DATABASE_URL")?;
            let pool = setup::connect(url).await?;
            let users = setup::rep_users(&pool, like, args.reps as i64).await?;
            let tokens = setup::mint(&pool, &users).await?;
            (Some(pool), users.into_iter().map(Some).collect(), tokens)
        } else {
            let text = std::fs::read_to_string(&args.tokens.tokens)
                .with_context(|| format!("reading {}", args.tokens.tokens.display()))?;
            let tokens: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            anyhow::ensure!(
                tokens.len() >= args.reps,
                "{} holds {} tokens for {} reps",
                args.tokens.tokens.display(),
                tokens.len(),
                args.reps
            );
            (None, vec![None; tokens.len()], tokens)
        };
    let reps = args.reps.min(tokens.len());

    let roads = drive::fetch_roads(&args.roads, args.routes.clamp(1, args.reps), 1000.0).await?;
    eprintln!("run: {} routes from OSRM", roads.len());
    let start = Instant::now() + Duration::from_millis(500);
    let ramp_end = start + Duration::from_secs(args.ramp_s);
    let end = ramp_end + Duration::from_secs(args.duration_s);
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?,
        tier,
        period: Duration::from_secs_f64(args.period_s),
        ramp_end,
        end,
        drain: Duration::from_secs(args.drain_s),
        start,
        roads,
        pool,
    });

    let mut rng = ChaCha8Rng::seed_from_u64(args.roads.seed ^ 0x5eb);
    let mut set = tokio::task::JoinSet::new();
    for (index, (token, user)) in tokens.into_iter().zip(users).take(reps).enumerate() {
        let base = args.urls[index % args.urls.len()]
            .trim_end_matches('/')
            .to_owned();
        // The same draws whatever the options, so a rep keeps its road from run to run.
        let road = rng.random_range(0..shared.roads.len());
        let offset_s = rng.random_range(0.0..shared.roads[road].duration_s().max(1.0));
        let (spoof_draw, offline_draw, offline_at): (f64, f64, f64) =
            (rng.random(), rng.random(), rng.random());
        let offline = (offline_draw < args.offline_share).then(|| {
            let from =
                ramp_end + Duration::from_secs_f64(offline_at * args.duration_s as f64 / 4.0);
            (from, from + Duration::from_secs(args.offline_s))
        });
        let ramp_at = args.ramp_s as f64 * index as f64 / reps as f64;
        let rep = Rep {
            index,
            ws_url: format!("{}/live/ws", ws_base(&base)),
            base,
            token,
            user,
            road,
            offset_s,
            spoof: spoof_draw < args.spoof_share,
            offline,
            connect_at: start + Duration::from_secs_f64(ramp_at),
            seed: rng.random(),
        };
        set.spawn(drive_rep(rep, Arc::clone(&shared)));
    }
    let progress = args.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let t = shared.start.elapsed().as_secs_f64();
                eprintln!("{}", shared.counters.progress(t));
            }
        })
    });

    let mut samples = Samples::default();
    while let Some(done) = set.join_next().await {
        samples.merge(done.context("a rep's task failed")?);
    }
    if let Some(p) = progress {
        p.abort();
    }
    let settings = json!({
        "reps": reps,
        "instances": args.urls.len(),
        "period_s": args.period_s,
        "ramp_s": args.ramp_s,
        "duration_s": args.duration_s,
        "spoof_share": args.spoof_share,
        "offline_share": args.offline_share,
        "tier": tier,
        "routes": shared.roads.len(),
        "latencies": "pings sent after the ramp",
    });
    let wall = shared.start.elapsed().as_secs_f64();
    let out = stats::summary(&shared.counters, samples, settings, wall);
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `http://host:port` as `ws://host:port` (and https as wss).
fn ws_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

/// A sent ping waiting for its answer: event id, when it went, whether it is measured.
type Sent = (Uuid, Instant, bool);

/// One rep's whole run; returns its latencies.
async fn drive_rep(mut rep: Rep, shared: Arc<Shared>) -> Samples {
    let c = &shared.counters;
    let mut samples = Samples::default();
    let mut rng = ChaCha8Rng::seed_from_u64(rep.seed);
    let device_id = format!("sim-device-{:05}", rep.index + 1);
    sleep_until(rep.connect_at).await;
    let mut ws = connect(&mut rep, &shared, &mut samples).await;
    let mut pending: VecDeque<Sent> = VecDeque::new();
    let mut recent: VecDeque<Sent> = VecDeque::with_capacity(RECENT);
    let mut backlog: Vec<Envelope> = Vec::new();
    let mut next_ping = Instant::now()
        + Duration::from_secs_f64(rng.random_range(0.0..shared.period.as_secs_f64()));
    let mut last_answer = Instant::now();
    let mut seq: u64 = 0;
    loop {
        let sending = next_ping < shared.end;
        let stop_at = if !sending && pending.is_empty() {
            // Alerts may follow their ack: linger a little once everything is answered.
            (last_answer + Duration::from_millis(500)).min(shared.end + shared.drain)
        } else {
            shared.end + shared.drain
        };
        tokio::select! {
            () = sleep_until(next_ping), if sending => {
                let now = Instant::now();
                next_ping += shared.period;
                if next_ping < now {
                    next_ping = now + shared.period;
                }
                let env = envelope(&rep, &shared, &device_id, seq, &mut rng);
                seq += 1;
                let offline = rep.offline.is_some_and(|(from, to)| now >= from && now < to);
                if offline {
                    if let Some(mut w) = ws.take() {
                        let _ = w.close(None).await;
                        c.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        Counters::add(&c.unanswered, pending.len() as u64);
                        pending.clear();
                    }
                    backlog.push(env);
                    continue;
                }
                if !backlog.is_empty() {
                    upload(&rep, &shared, std::mem::take(&mut backlog)).await;
                }
                if ws.is_none() {
                    ws = connect(&mut rep, &shared, &mut samples).await;
                }
                let Some(w) = ws.as_mut() else {
                    continue;
                };
                let Ok(text) = serde_json::to_string(&env) else {
                    continue;
                };
                let measured = now >= shared.ramp_end && now < shared.end;
                Counters::add(&c.sent, 1);
                let sent_at = Instant::now();
                if w.send(Message::text(text)).await.is_err() {
                    lost(&shared, &mut ws, &mut pending, "send");
                    Counters::add(&c.unanswered, 1);
                    continue;
                }
                pending.push_back((env.event_id, sent_at, measured));
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back((env.event_id, sent_at, measured));
            }
            msg = next_message(&mut ws) => {
                let at = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        if on_frame(&text, at, &shared, &mut pending, &recent, &mut samples) {
                            last_answer = at;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map_or(0, |f| u16::from(f.code));
                        c.name(&format!("closed_by_server:{code}"));
                        lost(&shared, &mut ws, &mut pending, "close");
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => lost(&shared, &mut ws, &mut pending, "read"),
                }
            }
            () = sleep_until(stop_at) => break,
        }
    }
    if !backlog.is_empty() {
        upload(&rep, &shared, backlog).await;
    }
    Counters::add(&c.unanswered, pending.len() as u64);
    if let Some(mut w) = ws {
        let _ = w.close(None).await;
        c.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    samples
}

/// The next message of the socket, or never when there is none.
async fn next_message(ws: &mut Option<Ws>) -> Option<Result<Message, tungstenite::Error>> {
    match ws.as_mut() {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

/// The socket ended unexpectedly: its unanswered pings are lost (a phone would resend them).
fn lost(shared: &Shared, ws: &mut Option<Ws>, pending: &mut VecDeque<Sent>, why: &str) {
    let c = &shared.counters;
    if ws.take().is_some() {
        c.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        Counters::add(&c.socket_failures, 1);
        c.name(&format!("socket_lost:{why}"));
    }
    Counters::add(&c.unanswered, pending.len() as u64);
    pending.clear();
}

/// Opens the rep's socket, trying again each second until the run ends.
async fn connect(rep: &mut Rep, shared: &Shared, samples: &mut Samples) -> Option<Ws> {
    let c = &shared.counters;
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    while Instant::now() < shared.end {
        let began = Instant::now();
        let attempt = async {
            let mut req = rep.ws_url.as_str().into_client_request()?;
            let bearer = HeaderValue::from_str(&format!("Bearer {}", rep.token))
                .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
            req.headers_mut().insert("authorization", bearer);
            tokio_tungstenite::connect_async_with_config(req, Some(config), true).await
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok((ws, _))) => {
                samples.connect_us.push(micros(began.elapsed()));
                Counters::add(&c.connected, 1);
                Counters::add(&c.open, 1);
                return Some(ws);
            }
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let status = resp.status().as_u16();
                c.name(&format!("connect_refused:{status}"));
                if let (401, Some(pool), Some(user)) = (status, &shared.pool, rep.user) {
                    // Expired (a run longer than a token lives): mint the next one.
                    if let Ok((token, _)) = terrane::auth::devices::issue(pool, user).await {
                        rep.token = token;
                        c.name("token_renewed");
                    }
                }
            }
            Ok(Err(_)) => c.name("connect_failed"),
            Err(_) => c.name("connect_timeout"),
        }
        Counters::add(&c.socket_failures, 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    None
}

/// The rep's next ping at `now`: where its road puts it, with a little GPS noise; a spoofing
/// rep's every fifth ping jumps away or is typed in.
fn envelope(
    rep: &Rep,
    shared: &Shared,
    device_id: &str,
    seq: u64,
    rng: &mut ChaCha8Rng,
) -> Envelope {
    // The road's clock is the wall clock: a rep simulated again continues where it was.
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let fix = shared.roads[rep.road].fix_at(rep.offset_s + unix_s);
    // About 2 m of noise: real fixes never repeat exactly.
    let mut lon = fix.lon + rng.random_range(-2.5e-5..2.5e-5);
    let mut lat = fix.lat + rng.random_range(-1.8e-5..1.8e-5);
    if rep.spoof && seq % 5 == 4 {
        if seq % 10 == 4 {
            lat += 0.045;
        } else {
            lon = (lon * 1000.0).round() / 1000.0;
            lat = (lat * 1000.0).round() / 1000.0;
        }
    }
    Envelope {
        event_id: Uuid::new_v4(),
        device_id: device_id.to_owned(),
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        lon,
        lat,
        accuracy_m: rng.random_range(3.0..15.0_f64).round(),
        speed_mps: (fix.speed_mps * 10.0).round() / 10.0,
        heading_deg: fix.heading_deg.floor(),
        tier: shared.tier,
    }
}

/// Counts one frame from the server; true when it answered a ping.
fn on_frame(
    text: &str,
    at: Instant,
    shared: &Shared,
    pending: &mut VecDeque<Sent>,
    recent: &VecDeque<Sent>,
    samples: &mut Samples,
) -> bool {
    let c = &shared.counters;
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        c.name("unreadable_frame");
        return false;
    };
    // The server answers frames one at a time, in order: each answer is the oldest pending.
    let mut answer = |event: Option<Uuid>| {
        if let Some((id, sent, measured)) = pending.pop_front() {
            if event.is_some_and(|e| e != id) {
                Counters::add(&c.out_of_order, 1);
            } else if measured {
                samples.ack_us.push(micros(at - sent));
            }
        }
    };
    match frame {
        Frame::Ack {
            event_id,
            status,
            reason,
            late,
            flags,
        } => {
            answer(event_id);
            match status.as_str() {
                "accepted" => Counters::add(&c.accepted, 1),
                "duplicate" => Counters::add(&c.duplicate, 1),
                _ => {
                    Counters::add(&c.dropped, 1);
                    c.name(&format!("dropped:{}", reason.as_deref().unwrap_or("?")));
                }
            }
            if late {
                Counters::add(&c.late, 1);
            }
            for f in flags {
                c.name(&format!("flag:{f}"));
            }
            true
        }
        Frame::RateLimited {} => {
            answer(None);
            Counters::add(&c.rate_limited, 1);
            true
        }
        Frame::Error { error } => {
            answer(None);
            Counters::add(&c.errors, 1);
            c.name(&format!("error:{error}"));
            true
        }
        Frame::Alert { alert } => {
            Counters::add(&c.alerts, 1);
            match recent.iter().find(|(id, _, _)| *id == alert.ping_event_id) {
                Some((_, sent, measured)) => {
                    if *measured {
                        samples.alert_us.push(micros(at - *sent));
                    }
                }
                None => Counters::add(&c.alerts_unmatched, 1),
            }
            false
        }
        Frame::Other => {
            c.name("other_frame");
            false
        }
    }
}

/// Uploads an offline backlog with `POST /api/pings`, a server burst at a time, waiting as
/// `Retry-After` says when the rep's bucket is empty.
async fn upload(rep: &Rep, shared: &Shared, backlog: Vec<Envelope>) {
    let c = &shared.counters;
    let url = format!("{}/api/pings", rep.base);
    for chunk in backlog.chunks(BACKLOG_BATCH) {
        Counters::add(&c.http_pings, chunk.len() as u64);
        for _attempt in 0..30 {
            Counters::add(&c.http_batches, 1);
            let sent = shared
                .http
                .post(&url)
                .bearer_auth(&rep.token)
                .json(&json!({ "pings": chunk }))
                .send()
                .await;
            let Ok(resp) = sent else {
                Counters::add(&c.http_failures, 1);
                break;
            };
            let status = resp.status();
            if status.as_u16() == 429 {
                Counters::add(&c.http_429, 1);
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait.clamp(1, 60))).await;
                continue;
            }
            match resp.json::<BatchAnswer>().await {
                Ok(a) if status.is_success() => {
                    Counters::add(&c.http_accepted, a.accepted);
                    Counters::add(&c.http_duplicate, a.duplicate);
                    Counters::add(&c.http_dropped, a.dropped);
                    let late = a.results.iter().filter(|r| r.late).count();
                    Counters::add(&c.http_late, late as u64);
                }
                _ => {
                    Counters::add(&c.http_failures, 1);
                    c.name(&format!("http_status:{}", status.as_u16()));
                }
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_bases_become_socket_bases() {
        assert_eq!(ws_base("http://127.0.0.1:8080"), "ws://127.0.0.1:8080");
        assert_eq!(ws_base("https://t.example"), "wss://t.example");
    }

    #[test]
    fn frames_of_every_kind_are_read() {
        let ack = r#"{"type":"ack","event_id":"6f1c1c52-8a43-4d9b-9d55-0f3f5c3e2a10","status":"dropped","reason":"out_of_shift","late":false,"flags":[]}"#;
        assert!(matches!(
            serde_json::from_str::<Frame>(ack),
            Ok(Frame::Ack { reason: Some(r), .. }) if r == "out_of_shift"
        ));
        let alert = r#"{"type":"alert","alert":{"id":"6f1c1c52-8a43-4d9b-9d55-0f3f5c3e2a11","account_id":"6f1c1c52-8a43-4d9b-9d55-0f3f5c3e2a12","account_name":"X","distance_m":12.5,"ping_event_id":"6f1c1c52-8a43-4d9b-9d55-0f3f5c3e2a10","created_at":"2026-12-07T10:00:00Z","lon":7.42,"lat":43.73}}"#;
        assert!(matches!(
            serde_json::from_str::<Frame>(alert),
            Ok(Frame::Alert { .. })
        ));
        let limited = r#"{"type":"rate_limited","retry_after_s":2}"#;
        assert!(matches!(
            serde_json::from_str::<Frame>(limited),
            Ok(Frame::RateLimited {})
        ));
        assert!(matches!(
            serde_json::from_str::<Frame>(r#"{"type":"hello"}"#),
            Ok(Frame::Other)
        ));
    }
}
