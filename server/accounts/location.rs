//! The location column group of `accounts` (`location`, `h3_cell`, `geocode_*`, pins): the
//! only writer of those columns. The geocoder and manual pins call these functions.

use crate::db::Bind;
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::Address;
use crate::auth::Scope;
use crate::spatial::{H3Cell, LonLat};

/// How exactly a result locates the address, best first. Matches the database enum
/// `geocode_precision` (plus `manual`, which only people set).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[sqlx(type_name = "geocode_precision", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// A manager placed the pin by hand.
    Manual,
    /// The address point itself (a building or entrance).
    Rooftop,
    /// Between known house numbers along the street.
    Interpolated,
    /// Somewhere on the named street.
    Street,
    /// The postal code's area.
    PostalCode,
    /// The town or city.
    Locality,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Rooftop => "rooftop",
            Self::Interpolated => "interpolated",
            Self::Street => "street",
            Self::PostalCode => "postal_code",
            Self::Locality => "locality",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manual" => Self::Manual,
            "rooftop" => Self::Rooftop,
            "interpolated" => Self::Interpolated,
            "street" => Self::Street,
            "postal_code" => Self::PostalCode,
            "locality" => Self::Locality,
            _ => return None,
        })
    }

    /// Whether `self` is at least as precise as `other` (`Rooftop` is at least as precise as
    /// everything but `Manual`).
    pub fn at_least(self, other: Self) -> bool {
        self <= other
    }
}

/// An account claimed for geocoding: its address, what was geocoded last, and whether a
/// location (possibly a manual pin) holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingGeocode {
    pub id: Uuid,
    #[sqlx(flatten)]
    pub address: Address,
    pub address_normalized: Option<String>,
    pub has_location: bool,
    pub manual: bool,
    pub geocode_attempts: i32,
    /// The address as one text (`terrane_address_text`), to write a result only if the
    /// address did not change meanwhile.
    pub address_text: Option<String>,
}

impl PendingGeocode {
    /// Located already, at this very (normalized) address.
    pub fn unchanged(&self, key: &str) -> bool {
        self.has_location && self.address_normalized.as_deref() == Some(key)
    }
}

/// A location found for an account, to write with [`locate_many`].
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    pub id: Uuid,
    pub at: LonLat,
    pub cell: Option<H3Cell>,
    pub precision: Precision,
    pub confidence: f32,
    pub provider: &'a str,
    /// The normalized address key that was geocoded.
    pub key: &'a str,
    /// The address text the account had when it was claimed.
    pub address_text: Option<&'a str>,
}

/// Claims up to `limit` due pending accounts for `lease_s` seconds (`for update skip locked`,
/// so concurrent workers take different ones).
pub async fn claim_pending(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_s: f64,
) -> Result<Vec<PendingGeocode>, sqlx::Error> {
    sqlx::query_as(
        r"
            update accounts a set geocode_next_attempt_at = now() + make_interval(secs => $2)
            from (
                select id from accounts
                where geocode_status = 'pending' and deleted_at is null
                  and (geocode_next_attempt_at is null or geocode_next_attempt_at <= now())
                order by geocode_next_attempt_at nulls first, id
                limit $1
                for update skip locked
            ) due
            where a.id = due.id
            returning a.id, a.address_line, a.house_number, a.street, a.postal_code, a.city,
                      a.country_code, a.address_normalized, a.location is not null as has_location,
                      a.geocode_precision is not distinct from 'manual' as manual,
                      a.geocode_attempts,
                      terrane_address_text(a.address_line, a.house_number, a.street,
                                           a.postal_code, a.city, a.country_code) as address_text
            ",
    )
    .bind_all((limit, lease_s))
    .fetch_all(db)
    .await
}

/// The address did not change after normalization: the location stays (`manual` keeps a pin's
/// status) and the account leaves the queue.
pub async fn keep_location(
    db: impl PgExecutor<'_>,
    id: Uuid,
    manual: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update accounts set geocode_status = case when $2 then 'manual' else 'ok' end::geocode_status,
                        geocode_attempts = 0, geocode_error = null, geocode_next_attempt_at = null
                 where id = $1 and geocode_status = 'pending'",
    )
    .bind_all((id, manual))
    .execute(db)
    .await?;
    Ok(())
}

/// Providers failed: the account stays pending, one more attempt counted, retried after
/// `retry_after_s` seconds.
pub async fn postpone(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    retry_after_s: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update accounts set geocode_attempts = geocode_attempts + 1, geocode_error = $2,
                            geocode_next_attempt_at = now() + make_interval(secs => $3)
                     where id = $1 and geocode_status = 'pending'",
    )
    .bind_all((id, error, retry_after_s))
    .execute(db)
    .await?;
    Ok(())
}

