//! CSV import and export of accounts and reps with the column set documented in `docs/csv.md`:
//! every row is validated before anything is written, errors carry spreadsheet row numbers,
//! and importing the same file twice changes nothing.
//!
//! Accounts go through [`super::apply`] like every other CRM change, so last-write-wins on
//! `crm_modified_at`, undeletes and the geocoding reset on a new address behave exactly as for
//! webhooks. Reps are keyed by e-mail address.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;
use std::io::{Read, Write};

use chrono::{DateTime, NaiveTime, SecondsFormat, Timelike, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::apply::{self, ApplyError, ClockGuard, Outcome};
use super::canonical::{Address, CanonicalAccount, Change, Tier};
use crate::spatial::LonLat;

/// Most data rows one file may hold; larger exports are split by the CRM or the user.
pub const MAX_ROWS: usize = 50_000;
/// Most bytes read from one file (the file is held in memory while it is validated).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most row errors listed in a report; the rest are only counted (`more_errors`).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Account columns, in export order. Import accepts them in any order.
pub const ACCOUNT_COLUMNS: &[&str] = &[
    "source",
    "crm_id",
    "name",
    "industry",
    "address_line",
    "house_number",
    "street",
    "postal_code",
    "city",
    "country_code",
    "tier",
    "annual_value",
    "visits_per_year",
    "priority",
    "owner_crm_id",
    "crm_modified_at",
];

/// Columns the export adds for information; import accepts and ignores them so an export
/// re-imports as it is.
pub const ACCOUNT_READ_ONLY_COLUMNS: &[&str] = &[
    "lon",
    "lat",
    "geocode_status",
    "geocode_precision",
    "deleted",
];

/// Rep columns, in export order.
pub const REP_COLUMNS: &[&str] = &[
    "email",
    "name",
    "crm_owner_id",
    "home_lon",
    "home_lat",
    "work_start",
    "work_end",
    "timezone",
    "active",
];

/// Longest accepted value for free-text columns without a tighter database limit.
const MAX_TEXT_CHARS: usize = 1000;
/// Rows read from the database per export query.
const EXPORT_BATCH: i64 = 1000;

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Nothing was committed: the counts say what a real import would have done.
    pub dry_run: bool,
    /// Data rows in the file (blank rows are not counted).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Soft-deleted accounts brought back by a newer row.
    pub restored: usize,
    /// Rows whose content equals what is stored.
    pub unchanged: usize,
    /// Account rows older than (or as old as) the stored record by `crm_modified_at`; ignored.
    pub stale: usize,
    /// The first [`MAX_REPORTED_ERRORS`] problems, by row. Empty when the import was applied.
    pub errors: Vec<RowError>,
    /// Problems found beyond those listed in `errors`.
    pub more_errors: usize,
}

impl ImportReport {
    fn new(dry_run: bool, rows: usize) -> Self {
        Self {
            dry_run,
            rows,
            ..Self::default()
        }
    }

    /// The report of a refused file: counts cleared, errors sorted by row and capped.
    fn refused(mut self, mut errors: Vec<RowError>) -> CsvError {
        errors.sort_by_key(|e| e.row);
        self.more_errors = errors.len().saturating_sub(MAX_REPORTED_ERRORS);
        errors.truncate(MAX_REPORTED_ERRORS);
        self.errors = errors;
        self.created = 0;
        self.updated = 0;
        self.restored = 0;
        self.unchanged = 0;
        self.stale = 0;
        CsvError::Invalid(self)
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Restored => self.restored += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Stale => self.stale += 1,
            // Upserts do not delete or merge; counted as updates should that ever change.
            Outcome::Updated | Outcome::Deleted | Outcome::Merged => self.updated += 1,
        }
    }
}

/// One problem in a file. The message names the column and the rule, never the cell's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The row as a spreadsheet numbers it: the header is row 1.
    pub row: usize,
    /// The column at fault, when there is one.
    pub column: Option<String>,
    pub message: String,
}

