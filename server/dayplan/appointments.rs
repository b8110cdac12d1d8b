//! Appointments: a visit booked at a fixed time or within a window, from the Today page, the
//! API or a CSV file. Every change is checked against the rep's shift and other appointments
//! under a lock on the rep, saved with its audit row in one transaction, and marks the
//! affected days for re-planning.

use crate::db::Bind;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::auth::Scope;

use super::{DayPlanError, store};

/// Most booked appointments on one rep's day.
pub const MAX_PER_DAY: usize = 40;

/// An appointment as the API takes it.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    pub account_id: Uuid,
    /// The rep who goes; a rep's own id by default.
    #[serde(default)]
    pub rep_id: Option<Uuid>,
    /// The visit starts at `start` (a fixed time), or anywhere from `start` such that it ends
    /// by `end` (a window). RFC 3339 with an offset.
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    pub duration_minutes: i64,
    #[serde(default)]
    pub note: Option<String>,
}

/// Where an appointment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "appointment_source", rename_all = "lowercase")]
pub enum Source {
    Page,
    Api,
    Csv,
    /// "Add to route" on a proximity alert (`live::alerts`).
    Alert,
}

/// A stored appointment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Appointment {
    pub id: Uuid,
    pub rep_id: Uuid,
    pub account_id: Uuid,
    pub account_name: String,
    #[serde(skip)]
    pub owner_rep_id: Option<Uuid>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub duration_minutes: i32,
    /// `booked` or `cancelled`.
    pub status: String,
    pub note: Option<String>,
    /// `page`, `api` or `csv`.
    pub source: String,
}

/// A checked appointment, ready to store.
#[derive(Debug, Clone, PartialEq)]
struct Checked {
    rep_id: Uuid,
    account_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    minutes: i64,
    note: Option<String>,
}

/// The part of the input that needs no database: the window and the visit's length.
fn check_shape(
    input: &AppointmentInput,
) -> Result<(DateTime<Utc>, i64, Option<String>), DayPlanError> {
    let minutes = input.duration_minutes;
    if !(5..=600).contains(&minutes) {
        return Err(DayPlanError::Invalid(
            "duration_minutes must be from 5 to 600".into(),
        ));
    }
    let fixed_end = input.start + TimeDelta::minutes(minutes);
    let end = input.end.unwrap_or(fixed_end);
    if end <= input.start {
        return Err(DayPlanError::Invalid(
            "the window's end must be after its start".into(),
        ));
    }
    if end < fixed_end {
        return Err(DayPlanError::Invalid(format!(
            "the window is shorter than the {minutes}-minute visit"
        )));
    }
    if end - input.start > TimeDelta::hours(24) {
        return Err(DayPlanError::Invalid(
            "an appointment's window must lie within one day".into(),
        ));
    }
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 2_000) {
        return Err(DayPlanError::Invalid(
            "the note is longer than 2,000 characters".into(),
        ));
    }
    Ok((end, minutes, note))
}

#[derive(sqlx::FromRow)]
struct ShiftRow {
    active: bool,
    timezone: String,
    day: NaiveDate,
    last_day: NaiveDate,
    workday: bool,
    shift_start: DateTime<Utc>,
    shift_end: DateTime<Utc>,
    shift_text: String,
}

#[derive(sqlx::FromRow)]
struct Booked {
    id: Uuid,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    duration_minutes: i64,
}

/// The time an appointment must occupy whatever its start: from the latest start to the
/// earliest end (empty for a wide window).
fn mandatory(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    minutes: i64,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let latest_start = end - TimeDelta::minutes(minutes);
    let earliest_end = start + TimeDelta::minutes(minutes);
    (latest_start < earliest_end).then_some((latest_start, earliest_end))
}

/// Checks the appointment against the rep (locked), their shift and their other
/// appointments; returns the local day it falls on.
async fn check_against_day(
    tx: &mut PgConnection,
    c: &Checked,
    replacing: Option<Uuid>,
) -> Result<NaiveDate, DayPlanError> {
    let shift: ShiftRow = sqlx::query_as(include_str!("sql/appointments_rep_shift.sql"))
        .bind_all((c.rep_id, c.start, c.end))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DayPlanError::Invalid("no such rep".into()))?;
    if !shift.active {
        return Err(DayPlanError::Invalid("this rep is inactive".into()));
    }
    if shift.last_day != shift.day {
        return Err(DayPlanError::Invalid(
            "an appointment's window must lie within one day of the rep's".into(),
        ));
    }
    if !shift.workday {
        return Err(DayPlanError::Invalid(format!(
            "{} is not one of this rep's working days",
            shift.day.format("%A %-d %B")
        )));
    }
    let visit = TimeDelta::minutes(c.minutes);
    if c.start.max(shift.shift_start) + visit > c.end.min(shift.shift_end) {
        return Err(DayPlanError::Invalid(format!(
            "the appointment does not fit in the rep's shift ({} local time)",
            shift.shift_text
        )));
    }
    let others: Vec<Booked> = sqlx::query_as(include_str!("sql/appointments_same_day.sql"))
        .bind_all((c.rep_id, shift.day, &shift.timezone, replacing))
        .fetch_all(&mut *tx)
        .await?;
    if others.len() >= MAX_PER_DAY {
        return Err(DayPlanError::Invalid(format!(
            "a rep can have at most {MAX_PER_DAY} appointments on one day"
        )));
    }
    if let Some((a0, a1)) = mandatory(c.start, c.end, c.minutes) {
        for o in &others {
            if let Some((b0, b1)) = mandatory(o.window_start, o.window_end, o.duration_minutes)
                && a0 < b1
                && b0 < a1
            {
                return Err(DayPlanError::Conflict(format!(
                    "it overlaps the rep's appointment {} from {} to {} (UTC)",
                    o.id,
                    o.window_start.format("%H:%M"),
                    o.window_end.format("%H:%M")
                )));
            }
        }
    }
    Ok(shift.day)
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    owner_rep_id: Option<Uuid>,
}

