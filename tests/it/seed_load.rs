//! `terrane seed`'s loader: idempotent upserts, reps linked, H3 cells computed.

use crate::helpers::count;
use crate::helpers::{scalar, scalar_by};
use sqlx::PgPool;
use terrane::seed::load::{self, LoadReport};

use crate::helpers::demo_dataset;

#[sqlx::test]
async fn loading_twice_changes_nothing_the_second_time(pool: PgPool) {
    let ds = demo_dataset();

    let first = load::load(&pool, ds).await.expect("first load");
    let stamp: chrono::DateTime<chrono::Utc> =
        scalar(&pool, "select max(updated_at) from accounts").await;
    let second = load::load(&pool, ds).await.expect("second load");

    assert_eq!(first.accounts_inserted, ds.accounts.len() as u64);
    assert_eq!(first.reps_inserted, ds.reps.len() as u64);
    assert_eq!(
        second,
        LoadReport {
            accounts_unchanged: ds.accounts.len() as u64,
            ..LoadReport::default()
        }
    );
    let count = count(&pool, "accounts").await;
    assert_eq!(count, ds.accounts.len() as i64);
    let stamp_after: chrono::DateTime<chrono::Utc> =
        scalar(&pool, "select max(updated_at) from accounts").await;
    assert_eq!(stamp, stamp_after, "no row was rewritten");
}

#[sqlx::test]
async fn a_changed_account_is_updated_and_a_deleted_one_revived(pool: PgPool) {
    let mut ds = demo_dataset().clone();
    load::load(&pool, &ds).await.expect("first load");
    sqlx::query("update accounts set deleted_at = now() where crm_id = $1")
        .bind(&ds.accounts[1].crm_id)
        .execute(&pool)
        .await
        .expect("soft delete");
    ds.accounts[0].name = "Renamed For The Test".into();

    let report = load::load(&pool, &ds).await.expect("reload");

    assert_eq!(report.accounts_updated, 2);
    assert_eq!(report.accounts_inserted, 0);
    let name: String = scalar_by(
        &pool,
        "select name from accounts where crm_id = $1",
        &ds.accounts[0].crm_id,
    )
    .await;
    assert_eq!(name, "Renamed For The Test");
}

#[sqlx::test]
async fn every_account_gets_its_owner_rep_and_h3_cell(pool: PgPool) {
    let ds = demo_dataset();
    load::load(&pool, ds).await.expect("load");

    let (no_owner, no_cell, no_loc): (i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where owner_rep_id is null), count(*) filter (where h3_cell is null),
                count(*) filter (where location is null) from accounts",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!((no_owner, no_cell, no_loc), (0, 0, 0));

    // The stored cell is the one h3o computes, and reps' home bases are stored.
    let a = &ds.accounts[0];
    let cell: i64 = scalar_by(
        &pool,
        "select h3_cell from accounts where crm_id = $1",
        &a.crm_id,
    )
    .await;
    let expected =
        terrane::spatial::H3Cell::at(terrane::spatial::LonLat::new(a.lon, a.lat).expect("valid"))
            .expect("cell")
            .get();
    assert_eq!(cell, expected);
    let homes = count(&pool, "reps where home_base is not null").await;
    assert_eq!(homes, ds.reps.len() as i64);
}
