//! The write-back worker: claims due rows per connection, reads the CRM's current owners,
//! writes the rest in the vendor's batches and records each outcome with its audit row.

use crate::db::Bind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::calls::{Target, batch_size, hubspot_inputs, is_salesforce_id, owner_soql};
use super::page::{OutboxScope, stats};
use super::postpone;
use super::{
    DEFAULT_RETRY_AFTER, HUBSPOT_OWNER_PROPERTY, IDLE_POLL, LEASE, MAX_ATTEMPTS, MAX_RETRY_AFTER,
    SALESFORCE_OWNER_FIELD,
};
use crate::accounts::crm as account_crm;
use crate::audit::{self, AuditEvent};
use crate::crm::api::ApiError;
use crate::crm::clients::{ApiSession, CrmClients, SessionError};
use crate::crm::connection::{self, Connection, CrmKind};

/// One claimed outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Claimed {
    id: i64,
    account_id: Option<Uuid>,
    crm_id: String,
    expected_owner: Option<String>,
    new_owner: String,
    plan_id: Option<Uuid>,
    attempts: i32,
}

impl Target for &Claimed {
    fn crm_id(&self) -> &str {
        &self.crm_id
    }
    fn new_owner(&self) -> &str {
        &self.new_owner
    }
}

/// What one batch did, for tests, logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// The connection of the batch (`None` when nothing was due).
    pub connection: Option<String>,
    pub claimed: usize,
    /// Written by this batch's call.
    pub written: usize,
    /// Already the new owner in the CRM: done without writing (e.g. a retry after a write
    /// that timed out but was applied).
    pub already_set: usize,
    pub conflicts: usize,
    /// Marked `failed` (for good, until someone retries them).
    pub failed: usize,
    /// To be tried again after a backoff.
    pub retried: usize,
    /// Waiting for the CRM's `Retry-After` (not counted as failed attempts).
    pub rate_limited: usize,
}

impl BatchOutcome {
    fn add(&mut self, other: &Self) {
        self.claimed += other.claimed;
        self.written += other.written;
        self.already_set += other.already_set;
        self.conflicts += other.conflicts;
        self.failed += other.failed;
        self.retried += other.retried;
        self.rate_limited += other.rate_limited;
    }
}

/// What happens to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Written {
        already: bool,
    },
    Conflict {
        crm_owner: Option<String>,
    },
    /// Try again after a backoff (failed for good once out of attempts).
    Retry(String),
    /// Failed for good (until retried by hand).
    Failed(String),
    /// Rate limited: wait, without counting an attempt.
    Wait(Duration),
}

/// What the CRM holds for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Owner(Option<String>),
    Missing,
    Error(String),
}

/// The verdict for every row of a batch when a whole call failed.
pub(super) fn verdict_for_call(e: &ApiError) -> Verdict {
    match e {
        ApiError::RateLimited { retry_after, .. } => Verdict::Wait(
            retry_after
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(MAX_RETRY_AFTER),
        ),
        ApiError::Unauthorized => Verdict::Failed(
            "the CRM refused our credentials, also after a token refresh; reconnect the connection, then retry"
                .to_owned(),
        ),
        e if e.is_retryable() => Verdict::Retry(e.to_string()),
        e => Verdict::Failed(e.to_string()),
    }
}

/// The conflict text kept in `last_error` for people; the owner itself is a column.
fn conflict_text(crm_owner: Option<&str>, expected: Option<&str>) -> String {
    format!(
        "CRM owner is {}, expected {}",
        crm_owner.unwrap_or(NO_OWNER),
        expected.unwrap_or(NO_OWNER)
    )
}

const NO_OWNER: &str = "none";

/// Decides a row from what the CRM holds; `None` means "write it".
fn decide(row: &Claimed, seen: &Seen) -> Option<Verdict> {
    match seen {
        Seen::Missing => Some(Verdict::Failed(format!(
            "record {} is missing, deleted or merged in the CRM",
            row.crm_id
        ))),
        Seen::Error(reason) => Some(Verdict::Retry(reason.clone())),
        Seen::Owner(current) if current.as_deref() == Some(row.new_owner.as_str()) => {
            Some(Verdict::Written { already: true })
        }
        Seen::Owner(current) if *current != row.expected_owner => Some(Verdict::Conflict {
            crm_owner: current.clone(),
        }),
        Seen::Owner(_) => None,
    }
}

