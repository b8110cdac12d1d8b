//! Visits (check-ins) a rep logs from the route page or the phone. Idempotent on the client's
//! event id; the position, when shared, only serves to measure the distance to the account:
//! a visit logged farther than the threshold is kept but flagged for the manager and does not
//! count as the account's last visit.

use crate::db::Bind;
use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::spatial::LonLat;

use super::{DayPlanError, store};

/// A visit time this far ahead of the server's clock is taken as now (a phone's clock drift).
const FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);
/// Visits older than this are refused (not a check-in any more).
const OLDEST: TimeDelta = TimeDelta::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "visit_outcome", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Met,
    NoOneAvailable,
    FollowUp,
    Other,
}

/// A visit as the phone or page sends it.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitInput {
    /// The client's id for this visit (8 to 100 of `A-Z a-z 0-9 - _ . :`): sending it again
    /// records nothing new.
    pub event_id: String,
    pub account_id: Uuid,
    /// When; default now. Later than five minutes from now counts as now.
    #[serde(default)]
    pub visited_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    #[serde(default)]
    pub note: Option<String>,
    /// `[lon, lat]` of the phone, when the rep shares it.
    #[serde(default)]
    #[schema(value_type = Option<[f64]>)]
    pub position: Option<LonLat>,
}

/// A recorded visit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Visit {
    pub id: Uuid,
    pub event_id: String,
    pub rep_id: Uuid,
    pub account_id: Uuid,
    pub account_name: String,
    pub visited_at: DateTime<Utc>,
    pub outcome: String,
    pub note: Option<String>,
    /// Metres from the phone to the account (when the position was shared).
    pub distance_m: Option<f32>,
    /// Logged far from the account: shown to the manager, not counted as a visit.
    pub far_from_account: bool,
}

/// Whether a visit was new or a repeat of one already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    Created,
    Duplicate,
}

fn valid_event_id(id: &str) -> bool {
    (8..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// What else happens in the transaction that records a new visit, so both land or neither:
/// the CRM write-back queues the visit as an activity there. `dayplan` does not depend on
/// `crm` (the CRM reads visits through `dayplan`), so the caller passes it in.
pub trait OnRecorded: Sync {
    fn recorded(
        &self,
        tx: &mut PgConnection,
        visit: &Visit,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Nothing else happens.
impl OnRecorded for () {
    async fn recorded(&self, _tx: &mut PgConnection, _visit: &Visit) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// Logs a visit by `rep_id` (the caller's own rep record); `then` runs in the same transaction
/// when the visit is new.
pub async fn log(
    db: &PgPool,
    rep_id: Uuid,
    input: &VisitInput,
    far_m: f64,
    then: &impl OnRecorded,
) -> Result<(Visit, Recorded), DayPlanError> {
    if !valid_event_id(&input.event_id) {
        return Err(DayPlanError::Invalid(
            "event_id must be 8 to 100 letters, digits or - _ . :".into(),
        ));
    }
    let now = Utc::now();
    let visited_at = match input.visited_at {
        Some(t) if t > now + FUTURE_SKEW => now,
        Some(t) if t < now - OLDEST => {
            return Err(DayPlanError::Invalid(
                "visited_at is more than 30 days ago".into(),
            ));
        }
        Some(t) => t,
        None => now,
    };
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2_000) {
        return Err(DayPlanError::Invalid(
            "the note is longer than 2,000 characters".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let may: bool = sqlx::query_scalar(include_str!("sql/visits_may_log.sql"))
        .bind_all((rep_id, input.account_id))
        .fetch_one(&mut *tx)
        .await?;
    if !may {
        return Err(DayPlanError::Invalid("unknown account".into()));
    }
    let created: Option<Uuid> = sqlx::query_scalar(include_str!("sql/visits_insert.sql"))
        .bind_all((
            &input.event_id,
            rep_id,
            input.account_id,
            visited_at,
            input.outcome,
            note,
            input.position.map(LonLat::lon),
            input.position.map(LonLat::lat),
            far_m,
        ))
        .fetch_optional(&mut *tx)
        .await?;
    let visit: Visit = sqlx::query_as(include_str!("sql/visits_by_event.sql"))
        .bind(&input.event_id)
        .fetch_one(&mut *tx)
        .await?;
    if created.is_some() {
        let day = store::local_day(&mut *tx, rep_id, visited_at).await?;
        store::mark_stale_from(&mut tx, rep_id, day).await?;
        then.recorded(&mut tx, &visit).await?;
    }
    tx.commit().await?;
    if visit.rep_id != rep_id || visit.account_id != input.account_id {
        return Err(DayPlanError::Conflict(
            "this event_id was already used for another visit".into(),
        ));
    }
    let recorded = if created.is_some() {
        Recorded::Created
    } else {
        Recorded::Duplicate
    };
    Ok((visit, recorded))
}

/// A visit the CRM recorded (a completed meeting or Task), matched to a rep and an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmVisit {
    /// `crm:{connection}:{activity id}`.
    pub event_id: String,
    pub rep_id: Uuid,
    pub account_id: Uuid,
    pub visited_at: DateTime<Utc>,
}

/// Records visits read from the CRM (source `crm`, outcome met), each once per event id, and
/// marks the days they change stale, in one transaction. Returns how many were new. Nothing
/// else runs: a visit from the CRM is never written back to it.
pub async fn record_from_crm(db: &PgPool, visits: &[CrmVisit]) -> Result<u64, DayPlanError> {
    if visits.is_empty() {
        return Ok(0);
    }
    let events: Vec<&str> = visits.iter().map(|v| v.event_id.as_str()).collect();
    let reps: Vec<Uuid> = visits.iter().map(|v| v.rep_id).collect();
    let accounts: Vec<Uuid> = visits.iter().map(|v| v.account_id).collect();
    let times: Vec<DateTime<Utc>> = visits.iter().map(|v| v.visited_at).collect();
    let mut tx = db.begin().await?;
    let created: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as(include_str!("sql/visits_insert_crm.sql"))
            .bind_all((&events, &reps, &accounts, &times))
            .fetch_all(&mut *tx)
            .await?;
    let mut days = std::collections::BTreeSet::new();
    for (rep, at) in &created {
        days.insert((*rep, store::local_day(&mut *tx, *rep, *at).await?));
    }
    for (rep, day) in days {
        store::mark_stale_from(&mut tx, rep, day).await?;
    }
    tx.commit().await?;
    Ok(created.len() as u64)
}

/// The visits of `reps` on `day` (each rep's local day), newest first, flagged ones included:
/// what a manager reviews.
pub async fn of_reps(
    db: &PgPool,
    reps: &[Uuid],
    day: chrono::NaiveDate,
) -> Result<Vec<Visit>, DayPlanError> {
    Ok(sqlx::query_as(include_str!("sql/visits_of_reps.sql"))
        .bind(reps)
        .bind(day)
        .fetch_all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_short_plain_tokens() {
        assert!(valid_event_id("visit-2026-12-08:0001"));
        assert!(!valid_event_id("short"));
        assert!(!valid_event_id("has space in it"));
        assert!(!valid_event_id(&"x".repeat(101)));
    }
}
