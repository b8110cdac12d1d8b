//! Proximity alerts end to end against real PostGIS: pings over HTTP and real WebSockets, the
//! in-memory index loaded from the database, the database's rules checked when an alert is
//! raised, alerts pushed to the rep's socket only, acted on, and the manager's live map.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::day_plans::{call, session};
use crate::helpers::{TestApp, audit_count, count, scalar_by, spawn_app_with};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where the scenarios start: north of Monaco, each scenario 1.1 km further north, so one
/// scenario's accounts are never within another's radius.
const LON: f64 = 7.401_234;
const LAT: f64 = 43.701_234;
/// A ping this far north of its account (about 100 m).
const NORTH: f64 = 0.000_9;

/// Settings that keep the rate limit and lateness out of the way of the scenarios.
const SETTINGS: &[(&str, &str)] = &[
    ("TERRANE_PING_PER_MIN", "6000"),
    ("TERRANE_PING_BURST", "500"),
    ("TERRANE_PING_LATE_S", "7200"),
];

/// A person of the test world.
struct Person {
    email: String,
    rep: Option<Uuid>,
    token: Option<String>,
}

/// Two teams: rep A under manager M, rep B under manager N.
struct World {
    app: TestApp,
    a: Person,
    b: Person,
    m: Person,
    n: Person,
    team_a: Uuid,
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.expect(sql);
}

async fn person(pool: &PgPool, name: &str, role: &str, team: Option<Uuid>) -> Person {
    let email = format!("{name}@live.test");
    let rep: Option<Uuid> = if role == "rep" {
        let id: Uuid = sqlx::query_scalar(
            "insert into reps (name, email, work_start, work_end, workdays, timezone)
             values ($1, $2, '00:00', '23:59:59.999', '{1,2,3,4,5,6,7}', 'Europe/Monaco')
             returning id",
        )
        .bind(name)
        .bind(&email)
        .fetch_one(pool)
        .await
        .expect("rep");
        if let Some(team) = team {
            sqlx::query("insert into team_members (team_id, rep_id) values ($1, $2)")
                .bind(team)
                .bind(id)
                .execute(pool)
                .await
                .expect("member");
        }
        Some(id)
    } else {
        None
    };
    let user: Uuid = sqlx::query_scalar(
        "insert into users (email, name, role, rep_id) values ($1, $2, $3::user_role, $4)
         returning id",
    )
    .bind(&email)
    .bind(name)
    .bind(role)
    .bind(rep)
    .fetch_one(pool)
    .await
    .expect("user");
    if role == "manager"
        && let Some(team) = team
    {
        sqlx::query("update teams set manager_user_id = $2 where id = $1")
            .bind(team)
            .bind(user)
            .execute(pool)
            .await
            .expect("manager");
    }
    let token = if role == "rep" {
        Some(
            terrane::auth::devices::issue(pool, user)
                .await
                .expect("device token")
                .0,
        )
    } else {
        None
    };
    Person { email, rep, token }
}

async fn team(pool: &PgPool, name: &str) -> Uuid {
    scalar_by(
        pool,
        "insert into teams (name) values ($1) returning id",
        name,
    )
    .await
}

async fn world(pool: &PgPool) -> World {
    let (team_a, team_b) = (team(pool, "North").await, team(pool, "South").await);
    let a = person(pool, "ana", "rep", Some(team_a)).await;
    let b = person(pool, "ben", "rep", Some(team_b)).await;
    let m = person(pool, "mia", "manager", Some(team_a)).await;
    let n = person(pool, "noe", "manager", Some(team_b)).await;
    // Many alerts an hour: the hourly cap has its own test.
    sqlx::query("insert into proximity_rules (team_id, max_per_hour) values ($1, 60)")
        .bind(team_a)
        .execute(pool)
        .await
        .expect("rules");
    let app = spawn_app_with(pool.clone(), SETTINGS).await;
    World {
        app,
        a,
        b,
        m,
        n,
        team_a,
    }
}

/// Scenario `k`'s account position.
fn spot(k: u32) -> (f64, f64) {
    (LON, LAT + f64::from(k) * 0.01)
}

