//! The durable inbox: raw webhook events committed before the CRM gets its 2xx, unique on
//! (connection, event id) so redeliveries are no-ops.

use crate::db::Bind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::wire::RawEvent;
use crate::audit::{self, AuditEvent};

/// How a delivery landed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Events stored for the first time.
    pub new: usize,
    /// Events already in the inbox (redeliveries).
    pub duplicates: usize,
}

/// Commits `events` for `connection` in one statement; returns once they are durable.
pub async fn accept(
    db: &PgPool,
    connection: Uuid,
    events: &[RawEvent],
) -> Result<Accepted, sqlx::Error> {
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    let new: i64 = sqlx::query_scalar(include_str!("sql/inbox_accept.sql"))
        .bind_all((connection, &ids, &payloads))
        .fetch_one(db)
        .await?;
    let new = usize::try_from(new).unwrap_or(0);
    Ok(Accepted {
        new,
        duplicates: events.len().saturating_sub(new),
    })
}

/// One claimed inbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub connection_id: Uuid,
    pub event_id: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
}

/// Locks up to `limit` due rows for the caller's transaction; rows other workers hold are
/// skipped, so several workers share the queue.
pub async fn claim(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<InboxRow>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/inbox_claim.sql"))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Marks rows processed with their outcomes.
pub async fn mark_done(
    db: impl PgExecutor<'_>,
    ids: &[i64],
    outcomes: &[&str],
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/inbox_mark_done.sql"))
        .bind_all((ids, outcomes))
        .execute(db)
        .await?;
    Ok(())
}

/// Retry policy: exponential backoff from 2 s, doubled per attempt, capped at 10 minutes;
/// after `MAX_ATTEMPTS` the event is parked as a dead letter.
pub const MAX_ATTEMPTS: i32 = 6;

/// Seconds to wait before attempt `attempts + 1`.
pub fn backoff_s(attempts: i32) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 12)).unwrap_or(0);
    (2_i64 << exp).min(600)
}

/// Records a failed attempt: back off, or park as dead when `permanent` or out of attempts.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    attempts_before: i32,
    reason: &str,
    permanent: bool,
) -> Result<(), sqlx::Error> {
    let attempts = attempts_before + 1;
    let dead = permanent || attempts >= MAX_ATTEMPTS;
    sqlx::query(include_str!("sql/inbox_mark_failed.sql"))
        .bind_all((id, attempts, reason, dead, backoff_s(attempts) as f64))
        .execute(db)
        .await?;
    Ok(())
}

/// A dead letter as the sync page lists it: ids and the reason, never the payload.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub connection: String,
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
    pub reason: Option<String>,
}

pub async fn dead_letters(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/inbox_dead_letters.sql"))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Puts a dead letter back in the queue (fresh attempts) at an admin's request, in one
/// transaction with its audit row (`crm.dead_letter_retried`); false when it is not dead.
pub async fn retry(db: &PgPool, id: i64, admin_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(include_str!("sql/inbox_retry.sql"))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n != 1 {
        return Ok(false);
    }
    audit::commit_with(
        tx,
        AuditEvent::new(Some(admin_id), "crm.dead_letter_retried")
            .about("crm_inbox", id.to_string()),
    )
    .await?;
    Ok(true)
}

/// Deletes processed events older than `days` (dead letters stay until retried or handled).
pub async fn prune(db: impl PgExecutor<'_>, days: u32) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(include_str!("sql/inbox_prune.sql"))
        .bind(i32::try_from(days).unwrap_or(i32::MAX))
        .execute(db)
        .await?
        .rows_affected())
}

/// Queue figures for the sync page and metrics.
#[derive(Debug, Clone, Default, sqlx::FromRow, Serialize)]
pub struct InboxStats {
    pub pending: i64,
    pub dead: i64,
    pub done_last_hour: i64,
    /// Seconds the oldest pending event has waited.
    pub oldest_pending_s: Option<f64>,
}

pub async fn stats(db: impl PgExecutor<'_>) -> Result<InboxStats, sqlx::Error> {
    sqlx::query_as(include_str!("sql/inbox_stats.sql"))
        .fetch_one(db)
        .await
}

/// Recent arrivals for the sync page: what arrived and how it ended, without payloads.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RecentEvent {
    pub id: i64,
    pub connection: String,
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub outcome: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

pub async fn recent(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<RecentEvent>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/inbox_recent.sql"))
        .bind(limit)
        .fetch_all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_s(0), 2);
        assert_eq!(backoff_s(1), 4);
        assert_eq!(backoff_s(5), 64);
        assert_eq!(backoff_s(20), 600);
    }
}
