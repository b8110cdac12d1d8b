//! The plan reads: rows, territories, figures, changes and the CRM owner changes.

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{
    Change, PLAN_COLUMNS, PLAN_JOB_STATE, PlanJobState, PlanRow, PlanStatus, PlanTerritory,
    TerritoryFigures,
};
use crate::crm::writeback::OwnerChange;
use crate::spatial::LonLat;

/// Locks a plan for a change in `db`'s transaction: its team, status and job state (`None`:
/// no such plan).
pub(super) async fn lock_for_change(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Option<(Uuid, PlanStatus, PlanJobState)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select team_id, status, {PLAN_JOB_STATE} from territory_plans where id = $1 for update"
    ))
    .bind(plan_id)
    .fetch_optional(db)
    .await
}

/// The team a plan belongs to (`None`: no such plan).
pub async fn team_of(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select team_id from territory_plans where id = $1")
        .bind(plan_id)
        .fetch_optional(db)
        .await
}

/// Takes the team's publish lock for the rest of the transaction: publishing and placing
/// arrivals in the published plan run one at a time per team.
pub async fn lock_team_for_publish(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/publish_lock_team.sql"))
        .bind(team_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn get(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Option<PlanRow>, sqlx::Error> {
    sqlx::query_as::<_, PlanRow>(&format!(
        "select {} from territory_plans where id = $1",
        *PLAN_COLUMNS
    ))
    .bind(plan_id)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, team_id: Uuid) -> Result<Vec<PlanRow>, sqlx::Error> {
    sqlx::query_as::<_, PlanRow>(&format!(
        "select {} from territory_plans where team_id = $1
         order by (status = 'published') desc, created_at desc",
        *PLAN_COLUMNS
    ))
    .bind(team_id)
    .fetch_all(db)
    .await
}

pub async fn published(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from territory_plans where team_id = $1 and status = 'published'")
        .bind(team_id)
        .fetch_optional(db)
        .await
}

pub async fn plan_territories(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<PlanTerritory>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        name: String,
        color: String,
        rep_id: Option<Uuid>,
        rep_name: Option<String>,
        rep_crm_owner_id: Option<String>,
        lon: Option<f64>,
        lat: Option<f64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select t.id, t.name, t.color, pt.rep_id, r.name as rep_name,
                r.crm_owner_id as rep_crm_owner_id,
                st_x(r.home_base) as lon, st_y(r.home_base) as lat
         from plan_territories pt
         join territories t on t.id = pt.territory_id
         left join reps r on r.id = pt.rep_id
         where pt.plan_id = $1
         order by t.name, t.id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let home = r
                .lon
                .zip(r.lat)
                .map(|(lon, lat)| LonLat::new(lon, lat))
                .transpose()
                .map_err(|e| sqlx::Error::Decode(format!("rep home base: {e}").into()))?;
            Ok(PlanTerritory {
                territory_id: r.id,
                name: r.name,
                color: r.color,
                rep_id: r.rep_id,
                rep_name: r.rep_name,
                rep_crm_owner_id: r.rep_crm_owner_id,
                home,
            })
        })
        .collect()
}
pub async fn territory_figures(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<TerritoryFigures>, sqlx::Error> {
    sqlx::query_as::<_, TerritoryFigures>(
        "select t.id, t.name, t.color, pt.rep_id, r.name as rep_name,
                count(pa.account_id) as accounts,
                coalesce(sum(pa.workload), 0)::float8 as workload,
                coalesce(sum(a.annual_value), 0)::float8 as value
         from plan_territories pt
         join territories t on t.id = pt.territory_id
         left join reps r on r.id = pt.rep_id
         left join plan_assignments pa
                on pa.plan_id = pt.plan_id and pa.territory_id = pt.territory_id
         left join accounts a on a.id = pa.account_id
         where pt.plan_id = $1
         group by t.id, t.name, t.color, pt.rep_id, r.name
         order by t.name, t.id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await
}
/// Accounts of `plan_id` in another territory (or absent) in `against`.
pub async fn changes(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    against: Option<Uuid>,
) -> Result<Vec<Change>, sqlx::Error> {
    sqlx::query_as::<_, Change>(
        "select a.id as account_id, a.name, a.annual_value::float8 as annual_value,
                o.territory_id as from_territory_id, ot.name as from_name, orp.name as from_rep_name,
                n.territory_id as to_territory_id, nt.name as to_name, nrp.name as to_rep_name
         from plan_assignments n
         join accounts a on a.id = n.account_id
         join territories nt on nt.id = n.territory_id
         join plan_territories npt on npt.plan_id = n.plan_id and npt.territory_id = n.territory_id
         left join reps nrp on nrp.id = npt.rep_id
         left join plan_assignments o on o.plan_id = $2 and o.account_id = n.account_id
         left join territories ot on ot.id = o.territory_id
         left join plan_territories opt on opt.plan_id = o.plan_id and opt.territory_id = o.territory_id
         left join reps orp on orp.id = opt.rep_id
         where n.plan_id = $1 and (o.territory_id is null or o.territory_id <> n.territory_id)
         order by a.annual_value desc, a.id",
    )
    .bind_all((plan_id, against))
    .fetch_all(db)
    .await
}

/// The CRM owner changes publishing `plan_id` would make: accounts whose territory's rep has
/// a CRM owner id other than the account's CRM owner today.
pub async fn owner_changes(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<OwnerChange>, sqlx::Error> {
    sqlx::query_as(
        "select a.id as account_id, a.crm_source, a.crm_id,
                pa.crm_owner_at_plan as expected_owner, r.crm_owner_id as new_owner
         from plan_assignments pa
         join accounts a on a.id = pa.account_id and a.deleted_at is null
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         join reps r on r.id = pt.rep_id and r.crm_owner_id is not null
         where pa.plan_id = $1 and a.crm_owner_id is distinct from r.crm_owner_id
         order by a.crm_source, a.crm_id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await
}
