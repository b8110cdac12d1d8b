//! The territory column group of `accounts` (`territory_id`, `owner_rep_id` as a plan sets
//! them): the only writer of those columns. Plans, publishing and arrivals call these functions.

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Publishing `plan_id`: every account of the plan moves to its assigned territory and takes
/// that territory's rep as owner (keeping its owner where the territory has no rep). Returns
/// how many accounts changed.
pub async fn follow_published_plan(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update accounts a set territory_id = pa.territory_id,
                owner_rep_id = coalesce(pt.rep_id, a.owner_rep_id)
         from plan_assignments pa
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         where pa.plan_id = $1 and a.id = pa.account_id
           and (a.territory_id, a.owner_rep_id) is distinct from
               (pa.territory_id, coalesce(pt.rep_id, a.owner_rep_id))",
    )
    .bind(plan_id)
    .execute(db)
    .await?
    .rows_affected())
}

/// Arrivals placed in the published `plan_id`: `account_ids` move to their assigned
/// territory; an owner is given (the territory's rep) only where the account has none.
pub async fn follow_plan_on_arrival(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    account_ids: &[Uuid],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update accounts a set territory_id = pa.territory_id,
                owner_rep_id = coalesce(a.owner_rep_id, pt.rep_id)
         from plan_assignments pa
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         where pa.plan_id = $1 and pa.account_id = any($2) and a.id = pa.account_id",
    )
    .bind_all((plan_id, account_ids))
    .execute(db)
    .await?
    .rows_affected())
}
