//! Queuing jobs with their plan or connection, and running them: one [`Jobs::step`] claims a
//! job, runs it while renewing its lease, and records how it ended ([`Outcome`]); [`run`] loops
//! it through the shared poll loop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, watch};
use uuid::Uuid;

use super::JobsConfig;
use super::{Job, JobError, JobId, JobKind, NewJob, db};
use crate::audit::{self, AuditEvent};
use crate::crm::apply::ClockGuard;
use crate::crm::clients::CrmClients;
use crate::crm::connection::{self, Connection};
use crate::crm::reconcile::{self, ReconcileError, Trigger};
use crate::routing::OsrmClient;
use crate::territory::TerritoryError;
use crate::territory::plans::{self, NewPlan};

/// What managers read when the cause is internal (it is in the logs).
const SERVER_PROBLEM: &str = "The computation failed because of a problem on the server (it \
     was logged). Try again; if it keeps failing, tell an administrator.";

/// Which jobs a worker takes: plan jobs are heavy and limited per instance; reconciliations
/// wait on a CRM's API; upkeep (the retention purge) is short database work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Plans,
    Crm,
    Upkeep,
}

impl Lane {
    fn kinds(self) -> &'static [JobKind] {
        match self {
            Lane::Plans => &[JobKind::PlanGenerate, JobKind::PlanRebalance],
            Lane::Crm => &[JobKind::CrmReconcile],
            Lane::Upkeep => &[JobKind::TrackPurge],
        }
    }

    fn worker(self) -> &'static str {
        match self {
            Lane::Plans => "plan jobs",
            Lane::Crm => "crm jobs",
            Lane::Upkeep => "upkeep jobs",
        }
    }
}

/// How one [`Jobs::step`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// Every plan slot of this instance is taken; nothing was claimed.
    AtCapacity,
    /// Jobs whose worker died on their last attempt were failed (this many).
    Abandoned(u64),
    Done(JobId),
    /// The attempt failed; the job is queued again after a wait.
    Retrying(JobId),
    /// Failed for good, with a message for the page.
    Failed(JobId),
    /// Shutdown came first: the job is queued again, the attempt not counted.
    HandedBack(JobId),
    /// The lease lapsed and another worker took the job; this attempt's result was dropped.
    LeaseLost(JobId),
}

impl Outcome {
    /// The label of the attempts counter.
    fn name(self) -> &'static str {
        match self {
            Outcome::Idle => "idle",
            Outcome::AtCapacity => "at_capacity",
            Outcome::Abandoned(_) => "abandoned",
            Outcome::Done(_) => "done",
            Outcome::Retrying(_) => "retrying",
            Outcome::Failed(_) => "failed",
            Outcome::HandedBack(_) => "handed_back",
            Outcome::LeaseLost(_) => "lease_lost",
        }
    }
}

/// A failed attempt: whether trying again can help, the sentence for the page, the cause.
struct Failure {
    permanent: bool,
    message: String,
    cause: String,
}

impl Failure {
    fn territory(e: TerritoryError) -> Self {
        let cause = e.to_string();
        match e {
            // Written for managers already ("drive-time plans need OSRM...").
            TerritoryError::Invalid(m) | TerritoryError::Conflict(m) => Self {
                permanent: true,
                message: sentence(&m),
                cause,
            },
            TerritoryError::NotFound => Self {
                permanent: true,
                message: "The plan no longer exists.".into(),
                cause,
            },
            TerritoryError::Balance(_) => Self {
                permanent: true,
                message: "The optimizer could not balance these territories with these \
                          settings; try a larger tolerance or fewer locked accounts."
                    .into(),
                cause,
            },
            TerritoryError::Database(_) | TerritoryError::Internal(_) => Self {
                permanent: false,
                message: SERVER_PROBLEM.into(),
                cause,
            },
        }
    }

    fn reconcile(e: ReconcileError) -> Self {
        let cause = e.to_string();
        match e {
            ReconcileError::NoApi(_) => Self {
                permanent: true,
                message: "This connection has no API to reconcile against.".into(),
                cause,
            },
            ReconcileError::Busy(_) | ReconcileError::Fetch(_) | ReconcileError::Database(_) => {
                Self {
                    permanent: false,
                    message: "The reconciliation failed; see the server log.".into(),
                    cause,
                }
            }
        }
    }

    fn internal(cause: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: SERVER_PROBLEM.into(),
            cause: cause.into(),
        }
    }
}

