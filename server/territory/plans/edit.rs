//! Editing a draft by hand, deleting it, and keeping its metrics current.

use crate::db::Bind;
use std::collections::HashMap;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::{PlanStatus, get, plan_territories};
use crate::audit::{self, AuditEvent};
use crate::territory::balance::Unit;
use crate::territory::metrics::{self, PlanMetrics};
use crate::territory::{TerritoryError, cells};

/// Recomputes and stores a plan's metrics (after generation and after every hand move).
pub async fn refresh_metrics(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
) -> Result<Value, TerritoryError> {
    let rows: Vec<(f64, f64, f64, f64, Uuid, Option<Uuid>)> = sqlx::query_as(
        "select st_x(a.location), st_y(a.location), pa.workload, a.annual_value::float8,
                pa.territory_id, pub.territory_id
         from plan_assignments pa
         join accounts a on a.id = pa.account_id
         join territory_plans p on p.id = pa.plan_id
         left join territory_plans pp on pp.team_id = p.team_id and pp.status = 'published'
         left join plan_assignments pub on pub.plan_id = pp.id and pub.account_id = pa.account_id
         where pa.plan_id = $1 and a.location is not null",
    )
    .bind(plan_id)
    .fetch_all(&mut *tx)
    .await?;
    let territories = plan_territories(&mut *tx, plan_id).await?;
    let index: HashMap<Uuid, usize> = territories
        .iter()
        .enumerate()
        .map(|(i, t)| (t.territory_id, i))
        .collect();
    let mut units = Vec::with_capacity(rows.len());
    let mut assignment = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    let mut moved_value = 0.0;
    let mut moved = 0u64;
    for (lon, lat, workload, value, territory, published) in &rows {
        let t = index.get(territory).copied().unwrap_or(0);
        let p = published.and_then(|p| index.get(&p).copied());
        units.push(Unit {
            lon: *lon,
            lat: *lat,
            workload: *workload,
            fixed: None,
            current: p.map(|p| u32::try_from(p).unwrap_or(u32::MAX)),
        });
        assignment.push(u32::try_from(t).unwrap_or(u32::MAX));
        values.push(*value);
        if published.is_some_and(|p| p != *territory) {
            moved += 1;
            moved_value += value;
        }
    }
    let m: PlanMetrics = metrics::compute(&units, &assignment, territories.len(), Some(&values));
    let mut value = serde_json::to_value(&m).map_err(|e| TerritoryError::Internal(e.into()))?;
    if let Value::Object(map) = &mut value {
        // The names the page and the API document.
        map.insert("territories".into(), json!(m.territories.len()));
        map.insert("max_deviation".into(), json!(m.max_workload_deviation));
        map.insert("cv".into(), json!(m.workload_cv));
        map.insert("gini".into(), json!(m.workload_gini));
        map.insert("msd_km2".into(), json!(m.msd_m2 / 1e6));
        map.insert("moved_accounts".into(), json!(moved));
        map.insert("moved_value".into(), json!(moved_value));
    }
    sqlx::query("update territory_plans set metrics = $2 where id = $1")
        .bind_all((plan_id, &value))
        .execute(&mut *tx)
        .await?;
    Ok(value)
}

/// Moves accounts of a draft to a territory by hand. Locked accounts are refused.
pub async fn move_accounts(
    pool: &PgPool,
    plan_id: Uuid,
    account_ids: &[Uuid],
    territory_id: Uuid,
    user_id: Option<Uuid>,
    user_label: &str,
) -> Result<u64, TerritoryError> {
    if account_ids.is_empty() {
        return Err(TerritoryError::Invalid("no accounts to move".into()));
    }
    if account_ids.len() > 100_000 {
        return Err(TerritoryError::Invalid(
            "at most 100,000 accounts per move".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    match super::db::lock_for_change(&mut *tx, plan_id).await? {
        None => return Err(TerritoryError::NotFound),
        Some((_, status, _)) if status != PlanStatus::Draft => {
            return Err(TerritoryError::Conflict(
                "only drafts can be edited; copy this plan into a draft first".into(),
            ));
        }
        Some((_, _, job)) if job.is_busy() => {
            return Err(TerritoryError::Conflict(
                "the plan is being computed; wait for it to finish".into(),
            ));
        }
        Some(_) => {}
    }
    let in_plan: bool = sqlx::query_scalar(
        "select exists (select 1 from plan_territories where plan_id = $1 and territory_id = $2)",
    )
    .bind_all((plan_id, territory_id))
    .fetch_one(&mut *tx)
    .await?;
    if !in_plan {
        return Err(TerritoryError::Invalid(
            "territory_id is not a territory of this plan".into(),
        ));
    }
    let locked: Vec<String> = sqlx::query_scalar(
        // Only accounts of this plan: ids sent from elsewhere must not reveal other teams' names.
        "select a.name from territory_locks l join accounts a on a.id = l.account_id
         join plan_assignments pa on pa.account_id = l.account_id and pa.plan_id = $3
         where l.account_id = any($1) and l.territory_id <> $2 order by a.name limit 10",
    )
    .bind_all((account_ids, territory_id, plan_id))
    .fetch_all(&mut *tx)
    .await?;
    if !locked.is_empty() {
        return Err(TerritoryError::Conflict(format!(
            "locked accounts cannot move: {}",
            locked.join(", ")
        )));
    }
    let moved = sqlx::query(
        "update plan_assignments set territory_id = $3, source = 'manual', rule_id = null,
                reason = left('moved by hand by ' || $4, 500)
         where plan_id = $1 and account_id = any($2) and territory_id <> $3",
    )
    .bind_all((plan_id, account_ids, territory_id, user_label))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let known: i64 = sqlx::query_scalar(
        "select count(*) from plan_assignments where plan_id = $1 and account_id = any($2)",
    )
    .bind_all((plan_id, account_ids))
    .fetch_one(&mut *tx)
    .await?;
    if known < i64::try_from(account_ids.len()).unwrap_or(i64::MAX) {
        return Err(TerritoryError::Invalid(
            "some accounts are not in this plan".into(),
        ));
    }
    let touched = cells::follow_moves(&mut tx, plan_id, account_ids).await?;
    if !touched.is_empty() {
        cells::rebuild_shapes(&mut tx, plan_id, Some(&touched)).await?;
    }
    refresh_metrics(&mut tx, plan_id).await?;
    audit::commit_with(tx, AuditEvent::new(user_id, "territory.accounts_moved").about("territory_plan", plan_id.to_string()).with(json!({"territory_id": territory_id, "accounts": account_ids.len(), "moved": moved}))).await?;
    Ok(moved)
}

/// Deletes a draft, in one transaction with its audit row.
pub async fn delete(
    pool: &PgPool,
    plan_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<(), TerritoryError> {
    let mut tx = pool.begin().await?;
    let plan = get(&mut *tx, plan_id)
        .await?
        .ok_or(TerritoryError::NotFound)?;
    if plan.status == PlanStatus::Published {
        return Err(TerritoryError::Conflict(
            "the published plan cannot be deleted; publish another one first".into(),
        ));
    }
    sqlx::query("delete from territory_plans where id = $1")
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
    audit::commit_with(
        tx,
        AuditEvent::new(user_id, "territory.plan_deleted")
            .about("territory_plan", plan_id.to_string()),
    )
    .await?;
    Ok(())
}
