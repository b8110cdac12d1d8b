//! What the territory page and API show: a plan's accounts and territory shapes as GeoJSON
//! (built by PostGIS), its figures, the plan list, diffs and comparisons. Each type's schema
//! is part of the OpenAPI document (`server/web/openapi.rs`).

use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TerritoryError;
use super::plans::{self, Params, PlanJobState, PlanRow, PlanStatus, TerritoryFigures};
use crate::accounts::CrmRef;

/// A plan's accounts as a GeoJSON FeatureCollection.
pub async fn accounts_geojson(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/views_accounts_geojson.sql"))
        .bind(plan_id)
        .fetch_one(db)
        .await
}

/// A plan's territory shapes as a GeoJSON FeatureCollection.
pub async fn shapes_geojson(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/views_shapes_geojson.sql"))
        .bind(plan_id)
        .fetch_one(db)
        .await
}

/// GeoJSON FeatureCollection of a plan's accounts (`GET /api/plans/{id}/accounts`); PostGIS
/// builds it, this type gives its schema.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PlanAccounts {
    #[serde(rename = "type")]
    #[schema(pattern = "^FeatureCollection$")]
    kind: String,
    features: Vec<PlanAccountFeature>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct PlanAccountFeature {
    #[serde(rename = "type")]
    #[schema(pattern = "^Feature$")]
    kind: String,
    id: Uuid,
    geometry: crate::accounts::PointGeometry,
    properties: PlanAccountProperties,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct PlanAccountProperties {
    id: Uuid,
    name: String,
    /// `A`, `B` or `C`.
    tier: String,
    annual_value: f64,
    /// Minutes per year.
    workload: f64,
    territory_id: Uuid,
    /// `rule`, `lock`, `optimizer`, `manual`, `current` or `arrival`.
    source: String,
    /// Why the account is in its territory, in words.
    reason: String,
    locked: bool,
    /// The account's H3 cell (resolution 9), as a decimal string.
    cell: Option<String>,
}

/// GeoJSON FeatureCollection of a plan's territory shapes (`GET /api/plans/{id}/shapes`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PlanShapes {
    #[serde(rename = "type")]
    #[schema(pattern = "^FeatureCollection$")]
    kind: String,
    features: Vec<ShapeFeature>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ShapeFeature {
    #[serde(rename = "type")]
    #[schema(pattern = "^Feature$")]
    kind: String,
    id: Uuid,
    /// A GeoJSON `MultiPolygon` (or `Polygon`), longitude before latitude.
    #[schema(value_type = Object)]
    geometry: (),
    properties: ShapeProperties,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ShapeProperties {
    territory_id: Uuid,
    name: String,
    /// `#rrggbb`.
    color: String,
}

/// A plan's figures as stored with it (`metrics` of a plan); see docs/territories-api.md.
/// Shown as `null` until the plan's first generation has finished.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MetricsSummary {
    /// Number of territories.
    territories: u64,
    accounts: u64,
    unplaced: u64,
    /// Minutes per year.
    total_workload: f64,
    mean_workload: f64,
    max_over_mean: f64,
    max_workload_deviation: f64,
    max_deviation: f64,
    max_count_deviation: f64,
    workload_cv: f64,
    cv: f64,
    workload_gini: f64,
    gini: f64,
    msd_m2: f64,
    msd_km2: f64,
    contiguous: bool,
    pieces: u32,
    moved: u64,
    moved_accounts: u64,
    moved_value: f64,
    total_value: Option<f64>,
}

/// A territory's figures with its deviation from the mean workload.
#[derive(Debug, Clone, Serialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    /// `idle`, `queued`, `running` or `failed`.
    pub state: PlanJobState,
    pub progress: f32,
    pub message: Option<String>,
}

/// A plan as `GET /api/plans/{id}` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub status: PlanStatus,
    pub method: String,
    pub parent_plan_id: Option<Uuid>,
    #[schema(value_type = Params)]
    pub params: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub job: Job,
    pub territories: Vec<TerritoryView>,
    #[schema(value_type = Option<MetricsSummary>)]
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

/// One plan in a team's list (`GET /api/teams/{team}/plans`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanListItem {
    pub id: Uuid,
    pub name: String,
    /// `draft`, `published` or `superseded`.
    pub status: PlanStatus,
    pub method: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub job: Job,
    #[schema(value_type = Option<MetricsSummary>)]
    pub summary: Option<Value>,
}

