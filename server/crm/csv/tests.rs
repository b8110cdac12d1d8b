use chrono::Utc;

use crate::crm::canonical::Tier;

use super::accounts::*;
use super::reader::*;
use super::reps::*;
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