impl RowError {
    fn new(row: usize, column: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            row,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("reading or writing CSV: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not CSV we can read (for instance not UTF-8).
    #[error("malformed CSV at row {row}: {message}")]
    Csv { row: usize, message: String },
    #[error("the file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    /// At least one row is invalid: nothing was written. The report lists the problems.
    #[error(
        "the file has {} problem(s); nothing was imported",
        .0.errors.len() + .0.more_errors
    )]
    Invalid(ImportReport),
    #[error("database error during CSV import or export: {0}")]
    Database(#[from] sqlx::Error),
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// Imports accounts from CSV. Every row is validated first; when any row is invalid nothing is
/// written and [`CsvError::Invalid`] carries the row-numbered problems. Otherwise all rows are
/// applied in one transaction as upserts for their `source` (or `default_source`), last write
/// wins by `crm_modified_at` (absent: now). With `dry_run` the transaction is rolled back, so
/// the report says what would happen.
#[tracing::instrument(skip_all, err(level = "info"), fields(source = default_source, dry_run))]
pub async fn import_accounts(
    db: &PgPool,
    reader: impl Read,
    default_source: &str,
    dry_run: bool,
    guard: ClockGuard,
) -> Result<ImportReport, CsvError> {
    let table = read_table(reader)?;
    let mut report = ImportReport::new(dry_run, table.rows.len());
    let mut errors = table.file_errors.clone();
    let rows = parse_accounts(&table, default_source, Utc::now(), &mut errors);
    if !errors.is_empty() {
        return Err(report.refused(errors));
    }

    let mut tx = db.begin().await?;
    for row in &rows {
        let change = Change::Upsert(row.account.clone());
        match apply::apply(&mut tx, &row.source, &change, guard).await {
            Ok(outcome) => report.count(outcome),
            Err(ApplyError::Invalid(reason)) => {
                let message = format!("the database refused the row ({reason})");
                return Err(report.refused(vec![RowError::new(row.row, None, message)]));
            }
            Err(ApplyError::NotYet(reason)) => {
                return Err(report.refused(vec![RowError::new(row.row, None, reason)]));
            }
            Err(ApplyError::Database(e)) => return Err(e.into()),
        }
    }
    finish(tx, dry_run).await?;
    Ok(report)
}

/// Writes every account, soft-deleted ones included (`deleted` = `true`), ordered by source
/// and CRM id, in the import format plus the read-only columns. Returns the number of rows.
#[tracing::instrument(skip_all, err)]
pub async fn export_accounts(db: &PgPool, writer: impl Write) -> Result<u64, CsvError> {
    let mut out = ::csv::Writer::from_writer(writer);
    out.write_record(ACCOUNT_COLUMNS.iter().chain(ACCOUNT_READ_ONLY_COLUMNS))
        .map_err(write_error)?;
    let mut written = 0u64;
    let mut after: Option<(String, String)> = None;
    loop {
        let batch = account_batch(db, after.as_ref()).await?;
        for a in &batch {
            let record: [Cow<'_, str>; 21] = [
                guard(&a.crm_source),
                guard(&a.crm_id),
                guard(&a.name),
                guard_opt(&a.industry),
                guard_opt(&a.address_line),
                guard_opt(&a.house_number),
                guard_opt(&a.street),
                guard_opt(&a.postal_code),
                guard_opt(&a.city),
                guard_opt(&a.country_code),
                Cow::Borrowed(&a.tier),
                Cow::Borrowed(&a.annual_value),
                Cow::Owned(a.visits_per_year.to_string()),
                Cow::Owned(a.priority.to_string()),
                guard_opt(&a.crm_owner_id),
                Cow::Owned(a.crm_updated_at.map(format_timestamp).unwrap_or_default()),
                Cow::Owned(a.lon.map(|v| v.to_string()).unwrap_or_default()),
                Cow::Owned(a.lat.map(|v| v.to_string()).unwrap_or_default()),
                Cow::Borrowed(&a.geocode_status),
                Cow::Borrowed(a.geocode_precision.as_deref().unwrap_or("")),
                Cow::Borrowed(if a.deleted { "true" } else { "false" }),
            ];
            out.write_record(record.iter().map(|c| c.as_bytes()))
                .map_err(write_error)?;
            written += 1;
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == EXPORT_BATCH => {
                after = Some((last.crm_source.clone(), last.crm_id.clone()));
            }
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// One validated account row.
#[derive(Debug, Clone, PartialEq)]
struct AccountRow {
    row: usize,
    source: String,
    account: CanonicalAccount,
}

const ACCOUNTS: Spec = Spec {
    columns: ACCOUNT_COLUMNS,
    read_only: ACCOUNT_READ_ONLY_COLUMNS,
    required: &["crm_id", "name"],
};

/// Validates every account row; problems go to `errors`, valid rows are returned.
fn parse_accounts(
    table: &Table,
    default_source: &str,
    now: DateTime<Utc>,
    errors: &mut Vec<RowError>,
) -> Vec<AccountRow> {
    let Some(columns) = Columns::resolve(table, &ACCOUNTS, errors) else {
        return Vec::new();
    };
    let default_source = Some(default_source.trim())
        .filter(|s| !s.is_empty() && s.chars().count() <= 100)
        .map(str::to_owned);
    let mut first_seen: HashMap<(String, String), usize> = HashMap::new();
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let mut cells = Cells::new(row, &columns, errors);
        let source = match cells.text("source", 100) {
            Some(s) => Some(s),
            None if default_source.is_some() => default_source.clone(),
            None => {
                cells.fail("source", "is required (the import has no default source)");
                None
            }
        };
        let crm_id = cells.required_text("crm_id", 200);
        let name = cells.required_text("name", 500);
        let industry = cells.text("industry", MAX_TEXT_CHARS);
        let address = Address {
            line: cells.text("address_line", MAX_TEXT_CHARS),
            house_number: cells.text("house_number", MAX_TEXT_CHARS),
            street: cells.text("street", MAX_TEXT_CHARS),
            postal_code: cells.text("postal_code", MAX_TEXT_CHARS),
            city: cells.text("city", MAX_TEXT_CHARS),
            country_code: cells.parse("country_code", parse_country_code),
        };
        let tier = cells.parse("tier", parse_tier);
        let annual_value = cells.parse("annual_value", parse_amount);
        let visits_per_year = cells.parse("visits_per_year", |s| parse_int(s, 0, 366));
        let priority = cells.parse("priority", |s| parse_int(s, 1, 5));
        let owner_crm_id = cells.text("owner_crm_id", 200);
        let modified_at = cells.parse("crm_modified_at", parse_timestamp);

        if let (Some(source), Some(crm_id)) = (&source, &crm_id) {
            match first_seen.entry((source.clone(), crm_id.clone())) {
                Entry::Occupied(first) => {
                    let rule = format!("repeats the record of row {} (same source)", first.get());
                    cells.fail("crm_id", rule);
                }
                Entry::Vacant(slot) => {
                    slot.insert(row.number);
                }
            }
        }
        let valid = cells.is_valid();
        let (Some(source), Some(crm_id), Some(name), true) = (source, crm_id, name, valid) else {
            continue;
        };
        rows.push(AccountRow {
            row: row.number,
            source,
            account: CanonicalAccount {
                crm_id,
                name,
                industry,
                address,
                tier,
                annual_value,
                visits_per_year: visits_per_year.map(|v| v as i32),
                priority: priority.map(|v| v as i16),
                owner_crm_id,
                modified_at: modified_at.unwrap_or(now),
            },
        });
    }
    rows
}

#[derive(sqlx::FromRow)]
struct AccountExport {
    crm_source: String,
    crm_id: String,
    name: String,
    industry: Option<String>,
    address_line: Option<String>,
    house_number: Option<String>,
    street: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    country_code: Option<String>,
    tier: String,
    annual_value: String,
    visits_per_year: i32,
    priority: i16,
    crm_owner_id: Option<String>,
    crm_updated_at: Option<DateTime<Utc>>,
    lon: Option<f64>,
    lat: Option<f64>,
    geocode_status: String,
    geocode_precision: Option<String>,
    deleted: bool,
}

/// The next accounts after `after` (source, crm id) in byte order, so exports are identical
/// whatever the database's collation.
async fn account_batch(
    db: &PgPool,
    after: Option<&(String, String)>,
) -> Result<Vec<AccountExport>, sqlx::Error> {
    sqlx::query_as(
        r#"
        select crm_source, crm_id, name, industry, address_line, house_number, street,
               postal_code, city, country_code, tier::text as tier,
               annual_value::text as annual_value, visits_per_year, priority, crm_owner_id,
               crm_updated_at, st_x(location) as lon, st_y(location) as lat,
               geocode_status::text as geocode_status,
               geocode_precision::text as geocode_precision,
               deleted_at is not null as deleted
        from accounts
        where $1::text is null
           or (crm_source collate "C", crm_id collate "C") > ($1::text, $2::text)
        order by crm_source collate "C", crm_id collate "C"
        limit $3
        "#,
    )
    .bind(after.map(|a| a.0.as_str()))
    .bind(after.map(|a| a.1.as_str()))
    .bind(EXPORT_BATCH)
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------------------------
// Reps

/// Imports reps from CSV, keyed by `email` (created when new, updated otherwise). Columns left
/// out of the file keep their stored values; see `docs/csv.md` for empty cells. All-or-nothing
/// like [`import_accounts`]; `stale` and `restored` stay 0.
///
/// Import reps before the accounts they own: an account is linked to its rep by
/// `owner_crm_id` = `crm_owner_id` when the account is written.
#[tracing::instrument(skip_all, err(level = "info"), fields(dry_run))]
pub async fn import_reps(
    db: &PgPool,
    reader: impl Read,
    dry_run: bool,
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
    finish(tx, dry_run).await?;
    Ok(report)
}

/// Writes every rep ordered by e-mail address. Returns the number of rows.
#[tracing::instrument(skip_all, err)]
pub async fn export_reps(db: &PgPool, writer: impl Write) -> Result<u64, CsvError> {
    let reps: Vec<RepExport> = sqlx::query_as(
        r#"
        select email, name, crm_owner_id, st_x(home_base) as home_lon,
               st_y(home_base) as home_lat, work_start, work_end, timezone, active
        from reps
        order by email collate "C"
        "#,
    )
    .fetch_all(db)
    .await?;
    let mut out = ::csv::Writer::from_writer(writer);
    out.write_record(REP_COLUMNS).map_err(write_error)?;
    for r in &reps {
        let record: [Cow<'_, str>; 9] = [
            guard(&r.email),
            guard(&r.name),
            guard_opt(&r.crm_owner_id),
            Cow::Owned(r.home_lon.map(|v| v.to_string()).unwrap_or_default()),
            Cow::Owned(r.home_lat.map(|v| v.to_string()).unwrap_or_default()),
            Cow::Owned(format_time(r.work_start)),
            Cow::Owned(format_time(r.work_end)),
            guard(&r.timezone),
            Cow::Borrowed(if r.active { "true" } else { "false" }),
        ];
        out.write_record(record.iter().map(|c| c.as_bytes()))
            .map_err(write_error)?;
    }
    out.flush()?;
    Ok(reps.len() as u64)
}

const REPS: Spec = Spec {
    columns: REP_COLUMNS,
    read_only: &[],
    required: &["email", "name"],
};

/// Which optional rep columns the file has: absent columns leave stored values alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RepColumnsPresent {
    crm_owner_id: bool,
    home: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct RepRow {
    row: usize,
    email: String,
    name: String,
    crm_owner_id: Option<String>,
    home: Option<LonLat>,
    work_start: Option<NaiveTime>,
    work_end: Option<NaiveTime>,
    timezone: Option<String>,
    active: Option<bool>,
}

#[derive(Debug)]
struct RepRows {
    present: RepColumnsPresent,
    rows: Vec<RepRow>,
}

/// Validates every rep row; `None` when the header itself is unusable.
fn parse_reps(table: &Table, errors: &mut Vec<RowError>) -> Option<RepRows> {
    let columns = Columns::resolve(table, &REPS, errors)?;
    let present = RepColumnsPresent {
        crm_owner_id: columns.has("crm_owner_id"),
        home: columns.has("home_lon") || columns.has("home_lat"),
    };
    if present.home && !(columns.has("home_lon") && columns.has("home_lat")) {
        let missing = if columns.has("home_lon") {
            "home_lat"
        } else {
            "home_lon"
        };
        let message = "home_lon and home_lat go together: add both columns or neither";
        errors.push(RowError::new(table.header_row, Some(missing), message));
        return None;
    }

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
        let lon = cells.parse("home_lon", parse_decimal);
        let lat = cells.parse("home_lat", parse_decimal);
        let home = match (lon, lat) {
            (Some(lon), Some(lat)) => match LonLat::new(lon, lat) {
                Ok(p) => Some(p),
                Err(e) => {
                    let column = if (-180.0..=180.0).contains(&lon) {
                        "home_lat"
                    } else {
                        "home_lon"
                    };
                    cells.fail_with(column, e.to_string());
                    None
                }
            },
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                let column = if lon.is_some() {
                    "home_lat"
                } else {
                    "home_lon"
                };
                cells.fail(
                    column,
                    "must be set when the other coordinate is (or both empty)",
                );
                None
            }
        };
        let work_start = cells.parse("work_start", parse_time);
        let work_end = cells.parse("work_end", parse_time);
        if let (Some(start), Some(end)) = (work_start, work_end)
            && start >= end
        {
            cells.fail("work_end", "must be later than work_start");
        }
        let timezone = cells.parse("timezone", parse_timezone_name);
        let active = cells.parse("active", parse_bool);

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
        });
    }
    Some(RepRows { present, rows })
}

/// Reports rows whose time zone PostgreSQL does not know (the tz database it was built with).
async fn check_timezones(
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
    let unknown: Vec<String> = sqlx::query_scalar(
        r"
        select n from unnest($1::text[]) n
        where not exists (select 1 from pg_timezone_names t where t.name = n)
        ",
    )
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
async fn upsert_rep(
    db: &mut PgConnection,
    present: &RepColumnsPresent,
    rep: &RepRow,
) -> Result<Outcome, sqlx::Error> {
    // Inserting the key alone first lets the table's defaults fill what the file leaves out;
    // the update below then sets what the file says.
    let created: Option<uuid::Uuid> = sqlx::query_scalar(
        r"
        insert into reps (email, name) values ($1, $2)
        on conflict on constraint reps_email_key do nothing
        returning id
        ",
    )
    .bind(&rep.email)
    .bind(&rep.name)
    .fetch_optional(&mut *db)
    .await?;
    let changed: Option<bool> = sqlx::query_scalar(
        r"
        with cur as (
            select * from reps where email = $1 for update
        ),
        new as (
            select c.id, $2::text as name,
                   case when $3 then $4::text else c.crm_owner_id end as crm_owner_id,
                   case when $5
                        then st_setsrid(st_makepoint($6::float8, $7::float8), 4326)
                        else c.home_base end as home_base,
                   coalesce($8::time, c.work_start) as work_start,
                   coalesce($9::time, c.work_end) as work_end,
                   coalesce($10::text, c.timezone) as timezone,
                   coalesce($11::bool, c.active) as active
            from cur c
        )
        update reps r set
            name = n.name, crm_owner_id = n.crm_owner_id, home_base = n.home_base,
            work_start = n.work_start, work_end = n.work_end, timezone = n.timezone,
            active = n.active
        from new n
        where r.id = n.id
          and (r.name, r.crm_owner_id, r.home_base, r.work_start, r.work_end, r.timezone,
               r.active)
              is distinct from
              (n.name, n.crm_owner_id, n.home_base, n.work_start, n.work_end, n.timezone,
               n.active)
        returning true
        ",
    )
    .bind(&rep.email)
    .bind(&rep.name)
    .bind(present.crm_owner_id)
    .bind(&rep.crm_owner_id)
    .bind(present.home)
    .bind(rep.home.map(LonLat::lon))
    .bind(rep.home.map(LonLat::lat))
    .bind(rep.work_start)
    .bind(rep.work_end)
    .bind(&rep.timezone)
    .bind(rep.active)
    .fetch_optional(&mut *db)
    .await?;
    Ok(match (created, changed) {
        (Some(_), _) => Outcome::Created,
        (None, Some(_)) => Outcome::Updated,
        (None, None) => Outcome::Unchanged,
    })
}

/// The column and rule behind a constraint the reps table enforces across rows.
fn refused_rep_column(e: &sqlx::Error) -> Option<(&'static str, &'static str)> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    match db.constraint()? {
        "reps_crm_owner_id_key" => Some(("crm_owner_id", "is already another rep's owner id")),
        "reps_hours_order" => Some(("work_end", "must be later than work_start")),
        _ => None,
    }
}

#[derive(sqlx::FromRow)]
struct RepExport {
    email: String,
    name: String,
    crm_owner_id: Option<String>,
    home_lon: Option<f64>,
    home_lat: Option<f64>,
    work_start: NaiveTime,
    work_end: NaiveTime,
    timezone: String,
    active: bool,
}

// ---------------------------------------------------------------------------------------------
// Reading files

/// A CSV file read into memory: the header and the non-blank data rows.
#[derive(Debug)]
struct Table {
    header_row: usize,
    header: Vec<String>,
    rows: Vec<Row>,
    /// Problems with the file as a whole (empty, too many rows).
    file_errors: Vec<RowError>,
}

#[derive(Debug)]
struct Row {
    /// Spreadsheet row number (header = 1; blank lines count, a multi-line cell does not).
    number: usize,
    record: ::csv::StringRecord,
}

/// Reads a whole file: UTF-8 with an optional BOM, `,` or `;` delimited (whichever the header
/// line uses more), the first row naming the columns.
fn read_table(input: impl Read) -> Result<Table, CsvError> {
    let mut bytes = Vec::new();
    input.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(CsvError::TooLarge {
            max_bytes: MAX_FILE_BYTES,
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| CsvError::Csv {
        row: line_at(&bytes, e.valid_up_to()),
        message: "the text is not UTF-8; save the file as \"CSV UTF-8\"".to_owned(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table {
        header_row: 1,
        header: Vec::new(),
        rows: Vec::new(),
        file_errors: Vec::new(),
    };
    let mut record = ::csv::StringRecord::new();
    let mut header_seen = false;
    // Line breaks inside quoted cells: a spreadsheet shows such a record as one row.
    let mut breaks_in_cells = 0u64;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| CsvError::Csv {
            row: e.position().map_or(0, |p| p.line() as usize),
            message: "the file is not well-formed CSV".to_owned(),
        })?;
        if !more {
            break;
        }
        // The reader's position is where it started looking, before any blank lines it
        // skipped; spreadsheets number those blank lines, so count them in.
        let (line, byte) = record.position().map_or((1, 0), |p| (p.line(), p.byte()));
        let blank_lines = text
            .as_bytes()
            .iter()
            .skip(usize::try_from(byte).unwrap_or(usize::MAX))
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|b| **b == b'\n')
            .count() as u64;
        let number = (line + blank_lines).saturating_sub(breaks_in_cells) as usize;
        breaks_in_cells += record
            .iter()
            .map(|cell| cell.bytes().filter(|b| *b == b'\n').count() as u64)
            .sum::<u64>();
        if !header_seen {
            header_seen = true;
            table.header_row = number;
            table.header = record.iter().map(|h| h.trim().to_lowercase()).collect();
            continue;
        }
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if table.rows.len() == MAX_ROWS {
            let message = format!("the file has more than {MAX_ROWS} data rows; split it");
            table.file_errors.push(RowError::new(number, None, message));
            break;
        }
        table.rows.push(Row {
            number,
            record: record.clone(),
        });
    }
    if !header_seen {
        let message = "the file is empty; its first row must name the columns";
        table.file_errors.push(RowError::new(1, None, message));
    }
    Ok(table)
}

/// 1-based line of a byte offset.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
fn detect_delimiter(text: &str) -> u8 {
    let header = text.split('\n').next().unwrap_or("");
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// The columns a file may have.
struct Spec {
    columns: &'static [&'static str],
    read_only: &'static [&'static str],
    required: &'static [&'static str],
}

