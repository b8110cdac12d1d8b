//! Day plans through the HTTP API on the demo data, the real OSRM and the real solver: a rep's
//! day kept inside every window, appointments, visits, bad input, OSRM down, a team's day.

use crate::helpers::count;
use chrono::{DateTime, FixedOffset, NaiveTime, Timelike};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::scalar_by;
use crate::helpers::{
    TestApp, csrf_in, dead_url, demo_dataset, page_html, seed_demo, spawn_app_with,
};

/// A Tuesday (a workday of every demo rep).
const DAY: &str = "2026-12-08";
/// A Sunday.
const SUNDAY: &str = "2026-12-13";

/// Fixed iterations: the same plan on any machine.
pub(crate) const SETTINGS: [(&str, &str); 1] = [("TERRANE_ROUTE_ITERATIONS", "2000")];

pub(crate) fn rep_email(i: usize) -> &'static str {
    &demo_dataset().reps[i].email
}

pub(crate) async fn rep_id(pool: &PgPool, email: &str) -> Uuid {
    scalar_by(pool, "select rep_id from users where email = $1", email).await
}

/// A signed-in session and its CSRF token.
pub(crate) async fn session(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let client = app.client_as(email).await;
    let html = page_html(&client, app, "/").await;
    (client, csrf_in(&html))
}

pub(crate) async fn call(
    app: &TestApp,
    (client, csrf): &(reqwest::Client, String),
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client
        .request(method, app.url(path))
        .header("x-csrf-token", csrf);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) fn time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time")).expect("RFC 3339")
}

pub(crate) fn seconds_of_day(t: DateTime<FixedOffset>) -> i64 {
    i64::from(t.num_seconds_from_midnight())
}

/// Opening hours for some of the rep's accounts: mornings only, split days, closed Tuesdays.
async fn give_hours(pool: &PgPool, rep: Uuid) -> (Vec<Uuid>, Uuid) {
    let accounts: Vec<Uuid> = sqlx::query_scalar(
        "select id from accounts where owner_rep_id = $1 and location is not null
         order by crm_id limit 12",
    )
    .bind(rep)
    .fetch_all(pool)
    .await
    .expect("accounts");
    for (i, a) in accounts.iter().enumerate() {
        let windows: &[(&str, &str)] = match i % 3 {
            0 => &[("09:00", "12:00")],
            1 => &[("09:30", "11:00"), ("15:00", "17:00")],
            _ => &[("13:00", "16:00")],
        };
        for (opens, closes) in windows {
            sqlx::query(
                "insert into account_opening_hours (account_id, weekday, opens, closes, source)
                 values ($1, 2, $2::time, $3::time, 'manual')",
            )
            .bind(a)
            .bind(opens)
            .bind(closes)
            .execute(pool)
            .await
            .expect("hours");
        }
    }
    // Closed on Tuesdays: hours on Monday only.
    let closed = accounts[0];
    sqlx::query("delete from account_opening_hours where account_id = $1")
        .bind(closed)
        .execute(pool)
        .await
        .expect("clear");
    sqlx::query(
        "insert into account_opening_hours (account_id, weekday, opens, closes, source)
         values ($1, 1, '09:00', '17:00', 'manual')",
    )
    .bind(closed)
    .execute(pool)
    .await
    .expect("monday");
    (accounts, closed)
}

