//! The appointments file and the opening-hours file: rows checked first, then applied in one
//! transaction through their owners (`dayplan::appointments`, `accounts::hours`), so a file
//! is taken whole or not at all.

use std::io::Read;

use sqlx::PgPool;
use uuid::Uuid;

use super::reader::{
    Cells, Columns, Spec, Table, finish, parse_email, parse_int, parse_timestamp, read_table,
};
use super::{CsvError, ImportAudit, ImportReport, RowError};
use crate::accounts::CrmRef;
use crate::accounts::crm::live_id;
use crate::accounts::hours::{self, HoursSource, Opening};
use crate::auth::Scope;
use crate::crm::apply::Outcome;
use crate::dayplan::DayPlanError;
use crate::dayplan::appointments::{self, Actor, AppointmentInput, Source};
use crate::reps;

pub const APPOINTMENT_COLUMNS: &[&str] = &[
    "ref",
    "rep_email",
    "source",
    "crm_id",
    "start",
    "end",
    "duration_minutes",
    "note",
];

pub const HOURS_COLUMNS: &[&str] = &["source", "crm_id", "opening_hours"];

pub(super) const APPOINTMENTS: Spec = Spec {
    columns: APPOINTMENT_COLUMNS,
    read_only: &[],
    required: &["rep_email", "crm_id", "start", "duration_minutes"],
};

pub(super) const HOURS: Spec = Spec {
    columns: HOURS_COLUMNS,
    read_only: &[],
    required: &["crm_id", "opening_hours"],
};

struct AppointmentRow {
    row: usize,
    external_ref: Option<String>,
    rep_email: String,
    source: String,
    crm_id: String,
    input: AppointmentInput,
}

fn parse_appointments(
    table: &Table,
    default_source: &str,
    errors: &mut Vec<RowError>,
) -> Vec<AppointmentRow> {
    let Some(columns) = Columns::resolve(table, &APPOINTMENTS, errors) else {
        return Vec::new();
    };
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let mut cells = Cells::new(row, &columns, errors);
        let external_ref = cells.text("ref", 200);
        let rep_email = cells
            .required("rep_email")
            .and_then(|_| cells.parse("rep_email", parse_email));
        let source = cells
            .text("source", 100)
            .unwrap_or_else(|| default_source.to_owned());
        let crm_id = cells.required_text("crm_id", 200);
        let start = cells
            .required("start")
            .and_then(|_| cells.parse("start", parse_timestamp));
        let end = cells.parse("end", parse_timestamp);
        let minutes = cells
            .required("duration_minutes")
            .and_then(|_| cells.parse("duration_minutes", |s| parse_int(s, 5, 600)));
        let note = cells.text("note", 2_000);
        if let (true, Some(rep_email), Some(crm_id), Some(start), Some(minutes)) =
            (cells.is_valid(), rep_email, crm_id, start, minutes)
        {
            rows.push(AppointmentRow {
                row: row.number,
                external_ref,
                rep_email,
                source,
                crm_id,
                input: AppointmentInput {
                    account_id: Uuid::nil(),
                    rep_id: None,
                    start,
                    end,
                    duration_minutes: minutes,
                    note,
                },
            });
        }
    }
    rows
}

