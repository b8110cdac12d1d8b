//! The activity write-back: claims due activities per connection and writes each visit as a
//! HubSpot meeting or a completed Salesforce Task, each alert as a HubSpot task or an open
//! Salesforce Task (HubSpot searched for the marker first when an earlier claim may have
//! created it; Salesforce upserted on the visit's or alert's id), and records each outcome with
//! its audit row.

use crate::db::Bind;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::calls::is_salesforce_id;
use super::postpone;
use super::worker::{Verdict, WritebackWorker, verdict_for_call};
use super::{LEASE, MAX_ATTEMPTS};
use crate::audit::{self, AuditEvent};
use crate::crm::api::ApiError;
use crate::crm::api::activities::{
    Engagement, MEETING_MARKER_PROPERTY, TASK_EXTERNAL_ID_FIELD, TaskFields,
};
use crate::crm::api::hubspot::HubSpotApi;
use crate::crm::api::oauth::TokenCache;
use crate::crm::api::salesforce::SalesforceApi;
use crate::crm::clients::{ApiSession, SessionError};
use crate::crm::connection::{self, Connection, CrmKind};

/// Activities per batch: one call each (two for a HubSpot retry), all inside the lease.
const BATCH: i64 = 10;
/// Salesforce's longest Task subject.
const MAX_SUBJECT_CHARS: usize = 255;

/// One claimed activity with what its call needs: a visit's (`visit_id`, `ends_at`,
/// `outcome`, `note`) or an alert's (`alert_id`).
#[derive(Debug, Clone, sqlx::FromRow)]
struct Claimed {
    id: i64,
    visit_id: Option<Uuid>,
    alert_id: Option<Uuid>,
    marker: String,
    attempts: i32,
    claims: i32,
    crm_id: String,
    account_name: String,
    /// When the visit was logged or the alert raised.
    at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    local_day: NaiveDate,
    outcome: Option<String>,
    note: Option<String>,
    owner_crm_id: Option<String>,
}

/// What a claimed row writes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Visit(Uuid),
    Alert(Uuid),
}

impl Source {
    fn id(self) -> Uuid {
        match self {
            Self::Visit(id) | Self::Alert(id) => id,
        }
    }

    /// The audit row's subject type.
    fn kind(self) -> &'static str {
        match self {
            Self::Visit(_) => "visit",
            Self::Alert(_) => "alert",
        }
    }
}

impl Claimed {
    /// `None` only for a row naming neither (the table's check forbids it).
    fn source(&self) -> Option<Source> {
        match (self.visit_id, self.alert_id) {
            (Some(v), _) => Some(Source::Visit(v)),
            (None, Some(a)) => Some(Source::Alert(a)),
            (None, None) => None,
        }
    }

    /// HubSpot owner ids are numbers; another id (a CSV rep's) would make HubSpot refuse the
    /// whole engagement, which then goes without an owner.
    fn hubspot_owner(&self) -> Option<&String> {
        self.owner_crm_id
            .as_ref()
            .filter(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
    }

    /// A Salesforce user id (key prefix 005); other owner ids are not Salesforce's.
    fn salesforce_owner(&self) -> Option<String> {
        self.owner_crm_id
            .clone()
            .filter(|o| is_salesforce_id(o) && o.starts_with("005"))
    }
}

/// What one activity batch did, for tests, logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActivityOutcome {
    pub connection: Option<String>,
    pub claimed: usize,
    /// Created in the CRM by this batch.
    pub written: usize,
    /// Already in the CRM (a HubSpot meeting found by its marker, a Salesforce upsert that
    /// updated): done without creating another.
    pub already_there: usize,
    pub failed: usize,
    pub retried: usize,
    /// Waiting for the CRM's `Retry-After` (not counted as failed attempts).
    pub rate_limited: usize,
}

impl ActivityOutcome {
    fn add(&mut self, other: &Self) {
        self.claimed += other.claimed;
        self.written += other.written;
        self.already_there += other.already_there;
        self.failed += other.failed;
        self.retried += other.retried;
        self.rate_limited += other.rate_limited;
    }
}

/// What happens to one activity.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done {
        activity_id: Option<String>,
        already: bool,
    },
    Retry(String),
    Failed(String),
    Wait(Duration),
}

impl Outcome {
    fn of_call(e: &ApiError) -> Self {
        match verdict_for_call(e) {
            Verdict::Wait(d) => Self::Wait(d),
            Verdict::Failed(m) => Self::Failed(m),
            Verdict::Retry(m) => Self::Retry(m),
            Verdict::Written { .. } | Verdict::Conflict { .. } => Self::Retry(e.to_string()),
        }
    }