/// Where each known column is in a file.
struct Columns {
    spec: &'static Spec,
    /// Per `spec.columns`, the index in the file.
    at: Vec<Option<usize>>,
    width: usize,
}

impl Columns {
    /// Matches the header by name. Unknown, unnamed or repeated columns are errors; a missing
    /// required column makes the file unusable (`None`).
    fn resolve(table: &Table, spec: &'static Spec, errors: &mut Vec<RowError>) -> Option<Self> {
        if table.header.is_empty() {
            return None;
        }
        let row = table.header_row;
        let mut at = vec![None; spec.columns.len()];
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in table.header.iter().enumerate() {
            if name.is_empty() {
                let message = format!("column {} has no name in the header", i + 1);
                errors.push(RowError::new(row, None, message));
                continue;
            }
            if seen.insert(name, i).is_some() {
                let message = format!("column {name} appears more than once in the header");
                errors.push(RowError::new(row, Some(name), message));
                continue;
            }
            if let Some(k) = spec.columns.iter().position(|c| c == name) {
                at[k] = Some(i);
            } else if !spec.read_only.contains(&name.as_str()) {
                let message = format!(
                    "unknown column {name}; the columns are: {}",
                    spec.columns.join(", ")
                );
                errors.push(RowError::new(row, Some(name), message));
            }
        }
        let mut complete = true;
        for required in spec.required {
            if !seen.contains_key(required) {
                let message = format!("the required column {required} is missing");
                errors.push(RowError::new(row, Some(required), message));
                complete = false;
            }
        }
        complete.then_some(Self {
            spec,
            at,
            width: table.header.len(),
        })
    }

