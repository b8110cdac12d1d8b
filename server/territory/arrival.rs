//! Accounts that arrive (new from the CRM, or located again after an address change) are
//! assigned into their team's published plan at once: a lock or rule first, else the
//! territory whose shape holds them, else their owner's, else the nearest territory.
//!
//! An account without a CRM owner gets the territory's rep, written back to the CRM; one whose
//! CRM owner differs is left as it is (the CRM user's choice wins) and the reason says so.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::TerritoryError;
use super::plans;
use super::rules;
use crate::crm::writeback::{self, OwnerChange};
use crate::geocode::worker::AccountLocated;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArrivalReport {
    pub assigned: u64,
    pub owners_queued: u64,
}

/// Assigns, in every team with a published plan, the team's accounts missing from it; with
/// `only`, (re)assigns those accounts (except ones locked or moved by hand).
pub async fn assign(pool: &PgPool, only: Option<&[Uuid]>) -> Result<ArrivalReport, TerritoryError> {
    let teams: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select team_id, id from territory_plans where status = 'published' order by team_id",
    )
    .fetch_all(pool)
    .await?;
    let mut report = ArrivalReport::default();
    for (team_id, plan_id) in teams {
        let r = assign_team(pool, team_id, plan_id, only).await?;
        report.assigned += r.assigned;
        report.owners_queued += r.owners_queued;
    }
    Ok(report)
}