/// The account, when it exists and the caller may see it (else "unknown", never "forbidden":
/// ids outside the scope are not confirmed).
async fn account_in_scope(
    tx: &mut PgConnection,
    scope: &Scope,
    account_id: Uuid,
) -> Result<AccountRow, DayPlanError> {
    let row: Option<AccountRow> =
        sqlx::query_as("select owner_rep_id from accounts where id = $1 and deleted_at is null")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    row.filter(|a| scope.allows_rep(a.owner_rep_id))
        .ok_or_else(|| DayPlanError::Invalid("unknown account".into()))
}

/// Who the appointment is for: the input's rep (in the caller's scope) or the caller's own.
fn rep_for(
    scope: &Scope,
    input: Option<Uuid>,
    own: Option<Uuid>,
    owner: Option<Uuid>,
) -> Result<Uuid, DayPlanError> {
    let rep = input
        .or(own)
        .or(owner)
        .ok_or_else(|| DayPlanError::Invalid("rep_id is required".into()))?;
    if scope.allows_rep(Some(rep)) {
        Ok(rep)
    } else {
        Err(DayPlanError::Invalid("unknown rep".into()))
    }
}

/// Who changes an appointment, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: Uuid,
    /// The caller's own rep record (a rep).
    pub rep_id: Option<Uuid>,
    pub scope: &'a Scope,
    pub source: Source,
}

/// Books an appointment; with `external_ref` (CSV), a second import of the same row updates it.
pub async fn create(
    db: &PgPool,
    actor: Actor<'_>,
    input: &AppointmentInput,
    external_ref: Option<&str>,
) -> Result<Appointment, DayPlanError> {
    let mut tx = db.begin().await?;
    let booked = create_in(&mut tx, actor, input, external_ref).await?;
    tx.commit().await?;
    get(db, actor.scope, booked.id).await
}

/// What [`create_in`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub id: Uuid,
    /// The rep already had an appointment with this `external_ref`: it was changed.
    pub replaced: bool,
}

/// [`create`] inside the caller's transaction (a CSV file is one transaction).
pub async fn create_in(
    tx: &mut PgConnection,
    actor: Actor<'_>,
    input: &AppointmentInput,
    external_ref: Option<&str>,
) -> Result<Created, DayPlanError> {
    let (end, minutes, note) = check_shape(input)?;
    let account = account_in_scope(&mut *tx, actor.scope, input.account_id).await?;
    let rep_id = rep_for(
        actor.scope,
        input.rep_id,
        actor.rep_id,
        account.owner_rep_id,
    )?;
    let checked = Checked {
        rep_id,
        account_id: input.account_id,
        start: input.start,
        end,
        minutes,
        note,
    };
    let replacing: Option<(Uuid, DateTime<Utc>)> =
        match external_ref {
            Some(r) => sqlx::query_as(
                "select id, window_start from appointments where rep_id = $1 and external_ref = $2",
            )
            .bind_all((rep_id, r))
            .fetch_optional(&mut *tx)
            .await?,
            None => None,
        };
    let day = check_against_day(&mut *tx, &checked, replacing.map(|(id, _)| id)).await?;
    let id: Uuid = sqlx::query_scalar(include_str!("sql/appointments_insert.sql"))
        .bind_all((
            rep_id,
            checked.account_id,
            checked.start,
            checked.end,
            i32::try_from(minutes).unwrap_or(600),
            &checked.note,
            actor.source,
            external_ref,
            actor.user_id,
        ))
        .fetch_one(&mut *tx)
        .await?;
    // A re-imported row may move its appointment to another day: both days change.
    let mut days = vec![day];
    if let Some((_, before)) = replacing {
        days.push(store::local_day(&mut *tx, rep_id, before).await?);
    }
    store::mark_stale(&mut *tx, rep_id, &days).await?;
    audited(&mut *tx, actor, "appointment.create", id).await?;
    Ok(Created {
        id,
        replaced: replacing.is_some(),
    })
}

