//! The reps file: its columns, import keyed by e-mail address, and export.

use crate::crm::apply::Outcome;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Write};

use chrono::NaiveTime;
use sqlx::{PgConnection, PgPool};

use super::reader::{
    Cells, Columns, Spec, Table, finish, format_time, guard, guard_opt, parse_bool, parse_decimal,
    parse_email, parse_int, parse_time, parse_timezone_name, read_table, write_error,
};
use super::{CsvError, ImportAudit, ImportReport, REP_COLUMNS, RowError};
use crate::dayplan::store;
use crate::reps;
use crate::reps::day::{self, DaySettingsError};
use crate::spatial::LonLat;

/// Imports reps from CSV, keyed by `email` (created when new, updated otherwise). Columns left
/// out of the file keep their stored values; see `docs/csv.md` for empty cells. All-or-nothing
/// like [`import_accounts`]; `stale` and `restored` stay 0.
///
/// Import reps before the accounts they own: an account is linked to its rep by
/// `owner_crm_id` = `crm_owner_id` when the account is written.
pub async fn import_reps(
    db: &PgPool,
    reader: impl Read,
    dry_run: bool,
) -> Result<ImportReport, CsvError> {
    import(db, reader, dry_run, None).await
}

/// [`import_reps`], with the audit row of a real import committed with its rows.
#[tracing::instrument(skip_all, err(level = "info"), fields(dry_run))]
pub(super) async fn import(
    db: &PgPool,
    reader: impl Read,
    dry_run: bool,
    audit: Option<&ImportAudit>,
) -> Result<ImportReport, CsvError> {
    let table = read_table(reader)?;
    let mut report = ImportReport::new(dry_run, table.rows.len());
    let mut errors = table.file_errors.clone();
    let parsed = parse_reps(&table, &mut errors);
    if let Some(reps) = &parsed {
        check_timezones(db, &reps.rows, &mut errors).await?;
    }
    let Some(reps) = parsed.filter(|_| errors.is_empty()) else {
        return Err(report.refused(errors));
    };

    let mut tx = db.begin().await?;
    for rep in &reps.rows {
        match upsert_rep(&mut tx, &reps.present, rep).await {
            Ok(outcome) => report.count(outcome),
            Err(e) => match refused_rep_column(&e) {
                Some((column, rule)) => {
                    let message = format!("{column} {rule}");
                    let error = RowError::new(rep.row, Some(column), message);
                    return Err(report.refused(vec![error]));
                }
                None => return Err(e.into()),
            },
        }
    }
    finish(tx, &report, audit).await?;
    Ok(report)
}

/// Writes every rep ordered by e-mail address. Returns the number of rows.
#[tracing::instrument(skip_all, err)]
pub async fn export_reps(db: &PgPool, writer: impl Write) -> Result<u64, CsvError> {
    let reps: Vec<RepExport> = sqlx::query_as(include_str!("../sql/csv_reps_export.sql"))
        .fetch_all(db)
        .await?;
    let mut out = ::csv::Writer::from_writer(writer);
    out.write_record(REP_COLUMNS).map_err(write_error)?;
    for r in &reps {
        let record: [Cow<'_, str>; 16] = [
            guard(&r.email),
            guard(&r.name),
            guard_opt(&r.crm_owner_id),
            coordinate(r.home_lon),
            coordinate(r.home_lat),
            Cow::Owned(format_time(r.work_start)),
            Cow::Owned(format_time(r.work_end)),
            guard(&r.timezone),
            Cow::Borrowed(if r.active { "true" } else { "false" }),
            Cow::Owned(r.break_minutes.to_string()),
            Cow::Owned(format_time(r.break_earliest)),
            Cow::Owned(format_time(r.break_latest)),
            coordinate(r.day_start_lon),
            coordinate(r.day_start_lat),
            coordinate(r.day_end_lon),
            coordinate(r.day_end_lat),
        ];
        out.write_record(record.iter().map(|c| c.as_bytes()))
            .map_err(write_error)?;
    }
    out.flush()?;
    Ok(reps.len() as u64)
}

fn coordinate(v: Option<f64>) -> Cow<'static, str> {
    Cow::Owned(v.map(|v| v.to_string()).unwrap_or_default())
}

pub(super) const REPS: Spec = Spec {
    columns: REP_COLUMNS,
    read_only: &[],
    required: &["email", "name"],
};

