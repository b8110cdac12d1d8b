//! Sign-in, sessions, CSRF, roles and the access matrix: nobody reaches data that isn't theirs.

use crate::helpers::count;
use crate::helpers::{json_of, post_form, send_get, sent};
use crate::helpers::{scalar, scalar_by, user_id};
use std::collections::BTreeSet;

use reqwest::header::{COOKIE, SET_COOKIE};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    ADMIN, TestApp, cookie_client, csrf_in, demo_dataset, seed_demo, spawn_app, spawn_app_with,
};
use crate::helpers::{audit_count, page_html, status_of};

const MANAGER_A: &str = "manager.a@example.com";
const MANAGER_B: &str = "manager.b@example.com";

/// Rep emails: the first rep is in Team A, the last in Team B.
fn rep_a() -> &'static str {
    &demo_dataset().reps[0].email
}
fn rep_b() -> &'static str {
    &demo_dataset().reps[demo_dataset().reps.len() - 1].email
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.contains("terrane_session=")
            .then(|| v.split(';').next().unwrap_or_default().to_owned())
    })
}

/// The full `Set-Cookie` header a fresh browser gets from the sign-in page.
async fn login_set_cookie(app: &TestApp) -> String {
    let resp = raw_client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login");
    resp.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Rep ids whose accounts `email` may see, straight from the database (the expected answer).
async fn visible_reps(pool: &PgPool, email: &str) -> Option<BTreeSet<Uuid>> {
    let rows: Vec<Uuid> = match email {
        ADMIN => return None,
        MANAGER_A | MANAGER_B => sqlx::query_scalar(
            "select m.rep_id from team_members m join teams t on t.id = m.team_id
             join users u on u.id = t.manager_user_id where u.email = $1",
        )
        .bind(email)
        .fetch_all(pool)
        .await
        .expect("team"),
        _ => sqlx::query_scalar("select rep_id from users where email = $1 and rep_id is not null")
            .bind(email)
            .fetch_all(pool)
            .await
            .expect("rep"),
    };
    Some(rows.into_iter().collect())
}

#[sqlx::test]
async fn access_matrix_every_route_for_every_kind_of_user(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let who: [(&str, Option<&str>); 6] = [
        ("anonymous", None),
        ("rep A", Some(rep_a())),
        ("rep B", Some(rep_b())),
        ("manager of A", Some(MANAGER_A)),
        ("another manager", Some(MANAGER_B)),
        ("admin", Some(ADMIN)),
    ];
    // Expected status per route, in the order of `who`.
    let matrix: [(&str, [u16; 6]); 12] = [
        ("/", [303, 200, 200, 200, 200, 200]),
        ("/api/accounts?limit=50000", [401, 200, 200, 200, 200, 200]),
        ("/admin/audit", [303, 403, 403, 403, 403, 200]),
        ("/admin/users", [303, 403, 403, 403, 403, 200]),
        ("/admin/tokens", [303, 403, 403, 403, 403, 200]),
        ("/admin/sync", [303, 403, 403, 403, 403, 200]),
        ("/admin/geocoding", [303, 403, 403, 403, 403, 200]),
        ("/admin/connections/new", [303, 403, 403, 403, 403, 200]),
        ("/admin/export/accounts.csv", [303, 403, 403, 403, 403, 200]),
        ("/admin/export/reps.csv", [303, 403, 403, 403, 403, 200]),
        ("/login", [200, 200, 200, 200, 200, 200]),
        ("/healthz", [200, 200, 200, 200, 200, 200]),
    ];
    for (label, email) in who {
        let client = match email {
            Some(e) => app.client_as(e).await,
            None => cookie_client(),
        };
        for (i, (route, expected)) in matrix.iter().enumerate() {
            let col = who.iter().position(|(l, _)| *l == label).expect("column");
            let resp = send_get(&client, &app, route).await;
            assert_eq!(
                resp.status().as_u16(),
                expected[col],
                "{label} GET {route} (row {i})"
            );
            if *route == "/api/accounts?limit=50000" && expected[col] == 200 {
                let body: serde_json::Value = resp.json().await.expect("json");
                let owners: BTreeSet<Uuid> = body["features"]
                    .as_array()
                    .expect("features")
                    .iter()
                    .map(|f| {
                        f["properties"]["owner_rep_id"]
                            .as_str()
                            .expect("owner")
                            .parse()
                            .expect("uuid")
                    })
                    .collect();
                let email = email.expect("signed in");
                match visible_reps(&pool, email).await {
                    None => assert_eq!(
                        body["features"].as_array().map(Vec::len),
                        Some(demo_dataset().accounts.len())
                    ),
                    Some(allowed) => {
                        assert!(!owners.is_empty(), "{label} sees their own accounts");
                        assert!(
                            owners.is_subset(&allowed),
                            "{label} sees only their scope: {owners:?} vs {allowed:?}"
                        );
                        let expected_count: i64 = scalar_by(&pool, "select count(*) from accounts where deleted_at is null and owner_rep_id = any($1)", allowed.iter().copied().collect::<Vec<_>>()).await;
                        assert_eq!(
                            body["features"].as_array().map(Vec::len),
                            Some(expected_count as usize),
                            "{label}"
                        );
                    }
                }
            }
        }
    }
}

#[sqlx::test]
async fn managers_see_their_team_and_not_the_other(pool: PgPool) {
    seed_demo(&pool).await;
    let a = visible_reps(&pool, MANAGER_A).await.expect("team A");
    let b = visible_reps(&pool, MANAGER_B).await.expect("team B");
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.is_disjoint(&b), "the two demo teams do not overlap");
    let rep_a_id = visible_reps(&pool, rep_a()).await.expect("rep");
    assert!(rep_a_id.is_subset(&a) && rep_a_id.is_disjoint(&b));
}

