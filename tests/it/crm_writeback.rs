//! CRM owner write-back against the CRM simulator: batching per vendor, conflict detection,
//! 429 `Retry-After`, a timed-out write that was applied, 401 after a refresh, idempotent
//! queueing, the dry run, the audit log and the outbox page.

use crate::helpers::post_form;
use crate::helpers::{scalar, scalar_by};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use terrane::accounts::CrmRef;
use terrane::crm::clients::CrmClients;
use terrane::crm::connection::CrmKind;
use terrane::crm::writeback::{
    self, OutboxScope, OutboxStatus, OwnerChange, Retried, WritebackWorker,
};
use uuid::Uuid;

use crate::crm_reconcile::{Sim, connect_demo, spawn_sim};
use crate::crm_sync::{add_connection, key};
use crate::helpers::{
    ADMIN, TestApp, audit_count, cookie_client, csrf_in, page_html, seed_demo, spawn_app, status_of,
};

const HUBSPOT: &str = "demo-hubspot";
const SALESFORCE: &str = "demo-salesforce";

/// The demo data, the app, the simulator (API writes send no webhooks) and both connections.
async fn setup(pool: &PgPool) -> (TestApp, Sim) {
    seed_demo(pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &["--api-write-webhooks", "false"]).await;
    connect_demo(pool, &sim).await;
    (app, sim)
}

/// A worker with its own API clients (fresh token caches) and this request timeout.
fn worker(pool: &PgPool, timeout: Duration) -> WritebackWorker {
    let clients = CrmClients::new(pool.clone(), Some(key()), timeout).expect("clients");
    WritebackWorker::new(pool.clone(), Arc::new(clients))
}

/// A plan to queue changes under.
async fn plan(pool: &PgPool) -> Uuid {
    let team: Uuid = scalar_by(
        pool,
        "insert into teams (name) values ($1) returning id",
        format!("team-{}", Uuid::new_v4()),
    )
    .await;
    plan_of(pool, team).await
}

async fn plan_of(pool: &PgPool, team: Uuid) -> Uuid {
    scalar_by(
        pool,
        "insert into territory_plans (team_id, name, method) values ($1, 'p', 'current')
         returning id",
        team,
    )
    .await
}

/// Owners in the simulator, by (source, id).
async fn sim_owners(sim: &Sim) -> BTreeMap<(String, String), Option<String>> {
    let state = sim.json("/_sim/state").await;
    let mut out = BTreeMap::new();
    for c in state["hubspot"].as_array().expect("hubspot") {
        out.insert(
            (HUBSPOT.to_owned(), c["id"].as_str().expect("id").to_owned()),
            c["properties"]["hubspot_owner_id"]
                .as_str()
                .map(str::to_owned),
        );
    }
    for a in state["salesforce"].as_array().expect("salesforce") {
        out.insert(
            (
                SALESFORCE.to_owned(),
                a["Id"].as_str().expect("Id").to_owned(),
            ),
            a["OwnerId"].as_str().map(str::to_owned),
        );
    }
    out
}

/// Vendor calls the simulator received, `METHOD /route` -> count.
async fn sim_calls(sim: &Sim, vendor: &str) -> BTreeMap<String, u64> {
    let state = sim.json("/_sim/state").await;
    serde_json::from_value(state["calls"][vendor].clone()).unwrap_or_default()
}

/// API writes per record of one vendor.
async fn sim_writes(sim: &Sim, vendor: &str) -> BTreeMap<String, u64> {
    let state = sim.json("/_sim/state").await;
    serde_json::from_value(state["api_writes"][vendor].clone()).unwrap_or_default()
}

