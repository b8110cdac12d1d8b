//! Figures for the geocoding page: results by provider and precision, the cache, failures.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::accounts::location;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ResultCount {
    pub provider: String,
    pub status: String,
    pub precision: Option<String>,
    pub accounts: i64,
}

/// Live accounts by geocoding source, status and precision.
pub async fn by_provider(db: impl PgExecutor<'_>) -> Result<Vec<ResultCount>, sqlx::Error> {
    sqlx::query_as(
        "select coalesce(geocode_source, '-') as provider, geocode_status::text as status,
                geocode_precision::text as precision, count(*) as accounts
         from accounts where deleted_at is null
         group by 1, 2, 3 order by 1, 2, 3",
    )
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
    sqlx::query_as(
        "select count(*) as entries, count(*) filter (where lon is null) as negative,
                coalesce(sum(hits), 0)::int8 as hits,
                count(*) filter (where expires_at <= now()) as expired
         from geocode_cache",
    )
    .fetch_one(db)
    .await
}

/// An account geocoding could not place (failed, or pending after provider errors).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Failure {
    pub id: Uuid,
    pub name: String,
    pub crm_source: String,
    pub crm_id: String,
    pub status: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

pub async fn failures(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Failure>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, crm_source, crm_id, geocode_status::text as status,
                geocode_attempts as attempts, geocode_error as reason,
                geocode_next_attempt_at as next_attempt_at
         from accounts
         where deleted_at is null
           and (geocode_status = 'failed' or (geocode_status = 'pending' and geocode_attempts > 0))
         order by updated_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Puts a failed account back in the queue now; false when it is not failed or pending.
pub async fn retry(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    location::retry_now(db, id).await
}
