//! The checked-CSV reader any file goes through: it reads the table (delimiter, header,
//! spreadsheet row numbers), finds the columns of a [`Spec`], parses cells into values or the rule
//! they break, and guards cells written back out against formula injection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::io::Read;

use chrono::{DateTime, NaiveTime, SecondsFormat, Timelike, Utc};

use super::{CsvError, ImportAudit, ImportReport, MAX_FILE_BYTES, MAX_ROWS, RowError};
use crate::crm::canonical::Tier;

/// A CSV file read into memory: the header and the non-blank data rows.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) header_row: usize,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Row>,
    /// Problems with the file as a whole (empty, too many rows).
    pub(super) file_errors: Vec<RowError>,
}

#[derive(Debug)]
pub(super) struct Row {
    /// Spreadsheet row number (header = 1; blank lines count, a multi-line cell does not).
    pub(super) number: usize,
    pub(super) record: ::csv::StringRecord,
}

/// Reads a whole file: UTF-8 with an optional BOM, `,` or `;` delimited (whichever the header
/// line uses more), the first row naming the columns.
pub(super) fn read_table(input: impl Read) -> Result<Table, CsvError> {
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
pub(super) fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
pub(super) fn detect_delimiter(text: &str) -> u8 {
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
pub(super) struct Spec {
    pub(super) columns: &'static [&'static str],
    pub(super) read_only: &'static [&'static str],
    pub(super) required: &'static [&'static str],
}

/// Where each known column is in a file.
pub(super) struct Columns {
    pub(super) spec: &'static Spec,
    /// Per `spec.columns`, the index in the file.
    pub(super) at: Vec<Option<usize>>,
    pub(super) width: usize,
}

impl Columns {
    /// Matches the header by name. Unknown, unnamed or repeated columns are errors; a missing
    /// required column makes the file unusable (`None`).
    pub(super) fn resolve(
        table: &Table,
        spec: &'static Spec,
        errors: &mut Vec<RowError>,
    ) -> Option<Self> {
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

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        let k = self.spec.columns.iter().position(|c| *c == name);
        debug_assert!(k.is_some(), "{name} is not a column of this file type");
        self.at[k?]
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.index(name).is_some()
    }
}

/// The cells of one row, collecting that row's problems.
pub(super) struct Cells<'a> {
    pub(super) row: usize,
    pub(super) record: &'a ::csv::StringRecord,
    pub(super) columns: &'a Columns,
    pub(super) errors: &'a mut Vec<RowError>,
    pub(super) errors_before: usize,
}

impl<'a> Cells<'a> {
    pub(super) fn new(row: &'a Row, columns: &'a Columns, errors: &'a mut Vec<RowError>) -> Self {
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
    pub(super) fn raw(&self, name: &str) -> Option<&'a str> {
        let i = self.columns.index(name)?;
        self.record.get(i).map(str::trim).filter(|s| !s.is_empty())
    }

    /// Records "`name` `rule`" for this row.
    pub(super) fn fail(&mut self, name: &str, rule: impl Display) {
        self.fail_with(name, format!("{name} {rule}"));
    }

    pub(super) fn fail_with(&mut self, name: &str, message: String) {
        self.errors
            .push(RowError::new(self.row, Some(name), message));
    }

    pub(super) fn text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let value = unguard(self.raw(name)?);
        if value.chars().count() > max_chars {
            self.fail(name, format_args!("must be at most {max_chars} characters"));
            return None;
        }
        Some(value.to_owned())
    }

    /// The trimmed cell; an empty one is reported as missing.
    pub(super) fn required(&mut self, name: &str) -> Option<&'a str> {
        let value = self.raw(name);
        if value.is_none() {
            self.fail(name, "is required");
        }
        value
    }

    pub(super) fn required_text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        self.required(name)?;
        self.text(name, max_chars)
    }

    /// Parses a non-empty cell; `parse` states the rule broken.
    pub(super) fn parse<T>(
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

    pub(super) fn is_valid(&self) -> bool {
        self.errors.len() == self.errors_before
    }
}

// ---------------------------------------------------------------------------------------------
// Cell parsers: each returns the rule a bad value breaks, never the value.

pub(super) fn parse_tier(s: &str) -> Result<Tier, &'static str> {
    Tier::parse(s).ok_or("must be A, B or C")
}

/// ISO 3166-1 alpha-2, either case; stored upper case.
pub(super) fn parse_country_code(s: &str) -> Result<String, &'static str> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err("must be a two-letter ISO 3166-1 country code such as FR")
    }
}

/// A non-negative amount with `.` as the decimal separator, below 10^12 (the column is
/// `numeric(14, 2)`; more than two decimals are rounded by the database).
pub(super) fn parse_amount(s: &str) -> Result<f64, &'static str> {
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
pub(super) fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, &'static str> {
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
pub(super) fn parse_decimal(s: &str) -> Result<f64, &'static str> {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    match s.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v),
        _ => Err("must be a number with . as the decimal separator"),
    }
}

pub(super) fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 date and time such as 2026-03-01T09:30:00Z")
}

/// `HH:MM` (or `HH:MM:SS`), 24-hour clock.
pub(super) fn parse_time(s: &str) -> Result<NaiveTime, &'static str> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .map_err(|_| "must be a time of day as HH:MM, such as 08:30")
}

pub(super) fn parse_bool(s: &str) -> Result<bool, &'static str> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err("must be true or false"),
    }
}

/// Shape only; whether the zone exists is asked of the database ([`check_timezones`]).
pub(super) fn parse_timezone_name(s: &str) -> Result<String, &'static str> {
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
pub(super) fn parse_email(s: &str) -> Result<String, &'static str> {
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

/// Characters that make a spreadsheet read a cell as a formula.
pub(super) const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text starting like a formula gets a leading `'` so spreadsheets show it instead of
/// evaluating it (CSV injection); import removes that quote again ([`unguard`]). Text that
/// already starts with quotes before a formula character gets one more, so it survives the
/// round trip.
pub(super) fn guard(s: &str) -> Cow<'_, str> {
    if s.trim_start_matches('\'').starts_with(FORMULA_START) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn guard_opt(s: &Option<String>) -> Cow<'_, str> {
    s.as_deref().map_or(Cow::Borrowed(""), guard)
}

/// Removes the quote [`guard`] adds (spreadsheets treat a leading `'` as a text marker too).
pub(super) fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_START) => rest,
        _ => s,
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed (the database keeps microseconds).
pub(super) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(super) fn format_time(t: NaiveTime) -> String {
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

pub(super) fn write_error(e: ::csv::Error) -> CsvError {
    CsvError::Io(e.into())
}

/// Commits with the import's audit row, if it has one, or rolls back for a dry run.
pub(super) async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    report: &ImportReport,
    audit: Option<&ImportAudit>,
) -> Result<(), CsvError> {
    if report.dry_run {
        tx.rollback().await?;
    } else {
        if let Some(audit) = audit {
            audit.record(&mut *tx, report).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
