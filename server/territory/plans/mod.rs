//! Plans: drafts beside the published plan, made from today's owners, the rules, the
//! optimizer or a stability rebalance; edited by hand; compared; published atomically with the
//! CRM owner changes queued in the same transaction.

mod create;
mod db;
mod edit;
mod generate;
mod publish;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::spatial::LonLat;

pub use create::{create, create_in};
pub use db::{
    changes, get, list, lock_team_for_publish, owner_changes, plan_territories, published, team_of,
    territory_figures,
};
pub use edit::{delete, move_accounts, refresh_metrics};
pub use generate::{generate, generate_with, rebalance, start_rebalance_in};
pub use publish::{Published, publish, publish_current_where_missing, rollback};

/// Default workload tolerance: every territory within ±5% of the mean.
pub const DEFAULT_TOLERANCE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Today's territories and owners.
    Current,
    /// Rules and locks, then today's territories.
    Rules,
    /// Rules and locks, then the optimizer from scratch.
    Balanced,
    /// Rules and locks, then the optimizer starting from a plan, moving as little as possible.
    Stability,
    /// A copy of another plan.
    Copy,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Rules => "rules",
            Self::Balanced => "balanced",
            Self::Stability => "stability",
            Self::Copy => "copy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "current" => Self::Current,
            "rules" => Self::Rules,
            "balanced" => Self::Balanced,
            "stability" => Self::Stability,
            "copy" => Self::Copy,
            _ => return None,
        })
    }
}

/// How the optimizer measures how far an account is from a rep's home base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Travel {
    /// Straight-line distance.
    #[default]
    StraightLine,
    /// Drive time by road from each rep's home base (OSRM); balanced plans with home bases
    /// only.
    DriveTime,
}

/// Most (home base, account) pairs a drive-time plan asks OSRM for.
pub const MAX_DRIVE_PAIRS: usize = 5_000_000;

/// What a manager asks for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub method: Method,
    pub from_plan_id: Option<Uuid>,
    pub tolerance: Option<f64>,
    #[serde(default)]
    pub use_home_bases: bool,
    #[serde(default)]
    pub travel: Travel,
}

/// Plan parameters kept with the plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Params {
    pub tolerance: f64,
    #[serde(default)]
    pub use_home_bases: bool,
    #[serde(default)]
    pub travel: Travel,
}

/// Where a plan is in its life; the database enum `territory_plan_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "territory_plan_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    /// Being made or edited beside the published plan.
    Draft,
    /// The team's plan: accounts and territories follow it (one per team).
    Published,
    /// Published once, replaced since; can be rolled back to.
    Superseded,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Superseded => "superseded",
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub status: PlanStatus,
    pub method: String,
    pub parent_plan_id: Option<Uuid>,
    pub params: sqlx::types::Json<Value>,
    pub job_state: PlanJobState,
    pub job_progress: f32,
    pub job_message: Option<String>,
    pub metrics: Option<sqlx::types::Json<Value>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PlanRow {
    /// The parameters kept with the plan (the defaults for a row that holds none).
    pub fn params(&self) -> Params {
        serde_json::from_value(self.params.0.clone()).unwrap_or(Params {
            tolerance: DEFAULT_TOLERANCE,
            use_home_bases: false,
            travel: Travel::StraightLine,
        })
    }
}

// Read from the text `PLAN_JOB_STATE` computes from the plan's newest job (`server/jobs/`).
/// A plan's job state: `idle` when it has no job or its newest job is done, else that job's
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PlanJobState {
    /// No job, or its newest job is done: the plan can be edited and published.
    Idle,
    /// A worker will pick the job up.
    Queued,
    /// A worker is computing the plan.
    Running,
    /// The newest job failed for good; the plan's `job_message` says why.
    Failed,
}

impl PlanJobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Failed => "failed",
        }
    }

    /// A job is waiting or running: the plan is not to be edited meanwhile.
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl std::fmt::Display for PlanJobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SQL for a plan's [`PlanJobState`] from its newest job (`server/jobs/`): `idle` when it has
/// none or the job is done, else the job's `queued`, `running` or `failed`.
pub const PLAN_JOB_STATE: &str = "coalesce((select case j.state when 'done' then 'idle' \
     else j.state::text end from jobs j where j.plan_id = territory_plans.id \
     order by j.id desc limit 1), 'idle')";

/// The job's sentence when it failed, else the plan's own note (warnings of its last run).
const PLAN_JOB_MESSAGE: &str = "coalesce((select j.message from jobs j \
     where j.plan_id = territory_plans.id order by j.id desc limit 1), job_message)";

static PLAN_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "id, team_id, name, status, method, parent_plan_id, params, \
         {PLAN_JOB_STATE} as job_state, job_progress, {PLAN_JOB_MESSAGE} as job_message, \
         metrics, created_at, published_at"
    )
});

/// A territory of a plan with its rep.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTerritory {
    pub territory_id: Uuid,
    pub name: String,
    pub color: String,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub rep_crm_owner_id: Option<String>,
    #[serde(skip)]
    pub home: Option<LonLat>,
}
/// Per-territory figures of a plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TerritoryFigures {
    pub id: Uuid,
    pub name: String,
    pub color: String,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub accounts: i64,
    pub workload: f64,
    pub value: f64,
}
/// One account that changes territory between two plans.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Change {
    pub account_id: Uuid,
    pub name: String,
    pub annual_value: f64,
    pub from_territory_id: Option<Uuid>,
    pub from_name: Option<String>,
    pub from_rep_name: Option<String>,
    pub to_territory_id: Uuid,
    pub to_name: String,
    pub to_rep_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_job_state_is_the_lowercase_word_in_json_and_on_the_page() {
        for (state, word) in [
            (PlanJobState::Idle, "idle"),
            (PlanJobState::Queued, "queued"),
            (PlanJobState::Running, "running"),
            (PlanJobState::Failed, "failed"),
        ] {
            assert_eq!(serde_json::to_value(state).expect("json"), word);
            assert_eq!(state.to_string(), word);
        }
        assert!(PlanJobState::Queued.is_busy() && PlanJobState::Running.is_busy());
        assert!(!PlanJobState::Idle.is_busy() && !PlanJobState::Failed.is_busy());
    }
}
