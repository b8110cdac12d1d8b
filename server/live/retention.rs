//! Retention: pings older than the configured days are deleted (`docs/privacy.md`).

use sqlx::PgExecutor;

/// Deletes the pings recorded more than `days` days ago; returns how many.
pub async fn purge(db: impl PgExecutor<'_>, days: u32) -> Result<u64, sqlx::Error> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    Ok(sqlx::query(include_str!("sql/retention_purge.sql"))
        .bind(days)
        .execute(db)
        .await?
        .rows_affected())
}
