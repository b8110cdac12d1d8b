//! Visits read from the CRM: completed HubSpot meetings associated with a company, and
//! Salesforce Tasks on Accounts with status Completed and type Meeting or Visit, become visits
//! (source `crm`, event id `crm:{connection}:{activity id}`) of the rep whose CRM owner id owns
//! the activity. Activities Terrane wrote (its marker, its external id, its activity ids) are
//! skipped, so a visit never comes back as a second one. Run after each reconciliation.

use crate::db::Bind;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::api::ApiError;
use super::api::activities::{MAX_ASSOCIATION_BATCH, MAX_RETRIEVE, TASK_EXTERNAL_ID_FIELD};
use super::clients::{ApiSession, CrmClients, SessionError};
use super::connection::Connection;
use crate::dayplan::DayPlanError;
use crate::dayplan::visits::{self, CrmVisit};

/// How far back activities are read.
pub const LOOKBACK: TimeDelta = TimeDelta::days(7);
/// Salesforce Task types that are visits.
const TASK_TYPES: [&str; 2] = ["Meeting", "Visit"];
const TASK_FIELDS: [&str; 7] = [
    "Id",
    "WhatId",
    "OwnerId",
    "Status",
    "Type",
    "CompletedDateTime",
    TASK_EXTERNAL_ID_FIELD,
];

/// What one read did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VisitsRead {
    /// Completed activities seen (after the vendor's filters).
    pub seen: usize,
    /// New visits recorded (the others were recorded by an earlier read).
    pub recorded: u64,
    /// Written by Terrane (visits written back).
    pub ours: usize,
    /// Owned by nobody who is a rep here.
    pub no_rep: usize,
    /// About no account of this connection (another object, a deleted account).
    pub no_account: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum VisitsInError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Visits(#[from] DayPlanError),
}

/// One completed activity as read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Activity {
    id: String,
    record: Option<String>,
    owner: Option<String>,
    at: DateTime<Utc>,
    ours: bool,
}

/// Reads the CRM's completed activities since `since` and records them as visits.
#[tracing::instrument(skip_all, fields(connection = %conn.name), err)]
pub async fn read_recent(
    db: &PgPool,
    clients: &CrmClients,
    conn: &Connection,
    since: DateTime<Utc>,
) -> Result<VisitsRead, VisitsInError> {
    let session = clients.session(conn).await.map_err(|e| match e {
        SessionError::Setup(e) => VisitsInError::Setup(e.to_string()),
        SessionError::Api(e) => VisitsInError::Api(e),
    })?;
    let read = match &session {
        ApiSession::HubSpot(api, cache) => {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let cursor = after.as_deref();
                let page = cache
                    .call(|token| async move {
                        api.completed_meetings_since(&token, since.timestamp_millis(), cursor)
                            .await
                    })
                    .await?;
                out.extend(page.results.into_iter().filter_map(|m| {
                    let prop = |n: &str| m.properties.get(n).cloned().flatten();
                    Some(Activity {
                        at: hubspot_time(&prop("hs_timestamp")?)?,
                        owner: prop("hubspot_owner_id"),
                        ours: prop("hs_meeting_external_url").is_some_and(|u| is_our_marker(&u)),
                        record: None,
                        id: m.id,
                    })
                }));
                match page.next_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let ids: Vec<String> = out
                .iter()
                .filter(|a| !a.ours)
                .map(|a| a.id.clone())
                .collect();
            let mut companies = BTreeMap::new();
            for chunk in ids.chunks(MAX_ASSOCIATION_BATCH) {
                companies.extend(
                    cache
                        .call(|token| async move { api.meeting_companies(&token, chunk).await })
                        .await?,
                );
            }
            for a in &mut out {
                a.record = companies.get(&a.id).and_then(|c| c.first().cloned());
            }
            out
        }
        ApiSession::Salesforce(api, cache) => {
            let now = Utc::now();
            let ids = cache
                .call(|token| async move { api.updated_task_ids(&token, since, now).await })
                .await?;
            let mut out = Vec::new();
            for chunk in ids.chunks(MAX_RETRIEVE) {
                let tasks =
                    cache
                        .call(|token| async move {
                            api.retrieve_tasks(&token, chunk, &TASK_FIELDS).await
                        })
                        .await?;
                out.extend(tasks.into_iter().filter_map(|t| {
                    let field = |n: &str| t.get(n).cloned().flatten().filter(|v| !v.is_empty());
                    let is_visit = field("Status").as_deref() == Some("Completed")
                        && field("Type").is_some_and(|k| TASK_TYPES.contains(&k.as_str()));
                    let record = field("WhatId").filter(|w| w.starts_with("001"));
                    if !is_visit || record.is_none() {
                        return None;
                    }
                    Some(Activity {
                        at: salesforce_time(&field("CompletedDateTime")?)?,
                        owner: field("OwnerId"),
                        ours: field(TASK_EXTERNAL_ID_FIELD).is_some(),
                        record,
                        id: field("Id")?,
                    })
                }));
            }
            out
        }
    };
    clients.save_session_tokens(conn, &session).await;
    record(db, conn, read, since).await
}