/// Writes several locations in one statement, each only if its account is still pending at
/// the address that was geocoded. Returns the accounts written.
pub async fn locate_many(
    db: impl PgExecutor<'_>,
    located: &[Located<'_>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = located.iter().map(|l| l.id).collect();
    let lons: Vec<f64> = located.iter().map(|l| l.at.lon()).collect();
    let lats: Vec<f64> = located.iter().map(|l| l.at.lat()).collect();
    let cells: Vec<Option<H3Cell>> = located.iter().map(|l| l.cell).collect();
    let precisions: Vec<Precision> = located.iter().map(|l| l.precision).collect();
    let confidences: Vec<f32> = located.iter().map(|l| l.confidence).collect();
    let providers: Vec<&str> = located.iter().map(|l| l.provider).collect();
    let keys: Vec<&str> = located.iter().map(|l| l.key).collect();
    let texts: Vec<Option<&str>> = located.iter().map(|l| l.address_text).collect();
    sqlx::query_scalar(
        r"
            update accounts a set location = st_setsrid(st_makepoint(x.lon, x.lat), 4326),
                   h3_cell = x.cell, geocode_status = 'ok',
                   geocode_precision = x.precision,
                   geocode_confidence = x.confidence, geocode_source = x.provider,
                   geocoded_at = now(), address_normalized = x.key, geocode_attempts = 0,
                   geocode_error = null, geocode_next_attempt_at = null
            from unnest($1::uuid[], $2::float8[], $3::float8[], $4::int8[], $5::geocode_precision[],
                        $6::float4[], $7::text[], $8::text[], $9::text[])
                 as x(id, lon, lat, cell, precision, confidence, provider, key, address_text)
            where a.id = x.id and a.geocode_status = 'pending'
              and terrane_address_text(a.address_line, a.house_number, a.street, a.postal_code,
                                       a.city, a.country_code) is not distinct from x.address_text
            returning a.id
            ",
    )
    .bind_all((
        &ids,
        &lons,
        &lats,
        &cells,
        &precisions,
        &confidences,
        &providers,
        &keys,
        &texts,
    ))
    .fetch_all(db)
    .await
}

/// No location for this address: status `failed` with the reason; `key` (the normalized
/// address) is remembered when there is one.
pub async fn mark_not_found(
    db: impl PgExecutor<'_>,
    id: Uuid,
    why: &str,
    key: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update accounts set geocode_status = 'failed', geocode_error = $2,
                    address_normalized = coalesce($3, address_normalized),
                    geocode_next_attempt_at = null
             where id = $1 and geocode_status = 'pending'",
    )
    .bind_all((id, why, key))
    .execute(db)
    .await?;
    Ok(())
}

/// Pins `account` at `at` by hand (precision `manual`) if it is live and within `scope`;
/// `key` is the normalized address the pin belongs to. True when the account was moved.
pub async fn pin(
    db: impl PgExecutor<'_>,
    scope: &Scope,
    account: Uuid,
    at: LonLat,
    key: Option<String>,
) -> Result<bool, sqlx::Error> {
    let h3 = H3Cell::at(at).ok();
    let moved = sqlx::query(
        r"
        update accounts set location = st_setsrid(st_makepoint($2, $3), 4326), h3_cell = $4,
               geocode_status = 'manual', geocode_precision = 'manual', geocode_confidence = 1,
               geocode_source = 'manual', geocoded_at = now(), geocode_error = null,
               geocode_attempts = 0, geocode_next_attempt_at = null,
               address_normalized = $6
        where id = $1 and deleted_at is null
          and ($5::uuid[] is null or owner_rep_id = any($5))
        ",
    )
    .bind_all((account, at.lon(), at.lat(), h3, scope.rep_filter(), key))
    .execute(db)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Puts a failed account back in the geocoding queue now; false when it is not failed or
/// pending.
pub async fn retry_now(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update accounts set geocode_status = 'pending', geocode_attempts = 0,
                geocode_next_attempt_at = null, geocode_error = null
         where id = $1 and deleted_at is null and geocode_status in ('failed', 'pending')",
    )
    .bind(id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Inserts an unlocated account (`crm_source = 'cache-bench'`) for the geocoding cache
/// benchmark; it starts `pending`, so the geocoding worker picks it up.
pub async fn insert_for_cache_bench(
    db: impl PgExecutor<'_>,
    crm_id: &str,
    address: &Address,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into accounts (crm_source, crm_id, name, house_number, street, postal_code,
                                   city, country_code, address_line)
             values ('cache-bench', $1, 'Bench account', $2, $3, $4, $5, $6, $7)",
    )
    .bind_all((
        crm_id,
        &address.house_number,
        &address.street,
        &address.postal_code,
        &address.city,
        &address.country_code,
        &address.line,
    ))
    .execute(db)
    .await?;
    Ok(())
}
