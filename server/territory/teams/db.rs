//! The SQL behind teams: who may plan which team, the team's territories, locks, and
//! workload settings.

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Assignment, Team, TeamRep, TierSetting};
use crate::auth::{Role, User};
use crate::territory::TerritoryError;

/// Colours given to new territories in turn (distinguishable, readable on a light map).
const PALETTE: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

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
    let mut by_team: std::collections::HashMap<Uuid, Vec<TeamRep>> =
        std::collections::HashMap::default();
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
            .bind_all((team_id, user.id))
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
        .bind_all((rep_name, color, rep_id, team_id))
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

/// The team named `name`, created or given `manager` (the demo seed); returns its id.
pub async fn upsert_by_name(
    db: impl PgExecutor<'_>,
    name: &str,
    manager: Uuid,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into teams (name, manager_user_id) values ($1, $2)
         on conflict on constraint teams_name_key do update set manager_user_id = excluded.manager_user_id
         returning id",
    )
    .bind_all((name, manager))
    .fetch_one(db)
    .await
}

/// A new team without a manager (benchmarks); returns its id.
pub async fn create(db: impl PgExecutor<'_>, name: &str) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar("insert into teams (name) values ($1) returning id")
        .bind(name)
        .fetch_one(db)
        .await
}

/// Puts each of `reps` in `team`, moving it from the team it was in (a rep is in one team).
pub async fn set_members(
    db: impl PgExecutor<'_>,
    team: Uuid,
    reps: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into team_members (team_id, rep_id) select $1, unnest($2::uuid[])
         on conflict on constraint team_members_rep_key do update set team_id = excluded.team_id",
    )
    .bind_all((team, reps))
    .execute(db)
    .await?;
    Ok(())
}