/// Matches activities to reps and accounts and records the visits.
async fn record(
    db: &PgPool,
    conn: &Connection,
    read: Vec<Activity>,
    since: DateTime<Utc>,
) -> Result<VisitsRead, VisitsInError> {
    let mut out = VisitsRead {
        seen: read.len(),
        ..VisitsRead::default()
    };
    let ids: Vec<&str> = read.iter().map(|a| a.id.as_str()).collect();
    let written: HashSet<String> = sqlx::query_scalar(include_str!("sql/visits_in_ours.sql"))
        .bind_all((conn.id, &ids))
        .fetch_all(db)
        .await?
        .into_iter()
        .collect();
    let records: Vec<&str> = read.iter().filter_map(|a| a.record.as_deref()).collect();
    let accounts: HashMap<String, Uuid> =
        sqlx::query_as::<_, (String, Uuid)>(include_str!("sql/visits_in_accounts.sql"))
            .bind_all((&conn.name, &records))
            .fetch_all(db)
            .await?
            .into_iter()
            .collect();
    let owners: Vec<&str> = read.iter().filter_map(|a| a.owner.as_deref()).collect();
    let reps: HashMap<String, Uuid> =
        sqlx::query_as::<_, (String, Uuid)>(include_str!("sql/visits_in_reps.sql"))
            .bind(&owners)
            .fetch_all(db)
            .await?
            .into_iter()
            .collect();
    let mut found = Vec::new();
    for a in &read {
        if a.ours || written.contains(&a.id) {
            out.ours += 1;
            continue;
        }
        let Some(rep_id) = a.owner.as_ref().and_then(|o| reps.get(o)) else {
            out.no_rep += 1;
            continue;
        };
        let Some(account_id) = a.record.as_ref().and_then(|r| accounts.get(r)) else {
            out.no_account += 1;
            continue;
        };
        // A Task completed before the window but changed in it is not a recent visit.
        if a.at < since {
            continue;
        }
        found.push(CrmVisit {
            event_id: format!("crm:{}:{}", conn.name, a.id),
            rep_id: *rep_id,
            account_id: *account_id,
            visited_at: a.at.min(Utc::now()),
        });
    }
    out.recorded = visits::record_from_crm(db, &found).await?;
    tracing::info!(
        seen = out.seen,
        recorded = out.recorded,
        ours = out.ours,
        no_rep = out.no_rep,
        no_account = out.no_account,
        "visits read from the CRM"
    );
    Ok(out)
}

/// Terrane's marker: `{public url}/visits/{uuid}`.
fn is_our_marker(url: &str) -> bool {
    url.rsplit_once("/visits/")
        .is_some_and(|(_, id)| Uuid::parse_str(id).is_ok())
}

/// HubSpot's `hs_timestamp`: RFC 3339 or Unix milliseconds.
fn hubspot_time(v: &str) -> Option<DateTime<Utc>> {
    v.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| {
            DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// Salesforce's `2026-12-07T10:00:00.000+0000`, or a plain date (noon UTC).
fn salesforce_time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t: NaiveDateTime| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_marker_is_a_visit_url() {
        assert!(is_our_marker(
            "https://terrane.example/visits/6f1c1d2e-8a1b-4c1d-9e2f-0a1b2c3d4e5f"
        ));
        assert!(!is_our_marker("https://zoom.example/j/123"));
        assert!(!is_our_marker("https://terrane.example/visits/not-a-uuid"));
    }

    #[test]
    fn vendor_times_are_read() {
        let t = hubspot_time("2026-12-07T10:00:00.000Z").expect("rfc3339");
        assert_eq!(hubspot_time("1796637600000"), Some(t));
        assert_eq!(salesforce_time("2026-12-07T10:00:00.000+0000"), Some(t));
        assert_eq!(
            salesforce_time("2026-12-07").map(|d| d.to_rfc3339()),
            Some("2026-12-07T12:00:00+00:00".to_owned())
        );
        assert_eq!(salesforce_time("yesterday"), None);
    }
}