/// Checks a planned day against its own numbers and the rules: times in order, each stop
/// inside its opening hours, the day inside the shift, no overlap with the break.
pub(crate) async fn assert_day_is_consistent(pool: &PgPool, day: &Value) {
    let stops = day["stops"].as_array().expect("stops");
    let departure = time(&day["departure"]);
    let end = time(&day["end"]);
    assert!(
        seconds_of_day(departure) >= 8 * 3600 + 30 * 60,
        "shift starts 08:30: {departure}"
    );
    assert!(
        seconds_of_day(end) <= 17 * 3600 + 30 * 60,
        "shift ends 17:30: {end}"
    );
    let mut previous = departure;
    let mut drive = 0;
    for s in stops {
        let (arrival, start, leave) = (
            time(&s["arrival"]),
            time(&s["start"]),
            time(&s["departure"]),
        );
        assert!(arrival >= previous, "{s}");
        assert!(start >= arrival, "{s}");
        assert_eq!(
            (leave - start).num_seconds(),
            s["service_s"].as_i64().expect("service")
        );
        assert_eq!(
            (start - arrival).num_seconds(),
            s["wait_s"].as_i64().expect("wait")
        );
        drive += s["drive_s"].as_i64().expect("drive");
        previous = leave;
        // Inside one opening interval of the day (Tuesday), when the account has hours.
        let account: Uuid = s["account_id"].as_str().expect("id").parse().expect("uuid");
        let hours: Vec<(NaiveTime, NaiveTime)> = sqlx::query_as(
            "select opens, closes from account_opening_hours where account_id = $1 and weekday = 2",
        )
        .bind(account)
        .fetch_all(pool)
        .await
        .expect("hours");
        if !hours.is_empty() && s["kind"] != "appointment" {
            let (a, b) = (seconds_of_day(start), seconds_of_day(leave));
            assert!(
                hours.iter().any(|(o, c)| {
                    i64::from(o.num_seconds_from_midnight()) <= a
                        && b <= i64::from(c.num_seconds_from_midnight())
                }),
                "{} visited {a}..{b} outside {hours:?}",
                s["name"]
            );
        }
        if let Some(b) = day["break"].as_object() {
            let (b0, b1) = (time(&b["start"]), time(&b["end"]));
            assert!(
                leave <= b0 || start >= b1,
                "a visit overlaps the break: {s}"
            );
        }
    }
    assert!(drive <= day["totals"]["drive_s"].as_i64().expect("total drive"));
    assert_eq!(
        day["stops"].as_array().map(Vec::len),
        day["totals"]["stops"].as_u64().map(|n| n as usize)
    );
}

