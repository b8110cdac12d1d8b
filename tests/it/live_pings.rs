//! `POST /api/pings`: a rep's device sends location pings with a real device token against
//! real PostGIS; privacy applies before anything is stored, spoofing signs are flagged, the
//! per-rep bucket answers 429, repeats are not stored twice, retention purges.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use terrane::jobs::{Lane, Outcome};

use crate::helpers::{
    TestApp, audit_count, count, demo_dataset, scalar_by, seed_demo, spawn_app_with, test_jobs,
    user_id,
};

/// Monte Carlo, with more decimals than a typed-in point has.
pub(crate) const LON: f64 = 7.427_613;
pub(crate) const LAT: f64 = 43.739_287;

/// A rep of the demo data: its rep id and a device token its phone got.
pub(crate) struct Rep {
    pub(crate) id: Uuid,
    pub(crate) token: String,
}

async fn rep(pool: &PgPool, n: usize) -> Rep {
    let user = user_id(pool, &demo_dataset().reps[n].email).await;
    let id: Uuid = scalar_by(pool, "select rep_id from users where id = $1", user).await;
    let (token, _) = terrane::auth::devices::issue(pool, user)
        .await
        .expect("device token");
    Rep { id, token }
}

/// The demo data with every rep on shift around the clock, the app, and two reps.
pub(crate) async fn setup(pool: &PgPool, settings: &[(&str, &str)]) -> (TestApp, Rep, Rep) {
    seed_demo(pool).await;
    sqlx::query(
        "update reps set work_start = '00:00', work_end = '23:59:59.999',
                         workdays = '{1,2,3,4,5,6,7}'",
    )
    .execute(pool)
    .await
    .expect("all-day shifts");
    let app = spawn_app_with(pool.clone(), settings).await;
    let (a, b) = (rep(pool, 0).await, rep(pool, 1).await);
    (app, a, b)
}

pub(crate) fn ping(lon: f64, lat: f64, at: DateTime<Utc>, tier: &str) -> Value {
    json!({
        "event_id": Uuid::new_v4().to_string(),
        "device_id": "pixel-7a",
        "recorded_at": at.to_rfc3339(),
        "lon": lon,
        "lat": lat,
        "accuracy_m": 8.4,
        "speed_mps": 11.2,
        "heading_deg": 87.5,
        "tier": tier,
    })
}

pub(crate) fn ago(s: i64) -> DateTime<Utc> {
    Utc::now() - Duration::seconds(s)
}

async fn post(app: &TestApp, token: &str, pings: &[Value]) -> (u16, Value, Option<String>) {
    let resp = app
        .client
        .post(app.url("/api/pings"))
        .bearer_auth(token)
        .json(&json!({ "pings": pings }))
        .send()
        .await
        .expect("post pings");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = resp.json().await.expect("a JSON body");
    (status, body, retry)
}

/// No ping row, and the test position in no other table that takes text (the audit log and
/// the job queue).
pub(crate) async fn assert_position_stored_nowhere(pool: &PgPool) {
    assert_eq!(count(pool, "pings").await, 0);
    for table in ["audit_log", "jobs"] {
        let hits = count(
            pool,
            &format!("{table} t where t::text like '%7.4276%' or t::text like '%43.7392%'"),
        )
        .await;
        assert_eq!(hits, 0, "{table}");
    }
}

pub(crate) async fn pings_of(pool: &PgPool, rep: Uuid) -> i64 {
    scalar_by(pool, "select count(*) from pings where rep_id = $1", rep).await
}

#[sqlx::test]
async fn an_accepted_ping_is_stored_as_sent(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let p = ping(LON, LAT, ago(5), "precise");
    let (status, body, _) = post(&app, &a.token, std::slice::from_ref(&p)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["results"][0]["status"], "accepted");
    assert_eq!(body["results"][0]["event_id"], p["event_id"]);
    let (lon, lat, tier, late, flags): (f64, f64, String, bool, Vec<String>) = sqlx::query_as(
        "select st_x(position), st_y(position), tier, late, flags from pings where rep_id = $1",
    )
    .bind(a.id)
    .fetch_one(&pool)
    .await
    .expect("the stored ping");
    assert_eq!(
        (lon, lat, tier.as_str(), late),
        (LON, LAT, "precise", false)
    );
    assert!(flags.is_empty(), "{flags:?}");
}

#[sqlx::test]
async fn an_off_ping_is_stored_nowhere(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let (status, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(5), "off")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "dropped");
    assert_eq!(body["results"][0]["reason"], "tier_off");
    assert_position_stored_nowhere(&pool).await;
}