/// An account at scenario `k`'s spot, held by `owner`, of `priority`.
async fn account(pool: &PgPool, k: u32, owner: Option<Uuid>, priority: i16) -> Uuid {
    let (lon, lat) = spot(k);
    sqlx::query_scalar(
        "insert into accounts (crm_source, crm_id, name, location, geocode_status, owner_rep_id,
                               priority, annual_value, tier)
         values ('csv', $1, $2, st_setsrid(st_makepoint($3, $4), 4326), 'manual', $5, $6,
                 25000, 'A')
         returning id",
    )
    .bind(format!("acct-{k}"))
    .bind(format!("Account {k}"))
    .bind(lon)
    .bind(lat)
    .bind(owner)
    .bind(priority)
    .fetch_one(pool)
    .await
    .expect("account")
}

/// A ping about 100 m north of scenario `k`'s account; real fixes jitter a little.
fn ping_at(k: u32, at: DateTime<Utc>) -> Value {
    let (lon, lat) = spot(k);
    let jitter = f64::from(u8::try_from(at.timestamp().rem_euclid(7)).unwrap_or(0)) * 0.000_003;
    ping_of(lon + 0.000_017 + jitter, lat + NORTH, at)
}

fn ping_of(lon: f64, lat: f64, at: DateTime<Utc>) -> Value {
    json!({
        "event_id": Uuid::new_v4().to_string(),
        "device_id": "phone-1",
        "recorded_at": at.to_rfc3339(),
        "lon": lon,
        "lat": lat,
        "accuracy_m": 6.5,
        "speed_mps": 4.0,
        "tier": "precise",
    })
}

