//! The geocoding worker over real PostGIS: pending accounts get located through the cache and
//! the provider chain; the cache saves calls; provider outages leave accounts pending; manual
//! pins stick until the address changes.

use crate::helpers::{scalar, scalar_by};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use sqlx::PgPool;
use terrane::crm::apply;
use terrane::crm::canonical::{Change, Tier};
use terrane::geocode::worker::GeocodeWorker;
use terrane::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};
use terrane::spatial::LonLat;

use crate::crm_sync::account;

/// A provider answering from a fixed point, counting its calls; `down` makes it fail.
struct Fake {
    calls: AtomicUsize,
    down: std::sync::atomic::AtomicBool,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            down: std::sync::atomic::AtomicBool::new(false),
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Geocoder for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn geocode<'a>(
        &'a self,
        q: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(ProviderError::Failed {
                    provider: "fake".into(),
                    detail: "HTTP 500".into(),
                });
            }
            if q.street.as_deref().is_some_and(|s| s.contains("Nowhere")) {
                return Ok(None);
            }
            Ok(Some(GeocodeResult {
                location: LonLat::new(7.4246, 43.7384).expect("valid"),
                precision: Precision::Rooftop,
                confidence: 0.9,
                provider: "fake".into(),
            }))
        })
    }
}

fn worker(pool: &PgPool, fake: &Arc<Fake>) -> GeocodeWorker {
    let (tx, _) = tokio::sync::broadcast::channel(64);
    GeocodeWorker::new(pool.clone(), fake.clone(), tx)
}

async fn upsert(pool: &PgPool, crm_id: &str, street: &str, secs: i64) {
    let mut a = account(crm_id, crm_id, Utc::now() + chrono::Duration::seconds(secs));
    a.address.street = Some(street.to_owned());
    a.tier = Some(Tier::A);
    let mut conn = pool.acquire().await.expect("connection");
    apply::apply(
        &mut conn,
        "erp",
        &Change::Upsert(a),
        apply::ClockGuard::default(),
    )
    .await
    .expect("upsert");
}