    fn index(&self, name: &str) -> Option<usize> {
        let k = self.spec.columns.iter().position(|c| *c == name);
        debug_assert!(k.is_some(), "{name} is not a column of this file type");
        self.at[k?]
    }

    fn has(&self, name: &str) -> bool {
        self.index(name).is_some()
    }
}

/// The cells of one row, collecting that row's problems.
struct Cells<'a> {
    row: usize,
    record: &'a ::csv::StringRecord,
    columns: &'a Columns,
    errors: &'a mut Vec<RowError>,
    errors_before: usize,
}

impl<'a> Cells<'a> {
    fn new(row: &'a Row, columns: &'a Columns, errors: &'a mut Vec<RowError>) -> Self {
        let errors_before = errors.len();
        let cells = Self {
            row: row.number,
            record: &row.record,
            columns,
            errors,
            errors_before,
        };
        // Missing trailing cells read as empty; extra cells are only a problem with content.
        if row
            .record
            .iter()
            .skip(columns.width)
            .any(|cell| !cell.trim().is_empty())
        {
            let message = format!(
                "the row has more values than the header has columns ({})",
                columns.width
            );
            cells.errors.push(RowError::new(cells.row, None, message));
        }
        cells
    }

    /// The trimmed cell, `None` when the column is absent or the cell empty.
    fn raw(&self, name: &str) -> Option<&'a str> {
        let i = self.columns.index(name)?;
        self.record.get(i).map(str::trim).filter(|s| !s.is_empty())
    }

    /// Records "`name` `rule`" for this row.
    fn fail(&mut self, name: &str, rule: impl Display) {
        self.fail_with(name, format!("{name} {rule}"));
    }

    fn fail_with(&mut self, name: &str, message: String) {
        self.errors
            .push(RowError::new(self.row, Some(name), message));
    }

    fn text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let value = unguard(self.raw(name)?);
        if value.chars().count() > max_chars {
            self.fail(name, format_args!("must be at most {max_chars} characters"));
            return None;
        }
        Some(value.to_owned())
    }

    /// The trimmed cell; an empty one is reported as missing.
    fn required(&mut self, name: &str) -> Option<&'a str> {
        let value = self.raw(name);
        if value.is_none() {
            self.fail(name, "is required");
        }
        value
    }

    fn required_text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        self.required(name)?;
        self.text(name, max_chars)
    }

    /// Parses a non-empty cell; `parse` states the rule broken.
    fn parse<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Option<T> {
        match parse(self.raw(name)?) {
            Ok(value) => Some(value),
            Err(rule) => {
                self.fail(name, rule);
                None
            }
        }
    }

    fn is_valid(&self) -> bool {
        self.errors.len() == self.errors_before
    }
}