/// Moves or changes an appointment (its rep stays).
pub async fn update(
    db: &PgPool,
    actor: Actor<'_>,
    id: Uuid,
    input: &AppointmentInput,
) -> Result<Appointment, DayPlanError> {
    let (end, minutes, note) = check_shape(input)?;
    let current = get(db, actor.scope, id).await?;
    let mut tx = db.begin().await?;
    account_in_scope(&mut tx, actor.scope, input.account_id).await?;
    let checked = Checked {
        rep_id: current.rep_id,
        account_id: input.account_id,
        start: input.start,
        end,
        minutes,
        note,
    };
    let day = check_against_day(&mut tx, &checked, Some(id)).await?;
    let updated: Option<Uuid> = sqlx::query_scalar(include_str!("sql/appointments_update.sql"))
        .bind_all((
            id,
            checked.start,
            checked.end,
            i32::try_from(minutes).unwrap_or(600),
            &checked.note,
            checked.account_id,
        ))
        .fetch_optional(&mut *tx)
        .await?;
    if updated.is_none() {
        return Err(DayPlanError::Conflict(
            "a cancelled appointment cannot be changed".into(),
        ));
    }
    let before = store::local_day(&mut *tx, current.rep_id, current.window_start).await?;
    store::mark_stale(&mut tx, current.rep_id, &[before, day]).await?;
    audited(&mut tx, actor, "appointment.update", id).await?;
    tx.commit().await?;
    get(db, actor.scope, id).await
}

/// Cancels an appointment (kept, marked cancelled).
pub async fn cancel(db: &PgPool, actor: Actor<'_>, id: Uuid) -> Result<Appointment, DayPlanError> {
    let current = get(db, actor.scope, id).await?;
    let mut tx = db.begin().await?;
    let done: Option<Uuid> = sqlx::query_scalar(include_str!("sql/appointments_cancel.sql"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if done.is_none() {
        return Err(DayPlanError::Conflict(
            "the appointment is already cancelled".into(),
        ));
    }
    let day = store::local_day(&mut *tx, current.rep_id, current.window_start).await?;
    store::mark_stale(&mut tx, current.rep_id, &[day]).await?;
    audited(&mut tx, actor, "appointment.cancel", id).await?;
    tx.commit().await?;
    get(db, actor.scope, id).await
}

/// One appointment the caller may see (its rep in scope).
pub async fn get(db: &PgPool, scope: &Scope, id: Uuid) -> Result<Appointment, DayPlanError> {
    let row: Option<Appointment> = sqlx::query_as(include_str!("sql/appointments_get.sql"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.filter(|a| scope.allows_rep(Some(a.rep_id)))
        .ok_or(DayPlanError::NotFound)
}

/// A rep's appointments between two instants.
pub async fn list(
    db: &PgPool,
    rep_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>, DayPlanError> {
    Ok(sqlx::query_as(include_str!("sql/appointments_list.sql"))
        .bind_all((rep_id, from, to))
        .fetch_all(db)
        .await?)
}

async fn audited(
    tx: &mut PgConnection,
    actor: Actor<'_>,
    action: &'static str,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *tx,
        AuditEvent::new(Some(actor.user_id), action).about("appointment", id.to_string()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(start: &str, end: Option<&str>, minutes: i64) -> AppointmentInput {
        AppointmentInput {
            account_id: Uuid::nil(),
            rep_id: None,
            start: start.parse().expect("time"),
            end: end.map(|e| e.parse().expect("time")),
            duration_minutes: minutes,
            note: None,
        }
    }

    #[test]
    fn a_window_must_end_after_it_starts_and_hold_the_visit() {
        let bad = input("2026-12-08T10:00:00Z", Some("2026-12-08T09:00:00Z"), 30);
        assert!(
            matches!(check_shape(&bad), Err(DayPlanError::Invalid(m)) if m.contains("after its start"))
        );
        let short = input("2026-12-08T10:00:00Z", Some("2026-12-08T10:20:00Z"), 30);
        assert!(
            matches!(check_shape(&short), Err(DayPlanError::Invalid(m)) if m.contains("shorter"))
        );
        assert!(check_shape(&input("2026-12-08T10:00:00Z", None, 4)).is_err());
        let fixed = check_shape(&input("2026-12-08T10:00:00Z", None, 45)).expect("fixed time");
        assert_eq!(
            fixed.0,
            "2026-12-08T10:45:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
    }

    #[test]
    fn only_the_time_an_appointment_must_occupy_can_clash() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        // 10:00-12:00 for 45 minutes can be anywhere: nothing is certain.
        assert_eq!(
            mandatory(t("2026-12-08T10:00:00Z"), t("2026-12-08T12:00:00Z"), 45),
            None
        );
        // 10:00-11:00 for 45 minutes surely takes 10:15-10:45.
        assert_eq!(
            mandatory(t("2026-12-08T10:00:00Z"), t("2026-12-08T11:00:00Z"), 45),
            Some((t("2026-12-08T10:15:00Z"), t("2026-12-08T10:45:00Z")))
        );
    }
}