    /// Whether the rest of the batch gets the same answer without calling (rate limited,
    /// credentials refused).
    fn stops_batch(&self) -> bool {
        matches!(self, Self::Wait(_)) || matches!(self, Self::Failed(m) if m.contains("reconnect"))
    }
}

/// HubSpot's meeting outcome for a visit outcome.
fn meeting_outcome(outcome: &str) -> &'static str {
    match outcome {
        "no_one_available" => "NO_SHOW",
        _ => "COMPLETED",
    }
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "met" => "met",
        "no_one_available" => "no one available",
        "follow_up" => "follow-up needed",
        _ => "other",
    }
}

fn subject(prefix: &str, row: &Claimed) -> String {
    format!("{prefix}{}", row.account_name)
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

/// HubSpot's meeting body is rich text: the note goes in as text, not markup.
fn as_html_text(note: &str) -> String {
    note.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

fn at_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meeting_properties(row: &Claimed) -> BTreeMap<String, String> {
    let outcome = row.outcome.as_deref().unwrap_or_default();
    let mut p = BTreeMap::from([
        ("hs_timestamp".to_owned(), at_ms(row.at)),
        ("hs_meeting_title".to_owned(), subject("Visit: ", row)),
        (
            "hs_meeting_outcome".to_owned(),
            meeting_outcome(outcome).to_owned(),
        ),
        ("hs_meeting_start_time".to_owned(), at_ms(row.at)),
        (
            "hs_meeting_end_time".to_owned(),
            at_ms(row.ends_at.unwrap_or(row.at)),
        ),
        (MEETING_MARKER_PROPERTY.to_owned(), row.marker.clone()),
    ]);
    if let Some(note) = &row.note {
        p.insert("hs_meeting_body".to_owned(), as_html_text(note));
    }
    if let Some(owner) = row.hubspot_owner() {
        p.insert("hubspot_owner_id".to_owned(), owner.clone());
    }
    p
}

fn task_fields(row: &Claimed) -> TaskFields {
    let outcome = row.outcome.as_deref().unwrap_or_default();
    let mut description = format!("Outcome: {}", outcome_label(outcome));
    if let Some(note) = &row.note {
        description.push_str("\n\n");
        description.push_str(note);
    }
    TaskFields {
        subject: subject("Visit: ", row),
        what_id: row.crm_id.clone(),
        activity_date: row.local_day.format("%Y-%m-%d").to_string(),
        status: "Completed",
        kind: Some("Meeting"),
        description: Some(description),
        owner_id: row.salesforce_owner(),
    }
}

/// An alert's task notes: what asked for it and Terrane's marker word (the search for the
/// task before a retry looks for that word). No position, no distance.
fn alert_task_notes(row: &Claimed) -> String {
    format!(
        "A Terrane proximity alert on {} suggested a stop at {}; the rep asked for this task.\n\n\
         Terrane alert: {}",
        row.local_day.format("%Y-%m-%d"),
        row.account_name,
        row.marker
    )
}

/// An alert's HubSpot task: due when the alert was raised, not started, a to-do.
fn alert_task_properties(row: &Claimed) -> BTreeMap<String, String> {
    let mut p = BTreeMap::from([
        ("hs_timestamp".to_owned(), at_ms(row.at)),
        ("hs_task_subject".to_owned(), subject("Stop at ", row)),
        (
            "hs_task_body".to_owned(),
            as_html_text(&alert_task_notes(row)),
        ),
        ("hs_task_status".to_owned(), "NOT_STARTED".to_owned()),
        ("hs_task_type".to_owned(), "TODO".to_owned()),
    ]);
    if let Some(owner) = row.hubspot_owner() {
        p.insert("hubspot_owner_id".to_owned(), owner.clone());
    }
    p
}

/// An alert's Salesforce Task: open, due on the rep's day of the alert, the org's default
/// Type (a completed one is still not read back as a visit: it carries the external id).
fn alert_task_fields(row: &Claimed) -> TaskFields {
    TaskFields {
        subject: subject("Stop at ", row),
        what_id: row.crm_id.clone(),
        activity_date: row.local_day.format("%Y-%m-%d").to_string(),
        status: "Not Started",
        kind: None,
        description: Some(alert_task_notes(row)),
        owner_id: row.salesforce_owner(),
    }
}

async fn write_engagement(
    api: &HubSpotApi,
    cache: &TokenCache,
    row: &Claimed,
    kind: Engagement,
    properties: &BTreeMap<String, String>,
) -> Outcome {
    if row.crm_id.is_empty() || !row.crm_id.bytes().all(|b| b.is_ascii_digit()) {
        return Outcome::Failed(format!("{} is not a HubSpot company id", row.crm_id));
    }
    if row.claims > 1 {
        let marker = row.marker.as_str();
        let found = cache
            .call(|token| async move { api.find_by_marker(&token, kind, marker).await })
            .await;
        match found {
            Ok(Some(m)) => {
                return Outcome::Done {
                    activity_id: Some(m.id),
                    already: true,
                };
            }
            Ok(None) => {}
            Err(e) => return Outcome::of_call(&e),
        }
    }
    let company = row.crm_id.as_str();
    let made = cache
        .call(|token| async move {
            api.create_engagement(&token, kind, properties, company)
                .await
        })
        .await;
    match made {
        Ok(m) => Outcome::Done {
            activity_id: Some(m.id),
            already: false,
        },
        Err(e) => Outcome::of_call(&e),
    }
}

/// Upserts the Task of `source` (its id is the external id: the field holds 36 characters,
/// a bare UUID, so an alert's is its id without a prefix).
async fn write_task(
    api: &SalesforceApi,
    cache: &TokenCache,
    row: &Claimed,
    source: Source,
    fields: &TaskFields,
) -> Outcome {
    if !is_salesforce_id(&row.crm_id) {
        return Outcome::Failed(format!("{} is not a Salesforce record id", row.crm_id));
    }
    let external_id = source.id().to_string();
    let external_id = external_id.as_str();
    let done = cache
        .call(|token| async move { api.upsert_task(&token, external_id, fields).await })
        .await;
    match done {
        Ok(u) => Outcome::Done {
            activity_id: u.id,
            already: !u.created,
        },
        Err(ApiError::Client(status, message)) if status.as_u16() == 404 => {
            Outcome::Failed(format!(
                "{message}; create the Task field {TASK_EXTERNAL_ID_FIELD} (Text 36, External ID, \
                 Unique) in Salesforce Setup, then retry"
            ))
        }
        Err(e) => Outcome::of_call(&e),
    }
}

impl WritebackWorker {
    /// Claims one batch of due activities of one connection, writes them one call each and
    /// records every outcome. `claimed == 0` when nothing is due.
    #[tracing::instrument(skip_all, err)]
    pub async fn run_activities_once(&self) -> Result<ActivityOutcome, sqlx::Error> {
        let Some((conn, rows)) = self.claim_activities().await? else {
            return Ok(ActivityOutcome::default());
        };
        let outcomes = self.write_activities(&conn, &rows).await;
        let out = self.record_activities(&conn, &rows, &outcomes).await?;
        tracing::info!(
            connection = %conn.name,
            claimed = out.claimed,
            written = out.written,
            already_there = out.already_there,
            failed = out.failed,
            retried = out.retried,
            rate_limited = out.rate_limited,
            "CRM activity write-back batch"
        );
        for (label, n) in [
            ("written", out.written),
            ("already_there", out.already_there),
            ("failed", out.failed),
            ("retried", out.retried),
            ("rate_limited", out.rate_limited),
        ] {
            metrics::counter!("terrane_crm_activity_writeback_total", "outcome" => label)
                .increment(n as u64);
        }
        Ok(out)
    }

    /// Runs activity batches until none is due. Tests call this instead of sleeping.
    pub async fn drain_activities(&self) -> Result<ActivityOutcome, sqlx::Error> {
        let mut total = ActivityOutcome::default();
        loop {
            let r = self.run_activities_once().await?;
            if r.claimed == 0 {
                return Ok(total);
            }
            total.connection.clone_from(&r.connection);
            total.add(&r);
        }
    }

    async fn claim_activities(&self) -> Result<Option<(Connection, Vec<Claimed>)>, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let head: Option<(Uuid, CrmKind)> =
            sqlx::query_as(include_str!("../sql/activity_claim_connection.sql"))
                .fetch_optional(&mut *tx)
                .await?;
        let Some((connection_id, _)) = head else {
            return Ok(None);
        };
        let rows: Vec<Claimed> = sqlx::query_as(include_str!("../sql/activity_claim_batch.sql"))
            .bind_all((connection_id, BATCH, LEASE.as_secs_f64()))
            .fetch_all(&mut *tx)
            .await?;
        let conn = connection::by_id(&mut *tx, connection_id).await?;
        tx.commit().await?;
        Ok(conn.map(|c| (c, rows)))
    }

    async fn write_activities(&self, conn: &Connection, rows: &[Claimed]) -> Vec<Outcome> {
        let session = match self.clients.session(conn).await {
            Ok(s) => s,
            Err(SessionError::Setup(e)) => return vec![Outcome::Failed(e.to_string()); rows.len()],
            Err(SessionError::Api(e)) => return vec![Outcome::of_call(&e); rows.len()],
        };
        let mut out: Vec<Outcome> = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(last) = out.last().filter(|o| o.stops_batch()) {
                out.push(last.clone());
                continue;
            }
            let outcome = match (&session, row.source()) {
                (_, None) => Outcome::Failed("the row names neither a visit nor an alert".into()),
                (ApiSession::HubSpot(api, cache), Some(Source::Visit(_))) => {
                    let p = meeting_properties(row);
                    write_engagement(api, cache, row, Engagement::Meeting, &p).await
                }
                (ApiSession::HubSpot(api, cache), Some(Source::Alert(_))) => {
                    let p = alert_task_properties(row);
                    write_engagement(api, cache, row, Engagement::Task, &p).await
                }
                (ApiSession::Salesforce(api, cache), Some(source)) => {
                    let fields = match source {
                        Source::Visit(_) => task_fields(row),
                        Source::Alert(_) => alert_task_fields(row),
                    };
                    write_task(api, cache, row, source, &fields).await
                }
            };
            self.clients.save_session_tokens(conn, &session).await;
            out.push(outcome);
        }
        out
    }

    async fn record_activities(
        &self,
        conn: &Connection,
        rows: &[Claimed],
        outcomes: &[Outcome],
    ) -> Result<ActivityOutcome, sqlx::Error> {
        let mut out = ActivityOutcome {
            connection: Some(conn.name.clone()),
            claimed: rows.len(),
            ..ActivityOutcome::default()
        };
        let mut tx = self.db.begin().await?;
        for (row, outcome) in rows.iter().zip(outcomes) {
            let attempts = row.attempts + 1;
            let (action, extra) = match outcome {
                Outcome::Done {
                    activity_id,
                    already,
                } => {
                    if *already {
                        out.already_there += 1;
                    } else {
                        out.written += 1;
                    }
                    sqlx::query(include_str!("../sql/activity_mark_done.sql"))
                        .bind_all((row.id, attempts, activity_id.as_deref()))
                        .execute(&mut *tx)
                        .await?;
                    (
                        "crm.activity_written",
                        json!({"crm_activity_id": activity_id, "already_there": already}),
                    )
                }
                Outcome::Retry(reason) if attempts >= MAX_ATTEMPTS => {
                    out.failed += 1;
                    let reason = format!("{reason} (gave up after {attempts} attempts)");
                    sqlx::query(include_str!("../sql/activity_fail.sql"))
                        .bind_all((row.id, attempts, &reason))
                        .execute(&mut *tx)
                        .await?;
                    ("crm.activity_failed", json!({"reason": reason}))
                }
                Outcome::Failed(reason) => {
                    out.failed += 1;
                    sqlx::query(include_str!("../sql/activity_fail.sql"))
                        .bind_all((row.id, attempts, reason))
                        .execute(&mut *tx)
                        .await?;
                    ("crm.activity_failed", json!({"reason": reason}))
                }
                Outcome::Retry(reason) => {
                    out.retried += 1;
                    postpone::ACTIVITIES
                        .retry(&mut tx, row.id, attempts, reason)
                        .await?;
                    continue;
                }
                Outcome::Wait(wait) => {
                    out.rate_limited += 1;
                    postpone::ACTIVITIES.wait(&mut tx, row.id, *wait).await?;
                    continue;
                }
            };
            let mut details = json!({
                "outbox_id": row.id,
                "connection": conn.name,
                "crm_id": row.crm_id,
            });
            if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
                d.extend(extra);
            }
            let mut event = AuditEvent::new(None, action).with(details);
            if let Some(source) = row.source() {
                event = event.about(source.kind(), source.id().to_string());
            }
            audit::record(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(outcome: &str, owner: Option<&str>, note: Option<&str>) -> Claimed {
        let at = DateTime::parse_from_rfc3339("2026-12-08T09:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        Claimed {
            id: 1,
            visit_id: Some(Uuid::nil()),
            alert_id: None,
            marker: "https://terrane.example/visits/00000000-0000-0000-0000-000000000000".into(),
            attempts: 0,
            claims: 1,
            crm_id: "10000001".into(),
            account_name: "Station Avia".into(),
            at,
            ends_at: Some(at + chrono::TimeDelta::minutes(30)),
            local_day: NaiveDate::from_ymd_opt(2026, 12, 8).expect("day"),
            outcome: Some(outcome.into()),
            note: note.map(str::to_owned),
            owner_crm_id: owner.map(str::to_owned),
        }
    }

    #[test]
    fn a_meeting_carries_time_outcome_marker_owner_and_the_note_as_text() {
        let p = meeting_properties(&claimed("met", Some("31415926"), Some("a <b> & c")));
        assert_eq!(p["hs_timestamp"], "2026-12-08T09:30:00.000Z");
        assert_eq!(p["hs_meeting_end_time"], "2026-12-08T10:00:00.000Z");
        assert_eq!(p["hs_meeting_outcome"], "COMPLETED");
        assert_eq!(p["hs_meeting_title"], "Visit: Station Avia");
        assert_eq!(p["hs_meeting_body"], "a &lt;b&gt; &amp; c");
        assert_eq!(p["hubspot_owner_id"], "31415926");
        let not_hubspots = meeting_properties(&claimed("met", Some("owner-1"), None));
        assert!(!not_hubspots.contains_key("hubspot_owner_id"));
        assert!(
            p[MEETING_MARKER_PROPERTY].ends_with("/visits/00000000-0000-0000-0000-000000000000")
        );
        let nobody = meeting_properties(&claimed("no_one_available", None, None));
        assert_eq!(nobody["hs_meeting_outcome"], "NO_SHOW");
        assert!(!nobody.contains_key("hubspot_owner_id"));
        assert!(!nobody.contains_key("hs_meeting_body"));
    }

    #[test]
    fn a_task_names_its_account_day_and_only_a_salesforce_user_as_owner() {
        let mut row = claimed("follow_up", Some("owner-1"), Some("call back"));
        row.crm_id = "001Dm0000000001IAA".into();
        let t = task_fields(&row);
        assert_eq!(t.what_id, "001Dm0000000001IAA");
        assert_eq!(t.activity_date, "2026-12-08");
        assert_eq!(t.status, "Completed");
        assert_eq!(t.owner_id, None, "owner-1 is not a Salesforce user id");
        assert_eq!(
            t.description.as_deref(),
            Some("Outcome: follow-up needed\n\ncall back")
        );
        row.owner_crm_id = Some("005Sm0000000001AAA".into());
        assert_eq!(
            task_fields(&row).owner_id.as_deref(),
            Some("005Sm0000000001AAA")
        );
    }

    fn alert(owner: Option<&str>) -> Claimed {
        let mut row = claimed("met", owner, None);
        row.visit_id = None;
        row.alert_id = Some(Uuid::nil());
        row.marker = "terranealert00000000000000000000000000000000".into();
        row.ends_at = None;
        row.outcome = None;
        row
    }

    #[test]
    fn an_alert_task_is_an_open_to_do_named_for_its_account_with_the_marker_word() {
        let p = alert_task_properties(&alert(Some("31415926")));
        assert_eq!(p["hs_timestamp"], "2026-12-08T09:30:00.000Z");
        assert_eq!(p["hs_task_subject"], "Stop at Station Avia");
        assert_eq!(p["hs_task_status"], "NOT_STARTED");
        assert_eq!(p["hs_task_type"], "TODO");
        assert_eq!(p["hubspot_owner_id"], "31415926");
        assert!(
            p["hs_task_body"]
                .ends_with("<br><br>Terrane alert: terranealert00000000000000000000000000000000"),
            "{}",
            p["hs_task_body"]
        );
        assert!(!alert_task_properties(&alert(Some("owner-1"))).contains_key("hubspot_owner_id"));
        let mut row = alert(Some("005Sm0000000001AAA"));
        row.crm_id = "001Dm0000000001IAA".into();
        let t = alert_task_fields(&row);
        assert_eq!(
            (t.subject.as_str(), t.status, t.kind),
            ("Stop at Station Avia", "Not Started", None)
        );
        assert_eq!(t.activity_date, "2026-12-08");
        assert_eq!(t.owner_id.as_deref(), Some("005Sm0000000001AAA"));
        assert_eq!(row.source(), Some(Source::Alert(Uuid::nil())));
    }

    #[test]
    fn rate_limits_and_refused_credentials_stop_the_batch() {
        assert!(Outcome::Wait(Duration::from_secs(3)).stops_batch());
        assert!(Outcome::of_call(&ApiError::Unauthorized).stops_batch());
        assert!(!Outcome::Retry("timed out".into()).stops_batch());
        assert!(matches!(
            Outcome::of_call(&ApiError::Server(reqwest::StatusCode::BAD_GATEWAY)),
            Outcome::Retry(_)
        ));
    }
}
