//! The append-only audit log: who did what to which record, and when (enforced append-only in the database).

use crate::db::Bind;
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One thing that happened, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub actor_user_id: Option<Uuid>,
    /// Dotted verb, e.g. `auth.sign_in`, `auth.sign_out`, `user.role_changed`.
    pub action: &'a str,
    pub subject_type: Option<&'a str>,
    pub subject_id: Option<String>,
    /// Extra facts; never addresses, coordinates or tokens.
    pub details: serde_json::Value,
}

impl<'a> AuditEvent<'a> {
    /// `action` done by `actor_user_id` (`None`: the system), about no record, with no details.
    pub fn new(actor_user_id: Option<Uuid>, action: &'a str) -> Self {
        Self {
            actor_user_id,
            action,
            subject_type: None,
            subject_id: None,
            details: serde_json::json!({}),
        }
    }

    /// About the `subject_type` record `subject_id`.
    #[must_use]
    pub fn about(self, subject_type: &'a str, subject_id: String) -> Self {
        Self {
            subject_type: Some(subject_type),
            subject_id: Some(subject_id),
            ..self
        }
    }

    /// With these extra facts.
    #[must_use]
    pub fn with(self, details: serde_json::Value) -> Self {
        Self { details, ..self }
    }
}

/// A stored entry, for the admin page.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    pub details: serde_json::Value,
}

/// Appends an event. Call it inside the transaction that made the change, so both or neither land.
pub async fn record(db: impl PgExecutor<'_>, event: AuditEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (actor_user_id, action, subject_type, subject_id, details)
         values ($1, $2, $3, $4, $5)",
    )
    .bind_all((
        event.actor_user_id,
        event.action,
        event.subject_type,
        event.subject_id,
        event.details,
    ))
    .execute(db)
    .await
    .map(|_| ())
}

/// Appends `event` in `tx` and commits it: the change and its audit row land together.
pub async fn commit_with(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    record(&mut *tx, event).await?;
    tx.commit().await
}

/// The newest entries first.
pub async fn recent(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as::<_, AuditEntry>(
        "select a.id, a.at, a.actor_user_id, u.email as actor_email, a.action, a.subject_type,
                a.subject_id, a.details
         from audit_log a left join users u on u.id = a.actor_user_id
         order by a.id desc
         limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}
