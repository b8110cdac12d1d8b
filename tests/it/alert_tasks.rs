//! An accepted proximity alert becomes a CRM task through the activity outbox, against the CRM
//! simulator: one HubSpot task associated with the company even when the create's answer was
//! lost, one Salesforce Task upserted on the alert id, a CSV account refused with nothing
//! queued, and a second request queuing nothing. Alerts are raised by inserting rows (the
//! proximity engine has its own tests).

use serde_json::{Value, json};
use sqlx::PgPool;
use terrane::crm::writeback::OutboxStatus;
use uuid::Uuid;

use crate::crm_activities::{
    HUBSPOT, Owned, SALESFORCE, calls, create_answer_lost_then_found, owned, setup, upserted_twice,
};
use crate::helpers::{TestApp, audit_count, count, csrf_in, page_html, scalar_by};

/// An open alert of the account's owner, as the proximity engine raises it.
async fn raise(pool: &PgPool, o: &Owned) -> Uuid {
    sqlx::query_scalar(
        "insert into proximity_alerts (rep_id, account_id, ping_event_id, distance_m)
         values ($1, $2, gen_random_uuid(), 120) returning id",
    )
    .bind(o.rep)
    .bind(o.account)
    .fetch_one(pool)
    .await
    .expect("an alert")
}

/// The rep, signed in, with the CSRF token their page carries.
struct Rep {
    client: reqwest::Client,
    csrf: String,
}

async fn sign_in(app: &TestApp, o: &Owned) -> Rep {
    let client = app.client_as(&o.email).await;
    let csrf = csrf_in(&page_html(&client, app, "/").await);
    Rep { client, csrf }
}

async fn act(app: &TestApp, rep: &Rep, alert: Uuid, action: &str) -> (u16, Value) {
    let resp = rep
        .client
        .post(app.url(&format!("/api/alerts/{alert}/actions")))
        .header("x-csrf-token", &rep.csrf)
        .json(&json!({ "action": action }))
        .send()
        .await
        .expect("action");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// (status, attempts, crm_activity_id, last_error) of an alert's row.
async fn row_of(pool: &PgPool, alert: Uuid) -> (OutboxStatus, i32, Option<String>, Option<String>) {
    sqlx::query_as(
        "select status, attempts, crm_activity_id, last_error from crm_activity_outbox
         where alert_id = $1",
    )
    .bind(alert)
    .fetch_one(pool)
    .await
    .expect("a queued task")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_hubspot_alert_becomes_one_task_on_its_company_even_when_the_answer_is_lost(
    pool: PgPool,
) {
    let (app, sim) = setup(&pool).await;
    let o = owned(&pool, HUBSPOT, 0).await;
    let alert = raise(&pool, &o).await;
    let rep = sign_in(&app, &o).await;

    let (status, body) = act(&app, &rep, alert, "create_task").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "task_requested");
    assert_eq!(
        count(&pool, "crm_activity_outbox").await,
        1,
        "queued with it"
    );
    // Asked again (a double tap, a retried request): the alert as it is, nothing more queued.
    let (status, again) = act(&app, &rep, alert, "create_task").await;
    assert_eq!((status, &again["state"]), (200, &json!("task_requested")));
    assert_eq!(count(&pool, "crm_activity_outbox").await, 1);

    // The task is created, but its answer comes after the client gave up; the retry finds it.
    let state = create_answer_lost_then_found(&pool, &sim).await;

    let tasks = state["hubspot_tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "exactly one task: {tasks:?}");
    let t = &tasks[0];
    assert_eq!(t["companies"], json!([o.crm_id]), "on the company");
    assert_eq!(t["properties"]["hs_task_status"], "NOT_STARTED");
    assert_eq!(t["properties"]["hs_task_type"], "TODO");
    let name: String = scalar_by(&pool, "select name from accounts where id = $1", o.account).await;
    assert_eq!(
        t["properties"]["hs_task_subject"],
        format!("Stop at {name}")
    );
    let marker = format!("terranealert{}", alert.simple());
    assert!(
        t["properties"]["hs_task_body"]
            .as_str()
            .is_some_and(|b| b.contains(&marker)),
        "{t}"
    );
    assert_eq!(state["meetings"], json!([]), "a task, not a meeting");
    assert_eq!(calls(&state, "hubspot", "POST /crm/v3/objects/tasks"), 1);
    assert_eq!(
        calls(&state, "hubspot", "POST /crm/v3/objects/tasks/search"),
        1
    );
    let (status, _, activity, error) = row_of(&pool, alert).await;
    assert_eq!(status, OutboxStatus::Done);
    assert_eq!(
        activity.as_deref(),
        t["id"].as_str(),
        "the CRM's id is kept"
    );
    assert_eq!(error, None);
    let audited: i64 = scalar_by(
        &pool,
        "select count(*) from audit_log where action = 'crm.activity_written'
           and subject_type = 'alert' and subject_id = $1::text",
        alert,
    )
    .await;
    assert_eq!(audited, 1);

    // Final: another action is refused; the same one still answers the alert.
    assert_eq!(act(&app, &rep, alert, "dismiss").await.0, 409);
    assert_eq!(act(&app, &rep, alert, "create_task").await.0, 200);
    assert_eq!(count(&pool, "crm_activity_outbox").await, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_salesforce_alert_is_one_open_task_upserted_on_the_alert_id(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let o = owned(&pool, SALESFORCE, 0).await;
    let alert = raise(&pool, &o).await;
    let rep = sign_in(&app, &o).await;
    assert_eq!(act(&app, &rep, alert, "acknowledge").await.0, 200);
    let (status, body) = act(&app, &rep, alert, "create_task").await;
    assert_eq!(status, 200, "{body}");

    let t = &upserted_twice(&pool, &sim).await;

    assert_eq!(t["Terrane_Visit_Id__c"], alert.to_string());
    assert_eq!(t["WhatId"], o.crm_id);
    assert_eq!(t["Status"], "Not Started");
    assert!(
        t["Subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("Stop at "))
    );
    let today: String = scalar_by(
        &pool,
        "select to_char((now() at time zone timezone)::date, 'YYYY-MM-DD') from reps
         where id = $1",
        o.rep,
    )
    .await;
    assert_eq!(t["ActivityDate"], today);
    let (status, _, activity, _) = row_of(&pool, alert).await;
    assert_eq!(status, OutboxStatus::Done);
    assert_eq!(activity.as_deref(), t["Id"].as_str());
    assert_eq!(audit_count(&pool, "crm.activity_written").await, 2);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_alert_at_a_csv_account_is_refused_and_queues_nothing(pool: PgPool) {
    let (app, _sim) = setup(&pool).await;
    let o = owned(&pool, SALESFORCE, 1).await;
    sqlx::query("update accounts set crm_source = 'csv-upload' where id = $1")
        .bind(o.account)
        .execute(&pool)
        .await
        .expect("csv account");
    let alert = raise(&pool, &o).await;
    let rep = sign_in(&app, &o).await;

    let (status, body) = act(&app, &rep, alert, "create_task").await;

    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("no CRM connection"),
        "says why: {body}"
    );
    assert_eq!(count(&pool, "crm_activity_outbox").await, 0);
    let state: String = scalar_by(
        &pool,
        "select state::text from proximity_alerts where id = $1",
        alert,
    )
    .await;
    assert_eq!(state, "open", "unchanged");
    // The rep can still do something else with it.
    assert_eq!(act(&app, &rep, alert, "dismiss").await.0, 200);
}
