//! What the territory page draws: a plan's accounts and territory shapes as GeoJSON (built by
//! PostGIS), and its figures.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::TerritoryError;
use super::plans::{self, PlanRow, TerritoryFigures};

/// A plan's accounts as a GeoJSON FeatureCollection.
pub async fn accounts_geojson(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(
        "select json_build_object('type', 'FeatureCollection', 'features',
                    coalesce(json_agg(json_build_object(
                        'type', 'Feature',
                        'id', a.id,
                        'geometry', st_asgeojson(a.location, 6)::json,
                        'properties', json_build_object(
                            'id', a.id, 'name', a.name, 'tier', a.tier,
                            'annual_value', a.annual_value::float8,
                            'workload', round(pa.workload::numeric, 1)::float8,
                            'territory_id', pa.territory_id, 'source', pa.source,
                            'reason', pa.reason,
                            'locked', exists (select 1 from territory_locks l
                                              where l.account_id = a.id),
                            'cell', a.h3_cell::text))
                        order by a.annual_value desc, a.id), '[]'::json))::jsonb
         from plan_assignments pa
         join accounts a on a.id = pa.account_id and a.location is not null
         where pa.plan_id = $1",
    )
    .bind(plan_id)
    .fetch_one(db)
    .await
}

/// A plan's territory shapes as a GeoJSON FeatureCollection.
pub async fn shapes_geojson(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(
        "select json_build_object('type', 'FeatureCollection', 'features',
                    coalesce(json_agg(json_build_object(
                        'type', 'Feature',
                        'id', t.id,
                        'geometry', st_asgeojson(pt.shape, 6)::json,
                        'properties', json_build_object(
                            'territory_id', t.id, 'name', t.name, 'color', t.color))
                        order by t.name), '[]'::json))::jsonb
         from plan_territories pt
         join territories t on t.id = pt.territory_id
         where pt.plan_id = $1 and pt.shape is not null",
    )
    .bind(plan_id)
    .fetch_one(db)
    .await
}

/// A territory's figures with its deviation from the mean workload.
#[derive(Debug, Clone, Serialize)]
pub struct TerritoryView {
    pub id: Uuid,
    pub name: String,
    pub color: String,
    pub rep: Option<RepRef>,
    pub accounts: i64,
    pub workload: f64,
    pub value: f64,
    /// Workload relative to the mean: 0.03 = 3% above.
    pub deviation: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub state: String,
    pub progress: f32,
    pub message: Option<String>,
}

/// A plan as `GET /api/plans/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub status: String,
    pub method: String,
    pub parent_plan_id: Option<Uuid>,
    pub params: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub job: Job,
    pub territories: Vec<TerritoryView>,
    pub metrics: Value,
}

fn territory_views(figures: Vec<TerritoryFigures>) -> Vec<TerritoryView> {
    let n = figures.len().max(1) as f64;
    let mean = figures.iter().map(|f| f.workload).sum::<f64>() / n;
    figures
        .into_iter()
        .map(|f| TerritoryView {
            deviation: if mean > 0.0 {
                f.workload / mean - 1.0
            } else {
                0.0
            },
            rep: f
                .rep_id
                .zip(f.rep_name)
                .map(|(id, name)| RepRef { id, name }),
            id: f.id,
            name: f.name,
            color: f.color,
            accounts: f.accounts,
            workload: f.workload,
            value: f.value,
        })
        .collect()
}

pub fn plan_view(plan: PlanRow, figures: Vec<TerritoryFigures>) -> PlanView {
    PlanView {
        id: plan.id,
        team_id: plan.team_id,
        name: plan.name,
        status: plan.status,
        method: plan.method,
        parent_plan_id: plan.parent_plan_id,
        params: plan.params.0,
        created_at: plan.created_at,
        published_at: plan.published_at,
        job: Job {
            state: plan.job_state,
            progress: plan.job_progress,
            message: plan.job_message,
        },
        territories: territory_views(figures),
        metrics: plan.metrics.map_or(Value::Null, |m| m.0),
    }
}

/// Loads a plan with its figures.
pub async fn plan(pool: &sqlx::PgPool, plan_id: Uuid) -> Result<PlanView, TerritoryError> {
    let row = plans::get(pool, plan_id)
        .await?
        .ok_or(TerritoryError::NotFound)?;
    let figures = plans::territory_figures(pool, plan_id).await?;
    Ok(plan_view(row, figures))
}
