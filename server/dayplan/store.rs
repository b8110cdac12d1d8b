//! `route_days`: the current plan of each rep's day, and the flag that sends it back to the
//! planner when one of its inputs changes.

use crate::db::Bind;
use chrono::NaiveDate;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::RepDay;

/// The rep's local day of an instant (their time zone).
pub async fn local_day(
    db: impl PgExecutor<'_>,
    rep_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<NaiveDate, sqlx::Error> {
    sqlx::query_scalar(
        "select ($2::timestamptz at time zone timezone)::date from reps where id = $1",
    )
    .bind_all((rep_id, at))
    .fetch_one(db)
    .await
}

/// Marks days of a rep for re-planning (in the transaction that changed their input).
pub async fn mark_stale(
    tx: &mut PgConnection,
    rep_id: Uuid,
    days: &[NaiveDate],
) -> Result<(), sqlx::Error> {
    sqlx::query("update route_days set stale = true where rep_id = $1 and day = any ($2)")
        .bind_all((rep_id, days))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Marks a rep's days from `day` on for re-planning: a visit changes which accounts are due
/// on every later day.
pub async fn mark_stale_from(
    tx: &mut PgConnection,
    rep_id: Uuid,
    day: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query("update route_days set stale = true where rep_id = $1 and day >= $2")
        .bind_all((rep_id, day))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Marks a rep's days from their local today on for re-planning: their settings, or an
/// account's visit minutes, changed.
pub async fn mark_stale_from_today(tx: &mut PgConnection, rep_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update route_days set stale = true
         where rep_id = $1
           and day >= (select (now() at time zone timezone)::date from reps where id = $1)",
    )
    .bind(rep_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The stored plan of a day (as the API returns it) when it is current.
pub async fn fresh(
    db: impl PgExecutor<'_>,
    rep_id: Uuid,
    day: NaiveDate,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let plan: Option<sqlx::types::Json<serde_json::Value>> = sqlx::query_scalar(
        "select plan from route_days where rep_id = $1 and day = $2 and not stale",
    )
    .bind_all((rep_id, day))
    .fetch_optional(db)
    .await?;
    Ok(plan.map(|p| p.0))
}

/// Stores a day's plan as current.
pub async fn save(db: impl PgExecutor<'_>, plan: &RepDay) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(plan).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "insert into route_days (rep_id, day, plan, stale, computed_at)
         values ($1, $2, $3, false, now())
         on conflict (rep_id, day) do update
             set plan = excluded.plan, stale = false, computed_at = now()",
    )
    .bind_all((plan.rep_id, plan.day, sqlx::types::Json(json)))
    .execute(db)
    .await?;
    Ok(())
}