#[sqlx::test]
async fn a_coarse_ping_is_stored_snapped_to_its_geohash_cell(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let (status, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(5), "coarse")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    let (moved_m, off_centre_m): (f64, f64) = sqlx::query_as(
        "select st_distance(position::geography, st_setsrid(st_makepoint($2, $3), 4326)::geography),
                st_distance(position::geography,
                            st_centroid(st_geomfromgeohash(st_geohash(st_setsrid(st_makepoint($2, $3), 4326), 6)))::geography)
         from pings where rep_id = $1",
    )
    .bind(a.id)
    .bind(LON)
    .bind(LAT)
    .fetch_one(&pool)
    .await
    .expect("the stored ping");
    assert!(
        moved_m > 10.0,
        "the measured position was stored ({moved_m} m)"
    );
    assert!(off_centre_m < 0.01, "not the cell centre: {off_centre_m} m");
}

#[sqlx::test]
async fn a_ping_outside_the_shift_is_dropped(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    sqlx::query("update reps set workdays = '{}' where id = $1")
        .bind(a.id)
        .execute(&pool)
        .await
        .expect("no workdays");
    let (status, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(5), "precise")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["reason"], "out_of_shift");
    assert_eq!(pings_of(&pool, a.id).await, 0);
}

#[sqlx::test]
async fn a_repeated_event_id_is_not_stored_twice(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let p = ping(LON, LAT, ago(5), "precise");
    let (_, first, _) = post(&app, &a.token, &[p.clone(), p.clone()]).await;
    assert_eq!(first["accepted"], 1, "{first}");
    assert_eq!(first["results"][1]["status"], "duplicate");
    // The phone never got the answer and sends the batch again.
    let (status, again, _) = post(&app, &a.token, std::slice::from_ref(&p)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(pings_of(&pool, a.id).await, 1);
}

#[sqlx::test]
async fn a_burst_beyond_the_bucket_gets_429_with_retry_after(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[("TERRANE_PING_BURST", "3")]).await;
    let burst: Vec<Value> = (0..3)
        .map(|i| {
            ping(
                LON + f64::from(i) * 1e-4,
                LAT,
                ago(10 - i64::from(i)),
                "precise",
            )
        })
        .collect();
    let (status, body, _) = post(&app, &a.token, &burst).await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(3)),
        "{body}"
    );
    let (status, body, retry) =
        post(&app, &a.token, &[ping(LON, LAT + 1e-4, ago(1), "precise")]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(pings_of(&pool, a.id).await, 3);
    // A backlog of late pings does not spend the bucket.
    let backlog: Vec<Value> = (0..5)
        .map(|i| {
            ping(
                LON,
                LAT + f64::from(i) * 1e-4,
                ago(3600 - 10 * i64::from(i)),
                "precise",
            )
        })
        .collect();
    let (status, body, _) = post(&app, &a.token, &backlog).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 5);
    assert_eq!(body["results"][0]["late"], true);
    let late: i64 = scalar_by(
        &pool,
        "select count(*) from pings where rep_id = $1 and late",
        a.id,
    )
    .await;
    assert_eq!(late, 5);
}

#[sqlx::test]
async fn a_teleport_is_flagged_and_stored(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let (_, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(30), "precise")]).await;
    assert_eq!(body["accepted"], 1, "{body}");
    // Paris, 20 seconds later.
    let (_, body, _) = post(
        &app,
        &a.token,
        &[ping(2.352_217, 48.856_613, ago(10), "precise")],
    )
    .await;
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["results"][0]["flags"], json!(["teleport"]));
    let flagged: i64 = scalar_by(
        &pool,
        "select count(*) from pings where rep_id = $1 and 'teleport' = any (flags)",
        a.id,
    )
    .await;
    assert_eq!(flagged, 1);
}

#[sqlx::test]
async fn invalid_values_are_refused_one_by_one_with_their_reason(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let spoil = |field: &str, value: Value| {
        let mut p = ping(LON, LAT, ago(5), "precise");
        p[field] = value;
        p
    };
    let batch = [
        spoil("lat", json!(91.0)),
        spoil("lon", json!(-180.5)),
        spoil("accuracy_m", json!(-3.0)),
        spoil("speed_mps", json!(120.0)),
        spoil("heading_deg", json!(400.0)),
        spoil("heading_deg", json!(359.999_999_99)),
        spoil("event_id", json!("not-a-uuid")),
        spoil(
            "recorded_at",
            json!((Utc::now() + Duration::hours(1)).to_rfc3339()),
        ),
        spoil("tier", json!("exact")),
        ping(LON, LAT, ago(5), "precise"),
    ];
    let (status, body, _) = post(&app, &a.token, &batch).await;
    assert_eq!(status, 200, "{body}");
    let reasons: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_position",
            "invalid_position",
            "invalid_accuracy",
            "invalid_speed",
            "invalid_heading",
            "none",
            "invalid_event_id",
            "future_timestamp",
            "invalid_tier",
            "none"
        ]
    );
    assert_eq!(pings_of(&pool, a.id).await, 2);

    // A body that is not the envelope, and a batch over the cap: refused whole, in JSON.
    let resp = app
        .client
        .post(app.url("/api/pings"))
        .bearer_auth(&a.token)
        .json(&json!({ "pings": [{ "lon": "east" }] }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("JSON error");
    assert!(body["error"]["code"].is_string(), "{body}");
    let too_many: Vec<Value> = (0..501)
        .map(|_| ping(LON, LAT, ago(3600), "precise"))
        .collect();
    let (status, body, _) = post(&app, &a.token, &too_many).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "batch_too_large");
}

