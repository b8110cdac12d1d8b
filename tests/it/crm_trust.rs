//! Webhooks are notices, not truth: forged Salesforce fields never reach accounts, the
//! endpoint's path token is a second gate, future clocks are clamped and repaired, deletions
//! need the CRM's confirmation, and connections that cannot be trusted are refused or flagged.

use crate::helpers::post_form;
use crate::helpers::{scalar, scalar_by};
use chrono::{Duration, Utc};
use sqlx::PgPool;
use terrane::crm::apply::ClockGuard;
use terrane::crm::canonical::Change;
use terrane::crm::connection::{self, ConnectionInput, CrmKind};

use crate::crm_reconcile::{
    SALESFORCE_ORG, SIM_HUBSPOT_PORTAL, connect_demo, salesforce_dataset, spawn_sim, spawn_sim_on,
};
use crate::crm_sync::{
    SALESFORCE_PATH_TOKEN, STANDARD_SECRET, account, add_connection, connect_salesforce, drain,
    inbox_count, key, post_hubspot, post_standard, signed_standard,
};
use crate::helpers::{ADMIN, TestApp, csrf_in, page_html, seed_demo, spawn_app};

const RECORD: &str = "001Dm000000000AIAA";

/// An Outbound Message from `org` about Account [`RECORD`] with these field values.
fn outbound(org: &str, name: &str, street: &str, owner: &str, modified: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/{org}</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/{org}</PartnerUrl>
   <Notification>
    <Id>04l00000000{n:04}AAA</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{RECORD}</sf:Id>
     <sf:Name>{name}</sf:Name>
     <sf:BillingStreet>{street}</sf:BillingStreet>
     <sf:BillingCity>Monaco</sf:BillingCity>
     <sf:BillingCountry>MC</sf:BillingCountry>
     <sf:OwnerId>{owner}</sf:OwnerId>
     <sf:LastModifiedDate>{modified}</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#,
        n = name.len() % 10_000,
    )
}

async fn post_soap(app: &TestApp, path: &str, body: String) -> (u16, String) {
    let resp = app
        .client
        .post(app.url(path))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"\"")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("text"))
}

fn token_path() -> String {
    format!("/webhooks/salesforce/{SALESFORCE_PATH_TOKEN}")
}

/// (name, street, owner, geocode status, deleted) of one account.
type Row = (String, Option<String>, Option<String>, String, bool);

async fn row(pool: &PgPool, source: &str, crm_id: &str) -> Option<Row> {
    sqlx::query_as(
        "select name, coalesce(address_line, street), crm_owner_id, geocode_status::text,
                deleted_at is not null
         from accounts where crm_source = $1 and crm_id = $2",
    )
    .bind(source)
    .bind(crm_id)
    .fetch_optional(pool)
    .await
    .expect("query")
}

