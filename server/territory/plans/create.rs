//! Creating a draft plan beside the published one.

use crate::db::Bind;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::generate::check_drive_time;
use super::{DEFAULT_TOLERANCE, Method, NewPlan, Params, Travel, get, published};
use crate::audit::{self, AuditEvent};
use crate::territory::{TerritoryError, teams};

/// Creates a draft; the caller runs [`generate`] next (inline in tests and commands; the page
/// queues a job with `crate::jobs::start_plan`, which calls [`create_in`]).
pub async fn create(
    pool: &PgPool,
    team_id: Uuid,
    user_id: Option<Uuid>,
    input: &NewPlan,
) -> Result<Uuid, TerritoryError> {
    let mut tx = pool.begin().await?;
    let plan_id = create_in(&mut tx, team_id, user_id, input).await?;
    tx.commit().await?;
    Ok(plan_id)
}

/// [`create`] inside the caller's transaction (so a job can be queued with the draft, or
/// neither).
pub async fn create_in(
    tx: &mut sqlx::PgConnection,
    team_id: Uuid,
    user_id: Option<Uuid>,
    input: &NewPlan,
) -> Result<Uuid, TerritoryError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(TerritoryError::Invalid(
            "a plan needs a name of 1 to 200 characters".into(),
        ));
    }
    let tolerance = input.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    if !(0.005..=0.5).contains(&tolerance) {
        return Err(TerritoryError::Invalid(
            "tolerance must be between 0.005 (0.5%) and 0.5 (50%)".into(),
        ));
    }
    teams::ensure_territories(&mut *tx, team_id).await?;
    let base = match input.from_plan_id {
        Some(id) => {
            let plan = get(&mut *tx, id).await?.ok_or(TerritoryError::NotFound)?;
            if plan.team_id != team_id {
                return Err(TerritoryError::Invalid(
                    "from_plan_id is another team's plan".into(),
                ));
            }
            Some(id)
        }
        None => published(&mut *tx, team_id).await?,
    };
    if input.method == Method::Copy && input.from_plan_id.is_none() && base.is_none() {
        return Err(TerritoryError::Invalid(
            "copy needs from_plan_id (the team has no published plan)".into(),
        ));
    }
    if input.travel == Travel::DriveTime
        && (input.method != Method::Balanced || !input.use_home_bases)
    {
        return Err(TerritoryError::Invalid(
            "travel \"drive_time\" needs method \"balanced\" with use_home_bases: drive times \
             are measured from the reps' home bases"
                .into(),
        ));
    }
    let params = Params {
        tolerance,
        use_home_bases: input.use_home_bases,
        travel: input.travel,
    };
    let plan_id: Uuid = sqlx::query_scalar(
        "insert into territory_plans (team_id, name, method, parent_plan_id, params, created_by)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind_all((
        team_id,
        name,
        input.method.as_str(),
        base,
        sqlx::types::Json(&params),
        user_id,
    ))
    .fetch_one(&mut *tx)
    .await?;
    // The base plan's territories and reps, else the team's.
    sqlx::query(
        "insert into plan_territories (plan_id, territory_id, rep_id)
         select $1, pt.territory_id, pt.rep_id from plan_territories pt
         join territories t on t.id = pt.territory_id and t.team_id = $2
         where pt.plan_id = $3
         union all
         select $1, t.id, t.rep_id from territories t
         where t.team_id = $2
           and not exists (select 1 from plan_territories pt
                           where pt.plan_id = $3 and pt.territory_id = t.id)",
    )
    .bind_all((plan_id, team_id, base))
    .execute(&mut *tx)
    .await?;
    if input.travel == Travel::DriveTime {
        // What the job would find out only after the 202: refused here instead.
        check_drive_time(&mut *tx, plan_id, team_id).await?;
    }
    audit::record(
        &mut *tx,
        AuditEvent::new(user_id, "territory.plan_created")
            .about("territory_plan", plan_id.to_string())
            .with(json!({"team_id": team_id, "method": input.method.as_str(), "base": base})),
    )
    .await?;
    Ok(plan_id)
}
