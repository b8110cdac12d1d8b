//! Proximity alerts: raised in the transaction that stores the ping (the database's rules
//! checked there), pushed on the rep's socket, and acted on by the rep: acknowledged,
//! dismissed, snoozed, added to today's route as an appointment, or turned into a task in the
//! account's CRM through the write-back outbox (`docs/live.md`, "Alerts"). An alert holds the
//! distance, never the rep's position.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

use super::proximity::Qualifying;
use crate::auth::Scope;
use crate::crm::writeback::{self, AlertTask};
use crate::dayplan::DayPlanError;
use crate::dayplan::appointments::{self, Actor, AppointmentInput, Source};
use crate::db::Bind;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "proximity_alert_state", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[schema(as = ProximityAlertState)]
pub enum AlertState {
    Open,
    Acknowledged,
    /// Not wanted: the account does not alert the rep again for 7 days.
    Dismissed,
    /// Not now: the account may alert the rep again once `snoozed_until` passes.
    Snoozed,
    /// Booked as an appointment today (`appointment_id`).
    AddedToRoute,
    /// A task in the account's CRM is queued (HubSpot task, Salesforce Task).
    TaskRequested,
}

/// An alert, as the rep's socket pushes it and the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(as = ProximityAlert)]
pub struct Alert {
    pub id: Uuid,
    pub rep_id: Uuid,
    pub account_id: Uuid,
    pub account_name: String,
    /// The account's position (to navigate there); never the rep's.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// How far the rep was from the account, metres.
    pub distance_m: f64,
    /// The ping that raised it (the device's event id).
    pub ping_event_id: Uuid,
    pub state: AlertState,
    pub created_at: DateTime<Utc>,
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The appointment "add to route" booked.
    pub appointment_id: Option<Uuid>,
}

/// What the rep does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = ProximityAlertAction)]
pub enum Action {
    Acknowledge,
    Dismiss,
    /// Remind me later: 5 to 1440 minutes.
    Snooze {
        minutes: i64,
    },
    /// Book it today: an appointment from now to the end of the shift, for the account's
    /// service minutes; the day plan takes it in on its next read.
    AddToRoute,
    /// A task in the account's CRM (HubSpot task, Salesforce Task), written by the CRM
    /// write-back; 409 for an account that comes from no CRM connection.
    CreateTask,
}

/// Why an action was refused.
#[derive(Debug, Error)]
pub enum AlertError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    DayPlan(#[from] DayPlanError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Raises the alerts the database's rules allow among `qualifying` (at most one per rep), in
/// the caller's transaction (the one that stores the pings).
pub async fn raise(
    tx: &mut PgConnection,
    qualifying: &[Qualifying],
) -> Result<Vec<Alert>, sqlx::Error> {
    if qualifying.is_empty() {
        return Ok(Vec::new());
    }
    let column = |f: fn(&Qualifying) -> i32| qualifying.iter().map(f).collect::<Vec<_>>();
    sqlx::query_as(include_str!("sql/alerts_raise.sql"))
        .bind_all((
            qualifying.iter().map(|q| q.rep).collect::<Vec<_>>(),
            qualifying.iter().map(|q| q.account_id).collect::<Vec<_>>(),
            qualifying
                .iter()
                .map(|q| q.ping_event_id)
                .collect::<Vec<_>>(),
            qualifying.iter().map(|q| q.distance_m).collect::<Vec<_>>(),
            column(|q| q.rules.visited_within_days),
            column(|q| q.rules.cooldown_minutes),
            column(|q| q.rules.max_per_hour),
        ))
        .fetch_all(&mut *tx)
        .await
}

/// The alerts of `reps` raised in the last `hours` hours, newest first (at most 200).
pub async fn recent(db: &PgPool, reps: &[Uuid], hours: i64) -> Result<Vec<Alert>, sqlx::Error> {
    let since = Utc::now() - Duration::hours(hours.clamp(1, 24 * 31));
    sqlx::query_as(include_str!("sql/alerts_list.sql"))
        .bind_all((reps, since, 200_i64, None::<Vec<Uuid>>))
        .fetch_all(db)
        .await
}

/// Alerts by id (another instance raised them).
pub async fn by_ids(db: &PgPool, ids: &[Uuid]) -> Result<Vec<Alert>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/alerts_by_id.sql"))
        .bind(ids)
        .fetch_all(db)
        .await
}

#[derive(sqlx::FromRow)]
struct RouteWindow {
    start: DateTime<Utc>,
    shift_end: DateTime<Utc>,
    minutes: i64,
}

