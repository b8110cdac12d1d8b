//! Reconciliation: page through a CRM's API, compare with local state, repair drift, and
//! soft-delete what the CRM no longer has. Stores a report per run; a second run in a row
//! changes nothing. Stored CRM clocks in the future (left by a forged or wrong-clocked event
//! before clocks were checked) are reset first, so the CRM's current state wins again.

use crate::db::Bind;
use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::apply::{self, ClockGuard, Outcome};
use super::canonical::{CanonicalAccount, Change};
use super::clients::{CrmClients, RemotePage};
use super::connection::{self, Connection};
use crate::accounts::crm as account_crm;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Command,
    Page,
    Test,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Command => "command",
            Self::Page => "page",
            Self::Test => "test",
        }
    }
}

/// The stored outcome of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Report {
    pub id: i64,
    pub connection: String,
    pub trigger: String,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub remote_records: i32,
    pub created: i32,
    pub updated: i32,
    pub deleted: i32,
    pub unchanged: i32,
    pub errors: i32,
    /// Accounts whose stored CRM clock lay in the future and was reset.
    pub clocks_repaired: i32,
    pub error_samples: sqlx::types::Json<Vec<ErrorSample>>,
    pub failure: Option<String>,
}

impl Report {
    pub fn duration_s(&self) -> Option<f64> {
        Some((self.finished_at? - self.started_at?).num_milliseconds() as f64 / 1000.0)
    }
}

/// One record that could not be reconciled: its CRM id and why (field names, no values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorSample {
    pub crm_id: String,
    pub reason: String,
}

const MAX_SAMPLES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0} has no API to reconcile against (Standard Webhooks connections are push-only)")]
    NoApi(String),
    #[error("another reconciliation of {0} is running")]
    Busy(String),
    #[error("reading the CRM failed: {0}")]
    Fetch(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Counts while a run goes.
#[derive(Default)]
struct Tally {
    remote: i32,
    created: i32,
    updated: i32,
    deleted: i32,
    unchanged: i32,
    errors: i32,
    clocks_repaired: i32,
    samples: Vec<ErrorSample>,
}

impl Tally {
    fn error(&mut self, crm_id: String, reason: String) {
        self.errors += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(ErrorSample { crm_id, reason });
        }
    }
}

/// Runs one reconciliation of `conn`, clocks checked by `guard`. `progress(done, total)` is
/// called after each page (`total` when the CRM says it).
pub async fn run(
    db: &PgPool,
    clients: &CrmClients,
    conn: &Connection,
    trigger: Trigger,
    guard: ClockGuard,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<Report, ReconcileError> {
    if !conn.kind.has_api() {
        return Err(ReconcileError::NoApi(conn.name.clone()));
    }
    // One run per connection at a time, across instances: a session-level advisory lock held
    // on a dedicated connection for the whole run. Detached from the pool: a run dropped
    // midway (a job handed back or taken over) closes it, which releases the lock, instead of
    // returning a connection that still holds it.
    let mut lock = db.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar(include_str!("sql/reconcile_try_lock.sql"))
        .bind(conn.id.to_string())
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Err(ReconcileError::Busy(conn.name.clone()));
    }
    let result = run_locked(db, clients, conn, trigger, guard, progress).await;
    let _ = sqlx::query(include_str!("sql/reconcile_unlock.sql"))
        .bind(conn.id.to_string())
        .execute(&mut lock)
        .await;
    result
}

