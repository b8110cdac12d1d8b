//! Retention: pings older than the configured days are deleted, by a job in the queue
//! (`jobs::JobKind::TrackPurge`, queued hourly by `workers.rs`) (`docs/privacy.md`).

use sqlx::PgPool;

use crate::audit::{self, AuditEvent};

/// Deletes the pings recorded more than `days` days ago and audits how many (`pings.purged`,
/// in the same transaction); returns how many.
pub async fn purge(db: &PgPool, days: u32) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(include_str!("sql/retention_purge.sql"))
        .bind(i32::try_from(days).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        tx.commit().await?;
        return Ok(0);
    }
    let event = AuditEvent::new(None, "pings.purged")
        .with(serde_json::json!({ "pings": n, "older_than_days": days }));
    audit::commit_with(tx, event).await?;
    Ok(n)
}
