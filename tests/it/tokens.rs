//! API tokens: created by an admin and shown once, stored hashed, scoped, revocable.

use crate::helpers::count;
use crate::helpers::{post_form, send_get};
use crate::helpers::{scalar, scalar_by};
use sqlx::PgPool;

use crate::helpers::page_html;
use crate::helpers::{ADMIN, TestApp, cookie_client, csrf_in, demo_dataset, seed_demo, spawn_app};

/// Creates a token through the admin page; returns (token, the page's HTML).
async fn create_token(
    app: &TestApp,
    admin: &reqwest::Client,
    name: &str,
    scopes: &[&str],
) -> (String, String) {
    let page = page_html(admin, app, "/admin/tokens").await;
    let csrf = csrf_in(&page);
    let mut form = vec![("csrf", csrf.as_str()), ("name", name)];
    form.extend(scopes.iter().map(|s| (*s, "on")));
    let resp = post_form(admin, app, "/admin/tokens", &form).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.expect("html");
    let start = html.find(r#"<code id="new-token">"#).expect("token shown")
        + r#"<code id="new-token">"#.len();
    let end = html[start..].find('<').expect("end") + start;
    (html[start..end].to_owned(), html)
}

async fn accounts_with(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/api/accounts?limit=50000"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[sqlx::test]
async fn a_token_reads_accounts_until_it_is_revoked_and_only_its_hash_is_stored(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.client_as(ADMIN).await;

    let (token, _) = create_token(&app, &admin, "BI export", &["accounts:read"]).await;

    assert!(token.starts_with("trn_") && token.len() == 68, "{token}");
    let resp = accounts_with(&app, &token).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body["features"].as_array().map(Vec::len),
        Some(demo_dataset().accounts.len())
    );
    // Never shown again, and not stored in the clear.
    let listing = page_html(&admin, &app, "/admin/tokens").await;
    assert!(listing.contains("BI export") && !listing.contains(&token));
    let in_db: i64 = scalar_by(&pool, "select count(*) from api_tokens where position(convert_to($1, 'UTF8') in token_hash) > 0 or display_prefix = $1", &token).await;
    assert_eq!(in_db, 0);
    let used: Option<chrono::DateTime<chrono::Utc>> =
        scalar(&pool, "select last_used_at from api_tokens").await;
    assert!(used.is_some(), "use is recorded");

    let id: uuid::Uuid = scalar(&pool, "select id from api_tokens").await;
    let revoke = post_form(
        &admin,
        &app,
        &format!("/admin/tokens/{id}/revoke"),
        &[("csrf", csrf_in(&listing).as_str())],
    )
    .await;
    assert_eq!(revoke.status(), 303);
    assert_eq!(accounts_with(&app, &token).await.status(), 401, "revoked");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like 'api_token.%' order by id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(actions, ["api_token.created", "api_token.revoked"]);
}

#[sqlx::test]
async fn tokens_are_checked_for_scope_and_validity(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool).await;
    let admin = app.client_as(ADMIN).await;
    let (territories_only, _) = create_token(&app, &admin, "planner", &["territories:read"]).await;

    assert_eq!(
        accounts_with(&app, &territories_only).await.status(),
        403,
        "wrong scope"
    );
    for bad in [
        "trn_0000",
        "not-a-token",
        "",
        &format!("{territories_only}x"),
    ] {
        assert_eq!(accounts_with(&app, bad).await.status(), 401, "{bad:?}");
    }
    // A token does not open pages or admin routes (they need a browser session).
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/admin/tokens"))
        .bearer_auth(&territories_only)
        .send()
        .await
        .expect("req");
    assert_eq!(page.status(), 303);
}

