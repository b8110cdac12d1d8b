//! CSV import and export of accounts and reps against a real PostGIS database: values,
//! idempotence, row-numbered refusals, last-write-wins, geocoding reset and round trips.

use crate::helpers::count;
use crate::helpers::page_html;
use crate::helpers::{scalar, scalar_by};
use std::fs::File;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use terrane::crm::apply::{self, ClockGuard};
use terrane::crm::canonical::Change;
use terrane::crm::csv::{self, CsvError, ImportReport};

fn fixture(name: &str) -> File {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/csv")
        .join(name);
    File::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

pub(crate) async fn import_accounts(pool: &PgPool, file: &str) -> ImportReport {
    csv::import_accounts(pool, fixture(file), "csv", false, ClockGuard::default())
        .await
        .expect("the accounts file imports")
}

pub(crate) async fn import_reps(pool: &PgPool, file: &str) -> ImportReport {
    csv::import_reps(pool, fixture(file), false)
        .await
        .expect("the reps file imports")
}

/// The report of a refused import.
pub(crate) fn refused(result: Result<ImportReport, CsvError>) -> ImportReport {
    match result {
        Err(CsvError::Invalid(report)) => report,
        other => panic!("expected the file to be refused, got {other:?}"),
    }
}

pub(crate) fn error_cells(report: &ImportReport) -> Vec<(usize, Option<&str>)> {
    report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_deref()))
        .collect()
}

pub(crate) async fn export_accounts(pool: &PgPool) -> String {
    let mut out = Vec::new();
    csv::export_accounts(pool, &mut out)
        .await
        .expect("accounts export");
    String::from_utf8(out).expect("UTF-8 export")
}

pub(crate) async fn export_reps(pool: &PgPool) -> String {
    let mut out = Vec::new();
    csv::export_reps(pool, &mut out).await.expect("reps export");
    String::from_utf8(out).expect("UTF-8 export")
}

async fn account_count(pool: &PgPool) -> i64 {
    scalar(pool, "select count(*) from accounts").await
}

