//! Teams as territory planning sees them: who may plan which team, the team's territories (one
//! per rep, made on first use), and locks.

use serde::Serialize;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::TerritoryError;
use crate::audit::{self, AuditEvent};
use crate::auth::{Role, User};

/// Colours given to new territories in turn (distinguishable, readable on a light map).
const PALETTE: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

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

/// Teams `user` may plan: every team for an admin, the teams they manage for a manager.
pub async fn for_user(db: &sqlx::PgPool, user: &User) -> Result<Vec<Team>, sqlx::Error> {
    let manager = match user.role {
        Some(Role::Admin) => None,
        Some(Role::Manager) => Some(user.id),
        _ => return Ok(Vec::new()),
    };
    let rows: Vec<(Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "select t.id, t.name,
                (select p.id from territory_plans p where p.team_id = t.id and p.status = 'published')
         from teams t
         where $1::uuid is null or t.manager_user_id = $1
         order by t.name",
    )
    .bind(manager)
    .fetch_all(db)
    .await?;
    // Every listed team's active reps in one query.
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let reps: Vec<(Uuid, Uuid, String, Option<String>)> = sqlx::query_as(
        "select m.team_id, r.id, r.name, r.crm_owner_id
         from team_members m join reps r on r.id = m.rep_id
         where m.team_id = any($1) and r.active order by r.name, r.id",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut by_team: std::collections::HashMap<Uuid, Vec<TeamRep>> = Default::default();
    for (team_id, id, name, crm_owner_id) in reps {
        by_team.entry(team_id).or_default().push(TeamRep {
            id,
            name,
            crm_owner_id,
        });
    }
    let teams = rows
        .into_iter()
        .map(|(id, name, published_plan_id)| Team {
            id,
            name,
            reps: by_team.remove(&id).unwrap_or_default(),
            published_plan_id,
        })
        .collect();
    Ok(teams)
}

/// Whether `user` may plan `team_id` (an admin any team, a manager theirs).
pub async fn may_plan(
    db: impl PgExecutor<'_>,
    user: &User,
    team_id: Uuid,
) -> Result<bool, sqlx::Error> {
    match user.role {
        Some(Role::Admin) => {
            sqlx::query_scalar("select exists (select 1 from teams where id = $1)")
                .bind(team_id)
                .fetch_one(db)
                .await
        }
        Some(Role::Manager) => {
            sqlx::query_scalar(
                "select exists (select 1 from teams where id = $1 and manager_user_id = $2)",
            )
            .bind(team_id)
            .bind(user.id)
            .fetch_one(db)
            .await
        }
        _ => Ok(false),
    }
}

/// Gives every active rep of the team who has no territory in it one, named after them.
pub async fn ensure_territories(
    tx: &mut sqlx::PgConnection,
    team_id: Uuid,
) -> Result<u64, TerritoryError> {
    let missing: Vec<(Uuid, String)> = sqlx::query_as(
        "select r.id, r.name from team_members m join reps r on r.id = m.rep_id
         where m.team_id = $1 and r.active
           and not exists (select 1 from territories t where t.team_id = $1 and t.rep_id = r.id)
         order by r.name, r.id",
    )
    .bind(team_id)
    .fetch_all(&mut *tx)
    .await?;
    let existing: i64 = sqlx::query_scalar("select count(*) from territories where team_id = $1")
        .bind(team_id)
        .fetch_one(&mut *tx)
        .await?;
    let mut made = 0;
    for (i, (rep_id, rep_name)) in missing.iter().enumerate() {
        let color = PALETTE[(usize::try_from(existing).unwrap_or(0) + i) % PALETTE.len()];
        // Territory names are unique across teams; add the team's name when needed.
        made += sqlx::query(
            "insert into territories (name, color, rep_id, team_id)
             select case when exists (select 1 from territories where name = $1)
                         then left($1 || ' (' || (select name from teams where id = $4) || ')', 200)
                         else $1 end,
                    $2, $3, $4",
        )
        .bind(rep_name)
        .bind(color)
        .bind(rep_id)
        .bind(team_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(made)
}

/// The team whose territory this is.
pub async fn team_of_territory(
    db: impl PgExecutor<'_>,
    territory_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar::<_, Option<Uuid>>("select team_id from territories where id = $1")
        .bind(territory_id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
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
    .bind(account_id)
    .bind(team_id)
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
    .bind(account_id)
    .bind(territory_id)
    .bind(user_id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.account_locked",
            subject_type: Some("account"),
            subject_id: Some(account_id.to_string()),
            details: json!({"territory_id": territory_id}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The territory an account is locked in, if it is.
pub async fn locked_in(
    db: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select territory_id from territory_locks where account_id = $1")
        .bind(account_id)
        .fetch_optional(db)
        .await
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
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.account_unlocked",
            subject_type: Some("account"),
            subject_id: Some(account_id.to_string()),
            details: json!({"territory_id": territory_id}),
        },
    )
    .await?;
    tx.commit().await?;
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

pub async fn assignment(
    db: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<Option<Assignment>, sqlx::Error> {
    sqlx::query_as::<_, Assignment>(
        "select pa.plan_id, pa.territory_id, t.name as territory_name, pa.source::text as source,
                pa.rule_id, pa.reason,
                exists (select 1 from territory_locks l where l.account_id = pa.account_id) as locked
         from plan_assignments pa
         join territory_plans p on p.id = pa.plan_id and p.status = 'published'
         join territories t on t.id = pa.territory_id
         where pa.account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(db)
    .await
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

/// The team's settings for tiers A, B and C (defaults shown as `None`).
pub async fn workload_tiers(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
) -> Result<Vec<TierSetting>, sqlx::Error> {
    sqlx::query_as::<_, TierSetting>(
        "select t.tier::text as tier, w.visits_per_year, w.service_minutes, w.travel_minutes
         from unnest(enum_range(null::account_tier)) as t(tier)
         left join workload_tiers w on w.team_id = $1 and w.tier = t.tier
         order by t.tier",
    )
    .bind(team_id)
    .fetch_all(db)
    .await
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
            .bind(team_id)
            .bind(&s.tier)
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
        .bind(team_id)
        .bind(&s.tier)
        .bind(s.visits_per_year)
        .bind(s.service_minutes)
        .bind(s.travel_minutes)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.workload_changed",
            subject_type: Some("team"),
            subject_id: Some(team_id.to_string()),
            details: json!({ "settings": settings }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