/// `m` with a capital first letter and a full stop.
fn sentence(m: &str) -> String {
    let mut chars = m.trim().chars();
    let mut s: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return SERVER_PROBLEM.into(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

struct Inner {
    /// Job rows (small, quick statements).
    db: PgPool,
    /// The heavy work's own small pool (its share of the database).
    heavy: PgPool,
    osrm: Option<OsrmClient>,
    crm: Arc<CrmClients>,
    /// Clamps CRM clocks ahead of now (reconciliation applies what the CRM returns).
    clock: ClockGuard,
    /// Plan jobs running at once in this instance.
    plan_slots: Arc<Semaphore>,
    settings: JobsConfig,
    wake: Arc<Notify>,
}

/// The job queue: queue with [`Jobs::start_plan`] and friends, run with [`Jobs::step`] or
/// [`run`]. Cheap to clone.
#[derive(Clone)]
pub struct Jobs(Arc<Inner>);

impl Jobs {
    /// `heavy` is the pool plan and reconciliation work runs on (a share of the database).
    pub fn new(
        db: PgPool,
        heavy: PgPool,
        osrm: Option<OsrmClient>,
        crm: Arc<CrmClients>,
        clock: ClockGuard,
        settings: JobsConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            plan_slots: Arc::new(Semaphore::new(settings.plan_jobs.max(1))),
            db,
            heavy,
            osrm,
            crm,
            clock,
            settings,
            wake: Arc::new(Notify::new()),
        }))
    }

    /// The same queue and slots with another OSRM (or none), for tests and tools.
    #[must_use]
    pub fn with_osrm(&self, osrm: Option<OsrmClient>) -> Self {
        Self(Arc::new(Inner {
            db: self.0.db.clone(),
            heavy: self.0.heavy.clone(),
            osrm,
            crm: Arc::clone(&self.0.crm),
            clock: self.0.clock,
            plan_slots: Arc::clone(&self.0.plan_slots),
            settings: self.0.settings.clone(),
            wake: Arc::clone(&self.0.wake),
        }))
    }

    /// The plan slots of this instance (tests hold one to fill the instance).
    pub fn plan_slots(&self) -> &Arc<Semaphore> {
        &self.0.plan_slots
    }

    /// The pool heavy work runs on.
    pub fn heavy_pool(&self) -> &PgPool {
        &self.0.heavy
    }

    pub fn settings(&self) -> &JobsConfig {
        &self.0.settings
    }

    /// Creates a draft and queues its computation, both or neither; [`JobError::TeamBusy`] when
    /// the team has a plan job queued or running.
    pub async fn start_plan(
        &self,
        team_id: Uuid,
        user_id: Option<Uuid>,
        input: &NewPlan,
    ) -> Result<(Uuid, JobId), JobError> {
        // Refused before any work when the team is busy (20 clients asking at once cost 19
        // cheap reads, not 19 drafts rolled back).
        if db::team_busy(&self.0.db, team_id).await? {
            return Err(JobError::TeamBusy);
        }
        let mut tx = self.0.db.begin().await?;
        let plan_id = plans::create_in(&mut tx, team_id, user_id, input).await?;
        let job = self
            .queue_plan_job(tx, JobKind::PlanGenerate, json!({}), team_id, plan_id)
            .await?;
        Ok((plan_id, job))
    }

    /// Queues a rebalance of a draft (refused when it is not a draft, or busy).
    pub async fn start_rebalance(
        &self,
        plan_id: Uuid,
        tolerance: Option<f64>,
        user_id: Option<Uuid>,
    ) -> Result<JobId, JobError> {
        let mut tx = self.0.db.begin().await?;
        let team_id = plans::start_rebalance_in(&mut tx, plan_id, tolerance, user_id).await?;
        let payload = json!({ "tolerance": tolerance });
        self.queue_plan_job(tx, JobKind::PlanRebalance, payload, team_id, plan_id)
            .await
    }

    /// Queues a plan job in `tx` (which holds the plan's change) and commits both.
    async fn queue_plan_job(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        kind: JobKind,
        payload: serde_json::Value,
        team_id: Uuid,
        plan_id: Uuid,
    ) -> Result<JobId, JobError> {
        let job = NewJob {
            kind,
            payload,
            team_id: Some(team_id),
            plan_id: Some(plan_id),
            connection_id: None,
        };
        let id = db::insert(&mut *tx, &job, self.0.settings.max_attempts).await?;
        tx.commit().await?;
        self.0.wake.notify_waiters();
        Ok(id)
    }

    /// Queues a reconciliation of `conn` ("reconcile now") at an admin's request.
    /// The job and the admin's audit row (`crm.reconcile_requested`) commit together; a
    /// request that finds a reconciliation already queued or running is audited on its own and
    /// answers [`JobError::ConnectionBusy`].
    pub async fn start_reconcile(
        &self,
        conn: &Connection,
        admin_id: Uuid,
    ) -> Result<JobId, JobError> {
        let requested = AuditEvent::new(Some(admin_id), "crm.reconcile_requested")
            .about("crm_connection", conn.name.clone());
        let mut tx = self.0.db.begin().await?;
        let queued = db::insert(
            &mut *tx,
            &NewJob {
                kind: JobKind::CrmReconcile,
                payload: json!({ "connection": conn.name }),
                team_id: None,
                plan_id: None,
                connection_id: Some(conn.id),
            },
            self.0.settings.max_attempts,
        )
        .await;
        let job = match queued.map_err(JobError::from) {
            Ok(job) => job,
            Err(JobError::ConnectionBusy) => {
                // The failed insert aborted the transaction: the request is audited alone.
                tx.rollback().await?;
                audit::record(&self.0.db, requested).await?;
                return Err(JobError::ConnectionBusy);
            }
            Err(e) => return Err(e),
        };
        audit::commit_with(tx, requested).await?;
        self.0.wake.notify_waiters();
        Ok(job)
    }

    /// Queues the retention purge of location pings older than `days` days, unless one is
    /// queued or running already (then `None`): every instance may call this on its timer.
    pub async fn queue_track_purge(&self, days: u32) -> Result<Option<JobId>, JobError> {
        let queued = db::insert(
            &self.0.db,
            &NewJob {
                kind: JobKind::TrackPurge,
                payload: json!({ "days": days }),
                team_id: None,
                plan_id: None,
                connection_id: None,
            },
            self.0.settings.max_attempts,
        )
        .await;
        match queued {
            Ok(id) => {
                self.0.wake.notify_waiters();
                Ok(Some(id))
            }
            Err(e) if crate::db::violated_constraint(&e) == Some("jobs_one_track_purge") => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Claims one due job of `lane`, runs it (renewing its lease) until it ends or `shutdown`
    /// turns true, and records the end. Jobs whose worker died on their last attempt are
    /// failed first.
    pub async fn step(
        &self,
        lane: Lane,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, sqlx::Error> {
        let abandoned = db::fail_abandoned(
            &self.0.db,
            lane.kinds(),
            "The computation was interrupted too many times (the server stopped while it \
             ran) and was given up. Start it again; if it keeps happening, tell an \
             administrator.",
        )
        .await?;
        if abandoned > 0 {
            tracing::warn!(
                jobs = abandoned,
                "jobs failed: their worker stopped on the last attempt"
            );
            return Ok(Outcome::Abandoned(abandoned));
        }
        let _slot = match lane {
            Lane::Plans => match Arc::clone(&self.0.plan_slots).try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => return Ok(Outcome::AtCapacity),
            },
            Lane::Crm | Lane::Upkeep => None,
        };
        let Some(job) = db::claim(&self.0.db, lane.kinds(), self.0.settings.lease).await? else {
            return Ok(Outcome::Idle);
        };
        tracing::info!(job = %job.id, kind = job.kind.as_str(), attempt = job.attempts, "job started");
        self.run_claimed(&job, shutdown).await
    }

    /// Steps until nothing of `lane` is due (for tests and tools; no shutdown).
    pub async fn drain(&self, lane: Lane) -> Result<Vec<Outcome>, sqlx::Error> {
        let (_keep, mut never) = watch::channel(false);
        let mut outcomes = Vec::new();
        loop {
            match self.step(lane, &mut never).await? {
                Outcome::Idle => return Ok(outcomes),
                Outcome::AtCapacity => {
                    outcomes.push(Outcome::AtCapacity);
                    return Ok(outcomes);
                }
                o => outcomes.push(o),
            }
        }
    }

    async fn run_claimed(
        &self,
        job: &Job,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, sqlx::Error> {
        let lease = self.0.settings.lease;
        let work = self.execute(job);
        tokio::pin!(work);
        let mut renewal = tokio::time::interval(lease / 3);
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renewal.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return self.finish(job, result).await,
                _ = renewal.tick() => {
                    match db::renew(&self.0.db, job.id, job.attempts, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %job.id, "job lease lost; dropping this attempt");
                            return Ok(Outcome::LeaseLost(job.id));
                        }
                        // The lease may lapse; another worker then takes the job over.
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "could not renew a job lease"),
                    }
                }
                () = stopped(shutdown) => {
                    // Dropping `work` rolls its transaction back; the job waits for the next start.
                    db::hand_back(&self.0.db, job.id, job.attempts).await?;
                    tracing::info!(job = %job.id, kind = job.kind.as_str(), "job handed back at shutdown");
                    return Ok(Outcome::HandedBack(job.id));
                }
            }
        }
    }

    async fn finish(&self, job: &Job, result: Result<(), Failure>) -> Result<Outcome, sqlx::Error> {
        let outcome = match result {
            Ok(()) => {
                if db::complete(&self.0.db, job.id, job.attempts).await? {
                    tracing::info!(job = %job.id, kind = job.kind.as_str(), "job done");
                    Outcome::Done(job.id)
                } else {
                    Outcome::LeaseLost(job.id)
                }
            }
            Err(f) => {
                tracing::warn!(job = %job.id, kind = job.kind.as_str(), attempt = job.attempts,
                               error = %f.cause, "job attempt failed");
                if f.permanent || job.attempts >= job.max_attempts {
                    if db::fail(&self.0.db, job.id, job.attempts, &f.cause, &f.message).await? {
                        Outcome::Failed(job.id)
                    } else {
                        Outcome::LeaseLost(job.id)
                    }
                } else {
                    let wait = self.0.settings.retry_delay
                        * u32::try_from(job.attempts.max(1)).unwrap_or(1);
                    if db::retry(&self.0.db, job.id, job.attempts, &f.cause, wait).await? {
                        Outcome::Retrying(job.id)
                    } else {
                        Outcome::LeaseLost(job.id)
                    }
                }
            }
        };
        // A slot is free again for this instance's other workers.
        self.0.wake.notify_waiters();
        Ok(outcome)
    }

    async fn execute(&self, job: &Job) -> Result<(), Failure> {
        let inner = &self.0;
        match job.kind {
            JobKind::PlanGenerate | JobKind::PlanRebalance => {
                let plan_id = job
                    .plan_id
                    .ok_or_else(|| Failure::internal("a plan job without a plan"))?;
                let result = if job.kind == JobKind::PlanGenerate {
                    plans::generate_with(&inner.heavy, inner.osrm.as_ref(), plan_id).await
                } else {
                    plans::rebalance(&inner.heavy, inner.osrm.as_ref(), plan_id).await
                };
                result.map_err(Failure::territory)
            }
            JobKind::CrmReconcile => {
                let id = job
                    .connection_id
                    .ok_or_else(|| Failure::internal("a reconciliation without a connection"))?;
                let conn = connection::by_id(&inner.db, id)
                    .await
                    .map_err(|e| Failure::reconcile(e.into()))?
                    .ok_or_else(|| Failure::internal("the connection was deleted"))?;
                reconcile::run(
                    &inner.heavy,
                    &inner.crm,
                    &conn,
                    Trigger::Page,
                    inner.clock,
                    &|_, _| {},
                )
                .await
                .map(|_| ())
                .map_err(Failure::reconcile)
            }
            JobKind::TrackPurge => {
                let days = job.payload.0["days"]
                    .as_u64()
                    .and_then(|d| u32::try_from(d).ok())
                    .ok_or_else(|| Failure::internal("a purge without its days"))?;
                let purged = crate::live::retention::purge(&inner.db, days)
                    .await
                    .map_err(|e| Failure::internal(e.to_string()))?;
                tracing::info!(pings = purged, days, "location pings purged");
                Ok(())
            }
        }
    }

    /// Workers sleep on this between polls; queuing wakes them.
    fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.0.wake)
    }
}

