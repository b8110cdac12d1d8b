//! A rep's own track: exported as GeoJSON and erased, each audited (`docs/privacy.md`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::db::Bind;

/// Longest span one export covers, in days.
pub const MAX_EXPORT_DAYS: i64 = 31;

/// The rep's pings recorded in `[from, to)` as a GeoJSON FeatureCollection (positions as
/// stored: coarse ones snapped), and the audit row `track.exported` naming who asked.
pub async fn export(
    db: &PgPool,
    actor: Uuid,
    rep: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<serde_json::Value, sqlx::Error> {
    let (track, pings): (serde_json::Value, i64) =
        sqlx::query_as(include_str!("sql/track_export.sql"))
            .bind_all((rep, from, to))
            .fetch_one(db)
            .await?;
    audit::record(
        db,
        AuditEvent::new(Some(actor), "track.exported")
            .about("rep", rep.to_string())
            .with(serde_json::json!({ "from": from, "to": to, "pings": pings })),
    )
    .await?;
    Ok(track)
}

/// Deletes every ping of the rep; audited (`track.erased`, with the count) in the same
/// transaction. Returns how many.
pub async fn erase(db: &PgPool, actor: Uuid, rep: Uuid) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(include_str!("sql/track_erase.sql"))
        .bind(rep)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let event = AuditEvent::new(Some(actor), "track.erased")
        .about("rep", rep.to_string())
        .with(serde_json::json!({ "pings": n }));
    audit::commit_with(tx, event).await?;
    Ok(n)
}
