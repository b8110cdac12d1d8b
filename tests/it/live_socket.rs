//! Location frames on `/live/ws` with a real WebSocket client against real PostGIS: each
//! frame goes through the same checks as `POST /api/pings` and is answered after its commit.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::TestApp;
use crate::live_pings::{LAT, LON, ago, assert_position_stored_nowhere, ping, pings_of, setup};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str, origin: Option<&str>) -> Result<Ws, WsError> {
    let mut request = format!("ws://{}/live/ws", app.addr)
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Sends `text` and returns the server's JSON answer (waits at most 15 s).
async fn exchange(ws: &mut Ws, text: String) -> Value {
    ws.send(Message::text(text)).await.expect("send a frame");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("an answer in time")
            .expect("the socket stays open")
            .expect("no socket error");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("a JSON answer");
        }
    }
}

#[sqlx::test]
async fn a_frame_is_stored_and_acked_and_a_repeat_stored_once(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let mut ws = connect(&app, &a.token, None).await.expect("opens");
    let p = ping(LON, LAT, ago(5), "precise");
    let ack = exchange(&mut ws, p.to_string()).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["status"], "accepted", "{ack}");
    assert_eq!(ack["event_id"], p["event_id"]);
    assert_eq!(ack["flags"], json!([]));
    // The ack came after the commit: the row is visible to another connection now.
    assert_eq!(pings_of(&pool, a.id).await, 1);
    let again = exchange(&mut ws, p.to_string()).await;
    assert_eq!(
        (again["type"].clone(), again["status"].clone()),
        (json!("ack"), json!("duplicate")),
        "{again}"
    );
    assert_eq!(pings_of(&pool, a.id).await, 1);
}

#[sqlx::test]
async fn an_off_frame_is_stored_nowhere(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let mut ws = connect(&app, &a.token, None).await.expect("opens");
    let ack = exchange(&mut ws, ping(LON, LAT, ago(5), "off").to_string()).await;
    assert_eq!(ack["status"], "dropped", "{ack}");
    assert_eq!(ack["reason"], "tier_off", "{ack}");
    assert_position_stored_nowhere(&pool).await;
}

#[sqlx::test]
async fn a_foreign_origin_fails_the_handshake(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    match connect(&app, &a.token, Some("https://evil.example.com")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("a foreign origin opened the socket"),
    }
    // The server's own origin (a browser on the app's pages) and no origin (a phone) open.
    let own = format!("http://{}", app.addr);
    connect(&app, &a.token, Some(&own))
        .await
        .expect("the own origin opens");
    connect(&app, &a.token, None)
        .await
        .expect("no origin opens");
}

#[sqlx::test]
async fn a_bad_frame_gets_an_error_frame_and_the_socket_stays_usable(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let mut ws = connect(&app, &a.token, None).await.expect("opens");
    let err = exchange(&mut ws, "{not json".to_owned()).await;
    assert_eq!(
        (err["type"].clone(), err["error"].clone()),
        (json!("error"), json!("bad_frame")),
        "{err}"
    );
    let err = exchange(&mut ws, json!({ "lon": LON }).to_string()).await;
    assert_eq!(err["type"], "error", "{err}");
    let ack = exchange(&mut ws, ping(LON, LAT, ago(5), "precise").to_string()).await;
    assert_eq!(ack["status"], "accepted", "{ack}");
    assert_eq!(pings_of(&pool, a.id).await, 1);
}

#[sqlx::test]
async fn a_burst_beyond_the_bucket_gets_the_rate_limited_frame(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[("TERRANE_PING_BURST", "3")]).await;
    let mut ws = connect(&app, &a.token, None).await.expect("opens");
    for i in 0..3 {
        let p = ping(
            LON + f64::from(i) * 1e-4,
            LAT,
            ago(10 - i64::from(i)),
            "precise",
        );
        let ack = exchange(&mut ws, p.to_string()).await;
        assert_eq!(ack["status"], "accepted", "{ack}");
    }
    let limited = exchange(
        &mut ws,
        ping(LON, LAT + 1e-4, ago(1), "precise").to_string(),
    )
    .await;
    assert_eq!(limited["type"], "rate_limited", "{limited}");
    let retry = limited["retry_after_s"].as_u64().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(pings_of(&pool, a.id).await, 3);
}

#[sqlx::test]
async fn a_message_over_4_kib_ends_the_socket(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let mut ws = connect(&app, &a.token, None).await.expect("opens");
    let mut big = ping(LON, LAT, ago(5), "precise");
    big["device_id"] = json!("x".repeat(5 * 1024));
    ws.send(Message::text(big.to_string()))
        .await
        .expect("send a frame");
    let next = tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .expect("the server reacts in time");
    assert!(
        !matches!(next, Some(Ok(Message::Text(_)))),
        "an oversized message was answered: {next:?}"
    );
    assert_eq!(pings_of(&pool, a.id).await, 0);
}