/// Drains the outbox: one connection's due rows per batch, up to the vendor's batch size.
#[derive(Clone)]
pub struct WritebackWorker {
    pub(super) db: PgPool,
    pub(super) clients: Arc<CrmClients>,
}

impl WritebackWorker {
    pub fn new(db: PgPool, clients: Arc<CrmClients>) -> Self {
        Self { db, clients }
    }

    /// Claims one batch (due pending rows of one enabled connection with an API, taken with
    /// `for update skip locked` and leased for 5 minutes), reads the CRM's owners, writes what
    /// has no conflict and records every outcome. `claimed == 0` when nothing is due.
    #[tracing::instrument(skip_all, err)]
    pub async fn run_once(&self) -> Result<BatchOutcome, sqlx::Error> {
        let Some((conn, rows, postponed)) = self.claim().await? else {
            return Ok(BatchOutcome::default());
        };
        let verdicts = self.process(&conn, &rows).await;
        let outcome = self.record(&conn, &rows, &verdicts, &postponed).await?;
        tracing::info!(
            connection = %conn.name,
            claimed = outcome.claimed,
            written = outcome.written,
            already_set = outcome.already_set,
            conflicts = outcome.conflicts,
            failed = outcome.failed,
            retried = outcome.retried,
            rate_limited = outcome.rate_limited,
            "CRM owner write-back batch"
        );
        for (label, n) in [
            ("written", outcome.written),
            ("already_set", outcome.already_set),
            ("conflict", outcome.conflicts),
            ("failed", outcome.failed),
            ("retried", outcome.retried),
            ("rate_limited", outcome.rate_limited),
        ] {
            metrics::counter!("terrane_crm_owner_writeback_total", "outcome" => label)
                .increment(n as u64);
        }
        if let Ok(s) = stats(&self.db, OutboxScope::All).await {
            metrics::gauge!("terrane_crm_owner_writeback_pending").set(s.pending as f64);
        }
        Ok(outcome)
    }

    /// Runs batches until none is due. Tests call this instead of sleeping.
    pub async fn drain(&self) -> Result<BatchOutcome, sqlx::Error> {
        let mut total = BatchOutcome::default();
        loop {
            let r = self.run_once().await?;
            if r.claimed == 0 {
                return Ok(total);
            }
            total.add(&r);
        }
    }

