//! Loads the demo dataset into the database idempotently (upserts keyed on CRM ids).

use anyhow::Context;
use sqlx::PgPool;

use super::dataset::{DemoDataset, DemoRep};
use crate::spatial::{H3Cell, LonLat};

/// What a load changed; a second load of the same file reports only `unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub reps_inserted: u64,
    pub reps_updated: u64,
    pub accounts_inserted: u64,
    pub accounts_updated: u64,
    pub accounts_unchanged: u64,
}

/// Reads a dataset file written by `terrane seed-data build`.
pub fn read_dataset(path: &std::path::Path) -> anyhow::Result<DemoDataset> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Upserts reps and accounts in one transaction.
#[tracing::instrument(skip_all, err, fields(reps = ds.reps.len(), accounts = ds.accounts.len()))]
pub async fn load(pool: &PgPool, ds: &DemoDataset) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut tx = pool
        .begin()
        .await
        .context("starting the seed transaction")?;

    for rep in &ds.reps {
        let inserted = upsert_rep(&mut *tx, rep)
            .await
            .with_context(|| format!("upserting rep {}", rep.crm_owner_id))?;
        match inserted {
            Some(true) => report.reps_inserted += 1,
            Some(false) => report.reps_updated += 1,
            None => {}
        }
    }

    // Columns as parallel arrays: one round trip for the whole file.
    let n = ds.accounts.len();
    let mut cols = AccountColumns::default();
    for a in &ds.accounts {
        let p = LonLat::new(a.lon, a.lat)
            .with_context(|| format!("account {} coordinates", a.crm_id))?;
        cols.crm_source.push(a.crm_source.clone());
        cols.crm_id.push(a.crm_id.clone());
        cols.name.push(a.name.clone());
        cols.industry.push(a.industry.clone());
        cols.house_number.push(a.address.house_number.clone());
        cols.street.push(a.address.street.clone());
        cols.postal_code.push(a.address.postal_code.clone());
        cols.city.push(a.address.city.clone());
        cols.country_code.push(a.address.country_code.clone());
        cols.lon.push(p.lon());
        cols.lat.push(p.lat());
        cols.h3.push(H3Cell::at(p)?);
        cols.tier.push(a.tier.clone());
        cols.annual_value.push(f64::from(a.annual_value));
        cols.visits.push(i32::from(a.visits_per_year));
        cols.priority.push(i16::from(a.priority));
        cols.owner.push(a.owner_crm_id.clone());
        cols.synthetic.push(a.synthetic);
    }
    let inserted_flags: Vec<bool> = sqlx::query_scalar(
        r"
        insert into accounts (
            crm_source, crm_id, name, industry, house_number, street, postal_code, city,
            country_code, location, geocode_status, geocode_precision, geocode_confidence,
            geocode_source, geocoded_at, h3_cell, tier, annual_value, visits_per_year, priority,
            owner_rep_id, crm_owner_id, synthetic
        )
        select t.crm_source, t.crm_id, t.name, t.industry, t.house_number, t.street, t.postal_code, t.city,
               t.country_code, st_setsrid(st_makepoint(t.lon, t.lat), 4326), 'ok', 'rooftop', 1.0,
               'seed', now(), t.h3, t.tier::account_tier, t.annual_value, t.visits, t.priority,
               r.id, t.owner, t.synthetic
        from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::float8[], $11::float8[], $12::int8[],
                    $13::text[], $14::float8[], $15::int4[], $16::int2[], $17::text[],
                    $18::bool[])
             as t(crm_source, crm_id, name, industry, house_number, street, postal_code, city, country_code,
                  lon, lat, h3, tier, annual_value, visits, priority, owner, synthetic)
        left join reps r on r.crm_owner_id = t.owner
        on conflict on constraint accounts_crm_key do update set
            name = excluded.name, industry = excluded.industry,
            house_number = excluded.house_number, street = excluded.street,
            postal_code = excluded.postal_code, city = excluded.city,
            country_code = excluded.country_code, location = excluded.location,
            geocode_status = excluded.geocode_status,
            geocode_precision = excluded.geocode_precision,
            geocode_confidence = excluded.geocode_confidence,
            geocode_source = excluded.geocode_source, geocoded_at = excluded.geocoded_at,
            h3_cell = excluded.h3_cell, tier = excluded.tier,
            annual_value = excluded.annual_value, visits_per_year = excluded.visits_per_year,
            priority = excluded.priority, owner_rep_id = excluded.owner_rep_id,
            crm_owner_id = excluded.crm_owner_id,
            synthetic = excluded.synthetic, deleted_at = null
        -- Only rows whose content differs are touched, so a reload changes nothing.
        where (accounts.name, accounts.industry, accounts.house_number, accounts.street,
               accounts.postal_code, accounts.city, accounts.country_code,
               accounts.h3_cell, accounts.tier, accounts.annual_value,
               accounts.visits_per_year, accounts.priority, accounts.owner_rep_id,
               accounts.crm_owner_id, accounts.synthetic, accounts.deleted_at is null,
               st_equals(accounts.location, excluded.location))
              is distinct from
              (excluded.name, excluded.industry, excluded.house_number, excluded.street,
               excluded.postal_code, excluded.city, excluded.country_code,
               excluded.h3_cell, excluded.tier, excluded.annual_value,
               excluded.visits_per_year, excluded.priority, excluded.owner_rep_id,
               excluded.crm_owner_id, excluded.synthetic, true, true)
        returning (xmax = 0) as inserted
        ",
    )
    .bind(&cols.crm_source)
    .bind(&cols.crm_id)
    .bind(&cols.name)
    .bind(&cols.industry)
    .bind(&cols.house_number)
    .bind(&cols.street)
    .bind(&cols.postal_code)
    .bind(&cols.city)
    .bind(&cols.country_code)
    .bind(&cols.lon)
    .bind(&cols.lat)
    .bind(&cols.h3)
    .bind(&cols.tier)
    .bind(&cols.annual_value)
    .bind(&cols.visits)
    .bind(&cols.priority)
    .bind(&cols.owner)
    .bind(&cols.synthetic)
    .fetch_all(&mut *tx)
    .await
    .context("upserting accounts")?;

    upsert_demo_users(&mut tx, ds)
        .await
        .context("upserting demo users and teams")?;

    report.accounts_inserted = inserted_flags.iter().filter(|i| **i).count() as u64;
    report.accounts_updated = inserted_flags.len() as u64 - report.accounts_inserted;
    report.accounts_unchanged = n as u64 - inserted_flags.len() as u64;
    tx.commit()
        .await
        .context("committing the seed transaction")?;
    Ok(report)
}

