//! The inbox worker: claims due events with `for update skip locked`, maps each vendor's
//! payload to canonical changes, applies them and records the outcome in the same
//! transaction, so an event has exactly one effect however often it was delivered and however
//! many workers run.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

use super::apply::{self, ApplyError, ClockGuard, Outcome};
use super::canonical::{CanonicalAccount, Change, MappingError};
use super::connection::{self, Connection, CrmKind};
use super::inbox::{self, InboxRow};
use super::wire;
use super::wire::hubspot::{NoticeKind, ObjectKind};

/// Why reading records from a CRM's API failed; every such failure is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a read-back found, by record id: the record as the API returned it, or why it cannot
/// be mapped (that record's events fail alone, the others of the batch go on). Ids the API
/// did not return are absent.
pub type ReadBack = HashMap<String, Result<CanonicalAccount, String>>;

/// Reads records back from a connection's CRM API. Webhooks are notices, not truth: HubSpot
/// notices carry at most one property (creations none), and Salesforce Outbound Messages are
/// not signed, so whatever their bodies say, what is applied is what the API returns. Ids
/// the API does not return (deleted, merged away, never existed) are absent from the map.
pub trait RecordReader: Send + Sync {
    fn read_records<'a>(
        &'a self,
        connection: &'a Connection,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<ReadBack, FetchError>>;
}

/// What one batch did, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    /// Events whose changes touched accounts (created, updated, deleted, restored, merged).
    pub effects: usize,
    /// Events that changed nothing: stale, unchanged, superseded or not about accounts.
    pub no_effect: usize,
    pub retried: usize,
    pub dead: usize,
}

impl BatchReport {
    fn add(&mut self, other: Self) {
        self.claimed += other.claimed;
        self.effects += other.effects;
        self.no_effect += other.no_effect;
        self.retried += other.retried;
        self.dead += other.dead;
    }
}

/// What to do for one event.
enum Plan {
    /// Read `read` back from the CRM's API, then apply: each record found is upserted as the
    /// API returned it, each record the API does not have is deleted (so a deletion notice
    /// only deletes what the CRM confirms is gone); `changes` go around them (restores first,
    /// merges last).
    Apply {
        read: Vec<String>,
        changes: Vec<Change>,
    },
    /// Not about accounts (contacts, associations): recorded and skipped.
    Ignore,
    /// The payload cannot be mapped: parked at once.
    Invalid(MappingError),
}

fn plan(kind: CrmKind, payload: &serde_json::Value) -> Plan {
    let mapped = match kind {
        // Signed by the sender and without an API to ask: applied as sent (clock checked).
        CrmKind::Standard => wire::standard::decode(payload).map(|c| Plan::Apply {
            read: vec![],
            changes: vec![c],
        }),
        // Only the record's Id is taken from an Outbound Message.
        CrmKind::Salesforce => {
            wire::salesforce::notified_account_id(payload).map(|id| Plan::Apply {
                read: vec![id],
                changes: vec![],
            })
        }
        CrmKind::HubSpot => wire::hubspot::decode_notice(payload).map(|n| {
            if n.object != ObjectKind::Company {
                return Plan::Ignore;
            }
            let at = n.occurred_at;
            match n.kind {
                // A deletion is a read too: applied only when the company is gone.
                NoticeKind::Creation | NoticeKind::PropertyChange { .. } | NoticeKind::Deletion => {
                    Plan::Apply {
                        read: vec![n.object_id],
                        changes: vec![],
                    }
                }
                NoticeKind::Restore => Plan::Apply {
                    read: vec![n.object_id.clone()],
                    changes: vec![Change::Restore {
                        crm_id: n.object_id,
                        at,
                    }],
                },
                NoticeKind::Merge { primary, merged } => Plan::Apply {
                    read: vec![primary.clone()],
                    changes: vec![Change::Merge {
                        survivor: primary,
                        merged,
                        at,
                    }],
                },
                NoticeKind::Other(_) => Plan::Ignore,
            }
        }),
    };
    mapped.unwrap_or_else(Plan::Invalid)
}

/// Drains the inbox. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    db: PgPool,
    reader: Arc<dyn RecordReader>,
    guard: ClockGuard,
    batch_size: i64,
}

