//! Accounts that arrive (new from the CRM, or located again after an address change) are
//! assigned into their team's published plan at once: a lock or rule first, else the
//! territory whose shape holds them, else their owner's, else the nearest territory.
//!
//! An account without a CRM owner gets the territory's rep, written back to the CRM; one whose
//! CRM owner differs is left as it is (the CRM user's choice wins) and the reason says so.

use crate::db::Bind;
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
    let teams: Vec<(Uuid, Uuid)> = sqlx::query_as(include_str!("sql/arrival_published_plans.sql"))
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
    plans::lock_team_for_publish(&mut *tx, team_id).await?;
    let still_published: bool = sqlx::query_scalar(include_str!("sql/arrival_still_published.sql"))
        .bind(plan_id)
        .fetch_one(&mut *tx)
        .await?;
    if !still_published {
        return Ok(ArrivalReport::default());
    }
    let pending: Vec<Uuid> = sqlx::query_scalar(include_str!("sql/arrival_unassigned.sql"))
        .bind_all((team_id, plan_id, only))
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
    let placed: Vec<(Uuid, Option<Uuid>, String)> =
        sqlx::query_as(include_str!("sql/arrival_places.sql"))
            .bind_all((&pending, plan_id))
            .fetch_all(&mut *tx)
            .await?;
    let in_plan: Vec<Uuid> = sqlx::query_scalar(include_str!("sql/arrival_territories.sql"))
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
    let assigned = sqlx::query(include_str!("sql/arrival_upsert_assignments.sql"))
        .bind_all((
            plan_id,
            team_id,
            &accounts,
            &territories,
            &sources,
            &rule_ids,
            &reasons,
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // The account follows; an owner is given only where there is none.
    crate::accounts::territory::follow_plan_on_arrival(&mut *tx, plan_id, &accounts).await?;
    sqlx::query(include_str!("sql/arrival_note_owner_kept.sql"))
        .bind_all((plan_id, &accounts))
        .execute(&mut *tx)
        .await?;
    let changes: Vec<OwnerChange> = sqlx::query_as(include_str!("sql/arrival_owners_to_write.sql"))
        .bind_all((plan_id, &accounts))
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