#[sqlx::test]
async fn another_reps_device_cannot_post_as_me(pool: PgPool) {
    let (app, a, b) = setup(&pool, &[]).await;
    // Rep B's phone sends a ping naming rep A's device: it is B's ping, not A's.
    let mut p = ping(LON, LAT, ago(5), "precise");
    p["rep_id"] = json!(a.id.to_string());
    let (status, body, _) = post(&app, &b.token, &[p]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pings_of(&pool, a.id).await, 0);
    assert_eq!(pings_of(&pool, b.id).await, 1);
    // No token, a made-up token, a revoked token: 401, nothing stored.
    let (status, _, _) = post(&app, "trd_0000", &[ping(LON, LAT, ago(4), "precise")]).await;
    assert_eq!(status, 401);
    let resp = app
        .client
        .post(app.url("/api/pings"))
        .json(&json!({ "pings": [] }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    let user = user_id(&pool, &demo_dataset().reps[0].email).await;
    terrane::auth::devices::revoke_all(&pool, &app.state.revocations, user, user)
        .await
        .expect("revoke");
    let (status, _, _) = post(&app, &a.token, &[ping(LON, LAT, ago(3), "precise")]).await;
    assert_eq!(status, 401);
    assert_eq!(pings_of(&pool, a.id).await, 0);
}

#[sqlx::test]
async fn retention_purges_pings_older_than_the_period(pool: PgPool) {
    let (app, a, _) = setup(&pool, &[]).await;
    let (_, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(5), "precise")]).await;
    assert_eq!(body["accepted"], 1, "{body}");
    sqlx::query(
        "insert into pings (rep_id, device_id, event_id, recorded_at, position, accuracy_m, tier)
         values ($1, 'old-phone', gen_random_uuid(), now() - interval '61 days',
                 st_setsrid(st_makepoint(7.42, 43.73), 4326), 10, 'precise')",
    )
    .bind(a.id)
    .execute(&pool)
    .await
    .expect("an old ping");
    // The purge runs as a job; a second request while it waits is not queued twice.
    let jobs = test_jobs(&pool, None);
    assert!(jobs.queue_track_purge(60).await.expect("queue").is_some());
    assert!(jobs.queue_track_purge(60).await.expect("queue").is_none());
    let outcomes = jobs.drain(Lane::Upkeep).await.expect("drain");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Done(_)]),
        "{outcomes:?}"
    );
    assert_eq!(pings_of(&pool, a.id).await, 1);
    assert_eq!(count(&pool, "pings where device_id = 'old-phone'").await, 0);
    assert_eq!(audit_count(&pool, "pings.purged").await, 1);
}

#[sqlx::test]
async fn a_rep_exports_and_erases_their_own_track_audited(pool: PgPool) {
    let (app, a, b) = setup(&pool, &[]).await;
    let (_, body, _) = post(&app, &a.token, &[ping(LON, LAT, ago(20), "precise")]).await;
    assert_eq!(body["accepted"], 1, "{body}");
    let (_, body, _) = post(&app, &b.token, &[ping(LON, LAT + 1e-3, ago(15), "coarse")]).await;
    assert_eq!(body["accepted"], 1, "{body}");

    let rep_a = app.client_as(&demo_dataset().reps[0].email).await;
    let resp = rep_a
        .get(app.url("/api/me/track"))
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 200);
    let track: Value = resp.json().await.expect("GeoJSON");
    assert_eq!(track["type"], "FeatureCollection");
    let features = track["features"].as_array().expect("features");
    assert_eq!(features.len(), 1, "only my own pings: {track}");
    assert_eq!(features[0]["geometry"]["coordinates"], json!([LON, LAT]));
    assert_eq!(audit_count(&pool, "track.exported").await, 1);
    let resp = rep_a
        .get(app.url("/api/me/track?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z"))
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 400, "more than 31 days at once");

    let html = crate::helpers::page_html(&rep_a, &app, "/").await;
    let resp = rep_a
        .delete(app.url("/api/me/track"))
        .header("x-csrf-token", crate::helpers::csrf_in(&html))
        .send()
        .await
        .expect("erase");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["erased"], 1);
    assert_eq!(pings_of(&pool, a.id).await, 0);
    assert_eq!(
        pings_of(&pool, b.id).await,
        1,
        "another rep's track is untouched"
    );
    assert_eq!(audit_count(&pool, "track.erased").await, 1);
}