/// Imports appointments: each row is booked (or, with the same `ref` for the same rep,
/// changed) as if from the API, checked against the rep's shift and other appointments. One
/// refused row refuses the file.
pub(super) async fn import_appointments(
    db: &PgPool,
    reader: impl Read,
    default_source: &str,
    dry_run: bool,
    admin_id: Uuid,
    audit: Option<&ImportAudit>,
) -> Result<ImportReport, CsvError> {
    let table = read_table(reader)?;
    let mut report = ImportReport::new(dry_run, table.rows.len());
    let mut errors = table.file_errors.clone();
    let rows = parse_appointments(&table, default_source, &mut errors);
    if !errors.is_empty() {
        return Err(report.refused(errors));
    }
    let scope = Scope::All;
    let actor = Actor {
        user_id: admin_id,
        rep_id: None,
        scope: &scope,
        source: Source::Csv,
    };
    let mut tx = db.begin().await?;
    for r in rows {
        let refuse = |column: Option<&str>, message: String| RowError::new(r.row, column, message);
        let Some(account) =
            live_id(&mut *tx, &CrmRef::new(r.source.as_str(), r.crm_id.as_str())).await?
        else {
            let message = "no account with this source and crm_id".to_owned();
            return Err(report.refused(vec![refuse(Some("crm_id"), message)]));
        };
        let Some(rep) = reps::id_by_email(&mut *tx, &r.rep_email).await? else {
            let message = "no rep with this e-mail address".to_owned();
            return Err(report.refused(vec![refuse(Some("rep_email"), message)]));
        };
        let mut input = r.input.clone();
        input.account_id = account;
        input.rep_id = Some(rep);
        match appointments::create_in(&mut tx, actor, &input, r.external_ref.as_deref()).await {
            Ok(booked) => report.count(if booked.replaced {
                Outcome::Updated
            } else {
                Outcome::Created
            }),
            Err(DayPlanError::Invalid(m) | DayPlanError::Conflict(m)) => {
                return Err(report.refused(vec![refuse(None, m)]));
            }
            Err(DayPlanError::Database(e)) => return Err(e.into()),
            Err(e @ (DayPlanError::NotFound | DayPlanError::Internal(_))) => {
                return Err(report.refused(vec![refuse(None, e.to_string())]));
            }
        }
    }
    finish(tx, &report, audit).await?;
    Ok(report)
}

struct HoursRow {
    row: usize,
    source: String,
    crm_id: String,
    hours: Vec<Opening>,
}

fn parse_hours(table: &Table, default_source: &str, errors: &mut Vec<RowError>) -> Vec<HoursRow> {
    let Some(columns) = Columns::resolve(table, &HOURS, errors) else {
        return Vec::new();
    };
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let mut cells = Cells::new(row, &columns, errors);
        let source = cells
            .text("source", 100)
            .unwrap_or_else(|| default_source.to_owned());
        let crm_id = cells.required_text("crm_id", 200);
        // An empty cell clears the hours (unknown: any time of the shift).
        let hours = match cells.raw("opening_hours").map(str::trim) {
            None | Some("") => Some(Vec::new()),
            Some(text) => match hours::parse(text) {
                Ok(h) => Some(h),
                Err(e) => {
                    cells.fail_with("opening_hours", e.to_string());
                    None
                }
            },
        };
        if let (true, Some(crm_id), Some(hours)) = (cells.is_valid(), crm_id, hours) {
            rows.push(HoursRow {
                row: row.number,
                source,
                crm_id,
                hours,
            });
        }
    }
    rows
}

/// Imports opening hours (OSM `opening_hours` syntax) for accounts named by source and id;
/// each row replaces the account's hours.
pub(super) async fn import_hours(
    db: &PgPool,
    reader: impl Read,
    default_source: &str,
    dry_run: bool,
    audit: Option<&ImportAudit>,
) -> Result<ImportReport, CsvError> {
    let table = read_table(reader)?;
    let mut report = ImportReport::new(dry_run, table.rows.len());
    let mut errors = table.file_errors.clone();
    let rows = parse_hours(&table, default_source, &mut errors);
    if !errors.is_empty() {
        return Err(report.refused(errors));
    }
    let mut tx = db.begin().await?;
    for r in rows {
        let Some(account) =
            live_id(&mut *tx, &CrmRef::new(r.source.as_str(), r.crm_id.as_str())).await?
        else {
            let message = "no account with this source and crm_id".to_owned();
            return Err(report.refused(vec![RowError::new(r.row, Some("crm_id"), message)]));
        };
        hours::replace(&mut tx, account, &r.hours, HoursSource::Csv).await?;
        report.count(Outcome::Updated);
    }
    finish(tx, &report, audit).await?;
    Ok(report)
}
