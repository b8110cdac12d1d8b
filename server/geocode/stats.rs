//! Figures for the geocoding page: results by provider and precision, the cache, failures.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::accounts::{CrmRef, location};
use crate::audit::{self, AuditEvent};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ResultCount {
    pub provider: String,
    pub status: String,
    pub precision: Option<String>,
    pub accounts: i64,
}

/// Live accounts by geocoding source, status and precision.
pub async fn by_provider(db: impl PgExecutor<'_>) -> Result<Vec<ResultCount>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/stats_by_provider.sql"))
        .fetch_all(db)
        .await
}

#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct CacheStats {
    pub entries: i64,
    pub negative: i64,
    pub hits: i64,
    pub expired: i64,
}

pub async fn cache(db: impl PgExecutor<'_>) -> Result<CacheStats, sqlx::Error> {
    sqlx::query_as(include_str!("sql/stats_cache.sql"))
        .fetch_one(db)
        .await
}

/// An account geocoding could not place (failed, or pending after provider errors).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Failure {
    pub id: Uuid,
    pub name: String,
    /// Flattened: `crm_source`, `crm_id`.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub crm: CrmRef,
    pub status: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

pub async fn failures(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Failure>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/stats_failures.sql"))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Puts a failed account back in the queue now at an admin's request, in one transaction with
/// its audit row (`account.geocode_retried`); false when it is not failed or pending.
pub async fn retry(db: &PgPool, id: Uuid, admin_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    if !location::retry_now(&mut *tx, id).await? {
        return Ok(false);
    }
    audit::commit_with(
        tx,
        AuditEvent::new(Some(admin_id), "account.geocode_retried").about("account", id.to_string()),
    )
    .await?;
    Ok(true)
}
