//! Against the CRM simulator (a separate process speaking HubSpot's and Salesforce's APIs and
//! sending their webhooks): read-back of HubSpot notices, and reconciliation repairing what
//! dropped webhooks missed.

use crate::helpers::count;
use crate::helpers::scalar;
use std::collections::BTreeMap;

use sqlx::PgPool;
use terrane::crm::apply::ClockGuard;
use terrane::crm::connection::{self, ConnectionInput, CrmKind};
use terrane::crm::reconcile::{self, Trigger};
use tokio::io::AsyncBufReadExt;

use crate::crm_sync::{drain, key};
use crate::helpers::{TestApp, seed_demo, spawn_app};

/// The simulator's development credentials (its defaults; docs/crm-simulator.md).
const HUBSPOT_CLIENT_SECRET: &str = "terrane-dev-hubspot-client-secret";
pub const SALESFORCE_ORG: &str = "00DSm00000TeRRA";
/// The simulator's HubSpot account (portal) id and Salesforce webhook path token.
pub const SIM_HUBSPOT_PORTAL: &str = "4410001";
pub const SIM_SALESFORCE_PATH_TOKEN: &str = "terrane-dev-salesforce-path-token";

pub struct Sim {
    pub url: String,
    _child: tokio::process::Child,
}

impl Sim {
    /// Posts to the simulator's `path` (with `body` as JSON, if any) and checks it succeeded.
    pub async fn post(&self, path: &str, body: Option<&serde_json::Value>) -> reqwest::Response {
        let mut request = reqwest::Client::new().post(format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = request.send().await.expect("the simulator answers");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp
    }

    /// The simulator's JSON at `path` (its state, its call log).
    pub async fn json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("json")
    }
}

/// Starts `terrane-crm-sim` on a free port with the demo's records, sending webhooks to `app`.
pub async fn spawn_sim(app: &TestApp, extra: &[&str]) -> Sim {
    spawn_sim_on(
        app,
        &crate::helpers::repo_path("seed-data/demo-crm.json"),
        extra,
    )
    .await
}

