//! CRM owner write-back: publishing a plan queues owner changes in `crm_outbox` (in the
//! publisher's transaction); the worker reads the CRM's current owners, marks a conflict
//! instead of overwriting one that changed since the plan was computed, writes the rest in the
//! vendor's batches, retries idempotently and audits every outcome.
//!
//! Idempotency comes from the read before each write: a record whose CRM owner already is the
//! new one is done without a call, so a write that timed out after the CRM applied it is not
//! sent twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::api::ApiError;
use super::api::hubspot::{self as hubspot_api, HUBSPOT_API_BASE};
use super::api::salesforce as salesforce_api;
use super::clients::{ApiSession, CrmClients, SessionError};
use super::connection::{self, Connection, CrmKind};
use super::inbox::backoff_s;
use crate::audit::{self, AuditEvent};

/// HubSpot's company owner property.
pub const HUBSPOT_OWNER_PROPERTY: &str = "hubspot_owner_id";
/// Salesforce's Account owner field.
pub const SALESFORCE_OWNER_FIELD: &str = "OwnerId";
/// Failed attempts (5xx, timeouts, per-record errors) before a change is marked `failed`.
pub const MAX_ATTEMPTS: i32 = 6;
/// How long a claimed batch is hidden from other workers while its calls run.
const LEASE: Duration = Duration::from_secs(300);
/// Longest `Retry-After` honoured as is; a longer one (a daily limit) waits this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Wait after a 429 without `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How the background loop waits when nothing is due.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

/// One account's owner to set in its CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerChange {
    pub account_id: Uuid,
    /// The account's `crm_source`: the connection's name.
    pub crm_source: String,
    pub crm_id: String,
    /// The CRM owner id the plan saw (`None`: no owner); a different one in the CRM is a
    /// conflict.
    pub expected_owner: Option<String>,
    pub new_owner: String,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnqueueSummary {
    /// Rows added to the outbox.
    pub queued: u64,
    /// Changes this plan had queued already (a repeated publish).
    pub already_queued: u64,
    /// Changes not queued, with their reasons counted below.
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Pending rows of earlier plans (of the same team, or for the same accounts) that will
    /// not be written now: this plan decides those accounts' owners.
    pub superseded: u64,
}

/// The `last_error` of rows an later plan superseded (they are `failed` and not retryable).
const SUPERSEDED: &str = "superseded";

