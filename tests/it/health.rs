//! Liveness, readiness (with real and stopped dependencies), metrics, 404s and request ids.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{dead_url, spawn_app, spawn_app_with};

#[sqlx::test]
async fn readyz_is_200_when_database_and_real_osrm_answer(pool: PgPool) {
    let app = spawn_app(pool).await;

    let (status, body) = app.get_json("/readyz").await;

    assert_eq!(
        status, 200,
        "{body} (is osrm-routed running at TERRANE_TEST_OSRM_URL?)"
    );
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["osrm"], "ok");
}

#[sqlx::test]
async fn readyz_is_503_naming_osrm_when_osrm_is_stopped(pool: PgPool) {
    let osrm = dead_url();
    let app = spawn_app_with(pool, &[("TERRANE_OSRM_URL", &osrm)]).await;

    let (status, body) = app.get_json("/readyz").await;

    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["osrm"], "down");
    assert_eq!(body["checks"]["database"], "ok");
}

#[sqlx::test]
async fn readyz_is_503_naming_the_database_when_it_is_unreachable(pool: PgPool) {
    // A pool pointing at a port where no PostgreSQL listens.
    let dead = dead_url().replace("http://", "postgres://postgres@") + "/nothing";
    let dead_pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy(&dead)
        .expect("lazy pool");
    drop(pool);
    let app = spawn_app(dead_pool).await;

    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"], "down");
    assert_eq!(body["checks"]["osrm"], "ok");

    // Pages that need the database say it is unavailable (503, so clients retry), not 500.
    let (status, body) = app.get_json("/login").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "unavailable");
}

#[sqlx::test]
async fn healthz_answers_without_dependencies(pool: PgPool) {
    let osrm = dead_url();
    let app = spawn_app_with(pool, &[("TERRANE_OSRM_URL", &osrm)]).await;

    let (status, body) = app.get_json("/healthz").await;

    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[sqlx::test]
async fn metrics_count_requests_by_route_in_prometheus_format(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.get("/healthz").await;
    app.get("/api/accounts?bbox=bad").await; // anonymous: 401

    let resp = app.get("/metrics").await;

    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let text = resp.text().await.expect("text");
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains(r#"route="/api/accounts""#)
            && l.contains(r#"status="401""#)),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[sqlx::test]
async fn unknown_paths_are_404_with_a_json_error(pool: PgPool) {
    let app = spawn_app(pool).await;

    let (status, body) = app.get_json("/no/such/page").await;

    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[sqlx::test]
async fn every_response_carries_a_request_id(pool: PgPool) {
    let app = spawn_app(pool).await;

    let a = app.get("/healthz").await;
    let b = app.get("/healthz").await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("request");

    let id = |r: &reqwest::Response| {
        r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    assert_ne!(id(&a), id(&b));
    assert_eq!(id(&given), "trace-me-123");
}

#[sqlx::test]
async fn oversized_request_bodies_are_refused(pool: PgPool) {
    let app = spawn_app_with(pool, &[("TERRANE_BODY_LIMIT_BYTES", "2048")]).await;

    let resp = app
        .client
        .post(app.url("/api/accounts"))
        .body(vec![b'x'; 10_000])
        .send()
        .await
        .expect("request");

    // No POST route exists yet; the limit answers before routing does.
    assert!(
        resp.status() == 413 || resp.status() == 405,
        "{}",
        resp.status()
    );
}

#[sqlx::test]
async fn the_map_page_loads_maplibre_and_our_script_without_inline_code(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let mut app = spawn_app(pool).await;
    app.sign_in(crate::helpers::ADMIN).await;

    let resp = app.get("/").await;

    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("/vendor/maplibre-gl/maplibre-gl-csp.js"),
        "{html}"
    );
    assert!(html.contains("/static/js/map.js"), "{html}");
    assert!(
        html.contains(r#"data-accounts-url="/api/accounts""#),
        "{html}"
    );
    assert!(!html.contains("<script>"), "no inline scripts: {html}");
    for asset in [
        "/static/js/map.js",
        "/static/css/app.css",
        "/vendor/maplibre-gl/maplibre-gl-csp.js",
        "/vendor/maplibre-gl/maplibre-gl-csp-worker.js",
        "/vendor/maplibre-gl/maplibre-gl.css",
    ] {
        let r = app.get(asset).await;
        assert_eq!(r.status(), 200, "{asset} (npm packages installed in web/?)");
    }
}

#[sqlx::test]
async fn pages_and_api_carry_security_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in [
        "/",
        "/api/accounts?limit=1",
        "/static/js/map.js",
        "/no/such/page",
    ] {
        let resp = app.get(path).await;
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}

#[sqlx::test]
async fn with_a_metrics_token_only_a_scraper_sending_it_reads_the_metrics(pool: PgPool) {
    let token = "scraper-secret-0123456789";
    let app = spawn_app_with(pool, &[("TERRANE_METRICS_TOKEN", token)]).await;
    let client = reqwest::Client::new();
    let with = |auth: Option<&str>| {
        let mut req = client.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };

    assert_eq!(with(None).await.expect("metrics").status(), 401);
    let wrong = with(Some("Bearer scraper-secret-0123456780"))
        .await
        .expect("metrics");
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "metrics_token");
    let right = with(Some(&format!("Bearer {token}")))
        .await
        .expect("metrics");
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .expect("text")
            .contains("http_requests_total")
    );
}