/// Sends pings over HTTP with the rep's device token; returns the answer.
async fn send(app: &TestApp, token: &str, pings: &[Value]) -> Value {
    let resp = app
        .client
        .post(app.url("/api/pings"))
        .bearer_auth(token)
        .json(&json!({ "pings": pings }))
        .send()
        .await
        .expect("post pings");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// Two pings near scenario `k`'s account, starting `start` (they dwell: two pings in a row).
async fn pass_by(w: &World, rep: &Person, k: u32, start: DateTime<Utc>) -> Value {
    let token = rep.token.as_deref().expect("a rep");
    send(
        &w.app,
        token,
        &[ping_at(k, start), ping_at(k, start + Duration::seconds(2))],
    )
    .await
}

async fn alerted(pool: &PgPool, rep: Uuid, account: Uuid) -> i64 {
    sqlx::query_scalar(
        "select count(*) from proximity_alerts where rep_id = $1 and account_id = $2",
    )
    .bind(rep)
    .bind(account)
    .fetch_one(pool)
    .await
    .expect("count")
}

/// Another instance on the same database, its index loaded (no memory of earlier pings).
async fn restarted(pool: &PgPool) -> TestApp {
    let app = spawn_app_with(pool.clone(), SETTINGS).await;
    app.state
        .live
        .proximity
        .refresh(pool)
        .await
        .expect("index refresh");
    app
}

async fn refresh(w: &World, pool: &PgPool) {
    w.app
        .state
        .live
        .proximity
        .refresh(pool)
        .await
        .expect("index refresh");
}

#[sqlx::test]
async fn an_alert_fires_only_where_every_rule_allows_it(pool: PgPool) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    let b = w.b.rep.expect("rep");
    // 0 qualifies; 1 is B's; 2 is low priority; 3 is closed today; 4 was visited yesterday;
    // 5 has an appointment today; 6 is on today's planned route; 7 alerted A an hour ago;
    // 8 is unassigned (qualifies); 9 is passed by with spoofed coordinates; 10 by a late
    // batch; 11 outside A's shift.
    let mut acc = Vec::new();
    for k in 0..12 {
        let owner = match k {
            1 => Some(b),
            8 => None,
            _ => Some(a),
        };
        acc.push(account(&pool, k, owner, if k == 2 { 5 } else { 1 }).await);
    }
    // Closed today: open every other weekday only.
    sqlx::query(
        "insert into account_opening_hours (account_id, weekday, opens, closes, source)
         select $1, d, '00:00', '23:59', 'manual' from generate_series(1, 7) d
         where d <> extract(isodow from now() at time zone 'Europe/Monaco')",
    )
    .bind(acc[3])
    .execute(&pool)
    .await
    .expect("hours");
    // Open now, on another account that qualifies otherwise, to show hours are read.
    sqlx::query(
        "insert into account_opening_hours (account_id, weekday, opens, closes, source)
         select $1, d, '00:00', '23:59:59', 'manual' from generate_series(1, 7) d",
    )
    .bind(acc[0])
    .execute(&pool)
    .await
    .expect("hours");
    sqlx::query(
        "insert into visits (event_id, rep_id, account_id, visited_at, outcome, source)
         values ('visit-yesterday-1', $1, $2, now() - interval '1 day', 'met', 'app')",
    )
    .bind(a)
    .bind(acc[4])
    .execute(&pool)
    .await
    .expect("visit");
    sqlx::query(
        "insert into appointments (rep_id, account_id, window_start, window_end,
                                   duration_minutes, source)
         values ($1, $2, now() + interval '1 minute', now() + interval '31 minutes', 30, 'api')",
    )
    .bind(a)
    .bind(acc[5])
    .execute(&pool)
    .await
    .expect("appointment");
    sqlx::query(
        "insert into route_days (rep_id, day, plan)
         values ($1, (now() at time zone 'Europe/Monaco')::date,
                 jsonb_build_object('stops', jsonb_build_array(
                     jsonb_build_object('account_id', $2::text, 'name', 'x'))))",
    )
    .bind(a)
    .bind(acc[6])
    .execute(&pool)
    .await
    .expect("route day");
    sqlx::query(
        "insert into proximity_alerts (rep_id, account_id, ping_event_id, distance_m, created_at)
         values ($1, $2, gen_random_uuid(), 90, now() - interval '1 hour')",
    )
    .bind(a)
    .bind(acc[7])
    .execute(&pool)
    .await
    .expect("earlier alert");
    refresh(&w, &pool).await;

    // A drives by every spot, three minutes apart (no implied-speed flags).
    let t0 = Utc::now() - Duration::minutes(45);
    let at = |k: u32| t0 + Duration::minutes(3 * i64::from(k));
    // One ping near an account is not yet a stop: the rep may be driving past.
    send(
        &w.app,
        w.a.token.as_deref().expect("rep"),
        &[ping_at(0, at(0))],
    )
    .await;
    assert_eq!(
        alerted(&pool, a, acc[0]).await,
        0,
        "one ping does not dwell"
    );
    send(
        &w.app,
        w.a.token.as_deref().expect("rep"),
        &[ping_at(0, at(0) + Duration::seconds(2))],
    )
    .await;
    for k in 1..=8 {
        pass_by(&w, &w.a, k, at(k)).await;
    }
    // Spoofed: typed-in round coordinates near account 9.
    let (lon9, lat9) = spot(9);
    let round = |d: f64| (d * 1000.0).round() / 1000.0;
    let spoofed = send(
        &w.app,
        w.a.token.as_deref().expect("rep"),
        &[
            ping_of(round(lon9), round(lat9 + NORTH), at(9)),
            ping_of(
                round(lon9),
                round(lat9 + NORTH),
                at(9) + Duration::seconds(2),
            ),
        ],
    )
    .await;
    assert_eq!(
        spoofed["results"][1]["flags"],
        json!(["round_coordinates", "repeated_position"]),
        "{spoofed}"
    );
    // Late: recorded two and a half hours before arriving (an offline backlog).
    let late = pass_by(&w, &w.a, 10, Utc::now() - Duration::minutes(150)).await;
    assert_eq!(late["results"][0]["late"], true, "{late}");
    // Outside the shift: A's shift ends before now.
    exec(
        &pool,
        "update reps set work_start = '00:00', work_end = '00:00:01' where name = 'ana'",
    )
    .await;
    let off = pass_by(&w, &w.a, 11, Utc::now() - Duration::seconds(20)).await;
    assert_eq!(off["results"][0]["reason"], "out_of_shift", "{off}");

    let fired: Vec<i64> = {
        let mut v = Vec::new();
        for id in &acc {
            v.push(alerted(&pool, a, *id).await);
        }
        v
    };
    // Account 7 keeps its one earlier alert, and gets no new one.
    assert_eq!(fired, vec![1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    let distance: f64 = scalar_by(
        &pool,
        "select distance_m::float8 from proximity_alerts where account_id = $1",
        acc[0],
    )
    .await;
    assert!((90.0..115.0).contains(&distance), "{distance}");
    // The alert holds no position of the rep, only the distance.
    assert_eq!(
        count(
            &pool,
            "proximity_alerts p where p::text like '%7.4012%' or p::text like '%43.70%'"
        )
        .await,
        0
    );
}

#[sqlx::test]
async fn cooldown_hourly_cap_and_account_changes_apply_without_a_restart(pool: PgPool) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    exec(&pool, "update proximity_rules set max_per_hour = 2").await;
    let acc: Vec<Uuid> = {
        let mut v = Vec::new();
        for k in 0..4 {
            v.push(account(&pool, k, Some(a), 1).await);
        }
        v
    };
    // Account 3 is B's for now.
    sqlx::query("update accounts set owner_rep_id = $2 where id = $1")
        .bind(acc[3])
        .bind(w.b.rep)
        .execute(&pool)
        .await
        .expect("owner");
    refresh(&w, &pool).await;
    let t0 = Utc::now() - Duration::minutes(40);
    pass_by(&w, &w.a, 0, t0).await;
    // Back at account 0 ten minutes later: the cooldown holds it.
    pass_by(&w, &w.a, 0, t0 + Duration::minutes(10)).await;
    pass_by(&w, &w.a, 1, t0 + Duration::minutes(13)).await;
    // A third within the hour: over the cap of 2. On another instance, which has not seen
    // those two: the database's count is what refuses it.
    let w = World {
        app: restarted(&pool).await,
        ..w
    };
    pass_by(&w, &w.a, 2, t0 + Duration::minutes(16)).await;
    assert_eq!(alerted(&pool, a, acc[0]).await, 1, "cooldown");
    assert_eq!(alerted(&pool, a, acc[1]).await, 1);
    assert_eq!(alerted(&pool, a, acc[2]).await, 0, "hourly cap");
    assert_eq!(alerted(&pool, a, acc[3]).await, 0);

    // Account 3 moves to A: the next refresh (no restart) takes it in.
    exec(&pool, "update proximity_rules set max_per_hour = 10").await;
    sqlx::query("update accounts set owner_rep_id = $2 where id = $1")
        .bind(acc[3])
        .bind(a)
        .execute(&pool)
        .await
        .expect("owner");
    refresh(&w, &pool).await;
    pass_by(&w, &w.a, 3, t0 + Duration::minutes(19)).await;
    assert_eq!(
        alerted(&pool, a, acc[3]).await,
        1,
        "a changed owner is seen"
    );
}

