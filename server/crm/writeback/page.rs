//! What the outbox page reads and does: rows, totals, and "retry" / "overwrite anyway".

use crate::db::Bind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, AuditEvent};

/// An outbox row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "crm_outbox_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Pending,
    Done,
    Conflict,
    Failed,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 4] = [Self::Pending, Self::Done, Self::Conflict, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Conflict => "conflict",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Whose rows a caller may see and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxScope {
    All,
    /// Rows of plans of the teams this user manages.
    ManagedBy(Uuid),
}

impl OutboxScope {
    fn manager(self) -> Option<Uuid> {
        match self {
            Self::All => None,
            Self::ManagedBy(id) => Some(id),
        }
    }
}

/// What the outbox page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxFilter {
    pub plan_id: Option<Uuid>,
    pub status: Option<OutboxStatus>,
    pub scope: OutboxScope,
}

/// One row as the outbox page shows it: ids, owner ids and the account's name.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub connection: String,
    pub plan_id: Option<Uuid>,
    pub plan_name: Option<String>,
    pub account_id: Option<Uuid>,
    pub account_name: Option<String>,
    pub crm_id: String,
    pub expected_owner: Option<String>,
    pub new_owner: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    /// A later plan decided this account's owner first: failed for good, not retryable.
    #[serde(skip)]
    pub superseded: bool,
}

impl OutboxRow {
    /// Whether [`retry`] takes it: failed (not superseded) or in conflict.
    pub fn retryable(&self) -> bool {
        match self.status {
            OutboxStatus::Conflict => true,
            OutboxStatus::Failed => !self.superseded,
            OutboxStatus::Pending | OutboxStatus::Done => false,
        }
    }
}

/// The newest rows first.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &OutboxFilter,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(include_str!("../sql/outbox_list.sql"))
        .bind_all((filter.plan_id, filter.status, filter.scope.manager(), limit))
        .fetch_all(db)
        .await
}

/// Rows per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct OutboxStats {
    pub pending: i64,
    pub done: i64,
    pub conflict: i64,
    pub failed: i64,
}

/// Rows per status among those `scope` may see (a manager counts their teams' plans only, as
/// [`list`] shows them).
pub async fn stats(
    db: impl PgExecutor<'_>,
    scope: OutboxScope,
) -> Result<OutboxStats, sqlx::Error> {
    sqlx::query_as(include_str!("../sql/outbox_stats.sql"))
        .bind(scope.manager())
        .fetch_one(db)
        .await
}

/// What [`retry`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Retried {
    /// A failed change is pending again with fresh attempts.
    Retry,
    /// A conflict is pending again, now expecting the owner the CRM had ("overwrite anyway").
    Overwrite { expected_owner: Option<String> },
}

/// What [`retry`] reads: status, superseded, the owner a conflict saw, expected owner, account.
type RetryRow = (
    OutboxStatus,
    bool,
    Option<String>,
    Option<String>,
    Option<Uuid>,
);

/// Puts a failed or conflicting row back in the queue, audited; `None` when there is no such
/// row in `scope` or it is pending, done or superseded. For a conflict this means "overwrite
/// anyway": the owner the CRM had becomes the expected one.
pub async fn retry(
    pool: &PgPool,
    id: i64,
    actor: Option<Uuid>,
    scope: OutboxScope,
) -> Result<Option<Retried>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<RetryRow> = sqlx::query_as(include_str!("../sql/outbox_retry_lock.sql"))
        .bind_all((id, scope.manager()))
        .fetch_optional(&mut *tx)
        .await?;
    let Some((status, superseded, conflict_crm_owner, _expected, account_id)) = row else {
        return Ok(None);
    };
    let retried = match status {
        OutboxStatus::Failed if !superseded => Retried::Retry,
        OutboxStatus::Conflict => Retried::Overwrite {
            expected_owner: conflict_crm_owner,
        },
        _ => return Ok(None),
    };
    let new_expected = match &retried {
        Retried::Overwrite { expected_owner } => Some(expected_owner.clone()),
        Retried::Retry => None,
    };
    sqlx::query(include_str!("../sql/outbox_retry.sql"))
        .bind_all((id, new_expected.is_some(), new_expected.flatten()))
        .execute(&mut *tx)
        .await?;
    audit::commit_with(
        tx,
        AuditEvent {
            actor_user_id: actor,
            action: "crm.owner_writeback_retried",
            subject_type: Some("account"),
            subject_id: account_id.map(|a| a.to_string()),
            details: json!({"outbox_id": id, "retried": retried}),
        },
    )
    .await?;
    Ok(Some(retried))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_statuses_parse() {
        for s in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OutboxStatus::parse("dead"), None);
    }
}