/// Queues `changes` of `plan_id` in the caller's transaction, so publishing is atomic.
/// Idempotent on (plan, account). Accounts whose source has no connection (CSV imports), or a
/// connection without an API (Standard Webhooks), are skipped with the reason.
#[tracing::instrument(skip_all, fields(%plan_id, changes = changes.len()), err)]
pub async fn enqueue(
    tx: &mut PgConnection,
    plan_id: Uuid,
    changes: &[OwnerChange],
) -> Result<EnqueueSummary, sqlx::Error> {
    let mut summary = EnqueueSummary::default();
    let sources: Vec<&str> = {
        let mut s: Vec<&str> = changes.iter().map(|c| c.crm_source.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let connections: HashMap<String, (Uuid, CrmKind)> =
        sqlx::query_as::<_, (Uuid, String, CrmKind)>(
            "select id, name, kind from crm_connections where name = any($1)",
        )
        .bind(&sources)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, name, kind)| (name, (id, kind)))
        .collect();

    let mut conn_ids = Vec::new();
    let mut account_ids = Vec::new();
    let mut crm_ids = Vec::new();
    let mut expected = Vec::new();
    let mut new_owners = Vec::new();
    let mut keys = Vec::new();
    for c in changes {
        let skip = match connections.get(&c.crm_source) {
            None => Some(format!("no CRM connection named {}", c.crm_source)),
            Some((_, kind)) if !kind.has_api() => Some(format!(
                "connection {} has no API to write to",
                c.crm_source
            )),
            Some(_) if c.expected_owner.as_deref() == Some(c.new_owner.as_str()) => {
                Some("already the owner".to_owned())
            }
            Some((id, _)) => {
                conn_ids.push(*id);
                account_ids.push(c.account_id);
                crm_ids.push(c.crm_id.as_str());
                expected.push(c.expected_owner.as_deref());
                new_owners.push(c.new_owner.as_str());
                keys.push(idempotency_key(plan_id, c.account_id));
                None
            }
        };
        if let Some(reason) = skip {
            summary.skipped += 1;
            *summary.skipped_by_reason.entry(reason).or_default() += 1;
        }
    }

    summary.superseded = sqlx::query(
        r"
        update crm_outbox o set status = 'failed', last_error = $3
        where o.status = 'pending' and o.plan_id is distinct from $1
          and (o.account_id = any($2)
               or o.plan_id in (select p.id from territory_plans p
                                where p.team_id = (select team_id from territory_plans
                                                   where id = $1)))
        ",
    )
    .bind(plan_id)
    .bind(&account_ids)
    .bind(format!(
        "{SUPERSEDED} by plan {plan_id} before it was written"
    ))
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let inserted: i64 = sqlx::query_scalar(
        r"
        with ins as (
            insert into crm_outbox (connection_id, account_id, crm_id, expected_owner, new_owner,
                                    plan_id, idempotency_key)
            select c.connection_id, c.account_id, c.crm_id, c.expected_owner, c.new_owner, $6,
                   c.idempotency_key
            from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $7::text[])
                 as c(connection_id, account_id, crm_id, expected_owner, new_owner,
                      idempotency_key)
            on conflict on constraint crm_outbox_idempotency_key do nothing
            returning 1
        )
        select count(*) from ins
        ",
    )
    .bind(&conn_ids)
    .bind(&account_ids)
    .bind(&crm_ids)
    .bind(&expected)
    .bind(&new_owners)
    .bind(plan_id)
    .bind(&keys)
    .fetch_one(&mut *tx)
    .await?;
    summary.queued = u64::try_from(inserted).unwrap_or(0);
    summary.already_queued = (keys.len() as u64).saturating_sub(summary.queued);
    Ok(summary)
}

fn idempotency_key(plan_id: Uuid, account_id: Uuid) -> String {
    format!("plan:{plan_id}:account:{account_id}")
}

// ---------------------------------------------------------------------------------------------
// Dry run

/// One HTTP call the worker would make.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedCall {
    pub connection: String,
    /// `read_owners` (the conflict check before each write) or `write_owners`.
    #[schema(value_type = String)]
    pub purpose: &'static str,
    #[schema(value_type = String)]
    pub method: &'static str,
    pub url: String,
    /// The JSON body; `None` for a GET.
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// Records in the call.
    pub records: usize,
    /// What the dry run could not know exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The exact calls the worker would make for `changes` (reads for the conflict check, then
