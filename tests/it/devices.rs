//! Device tokens and the device socket: issued to reps from the session (with CSRF), 15
//! minutes long, and a revoked or expired token closes the open socket.

use crate::helpers::count;
use crate::helpers::scalar_by;
use crate::helpers::{post_form, send_get, send_post};
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::{TestApp, cookie_client, csrf_in, demo_dataset, seed_demo, spawn_app};
use crate::helpers::{audit_count, page_html};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signed-in rep's browser and the CSRF token of its session.
async fn rep_session(app: &TestApp) -> (reqwest::Client, String) {
    let client = app.client_as(&demo_dataset().reps[0].email).await;
    let html = page_html(&client, app, "/").await;
    (client, csrf_in(&html))
}

/// The demo data and app, a signed-in rep, its CSRF token and a device token it got.
async fn rep_with_device_token(pool: &PgPool) -> (TestApp, reqwest::Client, String, String) {
    seed_demo(pool).await;
    let app = spawn_app(pool.clone()).await;
    let (rep, csrf) = rep_session(&app).await;
    let token = device_token(&rep, &app, &csrf).await;
    (app, rep, csrf, token)
}

async fn post_with_csrf(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    csrf: &str,
) -> reqwest::Response {
    client
        .post(app.url(path))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .expect("post")
}

async fn device_token(client: &reqwest::Client, app: &TestApp, csrf: &str) -> String {
    let resp = post_with_csrf(client, app, "/api/device-token", csrf).await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["ttl_s"], 900);
    body["token"].as_str().expect("token").to_owned()
}

async fn connect(app: &TestApp, token: &str) -> Result<Ws, WsError> {
    let mut request = format!("ws://{}/live/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// The close code the server sends next (waits at most 15 s for it).
async fn next_close_code(ws: &mut Ws) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("the server closes the socket in time")
            .expect("a frame")
            .expect("no socket error");
        if let Message::Close(frame) = msg {
            return frame.map_or(u16::from(CloseCode::Status), |f| u16::from(f.code));
        }
    }
}

fn handshake_status(result: Result<Ws, WsError>) -> u16 {
    match result {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected the handshake to be refused"),
    }
}

#[sqlx::test]
async fn revoking_device_tokens_closes_the_open_socket(pool: PgPool) {
    let (app, rep, csrf, token) = rep_with_device_token(&pool).await;
    let mut ws = connect(&app, &token)
        .await
        .expect("socket opens with a fresh token");

    let revoke = post_with_csrf(&rep, &app, "/api/device-tokens/revoke", &csrf).await;

    assert_eq!(revoke.status(), 200);
    assert_eq!(next_close_code(&mut ws).await, 4001);
    assert_eq!(
        handshake_status(connect(&app, &token).await),
        401,
        "the revoked token opens nothing"
    );
    let audited = audit_count(&pool, "device_tokens.revoked").await;
    assert_eq!(audited, 1);
}

#[sqlx::test]
async fn an_expiring_token_closes_its_socket_and_renewal_gives_a_new_one(pool: PgPool) {
    let (app, rep, csrf, token) = rep_with_device_token(&pool).await;
    sqlx::query("update device_tokens set expires_at = now() + interval '1 second'")
        .execute(&pool)
        .await
        .expect("shorten");
    let mut ws = connect(&app, &token).await.expect("opens while valid");

    assert_eq!(next_close_code(&mut ws).await, 4002);
    assert_eq!(
        handshake_status(connect(&app, &token).await),
        401,
        "expired"
    );
    let renewed = device_token(&rep, &app, &csrf).await;
    assert_ne!(renewed, token);
    connect(&app, &renewed)
        .await
        .expect("the renewed token works");
    let stored: i64 = scalar_by(
        &pool,
        "select count(*) from device_tokens where token_hash = sha256(convert_to($1, 'UTF8'))",
        &renewed,
    )
    .await;
    assert_eq!(stored, 1, "stored as its SHA-256 only");
}

#[sqlx::test]
async fn only_signed_in_reps_with_the_csrf_header_get_device_tokens(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let (rep, _) = rep_session(&app).await;

    assert_eq!(
        post_with_csrf(&rep, &app, "/api/device-token", "wrong")
            .await
            .status(),
        403,
        "CSRF header"
    );
    let no_header = send_post(&rep, &app, "/api/device-token").await;
    assert_eq!(no_header.status(), 403);
    let manager = app.client_as("manager.a@example.com").await;
    let html = page_html(&manager, &app, "/").await;
    assert_eq!(
        post_with_csrf(&manager, &app, "/api/device-token", &csrf_in(&html))
            .await
            .status(),
        403,
        "managers"
    );
    assert_eq!(
        post_with_csrf(&cookie_client(), &app, "/api/device-token", "x")
            .await
            .status(),
        401,
        "anonymous"
    );
    assert_eq!(handshake_status(connect(&app, "trd_nonsense").await), 401);
    let n = count(&pool, "device_tokens").await;
    assert_eq!(n, 0);
}

#[sqlx::test]
async fn disabling_a_rep_closes_their_open_socket_at_once_and_ends_their_session(pool: PgPool) {
    let (app, rep, _, token) = rep_with_device_token(&pool).await;
    let mut ws = connect(&app, &token).await.expect("opens");
    let rep_id: uuid::Uuid = scalar_by(
        &pool,
        "select id from users where email = $1",
        &demo_dataset().reps[0].email,
    )
    .await;
    let admin = app.client_as(crate::helpers::ADMIN).await;
    let admin_csrf = csrf_in(&page_html(&admin, &app, "/admin/users").await);

    let resp = post_form(
        &admin,
        &app,
        &format!("/admin/users/{rep_id}/disable"),
        &[("csrf", admin_csrf.as_str())],
    )
    .await;

    assert_eq!(resp.status(), 303, "back to the users page");
    assert_eq!(next_close_code(&mut ws).await, 4001);
    assert_eq!(handshake_status(connect(&app, &token).await), 401);
    let after = send_get(&rep, &app, "/api/accounts?limit=1").await;
    assert_eq!(after.status(), 401, "the session ended");
    assert_eq!(audit_count(&pool, "user.disabled").await, 1);
}
