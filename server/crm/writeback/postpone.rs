//! How both write-back queues (`crm_outbox` for owners, `crm_activity_outbox` for visits)
//! put a claimed row back for later: after a backoff that counts the attempt, or after the
//! CRM's rate-limit wait, which does not.

use std::time::Duration;

use sqlx::PgConnection;

use crate::crm::inbox::backoff_s;
use crate::db::Bind;

/// One queue's two statements; each takes the row id first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Postpone {
    /// `(id, attempts, reason, seconds)`.
    retry_sql: &'static str,
    /// `(id, reason, seconds)`.
    wait_sql: &'static str,
}

pub(super) const OWNERS: Postpone = Postpone {
    retry_sql: include_str!("../sql/writeback_retry_later.sql"),
    wait_sql: include_str!("../sql/writeback_wait.sql"),
};

pub(super) const ACTIVITIES: Postpone = Postpone {
    retry_sql: include_str!("../sql/activity_retry_later.sql"),
    wait_sql: include_str!("../sql/activity_wait.sql"),
};

impl Postpone {
    /// Tries the row again after the backoff for `attempts`, keeping `reason`.
    pub(super) async fn retry(
        self,
        tx: &mut PgConnection,
        id: i64,
        attempts: i32,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(self.retry_sql)
            .bind_all((id, attempts, reason, backoff_s(attempts) as f64))
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Waits out the CRM's rate limit without counting an attempt.
    pub(super) async fn wait(
        self,
        tx: &mut PgConnection,
        id: i64,
        wait: Duration,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(self.wait_sql)
            .bind_all((
                id,
                format!("rate limited by the CRM; next try in {} s", wait.as_secs()),
                wait.as_secs_f64(),
            ))
            .execute(tx)
            .await?;
        Ok(())
    }
}