/// Owner changes for `n` accounts of `source`: each to another demo owner than the CRM's.
async fn changes(pool: &PgPool, sim: &Sim, source: &str, n: i64) -> Vec<OwnerChange> {
    let owners = sim_owners(sim).await;
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select id, crm_id from accounts where crm_source = $1 and deleted_at is null
         order by crm_id limit $2",
    )
    .bind(source)
    .bind(n)
    .fetch_all(pool)
    .await
    .expect("accounts");
    assert_eq!(rows.len() as i64, n, "the demo has {n} {source} accounts");
    rows.into_iter()
        .map(|(account_id, crm_id)| {
            let current = owners
                .get(&(source.to_owned(), crm_id.clone()))
                .cloned()
                .expect("the record is in the simulator");
            let new_owner = if current.as_deref() == Some("owner-1") {
                "owner-2"
            } else {
                "owner-1"
            };
            OwnerChange {
                account_id,
                crm: CrmRef::new(source, crm_id),
                expected_owner: current,
                new_owner: new_owner.to_owned(),
            }
        })
        .collect()
}

async fn enqueue(
    pool: &PgPool,
    plan_id: Uuid,
    changes: &[OwnerChange],
) -> writeback::EnqueueSummary {
    let mut tx = pool.begin().await.expect("tx");
    let summary = writeback::enqueue(&mut tx, plan_id, changes)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    summary
}

/// The set-up most write-back tests share: the app and simulator, a plan, and `n` owner changes
/// of `source` accounts queued under it.
async fn queued(pool: &PgPool, source: &str, n: i64) -> (TestApp, Sim, Uuid, Vec<OwnerChange>) {
    let (app, sim) = setup(pool).await;
    let plan_id = plan(pool).await;
    let changes = changes(pool, &sim, source, n).await;
    enqueue(pool, plan_id, &changes).await;
    (app, sim, plan_id, changes)
}

async fn statuses(
    pool: &PgPool,
    plan_id: Uuid,
) -> Vec<(String, OutboxStatus, i32, Option<String>)> {
    sqlx::query_as(
        "select crm_id, status, attempts, last_error from crm_outbox where plan_id = $1
         order by crm_id",
    )
    .bind(plan_id)
    .fetch_all(pool)
    .await
    .expect("outbox")
}