/// writes), batched as it batches (HubSpot 100, Salesforce 200 records a call), without
/// sending anything. Writes assume no conflict; changes that would be skipped make no call.
pub async fn preview(
    pool: &PgPool,
    clients: &CrmClients,
    changes: &[OwnerChange],
) -> Result<Vec<PlannedCall>, sqlx::Error> {
    let mut by_source: BTreeMap<&str, Vec<&OwnerChange>> = BTreeMap::new();
    for c in changes {
        if c.expected_owner.as_deref() != Some(c.new_owner.as_str()) {
            by_source.entry(c.crm_source.as_str()).or_default().push(c);
        }
    }
    let mut calls = Vec::new();
    for (source, list) in by_source {
        let Some(conn) = connection::by_name(pool, source).await? else {
            continue;
        };
        let mut seen = HashSet::new();
        let list: Vec<&OwnerChange> = list
            .into_iter()
            .filter(|c| seen.insert(c.crm_id.as_str()))
            .collect();
        match conn.kind {
            CrmKind::Standard => {}
            CrmKind::HubSpot => {
                // The worker refuses a connection without a base URL; say so here too.
                let base = conn.api_base_url.as_deref().unwrap_or(HUBSPOT_API_BASE);
                let note = conn.api_base_url.is_none().then(|| {
                    "the connection has no API base URL: the worker will fail until it is set"
                        .to_owned()
                });
                for chunk in list.chunks(batch_size(CrmKind::HubSpot)) {
                    let ids: Vec<String> = chunk.iter().map(|c| c.crm_id.clone()).collect();
                    let (url, body) =
                        hubspot_api::batch_read_request(base, &[HUBSPOT_OWNER_PROPERTY], &ids);
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "read_owners",
                        method: "POST",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                    let (url, body) = hubspot_api::batch_update_request(
                        base,
                        &hubspot_inputs(chunk.iter().copied()),
                    );
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "write_owners",
                        method: "POST",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                }
            }
            CrmKind::Salesforce => {
                let (instance, note) = match clients.known_instance_url(&conn).await {
                    Some(url) => (url, None),
                    None => (
                        conn.api_base_url.clone().unwrap_or_default(),
                        Some(
                            "Salesforce names the instance URL with the first token; shown with the login URL"
                                .to_owned(),
                        ),
                    ),
                };
                for chunk in list.chunks(batch_size(CrmKind::Salesforce)) {
                    let ids: Vec<&str> = chunk.iter().map(|c| c.crm_id.as_str()).collect();
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "read_owners",
                        method: "GET",
                        url: salesforce_api::query_request(&instance, &owner_soql(&ids)),
                        body: None,
                        records: chunk.len(),
                        note: note.clone(),
                    });
                    let updates: Vec<(String, String)> = chunk
                        .iter()
                        .map(|c| (c.crm_id.clone(), c.new_owner.clone()))
                        .collect();
                    let (url, body) =
                        salesforce_api::update_owners_request(&instance, &updates, false);
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "write_owners",
                        method: "PATCH",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                }
            }
        }
    }
    Ok(calls)
}

/// Records per read and write call.
fn batch_size(kind: CrmKind) -> usize {
    match kind {
        CrmKind::Salesforce => salesforce_api::MAX_COLLECTION,
        CrmKind::HubSpot | CrmKind::Standard => hubspot_api::MAX_BATCH,
    }
}

/// Anything that names a record and its new owner.
trait Target {
    fn crm_id(&self) -> &str;
    fn new_owner(&self) -> &str;
}

impl Target for &OwnerChange {
    fn crm_id(&self) -> &str {
        &self.crm_id
    }
    fn new_owner(&self) -> &str {
        &self.new_owner
    }
}

impl Target for &Claimed {
    fn crm_id(&self) -> &str {
        &self.crm_id
    }
    fn new_owner(&self) -> &str {
        &self.new_owner
    }
}

fn hubspot_inputs<T: Target>(
    rows: impl Iterator<Item = T>,
) -> Vec<(String, BTreeMap<String, String>)> {
    rows.map(|r| {
        (
            r.crm_id().to_owned(),
            BTreeMap::from([(HUBSPOT_OWNER_PROPERTY.to_owned(), r.new_owner().to_owned())]),
        )
    })
    .collect()
}