#[derive(Default)]
struct AccountColumns {
    crm_source: Vec<String>,
    crm_id: Vec<String>,
    name: Vec<String>,
    industry: Vec<String>,
    house_number: Vec<Option<String>>,
    street: Vec<String>,
    postal_code: Vec<Option<String>>,
    city: Vec<String>,
    country_code: Vec<String>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    h3: Vec<H3Cell>,
    tier: Vec<String>,
    annual_value: Vec<f64>,
    visits: Vec<i32>,
    priority: Vec<i16>,
    owner: Vec<String>,
    synthetic: Vec<bool>,
}

/// Returns `Some(true)` when inserted, `Some(false)` when changed, `None` when unchanged.
async fn upsert_rep(db: impl sqlx::PgExecutor<'_>, rep: &DemoRep) -> anyhow::Result<Option<bool>> {
    let home = LonLat::new(rep.home_lon, rep.home_lat).context("home base coordinates")?;
    let inserted: Option<bool> = sqlx::query_scalar(
        r"
        insert into reps (name, email, crm_owner_id, home_base, work_start, work_end)
        values ($1, $2, $3, st_setsrid(st_makepoint($4, $5), 4326), $6::time, $7::time)
        on conflict on constraint reps_crm_owner_id_key do update set
            name = excluded.name, email = excluded.email, home_base = excluded.home_base,
            work_start = excluded.work_start, work_end = excluded.work_end
        where (reps.name, reps.email, st_equals(reps.home_base, excluded.home_base),
               reps.work_start, reps.work_end)
              is distinct from (excluded.name, excluded.email, true, excluded.work_start,
                                excluded.work_end)
        returning (xmax = 0)
        ",
    )
    .bind(&rep.name)
    .bind(&rep.email)
    .bind(&rep.crm_owner_id)
    .bind(home.lon())
    .bind(home.lat())
    .bind(&rep.work_start)
    .bind(&rep.work_end)
    .fetch_optional(db)
    .await?;
    Ok(inserted)
}

