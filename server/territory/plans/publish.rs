//! Publishing a draft atomically with its CRM owner changes, and rolling back.

use crate::db::Bind;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::edit::refresh_metrics;
use super::{
    Method, NewPlan, PlanJobState, PlanStatus, Travel, create, generate, get, owner_changes,
};
use crate::accounts;
use crate::audit::{self, AuditEvent};
use crate::crm::writeback;
use crate::territory::TerritoryError;

/// What publishing did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Published {
    pub published: Uuid,
    pub superseded: Option<Uuid>,
    pub accounts_moved: u64,
    pub owner_changes: usize,
    pub queued: u64,
    pub skipped: u64,
}

/// Publishes a draft atomically: it becomes the team's plan, the accounts and territories
/// follow it, and the CRM owner changes are queued for write-back, all in one transaction.
pub async fn publish(
    pool: &PgPool,
    plan_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Published, TerritoryError> {
    let mut tx = pool.begin().await?;
    let team_id = match super::db::lock_for_change(&mut *tx, plan_id).await? {
        None => return Err(TerritoryError::NotFound),
        Some((_, status, _)) if status != PlanStatus::Draft => {
            return Err(TerritoryError::Conflict(format!(
                "only drafts can be published (this plan is {status}); to go back to an earlier plan, roll back to it"
            )));
        }
        Some((_, _, job)) if job != PlanJobState::Idle => {
            return Err(TerritoryError::Conflict(
                "the plan is being computed or its computation failed".into(),
            ));
        }
        Some((team, _, _)) => team,
    };
    // One publisher per team at a time.
    super::db::lock_team_for_publish(&mut *tx, team_id).await?;
    let superseded: Option<Uuid> = sqlx::query_scalar(
        "update territory_plans set status = 'superseded'
         where team_id = $1 and status = 'published' returning id",
    )
    .bind(team_id)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "update territory_plans set status = 'published', published_at = now(), published_by = $2
         where id = $1",
    )
    .bind_all((plan_id, user_id))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update territories t set rep_id = pt.rep_id
         from plan_territories pt
         where pt.plan_id = $1 and pt.territory_id = t.id and t.rep_id is distinct from pt.rep_id",
    )
    .bind(plan_id)
    .execute(&mut *tx)
    .await?;
    let changes = owner_changes(&mut *tx, plan_id).await?;
    let accounts_moved = accounts::territory::follow_published_plan(&mut *tx, plan_id).await?;
    let summary = writeback::enqueue(&mut tx, plan_id, &changes).await?;
    refresh_metrics(&mut tx, plan_id).await?;
    audit::commit_with(
        tx,
        AuditEvent::new(user_id, "territory.plan_published")
            .about("territory_plan", plan_id.to_string())
            .with(json!({
                "team_id": team_id, "superseded": superseded, "accounts_moved": accounts_moved,
                "owner_changes": changes.len(), "queued": summary.queued,
                "skipped": summary.skipped,
            })),
    )
    .await?;
    Ok(Published {
        published: plan_id,
        superseded,
        accounts_moved,
        owner_changes: changes.len(),
        queued: summary.queued,
        skipped: summary.skipped,
    })
}

/// Rolls back to an earlier (superseded) plan: copies it into a new draft, taking today's CRM
/// owners as the expected ones, and publishes that.
pub async fn rollback(
    pool: &PgPool,
    plan_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Published, TerritoryError> {
    let plan = get(pool, plan_id).await?.ok_or(TerritoryError::NotFound)?;
    if plan.status != PlanStatus::Superseded {
        return Err(TerritoryError::Conflict(
            "only a superseded plan can be rolled back to".into(),
        ));
    }
    let copy = create(
        pool,
        plan.team_id,
        user_id,
        &NewPlan {
            name: format!("Rollback to {}", plan.name)
                .chars()
                .take(200)
                .collect(),
            method: Method::Copy,
            from_plan_id: Some(plan_id),
            tolerance: None,
            use_home_bases: false,
            travel: Travel::StraightLine,
        },
    )
    .await?;
    generate(pool, copy).await?;
    publish(pool, copy, user_id).await
}

/// For every team with reps and no published plan yet: makes today's territories (one per rep,
/// accounts with their owners) and publishes them, so arrivals have a plan to go into. Returns
/// the teams' names and plans. Used by `terrane seed`.
pub async fn publish_current_where_missing(
    pool: &PgPool,
) -> Result<Vec<(String, Uuid)>, TerritoryError> {
    let teams: Vec<(Uuid, String)> = sqlx::query_as(
        "select t.id, t.name from teams t
         where exists (select 1 from team_members m where m.team_id = t.id)
           and not exists (select 1 from territory_plans p
                           where p.team_id = t.id and p.status = 'published')
         order by t.name",
    )
    .fetch_all(pool)
    .await?;
    let mut done = Vec::with_capacity(teams.len());
    for (team_id, name) in teams {
        let plan_id = create(
            pool,
            team_id,
            None,
            &NewPlan {
                name: "Today's territories".into(),
                method: Method::Current,
                from_plan_id: None,
                tolerance: None,
                use_home_bases: false,
                travel: Travel::StraightLine,
            },
        )
        .await?;
        generate(pool, plan_id).await?;
        publish(pool, plan_id, None).await?;
        done.push((name, plan_id));
    }
    Ok(done)
}