impl Worker {
    pub fn new(db: PgPool, reader: Arc<dyn RecordReader>, guard: ClockGuard) -> Self {
        Self {
            db,
            reader,
            guard,
            batch_size: 200,
        }
    }

    pub fn with_batch_size(mut self, n: i64) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Processes batches until none is due. Tests call this instead of sleeping.
    pub async fn drain(&self) -> Result<BatchReport, sqlx::Error> {
        let mut total = BatchReport::default();
        loop {
            let r = self.run_batch().await?;
            total.add(r);
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// One batch. Tries the whole batch in one transaction; if an event's change is refused,
    /// redoes the batch with a savepoint per event so one bad event cannot block the others.
    pub async fn run_batch(&self) -> Result<BatchReport, sqlx::Error> {
        match self.try_batch(false).await {
            Err(BatchError::NeedsCare) => match self.try_batch(true).await {
                Ok(r) => Ok(r),
                Err(BatchError::Db(e)) => Err(e),
                Err(BatchError::NeedsCare) => Ok(BatchReport::default()),
            },
            Err(BatchError::Db(e)) => Err(e),
            Ok(r) => Ok(r),
        }
    }

    async fn try_batch(&self, careful: bool) -> Result<BatchReport, BatchError> {
        let mut tx = self.db.begin().await?;
        let rows = inbox::claim(&mut *tx, self.batch_size).await?;
        let mut report = BatchReport {
            claimed: rows.len(),
            ..BatchReport::default()
        };
        if rows.is_empty() {
            return Ok(report);
        }
        let connections = load_connections(&mut tx, &rows).await?;

        // Decode everything, then read the records the batch needs back from each CRM, in one
        // go per connection.
        let plans: Vec<Plan> = rows
            .iter()
            .map(|r| match connections.get(&r.connection_id) {
                Some(c) => plan(c.kind, &r.payload),
                None => Plan::Invalid(MappingError::new("the connection no longer exists")),
            })
            .collect();
        let reads = self.read_all(&rows, &plans, &connections).await;
        // When the API said what it has: records it did not return are deleted as of then.
        let read_at = chrono::Utc::now();

        // What each event needs, before touching the database.
        let steps: Vec<Step> = rows
            .iter()
            .zip(&plans)
            .map(|(row, plan)| match plan {
                Plan::Ignore => Step::Done("ignored"),
                Plan::Invalid(e) => Step::Fail(e.to_string(), true),
                Plan::Apply { read, changes } => {
                    match resolve(read, changes, reads.get(&row.connection_id), read_at) {
                        Err(reason) => Step::Fail(reason, false),
                        Ok(changes) if changes.is_empty() => Step::Done("superseded"),
                        Ok(changes) => Step::Apply(changes),
                    }
                }
            })
            .collect();
        let results = if careful {
            apply_each(&mut tx, &rows, &steps, &connections, self.guard).await?
        } else {
            match apply_bulk(&mut tx, &rows, &steps, &connections, self.guard).await {
                Ok(r) => r,
                Err(e) => {
                    // Roll back now, not lazily when the pooled connection is next used: the
                    // careful retry must find these rows unlocked.
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        };

        let mut done_ids = Vec::with_capacity(rows.len());
        let mut done_outcomes = Vec::with_capacity(rows.len());
        for (row, result) in rows.iter().zip(results) {
            let conn_name = connections
                .get(&row.connection_id)
                .map_or("(deleted)", |c| c.name.as_str());
            match result {
                Ok(outcome) => {
                    if matches!(
                        outcome,
                        "created" | "updated" | "deleted" | "restored" | "merged"
                    ) {
                        report.effects += 1;
                    } else {
                        report.no_effect += 1;
                    }
                    done_ids.push(row.id);
                    done_outcomes.push(outcome);
                }
                Err((reason, permanent)) => {
                    let dead = permanent || row.attempts + 1 >= inbox::MAX_ATTEMPTS;
                    if dead {
                        report.dead += 1;
                        tracing::warn!(inbox_id = row.id, connection = %conn_name, reason = %reason, "CRM event parked as a dead letter");
                    } else {
                        report.retried += 1;
                        tracing::info!(inbox_id = row.id, connection = %conn_name, reason = %reason, "CRM event will be retried");
                    }
                    inbox::mark_failed(&mut *tx, row.id, row.attempts, &reason, permanent).await?;
                }
            }
        }
        inbox::mark_done(&mut *tx, &done_ids, &done_outcomes).await?;
        tx.commit().await?;

        let now = chrono::Utc::now();
        for row in &rows {
            let lag_s = (now - row.received_at).num_milliseconds() as f64 / 1000.0;
            metrics::histogram!("terrane_crm_inbox_lag_seconds").record(lag_s.max(0.0));
        }
        metrics::counter!("terrane_crm_events_total", "result" => "effect")
            .increment(report.effects as u64);
        metrics::counter!("terrane_crm_events_total", "result" => "no_effect")
            .increment(report.no_effect as u64);
        metrics::counter!("terrane_crm_events_total", "result" => "retried")
            .increment(report.retried as u64);
        metrics::counter!("terrane_crm_events_total", "result" => "dead")
            .increment(report.dead as u64);
        Ok(report)
    }

    /// Reads, per connection, every record the batch's plans name.
    async fn read_all(
        &self,
        rows: &[InboxRow],
        plans: &[Plan],
        connections: &HashMap<Uuid, Connection>,
    ) -> HashMap<Uuid, Result<ReadBack, String>> {
        let mut wanted: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for (row, plan) in rows.iter().zip(plans) {
            if let Plan::Apply { read, .. } = plan
                && !read.is_empty()
            {
                wanted
                    .entry(row.connection_id)
                    .or_default()
                    .extend(read.iter().cloned());
            }
        }
        let mut out = HashMap::new();
        for (conn_id, ids) in wanted {
            let Some(conn) = connections.get(&conn_id) else {
                continue;
            };
            let ids: Vec<String> = ids.into_iter().collect();
            let result = self
                .reader
                .read_records(conn, &ids)
                .await
                .map_err(|e| format!("reading records back from the CRM failed: {e}"));
            out.insert(conn_id, result);
        }
        out
    }
}

/// One event after decoding and reading back.
enum Step {
    /// Nothing to write; done with this outcome.
    Done(&'static str),
    /// Failed: the reason, and whether retrying is pointless.
    Fail(String, bool),
    Apply(Vec<Change>),
}

type EventResult = Result<&'static str, (String, bool)>;

fn settled(step: &Step) -> Option<EventResult> {
    match step {
        Step::Done(o) => Some(Ok(*o)),
        Step::Fail(reason, permanent) => Some(Err((reason.clone(), *permanent))),
        Step::Apply(_) => None,
    }
}

/// One savepoint per event: a refused event fails alone.
async fn apply_each(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[InboxRow],
    steps: &[Step],
    connections: &HashMap<Uuid, Connection>,
    guard: ClockGuard,
) -> Result<Vec<EventResult>, BatchError> {
    let mut out = Vec::with_capacity(rows.len());
    for (row, step) in rows.iter().zip(steps) {
        if let Some(r) = settled(step) {
            out.push(r);
            continue;
        }
        let (Step::Apply(changes), Some(conn)) = (step, connections.get(&row.connection_id)) else {
            out.push(Err(("the connection no longer exists".to_owned(), true)));
            continue;
        };
        let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
        match apply_all(&mut sp, &conn.name, changes, guard).await {
            Ok(o) => {
                sp.commit().await?;
                out.push(Ok(o));
            }
            Err(e) => {
                sp.rollback().await?;
                out.push(Err((e.to_string(), !e.is_retryable())));
            }
        }
    }
    Ok(out)
}

/// The fast path: events that are a single upsert are written with one statement per
/// connection, after keeping only the newest state per account (older states in the same batch
/// would lose to it anyway: last write wins); everything else is applied one by one. Last write
/// wins makes the order of the two irrelevant. Any refused value sends the batch to
/// [`apply_each`].
async fn apply_bulk(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[InboxRow],
    steps: &[Step],
    connections: &HashMap<Uuid, Connection>,
    guard: ClockGuard,
) -> Result<Vec<EventResult>, BatchError> {
    let mut out: Vec<Option<EventResult>> = steps.iter().map(settled).collect();
    // Per connection: crm_id -> (row index, account) of the newest upsert.
    let mut newest: HashMap<Uuid, HashMap<&str, (usize, &CanonicalAccount)>> = HashMap::new();
    for (i, (row, step)) in rows.iter().zip(steps).enumerate() {
        let Step::Apply(changes) = step else { continue };
        let [Change::Upsert(a)] = changes.as_slice() else {
            continue;
        };
        let slot = newest.entry(row.connection_id).or_default();
        match slot.get(a.crm_id.as_str()) {
            Some((_, b)) if b.modified_at > a.modified_at => {
                out[i] = Some(Ok("coalesced"));
            }
            Some((j, _)) => {
                out[*j] = Some(Ok("coalesced"));
                slot.insert(&a.crm_id, (i, a));
            }
            None => {
                slot.insert(&a.crm_id, (i, a));
            }
        }
    }
    for (conn_id, accounts) in &newest {
        let Some(conn) = connections.get(conn_id) else {
            continue;
        };
        let (idx, list): (Vec<usize>, Vec<&CanonicalAccount>) = accounts.values().copied().unzip();
        match apply::upsert_many(&mut *tx, &conn.name, &list, guard).await {
            Ok(outcomes) => {
                for (i, o) in idx.into_iter().zip(outcomes) {
                    out[i] = Some(Ok(o.as_str()));
                }
            }
            Err(ApplyError::Database(e)) if !is_data_error(&e) => return Err(BatchError::Db(e)),
            Err(_) => return Err(BatchError::NeedsCare),
        }
    }
    for (i, (row, step)) in rows.iter().zip(steps).enumerate() {
        if out[i].is_some() {
            continue;
        }
        let (Step::Apply(changes), Some(conn)) = (step, connections.get(&row.connection_id)) else {
            out[i] = Some(Err(("the connection no longer exists".to_owned(), true)));
            continue;
        };
        match apply_all(tx, &conn.name, changes, guard).await {
            Ok(o) => out[i] = Some(Ok(o)),
            Err(ApplyError::Database(e)) if !is_data_error(&e) => return Err(BatchError::Db(e)),
            Err(_) => return Err(BatchError::NeedsCare),
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(("not processed".to_owned(), false))))
        .collect())
}

enum BatchError {
    NeedsCare,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// Errors caused by one event's data rather than by the database being unavailable.
fn is_data_error(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")))
}

/// The changes of a plan once its reads are known: read records are upserted (after any
/// restore, so the refreshed state can undelete) and records the CRM no longer has are deleted
/// as of `read_at`; a merge comes last, once its survivor is written.
fn resolve(
    read: &[String],
    changes: &[Change],
    reads: Option<&Result<ReadBack, String>>,
    read_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Change>, String> {
    let mut from_api = Vec::with_capacity(read.len());
    if !read.is_empty() {
        let found = match reads {
            Some(Ok(found)) => found,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("the CRM could not be read".to_owned()),
        };
        for id in read {
            from_api.push(match found.get(id) {
                Some(Ok(a)) => Change::Upsert(a.clone()),
                Some(Err(reason)) => return Err(reason.clone()),
                None => Change::Delete {
                    crm_id: id.clone(),
                    at: read_at,
                },
            });
        }
    }
    let gone = from_api.iter().any(|c| matches!(c, Change::Delete { .. }));
    let mut ordered: Vec<Change> = Vec::with_capacity(from_api.len() + changes.len());
    // A restore the CRM does not confirm (the record is still gone) is dropped.
    ordered.extend(
        changes
            .iter()
            .filter(|c| matches!(c, Change::Restore { .. }) && !gone)
            .cloned(),
    );
    ordered.extend(from_api);
    // A merge whose survivor is gone is left to reconciliation.
    ordered.extend(
        changes
            .iter()
            .filter(|c| !matches!(c, Change::Restore { .. }) && !gone)
            .cloned(),
    );
    Ok(ordered)
}

/// Applies changes in order; the event's outcome is its most significant one.
async fn apply_all(
    tx: &mut Transaction<'_, Postgres>,
    source: &str,
    changes: &[Change],
    guard: ClockGuard,
) -> Result<&'static str, ApplyError> {
    let mut best = Outcome::Stale;
    for change in changes {
        let o = apply::apply(&mut *tx, source, change, guard).await?;
        if rank(o) > rank(best) {
            best = o;
        }
    }
    Ok(best.as_str())
}

fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Stale => 0,
        Outcome::Unchanged => 1,
        Outcome::Updated => 2,
        Outcome::Created => 3,
        Outcome::Restored => 4,
        Outcome::Deleted => 5,
        Outcome::Merged => 6,
    }
}

async fn load_connections(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[InboxRow],
) -> Result<HashMap<Uuid, Connection>, sqlx::Error> {
    let ids: BTreeSet<Uuid> = rows.iter().map(|r| r.connection_id).collect();
    let mut out = HashMap::new();
    for id in ids {
        if let Some(c) = connection::by_id(&mut **tx, id).await? {
            out.insert(id, c);
        }
    }
    Ok(out)
}

/// How the background loop waits between empty polls; a webhook wakes it at once.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs the worker until `shutdown` resolves: wakes on `wake` or every [`IDLE_POLL`].
pub async fn run(worker: Worker, wake: Arc<Notify>, shutdown: tokio::sync::watch::Receiver<bool>) {
    crate::db::poll::run_batches("CRM inbox", IDLE_POLL, wake, shutdown, || async {
        worker.run_batch().await.map(|r| r.claimed)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .to_utc()
    }

    // The fake reader answers what a real one does: a result.
    #[allow(clippy::unnecessary_wraps)]
    fn found(ids: &[&str]) -> Result<ReadBack, String> {
        Ok(ids
            .iter()
            .map(|id| {
                let a = CanonicalAccount {
                    crm_id: (*id).to_owned(),
                    name: format!("as the API says {id}"),
                    industry: None,
                    address: crate::crm::canonical::Address::default(),
                    tier: None,
                    annual_value: None,
                    visits_per_year: None,
                    priority: None,
                    owner_crm_id: None,
                    modified_at: at("2026-12-01T00:00:00Z"),
                };
                ((*id).to_owned(), Ok(a))
            })
            .collect())
    }

    fn kinds(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Upsert(a) => format!("upsert {}", a.crm_id),
                Change::Delete { crm_id, .. } => format!("delete {crm_id}"),
                Change::Restore { crm_id, .. } => format!("restore {crm_id}"),
                Change::Merge { survivor, .. } => format!("merge into {survivor}"),
            })
            .collect()
    }

    #[test]
    fn read_back_records_are_applied_as_read_and_missing_ones_are_deleted() {
        let read_at = at("2026-12-07T08:00:00Z");
        let ids = vec!["1".to_owned(), "2".to_owned()];
        let out = resolve(&ids, &[], Some(&found(&["1"])), read_at).expect("resolves");
        assert_eq!(kinds(&out), ["upsert 1", "delete 2"]);
        assert!(matches!(&out[1], Change::Delete { at, .. } if *at == read_at));

        // A restore the CRM confirms comes first, so the refreshed state can undelete; one it
        // does not confirm is dropped and the record stays deleted.
        let restore = [Change::Restore {
            crm_id: "1".to_owned(),
            at: read_at,
        }];
        let one = vec!["1".to_owned()];
        let out = resolve(&one, &restore, Some(&found(&["1"])), read_at).expect("resolves");
        assert_eq!(kinds(&out), ["restore 1", "upsert 1"]);
        let out = resolve(&one, &restore, Some(&found(&[])), read_at).expect("resolves");
        assert_eq!(kinds(&out), ["delete 1"]);

        // A merge follows its survivor's refreshed state.
        let merge = [Change::Merge {
            survivor: "1".to_owned(),
            merged: vec!["3".to_owned()],
            at: read_at,
        }];
        let out = resolve(&one, &merge, Some(&found(&["1"])), read_at).expect("resolves");
        assert_eq!(kinds(&out), ["upsert 1", "merge into 1"]);

        // A record that cannot be mapped fails its own events only.
        let mut partly = found(&["1"]).expect("found");
        partly.insert(
            "2".to_owned(),
            Err("Account 2 cannot be mapped: Name".to_owned()),
        );
        let two = vec!["2".to_owned()];
        assert_eq!(
            resolve(&two, &[], Some(&Ok(partly.clone())), read_at),
            Err("Account 2 cannot be mapped: Name".to_owned())
        );
        assert_eq!(
            kinds(&resolve(&one, &[], Some(&Ok(partly)), read_at).expect("resolves")),
            ["upsert 1"]
        );

        // Without an answer from the CRM nothing is applied: retried.
        assert!(resolve(&one, &[], Some(&Err("down".to_owned())), read_at).is_err());
        assert!(resolve(&one, &[], None, read_at).is_err());
    }
}
