//! CRM owner write-back: publishing a plan queues owner changes in `crm_outbox` (in the
//! publisher's transaction); the worker reads the CRM's current owners, marks a conflict
//! instead of overwriting one that changed since the plan was computed, writes the rest in the
//! vendor's batches, retries idempotently and audits every outcome.
//!
//! Idempotency comes from the read before each write: a record whose CRM owner already is the
//! new one is done without a call, so a write that timed out after the CRM applied it is not
//! sent twice.
//!
//! Visits go back to the CRM as activities the same way (`activities`, `activity_worker`):
//! queued in `crm_activity_outbox` with the visit, written by the same loop, a HubSpot meeting
//! searched for by its marker before a retry creates it, a Salesforce Task upserted on the
//! visit id. An alert the rep turns into a task goes the same way: a HubSpot task (searched
//! for by its marker word) or a Salesforce Task upserted on the alert id.

mod activities;
mod activity_worker;
mod calls;
mod outbox;
mod page;
mod postpone;
mod worker;

use std::time::Duration;

pub use activities::{
    ActivityStats, AlertTask, VisitWriteBack, activity_stats, enqueue_alert_task, enqueue_visit,
    retry_failed_activities,
};
pub use activity_worker::ActivityOutcome;
pub use calls::{PlannedCall, preview};
pub use outbox::{EnqueueSummary, OwnerChange, enqueue};
pub use page::{
    OutboxFilter, OutboxRow, OutboxScope, OutboxStats, OutboxStatus, Retried, list, retry, stats,
};
pub use worker::{BatchOutcome, WritebackWorker};

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