/// Salesforce record ids: 15 or 18 letters and digits (so they need no escaping in SOQL).
fn is_salesforce_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The current owners of `ids` (all valid Salesforce ids).
fn owner_soql(ids: &[&str]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    format!(
        "SELECT Id, {SALESFORCE_OWNER_FIELD} FROM Account WHERE Id IN ({})",
        list.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Worker

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
enum Verdict {
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
fn verdict_for_call(e: &ApiError) -> Verdict {
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

/// The conflict text kept in `last_error`; [`conflict_owner`] reads the CRM owner back.
fn conflict_text(crm_owner: Option<&str>, expected: Option<&str>) -> String {
    format!(
        "CRM owner is {}, expected {}",
        crm_owner.unwrap_or(NO_OWNER),
        expected.unwrap_or(NO_OWNER)
    )
}

const NO_OWNER: &str = "none";

/// The CRM owner a conflict saw (`Some(None)`: no owner), from its `last_error`.
fn conflict_owner(last_error: &str) -> Option<Option<String>> {
    let rest = last_error.strip_prefix("CRM owner is ")?;
    let (owner, _) = rest.rsplit_once(", expected ")?;
    Some((owner != NO_OWNER).then(|| owner.to_owned()))
}

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
    db: PgPool,
    clients: Arc<CrmClients>,
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

    /// Polls until `shutdown` says stop; a batch in hand is finished first.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        crate::db::poll::run_batches(
            "CRM write-back",
            IDLE_POLL,
            Default::default(),
            shutdown,
            || async { self.run_once().await.map(|r| r.claimed) },
        )
        .await;
    }

    /// Leases the due rows of the connection whose oldest row is due first. Rows naming a
    /// record twice go back to the queue (a vendor refuses a batch with duplicate ids).
    async fn claim(&self) -> Result<Option<(Connection, Vec<Claimed>, Vec<i64>)>, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let head: Option<(Uuid, CrmKind)> = sqlx::query_as(
            r"
            select o.connection_id, c.kind
            from crm_outbox o join crm_connections c on c.id = o.connection_id
            where o.status = 'pending' and o.next_attempt_at <= now()
              and c.enabled and c.kind <> 'standard'
            order by o.next_attempt_at, o.id
            limit 1
            for update of o skip locked
            ",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((connection_id, kind)) = head else {
            return Ok(None);
        };
        let mut rows: Vec<Claimed> = sqlx::query_as(
            r"
            update crm_outbox set next_attempt_at = now() + make_interval(secs => $3)
            where id in (select id from crm_outbox
                         where connection_id = $1 and status = 'pending'
                           and next_attempt_at <= now()
                         order by id
                         limit $2
                         for update skip locked)
            returning id, account_id, crm_id, expected_owner, new_owner, plan_id, attempts
            ",
        )
        .bind(connection_id)
        .bind(i64::try_from(batch_size(kind)).unwrap_or(100))
        .bind(LEASE.as_secs_f64())
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
            sqlx::query("update crm_outbox set next_attempt_at = now() where id = any($1)")
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
                    sqlx::query(
                        "update crm_outbox set status = 'done', done_at = now(), attempts = $2,
                                last_error = null
                         where id = $1",
                    )
                    .bind(row.id)
                    .bind(attempts)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(account) = row.account_id {
                        sqlx::query("update accounts set crm_owner_id = $2 where id = $1")
                            .bind(account)
                            .bind(&row.new_owner)
                            .execute(&mut *tx)
                            .await?;
                    }
                    ("crm.owner_written", json!({"already_set": already}))
                }
                Verdict::Conflict { crm_owner } => {
                    out.conflicts += 1;
                    let text = conflict_text(crm_owner.as_deref(), row.expected_owner.as_deref());
                    set_final(&mut tx, row.id, "conflict", attempts, &text).await?;
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
                    sqlx::query(
                        "update crm_outbox set attempts = $2, last_error = $3,
                                next_attempt_at = now() + make_interval(secs => $4)
                         where id = $1",
                    )
                    .bind(row.id)
                    .bind(attempts)
                    .bind(reason)
                    .bind(backoff_s(attempts) as f64)
                    .execute(&mut *tx)
                    .await?;
                    continue;
                }
                Verdict::Wait(wait) => {
                    out.rate_limited += 1;
                    sqlx::query(
                        "update crm_outbox set last_error = $2,
                                next_attempt_at = now() + make_interval(secs => $3)
                         where id = $1",
                    )
                    .bind(row.id)
                    .bind(format!(
                        "rate limited by the CRM; next try in {} s",
                        wait.as_secs()
                    ))
                    .bind(wait.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
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

async fn set_final(
    tx: &mut PgConnection,
    id: i64,
    status: &str,
    attempts: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update crm_outbox set status = $2::crm_outbox_status, attempts = $3, last_error = $4
         where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(attempts)
    .bind(reason)
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

// ---------------------------------------------------------------------------------------------
// The outbox page

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
}

impl OutboxRow {
    /// Whether [`retry`] takes it: failed (not superseded) or in conflict.
    pub fn retryable(&self) -> bool {
        match self.status {
            OutboxStatus::Conflict => true,
            OutboxStatus::Failed => !is_superseded(self.last_error.as_deref()),
            OutboxStatus::Pending | OutboxStatus::Done => false,
        }
    }
}

fn is_superseded(last_error: Option<&str>) -> bool {
    last_error.is_some_and(|e| e.starts_with(SUPERSEDED))
}

/// The newest rows first.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &OutboxFilter,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        r"
        select o.id, c.name as connection, o.plan_id, p.name as plan_name, o.account_id,
               a.name as account_name, o.crm_id, o.expected_owner, o.new_owner, o.status,
               o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.done_at
        from crm_outbox o
        join crm_connections c on c.id = o.connection_id
        left join territory_plans p on p.id = o.plan_id
        left join accounts a on a.id = o.account_id
        where ($1::uuid is null or o.plan_id = $1)
          and ($2::crm_outbox_status is null or o.status = $2)
          and ($3::uuid is null or exists (select 1 from teams t
                                           where t.id = p.team_id and t.manager_user_id = $3))
        order by o.id desc
        limit $4
        ",
    )
    .bind(filter.plan_id)
    .bind(filter.status)
    .bind(filter.scope.manager())
    .bind(limit)
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
    sqlx::query_as(
        r"
        select count(*) filter (where o.status = 'pending') as pending,
               count(*) filter (where o.status = 'done') as done,
               count(*) filter (where o.status = 'conflict') as conflict,
               count(*) filter (where o.status = 'failed') as failed
        from crm_outbox o
        left join territory_plans p on p.id = o.plan_id
        where $1::uuid is null or exists (select 1 from teams t
                                          where t.id = p.team_id and t.manager_user_id = $1)
        ",
    )
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

/// What [`retry`] reads: status, last error, expected owner, account.
type RetryRow = (OutboxStatus, Option<String>, Option<String>, Option<Uuid>);

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
    let row: Option<RetryRow> = sqlx::query_as(
        r"
            select o.status, o.last_error, o.expected_owner, o.account_id
            from crm_outbox o left join territory_plans p on p.id = o.plan_id
            where o.id = $1
              and ($2::uuid is null or exists (select 1 from teams t
                                               where t.id = p.team_id and t.manager_user_id = $2))
            for update of o
            ",
    )
    .bind(id)
    .bind(scope.manager())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, last_error, expected, account_id)) = row else {
        return Ok(None);
    };
    let retried = match status {
        OutboxStatus::Failed if !is_superseded(last_error.as_deref()) => Retried::Retry,
        OutboxStatus::Conflict => Retried::Overwrite {
            expected_owner: last_error
                .as_deref()
                .and_then(conflict_owner)
                .unwrap_or(expected),
        },
        _ => return Ok(None),
    };
    let new_expected = match &retried {
        Retried::Overwrite { expected_owner } => Some(expected_owner.clone()),
        Retried::Retry => None,
    };
    sqlx::query(
        r"
        update crm_outbox set status = 'pending', attempts = 0, next_attempt_at = now(),
               last_error = null, done_at = null,
               expected_owner = case when $2 then $3 else expected_owner end
        where id = $1
        ",
    )
    .bind(id)
    .bind(new_expected.is_some())
    .bind(new_expected.flatten())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: actor,
            action: "crm.owner_writeback_retried",
            subject_type: Some("account"),
            subject_id: account_id.map(|a| a.to_string()),
            details: json!({"outbox_id": id, "retried": retried}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(retried))
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
    fn conflict_texts_name_the_owners_and_read_back() {
        let text = conflict_text(Some("owner-7"), Some("owner-2"));
        assert_eq!(text, "CRM owner is owner-7, expected owner-2");
        assert_eq!(conflict_owner(&text), Some(Some("owner-7".into())));
        let none = conflict_text(None, Some("owner-2"));
        assert_eq!(conflict_owner(&none), Some(None));
        assert_eq!(conflict_owner("the CRM failed with HTTP 500"), None);
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

    #[test]
    fn owner_soql_lists_the_ids() {
        assert!(is_salesforce_id("001Dm0000000001IAA"));
        assert!(!is_salesforce_id("001' OR Name != '"));
        assert_eq!(
            owner_soql(&["001Dm0000000001IAA", "001Dm0000000002IAA"]),
            "SELECT Id, OwnerId FROM Account WHERE Id IN ('001Dm0000000001IAA', '001Dm0000000002IAA')"
        );
    }

    #[test]
    fn outbox_statuses_parse() {
        for s in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OutboxStatus::parse("dead"), None);
    }
}
