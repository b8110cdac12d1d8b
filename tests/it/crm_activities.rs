//! Visits written back to the CRM as activities, against the CRM simulator: a HubSpot meeting
//! associated with the company (once, even when the create's answer was lost), a Salesforce
//! Task upserted on the visit id (once, however often it is sent), what queues nothing, a 429,
//! a missing External ID field, and the outbox page's counts and retry.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use terrane::crm::clients::CrmClients;
use terrane::crm::writeback::{self, OutboxStatus, VisitWriteBack, WritebackWorker};
use terrane::dayplan::visits::{self, Outcome, Recorded, VisitInput};
use terrane::spatial::LonLat;
use uuid::Uuid;

use crate::crm_reconcile::{Sim, connect_demo, spawn_sim};
use crate::crm_sync::key;
use crate::helpers::{
    ADMIN, TestApp, audit_count, count, csrf_in, page_html, post_form, scalar_by, seed_demo,
    spawn_app,
};

pub(crate) const HUBSPOT: &str = "demo-hubspot";
pub(crate) const SALESFORCE: &str = "demo-salesforce";
const MARKER_BASE: &str = "https://terrane.example";

pub(crate) async fn setup(pool: &PgPool) -> (TestApp, Sim) {
    seed_demo(pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &["--api-write-webhooks", "false"]).await;
    connect_demo(pool, &sim).await;
    (app, sim)
}

fn worker(pool: &PgPool, timeout: Duration) -> WritebackWorker {
    let clients = CrmClients::new(pool.clone(), Some(key()), timeout).expect("clients");
    WritebackWorker::new(pool.clone(), Arc::new(clients))
}

/// One owned account of `source` (its id, CRM id, location) and its owner (rep id, e-mail).
pub(crate) struct Owned {
    pub(crate) account: Uuid,
    pub(crate) crm_id: String,
    location: (f64, f64),
    pub(crate) rep: Uuid,
    pub(crate) email: String,
}

pub(crate) async fn owned(pool: &PgPool, source: &str, nth: i64) -> Owned {
    let (account, crm_id, lon, lat, rep, email): (Uuid, String, f64, f64, Uuid, String) =
        sqlx::query_as(
            "select a.id, a.crm_id, st_x(a.location), st_y(a.location), a.owner_rep_id, u.email
             from accounts a join users u on u.rep_id = a.owner_rep_id
             where a.crm_source = $1 and a.deleted_at is null and a.location is not null
             order by a.crm_id offset $2 limit 1",
        )
        .bind(source)
        .bind(nth)
        .fetch_one(pool)
        .await
        .expect("an owned account");
    Owned {
        account,
        crm_id,
        location: (lon, lat),
        rep,
        email,
    }
}

fn input(event: &str, o: &Owned, outcome: Outcome, position: Option<(f64, f64)>) -> VisitInput {
    VisitInput {
        event_id: event.to_owned(),
        account_id: o.account,
        visited_at: None,
        outcome,
        note: Some("Talked <b>stock</b> levels".into()),
        position: position.map(|(lon, lat)| LonLat::new(lon, lat).expect("position")),
    }
}

async fn log(pool: &PgPool, o: &Owned, event: &str) -> Uuid {
    let (visit, recorded) = visits::log(
        pool,
        o.rep,
        &input(event, o, Outcome::Met, Some(o.location)),
        300.0,
        &VisitWriteBack::new(MARKER_BASE),
    )
    .await
    .expect("visit logged");
    assert_eq!(recorded, Recorded::Created);
    visit.id
}

/// (status, attempts, crm_activity_id, last_error) of a visit's row.
async fn row_of(pool: &PgPool, visit: Uuid) -> (OutboxStatus, i32, Option<String>, Option<String>) {
    sqlx::query_as(
        "select status, attempts, crm_activity_id, last_error from crm_activity_outbox
         where visit_id = $1",
    )
    .bind(visit)
    .fetch_one(pool)
    .await
    .expect("a queued activity")
}

