//! The geocoding cache in PostgreSQL: normalized address key -> result (or a negative result),
//! with an expiry set by the provider's policy. A hit calls no provider.

use crate::db::Bind;
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgExecutor;

use super::{GeocodeResult, Precision};
use crate::spatial::LonLat;

/// A cached answer: `None` is a cached "no such address".
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub result: Option<GeocodeResult>,
    pub fetched_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    lon: Option<f64>,
    lat: Option<f64>,
    precision: Option<Precision>,
    confidence: Option<f32>,
    provider: String,
    fetched_at: DateTime<Utc>,
}

/// How long a provider's answers may be kept. Public Nominatim data changes slowly; Google's
/// terms allow caching coordinates for up to 30 days; the built-in geocoder's answers are
/// rebuilt with its index.
pub fn ttl(provider: &str) -> Duration {
    match provider {
        "google" => Duration::days(30),
        "nominatim" => Duration::days(90),
        _ => Duration::days(30),
    }
}

/// Negative answers are kept for a day: the CRM or OSM may be fixed soon.
pub const NEGATIVE_TTL_HOURS: i64 = 24;

/// The unexpired entry for `key`, counting the hit.
pub async fn get(db: impl PgExecutor<'_>, key: &str) -> Result<Option<Cached>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(include_str!("sql/cache_get.sql"))
        .bind(key)
        .fetch_optional(db)
        .await?;
    Ok(row.map(cached))
}

/// The unexpired entries among `keys`, by key, counting the hits: one round trip for a whole
/// batch, which is what lets the worker answer thousands of cached addresses a second.
pub async fn get_many(
    db: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<HashMap<String, Cached>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Row)> =
        sqlx::query_as::<_, KeyedRow>(include_str!("sql/cache_get_many.sql"))
            .bind(keys)
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|k| (k.key, k.row))
            .collect();
    Ok(rows.into_iter().map(|(k, r)| (k, cached(r))).collect())
}

#[derive(sqlx::FromRow)]
struct KeyedRow {
    key: String,
    #[sqlx(flatten)]
    row: Row,
}

fn cached(r: Row) -> Cached {
    Cached {
        fetched_at: r.fetched_at,
        result: match (r.lon, r.lat, r.precision) {
            (Some(lon), Some(lat), Some(precision)) => {
                LonLat::new(lon, lat).ok().map(|location| GeocodeResult {
                    location,
                    precision,
                    confidence: r.confidence.unwrap_or(0.0),
                    provider: r.provider,
                })
            }
            _ => None,
        },
    }
}

/// Stores a provider's answer (or `None`, a negative answer from `provider`).
pub async fn put(
    db: impl PgExecutor<'_>,
    key: &str,
    provider: &str,
    result: Option<&GeocodeResult>,
) -> Result<(), sqlx::Error> {
    let expires = Utc::now()
        + match result {
            Some(r) => ttl(&r.provider),
            None => Duration::hours(NEGATIVE_TTL_HOURS),
        };
    sqlx::query(include_str!("sql/cache_put.sql"))
        .bind_all((
            key,
            result.map(|r| r.location.lon()),
            result.map(|r| r.location.lat()),
            result.map(|r| r.precision),
            result.map(|r| r.confidence),
            result.map_or(provider, |r| r.provider.as_str()),
            expires,
        ))
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes expired entries.
pub async fn prune(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(include_str!("sql/cache_prune.sql"))
        .execute(db)
        .await?
        .rows_affected())
}
