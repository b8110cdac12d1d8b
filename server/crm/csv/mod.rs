//! CSV import and export of accounts and reps with the column set documented in `docs/csv.md`:
//! every row is validated before anything is written, errors carry spreadsheet row numbers,
//! and importing the same file twice changes nothing.
//!
//! Accounts go through [`super::apply`] like every other CRM change, so last-write-wins on
//! `crm_modified_at`, undeletes and the geocoding reset on a new address behave exactly as for
//! webhooks. Reps are keyed by e-mail address.

mod accounts;
mod reader;
mod reps;
mod schedule;
#[cfg(test)]
mod tests;

use std::io::Read;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::crm::apply::{ClockGuard, Outcome};

pub use accounts::{export_accounts, import_accounts};
pub use reps::{export_reps, import_reps};
pub use schedule::{APPOINTMENT_COLUMNS, HOURS_COLUMNS};

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
    "service_minutes",
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
    "break_minutes",
    "break_earliest",
    "break_latest",
    "day_start_lon",
    "day_start_lat",
    "day_end_lon",
    "day_end_lat",
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

/// What a CSV file holds.
#[derive(Debug, Clone, Copy)]
pub enum ImportKind<'a> {
    /// Accounts; rows without a `source` take `default_source`.
    Accounts {
        default_source: &'a str,
        guard: ClockGuard,
    },
    Reps,
    /// Appointments (`schedule.rs`); rows without a `source` take `default_source`.
    Appointments {
        default_source: &'a str,
    },
    /// Opening hours in OSM syntax (`schedule.rs`).
    OpeningHours {
        default_source: &'a str,
    },
}

/// An admin's import, for its audit row (`crm.csv_import`).
pub(super) struct ImportAudit {
    admin_id: Uuid,
    subject_type: &'static str,
}

impl ImportAudit {
    async fn record(
        &self,
        db: impl PgExecutor<'_>,
        report: &ImportReport,
    ) -> Result<(), sqlx::Error> {
        audit::record(
            db,
            AuditEvent {
                actor_user_id: Some(self.admin_id),
                action: "crm.csv_import",
                subject_type: Some(self.subject_type),
                subject_id: None,
                details: json!({"dry_run": report.dry_run, "report": report}),
            },
        )
        .await
    }
}

/// An admin's import from the page ([`import_accounts`] or [`import_reps`]), audited with its
/// report: a real import's audit row commits with its rows; a dry run's or a refused file's
/// (nothing was written) is recorded on its own. Other failures are not audited.
pub async fn import_audited(
    db: &PgPool,
    what: ImportKind<'_>,
    reader: impl Read,
    dry_run: bool,
    admin_id: Uuid,
) -> Result<ImportReport, CsvError> {
    let audit = ImportAudit {
        admin_id,
        subject_type: match what {
            ImportKind::Accounts { .. } => "accounts",
            ImportKind::Reps => "reps",
            ImportKind::Appointments { .. } => "appointments",
            ImportKind::OpeningHours { .. } => "opening_hours",
        },
    };
    let result = match what {
        ImportKind::Accounts {
            default_source,
            guard,
        } => accounts::import(db, reader, default_source, dry_run, guard, Some(&audit)).await,
        ImportKind::Reps => reps::import(db, reader, dry_run, Some(&audit)).await,
        ImportKind::Appointments { default_source } => {
            schedule::import_appointments(
                db,
                reader,
                default_source,
                dry_run,
                admin_id,
                Some(&audit),
            )
            .await
        }
        ImportKind::OpeningHours { default_source } => {
            schedule::import_hours(db, reader, default_source, dry_run, Some(&audit)).await
        }
    };
    match &result {
        Ok(report) if report.dry_run => audit.record(db, report).await?,
        Err(CsvError::Invalid(report)) => audit.record(db, report).await?,
        _ => {}
    }
    result
}