/// Pretends the clock moved past every row's next attempt.
async fn make_due(pool: &PgPool) {
    sqlx::query("update crm_outbox set next_attempt_at = now() where status = 'pending'")
        .execute(pool)
        .await
        .expect("due");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn hubspot_owners_are_written_in_batches_of_at_most_100_and_audited(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let plan_id = plan(&pool).await;
    let changes = changes(&pool, &sim, HUBSPOT, 150).await;
    assert_eq!(enqueue(&pool, plan_id, &changes).await.queued, 150);

    let outcome = worker(&pool, Duration::from_secs(10))
        .drain()
        .await
        .expect("drained");

    assert_eq!(
        (outcome.written, outcome.conflicts, outcome.failed),
        (150, 0, 0)
    );
    let calls = sim_calls(&sim, "hubspot").await;
    assert_eq!(
        calls.get("POST /crm/v3/objects/companies/batch/update"),
        Some(&2),
        "150 records in calls of at most 100: {calls:?}"
    );
    assert_eq!(
        calls.get("POST /crm/v3/objects/companies/batch/read"),
        Some(&2)
    );
    let owners = sim_owners(&sim).await;
    let writes = sim_writes(&sim, "hubspot").await;
    for c in &changes {
        assert_eq!(
            owners[&(HUBSPOT.to_owned(), c.crm.id.clone())].as_deref(),
            Some(c.new_owner.as_str())
        );
        assert_eq!(writes.get(&c.crm.id), Some(&1));
    }
    let local: i64 = scalar_by(
        &pool,
        "select count(*) from accounts a join crm_outbox o on o.account_id = a.id
         where o.plan_id = $1 and a.crm_owner_id = o.new_owner and o.status = 'done'
           and o.done_at is not null",
        plan_id,
    )
    .await;
    assert_eq!(local, 150, "done rows set the account's CRM owner locally");
    assert_eq!(audit_count(&pool, "crm.owner_written").await, 150);
    let detail: Value = scalar_by(
        &pool,
        "select details from audit_log where action = 'crm.owner_written' and subject_id = $1",
        changes[0].account_id.to_string(),
    )
    .await;
    assert_eq!(detail["connection"], HUBSPOT);
    assert_eq!(detail["crm_id"], json!(changes[0].crm.id));
    assert_eq!(detail["from"], json!(changes[0].expected_owner));
    assert_eq!(detail["to"], json!(changes[0].new_owner));
    assert_eq!(detail["plan_id"], json!(plan_id));
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn salesforce_owners_are_written_through_the_composite_api(pool: PgPool) {
    let (_app, sim, _, changes) = queued(&pool, SALESFORCE, 5).await;

    let outcome = worker(&pool, Duration::from_secs(10))
        .drain()
        .await
        .expect("drained");

    assert_eq!(outcome.written, 5, "{outcome:?}");
    let calls = sim_calls(&sim, "salesforce").await;
    assert_eq!(
        calls.get("PATCH /services/data/{version}/composite/sobjects"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("GET /services/data/{version}/query"), Some(&1));
    let owners = sim_owners(&sim).await;
    for c in &changes {
        assert_eq!(
            owners[&(SALESFORCE.to_owned(), c.crm.id.clone())].as_deref(),
            Some(c.new_owner.as_str())
        );
    }
    assert_eq!(audit_count(&pool, "crm.owner_written").await, 5);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_owner_changed_in_the_crm_after_the_plan_is_a_conflict_not_overwritten(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let plan_id = plan(&pool).await;
    let mut changes = changes(&pool, &sim, HUBSPOT, 2).await;
    for c in &mut changes {
        c.new_owner = "owner-5".into();
        c.expected_owner = Some("owner-4".into());
    }
    // The plan saw owner-4 on both; a CRM user gave the first to owner-6 since.
    for (c, owner) in changes.iter().zip(["owner-6", "owner-4"]) {
        sim.post(
            "/_sim/owner",
            Some(&json!({"crm": "hubspot", "id": c.crm.id, "owner": owner})),
        )
        .await;
    }
    enqueue(&pool, plan_id, &changes).await;
    let w = worker(&pool, Duration::from_secs(10));

    let outcome = w.drain().await.expect("drained");

    assert_eq!((outcome.conflicts, outcome.written), (1, 1), "{outcome:?}");
    let rows = statuses(&pool, plan_id).await;
    let conflict = rows.iter().find(|r| r.0 == changes[0].crm.id).expect("row");
    assert_eq!(conflict.1, OutboxStatus::Conflict);
    assert_eq!(
        conflict.3.as_deref(),
        Some("CRM owner is owner-6, expected owner-4")
    );
    let owners = sim_owners(&sim).await;
    assert_eq!(
        owners[&(HUBSPOT.to_owned(), changes[0].crm.id.clone())].as_deref(),
        Some("owner-6"),
        "the CRM user's owner stays"
    );
    assert_eq!(
        sim_writes(&sim, "hubspot").await.get(&changes[0].crm.id),
        None
    );
    assert_eq!(audit_count(&pool, "crm.owner_conflict").await, 1);

    // "Overwrite anyway" expects the owner the CRM had.
    let id: i64 = scalar_by(
        &pool,
        "select id from crm_outbox where crm_id = $1",
        &changes[0].crm.id,
    )
    .await;
    // The owner the CRM had is a column, not text read back: rewording the message changes nothing.
    let stored: Option<String> = scalar_by(
        &pool,
        "update crm_outbox set last_error = 'reworded' where id = $1 returning conflict_crm_owner",
        id,
    )
    .await;
    assert_eq!(stored.as_deref(), Some("owner-6"));
    let retried = writeback::retry(&pool, id, None, OutboxScope::All)
        .await
        .expect("retry");
    assert_eq!(
        retried,
        Some(Retried::Overwrite {
            expected_owner: Some("owner-6".into())
        })
    );
    assert_eq!(w.drain().await.expect("drained").written, 1);
    let owners = sim_owners(&sim).await;
    assert_eq!(
        owners[&(HUBSPOT.to_owned(), changes[0].crm.id.clone())].as_deref(),
        Some("owner-5")
    );
    assert_eq!(audit_count(&pool, "crm.owner_writeback_retried").await, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_429_defers_the_batch_until_retry_after_without_counting_an_attempt(pool: PgPool) {
    let (_app, sim) = setup(&pool).await;
    let w = worker(&pool, Duration::from_secs(10));
    // A first write, so the token is fresh and the 429 hits an API call.
    let all = changes(&pool, &sim, SALESFORCE, 4).await;
    let warm = plan(&pool).await;
    enqueue(&pool, warm, &all[..1]).await;
    assert_eq!(w.drain().await.expect("drained").written, 1);
    let plan_id = plan(&pool).await;
    enqueue(&pool, plan_id, &all[1..]).await;
    sim.post(
        "/_sim/faults",
        Some(&json!({"rate_limit_next": 1, "retry_after_s": 30})),
    )
    .await;

    let outcome = w.run_once().await.expect("batch");

    assert_eq!(outcome.rate_limited, 3, "{outcome:?}");
    let waits: Vec<(OutboxStatus, i32, f64)> = sqlx::query_as(
        "select status, attempts, extract(epoch from next_attempt_at - now())::float8
         from crm_outbox where plan_id = $1",
    )
    .bind(plan_id)
    .fetch_all(&pool)
    .await
    .expect("rows");
    for (status, attempts, wait_s) in &waits {
        assert_eq!(*status, OutboxStatus::Pending);
        assert_eq!(*attempts, 0, "a rate limit is not a failed attempt");
        assert!(
            (25.0..=31.0).contains(wait_s),
            "waits Retry-After: {wait_s}"
        );
    }
    assert_eq!(w.run_once().await.expect("batch").claimed, 0, "not due yet");

    make_due(&pool).await;
    let outcome = w.drain().await.expect("drained");
    assert_eq!(outcome.written, 3, "{outcome:?}");
    assert!(
        statuses(&pool, plan_id)
            .await
            .iter()
            .all(|r| r.1 == OutboxStatus::Done)
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_write_that_timed_out_after_it_was_applied_is_not_sent_again(pool: PgPool) {
    let (_app, sim, plan_id, changes) = queued(&pool, HUBSPOT, 3).await;
    sim.post("/_sim/faults", Some(&json!({"write_delay_ms": 4000})))
        .await;
    let w = worker(&pool, Duration::from_millis(1500));

    let first = w.run_once().await.expect("batch");

    assert_eq!(first.retried, 3, "the answer never came: {first:?}");
    let rows = statuses(&pool, plan_id).await;
    assert!(
        rows.iter()
            .all(|r| r.1 == OutboxStatus::Pending && r.2 == 1)
    );
    assert!(
        rows[0]
            .3
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{rows:?}"
    );
    sim.post("/_sim/faults", Some(&json!({"write_delay_ms": 0})))
        .await;
    make_due(&pool).await;

    let second = w.drain().await.expect("drained");

    assert_eq!((second.already_set, second.written), (3, 0), "{second:?}");
    let writes = sim_writes(&sim, "hubspot").await;
    for c in &changes {
        assert_eq!(writes.get(&c.crm.id), Some(&1), "written exactly once");
    }
    let calls = sim_calls(&sim, "hubspot").await;
    assert_eq!(
        calls.get("POST /crm/v3/objects/companies/batch/update"),
        Some(&1)
    );
    assert!(
        statuses(&pool, plan_id)
            .await
            .iter()
            .all(|r| r.1 == OutboxStatus::Done)
    );
    assert_eq!(audit_count(&pool, "crm.owner_written").await, 3);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_401_after_one_token_refresh_fails_the_batch_visibly(pool: PgPool) {
    let (_app, sim, plan_id, _) = queued(&pool, HUBSPOT, 2).await;
    sim.post("/_sim/faults", Some(&json!({"unauthorized": true})))
        .await;
    let w = worker(&pool, Duration::from_secs(10));

    let outcome = w.run_once().await.expect("batch");

    assert_eq!(outcome.failed, 2, "{outcome:?}");
    for (_, status, _, error) in statuses(&pool, plan_id).await {
        assert_eq!(status, OutboxStatus::Failed);
        assert!(
            error.as_deref().is_some_and(|e| e.contains("reconnect")),
            "{error:?}"
        );
    }
    let calls = sim_calls(&sim, "hubspot").await;
    assert_eq!(
        calls.get("POST /oauth/v1/token"),
        Some(&2),
        "a first token, then one refresh after the 401: {calls:?}"
    );
    assert_eq!(
        calls.get("POST /crm/v3/objects/companies/batch/read"),
        Some(&2)
    );
    assert_eq!(
        calls.get("POST /crm/v3/objects/companies/batch/update"),
        None
    );
    assert_eq!(w.run_once().await.expect("batch").claimed, 0, "no loop");
    assert_eq!(audit_count(&pool, "crm.owner_failed").await, 2);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn enqueue_is_idempotent_per_plan_and_account_and_skips_sources_without_an_api(pool: PgPool) {
    seed_demo(&pool).await;
    add_connection(
        &pool,
        HUBSPOT,
        CrmKind::HubSpot,
        crate::crm_sync::HUBSPOT_SECRET,
        Some("http://127.0.0.1:9".into()),
    )
    .await;
    add_connection(
        &pool,
        "webhooks-only",
        CrmKind::Standard,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        None,
    )
    .await;
    let accounts: Vec<(Uuid, String)> = sqlx::query_as(
        "select id, crm_id from accounts where crm_source = $1 order by crm_id limit 3",
    )
    .bind(HUBSPOT)
    .fetch_all(&pool)
    .await
    .expect("accounts");
    let change = |(account_id, crm_id): &(Uuid, String), source: &str| OwnerChange {
        account_id: *account_id,
        crm: CrmRef::new(source, crm_id.clone()),
        expected_owner: Some("owner-1".into()),
        new_owner: "owner-2".into(),
    };
    let list = vec![
        change(&accounts[0], HUBSPOT),
        change(&accounts[1], HUBSPOT),
        change(&accounts[2], "csv"),
        change(&accounts[2], "webhooks-only"),
    ];
    let team: Uuid = scalar(&pool, "insert into teams (name) values ('t') returning id").await;
    let first_plan = plan_of(&pool, team).await;

    let first = enqueue(&pool, first_plan, &list).await;
    let again = enqueue(&pool, first_plan, &list).await;

    assert_eq!((first.queued, first.skipped), (2, 2), "{first:?}");
    assert_eq!(
        first.skipped_by_reason,
        BTreeMap::from([
            (
                "connection webhooks-only has no API to write to".to_owned(),
                1
            ),
            ("no CRM connection named csv".to_owned(), 1),
        ])
    );
    assert_eq!((again.queued, again.already_queued), (0, 2), "{again:?}");
    assert_eq!(statuses(&pool, first_plan).await.len(), 2);

    // A later plan of the team decides those accounts: the unwritten rows are superseded.
    let later = plan_of(&pool, team).await;
    let next = enqueue(&pool, later, &list[..1]).await;
    assert_eq!((next.queued, next.superseded), (1, 2), "{next:?}");
    let old = writeback::list(
        &pool,
        &writeback::OutboxFilter {
            plan_id: Some(first_plan),
            status: Some(OutboxStatus::Failed),
            scope: OutboxScope::All,
        },
        10,
    )
    .await
    .expect("list");
    assert_eq!(old.len(), 2);
    assert!(old.iter().all(|r| !r.retryable()));
    let by: Vec<Option<uuid::Uuid>> = sqlx::query_scalar(
        "select superseded_by from crm_outbox where plan_id = $1 and superseded",
    )
    .bind(first_plan)
    .fetch_all(&pool)
    .await
    .expect("superseded_by");
    assert_eq!(by, [Some(later), Some(later)]);
    assert_eq!(
        writeback::retry(&pool, old[0].id, None, OutboxScope::All)
            .await
            .expect("retry"),
        None
    );
    let stats = writeback::stats(&pool, OutboxScope::All)
        .await
        .expect("stats");
    assert_eq!((stats.pending, stats.failed), (1, 2));
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn the_dry_run_lists_the_exact_calls_and_sends_nothing(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let mut list = changes(&pool, &sim, HUBSPOT, 150).await;
    list.extend(changes(&pool, &sim, SALESFORCE, 3).await);
    let before = sim.json("/_sim/state").await;

    let calls = writeback::preview(&pool, &app.state.crm, &list)
        .await
        .expect("preview");

    let after = sim.json("/_sim/state").await;
    assert_eq!(after["calls"], before["calls"], "nothing was sent");
    assert_eq!(after["calls"]["hubspot"], json!({}));
    assert_eq!(after["api_writes"], before["api_writes"]);
    let shape: Vec<(&str, &str, &str, usize)> = calls
        .iter()
        .map(|c| (c.connection.as_str(), c.purpose, c.method, c.records))
        .collect();
    assert_eq!(
        shape,
        [
            (HUBSPOT, "read_owners", "POST", 100),
            (HUBSPOT, "write_owners", "POST", 100),
            (HUBSPOT, "read_owners", "POST", 50),
            (HUBSPOT, "write_owners", "POST", 50),
            (SALESFORCE, "read_owners", "GET", 3),
            (SALESFORCE, "write_owners", "PATCH", 3),
        ]
    );
    assert_eq!(
        calls[1].url,
        format!("{}/crm/v3/objects/companies/batch/update", sim.url)
    );
    assert_eq!(
        calls[1].body.as_ref().expect("body")["inputs"][0],
        json!({"id": list[0].crm.id, "properties": {"hubspot_owner_id": list[0].new_owner}})
    );
    assert_eq!(
        calls[0].body.as_ref().expect("body")["properties"],
        json!(["hubspot_owner_id"])
    );
    let sf_read = &calls[4];
    assert!(
        sf_read.url.starts_with(&format!(
            "{}/services/data/v62.0/query?q=SELECT+Id%2C+OwnerId+FROM+Account+WHERE+Id+IN+",
            sim.url
        )),
        "{}",
        sf_read.url
    );
    assert_eq!(sf_read.body, None);
    assert_eq!(
        calls[5].body.as_ref().expect("body"),
        &json!({"allOrNone": false, "records": list[150..].iter().map(|c| json!({
            "attributes": {"type": "Account"}, "id": c.crm.id, "OwnerId": c.new_owner
        })).collect::<Vec<_>>()})
    );
    // The same changes, really written, take the calls the dry run listed.
    let plan_id = plan(&pool).await;
    enqueue(&pool, plan_id, &list).await;
    worker(&pool, Duration::from_secs(10))
        .drain()
        .await
        .expect("drained");
    let hubspot = sim_calls(&sim, "hubspot").await;
    assert_eq!(
        hubspot.get("POST /crm/v3/objects/companies/batch/read"),
        Some(&2)
    );
    assert_eq!(
        hubspot.get("POST /crm/v3/objects/companies/batch/update"),
        Some(&2)
    );
    let salesforce = sim_calls(&sim, "salesforce").await;
    assert_eq!(
        salesforce.get("GET /services/data/{version}/query"),
        Some(&1)
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn the_outbox_page_lists_rows_for_admins_and_retries_a_failed_change(pool: PgPool) {
    let (app, _, plan_id, changes) = queued(&pool, SALESFORCE, 1).await;
    sqlx::query(
        "update crm_outbox set status = 'failed', last_error = 'the CRM failed with HTTP 500'",
    )
    .execute(&pool)
    .await
    .expect("failed");
    let id: i64 = scalar(&pool, "select id from crm_outbox").await;
    let admin = app.client_as(ADMIN).await;

    let html = page_html(&admin, &app, "/territories/outbox?status=failed").await;

    assert!(html.contains(&format!("data-outbox=\"{id}\"")), "{html}");
    assert!(html.contains(&changes[0].crm.id));
    assert!(html.contains("the CRM failed with HTTP 500"));
    assert!(html.contains(r#"<span id="outbox-failed">1</span>"#));
    let resp = post_form(
        &admin,
        &app,
        &format!("/territories/outbox/{id}/retry"),
        &[("csrf", csrf_in(&html).as_str())],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        statuses(&pool, plan_id).await[0].1,
        OutboxStatus::Pending,
        "queued again"
    );
    let no_csrf = post_form(
        &admin,
        &app,
        &format!("/territories/outbox/{id}/retry"),
        &[("csrf", "wrong")],
    )
    .await;
    assert_eq!(no_csrf.status(), 403);

    // A manager sees only their teams' plans: not this one.
    let manager = app.client_as("manager.a@example.com").await;
    let html = page_html(&manager, &app, "/territories/outbox").await;
    assert!(!html.contains(&format!("data-outbox=\"{id}\"")));
    assert_eq!(
        status_of(&cookie_client(), app.url("/territories/outbox")).await,
        303,
        "anonymous visitors are sent to sign in"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn each_manager_sees_only_their_teams_outbox_rows_and_totals(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let plan_a = plan_named(&pool, "Team A", "Plan of team A").await;
    let plan_b = plan_named(&pool, "Team B", "Plan of team B").await;
    let all = changes(&pool, &sim, SALESFORCE, 4).await;
    enqueue(&pool, plan_a, &all[..1]).await;
    enqueue(&pool, plan_b, &all[1..]).await;
    // Team B: one failed, two pending; team A: one pending.
    sqlx::query(
        "update crm_outbox set status = 'failed', last_error = 'HTTP 500'
         where id = (select min(id) from crm_outbox where plan_id = $1)",
    )
    .bind(plan_b)
    .execute(&pool)
    .await
    .expect("failed");
    let names = |changes: &[OwnerChange]| {
        let ids: Vec<Uuid> = changes.iter().map(|c| c.account_id).collect();
        sqlx::query_scalar::<_, String>("select name from accounts where id = any($1)")
            .bind(ids)
            .fetch_all(&pool)
    };
    let names_a = names(&all[..1]).await.expect("names");
    let names_b = names(&all[1..]).await.expect("names");
    let counts = |pending: i64, failed: i64| {
        format!(
            r#"<span id="outbox-pending">{pending}</span> pending,
      <span id="outbox-done">0</span> done,
      <span id="outbox-conflict">0</span> conflicts,
      <span id="outbox-failed">{failed}</span> failed."#
        )
    };

    let manager_a = app.client_as("manager.a@example.com").await;
    let html_a = page_html(&manager_a, &app, "/territories/outbox").await;
    let manager_b = app.client_as("manager.b@example.com").await;
    let html_b = page_html(&manager_b, &app, "/territories/outbox").await;
    let admin = app.client_as(ADMIN).await;
    let html_admin = page_html(&admin, &app, "/territories/outbox").await;

    assert!(html_a.contains(&counts(1, 0)), "{html_a}");
    assert!(html_b.contains(&counts(2, 1)), "{html_b}");
    assert!(html_admin.contains(&counts(3, 1)), "{html_admin}");
    let leaks =
        |html: &str, plan: Uuid, plan_name: &str, theirs: &[OwnerChange], names: &[String]| {
            !html.contains(&plan.to_string())
                && !html.contains(plan_name)
                && theirs.iter().all(|c| !html.contains(&c.crm.id))
                && names.iter().all(|n| !html.contains(&askama_escaped(n)))
        };
    assert!(html_a.contains("Plan of team A") && html_a.contains(&all[0].crm.id));
    assert!(
        html_a.contains(&askama_escaped(&names_a[0])),
        "the page names accounts"
    );
    assert!(
        leaks(&html_a, plan_b, "Plan of team B", &all[1..], &names_b),
        "{html_a}"
    );
    assert!(html_b.contains("Plan of team B") && html_b.contains(&all[3].crm.id));
    assert!(
        leaks(&html_b, plan_a, "Plan of team A", &all[..1], &names_a),
        "{html_b}"
    );
    // Filtering by the other team's plan id shows nothing of it either.
    let filtered = page_html(
        &manager_a,
        &app,
        &format!("/territories/outbox?plan={plan_b}"),
    )
    .await;
    assert!(filtered.contains(&counts(1, 0)));
    assert!(!filtered.contains("data-outbox=\""), "{filtered}");
}

/// A plan of the demo team `team` named `name`.
async fn plan_named(pool: &PgPool, team: &str, name: &str) -> Uuid {
    sqlx::query_scalar(
        "insert into territory_plans (team_id, name, method)
         select id, $2, 'current' from teams where name = $1 returning id",
    )
    .bind(team)
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("plan")
}

/// `s` as the templates write it into HTML.
fn askama_escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Strings an attacker could put in a CRM record or a webhook.
const HOSTILE: [&str; 4] = [
    "<script>alert(1)</script>",
    "=HYPERLINK(\"http://x\",\"y\")",
    "\u{202e}gnp.exe",
    "<img src=x onerror=alert(2)>",
];

#[sqlx::test]
async fn hostile_names_and_event_ids_are_shown_as_text_on_the_outbox_and_sync_pages(pool: PgPool) {
    let (app, sim) = setup(&pool).await;
    let plan = plan_named(&pool, "Team A", "<b>Plan</b> of team A").await;
    let all = changes(&pool, &sim, SALESFORCE, 4).await;
    enqueue(&pool, plan, &all).await;
    for (change, name) in all.iter().zip(HOSTILE) {
        sqlx::query("update accounts set name = $2 where id = $1")
            .bind(change.account_id)
            .bind(name)
            .execute(&pool)
            .await
            .expect("hostile name");
    }
    // Inbox rows as a CRM could make them: the event id is the sender's, the error ours.
    for (i, text) in HOSTILE.iter().enumerate() {
        sqlx::query(
            "insert into crm_inbox (connection_id, event_id, payload, status, last_error, attempts)
             select id, $1, '{}', $2::crm_inbox_status, $3, 5 from crm_connections
             order by name limit 1",
        )
        .bind(format!("{text}-{i}"))
        .bind(if i % 2 == 0 { "dead" } else { "pending" })
        .bind(format!("field name: {text}"))
        .execute(&pool)
        .await
        .expect("inbox row");
    }
    let admin = app.client_as(ADMIN).await;

    for path in ["/territories/outbox", "/admin/sync"] {
        let html = page_html(&admin, &app, path).await;
        for text in HOSTILE {
            assert!(
                html.contains(&askama_escaped(text)),
                "{path} shows {text:?} as text"
            );
            if text.contains('<') {
                assert!(!html.contains(text), "{path} carries {text:?} as markup");
            }
        }
        assert!(
            !html.contains("<b>Plan</b>"),
            "{path}: plan names are text too"
        );
    }
}