impl From<PlanRow> for PlanListItem {
    fn from(p: PlanRow) -> Self {
        Self {
            id: p.id,
            name: p.name,
            status: p.status,
            method: p.method,
            created_at: p.created_at,
            published_at: p.published_at,
            job: Job {
                state: p.job_state,
                progress: p.job_progress,
                message: p.job_message,
            },
            summary: p.metrics.map(|m| m.0),
        }
    }
}

/// A team's plans, published first, then newest first.
pub async fn plan_list(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
) -> Result<Vec<PlanListItem>, sqlx::Error> {
    Ok(plans::list(db, team_id)
        .await?
        .into_iter()
        .map(PlanListItem::from)
        .collect())
}

/// A territory as a diff names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerritoryRef {
    pub territory_id: Uuid,
    pub name: String,
    pub rep_name: Option<String>,
}

/// An account that changes territory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountMove {
    pub account_id: Uuid,
    pub name: String,
    pub annual_value: f64,
    /// `null` when the account is not in the other plan.
    pub from: Option<TerritoryRef>,
    pub to: TerritoryRef,
}

/// A CRM owner change publishing would queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerChangeView {
    pub account_id: Uuid,
    /// Flattened: `crm_source`, `crm_id`.
    #[serde(flatten)]
    pub crm: CrmRef,
    pub from_owner: Option<String>,
    pub to_owner: String,
}

/// `GET /api/plans/{id}/diff`: what the plan changes against another (by default the
/// published one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Diff {
    pub against: Option<Uuid>,
    pub moved_accounts: usize,
    pub moved_value: f64,
    pub changes: Vec<AccountMove>,
    pub owner_changes: Vec<OwnerChangeView>,
}

/// The accounts `plan_id` moves against `against`, and the CRM owner changes it would queue.
pub async fn diff(
    pool: &sqlx::PgPool,
    plan_id: Uuid,
    against: Option<Uuid>,
) -> Result<Diff, sqlx::Error> {
    let changes = plans::changes(pool, plan_id, against).await?;
    let owner_changes = plans::owner_changes(pool, plan_id).await?;
    Ok(Diff {
        against,
        moved_accounts: changes.len(),
        moved_value: changes.iter().map(|c| c.annual_value).sum(),
        changes: changes
            .into_iter()
            .map(|c| AccountMove {
                account_id: c.account_id,
                name: c.name,
                annual_value: c.annual_value,
                from: c.from_territory_id.map(|id| TerritoryRef {
                    territory_id: id,
                    name: c.from_name.unwrap_or_default(),
                    rep_name: c.from_rep_name,
                }),
                to: TerritoryRef {
                    territory_id: c.to_territory_id,
                    name: c.to_name,
                    rep_name: c.to_rep_name,
                },
            })
            .collect(),
        owner_changes: owner_changes
            .into_iter()
            .map(|o| OwnerChangeView {
                account_id: o.account_id,
                crm: o.crm,
                from_owner: o.expected_owner,
                to_owner: o.new_owner,
            })
            .collect(),
    })
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparedPlan {
    pub id: Uuid,
    pub name: String,
    pub status: PlanStatus,
    #[schema(value_type = Option<MetricsSummary>)]
    pub metrics: Value,
    pub territories: Vec<TerritoryView>,
}

impl From<PlanView> for ComparedPlan {
    fn from(p: PlanView) -> Self {
        Self {
            id: p.id,
            name: p.name,
            status: p.status,
            metrics: p.metrics,
            territories: p.territories,
        }
    }
}

/// `GET /api/plans/compare`: two plans of one team side by side.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    pub a: ComparedPlan,
    pub b: ComparedPlan,
    /// Accounts in another territory in `b` than in `a`.
    pub moved_accounts: usize,
    pub moved_value: f64,
}

/// Plans `a` and `b` side by side (the caller checked they are one team's).
pub async fn compare(pool: &sqlx::PgPool, a: Uuid, b: Uuid) -> Result<Comparison, TerritoryError> {
    let changes = plans::changes(pool, b, Some(a)).await?;
    Ok(Comparison {
        a: plan(pool, a).await?.into(),
        b: plan(pool, b).await?.into(),
        moved_accounts: changes.len(),
        moved_value: changes.iter().map(|c| c.annual_value).sum(),
    })
}
