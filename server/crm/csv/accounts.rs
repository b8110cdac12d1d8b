//! The accounts file: its columns, import through `crm::apply`, and export.

use crate::db::Bind;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::reader::{
    Cells, Columns, Spec, Table, finish, format_timestamp, guard, guard_opt, parse_amount,
    parse_country_code, parse_int, parse_tier, parse_timestamp, read_table, write_error,
};
use super::{
    ACCOUNT_COLUMNS, ACCOUNT_READ_ONLY_COLUMNS, CsvError, EXPORT_BATCH, ImportAudit, ImportReport,
    MAX_TEXT_CHARS, RowError,
};
use crate::accounts::CrmRef;
use crate::accounts::service::{self, MINUTES, MinutesSet};
use crate::crm::apply::{self, ApplyError, ClockGuard, Outcome};
use crate::crm::canonical::{Address, CanonicalAccount, Change};
use crate::dayplan::store;

/// Imports accounts from CSV. Every row is validated first; when any row is invalid nothing is
/// written and [`CsvError::Invalid`] carries the row-numbered problems. Otherwise all rows are
/// applied in one transaction as upserts for their `source` (or `default_source`), last write
/// wins by `crm_modified_at` (absent: now). With `dry_run` the transaction is rolled back, so
/// the report says what would happen.
pub async fn import_accounts(
    db: &PgPool,
    reader: impl Read,
    default_source: &str,
    dry_run: bool,
    guard: ClockGuard,
) -> Result<ImportReport, CsvError> {
    import(db, reader, default_source, dry_run, guard, None).await
}

/// [`import_accounts`], with the audit row of a real import committed with its rows.
#[tracing::instrument(skip_all, err(level = "info"), fields(source = default_source, dry_run))]
pub(super) async fn import(
    db: &PgPool,
    reader: impl Read,
    default_source: &str,
    dry_run: bool,
    guard: ClockGuard,
    audit: Option<&ImportAudit>,
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
            Ok(outcome) => report.count(set_service_minutes(&mut tx, row, outcome).await?),
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
    finish(tx, &report, audit).await?;
    Ok(report)
}

/// Sets the row's visit minutes when the file has the column. They are Terrane's own value,
/// not the CRM's, so they apply whatever the CRM clock says: a row the clock leaves alone
/// (unchanged or stale) that changes them counts as updated. The owner's stored days from
/// today on are planned again.
async fn set_service_minutes(
    tx: &mut PgConnection,
    row: &AccountRow,
    outcome: Outcome,
) -> Result<Outcome, sqlx::Error> {
    let Some(minutes) = row.service_minutes else {
        return Ok(outcome);
    };
    let record = CrmRef::new(row.source.as_str(), row.account.crm_id.as_str());
    match service::set_minutes(&mut *tx, &record, minutes).await? {
        MinutesSet::Unchanged => Ok(outcome),
        MinutesSet::Changed { owner_rep_id } => {
            if let Some(rep) = owner_rep_id {
                store::mark_stale_from_today(tx, rep).await?;
            }
            Ok(match outcome {
                Outcome::Unchanged | Outcome::Stale => Outcome::Updated,
                other => other,
            })
        }
    }
}