#[sqlx::test]
async fn a_reps_day_keeps_appointments_and_opening_hours_and_says_why_stops_are_left_out(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let email = rep_email(0);
    let rep = rep_id(&pool, email).await;
    let (_, closed) = give_hours(&pool, rep).await;
    let s = session(&app, email).await;

    // An appointment at 14:00 local time (Monaco is UTC+1 in December), 45 minutes.
    let account: Uuid = scalar_by(
        &pool,
        "select id from accounts where owner_rep_id = $1 and location is not null
         order by crm_id desc limit 1",
        rep,
    )
    .await;
    let (status, booked) = call(
        &app,
        &s,
        reqwest::Method::POST,
        "/api/appointments",
        Some(
            json!({"account_id": account, "start": "2026-12-08T13:00:00Z", "duration_minutes": 45}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{booked}");

    let path = format!("/api/routes/reps/{rep}/days/{DAY}");
    let (status, day) = call(&app, &s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["travel_source"], "osrm");
    let stops = day["stops"].as_array().expect("stops");
    assert!(
        stops.len() >= 5,
        "a nine-hour day holds more than a few visits: {}",
        stops.len()
    );
    let appointment = stops
        .iter()
        .find(|s| s["kind"] == "appointment")
        .expect("the appointment is planned");
    assert_eq!(appointment["account_id"], account.to_string());
    assert_eq!(
        time(&appointment["start"]).to_rfc3339(),
        "2026-12-08T14:00:00+01:00"
    );
    assert_day_is_consistent(&pool, &day).await;

    // Reasons: the account closed on Tuesdays, and the due visits that did not fit.
    let dropped = day["dropped"].as_array().expect("dropped");
    let reason_of = |id: Uuid| {
        dropped
            .iter()
            .find(|d| d["account_id"] == id.to_string())
            .map(|d| d["reason"].clone())
    };
    assert_eq!(reason_of(closed), Some(json!("closed_all_day")));
    assert!(
        dropped.iter().any(|d| d["reason"] == "no_time_left"),
        "{dropped:?}"
    );
    assert!(
        dropped
            .iter()
            .all(|d| d["reason_text"].as_str().is_some_and(|t| !t.is_empty()))
    );

    // The road line, and the saving against the naive order on the same matrix.
    assert!(day["geometry"].as_array().expect("line").len() > stops.len());
    let c = &day["comparison"];
    assert!(
        c["naive_drive_s"].as_i64() >= day["totals"]["drive_s"].as_i64(),
        "{c}"
    );
    assert_eq!(
        c["saved_drive_s"].as_i64().expect("saved"),
        c["naive_drive_s"].as_i64().expect("naive")
            - day["totals"]["drive_s"].as_i64().expect("drive")
    );
    // Every leg hands one destination to the phone.
    let nav = &stops[0]["navigate"];
    assert!(nav["geo"].as_str().expect("geo").starts_with("geo:"));
    assert!(
        nav["google"]
            .as_str()
            .expect("google")
            .contains("destination=")
    );
}

#[sqlx::test]
async fn appointments_that_cannot_be_kept_are_refused_and_nothing_is_saved(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let email = rep_email(0);
    let rep = rep_id(&pool, email).await;
    let s = session(&app, email).await;
    let mine: Uuid = scalar_by(
        &pool,
        "select id from accounts where owner_rep_id = $1 limit 1",
        rep,
    )
    .await;
    let theirs: Uuid = scalar_by(
        &pool,
        "select id from accounts where owner_rep_id <> $1 and owner_rep_id is not null limit 1",
        rep,
    )
    .await;
    let (status, first) = call(
        &app,
        &s,
        reqwest::Method::POST,
        "/api/appointments",
        Some(json!({"account_id": mine, "start": "2026-12-08T09:00:00Z", "duration_minutes": 60})),
    )
    .await;
    assert_eq!(status, 201, "{first}");

    let cases = [
        (
            json!({"account_id": Uuid::new_v4(), "start": "2026-12-08T10:00:00Z", "duration_minutes": 30}),
            400,
            "unknown account",
        ),
        (
            json!({"account_id": theirs, "start": "2026-12-08T10:00:00Z", "duration_minutes": 30}),
            400,
            "unknown account",
        ),
        (
            json!({"account_id": mine, "start": "2026-12-08T10:00:00Z", "end": "2026-12-08T09:00:00Z", "duration_minutes": 30}),
            400,
            "after its start",
        ),
        (
            json!({"account_id": mine, "start": "2026-12-08T05:00:00Z", "duration_minutes": 30}),
            400,
            "shift",
        ),
        (
            json!({"account_id": mine, "start": "2026-12-13T10:00:00Z", "duration_minutes": 30}),
            400,
            "working days",
        ),
        (
            json!({"account_id": mine, "start": "2026-12-08T09:30:00Z", "duration_minutes": 30}),
            409,
            "overlaps",
        ),
        (
            json!({"account_id": mine, "start": "2026-12-08T10:00:00Z", "duration_minutes": 30, "color": "red"}),
            422,
            "unknown field",
        ),
    ];
    for (body, expected, words) in cases {
        let (status, answer) = call(
            &app,
            &s,
            reqwest::Method::POST,
            "/api/appointments",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{body}: {message}");
    }
    let stored = count(&pool, "appointments").await;
    assert_eq!(stored, 1, "only the first appointment was saved");

    // Moving the appointment re-plans the day: it starts at the new time.
    let id = first["id"].as_str().expect("id");
    let (status, moved) = call(
        &app,
        &s,
        reqwest::Method::PUT,
        &format!("/api/appointments/{id}"),
        Some(json!({"account_id": mine, "start": "2026-12-08T15:00:00Z", "duration_minutes": 60})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let (_, day) = call(
        &app,
        &s,
        reqwest::Method::GET,
        &format!("/api/routes/reps/{rep}/days/{DAY}"),
        None,
    )
    .await;
    let planned = day["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .find(|s| s["appointment_id"] == id)
        .expect("planned");
    assert_eq!(
        time(&planned["start"]).to_rfc3339(),
        "2026-12-08T16:00:00+01:00"
    );
    let (status, _) = call(
        &app,
        &s,
        reqwest::Method::DELETE,
        &format!("/api/appointments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, day) = call(
        &app,
        &s,
        reqwest::Method::GET,
        &format!("/api/routes/reps/{rep}/days/{DAY}"),
        None,
    )
    .await;
    assert!(
        day["stops"]
            .as_array()
            .expect("stops")
            .iter()
            .all(|s| s["appointment_id"] != id),
        "a cancelled appointment is not planned"
    );
}

#[sqlx::test]
async fn a_visit_is_recorded_once_and_counts_only_when_logged_at_the_account(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let email = rep_email(1);
    let rep = rep_id(&pool, email).await;
    let s = session(&app, email).await;
    let path = format!("/api/routes/reps/{rep}/days/{DAY}");
    let (status, before) = call(&app, &s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{before}");
    let stops = before["stops"].as_array().expect("stops").clone();
    assert!(stops.len() >= 2, "{before}");
    // Still due: planned, or left out for lack of time (the solver may trade it for another
    // visit of the same worth); no longer due: in neither list.
    let planned = |day: &Value, account: &Value| {
        ["stops", "dropped"].iter().any(|list| {
            day[*list]
                .as_array()
                .expect("list")
                .iter()
                .any(|s| &s["account_id"] == account)
        })
    };
    let (near, far) = (&stops[0], &stops[1]);

    // Logged at the account (its own point): counted, so it is no longer due tomorrow.
    let visit = json!({"event_id": "visit-test-0001", "account_id": near["account_id"],
                       "outcome": "met", "position": near["location"]});
    let (status, logged) = call(
        &app,
        &s,
        reqwest::Method::POST,
        "/api/visits",
        Some(visit.clone()),
    )
    .await;
    assert_eq!(status, 201, "{logged}");
    assert_eq!(logged["visit"]["far_from_account"], false);
    let (status, again) = call(&app, &s, reqwest::Method::POST, "/api/visits", Some(visit)).await;
    assert_eq!(
        status, 200,
        "the same event id records nothing new: {again}"
    );
    assert_eq!(again["recorded"], "duplicate");

    // About 2 km away: kept for the manager, flagged, not counted.
    let lon = far["location"][0].as_f64().expect("lon") + 0.025;
    let away = json!({"event_id": "visit-test-0002", "account_id": far["account_id"],
                      "outcome": "met", "position": [lon, far["location"][1]]});
    let (status, flagged) = call(&app, &s, reqwest::Method::POST, "/api/visits", Some(away)).await;
    assert_eq!(status, 201, "{flagged}");
    assert_eq!(flagged["visit"]["far_from_account"], true);
    assert!(flagged["visit"]["distance_m"].as_f64().expect("distance") > 1_500.0);
    let kept: i64 = scalar_by(&pool, "select count(*) from visits where rep_id = $1", rep).await;
    assert_eq!(kept, 2, "one row per event id");

    let (status, after) = call(&app, &s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{after}");
    assert!(
        !planned(&after, &near["account_id"]),
        "the visited account is not due any more"
    );
    assert!(
        planned(&after, &far["account_id"]),
        "a visit logged far away does not count"
    );

    // The manager sees both visits of the day, the far one flagged.
    let manager = session(&app, "manager.a@example.com").await;
    let team = crate::helpers::team_id(&pool, "Team A").await;
    // The rep's local day (the visits were logged just now).
    let today: chrono::NaiveDate =
        sqlx::query_scalar("select (now() at time zone timezone)::date from reps where id = $1")
            .bind(rep)
            .fetch_one(&pool)
            .await
            .expect("today");
    let (status, seen) = call(
        &app,
        &manager,
        reqwest::Method::GET,
        &format!("/api/teams/{team}/visits/{today}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["visits"].as_array().map(Vec::len), Some(2), "{seen}");
    assert_eq!(seen["flagged"], 1);

    // A manager does not log visits; another rep cannot log one at this rep's account.
    let body =
        |id: &str| json!({"event_id": id, "account_id": far["account_id"], "outcome": "met"});
    let (status, _) = call(
        &app,
        &manager,
        reqwest::Method::POST,
        "/api/visits",
        Some(body("visit-test-0003")),
    )
    .await;
    assert_eq!(status, 403);
    let other = session(&app, rep_email(5)).await;
    let (status, _) = call(
        &app,
        &other,
        reqwest::Method::POST,
        "/api/visits",
        Some(body("visit-test-0004")),
    )
    .await;
    assert_eq!(status, 400);
}

#[sqlx::test]
async fn with_osrm_down_the_day_comes_back_marked_estimated(pool: PgPool) {
    seed_demo(&pool).await;
    let dead = dead_url();
    let app = spawn_app_with(
        pool.clone(),
        &[
            ("TERRANE_ROUTE_ITERATIONS", "2000"),
            ("TERRANE_OSRM_URL", dead.as_str()),
        ],
    )
    .await;
    let email = rep_email(2);
    let rep = rep_id(&pool, email).await;
    let s = session(&app, email).await;
    let (status, day) = call(
        &app,
        &s,
        reqwest::Method::GET,
        &format!("/api/routes/reps/{rep}/days/{DAY}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["travel_source"], "estimated");
    assert!(!day["stops"].as_array().expect("stops").is_empty());
    assert_day_is_consistent(&pool, &day).await;
    // On a Sunday nothing is planned.
    let (status, sunday) = call(
        &app,
        &s,
        reqwest::Method::GET,
        &format!("/api/routes/reps/{rep}/days/{SUNDAY}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sunday["workday"], false);
    assert!(sunday["stops"].as_array().expect("stops").is_empty());
}

#[sqlx::test]
async fn reps_see_only_their_own_day_and_managers_their_teams(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let mine = rep_id(&pool, rep_email(0)).await;
    let theirs = rep_id(&pool, rep_email(5)).await;
    let rep = session(&app, rep_email(0)).await;
    let manager_a = session(&app, "manager.a@example.com").await;
    let manager_b = session(&app, "manager.b@example.com").await;
    let cases = [
        (&rep, format!("/api/routes/reps/{theirs}/days/{DAY}"), 404),
        (&rep, format!("/api/routes/reps/{mine}/days/not-a-day"), 400),
        (
            &manager_b,
            format!("/api/routes/reps/{mine}/days/{DAY}"),
            404,
        ),
        (
            &manager_a,
            format!("/api/routes/reps/{mine}/days/{DAY}"),
            200,
        ),
    ];
    for (who, path, expected) in cases {
        let (status, body) = call(&app, who, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
}

#[sqlx::test]
async fn a_team_day_spreads_the_work_and_a_moved_stop_changes_both_days(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let team: Uuid = crate::helpers::team_id(&pool, "Team A").await;
    let manager = session(&app, "manager.a@example.com").await;
    let path = format!("/api/teams/{team}/days/{DAY}");
    let (status, plan) = call(
        &app,
        &manager,
        reqwest::Method::POST,
        &path,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    let reps = plan["reps"].as_array().expect("reps");
    assert_eq!(reps.len(), 3, "team A has three reps");
    let longest = plan["longest_day_s"].as_i64().expect("longest");
    assert_eq!(
        longest,
        reps.iter()
            .map(|r| r["totals"]["day_s"].as_i64().expect("day"))
            .max()
            .expect("max")
    );
    // Each stop stays with the account's owner unless the manager says otherwise.
    for r in reps {
        for s in r["stops"].as_array().expect("stops") {
            let owner: Option<Uuid> = scalar_by(
                &pool,
                "select owner_rep_id from accounts where id = $1::uuid",
                s["account_id"].as_str().expect("id"),
            )
            .await;
            assert_eq!(
                owner.map(|o| o.to_string()),
                r["rep_id"].as_str().map(str::to_owned)
            );
        }
    }
    // Move the first stop of the first rep to the second rep.
    let stop = reps[0]["stops"][0]["account_id"].clone();
    let to = reps[1]["rep_id"].clone();
    let (status, moved) = call(
        &app,
        &manager,
        reqwest::Method::POST,
        &path,
        Some(json!({"pins": [{"account_id": stop, "rep_id": to}]})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let holds = |plan: &Value, rep: &Value| {
        plan["reps"]
            .as_array()
            .expect("reps")
            .iter()
            .find(|r| &r["rep_id"] == rep)
            .expect("rep")["stops"]
            .as_array()
            .expect("stops")
            .iter()
            .any(|s| s["account_id"] == stop)
    };
    assert!(
        holds(&moved, &to),
        "the moved stop is in the second rep's day"
    );
    assert!(!holds(&moved, &reps[0]["rep_id"]));

    // Bad pins and other teams.
    let (status, _) = call(
        &app,
        &manager,
        reqwest::Method::POST,
        &path,
        Some(json!({"pins": [{"account_id": Uuid::new_v4(), "rep_id": to}]})),
    )
    .await;
    assert_eq!(status, 400);
    let manager_b = session(&app, "manager.b@example.com").await;
    let (status, _) = call(
        &app,
        &manager_b,
        reqwest::Method::POST,
        &path,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn appointment_and_opening_hour_files_are_taken_whole_or_not_at_all(pool: PgPool) {
    use terrane::crm::csv::{CsvError, ImportKind, import_audited};
    seed_demo(&pool).await;
    let admin: Uuid = sqlx::query_scalar("select id from users where email = 'admin@example.com'")
        .fetch_one(&pool)
        .await
        .expect("admin");
    let rep = &demo_dataset().reps[0];
    let ids: Vec<(String, String)> = sqlx::query_as(
        "select a.crm_source, a.crm_id from accounts a join reps r on r.id = a.owner_rep_id
         where r.email = $1 order by a.crm_id limit 2",
    )
    .bind(&rep.email)
    .fetch_all(&pool)
    .await
    .expect("accounts");
    let kind = ImportKind::Appointments {
        default_source: "csv",
    };
    let file = |second_start: &str| {
        format!(
            "ref,rep_email,source,crm_id,start,duration_minutes\n\
             a1,{e},{s0},{c0},2026-12-08T09:00:00Z,60\n\
             a2,{e},{s1},{c1},{second_start},30\n",
            e = rep.email,
            s0 = ids[0].0,
            c0 = ids[0].1,
            s1 = ids[1].0,
            c1 = ids[1].1,
        )
    };
    // The second row overlaps the first: the file is refused, row 3 named, nothing saved.
    let refused = import_audited(
        &pool,
        kind,
        file("2026-12-08T09:30:00Z").as_bytes(),
        false,
        admin,
    )
    .await;
    let Err(CsvError::Invalid(report)) = refused else {
        panic!("the overlapping file must be refused: {refused:?}");
    };
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].row, 3, "{:?}", report.errors);
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from appointments where status = 'booked'")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(count().await, 0);

    let report = import_audited(
        &pool,
        kind,
        file("2026-12-08T13:00:00Z").as_bytes(),
        false,
        admin,
    )
    .await
    .expect("a good file");
    assert_eq!((report.created, report.updated), (2, 0));
    // The same refs again: the rows are updated, not doubled.
    let report = import_audited(
        &pool,
        kind,
        file("2026-12-08T14:00:00Z").as_bytes(),
        false,
        admin,
    )
    .await
    .expect("the same file again");
    assert_eq!((report.created, report.updated), (0, 2));
    assert_eq!(count().await, 2);

    // Opening hours in OSM syntax; an unreadable cell refuses the file.
    let hours = ImportKind::OpeningHours {
        default_source: "csv",
    };
    let bad = format!(
        "source,crm_id,opening_hours\n{},{},Mo-Fr sunrise-sunset\n",
        ids[0].0, ids[0].1
    );
    assert!(
        import_audited(&pool, hours, bad.as_bytes(), false, admin)
            .await
            .is_err()
    );
    let good = format!(
        "source,crm_id,opening_hours\n{},{},\"Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00\"\n",
        ids[0].0, ids[0].1
    );
    import_audited(&pool, hours, good.as_bytes(), false, admin)
        .await
        .expect("good hours");
    let rows: i64 = sqlx::query_scalar(
        "select count(*) from account_opening_hours h join accounts a on a.id = h.account_id
         where a.crm_id = $1",
    )
    .bind(&ids[0].1)
    .fetch_one(&pool)
    .await
    .expect("hours");
    assert_eq!(rows, 11, "two windows Monday to Friday and one on Saturday");
}