/// Resolves when `shutdown` turns true (never, when nobody can send it any more).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A worker of `lane` until `shutdown`: polls every 2 s, at once when a job is queued here.
pub async fn run(jobs: Jobs, lane: Lane, shutdown: watch::Receiver<bool>) {
    let wake = jobs.wake();
    let stop = shutdown.clone();
    crate::db::poll::run_batches(
        lane.worker(),
        Duration::from_secs(2),
        wake,
        shutdown,
        move || {
            let jobs = jobs.clone();
            let mut stop = stop.clone();
            async move {
                let outcome = jobs.step(lane, &mut stop).await?;
                if lane == Lane::Crm {
                    // One worker per instance reports the queue depth (every poll).
                    for (state, n) in db::depth(&jobs.0.db).await? {
                        #[allow(clippy::cast_precision_loss)]
                        metrics::gauge!("terrane_jobs", "state" => state).set(n as f64);
                    }
                }
                Ok(match outcome {
                    Outcome::Idle | Outcome::AtCapacity => 0,
                    o => {
                        metrics::counter!("terrane_job_attempts_total", "outcome" => o.name())
                            .increment(1);
                        1
                    }
                })
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territory_messages_for_managers_hide_internal_errors() {
        let internal = Failure::territory(TerritoryError::Internal(anyhow::anyhow!(
            "relation \"plan_cells\" does not exist"
        )));
        assert!(!internal.permanent, "internal errors are retried");
        assert_eq!(internal.message, SERVER_PROBLEM);
        assert!(internal.cause.contains("plan_cells"));
        let invalid = Failure::territory(TerritoryError::Invalid(
            "drive-time plans need OSRM, which this run does not have".into(),
        ));
        assert!(invalid.permanent);
        assert_eq!(
            invalid.message,
            "Drive-time plans need OSRM, which this run does not have."
        );
    }
}