async fn connect(app: &TestApp, token: &str) -> Ws {
    let mut request = format!("ws://{}/live/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("socket opens")
        .0
}

/// The next JSON text frame (within 15 s).
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(StdDuration::from_secs(15), ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket stays open")
            .expect("no socket error");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// Frames until one of `kind` arrives; returns it and the others seen.
async fn until(ws: &mut Ws, kind: &str) -> (Value, Vec<Value>) {
    let mut others = Vec::new();
    loop {
        let v = next_json(ws).await;
        if v["type"] == kind {
            return (v, others);
        }
        others.push(v);
    }
}

/// No text frame within `ms` milliseconds.
async fn quiet_for(ws: &mut Ws, ms: u64) -> bool {
    tokio::time::timeout(StdDuration::from_millis(ms), ws.next())
        .await
        .is_err()
}

#[sqlx::test]
async fn the_alert_is_pushed_to_its_rep_only_and_can_go_on_the_route(pool: PgPool) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    let acc = account(&pool, 0, Some(a), 1).await;
    refresh(&w, &pool).await;
    let mut ws_a = connect(&w.app, w.a.token.as_deref().expect("rep")).await;
    let mut ws_b = connect(&w.app, w.b.token.as_deref().expect("rep")).await;

    let first = ping_at(0, Utc::now() - Duration::seconds(4));
    let second = ping_at(0, Utc::now() - Duration::seconds(2));
    ws_a.send(Message::text(first.to_string()))
        .await
        .expect("send");
    let (ack, _) = until(&mut ws_a, "ack").await;
    assert_eq!(ack["status"], "accepted");
    ws_a.send(Message::text(second.to_string()))
        .await
        .expect("send");
    let (alert, others) = until(&mut ws_a, "alert").await;
    let alert = &alert["alert"];
    assert_eq!(alert["account_id"], acc.to_string());
    assert_eq!(alert["account_name"], "Account 0");
    assert_eq!(alert["ping_event_id"], second["event_id"]);
    assert_eq!(alert["state"], "open");
    // The ack of the ping that raised it comes too (before or after).
    if !others.iter().any(|o| o["type"] == "ack") {
        let (ack, _) = until(&mut ws_a, "ack").await;
        assert_eq!(ack["event_id"], second["event_id"]);
    }
    assert!(
        quiet_for(&mut ws_b, 500).await,
        "B's socket gets nothing of A's"
    );

    let id = alert["id"].as_str().expect("id").to_owned();
    let path = format!("/api/alerts/{id}/actions");
    // B cannot act on A's alert: it does not exist for B.
    let resp = w
        .app
        .client
        .post(w.app.url(&path))
        .bearer_auth(w.b.token.as_deref().expect("rep"))
        .json(&json!({"action": "dismiss"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 404);
    // A adds it to today's route: an appointment from now to the end of the shift.
    let resp = w
        .app
        .client
        .post(w.app.url(&path))
        .bearer_auth(w.a.token.as_deref().expect("rep"))
        .json(&json!({"action": "add_to_route"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["state"], "added_to_route", "{body}");
    let booked: i64 = sqlx::query_scalar(
        "select count(*) from appointments where rep_id = $1 and account_id = $2
           and source = 'alert' and status = 'booked'",
    )
    .bind(a)
    .bind(acc)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(booked, 1);
    assert_eq!(audit_count(&pool, "appointment.create").await, 1);
    // Booked is final: dismissing it now is a conflict.
    let resp = w
        .app
        .client
        .post(w.app.url(&path))
        .bearer_auth(w.a.token.as_deref().expect("rep"))
        .json(&json!({"action": "dismiss"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 409);
}

#[sqlx::test]
async fn a_snoozed_alert_waits_and_a_dismissed_one_stays_quiet(pool: PgPool) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    let acc = account(&pool, 0, Some(a), 1).await;
    refresh(&w, &pool).await;
    let me = session(&w.app, &w.a.email).await;
    let t0 = Utc::now() - Duration::minutes(50);
    pass_by(&w, &w.a, 0, t0).await;
    let (status, list) = call(&w.app, &me, reqwest::Method::GET, "/api/me/alerts", None).await;
    assert_eq!(status, 200);
    let id = list["alerts"][0]["id"]
        .as_str()
        .expect("an alert")
        .to_owned();
    let path = format!("/api/alerts/{id}/actions");
    let (status, bad) = call(
        &w.app,
        &me,
        reqwest::Method::POST,
        &path,
        Some(json!({"action": "snooze", "minutes": 1})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (status, snoozed) = call(
        &w.app,
        &me,
        reqwest::Method::POST,
        &path,
        Some(json!({"action": "snooze", "minutes": 5})),
    )
    .await;
    assert_eq!(status, 200, "{snoozed}");
    assert_eq!(snoozed["state"], "snoozed");
    // The snooze ends (moved into the past): the account may alert again, though the
    // cooldown of 4 hours has not passed.
    exec(
        &pool,
        "update proximity_alerts set snoozed_until = now() - interval '1 second'",
    )
    .await;
    // The engine's own memory of the cooldown is per instance: a new instance has none, so the
    // database's rule is what is tested.
    let again = World {
        app: restarted(&pool).await,
        ..w
    };
    pass_by(&again, &again.a, 0, t0 + Duration::minutes(20)).await;
    assert_eq!(alerted(&pool, a, acc).await, 2, "after the snooze");
    // Dismissed: not again for 7 days, whatever the cooldown.
    let second: Uuid = scalar_by(
        &pool,
        "select id from proximity_alerts where state = 'open' and rep_id = $1",
        a,
    )
    .await;
    let (status, _) = call(
        &again.app,
        &session(&again.app, &again.a.email).await,
        reqwest::Method::POST,
        &format!("/api/alerts/{second}/actions"),
        Some(json!({"action": "dismiss"})),
    )
    .await;
    assert_eq!(status, 200);
    exec(&pool, "update proximity_rules set cooldown_minutes = 1").await;
    exec(
        &pool,
        "update proximity_alerts set created_at = now() - interval '2 hours'",
    )
    .await;
    let later = World {
        app: restarted(&pool).await,
        ..again
    };
    pass_by(&later, &later.a, 0, t0 + Duration::minutes(40)).await;
    assert_eq!(alerted(&pool, a, acc).await, 2, "dismissed stays quiet");
}

#[sqlx::test]
async fn managers_see_their_team_blurred_unless_allowed_and_each_precise_look_is_audited(
    pool: PgPool,
) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    account(&pool, 0, Some(a), 1).await;
    refresh(&w, &pool).await;
    let p = ping_at(0, Utc::now() - Duration::seconds(10));
    let (lon, lat) = (
        p["lon"].as_f64().expect("lon"),
        p["lat"].as_f64().expect("lat"),
    );
    send(&w.app, w.a.token.as_deref().expect("rep"), &[p]).await;

    let mia = session(&w.app, &w.m.email).await;
    let path = format!("/api/teams/{}/live", w.team_a);
    let (status, map) = call(&w.app, &mia, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["precise"], false);
    let pos = &map["reps"][0]["position"];
    let (blon, blat) = (
        pos["lon"].as_f64().expect("lon"),
        pos["lat"].as_f64().expect("lat"),
    );
    assert!((blon, blat) != (lon, lat), "blurred");
    // Within a geohash-7 cell (153 m by 153 m at most) of the truth.
    let moved = ((blon - lon) * 80_000.0).hypot((blat - lat) * 111_000.0);
    assert!(moved < 110.0, "{moved}");
    assert_eq!(map["reps"][0]["pings_today"], 1);
    assert_eq!(audit_count(&pool, "live.precise_view").await, 0);

    // The other team's manager does not see this team at all.
    let noe = session(&w.app, &w.n.email).await;
    let (status, _) = call(&w.app, &noe, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    // A rep is not a manager.
    let ana = session(&w.app, &w.a.email).await;
    let (status, _) = call(&w.app, &ana, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 403);

    // Given the permission, Mia sees the precise position, and the look is audited.
    exec(
        &pool,
        "update users set live_precise = true where email = 'mia@live.test'",
    )
    .await;
    let (_, map) = call(&w.app, &mia, reqwest::Method::GET, &path, None).await;
    assert_eq!(map["precise"], true);
    let pos = &map["reps"][0]["position"];
    assert_eq!(
        (pos["lon"].as_f64(), pos["lat"].as_f64()),
        (Some(lon), Some(lat))
    );
    assert_eq!(audit_count(&pool, "live.precise_view").await, 1);
}

/// The session cookie of `email` signed in on `app` (for a browser's WebSocket).
async fn session_cookie(app: &TestApp, email: &str) -> String {
    use reqwest::cookie::CookieStore;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = crate::helpers::page_html(&client, app, "/login").await;
    let resp = client
        .post(app.url("/auth/demo"))
        .form(&[
            ("csrf", crate::helpers::csrf_in(&html).as_str()),
            ("email", email),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), 303);
    let url = reqwest::Url::parse(&app.url("/")).expect("url");
    jar.cookies(&url)
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn map_socket(
    app: &TestApp,
    cookie: &str,
    team: Uuid,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/live/team/ws?team={team}", app.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("header"));
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

fn refused_with(r: Result<Ws, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the handshake should fail"),
    }
}

#[sqlx::test]
async fn a_map_on_another_instance_sees_the_reps_positions_and_alerts(pool: PgPool) {
    let w = world(&pool).await;
    let a = w.a.rep.expect("rep");
    let acc = account(&pool, 0, Some(a), 1).await;
    refresh(&w, &pool).await;
    // A second instance on the same database: the manager's map is there.
    let other = spawn_app_with(pool.clone(), SETTINGS).await;
    let mia = session_cookie(&other, &w.m.email).await;
    let mut map = map_socket(&other, &mia, w.team_a, None)
        .await
        .expect("the map opens");
    let (snapshot, _) = until(&mut map, "snapshot").await;
    assert_eq!(snapshot["map"]["reps"][0]["rep_id"], a.to_string());
    assert_eq!(snapshot["map"]["precise"], false);

    let mut ws = connect(&w.app, w.a.token.as_deref().expect("rep")).await;
    let first = ping_at(0, Utc::now() - Duration::seconds(4));
    ws.send(Message::text(first.to_string()))
        .await
        .expect("send");
    until(&mut ws, "ack").await;
    let (position, _) = until(&mut map, "position").await;
    assert_eq!(position["rep_id"], a.to_string());
    assert_eq!(position["precise"], false);
    let truth = (first["lon"].as_f64(), first["lat"].as_f64());
    assert_ne!((position["lon"].as_f64(), position["lat"].as_f64()), truth);
    let second = ping_at(0, Utc::now() - Duration::seconds(2));
    ws.send(Message::text(second.to_string()))
        .await
        .expect("send");
    let (alert, _) = until(&mut map, "alert").await;
    assert_eq!(alert["alert"]["account_id"], acc.to_string());
    assert_eq!(alert["alert"]["ping_event_id"], second["event_id"]);

    // The other team's manager may not open this team's map; nor may a page on another site.
    let noe = session_cookie(&other, &w.n.email).await;
    assert_eq!(
        refused_with(map_socket(&other, &noe, w.team_a, None).await),
        404
    );
    assert_eq!(
        refused_with(map_socket(&other, &mia, w.team_a, Some("https://evil.example")).await),
        403
    );
}

#[sqlx::test]
async fn a_map_that_stops_reading_loses_its_frames_and_delays_no_one(pool: PgPool) {
    let w = world(&pool).await;
    let b = w.b.rep.expect("rep");
    let acc_b = account(&pool, 5, Some(b), 1).await;
    refresh(&w, &pool).await;
    // A live map of Ana's team that never takes a frame: its queue in the hub is what a
    // stalled socket's task leaves unread (the socket itself holds at most 16 KiB more, and
    // ends after 10 s without progress).
    let stalled = w.app.state.live.hub.team(w.team_a, false);
    // Ana drives around: every ping of hers is a position frame for that map.
    let mut ws_a = connect(&w.app, w.a.token.as_deref().expect("rep")).await;
    let start = Utc::now() - Duration::seconds(900);
    let mut sent: u32 = 0;
    while w.app.state.live.hub.dropped() == 0 {
        assert!(sent < 200, "the stalled map's queue never filled");
        let p = ping_of(
            LON + f64::from(sent % 100) * 0.000_01,
            LAT,
            start + Duration::seconds(2 * i64::from(sent)),
        );
        ws_a.send(Message::text(p.to_string())).await.expect("send");
        let (ack, _) = until(&mut ws_a, "ack").await;
        assert_eq!(ack["status"], "accepted", "{ack}");
        sent += 1;
    }
    // Bounded: once its 32 frames wait, the stalled map's next ones are dropped; Ana's acks
    // never waited for it, and Ben, on another team, still gets his alert.
    assert_eq!(
        usize::try_from(sent).expect("small"),
        terrane::live::hub::QUEUE_FRAMES + 1
    );
    let mut ws_b = connect(&w.app, w.b.token.as_deref().expect("rep")).await;
    for s in [4, 2] {
        let p = ping_at(5, Utc::now() - Duration::seconds(s));
        ws_b.send(Message::text(p.to_string())).await.expect("send");
    }
    let (alert, _) = until(&mut ws_b, "alert").await;
    assert_eq!(alert["alert"]["account_id"], acc_b.to_string());
    drop(stalled);
}
