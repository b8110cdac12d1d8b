//! Visits written back to the CRM as activities: queued in `crm_activity_outbox` in the
//! transaction that records the visit ([`VisitWriteBack`] is the hook `dayplan::visits::log`
//! runs), counted and retried for the outbox page. The calls are in `activity_worker`.

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
