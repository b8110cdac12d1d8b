//! A rep's day settings (shift, break, start and end points) and accounts' visit minutes: set
//! through the CSV files and `PUT /api/reps/{rep}/day-settings`, checked, audited, and used by
//! the next plan of the day.

use chrono::{Datelike, Days, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use terrane::crm::apply::ClockGuard;
use terrane::crm::csv::{self, CsvError, ImportReport};
use uuid::Uuid;

use crate::crm_csv::{
    error_cells, export_accounts, export_reps, import_accounts, import_reps, import_reps_from,
    refused,
};
use crate::day_plans::{
    SETTINGS, assert_day_is_consistent, call, rep_email, rep_id, seconds_of_day, session, time,
};
use crate::helpers::{count, page_html, scalar_by, seed_demo, spawn_app_with};

/// A Monday-to-Friday at least two days ahead: a future working day of every demo rep,
/// whatever the time zone.
fn future_workday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Days::new(2);
    while d.weekday().number_from_monday() > 5 {
        d = d + Days::new(1);
    }
    d
}

/// Stores a current plan of `day` for the rep, as a read of the day would.
async fn store_plan(pool: &PgPool, rep: Uuid, day: NaiveDate) {
    sqlx::query("insert into route_days (rep_id, day, plan) values ($1, $2, '{}')")
        .bind(rep)
        .bind(day)
        .execute(pool)
        .await
        .expect("a stored plan");
}

async fn is_stale(pool: &PgPool, rep: Uuid, day: NaiveDate) -> bool {
    sqlx::query_scalar("select stale from route_days where rep_id = $1 and day = $2")
        .bind(rep)
        .bind(day)
        .fetch_one(pool)
        .await
        .expect("the stored plan")
}

const REPS_WITH_DAYS: &str = "email,name,break_minutes,break_earliest,break_latest,\
    day_start_lon,day_start_lat,day_end_lon,day_end_lat\n\
    a@example.com,A,45,11:30,13:30,7.42,43.73,7.43,43.74\n\
    b@example.com,B,0,12:00,13:00,,,,\n";

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reps_file_round_trips_breaks_and_start_and_end_points(pool: PgPool) {
    let report = import_reps_from(&pool, REPS_WITH_DAYS).await;
    assert_eq!(report.created, 2);
    let again = import_reps_from(&pool, REPS_WITH_DAYS).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));

    let first = export_reps(&pool).await;
    assert!(
        first.contains(
            "a@example.com,A,,,,08:30,17:30,Europe/Monaco,true,45,11:30,13:30,7.42,43.73,7.43,43.74\n"
        ),
        "{first}"
    );
    assert!(
        first.contains("b@example.com,B,,,,08:30,17:30,Europe/Monaco,true,0,12:00,13:00,,,,\n"),
        "{first}"
    );
    sqlx::query("delete from reps")
        .execute(&pool)
        .await
        .expect("empty the reps");
    import_reps_from(&pool, &first).await;
    assert_eq!(export_reps(&pool).await, first);

    // An empty start point goes back to the home base; the end point and the break, whose
    // columns the file leaves out, stay. The rep's stored days are planned again.
    let rep: Uuid = scalar_by(
        &pool,
        "select id from reps where email = $1",
        "a@example.com",
    )
    .await;
    let day = future_workday();
    store_plan(&pool, rep, day).await;
    let report = import_reps_from(
        &pool,
        "email,name,day_start_lon,day_start_lat\na@example.com,A,,\n",
    )
    .await;
    assert_eq!(report.updated, 1);
    assert!(
        export_reps(&pool)
            .await
            .contains(",true,45,11:30,13:30,,,7.43,43.74\n")
    );
    assert!(is_stale(&pool, rep, day).await);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn bad_breaks_and_half_points_in_the_reps_file_are_row_errors(pool: PgPool) {
    let text = "email,name,break_minutes,break_earliest,break_latest,day_start_lon,day_start_lat\n\
        a@x.io,A,241,12:00,13:00,,\n\
        b@x.io,B,30,13:00,12:00,,\n\
        c@x.io,C,90,12:00,13:00,,\n\
        d@x.io,D,30,12:00,13:00,7.4,\n\
        e@x.io,E,30,12:00,13:00,7.4,95\n\
        f@x.io,F,30,noon,13:00,,\n\
        g@x.io,G,30,12:00,13:00,7.4,43.7\n";

    let report = refused(csv::import_reps(&pool, text.as_bytes(), false).await);

    assert_eq!(
        error_cells(&report),
        [
            (2, Some("break_minutes")),
            (3, Some("break_latest")),
            (4, Some("break_minutes")),
            (5, Some("day_start_lat")),
            (6, Some("day_start_lat")),
            (7, Some("break_earliest")),
        ]
    );
    assert_eq!(
        count(&pool, "reps").await,
        0,
        "the valid row was not written"
    );

    let half = refused(
        csv::import_reps(
            &pool,
            "email,name,day_end_lon\na@x.io,A,7.4\n".as_bytes(),
            false,
        )
        .await,
    );
    assert_eq!(error_cells(&half), [(1, Some("day_end_lat"))]);

    // A window end before the stored start: refused by the table, reported on the row.
    import_reps(&pool, "reps.csv").await;
    let report = refused(
        csv::import_reps(
            &pool,
            "email,name,break_latest\nana.martin@example.com,Ana Martin,11:00\n".as_bytes(),
            false,
        )
        .await,
    );
    assert_eq!(error_cells(&report), [(2, Some("break_latest"))]);
}