/// Demo sign-in identities: an admin, two managers each with a team of half the reps, and one
/// user per rep (same email as the rep record).
pub const DEMO_ADMIN_EMAIL: &str = "admin@example.com";
pub const DEMO_MANAGER_EMAILS: [&str; 2] = ["manager.a@example.com", "manager.b@example.com"];
const DEMO_MANAGER_NAMES: [&str; 2] = ["Morgan Lefèvre", "Sasha Moreau"];
const DEMO_TEAM_NAMES: [&str; 2] = ["Team A", "Team B"];

async fn upsert_demo_users(tx: &mut sqlx::PgConnection, ds: &DemoDataset) -> anyhow::Result<()> {
    upsert_user(&mut *tx, DEMO_ADMIN_EMAIL, "Alex Admin", "admin", None).await?;
    let half = ds.reps.len().div_ceil(2);
    for (i, team_reps) in ds.reps.chunks(half.max(1)).enumerate().take(2) {
        let manager_id = upsert_user(
            &mut *tx,
            DEMO_MANAGER_EMAILS[i],
            DEMO_MANAGER_NAMES[i],
            "manager",
            None,
        )
        .await?;
        let team_id: uuid::Uuid = sqlx::query_scalar(
            "insert into teams (name, manager_user_id) values ($1, $2)
             on conflict on constraint teams_name_key do update set manager_user_id = excluded.manager_user_id
             returning id",
        )
        .bind(DEMO_TEAM_NAMES[i])
        .bind(manager_id)
        .fetch_one(&mut *tx)
        .await?;
        for rep in team_reps {
            let rep_id: uuid::Uuid =
                sqlx::query_scalar("select id from reps where crm_owner_id = $1")
                    .bind(&rep.crm_owner_id)
                    .fetch_one(&mut *tx)
                    .await?;
            upsert_user(&mut *tx, &rep.email, &rep.name, "rep", Some(rep_id)).await?;
            sqlx::query(
                "insert into team_members (team_id, rep_id) values ($1, $2)
                 on conflict on constraint team_members_rep_key do update set team_id = excluded.team_id",
            )
            .bind(team_id)
            .bind(rep_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// Inserts or updates a user by email without rewriting an unchanged row; returns its id.
async fn upsert_user(
    conn: &mut sqlx::PgConnection,
    email: &str,
    name: &str,
    role: &str,
    rep_id: Option<uuid::Uuid>,
) -> anyhow::Result<uuid::Uuid> {
    sqlx::query(
        "insert into users (email, name, role, rep_id) values ($1, $2, $3::user_role, $4)
         on conflict on constraint users_email_key do update
             set name = excluded.name, role = excluded.role, rep_id = excluded.rep_id
             where (users.name, users.role, users.rep_id)
                   is distinct from (excluded.name, excluded.role, excluded.rep_id)",
    )
    .bind(email)
    .bind(name)
    .bind(role)
    .bind(rep_id)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&mut *conn)
        .await?)
}
