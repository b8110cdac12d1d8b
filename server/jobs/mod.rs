//! Background jobs kept in PostgreSQL (plan generation, plan rebalancing, "reconcile now",
//! the location retention purge):
//! queued by handlers, claimed by workers with `for update skip locked` under a lease, retried,
//! handed back on graceful shutdown, failed with a sentence after too many attempts. A plan's
//! visible job state is its newest job's (`territory::plans::PLAN_JOB_STATE`).

pub mod db;
mod runner;

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

pub use runner::{Jobs, Lane, Outcome, run};

use crate::territory::TerritoryError;

/// Background jobs: how many plans compute at once, their share of the database, leases and
/// attempts (`server/jobs/`).
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Plan jobs running at once in this process (`TERRANE_PLAN_JOBS`; default half the cores,
    /// at least one; 0 = none, for instances that only serve requests).
    pub plan_jobs: usize,
    /// Connections the heavy jobs may hold, carved out of `TERRANE_DB_MAX_CONNECTIONS`
    /// (`TERRANE_JOB_DB_CONNECTIONS`; default a quarter of it, at least 2), so requests and
    /// webhooks keep the rest while plans compute.
    pub db_connections: u32,
    /// A running job's lease, renewed while it runs (`TERRANE_JOB_LEASE_S`): a job whose
    /// worker died is claimed again this long after its last renewal.
    pub lease: Duration,
    /// Attempts before a job fails for good (`TERRANE_JOB_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// Wait before a failed attempt is tried again, times the attempts so far
    /// (`TERRANE_JOB_RETRY_S`).
    pub retry_delay: Duration,
}

/// What a job does; the database enum `job_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "job_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Compute a new draft plan (its method over its base plan).
    PlanGenerate,
    /// Rebalance a draft in place.
    PlanRebalance,
    /// Compare a CRM connection with its API and repair drift.
    CrmReconcile,
    /// Delete location pings older than the retention period (`live::retention`).
    TrackPurge,
}

impl JobKind {
    /// The name used in the database and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::PlanGenerate => "plan_generate",
            JobKind::PlanRebalance => "plan_rebalance",
            JobKind::CrmReconcile => "crm_reconcile",
            JobKind::TrackPurge => "track_purge",
        }
    }
}

/// Where a job is; the database enum `job_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "job_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker (new, retried, or handed back at shutdown).
    Queued,
    /// A worker holds it under a lease.
    Running,
    Done,
    /// Failed for good; `message` says why in a sentence.
    Failed,
}

/// A job's id; larger is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A job row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub team_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
    pub state: JobState,
    /// Claims so far (a hand-back at shutdown does not count).
    pub attempts: i32,
    pub max_attempts: i32,
    /// The cause of the last failure, for logs and operators only.
    pub last_error: Option<String>,
    /// What managers see when it failed: a sentence, never internal error text.
    pub message: Option<String>,
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub team_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
}

/// Why a job could not be queued.
#[derive(Debug, Error)]
pub enum JobError {
    /// The team already has a plan job queued or running (one per team at a time): 409.
    #[error(
        "a plan of this team is already queued or being computed; wait for it to finish, then try again"
    )]
    TeamBusy,
    /// A reconciliation of this connection is already queued or running.
    #[error("a reconciliation of this connection is already queued or running")]
    ConnectionBusy,
    /// The plan refused (bad input, not a draft...).
    #[error(transparent)]
    Territory(#[from] TerritoryError),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        crate::db::violated_constraint(&e)
            .and_then(busy_error)
            .unwrap_or(JobError::Database(e))
    }
}

/// The job error a violated constraint of `jobs` stands for: its partial unique indexes
/// enforce one job at a time.
fn busy_error(constraint: &str) -> Option<JobError> {
    match constraint {
        "jobs_one_plan_job_per_team" => Some(JobError::TeamBusy),
        "jobs_one_reconcile_per_connection" => Some(JobError::ConnectionBusy),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_job_at_a_time_indexes_name_their_busy_errors() {
        assert!(matches!(
            busy_error("jobs_one_plan_job_per_team"),
            Some(JobError::TeamBusy)
        ));
        assert!(matches!(
            busy_error("jobs_one_reconcile_per_connection"),
            Some(JobError::ConnectionBusy)
        ));
        assert!(busy_error("jobs_pkey").is_none());
    }
}