#[sqlx::test]
async fn signing_in_issues_a_new_session_id_and_the_old_one_is_useless(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool).await;
    let client = raw_client();
    let login = send_get(&client, &app, "/login").await;
    let before = session_cookie(&login).expect("anonymous session cookie (holds the CSRF token)");
    let html = login.text().await.expect("html");

    let resp = client
        .post(app.url("/auth/demo"))
        .header(COOKIE, &before)
        .form(&[("csrf", csrf_in(&html).as_str()), ("email", ADMIN)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), 303);
    let after = session_cookie(&resp).expect("sign-in sets a new cookie");
    assert_ne!(before, after, "session id changes at sign-in");

    let with = |cookie: &str| {
        client
            .get(app.url("/api/accounts?limit=1"))
            .header(COOKIE, cookie.to_owned())
            .send()
    };
    assert_eq!(with(&after).await.expect("req").status(), 200);
    assert_eq!(
        with(&before).await.expect("req").status(),
        401,
        "the pre-sign-in id is dead"
    );
}

#[sqlx::test]
async fn session_cookie_is_http_only_lax_and_secure_with_host_prefix_over_https(pool: PgPool) {
    let plain = spawn_app(pool.clone()).await;
    let cookie = login_set_cookie(&plain).await;
    assert!(cookie.starts_with("terrane_session="), "{cookie}");
    // The idle timeout (default 480 minutes) is the cookie's and the stored session's lifetime.
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    // Over https the first session is the sign-in's (the login page writes none): start one.
    let public = "https://terrane.example.com";
    let provider = crate::oidc::Provider::start(&format!("{public}/auth/callback")).await;
    let https = spawn_app_with(
        pool,
        &[
            ("TERRANE_DEMO", "0"),
            ("TERRANE_PUBLIC_URL", public),
            ("TERRANE_OIDC_ISSUER", &provider.issuer),
            ("TERRANE_OIDC_CLIENT_ID", crate::oidc::CLIENT_ID),
            ("TERRANE_OIDC_CLIENT_SECRET", crate::oidc::CLIENT_SECRET),
        ],
    )
    .await;
    let start = raw_client()
        .get(https.url("/auth/login"))
        .send()
        .await
        .expect("sign-in start");
    let cookie = start.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("__Host-terrane_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
}

#[sqlx::test]
async fn sign_out_ends_the_session_on_the_server(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let client = raw_client();
    let login = send_get(&client, &app, "/login").await;
    let anon = session_cookie(&login).expect("cookie");
    let html = login.text().await.expect("html");
    let resp = client
        .post(app.url("/auth/demo"))
        .header(COOKIE, &anon)
        .form(&[("csrf", csrf_in(&html).as_str()), ("email", rep_a())])
        .send()
        .await
        .expect("sign in");
    let cookie = session_cookie(&resp).expect("cookie");
    let page = client
        .get(app.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("map page");
    let csrf = csrf_in(&page.text().await.expect("html"));
    let sessions_before = count(&pool, "sessions").await;

    let out = client
        .post(app.url("/auth/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");

    assert_eq!(out.status(), 303);
    let sessions_after = count(&pool, "sessions").await;
    assert_eq!(
        sessions_after,
        sessions_before - 1,
        "the session row is deleted"
    );
    let again = client
        .get(app.url("/api/accounts"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("req");
    assert_eq!(
        again.status(),
        401,
        "a copied cookie is useless after sign-out"
    );
    let actions: Vec<String> = sqlx::query_scalar("select action from audit_log order by id")
        .fetch_all(&pool)
        .await
        .expect("audit");
    assert_eq!(actions, ["auth.sign_in", "auth.sign_out"]);
}

#[sqlx::test]
async fn forms_without_the_session_csrf_token_are_refused(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let client = cookie_client();
    send_get(&client, &app, "/login").await;

    let forged = post_form(
        &client,
        &app,
        "/auth/demo",
        &[("csrf", "0".repeat(64).as_str()), ("email", ADMIN)],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let body: serde_json::Value = forged.json().await.expect("json");
    assert_eq!(body["error"]["code"], "csrf");
    assert_eq!(status_of(&client, app.url("/api/accounts")).await, 401);

    // A token from another browser session does not work either.
    let other = cookie_client();
    let html = page_html(&other, &app, "/login").await;
    let cross = post_form(
        &client,
        &app,
        "/auth/demo",
        &[("csrf", csrf_in(&html).as_str()), ("email", ADMIN)],
    )
    .await;
    assert_eq!(cross.status(), 403);

    // Signed in, sign-out also needs the token.
    let signed_in = app.client_as(ADMIN).await;
    let out = post_form(&signed_in, &app, "/auth/logout", &[("csrf", "nope")]).await;
    assert_eq!(out.status(), 403);
    assert_eq!(
        status_of(&signed_in, app.url("/api/accounts?limit=1")).await,
        200
    );
    let sign_ins = audit_count(&pool, "auth.sign_in").await;
    assert_eq!(sign_ins, 1, "only the real sign-in happened");
}

#[sqlx::test]
async fn a_user_without_a_role_waits_for_access_and_sees_nothing(pool: PgPool) {
    seed_demo(&pool).await;
    sqlx::query("insert into users (email, name) values ('newcomer@example.com', 'New Comer')")
        .execute(&pool)
        .await
        .expect("user");
    let app = spawn_app(pool).await;
    let client = app.client_as("newcomer@example.com").await;

    let page = send_get(&client, &app, "/").await;
    assert_eq!(page.status(), 403);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("Waiting for access")
    );
    let api = send_get(&client, &app, "/api/accounts").await;
    assert_eq!(api.status(), 403);
    let body: serde_json::Value = api.json().await.expect("json");
    assert_eq!(body["error"]["code"], "waiting_for_access");
}

#[sqlx::test]
async fn demo_sign_in_does_not_exist_outside_demo_mode(pool: PgPool) {
    seed_demo(&pool).await;
    let app: TestApp = spawn_app_with(pool, &[("TERRANE_DEMO", "0")]).await;
    let client = cookie_client();
    let html = page_html(&client, &app, "/login").await;
    assert!(!html.contains("data-demo-user"), "no demo users offered");

    // No form to take a token from; the route itself is gone, whatever the token.
    let resp = post_form(
        &client,
        &app,
        "/auth/demo",
        &[("csrf", "any"), ("email", ADMIN)],
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(status_of(&client, app.url("/api/accounts")).await, 401);
}

#[sqlx::test]
async fn audit_rows_cannot_be_changed_or_deleted(pool: PgPool) {
    terrane::audit::record(
        &pool,
        terrane::audit::AuditEvent {
            actor_user_id: None,
            action: "test.event",
            subject_type: None,
            subject_id: None,
            details: serde_json::json!({"n": 1}),
        },
    )
    .await
    .expect("append");

    for sql in [
        "update audit_log set action = 'rewritten'",
        "delete from audit_log",
        "truncate audit_log",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("select action, details from audit_log")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        [("test.event".to_owned(), serde_json::json!({"n": 1}))]
    );
}

/// Target user, form fields, expected status, why.
type RoleCase<'a> = (Uuid, &'a [(&'a str, &'a str)], u16, &'a str);

/// The admin's users page and a CSRF token for its forms.
async fn admin_users_page(app: &TestApp) -> (reqwest::Client, String, String) {
    let admin = app.client_as(ADMIN).await;
    let page = send_get(&admin, app, "/admin/users").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let csrf = csrf_in(&html);
    (admin, html, csrf)
}

#[sqlx::test]
async fn an_admin_grants_a_waiting_user_a_rep_role_and_the_change_is_audited(pool: PgPool) {
    seed_demo(&pool).await;
    sqlx::query("insert into users (email, name) values ('newcomer@example.com', 'New Comer')")
        .execute(&pool)
        .await
        .expect("user");
    let rep: Uuid = scalar(
        &pool,
        "insert into reps (name, email) values ('New Rep', 'new.rep@example.com') returning id",
    )
    .await;
    sqlx::query("update accounts set owner_rep_id = $1 where crm_id in (select crm_id from accounts order by crm_id limit 7)")
        .bind(rep)
        .execute(&pool)
        .await
        .expect("give the new rep 7 accounts");
    let app = spawn_app(pool.clone()).await;
    let newcomer = app.client_as("newcomer@example.com").await;
    assert_eq!(
        status_of(&newcomer, app.url("/api/accounts")).await,
        403,
        "waiting at first"
    );
    let (admin, html, csrf) = admin_users_page(&app).await;
    assert!(html.contains("newcomer@example.com"));
    let target = user_id(&pool, "newcomer@example.com").await;

    let resp = post_form(
        &admin,
        &app,
        &format!("/admin/users/{target}/role"),
        &[
            ("csrf", &csrf),
            ("role", "rep"),
            ("rep_id", &rep.to_string()),
        ],
    )
    .await;

    assert_eq!(resp.status(), 303);
    let body: serde_json::Value = json_of(&newcomer, &app, "/api/accounts").await;
    assert_eq!(
        body["features"].as_array().map(Vec::len),
        Some(7),
        "exactly the new rep's accounts"
    );
    let (actor, details): (Option<Uuid>, serde_json::Value) = sqlx::query_as(
        "select actor_user_id, details from audit_log where action = 'user.role_changed' and subject_id = $1",
    )
    .bind(target.to_string())
    .fetch_one(&pool)
    .await
    .expect("audit row");
    assert_eq!(actor, Some(user_id(&pool, ADMIN).await));
    assert_eq!(details["from"]["role"], serde_json::Value::Null);
    assert_eq!(details["to"]["role"], "rep");
    assert_eq!(details["to"]["rep_id"], rep.to_string());
}

#[sqlx::test]
async fn bad_role_changes_are_refused_and_change_nothing(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let (admin, _, csrf) = admin_users_page(&app).await;
    let manager = user_id(&pool, MANAGER_A).await;
    let me = user_id(&pool, ADMIN).await;
    let taken_rep: Uuid =
        scalar_by(&pool, "select rep_id from users where email = $1", rep_a()).await;
    let cases: [RoleCase; 5] = [
        (
            manager,
            &[("role", "rep"), ("rep_id", "")],
            400,
            "rep without a rep record",
        ),
        (
            manager,
            &[("role", "rep"), ("rep_id", &taken_rep.to_string())],
            400,
            "rep record linked to someone else",
        ),
        (manager, &[("role", "emperor")], 400, "unknown role"),
        (me, &[("role", "manager")], 400, "admin demoting themself"),
        (Uuid::new_v4(), &[("role", "manager")], 404, "unknown user"),
    ];
    for (target, fields, status, why) in cases {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let resp = post_form(&admin, &app, &format!("/admin/users/{target}/role"), &form).await;
        assert_eq!(resp.status().as_u16(), status, "{why}");
    }
    // Without the CSRF token, and as a manager: refused too.
    let forged = post_form(
        &admin,
        &app,
        &format!("/admin/users/{manager}/role"),
        &[("csrf", "x"), ("role", "admin")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let as_manager = app.client_as(MANAGER_B).await;
    let page = page_html(&as_manager, &app, "/").await;
    let escalate = post_form(
        &as_manager,
        &app,
        &format!("/admin/users/{manager}/role"),
        &[("csrf", &csrf_in(&page)), ("role", "admin")],
    )
    .await;
    assert_eq!(escalate.status(), 403, "managers cannot change roles");

    let roles: Vec<(String, Option<String>)> =
        sqlx::query_as("select email, role::text from users where email in ($1, $2)")
            .bind(MANAGER_A)
            .bind(ADMIN)
            .fetch_all(&pool)
            .await
            .expect("roles");
    assert!(roles.contains(&(MANAGER_A.to_owned(), Some("manager".to_owned()))));
    assert!(roles.contains(&(ADMIN.to_owned(), Some("admin".to_owned()))));
    let changes = audit_count(&pool, "user.role_changed").await;
    assert_eq!(changes, 0);
}

#[sqlx::test]
async fn sign_in_attempts_past_the_per_ip_limit_get_429_with_retry_after(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &[("TERRANE_SIGNIN_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        app.client_as(rep_a()).await; // asserts each is a 303
    }
    let client = cookie_client();
    let html = page_html(&client, &app, "/login").await;

    let resp = post_form(
        &client,
        &app,
        "/auth/demo",
        &[("csrf", &csrf_in(&html)), ("email", ADMIN)],
    )
    .await;

    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        status_of(&client, app.url("/api/accounts")).await,
        401,
        "not signed in"
    );
    let sign_ins = audit_count(&pool, "auth.sign_in").await;
    assert_eq!(sign_ins, 3);
}

/// A session held in memory, as the session layer would hand to `auth` (store-independent).
fn memory_session() -> tower_sessions::Session {
    tower_sessions::Session::new(
        None,
        std::sync::Arc::new(tower_sessions::MemoryStore::default()),
        None,
    )
}

#[sqlx::test]
async fn sessions_end_at_the_absolute_timeout_and_when_the_user_is_disabled(pool: PgPool) {
    seed_demo(&pool).await;
    let admin = user_id(&pool, ADMIN).await;
    let max_age = std::time::Duration::from_secs(12 * 3600);
    let hours_ago = |h: i64| {
        u64::try_from((chrono::Utc::now() - chrono::Duration::hours(h)).timestamp_millis())
            .expect("after 1970")
    };

    let fresh = memory_session();
    fresh.insert("uid", admin).await.expect("insert");
    fresh
        .insert("signed_in_at_ms", hours_ago(11))
        .await
        .expect("insert");
    let user = terrane::auth::current_user(&pool, &fresh, max_age)
        .await
        .expect("lookup");
    assert_eq!(
        user.map(|u| u.email),
        Some(ADMIN.to_owned()),
        "11 h old: still signed in"
    );

    let stale = memory_session();
    stale.insert("uid", admin).await.expect("insert");
    stale
        .insert("signed_in_at_ms", hours_ago(13))
        .await
        .expect("insert");
    assert_eq!(
        terrane::auth::current_user(&pool, &stale, max_age)
            .await
            .expect("lookup"),
        None
    );
    assert!(stale.is_empty().await, "the expired session is flushed");

    sqlx::query("update users set disabled = true where id = $1")
        .bind(admin)
        .execute(&pool)
        .await
        .expect("disable");
    assert_eq!(
        terrane::auth::current_user(&pool, &fresh, max_age)
            .await
            .expect("lookup"),
        None
    );
    assert!(
        fresh.is_empty().await,
        "a disabled user's session is flushed"
    );
}

#[sqlx::test]
async fn malformed_requests_get_a_json_error_not_plain_text(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool).await;
    let anon = cookie_client();
    let html = page_html(&anon, &app, "/login").await;
    let admin = app.client_as(ADMIN).await;
    let admin_csrf = csrf_in(&page_html(&admin, &app, "/admin/users").await);

    let cases = [
        (
            "form without email",
            anon.post(app.url("/auth/demo"))
                .form(&[("csrf", csrf_in(&html).as_str())]),
            422,
        ),
        (
            "JSON instead of a form",
            anon.post(app.url("/auth/demo"))
                .header("content-type", "application/json")
                .body("{}"),
            415,
        ),
        (
            "not a user id",
            admin
                .post(app.url("/admin/users/not-a-uuid/role"))
                .form(&[("csrf", admin_csrf.as_str()), ("role", "rep")]),
            400,
        ),
        (
            "not a WebSocket handshake",
            anon.get(app.url("/live/ws")),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let resp = request.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let body: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        assert_eq!(body["error"]["code"], "invalid_request", "{what}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
}

async fn role_of(pool: &PgPool, email: &str) -> Option<String> {
    scalar_by(pool, "select role::text from users where email = $1", email).await
}

#[sqlx::test]
async fn the_users_page_shows_each_users_current_role_and_rep_selected(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let (_, html, _) = admin_users_page(&app).await;
    let users: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("select email, role::text, rep_id::text from users")
            .fetch_all(&pool)
            .await
            .expect("users");
    assert!(users.len() > 3, "the demo has users");
    for (email, role, rep) in users {
        let row_start = html
            .find(&format!("data-user=\"{email}\""))
            .unwrap_or_else(|| panic!("a row for {email}"));
        let row = &html[row_start..row_start + html[row_start..].find("</tr>").expect("row end")];
        let selected_role = format!("value=\"{}\" selected", role.as_deref().unwrap_or(""));
        assert!(
            row.contains(&selected_role),
            "{email}: role {role:?} selected"
        );
        assert_eq!(
            row.matches(" selected").count(),
            1 + usize::from(rep.is_some())
        );
        if let Some(rep) = rep {
            assert!(
                row.contains(&format!("value=\"{rep}\" selected")),
                "{email}: rep"
            );
        }
    }
}

#[sqlx::test]
async fn removing_access_needs_a_confirmation_and_saving_unchanged_keeps_the_role(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let (admin, _, csrf) = admin_users_page(&app).await;
    let manager = user_id(&pool, MANAGER_A).await;
    let path = format!("/admin/users/{manager}/role");

    let same = post_form(&admin, &app, &path, &[("csrf", &csrf), ("role", "manager")]).await;
    assert_eq!(
        same.status(),
        303,
        "an unchanged row saves without a question"
    );
    let asked = post_form(&admin, &app, &path, &[("csrf", &csrf), ("role", "")]).await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.expect("html");
    assert!(page.contains("Remove access for"), "the page asks first");
    assert!(page.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(role_of(&pool, MANAGER_A).await.as_deref(), Some("manager"));
    assert_eq!(
        audit_count(&pool, "user.role_changed").await,
        0,
        "nothing changed yet"
    );

    let confirmed = post_form(
        &admin,
        &app,
        &path,
        &[("csrf", &csrf), ("role", ""), ("confirm", "yes")],
    )
    .await;
    assert_eq!(confirmed.status(), 303);
    assert_eq!(role_of(&pool, MANAGER_A).await, None);
    assert_eq!(audit_count(&pool, "user.role_changed").await, 1);
}

#[sqlx::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin(pool: PgPool) {
    seed_demo(&pool).await;
    sqlx::query("update users set role = 'admin' where email = $1")
        .bind(MANAGER_B)
        .execute(&pool)
        .await
        .expect("second admin");
    let admins = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from users where role = 'admin' and not disabled",
        )
        .fetch_one(&pool)
        .await
        .expect("count")
    };
    assert_eq!(admins(pool.clone()).await, 2);
    let app = spawn_app(pool.clone()).await;
    let (first, _, first_csrf) = admin_users_page(&app).await;
    let second = app.client_as(MANAGER_B).await;
    let second_csrf = csrf_in(&page_html(&second, &app, "/admin/users").await);
    let (me, other) = (user_id(&pool, ADMIN).await, user_id(&pool, MANAGER_B).await);
    let demote = |client: reqwest::Client, target: Uuid, csrf: String| {
        let url = app.url(&format!("/admin/users/{target}/role"));
        async move {
            let form = [
                ("csrf", csrf.as_str()),
                ("role", "manager"),
                ("confirm", "yes"),
            ];
            sent(client.post(url).form(&form)).await.status().as_u16()
        }
    };

    // Hold the admin rows so both requests get past their checks and wait inside their
    // transactions; then let them run: one after the other, the second sees no other admin.
    let mut hold = pool.begin().await.expect("tx");
    sqlx::query("select id from users where role = 'admin' order by id for update")
        .fetch_all(&mut *hold)
        .await
        .expect("lock");
    let a = tokio::spawn(demote(first, other, first_csrf));
    let b = tokio::spawn(demote(second, me, second_csrf));
    for _ in 0..300 {
        let waiting = count(
            &pool,
            "pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .await;
        if waiting >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    hold.rollback().await.expect("release");
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));

    let mut statuses = [a, b];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [303, 409],
        "one demotion lands, the other is refused"
    );
    assert_eq!(admins(pool.clone()).await, 1);
}

#[sqlx::test]
async fn behind_a_trusted_proxy_the_limit_counts_each_forwarded_client(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(
        pool.clone(),
        &[
            ("TERRANE_SIGNIN_PER_MINUTE", "2"),
            ("TERRANE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let attempt = |forwarded: &'static str| {
        let app = &app;
        async move {
            let client = cookie_client();
            let html = page_html(&client, app, "/login").await;
            client
                .post(app.url("/auth/demo"))
                .header("x-forwarded-for", forwarded)
                .form(&[("csrf", csrf_in(&html).as_str()), ("email", rep_a())])
                .send()
                .await
                .expect("sign in")
                .status()
                .as_u16()
        }
    };
    // Two clients behind the same proxy: each has its own quota of 2.
    for _ in 0..2 {
        assert_eq!(attempt("198.51.100.1").await, 303);
        assert_eq!(attempt("198.51.100.2").await, 303);
    }
    assert_eq!(
        attempt("198.51.100.1").await,
        429,
        "the first client's third attempt"
    );
    // A client cannot pick its own address: the left part of the header is what it wrote.
    assert_eq!(attempt("203.0.113.50, 198.51.100.1").await, 429);
}

#[sqlx::test]
async fn anonymous_visits_to_the_login_page_store_no_session(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        &[
            ("TERRANE_DEMO", "0"),
            ("TERRANE_PUBLIC_URL", "https://terrane.example.com"),
        ],
    )
    .await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from sessions")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let before = sessions().await;
    for _ in 0..20 {
        let resp = raw_client()
            .get(app.url("/login"))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers().get(SET_COOKIE).is_none(),
            "no session cookie"
        );
    }
    assert_eq!(sessions().await, before, "20 anonymous visits, no rows");
}