async fn status(pool: &PgPool, crm_id: &str) -> (String, Option<String>, Option<String>) {
    sqlx::query_as(
        "select geocode_status::text, geocode_precision::text, geocode_source
         from accounts where crm_id = $1",
    )
    .bind(crm_id)
    .fetch_one(pool)
    .await
    .expect("account")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn pending_accounts_are_located_once_and_the_cache_answers_the_next_time(pool: PgPool) {
    let fake = Fake::new();
    upsert(&pool, "A", "Quai Antoine 1er", 0).await;
    upsert(&pool, "B", "quai antoine 1er", 0).await; // same address, other spelling
    let (tx, mut rx) = tokio::sync::broadcast::channel(64);
    let w = GeocodeWorker::new(pool.clone(), fake.clone(), tx);
    let r = w.drain().await.expect("drain");
    assert_eq!(r.located, 2);
    assert_eq!(fake.calls(), 1, "the second spelling is a cache hit");
    assert_eq!(r.cache_hits, 1);
    let (s, p, src) = status(&pool, "A").await;
    assert_eq!(
        (s.as_str(), p.as_deref(), src.as_deref()),
        ("ok", Some("rooftop"), Some("fake"))
    );
    let h3: Option<i64> = scalar(&pool, "select h3_cell from accounts where crm_id = 'A'").await;
    assert!(h3.is_some(), "the H3 cell is written with the location");
    assert!(rx.try_recv().is_ok(), "an AccountLocated event was sent");

    // A cosmetic change of the address in the CRM does not call anything.
    upsert(&pool, "A", "Quai Antoine 1er.", 5).await;
    assert_eq!(status(&pool, "A").await.0, "pending");
    let r = w.drain().await.expect("drain");
    assert_eq!((r.unchanged, fake.calls()), (1, 1));
    assert_eq!(status(&pool, "A").await.0, "ok");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn provider_outages_leave_accounts_pending_and_unknown_addresses_fail(pool: PgPool) {
    let fake = Fake::new();
    fake.down.store(true, Ordering::SeqCst);
    upsert(&pool, "A", "Rue Grimaldi", 0).await;
    upsert(&pool, "N", "Rue de Nowhere", 0).await;
    let w = worker(&pool, &fake);
    let r = w.drain().await.expect("drain");
    assert_eq!((r.retry, r.located), (2, 0));
    assert_eq!(
        status(&pool, "A").await.0,
        "pending",
        "still pending, retried later"
    );
    let again = w.drain().await.expect("drain");
    assert_eq!(again.claimed, 0, "not before its next attempt time");

    fake.down.store(false, Ordering::SeqCst);
    sqlx::query("update accounts set geocode_next_attempt_at = now()")
        .execute(&pool)
        .await
        .expect("due now");
    let r = w.drain().await.expect("drain");
    assert_eq!((r.located, r.not_found), (1, 1));
    assert_eq!(status(&pool, "N").await.0, "failed");
    let reason: Option<String> = scalar(
        &pool,
        "select geocode_error from accounts where crm_id = 'N'",
    )
    .await;
    assert!(
        reason.is_some_and(|r| !r.contains("Nowhere")),
        "the reason never holds the address"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_manual_pin_survives_regeocoding_until_the_address_really_changes(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let admin: uuid::Uuid = scalar_by(
        &pool,
        "select id from users where email = $1",
        crate::helpers::ADMIN,
    )
    .await;
    let fake = Fake::new();
    upsert(&pool, "A", "Rue Grimaldi", 0).await;
    let w = worker(&pool, &fake);
    w.drain().await.expect("drain");
    let id: uuid::Uuid = scalar(&pool, "select id from accounts where crm_id = 'A'").await;
    let pin = LonLat::new(7.42, 43.73).expect("valid");
    assert!(
        terrane::geocode::pins::set_manual(&pool, &terrane::auth::Scope::All, admin, id, pin)
            .await
            .expect("pin")
    );
    assert_eq!(status(&pool, "A").await.1.as_deref(), Some("manual"));

    // Same address respelled: still the manual pin, no call.
    upsert(&pool, "A", "rue  grimaldi", 5).await;
    w.drain().await.expect("drain");
    let (s, p, _) = status(&pool, "A").await;
    assert_eq!((s.as_str(), p.as_deref()), ("manual", Some("manual")));
    assert_eq!(fake.calls(), 1);

    // A new address: geocoded again.
    upsert(&pool, "A", "Boulevard des Moulins", 10).await;
    w.drain().await.expect("drain");
    assert_eq!(status(&pool, "A").await.1.as_deref(), Some("rooftop"));
    assert_eq!(fake.calls(), 2);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn managers_move_their_teams_pins_through_the_api_and_reps_may_not(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let app = crate::helpers::spawn_app(pool.clone()).await;
    // An account of rep 1 (Team A) and one of rep 4 (Team B).
    let pick = |owner: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(
                "select a.id from accounts a join reps r on r.id = a.owner_rep_id
                 where r.crm_owner_id = $1 order by a.crm_id limit 1",
            )
            .bind(owner)
            .fetch_one(&pool)
            .await
            .expect("account")
        }
    };
    let (team_a, team_b) = (pick("owner-1").await, pick("owner-4").await);
    let manager = app.client_as("manager.a@example.com").await;
    let html = crate::helpers::page_html(&manager, &app, "/").await;
    let csrf = crate::helpers::csrf_in(&html);
    let post = |client: &reqwest::Client, id: uuid::Uuid, body: serde_json::Value, csrf: &str| {
        client
            .post(app.url(&format!("/api/accounts/{id}/location")))
            .header("x-csrf-token", csrf)
            .json(&body)
            .send()
    };
    let ok = post(
        &manager,
        team_a,
        serde_json::json!({"lon": 7.42, "lat": 43.73}),
        &csrf,
    )
    .await
    .expect("request");
    assert_eq!(ok.status(), 200);
    let (precision, lon): (String, f64) = sqlx::query_as(
        "select geocode_precision::text, st_x(location) from accounts where id = $1",
    )
    .bind(team_a)
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((precision.as_str(), lon), ("manual", 7.42));
    assert_eq!(
        crate::helpers::audit_count(&pool, "account.pin_moved").await,
        1
    );

    let other_team = post(
        &manager,
        team_b,
        serde_json::json!({"lon": 7.42, "lat": 43.73}),
        &csrf,
    )
    .await
    .expect("request");
    assert_eq!(
        other_team.status(),
        404,
        "another team's account is not visible"
    );
    let bad = post(
        &manager,
        team_a,
        serde_json::json!({"lon": 7.42, "lat": 95.0}),
        &csrf,
    )
    .await
    .expect("request");
    assert_eq!(bad.status(), 400, "out-of-range coordinates");

    let rep = app
        .client_as(&crate::helpers::demo_dataset().reps[0].email)
        .await;
    let html = crate::helpers::page_html(&rep, &app, "/").await;
    let rep_csrf = crate::helpers::csrf_in(&html);
    let refused = post(
        &rep,
        team_a,
        serde_json::json!({"lon": 7.42, "lat": 43.73}),
        &rep_csrf,
    )
    .await
    .expect("request");
    assert_eq!(refused.status(), 403);
}