/// A simulator dataset holding only these Salesforce Accounts (Id, name, street), each
/// otherwise a copy of the demo's first Salesforce account; written to a temporary file.
pub fn salesforce_dataset(accounts: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let demo: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::helpers::repo_path("seed-data/demo-crm.json")).expect("dataset"),
    )
    .expect("json");
    let template = demo["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["crm_source"] == "demo-salesforce")
        .expect("a Salesforce account")
        .clone();
    let mut data = demo.clone();
    data["accounts"] = accounts
        .iter()
        .map(|(id, name, street)| {
            let mut a = template.clone();
            a["crm_id"] = (*id).into();
            a["name"] = (*name).into();
            a["address"]["street"] = (*street).into();
            a
        })
        .collect();
    let path = std::env::temp_dir().join(format!("terrane-sim-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&data).expect("json")).expect("write dataset");
    path
}

/// Starts `terrane-crm-sim` on a free port with the records of `dataset`.
pub async fn spawn_sim_on(app: &TestApp, dataset: &std::path::Path, extra: &[&str]) -> Sim {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_terrane-crm-sim"))
        .args(["--listen", "127.0.0.1:0", "--retry-base-ms", "50"])
        .args(["--terrane-url", &format!("http://{}", app.addr)])
        .args(["--dataset", &dataset.display().to_string()])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the simulator starts (cargo builds it for the tests)");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines
        .next_line()
        .await
        .expect("read")
        .expect("a first line");
    let url = first
        .strip_prefix("listening on ")
        .expect("`listening on URL`")
        .trim()
        .to_owned();
    Sim { url, _child: child }
}

/// The demo's two connections, pointed at the simulator with its development credentials,
/// portal id and path token.
pub async fn connect_demo(pool: &PgPool, sim: &Sim) {
    for (name, kind, secret, client) in [
        (
            "demo-hubspot",
            CrmKind::HubSpot,
            HUBSPOT_CLIENT_SECRET,
            "hubspot",
        ),
        (
            "demo-salesforce",
            CrmKind::Salesforce,
            "not-used-by-salesforce",
            "salesforce",
        ),
    ] {
        connection::create(
            pool,
            Some(&key()),
            &ConnectionInput {
                name: name.into(),
                kind: Some(kind),
                api_base_url: Some(sim.url.clone()),
                organization_id: Some(
                    match kind {
                        CrmKind::Salesforce => SALESFORCE_ORG,
                        _ => SIM_HUBSPOT_PORTAL,
                    }
                    .to_owned(),
                ),
                enabled: true,
                add_webhook_secret: Some(secret.into()),
                webhook_token: (kind == CrmKind::Salesforce)
                    .then(|| SIM_SALESFORCE_PATH_TOKEN.to_owned()),
                client_id: Some(format!("terrane-dev-{client}-client")),
                client_secret: Some(format!("terrane-dev-{client}-client-secret")),
                refresh_token: Some(format!("terrane-dev-{client}-refresh-token")),
                ..ConnectionInput::default()
            },
        )
        .await
        .expect("connection");
    }
}

/// What both sides hold, per (source, id): name, tier, owner, value.
type State = BTreeMap<(String, String), (String, String, Option<String>, i64)>;

async fn sim_state(sim: &Sim) -> State {
    let s = sim.json("/_sim/state").await;
    let mut out = State::new();
    for c in s["hubspot"].as_array().expect("hubspot") {
        let p = &c["properties"];
        let text = |k: &str| p[k].as_str().map(str::to_owned);
        out.insert(
            (
                "demo-hubspot".into(),
                c["id"].as_str().expect("id").to_owned(),
            ),
            (
                text("name").expect("name"),
                text("terrane_tier").unwrap_or_else(|| "C".into()),
                text("hubspot_owner_id"),
                text("terrane_annual_value")
                    .map_or(0, |v| v.parse::<f64>().expect("number").round() as i64),
            ),
        );
    }
    for a in s["salesforce"].as_array().expect("salesforce") {
        let value = a["Terrane_Annual_Value__c"].as_f64().unwrap_or(0.0);
        out.insert(
            (
                "demo-salesforce".into(),
                a["Id"].as_str().expect("Id").to_owned(),
            ),
            (
                a["Name"].as_str().expect("Name").to_owned(),
                a["Terrane_Tier__c"].as_str().unwrap_or("C").to_owned(),
                a["OwnerId"].as_str().map(str::to_owned),
                value.round() as i64,
            ),
        );
    }
    out
}

async fn local_state(pool: &PgPool) -> State {
    let rows: Vec<(String, String, String, String, Option<String>, f64)> = sqlx::query_as(
        r"
        select a.crm_source, a.crm_id, a.name, a.tier::text,
               coalesce(a.crm_owner_id, r.crm_owner_id), a.annual_value::float8
        from accounts a left join reps r on r.id = a.owner_rep_id
        where a.deleted_at is null and a.crm_source in ('demo-hubspot', 'demo-salesforce')
        ",
    )
    .fetch_all(pool)
    .await
    .expect("accounts");
    rows.into_iter()
        .map(|(s, id, name, tier, owner, value)| {
            ((s, id), (name, tier, owner, value.round() as i64))
        })
        .collect()
}

async fn edits(sim: &Sim, body: serde_json::Value) -> serde_json::Value {
    let resp = sim.post("/_sim/edits", Some(&body)).await;
    resp.json().await.expect("json")
}

fn diff(a: &State, b: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{k:?} only in the CRM")),
            Some(w) if w != v => out.push(format!("{k:?}: CRM {v:?} vs local {w:?}")),
            Some(_) => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("{k:?} only in Terrane"));
        }
    }
    out
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn crm_edits_arrive_by_webhook_and_hubspot_notices_are_read_back_in_full(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;
    assert_eq!(
        diff(&sim_state(&sim).await, &local_state(&pool).await),
        Vec::<String>::new(),
        "the seed is the CRMs' data"
    );

    let report = edits(
        &sim,
        serde_json::json!({"count": 200, "seed": 11,
                           "kinds": ["name", "tier", "annual_value", "owner", "create", "delete", "merge", "restore"]}),
    )
    .await;
    assert_eq!(report["hubspot"]["failed"], 0, "{report}");
    assert_eq!(report["salesforce"]["failed"], 0, "{report}");
    let r = drain(&app).await;
    assert!(r.effects > 100, "{r:?}");
    assert_eq!(r.dead, 0);

    // Salesforce never sends deletions; everything else matches after webhooks alone.
    let sim_now = sim_state(&sim).await;
    let local = local_state(&pool).await;
    let problems: Vec<String> = diff(&sim_now, &local)
        .into_iter()
        .filter(|p| !(p.contains("demo-salesforce") && p.contains("only in Terrane")))
        .collect();
    assert_eq!(problems, Vec::<String>::new());
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reconciliation_repairs_what_dropped_webhooks_missed_and_a_second_run_changes_nothing(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;

    let report = edits(
        &sim,
        serde_json::json!({"count": 400, "seed": 5, "drop_ratio": 0.05,
                           "kinds": ["name", "tier", "annual_value", "owner", "address", "create", "delete", "merge", "restore"]}),
    )
    .await;
    let dropped = report["hubspot"]["dropped"].as_u64().unwrap_or(0)
        + report["salesforce"]["dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 0, "some webhooks were dropped: {report}");
    drain(&app).await;
    let sim_now = sim_state(&sim).await;
    assert!(
        !diff(&sim_now, &local_state(&pool).await).is_empty(),
        "dropped webhooks leave drift"
    );

    let mut reports = Vec::new();
    for conn in connection::list(&pool).await.expect("connections") {
        let r = crate::helpers::reconcile_now(&pool, &app, &conn)
            .await
            .expect("reconciliation runs");
        assert_eq!(r.status, "ok");
        assert_eq!(r.errors, 0, "{:?}", r.error_samples);
        reports.push(r);
    }
    assert!(
        reports
            .iter()
            .any(|r| r.updated + r.created + r.deleted > 0),
        "drift repaired: {reports:?}"
    );
    assert_eq!(
        diff(&sim_now, &local_state(&pool).await),
        Vec::<String>::new()
    );

    // Twice in a row: the second run changes nothing.
    for conn in connection::list(&pool).await.expect("connections") {
        let r = crate::helpers::reconcile_now(&pool, &app, &conn)
            .await
            .expect("second run");
        assert_eq!((r.created, r.updated, r.deleted), (0, 0, 0), "{r:?}");
        assert_eq!(r.unchanged, r.remote_records);
    }
    let stored = count(&pool, "crm_reconciliations where status = 'ok'").await;
    assert_eq!(stored, 4, "each run stores its report");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_expired_token_is_refreshed_once_and_saved_sealed(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &["--token-ttl-s", "3600"]).await;
    connect_demo(&pool, &sim).await;
    let conn = crate::helpers::connection_named(&pool, "demo-hubspot").await;
    crate::helpers::reconcile_now(&pool, &app, &conn)
        .await
        .expect("first run gets a token");
    let sealed: Option<Vec<u8>> = scalar(
        &pool,
        "select oauth_token from crm_connections where name = 'demo-hubspot'",
    )
    .await;
    let sealed = sealed.expect("the access token is saved");
    assert!(
        !String::from_utf8_lossy(&sealed).contains("access_token"),
        "sealed"
    );

    // The CRM revokes every token: the next run gets a 401, refreshes once, and succeeds.
    sim.post("/_sim/tokens/expire", None).await;
    let r = crate::helpers::reconcile_now(&pool, &app, &conn)
        .await
        .expect("second run refreshes");
    assert_eq!(r.status, "ok");
    let after: Option<Vec<u8>> = scalar(
        &pool,
        "select oauth_token from crm_connections where name = 'demo-hubspot'",
    )
    .await;
    assert_ne!(after, Some(sealed), "the refreshed token was saved");

    // A CRM that refuses the refresh token fails the run visibly, with a stored report.
    connection::update(
        &pool,
        Some(&key()),
        &ConnectionInput {
            name: "demo-hubspot".into(),
            enabled: true,
            refresh_token: Some("revoked-refresh-token".into()),
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("update");
    let conn = crate::helpers::connection_named(&pool, "demo-hubspot").await;
    let err = crate::helpers::reconcile_now(&pool, &app, &conn)
        .await
        .expect_err("refused credentials fail the run");
    assert!(err.to_string().contains("credentials"), "{err}");
    let failed = count(&pool, "crm_reconciliations where status = 'failed'").await;
    assert_eq!(failed, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reconcile_now_on_the_sync_page_queues_one_job_that_a_worker_runs(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;
    let admin = app.client_as(crate::helpers::ADMIN).await;
    let csrf =
        crate::helpers::csrf_in(&crate::helpers::page_html(&admin, &app, "/admin/sync").await);
    let click = || {
        admin
            .post(app.url("/admin/sync/reconcile/demo-hubspot"))
            .form(&[("csrf", csrf.as_str())])
            .send()
    };
    let page = click().await.expect("request").text().await.expect("html");
    assert!(
        page.contains("Reconciliation of demo-hubspot queued"),
        "{page}"
    );
    // A second click while it waits queues nothing more.
    let page = click().await.expect("request").text().await.expect("html");
    assert!(page.contains("already queued or running"), "{page}");
    let queued = count(
        &pool,
        "jobs where kind = 'crm_reconcile' and state = 'queued'",
    )
    .await;
    assert_eq!(queued, 1);

    let outcomes = app
        .state
        .jobs
        .drain(terrane::jobs::Lane::Crm)
        .await
        .expect("drain");
    assert!(
        matches!(outcomes[..], [terrane::jobs::Outcome::Done(_)]),
        "{outcomes:?}"
    );
    let reports = count(
        &pool,
        "crm_reconciliations where trigger = 'page' and status = 'ok'",
    )
    .await;
    assert_eq!(
        reports, 1,
        "the job ran the reconciliation and stored its report"
    );
}

/// Advisory locks of reconciliation runs held in this test's database.
async fn run_locks(pool: &PgPool) -> i64 {
    scalar(
        pool,
        "select count(*) from pg_locks
         where locktype = 'advisory' and classid = 7304 and granted
           and database = (select oid from pg_database where datname = current_database())",
    )
    .await
}

/// Waits (bounded) until `run_locks` is `n`.
async fn until_run_locks(pool: &PgPool, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while run_locks(pool).await != n {
        assert!(
            std::time::Instant::now() < deadline,
            "run locks never became {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_reconciliation_dropped_midway_releases_its_lock(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    // Every API call takes 2 s: the run is still reading when it is dropped.
    let sim = spawn_sim(&app, &["--latency-ms", "2000"]).await;
    connect_demo(&pool, &sim).await;
    let conn = crate::helpers::connection_named(&pool, "demo-hubspot").await;
    let run = tokio::spawn({
        let (pool, clients, conn) = (pool.clone(), app.state.crm.clone(), conn.clone());
        async move {
            reconcile::run(
                &pool,
                &clients,
                &conn,
                Trigger::Test,
                ClockGuard::default(),
                &|_, _| {},
            )
            .await
        }
    });
    until_run_locks(&pool, 1).await;
    // As when its job is handed back at shutdown or taken over: the future is dropped.
    run.abort();
    let _ = run.await;
    until_run_locks(&pool, 0).await;

    sim.post("/_sim/faults", Some(&serde_json::json!({"latency_ms": 0})))
        .await;
    let r = crate::helpers::reconcile_now(&pool, &app, &conn)
        .await
        .expect("the next run is not refused as busy");
    assert_eq!(r.status, "ok");
}