async fn run_locked(
    db: &PgPool,
    clients: &CrmClients,
    conn: &Connection,
    trigger: Trigger,
    guard: ClockGuard,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<Report, ReconcileError> {
    let clock = Instant::now();
    // Before the run starts (its start time guards the soft-delete below), so a repaired row
    // counts as untouched since then.
    let repaired = repair_future_clocks(db, conn, guard).await?;
    let (run_id, started_at): (i64, DateTime<Utc>) =
        sqlx::query_as(include_str!("sql/reconcile_start.sql"))
            .bind_all((conn.id, trigger.as_str()))
            .fetch_one(db)
            .await?;
    tracing::info!(connection = %conn.name, run_id, "reconciliation started");

    let mut tally = Tally {
        clocks_repaired: repaired,
        ..Tally::default()
    };
    let outcome = walk(db, clients, conn, started_at, guard, &mut tally, progress).await;
    let failure = outcome.as_ref().err().map(ToString::to_string);
    sqlx::query(include_str!("sql/reconcile_finish.sql"))
        .bind_all((
            run_id,
            if failure.is_none() { "ok" } else { "failed" },
            tally.remote,
            tally.created,
            tally.updated,
            tally.deleted,
            tally.unchanged,
            tally.errors,
            sqlx::types::Json(&tally.samples),
            &failure,
            tally.clocks_repaired,
        ))
        .execute(db)
        .await?;
    tracing::info!(
        connection = %conn.name, run_id,
        remote = tally.remote, created = tally.created, updated = tally.updated,
        deleted = tally.deleted, unchanged = tally.unchanged, errors = tally.errors,
        clocks_repaired = tally.clocks_repaired,
        duration_ms = clock.elapsed().as_millis() as u64,
        failed = failure.is_some(),
        "reconciliation finished"
    );
    metrics::counter!("terrane_crm_reconciliations_total", "status" => if failure.is_none() { "ok" } else { "failed" }).increment(1);
    outcome?;
    // Visits the CRM recorded lately; a failure is logged, it is not the run's.
    let since = Utc::now() - super::visits_in::LOOKBACK;
    if let Err(e) = super::visits_in::read_recent(db, clients, conn, since).await {
        tracing::warn!(connection = %conn.name, error = %e, "reading visits from the CRM failed");
    }
    report_by_id(db, run_id)
        .await?
        .ok_or(ReconcileError::Database(sqlx::Error::RowNotFound))
}

/// Resets `conn`'s stored CRM clocks that lie beyond `guard`'s limit (to none: the next state
/// the CRM gives wins); returns how many.
async fn repair_future_clocks(
    db: &PgPool,
    conn: &Connection,
    guard: ClockGuard,
) -> Result<i32, ReconcileError> {
    let n = account_crm::reset_future_clocks(db, &conn.name, guard.limit(Utc::now())).await?;
    if n > 0 {
        metrics::counter!("terrane_crm_future_clocks_repaired_total").increment(n);
        tracing::warn!(connection = %conn.name, accounts = n, "CRM clocks in the future were reset");
    }
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

async fn walk(
    db: &PgPool,
    clients: &CrmClients,
    conn: &Connection,
    started_at: DateTime<Utc>,
    guard: ClockGuard,
    tally: &mut Tally,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<(), ReconcileError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let RemotePage {
            records,
            next,
            total,
        } = clients
            .remote_page(conn, cursor.as_deref())
            .await
            .map_err(|e| ReconcileError::Fetch(e.to_string()))?;
        apply_page(db, conn, records, guard, &mut seen, tally).await?;
        progress(u64::try_from(tally.remote).unwrap_or(0), total);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    // Whatever the CRM no longer has is soft-deleted, unless a webhook touched it after this
    // run began (the CRM's list was read before that change).
    let seen: Vec<String> = seen.into_iter().collect();
    let deleted = account_crm::delete_unseen(db, &conn.name, &seen, started_at).await?;
    tally.deleted += i32::try_from(deleted).unwrap_or(i32::MAX);
    Ok(())
}

async fn apply_page(
    db: &PgPool,
    conn: &Connection,
    records: Vec<Result<CanonicalAccount, (String, String)>>,
    guard: ClockGuard,
    seen: &mut HashSet<String>,
    tally: &mut Tally,
) -> Result<(), ReconcileError> {
    let mut tx = db.begin().await?;
    for record in records {
        tally.remote += 1;
        let account = match record {
            Ok(a) => a,
            Err((crm_id, reason)) => {
                // Unmappable remote records are not deleted locally either.
                seen.insert(crm_id.clone());
                tally.error(crm_id, reason);
                continue;
            }
        };
        seen.insert(account.crm_id.clone());
        let crm_id = account.crm_id.clone();
        let mut sp = sqlx::Acquire::begin(&mut tx).await?;
        match apply::apply(&mut sp, &conn.name, &Change::Upsert(account), guard).await {
            Ok(o) => {
                sp.commit().await?;
                match o {
                    Outcome::Created => tally.created += 1,
                    Outcome::Updated | Outcome::Restored => tally.updated += 1,
                    _ => tally.unchanged += 1,
                }
            }
            Err(e) => {
                sp.rollback().await?;
                tally.error(crm_id, e.to_string());
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

const REPORT_COLUMNS: &str = r"
    r.id, c.name as connection, r.trigger, r.status::text as status, r.started_at,
    r.finished_at, r.remote_records, r.created, r.updated, r.deleted, r.unchanged, r.errors,
    r.clocks_repaired, r.error_samples, r.failure";

pub async fn report_by_id(db: &PgPool, id: i64) -> Result<Option<Report>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {REPORT_COLUMNS} from crm_reconciliations r
         join crm_connections c on c.id = r.connection_id where r.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The latest run of each connection, newest first.
pub async fn latest_reports(db: &PgPool) -> Result<Vec<Report>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select distinct on (r.connection_id) {REPORT_COLUMNS}
         from crm_reconciliations r join crm_connections c on c.id = r.connection_id
         order by r.connection_id, r.id desc"
    ))
    .fetch_all(db)
    .await
}

/// Reconciles every enabled connection with an API; failures are logged and reported, and do
/// not stop the others.
pub async fn run_all(
    db: &PgPool,
    clients: &CrmClients,
    trigger: Trigger,
    guard: ClockGuard,
) -> Result<Vec<Result<Report, ReconcileError>>, sqlx::Error> {
    let mut out = Vec::new();
    for conn in connection::list(db).await? {
        if !conn.enabled || !conn.kind.has_api() {
            continue;
        }
        if trigger == Trigger::Schedule && ran_recently(db, &conn).await? {
            continue;
        }
        out.push(run(db, clients, &conn, trigger, guard, &|_, _| {}).await);
    }
    Ok(out)
}

/// Whether a scheduled run of `conn` started in the last 12 hours (another instance won).
async fn ran_recently(db: &PgPool, conn: &Connection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/reconcile_ran_recently.sql"))
        .bind(conn.id)
        .fetch_one(db)
        .await
}

/// Time until the next `at` (UTC) after `now`.
pub fn until_next(now: DateTime<Utc>, at: NaiveTime) -> std::time::Duration {
    let today = now.date_naive().and_time(at).and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    (next - now).to_std().unwrap_or_default()
}

/// The nightly schedule: sleeps until `at` each day, reconciles every connection, then deletes
/// processed inbox events older than the retention. Safe with
/// several instances: the advisory lock and the "ran recently" check let one of them run it.
pub async fn nightly(
    db: PgPool,
    clients: std::sync::Arc<CrmClients>,
    at: NaiveTime,
    inbox_retention_days: u32,
    guard: ClockGuard,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let wait = until_next(Utc::now(), at);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        match run_all(&db, &clients, Trigger::Schedule, guard).await {
            Ok(results) => {
                for r in results {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "scheduled reconciliation failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "scheduled reconciliation could not start"),
        }
        match super::inbox::prune(&db, inbox_retention_days).await {
            Ok(n) => tracing::info!(deleted = n, "processed CRM events past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "pruning the CRM inbox failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_is_later_today_or_tomorrow() {
        let at = NaiveTime::from_hms_opt(2, 30, 0).expect("valid");
        let before = DateTime::parse_from_rfc3339("2026-11-24T01:00:00Z")
            .expect("valid")
            .to_utc();
        assert_eq!(until_next(before, at).as_secs(), 90 * 60);
        let after = DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .expect("valid")
            .to_utc();
        assert_eq!(until_next(after, at).as_secs(), 23 * 3600 + 30 * 60);
    }
}