/// Applies `action` to the rep's alert `id` (someone else's is "not found"); returns it.
/// Dismissed, booked and task alerts are final; the same action twice changes nothing more
/// (a second `create_task` queues nothing).
pub async fn act(
    db: &PgPool,
    user_id: Uuid,
    rep: Uuid,
    id: Uuid,
    action: Action,
) -> Result<Alert, AlertError> {
    let mut tx = db.begin().await?;
    let (state, account_id): (AlertState, Uuid) =
        sqlx::query_as(include_str!("sql/alerts_lock.sql"))
            .bind_all((id, rep))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AlertError::NotFound)?;
    let wanted = match action {
        Action::Acknowledge => AlertState::Acknowledged,
        Action::Dismiss => AlertState::Dismissed,
        Action::Snooze { .. } => AlertState::Snoozed,
        Action::AddToRoute => AlertState::AddedToRoute,
        Action::CreateTask => AlertState::TaskRequested,
    };
    if let Some(done) = final_as(state) {
        if state == wanted {
            tx.commit().await?;
            return fetch(db, rep, id).await;
        }
        return Err(AlertError::Conflict(format!(
            "this alert was {done} already"
        )));
    }
    let mut snoozed_until = None;
    let mut appointment = None;
    match action {
        Action::Acknowledge | Action::Dismiss => {}
        Action::Snooze { minutes } => {
            if !(5..=1440).contains(&minutes) {
                return Err(AlertError::Invalid(
                    "snooze minutes must be from 5 to 1440".into(),
                ));
            }
            snoozed_until = Some(Utc::now() + Duration::minutes(minutes));
        }
        Action::AddToRoute => {
            appointment = Some(book(&mut tx, user_id, rep, account_id).await?);
        }
        Action::CreateTask => match writeback::enqueue_alert_task(&mut tx, id).await? {
            AlertTask::Queued(_) | AlertTask::AlreadyQueued => {}
            AlertTask::NoCrm => {
                return Err(AlertError::Conflict(
                    "this account comes from no CRM connection (a CSV import, say): there is \
                     no CRM to create a task in"
                        .into(),
                ));
            }
        },
    }
    sqlx::query(include_str!("sql/alerts_act.sql"))
        .bind_all((id, wanted, snoozed_until, appointment))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    fetch(db, rep, id).await
}

/// How a final state reads in a refusal; `None` while the alert can still change.
fn final_as(state: AlertState) -> Option<&'static str> {
    match state {
        AlertState::Dismissed => Some("dismissed"),
        AlertState::AddedToRoute => Some("added to the route"),
        AlertState::TaskRequested => Some("turned into a CRM task"),
        AlertState::Open | AlertState::Acknowledged | AlertState::Snoozed => None,
    }
}

/// Books the account today, from now to the end of the rep's shift (audited by the day
/// planner as `appointment.create`, source `alert`).
async fn book(
    tx: &mut PgConnection,
    user_id: Uuid,
    rep: Uuid,
    account_id: Uuid,
) -> Result<Uuid, AlertError> {
    let w: RouteWindow = sqlx::query_as(include_str!("sql/alerts_route_window.sql"))
        .bind_all((rep, account_id))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AlertError::NotFound)?;
    if w.start + Duration::minutes(w.minutes) > w.shift_end {
        return Err(AlertError::Conflict(
            "the shift ends before a visit there fits today".into(),
        ));
    }
    // The alert (the rep's own, checked by the caller) is what lets the rep book the account:
    // it may be unassigned, which a rep's own scope would not show.
    let scope = Scope::All;
    let actor = Actor {
        user_id,
        rep_id: Some(rep),
        scope: &scope,
        source: Source::Alert,
    };
    let input = AppointmentInput {
        account_id,
        rep_id: Some(rep),
        start: w.start,
        end: Some(w.shift_end),
        duration_minutes: w.minutes,
        note: Some("Added from a proximity alert".into()),
    };
    Ok(appointments::create_in(tx, actor, &input, None).await?.id)
}

async fn fetch(db: &PgPool, rep: Uuid, id: Uuid) -> Result<Alert, AlertError> {
    let found: Option<Alert> = sqlx::query_as(include_str!("sql/alerts_list.sql"))
        .bind_all((
            vec![rep],
            DateTime::<Utc>::UNIX_EPOCH,
            1_i64,
            Some(vec![id]),
        ))
        .fetch_optional(db)
        .await?;
    found.ok_or(AlertError::NotFound)
}