    /// Polls until `shutdown` says stop; a batch in hand is finished first. Each round runs
    /// one batch of owner changes and one of visit activities.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        crate::db::poll::run_batches(
            "CRM write-back",
            IDLE_POLL,
            Arc::default(),
            shutdown,
            || async {
                let owners = self.run_once().await?.claimed;
                let activities = self.run_activities_once().await?.claimed;
                Ok::<usize, sqlx::Error>(owners + activities)
            },
        )
        .await;
    }

    /// Leases the due rows of the connection whose oldest row is due first. Rows naming a
    /// record twice go back to the queue (a vendor refuses a batch with duplicate ids).
    async fn claim(&self) -> Result<Option<(Connection, Vec<Claimed>, Vec<i64>)>, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let head: Option<(Uuid, CrmKind)> =
            sqlx::query_as(include_str!("../sql/writeback_claim_connection.sql"))
                .fetch_optional(&mut *tx)
                .await?;
        let Some((connection_id, kind)) = head else {
            return Ok(None);
        };
        let mut rows: Vec<Claimed> =
            sqlx::query_as(include_str!("../sql/writeback_claim_batch.sql"))
                .bind_all((
                    connection_id,
                    i64::try_from(batch_size(kind)).unwrap_or(100),
                    LEASE.as_secs_f64(),
                ))
                .fetch_all(&mut *tx)
                .await?;
        rows.sort_by_key(|r| r.id);
        let mut seen = HashSet::new();
        let (rows, again): (Vec<Claimed>, Vec<Claimed>) = rows
            .into_iter()
            .partition(|r| seen.insert(r.crm_id.clone()));
        let postponed: Vec<i64> = again.iter().map(|r| r.id).collect();
        let conn = connection::by_id(&mut *tx, connection_id).await?;
        tx.commit().await?;
        Ok(conn.map(|c| (c, rows, postponed)))
    }

    /// The CRM calls of one batch: read owners, then write those without a conflict.
    async fn process(&self, conn: &Connection, rows: &[Claimed]) -> Vec<Verdict> {
        let session = match self.clients.session(conn).await {
            Ok(s) => s,
            Err(SessionError::Setup(e)) => {
                return vec![Verdict::Failed(e.to_string()); rows.len()];
            }
            Err(SessionError::Api(e)) => return vec![verdict_for_call(&e); rows.len()],
        };
        let mut verdicts: Vec<Option<Verdict>> = vec![None; rows.len()];
        // Salesforce ids must be well-formed to go into SOQL.
        if matches!(session, ApiSession::Salesforce(..)) {
            for (v, row) in verdicts.iter_mut().zip(rows) {
                if !is_salesforce_id(&row.crm_id) {
                    *v = Some(Verdict::Failed(format!(
                        "{} is not a Salesforce record id",
                        row.crm_id
                    )));
                }
            }
        }
        let to_read: Vec<&Claimed> = rows
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.is_none())
            .map(|(r, _)| r)
            .collect();
        let read = read_owners(&session, &to_read).await;
        self.clients.save_session_tokens(conn, &session).await;
        match read {
            Err(e) => {
                let verdict = verdict_for_call(&e);
                for v in verdicts.iter_mut().filter(|v| v.is_none()) {
                    *v = Some(verdict.clone());
                }
            }
            Ok(seen) => {
                for (v, row) in verdicts.iter_mut().zip(rows) {
                    if v.is_none() {
                        let s = seen.get(&row.crm_id).cloned().unwrap_or(Seen::Missing);
                        *v = decide(row, &s);
                    }
                }
            }
        }
        let to_write: Vec<usize> = (0..rows.len()).filter(|&i| verdicts[i].is_none()).collect();
        if !to_write.is_empty() {
            let batch: Vec<&Claimed> = to_write.iter().map(|&i| &rows[i]).collect();
            let written = write_owners(&session, &batch).await;
            self.clients.save_session_tokens(conn, &session).await;
            match written {
                Err(e) => {
                    let verdict = verdict_for_call(&e);
                    for &i in &to_write {
                        verdicts[i] = Some(verdict.clone());
                    }
                }
                Ok(failures) => {
                    for &i in &to_write {
                        verdicts[i] = Some(match failures.get(&rows[i].crm_id) {
                            Some(reason) => Verdict::Retry(reason.clone()),
                            None => Verdict::Written { already: false },
                        });
                    }
                }
            }
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::Retry("not processed".to_owned())))
            .collect()
    }

    /// Stores every row's outcome, the accounts' new CRM owners and the audit entries in one
    /// transaction.
    async fn record(
        &self,
        conn: &Connection,
        rows: &[Claimed],
        verdicts: &[Verdict],
        postponed: &[i64],
    ) -> Result<BatchOutcome, sqlx::Error> {
        let mut out = BatchOutcome {
            connection: Some(conn.name.clone()),
            claimed: rows.len() + postponed.len(),
            ..BatchOutcome::default()
        };
        let mut tx = self.db.begin().await?;
        if !postponed.is_empty() {
            sqlx::query(include_str!("../sql/writeback_wake_postponed.sql"))
                .bind(postponed)
                .execute(&mut *tx)
                .await?;
        }
        for (row, verdict) in rows.iter().zip(verdicts) {
            let attempts = row.attempts + 1;
            let details = |extra: serde_json::Value| {
                let mut d = json!({
                    "outbox_id": row.id,
                    "connection": conn.name,
                    "crm_id": row.crm_id,
                    "from": row.expected_owner,
                    "to": row.new_owner,
                    "plan_id": row.plan_id,
                });
                if let (Some(d), serde_json::Value::Object(extra)) = (d.as_object_mut(), extra) {
                    d.extend(extra);
                }
                d
            };
            let (action, extra) = match verdict {
                Verdict::Written { already } => {
                    if *already {
                        out.already_set += 1;
                    } else {
                        out.written += 1;
                    }
                    sqlx::query(include_str!("../sql/writeback_mark_written.sql"))
                        .bind_all((row.id, attempts))
                        .execute(&mut *tx)
                        .await?;
                    if let Some(account) = row.account_id {
                        account_crm::set_crm_owner(&mut *tx, account, &row.new_owner).await?;
                    }
                    ("crm.owner_written", json!({"already_set": already}))
                }
                Verdict::Conflict { crm_owner } => {
                    out.conflicts += 1;
                    let text = conflict_text(crm_owner.as_deref(), row.expected_owner.as_deref());
                    set_final(&mut tx, row.id, "conflict", attempts, &text).await?;
                    set_conflict_owner(&mut tx, row.id, crm_owner.as_deref()).await?;
                    ("crm.owner_conflict", json!({"crm_owner": crm_owner}))
                }
                Verdict::Failed(reason) => {
                    out.failed += 1;
                    set_final(&mut tx, row.id, "failed", attempts, reason).await?;
                    ("crm.owner_failed", json!({"reason": reason}))
                }
                Verdict::Retry(reason) if attempts >= MAX_ATTEMPTS => {
                    out.failed += 1;
                    let reason = format!("{reason} (gave up after {attempts} attempts)");
                    set_final(&mut tx, row.id, "failed", attempts, &reason).await?;
                    ("crm.owner_failed", json!({"reason": reason}))
                }
                Verdict::Retry(reason) => {
                    out.retried += 1;
                    postpone::OWNERS
                        .retry(&mut tx, row.id, attempts, reason)
                        .await?;
                    continue;
                }
                Verdict::Wait(wait) => {
                    out.rate_limited += 1;
                    postpone::OWNERS.wait(&mut tx, row.id, *wait).await?;
                    continue;
                }
            };
            audit::record(
                &mut *tx,
                AuditEvent {
                    actor_user_id: None,
                    action,
                    subject_type: Some("account"),
                    subject_id: row.account_id.map(|a| a.to_string()),
                    details: details(extra),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// Keeps the owner the CRM had when a row went into conflict (`None`: no owner), so "overwrite
/// anyway" expects exactly that owner.
async fn set_conflict_owner(
    tx: &mut PgConnection,
    id: i64,
    crm_owner: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/writeback_set_conflict_owner.sql"))
        .bind_all((id, crm_owner))
        .execute(tx)
        .await?;
    Ok(())
}

async fn set_final(
    tx: &mut PgConnection,
    id: i64,
    status: &str,
    attempts: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/writeback_set_final.sql"))
        .bind_all((id, status, attempts, reason))
        .execute(tx)
        .await?;
    Ok(())
}

/// The CRM's current owner of each row's record, by `crm_id` (absent: not found).
async fn read_owners(
    session: &ApiSession,
    rows: &[&Claimed],
) -> Result<HashMap<String, Seen>, ApiError> {
    let mut out = HashMap::new();
    if rows.is_empty() {
        return Ok(out);
    }
    match session {
        ApiSession::HubSpot(api, cache) => {
            let ids: Vec<String> = rows.iter().map(|r| r.crm_id.clone()).collect();
            let ids = &ids;
            let read = cache
                .call(|token| async move {
                    api.batch_read_companies(&token, &[HUBSPOT_OWNER_PROPERTY], ids)
                        .await
                })
                .await?;
            for company in read.results {
                // A merged-away id answers with the survivor under another id: not ours.
                let owner = company
                    .properties
                    .get(HUBSPOT_OWNER_PROPERTY)
                    .cloned()
                    .flatten()
                    .filter(|o| !o.is_empty());
                out.insert(company.id, Seen::Owner(owner));
            }
            for error in read.failed {
                for id in error.ids {
                    out.insert(
                        id,
                        Seen::Error(format!(
                            "reading the owner failed: {}: {}",
                            error.category, error.message
                        )),
                    );
                }
            }
        }
        ApiSession::Salesforce(api, cache) => {
            let ids: Vec<&str> = rows.iter().map(|r| r.crm_id.as_str()).collect();
            let soql = owner_soql(&ids);
            let soql = &soql;
            let page = cache
                .call(|token| async move { api.query(&token, soql).await })
                .await?;
            // Salesforce answers with 18-character ids; ours may be the 15-character form.
            let by_prefix: HashMap<String, Option<String>> = page
                .records
                .into_iter()
                .filter_map(|fields| {
                    let id = fields.get("Id").cloned().flatten()?;
                    let owner = fields
                        .get(SALESFORCE_OWNER_FIELD)
                        .cloned()
                        .flatten()
                        .filter(|o| !o.is_empty());
                    Some((id.get(..15).unwrap_or(&id).to_owned(), owner))
                })
                .collect();
            for row in rows {
                let prefix = row.crm_id.get(..15).unwrap_or(&row.crm_id);
                if let Some(owner) = by_prefix.get(prefix) {
                    out.insert(row.crm_id.clone(), Seen::Owner(owner.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Writes the new owners in one call; per-record failures by `crm_id`.
async fn write_owners(
    session: &ApiSession,
    rows: &[&Claimed],
) -> Result<HashMap<String, String>, ApiError> {
    let mut failures = HashMap::new();
    match session {
        ApiSession::HubSpot(api, cache) => {
            let inputs = hubspot_inputs(rows.iter().copied());
            let inputs = &inputs;
            let done = cache
                .call(|token| async move { api.batch_update_companies(&token, inputs).await })
                .await?;
            for error in done.failed {
                for id in error.ids {
                    failures.insert(id, format!("{}: {}", error.category, error.message));
                }
            }
        }
        ApiSession::Salesforce(api, cache) => {
            let updates: Vec<(String, String)> = rows
                .iter()
                .map(|r| (r.crm_id.clone(), r.new_owner.clone()))
                .collect();
            let updates = &updates;
            let results = cache
                .call(|token| async move { api.update_owners(&token, updates, false).await })
                .await?;
            for (result, row) in results.iter().zip(rows) {
                if !result.success {
                    let reason = result
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.status_code, e.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    failures.insert(row.crm_id.clone(), reason);
                }
            }
            // Fewer results than records: the missing ones were not confirmed.
            for row in rows.iter().skip(results.len()) {
                failures.insert(row.crm_id.clone(), "no result for this record".to_owned());
            }
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(expected: Option<&str>, new: &str) -> Claimed {
        Claimed {
            id: 1,
            account_id: None,
            crm_id: "42".into(),
            expected_owner: expected.map(str::to_owned),
            new_owner: new.into(),
            plan_id: None,
            attempts: 0,
        }
    }

    #[test]
    fn the_crm_owner_decides_between_write_done_and_conflict() {
        let row = claimed(Some("owner-2"), "owner-5");
        let owner = |o: Option<&str>| Seen::Owner(o.map(str::to_owned));
        assert_eq!(
            decide(&row, &owner(Some("owner-2"))),
            None,
            "as planned: write"
        );
        assert_eq!(
            decide(&row, &owner(Some("owner-5"))),
            Some(Verdict::Written { already: true }),
            "already written (a retry after a timeout): nothing to send"
        );
        assert_eq!(
            decide(&row, &owner(Some("owner-7"))),
            Some(Verdict::Conflict {
                crm_owner: Some("owner-7".into())
            })
        );
        assert_eq!(
            decide(&row, &owner(None)),
            Some(Verdict::Conflict { crm_owner: None })
        );
        assert!(matches!(
            decide(&row, &Seen::Missing),
            Some(Verdict::Failed(_))
        ));
        let unowned = claimed(None, "owner-5");
        assert_eq!(decide(&unowned, &owner(None)), None);
    }

    #[test]
    fn conflict_texts_name_both_owners() {
        let text = conflict_text(Some("owner-7"), Some("owner-2"));
        assert_eq!(text, "CRM owner is owner-7, expected owner-2");
        let none = conflict_text(None, Some("owner-2"));
        assert_eq!(none, "CRM owner is none, expected owner-2");
    }

    #[test]
    fn whole_call_failures_map_to_wait_retry_or_fail() {
        let wait = verdict_for_call(&ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            policy: None,
        });
        assert_eq!(wait, Verdict::Wait(Duration::from_secs(30)));
        let daily = verdict_for_call(&ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(86_400)),
            policy: Some("DAILY".into()),
        });
        assert_eq!(daily, Verdict::Wait(MAX_RETRY_AFTER));
        assert!(matches!(
            verdict_for_call(&ApiError::Server(reqwest::StatusCode::BAD_GATEWAY)),
            Verdict::Retry(_)
        ));
        assert!(matches!(
            verdict_for_call(&ApiError::Unauthorized),
            Verdict::Failed(m) if m.contains("reconnect")
        ));
    }
}