/// Writes every account, soft-deleted ones included (`deleted` = `true`), ordered by source
/// and CRM id, in the import format plus the read-only columns. Returns the number of rows.
#[tracing::instrument(skip_all, err)]
pub async fn export_accounts(db: &PgPool, writer: impl Write) -> Result<u64, CsvError> {
    let mut out = ::csv::Writer::from_writer(writer);
    out.write_record(ACCOUNT_COLUMNS.iter().chain(ACCOUNT_READ_ONLY_COLUMNS))
        .map_err(write_error)?;
    let mut written = 0u64;
    let mut after: Option<CrmRef> = None;
    loop {
        let batch = account_batch(db, after.as_ref()).await?;
        for a in &batch {
            let record: [Cow<'_, str>; 22] = [
                guard(&a.record.source),
                guard(&a.record.id),
                guard(&a.name),
                guard_opt(&a.industry),
                guard_opt(&a.address.line),
                guard_opt(&a.address.house_number),
                guard_opt(&a.address.street),
                guard_opt(&a.address.postal_code),
                guard_opt(&a.address.city),
                guard_opt(&a.address.country_code),
                Cow::Borrowed(&a.tier),
                Cow::Borrowed(&a.annual_value),
                Cow::Owned(a.visits_per_year.to_string()),
                Cow::Owned(a.priority.to_string()),
                guard_opt(&a.crm_owner_id),
                Cow::Owned(a.crm_updated_at.map(format_timestamp).unwrap_or_default()),
                Cow::Owned(a.service_minutes.map(|m| m.to_string()).unwrap_or_default()),
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
                after = Some(last.record.clone());
            }
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// One validated account row.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AccountRow {
    pub(super) row: usize,
    pub(super) source: String,
    pub(super) account: CanonicalAccount,
    /// `Some` when the file has the column (empty: the tier default).
    pub(super) service_minutes: Option<Option<i32>>,
}

pub(super) const ACCOUNTS: Spec = Spec {
    columns: ACCOUNT_COLUMNS,
    read_only: ACCOUNT_READ_ONLY_COLUMNS,
    required: &["crm_id", "name"],
};

/// Validates every account row; problems go to `errors`, valid rows are returned.
pub(super) fn parse_accounts(
    table: &Table,
    default_source: &str,
    now: DateTime<Utc>,
    errors: &mut Vec<RowError>,
) -> Vec<AccountRow> {
    let Some(columns) = Columns::resolve(table, &ACCOUNTS, errors) else {
        return Vec::new();
    };
    let has_service_minutes = columns.has("service_minutes");
    let default_source = Some(default_source.trim())
        .filter(|s| !s.is_empty() && s.chars().count() <= 100)
        .map(str::to_owned);
    let mut first_seen: HashMap<CrmRef, usize> = HashMap::new();
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
        let service_minutes = cells.parse("service_minutes", |s| {
            parse_int(s, (*MINUTES.start()).into(), (*MINUTES.end()).into())
        });

        if let (Some(source), Some(crm_id)) = (&source, &crm_id) {
            match first_seen.entry(CrmRef::new(source.as_str(), crm_id.as_str())) {
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
            service_minutes: has_service_minutes.then(|| service_minutes.map(|m| m as i32)),
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
pub(super) struct AccountExport {
    #[sqlx(flatten)]
    pub(super) record: CrmRef,
    pub(super) name: String,
    pub(super) industry: Option<String>,
    #[sqlx(flatten)]
    pub(super) address: Address,
    pub(super) tier: String,
    pub(super) annual_value: String,
    pub(super) visits_per_year: i32,
    pub(super) priority: i16,
    pub(super) crm_owner_id: Option<String>,
    pub(super) crm_updated_at: Option<DateTime<Utc>>,
    pub(super) service_minutes: Option<i32>,
    pub(super) lon: Option<f64>,
    pub(super) lat: Option<f64>,
    pub(super) geocode_status: String,
    pub(super) geocode_precision: Option<String>,
    pub(super) deleted: bool,
}

/// The next accounts after the record `after` (source, then crm id) in byte order, so exports are identical
/// whatever the database's collation.
pub(super) async fn account_batch(
    db: &PgPool,
    after: Option<&CrmRef>,
) -> Result<Vec<AccountExport>, sqlx::Error> {
    sqlx::query_as(include_str!("../sql/csv_accounts_export_batch.sql"))
        .bind_all((
            after.map(|a| a.source.as_str()),
            after.map(|a| a.id.as_str()),
            EXPORT_BATCH,
        ))
        .fetch_all(db)
        .await
}
