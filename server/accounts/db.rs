//! SQL for the account registry.

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::MapAccount;
use crate::spatial::BBox;

/// Live, located accounts inside `bbox` (all of them without one), most valuable first,
/// owned by one of `owner_reps` (any owner, or none, when `None`).
pub async fn map_accounts(
    db: impl PgExecutor<'_>,
    owner_reps: Option<&[Uuid]>,
    bbox: Option<BBox>,
    limit: i64,
) -> Result<Vec<MapAccount>, sqlx::Error> {
    let (min_lon, min_lat, max_lon, max_lat) = match bbox {
        Some(b) => (
            Some(b.min.lon()),
            Some(b.min.lat()),
            Some(b.max.lon()),
            Some(b.max.lat()),
        ),
        None => (None, None, None, None),
    };
    sqlx::query_as::<_, MapAccount>(
        r"
        select id, name, tier::text as tier, annual_value::float8 as annual_value,
               visits_per_year, priority, industry, synthetic, city, owner_rep_id, territory_id,
               geocode_precision,
               st_x(location) as lon, st_y(location) as lat
        from accounts
        where deleted_at is null
          and location is not null
          and ($1::float8 is null
               or location && st_makeenvelope($1, $2, $3, $4, 4326))
          and ($6::uuid[] is null or owner_rep_id = any($6))
        order by annual_value desc, id
        limit $5
        ",
    )
    .bind_all((min_lon, min_lat, max_lon, max_lat, limit, owner_reps))
    .fetch_all(db)
    .await
}
