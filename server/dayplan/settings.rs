//! A rep's day settings changed by a person: checked, written by `reps::day`, audited, and the
//! rep's stored days from today on sent back to the planner, in one transaction.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{DayPlanError, store};
use crate::audit::{self, AuditEvent};
use crate::reps::day::{self, RepDaySettings};

/// The rep's day settings (404 when there is no such rep).
pub async fn get(db: &PgPool, rep_id: Uuid) -> Result<RepDaySettings, DayPlanError> {
    day::get(db, rep_id).await?.ok_or(DayPlanError::NotFound)
}

/// Replaces the rep's day settings. A change marks the rep's stored days from their local
/// today on as stale (the next read plans them again) and is audited without coordinates;
/// settings equal to the stored ones change nothing.
pub async fn update(
    db: &PgPool,
    actor_user_id: Uuid,
    rep_id: Uuid,
    settings: &RepDaySettings,
) -> Result<(), DayPlanError> {
    settings
        .check()
        .map_err(|e| DayPlanError::Invalid(e.to_string()))?;
    let mut tx = db.begin().await?;
    match day::set(&mut tx, rep_id, settings).await? {
        None => return Err(DayPlanError::NotFound),
        Some(false) => return Ok(()),
        Some(true) => {}
    }
    store::mark_stale_from_today(&mut tx, rep_id).await?;
    let event = AuditEvent::new(Some(actor_user_id), "rep.day_settings_changed")
        .about("rep", rep_id.to_string())
        .with(json!({
            "work_start": settings.work_start.format("%H:%M").to_string(),
            "work_end": settings.work_end.format("%H:%M").to_string(),
            "break_minutes": settings.break_minutes,
            "break_earliest": settings.break_earliest.format("%H:%M").to_string(),
            "break_latest": settings.break_latest.format("%H:%M").to_string(),
            "day_start_chosen": settings.day_start.is_some(),
            "day_end_chosen": settings.day_end.is_some(),
        }));
    audit::commit_with(tx, event).await?;
    Ok(())
}