/// The app, a simulator holding only [`RECORD`] ("Cafe de Paris", Place du Casino, owner-1)
/// and a Salesforce connection `sf` reading back from it.
async fn salesforce_setup(pool: &PgPool) -> (TestApp, crate::crm_reconcile::Sim) {
    let app = spawn_app(pool.clone()).await;
    let dataset = salesforce_dataset(&[(RECORD, "Cafe de Paris", "Place du Casino")]);
    let sim = spawn_sim_on(&app, &dataset, &[]).await;
    connect_salesforce(pool, "sf", &sim.url, SALESFORCE_ORG).await;
    (app, sim)
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn forged_salesforce_fields_change_nothing_the_crm_api_does_not_confirm(pool: PgPool) {
    let (app, _sim) = salesforce_setup(&pool).await;

    // Right token, right organization, forged fields and a clock far in the future.
    let forged = outbound(
        SALESFORCE_ORG,
        "Forged Name",
        "1 Rue Fausse",
        "005FORGED0000000AA",
        "2999-01-01T00:00:00.000Z",
    );
    let (status, ack) = post_soap(&app, &token_path(), forged).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(drain(&app).await.effects, 1);
    let (name, street, owner, _, deleted) = row(&pool, "sf", RECORD).await.expect("the record");
    assert_eq!(name, "Cafe de Paris", "the name the API returns");
    assert_eq!(street.as_deref(), Some("Place du Casino"));
    assert_eq!(
        owner.as_deref(),
        Some("owner-1"),
        "the owner the API returns"
    );
    assert!(!deleted);
    let clock: chrono::DateTime<Utc> = scalar_by(
        &pool,
        "select crm_updated_at from accounts where crm_source = 'sf' and crm_id = $1",
        RECORD,
    )
    .await;
    assert!(clock < Utc::now() + Duration::minutes(5), "the API's clock");

    // Once the account is known, another forged message changes nothing at all: not the
    // name, not the owner, and the address does not go back to (paid) geocoding.
    sqlx::query("update accounts set geocode_status = 'ok' where crm_source = 'sf'")
        .execute(&pool)
        .await
        .expect("geocoded");
    let forged = outbound(
        SALESFORCE_ORG,
        "Another Forgery",
        "2 Avenue Inventée",
        "005FORGED0000000AA",
        &Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    assert_eq!(post_soap(&app, &token_path(), forged).await.0, 200);
    let r = drain(&app).await;
    assert_eq!((r.effects, r.dead), (0, 0), "{r:?}");
    assert_eq!(
        row(&pool, "sf", RECORD).await,
        Some((
            "Cafe de Paris".into(),
            Some("Place du Casino".into()),
            Some("owner-1".into()),
            "ok".into(),
            false
        ))
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_forged_future_salesforce_clock_cannot_block_a_later_real_edit(pool: PgPool) {
    let (app, sim) = salesforce_setup(&pool).await;
    let forged = outbound(
        SALESFORCE_ORG,
        "Forged",
        "Nowhere",
        "005FORGED0000000AA",
        "2999-01-01T00:00:00.000Z",
    );
    assert_eq!(post_soap(&app, &token_path(), forged).await.0, 200);
    drain(&app).await;

    // A real edit in the CRM: the simulator sends its own Outbound Message to our endpoint.
    sim.post(
        "/_sim/owner",
        Some(&serde_json::json!({"crm": "salesforce", "id": RECORD, "owner": "owner-2"})),
    )
    .await;
    wait_for_inbox(&pool, 2).await;
    drain(&app).await;
    assert_eq!(
        row(&pool, "sf", RECORD).await.expect("row").2.as_deref(),
        Some("owner-2"),
        "the real edit applied"
    );
}

/// Waits until the simulator's deliveries have put `n` events in the inbox (it delivers in
/// the background); gives up after 10 s.
async fn wait_for_inbox(pool: &PgPool, n: i64) {
    for _ in 0..200 {
        if inbox_count(pool).await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the simulator's webhook did not arrive");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_far_future_clock_from_any_source_is_clamped_counted_and_cannot_block_a_later_edit(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "erp", CrmKind::Standard, STANDARD_SECRET, None).await;
    let far = Utc::now() + Duration::days(365 * 50);
    let first = Change::Upsert(account("A-1", "Wrong clock", far));
    let s = signed_standard("evt_far", &first, STANDARD_SECRET, Utc::now());
    assert_eq!(post_standard(&app, "erp", &s).await, 200);
    drain(&app).await;

    let later = Change::Upsert(account(
        "A-1",
        "Real edit",
        Utc::now() + Duration::seconds(1),
    ));
    let s = signed_standard("evt_later", &later, STANDARD_SECRET, Utc::now());
    assert_eq!(post_standard(&app, "erp", &s).await, 200);
    drain(&app).await;
    assert_eq!(
        row(&pool, "erp", "A-1").await.expect("row").0,
        "Real edit",
        "the later edit was not stale"
    );

    let c = crate::helpers::connection_named(&pool, "erp").await;
    assert_eq!(c.clocks_clamped, 1);
    assert!(c.last_clock_clamped_at.is_some());
    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/sync").await;
    assert!(
        page.contains(r#"data-clocks-clamped="1""#),
        "shown per connection"
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("terrane_crm_future_clocks_clamped_total"),
        "counted in Prometheus"
    );

    // CSV imports pass the same check.
    let csv_far = format!(
        "crm_id,name,street,city,country_code,crm_modified_at\nC-1,From the future,Quai,Monaco,MC,{}\n",
        far.to_rfc3339()
    );
    terrane::crm::csv::import_accounts(
        &pool,
        csv_far.as_bytes(),
        "csv",
        false,
        ClockGuard::default(),
    )
    .await
    .expect("import");
    let clock: chrono::DateTime<Utc> = scalar(
        &pool,
        "select crm_updated_at from accounts where crm_source = 'csv' and crm_id = 'C-1'",
    )
    .await;
    assert!(
        clock < Utc::now() + Duration::minutes(5),
        "clamped: {clock}"
    );
    let counted: i64 = scalar(
        &pool,
        "select clamped from crm_clock_clamps where source = 'csv'",
    )
    .await;
    assert_eq!(counted, 1);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn salesforce_messages_without_the_right_path_token_get_a_401_fault_and_store_nothing(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "sf", CrmKind::Salesforce, "unused-secret", None).await;
    let valid = outbound(
        "00D000000000062EAA",
        "Cafe",
        "Place du Casino",
        "owner-1",
        "2026-11-24T10:00:00.000Z",
    );
    for path in [
        "/webhooks/salesforce".to_owned(),
        "/webhooks/salesforce/wrong-token-wrong-token-wrong-token".to_owned(),
        format!("/webhooks/salesforce/{}", &SALESFORCE_PATH_TOKEN[1..]),
        format!("/webhooks/salesforce/{SALESFORCE_PATH_TOKEN}x"),
    ] {
        let (status, body) = post_soap(&app, &path, valid.clone()).await;
        assert_eq!(status, 401, "{path}");
        assert!(
            body.contains("<faultcode>soapenv:Client</faultcode>"),
            "{body}"
        );
        // Refused before the body is parsed: a malformed body gets the same answer.
        assert_eq!(
            post_soap(&app, &path, "<not-soap".into()).await.0,
            401,
            "{path}"
        );
    }
    assert_eq!(inbox_count(&pool).await, 0);
    let (status, _) = post_soap(&app, &token_path(), valid).await;
    assert_eq!(status, 200);
    assert_eq!(inbox_count(&pool).await, 1);

    // A connection created without a token gets a generated one, retrievable by admins.
    connection::create(
        &pool,
        Some(&key()),
        &ConnectionInput {
            name: "sf-2".into(),
            kind: Some(CrmKind::Salesforce),
            organization_id: Some("00D000000000063EAA".into()),
            enabled: true,
            ..ConnectionInput::default()
        },
    )
    .await
    .expect("created");
    let c = crate::helpers::connection_named(&pool, "sf-2").await;
    let token = connection::webhook_token(&pool, Some(&key()), c.id)
        .await
        .expect("opens")
        .expect("generated");
    assert_eq!(token.len(), 64);
    let sealed: Vec<u8> = scalar(
        &pool,
        "select webhook_token from crm_connections where name = 'sf-2'",
    )
    .await;
    assert!(
        !sealed.windows(16).any(|w| w == &token.as_bytes()[..16]),
        "sealed at rest"
    );
    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/connections/sf-2").await;
    assert!(page.contains(&format!("/webhooks/salesforce/{token}")));
    // Another connection's token does not open this one's organization.
    let other_org = outbound(
        "00D000000000063EAA",
        "X",
        "Y",
        "owner-1",
        "2026-11-24T10:00:00.000Z",
    );
    assert_eq!(post_soap(&app, &token_path(), other_org).await.0, 401);
    assert_eq!(
        post_soap(
            &app,
            &format!("/webhooks/salesforce/{token}"),
            outbound(
                "00D000000000063EAA",
                "X",
                "Y",
                "owner-1",
                "2026-11-24T10:00:00.000Z"
            )
        )
        .await
        .0,
        200
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_deletion_notice_deletes_only_what_the_crm_confirms_is_gone(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;
    let live: String = scalar(
        &pool,
        "select crm_id from accounts where crm_source = 'demo-hubspot' and deleted_at is null
         order by crm_id limit 1",
    )
    .await;
    // An account we hold that the CRM does not have (deleted there while we were not told).
    sqlx::query(
        "insert into accounts (crm_source, crm_id, name, crm_updated_at)
         values ('demo-hubspot', '999999999', 'Gone in the CRM', now() - interval '1 day')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let notice = |event: u64, object: &str| {
        serde_json::json!({
            "eventId": event, "subscriptionId": 77, "portalId": SIM_HUBSPOT_PORTAL.parse::<u64>().expect("number"),
            "appId": 1_000_001, "occurredAt": Utc::now().timestamp_millis(),
            "subscriptionType": "company.deletion", "attemptNumber": 0,
            "objectId": object.parse::<u64>().expect("numeric id"), "changeSource": "CRM"
        })
    };
    let body = serde_json::to_vec(&[notice(1, &live), notice(2, "999999999")]).expect("json");
    let status = post_hubspot(
        &app,
        "terrane-dev-hubspot-client-secret",
        &body,
        "POST",
        None,
        Utc::now().timestamp_millis(),
    )
    .await;
    assert_eq!(status, 200);
    let r = drain(&app).await;
    assert_eq!(r.dead, 0, "{r:?}");
    assert!(
        !row(&pool, "demo-hubspot", &live).await.expect("row").4,
        "still in the CRM: not deleted"
    );
    assert!(
        row(&pool, "demo-hubspot", "999999999")
            .await
            .expect("row")
            .4,
        "confirmed gone: deleted"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reconciliation_repairs_a_stored_clock_in_the_future(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;
    let (crm_id, name): (String, String) = sqlx::query_as(
        "select crm_id, name from accounts where crm_source = 'demo-salesforce'
         order by crm_id limit 1",
    )
    .fetch_one(&pool)
    .await
    .expect("an account");
    // What a forged message with a far-future clock left behind before clocks were checked.
    sqlx::query(
        "update accounts set name = 'Frozen forgery', crm_updated_at = '2999-01-01T00:00:00Z'
         where crm_source = 'demo-salesforce' and crm_id = $1",
    )
    .bind(&crm_id)
    .execute(&pool)
    .await
    .expect("freeze");
    let conn = crate::helpers::connection_named(&pool, "demo-salesforce").await;
    let run = || async {
        crate::helpers::reconcile_now(&pool, &app, &conn)
            .await
            .expect("reconciles")
    };
    let report = run().await;
    assert_eq!(report.clocks_repaired, 1);
    assert_eq!(
        row(&pool, "demo-salesforce", &crm_id).await.expect("row").0,
        name
    );
    assert_eq!(run().await.clocks_repaired, 0, "nothing left to repair");
    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/sync").await;
    assert!(page.contains("future clocks repaired"));
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_hubspot_connection_without_a_portal_id_and_a_plain_http_api_url_are_refused(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let input = |name: &str, kind: CrmKind, org: Option<&str>, url: Option<&str>| ConnectionInput {
        name: name.into(),
        kind: Some(kind),
        organization_id: org.map(str::to_owned),
        api_base_url: url.map(str::to_owned),
        enabled: true,
        add_webhook_secret: Some("hubspot-app-client-secret-1".into()),
        ..ConnectionInput::default()
    };
    let refused = |r: Result<connection::Connection, connection::ConnectionError>| match r {
        Err(connection::ConnectionError::Invalid(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let m = refused(
        connection::create(
            &pool,
            Some(&key()),
            &input("hs", CrmKind::HubSpot, None, None),
        )
        .await,
    );
    assert!(m.contains("portal"), "{m}");
    for url in [
        "http://api.hubapi.com",
        "http://10.0.0.7:8080",
        "http://127.0.0.1.example.com",
        "ftp://api.hubapi.com",
    ] {
        let m = refused(
            connection::create(
                &pool,
                Some(&key()),
                &input("hs", CrmKind::HubSpot, Some("62515"), Some(url)),
            )
            .await,
        );
        assert!(m.contains("https"), "{url}: {m}");
    }
    for (i, url) in [
        "https://api.hubapi.com",
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
    ]
    .into_iter()
    .enumerate()
    {
        connection::create(
            &pool,
            Some(&key()),
            &input(
                &format!("hs-{i}"),
                CrmKind::HubSpot,
                Some("62515"),
                Some(url),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    // Editing to plain http elsewhere is refused too.
    let m = refused(
        connection::update(
            &pool,
            Some(&key()),
            &ConnectionInput {
                name: "hs-0".into(),
                enabled: true,
                api_base_url: Some("http://api.hubapi.com".into()),
                ..ConnectionInput::default()
            },
        )
        .await,
    );
    assert!(m.contains("https"), "{m}");

    // The admin page says so with a 400 and a JSON error.
    let admin = app.client_as(ADMIN).await;
    let html = page_html(&admin, &app, "/admin/connections/new").await;
    let csrf = csrf_in(&html);
    for (url, org) in [
        ("https://api.hubapi.com", ""),
        ("http://api.hubapi.com", "62515"),
    ] {
        let resp = post_form(
            &admin,
            &app,
            "/admin/connections",
            &[
                ("csrf", csrf.as_str()),
                ("name", "hs-page"),
                ("kind", "hubspot"),
                ("api_base_url", url),
                ("organization_id", org),
                ("enabled", "on"),
            ],
        )
        .await;
        assert_eq!(resp.status(), 400, "{url} {org:?}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_connection");
    }

    // One made before the rule (no portal id) is flagged on the sync page.
    sqlx::query("update crm_connections set organization_id = null where name = 'hs-1'")
        .execute(&pool)
        .await
        .expect("legacy");
    let page = page_html(&admin, &app, "/admin/sync").await;
    assert!(page.contains("no HubSpot account (portal) id"), "warned");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn the_cli_refuses_a_hubspot_connection_without_a_portal_id_and_prints_the_salesforce_endpoint(
    pool: PgPool,
) {
    use crate::cli::{stderr, terrane};
    use crate::helpers::database_url_of;
    let url = database_url_of(&pool).await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("TERRANE_SECRET_KEY", crate::helpers::TEST_SECRET_KEY),
        (
            "TERRANE_CONNECTION_WEBHOOK_SECRET",
            "hubspot-app-client-secret-1",
        ),
    ];
    let out = terrane(
        &[
            "connection",
            "add",
            "--kind",
            "hubspot",
            "--name",
            "hs",
            "--api-base-url",
            "https://api.hubapi.com",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("portal"), "{}", stderr(&out));
    let out = terrane(
        &[
            "connection",
            "add",
            "--kind",
            "hubspot",
            "--name",
            "hs",
            "--org-id",
            "62515",
            "--api-base-url",
            "http://api.hubapi.com",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));

    let out = terrane(
        &[
            "connection",
            "add",
            "--kind",
            "salesforce",
            "--name",
            "sf",
            "--org-id",
            "00D000000000062EAA",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let c = crate::helpers::connection_named(&pool, "sf").await;
    let token = connection::webhook_token(&pool, Some(&key()), c.id)
        .await
        .expect("opens")
        .expect("generated");
    assert!(
        printed.contains(&format!("/webhooks/salesforce/{token}")),
        "{printed}"
    );
    let again = terrane(&["connection", "endpoint", "sf"], &env);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        format!("/webhooks/salesforce/{token}")
    );
    let rotated = terrane(
        &["connection", "edit", "--name", "sf", "--new-path-token"],
        &env,
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let new = connection::webhook_token(&pool, Some(&key()), c.id)
        .await
        .expect("opens")
        .expect("token");
    assert_ne!(new, token, "replaced");
}

/// Not a check: how fast Salesforce notices are read back and applied (issue 14's figure in
/// docs/benchmarks.md). Run with `cargo test --test it salesforce_read_back_throughput --
/// --ignored --nocapture`.
#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
#[ignore = "a measurement, not a check"]
async fn salesforce_read_back_throughput(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let sim = spawn_sim(&app, &[]).await;
    connect_demo(&pool, &sim).await;
    let ids: Vec<String> = sqlx::query_scalar(
        "select crm_id from accounts where crm_source = 'demo-salesforce' order by crm_id",
    )
    .fetch_all(&pool)
    .await
    .expect("ids");
    let (messages, per_message) = (20, 100);
    for m in 0..messages {
        let notifications: String = (0..per_message)
            .map(|i| {
                let n = m * per_message + i;
                format!(
                    r#"<Notification><Id>04l{n:015}</Id><sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{}</sf:Id><sf:Name>Forged</sf:Name></sObject></Notification>"#,
                    ids[n % ids.len()]
                )
            })
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{SALESFORCE_ORG}</OrganizationId><ActionId>04k000000000001AAA</ActionId>{notifications}</notifications></soapenv:Body></soapenv:Envelope>"#
        );
        assert_eq!(post_soap(&app, &token_path(), body).await.0, 200);
    }
    let started = std::time::Instant::now();
    let r = drain(&app).await;
    let elapsed = started.elapsed().as_secs_f64();
    let state = sim.json("/_sim/state").await;
    eprintln!(
        "{} notices ({} distinct accounts) drained in {elapsed:.2} s: {:.0} notices/s; {r:?}; simulator calls: {}",
        r.claimed,
        ids.len().min(messages * per_message),
        r.claimed as f64 / elapsed,
        state["calls"]
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_salesforce_connection_without_a_path_token_is_flagged_until_the_page_issues_one(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    add_connection(&pool, "sf", CrmKind::Salesforce, "unused-secret", None).await;
    // As a connection made before path tokens existed.
    sqlx::query("update crm_connections set webhook_token = null where name = 'sf'")
        .execute(&pool)
        .await
        .expect("legacy");
    let admin = app.client_as(ADMIN).await;
    let page = page_html(&admin, &app, "/admin/sync").await;
    assert!(page.contains("no webhook path token"), "warned");
    let valid = outbound(
        "00D000000000062EAA",
        "Cafe",
        "Place du Casino",
        "owner-1",
        "2026-11-24T10:00:00.000Z",
    );
    assert_eq!(post_soap(&app, &token_path(), valid.clone()).await.0, 401);

    let html = page_html(&admin, &app, "/admin/connections/sf").await;
    let resp = post_form(
        &admin,
        &app,
        "/admin/connections/sf",
        &[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "sf"),
            ("enabled", "on"),
            ("new_webhook_token", "on"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let html = page_html(&admin, &app, "/admin/connections/sf").await;
    let marker = "/webhooks/salesforce/";
    let start = html.find(marker).expect("the endpoint is shown") + marker.len();
    let token: String = html[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{html}");
    assert_eq!(
        post_soap(&app, &format!("{marker}{token}"), valid).await.0,
        200
    );
    let page = page_html(&admin, &app, "/admin/sync").await;
    assert!(!page.contains("no webhook path token"), "no longer warned");
}