/// Which optional rep columns the file has: absent columns leave stored values alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per optional column or pair"
)]
pub(super) struct RepColumnsPresent {
    pub(super) crm_owner_id: bool,
    pub(super) home: bool,
    pub(super) day_start: bool,
    pub(super) day_end: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RepRow {
    pub(super) row: usize,
    pub(super) email: String,
    pub(super) name: String,
    pub(super) crm_owner_id: Option<String>,
    pub(super) home: Option<LonLat>,
    pub(super) work_start: Option<NaiveTime>,
    pub(super) work_end: Option<NaiveTime>,
    pub(super) timezone: Option<String>,
    pub(super) active: Option<bool>,
    pub(super) break_minutes: Option<i16>,
    pub(super) break_earliest: Option<NaiveTime>,
    pub(super) break_latest: Option<NaiveTime>,
    pub(super) day_start: Option<LonLat>,
    pub(super) day_end: Option<LonLat>,
}

#[derive(Debug)]
pub(super) struct RepRows {
    pub(super) present: RepColumnsPresent,
    pub(super) rows: Vec<RepRow>,
}

/// Validates every rep row; `None` when the header itself is unusable.
pub(super) fn parse_reps(table: &Table, errors: &mut Vec<RowError>) -> Option<RepRows> {
    let columns = Columns::resolve(table, &REPS, errors)?;
    let present = RepColumnsPresent {
        crm_owner_id: columns.has("crm_owner_id"),
        home: pair_present(table, &columns, HOME, errors)?,
        day_start: pair_present(table, &columns, DAY_START, errors)?,
        day_end: pair_present(table, &columns, DAY_END, errors)?,
    };

    let mut emails: HashMap<String, usize> = HashMap::new();
    let mut owners: HashMap<String, usize> = HashMap::new();
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let mut cells = Cells::new(row, &columns, errors);
        let email = cells
            .required("email")
            .and_then(|_| cells.parse("email", parse_email));
        let name = cells.required_text("name", 200);
        let crm_owner_id = cells.text("crm_owner_id", 200);
        let home = point(&mut cells, HOME);
        let day_start = point(&mut cells, DAY_START);
        let day_end = point(&mut cells, DAY_END);
        let work_start = cells.parse("work_start", parse_time);
        let work_end = cells.parse("work_end", parse_time);
        if let (Some(start), Some(end)) = (work_start, work_end)
            && start >= end
        {
            cells.fail("work_end", "must be later than work_start");
        }
        let timezone = cells.parse("timezone", parse_timezone_name);
        let active = cells.parse("active", parse_bool);
        let (break_minutes, break_earliest, break_latest) = break_of(&mut cells);

        if let Some(email) = &email
            && let Some(first) = emails.insert(email.to_lowercase(), row.number)
        {
            cells.fail("email", format!("repeats the rep of row {first}"));
        }
        if let Some(owner) = &crm_owner_id
            && let Some(first) = owners.insert(owner.clone(), row.number)
        {
            cells.fail(
                "crm_owner_id",
                format!("repeats the owner id of row {first}"),
            );
        }
        let valid = cells.is_valid();
        let (Some(email), Some(name), true) = (email, name, valid) else {
            continue;
        };
        rows.push(RepRow {
            row: row.number,
            email,
            name,
            crm_owner_id,
            home,
            work_start,
            work_end,
            timezone,
            active,
            break_minutes,
            break_earliest,
            break_latest,
            day_start,
            day_end,
        });
    }
    Some(RepRows { present, rows })
}

/// A point's two columns.
#[derive(Clone, Copy)]
struct Pair {
    lon: &'static str,
    lat: &'static str,
}

const HOME: Pair = Pair {
    lon: "home_lon",
    lat: "home_lat",
};
const DAY_START: Pair = Pair {
    lon: "day_start_lon",
    lat: "day_start_lat",
};
const DAY_END: Pair = Pair {
    lon: "day_end_lon",
    lat: "day_end_lat",
};

/// Whether the file has a point's columns; `None` (an error of the header) when it has one of
/// the two only.
fn pair_present(
    table: &Table,
    columns: &Columns,
    pair: Pair,
    errors: &mut Vec<RowError>,
) -> Option<bool> {
    match (columns.has(pair.lon), columns.has(pair.lat)) {
        (true, true) => Some(true),
        (false, false) => Some(false),
        (has_lon, _) => {
            let missing = if has_lon { pair.lat } else { pair.lon };
            let message = format!(
                "{} and {} go together: add both columns or neither",
                pair.lon, pair.lat
            );
            errors.push(RowError::new(table.header_row, Some(missing), message));
            None
        }
    }
}

/// A row's point: both cells, or neither (`None`).
fn point(cells: &mut Cells<'_>, pair: Pair) -> Option<LonLat> {
    let lon = cells.parse(pair.lon, parse_decimal);
    let lat = cells.parse(pair.lat, parse_decimal);
    match (lon, lat) {
        (Some(lon), Some(lat)) => match LonLat::new(lon, lat) {
            Ok(p) => Some(p),
            Err(e) => {
                let column = if (-180.0..=180.0).contains(&lon) {
                    pair.lat
                } else {
                    pair.lon
                };
                cells.fail_with(column, e.to_string());
                None
            }
        },
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let column = if lon.is_some() { pair.lat } else { pair.lon };
            cells.fail(
                column,
                "must be set when the other coordinate is (or both empty)",
            );
            None
        }
    }
}