async fn assign_team(
    pool: &PgPool,
    team_id: Uuid,
    plan_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<ArrivalReport, TerritoryError> {
    let mut tx = pool.begin().await?;
    // Serializes with publishing, which takes the same lock.
    sqlx::query("select pg_advisory_xact_lock(hashtext('territory-publish'), hashtext($1::text))")
        .bind(team_id)
        .execute(&mut *tx)
        .await?;
    let still_published: bool = sqlx::query_scalar(
        "select exists (select 1 from territory_plans where id = $1 and status = 'published')",
    )
    .bind(plan_id)
    .fetch_one(&mut *tx)
    .await?;
    if !still_published {
        return Ok(ArrivalReport::default());
    }
    let pending: Vec<Uuid> = sqlx::query_scalar(
        "select a.id from accounts a
         where a.id in (select territory_team_book($1))
           and case when $3::uuid[] is null
                    then not exists (select 1 from plan_assignments pa
                                     where pa.plan_id = $2 and pa.account_id = a.id)
                    else a.id = any($3)
                         and not exists (select 1 from plan_assignments pa
                                         where pa.plan_id = $2 and pa.account_id = a.id
                                           and pa.source in ('lock', 'manual'))
               end",
    )
    .bind(team_id)
    .bind(plan_id)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    if pending.is_empty() {
        return Ok(ArrivalReport::default());
    }
    let claims: HashMap<Uuid, rules::Claim> = rules::claims(&mut *tx, team_id, Some(&pending))
        .await?
        .into_iter()
        .map(|c| (c.account_id, c))
        .collect();
    let placed: Vec<(Uuid, Option<Uuid>, String)> = sqlx::query_as(
        "select a.id, coalesce(inside.territory_id, owned.territory_id, nearest.territory_id),
                case when inside.territory_id is not null then 'inside the territory''s area'
                     when owned.territory_id is not null then 'its owner''s territory'
                     else 'the nearest territory' end
         from accounts a
         left join lateral (select pt.territory_id from plan_territories pt
                            where pt.plan_id = $2 and st_intersects(pt.shape, a.location)
                            order by pt.territory_id limit 1) inside on true
         left join lateral (select pt.territory_id from plan_territories pt
                            where pt.plan_id = $2 and pt.rep_id = a.owner_rep_id
                            order by pt.territory_id limit 1) owned on true
         left join lateral (select pt.territory_id from plan_territories pt
                            where pt.plan_id = $2 and pt.shape is not null
                            order by pt.shape <-> a.location limit 1) nearest on true
         where a.id = any($1)",
    )
    .bind(&pending)
    .bind(plan_id)
    .fetch_all(&mut *tx)
    .await?;
    let in_plan: Vec<Uuid> =
        sqlx::query_scalar("select territory_id from plan_territories where plan_id = $1")
            .bind(plan_id)
            .fetch_all(&mut *tx)
            .await?;
    let mut accounts = Vec::new();
    let mut territories = Vec::new();
    let mut sources = Vec::new();
    let mut rule_ids = Vec::new();
    let mut reasons = Vec::new();
    for (account, territory, why) in placed {
        let (territory, source, rule_id, reason) = match claims.get(&account) {
            Some(c) if in_plan.contains(&c.territory_id) => (
                c.territory_id,
                if c.rule_id.is_some() { "rule" } else { "lock" },
                c.rule_id,
                c.reason.clone(),
            ),
            _ => match territory {
                Some(t) => (t, "arrival", None, format!("arrived: {why}")),
                None => continue,
            },
        };
        accounts.push(account);
        territories.push(territory);
        sources.push(source);
        rule_ids.push(rule_id);
        reasons.push(reason);
    }
    let assigned = sqlx::query(
        "insert into plan_assignments (plan_id, account_id, territory_id, source, rule_id, reason,
                                       crm_owner_at_plan, workload)
         select $1, x.a, x.t, x.s::assignment_source, x.r, left(x.why, 500), acc.crm_owner_id,
                territory_workload($2, x.a)
         from unnest($3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[])
              as x(a, t, s, r, why)
         join accounts acc on acc.id = x.a
         on conflict (plan_id, account_id) do update set
             territory_id = excluded.territory_id, source = excluded.source,
             rule_id = excluded.rule_id, reason = excluded.reason,
             crm_owner_at_plan = excluded.crm_owner_at_plan, workload = excluded.workload",
    )
    .bind(plan_id)
    .bind(team_id)
    .bind(&accounts)
    .bind(&territories)
    .bind(&sources)
    .bind(&rule_ids)
    .bind(&reasons)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The account follows; an owner is given only where there is none.
    crate::accounts::territory::follow_plan_on_arrival(&mut *tx, plan_id, &accounts).await?;
    sqlx::query(
        "update plan_assignments pa
         set reason = left(pa.reason || '; its CRM owner differs from the territory''s rep and is kept', 500)
         from accounts a, plan_territories pt, reps r
         where pa.plan_id = $1 and pa.account_id = any($2) and a.id = pa.account_id
           and pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id and r.id = pt.rep_id
           and a.crm_owner_id is not null and r.crm_owner_id is not null
           and a.crm_owner_id <> r.crm_owner_id",
    )
    .bind(plan_id)
    .bind(&accounts)
    .execute(&mut *tx)
    .await?;
    let changes: Vec<OwnerChange> = sqlx::query_as(
        "select a.id as account_id, a.crm_source, a.crm_id, null::text as expected_owner,
                r.crm_owner_id as new_owner
         from plan_assignments pa
         join accounts a on a.id = pa.account_id
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         join reps r on r.id = pt.rep_id and r.crm_owner_id is not null
         where pa.plan_id = $1 and pa.account_id = any($2) and a.crm_owner_id is null",
    )
    .bind(plan_id)
    .bind(&accounts)
    .fetch_all(&mut *tx)
    .await?;
    let queued = writeback::enqueue(&mut tx, plan_id, &changes).await?.queued;
    plans::refresh_metrics(&mut tx, plan_id).await?;
    tx.commit().await?;
    if assigned > 0 {
        tracing::info!(%team_id, %plan_id, assigned, owners_queued = queued, "arriving accounts assigned");
    }
    Ok(ArrivalReport {
        assigned,
        owners_queued: queued,
    })
}

/// Runs until shutdown: assigns accounts as the geocoder locates them (gathered for a
/// second), and sweeps every `sweep` for any that arrived another way.
pub async fn run(
    pool: PgPool,
    mut located: broadcast::Receiver<AccountLocated>,
    sweep: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(sweep);
    loop {
        let mut batch: Vec<Uuid> = Vec::new();
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {
                if let Err(e) = assign(&pool, None).await {
                    tracing::warn!(error = %e, "territory sweep failed");
                }
                continue;
            }
            event = located.recv() => match event {
                Ok(e) => batch.push(e.account_id),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: the sweep below catches new ones.
                    ticker.reset_immediately();
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
        let gather = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(gather);
        loop {
            tokio::select! {
                () = &mut gather => break,
                event = located.recv() => match event {
                    Ok(e) => batch.push(e.account_id),
                    Err(_) => break,
                }
            }
        }
        batch.sort_unstable();
        batch.dedup();
        if let Err(e) = assign(&pool, Some(&batch)).await {
            tracing::warn!(error = %e, accounts = batch.len(), "assigning located accounts failed");
        }
    }
}