async fn queued(pool: &PgPool) -> i64 {
    count(pool, "crm_activity_outbox where status = 'pending'").await
}

async fn make_due(pool: &PgPool) {
    sqlx::query("update crm_activity_outbox set next_attempt_at = now() where status = 'pending'")
        .execute(pool)
        .await
        .expect("due");
}

async fn sim_state(sim: &Sim) -> Value {
    sim.json("/_sim/state").await
}

pub(crate) fn calls(state: &Value, vendor: &str, route: &str) -> u64 {
    state["calls"][vendor][route].as_u64().unwrap_or(0)
}

/// The one queued HubSpot create is applied but answered after the client gave up (a
/// timeout); the retry searches for the marker, finds it and creates nothing. The simulator's
/// state afterwards.
pub(crate) async fn create_answer_lost_then_found(pool: &PgPool, sim: &Sim) -> Value {
    sim.post("/_sim/faults", Some(&json!({"write_delay_ms": 4000})))
        .await;
    let w = worker(pool, Duration::from_millis(1500));
    let first = w.run_activities_once().await.expect("batch");
    assert_eq!(first.retried, 1, "{first:?}");
    let (status, attempts, error): (OutboxStatus, i32, Option<String>) =
        sqlx::query_as("select status, attempts, last_error from crm_activity_outbox")
            .fetch_one(pool)
            .await
            .expect("the queued row");
    assert_eq!((status, attempts), (OutboxStatus::Pending, 1));
    assert!(error.is_some_and(|e| e.contains("timed out")));
    sim.post("/_sim/faults", Some(&json!({"write_delay_ms": 0})))
        .await;
    make_due(pool).await;

    let second = w.drain_activities().await.expect("drained");

    assert_eq!((second.already_there, second.written), (1, 0), "{second:?}");
    sim_state(sim).await
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_hubspot_visit_becomes_one_meeting_even_when_the_create_answer_is_lost(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let o = owned(&pool, HUBSPOT, 0).await;
    // Logged through the API, as the phone does: queued with the visit.
    let client = app.client_as(&o.email).await;
    let csrf = csrf_in(&page_html(&client, &app, "/").await);
    let resp = client
        .post(app.url("/api/visits"))
        .header("x-csrf-token", csrf)
        .json(
            &json!({"event_id": "visit-hs-0001", "account_id": o.account,
                      "outcome": "met", "note": "Talked stock levels",
                      "position": [o.location.0, o.location.1]}),
        )
        .send()
        .await
        .expect("visit");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    let visit: Uuid = body["visit"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("visit id");
    assert_eq!(queued(&pool).await, 1, "queued in the visit's transaction");

    let state = create_answer_lost_then_found(&pool, &sim).await;

    let meetings = state["meetings"].as_array().expect("meetings");
    assert_eq!(meetings.len(), 1, "exactly one meeting: {meetings:?}");
    let m = &meetings[0];
    assert_eq!(m["companies"], json!([o.crm_id]));
    assert_eq!(m["properties"]["hs_meeting_outcome"], "COMPLETED");
    assert_eq!(m["properties"]["hs_meeting_body"], "Talked stock levels");
    let marker = m["properties"]["hs_meeting_external_url"]
        .as_str()
        .expect("marker");
    assert!(marker.ends_with(&format!("/visits/{visit}")), "{marker}");
    assert_eq!(calls(&state, "hubspot", "POST /crm/v3/objects/meetings"), 1);
    assert_eq!(
        calls(&state, "hubspot", "POST /crm/v3/objects/meetings/search"),
        1
    );
    let (status, _, activity, error) = row_of(&pool, visit).await;
    assert_eq!(status, OutboxStatus::Done);
    assert_eq!(
        activity.as_deref(),
        m["id"].as_str(),
        "the CRM's id is kept"
    );
    assert_eq!(error, None);
    assert_eq!(audit_count(&pool, "crm.activity_written").await, 1);
}

/// Writes the one queued Salesforce Task, then sends it again (an admin's retry, a lost
/// answer): the upsert updates the same Task. That Task, as the simulator holds it.
pub(crate) async fn upserted_twice(pool: &PgPool, sim: &Sim) -> Value {
    let w = worker(pool, Duration::from_secs(10));
    let first = w.drain_activities().await.expect("drained");
    assert_eq!(first.written, 1, "{first:?}");
    sqlx::query("update crm_activity_outbox set status = 'pending', next_attempt_at = now()")
        .execute(pool)
        .await
        .expect("again");
    let second = w.drain_activities().await.expect("drained");
    assert_eq!(second.already_there, 1, "{second:?}");
    let state = sim_state(sim).await;
    let tasks = state["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["writes"], 2);
    tasks[0].clone()
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_salesforce_visit_is_one_task_however_often_it_is_upserted(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let o = owned(&pool, SALESFORCE, 0).await;
    let visit = log(&pool, &o, "visit-sf-0001").await;

    let t = &upserted_twice(&pool, &sim).await;

    assert_eq!(t["Terrane_Visit_Id__c"], visit.to_string());
    assert_eq!(t["WhatId"], o.crm_id);
    assert_eq!(t["Status"], "Completed");
    assert!(
        t["Description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Outcome: met") && d.contains("<b>stock</b>"))
    );
    assert!(
        t.get("OwnerId").is_none(),
        "owner-N is not a Salesforce user"
    );
    let (status, _, activity, _) = row_of(&pool, visit).await;
    assert_eq!(status, OutboxStatus::Done);
    assert_eq!(activity.as_deref(), t["Id"].as_str());
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn far_csv_crm_sourced_and_repeated_visits_queue_nothing(pool: PgPool) {
    let (_app, _sim) = setup(&pool).await;
    let hook = VisitWriteBack::new(MARKER_BASE);
    let o = owned(&pool, HUBSPOT, 1).await;
    // About 2 km from the account: flagged, not counted, not written back.
    let far = input(
        "visit-far-0001",
        &o,
        Outcome::Met,
        Some((o.location.0 + 0.025, o.location.1)),
    );
    let (v, _) = visits::log(&pool, o.rep, &far, 300.0, &hook)
        .await
        .expect("logged");
    assert!(v.far_from_account);
    // The same event again: nothing new.
    let near = input("visit-near-001", &o, Outcome::Met, None);
    visits::log(&pool, o.rep, &near, 300.0, &hook)
        .await
        .expect("logged");
    let (_, again) = visits::log(&pool, o.rep, &near, 300.0, &hook)
        .await
        .expect("logged");
    assert_eq!(again, Recorded::Duplicate);
    assert_eq!(queued(&pool).await, 1, "only the near visit, once");

    // An account imported from a CSV file (no connection of that name).
    let csv = owned(&pool, SALESFORCE, 1).await;
    sqlx::query("update accounts set crm_source = 'csv-upload' where id = $1")
        .bind(csv.account)
        .execute(&pool)
        .await
        .expect("csv account");
    visits::log(
        &pool,
        csv.rep,
        &input("visit-csv-0001", &csv, Outcome::Met, None),
        300.0,
        &hook,
    )
    .await
    .expect("logged");
    assert_eq!(
        queued(&pool).await,
        1,
        "a CSV account has no CRM to write to"
    );

    // A visit the CRM recorded is never echoed back.
    let from_crm: Uuid = scalar_by(
        &pool,
        "insert into visits (event_id, rep_id, account_id, visited_at, outcome, source)
         select 'crm:test:0001', owner_rep_id, id, now(), 'met', 'crm' from accounts where id = $1
         returning id",
        o.account,
    )
    .await;
    let mut tx = pool.begin().await.expect("tx");
    let none = writeback::enqueue_visit(&mut tx, from_crm, MARKER_BASE)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(none, None);
    assert_eq!(queued(&pool).await, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_429_waits_for_retry_after_without_counting_an_attempt(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let w = worker(&pool, Duration::from_secs(10));
    // A first meeting, so the token is fresh and the 429 hits the API call.
    log(&pool, &owned(&pool, HUBSPOT, 0).await, "visit-warm-001").await;
    assert_eq!(w.drain_activities().await.expect("drained").written, 1);
    let visit = log(&pool, &owned(&pool, HUBSPOT, 1).await, "visit-429-0001").await;
    sim.post(
        "/_sim/faults",
        Some(&json!({"rate_limit_next": 1, "retry_after_s": 30})),
    )
    .await;

    let outcome = w.run_activities_once().await.expect("batch");

    assert_eq!(outcome.rate_limited, 1, "{outcome:?}");
    let (status, attempts, wait_s): (OutboxStatus, i32, f64) = sqlx::query_as(
        "select status, attempts, extract(epoch from next_attempt_at - now())::float8
         from crm_activity_outbox where visit_id = $1",
    )
    .bind(visit)
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((status, attempts), (OutboxStatus::Pending, 0));
    assert!(
        (25.0..=31.0).contains(&wait_s),
        "waits Retry-After: {wait_s}"
    );
    assert_eq!(w.run_activities_once().await.expect("batch").claimed, 0);
    make_due(&pool).await;
    assert_eq!(w.drain_activities().await.expect("drained").written, 1);
    assert_eq!(
        sim_state(&sim).await["meetings"].as_array().map(Vec::len),
        Some(2)
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_missing_task_field_fails_with_what_to_create_and_an_admin_retries_it(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let visit = log(&pool, &owned(&pool, SALESFORCE, 0).await, "visit-sf-0002").await;
    sim.post("/_sim/faults", Some(&json!({"task_field_missing": true})))
        .await;
    let w = worker(&pool, Duration::from_secs(10));

    let outcome = w.drain_activities().await.expect("drained");

    assert_eq!(outcome.failed, 1, "{outcome:?}");
    let (status, _, _, error) = row_of(&pool, visit).await;
    assert_eq!(status, OutboxStatus::Failed);
    let error = error.expect("a reason");
    assert!(
        error.contains("NOT_FOUND") && error.contains("create the Task field Terrane_Visit_Id__c"),
        "{error}"
    );
    assert_eq!(audit_count(&pool, "crm.activity_failed").await, 1);

    // The admin sees the counts and sends it back once the field exists.
    let admin = app.client_as(ADMIN).await;
    let html = page_html(&admin, &app, "/territories/outbox").await;
    assert!(
        html.contains(r#"<span id="activity-failed">1</span>"#),
        "{html}"
    );
    sim.post("/_sim/faults", Some(&json!({"task_field_missing": false})))
        .await;
    let resp = post_form(
        &admin,
        &app,
        "/territories/outbox/activities/retry",
        &[("csrf", csrf_in(&html).as_str())],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(w.drain_activities().await.expect("drained").written, 1);
    assert_eq!(row_of(&pool, visit).await.0, OutboxStatus::Done);
    assert_eq!(audit_count(&pool, "crm.activity_retried").await, 1);
}

/// A CRM user logs an activity in the simulator; its id.
async fn crm_user_logs(sim: &Sim, activity: Value) -> String {
    let resp = sim.post("/_sim/activities", Some(&activity)).await;
    let body: Value = resp.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

async fn crm_owner_of(pool: &PgPool, rep: Uuid) -> String {
    scalar_by(pool, "select crm_owner_id from reps where id = $1", rep).await
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn visits_the_crm_recorded_are_read_once_and_ours_are_not_read_back(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let clients =
        CrmClients::new(pool.clone(), Some(key()), Duration::from_secs(10)).expect("clients");
    let w = worker(&pool, Duration::from_secs(10));
    let hs = owned(&pool, HUBSPOT, 0).await;
    let sf = owned(&pool, SALESFORCE, 0).await;
    // Visits logged in Terrane and written back: they must not come back as second visits.
    log(&pool, &hs, "visit-ours-hs1").await;
    log(&pool, &sf, "visit-ours-sf1").await;
    assert_eq!(w.drain_activities().await.expect("drained").written, 2);
    // What CRM users logged: a completed meeting and Task by each account's rep, a meeting by
    // someone who is no rep here, a no-show, and a Task that is a call.
    let hs_owner = crm_owner_of(&pool, hs.rep).await;
    let sf_owner = crm_owner_of(&pool, sf.rep).await;
    let meeting = crm_user_logs(
        &sim,
        json!({"crm": "hubspot", "record": hs.crm_id, "owner": hs_owner}),
    )
    .await;
    crm_user_logs(
        &sim,
        json!({"crm": "hubspot", "record": hs.crm_id, "owner": "owner-999"}),
    )
    .await;
    crm_user_logs(
        &sim,
        json!({"crm": "hubspot", "record": hs.crm_id, "owner": hs_owner, "outcome": "NO_SHOW"}),
    )
    .await;
    let task = crm_user_logs(
        &sim,
        json!({"crm": "salesforce", "record": sf.crm_id, "owner": sf_owner}),
    )
    .await;
    crm_user_logs(
        &sim,
        json!({"crm": "salesforce", "record": sf.crm_id, "owner": sf_owner, "kind": "Call"}),
    )
    .await;
    // The HubSpot rep's stored plan of today, fresh until a visit changes what is due.
    sqlx::query(
        "insert into route_days (rep_id, day, plan)
         select id, (now() at time zone timezone)::date, '{}' from reps where id = $1",
    )
    .bind(hs.rep)
    .execute(&pool)
    .await
    .expect("a stored day");
    let since = chrono::Utc::now() - terrane::crm::visits_in::LOOKBACK;
    let conn = |name: &'static str| {
        let pool = pool.clone();
        async move {
            terrane::crm::connection::by_name(&pool, name)
                .await
                .expect("query")
                .expect("connection")
        }
    };

    let hubspot =
        terrane::crm::visits_in::read_recent(&pool, &clients, &conn(HUBSPOT).await, since)
            .await
            .expect("read");
    let salesforce =
        terrane::crm::visits_in::read_recent(&pool, &clients, &conn(SALESFORCE).await, since)
            .await
            .expect("read");

    assert_eq!(
        (hubspot.seen, hubspot.recorded, hubspot.ours, hubspot.no_rep),
        (3, 1, 1, 1),
        "{hubspot:?}"
    );
    assert_eq!(
        (salesforce.seen, salesforce.recorded, salesforce.ours),
        (2, 1, 1),
        "{salesforce:?}"
    );
    let read: Vec<(String, Uuid, Uuid, String)> = sqlx::query_as(
        "select event_id, rep_id, account_id, outcome::text from visits where source = 'crm'
         order by event_id",
    )
    .fetch_all(&pool)
    .await
    .expect("visits");
    assert_eq!(
        read,
        vec![
            (
                format!("crm:{HUBSPOT}:{meeting}"),
                hs.rep,
                hs.account,
                "met".to_owned()
            ),
            (
                format!("crm:{SALESFORCE}:{task}"),
                sf.rep,
                sf.account,
                "met".to_owned()
            ),
        ]
    );
    assert_eq!(
        count(&pool, "crm_activity_outbox").await,
        2,
        "visits from the CRM are not written back to it"
    );
    let stale: bool = scalar_by(
        &pool,
        "select stale from route_days where rep_id = $1",
        hs.rep,
    )
    .await;
    assert!(stale, "the rep's day is planned again");

    let again = terrane::crm::visits_in::read_recent(&pool, &clients, &conn(HUBSPOT).await, since)
        .await
        .expect("read");
    assert_eq!(again.recorded, 0, "read once: {again:?}");
    assert_eq!(count(&pool, "visits where source = 'crm'").await, 2);
}