/// A row's break cells, each checked, and together when the row has all three.
fn break_of(cells: &mut Cells<'_>) -> (Option<i16>, Option<NaiveTime>, Option<NaiveTime>) {
    let max = i64::from(day::MAX_BREAK_MINUTES);
    let minutes = cells
        .parse("break_minutes", |s| parse_int(s, 0, max))
        .and_then(|m| i16::try_from(m).ok());
    let earliest = cells.parse("break_earliest", parse_time);
    let latest = cells.parse("break_latest", parse_time);
    if let (Some(earliest), Some(latest)) = (earliest, latest) {
        match day::check_break(minutes.unwrap_or(0), earliest, latest) {
            Err(DaySettingsError::BreakWindowOrder) => {
                cells.fail("break_latest", "must be later than break_earliest");
            }
            Err(DaySettingsError::BreakLongerThanWindow) => {
                cells.fail(
                    "break_minutes",
                    "is longer than the break window (break_earliest to break_latest)",
                );
            }
            _ => {}
        }
    }
    (minutes, earliest, latest)
}

/// Reports rows whose time zone PostgreSQL does not know (the tz database it was built with).
pub(super) async fn check_timezones(
    db: &PgPool,
    rows: &[RepRow],
    errors: &mut Vec<RowError>,
) -> Result<(), sqlx::Error> {
    let mut names: Vec<&str> = rows.iter().filter_map(|r| r.timezone.as_deref()).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Ok(());
    }
    let unknown: Vec<String> =
        sqlx::query_scalar(include_str!("../sql/csv_reps_check_timezones.sql"))
            .bind(&names)
            .fetch_all(db)
            .await?;
    for r in rows {
        if r.timezone.as_ref().is_some_and(|tz| unknown.contains(tz)) {
            let message = "timezone must be an IANA time zone name such as Europe/Paris";
            errors.push(RowError::new(r.row, Some("timezone"), message));
        }
    }
    Ok(())
}

/// Creates or updates one rep by e-mail address.
pub(super) async fn upsert_rep(
    db: &mut PgConnection,
    present: &RepColumnsPresent,
    rep: &RepRow,
) -> Result<Outcome, sqlx::Error> {
    let update = reps::RepUpdate {
        email: &rep.email,
        name: &rep.name,
        crm_owner_id: present.crm_owner_id.then_some(rep.crm_owner_id.as_deref()),
        home: present.home.then_some(rep.home),
        work_start: rep.work_start,
        work_end: rep.work_end,
        timezone: rep.timezone.as_deref(),
        active: rep.active,
        break_minutes: rep.break_minutes,
        break_earliest: rep.break_earliest,
        break_latest: rep.break_latest,
        day_start: present.day_start.then_some(rep.day_start),
        day_end: present.day_end.then_some(rep.day_end),
    };
    let written = reps::upsert_by_email(db, &update).await?;
    // Shift, break or start/end may have changed: the rep's stored days are planned again.
    if written == reps::Written::Updated
        && let Some(id) = reps::id_by_email(&mut *db, &rep.email).await?
    {
        store::mark_stale_from_today(db, id).await?;
    }
    Ok(match written {
        reps::Written::Created => Outcome::Created,
        reps::Written::Updated => Outcome::Updated,
        reps::Written::Unchanged => Outcome::Unchanged,
    })
}

/// The column and rule behind a constraint the reps table enforces across rows: a row-level
/// problem of the file (reported with its row number), not an error of the request.
pub(super) fn refused_rep_column(e: &sqlx::Error) -> Option<(&'static str, &'static str)> {
    match crate::db::violated_constraint(e)? {
        "reps_crm_owner_id_key" => Some(("crm_owner_id", "is already another rep's owner id")),
        "reps_hours_order" => Some(("work_end", "must be later than work_start")),
        "reps_break_window" => Some(("break_latest", "must be later than break_earliest")),
        _ => None,
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RepExport {
    pub(super) email: String,
    pub(super) name: String,
    pub(super) crm_owner_id: Option<String>,
    pub(super) home_lon: Option<f64>,
    pub(super) home_lat: Option<f64>,
    pub(super) work_start: NaiveTime,
    pub(super) work_end: NaiveTime,
    pub(super) timezone: String,
    pub(super) active: bool,
    pub(super) break_minutes: i16,
    pub(super) break_earliest: NaiveTime,
    pub(super) break_latest: NaiveTime,
    pub(super) day_start_lon: Option<f64>,
    pub(super) day_start_lat: Option<f64>,
    pub(super) day_end_lon: Option<f64>,
    pub(super) day_end_lat: Option<f64>,
}