// ---------------------------------------------------------------------------------------------
// Cell parsers: each returns the rule a bad value breaks, never the value.

fn parse_tier(s: &str) -> Result<Tier, &'static str> {
    Tier::parse(s).ok_or("must be A, B or C")
}

/// ISO 3166-1 alpha-2, either case; stored upper case.
fn parse_country_code(s: &str) -> Result<String, &'static str> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err("must be a two-letter ISO 3166-1 country code such as FR")
    }
}

/// A non-negative amount with `.` as the decimal separator, below 10^12 (the column is
/// `numeric(14, 2)`; more than two decimals are rounded by the database).
fn parse_amount(s: &str) -> Result<f64, &'static str> {
    if s.starts_with('-') {
        return Err("must not be negative");
    }
    if s.contains(',') {
        return Err("must use . as the decimal separator and no thousands separator");
    }
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err("must be a number such as 1250.50");
    }
    if whole.trim_start_matches('0').len() > 12 {
        return Err("must be less than 1000000000000");
    }
    s.parse().map_err(|_| "must be a number such as 1250.50")
}

/// A whole number within `min..=max`.
fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, &'static str> {
    match s.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(match (min, max) {
            (0, 366) => "must be between 0 and 366",
            (1, 5) => "must be between 1 and 5",
            _ => "is out of range",
        }),
        Err(_) => Err("must be a whole number"),
    }
}

