//! Demo mode: a banner on every page, and demo sign-in only for requests addressed to this
//! machine (start-up refuses demo mode behind a public address: `config.rs` unit tests).

use crate::helpers::{post_form, send_get};
use reqwest::header::HOST;
use sqlx::PgPool;

use crate::helpers::{
    ADMIN, cookie_client, csrf_in, page_html, seed_demo, spawn_app, spawn_app_with,
};

const BANNER: &str = r#"<p class="demo-banner""#;

#[sqlx::test]
async fn every_page_carries_the_demo_banner_in_demo_mode_only(pool: PgPool) {
    seed_demo(&pool).await;
    let demo = spawn_app(pool.clone()).await;
    let admin = demo.client_as(ADMIN).await;
    for path in [
        "/login",
        "/",
        "/territories",
        "/territories/outbox",
        "/admin/sync",
        "/admin/users",
        "/admin/audit",
        "/admin/tokens",
        "/admin/geocoding",
        "/admin/connections/new",
    ] {
        let html = page_html(&admin, &demo, path).await;
        assert_eq!(html.matches(BANNER).count(), 1, "one banner on {path}");
        assert!(
            html.contains(&format!("<body>{BANNER}")),
            "the banner comes first in the body of {path}"
        );
    }
    // JSON is left as it is.
    let (status, body) = demo.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let real = spawn_app_with(pool, &[("TERRANE_DEMO", "0")]).await;
    let html = page_html(&cookie_client(), &real, "/login").await;
    assert!(html.contains("<body>"), "a page");
    assert!(!html.contains(BANNER), "no banner outside demo mode");
}

#[sqlx::test]
async fn demo_sign_in_refuses_requests_addressed_to_another_host(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool).await;
    let client = cookie_client();
    let html = page_html(&client, &app, "/login").await;
    let csrf = csrf_in(&html);
    for host in [
        "terrane.example.com",
        "192.168.1.20:8080",
        "127.0.0.1.nip.io",
    ] {
        let resp = client
            .post(app.url("/auth/demo"))
            .header(HOST, host)
            .form(&[("csrf", csrf.as_str()), ("email", ADMIN)])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403, "Host: {host}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["code"], "demo_not_local", "Host: {host}");
    }
    let resp = send_get(&client, &app, "/api/accounts?limit=1").await;
    assert_eq!(resp.status(), 401, "still signed out");

    let resp = post_form(
        &client,
        &app,
        "/auth/demo",
        &[("csrf", csrf.as_str()), ("email", ADMIN)],
    )
    .await;
    assert_eq!(resp.status(), 303, "addressed to 127.0.0.1: signed in");
    assert_eq!(
        crate::helpers::status_of(&client, app.url("/api/accounts?limit=1")).await,
        200
    );
}