#[sqlx::test]
async fn only_admins_create_tokens_and_a_scope_is_required(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let html = page_html(&manager, &app, "/").await;
    let resp = post_form(
        &manager,
        &app,
        "/admin/tokens",
        &[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "sneaky"),
            ("accounts:read", "on"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 403);

    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/tokens").await;
    let no_scope = post_form(
        &admin,
        &app,
        "/admin/tokens",
        &[("csrf", csrf_in(&page).as_str()), ("name", "nothing")],
    )
    .await;
    assert_eq!(no_scope.status(), 400);
    let anon = cookie_client()
        .post(app.url("/admin/tokens"))
        .form(&[("csrf", "x"), ("name", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(anon.status(), 303, "anonymous: sent to sign in");
    let n = count(&pool, "api_tokens").await;
    assert_eq!(n, 0);
}

async fn post_admin_form(
    app: &TestApp,
    admin: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_in(&page_html(admin, app, "/admin/users").await);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    post_form(admin, app, path, &form).await
}

#[sqlx::test]
async fn a_token_with_a_lifetime_stops_working_when_it_expires(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/tokens").await;
    let csrf = csrf_in(&page);
    let create = |days: &'static str| {
        admin
            .post(app.url("/admin/tokens"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "nightly BI"),
                ("accounts:read", "on"),
                ("lifetime_days", days),
            ])
            .send()
    };
    assert_eq!(
        create("7").await.expect("create").status(),
        400,
        "not offered"
    );
    let html = create("30")
        .await
        .expect("create")
        .text()
        .await
        .expect("html");
    let start = html.find(r#"<code id="new-token">"#).expect("shown") + 21;
    let token = html[start..start + html[start..].find('<').expect("end")].to_owned();
    assert_eq!(accounts_with(&app, &token).await.status(), 200);
    let days: f64 = scalar(
        &pool,
        "select (extract(epoch from expires_at - created_at) / 86400)::float8 from api_tokens",
    )
    .await;
    assert!((days - 30.0).abs() < 0.01, "{days}");

    sqlx::query("update api_tokens set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire");
    assert_eq!(accounts_with(&app, &token).await.status(), 401);
    assert!(
        page_html(&admin, &app, "/admin/tokens")
            .await
            .contains("(expired)")
    );
}

#[sqlx::test]
async fn demoting_or_disabling_an_admin_revokes_the_tokens_they_made(pool: PgPool) {
    seed_demo(&pool).await;
    let second = "manager.b@example.com";
    sqlx::query("update users set role = 'admin' where email = $1")
        .bind(second)
        .execute(&pool)
        .await
        .expect("second admin");
    let second_id: uuid::Uuid =
        scalar_by(&pool, "select id from users where email = $1", second).await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.client_as(ADMIN).await;
    let mine = create_token(&app, &admin, "the first admin's", &["accounts:read"])
        .await
        .0;

    let theirs = create_token(
        &app,
        &app.client_as(second).await,
        "theirs",
        &["accounts:read"],
    )
    .await
    .0;
    assert_eq!(accounts_with(&app, &theirs).await.status(), 200);
    let resp = post_admin_form(
        &app,
        &admin,
        &format!("/admin/users/{second_id}/role"),
        &[("role", "manager"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(accounts_with(&app, &theirs).await.status(), 401, "demoted");
    assert!(
        page_html(&admin, &app, "/admin/tokens")
            .await
            .contains("creator demoted")
    );

    sqlx::query("update users set role = 'admin' where id = $1")
        .bind(second_id)
        .execute(&pool)
        .await
        .expect("admin again");
    let second_client = app.client_as(second).await;
    let again = create_token(&app, &second_client, "again", &["accounts:read"])
        .await
        .0;
    let resp = post_admin_form(
        &app,
        &admin,
        &format!("/admin/users/{second_id}/disable"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(accounts_with(&app, &again).await.status(), 401, "disabled");
    assert_eq!(
        accounts_with(&app, &mine).await.status(),
        200,
        "other admins' tokens keep working"
    );
    let signed_in = send_get(&second_client, &app, "/admin/users").await;
    assert_ne!(
        signed_in.status(),
        200,
        "the disabled admin's session ended"
    );

    // An admin cannot disable themself.
    let me: uuid::Uuid = scalar_by(&pool, "select id from users where email = $1", ADMIN).await;
    let resp = post_admin_form(&app, &admin, &format!("/admin/users/{me}/disable"), &[]).await;
    assert_eq!(resp.status(), 400);
}