/// A decimal number with `.` as the decimal separator (coordinates).
fn parse_decimal(s: &str) -> Result<f64, &'static str> {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    match s.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v),
        _ => Err("must be a number with . as the decimal separator"),
    }
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 date and time such as 2026-03-01T09:30:00Z")
}

/// `HH:MM` (or `HH:MM:SS`), 24-hour clock.
fn parse_time(s: &str) -> Result<NaiveTime, &'static str> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .map_err(|_| "must be a time of day as HH:MM, such as 08:30")
}

fn parse_bool(s: &str) -> Result<bool, &'static str> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err("must be true or false"),
    }
}

/// Shape only; whether the zone exists is asked of the database ([`check_timezones`]).
fn parse_timezone_name(s: &str) -> Result<String, &'static str> {
    let ok = s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be an IANA time zone name such as Europe/Paris")
    }
}

/// One `@` with something on both sides, no spaces, at most 254 characters.
fn parse_email(s: &str) -> Result<String, &'static str> {
    let ok = s.len() <= 254
        && !s.chars().any(char::is_whitespace)
        && s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && s.matches('@').count() == 1;
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be an e-mail address")
    }
}

// ---------------------------------------------------------------------------------------------
// Writing files

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text starting like a formula gets a leading `'` so spreadsheets show it instead of
/// evaluating it (CSV injection); import removes that quote again ([`unguard`]). Text that
/// already starts with quotes before a formula character gets one more, so it survives the
/// round trip.
fn guard(s: &str) -> Cow<'_, str> {
    if s.trim_start_matches('\'').starts_with(FORMULA_START) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn guard_opt(s: &Option<String>) -> Cow<'_, str> {
    s.as_deref().map_or(Cow::Borrowed(""), guard)
}

