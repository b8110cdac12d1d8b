//! A real `terrane serve` under socket load, killed with SIGKILL: every ping it acknowledged is
//! in the database afterwards, and it comes back. Its whole log output, at trace level, holds
//! none of the coordinates the phones sent.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::helpers::{Server, database_url_of};

/// Reps sending at once.
const REPS: usize = 12;
/// Acked pings, in all, before the kill.
const ACKED_BEFORE_KILL: usize = 300;
/// The coordinates every phone sends (6 decimals); their first 5 decimals must appear in no
/// log line.
const LON: f64 = 7.416_253;
const LAT: f64 = 43.731_547;

async fn rep_with_token(pool: &PgPool, n: usize) -> (Uuid, String) {
    let email = format!("durable{n}@live.test");
    let rep: Uuid = sqlx::query_scalar(
        "insert into reps (name, email, work_start, work_end, workdays)
         values ($1, $1, '00:00', '23:59:59.999', '{1,2,3,4,5,6,7}') returning id",
    )
    .bind(&email)
    .fetch_one(pool)
    .await
    .expect("rep");
    let user: Uuid = sqlx::query_scalar(
        "insert into users (email, name, role, rep_id) values ($1, $1, 'rep', $2) returning id",
    )
    .bind(&email)
    .bind(rep)
    .fetch_one(pool)
    .await
    .expect("user");
    let (token, _) = terrane::auth::devices::issue(pool, user)
        .await
        .expect("token");
    (rep, token)
}

/// A ping near the fixed point (a real fix moves a little between pings).
fn ping(i: usize, tier: &str) -> Value {
    let jitter = f64::from(u16::try_from(i % 50).unwrap_or(0)) * 0.000_01;
    json!({
        "event_id": Uuid::new_v4().to_string(),
        "device_id": "durable-phone",
        "recorded_at": Utc::now().to_rfc3339(),
        "lon": LON + jitter,
        "lat": LAT + jitter,
        "accuracy_m": 7.5,
        "tier": tier,
    })
}

/// One phone: sends pings one after another (the next once the last is answered) and records
/// the event ids acked `accepted`, until the socket breaks.
async fn phone(addr: std::net::SocketAddr, token: String, acked: Arc<Mutex<Vec<Uuid>>>) {
    let mut request = format!("ws://{addr}/live/ws")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await else {
        return;
    };
    for i in 0.. {
        // One `off` ping in ten: refused and kept nowhere, logs included.
        let tier = if i % 10 == 9 { "off" } else { "precise" };
        if ws
            .send(Message::text(ping(i, tier).to_string()))
            .await
            .is_err()
        {
            return;
        }
        loop {
            match tokio::time::timeout(StdDuration::from_secs(20), ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let v: Value = serde_json::from_str(&text).expect("JSON");
                    if v["type"] == "ack" {
                        if v["status"] == "accepted" {
                            let id = v["event_id"].as_str().expect("id").parse().expect("uuid");
                            acked.lock().await.push(id);
                        }
                        break;
                    }
                    if v["type"] != "alert" {
                        break;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => return,
            }
        }
    }
}

#[sqlx::test]
async fn a_killed_server_loses_no_acknowledged_ping_and_logs_no_position(pool: PgPool) {
    let url = database_url_of(&pool).await;
    let mut reps = Vec::new();
    for n in 0..REPS {
        reps.push(rep_with_token(&pool, n).await);
    }
    let dir = std::env::temp_dir().join(format!("terrane-live-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("log dir");
    let log = dir.join("serve.log");
    let settings = [
        ("TERRANE_LOG", "trace"),
        ("TERRANE_PING_PER_MIN", "6000"),
        ("TERRANE_PING_BURST", "500"),
    ];
    let mut server = Server::start_with(&url, &settings, Some(&log));
    server.ready().await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let phones: Vec<_> = reps
        .iter()
        .map(|(_, token)| tokio::spawn(phone(server.addr, token.clone(), Arc::clone(&acked))))
        .collect();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(120);
    while acked.lock().await.len() < ACKED_BEFORE_KILL {
        assert!(
            std::time::Instant::now() < deadline,
            "too few acks: {}",
            acked.lock().await.len()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // Killed mid-load: frames are in flight on every socket.
    server.signal(nix::sys::signal::Signal::SIGKILL);
    server.exited().await;
    for p in phones {
        let _ = p.await;
    }
    let acked: Vec<Uuid> = acked.lock().await.clone();
    let stored: HashSet<Uuid> = sqlx::query_scalar("select event_id from pings")
        .fetch_all(&pool)
        .await
        .expect("pings")
        .into_iter()
        .collect();
    let lost: Vec<&Uuid> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    assert!(lost.is_empty(), "{} acknowledged pings lost", lost.len());

    // It comes back and takes pings again.
    let mut again = Server::start_with(&url, &settings, Some(&log));
    again.ready().await;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/pings", again.addr))
        .bearer_auth(&reps[0].1)
        .json(&json!({ "pings": [ping(1, "precise")] }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    again.signal(nix::sys::signal::Signal::SIGTERM);
    again.exited().await;

    // Trace level, two servers, hundreds of pings: not one coordinate in the output.
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.lines().count() > 100, "the log was written");
    for needle in [format!("{LON:.5}"), format!("{LAT:.5}")] {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(&needle)).collect();
        assert!(
            hits.is_empty(),
            "{needle} in {} log lines, e.g. {:.300}",
            hits.len(),
            hits[0]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
