//! Queueing owner changes when a plan is published (in the publisher's transaction).

use crate::db::Bind;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::accounts::CrmRef;
use crate::crm::connection::CrmKind;

/// One account's owner to set in its CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct OwnerChange {
    pub account_id: Uuid,
    /// The account's record; its source is the connection's name. Flattened: `crm_source`,
    /// `crm_id`.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub crm: CrmRef,
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

/// How the `last_error` of rows a later plan superseded begins (the `superseded` column says it).
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
        let mut s: Vec<&str> = changes.iter().map(|c| c.crm.source.as_str()).collect();
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
        let skip = match connections.get(&c.crm.source) {
            None => Some(format!("no CRM connection named {}", c.crm.source)),
            Some((_, kind)) if !kind.has_api() => Some(format!(
                "connection {} has no API to write to",
                c.crm.source
            )),
            Some(_) if c.expected_owner.as_deref() == Some(c.new_owner.as_str()) => {
                Some("already the owner".to_owned())
            }
            Some((id, _)) => {
                conn_ids.push(*id);
                account_ids.push(c.account_id);
                crm_ids.push(c.crm.id.as_str());
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

    summary.superseded = sqlx::query(include_str!("../sql/outbox_supersede.sql"))
        .bind_all((
            plan_id,
            &account_ids,
            format!("{SUPERSEDED} by plan {plan_id} before it was written"),
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();

    let inserted: i64 = sqlx::query_scalar(include_str!("../sql/outbox_enqueue.sql"))
        .bind_all((
            &conn_ids,
            &account_ids,
            &crm_ids,
            &expected,
            &new_owners,
            plan_id,
            &keys,
        ))
        .fetch_one(&mut *tx)
        .await?;
    summary.queued = u64::try_from(inserted).unwrap_or(0);
    summary.already_queued = (keys.len() as u64).saturating_sub(summary.queued);
    Ok(summary)
}

fn idempotency_key(plan_id: Uuid, account_id: Uuid) -> String {
    format!("plan:{plan_id}:account:{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_change_is_json_with_crm_source_and_crm_id_in_place() {
        let change = OwnerChange {
            account_id: Uuid::nil(),
            crm: CrmRef::new("demo-hubspot", "42"),
            expected_owner: None,
            new_owner: "owner-2".into(),
        };
        let json = serde_json::to_string(&change).expect("json");
        assert_eq!(
            json,
            r#"{"account_id":"00000000-0000-0000-0000-000000000000","crm_source":"demo-hubspot","crm_id":"42","expected_owner":null,"new_owner":"owner-2"}"#
        );
        assert_eq!(
            serde_json::from_str::<OwnerChange>(&json).expect("read back"),
            change
        );
    }
}
