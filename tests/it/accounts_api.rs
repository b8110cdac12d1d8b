//! `GET /api/accounts`: GeoJSON of the seeded accounts, bbox filtering, limits and bad input.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{ADMIN, demo_dataset, seed_demo, spawn_app};

fn features(body: &Value) -> &Vec<Value> {
    body["features"].as_array().expect("features is an array")
}

/// The served points, keyed as [`key`] does.
fn served_keys(body: &Value) -> BTreeSet<(i64, i64)> {
    features(body)
        .iter()
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            key(c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat"))
        })
        .collect()
}

/// Coordinates rounded to 1e-7 degrees (about 1 cm) so sets compare exactly.
fn key(lon: f64, lat: f64) -> (i64, i64) {
    ((lon * 1e7).round() as i64, (lat * 1e7).round() as i64)
}

#[sqlx::test]
async fn every_seeded_account_is_served_as_a_geojson_point(pool: PgPool) {
    seed_demo(&pool).await;
    let mut app = spawn_app(pool).await;
    app.sign_in(ADMIN).await;

    let (status, body) = app.get_json("/api/accounts?limit=50000").await;

    assert_eq!(status, 200);
    assert_eq!(body["type"], "FeatureCollection");
    assert_eq!(body["truncated"], false);
    let ds = demo_dataset();
    assert!(
        ds.accounts.len() >= 500,
        "the demo has at least 500 accounts"
    );
    assert_eq!(features(&body).len(), ds.accounts.len());
    let served = served_keys(&body);
    let seeded: BTreeSet<_> = ds.accounts.iter().map(|a| key(a.lon, a.lat)).collect();
    assert_eq!(served, seeded, "served points are exactly the seeded ones");
    let f = &features(&body)[0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert_eq!(f["id"], f["properties"]["id"]);
    assert!(
        f["properties"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
}

#[sqlx::test]
async fn bbox_returns_exactly_the_accounts_inside_it(pool: PgPool) {
    seed_demo(&pool).await;
    let mut app = spawn_app(pool).await;
    app.sign_in(ADMIN).await;
    let ds = demo_dataset();
    // The south-west quarter of the demo's extent.
    let (min_lon, max_lon) = min_max(ds.accounts.iter().map(|a| a.lon));
    let (min_lat, max_lat) = min_max(ds.accounts.iter().map(|a| a.lat));
    let (mid_lon, mid_lat) = (
        f64::midpoint(min_lon, max_lon),
        f64::midpoint(min_lat, max_lat),
    );
    let inside = |lon: f64, lat: f64| {
        (min_lon..=mid_lon).contains(&lon) && (min_lat..=mid_lat).contains(&lat)
    };
    let expected: BTreeSet<_> = ds
        .accounts
        .iter()
        .filter(|a| inside(a.lon, a.lat))
        .map(|a| key(a.lon, a.lat))
        .collect();
    assert!(!expected.is_empty() && expected.len() < ds.accounts.len());

    let (status, body) = app
        .get_json(&format!(
            "/api/accounts?bbox={min_lon},{min_lat},{mid_lon},{mid_lat}&limit=50000"
        ))
        .await;

    assert_eq!(status, 200);
    let served = served_keys(&body);
    assert_eq!(served, expected);
}

#[sqlx::test]
async fn limit_cuts_the_result_keeping_the_most_valuable(pool: PgPool) {
    seed_demo(&pool).await;
    let mut app = spawn_app(pool).await;
    app.sign_in(ADMIN).await;
    let mut values: Vec<f64> = demo_dataset()
        .accounts
        .iter()
        .map(|a| f64::from(a.annual_value))
        .collect();
    values.sort_by(|a, b| b.total_cmp(a));

    let (status, body) = app.get_json("/api/accounts?limit=10").await;

    assert_eq!(status, 200);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["limit"], 10);
    let served: Vec<f64> = features(&body)
        .iter()
        .map(|f| f["properties"]["annual_value"].as_f64().expect("value"))
        .collect();
    assert_eq!(served, values[..10].to_vec());
}

#[sqlx::test]
async fn soft_deleted_and_unlocated_accounts_are_not_drawn(pool: PgPool) {
    seed_demo(&pool).await;
    let mut app = spawn_app(pool.clone()).await;
    app.sign_in(ADMIN).await;
    let total = demo_dataset().accounts.len();
    sqlx::query(
        "update accounts set deleted_at = now() where crm_id = (select min(crm_id) from accounts)",
    )
    .execute(&pool)
    .await
    .expect("soft delete");
    sqlx::query(
        "update accounts set location = null where crm_id = (select max(crm_id) from accounts)",
    )
    .execute(&pool)
    .await
    .expect("clear location");

    let (_, body) = app.get_json("/api/accounts?limit=50000").await;

    assert_eq!(features(&body).len(), total - 2);
}

#[sqlx::test]
async fn bad_bbox_and_limit_values_are_400_with_a_json_error(pool: PgPool) {
    seed_demo(&pool).await;
    let mut app = spawn_app(pool).await;
    app.sign_in(ADMIN).await;
    let cases = [
        ("bbox=7.4,43.7,7.5", "invalid_bbox"),
        ("bbox=7.4,43.7,7.5,43.8,1", "invalid_bbox"),
        ("bbox=NaN,43.7,7.5,43.8", "invalid_bbox"),
        ("bbox=7.4,43.7,inf,43.8", "invalid_bbox"),
        ("bbox=7.4,-91,7.5,43.8", "invalid_bbox"),
        ("bbox=7.4,43.7,7.5,90.5", "invalid_bbox"),
        ("bbox=7.5,43.7,7.4,43.8", "invalid_bbox"),
        ("bbox=7.4,43.8,7.5,43.7", "invalid_bbox"),
        ("bbox=west,43.7,7.5,43.8", "invalid_bbox"),
        ("bbox=", "invalid_bbox"),
        ("limit=0", "invalid_limit"),
        ("limit=50001", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=-5", "invalid_limit"),
    ];
    for (query, code) in cases {
        let (status, body) = app.get_json(&format!("/api/accounts?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{query}"
        );
    }
    // The server is still healthy after all of that.
    let (status, body) = app.get_json("/api/accounts?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(features(&body).len(), 1);
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}
