//! CRM sync in through the real HTTP endpoints, inbox and worker: signatures, durability,
//! idempotence, ordering, dead letters.

use crate::helpers::count;
use crate::helpers::post_form;
use crate::helpers::{scalar, scalar_by};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use sqlx::PgPool;
use terrane::crm::canonical::{Address, CanonicalAccount, Change, Tier};
use terrane::crm::connection::{self, ConnectionInput, CrmKind};
use terrane::crm::crypto::SecretKey;
use terrane::crm::wire::{hubspot, standard};
use terrane::crm::worker::{BatchReport, Worker};

use crate::helpers::{TEST_SECRET_KEY, TestApp, spawn_app};

pub const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const STANDARD_SECRET_2: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";
pub const HUBSPOT_SECRET: &str = "hubspot-app-client-secret-1";
/// The HubSpot account (portal) id test connections are pinned to.
pub const HUBSPOT_PORTAL: &str = "62515";
/// The webhook path token of test Salesforce connections (the CRM simulator's default).
pub const SALESFORCE_PATH_TOKEN: &str = crate::crm_reconcile::SIM_SALESFORCE_PATH_TOKEN;

pub fn key() -> SecretKey {
    SecretKey::from_base64(TEST_SECRET_KEY).expect("test key")
}

/// Adds a connection the way the admin page and the CLI do.
pub async fn add_connection(
    pool: &PgPool,
    name: &str,
    kind: CrmKind,
    secret: &str,
    api_base_url: Option<String>,
) {
    connection::create(
        pool,
        Some(&key()),
        &ConnectionInput {
            name: name.to_owned(),
            kind: Some(kind),
            api_base_url,
            organization_id: match kind {
                CrmKind::Salesforce => Some("00D000000000062EAA".to_owned()),
                CrmKind::HubSpot => Some(HUBSPOT_PORTAL.to_owned()),
                CrmKind::Standard => None,
            },
            enabled: true,
            add_webhook_secret: Some(secret.to_owned()),
            webhook_token: (kind == CrmKind::Salesforce).then(|| SALESFORCE_PATH_TOKEN.to_owned()),
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("connection is created");
}

/// A Salesforce connection `name` for organization `org`, reading back from the CRM simulator
/// at `sim_url` with its development credentials; webhooks under [`SALESFORCE_PATH_TOKEN`].
pub async fn connect_salesforce(pool: &PgPool, name: &str, sim_url: &str, org: &str) {
    connection::create(
        pool,
        Some(&key()),
        &ConnectionInput {
            name: name.to_owned(),
            kind: Some(CrmKind::Salesforce),
            api_base_url: Some(sim_url.to_owned()),
            organization_id: Some(org.to_owned()),
            enabled: true,
            client_id: Some("terrane-dev-salesforce-client".to_owned()),
            client_secret: Some("terrane-dev-salesforce-client-secret".to_owned()),
            refresh_token: Some("terrane-dev-salesforce-refresh-token".to_owned()),
            webhook_token: Some(SALESFORCE_PATH_TOKEN.to_owned()),
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("connection is created");
}

pub fn account(crm_id: &str, name: &str, at: DateTime<Utc>) -> CanonicalAccount {
    CanonicalAccount {
        crm_id: crm_id.to_owned(),
        name: name.to_owned(),
        industry: Some("shop:bakery".to_owned()),
        address: Address {
            line: None,
            house_number: Some("6".to_owned()),
            street: Some("Quai Antoine 1er".to_owned()),
            postal_code: Some("98000".to_owned()),
            city: Some("Monaco".to_owned()),
            country_code: Some("MC".to_owned()),
        },
        tier: Some(Tier::B),
        annual_value: Some(12_000.0),
        visits_per_year: Some(6),
        priority: Some(2),
        owner_crm_id: None,
        modified_at: at,
    }
}

/// A signed Standard Webhooks delivery of `change` as event `id`.
pub struct Signed {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

pub fn signed_standard(id: &str, change: &Change, secret: &str, now: DateTime<Utc>) -> Signed {
    let envelope = standard::Envelope::from_change(id, "test-erp", change);
    let body = serde_json::to_vec(&envelope).expect("envelope serializes");
    let ts = now.timestamp();
    let key = standard::parse_secret(secret).expect("secret");
    Signed {
        id: id.to_owned(),
        timestamp: ts.to_string(),
        signature: standard::sign(&key, id, ts, &body),
        body,
    }
}

pub async fn post_standard(app: &TestApp, connection: &str, s: &Signed) -> u16 {
    app.client
        .post(app.url(&format!("/webhooks/standard/{connection}")))
        .header("webhook-id", &s.id)
        .header("webhook-timestamp", &s.timestamp)
        .header("webhook-signature", &s.signature)
        .header("content-type", "application/json")
        .body(s.body.clone())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

pub async fn inbox_count(pool: &PgPool) -> i64 {
    scalar(pool, "select count(*) from crm_inbox").await
}

pub fn worker(app: &TestApp) -> Worker {
    Worker::new(
        app.state.db.clone(),
        app.state.crm.clone(),
        app.state.config.crm.clock_guard(),
    )
}

pub async fn drain(app: &TestApp) -> BatchReport {
    worker(app).drain().await.expect("worker drains")
}

async fn account_name(pool: &PgPool, source: &str, crm_id: &str) -> Option<String> {
    sqlx::query_scalar(
        "select name from accounts where crm_source = $1 and crm_id = $2 and deleted_at is null",
    )
    .bind(source)
    .bind(crm_id)
    .fetch_optional(pool)
    .await
    .expect("query")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_signed_standard_webhook_is_stored_then_applied(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    let change = Change::Upsert(account("A-1", "Boulangerie du Port", Utc::now()));
    let s = signed_standard("evt_1", &change, STANDARD_SECRET, Utc::now());

    assert_eq!(post_standard(&app, "erp", &s).await, 200);
    assert_eq!(inbox_count(&pool).await, 1, "committed before the answer");
    assert_eq!(
        account_name(&pool, "erp", "A-1").await,
        None,
        "processing is after the answer"
    );

    let r = drain(&app).await;
    assert_eq!((r.effects, r.dead), (1, 0));
    assert_eq!(
        account_name(&pool, "erp", "A-1").await.as_deref(),
        Some("Boulangerie du Port")
    );
    let status: String = scalar(
        &pool,
        "select geocode_status::text from accounts where crm_source = 'erp' and crm_id = 'A-1'",
    )
    .await;
    assert_eq!(status, "pending", "a new address waits for geocoding");

    // A redelivery is a no-op at the door.
    assert_eq!(post_standard(&app, "erp", &s).await, 200);
    assert_eq!(inbox_count(&pool).await, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn any_flipped_byte_of_a_standard_webhook_is_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    let change = Change::Upsert(account("A-1", "Name", Utc::now()));
    let good = signed_standard("evt_1", &change, STANDARD_SECRET, Utc::now());

    let mut body = good.body.clone();
    body[10] ^= 1;
    let mut variants = vec![Signed {
        body,
        ..clone(&good)
    }];
    variants.push(Signed {
        id: "evt_2".into(),
        ..clone(&good)
    });
    variants.push(Signed {
        timestamp: (Utc::now().timestamp() + 1).to_string(),
        ..clone(&good)
    });
    let wrong = signed_standard("evt_1", &change, STANDARD_SECRET_2, Utc::now());
    variants.push(Signed {
        signature: wrong.signature,
        ..clone(&good)
    });
    let stale = signed_standard(
        "evt_1",
        &change,
        STANDARD_SECRET,
        Utc::now() - Duration::minutes(6),
    );
    variants.push(stale);
    let future = signed_standard(
        "evt_1",
        &change,
        STANDARD_SECRET,
        Utc::now() + Duration::minutes(6),
    );
    variants.push(future);

    for (i, v) in variants.iter().enumerate() {
        assert_eq!(post_standard(&app, "erp", v).await, 401, "variant {i}");
    }
    assert_eq!(
        inbox_count(&pool).await,
        0,
        "nothing stored for a bad signature"
    );
    assert_eq!(
        post_standard(&app, "erp", &good).await,
        200,
        "the original still verifies"
    );
}

fn clone(s: &Signed) -> Signed {
    Signed {
        id: s.id.clone(),
        timestamp: s.timestamp.clone(),
        signature: s.signature.clone(),
        body: s.body.clone(),
    }
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_second_secret_verifies_during_rotation_and_a_retired_one_stops(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    connection::update(
        &pool,
        Some(&key()),
        &ConnectionInput {
            name: "erp".into(),
            enabled: true,
            add_webhook_secret: Some(STANDARD_SECRET_2.into()),
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("second secret added");
    let change = Change::Upsert(account("A-1", "Name", Utc::now()));
    let old = signed_standard("evt_old", &change, STANDARD_SECRET, Utc::now());
    let new = signed_standard("evt_new", &change, STANDARD_SECRET_2, Utc::now());
    assert_eq!(post_standard(&app, "erp", &old).await, 200);
    assert_eq!(post_standard(&app, "erp", &new).await, 200);

    connection::update(
        &pool,
        Some(&key()),
        &ConnectionInput {
            name: "erp".into(),
            enabled: true,
            retire_fingerprints: vec![connection::fingerprint(STANDARD_SECRET)],
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("old secret retired");
    let old_again = signed_standard("evt_old_2", &change, STANDARD_SECRET, Utc::now());
    assert_eq!(post_standard(&app, "erp", &old_again).await, 401);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn ten_thousand_events_delivered_one_to_three_times_concurrently_have_ten_thousand_effects(
    pool: PgPool,
) {
    let app = Arc::new(spawn_app(pool.clone()).await);
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    let now = Utc::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut deliveries = Vec::new();
    for n in 0..10_000 {
        let change = Change::Upsert(account(&format!("A-{n}"), &format!("Account {n}"), now));
        let s = Arc::new(signed_standard(
            &format!("evt_{n}"),
            &change,
            STANDARD_SECRET,
            now,
        ));
        let times = 1 + (n % 3);
        for _ in 0..times {
            deliveries.push(s.clone());
        }
    }
    deliveries.shuffle(&mut rng);
    let total = deliveries.len();

    // 16 concurrent senders, while two workers drain concurrently.
    let queue = Arc::new(tokio::sync::Mutex::new(deliveries));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (queue, app) = (queue.clone(), app.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let Some(s) = queue.lock().await.pop() else {
                    return;
                };
                assert_eq!(post_standard(&app, "erp", &s).await, 200);
            }
        }));
    }
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let w = worker(&app).with_batch_size(100);
            tokio::spawn(async move {
                let mut sum = BatchReport::default();
                for _ in 0..200 {
                    let r = w.drain().await.expect("drain");
                    sum.effects += r.effects;
                    sum.no_effect += r.no_effect;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                sum
            })
        })
        .collect();
    for s in senders {
        s.await.expect("sender");
    }
    let mut effects = 0;
    let mut no_effect = 0;
    for w in workers {
        let r = w.await.expect("worker");
        effects += r.effects;
        no_effect += r.no_effect;
    }
    let r = drain(&app).await;
    effects += r.effects;
    no_effect += r.no_effect;

    assert!(total > 19_000, "{total} deliveries");
    assert_eq!(inbox_count(&pool).await, 10_000);
    assert_eq!(effects, 10_000);
    assert_eq!(no_effect, 0);
    let accounts = count(
        &pool,
        "accounts where crm_source = 'erp' and deleted_at is null",
    )
    .await;
    assert_eq!(accounts, 10_000);
    let applied = count(
        &pool,
        "crm_inbox where status = 'done' and outcome = 'created'",
    )
    .await;
    assert_eq!(applied, 10_000);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn events_for_one_account_delivered_newest_first_leave_the_newest_state(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    let t0 = Utc::now() - Duration::minutes(3);
    let versions: Vec<Change> = (0..5)
        .map(|i| {
            Change::Upsert(account(
                "A-1",
                &format!("Version {i}"),
                t0 + Duration::seconds(i),
            ))
        })
        .collect();
    // Newest first, each processed before the next arrives (the hardest order).
    for (i, change) in versions.iter().enumerate().rev() {
        let s = signed_standard(&format!("evt_{i}"), change, STANDARD_SECRET, Utc::now());
        assert_eq!(post_standard(&app, "erp", &s).await, 200);
        drain(&app).await;
    }
    assert_eq!(
        account_name(&pool, "erp", "A-1").await.as_deref(),
        Some("Version 4")
    );
    let outcomes: Vec<String> =
        sqlx::query_scalar("select outcome from crm_inbox order by event_id")
            .fetch_all(&pool)
            .await
            .expect("outcomes");
    assert_eq!(outcomes, ["stale", "stale", "stale", "stale", "created"]);

    // A deletion older than the newest state is stale too; a newer one deletes, and an
    // older update afterwards does not bring the account back.
    let del_old = Change::Delete {
        crm_id: "A-1".into(),
        at: t0,
    };
    let del_new = Change::Delete {
        crm_id: "A-1".into(),
        at: t0 + Duration::seconds(10),
    };
    let late_update = Change::Upsert(account("A-1", "Late", t0 + Duration::seconds(9)));
    for (id, c) in [("d1", &del_old), ("d2", &del_new), ("u9", &late_update)] {
        let s = signed_standard(id, c, STANDARD_SECRET, Utc::now());
        assert_eq!(post_standard(&app, "erp", &s).await, 200);
        drain(&app).await;
    }
    assert_eq!(
        account_name(&pool, "erp", "A-1").await,
        None,
        "deleted and stays deleted"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_event_the_database_refuses_becomes_a_dead_letter_that_an_admin_can_retry(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    crate::helpers::seed_demo(&pool).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    // More visits a year than there are days: the table's check refuses it.
    let bad = Change::Upsert(CanonicalAccount {
        visits_per_year: Some(999),
        ..account("A-bad", "Bakery Kept Private", Utc::now())
    });
    let good = Change::Upsert(account("A-good", "Fine", Utc::now()));
    for (id, c) in [("evt_bad", &bad), ("evt_good", &good)] {
        let s = signed_standard(id, c, STANDARD_SECRET, Utc::now());
        assert_eq!(post_standard(&app, "erp", &s).await, 200);
    }
    let r = drain(&app).await;
    assert_eq!(
        (r.effects, r.dead),
        (1, 1),
        "one bad event does not block the other"
    );
    assert_eq!(
        account_name(&pool, "erp", "A-good").await.as_deref(),
        Some("Fine")
    );

    let admin = app.client_as(crate::helpers::ADMIN).await;
    let html = crate::helpers::page_html(&admin, &app, "/admin/sync").await;
    assert!(html.contains("evt_bad"), "the dead letter is listed");
    assert!(
        html.contains("accounts_visits_per_year_check"),
        "with its reason"
    );
    assert!(!html.contains("Bakery Kept Private"), "but not its content");
    let id: i64 = scalar(&pool, "select id from crm_inbox where status = 'dead'").await;
    let csrf = crate::helpers::csrf_in(&html);
    let resp = post_form(
        &admin,
        &app,
        &format!("/admin/sync/dead/{id}/retry"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let status: String = scalar_by(
        &pool,
        "select status::text from crm_inbox where id = $1",
        id,
    )
    .await;
    assert_eq!(status, "pending");
    assert_eq!(
        crate::helpers::audit_count(&pool, "crm.dead_letter_retried").await,
        1
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn webhooks_answer_503_when_the_database_is_down_so_the_crm_retries(pool: PgPool) {
    // A pool pointing at a port where no database listens.
    let dead = crate::helpers::dead_url().replace("http://", "postgres://postgres@");
    let down = terrane::db::connect_lazy(&format!("{dead}/terrane"), 2).expect("lazy pool");
    let app = crate::helpers::spawn_app_with(down, &[]).await;
    let change = Change::Upsert(account("A-1", "Name", Utc::now()));
    let s = signed_standard("evt_1", &change, STANDARD_SECRET, Utc::now());
    assert_eq!(post_standard(&app, "erp", &s).await, 503);
    let resp = app
        .client
        .post(app.url("/webhooks/hubspot"))
        .body("[]")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    drop(pool);
}

/// A HubSpot v3-signed POST of `body` to the app, as HubSpot signs it.
pub async fn post_hubspot(
    app: &TestApp,
    secret: &str,
    body: &[u8],
    method_signed: &str,
    uri_signed: Option<String>,
    ts: i64,
) -> u16 {
    let uri = uri_signed.unwrap_or_else(|| {
        hubspot::request_uri(&format!("http://{}", app.addr), "/webhooks/hubspot")
    });
    let ts = ts.to_string();
    let sig = hubspot::sign_v3(secret.as_bytes(), method_signed, &uri, body, &ts);
    app.client
        .post(app.url("/webhooks/hubspot"))
        .header(hubspot::SIGNATURE_HEADER, sig)
        .header(hubspot::TIMESTAMP_HEADER, ts)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

fn hubspot_batch(n: usize) -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "eventId": 1000 + i, "subscriptionId": 77, "portalId": 62515, "appId": 4242,
                "occurredAt": Utc::now().timestamp_millis(), "subscriptionType": "company.propertyChange",
                "attemptNumber": 0, "objectId": 10_000_001 + i, "changeSource": "CRM",
                "propertyName": "name", "propertyValue": "New name"
            })
        })
        .collect();
    serde_json::to_vec(&events).expect("json")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn any_flipped_byte_of_a_hubspot_webhook_is_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "hs", CrmKind::HubSpot, HUBSPOT_SECRET, None).await;
    let body = hubspot_batch(3);
    let now = Utc::now().timestamp_millis();
    let base = format!("http://{}", app.addr);

    let mut flipped = body.clone();
    flipped[5] ^= 1;
    // (what is flipped, body, method signed, URI signed, timestamp, secret)
    type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<String>, i64, &'a str);
    let cases: Vec<Case> = vec![
        ("body", flipped, "POST", None, now, HUBSPOT_SECRET),
        ("method", body.clone(), "PUT", None, now, HUBSPOT_SECRET),
        (
            "uri",
            body.clone(),
            "POST",
            Some(format!("{base}/webhooks/hubspoT")),
            now,
            HUBSPOT_SECRET,
        ),
        (
            "secret",
            body.clone(),
            "POST",
            None,
            now,
            "hubspot-app-client-secret-2",
        ),
        (
            "stale",
            body.clone(),
            "POST",
            None,
            now - 301_000,
            HUBSPOT_SECRET,
        ),
        (
            "future",
            body.clone(),
            "POST",
            None,
            now + 301_000,
            HUBSPOT_SECRET,
        ),
    ];
    for (what, b, method, uri, ts, secret) in cases {
        // The signature is computed over the altered input but the request carries the
        // original, so exactly one thing differs.
        let status = if what == "body" {
            let uri = hubspot::request_uri(&base, "/webhooks/hubspot");
            let sig = hubspot::sign_v3(secret.as_bytes(), method, &uri, &body, &ts.to_string());
            app.client
                .post(app.url("/webhooks/hubspot"))
                .header(hubspot::SIGNATURE_HEADER, sig)
                .header(hubspot::TIMESTAMP_HEADER, ts.to_string())
                .body(b)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        } else {
            post_hubspot(&app, secret, &b, method, uri, ts).await
        };
        assert_eq!(status, 401, "flipped {what}");
    }
    // A timestamp flipped after signing.
    let uri = hubspot::request_uri(&base, "/webhooks/hubspot");
    let sig = hubspot::sign_v3(
        HUBSPOT_SECRET.as_bytes(),
        "POST",
        &uri,
        &body,
        &now.to_string(),
    );
    let resp = app
        .client
        .post(app.url("/webhooks/hubspot"))
        .header(hubspot::SIGNATURE_HEADER, sig)
        .header(hubspot::TIMESTAMP_HEADER, (now + 1).to_string())
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401, "flipped timestamp");
    let err: serde_json::Value = resp.json().await.expect("json error body");
    assert_eq!(err["error"]["code"], "bad_signature");
    assert_eq!(inbox_count(&pool).await, 0);

    assert_eq!(
        post_hubspot(&app, HUBSPOT_SECRET, &body, "POST", None, now).await,
        200
    );
    assert_eq!(inbox_count(&pool).await, 3);
    assert_eq!(
        post_hubspot(&app, HUBSPOT_SECRET, &body, "POST", None, now).await,
        200
    );
    assert_eq!(
        inbox_count(&pool).await,
        3,
        "redelivery of the batch is a no-op"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn salesforce_outbound_messages_are_acked_checked_by_organization_and_faulted_when_malformed(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    // The record the notice names, as the CRM's API holds it (the worker reads it back).
    let dataset = crate::crm_reconcile::salesforce_dataset(&[(
        "001Dm000000000AIAA",
        "Cafe de Paris",
        "Place du Casino",
    )]);
    let sim = crate::crm_reconcile::spawn_sim_on(&app, &dataset, &[]).await;
    connect_salesforce(&pool, "sf", &sim.url, "00D000000000062EAA").await;
    let msg = |org: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000062</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000062</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>001Dm000000000AIAA</sf:Id>
     <sf:Name>Cafe de Paris</sf:Name>
     <sf:BillingStreet>Place du Casino</sf:BillingStreet>
     <sf:BillingCity>Monaco</sf:BillingCity>
     <sf:BillingCountryCode>MC</sf:BillingCountryCode>
     <sf:LastModifiedDate>2026-11-24T10:00:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
        )
    };
    let post = |body: String| {
        app.client
            .post(app.url(&format!("/webhooks/salesforce/{SALESFORCE_PATH_TOKEN}")))
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(body)
            .send()
    };
    let resp = post(msg("00D000000000099")).await.expect("request");
    assert_eq!(resp.status(), 401, "another organization");
    assert!(resp.text().await.expect("text").contains("Fault"));
    assert_eq!(inbox_count(&pool).await, 0);

    let resp = post("<not-soap".into()).await.expect("request");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.expect("text").contains("faultcode"));

    let resp = post(msg("00D000000000062")).await.expect("request");
    assert_eq!(
        resp.status(),
        200,
        "15-character form of the 18-character org id"
    );
    let ack = resp.text().await.expect("text");
    assert!(ack.contains("<Ack>true</Ack>"), "{ack}");
    assert_eq!(inbox_count(&pool).await, 1);
    let r = drain(&app).await;
    assert_eq!(r.effects, 1);
    assert_eq!(
        account_name(&pool, "sf", "001Dm000000000AIAA")
            .await
            .as_deref(),
        Some("Cafe de Paris")
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_admin_adds_a_connection_whose_secrets_are_sealed_and_never_shown_again(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.client_as(crate::helpers::ADMIN).await;
    let html = crate::helpers::page_html(&admin, &app, "/admin/connections/new").await;
    let csrf = crate::helpers::csrf_in(&html);
    let refresh = "refresh-token-that-must-stay-secret";
    let resp = post_form(
        &admin,
        &app,
        "/admin/connections",
        &[
            ("csrf", csrf.as_str()),
            ("name", "acme-hubspot"),
            ("kind", "hubspot"),
            ("api_base_url", "https://api.hubapi.com"),
            ("organization_id", HUBSPOT_PORTAL),
            ("enabled", "on"),
            ("webhook_secret", HUBSPOT_SECRET),
            ("client_id", "client-id-1"),
            ("client_secret", "client-secret-1"),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let page = crate::helpers::page_html(&admin, &app, "/admin/connections/acme-hubspot").await;
    for secret in [HUBSPOT_SECRET, "client-secret-1", refresh] {
        assert!(!page.contains(secret), "the page never shows a secret");
    }
    assert!(page.contains(&connection::fingerprint(HUBSPOT_SECRET)));
    let sealed: Vec<u8> = scalar(
        &pool,
        "select secrets from crm_connections where name = 'acme-hubspot'",
    )
    .await;
    assert!(
        !sealed
            .windows(refresh.len())
            .any(|w| w == refresh.as_bytes()),
        "sealed at rest"
    );
    let opened = connection::secrets(
        &pool,
        Some(&key()),
        crate::helpers::connection_named(&pool, "acme-hubspot")
            .await
            .id,
    )
    .await
    .expect("opens with the key");
    assert_eq!(opened.refresh_token.as_deref(), Some(refresh));
    assert_eq!(
        crate::helpers::audit_count(&pool, "crm.connection_created").await,
        1
    );
    let audit: String = scalar(
        &pool,
        "select details::text from audit_log where action = 'crm.connection_created'",
    )
    .await;
    assert!(!audit.contains(refresh) && !audit.contains(HUBSPOT_SECRET));

    // Editing without secret fields keeps them; a bad organization id is a clear 400.
    let html = crate::helpers::page_html(&admin, &app, "/admin/connections/acme-hubspot").await;
    let csrf = crate::helpers::csrf_in(&html);
    let resp = post_form(
        &admin,
        &app,
        "/admin/connections/acme-hubspot",
        &[
            ("csrf", csrf.as_str()),
            ("name", "x"),
            ("api_base_url", "https://api.hubapi.com"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let c = crate::helpers::connection_named(&pool, "acme-hubspot").await;
    assert!(!c.enabled, "the unchecked box disabled it");
    let kept = connection::secrets(&pool, Some(&key()), c.id)
        .await
        .expect("opens");
    assert_eq!(kept.refresh_token.as_deref(), Some(refresh));
    let resp = post_form(
        &admin,
        &app,
        "/admin/connections",
        &[
            ("csrf", csrf.as_str()),
            ("name", "sf"),
            ("kind", "salesforce"),
            ("organization_id", "bad"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_connection");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_hubspot_connection_pinned_to_a_portal_refuses_other_portals_events(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    connection::create(
        &pool,
        Some(&key()),
        &ConnectionInput {
            name: "hs".into(),
            kind: Some(CrmKind::HubSpot),
            organization_id: Some("62515".into()),
            enabled: true,
            add_webhook_secret: Some(HUBSPOT_SECRET.into()),
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("connection");
    let now = Utc::now().timestamp_millis();
    let ours = hubspot_batch(2);
    assert_eq!(
        post_hubspot(&app, HUBSPOT_SECRET, &ours, "POST", None, now).await,
        200
    );
    let theirs = String::from_utf8(ours)
        .expect("utf8")
        .replace("62515", "99999");
    assert_eq!(
        post_hubspot(&app, HUBSPOT_SECRET, theirs.as_bytes(), "POST", None, now).await,
        401,
        "same app secret, another HubSpot account"
    );
    assert_eq!(inbox_count(&pool).await, 2);
}

/// Byte-level mutations of `valid`: flips, truncations, insertions, and plain noise.
fn mutants(valid: &[u8], n: usize, seed: u64) -> Vec<Vec<u8>> {
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut b = valid.to_vec();
            match i % 4 {
                0 => {
                    for _ in 0..rng.random_range(1..8) {
                        let at = rng.random_range(0..b.len());
                        b[at] = rng.random();
                    }
                }
                1 => b.truncate(rng.random_range(0..b.len())),
                2 => {
                    let at = rng.random_range(0..b.len());
                    let junk: Vec<u8> =
                        (0..rng.random_range(1..40)).map(|_| rng.random()).collect();
                    b.splice(at..at, junk);
                }
                _ => {
                    b = (0..rng.random_range(0..300))
                        .map(|_| rng.random())
                        .collect();
                }
            }
            b
        })
        .collect()
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn mangled_but_correctly_signed_bodies_get_4xx_never_5xx_on_all_three_endpoints(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    add_connection(&pool, "hs", CrmKind::HubSpot, HUBSPOT_SECRET, None).await;
    add_connection(&pool, "sf", CrmKind::Salesforce, "unused-secret", None).await;
    let change = Change::Upsert(account("A-1", "Name", Utc::now()));
    let valid_standard = signed_standard("evt_1", &change, STANDARD_SECRET, Utc::now()).body;
    let key = standard::parse_secret(STANDARD_SECRET).expect("secret");
    let now = Utc::now();
    for (i, body) in mutants(&valid_standard, 150, 1).into_iter().enumerate() {
        let id = format!("evt_fuzz_{i}");
        let s = Signed {
            signature: standard::sign(&key, &id, now.timestamp(), &body),
            timestamp: now.timestamp().to_string(),
            id,
            body,
        };
        let status = post_standard(&app, "erp", &s).await;
        assert!(
            (200..500).contains(&status) && status != 401,
            "standard mutant {i}: {status}"
        );
    }
    let valid_hubspot = hubspot_batch(3);
    for (i, body) in mutants(&valid_hubspot, 150, 2).into_iter().enumerate() {
        let status = post_hubspot(
            &app,
            HUBSPOT_SECRET,
            &body,
            "POST",
            None,
            Utc::now().timestamp_millis(),
        )
        .await;
        assert!(
            (200..500).contains(&status) && status != 401,
            "hubspot mutant {i}: {status}"
        );
    }
    let valid_soap = br#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D000000000062</OrganizationId><ActionId>04k000000000001AAA</ActionId><Notification><Id>04l000000000001AAA</Id><sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><sf:Id>001Dm000000000AIAA</sf:Id><sf:Name>Cafe</sf:Name><sf:LastModifiedDate>2026-11-24T10:00:00.000Z</sf:LastModifiedDate></sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"#;
    for (i, body) in mutants(valid_soap, 150, 3).into_iter().enumerate() {
        let status = app
            .client
            .post(app.url(&format!("/webhooks/salesforce/{SALESFORCE_PATH_TOKEN}")))
            .body(body)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16();
        assert!(
            (200..500).contains(&status),
            "salesforce mutant {i}: {status}"
        );
    }
    // Whatever was accepted is processed without a panic: applied, parked, or (HubSpot
    // notices: this connection has no API to read companies back from) retried later.
    let r = drain(&app).await;
    assert_eq!(
        r.claimed,
        r.effects + r.no_effect + r.retried + r.dead,
        "{r:?}"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn pruning_deletes_old_processed_events_and_keeps_dead_letters_and_recent_ones(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    for (id, name) in [("old", "Old"), ("new", "New"), ("bad", "Bad")] {
        // The bad one has more visits a year than there are days: the table refuses it.
        let c = Change::Upsert(CanonicalAccount {
            visits_per_year: Some(if id == "bad" { 999 } else { 6 }),
            ..account(id, name, Utc::now())
        });
        let s = signed_standard(&format!("evt_{id}"), &c, STANDARD_SECRET, Utc::now());
        assert_eq!(post_standard(&app, "erp", &s).await, 200);
    }
    drain(&app).await;
    sqlx::query("update crm_inbox set processed_at = now() - interval '40 days', received_at = now() - interval '40 days' where event_id in ('evt_old', 'evt_bad')")
        .execute(&pool)
        .await
        .expect("age");
    let deleted = terrane::crm::inbox::prune(&pool, 30).await.expect("prune");
    assert_eq!(deleted, 1);
    let left: Vec<String> = sqlx::query_scalar("select event_id from crm_inbox order by event_id")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(
        left,
        ["evt_bad", "evt_new"],
        "the dead letter and the recent event stay"
    );
}

#[sqlx::test]
async fn a_ten_kilobyte_name_from_a_crm_is_stored_cut_instead_of_blocking_the_record(pool: PgPool) {
    let at = chrono::Utc::now() - chrono::Duration::minutes(1);
    let long = format!("<script>{}</script>", "W".repeat(10_240));
    let mut conn = pool.acquire().await.expect("connection");
    terrane::crm::apply::apply(
        &mut conn,
        "demo-hubspot",
        &terrane::crm::canonical::Change::Upsert(account("LONG-1", &long, at)),
        terrane::crm::apply::ClockGuard::default(),
    )
    .await
    .expect("applied, not refused");
    let stored: String = scalar(&pool, "select name from accounts where crm_id = 'LONG-1'").await;
    assert_eq!(stored.chars().count(), 500);
    assert!(stored.starts_with("<script>WWW") && stored.ends_with('…'));
}
