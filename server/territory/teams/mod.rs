//! Teams as territory planning sees them: who may plan which team, the team's territories (one
//! per rep, made on first use), and locks.

mod db;

use crate::db::Bind;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TerritoryError;
use crate::audit::{self, AuditEvent};

pub use db::{
    assignment, create, ensure_territories, for_user, locked_in, may_plan, set_members,
    team_of_territory, upsert_by_name, workload_tiers,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamRep {
    pub id: Uuid,
    pub name: String,
    pub crm_owner_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub reps: Vec<TeamRep>,
    pub published_plan_id: Option<Uuid>,
}

/// Locks an account in a territory of `team_id`. The account must be the team's (in one of
/// its plans, or owned by one of its reps); a lock held by another team is never replaced
/// (409); the team's own earlier lock is. One transaction, the lock row locked while checked,
/// with its audit row.
pub async fn lock(
    pool: &sqlx::PgPool,
    team_id: Uuid,
    account_id: Uuid,
    territory_id: Uuid,
    user_id: Option<Uuid>,
    reason: &str,
) -> Result<(), TerritoryError> {
    let mut tx = pool.begin().await?;
    // An unknown account and another team's get the same answer: a manager learns nothing
    // of other teams' books.
    let teams_account: bool = sqlx::query_scalar(
        "select exists (select 1 from plan_assignments pa
                        join territory_plans p on p.id = pa.plan_id
                        where pa.account_id = $1 and p.team_id = $2)
             or exists (select 1 from accounts a join team_members m on m.rep_id = a.owner_rep_id
                        where a.id = $1 and m.team_id = $2)",
    )
    .bind_all((account_id, team_id))
    .fetch_one(&mut *tx)
    .await?;
    if !teams_account {
        return Err(TerritoryError::Invalid("unknown account".into()));
    }
    let held_by: Option<Option<Uuid>> = sqlx::query_scalar(
        "select t.team_id from territory_locks l join territories t on t.id = l.territory_id
         where l.account_id = $1 for update of l",
    )
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = held_by.flatten().filter(|t| *t != team_id) {
        tracing::info!(account = %account_id, team = %other, "lock refused: another team holds it");
        return Err(TerritoryError::Conflict(
            "another team has locked this account; its manager must unlock it first".into(),
        ));
    }
    sqlx::query(
        "insert into territory_locks (account_id, territory_id, locked_by, reason)
         values ($1, $2, $3, left($4, 500))
         on conflict (account_id) do update set territory_id = excluded.territory_id,
             locked_by = excluded.locked_by, reason = excluded.reason, created_at = now()",
    )
    .bind_all((account_id, territory_id, user_id, reason))
    .execute(&mut *tx)
    .await?;
    audit::commit_with(
        tx,
        AuditEvent::new(user_id, "territory.account_locked")
            .about("account", account_id.to_string())
            .with(json!({"territory_id": territory_id})),
    )
    .await?;
    Ok(())
}

/// Unlocks an account locked in `territory_id`, in one transaction with its audit row.
pub async fn unlock(
    pool: &PgPool,
    account_id: Uuid,
    territory_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let unlocked = sqlx::query("delete from territory_locks where account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    audit::commit_with(
        tx,
        AuditEvent::new(user_id, "territory.account_unlocked")
            .about("account", account_id.to_string())
            .with(json!({"territory_id": territory_id})),
    )
    .await?;
    Ok(unlocked)
}

/// An account's assignment in its team's published plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Assignment {
    pub plan_id: Uuid,
    pub territory_id: Uuid,
    pub territory_name: String,
    pub source: String,
    pub rule_id: Option<Uuid>,
    pub reason: String,
    pub locked: bool,
}

/// A team's workload settings for one tier; `None` fields fall back to the defaults (the
/// account's own visits, 60/45/30 service minutes for A/B/C, estimated travel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSetting {
    pub tier: String,
    pub visits_per_year: Option<i32>,
    pub service_minutes: Option<i32>,
    pub travel_minutes: Option<i32>,
}

/// Replaces the team's settings for the tiers given; all-`None` settings return a tier to the
/// defaults. One transaction, with its audit row.
pub async fn set_workload_tiers(
    pool: &PgPool,
    team_id: Uuid,
    settings: &[TierSetting],
    user_id: Option<Uuid>,
) -> Result<(), TerritoryError> {
    let mut tx = pool.begin().await?;
    for s in settings {
        if !matches!(s.tier.as_str(), "A" | "B" | "C") {
            return Err(TerritoryError::Invalid(format!(
                "unknown tier {:?} (A, B or C)",
                s.tier
            )));
        }
        let in_range = |v: Option<i32>, max: i32| v.is_none_or(|v| (0..=max).contains(&v));
        if !in_range(s.visits_per_year, 366)
            || !in_range(s.service_minutes, 1440)
            || !in_range(s.travel_minutes, 1440)
        {
            return Err(TerritoryError::Invalid(
                "visits_per_year must be 0 to 366; minutes 0 to 1440".into(),
            ));
        }
        if s.visits_per_year.is_none() && s.service_minutes.is_none() && s.travel_minutes.is_none()
        {
            sqlx::query(
                "delete from workload_tiers where team_id = $1 and tier = $2::account_tier",
            )
            .bind_all((team_id, &s.tier))
            .execute(&mut *tx)
            .await?;
            continue;
        }
        sqlx::query(
            "insert into workload_tiers (team_id, tier, visits_per_year, service_minutes,
                                         travel_minutes)
             values ($1, $2::account_tier, $3,
                     coalesce($4, case $2 when 'A' then 60 when 'B' then 45 else 30 end), $5)
             on conflict (team_id, tier) do update set visits_per_year = excluded.visits_per_year,
                 service_minutes = excluded.service_minutes, travel_minutes = excluded.travel_minutes",
        )
        .bind_all((team_id, &s.tier, s.visits_per_year, s.service_minutes, s.travel_minutes))
        .execute(&mut *tx)
        .await?;
    }
    audit::commit_with(
        tx,
        AuditEvent::new(user_id, "territory.workload_changed")
            .about("team", team_id.to_string())
            .with(json!({ "settings": settings })),
    )
    .await?;
    Ok(())
}