async fn account_text(pool: &PgPool, crm_id: &str, expr: &str) -> Option<String> {
    scalar_by(
        pool,
        &format!("select ({expr})::text from accounts where crm_source = 'csv' and crm_id = $1"),
        crm_id,
    )
    .await
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn importing_accounts_stores_their_values(pool: PgPool) {
    import_reps(&pool, "reps.csv").await;

    let report = import_accounts(&pool, "accounts.csv").await;

    assert_eq!((report.rows, report.created), (5, 5));
    assert!(report.errors.is_empty());
    let row: (
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        i32,
        i16,
        String,
    ) = sqlx::query_as(
        r"
            select a.name, a.house_number, a.street, a.tier::text, a.annual_value::text,
                   a.visits_per_year, a.priority, r.email
            from accounts a join reps r on r.id = a.owner_rep_id
            where a.crm_source = 'csv' and a.crm_id = 'ACC-001'
            ",
    )
    .fetch_one(&pool)
    .await
    .expect("ACC-001 with its owner");
    assert_eq!(
        row,
        (
            "Boulangerie du Port".to_owned(),
            Some("6".to_owned()),
            Some("Quai Antoine 1er".to_owned()),
            "A".to_owned(),
            "12500.50".to_owned(),
            12,
            1,
            "ana.martin@example.com".to_owned(),
        )
    );
    let clock: Option<DateTime<Utc>> = scalar(
        &pool,
        "select crm_updated_at from accounts where crm_source = 'csv' and crm_id = 'ACC-003'",
    )
    .await;
    assert_eq!(
        clock.map(|t| t.to_rfc3339()),
        Some("2026-02-15T07:00:00+00:00".to_owned())
    );
    assert_eq!(
        account_text(&pool, "ACC-003", "country_code")
            .await
            .as_deref(),
        Some("MC")
    );
    assert_eq!(
        account_text(&pool, "ACC-002", "name").await.as_deref(),
        Some("Hôtel Bellevue, SA")
    );
    // Empty cells take the table's defaults.
    assert_eq!(
        account_text(
            &pool,
            "ACC-005",
            "(tier, visits_per_year, priority, geocode_status)"
        )
        .await
        .as_deref(),
        Some("(C,4,3,pending)")
    );
    let hubspot: String = scalar(
        &pool,
        "select name from accounts where crm_source = 'hubspot' and crm_id = 'ACC-001'",
    )
    .await;
    assert_eq!(hubspot, "Garage Riviera");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn importing_the_same_file_twice_changes_nothing(pool: PgPool) {
    import_accounts(&pool, "accounts.csv").await;
    let before = export_accounts(&pool).await;

    let again = import_accounts(&pool, "accounts.csv").await;

    assert_eq!(
        (again.created, again.updated, again.unchanged, again.stale),
        (0, 0, 5, 0)
    );
    assert_eq!(account_count(&pool).await, 5);
    let after = export_accounts(&pool).await;
    let without_clock = |s: &str| -> Vec<String> {
        // ACC-005 has no crm_modified_at, so its clock is the time of each import.
        s.lines()
            .filter(|l| !l.starts_with("csv,ACC-005,"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(without_clock(&after), without_clock(&before));
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_file_with_bad_rows_is_refused_with_row_numbers_and_writes_nothing(pool: PgPool) {
    let result = csv::import_accounts(
        &pool,
        fixture("accounts_invalid.csv"),
        "csv",
        false,
        ClockGuard::default(),
    )
    .await;

    let report = refused(result);
    assert_eq!(
        error_cells(&report),
        [
            (1, Some("colour")),
            (3, Some("tier")),
            (4, Some("annual_value")),
            (5, Some("name")),
            (6, Some("country_code")),
            (7, Some("crm_id")),
        ]
    );
    assert_eq!(report.rows, 6);
    assert_eq!((report.created, report.more_errors), (0, 0));
    for e in &report.errors {
        for value in ["crimson", "FRA", "-5", "Bad Tier", "Duplicate"] {
            assert!(
                !e.message.contains(value),
                "row {} message {:?} echoes a cell",
                e.row,
                e.message
            );
        }
    }
    assert_eq!(account_count(&pool).await, 0, "nothing was written");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_semicolon_file_with_a_bom_imports(pool: PgPool) {
    let report = import_accounts(&pool, "accounts_semicolon_bom.csv").await;

    assert_eq!(report.created, 3);
    assert_eq!(
        account_text(&pool, "EXL-1", "(name, annual_value, tier)")
            .await
            .as_deref(),
        Some("(\"Crêperie Saint-Roman\",1234.50,B)")
    );
    assert_eq!(
        account_text(&pool, "EXL-2", "name").await.as_deref(),
        Some("Fleuriste \"Les Roses\"")
    );
    assert_eq!(
        account_text(&pool, "EXL-3", "name").await.as_deref(),
        Some("Café, Tabac")
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_dry_run_reports_what_would_happen_and_writes_nothing(pool: PgPool) {
    let report = csv::import_accounts(
        &pool,
        fixture("accounts.csv"),
        "csv",
        true,
        ClockGuard::default(),
    )
    .await
    .expect("valid file");

    assert!(report.dry_run);
    assert_eq!(report.created, 5);
    assert_eq!(account_count(&pool).await, 0);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_row_older_than_the_stored_record_is_stale_and_changes_nothing(pool: PgPool) {
    import_accounts(&pool, "accounts.csv").await;
    let older = "crm_id,name,crm_modified_at\nACC-001,Renamed,2026-01-01T00:00:00Z\n";

    let report = csv::import_accounts(&pool, older.as_bytes(), "csv", false, ClockGuard::default())
        .await
        .expect("valid file");

    assert_eq!((report.stale, report.updated), (1, 0));
    assert_eq!(
        account_text(&pool, "ACC-001", "name").await.as_deref(),
        Some("Boulangerie du Port")
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_new_address_sends_the_account_back_to_geocoding(pool: PgPool) {
    import_accounts(&pool, "accounts.csv").await;
    // As the geocoder would leave it.
    sqlx::query(
        r"
        update accounts set geocode_status = 'ok', geocode_precision = 'rooftop',
                            location = st_setsrid(st_makepoint(7.4246, 43.7384), 4326)
        where crm_source = 'csv' and crm_id = 'ACC-001'
        ",
    )
    .execute(&pool)
    .await
    .expect("geocode ACC-001");
    let header = "crm_id,name,house_number,street,postal_code,city,country_code,crm_modified_at";

    let renamed = format!(
        "{header}\nACC-001,Boulangerie du Port SARL,6,Quai Antoine 1er,98000,Monaco,MC,2026-03-05T00:00:00Z\n"
    );
    let report = csv::import_accounts(
        &pool,
        renamed.as_bytes(),
        "csv",
        false,
        ClockGuard::default(),
    )
    .await
    .expect("valid file");
    assert_eq!(report.updated, 1);
    assert_eq!(
        account_text(&pool, "ACC-001", "geocode_status")
            .await
            .as_deref(),
        Some("ok"),
        "a new name keeps the geocode"
    );

    let moved = format!(
        "{header}\nACC-001,Boulangerie du Port SARL,8,Quai Antoine 1er,98000,Monaco,MC,2026-03-06T00:00:00Z\n"
    );
    let report = csv::import_accounts(&pool, moved.as_bytes(), "csv", false, ClockGuard::default())
        .await
        .expect("valid file");
    assert_eq!(report.updated, 1);
    assert_eq!(
        account_text(&pool, "ACC-001", "geocode_status")
            .await
            .as_deref(),
        Some("pending"),
        "a new address is geocoded again"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn export_then_import_into_an_empty_database_gives_the_same_file(pool: PgPool) {
    import_reps(&pool, "reps.csv").await;
    import_accounts(&pool, "accounts.csv").await;
    let first = export_accounts(&pool).await;
    sqlx::query("delete from accounts")
        .execute(&pool)
        .await
        .expect("empty the accounts");

    let report = csv::import_accounts(&pool, first.as_bytes(), "csv", false, ClockGuard::default())
        .await
        .expect("an export re-imports");
    let second = export_accounts(&pool).await;

    assert_eq!(report.created, 5);
    assert_eq!(second, first);
    let mut lines = first.lines();
    assert_eq!(
        lines.next(),
        Some(
            "source,crm_id,name,industry,address_line,house_number,street,postal_code,city,\
             country_code,tier,annual_value,visits_per_year,priority,owner_crm_id,\
             crm_modified_at,service_minutes,lon,lat,geocode_status,geocode_precision,deleted"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "csv,ACC-001,Boulangerie du Port,Bakery,,6,Quai Antoine 1er,98000,Monaco,MC,A,\
             12500.50,12,1,OWN-1,2026-03-01T09:30:00Z,,,,pending,,false"
        )
    );
    assert!(
        first.contains("csv,ACC-005,'=Formula Corp,"),
        "formula-like text is quoted for spreadsheets"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn export_flags_soft_deleted_accounts(pool: PgPool) {
    import_accounts(&pool, "accounts.csv").await;
    let at = DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc);
    let mut conn = pool.acquire().await.expect("connection");
    apply::apply(
        &mut conn,
        "csv",
        &Change::Delete {
            crm_id: "ACC-002".to_owned(),
            at,
        },
        ClockGuard::default(),
    )
    .await
    .expect("soft delete");

    let export = export_accounts(&pool).await;

    let line = export
        .lines()
        .find(|l| l.starts_with("csv,ACC-002,"))
        .expect("deleted accounts are exported");
    assert!(
        line.ends_with(",2026-04-01T00:00:00Z,,,,pending,,true"),
        "{line}"
    );
    assert_eq!(export.lines().count(), 6);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reps_import_is_idempotent_and_round_trips(pool: PgPool) {
    let report = import_reps(&pool, "reps.csv").await;
    assert_eq!(report.created, 3);
    let again = import_reps(&pool, "reps.csv").await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 3));
    let first = export_reps(&pool).await;
    sqlx::query("delete from reps")
        .execute(&pool)
        .await
        .expect("empty the reps");

    import_reps_from(&pool, &first).await;
    let second = export_reps(&pool).await;

    assert_eq!(second, first);
    assert_eq!(
        first,
        "email,name,crm_owner_id,home_lon,home_lat,work_start,work_end,timezone,active,\
         break_minutes,break_earliest,break_latest,day_start_lon,day_start_lat,day_end_lon,\
         day_end_lat\n\
         ana.martin@example.com,Ana Martin,OWN-1,7.4246,43.7384,08:30,17:30,Europe/Monaco,true,\
         30,12:00,14:00,,,,\n\
         luc.bernard@example.com,Luc Bernard,OWN-2,7.262,43.7102,09:00,18:00,Europe/Paris,true,\
         30,12:00,14:00,,,,\n\
         sofia.rossi@example.com,Sofia Rossi,,,,07:45,16:15,Europe/Rome,false,30,12:00,14:00,,,,\n"
    );
}

pub(crate) async fn import_reps_from(pool: &PgPool, text: &str) -> ImportReport {
    csv::import_reps(pool, text.as_bytes(), false)
        .await
        .expect("the reps file imports")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn rep_columns_left_out_of_the_file_keep_their_values(pool: PgPool) {
    import_reps(&pool, "reps.csv").await;

    let report = import_reps_from(
        &pool,
        "email,name\nana.martin@example.com,Ana Martin-Roux\n",
    )
    .await;

    assert_eq!(report.updated, 1);
    let export = export_reps(&pool).await;
    assert!(
        export.contains(
            "ana.martin@example.com,Ana Martin-Roux,OWN-1,7.4246,43.7384,08:30,17:30,Europe/Monaco,true,"
        ),
        "{export}"
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn rep_hours_out_of_order_or_malformed_are_refused(pool: PgPool) {
    let report = refused(csv::import_reps(&pool, fixture("reps_invalid_times.csv"), false).await);

    assert_eq!(
        error_cells(&report),
        [
            (2, Some("work_end")),
            (3, Some("work_start")),
            (4, Some("work_end")),
        ]
    );
    let reps = count(&pool, "reps").await;
    assert_eq!(reps, 0, "the valid row was not written either");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_unknown_time_zone_is_refused(pool: PgPool) {
    let text = "email,name,timezone\nx@example.com,X,Europe/Paris\ny@example.com,Y,Mars/Olympus\n";

    let report = refused(csv::import_reps(&pool, text.as_bytes(), false).await);

    assert_eq!(error_cells(&report), [(3, Some("timezone"))]);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_owner_id_held_by_another_rep_is_refused(pool: PgPool) {
    import_reps(&pool, "reps.csv").await;
    let text = "email,name,crm_owner_id\nnew.rep@example.com,New Rep,OWN-1\n";

    let report = refused(csv::import_reps(&pool, text.as_bytes(), false).await);

    assert_eq!(error_cells(&report), [(2, Some("crm_owner_id"))]);
    let created = count(&pool, "reps where email = 'new.rep@example.com'").await;
    assert_eq!(created, 0);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_large_export_pages_through_every_account_in_order(pool: PgPool) {
    let mut text = String::from("crm_id,name,crm_modified_at\n");
    for i in (0..2500).rev() {
        text.push_str(&format!("N{i:05},Account {i},2026-01-01T00:00:00Z\n"));
    }
    let report = csv::import_accounts(&pool, text.as_bytes(), "csv", false, ClockGuard::default())
        .await
        .expect("valid file");
    assert_eq!(report.created, 2500);

    let mut out = Vec::new();
    let written = csv::export_accounts(&pool, &mut out)
        .await
        .expect("accounts export");

    assert_eq!(written, 2500);
    let export = String::from_utf8(out).expect("UTF-8 export");
    let ids: Vec<&str> = export
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("crm_id cell"))
        .collect();
    let expected: Vec<String> = (0..2500).map(|i| format!("N{i:05}")).collect();
    assert_eq!(ids, expected);
}

/// The sync page's upload form, as a browser posts it.
async fn upload(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
    path: &str,
    file: &str,
) -> (u16, serde_json::Value) {
    let html = crate::helpers::page_html(client, app, "/admin/sync").await;
    let csrf = crate::helpers::csrf_in(&html);
    let bytes = std::fs::read(crate::helpers::repo_path(file)).expect("fixture");
    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("upload.csv"),
    );
    let resp = client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json report"))
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_admin_imports_and_exports_csv_from_the_sync_page(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let app = crate::helpers::spawn_app(pool.clone()).await;
    let admin = app.client_as(crate::helpers::ADMIN).await;

    let (status, report) = upload(
        &app,
        &admin,
        "/admin/import/accounts",
        "tests/fixtures/csv/accounts_invalid.csv",
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert!(
        report["errors"].as_array().is_some_and(|e| e.len() >= 2),
        "{report}"
    );
    assert!(report["errors"][0]["row"].as_u64().is_some());

    let (status, report) = upload(
        &app,
        &admin,
        "/admin/import/accounts",
        "tests/fixtures/csv/accounts.csv",
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let created = report["created"].as_u64().expect("created");
    assert!(created >= 2, "{report}");
    assert_eq!(
        crate::helpers::audit_count(&pool, "crm.csv_import").await,
        2
    );

    let csv = page_html(&admin, &app, "/admin/export/accounts.csv").await;
    assert!(
        csv.starts_with("source,crm_id,name"),
        "{}",
        &csv[..80.min(csv.len())]
    );
    assert_eq!(
        csv.lines().count(),
        1 + 600 + created as usize,
        "header + seeded + imported"
    );

    // A manager may not import.
    let manager = app.client_as("manager.a@example.com").await;
    let resp = manager
        .post(app.url("/admin/import/accounts"))
        .multipart(reqwest::multipart::Form::new().text("csrf", "x"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 403);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn the_import_takes_files_up_to_the_20_mb_the_page_announces_and_no_more(pool: PgPool) {
    crate::helpers::seed_demo(&pool).await;
    let app = crate::helpers::spawn_app(pool.clone()).await;
    let admin = app.client_as(crate::helpers::ADMIN).await;
    let page = crate::helpers::page_html(&admin, &app, "/admin/sync").await;
    assert!(page.contains("20 MB"), "the page announces the limit");
    let csrf = crate::helpers::csrf_in(&page);
    let header = "source,crm_id,name,industry,address_line,house_number,street,postal_code,\
                  city,country_code,tier,annual_value,visits_per_year,priority,owner_crm_id,\
                  crm_modified_at\n";
    let post = |body: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("dry_run", "1")
            .part(
                "file",
                reqwest::multipart::Part::bytes(body).file_name("big.csv"),
            );
        admin
            .post(app.url("/admin/import/accounts"))
            .multipart(form)
            .send()
    };

    // 3 MB of valid rows: more than the 2 MB other routes take, well under 20 MB. Long names
    // (text cells take up to 1,000 characters) keep the row count, and the test, small.
    let mut csv = header.to_owned();
    let mut i = 0;
    let (name, line) = ("x".repeat(450), "Quai ".repeat(150));
    while csv.len() < 3 * 1024 * 1024 {
        i += 1;
        csv.push_str(&format!(
            ",BIG-{i:06},Big Book {i} {name},Bakery,{line},6,Quai Antoine 1er,98000,Monaco,MC,A,\
             100,12,1,,2026-03-01T09:30:00Z\n"
        ));
    }
    let resp = post(csv.into_bytes()).await.expect("upload");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    let report: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body:.200}"));
    assert_eq!(status, 200, "a 3 MB file is read: {report}");
    assert_eq!(report["created"].as_u64(), Some(i), "{}", report["errors"]);

    // 21 MB: refused with a JSON error, nothing read.
    let resp = post(vec![b'x'; 21 * 1024 * 1024]).await.expect("upload");
    assert!(
        matches!(resp.status().as_u16(), 400 | 413),
        "{}",
        resp.status()
    );
    let body: serde_json::Value = resp.json().await.expect("a JSON error");
    assert!(body["error"]["code"].is_string(), "{body}");
}
