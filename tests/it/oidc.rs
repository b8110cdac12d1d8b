//! OpenID Connect sign-in against a real provider on loopback (npm `oidc-provider`, started
//! from `web/oidc/provider.mjs`): the happy path, account linking, and refused responses.

use crate::helpers::{json_of, send_get};
use crate::helpers::{scalar, scalar_by};
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::LOCATION;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, cookie_client, demo_dataset, repo_path, seed_demo, spawn_app_on};
use crate::helpers::{audit_count, status_of};

pub const CLIENT_ID: &str = "terrane";
pub const CLIENT_SECRET: &str = "s3cret-for-tests";

/// A running provider; killed when dropped.
pub struct Provider {
    pub issuer: String,
    _child: Child,
}

impl Provider {
    pub async fn start(redirect_uri: &str) -> Self {
        let mut child = Command::new("node")
            .arg(repo_path("web/oidc/provider.mjs"))
            .args([
                "--port",
                "0",
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .args(["--redirect-uri", redirect_uri, "--auto-login"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs web/oidc/provider.mjs (npm packages installed in web/?)");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("provider starts within 30 s")
        .expect("read stdout")
        .expect("one JSON line");
        let ready: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        Self {
            issuer,
            _child: child,
        }
    }
}

/// Terrane on `listener` (its public URL `public`), signing in through the OIDC provider
/// `issuer` only (no demo sign-in).
pub async fn spawn_oidc_app(
    listener: TcpListener,
    pool: PgPool,
    public: &str,
    issuer: &str,
) -> TestApp {
    let settings = [
        ("TERRANE_DEMO", "0"),
        ("TERRANE_PUBLIC_URL", public),
        ("TERRANE_OIDC_ISSUER", issuer),
        ("TERRANE_OIDC_CLIENT_ID", CLIENT_ID),
        ("TERRANE_OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ];
    spawn_app_on(listener, pool, &settings).await
}

/// Terrane configured for a fresh provider that knows Terrane's exact callback URL.
async fn app_with_provider(pool: PgPool) -> (TestApp, Provider) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let public = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Provider::start(&format!("{public}/auth/callback")).await;
    let app = spawn_oidc_app(listener, pool, &public, &provider.issuer).await;
    (app, provider)
}

/// Follows redirects from `url` until one points at Terrane's callback; returns that URL
/// without requesting it (so tests can tamper with it).
pub async fn walk_to_callback(client: &reqwest::Client, app: &TestApp, url: String) -> String {
    let callback = app.url("/auth/callback");
    let mut url = url;
    for _ in 0..10 {
        if url.starts_with(&callback) {
            return url;
        }
        let resp = client.get(&url).send().await.expect("request");
        assert!(
            resp.status().is_redirection(),
            "{url} answered {}",
            resp.status()
        );
        let location = resp.headers()[LOCATION].to_str().expect("ascii").to_owned();
        url = reqwest::Url::parse(&url)
            .expect("url")
            .join(&location)
            .expect("location")
            .to_string();
    }
    panic!("no callback after 10 redirects");
}

/// Starts a sign-in at Terrane for `email` and walks to the callback URL.
async fn start_sign_in(client: &reqwest::Client, app: &TestApp, email: &str) -> String {
    walk_to_callback(
        client,
        app,
        app.url(&format!("/auth/login?login_hint={email}")),
    )
    .await
}

#[sqlx::test]
async fn a_seeded_rep_signs_in_with_the_provider_and_sees_only_their_accounts(pool: PgPool) {
    seed_demo(&pool).await;
    let (app, _provider) = app_with_provider(pool.clone()).await;
    let rep = &demo_dataset().reps[0];
    let client = cookie_client();

    let callback = start_sign_in(&client, &app, &rep.email).await;
    let resp = client.get(&callback).send().await.expect("callback");

    assert_eq!(
        resp.status(),
        303,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let body: serde_json::Value = json_of(&client, &app, "/api/accounts?limit=50000").await;
    let expected: i64 = scalar_by(&pool, "select count(*) from accounts a join reps r on r.id = a.owner_rep_id where r.crm_owner_id = $1", &rep.crm_owner_id).await;
    assert_eq!(
        body["features"].as_array().map(Vec::len),
        Some(expected as usize)
    );
    let (subject, method): (Option<String>, String) = sqlx::query_as(
        "select u.oidc_subject, a.details->>'method' from users u
         join audit_log a on a.actor_user_id = u.id and a.action = 'auth.sign_in' where u.email = $1",
    )
    .bind(&rep.email)
    .fetch_one(&pool)
    .await
    .expect("linked and audited");
    // web/oidc/users.json names each demo rep's subject `u-<first>-<last>`.
    let local = rep.email.split('@').next().expect("local part");
    assert_eq!(
        subject,
        Some(format!("u-{}", local.replace('.', "-"))),
        "the provider's subject is linked"
    );
    assert_eq!(method, "oidc");
}

#[sqlx::test]
async fn an_unknown_person_signs_in_but_waits_for_access(pool: PgPool) {
    seed_demo(&pool).await;
    let (app, _provider) = app_with_provider(pool.clone()).await;
    let client = cookie_client();

    let callback = start_sign_in(&client, &app, "stranger@example.com").await;
    assert_eq!(status_of(&client, callback).await, 303);

    assert_eq!(status_of(&client, app.url("/api/accounts")).await, 403);
    let role: Option<String> = scalar(
        &pool,
        "select role::text from users where email = 'stranger@example.com'",
    )
    .await;
    assert_eq!(role, None);
}

#[sqlx::test]
async fn an_unverified_email_is_refused_and_no_session_is_created(pool: PgPool) {
    seed_demo(&pool).await;
    let (app, _provider) = app_with_provider(pool.clone()).await;
    let client = cookie_client();

    let callback = start_sign_in(&client, &app, "unverified@example.com").await;
    let resp = client.get(&callback).send().await.expect("callback");

    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("did not confirm your email")
    );
    assert_eq!(status_of(&client, app.url("/api/accounts")).await, 401);
    let sign_ins = audit_count(&pool, "auth.sign_in").await;
    assert_eq!(sign_ins, 0);
}

#[sqlx::test]
async fn a_tampered_state_or_issuer_is_refused_and_the_response_is_then_spent(pool: PgPool) {
    seed_demo(&pool).await;
    let (app, _provider) = app_with_provider(pool.clone()).await;
    let email = &demo_dataset().reps[0].email;

    for tamper in ["state", "iss"] {
        let client = cookie_client();
        let callback = start_sign_in(&client, &app, email).await;
        let mut url = reqwest::Url::parse(&callback).expect("url");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == tamper {
                    format!("{v}x")
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);

        assert_eq!(
            status_of(&client, url.to_string()).await,
            400,
            "tampered {tamper}"
        );
        assert_eq!(
            status_of(&client, app.url("/api/accounts")).await,
            401,
            "tampered {tamper}: no session"
        );
        // The pending sign-in was consumed: the untouched response no longer works either.
        assert_eq!(
            status_of(&client, callback).await,
            400,
            "after a tampered {tamper}"
        );
        assert_eq!(status_of(&client, app.url("/api/accounts")).await, 401);
    }
}

#[sqlx::test]
async fn a_callback_replayed_in_another_browser_is_refused(pool: PgPool) {
    seed_demo(&pool).await;
    let (app, _provider) = app_with_provider(pool.clone()).await;
    let victim = cookie_client();
    let callback = start_sign_in(&victim, &app, &demo_dataset().reps[0].email).await;

    // An attacker who captured the response (code and state) tries it in their own browser.
    let attacker = cookie_client();
    send_get(&attacker, &app, "/login").await;
    assert_eq!(status_of(&attacker, callback.clone()).await, 400);
    assert_eq!(status_of(&attacker, app.url("/api/accounts")).await, 401);

    // The victim's own browser still completes, once; a second use of the code fails.
    assert_eq!(status_of(&victim, callback.clone()).await, 303);
    assert_eq!(status_of(&victim, app.url("/api/accounts")).await, 200);
    assert_eq!(
        status_of(&victim, callback).await,
        400,
        "a response is good for one sign-in"
    );
}

#[sqlx::test]
async fn a_provider_that_does_not_know_our_redirect_uri_signs_nobody_in(pool: PgPool) {
    seed_demo(&pool).await;
    // The provider registers another callback URL than the one Terrane sends.
    let provider = Provider::start("http://127.0.0.1:9/auth/callback").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let public = format!("http://{}", listener.local_addr().expect("addr"));
    let app = spawn_oidc_app(listener, pool, &public, &provider.issuer).await;
    let client = cookie_client();
    let start = send_get(&client, &app, "/auth/login").await;
    assert_eq!(start.status(), 303);
    let location = start.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();

    let at_provider = client.get(&location).send().await.expect("authorize");

    assert_eq!(
        at_provider.status(),
        400,
        "the provider refuses an unregistered redirect_uri"
    );
    assert!(
        at_provider.headers().get(LOCATION).is_none(),
        "and does not redirect anywhere"
    );
    assert_eq!(status_of(&client, app.url("/api/accounts")).await, 401);
}