/// Removes the quote [`guard`] adds (spreadsheets treat a leading `'` as a text marker too).
fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_START) => rest,
        _ => s,
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed (the database keeps microseconds).
fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn format_time(t: NaiveTime) -> String {
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

fn write_error(e: ::csv::Error) -> CsvError {
    CsvError::Io(e.into())
}

/// Commits, or rolls back for a dry run.
async fn finish(tx: sqlx::Transaction<'_, sqlx::Postgres>, dry_run: bool) -> Result<(), CsvError> {
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        read_table(text.as_bytes()).expect("readable CSV")
    }

    fn accounts(text: &str) -> (Vec<AccountRow>, Vec<RowError>) {
        let mut errors = Vec::new();
        let rows = parse_accounts(&table(text), "csv", Utc::now(), &mut errors);
        (rows, errors)
    }

    fn error_cells(errors: &[RowError]) -> Vec<(usize, Option<&str>)> {
        errors
            .iter()
            .map(|e| (e.row, e.column.as_deref()))
            .collect()
    }

    #[test]
    fn amounts_use_a_dot_and_are_never_negative() {
        assert_eq!(parse_amount("1250.50"), Ok(1250.5));
        assert_eq!(parse_amount("0"), Ok(0.0));
        assert_eq!(parse_amount(".5"), Ok(0.5));
        assert_eq!(parse_amount("999999999999.99"), Ok(999_999_999_999.99));
        assert_eq!(parse_amount("-1"), Err("must not be negative"));
        assert!(parse_amount("1,5").is_err());
        assert!(parse_amount("1 000").is_err());
        assert!(parse_amount("1e5").is_err());
        assert!(parse_amount("NaN").is_err());
        assert!(parse_amount(".").is_err());
        assert!(parse_amount("1000000000000").is_err());
    }

    #[test]
    fn integers_are_checked_against_their_range() {
        assert_eq!(parse_int("366", 0, 366), Ok(366));
        assert_eq!(parse_int("0", 0, 366), Ok(0));
        assert_eq!(parse_int("367", 0, 366), Err("must be between 0 and 366"));
        assert_eq!(parse_int("0", 1, 5), Err("must be between 1 and 5"));
        assert_eq!(parse_int("2.5", 1, 5), Err("must be a whole number"));
    }

    #[test]
    fn country_codes_are_two_letters_stored_upper_case() {
        assert_eq!(parse_country_code("fr"), Ok("FR".to_owned()));
        assert_eq!(parse_country_code("MC"), Ok("MC".to_owned()));
        assert!(parse_country_code("FRA").is_err());
        assert!(parse_country_code("F1").is_err());
        assert!(parse_country_code("É").is_err());
    }

    #[test]
    fn tiers_timestamps_times_and_booleans_parse() {
        assert_eq!(parse_tier("b"), Ok(Tier::B));
        assert!(parse_tier("D").is_err());
        let t = parse_timestamp("2026-03-01T10:30:00+01:00").expect("valid");
        assert_eq!(format_timestamp(t), "2026-03-01T09:30:00Z");
        assert!(parse_timestamp("2026-03-01 09:30").is_err());
        let t = parse_time("08:30").expect("valid");
        assert_eq!(format_time(t), "08:30");
        let t = parse_time("17:45:10").expect("valid");
        assert_eq!(format_time(t), "17:45:10");
        assert!(parse_time("25:00").is_err());
        assert!(parse_time("8h30").is_err());
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn emails_and_time_zones_are_checked_for_shape() {
        assert!(parse_email("ana@example.com").is_ok());
        assert!(parse_email("@example.com").is_err());
        assert!(parse_email("ana@").is_err());
        assert!(parse_email("a na@example.com").is_err());
        assert!(parse_email("a@b@c").is_err());
        assert!(parse_timezone_name("Europe/Paris").is_ok());
        assert!(parse_timezone_name("Etc/GMT+1").is_ok());
        assert!(parse_timezone_name("Europe Paris").is_err());
    }

    #[test]
    fn coordinates_need_a_dot_decimal() {
        assert_eq!(parse_decimal("-7.25"), Ok(-7.25));
        assert!(parse_decimal("7,25").is_err());
        assert!(parse_decimal("inf").is_err());
    }

    #[test]
    fn the_delimiter_is_read_from_the_header() {
        assert_eq!(detect_delimiter("a,b,c\n1;2;3"), b',');
        assert_eq!(detect_delimiter("a;b;c\n1,2,3"), b';');
        assert_eq!(detect_delimiter("\"x,y\";b;c"), b';');
        assert_eq!(detect_delimiter("single"), b',');
    }

    #[test]
    fn row_numbers_match_a_spreadsheet() {
        let t = table("\u{feff}crm_id,name\n1,\"two\nlines\"\n\n2,b\n,\n3,c\n");
        assert_eq!(t.header, ["crm_id", "name"]);
        let numbers: Vec<usize> = t.rows.iter().map(|r| r.number).collect();
        // Row 2 spans two lines but is one row; row 3 is blank, row 5 has only delimiters.
        assert_eq!(numbers, [2, 4, 6]);

        let t = table("\r\ncrm_id,name\r\n\r\n1,a\r\n");
        assert_eq!((t.header_row, t.rows[0].number), (2, 4));
    }

    #[test]
    fn non_utf8_files_are_refused_with_their_row() {
        let bytes = b"crm_id,name\n1,ok\n2,caf\xe9\n";
        match read_table(&bytes[..]) {
            Err(CsvError::Csv { row, .. }) => assert_eq!(row, 3),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_file_is_reported() {
        let (rows, errors) = accounts("");
        assert!(rows.is_empty());
        let t = table("");
        assert_eq!(error_cells(&t.file_errors), [(1, None)]);
        assert!(errors.is_empty(), "no header, nothing to check against");
    }

    #[test]
    fn header_problems_name_the_columns() {
        let (_, errors) = accounts("crm_id,name,colour,name,,lat\n1,a,red,a,,\n");
        assert_eq!(
            error_cells(&errors),
            [(1, Some("colour")), (1, Some("name")), (1, None)]
        );
        let (rows, errors) = accounts("crm_id,industry\n1,x\n");
        assert!(rows.is_empty());
        assert_eq!(error_cells(&errors), [(1, Some("name"))]);
    }

    #[test]
    fn account_rows_become_canonical_accounts() {
        let (rows, errors) = accounts(
            "name;crm_id;country_code;annual_value;tier;crm_modified_at;source;lat\n\
             '=SUM(A1);42;mc;10.5;a;2026-01-02T03:04:05Z;;43.7\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let row = &rows[0];
        assert_eq!((row.row, row.source.as_str()), (2, "csv"));
        let a = &row.account;
        assert_eq!(a.name, "=SUM(A1)", "the export's formula guard is removed");
        assert_eq!(a.crm_id, "42");
        assert_eq!(a.address.country_code.as_deref(), Some("MC"));
        assert_eq!(a.annual_value, Some(10.5));
        assert_eq!(a.tier, Some(Tier::A));
        assert_eq!(format_timestamp(a.modified_at), "2026-01-02T03:04:05Z");
        assert_eq!(a.visits_per_year, None);
    }

    #[test]
    fn every_bad_cell_is_reported_without_its_value() {
        let (rows, errors) = accounts(
            "crm_id,name,tier,annual_value,priority\n\
             1,Secret Name,Z,-3,9\n\
             2,,A,1,1\n\
             1,Again,A,1,1\n\
             3,Fine,A,1,1,extra\n",
        );
        assert!(rows.is_empty() || rows.iter().all(|r| r.row != 2));
        assert_eq!(
            error_cells(&errors),
            [
                (2, Some("tier")),
                (2, Some("annual_value")),
                (2, Some("priority")),
                (3, Some("name")),
                (4, Some("crm_id")),
                (5, None),
            ]
        );
        assert_eq!(errors[3].message, "name is required");
        assert_eq!(
            errors[4].message,
            "crm_id repeats the record of row 2 (same source)"
        );
        assert!(errors.iter().all(|e| !e.message.contains("Secret")));
    }

    #[test]
    fn the_same_crm_id_from_two_sources_is_two_records() {
        let (rows, errors) = accounts("source,crm_id,name\nhubspot,1,a\nsalesforce,1,b\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn reports_are_capped() {
        let mut text = String::from("crm_id,name\n");
        for i in 0..150 {
            text.push_str(&format!("{i},\n"));
        }
        let (_, errors) = accounts(&text);
        let CsvError::Invalid(report) = ImportReport::new(false, 150).refused(errors) else {
            panic!("refused gives Invalid");
        };
        assert_eq!(report.errors.len(), MAX_REPORTED_ERRORS);
        assert_eq!(report.more_errors, 50);
        assert_eq!(report.errors[0].row, 2);
    }

    #[test]
    fn rep_rows_check_coordinates_and_hours() {
        let mut errors = Vec::new();
        let t = table(
            "email,name,home_lon,home_lat,work_start,work_end\n\
             a@x.io,A,7.4,43.7,08:00,17:00\n\
             b@x.io,B,7.4,,18:00,09:00\n\
             A@x.io,C,200,43,,\n\
             ,D,,,,\n",
        );
        let reps = parse_reps(&t, &mut errors).expect("usable header");
        assert_eq!(reps.rows.len(), 1);
        assert!(reps.present.home && !reps.present.crm_owner_id);
        assert_eq!(
            error_cells(&errors),
            [
                (3, Some("home_lat")),
                (3, Some("work_end")),
                (4, Some("home_lon")),
                (4, Some("email")),
                (5, Some("email")),
            ]
        );
    }

    #[test]
    fn rep_coordinates_come_in_pairs_of_columns() {
        let mut errors = Vec::new();
        let t = table("email,name,home_lon\na@x.io,A,7\n");
        assert!(parse_reps(&t, &mut errors).is_none());
        assert_eq!(error_cells(&errors), [(1, Some("home_lat"))]);
    }

    #[test]
    fn formula_guard_round_trips() {
        for s in ["=1+1", "+33", "-x", "@a", "plain", "'quoted", "'=kept?"] {
            assert_eq!(unguard(&guard(s)), s);
        }
        assert_eq!(guard("=1"), "'=1");
        assert_eq!(guard("'=1"), "''=1");
        assert_eq!(guard("Café"), "Café");
    }
}