async fn service_minutes(pool: &PgPool) -> Option<i32> {
    scalar_by(
        pool,
        "select service_minutes from accounts where crm_source = 'csv' and crm_id = $1",
        "ACC-001",
    )
    .await
}

async fn import_text(pool: &PgPool, text: &str) -> Result<ImportReport, CsvError> {
    csv::import_accounts(pool, text.as_bytes(), "csv", false, ClockGuard::default()).await
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn accounts_file_sets_and_clears_visit_minutes_whatever_the_crm_clock(pool: PgPool) {
    import_reps(&pool, "reps.csv").await;
    import_accounts(&pool, "accounts.csv").await;
    let ana: Uuid = scalar_by(
        &pool,
        "select id from reps where email = $1",
        "ana.martin@example.com",
    )
    .await;
    let day = future_workday();
    store_plan(&pool, ana, day).await;
    // The stored clock: the CRM fields are stale, the minutes are Terrane's own.
    let row = |cell: &str| {
        format!(
            "source,crm_id,name,crm_modified_at,service_minutes\n\
             csv,ACC-001,Boulangerie du Port,2026-03-01T09:30:00Z,{cell}\n"
        )
    };

    let report = import_text(&pool, &row("45")).await.expect("imports");
    assert_eq!((report.updated, report.stale), (1, 0));
    assert_eq!(service_minutes(&pool).await, Some(45));
    assert!(
        is_stale(&pool, ana, day).await,
        "the owner's day is planned again"
    );
    let export = export_accounts(&pool).await;
    assert!(export.contains(",2026-03-01T09:30:00Z,45,"), "{export}");

    let again = import_text(&pool, &row("45")).await.expect("imports");
    assert_eq!((again.updated, again.stale), (0, 1));

    // A file without the column leaves the minutes alone; an export re-imports them.
    let newer = "crm_id,name\nACC-001,Boulangerie du Port\n".to_owned();
    assert_eq!(
        import_text(&pool, &newer).await.expect("imports").updated,
        1
    );
    assert_eq!(service_minutes(&pool).await, Some(45));
    let first = export_accounts(&pool).await;
    sqlx::query("delete from accounts")
        .execute(&pool)
        .await
        .expect("empty the accounts");
    import_text(&pool, &first)
        .await
        .expect("the export re-imports");
    assert_eq!(export_accounts(&pool).await, first);

    // Empty: back to the tier default.
    assert_eq!(
        import_text(&pool, &row("")).await.expect("imports").updated,
        1
    );
    assert_eq!(service_minutes(&pool).await, None);

    let bad = "crm_id,name,service_minutes\nX-1,X,0\nX-2,X,601\nX-3,X,half an hour\nX-4,X,600\n";
    let report = refused(import_text(&pool, bad).await);
    assert_eq!(
        error_cells(&report),
        [
            (2, Some("service_minutes")),
            (3, Some("service_minutes")),
            (4, Some("service_minutes")),
        ]
    );
}

fn settings_path(rep: Uuid) -> String {
    format!("/api/reps/{rep}/day-settings")
}

fn valid_settings() -> Value {
    json!({"work_start": "08:00", "work_end": "17:00", "break_minutes": 30,
           "break_earliest": "12:00", "break_latest": "14:00",
           "day_start": null, "day_end": null})
}

/// `valid_settings()` with some fields replaced.
fn with(changes: &Value) -> Value {
    let mut v = valid_settings();
    for (k, x) in changes.as_object().expect("an object") {
        v[k] = x.clone();
    }
    v
}

#[sqlx::test]
async fn day_settings_are_checked_and_refusals_change_nothing(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let rep = rep_id(&pool, rep_email(0)).await;
    let s = session(&app, rep_email(0)).await;
    let path = settings_path(rep);
    let (status, before) = call(&app, &s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["work_start"], "08:30");
    assert_eq!(before["day_start"], Value::Null);

    let refused = [
        (json!({"work_end": "08:00"}), 400, "work_end must be later"),
        (json!({"break_minutes": 241}), 400, "0 to 240"),
        (
            json!({"break_latest": "11:00"}),
            400,
            "break_latest must be later",
        ),
        (json!({"break_minutes": 150}), 400, "longer than its window"),
        (
            json!({"work_end": "12:15", "break_earliest": "12:00"}),
            400,
            "fit in the shift",
        ),
        (json!({"work_start": "25:00"}), 422, "HH:MM"),
        (json!({"day_start": [200.0, 43.7]}), 422, "longitude"),
        (json!({"day_end": [7.4]}), 422, ""),
        (json!({"colour": "blue"}), 422, "colour"),
    ];
    for (change, expected, words) in refused {
        let (status, body) = call(&app, &s, reqwest::Method::PUT, &path, Some(with(&change))).await;
        assert_eq!(status, expected, "{change}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{change}: {body}");
    }
    let (_, after) = call(&app, &s, reqwest::Method::GET, &path, None).await;
    assert_eq!(after, before, "nothing was stored");
    assert_eq!(
        count(&pool, "audit_log where action = 'rep.day_settings_changed'").await,
        0
    );

    // The Today page carries the form, each field labelled.
    let html = page_html(&s.0, &app, "/today").await;
    for id in [
        "settings-work-start",
        "settings-break-minutes",
        "settings-start-lon",
    ] {
        assert!(
            html.contains(&format!(r#"id="{id}""#)),
            "the My day form has #{id}"
        );
    }
    assert!(html.contains(r#"name="start-from" value="position""#));

    // Allowed: a window reaching past the shift with room inside it, and no break at all.
    for change in [
        json!({"work_end": "12:30"}),
        json!({"break_minutes": 0, "work_start": "15:00", "work_end": "18:00"}),
    ] {
        let body = with(&change);
        let (status, stored) =
            call(&app, &s, reqwest::Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, 200, "{change}: {stored}");
        assert_eq!(stored, body);
    }
}

#[sqlx::test]
async fn a_rep_sets_only_their_own_day_and_a_manager_their_teams(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let mine = rep_id(&pool, rep_email(0)).await;
    let other = rep_id(&pool, rep_email(1)).await;
    let rep = session(&app, rep_email(0)).await;
    let manager_a = session(&app, "manager.a@example.com").await;
    let manager_b = session(&app, "manager.b@example.com").await;
    let admin = session(&app, "admin@example.com").await;
    let body = with(&json!({"work_start": "07:00"}));
    // Another rep's settings are "not found", as for their day (nothing says they exist).
    let cases = [
        (&rep, other, 404),
        (&manager_b, mine, 404),
        (&rep, Uuid::new_v4(), 404),
        (&rep, mine, 200),
        (&manager_a, mine, 200),
        (&admin, other, 200),
    ];
    for (who, target, expected) in cases {
        let path = settings_path(target);
        let (status, got) = call(&app, who, reqwest::Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, expected, "PUT {path}: {got}");
        let (status, got) = call(&app, who, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, expected, "GET {path}: {got}");
    }
    let other_start: String = scalar_by(
        &pool,
        "select to_char(work_start, 'HH24:MI') from reps where id = $1",
        other,
    )
    .await;
    assert_eq!(other_start, "07:00", "set by the admin only");
}

#[sqlx::test]
async fn changed_settings_replan_the_day_with_the_new_shift_break_and_start(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app_with(pool.clone(), &SETTINGS).await;
    let rep = rep_id(&pool, rep_email(0)).await;
    let s = session(&app, rep_email(0)).await;
    let day = future_workday();
    let day_path = format!("/api/routes/reps/{rep}/days/{day}");

    let (status, before) = call(&app, &s, reqwest::Method::GET, &day_path, None).await;
    assert_eq!(status, 200, "{before}");
    let first_arrival = |plan: &Value| seconds_of_day(time(&plan["stops"][0]["arrival"]));
    assert!(
        first_arrival(&before) < 10 * 3600,
        "the default shift starts at 08:30: {}",
        before["stops"][0]
    );

    // Start later, a 45-minute break between 15:00 and 16:30, from a point near home.
    let (home_lon, home_lat): (f64, f64) =
        sqlx::query_as("select st_x(home_base), st_y(home_base) from reps where id = $1")
            .bind(rep)
            .fetch_one(&pool)
            .await
            .expect("home");
    let start = [home_lon + 0.004, home_lat - 0.002];
    let settings = json!({"work_start": "10:00", "work_end": "17:30", "break_minutes": 45,
                          "break_earliest": "15:00", "break_latest": "16:30",
                          "day_start": start, "day_end": null});
    let (status, stored) = call(
        &app,
        &s,
        reqwest::Method::PUT,
        &settings_path(rep),
        Some(settings.clone()),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored, settings);

    let (status, after) = call(&app, &s, reqwest::Method::GET, &day_path, None).await;
    assert_eq!(status, 200, "{after}");
    assert!(
        seconds_of_day(time(&after["departure"])) >= 10 * 3600,
        "{}",
        after["departure"]
    );
    assert!(first_arrival(&after) >= 10 * 3600, "{}", after["stops"][0]);
    let b = after["break"].as_object().expect("a break is planned");
    let (b0, b1) = (time(&b["start"]), time(&b["end"]));
    assert_eq!((b1 - b0).num_minutes(), 45);
    assert!(seconds_of_day(b0) >= 15 * 3600 && seconds_of_day(b1) <= 16 * 3600 + 30 * 60);
    let planned_start = after["start"].as_array().expect("a start point");
    assert!((planned_start[0].as_f64().expect("lon") - start[0]).abs() < 1e-9);
    assert!((planned_start[1].as_f64().expect("lat") - start[1]).abs() < 1e-9);
    assert_day_is_consistent(&pool, &after).await;

    // Audited once, without the coordinates; the same settings again change nothing.
    let details: Value = scalar_by(
        &pool,
        "select details from audit_log where action = 'rep.day_settings_changed'
         and subject_id = $1::text",
        rep.to_string(),
    )
    .await;
    assert_eq!(details["day_start_chosen"], true);
    assert!(
        !details.to_string().contains(&format!("{:.3}", start[0])),
        "{details}"
    );
    let (status, _) = call(
        &app,
        &s,
        reqwest::Method::PUT,
        &settings_path(rep),
        Some(settings),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        count(&pool, "audit_log where action = 'rep.day_settings_changed'").await,
        1
    );
}
