//! The SQL of the `jobs` table. Every change after the claim names the attempt it belongs to,
//! so a worker whose lease lapsed (and whose job another worker took) changes nothing.

use crate::db::Bind;
use std::time::Duration;

use sqlx::PgExecutor;

use super::{Job, JobId, JobKind, NewJob};

const COLUMNS: &str = "id, kind, payload, team_id, plan_id, connection_id, state, attempts, \
                       max_attempts, last_error, message";

/// What `last_error` says when a worker disappeared mid-job.
const LEASE_LAPSED: &str = "the worker stopped before finishing (its lease expired)";

fn kind_names(kinds: &[JobKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

/// Queues a job; a second plan job of a team (or reconciliation of a connection) while one is
/// queued or running violates a partial unique index (see `JobError`).
pub async fn insert(
    db: impl PgExecutor<'_>,
    job: &NewJob,
    max_attempts: i32,
) -> Result<JobId, sqlx::Error> {
    sqlx::query_scalar(
        "insert into jobs (kind, payload, team_id, plan_id, connection_id, max_attempts)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind_all((
        job.kind,
        sqlx::types::Json(&job.payload),
        job.team_id,
        job.plan_id,
        job.connection_id,
        max_attempts,
    ))
    .fetch_one(db)
    .await
}

/// Whether the team has a plan job queued or running (a cheap early answer; the partial unique
/// index is what enforces it).
pub async fn team_busy(db: impl PgExecutor<'_>, team_id: uuid::Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from jobs
                        where team_id = $1 and state in ('queued', 'running'))",
    )
    .bind(team_id)
    .fetch_one(db)
    .await
}

/// The newest job of a plan.
pub async fn latest_of_plan(
    db: impl PgExecutor<'_>,
    plan_id: uuid::Uuid,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from jobs where plan_id = $1 order by id desc limit 1"
    ))
    .bind(plan_id)
    .fetch_optional(db)
    .await
}

/// Claims the oldest due job of these kinds: a queued one whose wait is over, or a running one
/// whose lease lapsed (its worker was killed) with attempts left. Counts the attempt.
pub async fn claim(
    db: impl PgExecutor<'_>,
    kinds: &[JobKind],
    lease: Duration,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update jobs j set state = 'running', attempts = j.attempts + 1,
                lease_until = now() + make_interval(secs => $2), started_at = now(),
                last_error = case when j.state = 'running' then $3 else j.last_error end
         where j.id = (select id from jobs
                       where kind::text = any($1)
                         and ((state = 'queued' and not_before <= now())
                              or (state = 'running' and lease_until < now()
                                  and attempts < max_attempts))
                       order by id limit 1
                       for update skip locked)
         returning {COLUMNS}"
    ))
    .bind_all((kind_names(kinds), lease.as_secs_f64(), LEASE_LAPSED))
    .fetch_optional(db)
    .await
}

/// Fails the running jobs of these kinds whose lease lapsed on their last attempt, with
/// `message` for the page. Returns how many.
pub async fn fail_abandoned(
    db: impl PgExecutor<'_>,
    kinds: &[JobKind],
    message: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update jobs set state = 'failed', lease_until = null, finished_at = now(),
                last_error = $2, message = $3
         where id in (select id from jobs
                      where kind::text = any($1) and state = 'running'
                        and lease_until < now() and attempts >= max_attempts
                      for update skip locked)",
    )
    .bind_all((kind_names(kinds), LEASE_LAPSED, message))
    .execute(db)
    .await?
    .rows_affected())
}

/// Extends the lease of a job this worker still holds; false when it lost it.
pub async fn renew(
    db: impl PgExecutor<'_>,
    id: JobId,
    attempt: i32,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    changes_attempt(
        db,
        sqlx::query(
            "update jobs set lease_until = now() + make_interval(secs => $3)
             where id = $1 and state = 'running' and attempts = $2",
        )
        .bind_all((id, attempt, lease.as_secs_f64())),
    )
    .await
}

pub async fn complete(
    db: impl PgExecutor<'_>,
    id: JobId,
    attempt: i32,
) -> Result<bool, sqlx::Error> {
    changes_attempt(
        db,
        sqlx::query(
            "update jobs set state = 'done', lease_until = null, finished_at = now(), message = null
             where id = $1 and state = 'running' and attempts = $2",
        )
        .bind_all((id, attempt))
    )
    .await
}

/// Fails a job for good: `cause` for operators, `message` for the page.
pub async fn fail(
    db: impl PgExecutor<'_>,
    id: JobId,
    attempt: i32,
    cause: &str,
    message: &str,
) -> Result<bool, sqlx::Error> {
    changes_attempt(
        db,
        sqlx::query(
            "update jobs set state = 'failed', lease_until = null, finished_at = now(),
                    last_error = $3, message = $4
             where id = $1 and state = 'running' and attempts = $2",
        )
        .bind_all((id, attempt, cause, message)),
    )
    .await
}

/// Queues a failed attempt again after `delay`.
pub async fn retry(
    db: impl PgExecutor<'_>,
    id: JobId,
    attempt: i32,
    cause: &str,
    delay: Duration,
) -> Result<bool, sqlx::Error> {
    changes_attempt(
        db,
        sqlx::query(
            "update jobs set state = 'queued', lease_until = null, last_error = $3,
                    not_before = now() + make_interval(secs => $4)
             where id = $1 and state = 'running' and attempts = $2",
        )
        .bind_all((id, attempt, cause, delay.as_secs_f64())),
    )
    .await
}

/// Gives a job back at shutdown: queued again, this attempt not counted.
pub async fn hand_back(
    db: impl PgExecutor<'_>,
    id: JobId,
    attempt: i32,
) -> Result<bool, sqlx::Error> {
    changes_attempt(
        db,
        sqlx::query(
            "update jobs set state = 'queued', attempts = attempts - 1, lease_until = null,
                    started_at = null
             where id = $1 and state = 'running' and attempts = $2",
        )
        .bind_all((id, attempt)),
    )
    .await
}

/// Queued and running jobs (both states, zero included), for the queue-depth gauge.
pub async fn depth(db: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select s.state, count(j.id) from unnest(array['queued', 'running']) s(state)
         left join jobs j on j.state::text = s.state
         group by s.state",
    )
    .fetch_all(db)
    .await
}

/// Runs a statement that changes a job only while `attempt` of it is running (its `$1` and `$2`
/// are the job and the attempt); false when the job has moved on (a stale worker).
async fn changes_attempt(
    db: impl PgExecutor<'_>,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<bool, sqlx::Error> {
    Ok(query.execute(db).await?.rows_affected() == 1)
}
