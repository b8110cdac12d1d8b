//! Visits written back to the CRM as activities, and alerts as CRM tasks: queued in
//! `crm_activity_outbox` in the transaction that records the visit ([`VisitWriteBack`] is the
//! hook `dayplan::visits::log` runs) or marks the alert ([`enqueue_alert_task`], called by
//! `live::alerts`), counted and retried for the outbox page. The calls are in
//! `activity_worker`.

use crate::db::Bind;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::dayplan::visits::{OnRecorded, Visit};

/// Queues each new visit's activity for its account's CRM (see [`enqueue_visit`]).
#[derive(Debug, Clone)]
pub struct VisitWriteBack {
    /// `TERRANE_PUBLIC_URL` without its trailing slash: the marker is `{base}/visits/{id}`.
    marker_base: String,
}

impl VisitWriteBack {
    pub fn new(public_url: &str) -> Self {
        Self {
            marker_base: public_url.trim_end_matches('/').to_owned(),
        }
    }
}

impl OnRecorded for VisitWriteBack {
    async fn recorded(&self, tx: &mut PgConnection, visit: &Visit) -> Result<(), sqlx::Error> {
        enqueue_visit(tx, visit.id, &self.marker_base)
            .await
            .map(|_| ())
    }
}

/// Queues visit `visit_id` for write-back in the caller's transaction; `Some(row id)` when
/// queued. Nothing is queued for a visit read from the CRM, one logged far from the account,
/// or an account whose source is a CSV import or a connection without an API; nothing twice
/// (idempotency key `visit:{visit_id}`).
pub async fn enqueue_visit(
    tx: &mut PgConnection,
    visit_id: Uuid,
    marker_base: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(include_str!("../sql/activity_enqueue.sql"))
        .bind_all((visit_id, marker_base))
        .fetch_optional(tx)
        .await
}

/// What queuing an alert's CRM task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTask {
    /// Queued as this outbox row.
    Queued(i64),
    /// Queued before (idempotency key `alert:{alert_id}`): nothing more.
    AlreadyQueued,
    /// The account's source is no connection with an API (a CSV import, a Standard Webhooks
    /// connection): there is no CRM to write a task to.
    NoCrm,
}

/// Queues alert `alert_id`'s task for its account's CRM connection in the caller's
/// transaction (the connection is found as [`enqueue_visit`] finds it); never twice.
pub async fn enqueue_alert_task(
    tx: &mut PgConnection,
    alert_id: Uuid,
) -> Result<AlertTask, sqlx::Error> {
    let (queued, has_crm): (Option<i64>, bool) =
        sqlx::query_as(include_str!("../sql/activity_enqueue_alert.sql"))
            .bind(alert_id)
            .fetch_one(tx)
            .await?;
    Ok(match (queued, has_crm) {
        (Some(id), _) => AlertTask::Queued(id),
        (None, true) => AlertTask::AlreadyQueued,
        (None, false) => AlertTask::NoCrm,
    })
}

/// Activities per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct ActivityStats {
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
}

pub async fn activity_stats(db: impl PgExecutor<'_>) -> Result<ActivityStats, sqlx::Error> {
    sqlx::query_as(include_str!("../sql/activity_stats.sql"))
        .fetch_one(db)
        .await
}

/// An admin sends every failed activity back to the queue with fresh attempts (audited);
/// returns how many. A HubSpot meeting is searched for before it is created again.
pub async fn retry_failed_activities(db: &PgPool, actor: Uuid) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(include_str!("../sql/activity_retry_failed.sql"))
        .fetch_all(&mut *tx)
        .await?;
    let n = ids.len() as u64;
    if n == 0 {
        return Ok(0);
    }
    let event = AuditEvent::new(Some(actor), "crm.activity_retried").with(json!({"ids": ids}));
    audit::commit_with(tx, event).await?;
    Ok(n)
}
